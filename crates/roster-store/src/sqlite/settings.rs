//! Connector settings: stored as JSON with a version, compiled once per version and cached.
//!
//! Every sync job reads the connector's settings version (one indexed lookup) and takes the
//! compiled settings from the cache; only a version it has not seen (set by this process or
//! by the CLI in another one) is compiled, once. The cache key is the version and the time it
//! was set, so a connector deleted and created again under the same id never gets the old
//! connector's rules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use roster_core::StoreError;
use roster_core::settings::{CompiledSettings, Settings, SettingsError};
use roster_core::store::{AuditAction, StoredSettings, SubjectKind, SyncSource, WriteContext};
use serde_json::json;

use super::exec::{Conn, query, query_as, query_scalar};
use super::journal::Journal;
use super::{Shared, backend, from_ms, to_ms};

/// Compiled settings, or why the stored document no longer compiles (it did when it was
/// saved; a later version of Roster may be stricter). Syncs under settings that do not
/// compile fail, and say why.
pub(crate) type Compiled = Result<Arc<CompiledSettings>, Arc<Vec<SettingsError>>>;

/// What a cached entry is valid for: the settings version and the time it was set.
type Key = (i64, i64);

/// A cached entry: what it is valid for, the writer batch that last checked that, and the
/// settings.
#[derive(Debug, Clone)]
struct Entry {
    key: Key,
    checked: u64,
    compiled: Compiled,
}

/// The compiled settings of each connector, for its current version.
///
/// Inside a writer batch the version is read once per connector: the batch holds SQLite's
/// write lock from its first statement to its commit, so no other process can change the
/// settings meanwhile, and a job of this process that does updates the cache itself.
#[derive(Debug, Default)]
pub(crate) struct SettingsCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl SettingsCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry checked in this batch, if there is one.
    fn checked(&self, connector_id: &str, batch: Option<u64>) -> Option<(i64, Compiled)> {
        let batch = batch?;
        self.lock()
            .get(connector_id)
            .filter(|e| e.checked == batch)
            .map(|e| (e.key.0, e.compiled.clone()))
    }

    fn get(&self, connector_id: &str, key: Key, batch: Option<u64>) -> Option<Compiled> {
        let mut entries = self.lock();
        let entry = entries.get_mut(connector_id).filter(|e| e.key == key)?;
        if let Some(batch) = batch {
            entry.checked = batch;
        }
        Some(entry.compiled.clone())
    }

    fn put(&self, connector_id: &str, key: Key, compiled: Compiled, batch: Option<u64>) {
        self.lock().insert(
            connector_id.to_owned(),
            Entry {
                key,
                checked: batch.unwrap_or(0),
                compiled,
            },
        );
    }

    /// The compiled settings cached for a connector, of whatever version was seen last (the
    /// caller must check, in a write job, that they are still current).
    pub(super) fn latest(&self, connector_id: &str) -> Option<Arc<CompiledSettings>> {
        self.lock().get(connector_id)?.compiled.clone().ok()
    }

    /// Forgets a connector (deleted: its id may come back with other settings).
    pub(super) fn forget(&self, connector_id: &str) {
        self.lock().remove(connector_id);
    }
}

/// A connector's settings version and the time it was set (0, 0 for the defaults).
fn version(conn: &Conn, connector_id: &str) -> Result<(i64, i64), StoreError> {
    Ok(query_as::<(i64, i64)>(
        "SELECT version, updated_ms FROM connector_settings WHERE connector_id = ?",
    )
    .bind(connector_id)
    .fetch_optional(conn)
    .map_err(backend)?
    .unwrap_or((0, 0)))
}

fn document(conn: &Conn, connector_id: &str) -> Result<Option<(i64, i64, Settings)>, StoreError> {
    let row: Option<(i64, i64, String)> = query_as(
        "SELECT version, updated_ms, document FROM connector_settings WHERE connector_id = ?",
    )
    .bind(connector_id)
    .fetch_optional(conn)
    .map_err(backend)?;
    row.map(|(v, at, text)| {
        Settings::from_json(&text)
            .map(|s| (v, at, s))
            .map_err(|e| StoreError::Backend(format!("stored settings: {e}").into()))
    })
    .transpose()
}

/// The connector's current settings version and compiled settings: at most one indexed
/// lookup (none if this writer `batch` already made it), and a compile only for a version not
/// seen before. Outside the writer, `batch` is `None`.
pub(super) fn compiled(
    conn: &Conn,
    cache: &SettingsCache,
    connector_id: &str,
    batch: Option<u64>,
) -> Result<(i64, Compiled), StoreError> {
    if let Some(hit) = cache.checked(connector_id, batch) {
        return Ok(hit);
    }
    let key = version(conn, connector_id)?;
    if let Some(c) = cache.get(connector_id, key, batch) {
        return Ok((key.0, c));
    }
    let (key, settings) = match document(conn, connector_id)? {
        Some((v, at, s)) => ((v, at), s),
        None => ((0, 0), Settings::default()),
    };
    let compiled: Compiled = settings.compile().map(Arc::new).map_err(Arc::new);
    cache.put(connector_id, key, compiled.clone(), batch);
    Ok((key.0, compiled))
}

fn connector_exists(conn: &Conn, connector_id: &str) -> Result<bool, StoreError> {
    Ok(
        query_scalar::<i64>("SELECT count(*) FROM connectors WHERE id = ?")
            .bind(connector_id)
            .fetch_one(conn)
            .map_err(backend)?
            > 0,
    )
}

/// The stored settings (the defaults, version 0, if never set).
pub(super) fn get(conn: &Conn, connector_id: &str) -> Result<StoredSettings, StoreError> {
    if !connector_exists(conn, connector_id)? {
        return Err(StoreError::NotFound);
    }
    Ok(match document(conn, connector_id)? {
        Some((version, at, settings)) => StoredSettings {
            connector_id: connector_id.to_owned(),
            version,
            settings,
            updated_at: Some(from_ms(at)?),
        },
        None => StoredSettings {
            connector_id: connector_id.to_owned(),
            version: 0,
            settings: Settings::default(),
            updated_at: None,
        },
    })
}

/// Stores a document already compiled by the caller, with its audit row (a write job).
pub(super) fn set(
    conn: &Conn,
    shared: &Shared,
    connector_id: &str,
    compiled: Arc<CompiledSettings>,
    if_version: Option<i64>,
    ctx: &WriteContext,
) -> Result<StoredSettings, StoreError> {
    let before = get(conn, connector_id)?;
    if let Some(expected) = if_version
        && expected != before.version
    {
        return Err(StoreError::PreconditionFailed {
            current: before.version,
        });
    }
    let settings = compiled.settings().clone();
    let version = before.version + 1;
    let at = to_ms(ctx.at);
    let document = serde_json::to_string(&settings).map_err(StoreError::backend)?;
    query(
        "INSERT INTO connector_settings (connector_id, version, document, updated_ms) \
         VALUES (?, ?, ?, ?) ON CONFLICT (connector_id) DO UPDATE SET \
         version = excluded.version, document = excluded.document, \
         updated_ms = excluded.updated_ms",
    )
    .bind(connector_id)
    .bind(version)
    .bind(&document)
    .bind(at)
    .execute(conn)
    .map_err(backend)?;
    let mut journal = Journal::new(Some(connector_id), ctx, SyncSource::Scim);
    journal.audit(
        Some(connector_id),
        SubjectKind::Settings,
        connector_id,
        None,
        AuditAction::SettingsSet,
        Some(json!({"version": before.version, "settings": before.settings})),
        Some(json!({"version": version, "settings": settings})),
        None,
    );
    journal.submit(&shared.journal);
    shared.settings.put(
        connector_id,
        (version, at),
        Ok(compiled),
        Some(shared.batch()),
    );
    Ok(StoredSettings {
        connector_id: connector_id.to_owned(),
        version,
        settings,
        updated_at: Some(from_ms(at)?),
    })
}
