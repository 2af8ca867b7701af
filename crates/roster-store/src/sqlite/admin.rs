//! The administration side of the SQLite store ([`AdminStore`]): admin accounts, console
//! sessions, API tokens, the SCIM request log and the dashboard's figures (migration 0003).
//!
//! Writes are jobs of the writer, reads take the pool, as everywhere in this backend.
//!
//! - Usernames are compared by their folded form (`username_lc`, [`fold_name`]), so uniqueness
//!   is the same Unicode case-insensitivity as the directory's names.
//! - A batch of request-log entries is one job and one statement: the batch travels as one
//!   JSON array through `json_each`, so the statement is prepared once whatever the batch's
//!   size, and entries of connectors that do not exist (requests to unknown ids) are dropped
//!   by its `WHERE EXISTS` instead of failing the batch.
//! - Pruning the request log deletes in chunks, one job each, so a large prune never holds
//!   the writer (and the SCIM writes queued behind it) for long.
//! - A request-log query with `limit` 0 gets [`PAGE`] entries; no query gets more than
//!   [`MAX_PAGE`].

use async_trait::async_trait;
use roster_core::StoreError;
use roster_core::admin::{
    AdminAccount, ApiScope, ApiTokenRecord, ConnectorActivity, NewRequestLog, RequestLogEntry,
    RequestLogQuery, SessionRecord,
};
use roster_core::directory::fold_name;
use roster_core::store::AdminStore;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use time::OffsetDateTime;

use super::exec::{Conn, is_unique_violation, query, query_scalar};
use super::{SqliteStore, backend, from_ms, to_ms};

/// The default number of request-log entries a query returns, and the largest.
const PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;

/// Request-log rows one pruning job deletes: a few milliseconds of the writer's time.
const PRUNE_CHUNK: i64 = 5_000;

type SqliteQuery<'q> = Query<'q, Sqlite, SqliteArguments>;

/// The row a read finds, if any, decoded.
async fn fetch_optional<T>(
    query: SqliteQuery<'_>,
    pool: &SqlitePool,
    decode: fn(&SqliteRow) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    query
        .fetch_optional(pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(decode)
        .transpose()
}

/// Every row a read finds, decoded.
async fn fetch_all<T>(
    query: SqliteQuery<'_>,
    pool: &SqlitePool,
    decode: fn(&SqliteRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    query
        .fetch_all(pool)
        .await
        .map_err(backend)?
        .iter()
        .map(decode)
        .collect()
}

fn opt_time(row: &SqliteRow, i: usize) -> Result<Option<OffsetDateTime>, StoreError> {
    row.try_get::<Option<i64>, _>(i)
        .map_err(backend)?
        .map(from_ms)
        .transpose()
}

fn hash32(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Backend("a stored hash is not 32 bytes".into()))
}

// Column lists as macros, so that `concat!` makes each statement one `&'static str` (sqlx
// takes only static or explicitly vouched-for SQL).
macro_rules! account_columns {
    () => {
        "username, password_hash, created_ms, last_login_ms"
    };
}

fn account_row(row: &SqliteRow) -> Result<AdminAccount, StoreError> {
    Ok(AdminAccount {
        username: row.try_get(0).map_err(backend)?,
        password_hash: row.try_get(1).map_err(backend)?,
        created_at: from_ms(row.try_get(2).map_err(backend)?)?,
        last_login_at: opt_time(row, 3)?,
    })
}

fn session_row(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id_hash: hash32(row.try_get(0).map_err(backend)?)?,
        username: row.try_get(1).map_err(backend)?,
        csrf: row.try_get(2).map_err(backend)?,
        created_at: from_ms(row.try_get(3).map_err(backend)?)?,
        expires_at: from_ms(row.try_get(4).map_err(backend)?)?,
    })
}

macro_rules! token_columns {
    () => {
        "id, scope, hash, description, created_by, created_ms, expires_ms, last_used_ms"
    };
}

fn token_row(row: &SqliteRow) -> Result<ApiTokenRecord, StoreError> {
    let scope: String = row.try_get(1).map_err(backend)?;
    Ok(ApiTokenRecord {
        id: row.try_get(0).map_err(backend)?,
        scope: scope
            .parse::<ApiScope>()
            .map_err(|e| StoreError::Backend(e.into()))?,
        hash: hash32(row.try_get(2).map_err(backend)?)?,
        description: row.try_get(3).map_err(backend)?,
        created_by: row.try_get(4).map_err(backend)?,
        created_at: from_ms(row.try_get(5).map_err(backend)?)?,
        expires_at: opt_time(row, 6)?,
        last_used_at: opt_time(row, 7)?,
    })
}

macro_rules! log_columns {
    () => {
        "seq, connector_id, at_ms, request_id, method, path, status, duration_ms, \
         request_body, response_body"
    };
}

fn log_row(row: &SqliteRow) -> Result<RequestLogEntry, StoreError> {
    let status: i64 = row.try_get(6).map_err(backend)?;
    let duration: i64 = row.try_get(7).map_err(backend)?;
    Ok(RequestLogEntry {
        seq: row.try_get(0).map_err(backend)?,
        request: NewRequestLog {
            connector_id: row.try_get(1).map_err(backend)?,
            at: from_ms(row.try_get(2).map_err(backend)?)?,
            request_id: row.try_get(3).map_err(backend)?,
            method: row.try_get(4).map_err(backend)?,
            path: row.try_get(5).map_err(backend)?,
            status: u16::try_from(status).map_err(StoreError::backend)?,
            duration_ms: u32::try_from(duration).map_err(StoreError::backend)?,
            request_body: row.try_get(8).map_err(backend)?,
            response_body: row.try_get(9).map_err(backend)?,
        },
    })
}

/// The dashboard's figures, one row per connector; each figure is an index range of that
/// connector: its `*_by_connector` index for the IdP view's counts, the last entry of
/// `request_log_connector`, and a range of the failures-only index (hence the literal
/// `status >= 400`). One parameter: the time recent errors count from.
const ACTIVITY: &str = "SELECT c.id, \
     (SELECT count(*) FROM scim_users WHERE connector_id = c.id), \
     (SELECT count(*) FROM scim_groups WHERE connector_id = c.id), \
     (SELECT at_ms FROM request_log WHERE connector_id = c.id ORDER BY seq DESC LIMIT 1), \
     (SELECT count(*) FROM request_log WHERE connector_id = c.id \
      AND status >= 400 AND at_ms >= ?) \
     FROM connectors AS c ORDER BY c.id";

/// Deletes one chunk of the request log older than a time; parameters: the time, the chunk.
const PRUNE: &str = "DELETE FROM request_log WHERE seq IN \
     (SELECT seq FROM request_log WHERE at_ms < ? LIMIT ?)";

/// Fails with [`StoreError::NotFound`] when a write touched no row.
fn found(rows: u64) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

impl SqliteStore {
    /// Runs one statement (`statement` binds and executes it) as a job of the writer: the rows
    /// it touched. A unique violation is [`StoreError::Conflict`] with `conflict`, when given.
    async fn execute<F>(&self, conflict: Option<String>, statement: F) -> Result<u64, StoreError>
    where
        F: FnMut(&Conn) -> rusqlite::Result<u64> + Send + 'static,
    {
        let mut statement = statement;
        self.writer
            .write(move |conn| {
                statement(conn).map_err(|e| match &conflict {
                    Some(conflict) if is_unique_violation(&e) => {
                        StoreError::Conflict(conflict.clone())
                    }
                    _ => backend(e),
                })
            })
            .await
    }
}

fn insert_requests(conn: &Conn, entries: &[NewRequestLog]) -> Result<(), StoreError> {
    // Entries of a connector deleted meanwhile are dropped; `seq` keeps the batch's order.
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO request_log (connector_id, at_ms, request_id, method, path, status, \
             duration_ms, request_body, response_body) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 \
             WHERE EXISTS (SELECT 1 FROM connectors WHERE id = ?1)",
        )
        .map_err(backend)?;
    for e in entries {
        insert
            .execute(rusqlite::params![
                e.connector_id,
                to_ms(e.at),
                e.request_id,
                e.method,
                e.path,
                e.status,
                e.duration_ms,
                e.request_body,
                e.response_body
            ])
            .map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn create_admin(&self, account: &AdminAccount) -> Result<(), StoreError> {
        let (username, hash) = (account.username.clone(), account.password_hash.clone());
        let (created, last_login) = (to_ms(account.created_at), account.last_login_at.map(to_ms));
        let conflict = format!("admin account '{}' already exists", account.username);
        self.execute(Some(conflict), move |conn| {
            query(
                "INSERT INTO admin_accounts \
                 (username, username_lc, password_hash, created_ms, last_login_ms) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&username)
            .bind(fold_name(&username))
            .bind(&hash)
            .bind(created)
            .bind(last_login)
            .execute(conn)
        })
        .await?;
        Ok(())
    }

    async fn admin_account(&self, username: &str) -> Result<Option<AdminAccount>, StoreError> {
        let query = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM admin_accounts WHERE username_lc = ?"
        ))
        .bind(fold_name(username));
        fetch_optional(query, &self.pool, account_row).await
    }

    async fn admin_accounts(&self) -> Result<Vec<AdminAccount>, StoreError> {
        let query = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM admin_accounts ORDER BY username_lc"
        ));
        fetch_all(query, &self.pool, account_row).await
    }

    async fn set_admin_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let (username_lc, hash) = (fold_name(username), password_hash.to_owned());
        self.writer
            .write(move |conn| {
                let id: i64 = query_scalar(
                    "UPDATE admin_accounts SET password_hash = ? WHERE username_lc = ? \
                     RETURNING id",
                )
                .bind(&hash)
                .bind(&username_lc)
                .fetch_optional(conn)
                .map_err(backend)?
                .ok_or(StoreError::NotFound)?;
                // Whoever knew the old password may be logged in: a new password ends
                // every session of the account, in the same transaction.
                query("DELETE FROM admin_sessions WHERE account_id = ?")
                    .bind(id)
                    .execute(conn)
                    .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn delete_admin(&self, username: &str) -> Result<(), StoreError> {
        // The account's sessions go by cascade.
        let username_lc = fold_name(username);
        found(
            self.execute(None, move |conn| {
                query("DELETE FROM admin_accounts WHERE username_lc = ?")
                    .bind(&username_lc)
                    .execute(conn)
            })
            .await?,
        )
    }

    async fn record_admin_login(
        &self,
        username: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (at, username_lc) = (to_ms(at), fold_name(username));
        found(
            self.execute(None, move |conn| {
                query("UPDATE admin_accounts SET last_login_ms = ? WHERE username_lc = ?")
                    .bind(at)
                    .bind(&username_lc)
                    .execute(conn)
            })
            .await?,
        )
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        // A session for an account that does not exist (deleted meanwhile) inserts nothing:
        // NotFound.
        let (id_hash, csrf) = (session.id_hash.to_vec(), session.csrf.clone());
        let (created, expires) = (to_ms(session.created_at), to_ms(session.expires_at));
        let username_lc = fold_name(&session.username);
        let conflict = "the session already exists".to_owned();
        found(
            self.execute(Some(conflict), move |conn| {
                query(
                    "INSERT INTO admin_sessions \
                     (id_hash, account_id, csrf, created_ms, expires_ms) \
                     SELECT ?, id, ?, ?, ? FROM admin_accounts WHERE username_lc = ?",
                )
                .bind(&id_hash)
                .bind(&csrf)
                .bind(created)
                .bind(expires)
                .bind(&username_lc)
                .execute(conn)
            })
            .await?,
        )
    }

    async fn session(&self, id_hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let query = sqlx::query(
            "SELECT s.id_hash, a.username, s.csrf, s.created_ms, s.expires_ms \
             FROM admin_sessions AS s JOIN admin_accounts AS a ON a.id = s.account_id \
             WHERE s.id_hash = ?",
        )
        .bind(id_hash.as_slice());
        fetch_optional(query, &self.pool, session_row).await
    }

    async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError> {
        let id_hash = id_hash.to_vec();
        self.execute(None, move |conn| {
            query("DELETE FROM admin_sessions WHERE id_hash = ?")
                .bind(&id_hash)
                .execute(conn)
        })
        .await?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let now = to_ms(now);
        self.execute(None, move |conn| {
            query("DELETE FROM admin_sessions WHERE expires_ms < ?")
                .bind(now)
                .execute(conn)
        })
        .await
    }

    async fn add_api_token(&self, token: &ApiTokenRecord) -> Result<(), StoreError> {
        let conflict = format!("API token '{}' already exists", token.id);
        let token = token.clone();
        self.execute(Some(conflict), move |conn| {
            query(concat!(
                "INSERT INTO api_tokens (",
                token_columns!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(&token.id)
            .bind(token.scope.as_str())
            .bind(token.hash.as_slice())
            .bind(&token.description)
            .bind(&token.created_by)
            .bind(to_ms(token.created_at))
            .bind(token.expires_at.map(to_ms))
            .bind(token.last_used_at.map(to_ms))
            .execute(conn)
        })
        .await?;
        Ok(())
    }

    async fn api_token(&self, id: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        let query = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE id = ?"
        ))
        .bind(id);
        fetch_optional(query, &self.pool, token_row).await
    }

    async fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let query = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens ORDER BY created_ms, rowid"
        ));
        fetch_all(query, &self.pool, token_row).await
    }

    async fn revoke_api_token(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        found(
            self.execute(None, move |conn| {
                query("DELETE FROM api_tokens WHERE id = ?")
                    .bind(&id)
                    .execute(conn)
            })
            .await?,
        )
    }

    async fn touch_api_token(&self, id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let (at, id) = (to_ms(at), id.to_owned());
        found(
            self.execute(None, move |conn| {
                query("UPDATE api_tokens SET last_used_ms = ? WHERE id = ?")
                    .bind(at)
                    .bind(&id)
                    .execute(conn)
            })
            .await?,
        )
    }

    async fn log_requests(&self, entries: &[NewRequestLog]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let entries = entries.to_vec();
        self.writer
            .write(move |conn| insert_requests(conn, &entries))
            .await
    }

    async fn request_log(
        &self,
        query: &RequestLogQuery,
    ) -> Result<Vec<RequestLogEntry>, StoreError> {
        let mut sql: QueryBuilder<Sqlite> = QueryBuilder::new(concat!(
            "SELECT ",
            log_columns!(),
            " FROM request_log WHERE 1 = 1"
        ));
        if let Some(c) = &query.connector_id {
            sql.push(" AND connector_id = ").push_bind(c.clone());
        }
        if let Some(s) = query.min_status {
            sql.push(" AND status >= ").push_bind(i64::from(s));
        }
        if let Some(s) = query.max_status {
            sql.push(" AND status <= ").push_bind(i64::from(s));
        }
        if let Some(t) = query.since {
            sql.push(" AND at_ms >= ").push_bind(to_ms(t));
        }
        if let Some(t) = query.until {
            sql.push(" AND at_ms < ").push_bind(to_ms(t));
        }
        if let Some(seq) = query.before_seq {
            sql.push(" AND seq < ").push_bind(seq);
        }
        let limit = if query.limit == 0 {
            PAGE
        } else {
            query.limit.min(MAX_PAGE)
        };
        sql.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(limit));
        fetch_all(sql.build(), &self.pool, log_row).await
    }

    async fn request_log_entry(&self, seq: i64) -> Result<Option<RequestLogEntry>, StoreError> {
        let query = sqlx::query(concat!(
            "SELECT ",
            log_columns!(),
            " FROM request_log WHERE seq = ?"
        ))
        .bind(seq);
        fetch_optional(query, &self.pool, log_row).await
    }

    async fn prune_request_log(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let before = to_ms(before);
        let mut total = 0;
        loop {
            let deleted = self
                .execute(None, move |conn| {
                    query(PRUNE).bind(before).bind(PRUNE_CHUNK).execute(conn)
                })
                .await?;
            total += deleted;
            if deleted < PRUNE_CHUNK.unsigned_abs() {
                return Ok(total);
            }
        }
    }

    async fn connector_activity(
        &self,
        errors_since: OffsetDateTime,
    ) -> Result<Vec<ConnectorActivity>, StoreError> {
        let rows = sqlx::query(ACTIVITY)
            .bind(to_ms(errors_since))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let count = |i: usize| -> Result<u64, StoreError> {
                    let n: i64 = row.try_get(i).map_err(backend)?;
                    Ok(n.unsigned_abs())
                };
                Ok(ConnectorActivity {
                    connector_id: row.try_get(0).map_err(backend)?,
                    users: count(1)?,
                    groups: count(2)?,
                    last_request_at: opt_time(row, 3)?,
                    recent_errors: count(4)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::{ACTIVITY, PRUNE};
    use crate::sqlite::SqliteStore;

    /// The dashboard and pruning search indexes: neither reads a table whose size is the
    /// log's or the IdP view's (only `connectors` is walked, once).
    #[tokio::test]
    async fn plans_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("plan.db")).await.unwrap();
        for (sql, params) in [(ACTIVITY, 1), (PRUNE, 2)] {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
            for _ in 0..params {
                q = q.bind(0_i64);
            }
            let plan: Vec<String> = q
                .fetch_all(&store.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(3))
                .collect();
            let scans: Vec<&String> = plan
                .iter()
                .filter(|line| line.starts_with("SCAN") && !line.starts_with("SCAN c "))
                .collect();
            assert!(scans.is_empty(), "{sql}: {plan:#?}");
            if sql == ACTIVITY {
                assert!(
                    plan.iter()
                        .any(|l| l.contains("COVERING INDEX request_log_failures")),
                    "{plan:#?}"
                );
            }
        }
    }
}
