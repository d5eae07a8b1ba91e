//! Live-status streams at scale (issue 14, part 5), against the release
//! binary in its own process (so its memory is the server's alone), on
//! SQLite, with the provider simulator in this process as the outside
//! provider. Prints, each beside its bound from the same run:
//!
//! - verified callbacks/s with no stream open, and with `STREAMS` (default
//!   10,000) open on other orders (target: at least 95 % of the first);
//! - callback → `paid` event in the payer's stream with `STREAMS` open
//!   (target: p99 under 50 ms);
//! - the server's memory per open stream (target: under 20 KiB), and its
//!   resident memory idle, with the streams open and after they close
//!   (target: back under twice the idle figure).
//!
//! `cargo bench -p server --features simulator --bench streams`
//! (`STREAMS=1000` for a short run). It asserts nothing.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_formpay");

fn proc_kib(pid: u32, field: &str) -> u64 {
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[derive(Clone)]
struct Load {
    base: String,
    client: reqwest::Client,
}

impl Load {
    /// A submission (its order is pending): what a stream is opened on.
    async fn submit(&self) -> (String, String) {
        let r: serde_json::Value = self
            .client
            .post(format!("{}/api/v1/forms/demo/submissions", self.base))
            .json(&serde_json::json!({"answers": {"name": "流", "amount": "12.34"}}))
            .send()
            .await
            .expect("submit")
            .json()
            .await
            .expect("json");
        (
            r["order"]["id"].as_str().expect("order").to_owned(),
            r["order"]["out_trade_no"]
                .as_str()
                .expect("out_trade_no")
                .to_owned(),
        )
    }

    /// A submission and its WeChat Native order at the provider.
    async fn checkout(&self) -> (String, String) {
        let (id, no) = self.submit().await;
        let pay = self
            .client
            .post(format!("{}/api/v1/orders/{id}/pay", self.base))
            .json(&serde_json::json!({"channel": "wechat_native"}))
            .send()
            .await
            .expect("pay");
        assert_eq!(pay.status(), 200, "pay");
        (id, no)
    }

    async fn callback(&self, no: &str) {
        let (headers, body) =
            simulator::signed_wechat_callback(no, 1234, simulator::dev_keys::WECHAT_MCH_ID);
        let mut req = self
            .client
            .post(format!("{}/payment/wechat/notify", self.base))
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().await.expect("callback");
        assert_eq!(r.status(), 204, "callback acknowledged");
    }

    async fn open_stream(&self, id: &str) -> reqwest::Response {
        let mut r = self
            .client
            .get(format!("{}/api/v1/orders/{id}/events", self.base))
            .send()
            .await
            .expect("stream");
        assert_eq!(r.status(), 200, "stream opened");
        // The current status comes first.
        let _ = r.chunk().await;
        r
    }
}

/// Verified callbacks per second, 16 at a time.
async fn callback_rate(load: &Load, orders: Vec<String>) -> f64 {
    let n = orders.len();
    let started = Instant::now();
    let l = load.clone();
    common::in_parallel(orders, 16, move |no| {
        let l = l.clone();
        async move { l.callback(&no).await }
    })
    .await;
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let streams = common::env_number("STREAMS", 10_000);
    let per_round = common::env_number("CALLBACKS", 1_000);
    let sample = 200;
    // This process holds the client end of every stream.
    let _ = rlimit::increase_nofile_limit(u64::MAX);

    let dir = std::env::temp_dir().join(format!("formpay-streams-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (sim, sim_base) = simulator::spawn_standalone(1.0).await.expect("simulator");
    // The benchmark posts the callbacks itself, so it measures our side only.
    sim.set_delivery(false);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(BINARY)
        .env_clear()
        .env("APP_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("streams.db").display()),
        )
        .env("ADMIN_EMAIL", "streams@test.example")
        .env("ADMIN_PASSWORD", "correct horse battery")
        .env("SIMULATOR", "off")
        .env("RATE_LIMIT_PER_MINUTE", "1000000")
        .env("POW_BURST_PER_MINUTE", "1000000")
        .env("SSE_MAX_STREAMS", (streams + sample + 100).to_string())
        .env("SSE_MAX_STREAMS_PER_ADDRESS", "1000000")
        .env("RECONCILE_FIRST_CHECK_SECS", "3600")
        .envs(simulator::wechat_merchant_env(&sim_base))
        .env("RUST_LOG", "error")
        // jemalloc's settings may be tried without a rebuild.
        .envs(
            std::env::var("_RJEM_MALLOC_CONF")
                .ok()
                .map(|v| ("_RJEM_MALLOC_CONF", v)),
        )
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the release binary");
    let pid = child.id();
    let load = Load {
        base: base.clone(),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("client"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while load
        .client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the server never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_kib = proc_kib(pid, "VmRSS:");
    println!(
        "machine: {} cores; release binary in its own process; SQLite; loopback HTTP",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    // The orders: three rounds of callbacks, the latency sample, and the
    // pending orders the streams watch.
    let l = load.clone();
    let paid_orders: Vec<(String, String)> =
        common::in_parallel(vec![(); 3 * per_round + sample], 16, move |()| {
            let l = l.clone();
            async move { l.checkout().await }
        })
        .await;
    let l = load.clone();
    let watched: Vec<(String, String)> = common::in_parallel(vec![(); streams], 16, move |()| {
        let l = l.clone();
        async move { l.submit().await }
    })
    .await;
    let mut rounds = paid_orders
        .chunks(per_round)
        .map(|c| c.iter().map(|(_, no)| no.clone()).collect::<Vec<_>>());
    let (round_a, round_b, round_c) = (
        rounds.next().expect("round"),
        rounds.next().expect("round"),
        rounds.next().expect("round"),
    );
    let latency_orders: Vec<(String, String)> = paid_orders[3 * per_round..].to_vec();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 1. No stream open.
    let none_open = callback_rate(&load, round_a).await;

    // 2. Open the streams, each on its own pending order.
    let before_kib = proc_kib(pid, "VmRSS:");
    let before_fds = open_fds(pid);
    let opened_at = Instant::now();
    let l = load.clone();
    let open: Vec<reqwest::Response> = common::in_parallel(watched, 64, move |(id, _)| {
        let l = l.clone();
        async move { l.open_stream(&id).await }
    })
    .await;
    let open_secs = opened_at.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with_kib = proc_kib(pid, "VmRSS:");
    let with_fds = open_fds(pid);

    // 3. Callbacks with the streams open on other orders.
    let many_open = callback_rate(&load, round_b).await;

    // 4. Callback → event in the payer's stream, with the streams open.
    let mut listening = Vec::new();
    for (id, no) in &latency_orders {
        listening.push((load.open_stream(id).await, no.clone()));
    }
    let mut waits = Vec::new();
    for (mut stream, no) in listening {
        let l = load.clone();
        waits.push(tokio::spawn(async move {
            let t = Instant::now();
            let heard = async {
                loop {
                    match stream.chunk().await {
                        Ok(Some(c)) if String::from_utf8_lossy(&c).contains("\"paid\"") => {
                            return true
                        }
                        Ok(Some(_)) => continue,
                        _ => return false,
                    }
                }
            };
            let ((), heard) = tokio::join!(l.callback(&no), heard);
            assert!(heard, "the stream ended without the paid event");
            t.elapsed().as_secs_f64() * 1000.0
        }));
        // Spread out a little, as real callbacks are.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies = Vec::new();
    for w in waits {
        latencies.push(w.await.expect("wait"));
    }
    // Where the slowest were, in the order sent (a stall hits neighbours).
    let mut slowest: Vec<(usize, f64)> = latencies.iter().copied().enumerate().collect();
    slowest.sort_by(|a, b| b.1.total_cmp(&a.1));
    let slowest: Vec<String> = slowest
        .iter()
        .take(6)
        .map(|(i, ms)| format!("#{i} {ms:.1} ms"))
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));

    // 5. No stream open again (the bound beside the figure with streams).
    drop(open);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_kib = proc_kib(pid, "VmRSS:");
    let after_fds = open_fds(pid);
    let none_open_again = callback_rate(&load, round_c).await;
    let bound = (none_open + none_open_again) / 2.0;

    println!(
        "streams opened: {streams} in {open_secs:.1} s; server fds {before_fds} → {with_fds} → {after_fds} after they closed"
    );
    println!(
        "verified callbacks/s with {streams} streams open on other orders: {many_open:.0} /s; bound, the same bench with none open (before and after): {none_open:.0} and {none_open_again:.0} /s → {:.0} % of it (target ≥ 95 %)",
        100.0 * many_open / bound
    );
    println!(
        "callback → paid event with {streams} open: p50 {:.1} ms, p99 {:.1} ms ({sample} callbacks; target p99 < 50 ms)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!(
        "  p90 {:.1} ms, max {:.1} ms; slowest (sent as #0–#{}): {}",
        percentile(&latencies, 0.9),
        percentile(&latencies, 1.0),
        sample - 1,
        slowest.join(", ")
    );
    println!(
        "server memory per open stream: {:.1} KiB (RSS {before_kib} KiB → {with_kib} KiB with {streams} open; target < 20 KiB)",
        with_kib.saturating_sub(before_kib) as f64 / streams as f64
    );
    println!(
        "server RSS: idle {idle_kib} KiB ({:.1} MiB; target < 64 MiB), with streams {:.1} MiB, after they closed {:.1} MiB = {:.2}× idle (target < 2×)",
        idle_kib as f64 / 1024.0,
        with_kib as f64 / 1024.0,
        after_kib as f64 / 1024.0,
        after_kib as f64 / idle_kib.max(1) as f64
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
