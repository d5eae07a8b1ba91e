//! A batch of query writes run by the writer's own thread on an SQLite
//! connection it owns (`rusqlite`, on the same SQLite library sqlx's driver
//! links): `BEGIN`, each write in its savepoint, `COMMIT`, with no hop to
//! another thread between two statements. Through sqlx every statement was
//! a round trip to the connection's own thread, each a thread wake-up on a
//! busy machine; the batch's writes then cost more than its disk flush.
//!
//! Same answers as the batch through sqlx ([`super::commit_batch`]): a
//! write's failing or discarded statements rolled back alone, every write
//! answered only once the batch is committed, a locked database ending the
//! batch at once.

use super::{Batch, Decide, Deliver};
use crate::store::sql::Sql;
use anyhow::Context;
use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx_core::any::AnyValueKind;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The statements a cached query's text holds, split once.
const MAX_TEXTS: usize = 256;

pub(super) struct Direct {
    conn: rusqlite::Connection,
    /// A cached query's text → its statements, each kept prepared.
    statements: HashMap<String, Arc<[String]>>,
}

/// The file behind an SQLite URL, when the writer may open it itself: not
/// an in-memory database (another connection would see another one), not
/// read-only, on the default file system.
pub fn file_of(url: &str) -> Option<PathBuf> {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let special = ["mode=memory", "mode=ro", "vfs=", "immutable="];
    let path = options.get_filename();
    if special.iter().any(|s| query.contains(s))
        || path.as_os_str().is_empty()
        || path.to_string_lossy().starts_with("file:")
        || path == Path::new(":memory:")
    {
        return None;
    }
    Some(path.to_path_buf())
}

impl Direct {
    /// Opens the database at `path` (it exists: the migrations ran) with
    /// the pragmas of every connection (`db.rs`).
    pub fn open(path: &Path) -> anyhow::Result<Direct> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open {}", path.display()))?;
        // A write's savepoint keeps the pages it changes in a statement
        // journal, which SQLite spills to a temporary file past 64 KiB:
        // opened, written and closed by nearly every batch. In memory, it
        // is a copy of the pages and nothing more.
        conn.execute_batch(crate::db::SQLITE_PRAGMAS)
            .and_then(|()| {
                conn.execute_batch(&format!(
                    "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{}",
                    crate::db::CACHE_KIB
                ))
            })
            .context("cannot set the writer's pragmas")?;
        conn.busy_handler(Some(look_again))
            .context("cannot set the writer's busy handler")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Direct {
            conn,
            statements: HashMap::new(),
        })
    }

    /// One transaction for the batch, one savepoint per write; `answers`
    /// gets each write's answer as it runs (delivered by the caller once
    /// the batch's fate is known).
    pub fn commit(
        &mut self,
        batch: Vec<(Sql<'static>, Decide)>,
        answers: &mut Vec<Deliver>,
    ) -> Result<(), Batch> {
        let Direct { conn, statements } = self;
        let tx = conn.transaction().map_err(failed)?;
        for (sql, decide) in batch {
            plain(&tx, "SAVEPOINT group_write")?;
            let done = decide(run(&tx, statements, sql));
            answers.push(done.deliver);
            if done.locked {
                // Dropped, the transaction is rolled back.
                return Err(Batch::Locked);
            }
            if !done.keep {
                plain(&tx, "ROLLBACK TO SAVEPOINT group_write")?;
            }
            plain(&tx, "RELEASE SAVEPOINT group_write")?;
        }
        tx.commit().map_err(failed)
    }
}

/// How long the writer waits for a lock held by another connection before
/// its batch is answered "locked" (as `busy_timeout` said).
const BUSY_FOR: std::time::Duration = std::time::Duration::from_secs(10);

thread_local! {
    /// When the writer (on this thread) began to wait for the lock.
    static WAITING_SINCE: std::cell::Cell<Option<std::time::Instant>> =
        const { std::cell::Cell::new(None) };
}

/// The writer's busy handler, while another connection holds the file's
/// lock (a write outside the group commit, another process): it looks
/// again within 0.1–2 ms, where SQLite's own handler sleeps in steps of up
/// to 100 ms, and every write of the batch waited that long after the lock
/// was let go. `tries` is SQLite's count for this wait (0 first). Gives up
/// after [`BUSY_FOR`].
fn look_again(tries: i32) -> bool {
    let now = std::time::Instant::now();
    let since = WAITING_SINCE.with(|w| {
        let since = match w.get() {
            Some(since) if tries > 0 => since,
            _ => now,
        };
        w.set(Some(since));
        since
    });
    if now.duration_since(since) >= BUSY_FOR {
        return false;
    }
    let micros = (100u64 << tries.clamp(0, 5)).min(2_000);
    std::thread::sleep(std::time::Duration::from_micros(micros));
    true
}

/// One kept-prepared statement of the batch's own (a savepoint's).
fn plain(conn: &rusqlite::Connection, sql: &str) -> Result<(), Batch> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(failed)
}

fn failed(e: rusqlite::Error) -> Batch {
    Batch::Failed(anyhow::Error::new(e))
}

/// Runs `sql`'s statements in order; answers the rows they changed.
fn run(
    conn: &rusqlite::Connection,
    statements: &mut HashMap<String, Arc<[String]>>,
    sql: Sql<'static>,
) -> anyhow::Result<u64> {
    let cached = sql.is_cached();
    let (text, args) = sql.into_parts()?;
    let values = &args.values.0;
    let mut counter = Counter::default();
    let ran: rusqlite::Result<()> = if cached {
        let texts = split(conn, statements, &text)?;
        texts.iter().try_for_each(|one| {
            let mut statement = conn.prepare_cached(one)?;
            counter.step(conn, &mut statement, values)
        })
    } else {
        let mut all = rusqlite::Batch::new(conn, &text);
        (|| {
            while let Some(mut statement) = all.next()? {
                counter.step(conn, &mut statement, values)?;
            }
            Ok(())
        })()
    };
    ran.map_err(|e| anyhow::Error::new(e).context("the query failed"))?;
    Ok(counter.rows)
}

/// The rows changed so far, and the values given to `?` placeholders.
#[derive(Default)]
struct Counter {
    rows: u64,
    anonymous: usize,
}

impl Counter {
    /// Binds `values` to the statement's placeholders as sqlx's SQLite
    /// driver does (`$N` and `?N` by number, `?` in turn across the
    /// query's statements), runs it to its end and counts what it changed.
    fn step(
        &mut self,
        conn: &rusqlite::Connection,
        statement: &mut rusqlite::Statement<'_>,
        values: &[AnyValueKind<'_>],
    ) -> rusqlite::Result<()> {
        bind(statement, values, &mut self.anonymous)?;
        let mut rows = statement.raw_query();
        while rows.next()?.is_some() {}
        drop(rows);
        if !statement.readonly() {
            self.rows += conn.changes();
        }
        Ok(())
    }
}

/// Binds `values` to the statement's placeholders as sqlx's SQLite driver
/// does: `$N` and `?N` by number, `?` in turn (`anonymous` counts those
/// bound so far across a query's statements); past the values given, NULL.
pub(super) fn bind(
    statement: &mut rusqlite::Statement<'_>,
    values: &[AnyValueKind<'_>],
    anonymous: &mut usize,
) -> rusqlite::Result<()> {
    for i in 1..=statement.parameter_count() {
        let n = match statement.parameter_name(i) {
            Some(name) => name
                .get(1..)
                .and_then(|digits| digits.parse::<usize>().ok())
                .ok_or_else(|| {
                    rusqlite::Error::InvalidParameterName(format!(
                        "{name}: only $N, ?N and ? placeholders are bound"
                    ))
                })?,
            None => {
                *anonymous += 1;
                *anonymous
            }
        };
        if let Some(value) = n.checked_sub(1).and_then(|k| values.get(k)) {
            statement.raw_bind_parameter(i, ToSqlOutput::Borrowed(value_ref(value)?))?;
        }
    }
    Ok(())
}

fn value_ref<'a>(value: &'a AnyValueKind<'_>) -> rusqlite::Result<ValueRef<'a>> {
    Ok(match value {
        AnyValueKind::Null(_) => ValueRef::Null,
        AnyValueKind::Bool(b) => ValueRef::Integer(i64::from(*b)),
        AnyValueKind::SmallInt(i) => ValueRef::Integer(i64::from(*i)),
        AnyValueKind::Integer(i) => ValueRef::Integer(i64::from(*i)),
        AnyValueKind::BigInt(i) => ValueRef::Integer(*i),
        AnyValueKind::Real(f) => ValueRef::Real(f64::from(*f)),
        AnyValueKind::Double(f) => ValueRef::Real(*f),
        AnyValueKind::Text(s) => ValueRef::Text(s.as_bytes()),
        AnyValueKind::Blob(b) => ValueRef::Blob(b),
        // A kind of value sqlx may add later: refused, never bound as another.
        other => {
            return Err(rusqlite::Error::ToSqlConversionFailure(
                format!("a value of a kind this writer does not bind: {other:?}").into(),
            ))
        }
    })
}

/// The statements of `text`, each kept prepared under its own text. Split
/// once by [`split_text`] and checked against SQLite's own parser (the
/// same number of statements, each one whole), then remembered.
fn split(
    conn: &rusqlite::Connection,
    statements: &mut HashMap<String, Arc<[String]>>,
    text: &str,
) -> rusqlite::Result<Arc<[String]>> {
    if let Some(known) = statements.get(text) {
        return Ok(known.clone());
    }
    let pieces = split_text(text);
    let mut parsed = 0;
    let mut all = rusqlite::Batch::new(conn, text);
    while all.next()?.is_some() {
        parsed += 1;
    }
    let whole = pieces.len() == parsed
        && pieces.iter().all(|one| {
            let mut single = rusqlite::Batch::new(conn, one);
            matches!(single.next(), Ok(Some(_))) && matches!(single.next(), Ok(None))
        });
    if !whole {
        return Err(rusqlite::Error::InvalidQuery);
    }
    let pieces: Arc<[String]> = pieces.into();
    if statements.len() >= MAX_TEXTS {
        statements.clear();
    }
    statements.insert(text.to_owned(), pieces.clone());
    Ok(pieces)
}

/// `text` cut at each `;` outside a quoted string, a quoted name or a
/// comment; empty pieces left out.
fn split_text(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' | '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                // A doubled quote inside is two quotes: the scan closes and
                // reopens, which ends in the same place.
                for (_, d) in chars.by_ref() {
                    if d == close {
                        break;
                    }
                }
            }
            '-' if chars.peek().is_some_and(|(_, d)| *d == '-') => {
                for (_, d) in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|(_, d)| *d == '*') => {
                chars.next();
                let mut star = false;
                for (_, d) in chars.by_ref() {
                    if star && d == '/' {
                        break;
                    }
                    star = d == '*';
                }
            }
            ';' => {
                pieces.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&text[start..]);
    pieces
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_cut_only_outside_quotes_and_comments() {
        assert_eq!(
            split_text("UPDATE a SET b = 'x;y' WHERE c = 1; INSERT INTO \"t;\" VALUES (1);  "),
            [
                "UPDATE a SET b = 'x;y' WHERE c = 1",
                "INSERT INTO \"t;\" VALUES (1)"
            ]
        );
        assert_eq!(
            split_text("SELECT 'it''s; fine' -- a; comment\n; /* ; */ SELECT [a;b]"),
            ["SELECT 'it''s; fine' -- a; comment", "/* ; */ SELECT [a;b]"]
        );
        assert!(split_text(" ; ").is_empty());
    }

    #[test]
    fn only_a_plain_file_is_opened_directly() {
        assert_eq!(
            file_of("sqlite:///tmp/x/a.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x/a.db"))
        );
        assert_eq!(
            file_of("sqlite://data/a%20b.db"),
            Some(PathBuf::from("data/a b.db"))
        );
        assert_eq!(file_of("sqlite::memory:"), None);
        assert_eq!(file_of("sqlite://a.db?mode=memory"), None);
        assert_eq!(file_of("sqlite://a.db?mode=ro"), None);
    }

    #[test]
    fn values_bind_as_sqlx_binds_them() {
        let conn = rusqlite::Connection::open_in_memory().expect("db");
        conn.execute_batch("CREATE TABLE t (a BIGINT, b TEXT, c BIGINT)")
            .expect("table");
        let mut statements = HashMap::new();
        let mut q = Sql::new("INSERT INTO t (a, b, c) VALUES (");
        q.bind(7_i64)
            .push(", ")
            .bind("七")
            .push(", ")
            .bind(true)
            .push("); UPDATE t SET c = ")
            .bind(Option::<i64>::None)
            .push(" WHERE a = $1; SELECT 1");
        let rows = run(&conn, &mut statements, q).expect("ran");
        assert_eq!(rows, 2, "the insert and the update, not the select");
        let row: (i64, String, Option<i64>) = conn
            .query_row("SELECT a, b, c FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("row");
        assert_eq!(row, (7, "七".to_owned(), None));
        assert_eq!(statements.len(), 1, "the text's statements remembered");
        let uncached = Sql::new("DELETE FROM t WHERE a = $1").arg(7_i64).uncached();
        assert_eq!(run(&conn, &mut statements, uncached).expect("ran"), 1);
        assert_eq!(statements.len(), 1, "an uncached text is not remembered");
    }
}
