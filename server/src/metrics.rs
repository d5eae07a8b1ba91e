//! Prometheus metrics, served on their own listener (`METRICS_ADDR`), never
//! on the public router: requests by route and status, callbacks by provider
//! and result, orders by status, how late the reconciler is, open live-status
//! streams and the database pool. Counters count from the process's start;
//! the gauges are read from the database and the server at each scrape.

use app::ssr::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route's template (`/api/v1/orders/{id}`), never the raw path, so
    /// that the number of series stays bounded; `unmatched` for the rest.
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallbackLabels {
    /// The provider's route below `/payment/`: `wechat`, `wechat/v2`, `alipay`.
    provider: String,
    /// `accepted`, `unverified` (forged, replayed, malformed), `mismatch`
    /// (verified but not its order's), `failed` (not stored: the provider
    /// retries) or `no_route` (no such provider or account here).
    result: &'static str,
}

/// What the callback route did with a callback, put in its response's
/// extensions for [`track`] to count.
#[derive(Clone, Copy, Debug)]
pub struct CallbackResult(pub &'static str);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

/// Every metric, and the registry that writes them out.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    callbacks: Family<CallbackLabels, Counter>,
    orders: Family<StatusLabels, Gauge>,
    reconciler_lag: Gauge<f64, AtomicU64>,
    streams_open: Gauge,
    pool_connections: Gauge,
    pool_idle: Gauge,
    webhooks_pending: Gauge,
    mail_pending: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("formpay");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let callbacks = Family::<CallbackLabels, Counter>::default();
        registry.register(
            "callbacks",
            "Provider callbacks, by provider and result (accepted, refused, failed)",
            callbacks.clone(),
        );
        let orders = Family::<StatusLabels, Gauge>::default();
        registry.register("orders", "Orders by status", orders.clone());
        let reconciler_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "reconciler_lag_seconds",
            "How long the most overdue order, refund or closing payment has waited for the reconciler (0: none is overdue)",
            reconciler_lag.clone(),
        );
        let streams_open = Gauge::default();
        registry.register(
            "sse_streams_open",
            "Open live-status streams (payers' pages)",
            streams_open.clone(),
        );
        let pool_connections = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Database connections held by the pool",
            pool_connections.clone(),
        );
        let pool_idle = Gauge::default();
        registry.register(
            "db_pool_idle",
            "Database connections idle in the pool (0 for long: the pool is exhausted)",
            pool_idle.clone(),
        );
        let webhooks_pending = Gauge::default();
        registry.register(
            "webhook_deliveries_pending",
            "Webhook deliveries waiting to be sent or retried (the webhook queue)",
            webhooks_pending.clone(),
        );
        let mail_pending = Gauge::default();
        registry.register(
            "mail_pending",
            "Mails waiting to be sent or retried (the mail queue)",
            mail_pending.clone(),
        );
        Metrics {
            webhooks_pending,
            mail_pending,
            registry,
            requests,
            callbacks,
            orders,
            reconciler_lag,
            streams_open,
            pool_connections,
            pool_idle,
        }
    }

    fn record(
        &self,
        method: &str,
        route: &str,
        path: &str,
        status: StatusCode,
        callback: Option<CallbackResult>,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.as_str().to_owned(),
            })
            .inc();
        if route == CALLBACK_ROUTE {
            self.callbacks
                .get_or_create(&CallbackLabels {
                    provider: callback_provider(path),
                    result: callback.map_or("no_route", |c| c.0),
                })
                .inc();
        }
    }

    /// Reads the gauges, then writes every metric in the OpenMetrics text format.
    async fn scrape(&self, state: &AppState) -> anyhow::Result<String> {
        let now = app::ssr::now_ms();
        let by_status: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM orders GROUP BY status")
                .fetch_all(&state.db.pool)
                .await?;
        self.orders.clear();
        for (status, n) in by_status {
            self.orders.get_or_create(&StatusLabels { status }).set(n);
        }
        let (oldest,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(t) FROM (
                SELECT MIN(next_check_at) AS t FROM orders WHERE status IN ('created', 'pending') AND next_check_at <= $1
                UNION ALL SELECT MIN(next_check_at) FROM refunds WHERE status = 'processing' AND next_check_at <= $1
                UNION ALL SELECT MIN(next_check_at) FROM payment_attempts WHERE state = 'closing' AND next_check_at <= $1
            ) AS due",
        )
        .bind(now)
        .fetch_one(&state.db.pool)
        .await?;
        self.reconciler_lag
            .set(oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0));
        self.streams_open.set(state.streams.open() as i64);
        self.pool_connections.set(i64::from(state.db.pool.size()));
        self.pool_idle.set(state.db.pool.num_idle() as i64);
        self.webhooks_pending
            .set(formpay_core::webhooks::pending_count(&state.db).await?);
        self.mail_pending
            .set(formpay_core::mail::pending_count(&state.db).await?);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The providers' callback route (mounted by `server::router`).
pub(crate) const CALLBACK_ROUTE: &str = "/payment/{*rest}";

/// `wechat/notify/acc_1` → `wechat`; `wechat/v2/notify` → `wechat/v2`.
fn callback_provider(path: &str) -> String {
    let rest = path.trim_start_matches("/payment/");
    match rest.split_once("/notify") {
        Some((provider, _)) if !provider.is_empty() && provider.len() <= 32 => provider.to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// Counts every answered request (a layer of the public router).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "PATCH") => m,
        _ => "other",
    }
    .to_owned();
    let path = if route == CALLBACK_ROUTE {
        req.uri().path().to_owned()
    } else {
        String::new()
    };
    let resp = next.run(req).await;
    let callback = resp.extensions().get::<CallbackResult>().copied();
    metrics.record(&method, &route, &path, resp.status(), callback);
    resp
}

/// `GET /metrics` on the metrics listener.
async fn scrape(State((metrics, state)): State<(Arc<Metrics>, AppState)>) -> Response {
    match metrics.scrape(&state).await {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the metrics");
            (StatusCode::SERVICE_UNAVAILABLE, "cannot read the metrics").into_response()
        }
    }
}

/// The metrics listener's router: `/metrics` and nothing else.
pub fn router(metrics: Arc<Metrics>, state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state((metrics, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_named_by_their_provider_route() {
        assert_eq!(callback_provider("/payment/wechat/notify"), "wechat");
        assert_eq!(
            callback_provider("/payment/wechat/v2/notify/acc"),
            "wechat/v2"
        );
        assert_eq!(callback_provider("/payment/alipay/notify/x"), "alipay");
        assert_eq!(callback_provider("/payment/nothing"), "unknown");
    }

    #[test]
    fn requests_and_callbacks_are_counted_by_label() {
        let m = Metrics::new();
        let (route, path) = (CALLBACK_ROUTE, "/payment/alipay/notify");
        let accepted = Some(CallbackResult("accepted"));
        let unverified = Some(CallbackResult("unverified"));
        m.record("POST", route, path, StatusCode::OK, accepted);
        m.record("POST", route, path, StatusCode::BAD_REQUEST, unverified);
        m.record(
            "POST",
            route,
            "/payment/x/notify/9",
            StatusCode::NOT_FOUND,
            None,
        );
        m.record("GET", "/healthz", "", StatusCode::OK, None);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).expect("encode");
        for line in [
            r#"formpay_callbacks_total{provider="alipay",result="accepted"} 1"#,
            r#"formpay_callbacks_total{provider="alipay",result="unverified"} 1"#,
            r#"formpay_callbacks_total{provider="x",result="no_route"} 1"#,
            r#"formpay_http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
        ] {
            assert!(out.contains(line), "{line} in\n{out}");
        }
    }
}
