//! What every handler and server function can reach.

use super::auth::LoginLimiter;
use super::Db;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub login_limiter: Arc<LoginLimiter>,
    /// Mark cookies `Secure` (production, behind HTTPS).
    pub secure_cookies: bool,
    /// The providers configured through the environment (the default account).
    pub payments: super::payment::PaymentProviders,
    /// The simulator's stand-ins for providers the environment leaves out;
    /// used only while [`SimulatorSwitch::is_on`].
    #[from_ref(skip)]
    pub simulated: super::payment::PaymentProviders,
    pub simulator: SimulatorSwitch,
    pub hub: super::hub::StatusHub,
    pub pay: super::pay::PaySettings,
    /// Receiving accounts stored in the database (with the master key).
    pub accounts: super::accounts::Accounts,
    pub payment_log: super::payment_log::PaymentLog,
    pub security: super::security::SecurityLog,
    pub sessions: super::auth::SessionSettings,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`).
    pub trusted_proxies: super::auth::TrustedProxies,
    /// Open server-sent event streams, per address and in all.
    pub streams: super::streams::StreamLimits,
}

impl AppState {
    /// The state, from inside a server function or component.
    pub fn from_context() -> Result<AppState, leptos::prelude::ServerFnError> {
        leptos::prelude::use_context::<AppState>()
            .ok_or_else(|| leptos::prelude::ServerFnError::new("application state is missing"))
    }
}

/// Whether the provider simulator (public keys: it "pays" for free) may stand
/// in for providers. Decided at start-up; turned off for good, on every
/// route at once, as soon as a real receiving account is stored.
#[derive(Clone, Debug, Default)]
pub struct SimulatorSwitch(Arc<AtomicBool>);

impl SimulatorSwitch {
    pub fn new(on: bool) -> SimulatorSwitch {
        SimulatorSwitch(Arc::new(AtomicBool::new(on)))
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Turns the simulator off (it never comes back before a restart).
    pub fn turn_off(&self, why: &str) {
        if self.0.swap(false, Ordering::SeqCst) {
            tracing::warn!(why, "the payment simulator is now off");
        }
    }
}
