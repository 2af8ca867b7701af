//! WAL checkpoints off the write path.
//!
//! SQLite's automatic checkpoint runs in the connection that commits, right after the commit.
//! On the one writer thread that stopped every write for as long as it took to copy the WAL
//! back into the database file and sync both (tens of milliseconds, several times a second
//! under load), and measured creates fell to about half. So the writer's connection turns it
//! off (`wal_autocheckpoint = 0`) and a thread of its own, with a connection of its own, runs
//! `PASSIVE` checkpoints a little after commits: they copy and sync beside the writer and
//! never block it.
//!
//! A checkpoint running beside the writer cannot finish while new frames are appended, and
//! the WAL starts over from its beginning only after one has finished. So when the WAL has
//! grown past [`RESTART_FRAMES`], the writer runs one itself between two batches: nearly every
//! frame is copied by then, so it copies the last few and syncs, and the next batch writes the
//! WAL from its start again (and `journal_size_limit` trims the file).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::exec::Conn;

/// WAL frames (pages) past which the writer completes a checkpoint itself: 32 MiB of 4 KiB
/// pages.
const RESTART_FRAMES: i64 = 8192;

/// How long commits gather before a background checkpoint copies them: long enough that a
/// page written by many batches is copied once, short enough that the WAL stays small.
const GATHER: Duration = Duration::from_millis(200);

/// The WAL file is trimmed to this when it starts over (SQLite's `journal_size_limit`).
pub(crate) const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// The writer's side of the checkpointer.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    wake: SyncSender<()>,
    /// Whether the thread has been told of a commit it has not checkpointed yet: commits
    /// after the first wake it once, not once each.
    due: Arc<AtomicBool>,
    /// Frames in the WAL as the last checkpoint found them.
    frames: Arc<AtomicI64>,
}

impl Checkpoints {
    /// Starts the checkpoint thread on the database at `path`. It stops when the returned
    /// handle is dropped (with the writer).
    pub(crate) fn spawn(path: &Path) -> std::io::Result<Self> {
        let conn = open(path).map_err(std::io::Error::other)?;
        let (wake, woken) = sync_channel(1);
        let frames = Arc::new(AtomicI64::new(0));
        let due = Arc::new(AtomicBool::new(false));
        let (seen, taken) = (Arc::clone(&frames), Arc::clone(&due));
        std::thread::Builder::new()
            .name("roster-checkpoint".to_owned())
            .spawn(move || run(&conn, &woken, &taken, &seen))?;
        Ok(Self { wake, due, frames })
    }

    /// After a commit on the writer's connection: completes a checkpoint if the WAL is long,
    /// and tells the checkpoint thread there is something to copy.
    pub(crate) fn committed(&self, conn: &Conn) {
        if self.frames.load(Ordering::Relaxed) >= RESTART_FRAMES {
            match checkpoint(conn) {
                Ok((log, copied)) => {
                    let left = if log == copied { 0 } else { log };
                    self.frames.store(left, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint on the writer failed"),
            }
        }
        if self.due.swap(true, Ordering::AcqRel) {
            return;
        }
        match self.wake.try_send(()) {
            // Full: the thread is already due to run.
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                tracing::warn!("the WAL checkpoint thread has stopped");
            }
        }
    }
}

/// One `PASSIVE` checkpoint: the frames in the WAL and how many of them are now copied.
fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}

/// The checkpoint thread: woken by a commit, waits [`GATHER`], checkpoints what was
/// committed until then, and records how long the WAL is; ends when the writer is gone.
fn run(conn: &Connection, woken: &Receiver<()>, due: &AtomicBool, frames: &AtomicI64) {
    while woken.recv().is_ok() {
        std::thread::sleep(GATHER);
        // Commits from now on wake the thread again.
        due.store(false, Ordering::Release);
        match checkpoint(conn) {
            Ok((log, _)) => frames.store(log, Ordering::Relaxed),
            Err(e) => tracing::debug!(error = %e, "background WAL checkpoint failed"),
        }
    }
}

/// The checkpoint thread's connection: it reads and writes nothing but the checkpoint.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::ZERO)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    const DB: &str = "c.db";

    /// A new WAL database with a table `t (x TEXT)`, automatic checkpoints off as on the
    /// writer, and its checkpoint thread.
    fn database() -> (tempfile::TempDir, Connection, Checkpoints) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x TEXT)",
        )
        .unwrap();
        let checkpoints = Checkpoints::spawn(&path).unwrap();
        (dir, conn, checkpoints)
    }

    /// Commits reach the database file through the checkpoint thread, not the writer.
    #[test]
    fn committed_pages_are_copied_beside_the_writer() {
        let (dir, conn, checkpoints) = database();
        let path = dir.path().join(DB);
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO t SELECT hex(randomblob(100)) FROM n",
            [],
        )
        .unwrap();
        assert_eq!(size(), before, "the commit is in the WAL only");
        checkpoints.committed(&conn);
        let deadline = Instant::now() + Duration::from_secs(5);
        while checkpoints.frames.load(Ordering::Relaxed) == 0 {
            assert!(Instant::now() < deadline, "no checkpoint ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            size() > before,
            "the checkpoint copied the pages into the file"
        );
    }

    /// Past [`RESTART_FRAMES`], the writer completes a checkpoint itself, and the next write
    /// starts the WAL over.
    #[test]
    fn a_long_wal_is_checkpointed_by_the_writer() {
        let (_dir, conn, checkpoints) = database();
        conn.execute("INSERT INTO t VALUES ('a')", []).unwrap();
        checkpoints.frames.store(RESTART_FRAMES, Ordering::Relaxed);
        checkpoints.committed(&conn);
        assert_eq!(checkpoints.frames.load(Ordering::Relaxed), 0);
        // Everything was copied: a checkpoint now finds nothing left to copy.
        let (log, copied) = checkpoint(&conn).unwrap();
        assert_eq!(log, copied);
    }
}
