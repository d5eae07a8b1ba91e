//! The administrator guard of plain routes (the exports): an extractor, so a
//! handler that takes an [`AdminSession`] cannot run for anyone else.

use app::ssr::{auth, AppState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The signed-in administrator behind a request.
pub struct AdminSession(pub auth::Admin);

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = auth::session_token_from_headers(&parts.headers).ok_or_else(refused)?;
        match auth::admin_for_token(&state.db, state.sessions, &token).await {
            Ok(Some(admin)) => Ok(AdminSession(admin)),
            Ok(None) => Err(refused()),
            Err(e) => {
                tracing::error!(error = ?e, "cannot read the session");
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the session cannot be checked right now; try again",
                )
                    .into_response())
            }
        }
    }
}

fn refused() -> Response {
    (StatusCode::UNAUTHORIZED, "log in as an administrator first").into_response()
}
