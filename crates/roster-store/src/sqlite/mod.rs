//! The SQLite backend: one database file in WAL mode.
//!
//! - Reads run on a small pool of read-only connections (WAL lets them run beside the writer);
//!   point reads (one resource through a unique index: by id, `userName eq`) run on the
//!   calling thread instead, on connections of their own (`point`), when one is free.
//! - Writes go through one writer thread with one direct SQLite connection (`exec`) that
//!   commits concurrent jobs
//!   together (`writer`); `PATCH` runs its read-modify-write inside its job.
//! - Filters, sorting and paging compile to SQL (`filter`, `list`), using indexed columns
//!   for what IdPs filter on; group memberships are rows (see the migration).
//! - The connection settings are here and nowhere else: WAL, `synchronous=NORMAL` (a commit
//!   survives a process crash; an OS crash may lose the last commits, never corrupt the file),
//!   foreign keys on, a busy timeout so the CLI can write while the server runs, a bounded
//!   page cache, temporary storage (savepoint sub-journals) in memory, and the `scim_ci`
//!   collation the filter compiler relies on.
//!
//! - Every SCIM write runs the sync engine in its own job (`sync`): the IdP view and the
//!   directory change in one transaction. The directory's audit rows and sync results are
//!   written once per writer batch, just before its commit (`journal`); compiled connector
//!   settings are cached per version and checked once per batch (`settings`).
//!
//! Layout: `connectors` (connectors and tokens, and their directories), `resources` (the IdP
//! view's rows and writes), `list` (queries and cursors), `point` (point reads on the calling
//! thread), `filter` (SCIM filter → SQL), `writer` (group commit), `exec` (statements on the
//! writer's connection), `checkpoint` (WAL checkpoints beside the writer), `sync` (the engine
//! on the write path), `preview` (preview and apply), `directory` (the directory side of the trait:
//! settings, directories, listings, local writes), `journal` (audit log and sync results),
//! `settings` (connector settings and their cache), `rows` (directory rows), `admin` (admin
//! accounts, sessions, API tokens, the request log, the dashboard's figures), `migrations/`
//! (embedded, applied on open: 0001 the IdP view, 0002 the directory, 0003 administration,
//! 0004 an index for a user's history).

mod admin;
mod checkpoint;
mod connectors;
mod directory;
mod exec;
mod filter;
mod journal;
mod list;
mod point;
mod preview;
mod resources;
mod rows;
mod settings;
mod sync;
mod writer;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use roster_core::connector::Connector;
use roster_core::store::{
    AdminStore, DirectoryStore, Load, NewResource, ResourceKind, ResourcePage, ResourceQuery,
    StoredResource, Update, Updated, WriteContext,
};
use roster_core::token::TokenRecord;
use roster_core::{Store, StoreError};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, SqlSafeStr};
use time::OffsetDateTime;

use self::journal::BatchJournal;
use self::point::PointReads;
use self::settings::SettingsCache;
pub use self::writer::WriterCounts;
use self::writer::{BatchHook, Writer};
use crate::OpenError;

/// Read connections. Each SQLite query takes tens of microseconds, so a few connections keep
/// two cores busy; more would only add page caches.
const READERS: u32 = 4;

/// Page cache per connection, in KiB (SQLite's negative `cache_size`): enough for the hot
/// indexes of 100,000 users, bounded so five connections stay well under 100 MB.
const CACHE_KIB: &str = "-8192";

/// How long a write waits for another process's write lock (the CLI beside the server).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The store on one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file, for connections of a task's own ([`SqliteStore::read_snapshot`]).
    path: PathBuf,
    point: PointReads,
    writer: Writer,
    shared: Arc<Shared>,
}

/// What the write jobs share with each other and with the writer: the compiled settings,
/// and the audit rows and sync results of the batch being written (see `writer`).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) settings: SettingsCache,
    pub(crate) journal: BatchJournal,
    batch: AtomicU64,
}

impl Shared {
    /// The writer batch running now.
    pub(crate) fn batch(&self) -> u64 {
        self.batch.load(Ordering::Relaxed)
    }
}

impl BatchHook for Shared {
    fn begin(&self, batch: u64) {
        self.batch.store(batch, Ordering::Relaxed);
        self.journal.begin();
    }

    fn job_done(&self, ok: bool) {
        self.journal.job_done(ok);
    }

    fn before_commit(&self, conn: &exec::Conn) -> Result<(), rusqlite::Error> {
        self.journal.write(conn)
    }
}

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            Cow::Borrowed("init"),
            MigrationType::Simple,
            include_str!("migrations/0001_init.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("directory"),
            MigrationType::Simple,
            include_str!("migrations/0002_directory.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            Cow::Borrowed("admin"),
            MigrationType::Simple,
            include_str!("migrations/0003_admin.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            Cow::Borrowed("audit subject"),
            MigrationType::Simple,
            include_str!("migrations/0004_audit_subject.sql").into_sql_str(),
            false,
        ),
    ])
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    /// Must be called inside a Tokio runtime (for the read pool); it starts the writer and
    /// checkpoint threads.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::open_with(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a `sqlite://PATH` or `sqlite:PATH` URL.
    pub(crate) async fn open_url(url: &str) -> Result<Self, OpenError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            // Each pooled connection would get its own, empty, database.
            return Err(OpenError::Unsupported(
                "in-memory SQLite cannot be shared by the store's connections: use a file"
                    .to_owned(),
            ));
        }
        let path = url
            .trim_start_matches("sqlite:")
            .trim_start_matches("//")
            .split('?')
            .next()
            .unwrap_or_default();
        if path.is_empty() {
            return Err(OpenError::InvalidUrl {
                url: url.to_owned(),
                reason: "no file name (sqlite://roster.db, sqlite:///var/lib/roster/roster.db)"
                    .to_owned(),
            });
        }
        let options = SqliteConnectOptions::from_str(url).map_err(|e| OpenError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        Self::open_with(options).await
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self, OpenError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("cache_size", CACHE_KIB)
            // Savepoint sub-journals (the writer's per job, the sync's per user) and sorts
            // in memory: on disk, every page a job first touches was also written to a
            // temporary file.
            .pragma("temp_store", "MEMORY")
            .collation(filter::CI_COLLATION, filter::ci_order);
        let mut conn = options
            .connect()
            .await
            .map_err(|e| OpenError::Connect(Box::new(e)))?;
        migrator()
            .run(&mut conn)
            .await
            .map_err(|e| OpenError::Migrate(Box::new(e)))?;
        sqlx::Connection::close(conn)
            .await
            .map_err(|e| OpenError::Connect(Box::new(e)))?;
        let writer =
            open_writer(options.get_filename()).map_err(|e| OpenError::Connect(Box::new(e)))?;
        // Readers cannot write by accident, and leave `PRAGMA optimize` to the writer.
        let readers = options
            .clone()
            .pragma("query_only", "ON")
            .optimize_on_close(false, None);
        let pool = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(readers)
            .await
            .map_err(|e| OpenError::Connect(Box::new(e)))?;
        let point = PointReads::new(options.get_filename());
        let path = options.get_filename().to_owned();
        let shared = Arc::new(Shared::default());
        let writer = Writer::spawn(writer, &path, Arc::clone(&shared) as Arc<dyn BatchHook>)
            .map_err(|e| OpenError::Connect(Box::new(e)))?;
        Ok(Self {
            pool,
            path,
            point,
            writer,
            shared,
        })
    }

    /// The writer's counters: jobs run, transactions committed, jobs queued.
    #[must_use]
    pub fn writer_counts(&self) -> WriterCounts {
        self.writer.counts()
    }
}

/// The writer's connection: the pool's settings (module docs), read-write, and a statement
/// cache that holds the whole write path.
fn open_writer(path: &Path) -> rusqlite::Result<exec::Conn> {
    let conn = open_direct(path, CACHE_KIB, BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Checkpoints run beside the writer (`checkpoint`), not after its commits.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", checkpoint::JOURNAL_SIZE_LIMIT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(exec::STATEMENT_CACHE);
    Ok(conn)
}

/// A direct (rusqlite) connection with what every connection of the store has: used by one
/// thread at a time (`NO_MUTEX`), temporary storage in memory, the `scim_ci` collation, and
/// the given page cache and busy timeout. No `CREATE`: the store made the file when it opened.
pub(crate) fn open_direct(
    path: &Path,
    cache_kib: &str,
    busy: Duration,
) -> rusqlite::Result<exec::Conn> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = exec::Conn::open_with_flags(path, flags)?;
    conn.pragma_update(None, "cache_size", cache_kib)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(busy)?;
    conn.create_collation(filter::CI_COLLATION, filter::ci_order)?;
    Ok(conn)
}

/// A read-only [`open_direct`] connection: it cannot write by accident.
pub(crate) fn open_direct_reader(
    path: &Path,
    cache_kib: &str,
    busy: Duration,
) -> rusqlite::Result<exec::Conn> {
    let conn = open_direct(path, cache_kib, busy)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    /// Runs `read` on a read-only connection of its own, in one read transaction (a snapshot
    /// of the database as of its first read), on a blocking thread: for long reads that go
    /// through the same code as the write path (a preview runs the sync engine).
    pub(crate) async fn read_snapshot<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        F: FnOnce(&exec::Conn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = open_direct_reader(&path, CACHE_KIB, BUSY_TIMEOUT).map_err(backend)?;
            conn.execute_batch("BEGIN").map_err(backend)?;
            let result = read(&conn);
            // A read transaction: ending it changes nothing.
            let _ = conn.execute_batch("ROLLBACK");
            result
        })
        .await
        .map_err(backend)?
    }
}

/// An error that is nobody's fault but the backend's (sqlx's or SQLite's own).
pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend(e)
}

/// Unix milliseconds, the unit every time column holds.
pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

/// The instant a millisecond column holds.
pub(crate) fn from_ms(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(StoreError::backend)
}

#[async_trait]
impl Store for SqliteStore {
    fn directory(&self) -> &dyn DirectoryStore {
        self
    }

    fn admin(&self) -> &dyn AdminStore {
        self
    }

    async fn create_connector(&self, connector: &Connector) -> Result<(), StoreError> {
        let (connector, shared) = (connector.clone(), Arc::clone(&self.shared));
        self.writer
            .write(move |conn| connectors::create(conn, &shared, connector.clone()))
            .await
    }

    async fn connector(&self, id: &str) -> Result<Option<Connector>, StoreError> {
        connectors::get(&self.pool, id).await
    }

    async fn connectors(&self) -> Result<Vec<Connector>, StoreError> {
        connectors::list(&self.pool).await
    }

    async fn set_connector_enabled(&self, id: &str, enabled: bool) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.writer
            .write(move |conn| connectors::set_enabled(conn, id.clone(), enabled))
            .await
    }

    async fn delete_connector(&self, id: &str, ctx: &WriteContext) -> Result<(), StoreError> {
        let (id, ctx, shared) = (id.to_owned(), ctx.clone(), Arc::clone(&self.shared));
        self.writer
            .write(move |conn| connectors::delete(conn, &shared, &id, &ctx))
            .await
    }

    async fn add_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let token = token.clone();
        self.writer
            .write(move |conn| connectors::add_token(conn, token.clone()))
            .await
    }

    async fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError> {
        connectors::token(&self.pool, token_id).await
    }

    async fn tokens(&self, connector_id: &str) -> Result<Vec<TokenRecord>, StoreError> {
        connectors::tokens(&self.pool, connector_id).await
    }

    async fn revoke_token(&self, connector_id: &str, token_id: &str) -> Result<(), StoreError> {
        let (connector_id, token_id) = (connector_id.to_owned(), token_id.to_owned());
        self.writer
            .write(move |conn| {
                connectors::revoke_token(conn, connector_id.clone(), token_id.clone())
            })
            .await
    }

    async fn touch_token(&self, token_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let token_id = token_id.to_owned();
        self.writer
            .write(move |conn| connectors::touch_token(conn, token_id.clone(), at))
            .await
    }

    async fn create_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        new: NewResource,
        ctx: &WriteContext,
    ) -> Result<StoredResource, StoreError> {
        let connector_id = connector_id.to_owned();
        let (ctx, shared) = (ctx.clone(), Arc::clone(&self.shared));
        // The mapping of a new user is made here, on the request's thread, not on the writer.
        let mut prepared = (kind == ResourceKind::User)
            .then(|| sync::prepare_user(&shared, &connector_id, &new))
            .flatten();
        self.writer
            .write(move |conn| {
                if kind == ResourceKind::User {
                    return sync::create_user(
                        conn,
                        &shared,
                        &connector_id,
                        &ctx,
                        new.clone(),
                        prepared.take(),
                    );
                }
                let stored = resources::create(conn, &connector_id, kind, new.clone(), ctx.at)?;
                let users = stored
                    .members
                    .iter()
                    .flatten()
                    .filter(|m| m.kind.as_deref() == Some("User"))
                    .map(|m| m.value.clone())
                    .collect();
                sync::group_created(
                    conn,
                    &shared,
                    &connector_id,
                    &ctx,
                    &stored.id,
                    &stored.body,
                    users,
                )?;
                Ok(stored)
            })
            .await
    }

    async fn get_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        id: &str,
        load: Load,
    ) -> Result<Option<StoredResource>, StoreError> {
        let sql = resources::get_sql(connector_id, kind, id, load);
        if let Some(rows) = self.point.resources(&sql, kind, load) {
            return Ok(rows?.into_iter().next().map(|(_, r)| r));
        }
        resources::get(&self.pool, connector_id, kind, id, load).await
    }

    async fn query_resources(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        query: &ResourceQuery,
    ) -> Result<ResourcePage, StoreError> {
        list::query(&self.pool, &self.point, connector_id, kind, query).await
    }

    async fn update_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        id: &str,
        if_version: Option<i64>,
        update: Update,
        ctx: &WriteContext,
    ) -> Result<Updated, StoreError> {
        let (connector_id, id) = (connector_id.to_owned(), id.to_owned());
        let (ctx, shared) = (ctx.clone(), Arc::clone(&self.shared));
        self.writer
            .write(move |conn| {
                let effect =
                    resources::update(conn, &connector_id, kind, &id, if_version, &update, ctx.at)?;
                if effect.updated.changed {
                    let after = &effect.updated.resource.body;
                    match kind {
                        ResourceKind::User => {
                            sync::user_changed(
                                conn,
                                &shared,
                                &connector_id,
                                &ctx,
                                &id,
                                after.clone(),
                            )?;
                        }
                        ResourceKind::Group => {
                            sync::group_changed(
                                conn,
                                &shared,
                                &connector_id,
                                &ctx,
                                &id,
                                &effect.before,
                                after,
                                effect.members,
                            )?;
                        }
                    }
                }
                Ok(effect.updated)
            })
            .await
    }

    async fn delete_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        id: &str,
        if_version: Option<i64>,
        ctx: &WriteContext,
    ) -> Result<(), StoreError> {
        let (connector_id, id) = (connector_id.to_owned(), id.to_owned());
        let (ctx, shared) = (ctx.clone(), Arc::clone(&self.shared));
        self.writer
            .write(move |conn| match kind {
                ResourceKind::User => {
                    resources::delete(conn, &connector_id, kind, &id, if_version, ctx.at)?;
                    sync::user_deleted(conn, &shared, &connector_id, &ctx, &id)
                }
                ResourceKind::Group => {
                    let deletion = sync::group_deleting(conn, &shared, &connector_id, &ctx, &id)?;
                    resources::delete(conn, &connector_id, kind, &id, if_version, ctx.at)?;
                    sync::group_deleted(conn, &shared, deletion)
                }
            })
            .await
    }
}
