//! Uploads as plain routes: a payer's file for a form's upload field (the
//! raw body; checked by its content, never its name), and an
//! administrator's download of one (audited, served as an attachment).

use crate::guard::AdminSession;
use app::domain::form::{sniff, Availability, FieldKind};
use app::ssr::{audit, forms, AppState};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use formpay_core::store::uploads;

/// The largest body the upload route reads (the largest field limit).
pub const MAX_BODY: usize = app::domain::form::MAX_UPLOAD_MB as usize * 1024 * 1024 + 1024;

fn refuse(status: StatusCode, error: &str, message: String) -> Response {
    (
        status,
        Json(serde_json::json!({"error": error, "message": message})),
    )
        .into_response()
}

/// `POST /api/v1/forms/{slug}/uploads/{field}`: the file is the body; its
/// name may come in `X-File-Name` (percent-encoded). Answers 201 with the id
/// to give as the field's answer.
pub async fn upload(
    State(state): State<AppState>,
    Path((slug, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match forms::form_by_slug(&state.db, &slug).await {
        Ok(Some(f)) if f.availability() != Availability::NotPublished => f,
        Ok(_) => return refuse(StatusCode::NOT_FOUND, "not_found", "no such form".into()),
        Err(e) => {
            tracing::error!(error = ?e, "cannot read the form for an upload");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "try again".into(),
            );
        }
    };
    if form.availability() != Availability::Open {
        return refuse(
            StatusCode::CONFLICT,
            "unavailable",
            "the form does not take submissions".into(),
        );
    }
    let Some((max_mb, accept)) = form.def.fields.iter().find_map(|f| match &f.kind {
        FieldKind::Upload { max_mb, accept, .. } if f.key == key => Some((*max_mb, *accept)),
        _ => None,
    }) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such upload field".into(),
        );
    };
    if body.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "malformed",
            "the file is empty".into(),
        );
    }
    if body.len() > max_mb as usize * 1024 * 1024 {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a file of this field is at most {max_mb} MB"),
        );
    }
    let Some(content_type) = sniff(&body).filter(|ct| accept.allows(ct)) else {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported",
            format!("this field takes {}", accept.input_accept()),
        );
    };
    let name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    match uploads::store(
        &state.db,
        &state.uploads,
        &form.id,
        &key,
        content_type,
        &name,
        body.clone(),
    )
    .await
    {
        Ok(id) => (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "id": id,
                "name": uploads::clean_name(&name),
                "size": body.len(),
                "content_type": content_type,
            })),
        )
            .into_response(),
        Err(e) => {
            // The storage (directory or bucket) or the database failed:
            // nothing is kept, and the payer's page offers to try again.
            tracing::error!(error = ?e, "cannot store an upload");
            let mut refused = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the file cannot be stored right now; try again in a moment".into(),
            );
            refused
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            refused
        }
    }
}

/// `GET /admin/uploads/{id}`: for those who see personal data; audited.
pub async fn download(
    State(state): State<AppState>,
    session: AdminSession,
    Path(id): Path<String>,
) -> Response {
    let admin = match session.permit(app::domain::Permission::PersonalData) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let found = match uploads::by_id(&state.db, &id).await {
        Ok(Some(u)) => u,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such file").into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "cannot read an upload");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let bytes = match state.uploads.get(&found.id).await {
        Ok(Some(b)) => b,
        Ok(None) => {
            tracing::error!(upload = %found.id, "an upload's file is missing");
            return (StatusCode::NOT_FOUND, "the file is gone").into_response();
        }
        Err(e) => {
            tracing::error!(error = ?e, upload = %found.id, "cannot read an upload");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the file cannot be read right now; try again",
            )
                .into_response();
        }
    };
    if let Err(e) = audit::record(
        &state.db,
        &admin,
        app::domain::AuditAction::RevealPersonalData,
        found.submission_id.as_deref().unwrap_or("-"),
        &format!("upload {}", found.id),
    )
    .await
    {
        tracing::error!(error = ?e, "cannot audit a download");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let disposition = format!(
        "attachment; filename=\"upload\"; filename*=UTF-8''{}",
        percent_encoding::utf8_percent_encode(&found.name, percent_encoding::NON_ALPHANUMERIC)
    );
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match found.content_type.as_str() {
            "image/jpeg" => "image/jpeg",
            "image/png" => "image/png",
            "image/gif" => "image/gif",
            "image/webp" => "image/webp",
            "application/pdf" => "application/pdf",
            _ => "application/octet-stream",
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    resp
}
