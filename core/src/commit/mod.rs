//! Group commit: the writes that settle payments and refunds, each in its
//! own savepoint, committed together in small batches by one writer, so one
//! disk flush makes many callbacks durable at once. A caller learns its
//! result only once the batch holding its writes is committed: nothing is
//! acknowledged to a provider before it is on disk.
//!
//! The writer takes whatever is waiting when it starts a batch (up to
//! [`MAX_BATCH`]): alone, a write commits at once; under load, the writes
//! that arrived during one commit go together in the next.
//!
//! That is SQLite's way, where one connection writes at a time. PostgreSQL
//! takes many writers at once and groups the disk flushes of concurrent
//! commits itself, while one writer there would pay a network round trip per
//! statement in line: on PostgreSQL each write runs in its own transaction on
//! a connection of the pool ([`GroupCommit::concurrent`]), with the same
//! answers (nothing before its commit, a discarded or failed write rolled
//! back alone). There, the callbacks' own reads and payments that arrive
//! together go together instead, as one statement for many
//! ([`Together`], `store/orders/batch.rs`).

mod direct;
mod reader;
mod together;

use crate::store::sql::Sql;
use anyhow::Context;
pub use direct::file_of;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
pub use reader::Readers;
use sqlx::{AnyConnection, AnyPool, Either, Executor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
pub use together::Together;
use tokio::sync::{mpsc, oneshot};

/// The most writes committed together.
pub const MAX_BATCH: usize = 64;

/// What a write decided: keep its changes, or roll them back (a lost
/// compare-and-set, a duplicate) while still answering the caller.
pub enum Step<T> {
    Keep(T),
    Discard(T),
}

impl<T> Step<T> {
    /// Keeps the write's changes when `keep`, else rolls them back; answers `value` either way.
    pub fn keep_if(keep: bool, value: T) -> Step<T> {
        if keep {
            Step::Keep(value)
        } else {
            Step::Discard(value)
        }
    }
}

/// Whether a write's changes stay, and what its caller is answered.
fn decided<T>(step: anyhow::Result<Step<T>>) -> (bool, anyhow::Result<T>) {
    match step {
        Ok(Step::Keep(v)) => (true, Ok(v)),
        Ok(Step::Discard(v)) => (false, Ok(v)),
        Err(e) => (false, Err(e)),
    }
}

/// The answer of a write whose batch was not committed: the database
/// refused it, or is locked by another process (then every write waiting is
/// answered at once, instead of each waiting out the busy timeout in turn).
/// Callers answer "try again shortly".
#[derive(Debug)]
pub struct NotCommitted;

impl std::fmt::Display for NotCommitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the write was not committed: the database refused its batch")
    }
}

impl std::error::Error for NotCommitted {}

/// Whether `e` says SQLite is locked by another process past the busy timeout.
fn is_locked(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .is_some_and(is_locked_error)
            || matches!(
                cause.downcast_ref::<rusqlite::Error>(),
                Some(rusqlite::Error::SqliteFailure(f, _))
                    if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            )
    })
}

/// Whether SQLite answered "locked": busy past the timeout, or a locked table.
pub fn is_locked_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(
                d.code().as_deref(),
                Some("5" | "6" | "SQLITE_BUSY" | "SQLITE_LOCKED")
            ) || d.message().contains("database is locked")
        }
        _ => false,
    }
}

type Deliver = Box<dyn FnOnce(anyhow::Result<()>) + Send>;
type Steps = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, Done> + Send>;
type Decide = Box<dyn FnOnce(anyhow::Result<u64>) -> Done + Send>;

/// A write waiting for its batch.
enum Work {
    /// Code that runs its statements on the batch's connection, one round
    /// trip each.
    Steps(Steps),
    /// One query (one statement or several): sent in the same round trip
    /// as the savepoint statements around it, so a write of this kind costs
    /// the writer one hop to SQLite's connection thread instead of two.
    /// `decide` is given the rows its own statements changed.
    Query { sql: Sql<'static>, decide: Decide },
}

/// A write that ran: whether to keep it, and how to answer its caller once
/// the batch's fate is known.
struct Done {
    keep: bool,
    /// The write failed because the database is locked: the batch ends.
    locked: bool,
    deliver: Deliver,
}

#[derive(Clone)]
pub struct GroupCommit {
    way: Way,
    counts: Arc<Counts>,
}

#[derive(Clone)]
enum Way {
    /// One writer commits what is waiting in batches (SQLite).
    Batches(mpsc::Sender<Work>),
    /// Each write commits alone, concurrently (PostgreSQL).
    Alone(AnyPool),
}

/// Batches committed and writes in them, since the start.
#[derive(Default)]
struct Counts {
    batches: AtomicU64,
    writes: AtomicU64,
    /// Of the batches, those committed on the writer's own connection.
    direct: AtomicU64,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

impl GroupCommit {
    /// Starts the writer on `pool` (it ends when the last handle is dropped).
    /// With `checkpoints`, a pool of other connections to the same SQLite
    /// file, the write-ahead log is copied into the database by one of those
    /// after the batches (at most every [`CHECKPOINT_EVERY`]), so that the
    /// writer never does it between two batches. With `file`, the SQLite
    /// file behind `pool` ([`file_of`]), the writer opens its own connection
    /// to it and runs the batches of query writes there, on its own thread
    /// (`direct.rs`); batches holding a closure, or every batch when the file
    /// cannot be opened so, go through `pool`.
    pub fn start(
        pool: AnyPool,
        checkpoints: Option<AnyPool>,
        file: Option<std::path::PathBuf>,
    ) -> GroupCommit {
        let (queue, waiting) = mpsc::channel(4 * MAX_BATCH);
        let counts = Arc::new(Counts::default());
        // On a thread of its own: the writer's every step is a hop to and
        // from SQLite's connection thread, and on the shared runtime each
        // return waited behind the requests in its workers' queues. Here it
        // is taken up at once.
        let counts_of_writer = counts.clone();
        let own = std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || {
                let direct = file.and_then(|path| match direct::Direct::open(&path) {
                    Ok(direct) => Some(direct),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "the database writer goes through the pool");
                        None
                    }
                });
                let work = writer(pool, direct, waiting, counts_of_writer, checkpoints);
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(work),
                    Err(e) => tracing::error!(error = %e, "cannot start the database writer"),
                }
            });
        if let Err(e) = own {
            // Every write is answered "the database writer has stopped".
            tracing::error!(error = %e, "cannot start the database writer's thread");
        }
        GroupCommit {
            way: Way::Batches(queue),
            counts,
        }
    }

    /// Each write in its own transaction, as many at once as the pool has
    /// connections: for a database that groups concurrent commits itself.
    pub fn concurrent(pool: AnyPool) -> GroupCommit {
        GroupCommit {
            way: Way::Alone(pool),
            counts: Arc::default(),
        }
    }

    /// (batches committed, writes in them) since the start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counts.batches.load(Ordering::Relaxed),
            self.counts.writes.load(Ordering::Relaxed),
        )
    }

    /// Batches committed on the writer's own connection (`direct.rs`).
    #[cfg(test)]
    fn direct_batches(&self) -> u64 {
        self.counts.direct.load(Ordering::Relaxed)
    }

    /// Runs `write` in the next batch and answers once that batch is
    /// committed. An error from `write` rolls back its own changes only;
    /// a failed commit fails every write of the batch (none of them stays).
    pub async fn run<T, W>(&self, write: W) -> anyhow::Result<T>
    where
        T: Send + 'static,
        W: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, anyhow::Result<Step<T>>>
            + Send
            + 'static,
    {
        let queue = match &self.way {
            Way::Batches(queue) => queue,
            Way::Alone(pool) => return self.alone(pool, write).await,
        };
        let (answer, answered) = oneshot::channel::<anyhow::Result<T>>();
        let work = Work::Steps(Box::new(move |conn| {
            Box::pin(async move { done(write(conn).await, answer) })
        }));
        enqueue(queue, work, answered).await
    }

    /// Runs `sql` (one statement or several, in one round trip) as a write
    /// of the next batch; `decide` is given the rows its statements changed
    /// and says whether they stay. Answers once that batch is committed,
    /// like [`GroupCommit::run`].
    pub async fn query<T, D>(&self, sql: Sql<'static>, decide: D) -> anyhow::Result<T>
    where
        T: Send + 'static,
        D: FnOnce(u64) -> anyhow::Result<Step<T>> + Send + 'static,
    {
        let queue = match &self.way {
            Way::Batches(queue) => queue,
            Way::Alone(pool) => {
                return self
                    .alone(pool, move |conn| {
                        Box::pin(
                            async move { decide(sql.execute(&mut *conn).await?.rows_affected()) },
                        )
                    })
                    .await
            }
        };
        let (answer, answered) = oneshot::channel::<anyhow::Result<T>>();
        let decide: Decide = Box::new(move |rows| done(rows.and_then(decide), answer));
        enqueue(queue, Work::Query { sql, decide }, answered).await
    }

    /// One statement that is a write of its own (payment log rows, a
    /// notification): in the next batch, or alone in its own implicit
    /// transaction (one round trip, where a transaction would take three).
    /// Answers the number of rows it changed.
    pub async fn single(&self, statement: Sql<'static>) -> anyhow::Result<u64> {
        match &self.way {
            Way::Alone(pool) => {
                let done = statement.execute(pool).await?;
                self.counts.batches.fetch_add(1, Ordering::Relaxed);
                self.counts.writes.fetch_add(1, Ordering::Relaxed);
                Ok(done.rows_affected())
            }
            Way::Batches(_) => self.query(statement, |rows| Ok(Step::Keep(rows))).await,
        }
    }

    /// One write, one transaction: committed when kept, rolled back when
    /// discarded or failed; answered after the commit.
    async fn alone<T, W>(&self, pool: &AnyPool, write: W) -> anyhow::Result<T>
    where
        W: for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, anyhow::Result<Step<T>>>,
    {
        let mut tx = pool.begin().await.context("cannot start a write")?;
        let (keep, result) = decided(write(&mut tx).await);
        if keep {
            tx.commit().await.context("cannot commit")?;
            self.counts.batches.fetch_add(1, Ordering::Relaxed);
        } else if let Err(e) = tx.rollback().await {
            // Nothing of it stays either way: the connection is closed.
            tracing::warn!(error = %e, "cannot roll back a write");
        }
        self.counts.writes.fetch_add(1, Ordering::Relaxed);
        result
    }
}

/// What ran: whether it stays, and how its caller is answered once the
/// batch's fate is known.
fn done<T: Send + 'static>(
    step: anyhow::Result<Step<T>>,
    answer: oneshot::Sender<anyhow::Result<T>>,
) -> Done {
    let (keep, result) = decided(step);
    let locked = result.as_ref().err().is_some_and(is_locked);
    let deliver: Deliver = Box::new(move |committed| {
        let _ = answer.send(committed.and(result));
    });
    Done {
        keep,
        locked,
        deliver,
    }
}

/// Queues `work` for the writer and waits for its answer.
async fn enqueue<T>(
    queue: &mpsc::Sender<Work>,
    work: Work,
    answered: oneshot::Receiver<anyhow::Result<T>>,
) -> anyhow::Result<T> {
    queue
        .send(work)
        .await
        .map_err(|_| anyhow::anyhow!("the database writer has stopped"))?;
    answered
        .await
        .map_err(|_| anyhow::Error::new(NotCommitted))?
}

/// How often at most the write-ahead log is checkpointed beside the writer.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Copies what the write-ahead log holds into the database, beside the
/// writer, at most every [`CHECKPOINT_EVERY`] and never two at once.
struct Checkpoints {
    pool: AnyPool,
    last: std::time::Instant,
    running: Arc<std::sync::atomic::AtomicBool>,
}

impl Checkpoints {
    /// After a commit: starts a checkpoint if one is due and none runs.
    fn after_commit(&mut self) {
        if self.last.elapsed() < CHECKPOINT_EVERY || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.last = std::time::Instant::now();
        let (pool, running) = (self.pool.clone(), self.running.clone());
        tokio::spawn(async move {
            // PASSIVE: copies what no reader still needs, waits for no one;
            // the writer goes on appending meanwhile.
            if let Err(e) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::warn!(error = %e, "cannot checkpoint the write-ahead log");
            }
            running.store(false, Ordering::Release);
        });
    }
}

async fn writer(
    pool: AnyPool,
    mut direct: Option<direct::Direct>,
    mut waiting: mpsc::Receiver<Work>,
    counts: Arc<Counts>,
    checkpoints: Option<AnyPool>,
) {
    let mut checkpoints = checkpoints.map(|pool| Checkpoints {
        pool,
        last: std::time::Instant::now(),
        running: Arc::default(),
    });
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Each transaction's fate, with the answers of its writes.
        let mut finished = Vec::with_capacity(2);
        match &mut direct {
            Some(direct) => {
                // The query writes on the writer's own connection, then any
                // closures through the pool: two transactions, one after
                // the other, for writes that came in together (none waits
                // on another's answer, so their order is free).
                let (mut queries, mut steps) = (Vec::new(), Vec::new());
                for work in batch.drain(..) {
                    match work {
                        Work::Query { sql, decide } => queries.push((sql, decide)),
                        closure => steps.push(closure),
                    }
                }
                let mut locked = false;
                if !queries.is_empty() {
                    let mut answers = Vec::with_capacity(queries.len());
                    let committed = direct.commit(queries, &mut answers);
                    if committed.is_ok() {
                        counts.direct.fetch_add(1, Ordering::Relaxed);
                    }
                    locked = matches!(committed, Err(Batch::Locked));
                    finished.push((committed, answers));
                }
                // Locked: the closures would wait out the busy timeout
                // again; dropped, they are answered `NotCommitted`.
                if !steps.is_empty() && !locked {
                    let mut answers = Vec::with_capacity(steps.len());
                    let committed = commit_batch(&pool, steps.into_iter(), &mut answers).await;
                    finished.push((committed, answers));
                }
            }
            None => {
                let mut answers = Vec::with_capacity(batch.len());
                let committed = commit_batch(&pool, batch.drain(..), &mut answers).await;
                finished.push((committed, answers));
            }
        }
        if finished
            .iter()
            .any(|(committed, _)| matches!(committed, Err(Batch::Locked)))
        {
            // Locked by another process: what waited meanwhile would only
            // wait out the busy timeout in turn. Dropped, each is answered
            // `NotCommitted` now.
            while waiting.try_recv().is_ok() {}
        }
        for (committed, answers) in finished {
            match &committed {
                Ok(()) => {
                    if let Some(c) = &mut checkpoints {
                        c.after_commit();
                    }
                    counts.batches.fetch_add(1, Ordering::Relaxed);
                    counts
                        .writes
                        .fetch_add(answers.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(error = %e, writes = answers.len(), "a batch of writes failed")
                }
            }
            deliver(answers, &committed);
        }
    }
}

/// Answers each write of a batch with the batch's fate.
fn deliver(answers: Vec<Deliver>, committed: &Result<(), Batch>) {
    for answer in answers {
        answer(
            committed.as_ref().map(|_| ()).map_err(|e| {
                anyhow::Error::new(NotCommitted).context(format!("cannot commit: {e}"))
            }),
        );
    }
}

/// One transaction for the batch, one savepoint per write. Writes that
/// never ran (the batch failed first) are dropped with their answer, which
/// their callers receive as an error.
/// Why a batch was not committed.
#[derive(Debug)]
enum Batch {
    Failed(anyhow::Error),
    /// A write found the database locked by another process.
    Locked,
}

impl std::fmt::Display for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Batch::Failed(e) => write!(f, "{e:#}"),
            Batch::Locked => f.write_str("the database is locked by another process"),
        }
    }
}

impl From<sqlx::Error> for Batch {
    fn from(e: sqlx::Error) -> Batch {
        Batch::Failed(anyhow::Error::new(e))
    }
}

async fn commit_batch(
    pool: &AnyPool,
    batch: impl Iterator<Item = Work>,
    answers: &mut Vec<Deliver>,
) -> Result<(), Batch> {
    let mut tx = pool.begin().await?;
    // Each round trip to the database counts: the end of one write and the
    // start of the next go together.
    let mut open = "SAVEPOINT group_write";
    for work in batch {
        let done = match work {
            Work::Steps(steps) => {
                tx.execute(sqlx::raw_sql(open)).await?;
                steps(&mut tx).await
            }
            Work::Query { sql, decide } => match after(&mut tx, open, sql).await {
                Ok(rows) => decide(Ok(rows)),
                Err(Ran::Own(e)) => decide(Err(e)),
                // The savepoint's own statements failed: the batch ends
                // (the write, dropped unanswered, is answered `NotCommitted`).
                Err(Ran::Opening(e)) => return Err(e.into()),
            },
        };
        answers.push(done.deliver);
        if done.locked {
            // The rest of the batch would wait out the busy timeout each.
            return Err(Batch::Locked);
        }
        open = if done.keep {
            "RELEASE SAVEPOINT group_write; SAVEPOINT group_write"
        } else {
            "ROLLBACK TO SAVEPOINT group_write; RELEASE SAVEPOINT group_write; SAVEPOINT group_write"
        };
    }
    // The last write's end: keep or roll back its savepoint, then commit.
    if open.starts_with("ROLLBACK") {
        tx.execute("ROLLBACK TO SAVEPOINT group_write").await?;
    }
    Ok(tx.commit().await?)
}

/// Which part of a query sent after the savepoint statements failed.
enum Ran {
    /// The savepoint statements (`open`): the batch cannot go on.
    Opening(sqlx::Error),
    /// The write's own statements: rolled back to its savepoint.
    Own(anyhow::Error),
}

/// Runs the statements `open`, then `sql`, in one round trip; answers the
/// rows changed by `sql`'s statements alone.
async fn after(conn: &mut AnyConnection, open: &str, sql: Sql<'static>) -> Result<u64, Ran> {
    let cached = sql.is_cached();
    let (text, args) = match sql.into_parts() {
        Ok(parts) => parts,
        Err(e) => {
            // Nothing of the write can run; the savepoint is opened anyway,
            // as the next write expects.
            conn.execute(sqlx::raw_sql(open))
                .await
                .map_err(Ran::Opening)?;
            return Err(Ran::Own(e));
        }
    };
    // Each statement answers one result, the savepoint's first.
    let opening = open.split(';').count();
    let text = format!("{open}; {text}");
    let mut results = conn.fetch_many(sqlx::query_with(&text, args).persistent(cached));
    let (mut seen, mut rows) = (0, 0);
    while let Some(result) = results.next().await {
        match result {
            Ok(Either::Left(done)) => {
                seen += 1;
                if seen > opening {
                    rows += done.rows_affected();
                }
            }
            Ok(Either::Right(_)) => {}
            Err(e) if seen < opening => return Err(Ran::Opening(e)),
            Err(e) => return Err(Ran::Own(anyhow::Error::new(e).context("the query failed"))),
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    async fn count(db: &Db) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM settings_probe")
            .fetch_one(&db.pool)
            .await
            .expect("count")
    }

    /// A fresh SQLite database with one table, `settings_probe (n)`, in a
    /// folder of its own (removed by the test).
    async fn probe_db() -> (Db, std::path::PathBuf) {
        let (db, dir) = crate::db::temp_sqlite("commit").await;
        sqlx::query("CREATE TABLE settings_probe (n BIGINT NOT NULL)")
            .execute(&db.pool)
            .await
            .expect("table");
        (db, dir)
    }

    async fn insert(
        commits: &GroupCommit,
        n: i64,
        step: fn(i64) -> Step<i64>,
    ) -> anyhow::Result<i64> {
        commits
            .run(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO settings_probe (n) VALUES ($1)")
                        .bind(n)
                        .execute(&mut *conn)
                        .await?;
                    if n % 7 == 3 {
                        anyhow::bail!("write {n} fails after its insert");
                    }
                    Ok(step(n))
                })
            })
            .await
    }

    #[tokio::test]
    async fn writes_commit_in_batches_each_kept_or_rolled_back_alone() {
        let (db, dir) = probe_db().await;
        let writes = 300;
        let mut tasks = Vec::new();
        for n in 0..writes {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                // Every fifth write rolls itself back; every seventh fails.
                let step = if n % 5 == 0 {
                    Step::Discard
                } else {
                    Step::Keep
                };
                (n, insert(&db.commits, n, step).await)
            }));
        }
        let mut kept = 0;
        for t in tasks {
            let (n, answer) = t.await.expect("task");
            match answer {
                Ok(v) => {
                    assert_eq!(v, n);
                    assert_ne!(n % 7, 3);
                    if n % 5 != 0 {
                        kept += 1;
                    }
                }
                Err(e) => {
                    assert_eq!(n % 7, 3, "{e}");
                    assert!(e.to_string().contains("fails after its insert"), "{e}");
                }
            }
        }
        assert_eq!(count(&db).await, kept, "exactly the kept writes stayed");
        let (batches, written) = db.commits.counts();
        assert_eq!(written, writes as u64);
        assert!(
            batches < written / 4,
            "{batches} batches for {written} concurrent writes: not grouped"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A query write of two inserts (and a third statement that cannot run
    /// when `fails`), kept unless `discard`; answers the rows it changed.
    async fn insert_twice(
        commits: &GroupCommit,
        n: i64,
        fails: bool,
        discard: bool,
    ) -> anyhow::Result<u64> {
        let mut q = Sql::new("INSERT INTO settings_probe (n) VALUES (");
        q.bind(n)
            .push("); INSERT INTO settings_probe (n) VALUES (")
            .bind(n)
            .push(")");
        if fails {
            q.push("; INSERT INTO no_such_table (n) VALUES (1)");
        }
        commits
            .query(q, move |rows| Ok(Step::keep_if(!discard, rows)))
            .await
    }

    /// Checks the answer of [`insert_twice`] for write `n` (failing when
    /// `n % 10 == 1`, discarded when `n % 4 == 0`): the rows it kept.
    fn tally_insert_twice(n: i64, answer: anyhow::Result<u64>) -> i64 {
        if n % 10 == 1 {
            let e = answer.expect_err("a failing statement is an error");
            assert!(format!("{e:#}").contains("no_such_table"), "{e:#}");
            return 0;
        }
        // The savepoint statements sent before it are not counted.
        assert_eq!(answer.expect("written"), 2, "write {n}");
        if n % 4 != 0 {
            2
        } else {
            0
        }
    }

    #[tokio::test]
    async fn query_writes_count_their_own_rows_and_are_rolled_back_alone() {
        let (db, dir) = probe_db().await;
        let mut tasks = Vec::new();
        for n in 0..240i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                // Closures and queries in the same batches: every third
                // write a closure (every seventh of all fails after its
                // insert), the others queries of two rows (every fourth
                // discarded, every tenth failing at its third statement).
                let answer = if n % 3 == 0 {
                    insert(&db.commits, n, Step::Keep).await.map(|_| 1)
                } else {
                    insert_twice(&db.commits, n, n % 10 == 1, n % 4 == 0).await
                };
                (n, answer)
            }));
        }
        let mut kept = 0;
        for t in tasks {
            let (n, answer) = t.await.expect("task");
            if n % 3 == 0 {
                match answer {
                    Ok(_) => kept += 1,
                    Err(e) => assert_eq!(n % 7, 3, "{e:#}"),
                }
            } else {
                kept += tally_insert_twice(n, answer);
            }
        }
        assert_eq!(count(&db).await, kept, "exactly the kept writes stayed");
        let (batches, written) = db.commits.counts();
        assert_eq!(written, 240);
        assert!(batches < written / 4, "{batches} batches: not grouped");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn query_writes_alone_commit_on_the_writers_own_connection() {
        let (db, dir) = probe_db().await;
        let mut tasks = Vec::new();
        for n in 0..300i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                // Every fourth discarded, every tenth failing at its third
                // statement.
                let answer = insert_twice(&db.commits, n, n % 10 == 1, n % 4 == 0).await;
                (n, answer)
            }));
        }
        let mut kept = 0;
        for t in tasks {
            let (n, answer) = t.await.expect("task");
            kept += tally_insert_twice(n, answer);
        }
        assert_eq!(count(&db).await, kept, "exactly the kept writes stayed");
        let (batches, written) = db.commits.counts();
        assert_eq!(written, 300);
        assert!(batches < written / 4, "{batches} batches: not grouped");
        assert_eq!(
            db.commits.direct_batches(),
            batches,
            "batches of queries alone went through sqlx"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// While another process holds SQLite's write lock, five writes made by
    /// `write` are all answered `NotCommitted` within about one busy timeout.
    async fn locked_out<F>(write: F)
    where
        F: Fn(Db, i64) -> BoxFuture<'static, anyhow::Result<()>>,
    {
        use sqlx::Connection;
        let (db, dir) = probe_db().await;
        // Another process takes the write lock and keeps it.
        let mut locker = sqlx::AnyConnection::connect(&db.url).await.expect("locker");
        locker.execute("BEGIN IMMEDIATE").await.expect("lock");
        locker
            .execute("INSERT INTO settings_probe (n) VALUES (0)")
            .await
            .expect("write");
        let started = std::time::Instant::now();
        let writes: Vec<_> = [1, 2, 4, 5, 6]
            .into_iter()
            .map(|n| tokio::spawn(write(db.clone(), n)))
            .collect();
        for w in writes {
            let e = w.await.expect("task").expect_err("committed while locked");
            assert!(
                e.chain().any(|c| c.is::<NotCommitted>()),
                "not answered as not committed: {e:#}"
            );
        }
        // One busy timeout (10 s) for all of them, where each waiting it
        // out in turn took five.
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(25), "took {took:?}");
        locker.execute("ROLLBACK").await.expect("unlock");
        assert_eq!(count(&db).await, 0, "nothing written");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_database_locked_by_another_process_answers_every_waiting_write_at_once() {
        locked_out(|db, n| {
            Box::pin(async move { insert(&db.commits, n, Step::Keep).await.map(|_| ()) })
        })
        .await;
    }

    #[tokio::test]
    async fn a_locked_database_answers_every_waiting_query_write_at_once() {
        locked_out(|db, n| {
            Box::pin(async move { insert_twice(&db.commits, n, false, false).await.map(|_| ()) })
        })
        .await;
    }

    #[tokio::test]
    async fn a_commit_refused_on_the_writers_own_connection_keeps_nothing_and_fails_every_write() {
        let (db, dir) = probe_db().await;
        // A reference checked only at the commit: a write breaking it runs,
        // and the batch holding it cannot commit.
        sqlx::raw_sql(
            "CREATE TABLE parents (n BIGINT PRIMARY KEY); \
             CREATE TABLE children (p BIGINT REFERENCES parents (n) DEFERRABLE INITIALLY DEFERRED)",
        )
        .execute(&db.pool)
        .await
        .expect("tables");
        // Queries only, so the batch is the writer's own; the one with no
        // parent is sent while the others wait, so they share its batch.
        let mut tasks = Vec::new();
        for n in 0..40i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let q = if n == 20 {
                    Sql::new("INSERT INTO children (p) VALUES ($1)").arg(999_i64)
                } else {
                    Sql::new("INSERT INTO settings_probe (n) VALUES ($1)").arg(n)
                };
                db.commits.single(q).await
            }));
        }
        let mut failed = 0;
        for t in tasks {
            if let Err(e) = t.await.expect("task") {
                assert!(
                    e.chain().any(|c| c.is::<NotCommitted>()),
                    "not answered as not committed: {e:#}"
                );
                failed += 1;
            }
        }
        assert!(
            failed >= 1,
            "the write breaking the reference was answered Ok"
        );
        let children: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM children")
            .fetch_one(&db.pool)
            .await
            .expect("count");
        assert_eq!(children, 0, "the refused batch left its row");
        // Whatever was answered Ok stayed; whatever shared the refused batch
        // was answered with an error and left nothing.
        assert_eq!(count(&db).await, 40 - failed, "answers and rows disagree");
        // The writer goes on: its connection is usable after the refusal.
        let after = db
            .commits
            .single(Sql::new("INSERT INTO settings_probe (n) VALUES ($1)").arg(100_i64))
            .await;
        assert_eq!(after.expect("a write after the refused batch"), 1);
        assert!(
            db.commits.direct_batches() > 0,
            "not on the writer's own connection"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_failed_commit_answers_every_write_of_its_batch_with_an_error() {
        // A pool whose database cannot be written: the batch fails as a whole.
        let (db, dir) = probe_db().await;
        let commits = GroupCommit::start(db.pool.clone(), None, None);
        db.pool.close().await;
        let answer = insert(&commits, 1, Step::Keep).await;
        assert!(answer.is_err(), "a write answered Ok without a commit");
        let _ = std::fs::remove_dir_all(dir);
    }
}
