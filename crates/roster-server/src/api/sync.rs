//! Steering a connector's sync: settings, preview, apply, the mapping tester, sync results.

use axum::Json;
use axum::extract::{Path, State};
use roster_core::settings::{CompiledSettings, Settings};
use roster_core::store::{OutcomeQuery, SyncOptions};
use roster_core::sync::Outcome;
use roster_core::sync::tester::{self, TestSubject};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use super::connectors::{find, no_connector};
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, RequestId, limit};
use super::model::{
    MappingTestIn, MappingTestOut, PreviewIn, ResultsOut, SettingsIn, SettingsOut, SyncReportOut,
    TemplateOut,
};
use super::write_context;
use crate::AppState;
use crate::admin_auth::AdminCaller;

/// A settings document from a request: refused with its problem when it is not one.
fn document(value: Value) -> Result<Settings, ApiError> {
    Settings::from_json_value(value).map_err(|e| ApiError::invalid_settings(&[e]))
}

fn compile(settings: &Settings) -> Result<CompiledSettings, ApiError> {
    settings
        .compile()
        .map_err(|errors| ApiError::invalid_settings(&errors))
}

/// A connector's settings: the defaults (version 0) until saved.
#[utoipa::path(get, path = "/api/v1/connectors/{id}/settings", tag = "sync",
    params(("id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The settings", body = SettingsOut),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
    ))]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<SettingsOut>, ApiError> {
    let stored = state
        .store()
        .directory()
        .settings(&id)
        .await
        .map_err(|e| ApiError::store(e, no_connector(&id)))?;
    Ok(Json(stored.into()))
}

/// Validates and saves a connector's settings. They apply to the IdP's next writes; apply
/// re-syncs everyone now.
#[utoipa::path(put, path = "/api/v1/connectors/{id}/settings", tag = "sync",
    params(("id" = String, Path, description = "The connector's id")),
    request_body = SettingsIn,
    responses(
        (status = 200, description = "The saved settings", body = SettingsOut),
        (status = 400, description = "Settings that do not compile: every problem, with its field and position", body = super::model::ErrorBody),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
        (status = 412, description = "The stored version is not `version`", body = super::model::ErrorBody),
    ))]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    request_id: RequestId,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SettingsIn>,
) -> Result<Json<SettingsOut>, ApiError> {
    let settings = document(body.settings)?;
    let ctx = write_context(&state, &caller, request_id);
    let stored = state
        .store()
        .directory()
        .set_settings(&id, &settings, body.version, &ctx)
        .await
        .map_err(|e| ApiError::store(e, no_connector(&id)))?;
    Ok(Json(stored.into()))
}

/// The default settings, as commented TOML and as JSON.
#[utoipa::path(get, path = "/api/v1/connectors/{id}/settings/template", tag = "sync",
    params(("id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The defaults", body = TemplateOut),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
    ))]
pub(crate) async fn template(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<TemplateOut>, ApiError> {
    find(&state, &id).await?;
    Ok(Json(TemplateOut {
        toml: Settings::TEMPLATE.to_owned(),
        settings: serde_json::to_value(Settings::default()).unwrap_or_default(),
    }))
}

/// What re-syncing every user would change, with the stored or proposed settings. Writes
/// nothing.
#[utoipa::path(post, path = "/api/v1/connectors/{id}/preview", tag = "sync",
    params(("id" = String, Path, description = "The connector's id")),
    request_body = PreviewIn,
    responses(
        (status = 200, description = "The report", body = SyncReportOut),
        (status = 400, description = "Proposed settings that do not compile", body = super::model::ErrorBody),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
    ))]
pub(crate) async fn preview(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PreviewIn>,
) -> Result<Json<SyncReportOut>, ApiError> {
    let options = SyncOptions {
        proposed: body.settings.map(document).transpose()?,
        ..SyncOptions::default()
    };
    let report = state
        .store()
        .directory()
        .preview(&id, &options)
        .await
        .map_err(|e| ApiError::store(e, no_connector(&id)))?;
    Ok(Json(report.into()))
}

/// Re-syncs every user with the stored settings now, without waiting for the IdP's next
/// cycle.
#[utoipa::path(post, path = "/api/v1/connectors/{id}/apply", tag = "sync",
    params(("id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "What it did", body = SyncReportOut),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
        (status = 409, description = "The settings changed while it ran: run it again", body = super::model::ErrorBody),
    ))]
pub(crate) async fn apply(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    request_id: RequestId,
    Path(id): Path<String>,
) -> Result<Json<SyncReportOut>, ApiError> {
    let ctx = write_context(&state, &caller, request_id);
    let report = state
        .store()
        .directory()
        .apply(&id, &SyncOptions::default(), &ctx)
        .await
        .map_err(|e| ApiError::store(e, no_connector(&id)))?;
    Ok(Json(report.into()))
}

/// What syncing one user would make of it — a provisioned user (`user_id`) or pasted SCIM
/// JSON (`user`) — with the stored or proposed settings. Writes nothing.
#[utoipa::path(post, path = "/api/v1/connectors/{id}/mapping-test", tag = "sync",
    params(("id" = String, Path, description = "The connector's id")),
    request_body = MappingTestIn,
    responses(
        (status = 200, description = "The directory user and memberships it would have", body = MappingTestOut),
        (status = 400, description = "Settings that do not compile, or not exactly one of `user_id` and `user`, or an invalid SCIM user", body = super::model::ErrorBody),
        (status = 404, description = "No such connector, or no such user in its IdP view", body = super::model::ErrorBody),
    ))]
pub(crate) async fn mapping_test(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MappingTestIn>,
) -> Result<Json<MappingTestOut>, ApiError> {
    let subject = match (body.user_id, body.user) {
        (Some(user_id), None) => TestSubject::Provisioned(user_id),
        (None, Some(user)) => TestSubject::Pasted(user),
        _ => {
            return Err(ApiError::bad_request(
                "give either user_id (a provisioned user) or user (SCIM user JSON)",
            ));
        }
    };
    let settings = match body.settings {
        Some(proposed) => compile(&document(proposed)?)?,
        None => {
            let stored = state
                .store()
                .directory()
                .settings(&id)
                .await
                .map_err(|e| ApiError::store(e, no_connector(&id)))?;
            compile(&stored.settings)?
        }
    };
    find(&state, &id).await?;
    let missing = match &subject {
        TestSubject::Provisioned(user) => format!("connector '{id}' has no SCIM user '{user}'"),
        TestSubject::Pasted(_) => no_connector(&id)(),
    };
    let test = tester::mapping_test(&**state.store(), &id, &settings, subject)
        .await
        .map_err(|e| ApiError::store(e, || missing))?;
    Ok(Json(test.into()))
}

/// The query of `GET …/results`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ResultsQuery {
    /// Only outcomes of this kind: `created`, `updated`, `unchanged`, `disabled`, `deleted`,
    /// `filtered`, `failed`.
    outcome: Option<String>,
    /// The most runs and the most outcomes (default 100, at most 1000).
    limit: Option<u32>,
}

/// A connector's sync runs and the latest outcome of each of its users and groups.
#[utoipa::path(get, path = "/api/v1/connectors/{id}/results", tag = "sync",
    params(("id" = String, Path, description = "The connector's id"), ResultsQuery),
    responses(
        (status = 200, description = "Runs and outcomes, newest first", body = ResultsOut),
        (status = 400, description = "An unknown outcome or a bad limit", body = super::model::ErrorBody),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
    ))]
pub(crate) async fn results(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ResultsQuery>,
) -> Result<Json<ResultsOut>, ApiError> {
    let limit = limit(query.limit)?;
    if let Some(o) = &query.outcome
        && !Outcome::KINDS.contains(&o.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "unknown outcome '{o}': use one of {}",
            Outcome::KINDS.join(", ")
        )));
    }
    find(&state, &id).await?;
    let dir = state.store().directory();
    let runs = dir.sync_runs(&id, None, limit).await?;
    let outcomes = dir
        .sync_outcomes(&OutcomeQuery {
            connector_id: id.clone(),
            outcome: query.outcome,
            limit,
        })
        .await?;
    Ok(Json(ResultsOut {
        runs: runs.into_iter().map(Into::into).collect(),
        outcomes: outcomes.into_iter().map(Into::into).collect(),
    }))
}
