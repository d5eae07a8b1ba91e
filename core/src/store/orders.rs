//! Payment orders: every status change goes through the domain's transition
//! function and is then a compare-and-set in the same transaction as its
//! event-log row, so a duplicate or concurrent callback changes nothing.

use super::sql::Sql;
use crate::commit::Step;
use crate::{now_ms, Db};
use anyhow::Context;
use domain::{Channel, Money, OrderEventKind, OrderStatus, Provider};

mod batch;
pub use batch::Payments;

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct OrderRecord {
    pub id: String,
    pub out_trade_no: String,
    pub submission_id: String,
    pub form_id: String,
    #[sqlx(rename = "amount_fen")]
    pub amount: Money,
    pub status: OrderStatus,
    pub channel: Option<Channel>,
    pub provider: Option<Provider>,
    pub pay_target: Option<String>,
    pub transaction_id: Option<String>,
    pub receipt_token: String,
    pub refunded_fen: i64,
    /// Asked back and not settled yet (processing or abnormal refunds).
    pub refund_reserved_fen: i64,
    pub review_reason: Option<String>,
    pub expires_at: i64,
    pub paid_at: Option<i64>,
    pub next_check_at: i64,
    pub check_attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The receiving account (None: the one configured through the environment).
    pub account_id: Option<String>,
    /// The current payment attempt (`attempts.rs`); 0 before the first.
    pub attempt_seq: i64,
    /// Money received: the amount once paid, more if a payer paid twice.
    pub received_fen: i64,
}

impl OrderRecord {
    /// What can still be refunded: received, less refunded and held back.
    pub fn refundable_fen(&self) -> i64 {
        (self.received_fen - self.refunded_fen - self.refund_reserved_fen).max(0)
    }
}

/// The order's columns, in [`OrderRecord`]'s order.
macro_rules! columns {
    () => {
        "id, out_trade_no, submission_id, form_id, amount_fen, status, channel, provider, pay_target, transaction_id, receipt_token, refunded_fen, refund_reserved_fen, review_reason, expires_at, paid_at, next_check_at, check_attempts, created_at, updated_at, account_id, attempt_seq, received_fen"
    };
}

const SELECT: &str = concat!("SELECT ", columns!(), " FROM orders");

/// The order's columns as `{table}.{column}`, for a join.
pub fn qualified_columns(table: &str) -> String {
    columns!()
        .split(", ")
        .map(|c| format!("{table}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn one(db: &Db, column: &str, value: &str) -> anyhow::Result<Option<OrderRecord>> {
    db.fetch_optional(Sql::new(&format!("{SELECT} WHERE {column} = $1")).arg(value.to_owned()))
        .await
        .context("cannot read the order")
}

pub async fn by_id(db: &Db, id: &str) -> anyhow::Result<Option<OrderRecord>> {
    one(db, "id", id).await
}

pub async fn by_out_trade_no(db: &Db, no: &str) -> anyhow::Result<Option<OrderRecord>> {
    one(db, "out_trade_no", no).await
}

pub async fn by_receipt(db: &Db, token: &str) -> anyhow::Result<Option<OrderRecord>> {
    one(db, "receipt_token", token).await
}

/// The order inside an open transaction, locked for the rest of it: the row
/// is written first (PostgreSQL then holds its lock; SQLite has one writer).
pub async fn lock_in(
    tx: &mut sqlx::AnyConnection,
    id: &str,
) -> anyhow::Result<Option<OrderRecord>> {
    sqlx::query("UPDATE orders SET updated_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("cannot lock the order")?;
    sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .context("cannot read the order")
}

/// Orders the reconciler should look at now.
pub async fn due_for_check(db: &Db, now: i64, limit: i64) -> anyhow::Result<Vec<OrderRecord>> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE status IN ('created', 'pending') AND next_check_at <= $1 ORDER BY next_check_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
    .context("cannot list orders to check")
}

/// Claims an order for one check: only one instance wins (compare-and-set on
/// `next_check_at`), and the next check is pushed back meanwhile.
pub async fn claim_check(db: &Db, order: &OrderRecord, next_check_at: i64) -> anyhow::Result<bool> {
    let done = sqlx::query("UPDATE orders SET next_check_at = $1, check_attempts = check_attempts + 1 WHERE id = $2 AND next_check_at = $3")
        .bind(next_check_at)
        .bind(&order.id)
        .bind(order.next_check_at)
        .execute(&db.pool)
        .await
        .context("cannot claim the order")?;
    Ok(done.rows_affected() == 1)
}

/// Writes an event row inside an open transaction.
pub async fn insert_event(
    tx: &mut sqlx::AnyConnection,
    order_id: &str,
    kind: OrderEventKind,
    from: Option<OrderStatus>,
    to: Option<OrderStatus>,
    detail: &str,
) -> anyhow::Result<()> {
    let mut q = Sql::new("");
    push_event_select(&mut q, order_id, kind, from, to, detail);
    q.execute(&mut *tx)
        .await
        .context("cannot write the order event")?;
    Ok(())
}

/// An event that changes no status (a provider call, a refused report).
pub async fn log_event(
    db: &Db,
    order_id: &str,
    kind: OrderEventKind,
    detail: &str,
) -> anyhow::Result<()> {
    let (order_id, detail) = (order_id.to_owned(), detail.to_owned());
    db.commits
        .run(move |tx| {
            Box::pin(async move {
                insert_event(tx, &order_id, kind, None, None, &detail).await?;
                Ok(Step::Keep(()))
            })
        })
        .await
        .context("cannot commit the event")
}

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct OrderEvent {
    pub created_at: i64,
    pub kind: OrderEventKind,
    pub from_status: Option<OrderStatus>,
    pub to_status: Option<OrderStatus>,
    pub detail: String,
}

pub async fn events(db: &Db, order_id: &str) -> anyhow::Result<Vec<OrderEvent>> {
    sqlx::query_as("SELECT created_at, kind, from_status, to_status, detail FROM order_events WHERE order_id = $1 ORDER BY created_at, id")
        .bind(order_id)
        .fetch_all(&db.pool)
        .await
        .context("cannot read the order events")
}

/// Columns a change may set besides the status.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub channel: Option<Channel>,
    pub provider: Option<Provider>,
    pub pay_target: Option<String>,
    pub transaction_id: Option<String>,
    pub paid_at: Option<i64>,
    pub review_reason: Option<String>,
    pub next_check_at: Option<i64>,
    /// Money received with this change, added to `received_fen`.
    pub received_add: i64,
    /// Money refunded with this change, added to `refunded_fen`.
    pub refunded_add: i64,
    /// Money held for refunds, added to `refund_reserved_fen` (negative frees it).
    pub reserved_add: i64,
    /// The change's time (`updated_at`, the version a page follows); now when None.
    pub at: Option<i64>,
    /// Lets go of the payment lock ([`lock_for_payment`]) if it is still
    /// held with this token.
    pub unlock: Option<i64>,
}

/// Moves the order from `from` to `to` if, and only if, it is still in `from`;
/// writes the event in the same transaction. Returns whether this call won.
pub async fn transition(
    db: &Db,
    order_id: &str,
    from: OrderStatus,
    to: OrderStatus,
    kind: OrderEventKind,
    detail: &str,
    changes: Changes,
) -> anyhow::Result<bool> {
    // With the other writes of the payment path (group commit): one flush
    // for many.
    if db.backend == crate::db::Backend::Sqlite && !changes_seat(from, to) {
        // One query, which the writer runs on its own connection: the event
        // is written only if the order moved (`changes()`).
        from.transition(to).map_err(|e| anyhow::anyhow!(e))?;
        let mut q = Sql::new("");
        push_change_with_event(&mut q, order_id, from, to, changes, kind, detail);
        return db
            .commits
            .query(q, |rows| match rows {
                2 => Ok(Step::Keep(true)),
                // Lost: someone else moved it first, nothing written.
                0 => Ok(Step::Discard(false)),
                n => anyhow::bail!("an order's change wrote {n} rows"),
            })
            .await
            .context("cannot commit the order change");
    }
    let (order_id, detail) = (order_id.to_owned(), detail.to_owned());
    db.commits
        .run(move |tx| {
            Box::pin(async move {
                // Lost: someone else moved it first, nothing to write.
                let moved = transition_in(tx, &order_id, from, to, kind, &detail, changes).await?;
                Ok(Step::keep_if(moved, moved))
            })
        })
        .await
        .context("cannot commit the order change")
}

/// [`transition`] inside an open transaction (the caller commits, or rolls
/// back when this returns false). Giving an order up releases its place in a
/// limited form; an administrator accepting a payment kept for review takes
/// one again.
pub async fn transition_in(
    tx: &mut sqlx::AnyConnection,
    order_id: &str,
    from: OrderStatus,
    to: OrderStatus,
    kind: OrderEventKind,
    detail: &str,
    changes: Changes,
) -> anyhow::Result<bool> {
    from.transition(to).map_err(|e| anyhow::anyhow!(e))?;
    if !update_in(tx, order_id, from, to, changes).await? {
        return Ok(false);
    }
    if changes_seat(from, to) {
        seat(tx, order_id, to == OrderStatus::Paid).await?;
    }
    insert_event(tx, order_id, kind, Some(from), Some(to), detail).await?;
    Ok(true)
}

/// A payment to record on its attempt, with its order's change and event.
pub struct Payment {
    pub attempt_id: String,
    pub transaction_id: Option<String>,
    pub paid_at: i64,
    pub order_id: String,
    /// The order's status as read; the change applies only if it still is.
    pub from: OrderStatus,
    /// The new status; `from` keeps it, with an event of `kind` alone.
    pub to: OrderStatus,
    pub kind: OrderEventKind,
    pub detail: String,
    /// With `at` set: the order's new version, which its pages follow.
    pub changes: Changes,
}

impl Payment {
    /// Refuses a change the state machine forbids, or one that would take or
    /// give up the order's place (written in steps by [`transition_in`]).
    fn check(&self) -> anyhow::Result<()> {
        // A payment on an order that keeps its status is an annotation.
        if self.from != self.to {
            self.from
                .transition(self.to)
                .map_err(|e| anyhow::anyhow!(e))?;
        }
        anyhow::ensure!(
            !changes_seat(self.from, self.to),
            "a payment that changes the order's place is written in steps"
        );
        Ok(())
    }

    /// The attempt's write: paid, if it was not (the caller ends the statement).
    fn push_attempt(&self, q: &mut Sql<'_>) {
        q.push("UPDATE payment_attempts SET state = 'paid', transaction_id = ")
            .bind(self.transaction_id.clone())
            .push(", paid_at = ")
            .bind(self.paid_at)
            .push(", updated_at = ")
            .bind(self.paid_at)
            .push(" WHERE id = ")
            .bind(self.attempt_id.clone())
            .push(" AND state <> 'paid'");
    }

    /// The order's compare-and-set (the caller adds its last condition).
    fn push_order(&self, q: &mut Sql<'_>) {
        push_update(q, &self.order_id, self.from, self.to, self.changes.clone());
    }

    /// The event's row, as a SELECT the caller ends with its condition.
    fn push_event(&self, q: &mut Sql<'_>) {
        let (from, to) = if self.from == self.to {
            (None, None)
        } else {
            (Some(self.from), Some(self.to))
        };
        push_event_select(q, &self.order_id, self.kind, from, to, &self.detail);
    }
}

/// An event's row as `INSERT … SELECT …`, which the caller ends with its
/// condition.
pub(super) fn push_event_select(
    q: &mut Sql<'_>,
    order_id: &str,
    kind: OrderEventKind,
    from: Option<OrderStatus>,
    to: Option<OrderStatus>,
    detail: &str,
) {
    q.push("INSERT INTO order_events (id, order_id, created_at, kind, from_status, to_status, detail) SELECT ")
        .bind(crate::row_id())
        .push(", ")
        .bind(order_id.to_owned())
        .push(", ")
        .bind(now_ms())
        .push(", ")
        .bind(kind)
        .push(", ")
        .bind(from)
        .push(", ")
        .bind(to)
        .push(", ")
        .bind(detail.to_owned());
}

/// The order's compare-and-set and its event, as statements of one SQLite
/// query: the event is written only if the order moved (`changes()`), so
/// they change two rows or none. A change that keeps the status gets an
/// event without one.
fn push_change_with_event(
    q: &mut Sql<'_>,
    order_id: &str,
    from: OrderStatus,
    to: OrderStatus,
    changes: Changes,
    kind: OrderEventKind,
    detail: &str,
) {
    push_update(q, order_id, from, to, changes);
    q.push("; ");
    let (event_from, event_to) = if from == to {
        (None, None)
    } else {
        (Some(from), Some(to))
    };
    push_event_select(q, order_id, kind, event_from, event_to, detail);
    q.push(" WHERE changes() = 1");
}

/// What the payment's write found.
#[derive(Debug, PartialEq, Eq)]
pub enum PaymentWritten {
    Recorded,
    /// The attempt holds this payment already: nothing changed.
    AlreadyRecorded,
    /// The order is no longer in `from`: nothing changed.
    OrderMoved,
}

/// What PostgreSQL answers when the attempt was recorded but its order had
/// moved meanwhile: the statement fails, so neither stays.
const ORDER_MOVED: &str = "formpay: the order moved while its payment was recorded";

/// PostgreSQL: the payment on its attempt, the order's compare-and-set, its
/// event and the page's notification (sent at the commit) in one statement,
/// so one round trip in its own implicit transaction, where the same writes
/// one by one take seven. The attempt is written only while the order is in
/// `from`, the order only if the attempt was; if the order moved in between
/// (a concurrent write committed after this statement's snapshot), the
/// statement fails on purpose and changes nothing. A duplicate report waits
/// on the attempt's row lock and then finds it paid.
///
/// With [`Db::payments`], the payments waiting go in one statement together
/// (`orders/batch.rs`).
pub async fn record_payment_at_once(
    db: &Db,
    p: Payment,
    change: crate::hub::StatusChange,
) -> anyhow::Result<PaymentWritten> {
    match &db.payments {
        Some(payments) => payments.record(p, change).await,
        None => payment_alone(&db.pool, &p, &change).await,
    }
}

/// One payment, one statement.
async fn payment_alone(
    pool: &sqlx::AnyPool,
    p: &Payment,
    change: &crate::hub::StatusChange,
) -> anyhow::Result<PaymentWritten> {
    p.check()?;
    let mut q = Sql::new("WITH paid AS (");
    p.push_attempt(&mut q);
    q.push(" AND EXISTS (SELECT 1 FROM orders WHERE id = ")
        .bind(p.order_id.clone())
        .push(" AND status = ")
        .bind(p.from)
        .push(") RETURNING id), moved AS (");
    p.push_order(&mut q);
    q.push(" AND EXISTS (SELECT 1 FROM paid) RETURNING id), logged AS (");
    p.push_event(&mut q);
    q.push(" FROM moved RETURNING id) SELECT (SELECT COUNT(*) FROM moved), (SELECT COUNT(*) FROM payment_attempts WHERE id = ")
        .bind(p.attempt_id.clone())
        .push(" AND state = 'paid'), (SELECT COUNT(pg_notify(")
        .bind(crate::hub::CHANNEL)
        .push(", ")
        .bind(change.payload())
        .push(")::text) FROM moved), CASE WHEN (SELECT COUNT(*) FROM paid) > (SELECT COUNT(*) FROM moved) THEN CAST('")
        .push(ORDER_MOVED)
        .push(" ' || (SELECT COUNT(*) FROM paid) AS BIGINT) ELSE 0 END");
    let answer: anyhow::Result<(i64, i64, i64, i64)> = q.fetch_one(pool).await;
    match answer {
        Ok((1, _, _, _)) => Ok(PaymentWritten::Recorded),
        // Counted in the statement's snapshot, before its own write.
        Ok((_, 1, _, _)) => Ok(PaymentWritten::AlreadyRecorded),
        Ok(_) => Ok(PaymentWritten::OrderMoved),
        Err(e) if format!("{e:#}").contains(ORDER_MOVED) => Ok(PaymentWritten::OrderMoved),
        Err(e) => Err(e.context("cannot record the payment")),
    }
}

/// SQLite: the payment's three statements in one query, each after the
/// first going on only if the one before changed its row. Its changed rows
/// go to [`payment_written`].
pub fn payment_query(p: &Payment) -> anyhow::Result<Sql<'static>> {
    p.check()?;
    let mut q = Sql::new("");
    p.push_attempt(&mut q);
    q.push("; ");
    p.push_order(&mut q);
    q.push(" AND changes() = 1; ");
    p.push_event(&mut q);
    q.push(" WHERE changes() = 1");
    Ok(q)
}

/// What the rows changed by [`payment_query`]'s three statements together
/// say (its savepoint is rolled back unless `Recorded`).
pub fn payment_written(rows: u64) -> anyhow::Result<PaymentWritten> {
    match rows {
        3 => Ok(PaymentWritten::Recorded),
        0 => Ok(PaymentWritten::AlreadyRecorded),
        1 => Ok(PaymentWritten::OrderMoved),
        n => anyhow::bail!("recording a payment changed {n} rows"),
    }
}

/// Whether moving from `from` to `to` gives the order's place up (expired,
/// closed) or takes it again (a payment kept for review, accepted).
fn changes_seat(from: OrderStatus, to: OrderStatus) -> bool {
    matches!(to, OrderStatus::Expired | OrderStatus::Closed)
        || (from == OrderStatus::NeedsReview && to == OrderStatus::Paid)
}

/// Records a change that keeps the status (another payment on a refunded
/// order, a refund booked while others are processing), with its event, if
/// the order is still in `status`.
pub async fn annotate_in(
    tx: &mut sqlx::AnyConnection,
    order_id: &str,
    status: OrderStatus,
    kind: OrderEventKind,
    detail: &str,
    changes: Changes,
) -> anyhow::Result<bool> {
    if !update_in(tx, order_id, status, status, changes).await? {
        return Ok(false);
    }
    insert_event(tx, order_id, kind, None, None, detail).await?;
    Ok(true)
}

/// The compare-and-set itself: `status = to` and the given columns, if the
/// order is still in `from`.
async fn update_in(
    tx: &mut sqlx::AnyConnection,
    order_id: &str,
    from: OrderStatus,
    to: OrderStatus,
    c: Changes,
) -> anyhow::Result<bool> {
    let mut q = Sql::new("");
    push_update(&mut q, order_id, from, to, c);
    let done = q
        .execute(&mut *tx)
        .await
        .context("cannot change the order")?;
    Ok(done.rows_affected() == 1)
}

/// The compare-and-set's statement (`UPDATE orders … WHERE … AND status = from`).
fn push_update(q: &mut Sql<'_>, order_id: &str, from: OrderStatus, to: OrderStatus, c: Changes) {
    q.push("UPDATE orders SET status = ")
        .bind(to)
        .push(", updated_at = ")
        .bind(c.at.unwrap_or_else(now_ms))
        .push(", received_fen = received_fen + ")
        .bind(c.received_add)
        .push(", refunded_fen = refunded_fen + ")
        .bind(c.refunded_add)
        .push(", refund_reserved_fen = refund_reserved_fen + ")
        .bind(c.reserved_add);
    // Only the columns given change.
    if let Some(v) = c.channel {
        q.push(", channel = ").bind(v);
    }
    if let Some(v) = c.provider {
        q.push(", provider = ").bind(v);
    }
    if let Some(v) = c.pay_target {
        q.push(", pay_target = ").bind(v);
    }
    if let Some(v) = c.transaction_id {
        q.push(", transaction_id = ").bind(v);
    }
    if let Some(v) = c.review_reason {
        q.push(", review_reason = ").bind(v);
    }
    if let Some(v) = c.paid_at {
        q.push(", paid_at = ").bind(v);
    }
    if let Some(v) = c.next_check_at {
        q.push(", next_check_at = ").bind(v);
    }
    if let Some(v) = c.unlock {
        q.push(", pay_lock_until = CASE WHEN pay_lock_until = ")
            .bind(v)
            .push(" THEN 0 ELSE pay_lock_until END");
    }
    q.push(" WHERE id = ")
        .bind(order_id.to_owned())
        .push(" AND status = ")
        .bind(from);
}

/// Takes (`hold`) or releases the order's place in its form, its items'
/// stock, its payer's place and its discount code's use, once.
async fn seat(tx: &mut sqlx::AnyConnection, order_id: &str, hold: bool) -> anyhow::Result<()> {
    let (delta, was) = if hold { (1, 0) } else { (-1, 1) };
    let changed =
        sqlx::query("UPDATE orders SET holds_seat = $1 WHERE id = $2 AND holds_seat = $3")
            .bind(1 - was)
            .bind(order_id)
            .bind(was)
            .execute(&mut *tx)
            .await
            .context("cannot update the order's place")?;
    if changed.rows_affected() == 1 {
        sqlx::query("UPDATE forms SET submission_count = submission_count + $1 WHERE id = (SELECT form_id FROM orders WHERE id = $2)")
            .bind(delta)
            .bind(order_id)
            .execute(&mut *tx)
            .await
            .context("cannot update the form's places")?;
        // The items it holds go back to (or come again from) their stock,
        // and the payer's place in a form that limits payers.
        sqlx::query(
            "UPDATE item_holds SET held = held + $1 * (SELECT oi.quantity FROM order_items oi WHERE oi.order_id = $2 AND oi.item_key = item_holds.item_key) \
             WHERE form_id = (SELECT form_id FROM orders WHERE id = $2) AND item_key IN (SELECT item_key FROM order_items WHERE order_id = $2)",
        )
        .bind(delta)
        .bind(order_id)
        .execute(&mut *tx)
        .await
        .context("cannot update the stock")?;
        // Its payer is counted by an answer (phone or email) and, once they
        // pay inside WeChat, by their openid too.
        sqlx::query(
            "UPDATE payer_holds SET held = held + $1 WHERE form_id = (SELECT form_id FROM orders WHERE id = $2) \
             AND payer_key IN (SELECT payer_key FROM orders WHERE id = $2 UNION ALL SELECT payer_openid_key FROM orders WHERE id = $2)",
        )
        .bind(delta)
        .bind(order_id)
        .execute(&mut *tx)
        .await
        .context("cannot update the payer's places")?;
        sqlx::query(
            "UPDATE discount_codes SET used = used + $1 WHERE id = (SELECT discount_code_id FROM orders WHERE id = $2)",
        )
        .bind(delta)
        .bind(order_id)
        .execute(&mut *tx)
        .await
        .context("cannot update the discount code's uses")?;
    }
    Ok(())
}

/// Counts the WeChat payer `key` (a digest of their openid) against the
/// per-payer `limit` of the order's form, once per order: a compare-and-set
/// on the payer's counter while the order holds its place, so concurrent
/// orders never exceed it. Paying the same order with another WeChat account
/// moves the order's place to that account. False when `key` has no place
/// left; the order is then unchanged.
pub async fn hold_openid(db: &Db, order_id: &str, key: &str, limit: i64) -> anyhow::Result<bool> {
    let row: Option<(String, Option<String>, i64)> =
        sqlx::query_as("SELECT form_id, payer_openid_key, holds_seat FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_optional(&db.pool)
            .await
            .context("cannot read the order's payer")?;
    let Some((form_id, old, seated)) = row else {
        return Ok(false);
    };
    if old.as_deref() == Some(key) {
        return Ok(true);
    }
    let mut tx = db.pool.begin().await.context("cannot begin")?;
    // Claims the order's row first (its key and place are as read), so a
    // concurrent expiry or start waits for this transaction or changes it.
    let claimed = sqlx::query(
        "UPDATE orders SET payer_openid_key = $1 WHERE id = $2 AND holds_seat = $3 AND COALESCE(payer_openid_key, '') = $4",
    )
    .bind(key)
    .bind(order_id)
    .bind(seated)
    .bind(old.clone().unwrap_or_default())
    .execute(&mut *tx)
    .await
    .context("cannot store the order's payer")?;
    if claimed.rows_affected() != 1 {
        // Changed meanwhile (another start, or its expiry): asked again by the payer.
        return Ok(false);
    }
    if seated == 1 {
        if !super::forms::take_payer_place(&mut tx, &form_id, key, limit).await? {
            return Ok(false);
        }
        if let Some(old) = &old {
            sqlx::query(
                "UPDATE payer_holds SET held = held - 1 WHERE form_id = $1 AND payer_key = $2",
            )
            .bind(&form_id)
            .bind(old)
            .execute(&mut *tx)
            .await
            .context("cannot count the payer's orders")?;
        }
    }
    tx.commit()
        .await
        .context("cannot commit the payer's place")?;
    Ok(true)
}

/// Takes the lock that serialises starting a payment of one order (on every
/// instance), for at most `hold_ms`. Returns its token, or None when another
/// start holds it and does not let go within a few seconds.
pub async fn lock_for_payment(
    db: &Db,
    order_id: &str,
    hold_ms: i64,
) -> anyhow::Result<Option<i64>> {
    for _ in 0..100 {
        let now = now_ms();
        let until = now + hold_ms;
        let taken = db
            .commits
            .single(
                Sql::new(
                    "UPDATE orders SET pay_lock_until = $1 WHERE id = $2 AND pay_lock_until < $3",
                )
                .arg(until)
                .arg(order_id.to_owned())
                .arg(now),
            )
            .await
            .context("cannot lock the order")?;
        if taken == 1 {
            return Ok(Some(until));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(None)
}

/// Lets go of the lock taken by [`lock_for_payment`] (only if still ours).
pub async fn unlock_payment(db: &Db, order_id: &str, token: i64) -> anyhow::Result<()> {
    db.commits
        .single(
            Sql::new("UPDATE orders SET pay_lock_until = 0 WHERE id = $1 AND pay_lock_until = $2")
                .arg(order_id.to_owned())
                .arg(token),
        )
        .await
        .context("cannot unlock the order")?;
    Ok(())
}

/// Whether a payer's "I have paid" may query the provider now: at most once
/// per `interval_ms` per order, whatever the number of callers.
pub async fn claim_public_query(db: &Db, order_id: &str, interval_ms: i64) -> anyhow::Result<bool> {
    let now = now_ms();
    let claimed = db
        .commits
        .single(
            Sql::new("UPDATE orders SET last_query_at = $1 WHERE id = $2 AND last_query_at <= $3")
                .arg(now)
                .arg(order_id.to_owned())
                .arg(now - interval_ms),
        )
        .await
        .context("cannot throttle the query")?;
    Ok(claimed == 1)
}

/// What a start writes once its provider order is made ([`record_start`]).
pub struct StartMade<'a> {
    pub order_id: &'a str,
    /// The order's status as read under the lock: created (it becomes
    /// pending) or pending (it stays so, with an event).
    pub from: OrderStatus,
    pub attempt_id: &'a str,
    pub channel: Channel,
    /// Where the payer is sent: the QR content, the cashier URL or the
    /// pay sheet's `package`.
    pub target: &'a str,
    pub detail: &'a str,
    pub next_check_at: i64,
    /// The payment lock's token ([`lock_for_payment`]), let go with this
    /// write if still held with it.
    pub lock: i64,
    /// The change's time: the order's new version (`updated_at`).
    pub at: i64,
}

/// Where the payer is sent, on the attempt and on its order, the order's
/// change (created to pending, or an event on a pending one) and the
/// payment lock let go: all in one write, kept only if the order is still
/// in `from`. So the next start, which waits for the lock, always finds the
/// attempt's target. Returns whether it was kept (if not, nothing was
/// written and the lock is still held).
pub async fn record_start(db: &Db, s: StartMade<'_>) -> anyhow::Result<bool> {
    let (from, to) = (s.from, OrderStatus::Pending);
    if from != to {
        from.transition(to).map_err(|e| anyhow::anyhow!(e))?;
    }
    let now = s.at;
    let mut target = Sql::new("UPDATE payment_attempts SET pay_target = ");
    target
        .bind(s.target.to_owned())
        .push(", updated_at = ")
        .bind(now)
        .push(" WHERE id = ")
        .bind(s.attempt_id.to_owned());
    let changes = Changes {
        channel: Some(s.channel),
        provider: Some(s.channel.provider()),
        pay_target: Some(s.target.to_owned()),
        next_check_at: (from != to).then_some(s.next_check_at),
        unlock: Some(s.lock),
        at: Some(now),
        ..Changes::default()
    };
    let kind = OrderEventKind::ProviderOrder;
    if db.backend == crate::db::Backend::Sqlite {
        // One query, which the writer runs on its own connection: the order
        // changes only if still in `from`, the event only if it did.
        let mut q = target;
        q.push("; ");
        push_change_with_event(&mut q, s.order_id, from, to, changes, kind, s.detail);
        return db
            .commits
            .query(q, |rows| match rows {
                3 => Ok(Step::Keep(true)),
                // The order moved meanwhile (paid, closed): nothing stays.
                1 => Ok(Step::Discard(false)),
                n => anyhow::bail!("recording a started payment wrote {n} rows"),
            })
            .await
            .context("cannot record the started payment");
    }
    let (order_id, detail) = (s.order_id.to_owned(), s.detail.to_owned());
    db.commits
        .run(move |tx| {
            Box::pin(async move {
                let set = target
                    .execute(&mut *tx)
                    .await
                    .context("cannot store where the payer is sent")?;
                anyhow::ensure!(set.rows_affected() == 1, "the started attempt is gone");
                // An order that stays pending gets the event alone.
                let moved = if from == to {
                    annotate_in(tx, &order_id, to, kind, &detail, changes).await?
                } else {
                    transition_in(tx, &order_id, from, to, kind, &detail, changes).await?
                };
                Ok(Step::keep_if(moved, moved))
            })
        })
        .await
        .context("cannot record the started payment")
}
