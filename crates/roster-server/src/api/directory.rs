//! The directory as admins see and steer it: directories and their order, users, groups,
//! local memberships, the audit log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::directory::{Directory, DirectoryGroup, INTERNAL};
use roster_core::store::{AuditQuery, GroupQuery, NewGroup, NewUser, UserQuery};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, RequestId, decode_cursor, encode_cursor, limit};
use super::model::{
    AuditPage, DirectoryList, DirectoryUserOut, GroupOut, GroupPageOut, MemberIn, MemberOut,
    NewGroupIn, NewUserIn, OrderIn, UserDetailOut,
};
use super::write_context;
use crate::AppState;
use crate::admin_auth::AdminCaller;

/// The most audit rows a user's page shows per directory user.
const HISTORY: u32 = 100;

fn directory_list(list: Vec<Directory>) -> DirectoryList {
    DirectoryList {
        directories: list.into_iter().map(Into::into).collect(),
    }
}

/// The directories, in order: the earliest wins a username.
#[utoipa::path(get, path = "/api/v1/directories", tag = "directory",
    responses((status = 200, description = "In order", body = DirectoryList)))]
pub(crate) async fn directories(
    State(state): State<AppState>,
    _: AdminCaller,
) -> Result<Json<DirectoryList>, ApiError> {
    let list = state.store().directory().directories().await?;
    Ok(Json(directory_list(list)))
}

/// Puts the directories in a new order.
#[utoipa::path(put, path = "/api/v1/directories/order", tag = "directory",
    request_body = OrderIn,
    responses(
        (status = 200, description = "The directories in their new order", body = DirectoryList),
        (status = 400, description = "The order does not list every directory exactly once", body = super::model::ErrorBody),
    ))]
pub(crate) async fn order(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    request_id: RequestId,
    ApiJson(body): ApiJson<OrderIn>,
) -> Result<Json<DirectoryList>, ApiError> {
    let ctx = write_context(&state, &caller, request_id);
    let list = state
        .store()
        .directory()
        .reorder_directories(&body.order, &ctx)
        .await?;
    Ok(Json(directory_list(list)))
}

/// The query of the admin listings.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only this directory.
    directory: Option<String>,
    /// Only names (users: username, display name or email) containing this, ignoring case.
    search: Option<String>,
    /// The previous page's `next`.
    after: Option<String>,
    /// The most rows (default 100, at most 1000).
    limit: Option<u32>,
}

/// Users of every directory (or one), by username.
#[utoipa::path(get, path = "/api/v1/users", tag = "directory", params(ListQuery),
    responses(
        (status = 200, description = "A page of users", body = super::model::UserPageOut),
        (status = 400, description = "A bad cursor or limit", body = super::model::ErrorBody),
    ))]
pub(crate) async fn users(
    State(state): State<AppState>,
    _: AdminCaller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<super::model::UserPageOut>, ApiError> {
    let page = state
        .store()
        .directory()
        .users(&UserQuery {
            directory: query.directory,
            search: query.search,
            after: decode_cursor(query.after.as_deref())?,
            limit: limit(query.limit)?,
            ..UserQuery::default()
        })
        .await?;
    Ok(Json(super::model::UserPageOut {
        total: page.total,
        users: page.users.into_iter().map(Into::into).collect(),
        next: encode_cursor(page.next),
    }))
}

/// Everything about one username: the user of each directory holding it with its memberships
/// and their origin, which one apps see, and its history from the audit log.
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "directory",
    params(("username" = String, Path, description = "A username, any case")),
    responses(
        (status = 200, description = "The user", body = UserDetailOut),
        (status = 404, description = "No directory holds the username", body = super::model::ErrorBody),
    ))]
pub(crate) async fn user(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(username): Path<String>,
) -> Result<Json<UserDetailOut>, ApiError> {
    let dir = state.store().directory();
    let detail = dir
        .user(&username)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user '{username}'")))?;
    let mut history = Vec::new();
    for u in &detail.users {
        history.extend(
            dir.audit(&AuditQuery {
                user_id: Some(u.user.id.clone()),
                limit: HISTORY,
                newest_first: true,
                ..AuditQuery::default()
            })
            .await?,
        );
    }
    history.sort_by_key(|e| std::cmp::Reverse(e.seq));
    Ok(Json(UserDetailOut {
        effective_directory: detail.effective_directory,
        users: detail.users.into_iter().map(Into::into).collect(),
        history: history.into_iter().map(Into::into).collect(),
    }))
}

/// Makes a local user (in `internal` unless another directory is named).
#[utoipa::path(post, path = "/api/v1/users", tag = "directory",
    request_body = NewUserIn,
    responses(
        (status = 201, description = "The user", body = DirectoryUserOut),
        (status = 400, description = "An invalid username", body = super::model::ErrorBody),
        (status = 404, description = "No such directory", body = super::model::ErrorBody),
        (status = 409, description = "The username is taken in the directory", body = super::model::ErrorBody),
    ))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    request_id: RequestId,
    ApiJson(body): ApiJson<NewUserIn>,
) -> Result<(StatusCode, Json<DirectoryUserOut>), ApiError> {
    let directory = body.directory.unwrap_or_else(|| INTERNAL.to_owned());
    let new = NewUser {
        display_name: body.display_name,
        email: body.email,
        first_name: body.first_name,
        last_name: body.last_name,
        active: body.active.unwrap_or(true),
        attributes: body.attributes,
        ..NewUser::named(body.username)
    };
    let ctx = write_context(&state, &caller, request_id);
    let user = state
        .store()
        .directory()
        .create_user(&directory, &new, &ctx)
        .await
        .map_err(|e| ApiError::store(e, || format!("no directory '{directory}'")))?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Groups of every directory (or one), by name, with member counts.
#[utoipa::path(get, path = "/api/v1/groups", tag = "directory", params(ListQuery),
    responses(
        (status = 200, description = "A page of groups", body = GroupPageOut),
        (status = 400, description = "A bad cursor or limit", body = super::model::ErrorBody),
    ))]
pub(crate) async fn groups(
    State(state): State<AppState>,
    _: AdminCaller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<GroupPageOut>, ApiError> {
    let page = state
        .store()
        .directory()
        .groups(&GroupQuery {
            directory: query.directory,
            search: query.search,
            after: decode_cursor(query.after.as_deref())?,
            limit: limit(query.limit)?,
            ..GroupQuery::default()
        })
        .await?;
    Ok(Json(GroupPageOut {
        total: page.total,
        groups: page.groups.into_iter().map(Into::into).collect(),
        next: encode_cursor(page.next),
    }))
}

/// Makes a local group (in `internal` unless another directory is named).
#[utoipa::path(post, path = "/api/v1/groups", tag = "directory",
    request_body = NewGroupIn,
    responses(
        (status = 201, description = "The group", body = GroupOut),
        (status = 400, description = "An invalid name", body = super::model::ErrorBody),
        (status = 404, description = "No such directory", body = super::model::ErrorBody),
        (status = 409, description = "The name is taken in the directory", body = super::model::ErrorBody),
    ))]
pub(crate) async fn create_group(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    request_id: RequestId,
    ApiJson(body): ApiJson<NewGroupIn>,
) -> Result<(StatusCode, Json<GroupOut>), ApiError> {
    let directory = body.directory.unwrap_or_else(|| INTERNAL.to_owned());
    let ctx = write_context(&state, &caller, request_id);
    let group = state
        .store()
        .directory()
        .create_group(
            &directory,
            &NewGroup {
                name: body.name,
                description: body.description,
            },
            &ctx,
        )
        .await
        .map_err(|e| ApiError::store(e, || format!("no directory '{directory}'")))?;
    Ok((StatusCode::CREATED, Json(group.into())))
}

/// A group by its store id, or 404.
async fn find_group(state: &AppState, group_id: &str) -> Result<DirectoryGroup, ApiError> {
    state
        .store()
        .directory()
        .group(group_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no group '{group_id}'")))
}

/// Puts a user of the group's directory in the group (origin `local`). In a connector's
/// directory the sync rules still apply: the user's next sync removes it unless a
/// `never_remove` rule covers the group.
#[utoipa::path(post, path = "/api/v1/groups/{group_id}/members", tag = "directory",
    params(("group_id" = String, Path, description = "The group's store id")),
    request_body = MemberIn,
    responses(
        (status = 200, description = "Done (`added` is false if it already was a member)", body = MemberOut),
        (status = 404, description = "No such group, or no such user in its directory", body = super::model::ErrorBody),
    ))]
pub(crate) async fn add_member(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    request_id: RequestId,
    Path(group_id): Path<String>,
    ApiJson(body): ApiJson<MemberIn>,
) -> Result<Json<MemberOut>, ApiError> {
    let group = find_group(&state, &group_id).await?;
    let dir = state.store().directory();
    let ctx = write_context(&state, &caller, request_id);
    let added = dir
        .add_member(&group.directory, &body.username, &group.name, &ctx)
        .await
        .map_err(|e| {
            ApiError::store(e, || {
                format!(
                    "directory '{}' has no user '{}'",
                    group.directory, body.username
                )
            })
        })?;
    Ok(Json(MemberOut {
        group_id: group.id,
        group: group.name,
        directory: group.directory,
        username: body.username,
        added,
    }))
}

/// Takes a user out of a group.
#[utoipa::path(delete, path = "/api/v1/groups/{group_id}/members/{username}", tag = "directory",
    params(
        ("group_id" = String, Path, description = "The group's store id"),
        ("username" = String, Path, description = "A username of the group's directory"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such group or user, or the user is not a member", body = super::model::ErrorBody),
    ))]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    request_id: RequestId,
    Path((group_id, username)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let group = find_group(&state, &group_id).await?;
    let dir = state.store().directory();
    let ctx = write_context(&state, &caller, request_id);
    let removed = dir
        .remove_member(&group.directory, &username, &group.name, &ctx)
        .await
        .map_err(|e| {
            ApiError::store(e, || {
                format!("directory '{}' has no user '{username}'", group.directory)
            })
        })?;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "'{username}' is not a member of '{}'",
            group.name
        )))
    }
}

/// The query of `GET /audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditListQuery {
    /// Only rows of this connector.
    connector: Option<String>,
    /// Only rows after this sequence number: the previous page's `next_since`.
    since: Option<i64>,
    /// The most rows (default 100, at most 1000).
    limit: Option<u32>,
    /// The newest rows first instead of the oldest.
    #[serde(default)]
    newest_first: bool,
}

/// The audit log: every directory change.
#[utoipa::path(get, path = "/api/v1/audit", tag = "directory", params(AuditListQuery),
    responses(
        (status = 200, description = "Rows by sequence number", body = AuditPage),
        (status = 400, description = "A bad limit", body = super::model::ErrorBody),
    ))]
pub(crate) async fn audit(
    State(state): State<AppState>,
    _: AdminCaller,
    ApiQuery(query): ApiQuery<AuditListQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = limit(query.limit)?;
    let rows = state
        .store()
        .directory()
        .audit(&AuditQuery {
            connector_id: query.connector,
            since: query.since,
            limit,
            newest_first: query.newest_first,
            ..AuditQuery::default()
        })
        .await?;
    let next_since = (!query.newest_first && rows.len() == limit as usize)
        .then(|| rows.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AuditPage {
        entries: rows.into_iter().map(Into::into).collect(),
        next_since,
    }))
}
