//! Point reads: one resource found through a unique index, read on the caller's thread.
//!
//! Every sqlx statement is a round trip to its connection's worker thread, and a pooled
//! statement costs two (the pool pings a connection when it comes back), each a pair of
//! thread wake-ups. For a read that touches one index entry and one row — some tens of
//! microseconds of SQLite — the hand-offs cost more than the read itself, and the read that
//! matters most is one of these: Entra ID looks a user up by `userName` before every write.
//! So `GET /Users/{id}` and `filter=userName eq "…"` (and the other lookups
//! `filter::is_point_lookup` accepts) run here, synchronously, on a few connections of their
//! own, opened with the same settings as the pool's read connections.
//!
//! A point read never waits and never fails on its own account: when every connection is in
//! use, when one cannot be opened, or when SQLite reports any error (busy, a schema change
//! under a cached statement, …), the read is answered by the pool as before, and any real error
//! is the pool's to report. Anything that may read many rows stays on the pool, whose worker
//! threads keep long queries off the async runtime; a point read holds its thread for about
//! as long as a request takes to parse.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use roster_core::StoreError;
use roster_core::store::{Load, ResourceKind, StoredResource};
use rusqlite::{Connection, params_from_iter};

use super::filter::{Bound, Sql};
use super::resources::resource_row;

/// The most point-read connections: at most one per thread that runs store code at once
/// (the runtime's workers), and each holds a page cache, so a few.
const CONNECTIONS: usize = 2;

/// Page cache per point-read connection, in KiB (SQLite's negative `cache_size`): smaller
/// than the pool's. A point read touches a handful of pages, and every commit of the writer
/// (a few a second under load: the request log) empties the cache anyway; a large one would
/// only add to resident memory.
const CACHE_KIB: &str = "-2048";

/// The point-read connections of one database file.
#[derive(Debug)]
pub(crate) struct PointReads {
    path: PathBuf,
    idle: Mutex<Idle>,
}

#[derive(Debug, Default)]
struct Idle {
    connections: Vec<Connection>,
    /// Connections opened so far (idle or in use).
    opened: usize,
}

impl rusqlite::types::ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(match *self {
            Bound::Text(s) => rusqlite::types::ToSqlOutput::from(s),
            Bound::Int(i) => rusqlite::types::ToSqlOutput::from(i),
        })
    }
}

impl PointReads {
    /// Point reads on the database file at `path` (opened on first use).
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Idle::default()),
        }
    }

    /// The rows `query` selects (the columns [`resource_row`] reads), or `None` if the pool
    /// must answer (see the module docs).
    pub(crate) fn resources(
        &self,
        query: &Sql,
        kind: ResourceKind,
        load: Load,
    ) -> Option<Result<Vec<(i64, StoredResource)>, StoreError>> {
        let conn = self.take()?;
        let (text, values) = query.text_and_values();
        let rows = read(&conn, &text, &values, kind, load);
        match rows {
            Ok(rows) => {
                self.give_back(conn);
                Some(Ok(rows))
            }
            Err(Failure::Sqlite(e)) => {
                tracing::debug!(error = %e, "point read failed; asking the pool");
                // The connection may be what is wrong: it is dropped, and a new one opened
                // next time.
                self.forget();
                None
            }
            Err(Failure::Row(e)) => {
                self.give_back(conn);
                Some(Err(e))
            }
        }
    }

    /// An idle connection, or a new one if fewer than [`CONNECTIONS`] are open.
    fn take(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(conn) = idle.connections.pop() {
            return Some(conn);
        }
        if idle.opened >= CONNECTIONS {
            return None;
        }
        idle.opened += 1;
        drop(idle);
        match open(&self.path) {
            Ok(conn) => Some(conn),
            Err(e) => {
                tracing::warn!(error = %e, "cannot open a point-read connection");
                self.forget();
                None
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.connections.push(conn);
    }

    /// A connection taken was dropped.
    fn forget(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.opened = idle.opened.saturating_sub(1);
    }
}

/// Why a point read has no answer: SQLite failed (the pool is asked), or a row does not
/// read as a resource (an error whoever reads it).
enum Failure {
    Sqlite(rusqlite::Error),
    Row(StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

fn read(
    conn: &Connection,
    text: &str,
    values: &[Bound<'_>],
    kind: ResourceKind,
    load: Load,
) -> Result<Vec<(i64, StoredResource)>, Failure> {
    let mut statement = conn.prepare_cached(text)?;
    let mut rows = statement.query(params_from_iter(values))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(resource_row(row, kind, load).map_err(Failure::Row)?);
    }
    Ok(out)
}

/// A read-only connection with the pool readers' settings (see the parent module), but a
/// smaller cache and no busy wait: a busy database is the pool's to wait for, as this thread
/// runs other requests too.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    super::open_direct_reader(path, CACHE_KIB, std::time::Duration::ZERO)
}
