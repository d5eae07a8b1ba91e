//! Reading submissions with their order: pages for the table, batches for the export.

use super::sql::Sql;
use crate::Db;
use anyhow::Context;
use domain::{Channel, OrderStatus};

#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Matched against the answers' text, case-insensitively.
    pub search: Option<String>,
    /// Only the submissions whose order is in this status.
    pub status: Option<StatusFilter>,
}

/// Which submissions by their order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// Their order is in this status.
    Order(OrderStatus),
    /// They have no order (a form without payment).
    NoOrder,
}

impl StatusFilter {
    /// `none` or an order status; anything else is no filter.
    pub fn parse(s: &str) -> Option<StatusFilter> {
        match s {
            "none" => Some(StatusFilter::NoOrder),
            other => OrderStatus::parse(other).map(StatusFilter::Order),
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SubmissionWithOrder {
    pub id: String,
    pub created_at: i64,
    pub answers_json: String,
    pub amount_fen: Option<i64>,
    pub order_status: Option<OrderStatus>,
    pub out_trade_no: Option<String>,
    pub transaction_id: Option<String>,
    pub channel: Option<Channel>,
    pub paid_at: Option<i64>,
    /// When its answers were erased (a retention rule or a payer's request).
    pub erased_at: Option<i64>,
}

const SELECT: &str = "SELECT s.id, s.created_at, s.answers_json, s.amount_fen, o.status AS order_status, o.out_trade_no, o.transaction_id, o.channel, o.paid_at, s.erased_at \
    FROM submissions s LEFT JOIN orders o ON o.submission_id = s.id";

/// A search text as a `LIKE` pattern that matches it literally.
pub fn like_pattern(q: &str) -> String {
    format!(
        "%{}%",
        q.trim()
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// ` WHERE …` for one form and a filter.
fn push_conditions(q: &mut Sql<'_>, form_id: &str, filter: &Filter) {
    q.push(" WHERE s.form_id = ").bind(form_id.to_owned());
    if let Some(text) = &filter.search {
        q.push(" AND s.search_text LIKE ")
            .bind(like_pattern(text))
            .push(" ESCAPE '\\'");
    }
    match filter.status {
        Some(StatusFilter::NoOrder) => {
            q.push(" AND o.id IS NULL");
        }
        Some(StatusFilter::Order(s)) => {
            q.push(" AND o.status = ").bind(s);
        }
        None => {}
    }
}

/// One page, newest first, and the number of matches.
pub async fn page(
    db: &Db,
    form_id: &str,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> anyhow::Result<(i64, Vec<SubmissionWithOrder>)> {
    let mut count = Sql::new(
        "SELECT COUNT(*) AS n FROM submissions s LEFT JOIN orders o ON o.submission_id = s.id",
    );
    push_conditions(&mut count, form_id, filter);
    let (total,): (i64,) = count
        .fetch_one(&db.pool)
        .await
        .context("cannot count submissions")?;
    let mut q = Sql::new(SELECT);
    push_conditions(&mut q, form_id, filter);
    q.push(" ORDER BY s.created_at DESC, s.id DESC LIMIT ")
        .bind(limit)
        .push(" OFFSET ")
        .bind(offset);
    let rows = q
        .fetch_all(&db.pool)
        .await
        .context("cannot list submissions")?;
    Ok((total, rows))
}

/// The next batch after `(created_at, id)`, oldest first: the export walks the
/// whole table this way without holding it in memory.
pub async fn batch_after(
    db: &Db,
    form_id: &str,
    after: Option<(i64, String)>,
    limit: i64,
) -> anyhow::Result<Vec<SubmissionWithOrder>> {
    let (at, id) = after.unwrap_or((i64::MIN, String::new()));
    let sql = format!("{SELECT} WHERE s.form_id = $1 AND (s.created_at > $2 OR (s.created_at = $2 AND s.id > $3)) ORDER BY s.created_at, s.id LIMIT $4");
    sqlx::query_as(&sql)
        .bind(form_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("cannot read submissions")
}
