//! The IdP view's rows: reading resources, and the write jobs that create, change and
//! delete them (each runs inside the writer's transaction, in its own savepoint).
//!
//! Group memberships are rows, and every membership change costs O(changes): a PATCH of a
//! group applies its [`MemberDelta`] row by row and never reads the member list; only a
//! replacement of the whole list (PUT with `members`, PATCH `replace members`) reads it, to
//! write the difference. Members must exist in the connector (as a user or a group, which
//! gives their `type`); otherwise the whole job fails with `UnknownMembers` and is rolled
//! back, body changes included. Uniqueness (`userName`, group `displayName`, both
//! case-insensitive) is the unique indexes' job: the constraint error becomes `Conflict`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::panic::AssertUnwindSafe;

use roster_core::StoreError;
use roster_core::store::{
    GroupRef, Load, NewResource, ResourceKind, StoredResource, Update, Updated,
};
use scim::ScimError;
use scim::patch::{Member, MemberDelta};
use serde_json::{Map, Value};
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;

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

/// The columns [`resource_row`] reads, in order.
pub(super) const COLUMNS: &str = "r.seq, r.id, r.version, r.created_ms, r.modified_ms, r.body";

/// A resource row: its sequence number and the resource (members and groups not loaded).
pub(super) fn resource_row(row: &SqliteRow) -> Result<(i64, StoredResource), StoreError> {
    let body: String = row.try_get(5).map_err(backend)?;
    Ok((
        row.try_get(0).map_err(backend)?,
        StoredResource {
            id: row.try_get(1).map_err(backend)?,
            version: row.try_get(2).map_err(backend)?,
            created: from_ms(row.try_get(3).map_err(backend)?)?,
            last_modified: from_ms(row.try_get(4).map_err(backend)?)?,
            body: serde_json::from_str(&body).map_err(StoreError::backend)?,
            members: None,
            groups: None,
        },
    ))
}

pub(super) async fn get(
    pool: &SqlitePool,
    connector_id: &str,
    kind: ResourceKind,
    id: &str,
    load: Load,
) -> Result<Option<StoredResource>, StoreError> {
    let row = sqlx::query(kind_sql!(
        kind,
        "SELECT r.seq, r.id, r.version, r.created_ms, r.modified_ms, r.body FROM ",
        " AS r WHERE r.connector_id = ? AND r.id = ?"
    ))
    .bind(connector_id)
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(backend)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut items = [resource_row(&row)?.1];
    fill(pool, connector_id, kind, load, &mut items).await?;
    let [resource] = items;
    Ok(Some(resource))
}

/// A membership as `fill` reads it: (member or group id, type or display name, display).
type Linked = (String, Option<String>, Option<String>);

/// Loads what `load` asks for into a page of resources: one query for the whole page.
pub(super) async fn fill(
    pool: &SqlitePool,
    connector_id: &str,
    kind: ResourceKind,
    load: Load,
    items: &mut [StoredResource],
) -> Result<(), StoreError> {
    if items.is_empty() {
        return Ok(());
    }
    let (head, tail) = match kind {
        ResourceKind::Group if load.members => (
            "SELECT m.group_id, m.member_id, m.member_type, m.display FROM scim_memberships AS m \
             WHERE m.connector_id = ",
            ") ORDER BY m.group_id, m.member_id",
        ),
        ResourceKind::User if load.groups => (
            "SELECT m.member_id, g.id, g.display_name, NULL FROM scim_memberships AS m \
             JOIN scim_groups AS g ON g.connector_id = m.connector_id AND g.id = m.group_id \
             WHERE m.member_type = 'User' AND m.connector_id = ",
            ") ORDER BY g.seq",
        ),
        _ => return Ok(()),
    };
    let mut qb = QueryBuilder::<Sqlite>::new(head);
    qb.push_bind(connector_id.to_owned());
    qb.push(if kind == ResourceKind::Group {
        " AND m.group_id IN ("
    } else {
        " AND m.member_id IN ("
    });
    {
        let mut list = qb.separated(", ");
        for item in items.iter() {
            list.push_bind(item.id.clone());
        }
    }
    qb.push(tail);
    let rows = qb.build().fetch_all(pool).await.map_err(backend)?;
    let mut by_owner: HashMap<String, Vec<Linked>> = HashMap::new();
    for row in &rows {
        let owner: String = row.try_get(0).map_err(backend)?;
        by_owner.entry(owner).or_default().push((
            row.try_get(1).map_err(backend)?,
            row.try_get(2).map_err(backend)?,
            row.try_get(3).map_err(backend)?,
        ));
    }
    for item in items.iter_mut() {
        let found = by_owner.remove(&item.id).unwrap_or_default();
        if kind == ResourceKind::Group {
            item.members = Some(
                found
                    .into_iter()
                    .map(|(value, kind, display)| Member {
                        value,
                        display,
                        kind,
                    })
                    .collect(),
            );
        } else {
            item.groups = Some(
                found
                    .into_iter()
                    .map(|(id, display, _)| GroupRef {
                        id,
                        display: display.unwrap_or_default(),
                    })
                    .collect(),
            );
        }
    }
    Ok(())
}

/// A failed insert or update of a resource row, as the client should hear it.
fn write_error(e: sqlx::Error, kind: ResourceKind, ix: &Indexed) -> StoreError {
    let Some(db) = e.as_database_error() else {
        return backend(e);
    };
    match db.kind() {
        ErrorKind::UniqueViolation => {
            let message = db.message();
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
        // The connector does not exist (any more).
        ErrorKind::ForeignKeyViolation => StoreError::NotFound,
        _ => backend(e),
    }
}

fn body_text(body: &Map<String, Value>) -> Result<String, StoreError> {
    serde_json::to_string(body).map_err(StoreError::backend)
}

async fn insert_emails(
    conn: &mut SqliteConnection,
    connector_id: &str,
    seq: i64,
    emails: &[Email],
) -> Result<(), StoreError> {
    for email in emails {
        sqlx::query(
            "INSERT INTO scim_user_emails (user_seq, connector_id, value_lc, type_lc) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(connector_id)
        .bind(email.value_lc.as_deref())
        .bind(email.type_lc.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// The type of each member: `User` or `Group`, from the table it is found in. One indexed
/// lookup per member; any that exists in neither fails the job with `UnknownMembers`.
async fn resolve_members<'m>(
    conn: &mut SqliteConnection,
    connector_id: &str,
    members: impl IntoIterator<Item = &'m Member>,
) -> Result<Vec<(&'m Member, String)>, StoreError> {
    let mut typed = Vec::new();
    let mut unknown = Vec::new();
    for m in members {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT 'User' FROM scim_users WHERE connector_id = ? AND id = ? \
             UNION ALL SELECT 'Group' FROM scim_groups WHERE connector_id = ? AND id = ? LIMIT 1",
        )
        .bind(connector_id)
        .bind(&m.value)
        .bind(connector_id)
        .bind(&m.value)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        match found {
            Some(ty) => typed.push((m, ty)),
            None => unknown.push(m.value.clone()),
        }
    }
    if unknown.is_empty() {
        Ok(typed)
    } else {
        Err(StoreError::UnknownMembers(unknown))
    }
}

/// Inserts memberships, ignoring those already present; returns how many were new.
async fn insert_members(
    conn: &mut SqliteConnection,
    connector_id: &str,
    group_id: &str,
    members: &[(&Member, String)],
) -> Result<u64, StoreError> {
    let mut added = 0;
    for (m, ty) in members {
        added += sqlx::query(
            "INSERT OR IGNORE INTO scim_memberships \
             (connector_id, group_id, member_id, member_type, display) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(connector_id)
        .bind(group_id)
        .bind(&m.value)
        .bind(ty)
        .bind(m.display.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(backend)?
        .rows_affected();
    }
    Ok(added)
}

async fn remove_member(
    conn: &mut SqliteConnection,
    connector_id: &str,
    group_id: &str,
    member_id: &str,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "DELETE FROM scim_memberships WHERE connector_id = ? AND group_id = ? AND member_id = ?",
    )
    .bind(connector_id)
    .bind(group_id)
    .bind(member_id)
    .execute(&mut *conn)
    .await
    .map_err(backend)?
    .rows_affected())
}

/// The members as the client listed them, each id once (the first mention wins).
fn distinct(members: impl IntoIterator<Item = Member>) -> Vec<Member> {
    let mut seen = HashSet::new();
    members
        .into_iter()
        .filter(|m| seen.insert(m.value.clone()))
        .collect()
}

pub(super) async fn create(
    conn: &mut SqliteConnection,
    connector_id: String,
    kind: ResourceKind,
    new: NewResource,
) -> Result<StoredResource, StoreError> {
    let at = to_ms(new.at);
    let text = body_text(&new.body)?;
    match kind {
        ResourceKind::User => {
            let ix = Indexed::user(&new.body);
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO scim_users (connector_id, id, version, created_ms, modified_ms, \
                 user_name_lc, external_id, display_name_lc, body) \
                 VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?) RETURNING seq",
            )
            .bind(&connector_id)
            .bind(&new.id)
            .bind(at)
            .bind(at)
            .bind(ix.user_name_lc.as_deref())
            .bind(ix.external_id.as_deref())
            .bind(ix.display_name_lc.as_deref())
            .bind(&text)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| write_error(e, kind, &ix))?;
            insert_emails(conn, &connector_id, seq, &ix.emails).await?;
        }
        ResourceKind::Group => {
            let ix = Indexed::group(&new.body);
            sqlx::query(
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
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(e, kind, &ix))?;
        }
    }
    // A new group's members are returned, with their types, as the POST response shows them.
    let members = if kind == ResourceKind::Group && !new.members.is_empty() {
        let wanted = distinct(new.members);
        let typed = resolve_members(conn, &connector_id, &wanted).await?;
        insert_members(conn, &connector_id, &new.id, &typed).await?;
        Some(
            typed
                .into_iter()
                .map(|(m, ty)| Member {
                    kind: Some(ty),
                    ..m.clone()
                })
                .collect(),
        )
    } else {
        None
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

/// Applies a membership change; returns whether any row changed.
async fn change_members(
    conn: &mut SqliteConnection,
    connector_id: &str,
    group_id: &str,
    change: MemberChange,
) -> Result<bool, StoreError> {
    match change {
        MemberChange::Delta { remove, add } => {
            let typed = resolve_members(conn, connector_id, add.values()).await?;
            let mut changed = 0;
            for id in &remove {
                changed += remove_member(conn, connector_id, group_id, id).await?;
            }
            changed += insert_members(conn, connector_id, group_id, &typed).await?;
            Ok(changed > 0)
        }
        MemberChange::Set(wanted) => {
            // Replacing the whole list is the one membership change that must read it.
            let current: Vec<String> = sqlx::query_scalar(
                "SELECT member_id FROM scim_memberships WHERE connector_id = ? AND group_id = ?",
            )
            .bind(connector_id)
            .bind(group_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            let wanted = distinct(wanted);
            let keep: HashSet<&str> = wanted.iter().map(|m| m.value.as_str()).collect();
            let have: HashSet<&str> = current.iter().map(String::as_str).collect();
            let added: Vec<&Member> = wanted
                .iter()
                .filter(|m| !have.contains(m.value.as_str()))
                .collect();
            let typed = resolve_members(conn, connector_id, added).await?;
            let mut changed = 0;
            for id in current.iter().filter(|id| !keep.contains(id.as_str())) {
                changed += remove_member(conn, connector_id, group_id, id).await?;
            }
            changed += insert_members(conn, connector_id, group_id, &typed).await?;
            Ok(changed > 0)
        }
    }
}

pub(super) async fn update(
    conn: &mut SqliteConnection,
    connector_id: String,
    kind: ResourceKind,
    id: String,
    if_version: Option<i64>,
    update: Update,
) -> Result<Updated, StoreError> {
    let row = sqlx::query(kind_sql!(
        kind,
        "SELECT r.seq, r.id, r.version, r.created_ms, r.modified_ms, r.body FROM ",
        " AS r WHERE r.connector_id = ? AND r.id = ?"
    ))
    .bind(&connector_id)
    .bind(&id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound)?;
    let (seq, current) = resource_row(&row)?;
    if let Some(expected) = if_version
        && expected != current.version
    {
        return Err(StoreError::PreconditionFailed {
            current: current.version,
        });
    }

    let (body, members, at) = match update {
        Update::Replace { body, members, at } => (body, members.map(MemberChange::Set), at),
        Update::Patch { apply, at } => {
            // The PATCH runs against the body read in this transaction: nothing can change
            // it between the read and the write.
            let mut body = current.body.clone();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| apply(&mut body)))
                .map_err(|_| StoreError::Backend("the PATCH function panicked".into()))??;
            (body, MemberChange::from_delta(outcome.members), at)
        }
    };
    if kind == ResourceKind::User && members.is_some() {
        return Err(StoreError::Scim(ScimError::invalid_path(
            "a User has no 'members'",
        )));
    }
    let body_changed = body != current.body;
    let members_changed = match members {
        Some(change) => change_members(conn, &connector_id, &id, change).await?,
        None => false,
    };
    if !body_changed && !members_changed {
        return Ok(Updated {
            resource: current,
            changed: false,
        });
    }

    let at = to_ms(at);
    if body_changed {
        let text = body_text(&body)?;
        match kind {
            ResourceKind::User => {
                let ix = Indexed::user(&body);
                sqlx::query(
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
                .execute(&mut *conn)
                .await
                .map_err(|e| write_error(e, kind, &ix))?;
                if ix.emails != Indexed::user(&current.body).emails {
                    sqlx::query("DELETE FROM scim_user_emails WHERE user_seq = ?")
                        .bind(seq)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    insert_emails(conn, &connector_id, seq, &ix.emails).await?;
                }
            }
            ResourceKind::Group => {
                let ix = Indexed::group(&body);
                sqlx::query(
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
                .execute(&mut *conn)
                .await
                .map_err(|e| write_error(e, kind, &ix))?;
            }
        }
    } else {
        sqlx::query(kind_sql!(
            kind,
            "UPDATE ",
            " SET version = version + 1, modified_ms = ? WHERE seq = ?"
        ))
        .bind(at)
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(Updated {
        resource: StoredResource {
            version: current.version + 1,
            last_modified: from_ms(at)?,
            body,
            ..current
        },
        changed: true,
    })
}

pub(super) async fn delete(
    conn: &mut SqliteConnection,
    connector_id: String,
    kind: ResourceKind,
    id: String,
    if_version: Option<i64>,
) -> Result<(), StoreError> {
    let row = sqlx::query(kind_sql!(
        kind,
        "SELECT seq, version FROM ",
        " WHERE connector_id = ? AND id = ?"
    ))
    .bind(&connector_id)
    .bind(&id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound)?;
    let seq: i64 = row.try_get(0).map_err(backend)?;
    let version: i64 = row.try_get(1).map_err(backend)?;
    if let Some(expected) = if_version
        && expected != version
    {
        return Err(StoreError::PreconditionFailed { current: version });
    }
    // The groups it leaves change: their version moves on. The Store interface gives no time
    // for a delete, so the groups' lastModified is now.
    let now = to_ms(OffsetDateTime::now_utc());
    sqlx::query(
        "UPDATE scim_groups SET version = version + 1, modified_ms = max(modified_ms, ?) \
         WHERE connector_id = ? AND id IN (SELECT group_id FROM scim_memberships \
         WHERE connector_id = ? AND member_id = ? AND member_type = ?)",
    )
    .bind(now)
    .bind(&connector_id)
    .bind(&connector_id)
    .bind(&id)
    .bind(kind.as_str())
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    sqlx::query(
        "DELETE FROM scim_memberships WHERE connector_id = ? AND member_id = ? AND member_type = ?",
    )
    .bind(&connector_id)
    .bind(&id)
    .bind(kind.as_str())
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    // Email rows (users) and the group's own membership rows (groups) go by cascade.
    sqlx::query(kind_sql!(kind, "DELETE FROM ", " WHERE seq = ?"))
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}
