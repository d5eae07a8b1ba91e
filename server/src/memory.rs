//! Handing freed memory back to the system after many live-status streams
//! close (issue 14: back under twice the idle figure).
//!
//! The server's own allocations go to jemalloc, which returns freed pages
//! within a second by itself (`main.rs`). The C libraries inside it, SQLite
//! and AWS-LC, allocate from glibc, whose per-thread arenas keep what they
//! freed: after 10,000 streams closed, 7 MiB of them (measured with
//! `malloc_trim` called from a debugger, BENCHMARKS.md). glibc returns them
//! only when asked.

use app::ssr::streams::StreamLimits;
use std::time::Duration;

/// How often the open streams are counted.
const LOOK_EVERY: Duration = Duration::from_secs(2);
/// Streams that must have closed since the most open before glibc is asked:
/// asking walks and locks every arena in turn, so it is kept for the ebb
/// after a crowd, not every few streams.
const CLOSED_ENOUGH: usize = 1_000;

/// Watches the open streams; when many have closed since their peak, asks
/// glibc for its free pages back.
pub(crate) async fn give_back_forever(streams: StreamLimits) {
    let mut tick = tokio::time::interval(LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ebb = Ebb::default();
    loop {
        tick.tick().await;
        if ebb.closed_enough(streams.open()) {
            let released = tokio::task::spawn_blocking(trim_c_heap)
                .await
                .unwrap_or(false);
            tracing::debug!(released, "asked the C allocator for its free pages back");
        }
    }
}

/// The most streams open since glibc was last asked.
#[derive(Debug, Default)]
struct Ebb {
    peak: usize,
}

impl Ebb {
    /// With `open` streams now: whether enough have closed since the peak
    /// (which then starts again from here).
    fn closed_enough(&mut self, open: usize) -> bool {
        self.peak = self.peak.max(open);
        if self.peak - open >= CLOSED_ENOUGH {
            self.peak = open;
            return true;
        }
        false
    }
}

/// Asks glibc to return the free pages of every arena; whether any came back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_c_heap() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and changes only glibc's own
    // free lists, under their locks; any thread may call it at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Elsewhere (musl, other systems) there is no such call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_c_heap() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_once_per_ebb_of_a_thousand_streams() {
        let mut ebb = Ebb::default();
        assert!(!ebb.closed_enough(0));
        assert!(!ebb.closed_enough(10_000));
        assert!(!ebb.closed_enough(9_001), "999 closed");
        assert!(ebb.closed_enough(9_000), "1,000 closed since the peak");
        assert!(!ebb.closed_enough(8_500), "counted again from 9,000");
        assert!(ebb.closed_enough(0));
        assert!(!ebb.closed_enough(0), "nothing more to give back");
        assert!(!ebb.closed_enough(900));
        assert!(!ebb.closed_enough(0), "a crowd under the threshold");
    }

    #[test]
    fn asking_is_harmless_at_any_time() {
        // Twice in a row: the second has little or nothing to give.
        let _ = trim_c_heap();
        let _ = trim_c_heap();
    }
}
