//! Discount codes: fixed and percentage off, checked on the server, with a
//! usage limit held exactly under concurrency, an expiry, and uses given
//! back when an unpaid order closes.

use crate::admin_forms::save;
use crate::both_backends;
use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

async fn submit(app: &TestApp, answers: Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/api/v1/forms/dinner/submissions"))
        .json(&json!({ "answers": answers }))
        .send()
        .await
        .expect("submit");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn add_code(
    app: &TestApp,
    form_id: &str,
    code: &str,
    kind: &str,
    value: &str,
    max: &str,
    expires: &str,
) -> Value {
    app.call(
        "admin_add_discount_code",
        &[
            ("form_id", form_id),
            ("code", code),
            ("kind", kind),
            ("value", value),
            ("max_uses", max),
            ("expires_at", expires),
        ],
    )
    .await
}

both_backends! {
    async fn discount_codes_are_checked_and_held_on_the_server(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let saved = save(&app, None, &json!({
            "slug": "dinner", "title": "年会晚宴",
            "fields": [
                {"key": "name", "label": "姓名", "required": true, "type": "short_text"},
                {"key": "seat", "label": "座位", "required": true, "type": "payment", "mode": "fixed", "amount": 19900}
            ]
        })).await;
        let form_id = saved["Saved"]["id"].as_str().expect("saved").to_owned();
        assert_eq!(app.call("admin_form_status", &[("id", &form_id), ("status", "published")]).await, json!(true));
        let page = app.client.get(app.url("/f/dinner")).send().await.expect("page").text().await.expect("html");
        assert!(!page.contains("data-testid=\"discount-code\""), "no codes: not asked");

        // Codes: checked when added.
        assert_eq!(add_code(&app, &form_id, "early-bird", "percent", "15", "", "").await, json!("Done"));
        assert_eq!(add_code(&app, &form_id, "STAFF", "fixed", "50", "2", "").await, json!("Done"));
        assert_eq!(add_code(&app, &form_id, "OLD", "percent", "50", "", "2020-01-01T00:00").await, json!("Done"));
        let dup = add_code(&app, &form_id, "Early-Bird", "percent", "20", "", "").await;
        assert!(dup["Refused"]["message"].as_str().is_some_and(|m| m.contains("already")), "{dup}");
        for (kind, value) in [("percent", "0"), ("percent", "120"), ("fixed", "-5"), ("both", "1")] {
            let bad = add_code(&app, &form_id, "BAD1", kind, value, "", "").await;
            assert!(bad["Refused"].is_object(), "{kind} {value}: {bad}");
        }
        let page = app.client.get(app.url("/f/dinner")).send().await.expect("page").text().await.expect("html");
        assert!(page.contains("data-testid=\"discount-code\""), "the page asks for a code");

        // 15 % off 199.00 is 29.85: 169.15, whatever case the payer types.
        let (status, body) = submit(&app, json!({"name": "甲", "discount.code": " early-bird "})).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["order"]["amount_fen"], 16915);
        // Unknown, expired, malformed: refused under the code's key, nothing stored.
        for code in ["NOPE", "OLD", "有码", "x"] {
            let (status, body) = submit(&app, json!({"name": "乙", "discount.code": code})).await;
            assert_eq!(status, 422, "{code}: {body}");
            assert_eq!(body["errors"][0]["field"], "discount.code", "{body}");
            assert_eq!(body["errors"][0]["code"], "bad_discount");
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders").fetch_one(&app.db.pool).await.expect("count");
        assert_eq!(n, 1);

        // Six payers at once for a code with two uses: exactly two get it.
        let sends = (0..6).map(|i| {
            let app = &app;
            async move { submit(app, json!({"name": format!("员工{i}"), "discount.code": "staff"})).await }
        });
        let results = futures_util::future::join_all(sends).await;
        let won: Vec<&Value> = results.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
        assert_eq!(won.len(), 2, "{results:?}");
        assert!(won.iter().all(|b| b["order"]["amount_fen"] == 14900));
        let listed = app.call("admin_discount_codes", &[("form_id", &form_id)]).await;
        let staff = listed["codes"].as_array().expect("codes").iter().find(|c| c["code"] == "STAFF").expect("staff").clone();
        assert_eq!((staff["used"].clone(), staff["max_uses"].clone()), (json!(2), json!(2)));

        // Closing an unpaid order gives its use back.
        let order = won[0]["order"]["id"].as_str().expect("id").to_owned();
        let closed = app.call("admin_order_action", &[("id", &order), ("action", "close")]).await;
        assert!(closed.to_string().contains("closed"), "{closed}");
        let (status, body) = submit(&app, json!({"name": "员工9", "discount.code": "STAFF"})).await;
        assert_eq!(status, 201, "the use came back: {body}");
        let (status, _) = submit(&app, json!({"name": "员工10", "discount.code": "STAFF"})).await;
        assert_eq!(status, 422, "and is used again");

        // A plain POST carries the code too; a blank code is none.
        let plain = app.client.post(app.url("/f/dinner")).form(&[("name", "丙"), ("discount.code", "EARLY-BIRD")]).send().await.expect("post");
        assert_eq!(plain.status(), 303);
        let (status, body) = submit(&app, json!({"name": "丁", "discount.code": ""})).await;
        assert_eq!((status, body["order"]["amount_fen"].clone()), (201, json!(19900)));

        // Removing a code: later payers cannot use it; the orders keep their amounts.
        let id = listed["codes"].as_array().expect("codes").iter().find(|c| c["code"] == "EARLY-BIRD").and_then(|c| c["id"].as_str()).expect("id").to_owned();
        assert_eq!(app.call("admin_remove_discount_code", &[("form_id", &form_id), ("id", &id)]).await, json!("Done"));
        let (status, _) = submit(&app, json!({"name": "戊", "discount.code": "EARLY-BIRD"})).await;
        assert_eq!(status, 422);
        let (audited,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action IN ('add_discount_code', 'remove_discount_code')")
            .fetch_one(&app.db.pool).await.expect("audit");
        assert_eq!(audited, 4);
    }
}
