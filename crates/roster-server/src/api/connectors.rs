//! Connectors and their bearer tokens: `/api/v1/connectors…`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::connector::{self, Connector};
use roster_core::{StoreError, token};
use time::{Duration, OffsetDateTime};

use super::error::ApiError;
use super::extract::{ApiJson, RequestId};
use super::model::{
    ActivityOut, ConnectorList, ConnectorOut, CreatedConnector, CreatedToken, NewConnector,
    NewToken, TokenList, TokenOut,
};
use super::write_context;
use crate::AppState;
use crate::admin_auth::AdminCaller;

/// "Recent" errors on the dashboard: the last day's.
const RECENT: Duration = Duration::hours(24);

/// The 404 message for a connector id, for [`ApiError::store`].
pub(crate) fn no_connector(id: &str) -> impl FnOnce() -> String + '_ {
    move || format!("no connector '{id}'")
}

/// A connector, or 404.
pub(crate) async fn find(state: &AppState, id: &str) -> Result<Connector, ApiError> {
    state
        .store()
        .connector(id)
        .await?
        .ok_or_else(|| ApiError::not_found(no_connector(id)()))
}

/// The connectors with their activity.
async fn described(
    state: &AppState,
    connectors: Vec<Connector>,
) -> Result<Vec<ConnectorOut>, ApiError> {
    let since = state.clock().now() - RECENT;
    let mut activity = state.store().admin().connector_activity(since).await?;
    Ok(connectors
        .into_iter()
        .map(|c| {
            let a = activity
                .iter()
                .position(|a| a.connector_id == c.id)
                .map(|i| ActivityOut::from(activity.swap_remove(i)))
                .unwrap_or_default();
            let url = state.base_url(&c.id);
            ConnectorOut::new(c, url, a)
        })
        .collect())
}

async fn one(state: &AppState, id: &str) -> Result<ConnectorOut, ApiError> {
    let c = find(state, id).await?;
    Ok(described(state, vec![c]).await?.remove(0))
}

/// Every connector, with what its IdP did lately.
#[utoipa::path(get, path = "/api/v1/connectors", tag = "connectors",
    responses((status = 200, description = "Every connector, by id", body = ConnectorList)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _: AdminCaller,
) -> Result<Json<ConnectorList>, ApiError> {
    let connectors = state.store().connectors().await?;
    Ok(Json(ConnectorList {
        connectors: described(&state, connectors).await?,
    }))
}

/// Makes a connector and its first token, shown this once.
#[utoipa::path(post, path = "/api/v1/connectors", tag = "connectors",
    request_body = NewConnector,
    responses(
        (status = 201, description = "The connector and its token (shown once)", body = CreatedConnector),
        (status = 400, description = "An invalid name or id", body = super::model::ErrorBody),
        (status = 409, description = "The id is taken", body = super::model::ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    _: AdminCaller,
    ApiJson(new): ApiJson<NewConnector>,
) -> Result<(StatusCode, Json<CreatedConnector>), ApiError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::bad_request("the connector needs a name"));
    }
    connector::validate_name(&name).map_err(|e| ApiError::bad_request(e.detail))?;
    let id = new.id.unwrap_or_else(|| connector::slugify(&name));
    connector::validate_id(&id).map_err(|e| ApiError::bad_request(e.detail))?;
    let now = state.clock().now();
    let c = Connector {
        id: id.clone(),
        name,
        enabled: true,
        created_at: now,
    };
    state
        .store()
        .create_connector(&c)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::new(
                StatusCode::CONFLICT,
                format!("a connector with id '{id}' already exists: choose another id"),
            ),
            other => other.into(),
        })?;
    let (secret, record) =
        token::generate(&id, "created with the connector", now, None).map_err(|e| internal(&e))?;
    state.store().add_token(&record).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedConnector {
            scim_base_url: state.base_url(&id),
            id: c.id,
            name: c.name,
            enabled: c.enabled,
            created_at: c.created_at,
            token: secret.expose().to_owned(),
            token_id: record.id,
        }),
    ))
}

/// The random source failed: logged, and a 500 that says nothing more.
pub(crate) fn internal(e: &dyn std::error::Error) -> ApiError {
    tracing::error!(error = %e, "could not make a token");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

/// A new token's `expires_at`: refused (400) unless it is after `now`, since a token born
/// expired opens nothing.
pub(crate) fn future_expiry(
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, ApiError> {
    if expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::bad_request("expires_at is in the past"));
    }
    Ok(expires_at)
}

/// One connector.
#[utoipa::path(get, path = "/api/v1/connectors/{id}", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector", body = ConnectorOut),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
    ))]
pub(crate) async fn get(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<ConnectorOut>, ApiError> {
    Ok(Json(one(&state, &id).await?))
}

/// Deletes a connector with its tokens, IdP view, settings, results and directory.
#[utoipa::path(delete, path = "/api/v1/connectors/{id}", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
    ))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    request_id: RequestId,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ctx = write_context(&state, &caller, request_id);
    state
        .store()
        .delete_connector(&id, &ctx)
        .await
        .map_err(|e| ApiError::store(e, no_connector(&id)))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_enabled(state: &AppState, id: &str, enabled: bool) -> Result<ConnectorOut, ApiError> {
    state
        .store()
        .set_connector_enabled(id, enabled)
        .await
        .map_err(|e| ApiError::store(e, no_connector(id)))?;
    one(state, id).await
}

/// Enables a connector: its tokens open it again.
#[utoipa::path(post, path = "/api/v1/connectors/{id}/enable", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector", body = ConnectorOut),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
    ))]
pub(crate) async fn enable(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<ConnectorOut>, ApiError> {
    Ok(Json(set_enabled(&state, &id, true).await?))
}

/// Disables a connector: every SCIM request to it gets 401 until it is enabled.
#[utoipa::path(post, path = "/api/v1/connectors/{id}/disable", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector", body = ConnectorOut),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
    ))]
pub(crate) async fn disable(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<ConnectorOut>, ApiError> {
    Ok(Json(set_enabled(&state, &id, false).await?))
}

/// A connector's tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/connectors/{id}/tokens", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "Oldest first", body = TokenList),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
    ))]
pub(crate) async fn tokens(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<TokenList>, ApiError> {
    find(&state, &id).await?;
    let now = state.clock().now();
    let tokens = state.store().tokens(&id).await?;
    Ok(Json(TokenList {
        tokens: tokens.into_iter().map(|t| TokenOut::new(t, now)).collect(),
    }))
}

/// Adds a token to a connector (its other tokens stay valid), shown this once.
#[utoipa::path(post, path = "/api/v1/connectors/{id}/tokens", tag = "connectors", params(("id" = String, Path, description = "The connector's id")),
    request_body = NewToken,
    responses(
        (status = 201, description = "The token (shown once)", body = CreatedToken),
        (status = 400, description = "An expiry in the past", body = super::model::ErrorBody),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
    ))]
pub(crate) async fn add_token(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
    ApiJson(new): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    find(&state, &id).await?;
    let now = state.clock().now();
    let expires_at = future_expiry(new.expires_at, now)?;
    let description = new.description.unwrap_or_default();
    let (secret, record) =
        token::generate(&id, &description, now, expires_at).map_err(|e| internal(&e))?;
    state.store().add_token(&record).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            record: TokenOut::new(record, now),
            token: secret.expose().to_owned(),
        }),
    ))
}

/// Revokes a connector's token at once.
#[utoipa::path(delete, path = "/api/v1/connectors/{id}/tokens/{token_id}", tag = "connectors",
    params(("id" = String, Path, description = "The connector's id"), ("token_id" = String, Path, description = "The token's public id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such connector or token", body = super::model::ErrorBody),
    ))]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    _: AdminCaller,
    Path((id, token_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .store()
        .revoke_token(&id, &token_id)
        .await
        .map_err(|e| {
            ApiError::store(e, || format!("connector '{id}' has no token '{token_id}'"))
        })?;
    Ok(StatusCode::NO_CONTENT)
}
