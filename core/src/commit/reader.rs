//! Reads of one row on the asking task's own thread, on SQLite connections
//! kept for it (`rusqlite`, the same SQLite library sqlx links). Through
//! sqlx's pool a read is a round trip to the connection's own thread, two
//! thread switches; on the payment path (an order by its id, a form by its
//! slug, a callback's attempt with its order) those switches cost more than
//! the read itself, a lookup by key in pages already in memory.
//!
//! Each read is one short statement in autocommit: it sees what is
//! committed, as a read through the pool does, and holds no snapshot after
//! it. When the database is busy (SQLite's write-ahead log being reset, or
//! its index rebuilt after a crash) the read does not wait on this thread:
//! the pool answers it instead.

use super::direct::bind;
use crate::store::sql::Sql;
use rusqlite::types::ValueRef;
use sqlx_core::any::{AnyColumn, AnyRow, AnyTypeInfo, AnyTypeInfoKind, AnyValue, AnyValueKind};

use sqlx_core::ext::ustr::UStr;
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Connections kept between reads (more are opened when more read at once,
/// then closed).
const KEPT: usize = 4;

pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").field("path", &self.path).finish()
    }
}

impl Readers {
    /// Readers of the SQLite file at `path` (see [`super::file_of`]).
    pub fn new(path: PathBuf) -> Arc<Readers> {
        Arc::new(Readers {
            path,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never waits (the pool does), never writes.
        conn.execute_batch(&format!(
            "PRAGMA busy_timeout = 0; PRAGMA query_only = 1; PRAGMA cache_size = -{}",
            crate::db::CACHE_KIB
        ))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    /// The first row `sql` gives (`Ok(Some(None))`: none), or `Ok(None)`
    /// when it could not be read here (busy, or no connection could be
    /// opened): the caller then reads through the pool.
    pub fn first_row(&self, sql: &Sql<'_>) -> anyhow::Result<Option<Option<AnyRow>>> {
        let (text, values) = sql.parts()?;
        let kept = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match kept.map_or_else(|| self.open(), Ok) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "no reading connection; the pool reads");
                return Ok(None);
            }
        };
        let read = first_row_on(&conn, text, values);
        {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < KEPT {
                idle.push(conn);
            }
        }
        match read {
            Ok(row) => Ok(Some(row)),
            Err(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(anyhow::Error::new(e).context("the query failed")),
        }
    }
}

/// The first row of `text`, its values as sqlx's SQLite driver gives them
/// to `Any` (by the value's own type: integer → BIGINT, real → DOUBLE, text,
/// blob, NULL), so that the records' `FromRow` read it as they read sqlx's.
fn first_row_on(
    conn: &rusqlite::Connection,
    text: &str,
    values: &[AnyValueKind<'_>],
) -> rusqlite::Result<Option<AnyRow>> {
    let mut statement = conn.prepare_cached(text)?;
    bind(&mut statement, values, &mut 0)?;
    let names: Vec<UStr> = statement
        .column_names()
        .into_iter()
        .map(|n| UStr::from(n.to_owned()))
        .collect();
    let mut rows = statement.raw_query();
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut columns = Vec::with_capacity(names.len());
    let mut out = Vec::with_capacity(names.len());
    for (ordinal, name) in names.iter().enumerate() {
        let kind = match row.get_ref(ordinal)? {
            ValueRef::Null => AnyValueKind::Null(AnyTypeInfoKind::Null),
            ValueRef::Integer(i) => AnyValueKind::BigInt(i),
            ValueRef::Real(f) => AnyValueKind::Double(f),
            ValueRef::Text(t) => AnyValueKind::Text(Cow::Owned(
                std::str::from_utf8(t)
                    .map_err(rusqlite::Error::Utf8Error)?
                    .to_owned(),
            )),
            ValueRef::Blob(b) => AnyValueKind::Blob(Cow::Owned(b.to_vec())),
        };
        let type_kind = match &kind {
            AnyValueKind::BigInt(_) => AnyTypeInfoKind::BigInt,
            AnyValueKind::Double(_) => AnyTypeInfoKind::Double,
            AnyValueKind::Text(_) => AnyTypeInfoKind::Text,
            AnyValueKind::Blob(_) => AnyTypeInfoKind::Blob,
            _ => AnyTypeInfoKind::Null,
        };
        columns.push(AnyColumn {
            ordinal,
            name: name.clone(),
            type_info: AnyTypeInfo { kind: type_kind },
        });
        out.push(AnyValue { kind });
    }
    let column_names = names.into_iter().enumerate().map(|(i, n)| (n, i)).collect();
    Ok(Some(AnyRow {
        column_names: Arc::new(column_names),
        columns,
        values: out,
    }))
}

#[cfg(test)]
mod tests {
    use crate::store::sql::Sql;
    use sqlx::Row;

    /// What a row read here decodes to, beside the same row through sqlx.
    #[derive(Debug, PartialEq, sqlx::FromRow)]
    struct Mixed {
        i: i64,
        small: i32,
        r: f64,
        s: String,
        b: Vec<u8>,
        n: Option<String>,
        m: Option<i64>,
    }

    #[tokio::test]
    async fn a_row_read_here_decodes_as_sqlx_reads_it_and_a_missing_one_is_none() {
        let (db, dir) = crate::db::temp_sqlite("reader").await;
        assert!(db.readers.is_some(), "a plain file has readers");
        sqlx::query("CREATE TABLE mixed (id TEXT PRIMARY KEY, i BIGINT, small INTEGER, r DOUBLE PRECISION, s TEXT, b BLOB, n TEXT, m BIGINT)")
            .execute(&db.pool)
            .await
            .expect("table");
        sqlx::query("INSERT INTO mixed VALUES ('a', 9007199254740993, -7, 0.25, '支付 ok', x'00ff10', NULL, NULL), ('b', 0, 0, -1.5, '', x'', 'x', -3)")
            .execute(&db.pool)
            .await
            .expect("rows");
        let query = |id: &str| {
            Sql::new("SELECT i, small, r, s, b, n, m FROM mixed WHERE id = $1").arg(id.to_owned())
        };
        for id in ["a", "b"] {
            let here: Mixed = db
                .fetch_optional(query(id))
                .await
                .expect("read")
                .expect("row");
            let pool: Mixed = query(id).fetch_one(&db.pool).await.expect("pool");
            assert_eq!(here, pool, "{id}");
            // The row as it is: names and values where sqlx has them.
            let row = db
                .fetch_optional_row(query(id))
                .await
                .expect("read")
                .expect("row");
            assert_eq!(row.try_get::<String, _>("s").expect("s"), pool.s);
            assert_eq!(row.try_get::<Option<i64>, _>(6).expect("m"), pool.m);
        }
        let none: Option<Mixed> = db.fetch_optional(query("zz")).await.expect("read");
        assert_eq!(none, None);
        // A write committed by the group commit's writer is seen by the next read.
        db.commits
            .single(Sql::new("UPDATE mixed SET s = $1 WHERE id = 'a'").arg("新".to_owned()))
            .await
            .expect("write");
        let after: Mixed = db
            .fetch_optional(query("a"))
            .await
            .expect("read")
            .expect("row");
        assert_eq!(after.s, "新");
        // A bad query is an error, not an answer from somewhere else.
        let bad: anyhow::Result<Option<Mixed>> =
            db.fetch_optional(Sql::new("SELECT nope FROM mixed")).await;
        assert!(bad.is_err());
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }
}
