//! Reading submissions with their order: pages for the table, batches for the export.

use crate::Db;
use anyhow::Context;
use domain::OrderStatus;
use sqlx::Row;

#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Matched against the answers' text, case-insensitively.
    pub search: Option<String>,
    /// An order status, or `none` for submissions without an order.
    pub status: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SubmissionWithOrder {
    pub id: String,
    pub created_at: i64,
    pub answers_json: String,
    pub amount_fen: Option<i64>,
    pub order_status: Option<OrderStatus>,
    pub out_trade_no: Option<String>,
    pub transaction_id: Option<String>,
    pub channel: Option<String>,
    pub paid_at: Option<i64>,
}

const SELECT: &str = "SELECT s.id, s.created_at, s.answers_json, s.amount_fen, o.status AS order_status, o.out_trade_no, o.transaction_id, o.channel, o.paid_at \
    FROM submissions s LEFT JOIN orders o ON o.submission_id = s.id";

/// `WHERE …` and its binds (after `form_id` as `$1`).
fn conditions(filter: &Filter) -> (String, Vec<String>) {
    let mut sql = String::from(" WHERE s.form_id = $1");
    let mut binds = Vec::new();
    if let Some(q) = &filter.search {
        binds.push(format!(
            "%{}%",
            q.trim()
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        ));
        sql.push_str(&format!(
            " AND s.search_text LIKE ${} ESCAPE '\\'",
            binds.len() + 1
        ));
    }
    match filter.status.as_deref() {
        Some("none") => sql.push_str(" AND o.id IS NULL"),
        Some(s) if OrderStatus::parse(s).is_some() => {
            binds.push(s.to_owned());
            sql.push_str(&format!(" AND o.status = ${}", binds.len() + 1));
        }
        _ => {}
    }
    (sql, binds)
}

fn from_row(r: &sqlx::any::AnyRow) -> anyhow::Result<SubmissionWithOrder> {
    Ok(SubmissionWithOrder {
        id: r.try_get("id")?,
        created_at: r.try_get("created_at")?,
        answers_json: r.try_get("answers_json")?,
        amount_fen: r.try_get("amount_fen")?,
        order_status: r
            .try_get::<Option<String>, _>("order_status")?
            .and_then(|s| OrderStatus::parse(&s)),
        out_trade_no: r.try_get("out_trade_no")?,
        transaction_id: r.try_get("transaction_id")?,
        channel: r.try_get("channel")?,
        paid_at: r.try_get("paid_at")?,
    })
}

/// One page, newest first, and the number of matches.
pub async fn page(
    db: &Db,
    form_id: &str,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> anyhow::Result<(i64, Vec<SubmissionWithOrder>)> {
    let (cond, binds) = conditions(filter);
    let count_sql = format!("SELECT COUNT(*) AS n FROM submissions s LEFT JOIN orders o ON o.submission_id = s.id{cond}");
    let mut q = sqlx::query(&count_sql).bind(form_id);
    for b in &binds {
        q = q.bind(b);
    }
    let total: i64 = q
        .fetch_one(&db.pool)
        .await
        .context("cannot count submissions")?
        .try_get("n")?;
    let n = binds.len();
    let sql = format!(
        "{SELECT}{cond} ORDER BY s.created_at DESC, s.id DESC LIMIT ${} OFFSET ${}",
        n + 2,
        n + 3
    );
    let mut q = sqlx::query(&sql).bind(form_id);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.pool)
        .await
        .context("cannot list submissions")?;
    Ok((
        total,
        rows.iter().map(from_row).collect::<anyhow::Result<_>>()?,
    ))
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
    let rows = sqlx::query(&sql)
        .bind(form_id)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("cannot read submissions")?;
    rows.iter().map(from_row).collect()
}
