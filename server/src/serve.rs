//! Serving connections: the router on hyper, with the deadlines `axum::serve`
//! does not set. A client must send its request head within
//! [`HEADER_READ_TIMEOUT`] and its body within [`BODY_DEADLINE`], so that a
//! request trickled byte by byte (slowloris) cannot hold a connection and its
//! memory for ever. Bodies above a route's limit are refused with 413 from
//! their `Content-Length`, before they are read (`DefaultBodyLimit`).
//!
//! A connection is served by hyper's HTTP/1 or HTTP/2 server alone, chosen
//! from its first bytes read without taking them ([`speaks_http2`]): hyper's
//! auto-detecting connection read them first and handed them over apart,
//! which made the HTTP/1 reader double its buffer to 16 KiB, and its task
//! held room for an HTTP/2 connection too, for every live-status stream
//! (issue 14: 8 KiB and more per open stream).

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::Router;
use bytes::Bytes;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::Service;

/// The request line and headers must arrive within this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body must arrive, whole, within this.
pub const BODY_DEADLINE: Duration = Duration::from_secs(20);
/// After the stop signal, connections still open (live-status streams) are
/// given this long, then dropped.
const DRAIN: Duration = Duration::from_secs(8);

/// Serves until `stop` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let graceful = GracefulShutdown::new();
    let mut h1 = http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new());
    let router = router
        .layer(axum::middleware::map_request(with_body_deadline))
        .layer(axum::middleware::from_fn(refuse_over_large));
    tokio::pin!(stop);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            let mut router = router.clone();
            async move { router.call(req.map(Body::new)).await }
        });
        let (h1, h2, watcher) = (h1.clone(), h2.clone(), graceful.watcher());
        tokio::spawn(async move {
            let served = match speaks_http2(&stream).await {
                Ok(false) => {
                    let connection = h1.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection).await
                }
                // Boxed, so that an HTTP/1 connection's task has no room
                // for it.
                Ok(true) => {
                    let connection = h2.serve_connection(TokioIo::new(stream), service);
                    Box::pin(watcher.watch(connection)).await
                }
                Err(e) => {
                    tracing::debug!(error = %e, "connection closed before its request");
                    return;
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::info!("connections still open after the drain period are dropped");
        }
    }
}

/// What a client speaking HTTP/2 without TLS opens with (RFC 9113 §3.4).
/// No HTTP/1 request starts with it: `PRI` is reserved for it.
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the connection opens with the HTTP/2 preface, from its first
/// bytes looked at without being read (they stay for hyper to read).
/// Fails when the client closes first, or sends nothing within
/// [`HEADER_READ_TIMEOUT`] (hyper's own deadline for an HTTP/1 head starts
/// after this).
async fn speaks_http2(stream: &tokio::net::TcpStream) -> std::io::Result<bool> {
    let look = async {
        let mut first = [0u8; HTTP2_PREFACE.len()];
        loop {
            let n = stream.peek(&mut first).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if !HTTP2_PREFACE.starts_with(&first[..n]) {
                return Ok(false);
            }
            if n == HTTP2_PREFACE.len() {
                return Ok(true);
            }
            // A part of the preface so far (`P`, `PRI *`…): the rest is on
            // its way. `peek` answers at once while anything is waiting.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(HEADER_READ_TIMEOUT, look)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// The largest body of a callback, a public API write or a form POST
/// ([`refuse_over_small`]), and of anything else (the server functions; axum's
/// default).
pub const SMALL_BODY: u64 = 64 * 1024;
pub const LARGE_BODY: u64 = 2 * 1024 * 1024;

/// The first of the two layers of the routes that take small bodies
/// (the second is `DefaultBodyLimit`, which cuts a body without a length at
/// the limit): refused from its `Content-Length` before any byte is read.
pub async fn refuse_over_small(
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    refuse_oversized(SMALL_BODY, req, next).await
}

/// The same for the form posted without JavaScript: small, unless it is
/// multipart and carries files (then up to `plain_form::MAX_BODY`).
pub async fn refuse_over_plain_form(
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let limit = if crate::plain_form::is_multipart(req.headers()) {
        crate::plain_form::MAX_BODY as u64
    } else {
        SMALL_BODY
    };
    refuse_oversized(limit, req, next).await
}

/// Refuses from its `Content-Length` a body larger than `limit`, before
/// reading any of it. (`DefaultBodyLimit` alone reads up to the limit first,
/// so a client announcing 50 MB and sending 10 bytes held the request open.)
async fn refuse_oversized(
    limit: u64,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let announced = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit) {
        return (
            http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        )
            .into_response();
    }
    next.run(req).await
}

async fn refuse_over_large(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    refuse_oversized(LARGE_BODY, req, next).await
}

async fn with_body_deadline(req: Request) -> Request {
    if http_body::Body::is_end_stream(req.body()) {
        return req; // no body (GET, HEAD): no timer
    }
    req.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(BODY_DEADLINE)),
        })
    })
}

/// A request body that fails once its deadline has passed.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        if self.inner.is_end_stream() {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(
                "the request body did not arrive in time",
            ))));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
