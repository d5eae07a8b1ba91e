//! Checkout, callback and live-status figures for the payment flow, measured
//! over real HTTP against the application and its provider simulator on
//! loopback (SQLite, release build). Run with
//! `cargo bench -p server --features simulator --bench checkout`. It prints figures; it asserts nothing.

use server::config::Config;
use server::Application;
use simulator::signed_wechat_callback;
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
        ("APP_MASTER_KEY", "ab".repeat(32)),
        ("RECONCILE_FIRST_CHECK_SECS", "3600".to_owned()),
        ("RUST_LOG", "error".to_owned()),
        // One client makes all the load: no per-address limits here.
        ("RATE_LIMIT_PER_MINUTE", "1000000".to_owned()),
        ("POW_BURST_PER_MINUTE", "1000000".to_owned()),
        ("SSE_MAX_STREAMS_PER_ADDRESS", "1000000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_lookup(&move |k| settings.get(k).cloned()).expect("settings");
    let app = Application::build(config).await.expect("app");
    let base = format!("http://{}", app.local_addr());
    let sim = app.simulator().cloned().expect("simulator");
    let db = app.state().db.clone();
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
        .map(|(_, no)| signed_wechat_callback(no, 1234, simulator::dev_keys::WECHAT_MCH_ID))
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
    let mut opened = opened.into_iter();
    for (i, mut r) in opened.by_ref().enumerate().take(sample) {
        let (_, no) = &pending[i];
        let (headers, body) = signed_wechat_callback(no, 1234, simulator::dev_keys::WECHAT_MCH_ID);
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
    let opened_rest: Vec<_> = opened.collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    println!("callback → SSE delivery with {streams} open streams: p50 {:.1} ms, p99 {:.1} ms ({sample} callbacks)", percentile(&lat, 0.5), percentile(&lat, 0.99));
    drop(opened_rest);

    // 4. Export: 100,000 submissions as CSV, streamed in batches.
    let db = db.clone();
    let form = app::ssr::forms::form_by_slug(&db, "demo")
        .await
        .expect("form")
        .expect("demo form");
    let rows = 100_000;
    let mut tx = db.pool.begin().await.expect("tx");
    for i in 0..rows {
        sqlx::query("INSERT INTO submissions (id, form_id, answers_json, search_text, amount_fen, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(format!("bench{i:027}"))
            .bind(&form.id)
            .bind(format!(r#"{{"name":"参与者{i}","phone":"13800138000","amount":"12.34"}}"#))
            .bind(format!("参与者{i} 13800138000 12.34"))
            .bind(1234_i64)
            .bind(1_700_000_000_000_i64 + i)
            .execute(&mut *tx)
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");
    let admin = bench
        .client
        .post(format!("{base}/api/login"))
        .form(&[
            ("email", "bench@example.com"),
            ("password", "bench-password-123"),
        ])
        .send()
        .await
        .expect("login");
    let cookie = admin
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("fp_session="))
        .and_then(|c| c.split(';').next())
        .expect("session")
        .to_owned();
    let before = rss_kib();
    let mut peak = before;
    let started = Instant::now();
    let mut resp = bench
        .client
        .get(format!("{base}/admin/forms/{}/submissions.csv", form.id))
        .header("cookie", cookie.clone())
        .send()
        .await
        .expect("export");
    let mut bytes = 0usize;
    let mut lines = 0usize;
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        peak = peak.max(rss_kib());
    }
    println!(
        "CSV export of {rows} submissions: {:.2} s, {} lines, {:.1} MB; RSS {} KiB before, peak {} KiB (+{} KiB while streaming)",
        started.elapsed().as_secs_f64(),
        lines,
        bytes as f64 / 1e6,
        before,
        peak,
        peak.saturating_sub(before)
    );

    // 5. The money desk at scale: 100,000 paid orders over 30 days, then the
    //    orders list (first page, a filter, a search in the answers) and the
    //    income statistics, through the server functions the pages call.
    let now = app::ssr::now_ms();
    let channels = ["wechat_native", "alipay_qr", "alipay_page"];
    let mut tx = db.pool.begin().await.expect("tx");
    for i in 0..rows {
        let at = now - (i * 26) % (30 * 86_400_000);
        let status = if i % 10 == 0 {
            "partially_refunded"
        } else {
            "paid"
        };
        sqlx::query("INSERT INTO orders (id, out_trade_no, submission_id, form_id, amount_fen, status, channel, provider, receipt_token, refunded_fen, expires_at, paid_at, next_check_at, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11, $11, $11)")
            .bind(format!("benchorder{i:022}"))
            .bind(format!("FPBENCH{i:020}"))
            .bind(format!("bench{i:027}"))
            .bind(&form.id)
            .bind(1234_i64)
            .bind(status)
            .bind(channels[(i % 3) as usize])
            .bind(if i % 3 == 0 { "wechat" } else { "alipay" })
            .bind(format!("benchreceipt{i:020}"))
            .bind(if i % 10 == 0 { 234_i64 } else { 0 })
            .bind(at)
            .execute(&mut *tx)
            .await
            .expect("insert order");
    }
    tx.commit().await.expect("commit");
    let timed = |name: &'static str, form: Vec<(&'static str, String)>| {
        let bench = bench.clone();
        let cookie = cookie.clone();
        let base = base.clone();
        async move {
            let mut lat = Vec::new();
            for _ in 0..20 {
                let t = Instant::now();
                let resp = bench
                    .client
                    .post(format!("{base}/api/{name}"))
                    .header("cookie", &cookie)
                    .form(&form)
                    .send()
                    .await
                    .expect("server fn");
                assert_eq!(resp.status(), 200);
                resp.bytes().await.expect("body");
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat.sort_by(|a, b| a.total_cmp(b));
            (percentile(&lat, 0.5), percentile(&lat, 0.99))
        }
    };
    for (label, name, form) in [
        (
            "orders list, first page",
            "admin_orders",
            vec![("page", "1".to_owned())],
        ),
        (
            "orders list, status + amount filter, page 50",
            "admin_orders",
            vec![
                ("filter[status]", "partially_refunded".to_owned()),
                ("filter[min]", "10".to_owned()),
                ("page", "50".to_owned()),
            ],
        ),
        (
            "orders list, search in answers",
            "admin_orders",
            vec![
                ("filter[q]", "参与者99999".to_owned()),
                ("page", "1".to_owned()),
            ],
        ),
        (
            "income statistics, 30 days",
            "admin_stats",
            vec![
                ("from", String::new()),
                ("to", String::new()),
                ("form", String::new()),
                ("days", "30".to_owned()),
            ],
        ),
    ] {
        let (p50, p99) = timed(name, form).await;
        println!("{label} over {rows} orders: p50 {p50:.1} ms, p99 {p99:.1} ms (20 requests)");
    }
    let _ = std::fs::remove_dir_all(dir);
}
