//! # roster-store — where Roster keeps things
//!
//! Implementations of [`roster_core::Store`], one module per database, each with its own
//! migrations and its own filter → SQL compiler (DESIGN.md, "Storage"). Callers never name a
//! backend: they call [`open`] with the configured URL and get an `Arc<dyn Store>`.
//!
//! | module | what |
//! |---|---|
//! | [`sqlite`] | the embedded default: one file, WAL, one group-committing writer thread |
//! | `cursor` | RFC 9865 cursors: opaque to clients, checked against the query they were issued for |
//! | `columns` | the values IdPs filter on, taken out of a resource body into indexed columns |
//! | `workset` | the directory state the sync engine runs against, in memory (shared by backends) |
//!
//! A `postgres` module will sit beside `sqlite` and be chosen by [`open`] for `postgres://`
//! URLs; the conformance suites in `tests/it` (`conformance` for the IdP view, `directory`
//! for the sync engine and the directory side) take an `Arc<dyn Store>` so they can run on
//! both.

mod columns;
mod cursor;
pub mod sqlite;
mod workset;

use std::sync::Arc;

use roster_core::Store;

pub use sqlite::{SqliteStore, WriterCounts};

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL names a database Roster does not support (yet).
    #[error("{0}")]
    Unsupported(String),
    /// The URL could not be read.
    #[error("invalid database URL '{url}': {reason}")]
    InvalidUrl {
        /// The URL, as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be opened or created.
    #[error("cannot open the database: {0}")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The schema could not be brought up to date.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Opens the store a database URL names, creating and migrating it as needed.
///
/// - `sqlite://PATH` or `sqlite:PATH`: a SQLite file, created if missing (`sqlite://roster.db`
///   is relative to the working directory, `sqlite:///var/lib/roster.db` absolute);
/// - `postgres://…`: not supported yet, and said so.
///
/// Must be called inside a Tokio runtime: the SQLite store's read pool runs on it.
pub async fn open(database_url: &str) -> Result<Arc<dyn Store>, OpenError> {
    let url = database_url.trim();
    let scheme = url.split_once(':').map_or("", |(s, _)| s);
    if scheme == "sqlite" {
        let store = SqliteStore::open_url(url).await?;
        Ok(Arc::new(store))
    } else if scheme == "postgres" || scheme == "postgresql" {
        Err(OpenError::Unsupported(
            "PostgreSQL is not supported yet: use a sqlite:// URL".to_owned(),
        ))
    } else {
        // Only the scheme is repeated: the rest of a URL may carry a password.
        Err(OpenError::Unsupported(format!(
            "unsupported database URL scheme '{scheme}': expected sqlite://PATH (postgres:// later)"
        )))
    }
}
