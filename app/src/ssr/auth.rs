//! Who is behind the current request: the signed-in administrator, and the
//! client's address. The sessions, passwords and throttles themselves are
//! the core's (`formpay_core::auth`, re-exported here).

pub use formpay_core::auth::*;

use super::AppState;
use leptos::prelude::ServerFnError;
use std::net::IpAddr;

/// The administrator behind the current request, or an "unauthorized" error.
/// Every admin server function starts with this.
pub async fn require_admin() -> Result<Admin, ServerFnError> {
    current_admin()
        .await?
        .ok_or_else(|| ServerFnError::new("unauthorized"))
}

/// The administrator behind the current request, if signed in.
pub async fn current_admin() -> Result<Option<Admin>, ServerFnError> {
    let state = AppState::from_context()?;
    let Some(parts) = leptos::prelude::use_context::<http::request::Parts>() else {
        return Ok(None);
    };
    let Some(token) = session_token_from_headers(&parts.headers) else {
        return Ok(None);
    };
    admin_for_token(&state.db, state.sessions, &token)
        .await
        .map_err(|e| {
            tracing::error!(error = ?e, "session lookup failed");
            ServerFnError::new("the sessions cannot be read right now; try again")
        })
}

/// The client's address of the current request (server functions).
pub fn request_client_ip(state: &AppState) -> Option<IpAddr> {
    let parts = leptos::prelude::use_context::<http::request::Parts>()?;
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?
        .0
        .ip();
    Some(state.trusted_proxies.client_ip(peer, &parts.headers))
}
