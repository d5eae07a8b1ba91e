//! Logging: readable lines in development, JSON in production. Request ids tie
//! the lines of one request together. Nothing here logs bodies or query strings.

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};
use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber. Safe to call more than once (tests).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info,hyper=warn"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.compact().try_init()
    };
}

/// Random 64-bit request ids, as 16 hex digits.
#[derive(Clone, Copy, Default)]
pub struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let id: u64 = rand::random();
        HeaderValue::from_str(&format!("{id:016x}"))
            .ok()
            .map(RequestId::new)
    }
}

/// The span of one request: method, path and request id. Never the query,
/// and never a capability: the unguessable ids in `/pay/{order}`,
/// `/r/{receipt}` and the order routes are written as `…`.
pub fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %request.method(), path = %loggable_path(request.uri().path()), request_id = %request_id)
}

/// A path with every unguessable id (32 hex digits: orders, receipts,
/// sessions) replaced by `…`, so that logs never hand out a link.
pub fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if app::domain::Token::parse(seg).is_ok() {
                "…"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_links_never_reach_the_log() {
        let order = "0123456789abcdef0123456789abcdef";
        assert_eq!(loggable_path(&format!("/pay/{order}")), "/pay/…");
        assert_eq!(loggable_path(&format!("/r/{order}")), "/r/…");
        assert_eq!(
            loggable_path(&format!("/api/v1/orders/{order}/events")),
            "/api/v1/orders/…/events"
        );
        assert_eq!(loggable_path("/f/demo"), "/f/demo");
    }
}
