//! Webhooks (issue 16): a form's HTTPS endpoints receive `submission.created`,
//! `order.paid` and `order.refunded` as JSON, signed the way the Standard
//! Webhooks specification says (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256>`), retried with backoff for
//! about a day. Events are taken from rows written in the same transaction
//! as the change they report (the submission, the order's event log), so an
//! event is never lost to a crash; a receiver's answer never changes our
//! state, only its delivery's log.

mod outbox;

pub use outbox::enqueue_new_events;

use crate::accounts::vault::{aad, Vault};
use crate::{now_ms, random_token, Db};
use anyhow::Context;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The events a receiver can get.
pub const EVENT_TYPES: [&str; 3] = ["submission.created", "order.paid", "order.refunded"];

/// Waits before each retry (Standard Webhooks' suggested schedule): about a
/// day in all, then the delivery is given up (and can be sent again by hand).
const RETRY_SCHEDULE_MS: [i64; 7] = [
    5_000,
    5 * 60_000,
    30 * 60_000,
    2 * 3_600_000,
    5 * 3_600_000,
    10 * 3_600_000,
    10 * 3_600_000,
];

/// The most endpoints one form may have.
pub const MAX_ENDPOINTS: i64 = 10;

/// How long a claimed delivery is held by the instance sending it.
const LEASE_MS: i64 = 60_000;

/// The wait after the `attempt`-th failure (1-based), scaled (tests shorten
/// it); None when the schedule is over.
pub fn retry_delay_ms(attempt: i64, scale: f64) -> Option<i64> {
    let i = usize::try_from(attempt.checked_sub(1)?).ok()?;
    RETRY_SCHEDULE_MS
        .get(i)
        .map(|ms| ((*ms as f64) * scale).round().max(1.0) as i64)
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// The `webhook-signature` header of one message: `v1,` and the base64
/// HMAC-SHA256, under the secret's key, of `{id}.{timestamp}.{body}`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .context("the webhook secret is not base64")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).context("bad webhook key")?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

fn sealed_as(endpoint_id: &str) -> String {
    aad(endpoint_id, "webhook")
}

/// Why an endpoint was not added.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error(
        "the address must be an https:// URL (http:// only for this machine, outside production)"
    )]
    BadUrl,
    #[error("a form has at most {MAX_ENDPOINTS} endpoints")]
    TooMany,
    #[error("webhooks need APP_MASTER_KEY to be set (their secrets are sealed under it)")]
    NoMasterKey,
    #[error("there is no such form")]
    NoForm,
}

/// An endpoint's address: https, or http to this machine outside production.
pub fn check_url(raw: &str, production: bool) -> Result<url::Url, WebhookError> {
    let url = url::Url::parse(raw.trim()).map_err(|_| WebhookError::BadUrl)?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => return Err(WebhookError::BadUrl),
    };
    let ok = match url.scheme() {
        "https" => true,
        "http" => loopback && !production,
        _ => false,
    };
    if !ok || raw.len() > 2000 || !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookError::BadUrl);
    }
    Ok(url)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub created_at: i64,
}

/// Adds an endpoint to a form; returns its id and secret (shown once).
pub async fn add_endpoint(
    db: &Db,
    vault: Option<&Vault>,
    form_id: &str,
    raw_url: &str,
    production: bool,
) -> anyhow::Result<Result<(String, String), WebhookError>> {
    let Some(vault) = vault else {
        return Ok(Err(WebhookError::NoMasterKey));
    };
    let url = match check_url(raw_url, production) {
        Ok(u) => u,
        Err(e) => return Ok(Err(e)),
    };
    if crate::store::forms::form_by_id(db, form_id)
        .await?
        .is_none()
    {
        return Ok(Err(WebhookError::NoForm));
    }
    if endpoints(db, form_id).await?.len() as i64 >= MAX_ENDPOINTS {
        return Ok(Err(WebhookError::TooMany));
    }
    let id = random_token().to_string();
    let secret = new_secret();
    sqlx::query("INSERT INTO webhook_endpoints (id, form_id, url, secret_sealed, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(form_id)
        .bind(url.as_str())
        .bind(vault.seal(&sealed_as(&id), secret.as_bytes())?)
        .bind(now_ms())
        .execute(&db.pool)
        .await
        .context("cannot store the endpoint")?;
    Ok(Ok((id, secret)))
}

pub async fn endpoints(db: &Db, form_id: &str) -> anyhow::Result<Vec<EndpointRow>> {
    sqlx::query_as("SELECT id, url, created_at FROM webhook_endpoints WHERE form_id = $1 ORDER BY created_at, id")
        .bind(form_id)
        .fetch_all(&db.pool)
        .await
        .context("cannot read the endpoints")
}

/// Removes an endpoint and its deliveries; its URL if it was there.
pub async fn remove_endpoint(db: &Db, form_id: &str, id: &str) -> anyhow::Result<Option<String>> {
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    let url: Option<(String,)> =
        sqlx::query_as("SELECT url FROM webhook_endpoints WHERE id = $1 AND form_id = $2")
            .bind(id)
            .bind(form_id)
            .fetch_optional(&mut *tx)
            .await
            .context("cannot read the endpoint")?;
    if url.is_some() {
        sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("cannot delete the deliveries")?;
        sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("cannot delete the endpoint")?;
    }
    tx.commit().await.context("cannot commit")?;
    Ok(url.map(|(u,)| u))
}

/// One delivery, as the log shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub url: String,
    pub event_type: String,
    /// pending, delivered or failed (gave up).
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub next_attempt_at: i64,
}

/// A form's latest deliveries, newest first.
pub async fn deliveries(db: &Db, form_id: &str, limit: i64) -> anyhow::Result<Vec<DeliveryRow>> {
    sqlx::query_as("SELECT d.id, e.url, d.event_type, d.state, d.attempts, d.last_status, d.last_error, d.created_at, d.delivered_at, d.next_attempt_at FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE e.form_id = $1 ORDER BY d.created_at DESC, d.id LIMIT $2")
        .bind(form_id)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("cannot read the deliveries")
}

/// Sends a delivery again now (the same message: same id and body).
pub async fn resend(db: &Db, form_id: &str, delivery_id: &str) -> anyhow::Result<bool> {
    let done = sqlx::query("UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $1 WHERE id = $2 AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE form_id = $3)")
        .bind(now_ms())
        .bind(delivery_id)
        .bind(form_id)
        .execute(&db.pool)
        .await
        .context("cannot queue the delivery")?;
    Ok(done.rows_affected() == 1)
}

/// A delivery to make now.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: String,
    pub url: String,
    pub secret: String,
    pub payload: String,
    pub created_at: i64,
    pub attempts: i64,
}

/// Claims up to `limit` deliveries that are due (held for a minute, so
/// that another instance does not send them too).
pub async fn claim_due(db: &Db, vault: Option<&Vault>, limit: i64) -> anyhow::Result<Vec<Due>> {
    let now = now_ms();
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        url: String,
        secret_sealed: String,
        payload: String,
        created_at: i64,
        attempts: i64,
        next_attempt_at: i64,
        endpoint_id: String,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT d.id, e.url, e.secret_sealed, d.payload, d.created_at, d.attempts, d.next_attempt_at, e.id AS endpoint_id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.state = 'pending' AND d.next_attempt_at <= $1 ORDER BY d.next_attempt_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
    .context("cannot read the due deliveries")?;
    let mut due = Vec::new();
    for Row {
        id,
        url,
        secret_sealed: sealed,
        payload,
        created_at,
        attempts,
        next_attempt_at: next,
        endpoint_id: endpoint,
    } in rows
    {
        let claimed = sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3 AND state = 'pending'",
        )
        .bind(now + LEASE_MS)
        .bind(&id)
        .bind(next)
        .execute(&db.pool)
        .await
        .context("cannot claim a delivery")?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        let secret = vault
            .and_then(|v| v.open(&sealed_as(&endpoint), &sealed).ok())
            .and_then(|s| String::from_utf8(s).ok());
        let Some(secret) = secret else {
            tracing::error!(endpoint = %endpoint, "the webhook secret cannot be opened with the master key");
            record_attempt(
                db,
                &id,
                attempts,
                Err("the secret cannot be opened (APP_MASTER_KEY)".into()),
                1.0,
            )
            .await?;
            continue;
        };
        due.push(Due {
            id,
            url,
            secret,
            payload,
            created_at,
            attempts,
        });
    }
    Ok(due)
}

/// Records one attempt: delivered on a 2xx status, else retried later or,
/// after the last retry, given up.
pub async fn record_attempt(
    db: &Db,
    id: &str,
    attempts_before: i64,
    outcome: Result<u16, String>,
    scale: f64,
) -> anyhow::Result<()> {
    let now = now_ms();
    let attempts = attempts_before + 1;
    let (status, error) = match &outcome {
        Ok(s) => (Some(i64::from(*s)), None),
        Err(e) => (None, Some(e.chars().take(300).collect::<String>())),
    };
    let delivered = matches!(outcome, Ok(s) if (200..300).contains(&s));
    let (state, next) = if delivered {
        ("delivered", now)
    } else {
        match retry_delay_ms(attempts, scale) {
            Some(wait) => ("pending", now + wait),
            None => ("failed", now),
        }
    };
    sqlx::query("UPDATE webhook_deliveries SET state = $1, attempts = $2, last_status = $3, last_error = $4, next_attempt_at = $5, delivered_at = $6 WHERE id = $7")
        .bind(state)
        .bind(attempts)
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(delivered.then_some(now))
        .bind(id)
        .execute(&db.pool)
        .await
        .context("cannot record the delivery")?;
    Ok(())
}

/// Deliveries waiting to be sent (the queue's depth, for the metrics).
pub async fn pending_count(db: &Db) -> anyhow::Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'")
            .fetch_one(&db.pool)
            .await
            .context("cannot count the deliveries")?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_standard_webhooks_vector_holds() {
        // The Standard Webhooks reference libraries' example (svix):
        // standard-webhooks/standard-webhooks, libraries' test suites.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn retries_last_about_a_day_then_stop() {
        let total: i64 = (1..=7)
            .map(|a| retry_delay_ms(a, 1.0).expect("scheduled"))
            .sum();
        assert!(
            (20 * 3_600_000..=30 * 3_600_000).contains(&total),
            "{total}"
        );
        assert_eq!(retry_delay_ms(8, 1.0), None);
        assert_eq!(retry_delay_ms(0, 1.0), None);
        assert_eq!(retry_delay_ms(1, 0.001), Some(5));
    }

    #[test]
    fn only_https_or_this_machine_outside_production() {
        assert!(check_url("https://hooks.example.com/x", true).is_ok());
        assert!(check_url("http://127.0.0.1:9000/x", false).is_ok());
        assert_eq!(
            check_url("http://127.0.0.1:9000/x", true),
            Err(WebhookError::BadUrl)
        );
        assert_eq!(
            check_url("http://hooks.example.com/x", false),
            Err(WebhookError::BadUrl)
        );
        assert_eq!(
            check_url("ftp://hooks.example.com/x", false),
            Err(WebhookError::BadUrl)
        );
        assert_eq!(
            check_url("https://user:pw@hooks.example.com/", false),
            Err(WebhookError::BadUrl)
        );
        assert_eq!(check_url("not a url", false), Err(WebhookError::BadUrl));
        assert!(new_secret().starts_with("whsec_"));
    }
}
