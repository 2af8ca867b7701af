//! `POST /.search`, `POST /Users/.search`, `POST /Groups/.search` (RFC 7644 §3.4.3): a
//! SearchRequest body, answered like the equivalent `GET` with a query string.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::resources::Kind;
use crate::AppState;
use crate::auth::ConnectorScope;
use crate::error::{Error, scim_json};
use crate::extract::ScimJson;

/// `POST /Users/.search`, `POST /Groups/.search`.
pub(crate) async fn search<K: Kind>(
    State(state): State<AppState>,
    scope: ConnectorScope,
    ScimJson(body): ScimJson,
) -> Result<Response, Error> {
    let list = state
        .view()
        .search(&scope.endpoint(), Some(K::KIND), &body)
        .await?;
    Ok(scim_json(StatusCode::OK, &list))
}

/// `POST /.search`: users and groups in one list.
pub(crate) async fn root(
    State(state): State<AppState>,
    scope: ConnectorScope,
    ScimJson(body): ScimJson,
) -> Result<Response, Error> {
    let list = state.view().search(&scope.endpoint(), None, &body).await?;
    Ok(scim_json(StatusCode::OK, &list))
}
