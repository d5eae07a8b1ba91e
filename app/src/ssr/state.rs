//! What every handler and server function can reach.

use super::auth::LoginLimiter;
use super::Db;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub login_limiter: Arc<LoginLimiter>,
    /// Mark cookies `Secure` (production, behind HTTPS).
    pub secure_cookies: bool,
    pub payments: super::payment::PaymentProviders,
    pub hub: super::hub::StatusHub,
    pub pay: super::pay::PaySettings,
    /// Receiving accounts stored in the database (with the master key).
    pub accounts: super::accounts::Accounts,
}

impl AppState {
    /// The state, from inside a server function or component.
    pub fn from_context() -> Result<AppState, leptos::prelude::ServerFnError> {
        leptos::prelude::use_context::<AppState>()
            .ok_or_else(|| leptos::prelude::ServerFnError::new("application state is missing"))
    }
}
