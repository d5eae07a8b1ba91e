//! Administrators build forms, publish and close them, read submissions and export them.

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

fn every_field_type() -> Value {
    json!({
        "slug": "club-fee",
        "title": "社团年费",
        "description": "第一行\n第二行",
        "fields": [
            {"key": "name", "label": "姓名", "required": true, "type": "short_text"},
            {"key": "intro", "label": "介绍", "type": "long_text"},
            {"key": "age", "label": "年龄", "type": "number", "min": 1, "max": 120},
            {"key": "phone", "label": "手机", "type": "phone"},
            {"key": "email", "label": "邮箱", "type": "email"},
            {"key": "size", "label": "尺码", "type": "single_choice", "options": [{"key": "m", "label": "M"}, {"key": "l", "label": "L"}]},
            {"key": "days", "label": "日期偏好", "type": "multi_choice", "options": [{"key": "sat", "label": "周六"}, {"key": "sun", "label": "周日"}]},
            {"key": "date", "label": "到达日期", "type": "date"},
            {"key": "fee", "label": "费用", "required": true, "type": "payment", "mode": "priced_options", "max_quantity": 3,
             "options": [{"key": "adult", "label": "成人", "price": 5000}, {"key": "child", "label": "儿童", "price": 2050}]}
        ],
        "max_submissions": 100,
        "success_message": "谢谢"
    })
}

pub(crate) async fn save(app: &TestApp, id: Option<&str>, def: &Value) -> Value {
    let mut form = vec![("def", def.to_string())];
    if let Some(id) = id {
        form.push(("id", id.to_owned()));
    }
    let resp = app
        .client
        .post(app.url("/api/admin_save_form"))
        .form(&form)
        .send()
        .await
        .expect("save");
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    resp.json().await.expect("json")
}

both_backends! {
    async fn an_administrator_builds_publishes_and_exports_a_form(app) {
        // Anonymous callers are refused.
        let anon = app.client.post(app.url("/api/admin_save_form")).form(&[("def", every_field_type().to_string())]).send().await.expect("save");
        assert!(!anon.status().is_success());
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

        let saved = save(&app, None, &every_field_type()).await;
        let id = saved["Saved"]["id"].as_str().expect("saved").to_owned();
        let invalid = save(&app, None, &json!({"slug": "Bad Slug", "title": "x", "fields": []})).await;
        assert!(invalid["Invalid"]["message"].as_str().is_some());
        let taken = save(&app, None, &every_field_type()).await;
        assert!(taken["Invalid"]["message"].as_str().expect("message").contains("already used"));

        // A draft is not public.
        assert_eq!(app.client.get(app.url("/api/v1/forms/club-fee")).send().await.expect("get").status(), 404);
        let published = app.client.post(app.url("/api/admin_form_status")).form(&[("id", id.as_str()), ("status", "published")]).send().await.expect("publish");
        assert_eq!(published.text().await.expect("body"), "true");
        let form: Value = app.client.get(app.url("/api/v1/forms/club-fee")).send().await.expect("get").json().await.expect("json");
        assert_eq!(form["fields"].as_array().map(Vec::len), Some(9));

        // Two payers: the price comes from the form (2 × 20.50).
        let one = app.client.post(app.url("/api/v1/forms/club-fee/submissions")).json(&json!({"answers": {
            "name": "=HYPERLINK(\"http://evil\")", "intro": "第一行\n第二行, \"引号\"", "age": 30, "phone": "13800138000", "email": "a@b.cn",
            "size": "m", "days": ["sat", "sun"], "date": "2026-12-01", "fee": {"option": "child", "quantity": 2}
        }})).send().await.expect("submit");
        assert_eq!(one.status(), 201);
        let one: Value = one.json().await.expect("json");
        assert_eq!(one["order"]["amount_fen"], 4100);
        let two = app.client.post(app.url("/api/v1/forms/club-fee/submissions")).json(&json!({"answers": {"name": "李雷", "fee": "adult"}})).send().await.expect("submit");
        assert_eq!(two.status(), 201);

        // The table: search and filter.
        let page: Value = app.client.post(app.url("/api/admin_submissions")).form(&[("form_id", id.as_str()), ("page", "1"), ("search", "李雷"), ("status", "")]).send().await.expect("page").json().await.expect("json");
        assert_eq!(page["total"], 1);
        assert_eq!(page["rows"][0]["amount"], "¥50.00");
        let created: Value = app.client.post(app.url("/api/admin_submissions")).form(&[("form_id", id.as_str()), ("page", "1"), ("search", ""), ("status", "created")]).send().await.expect("page").json().await.expect("json");
        assert_eq!(created["total"], 2);
        let paid: Value = app.client.post(app.url("/api/admin_submissions")).form(&[("form_id", id.as_str()), ("page", "1"), ("search", ""), ("status", "paid")]).send().await.expect("page").json().await.expect("json");
        assert_eq!(paid["total"], 0);

        // The export: BOM, one column per field plus the payment columns, formulas neutralised.
        let csv = app.client.get(app.url(&format!("/admin/forms/{id}/submissions.csv"))).send().await.expect("csv");
        assert_eq!(csv.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/csv; charset=utf-8"));
        let bytes = csv.bytes().await.expect("body");
        assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
        let text = String::from_utf8(bytes[3..].to_vec()).expect("utf8");
        let header = text.lines().next().expect("header");
        assert_eq!(header.split(',').count(), 1 + 9 + 6);
        assert!(text.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""), "{text}");
        assert!(text.contains("儿童 × 2") && text.contains("41.00"));
        assert!(text.contains("\"第一行\n第二行, \"\"引号\"\"\""));

        // Anonymous export is refused.
        let anon = crate::helpers::client().get(app.url(&format!("/admin/forms/{id}/submissions.csv"))).send().await.expect("csv");
        assert_eq!(anon.status(), 401);

        // Closing stops submissions.
        app.client.post(app.url("/api/admin_form_status")).form(&[("id", id.as_str()), ("status", "closed")]).send().await.expect("close");
        let late = app.client.post(app.url("/api/v1/forms/club-fee/submissions")).json(&json!({"answers": {"name": "x", "fee": "adult"}})).send().await.expect("submit");
        assert_eq!(late.status(), 409);
        let page = app.client.get(app.url("/f/club-fee")).send().await.expect("page").text().await.expect("html");
        assert!(page.contains("这个表单已关闭"));
    }
}
