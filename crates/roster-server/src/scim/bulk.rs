//! `POST /Bulk` (RFC 7644 §3.7).
//!
//! The body is limited to the `maxPayloadSize` advertised in `/ServiceProviderConfig` and
//! checked before it is parsed (413 with a SCIM body, §3.7.4); `maxOperations` and
//! `failOnErrors` are enforced by the IdP view, which runs the operations in `bulkId`
//! dependency order. The answer is 200 with a BulkResponse whatever the operations' own
//! statuses (§3.7.3).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use crate::AppState;
use crate::auth::ConnectorScope;
use crate::error::{Error, scim_json};
use crate::extract::BulkJson;

/// `POST /Bulk`.
pub(crate) async fn bulk(
    State(state): State<AppState>,
    scope: ConnectorScope,
    BulkJson(body): BulkJson,
) -> Result<Response, Error> {
    let response = state.view().bulk(&scope.endpoint(), &body).await?;
    Ok(scim_json(StatusCode::OK, &response))
}
