//! The application's directory as administrators see it: the ordered directories, users and
//! groups, and one username across every directory.
//!
//! | route | what |
//! |---|---|
//! | `GET /directories` | directories in order, with buttons that move one up or down |
//! | `POST /directories/order` | `order=a,b,c` (every directory id once): the new order |
//! | `GET /users?search=&directory=&group=&after=` | users, searched and paged |
//! | `GET /users/{username}` | the username in every directory: its data, memberships with their origin, which one apps see, its history |
//! | `GET /groups?search=&directory=&after=` | groups with member counts |

use askama::Template;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use roster_core::directory::{Directory, DirectoryKind, MembershipOrigin};
use roster_core::store::{
    AuditAction, AuditEntry, AuditQuery, GroupQuery, StoreError, UserInDirectory, UserQuery,
};
use serde::Deserialize;
use serde_json::Value;

use super::settings::{bad_form, bad_request};
use super::{Admin, Layout, Section, When, error_page, list_link, render, see_other};
use crate::AppState;

/// Users or groups per page.
const PAGE: u32 = 50;
/// The most history rows a user's page shows per directory.
const HISTORY: u32 = 200;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/directories", get(directories))
        .route("/directories/order", post(reorder))
        .route("/users", get(users))
        .route("/users/{username}", get(user))
        .route("/groups", get(groups))
}

// ---- directories ----

#[derive(Debug, Clone)]
struct DirectoryRow {
    position: u32,
    id: String,
    name: String,
    /// The connector it is synced from, if any.
    connector: Option<String>,
    users: u64,
    groups: u64,
    /// The order with this directory one place earlier / later, for the move buttons.
    up: Option<String>,
    down: Option<String>,
}

#[derive(Template)]
#[template(path = "console/directories.html")]
struct DirectoriesPage {
    layout: Layout,
    rows: Vec<DirectoryRow>,
    /// The whole order, for the form that takes it typed out.
    order: String,
}

async fn directories(admin: Admin, State(state): State<AppState>) -> Result<Response, Response> {
    let dir = state.store().directory();
    let list = dir.directories().await.map_err(|e| admin.fail(e))?;
    let ids: Vec<&str> = list.iter().map(|d| d.id.as_str()).collect();
    let moved = |from: usize, to: usize| {
        let mut order = ids.clone();
        order.swap(from, to);
        order.join(",")
    };
    let mut rows = Vec::with_capacity(list.len());
    for (i, d) in list.iter().enumerate() {
        // Two counting reads per directory: there are a handful of directories.
        let users = dir
            .users(&UserQuery {
                directory: Some(d.id.clone()),
                limit: 1,
                ..UserQuery::default()
            })
            .await
            .map_err(|e| admin.fail(e))?
            .total;
        let groups = dir
            .groups(&GroupQuery {
                directory: Some(d.id.clone()),
                limit: 1,
                ..GroupQuery::default()
            })
            .await
            .map_err(|e| admin.fail(e))?
            .total;
        rows.push(DirectoryRow {
            position: d.position + 1,
            id: d.id.clone(),
            name: d.name.clone(),
            connector: match &d.kind {
                DirectoryKind::Internal => None,
                DirectoryKind::Connector { connector_id } => Some(connector_id.clone()),
            },
            users,
            groups,
            up: (i > 0).then(|| moved(i, i - 1)),
            down: (i + 1 < list.len()).then(|| moved(i, i + 1)),
        });
    }
    let page = DirectoriesPage {
        layout: admin.layout(Section::Directories),
        order: ids.join(", "),
        rows,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
struct OrderForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    order: String,
}

async fn reorder(
    admin: Admin,
    State(state): State<AppState>,
    form: Result<Form<OrderForm>, FormRejection>,
) -> Result<Response, Response> {
    let Form(form) = form.map_err(|e| bad_form(&admin, &e))?;
    admin.check_csrf(&form.csrf)?;
    let order: Vec<String> = form
        .order
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    match state
        .store()
        .directory()
        .reorder_directories(&order, &admin.write_context(&state))
        .await
    {
        Ok(_) => Ok(see_other("/console/directories")),
        // A directory added or removed since the page was shown makes the order incomplete.
        Err(StoreError::Invalid(m)) => Err(error_page(
            admin.layout(Section::Directories),
            StatusCode::CONFLICT,
            "The order was not changed",
            &format!(
                "{m}. The directories may have changed since the page was loaded: reload it and try again."
            ),
        )),
        Err(e) => Err(admin.fail(e)),
    }
}

// ---- users ----

#[derive(Debug, Default, Deserialize)]
struct ListParams {
    #[serde(default)]
    search: String,
    #[serde(default)]
    directory: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    after: String,
}

#[derive(Debug, Clone)]
struct UserRow {
    username: String,
    directory: String,
    display_name: String,
    email: String,
    active: bool,
    cleanup: String,
    effective: bool,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    layout: Layout,
    search: String,
    directory: String,
    group: String,
    /// Every directory, and whether it is the one filtered by.
    directories: Vec<(String, bool)>,
    rows: Vec<UserRow>,
    total: u64,
    paged: bool,
    next: Option<String>,
    first: String,
}

async fn users(
    admin: Admin,
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, Response> {
    let Query(params) = params.map_err(|e| bad_query(&admin, &e))?;
    let (search, directory, group) = (
        params.search.trim().to_owned(),
        params.directory.trim().to_owned(),
        params.group.trim().to_owned(),
    );
    let directories = known_directories(&admin, &state, &directory).await?;
    let after = given(params.after.trim());
    let page = state
        .store()
        .directory()
        .users(&UserQuery {
            directory: given(&directory),
            search: given(&search),
            member_of: given(&group),
            effective_only: false,
            after: after.clone(),
            limit: PAGE,
        })
        .await
        .map_err(|e| list_error(&admin, e))?;
    let rows = page
        .users
        .iter()
        .map(|u| UserRow {
            username: u.user.data.username.clone(),
            directory: u.user.directory.clone(),
            display_name: u.user.data.display_name.clone(),
            email: u.user.data.email.clone().unwrap_or_default(),
            active: u.user.data.active,
            cleanup: u
                .user
                .data
                .cleanup
                .map(|c| format!("{} ({})", c.action, c.reason))
                .unwrap_or_default(),
            effective: u.effective,
        })
        .collect();
    let filter = [
        ("search", search.as_str()),
        ("directory", &directory),
        ("group", &group),
    ];
    let (first, next) = page_links("/console/users", &filter, page.next.as_deref());
    let page = UsersPage {
        layout: admin.layout(Section::Users),
        next,
        first,
        paged: after.is_some(),
        total: page.total,
        rows,
        directories,
        search,
        directory,
        group,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Every directory id, marking `selected`; the 400 page if `selected` is set and is none of
/// them (an empty list would look like "no users" and hide the typo).
async fn known_directories(
    admin: &Admin,
    state: &AppState,
    selected: &str,
) -> Result<Vec<(String, bool)>, Response> {
    let list: Vec<Directory> = state
        .store()
        .directory()
        .directories()
        .await
        .map_err(|e| admin.fail(e))?;
    if !selected.is_empty() && !list.iter().any(|d| d.id == selected) {
        return Err(bad_request(
            admin,
            "Invalid filter",
            &format!("There is no directory '{selected}'. See the directories page for their ids."),
        ));
    }
    Ok(list
        .into_iter()
        .map(|d| {
            let is = d.id == selected;
            (d.id, is)
        })
        .collect())
}

/// A filter field as the store's queries take it: `None` when the form left it empty.
fn given(value: &str) -> Option<String> {
    Some(value.to_owned()).filter(|v| !v.is_empty())
}

/// The links of a listing's first page and, when the store has more, of its next page, with
/// the same filter.
fn page_links(base: &str, filter: &[(&str, &str)], next: Option<&str>) -> (String, Option<String>) {
    let next = next.map(|cursor| list_link(base, filter, Some(("after", cursor))));
    (list_link(base, filter, None), next)
}

fn bad_query(admin: &Admin, e: &QueryRejection) -> Response {
    bad_request(
        admin,
        "Invalid filter",
        &format!("The address's filter could not be read: {}", e.body_text()),
    )
}

fn list_error(admin: &Admin, e: StoreError) -> Response {
    match e {
        StoreError::InvalidCursor => bad_request(
            admin,
            "Invalid page",
            "This page's position in the list is not valid any more. Start again from the first page.",
        ),
        StoreError::Invalid(m) => bad_request(admin, "Invalid filter", &m),
        other => admin.fail(other),
    }
}

// ---- one username ----

#[derive(Debug, Clone)]
struct MembershipRow {
    group: String,
    origin: &'static str,
    explained: &'static str,
    managed_by_idp: bool,
}

#[derive(Debug, Clone)]
struct UserCard {
    directory: String,
    effective: bool,
    /// `(field, value)` rows of the user's data.
    fields: Vec<(String, String)>,
    active: bool,
    cleanup: String,
    memberships: Vec<MembershipRow>,
}

#[derive(Debug, Clone)]
struct HistoryRow {
    seq: i64,
    at: When,
    directory: String,
    actor: String,
    action: &'static str,
    summary: String,
    request_id: String,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage {
    layout: Layout,
    username: String,
    effective_directory: String,
    cards: Vec<UserCard>,
    history: Vec<HistoryRow>,
    /// Whether some directory's history was longer than shown.
    history_cut: bool,
}

async fn user(
    admin: Admin,
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> Result<Response, Response> {
    let dir = state.store().directory();
    let Some(detail) = dir.user(&username).await.map_err(|e| admin.fail(e))? else {
        return Err(admin.not_found(&format!("user named '{username}' in any directory")));
    };
    let now = state.clock().now();
    let mut history = Vec::new();
    let mut history_cut = false;
    for u in &detail.users {
        let rows = dir
            .audit(&AuditQuery {
                user_id: Some(u.user.id.clone()),
                limit: HISTORY,
                newest_first: true,
                ..AuditQuery::default()
            })
            .await
            .map_err(|e| admin.fail(e))?;
        history_cut |= rows.len() >= HISTORY as usize;
        history.extend(rows.iter().map(|e| history_row(e, now)));
    }
    history.sort_by_key(|h| std::cmp::Reverse(h.seq));
    let page = UserPage {
        layout: admin.layout(Section::Users),
        username: detail
            .users
            .first()
            .map_or(username, |u| u.user.data.username.clone()),
        effective_directory: detail.effective_directory.clone(),
        cards: detail.users.iter().map(user_card).collect(),
        history,
        history_cut,
    };
    Ok(render(StatusCode::OK, &page))
}

fn user_card(u: &UserInDirectory) -> UserCard {
    let d = &u.user.data;
    let mut fields = vec![
        ("Username".to_owned(), d.username.clone()),
        ("Display name".to_owned(), d.display_name.clone()),
        ("Email".to_owned(), d.email.clone().unwrap_or_default()),
        (
            "First name".to_owned(),
            d.first_name.clone().unwrap_or_default(),
        ),
        (
            "Last name".to_owned(),
            d.last_name.clone().unwrap_or_default(),
        ),
        (
            "Synced from".to_owned(),
            d.idp_id.as_ref().map_or_else(
                || "local user (no IdP link)".to_owned(),
                |id| format!("IdP user {id}"),
            ),
        ),
        (
            "Last login".to_owned(),
            d.last_login
                .map(roster_core::clock::rfc3339)
                .unwrap_or_default(),
        ),
    ];
    if d.anonymized {
        fields.push((
            "Anonymized".to_owned(),
            "yes: names and email are a pseudonym".to_owned(),
        ));
    }
    fields.extend(
        d.attributes
            .iter()
            .map(|(k, v)| (format!("Attribute {k}"), v.clone())),
    );
    UserCard {
        directory: u.user.directory.clone(),
        effective: u.effective,
        fields,
        active: d.active,
        cleanup: d
            .cleanup
            .map(|c| format!("{} because {}", c.action, c.reason))
            .unwrap_or_default(),
        memberships: u
            .memberships
            .iter()
            .map(|m| MembershipRow {
                group: m.group.clone(),
                origin: m.origin.as_str(),
                explained: match m.origin {
                    MembershipOrigin::Idp => "the IdP reports it",
                    MembershipOrigin::Local => "added by an administrator",
                    MembershipOrigin::Rule => "an always-assign rule",
                    MembershipOrigin::Copied => {
                        "copied from another directory when the user arrived"
                    }
                },
                managed_by_idp: m.idp_group.is_some(),
            })
            .collect(),
    }
}

fn history_row(e: &AuditEntry, now: time::OffsetDateTime) -> HistoryRow {
    HistoryRow {
        seq: e.seq,
        at: When::new(Some(e.at), now),
        directory: e.directory.clone().unwrap_or_default(),
        actor: e.actor.to_string(),
        action: e.action.as_str(),
        summary: audit_summary(e),
        request_id: e.request_id.clone().unwrap_or_default(),
    }
}

/// One line about an audit row of a user: what changed.
fn audit_summary(e: &AuditEntry) -> String {
    let text = |v: Option<&Value>, key: &str| {
        v.and_then(|v| v.get(key))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let events = e
        .detail
        .as_ref()
        .and_then(|d| d.get("events"))
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .filter_map(|ev| ev.get("event").and_then(Value::as_str))
                .map(|s| s.replace('_', " "))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let mut summary = match e.action {
        AuditAction::UserCreate => "created".to_owned(),
        AuditAction::UserDelete => "deleted".to_owned(),
        AuditAction::UserUpdate => changed_fields(e.before.as_ref(), e.after.as_ref()),
        AuditAction::MembershipAdd => format!(
            "added to {} ({})",
            text(e.after.as_ref(), "group"),
            text(e.after.as_ref(), "origin")
        ),
        AuditAction::MembershipRemove => format!(
            "removed from {} (was {})",
            text(e.before.as_ref(), "group"),
            text(e.before.as_ref(), "origin")
        ),
        AuditAction::MembershipOrigin => format!(
            "{}: {} → {}",
            text(e.after.as_ref(), "group"),
            text(e.before.as_ref(), "origin"),
            text(e.after.as_ref(), "origin")
        ),
        _ => String::new(),
    };
    if !events.is_empty() {
        if !summary.is_empty() {
            summary.push_str("; ");
        }
        summary.push_str(&events);
    }
    summary
}

/// `display_name: A → B, active: true → false`: the top-level fields that differ.
fn changed_fields(before: Option<&Value>, after: Option<&Value>) -> String {
    let (Some(Value::Object(b)), Some(Value::Object(a))) = (before, after) else {
        return String::new();
    };
    let show = |v: Option<&Value>| match v {
        None | Some(Value::Null) => "(empty)".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let mut keys: Vec<&String> = a.keys().collect();
    keys.extend(b.keys().filter(|k| !a.contains_key(*k)));
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| format!("{k}: {} → {}", show(b.get(k)), show(a.get(k))))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- groups ----

#[derive(Debug, Clone)]
struct GroupRow {
    name: String,
    directory: String,
    description: String,
    managed_by_idp: bool,
    members: u64,
    /// The users page filtered to its members.
    members_link: String,
}

#[derive(Template)]
#[template(path = "console/groups.html")]
struct GroupsPage {
    layout: Layout,
    search: String,
    directory: String,
    directories: Vec<(String, bool)>,
    rows: Vec<GroupRow>,
    total: u64,
    paged: bool,
    next: Option<String>,
    first: String,
}

async fn groups(
    admin: Admin,
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, Response> {
    let Query(params) = params.map_err(|e| bad_query(&admin, &e))?;
    let (search, directory) = (
        params.search.trim().to_owned(),
        params.directory.trim().to_owned(),
    );
    let directories = known_directories(&admin, &state, &directory).await?;
    let after = given(params.after.trim());
    let page = state
        .store()
        .directory()
        .groups(&GroupQuery {
            directory: given(&directory),
            search: given(&search),
            name: None,
            effective_only: false,
            after: after.clone(),
            limit: PAGE,
        })
        .await
        .map_err(|e| list_error(&admin, e))?;
    let rows = page
        .groups
        .iter()
        .map(|g| GroupRow {
            members_link: list_link(
                "/console/users",
                &[("directory", &g.group.directory), ("group", &g.group.name)],
                None,
            ),
            name: g.group.name.clone(),
            directory: g.group.directory.clone(),
            description: g.group.description.clone().unwrap_or_default(),
            managed_by_idp: g.group.managed_by_idp(),
            members: g.members,
        })
        .collect();
    let filter = [("search", search.as_str()), ("directory", &directory)];
    let (first, next) = page_links("/console/groups", &filter, page.next.as_deref());
    let page = GroupsPage {
        layout: admin.layout(Section::Groups),
        next,
        first,
        paged: after.is_some(),
        total: page.total,
        rows,
        directories,
        search,
        directory,
    };
    Ok(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn updates_name_the_fields_that_changed() {
        let before = json!({"username": "a", "display_name": "A", "active": true, "email": "x"});
        let after = json!({"username": "a", "display_name": "B", "active": false});
        assert_eq!(
            changed_fields(Some(&before), Some(&after)),
            "display_name: A → B, active: true → false, email: x → (empty)"
        );
    }
}
