//! The database gone for ten seconds (issue 11, part 2), with PostgreSQL:
//! the application reaches it through a small TCP proxy in this test that,
//! when cut, drops every connection and refuses new ones (the machine's
//! shared PostgreSQL is never stopped). During the outage: callbacks get a
//! failure answer (the provider retries), pages and the API answer 503 at
//! once with a clear message, `/readyz` says not ready, nothing panics.
//! After it: the pool recovers by itself and every order settles once.

use crate::helpers::*;
use app::ssr::Backend;
use simulator::SimProvider;
use sqlx::Row;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy that can be cut.
struct Cutter {
    port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Cutter {
    async fn start(upstream: String) -> Cutter {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (c, l) = (cut.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    drop(client); // refused
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                l.lock().expect("links").push(task.abort_handle());
            }
        });
        Cutter { port, cut, links }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

async fn timed_status(app: &TestApp, method: &str, path: &str) -> (u16, Duration, String) {
    let started = Instant::now();
    let req = match method {
        "POST" => app
            .client
            .post(app.url(path))
            .json(&serde_json::json!({"answers": {"name": "断网", "amount": "1.00"}})),
        _ => app.client.get(app.url(path)),
    };
    let resp = req
        .send()
        .await
        .expect("an answer, not a dropped connection");
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    (status, started.elapsed(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_seconds_without_postgresql_lose_nothing_and_answer_503_meanwhile() {
    let database = DatabaseGuard::create(Backend::Postgres).await;
    let mut url = url::Url::parse(&database.url).expect("url");
    let upstream = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    );
    let cutter = Cutter::start(upstream).await;
    url.set_port(Some(cutter.port)).expect("port");
    let real = app::ssr::Db::connect(&database.url)
        .await
        .expect("direct db");
    let app = spawn_app_on(Some(database), test_settings(url.as_str())).await;
    let sim = app.simulator.clone().expect("simulator");

    // Checkouts before the outage.
    let mut orders = Vec::new();
    for _ in 0..20 {
        let order = crate::flow::submit_demo(&app, "1.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        crate::flow::pay(&app, &id, "wechat_native").await;
        let no: String = sqlx::query("SELECT out_trade_no FROM orders WHERE id = $1")
            .bind(&id)
            .fetch_one(&real.pool)
            .await
            .expect("order")
            .get("out_trade_no");
        orders.push((id, no));
    }

    cutter.cut();
    let outage = Instant::now();
    // The payers pay meanwhile: their callbacks arrive while the database is gone.
    for (_, no) in &orders[..10] {
        sim.pay(SimProvider::Wechat, no).expect("pay");
    }
    // The watcher notices within a few seconds; from then on, 503 at once.
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let (status, _, _) = timed_status(&app, "GET", "/readyz").await;
        if status == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz never said not ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The pages too, once the watcher has seen it (it pings every second).
    let deadline = Instant::now() + Duration::from_secs(5);
    while timed_status(&app, "GET", "/f/demo").await.0 != 503 {
        assert!(Instant::now() < deadline, "the pages never said 503");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (method, path) in [
        ("GET", "/api/v1/forms/demo"),
        ("POST", "/api/v1/forms/demo/submissions"),
        ("GET", "/f/demo"),
        ("GET", &format!("/pay/{}", orders[0].0)),
        ("GET", &format!("/api/v1/orders/{}", orders[0].0)),
    ] {
        let (status, took, body) = timed_status(&app, method, path).await;
        assert_eq!(
            status,
            503,
            "{method} {path} ({took:?}): {}",
            &body[..body.len().min(200)]
        );
        assert!(
            took < Duration::from_secs(1),
            "{method} {path} took {took:?}"
        );
        assert!(body.contains("try again"), "a clear message: {body}");
    }
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200, "the process itself is alive");
    // More payers pay during the outage.
    for (_, no) in &orders[10..15] {
        sim.pay(SimProvider::Wechat, no).expect("pay");
    }
    let paid_meanwhile: i64 = sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE status = 'paid'")
        .fetch_one(&real.pool)
        .await
        .expect("count")
        .get("n");
    assert_eq!(
        paid_meanwhile, 0,
        "nothing could be recorded during the outage"
    );
    let acknowledged = sim.stats().acknowledged_payments.len();
    assert_eq!(
        acknowledged, 0,
        "no callback was acknowledged without being recorded"
    );

    // Ten seconds later the database is back.
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(outage.elapsed())).await;
    cutter.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, _) = timed_status(&app, "GET", "/readyz").await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the pool never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while timed_status(&app, "GET", "/api/v1/forms/demo").await.0 != 200 {
        assert!(Instant::now() < deadline, "the gate never opened again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // New checkouts work again; the retried callbacks (and the reconciler) settle the rest.
    let order = crate::flow::submit_demo(&app, "1.00").await;
    assert!(order["id"].is_string());
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let paid: i64 = sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE status = 'paid'")
            .fetch_one(&real.pool)
            .await
            .expect("count")
            .get("n");
        if paid == 15 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{paid} of 15 paid after the outage"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let events: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM order_events WHERE to_status = 'paid'")
            .fetch_one(&real.pool)
            .await
            .expect("count")
            .get("n");
    assert_eq!(events, 15, "each order paid exactly once");
    for (id, _) in &orders[15..] {
        let status: String = sqlx::query("SELECT status FROM orders WHERE id = $1")
            .bind(id)
            .fetch_one(&real.pool)
            .await
            .expect("order")
            .get("status");
        assert_eq!(status, "pending", "unpaid orders stay payable");
    }
    real.pool.close().await;
}

/// SQLite locked by another process for longer than the busy timeout:
/// writes wait the timeout, then get 503 (callbacks a failure answer, so the
/// provider retries); reads go on (WAL); once the lock is gone every order
/// settles exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_loses_nothing() {
    use sqlx::Connection;
    let app = spawn_app(Backend::Sqlite).await;
    let sim = app.simulator.clone().expect("simulator");
    let mut orders = Vec::new();
    for _ in 0..5 {
        let order = crate::flow::submit_demo(&app, "1.00").await;
        let id = order["id"].as_str().expect("id").to_owned();
        crate::flow::pay(&app, &id, "wechat_native").await;
        let no: String = sqlx::query("SELECT out_trade_no FROM orders WHERE id = $1")
            .bind(&id)
            .fetch_one(&app.db.pool)
            .await
            .expect("order")
            .get("out_trade_no");
        orders.push(no);
    }
    // Another process takes the write lock and keeps it for 14 s.
    let url = app.db.url.clone();
    let mut locker = sqlx::AnyConnection::connect(&url).await.expect("locker");
    sqlx::Executor::execute(&mut locker, "BEGIN IMMEDIATE")
        .await
        .expect("lock");
    sqlx::Executor::execute(&mut locker, "UPDATE forms SET title = title")
        .await
        .expect("write");
    let locked = Instant::now();
    for no in &orders {
        sim.pay(SimProvider::Wechat, no).expect("pay");
    }
    // A write waits for the busy timeout, then gets a clear 503.
    let (status, took, body) = timed_status(&app, "POST", "/api/v1/forms/demo/submissions").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("try again"), "{body}");
    assert!(took < Duration::from_secs(13), "took {took:?}");
    // Reads go on meanwhile.
    let (status, _, _) = timed_status(&app, "GET", "/api/v1/forms/demo").await;
    assert_eq!(status, 200);
    assert_eq!(
        sim.stats().acknowledged_payments.len(),
        0,
        "nothing acknowledged unrecorded"
    );
    tokio::time::sleep(Duration::from_secs(14).saturating_sub(locked.elapsed())).await;
    sqlx::Executor::execute(&mut locker, "ROLLBACK")
        .await
        .expect("unlock");
    drop(locker);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let paid: i64 = sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE status = 'paid'")
            .fetch_one(&app.db.pool)
            .await
            .expect("count")
            .get("n");
        if paid == 5 {
            break;
        }
        assert!(Instant::now() < deadline, "{paid} of 5 paid after the lock");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let events: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM order_events WHERE to_status = 'paid'")
            .fetch_one(&app.db.pool)
            .await
            .expect("count")
            .get("n");
    assert_eq!(events, 5, "each order paid exactly once");
}
