//! Verified callbacks and checkout against the release binary in its own
//! process (issue 14, parts 1–3), each figure beside its bound measured in
//! the same run on the same machine:
//!
//! - verified WeChat Pay callbacks/s on SQLite (every acknowledged callback
//!   durable: `synchronous=FULL`), beside a bare SQLite WAL commit loop with
//!   `synchronous=FULL` on the same disk;
//! - the same on PostgreSQL, beside a bare single-row `UPDATE` + commit loop
//!   on the same server (skipped when no PostgreSQL answers at
//!   `TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`);
//! - checkout (submission + order + signed provider call, answer verified)
//!   beside `openssl speed rsa2048` signs/s.
//!
//! `cargo bench -p server --features simulator --bench callbacks`
//! (`CALLBACKS`, default 4,000 per database; `CONCURRENCY`, default 64).
//! It asserts nothing.

mod common;

use sqlx::{Connection, Executor};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_formpay");

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(database_url: &str, dir: &std::path::Path, sim_base: &str) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let child = Command::new(BINARY)
        .env_clear()
        .env("APP_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", database_url)
        .env("ADMIN_EMAIL", "bench@test.example")
        .env("ADMIN_PASSWORD", "correct horse battery")
        .env("SIMULATOR", "off")
        .env("RATE_LIMIT_PER_MINUTE", "1000000")
        .env("POW_BURST_PER_MINUTE", "1000000")
        .env("RECONCILE_FIRST_CHECK_SECS", "3600")
        .envs(simulator::wechat_merchant_env(sim_base))
        .env("RUST_LOG", "error")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the release binary");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the server never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Server { child, base }
}

/// Checkouts per second, 16 at a time; the orders' `out_trade_no`s.
async fn checkouts(client: &reqwest::Client, base: &str, n: usize) -> (f64, Vec<String>) {
    let (client, base) = (client.clone(), base.to_owned());
    let started = Instant::now();
    let orders = common::in_parallel(vec![(); n], 16, move |()| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let r: serde_json::Value = client
                .post(format!("{base}/api/v1/forms/demo/submissions"))
                .json(&serde_json::json!({"answers": {"name": "回调", "amount": "12.34"}}))
                .send()
                .await
                .expect("submit")
                .json()
                .await
                .expect("json");
            let id = r["order"]["id"].as_str().expect("order").to_owned();
            let pay = client
                .post(format!("{base}/api/v1/orders/{id}/pay"))
                .json(&serde_json::json!({"channel": "wechat_native"}))
                .send()
                .await
                .expect("pay");
            assert_eq!(pay.status(), 200, "pay");
            r["order"]["out_trade_no"]
                .as_str()
                .expect("out_trade_no")
                .to_owned()
        }
    })
    .await;
    (n as f64 / started.elapsed().as_secs_f64(), orders)
}

/// Verified callbacks per second (signed beforehand, so only our side counts).
async fn callbacks(
    client: &reqwest::Client,
    base: &str,
    orders: &[String],
    concurrency: usize,
) -> f64 {
    let signed: Vec<_> = orders
        .iter()
        .map(|no| simulator::signed_wechat_callback(no, 1234, simulator::dev_keys::WECHAT_MCH_ID))
        .collect();
    let (client, url) = (client.clone(), format!("{base}/payment/wechat/notify"));
    eprintln!("posting {} signed callbacks", signed.len());
    let started = Instant::now();
    common::in_parallel(signed, concurrency, move |(headers, body)| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let mut req = client.post(&url).body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let r = req.send().await.expect("callback");
            assert_eq!(r.status(), 204, "callback acknowledged");
        }
    })
    .await;
    orders.len() as f64 / started.elapsed().as_secs_f64()
}

/// Commits per second of a bare loop: one statement, one commit, for 3 s.
async fn bare_commit_loop(url: &str, setup: &[&str], statement: &str) -> f64 {
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .expect("bare connection");
    for s in setup {
        conn.execute(*s).await.expect("setup");
    }
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        conn.execute(statement).await.expect("commit");
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    sqlx::any::install_default_drivers();
    let n = common::env_number("CALLBACKS", 4_000);
    let concurrency = common::env_number("CONCURRENCY", 64);
    let dir = std::env::temp_dir().join(format!("formpay-callbacks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (sim, sim_base) = simulator::spawn_standalone(1.0).await.expect("simulator");
    sim.set_delivery(false);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(0);
    println!("machine: {cores} cores; release binary in its own process; simulator and load in this process; loopback HTTP; {n} callbacks, {concurrency} at a time");

    // SQLite.
    let sqlite_url = format!("sqlite://{}/bench.db", dir.display());
    let server = start(&sqlite_url, &dir, &sim_base).await;
    let (checkout_rate, orders) = checkouts(&client, &server.base, n).await;
    eprintln!("checkout done; callbacks (SQLite) next");
    let rate = callbacks(&client, &server.base, &orders, concurrency).await;
    drop(server);
    let bound = bare_commit_loop(
        &format!("sqlite://{}/bare.db?mode=rwc", dir.display()),
        &[
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = FULL",
            "CREATE TABLE IF NOT EXISTS t (n BIGINT NOT NULL)",
        ],
        "INSERT INTO t (n) VALUES (1)",
    )
    .await;
    println!(
        "verified callbacks, SQLite (synchronous=FULL): {rate:.0} /s; bound, a bare WAL commit loop with synchronous=FULL: {bound:.0} commits/s → {:.2}× (target ≥ 1×, ≥ 4,400/s)",
        rate / bound
    );
    match common::openssl_speed().map(|(s, _)| s) {
        Some(signs) => println!(
            "checkout (submission + order + signed WeChat Native call, answer verified), 16 at a time: {checkout_rate:.0} /s; bound, openssl speed rsa2048: {signs:.0} signs/s on one core → {:.0} % (target ≥ 850/s)",
            100.0 * checkout_rate / signs
        ),
        None => println!("checkout: {checkout_rate:.0} /s (openssl speed could not run here)"),
    }

    // PostgreSQL, on a database of its own.
    let admin_url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let Ok(mut admin) = sqlx::AnyConnection::connect(&admin_url).await else {
        println!("PostgreSQL: nothing answers at {admin_url}; skipped");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let name = format!("formpay_bench_{}", std::process::id());
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create database");
    let pg_url = match admin_url.rsplit_once('/') {
        Some((server_part, _)) => format!("{server_part}/{name}"),
        None => panic!("TEST_POSTGRES_URL has no database part"),
    };
    let server = start(&pg_url, &dir, &sim_base).await;
    let (_, orders) = checkouts(&client, &server.base, n).await;
    let rate = callbacks(&client, &server.base, &orders, concurrency).await;
    drop(server);
    let bound = bare_commit_loop(
        &pg_url,
        &[
            "CREATE TABLE bare_commit (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)",
            "INSERT INTO bare_commit VALUES (1, 0)",
        ],
        "UPDATE bare_commit SET n = n + 1 WHERE id = 1",
    )
    .await;
    println!(
        "verified callbacks, PostgreSQL: {rate:.0} /s; bound, a bare single-row UPDATE + commit loop: {bound:.0} commits/s → {:.2}× (target ≥ 3,000/s)",
        rate / bound
    );
    // Let the server's connections go before the database does.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await;
    let _ = std::fs::remove_dir_all(&dir);
}
