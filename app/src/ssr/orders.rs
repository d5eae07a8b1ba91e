//! Payment orders: every status change is a compare-and-set in the same
//! transaction as its event-log row, so a duplicate or concurrent callback
//! changes nothing.

use super::{now_ms, random_token, Db};
use crate::domain::{Channel, Money, OrderStatus, Provider};
use anyhow::Context;
use sqlx::Row;

#[derive(Clone, Debug, PartialEq)]
pub struct OrderRecord {
    pub id: String,
    pub out_trade_no: String,
    pub submission_id: String,
    pub form_id: String,
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
}

const COLUMNS: &str = "id, out_trade_no, submission_id, form_id, amount_fen, status, channel, provider, pay_target, transaction_id, receipt_token, refunded_fen, refund_reserved_fen, review_reason, expires_at, paid_at, next_check_at, check_attempts, created_at, updated_at, account_id";

fn from_row(r: &sqlx::any::AnyRow) -> anyhow::Result<OrderRecord> {
    let provider = |s: Option<String>| {
        s.and_then(|s| match s.as_str() {
            "wechat" => Some(Provider::Wechat),
            "alipay" => Some(Provider::Alipay),
            _ => None,
        })
    };
    Ok(OrderRecord {
        id: r.try_get("id")?,
        out_trade_no: r.try_get("out_trade_no")?,
        submission_id: r.try_get("submission_id")?,
        form_id: r.try_get("form_id")?,
        amount: Money::from_fen(r.try_get("amount_fen")?).context("stored amount out of range")?,
        status: OrderStatus::parse(&r.try_get::<String, _>("status")?)
            .context("unknown order status")?,
        channel: r
            .try_get::<Option<String>, _>("channel")?
            .and_then(|c| Channel::parse(&c)),
        provider: provider(r.try_get("provider")?),
        pay_target: r.try_get("pay_target")?,
        transaction_id: r.try_get("transaction_id")?,
        receipt_token: r.try_get("receipt_token")?,
        refunded_fen: r.try_get("refunded_fen")?,
        refund_reserved_fen: r.try_get("refund_reserved_fen")?,
        review_reason: r.try_get("review_reason")?,
        expires_at: r.try_get("expires_at")?,
        paid_at: r.try_get("paid_at")?,
        next_check_at: r.try_get("next_check_at")?,
        check_attempts: r.try_get("check_attempts")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        account_id: r.try_get("account_id")?,
    })
}

async fn one(db: &Db, column: &str, value: &str) -> anyhow::Result<Option<OrderRecord>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM orders WHERE {column} = $1"))
        .bind(value)
        .fetch_optional(&db.pool)
        .await
        .context("cannot read the order")?;
    row.as_ref().map(from_row).transpose()
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

/// Orders the reconciler should look at now.
pub async fn due_for_check(db: &Db, now: i64, limit: i64) -> anyhow::Result<Vec<OrderRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM orders WHERE status IN ('created', 'pending') AND next_check_at <= $1 ORDER BY next_check_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
    .context("cannot list orders to check")?;
    rows.iter().map(from_row).collect()
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
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    order_id: &str,
    kind: &str,
    from: Option<OrderStatus>,
    to: Option<OrderStatus>,
    detail: &str,
) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO order_events (id, order_id, created_at, kind, from_status, to_status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(random_token().to_string())
        .bind(order_id)
        .bind(now_ms())
        .bind(kind)
        .bind(from.map(OrderStatus::as_str))
        .bind(to.map(OrderStatus::as_str))
        .bind(detail)
        .execute(&mut **tx)
        .await
        .context("cannot write the order event")?;
    Ok(())
}

/// An event that changes no status (a provider call, a refused callback).
pub async fn log_event(db: &Db, order_id: &str, kind: &str, detail: &str) -> anyhow::Result<()> {
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    insert_event(&mut tx, order_id, kind, None, None, detail).await?;
    tx.commit().await.context("cannot commit the event")?;
    Ok(())
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrderEvent {
    pub created_at: i64,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub detail: String,
}

pub async fn events(db: &Db, order_id: &str) -> anyhow::Result<Vec<OrderEvent>> {
    let rows = sqlx::query("SELECT created_at, kind, from_status, to_status, detail FROM order_events WHERE order_id = $1 ORDER BY created_at, id")
        .bind(order_id)
        .fetch_all(&db.pool)
        .await
        .context("cannot read the order events")?;
    rows.iter()
        .map(|r| {
            Ok(OrderEvent {
                created_at: r.try_get("created_at")?,
                kind: r.try_get("kind")?,
                from_status: r.try_get("from_status")?,
                to_status: r.try_get("to_status")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

/// Columns a transition may set besides the status.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub channel: Option<Channel>,
    pub provider: Option<Provider>,
    pub pay_target: Option<String>,
    pub transaction_id: Option<String>,
    pub paid_at: Option<i64>,
    pub review_reason: Option<String>,
    pub next_check_at: Option<i64>,
}

/// Moves the order from `from` to `to` if, and only if, it is still in `from`;
/// writes the event in the same transaction. Returns whether this call won.
pub async fn transition(
    db: &Db,
    order_id: &str,
    from: OrderStatus,
    to: OrderStatus,
    kind: &str,
    detail: &str,
    changes: Changes,
) -> anyhow::Result<bool> {
    from.transition(to).map_err(|e| anyhow::anyhow!(e))?;
    let texts: Vec<(&str, Option<String>)> = vec![
        ("channel", changes.channel.map(|c| c.as_str().to_owned())),
        ("provider", changes.provider.map(|p| p.as_str().to_owned())),
        ("pay_target", changes.pay_target),
        ("transaction_id", changes.transaction_id),
        ("review_reason", changes.review_reason),
    ];
    let ints: Vec<(&str, Option<i64>)> = vec![
        ("paid_at", changes.paid_at),
        ("next_check_at", changes.next_check_at),
    ];
    // $1 status, $2 updated_at, then one placeholder per optional column
    // (NULL keeps the stored value), then the id and the expected status.
    let mut sets = vec!["status = $1".to_owned(), "updated_at = $2".to_owned()];
    let cols = texts
        .iter()
        .map(|(c, _)| *c)
        .chain(ints.iter().map(|(c, _)| *c));
    for (i, col) in cols.enumerate() {
        sets.push(format!("{col} = COALESCE(${}, {col})", i + 3));
    }
    let n = 2 + texts.len() + ints.len();
    let sql = format!(
        "UPDATE orders SET {} WHERE id = ${} AND status = ${}",
        sets.join(", "),
        n + 1,
        n + 2
    );
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    let mut q = sqlx::query(&sql).bind(to.as_str()).bind(now_ms());
    for (_, t) in texts {
        q = q.bind(t);
    }
    for (_, i) in ints {
        q = q.bind(i);
    }
    let done = q
        .bind(order_id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await
        .context("cannot change the order")?;
    if done.rows_affected() != 1 {
        // Someone else moved it first: nothing to write.
        tx.rollback().await.context("cannot roll back")?;
        return Ok(false);
    }
    insert_event(&mut tx, order_id, kind, Some(from), Some(to), detail).await?;
    tx.commit()
        .await
        .context("cannot commit the order change")?;
    Ok(true)
}

/// Updates where the payer is sent (a new QR code, another channel) for an
/// order that stays pending.
pub async fn update_pay_target(
    db: &Db,
    order_id: &str,
    channel: Channel,
    provider: Provider,
    target: &str,
    detail: &str,
) -> anyhow::Result<bool> {
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    let done = sqlx::query("UPDATE orders SET channel = $1, provider = $2, pay_target = $3, updated_at = $4 WHERE id = $5 AND status = 'pending'")
        .bind(channel.as_str())
        .bind(provider.as_str())
        .bind(target)
        .bind(now_ms())
        .bind(order_id)
        .execute(&mut *tx)
        .await
        .context("cannot update the order")?;
    if done.rows_affected() != 1 {
        tx.rollback().await.context("cannot roll back")?;
        return Ok(false);
    }
    insert_event(&mut tx, order_id, "provider_order", None, None, detail).await?;
    tx.commit().await.context("cannot commit")?;
    Ok(true)
}
