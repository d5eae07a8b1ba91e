//! The payment flow on the server: start a payment at a provider, settle what
//! a verified callback or query reports, and recover late callbacks.
//!
//! Every provider order is a payment attempt with its own number
//! (`attempts.rs`); starting a payment is serialised per order and closes the
//! previous attempt first. A payment is recorded once, on its attempt, in the
//! transaction that books it on the order; it is accepted only from the
//! receiving account that made the order, and money that arrives through an
//! attempt that is no longer current is kept for an administrator, never refused.

pub mod admin;
pub mod bills;
pub mod check;
pub mod notify;
pub mod reconcile;
pub mod refund;
pub mod settle;
pub mod shares;
pub mod start;
pub mod submit;
pub mod wechat_login;

pub use check::{check_for_payer, check_now};
pub use notify::{handle_notify, NotifyResult};
pub use reconcile::reconcile_once;
pub use settle::{settle, SettleOutcome};
pub use start::{close_attempt, start_payment, Closed};
pub use submit::{submit, Answers, Submission};
pub use wechat_login::{remembered_openid, wechat_login_done, wechat_login_url, LoginError};

use crate::hub::StatusChange;
use crate::provider::*;
use crate::store::orders::{self, OrderRecord};
use crate::Core;
use anyhow::Context;
use domain::{Channel, OrderEventKind, OrderStatus, Provider};
use std::sync::Arc;

/// Where providers and payers reach this instance, and the recovery timing.
#[derive(Clone, Debug)]
pub struct PaySettings {
    /// Base of the callback URLs, without a trailing slash.
    pub notify_base: String,
    /// Base of the payer's return URL, without a trailing slash.
    pub return_base: String,
    pub order_ttl_ms: i64,
    /// How long after creation a pending order is first queried.
    pub first_check_ms: i64,
    /// The longest wait between two queries of one order.
    pub max_check_interval_ms: i64,
    /// The per-payer daily limits (abuse control).
    pub abuse: crate::store::abuse::AbuseSettings,
}

/// A provider is queried for an order at most this often on behalf of payers
/// ("I have paid"), whatever their number.
pub const PUBLIC_QUERY_INTERVAL_MS: i64 = 5_000;
/// How long one start of a payment may hold its order.
pub(super) const PAY_LOCK_MS: i64 = 30_000;
/// After an order expires, how long an attempt whose close was not confirmed
/// is still watched (providers refuse payment after `time_expire`).
pub(super) const CLOSING_GRACE_MS: i64 = 10 * 60_000;

impl PaySettings {
    /// How long to wait before looking again at something checked `attempts`
    /// times already: doubling from the first check, capped.
    pub fn backoff_ms(&self, attempts: i64) -> i64 {
        (self.first_check_ms.max(1000) << attempts.clamp(0, 10)).min(self.max_check_interval_ms)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PayError {
    #[error("no such order")]
    NotFound,
    #[error("the order can no longer be paid ({0})")]
    NotPayable(OrderStatus),
    #[error("the order has expired")]
    Expired,
    #[error("this payment method is not available")]
    ChannelUnavailable,
    #[error("a payment of this order is being started; try again in a moment")]
    Busy,
    /// JSAPI needs the payer's openid (from WeChat OAuth) and none was given.
    #[error("paying inside WeChat needs the payer's openid")]
    NeedsOpenid,
    /// The WeChat account paying has taken all the places a form allows one payer.
    #[error("this WeChat account has reached the form's limit of {0} per payer")]
    PayerLimit(i64),
    #[error("the receiving account cannot be used: {0}")]
    Account(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Who is paying, as far as the provider needs to know.
#[derive(Clone, Debug, Default)]
pub struct Payer {
    /// For the provider's risk checks (WeChat `payer_client_ip`, required by H5).
    pub client_ip: Option<String>,
    /// The payer's WeChat openid for the account's app id (JSAPI).
    pub openid: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayStart {
    pub channel: Channel,
    pub action: PayAction,
    pub expires_at: i64,
}

/// The clients of an order's receiving account.
pub async fn providers_of(state: &Core, order: &OrderRecord) -> Result<PaymentProviders, PayError> {
    crate::accounts::providers(state, order.account_id.as_deref())
        .await
        .map_err(|e| match e {
            crate::accounts::LoadError::Account(a) => PayError::Account(a.to_string()),
            crate::accounts::LoadError::Unexpected(u) => PayError::Unexpected(u),
        })
}

/// The client of an order's account for one provider.
pub async fn provider_of(
    state: &Core,
    order: &OrderRecord,
    provider: Provider,
) -> Result<Arc<dyn PaymentProvider>, PayError> {
    providers_of(state, order)
        .await?
        .for_provider(provider)
        .cloned()
        .ok_or(PayError::ChannelUnavailable)
}

/// Where a provider calls back about an order: a stored account has its own
/// route, so that the callback is verified with that account's keys.
pub fn notify_url(state: &Core, order: &OrderRecord, provider: &dyn PaymentProvider) -> String {
    match &order.account_id {
        Some(id) => format!("{}{}/{id}", state.pay.notify_base, provider.notify_path()),
        None => format!("{}{}", state.pay.notify_base, provider.notify_path()),
    }
}

/// Tells every listener (SSE, other instances) the order's current status.
pub async fn publish_status(state: &Core, order_id: &str) {
    if let Ok(Some(o)) = orders::by_id(&state.db, order_id).await {
        publish_change(state, o.id, o.status, o.updated_at).await;
    }
}

/// [`publish_status`] for a change whose status and version (`updated_at`)
/// the caller wrote itself: no need to read the order again.
pub(super) async fn publish_change(
    state: &Core,
    order_id: String,
    status: domain::OrderStatus,
    version: i64,
) {
    state
        .hub
        .publish(StatusChange {
            order_id,
            status,
            version,
        })
        .await;
}

/// The order as it is now.
pub(super) async fn reload(state: &Core, id: &str) -> anyhow::Result<OrderRecord> {
    orders::by_id(&state.db, id)
        .await?
        .context("the order disappeared")
}
