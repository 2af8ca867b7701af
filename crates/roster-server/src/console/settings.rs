//! A connector's settings: the editor with every field explained, the live mapping tester,
//! preview and apply, and the sync results.
//!
//! | route | what |
//! |---|---|
//! | `GET /connectors/{id}/settings` | the document in an editor (the commented template until one is saved) |
//! | `POST /connectors/{id}/settings` | `action=preview`: the diff; `save`: store it (with the version seen); `save_apply`: store it and apply; `edit`: back to the editor with the text |
//! | `POST /connectors/{id}/apply` | re-sync every user now with the stored settings, and show the report |
//! | `POST /connectors/{id}/settings/test` | the mapping tester: the editor's text on one user, JSON |
//! | `GET /connectors/{id}/settings/idp-users?search=` | the tester's user picker: the connector's IdP users, JSON |
//! | `GET /connectors/{id}/results?outcome=` | sync runs and the latest outcome of each user |
//!
//! The tester (`static/settings.js`) posts the editor's TOML and a user, and gets back what
//! [`roster_core::sync::tester::mapping_test`] makes of them, the very function behind the
//! admin API's `POST /api/v1/connectors/{id}/mapping-test`: the API takes settings as JSON,
//! and problems found here are placed in the editor's TOML, where the admin can act on them.
//!
//! Settings come back from the store as a document without comments (the store keeps the
//! settings, not the text), so the editor shows the commented template only until the first
//! save; the explanation beside the editor covers every field either way.

use askama::Template;
use axum::Router;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Json, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use roster_core::Store;
use roster_core::connector::Connector;
use roster_core::directory::{MembershipOrigin, UserData};
use roster_core::settings::{CompiledSettings, Settings, SettingsError};
use roster_core::store::{
    OutcomeQuery, ResourceKind, ResourceQuery, StoreError, SyncOptions, SyncReport, SyncSource,
    WriteContext,
};
use roster_core::sync::{GroupChange, MembershipChange, Outcome, UserChange, UserEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Admin, Layout, Section, When, error_page, render, see_other};
use crate::AppState;

/// The most users a preview or apply report lists (the counts cover all of them).
const REPORT_USERS: usize = 500;
/// How many IdP users the tester's picker offers at a time.
const PICKER_USERS: u64 = 50;
/// How many runs and outcomes the results page shows.
const RESULT_RUNS: u32 = 48;
const RESULT_OUTCOMES: u32 = 200;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/connectors/{id}/settings", get(edit).post(submit))
        .route("/connectors/{id}/settings/test", post(test))
        .route("/connectors/{id}/settings/idp-users", get(idp_users))
        .route("/connectors/{id}/apply", post(apply))
        .route("/connectors/{id}/results", get(results))
}

// ---- the editor ----

/// A problem in the editor's document, as the editor lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Problem {
    /// The field (`mapping.email`, `groups.only_assign[2]`); empty for the document.
    pub(super) field: String,
    /// What is wrong.
    pub(super) message: String,
    /// Where in the document, 1-based, when it can be told.
    pub(super) line: Option<u32>,
    /// The column in that line, 1-based, in characters.
    pub(super) column: Option<u32>,
}

impl Problem {
    /// `line 14, column 20`, or `line 14`, or nothing.
    pub(super) fn place(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}"),
            (Some(l), None) => format!("line {l}"),
            _ => String::new(),
        }
    }
}

/// A notice above the editor.
#[derive(Debug, Clone)]
struct Notice {
    /// `ok` or `error`: how it looks.
    kind: &'static str,
    text: String,
    /// Offer the apply button with it.
    offer_apply: bool,
}

/// One IdP user the tester can pick.
#[derive(Debug, Clone, Serialize)]
struct PickUser {
    id: String,
    #[serde(rename = "userName")]
    user_name: String,
    #[serde(rename = "displayName")]
    display_name: String,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    layout: Layout,
    connector: Connector,
    /// The document in the editor.
    text: String,
    /// The stored version the text was based on (sent back to refuse concurrent edits).
    version: i64,
    /// `version 3, saved 5 minutes ago` or `the defaults: never saved`.
    origin: String,
    updated: When,
    notice: Option<Notice>,
    /// Whether the notice offers the apply button (the page header offers it otherwise).
    offer_apply: bool,
    problems: Vec<Problem>,
    picker: Vec<PickUser>,
    picker_total: u64,
    /// Whether more users match than the picker lists.
    picker_more: bool,
}

#[derive(Debug, Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

async fn edit(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<SavedQuery>, QueryRejection>,
) -> Result<Response, Response> {
    let connector = connector(&admin, &state, &id).await?;
    let stored = state
        .store()
        .directory()
        .settings(&id)
        .await
        .map_err(|e| store_error(&admin, e, &id))?;
    let notice = query
        .ok()
        .and_then(|q| q.0.saved)
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| Notice {
            kind: "ok",
            text: format!(
                "Saved as version {v}. The new settings apply to the IdP's next changes; \
                 apply them now to re-sync every user without waiting for the IdP."
            ),
            offer_apply: true,
        });
    let text = if stored.version == 0 {
        Settings::TEMPLATE.to_owned()
    } else {
        stored.settings.to_toml()
    };
    let page = editor(
        &admin,
        &state,
        connector,
        text,
        stored.version,
        notice,
        Vec::new(),
    )
    .await?;
    Ok(render(StatusCode::OK, &page))
}

/// The editor page around `text`.
async fn editor(
    admin: &Admin,
    state: &AppState,
    connector: Connector,
    text: String,
    version: i64,
    notice: Option<Notice>,
    problems: Vec<Problem>,
) -> Result<SettingsPage, Response> {
    let dir = state.store().directory();
    let stored = dir
        .settings(&connector.id)
        .await
        .map_err(|e| store_error(admin, e, &connector.id))?;
    let origin = if stored.version == 0 {
        "the defaults: never saved".to_owned()
    } else {
        format!("version {}", stored.version)
    };
    let (picker, picker_total) = pick_users(state.store().as_ref(), &connector.id, "")
        .await
        .map_err(|e| admin.fail(e))?;
    Ok(SettingsPage {
        layout: admin.layout(Section::Connectors),
        connector,
        text,
        version,
        origin,
        updated: When::new(stored.updated_at, state.clock().now()),
        offer_apply: notice.as_ref().is_some_and(|n| n.offer_apply),
        notice,
        problems,
        picker_more: picker_total > picker.len() as u64,
        picker,
        picker_total,
    })
}

#[derive(Debug, Deserialize)]
struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    settings: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    action: String,
}

async fn submit(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<SettingsForm>, FormRejection>,
) -> Result<Response, Response> {
    let Form(form) = form.map_err(|e| bad_form(&admin, &e))?;
    admin.check_csrf(&form.csrf)?;
    let connector = connector(&admin, &state, &id).await?;
    let Ok(version) = form.version.trim().parse::<i64>() else {
        return Err(bad_request(
            &admin,
            "The form is incomplete",
            "The form did not say which settings version it was based on. Reload the settings page and try again.",
        ));
    };
    let text = form.settings;
    if form.action == "edit" {
        let page = editor(&admin, &state, connector, text, version, None, Vec::new()).await?;
        return Ok(render(StatusCode::OK, &page));
    }
    let settings = match compile(&text) {
        Ok(compiled) => compiled.settings().clone(),
        Err(problems) => {
            let page = editor(&admin, &state, connector, text, version, None, problems).await?;
            return Ok(render(StatusCode::BAD_REQUEST, &page));
        }
    };
    let dir = state.store().directory();
    match form.action.as_str() {
        "preview" => {
            let options = SyncOptions {
                proposed: Some(settings),
                max_details: REPORT_USERS,
                ..SyncOptions::default()
            };
            let report = dir
                .preview(&id, &options)
                .await
                .map_err(|e| store_error(&admin, e, &id))?;
            let page = ReportPage {
                layout: admin.layout(Section::Connectors),
                connector,
                applied: false,
                report: ReportView::new(&report, false),
                text,
                version,
            };
            Ok(render(StatusCode::OK, &page))
        }
        "save" | "save_apply" => {
            let ctx = context(&admin, &state, &headers);
            let saved = match dir.set_settings(&id, &settings, Some(version), &ctx).await {
                Ok(saved) => saved,
                Err(StoreError::PreconditionFailed { current }) => {
                    let notice = Notice {
                        kind: "error",
                        text: format!(
                            "Not saved: the settings were changed elsewhere while you edited them \
                             (they are now version {current}; you started from version {version}). \
                             Your text is kept below. Open the settings page in a new tab to see \
                             the other change, merge what you need here, and save again."
                        ),
                        offer_apply: false,
                    };
                    // The version stays the one the text was based on: saving again must be
                    // a deliberate step after looking at the other change.
                    let page = editor(
                        &admin,
                        &state,
                        connector,
                        text,
                        version,
                        Some(notice),
                        Vec::new(),
                    )
                    .await?;
                    return Ok(render(StatusCode::CONFLICT, &page));
                }
                Err(StoreError::InvalidSettings(errors)) => {
                    let problems = errors.iter().map(|e| locate(&text, e)).collect();
                    let page =
                        editor(&admin, &state, connector, text, version, None, problems).await?;
                    return Ok(render(StatusCode::BAD_REQUEST, &page));
                }
                Err(e) => return Err(store_error(&admin, e, &id)),
            };
            if form.action == "save" {
                return Ok(see_other(&format!(
                    "/console/connectors/{}/settings?saved={}",
                    path_segment(&id),
                    saved.version
                )));
            }
            run_apply(&admin, &state, connector, &ctx).await
        }
        _ => Err(bad_request(
            &admin,
            "Unknown action",
            "The form asked for something this page does not do. Use the buttons under the editor.",
        )),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn apply(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, Response> {
    let Form(form) = form.map_err(|e| bad_form(&admin, &e))?;
    admin.check_csrf(&form.csrf)?;
    let connector = connector(&admin, &state, &id).await?;
    let ctx = context(&admin, &state, &headers);
    run_apply(&admin, &state, connector, &ctx).await
}

async fn run_apply(
    admin: &Admin,
    state: &AppState,
    connector: Connector,
    ctx: &WriteContext,
) -> Result<Response, Response> {
    let options = SyncOptions {
        max_details: REPORT_USERS,
        ..SyncOptions::default()
    };
    let report = match state
        .store()
        .directory()
        .apply(&connector.id, &options, ctx)
        .await
    {
        Ok(report) => report,
        Err(StoreError::Conflict(_)) => {
            return Err(error_page(
                admin.layout(Section::Connectors),
                StatusCode::CONFLICT,
                "Apply stopped: the settings changed",
                "The settings were saved again while apply was running. The users synced so far \
                 keep their changes; apply again to sync everyone with the new settings.",
            ));
        }
        Err(e) => return Err(store_error(admin, e, &connector.id)),
    };
    let page = ReportPage {
        layout: admin.layout(Section::Connectors),
        connector,
        applied: true,
        report: ReportView::new(&report, true),
        text: String::new(),
        version: report.settings_version.unwrap_or_default(),
    };
    Ok(render(StatusCode::OK, &page))
}

/// The context of a change made by this request: the admin, now, and the request id the
/// request-id layer set, so the audit log points back to the request.
fn context(admin: &Admin, state: &AppState, headers: &HeaderMap) -> WriteContext {
    let ctx = admin.write_context(state);
    match headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        Some(id) => ctx.with_request_id(id),
        None => ctx,
    }
}

/// Reads and compiles the editor's document: every problem, placed in the document.
fn compile(text: &str) -> Result<CompiledSettings, Vec<Problem>> {
    Settings::from_toml(text)
        .map_err(|e| vec![locate(text, &e)])?
        .compile()
        .map_err(|errors| errors.iter().map(|e| locate(text, e)).collect())
}

// ---- the mapping tester ----

#[derive(Debug, Deserialize)]
struct TestRequest {
    /// The editor's text.
    settings: String,
    /// A provisioned user, by SCIM id.
    #[serde(default)]
    user_id: Option<String>,
    /// A pasted SCIM user; wins over `user_id`.
    #[serde(default)]
    user: Option<Value>,
}

/// One membership the tested user would have.
#[derive(Debug, Serialize)]
struct TestMembership {
    group: String,
    idp_group: Option<String>,
    origin: MembershipOrigin,
}

/// One IdP group of the tested user, through the settings.
#[derive(Debug, Serialize)]
struct TestGroup {
    scim_id: String,
    /// `imported`, `filtered` or `failed`.
    state: &'static str,
    name: Option<String>,
    error: Option<String>,
}

/// The editor's text, unsaved, on one user: [`roster_core::sync::tester::mapping_test`], the
/// engine the admin API's mapping test runs too, with the problems placed in the editor's
/// document rather than in a JSON one the admin never saw.
async fn test(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<TestRequest>, JsonRejection>,
) -> Response {
    use roster_core::sync::GroupMapping;
    use roster_core::sync::tester::{TestSubject, mapping_test};

    // The header, not a form field: the request comes from the page's script.
    let presented = headers
        .get(crate::admin_auth::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !admin.session.csrf_matches(presented) {
        return json_error(
            StatusCode::FORBIDDEN,
            "a console session's request must carry its CSRF token in x-csrf-token",
            &[],
        );
    }
    let Json(request) = match body {
        Ok(body) => body,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.body_text(), &[]),
    };
    let compiled = match compile(&request.settings) {
        Ok(c) => c,
        Err(problems) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "the settings have problems",
                &problems,
            );
        }
    };
    let subject = match (request.user, request.user_id) {
        (Some(user), _) => TestSubject::Pasted(user),
        (None, Some(user_id)) if !user_id.is_empty() => TestSubject::Provisioned(user_id),
        _ => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "choose a provisioned user or paste one",
                &[],
            );
        }
    };
    match state.store().connector(&id).await {
        Ok(Some(_)) => {}
        Ok(None) => return json_error(StatusCode::NOT_FOUND, &format!("no connector '{id}'"), &[]),
        Err(e) => {
            tracing::error!(error = %e, "the mapping tester could not read a connector");
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", &[]);
        }
    }
    let test = match mapping_test(state.store().as_ref(), &id, &compiled, subject).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => {
            return json_error(
                StatusCode::NOT_FOUND,
                "that user is no longer provisioned: choose another",
                &[],
            );
        }
        Err(StoreError::Scim(e)) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("the pasted user is not a valid SCIM user: {}", e.detail),
                &[],
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "the mapping tester failed");
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", &[]);
        }
    };
    let memberships: Vec<TestMembership> = test
        .memberships
        .into_iter()
        .map(|m| TestMembership {
            group: m.group,
            idp_group: m.idp_group,
            origin: m.origin,
        })
        .collect();
    let groups: Vec<TestGroup> = test
        .groups
        .into_iter()
        .map(|g| {
            let (state, name, error) = match g.mapping {
                GroupMapping::Imported { name } => ("imported", Some(name), None),
                GroupMapping::Filtered { name } => ("filtered", Some(name), None),
                GroupMapping::Failed { error } => ("failed", None, Some(error)),
            };
            TestGroup {
                scim_id: g.scim_id,
                state,
                name,
                error,
            }
        })
        .collect();
    let reason = match &test.result.outcome {
        Outcome::Failed { reason } => Some(reason.clone()),
        _ => None,
    };
    Json(json!({
        "scim_id": test.scim_id,
        "username": test.username,
        "user": test.user,
        "memberships": memberships,
        "groups": groups,
        "outcome": test.result.outcome.as_str(),
        "reason": reason,
        "warnings": test.result.warnings,
    }))
    .into_response()
}

fn json_error(status: StatusCode, error: &str, problems: &[Problem]) -> Response {
    let body = json!({
        "status": status.as_u16(),
        "error": error,
        "problems": problems,
    });
    (status, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
struct PickQuery {
    #[serde(default)]
    search: String,
}

/// The tester's picker: IdP users whose userName or displayName contains the search text.
async fn idp_users(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<PickQuery>, QueryRejection>,
) -> Response {
    let search = query.map(|q| q.0.search).unwrap_or_default();
    match state.store().connector(&id).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return json_error(StatusCode::NOT_FOUND, &format!("no connector '{id}'"), &[]);
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read a connector");
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", &[]);
        }
    }
    match pick_users(state.store().as_ref(), &id, search.trim()).await {
        Ok((users, total)) => Json(json!({ "total": total, "users": users })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not list IdP users");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", &[])
        }
    }
}

/// The first [`PICKER_USERS`] IdP users of the connector (in creation order) whose userName or
/// displayName contains `search` (all of them when it is empty), and how many match.
async fn pick_users(
    store: &dyn Store,
    connector_id: &str,
    search: &str,
) -> Result<(Vec<PickUser>, u64), StoreError> {
    use ::scim::filter::{CompValue, CompareOp, Filter};
    use ::scim::path::AttrPath;
    use ::scim::query::Paging;

    let contains = |attr: &str| Filter::Compare {
        path: AttrPath::attr(attr),
        op: CompareOp::Co,
        value: CompValue::String(search.to_owned()),
    };
    let filter = (!search.is_empty()).then(|| {
        Filter::Or(
            Box::new(contains("userName")),
            Box::new(contains("displayName")),
        )
    });
    let page = store
        .query_resources(
            connector_id,
            ResourceKind::User,
            &ResourceQuery {
                filter,
                sort_by: None,
                descending: false,
                paging: Paging::Index {
                    start_index: 1,
                    count: PICKER_USERS,
                },
                load: Default::default(),
            },
        )
        .await?;
    let text = |body: &serde_json::Map<String, Value>, key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let users = page
        .items
        .iter()
        .map(|r| PickUser {
            id: r.id.clone(),
            user_name: text(&r.body, "userName"),
            display_name: text(&r.body, "displayName"),
        })
        .collect();
    Ok((users, page.total))
}

// ---- preview and apply reports ----

#[derive(Template)]
#[template(path = "console/preview.html")]
struct ReportPage {
    layout: Layout,
    connector: Connector,
    /// An apply's report (what was done) rather than a preview's (what would be).
    applied: bool,
    report: ReportView,
    /// The proposed document, carried to "Save and apply" and "Back to editing".
    text: String,
    /// The stored version the proposal was based on.
    version: i64,
}

/// A sync report as the page shows it.
#[derive(Debug, Clone)]
struct ReportView {
    /// The counts per line of the summary.
    users: Vec<Count>,
    memberships: Vec<Count>,
    groups: Vec<Count>,
    /// Whether anything would change at all.
    changes: bool,
    group_lines: Vec<GroupLine>,
    user_lines: Vec<UserLine>,
    truncated: bool,
}

/// One figure of a report's summary.
#[derive(Debug, Clone)]
struct Count {
    label: &'static str,
    n: u64,
}

impl Count {
    fn all(counts: &[(&'static str, u64)]) -> Vec<Self> {
        counts.iter().map(|&(label, n)| Self { label, n }).collect()
    }

    fn is_zero(&self) -> bool {
        self.n == 0
    }
}

#[derive(Debug, Clone)]
struct GroupLine {
    scim_id: String,
    outcome: &'static str,
    badge: &'static str,
    text: String,
}

#[derive(Debug, Clone)]
struct UserLine {
    name: String,
    /// The name the user's page has now: before a preview's rename, none for a user a preview
    /// would create or an apply deleted.
    link: Option<String>,
    scim_id: String,
    outcome: &'static str,
    badge: &'static str,
    reason: String,
    events: Vec<String>,
    fields: Vec<FieldChange>,
    memberships: Vec<MembershipLine>,
    warnings: Vec<String>,
}

/// One field of a user, before and after; `before` is empty for a new user.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldChange {
    field: String,
    before: String,
    after: String,
}

#[derive(Debug, Clone)]
struct MembershipLine {
    /// `add`, `remove` or `origin`.
    op: &'static str,
    group: String,
    text: String,
}

impl ReportView {
    fn new(report: &SyncReport, applied: bool) -> Self {
        let s = &report.summary;
        let users = Count::all(&[
            ("created", s.created),
            ("updated", s.updated),
            ("renamed", s.renamed),
            ("disabled", s.disabled),
            ("re-enabled", s.enabled),
            ("deleted", s.deleted),
            ("anonymized", s.anonymized),
            ("not imported", s.filtered),
            ("failed", s.failed),
            ("unchanged", s.unchanged),
        ]);
        let memberships = Count::all(&[
            ("added", s.memberships_added),
            ("removed", s.memberships_removed),
        ]);
        let groups = Count::all(&[
            ("created", s.groups_created),
            ("renamed", s.groups_renamed),
            ("deleted", s.groups_deleted),
            ("failed", s.groups_failed),
        ]);
        let group_lines = report
            .groups
            .iter()
            .map(|g| GroupLine {
                scim_id: g.scim_id.clone(),
                outcome: g.outcome.as_str(),
                badge: badge(&g.outcome),
                text: match (&g.change, &g.outcome) {
                    (_, Outcome::Failed { reason }) => reason.clone(),
                    (Some(GroupChange::Create { name, .. }), _) => format!("create '{name}'"),
                    (Some(GroupChange::Rename { from, to, .. }), _) => {
                        format!("rename '{from}' → '{to}' (memberships kept)")
                    }
                    (Some(GroupChange::Link { name, .. }), _) => {
                        format!("link the local group '{name}' to the IdP group")
                    }
                    (Some(GroupChange::Unlink { name, .. }), _) => format!(
                        "unlink '{name}': it stays as a local group, since a rule protects it"
                    ),
                    (Some(GroupChange::Delete { name, .. }), _) => {
                        format!("delete '{name}' and its memberships")
                    }
                    (None, _) => String::new(),
                },
            })
            .collect();
        let user_lines = report
            .users
            .iter()
            .map(|u| {
                let r = &u.result;
                let (events, fields) = match &r.user {
                    Some(UserChange::Create { data, events }) => {
                        (events.as_slice(), field_changes(None, data))
                    }
                    Some(UserChange::Update {
                        before,
                        after,
                        events,
                        ..
                    }) => (events.as_slice(), field_changes(Some(before), after)),
                    Some(UserChange::Delete { .. }) | None => (&[][..], Vec::new()),
                };
                let link = match (&r.user, applied) {
                    (Some(UserChange::Create { .. }), false)
                    | (Some(UserChange::Delete { .. }), true) => None,
                    (
                        Some(UserChange::Update { before, .. } | UserChange::Delete { before, .. }),
                        false,
                    ) => Some(before.username.clone()),
                    _ => u.username.clone(),
                };
                UserLine {
                    link,
                    name: u.username.clone().unwrap_or_else(|| r.scim_id.clone()),
                    scim_id: r.scim_id.clone(),
                    outcome: r.outcome.as_str(),
                    badge: badge(&r.outcome),
                    reason: match &r.outcome {
                        Outcome::Failed { reason } => reason.clone(),
                        _ => String::new(),
                    },
                    events: events.iter().filter_map(event_text).collect(),
                    fields,
                    memberships: r.memberships.iter().map(membership_line).collect(),
                    warnings: r.warnings.clone(),
                }
            })
            .collect::<Vec<_>>();
        let changes = report.users.iter().any(|u| u.result.has_changes())
            || report.groups.iter().any(|g| g.change.is_some());
        Self {
            users,
            memberships,
            groups,
            changes,
            group_lines,
            user_lines,
            truncated: report.truncated,
        }
    }
}

fn event_text(e: &UserEvent) -> Option<String> {
    Some(match e {
        UserEvent::Renamed { from, to } => format!("renamed {from} → {to}"),
        UserEvent::Disabled => "disabled".to_owned(),
        UserEvent::Enabled => "re-enabled".to_owned(),
        UserEvent::CleanedUp(c) => format!(
            "cleanup: {} because {}",
            c.action,
            match c.reason {
                roster_core::directory::CleanupReason::Deleted => "the IdP deleted the user",
                roster_core::directory::CleanupReason::NotInRequired =>
                    "the user is in no required group",
                roster_core::directory::CleanupReason::Dropped => "the drop condition holds",
            }
        ),
        UserEvent::Restored { reason } => format!("back from cleanup ({reason} no longer holds)"),
        UserEvent::Anonymized => "anonymized".to_owned(),
        UserEvent::Deanonymized => "de-anonymized".to_owned(),
        UserEvent::Relinked { previous } => match previous {
            Some(p) => format!("taken over from IdP user {p}"),
            None => "an existing local user taken over".to_owned(),
        },
        UserEvent::Copied { from_directory } => format!("copied from '{from_directory}'"),
    })
}

fn origin_text(o: MembershipOrigin) -> &'static str {
    match o {
        MembershipOrigin::Idp => "from the IdP",
        MembershipOrigin::Local => "added by hand",
        MembershipOrigin::Rule => "always-assign rule",
        MembershipOrigin::Copied => "copied",
    }
}

fn membership_line(m: &MembershipChange) -> MembershipLine {
    match m {
        MembershipChange::Add { group, origin, .. } => MembershipLine {
            op: "add",
            group: group.clone(),
            text: origin_text(*origin).to_owned(),
        },
        MembershipChange::Remove { group, origin, .. } => MembershipLine {
            op: "remove",
            group: group.clone(),
            text: format!("was {}", origin_text(*origin)),
        },
        MembershipChange::SetOrigin {
            group, from, to, ..
        } => MembershipLine {
            op: "origin",
            group: group.clone(),
            text: format!("stays: {} → {}", origin_text(*from), origin_text(*to)),
        },
    }
}

/// The fields that differ between `before` (none for a new user) and `after`.
fn field_changes(before: Option<&UserData>, after: &UserData) -> Vec<FieldChange> {
    fn opt(v: Option<&String>) -> String {
        v.cloned().unwrap_or_default()
    }
    fn row(data: &UserData) -> Vec<(String, String)> {
        let mut fields = vec![
            ("username".to_owned(), data.username.clone()),
            ("display_name".to_owned(), data.display_name.clone()),
            ("email".to_owned(), opt(data.email.as_ref())),
            ("first_name".to_owned(), opt(data.first_name.as_ref())),
            ("last_name".to_owned(), opt(data.last_name.as_ref())),
            ("active".to_owned(), yes_no(data.active).to_owned()),
        ];
        fields.extend(
            data.attributes
                .iter()
                .map(|(k, v)| (format!("attributes.{k}"), v.clone())),
        );
        fields
    }
    let after_row = row(after);
    let Some(before) = before else {
        return after_row
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(field, after)| FieldChange {
                field,
                before: String::new(),
                after,
            })
            .collect();
    };
    let before_row = row(before);
    let value = |rows: &[(String, String)], field: &str| {
        rows.iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut names: Vec<&String> = after_row.iter().map(|(f, _)| f).collect();
    for (f, _) in &before_row {
        if !names.contains(&f) {
            names.push(f);
        }
    }
    names
        .into_iter()
        .filter_map(|f| {
            let (b, a) = (value(&before_row, f), value(&after_row, f));
            (b != a).then(|| FieldChange {
                field: f.clone(),
                before: b,
                after: a,
            })
        })
        .collect()
}

/// The badge colour of an outcome.
fn badge(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Created => "ok",
        Outcome::Updated => "info",
        Outcome::Disabled => "warn",
        Outcome::Deleted | Outcome::Failed { .. } => "err",
        Outcome::Unchanged | Outcome::Filtered => "off",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

// ---- sync results ----

#[derive(Template)]
#[template(path = "console/results.html")]
struct ResultsPage {
    layout: Layout,
    connector: Connector,
    /// The outcome filtered by; empty for all.
    outcome: String,
    /// Each outcome, and whether it is the one filtered by.
    outcomes: Vec<(&'static str, bool)>,
    runs: Vec<RunLine>,
    lines: Vec<OutcomeLine>,
}

#[derive(Debug, Clone)]
struct RunLine {
    /// `scim` or `apply`.
    source: &'static str,
    label: &'static str,
    started: When,
    last: When,
    counts: [u64; 7],
}

#[derive(Debug, Clone)]
struct OutcomeLine {
    subject: &'static str,
    name: String,
    scim_id: String,
    outcome: &'static str,
    badge: &'static str,
    reason: String,
    warnings: Vec<String>,
    source: &'static str,
    at: When,
}

#[derive(Debug, Deserialize)]
struct ResultsQuery {
    #[serde(default)]
    outcome: String,
}

async fn results(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<ResultsQuery>, QueryRejection>,
) -> Result<Response, Response> {
    let Query(query) = query.map_err(|e| {
        bad_request(
            &admin,
            "Invalid filter",
            &format!("The address's filter could not be read: {}", e.body_text()),
        )
    })?;
    let connector = connector(&admin, &state, &id).await?;
    let outcome = query.outcome.trim().to_owned();
    if !outcome.is_empty() && outcome != "all" && !Outcome::KINDS.contains(&outcome.as_str()) {
        return Err(bad_request(
            &admin,
            "Invalid filter",
            &format!(
                "'{outcome}' is not an outcome. Choose one of: {}.",
                Outcome::KINDS.join(", ")
            ),
        ));
    }
    let outcome = if outcome == "all" {
        String::new()
    } else {
        outcome
    };
    let dir = state.store().directory();
    let now = state.clock().now();
    let runs = dir
        .sync_runs(&id, None, RESULT_RUNS)
        .await
        .map_err(|e| store_error(&admin, e, &id))?
        .into_iter()
        .map(|r| {
            let c = r.counters;
            RunLine {
                source: r.source.as_str(),
                label: match r.source {
                    SyncSource::Scim => "SCIM traffic (hour)",
                    SyncSource::Apply => "apply",
                },
                started: When::new(Some(r.started_at), now),
                last: When::new(Some(r.last_at), now),
                counts: [
                    c.created,
                    c.updated,
                    c.unchanged,
                    c.disabled,
                    c.deleted,
                    c.filtered,
                    c.failed,
                ],
            }
        })
        .collect();
    let lines = dir
        .sync_outcomes(&OutcomeQuery {
            connector_id: id.clone(),
            outcome: (!outcome.is_empty()).then(|| outcome.clone()),
            limit: RESULT_OUTCOMES,
        })
        .await
        .map_err(|e| store_error(&admin, e, &id))?
        .into_iter()
        .map(|o| OutcomeLine {
            subject: match o.subject {
                roster_core::store::SyncSubject::User => "user",
                roster_core::store::SyncSubject::Group => "group",
            },
            name: o.name.clone().unwrap_or_default(),
            scim_id: o.scim_id,
            outcome: o.outcome.as_str(),
            badge: badge(&o.outcome),
            reason: match o.outcome {
                Outcome::Failed { reason } => reason,
                _ => String::new(),
            },
            warnings: o.warnings,
            source: o.source.as_str(),
            at: When::new(Some(o.at), now),
        })
        .collect();
    let page = ResultsPage {
        layout: admin.layout(Section::Connectors),
        connector,
        outcomes: Outcome::KINDS.iter().map(|o| (*o, *o == outcome)).collect(),
        outcome,
        runs,
        lines,
    };
    Ok(render(StatusCode::OK, &page))
}

// ---- shared with the other connector pages ----

/// The connector, or the 404 page.
pub(super) async fn connector(
    admin: &Admin,
    state: &AppState,
    id: &str,
) -> Result<Connector, Response> {
    match state.store().connector(id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(admin.not_found(&format!("connector '{id}'"))),
        Err(e) => Err(admin.fail(e)),
    }
}

/// A store error as a page: "not found" names the connector, anything else is a 500.
fn store_error(admin: &Admin, e: StoreError, connector_id: &str) -> Response {
    match e {
        StoreError::NotFound => admin.not_found(&format!("connector '{connector_id}'")),
        StoreError::Invalid(m) => bad_request(admin, "Not possible", &m),
        other => admin.fail(other),
    }
}

/// The 400 page.
pub(super) fn bad_request(admin: &Admin, title: &str, message: &str) -> Response {
    error_page(
        admin.layout(Section::None),
        StatusCode::BAD_REQUEST,
        title,
        message,
    )
}

/// A form that could not be read (wrong content type, malformed body): the 400 page.
pub(super) fn bad_form(admin: &Admin, e: &FormRejection) -> Response {
    bad_request(
        admin,
        "The form could not be read",
        &format!("{} Reload the page and try again.", e.body_text()),
    )
}

/// `s` percent-encoded for one path segment.
pub(super) fn path_segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

// ---- placing problems in the document ----

/// A settings problem placed in the document: syntax errors carry a document position
/// already; a compile error names a field and a position inside that field's expression, which
/// is found here by reading the document's tables and keys, and shifted by where the value
/// starts (only through a string the expression can be mapped back into character by
/// character; otherwise the problem points at the key's line).
fn locate(text: &str, e: &SettingsError) -> Problem {
    let mut problem = Problem {
        field: e.field.clone(),
        message: e.message.clone(),
        line: None,
        column: None,
    };
    if e.field.is_empty() {
        if let Some(p) = e.position {
            problem.line = Some(p.line);
            problem.column = Some(p.column);
        }
        return problem;
    }
    let Some(found) = find_field(text, &e.field) else {
        if let Some(p) = e.position {
            // Not in the document (a default): where in the expression, at least.
            problem.message = format!(
                "{} (at {}:{} of the expression)",
                e.message, p.line, p.column
            );
        }
        return problem;
    };
    problem.line = Some(found.line);
    problem.column = Some(found.column);
    if let Some(p) = e.position
        && let Some((line, column)) = found.value.position_of(p.line, p.column)
    {
        problem.line = Some(line);
        problem.column = Some(column);
    }
    problem
}

/// Where a field's value is written in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    /// The line and column of the value (or list entry) itself.
    line: u32,
    column: u32,
    value: ValueText,
}

/// How a string value is written, to map positions inside it back to the document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ValueText {
    /// A one-line string starting at (line, column) of its opening quote; `raw` is what follows
    /// the quote, up to the end of the line.
    OneLine {
        line: u32,
        column: u32,
        literal: bool,
        raw: String,
    },
    /// A multi-line literal string (`'''`) whose text starts on `first_line`, at `column` when
    /// it starts on the line of the quotes (1 otherwise).
    MultiLine { first_line: u32, column: u32 },
    /// Anything else: the key's line is as precise as it gets.
    Other,
}

impl ValueText {
    /// The document position of the expression's `line`:`column`.
    fn position_of(&self, line: u32, column: u32) -> Option<(u32, u32)> {
        match self {
            Self::OneLine {
                line: l,
                column: c,
                literal,
                raw,
            } if line == 1 => {
                // Walk the decoded characters, counting the raw ones each takes.
                let mut raw_cols = 0u32;
                let mut chars = raw.chars();
                for _ in 1..column {
                    let ch = chars.next()?;
                    raw_cols += 1;
                    if !literal && ch == '\\' {
                        let skip = match chars.next()? {
                            'u' => 4,
                            'U' => 8,
                            _ => 0,
                        };
                        raw_cols += 1 + skip;
                        for _ in 0..skip {
                            chars.next()?;
                        }
                    } else if ch == if *literal { '\'' } else { '"' } {
                        return None;
                    }
                }
                Some((*l, c + 1 + raw_cols))
            }
            Self::MultiLine {
                first_line,
                column: c,
            } => {
                let doc_line = first_line + line - 1;
                Some((doc_line, if line == 1 { c + column - 1 } else { column }))
            }
            _ => None,
        }
    }
}

/// Finds `field` (`mapping.email`, `mapping.attributes.dept`, `groups.only_assign[2]`) in a
/// TOML document by its tables and keys. A light reading, not a parser: the document has
/// already parsed when this runs, so only where things are is needed.
fn find_field(text: &str, field: &str) -> Option<Found> {
    let (path, index) = match field.strip_suffix(']').and_then(|f| f.rsplit_once('[')) {
        Some((path, i)) => (path, Some(i.parse::<usize>().ok()?)),
        None => (field, None),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut table = String::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim_start();
        if line.starts_with("[[") {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or_default();
            table = key_path(name);
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some((key, _)) = split_key(line) else {
            continue;
        };
        let full = if table.is_empty() {
            key_path(key)
        } else {
            format!("{table}.{}", key_path(key))
        };
        if full != path {
            continue;
        }
        let eq = raw.find('=')?;
        let after = &raw[eq + 1..];
        let ws = after.len() - after.trim_start().len();
        let start = eq + 1 + ws;
        let line_no = u32::try_from(i + 1).ok()?;
        let col = |byte: usize| u32::try_from(raw[..byte].chars().count() + 1).unwrap_or(1);
        return match index {
            Some(n) => find_entry(&lines, i, start, n),
            None => Some(Found {
                line: line_no,
                column: col(start),
                value: value_text(&lines, i, start),
            }),
        };
    }
    None
}

/// The key of a `key = value` line, if the line is one.
fn split_key(line: &str) -> Option<(&str, &str)> {
    let mut quote = None;
    for (i, ch) in line.char_indices() {
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, '=') => return Some((line[..i].trim(), &line[i + 1..])),
            _ => {}
        }
    }
    None
}

/// A dotted TOML key with its parts unquoted: `"a.b" . c` → `a.b.c`.
fn key_path(key: &str) -> String {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut quote = None;
    for ch in key.chars() {
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, '.') => parts.push(std::mem::take(&mut part).trim().to_owned()),
            (None, c) if c.is_whitespace() => {}
            (_, c) => part.push(c),
        }
    }
    parts.push(part.trim().to_owned());
    parts.join(".")
}

fn value_text(lines: &[&str], i: usize, start: usize) -> ValueText {
    let raw = lines[i];
    let value = &raw[start..];
    let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
    let column = u32::try_from(raw[..start].chars().count() + 1).unwrap_or(1);
    if let Some(rest) = value.strip_prefix("'''") {
        // A newline right after the opening quotes is not part of the string.
        return if rest.trim().is_empty() {
            ValueText::MultiLine {
                first_line: line + 1,
                column: 1,
            }
        } else {
            ValueText::MultiLine {
                first_line: line,
                column: column + 3,
            }
        };
    }
    if value.starts_with("\"\"\"") {
        return ValueText::Other;
    }
    match value.chars().next() {
        Some(q @ ('"' | '\'')) => ValueText::OneLine {
            line,
            column,
            literal: q == '\'',
            raw: value[1..].to_owned(),
        },
        _ => ValueText::Other,
    }
}

/// The `n`th string of the list that starts at `lines[i][start..]`, over as many lines as
/// it takes.
fn find_entry(lines: &[&str], i: usize, start: usize, n: usize) -> Option<Found> {
    let mut seen = 0;
    let mut in_string: Option<char> = None;
    for (li, raw) in lines.iter().enumerate().skip(i) {
        let from = if li == i { start } else { 0 };
        let mut escaped = false;
        for (b, ch) in raw[from..].char_indices() {
            let b = from + b;
            match in_string {
                Some(q) => {
                    if escaped {
                        escaped = false;
                    } else if ch == '\\' && q == '"' {
                        escaped = true;
                    } else if ch == q {
                        in_string = None;
                    }
                }
                None => match ch {
                    '#' => break,
                    ']' => return None,
                    '"' | '\'' => {
                        if seen == n {
                            let line = u32::try_from(li + 1).ok()?;
                            let column = u32::try_from(raw[..b].chars().count() + 1).ok()?;
                            return Some(Found {
                                line,
                                column,
                                value: ValueText::Other,
                            });
                        }
                        seen += 1;
                        in_string = Some(ch);
                    }
                    _ => {}
                },
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<(String, Option<u32>, Option<u32>)> {
        compile(text)
            .unwrap_err()
            .into_iter()
            .map(|p| (p.field, p.line, p.column))
            .collect()
    }

    #[test]
    fn syntax_errors_keep_their_document_position() {
        assert_eq!(
            problems("[mapping]\nusername = 'user.userName'\nemial = 'x'\n"),
            [(String::new(), Some(3), Some(1))]
        );
    }

    #[test]
    fn expression_errors_are_placed_in_the_document() {
        // `primary_email(user` fails at 1:19 of the expression; the value's quote is at
        // column 9 of line 3, so the expression's first character is column 10.
        let text = "# comment\n[mapping]\nemail = \"primary_email(user\"\n";
        assert_eq!(
            problems(text),
            [("mapping.email".to_owned(), Some(3), Some(10 + 18))]
        );
        // A literal string, indented, with a dotted key from the parent table.
        let text = "[groups]\n  name = 'group.displayName + lowr(group.id)'\n";
        let got = problems(text);
        assert_eq!(got[0].0, "groups.name");
        assert_eq!(got[0].1, Some(2));
        // CEL places a call at its parenthesis: 1:25 of the expression; the quote is at
        // column 10.
        assert_eq!(got[0].2, Some(10 + 25));
        // Escapes before the position count as the characters they are written with: the
        // call's parenthesis is character 11 of `"x" + lowr(…)`, written with 12 characters
        // before it after the quote at column 16.
        let text = "[mapping]\ndisplay_name = \"\\\"x\\\" + lowr(user.userName)\"\n";
        let got = problems(text);
        assert_eq!((got[0].1, got[0].2), (Some(2), Some(16 + 1 + 12)));
    }

    #[test]
    fn list_entries_and_attributes_are_found() {
        let text = "[groups]\nonly_assign = [\n  \"ok\",\n  # a comment, \"not an entry\"\n  'team (eu',\n]\n[mapping.attributes]\n\"9lives\" = \"'x'\"\n";
        let got = problems(text);
        assert_eq!(
            got,
            [
                ("mapping.attributes.9lives".to_owned(), Some(8), Some(12)),
                ("groups.only_assign[1]".to_owned(), Some(5), Some(3)),
            ]
        );
    }

    #[test]
    fn a_field_not_in_the_document_keeps_its_expression_position() {
        let e = SettingsError {
            field: "mapping.email".into(),
            message: "boom".into(),
            position: Some(roster_core::settings::Position::at_offset("abc", 1)),
        };
        let p = locate("[groups]\n", &e);
        assert_eq!((p.line, p.column), (None, None));
        assert!(p.message.contains("1:2 of the expression"), "{}", p.message);
    }

    #[test]
    fn multi_line_literal_strings_map_lines() {
        let text = "[mapping]\ndrop = '''\ntrue &&\n  lowr(user.userName) == \"x\"'''\n";
        let got = problems(text);
        assert_eq!(got[0].0, "mapping.drop");
        // The call's parenthesis: line 2, column 7 of the expression, which starts on the
        // line after the opening quotes.
        assert_eq!((got[0].1, got[0].2), (Some(4), Some(7)));
    }

    #[test]
    fn user_changes_list_the_fields_that_differ() {
        let mut before = UserData {
            username: "adele".into(),
            display_name: "Adele".into(),
            email: Some("a@x".into()),
            first_name: None,
            last_name: None,
            active: true,
            attributes: Default::default(),
            last_login: None,
            idp_id: Some("1".into()),
            cleanup: None,
            anonymized: false,
        };
        let mut after = before.clone();
        after.email = None;
        after.attributes.insert("dept".into(), "R&D".into());
        let got = field_changes(Some(&before), &after);
        assert_eq!(
            got,
            [
                FieldChange {
                    field: "email".into(),
                    before: "a@x".into(),
                    after: String::new()
                },
                FieldChange {
                    field: "attributes.dept".into(),
                    before: String::new(),
                    after: "R&D".into()
                },
            ]
        );
        before.active = false;
        let created = field_changes(None, &before);
        assert!(created.iter().all(|f| f.before.is_empty()));
        assert!(
            created
                .iter()
                .any(|f| f.field == "active" && f.after == "no")
        );
    }
}
