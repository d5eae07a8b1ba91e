//! How long personal data is kept (PIPL). A form with a retention period
//! keeps each submission's answers that many days; then they are erased.
//! What is erased: the answers and their search text, and the request and
//! answer bodies of the provider calls made for the submission's order (they
//! can name the payer: a WeChat `openid`, an address). What stays: the
//! submission row (when, how much), the order, its attempts, refunds and
//! events, the payment log's statuses and timings — the financial record.
//! Money still in motion (an order created, pending, refunding or awaiting
//! review) is never erased: its submission waits for the next run.

use crate::auth::Admin;
use crate::store::audit::{self, AuditAction};
use crate::{now_ms, Db};
use anyhow::Context;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// What a purge erased.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub submissions: u64,
    pub log_entries: u64,
}

/// The submissions due: past their form's retention period, not yet
/// erased, and with no money in motion. `$1` is now (ms), `$2` a day (ms).
const DUE: &str = "SELECT s.id FROM submissions s JOIN forms f ON f.id = s.form_id \
     WHERE f.retention_days IS NOT NULL AND s.erased_at IS NULL \
     AND s.created_at < $1 - f.retention_days * $2 \
     AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.submission_id = s.id \
         AND o.status IN ('created', 'pending', 'refunding', 'needs_review'))";

/// Erases what the retention rules say is due, in one transaction.
/// Running it again erases nothing more.
pub async fn purge(db: &Db) -> anyhow::Result<Purged> {
    let now = now_ms();
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    let log_entries = sqlx::query(&format!(
        "UPDATE payment_log SET request = '[erased]', response = '[erased]' \
         WHERE request <> '[erased]' AND out_trade_no IN ( \
             SELECT a.out_trade_no FROM payment_attempts a JOIN orders o ON o.id = a.order_id \
             WHERE o.submission_id IN ({DUE}))"
    ))
    .bind(now)
    .bind(DAY_MS)
    .execute(&mut *tx)
    .await
    .context("cannot erase the payment log's bodies")?
    .rows_affected();
    let submissions = sqlx::query(&format!(
        "UPDATE submissions SET answers_json = '{{}}', search_text = '', erased_at = $1 \
         WHERE id IN ({DUE})"
    ))
    .bind(now)
    .bind(DAY_MS)
    .execute(&mut *tx)
    .await
    .context("cannot erase the answers")?
    .rows_affected();
    tx.commit().await.context("cannot commit the purge")?;
    if submissions > 0 {
        tracing::info!(
            submissions,
            log_entries,
            "answers past their retention period erased"
        );
    }
    Ok(Purged {
        submissions,
        log_entries,
    })
}

/// Orders in these states have money in motion: their submission waits.
const IN_MOTION: &str = "('created', 'pending', 'refunding', 'needs_review')";

/// Why one submission could not be erased on request.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("no such submission")]
    NotFound,
    #[error("its order is {0}: money is in motion; close, settle or refund it first")]
    MoneyInMotion(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Erases one submission's answers on its payer's request (PIPL), as the
/// retention rule would, and records who did it in the audit log. True when
/// erased now, false when it already was.
pub async fn erase_submission(db: &Db, admin: &Admin, id: &str) -> Result<bool, EraseError> {
    let now = now_ms();
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    // The write first: on SQLite the transaction holds the write lock from here.
    let erased = sqlx::query(&format!(
        "UPDATE submissions SET answers_json = '{{}}', search_text = '', erased_at = $1 \
         WHERE id = $2 AND erased_at IS NULL AND NOT EXISTS ( \
             SELECT 1 FROM orders o WHERE o.submission_id = submissions.id AND o.status IN {IN_MOTION})"
    ))
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await
    .context("cannot erase the answers")?
    .rows_affected();
    if erased == 0 {
        let row: Option<(Option<i64>, Option<String>)> = sqlx::query_as(&format!(
            "SELECT s.erased_at, (SELECT o.status FROM orders o WHERE o.submission_id = s.id AND o.status IN {IN_MOTION} LIMIT 1) \
             FROM submissions s WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .context("cannot read the submission")?;
        return match row {
            None => Err(EraseError::NotFound),
            Some((Some(_), _)) => Ok(false),
            Some((None, Some(status))) => Err(EraseError::MoneyInMotion(status)),
            Some((None, None)) => Err(EraseError::Unexpected(anyhow::anyhow!(
                "the submission changed while it was erased"
            ))),
        };
    }
    sqlx::query(
        "UPDATE payment_log SET request = '[erased]', response = '[erased]' \
         WHERE request <> '[erased]' AND out_trade_no IN ( \
             SELECT a.out_trade_no FROM payment_attempts a JOIN orders o ON o.id = a.order_id \
             WHERE o.submission_id = $1)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await
    .context("cannot erase the payment log's bodies")?;
    audit::record_in(
        &mut tx,
        admin,
        AuditAction::EraseSubmission,
        id,
        "answers erased on request; the order and amount are kept",
    )
    .await?;
    tx.commit().await.context("cannot commit the erasure")?;
    tracing::info!(submission = id, "answers erased on request");
    Ok(true)
}
