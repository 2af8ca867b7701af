//! The write path: one writer thread, one write connection, group commit.
//!
//! Every write of the process is a job sent to one thread that owns the only write connection
//! (direct SQLite, [`super::exec`]): a job's statements are calls into SQLite on that thread,
//! with no hand-off per statement. The thread takes the first queued job, drains whatever
//! else is queued (up to [`MAX_BATCH`]), and runs them all in one `BEGIN IMMEDIATE … COMMIT`.
//!
//! A job that fails must leave the others alone, and its own writes must not stand. Jobs
//! rarely fail, and a `SAVEPOINT` per job costs about a fifth of the writer's time (SQLite
//! copies every page a job first touches into the savepoint's journal), so a batch first runs
//! without them. If a job fails, the whole transaction is rolled back and the batch runs again
//! with each job in its own `SAVEPOINT`: the failed job is rolled back to it, alone. Jobs are
//! therefore functions that may run twice (`FnMut`); the run that counts is the last.
//!
//! Only after the `COMMIT` is each job answered, so a caller never hears "done" for a write
//! that was not durable (to the extent `synchronous=NORMAL` in WAL mode makes it so).
//!
//! Why one writer: SQLite has one writer at a time anyway; queueing in the process instead of
//! on the database lock serialises read-modify-writes (two PATCHes of one resource can never
//! lose each other's changes), never hits `SQLITE_BUSY` between our own writes, and lets
//! concurrent requests share one commit, which beats one transaction per request.
//! Reads use a separate pool (WAL lets readers run beside the writer).
//!
//! A [`BatchHook`] rides along: told when a batch begins and how each job ended, it writes
//! what the batch's jobs left for it (the audit rows and sync results of the directory) just
//! before the `COMMIT`, with statements prepared once for the whole batch. If that write
//! fails, the batch fails as a failed `COMMIT` would.
//!
//! When the [`Writer`] is dropped the channel closes; the thread finishes the jobs already
//! queued, then closes its connection.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use roster_core::StoreError;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Checkpoints;
use super::exec::Conn;

/// The most jobs one transaction runs. Each job is small (O(changes)), so a batch stays short
/// and a job waits for at most one batch ahead of it.
pub(crate) const MAX_BATCH: usize = 256;

/// How many jobs may wait; senders wait beyond that (back-pressure, not unbounded memory).
const QUEUE: usize = 4096;

/// What the writer tells about its batches (see the module docs).
pub(crate) trait BatchHook: Send + Sync + 'static {
    /// A batch begins (its transaction is open); `batch` numbers them from 1.
    fn begin(&self, batch: u64);
    /// A job of the batch ended: `ok` if it stands, else it was rolled back.
    fn job_done(&self, ok: bool);
    /// The last job is done and the transaction still open: write what is pending.
    fn before_commit(&self, conn: &Conn) -> Result<(), rusqlite::Error>;
}

/// One queued write, its result type erased.
trait Job: Send {
    /// Runs the work (again, if it ran in a batch that was rolled back); says whether it
    /// succeeded.
    fn run(&mut self, conn: &Conn) -> bool;

    /// Answers the caller with the last run's result, once the batch's `COMMIT` has
    /// succeeded (`None`) or failed.
    fn finish(self: Box<Self>, commit: Option<&rusqlite::Error>);
}

struct Typed<F, T> {
    work: F,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<F, T> Job for Typed<F, T>
where
    F: FnMut(&Conn) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    fn run(&mut self, conn: &Conn) -> bool {
        // A job that panics fails alone (its writes are undone like any failed job's); the
        // writer thread, and every write after it, goes on.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.work)(conn)))
            .unwrap_or_else(|_| {
                tracing::error!("a write job panicked; its writes are rolled back");
                Err(StoreError::Backend(
                    "the write job failed unexpectedly".into(),
                ))
            });
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Option<&rusqlite::Error>) {
        let answer = match (self.result, commit) {
            // A failed job's own error is the truth whatever became of the batch.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), None) => Ok(v),
            (Some(Ok(_)) | None, Some(e)) => Err(commit_failed(e)),
            (None, None) => Err(StoreError::Backend("a write job was not run".into())),
        };
        // The caller may have gone away (a cancelled request): the write stands.
        let _ = self.reply.send(answer);
    }
}

fn commit_failed(e: &rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("the write transaction failed: {e}").into())
}

fn stopped() -> StoreError {
    StoreError::Backend("the SQLite writer has stopped".into())
}

/// Counters of the writer, for tests and metrics.
#[derive(Debug, Default)]
struct WriterStats {
    jobs: AtomicU64,
    commits: AtomicU64,
}

/// A snapshot of the writer's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterCounts {
    /// Jobs run (succeeded or failed).
    pub jobs: u64,
    /// Transactions committed (or attempted).
    pub commits: u64,
    /// Jobs waiting in the queue now.
    pub queued: u64,
}

/// The handle the store writes through.
#[derive(Debug)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
    stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the writer thread, owning `conn` (on the database at `path`), and its
    /// checkpoint thread.
    pub(crate) fn spawn(
        conn: Conn,
        path: &Path,
        hook: Arc<dyn BatchHook>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(WriterStats::default());
        let counters = Arc::clone(&stats);
        let checkpoints = Checkpoints::spawn(path)?;
        std::thread::Builder::new()
            .name("roster-writer".to_owned())
            .spawn(move || run(&conn, rx, &counters, &*hook, &checkpoints))?;
        Ok(Self { tx, stats })
    }

    /// Runs `work` in the next batch and returns its result once that batch has committed.
    ///
    /// `work` may run more than once (see the module docs): it must do nothing but its writes
    /// and what it hands to the batch's hook.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnMut(&Conn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Box::new(Typed {
                work,
                result: None,
                reply,
            }))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The counters now.
    pub(crate) fn counts(&self) -> WriterCounts {
        WriterCounts {
            jobs: self.stats.jobs.load(Ordering::Relaxed),
            commits: self.stats.commits.load(Ordering::Relaxed),
            queued: (self.tx.max_capacity() - self.tx.capacity()) as u64,
        }
    }
}

/// The writer thread: batches until every sender is gone and the queue is empty, then lets
/// SQLite refresh its statistics (`PRAGMA optimize`) and closes the connection.
fn run(
    conn: &Conn,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    stats: &WriterStats,
    hook: &dyn BatchHook,
    checkpoints: &Checkpoints,
) {
    let mut number = 0;
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
        stats.commits.fetch_add(1, Ordering::Relaxed);
        let outcome = match run_batch(conn, &mut batch, hook, &mut number, false) {
            Err(Failed::Job) => run_batch(conn, &mut batch, hook, &mut number, true),
            other => other,
        };
        match outcome {
            Ok(()) => {
                for job in batch {
                    job.finish(None);
                }
                checkpoints.committed(conn);
            }
            Err(Failed::Job) => unreachable!("jobs in savepoints do not fail the batch"),
            Err(Failed::Batch(e)) => {
                tracing::error!(error = %e, "write transaction failed; rolled back");
                for job in batch {
                    job.finish(Some(&e));
                }
            }
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA analysis_limit = 400; PRAGMA optimize") {
        tracing::debug!(error = %e, "PRAGMA optimize when the writer stopped");
    }
    tracing::debug!("SQLite writer stopped");
}

/// Why a batch did not commit.
enum Failed {
    /// A job failed in a batch run without savepoints: it runs again with them.
    Job,
    /// SQLite failed: every job of the batch fails.
    Batch(rusqlite::Error),
}

/// Runs the jobs of a batch in one transaction, each in its own savepoint if `isolated`;
/// commits unless a job failed and it is not `isolated`, or SQLite failed (then the
/// transaction is rolled back).
fn run_batch(
    conn: &Conn,
    batch: &mut [Box<dyn Job>],
    hook: &dyn BatchHook,
    number: &mut u64,
    isolated: bool,
) -> Result<(), Failed> {
    // IMMEDIATE takes the write lock now (waiting up to busy_timeout for another process,
    // such as the CLI), so no statement of the batch can fail for want of it.
    let outcome = conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(Failed::Batch)
        .and_then(|()| {
            // A new number even for a second run: what the first one checked was rolled back.
            *number += 1;
            hook.begin(*number);
            for job in batch.iter_mut() {
                if isolated {
                    conn.execute_batch("SAVEPOINT job").map_err(Failed::Batch)?;
                }
                let ok = job.run(conn);
                hook.job_done(ok);
                match (ok, isolated) {
                    (true, false) => {}
                    (false, false) => return Err(Failed::Job),
                    (true, true) => conn.execute_batch("RELEASE job").map_err(Failed::Batch)?,
                    (false, true) => conn
                        .execute_batch("ROLLBACK TO job; RELEASE job")
                        .map_err(Failed::Batch)?,
                }
            }
            hook.before_commit(conn).map_err(Failed::Batch)?;
            conn.execute_batch("COMMIT").map_err(Failed::Batch)
        });
    if outcome.is_err() && !conn.is_autocommit() {
        // SQLite may have rolled back by itself on some errors.
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::debug!(error = %e, "rollback after a failed batch");
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    struct NoHook;

    impl BatchHook for NoHook {
        fn begin(&self, _: u64) {}
        fn job_done(&self, _: bool) {}
        fn before_commit(&self, _: &Conn) -> Result<(), rusqlite::Error> {
            Ok(())
        }
    }

    const DB: &str = "w.db";

    /// A writer on a new database with a table `t (x INTEGER UNIQUE)` (the directory goes
    /// when the returned handle is dropped).
    fn writer() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB);
        let conn = Conn::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER UNIQUE)")
            .unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let writer = Writer::spawn(conn, &path, Arc::new(NoHook)).unwrap();
        (dir, writer)
    }

    fn insert(conn: &Conn, x: i64) -> Result<(), StoreError> {
        conn.execute("INSERT INTO t (x) VALUES (?)", [x])
            .map(drop)
            .map_err(super::super::exec::write_error)
    }

    /// A job that fails after writing, in a batch with others: its writes are undone, the
    /// others' stand, and the batch's jobs ran twice (without savepoints, then with them).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_job_is_undone_alone() {
        let (dir, writer) = writer();
        let path = dir.path().join(DB);
        let writer = Arc::new(writer);

        // Another connection holds the write lock: the writer waits in its first batch while
        // the jobs under test queue up behind it.
        let blocker = Conn::open(&path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let first = {
            let writer = Arc::clone(&writer);
            tokio::spawn(async move { writer.write(|conn| insert(conn, 0)).await })
        };
        while writer.counts().jobs == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (i, xs) in [vec![1], vec![2, 1], vec![3]].into_iter().enumerate() {
            let (w, runs) = (Arc::clone(&writer), Arc::clone(&runs));
            tasks.push(tokio::spawn(async move {
                w.write(move |conn| {
                    runs.fetch_add(1, Ordering::Relaxed);
                    xs.iter().try_for_each(|&x| insert(conn, x))
                })
                .await
            }));
            while writer.counts().queued < i as u64 + 1 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        blocker.execute_batch("COMMIT").unwrap();

        first.await.unwrap().unwrap();
        let results: Vec<_> = futures_results(tasks).await;
        assert!(results[0].is_ok(), "{results:?}");
        assert!(
            matches!(results[1], Err(StoreError::Conflict(_))),
            "{results:?}"
        );
        assert!(results[2].is_ok(), "{results:?}");
        let mut rows = blocker.prepare("SELECT x FROM t ORDER BY x").unwrap();
        let xs: Vec<i64> = rows
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(xs, [0, 1, 3], "the failed job's first insert is undone");
        // The first run stopped at the failed job (two jobs ran), the second ran all three.
        assert_eq!(runs.load(Ordering::Relaxed), 5);
        assert_eq!(writer.counts().commits, 2);
    }

    async fn futures_results(
        tasks: Vec<tokio::task::JoinHandle<Result<(), StoreError>>>,
    ) -> Vec<Result<(), StoreError>> {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    /// A job that panics fails alone; the writer goes on with the next ones.
    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let (_dir, writer) = writer();
        let panicked = writer
            .write(|conn| -> Result<(), StoreError> {
                insert(conn, 1)?;
                panic!("a bug in a job");
            })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Backend(_))),
            "{panicked:?}"
        );
        writer.write(|conn| insert(conn, 2)).await.unwrap();
        let xs: Vec<i64> = writer
            .write(|conn| {
                let mut s = conn.prepare("SELECT x FROM t ORDER BY x").unwrap();
                Ok(s.query_map([], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap())
            })
            .await
            .unwrap();
        assert_eq!(xs, [2], "the panicking job's insert was rolled back");
    }
}
