//! Roles (issue 17): each role can do exactly its list and nothing else. One
//! table names every server function and every plain admin route with the
//! roles allowed, written out here independently of the code's own table; the
//! test calls each one as an owner, finance, editor, viewer and anonymous
//! visitor, and checks that the table covers every registered server function.

use crate::both_backends;
use crate::helpers::{client_of, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;

pub const PASSWORD: &str = "a long enough password";

/// Who may call it: "public", "signed in" (any role), or the roles' initials
/// (o owner, f finance, e editor, v viewer).
type Row = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const SERVER_FNS: &[Row] = &[
    // Payers and visitors.
    ("public_form", "public", &[("slug", "nope")]),
    ("form_stock", "public", &[("slug", "nope")]),
    ("regions", "public", &[("parent", "44")]),
    (
        "submit_form",
        "public",
        &[("slug", "nope"), ("answers", "{}")],
    ),
    ("pay_view", "public", &[("id", "nope")]),
    (
        "start_pay",
        "public",
        &[("id", "nope"), ("channel", "wechat_native")],
    ),
    ("check_paid", "public", &[("id", "nope")]),
    ("receipt", "public", &[("token", "nope")]),
    (
        "login",
        "public",
        &[("email", "nobody@roles.example"), ("password", "wrong")],
    ),
    ("get_admin", "public", &[]),
    ("invite_info", "public", &[("token", "nope")]),
    (
        "accept_invite",
        "public",
        &[("token", "nope"), ("password", PASSWORD)],
    ),
    // Any administrator, about themselves.
    (
        "change_password",
        "signed in",
        &[("current", "wrong"), ("new", PASSWORD)],
    ),
    ("logout", "public", &[]),
    ("my_account", "signed in", &[]),
    ("two_factor_begin", "signed in", &[]),
    ("two_factor_confirm", "signed in", &[("code", "000000")]),
    ("two_factor_disable", "signed in", &[("password", "wrong")]),
    ("revoke_session", "signed in", &[("id", "nope")]),
    // Orders and money.
    ("admin_overview", "ofv", &[]),
    ("admin_orders", "ofv", &[("page", "1")]),
    ("admin_order", "ofv", &[("id", "nope")]),
    (
        "admin_order_action",
        "of",
        &[("id", "nope"), ("action", "query")],
    ),
    (
        "admin_refund",
        "of",
        &[
            ("id", "nope"),
            ("amount", "1.00"),
            ("reason", "test"),
            ("request_key", "roles-test"),
        ],
    ),
    (
        "admin_reconcile_bill",
        "of",
        &[("date", "nope"), ("account", ""), ("provider", "wechat")],
    ),
    (
        "admin_bills",
        "ofv",
        &[("date", ""), ("account", ""), ("provider", "wechat")],
    ),
    ("admin_shares", "ofv", &[]),
    (
        "admin_add_receiver",
        "o",
        &[
            ("account", ""),
            ("kind", "MERCHANT_ID"),
            ("receiver", "bad"),
            ("name", ""),
            ("relation", "PARTNER"),
        ],
    ),
    ("admin_remove_receiver", "o", &[("id", "nope")]),
    (
        "admin_set_share",
        "o",
        &[
            ("form_id", "nope"),
            ("receiver_id", "nope"),
            ("percent", "10"),
            ("fixed", ""),
        ],
    ),
    (
        "admin_remove_share",
        "o",
        &[("form_id", "nope"), ("receiver_id", "nope")],
    ),
    (
        "admin_resolve_discrepancy",
        "of",
        &[("id", "nope"), ("note", "checked with the bank")],
    ),
    (
        "admin_stats",
        "ofv",
        &[("from", ""), ("to", ""), ("form", ""), ("days", "")],
    ),
    // Forms and submissions.
    ("admin_forms", "oev", &[]),
    ("admin_form", "oev", &[("id", "nope")]),
    ("admin_save_form", "oe", &[("def", "{}")]),
    (
        "admin_form_status",
        "oe",
        &[("id", "nope"), ("status", "closed")],
    ),
    (
        "admin_submissions",
        "oev",
        &[
            ("form_id", "nope"),
            ("page", "1"),
            ("search", ""),
            ("status", ""),
        ],
    ),
    (
        "admin_reveal",
        "oe",
        &[("submission_id", "nope"), ("key", "phone")],
    ),
    ("admin_erase_submission", "oe", &[("id", "nope")]),
    ("admin_webhooks", "oe", &[("form_id", "nope")]),
    ("admin_discount_codes", "oev", &[("form_id", "nope")]),
    ("admin_form_insights", "oev", &[("form_id", "nope")]),
    ("admin_blocklist", "oe", &[]),
    (
        "admin_block",
        "oe",
        &[("kind", "address"), ("value", "192.0.2.1"), ("note", "")],
    ),
    (
        "admin_unblock",
        "oe",
        &[("kind", "address"), ("value", "192.0.2.1")],
    ),
    (
        "admin_add_discount_code",
        "oe",
        &[
            ("form_id", "nope"),
            ("code", "ABC"),
            ("kind", "percent"),
            ("value", "10"),
            ("max_uses", ""),
            ("expires_at", ""),
        ],
    ),
    (
        "admin_remove_discount_code",
        "oe",
        &[("form_id", "nope"), ("id", "nope")],
    ),
    (
        "admin_add_webhook",
        "oe",
        &[("form_id", "nope"), ("url", "https://hooks.example.com/")],
    ),
    (
        "admin_remove_webhook",
        "oe",
        &[("form_id", "nope"), ("id", "nope")],
    ),
    (
        "admin_resend_webhook",
        "oe",
        &[("form_id", "nope"), ("id", "nope")],
    ),
    // Receiving accounts, the audit log, people: owners only.
    ("admin_accounts", "o", &[]),
    (
        "admin_save_account",
        "o",
        &[("input[name]", ""), ("input[kind]", "nope")],
    ),
    (
        "admin_account_enabled",
        "o",
        &[("id", "nope"), ("enabled", "true")],
    ),
    (
        "admin_form_account",
        "o",
        &[("form_id", "nope"), ("account_id", "")],
    ),
    ("admin_test_account", "o", &[("id", "nope")]),
    ("admin_audit", "o", &[("page", "1")]),
    ("admin_security", "o", &[]),
    ("admin_mail_log", "o", &[]),
    ("admin_people", "o", &[]),
    (
        "admin_invite",
        "o",
        &[("email", "someone@roles.example"), ("role", "viewer")],
    ),
    ("admin_revoke_invite", "o", &[("id", "nope")]),
    ("admin_set_role", "o", &[("id", "nope"), ("role", "viewer")]),
    (
        "admin_set_disabled",
        "o",
        &[("id", "nope"), ("disabled", "true")],
    ),
    ("admin_reset_two_factor", "o", &[("id", "nope")]),
];

/// The plain admin routes (GET), with the roles allowed.
const ROUTES: &[(&str, &str)] = &[
    ("/admin/orders.csv", "of"),
    ("/admin/refunds.csv", "of"),
    (
        "/admin/bills.csv?date=2026-12-01&account=&provider=wechat",
        "of",
    ),
    ("/admin/forms/nope/submissions.csv", "oe"),
    ("/admin/payer.json?q=13800138000", "oe"),
    ("/admin/uploads/00000000000000000000000000000000", "oe"),
];

/// Invites `email` with `role` as the owner, joins from the link with a
/// fresh browser, and signs in there; returns that browser.
pub async fn join_as(app: &TestApp, email: &str, role: &str) -> reqwest::Client {
    let invited = app
        .call("admin_invite", &[("email", email), ("role", role)])
        .await;
    let link = invited["Invited"]["link"]
        .as_str()
        .expect("an invitation link")
        .to_owned();
    let token = link.rsplit('/').next().expect("token").to_owned();
    let browser = client_of(&app.address);
    let info: Value = browser
        .post(app.url("/api/invite_info"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("invite_info")
        .json()
        .await
        .expect("json");
    assert_eq!(info, serde_json::json!([email, role]));
    let joined = browser
        .post(app.url("/api/accept_invite"))
        .form(&[("token", token.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .expect("accept_invite")
        .text()
        .await
        .expect("body");
    assert_eq!(joined, "\"Joined\"");
    let login = browser
        .post(app.url("/api/login"))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("body");
    assert_eq!(login, "\"LoggedIn\"", "{email} signs in");
    browser
}

fn allowed(who: &str, initial: char) -> bool {
    match who {
        "public" => true,
        "signed in" => initial != '-',
        roles => roles.contains(initial),
    }
}

both_backends! {
    async fn each_role_can_do_exactly_its_list(app) {
        // The table names every server function there is.
        let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| path.trim_start_matches("/api/").to_owned())
            .collect();
        let listed: BTreeSet<String> = SERVER_FNS.iter().map(|r| r.0.to_owned()).collect();
        assert_eq!(registered, listed, "every server function has a row (and no row is stale)");

        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let mut people: Vec<(char, reqwest::Client)> = vec![('o', app.client.clone())];
        for (initial, role) in [('f', "finance"), ('e', "editor"), ('v', "viewer")] {
            people.push((initial, join_as(&app, &format!("{role}@roles.example"), role).await));
        }
        people.push(('-', client_of(&app.address)));

        let mut checked = 0;
        for (initial, browser) in &people {
            // `logout` last: it ends the session the other rows use.
            let rows = SERVER_FNS.iter().filter(|r| r.0 != "logout").chain(SERVER_FNS.iter().filter(|r| r.0 == "logout"));
            for (name, who, args) in rows {
                let resp = browser.post(app.url(&format!("/api/{name}"))).form(args).send().await.expect("call");
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                if allowed(who, *initial) {
                    assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN && status != StatusCode::BAD_REQUEST,
                        "{name} as {initial}: allowed, got {status} {body}"
                    );
                } else if *initial == '-' {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{name} anonymous: {body}");
                    assert!(body.contains("sign in first"), "{name}: {body}");
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{name} as {initial}: {body}");
                    assert!(body.contains("your role does not allow this"), "{name}: {body}");
                }
                checked += 1;
            }
        }
        // The plain routes, with fresh sessions (the loop above logged out).
        let mut people: Vec<(char, reqwest::Client)> = Vec::new();
        let owner = client_of(&app.address);
        owner.post(app.url("/api/login")).form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]).send().await.expect("login");
        people.push(('o', owner));
        for (initial, role) in [('f', "finance"), ('e', "editor"), ('v', "viewer")] {
            let b = client_of(&app.address);
            let said = b.post(app.url("/api/login")).form(&[("email", format!("{role}@roles.example").as_str()), ("password", PASSWORD)])
                .send().await.expect("login").text().await.unwrap_or_default();
            assert_eq!(said, "\"LoggedIn\"");
            people.push((initial, b));
        }
        people.push(('-', client_of(&app.address)));
        for (initial, browser) in &people {
            for (path, who) in ROUTES {
                let status = browser.get(app.url(path)).send().await.expect("get").status();
                if allowed(who, *initial) {
                    assert!(status.is_success() || status == StatusCode::NOT_FOUND, "{path} as {initial}: {status}");
                } else if *initial == '-' {
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} anonymous");
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{path} as {initial}");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 5 * (SERVER_FNS.len() + ROUTES.len()));
    }
}
