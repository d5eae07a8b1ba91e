//! Defence in depth against cross-site requests: besides the SameSite session
//! cookie, a browser write (POST, PUT, PATCH, DELETE) whose `Origin` names
//! another site is refused. Provider callbacks carry no `Origin` and pass.

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn same_origin_writes(request: Request, next: Next) -> Response {
    let is_write = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if is_write {
        let origin_host = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(|o| {
                o.split_once("://")
                    .map(|(_, rest)| rest)
                    .unwrap_or(o)
                    .to_owned()
            });
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        if let (Some(origin_host), Some(host)) = (origin_host, host) {
            if origin_host != host {
                return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
            }
        }
    }
    next.run(request).await
}
