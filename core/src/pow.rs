//! When a form asks for a proof of work: while it receives a burst of
//! submissions (more than `POW_BURST_PER_MINUTE` in a minute, on this
//! instance), each submission must carry a solved challenge. Challenges are
//! signed (so any instance can check them), expire after five minutes and
//! are good for one submission.

use std::collections::HashMap;
use std::sync::Mutex;

/// `POW_BURST_PER_MINUTE` and `POW_BITS`.
#[derive(Clone, Copy, Debug)]
pub struct PowSettings {
    /// Submissions to one form in a minute above which a proof is asked.
    pub burst_per_minute: u32,
    /// Leading zero bits asked for (18: a quarter of a second on a phone).
    pub bits: u32,
}

impl Default for PowSettings {
    fn default() -> PowSettings {
        PowSettings {
            burst_per_minute: 30,
            bits: 18,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Per form: the minute and the submissions counted in it, and in the one before.
    windows: HashMap<String, (i64, u32, u32)>,
    /// Solutions already used, until their challenge expires.
    used: HashMap<String, i64>,
}

/// The burst counters and the used challenges of this instance.
#[derive(Debug, Default)]
pub struct PowGuard {
    pub settings: PowSettings,
    state: Mutex<State>,
}

impl PowGuard {
    pub fn new(settings: PowSettings) -> PowGuard {
        PowGuard {
            settings,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one submission attempt to a form; returns whether the form is
    /// under a burst (a proof is asked for).
    pub fn note(&self, form_id: &str, now_ms: i64) -> bool {
        let minute = now_ms.div_euclid(60_000);
        let mut st = self.state();
        let w = st
            .windows
            .entry(form_id.to_owned())
            .or_insert((minute, 0, 0));
        if w.0 != minute {
            // The previous minute counts only if it is the one just before.
            let previous = if w.0 == minute - 1 { w.1 } else { 0 };
            *w = (minute, 0, previous);
        }
        w.1 += 1;
        let burst = w.1.max(w.2) > self.settings.burst_per_minute;
        if st.windows.len() > 10_000 {
            st.windows.retain(|_, w| w.0 >= minute - 1);
        }
        burst
    }

    /// Takes a solution once: false if it was used before.
    pub fn take(&self, solution: &str, expires_ms: i64, now_ms: i64) -> bool {
        let mut st = self.state();
        st.used.retain(|_, exp| *exp > now_ms);
        st.used.insert(solution.to_owned(), expires_ms).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_more_than_the_limit_in_this_minute_or_the_last() {
        let g = PowGuard::new(PowSettings {
            burst_per_minute: 3,
            bits: 8,
        });
        let t = 1_800_000_000_000;
        assert!(!g.note("f", t));
        assert!(!g.note("f", t + 1));
        assert!(!g.note("f", t + 2));
        assert!(g.note("f", t + 3), "the fourth in a minute");
        assert!(!g.note("other", t + 3), "per form");
        assert!(
            g.note("f", t + 60_000),
            "the minute after a burst still asks"
        );
        assert!(!g.note("f", t + 180_000), "quiet again");
        assert!(g.take("s", t + 1000, t));
        assert!(!g.take("s", t + 1000, t + 1), "once");
        assert!(g.take("s", t + 5000, t + 2000), "forgotten once expired");
    }
}
