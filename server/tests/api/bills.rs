//! Issue 15: a day's WeChat Pay trade bill, downloaded from the simulator
//! (signed request, verified answer, gzip, SHA-1) and matched with our
//! records: one of each discrepancy kind is found, exactly; a payment known
//! only from the bill is booked for review; a second run changes nothing.

use crate::both_backends;
use crate::flow::{pay, submit_demo, wait_status};
use crate::helpers::{press, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

/// Submits the demo form for `amount` and starts paying it by WeChat Native;
/// answers the order and the simulator's payer page.
async fn started(app: &TestApp, amount: &str) -> (Value, String) {
    let order = submit_demo(app, amount).await;
    let id = order["id"].as_str().expect("id").to_owned();
    let qr = pay(app, &id, "wechat_native").await["qr_code"]
        .as_str()
        .expect("qr")
        .to_owned();
    (order, qr)
}

async fn paid(app: &TestApp, amount: &str) -> Value {
    let (order, qr) = started(app, amount).await;
    press(app, &qr, "pay").await;
    wait_status(app, order["id"].as_str().expect("id"), "paid").await;
    order
}

fn no(order: &Value) -> String {
    order["out_trade_no"]
        .as_str()
        .expect("out_trade_no")
        .to_owned()
}

fn id(order: &Value) -> String {
    order["id"].as_str().expect("id").to_owned()
}

fn today_in_beijing() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string()
}

async fn reconcile(app: &TestApp) -> Value {
    app.call(
        "admin_reconcile_bill",
        &[
            ("date", &today_in_beijing()),
            ("account", ""),
            ("provider", "wechat"),
        ],
    )
    .await
}

async fn events(app: &TestApp, order: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM order_events WHERE order_id = $1")
        .bind(order)
        .fetch_one(&app.db.pool)
        .await
        .expect("events");
    n
}

both_backends! {
    async fn a_day_with_one_of_each_discrepancy_is_reconciled_exactly(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        // Before anything is paid, WeChat has no bill for the day.
        let empty = reconcile(&app).await;
        assert_eq!(empty["status"], "no_bill", "{empty}");

        let matched = paid(&app, "10.00").await;
        let dropped = paid(&app, "11.00").await;
        let differs = paid(&app, "12.00").await;
        let refunded = paid(&app, "20.00").await;
        let refund_dropped = paid(&app, "21.00").await;
        let refund_differs = paid(&app, "22.00").await;
        // Started and never paid here; the bill will say it was.
        let (unrecorded, _) = started(&app, "13.00").await;
        for (i, order) in [&refunded, &refund_dropped, &refund_differs].into_iter().enumerate() {
            let key = format!("bill-refund-{i}");
            let done = app
                .call("admin_refund", &[("id", &id(order)), ("amount", "5.00"), ("reason", "对账测试"), ("request_key", &key)])
                .await;
            assert!(done.get("Done").is_some(), "{done}");
        }
        let refund_no = |order: &Value| {
            let order = id(order);
            let db = app.db.pool.clone();
            async move {
                let (no,): (String,) = sqlx::query_as("SELECT out_refund_no FROM refunds WHERE order_id = $1")
                    .bind(order)
                    .fetch_one(&db)
                    .await
                    .expect("refund");
                no
            }
        };
        let (dropped_refund, differing_refund) = (refund_no(&refund_dropped).await, refund_no(&refund_differs).await);
        let sim = app.simulator.as_ref().expect("simulator");
        sim.set_bill_faults(serde_json::from_value(json!({
            "drop": [no(&dropped), dropped_refund],
            "amounts": {no(&differs): 1190, differing_refund.clone(): 490},
            "extra": [
                {"out_trade_no": no(&unrecorded), "amount_fen": 1300},
                {"out_trade_no": "NOTOURS20261206000001", "amount_fen": 888}
            ],
            "extra_refunds": [
                {"out_trade_no": no(&matched), "out_refund_no": "NOTOURSREFUND0001", "amount_fen": 100}
            ]
        })).expect("faults"));

        let run = reconcile(&app).await;
        assert_eq!(run["status"], "discrepancies", "{run}");
        let kinds: Vec<(String, String)> = run["discrepancies"]
            .as_array()
            .expect("list")
            .iter()
            .map(|d| (d["kind"].as_str().unwrap_or("").to_owned(), d["out_refund_no"].as_str().map(str::to_owned).unwrap_or_else(|| d["out_trade_no"].as_str().unwrap_or("").to_owned())))
            .collect();
        let mut want = vec![
            ("amount_mismatch".to_owned(), no(&differs)),
            ("missing_from_bill".to_owned(), no(&dropped)),
            ("not_paid_here".to_owned(), no(&unrecorded)),
            ("refund_mismatch".to_owned(), differing_refund.clone()),
            ("refund_missing_from_bill".to_owned(), dropped_refund.clone()),
            ("unknown_payment".to_owned(), "NOTOURS20261206000001".to_owned()),
            ("unknown_refund".to_owned(), "NOTOURSREFUND0001".to_owned()),
        ];
        want.sort();
        let mut got = kinds.clone();
        got.sort();
        assert_eq!(got, want, "{run}");
        // Seven payments recorded here (one left out of the bill, one booked
        // from it), the bill's seven, three refunds of 5.00 here.
        assert_eq!(run["ours_paid_fen"], 1000 + 1100 + 1200 + 2000 + 2100 + 2200 + 1300);
        assert_eq!(run["bill_paid_fen"], 1000 + 1190 + 2000 + 2100 + 2200 + 1300 + 888);
        assert_eq!(run["ours_refunded_fen"], 1500);
        assert_eq!(run["bill_refunded_fen"], 500 + 490 + 100);
        assert_eq!(run["bill_payments"], 7);
        assert_eq!(run["bill_refunds"], 3);
        // The bill's fee (0.6 %, to the fen) of every line, refunds' given back.
        let fee = |fen: i64| (fen * 6 + 500) / 1000;
        let fees: i64 = [1000, 1190, 2000, 2100, 2200, 1300, 888].iter().map(|f| fee(*f)).sum::<i64>()
            - [500, 490, 100].iter().map(|f| fee(*f)).sum::<i64>();
        assert_eq!(run["fee_fen"], fees);
        // Matched: the untouched payments (10, 20, 21, 22 yuan) and one refund.
        assert_eq!(run["matched"], 5, "{run}");

        // The payment known only from the bill is on its order, for review.
        let unrecorded_id = id(&unrecorded);
        let order: Value = app.client.get(app.url(&format!("/api/v1/orders/{unrecorded_id}"))).send().await.expect("order").json().await.expect("json");
        assert_eq!(order["status"], "needs_review", "{order}");
        let (reason,): (Option<String>,) = sqlx::query_as("SELECT review_reason FROM orders WHERE id = $1")
            .bind(&unrecorded_id)
            .fetch_one(&app.db.pool)
            .await
            .expect("reason");
        assert!(reason.unwrap_or_default().contains("对账单"), "the bill line is the reason");

        // Again: the same run, and nothing booked twice.
        let before = events(&app, &unrecorded_id).await;
        let again = reconcile(&app).await;
        assert_eq!(again["discrepancies"], run["discrepancies"]);
        for key in ["status", "matched", "ours_paid_fen", "bill_paid_fen", "fee_fen"] {
            assert_eq!(again[key], run[key], "{key}");
        }
        assert_eq!(events(&app, &unrecorded_id).await, before);
        let (runs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM bill_runs").fetch_one(&app.db.pool).await.expect("runs");
        assert_eq!(runs, 1, "a day has one run");
        let (received,): (i64,) = sqlx::query_as("SELECT received_fen FROM orders WHERE id = $1")
            .bind(&unrecorded_id)
            .fetch_one(&app.db.pool)
            .await
            .expect("received");
        assert_eq!(received, 1300, "booked once");

        // Not ready yet: said so, and the day is not marked reconciled.
        sim.set_bill_faults(serde_json::from_value(json!({"not_ready": true})).expect("faults"));
        assert_eq!(reconcile(&app).await["status"], "not_ready");
    }
}
