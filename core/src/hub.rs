//! Live order status for the payer's page. A change reaches only the
//! streams of its own order: each order with an open page has one small
//! `watch` channel holding the newest version, so a callback costs the same
//! with no page open or with ten thousand. With PostgreSQL every change goes
//! through `LISTEN/NOTIFY`, so a payer connected to one instance sees a
//! callback processed by another.

use super::{Backend, Db};
use crate::store::sql::Sql;
use domain::OrderStatus;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

pub const CHANNEL: &str = "formpay_order_status";

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusChange {
    pub order_id: String,
    pub status: OrderStatus,
    /// `updated_at` of the order: the SSE event id, so reconnects can resume.
    pub version: i64,
}

/// The orders someone is watching, each with the newest version announced.
#[derive(Default)]
struct Watched(Mutex<HashMap<String, watch::Sender<i64>>>);

impl Watched {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, watch::Sender<i64>>> {
        // The map stays consistent whatever a panicking holder did: every
        // operation on it is a single insert, lookup or remove.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn subscribe(self: &Arc<Self>, order_id: &str) -> Subscription {
        let mut watched = self.lock();
        let rx = match watched.get(order_id) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(0);
                watched.insert(order_id.to_owned(), tx);
                rx
            }
        };
        Subscription {
            rx,
            order_id: order_id.to_owned(),
            watched: self.clone(),
        }
    }

    fn announce(&self, change: &StatusChange) {
        if let Some(tx) = self.lock().get(&change.order_id) {
            tx.send_if_modified(|seen| {
                let newer = change.version > *seen;
                if newer {
                    *seen = change.version;
                }
                newer
            });
        }
    }
}

#[derive(Clone)]
pub struct StatusHub {
    watched: Arc<Watched>,
    db: Db,
}

/// One open page's interest in one order. Dropping it (the stream ended or
/// the payer left) forgets the order once nobody else watches it.
pub struct Subscription {
    rx: watch::Receiver<i64>,
    order_id: String,
    watched: Arc<Watched>,
}

impl Subscription {
    /// Waits for a change newer than `version` and returns its version;
    /// `None` when the hub is gone.
    pub async fn newer_than(&mut self, version: i64) -> Option<i64> {
        loop {
            let seen = *self.rx.borrow_and_update();
            if seen > version {
                return Some(seen);
            }
            self.rx.changed().await.ok()?;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut watched = self.watched.lock();
        // This receiver still counts until the end of this function.
        if watched
            .get(&self.order_id)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            watched.remove(&self.order_id);
        }
    }
}

impl StatusHub {
    /// Starts the hub; on PostgreSQL also the listener that feeds it.
    pub async fn start(db: Db) -> anyhow::Result<StatusHub> {
        let hub = StatusHub {
            watched: Arc::default(),
            db: db.clone(),
        };
        if db.backend == Backend::Postgres {
            let mut listener = sqlx::postgres::PgListener::connect(&db.url).await?;
            listener.listen(CHANNEL).await?;
            let watched = hub.watched.clone();
            tokio::spawn(async move {
                loop {
                    match listener.recv().await {
                        Ok(n) => {
                            if let Ok(change) = serde_json::from_str::<StatusChange>(n.payload()) {
                                watched.announce(&change);
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

    /// Follows one order. Subscribe before reading the order, so that no
    /// change can slip between the two.
    pub fn subscribe(&self, order_id: &str) -> Subscription {
        self.watched.subscribe(order_id)
    }

    /// How many orders have a page open on them (for tests and metrics).
    pub fn watched_orders(&self) -> usize {
        self.watched.lock().len()
    }

    /// Announces a committed change.
    pub async fn publish(&self, change: StatusChange) {
        match self.db.backend {
            Backend::Sqlite => self.watched.announce(&change),
            Backend::Postgres => {
                // A notification is sent when its transaction commits: in
                // one of its own (one round trip).
                let sent = self.db.commits.single(notify_sql(&change)).await;
                if let Err(e) = sent {
                    // The payer's page still learns it by polling.
                    tracing::warn!(error = %e, "cannot publish the status change");
                    self.watched.announce(&change);
                }
            }
        }
    }
}

impl StatusChange {
    /// The change as PostgreSQL's notification carries it.
    pub fn payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The notification of `change` on its own (PostgreSQL).
fn notify_sql(change: &StatusChange) -> Sql<'static> {
    let mut q = Sql::new("SELECT pg_notify(");
    q.bind(CHANNEL).push(", ").bind(change.payload()).push(")");
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(order: &str, version: i64) -> StatusChange {
        StatusChange {
            order_id: order.to_owned(),
            status: OrderStatus::Paid,
            version,
        }
    }

    #[tokio::test]
    async fn a_change_reaches_only_its_own_orders_streams_and_is_forgotten_after() {
        let watched = Arc::new(Watched::default());
        let hub_sub = |id: &str| watched.subscribe(id);
        let mut a1 = hub_sub("a");
        let mut a2 = hub_sub("a");
        let mut b = hub_sub("b");
        assert_eq!(watched.lock().len(), 2);

        watched.announce(&change("a", 10));
        watched.announce(&change("nobody", 11));
        assert_eq!(a1.newer_than(5).await, Some(10));
        assert_eq!(a2.newer_than(5).await, Some(10));
        // An older or equal version wakes nobody.
        watched.announce(&change("a", 9));
        let b_woke =
            tokio::time::timeout(std::time::Duration::from_millis(50), b.newer_than(0)).await;
        assert!(b_woke.is_err(), "b heard a's change");
        let a_woke =
            tokio::time::timeout(std::time::Duration::from_millis(50), a1.newer_than(10)).await;
        assert!(a_woke.is_err(), "a stale version woke a stream");

        drop(a1);
        assert_eq!(watched.lock().len(), 2, "a2 still watches a");
        drop(a2);
        drop(b);
        assert_eq!(watched.lock().len(), 0, "memory returns when streams close");
    }
}
