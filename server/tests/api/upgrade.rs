//! Upgrades across versions: for every earlier schema version V, a database
//! at V holding the data of its time (`server/tests/fixtures/schema`, each
//! file inserted under the schema of its own version), then the current
//! server started on it. The later migrations run over real data; orders,
//! refunds, administrators, forms and accounts come out intact and usable.

use crate::flow::{pay, wait_status};
use crate::helpers::{press, spawn_app_on, test_settings, DatabaseGuard, TestApp};
use app::ssr::Backend;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::path::Path;

const FIXTURE_ADMIN: &str = "office@fixture.example";
const FIXTURE_PASSWORD: &str = "fixture password 1";

/// Builds the database at schema `version` with every fixture up to it.
async fn database_at(url: &str, backend: Backend, version: i64) {
    sqlx::any::install_default_drivers();
    let url = match backend {
        Backend::Sqlite => format!("{url}?mode=rwc"),
        Backend::Postgres => url.to_owned(),
    };
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let all = sqlx::migrate::Migrator::new(manifest.join("../migrations"))
        .await
        .expect("the migrations");
    let hash = formpay_core::auth::hash_password(FIXTURE_PASSWORD)
        .await
        .expect("hash");
    let migrations: Vec<_> = all.iter().cloned().collect();
    for (i, m) in migrations.iter().enumerate() {
        if m.version > version {
            break;
        }
        // The migrations up to this one, as a release of that time had them.
        let mut then = sqlx::migrate::Migrator::new(manifest.join("../migrations"))
            .await
            .expect("the migrations");
        then.migrations = Cow::Owned(migrations[..=i].to_vec());
        then.run(&pool).await.expect("an earlier migration");
        let fixture = manifest.join(format!("tests/fixtures/schema/{}.sql", m.version));
        let sql = std::fs::read_to_string(&fixture)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (every migration has its fixture)",
                    fixture.display()
                )
            })
            .replace("{{ADMIN_HASH}}", &hash);
        sqlx::raw_sql(&sql)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("fixture {}: {e}", m.version));
    }
    pool.close().await;
}

async fn order(app: &TestApp, id: &str) -> Value {
    let resp = app
        .client
        .get(app.url(&format!("/api/v1/orders/{id}")))
        .send()
        .await
        .expect("order");
    assert_eq!(resp.status(), 200, "order {id}");
    resp.json().await.expect("json")
}

async fn upgraded_from_every_version(backend: Backend) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let versions: Vec<i64> = formpay_core::db::migration_versions();
    assert!(versions.len() >= 7);
    for &v in &versions {
        let database = DatabaseGuard::create(backend).await;
        let url = database.url.clone();
        database_at(&url, backend, v).await;
        // The fixture's receiving account is a real one, which turns the
        // simulator off by default: the new payment below needs it on.
        let mut settings = test_settings(&url);
        settings.insert("SIMULATOR".into(), "on".into());
        let app = spawn_app_on(None, settings).await;
        let at = |since: &str| v >= since.parse::<i64>().expect("version");
        let context = format!("upgraded from schema {v}");

        // The administrator of that time signs in with their password.
        let login = app.login(FIXTURE_ADMIN, FIXTURE_PASSWORD).await;
        let said = login.text().await.unwrap_or_default();
        assert!(!said.contains("Wrong"), "{context}: {said}");
        // Every administrator of an earlier version keeps every power.
        let me = app.call("get_admin", &[]).await;
        assert_eq!(me["role"], "owner", "{context}: {me}");
        if at("20261205000008") {
            let editor = crate::helpers::client_of(&app.address);
            let said = editor
                .post(app.url("/api/login"))
                .form(&[
                    ("email", "editor@fixture.example"),
                    ("password", FIXTURE_PASSWORD),
                ])
                .send()
                .await
                .expect("login")
                .text()
                .await
                .unwrap_or_default();
            assert_eq!(said, "\"LoggedIn\"", "{context}");
            let forms = editor
                .post(app.url("/api/admin_forms"))
                .send()
                .await
                .expect("forms");
            assert_eq!(forms.status(), 200, "{context}: the editor edits forms");
            let accounts = editor
                .post(app.url("/api/admin_accounts"))
                .send()
                .await
                .expect("accounts");
            assert_eq!(accounts.status(), 403, "{context}: and only that");
            let public = app.call("public_form", &[("slug", "fixture")]).await;
            assert_eq!(
                public["privacy_notice"], "We keep your answers for ten years.",
                "{context}"
            );
        }

        if at("20261127000003") {
            let paid = order(&app, "fo000000000000000000000000000001").await;
            assert_eq!(paid["status"], "paid", "{context}");
            assert_eq!(paid["amount_fen"], 8800, "{context}");
            assert_eq!(
                paid["transaction_id"], "4200000000202611250000000001",
                "{context}"
            );
            let waiting = order(&app, "fo000000000000000000000000000002").await;
            assert_eq!(waiting["status"], "pending", "{context}");
            let refunded = order(&app, "fo000000000000000000000000000003").await;
            let want = if at("20261127000004") {
                "refunded"
            } else {
                "paid"
            };
            assert_eq!(refunded["status"], want, "{context}");
            // Each order has its payment attempt, and the money it received.
            let attempts: Vec<(String, String)> = sqlx::query_as(
                "SELECT order_id, state FROM payment_attempts WHERE order_id LIKE 'fo%' ORDER BY order_id",
            )
            .fetch_all(&app.db.pool)
            .await
            .expect("attempts");
            assert_eq!(
                attempts.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(),
                ["paid", "open", "paid"],
                "{context}"
            );
            let (received,): (i64,) = sqlx::query_as(
                "SELECT received_fen FROM orders WHERE id = 'fo000000000000000000000000000001'",
            )
            .fetch_one(&app.db.pool)
            .await
            .expect("received");
            assert_eq!(received, 8800, "{context}");
            // The old form still takes payments.
            let resp = app
                .client
                .post(app.url("/api/v1/forms/fixture/submissions"))
                .json(&json!({"answers": {"name": "新会员", "amount": "1.00", "privacy.consent": true}}))
                .send()
                .await
                .expect("submit");
            assert_eq!(resp.status(), 201, "{context}");
            let body: Value = resp.json().await.expect("json");
            let id = body["order"]["id"].as_str().expect("id").to_owned();
            let qr = pay(&app, &id, "wechat_native").await["qr_code"]
                .as_str()
                .expect("qr")
                .to_owned();
            press(&app, &qr, "pay").await;
            wait_status(&app, &id, "paid").await;
            // The administrators' list has the old orders and the new one.
            let listed = app
                .server_fn(
                    "admin_submissions",
                    &[
                        ("form_id", "ff000000000000000000000000000001"),
                        ("page", "1"),
                        ("search", ""),
                        ("status", ""),
                    ],
                )
                .await
                .text()
                .await
                .unwrap_or_default();
            for name in ["李四", "王五", "赵六", "新会员"] {
                assert!(listed.contains(name), "{context}: {name} in {listed}");
            }
        }
        if at("20261127000005") {
            let accounts = app
                .server_fn("admin_accounts", &[])
                .await
                .text()
                .await
                .unwrap_or_default();
            assert!(accounts.contains("校友会支付宝"), "{context}: {accounts}");
        }
        drop(app);
        drop(database);
    }
    let fixtures = std::fs::read_dir(manifest.join("tests/fixtures/schema"))
        .expect("fixtures")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sql"))
        })
        .count();
    assert_eq!(fixtures, versions.len(), "one fixture per schema version");
}

#[tokio::test]
async fn every_earlier_schema_with_data_upgrades_sqlite() {
    upgraded_from_every_version(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_earlier_schema_with_data_upgrades_postgres() {
    upgraded_from_every_version(Backend::Postgres).await;
}
