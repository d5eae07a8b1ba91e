//! The Prometheus endpoint: on its own listener (`METRICS_ADDR`), absent from
//! the public router, counting requests, callbacks (accepted and refused),
//! orders by status and open streams.

use crate::flow::{next_sse_status, pay, post_callback, submit_demo, wait_status};
use crate::helpers::{press, spawn_app_with};
use app::ssr::Backend;

/// The value of the sample named exactly `series`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

async fn metrics_are_served_apart_and_count(backend: Backend) {
    let app = spawn_app_with(backend, &[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let metrics_url = format!(
        "http://{}/metrics",
        app.metrics_addr.clone().expect("a metrics listener")
    );

    // Not on the public router.
    let public = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("get");
    assert_eq!(public.status(), 404);

    // One order paid through a verified callback, one forged callback, one
    // order waiting with its payer's page open.
    let order = submit_demo(&app, "3.20").await;
    let id = order["id"].as_str().expect("id").to_owned();
    let qr = pay(&app, &id, "wechat_native").await["qr_code"]
        .as_str()
        .expect("qr")
        .to_owned();
    press(&app, &qr, "pay").await;
    wait_status(&app, &id, "paid").await;
    let forged = post_callback(
        &app,
        &[("wechatpay-signature", "Zm9yZ2Vk".to_owned())],
        r#"{"id":"forged"}"#,
    )
    .await;
    assert!(!forged.status().is_success(), "{}", forged.status());
    let waiting = submit_demo(&app, "1.00").await;
    let waiting_id = waiting["id"].as_str().expect("id").to_owned();
    pay(&app, &waiting_id, "wechat_native").await;
    let mut events = app
        .client
        .get(app.url(&format!("/api/v1/orders/{waiting_id}/events")))
        .send()
        .await
        .expect("sse");
    let mut buf = String::new();
    assert_eq!(next_sse_status(&mut events, &mut buf).await, "pending");

    let resp = reqwest::get(&metrics_url).await.expect("scrape");
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/openmetrics-text")));
    let text = resp.text().await.expect("text");
    let get = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series} in\n{text}"));
    assert_eq!(
        get(
            r#"formpay_http_requests_total{method="POST",route="/api/v1/forms/{slug}/submissions",status="201"}"#
        ),
        2.0
    );
    assert!(get(r#"formpay_callbacks_total{provider="wechat",result="accepted"}"#) >= 1.0);
    assert_eq!(
        get(r#"formpay_callbacks_total{provider="wechat",result="unverified"}"#),
        1.0
    );
    assert_eq!(get(r#"formpay_orders{status="paid"}"#), 1.0);
    assert_eq!(get(r#"formpay_orders{status="pending"}"#), 1.0);
    assert_eq!(get("formpay_sse_streams_open"), 1.0);
    assert!(get("formpay_db_pool_connections") >= 1.0);
    assert!(get("formpay_reconciler_lag_seconds") >= 0.0);
    assert!(text.contains("formpay_db_pool_idle"));
    assert_eq!(get("formpay_webhook_deliveries_pending"), 0.0);
    assert_eq!(get("formpay_mail_pending"), 0.0);
    assert!(text.trim_end().ends_with("# EOF"));
    // Raw paths never become labels (bounded series): the order id is not in it.
    assert!(!text.contains(&id), "an order id leaked into a label");
    drop(events);
}

#[tokio::test]
async fn metrics_are_served_apart_and_count_sqlite() {
    metrics_are_served_apart_and_count(Backend::Sqlite).await;
}

#[tokio::test]
async fn metrics_are_served_apart_and_count_postgres() {
    metrics_are_served_apart_and_count(Backend::Postgres).await;
}
