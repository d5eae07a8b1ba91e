//! Caps on open server-sent event streams (the payment page's live status):
//! per client address and in all, so that nobody can hold every connection.
//! A stream beyond a cap is refused with 429; the page then polls instead.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open streams allowed in all, by default (`SSE_MAX_STREAMS`).
pub const DEFAULT_MAX_STREAMS: usize = 10_000;
/// Open streams allowed from one address, by default
/// (`SSE_MAX_STREAMS_PER_ADDRESS`): a school or office behind one NAT may
/// have dozens of payers at once.
pub const DEFAULT_MAX_STREAMS_PER_ADDRESS: usize = 50;

#[derive(Clone, Debug)]
pub struct StreamLimits {
    counts: Arc<Mutex<Counts>>,
    pub max_total: usize,
    pub max_per_address: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits::new(DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_ADDRESS)
    }
}

/// One open stream; closing it (dropping this) frees its place.
#[derive(Debug)]
pub struct StreamPermit {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_address.remove(&self.ip);
            }
        }
    }
}

impl StreamLimits {
    pub fn new(max_total: usize, max_per_address: usize) -> StreamLimits {
        StreamLimits {
            counts: Arc::default(),
            max_total,
            max_per_address,
        }
    }

    /// A place for one more stream from `ip`, or None beyond a cap.
    pub fn try_open(&self, ip: IpAddr) -> Option<StreamPermit> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = c.per_address.get(&ip).copied().unwrap_or(0);
        if c.total >= self.max_total || mine >= self.max_per_address {
            return None;
        }
        c.total += 1;
        c.per_address.insert(ip, mine + 1);
        Some(StreamPermit {
            counts: self.counts.clone(),
            ip,
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_places_come_back() {
        let limits = StreamLimits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let a1 = limits.try_open(a).expect("first");
        let _a2 = limits.try_open(a).expect("second");
        assert!(limits.try_open(a).is_none(), "per address");
        let _b1 = limits.try_open(b).expect("other address");
        assert!(limits.try_open(b).is_none(), "in all");
        drop(a1);
        assert_eq!(limits.open(), 2);
        assert!(limits.try_open(b).is_some());
    }
}
