//! A payer's right to erasure (PIPL): an administrator erases one
//! submission's answers on request; the order and its amount stay, the act
//! is audited, and money in motion is never erased.

use crate::both_backends;
use crate::flow::{pay, submit_demo, wait_status};
use crate::helpers::{press, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::json;

async fn submission_of(app: &TestApp, order: &str) -> String {
    let (id,): (String,) = sqlx::query_as("SELECT submission_id FROM orders WHERE id = $1")
        .bind(order)
        .fetch_one(&app.db.pool)
        .await
        .expect("submission");
    id
}

both_backends! {
    async fn one_submission_is_erased_on_request(app) {
        let paid = submit_demo(&app, "9.00").await["id"].as_str().expect("id").to_owned();
        let qr = pay(&app, &paid, "wechat_native").await["qr_code"].as_str().expect("qr").to_owned();
        press(&app, &qr, "pay").await;
        wait_status(&app, &paid, "paid").await;
        let pending = submit_demo(&app, "2.00").await["id"].as_str().expect("id").to_owned();
        pay(&app, &pending, "wechat_native").await;
        let paid_sub = submission_of(&app, &paid).await;
        let pending_sub = submission_of(&app, &pending).await;

        let anonymous = app.server_fn("admin_erase_submission", &[("id", &paid_sub)]).await;
        assert!(!anonymous.status().is_success(), "anonymous callers are refused");
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

        assert_eq!(app.call("admin_erase_submission", &[("id", &paid_sub)]).await, json!("Erased"));
        let (answers, erased_at): (String, Option<i64>) =
            sqlx::query_as("SELECT answers_json, erased_at FROM submissions WHERE id = $1")
                .bind(&paid_sub)
                .fetch_one(&app.db.pool)
                .await
                .expect("row");
        assert_eq!(answers, "{}");
        assert!(erased_at.is_some());
        let (status, amount): (String, i64) =
            sqlx::query_as("SELECT status, amount_fen FROM orders WHERE id = $1")
                .bind(&paid)
                .fetch_one(&app.db.pool)
                .await
                .expect("order");
        assert_eq!((status.as_str(), amount), ("paid", 900), "the financial record stays");
        let (audited,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'erase_submission' AND target = $1 AND admin_email = $2",
        )
        .bind(&paid_sub)
        .bind(ADMIN_EMAIL)
        .fetch_one(&app.db.pool)
        .await
        .expect("audit");
        assert_eq!(audited, 1, "who erased it is recorded");

        assert_eq!(app.call("admin_erase_submission", &[("id", &paid_sub)]).await, json!("AlreadyErased"));
        let refused = app.call("admin_erase_submission", &[("id", &pending_sub)]).await;
        assert!(refused["Refused"].as_str().is_some_and(|w| w.contains("pending")), "{refused}");
        let (kept,): (String,) = sqlx::query_as("SELECT answers_json FROM submissions WHERE id = $1")
            .bind(&pending_sub)
            .fetch_one(&app.db.pool)
            .await
            .expect("row");
        assert!(kept.contains("张三"), "money in motion: nothing erased");
        let unknown = app.call("admin_erase_submission", &[("id", "nonexistent")]).await;
        assert_eq!(unknown, json!({"Refused": "no such submission"}));

        // The list shows it as erased, with its amount.
        let (form_id,): (String,) = sqlx::query_as("SELECT form_id FROM submissions WHERE id = $1")
            .bind(&paid_sub)
            .fetch_one(&app.db.pool)
            .await
            .expect("form");
        let page = app
            .call("admin_submissions", &[("form_id", &form_id), ("page", "1"), ("search", ""), ("status", "")])
            .await;
        let row = page["rows"].as_array().expect("rows").iter().find(|r| r["id"] == paid_sub.as_str()).expect("listed");
        assert_eq!(row["erased"], true);
        assert_eq!(row["amount"], "¥9.00");
    }
}

both_backends! {
    async fn everything_held_about_one_payer_is_exported(app) {
        // Two submissions by the payer (the demo's phone), one by someone else.
        let first = submit_demo(&app, "1.50").await["id"].as_str().expect("id").to_owned();
        let qr = pay(&app, &first, "wechat_native").await["qr_code"].as_str().expect("qr").to_owned();
        press(&app, &qr, "pay").await;
        wait_status(&app, &first, "paid").await;
        submit_demo(&app, "2.50").await;
        let other = app
            .client
            .post(app.url("/api/v1/forms/demo/submissions"))
            .json(&json!({"answers": {"name": "另一人", "phone": "13900139000", "amount": "9.99"}}))
            .send()
            .await
            .expect("submit");
        assert_eq!(other.status(), 201);

        let url = app.url("/admin/payer.json?q=138-0013-8000");
        let anonymous = app.client.get(&url).send().await.expect("get");
        assert_eq!(anonymous.status(), 401);
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let resp = app.client.get(&url).send().await.expect("get");
        assert_eq!(resp.status(), 200);
        assert!(resp
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("attachment")));
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["payer"], "13800138000");
        let found = body["submissions"].as_array().expect("submissions");
        assert_eq!(found.len(), 2, "{body}");
        let text = body.to_string();
        assert!(text.contains("张三") && !text.contains("另一人"), "{text}");
        let paid = found.iter().find(|s| s["order"]["status"] == "paid").expect("the paid one");
        assert_eq!(paid["order"]["amount"], "1.50");
        assert!(paid["order"]["transaction_id"].is_string());

        let (audited,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'export_payer_data' AND target = '138****8000'",
        )
        .fetch_one(&app.db.pool)
        .await
        .expect("audit");
        assert_eq!(audited, 1, "the export is audited, the payer masked");
        let bad = app.client.get(app.url("/admin/payer.json?q=%25")).send().await.expect("get");
        assert_eq!(bad.status(), 400);
    }
}
