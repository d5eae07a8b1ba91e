//! How long personal data is kept (PIPL). A form with a retention period
//! keeps each submission's answers that many days; then they are erased.
//! What is erased: the answers and their search text, and the request and
//! answer bodies of the provider calls made for the submission's order (they
//! can name the payer: a WeChat `openid`, an address). What stays: the
//! submission row (when, how much), the order, its attempts, refunds and
//! events, the payment log's statuses and timings — the financial record.
//! A payer's receipt mails go with their answers; every other sent or
//! given-up mail is deleted after 30 days.
//! Money still in motion (an order created, pending, refunding or awaiting
//! review) is never erased: its submission waits for the next run.

use crate::auth::Admin;
use crate::store::audit::{self, AuditAction};
use crate::{now_ms, Db};
use anyhow::Context;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Orders in these states have money in motion: their submission waits.
macro_rules! in_motion {
    () => {
        "('created', 'pending', 'refunding', 'needs_review')"
    };
}

/// No order of submission `s` has money in motion.
const AT_REST: &str = concat!(
    "NOT EXISTS (SELECT 1 FROM orders o WHERE o.submission_id = s.id AND o.status IN ",
    in_motion!(),
    ")"
);

/// What a purge erased.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub submissions: u64,
    pub log_entries: u64,
}

/// Which submissions to erase.
enum Which<'a> {
    /// Past their form's retention period.
    Due,
    /// This one, on its payer's request.
    One(&'a str),
}

/// Erases the answers of the submissions `which` selects (not yet erased,
/// money at rest), marking them erased at `now`, then the provider call
/// bodies of every submission erased at `now`. Returns how many of each.
async fn erase_where(
    tx: &mut sqlx::AnyConnection,
    now: i64,
    which: Which<'_>,
) -> anyhow::Result<(u64, u64)> {
    let condition = match which {
        Which::Due => "f.retention_days IS NOT NULL AND s.created_at < $1 - f.retention_days * $2",
        Which::One(_) => "s.id = $2",
    };
    let sql = format!(
        "UPDATE submissions SET answers_json = '{{}}', search_text = '', payer_digest = NULL, erased_at = $1 \
         WHERE id IN (SELECT s.id FROM submissions s JOIN forms f ON f.id = s.form_id \
             WHERE s.erased_at IS NULL AND {AT_REST} AND {condition})"
    );
    let query = sqlx::query(&sql).bind(now);
    let query = match which {
        Which::Due => query.bind(DAY_MS),
        Which::One(id) => query.bind(id),
    };
    let submissions = query
        .execute(&mut *tx)
        .await
        .context("cannot erase the answers")?
        .rows_affected();
    let log_entries = sqlx::query(
        "UPDATE payment_log SET request = '[erased]', response = '[erased]' \
         WHERE request <> '[erased]' AND out_trade_no IN ( \
             SELECT a.out_trade_no FROM payment_attempts a JOIN orders o ON o.id = a.order_id \
             JOIN submissions s ON s.id = o.submission_id WHERE s.erased_at = $1)",
    )
    .bind(now)
    .execute(&mut *tx)
    .await
    .context("cannot erase the payment log's bodies")?
    .rows_affected();
    // The payer's receipt mails hold their address and may quote answers.
    sqlx::query(
        "DELETE FROM mail_outbox WHERE kind = 'receipt' AND order_id IN ( \
             SELECT o.id FROM orders o JOIN submissions s ON s.id = o.submission_id \
             WHERE s.erased_at = $1)",
    )
    .bind(now)
    .execute(&mut *tx)
    .await
    .context("cannot erase the receipt mails")?;
    // Their uploaded files go too (deleted by the next sweep, at once after an erasure).
    super::uploads::mark_erased_in(tx, now).await?;
    Ok((submissions, log_entries))
}

/// Erases what the retention rules say is due, in one transaction.
/// Running it again erases nothing more.
pub async fn purge(db: &Db) -> anyhow::Result<Purged> {
    let now = now_ms();
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    let (submissions, log_entries) = erase_where(&mut tx, now, Which::Due).await?;
    tx.commit().await.context("cannot commit the purge")?;
    let mails = crate::mail::forget_old(db).await?;
    if mails > 0 {
        tracing::info!(
            mails,
            "sent and given-up mails past their keeping time deleted"
        );
    }
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
    let (erased, _) = erase_where(&mut tx, now, Which::One(id)).await?;
    if erased == 0 {
        let row: Option<(Option<i64>, Option<String>)> = sqlx::query_as(concat!(
            "SELECT s.erased_at, (SELECT o.status FROM orders o WHERE o.submission_id = s.id AND o.status IN ",
            in_motion!(),
            " LIMIT 1) FROM submissions s WHERE s.id = $1"
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
