//! The write path: one writer thread, one write connection, group commit.
//!
//! Every write of the process is a job sent to one thread that owns the only write connection
//! (direct SQLite, [`super::exec`]): a job's statements are calls into SQLite on that thread,
//! with no hand-off per statement. The thread takes the first queued job, drains whatever else is queued (up to
//! [`MAX_BATCH`]), and runs them all in one `BEGIN IMMEDIATE … COMMIT`, each inside its own
//! `SAVEPOINT`: a job that fails is rolled back to its savepoint and leaves the others alone.
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
//! before the `COMMIT`, in one statement for the whole batch instead of one per job. If that
//! write fails, the batch fails as a failed `COMMIT` would.
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

/// What to do once the batch's `COMMIT` has succeeded (`None`) or failed.
type Finish = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;

/// One queued write, its result type erased.
trait Job: Send {
    /// Runs the work; says whether it succeeded (else its savepoint is rolled back), and
    /// returns how to answer the caller once the commit is known.
    fn run(self: Box<Self>, conn: &Conn) -> (bool, Finish);

    /// Answers the caller without running (the batch could not start).
    fn fail(self: Box<Self>, error: &rusqlite::Error);
}

struct Typed<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<F, T> Job for Typed<F, T>
where
    F: FnOnce(&Conn) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Conn) -> (bool, Finish) {
        let Typed { work, reply } = *self;
        let result = work(conn);
        let ok = result.is_ok();
        let finish: Finish = Box::new(move |commit: Option<&rusqlite::Error>| {
            let answer = match (result, commit) {
                // A failed job's own error is the truth whatever became of the batch.
                (Err(e), _) => Err(e),
                (Ok(v), None) => Ok(v),
                (Ok(_), Some(e)) => Err(commit_failed(e)),
            };
            // The caller may have gone away (a cancelled request): the write stands.
            let _ = reply.send(answer);
        });
        (ok, finish)
    }

    fn fail(self: Box<Self>, error: &rusqlite::Error) {
        let _ = self.reply.send(Err(commit_failed(error)));
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
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Conn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Box::new(Typed { work, reply }))
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
        number += 1;
        if run_batch(conn, batch, hook, number) {
            checkpoints.committed(conn);
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA analysis_limit = 400; PRAGMA optimize") {
        tracing::debug!(error = %e, "PRAGMA optimize when the writer stopped");
    }
    tracing::debug!("SQLite writer stopped");
}

/// Runs one batch in one transaction; says whether it committed.
fn run_batch(conn: &Conn, batch: Vec<Box<dyn Job>>, hook: &dyn BatchHook, number: u64) -> bool {
    // IMMEDIATE takes the write lock now (waiting up to busy_timeout for another process,
    // such as the CLI), so no statement of the batch can fail for want of it.
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE; SAVEPOINT job") {
        tracing::error!(error = %e, "cannot begin a write transaction");
        for job in batch {
            job.fail(&e);
        }
        // BEGIN may have succeeded and SAVEPOINT failed.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return false;
    }
    hook.begin(number);
    let n = batch.len();
    let mut finishes: Vec<Finish> = Vec::with_capacity(n);
    let mut jobs = batch.into_iter();
    let mut outcome = Ok(());
    for (i, job) in jobs.by_ref().enumerate() {
        let (ok, finish) = job.run(conn);
        finishes.push(finish);
        hook.job_done(ok);
        let last = i + 1 == n;
        let next: &'static str = match (ok, last) {
            (true, false) => "RELEASE job; SAVEPOINT job",
            (false, false) => "ROLLBACK TO job; RELEASE job; SAVEPOINT job",
            (true, true) => "RELEASE job",
            (false, true) => "ROLLBACK TO job; RELEASE job",
        };
        if let Err(e) = conn.execute_batch(next) {
            // The transaction is in an unknown state (SQLite rolls back by itself on some
            // errors): give up the whole batch rather than commit half of a job.
            outcome = Err(e);
            break;
        }
    }
    if outcome.is_ok() {
        outcome = hook
            .before_commit(conn)
            .and_then(|()| conn.execute_batch("COMMIT"));
    }
    match outcome {
        Ok(()) => {
            for finish in finishes {
                finish(None);
            }
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "write transaction failed; rolled back");
            if !conn.is_autocommit()
                && let Err(e) = conn.execute_batch("ROLLBACK")
            {
                tracing::debug!(error = %e, "rollback after a failed batch");
            }
            for finish in finishes {
                finish(Some(&e));
            }
            for job in jobs {
                job.fail(&e);
            }
            false
        }
    }
}
