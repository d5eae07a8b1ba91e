//! Several priced items with stock, and a per-payer limit: concurrent orders
//! never take more than there is, nor more than one payer may have; closing
//! an unpaid order gives its items and its payer's place back; the total is
//! always the server's.

use crate::admin_forms::save;
use crate::both_backends;
use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

async fn publish(app: &TestApp) {
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let saved = save(app, None, &json!({
        "slug": "games",
        "title": "运动会门票",
        "per_payer_limit": 1,
        "fields": [
            {"key": "phone", "label": "手机", "required": true, "type": "phone"},
            {"key": "tickets", "label": "门票", "required": true, "type": "payment", "mode": "items", "items": [
                {"key": "adult", "label": "成人票", "price": 8000, "max": 5, "stock": 3},
                {"key": "child", "label": "儿童票", "price": 4000, "max": 5, "stock": 50},
                {"key": "shirt", "label": "T 恤", "price": 6000, "max": 2}
            ]}
        ]
    })).await;
    let id = saved["Saved"]["id"].as_str().expect("saved").to_owned();
    assert_eq!(
        app.call("admin_form_status", &[("id", &id), ("status", "published")])
            .await,
        json!(true)
    );
}

async fn submit(app: &TestApp, phone: &str, tickets: Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/api/v1/forms/games/submissions"))
        .json(&json!({"answers": {"phone": phone, "tickets": tickets}}))
        .send()
        .await
        .expect("submit");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn code_of(body: &Value, field: &str) -> Option<String> {
    body["errors"]
        .as_array()?
        .iter()
        .find(|e| e["field"] == field)
        .and_then(|e| e["code"].as_str().map(str::to_owned))
}

async fn stock_left(app: &TestApp) -> Value {
    let form: Value = app
        .client
        .get(app.url("/api/v1/forms/games"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    form["stock_left"].clone()
}

async fn close(app: &TestApp, order: &str) {
    let outcome = app
        .call("admin_order_action", &[("id", order), ("action", "close")])
        .await;
    assert!(outcome.to_string().contains("closed"), "{outcome}");
}

both_backends! {
    async fn stock_and_per_payer_limits_hold_under_concurrency(app) {
        publish(&app).await;
        assert_eq!(stock_left(&app).await, json!({"adult": 3, "child": 50}));

        // The total is the server's: 2 × 80 + 1 × 40 + 1 × 60, whatever else is sent.
        let (status, body) = submit(&app, "13800000001", json!({"adult": 1, "child": 1, "shirt": 1})).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["order"]["amount_fen"], 18000);
        let first_order = body["order"]["id"].as_str().expect("order").to_owned();

        // Twelve payers at once for the two adult tickets left: exactly two get one.
        let sends = (0..12).map(|i| {
            let app = &app;
            async move { submit(app, &format!("139000000{i:02}"), json!({"adult": 1})).await }
        });
        let results = futures_util::future::join_all(sends).await;
        let won: Vec<&Value> = results.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
        assert_eq!(won.len(), 2, "{results:?}");
        for (status, body) in results.iter().filter(|(s, _)| *s != 201) {
            assert_eq!(*status, 422);
            assert_eq!(code_of(body, "tickets").as_deref(), Some("sold_out"), "{body}");
        }
        assert_eq!(stock_left(&app).await, json!({"adult": 0, "child": 49}));
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders").fetch_one(&app.db.pool).await.expect("count");
        assert_eq!(count, 3, "refused orders leave nothing behind");

        // One payer, five tries at once: the limit is one submission.
        let sends = (0..5).map(|_| {
            let app = &app;
            async move { submit(app, "+86 137 0000 0007", json!({"child": 2})).await }
        });
        let results = futures_util::future::join_all(sends).await;
        assert_eq!(results.iter().filter(|(s, _)| *s == 201).count(), 1, "{results:?}");
        for (_, body) in results.iter().filter(|(s, _)| *s != 201) {
            assert_eq!(code_of(body, "phone").as_deref(), Some("payer_limit"), "{body}");
        }
        let limited = results.iter().find(|(s, _)| *s == 201).map(|(_, b)| b["order"]["id"].as_str().expect("id").to_owned()).expect("one");

        // Closing unpaid orders gives their items and their payer's place back.
        assert_eq!(stock_left(&app).await, json!({"adult": 0, "child": 47}));
        close(&app, &first_order).await;
        assert_eq!(stock_left(&app).await, json!({"adult": 1, "child": 48}));
        close(&app, &limited).await;
        assert_eq!(stock_left(&app).await, json!({"adult": 1, "child": 50}));
        let (status, body) = submit(&app, "13700000007", json!({"adult": 1})).await;
        assert_eq!(status, 201, "the payer may submit again: {body}");
        assert_eq!(stock_left(&app).await, json!({"adult": 0, "child": 50}));
        // Closing twice gives nothing back twice.
        close(&app, &first_order).await;
        assert_eq!(stock_left(&app).await, json!({"adult": 0, "child": 50}));

        // Bounds and unknown items.
        let (_, body) = submit(&app, "13600000001", json!({"child": 6})).await;
        assert_eq!(code_of(&body, "tickets").as_deref(), Some("bad_quantity"));
        let (_, body) = submit(&app, "13600000001", json!({"vip": 1})).await;
        assert_eq!(code_of(&body, "tickets").as_deref(), Some("unknown_option"));
        let (_, body) = submit(&app, "13600000001", json!({"child": 0})).await;
        assert_eq!(code_of(&body, "tickets").as_deref(), Some("required"));

        // A plain POST, items by name, and the page shows what is left.
        let plain = app.client.post(app.url("/f/games")).form(&[
            ("phone", "13500000001"), ("tickets__child", "3"), ("tickets__shirt", "0"),
        ]).send().await.expect("post");
        assert_eq!(plain.status(), 303);
        assert!(plain.headers()["location"].to_str().expect("location").starts_with("/pay/"));
        let page = app.client.get(app.url("/f/games")).send().await.expect("page").text().await.expect("html");
        assert!(page.contains("data-testid=\"stock-adult\"") && page.contains("已售罄"), "sold out shown");
        assert!(page.contains("剩余 47"), "what is left shown");
        assert_eq!(app.call("form_stock", &[("slug", "games")]).await, json!({"adult": 0, "child": 47}));
    }
}

/// Starts paying `order` inside WeChat as the payer `openid`.
async fn pay_in_wechat(app: &TestApp, order: &str, openid: &str) -> (u16, Value) {
    crate::phone::pay_raw(
        app,
        order,
        json!({"channel": "wechat_jsapi", "openid": openid}),
    )
    .await
}

async fn order_of(app: &TestApp, phone: &str) -> String {
    let (status, body) = submit(app, phone, json!({"child": 1})).await;
    assert_eq!(status, 201, "{body}");
    body["order"]["id"].as_str().expect("order").to_owned()
}

/// Places held in `payer_holds` for the form, in total.
async fn held(app: &TestApp) -> i64 {
    let (n,): (i64,) =
        sqlx::query_as("SELECT CAST(COALESCE(SUM(held), 0) AS BIGINT) FROM payer_holds")
            .fetch_one(&app.db.pool)
            .await
            .expect("held");
    n
}

both_backends! {
    async fn a_wechat_account_counts_as_one_payer(app) {
        publish(&app).await;
        let app_id = simulator::dev_keys::WECHAT_APP_ID;
        let one = &simulator::openid_of(app_id, "one");
        let two = &simulator::openid_of(app_id, "two");

        // Two phone numbers, one WeChat account: the second order cannot be
        // paid from it, with a clear answer, and stays as it was.
        let first = order_of(&app, "13800000001").await;
        let (status, body) = pay_in_wechat(&app, &first, one).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["kind"], "jsapi");
        let second = order_of(&app, "13800000002").await;
        let (status, body) = pay_in_wechat(&app, &second, one).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"], "payer_limit", "{body}");
        assert!(body["message"].as_str().unwrap_or_default().contains("limit of 1"), "{body}");
        let (status, _) = crate::phone::pay_raw(&app, &second, json!({"channel": "wechat_native"})).await;
        assert_eq!(status, 200, "other ways to pay are not counted by WeChat account");
        // Asking again with the account that holds the place is not a second place.
        let (status, body) = pay_in_wechat(&app, &first, one).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(held(&app).await, 3, "two phones and one WeChat account");

        // Five orders paid at once from one new account: exactly one may.
        let mut orders = Vec::new();
        for i in 0..5 {
            orders.push(order_of(&app, &format!("1390000001{i}")).await);
        }
        let tries = orders.iter().map(|o| {
            let app = &app;
            async move { pay_in_wechat(app, o, two).await }
        });
        let results = futures_util::future::join_all(tries).await;
        assert_eq!(results.iter().filter(|(s, _)| *s == 200).count(), 1, "{results:?}");
        for (status, body) in results.iter().filter(|(s, _)| *s != 200) {
            assert_eq!((*status, body["error"].as_str()), (409, Some("payer_limit")), "{body}");
        }
        assert_eq!(held(&app).await, 2 + 5 + 2);

        // Closing the first order gives its phone's and its account's places back.
        close(&app, &first).await;
        assert_eq!(held(&app).await, 7);
        let (status, body) = pay_in_wechat(&app, &second, one).await;
        assert_eq!(status, 200, "the account's place is free again: {body}");
        assert_eq!(held(&app).await, 8);
    }
}
