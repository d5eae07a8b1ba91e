//! The providers' callback routes. The body is read raw (the signature covers
//! its exact bytes) with a size limit, and handed to the one settle routine.

use app::ssr::payment::{NotifyReply, PaymentProvider};
use app::ssr::{pay, AppState};
use axum::body::Bytes;
use axum::extract::State;
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

async fn handle(
    state: &AppState,
    provider: Option<&Arc<dyn PaymentProvider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = provider else {
        return (StatusCode::NOT_FOUND, "this provider is not configured").into_response();
    };
    reply(pay::handle_notify(state, provider.as_ref(), &headers, &body).await)
}

pub async fn wechat(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let p = state.payments.wechat.clone();
    handle(
        &state,
        p.as_ref()
            .filter(|p| p.notify_path() == "/payment/wechat/notify"),
        headers,
        body,
    )
    .await
}

pub async fn wechat_v2(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let p = state.payments.wechat.clone();
    handle(
        &state,
        p.as_ref()
            .filter(|p| p.notify_path() == "/payment/wechat/v2/notify"),
        headers,
        body,
    )
    .await
}

pub async fn alipay(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let p = state.payments.alipay.clone();
    handle(&state, p.as_ref(), headers, body).await
}
