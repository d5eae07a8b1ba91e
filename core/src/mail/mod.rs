//! Mail notifications (issue 16): the payer's receipt when a form has an
//! email field, and the administrators' notices of payments, refunds and
//! orders that need a person. Mails are made by the events outbox (in the
//! transaction that claims the event) into a queue; a sender sends them,
//! retried with backoff, never blocking a request. Only their ids go to the
//! logs: addresses and contents are personal data.

mod compose;

use crate::store::forms::{form_by_id, FormRecord};
use crate::{now_ms, Db};
use anyhow::Context;
use domain::form::Answer;
use domain::OrderStatus;
use std::collections::BTreeMap;

/// Waits before each retry: about a day in all, then the mail is given up.
const RETRY_SCHEDULE_MS: [i64; 6] = [
    60_000,
    5 * 60_000,
    30 * 60_000,
    2 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
];

/// How long a claimed mail is held by the instance sending it.
const LEASE_MS: i64 = 120_000;

/// Sent and given-up mails are deleted after this long (they hold addresses).
pub const KEEP_MS: i64 = 30 * 86_400_000;

/// What the outbox needs to write mails: where links point.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// The public base URL, without a trailing slash.
    pub public_base: String,
}

/// One mail to queue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMail {
    /// receipt, admin_paid, admin_refunded, admin_review.
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub order_id: Option<String>,
}

pub(crate) async fn queue_in(tx: &mut sqlx::AnyConnection, mail: &NewMail) -> anyhow::Result<()> {
    let now = now_ms();
    sqlx::query("INSERT INTO mail_outbox (id, kind, to_addr, subject, body, order_id, state, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)")
        .bind(crate::random_token().to_string())
        .bind(mail.kind)
        .bind(&mail.to)
        .bind(&mail.subject)
        .bind(&mail.body)
        .bind(&mail.order_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("cannot queue a mail")?;
    Ok(())
}

/// The active administrators who hear of money: owners and finance.
pub(crate) async fn money_admins(tx: &mut sqlx::AnyConnection) -> anyhow::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT email FROM admins WHERE disabled_at IS NULL AND role IN ('owner', 'finance') ORDER BY email",
    )
    .fetch_all(&mut *tx)
    .await
    .context("cannot read the administrators")?;
    Ok(rows.into_iter().map(|(e,)| e).collect())
}

/// A mail to send now.
#[derive(Debug, Clone)]
pub struct DueMail {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
}

/// Claims up to `limit` mails that are due.
pub async fn claim_due(db: &Db, limit: i64) -> anyhow::Result<Vec<DueMail>> {
    let now = now_ms();
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        to_addr: String,
        subject: String,
        body: String,
        attempts: i64,
        next_attempt_at: i64,
    }
    let rows: Vec<Row> = sqlx::query_as("SELECT id, to_addr, subject, body, attempts, next_attempt_at FROM mail_outbox WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2")
        .bind(now)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("cannot read the due mails")?;
    let mut due = Vec::new();
    for r in rows {
        let claimed = sqlx::query("UPDATE mail_outbox SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3 AND state = 'pending'")
            .bind(now + LEASE_MS)
            .bind(&r.id)
            .bind(r.next_attempt_at)
            .execute(&db.pool)
            .await
            .context("cannot claim a mail")?;
        if claimed.rows_affected() == 1 {
            due.push(DueMail {
                id: r.id,
                to: r.to_addr,
                subject: r.subject,
                body: r.body,
                attempts: r.attempts,
            });
        }
    }
    Ok(due)
}

/// Records one try: sent, retried later, or (after the last retry, or when
/// the address is refused for good) given up.
pub async fn record_attempt(
    db: &Db,
    id: &str,
    attempts_before: i64,
    outcome: Result<(), (String, bool)>,
    scale: f64,
) -> anyhow::Result<()> {
    let now = now_ms();
    let attempts = attempts_before + 1;
    let (state, next, error) = match outcome {
        Ok(()) => ("sent", now, None),
        Err((why, permanent)) => {
            let wait = usize::try_from(attempts - 1)
                .ok()
                .and_then(|i| RETRY_SCHEDULE_MS.get(i))
                .filter(|_| !permanent)
                .map(|ms| ((*ms as f64) * scale).round().max(1.0) as i64);
            match wait {
                Some(w) => ("pending", now + w, Some(why)),
                None => ("failed", now, Some(why)),
            }
        }
    };
    sqlx::query("UPDATE mail_outbox SET state = $1, attempts = $2, next_attempt_at = $3, last_error = $4, sent_at = $5 WHERE id = $6")
        .bind(state)
        .bind(attempts)
        .bind(next)
        .bind(error.map(|e| e.chars().take(300).collect::<String>()))
        .bind((state == "sent").then_some(now))
        .bind(id)
        .execute(&db.pool)
        .await
        .context("cannot record the mail")?;
    Ok(())
}

/// One mail, as the log shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MailRow {
    pub id: String,
    pub kind: String,
    pub to_addr: String,
    pub subject: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

pub async fn recent(db: &Db, limit: i64) -> anyhow::Result<Vec<MailRow>> {
    sqlx::query_as("SELECT id, kind, to_addr, subject, state, attempts, last_error, created_at, sent_at FROM mail_outbox ORDER BY created_at DESC, id LIMIT $1")
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("cannot read the mails")
}

/// Mails waiting to be sent (the queue's depth, for the metrics).
pub async fn pending_count(db: &Db) -> anyhow::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM mail_outbox WHERE state = 'pending'")
        .fetch_one(&db.pool)
        .await
        .context("cannot count the mails")?;
    Ok(n)
}

/// Deletes sent and given-up mails older than [`KEEP_MS`].
pub async fn forget_old(db: &Db) -> anyhow::Result<u64> {
    let done = sqlx::query("DELETE FROM mail_outbox WHERE state <> 'pending' AND created_at < $1")
        .bind(now_ms() - KEEP_MS)
        .execute(&db.pool)
        .await
        .context("cannot delete old mails")?;
    Ok(done.rows_affected())
}

/// Which order changes make mails: payments (the receipt and a notice),
/// refunds and orders that need a person (a notice).
pub(crate) fn mail_event(
    from: Option<OrderStatus>,
    to: Option<OrderStatus>,
) -> Option<&'static str> {
    let to = to?;
    if from == Some(to) {
        return None;
    }
    match to {
        OrderStatus::Paid => Some("order.paid"),
        OrderStatus::Refunded | OrderStatus::PartiallyRefunded => Some("order.refunded"),
        OrderStatus::NeedsReview => Some("order.needs_review"),
        _ => None,
    }
}

/// What an order's mails are made from, read before the outbox's transaction.
pub(crate) struct OrderMailSource {
    pub form: FormRecord,
    pub answers: BTreeMap<String, Answer>,
    pub receipt_token: String,
}

/// Reads the form and the answers of an order's submission (erased answers
/// read as none: no receipt then).
pub(crate) async fn source(
    db: &Db,
    form_id: &str,
    submission_id: &str,
    receipt_token: String,
) -> anyhow::Result<Option<OrderMailSource>> {
    let Some(form) = form_by_id(db, form_id).await? else {
        return Ok(None);
    };
    let answers: Option<(String,)> =
        sqlx::query_as("SELECT answers_json FROM submissions WHERE id = $1")
            .bind(submission_id)
            .fetch_optional(&db.pool)
            .await
            .context("cannot read the answers")?;
    let answers = answers
        .and_then(|(json,)| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    Ok(Some(OrderMailSource {
        form,
        answers,
        receipt_token,
    }))
}

/// The facts of one order's change, for its mails.
pub(crate) struct OrderChange<'a> {
    pub event: &'static str,
    pub order_id: &'a str,
    pub out_trade_no: &'a str,
    pub amount_fen: i64,
    pub refunded_fen: i64,
    pub paid_at: Option<i64>,
    pub status: OrderStatus,
}

/// Queues the mails of one order's change, in the outbox's transaction;
/// returns how many.
pub(crate) async fn queue_order_mails(
    tx: &mut sqlx::AnyConnection,
    settings: &MailSettings,
    source: &OrderMailSource,
    change: &OrderChange<'_>,
) -> anyhow::Result<usize> {
    let facts = compose::OrderFacts {
        form: &source.form,
        answers: &source.answers,
        order_id: change.order_id,
        out_trade_no: change.out_trade_no,
        amount_fen: change.amount_fen,
        refunded_fen: change.refunded_fen,
        paid_at: change.paid_at,
        receipt_token: &source.receipt_token,
        status: change.status,
    };
    let mut mails = Vec::new();
    if change.event == "order.paid" {
        mails.extend(compose::receipt(settings, &facts));
    }
    for admin in money_admins(tx).await? {
        mails.extend(compose::admin_notice(
            settings,
            change.event,
            &facts,
            &admin,
        ));
    }
    for m in &mails {
        queue_in(tx, m).await?;
    }
    Ok(mails.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payments_refunds_and_reviews_make_mails() {
        use OrderStatus::*;
        assert_eq!(mail_event(Some(Pending), Some(Paid)), Some("order.paid"));
        assert_eq!(mail_event(Some(Paid), Some(Paid)), None);
        assert_eq!(
            mail_event(Some(Refunding), Some(Refunded)),
            Some("order.refunded")
        );
        assert_eq!(
            mail_event(Some(Expired), Some(NeedsReview)),
            Some("order.needs_review")
        );
        assert_eq!(mail_event(Some(Created), Some(Pending)), None);
        assert_eq!(mail_event(None, None), None);
    }
}
