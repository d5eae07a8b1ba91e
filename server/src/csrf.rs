//! Defence in depth against cross-site requests, besides the SameSite session
//! cookie. A write (POST, PUT, PATCH, DELETE) that carries an administrator's
//! session must say where it comes from, with an `Origin` (or, failing that,
//! a `Referer`) whose scheme, host and port are ours; a write that names
//! another origin is refused whoever makes it. Programs using the public API
//! without a session (and providers' callbacks) send neither and pass.

use app::ssr::auth::session_token_from_headers;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Our origin: `PUBLIC_BASE_URL`'s when it is set, else the one the request
/// was addressed to (development, where the address varies).
#[derive(Clone, Debug)]
pub struct Origins {
    pub public: Option<String>,
}

/// `scheme://host[:port]` of a URL, lower-cased, default ports dropped.
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

fn expected(origins: &Origins, request: &Request) -> Option<String> {
    if let Some(o) = &origins.public {
        return Some(o.clone());
    }
    // HTTP/1.1 names the host in `Host`; HTTP/2 in the `:authority`.
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))?;
    origin_of(&format!("http://{host}"))
}

/// Where the request says it comes from: `Origin`, else `Referer`'s origin.
fn claimed(headers: &HeaderMap) -> Option<String> {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null");
    match origin {
        Some(o) => Some(origin_of(o).unwrap_or_else(|| o.to_owned())),
        None => headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(origin_of),
    }
}

pub async fn same_origin_writes(
    State(origins): State<Origins>,
    request: Request,
    next: Next,
) -> Response {
    let is_write = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if is_write {
        let ours = expected(&origins, &request);
        let theirs = claimed(request.headers());
        let with_session = session_token_from_headers(request.headers()).is_some();
        let refused = match (&theirs, &ours) {
            (Some(t), Some(o)) => t != o,
            (Some(_), None) => true,
            (None, _) => with_session,
        };
        if refused {
            tracing::warn!(
                with_session,
                claimed = theirs.as_deref().unwrap_or("-"),
                "cross-site write refused"
            );
            return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin_of("https://Pay.Example.com/admin?x=1").as_deref(),
            Some("https://pay.example.com")
        );
        assert_eq!(
            origin_of("https://pay.example.com:443/").as_deref(),
            Some("https://pay.example.com")
        );
        assert_ne!(
            origin_of("http://pay.example.com"),
            origin_of("https://pay.example.com")
        );
        assert_eq!(origin_of("not a url"), None);
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, "null".parse().expect("header"));
        h.insert(
            header::REFERER,
            "http://127.0.0.1:3000/admin/orders"
                .parse()
                .expect("header"),
        );
        assert_eq!(claimed(&h).as_deref(), Some("http://127.0.0.1:3000"));
    }
}
