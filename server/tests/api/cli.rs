//! The `formpay` command's subcommands, run as an operator runs them (the
//! binary, a clean environment, its own working folder): migrate,
//! check-config, create-admin, reset-password, backup and restore under
//! load, and master-key rotation under load.

use crate::flow::{pay, submit_demo};
use crate::helpers::{
    press, spawn_app_on, test_settings, DatabaseGuard, ADMIN_EMAIL, ADMIN_PASSWORD, TEST_MASTER_KEY,
};
use app::ssr::Backend;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

const BINARY: &str = env!("CARGO_BIN_EXE_formpay");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `formpay ARGS` with only `env` set, in `dir`, `stdin` on its input.
async fn formpay(dir: &Path, env: &[(&str, &str)], args: &[&str], stdin: &str) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(BINARY)
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run formpay");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).await.expect("stdin");
    drop(input);
    let out = child.wait_with_output().await.expect("formpay ran");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("formpay-cli-{name}-{}", app::ssr::random_token()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Every order of a database file: (id, status, amount, refunded).
async fn orders_in(path: &Path) -> BTreeSet<(String, String, i64, i64)> {
    use sqlx::{ConnectOptions, Row};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .expect("open the database");
    sqlx::query("SELECT id, status, amount_fen, refunded_fen FROM orders")
        .fetch_all(&mut conn)
        .await
        .expect("orders")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// Whether the login server function accepts these credentials.
async fn signs_in(app: &crate::helpers::TestApp, email: &str, password: &str) -> bool {
    let resp = app.login(email, password).await;
    let ok = resp.status() == 200;
    let body = resp.text().await.unwrap_or_default();
    ok && body == "\"LoggedIn\""
}

#[tokio::test]
async fn migrate_check_config_create_admin_and_reset_password() {
    let dir = temp_dir("admins");
    let db = dir.join("data/formpay.db");
    let url = sqlite_url(&db);
    let env = [("DATABASE_URL", url.as_str())];

    let run = formpay(&dir, &env, &["migrate"], "").await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("migrations applied"), "{}", run.stdout);
    assert!(db.is_file(), "migrate creates the database");
    let again = formpay(&dir, &env, &["migrate"], "").await;
    assert_eq!(again.code, 0, "migrate twice: {}", again.all());

    // check-config names every problem production would refuse, echoing no secret.
    let bad = formpay(
        &dir,
        &[
            ("APP_MASTER_KEY", "not-a-key-but-a-secret-value"),
            ("PUBLIC_BASE_URL", "http://pay.example.org"),
        ],
        &["check-config"],
        "",
    )
    .await;
    assert_eq!(bad.code, 2, "{}", bad.all());
    for var in [
        "APP_MASTER_KEY",
        "PUBLIC_BASE_URL",
        "DATABASE_URL",
        "WECHAT_MCH_ID",
    ] {
        assert!(bad.stdout.contains(var), "{var} not named:\n{}", bad.stdout);
    }
    assert!(!bad.all().contains("not-a-key-but-a-secret-value"));
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../providers/vectors");
    let pem = |f: &str| std::fs::read_to_string(vectors.join(f)).expect("vector");
    let (private, public) = (
        pem("fzlee-app_private_key.pem"),
        pem("alipay-node-alipay-public-key.pem"),
    );
    let good = formpay(
        &dir,
        &[
            ("PUBLIC_BASE_URL", "https://pay.example.org"),
            ("DATABASE_URL", "postgres://formpay@db.internal/formpay"),
            ("APP_MASTER_KEY", TEST_MASTER_KEY),
            ("ALIPAY_APP_ID", "2021000000000001"),
            ("ALIPAY_SELLER_ID", "2088000000000001"),
            ("ALIPAY_PRIVATE_KEY", private.as_str()),
            ("ALIPAY_PUBLIC_KEY", public.as_str()),
        ],
        &["check-config"],
        "",
    )
    .await;
    assert_eq!(good.code, 0, "{}", good.all());
    assert!(good.stdout.contains("PostgreSQL"), "{}", good.stdout);
    assert!(good.stdout.contains("alipay"), "{}", good.stdout);
    assert!(!good.all().contains(TEST_MASTER_KEY));

    // create-admin: the password from the environment, then once only.
    let with_password = [
        ("DATABASE_URL", url.as_str()),
        ("FORMPAY_PASSWORD", "first password 1"),
    ];
    let created = formpay(
        &dir,
        &with_password,
        &["create-admin", "--email", "desk@school.example"],
        "",
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.all());
    let twice = formpay(
        &dir,
        &with_password,
        &["create-admin", "--email", "desk@school.example"],
        "",
    )
    .await;
    assert_eq!(twice.code, 1, "{}", twice.all());
    assert!(twice.stderr.contains("reset-password"), "{}", twice.stderr);
    let short = formpay(
        &dir,
        &env,
        &["create-admin", "--email", "b@school.example"],
        "short\n",
    )
    .await;
    assert_eq!(short.code, 2, "{}", short.all());
    let not_email = formpay(
        &dir,
        &with_password,
        &["create-admin", "--email", "desk"],
        "",
    )
    .await;
    assert_eq!(not_email.code, 2, "{}", not_email.all());
    let nobody = formpay(
        &dir,
        &env,
        &["reset-password", "--email", "nobody@school.example"],
        "a long enough password\n",
    )
    .await;
    assert_eq!(nobody.code, 1, "{}", nobody.all());
    let viewer = formpay(
        &dir,
        &with_password,
        &[
            "create-admin",
            "--email",
            "viewer@school.example",
            "--role",
            "viewer",
        ],
        "",
    )
    .await;
    assert_eq!(viewer.code, 0, "{}", viewer.all());
    assert!(viewer.stdout.contains("(viewer)"), "{}", viewer.stdout);
    let bad_role = formpay(
        &dir,
        &with_password,
        &[
            "create-admin",
            "--email",
            "root@school.example",
            "--role",
            "root",
        ],
        "",
    )
    .await;
    assert_eq!(bad_role.code, 2, "{}", bad_role.all());

    // The server on that database: the new administrator signs in.
    let mut settings = test_settings(&url);
    settings.remove("ADMIN_EMAIL");
    settings.remove("ADMIN_PASSWORD");
    let app = spawn_app_on(None, settings.clone()).await;
    assert!(
        signs_in(&app, "desk@school.example", "first password 1").await,
        "the created administrator signs in"
    );
    let session = app.server_fn("admin_accounts", &[]).await;
    assert_eq!(session.status(), 200, "and is signed in");

    // reset-password (from standard input) ends the session and changes the password.
    let reset = formpay(
        &dir,
        &env,
        &["reset-password", "--email", "desk@school.example"],
        "second password 2\n",
    )
    .await;
    assert_eq!(reset.code, 0, "{}", reset.all());
    let ended = app.server_fn("admin_accounts", &[]).await;
    assert_ne!(ended.status(), 200, "the session ended with the reset");
    assert!(
        !signs_in(&app, "desk@school.example", "first password 1").await,
        "the old password no longer works"
    );
    assert!(
        signs_in(&app, "desk@school.example", "second password 2").await,
        "the new one does"
    );
    // The way back in for a locked-out owner: a viewer made an active owner.
    let viewer_id = formpay_core::auth::admin_id(
        &app.db,
        &app::domain::Email::parse("viewer@school.example").expect("email"),
    )
    .await
    .expect("read")
    .expect("viewer");
    formpay_core::auth::set_disabled(&app.db, "", &viewer_id, true)
        .await
        .expect("disable")
        .expect("disabled");
    let recovered = formpay(
        &dir,
        &env,
        &[
            "reset-password",
            "--email",
            "viewer@school.example",
            "--clear-two-factor",
            "--make-owner",
        ],
        "third password 3\n",
    )
    .await;
    assert_eq!(recovered.code, 0, "{}", recovered.all());
    assert!(
        recovered.stdout.contains("active owner"),
        "{}",
        recovered.stdout
    );
    assert!(signs_in(&app, "viewer@school.example", "third password 3").await);
    assert_eq!(
        app.server_fn("admin_people", &[]).await.status(),
        200,
        "an owner now"
    );
    drop(app);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_to_the_same_orders() {
    let dir = temp_dir("backup");
    let database = DatabaseGuard::create(Backend::Sqlite).await;
    let live_url = database.url.clone();
    let live = PathBuf::from(live_url.trim_start_matches("sqlite://"));
    let app = Arc::new(spawn_app_on(Some(database), test_settings(&live_url)).await);

    // Payers submit, start payments and pay while the backups are taken.
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicU32::new(0));
    let mut load = Vec::new();
    for worker in 0..3 {
        let (app, stop, made) = (app.clone(), stop.clone(), made.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let order = submit_demo(&app, "2.50").await;
                let id = order["id"].as_str().expect("id").to_owned();
                if (n + worker).is_multiple_of(2) {
                    let qr = pay(&app, &id, "wechat_native").await["qr_code"]
                        .as_str()
                        .expect("qr")
                        .to_owned();
                    press(&app, &qr, "pay").await;
                }
                n += 1;
                made.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let until = |n: u32| {
        let made = made.clone();
        async move {
            while made.load(Ordering::Relaxed) < n {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    until(10).await;
    let env = [("DATABASE_URL", live_url.as_str())];
    let during = dir.join("during.db");
    let run = formpay(&dir, &env, &["backup", "during.db"], "").await;
    assert_eq!(run.code, 0, "backup under load: {}", run.all());
    assert!(run.stdout.contains("integrity ok"), "{}", run.stdout);
    let at_backup = made.load(Ordering::Relaxed);
    until(at_backup + 10).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.expect("load");
    }
    // Settlements in flight finish before the final picture is taken.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let after = formpay(&dir, &env, &["backup", "after.db"], "").await;
    assert_eq!(after.code, 0, "{}", after.all());
    let live_orders = orders_in(&live).await;
    // A backup never overwrites, and PostgreSQL is pointed at pg_dump.
    let exists = formpay(&dir, &env, &["backup", "during.db"], "").await;
    assert_eq!(exists.code, 2, "{}", exists.all());
    drop(app);
    let pg = formpay(
        &dir,
        &[(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )],
        &["backup", "x.dump"],
        "",
    )
    .await;
    assert_eq!(pg.code, 2, "{}", pg.all());
    assert!(pg.stderr.contains("pg_dump"), "{}", pg.stderr);

    // The backup taken at the end restores to exactly the live orders.
    let restored = dir.join("restored/formpay.db");
    let restored_url = sqlite_url(&restored);
    let renv = [("DATABASE_URL", restored_url.as_str())];
    let run = formpay(&dir, &renv, &["restore", "after.db"], "").await;
    assert_eq!(run.code, 0, "{}", run.all());
    let restored_orders = orders_in(&restored).await;
    assert_eq!(restored_orders.len(), live_orders.len());
    assert_eq!(
        restored_orders, live_orders,
        "the restored orders are the live ones"
    );
    assert!(live_orders.iter().any(|o| o.1 == "paid"), "some were paid");

    // The one taken under load is one consistent moment: orders the live
    // database has, each as it was then (an unpaid one may have been paid since).
    let snapshot = orders_in(&during).await;
    assert!(!snapshot.is_empty() && snapshot.len() <= live_orders.len());
    for (id, status, amount, _) in &snapshot {
        let now = live_orders
            .iter()
            .find(|o| &o.0 == id)
            .unwrap_or_else(|| panic!("order {id} of the backup is not in the live database"));
        assert_eq!(&now.2, amount);
        assert!(
            status == &now.1 || status == "created" || status == "pending",
            "{id}: {status} then, {} now",
            now.1
        );
    }

    // Restoring over a database: refused without --replace, kept aside with it.
    let refused = formpay(&dir, &renv, &["restore", "during.db"], "").await;
    assert_eq!(refused.code, 2, "{}", refused.all());
    assert_eq!(orders_in(&restored).await, live_orders, "nothing moved");
    let damaged = dir.join("damaged.db");
    std::fs::write(&damaged, b"SQLite format 3\0 but not really a database").expect("write");
    let bad = formpay(&dir, &renv, &["restore", "damaged.db", "--replace"], "").await;
    assert_eq!(bad.code, 1, "{}", bad.all());
    assert_eq!(orders_in(&restored).await, live_orders, "nothing moved");
    let replaced = formpay(&dir, &renv, &["restore", "during.db", "--replace"], "").await;
    assert_eq!(replaced.code, 0, "{}", replaced.all());
    assert_eq!(orders_in(&restored).await, snapshot);
    let kept: Vec<_> = std::fs::read_dir(dir.join("restored"))
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("formpay.db.before-restore-") && !n.ends_with("-wal"))
        .filter(|n| !n.ends_with("-shm"))
        .collect();
    assert_eq!(kept.len(), 1, "the replaced database is kept: {kept:?}");
    assert_eq!(
        orders_in(&dir.join("restored").join(&kept[0])).await,
        live_orders
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn rotating_the_master_key_under_load_keeps_every_account_usable() {
    const NEW_KEY: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const STRANGER: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    let dir = temp_dir("rotate");
    let database = DatabaseGuard::create(Backend::Sqlite).await;
    let url = database.url.clone();

    // Two accounts sealed under the old key. (`database` outlives every
    // instance: dropping it deletes the file.)
    let old = spawn_app_on(None, test_settings(&url)).await;
    old.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let wechat = crate::trust::simulated_account(&old, "微信", "wechat_v3").await;
    let alipay = crate::trust::simulated_account(&old, "支付宝", "alipay").await;
    let sealed = || async {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, secrets_sealed FROM merchant_accounts ORDER BY id")
                .fetch_all(&old.db.pool)
                .await
                .expect("rows");
        rows
    };
    let before = sealed().await;
    // An administrator with two-factor login: its secret is sealed too.
    let twofa = crate::roles::join_as(&old, "twofa@school.example", "viewer").await;
    let begun: serde_json::Value = twofa
        .post(old.url("/api/two_factor_begin"))
        .send()
        .await
        .expect("begin")
        .json()
        .await
        .expect("json");
    let secret = begun["Setup"]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let code = formpay_core::auth::code_for(&secret, 0).expect("code");
    let on = twofa
        .post(old.url("/api/two_factor_confirm"))
        .form(&[("code", code.as_str())])
        .send()
        .await
        .expect("confirm")
        .text()
        .await
        .unwrap_or_default();
    assert!(on.contains("recovery_codes"), "{on}");
    let rotate_env = [
        ("DATABASE_URL", url.as_str()),
        ("APP_MASTER_KEY", NEW_KEY),
        ("APP_MASTER_KEY_PREVIOUS", TEST_MASTER_KEY),
    ];

    // Neither key opens them: refused, nothing changed.
    let refused = formpay(
        &dir,
        &[
            ("DATABASE_URL", url.as_str()),
            ("APP_MASTER_KEY", NEW_KEY),
            ("APP_MASTER_KEY_PREVIOUS", STRANGER),
        ],
        &["rotate-master-key"],
        "",
    )
    .await;
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("nothing was changed"),
        "{}",
        refused.stderr
    );
    assert_eq!(sealed().await, before);
    let no_previous = formpay(
        &dir,
        &[("DATABASE_URL", url.as_str()), ("APP_MASTER_KEY", NEW_KEY)],
        &["rotate-master-key"],
        "",
    )
    .await;
    assert_eq!(no_previous.code, 2, "{}", no_previous.all());

    // The server restarted with the new key and the old one as previous,
    // tested without pause while the rotation runs.
    let mut rotating_settings = test_settings(&url);
    rotating_settings.insert("APP_MASTER_KEY".into(), NEW_KEY.into());
    rotating_settings.insert("APP_MASTER_KEY_PREVIOUS".into(), TEST_MASTER_KEY.into());
    let serving = Arc::new(spawn_app_on(None, rotating_settings).await);
    serving.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (serving, stop) = (serving.clone(), stop.clone());
        let ids = [wechat.clone(), alipay.clone()];
        tokio::spawn(async move {
            let mut tested = 0;
            while !stop.load(Ordering::Relaxed) || tested < 4 {
                for id in &ids {
                    let answer = serving.call("admin_test_account", &[("id", id)]).await;
                    assert_eq!(answer[0][1], serde_json::Value::Null, "{id}: {answer}");
                    tested += 1;
                }
            }
            tested
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let run = formpay(&dir, &rotate_env, &["rotate-master-key"], "").await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("2 account(s) re-sealed")
            && run
                .stdout
                .contains("1 other secret(s) (two-factor, webhooks) re-sealed"),
        "{}",
        run.all()
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let tested = load.await.expect("every test of the accounts passed");
    assert!(tested >= 4);
    assert!(!run.all().contains(NEW_KEY) && !run.all().contains(TEST_MASTER_KEY));
    let after = sealed().await;
    assert!(
        after
            .iter()
            .zip(&before)
            .all(|(a, b)| a.0 == b.0 && a.1 != b.1),
        "every account was re-sealed"
    );
    drop(serving);

    // A second run has nothing to move.
    let again = formpay(&dir, &rotate_env, &["rotate-master-key"], "").await;
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again.stdout.contains("0 account(s) re-sealed") && again.stdout.contains("2 already"),
        "{}",
        again.stdout
    );

    // The new key alone opens every account; the old one alone none.
    let mut new_only = test_settings(&url);
    new_only.insert("APP_MASTER_KEY".into(), NEW_KEY.into());
    let app = spawn_app_on(None, new_only).await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for id in [&wechat, &alipay] {
        let answer = app.call("admin_test_account", &[("id", id)]).await;
        assert_eq!(answer[0][1], serde_json::Value::Null, "{id}: {answer}");
    }
    // The two-factor login works under the new key alone.
    let next = formpay_core::auth::code_for(&secret, 1).expect("code");
    let login = crate::helpers::client_of(&app.address)
        .post(app.url("/api/login"))
        .form(&[
            ("email", "twofa@school.example"),
            ("password", crate::roles::PASSWORD),
            ("code", next.as_str()),
        ])
        .send()
        .await
        .expect("login")
        .text()
        .await
        .unwrap_or_default();
    assert_eq!(login, "\"LoggedIn\"");
    drop(app);
    let old_only = spawn_app_on(None, test_settings(&url)).await;
    old_only.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let refused = old_only
        .call("admin_test_account", &[("id", &alipay)])
        .await;
    assert!(
        refused[0][1]
            .as_str()
            .is_some_and(|e| e.contains("APP_MASTER_KEY")),
        "{refused}"
    );
    drop(old_only);
    // The accounts' API base is the first instance's simulator: kept until now.
    drop(old);
    drop(database);
    let _ = std::fs::remove_dir_all(dir);
}

/// The retention rule of a form, set as an administrator sets it.
async fn keep_answers(app: &crate::helpers::TestApp, slug: &str, days: Option<i64>) {
    let form = app::ssr::forms::form_by_slug(&app.db, slug)
        .await
        .expect("read")
        .expect("form");
    let mut def = form.def.clone();
    def.retention_days = days;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let saved = app
        .server_fn(
            "admin_save_form",
            &[
                ("id", form.id.as_str()),
                ("def", &serde_json::to_string(&def).expect("json")),
            ],
        )
        .await;
    let text = saved.text().await.unwrap_or_default();
    assert!(text.contains("Saved"), "{text}");
}

async fn purge_erases_exactly_what_the_retention_rule_says(backend: Backend) {
    use sqlx::Row;
    let dir = temp_dir("purge");
    let database = DatabaseGuard::create(backend).await;
    let url = database.url.clone();
    let app = spawn_app_on(None, test_settings(&url)).await;
    // Out of range: refused, with the rule named.
    let form = app::ssr::forms::form_by_slug(&app.db, "demo")
        .await
        .expect("read")
        .expect("demo");
    let mut def = form.def.clone();
    def.retention_days = Some(0);
    assert!(def.validate().is_err());
    keep_answers(&app, "demo", Some(30)).await;

    // Paid 31 days ago (due); waiting for payment since 31 days (money in
    // motion: kept); submitted today (kept).
    let paid = submit_demo(&app, "5.00").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let qr = pay(&app, &paid, "wechat_native").await["qr_code"]
        .as_str()
        .expect("qr")
        .to_owned();
    press(&app, &qr, "pay").await;
    crate::flow::wait_status(&app, &paid, "paid").await;
    let pending = submit_demo(&app, "6.00").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    pay(&app, &pending, "wechat_native").await;
    let fresh = submit_demo(&app, "7.00").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let month = 31 * 24 * 3600 * 1000_i64;
    for order in [&paid, &pending] {
        sqlx::query("UPDATE submissions SET created_at = created_at - $1 WHERE id = (SELECT submission_id FROM orders WHERE id = $2)")
            .bind(month)
            .bind(order)
            .execute(&app.db.pool)
            .await
            .expect("age");
    }
    let row = |order: String| {
        let pool = app.db.pool.clone();
        async move {
            let r = sqlx::query(
                "SELECT s.answers_json, s.search_text, s.erased_at, s.amount_fen, o.status, o.amount_fen AS paid_fen, o.transaction_id \
                 FROM submissions s JOIN orders o ON o.submission_id = s.id WHERE o.id = $1",
            )
            .bind(order)
            .fetch_one(&pool)
            .await
            .expect("row");
            (
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<Option<i64>, _>(2),
                r.get::<Option<i64>, _>(3),
                r.get::<String, _>(4),
                r.get::<i64, _>(5),
                r.get::<Option<String>, _>(6),
            )
        }
    };
    let before_paid = row(paid.clone()).await;
    let before_pending = row(pending.clone()).await;
    let before_fresh = row(fresh.clone()).await;
    assert!(before_paid.0.contains("张三"));

    let env = [("DATABASE_URL", url.as_str())];
    let run = formpay(&dir, &env, &["purge"], "").await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("answers of 1 submission(s)"),
        "{}",
        run.stdout
    );
    let after_paid = row(paid.clone()).await;
    assert_eq!(after_paid.0, "{}", "the answers are erased");
    assert_eq!(after_paid.1, "", "and their search text");
    assert!(after_paid.2.is_some(), "the erasure is dated");
    // The financial record stays: amount, status, the provider's transaction.
    assert_eq!(after_paid.3, before_paid.3);
    assert_eq!(after_paid.4, "paid");
    assert_eq!(after_paid.5, before_paid.5);
    assert_eq!(after_paid.6, before_paid.6);
    assert!(after_paid.6.is_some());
    assert_eq!(
        row(pending.clone()).await,
        before_pending,
        "money in motion is kept"
    );
    assert_eq!(row(fresh.clone()).await, before_fresh, "within the period");
    // The provider calls for the erased order keep their status, not their bodies.
    let bodies: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT l.request, l.status_code FROM payment_log l JOIN payment_attempts a ON a.out_trade_no = l.out_trade_no WHERE a.order_id = $1",
    )
    .bind(&paid)
    .fetch_all(&app.db.pool)
    .await
    .expect("log");
    assert!(!bodies.is_empty());
    assert!(bodies.iter().all(|(b, _)| b == "[erased]"), "{bodies:?}");
    assert!(bodies.iter().any(|(_, s)| s.is_some()));
    // The admin's page still lists it, with its amount and status.
    let listed = app
        .server_fn(
            "admin_submissions",
            &[
                ("form_id", form.id.as_str()),
                ("page", "1"),
                ("search", ""),
                ("status", ""),
            ],
        )
        .await;
    assert_eq!(listed.status(), 200);
    let listed = listed.text().await.unwrap_or_default();
    let page: serde_json::Value = serde_json::from_str(&listed).expect("json");
    let erased: Vec<&serde_json::Value> = page["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["erased"] == true)
        .collect();
    assert!(
        erased.len() == 1
            && erased[0]["amount"] == "¥5.00"
            && erased[0]["answers"]
                .as_array()
                .expect("cells")
                .iter()
                .all(|c| c["text"] == ""),
        "the erased submission is listed with its amount, without answers: {listed}"
    );

    // Again: nothing more. Without a rule: nothing at all.
    let again = formpay(&dir, &env, &["purge"], "").await;
    assert!(
        again.stdout.contains("answers of 0 submission(s)"),
        "{}",
        again.all()
    );
    keep_answers(&app, "demo", None).await;
    sqlx::query("UPDATE submissions SET created_at = created_at - $1")
        .bind(100 * month)
        .execute(&app.db.pool)
        .await
        .expect("age all");
    let none = formpay(&dir, &env, &["purge"], "").await;
    assert!(
        none.stdout.contains("answers of 0 submission(s)"),
        "{}",
        none.all()
    );
    drop(app);
    drop(database);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn purge_erases_exactly_what_the_retention_rule_says_sqlite() {
    purge_erases_exactly_what_the_retention_rule_says(Backend::Sqlite).await;
}

#[tokio::test]
async fn purge_erases_exactly_what_the_retention_rule_says_postgres() {
    purge_erases_exactly_what_the_retention_rule_says(Backend::Postgres).await;
}
