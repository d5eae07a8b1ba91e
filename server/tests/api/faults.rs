//! Provider faults (issue 11, part 3): the simulator's API answers with a
//! server error, a cut body, another key's signature, a dropped connection,
//! or too late. For each: the payer gets a clear, retryable answer, the
//! reconciler backs off and recovers once the provider is well, and every
//! order is paid exactly once with exactly its amount.

use crate::both_backends;
use crate::flow::{order_status, submit_demo};
use crate::helpers::*;
use app::ssr::Backend;
use serde_json::{json, Value};
use simulator::{Fault, SimProvider};
use sqlx::Row;
use std::time::{Duration, Instant};

async fn pay_raw(app: &TestApp, id: &str, channel: &str) -> (u16, Value) {
    crate::phone::pay_raw(app, id, json!({ "channel": channel })).await
}

async fn out_trade_no(app: &TestApp, id: &str) -> String {
    sqlx::query("SELECT out_trade_no FROM payment_attempts WHERE order_id = $1 ORDER BY seq DESC")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .expect("attempt")
        .get("out_trade_no")
}

async fn paid_once(app: &TestApp, id: &str, fen: i64) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while order_status(app, id).await != "paid" {
        assert!(
            Instant::now() < deadline,
            "{id} never paid: {}",
            order_status(app, id).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = sqlx::query(
        "SELECT received_fen, (SELECT COUNT(*) FROM order_events WHERE order_id = $1 AND to_status = 'paid') AS n \
         FROM orders WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .expect("order");
    assert_eq!(row.get::<i64, _>("n"), 1, "paid exactly once");
    assert_eq!(row.get::<i64, _>("received_fen"), fen, "exactly its amount");
}

/// Checkout while the provider misbehaves, then again once it is well.
async fn checkout_through(app: &TestApp, fault: Fault, channel: &str, provider: SimProvider) {
    let sim = app.simulator.clone().expect("simulator");
    let order = submit_demo(app, "2.00").await;
    let id = order["id"].as_str().expect("id").to_owned();
    sim.set_fault(Some(fault));
    let started = Instant::now();
    let (status, body) = pay_raw(app, &id, channel).await;
    assert_eq!(status, 502, "{fault:?}: {body}");
    assert_eq!(body["error"], "provider_error", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("try again")),
        "a clear, retryable message: {body}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_ne!(order_status(app, &id).await, "paid");
    sim.set_fault(None);
    let (status, body) = pay_raw(app, &id, channel).await;
    assert_eq!(
        status, 200,
        "{fault:?}, again once the provider is well: {body}"
    );
    let no = out_trade_no(app, &id).await;
    sim.pay(provider, &no).expect("pay");
    paid_once(app, &id, 200).await;
}

/// A payment whose callback is lost, found by the reconciler only once the
/// provider answers its queries properly again.
async fn reconciler_through(app: &TestApp, fault: Fault) {
    let sim = app.simulator.clone().expect("simulator");
    let order = submit_demo(app, "3.00").await;
    let id = order["id"].as_str().expect("id").to_owned();
    let (status, _) = pay_raw(app, &id, "wechat_native").await;
    assert_eq!(status, 200);
    let no = out_trade_no(app, &id).await;
    sim.set_delivery(false);
    let swallowed = sim.stats().swallowed;
    sim.pay(SimProvider::Wechat, &no).expect("pay");
    // The delivery task looks at the switch when it runs: wait for it.
    while sim.stats().swallowed == swallowed {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sim.set_delivery(true);
    sim.set_fault(Some(fault));
    let faulted = sim.stats().faulted;
    // The reconciler queries, fails, and backs off; the order waits.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.stats().faulted < faulted + 2 {
        assert!(Instant::now() < deadline, "the reconciler never asked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(order_status(app, &id).await, "pending");
    sim.set_fault(None);
    paid_once(app, &id, 300).await;
}

both_backends! {
    async fn a_provider_server_error_is_retryable_and_recovered(app) {
        checkout_through(&app, Fault::ServerError, "wechat_native", SimProvider::Wechat).await;
        checkout_through(&app, Fault::ServerError, "alipay_qr", SimProvider::Alipay).await;
        reconciler_through(&app, Fault::ServerError).await;
    }

    async fn a_cut_answer_is_retryable_and_recovered(app) {
        checkout_through(&app, Fault::Malformed, "wechat_native", SimProvider::Wechat).await;
        checkout_through(&app, Fault::Malformed, "alipay_qr", SimProvider::Alipay).await;
        reconciler_through(&app, Fault::Malformed).await;
    }

    async fn an_answer_signed_by_another_key_is_refused_and_recovered(app) {
        checkout_through(&app, Fault::WrongSignature, "wechat_native", SimProvider::Wechat).await;
        checkout_through(&app, Fault::WrongSignature, "alipay_qr", SimProvider::Alipay).await;
        reconciler_through(&app, Fault::WrongSignature).await;
    }

    async fn a_dropped_connection_is_retryable_and_recovered(app) {
        checkout_through(&app, Fault::Reset, "wechat_native", SimProvider::Wechat).await;
        checkout_through(&app, Fault::Reset, "alipay_qr", SimProvider::Alipay).await;
        reconciler_through(&app, Fault::Reset).await;
    }
}

both_backends! {
    async fn wechat_v2_faults_are_retryable_and_recovered(app) {
        // A receiving account on the legacy API v2 (XML, MD5/HMAC signatures).
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let account = crate::trust::simulated_account(&app, "v2 商户", "wechat_v2").await;
        crate::trust::use_account(&app, &account).await;
        for fault in [Fault::ServerError, Fault::Malformed, Fault::WrongSignature, Fault::Reset] {
            checkout_through(&app, fault, "wechat_native", SimProvider::Wechat).await;
        }
    }
}

#[tokio::test]
async fn a_provider_slower_than_the_timeout_is_retryable_and_recovered() {
    let app = spawn_app(Backend::Sqlite).await;
    // Answers after 16 s; the client gives up after 15 s, the order exists
    // at the provider all the same: the second try finds it.
    checkout_through(
        &app,
        Fault::Slow(Duration::from_secs(16)),
        "wechat_native",
        SimProvider::Wechat,
    )
    .await;
}
