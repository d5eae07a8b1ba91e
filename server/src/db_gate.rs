//! When the database is gone: answer at once, and clearly, instead of making
//! every request wait for a connection that will not come.
//!
//! A watcher pings the database every second (each ping bounded to two
//! seconds; one that timed out only waiting for a saturated pool is not
//! counted). While it does not answer, every route but the liveness probe,
//! the static files and the development simulator gets 503 with
//! `Retry-After`: payers and the API see "try again shortly", and providers'
//! callbacks get a failure answer, so they retry. Requests caught before the
//! watcher notices fail on the pool's acquire timeout and are answered 503
//! too (`is_database_unavailable`).

use app::ssr::Db;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PING_EVERY: Duration = Duration::from_secs(1);
const PING_WITHIN: Duration = Duration::from_secs(2);

/// Whether the database answered its last ping.
#[derive(Clone)]
pub struct DbGate(Arc<AtomicBool>);

impl DbGate {
    pub fn new() -> DbGate {
        DbGate(Arc::new(AtomicBool::new(true)))
    }

    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Pings for ever; run it beside the server and abort it with it.
    pub async fn watch(self, db: Db) {
        loop {
            // A ping that only waited for a busy pool says nothing: the
            // database is answering the requests that hold the connections.
            let Some(up) = probe(&db).await else {
                tokio::time::sleep(PING_EVERY).await;
                continue;
            };
            let was = self.0.swap(up, Ordering::Relaxed);
            match (was, up) {
                (true, false) => tracing::error!("the database stopped answering; answering 503"),
                (false, true) => tracing::warn!("the database answers again"),
                _ => {}
            }
            tokio::time::sleep(PING_EVERY).await;
        }
    }
}

impl Default for DbGate {
    fn default() -> Self {
        DbGate::new()
    }
}

/// One bounded ping for the watcher: None when it timed out while every
/// connection of the pool was in use (saturated, not gone).
async fn probe(db: &Db) -> Option<bool> {
    match tokio::time::timeout(PING_WITHIN, db.ping()).await {
        Ok(up) => Some(up),
        Err(_) if db.pool.num_idle() == 0 && db.pool.size() > 0 => None,
        Err(_) => Some(false),
    }
}

/// One bounded ping.
pub async fn ping(db: &Db) -> bool {
    tokio::time::timeout(PING_WITHIN, db.ping())
        .await
        .unwrap_or(false)
}

/// Routes that never need the database.
fn exempt(path: &str) -> bool {
    path == "/healthz"
        || path == "/readyz"
        || path.starts_with("/pkg/")
        || path.starts_with("/_simulator/")
        || path == "/favicon.ico"
}

pub async fn gate(State(gate): State<DbGate>, req: Request, next: Next) -> Response {
    if gate.is_up() || exempt(req.uri().path()) {
        return next.run(req).await;
    }
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        let mut resp = (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            PAGE,
        )
            .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return resp;
    }
    unavailable()
}

/// What a browser shows meanwhile; it tries again by itself.
const PAGE: &str = r#"<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="5"><title>请稍后 · Please wait</title></head><body style="font-family:sans-serif;max-width:30rem;margin:3rem auto;padding:1rem;line-height:1.6;color:#1f2328"><h1>服务暂时不可用</h1><p>请稍后再试，本页会自动刷新。已经付款的订单不会丢失。</p><p lang="en">The service is briefly unavailable; try again shortly (this page reloads by itself). Payments already made are not lost.</p></body></html>"#;

/// 503, in both languages, with `Retry-After`.
pub fn unavailable() -> Response {
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        r#"{"error":"database_unavailable","message":"服务暂时不可用，请稍后再试。The service is briefly unavailable; try again shortly."}"#,
    )
        .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    resp
}

/// Whether an error comes from the database being unreachable (as opposed
/// to a bug or bad data).
pub fn is_database_unavailable(e: &anyhow::Error) -> bool {
    use app::ssr::commit::{is_locked_error, NotCommitted};
    e.chain().any(|cause| {
        cause.is::<NotCommitted>()
            || cause.downcast_ref::<sqlx::Error>().is_some_and(|e| {
                matches!(
                    e,
                    sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Io(_)
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::WorkerCrashed
                ) // SQLite locked by another process beyond the busy timeout.
                || is_locked_error(e)
            })
    })
}
