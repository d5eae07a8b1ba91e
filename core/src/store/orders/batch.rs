//! PostgreSQL: the payments that arrive together, written together. Each
//! payment alone is one statement ([`payment_alone`]), but PostgreSQL's work
//! per statement (an executor start, a snapshot, a commit and its flush, a
//! backend woken) was the limit of the callbacks' rate. Here the payments
//! waiting are written by one statement: their rows go in as one JSON
//! array (`json_to_recordset`), so its text is the same whatever their
//! number and stays prepared.
//!
//! The same answers as one by one:
//! - the attempt is written only while its order is in `from`, the order
//!   only if its attempt was, the event and the page's notification only
//!   if the order moved; the notifications are sent at the commit;
//! - the statement commits on its own (an implicit transaction), and its
//!   callers are answered after: nothing before it is durable;
//! - when one payment cannot be written as read (its order moved after the
//!   statement's snapshot, two attempts of one order at once), the
//!   statement fails on purpose and changes nothing, and every payment of
//!   it is written alone, which answers each one exactly. Any other failure
//!   (a deadlock, a lost connection) is answered the same way.
//!
//! A few statements run at once ([`Payments::LANES`], `commit/together.rs`): while
//! they do, the payments arriving wait and go together in the next. Alone,
//! a payment is written at once, by the statement of one.

use super::{payment_alone, Payment, PaymentWritten, ORDER_MOVED};
use crate::commit::Together;
use crate::hub::StatusChange;
use crate::now_ms;
use crate::store::sql::Sql;
use sqlx::AnyPool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The most payments one statement writes.
const MAX_BATCH: usize = 64;

/// The queue of payments to write together (PostgreSQL).
#[derive(Clone, Debug)]
pub struct Payments {
    queue: Together<(Payment, StatusChange), PaymentWritten>,
    counts: Arc<Counts>,
}

/// What the statements of more than one payment did, since the start.
#[derive(Debug, Default)]
struct Counts {
    /// Committed, and the payments in them.
    together: AtomicU64,
    payments: AtomicU64,
    /// Failed, so their payments were written one by one.
    apart: AtomicU64,
}

impl Payments {
    /// Statements writing payments at the same time.
    pub const LANES: usize = 4;

    /// Starts the task that takes the payments waiting and writes them on
    /// `pool` (it ends when the last handle is dropped).
    pub fn start(pool: AnyPool) -> Payments {
        let counts = Arc::new(Counts::default());
        let counted = counts.clone();
        let queue = Together::start("payments' writers", Self::LANES, MAX_BATCH, move |batch| {
            let (pool, counts) = (pool.clone(), counted.clone());
            async move { write(&pool, batch, &counts).await }
        });
        Payments { queue, counts }
    }

    /// (statements of several payments committed, payments in them,
    /// statements of several that failed and were written one by one).
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.counts.together.load(Ordering::Relaxed),
            self.counts.payments.load(Ordering::Relaxed),
            self.counts.apart.load(Ordering::Relaxed),
        )
    }

    /// Payments waiting for a statement.
    pub fn waiting(&self) -> usize {
        self.queue.waiting()
    }

    /// Writes `payment` with the others waiting; answers once their
    /// statement is committed (or failed).
    pub async fn record(
        &self,
        payment: Payment,
        change: StatusChange,
    ) -> anyhow::Result<PaymentWritten> {
        payment.check()?;
        self.queue.ask((payment, change)).await
    }
}

/// Writes `batch` and answers each of its payments, in order: those that
/// [`fit`] together by one statement, the others (and all of them if that
/// statement fails) each alone.
async fn write(
    pool: &AnyPool,
    batch: Vec<(Payment, StatusChange)>,
    counts: &Counts,
) -> Vec<anyhow::Result<PaymentWritten>> {
    let mut answers: Vec<Option<anyhow::Result<PaymentWritten>>> =
        batch.iter().map(|_| None).collect();
    let (together, mut alone): (Vec<usize>, Vec<usize>) =
        (0..batch.len()).partition(|&k| fits(&batch[k].0));
    if together.len() > 1 {
        let items: Vec<&(Payment, StatusChange)> = together.iter().map(|&k| &batch[k]).collect();
        match write_together(pool, &items).await {
            Ok(written) => {
                counts.together.fetch_add(1, Ordering::Relaxed);
                counts
                    .payments
                    .fetch_add(together.len() as u64, Ordering::Relaxed);
                for (&k, written) in together.iter().zip(written) {
                    answers[k] = Some(written.ok_or_else(|| {
                        anyhow::anyhow!("the payments' statement left this payment out")
                    }));
                }
            }
            Err(e) => {
                counts.apart.fetch_add(1, Ordering::Relaxed);
                let why = format!("{e:#}");
                if !why.contains(ORDER_MOVED) {
                    tracing::warn!(error = %why, payments = together.len(), "payments written one by one after their statement failed");
                }
                alone.extend(together);
            }
        }
    } else {
        alone.extend(together);
    }
    // Each its own statement, at once (the same order of row locks, so
    // they wait for each other but never deadlock).
    let written = futures_util::future::join_all(
        alone
            .iter()
            .map(|&k| payment_alone(pool, &batch[k].0, &batch[k].1)),
    )
    .await;
    for (&k, written) in alone.iter().zip(written) {
        answers[k] = Some(written);
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(anyhow::anyhow!("the payment was not written"))))
        .collect()
}

/// Whether the batch's statement writes all of `p`: a change of status
/// with the columns a payment sets (the others go alone).
fn fits(p: &Payment) -> bool {
    let c = &p.changes;
    p.from != p.to
        && c.pay_target.is_none()
        && c.next_check_at.is_none()
        && c.unlock.is_none()
        && c.refunded_add == 0
        && c.reserved_add == 0
}

/// One payment's row in the statement's JSON.
#[derive(serde::Serialize)]
struct Row<'a> {
    n: usize,
    attempt_id: &'a str,
    order_id: &'a str,
    from_status: &'static str,
    to_status: &'static str,
    transaction_id: Option<&'a str>,
    paid_at: i64,
    at: i64,
    received_add: i64,
    channel: Option<&'static str>,
    provider: Option<&'static str>,
    order_transaction_id: Option<&'a str>,
    order_paid_at: Option<i64>,
    review_reason: Option<&'a str>,
    event_id: String,
    event_at: i64,
    kind: &'static str,
    detail: &'a str,
    payload: String,
}

/// The statement, the same text for any number of payments. Its answer has
/// one row per payment: its number, whether its order moved, whether its
/// attempt was paid already (in the statement's snapshot, before its own
/// writes). Every read of a table is by its key, however few rows the
/// table has: the planner takes a set-returning function for 100 rows and,
/// on tables of a few thousand, hashed them whole (a sequential scan per
/// statement). The attempts and orders are found by `= ANY (ARRAY (…))`
/// (an index scan, planned for about ten), an order's status and an
/// attempt's state by a scalar subquery (an index lookup per payment)
/// where an `EXISTS` was one hash of every paid attempt.
const STATEMENT: &str = "WITH i AS (SELECT * FROM json_to_recordset($1::json) AS x(\
n BIGINT, attempt_id TEXT, order_id TEXT, from_status TEXT, to_status TEXT, transaction_id TEXT, \
paid_at BIGINT, at BIGINT, received_add BIGINT, channel TEXT, provider TEXT, order_transaction_id TEXT, \
order_paid_at BIGINT, review_reason TEXT, event_id TEXT, event_at BIGINT, kind TEXT, detail TEXT, payload TEXT)), \
paid AS (UPDATE payment_attempts a SET state = 'paid', transaction_id = i.transaction_id, \
paid_at = i.paid_at, updated_at = i.paid_at FROM i WHERE a.id = ANY (ARRAY (SELECT attempt_id FROM i)) \
AND a.id = i.attempt_id AND a.state <> 'paid' \
AND (SELECT o.status FROM orders o WHERE o.id = i.order_id) = i.from_status RETURNING i.n), \
moved AS (UPDATE orders o SET status = i.to_status, updated_at = i.at, \
received_fen = o.received_fen + i.received_add, channel = COALESCE(i.channel, o.channel), \
provider = COALESCE(i.provider, o.provider), \
transaction_id = COALESCE(i.order_transaction_id, o.transaction_id), \
review_reason = COALESCE(i.review_reason, o.review_reason), paid_at = COALESCE(i.order_paid_at, o.paid_at) \
FROM i JOIN paid p ON p.n = i.n WHERE o.id = ANY (ARRAY (SELECT order_id FROM i)) \
AND o.id = i.order_id AND o.status = i.from_status RETURNING i.n), \
logged AS (INSERT INTO order_events (id, order_id, created_at, kind, from_status, to_status, detail) \
SELECT i.event_id, i.order_id, i.event_at, i.kind, i.from_status, i.to_status, i.detail \
FROM i JOIN moved m ON m.n = i.n), \
told AS (SELECT pg_notify($2, i.payload) FROM i JOIN moved m ON m.n = i.n) \
SELECT i.n, EXISTS (SELECT 1 FROM moved m WHERE m.n = i.n), \
COALESCE((SELECT a.state = 'paid' FROM payment_attempts a WHERE a.id = i.attempt_id), FALSE), \
(SELECT COUNT(*) FROM told), \
CASE WHEN (SELECT COUNT(*) FROM paid) > (SELECT COUNT(*) FROM moved) \
THEN CAST($3 || (SELECT COUNT(*) FROM paid) AS BIGINT) ELSE 0 END FROM i";

/// The rows of `batch` as the statement's JSON.
fn rows(batch: &[&(Payment, StatusChange)]) -> anyhow::Result<String> {
    let at = now_ms();
    let rows: Vec<Row<'_>> = batch
        .iter()
        .enumerate()
        .map(|(n, (p, change))| {
            let c = &p.changes;
            Row {
                n,
                attempt_id: &p.attempt_id,
                order_id: &p.order_id,
                from_status: p.from.as_str(),
                to_status: p.to.as_str(),
                transaction_id: p.transaction_id.as_deref(),
                paid_at: p.paid_at,
                at: c.at.unwrap_or(at),
                received_add: c.received_add,
                channel: c.channel.map(|v| v.as_str()),
                provider: c.provider.map(|v| v.as_str()),
                order_transaction_id: c.transaction_id.as_deref(),
                order_paid_at: c.paid_at,
                review_reason: c.review_reason.as_deref(),
                event_id: crate::row_id(),
                event_at: at,
                kind: p.kind.as_str(),
                detail: &p.detail,
                payload: change.payload(),
            }
        })
        .collect();
    Ok(serde_json::to_string(&rows)?)
}

/// Writes `batch` by one statement; answers each payment, in order. An
/// error means the statement changed nothing.
async fn write_together(
    pool: &AnyPool,
    batch: &[&(Payment, StatusChange)],
) -> anyhow::Result<Vec<Option<PaymentWritten>>> {
    let q = Sql::new(STATEMENT)
        .arg(rows(batch)?)
        .arg(crate::hub::CHANNEL)
        .arg(format!("{ORDER_MOVED} "));
    let answer: Vec<(i64, bool, bool, i64, i64)> = q.fetch_all(pool).await?;
    let mut written: Vec<Option<PaymentWritten>> = batch.iter().map(|_| None).collect();
    for (n, moved, already, _, _) in answer {
        if let Some(slot) = usize::try_from(n).ok().and_then(|n| written.get_mut(n)) {
            *slot = Some(if moved {
                PaymentWritten::Recorded
            } else if already {
                PaymentWritten::AlreadyRecorded
            } else {
                PaymentWritten::OrderMoved
            });
        }
    }
    Ok(written)
}
