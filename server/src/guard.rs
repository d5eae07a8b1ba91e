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

impl AdminSession {
    /// The administrator, if their role allows `p`; else 403.
    #[allow(clippy::result_large_err)]
    pub fn permit(self, p: app::domain::Permission) -> Result<auth::Admin, Response> {
        if self.0.can(p) {
            return Ok(self.0);
        }
        tracing::warn!(admin = %self.0.id, role = %self.0.role, permission = ?p, "refused: the role does not allow it");
        Err((StatusCode::FORBIDDEN, "your role does not allow this").into_response())
    }
}

/// Writes the audit row of an export before anything is sent: an export
/// that cannot be recorded is not made.
#[allow(clippy::result_large_err)]
pub async fn audited(
    state: &AppState,
    admin: &auth::Admin,
    action: app::domain::AuditAction,
    target: &str,
    detail: &str,
) -> Result<(), Response> {
    app::ssr::audit::record(&state.db, admin, action, target, detail)
        .await
        .map_err(|e| {
            tracing::error!(error = ?e, "cannot record an export");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the export cannot be recorded right now; try again",
            )
                .into_response()
        })
}
