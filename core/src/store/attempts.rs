//! Payment attempts: one row per provider order made for an order. The first
//! attempt uses the order's `out_trade_no`, later ones `{out_trade_no}_{seq}`,
//! so that a payer who switches method never makes us reuse a number at a
//! provider, and every payment a provider reports can be traced to exactly
//! one attempt. The attempt row is also the gate that records a payment once.

use super::orders::OrderRecord;
use super::sql::Sql;
use crate::commit::Step;
use crate::{now_ms, random_token, Db};
use anyhow::Context;
use domain::{Channel, Money, OrderStatus, OutTradeNo, Provider};
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

pub use domain::AttemptState;

#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub id: String,
    pub order_id: String,
    pub seq: i64,
    pub out_trade_no: String,
    pub provider: Provider,
    pub channel: Channel,
    pub pay_target: Option<String>,
    pub state: AttemptState,
    pub transaction_id: Option<String>,
    pub amount: Money,
    pub paid_at: Option<i64>,
    pub next_check_at: i64,
    pub check_attempts: i64,
    pub created_at: i64,
}

impl Attempt {
    /// The attempt from a row whose columns are named `{prefix}{column}`
    /// (a join names them apart from the order's).
    fn from_prefixed(row: &AnyRow, prefix: &str) -> sqlx::Result<Attempt> {
        let column = |name: &str| format!("{prefix}{name}");
        Ok(Attempt {
            id: row.try_get(column("id").as_str())?,
            order_id: row.try_get(column("order_id").as_str())?,
            seq: row.try_get(column("seq").as_str())?,
            out_trade_no: row.try_get(column("out_trade_no").as_str())?,
            provider: row.try_get(column("provider").as_str())?,
            channel: row.try_get(column("channel").as_str())?,
            pay_target: row.try_get(column("pay_target").as_str())?,
            state: row.try_get(column("state").as_str())?,
            transaction_id: row.try_get(column("transaction_id").as_str())?,
            amount: row.try_get(column("amount_fen").as_str())?,
            paid_at: row.try_get(column("paid_at").as_str())?,
            next_check_at: row.try_get(column("next_check_at").as_str())?,
            check_attempts: row.try_get(column("check_attempts").as_str())?,
            created_at: row.try_get(column("created_at").as_str())?,
        })
    }

    pub fn out_trade_no(&self) -> anyhow::Result<OutTradeNo> {
        OutTradeNo::parse(&self.out_trade_no).map_err(|e| anyhow::anyhow!(e))
    }
}

const COLUMNS: &str = "id, order_id, seq, out_trade_no, provider, channel, pay_target, state, transaction_id, amount_fen, paid_at, next_check_at, check_attempts, created_at";

/// The number a provider knows attempt `seq` of an order by.
pub fn attempt_number(order_no: &str, seq: i64) -> String {
    if seq <= 1 {
        order_no.to_owned()
    } else {
        format!("{order_no}_{seq}")
    }
}

impl<'r> sqlx::FromRow<'r, AnyRow> for Attempt {
    fn from_row(row: &'r AnyRow) -> sqlx::Result<Attempt> {
        Attempt::from_prefixed(row, "")
    }
}

/// The attempt behind a provider's `out_trade_no` with its order, in one
/// query (a callback reads both before it settles). With
/// [`Db::attempt_reads`] (PostgreSQL), the reads waiting go together
/// ([`with_orders`]).
pub async fn with_order(db: &Db, no: &str) -> anyhow::Result<Option<(Attempt, OrderRecord)>> {
    if let Some(reads) = &db.attempt_reads {
        return reads.ask(no.to_owned()).await;
    }
    let row = db
        .fetch_optional_row(Sql::new(&WITH_ORDER).arg(no.to_owned()))
        .await
        .context("cannot read the payment attempt")?;
    let Some(row) = row else { return Ok(None) };
    attempt_and_order(&row).map(Some)
}

/// [`with_order`]'s statement, for one number.
static WITH_ORDER: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| with_order_query("= $1"));

/// The joined read of attempts and orders, for the numbers `wanted` (the
/// condition on `a.out_trade_no`).
fn with_order_query(wanted: &str) -> String {
    let attempt: Vec<String> = COLUMNS
        .split(", ")
        .map(|c| format!("a.{c} AS a_{c}"))
        .collect();
    format!(
        "SELECT {}, {} FROM payment_attempts a JOIN orders o ON o.id = a.order_id WHERE a.out_trade_no {wanted}",
        super::orders::qualified_columns("o"),
        attempt.join(", ")
    )
}

fn attempt_and_order(row: &AnyRow) -> anyhow::Result<(Attempt, OrderRecord)> {
    let order = OrderRecord::from_row(row).context("cannot read the order")?;
    let attempt = Attempt::from_prefixed(row, "a_").context("cannot read the payment attempt")?;
    Ok((attempt, order))
}

/// PostgreSQL: [`with_order`] for several numbers by one statement (the
/// numbers go in as one JSON array, so its text is the same for any
/// number of them and stays prepared); each answered in order.
pub async fn with_orders(
    pool: &sqlx::AnyPool,
    nos: Vec<String>,
) -> Vec<anyhow::Result<Option<(Attempt, OrderRecord)>>> {
    static MANY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        // `= ANY (ARRAY (…))` is planned as an index scan for about ten
        // numbers; `IN (SELECT …)` as one for a hundred, which on a table
        // of a few thousand was a sequential scan and a hash.
        with_order_query("= ANY (ARRAY (SELECT json_array_elements_text($1::json)))")
    });
    let read = async {
        let q = match nos.as_slice() {
            [no] => Sql::new(&WITH_ORDER).arg(no.clone()),
            _ => Sql::new(&MANY).arg(serde_json::to_string(&nos)?),
        };
        let (text, args) = q.into_parts()?;
        let rows = sqlx::query_with(&text, args)
            .fetch_all(pool)
            .await
            .context("cannot read the payment attempts")?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let no: String = row
                .try_get("a_out_trade_no")
                .context("cannot read the payment attempt")?;
            found.insert(no, attempt_and_order(row)?);
        }
        anyhow::Ok(found)
    };
    match read.await {
        // The same number may be asked more than once (a provider's
        // duplicates arriving together).
        Ok(found) => nos.iter().map(|no| Ok(found.get(no).cloned())).collect(),
        Err(e) => {
            let why = format!("{e:#}");
            nos.iter().map(|_| Err(anyhow::anyhow!("{why}"))).collect()
        }
    }
}

pub async fn by_out_trade_no(db: &Db, no: &str) -> anyhow::Result<Option<Attempt>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payment_attempts WHERE out_trade_no = $1"
    ))
    .bind(no)
    .fetch_optional(&db.pool)
    .await
    .context("cannot read the payment attempt")
}

pub async fn by_seq(db: &Db, order_id: &str, seq: i64) -> anyhow::Result<Option<Attempt>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payment_attempts WHERE order_id = $1 AND seq = $2"
    ))
    .bind(order_id)
    .bind(seq)
    .fetch_optional(&db.pool)
    .await
    .context("cannot read the payment attempt")
}

/// Every attempt of an order, oldest first.
pub async fn for_order(db: &Db, order_id: &str) -> anyhow::Result<Vec<Attempt>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payment_attempts WHERE order_id = $1 ORDER BY seq"
    ))
    .bind(order_id)
    .fetch_all(&db.pool)
    .await
    .context("cannot list the payment attempts")
}

/// Records a new attempt as the order's current one, before the provider is
/// asked (so that a crash after the provider call leaves something to
/// reconcile). A compare-and-set on the order's attempt counter: None when
/// another start got there first. With `lock`, a payment lock's token
/// ([`super::orders::lock_for_payment`]), the same write takes the lock if it
/// is free (an order's first start, which has nothing to wait for).
pub async fn begin(
    db: &Db,
    order: &OrderRecord,
    channel: Channel,
    next_check_at: i64,
    lock: Option<i64>,
) -> anyhow::Result<Option<Attempt>> {
    let previous_seq = order.attempt_seq;
    let seq = previous_seq + 1;
    let now = now_ms();
    let attempt = Attempt {
        id: random_token().to_string(),
        order_id: order.id.clone(),
        seq,
        out_trade_no: attempt_number(&order.out_trade_no, seq),
        provider: channel.provider(),
        channel,
        pay_target: None,
        state: AttemptState::Open,
        transaction_id: None,
        amount: order.amount,
        paid_at: None,
        next_check_at,
        check_attempts: 0,
        created_at: now,
    };
    // The counter's compare-and-set; with `lock`, it takes the payment lock
    // too, only if free and while the order awaits payment.
    let mut number = Sql::new("UPDATE orders SET attempt_seq = ");
    number.bind(seq).push(", updated_at = ").bind(now);
    if let Some(until) = lock {
        number.push(", pay_lock_until = ").bind(until);
    }
    number
        .push(" WHERE id = ")
        .bind(order.id.clone())
        .push(" AND attempt_seq = ")
        .bind(previous_seq);
    if lock.is_some() {
        number
            .push(" AND pay_lock_until < ")
            .bind(now)
            .push(" AND status IN (")
            .bind(OrderStatus::Created)
            .push(", ")
            .bind(OrderStatus::Pending)
            .push(")");
    }
    let insert = |q: &mut Sql<'static>, condition: &str| {
        q.push("INSERT INTO payment_attempts (id, order_id, seq, out_trade_no, provider, channel, state, amount_fen, next_check_at, check_attempts, created_at, updated_at) SELECT ")
            .bind(attempt.id.clone())
            .push(", ")
            .bind(attempt.order_id.clone())
            .push(", ")
            .bind(seq)
            .push(", ")
            .bind(attempt.out_trade_no.clone())
            .push(", ")
            .bind(attempt.provider)
            .push(", ")
            .bind(channel)
            .push(", 'open', ")
            .bind(attempt.amount)
            .push(", ")
            .bind(next_check_at)
            .push(", 0, ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(condition);
    };
    // With the other writes of the payment path (group commit), in one
    // query on SQLite (which its writer runs on its own connection): the
    // attempt is inserted only if the counter moved (`changes()`).
    if db.backend == crate::db::Backend::Sqlite {
        let mut q = number;
        q.push("; ");
        insert(&mut q, " WHERE changes() = 1");
        return db
            .commits
            .query(q, move |rows| match rows {
                2 => Ok(Step::Keep(Some(attempt))),
                // Another start got there first: nothing written.
                0 => Ok(Step::Discard(None)),
                n => anyhow::bail!("starting an attempt wrote {n} rows"),
            })
            .await
            .context("cannot commit the attempt");
    }
    let mut row = Sql::new("");
    insert(&mut row, "");
    db.commits
        .run(move |tx| {
            Box::pin(async move {
                let moved = number
                    .execute(&mut *tx)
                    .await
                    .context("cannot number the attempt")?;
                if moved.rows_affected() != 1 {
                    return Ok(Step::Discard(None));
                }
                row.execute(&mut *tx)
                    .await
                    .context("cannot store the attempt")?;
                Ok(Step::Keep(Some(attempt)))
            })
        })
        .await
        .context("cannot commit the attempt")
}

/// Moves an attempt between unpaid states (never out of `paid`). Returns whether it moved.
pub async fn set_state(
    db: &Db,
    id: &str,
    to: AttemptState,
    next_check_at: Option<i64>,
) -> anyhow::Result<bool> {
    let moved = db
        .commits
        .single(
            Sql::new("UPDATE payment_attempts SET state = $1, next_check_at = COALESCE($2, next_check_at), updated_at = $3 WHERE id = $4 AND state <> 'paid'")
                .arg(to)
                .arg(next_check_at)
                .arg(now_ms())
                .arg(id.to_owned()),
        )
        .await
        .context("cannot change the attempt")?;
    Ok(moved == 1)
}

/// Attempts whose close was not confirmed and that are due for a look.
pub async fn due_closing(db: &Db, now: i64, limit: i64) -> anyhow::Result<Vec<Attempt>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payment_attempts WHERE state = 'closing' AND next_check_at <= $1 ORDER BY next_check_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
    .context("cannot list attempts to check")
}

/// Claims a closing attempt for one look (one instance wins).
pub async fn claim_check(db: &Db, a: &Attempt, next_check_at: i64) -> anyhow::Result<bool> {
    let done = sqlx::query("UPDATE payment_attempts SET next_check_at = $1, check_attempts = check_attempts + 1 WHERE id = $2 AND next_check_at = $3 AND state = 'closing'")
        .bind(next_check_at)
        .bind(&a.id)
        .bind(a.next_check_at)
        .execute(&db.pool)
        .await
        .context("cannot claim the attempt")?;
    Ok(done.rows_affected() == 1)
}

/// What a paid order's refunds may still take back from each paid attempt:
/// its amount less what its refunds hold (processing, succeeded, abnormal).
pub async fn refundable_in(
    tx: &mut sqlx::AnyConnection,
    order_id: &str,
) -> anyhow::Result<Vec<(String, Provider, i64)>> {
    sqlx::query_as(
        "SELECT a.out_trade_no, a.provider, a.amount_fen - CAST(COALESCE((SELECT SUM(r.amount_fen) FROM refunds r WHERE r.out_trade_no = a.out_trade_no AND r.status <> 'closed'), 0) AS BIGINT) AS left_fen \
         FROM payment_attempts a WHERE a.order_id = $1 AND a.state = 'paid' ORDER BY a.seq",
    )
    .bind(order_id)
    .fetch_all(&mut *tx)
    .await
    .context("cannot read what is refundable")
}

/// Whether a status still takes a payment through its current attempt.
pub fn awaits_payment(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Created | OrderStatus::Pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_attempts_get_their_own_numbers_within_both_providers_limits() {
        let base = "FP001795700000123456789012";
        assert_eq!(attempt_number(base, 1), base);
        let second = attempt_number(base, 2);
        assert_eq!(second, format!("{base}_2"));
        assert!(OutTradeNo::parse(&attempt_number(base, 99)).is_ok());
    }
}
