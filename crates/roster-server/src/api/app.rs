//! The application API: the effective directory and the change feed, read-only, for an app
//! or admin token or a console session.
//!
//! Apps see one user per username — the user of the earliest directory in the order — with
//! that user's own directory's memberships, and one group per name, of the earliest directory
//! holding it (Crowd's semantics without membership aggregation). They never see connector
//! tokens, settings, request logs, IdP links or cleanup state: the change feed leaves out
//! settings rows, whose documents are the admins', and takes IdP links and cleanup state out
//! of the audit rows it shows.

use axum::Json;
use axum::extract::{Path, State};
use roster_core::store::{AuditQuery, GroupQuery, SubjectKind, UserQuery};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use super::extract::{ApiQuery, decode_cursor, encode_cursor, limit};
use super::model::{AppGroup, AppGroupPage, AppUserDetail, AppUserPage, AuditEntryOut, ChangesOut};
use crate::AppState;
use crate::admin_auth::AppCaller;
use serde_json::Value;

/// The query of the application listings.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// The previous page's `next`.
    after: Option<String>,
    /// The most rows (default 100, at most 1000).
    limit: Option<u32>,
}

fn user_page(page: roster_core::store::UserPage) -> AppUserPage {
    AppUserPage {
        total: page.total,
        users: page.users.into_iter().map(|u| u.user.into()).collect(),
        next: encode_cursor(page.next),
    }
}

/// The users apps see: one per username, by username.
#[utoipa::path(get, path = "/api/v1/directory/users", tag = "application", params(PageQuery),
    responses(
        (status = 200, description = "A page of users", body = AppUserPage),
        (status = 400, description = "A bad cursor or limit", body = super::model::ErrorBody),
    ))]
pub(crate) async fn users(
    State(state): State<AppState>,
    _: AppCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<AppUserPage>, ApiError> {
    let page = state
        .store()
        .directory()
        .users(&UserQuery {
            effective_only: true,
            after: decode_cursor(query.after.as_deref())?,
            limit: limit(query.limit)?,
            ..UserQuery::default()
        })
        .await?;
    Ok(Json(user_page(page)))
}

/// The user apps see for a username, with its groups.
#[utoipa::path(get, path = "/api/v1/directory/users/{username}", tag = "application",
    params(("username" = String, Path, description = "A username, any case")),
    responses(
        (status = 200, description = "The user", body = AppUserDetail),
        (status = 404, description = "No such user", body = super::model::ErrorBody),
    ))]
pub(crate) async fn user(
    State(state): State<AppState>,
    _: AppCaller,
    Path(username): Path<String>,
) -> Result<Json<AppUserDetail>, ApiError> {
    let effective = state
        .store()
        .directory()
        .user(&username)
        .await?
        .and_then(|d| d.users.into_iter().find(|u| u.effective))
        .ok_or_else(|| ApiError::not_found(format!("no user '{username}'")))?;
    Ok(Json(AppUserDetail {
        groups: effective.memberships.into_iter().map(|m| m.group).collect(),
        user: effective.user.into(),
    }))
}

/// The groups apps see: one per name, by name.
#[utoipa::path(get, path = "/api/v1/directory/groups", tag = "application", params(PageQuery),
    responses(
        (status = 200, description = "A page of groups", body = AppGroupPage),
        (status = 400, description = "A bad cursor or limit", body = super::model::ErrorBody),
    ))]
pub(crate) async fn groups(
    State(state): State<AppState>,
    _: AppCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<AppGroupPage>, ApiError> {
    let page = state
        .store()
        .directory()
        .groups(&GroupQuery {
            effective_only: true,
            after: decode_cursor(query.after.as_deref())?,
            limit: limit(query.limit)?,
            ..GroupQuery::default()
        })
        .await?;
    Ok(Json(AppGroupPage {
        total: page.total,
        groups: page
            .groups
            .into_iter()
            .map(|g| AppGroup {
                name: g.group.name,
                description: g.group.description,
                directory: g.group.directory,
            })
            .collect(),
        next: encode_cursor(page.next),
    }))
}

/// Whether any directory holds a group of this name (ignoring case).
async fn group_exists(state: &AppState, name: &str) -> Result<bool, ApiError> {
    let page = state
        .store()
        .directory()
        .groups(&GroupQuery {
            name: Some(name.to_owned()),
            limit: 1,
            ..GroupQuery::default()
        })
        .await?;
    Ok(page.total > 0)
}

/// The users apps see in a group: each effective user whose own directory has it in a group
/// of this name.
#[utoipa::path(get, path = "/api/v1/directory/groups/{name}/members", tag = "application",
    params(("name" = String, Path, description = "A group name, any case"), PageQuery),
    responses(
        (status = 200, description = "A page of members, by username", body = AppUserPage),
        (status = 400, description = "A bad cursor or limit", body = super::model::ErrorBody),
        (status = 404, description = "No directory holds a group of this name", body = super::model::ErrorBody),
    ))]
pub(crate) async fn members(
    State(state): State<AppState>,
    _: AppCaller,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<AppUserPage>, ApiError> {
    let page = state
        .store()
        .directory()
        .users(&UserQuery {
            member_of: Some(name.clone()),
            effective_only: true,
            after: decode_cursor(query.after.as_deref())?,
            limit: limit(query.limit)?,
            ..UserQuery::default()
        })
        .await?;
    // An empty group and no group at all read the same from the listing.
    if page.total == 0 && !group_exists(&state, &name).await? {
        return Err(ApiError::not_found(format!("no group '{name}'")));
    }
    Ok(Json(user_page(page)))
}

/// The query of `GET /changes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChangesQuery {
    /// The last sequence number seen: the previous answer's `next_after`. From the start when
    /// absent.
    after: Option<i64>,
    /// The most rows (default 100, at most 1000).
    limit: Option<u32>,
}

/// Directory changes after a position, oldest first: follow `next_after` to see every change
/// once, without re-reading the directory.
#[utoipa::path(get, path = "/api/v1/changes", tag = "application", params(ChangesQuery),
    responses(
        (status = 200, description = "Changes, oldest first", body = ChangesOut),
        (status = 400, description = "A bad limit", body = super::model::ErrorBody),
    ))]
pub(crate) async fn changes(
    State(state): State<AppState>,
    _: AppCaller,
    ApiQuery(query): ApiQuery<ChangesQuery>,
) -> Result<Json<ChangesOut>, ApiError> {
    let rows = state
        .store()
        .directory()
        .audit(&AuditQuery {
            since: query.after,
            limit: limit(query.limit)?,
            ..AuditQuery::default()
        })
        .await?;
    let next_after = rows.last().map(|e| e.seq).or(query.after);
    Ok(Json(ChangesOut {
        changes: rows
            .into_iter()
            .filter(|e| e.subject.kind != SubjectKind::Settings)
            .map(|e| for_apps(e.into()))
            .collect(),
        next_after,
    }))
}

/// Keys of audit values (`before`, `after`, `detail`) that apps do not see, at any depth: a
/// user's IdP link and cleanup state, a membership's IdP group (see the module docs).
const ADMIN_ONLY_KEYS: &[&str] = &["idp_id", "idp_group", "cleanup"];
/// Events of a row's `detail` that are about the same admin-only state.
const ADMIN_ONLY_EVENTS: &[&str] = &["cleaned_up", "restored", "relinked"];

/// An audit row as the change feed shows it: the audit log holds the whole directory user,
/// IdP link and cleanup state included, which the application API otherwise never shows.
fn for_apps(mut entry: AuditEntryOut) -> AuditEntryOut {
    fn scrub(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.retain(|k, _| !ADMIN_ONLY_KEYS.contains(&k.as_str()));
                map.values_mut().for_each(scrub);
            }
            Value::Array(items) => {
                items.retain(|item| {
                    !item
                        .get("event")
                        .and_then(Value::as_str)
                        .is_some_and(|e| ADMIN_ONLY_EVENTS.contains(&e))
                });
                items.iter_mut().for_each(scrub);
            }
            _ => {}
        }
    }
    for value in [&mut entry.before, &mut entry.after, &mut entry.detail]
        .into_iter()
        .flatten()
    {
        scrub(value);
    }
    entry
}
