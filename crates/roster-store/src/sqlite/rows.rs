//! Directory rows: the columns of users and groups, read into the domain types, and the
//! values written back.

use std::collections::BTreeMap;

use roster_core::StoreError;
use roster_core::directory::{
    CleanupAction, CleanupReason, CleanupState, DirectoryGroup, DirectoryUser, MembershipOrigin,
    UserData,
};
use serde_json::Value;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

pub(super) use super::exec::write_error;
use super::{backend, exec, from_ms};

/// A row read from the pool (sqlx), on a direct connection, or on the writer's
/// ([`exec::Row`]): the column types resource and directory rows hold.
pub(super) trait Cells {
    /// An integer column.
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// A text column.
    fn text(&self, i: usize) -> Result<Option<String>, StoreError>;

    /// An integer column that is never NULL.
    fn int_req(&self, i: usize) -> Result<i64, StoreError> {
        self.int(i)?.ok_or_else(|| null_column(i))
    }
    /// A text column that is never NULL.
    fn text_req(&self, i: usize) -> Result<String, StoreError> {
        self.text(i)?.ok_or_else(|| null_column(i))
    }
}

fn null_column(i: usize) -> StoreError {
    StoreError::Backend(format!("column {i} is NULL in the database").into())
}

impl Cells for SqliteRow {
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.try_get(i).map_err(backend)
    }
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.try_get(i).map_err(backend)
    }
}

impl Cells for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.get(i).map_err(backend)
    }
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get(i).map_err(backend)
    }
}

impl Cells for exec::Row {
    fn int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.try_get(i).map_err(backend)
    }
    fn text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.try_get(i).map_err(backend)
    }
}

/// The columns [`user_row`] reads, from `dir_users AS u` (a macro, so that `concat!` makes
/// whole statements of it: sqlx takes only static SQL text).
macro_rules! user_columns {
    () => {
        "u.id, u.directory_id, u.username, u.display_name, u.email, u.first_name, \
         u.last_name, u.active, u.attributes, u.last_login_ms, u.idp_id, u.cleanup_reason, \
         u.cleanup_action, u.anonymized"
    };
}
pub(super) use user_columns;

/// How many columns [`user_columns`] has (the next column's index).
pub(super) const USER_WIDTH: usize = 14;

/// The columns [`group_row`] reads, from `dir_groups AS g`.
macro_rules! group_columns {
    () => {
        "g.id, g.directory_id, g.name, g.description, g.idp_id"
    };
}
pub(super) use group_columns;

/// How many columns [`group_columns`] has.
pub(super) const GROUP_WIDTH: usize = 5;

/// A directory user from [`user_columns`] starting at column `at`.
pub(super) fn user_row(row: &impl Cells, at: usize) -> Result<DirectoryUser, StoreError> {
    let get_text = |i: usize| row.text(at + i);
    let id = row.int_req(at)?;
    let attributes = row.text_req(at + 8)?;
    let attributes: BTreeMap<String, String> =
        serde_json::from_str(&attributes).map_err(StoreError::backend)?;
    let cleanup = match (get_text(11)?, get_text(12)?) {
        (Some(reason), Some(action)) => Some(CleanupState {
            reason: cleanup_reason(&reason)?,
            action: cleanup_action(&action)?,
        }),
        _ => None,
    };
    Ok(DirectoryUser {
        id: id.to_string(),
        directory: row.text_req(at + 1)?,
        data: UserData {
            username: row.text_req(at + 2)?,
            display_name: row.text_req(at + 3)?,
            email: get_text(4)?,
            first_name: get_text(5)?,
            last_name: get_text(6)?,
            active: row.int_req(at + 7)? != 0,
            attributes,
            last_login: row.int(at + 9)?.map(from_ms).transpose()?,
            idp_id: get_text(10)?,
            cleanup,
            anonymized: row.int_req(at + 13)? != 0,
        },
    })
}

/// A directory group from [`group_columns`] starting at column `at`.
pub(super) fn group_row(row: &impl Cells, at: usize) -> Result<DirectoryGroup, StoreError> {
    Ok(DirectoryGroup {
        id: row.int_req(at)?.to_string(),
        directory: row.text_req(at + 1)?,
        name: row.text_req(at + 2)?,
        description: row.text(at + 3)?,
        idp_id: row.text(at + 4)?,
    })
}

fn cleanup_reason(s: &str) -> Result<CleanupReason, StoreError> {
    Ok(match s {
        "deleted" => CleanupReason::Deleted,
        "not_in_required" => CleanupReason::NotInRequired,
        "dropped" => CleanupReason::Dropped,
        other => return Err(corrupt("cleanup reason", other)),
    })
}

fn cleanup_action(s: &str) -> Result<CleanupAction, StoreError> {
    Ok(match s {
        "disable" => CleanupAction::Disable,
        "delete" => CleanupAction::Delete,
        "anonymize" => CleanupAction::Anonymize,
        "keep" => CleanupAction::Keep,
        other => return Err(corrupt("cleanup action", other)),
    })
}

/// A membership origin as stored.
pub(super) fn origin(s: &str) -> Result<MembershipOrigin, StoreError> {
    Ok(match s {
        "idp" => MembershipOrigin::Idp,
        "local" => MembershipOrigin::Local,
        "rule" => MembershipOrigin::Rule,
        "copied" => MembershipOrigin::Copied,
        other => return Err(corrupt("membership origin", other)),
    })
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Backend(format!("unknown {what} '{value}' in the database").into())
}

/// A store id of a directory user or group, as the integer its table holds. Ids come from
/// this store; anything else names nothing.
pub(super) fn row_id(id: &str) -> Result<i64, StoreError> {
    id.parse().map_err(|_| StoreError::NotFound)
}

/// A user's attributes as stored.
pub(super) fn attributes_json(attributes: &BTreeMap<String, String>) -> String {
    serde_json::to_string(attributes).unwrap_or_else(|_| "{}".to_owned())
}

/// Ids as one bound JSON array of numbers, for `IN (SELECT value FROM json_each(?))`.
pub(super) fn int_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    Value::Array(
        ids.into_iter()
            .filter_map(|id| id.parse::<i64>().ok())
            .map(Value::from)
            .collect(),
    )
    .to_string()
}

/// Texts as one bound JSON array.
pub(super) fn texts<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    Value::Array(values.into_iter().map(Value::from).collect()).to_string()
}
