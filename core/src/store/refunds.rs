//! Refund records: how they are stored and read back. The refund use case
//! (reservation, provider calls, outcomes) is `crate::pay::refund`.

use crate::provider::RefundState;
use crate::{now_ms, random_token, Db};
use anyhow::Context;
use domain::{Money, Provider};

/// WeChat Pay allows 80 characters of reason; Alipay more. We keep to the smaller.
pub const MAX_REASON_CHARS: usize = 80;

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct RefundRecord {
    pub id: String,
    pub order_id: String,
    /// The payment attempt the money goes back through.
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub request_key: String,
    pub provider: Provider,
    #[sqlx(rename = "amount_fen")]
    pub amount: Money,
    pub reason: String,
    pub status: RefundState,
    pub refund_id: Option<String>,
    pub failure: Option<String>,
    pub created_by: String,
    pub next_check_at: i64,
    pub check_attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub settled_at: Option<i64>,
}

const COLUMNS: &str = "id, order_id, out_trade_no, out_refund_no, request_key, provider, amount_fen, reason, status, refund_id, failure, created_by, next_check_at, check_attempts, created_at, updated_at, settled_at";

async fn one(db: &Db, column: &str, value: &str) -> anyhow::Result<Option<RefundRecord>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM refunds WHERE {column} = $1"
    ))
    .bind(value)
    .fetch_optional(&db.pool)
    .await
    .context("cannot read the refund")
}

pub async fn by_id(db: &Db, id: &str) -> anyhow::Result<Option<RefundRecord>> {
    one(db, "id", id).await
}

pub async fn by_out_refund_no(db: &Db, no: &str) -> anyhow::Result<Option<RefundRecord>> {
    one(db, "out_refund_no", no).await
}

pub async fn by_request_key(db: &Db, key: &str) -> anyhow::Result<Option<RefundRecord>> {
    one(db, "request_key", key).await
}

/// An order's refunds, oldest first.
pub async fn for_order(db: &Db, order_id: &str) -> anyhow::Result<Vec<RefundRecord>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM refunds WHERE order_id = $1 ORDER BY created_at, id"
    ))
    .bind(order_id)
    .fetch_all(&db.pool)
    .await
    .context("cannot list the refunds")
}

/// A refund with its order's number, for the export.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct RefundLine {
    #[sqlx(flatten)]
    pub refund: RefundRecord,
    pub order_no: String,
}

/// Refunds with their order's number, in keyset batches (oldest first), for the export.
pub async fn batch_after(
    db: &Db,
    after: Option<(i64, String)>,
    limit: i64,
) -> anyhow::Result<Vec<RefundLine>> {
    let (at, id) = after.unwrap_or((i64::MIN, String::new()));
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("r.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::query_as(&format!(
        "SELECT {columns}, o.out_trade_no AS order_no FROM refunds r JOIN orders o ON o.id = r.order_id \
         WHERE r.created_at > $1 OR (r.created_at = $1 AND r.id > $2) ORDER BY r.created_at, r.id LIMIT $3"
    ))
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
    .context("cannot list the refunds")
}

/// `R` + Beijing-free UTC timestamp + 12 random hex digits: 27 characters of
/// `[0-9A-Za-z]`, inside both providers' limits (64).
pub fn new_out_refund_no() -> String {
    let token = random_token().to_string();
    format!("R{}{}", now_ms(), &token[..12])
}

/// Processing refunds whose outcome is late.
pub async fn due_for_check(db: &Db, now: i64, limit: i64) -> anyhow::Result<Vec<RefundRecord>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM refunds WHERE status = 'processing' AND next_check_at <= $1 ORDER BY next_check_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
    .context("cannot list refunds to check")
}

/// Claims a refund for one look: only one instance wins.
pub async fn claim_check(
    db: &Db,
    refund: &RefundRecord,
    next_check_at: i64,
) -> anyhow::Result<bool> {
    let claimed = sqlx::query("UPDATE refunds SET next_check_at = $1, check_attempts = check_attempts + 1 WHERE id = $2 AND next_check_at = $3")
        .bind(next_check_at)
        .bind(&refund.id)
        .bind(refund.next_check_at)
        .execute(&db.pool)
        .await
        .context("cannot claim the refund")?;
    Ok(claimed.rows_affected() == 1)
}

/// Moves a processing refund to its final state, inside the transaction that
/// books it on the order. False when it was not processing any more.
pub async fn settle_refund_in(
    tx: &mut sqlx::AnyConnection,
    refund: &RefundRecord,
    to: RefundState,
    refund_id: Option<String>,
    failure: Option<String>,
    now: i64,
) -> anyhow::Result<bool> {
    let moved = sqlx::query("UPDATE refunds SET status = $1, refund_id = COALESCE($2, refund_id), failure = $3, settled_at = $4, updated_at = $4 WHERE id = $5 AND status = 'processing'")
        .bind(to)
        .bind(refund_id)
        .bind(failure)
        .bind(now)
        .bind(&refund.id)
        .execute(&mut *tx)
        .await
        .context("cannot settle the refund")?;
    Ok(moved.rows_affected() == 1)
}

/// How many refunds of an order are still processing.
pub async fn processing_of_in(tx: &mut sqlx::AnyConnection, order_id: &str) -> anyhow::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) AS n FROM refunds WHERE order_id = $1 AND status = 'processing'",
    )
    .bind(order_id)
    .fetch_one(&mut *tx)
    .await
    .context("cannot count the processing refunds")?;
    Ok(n)
}
