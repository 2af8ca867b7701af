//! `/Users` and `/Groups` (RFC 7644 §3.3–§3.6), and `/Me` (§3.11).
//!
//! | request | answer |
//! |---|---|
//! | `POST /Users` | 201, the resource, `Location`, `ETag` |
//! | `GET /Users` | 200, a ListResponse (a filter that matches nothing is an empty list, never 404) |
//! | `GET /Users/{id}` | 200 with `ETag`; 304 if `If-None-Match` names its version; 404 |
//! | `PUT /Users/{id}` | 200, the resource, `ETag`; 412 if `If-Match` names another version |
//! | `PATCH /Users/{id}` | 200, the resource, `ETag` |
//! | `PATCH /Groups/{id}` | 204 with `ETag`; 200 with the resource when `attributes` / `excludedAttributes` ask for one |
//! | `DELETE /Users/{id}` | 204; then GET and DELETE are 404 |
//! | `/Me` | 501: there is no authenticated *user*, only a connector |
//!
//! Why a group PATCH answers 204: Entra ID recommends it ("returning a body with a list of all
//! the members isn't advisable"), and reading back a large member list is exactly what a
//! member PATCH must not cost. Users are answered with the full resource, as Microsoft's and
//! Okta's samples expect. A client that wants the group back asks with `attributes` /
//! `excludedAttributes` (RFC 7644 §3.9) and gets 200 with that projection.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::idp_view::none_match;
use roster_core::store::ResourceKind;
use scim::ScimError;

use super::{bodiless, resource};
use crate::AppState;
use crate::auth::ConnectorScope;
use crate::error::{Error, scim_json};
use crate::extract::{PathId, Preconditions, QueryPairs, ScimJson};

/// A resource type served at its own endpoint, as a type so one handler serves both.
pub(crate) trait Kind: Send + Sync + 'static {
    /// Which one.
    const KIND: ResourceKind;
}

/// `/Users`.
#[derive(Debug)]
pub(crate) enum Users {}

impl Kind for Users {
    const KIND: ResourceKind = ResourceKind::User;
}

/// `/Groups`.
#[derive(Debug)]
pub(crate) enum Groups {}

impl Kind for Groups {
    const KIND: ResourceKind = ResourceKind::Group;
}

/// `POST /Users`, `POST /Groups` (RFC 7644 §3.3).
pub(crate) async fn create<K: Kind>(
    State(state): State<AppState>,
    scope: ConnectorScope,
    query: QueryPairs,
    ScimJson(body): ScimJson,
) -> Result<Response, Error> {
    let projection = query.projection()?;
    let r = state
        .view()
        .create(&scope.endpoint(), K::KIND, body, &projection)
        .await?;
    Ok(resource(StatusCode::CREATED, &r))
}

/// `GET /Users`, `GET /Groups` (RFC 7644 §3.4.2).
pub(crate) async fn list<K: Kind>(
    State(state): State<AppState>,
    scope: ConnectorScope,
    query: QueryPairs,
) -> Result<Response, Error> {
    let query = query.list_query(&state.view().limits().query)?;
    let list = state
        .view()
        .list(&scope.endpoint(), K::KIND, &query)
        .await?;
    Ok(scim_json(StatusCode::OK, &list))
}

/// `GET /Users/{id}`, `GET /Groups/{id}` (RFC 7644 §3.4.1, §3.14).
pub(crate) async fn get<K: Kind>(
    State(state): State<AppState>,
    scope: ConnectorScope,
    PathId(id): PathId,
    query: QueryPairs,
    preconditions: Preconditions,
) -> Result<Response, Error> {
    let projection = query.projection()?;
    let r = state
        .view()
        .get(&scope.endpoint(), K::KIND, &id, &projection)
        .await?;
    if let Some(tags) = &preconditions.if_none_match
        && none_match(tags, r.version)
    {
        return Ok(bodiless(StatusCode::NOT_MODIFIED, &r));
    }
    Ok(resource(StatusCode::OK, &r))
}

/// `PUT /Users/{id}`, `PUT /Groups/{id}` (RFC 7644 §3.5.1).
pub(crate) async fn replace<K: Kind>(
    State(state): State<AppState>,
    scope: ConnectorScope,
    PathId(id): PathId,
    query: QueryPairs,
    preconditions: Preconditions,
    ScimJson(body): ScimJson,
) -> Result<Response, Error> {
    let projection = query.projection()?;
    let r = state
        .view()
        .replace(
            &scope.endpoint(),
            K::KIND,
            &id,
            body,
            preconditions.if_match.as_deref(),
            &projection,
        )
        .await?;
    Ok(resource(StatusCode::OK, &r))
}

/// `PATCH /Users/{id}`, `PATCH /Groups/{id}` (RFC 7644 §3.5.2); see the module docs for 200
/// versus 204.
pub(crate) async fn patch<K: Kind>(
    State(state): State<AppState>,
    scope: ConnectorScope,
    PathId(id): PathId,
    query: QueryPairs,
    preconditions: Preconditions,
    ScimJson(body): ScimJson,
) -> Result<Response, Error> {
    let projection = query.projection()?;
    let r = state
        .view()
        .patch(
            &scope.endpoint(),
            K::KIND,
            &id,
            body,
            preconditions.if_match.as_deref(),
            &projection,
        )
        .await?;
    if K::KIND == ResourceKind::Group && projection.is_default() {
        return Ok(bodiless(StatusCode::NO_CONTENT, &r));
    }
    Ok(resource(StatusCode::OK, &r))
}

/// `DELETE /Users/{id}`, `DELETE /Groups/{id}` (RFC 7644 §3.6).
pub(crate) async fn delete<K: Kind>(
    State(state): State<AppState>,
    scope: ConnectorScope,
    PathId(id): PathId,
    preconditions: Preconditions,
) -> Result<StatusCode, Error> {
    state
        .view()
        .delete(
            &scope.endpoint(),
            K::KIND,
            &id,
            preconditions.if_match.as_deref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `/Me` (RFC 7644 §3.11), any method: 501. The caller is a connector's token, not a user,
/// so there is no "me" to alias. Authenticated first, like every connector endpoint.
pub(crate) async fn me(_scope: ConnectorScope) -> Error {
    Error::Scim(ScimError::new(
        501,
        None,
        "/Me is not supported: requests are authenticated as a connector, not as a user",
    ))
}
