//! The discovery endpoints (RFC 7644 §4): `/ServiceProviderConfig` (RFC 7643 §5 with
//! RFC 9865 §4 `pagination`), `/ResourceTypes` and `/ResourceTypes/{name}` (RFC 7643 §6),
//! `/Schemas` and `/Schemas/{id}` (RFC 7643 §7).
//!
//! They tell the truth because they are built from what the server runs with: the query and
//! bulk limits the IdP view enforces, and the very schemas it validates and projects with.
//! Like every endpoint of a connector they require its bearer token (see the `auth` module
//! for why), and their `meta.location`s are under the connector's base URL.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use scim::ScimError;
use scim::discovery::{self, ServiceProviderConfig};

use crate::AppState;
use crate::auth::ConnectorScope;
use crate::error::{Error, scim_json};
use crate::extract::PathId;

/// What this server supports, from its real limits.
///
/// - PATCH, filters (with `maxResults` = the largest page), `sortBy` / `sortOrder` (run by
///   the store), ETags with `If-Match` / `If-None-Match`: yes.
/// - `/Bulk`: yes, with the `maxOperations` and `maxPayloadSize` it enforces.
/// - Password change: no; `password` is write-only and kept as the IdP sent it.
/// - Paging: by index (the default, what Entra ID and Okta use) and by RFC 9865 cursor.
/// - Authentication: OAuth bearer tokens (RFC 6750), one set per connector.
pub(crate) fn service_provider_config(state: &AppState) -> ServiceProviderConfig {
    let limits = state.view().limits();
    let mut config = ServiceProviderConfig::new(&limits.query)
        .with_bulk(&limits.bulk)
        .with_sort(true)
        .with_etag(true)
        .with_change_password(false)
        .with_cursor_paging(0);
    if let Some(pagination) = &mut config.pagination {
        // The store's cursors are positions in a stable order, not server-side sessions:
        // they do not expire, so no `cursorTimeout` is promised (RFC 9865 §4 makes it
        // optional).
        pagination.cursor_timeout = None;
    }
    config
}

/// `GET /ServiceProviderConfig`.
pub(crate) async fn config(State(state): State<AppState>, scope: ConnectorScope) -> Response {
    let location = format!("{}/ServiceProviderConfig", scope.base_url());
    scim_json(
        StatusCode::OK,
        &service_provider_config(&state).to_json(&location),
    )
}

/// `GET /ResourceTypes`.
pub(crate) async fn resource_types(
    State(state): State<AppState>,
    scope: ConnectorScope,
) -> Response {
    let list = discovery::resource_types_list(state.resource_types(), scope.base_url());
    scim_json(StatusCode::OK, &list)
}

/// `GET /ResourceTypes/{name}`; the name is compared case-insensitively.
pub(crate) async fn resource_type(
    State(state): State<AppState>,
    scope: ConnectorScope,
    PathId(name): PathId,
) -> Result<Response, Error> {
    let found = discovery::resource_type_by_name(state.resource_types(), &name, scope.base_url())
        .ok_or_else(|| ScimError::not_found(format!("no resource type '{name}'")))?;
    Ok(scim_json(StatusCode::OK, &found))
}

/// `GET /Schemas`.
pub(crate) async fn schemas(State(state): State<AppState>, scope: ConnectorScope) -> Response {
    let list = discovery::schemas_list(state.resource_types(), scope.base_url());
    scim_json(StatusCode::OK, &list)
}

/// `GET /Schemas/{id}`; the URN is compared case-insensitively.
pub(crate) async fn schema(
    State(state): State<AppState>,
    scope: ConnectorScope,
    PathId(id): PathId,
) -> Result<Response, Error> {
    let found = discovery::schema_by_id(state.resource_types(), &id, scope.base_url())
        .ok_or_else(|| ScimError::not_found(format!("no schema '{id}'")))?;
    Ok(scim_json(StatusCode::OK, &found))
}
