//! The payer's whole flow over HTTP: submit, pay at the simulator, verified
//! callbacks, live status, recovery; on SQLite and PostgreSQL.

use crate::both_backends;
use crate::helpers::{press, spawn_app_on, spawn_app_with, test_settings, DatabaseGuard, TestApp};
use app::ssr::Backend;
use formpay_core::store::orders::Payments;
use serde_json::{json, Value};
use simulator::{dev_keys, SimProvider};
use sqlx::Row;
use std::time::Duration;

pub async fn submit_demo(app: &TestApp, amount: &str) -> Value {
    let resp = app
        .client
        .post(app.url("/api/v1/forms/demo/submissions"))
        .json(&json!({"answers": {"name": "张三", "phone": "13800138000", "amount": amount}}))
        .send()
        .await
        .expect("submit");
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.expect("json");
    body["order"].clone()
}

pub async fn pay(app: &TestApp, order_id: &str, channel: &str) -> Value {
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/orders/{order_id}/pay")))
        .json(&json!({"channel": channel}))
        .send()
        .await
        .expect("pay");
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    resp.json().await.expect("json")
}

pub async fn order_status(app: &TestApp, id: &str) -> String {
    let v: Value = app
        .client
        .get(app.url(&format!("/api/v1/orders/{id}")))
        .send()
        .await
        .expect("order")
        .json()
        .await
        .expect("json");
    v["status"].as_str().unwrap_or_default().to_owned()
}

pub async fn wait_status(app: &TestApp, id: &str, want: &str) {
    for _ in 0..200 {
        if order_status(app, id).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "order {id} never became {want} (is {})",
        order_status(app, id).await
    );
}

/// A callback exactly as WeChat Pay sends it, signed with the simulator's platform key.
pub fn wechat_callback(
    out_trade_no: &str,
    amount_fen: i64,
    mchid: &str,
) -> (Vec<(&'static str, String)>, String) {
    simulator::signed_wechat_callback(out_trade_no, amount_fen, mchid)
}

/// A ¥5.00 demo order waiting for its WeChat Native payment: (id, out_trade_no).
async fn pending_wechat_order(app: &TestApp) -> (String, String) {
    let order = submit_demo(app, "5.00").await;
    let id = order["id"].as_str().expect("id").to_owned();
    pay(app, &id, "wechat_native").await;
    let no = order["out_trade_no"].as_str().expect("no").to_owned();
    (id, no)
}

pub async fn post_callback(
    app: &TestApp,
    headers: &[(&'static str, String)],
    body: &str,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/payment/wechat/notify"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.send().await.expect("callback")
}

async fn paid_events(app: &TestApp, order_id: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM order_events WHERE order_id = $1 AND to_status = 'paid'")
        .bind(order_id)
        .fetch_one(&app.db.pool)
        .await
        .expect("count")
        .get::<i64, _>("n")
}

/// Reads server-sent events until a `status` event; returns its status.
pub async fn next_sse_status(resp: &mut reqwest::Response, buf: &mut String) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(i) = buf.find("\n\n") {
            let event: String = buf.drain(..i + 2).collect();
            if event.lines().any(|l| l == "event: status") {
                let data = event
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .expect("data");
                let v: Value = serde_json::from_str(data).expect("json");
                return v["status"].as_str().expect("status").to_owned();
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("an event in time")
            .expect("stream")
            .expect("not ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

both_backends! {
    async fn the_demo_form_is_published_and_described(app) {
        let form: Value = app.client.get(app.url("/api/v1/forms/demo")).send().await.expect("form").json().await.expect("json");
        assert_eq!(form["availability"], "open");
        let keys: Vec<&str> = form["fields"].as_array().expect("fields").iter().filter_map(|f| f["key"].as_str()).collect();
        assert_eq!(keys, ["name", "phone", "amount"]);
        assert_eq!(form["fields"][2]["mode"], "payer_amount");
        assert_eq!(app.client.get(app.url("/api/v1/forms/nope")).send().await.expect("404").status(), 404);
        let doc: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.expect("doc").json().await.expect("json");
        assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
        for path in ["/api/v1/forms/{slug}", "/api/v1/forms/{slug}/submissions", "/api/v1/orders/{id}", "/api/v1/orders/{id}/pay", "/api/v1/orders/{id}/events"] {
            assert!(doc["paths"].get(path).is_some(), "{path} is documented");
        }
    }

    async fn invalid_submissions_get_one_message_per_field_and_store_nothing(app) {
        let resp = app.client.post(app.url("/api/v1/forms/demo/submissions"))
            .json(&json!({"answers": {"phone": "123", "amount": "1.234", "evil": "<script>"}})).send().await.expect("submit");
        assert_eq!(resp.status(), 422);
        let body: Value = resp.json().await.expect("json");
        let fields: Vec<&str> = body["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
        assert_eq!(fields, ["amount", "evil", "name", "phone"]);
        let malformed = app.client.post(app.url("/api/v1/forms/demo/submissions")).header("content-type", "application/json").body("{nope").send().await.expect("submit");
        assert_eq!(malformed.status(), 400);
        for amount in ["0", "10000.01", "-1", "abc"] {
            let r = app.client.post(app.url("/api/v1/forms/demo/submissions")).json(&json!({"answers": {"name": "x", "amount": amount}})).send().await.expect("submit");
            assert_eq!(r.status(), 422, "{amount}");
        }
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM submissions").fetch_one(&app.db.pool).await.expect("count").get("n");
        assert_eq!(n, 0);
    }

    async fn a_payer_pays_with_wechat_and_the_status_arrives_by_server_sent_events(app) {
        let order = submit_demo(&app, "12.34").await;
        assert_eq!((order["amount_fen"].as_i64(), order["status"].as_str()), (Some(1234), Some("created")));
        let id = order["id"].as_str().expect("id").to_owned();
        assert_eq!(id.len(), 32, "an unguessable id");

        let started = pay(&app, &id, "wechat_native").await;
        assert_eq!(started["kind"], "qr_code");
        let code_url = started["qr_code"].as_str().expect("code_url").to_owned();
        assert_eq!(pay(&app, &id, "wechat_native").await["qr_code"].as_str(), Some(code_url.as_str()), "the same QR code again");

        let mut events = app.client.get(app.url(&format!("/api/v1/orders/{id}/events"))).send().await.expect("sse");
        assert_eq!(events.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream"));
        let mut buf = String::new();
        assert_eq!(next_sse_status(&mut events, &mut buf).await, "pending");

        press(&app, &code_url, "pay").await;
        assert_eq!(next_sse_status(&mut events, &mut buf).await, "paid", "pushed, no reload");
        // The stream ends at a final state.
        let rest = tokio::time::timeout(Duration::from_secs(5), events.chunk()).await.expect("ends");
        assert!(matches!(rest, Ok(None)), "the stream is closed after paid");

        let done: Value = app.client.get(app.url(&format!("/api/v1/orders/{id}"))).send().await.expect("order").json().await.expect("json");
        assert_eq!(done["status"], "paid");
        assert!(done["transaction_id"].as_str().is_some_and(|t| t.starts_with("4200")));
        assert_eq!(paid_events(&app, &id).await, 1);
        let receipt = app.client.get(app.url(done["receipt_url"].as_str().expect("receipt"))).send().await.expect("receipt");
        assert_eq!(receipt.status(), 200);
    }

    async fn a_start_lets_go_of_its_lock_with_its_last_write_and_one_that_lost_its_order_keeps_nothing(app) {
        use app::domain::{Channel, OrderStatus};
        use formpay_core::store::orders::{record_start, StartMade};
        let order = submit_demo(&app, "3.21").await;
        let id = order["id"].as_str().expect("id").to_owned();
        // Payers tapping at once: one provider order and one QR code for all.
        let taps = futures_util::future::join_all((0..4).map(|_| pay(&app, &id, "wechat_native"))).await;
        let codes: std::collections::BTreeSet<String> = taps.iter().map(|t| t["qr_code"].as_str().expect("qr").to_owned()).collect();
        assert_eq!(codes.len(), 1, "{taps:?}");
        let code = codes.into_iter().next().expect("code");
        let read = |app: &TestApp| {
            let (pool, id) = (app.db.pool.clone(), id.clone());
            async move {
                let o = sqlx::query("SELECT status, pay_lock_until, pay_target, (SELECT COUNT(*) FROM order_events e WHERE e.order_id = orders.id) AS events FROM orders WHERE id = $1")
                    .bind(&id).fetch_one(&pool).await.expect("order");
                let a = sqlx::query("SELECT id, pay_target FROM payment_attempts WHERE order_id = $1 ORDER BY seq DESC").bind(&id).fetch_all(&pool).await.expect("attempts");
                (
                    o.get::<String, _>("status"),
                    o.get::<i64, _>("pay_lock_until"),
                    o.get::<Option<String>, _>("pay_target"),
                    o.get::<i64, _>("events"),
                    a.iter().map(|r| (r.get::<String, _>("id"), r.get::<Option<String>, _>("pay_target"))).collect::<Vec<_>>(),
                )
            }
        };
        let (status, lock, target, _, attempts) = read(&app).await;
        assert_eq!((status.as_str(), lock, target.as_deref()), ("pending", 0, Some(code.as_str())), "moved, target kept, lock let go");
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].1.as_deref(), Some(code.as_str()), "the attempt's target, in the same write");

        // Another channel: a second attempt on the pending order, the lock let go again.
        let alipay = pay(&app, &id, "alipay_qr").await;
        let alipay_code = alipay["qr_code"].as_str().expect("qr").to_owned();
        let (status, lock, target, events, attempts) = read(&app).await;
        assert_eq!((status.as_str(), lock, target.as_deref()), ("pending", 0, Some(alipay_code.as_str())));
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0].1.as_deref(), Some(alipay_code.as_str()));
        let attempt_id = attempts[0].0.clone();

        // On the store: a lock held by another start (another token) is left
        // alone, and a write from a status the order has left keeps nothing.
        sqlx::query("UPDATE orders SET pay_lock_until = 777 WHERE id = $1").bind(&id).execute(&app.db.pool).await.expect("lock");
        let made = |from: OrderStatus, target: &'static str, lock: i64| StartMade {
            order_id: &id,
            from,
            attempt_id: &attempt_id,
            channel: Channel::AlipayQr,
            target,
            detail: "test",
            next_check_at: 0,
            lock,
            at: 1,
        };
        assert!(!record_start(&app.db, made(OrderStatus::Created, "lost", 555)).await.expect("write"), "the order is no longer created");
        let after = read(&app).await;
        assert_eq!((after.1, after.2.as_deref(), after.3, after.4[0].1.as_deref()), (777, Some(alipay_code.as_str()), events, Some(alipay_code.as_str())), "nothing kept");
        assert!(record_start(&app.db, made(OrderStatus::Pending, "kept", 555)).await.expect("write"));
        let after = read(&app).await;
        assert_eq!((after.1, after.2.as_deref(), after.3, after.4[0].1.as_deref()), (777, Some("kept"), events + 1, Some("kept")), "another's lock stays");
        assert!(record_start(&app.db, made(OrderStatus::Pending, "again", 777)).await.expect("write"));
        assert_eq!(read(&app).await.1, 0, "its own lock is let go");

        // An order's first start takes the lock with its attempt, in one
        // write: only while the lock is free and the order awaits payment.
        let fresh = submit_demo(&app, "1.00").await;
        let fresh_id = fresh["id"].as_str().expect("id").to_owned();
        let record = formpay_core::store::orders::by_id(&app.db, &fresh_id).await.expect("read").expect("order");
        let set = |sql: &'static str| {
            let (pool, id) = (app.db.pool.clone(), fresh_id.clone());
            async move { sqlx::query(sql).bind(id).execute(&pool).await.expect("update") }
        };
        let begin = |lock: i64| formpay_core::store::attempts::begin(&app.db, &record, Channel::WechatNative, 0, Some(lock));
        set("UPDATE orders SET pay_lock_until = 4000000000000000 WHERE id = $1").await;
        assert!(begin(5).await.expect("write").is_none(), "the lock is held by another start");
        set("UPDATE orders SET pay_lock_until = 0, status = 'closed' WHERE id = $1").await;
        assert!(begin(5).await.expect("write").is_none(), "a closed order takes no attempt");
        set("UPDATE orders SET status = 'created' WHERE id = $1").await;
        let until = 9_000_000_000_000;
        let attempt = begin(until).await.expect("write").expect("begun");
        let row = sqlx::query("SELECT attempt_seq, pay_lock_until, (SELECT COUNT(*) FROM payment_attempts a WHERE a.order_id = orders.id) AS attempts FROM orders WHERE id = $1")
            .bind(&fresh_id).fetch_one(&app.db.pool).await.expect("order");
        assert_eq!((row.get::<i64, _>("attempt_seq"), row.get::<i64, _>("pay_lock_until"), row.get::<i64, _>("attempts")), (1, until, 1));
        assert_eq!((attempt.seq, attempt.out_trade_no.as_str()), (1, record.out_trade_no.as_str()));
        set("UPDATE orders SET pay_lock_until = 0 WHERE id = $1").await;
        assert!(begin(5).await.expect("write").is_none(), "the counter moved: a second first start loses");
    }

    async fn a_payer_pays_with_alipay_through_the_cashier(app) {
        let order = submit_demo(&app, "99.99").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let started = pay(&app, &id, "alipay_page").await;
        assert_eq!(started["kind"], "redirect");
        let cashier = app.client.get(started["redirect_url"].as_str().expect("url")).send().await.expect("cashier");
        assert_eq!(cashier.status(), 303);
        let payer = cashier.headers().get("location").and_then(|v| v.to_str().ok()).expect("payer page").to_owned();
        let back = app.client.post(format!("{payer}/pay")).send().await.expect("pay");
        let return_url = back.headers().get("location").and_then(|v| v.to_str().ok()).expect("return").to_owned();
        assert!(return_url.starts_with(&app.url(&format!("/pay/{id}"))), "{return_url}");
        wait_status(&app, &id, "paid").await;
        assert_eq!(paid_events(&app, &id).await, 1);

        let qr_order = submit_demo(&app, "0.01").await;
        let qr_id = qr_order["id"].as_str().expect("id");
        let qr = pay(&app, qr_id, "alipay_qr").await;
        assert_eq!(qr["kind"], "qr_code");
    }

    async fn twenty_identical_callbacks_at_once_settle_once(app) {
        let sim = app.simulator.clone().expect("simulator");
        sim.set_delivery(false);
        let (id, no) = pending_wechat_order(&app).await;
        let (headers, body) = wechat_callback(&no, 500, dev_keys::WECHAT_MCH_ID);
        let sends = (0..20).map(|_| post_callback(&app, &headers, &body));
        let answers = futures_util::future::join_all(sends).await;
        for a in answers {
            assert_eq!(a.status(), 204, "every duplicate still gets the success answer");
        }
        assert_eq!(order_status(&app, &id).await, "paid");
        assert_eq!(paid_events(&app, &id).await, 1, "settled once, one event");
    }

    async fn forged_or_mismatched_callbacks_leave_the_order_pending(app) {
        let sim = app.simulator.clone().expect("simulator");
        sim.set_delivery(false);
        let (id, no) = pending_wechat_order(&app).await;

        let (headers, body) = wechat_callback(&no, 1, dev_keys::WECHAT_MCH_ID);
        assert_eq!(post_callback(&app, &headers, &body).await.status(), 500, "tampered amount");
        let (headers, body) = wechat_callback(&no, 500, "1900000999");
        assert_eq!(post_callback(&app, &headers, &body).await.status(), 500, "another merchant");
        let (mut headers, body) = wechat_callback(&no, 500, dev_keys::WECHAT_MCH_ID);
        headers[2].1 = headers[2].1.replacen(|c: char| c.is_ascii_alphabetic(), "A", 3);
        assert_eq!(post_callback(&app, &headers, &body).await.status(), 500, "bad signature");
        let (mut headers, body) = wechat_callback(&no, 500, dev_keys::WECHAT_MCH_ID);
        headers[0].1 = (app::ssr::now_ms() / 1000 - 3600).to_string();
        assert_eq!(post_callback(&app, &headers, &body).await.status(), 500, "replayed an hour later");
        let failure: Value = post_callback(&app, &[], "{}").await.json().await.expect("json");
        assert_eq!(failure["code"], "FAIL");
        assert_eq!(order_status(&app, &id).await, "pending");
        let rejected: i64 = sqlx::query("SELECT COUNT(*) AS n FROM order_events WHERE order_id = $1 AND kind = 'rejected_report'")
            .bind(&id).fetch_one(&app.db.pool).await.expect("count").get("n");
        assert_eq!(rejected, 2, "the mismatches are in the order's log");
    }

    async fn a_swallowed_callback_is_recovered_by_the_query_task(app) {
        let sim = app.simulator.clone().expect("simulator");
        sim.set_delivery(false);
        let order = submit_demo(&app, "8.88").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let code_url = pay(&app, &id, "wechat_native").await["qr_code"].as_str().expect("qr").to_owned();
        press(&app, &code_url, "pay").await;
        assert_eq!(sim.stats().swallowed, 1);
        wait_status(&app, &id, "paid").await;
        let by: String = sqlx::query("SELECT kind FROM order_events WHERE order_id = $1 AND to_status = 'paid'")
            .bind(&id).fetch_one(&app.db.pool).await.expect("event").get("kind");
        assert_eq!(by, "query");
    }

    async fn the_payer_asks_the_provider_with_i_have_paid(app) {
        let sim = app.simulator.clone().expect("simulator");
        sim.set_delivery(false);
        let order = submit_demo(&app, "1.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let qr = pay(&app, &id, "alipay_qr").await["qr_code"].as_str().expect("qr").to_owned();
        press(&app, &qr, "pay").await;
        let checked: Value = app.client.post(app.url(&format!("/api/v1/orders/{id}/check"))).send().await.expect("check").json().await.expect("json");
        assert_eq!(checked["status"], "paid");
    }
}

/// PostgreSQL records a payment in one statement: the attempt, then the
/// order if it is still as read. Here another writer closes the order while
/// the statement waits for the order's row: the statement must then change
/// nothing (not even the attempt), and the retry keeps the money for review.
/// Without that, the attempt would hold the payment, the order would stay
/// closed and the provider's next report would find it "already recorded".
#[tokio::test]
async fn a_payment_racing_a_close_on_postgresql_is_kept_for_review_never_lost() {
    let app = spawn_app_with(Backend::Postgres, &[]).await;
    let sim = app.simulator.clone().expect("simulator");
    sim.set_delivery(false);
    let (id, no) = pending_wechat_order(&app).await;

    // Another writer moves the order and holds its row until it commits.
    let mut closer = app.db.pool.begin().await.expect("begin");
    let closed =
        sqlx::query("UPDATE orders SET status = 'closed' WHERE id = $1 AND status = 'pending'")
            .bind(&id)
            .execute(&mut *closer)
            .await
            .expect("close");
    assert_eq!(closed.rows_affected(), 1);

    let (headers, body) = wechat_callback(&no, 500, dev_keys::WECHAT_MCH_ID);
    let callback = {
        let (client, url) = (app.client.clone(), app.url("/payment/wechat/notify"));
        tokio::spawn(async move {
            let mut req = client
                .post(url)
                .header("content-type", "application/json")
                .body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send().await.expect("callback").status().as_u16()
        })
    };
    // The payment's statement now waits on the order's row, its snapshot
    // taken while the order was still pending.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH paid AS%'")
            .fetch_one(&app.db.pool)
            .await
            .expect("activity")
            .get("n");
        if waiting == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the payment never waited on the order"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    closer.commit().await.expect("commit the close");

    assert_eq!(
        callback.await.expect("task"),
        204,
        "the payment is acknowledged"
    );
    assert_eq!(order_status(&app, &id).await, "needs_review");
    let row = sqlx::query("SELECT received_fen, review_reason FROM orders WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db.pool)
        .await
        .expect("order");
    assert_eq!(row.get::<i64, _>("received_fen"), 500, "counted once");
    assert!(row.get::<String, _>("review_reason").contains("closed"));
    let kept: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM order_events WHERE order_id = $1 AND to_status = 'needs_review'",
    )
    .bind(&id)
    .fetch_one(&app.db.pool)
    .await
    .expect("count")
    .get("n");
    assert_eq!(kept, 1, "one event for the one payment");
}

/// Statements of `prefix` waiting on a row lock (PostgreSQL).
async fn lock_waits(app: &TestApp, prefix: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1")
        .bind(format!("{prefix}%"))
        .fetch_one(&app.db.pool)
        .await
        .expect("activity")
        .get("n")
}

/// Waits (10 s at most) until `ready` answers true.
async fn wait_until<F, Fut>(what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ready().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends the callback of `no` paid in full, in the background; its answer's status.
fn send_callback(app: &TestApp, no: &str) -> tokio::task::JoinHandle<u16> {
    let (headers, body) = wechat_callback(no, 500, dev_keys::WECHAT_MCH_ID);
    let (client, url) = (app.client.clone(), app.url("/payment/wechat/notify"));
    tokio::spawn(async move {
        let mut req = client
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send().await.expect("callback").status().as_u16()
    })
}

/// A PostgreSQL app with its payments' writer, and one pending order for
/// each of the writer's lanes ([`block_the_lanes`]).
async fn app_with_lane_blockers() -> (TestApp, Payments, Vec<(String, String)>) {
    let app = spawn_app_with(Backend::Postgres, &[]).await;
    app.simulator
        .clone()
        .expect("simulator")
        .set_delivery(false);
    let payments = app
        .db
        .payments
        .clone()
        .expect("PostgreSQL writes payments together");
    let mut blockers = Vec::new();
    for _ in 0..Payments::LANES {
        blockers.push(pending_wechat_order(&app).await);
    }
    (app, payments, blockers)
}

/// What `id` has received, in fen.
async fn received_fen(app: &TestApp, id: &str) -> i64 {
    sqlx::query("SELECT received_fen FROM orders WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .expect("order")
        .get("received_fen")
}

/// Holds the rows of `ids` (PostgreSQL) and sends one callback per order,
/// one at a time, until each waits on its row: every lane of the payments'
/// writer is then busy, and what comes next waits in its queue. Commit the
/// answer to let them go.
async fn block_the_lanes(
    app: &TestApp,
    orders: &[(String, String)],
) -> (
    sqlx::Transaction<'static, sqlx::Any>,
    Vec<tokio::task::JoinHandle<u16>>,
) {
    let mut holder = app.db.pool.begin().await.expect("begin");
    for (id, _) in orders {
        sqlx::query("SELECT id FROM orders WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_one(&mut *holder)
            .await
            .expect("hold");
    }
    let mut sent = Vec::new();
    for (k, (_, no)) in orders.iter().enumerate() {
        sent.push(send_callback(app, no));
        let want = k as i64 + 1;
        wait_until("a lane waits on its order", || async {
            lock_waits(app, "WITH ").await == want
        })
        .await;
    }
    (holder, sent)
}

/// PostgreSQL writes the payments that arrive together by one statement:
/// every order paid once, with one event and its page told, duplicates in
/// the same statement acknowledged and counted once.
#[tokio::test]
async fn payments_arriving_together_on_postgresql_are_written_by_one_statement_each_once() {
    let (app, payments, blockers) = app_with_lane_blockers().await;
    let mut orders = Vec::new();
    for _ in 0..10 {
        orders.push(pending_wechat_order(&app).await);
    }
    let mut events = app
        .client
        .get(app.url(&format!("/api/v1/orders/{}/events", orders[0].0)))
        .send()
        .await
        .expect("sse");
    let mut buf = String::new();
    assert_eq!(next_sse_status(&mut events, &mut buf).await, "pending");

    let (holder, mut sent) = block_the_lanes(&app, &blockers).await;
    // Each order's callback twice: the duplicates meet in one statement.
    for (_, no) in orders.iter().chain(&orders) {
        sent.push(send_callback(&app, no));
    }
    wait_until("the callbacks wait for a lane", || async {
        payments.waiting() == 20
    })
    .await;
    holder.commit().await.expect("let the lanes go");
    for answer in sent {
        assert_eq!(
            answer.await.expect("task"),
            204,
            "every callback is acknowledged"
        );
    }

    let (together, written, apart) = payments.counts();
    assert!(
        together >= 1 && written >= 2,
        "written together: {together} statements of {written}"
    );
    assert_eq!(apart, 0, "no statement fell apart");
    for (id, _) in blockers.iter().chain(&orders) {
        assert_eq!(order_status(&app, id).await, "paid");
        assert_eq!(paid_events(&app, id).await, 1, "one paid event for {id}");
        assert_eq!(received_fen(&app, id).await, 500, "counted once");
    }
    assert_eq!(
        next_sse_status(&mut events, &mut buf).await,
        "paid",
        "the page is told"
    );
}

/// A payment of a statement of several whose order is closed while the
/// statement waits for the order's row: the statement changes nothing, each
/// payment is then written alone, the closed order's money is kept for
/// review and the other order is paid.
#[tokio::test]
async fn a_statement_of_payments_that_meets_a_close_is_written_one_by_one() {
    let (app, payments, blockers) = app_with_lane_blockers().await;
    let (closed, closed_no) = pending_wechat_order(&app).await;
    let (paid, paid_no) = pending_wechat_order(&app).await;

    let mut closer = app.db.pool.begin().await.expect("begin");
    sqlx::query("UPDATE orders SET status = 'closed' WHERE id = $1 AND status = 'pending'")
        .bind(&closed)
        .execute(&mut *closer)
        .await
        .expect("close");
    let (holder, mut sent) = block_the_lanes(&app, &blockers).await;
    sent.push(send_callback(&app, &closed_no));
    sent.push(send_callback(&app, &paid_no));
    wait_until("both callbacks wait for a lane", || async {
        payments.waiting() == 2
    })
    .await;
    holder.commit().await.expect("let the lanes go");
    // Their statement now waits on the closed order's row, its snapshot
    // taken while the order was still pending.
    wait_until("the statement of two waits on the order", || async {
        lock_waits(&app, "WITH i AS").await == 1
    })
    .await;
    closer.commit().await.expect("commit the close");
    for answer in sent {
        assert_eq!(
            answer.await.expect("task"),
            204,
            "every payment is acknowledged"
        );
    }

    let (together, _, apart) = payments.counts();
    assert_eq!(
        (together, apart),
        (0, 1),
        "the statement of two changed nothing"
    );
    assert_eq!(order_status(&app, &closed).await, "needs_review");
    assert_eq!(order_status(&app, &paid).await, "paid");
    for id in [&closed, &paid] {
        assert_eq!(received_fen(&app, id).await, 500, "counted once");
        let events: i64 = sqlx::query("SELECT COUNT(*) AS n FROM order_events WHERE order_id = $1 AND to_status IN ('paid', 'needs_review')")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .expect("count")
            .get("n");
        assert_eq!(events, 1, "one event for the one payment of {id}");
    }
}

async fn expiry_and_late_payment(backend: Backend) {
    let app = spawn_app_with(backend, &[("ORDER_EXPIRE_MINUTES", "0.05")]).await;
    let sim = app.simulator.clone().expect("simulator");

    // One order paid in time, for the dashboard's income.
    let paid = submit_demo(&app, "7.00").await;
    let paid_id = paid["id"].as_str().expect("id").to_owned();
    let qr = pay(&app, &paid_id, "alipay_qr").await["qr_code"]
        .as_str()
        .expect("qr")
        .to_owned();
    press(&app, &qr, "pay").await;
    wait_status(&app, &paid_id, "paid").await;

    // One left alone: it expires, and is closed at the provider too.
    let order = submit_demo(&app, "3.00").await;
    let id = order["id"].as_str().expect("id").to_owned();
    let no = order["out_trade_no"].as_str().expect("no").to_owned();
    pay(&app, &id, "wechat_native").await;
    wait_status(&app, &id, "expired").await;
    let at_sim = sim
        .order(SimProvider::Wechat, &no)
        .expect("known to the simulator");
    assert_eq!(
        at_sim.state,
        simulator::SimState::Closed,
        "closed at the provider too"
    );
    let expired_pay = app
        .client
        .post(app.url(&format!("/api/v1/orders/{id}/pay")))
        .json(&json!({"channel": "wechat_native"}))
        .send()
        .await
        .expect("pay");
    assert_eq!(expired_pay.status(), 409);

    // Money that arrives after the close is never dropped: it waits for review.
    sim.pay_late(SimProvider::Wechat, &no)
        .expect("late payment");
    wait_status(&app, &id, "needs_review").await;
    let reason: Option<String> = sqlx::query("SELECT review_reason FROM orders WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db.pool)
        .await
        .expect("row")
        .get("review_reason");
    assert!(reason.is_some_and(|r| r.contains("expired")));

    // Administrators see it on the dashboard, beside the income of the paid order.
    assert!(!app
        .client
        .post(app.url("/api/admin_overview"))
        .send()
        .await
        .expect("anonymous")
        .status()
        .is_success());
    app.login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
    let overview: Value = app
        .client
        .post(app.url("/api/admin_overview"))
        .send()
        .await
        .expect("overview")
        .json()
        .await
        .expect("json");
    assert_eq!(
        overview["income"][0][1], "¥7.00",
        "today's income counts only the settled order: {overview}"
    );
    assert_eq!(overview["review"].as_array().map(Vec::len), Some(1));
    assert_eq!(overview["review"][0]["id"].as_str(), Some(id.as_str()));
}

#[tokio::test]
async fn an_order_left_alone_expires_is_closed_and_a_late_payment_goes_to_review_sqlite() {
    expiry_and_late_payment(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_order_left_alone_expires_is_closed_and_a_late_payment_goes_to_review_postgres() {
    expiry_and_late_payment(Backend::Postgres).await;
}

#[tokio::test]
async fn a_callback_processed_by_one_instance_reaches_a_payer_connected_to_another() {
    let database = DatabaseGuard::create(Backend::Postgres).await;
    let url = database.url.clone();
    let a = spawn_app_on(Some(database), test_settings(&url)).await;
    let b = spawn_app_on(None, test_settings(&url)).await;
    a.simulator.clone().expect("simulator").set_delivery(false);
    let order = submit_demo(&a, "6.66").await;
    let id = order["id"].as_str().expect("id").to_owned();
    pay(&a, &id, "wechat_native").await;
    let mut events = a
        .client
        .get(a.url(&format!("/api/v1/orders/{id}/events")))
        .send()
        .await
        .expect("sse on A");
    let mut buf = String::new();
    assert_eq!(next_sse_status(&mut events, &mut buf).await, "pending");
    let (headers, body) = wechat_callback(
        order["out_trade_no"].as_str().expect("no"),
        666,
        dev_keys::WECHAT_MCH_ID,
    );
    assert_eq!(
        post_callback(&b, &headers, &body).await.status(),
        204,
        "instance B settles"
    );
    assert_eq!(
        next_sse_status(&mut events, &mut buf).await,
        "paid",
        "instance A's payer sees it"
    );
}

async fn max_submissions_hold_under_concurrency(backend: Backend) {
    use app::domain::form::{Field, FieldKind, FormDef, FormStatus};
    let app = spawn_app_with(backend, &[]).await;
    let def = FormDef {
        slug: "limited".into(),
        title: "Limited".into(),
        description: String::new(),
        fields: vec![Field {
            key: "name".into(),
            label: "Name".into(),
            help: String::new(),
            required: true,
            logic: None,
            kind: FieldKind::ShortText,
        }],
        opens_at: None,
        closes_at: None,
        max_submissions: Some(5),
        success_message: "ok".into(),
        retention_days: None,
        privacy_notice: String::new(),
        receipt_subject: String::new(),
        receipt_body: String::new(),
        per_payer_limit: None,
    };
    let id = app::ssr::forms::save_form(&app.db, None, &def)
        .await
        .expect("form");
    app::ssr::forms::set_status(&app.db, &id, FormStatus::Published)
        .await
        .expect("publish");
    let sends = (0..20).map(|i| {
        app.client
            .post(app.url("/api/v1/forms/limited/submissions"))
            .json(&json!({"answers": {"name": format!("p{i}")}}))
            .send()
    });
    let answers = futures_util::future::join_all(sends).await;
    let created = answers
        .iter()
        .filter(|r| r.as_ref().map(|r| r.status() == 201).unwrap_or(false))
        .count();
    let full = answers
        .iter()
        .filter(|r| r.as_ref().map(|r| r.status() == 409).unwrap_or(false))
        .count();
    assert_eq!((created, full), (5, 15));
    let form: Value = app
        .client
        .get(app.url("/api/v1/forms/limited"))
        .send()
        .await
        .expect("form")
        .json()
        .await
        .expect("json");
    assert_eq!(form["availability"], "full");
    app::ssr::forms::set_status(&app.db, &id, FormStatus::Closed)
        .await
        .expect("close");
    let closed = app
        .client
        .post(app.url("/api/v1/forms/limited/submissions"))
        .json(&json!({"answers": {"name": "late"}}))
        .send()
        .await
        .expect("submit");
    assert_eq!(closed.status(), 409);
}

#[tokio::test]
async fn concurrent_submissions_never_exceed_the_maximum_sqlite() {
    max_submissions_hold_under_concurrency(Backend::Sqlite).await;
}

#[tokio::test]
async fn concurrent_submissions_never_exceed_the_maximum_postgres() {
    max_submissions_hold_under_concurrency(Backend::Postgres).await;
}

#[tokio::test]
async fn the_form_works_without_javascript() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let page = app
        .client
        .get(app.url("/f/demo"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("示例表单")
            && page.contains("method=\"post\"")
            && page.contains("name=\"amount\"")
    );
    let bad = app
        .client
        .post(app.url("/f/demo"))
        .form(&[("name", ""), ("amount", "1.234")])
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 303);
    let back = bad
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    assert_eq!(back, "/f/demo?invalid=amount,name");
    let marked = app
        .client
        .get(app.url(&back))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(marked.contains("field-error"));
    let good = app
        .client
        .post(app.url("/f/demo"))
        .form(&[("name", "<b>李四</b>"), ("amount", "2.50")])
        .send()
        .await
        .expect("post");
    assert_eq!(good.status(), 303);
    let pay_page = good
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    assert!(pay_page.starts_with("/pay/"));
    let html = app
        .client
        .get(app.url(&pay_page))
        .send()
        .await
        .expect("pay page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("¥2.50"));
    assert!(html.contains("data-testid=\"pay-wechat_native\""));
}

#[tokio::test]
async fn answers_are_escaped_where_they_are_shown() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let order = submit_demo_named(&app, "<script>alert(1)</script>").await;
    let receipt = app
        .client
        .get(app.url(order["receipt_url"].as_str().expect("receipt")))
        .send()
        .await
        .expect("receipt")
        .text()
        .await
        .expect("html");
    assert!(!receipt.contains("<script>alert(1)</script>"));
    assert!(receipt.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

async fn submit_demo_named(app: &TestApp, name: &str) -> Value {
    let resp = app
        .client
        .post(app.url("/api/v1/forms/demo/submissions"))
        .json(&json!({"answers": {"name": name, "amount": "1.00"}}))
        .send()
        .await
        .expect("submit");
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.expect("json")["order"].clone()
}
