//! One database handle for both backends: SQLite (the embedded default) and
//! PostgreSQL. Queries are written once in the SQL both understand (`$1`
//! placeholders, BIGINT and TEXT columns, times as Unix milliseconds); the
//! few that differ ask [`Db::backend`].

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Executor};
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// The connection URL (PostgreSQL's LISTEN needs its own connection).
    pub url: String,
    /// The writer that commits the payment path's writes (submissions,
    /// payment starts, settlements, the payment log) in batches.
    pub commits: crate::commit::GroupCommit,
    /// SQLite's reads of one row on the asking task's thread
    /// (`commit/reader.rs`): a plain file only; otherwise the pool reads.
    pub readers: Option<std::sync::Arc<crate::commit::Readers>>,
    /// PostgreSQL: the settlements' payments waiting, written together
    /// (`store/orders/batch.rs`).
    pub payments: Option<crate::store::orders::Payments>,
    /// PostgreSQL: the callbacks' reads of an attempt with its order,
    /// those waiting read together (`store/attempts.rs`, `with_orders`).
    pub attempt_reads: Option<AttemptReads>,
}

/// Reads of an attempt and its order by `out_trade_no`, done together.
pub type AttemptReads = crate::commit::Together<
    String,
    Option<(
        crate::store::attempts::Attempt,
        crate::store::orders::OrderRecord,
    )>,
>;

impl Backend {
    pub fn from_url(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite: or postgres://")
        }
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The versions of the migrations this build carries, oldest first: a
/// database whose schema holds a version not in this list was written by a
/// newer release.
pub fn migration_versions() -> Vec<i64> {
    MIGRATOR.iter().map(|m| m.version).collect()
}

impl Db {
    /// Connects, creating the SQLite file (and its folder) when missing, and
    /// applies every pending migration.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .context("DATABASE_URL is not a valid database URL")?;
        let pool = pool_options(backend, CACHE_KIB)
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .connect_with(options.clone())
            .await
            .context("cannot connect to the database")?;
        MIGRATOR
            .run(&pool)
            .await
            .context("cannot apply the database migrations")?;
        let commits = match backend {
            // On a connection of its own, which the writes take in turn: a
            // write waits in the queue and is woken as soon as it is free,
            // where writers on connections of their own would meet at
            // SQLite's lock and sleep in its busy handler (1, 2, 5, 10 … ms)
            // however short the wait. Reads, and the rarer writes
            // elsewhere, use the pool.
            // Its sqlx connection takes only the writes given as code (the
            // query writes go on the writer's own connection, which has
            // the larger cache): SQLite's default cache is enough.
            Backend::Sqlite => crate::commit::GroupCommit::start(
                pool_options(backend, 2048)
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .context("cannot connect to the database")?,
                Some(pool.clone()),
                crate::commit::file_of(&url),
            ),
            Backend::Postgres => crate::commit::GroupCommit::concurrent(pool.clone()),
        };
        let readers = match backend {
            Backend::Sqlite => crate::commit::file_of(&url).map(crate::commit::Readers::new),
            Backend::Postgres => None,
        };
        let (payments, attempt_reads) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => {
                let reads = pool.clone();
                (
                    Some(crate::store::orders::Payments::start(pool.clone())),
                    Some(AttemptReads::start(
                        "attempts' readers",
                        4,
                        64,
                        move |nos| {
                            let pool = reads.clone();
                            async move { crate::store::attempts::with_orders(&pool, nos).await }
                        },
                    )),
                )
            }
        };
        Ok(Db {
            pool,
            backend,
            url,
            commits,
            readers,
            payments,
            attempt_reads,
        })
    }

    /// The first row of `sql`, if any: on SQLite read on this thread
    /// ([`crate::commit::Readers`]), else (PostgreSQL, an in-memory
    /// database, a busy one) through the pool. For short reads by key on
    /// the payment path.
    pub async fn fetch_optional<T>(
        &self,
        sql: crate::store::sql::Sql<'_>,
    ) -> anyhow::Result<Option<T>>
    where
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        match self.first_row(&sql)? {
            Some(row) => row
                .map(|r| T::from_row(&r))
                .transpose()
                .context("cannot decode the row"),
            None => sql.fetch_optional(&self.pool).await,
        }
    }

    /// The same, the row as it is (for a row read into several records).
    pub async fn fetch_optional_row(
        &self,
        sql: crate::store::sql::Sql<'_>,
    ) -> anyhow::Result<Option<sqlx::any::AnyRow>> {
        match self.first_row(&sql)? {
            Some(row) => Ok(row),
            None => {
                let (text, args) = sql.into_parts()?;
                sqlx::query_with(&text, args)
                    .fetch_optional(&self.pool)
                    .await
                    .context("the query failed")
            }
        }
    }

    fn first_row(
        &self,
        sql: &crate::store::sql::Sql<'_>,
    ) -> anyhow::Result<Option<Option<sqlx::any::AnyRow>>> {
        match &self.readers {
            Some(readers) => readers.first_row(sql),
            None => Ok(None),
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// The settings of every SQLite connection, sqlx's and the group commit's
/// own (`commit/direct.rs`).
///
/// WAL lets readers work while a writer commits; the busy timeout makes
/// concurrent writers wait instead of failing. FULL: a commit is on disk
/// before it returns, so an acknowledged callback survives a power cut
/// too; group commit (`commit`) pays one flush for many of them. The group
/// commit's writer leaves checkpoints to another connection: a connection
/// checkpoints by itself only past 64 MiB of log, should those stop.
pub const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
    PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL; \
    PRAGMA wal_autocheckpoint = 16384";

/// Page cache of a reading connection and of the group commit's own, in
/// KiB (SQLite's default is 2 MiB).
pub const CACHE_KIB: i64 = 16384;

/// How long a PostgreSQL connection may sit idle in the pool and still be
/// handed out without a ping.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// The pool settings both pools share: timeouts, and SQLite's pragmas on
/// each new connection, with a page cache of `cache_kib`.
fn pool_options(backend: Backend, cache_kib: i64) -> AnyPoolOptions {
    AnyPoolOptions::new()
        // Long enough for a burst to queue, short enough that a request
        // made while the database is gone is answered (503) promptly.
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection it hands out: a round trip on
        // PostgreSQL, a hop to the connection's thread on SQLite, before
        // every query. A connection used in the last second is known to be
        // alive; one idle for longer (a database restarted meanwhile) is
        // still pinged, and dropped if it does not answer. SQLite's
        // connections are files of this process: never pinged.
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                if backend == Backend::Postgres && meta.idle_for > IDLE_BEFORE_PING {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    conn.execute(sqlx::raw_sql(SQLITE_PRAGMAS)).await?;
                    conn.execute(format!("PRAGMA cache_size = -{cache_kib}").as_str())
                        .await?;
                }
                Ok(())
            })
        })
}

/// Makes sure the folder of an SQLite file exists and that the file is created
/// when missing (`mode=rwc`).
fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" {
        return Ok(url.to_owned());
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).with_context(|| {
                format!("cannot create the database folder {}", parent.display())
            })?;
        }
    }
    Ok(match query {
        Some(q) if q.contains("mode=") => url.to_owned(),
        Some(q) => format!("sqlite://{path}?{q}&mode=rwc"),
        None => format!("sqlite://{path}?mode=rwc"),
    })
}

/// A fresh SQLite database in a folder of its own under the system's
/// temporary folder (the caller removes the folder).
#[cfg(test)]
pub(crate) async fn temp_sqlite(name: &str) -> (Db, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "formpay-{name}-{}-{}",
        std::process::id(),
        crate::random_token()
    ));
    let db = Db::connect(&format!("sqlite://{}/t.db", dir.display()))
        .await
        .expect("db");
    (db, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = std::env::temp_dir().join(format!("fp-db-{}", std::process::id()));
        let url = format!("sqlite://{}/x.db", dir.display());
        let prepared = prepare_sqlite_url(&url).expect("prepared");
        assert!(prepared.ends_with("x.db?mode=rwc"));
        assert!(dir.is_dir());
        let _ = std::fs::remove_dir_all(dir);
        assert_eq!(
            prepare_sqlite_url("sqlite::memory:").ok().as_deref(),
            Some("sqlite::memory:")
        );
    }

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite://data/a.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(Backend::from_url("mysql://u@h/db").is_err());
    }
}
