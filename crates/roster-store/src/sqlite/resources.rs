//! The IdP view's rows: reading resources, and the write jobs that create, change and
//! delete them (each runs inside the writer's transaction, in its own savepoint).
//!
//! Group memberships are rows, and every membership change costs O(changes): a PATCH of a
//! group applies its [`MemberDelta`] to the rows it names, with one set-based statement per
//! kind of change, and never reads the member list; only a replacement of the whole list
//! (PUT with `members`, PATCH `replace members`) reads it, to write the difference. Members must exist in the connector (as a user or a group, which
//! gives their `type`); otherwise the whole job fails with `UnknownMembers` and is rolled
//! back, body changes included. Uniqueness (`userName`, group `displayName`, both
//! case-insensitive) is the unique indexes' job: the constraint error becomes `Conflict`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::panic::AssertUnwindSafe;

use roster_core::StoreError;
use roster_core::store::{
    GroupRef, Load, NewResource, ResourceKind, StoredResource, Update, Updated,
};
use scim::ScimError;
use scim::patch::{Member, MemberDelta};
use serde_json::{Map, Value, json};
use sqlx::SqlitePool;
use time::OffsetDateTime;

use super::exec::{
    Conn, is_foreign_key_violation, is_unique_violation, message, query, query_as, query_scalar,
};
use super::filter::Sql;
use super::rows::Cells;
use super::{backend, from_ms, to_ms};
use crate::columns::{Email, Indexed};

/// The same statement for users and groups, with the table name in the middle.
macro_rules! kind_sql {
    ($kind:expr, $head:literal, $tail:literal) => {
        match $kind {
            ResourceKind::User => concat!($head, "scim_users", $tail),
            ResourceKind::Group => concat!($head, "scim_groups", $tail),
        }
    };
}

/// The table of a resource type.
pub(super) fn table(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "scim_users",
        ResourceKind::Group => "scim_groups",
    }
}

/// The columns [`resource_row`] reads, in order; [`linked_column`] may add one.
pub(super) const COLUMNS: &str = "r.seq, r.id, r.version, r.created_ms, r.modified_ms, r.body";

/// The extra column that brings a group's members or a user's groups along with the row, as
/// a JSON array of arrays: loading them costs no second query (and none at all when the
/// client excluded them). `ORDER BY` inside an aggregate needs SQLite 3.44 (bundled: 3.51).
pub(super) fn linked_column(kind: ResourceKind, load: Load) -> Option<&'static str> {
    match kind {
        ResourceKind::Group if load.members => Some(
            ", (SELECT json_group_array(json_array(m.member_id, m.member_type, m.display) \
             ORDER BY m.member_id) FROM scim_memberships AS m \
             WHERE m.connector_id = r.connector_id AND m.group_id = r.id)",
        ),
        // Most users are in no group, and an ordered aggregate opens a temporary b-tree for
        // its ORDER BY even when it aggregates nothing (a fifth of a lookup's SQLite time):
        // one probe of the member index first answers those users with `[]`.
        ResourceKind::User if load.groups => Some(
            ", CASE WHEN EXISTS (SELECT 1 FROM scim_memberships AS m \
             WHERE m.connector_id = r.connector_id AND m.member_id = r.id \
             AND m.member_type = 'User') \
             THEN (SELECT json_group_array(json_array(g.id, g.display_name) ORDER BY g.seq) \
             FROM scim_memberships AS m JOIN scim_groups AS g \
             ON g.connector_id = m.connector_id AND g.id = m.group_id \
             WHERE m.connector_id = r.connector_id AND m.member_id = r.id \
             AND m.member_type = 'User') ELSE '[]' END",
        ),
        ResourceKind::Group | ResourceKind::User => None,
    }
}

/// A resource row (with the [`linked_column`] for `load`, if any), from whichever driver
/// ran the query: its sequence number and the resource.
pub(super) fn resource_row(
    row: &impl Cells,
    kind: ResourceKind,
    load: Load,
) -> Result<(i64, StoredResource), StoreError> {
    let mut resource = StoredResource {
        id: row.text_req(1)?,
        version: row.int_req(2)?,
        created: from_ms(row.int_req(3)?)?,
        last_modified: from_ms(row.int_req(4)?)?,
        body: serde_json::from_str(&row.text_req(5)?).map_err(StoreError::backend)?,
        members: None,
        groups: None,
    };
    if linked_column(kind, load).is_some() {
        let text = row.text(6)?;
        let linked: Vec<Vec<Value>> =
            serde_json::from_str(text.as_deref().unwrap_or("[]")).map_err(StoreError::backend)?;
        let text_at = |l: &[Value], i: usize| l.get(i).and_then(Value::as_str).map(str::to_owned);
        match kind {
            ResourceKind::Group => {
                resource.members = Some(
                    linked
                        .iter()
                        .map(|l| Member {
                            value: text_at(l, 0).unwrap_or_default(),
                            kind: text_at(l, 1),
                            display: text_at(l, 2),
                        })
                        .collect(),
                );
            }
            ResourceKind::User => {
                resource.groups = Some(
                    linked
                        .iter()
                        .map(|l| GroupRef {
                            id: text_at(l, 0).unwrap_or_default(),
                            display: text_at(l, 1).unwrap_or_default(),
                        })
                        .collect(),
                );
            }
        }
    }
    Ok((row.int_req(0)?, resource))
}

/// The query of one resource by id: [`COLUMNS`] (and the [`linked_column`] for `load`).
pub(super) fn get_sql(connector_id: &str, kind: ResourceKind, id: &str, load: Load) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT ");
    sql.push(COLUMNS);
    if let Some(linked) = linked_column(kind, load) {
        sql.push(linked);
    }
    sql.push(" FROM ");
    sql.push(table(kind));
    sql.push(" AS r WHERE r.connector_id = ");
    sql.bind_text(connector_id);
    sql.push(" AND r.id = ");
    sql.bind_text(id);
    sql
}

pub(super) async fn get(
    pool: &SqlitePool,
    connector_id: &str,
    kind: ResourceKind,
    id: &str,
    load: Load,
) -> Result<Option<StoredResource>, StoreError> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
    get_sql(connector_id, kind, id, load).write_to(&mut qb);
    let row = qb.build().fetch_optional(pool).await.map_err(backend)?;
    row.map(|row| resource_row(&row, kind, load).map(|(_, r)| r))
        .transpose()
}

/// A failed insert or update of a resource row, as the client should hear it.
fn write_error(e: rusqlite::Error, kind: ResourceKind, ix: &Indexed) -> StoreError {
    if is_foreign_key_violation(&e) {
        // The connector does not exist (any more).
        return StoreError::NotFound;
    }
    if !is_unique_violation(&e) {
        return backend(e);
    }
    let message = message(&e);
    if message.contains("user_name_lc") {
        StoreError::Conflict(format!(
            "userName '{}' is already taken",
            ix.user_name.as_deref().unwrap_or_default()
        ))
    } else if message.contains("display_name_lc") {
        StoreError::Conflict(format!(
            "displayName '{}' is already taken",
            ix.display_name.as_deref().unwrap_or_default()
        ))
    } else {
        StoreError::Conflict(format!("this {} id already exists", kind.as_str()))
    }
}

fn body_text(body: &Map<String, Value>) -> Result<String, StoreError> {
    serde_json::to_string(body).map_err(StoreError::backend)
}

/// A user's email rows as one bound JSON value, for a set-based insert.
fn emails_json(emails: &[Email]) -> String {
    Value::Array(
        emails
            .iter()
            .map(|e| json!([e.value_lc, e.type_lc]))
            .collect(),
    )
    .to_string()
}

/// Set-based membership statements take their ids as one bound JSON array: one statement
/// (one prepared statement) for k members, O(k) work in SQLite.
fn ids_json<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    Value::Array(ids.into_iter().map(|id| json!(id)).collect()).to_string()
}

/// The type of each member: `User` or `Group`, from the table it is found in. One indexed
/// lookup per member, in one statement; any that exists in neither fails the job with
/// `UnknownMembers`.
fn resolve_members<'m>(
    conn: &Conn,
    connector_id: &str,
    members: impl IntoIterator<Item = &'m Member>,
) -> Result<Vec<(&'m Member, String)>, StoreError> {
    let members: Vec<&Member> = members.into_iter().collect();
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let types: Vec<(i64, Option<String>)> = query_as(
        "SELECT e.key, COALESCE( \
           (SELECT 'User' FROM scim_users WHERE connector_id = ?1 AND id = e.value), \
           (SELECT 'Group' FROM scim_groups WHERE connector_id = ?1 AND id = e.value)) \
         FROM json_each(?2) AS e",
    )
    .bind(connector_id)
    .bind(ids_json(members.iter().map(|m| m.value.as_str())))
    .fetch_all(conn)
    .map_err(backend)?;
    let mut typed = Vec::with_capacity(members.len());
    let mut unknown = Vec::new();
    for (i, ty) in types {
        let Some(m) = usize::try_from(i).ok().and_then(|i| members.get(i)) else {
            continue;
        };
        match ty {
            Some(ty) => typed.push((*m, ty)),
            None => unknown.push(m.value.clone()),
        }
    }
    if unknown.is_empty() {
        Ok(typed)
    } else {
        Err(StoreError::UnknownMembers(unknown))
    }
}

/// Inserts memberships, ignoring those already present; returns the user members that were
/// new (the users whose directory memberships the sync must look at again).
fn insert_members(
    conn: &Conn,
    connector_id: &str,
    group_id: &str,
    members: &[(&Member, String)],
) -> Result<Changed, StoreError> {
    if members.is_empty() {
        return Ok(Changed::default());
    }
    let rows = Value::Array(
        members
            .iter()
            .map(|(m, ty)| json!([m.value, ty, m.display]))
            .collect(),
    )
    .to_string();
    let changed: Vec<(String, String)> = query_as(
        "INSERT OR IGNORE INTO scim_memberships \
         (connector_id, group_id, member_id, member_type, display) \
         SELECT ?, ?, e.value ->> 0, e.value ->> 1, e.value ->> 2 FROM json_each(?) AS e \
         RETURNING member_id, member_type",
    )
    .bind(connector_id)
    .bind(group_id)
    .bind(rows)
    .fetch_all(conn)
    .map_err(backend)?;
    Ok(Changed::from_rows(changed))
}

/// Deletes memberships; returns the user members that were removed.
fn remove_members<'a>(
    conn: &Conn,
    connector_id: &str,
    group_id: &str,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<Changed, StoreError> {
    let ids = ids_json(ids);
    if ids == "[]" {
        return Ok(Changed::default());
    }
    let changed: Vec<(String, String)> = query_as(
        "DELETE FROM scim_memberships WHERE connector_id = ? AND group_id = ? \
         AND member_id IN (SELECT value FROM json_each(?)) RETURNING member_id, member_type",
    )
    .bind(connector_id)
    .bind(group_id)
    .bind(ids)
    .fetch_all(conn)
    .map_err(backend)?;
    Ok(Changed::from_rows(changed))
}

/// Membership rows a write added or removed: how many, and which users.
#[derive(Debug, Default)]
struct Changed {
    rows: usize,
    users: Vec<String>,
}

impl Changed {
    fn from_rows(rows: Vec<(String, String)>) -> Self {
        Self {
            rows: rows.len(),
            users: rows
                .into_iter()
                .filter(|(_, ty)| ty == "User")
                .map(|(id, _)| id)
                .collect(),
        }
    }

    fn merge(mut self, other: Self) -> Self {
        self.rows += other.rows;
        self.users.extend(other.users);
        self
    }
}

/// The members as the client listed them, each id once (the first mention wins).
fn distinct(members: impl IntoIterator<Item = Member>) -> Vec<Member> {
    let mut seen = HashSet::new();
    members
        .into_iter()
        .filter(|m| seen.insert(m.value.clone()))
        .collect()
}

/// The statements that insert a user and its email rows.
const INSERT_USER: &str = "INSERT INTO scim_users (connector_id, id, version, created_ms, \
     modified_ms, user_name_lc, external_id, display_name_lc, body) \
     VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?); \
     INSERT INTO scim_user_emails (user_seq, connector_id, value_lc, type_lc) \
     SELECT u.seq, u.connector_id, e.value ->> 0, e.value ->> 1 \
     FROM scim_users AS u, json_each(?) AS e \
     WHERE u.connector_id = ? AND u.id = ?";

/// Inserts a new user and its email rows (a `userName` taken is [`StoreError::Conflict`]).
pub(super) fn insert_user(
    conn: &Conn,
    connector_id: &str,
    new: &NewResource,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = to_ms(at);
    let ix = Indexed::user(&new.body);
    query(INSERT_USER)
        .bind(connector_id)
        .bind(&new.id)
        .bind(at)
        .bind(at)
        .bind(ix.user_name_lc.as_deref())
        .bind(ix.external_id.as_deref())
        .bind(ix.display_name_lc.as_deref())
        .bind(body_text(&new.body)?)
        .bind(emails_json(&ix.emails))
        .bind(connector_id)
        .bind(&new.id)
        .execute(conn)
        .map(drop)
        .map_err(|e| write_error(e, ResourceKind::User, &ix))
}

/// A stored user as it was just created.
pub(super) fn created(new: NewResource, at: OffsetDateTime) -> Result<StoredResource, StoreError> {
    let at = from_ms(to_ms(at))?;
    Ok(StoredResource {
        id: new.id,
        version: 1,
        created: at,
        last_modified: at,
        body: new.body,
        members: None,
        groups: None,
    })
}

pub(super) fn create(
    conn: &Conn,
    connector_id: &str,
    kind: ResourceKind,
    new: NewResource,
    at: OffsetDateTime,
) -> Result<StoredResource, StoreError> {
    if kind == ResourceKind::User {
        insert_user(conn, connector_id, &new, at)?;
        return created(new, at);
    }
    let connector_id = connector_id.to_owned();
    let at = to_ms(at);
    let text = body_text(&new.body)?;
    let ix = Indexed::group(&new.body);
    query(
        "INSERT INTO scim_groups (connector_id, id, version, created_ms, modified_ms, \
         display_name, display_name_lc, external_id, body) \
         VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&connector_id)
    .bind(&new.id)
    .bind(at)
    .bind(at)
    .bind(ix.display_name.as_deref())
    .bind(ix.display_name_lc.as_deref())
    .bind(ix.external_id.as_deref())
    .bind(&text)
    .execute(conn)
    .map_err(|e| write_error(e, kind, &ix))?;
    // A new group's members are returned, with their types, as the POST response shows them.
    let members = if new.members.is_empty() {
        None
    } else {
        let wanted = distinct(new.members);
        let typed = resolve_members(conn, &connector_id, &wanted)?;
        insert_members(conn, &connector_id, &new.id, &typed)?;
        Some(
            typed
                .into_iter()
                .map(|(m, ty)| Member {
                    kind: Some(ty),
                    ..m.clone()
                })
                .collect(),
        )
    };
    let at = from_ms(at)?;
    Ok(StoredResource {
        id: new.id,
        version: 1,
        created: at,
        last_modified: at,
        body: new.body,
        members,
        groups: None,
    })
}

/// A change to a group's membership rows.
enum MemberChange {
    /// The members become exactly these.
    Set(Vec<Member>),
    /// Remove these ids, then add these members.
    Delta {
        remove: BTreeSet<String>,
        add: BTreeMap<String, Member>,
    },
}

impl MemberChange {
    fn from_delta(delta: MemberDelta) -> Option<Self> {
        if delta.is_empty() {
            None
        } else if delta.clear {
            // `clear` then `add` is a replacement: written as a difference, so re-sending
            // the same members changes nothing.
            Some(Self::Set(delta.add.into_values().collect()))
        } else {
            Some(Self::Delta {
                remove: delta.remove,
                add: delta.add,
            })
        }
    }
}

/// Applies a membership change; returns the rows changed.
fn change_members(
    conn: &Conn,
    connector_id: &str,
    group_id: &str,
    change: MemberChange,
) -> Result<Changed, StoreError> {
    match change {
        MemberChange::Delta { remove, add } => {
            let typed = resolve_members(conn, connector_id, add.values())?;
            let removed = remove_members(
                conn,
                connector_id,
                group_id,
                remove.iter().map(String::as_str),
            )?;
            let added = insert_members(conn, connector_id, group_id, &typed)?;
            Ok(removed.merge(added))
        }
        MemberChange::Set(wanted) => {
            // Replacing the whole list is the one membership change that must read it.
            let current: Vec<String> = query_scalar(
                "SELECT member_id FROM scim_memberships WHERE connector_id = ? AND group_id = ?",
            )
            .bind(connector_id)
            .bind(group_id)
            .fetch_all(conn)
            .map_err(backend)?;
            let wanted = distinct(wanted);
            let keep: HashSet<&str> = wanted.iter().map(|m| m.value.as_str()).collect();
            let have: HashSet<&str> = current.iter().map(String::as_str).collect();
            let added: Vec<&Member> = wanted
                .iter()
                .filter(|m| !have.contains(m.value.as_str()))
                .collect();
            let typed = resolve_members(conn, connector_id, added)?;
            let gone = current
                .iter()
                .map(String::as_str)
                .filter(|id| !keep.contains(id));
            let removed = remove_members(conn, connector_id, group_id, gone)?;
            let added = insert_members(conn, connector_id, group_id, &typed)?;
            Ok(removed.merge(added))
        }
    }
}

/// What an update did, for the sync that follows it.
#[derive(Debug)]
pub(super) struct UpdateEffect {
    /// The result for the caller.
    pub(super) updated: Updated,
    /// The body before.
    pub(super) before: Map<String, Value>,
    /// A group's user members that were added or removed.
    pub(super) members: Vec<String>,
}

pub(super) fn update(
    conn: &Conn,
    connector_id: &str,
    kind: ResourceKind,
    id: &str,
    if_version: Option<i64>,
    update: &Update,
    at: OffsetDateTime,
) -> Result<UpdateEffect, StoreError> {
    let row = query(kind_sql!(
        kind,
        "SELECT r.seq, r.id, r.version, r.created_ms, r.modified_ms, r.body FROM ",
        " AS r WHERE r.connector_id = ? AND r.id = ?"
    ))
    .bind(connector_id)
    .bind(id)
    .fetch_optional(conn)
    .map_err(backend)?
    .ok_or(StoreError::NotFound)?;
    let (seq, current) = resource_row(&row, kind, Load::default())?;
    if let Some(expected) = if_version
        && expected != current.version
    {
        return Err(StoreError::PreconditionFailed {
            current: current.version,
        });
    }

    let (body, members) = match update {
        Update::Replace { body, members } => (body.clone(), members.clone().map(MemberChange::Set)),
        Update::Patch { apply } => {
            // The PATCH runs against the body read in this transaction: nothing can change
            // it between the read and the write.
            let mut body = current.body.clone();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| apply(&mut body)))
                .map_err(|_| StoreError::Backend("the PATCH function panicked".into()))??;
            (body, MemberChange::from_delta(outcome.members))
        }
    };
    if kind == ResourceKind::User && members.is_some() {
        return Err(StoreError::Scim(ScimError::invalid_path(
            "a User has no 'members'",
        )));
    }
    let body_changed = body != current.body;
    let members = match members {
        Some(change) => change_members(conn, connector_id, id, change)?,
        None => Changed::default(),
    };
    if !body_changed && members.rows == 0 {
        return Ok(UpdateEffect {
            before: current.body.clone(),
            updated: Updated {
                resource: current,
                changed: false,
            },
            members: Vec::new(),
        });
    }

    let at = to_ms(at);
    if body_changed {
        let text = body_text(&body)?;
        match kind {
            ResourceKind::User => {
                let ix = Indexed::user(&body);
                query(
                    "UPDATE scim_users SET version = version + 1, modified_ms = ?, \
                     user_name_lc = ?, external_id = ?, display_name_lc = ?, body = ? \
                     WHERE seq = ?",
                )
                .bind(at)
                .bind(ix.user_name_lc.as_deref())
                .bind(ix.external_id.as_deref())
                .bind(ix.display_name_lc.as_deref())
                .bind(&text)
                .bind(seq)
                .execute(conn)
                .map_err(|e| write_error(e, kind, &ix))?;
                if ix.emails != Indexed::user(&current.body).emails {
                    query(
                        "DELETE FROM scim_user_emails WHERE user_seq = ?; \
                         INSERT INTO scim_user_emails (user_seq, connector_id, value_lc, type_lc) \
                         SELECT ?, ?, e.value ->> 0, e.value ->> 1 FROM json_each(?) AS e",
                    )
                    .bind(seq)
                    .bind(seq)
                    .bind(connector_id)
                    .bind(emails_json(&ix.emails))
                    .execute(conn)
                    .map_err(backend)?;
                }
            }
            ResourceKind::Group => {
                let ix = Indexed::group(&body);
                query(
                    "UPDATE scim_groups SET version = version + 1, modified_ms = ?, \
                     display_name = ?, display_name_lc = ?, external_id = ?, body = ? \
                     WHERE seq = ?",
                )
                .bind(at)
                .bind(ix.display_name.as_deref())
                .bind(ix.display_name_lc.as_deref())
                .bind(ix.external_id.as_deref())
                .bind(&text)
                .bind(seq)
                .execute(conn)
                .map_err(|e| write_error(e, kind, &ix))?;
            }
        }
    } else {
        query(kind_sql!(
            kind,
            "UPDATE ",
            " SET version = version + 1, modified_ms = ? WHERE seq = ?"
        ))
        .bind(at)
        .bind(seq)
        .execute(conn)
        .map_err(backend)?;
    }
    let before = current.body.clone();
    Ok(UpdateEffect {
        updated: Updated {
            resource: StoredResource {
                version: current.version + 1,
                last_modified: from_ms(at)?,
                body,
                ..current
            },
            changed: true,
        },
        before,
        members: members.users,
    })
}

pub(super) fn delete(
    conn: &Conn,
    connector_id: &str,
    kind: ResourceKind,
    id: &str,
    if_version: Option<i64>,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let row = query(kind_sql!(
        kind,
        "SELECT seq, version FROM ",
        " WHERE connector_id = ? AND id = ?"
    ))
    .bind(connector_id)
    .bind(id)
    .fetch_optional(conn)
    .map_err(backend)?
    .ok_or(StoreError::NotFound)?;
    let seq: i64 = row.try_get(0).map_err(backend)?;
    let version: i64 = row.try_get(1).map_err(backend)?;
    if let Some(expected) = if_version
        && expected != version
    {
        return Err(StoreError::PreconditionFailed { current: version });
    }
    // The groups it leaves change: their version moves on.
    let now = to_ms(at);
    query(
        "UPDATE scim_groups SET version = version + 1, modified_ms = max(modified_ms, ?) \
         WHERE connector_id = ? AND id IN (SELECT group_id FROM scim_memberships \
         WHERE connector_id = ? AND member_id = ? AND member_type = ?)",
    )
    .bind(now)
    .bind(connector_id)
    .bind(connector_id)
    .bind(id)
    .bind(kind.as_str())
    .execute(conn)
    .map_err(backend)?;
    query(
        "DELETE FROM scim_memberships WHERE connector_id = ? AND member_id = ? AND member_type = ?",
    )
    .bind(connector_id)
    .bind(id)
    .bind(kind.as_str())
    .execute(conn)
    .map_err(backend)?;
    // Email rows (users) and the group's own membership rows (groups) go by cascade.
    query(kind_sql!(kind, "DELETE FROM ", " WHERE seq = ?"))
        .bind(seq)
        .execute(conn)
        .map_err(backend)?;
    Ok(())
}
