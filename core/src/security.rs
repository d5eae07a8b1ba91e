//! What the payment routes refuse, kept for diagnosis without letting a
//! stranger fill the database: callbacks that fail verification are counted
//! and the latest few kept in memory (bounded in number, size and age);
//! verified messages that try to change another receiving account's order are
//! security events, stored (they mean someone holds a merchant's keys).

use crate::{now_ms, random_token, Db};
use anyhow::Context;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Callbacks refused before verification kept in memory, newest last.
pub const MAX_REJECTED_KEPT: usize = 200;
/// Bytes of a refused body kept (its start, for diagnosis).
pub const MAX_REJECTED_BODY: usize = 512;
/// How long a refused callback is kept.
pub const REJECTED_MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
/// Security events older than this are removed.
pub const EVENT_MAX_AGE_MS: i64 = 180 * 24 * 3600 * 1000;
/// Characters of an event's detail kept.
const MAX_EVENT_DETAIL: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedCallback {
    pub at: i64,
    pub provider: String,
    pub account: Option<String>,
    pub reason: String,
    /// The first bytes of the body, lossily decoded.
    pub body_start: String,
}

#[derive(Clone, Default)]
pub struct SecurityLog {
    rejected: Arc<Mutex<VecDeque<RejectedCallback>>>,
    rejected_total: Arc<AtomicU64>,
}

impl SecurityLog {
    /// A callback that failed verification: counted, the newest few kept.
    pub fn reject(&self, provider: &str, account: Option<&str>, reason: &str, body: &[u8]) {
        self.rejected_total.fetch_add(1, Ordering::Relaxed);
        let now = now_ms();
        let entry = RejectedCallback {
            at: now,
            provider: provider.to_owned(),
            account: account.map(|a| a.chars().take(64).collect()),
            reason: reason.chars().take(200).collect(),
            body_start: String::from_utf8_lossy(&body[..body.len().min(MAX_REJECTED_BODY)])
                .into_owned(),
        };
        let mut kept = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        while kept.len() >= MAX_REJECTED_KEPT
            || kept
                .front()
                .is_some_and(|r| now - r.at > REJECTED_MAX_AGE_MS)
        {
            kept.pop_front();
        }
        kept.push_back(entry);
    }

    /// How many callbacks failed verification since the start.
    pub fn rejected_total(&self) -> u64 {
        self.rejected_total.load(Ordering::Relaxed)
    }

    /// The refused callbacks kept, newest first.
    pub fn recent_rejected(&self) -> Vec<RejectedCallback> {
        let now = now_ms();
        let kept = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter()
            .rev()
            .filter(|r| now - r.at <= REJECTED_MAX_AGE_MS)
            .cloned()
            .collect()
    }

    /// Stores a security event, and forgets events past their age.
    pub async fn record_event(
        &self,
        db: &Db,
        kind: &str,
        provider: &str,
        account: Option<&str>,
        detail: &str,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        sqlx::query("INSERT INTO security_events (id, created_at, kind, provider, account_id, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(random_token().to_string())
            .bind(now)
            .bind(kind)
            .bind(provider)
            .bind(account)
            .bind(detail.chars().take(MAX_EVENT_DETAIL).collect::<String>())
            .execute(&db.pool)
            .await
            .context("cannot store the security event")?;
        sqlx::query("DELETE FROM security_events WHERE created_at < $1")
            .bind(now - EVENT_MAX_AGE_MS)
            .execute(&db.pool)
            .await
            .context("cannot forget old security events")?;
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SecurityEvent {
    pub created_at: i64,
    pub kind: String,
    pub provider: String,
    pub account_id: Option<String>,
    pub detail: String,
}

/// The newest security events.
pub async fn events(db: &Db, limit: i64) -> anyhow::Result<Vec<SecurityEvent>> {
    sqlx::query_as("SELECT created_at, kind, provider, account_id, detail FROM security_events ORDER BY created_at DESC, id LIMIT $1")
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("cannot read the security events")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_callbacks_are_counted_and_bounded() {
        let log = SecurityLog::default();
        let body = vec![b'x'; 10_000];
        for i in 0..(MAX_REJECTED_KEPT + 50) {
            log.reject("wechat", None, &format!("bad {i}"), &body);
        }
        assert_eq!(log.rejected_total(), (MAX_REJECTED_KEPT + 50) as u64);
        let kept = log.recent_rejected();
        assert_eq!(kept.len(), MAX_REJECTED_KEPT);
        assert_eq!(kept[0].reason, format!("bad {}", MAX_REJECTED_KEPT + 49));
        assert!(kept.iter().all(|r| r.body_start.len() <= MAX_REJECTED_BODY));
    }
}
