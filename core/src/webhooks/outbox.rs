//! The outbox: new submissions and order status changes become deliveries,
//! one per endpoint of their form. Each source row is claimed with a
//! compare-and-set in the transaction that writes its deliveries, so that
//! two instances never deliver one event twice and a crash loses none.

use crate::mail::{self, MailSettings};
use crate::{now_ms, Db};
use anyhow::Context;
use domain::OrderStatus;
use serde_json::{json, Value};

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
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.id, s.form_id, s.answers_json, s.amount_fen, s.created_at, o.id AS order_id FROM submissions s LEFT JOIN orders o ON o.submission_id = s.id WHERE s.webhooked_at IS NULL ORDER BY s.created_at LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&db.pool)
    .await
    .context("cannot read new submissions")?;
    let mut made = 0;
    for r in rows {
        let mut tx = db
            .pool
            .begin()
            .await
            .context("cannot start a transaction")?;
        let claimed = sqlx::query(
            "UPDATE submissions SET webhooked_at = $1 WHERE id = $2 AND webhooked_at IS NULL",
        )
        .bind(now_ms())
        .bind(&r.id)
        .execute(&mut *tx)
        .await
        .context("cannot claim a submission")?;
        if claimed.rows_affected() == 1 {
            let endpoints = enabled_endpoints(&mut tx, &r.form_id).await?;
            if !endpoints.is_empty() {
                let answers: Value = serde_json::from_str(&r.answers_json).unwrap_or(Value::Null);
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
                    insert_deliveries(&mut tx, &endpoints, "submission.created", &payload).await?;
            }
        }
        tx.commit().await.context("cannot commit the deliveries")?;
    }
    Ok(made)
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
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT e.id AS event_id, e.created_at, e.from_status, e.to_status, o.id AS order_id, o.form_id, o.submission_id, o.out_trade_no, o.amount_fen, o.refunded_fen, o.channel, o.transaction_id, o.paid_at, o.receipt_token FROM order_events e JOIN orders o ON o.id = e.order_id WHERE e.webhooked_at IS NULL ORDER BY e.created_at LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&db.pool)
    .await
    .context("cannot read new order events")?;
    let mut made = 0;
    for r in rows {
        let mail_event = mail::mail_event(r.from_status, r.to_status);
        let mail_source = match (mail_settings, mail_event) {
            (Some(_), Some(_)) => {
                mail::source(db, &r.form_id, &r.submission_id, r.receipt_token.clone()).await?
            }
            _ => None,
        };
        let mut tx = db
            .pool
            .begin()
            .await
            .context("cannot start a transaction")?;
        let claimed = sqlx::query(
            "UPDATE order_events SET webhooked_at = $1 WHERE id = $2 AND webhooked_at IS NULL",
        )
        .bind(now_ms())
        .bind(&r.event_id)
        .execute(&mut *tx)
        .await
        .context("cannot claim an order event")?;
        if claimed.rows_affected() == 1 {
            if let Some(event_type) = order_event(r.from_status, r.to_status) {
                let endpoints = enabled_endpoints(&mut tx, &r.form_id).await?;
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
                    made += insert_deliveries(&mut tx, &endpoints, event_type, &payload).await?;
                }
            }
            if let (Some(settings), Some(event), Some(source), Some(status)) =
                (mail_settings, mail_event, &mail_source, r.to_status)
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
                made += mail::queue_order_mails(&mut tx, settings, source, &change).await?;
            }
        }
        tx.commit().await.context("cannot commit the deliveries")?;
    }
    Ok(made)
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
