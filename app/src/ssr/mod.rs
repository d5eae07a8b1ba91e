//! The server side of the pages: the state the server functions read from
//! their context, and the request-bound helpers (who is signed in, from which
//! address). Everything else is the payment core, `formpay_core`, re-exported
//! here. Compiled only with the `ssr` feature, so none of it reaches the WASM.

pub mod auth;
pub mod state;

pub use formpay_core::store::{
    abuse, attempts, audit, forms, order_list, orders, refunds, retention, stats, submissions,
};
pub use formpay_core::{
    accounts, commit, db, hub, mail, now_ms, pay, payer, payment_log, pow, provider, random_token,
    regions, registry, security, streams, Backend, Core, Db, SimulatorSwitch,
};
pub use state::AppState;
