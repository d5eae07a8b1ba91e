//! Receiving accounts stored in the database: keys sealed at rest, test
//! connection, a form paid and refunded through its own account (callbacks on
//! the account's route), disabling, and a changed master key.

use crate::flow::{pay, submit_demo, wait_status};
use crate::helpers::{
    press, spawn_app_on, test_settings, DatabaseGuard, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD,
};
use app::ssr::Backend;
use serde_json::Value;
use simulator::dev_keys;
use sqlx::Row;

async fn save_account(app: &TestApp, fields: &[(&str, &str)]) -> Value {
    let form: Vec<(String, &str)> = fields
        .iter()
        .map(|(k, v)| match *k {
            "id" | "name" | "kind" => (format!("input[{k}]"), *v),
            other => (format!("input[values][{other}]"), *v),
        })
        .collect();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    app.call("admin_save_account", &pairs).await
}

fn simulator(app: &TestApp, path: &str) -> String {
    app.simulator_base.join(path).expect("url").to_string()
}

/// The body of a PEM without its armour: what must never be in the database.
fn key_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
}

async fn accounts_end_to_end(backend: Backend) {
    let database = DatabaseGuard::create(backend).await;
    let url = database.url.clone();
    let app = spawn_app_on(Some(database), test_settings(&url)).await;
    // Anonymous callers cannot see or change accounts.
    assert!(!app
        .server_fn("admin_accounts", &[])
        .await
        .status()
        .is_success());
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let wechat_base = simulator(&app, "wechat/");
    let wechat = save_account(
        &app,
        &[
            ("name", "社团微信商户"),
            ("kind", "wechat_v3"),
            ("app_id", dev_keys::WECHAT_APP_ID),
            ("mch_id", dev_keys::WECHAT_MCH_ID),
            ("serial_no", dev_keys::WECHAT_MERCHANT_SERIAL),
            ("platform_key_id", dev_keys::WECHAT_PUBLIC_KEY_ID),
            ("platform_public_key", dev_keys::WECHAT_PLATFORM_PUB),
            ("api_base", &wechat_base),
            ("private_key", dev_keys::WECHAT_MERCHANT_KEY),
            ("apiv3_key", dev_keys::WECHAT_APIV3_KEY),
        ],
    )
    .await;
    let wechat_id = wechat["Saved"].as_str().expect("saved").to_owned();
    let alipay_gateway = simulator(&app, "alipay/gateway.do");
    let alipay = save_account(
        &app,
        &[
            ("name", "支付宝收款"),
            ("kind", "alipay"),
            ("app_id", dev_keys::ALIPAY_APP_ID),
            ("alipay_public_key", dev_keys::ALIPAY_PLATFORM_PUB),
            ("seller_id", dev_keys::ALIPAY_SELLER_ID),
            ("api_base", &alipay_gateway),
            ("private_key", dev_keys::ALIPAY_APP_KEY),
        ],
    )
    .await;
    let alipay_id = alipay["Saved"].as_str().expect("saved").to_owned();

    // At rest: no key material in any column, a fingerprint instead.
    let rows = sqlx::query(
        "SELECT id, name, kind, settings_json, secrets_sealed, fingerprint FROM merchant_accounts",
    )
    .fetch_all(&app.db.pool)
    .await
    .expect("rows");
    assert_eq!(rows.len(), 2, "the two accounts so far");
    for row in &rows {
        let all: String = [
            "id",
            "name",
            "kind",
            "settings_json",
            "secrets_sealed",
            "fingerprint",
        ]
        .iter()
        .map(|c| row.get::<String, _>(*c))
        .collect();
        for secret in [
            key_body(dev_keys::WECHAT_MERCHANT_KEY),
            key_body(dev_keys::ALIPAY_APP_KEY),
            dev_keys::WECHAT_APIV3_KEY.to_owned(),
        ] {
            assert!(
                !all.contains(&secret[..40.min(secret.len())]),
                "a secret is stored in clear"
            );
        }
        assert!(row.get::<String, _>("fingerprint").starts_with("key:"));
    }
    // The page never sends a secret back.
    let listed = app
        .server_fn("admin_accounts", &[])
        .await
        .text()
        .await
        .expect("text");
    assert!(!listed.contains(&key_body(dev_keys::WECHAT_MERCHANT_KEY)[..40]));
    assert!(!listed.contains(dev_keys::WECHAT_APIV3_KEY));

    // Test connection: a signed query for an order that does not exist.
    let ok = app.call("admin_test_account", &[("id", &wechat_id)]).await;
    assert_eq!(ok, serde_json::json!([["wechat", null]]));
    let ok = app.call("admin_test_account", &[("id", &alipay_id)]).await;
    assert_eq!(ok, serde_json::json!([["alipay", null]]));
    let default = app.call("admin_test_account", &[("id", "")]).await;
    assert_eq!(
        default,
        serde_json::json!([["wechat", null], ["wechat_oauth", null], ["alipay", null]]),
        "the default account: WeChat, its official account's secret (JSAPI), Alipay"
    );

    // JSAPI's AppSecret is proved by a code exchange that cannot succeed:
    // a wrong secret is named, a right one passes, nothing is issued.
    for (secret, expected) in [
        (
            "0123456789abcdef0123456789abcdef",
            Some("AppSecret is wrong"),
        ),
        (dev_keys::WECHAT_APP_SECRET, None),
    ] {
        let saved = save_account(
            &app,
            &[
                ("name", "微信 JSAPI"),
                ("kind", "wechat_v3"),
                ("app_id", dev_keys::WECHAT_APP_ID),
                ("mch_id", dev_keys::WECHAT_MCH_ID),
                ("serial_no", dev_keys::WECHAT_MERCHANT_SERIAL),
                ("platform_key_id", dev_keys::WECHAT_PUBLIC_KEY_ID),
                ("platform_public_key", dev_keys::WECHAT_PLATFORM_PUB),
                ("api_base", &wechat_base),
                ("private_key", dev_keys::WECHAT_MERCHANT_KEY),
                ("apiv3_key", dev_keys::WECHAT_APIV3_KEY),
                ("app_secret", secret),
                ("oauth_base", &wechat_base),
                ("mp_api_base", &wechat_base),
            ],
        )
        .await;
        let id = saved["Saved"].as_str().expect("saved").to_owned();
        let lines = app.call("admin_test_account", &[("id", &id)]).await;
        assert_eq!(lines[0], serde_json::json!(["wechat", null]), "{lines}");
        assert_eq!(lines[1][0], "wechat_oauth", "{lines}");
        match expected {
            None => assert!(lines[1][1].is_null(), "{lines}"),
            Some(why) => assert!(
                lines[1][1].as_str().is_some_and(|e| e.contains(why)),
                "{lines}"
            ),
        }
        assert!(
            !lines.to_string().contains(secret),
            "the secret is never echoed"
        );
    }

    // The legacy v2 API: its MD5-signed XML query works too.
    let v2 = save_account(
        &app,
        &[
            ("name", "微信 v2"),
            ("kind", "wechat_v2"),
            ("app_id", dev_keys::WECHAT_APP_ID),
            ("mch_id", dev_keys::WECHAT_MCH_ID),
            ("api_base", &wechat_base),
            ("v2_key", dev_keys::WECHAT_V2_KEY),
        ],
    )
    .await;
    let v2_id = v2["Saved"].as_str().expect("saved").to_owned();
    let ok = app.call("admin_test_account", &[("id", &v2_id)]).await;
    assert_eq!(ok, serde_json::json!([["wechat", null]]));
    assert_eq!(
        app.call(
            "admin_account_enabled",
            &[("id", &v2_id), ("enabled", "false")]
        )
        .await["Saved"],
        v2_id.as_str()
    );

    // A well-formed but wrong key: saved, and the test says the signature is refused.
    let wrong = save_account(
        &app,
        &[
            ("name", "错误密钥"),
            ("kind", "alipay"),
            ("seller_id", dev_keys::ALIPAY_SELLER_ID),
            ("app_id", dev_keys::ALIPAY_APP_ID),
            ("alipay_public_key", dev_keys::ALIPAY_PLATFORM_PUB),
            ("api_base", &alipay_gateway),
            ("private_key", dev_keys::WECHAT_MERCHANT_KEY),
        ],
    )
    .await;
    let wrong_id = wrong["Saved"].as_str().expect("saved").to_owned();
    let failed = app.call("admin_test_account", &[("id", &wrong_id)]).await;
    let why = failed[0][1].as_str().expect("an error");
    assert!(
        why.contains("invalid-signature") || why.contains("refused"),
        "{why}"
    );

    // A malformed key, or a missing setting: refused, nothing stored.
    let bad = save_account(
        &app,
        &[
            ("name", "坏密钥"),
            ("kind", "alipay"),
            ("seller_id", dev_keys::ALIPAY_SELLER_ID),
            ("app_id", dev_keys::ALIPAY_APP_ID),
            ("alipay_public_key", dev_keys::ALIPAY_PLATFORM_PUB),
            (
                "private_key",
                "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----",
            ),
        ],
    )
    .await;
    assert!(
        bad["Invalid"]
            .as_str()
            .expect("invalid")
            .contains("private_key"),
        "{bad}"
    );
    let missing = save_account(
        &app,
        &[("name", "缺少"), ("kind", "wechat_v3"), ("app_id", "wx1")],
    )
    .await;
    assert!(
        missing["Invalid"]
            .as_str()
            .expect("invalid")
            .contains("mch_id"),
        "{missing}"
    );
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM merchant_accounts")
        .fetch_one(&app.db.pool)
        .await
        .expect("count")
        .get("n");
    assert_eq!(count, 6, "the malformed ones were not stored");

    // Editing with the secret fields left empty keeps the stored keys.
    let renamed = save_account(
        &app,
        &[
            ("id", &wechat_id),
            ("name", "社团微信商户（主）"),
            ("kind", "wechat_v3"),
            ("app_id", dev_keys::WECHAT_APP_ID),
            ("mch_id", dev_keys::WECHAT_MCH_ID),
            ("serial_no", dev_keys::WECHAT_MERCHANT_SERIAL),
            ("platform_key_id", dev_keys::WECHAT_PUBLIC_KEY_ID),
            ("platform_public_key", dev_keys::WECHAT_PLATFORM_PUB),
            ("api_base", &wechat_base),
        ],
    )
    .await;
    assert_eq!(renamed["Saved"], wechat_id.as_str());
    assert_eq!(
        app.call("admin_test_account", &[("id", &wechat_id)]).await[0][1],
        Value::Null
    );

    // The demo form takes payments with the stored WeChat account.
    let demo: String = sqlx::query("SELECT id FROM forms WHERE slug = 'demo'")
        .fetch_one(&app.db.pool)
        .await
        .expect("demo")
        .get("id");
    assert!(app
        .call(
            "admin_form_account",
            &[("form_id", &demo), ("account_id", &wechat_id)]
        )
        .await
        .get("Saved")
        .is_some());
    let order = submit_demo(&app, "6.00").await;
    let id = order["id"].as_str().expect("id").to_owned();
    let account: Option<String> = sqlx::query("SELECT account_id FROM orders WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.db.pool)
        .await
        .expect("order")
        .get("account_id");
    assert_eq!(account.as_deref(), Some(wechat_id.as_str()));
    let started = pay(&app, &id, "wechat_native").await;
    let target: String = sqlx::query(
        "SELECT request FROM payment_log WHERE out_trade_no = $1 AND operation = 'native_order'",
    )
    .bind(order["out_trade_no"].as_str().expect("no"))
    .fetch_one(&app.db.pool)
    .await
    .expect("logged")
    .get("request");
    assert!(
        target.contains(&format!("/payment/wechat/notify/{wechat_id}")),
        "callbacks come to the account's route: {target}"
    );
    press(&app, started["qr_code"].as_str().expect("qr"), "pay").await;
    wait_status(&app, &id, "paid").await;
    let refunded = app
        .call(
            "admin_refund",
            &[
                ("id", &id),
                ("amount", "6.00"),
                ("reason", "测试"),
                ("request_key", "account-refund-1"),
            ],
        )
        .await;
    assert!(refunded.get("Done").is_some(), "{refunded}");
    for _ in 0..100 {
        if crate::flow::order_status(&app, &id).await == "refunded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        crate::flow::order_status(&app, &id).await,
        "refunded",
        "refund callback verified with the account's keys"
    );

    // A disabled account takes no new payment.
    assert!(app
        .call(
            "admin_account_enabled",
            &[("id", &wechat_id), ("enabled", "false")]
        )
        .await
        .get("Saved")
        .is_some());
    let blocked = submit_demo(&app, "1.00").await;
    let resp = app
        .client
        .post(app.url(&format!(
            "/api/v1/orders/{}/pay",
            blocked["id"].as_str().expect("id")
        )))
        .json(&serde_json::json!({"channel": "wechat_native"}))
        .send()
        .await
        .expect("pay");
    assert_eq!(resp.status(), 422);
    let audit: Vec<String> = sqlx::query("SELECT action FROM audit_log ORDER BY created_at, id")
        .fetch_all(&app.db.pool)
        .await
        .expect("audit")
        .iter()
        .map(|r| r.get("action"))
        .collect();
    for action in [
        "create_account",
        "update_account",
        "form_account",
        "refund",
        "disable_account",
    ] {
        assert!(audit.iter().any(|a| a == action), "{action} in {audit:?}");
    }

    // Another master key on the same database: a clear error, never garbage.
    let mut settings = test_settings(&url);
    settings.insert("APP_MASTER_KEY".into(), "ff".repeat(32));
    let other = spawn_app_on(None, settings).await;
    other.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let refused = other
        .call("admin_test_account", &[("id", &alipay_id)])
        .await;
    assert!(
        refused[0][1]
            .as_str()
            .expect("error")
            .contains("APP_MASTER_KEY"),
        "{refused}"
    );
}

#[tokio::test]
async fn stored_accounts_are_sealed_tested_and_take_payments_sqlite() {
    accounts_end_to_end(Backend::Sqlite).await;
}

#[tokio::test]
async fn stored_accounts_are_sealed_tested_and_take_payments_postgres() {
    accounts_end_to_end(Backend::Postgres).await;
}
