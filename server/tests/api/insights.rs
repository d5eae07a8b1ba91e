//! Per-question statistics and the funnel: page views (counted in memory,
//! then written), submissions, paid; counts per option of each choice
//! question and per item.

use crate::admin_forms::save;
use crate::both_backends;
use crate::flow::{pay, wait_status};
use crate::helpers::{press, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

both_backends! {
    async fn answers_are_counted_per_option_and_the_funnel_adds_up(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let saved = save(&app, None, &json!({
            "slug": "survey", "title": "问卷",
            "fields": [
                {"key": "size", "label": "尺码", "type": "single_choice", "options": [{"key": "s", "label": "S"}, {"key": "m", "label": "M"}]},
                {"key": "days", "label": "日期", "type": "multi_choice", "options": [{"key": "sat", "label": "周六"}, {"key": "sun", "label": "周日"}]},
                {"key": "tickets", "label": "门票", "required": true, "type": "payment", "mode": "items", "items": [
                    {"key": "adult", "label": "成人", "price": 100, "max": 5}, {"key": "child", "label": "儿童", "price": 50, "max": 5}
                ]}
            ]
        })).await;
        let form_id = saved["Saved"]["id"].as_str().expect("saved").to_owned();
        assert_eq!(app.call("admin_form_status", &[("id", &form_id), ("status", "published")]).await, json!(true));
        for _ in 0..4 {
            let page = app.client.get(app.url("/f/survey")).send().await.expect("page");
            assert_eq!(page.status(), 200);
        }
        let mut orders = Vec::new();
        for answers in [
            json!({"size": "m", "days": ["sat", "sun"], "tickets": {"adult": 2}}),
            json!({"size": "m", "days": ["sun"], "tickets": {"adult": 1, "child": 3}}),
            json!({"days": ["sun"], "tickets": {"child": 1}}),
        ] {
            let resp = app.client.post(app.url("/api/v1/forms/survey/submissions")).json(&json!({"answers": answers})).send().await.expect("submit");
            assert_eq!(resp.status(), 201);
            let body: Value = resp.json().await.expect("json");
            orders.push(body["order"]["id"].as_str().expect("order").to_owned());
        }
        let qr = pay(&app, &orders[0], "wechat_native").await["qr_code"].as_str().expect("qr").to_owned();
        press(&app, &qr, "pay").await;
        wait_status(&app, &orders[0], "paid").await;

        let i = app.call("admin_form_insights", &[("form_id", &form_id)]).await;
        assert_eq!((i["views"].clone(), i["submissions"].clone(), i["paid"].clone()), (json!(4), json!(3), json!(1)), "{i}");
        let q = |key: &str| i["questions"].as_array().expect("questions").iter().find(|q| q["key"] == key).cloned().expect(key);
        assert_eq!(q("size")["answered"], 2);
        assert_eq!(q("size")["options"], json!([["S", 0], ["M", 2]]));
        assert_eq!(q("days")["options"], json!([["周六", 1], ["周日", 3]]));
        assert_eq!(q("tickets")["options"], json!([["成人", 3], ["儿童", 4]]), "items count their quantities");

        // The views reach the database within seconds.
        let mut stored = 0;
        for _ in 0..100 {
            let row: Option<(i64,)> = sqlx::query_as("SELECT views FROM form_views WHERE form_id = $1")
                .bind(&form_id).fetch_optional(&app.db.pool).await.expect("views");
            stored = row.map_or(0, |r| r.0);
            if stored == 4 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(stored, 4);
        let again = app.call("admin_form_insights", &[("form_id", &form_id)]).await;
        assert_eq!(again["views"], 4, "counted once");
        let page = app.client.get(app.url(&format!("/admin/forms/{form_id}/insights"))).send().await.expect("page").text().await.expect("html");
        assert!(page.contains("data-testid=\"funnel-paid\"") && page.contains("周日"), "the page shows the bars");
    }
}
