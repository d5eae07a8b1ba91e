//! The administrators' money desk over HTTP: refunds with both providers
//! (answers, callbacks, queries), their limits under concurrency, the orders
//! list and order page, the actions, statistics, exports and the audit log.

use crate::both_backends;
use crate::flow::{order_status, pay, submit_demo, wait_status};
use crate::helpers::{press, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::Value;
use sqlx::Row;
use std::time::Duration;

/// A demo order for `amount` yuan, paid with `channel` at the simulator. Returns its id.
async fn paid_order(app: &TestApp, amount: &str, channel: &str) -> String {
    let order = submit_demo(app, amount).await;
    let id = order["id"].as_str().expect("id").to_owned();
    let started = pay(app, &id, channel).await;
    let target = started["qr_code"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| started["redirect_url"].as_str().expect("target").to_owned());
    if channel == "alipay_page" {
        let cashier = app.client.get(&target).send().await.expect("cashier");
        let payer = cashier
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("payer page")
            .to_owned();
        app.client
            .post(format!("{payer}/pay"))
            .send()
            .await
            .expect("pay");
    } else {
        press(app, &target, "pay").await;
    }
    wait_status(app, &id, "paid").await;
    id
}

async fn refund(app: &TestApp, id: &str, amount: &str, key: &str) -> Value {
    app.call(
        "admin_refund",
        &[
            ("id", id),
            ("amount", amount),
            ("reason", "活动取消 cancelled"),
            ("request_key", key),
        ],
    )
    .await
}

async fn refunded_fen(app: &TestApp, id: &str) -> (i64, i64) {
    let row = sqlx::query("SELECT refunded_fen, refund_reserved_fen FROM orders WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .expect("order");
    (row.get("refunded_fen"), row.get("refund_reserved_fen"))
}

async fn refund_statuses(app: &TestApp, id: &str) -> Vec<String> {
    sqlx::query("SELECT status FROM refunds WHERE order_id = $1 ORDER BY created_at, id")
        .bind(id)
        .fetch_all(&app.db.pool)
        .await
        .expect("refunds")
        .iter()
        .map(|r| r.get::<String, _>("status"))
        .collect()
}

async fn wait_refunds_settled(app: &TestApp, id: &str) {
    for _ in 0..200 {
        if !refund_statuses(app, id)
            .await
            .iter()
            .any(|s| s == "processing")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "refunds of {id} never settled: {:?}",
        refund_statuses(app, id).await
    );
}

both_backends! {
    async fn wechat_refunds_partial_then_full_settle_by_callback(app) {
        let id = paid_order(&app, "5.00", "wechat_native").await;
        // Anonymous callers cannot refund.
        let anon = app.server_fn("admin_refund", &[("id", &id), ("amount", "1.00"), ("reason", "x"), ("request_key", "anon-key-123")]).await;
        assert!(!anon.status().is_success());
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

        // Bad input changes nothing.
        assert_eq!(refund(&app, &id, "5.01", "key-too-much-1").await["ExceedsRemaining"], "5.00");
        assert_eq!(refund(&app, &id, "0", "key-zero-00001").await, "BadAmount");
        assert_eq!(refund(&app, &id, "1.005", "key-float-0001").await, "BadAmount");
        let no_reason = app.call("admin_refund", &[("id", &id), ("amount", "1.00"), ("reason", "  "), ("request_key", "key-noreason-1")]).await;
        assert_eq!(no_reason, "BadReason");
        assert_eq!(refunded_fen(&app, &id).await, (0, 0));
        assert_eq!(order_status(&app, &id).await, "paid");

        // A partial refund: WeChat answers PROCESSING, then its REFUND.SUCCESS callback settles it.
        let first = refund(&app, &id, "1.50", "key-partial-001").await;
        assert!(first.get("Done").is_some(), "{first}");
        // The same request again (a double click) is the same refund.
        let again = refund(&app, &id, "1.50", "key-partial-001").await;
        assert!(again.get("Done").is_some(), "{again}");
        wait_refunds_settled(&app, &id).await;
        assert_eq!(refund_statuses(&app, &id).await, ["succeeded"]);
        assert_eq!(refunded_fen(&app, &id).await, (150, 0));
        assert_eq!(order_status(&app, &id).await, "partially_refunded");
        let kinds: Vec<String> = sqlx::query("SELECT kind FROM order_events WHERE order_id = $1 ORDER BY created_at, id")
            .bind(&id).fetch_all(&app.db.pool).await.expect("events").iter().map(|r| r.get("kind")).collect();
        assert!(kinds.contains(&"refund_requested".to_owned()), "{kinds:?}");
        assert!(kinds.contains(&"refund_succeeded".to_owned()), "{kinds:?}");
        let by: String = sqlx::query("SELECT detail FROM order_events WHERE order_id = $1 AND kind = 'refund_succeeded'")
            .bind(&id).fetch_one(&app.db.pool).await.expect("event").get("detail");
        assert!(by.starts_with("notify"), "settled by the callback: {by}");

        // The key reused for another amount is refused.
        assert_eq!(refund(&app, &id, "2.00", "key-partial-001").await, "KeyReused");
        // The rest: the order is refunded in full, and the receipt says so.
        assert_eq!(refund(&app, &id, "3.51", "key-rest-00001").await["ExceedsRemaining"], "3.50");
        assert!(refund(&app, &id, "3.50", "key-rest-00002").await.get("Done").is_some());
        wait_refunds_settled(&app, &id).await;
        assert_eq!(refunded_fen(&app, &id).await, (500, 0));
        assert_eq!(order_status(&app, &id).await, "refunded");
        assert_eq!(refund(&app, &id, "0.01", "key-after-0001").await["WrongStatus"], "refunded");
        let order: Value = app.client.get(app.url(&format!("/api/v1/orders/{id}"))).send().await.expect("order").json().await.expect("json");
        let receipt = app.client.get(app.url(order["receipt_url"].as_str().expect("receipt"))).send().await.expect("receipt").text().await.expect("html");
        assert!(receipt.contains("5.00"), "the receipt shows the refund");

        // The simulator agrees: two refunds, 5.00 in all.
        let sim = app.simulator.clone().expect("simulator");
        let no = order["out_trade_no"].as_str().expect("no");
        assert_eq!(sim.order(simulator::SimProvider::Wechat, no).expect("known").refunded_fen, 500);

        // The audit log has both refunds, by this administrator.
        let audit: i64 = sqlx::query("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'refund' AND admin_email = $1")
            .bind(ADMIN_EMAIL).fetch_one(&app.db.pool).await.expect("audit").get("n");
        assert_eq!(audit, 2);
    }

    async fn alipay_refunds_settle_on_the_answer(app) {
        let id = paid_order(&app, "20.00", "alipay_qr").await;
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let done = refund(&app, &id, "20.00", "key-alipay-full").await;
        assert_eq!(done["Done"], "refunded", "Alipay refunds synchronously: {done}");
        assert_eq!(refund_statuses(&app, &id).await, ["succeeded"]);
        assert_eq!(refunded_fen(&app, &id).await, (2000, 0));
        let unpaid = submit_demo(&app, "1.00").await;
        let unpaid_id = unpaid["id"].as_str().expect("id");
        assert_eq!(refund(&app, unpaid_id, "1.00", "key-unpaid-001").await["WrongStatus"], "created");
        assert!(refund_statuses(&app, unpaid_id).await.is_empty());
    }

    async fn concurrent_refunds_never_exceed_the_amount_paid(app) {
        let id = paid_order(&app, "5.00", "alipay_qr").await;
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let asks = (0..12).map(|i| {
            let app = &app;
            let id = id.clone();
            async move { refund(app, &id, "1.00", &format!("key-concurrent-{i:02}")).await }
        });
        let answers = futures_util::future::join_all(asks).await;
        let done = answers.iter().filter(|a| a.get("Done").is_some()).count();
        let refused = answers.iter().filter(|a| a.get("ExceedsRemaining").is_some() || a.get("WrongStatus").is_some()).count();
        assert_eq!(done, 5, "{answers:?}");
        assert_eq!(refused, 7, "{answers:?}");
        wait_refunds_settled(&app, &id).await;
        assert_eq!(refunded_fen(&app, &id).await, (500, 0));
        assert_eq!(order_status(&app, &id).await, "refunded");
    }

    async fn a_swallowed_refund_callback_is_recovered_by_a_query(app) {
        let id = paid_order(&app, "3.00", "wechat_native").await;
        let sim = app.simulator.clone().expect("simulator");
        sim.set_delivery(false);
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert!(refund(&app, &id, "1.00", "key-swallowed-1").await.get("Done").is_some());
        wait_refunds_settled(&app, &id).await;
        assert_eq!(refund_statuses(&app, &id).await, ["succeeded"]);
        assert_eq!(order_status(&app, &id).await, "partially_refunded");
        let by: String = sqlx::query("SELECT detail FROM order_events WHERE order_id = $1 AND kind = 'refund_succeeded'")
            .bind(&id).fetch_one(&app.db.pool).await.expect("event").get("detail");
        assert!(by.starts_with("refund query"), "{by}");
    }

    async fn administrators_find_orders_and_act_on_them(app) {
        let paid = paid_order(&app, "12.34", "wechat_native").await;
        let pending = submit_demo(&app, "2.00").await;
        let pending_id = pending["id"].as_str().expect("id").to_owned();
        let pending_no = pending["out_trade_no"].as_str().expect("no").to_owned();
        pay(&app, &pending_id, "wechat_native").await;
        let anon = app.server_fn("admin_orders", &[("page", "1")]).await;
        assert!(!anon.status().is_success());
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let list = |status: &'static str, min: &'static str, q: String| {
            let app = &app;
            async move {
                app.call("admin_orders", &[("filter[status]", status), ("filter[min]", min), ("filter[q]", &q), ("page", "1")]).await
            }
        };
        assert_eq!(list("", "", String::new()).await["total"], 2);
        assert_eq!(list("paid", "", String::new()).await["total"], 1);
        assert_eq!(list("", "10", String::new()).await["total"], 1);
        assert_eq!(list("", "", pending_no.clone()).await["rows"][0]["id"], pending_id.as_str());
        assert_eq!(list("", "", "张三".into()).await["total"], 2, "search in the payer's answers");
        assert_eq!(list("", "", "nobody".into()).await["total"], 0);

        // The order page: facts, events, the provider messages.
        let detail = app.call("admin_order", &[("id", &paid)]).await;
        assert_eq!(detail["amount"], "¥12.34");
        assert_eq!(detail["refundable"], "12.34");
        assert!(detail["events"].as_array().expect("events").iter().any(|e| e["to"] == "paid"));
        assert!(detail["log"].as_array().expect("log").iter().any(|l| l["operation"] == "native_order"), "{}", detail["log"]);
        assert!(detail["answers"].as_array().expect("answers").iter().any(|a| a["text"] == "张三"));

        // Close the pending order: closed at the provider first.
        assert_eq!(app.call("admin_order_action", &[("id", &pending_id), ("action", "close")]).await["Done"], "closed");
        let sim = app.simulator.clone().expect("simulator");
        let at_sim = sim.order(simulator::SimProvider::Wechat, &pending_no).expect("known");
        assert_eq!(format!("{:?}", at_sim.state), "Closed");
        assert_eq!(app.call("admin_order_action", &[("id", &paid), ("action", "close")]).await["WrongStatus"], "paid");
        assert_eq!(app.call("admin_order_action", &[("id", &paid), ("action", "query")]).await["Done"], "paid");
        assert_eq!(app.call("admin_order_action", &[("id", &paid), ("action", "accept")]).await["WrongStatus"], "paid");
        let audit = app.call("admin_audit", &[("page", "1")]).await;
        assert_eq!(audit["rows"][0][2], "close_order");
        assert_eq!(audit["rows"][0][1], ADMIN_EMAIL);

        // Exports: orders with the page's filters, and refunds.
        let csv = app.client.get(app.url("/admin/orders.csv?status=closed")).send().await.expect("csv");
        assert_eq!(csv.status(), 200);
        let text = csv.text().await.expect("text");
        assert!(text.starts_with('\u{feff}'));
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains(&pending_no));
        refund(&app, &paid, "0.34", "key-export-0001").await;
        wait_refunds_settled(&app, &paid).await;
        let refunds = app.client.get(app.url("/admin/refunds.csv")).send().await.expect("csv").text().await.expect("text");
        assert_eq!(refunds.lines().count(), 2, "{refunds}");
        assert!(refunds.contains("0.34") && refunds.contains("succeeded"), "{refunds}");
        let anon = crate::helpers::client().get(app.url("/admin/refunds.csv")).send().await.expect("csv");
        assert_eq!(anon.status(), 401);
    }

    async fn statistics_match_a_hand_summed_set_of_orders(app) {
        // Paid: 10.00 WeChat, 20.00 and 30.50 Alipay; 20.00 then refunded 5.00.
        paid_order(&app, "10.00", "wechat_native").await;
        let b = paid_order(&app, "20.00", "alipay_qr").await;
        paid_order(&app, "30.50", "alipay_page").await;
        // Not income: one closed, one pending, one never started.
        let closed = submit_demo(&app, "99.00").await;
        let closed_id = closed["id"].as_str().expect("id").to_owned();
        pay(&app, &closed_id, "wechat_native").await;
        submit_demo(&app, "7.00").await;
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app.call("admin_order_action", &[("id", &closed_id), ("action", "close")]).await;
        refund(&app, &b, "5.00", "key-stats-00001").await;

        let s = app.call("admin_stats", &[("from", ""), ("to", ""), ("form", ""), ("days", "")]).await;
        let t = &s["total"];
        assert_eq!(t["count"], 3);
        assert_eq!(t["gross_fen"], 1000 + 2000 + 3050);
        assert_eq!(t["refunded_fen"], 500);
        assert_eq!(t["net_fen"], 6050 - 500);
        assert_eq!(t["average_fen"], 2017, "6050 / 3 rounded");
        let per: Vec<(String, i64, i64)> = s["per_channel"].as_array().expect("per channel").iter()
            .map(|r| (r["key"].as_str().expect("key").to_owned(), r["count"].as_i64().expect("n"), r["net_fen"].as_i64().expect("net"))).collect();
        assert!(per.contains(&("wechat_native".into(), 1, 1000)), "{per:?}");
        assert!(per.contains(&("alipay_qr".into(), 1, 1500)), "{per:?}");
        assert!(per.contains(&("alipay_page".into(), 1, 3050)), "{per:?}");
        assert_eq!(s["per_form"].as_array().expect("per form").len(), 1);
        assert_eq!(s["per_form"][0]["net_fen"], 5550);
        let daily = s["daily"].as_array().expect("daily");
        assert_eq!(daily.len(), 30);
        assert_eq!(daily.last().expect("today")[1], 5550, "today's bar");
        assert_eq!(daily.iter().map(|d| d[1].as_i64().expect("fen")).sum::<i64>(), 5550);
        // Today alone, and a range in the past with nothing.
        let today = app.call("admin_stats", &[("from", ""), ("to", ""), ("form", ""), ("days", "1")]).await;
        assert_eq!(today["total"]["net_fen"], 5550);
        let past = app.call("admin_stats", &[("from", "2020-01-01"), ("to", "2020-01-31"), ("form", ""), ("days", "")]).await;
        assert_eq!(past["total"]["count"], 0);
        assert_eq!(past["daily"].as_array().expect("daily").len(), 31);
        // The stats page renders the chart on the server.
        let html = app.client.get(app.url("/admin/stats")).send().await.expect("page").text().await.expect("html");
        assert!(html.contains("data-testid=\"daily-chart\""), "the chart is in the page");
        assert!(html.contains("55.50"), "net income shown");
    }
}

both_backends! {
    async fn closed_and_abnormal_refunds_settle_the_order_correctly(app) {
        use simulator::SimRefundStatus;
        let sim = app.simulator.clone().expect("simulator");
        let id = paid_order(&app, "8.00", "wechat_native").await;
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

        // A refund the provider closes: the money stays, the order is paid again.
        sim.set_refund_outcome(SimRefundStatus::Closed);
        assert!(refund(&app, &id, "3.00", "key-closed-0001").await.get("Done").is_some());
        wait_refunds_settled(&app, &id).await;
        assert_eq!(refund_statuses(&app, &id).await, ["closed"]);
        assert_eq!(refunded_fen(&app, &id).await, (0, 0));
        assert_eq!(order_status(&app, &id).await, "paid");

        // An abnormal refund left the merchant but did not reach the payer: it
        // stays reserved (never refunded twice) and the order says so.
        sim.set_refund_outcome(SimRefundStatus::Abnormal);
        assert!(refund(&app, &id, "5.00", "key-abnormal-01").await.get("Done").is_some());
        wait_refunds_settled(&app, &id).await;
        assert_eq!(refund_statuses(&app, &id).await, ["closed", "abnormal"]);
        assert_eq!(refunded_fen(&app, &id).await, (0, 500));
        assert_eq!(refund(&app, &id, "3.01", "key-abnormal-02").await["ExceedsRemaining"], "3.00");
        let detail = app.call("admin_order", &[("id", &id)]).await;
        assert!(detail["review_reason"].as_str().expect("reason").contains("abnormal"), "{detail}");

        // The last 3.00 succeeds: the order is partially refunded.
        sim.set_refund_outcome(SimRefundStatus::Success);
        assert!(refund(&app, &id, "3.00", "key-abnormal-03").await.get("Done").is_some());
        wait_refunds_settled(&app, &id).await;
        assert_eq!(refunded_fen(&app, &id).await, (300, 500));
        assert_eq!(order_status(&app, &id).await, "partially_refunded");
    }

    async fn refund_callbacks_that_are_not_ours_change_nothing(app) {
        let id = paid_order(&app, "4.00", "wechat_native").await;
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let order: Value = app.client.get(app.url(&format!("/api/v1/orders/{id}"))).send().await.expect("order").json().await.expect("json");
        let no = order["out_trade_no"].as_str().expect("no");
        // Signed by the platform key, but for a refund we never asked for.
        let (headers, body) = simulator::signed_wechat_refund_callback(no, "R-unknown-refund", 400, "SUCCESS");
        let resp = crate::flow::post_callback(&app, &headers, &body).await;
        assert!(!resp.status().is_success(), "an unknown refund is refused");
        // The same, with its signature broken.
        let (mut headers, body) = simulator::signed_wechat_refund_callback(no, "R-unknown-refund", 400, "SUCCESS");
        for (k, v) in headers.iter_mut() {
            if *k == "wechatpay-signature" {
                let first = if v.starts_with('A') { "B" } else { "A" };
                v.replace_range(..1, first);
            }
        }
        let resp = crate::flow::post_callback(&app, &headers, &body).await;
        assert!(!resp.status().is_success());
        assert_eq!(refunded_fen(&app, &id).await, (0, 0));
        assert_eq!(order_status(&app, &id).await, "paid");
        assert!(refund_statuses(&app, &id).await.is_empty());
    }

    async fn a_late_payment_kept_for_review_is_accepted_or_refunded(app) {
        let sim = app.simulator.clone().expect("simulator");
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let mut ids = Vec::new();
        for amount in ["2.00", "3.00"] {
            let order = submit_demo(&app, amount).await;
            let id = order["id"].as_str().expect("id").to_owned();
            let no = order["out_trade_no"].as_str().expect("no").to_owned();
            pay(&app, &id, "wechat_native").await;
            assert_eq!(app.call("admin_order_action", &[("id", &id), ("action", "close")]).await["Done"], "closed");
            sim.pay_late(simulator::SimProvider::Wechat, &no).expect("paid late");
            wait_status(&app, &id, "needs_review").await;
            ids.push(id);
        }
        let listed = app.call("admin_orders", &[("filter[status]", "needs_review"), ("page", "1")]).await;
        assert_eq!(listed["total"], 2);
        assert!(listed["rows"][0]["review_reason"].as_str().is_some_and(|r| r.contains("closed")));
        // Keep the first.
        assert_eq!(app.call("admin_order_action", &[("id", &ids[0]), ("action", "accept")]).await["Done"], "paid");
        // Give the second back in full: a refund of a payment kept for review
        // is the administrator's decision, never an ordinary refund.
        assert_eq!(refund(&app, &ids[1], "3.00", "key-review-0000").await, "ReviewFirst");
        let decided = app.call("admin_refund", &[
            ("id", ids[1].as_str()), ("amount", "3.00"), ("reason", "活动取消 cancelled"),
            ("request_key", "key-review-0001"), ("review", "true"),
        ]).await;
        assert!(decided.get("Done").is_some(), "{decided}");
        wait_refunds_settled(&app, &ids[1]).await;
        assert_eq!(order_status(&app, &ids[1]).await, "refunded");
        let audit = app.call("admin_audit", &[("page", "1")]).await;
        let actions: Vec<&str> = audit["rows"].as_array().expect("rows").iter().filter_map(|r| r[2].as_str()).collect();
        assert!(actions.contains(&"accept_payment") && actions.contains(&"refund"), "{actions:?}");
    }
}

#[tokio::test]
async fn payers_load_the_small_bundle_and_administrators_the_full_one() {
    let app = crate::helpers::spawn_app(app::ssr::Backend::Sqlite).await;
    let public = app.page("/f/demo").await;
    assert!(public.contains("/pkg/formpay.js"), "the form page's bundle");
    assert!(
        !public.contains("formpay_admin") && !public.contains("formpay_pay"),
        "no admin code for payers, no payment page code on the form"
    );
    // The payment and receipt pages load the other payers' bundle.
    let order = crate::flow::submit_demo(&app, "1.00").await;
    let id = order["id"].as_str().expect("order id");
    let pay = app.page(&format!("/pay/{id}")).await;
    assert!(
        pay.contains("/pkg/formpay_pay.js"),
        "the payment page's bundle"
    );
    assert!(!pay.contains("/pkg/formpay.js") && !pay.contains("formpay_admin"));
    let admin = app.page("/admin/login").await;
    assert!(admin.contains("/pkg/formpay_admin.js"), "the admin bundle");
}
