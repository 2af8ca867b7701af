//! Connectors and their bearer tokens.
//!
//! Writes take the writer's connection (they run as jobs); reads take the pool. Deleting a
//! connector cascades, through foreign keys, to its tokens and its whole IdP view.

use roster_core::StoreError;
use roster_core::connector::Connector;
use roster_core::store::{Actor, AuditAction, SubjectKind, SyncSource, WriteContext};
use roster_core::token::TokenRecord;
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::exec::{
    Conn, is_foreign_key_violation, is_unique_violation, query, query_as, query_scalar,
};
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

/// Creates the connector and its directory, last in the order.
pub(super) fn create(conn: &Conn, shared: &Shared, connector: Connector) -> Result<(), StoreError> {
    let position: i64 = query_scalar(
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
    .fetch_one(conn)
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("connector '{}' already exists", connector.id))
        } else {
            backend(e)
        }
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

pub(super) fn set_enabled(conn: &Conn, id: String, enabled: bool) -> Result<(), StoreError> {
    let done = query("UPDATE connectors SET enabled = ? WHERE id = ?")
        .bind(enabled)
        .bind(&id)
        .execute(conn)
        .map_err(backend)?;
    if done == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Deletes the connector and, by cascade, everything of it, its directory included (one
/// audit row, with how many users and groups the directory held).
pub(super) fn delete(
    conn: &Conn,
    shared: &Shared,
    id: &str,
    ctx: &WriteContext,
) -> Result<(), StoreError> {
    let before: Option<(String, i64, i64, i64)> = query_as(
        "SELECT d.name, d.position, \
         (SELECT count(*) FROM dir_users WHERE directory_id = d.id), \
         (SELECT count(*) FROM dir_groups WHERE directory_id = d.id) \
         FROM directories AS d WHERE d.id = ?",
    )
    .bind(id)
    .fetch_optional(conn)
    .map_err(backend)?;
    // One statement; the foreign keys cascade to tokens, the IdP view (users and their email
    // rows, groups and their membership rows), settings, sync results and the directory (its
    // users, groups and memberships). This is the one write whose size is the connector's.
    let done = query("DELETE FROM connectors WHERE id = ?")
        .bind(id)
        .execute(conn)
        .map_err(backend)?;
    if done == 0 {
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

pub(super) fn add_token(conn: &Conn, token: TokenRecord) -> Result<(), StoreError> {
    query(
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
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("token '{}' already exists", token.id))
        } else if is_foreign_key_violation(&e) {
            StoreError::NotFound
        } else {
            backend(e)
        }
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

pub(super) fn revoke_token(
    conn: &Conn,
    connector_id: String,
    token_id: String,
) -> Result<(), StoreError> {
    let done = query("DELETE FROM tokens WHERE id = ? AND connector_id = ?")
        .bind(&token_id)
        .bind(&connector_id)
        .execute(conn)
        .map_err(backend)?;
    if done == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) fn touch_token(
    conn: &Conn,
    token_id: String,
    at: time::OffsetDateTime,
) -> Result<(), StoreError> {
    let done = query("UPDATE tokens SET last_used_ms = ? WHERE id = ?")
        .bind(to_ms(at))
        .bind(&token_id)
        .execute(conn)
        .map_err(backend)?;
    if done == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
