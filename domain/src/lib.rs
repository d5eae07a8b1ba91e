//! Domain types shared by the server and the browser. Each one validates on
//! construction, so the rest of the code never sees an unchecked value.

mod browser;
mod channel;
pub mod discount;
pub mod draft;
pub mod events;
pub mod form;
mod ids;
mod jsapi;
mod money;
mod order_status;
pub mod pow;
mod roles;
#[cfg(feature = "sqlx")]
pub mod sql;
mod states;

pub use browser::PayerBrowser;
pub use channel::{Channel, Provider};
pub use events::{AuditAction, Direction, OrderEventKind, StatusEvent};
pub use ids::{Email, IdError, OutTradeNo, Slug, Token};
pub use jsapi::JsapiParams;
pub use money::{Money, MoneyError};
pub use order_status::{InvalidTransition, OrderStatus};
pub use roles::{Permission, Role};
pub use states::{AttemptState, RefundState};

/// WeChat's relation types of a profit-sharing (分账) receiver to the merchant.
pub const SHARE_RELATIONS: [&str; 10] = [
    "PARTNER",
    "SUPPLIER",
    "STAFF",
    "STORE",
    "STORE_OWNER",
    "HEADQUARTER",
    "BRAND",
    "DISTRIBUTOR",
    "SERVICE_PROVIDER",
    "USER",
];
