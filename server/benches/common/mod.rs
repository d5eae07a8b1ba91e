//! What the benches share: parallel load, settings, the OpenSSL bound.
#![allow(dead_code)] // each bench uses its part

use std::sync::Arc;

pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `job` over `items`, `concurrency` at a time; returns the outputs in order.
pub async fn in_parallel<T, F, Fut>(items: Vec<T>, concurrency: usize, job: F) -> Vec<Fut::Output>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let job = Arc::new(job);
    let queue = Arc::new(std::sync::Mutex::new(
        items.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (job, queue) = (job.clone(), queue.clone());
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let next = queue.lock().expect("queue").pop();
                let Some((i, item)) = next else { break };
                out.push((i, job(item).await));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, o)| o).collect()
}

/// `openssl speed -seconds 3 rsa2048` on one core: (signs/s, verifies/s).
pub fn openssl_speed() -> Option<(f64, f64)> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("rsa 2048 bits"))?;
    // "rsa 2048 bits 0.000310s 0.000020s 3229.0 49063.6": the last two numbers.
    let fields: Vec<f64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    match fields.as_slice() {
        [.., s, v] => Some((*s, *v)),
        _ => None,
    }
}
