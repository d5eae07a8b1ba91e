//! Webhooks (issue 16): a form's endpoint receives `submission.created`,
//! `order.paid` and `order.refunded`, each signed as Standard Webhooks says;
//! a receiver that fails is retried with the same message until it answers
//! 2xx; a receiver that never answers changes nothing of ours; a delivery
//! can be sent again by hand.

use crate::both_backends;
use crate::flow::{pay, submit_demo, wait_status};
use crate::helpers::{press, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the receiver saw: (webhook-id, timestamp, signature, body) per request.
type Seen = Arc<Mutex<Vec<(String, i64, String, String)>>>;

/// A receiver on port 0 that fails each message's first `failures` tries.
async fn receiver(failures: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let tries: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let seen = seen.clone();
            move |headers: HeaderMap, body: String| {
                let (seen, tries) = (seen.clone(), tries.clone());
                async move {
                    let h = |k: &str| {
                        headers
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let id = h("webhook-id");
                    seen.lock().expect("lock").push((
                        id.clone(),
                        h("webhook-timestamp").parse().unwrap_or(0),
                        h("webhook-signature"),
                        body,
                    ));
                    let mut tries = tries.lock().expect("lock");
                    let n = tries.entry(id).or_default();
                    *n += 1;
                    if *n <= failures {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

async fn demo_form_id(app: &TestApp) -> String {
    app::ssr::forms::form_by_slug(&app.db, "demo")
        .await
        .expect("read")
        .expect("demo")
        .id
}

async fn deliveries(app: &TestApp, form_id: &str) -> Vec<Value> {
    app.call("admin_webhooks", &[("form_id", form_id)]).await["deliveries"]
        .as_array()
        .expect("deliveries")
        .clone()
}

/// Waits until every delivery of the form is in `state`, with `n` of them.
async fn wait_deliveries(app: &TestApp, form_id: &str, n: usize, state: &str) -> Vec<Value> {
    for _ in 0..300 {
        let d = deliveries(app, form_id).await;
        if d.len() == n && d.iter().all(|x| x["state"] == state) {
            return d;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "deliveries never reached {n} × {state}: {:?}",
        deliveries(app, form_id).await
    );
}

both_backends! {
    async fn signed_events_are_retried_until_delivered(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let form_id = demo_form_id(&app).await;
        let (url, seen) = receiver(2).await;
        let refused = app.call("admin_add_webhook", &[("form_id", &form_id), ("url", "ftp://example.com/x")]).await;
        assert!(refused["Refused"]["message"].as_str().is_some(), "{refused}");
        let added = app.call("admin_add_webhook", &[("form_id", &form_id), ("url", &url)]).await;
        let secret = added["Added"]["secret"].as_str().expect("secret").to_owned();
        assert!(secret.starts_with("whsec_"));

        let order = submit_demo(&app, "8.80").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let qr = pay(&app, &id, "wechat_native").await["qr_code"].as_str().expect("qr").to_owned();
        press(&app, &qr, "pay").await;
        wait_status(&app, &id, "paid").await;
        let done = wait_deliveries(&app, &form_id, 2, "delivered").await;
        for d in &done {
            assert_eq!(d["attempts"], 3, "two failures, then delivered: {d}");
            assert_eq!(d["last_status"], 204);
        }

        // Each message: the same id and body on every try, signed each time.
        let seen_now = seen.lock().expect("lock").clone();
        assert_eq!(seen_now.len(), 6);
        let mut bodies: HashMap<String, Vec<&(String, i64, String, String)>> = HashMap::new();
        for s in &seen_now {
            bodies.entry(s.0.clone()).or_default().push(s);
        }
        assert_eq!(bodies.len(), 2);
        let mut types = Vec::new();
        for tries in bodies.values() {
            assert_eq!(tries.len(), 3);
            assert!(tries.iter().all(|t| t.3 == tries[0].3), "the same body on every try");
            for (msg_id, ts, sig, body) in tries.iter().copied() {
                assert!(msg_id.starts_with("msg_"));
                assert!((formpay_core::now_ms() / 1000 - ts).abs() < 300);
                assert_eq!(sig, &formpay_core::webhooks::sign(&secret, msg_id, *ts, body.as_bytes()).expect("sign"));
            }
            let v: Value = serde_json::from_str(&tries[0].3).expect("json");
            types.push(v["type"].as_str().expect("type").to_owned());
            if v["type"] == "submission.created" {
                assert_eq!(v["data"]["answers"]["name"], "张三");
                assert_eq!(v["data"]["amount_fen"], 880);
                assert_eq!(v["data"]["order_id"], id.as_str());
            } else {
                assert_eq!(v["data"]["order_id"], id.as_str());
                assert_eq!(v["data"]["status"], "paid");
                assert!(v["data"]["transaction_id"].as_str().is_some());
            }
        }
        types.sort();
        assert_eq!(types, ["order.paid", "submission.created"]);

        // A refund: order.refunded.
        app.call("admin_refund", &[("id", &id), ("amount", "3.00"), ("reason", "test"), ("request_key", "webhook-refund-1")]).await;
        wait_status(&app, &id, "partially_refunded").await;
        let done = wait_deliveries(&app, &form_id, 3, "delivered").await;
        let refund_msg = seen.lock().expect("lock").iter().rev().find(|s| s.3.contains("order.refunded")).cloned().expect("order.refunded");
        let v: Value = serde_json::from_str(&refund_msg.3).expect("json");
        assert_eq!(v["data"]["refunded_fen"], 300);
        assert_eq!(v["data"]["status"], "partially_refunded");

        // Sent again by hand: the same message.
        let first = done.iter().find(|d| d["event_type"] == "order.paid").expect("paid delivery");
        let before = seen.lock().expect("lock").len();
        assert_eq!(app.call("admin_resend_webhook", &[("form_id", &form_id), ("id", first["id"].as_str().expect("id"))]).await, json!("Done"));
        wait_deliveries(&app, &form_id, 3, "delivered").await;
        for _ in 0..100 {
            if seen.lock().expect("lock").len() > before { break; }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let again = seen.lock().expect("lock").last().cloned().expect("again");
        assert_eq!(again.0, first["id"].as_str().expect("id"));

        // Audited.
        let audit: Vec<(String,)> = sqlx::query_as("SELECT action FROM audit_log WHERE action = 'add_webhook'").fetch_all(&app.db.pool).await.expect("audit");
        assert_eq!(audit.len(), 1);
    }

    async fn passes_running_at_once_make_each_delivery_once(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let form_id = demo_form_id(&app).await;
        // Before the form has an endpoint: its events are passed over for good.
        for _ in 0..2 {
            submit_demo(&app, "2.00").await;
        }
        assert_eq!(formpay_core::webhooks::enqueue_new_events(&app.db, None).await.expect("pass"), 0);
        let (unclaimed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM submissions WHERE webhooked_at IS NULL")
            .fetch_one(&app.db.pool).await.expect("count");
        assert_eq!(unclaimed, 0);
        let (url, seen) = receiver(0).await;
        let added = app.call("admin_add_webhook", &[("form_id", &form_id), ("url", &url)]).await;
        assert!(added["Added"]["secret"].is_string(), "{added}");
        let mut orders = Vec::new();
        for _ in 0..6 {
            orders.push(submit_demo(&app, "1.00").await["id"].as_str().expect("id").to_owned());
        }
        // Four passes at once, beside the server's own (as instances would):
        // each new submission is claimed by one of them.
        let passes = (0..4).map(|_| formpay_core::webhooks::enqueue_new_events(&app.db, None));
        let made: usize = futures_util::future::join_all(passes)
            .await
            .into_iter()
            .map(|m| m.expect("pass"))
            .sum();
        assert!(made <= 6, "{made}");
        wait_deliveries(&app, &form_id, 6, "delivered").await;
        let mut named: Vec<String> = seen
            .lock()
            .expect("lock")
            .iter()
            .map(|(.., body)| {
                let v: Value = serde_json::from_str(body).expect("json");
                assert_eq!(v["type"], "submission.created");
                v["data"]["order_id"].as_str().expect("order").to_owned()
            })
            .collect();
        named.sort();
        orders.sort();
        assert_eq!(named, orders, "each submission delivered once");
    }

    async fn a_receiver_that_never_answers_changes_nothing_of_ours(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let form_id = demo_form_id(&app).await;
        // A port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
        app.call("admin_add_webhook", &[("form_id", &form_id), ("url", &format!("http://{closed}/hook"))]).await;
        let order = submit_demo(&app, "2.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let qr = pay(&app, &id, "wechat_native").await["qr_code"].as_str().expect("qr").to_owned();
        press(&app, &qr, "pay").await;
        wait_status(&app, &id, "paid").await;
        // Every retry fails; after the last the deliveries are given up.
        let given_up = wait_deliveries(&app, &form_id, 2, "failed").await;
        for d in &given_up {
            assert_eq!(d["attempts"], 8, "{d}");
            assert_eq!(d["last_error"], "cannot connect");
        }
        let o = app.client.get(app.url(&format!("/api/v1/orders/{id}"))).send().await.expect("order").json::<Value>().await.expect("json");
        assert_eq!(o["status"], "paid");
        // Removing the endpoint removes its log.
        let endpoint = app.call("admin_webhooks", &[("form_id", &form_id)]).await["endpoints"][0]["id"].as_str().expect("id").to_owned();
        assert_eq!(app.call("admin_remove_webhook", &[("form_id", &form_id), ("id", &endpoint)]).await, json!("Done"));
        assert!(deliveries(&app, &form_id).await.is_empty());
    }
}
