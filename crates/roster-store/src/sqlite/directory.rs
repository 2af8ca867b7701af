//! The directory side of the SQLite store ([`DirectoryStore`]): settings, directories, the
//! admin's reads and local writes, audit and sync results, preview and apply.
//!
//! Reads take the pool; writes are jobs of the writer, each with its audit rows in its
//! transaction. A preview and the settings read, which run code of the write path, take a
//! read connection of their own instead ([`SqliteStore::read_snapshot`]). The sync engine's
//! own writes are in `sync` (SCIM write path) and `preview` (preview and apply).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use roster_core::StoreError;
use roster_core::directory::{
    self, Directory, DirectoryGroup, DirectoryKind, DirectoryUser, MembershipOrigin, UserData,
    fold_name, validate_name,
};
use roster_core::settings::Settings;
use roster_core::store::{
    AuditAction, AuditEntry, AuditQuery, DirectoryStore, GroupPage, GroupQuery, ListedGroup,
    ListedUser, NewGroup, NewUser, OutcomeQuery, StoredSettings, SubjectKind, SyncOptions,
    SyncOutcome, SyncReport, SyncRun, SyncSource, UserDetail, UserInDirectory, UserMembership,
    UserPage, UserQuery, WriteContext,
};
use serde_json::{Value, json};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;

use super::exec::{Conn, query, query_as, query_scalar};
use super::journal::{self, Journal};
use super::rows::{
    Cells, GROUP_WIDTH, USER_WIDTH, attributes_json, group_columns, group_row, int_ids, origin,
    user_columns, user_row, write_error,
};
use super::{Shared, SqliteStore, backend, preview, settings, to_ms};

/// The default page size of listings, and the largest.
const PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;

fn page_size(limit: u32) -> i64 {
    i64::from(if limit == 0 {
        PAGE
    } else {
        limit.min(MAX_PAGE)
    })
}

/// A listing cursor: the last row's sort key, `[name_lc, directory]`, as JSON text.
fn cursor(name_lc: &str, directory: &str) -> String {
    json!([name_lc, directory]).to_string()
}

fn parse_cursor(c: &str) -> Result<(String, String), StoreError> {
    serde_json::from_str(c).map_err(|_| StoreError::InvalidCursor)
}

/// The keyset page of a listing ordered by `(name, directory)`: rows after the cursor `after`
/// (a name and directory as [`parse_cursor`] reads them), and one more than `limit`, which says
/// whether there is a next page. `name` and `directory` are column names, never input.
fn push_page(
    qb: &mut QueryBuilder<Sqlite>,
    name: &'static str,
    directory: &'static str,
    after: Option<&str>,
    limit: i64,
) -> Result<(), StoreError> {
    if let Some(after) = after {
        let (after_name, after_dir) = parse_cursor(after)?;
        qb.push(format!(" AND ({name}, {directory}) > ("))
            .push_bind(after_name)
            .push(", ")
            .push_bind(after_dir)
            .push(")");
    }
    qb.push(format!(" ORDER BY {name}, {directory} LIMIT "))
        .push_bind(limit + 1);
    Ok(())
}

/// The directories in order: the columns [`directory_row`] reads.
const DIRECTORIES: &str =
    "SELECT id, name, kind, connector_id, position FROM directories ORDER BY position, id";

fn directory_row(row: &impl Cells) -> Result<Directory, StoreError> {
    let kind = row.text_req(2)?;
    let connector = row.text(3)?;
    let position = row.int_req(4)?;
    Ok(Directory {
        id: row.text_req(0)?,
        name: row.text_req(1)?,
        kind: match (kind.as_str(), connector) {
            ("connector", Some(connector_id)) => DirectoryKind::Connector { connector_id },
            _ => DirectoryKind::Internal,
        },
        position: u32::try_from(position).unwrap_or(u32::MAX),
    })
}

async fn directories(pool: &SqlitePool) -> Result<Vec<Directory>, StoreError> {
    sqlx::query(DIRECTORIES)
        .fetch_all(pool)
        .await
        .map_err(backend)?
        .iter()
        .map(directory_row)
        .collect()
}

/// [`directories`] in a write job.
fn directories_in(conn: &Conn) -> Result<Vec<Directory>, StoreError> {
    query(DIRECTORIES)
        .fetch_all(conn)
        .map_err(backend)?
        .iter()
        .map(directory_row)
        .collect()
}

/// The connector a directory belongs to (`None` for `internal`); [`StoreError::NotFound`]
/// if there is no such directory.
fn directory_connector(conn: &Conn, directory: &str) -> Result<Option<String>, StoreError> {
    let row: Option<(Option<String>,)> =
        query_as("SELECT connector_id FROM directories WHERE id = ?")
            .bind(directory)
            .fetch_optional(conn)
            .map_err(backend)?;
    row.map(|(c,)| c).ok_or(StoreError::NotFound)
}

fn reorder(
    conn: &Conn,
    shared: &Shared,
    order: Vec<String>,
    ctx: &WriteContext,
) -> Result<Vec<Directory>, StoreError> {
    let before = directories_in(conn)?;
    let refs: Vec<&str> = order.iter().map(String::as_str).collect();
    let after =
        directory::reorder(&before, &refs).map_err(|e| StoreError::Invalid(e.to_string()))?;
    query(
        "UPDATE directories SET position = \
         (SELECT e.key FROM json_each(?1) AS e WHERE e.value = directories.id)",
    )
    .bind(Value::from(order.clone()).to_string())
    .execute(conn)
    .map_err(backend)?;
    let ids = |ds: &[Directory]| Value::from(ds.iter().map(|d| d.id.clone()).collect::<Vec<_>>());
    let mut journal = Journal::new(None, ctx, SyncSource::Scim);
    journal.audit(
        None,
        SubjectKind::Directory,
        "order",
        None,
        AuditAction::DirectoryOrder,
        Some(ids(&before)),
        Some(ids(&after)),
        None,
    );
    journal.submit(&shared.journal);
    Ok(after)
}

/// How many rows a listing matches: `from` is its `FROM … WHERE true`, and `filter` adds the
/// conditions its page query has.
async fn count(
    pool: &SqlitePool,
    from: &'static str,
    filter: impl Fn(&mut QueryBuilder<Sqlite>),
) -> Result<i64, StoreError> {
    let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) ");
    count.push(from);
    filter(&mut count);
    count
        .build()
        .fetch_one(pool)
        .await
        .map_err(backend)?
        .try_get(0)
        .map_err(backend)
}

/// Whether the user `u` of directory `d` is the one apps see for its username: no earlier
/// directory holds the name.
macro_rules! effective_user {
    () => {
        "NOT EXISTS (SELECT 1 FROM dir_users AS o \
         JOIN directories AS od ON od.id = o.directory_id \
         WHERE o.username_lc = u.username_lc AND o.id <> u.id \
         AND (od.position < d.position OR (od.position = d.position AND od.id < d.id)))"
    };
}

/// A search text as listings compare it: folded, or nothing when blank.
fn search_key(search: Option<&str>) -> Option<String> {
    search
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(fold_name)
}

async fn users(pool: &SqlitePool, query: &UserQuery) -> Result<UserPage, StoreError> {
    let limit = page_size(query.limit);
    let search = search_key(query.search.as_deref());
    // `username_lc` is folded like the search text; SQLite's lower() folds ASCII only, which
    // is what display names and emails get.
    let filter = |qb: &mut QueryBuilder<Sqlite>| {
        if let Some(d) = &query.directory {
            qb.push(" AND u.directory_id = ").push_bind(d.clone());
        }
        if let Some(s) = &search {
            qb.push(" AND (instr(u.username_lc, ")
                .push_bind(s.clone())
                .push(") > 0 OR instr(lower(u.display_name), ")
                .push_bind(s.clone())
                .push(") > 0 OR instr(lower(coalesce(u.email, '')), ")
                .push_bind(s.clone())
                .push(") > 0)");
        }
        if let Some(g) = &query.member_of {
            // Driven from the groups of that name (one index range each), not by probing
            // every user: a group's members are few next to a directory's users.
            qb.push(
                " AND u.id IN (SELECT m.user_id FROM dir_groups AS mg \
                 JOIN dir_memberships AS m ON m.group_id = mg.id WHERE mg.name_lc = ",
            )
            .push_bind(fold_name(g))
            .push(")");
        }
        if query.effective_only {
            qb.push(concat!(" AND ", effective_user!()));
        }
    };
    let total = count(
        pool,
        "FROM dir_users AS u JOIN directories AS d ON d.id = u.directory_id WHERE true",
        filter,
    )
    .await?;
    let mut qb = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        user_columns!(),
        ", ",
        effective_user!(),
        " FROM dir_users AS u JOIN directories AS d ON d.id = u.directory_id WHERE true"
    ));
    filter(&mut qb);
    push_page(
        &mut qb,
        "u.username_lc",
        "u.directory_id",
        query.after.as_deref(),
        limit,
    )?;
    let rows = qb.build().fetch_all(pool).await.map_err(backend)?;
    let mut users = Vec::with_capacity(rows.len());
    for row in &rows {
        users.push(ListedUser {
            user: user_row(row, 0)?,
            effective: row.try_get(USER_WIDTH).map_err(backend)?,
        });
    }
    let next = if users.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        users.pop();
        users
            .last()
            .map(|u| cursor(&fold_name(&u.user.data.username), &u.user.directory))
    } else {
        None
    };
    Ok(UserPage {
        total: u64::try_from(total).unwrap_or(0),
        users,
        next,
    })
}

async fn memberships(
    conn: &mut SqliteConnection,
    user_ids: &[&str],
) -> Result<HashMap<String, Vec<UserMembership>>, StoreError> {
    let rows: Vec<(i64, i64, String, Option<String>, String)> = sqlx::query_as(
        "SELECT m.user_id, g.id, g.name, g.idp_id, m.origin FROM dir_memberships AS m \
         JOIN dir_groups AS g ON g.id = m.group_id \
         WHERE m.user_id IN (SELECT value FROM json_each(?)) ORDER BY g.name_lc",
    )
    .bind(int_ids(user_ids.iter().copied()))
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let mut out: HashMap<String, Vec<UserMembership>> = HashMap::new();
    for (user, group_id, group, idp_group, o) in rows {
        out.entry(user.to_string())
            .or_default()
            .push(UserMembership {
                group_id: group_id.to_string(),
                group,
                idp_group,
                origin: origin(&o)?,
            });
    }
    Ok(out)
}

async fn user(pool: &SqlitePool, username: &str) -> Result<Option<UserDetail>, StoreError> {
    let mut conn = pool.acquire().await.map_err(backend)?;
    let rows = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM dir_users AS u JOIN directories AS d \
         ON d.id = u.directory_id WHERE u.username_lc = ? ORDER BY d.position, d.id"
    ))
    .bind(fold_name(username))
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let found: Vec<DirectoryUser> = rows
        .iter()
        .map(|r| user_row(r, 0))
        .collect::<Result<_, _>>()?;
    let Some(first) = found.first() else {
        return Ok(None);
    };
    let effective_directory = first.directory.clone();
    let ids: Vec<&str> = found.iter().map(|u| u.id.as_str()).collect();
    let mut ms = memberships(&mut conn, &ids).await?;
    let users = found
        .into_iter()
        .enumerate()
        .map(|(i, user)| UserInDirectory {
            memberships: ms.remove(&user.id).unwrap_or_default(),
            effective: i == 0,
            user,
        })
        .collect();
    Ok(Some(UserDetail {
        effective_directory,
        users,
    }))
}

async fn group(pool: &SqlitePool, id: &str) -> Result<Option<DirectoryGroup>, StoreError> {
    // Store ids are integers: any other text names no group.
    let Ok(id) = id.parse::<i64>() else {
        return Ok(None);
    };
    sqlx::query(concat!(
        "SELECT ",
        group_columns!(),
        " FROM dir_groups AS g WHERE g.id = ?"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(backend)?
    .map(|row| group_row(&row, 0))
    .transpose()
}

async fn linked_user(
    pool: &SqlitePool,
    directory: &str,
    idp_id: &str,
) -> Result<Option<DirectoryUser>, StoreError> {
    sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM dir_users AS u WHERE u.directory_id = ? AND u.idp_id = ?"
    ))
    .bind(directory)
    .bind(idp_id)
    .fetch_optional(pool)
    .await
    .map_err(backend)?
    .map(|row| user_row(&row, 0))
    .transpose()
}

async fn groups(pool: &SqlitePool, query: &GroupQuery) -> Result<GroupPage, StoreError> {
    let limit = page_size(query.limit);
    let search = search_key(query.search.as_deref());
    let name = query.name.as_deref().map(fold_name);
    let filter = |qb: &mut QueryBuilder<Sqlite>| {
        if let Some(d) = &query.directory {
            qb.push(" AND g.directory_id = ").push_bind(d.clone());
        }
        if let Some(s) = &search {
            qb.push(" AND instr(g.name_lc, ")
                .push_bind(s.clone())
                .push(") > 0");
        }
        if let Some(name) = &name {
            qb.push(" AND g.name_lc = ").push_bind(name.clone());
        }
        if query.effective_only {
            qb.push(
                " AND NOT EXISTS (SELECT 1 FROM dir_groups AS o \
                 JOIN directories AS od ON od.id = o.directory_id \
                 WHERE o.name_lc = g.name_lc AND o.id <> g.id \
                 AND (od.position < d.position OR (od.position = d.position AND od.id < d.id)))",
            );
        }
    };
    let total = count(
        pool,
        "FROM dir_groups AS g JOIN directories AS d ON d.id = g.directory_id WHERE true",
        filter,
    )
    .await?;
    let mut qb = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        group_columns!(),
        ", \
         (SELECT count(*) FROM dir_memberships AS m WHERE m.group_id = g.id) \
         FROM dir_groups AS g JOIN directories AS d ON d.id = g.directory_id WHERE true"
    ));
    filter(&mut qb);
    push_page(
        &mut qb,
        "g.name_lc",
        "g.directory_id",
        query.after.as_deref(),
        limit,
    )?;
    let rows = qb.build().fetch_all(pool).await.map_err(backend)?;
    let mut groups = Vec::with_capacity(rows.len());
    for row in &rows {
        let members: i64 = row.try_get(GROUP_WIDTH).map_err(backend)?;
        groups.push(ListedGroup {
            group: group_row(row, 0)?,
            members: u64::try_from(members).unwrap_or(0),
        });
    }
    let next = if groups.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        groups.pop();
        groups
            .last()
            .map(|g| cursor(&fold_name(&g.group.name), &g.group.directory))
    } else {
        None
    };
    Ok(GroupPage {
        total: u64::try_from(total).unwrap_or(0),
        groups,
        next,
    })
}

fn taken(e: StoreError, what: &str, name: &str, directory: &str) -> StoreError {
    match e {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "{what} '{name}' already exists in directory '{directory}'"
        )),
        other => other,
    }
}

fn create_user(
    conn: &Conn,
    shared: &Shared,
    directory: &str,
    new: NewUser,
    ctx: &WriteContext,
) -> Result<DirectoryUser, StoreError> {
    validate_name("username", &new.username).map_err(StoreError::Invalid)?;
    let connector = directory_connector(conn, directory)?;
    let data = UserData {
        display_name: new
            .display_name
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| new.username.clone()),
        username: new.username,
        email: new.email,
        first_name: new.first_name,
        last_name: new.last_name,
        active: new.active,
        attributes: new.attributes,
        last_login: new.last_login,
        idp_id: None,
        cleanup: None,
        anonymized: false,
    };
    let at = to_ms(ctx.at);
    let id: i64 = query_scalar(
        "INSERT INTO dir_users (directory_id, username, username_lc, display_name, email, \
         first_name, last_name, active, attributes, last_login_ms, idp_id, created_ms, \
         modified_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?) RETURNING id",
    )
    .bind(directory)
    .bind(&data.username)
    .bind(fold_name(&data.username))
    .bind(&data.display_name)
    .bind(&data.email)
    .bind(&data.first_name)
    .bind(&data.last_name)
    .bind(data.active)
    .bind(attributes_json(&data.attributes))
    .bind(data.last_login.map(to_ms))
    .bind(at)
    .bind(at)
    .fetch_one(conn)
    .map_err(|e| taken(write_error(e), "user", &data.username, directory))?;
    let user = DirectoryUser {
        id: id.to_string(),
        directory: directory.to_owned(),
        data,
    };
    let mut journal = Journal::new(connector.as_deref(), ctx, SyncSource::Scim);
    journal.audit(
        Some(directory),
        SubjectKind::User,
        &user.id,
        Some(&user.data.username),
        AuditAction::UserCreate,
        None,
        serde_json::to_value(&user.data).ok(),
        None,
    );
    journal.submit(&shared.journal);
    Ok(user)
}

fn create_group(
    conn: &Conn,
    shared: &Shared,
    directory: &str,
    new: NewGroup,
    ctx: &WriteContext,
) -> Result<DirectoryGroup, StoreError> {
    validate_name("group name", &new.name).map_err(StoreError::Invalid)?;
    let connector = directory_connector(conn, directory)?;
    let at = to_ms(ctx.at);
    let id: i64 = query_scalar(
        "INSERT INTO dir_groups (directory_id, name, name_lc, description, idp_id, created_ms, \
         modified_ms) VALUES (?, ?, ?, ?, NULL, ?, ?) RETURNING id",
    )
    .bind(directory)
    .bind(&new.name)
    .bind(fold_name(&new.name))
    .bind(&new.description)
    .bind(at)
    .bind(at)
    .fetch_one(conn)
    .map_err(|e| taken(write_error(e), "group", &new.name, directory))?;
    let group = DirectoryGroup {
        id: id.to_string(),
        directory: directory.to_owned(),
        name: new.name,
        description: new.description,
        idp_id: None,
    };
    let mut journal = Journal::new(connector.as_deref(), ctx, SyncSource::Scim);
    journal.audit(
        Some(directory),
        SubjectKind::Group,
        &group.id,
        Some(&group.name),
        AuditAction::GroupCreate,
        None,
        serde_json::to_value(&group).ok(),
        None,
    );
    journal.submit(&shared.journal);
    Ok(group)
}

/// A local membership change: the user and group by name in `directory`.
fn member(
    conn: &Conn,
    shared: &Shared,
    directory: &str,
    username: &str,
    group: &str,
    add: bool,
    ctx: &WriteContext,
) -> Result<bool, StoreError> {
    let connector = directory_connector(conn, directory)?;
    let user: Option<(i64, String)> =
        query_as("SELECT id, username FROM dir_users WHERE directory_id = ? AND username_lc = ?")
            .bind(directory)
            .bind(fold_name(username))
            .fetch_optional(conn)
            .map_err(backend)?;
    let g: Option<(i64, String, Option<String>)> =
        query_as("SELECT id, name, idp_id FROM dir_groups WHERE directory_id = ? AND name_lc = ?")
            .bind(directory)
            .bind(fold_name(group))
            .fetch_optional(conn)
            .map_err(backend)?;
    let (Some((user_id, username)), Some((group_id, group, idp_group))) = (user, g) else {
        return Err(StoreError::NotFound);
    };
    let changed: Option<String> = query_scalar::<String>(if add {
        "INSERT INTO dir_memberships (user_id, group_id, origin) VALUES (?, ?, 'local') \
         ON CONFLICT DO NOTHING RETURNING origin"
    } else {
        "DELETE FROM dir_memberships WHERE user_id = ? AND group_id = ? RETURNING origin"
    })
    .bind(user_id)
    .bind(group_id)
    .fetch_optional(conn)
    .map_err(write_error)?;
    let Some(o) = changed else {
        return Ok(false);
    };
    let about = json!({"group": group, "group_id": group_id.to_string(),
        "idp_group": idp_group, "origin": origin(&o).unwrap_or(MembershipOrigin::Local)});
    let (action, before, after) = if add {
        (AuditAction::MembershipAdd, None, Some(about))
    } else {
        (AuditAction::MembershipRemove, Some(about), None)
    };
    let mut journal = Journal::new(connector.as_deref(), ctx, SyncSource::Scim);
    journal.audit(
        Some(directory),
        SubjectKind::Membership,
        &user_id.to_string(),
        Some(&username),
        action,
        before,
        after,
        None,
    );
    journal.submit(&shared.journal);
    Ok(true)
}

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn settings(&self, connector_id: &str) -> Result<StoredSettings, StoreError> {
        // `settings::get` is the write path's (`set` reads the stored settings with it).
        let connector_id = connector_id.to_owned();
        self.read_snapshot(move |conn| settings::get(conn, &connector_id))
            .await
    }

    async fn set_settings(
        &self,
        connector_id: &str,
        document: &Settings,
        if_version: Option<i64>,
        ctx: &WriteContext,
    ) -> Result<StoredSettings, StoreError> {
        // Compiled before the job: the writer never waits for a compile.
        let compiled = Arc::new(document.compile().map_err(StoreError::InvalidSettings)?);
        let (connector_id, ctx, shared) = (
            connector_id.to_owned(),
            ctx.clone(),
            Arc::clone(&self.shared),
        );
        self.writer
            .write(move |conn| {
                settings::set(
                    conn,
                    &shared,
                    &connector_id,
                    Arc::clone(&compiled),
                    if_version,
                    &ctx,
                )
            })
            .await
    }

    async fn directories(&self) -> Result<Vec<Directory>, StoreError> {
        directories(&self.pool).await
    }

    async fn reorder_directories(
        &self,
        order: &[String],
        ctx: &WriteContext,
    ) -> Result<Vec<Directory>, StoreError> {
        let (order, ctx, shared) = (order.to_vec(), ctx.clone(), Arc::clone(&self.shared));
        self.writer
            .write(move |conn| reorder(conn, &shared, order.clone(), &ctx))
            .await
    }

    async fn users(&self, query: &UserQuery) -> Result<UserPage, StoreError> {
        users(&self.pool, query).await
    }

    async fn user(&self, username: &str) -> Result<Option<UserDetail>, StoreError> {
        user(&self.pool, username).await
    }

    async fn groups(&self, query: &GroupQuery) -> Result<GroupPage, StoreError> {
        groups(&self.pool, query).await
    }

    async fn group(&self, id: &str) -> Result<Option<DirectoryGroup>, StoreError> {
        group(&self.pool, id).await
    }

    async fn linked_user(
        &self,
        directory: &str,
        idp_id: &str,
    ) -> Result<Option<DirectoryUser>, StoreError> {
        linked_user(&self.pool, directory, idp_id).await
    }

    async fn create_user(
        &self,
        directory: &str,
        user: &NewUser,
        ctx: &WriteContext,
    ) -> Result<DirectoryUser, StoreError> {
        let (directory, user, ctx) = (directory.to_owned(), user.clone(), ctx.clone());
        let shared = Arc::clone(&self.shared);
        self.writer
            .write(move |conn| create_user(conn, &shared, &directory, user.clone(), &ctx))
            .await
    }

    async fn create_group(
        &self,
        directory: &str,
        group: &NewGroup,
        ctx: &WriteContext,
    ) -> Result<DirectoryGroup, StoreError> {
        let (directory, group, ctx) = (directory.to_owned(), group.clone(), ctx.clone());
        let shared = Arc::clone(&self.shared);
        self.writer
            .write(move |conn| create_group(conn, &shared, &directory, group.clone(), &ctx))
            .await
    }

    async fn add_member(
        &self,
        directory: &str,
        username: &str,
        group: &str,
        ctx: &WriteContext,
    ) -> Result<bool, StoreError> {
        let (d, u, g, ctx) = (
            directory.to_owned(),
            username.to_owned(),
            group.to_owned(),
            ctx.clone(),
        );
        let shared = Arc::clone(&self.shared);
        self.writer
            .write(move |conn| member(conn, &shared, &d, &u, &g, true, &ctx))
            .await
    }

    async fn remove_member(
        &self,
        directory: &str,
        username: &str,
        group: &str,
        ctx: &WriteContext,
    ) -> Result<bool, StoreError> {
        let (d, u, g, ctx) = (
            directory.to_owned(),
            username.to_owned(),
            group.to_owned(),
            ctx.clone(),
        );
        let shared = Arc::clone(&self.shared);
        self.writer
            .write(move |conn| member(conn, &shared, &d, &u, &g, false, &ctx))
            .await
    }

    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        journal::audit(&self.pool, query).await
    }

    async fn sync_runs(
        &self,
        connector_id: &str,
        since: Option<OffsetDateTime>,
        limit: u32,
    ) -> Result<Vec<SyncRun>, StoreError> {
        journal::runs(&self.pool, connector_id, since, limit).await
    }

    async fn sync_outcomes(&self, query: &OutcomeQuery) -> Result<Vec<SyncOutcome>, StoreError> {
        journal::outcomes(&self.pool, query).await
    }

    async fn preview(
        &self,
        connector_id: &str,
        options: &SyncOptions,
    ) -> Result<SyncReport, StoreError> {
        let (shared, connector_id, options) = (
            Arc::clone(&self.shared),
            connector_id.to_owned(),
            options.clone(),
        );
        self.read_snapshot(move |conn| preview::preview(conn, &shared, &connector_id, &options))
            .await
    }

    async fn apply(
        &self,
        connector_id: &str,
        options: &SyncOptions,
        ctx: &WriteContext,
    ) -> Result<SyncReport, StoreError> {
        if options.proposed.is_some() {
            return Err(StoreError::Invalid(
                "apply runs the stored settings: store the proposed ones first".into(),
            ));
        }
        preview::apply(self, connector_id, options, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::directory::INTERNAL;

    #[test]
    fn cursors_round_trip() {
        let c = cursor("adele", INTERNAL);
        assert_eq!(parse_cursor(&c).unwrap(), ("adele".into(), INTERNAL.into()));
        assert!(matches!(parse_cursor("x"), Err(StoreError::InvalidCursor)));
    }
}
