//! Who is behind the current request: the signed-in administrator, and the
//! client's address. The sessions, passwords and throttles themselves are
//! the core's (`formpay_core::auth`, re-exported here).

pub use formpay_core::auth::*;

use super::AppState;
use crate::domain::Permission;
use leptos::prelude::ServerFnError;
use std::net::IpAddr;

/// The administrator behind the current request, or "sign in first" (401).
/// Server functions any administrator may call start with this.
pub async fn require_admin() -> Result<Admin, ServerFnError> {
    match current_admin().await? {
        Some(admin) => Ok(admin),
        None => {
            set_status(http::StatusCode::UNAUTHORIZED);
            Err(crate::errors::Failure::SignIn.into())
        }
    }
}

/// The administrator behind the current request if their role allows `p`;
/// else "sign in first" (401) or "your role does not allow this" (403).
/// Every admin server function starts with this (or [`require_admin`]).
pub async fn require(p: Permission) -> Result<Admin, ServerFnError> {
    let admin = require_admin().await?;
    if admin.can(p) {
        return Ok(admin);
    }
    tracing::warn!(admin = %admin.id, role = %admin.role, permission = ?p, "refused: the role does not allow it");
    set_status(http::StatusCode::FORBIDDEN);
    Err(crate::errors::Failure::Forbidden.into())
}

fn set_status(status: http::StatusCode) {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
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
