//! The route table and the layers around it.
//!
//! Every connector is served under `/scim/v2/{connector}` (RFC 7644 §3.2 endpoints):
//!
//! | path | methods |
//! |---|---|
//! | `/Users`, `/Groups` | GET (list), POST (create) |
//! | `/Users/{id}`, `/Groups/{id}` | GET, PUT, PATCH, DELETE |
//! | `/Users/.search`, `/Groups/.search`, `/.search` | POST |
//! | `/Bulk` | POST |
//! | `/ServiceProviderConfig`, `/ResourceTypes`, `/ResourceTypes/{id}`, `/Schemas`, `/Schemas/{id}` | GET |
//! | `/Me` | any: 501 |
//!
//! plus, without authentication, `GET /healthz` → `200 ok`, `GET /readyz` (200 when the store
//! answers, else 503) and `GET /metrics` (Prometheus, unless turned off): see `ops`.
//!
//! Paths are matched leniently before routing, because real clients are not exact: Entra ID
//! and Microsoft's own test suite have called `/users` and `/groups`, so the fixed segments
//! (`scim`, `v2`, the endpoint names and `.search`) are matched case-insensitively, and a
//! trailing `/` is ignored. The rewrite runs in a layer around the inner router, so [`app`]
//! is still one plain `Router`. Connector ids and resource ids are left as they are.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderName, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::AppState;
use crate::auth::CONNECTOR_PARAM;
use crate::error::{Error, bare_errors, panic_response};
use crate::scim::resources::{self, Groups, Users};
use crate::scim::{bulk, discovery, search};

/// The request-id header, set when absent and echoed on the response.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The fixed endpoint names below a connector, in their canonical spelling.
const ENDPOINTS: &[&str] = &[
    "Users",
    "Groups",
    "Bulk",
    "ServiceProviderConfig",
    "ResourceTypes",
    "Schemas",
    "Me",
    ".search",
];

/// The application: the routes inside every layer (see the crate docs for their order).
pub(crate) fn app(state: AppState) -> Router {
    let timeout = state.limits().request_timeout;
    let ops = state.ops().clone();
    Router::new()
        .fallback_service(router(state))
        .layer(middleware::map_request(canonicalize))
        .layer(middleware::map_response(bare_errors))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            time_limit(timeout, req, next)
        }))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            crate::ops::track(ops.clone(), req, next)
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                // Status and latency go on the line that ends the request, inside its span.
                // Not recorded into the span as well: that printed them twice on the line and
                // formatted them twice per request.
                .on_response(|response: &Response, latency: Duration, _span: &Span| {
                    let status = response.status().as_u16();
                    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
                    tracing::info!(status, latency_ms, "request finished");
                }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The routes, without the outer layers.
fn router(state: AppState) -> Router {
    let bulk_limit = state.view().limits().bulk.max_payload_bytes;
    let body_limit = state.limits().max_body_bytes;
    let at = |path: &str| format!("/scim/v2/{{{CONNECTOR_PARAM}}}{path}");
    Router::new()
        .route(
            &at("/Users"),
            get(resources::list::<Users>).post(resources::create::<Users>),
        )
        .route(&at("/Users/.search"), post(search::search::<Users>))
        .route(
            &at("/Users/{id}"),
            get(resources::get::<Users>)
                .put(resources::replace::<Users>)
                .patch(resources::patch::<Users>)
                .delete(resources::delete::<Users>),
        )
        .route(
            &at("/Groups"),
            get(resources::list::<Groups>).post(resources::create::<Groups>),
        )
        .route(&at("/Groups/.search"), post(search::search::<Groups>))
        .route(
            &at("/Groups/{id}"),
            get(resources::get::<Groups>)
                .put(resources::replace::<Groups>)
                .patch(resources::patch::<Groups>)
                .delete(resources::delete::<Groups>),
        )
        .route(&at("/.search"), post(search::root))
        // `/Bulk` takes the `maxPayloadSize` it advertises instead of the general limit.
        .route(
            &at("/Bulk"),
            post(bulk::bulk).layer(DefaultBodyLimit::max(bulk_limit)),
        )
        .route(&at("/ServiceProviderConfig"), get(discovery::config))
        .route(&at("/ResourceTypes"), get(discovery::resource_types))
        .route(&at("/ResourceTypes/{id}"), get(discovery::resource_type))
        .route(&at("/Schemas"), get(discovery::schemas))
        .route(&at("/Schemas/{id}"), get(discovery::schema))
        .route(&at("/Me"), any(resources::me))
        .merge(crate::ops::router(state.ops().options()))
        .nest("/api", crate::api::router())
        .nest("/console", crate::console::router())
        // The server's root is the console's front door.
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/console/") }),
        )
        .fallback(|| async { Error::NotFound })
        // After every route: it is installed on the routes that exist when it is called.
        .method_not_allowed_fallback(
            |method: Method| async move { Error::MethodNotAllowed(method) },
        )
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::map_request(crate::ops::note_route))
        .with_state(state)
}

/// Answers 503 with a SCIM body when a request outlives the timeout. The handler's future is
/// dropped, which rolls back a store transaction it had open.
async fn time_limit(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                "request timed out"
            );
            Error::Timeout(limit).into_response()
        }
    }
}

/// The span of one request. The path is logged without its query string (filters carry user
/// names and e-mail addresses); headers and bodies are never logged, so tokens are not.
fn request_span(req: &Request) -> Span {
    let path = req.uri().path();
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %path,
        connector = %connector_of(path).unwrap_or_default(),
        request_id = %request_id,
    )
}

/// The `{connector}` segment of a SCIM path.
fn connector_of(path: &str) -> Option<&str> {
    crate::ops::split_scim(path).map(|(connector, _)| connector)
}

/// Rewrites the request's path to its canonical spelling before routing.
async fn canonicalize(mut req: Request) -> Request {
    if let Some(path) = canonical_path(req.uri().path()) {
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = PathAndQuery::try_from(path_and_query) {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// The canonical spelling of a path, if it differs: no trailing `/`; `scim`, `v2`, the
/// endpoint name after the connector, and `.search` after `Users` / `Groups` in the case the
/// route table uses.
fn canonical_path(path: &str) -> Option<String> {
    let mut segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    // ["", "scim", "v2", connector, endpoint, id or ".search", …]
    let is_scim = segments.len() >= 3
        && segments[1].eq_ignore_ascii_case("scim")
        && segments[2].eq_ignore_ascii_case("v2");
    if is_scim {
        segments[1] = "scim";
        segments[2] = "v2";
        if let Some(endpoint) = segments.get_mut(4)
            && let Some(canonical) = ENDPOINTS.iter().find(|e| e.eq_ignore_ascii_case(endpoint))
        {
            *endpoint = canonical;
        }
        let has_search = matches!(segments.get(4), Some(&("Users" | "Groups")));
        if has_search
            && let Some(search) = segments.get_mut(5)
            && search.eq_ignore_ascii_case(".search")
        {
            *search = ".search";
        }
    }
    let canonical = segments.join("/");
    let canonical = if canonical.is_empty() {
        "/".to_owned()
    } else {
        canonical
    };
    (canonical != path).then_some(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_are_case_insensitive() {
        for (given, want) in [
            ("/scim/v2/entra/users", "/scim/v2/entra/Users"),
            ("/SCIM/V2/entra/GROUPS/abc", "/scim/v2/entra/Groups/abc"),
            (
                "/scim/v2/entra/users/.SEARCH",
                "/scim/v2/entra/Users/.search",
            ),
            ("/scim/v2/entra/.Search", "/scim/v2/entra/.search"),
            (
                "/scim/v2/entra/serviceproviderconfig",
                "/scim/v2/entra/ServiceProviderConfig",
            ),
            (
                "/scim/v2/entra/schemas/urn:x",
                "/scim/v2/entra/Schemas/urn:x",
            ),
            ("/scim/v2/entra/bulk", "/scim/v2/entra/Bulk"),
            ("/scim/v2/entra/me", "/scim/v2/entra/Me"),
        ] {
            assert_eq!(canonical_path(given).as_deref(), Some(want), "{given}");
        }
    }

    #[test]
    fn ids_and_connectors_are_left_alone() {
        assert_eq!(canonical_path("/scim/v2/entra/Users/AbC"), None);
        assert_eq!(
            canonical_path("/scim/v2/Entra/users").as_deref(),
            Some("/scim/v2/Entra/Users")
        );
        // Only `.search` is special after Users; an id spelled like an endpoint is an id.
        assert_eq!(canonical_path("/scim/v2/entra/Users/groups"), None);
        assert_eq!(canonical_path("/healthz"), None);
        assert_eq!(canonical_path("/other/users"), None);
    }

    #[test]
    fn trailing_slashes_are_dropped() {
        assert_eq!(
            canonical_path("/scim/v2/entra/Users/").as_deref(),
            Some("/scim/v2/entra/Users")
        );
        assert_eq!(
            canonical_path("/scim/v2/entra/users//").as_deref(),
            Some("/scim/v2/entra/Users")
        );
        assert_eq!(canonical_path("/"), None);
        assert_eq!(canonical_path("/healthz/").as_deref(), Some("/healthz"));
    }

    #[test]
    fn the_connector_is_found_for_logs() {
        assert_eq!(connector_of("/scim/v2/entra/Users"), Some("entra"));
        assert_eq!(connector_of("/SCIM/v2/okta"), Some("okta"));
        assert_eq!(connector_of("/scim/v2/"), None);
        assert_eq!(connector_of("/healthz"), None);
    }
}
