//! The admin API and the application API under `/api/v1/`, and their OpenAPI document at
//! `/api/openapi.json`. JSON in and out; errors are `{"status": 404, "error": "…"}`.
//!
//! | module | paths under `/api/v1` | who |
//! |---|---|---|
//! | `connectors` | `/connectors`, `/connectors/{id}` (+ `/enable`, `/disable`), `/connectors/{id}/tokens[/{token_id}]` | admin |
//! | `sync` | `/connectors/{id}/settings[/template]`, `/preview`, `/apply`, `/mapping-test`, `/results` | admin |
//! | `logs` | `/connectors/{id}/request-log[/{seq}]` | admin |
//! | `directory` | `/directories`, `/directories/order`, `/users[/{username}]`, `/groups`, `/groups/{group_id}/members[/{username}]`, `/audit` | admin |
//! | `tokens` | `/api-tokens[/{id}]` | admin |
//! | `app` | `/directory/users[/{username}]`, `/directory/groups[/{name}/members]`, `/changes` | app |
//!
//! "admin" is an admin token or a console session (whose changes carry its CSRF token in
//! `x-csrf-token`); "app" is also an application token (see [`crate::admin_auth`]). The rest:
//! `error` (the one error and the store-error table), `extract` (bodies, queries, paging),
//! `model` (the JSON shapes), `openapi` (the document).
//!
//! Handlers are thin: extract, call the store (or the mapping tester), map. Every write takes
//! a `WriteContext` with the caller as actor and the request's `x-request-id`.
//!
//! Listings page with `limit` (default 100, at most 1000; anything else is a 400) and an
//! opaque cursor: pass a page's `next` as the next request's `after`. The request log pages
//! backwards (`next_before`), the audit log and the change feed by sequence number
//! (`next_since`, `next_after`). Request bodies are JSON (`application/json` or none); an
//! empty body reads as `{}`.

mod app;
mod connectors;
mod directory;
mod error;
mod extract;
mod logs;
mod model;
mod openapi;
mod sync;
mod tokens;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, delete, get, post, put};
use roster_core::store::WriteContext;

use crate::AppState;
use crate::admin_auth::Principal;
use error::ApiError;
use extract::RequestId;

/// Every route, relative to `/api`: the router is built from this table and the OpenAPI
/// test walks it, so a route cannot be served without being documented.
fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/openapi.json", get(openapi::document)),
        (
            "/v1/connectors",
            get(connectors::list).post(connectors::create),
        ),
        (
            "/v1/connectors/{id}",
            get(connectors::get).delete(connectors::delete),
        ),
        ("/v1/connectors/{id}/enable", post(connectors::enable)),
        ("/v1/connectors/{id}/disable", post(connectors::disable)),
        (
            "/v1/connectors/{id}/tokens",
            get(connectors::tokens).post(connectors::add_token),
        ),
        (
            "/v1/connectors/{id}/tokens/{token_id}",
            delete(connectors::revoke_token),
        ),
        (
            "/v1/connectors/{id}/settings",
            get(sync::get_settings).put(sync::put_settings),
        ),
        ("/v1/connectors/{id}/settings/template", get(sync::template)),
        ("/v1/connectors/{id}/preview", post(sync::preview)),
        ("/v1/connectors/{id}/apply", post(sync::apply)),
        ("/v1/connectors/{id}/mapping-test", post(sync::mapping_test)),
        ("/v1/connectors/{id}/results", get(sync::results)),
        ("/v1/connectors/{id}/request-log", get(logs::list)),
        ("/v1/connectors/{id}/request-log/{seq}", get(logs::entry)),
        ("/v1/directories", get(directory::directories)),
        ("/v1/directories/order", put(directory::order)),
        (
            "/v1/users",
            get(directory::users).post(directory::create_user),
        ),
        ("/v1/users/{username}", get(directory::user)),
        (
            "/v1/groups",
            get(directory::groups).post(directory::create_group),
        ),
        ("/v1/groups/{group_id}/members", post(directory::add_member)),
        (
            "/v1/groups/{group_id}/members/{username}",
            delete(directory::remove_member),
        ),
        ("/v1/audit", get(directory::audit)),
        ("/v1/api-tokens", get(tokens::list).post(tokens::create)),
        ("/v1/api-tokens/{id}", delete(tokens::revoke)),
        ("/v1/directory/users", get(app::users)),
        ("/v1/directory/users/{username}", get(app::user)),
        ("/v1/directory/groups", get(app::groups)),
        ("/v1/directory/groups/{name}/members", get(app::members)),
        ("/v1/changes", get(app::changes)),
    ]
}

/// The `/api` routes.
pub(crate) fn router() -> Router<AppState> {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
        // JSON, like every other answer of the API (the SCIM fallbacks outside would answer
        // with SCIM error bodies).
        .fallback(|| async { ApiError::not_found("no API endpoint at this path") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "this endpoint does not support this method",
            )
        })
        .layer(axum::middleware::map_response(no_store))
}

/// `Cache-Control: no-store` on every answer that did not choose otherwise: answers carry
/// new tokens (shown once), users' personal data and request logs, none of which may sit in
/// a shared or disk cache (RFC 6749 §5.1 asks the same of token answers).
async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The context of a write made by `caller` for this request.
fn write_context(state: &AppState, caller: &Principal, request_id: RequestId) -> WriteContext {
    let ctx = WriteContext::new(state.clock().now(), caller.actor());
    match request_id.0 {
        Some(id) => ctx.with_request_id(id),
        None => ctx,
    }
}

#[cfg(test)]
mod tests;
