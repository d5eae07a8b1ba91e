//! Issue 10: no order turns paid without money, and a careless deployment
//! opens nothing. One test (or more) per finding, each failing on the code
//! before the fix.

use crate::both_backends;
use crate::flow::{order_status, pay, submit_demo, wait_status};
use crate::helpers::{client, spawn_app_with, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use app::ssr::Backend;
use serde_json::{json, Value};
use simulator::{dev_keys, SimProvider};
use sqlx::Row;
use std::time::Duration;

pub(crate) async fn save_account(app: &TestApp, fields: &[(&str, &str)]) -> String {
    let form: Vec<(String, &str)> = fields
        .iter()
        .map(|(k, v)| match *k {
            "id" | "name" | "kind" => (format!("input[{k}]"), *v),
            other => (format!("input[values][{other}]"), *v),
        })
        .collect();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let saved = app.call("admin_save_account", &pairs).await;
    saved["Saved"]
        .as_str()
        .unwrap_or_else(|| panic!("saved: {saved}"))
        .to_owned()
}

/// A receiving account of `kind` played by the simulator (its public keys).
pub(crate) async fn simulated_account(app: &TestApp, name: &str, kind: &str) -> String {
    let wechat = app.simulator_base.join("wechat/").expect("url").to_string();
    let alipay = app
        .simulator_base
        .join("alipay/gateway.do")
        .expect("url")
        .to_string();
    match kind {
        "wechat_v3" => {
            save_account(
                app,
                &[
                    ("name", name),
                    ("kind", "wechat_v3"),
                    ("app_id", dev_keys::WECHAT_APP_ID),
                    ("mch_id", dev_keys::WECHAT_MCH_ID),
                    ("serial_no", dev_keys::WECHAT_MERCHANT_SERIAL),
                    ("platform_key_id", dev_keys::WECHAT_PUBLIC_KEY_ID),
                    ("platform_public_key", dev_keys::WECHAT_PLATFORM_PUB),
                    ("api_base", &wechat),
                    ("private_key", dev_keys::WECHAT_MERCHANT_KEY),
                    ("apiv3_key", dev_keys::WECHAT_APIV3_KEY),
                ],
            )
            .await
        }
        "wechat_v2" => {
            save_account(
                app,
                &[
                    ("name", name),
                    ("kind", "wechat_v2"),
                    ("app_id", dev_keys::WECHAT_APP_ID),
                    ("mch_id", dev_keys::WECHAT_MCH_ID),
                    ("api_base", &wechat),
                    ("v2_key", dev_keys::WECHAT_V2_KEY),
                ],
            )
            .await
        }
        _ => {
            save_account(
                app,
                &[
                    ("name", name),
                    ("kind", "alipay"),
                    ("app_id", dev_keys::ALIPAY_APP_ID),
                    ("alipay_public_key", dev_keys::ALIPAY_PLATFORM_PUB),
                    ("seller_id", dev_keys::ALIPAY_SELLER_ID),
                    ("api_base", &alipay),
                    ("private_key", dev_keys::ALIPAY_APP_KEY),
                ],
            )
            .await
        }
    }
}

async fn demo_form_id(app: &TestApp) -> String {
    sqlx::query("SELECT id FROM forms WHERE slug = 'demo'")
        .fetch_one(&app.db.pool)
        .await
        .expect("demo")
        .get("id")
}

pub(crate) async fn use_account(app: &TestApp, account: &str) {
    let form = demo_form_id(app).await;
    let done = app
        .call(
            "admin_form_account",
            &[("form_id", &form), ("account_id", account)],
        )
        .await;
    assert!(done.get("Saved").is_some(), "{done}");
}

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query(sql)
        .bind(bind)
        .fetch_one(&app.db.pool)
        .await
        .expect("count")
        .get::<i64, _>("n")
}

async fn post_to(
    app: &TestApp,
    path: &str,
    headers: &[(&'static str, String)],
    body: String,
    content_type: &str,
) -> reqwest::Response {
    let mut req = client()
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.send().await.expect("callback")
}

/// A callback for `no`, exactly as the provider of `kind` would send it,
/// signed with the (shared, public) development keys.
fn forged(
    app: &TestApp,
    kind: &str,
    no: &str,
    fen: i64,
) -> (String, Vec<(&'static str, String)>, String, &'static str) {
    match kind {
        "wechat_v3" => {
            let (h, b) = simulator::signed_wechat_callback(no, fen, dev_keys::WECHAT_MCH_ID);
            ("/payment/wechat/notify".into(), h, b, "application/json")
        }
        "wechat_v2" => (
            "/payment/wechat/v2/notify".into(),
            Vec::new(),
            simulator::signed_wechat_v2_callback(no, fen),
            "text/xml",
        ),
        _ => (
            "/payment/alipay/notify".into(),
            Vec::new(),
            app.simulator
                .as_ref()
                .expect("simulator")
                .signed_alipay_notify(no, fen, &[]),
            "application/x-www-form-urlencoded",
        ),
    }
}

/// Finding 1: a payment verified with one receiving account's keys, posted to
/// its route, never settles an order of another account (nor of the
/// environment's); it is a security event, not a message on the victim's order.
async fn another_accounts_callback_never_settles(app: &TestApp, kind: &str) {
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let attacker = simulated_account(app, "攻击者的账户", kind).await;
    let victim = simulated_account(app, "受害者的账户", kind).await;
    use_account(app, &victim).await;
    let sim = app.simulator.clone().expect("simulator");
    sim.set_delivery(false);
    let order = submit_demo(app, "8.00").await;
    let id = order["id"].as_str().expect("id").to_owned();
    let no = order["out_trade_no"].as_str().expect("no").to_owned();
    let channel = if kind == "alipay" {
        "alipay_qr"
    } else {
        "wechat_native"
    };
    pay(app, &id, channel).await;

    let (route, headers, body, ct) = forged(app, kind, &no, 800);
    for path in [format!("{route}/{attacker}"), route.clone()] {
        let resp = post_to(app, &path, &headers, body.clone(), ct).await;
        assert!(!resp.status().is_success(), "{path} must be refused");
        assert_eq!(
            order_status(app, &id).await,
            "pending",
            "{path} changed nothing"
        );
    }
    // The environment's account has no v2 route at all (404): no event there.
    let events = if kind == "wechat_v2" { 1 } else { 2 };
    assert_eq!(
        count(app, "SELECT COUNT(*) AS n FROM security_events WHERE kind = 'foreign_account_callback' AND detail LIKE $1", &format!("%{no}%")).await,
        events,
        "each attempt is a security event"
    );
    assert_eq!(
        count(
            app,
            "SELECT COUNT(*) AS n FROM payment_log WHERE out_trade_no = $1 AND direction = 'in'",
            &no
        )
        .await,
        0,
        "nothing is written on the victim's order"
    );
    assert_eq!(
        count(app, "SELECT COUNT(*) AS n FROM order_events WHERE order_id = $1 AND kind = 'rejected_report'", &id).await,
        0
    );
    // Through the order's own account the same message settles it.
    let resp = post_to(app, &format!("{route}/{victim}"), &headers, body, ct).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    wait_status(app, &id, "paid").await;
    let security = app.call("admin_security", &[]).await;
    assert_eq!(
        security["events"].as_array().map(Vec::len),
        Some(events as usize)
    );
}

both_backends! {
    async fn a_wechat_v3_callback_of_one_account_never_settles_another(app) {
        another_accounts_callback_never_settles(&app, "wechat_v3").await;
    }

    async fn a_wechat_v2_callback_of_one_account_never_settles_another(app) {
        another_accounts_callback_never_settles(&app, "wechat_v2").await;
    }

    async fn an_alipay_notification_of_one_account_never_settles_another(app) {
        another_accounts_callback_never_settles(&app, "alipay").await;
    }

    async fn a_refund_callback_of_one_account_never_changes_another_accounts_refund(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let attacker = simulated_account(&app, "攻击者", "wechat_v3").await;
        let victim = simulated_account(&app, "受害者", "wechat_v3").await;
        use_account(&app, &victim).await;
        let sim = app.simulator.clone().expect("simulator");
        let order = submit_demo(&app, "5.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let no = order["out_trade_no"].as_str().expect("no").to_owned();
        pay(&app, &id, "wechat_native").await;
        sim.pay(SimProvider::Wechat, &no).expect("paid");
        wait_status(&app, &id, "paid").await;
        // The refund stays processing: its callback is held back.
        sim.set_delivery(false);
        let asked = app.call("admin_refund", &[("id", id.as_str()), ("amount", "5.00"), ("reason", "退费"), ("request_key", "trust-refund-0001")]).await;
        assert!(asked.get("Done").is_some(), "{asked}");
        let out_refund_no: String = sqlx::query("SELECT out_refund_no FROM refunds WHERE order_id = $1")
            .bind(&id).fetch_one(&app.db.pool).await.expect("refund").get("out_refund_no");
        // A forged REFUND.CLOSED would free the reservation for a second refund.
        let (headers, body) = simulator::signed_wechat_refund_callback(&no, &out_refund_no, 500, "CLOSED");
        for path in [format!("/payment/wechat/notify/{attacker}"), "/payment/wechat/notify".to_owned()] {
            let resp = post_to(&app, &path, &headers, body.clone(), "application/json").await;
            assert!(!resp.status().is_success(), "{path}");
        }
        let row = sqlx::query("SELECT refund_reserved_fen FROM orders WHERE id = $1").bind(&id).fetch_one(&app.db.pool).await.expect("order");
        assert_eq!(row.get::<i64, _>("refund_reserved_fen"), 500, "still reserved");
        let status: String = sqlx::query("SELECT status FROM refunds WHERE order_id = $1").bind(&id).fetch_one(&app.db.pool).await.expect("refund").get("status");
        assert_eq!(status, "processing");
        assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM security_events WHERE detail LIKE $1", &format!("%{out_refund_no}%")).await, 2);
        // A second refund cannot be asked meanwhile.
        let again = app.call("admin_refund", &[("id", id.as_str()), ("amount", "5.00"), ("reason", "退费"), ("request_key", "trust-refund-0002")]).await;
        assert!(again.get("ExceedsRemaining").is_some(), "{again}");
    }

    async fn starting_a_payment_at_once_makes_one_provider_order(app) {
        let order = submit_demo(&app, "3.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let mut calls = Vec::new();
        for i in 0..8 {
            let channel = if i % 2 == 0 { "wechat_native" } else { "alipay_qr" };
            let c = app.client.clone();
            let url = app.url(&format!("/api/v1/orders/{id}/pay"));
            calls.push(tokio::spawn(async move {
                c.post(url).json(&json!({"channel": channel})).send().await.expect("pay").status().as_u16()
            }));
        }
        for c in calls {
            let status = c.await.expect("task");
            assert!(status == 200 || status == 409, "{status}");
        }
        let open = count(&app, "SELECT COUNT(*) AS n FROM payment_attempts WHERE order_id = $1 AND state = 'open'", &id).await;
        assert_eq!(open, 1, "one open provider order at a time");
    }

    // Finding 7: whatever the number of payers pressing "I have paid", the
    // provider is asked at most once per 5 seconds.
    async fn payers_cannot_make_us_query_the_provider_in_a_loop(app) {
        let sim = app.simulator.clone().expect("simulator");
        let order = submit_demo(&app, "1.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        pay(&app, &id, "wechat_native").await;
        let before = sim.stats().queries;
        let mut calls = Vec::new();
        for _ in 0..20 {
            let c = app.client.clone();
            let url = app.url(&format!("/api/v1/orders/{id}/check"));
            calls.push(tokio::spawn(async move { c.post(url).send().await.expect("check").status().as_u16() }));
        }
        for c in calls {
            assert_eq!(c.await.expect("task"), 200);
        }
        let asked = sim.stats().queries - before;
        assert!(asked <= 2, "{asked} queries for 20 checks (one, plus at most the reconciler's)");
    }

    // Finding 8: a callback that fails verification is never attached to an
    // order, whatever out_trade_no it names; it is counted, kept apart, bounded.
    async fn unverified_callbacks_are_never_attached_to_an_order(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let order = submit_demo(&app, "2.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let no = order["out_trade_no"].as_str().expect("no").to_owned();
        pay(&app, &id, "wechat_native").await;
        let (mut headers, body) = simulator::signed_wechat_callback(&no, 200, dev_keys::WECHAT_MCH_ID);
        for (k, v) in headers.iter_mut() {
            if *k == "wechatpay-signature" {
                let first = if v.starts_with('A') { "B" } else { "A" };
                v.replace_range(..1, first);
            }
        }
        for _ in 0..300 {
            let resp = post_to(&app, "/payment/wechat/notify", &headers, body.clone(), "application/json").await;
            assert!(!resp.status().is_success());
        }
        assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM payment_log WHERE direction = 'in' AND out_trade_no = $1", &no).await, 0);
        assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM payment_log WHERE direction = $1", "in").await, 0);
        assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM order_events WHERE order_id = $1 AND kind LIKE 'rejected%'", &id).await, 0);
        assert_eq!(order_status(&app, &id).await, "pending");
        let security = app.call("admin_security", &[]).await;
        assert_eq!(security["rejected_total"], 300);
        assert!(security["rejected"].as_array().expect("kept").len() <= 200, "bounded");
    }

    // Finding 9: a write with an administrator's session must name our origin.
    async fn a_write_with_a_session_must_name_our_origin(app) {
        let resp = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let cookie = resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("fp_session=")).and_then(|c| c.split(';').next()).expect("session").to_owned();
        let bare = client();
        let with = |origin: Option<(&'static str, String)>| {
            let mut req = bare.post(app.url("/api/get_admin")).header("cookie", &cookie).form(&[("", "")]);
            if let Some((k, v)) = origin {
                req = req.header(k, v);
            }
            req.send()
        };
        assert_eq!(with(None).await.expect("post").status(), 403, "neither Origin nor Referer");
        assert_eq!(with(Some(("origin", "https://evil.example".into()))).await.expect("post").status(), 403);
        assert_eq!(with(Some(("origin", app.address.replace("http://", "https://")))).await.expect("post").status(), 403, "the scheme counts");
        assert_eq!(with(Some(("referer", app.url("/admin/orders")))).await.expect("post").status(), 200);
        assert_eq!(with(Some(("origin", app.address.clone()))).await.expect("post").status(), 200);
        // The public API stays usable by programs without cookies.
        let api = bare.post(app.url("/api/v1/forms/demo/submissions"))
            .json(&json!({"answers": {"name": "程序", "amount": "1.00"}})).send().await.expect("submit");
        assert_eq!(api.status(), 201);
    }

    async fn pages_carry_security_headers_and_their_scripts_the_nonce(app) {
        let resp = app.client.get(app.url("/f/demo")).send().await.expect("page");
        let header = |r: &reqwest::Response, n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let csp = header(&resp, "content-security-policy");
        assert!(csp.contains("'wasm-unsafe-eval'") && csp.contains("script-src 'self' 'nonce-"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
        assert_eq!(header(&resp, "referrer-policy"), "same-origin");
        let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).expect("nonce").to_owned();
        let html = resp.text().await.expect("html");
        let scripts = html.matches("<script").count();
        assert!(scripts > 0);
        // The style sheet is in the page (a phone paints sooner), under the same nonce.
        assert!(csp.contains(&format!("style-src 'self' 'nonce-{nonce}'")), "{csp}");
        let styles = html.matches("<style").count();
        assert_eq!(styles, 1, "one style sheet, in the head");
        assert_eq!(html.matches(&format!("nonce=\"{nonce}\"")).count(), scripts + styles, "every inline script and style carries the nonce");
        let admin = app.client.get(app.url("/admin/login")).send().await.expect("login");
        assert!(header(&admin, "content-security-policy").contains("frame-ancestors 'none'"));
        assert_eq!(header(&admin, "x-frame-options"), "DENY");
        // A second page gets another nonce.
        let again = app.client.get(app.url("/f/demo")).send().await.expect("page");
        assert!(!header(&again, "content-security-policy").contains(&nonce));
    }

    // Issue 14: a payer's page travels compressed; an administrator's page
    // (BREACH) and a live-status stream (never buffered) do not.
    async fn payer_pages_are_compressed_admin_pages_and_streams_are_not(app) {
        let get = |path: &str| app.client.get(app.url(path)).header("accept-encoding", "br, gzip").send();
        let plain = app.page("/f/demo").await;
        let resp = get("/f/demo").await.expect("page");
        assert_eq!(resp.headers().get("content-encoding").map(|v| v.as_bytes()), Some(&b"br"[..]));
        assert!(resp.headers().get("vary").is_some_and(|v| v.to_str().unwrap_or_default().contains("accept-encoding")));
        let packed = resp.bytes().await.expect("body");
        assert!(packed.len() * 2 < plain.len(), "{} bytes compressed for {}", packed.len(), plain.len());
        let gz = app.client.get(app.url("/f/demo")).header("accept-encoding", "gzip").send().await.expect("page");
        assert_eq!(gz.headers().get("content-encoding").map(|v| v.as_bytes()), Some(&b"gzip"[..]));
        let mut html = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz.bytes().await.expect("body")[..]), &mut html).expect("gunzip");
        assert!(html.contains("<leptos-island"), "a whole page");
        // The bundle's download is announced before the style sheet.
        let (preload, style) = (html.find("formpay_bg.wasm").expect("preload"), html.find("<style").expect("style"));
        assert!(preload < style, "the bundle's preload comes first in the head");
        let admin = get("/admin/login").await.expect("admin page");
        assert_eq!(admin.status(), 200);
        assert!(admin.headers().get("content-encoding").is_none(), "an admin page compressed");
        assert!(admin.text().await.expect("html").contains("</html>"));
        let order = submit_demo(&app, "1.00").await;
        let id = order["id"].as_str().expect("id");
        let stream = get(&format!("/api/v1/orders/{id}/events")).await.expect("stream");
        assert_eq!(stream.status(), 200);
        assert!(stream.headers().get("content-encoding").is_none(), "an event stream compressed");
    }

    // Finding 9: every callback must be in CNY.
    async fn a_callback_in_another_currency_is_refused(app) {
        let sim = app.simulator.clone().expect("simulator");
        sim.set_delivery(false);
        let order = submit_demo(&app, "4.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let no = order["out_trade_no"].as_str().expect("no").to_owned();
        pay(&app, &id, "wechat_native").await;
        let (headers, body) = simulator::signed_wechat_transaction(&json!({
            "appid": dev_keys::WECHAT_APP_ID, "mchid": dev_keys::WECHAT_MCH_ID, "out_trade_no": no,
            "transaction_id": "4200000000202611290000000001", "trade_type": "NATIVE", "trade_state": "SUCCESS",
            "amount": {"total": 400, "payer_total": 400, "currency": "USD"}
        }));
        let resp = post_to(&app, "/payment/wechat/notify", &headers, body, "application/json").await;
        assert!(!resp.status().is_success());
        assert_eq!(order_status(&app, &id).await, "pending");
        // Alipay: a foreign-currency trade names its currency.
        let order = submit_demo(&app, "4.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        let no = order["out_trade_no"].as_str().expect("no").to_owned();
        pay(&app, &id, "alipay_qr").await;
        let body = sim.signed_alipay_notify(&no, 400, &[("trans_currency", "USD")]);
        let resp = post_to(&app, "/payment/alipay/notify", &[], body, "application/x-www-form-urlencoded").await;
        assert!(!resp.status().is_success());
        assert_eq!(order_status(&app, &id).await, "pending");
    }

    async fn admin_lists_take_any_page_number(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        for page in ["9223372036854775807", "-9223372036854775808", "0"] {
            let resp = app.server_fn("admin_orders", &[("page", page)]).await;
            assert_eq!(resp.status(), 200, "orders page {page}");
            let resp = app.server_fn("admin_audit", &[("page", page)]).await;
            assert_eq!(resp.status(), 200, "audit page {page}");
        }
    }
}

/// Finding 3: money that arrives through an attempt that is no longer
/// the current one (an Alipay cashier link opened after switching to
/// WeChat) is kept for review, never refused.
async fn a_payment_through_an_earlier_attempt_is_kept_for_review(backend: Backend) {
    let app = spawn_app_with(backend, &[("RECONCILE_FIRST_CHECK_SECS", "60")]).await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let order = submit_demo(&app, "7.00").await;
    let id = order["id"].as_str().expect("id").to_owned();
    let cashier = pay(&app, &id, "alipay_page").await["redirect_url"]
        .as_str()
        .expect("url")
        .to_owned();
    // The payer switches to WeChat without opening the cashier: Alipay
    // does not know that trade yet, so its close confirms nothing.
    pay(&app, &id, "wechat_native").await;
    let attempts: Vec<(String, String)> = sqlx::query(
        "SELECT out_trade_no, state FROM payment_attempts WHERE order_id = $1 ORDER BY seq",
    )
    .bind(&id)
    .fetch_all(&app.db.pool)
    .await
    .expect("attempts")
    .iter()
    .map(|r| (r.get("out_trade_no"), r.get("state")))
    .collect();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].1, "closing", "watched, not forgotten");
    assert_ne!(
        attempts[0].0, attempts[1].0,
        "each attempt has its own number"
    );
    // ... then opens the old link and pays it.
    let opened = app.client.get(&cashier).send().await.expect("cashier");
    let payer = opened
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("payer page")
        .to_owned();
    app.client
        .post(format!("{payer}/pay"))
        .send()
        .await
        .expect("pay");
    wait_status(&app, &id, "needs_review").await;
    let detail = app.call("admin_order", &[("id", id.as_str())]).await;
    assert!(
        detail["review_reason"]
            .as_str()
            .expect("reason")
            .contains("earlier attempt"),
        "{detail}"
    );
    assert_eq!(detail["payments"][0]["state"], "paid");
    // The administrator keeps it.
    assert_eq!(
        app.call(
            "admin_order_action",
            &[("id", id.as_str()), ("action", "accept")]
        )
        .await["Done"],
        "paid"
    );
}

mod a_payment_through_an_earlier_attempt_is_kept_for_review_on {
    use super::*;

    #[tokio::test]
    async fn sqlite() {
        a_payment_through_an_earlier_attempt_is_kept_for_review(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres() {
        a_payment_through_an_earlier_attempt_is_kept_for_review(Backend::Postgres).await;
    }
}

/// Finding 4: a place in a limited form is held by a paid order, or by a
/// pending one until it expires; expiry gives it back.
async fn a_limited_form_counts_its_places_exactly_and_gives_them_back(backend: Backend) {
    let app = spawn_app_with(backend, &[("ORDER_EXPIRE_MINUTES", "0.01")]).await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let def = json!({"slug": "three-seats", "title": "三个名额", "description": "", "success_message": "ok", "max_submissions": 3,
        "fields": [{"key": "name", "label": "姓名", "required": true, "type": "short_text"},
                   {"key": "fee", "label": "费用", "required": true, "type": "payment", "mode": "fixed", "amount": 100}]});
    let saved: Value = app
        .client
        .post(app.url("/api/admin_save_form"))
        .form(&[("def", def.to_string())])
        .send()
        .await
        .expect("save")
        .json()
        .await
        .expect("json");
    let form_id = saved["Saved"]["id"].as_str().expect("id").to_owned();
    app.client
        .post(app.url("/api/admin_form_status"))
        .form(&[("id", form_id.as_str()), ("status", "published")])
        .send()
        .await
        .expect("publish");
    let fill = |n: usize| {
        let app = &app;
        async move {
            let mut calls = Vec::new();
            for i in 0..n {
                let c = app.client.clone();
                let url = app.url("/api/v1/forms/three-seats/submissions");
                calls.push(tokio::spawn(async move {
                    c.post(url)
                        .json(&json!({"answers": {"name": format!("p{i}")}}))
                        .send()
                        .await
                        .expect("submit")
                        .status()
                        .as_u16()
                }));
            }
            let mut created = 0;
            for c in calls {
                match c.await.expect("task") {
                    201 => created += 1,
                    409 => {}
                    other => panic!("unexpected {other}"),
                }
            }
            created
        }
    };
    assert_eq!(fill(10).await, 3, "never more than the places");
    let places = |app: &TestApp| {
        let id = form_id.clone();
        let pool = app.db.pool.clone();
        async move {
            sqlx::query("SELECT submission_count FROM forms WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("form")
                .get::<i64, _>("submission_count")
        }
    };
    assert_eq!(places(&app).await, 3);
    // The unpaid orders expire (this instance's orders last 0.5 s) ...
    for _ in 0..200 {
        if places(&app).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(places(&app).await, 0, "expiry gives the places back");
    // ... and the form fills again, exactly.
    assert_eq!(fill(10).await, 3);
    assert_eq!(places(&app).await, 3);
}

mod a_limited_form_counts_its_places_exactly_and_gives_them_back_on {
    use super::*;

    #[tokio::test]
    async fn sqlite() {
        a_limited_form_counts_its_places_exactly_and_gives_them_back(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres() {
        a_limited_form_counts_its_places_exactly_and_gives_them_back(Backend::Postgres).await;
    }
}

// ---------------------------------------------------------------------------
// Finding 2: the simulator runs only where it cannot cost anything.

/// Settings of a real WeChat Pay merchant (published test keys, not ours).
fn real_wechat() -> Vec<(&'static str, String)> {
    vec![
        ("WECHAT_MCH_ID", "1230000109".into()),
        ("WECHAT_APP_ID", "wxd678efh567hg6787".into()),
        (
            "WECHAT_MCH_SERIAL_NO",
            "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
        ),
        (
            "WECHAT_MCH_PRIVATE_KEY",
            providers::test_vectors::read("wechatpay-go-test-private-key.pem"),
        ),
        (
            "WECHAT_APIV3_KEY",
            "0123456789abcdefghijklmnopqrstuv".into(),
        ),
        (
            "WECHAT_PLATFORM_PUBLIC_KEY",
            providers::test_vectors::read("fzlee-app_public_key.pem"),
        ),
        (
            "WECHAT_PLATFORM_PUBLIC_KEY_ID",
            "PUB_KEY_ID_0112345678901234567890".into(),
        ),
    ]
}

async fn status_of(app: &TestApp, path: &str) -> u16 {
    app.client
        .get(app.url(path))
        .send()
        .await
        .expect("get")
        .status()
        .as_u16()
}

async fn pay_status(app: &TestApp, channel: &str) -> (u16, Value) {
    let order = submit_demo(app, "1.00").await;
    let id = order["id"].as_str().expect("id");
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/orders/{id}/pay")))
        .json(&json!({"channel": channel}))
        .send()
        .await
        .expect("pay");
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_real_provider_in_the_environment_keeps_the_simulator_and_the_others_off() {
    let real = real_wechat();
    let settings: Vec<(&str, &str)> = real.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(Backend::Sqlite, &settings).await;
    assert!(app.simulator.is_none());
    assert_eq!(status_of(&app, "/_simulator/control/orders/x").await, 404);
    for channel in ["alipay_page", "alipay_qr"] {
        let (status, body) = pay_status(&app, channel).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("channel_unavailable"))
        );
    }
}

#[tokio::test]
async fn a_public_address_keeps_the_simulator_off_unless_asked() {
    let app = spawn_app_with(Backend::Sqlite, &[("APP_ADDR", "0.0.0.0:0")]).await;
    assert!(app.simulator.is_none());
    assert_eq!(status_of(&app, "/_simulator/control/orders/x").await, 404);
    let (status, _) = pay_status(&app, "wechat_native").await;
    assert_eq!(status, 422);
    let asked = spawn_app_with(
        Backend::Sqlite,
        &[("APP_ADDR", "0.0.0.0:0"), ("SIMULATOR", "on")],
    )
    .await;
    assert!(asked.simulator.is_some());
    let (status, _) = pay_status(&asked, "wechat_native").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn storing_a_real_account_turns_the_simulator_off_at_once() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, _) = pay_status(&app, "wechat_native").await;
    assert_eq!(status, 200, "the simulator plays the providers");
    let simulated = simulated_account(&app, "模拟账户", "alipay").await;
    // The simulator's payer page of a payment in progress answers.
    let order = submit_demo(&app, "1.00").await;
    let payer = pay(&app, order["id"].as_str().expect("id"), "wechat_native").await["qr_code"]
        .as_str()
        .expect("qr")
        .to_owned();
    assert_eq!(
        app.client
            .get(&payer)
            .send()
            .await
            .expect("payer page")
            .status(),
        200
    );
    // A real Alipay merchant (published test keys, not the simulator's).
    save_account(
        &app,
        &[
            ("name", "真实支付宝"),
            ("kind", "alipay"),
            ("app_id", "2021000000000099"),
            (
                "alipay_public_key",
                &providers::test_vectors::read("alipay-node-alipay-public-key.pem"),
            ),
            ("seller_id", "2088000000000099"),
            (
                "private_key",
                &providers::test_vectors::read("alipay-node-app-private-key.pem"),
            ),
        ],
    )
    .await;
    assert_eq!(
        app.client
            .get(&payer)
            .send()
            .await
            .expect("payer page")
            .status(),
        404,
        "gone at once"
    );
    let (status, body) = pay_status(&app, "wechat_native").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("channel_unavailable"))
    );
    // Accounts played by the simulator are refused from now on.
    use_account(&app, &simulated).await;
    let (status, _) = pay_status(&app, "alipay_qr").await;
    assert_eq!(status, 503, "the simulated account cannot be used");
    let refused = app
        .call(
            "admin_save_account",
            &[
                ("input[name]", "又一个模拟"),
                ("input[kind]", "simulator"),
                ("input[id]", ""),
            ],
        )
        .await;
    assert!(
        refused["Invalid"]
            .as_str()
            .is_some_and(|m| m.contains("simulator")),
        "{refused}"
    );
}

// ---------------------------------------------------------------------------
// Findings 5 and 6: logins, passwords, sessions.

async fn login_from(app: &TestApp, password: &str, from: &str) -> String {
    app.client
        .post(app.url("/api/login"))
        .header("x-forwarded-for", from)
        .form(&[("email", ADMIN_EMAIL), ("password", password)])
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("body")
}

#[tokio::test]
async fn a_guessing_address_is_slowed_down_and_the_administrator_still_gets_in() {
    let app = spawn_app_with(Backend::Sqlite, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    for _ in 0..5 {
        assert_eq!(
            login_from(&app, "guess", "203.0.113.5").await,
            "\"WrongCredentials\""
        );
    }
    assert_eq!(
        login_from(&app, ADMIN_PASSWORD, "203.0.113.5").await,
        "\"RateLimited\""
    );
    // The account is not locked for everyone: from elsewhere it works.
    assert_eq!(
        login_from(&app, ADMIN_PASSWORD, "198.51.100.7").await,
        "\"LoggedIn\""
    );
}

#[tokio::test]
async fn forwarded_addresses_are_not_believed_from_an_untrusted_peer() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    for i in 0..5 {
        assert_eq!(
            login_from(&app, "guess", &format!("203.0.113.{i}")).await,
            "\"WrongCredentials\""
        );
    }
    // A spoofed header does not buy a fresh allowance.
    assert_eq!(
        login_from(&app, ADMIN_PASSWORD, "198.51.100.7").await,
        "\"RateLimited\""
    );
}

fn session_of(resp: &reqwest::Response) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("fp_session="))
        .and_then(|c| c.split(';').next())
        .expect("session")
        .to_owned()
}

async fn who(app: &TestApp, cookie: &str) -> Value {
    client()
        .post(app.url("/api/get_admin"))
        .header("cookie", cookie)
        .header("origin", &app.address)
        .form(&[("", "")])
        .send()
        .await
        .expect("get_admin")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let other = session_of(&app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let wrong = app
        .call(
            "change_password",
            &[("current", "not it"), ("new", "a new password 2026")],
        )
        .await;
    assert_eq!(wrong, "WrongCurrent");
    let short = app
        .call(
            "change_password",
            &[("current", ADMIN_PASSWORD), ("new", "short")],
        )
        .await;
    assert_eq!(short, "BadNew");
    let changed = app
        .call(
            "change_password",
            &[("current", ADMIN_PASSWORD), ("new", "a new password 2026")],
        )
        .await;
    assert_eq!(changed, "Changed");
    assert_eq!(
        who(&app, &other).await,
        Value::Null,
        "the other session ended"
    );
    assert_eq!(
        app.call("get_admin", &[]).await["email"],
        ADMIN_EMAIL,
        "this one goes on"
    );
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .text()
            .await
            .expect("body"),
        "\"WrongCredentials\""
    );
}

#[tokio::test]
async fn admin_password_at_start_up_resets_a_forgotten_password() {
    let database = crate::helpers::DatabaseGuard::create(Backend::Sqlite).await;
    let url = database.url.clone();
    let first =
        crate::helpers::spawn_app_on(Some(database), crate::helpers::test_settings(&url)).await;
    let session = session_of(&first.login(ADMIN_EMAIL, ADMIN_PASSWORD).await);
    let mut settings = crate::helpers::test_settings(&url);
    settings.insert("ADMIN_PASSWORD".into(), "the recovered password".into());
    let second = crate::helpers::spawn_app_on(None, settings).await;
    assert_eq!(
        who(&second, &session).await,
        Value::Null,
        "sessions end with the reset"
    );
    assert_eq!(
        second
            .login(ADMIN_EMAIL, "the recovered password")
            .await
            .text()
            .await
            .expect("body"),
        "\"LoggedIn\""
    );
    // The same password again changes nothing (a restart logs nobody out).
    let kept = session_of(&second.login(ADMIN_EMAIL, "the recovered password").await);
    let mut same = crate::helpers::test_settings(&url);
    same.insert("ADMIN_PASSWORD".into(), "the recovered password".into());
    let third = crate::helpers::spawn_app_on(None, same).await;
    assert_eq!(who(&third, &kept).await["email"], ADMIN_EMAIL);
    drop(first);
}

#[tokio::test]
async fn idle_sessions_end() {
    let app = spawn_app_with(Backend::Sqlite, &[("SESSION_IDLE_MINUTES", "0.01")]).await;
    let session = session_of(&app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await);
    assert_eq!(who(&app, &session).await["email"], ADMIN_EMAIL);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(who(&app, &session).await, Value::Null);
}

// ---------------------------------------------------------------------------
// Finding 7: rate limits and stream caps.

#[tokio::test]
async fn public_writes_are_rate_limited_per_address() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("RATE_LIMIT_PER_MINUTE", "3"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let submit = |from: &'static str| {
        app.client
            .post(app.url("/api/v1/forms/demo/submissions"))
            .header("x-forwarded-for", from)
            .json(&json!({"answers": {"name": "x", "amount": "1.00"}}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(submit("203.0.113.9").await.expect("submit").status(), 201);
    }
    let limited = submit("203.0.113.9").await.expect("submit");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(
        submit("203.0.113.10").await.expect("submit").status(),
        201,
        "another address is not affected"
    );
}

#[tokio::test]
async fn live_status_streams_are_capped_per_address() {
    let app = spawn_app_with(Backend::Sqlite, &[("SSE_MAX_STREAMS_PER_ADDRESS", "2")]).await;
    let order = submit_demo(&app, "1.00").await;
    let id = order["id"].as_str().expect("id");
    let url = app.url(&format!("/api/v1/orders/{id}/events"));
    let first = app.client.get(&url).send().await.expect("stream");
    let second = app.client.get(&url).send().await.expect("stream");
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = app.client.get(&url).send().await.expect("stream");
    assert_eq!(third.status(), 429);
    drop(first);
    let mut again = 0;
    for _ in 0..50 {
        again = app
            .client
            .get(&url)
            .send()
            .await
            .expect("stream")
            .status()
            .as_u16();
        if again == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(again, 200, "a closed stream frees its place");
}

// ---------------------------------------------------------------------------
// Finding 9: production, as a real deployment runs it.

#[tokio::test]
async fn production_sends_hsts_and_runs_no_simulator() {
    let mut settings: Vec<(&str, String)> = real_wechat();
    settings.extend([
        ("APP_ENV", "production".to_owned()),
        ("PUBLIC_BASE_URL", "https://pay.example.com".to_owned()),
    ]);
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(Backend::Sqlite, &pairs).await;
    assert!(app.simulator.is_none());
    let resp = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("health");
    assert!(resp.headers().get("strict-transport-security").is_some());
    assert_eq!(status_of(&app, "/_simulator/control/orders/x").await, 404);
}
