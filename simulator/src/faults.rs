//! Fault controls: the provider's API misbehaving, as real providers
//! sometimes do. A fault applies to the provider API endpoints (WeChat Pay
//! v3 and v2, the Alipay gateway), never to the payer's pages or the
//! callbacks, until it is cleared.

use super::Simulator;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// How the provider's API misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answers after this long (beyond the client's timeout), having done
    /// the work: the order exists although the caller gave up.
    Slow(Duration),
    /// 500 with WeChat's `SYSTEM_ERROR` (a 502 at Alipay's gateway).
    ServerError,
    /// 200 with a body cut in the middle.
    Malformed,
    /// The real answer, its signature made by another key.
    WrongSignature,
    /// The connection is dropped in the middle of the answer.
    Reset,
}

impl Fault {
    /// `slow`, `5xx`, `malformed`, `wrong-signature`, `reset`.
    pub fn parse(s: &str) -> Option<Fault> {
        Some(match s {
            "slow" => Fault::Slow(Duration::from_secs(16)),
            "5xx" => Fault::ServerError,
            "malformed" => Fault::Malformed,
            "wrong-signature" => Fault::WrongSignature,
            "reset" => Fault::Reset,
            _ => return None,
        })
    }
}

fn is_provider_api(req: &Request) -> bool {
    let path = req.uri().path();
    let path = path.strip_prefix("/_simulator").unwrap_or(path);
    path.starts_with("/wechat/v3/")
        || path.starts_with("/wechat/pay/")
        || (path == "/alipay/gateway.do" && req.method() == axum::http::Method::POST)
}

pub(super) async fn apply(State(sim): State<Simulator>, req: Request, next: Next) -> Response {
    let fault = sim.0.fault.lock().ok().and_then(|f| *f);
    let Some(fault) = fault.filter(|_| is_provider_api(&req)) else {
        return next.run(req).await;
    };
    if let Ok(mut s) = sim.0.stats.lock() {
        s.faulted += 1;
    }
    let wechat = req.uri().path().contains("/wechat/");
    match fault {
        Fault::Slow(d) => {
            let resp = next.run(req).await;
            tokio::time::sleep(d).await;
            resp
        }
        Fault::ServerError if wechat => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "application/json")],
            r#"{"code":"SYSTEM_ERROR","message":"系统错误"}"#,
        )
            .into_response(),
        Fault::ServerError => (StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response(),
        Fault::Malformed => {
            let resp = next.run(req).await;
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            let mut resp = Response::from_parts(parts, Body::from(cut));
            resp.headers_mut().remove("content-length");
            resp
        }
        Fault::WrongSignature => {
            let resp = next.run(req).await;
            let (mut parts, body) = resp.into_parts();
            // WeChat v3 signs in a header; v2 and Alipay in the body.
            if parts.headers.contains_key("wechatpay-signature") {
                parts.headers.insert(
                    "wechatpay-signature",
                    HeaderValue::from_static("c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ=="),
                );
                return Response::from_parts(parts, body);
            }
            let bytes = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let forged = forge_body_signature(&text);
            parts.headers.remove("content-length");
            Response::from_parts(parts, Body::from(forged))
        }
        Fault::Reset => {
            let _ = next.run(req).await;
            let broken = futures_util::stream::once(async {
                Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection reset by the simulator",
                ))
            });
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                Body::from_stream(broken),
            )
                .into_response()
        }
    }
}

/// The same answer with its body signature (`"sign":"…"` or `<sign>…</sign>`)
/// changed.
fn forge_body_signature(text: &str) -> String {
    for (open, close) in [
        ("\"sign\":\"", "\""),
        ("<sign><![CDATA[", "]]>"),
        ("<sign>", "</sign>"),
    ] {
        if let Some(start) = text.find(open).map(|i| i + open.len()) {
            if let Some(len) = text[start..].find(close) {
                let forged: String = text[start..start + len]
                    .chars()
                    .map(|c| match c {
                        'A' => 'B',
                        'B' => 'A',
                        '0' => '1',
                        '1' => '0',
                        other => other,
                    })
                    .collect();
                return format!("{}{forged}{}", &text[..start], &text[start + len..]);
            }
        }
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn body_signatures_are_changed() {
        let f = super::forge_body_signature(r#"{"x":{},"sign":"ABC01"}"#);
        assert_eq!(f, r#"{"x":{},"sign":"BAC10"}"#);
        let f = super::forge_body_signature("<xml><sign><![CDATA[A1]]></sign></xml>");
        assert_eq!(f, "<xml><sign><![CDATA[B0]]></sign></xml>");
    }
}
