//! Abuse control (风控): a blocklist of phone numbers and addresses, and
//! per-payer daily limits (submissions, amount), checked when a submission
//! is stored.

use crate::{now_ms, Db};
use anyhow::Context;
use std::net::IpAddr;

/// The per-payer daily limits (`PAYER_DAILY_SUBMISSIONS`, `PAYER_DAILY_AMOUNT`).
#[derive(Clone, Copy, Debug, Default)]
pub struct AbuseSettings {
    /// Submissions one phone number may make per Beijing day, on all forms.
    pub daily_submissions: Option<i64>,
    /// What one phone number's orders may come to per Beijing day (fen),
    /// counting those not expired or closed.
    pub daily_amount_fen: Option<i64>,
}

/// A blocklist entry.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Blocked {
    pub kind: String,
    pub value: String,
    pub note: String,
    pub created_at: i64,
}

/// Why a submission was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The address or phone number is on the blocklist.
    Blocked,
    /// The phone number made its submissions for the day.
    DailySubmissions,
    /// The phone number's orders reached the day's amount.
    DailyAmount,
}

/// The canonical form of a blocklist entry: a mainland phone number, or an
/// address or CIDR block (`203.0.113.0/24`, `2001:db8::/32`).
pub fn normalise_entry(kind: &str, value: &str) -> Result<String, String> {
    match kind {
        "phone" => domain::form::normalise_phone(value)
            .ok_or_else(|| "a phone number is a mainland mobile number".to_owned()),
        "address" => {
            let v = value.trim();
            let (ip, bits) = match v.split_once('/') {
                Some((ip, bits)) => (ip, Some(bits)),
                None => (v, None),
            };
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| "an address is an IP address or a CIDR block".to_owned())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            match bits {
                None => Ok(ip.to_string()),
                Some(b) => match b.parse::<u32>() {
                    Ok(n) if n <= max => Ok(format!("{}/{n}", masked(ip, n))),
                    _ => Err(format!("a CIDR block has at most {max} bits")),
                },
            }
        }
        _ => Err("an entry is a phone number or an address".into()),
    }
}

fn masked(ip: IpAddr, bits: u32) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// Whether an address entry (an address or a block) covers `ip`.
fn covers(entry: &str, ip: IpAddr) -> bool {
    match entry.split_once('/') {
        None => entry.parse::<IpAddr>().is_ok_and(|e| e == ip),
        Some((net, bits)) => match (net.parse::<IpAddr>(), bits.parse::<u32>()) {
            (Ok(net), Ok(bits)) if net.is_ipv4() == ip.is_ipv4() => masked(ip, bits) == net,
            _ => false,
        },
    }
}

pub async fn list(db: &Db) -> anyhow::Result<Vec<Blocked>> {
    sqlx::query_as(
        "SELECT kind, value, note, created_at FROM blocklist ORDER BY created_at DESC, value",
    )
    .fetch_all(&db.pool)
    .await
    .context("cannot read the blocklist")
}

/// Adds an entry (already normalised); false when it is there already.
pub async fn add(db: &Db, kind: &str, value: &str, note: &str) -> anyhow::Result<bool> {
    let done = sqlx::query("INSERT INTO blocklist (kind, value, note, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING")
        .bind(kind)
        .bind(value)
        .bind(note)
        .bind(now_ms())
        .execute(&db.pool)
        .await
        .context("cannot add to the blocklist")?;
    Ok(done.rows_affected() == 1)
}

pub async fn remove(db: &Db, kind: &str, value: &str) -> anyhow::Result<bool> {
    let done = sqlx::query("DELETE FROM blocklist WHERE kind = $1 AND value = $2")
        .bind(kind)
        .bind(value)
        .execute(&db.pool)
        .await
        .context("cannot remove from the blocklist")?;
    Ok(done.rows_affected() == 1)
}

/// The digest a submission keeps of its payer's phone number.
pub fn payer_digest(phone: &str) -> String {
    super::forms::notice_hash(&format!("phone:{phone}"))
}

/// The start of the current Beijing day, in Unix milliseconds.
fn beijing_day_start(now: i64) -> i64 {
    const DAY: i64 = 86_400_000;
    const EIGHT_HOURS: i64 = 8 * 3_600_000;
    (now + EIGHT_HOURS).div_euclid(DAY) * DAY - EIGHT_HOURS
}

/// Checks a submission about to be stored, inside its transaction: the
/// address and phone number against the blocklist, the phone number's
/// submissions and amount today against the limits.
pub async fn check_in(
    tx: &mut sqlx::AnyConnection,
    settings: AbuseSettings,
    client: Option<IpAddr>,
    phone: Option<&str>,
    amount_fen: Option<i64>,
) -> anyhow::Result<Option<Refusal>> {
    if let Some(ip) = client {
        let entries: Vec<(String,)> =
            sqlx::query_as("SELECT value FROM blocklist WHERE kind = 'address'")
                .fetch_all(&mut *tx)
                .await
                .context("cannot read the blocklist")?;
        if entries.iter().any(|(e,)| covers(e, ip)) {
            return Ok(Some(Refusal::Blocked));
        }
    }
    let Some(phone) = phone else {
        return Ok(None);
    };
    let (blocked,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM blocklist WHERE kind = 'phone' AND value = $1")
            .bind(phone)
            .fetch_one(&mut *tx)
            .await
            .context("cannot read the blocklist")?;
    if blocked > 0 {
        return Ok(Some(Refusal::Blocked));
    }
    if settings.daily_submissions.is_none() && settings.daily_amount_fen.is_none() {
        return Ok(None);
    }
    let (count, total): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN o.status IN ('expired', 'closed') THEN 0 ELSE o.amount_fen END), 0) AS BIGINT) \
         FROM submissions s LEFT JOIN orders o ON o.submission_id = s.id \
         WHERE s.payer_digest = $1 AND s.created_at >= $2",
    )
    .bind(payer_digest(phone))
    .bind(beijing_day_start(now_ms()))
    .fetch_one(&mut *tx)
    .await
    .context("cannot count the payer's submissions")?;
    if settings.daily_submissions.is_some_and(|max| count >= max) {
        return Ok(Some(Refusal::DailySubmissions));
    }
    if let (Some(cap), Some(amount)) = (settings.daily_amount_fen, amount_fen) {
        if total + amount > cap {
            return Ok(Some(Refusal::DailyAmount));
        }
    }
    Ok(None)
}

/// Failed and abandoned payments in the last hour, against the hourly
/// average of the 24 hours before.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spike {
    pub last_hour: i64,
    pub hourly_average: f64,
}

/// How many failed or abandoned payments in an hour make a spike, at least.
pub const SPIKE_MIN: i64 = 10;
/// A spike is this many times the usual hourly figure.
pub const SPIKE_FACTOR: f64 = 3.0;
/// One alert, then none for this long.
pub const ALERT_QUIET_MS: i64 = 6 * 3_600_000;

/// Orders given up unpaid (expired or closed) and provider errors, between
/// two times.
async fn failures_between(db: &Db, from: i64, to: i64) -> anyhow::Result<i64> {
    let (abandoned,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM orders WHERE status IN ('expired', 'closed') AND paid_at IS NULL AND updated_at >= $1 AND updated_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(&db.pool)
    .await
    .context("cannot count the abandoned orders")?;
    let (failed,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM order_events WHERE kind = 'provider_error' AND created_at >= $1 AND created_at < $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(&db.pool)
    .await
    .context("cannot count the failed payments")?;
    Ok(abandoned + failed)
}

/// Whether failed or abandoned payments spike now: at least [`SPIKE_MIN`] in
/// the last hour and [`SPIKE_FACTOR`] times the usual hour.
pub async fn spike(db: &Db, now: i64) -> anyhow::Result<Option<Spike>> {
    const HOUR: i64 = 3_600_000;
    let last_hour = failures_between(db, now - HOUR, now + 1).await?;
    if last_hour < SPIKE_MIN {
        return Ok(None);
    }
    let before = failures_between(db, now - 25 * HOUR, now - HOUR).await?;
    let hourly_average = before as f64 / 24.0;
    Ok(
        (last_hour as f64 >= SPIKE_FACTOR * hourly_average.max(1.0)).then_some(Spike {
            last_hour,
            hourly_average,
        }),
    )
}

/// Raises the alert when payments fail or are abandoned in a spike: a
/// security event (on the audit page), a warning in the log, and (with mail
/// configured) a mail to the owners and finance; then nothing for
/// [`ALERT_QUIET_MS`], on every instance. Returns the spike it raised.
pub async fn alert_on_spike(db: &Db, mail: bool) -> anyhow::Result<Option<Spike>> {
    let now = now_ms();
    let Some(spike) = spike(db, now).await? else {
        return Ok(None);
    };
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    sqlx::query("INSERT INTO alerts (kind, last_at) VALUES ('payment_spike', 0) ON CONFLICT (kind) DO NOTHING")
        .execute(&mut *tx)
        .await
        .context("cannot read the alerts")?;
    let raised = sqlx::query(
        "UPDATE alerts SET last_at = $1 WHERE kind = 'payment_spike' AND last_at <= $2",
    )
    .bind(now)
    .bind(now - ALERT_QUIET_MS)
    .execute(&mut *tx)
    .await
    .context("cannot raise the alert")?;
    if raised.rows_affected() != 1 {
        return Ok(None);
    }
    let detail = format!(
        "{} failed or abandoned payments in the last hour (usually {:.1} an hour)",
        spike.last_hour, spike.hourly_average
    );
    if mail {
        for to in crate::mail::money_admins(&mut tx).await? {
            crate::mail::queue_in(
                &mut tx,
                &crate::mail::NewMail {
                    kind: "admin_alert",
                    to,
                    subject: "付款失败或放弃激增 · Failed or abandoned payments spike".into(),
                    body: format!(
                        "最近一小时有 {} 笔付款失败或被放弃（平时每小时约 {:.1} 笔）。请检查收款账户与表单，必要时在「风控」中加入黑名单。\n\n{detail}.",
                        spike.last_hour, spike.hourly_average
                    ),
                    order_id: None,
                },
            )
            .await?;
        }
    }
    tx.commit().await.context("cannot commit the alert")?;
    crate::security::SecurityLog::default()
        .record_event(db, "payment_spike", "-", None, &detail)
        .await?;
    tracing::warn!(
        last_hour = spike.last_hour,
        hourly_average = spike.hourly_average,
        "failed or abandoned payments spike"
    );
    Ok(Some(spike))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_normalised_and_blocks_cover_their_addresses() {
        assert_eq!(
            normalise_entry("phone", "+86 138-0013-8000"),
            Ok("13800138000".into())
        );
        assert_eq!(
            normalise_entry("address", " 203.0.113.77/24 "),
            Ok("203.0.113.0/24".into())
        );
        assert_eq!(
            normalise_entry("address", "2001:db8::1/32"),
            Ok("2001:db8::/32".into())
        );
        assert_eq!(
            normalise_entry("address", "198.51.100.7"),
            Ok("198.51.100.7".into())
        );
        for (k, v) in [
            ("address", "1.2.3.4/33"),
            ("address", "example.com"),
            ("phone", "12345"),
            ("email", "a@b.cn"),
        ] {
            assert!(normalise_entry(k, v).is_err(), "{k} {v}");
        }
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(covers("203.0.113.0/24", ip("203.0.113.200")));
        assert!(!covers("203.0.113.0/24", ip("203.0.114.1")));
        assert!(covers("0.0.0.0/0", ip("8.8.8.8")));
        assert!(
            !covers("0.0.0.0/0", ip("::1")),
            "a v4 block never covers a v6 address"
        );
        assert!(covers("198.51.100.7", ip("198.51.100.7")));
        assert!(covers("2001:db8::/32", ip("2001:db8:ffff::1")));
    }

    #[test]
    fn the_day_starts_at_midnight_in_beijing() {
        // 2026-12-05T00:00+08:00 is 2026-12-04T16:00Z.
        let midnight = 1_796_428_800_000 - 8 * 3_600_000;
        assert_eq!(beijing_day_start(midnight), midnight);
        assert_eq!(beijing_day_start(midnight + 86_399_999), midnight);
        assert_eq!(beijing_day_start(midnight - 1), midnight - 86_400_000);
    }
}
