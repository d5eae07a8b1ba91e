//! Figures for the administrators' dashboard, summed in integer fen by the database.

use crate::{now_ms, Db};
use anyhow::Context;
use domain::{Money, OrderStatus};

/// Money received (refunds netted) and the number of paid orders since a time.
pub async fn income_since(db: &Db, since_ms: i64) -> anyhow::Result<(i64, i64)> {
    sqlx::query_as(&format!(
        "SELECT CAST(COALESCE(SUM(received_fen - refunded_fen), 0) AS BIGINT) AS total, COUNT(*) AS n FROM orders \
         WHERE paid_at >= $1 AND status IN {PAID}"
    ))
    .bind(since_ms)
    .fetch_one(&db.pool)
    .await
    .context("cannot sum income")
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderLine {
    pub id: String,
    pub out_trade_no: String,
    #[sqlx(rename = "title")]
    pub form_title: String,
    #[sqlx(rename = "amount_fen")]
    pub amount: Money,
    pub status: OrderStatus,
    pub review_reason: Option<String>,
    pub created_at: i64,
}

async fn lines(db: &Db, condition: &str, limit: i64) -> anyhow::Result<Vec<OrderLine>> {
    let sql = format!(
        "SELECT o.id, o.out_trade_no, f.title, o.amount_fen, o.status, o.review_reason, o.created_at FROM orders o JOIN forms f ON f.id = o.form_id \
         WHERE {condition} ORDER BY o.created_at DESC LIMIT $1"
    );
    sqlx::query_as(&sql)
        .bind(limit)
        .fetch_all(&db.pool)
        .await
        .context("cannot list orders")
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

/// The statuses whose money was received (refunds are netted separately).
const PAID: &str = "('paid', 'refunding', 'partially_refunded', 'refunded')";

/// Sums over the orders paid in a range: count, gross, refunded, all in fen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub key: String,
    pub label: String,
    pub count: i64,
    pub gross_fen: i64,
    pub refunded_fen: i64,
    /// The providers' fees, from the reconciled bills (a refund's fee given
    /// back counts against it): 0 until a day is reconciled.
    pub fee_fen: i64,
    /// Shared with receivers (分账) and not returned.
    pub share_fen: i64,
}

impl Totals {
    /// What is left: received, less refunds, the providers' fees and the
    /// shares given to receivers.
    pub fn net_fen(&self) -> i64 {
        self.gross_fen - self.refunded_fen - self.fee_fen - self.share_fen
    }

    /// The average amount paid per order, rounded half up to the fen.
    pub fn average_fen(&self) -> i64 {
        if self.count == 0 {
            0
        } else {
            (2 * self.gross_fen + self.count) / (2 * self.count)
        }
    }
}

/// One group of the report's scan: a day, a form, a method.
#[derive(sqlx::FromRow)]
struct Group {
    day: i64,
    form_id: String,
    channel: String,
    n: i64,
    gross: i64,
    refunded: i64,
    fee: i64,
    share: i64,
}

const SUMS: &str = "COUNT(*) AS n, CAST(COALESCE(SUM(o.received_fen), 0) AS BIGINT) AS gross, CAST(COALESCE(SUM(o.refunded_fen), 0) AS BIGINT) AS refunded, \
     CAST(COALESCE(SUM((SELECT SUM(f.fee_fen) FROM bill_fees f WHERE f.order_id = o.id)), 0) AS BIGINT) AS fee, \
     CAST(COALESCE(SUM((SELECT SUM(l.amount_fen - l.returned_fen) FROM share_lines l JOIN share_orders s ON s.id = l.share_order_id WHERE s.order_id = o.id AND l.result = 'SUCCESS')), 0) AS BIGINT) AS share";

/// Income between two instants (`from` included, `to` excluded), optionally of one form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub total: Totals,
    pub per_form: Vec<Totals>,
    pub per_channel: Vec<Totals>,
    /// (Beijing day number since the epoch, totals) for every day of the range.
    pub daily: Vec<(i64, Totals)>,
}

pub async fn report(db: &Db, from: i64, to: i64, form_id: Option<&str>) -> anyhow::Result<Report> {
    use std::collections::BTreeMap;
    let form_cond = if form_id.is_some() {
        " AND o.form_id = $3"
    } else {
        ""
    };
    // One scan of the range, grouped by day, form and method; the three views
    // are then summed here (integer fen, no float anywhere).
    let day_expr = "CAST((o.paid_at + 28800000) / 86400000 AS BIGINT)";
    let sql = format!(
        "SELECT {day_expr} AS day, o.form_id, COALESCE(o.channel, '') AS channel, {SUMS} FROM orders o \
         WHERE o.paid_at >= $1 AND o.paid_at < $2 AND o.status IN {PAID}{form_cond} \
         GROUP BY {day_expr}, o.form_id, COALESCE(o.channel, '')"
    );
    let rows = fetch(db, sql, from, to, form_id)
        .await
        .context("cannot sum income")?;
    let add = |t: &mut Totals, r: &Totals| {
        t.count += r.count;
        t.gross_fen += r.gross_fen;
        t.refunded_fen += r.refunded_fen;
        t.fee_fen += r.fee_fen;
        t.share_fen += r.share_fen;
    };
    let mut total = Totals {
        key: "all".into(),
        ..Totals::default()
    };
    let mut forms: BTreeMap<String, Totals> = BTreeMap::new();
    let mut channels: BTreeMap<String, Totals> = BTreeMap::new();
    let mut by_day: BTreeMap<i64, Totals> = BTreeMap::new();
    for g in rows {
        let (day, form, channel) = (g.day, g.form_id, g.channel);
        let t = Totals {
            count: g.n,
            gross_fen: g.gross,
            refunded_fen: g.refunded,
            fee_fen: g.fee,
            share_fen: g.share,
            ..Totals::default()
        };
        add(&mut total, &t);
        add(
            forms.entry(form.clone()).or_insert_with(|| Totals {
                key: form,
                ..Totals::default()
            }),
            &t,
        );
        add(
            channels.entry(channel.clone()).or_insert_with(|| Totals {
                key: channel.clone(),
                label: channel,
                ..Totals::default()
            }),
            &t,
        );
        add(
            by_day.entry(day).or_insert_with(|| Totals {
                key: day.to_string(),
                ..Totals::default()
            }),
            &t,
        );
    }
    let titles: BTreeMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT id, title FROM forms")
            .fetch_all(&db.pool)
            .await
            .context("cannot read the forms")?
            .into_iter()
            .collect();
    let by_gross = |mut v: Vec<Totals>| {
        v.sort_by(|a, b| {
            b.gross_fen
                .cmp(&a.gross_fen)
                .then_with(|| a.key.cmp(&b.key))
        });
        v
    };
    let per_form = by_gross(
        forms
            .into_values()
            .map(|mut t| {
                t.label = titles.get(&t.key).cloned().unwrap_or_default();
                t
            })
            .collect(),
    );
    let per_channel = by_gross(channels.into_values().collect());
    let first = day_number(from);
    let last = day_number(to - 1);
    let daily = (first..=last.max(first))
        .take(400)
        .map(|d| (d, by_day.remove(&d).unwrap_or_default()))
        .collect();
    Ok(Report {
        total,
        per_form,
        per_channel,
        daily,
    })
}

async fn fetch(
    db: &Db,
    sql: String,
    from: i64,
    to: i64,
    form_id: Option<&str>,
) -> Result<Vec<Group>, sqlx::Error> {
    let mut q = sqlx::query_as(&sql).bind(from).bind(to);
    if let Some(f) = form_id {
        q = q.bind(f);
    }
    q.fetch_all(&db.pool).await
}

/// The Beijing day an instant falls on, counted from 1970-01-01.
pub fn day_number(ms: i64) -> i64 {
    (ms + 8 * 3_600_000).div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    #[test]
    fn averages_round_half_up() {
        let t = super::Totals {
            count: 3,
            gross_fen: 100,
            ..Default::default()
        };
        assert_eq!(t.average_fen(), 33);
        let t = super::Totals {
            count: 2,
            gross_fen: 101,
            refunded_fen: 1,
            ..Default::default()
        };
        assert_eq!(t.average_fen(), 51);
        assert_eq!(t.net_fen(), 100);
        assert_eq!(super::Totals::default().average_fen(), 0);
    }

    #[test]
    fn midnight_in_beijing() {
        // 2026-11-27 20:00 Beijing → midnight 2026-11-27 00:00 Beijing = 2026-11-26 16:00 UTC.
        assert_eq!(
            super::beijing_midnight(1_795_780_800_000),
            1_795_780_800_000 - 20 * 3_600_000
        );
    }
}
