//! The server side of the pages: the state the server functions read from
//! their context, and the request-bound helpers (who is signed in, from which
//! address). Everything else is the payment core, `formpay_core`, re-exported
//! here under the names the pages use. Compiled only with the `ssr` feature,
//! so none of it reaches the WASM.

pub mod auth;
pub mod state;

pub use formpay_core::{
    accounts, attempts, audit, db, forms, hub, now_ms, order_admin, orders, pay, payment,
    payment_log, random_token, refunds, security, stats, streams, submissions, Backend, Core, Db,
    SimulatorSwitch,
};
pub use state::AppState;
