//! The SCIM request log: one [`NewRequestLog`] per request to `/scim/v2/{connector}/…`, and
//! the background task that writes them.
//!
//! - **What is kept.** Time, connector, `x-request-id`, method, the path below the connector's
//!   base URL with its query string (values of parameters named like secrets masked: RFC 6750
//!   §2.3 allows `access_token` there), status and duration. For a failure (status ≥ 400)
//!   also both bodies through [`mask_secrets`]. Headers are never read, so neither is
//!   `Authorization`.
//! - **The request body** is copied as the handler reads it, up to [`MAX_LOGGED_BODY`] bytes,
//!   by a body wrapper that forwards every frame, its size hint and its end unchanged, so the
//!   handler, its size limit and its 413 see exactly what they would without it. A body the
//!   handler never read (a 401 comes before the body is read) is not logged. Nothing is
//!   buffered beyond that copy, and successful requests drop it.
//! - **The response body** of a failure is read whole (SCIM errors are a few hundred bytes;
//!   bodies of unknown or larger size are passed through unread and not logged) and handed
//!   on unchanged.
//! - **Writing.** Entries wait in a bounded queue ([`QUEUE`]); one task writes them with
//!   [`AdminStore::log_requests`](roster_core::store::AdminStore::log_requests) in batches of
//!   up to [`BATCH`], at most [`BATCH_WINDOW`] after the first one arrived, so the store's
//!   writer sees one short job per batch instead of one per request. A batch the store refuses
//!   is logged and dropped; the task goes on. The same task prunes entries older than the
//!   retention and deletes expired console sessions once an hour, refreshes the connectors
//!   metrics may name, and runs the metrics recorder's upkeep.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use metrics_exporter_prometheus::PrometheusHandle;
use roster_core::admin::{MAX_LOGGED_BODY, NewRequestLog, is_secret_name, mask_secrets};
use roster_core::{Clock, Store};
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use super::KnownConnectors;
use super::prometheus;

/// Entries that may wait for the task; more are dropped and counted.
pub(super) const QUEUE: usize = 8192;
/// The most bytes of request and response bodies that may wait to be written in all, in the
/// queue or in the batch being gathered (the queue holds [`QUEUE`] entries and a batch
/// [`BATCH`], each with up to two bodies of [`MAX_LOGGED_BODY`] bytes: without a budget that
/// is hundreds of megabytes).
pub(super) const BODY_BUDGET: usize = 16 * 1024 * 1024;
/// What an entry's bodies become when the budget is spent.
const BODIES_DROPPED: &str = "(not kept: the request log was busy)";
/// The most entries written in one store call. Under load the window, not this, should end a
/// batch: every commit empties the page cache of every SQLite read connection (WAL readers
/// start over when the database changed), so at thousands of requests a second, batches of
/// 256 (about 40 commits a second) made each `userName eq` lookup read its index pages again
/// and cost it a seventh more CPU time. A batch of this size is still a job of a few
/// milliseconds.
pub(super) const BATCH: usize = 2048;
/// How long the first entry of a batch waits for others.
pub(super) const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// How often the task does its housekeeping (recorder upkeep, and the work below when due).
const HOUSEKEEPING: Duration = Duration::from_secs(5);
/// How often the connectors that metrics may name are re-read.
const REFRESH_CONNECTORS: Duration = Duration::from_secs(60);
/// How often old entries are pruned.
const PRUNE: Duration = Duration::from_secs(3600);
/// The longest path (with query) kept; longer ones are cut.
const MAX_PATH: usize = 2048;
/// The longest `x-request-id` kept.
const MAX_REQUEST_ID: usize = 128;
/// The largest error body read for the log.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// What the queue carries.
#[derive(Debug)]
pub(super) enum Message {
    /// A request to log.
    Entry(NewRequestLog),
    /// Write what is queued before this, then answer.
    Flush(oneshot::Sender<()>),
}

/// A request's entry while the request is served.
#[derive(Debug)]
pub(super) struct Pending {
    entry: NewRequestLog,
    /// The copy of the request body as the handler reads it, if it has one.
    kept: Option<Arc<Mutex<Vec<u8>>>>,
}

impl Pending {
    /// The entry of a request to `connector`, whose path below the base URL is `below`.
    pub(super) fn new(req: &Request, connector: String, below: &str, at: OffsetDateTime) -> Self {
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|id| cut(id, MAX_REQUEST_ID).into_owned());
        Self {
            entry: NewRequestLog {
                at,
                connector_id: connector,
                request_id,
                method: req.method().as_str().to_owned(),
                path: logged_path(below, req.uri().query()),
                status: 0,
                duration_ms: 0,
                request_body: None,
                response_body: None,
            },
            kept: None,
        }
    }

    /// The request was authenticated for the connector `id`: the entry is that connector's,
    /// however the path spelled its segment (percent-escapes).
    pub(super) fn authenticated_for(&mut self, id: &str) {
        id.clone_into(&mut self.entry.connector_id);
    }

    /// Wraps the request's body so that the first [`MAX_LOGGED_BODY`] bytes the handler reads
    /// are copied. A request without a body is left alone.
    pub(super) fn keep_body(&mut self, req: &mut Request) {
        if req.body().is_end_stream() {
            return;
        }
        let kept = Arc::new(Mutex::new(Vec::new()));
        let inner = std::mem::take(req.body_mut());
        *req.body_mut() = Body::new(Tee {
            inner,
            kept: kept.clone(),
        });
        self.kept = Some(kept);
    }

    /// Completes the entry with the response; for a failure, reads the response's body into
    /// it and hands back an identical response.
    pub(super) async fn finish(
        mut self,
        response: Response,
        elapsed: Duration,
    ) -> (Response, NewRequestLog) {
        let status = response.status().as_u16();
        self.entry.status = status;
        self.entry.duration_ms = u32::try_from(elapsed.as_millis()).unwrap_or(u32::MAX);
        if status < 400 {
            return (response, self.entry);
        }
        if let Some(kept) = self.kept {
            let body = std::mem::take(&mut *kept.lock().unwrap_or_else(PoisonError::into_inner));
            if !body.is_empty() {
                self.entry.request_body = Some(mask_secrets(&body));
            }
        }
        let (response, body) = read_error_body(response).await;
        self.entry.response_body = body;
        (response, self.entry)
    }
}

/// A request body that copies what passes through it, up to [`MAX_LOGGED_BODY`] bytes, and is
/// otherwise the body it wraps.
struct Tee {
    inner: Body,
    kept: Arc<Mutex<Vec<u8>>>,
}

impl HttpBody for Tee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let mut kept = this.kept.lock().unwrap_or_else(PoisonError::into_inner);
            let room = MAX_LOGGED_BODY.saturating_sub(kept.len());
            kept.extend_from_slice(&data[..data.len().min(room)]);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Reads a small error body for the log and puts it back: `(the same response, the masked
/// body)`. A body of unknown or large size is left as it is, unlogged.
async fn read_error_body(response: Response) -> (Response, Option<String>) {
    let small = response
        .body()
        .size_hint()
        .upper()
        .is_some_and(|n| n <= MAX_ERROR_BODY as u64);
    if !small {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, MAX_ERROR_BODY).await {
        Ok(bytes) => {
            let logged = (!bytes.is_empty()).then(|| mask_secrets(&bytes));
            (Response::from_parts(parts, Body::from(bytes)), logged)
        }
        Err(e) => {
            // Only a broken body stream fails here; the client would have had the same error.
            tracing::warn!(error = %e, "could not read an error response for the request log");
            (Response::from_parts(parts, Body::empty()), None)
        }
    }
}

/// The path below the base URL with its query, secret parameters masked, cut to [`MAX_PATH`].
fn logged_path(below: &str, query: Option<&str>) -> String {
    let mut path = String::with_capacity(below.len() + query.map_or(0, |q| q.len() + 1));
    path.push_str(if below.is_empty() { "/" } else { below });
    if let Some(query) = query {
        path.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                path.push('&');
            }
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            if is_secret_param(name) {
                path.push_str(name);
                path.push_str("=***");
            } else {
                path.push_str(pair);
            }
        }
    }
    if path.len() > MAX_PATH {
        let kept = cut(&path, MAX_PATH).len();
        path.truncate(kept);
        path.push('…');
    }
    path
}

/// Whether a raw (still encoded) query parameter name is one whose value is a secret, by the
/// same names as in bodies ([`is_secret_name`]).
fn is_secret_param(raw: &str) -> bool {
    form_urlencoded::parse(raw.as_bytes())
        .next()
        .is_some_and(|(name, _)| is_secret_name(&name))
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned().into()
}

/// The bytes of an entry's bodies.
pub(super) fn body_bytes(entry: &NewRequestLog) -> usize {
    entry.request_body.as_ref().map_or(0, String::len)
        + entry.response_body.as_ref().map_or(0, String::len)
}

/// Replaces an entry's bodies by a note saying why they are missing.
pub(super) fn drop_bodies(entry: &mut NewRequestLog) {
    for body in [&mut entry.request_body, &mut entry.response_body] {
        if body.is_some() {
            *body = Some(BODIES_DROPPED.to_owned());
        }
    }
}

/// What the background task works with.
#[derive(Debug)]
pub(super) struct Task {
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    /// Days entries are kept; 0 means the log is off (and nothing is pruned).
    pub(super) retention_days: u32,
    pub(super) known: Arc<KnownConnectors>,
    pub(super) prometheus: Option<PrometheusHandle>,
    /// Entries dropped since the last report.
    pub(super) dropped: Arc<AtomicU64>,
    /// Bytes of bodies waiting in the queue: the task takes off what it receives.
    pub(super) queued_bodies: Arc<AtomicUsize>,
    /// Rung by senders while a batch gathers: a full batch waits, or a flush (see [`wake`]).
    pub(super) wake: Arc<Notify>,
}

/// Whether a sender of an entry should wake the task now, with `queued` messages in the
/// queue: once a batch's worth waits (a flush always wakes it). While a batch gathers the task sleeps until
/// its window ends rather than waking for every entry: at thousands of requests a second,
/// waking it per entry (to move one entry from the queue to the batch) cost each request
/// a task wake-up, often a thread's too.
pub(super) fn should_wake(queued: usize) -> bool {
    queued >= BATCH
}

impl Task {
    /// Runs until every sender is gone, then writes what it holds and returns.
    pub(super) async fn run(self, mut rx: mpsc::Receiver<Message>) {
        let mut batch: Vec<NewRequestLog> = Vec::with_capacity(BATCH);
        let mut received: Vec<Message> = Vec::with_capacity(BATCH);
        // The deadline of the batch being gathered; far away while there is none.
        let window = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(window);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_refresh: Option<Instant> = None;
        let mut last_prune: Option<Instant> = None;
        loop {
            tokio::select! {
                // Between batches, the first entry wakes the task; while one gathers, only its
                // window, a batch's worth of waiting entries or a flush does (`should_wake`).
                n = rx.recv_many(&mut received, BATCH), if batch.is_empty() => {
                    if n == 0 {
                        return;
                    }
                    for message in received.drain(..) {
                        self.take(message, &mut batch, window.as_mut()).await;
                    }
                }
                () = &mut window, if !batch.is_empty() => {
                    if self.drain(&mut rx, &mut batch, &mut received, window.as_mut()).await {
                        return;
                    }
                    self.write(&mut batch).await;
                }
                () = self.wake.notified(), if !batch.is_empty() => {
                    if self.drain(&mut rx, &mut batch, &mut received, window.as_mut()).await {
                        return;
                    }
                }
                _ = housekeeping.tick() => {
                    if let Some(prometheus) = &self.prometheus {
                        prometheus.run_upkeep();
                    }
                    let dropped = self.dropped.swap(0, Ordering::Relaxed);
                    if dropped > 0 {
                        tracing::warn!(dropped, "request-log entries dropped: the queue was full");
                    }
                    if last_refresh.is_none_or(|t| t.elapsed() >= REFRESH_CONNECTORS) {
                        last_refresh = Some(Instant::now());
                        self.refresh_connectors().await;
                    }
                    if last_prune.is_none_or(|t| t.elapsed() >= PRUNE) {
                        last_prune = Some(Instant::now());
                        self.prune().await;
                        self.end_expired_sessions().await;
                    }
                }
            }
        }
    }

    /// Adds a message to the batch: an entry (writing the batch when it is full), or a flush
    /// (writing it, then answering).
    async fn take(
        &self,
        message: Message,
        batch: &mut Vec<NewRequestLog>,
        window: Pin<&mut tokio::time::Sleep>,
    ) {
        match message {
            Message::Entry(entry) => {
                if batch.is_empty() {
                    window.reset(Instant::now() + BATCH_WINDOW);
                }
                batch.push(entry);
                if batch.len() >= BATCH {
                    self.write(batch).await;
                }
            }
            Message::Flush(done) => {
                self.write(batch).await;
                let _ = done.send(());
            }
        }
    }

    /// Takes every message waiting in the queue, without waiting for more. When every sender
    /// is gone and the queue is empty, writes the batch and answers true: the task ends.
    async fn drain(
        &self,
        rx: &mut mpsc::Receiver<Message>,
        batch: &mut Vec<NewRequestLog>,
        received: &mut Vec<Message>,
        mut window: Pin<&mut tokio::time::Sleep>,
    ) -> bool {
        loop {
            match rx.try_recv() {
                Ok(message) => received.push(message),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    for message in received.drain(..) {
                        self.take(message, batch, window.as_mut()).await;
                    }
                    self.write(batch).await;
                    return true;
                }
            }
            if received.len() >= BATCH {
                for message in received.drain(..) {
                    self.take(message, batch, window.as_mut()).await;
                }
            }
        }
        for message in received.drain(..) {
            self.take(message, batch, window.as_mut()).await;
        }
        false
    }

    /// Writes and empties the batch. A store error loses the batch (logged and counted):
    /// retrying would hold newer entries back behind a store that is failing anyway.
    async fn write(&self, batch: &mut Vec<NewRequestLog>) {
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.store.admin().log_requests(batch).await {
            tracing::warn!(error = %e, entries = batch.len(), "could not write the request log; these entries are lost");
            prometheus::count_dropped("store_error", batch.len() as u64);
        }
        // The batch's bodies leave the budget once written (or lost), not when they left the
        // queue: a batch may hold many.
        let bytes: usize = batch.iter().map(body_bytes).sum();
        self.queued_bodies.fetch_sub(bytes, Ordering::Relaxed);
        batch.clear();
    }

    async fn refresh_connectors(&self) {
        match self.store.connectors().await {
            Ok(connectors) => self
                .known
                .replace(connectors.into_iter().map(|c| c.id).collect::<HashSet<_>>()),
            Err(e) => tracing::warn!(error = %e, "could not list the connectors for metrics"),
        }
    }

    /// Deletes console sessions past their expiry: they open nothing already (every read
    /// checks the expiry), but nothing else removes them, one row per login.
    async fn end_expired_sessions(&self) {
        match self
            .store
            .admin()
            .delete_expired_sessions(self.clock.now())
            .await
        {
            Ok(0) => {}
            Ok(ended) => tracing::info!(ended, "deleted expired console sessions"),
            Err(e) => tracing::warn!(error = %e, "could not delete expired console sessions"),
        }
    }

    async fn prune(&self) {
        if self.retention_days == 0 {
            return;
        }
        let before = self.clock.now() - time::Duration::days(i64::from(self.retention_days));
        match self.store.admin().prune_request_log(before).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned the request log"),
            Err(e) => tracing::warn!(error = %e, "could not prune the request log"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_bodies_say_why_and_weigh_little() {
        let mut entry = NewRequestLog {
            at: OffsetDateTime::UNIX_EPOCH,
            connector_id: "c".to_owned(),
            request_id: None,
            method: "POST".to_owned(),
            path: "/Users".to_owned(),
            status: 409,
            duration_ms: 1,
            request_body: Some("x".repeat(MAX_LOGGED_BODY)),
            response_body: None,
        };
        assert_eq!(body_bytes(&entry), MAX_LOGGED_BODY);
        drop_bodies(&mut entry);
        assert_eq!(entry.request_body.as_deref(), Some(BODIES_DROPPED));
        // A body that was not there stays absent.
        assert_eq!(entry.response_body, None);
        assert_eq!(body_bytes(&entry), BODIES_DROPPED.len());
    }

    #[test]
    fn paths_keep_their_query_but_not_secrets() {
        assert_eq!(
            logged_path("/Users", Some("filter=userName+eq+%22a%40b.c%22")),
            "/Users?filter=userName+eq+%22a%40b.c%22"
        );
        assert_eq!(
            logged_path(
                "/Users",
                Some("access_token=abc&count=1&Password=x&p%61ssword=y")
            ),
            "/Users?access_token=***&count=1&Password=***&p%61ssword=***"
        );
        assert_eq!(logged_path("", None), "/");
        let long = logged_path(&format!("/Users/{}", "é".repeat(MAX_PATH)), None);
        assert!(long.len() <= MAX_PATH + '…'.len_utf8());
        assert!(long.ends_with('…'));
    }

    #[tokio::test]
    async fn the_tee_copies_what_the_handler_reads_and_changes_nothing() {
        let big = vec![b'x'; MAX_LOGGED_BODY * 2];
        let kept = Arc::new(Mutex::new(Vec::new()));
        let body = Body::new(Tee {
            inner: Body::from(big.clone()),
            kept: kept.clone(),
        });
        assert_eq!(body.size_hint().exact(), Some(big.len() as u64));
        let read = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(read.len(), big.len());
        assert_eq!(kept.lock().unwrap().len(), MAX_LOGGED_BODY);

        // The limit a handler applies still fails the same way.
        let body = Body::new(Tee {
            inner: Body::from(big.clone()),
            kept: Arc::default(),
        });
        assert!(axum::body::to_bytes(body, 100).await.is_err());
    }

    #[tokio::test]
    async fn error_bodies_are_read_and_put_back() {
        let response = Response::builder()
            .status(409)
            .header("content-type", "application/scim+json")
            .body(Body::from(r#"{"detail":"taken","password":"p"}"#))
            .unwrap();
        let (response, logged) = read_error_body(response).await;
        assert_eq!(
            logged.as_deref(),
            Some(r#"{"detail":"taken","password":"***"}"#)
        );
        assert_eq!(response.status(), 409);
        let body = axum::body::to_bytes(response.into_body(), 1000)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"detail":"taken","password":"p"}"#);
    }
}
