//! The form POST that works without JavaScript: the same validation and
//! storage as the hydrated page, answered with a redirect. A form with an
//! upload field is posted as `multipart/form-data`: its files are checked and
//! stored as the upload route does, then given as the field's answer.

use crate::serve::SMALL_BODY;
use crate::uploads;
use app::domain::form::Availability;
use app::pages::form_page::SubmitOutcome;
use app::ssr::pay::{self, Answers};
use app::ssr::{forms, AppState};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

/// The largest body a form posted without JavaScript may have: its files
/// together (each still within its field's limit).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Whether a body is `multipart/form-data` (a form with files).
pub fn is_multipart(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

pub async fn submit(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    req: Request,
) -> Response {
    let client = state.trusted_proxies.client_ip(addr.ip(), req.headers());
    let slug_path = url::form_urlencoded::byte_serialize(slug.as_bytes()).collect::<String>();
    let pairs = if is_multipart(req.headers()) {
        match Multipart::from_request(req, &state).await {
            Ok(parts) => match read_multipart(&state, &slug, parts).await {
                Ok(pairs) => pairs,
                Err(Refused::Files(keys)) => return back_invalid(&slug_path, &keys),
                Err(Refused::Body(status, message)) => return (status, message).into_response(),
            },
            Err(e) => return (e.status(), e.body_text()).into_response(),
        }
    } else {
        // Without files, the body is small.
        match axum::body::to_bytes(req.into_body(), SMALL_BODY as usize).await {
            Ok(body) => url::form_urlencoded::parse(&body).into_owned().collect(),
            Err(_) => {
                return (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {SMALL_BODY} bytes"),
                )
                    .into_response()
            }
        }
    };
    match pay::submit(&state, &slug, Answers::FormPairs(&pairs), Some(client))
        .await
        .map(SubmitOutcome::from)
    {
        Ok(SubmitOutcome::Pay { order_id }) => {
            Redirect::to(&format!("/pay/{order_id}")).into_response()
        }
        Ok(SubmitOutcome::Done { .. }) => {
            Redirect::to(&format!("/f/{slug_path}?submitted=1")).into_response()
        }
        Ok(SubmitOutcome::Invalid { errors }) => {
            let keys: Vec<String> = errors.into_keys().collect();
            back_invalid(&slug_path, &keys)
        }
        Ok(SubmitOutcome::Unavailable { .. }) => {
            Redirect::to(&format!("/f/{slug_path}")).into_response()
        }
        Ok(SubmitOutcome::NotFound) => (StatusCode::NOT_FOUND, "no such form").into_response(),
        Ok(SubmitOutcome::Challenge { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            "表单正在接收大量提交，请开启 JavaScript 后重试 · the form is receiving many submissions; try again with JavaScript on",
        )
            .into_response(),
        Ok(SubmitOutcome::Blocked) => (
            StatusCode::FORBIDDEN,
            "无法提交 · this submission is refused",
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "cannot store the submission");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "暂时无法保存提交，请稍后再试 · the submission cannot be saved right now; try again",
            )
                .into_response()
        }
    }
}

/// Back to the form with the fields to fix marked.
fn back_invalid(slug_path: &str, keys: &[String]) -> Response {
    let keys: Vec<String> = keys
        .iter()
        .map(|k| url::form_urlencoded::byte_serialize(k.as_bytes()).collect())
        .collect();
    Redirect::to(&format!("/f/{slug_path}?invalid={}", keys.join(","))).into_response()
}

enum Refused {
    /// These upload fields' files were refused (size, kind, count, storage).
    Files(Vec<String>),
    /// The body itself could not be read.
    Body(StatusCode, String),
}

/// The answers of a multipart body: text parts as they are; each file of an
/// upload field of the (open) form checked and stored, its id the answer.
/// Files of any other part are read and dropped. A field whose files are
/// refused is reported, and nothing of the submission is stored; files
/// already kept for it are swept a day later like any file never submitted.
async fn read_multipart(
    state: &AppState,
    slug: &str,
    mut parts: Multipart,
) -> Result<Vec<(String, String)>, Refused> {
    let form = match forms::form_by_slug(&state.db, slug).await {
        Ok(f) => f.filter(|f| f.availability() == Availability::Open),
        Err(e) => {
            tracing::error!(error = ?e, "cannot read the form for a plain submission");
            return Err(Refused::Body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "暂时无法保存提交，请稍后再试 · the submission cannot be saved right now; try again".into(),
            ));
        }
    };
    let mut pairs = Vec::new();
    let mut counts: std::collections::BTreeMap<String, u32> = Default::default();
    let mut refused: Vec<String> = Vec::new();
    // The answers without their files are as small as a form without files.
    let mut text_bytes = 0usize;
    loop {
        let mut part = match parts.next_field().await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => return Err(Refused::Body(e.status(), e.body_text())),
        };
        let Some(key) = part.name().map(str::to_owned) else {
            continue;
        };
        let Some(file_name) = part.file_name().map(str::to_owned) else {
            match part.text().await {
                Ok(text) if text_bytes + text.len() <= SMALL_BODY as usize => {
                    text_bytes += text.len();
                    pairs.push((key, text));
                }
                Ok(_) => {
                    return Err(Refused::Body(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("the answers are larger than {SMALL_BODY} bytes"),
                    ))
                }
                Err(e) => return Err(Refused::Body(e.status(), e.body_text())),
            }
            continue;
        };
        let limits = form.as_ref().and_then(|f| uploads::field_limits(f, &key));
        // Read the file, keeping no more than the field takes.
        let cap = limits.map_or(0, |l| l.max_bytes());
        let mut body = Vec::new();
        let mut over = false;
        loop {
            match part.chunk().await {
                Ok(Some(chunk)) if !over && body.len() + chunk.len() <= cap => {
                    body.extend_from_slice(&chunk)
                }
                Ok(Some(_)) => over = true,
                Ok(None) => break,
                Err(e) => return Err(Refused::Body(e.status(), e.body_text())),
            }
        }
        // A file input left empty sends a part with no name and no bytes.
        let (Some(form), Some(limits)) = (form.as_ref(), limits) else {
            continue;
        };
        if file_name.is_empty() && body.is_empty() && !over {
            continue;
        }
        let count = counts.entry(key.clone()).or_default();
        *count += 1;
        if over || *count > limits.max_files {
            refused.push(key);
            continue;
        }
        match uploads::keep(state, &form.id, &key, limits, &file_name, body.into()).await {
            Ok(kept) => pairs.push((key, kept.id)),
            Err(_) => refused.push(key),
        }
    }
    if refused.is_empty() {
        Ok(pairs)
    } else {
        refused.sort();
        refused.dedup();
        Err(Refused::Files(refused))
    }
}
