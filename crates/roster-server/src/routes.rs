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
//! trailing `/` is ignored. The rewrite runs in the layers around the inner router, so
//! [`app`] is still one plain `Router`. Connector ids and resource ids are left as they are.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderName, HeaderValue, Method, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use tower::Service;
use tracing::{Instrument, Span};

use crate::AppState;
use crate::auth::CONNECTOR_PARAM;
use crate::error::{Error, bare_errors, panic_response};
use crate::ops::Ops;
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
    let layers = Layers {
        timeout: state.limits().request_timeout,
        ops: state.ops().clone(),
        router: router(state),
    };
    Router::new().fallback_service(layers)
}

/// The layers around the routes, as one service. One service rather than a stack of
/// `Router::layer`s and `middleware::from_fn`s: each of those boxed the request's future and
/// cloned the boxed service below it, on every request, and the response body was boxed again
/// by each layer that wrapped it.
#[derive(Debug, Clone)]
struct Layers {
    router: Router,
    ops: Ops,
    timeout: Duration,
}

impl Service<Request> for Layers {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let layers = self.clone();
        Box::pin(async move { Ok(layers.serve(req).await) })
    }
}

impl Layers {
    /// One request through every layer, outermost first (see the crate docs).
    async fn serve(self, mut req: Request) -> Response {
        let request_id = set_request_id(&mut req);
        let started = Instant::now();
        let span = request_span(&req, &request_id);
        let mut response = async move {
            let tracked = self.ops.begin(&mut req);
            canonicalize(&mut req);
            let mut router = self.router;
            let answered = catch_panic(time_limit(self.timeout, async move {
                // Routing never fails: unmatched paths have their own fallback.
                let Ok(response) = router.call(req).await;
                bare_errors(response)
            }));
            let response = tracked.finish(answered.await).await;
            log_finished(&response, started.elapsed());
            response
        }
        .instrument(span)
        .await;
        if let Some(id) = request_id {
            response.headers_mut().entry(REQUEST_ID).or_insert(id);
        }
        response
    }
}

/// Gives the request an `x-request-id` when it has none (a UUID); returns the one it has.
fn set_request_id(req: &mut Request) -> Option<HeaderValue> {
    if let Some(id) = req.headers().get(REQUEST_ID) {
        return Some(id.clone());
    }
    let mut buf = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    let id = HeaderValue::from_str(id).ok()?;
    req.headers_mut().insert(REQUEST_ID, id.clone());
    Some(id)
}

/// The line that ends a request, inside its span: status and latency. They are not recorded
/// into the span as well: that printed them twice on the line and formatted them twice per
/// request. Server errors get an `error` line as well, so that they show at any log level.
fn log_finished(response: &Response, latency: Duration) {
    let status = response.status().as_u16();
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(status, latency_ms, "request finished");
    if response.status().is_server_error() {
        tracing::error!(status, latency_ms, "response failed");
    }
}

/// Answers a panic of `inner` (while it is made or polled) with a 500 SCIM error with no
/// detail; the panic is logged.
async fn catch_panic(inner: impl Future<Output = Response>) -> Response {
    let mut inner = pin!(inner);
    poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(polled) => polled,
            Err(panic) => Poll::Ready(panic_response(panic)),
        },
    )
    .await
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
async fn time_limit(limit: Duration, inner: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(limit, inner).await {
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
fn request_span(req: &Request, request_id: &Option<HeaderValue>) -> Span {
    let path = req.uri().path();
    let request_id = request_id
        .as_ref()
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
fn canonicalize(req: &mut Request) {
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
}

/// The canonical spelling of a path, if it differs: no trailing `/`; `scim`, `v2`, the
/// endpoint name after the connector, and `.search` after `Users` / `Groups` in the case the
/// route table uses. A path already canonical (nearly every request) costs no allocation.
fn canonical_path(path: &str) -> Option<String> {
    let trimmed = path.trim_end_matches('/');
    // ["", "scim", "v2", connector, endpoint, id or ".search", …]: only the first six can be
    // respelled, and they are read once.
    let mut head = [""; 6];
    for (slot, segment) in head.iter_mut().zip(trimmed.split('/')) {
        *slot = segment;
    }
    let is_scim = head[1].eq_ignore_ascii_case("scim") && head[2].eq_ignore_ascii_case("v2");
    let endpoint = canonical_endpoint(head[4]);
    // The canonical spelling of segment `i`, where it has one.
    let respell = |i: usize, segment: &str| -> Option<&'static str> {
        match i {
            _ if !is_scim => None,
            1 => Some("scim"),
            2 => Some("v2"),
            4 => endpoint,
            5 if matches!(endpoint, Some("Users" | "Groups"))
                && segment.eq_ignore_ascii_case(".search") =>
            {
                Some(".search")
            }
            _ => None,
        }
    };
    let respelled = head
        .iter()
        .enumerate()
        .any(|(i, s)| respell(i, s).is_some_and(|canonical| canonical != *s));
    if !respelled && (trimmed.len() == path.len() || path == "/") {
        return None;
    }
    let mut canonical = String::with_capacity(path.len());
    for (i, s) in trimmed.split('/').enumerate() {
        if i > 0 {
            canonical.push('/');
        }
        canonical.push_str(respell(i, s).unwrap_or(s));
    }
    if canonical.is_empty() {
        canonical.push('/');
    }
    (canonical != path).then_some(canonical)
}

/// An endpoint name in the route table's spelling, if it is one.
fn canonical_endpoint(name: &str) -> Option<&'static str> {
    ENDPOINTS
        .iter()
        .find(|canonical| canonical.eq_ignore_ascii_case(name))
        .copied()
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
