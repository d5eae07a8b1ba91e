//! Administrators (issue 17): invitations, roles that change at once,
//! disabling, two-factor login with one-time codes and recovery codes, the
//! list of one's sessions, a form's privacy notice and the consent it records,
//! masked phone numbers with an audited reveal, and the audit of all of it.

use crate::both_backends;
use crate::helpers::{client_of, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::roles::{join_as, PASSWORD};
use serde_json::{json, Value};

async fn call_as(
    app: &TestApp,
    browser: &reqwest::Client,
    name: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let resp = browser
        .post(app.url(&format!("/api/{name}")))
        .form(form)
        .send()
        .await
        .expect("call");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

async fn login_as(
    app: &TestApp,
    browser: &reqwest::Client,
    email: &str,
    password: &str,
    code: Option<&str>,
) -> String {
    let mut form = vec![("email", email), ("password", password)];
    if let Some(c) = code {
        form.push(("code", c));
    }
    call_as(app, browser, "login", &form).await.1
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT action, admin_email, target FROM audit_log ORDER BY created_at, id")
        .fetch_all(&app.db.pool)
        .await
        .expect("audit")
}

async fn admin_id(app: &TestApp, email: &str) -> String {
    let (id,): (String,) = sqlx::query_as("SELECT id FROM admins WHERE email = $1")
        .bind(email)
        .fetch_one(&app.db.pool)
        .await
        .expect("admin");
    id
}

both_backends! {
    async fn invitations_roles_and_disabling(app) {
        assert_eq!(login_as(&app, &app.client, ADMIN_EMAIL, "wrong password", None).await, "\"WrongCredentials\"");
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let owner_id = admin_id(&app, ADMIN_EMAIL).await;

        // An invitation works once.
        let invited = app.call("admin_invite", &[("email", "ed@people.example"), ("role", "editor")]).await;
        let link = invited["Invited"]["link"].as_str().expect("link").to_owned();
        assert!(link.starts_with(&app.address) && link.contains("/admin/invite/"), "{link}");
        let token = link.rsplit('/').next().expect("token");
        let stranger = client_of(&app.address);
        let short = call_as(&app, &stranger, "accept_invite", &[("token", token), ("password", "short")]).await.1;
        assert_eq!(short, "\"BadPassword\"");
        assert_eq!(call_as(&app, &stranger, "accept_invite", &[("token", token), ("password", PASSWORD)]).await.1, "\"Joined\"");
        assert_eq!(call_as(&app, &stranger, "accept_invite", &[("token", token), ("password", PASSWORD)]).await.1, "\"BadInvite\"", "used up");
        assert_eq!(call_as(&app, &stranger, "invite_info", &[("token", token)]).await.1, "null");
        // Someone already in cannot be invited again.
        let again = app.call("admin_invite", &[("email", "ed@people.example"), ("role", "viewer")]).await;
        assert!(again["Refused"]["message"].as_str().is_some(), "{again}");
        // A pending invitation can be withdrawn.
        app.call("admin_invite", &[("email", "late@people.example"), ("role", "viewer")]).await;
        let people = app.call("admin_people", &[]).await;
        let pending = people["invites"].as_array().expect("invites");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0]["email"], "late@people.example");
        let hash = pending[0]["id"].as_str().expect("id").to_owned();
        assert_eq!(app.call("admin_revoke_invite", &[("id", &hash)]).await, json!("Done"));
        assert_eq!(app.call("admin_people", &[]).await["invites"], json!([]));

        let ed = client_of(&app.address);
        assert_eq!(login_as(&app, &ed, "ed@people.example", PASSWORD, None).await, "\"LoggedIn\"");
        let me: Value = serde_json::from_str(&call_as(&app, &ed, "get_admin", &[]).await.1).expect("json");
        assert_eq!(me["role"], "editor");
        let ed_id = admin_id(&app, "ed@people.example").await;

        // The last owner stays an active owner.
        let demote = app.call("admin_set_role", &[("id", &owner_id), ("role", "viewer")]).await;
        assert!(demote["Refused"]["message"].as_str().expect("refused").contains("last owner"));
        let disable_self = app.call("admin_set_disabled", &[("id", &owner_id), ("disabled", "true")]).await;
        assert!(disable_self["Refused"]["message"].as_str().expect("refused").contains("yourself"));

        // A new role applies to the sessions already open.
        assert_eq!(call_as(&app, &ed, "admin_orders", &[("page", "1")]).await.0, 403);
        assert_eq!(app.call("admin_set_role", &[("id", &ed_id), ("role", "finance")]).await, json!("Done"));
        assert_eq!(call_as(&app, &ed, "admin_orders", &[("page", "1")]).await.0, 200);
        assert_eq!(call_as(&app, &ed, "admin_forms", &[]).await.0, 403);

        // Disabled: the sessions end and the right password says so.
        assert_eq!(app.call("admin_set_disabled", &[("id", &ed_id), ("disabled", "true")]).await, json!("Done"));
        assert_eq!(call_as(&app, &ed, "get_admin", &[]).await.1, "null");
        assert_eq!(login_as(&app, &ed, "ed@people.example", PASSWORD, None).await, "\"Disabled\"");
        assert_eq!(login_as(&app, &ed, "ed@people.example", "not the password", None).await, "\"WrongCredentials\"");
        assert_eq!(app.call("admin_set_disabled", &[("id", &ed_id), ("disabled", "false")]).await, json!("Done"));
        assert_eq!(login_as(&app, &ed, "ed@people.example", PASSWORD, None).await, "\"LoggedIn\"");
        // Two owners: now one may step down.
        assert_eq!(app.call("admin_set_role", &[("id", &ed_id), ("role", "owner")]).await, json!("Done"));
        assert_eq!(app.call("admin_set_role", &[("id", &owner_id), ("role", "viewer")]).await, json!("Done"));
        assert_eq!(call_as(&app, &app.client, "admin_people", &[]).await.0, 403);

        let audit = audit_actions(&app).await;
        let has = |action: &str, target: &str| audit.iter().any(|(a, _, t)| a == action && t == target);
        assert!(has("login_failed", ADMIN_EMAIL), "{audit:?}");
        assert!(has("login", ADMIN_EMAIL));
        assert!(has("invite_admin", "ed@people.example"));
        assert!(has("join_admin", "ed@people.example"));
        assert!(has("revoke_invite", "late@people.example"));
        assert!(has("change_role", "ed@people.example"));
        assert!(has("disable_admin", "ed@people.example"));
        assert!(has("enable_admin", "ed@people.example"));
        assert!(has("login_failed", "ed@people.example"), "the disabled login");
        assert!(has("change_role", ADMIN_EMAIL));
    }

    async fn two_factor_login_and_sessions(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let other = client_of(&app.address);
        assert_eq!(login_as(&app, &other, ADMIN_EMAIL, ADMIN_PASSWORD, None).await, "\"LoggedIn\"");

        let setup = app.call("two_factor_begin", &[]).await;
        let secret = setup["Setup"]["secret"].as_str().expect("secret").to_owned();
        assert!(setup["Setup"]["uri"].as_str().expect("uri").starts_with("otpauth://totp/"));
        assert_eq!(app.call("two_factor_confirm", &[("code", "000000")]).await, json!("WrongCode"));
        let now = formpay_core::auth::code_for(&secret, 0).expect("code");
        let on = app.call("two_factor_confirm", &[("code", &now)]).await;
        let codes: Vec<String> = on["On"]["recovery_codes"].as_array().expect("codes").iter().map(|c| c.as_str().expect("code").to_owned()).collect();
        assert_eq!(codes.len(), 10);
        // The secret is sealed, never stored as it is.
        let (sealed,): (String,) = sqlx::query_as("SELECT totp_sealed FROM admins WHERE email = $1").bind(ADMIN_EMAIL).fetch_one(&app.db.pool).await.expect("sealed");
        assert!(!sealed.contains(&secret));

        let fresh = client_of(&app.address);
        assert_eq!(login_as(&app, &fresh, ADMIN_EMAIL, ADMIN_PASSWORD, None).await, "\"CodeRequired\"");
        assert_eq!(call_as(&app, &fresh, "get_admin", &[]).await.1, "null", "no session before the code");
        assert_eq!(login_as(&app, &fresh, ADMIN_EMAIL, "wrong password", Some("123456")).await, "\"WrongCredentials\"");
        assert_eq!(login_as(&app, &fresh, ADMIN_EMAIL, ADMIN_PASSWORD, Some("123456")).await, "\"WrongCode\"");
        assert_eq!(login_as(&app, &fresh, ADMIN_EMAIL, ADMIN_PASSWORD, Some(&now)).await, "\"WrongCode\"", "the code that confirmed is used");
        let next = formpay_core::auth::code_for(&secret, 1).expect("code");
        assert_eq!(login_as(&app, &fresh, ADMIN_EMAIL, ADMIN_PASSWORD, Some(&next)).await, "\"LoggedIn\"");
        let replay = client_of(&app.address);
        assert_eq!(login_as(&app, &replay, ADMIN_EMAIL, ADMIN_PASSWORD, Some(&next)).await, "\"WrongCode\"", "a code works once");
        assert_eq!(login_as(&app, &replay, ADMIN_EMAIL, ADMIN_PASSWORD, Some(&codes[0].to_uppercase())).await, "\"LoggedIn\"", "a recovery code");
        let again = client_of(&app.address);
        assert_eq!(login_as(&app, &again, ADMIN_EMAIL, ADMIN_PASSWORD, Some(&codes[0])).await, "\"WrongCode\"", "a recovery code works once");
        assert_eq!(app.call("my_account", &[]).await["recovery_left"], 9);

        // The sessions: this one, `other`, `fresh`, `replay`. End all but this one.
        let me = app.call("my_account", &[]).await;
        let sessions = me["sessions"].as_array().expect("sessions").clone();
        assert_eq!(sessions.len(), 4, "{sessions:?}");
        assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
        assert!(sessions.iter().all(|s| s["address"] == "127.0.0.1"));
        for s in sessions.iter().filter(|s| s["current"] == false) {
            assert_eq!(app.call("revoke_session", &[("id", s["id"].as_str().expect("id"))]).await, json!(true));
        }
        for b in [&other, &fresh, &replay] {
            assert_eq!(call_as(&app, b, "get_admin", &[]).await.1, "null", "ended");
        }
        assert_eq!(app.call("revoke_session", &[("id", "not-a-session-of-mine")]).await, json!(false));

        // Turning it off asks for the password.
        let back = client_of(&app.address);
        assert_eq!(login_as(&app, &back, ADMIN_EMAIL, ADMIN_PASSWORD, Some(&formpay_core::auth::code_for(&secret, -1).expect("code"))).await, "\"WrongCode\"", "older than the last used step");
        assert_eq!(login_as(&app, &back, ADMIN_EMAIL, ADMIN_PASSWORD, Some(&codes[1])).await, "\"LoggedIn\"");
        assert_eq!(call_as(&app, &back, "two_factor_disable", &[("password", "wrong")]).await.1, "\"WrongPassword\"");
        assert_eq!(call_as(&app, &back, "two_factor_disable", &[("password", ADMIN_PASSWORD)]).await.1, "\"Off\"");
        assert_eq!(login_as(&app, &client_of(&app.address), ADMIN_EMAIL, ADMIN_PASSWORD, None).await, "\"LoggedIn\"");

        let audit = audit_actions(&app).await;
        for action in ["enable_two_factor", "revoke_session", "disable_two_factor", "login_failed", "login"] {
            assert!(audit.iter().any(|(a, _, _)| a == action), "{action}: {audit:?}");
        }
    }

    async fn a_privacy_notice_needs_consent_and_phone_numbers_are_masked(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let notice = "我们仅将您的手机号用于活动联系，保存 30 天。";
        let def = json!({
            "slug": "consent", "title": "Consent", "description": "",
            "fields": [
                {"key": "name", "label": "姓名", "required": true, "type": "short_text"},
                {"key": "phone", "label": "手机", "required": true, "type": "phone"}
            ],
            "success_message": "ok", "retention_days": 30, "privacy_notice": notice
        });
        let saved = app.call("admin_save_form", &[("def", &def.to_string())]).await;
        let form_id = saved["Saved"]["id"].as_str().expect("saved").to_owned();
        app.call("admin_save_form", &[("id", &form_id), ("def", &def.to_string())]).await;
        assert_eq!(app.call("admin_form_status", &[("id", &form_id), ("status", "published")]).await, json!(true));
        let public = app.call("public_form", &[("slug", "consent")]).await;
        assert_eq!(public["privacy_notice"], notice);

        let submit = |answers: Value| {
            let app = &app;
            async move {
                app.client.post(app.url("/api/v1/forms/consent/submissions")).json(&json!({"answers": answers})).send().await.expect("submit")
            }
        };
        let refused = submit(json!({"name": "张三", "phone": "13800138000"})).await;
        assert_eq!(refused.status(), 422);
        let body: Value = refused.json().await.expect("json");
        assert!(body.to_string().contains("privacy.consent"), "{body}");
        let said_no = submit(json!({"name": "张三", "phone": "13800138000", "privacy.consent": false})).await;
        assert_eq!(said_no.status(), 422);
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM submissions").fetch_one(&app.db.pool).await.expect("count");
        assert_eq!(n, 0, "nothing stored without consent");
        let ok = submit(json!({"name": "张三", "phone": "13800138000", "privacy.consent": true})).await;
        assert_eq!(ok.status(), 201);
        let (consent_at, consent_notice): (Option<i64>, Option<String>) =
            sqlx::query_as("SELECT consent_at, consent_notice FROM submissions").fetch_one(&app.db.pool).await.expect("row");
        assert!(consent_at.is_some());
        let hash = consent_notice.expect("the notice agreed to");
        let (body,): (String,) = sqlx::query_as("SELECT body FROM privacy_notices WHERE sha256 = $1").bind(&hash).fetch_one(&app.db.pool).await.expect("kept");
        assert_eq!(body, notice);
        // The plain (no-JavaScript) form needs the box ticked too.
        let plain = app.client.post(app.url("/f/consent")).form(&[("name", "李四"), ("phone", "13900139000")]).send().await.expect("plain");
        assert!(plain.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().contains("privacy.consent"));
        let plain = app.client.post(app.url("/f/consent")).form(&[("name", "李四"), ("phone", "13900139000"), ("privacy.consent", "yes")]).send().await.expect("plain");
        let location = plain.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
        assert!(location.contains("submitted"), "{} {location}", plain.status());

        // Lists show the number masked; a reveal shows it and is audited.
        let list = app.call("admin_submissions", &[("form_id", &form_id), ("page", "1"), ("search", ""), ("status", "")]).await.to_string();
        assert!(list.contains("138****8000") && !list.contains("13800138000"), "{list}");
        let (sub,): (String,) = sqlx::query_as("SELECT id FROM submissions WHERE consent_at IS NOT NULL ORDER BY created_at LIMIT 1").fetch_one(&app.db.pool).await.expect("sub");
        let viewer = join_as(&app, "viewer@people.example", "viewer").await;
        let (status, _) = call_as(&app, &viewer, "admin_reveal", &[("submission_id", &sub), ("key", "phone")]).await;
        assert_eq!(status, 403);
        let viewer_list = call_as(&app, &viewer, "admin_submissions", &[("form_id", &form_id), ("page", "1"), ("search", ""), ("status", "")]).await.1;
        assert!(viewer_list.contains("138****8000") && !viewer_list.contains("13800138000"));
        assert_eq!(app.call("admin_reveal", &[("submission_id", &sub), ("key", "phone")]).await, json!("13800138000"));

        let audit = audit_actions(&app).await;
        let has = |action: &str, target: &str| audit.iter().any(|(a, _, t)| a == action && t == target);
        assert!(has("create_form", &form_id), "{audit:?}");
        assert!(has("edit_form", &form_id));
        assert!(has("form_status", &form_id));
        assert!(has("reveal_personal_data", &sub));
        assert!(!audit.iter().any(|(a, e, _)| a == "reveal_personal_data" && e == "viewer@people.example"), "a refused reveal shows nothing");
        // Exports of personal data are audited too.
        let csv = app.client.get(app.url(&format!("/admin/forms/{form_id}/submissions.csv"))).send().await.expect("csv");
        assert_eq!(csv.status(), 200);
        assert!(audit_actions(&app).await.iter().any(|(a, _, t)| a == "export_submissions" && t == &form_id));
    }
}
