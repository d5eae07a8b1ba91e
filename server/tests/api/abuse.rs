//! Abuse control: a blocklist of phone numbers and addresses (CIDR blocks
//! too) refusing submissions on every form and every way in, and the
//! per-phone daily limits on submissions and amount.

use crate::both_backends;
use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

async fn submit(app: &TestApp, phone: &str, amount: &str) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/api/v1/forms/demo/submissions"))
        .json(&json!({"answers": {"name": "张三", "phone": phone, "amount": amount}}))
        .send()
        .await
        .expect("submit");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn code(body: &Value, field: &str) -> Option<String> {
    body["errors"]
        .as_array()?
        .iter()
        .find(|e| e["field"] == field)
        .and_then(|e| e["code"].as_str().map(str::to_owned))
}

async fn daily_limits(backend: app::ssr::Backend) {
    let app = crate::helpers::spawn_app_with(
        backend,
        &[
            ("PAYER_DAILY_SUBMISSIONS", "3"),
            ("PAYER_DAILY_AMOUNT", "10"),
        ],
    )
    .await;
    assert_eq!(submit(&app, "13800138000", "4.00").await.0, 201);
    assert_eq!(submit(&app, "+86 138 0013 8000", "5.00").await.0, 201);
    // 9.00 today: 2.00 more would pass the 10.00 cap.
    let (status, body) = submit(&app, "13800138000", "2.00").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(code(&body, "amount").as_deref(), Some("daily_amount"));
    assert_eq!(
        submit(&app, "13800138000", "1.00").await.0,
        201,
        "exactly the cap"
    );
    // The third submission was the last of the day.
    let (status, body) = submit(&app, "13800138000", "0.01").await;
    assert_eq!(status, 422);
    assert_eq!(code(&body, "phone").as_deref(), Some("daily_limit"));
    // Another payer is not affected.
    assert_eq!(submit(&app, "13900139000", "9.99").await.0, 201);
    // Submissions keep a digest of the phone number, never the number.
    let digests: Vec<(Option<String>,)> = sqlx::query_as("SELECT payer_digest FROM submissions")
        .fetch_all(&app.db.pool)
        .await
        .expect("digests");
    assert!(digests.iter().all(|(d,)| d
        .as_ref()
        .is_some_and(|d| d.len() == 64 && !d.contains("138"))));
}

#[tokio::test]
async fn daily_limits_per_phone_sqlite() {
    daily_limits(app::ssr::Backend::Sqlite).await;
}

#[tokio::test]
async fn daily_limits_per_phone_postgres() {
    daily_limits(app::ssr::Backend::Postgres).await;
}

both_backends! {
    async fn blocked_phones_and_addresses_cannot_submit(app) {
        // Without limits set, a payer submits as often as they like.
        for _ in 0..4 {
            assert_eq!(submit(&app, "13900139000", "1.00").await.0, 201);
        }
        let anonymous = app.server_fn("admin_block", &[("kind", "phone"), ("value", "13900139000"), ("note", "")]).await;
        assert!(!anonymous.status().is_success());
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        for (kind, value) in [("phone", "12345"), ("address", "999.1.1.1"), ("address", "10.0.0.0/40"), ("email", "a@b.cn")] {
            let refused = app.call("admin_block", &[("kind", kind), ("value", value), ("note", "")]).await;
            assert!(refused["Refused"].is_object(), "{kind} {value}: {refused}");
        }
        assert_eq!(app.call("admin_block", &[("kind", "phone"), ("value", "+86 139-0013-9000"), ("note", "刷单")]).await, json!("Done"));
        let again = app.call("admin_block", &[("kind", "phone"), ("value", "13900139000"), ("note", "")]).await;
        assert!(again["Refused"].is_object(), "{again}");

        // A blocked phone: refused on the API, the plain form and the page's server function.
        let (status, body) = submit(&app, "13900139000", "1.00").await;
        assert_eq!((status, body["error"].clone()), (403, json!("refused")), "{body}");
        let plain = app.client.post(app.url("/f/demo")).form(&[("name", "李四"), ("phone", "13900139000"), ("amount", "1.00")]).send().await.expect("post");
        assert_eq!(plain.status(), 403);
        let answers = json!({"name": "李四", "phone": "13900139000", "amount": "1.00"}).to_string();
        assert_eq!(app.call("submit_form", &[("slug", "demo"), ("answers", &answers)]).await, json!("Blocked"));
        assert_eq!(submit(&app, "13800138000", "1.00").await.0, 201, "others still submit");

        // A block of addresses covering the client's: nothing from it, with or without a phone.
        assert_eq!(app.call("admin_block", &[("kind", "address"), ("value", "127.0.0.77/8"), ("note", "")]).await, json!("Done"));
        assert_eq!(submit(&app, "13800138000", "1.00").await.0, 403);
        let list = app.call("admin_blocklist", &[]).await;
        let values: Vec<&str> = list["entries"].as_array().expect("entries").iter().filter_map(|e| e["value"].as_str()).collect();
        assert!(values.contains(&"127.0.0.0/8") && values.contains(&"13900139000"), "{list}");
        assert_eq!(app.call("admin_unblock", &[("kind", "address"), ("value", "127.0.0.0/8")]).await, json!("Done"));
        assert_eq!(submit(&app, "13800138000", "1.00").await.0, 201);

        // The audit names the phone number masked.
        let (target, detail): (String, String) = sqlx::query_as("SELECT target, detail FROM audit_log WHERE action = 'block' AND target = 'phone'")
            .fetch_one(&app.db.pool).await.expect("audit");
        assert_eq!((target.as_str(), detail.as_str()), ("phone", "139****9000"));
    }
}

both_backends! {
    async fn a_spike_of_abandoned_payments_raises_one_alert(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let mut orders = Vec::new();
        for i in 0..11 {
            let (status, body) = submit(&app, &format!("1370000{i:04}"), "1.00").await;
            assert_eq!(status, 201);
            orders.push(body["order"]["id"].as_str().expect("order").to_owned());
        }
        // Nine given up: not yet a spike (at least ten in an hour).
        for id in &orders[..9] {
            app.call("admin_order_action", &[("id", id), ("action", "close")]).await;
        }
        assert_eq!(app::ssr::abuse::alert_on_spike(&app.db, true).await.expect("look"), None);
        for id in &orders[9..] {
            app.call("admin_order_action", &[("id", id), ("action", "close")]).await;
        }
        let spike = app::ssr::abuse::alert_on_spike(&app.db, true).await.expect("look").expect("a spike");
        assert_eq!(spike.last_hour, 11);
        // Once: the next look is quiet.
        assert_eq!(app::ssr::abuse::alert_on_spike(&app.db, true).await.expect("look"), None);
        let (mails,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM mail_outbox WHERE kind = 'admin_alert'")
            .fetch_one(&app.db.pool).await.expect("mails");
        assert_eq!(mails, 1, "one mail to the one owner");
        let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM security_events WHERE kind = 'payment_spike'")
            .fetch_one(&app.db.pool).await.expect("events");
        assert_eq!(events, 1);
    }
}

async fn proof_of_work(backend: app::ssr::Backend) {
    let app = crate::helpers::spawn_app_with(
        backend,
        &[("POW_BURST_PER_MINUTE", "3"), ("POW_BITS", "8")],
    )
    .await;
    let send = |answers: Value| {
        let app = &app;
        async move {
            let resp = app
                .client
                .post(app.url("/api/v1/forms/demo/submissions"))
                .json(&json!({ "answers": answers }))
                .send()
                .await
                .expect("submit");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let answers = || json!({"name": "张三", "amount": "1.00"});
    // Within the minute's limit, nothing is asked. (A minute may turn over
    // between two sends; the burst still counts the minute before.)
    for _ in 0..3 {
        assert_eq!(send(answers()).await.0, 201);
    }
    // The fourth: a challenge, and nothing stored.
    let (status, body) = send(answers()).await;
    assert_eq!(status, 428, "{body}");
    assert_eq!(
        (body["error"].clone(), body["bits"].clone()),
        (json!("challenge"), json!(8))
    );
    let challenge = body["challenge"].as_str().expect("challenge").to_owned();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM submissions")
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(n, 3);

    // A wrong nonce, a forged challenge: asked again.
    let nonce = app::domain::pow::solve(&challenge, 8);
    let wrong = (0..nonce)
        .find(|m| !app::domain::pow::check(&challenge, *m, 8))
        .unwrap_or(nonce + 1);
    let mut a = answers();
    a["pow.solution"] = json!(app::domain::pow::solution(&challenge, wrong));
    assert_eq!(send(a).await.0, 428);
    let forged = format!("demo.99999999999999.{}.AAAA", "0".repeat(32));
    let mut a = answers();
    a["pow.solution"] = json!(app::domain::pow::solution(
        &forged,
        app::domain::pow::solve(&forged, 8)
    ));
    assert_eq!(send(a).await.0, 428);
    let other_form = challenge.replacen("demo", "other", 1);
    let mut a = answers();
    a["pow.solution"] = json!(app::domain::pow::solution(
        &other_form,
        app::domain::pow::solve(&other_form, 8)
    ));
    assert_eq!(send(a).await.0, 428, "a challenge names its form");

    // Solved: stored; the same solution again: asked again.
    let mut a = answers();
    a["pow.solution"] = json!(app::domain::pow::solution(&challenge, nonce));
    let (status, body) = send(a.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(send(a).await.0, 428, "a solution is good once");

    // The page's server function gets the challenge too; the plain form is told to use JavaScript.
    let page = app
        .call(
            "submit_form",
            &[("slug", "demo"), ("answers", &answers().to_string())],
        )
        .await;
    assert!(page["Challenge"]["challenge"].is_string(), "{page}");
    let plain = app
        .client
        .post(app.url("/f/demo"))
        .form(&[("name", "李四"), ("amount", "1.00")])
        .send()
        .await
        .expect("post");
    assert_eq!(plain.status(), 429);
}

#[tokio::test]
async fn a_burst_asks_for_a_proof_of_work_sqlite() {
    proof_of_work(app::ssr::Backend::Sqlite).await;
}

#[tokio::test]
async fn a_burst_asks_for_a_proof_of_work_postgres() {
    proof_of_work(app::ssr::Backend::Postgres).await;
}
