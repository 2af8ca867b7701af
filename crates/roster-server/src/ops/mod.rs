//! Operations: `/healthz`, `/readyz`, `/metrics`, and the SCIM request log.
//!
//! | module | what |
//! |---|---|
//! | `prometheus` | the process-wide recorder, the request metrics, the sync-outcome counters |
//! | `request_log` | one entry per SCIM request, and the task that writes them in batches |
//!
//! - `GET /healthz` is liveness: `200 ok` without touching the store.
//! - `GET /readyz` is readiness: `200 ready` when the store answers a cheap read within
//!   [`READY_TIMEOUT`], else `503` with a plain reason (the cause is logged, not served).
//! - `GET /metrics` is Prometheus' text format, unauthenticated (Prometheus usually scrapes
//!   without credentials), and off when [`OpsOptions::metrics`] is false. It carries route
//!   templates, methods, statuses and connector ids, never a path, a filter or a user.
//!
//! All of it keeps off the SCIM hot path. A request costs a few counter updates and, on SCIM
//! paths, one entry offered to a bounded queue: when the queue is full the entry is dropped
//! and counted, the request never waits. The store is written by one background task, in
//! batches, never on a request's path: a SQLite SCIM server (pranems/SCIMServer) failed Entra's
//! validator because its request-log writes contended with group PATCHes for the write lock.
//!
//! The task starts with the first request rather than in [`Ops::new`], because the state may
//! be built outside a runtime; it ends when the last [`Ops`] is dropped, after writing what
//! it holds. [`Ops::flush`] waits for what is queued to be written: `serve` calls it once the
//! server has stopped.

mod prometheus;
mod request_log;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use roster_core::{Clock, Store};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::{AppState, OpsOptions};

/// How long `/readyz` waits for the store.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// How long [`Ops::flush`] waits for the request log's last batch.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Metrics and the request log's sink, shared by every request. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Ops {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    options: OpsOptions,
    /// The process's recorder, when metrics are on.
    prometheus: Option<PrometheusHandle>,
    /// The request metrics' handles, by label set.
    requests: prometheus::RequestMetrics,
    /// The connectors whose ids may be metric labels.
    known: Arc<KnownConnectors>,
    /// The sync-outcome counters read from the store, and what of them is final.
    sync: prometheus::SyncTotals,
    /// The request log's queue: entries in, the task out.
    tx: mpsc::Sender<request_log::Message>,
    /// The queue's other end, until the task takes it.
    rx: Mutex<Option<mpsc::Receiver<request_log::Message>>>,
    /// Set once the task is spawned.
    started: OnceLock<()>,
    /// Entries dropped since the task last reported it (it logs one line, not one per entry).
    dropped: Arc<AtomicU64>,
    /// Bytes of bodies waiting to be written (see [`request_log::BODY_BUDGET`]).
    queued_bodies: Arc<AtomicUsize>,
    /// Wakes the task while a batch gathers (see [`request_log::should_wake`]).
    wake: Arc<Notify>,
}

impl Ops {
    /// The operations side of a server over `store`. Spawns nothing yet (see the module docs).
    pub(crate) fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, options: OpsOptions) -> Self {
        let (tx, rx) = mpsc::channel(request_log::QUEUE);
        Self {
            inner: Arc::new(Shared {
                store,
                clock,
                options,
                prometheus: options.metrics.then(prometheus::handle),
                requests: prometheus::RequestMetrics::default(),
                known: Arc::default(),
                sync: prometheus::SyncTotals::default(),
                tx,
                rx: Mutex::new(Some(rx)),
                started: OnceLock::new(),
                dropped: Arc::default(),
                queued_bodies: Arc::default(),
                wake: Arc::default(),
            }),
        }
    }

    /// The options it was built with.
    pub(crate) fn options(&self) -> OpsOptions {
        self.inner.options
    }

    /// Spawns the background task on the current runtime, once.
    fn start(&self) {
        let shared = &self.inner;
        if shared.started.get().is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        shared.started.get_or_init(|| {
            let rx = shared
                .rx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(rx) = rx {
                let task = request_log::Task {
                    store: shared.store.clone(),
                    clock: shared.clock.clone(),
                    retention_days: shared.options.request_log_days,
                    known: shared.known.clone(),
                    prometheus: shared.prometheus.clone(),
                    dropped: shared.dropped.clone(),
                    queued_bodies: shared.queued_bodies.clone(),
                    wake: shared.wake.clone(),
                };
                runtime.spawn(task.run(rx));
            }
        });
    }

    /// Offers an entry to the request log's queue; drops and counts it when the queue is
    /// full, so that a slow store never slows a request down.
    ///
    /// The bodies of waiting entries are held to [`request_log::BODY_BUDGET`] bytes in all:
    /// past it, an entry is still logged but its bodies are replaced by a note, so a flood of
    /// failing requests cannot fill memory with copies of their bodies.
    fn log(&self, mut entry: roster_core::admin::NewRequestLog) {
        let queued = &self.inner.queued_bodies;
        let mut bytes = request_log::body_bytes(&entry);
        if bytes > 0 {
            if queued.load(Ordering::Relaxed) + bytes > request_log::BODY_BUDGET {
                request_log::drop_bodies(&mut entry);
                bytes = request_log::body_bytes(&entry);
            }
            queued.fetch_add(bytes, Ordering::Relaxed);
        }
        let tx = &self.inner.tx;
        match tx.try_send(request_log::Message::Entry(entry)) {
            Ok(()) => {
                if request_log::should_wake(tx.max_capacity() - tx.capacity()) {
                    self.inner.wake.notify_one();
                }
            }
            Err(e) => {
                queued.fetch_sub(bytes, Ordering::Relaxed);
                let reason = match e {
                    mpsc::error::TrySendError::Full(_) => "queue_full",
                    mpsc::error::TrySendError::Closed(_) => "stopped",
                };
                prometheus::count_dropped(reason, 1);
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits until the request log's queued entries are written (or [`FLUSH_TIMEOUT`] passes).
    pub(crate) async fn flush(&self) {
        if self.inner.started.get().is_none() {
            return;
        }
        let (done, written) = oneshot::channel();
        let flushed = tokio::time::timeout(FLUSH_TIMEOUT, async {
            self.inner
                .tx
                .send(request_log::Message::Flush(done))
                .await
                .ok()?;
            self.inner.wake.notify_one();
            written.await.ok()
        })
        .await;
        if !matches!(flushed, Ok(Some(()))) {
            tracing::warn!("the request log's last entries could not be written before shutdown");
        }
    }

    /// The label a request's connector gets in metrics: its id, if that connector exists.
    ///
    /// Labels are held in memory for the life of the process, and anyone can send requests to
    /// `/scim/v2/<anything>` (they get 401 or 404, but they would still mint a series each).
    /// So an id becomes a label only if it is a connector: one the store listed (refreshed
    /// every minute and at each scrape), or the one a request was just authenticated for
    /// (`authenticated`, noted by the SCIM authentication in the request's [`Noted`]: the
    /// id as the connector knows it, not the path segment as sent, which a client may spell
    /// with percent-escapes). Other requests are counted with an empty connector label.
    fn connector_label<'a>(
        &self,
        connector: &'a str,
        authenticated: Option<&'a String>,
    ) -> &'a str {
        let known = &self.inner.known;
        if let Some(id) = authenticated {
            if !known.contains(id) {
                known.insert(id);
            }
            id
        } else if known.contains(connector) {
            connector
        } else {
            ""
        }
    }
}

/// The connector ids that may be metric labels (see [`Ops::connector_label`]).
#[derive(Debug, Default)]
pub(crate) struct KnownConnectors(RwLock<HashSet<String>>);

impl KnownConnectors {
    fn contains(&self, id: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    fn insert(&self, id: &str) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned());
    }

    /// Replaces the set with the store's list (connectors deleted since drop out).
    fn replace(&self, ids: HashSet<String>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = ids;
    }
}

/// The operations routes: `/healthz`, `/readyz`, and `/metrics` when metrics are on.
pub(crate) fn router(options: OpsOptions) -> Router<AppState> {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if options.metrics {
        router.route("/metrics", get(metrics))
    } else {
        router
    }
}

/// Ready when the store answers a cheap read in time. The reason served is generic: a store
/// error can name files and hosts, so it goes to the log.
async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(READY_TIMEOUT, state.store().connectors()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the store failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the store failed to answer",
            )
                .into_response()
        }
        Err(_) => {
            tracing::warn!("not ready: the store did not answer in time");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "not ready: the store did not answer within {} seconds",
                    READY_TIMEOUT.as_secs()
                ),
            )
                .into_response()
        }
    }
}

/// The Prometheus exposition: the recorder's metrics, then the sync outcomes read from the
/// store. A store failure leaves the sync outcomes out (and is logged) rather than failing the
/// scrape: `/readyz` is what reports the store.
async fn metrics(State(state): State<AppState>) -> Response {
    let ops = state.ops();
    let mut text = ops
        .inner
        .prometheus
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    let now = ops.inner.clock.now();
    match ops
        .inner
        .sync
        .read(ops.inner.store.as_ref(), now, &ops.inner.known)
        .await
    {
        Ok(totals) => prometheus::render_sync(&mut text, &totals),
        Err(e) => tracing::warn!(error = %e, "could not read the sync outcomes for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// What the inner layers note about a request for [`Tracked::finish`], which runs outside
/// the router and so never sees its extensions: the route template the router matched
/// ([`note_route`]) and the connector the SCIM authentication let the request in for
/// ([`note_authenticated`]; only an authenticated connector's id may become a new metric
/// label). A slot in the request rather than an extension of the response, because responses
/// made outside the router (timeouts, panics) would not carry it. One shared allocation per
/// request for both.
#[derive(Debug, Clone, Default)]
pub(crate) struct Noted(Arc<NotedInner>);

#[derive(Debug, Default)]
struct NotedInner {
    route: OnceLock<MatchedPath>,
    authenticated: OnceLock<String>,
}

/// The SCIM authentication's half of [`Noted`]: the request was let in for `connector`.
pub(crate) fn note_authenticated(extensions: &axum::http::Extensions, connector: &str) {
    if let Some(noted) = extensions.get::<Noted>() {
        let _ = noted.0.authenticated.set(connector.to_owned());
    }
}

/// The router's half of [`Noted`]: a layer on every route.
pub(crate) async fn note_route(req: Request) -> Request {
    if let (Some(noted), Some(path)) = (
        req.extensions().get::<Noted>(),
        req.extensions().get::<MatchedPath>(),
    ) {
        let _ = noted.0.route.set(path.clone());
    }
    req
}

/// A request being measured and, on SCIM paths, logged: begun by [`Ops::begin`] before the
/// request goes in, ended by [`Tracked::finish`] with its response. The layers call it inside
/// the request-id and trace layers (so the request id is set) and outside everything that can
/// answer on its own (panics, timeouts, bare framework errors, routing), so it sees the final
/// status.
#[derive(Debug)]
pub(crate) struct Tracked {
    ops: Ops,
    started: Instant,
    noted: Noted,
    method: &'static str,
    /// The `{connector}` segment of a SCIM path, as sent.
    connector: Option<String>,
    pending: Option<request_log::Pending>,
}

impl Ops {
    /// Starts tracking `req`: notes its method, connector and start, and begins its
    /// request-log entry (keeping a copy of its body as the handler reads it).
    pub(crate) fn begin(&self, req: &mut Request) -> Tracked {
        self.start();
        let started = Instant::now();
        let noted = Noted::default();
        req.extensions_mut().insert(noted.clone());
        let method = method_label(req.method());
        let scim = split_scim(req.uri().path());
        let connector = scim.map(|(connector, _)| connector.to_owned());
        let mut pending = match (scim, &connector) {
            (Some((_, below)), Some(connector)) if self.inner.options.request_log_days > 0 => Some(
                request_log::Pending::new(req, connector.clone(), below, self.inner.clock.now()),
            ),
            _ => None,
        };
        if let Some(pending) = &mut pending {
            pending.keep_body(req);
        }
        Tracked {
            ops: self.clone(),
            started,
            noted,
            method,
            connector,
            pending,
        }
    }
}

impl Tracked {
    /// Counts the request and offers its log entry; hands back the response (identical: an
    /// error body read for the log is put back).
    pub(crate) async fn finish(self, response: Response) -> Response {
        let ops = &self.ops;
        let elapsed = self.started.elapsed();
        let status = response.status().as_u16();
        let authenticated = self.noted.0.authenticated.get();

        if ops.inner.prometheus.is_some() {
            let connector = self
                .connector
                .as_deref()
                .map(|c| ops.connector_label(c, authenticated))
                .unwrap_or_default();
            let route = self
                .noted
                .0
                .route
                .get()
                .map_or("unmatched", MatchedPath::as_str);
            ops.inner
                .requests
                .record(connector, route, self.method, status, elapsed);
        }
        match self.pending {
            Some(mut pending) => {
                if let Some(id) = authenticated {
                    pending.authenticated_for(id);
                }
                let (response, entry) = pending.finish(response, elapsed).await;
                ops.log(entry);
                response
            }
            None => response,
        }
    }
}

/// The method as a label: the standard ones by name, anything else as `other`, so that
/// made-up methods cannot mint series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A SCIM path split into its `{connector}` segment and what follows it (`/Users/…`, or ""
/// for the base URL itself): `None` for every other path.
pub(crate) fn split_scim(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (scim, rest) = rest.split_once('/')?;
    let (v2, rest) = rest.split_once('/')?;
    if !(scim.eq_ignore_ascii_case("scim") && v2.eq_ignore_ascii_case("v2")) {
        return None;
    }
    let (connector, below) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    (!connector.is_empty()).then_some((connector, below))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_paths_are_split_at_the_connector() {
        assert_eq!(
            split_scim("/scim/v2/entra/Users/1"),
            Some(("entra", "/Users/1"))
        );
        assert_eq!(split_scim("/SCIM/V2/okta"), Some(("okta", "")));
        assert_eq!(split_scim("/scim/v2/okta/"), Some(("okta", "/")));
        assert_eq!(split_scim("/scim/v2/"), None);
        assert_eq!(split_scim("/scim/v2"), None);
        assert_eq!(split_scim("/scim/v3/x/Users"), None);
        assert_eq!(split_scim("/healthz"), None);
        assert_eq!(split_scim("/console/scim/v2"), None);
    }

    #[test]
    fn unknown_methods_are_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(
            method_label(&Method::from_bytes(b"BREW").expect("a method")),
            "other"
        );
    }
}
