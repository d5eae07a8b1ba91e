//! The administrators' orders list: filters, search, pages and export
//! batches, and the provider messages of one order.

use crate::Db;
use anyhow::Context;
use domain::form::beijing_local_to_ms;
use domain::{Channel, Money, OrderStatus};
use sqlx::Row;

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
    /// out_trade_no, transaction id (exact) or text in the payer's answers.
    pub search: Option<String>,
}

/// Start of a Beijing date, in Unix milliseconds.
pub fn date_start(date: &str) -> Option<i64> {
    beijing_local_to_ms(&format!("{}T00:00", date.trim()))
}

enum Bind {
    Text(String),
    Int(i64),
}

fn conditions(f: &OrderFilter) -> (String, Vec<Bind>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut binds = Vec::new();
    let mut push = |sql: &mut String, clause: &str, b: Bind| {
        binds.push(b);
        sql.push_str(&clause.replace("$?", &format!("${}", binds.len())));
    };
    if let Some(s) = f.status {
        push(
            &mut sql,
            " AND o.status = $?",
            Bind::Text(s.as_str().into()),
        );
    }
    if let Some(c) = f.channel {
        push(
            &mut sql,
            " AND o.channel = $?",
            Bind::Text(c.as_str().into()),
        );
    }
    if let Some(id) = &f.form_id {
        push(&mut sql, " AND o.form_id = $?", Bind::Text(id.clone()));
    }
    if let Some(from) = f.from_date.as_deref().and_then(date_start) {
        push(&mut sql, " AND o.created_at >= $?", Bind::Int(from));
    }
    if let Some(to) = f.to_date.as_deref().and_then(date_start) {
        push(
            &mut sql,
            " AND o.created_at < $?",
            Bind::Int(to + 86_400_000),
        );
    }
    if let Some(m) = f.min_amount {
        push(&mut sql, " AND o.amount_fen >= $?", Bind::Int(m.fen()));
    }
    if let Some(m) = f.max_amount {
        push(&mut sql, " AND o.amount_fen <= $?", Bind::Int(m.fen()));
    }
    if let Some(q) = f.search.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        push(
            &mut sql,
            " AND (o.out_trade_no = $?",
            Bind::Text(q.to_owned()),
        );
        push(
            &mut sql,
            " OR o.transaction_id = $?",
            Bind::Text(q.to_owned()),
        );
        let like = format!(
            "%{}%",
            q.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        push(
            &mut sql,
            " OR s.search_text LIKE $? ESCAPE '\\')",
            Bind::Text(like),
        );
    }
    (sql, binds)
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrderListLine {
    pub id: String,
    pub out_trade_no: String,
    pub form_id: String,
    pub form_title: String,
    pub amount_fen: i64,
    pub refunded_fen: i64,
    pub status: String,
    pub channel: Option<String>,
    pub transaction_id: Option<String>,
    pub review_reason: Option<String>,
    pub created_at: i64,
    pub paid_at: Option<i64>,
}

const LIST_SELECT: &str = "SELECT o.id, o.out_trade_no, o.form_id, f.title, o.amount_fen, o.refunded_fen, o.status, o.channel, o.transaction_id, o.review_reason, o.created_at, o.paid_at \
    FROM orders o JOIN forms f ON f.id = o.form_id";

/// The submissions are joined only when the answers are searched.
fn joins(filter: &OrderFilter) -> &'static str {
    if filter
        .search
        .as_deref()
        .is_some_and(|q| !q.trim().is_empty())
    {
        " JOIN submissions s ON s.id = o.submission_id"
    } else {
        ""
    }
}

fn line_from(r: &sqlx::any::AnyRow) -> anyhow::Result<OrderListLine> {
    Ok(OrderListLine {
        id: r.try_get("id")?,
        out_trade_no: r.try_get("out_trade_no")?,
        form_id: r.try_get("form_id")?,
        form_title: r.try_get("title")?,
        amount_fen: r.try_get("amount_fen")?,
        refunded_fen: r.try_get("refunded_fen")?,
        status: r.try_get("status")?,
        channel: r.try_get("channel")?,
        transaction_id: r.try_get("transaction_id")?,
        review_reason: r.try_get("review_reason")?,
        created_at: r.try_get("created_at")?,
        paid_at: r.try_get("paid_at")?,
    })
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t.as_str()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}

/// One page of orders, newest first, with the number matching the filter.
pub async fn page(
    db: &Db,
    filter: &OrderFilter,
    limit: i64,
    offset: i64,
) -> anyhow::Result<(i64, Vec<OrderListLine>)> {
    let (cond, binds) = conditions(filter);
    let join = joins(filter);
    let count_sql = format!("SELECT COUNT(*) AS n FROM orders o{join}{cond}");
    let total: i64 = bind_all(sqlx::query(&count_sql), &binds)
        .fetch_one(&db.pool)
        .await
        .context("cannot count orders")?
        .try_get("n")?;
    let n = binds.len();
    let sql = format!(
        "{LIST_SELECT}{join}{cond} ORDER BY o.created_at DESC, o.id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows = bind_all(sqlx::query(&sql), &binds)
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.pool)
        .await
        .context("cannot list orders")?;
    Ok((
        total,
        rows.iter().map(line_from).collect::<anyhow::Result<_>>()?,
    ))
}

/// Orders matching a filter in keyset batches (oldest first), for the export.
pub async fn batch_after(
    db: &Db,
    filter: &OrderFilter,
    after: Option<(i64, String)>,
    limit: i64,
) -> anyhow::Result<Vec<OrderListLine>> {
    let (cond, binds) = conditions(filter);
    let join = joins(filter);
    let (at, id) = after.unwrap_or((i64::MIN, String::new()));
    let n = binds.len();
    let sql = format!(
        "{LIST_SELECT}{join}{cond} AND (o.created_at > ${a} OR (o.created_at = ${a} AND o.id > ${b})) ORDER BY o.created_at, o.id LIMIT ${c}",
        a = n + 1,
        b = n + 2,
        c = n + 3
    );
    let rows = bind_all(sqlx::query(&sql), &binds)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("cannot list orders")?;
    rows.iter().map(line_from).collect()
}

/// Redacted provider messages about one order, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub created_at: i64,
    pub operation: String,
    pub direction: String,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub request: String,
    pub response: String,
    pub error: Option<String>,
}

/// The messages about every payment attempt of an order.
pub async fn payment_log(db: &Db, order_id: &str, limit: i64) -> anyhow::Result<Vec<LogLine>> {
    let rows = sqlx::query("SELECT created_at, operation, direction, status_code, latency_ms, request, response, error FROM payment_log \
        WHERE out_trade_no IN (SELECT out_trade_no FROM payment_attempts WHERE order_id = $1 UNION SELECT out_trade_no FROM orders WHERE id = $1) \
        ORDER BY created_at, id LIMIT $2")
        .bind(order_id)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("cannot read the payment log")?;
    rows.iter()
        .map(|r| {
            Ok(LogLine {
                created_at: r.try_get("created_at")?,
                operation: r.try_get("operation")?,
                direction: r.try_get("direction")?,
                status_code: r.try_get("status_code")?,
                latency_ms: r.try_get("latency_ms")?,
                request: r.try_get("request")?,
                response: r.try_get("response")?,
                error: r.try_get("error")?,
            })
        })
        .collect()
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
        let (sql, binds) = conditions(&f);
        assert_eq!(binds.len(), 5);
        for n in 1..=5 {
            assert!(sql.contains(&format!("${n}")), "{sql}");
        }
        assert!(!sql.contains("$6"));
    }

    #[test]
    fn dates_are_beijing_days() {
        // 2026-11-27 00:00 Beijing is 2026-11-26 16:00 UTC.
        assert_eq!(date_start("2026-11-27"), Some(1_795_708_800_000));
        assert_eq!(date_start("2026-13-01"), None);
    }
}
