//! The providers' callback routes. The body is read raw (the signature covers
//! its exact bytes) with a size limit, and handed to the one settle routine
//! together with the receiving account whose route it came to: an order is
//! settled only through the account that made it.

use app::ssr::provider::{NotifyReply, PaymentProvider};
use app::ssr::{pay, AppState};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

fn reply(r: NotifyReply) -> Response {
    let mut resp = (
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        r.body,
    )
        .into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(r.content_type));
    resp
}

/// The callback of `account` (None: the environment's) for the provider
/// whose route is `path`.
async fn handle(
    state: &AppState,
    account: Option<&str>,
    path: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let providers = match app::ssr::accounts::providers(state, account).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "callback for an unusable account");
            return (StatusCode::NOT_FOUND, "unknown receiving account").into_response();
        }
    };
    let provider: Option<Arc<dyn PaymentProvider>> = [providers.wechat, providers.alipay]
        .into_iter()
        .flatten()
        .find(|p| p.notify_path() == path);
    let Some(provider) = provider else {
        return (StatusCode::NOT_FOUND, "this provider is not configured").into_response();
    };
    reply(pay::handle_notify(state, account, provider.as_ref(), &headers, &body).await)
}

pub async fn wechat(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, None, "/payment/wechat/notify", headers, body).await
}

pub async fn wechat_v2(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, None, "/payment/wechat/v2/notify", headers, body).await
}

pub async fn alipay(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, None, "/payment/alipay/notify", headers, body).await
}

pub async fn wechat_account(
    State(state): State<AppState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &state,
        Some(&account),
        "/payment/wechat/notify",
        headers,
        body,
    )
    .await
}

pub async fn wechat_v2_account(
    State(state): State<AppState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &state,
        Some(&account),
        "/payment/wechat/v2/notify",
        headers,
        body,
    )
    .await
}

pub async fn alipay_account(
    State(state): State<AppState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &state,
        Some(&account),
        "/payment/alipay/notify",
        headers,
        body,
    )
    .await
}
