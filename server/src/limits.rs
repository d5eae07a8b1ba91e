//! Per-address rate limits on the public write routes (submit, pay, "I have
//! paid"), with `tower_governor`: a stranger's loop cannot fill a form or
//! spend the merchant's API quota. The client address is the one
//! `TRUSTED_PROXIES` lets us believe. Beyond the limit: 429 with
//! `Retry-After` and the API's error body.

use app::ssr::auth::TrustedProxies;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};

/// The client's address, as `TRUSTED_PROXIES` allows us to know it.
#[derive(Clone, Debug)]
pub struct ClientIp(pub TrustedProxies);

impl KeyExtractor for ClientIp {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or(GovernorError::UnableToExtractKey)?;
        Ok(self.0.client_ip(peer, req.headers()))
    }
}

pub type Limit = GovernorLayer<ClientIp, governor::middleware::NoOpMiddleware, Body>;

/// `per_minute` requests a minute from one address, all at once if need be
/// (the bucket holds a minute's worth and refills evenly). Its memory is
/// swept every minute while the router lives.
pub fn per_address(per_minute: u32, proxies: TrustedProxies) -> anyhow::Result<Limit> {
    let per_minute = per_minute.max(1);
    let config = GovernorConfigBuilder::default()
        .period(Duration::from_millis(
            (60_000 / u64::from(per_minute)).max(1),
        ))
        .burst_size(per_minute)
        .key_extractor(ClientIp(proxies))
        .finish()
        .ok_or_else(|| anyhow::anyhow!("invalid rate limit"))?;
    let config = Arc::new(config);
    let weak = Arc::downgrade(&config);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            match weak.upgrade() {
                Some(c) => c.limiter().retain_recent(),
                None => return,
            }
        }
    });
    Ok(GovernorLayer::new(config).error_handler(too_many))
}

fn too_many(e: GovernorError) -> Response<Body> {
    let wait = match &e {
        GovernorError::TooManyRequests { wait_time, .. } => (*wait_time).max(1),
        _ => 1,
    };
    let body = serde_json::json!({
        "error": "rate_limited",
        "message": format!("too many requests from this address; try again in {wait} s"),
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("retry-after", HeaderValue::from(wait));
    resp
}
