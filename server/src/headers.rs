//! Security headers on every answer. HTML pages get a Content Security
//! Policy that allows our own scripts, the WebAssembly they compile
//! (`'wasm-unsafe-eval'`) and the inline scripts Leptos writes for hydration,
//! each carrying a fresh nonce: nothing else inline runs. Administrators'
//! pages cannot be framed. HSTS in production.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use std::sync::Arc;

/// The nonce of this request's inline scripts; Leptos writes it on them.
#[derive(Clone, Debug)]
pub struct CspNonce(pub Arc<str>);

#[derive(Clone, Copy, Debug)]
pub struct HeaderSettings {
    pub production: bool,
}

fn fresh_nonce() -> Arc<str> {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .into()
}

/// Administrators' pages are sent uncompressed. A page that holds a secret
/// (a webhook's signing key, a second factor's seed) beside text an attacker
/// can put there (a payer's answers), compressed, leaks the secret through
/// its length when the attacker can make the administrator's browser load it
/// again and again (BREACH). The payers' pages hold no secret: the CSRF check
/// is by origin and the session stays in its cookie.
pub async fn uncompressed_admin_pages(mut request: Request) -> Request {
    let path = request.uri().path();
    if path == "/admin" || path.starts_with("/admin/") {
        request.headers_mut().remove(header::ACCEPT_ENCODING);
    }
    request
}

/// The policy of an HTML page.
pub fn page_policy(nonce: &str, frameable: bool) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {}",
        if frameable { "'self'" } else { "'none'" }
    )
}

/// The simulator's pages (development only) style themselves inline.
const SIMULATOR_POLICY: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// Anything that is not a page.
const OTHER_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

pub async fn security_headers(
    State(settings): State<HeaderSettings>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = fresh_nonce();
    request.extensions_mut().insert(CspNonce(nonce.clone()));
    let path = request.uri().path().to_owned();
    let admin = path == "/admin" || path.starts_with("/admin/");
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Same-origin requests keep their Referer (and their Origin, which the
    // cross-site check needs); capability links never leak to other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = if path.starts_with("/_simulator") {
            SIMULATOR_POLICY.to_owned()
        } else if html {
            page_policy(&nonce, !admin)
        } else {
            OTHER_POLICY.to_owned()
        };
        if let Ok(v) = HeaderValue::from_str(&policy) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    if admin {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if settings.production {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}
