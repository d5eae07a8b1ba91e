//! Figures for the administrators' dashboard, summed in integer fen by the database.

use super::{now_ms, Db};
use anyhow::Context;
use sqlx::Row;

/// Money received (refunds netted) and the number of paid orders since a time.
pub async fn income_since(db: &Db, since_ms: i64) -> anyhow::Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount_fen - refunded_fen), 0) AS BIGINT) AS total, COUNT(*) AS n FROM orders \
         WHERE paid_at >= $1 AND status IN ('paid', 'refunding', 'partially_refunded', 'refunded')",
    )
    .bind(since_ms)
    .fetch_one(&db.pool)
    .await
    .context("cannot sum income")?;
    Ok((row.try_get("total")?, row.try_get("n")?))
}

#[derive(Clone, Debug)]
pub struct OrderLine {
    pub id: String,
    pub out_trade_no: String,
    pub form_title: String,
    pub amount_fen: i64,
    pub status: String,
    pub review_reason: Option<String>,
    pub created_at: i64,
}

async fn lines(db: &Db, condition: &str, limit: i64) -> anyhow::Result<Vec<OrderLine>> {
    let sql = format!(
        "SELECT o.id, o.out_trade_no, f.title, o.amount_fen, o.status, o.review_reason, o.created_at FROM orders o JOIN forms f ON f.id = o.form_id \
         WHERE {condition} ORDER BY o.created_at DESC LIMIT $1"
    );
    let rows = sqlx::query(&sql)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("cannot list orders")?;
    rows.iter()
        .map(|r| {
            Ok(OrderLine {
                id: r.try_get("id")?,
                out_trade_no: r.try_get("out_trade_no")?,
                form_title: r.try_get("title")?,
                amount_fen: r.try_get("amount_fen")?,
                status: r.try_get("status")?,
                review_reason: r.try_get("review_reason")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

pub async fn recent_orders(db: &Db, limit: i64) -> anyhow::Result<Vec<OrderLine>> {
    lines(db, "1 = 1", limit).await
}

/// Orders an administrator must decide about (paid after close, and the like).
pub async fn orders_needing_review(db: &Db, limit: i64) -> anyhow::Result<Vec<OrderLine>> {
    lines(db, "o.status = 'needs_review'", limit).await
}

/// Start of today in Beijing, in Unix milliseconds.
pub fn beijing_midnight(now: i64) -> i64 {
    let day = 86_400_000;
    let offset = 8 * 3_600_000;
    (now + offset).div_euclid(day) * day - offset
}

pub fn now() -> i64 {
    now_ms()
}

#[cfg(test)]
mod tests {
    #[test]
    fn midnight_in_beijing() {
        // 2026-11-27 20:00 Beijing → midnight 2026-11-27 00:00 Beijing = 2026-11-26 16:00 UTC.
        assert_eq!(
            super::beijing_midnight(1_795_780_800_000),
            1_795_780_800_000 - 20 * 3_600_000
        );
    }
}
