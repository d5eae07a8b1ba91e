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

/// Splits a callback route below `/payment/` into the provider's route and
/// the receiving account: `wechat/notify` is the environment's account,
/// `wechat/notify/{account}` a stored one. Every provider's route ends in
/// `/notify`, so the split needs no list of providers.
fn split_route(rest: &str) -> Option<(String, Option<&str>)> {
    if rest.ends_with("/notify") {
        return Some((format!("/payment/{rest}"), None));
    }
    let (path, account) = rest.rsplit_once('/')?;
    let plausible = !account.is_empty()
        && account.len() <= 64
        && account
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (path.ends_with("/notify") && plausible).then(|| (format!("/payment/{path}"), Some(account)))
}

/// The one callback route, `/payment/{*rest}`: finds the provider whose
/// route it is among the providers of the account named in the path (None:
/// the environment's), and hands it the raw body.
pub async fn callback(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((path, account)) = split_route(&rest) else {
        return (StatusCode::NOT_FOUND, "not a callback route").into_response();
    };
    let providers = match app::ssr::accounts::providers(&state, account).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "callback for an unusable account");
            return (StatusCode::NOT_FOUND, "unknown receiving account").into_response();
        }
    };
    let provider: Option<Arc<dyn PaymentProvider>> =
        providers.iter().find(|p| p.notify_path() == path).cloned();
    let Some(provider) = provider else {
        return (StatusCode::NOT_FOUND, "this provider is not configured").into_response();
    };
    let (answer, result) =
        pay::handle_notify(&state, account, provider.as_ref(), &headers, &body).await;
    let mut resp = reply(answer);
    resp.extensions_mut()
        .insert(crate::metrics::CallbackResult(result.as_str()));
    resp
}

#[cfg(test)]
mod tests {
    use super::split_route;

    #[test]
    fn callback_routes_name_the_provider_and_the_account() {
        assert_eq!(
            split_route("wechat/notify"),
            Some(("/payment/wechat/notify".to_owned(), None))
        );
        assert_eq!(
            split_route("wechat/v2/notify/acc_1"),
            Some(("/payment/wechat/v2/notify".to_owned(), Some("acc_1")))
        );
        assert_eq!(split_route("wechat/notify/../x"), None);
        assert_eq!(split_route("wechat/notify/"), None);
        assert_eq!(split_route("wechat/other/acc"), None);
        assert_eq!(split_route("notify"), None);
    }
}
