//! Does a burst of logins slow down the payment callbacks? (issue 10,
//! finding 5.) Verified WeChat callbacks are posted with and without 300
//! concurrent logins hashing passwords at the same moment, and their latency
//! is printed side by side, measured in the same run on the same machine.
//! Run with `cargo bench -p server --features simulator --bench login_burst`. It asserts nothing.

use server::config::Config;
use server::Application;
use simulator::{dev_keys, signed_wechat_callback};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn orders(client: &reqwest::Client, base: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r: serde_json::Value = client
            .post(format!("{base}/api/v1/forms/demo/submissions"))
            .json(&serde_json::json!({"answers": {"name": "压测", "amount": "1.00"}}))
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
        assert_eq!(pay.status(), 200);
        out.push(r["order"]["out_trade_no"].as_str().expect("no").to_owned());
    }
    out
}

/// Posts one verified callback per order, 8 at a time; returns the latencies (ms).
async fn callbacks(client: &reqwest::Client, base: &str, nos: Vec<String>) -> Vec<f64> {
    let nos = Arc::new(nos);
    let mut workers = Vec::new();
    for w in 0..8 {
        let (client, base, nos) = (client.clone(), base.to_owned(), nos.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for no in nos.iter().skip(w).step_by(8) {
                let (headers, body) = signed_wechat_callback(no, 100, dev_keys::WECHAT_MCH_ID);
                let mut req = client
                    .post(format!("{base}/payment/wechat/notify"))
                    .header("content-type", "application/json")
                    .body(body);
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                let t = Instant::now();
                let resp = req.send().await.expect("callback");
                assert!(resp.status().is_success(), "{}", resp.status());
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await.expect("worker"));
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    lat
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("formpay-login-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let settings: HashMap<String, String> = [
        ("APP_ADDR", "127.0.0.1:0".to_owned()),
        (
            "DATABASE_URL",
            format!("sqlite://{}/bench.db", dir.display()),
        ),
        ("ADMIN_EMAIL", "bench@example.com".to_owned()),
        ("ADMIN_PASSWORD", "bench-password-123".to_owned()),
        ("APP_MASTER_KEY", "ab".repeat(32)),
        ("RECONCILE_FIRST_CHECK_SECS", "3600".to_owned()),
        // Every login comes from its own address (so none is throttled
        // before it hashes), through a trusted proxy.
        ("TRUSTED_PROXIES", "127.0.0.1".to_owned()),
        ("RATE_LIMIT_PER_MINUTE", "1000000".to_owned()),
        ("POW_BURST_PER_MINUTE", "1000000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_lookup(&move |k| settings.get(k).cloned()).expect("settings");
    let app = Application::build(config).await.expect("app");
    let base = format!("http://{}", app.local_addr());
    app.simulator().expect("simulator").set_delivery(false);
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let n = 300;
    println!(
        "machine: {} cores; SQLite; release build; loopback HTTP; {n} callbacks per run, 8 at a time",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );

    let quiet_orders = orders(&client, &base, n).await;
    let busy_orders = orders(&client, &base, n).await;

    let quiet = callbacks(&client, &base, quiet_orders).await;

    // 300 logins at once, each from its own address, each hashing a password;
    // on their own connections, as a browser's would be.
    let burst_started = Instant::now();
    let mut logins = Vec::new();
    let login_client = reqwest::Client::new();
    for i in 0..300u32 {
        let (client, base) = (login_client.clone(), base.clone());
        logins.push(tokio::spawn(async move {
            client
                .post(format!("{base}/api/login"))
                .header(
                    "x-forwarded-for",
                    format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                )
                .header("origin", &base)
                .form(&[
                    ("email", "bench@example.com"),
                    ("password", "a wrong guess"),
                ])
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()
        }));
    }
    let busy = callbacks(&client, &base, busy_orders).await;
    let callbacks_done = burst_started.elapsed().as_secs_f64();
    let mut ok = 0;
    let mut waited = 0;
    for l in logins {
        match l.await.ok().flatten().as_deref() {
            Some("\"WrongCredentials\"") => ok += 1,
            _ => waited += 1,
        }
    }
    let burst_secs = burst_started.elapsed().as_secs_f64();

    let line = |what: &str, lat: &[f64]| {
        println!(
            "{what}: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(lat, 0.5),
            percentile(lat, 0.9),
            percentile(lat, 0.99),
            lat.last().copied().unwrap_or(0.0)
        )
    };
    line("verified callbacks, no logins      ", &quiet);
    line("verified callbacks, 300-login burst", &busy);
    println!(
        "the burst: {ok} logins checked, {waited} refused at once (hashing queue full), in {burst_secs:.2} s (argon2id on low-priority threads); the callbacks were done after {callbacks_done:.2} s"
    );
    println!(
        "p50 ratio busy/quiet: {:.2}",
        percentile(&busy, 0.5) / percentile(&quiet, 0.5).max(0.001)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
