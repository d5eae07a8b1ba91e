//! The administrators' orders list: filters, search, pages and export
//! batches, and the provider messages of one order.

use super::sql::Sql;
use super::submissions::like_pattern;
use crate::Db;
use anyhow::Context;
use domain::form::beijing_local_to_ms;
use domain::{Channel, Direction, Money, OrderStatus};

/// What the orders list is narrowed to; every part optional.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub channel: Option<Channel>,
    pub form_id: Option<String>,
    /// Beijing dates `YYYY-MM-DD`, both included.
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub min_amount: Option<Money>,
    pub max_amount: Option<Money>,
    /// out_trade_no (the order's or any of its payment attempts'),
    /// transaction id (exact), or text in the payer's answers.
    pub search: Option<String>,
}

impl OrderFilter {
    fn search_text(&self) -> Option<&str> {
        self.search
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
    }
}

/// Start of a Beijing date, in Unix milliseconds.
pub fn date_start(date: &str) -> Option<i64> {
    beijing_local_to_ms(&format!("{}T00:00", date.trim()))
}

/// ` WHERE …` for a filter.
fn push_conditions(q: &mut Sql<'_>, f: &OrderFilter) {
    q.push(" WHERE 1 = 1");
    if let Some(s) = f.status {
        q.push(" AND o.status = ").bind(s);
    }
    if let Some(c) = f.channel {
        q.push(" AND o.channel = ").bind(c);
    }
    if let Some(id) = &f.form_id {
        q.push(" AND o.form_id = ").bind(id.clone());
    }
    if let Some(from) = f.from_date.as_deref().and_then(date_start) {
        q.push(" AND o.created_at >= ").bind(from);
    }
    if let Some(to) = f.to_date.as_deref().and_then(date_start) {
        q.push(" AND o.created_at < ").bind(to + 86_400_000);
    }
    if let Some(m) = f.min_amount {
        q.push(" AND o.amount_fen >= ").bind(m);
    }
    if let Some(m) = f.max_amount {
        q.push(" AND o.amount_fen <= ").bind(m);
    }
    if let Some(text) = f.search_text() {
        q.push(" AND (o.out_trade_no = ")
            .bind(text.to_owned())
            .push(" OR o.transaction_id = ")
            .bind(text.to_owned())
            .push(" OR o.id IN (SELECT a.order_id FROM payment_attempts a WHERE a.out_trade_no = ")
            .bind(text.to_owned())
            .push(") OR s.search_text LIKE ")
            .bind(like_pattern(text))
            .push(" ESCAPE '\\')");
    }
}

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct OrderListLine {
    pub id: String,
    pub out_trade_no: String,
    pub form_id: String,
    #[sqlx(rename = "title")]
    pub form_title: String,
    #[sqlx(rename = "amount_fen")]
    pub amount: Money,
    pub refunded_fen: i64,
    pub status: OrderStatus,
    pub channel: Option<Channel>,
    pub transaction_id: Option<String>,
    pub review_reason: Option<String>,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    /// The providers' fees of its payments and refunds, from the reconciled
    /// bills (None until a day holding it is reconciled).
    pub fee_fen: Option<i64>,
    /// Shared with receivers (分账) and not returned.
    pub share_fen: Option<i64>,
}

const LIST_SELECT: &str = "SELECT o.id, o.out_trade_no, o.form_id, f.title, o.amount_fen, o.refunded_fen, o.status, o.channel, o.transaction_id, o.review_reason, o.created_at, o.paid_at, \
    (SELECT CAST(SUM(b.fee_fen) AS BIGINT) FROM bill_fees b WHERE b.order_id = o.id) AS fee_fen, \
    (SELECT CAST(SUM(l.amount_fen - l.returned_fen) AS BIGINT) FROM share_lines l JOIN share_orders s ON s.id = l.share_order_id WHERE s.order_id = o.id AND l.result = 'SUCCESS') AS share_fen \
    FROM orders o JOIN forms f ON f.id = o.form_id";

/// The submissions are joined only when the answers are searched.
fn joins(filter: &OrderFilter) -> &'static str {
    if filter.search_text().is_some() {
        " JOIN submissions s ON s.id = o.submission_id"
    } else {
        ""
    }
}

/// One page of orders, newest first, with the number matching the filter.
pub async fn page(
    db: &Db,
    filter: &OrderFilter,
    limit: i64,
    offset: i64,
) -> anyhow::Result<(i64, Vec<OrderListLine>)> {
    let mut count = Sql::new(&format!(
        "SELECT COUNT(*) AS n FROM orders o{}",
        joins(filter)
    ));
    push_conditions(&mut count, filter);
    let (total,): (i64,) = count
        .fetch_one(&db.pool)
        .await
        .context("cannot count orders")?;
    let mut q = Sql::new(&format!("{LIST_SELECT}{}", joins(filter)));
    push_conditions(&mut q, filter);
    q.push(" ORDER BY o.created_at DESC, o.id DESC LIMIT ")
        .bind(limit)
        .push(" OFFSET ")
        .bind(offset);
    let rows = q.fetch_all(&db.pool).await.context("cannot list orders")?;
    Ok((total, rows))
}

/// Orders matching a filter in keyset batches (oldest first), for the export.
pub async fn batch_after(
    db: &Db,
    filter: &OrderFilter,
    after: Option<(i64, String)>,
    limit: i64,
) -> anyhow::Result<Vec<OrderListLine>> {
    let (at, id) = after.unwrap_or((i64::MIN, String::new()));
    let mut q = Sql::new(&format!("{LIST_SELECT}{}", joins(filter)));
    push_conditions(&mut q, filter);
    q.push(" AND (o.created_at > ")
        .bind(at)
        .push(" OR (o.created_at = ")
        .bind(at)
        .push(" AND o.id > ")
        .bind(id)
        .push(")) ORDER BY o.created_at, o.id LIMIT ")
        .bind(limit);
    q.fetch_all(&db.pool).await.context("cannot list orders")
}

/// Redacted provider messages about one order, oldest first.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct LogLine {
    pub created_at: i64,
    pub operation: String,
    pub direction: Direction,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub request: String,
    pub response: String,
    pub error: Option<String>,
}

/// The messages about every payment attempt of an order.
pub async fn payment_log(db: &Db, order_id: &str, limit: i64) -> anyhow::Result<Vec<LogLine>> {
    sqlx::query_as("SELECT created_at, operation, direction, status_code, latency_ms, request, response, error FROM payment_log \
        WHERE out_trade_no IN (SELECT out_trade_no FROM payment_attempts WHERE order_id = $1 UNION SELECT out_trade_no FROM orders WHERE id = $1) \
        ORDER BY created_at, id LIMIT $2")
        .bind(order_id)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("cannot read the payment log")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_number_their_placeholders_in_order() {
        let f = OrderFilter {
            status: Some(OrderStatus::Paid),
            min_amount: Money::from_fen(100).ok(),
            search: Some("张三".into()),
            ..OrderFilter::default()
        };
        let mut q = Sql::new("SELECT 1 FROM orders o");
        push_conditions(&mut q, &f);
        let sql = q.text();
        for n in 1..=6 {
            assert!(sql.contains(&format!("${n}")), "{sql}");
        }
        assert!(!sql.contains("$7"));
    }

    #[test]
    fn dates_are_beijing_days() {
        // 2026-11-27 00:00 Beijing is 2026-11-26 16:00 UTC.
        assert_eq!(date_start("2026-11-27"), Some(1_795_708_800_000));
        assert_eq!(date_start("2026-13-01"), None);
    }
}
