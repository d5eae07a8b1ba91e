//! Uploads as plain routes: a payer's file for a form's upload field (the
//! raw body; checked by its content, never its name), and an
//! administrator's download of one (audited, served as an attachment).

use crate::guard::AdminSession;
use app::domain::form::{sniff, Availability, FieldKind, UploadAccept};
use app::ssr::{audit, forms, AppState};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use formpay_core::store::forms::FormRecord;
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

/// Why a file was not kept: the status and error code the upload route
/// answers, and a message for the payer.
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            error,
            message: message.into(),
        }
    }

    fn into_response(self) -> Response {
        let unavailable = self.status == StatusCode::SERVICE_UNAVAILABLE;
        let mut resp = refuse(self.status, self.error, self.message);
        if unavailable {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        resp
    }
}

/// A file kept for a form's upload field, not yet attached to a submission.
pub(crate) struct Kept {
    pub id: String,
    pub content_type: &'static str,
}

/// An upload field's limits: at most `max_files` files of `max_mb` MB each,
/// of the kinds it accepts.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub max_files: u32,
    pub max_mb: u32,
    pub accept: UploadAccept,
}

impl Limits {
    pub fn max_bytes(self) -> usize {
        self.max_mb as usize * 1024 * 1024
    }
}

/// The limits of the form's upload field `key`, if it is one.
pub(crate) fn field_limits(form: &FormRecord, key: &str) -> Option<Limits> {
    form.def.fields.iter().find_map(|f| match &f.kind {
        FieldKind::Upload {
            max_files,
            max_mb,
            accept,
        } if f.key == key => Some(Limits {
            max_files: *max_files,
            max_mb: *max_mb,
            accept: *accept,
        }),
        _ => None,
    })
}

/// Checks a file by its size and content (never its name) against the
/// field's limits and stores it: what the upload route and the form posted
/// without JavaScript both do.
pub(crate) async fn keep(
    state: &AppState,
    form_id: &str,
    key: &str,
    limits: Limits,
    name: &str,
    body: Bytes,
) -> Result<Kept, Refusal> {
    if body.is_empty() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "malformed",
            "the file is empty",
        ));
    }
    if body.len() > limits.max_bytes() {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a file of this field is at most {} MB", limits.max_mb),
        ));
    }
    let Some(content_type) = sniff(&body).filter(|ct| limits.accept.allows(ct)) else {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported",
            format!("this field takes {}", limits.accept.input_accept()),
        ));
    };
    match uploads::store(
        &state.db,
        &state.uploads,
        form_id,
        key,
        content_type,
        name,
        body,
    )
    .await
    {
        Ok(id) => Ok(Kept { id, content_type }),
        Err(e) => {
            // The storage (directory or bucket) or the database failed:
            // nothing is kept, and the payer's page offers to try again.
            tracing::error!(error = ?e, "cannot store an upload");
            Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the file cannot be stored right now; try again in a moment",
            ))
        }
    }
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
    let Some(limits) = field_limits(&form, &key) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such upload field".into(),
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
    let size = body.len();
    match keep(&state, &form.id, &key, limits, &name, body).await {
        Ok(kept) => (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "id": kept.id,
                "name": uploads::clean_name(&name),
                "size": size,
                "content_type": kept.content_type,
            })),
        )
            .into_response(),
        Err(refusal) => refusal.into_response(),
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
