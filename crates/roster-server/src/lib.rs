//! # roster-server — Roster over HTTP
//!
//! The axum application that serves every connector's SCIM 2.0 endpoints (RFC 7644) under
//! `/scim/v2/{connector}`. It is a library: [`app`] builds the complete [`axum::Router`] (every
//! layer included), so the binary can hand it to `axum::serve` or to `axum_server` for TLS,
//! and [`serve`] runs it on a listener until a shutdown signal, letting requests in flight
//! finish. Tests bind `127.0.0.1:0` and talk real HTTP to it.
//!
//! | module | what |
//! |---|---|
//! | `routes` | the route table, and the case-insensitive, trailing-slash-tolerant path rewrite |
//! | `scim` | the SCIM handlers: resources, search, bulk, discovery (RFC 7644 §3, §4) |
//! | `auth` | the per-connector bearer-token extractor (RFC 6750) |
//! | `extract` | the SCIM JSON body (content types, size limits) and query-string pairs |
//! | `error` | the one error type and its mapping to RFC 7644 §3.12 bodies |
//! | `ops` | `/healthz`, `/readyz`, `/metrics`, and the SCIM request log |
//!
//! Handlers are thin: they extract, call one [`roster_core::IdpView`] method and map the
//! result. Everything that is SCIM lives in the `scim` crate, everything that is policy or
//! storage in `roster-core` and the stores.
//!
//! ## Layers, outermost first
//!
//! 1. `x-request-id`: kept when the client sent one, a UUID otherwise, and echoed back;
//! 2. a `tracing` span per request (method, path without query, connector, request id), ended
//!    by one `info` line with the status and latency; tokens, query strings and bodies are
//!    never logged;
//! 3. metrics and the SCIM request log (`ops`): outside everything below, so they see the final
//!    status of every request, 401s, 413s, timeouts and panics included;
//! 4. panics become a 500 SCIM error with no detail (the panic is logged);
//! 5. the request timeout, answered with a 503 SCIM error;
//! 6. any bare 4xx/5xx left by the framework becomes a SCIM error body;
//! 7. the path rewrite, then routing (each route notes its template for the metrics).

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ::scim::schema::ResourceSchema;
use roster_core::admin::KdfStrength;
use roster_core::{Authenticator, Clock, IdpView, Store};

mod admin_auth;
mod api;
mod auth;
mod console;
mod error;
mod extract;
mod ops;
mod routes;
mod scim;

/// The HTTP-level limits: what the server accepts before any SCIM processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The largest request body, in bytes, on every route but `/Bulk` (which takes the bulk
    /// `maxPayloadSize` it advertises). Larger bodies get 413.
    pub max_body_bytes: usize,
    /// How long one request may take, body included, before it is answered with 503.
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    /// 1 MiB bodies (a PATCH adding hundreds of members fits many times over) and 30 seconds
    /// (below Okta's 60-second socket timeout, so Okta sees our error rather than its own).
    fn default() -> Self {
        Self {
            max_body_bytes: 1_048_576,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// How administrators are let in: the console's sessions and logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminOptions {
    /// The cost of password hashes made through the console or the API.
    pub kdf: KdfStrength,
    /// Whether session cookies carry `Secure` (only sent over HTTPS). [`AppState::new`]
    /// sets it when the public URL is `https://`.
    pub secure_cookies: bool,
    /// How long a console session lasts, whatever happens in it.
    pub session_lifetime: Duration,
    /// Failed logins allowed per minute, per client address and per username.
    pub login_attempts_per_minute: u32,
}

impl Default for AdminOptions {
    /// Full-strength hashes, `Secure` cookies, 12-hour sessions, 10 attempts a minute.
    fn default() -> Self {
        Self {
            kdf: KdfStrength::Default,
            secure_cookies: true,
            session_lifetime: Duration::from_secs(12 * 3600),
            login_attempts_per_minute: 10,
        }
    }
}

/// Operations: Prometheus metrics and the SCIM request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpsOptions {
    /// Whether `/metrics` is served (unauthenticated, like `/healthz`) and request metrics
    /// are recorded. Turn it off where the port is reachable by people who should not see
    /// connector ids and traffic figures.
    pub metrics: bool,
    /// How many days SCIM request-log entries are kept (pruned hourly); 0 turns the request
    /// log off.
    pub request_log_days: u32,
}

impl Default for OpsOptions {
    /// Metrics on, two weeks of request log.
    fn default() -> Self {
        Self {
            metrics: true,
            request_log_days: 14,
        }
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    view: IdpView,
    authenticator: Arc<Authenticator>,
    public_url: String,
    limits: HttpLimits,
    admin: AdminOptions,
    /// Metrics and the request log's sink.
    ops: ops::Ops,
    /// The resource types served, for the discovery endpoints: the very schemas the IdP
    /// view validates and projects with, so `/Schemas` cannot drift from behaviour.
    resource_types: Vec<ResourceSchema>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see [`AppState::client_ip`]).
    trusted_proxies: Arc<[IpAddr]>,
}

impl AppState {
    /// The state of a server whose SCIM service is `view`, whose tokens are checked by
    /// `authenticator`, and which is reached at `public_url` (`https://roster.example`, a
    /// trailing `/` is ignored): connector base URLs, `Location` headers and `meta.location`
    /// are `{public_url}/scim/v2/{connector}/…`.
    pub fn new(
        view: IdpView,
        authenticator: Arc<Authenticator>,
        public_url: impl Into<String>,
        limits: HttpLimits,
    ) -> Self {
        let public_url = public_url.into().trim_end_matches('/').to_owned();
        let admin = AdminOptions {
            secure_cookies: public_url.starts_with("https://"),
            ..AdminOptions::default()
        };
        let ops = ops::Ops::new(
            view.store().clone(),
            view.clock().clone(),
            OpsOptions::default(),
        );
        let resource_types = [
            roster_core::store::ResourceKind::User,
            roster_core::store::ResourceKind::Group,
        ]
        .iter()
        .map(|k| k.schema().clone())
        .collect();
        Self {
            inner: Arc::new(Inner {
                view,
                authenticator,
                public_url,
                limits,
                admin,
                ops,
                resource_types,
                trusted_proxies: Arc::from([]),
            }),
        }
    }

    /// The same state with other admin options (tests use [`KdfStrength::Fast`]).
    #[must_use]
    pub fn with_admin_options(self, admin: AdminOptions) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.admin = admin;
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The admin options.
    #[must_use]
    pub fn admin_options(&self) -> AdminOptions {
        self.inner.admin
    }

    /// The same state, believing `X-Forwarded-For` from these reverse proxies. Behind a proxy
    /// every request comes from the proxy's address: without this, the console's per-address
    /// login limit would be one limit for everybody, which anyone could use to lock every
    /// administrator out.
    #[must_use]
    pub fn with_trusted_proxies(self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.trusted_proxies = proxies.into_iter().collect();
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy, in which case
    /// the right-most address of `X-Forwarded-For` that is not itself a trusted proxy (each
    /// proxy appends the address it received the request from, so entries further left were
    /// written by the client and cannot be believed). A malformed header is not believed.
    pub(crate) fn client_ip(
        &self,
        peer: Option<IpAddr>,
        headers: &axum::http::HeaderMap,
    ) -> Option<IpAddr> {
        Some(forwarded_client(
            &self.inner.trusted_proxies,
            peer?,
            headers,
        ))
    }

    /// The same state with other operations options. Call it before serving: it replaces the
    /// request log's queue.
    #[must_use]
    pub fn with_ops_options(self, options: OpsOptions) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.ops = ops::Ops::new(
            inner.view.store().clone(),
            inner.view.clock().clone(),
            options,
        );
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The operations options.
    #[must_use]
    pub fn ops_options(&self) -> OpsOptions {
        self.inner.ops.options()
    }

    /// Writes what the SCIM request log still holds, waiting up to ten seconds. Call it once
    /// the server has stopped; [`serve`] does.
    pub async fn flush(&self) {
        self.inner.ops.flush().await;
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        self.inner.view.store()
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.inner.view.clock()
    }

    pub(crate) fn ops(&self) -> &ops::Ops {
        &self.inner.ops
    }

    /// The SCIM service.
    #[must_use]
    pub fn view(&self) -> &IdpView {
        &self.inner.view
    }

    /// The bearer-token checker.
    #[must_use]
    pub fn authenticator(&self) -> &Authenticator {
        &self.inner.authenticator
    }

    /// The public URL, without a trailing `/`.
    #[must_use]
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// The HTTP limits.
    #[must_use]
    pub fn limits(&self) -> HttpLimits {
        self.inner.limits
    }

    /// A connector's SCIM base URL: `{public_url}/scim/v2/{connector_id}`.
    #[must_use]
    pub fn base_url(&self, connector_id: &str) -> String {
        format!("{}/scim/v2/{connector_id}", self.inner.public_url)
    }

    pub(crate) fn resource_types(&self) -> &[ResourceSchema] {
        &self.inner.resource_types
    }
}

/// The client behind `peer` (see [`AppState::client_ip`]).
fn forwarded_client(trusted: &[IpAddr], peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<Vec<_>>>();
    let Some(hops) = hops else {
        return peer;
    };
    let mut client = peer;
    for hop in hops.iter().rev().flat_map(|v| v.rsplit(',')) {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    client
}

/// The complete application: every route and every layer.
///
/// Serve it with `axum::serve(listener, app(state))`, or with `axum_server` for TLS
/// (`app(state).into_make_service()`).
pub fn app(state: AppState) -> axum::Router {
    routes::app(state)
}

/// Serves [`app`] on `listener` until `shutdown` completes, then stops accepting connections
/// and returns once the requests in flight have been answered and the request log written
/// ([`AppState::flush`]).
///
/// Each request carries its client's address (`ConnectInfo<SocketAddr>`): the console limits
/// login attempts per address with it. Serve `app(state)
/// .into_make_service_with_connect_info::<SocketAddr>()` likewise when not using this function.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let after = state.clone();
    let served = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    after.flush().await;
    served
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use axum::http::HeaderMap;

    use super::forwarded_client;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let proxy = ip("10.0.0.1");
        let trusted = [proxy, ip("10.0.0.2")];
        let h = forwarded(&["198.51.100.7"]);
        // Not from a trusted proxy: the header is the client's word, and not believed.
        assert_eq!(forwarded_client(&[], proxy, &h), proxy);
        assert_eq!(
            forwarded_client(&trusted, ip("192.0.2.9"), &h),
            ip("192.0.2.9")
        );
        // From the proxy: the address it received the request from.
        assert_eq!(forwarded_client(&trusted, proxy, &h), ip("198.51.100.7"));
        // A client's own entries are further left and ignored; trusted hops are skipped.
        let h = forwarded(&["1.1.1.1, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(forwarded_client(&trusted, proxy, &h), ip("198.51.100.7"));
        // No header, or a malformed one: the last address known for sure.
        assert_eq!(forwarded_client(&trusted, proxy, &HeaderMap::new()), proxy);
        let h = forwarded(&["not an address, 10.0.0.2"]);
        assert_eq!(forwarded_client(&trusted, proxy, &h), ip("10.0.0.2"));
    }
}
