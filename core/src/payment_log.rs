//! The payment log: one row per provider call and per callback, with the
//! bodies redacted (signatures shortened, keys and ciphertexts removed) and
//! cut to a bounded size.

use crate::store::sql::Sql;
use crate::{now_ms, Db};
use tokio::sync::{mpsc, oneshot};

/// Longest body kept, in characters.
const MAX_BODY_CHARS: usize = 4000;

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub provider: &'static str,
    pub operation: &'static str,
    pub direction: domain::Direction,
    pub out_trade_no: Option<String>,
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub request: String,
    pub response: String,
    pub error: Option<String>,
}

/// The most rows written by one statement.
const MAX_ROWS: usize = 64;

/// What the writer is given: a row (with whoever waits for it, if anyone),
/// or a request to answer once every row given before is written.
enum Queued {
    Row(Row, Option<oneshot::Sender<anyhow::Result<()>>>),
    Flush(oneshot::Sender<anyhow::Result<()>>),
}

/// A log entry as stored: its id and time, bodies cut.
struct Row {
    id: String,
    at: i64,
    entry: LogEntry,
}

#[derive(Clone, Debug)]
pub struct PaymentLog {
    /// Unbounded: a callback queues its row without waiting, and rows come
    /// no faster than the settlements the same writer commits one by one,
    /// while the log's writer takes up to [`MAX_ROWS`] a statement.
    rows: Option<mpsc::UnboundedSender<Queued>>,
}

impl PaymentLog {
    /// Starts the log's writer on `db` (it ends with the last handle).
    pub fn new(db: Db) -> Self {
        let (rows, waiting) = mpsc::unbounded_channel();
        tokio::spawn(writer(db, waiting));
        PaymentLog { rows: Some(rows) }
    }

    /// A log that writes nowhere (unit tests, the simulator's own clients).
    pub fn disabled() -> Self {
        PaymentLog { rows: None }
    }

    /// Best effort: a failure to log is reported, never turned into a failed
    /// payment. Answers once the row is committed; the rows written meanwhile
    /// go together in one statement (and with the next group commit).
    pub async fn write(&self, e: LogEntry) {
        let Some(rows) = &self.rows else { return };
        let (done, written) = oneshot::channel();
        let result = match rows.send(Queued::Row(Row::new(e), Some(done))) {
            Ok(()) => written
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the payment log's writer has stopped"))),
            Err(_) => Err(anyhow::anyhow!("the payment log's writer has stopped")),
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "cannot write the payment log");
        }
    }

    /// Like [`PaymentLog::write`], without waiting for the row's commit: for
    /// a callback, whose answer to the provider waits only for what it
    /// settled. The row is written with the next batch; a crash in the few
    /// milliseconds before loses the row, never the payment (its order event
    /// is committed before the answer). [`PaymentLog::flush`] writes what is
    /// queued before a shutdown.
    pub fn queue(&self, e: LogEntry) {
        let Some(rows) = &self.rows else { return };
        if rows.send(Queued::Row(Row::new(e), None)).is_err() {
            tracing::warn!("cannot write the payment log: its writer has stopped");
        }
    }

    /// Waits until every row queued before is written (or failed).
    pub async fn flush(&self) {
        let Some(rows) = &self.rows else { return };
        let (done, flushed) = oneshot::channel();
        if rows.send(Queued::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }
}

impl Row {
    fn new(entry: LogEntry) -> Row {
        Row {
            id: crate::row_id(),
            at: now_ms(),
            entry,
        }
    }
}

const INSERT: &str = "INSERT INTO payment_log (id, created_at, provider, operation, direction, out_trade_no, status_code, latency_ms, request, response, error) VALUES ";

/// Writes whatever rows are waiting, up to [`MAX_ROWS`] at a time. On
/// PostgreSQL in one statement: one round trip for many calls. On SQLite each
/// row in a statement of its own, all in the same batch of the group commit:
/// its writer runs them on its own connection without a hop each (`commit`),
/// and one kept-prepared statement per row costs SQLite less than preparing
/// a statement of hundreds of placeholders every time.
async fn writer(db: Db, mut waiting: mpsc::UnboundedReceiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_ROWS);
    let one_statement = db.backend == crate::db::Backend::Postgres;
    while waiting.recv_many(&mut batch, MAX_ROWS).await > 0 {
        let mut statements: Vec<(Sql<'static>, usize, Vec<_>)> = Vec::new();
        let mut flushes = Vec::new();
        for queued in batch.drain(..) {
            let (row, answer) = match queued {
                Queued::Row(row, answer) => (row, answer),
                // Answered after the rows given before it are written.
                Queued::Flush(answer) => {
                    flushes.push(answer);
                    continue;
                }
            };
            match statements.last_mut() {
                Some((q, rows, answers)) if one_statement => {
                    push_row(q.push(", "), row);
                    *rows += 1;
                    answers.extend(answer);
                }
                _ => {
                    let mut q = Sql::new(INSERT);
                    push_row(&mut q, row);
                    statements.push((q, 1, answer.into_iter().collect::<Vec<_>>()));
                }
            }
        }
        futures_util::future::join_all(statements.into_iter().map(|(q, rows, answers)| {
            let db = db.clone();
            async move {
                // The text of many rows is rarely the same twice: not kept
                // prepared.
                let q = if rows > 1 { q.uncached() } else { q };
                let written = db.commits.single(q).await;
                if answers.len() < rows {
                    if let Err(e) = &written {
                        tracing::warn!(error = %e, rows = rows - answers.len(), "cannot write the payment log");
                    }
                }
                for answer in answers {
                    let _ = answer.send(match &written {
                        Ok(_) => Ok(()),
                        Err(e) => Err(anyhow::anyhow!("{e:#}")),
                    });
                }
            }
        }))
        .await;
        for flushed in flushes {
            let _ = flushed.send(Ok(()));
        }
    }
}

/// Appends one row's values, `(…)`, to the insert.
fn push_row(q: &mut Sql<'static>, row: Row) {
    let e = row.entry;
    q.push("(")
        .bind(row.id)
        .push(", ")
        .bind(row.at)
        .push(", ")
        .bind(e.provider)
        .push(", ")
        .bind(e.operation)
        .push(", ")
        .bind(e.direction)
        .push(", ")
        .bind(e.out_trade_no)
        .push(", ")
        .bind(e.status_code.map(i64::from))
        .push(", ")
        .bind(e.latency_ms)
        .push(", ")
        .bind(truncate(&e.request))
        .push(", ")
        .bind(truncate(&e.response))
        .push(", ")
        .bind(e.error.map(|s| truncate(&s)))
        .push(")");
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_BODY_CHARS {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX_BODY_CHARS).collect();
        t.push_str("…[cut]");
        t
    }
}

/// Keys whose values never reach the log.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "sign"
        || k.contains("signature")
        || k == "ciphertext"
        || k.contains("private")
        || k.ends_with("_key")
        || k == "key"
}

/// A signature shortened to its first characters: enough to tell two apart, useless to forge.
fn shorten(v: &str) -> String {
    let head: String = v.chars().take(8).collect();
    format!("{head}…[{} chars]", v.chars().count())
}

/// A JSON body with secrets replaced; anything that is not JSON is kept as is
/// after a size cut (our bodies carry no keys).
pub fn redact_json(body: &str) -> String {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, val) in map.iter_mut() {
                    if is_secret_key(k) {
                        if let serde_json::Value::String(s) = val {
                            *s = shorten(s);
                        } else {
                            *val = serde_json::Value::String("[redacted]".into());
                        }
                    } else {
                        walk(val);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut v) => {
            walk(&mut v);
            v.to_string()
        }
        Err(_) => body.chars().take(MAX_BODY_CHARS).collect(),
    }
}

/// Form or query parameters with the signature shortened.
pub fn redact_params<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    params
        .into_iter()
        .map(|(k, v)| {
            if is_secret_key(k) {
                format!("{k}={}", shorten(v))
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_ciphertexts_are_redacted() {
        let long_sign = "A".repeat(344);
        let body = format!(
            r#"{{"a_response":{{"code":"10000"}},"sign":"{long_sign}","resource":{{"ciphertext":"SECRETSECRET","nonce":"n"}}}}"#
        );
        let r = redact_json(&body);
        assert!(!r.contains(&long_sign));
        assert!(!r.contains("SECRETSECRET"));
        assert!(r.contains("\"code\":\"10000\""));
        let p = redact_params([("app_id", "2021"), ("sign", long_sign.as_str())]);
        assert!(p.starts_with("app_id=2021&sign=AAAAAAAA…[344 chars]"));
        assert_eq!(
            truncate(&"x".repeat(5000)).chars().count(),
            MAX_BODY_CHARS + "…[cut]".chars().count()
        );
    }

    fn entry(i: usize) -> LogEntry {
        LogEntry {
            provider: "wechat",
            operation: "notify",
            direction: domain::Direction::In,
            out_trade_no: Some(format!("T{i}")),
            status_code: Some(204),
            latency_ms: 1,
            request: "{}".into(),
            response: String::new(),
            error: None,
        }
    }

    #[tokio::test]
    async fn queued_rows_are_all_written_by_the_flush() {
        let (db, dir) = crate::db::temp_sqlite("log").await;
        let log = PaymentLog::new(db.clone());
        // Many batches' worth, queued without waiting.
        let rows = 5 * MAX_ROWS;
        for i in 0..rows {
            log.queue(entry(i));
        }
        log.flush().await;
        let written: i64 =
            sqlx::query_scalar("SELECT COUNT(DISTINCT out_trade_no) FROM payment_log")
                .fetch_one(&db.pool)
                .await
                .expect("count");
        assert_eq!(
            written, rows as i64,
            "every queued row is written by the flush"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
