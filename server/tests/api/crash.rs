//! Crash safety (issue 11, part 1): the real binary as a child process, 500
//! orders paid at once, `SIGKILL` in the middle of the burst of callbacks,
//! then a restart on the same database.
//!
//! The provider (the simulator) lives in this test process, so it outlives the
//! server as a real provider would: it knows which callbacks were acknowledged
//! and keeps retrying the others on WeChat Pay's schedule (compressed). The
//! server is configured with it as a real WeChat Pay merchant, and with the
//! reconciler's first query an hour away, so that only callbacks can settle
//! an order: a lost acknowledged callback would show as an unpaid order.

use crate::helpers::DatabaseGuard;
use app::ssr::Backend;
use simulator::{Fault, SimProvider};
use sqlx::Row;
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_formpay");
const ORDERS: usize = 500;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// The server, configured with the test's simulator as its WeChat Pay.
fn start(port: u16, database_url: &str, sim_base: &str, dir: &std::path::Path) -> Child {
    start_with(port, database_url, sim_base, dir, "3600")
}

fn start_with(
    port: u16,
    database_url: &str,
    sim_base: &str,
    dir: &std::path::Path,
    first_check_secs: &str,
) -> Child {
    Command::new(BINARY)
        .env_clear()
        .env("APP_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", database_url)
        .env("ADMIN_EMAIL", "admin@test.example")
        .env("ADMIN_PASSWORD", "correct horse battery")
        .env("SIMULATOR", "off")
        .env("RATE_LIMIT_PER_MINUTE", "1000000")
        .env("POW_BURST_PER_MINUTE", "1000000")
        .env("RECONCILE_FIRST_CHECK_SECS", first_check_secs)
        .env("RECONCILE_TICK_MS", "100")
        .envs(simulator::wechat_merchant_env(sim_base))
        .env("RUST_LOG", "error")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server")
}

async fn wait_healthy(client: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the server never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One order through the public API, up to its WeChat Native provider order.
async fn checkout(client: &reqwest::Client, base: &str, i: usize) -> (String, String) {
    let order: serde_json::Value = client
        .post(format!("{base}/api/v1/forms/demo/submissions"))
        .json(&serde_json::json!({"answers": {"name": format!("付款人{i}"), "amount": "1.00"}}))
        .send()
        .await
        .expect("submit")
        .json()
        .await
        .expect("json");
    let id = order["order"]["id"].as_str().expect("order id").to_owned();
    let paid = client
        .post(format!("{base}/api/v1/orders/{id}/pay"))
        .json(&serde_json::json!({"channel": "wechat_native"}))
        .send()
        .await
        .expect("pay");
    assert_eq!(paid.status(), 200, "pay {id}");
    let order: serde_json::Value = client
        .get(format!("{base}/api/v1/orders/{id}"))
        .send()
        .await
        .expect("order")
        .json()
        .await
        .expect("json");
    let no = order["out_trade_no"]
        .as_str()
        .expect("out_trade_no")
        .to_owned();
    (id, no)
}

async fn paid_orders(db: &app::ssr::Db) -> BTreeSet<String> {
    sqlx::query("SELECT out_trade_no FROM orders WHERE status = 'paid'")
        .fetch_all(&db.pool)
        .await
        .expect("paid orders")
        .iter()
        .map(|r| r.get::<String, _>("out_trade_no"))
        .collect()
}

async fn crash_in_the_middle_of_callbacks(backend: Backend) {
    let database = DatabaseGuard::create(backend).await;
    let dir = std::env::temp_dir().join(format!("formpay-crash-{}", app::ssr::random_token()));
    std::fs::create_dir_all(&dir).expect("dir");

    // The provider, outside the server.
    let (sim, sim_base) = simulator::spawn_standalone(0.001).await.expect("simulator");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut server = start(port, &database.url, &sim_base, &dir);
    wait_healthy(&client, port).await;

    // 500 orders, 16 at a time.
    use futures_util::StreamExt;
    let orders: Vec<(String, String)> = futures_util::stream::iter(0..ORDERS)
        .map(|i| {
            let (client, base) = (client.clone(), base.clone());
            async move { checkout(&client, &base, i).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(orders.len(), ORDERS);

    // Every payer pays at once: 500 callbacks race to the server...
    for (_, no) in &orders {
        sim.pay(SimProvider::Wechat, no)
            .expect("pay at the provider");
    }
    // ...which is killed once about a third of them were acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.stats().acknowledged_payments.len() < ORDERS / 3 {
        assert!(
            Instant::now() < deadline,
            "callbacks are not being acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill().expect("SIGKILL");
    server.wait().expect("reap");
    let acknowledged: BTreeSet<String> =
        sim.stats().acknowledged_payments.keys().cloned().collect();
    assert!(
        acknowledged.len() < ORDERS,
        "the kill came too late to test anything ({} of {ORDERS} acknowledged)",
        acknowledged.len()
    );

    // Every acknowledged callback is durable.
    let db = app::ssr::Db::connect(&database.url).await.expect("db");
    let paid = paid_orders(&db).await;
    let lost: Vec<&String> = acknowledged.difference(&paid).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged callbacks were lost by the crash: {lost:?}",
        lost.len()
    );

    // A restart on the same database: the provider's retries settle the rest.
    let mut server = start(port, &database.url, &sim_base, &dir);
    wait_healthy(&client, port).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    while paid_orders(&db).await.len() < ORDERS {
        assert!(
            Instant::now() < deadline,
            "only {} of {ORDERS} orders paid after the restart",
            paid_orders(&db).await.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every order paid exactly once, by exactly one event; nothing pending.
    let twice: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM (SELECT order_id FROM order_events WHERE to_status = 'paid' \
         GROUP BY order_id HAVING COUNT(*) <> 1) AS t",
    )
    .fetch_one(&db.pool)
    .await
    .expect("events")
    .get("n");
    assert_eq!(twice, 0, "orders with more or less than one paid event");
    let paid_events: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM order_events WHERE to_status = 'paid'")
            .fetch_one(&db.pool)
            .await
            .expect("events")
            .get("n");
    assert_eq!(paid_events, ORDERS as i64);
    let other: i64 = sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE status <> 'paid'")
        .fetch_one(&db.pool)
        .await
        .expect("orders")
        .get("n");
    assert_eq!(
        other, 0,
        "orders left unpaid that the provider says are paid"
    );
    let received: i64 =
        sqlx::query("SELECT CAST(COALESCE(SUM(received_fen), 0) AS BIGINT) AS n FROM orders")
            .fetch_one(&db.pool)
            .await
            .expect("sum")
            .get("n");
    assert_eq!(received, 100 * ORDERS as i64, "no money doubled or lost");
    // The provider was told, in the end, for every order.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.stats().acknowledged_payments.len() < ORDERS {
        assert!(Instant::now() < deadline, "callbacks still unacknowledged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "crash ({backend:?}): {} of {ORDERS} callbacks acknowledged before SIGKILL, 0 lost; \
         {} delivery attempts in all",
        acknowledged.len(),
        sim.stats().attempts
    );

    let _ = server.kill();
    let _ = server.wait();
    db.pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_of_callbacks_loses_nothing_sqlite() {
    crash_in_the_middle_of_callbacks(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_of_callbacks_loses_nothing_postgres() {
    crash_in_the_middle_of_callbacks(Backend::Postgres).await;
}

async fn wait_for(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A refund sent to the provider, which makes it but answers slowly; the
/// server is killed before the answer arrives. After a restart the refund
/// is recorded once: through its idempotency key, the provider's callback
/// and the reconciler, never sent twice.
async fn crash_between_sending_a_refund_and_recording_it(backend: Backend) {
    let database = DatabaseGuard::create(backend).await;
    let dir = std::env::temp_dir().join(format!("formpay-crash-{}", app::ssr::random_token()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (sim, sim_base) = simulator::spawn_standalone(0.001).await.expect("simulator");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = crate::helpers::client_of(&base);
    let mut server = start_with(port, &database.url, &sim_base, &dir, "0.5");
    wait_healthy(&client, port).await;
    let db = app::ssr::Db::connect(&database.url).await.expect("db");

    let (id, no) = checkout(&client, &base, 0).await;
    sim.pay(SimProvider::Wechat, &no).expect("pay");
    wait_for("paid", Duration::from_secs(20), async || {
        paid_orders(&db).await.contains(&no)
    })
    .await;
    let login = client
        .post(format!("{base}/api/login"))
        .form(&[
            ("email", "admin@test.example"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);

    // The provider makes the refund, then takes 30 s to say so, and its
    // callback is lost: only the reconciler's query can learn the outcome.
    sim.set_fault(Some(Fault::Slow(Duration::from_secs(30))));
    sim.set_delivery(false);
    let refunding = {
        let (client, base, id) = (client.clone(), base.clone(), id.clone());
        tokio::spawn(async move {
            let _ = client
                .post(format!("{base}/api/admin_refund"))
                .form(&[
                    ("id", id.as_str()),
                    ("amount", "0.40"),
                    ("reason", "断电测试"),
                    ("request_key", "crash-refund-0001"),
                ])
                .send()
                .await;
        })
    };
    wait_for(
        "the refund at the provider",
        Duration::from_secs(20),
        async || !sim.refunds_of(SimProvider::Wechat, &no).is_empty(),
    )
    .await;
    server.kill().expect("SIGKILL");
    server.wait().expect("reap");
    refunding.abort();
    sim.set_fault(None);
    sim.set_delivery(true);
    let before: Vec<String> = sqlx::query("SELECT status FROM refunds WHERE order_id = $1")
        .bind(&id)
        .fetch_all(&db.pool)
        .await
        .expect("refunds")
        .iter()
        .map(|r| r.get::<String, _>("status"))
        .collect();
    assert_eq!(
        before,
        ["processing"],
        "the refund was recorded, by its key, before it was sent"
    );

    let mut server = start_with(port, &database.url, &sim_base, &dir, "0.5");
    wait_healthy(&client, port).await;
    wait_for("the refund recorded", Duration::from_secs(60), async || {
        let r: Vec<String> = sqlx::query("SELECT status FROM refunds WHERE order_id = $1")
            .bind(&id)
            .fetch_all(&db.pool)
            .await
            .expect("refunds")
            .iter()
            .map(|r| r.get::<String, _>("status"))
            .collect();
        r == ["succeeded"]
    })
    .await;
    let at_provider = sim.refunds_of(SimProvider::Wechat, &no);
    assert_eq!(at_provider.len(), 1, "sent once: {at_provider:?}");
    assert_eq!(at_provider[0].amount_fen, 40);
    let row = sqlx::query("SELECT status, refunded_fen FROM orders WHERE id = $1")
        .bind(&id)
        .fetch_one(&db.pool)
        .await
        .expect("order");
    assert_eq!(row.get::<i64, _>("refunded_fen"), 40);
    assert_eq!(row.get::<String, _>("status"), "partially_refunded");

    let _ = server.kill();
    let _ = server.wait();
    db.pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_sending_a_refund_and_recording_it_refunds_once_sqlite() {
    crash_between_sending_a_refund_and_recording_it(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_sending_a_refund_and_recording_it_refunds_once_postgres() {
    crash_between_sending_a_refund_and_recording_it(Backend::Postgres).await;
}
