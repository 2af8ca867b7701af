//! Connectors and their bearer tokens.
//!
//! Writes take the writer's connection (they run as jobs); reads take the pool. Deleting a
//! connector cascades, through foreign keys, to its tokens and its whole IdP view.

use roster_core::StoreError;
use roster_core::connector::Connector;
use roster_core::store::{Actor, AuditAction, SubjectKind, SyncSource, WriteContext};
use roster_core::token::TokenRecord;
use serde_json::json;
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::journal::Journal;
use super::{Shared, backend, from_ms, to_ms};

fn connector_row(row: &SqliteRow) -> Result<Connector, StoreError> {
    Ok(Connector {
        id: row.try_get(0).map_err(backend)?,
        name: row.try_get(1).map_err(backend)?,
        enabled: row.try_get(2).map_err(backend)?,
        created_at: from_ms(row.try_get(3).map_err(backend)?)?,
    })
}

fn token_row(row: &SqliteRow) -> Result<TokenRecord, StoreError> {
    let hash: Vec<u8> = row.try_get(2).map_err(backend)?;
    let opt_ms = |i: usize| -> Result<_, StoreError> {
        row.try_get::<Option<i64>, _>(i)
            .map_err(backend)?
            .map(from_ms)
            .transpose()
    };
    Ok(TokenRecord {
        id: row.try_get(0).map_err(backend)?,
        connector_id: row.try_get(1).map_err(backend)?,
        hash: hash
            .try_into()
            .map_err(|_| StoreError::Backend("a token hash is not 32 bytes".into()))?,
        description: row.try_get(3).map_err(backend)?,
        created_at: from_ms(row.try_get(4).map_err(backend)?)?,
        expires_at: opt_ms(5)?,
        last_used_at: opt_ms(6)?,
    })
}

fn kind_of(e: &sqlx::Error) -> Option<ErrorKind> {
    e.as_database_error().map(|d| d.kind())
}

/// Creates the connector and its directory, last in the order.
pub(super) async fn create(
    conn: &mut SqliteConnection,
    shared: &Shared,
    connector: Connector,
) -> Result<(), StoreError> {
    let position: i64 = sqlx::query_scalar(
        "INSERT INTO connectors (id, name, enabled, created_ms) VALUES (?, ?, ?, ?); \
         INSERT INTO directories (id, name, kind, connector_id, position) \
         SELECT ?, ?, 'connector', ?, coalesce(max(position), -1) + 1 FROM directories \
         RETURNING position",
    )
    .bind(&connector.id)
    .bind(&connector.name)
    .bind(connector.enabled)
    .bind(to_ms(connector.created_at))
    .bind(&connector.id)
    .bind(&connector.name)
    .bind(&connector.id)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match kind_of(&e) {
        Some(ErrorKind::UniqueViolation) => {
            StoreError::Conflict(format!("connector '{}' already exists", connector.id))
        }
        _ => backend(e),
    })?;
    // Roster makes the directory, when the connector is made.
    let ctx = WriteContext::new(connector.created_at, Actor::System);
    let mut journal = Journal::new(Some(&connector.id), &ctx, SyncSource::Scim);
    journal.audit(
        Some(&connector.id),
        SubjectKind::Directory,
        &connector.id,
        Some(&connector.name),
        AuditAction::DirectoryCreate,
        None,
        Some(
            json!({"id": connector.id, "name": connector.name, "kind": "connector",
            "connector_id": connector.id, "position": position}),
        ),
        None,
    );
    journal.submit(&shared.journal);
    Ok(())
}

pub(super) async fn get(pool: &SqlitePool, id: &str) -> Result<Option<Connector>, StoreError> {
    sqlx::query("SELECT id, name, enabled, created_ms FROM connectors WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(connector_row)
        .transpose()
}

pub(super) async fn list(pool: &SqlitePool) -> Result<Vec<Connector>, StoreError> {
    sqlx::query("SELECT id, name, enabled, created_ms FROM connectors ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(backend)?
        .iter()
        .map(connector_row)
        .collect()
}

pub(super) async fn set_enabled(
    conn: &mut SqliteConnection,
    id: String,
    enabled: bool,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE connectors SET enabled = ? WHERE id = ?")
        .bind(enabled)
        .bind(&id)
        .execute(conn)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Deletes the connector and, by cascade, everything of it, its directory included (one
/// audit row, with how many users and groups the directory held).
pub(super) async fn delete(
    conn: &mut SqliteConnection,
    shared: &Shared,
    id: &str,
    ctx: &WriteContext,
) -> Result<(), StoreError> {
    let before: Option<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT d.name, d.position, \
         (SELECT count(*) FROM dir_users WHERE directory_id = d.id), \
         (SELECT count(*) FROM dir_groups WHERE directory_id = d.id) \
         FROM directories AS d WHERE d.id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?;
    // One statement; the foreign keys cascade to tokens, the IdP view (users and their email
    // rows, groups and their membership rows), settings, sync results and the directory (its
    // users, groups and memberships). This is the one write whose size is the connector's.
    let done = sqlx::query("DELETE FROM connectors WHERE id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    if let Some((name, position, users, groups)) = before {
        let mut journal = Journal::new(Some(id), ctx, SyncSource::Scim);
        journal.audit(
            Some(id),
            SubjectKind::Directory,
            id,
            Some(&name),
            AuditAction::DirectoryDelete,
            Some(
                json!({"id": id, "name": name, "kind": "connector", "connector_id": id,
                "position": position}),
            ),
            None,
            Some(json!({"users_removed": users, "groups_removed": groups})),
        );
        journal.submit(&shared.journal);
    }
    shared.settings.forget(id);
    Ok(())
}

pub(super) async fn add_token(
    conn: &mut SqliteConnection,
    token: TokenRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tokens (id, connector_id, hash, description, created_ms, expires_ms, last_used_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&token.id)
    .bind(&token.connector_id)
    .bind(token.hash.to_vec())
    .bind(&token.description)
    .bind(to_ms(token.created_at))
    .bind(token.expires_at.map(to_ms))
    .bind(token.last_used_at.map(to_ms))
    .execute(conn)
    .await
    .map_err(|e| match kind_of(&e) {
        Some(ErrorKind::UniqueViolation) => {
            StoreError::Conflict(format!("token '{}' already exists", token.id))
        }
        Some(ErrorKind::ForeignKeyViolation) => StoreError::NotFound,
        _ => backend(e),
    })?;
    Ok(())
}

pub(super) async fn token(
    pool: &SqlitePool,
    token_id: &str,
) -> Result<Option<TokenRecord>, StoreError> {
    sqlx::query(
        "SELECT id, connector_id, hash, description, created_ms, expires_ms, last_used_ms \
         FROM tokens WHERE id = ?",
    )
    .bind(token_id)
    .fetch_optional(pool)
    .await
    .map_err(backend)?
    .as_ref()
    .map(token_row)
    .transpose()
}

pub(super) async fn tokens(
    pool: &SqlitePool,
    connector_id: &str,
) -> Result<Vec<TokenRecord>, StoreError> {
    sqlx::query(
        "SELECT id, connector_id, hash, description, created_ms, expires_ms, last_used_ms \
         FROM tokens WHERE connector_id = ? ORDER BY created_ms, rowid",
    )
    .bind(connector_id)
    .fetch_all(pool)
    .await
    .map_err(backend)?
    .iter()
    .map(token_row)
    .collect()
}

pub(super) async fn revoke_token(
    conn: &mut SqliteConnection,
    connector_id: String,
    token_id: String,
) -> Result<(), StoreError> {
    let done = sqlx::query("DELETE FROM tokens WHERE id = ? AND connector_id = ?")
        .bind(&token_id)
        .bind(&connector_id)
        .execute(conn)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn touch_token(
    conn: &mut SqliteConnection,
    token_id: String,
    at: time::OffsetDateTime,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE tokens SET last_used_ms = ? WHERE id = ?")
        .bind(to_ms(at))
        .bind(&token_id)
        .execute(conn)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
