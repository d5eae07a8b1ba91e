//! Checkout, callback and live-status figures for the payment flow, measured
//! over real HTTP against the application and its provider simulator on
//! loopback (SQLite, release build). Run with
//! `cargo bench -p server --bench checkout`. It prints figures; it asserts nothing.

use server::config::Config;
use server::simulator::signed_wechat_callback;
use server::Application;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

struct Bench {
    base: String,
    client: reqwest::Client,
}

impl Bench {
    async fn checkout(&self) -> (String, String) {
        let body = serde_json::json!({"answers": {"name": "压测", "amount": "12.34"}});
        let r: serde_json::Value = self
            .client
            .post(format!("{}/api/v1/forms/demo/submissions", self.base))
            .json(&body)
            .send()
            .await
            .expect("submit")
            .json()
            .await
            .expect("json");
        let id = r["order"]["id"].as_str().expect("order").to_owned();
        let no = r["order"]["out_trade_no"].as_str().expect("no").to_owned();
        let pay = self
            .client
            .post(format!("{}/api/v1/orders/{id}/pay", self.base))
            .json(&serde_json::json!({"channel": "wechat_native"}))
            .send()
            .await
            .expect("pay");
        assert_eq!(pay.status(), 200);
        (id, no)
    }
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("formpay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let settings: HashMap<String, String> = [
        ("APP_ADDR", "127.0.0.1:0".to_owned()),
        (
            "DATABASE_URL",
            format!("sqlite://{}/bench.db", dir.display()),
        ),
        ("ADMIN_EMAIL", "bench@example.com".to_owned()),
        ("ADMIN_PASSWORD", "bench-password-123".to_owned()),
        ("RECONCILE_FIRST_CHECK_SECS", "3600".to_owned()),
        ("RUST_LOG", "error".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_lookup(&move |k| settings.get(k).cloned()).expect("settings");
    let app = Application::build(config).await.expect("app");
    let base = format!("http://{}", app.local_addr());
    let sim = app.simulator().cloned().expect("simulator");
    // Callbacks are posted by this benchmark, so that it measures our side only.
    sim.set_delivery(false);
    tokio::spawn(app.run_until(std::future::pending()));
    let bench = Arc::new(Bench {
        base: base.clone(),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client"),
    });
    println!(
        "machine: {} cores; SQLite; release build; all over loopback HTTP",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    // 1. Checkout: submission + order + signed provider call (to the simulator, which verifies it).
    let total = 400;
    let concurrency = 16;
    let started = Instant::now();
    let mut handles = Vec::new();
    let per_worker = total / concurrency;
    for _ in 0..concurrency {
        let b = bench.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut orders = Vec::new();
            for _ in 0..per_worker {
                let t = Instant::now();
                orders.push(b.checkout().await);
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            (lat, orders)
        }));
    }
    let mut lat = Vec::new();
    let mut orders = Vec::new();
    for h in handles {
        let (l, o) = h.await.expect("worker");
        lat.extend(l);
        orders.extend(o);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "checkout (submit + order + signed WeChat Native call): {:.1} orders/s, p50 {:.1} ms, p99 {:.1} ms ({} orders, {} concurrent)",
        orders.len() as f64 / secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        orders.len(),
        concurrency
    );

    // 2. Verified callbacks: signature, decryption, checks, compare-and-set, event row.
    let callbacks: Vec<_> = orders
        .iter()
        .map(|(_, no)| signed_wechat_callback(no, 1234, server::simulator::dev_keys::WECHAT_MCH_ID))
        .collect();
    let callbacks = Arc::new(callbacks);
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..concurrency {
        let b = bench.clone();
        let cbs = callbacks.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for (headers, body) in cbs.iter().skip(w).step_by(concurrency) {
                let t = Instant::now();
                let mut req = b
                    .client
                    .post(format!("{}/payment/wechat/notify", b.base))
                    .body(body.clone());
                for (k, v) in headers {
                    req = req.header(*k, v);
                }
                let r = req.send().await.expect("callback");
                assert_eq!(r.status(), 204);
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await.expect("worker"));
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "verified callbacks: {:.1} /s, p50 {:.1} ms, p99 {:.1} ms ({} callbacks, {} concurrent)",
        lat.len() as f64 / secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.len(),
        concurrency
    );

    // 3. Live status: 1,000 open streams, then callbacks and the time until each stream hears of it.
    let streams = 1000;
    let mut pending = Vec::new();
    for _ in 0..streams {
        pending.push(bench.checkout().await);
    }
    let before = rss_kib();
    let mut receivers = Vec::new();
    for (id, _) in &pending {
        let resp = bench
            .client
            .get(format!("{base}/api/v1/orders/{id}/events"))
            .send()
            .await
            .expect("sse");
        receivers.push(resp);
    }
    // Read each stream's first event (the current status).
    let mut opened = Vec::new();
    for mut r in receivers {
        let _ = r.chunk().await;
        opened.push(r);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib();
    println!(
        "open streams: {streams}; process RSS {} KiB before, {} KiB after: {:.1} KiB per stream (server and client in one process)",
        before,
        after,
        (after.saturating_sub(before)) as f64 / streams as f64
    );
    let sample = 200;
    let mut waits = Vec::new();
    for (i, mut r) in opened.into_iter().enumerate().take(sample) {
        let (_, no) = &pending[i];
        let (headers, body) =
            signed_wechat_callback(no, 1234, server::simulator::dev_keys::WECHAT_MCH_ID);
        let b = bench.clone();
        waits.push(tokio::spawn(async move {
            let t = Instant::now();
            let mut req = b
                .client
                .post(format!("{}/payment/wechat/notify", b.base))
                .body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let sent = req.send();
            let heard = async {
                loop {
                    match r.chunk().await {
                        Ok(Some(c)) if String::from_utf8_lossy(&c).contains("\"paid\"") => return,
                        Ok(Some(_)) => continue,
                        _ => return,
                    }
                }
            };
            let (_, ()) = tokio::join!(sent, heard);
            t.elapsed().as_secs_f64() * 1000.0
        }));
        // Spread the callbacks out a little, as real ones are.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut lat = Vec::new();
    for w in waits {
        lat.push(w.await.expect("wait"));
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    println!("callback → SSE delivery with {streams} open streams: p50 {:.1} ms, p99 {:.1} ms ({sample} callbacks)", percentile(&lat, 0.5), percentile(&lat, 0.99));
    let _ = std::fs::remove_dir_all(dir);
}
