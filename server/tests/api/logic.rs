//! Conditional fields on the real server: the cases of
//! `domain/tests/logic_cases.json` (which also run natively and in
//! WebAssembly) submitted through the API. Hidden fields' answers are
//! discarded, required ones refused when missing.

use crate::admin_forms::save;
use crate::both_backends;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

const CASES: &str = include_str!("../../../domain/tests/logic_cases.json");

both_backends! {
    async fn the_shared_logic_cases_hold_on_the_server(app) {
        let all: Value = serde_json::from_str(CASES).expect("cases");
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let saved = save(&app, None, &all["form"]).await;
        let id = saved["Saved"]["id"].as_str().expect("saved").to_owned();
        assert_eq!(app.call("admin_form_status", &[("id", &id), ("status", "published")]).await, json!(true));
        // The public form carries the rules, for the page to evaluate.
        let form: Value = app.client.get(app.url("/api/v1/forms/logic")).send().await.expect("get").json().await.expect("json");
        assert_eq!(form["fields"][1]["logic"]["action"], "show");

        for case in all["cases"].as_array().expect("cases") {
            let name = case["name"].as_str().expect("name");
            let resp = app
                .client
                .post(app.url("/api/v1/forms/logic/submissions"))
                .json(&json!({"answers": case["answers"]}))
                .send()
                .await
                .expect("submit");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.expect("json");
            if let Some(stored) = case.get("stored") {
                assert_eq!(status, 201, "{name}: {body}");
                let (answers,): (String,) = sqlx::query_as("SELECT answers_json FROM submissions WHERE id = $1")
                    .bind(body["submission_id"].as_str().expect("id"))
                    .fetch_one(&app.db.pool)
                    .await
                    .expect("stored");
                let answers: serde_json::Map<String, Value> = serde_json::from_str(&answers).expect("json");
                let kept: Vec<&String> = answers.keys().collect();
                let want: Vec<String> = stored.as_array().expect("stored").iter().filter_map(|k| k.as_str().map(str::to_owned)).collect();
                assert_eq!(kept, want.iter().collect::<Vec<_>>(), "{name}");
            } else {
                assert_eq!(status, 422, "{name}: {body}");
                let codes: serde_json::Map<String, Value> = body["errors"]
                    .as_array()
                    .expect("errors")
                    .iter()
                    .map(|e| (e["field"].as_str().unwrap_or_default().to_owned(), e["code"].clone()))
                    .collect();
                assert_eq!(Value::Object(codes), case["errors"], "{name}");
            }
        }

        // A rule on a later field is refused when the form is saved.
        let mut bad = all["form"].clone();
        bad["slug"] = json!("logic2");
        bad["fields"][1]["logic"]["conditions"][0]["field"] = json!("lunch");
        let refused = save(&app, None, &bad).await;
        assert!(refused["Invalid"]["message"].as_str().is_some_and(|m| m.contains("size")), "{refused}");
    }
}
