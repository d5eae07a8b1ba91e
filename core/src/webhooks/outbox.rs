//! The outbox: new submissions and order status changes become deliveries,
//! one per endpoint of their form. The source rows are claimed with a
//! compare-and-set in the transaction that writes their deliveries, so that
//! two instances never deliver one event twice and a crash loses none. A
//! pass is two writes of the group commit at most: the rows with nothing to
//! deliver claimed by one statement, then those with deliveries. (On
//! SQLite, a transaction per row beside the payments' writer held the
//! file's lock between its batches, and the writer slept in SQLite's busy
//! handler meanwhile.)

use crate::commit::Step;
use crate::mail::{self, MailSettings};
use crate::store::sql::Sql;
use crate::{now_ms, Db};
use anyhow::Context;
use domain::OrderStatus;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// Rows looked at per pass.
const BATCH: i64 = 200;

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The message for one event, as Standard Webhooks describes it.
fn message(event_type: &str, at: i64, data: Value) -> String {
    json!({"type": event_type, "timestamp": rfc3339(at), "data": data}).to_string()
}

/// Which event an order's status change is, if any.
fn order_event(from: Option<OrderStatus>, to: Option<OrderStatus>) -> Option<&'static str> {
    let to = to?;
    if from == Some(to) {
        return None;
    }
    match to {
        OrderStatus::Paid => Some("order.paid"),
        OrderStatus::Refunded | OrderStatus::PartiallyRefunded => Some("order.refunded"),
        _ => None,
    }
}

/// Turns the events not looked at yet into deliveries, and (when mail is
/// configured) order changes into mails; returns how many deliveries and
/// mails were made.
pub async fn enqueue_new_events(db: &Db, mail: Option<&MailSettings>) -> anyhow::Result<usize> {
    Ok(submissions(db).await? + order_changes(db, mail).await?)
}

async fn enabled_endpoints(
    tx: &mut sqlx::AnyConnection,
    form_id: &str,
) -> anyhow::Result<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM webhook_endpoints WHERE form_id = $1")
            .bind(form_id)
            .fetch_all(&mut *tx)
            .await
            .context("cannot read the endpoints")?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

async fn insert_deliveries(
    tx: &mut sqlx::AnyConnection,
    endpoints: &[String],
    event_type: &str,
    payload: &str,
) -> anyhow::Result<usize> {
    let now = now_ms();
    for endpoint in endpoints {
        sqlx::query("INSERT INTO webhook_deliveries (id, endpoint_id, event_type, payload, state, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)")
            .bind(format!("msg_{}", crate::random_token()))
            .bind(endpoint)
            .bind(event_type)
            .bind(payload)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("cannot queue a delivery")?;
    }
    Ok(endpoints.len())
}

/// `UPDATE table SET webhooked_at = now WHERE webhooked_at IS NULL AND id IN (`:
/// a claim of rows no pass has looked at yet, whose ids follow.
fn claim_head(table: &str) -> Sql<'static> {
    let mut q = Sql::new("UPDATE ");
    q.push(table)
        .push(" SET webhooked_at = ")
        .bind(now_ms())
        .push(" WHERE webhooked_at IS NULL AND id IN (");
    q
}

/// Claims, among `ids`, the rows of `table` no pass has looked at yet, in
/// one statement (on several instances, each row is claimed by one).
async fn claim(
    tx: &mut sqlx::AnyConnection,
    table: &str,
    ids: &[String],
) -> anyhow::Result<HashSet<String>> {
    let mut q = claim_head(table);
    q.bind_list(ids.iter().cloned()).push(") RETURNING id");
    let claimed: Vec<(String,)> = q
        .uncached()
        .fetch_all(&mut *tx)
        .await
        .with_context(|| format!("cannot claim the new rows of {table}"))?;
    Ok(claimed.into_iter().map(|(id,)| id).collect())
}

/// The most new rows without deliveries claimed by one statement.
const QUIET_BATCH: i64 = 5_000;

/// Claims the new rows of `table` with nothing to deliver (their form has
/// no endpoint) and that meet `condition`, pushed by it (`AND …`): one
/// statement in the writer's next batch (on SQLite, on its own connection
/// beside the payments), where a write with deliveries takes a transaction
/// of its own. Nothing is read first, so a busy server keeps no backlog of
/// them. `form_of` is the SQL naming the row's form (of row `t`).
async fn claim_quiet(
    db: &Db,
    table: &str,
    form_of: &str,
    condition: impl FnOnce(&mut Sql<'static>),
) -> anyhow::Result<u64> {
    let mut q = claim_head(table);
    q.push("SELECT t.id FROM ")
        .push(table)
        .push(" t WHERE t.webhooked_at IS NULL AND NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.form_id = ")
        .push(form_of)
        .push(")");
    condition(&mut q);
    q.push(" ORDER BY t.created_at LIMIT ")
        .bind(QUIET_BATCH)
        .push(")");
    db.commits
        .query(q, |rows| Ok(Step::Keep(rows)))
        .await
        .with_context(|| format!("cannot claim the new rows of {table}"))
}

/// Only the order changes that make no mail ([`mail::mail_event`]), as SQL
/// on the row `t`.
fn push_makes_no_mail(q: &mut Sql<'static>) {
    let mailed = OrderStatus::ALL
        .into_iter()
        .filter(|s| mail::mail_event(None, Some(*s)).is_some())
        .map(OrderStatus::as_str);
    q.push(" AND (t.to_status IS NULL OR t.to_status = t.from_status OR t.to_status NOT IN (")
        .bind_list(mailed)
        .push("))");
}

/// A form's endpoints, read once per pass.
async fn endpoints_of<'m>(
    tx: &mut sqlx::AnyConnection,
    known: &'m mut HashMap<String, Vec<String>>,
    form_id: &str,
) -> anyhow::Result<&'m [String]> {
    if !known.contains_key(form_id) {
        let endpoints = enabled_endpoints(tx, form_id).await?;
        known.insert(form_id.to_owned(), endpoints);
    }
    Ok(known.get(form_id).map(Vec::as_slice).unwrap_or_default())
}

async fn submissions(db: &Db) -> anyhow::Result<usize> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        form_id: String,
        answers_json: String,
        amount_fen: Option<i64>,
        created_at: i64,
        order_id: Option<String>,
    }
    claim_quiet(db, "submissions", "t.form_id", |_| {}).await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.id, s.form_id, s.answers_json, s.amount_fen, s.created_at, o.id AS order_id FROM submissions s LEFT JOIN orders o ON o.submission_id = s.id WHERE s.webhooked_at IS NULL ORDER BY s.created_at LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&db.pool)
    .await
    .context("cannot read new submissions")?;
    if rows.is_empty() {
        return Ok(0);
    }
    // One write for the rest, with the other writes (the group commit):
    // the rows claimed and their deliveries together, so that none is lost
    // or sent twice, without a transaction (and a flush) per row beside
    // the payments' writer.
    db.commits
        .run(move |tx| {
            Box::pin(async move {
                let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                let claimed = claim(tx, "submissions", &ids).await?;
                let mut known = HashMap::new();
                let mut made = 0;
                for r in rows.iter().filter(|r| claimed.contains(&r.id)) {
                    let endpoints = endpoints_of(tx, &mut known, &r.form_id).await?.to_vec();
                    if endpoints.is_empty() {
                        continue;
                    }
                    let answers: Value =
                        serde_json::from_str(&r.answers_json).unwrap_or(Value::Null);
                    let payload = message(
                        "submission.created",
                        r.created_at,
                        json!({
                            "submission_id": r.id,
                            "form_id": r.form_id,
                            "created_at": rfc3339(r.created_at),
                            "answers": answers,
                            "amount_fen": r.amount_fen,
                            "order_id": r.order_id,
                        }),
                    );
                    made +=
                        insert_deliveries(tx, &endpoints, "submission.created", &payload).await?;
                }
                Ok(Step::Keep(made))
            })
        })
        .await
        .context("cannot commit the deliveries")
}

async fn order_changes(db: &Db, mail_settings: Option<&MailSettings>) -> anyhow::Result<usize> {
    #[derive(sqlx::FromRow)]
    struct Row {
        event_id: String,
        created_at: i64,
        from_status: Option<OrderStatus>,
        to_status: Option<OrderStatus>,
        order_id: String,
        form_id: String,
        submission_id: String,
        out_trade_no: String,
        amount_fen: i64,
        refunded_fen: i64,
        channel: Option<String>,
        transaction_id: Option<String>,
        paid_at: Option<i64>,
        receipt_token: String,
    }
    // Those that make no mail, on forms without endpoints: claimed at once.
    claim_quiet(
        db,
        "order_events",
        "(SELECT o.form_id FROM orders o WHERE o.id = t.order_id)",
        |q| {
            if mail_settings.is_some() {
                push_makes_no_mail(q)
            }
        },
    )
    .await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT e.id AS event_id, e.created_at, e.from_status, e.to_status, o.id AS order_id, o.form_id, o.submission_id, o.out_trade_no, o.amount_fen, o.refunded_fen, o.channel, o.transaction_id, o.paid_at, o.receipt_token FROM order_events e JOIN orders o ON o.id = e.order_id WHERE e.webhooked_at IS NULL ORDER BY e.created_at LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&db.pool)
    .await
    .context("cannot read new order events")?;
    if rows.is_empty() {
        return Ok(0);
    }
    // What the mails need is read before the write.
    let mut sourced = Vec::with_capacity(rows.len());
    for r in rows {
        let mail_event = mail::mail_event(r.from_status, r.to_status);
        let mail_source = match (mail_settings, mail_event) {
            (Some(_), Some(_)) => {
                mail::source(db, &r.form_id, &r.submission_id, r.receipt_token.clone()).await?
            }
            _ => None,
        };
        sourced.push((r, mail_event, mail_source));
    }
    let mail_settings = mail_settings.cloned();
    // One write for the rest, as for the submissions.
    db.commits
        .run(move |tx| {
            Box::pin(async move {
                let ids: Vec<String> = sourced.iter().map(|(r, ..)| r.event_id.clone()).collect();
                let claimed = claim(tx, "order_events", &ids).await?;
                let mut known = HashMap::new();
                let mut made = 0;
                for (r, mail_event, mail_source) in sourced
                    .iter()
                    .filter(|(r, ..)| claimed.contains(&r.event_id))
                {
                    if let Some(event_type) = order_event(r.from_status, r.to_status) {
                        let endpoints = endpoints_of(tx, &mut known, &r.form_id).await?.to_vec();
                        if !endpoints.is_empty() {
                            let payload = message(
                                event_type,
                                r.created_at,
                                json!({
                                    "order_id": r.order_id,
                                    "out_trade_no": r.out_trade_no,
                                    "form_id": r.form_id,
                                    "submission_id": r.submission_id,
                                    "status": r.to_status.map(|s| s.as_str()),
                                    "amount_fen": r.amount_fen,
                                    "refunded_fen": r.refunded_fen,
                                    "channel": r.channel,
                                    "transaction_id": r.transaction_id,
                                    "paid_at": r.paid_at.map(rfc3339),
                                }),
                            );
                            made += insert_deliveries(tx, &endpoints, event_type, &payload).await?;
                        }
                    }
                    if let (Some(settings), Some(event), Some(source), Some(status)) =
                        (&mail_settings, mail_event, mail_source, r.to_status)
                    {
                        let change = mail::OrderChange {
                            event,
                            order_id: &r.order_id,
                            out_trade_no: &r.out_trade_no,
                            amount_fen: r.amount_fen,
                            refunded_fen: r.refunded_fen,
                            paid_at: r.paid_at,
                            status,
                        };
                        made += mail::queue_order_mails(tx, settings, source, &change).await?;
                    }
                }
                Ok(Step::Keep(made))
            })
        })
        .await
        .context("cannot commit the deliveries")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_payments_and_refunds_are_order_events() {
        use OrderStatus::*;
        assert_eq!(order_event(Some(Pending), Some(Paid)), Some("order.paid"));
        assert_eq!(order_event(Some(Paid), Some(Paid)), None);
        assert_eq!(
            order_event(Some(Refunding), Some(PartiallyRefunded)),
            Some("order.refunded")
        );
        assert_eq!(order_event(Some(Created), Some(Pending)), None);
        assert_eq!(order_event(None, None), None);
    }
}
