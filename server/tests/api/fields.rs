//! The newer field types through the real server: a drop-down, time and
//! date-time, an ID card number, a region, a consent box, a section heading
//! and a hidden field filled from the link; by JSON and by a plain POST.

use crate::admin_forms::save;
use crate::both_backends;
use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

fn registration() -> Value {
    json!({
        "slug": "camp",
        "title": "冬令营报名",
        "fields": [
            {"key": "about", "label": "营员信息", "help": "请按证件填写", "type": "section"},
            {"key": "name", "label": "姓名", "required": true, "type": "short_text"},
            {"key": "id", "label": "身份证号", "required": true, "type": "id_card"},
            {"key": "home", "label": "所在地区", "required": true, "type": "region"},
            {"key": "size", "label": "营服尺码", "type": "dropdown", "options": [{"key": "m", "label": "M 码"}, {"key": "l", "label": "L 码"}]},
            {"key": "arrive", "label": "到达时间", "type": "time"},
            {"key": "starts", "label": "出发", "type": "date_time"},
            {"key": "terms", "label": "我已阅读安全须知", "required": true, "type": "consent", "link": "https://example.com/safety"},
            {"key": "source", "label": "来源", "type": "hidden"}
        ]
    })
}

async fn publish(app: &TestApp) -> String {
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let saved = save(app, None, &registration()).await;
    let id = saved["Saved"]["id"].as_str().expect("saved").to_owned();
    let published = app
        .call("admin_form_status", &[("id", &id), ("status", "published")])
        .await;
    assert_eq!(published, json!(true));
    id
}

async fn submit(app: &TestApp, answers: Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/api/v1/forms/camp/submissions"))
        .json(&json!({ "answers": answers }))
        .send()
        .await
        .expect("submit");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn stored_answers(app: &TestApp, submission: &str) -> Value {
    let (json,): (String,) = sqlx::query_as("SELECT answers_json FROM submissions WHERE id = $1")
        .bind(submission)
        .fetch_one(&app.db.pool)
        .await
        .expect("stored");
    serde_json::from_str(&json).expect("answers")
}

fn codes(body: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

both_backends! {
    async fn newer_field_types_are_checked_and_stored(app) {
        let form_id = publish(&app).await;
        let form: Value = app.client.get(app.url("/api/v1/forms/camp")).send().await.expect("get").json().await.expect("json");
        let kinds: Vec<&str> = form["fields"].as_array().expect("fields").iter().filter_map(|f| f["type"].as_str()).collect();
        assert_eq!(kinds, ["section", "short_text", "id_card", "region", "dropdown", "time", "date_time", "consent", "hidden"]);

        // Everything wrong at once: each field says why, nothing is stored.
        let (status, body) = submit(&app, json!({
            "name": "王小明", "id": "110105194912310021", "home": "999999", "size": "xl",
            "arrive": "25:00", "starts": "2026-02-30T08:00", "terms": false, "source": "s".repeat(201)
        })).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(codes(&body), [
            ("arrive".to_owned(), "bad_time".to_owned()),
            ("id".into(), "bad_id_card".into()),
            ("size".into(), "unknown_option".into()),
            ("source".into(), "too_long".into()),
            ("starts".into(), "bad_date".into()),
            ("terms".into(), "required".into()),
        ]);
        // A well-formed code that names no district is refused by the server's check.
        let (status, body) = submit(&app, json!({
            "name": "王小明", "id": "11010519491231002X", "home": "999999", "terms": true
        })).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(codes(&body), [("home".to_owned(), "bad_region".to_owned())]);
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM submissions").fetch_one(&app.db.pool).await.expect("count");
        assert_eq!(count, 0, "a refused submission stores nothing");

        // A good one, normalised: the region by its names, the ID with a capital X.
        let (status, body) = submit(&app, json!({
            "about": "ignored", "name": "王小明", "id": "11010519491231002x", "home": "440305", "size": "m",
            "arrive": "09:30", "starts": "2026-12-24T19:00", "terms": true, "source": "poster"
        })).await;
        assert_eq!(status, 201, "{body}");
        let answers = stored_answers(&app, body["submission_id"].as_str().expect("id")).await;
        assert_eq!(answers["home"], "广东省 深圳市 南山区");
        assert_eq!(answers["id"], "11010519491231002X");
        assert_eq!(answers["size"], json!(["m"]));
        assert_eq!(answers["terms"], "同意");
        assert_eq!(answers["source"], "poster");
        assert!(answers.get("about").is_none(), "a heading stores nothing: {answers}");

        // The region's drop-downs are filled level by level.
        let provinces = app.call("regions", &[("parent", "")]).await;
        assert_eq!(provinces.as_array().map(Vec::len), Some(31));
        let cities = app.call("regions", &[("parent", "44")]).await;
        assert!(cities.as_array().expect("cities").contains(&json!(["4403", "深圳市"])), "{cities}");
        let districts = app.call("regions", &[("parent", "4403")]).await;
        assert!(districts.as_array().expect("districts").contains(&json!(["440305", "南山区"])));
        assert_eq!(app.call("regions", &[("parent", "x' OR 1=1")]).await, json!([]));

        // The page: a heading, a drop-down, the hidden field from the link.
        let page = app.client.get(app.url("/f/camp?source=wechat-group")).send().await.expect("page").text().await.expect("html");
        assert!(page.contains("data-testid=\"section-about\"") && page.contains("营员信息"), "the heading");
        assert!(page.contains("<select") && page.contains("M 码"), "the drop-down");
        assert!(page.contains("type=\"hidden\"") && page.contains("value=\"wechat-group\""), "the hidden field");
        assert!(page.contains("https://example.com/safety"), "the consent's link");

        // Without JavaScript: the region typed as names, the box ticked, the hidden value posted.
        let plain = app.client.post(app.url("/f/camp")).form(&[
            ("name", "李华"), ("id", "440524198001010013"), ("home", "北京市 市辖区 东城区"),
            ("terms", "yes"), ("source", "poster"), ("size", ""),
        ]).send().await.expect("post");
        assert_eq!(plain.status(), 303);
        assert_eq!(plain.headers()["location"], "/f/camp?submitted=1");
        let (json,): (String,) = sqlx::query_as("SELECT answers_json FROM submissions WHERE answers_json LIKE '%李华%'")
            .fetch_one(&app.db.pool).await.expect("stored");
        let answers: Value = serde_json::from_str(&json).expect("answers");
        assert_eq!(answers["home"], "北京市 市辖区 东城区");
        assert_eq!(answers["terms"], "同意");
        let unticked = app.client.post(app.url("/f/camp")).form(&[
            ("name", "李华"), ("id", "440524198001010013"), ("home", "440305"),
        ]).send().await.expect("post");
        assert_eq!(unticked.headers()["location"], "/f/camp?invalid=terms");

        // Lists: the ID masked, the heading no column.
        let page = app.call("admin_submissions", &[("form_id", &form_id), ("page", "1"), ("search", ""), ("status", "")]).await;
        let columns = page["columns"].as_array().expect("columns");
        assert_eq!(columns.len(), 8, "{columns:?}");
        assert!(!columns.contains(&json!("营员信息")));
        let text = page["rows"].to_string();
        assert!(text.contains("1101**********002X") && !text.contains("11010519491231002X"), "{text}");
        let csv = app.client.get(app.url(&format!("/admin/forms/{form_id}/submissions.csv"))).send().await.expect("csv").text().await.expect("text");
        let header = csv.lines().next().expect("header");
        assert!(!header.contains("营员信息") && header.contains("所在地区"), "{header}");

        // A heading cannot be required; a consent link cannot be a script.
        let mut bad = registration();
        bad["slug"] = json!("camp2");
        bad["fields"][0]["required"] = json!(true);
        let refused = save(&app, None, &bad).await;
        assert!(refused["Invalid"]["message"].as_str().is_some_and(|m| m.contains("about")), "{refused}");
        bad["fields"][0]["required"] = json!(false);
        bad["fields"][7]["link"] = json!("javascript:alert(1)");
        let refused = save(&app, None, &bad).await;
        assert!(refused["Invalid"]["message"].as_str().is_some_and(|m| m.contains("terms")), "{refused}");
    }
}
