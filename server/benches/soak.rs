//! Soak (issue 11, part 5): mixed traffic at a fixed rate for a long time
//! against the release binary, recording every minute the server's resident
//! memory, open file descriptors, database size and the p99 latency of each
//! kind of request. Nothing may keep growing but the data itself: the
//! database grows with the orders it stores, so its size is also printed
//! per order.
//!
//! `cargo bench -p server --features simulator --bench soak` (10 minutes; `SOAK_MINUTES=2` for a
//! short run, `SOAK_RATE` orders a second, default 10). It asserts nothing.
//!
//! Traffic, every second: `SOAK_RATE` checkouts (form submission + WeChat
//! Native order through the API), each paid at the provider (the simulator,
//! in this process, as an outside provider) whose signed callback settles
//! it 20 s later; a live-status stream opened for each new order, which
//! ends when the order is paid (about 200 open at any time); every 2 s an
//! administrator's orders page and every 10 s the orders CSV export.

use simulator::SimProvider;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_formpay");

#[derive(Default)]
struct Minute {
    latencies: BTreeMap<&'static str, Vec<f64>>,
    errors: u64,
}

fn p99(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * 0.99).round() as usize]
}

fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn db_bytes(path: &std::path::Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| {
            std::fs::metadata(format!("{}{s}", path.display()))
                .map(|m| m.len())
                .unwrap_or(0)
        })
        .sum()
}

fn main() {
    let minutes: u64 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let rate: u64 = std::env::var("SOAK_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(soak(minutes, rate));
}

async fn soak(minutes: u64, rate: u64) {
    let dir = std::env::temp_dir().join(format!("formpay-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db_path = dir.join("soak.db");
    let (sim, sim_base) = simulator::spawn_standalone(1.0).await.expect("simulator");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(BINARY)
        .env_clear()
        .env("APP_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", format!("sqlite://{}", db_path.display()))
        .env("ADMIN_EMAIL", "soak@test.example")
        .env("ADMIN_PASSWORD", "correct horse battery")
        .env("SIMULATOR", "off")
        .env("RATE_LIMIT_PER_MINUTE", "1000000")
        .env("POW_BURST_PER_MINUTE", "1000000")
        .env("SSE_MAX_STREAMS_PER_ADDRESS", "10000")
        .envs(simulator::wechat_merchant_env(&sim_base))
        .env("RUST_LOG", "error")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the release binary");
    let pid = child.id();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
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
    let admin = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(60))
        .default_headers({
            let mut h = reqwest::header::HeaderMap::new();
            h.insert("origin", base.parse().expect("origin"));
            h
        })
        .build()
        .expect("client");
    let login = admin
        .post(format!("{base}/api/login"))
        .form(&[
            ("email", "soak@test.example"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .expect("login");
    assert!(login.status().is_success());

    let current = Arc::new(Mutex::new(Minute::default()));
    let record = {
        let current = current.clone();
        move |kind: &'static str, started: Instant, ok: bool| {
            if let Ok(mut m) = current.lock() {
                m.latencies
                    .entry(kind)
                    .or_default()
                    .push(started.elapsed().as_secs_f64() * 1000.0);
                if !ok {
                    m.errors += 1;
                }
            }
        }
    };

    println!("soak: {minutes} min, {rate} checkouts/s, each paid 20 s later while its live-status stream is open, admin list every 2 s, CSV every 10 s (release binary, SQLite, this machine)");
    println!(
        "{:>3} {:>9} {:>6} {:>10} {:>11} {:>8} {:>12} {:>12} {:>12} {:>12} {:>7}",
        "min",
        "RSS MiB",
        "fds",
        "orders",
        "paid",
        "streams",
        "DB MiB",
        "DB B/order",
        "p99 chk ms",
        "p99 list ms",
        "errors"
    );
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut second = 0u64;
    let orders_made = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let streams = Arc::new(std::sync::atomic::AtomicI64::new(0));
    while started.elapsed() < Duration::from_secs(minutes * 60) {
        tick.tick().await;
        second += 1;
        for i in 0..rate {
            let (client, base, sim, record) =
                (client.clone(), base.clone(), sim.clone(), record.clone());
            let (orders_made, streams) = (orders_made.clone(), streams.clone());
            tokio::spawn(async move {
                let t = Instant::now();
                let submitted = client
                    .post(format!("{base}/api/v1/forms/demo/submissions"))
                    .json(&serde_json::json!({"answers": {"name": format!("soak{i}"), "amount": "1.00"}}))
                    .send()
                    .await;
                let Some(order) = (match submitted {
                    Ok(r) if r.status().as_u16() == 201 => r.json::<serde_json::Value>().await.ok(),
                    _ => None,
                }) else {
                    record("checkout", t, false);
                    return;
                };
                let id = order["order"]["id"].as_str().unwrap_or_default().to_owned();
                let no = order["order"]["out_trade_no"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let paid = client
                    .post(format!("{base}/api/v1/orders/{id}/pay"))
                    .json(&serde_json::json!({"channel": "wechat_native"}))
                    .send()
                    .await;
                let ok = paid.map(|r| r.status().is_success()).unwrap_or(false);
                record("checkout", t, ok);
                if !ok {
                    return;
                }
                orders_made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // The payer's page listens; the payer pays 20 s later, and
                // the stream ends with the status "paid" (or after 30 s).
                let stream = client
                    .get(format!("{base}/api/v1/orders/{id}/events"))
                    .send()
                    .await;
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(20)).await;
                    let _ = sim.pay(SimProvider::Wechat, &no);
                });
                if let Ok(mut s) = stream {
                    streams.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let until = tokio::time::sleep(Duration::from_secs(30));
                    tokio::pin!(until);
                    loop {
                        tokio::select! {
                            () = &mut until => break,
                            chunk = s.chunk() => if !matches!(chunk, Ok(Some(_))) { break },
                        }
                    }
                    streams.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        if second.is_multiple_of(2) {
            let (admin, base, record) = (admin.clone(), base.clone(), record.clone());
            tokio::spawn(async move {
                let t = Instant::now();
                let ok = admin
                    .get(format!("{base}/admin/orders"))
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                record("list", t, ok);
            });
        }
        if second.is_multiple_of(10) {
            let (admin, base, record) = (admin.clone(), base.clone(), record.clone());
            tokio::spawn(async move {
                let t = Instant::now();
                let ok = match admin.get(format!("{base}/admin/orders.csv")).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                record("csv", t, ok);
            });
        }
        if second.is_multiple_of(60) {
            let mut m = std::mem::take(&mut *current.lock().expect("minute"));
            let orders = orders_made.load(std::sync::atomic::Ordering::Relaxed);
            let paid = sim.stats().acknowledged_payments.len();
            let db = db_bytes(&db_path);
            println!(
                "{:>3} {:>9.1} {:>6} {:>10} {:>11} {:>8} {:>12.1} {:>12} {:>12.1} {:>12.1} {:>7}",
                second / 60,
                proc_status(pid, "VmRSS:") as f64 / 1024.0,
                open_fds(pid),
                orders,
                paid,
                streams.load(std::sync::atomic::Ordering::Relaxed),
                db as f64 / 1048576.0,
                db / orders.max(1),
                p99(m.latencies.entry("checkout").or_default()),
                p99(m.latencies.entry("list").or_default()),
                m.errors
            );
        }
    }
    // Quiet: the streams close, the callbacks finish; what stays?
    tokio::time::sleep(Duration::from_secs(35)).await;
    println!(
        "after 35 s of quiet: RSS {:.1} MiB, {} fds, {} streams open",
        proc_status(pid, "VmRSS:") as f64 / 1024.0,
        open_fds(pid),
        streams.load(std::sync::atomic::Ordering::Relaxed)
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
