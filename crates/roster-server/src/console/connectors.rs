//! The dashboard, connectors and tokens.
//!
//! | route | page |
//! |---|---|
//! | `GET /console/` | every connector: status, users, groups, last IdP activity, errors (24 h) |
//! | `GET/POST /console/connectors/new` | create a connector; the answer shows its URL and token once |
//! | `GET /console/connectors/{id}` | one connector: status, base URL, counts, tokens |
//! | `POST /console/connectors/{id}/enable`, `…/disable` | switch it on or off |
//! | `GET/POST /console/connectors/{id}/delete` | what deleting removes; confirm by typing its id |
//! | `POST /console/connectors/{id}/tokens` | add a token (shown once) |
//! | `POST /console/connectors/{id}/tokens/{token}/revoke` | revoke one |
//! | `GET/POST /console/api-tokens`, `POST /console/api-tokens/{id}/revoke` | admin and app API tokens |
//!
//! A new token is rendered straight into the answer to the POST that made it, with
//! `Cache-Control: no-store`: it is never in a URL, a redirect or a cache, and reloading the
//! page cannot show it again (the browser would offer to resend the form, making a new one).

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use roster_core::admin::{self, ApiScope, ApiTokenRecord, ConnectorActivity};
use roster_core::connector::{self, Connector};
use roster_core::store::StoreError;
use roster_core::token::{self, TokenRecord};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Admin, Layout, Section, When, no_store, render, see_other};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/connectors/new", get(new_form).post(create))
        .route("/connectors/{id}", get(show))
        .route("/connectors/{id}/enable", post(enable))
        .route("/connectors/{id}/disable", post(disable))
        .route("/connectors/{id}/delete", get(delete_confirm).post(delete))
        .route("/connectors/{id}/tokens", post(add_token))
        .route("/connectors/{id}/tokens/{token}/revoke", post(revoke_token))
        .route("/api-tokens", get(api_tokens).post(create_api_token))
        .route("/api-tokens/{id}/revoke", post(revoke_api_token))
}

/// How far back the dashboard counts failed requests.
const ERRORS_WINDOW: time::Duration = time::Duration::hours(24);
/// The longest connector name the form takes.
const MAX_NAME: usize = 100;
/// The longest token description the forms take.
const MAX_DESCRIPTION: usize = 200;
/// The longest token lifetime the forms take, in days (ten years).
const MAX_DAYS: u32 = 3650;

// ---- the dashboard ----

/// A connector as its row on the dashboard shows it.
#[derive(Debug)]
struct ConnectorRow {
    id: String,
    name: String,
    enabled: bool,
    base_url: String,
    users: u64,
    groups: u64,
    last_activity: When,
    recent_errors: u64,
}

impl ConnectorRow {
    fn new(
        state: &AppState,
        c: Connector,
        activity: Option<&ConnectorActivity>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            base_url: state.base_url(&c.id),
            users: activity.map_or(0, |a| a.users),
            groups: activity.map_or(0, |a| a.groups),
            last_activity: When::new(activity.and_then(|a| a.last_request_at), now),
            recent_errors: activity.map_or(0, |a| a.recent_errors),
            id: c.id,
            name: c.name,
            enabled: c.enabled,
        }
    }
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    connectors: Vec<ConnectorRow>,
    total_users: u64,
    total_groups: u64,
    total_errors: u64,
    /// The id of a connector just deleted, for the notice.
    deleted: String,
}

#[derive(Debug, Deserialize)]
struct DashboardQuery {
    #[serde(default)]
    deleted: String,
}

async fn dashboard(
    admin: Admin,
    State(state): State<AppState>,
    Query(query): Query<DashboardQuery>,
) -> Result<Response, Response> {
    let now = state.clock().now();
    let connectors = state
        .store()
        .connectors()
        .await
        .map_err(|e| admin.fail(e))?;
    let activity = activities(&admin, &state, now).await?;
    let rows: Vec<ConnectorRow> = connectors
        .into_iter()
        .map(|c| {
            let a = activity.iter().find(|a| a.connector_id == c.id);
            ConnectorRow::new(&state, c, a, now)
        })
        .collect();
    let page = DashboardPage {
        layout: admin.layout(Section::Connectors),
        total_users: rows.iter().map(|r| r.users).sum(),
        total_groups: rows.iter().map(|r| r.groups).sum(),
        total_errors: rows.iter().map(|r| r.recent_errors).sum(),
        connectors: rows,
        // Only an id-shaped value is echoed back into the page.
        deleted: if connector::validate_id(&query.deleted).is_ok() {
            query.deleted
        } else {
            String::new()
        },
    };
    Ok(render(StatusCode::OK, &page))
}

async fn activities(
    admin: &Admin,
    state: &AppState,
    now: OffsetDateTime,
) -> Result<Vec<ConnectorActivity>, Response> {
    state
        .store()
        .admin()
        .connector_activity(now - ERRORS_WINDOW)
        .await
        .map_err(|e| admin.fail(e))
}

// ---- creating a connector ----

#[derive(Template)]
#[template(path = "console/connector_new.html")]
struct NewConnectorPage {
    layout: Layout,
    name: String,
    id: String,
    /// What is wrong with the form, and with which field (`name`, `id`).
    error: String,
    error_field: &'static str,
    /// The base URL a connector gets, without its id, as a hint.
    scim_prefix: String,
}

impl NewConnectorPage {
    fn new(admin: &Admin, state: &AppState) -> Self {
        Self {
            layout: admin.layout(Section::Connectors),
            name: String::new(),
            id: String::new(),
            error: String::new(),
            error_field: "",
            scim_prefix: state.base_url(""),
        }
    }
}

async fn new_form(admin: Admin, State(state): State<AppState>) -> Response {
    render(StatusCode::OK, &NewConnectorPage::new(&admin, &state))
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
}

#[derive(Template)]
#[template(path = "console/connector_created.html")]
struct CreatedPage {
    layout: Layout,
    connector: ConnectorRow,
    token: String,
    token_id: String,
    plain_http: bool,
}

async fn create(
    admin: Admin,
    State(state): State<AppState>,
    Form(form): Form<CreateForm>,
) -> Result<Response, Response> {
    admin.check_csrf(&form.csrf)?;
    let name = form.name.trim().to_owned();
    let given_id = form.id.trim().to_owned();
    let invalid = |status: StatusCode, field: &'static str, error: String| {
        let page = NewConnectorPage {
            name: name.clone(),
            id: given_id.clone(),
            error,
            error_field: field,
            ..NewConnectorPage::new(&admin, &state)
        };
        render(status, &page)
    };
    if name.is_empty() {
        return Err(invalid(
            StatusCode::BAD_REQUEST,
            "name",
            "Give the connector a name, such as \"Entra ID\" or \"Okta (production)\".".to_owned(),
        ));
    }
    if name.chars().count() > MAX_NAME {
        return Err(invalid(
            StatusCode::BAD_REQUEST,
            "name",
            format!("The name is too long: at most {MAX_NAME} characters."),
        ));
    }
    let id = if given_id.is_empty() {
        connector::slugify(&name)
    } else {
        given_id.clone()
    };
    if let Err(e) = connector::validate_id(&id) {
        return Err(invalid(StatusCode::BAD_REQUEST, "id", e.detail));
    }
    let now = state.clock().now();
    let c = Connector {
        id: id.clone(),
        name: name.clone(),
        enabled: true,
        created_at: now,
    };
    match state.store().create_connector(&c).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(invalid(
                StatusCode::CONFLICT,
                "id",
                format!(
                    "A connector with the id '{id}' already exists. Choose another id, or open \
                     the existing connector from the dashboard."
                ),
            ));
        }
        Err(e) => return Err(admin.fail(e)),
    }
    let (secret, record) =
        token::generate(&id, "created with the connector", now, None).map_err(|e| admin.fail(e))?;
    state
        .store()
        .add_token(&record)
        .await
        .map_err(|e| admin.fail(e))?;
    tracing::info!(connector = %id, by = %admin.username(), "connector created in the console");
    let page = CreatedPage {
        layout: admin.layout(Section::Connectors),
        plain_http: state.public_url().starts_with("http://"),
        connector: ConnectorRow::new(&state, c, None, now),
        token: secret.expose().to_owned(),
        token_id: record.id,
    };
    Ok(no_store(render(StatusCode::CREATED, &page)))
}

// ---- one connector ----

/// A token as the tokens table shows it.
#[derive(Debug)]
struct TokenRow {
    id: String,
    description: String,
    created: When,
    last_used: When,
    expires: When,
    expired: bool,
}

impl TokenRow {
    fn new(t: &TokenRecord, now: OffsetDateTime) -> Self {
        Self {
            id: t.id.clone(),
            description: t.description.clone(),
            created: When::new(Some(t.created_at), now),
            last_used: When::new(t.last_used_at, now),
            expires: When::new(t.expires_at, now),
            expired: t.expired(now),
        }
    }
}

#[derive(Template)]
#[template(path = "console/connector.html")]
struct ConnectorPage {
    layout: Layout,
    connector: ConnectorRow,
    created: When,
    tokens: Vec<TokenRow>,
    /// A neutral notice after a change (`enabled`, `disabled`, `revoked`).
    notice: &'static str,
    /// What is wrong with the add-token form.
    token_error: String,
    token_description: String,
    token_days: String,
}

#[derive(Debug, Default, Deserialize)]
struct ConnectorQuery {
    #[serde(default)]
    done: String,
}

async fn show(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ConnectorQuery>,
) -> Result<Response, Response> {
    let notice = match query.done.as_str() {
        "enabled" => "The connector is enabled: its tokens open its SCIM endpoint again.",
        "disabled" => {
            "The connector is disabled: every SCIM request to it is refused (401) until it is \
             enabled again. Nothing was deleted."
        }
        "revoked" => "The token is revoked: it no longer opens this connector.",
        _ => "",
    };
    let page = connector_page(&admin, &state, &id, notice).await?;
    Ok(render(StatusCode::OK, &page))
}

/// The connector page as it stands, or the 404 page.
async fn connector_page(
    admin: &Admin,
    state: &AppState,
    id: &str,
    notice: &'static str,
) -> Result<ConnectorPage, Response> {
    let now = state.clock().now();
    let c = find(admin, state, id).await?;
    let activity = activities(admin, state, now).await?;
    let tokens = state.store().tokens(id).await.map_err(|e| admin.fail(e))?;
    let created = When::new(Some(c.created_at), now);
    let a = activity.iter().find(|a| a.connector_id == c.id);
    Ok(ConnectorPage {
        layout: admin.layout(Section::Connectors),
        connector: ConnectorRow::new(state, c, a, now),
        created,
        tokens: tokens.iter().map(|t| TokenRow::new(t, now)).collect(),
        notice,
        token_error: String::new(),
        token_description: String::new(),
        token_days: String::new(),
    })
}

async fn find(admin: &Admin, state: &AppState, id: &str) -> Result<Connector, Response> {
    match state.store().connector(id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(admin.not_found(&format!("connector '{id}'"))),
        Err(e) => Err(admin.fail(e)),
    }
}

/// A form whose only field is the CSRF token.
#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn enable(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Response> {
    set_enabled(admin, state, id, form, true).await
}

async fn disable(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Response> {
    set_enabled(admin, state, id, form, false).await
}

async fn set_enabled(
    admin: Admin,
    state: AppState,
    id: String,
    form: CsrfForm,
    enabled: bool,
) -> Result<Response, Response> {
    admin.check_csrf(&form.csrf)?;
    match state.store().set_connector_enabled(&id, enabled).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(admin.not_found(&format!("connector '{id}'"))),
        Err(e) => return Err(admin.fail(e)),
    }
    tracing::info!(connector = %id, enabled, by = %admin.username(), "connector switched in the console");
    let done = if enabled { "enabled" } else { "disabled" };
    Ok(see_other(&format!("{}?done={done}", connector_path(&id))))
}

/// The console path of a connector's page (ids are URL-safe by construction).
fn connector_path(id: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("/console/connectors/{id}")
}

// ---- deleting a connector ----

#[derive(Template)]
#[template(path = "console/connector_delete.html")]
struct DeletePage {
    layout: Layout,
    connector: ConnectorRow,
    tokens: usize,
    error: String,
}

async fn delete_page(
    admin: &Admin,
    state: &AppState,
    id: &str,
    error: String,
) -> Result<DeletePage, Response> {
    let page = connector_page(admin, state, id, "").await?;
    Ok(DeletePage {
        layout: page.layout,
        tokens: page.tokens.len(),
        connector: page.connector,
        error,
    })
}

async fn delete_confirm(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let page = delete_page(&admin, &state, &id, String::new()).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
    /// The connector's id, typed by the administrator.
    #[serde(default)]
    confirm: String,
}

async fn delete(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, Response> {
    admin.check_csrf(&form.csrf)?;
    if form.confirm.trim() != id {
        let error = format!("Type the connector's id, {id}, to confirm.");
        let page = delete_page(&admin, &state, &id, error).await?;
        return Err(render(StatusCode::BAD_REQUEST, &page));
    }
    let ctx = admin.write_context(&state);
    match state.store().delete_connector(&id, &ctx).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(admin.not_found(&format!("connector '{id}'"))),
        Err(e) => return Err(admin.fail(e)),
    }
    tracing::info!(connector = %id, by = %admin.username(), "connector deleted in the console");
    Ok(see_other(&format!("/console/?deleted={id}")))
}

// ---- connector tokens ----

#[derive(Debug, Deserialize)]
struct AddTokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    description: String,
    /// Days until it expires; empty: never.
    #[serde(default)]
    expires_in_days: String,
}

/// A token form's description and expiry, or what is wrong with them.
fn token_fields(
    description: &str,
    days: &str,
    now: OffsetDateTime,
) -> Result<(String, Option<OffsetDateTime>), String> {
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(format!(
            "The description is too long: at most {MAX_DESCRIPTION} characters."
        ));
    }
    let days = days.trim();
    let expires_at = if days.is_empty() {
        None
    } else {
        match days.parse::<u32>() {
            Ok(d) if (1..=MAX_DAYS).contains(&d) => Some(now + time::Duration::days(i64::from(d))),
            _ => {
                return Err(format!(
                    "The expiry must be a whole number of days from 1 to {MAX_DAYS}, or empty for a token that never expires."
                ));
            }
        }
    };
    Ok((description.to_owned(), expires_at))
}

#[derive(Template)]
#[template(path = "console/token_created.html")]
struct TokenCreatedPage {
    layout: Layout,
    connector: ConnectorRow,
    token: String,
    token_id: String,
    expires: When,
}

async fn add_token(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<AddTokenForm>,
) -> Result<Response, Response> {
    admin.check_csrf(&form.csrf)?;
    let now = state.clock().now();
    let (description, expires_at) =
        match token_fields(&form.description, &form.expires_in_days, now) {
            Ok(fields) => fields,
            Err(error) => {
                let mut page = connector_page(&admin, &state, &id, "").await?;
                page.token_error = error;
                page.token_description = form.description;
                page.token_days = form.expires_in_days;
                return Err(render(StatusCode::BAD_REQUEST, &page));
            }
        };
    let c = find(&admin, &state, &id).await?;
    let (secret, record) =
        token::generate(&id, &description, now, expires_at).map_err(|e| admin.fail(e))?;
    state
        .store()
        .add_token(&record)
        .await
        .map_err(|e| admin.fail(e))?;
    tracing::info!(connector = %id, token = %record.id, by = %admin.username(), "connector token added in the console");
    let page = TokenCreatedPage {
        layout: admin.layout(Section::Connectors),
        connector: ConnectorRow::new(&state, c, None, now),
        token: secret.expose().to_owned(),
        token_id: record.id,
        expires: When::new(expires_at, now),
    };
    Ok(no_store(render(StatusCode::CREATED, &page)))
}

async fn revoke_token(
    admin: Admin,
    State(state): State<AppState>,
    Path((id, token_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Response> {
    admin.check_csrf(&form.csrf)?;
    match state.store().revoke_token(&id, &token_id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(admin.not_found(&format!("token '{token_id}' on connector '{id}'")));
        }
        Err(e) => return Err(admin.fail(e)),
    }
    tracing::info!(connector = %id, token = %token_id, by = %admin.username(), "connector token revoked in the console");
    Ok(see_other(&format!("{}?done=revoked", connector_path(&id))))
}

// ---- API tokens ----

/// An API token as its table shows it.
#[derive(Debug)]
struct ApiTokenRow {
    id: String,
    scope: &'static str,
    description: String,
    created_by: String,
    created: When,
    last_used: When,
    expires: When,
    expired: bool,
}

impl ApiTokenRow {
    fn new(t: &ApiTokenRecord, now: OffsetDateTime) -> Self {
        Self {
            id: t.id.clone(),
            scope: t.scope.as_str(),
            description: t.description.clone(),
            created_by: t.created_by.clone(),
            created: When::new(Some(t.created_at), now),
            last_used: When::new(t.last_used_at, now),
            expires: When::new(t.expires_at, now),
            expired: t.expired(now),
        }
    }
}

#[derive(Template)]
#[template(path = "console/api_tokens.html")]
struct ApiTokensPage {
    layout: Layout,
    tokens: Vec<ApiTokenRow>,
    notice: &'static str,
    error: String,
    description: String,
    scope: String,
    days: String,
    /// Set right after a token was made: shown once.
    created_token: String,
    created_id: String,
}

#[derive(Debug, Default, Deserialize)]
struct ApiTokensQuery {
    #[serde(default)]
    done: String,
}

async fn api_tokens_page(admin: &Admin, state: &AppState) -> Result<ApiTokensPage, Response> {
    let now = state.clock().now();
    let tokens = state
        .store()
        .admin()
        .api_tokens()
        .await
        .map_err(|e| admin.fail(e))?;
    Ok(ApiTokensPage {
        layout: admin.layout(Section::ApiTokens),
        tokens: tokens.iter().map(|t| ApiTokenRow::new(t, now)).collect(),
        notice: "",
        error: String::new(),
        description: String::new(),
        scope: "app".to_owned(),
        days: String::new(),
        created_token: String::new(),
        created_id: String::new(),
    })
}

async fn api_tokens(
    admin: Admin,
    State(state): State<AppState>,
    Query(query): Query<ApiTokensQuery>,
) -> Result<Response, Response> {
    let mut page = api_tokens_page(&admin, &state).await?;
    if query.done == "revoked" {
        page.notice = "The API token is revoked: it no longer opens any API.";
    }
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
struct ApiTokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    expires_in_days: String,
}

async fn create_api_token(
    admin: Admin,
    State(state): State<AppState>,
    Form(form): Form<ApiTokenForm>,
) -> Result<Response, Response> {
    admin.check_csrf(&form.csrf)?;
    let now = state.clock().now();
    let fields = token_fields(&form.description, &form.expires_in_days, now).and_then(|f| {
        form.scope
            .parse::<ApiScope>()
            .map(|scope| (f, scope))
            .map_err(|_| "Choose what the token may do: admin or app.".to_owned())
    });
    let ((description, expires_at), scope) = match fields {
        Ok(fields) => fields,
        Err(error) => {
            let mut page = api_tokens_page(&admin, &state).await?;
            page.error = error;
            page.description = form.description;
            page.scope = form.scope;
            page.days = form.expires_in_days;
            return Err(render(StatusCode::BAD_REQUEST, &page));
        }
    };
    let created_by = admin.actor().to_string();
    let (secret, record) =
        admin::generate_api_token(scope, &description, &created_by, now, expires_at)
            .map_err(|e| admin.fail(e))?;
    state
        .store()
        .admin()
        .add_api_token(&record)
        .await
        .map_err(|e| admin.fail(e))?;
    tracing::info!(token = %record.id, scope = scope.as_str(), by = %admin.username(), "API token created in the console");
    let mut page = api_tokens_page(&admin, &state).await?;
    page.created_token = secret.expose().to_owned();
    page.created_id = record.id;
    Ok(no_store(render(StatusCode::CREATED, &page)))
}

async fn revoke_api_token(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Response> {
    admin.check_csrf(&form.csrf)?;
    match state.store().admin().revoke_api_token(&id).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(admin.not_found(&format!("API token '{id}'")));
        }
        Err(e) => return Err(admin.fail(e)),
    }
    tracing::info!(token = %id, by = %admin.username(), "API token revoked in the console");
    Ok(see_other("/console/api-tokens?done=revoked"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn token_forms_are_checked() {
        let now = datetime!(2026-11-30 12:00 UTC);
        assert_eq!(
            token_fields(" Entra ", "", now).unwrap(),
            ("Entra".to_owned(), None)
        );
        assert_eq!(
            token_fields("", "30", now).unwrap().1,
            Some(datetime!(2026-12-30 12:00 UTC))
        );
        for bad in ["0", "-1", "1.5", "x", "3651"] {
            assert!(token_fields("", bad, now).is_err(), "{bad}");
        }
        assert!(token_fields(&"d".repeat(201), "", now).is_err());
    }
}
