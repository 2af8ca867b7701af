//! Admin and application API tokens: `/api/v1/api-tokens…`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use roster_core::admin::{self, ApiScope};

use super::connectors::{future_expiry, internal};
use super::error::ApiError;
use super::extract::ApiJson;
use super::model::{ApiTokenList, ApiTokenOut, CreatedApiToken, NewApiToken};
use crate::AppState;
use crate::admin_auth::AdminCaller;

/// Every API token (never their secrets).
#[utoipa::path(get, path = "/api/v1/api-tokens", tag = "api tokens",
    responses((status = 200, description = "Oldest first", body = ApiTokenList)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _: AdminCaller,
) -> Result<Json<ApiTokenList>, ApiError> {
    let now = state.clock().now();
    let tokens = state.store().admin().api_tokens().await?;
    Ok(Json(ApiTokenList {
        tokens: tokens
            .into_iter()
            .map(|t| ApiTokenOut::new(t, now))
            .collect(),
    }))
}

/// Makes an API token: `admin` (the admin API) or `app` (the application API, read-only).
/// Shown this once.
#[utoipa::path(post, path = "/api/v1/api-tokens", tag = "api tokens",
    request_body = NewApiToken,
    responses(
        (status = 201, description = "The token (shown once)", body = CreatedApiToken),
        (status = 400, description = "An unknown scope or an expiry in the past", body = super::model::ErrorBody),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    ApiJson(body): ApiJson<NewApiToken>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    let scope: ApiScope = body.scope.parse().map_err(ApiError::bad_request)?;
    let now = state.clock().now();
    let expires_at = future_expiry(body.expires_at, now)?;
    let created_by = caller.actor().to_string();
    let (secret, record) =
        admin::generate_api_token(scope, &body.description, &created_by, now, expires_at)
            .map_err(|e| internal(&e))?;
    state.store().admin().add_api_token(&record).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiToken {
            record: ApiTokenOut::new(record, now),
            token: secret.expose().to_owned(),
        }),
    ))
}

/// Revokes an API token at once.
#[utoipa::path(delete, path = "/api/v1/api-tokens/{id}", tag = "api tokens",
    params(("id" = String, Path, description = "The token's public id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token", body = super::model::ErrorBody),
    ))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store()
        .admin()
        .revoke_api_token(&id)
        .await
        .map_err(|e| ApiError::store(e, || format!("no API token '{id}'")))?;
    Ok(StatusCode::NO_CONTENT)
}
