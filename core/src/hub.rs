//! Live order status for the payer's page. In-process a broadcast channel
//! feeds the server-sent event streams; with PostgreSQL every change goes
//! through `LISTEN/NOTIFY`, so a payer connected to one instance sees a
//! callback processed by another.

use super::{Backend, Db};
use domain::OrderStatus;
use tokio::sync::broadcast;

pub const CHANNEL: &str = "formpay_order_status";

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusChange {
    pub order_id: String,
    pub status: OrderStatus,
    /// `updated_at` of the order: the SSE event id, so reconnects can resume.
    pub version: i64,
}

#[derive(Clone)]
pub struct StatusHub {
    tx: broadcast::Sender<StatusChange>,
    db: Db,
}

impl StatusHub {
    /// Starts the hub; on PostgreSQL also the listener that feeds it.
    pub async fn start(db: Db) -> anyhow::Result<StatusHub> {
        let (tx, _) = broadcast::channel(4096);
        let hub = StatusHub { tx, db: db.clone() };
        if db.backend == Backend::Postgres {
            let mut listener = sqlx::postgres::PgListener::connect(&db.url).await?;
            listener.listen(CHANNEL).await?;
            let tx = hub.tx.clone();
            tokio::spawn(async move {
                loop {
                    match listener.recv().await {
                        Ok(n) => {
                            if let Ok(change) = serde_json::from_str::<StatusChange>(n.payload()) {
                                let _ = tx.send(change);
                            }
                        }
                        Err(e) => {
                            // PgListener reconnects by itself on the next recv.
                            tracing::warn!(error = %e, "status listener error");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        }
        Ok(hub)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<StatusChange> {
        self.tx.subscribe()
    }

    /// Announces a committed change.
    pub async fn publish(&self, change: StatusChange) {
        match self.db.backend {
            Backend::Sqlite => {
                let _ = self.tx.send(change);
            }
            Backend::Postgres => {
                let payload = serde_json::to_string(&change).unwrap_or_default();
                let sent = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(&self.db.pool)
                    .await;
                if let Err(e) = sent {
                    // The payer's page still learns it by polling.
                    tracing::warn!(error = %e, "cannot publish the status change");
                    let _ = self.tx.send(change);
                }
            }
        }
    }
}
