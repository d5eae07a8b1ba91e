//! The login throttle.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Slows down failed logins. Each key (an (account, address) pair, or an
/// address alone) gets some free failures; after that every further failure
/// doubles the wait before the next try, up to a cap. A success forgives the
/// pair. Nothing locks an account for everyone: another address, or the
/// right password after the wait, still gets in.
pub struct LoginThrottle {
    free: u32,
    first_delay: Duration,
    max_delay: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Failures of one (account, address) pair before it is slowed down.
pub const PAIR_FREE_FAILURES: u32 = 5;
/// Failures from one address (any account) before it is slowed down.
pub const ADDRESS_FREE_FAILURES: u32 = 20;

impl LoginThrottle {
    pub fn new(free: u32, first_delay: Duration, max_delay: Duration) -> Self {
        LoginThrottle {
            free,
            first_delay,
            max_delay,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The wait after `n` failures.
    fn delay(&self, n: u32) -> Duration {
        if n < self.free {
            return Duration::ZERO;
        }
        let doublings = (n - self.free).min(20);
        self.first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// None when the key may try now, else how long it must still wait.
    pub fn wait(&self, key: &str) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (n, last) = map.get(key)?;
        let due = self.delay(*n);
        let waited = last.elapsed();
        (waited < due).then(|| due - waited)
    }

    pub fn record_failure(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Forget keys idle for longer than the longest wait, so the map
        // cannot grow without bound.
        if map.len() > 10_000 {
            let horizon = self.max_delay * 2;
            map.retain(|_, (_, last)| last.elapsed() < horizon);
        }
        let entry = map.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() > self.max_delay * 2 {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = Instant::now();
    }

    pub fn record_success(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// The throttles a login goes through.
pub struct LoginLimiter {
    pub pairs: LoginThrottle,
    pub addresses: LoginThrottle,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            pairs: LoginThrottle::new(
                PAIR_FREE_FAILURES,
                Duration::from_secs(2),
                Duration::from_secs(15 * 60),
            ),
            addresses: LoginThrottle::new(
                ADDRESS_FREE_FAILURES,
                Duration::from_secs(2),
                Duration::from_secs(15 * 60),
            ),
        }
    }
}

impl LoginLimiter {
    fn keys(email: &str, ip: Option<IpAddr>) -> (String, String) {
        let ip = ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "unknown".into());
        (
            format!("{}|{ip}", email.trim().to_lowercase()),
            format!("ip:{ip}"),
        )
    }

    /// How long this (email, address) must still wait, if at all.
    pub fn wait(&self, email: &str, ip: Option<IpAddr>) -> Option<Duration> {
        let (pair, address) = Self::keys(email, ip);
        match (self.pairs.wait(&pair), self.addresses.wait(&address)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn failed(&self, email: &str, ip: Option<IpAddr>) {
        let (pair, address) = Self::keys(email, ip);
        self.pairs.record_failure(&pair);
        self.addresses.record_failure(&address);
    }

    pub fn succeeded(&self, email: &str, ip: Option<IpAddr>) {
        let (pair, _) = Self::keys(email, ip);
        self.pairs.record_success(&pair);
    }
}
