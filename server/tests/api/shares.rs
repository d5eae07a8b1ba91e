//! Issue 15: profit sharing (分账). A form gives 10 % of each payment to a
//! merchant receiver: the payment is made with profit sharing on, the split
//! is sent once it is paid and followed to its end at the simulator, the
//! statistics show gross, fee, share and net to the fen, and refunds take
//! back from the receiver only what the merchant's part does not cover.

use crate::both_backends;
use crate::flow::{pay, submit_demo, wait_status};
use crate::helpers::{press, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

const RECEIVER: &str = "1900000109";

fn today_in_beijing() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .format("%Y-%m-%d")
        .to_string()
}

async fn shares(app: &TestApp) -> Value {
    app.call("admin_shares", &[]).await
}

fn refused(v: &Value) -> bool {
    v.get("Refused").is_some()
}

async fn refund(app: &TestApp, order: &str, amount: &str, key: &str) -> Value {
    app.call(
        "admin_refund",
        &[
            ("id", order),
            ("amount", amount),
            ("reason", "分账退款测试"),
            ("request_key", key),
        ],
    )
    .await
}

async fn totals(app: &TestApp) -> Value {
    app.call(
        "admin_stats",
        &[("from", ""), ("to", ""), ("form", ""), ("days", "1")],
    )
    .await["total"]
        .clone()
}

both_backends! {
    async fn a_ten_percent_share_is_split_and_returned_before_the_refund_that_needs_it(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let (form_id,): (String,) = sqlx::query_as("SELECT id FROM forms WHERE slug = 'demo'")
            .fetch_one(&app.db.pool)
            .await
            .expect("the demo form");

        // A receiver: checked, registered once.
        let add = |kind: &'static str, receiver: &'static str, name: &'static str| {
            let app = &app;
            async move {
                app.call(
                    "admin_add_receiver",
                    &[("account", ""), ("kind", kind), ("receiver", receiver), ("name", name), ("relation", "PARTNER")],
                )
                .await
            }
        };
        assert!(refused(&add("MERCHANT_ID", RECEIVER, "").await), "a merchant needs its name");
        assert!(refused(&add("MERCHANT_ID", "19x", "场地").await));
        assert_eq!(add("MERCHANT_ID", RECEIVER, "示例场地有限公司").await, json!("Done"));
        assert!(refused(&add("MERCHANT_ID", RECEIVER, "示例场地有限公司").await), "once");
        let receiver = shares(&app).await["receivers"][0]["id"].as_str().expect("id").to_owned();

        // Its share of the demo form: within 30 %.
        let set = |percent: &'static str, fixed: &'static str| {
            let (app, form_id, receiver) = (&app, form_id.clone(), receiver.clone());
            async move {
                app.call(
                    "admin_set_share",
                    &[("form_id", &form_id), ("receiver_id", &receiver), ("percent", percent), ("fixed", fixed)],
                )
                .await
            }
        };
        assert!(refused(&set("31", "").await));
        assert!(refused(&set("10", "5.00").await), "one of them");
        assert!(refused(&set("abc", "").await));
        assert_eq!(set("10", "").await, json!("Done"));
        assert_eq!(shares(&app).await["rules"][0]["share"], "10.00 %");

        // Paid by WeChat: the payment was made with profit sharing on, and
        // the split goes through to its end by itself.
        let order = submit_demo(&app, "50.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let no = order["out_trade_no"].as_str().expect("no").to_owned();
        let qr = pay(&app, &id, "wechat_native").await["qr_code"].as_str().expect("qr").to_owned();
        press(&app, &qr, "pay").await;
        wait_status(&app, &id, "paid").await;
        let mut split = Value::Null;
        for _ in 0..200 {
            split = shares(&app).await["splits"][0].clone();
            if split["state"] == "finished" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(split["state"], "finished", "{split}");
        assert_eq!(split["amount_fen"], 500);
        assert_eq!(split["lines"][0]["result"], "SUCCESS");
        let sim = app.simulator.as_ref().expect("simulator");
        assert_eq!(sim.shares_of(&no), vec![(RECEIVER.to_owned(), 500, "SUCCESS".to_owned(), 0)]);

        // The day's bill gives the fee (0.6 % of 50.00 = 0.30): gross,
        // fee, share and net, to the fen.
        let run = app
            .call("admin_reconcile_bill", &[("date", &today_in_beijing()), ("account", ""), ("provider", "wechat")])
            .await;
        assert_eq!(run["status"], "matched", "{run}");
        let t = totals(&app).await;
        assert_eq!(
            (t["gross_fen"].as_i64(), t["fee_fen"].as_i64(), t["share_fen"].as_i64(), t["refunded_fen"].as_i64(), t["net_fen"].as_i64()),
            (Some(5000), Some(30), Some(500), Some(0), Some(4470)),
            "{t}"
        );

        // A partial refund the merchant's part covers takes nothing back.
        let done = refund(&app, &id, "10.00", "share-refund-1").await;
        assert!(done.get("Done").is_some(), "{done}");
        wait_status(&app, &id, "partially_refunded").await;
        assert_eq!(sim.shares_of(&no)[0].3, 0, "nothing returned yet");

        // The rest needs the shared money: it is returned first, then refunded.
        let done = refund(&app, &id, "40.00", "share-refund-2").await;
        assert!(done.get("Done").is_some(), "{done}");
        wait_status(&app, &id, "refunded").await;
        assert_eq!(sim.shares_of(&no), vec![(RECEIVER.to_owned(), 500, "SUCCESS".to_owned(), 500)]);
        let split = shares(&app).await["splits"][0].clone();
        assert_eq!(split["lines"][0]["returned_fen"], 500, "{split}");
        let t = totals(&app).await;
        assert_eq!(
            (t["gross_fen"].as_i64(), t["share_fen"].as_i64(), t["refunded_fen"].as_i64(), t["net_fen"].as_i64()),
            (Some(5000), Some(0), Some(5000), Some(-30)),
            "{t}"
        );
        // The order's history tells the split and the return.
        let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM order_events WHERE order_id = $1 AND kind = 'share'")
            .bind(&id)
            .fetch_one(&app.db.pool)
            .await
            .expect("events");
        assert_eq!(events, 2, "split finished, share returned");
    }
}

both_backends! {
    async fn an_alipay_share_is_settled_and_taken_back_with_the_refunds(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let (form_id,): (String,) = sqlx::query_as("SELECT id FROM forms WHERE slug = 'demo'")
            .fetch_one(&app.db.pool)
            .await
            .expect("the demo form");
        const USER: &str = "2088000000000002";
        let added = app
            .call("admin_add_receiver", &[("account", ""), ("kind", "userId"), ("receiver", USER), ("name", ""), ("relation", "PARTNER")])
            .await;
        assert_eq!(added, json!("Done"));
        let receiver = shares(&app).await["receivers"][0]["id"].as_str().expect("id").to_owned();
        let set = app
            .call("admin_set_share", &[("form_id", &form_id), ("receiver_id", &receiver), ("percent", "10"), ("fixed", "")])
            .await;
        assert_eq!(set, json!("Done"));

        // Paid by Alipay (the money frozen with royalty_freeze), then settled.
        let order = submit_demo(&app, "50.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let no = order["out_trade_no"].as_str().expect("no").to_owned();
        let qr = pay(&app, &id, "alipay_qr").await["qr_code"].as_str().expect("qr").to_owned();
        press(&app, &qr, "pay").await;
        wait_status(&app, &id, "paid").await;
        let mut split = Value::Null;
        for _ in 0..200 {
            split = shares(&app).await["splits"][0].clone();
            if split["state"] == "finished" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(split["state"], "finished", "{split}");
        assert_eq!(split["lines"][0]["result"], "SUCCESS");
        let sim = app.simulator.as_ref().expect("simulator");
        assert_eq!(sim.shares_of(&no), vec![(USER.to_owned(), 500, "SUCCESS".to_owned(), 0)]);
        let t = totals(&app).await;
        assert_eq!((t["gross_fen"].as_i64(), t["share_fen"].as_i64()), (Some(5000), Some(500)), "{t}");

        // Each refund takes back the receiver's part in proportion, as
        // Alipay is told in refund_royalty_parameters.
        let done = refund(&app, &id, "10.00", "alipay-share-refund-1").await;
        assert!(done.get("Done").is_some(), "{done}");
        wait_status(&app, &id, "partially_refunded").await;
        assert_eq!(sim.shares_of(&no)[0].3, 100);
        let done = refund(&app, &id, "40.00", "alipay-share-refund-2").await;
        assert!(done.get("Done").is_some(), "{done}");
        wait_status(&app, &id, "refunded").await;
        assert_eq!(sim.shares_of(&no)[0].3, 500);
        let split = shares(&app).await["splits"][0].clone();
        assert_eq!(split["lines"][0]["returned_fen"], 500, "{split}");
        let t = totals(&app).await;
        assert_eq!((t["share_fen"].as_i64(), t["refunded_fen"].as_i64(), t["net_fen"].as_i64()), (Some(0), Some(5000), Some(0)), "{t}");
    }
}
