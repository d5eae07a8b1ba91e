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

        // An administrator resolves a discrepancy with a note: the count of
        // open ones drops, and a run of the day again keeps the mark.
        let open = |v: &Value| v["unresolved_discrepancies"].as_i64().expect("count");
        assert_eq!(open(&app.call("admin_overview", &[]).await), 7);
        let unknown = run["discrepancies"]
            .as_array()
            .expect("list")
            .iter()
            .find(|d| d["kind"] == "unknown_payment")
            .expect("an unknown payment")
            .clone();
        let did = unknown["id"].as_str().expect("id");
        let refused = app.call("admin_resolve_discrepancy", &[("id", did), ("note", "  ")]).await;
        assert!(refused.get("Refused").is_some(), "a note is needed: {refused}");
        let done = app.call("admin_resolve_discrepancy", &[("id", did), ("note", "银行测试款 a test by the bank")]).await;
        assert_eq!(done, json!("Done"));
        let twice = app.call("admin_resolve_discrepancy", &[("id", did), ("note", "again")]).await;
        assert!(twice.get("Refused").is_some(), "resolved once: {twice}");
        assert_eq!(open(&app.call("admin_overview", &[]).await), 6);
        let kept = reconcile(&app).await;
        let resolved: Vec<&Value> = kept["discrepancies"]
            .as_array()
            .expect("list")
            .iter()
            .filter(|d| !d["resolved"].is_null())
            .collect();
        assert_eq!(resolved.len(), 1, "{kept}");
        assert_eq!(resolved[0]["id"], unknown["id"]);
        assert_eq!(resolved[0]["resolved"][0], ADMIN_EMAIL);
        assert_eq!(resolved[0]["resolved"][2], "银行测试款 a test by the bank");
        assert_eq!(open(&app.call("admin_overview", &[]).await), 6);

        // The statistics count the fees of our orders from the bill, and
        // the net is what is left after refunds and fees.
        // (The order in review is not income yet.)
        let (order_fees,): (i64,) = sqlx::query_as("SELECT CAST(COALESCE(SUM(fee_fen), 0) AS BIGINT) FROM bill_fees WHERE order_id IS NOT NULL AND order_id <> $1")
            .bind(&unrecorded_id)
            .fetch_one(&app.db.pool)
            .await
            .expect("fees");
        assert!(order_fees > 0);
        let stats = app.call("admin_stats", &[("from", ""), ("to", ""), ("form", ""), ("days", "1")]).await;
        let total = &stats["total"];
        assert_eq!(total["fee_fen"], order_fees, "{total}");
        assert_eq!(
            total["net_fen"].as_i64().expect("net"),
            total["gross_fen"].as_i64().expect("gross") - total["refunded_fen"].as_i64().expect("refunded") - order_fees
        );

        // The page's data, and the day as CSV.
        let page = app
            .call("admin_bills", &[("date", &today_in_beijing()), ("account", ""), ("provider", "wechat")])
            .await;
        assert_eq!(page["runs"].as_array().expect("runs").len(), 1, "{page}");
        assert_eq!(page["selected"]["discrepancies"], kept["discrepancies"]);
        assert_eq!(page["unresolved"], 6);
        let net = kept["bill_paid_fen"].as_i64().expect("paid")
            - kept["bill_refunded_fen"].as_i64().expect("refunded")
            - kept["fee_fen"].as_i64().expect("fee");
        assert_eq!(page["selected"]["net_fen"], net);
        let csv = app
            .client
            .get(app.url(&format!("/admin/bills.csv?date={}&account=&provider=wechat", today_in_beijing())))
            .send()
            .await
            .expect("csv");
        assert_eq!(csv.status(), 200);
        let csv = csv.text().await.expect("text");
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + 1 + 7, "header, totals, one per discrepancy: {csv}");
        assert!(csv.contains(&no(&unrecorded)), "{csv}");
        assert!(csv.contains("银行测试款 a test by the bank"), "{csv}");
        let bad = app.client.get(app.url("/admin/bills.csv?date=yesterday&provider=wechat")).send().await.expect("bad");
        assert_eq!(bad.status(), 400);

        // Not ready at a later run: the day read before stays, with its
        // discrepancies and their marks, and the run says why.
        sim.set_bill_faults(serde_json::from_value(json!({"not_ready": true})).expect("faults"));
        let later = reconcile(&app).await;
        assert_eq!(later["status"], "discrepancies", "{later}");
        assert_eq!(later["discrepancies"], kept["discrepancies"]);
        assert!(later["error"].as_str().expect("error").contains("not ready"), "{later}");
        // A day never read before is marked not ready, not reconciled.
        let yesterday = (chrono::Utc::now() + chrono::Duration::hours(8) - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        let fresh = app
            .call("admin_reconcile_bill", &[("date", &yesterday), ("account", ""), ("provider", "wechat")])
            .await;
        assert_eq!(fresh["status"], "not_ready", "{fresh}");
    }
}

/// The statuses of the environment account's WeChat runs, oldest day first.
async fn run_statuses(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT bill_date, status FROM bill_runs WHERE account_key = '' AND provider = 'wechat' ORDER BY bill_date")
        .fetch_all(&app.db.pool)
        .await
        .expect("runs")
}

/// The daily job (`BILL_HOUR`, here from midnight so it is due now): the
/// last three days' bills are read without anyone asking; while WeChat says
/// they are not ready the job tries again at its next tick, and a day read
/// is not read again.
async fn the_daily_job_reads_the_last_days_and_retries(backend: app::ssr::Backend) {
    let app =
        crate::helpers::spawn_app_with(backend, &[("BILL_HOUR", "0"), ("BILL_TICK_MS", "300")])
            .await;
    let sim = app.simulator.as_ref().expect("simulator");
    sim.set_bill_faults(serde_json::from_value(json!({"not_ready": true})).expect("faults"));
    let days: Vec<String> = (1..=3)
        .rev()
        .map(|n| {
            (chrono::Utc::now() + chrono::Duration::hours(8) - chrono::Duration::days(n))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let until = |want: &'static str| {
        let (app, days) = (&app, days.clone());
        async move {
            for _ in 0..200 {
                let runs = run_statuses(app).await;
                if runs.len() == 3 && runs.iter().all(|(_, s)| s == want) {
                    assert_eq!(
                        runs.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
                        days
                    );
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!(
                "the job did not reach {want}: {:?}",
                run_statuses(app).await
            );
        }
    };
    until("not_ready").await;
    sim.set_bill_faults(Default::default());
    // Nothing was paid on those days: WeChat has no bill, and that is a day read.
    until("no_bill").await;
    // (WeChat's days only: the same tick may still be reading Alipay's.)
    let (ran,): (i64,) = sqlx::query_as(
        "SELECT MAX(ran_at) FROM bill_runs WHERE account_key = '' AND provider = 'wechat'",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("ran_at");
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let (again,): (i64,) = sqlx::query_as(
        "SELECT MAX(ran_at) FROM bill_runs WHERE account_key = '' AND provider = 'wechat'",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("ran_at");
    assert_eq!(ran, again, "a day read is not read again");
}

mod the_daily_job {
    #[tokio::test]
    async fn sqlite() {
        crate::helpers::deadline(
            "daily_job",
            super::the_daily_job_reads_the_last_days_and_retries(app::ssr::Backend::Sqlite),
        )
        .await;
    }

    #[tokio::test]
    async fn postgres() {
        crate::helpers::deadline(
            "daily_job",
            super::the_daily_job_reads_the_last_days_and_retries(app::ssr::Backend::Postgres),
        )
        .await;
    }
}

/// Alipay's bill (a zip of GBK files, fetched from the URL of a signed
/// answer) is matched the same way: an amount that differs, a payment left
/// out, a refund, and an unknown payment, found exactly.
async fn alipay_paid(app: &TestApp, amount: &str) -> Value {
    let order = submit_demo(app, amount).await;
    let id = id(&order);
    let qr = pay(app, &id, "alipay_qr").await["qr_code"]
        .as_str()
        .expect("qr")
        .to_owned();
    press(app, &qr, "pay").await;
    wait_status(app, &id, "paid").await;
    order
}

both_backends! {
    async fn an_alipay_day_is_reconciled_from_its_zip(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let day = [("date", today_in_beijing()), ("account", String::new()), ("provider", "alipay".to_owned())];
        let day: Vec<(&str, &str)> = day.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // Nothing paid today: no bill yet (today's is not published).
        let empty = app.call("admin_reconcile_bill", &day).await;
        assert_eq!(empty["status"], "not_ready", "{empty}");

        let matched = alipay_paid(&app, "10.00").await;
        let differs = alipay_paid(&app, "12.00").await;
        let dropped = alipay_paid(&app, "13.00").await;
        let done = app
            .call("admin_refund", &[("id", &id(&matched)), ("amount", "4.00"), ("reason", "对账测试"), ("request_key", "alipay-bill-refund")])
            .await;
        assert!(done.get("Done").is_some(), "{done}");
        wait_status(&app, &id(&matched), "partially_refunded").await;
        let sim = app.simulator.as_ref().expect("simulator");
        sim.set_bill_faults(serde_json::from_value(json!({
            "drop": [no(&dropped)],
            "amounts": {no(&differs): 1100},
            "extra": [{"out_trade_no": "ALINOTOURS0001", "amount_fen": 500}]
        })).expect("faults"));
        let run = app.call("admin_reconcile_bill", &day).await;
        assert_eq!(run["status"], "discrepancies", "{run}");
        let mut kinds: Vec<(String, String)> = run["discrepancies"]
            .as_array()
            .expect("list")
            .iter()
            .map(|d| (d["kind"].as_str().unwrap_or("").to_owned(), d["out_trade_no"].as_str().unwrap_or("").to_owned()))
            .collect();
        kinds.sort();
        let mut want = vec![
            ("amount_mismatch".to_owned(), no(&differs)),
            ("missing_from_bill".to_owned(), no(&dropped)),
            ("unknown_payment".to_owned(), "ALINOTOURS0001".to_owned()),
        ];
        want.sort();
        assert_eq!(kinds, want, "{run}");
        // The payment and its refund match; the fees are the bill's (0.6 %).
        assert_eq!(run["matched"], 2, "{run}");
        assert_eq!(run["bill_paid_fen"], 1000 + 1100 + 500);
        assert_eq!(run["bill_refunded_fen"], 400);
        assert_eq!(run["fee_fen"], 6 + 7 + 3 - 2);
        let again = app.call("admin_reconcile_bill", &day).await;
        assert_eq!(again["discrepancies"], run["discrepancies"]);
    }
}

both_backends! {
    async fn the_fund_flow_is_checked_against_the_trade_bill(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        paid(&app, "10.00").await;
        let second = paid(&app, "20.00").await;
        // In: 10.00 and 20.00; out: their fees, 0.06 and 0.12.
        let run = reconcile(&app).await;
        assert_eq!(run["status"], "matched", "{run}");
        assert_eq!(run["fund_net_fen"], 1000 + 2000 - 6 - 12);
        // The money of the second payment never reached the account.
        let sim = app.simulator.as_ref().expect("simulator");
        sim.set_bill_faults(serde_json::from_value(json!({"fund_flow_drop": [no(&second)]})).expect("faults"));
        let run = reconcile(&app).await;
        assert_eq!(run["status"], "discrepancies", "{run}");
        let found = run["discrepancies"].as_array().expect("list");
        assert_eq!(found.len(), 1, "{run}");
        assert_eq!(found[0]["kind"], "fund_flow_mismatch");
        assert_eq!((found[0]["ours_fen"].as_i64(), found[0]["bill_fen"].as_i64()), (Some(2982), Some(994)));
        assert_eq!(run["fund_net_fen"], 994);
    }
}
