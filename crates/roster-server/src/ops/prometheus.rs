//! The metrics `/metrics` serves.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `roster_http_requests_total` | counter | `connector`, `route`, `method`, `status` |
//! | `roster_http_request_duration_seconds` | histogram | `connector`, `route`, `method` |
//! | `roster_request_log_dropped_total` | counter | `reason`: `queue_full`, `store_error`, `stopped` |
//! | `roster_sync_outcomes_total` | counter | `connector`, `outcome` |
//!
//! `route` is the matched route template (`/scim/v2/{connector}/Users/{id}`), or `unmatched`:
//! never the path, which would carry resource ids and, in its query, filters with user names.
//! `connector` is set on SCIM routes only, for connectors that exist (see
//! `Ops::connector_label`).
//!
//! The recorder is process-global (the `metrics` facade has one), so it is installed once and
//! its handle shared by every server in the process.
//!
//! ## Sync outcomes
//!
//! Sync outcomes are decided inside the store's write transactions, which report them to
//! nobody but the store: it keeps per-connector counters in hourly runs (SCIM traffic) and
//! per-apply runs ([`SyncRun`]). So `roster_sync_outcomes_total` is read from there at scrape
//! time: the sum of every run of the connector, by outcome. That makes it a true counter that
//! survives restarts and covers applies run from the CLI, which counting in this process
//! could not. To keep a scrape cheap, runs that can no longer change (older than two hours and
//! untouched for one) are summed once and remembered; a scrape then reads only the last few
//! runs per connector.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use roster_core::Store;
use roster_core::store::{StoreError, SyncCounters, SyncRun};
use time::OffsetDateTime;

use super::KnownConnectors;

pub(super) const REQUESTS: &str = "roster_http_requests_total";
pub(super) const DURATION: &str = "roster_http_request_duration_seconds";
pub(super) const LOG_DROPPED: &str = "roster_request_log_dropped_total";
pub(super) const SYNC_OUTCOMES: &str = "roster_sync_outcomes_total";

/// Histogram buckets, in seconds: SCIM lookups take a millisecond or two, writes a few, and
/// the request timeout is 30 seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The most runs read per connector and scrape (the store's cap). Only the first scrape of a
/// process reads more than a few; a history longer than this is counted from its newest runs.
const MAX_RUNS: u32 = 10_000;
/// A run older than this may still be counting: the current SCIM hour, or an apply that is
/// still writing batches.
const SEAL_AFTER: time::Duration = time::Duration::hours(2);
/// A run touched this recently may still be counting, however old it is (a long apply).
const QUIET: time::Duration = time::Duration::hours(1);

/// The handle of the process's recorder, installing it on first use.
pub(super) fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(install).clone()
}

fn install() -> PrometheusHandle {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), DURATION_BUCKETS)
        .expect("the bucket list is not empty")
        .build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        // Another part of the process (an embedding application) installed its own: its
        // recorder gets the metrics, and /metrics shows only the sync outcomes.
        tracing::warn!("a metrics recorder is already installed; /metrics will not show it");
    }
    metrics::describe_counter!(
        REQUESTS,
        "HTTP requests answered, by connector (SCIM routes), route template, method and status."
    );
    metrics::describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "How long requests took to answer, by connector (SCIM routes), route template and method."
    );
    metrics::describe_counter!(
        LOG_DROPPED,
        "SCIM request-log entries lost: the queue was full, the store refused the batch, or the server was stopping."
    );
    handle
}

/// The request metrics' handles, one pair per label set, so that counting a request is a
/// lookup by borrowed labels. Asking the facade instead (`counter!` with owned labels) built a
/// `metrics::Key` per request: five label strings allocated, then hashed into the recorder's
/// registry, for both metrics. The handles are the registry's own (the same `Arc`s it
/// renders), so what `/metrics` shows is unchanged. The map holds one entry per series the
/// registry holds, and no more: labels are as bounded here as there (see
/// `Ops::connector_label`).
#[derive(Debug, Default)]
pub(super) struct RequestMetrics(RwLock<HashMap<OwnedLabels, Handles>>);

#[derive(Debug, Clone)]
struct Handles {
    requests: Counter,
    duration: Histogram,
}

/// A request's labels, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Labels<'a> {
    connector: &'a str,
    route: &'a str,
    method: &'static str,
    status: u16,
}

/// A request's labels, as the map keeps them.
#[derive(Debug)]
struct OwnedLabels {
    connector: Box<str>,
    route: Box<str>,
    method: &'static str,
    status: u16,
}

/// What both label types are looked up by: a `HashMap<OwnedLabels, _>` can be searched with a
/// `&dyn LabelKey`, and so with borrowed [`Labels`], without building an [`OwnedLabels`].
trait LabelKey {
    fn labels(&self) -> Labels<'_>;
}

impl LabelKey for Labels<'_> {
    fn labels(&self) -> Labels<'_> {
        *self
    }
}

impl LabelKey for OwnedLabels {
    fn labels(&self) -> Labels<'_> {
        Labels {
            connector: &self.connector,
            route: &self.route,
            method: self.method,
            status: self.status,
        }
    }
}

impl<'a> Borrow<dyn LabelKey + 'a> for OwnedLabels {
    fn borrow(&self) -> &(dyn LabelKey + 'a) {
        self
    }
}

impl PartialEq for dyn LabelKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.labels() == other.labels()
    }
}

impl Eq for dyn LabelKey + '_ {}

impl Hash for dyn LabelKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.labels().hash(state);
    }
}

// `Borrow` requires the owned key to hash and compare as its borrowed form does.
impl PartialEq for OwnedLabels {
    fn eq(&self, other: &Self) -> bool {
        self.labels() == other.labels()
    }
}

impl Eq for OwnedLabels {}

impl Hash for OwnedLabels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.labels().hash(state);
    }
}

impl RequestMetrics {
    /// Counts one answered request.
    pub(super) fn record(
        &self,
        connector: &str,
        route: &str,
        method: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        let labels = Labels {
            connector,
            route,
            method,
            status,
        };
        let cached = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&labels as &dyn LabelKey)
            .cloned();
        let handles = cached.unwrap_or_else(|| self.register(labels));
        handles.duration.record(elapsed.as_secs_f64());
        handles.requests.increment(1);
    }

    /// The handles of a label set seen for the first time, from the recorder.
    fn register(&self, labels: Labels<'_>) -> Handles {
        let connector = labels.connector.to_owned();
        let route = labels.route.to_owned();
        let method = labels.method;
        let handles = Handles {
            duration: metrics::histogram!(DURATION, "connector" => connector.clone(), "route" => route.clone(), "method" => method),
            requests: metrics::counter!(REQUESTS, "connector" => connector, "route" => route, "method" => method, "status" => labels.status.to_string()),
        };
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(OwnedLabels {
                connector: labels.connector.into(),
                route: labels.route.into(),
                method,
                status: labels.status,
            })
            .or_insert(handles)
            .clone()
    }
}

/// Counts request-log entries lost.
pub(super) fn count_dropped(reason: &'static str, n: u64) {
    metrics::counter!(LOG_DROPPED, "reason" => reason).increment(n);
}

/// What of each connector's runs is summed for good.
#[derive(Debug, Default)]
pub(super) struct SyncTotals(Mutex<HashMap<String, Sealed>>);

/// The sum of a connector's runs that started before `before`, which can no longer change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sealed {
    before: Option<OffsetDateTime>,
    counters: SyncCounters,
}

impl SyncTotals {
    /// Every connector's totals at `now`, by connector id; also refreshes `known` with the
    /// connectors listed. The lock is never held across a store call.
    pub(super) async fn read(
        &self,
        store: &dyn Store,
        now: OffsetDateTime,
        known: &KnownConnectors,
    ) -> Result<Vec<(String, SyncCounters)>, StoreError> {
        let connectors = store.connectors().await?;
        let mut totals = Vec::with_capacity(connectors.len());
        for connector in &connectors {
            let sealed = self.sealed(&connector.id);
            let runs = store
                .directory()
                .sync_runs(&connector.id, sealed.before, MAX_RUNS)
                .await?;
            let (total, sealed) = fold(sealed, &runs, now);
            self.seal(&connector.id, sealed);
            totals.push((connector.id.clone(), total));
        }
        let ids: HashSet<String> = connectors.into_iter().map(|c| c.id).collect();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| ids.contains(id));
        known.replace(ids);
        Ok(totals)
    }

    fn sealed(&self, connector: &str) -> Sealed {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(connector)
            .copied()
            .unwrap_or_default()
    }

    /// Keeps `sealed` unless a concurrent scrape sealed further already.
    fn seal(&self, connector: &str, sealed: Sealed) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.entry(connector.to_owned()).or_default();
        if sealed.before > entry.before {
            *entry = sealed;
        }
    }
}

/// The connector's totals (the sealed sum and every run read), and the sealed sum moved as far
/// as runs are final: past runs that started over [`SEAL_AFTER`] ago, but not past one touched
/// within [`QUIET`].
fn fold(sealed: Sealed, runs: &[SyncRun], now: OffsetDateTime) -> (SyncCounters, Sealed) {
    let mut total = sealed.counters;
    for run in runs {
        total.merge(&run.counters);
    }
    let boundary = runs
        .iter()
        .filter(|run| run.last_at > now - QUIET)
        .map(|run| run.started_at)
        .fold(now - SEAL_AFTER, OffsetDateTime::min);
    if sealed.before.is_some_and(|before| boundary <= before) {
        return (total, sealed);
    }
    let mut counters = sealed.counters;
    for run in runs.iter().filter(|run| run.started_at < boundary) {
        counters.merge(&run.counters);
    }
    (
        total,
        Sealed {
            before: Some(boundary),
            counters,
        },
    )
}

/// The counters by outcome name (the names `sync_outcomes` uses).
fn by_outcome(c: &SyncCounters) -> [(&'static str, u64); 7] {
    [
        ("created", c.created),
        ("updated", c.updated),
        ("unchanged", c.unchanged),
        ("disabled", c.disabled),
        ("deleted", c.deleted),
        ("filtered", c.filtered),
        ("failed", c.failed),
    ]
}

/// Appends `roster_sync_outcomes_total` in the text exposition format.
pub(super) fn render_sync(out: &mut String, totals: &[(String, SyncCounters)]) {
    if totals.is_empty() {
        return;
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "# HELP {SYNC_OUTCOMES} Users synced into the directory (and IdP groups that failed), by connector and outcome, as the store counts them."
    );
    let _ = writeln!(out, "# TYPE {SYNC_OUTCOMES} counter");
    for (connector, counters) in totals {
        let connector = escape(connector);
        for (outcome, n) in by_outcome(counters) {
            let _ = writeln!(
                out,
                "{SYNC_OUTCOMES}{{connector=\"{connector}\",outcome=\"{outcome}\"}} {n}"
            );
        }
    }
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::store::SyncSource;
    use time::macros::datetime;

    fn run(started: OffsetDateTime, last: OffsetDateTime, created: u64) -> SyncRun {
        SyncRun {
            connector_id: "c".into(),
            source: SyncSource::Scim,
            started_at: started,
            last_at: last,
            counters: SyncCounters {
                created,
                ..SyncCounters::default()
            },
        }
    }

    #[test]
    fn final_runs_are_sealed_and_recent_ones_reread() {
        let now = datetime!(2026-12-01 12:30 UTC);
        let runs = [
            run(datetime!(2026-12-01 12:00 UTC), now, 1),
            run(
                datetime!(2026-12-01 10:00 UTC),
                datetime!(2026-12-01 10:59 UTC),
                10,
            ),
            run(
                datetime!(2026-12-01 09:00 UTC),
                datetime!(2026-12-01 09:59 UTC),
                100,
            ),
        ];
        let (total, sealed) = fold(Sealed::default(), &runs, now);
        assert_eq!(total.created, 111);
        // 10:30 is the boundary: the 09:00 and 10:00 hours are over and quiet, so final; the
        // current hour may still count.
        assert_eq!(sealed.before, Some(datetime!(2026-12-01 10:30 UTC)));
        assert_eq!(sealed.counters.created, 110);

        // The next scrape reads only the runs from the boundary on, and the total holds.
        let later = datetime!(2026-12-01 12:45 UTC);
        let (total, again) = fold(sealed, &runs[..1], later);
        assert_eq!(total.created, 111);
        assert_eq!(again.counters.created, 110);
        assert_eq!(again.before, Some(datetime!(2026-12-01 10:45 UTC)));
    }

    #[test]
    fn a_long_apply_holds_the_seal_back() {
        let now = datetime!(2026-12-01 12:00 UTC);
        // An apply that started five hours ago and wrote a batch a minute ago.
        let apply = run(
            datetime!(2026-12-01 07:00 UTC),
            datetime!(2026-12-01 11:59 UTC),
            5,
        );
        let old = run(
            datetime!(2026-12-01 06:00 UTC),
            datetime!(2026-12-01 06:10 UTC),
            1,
        );
        let (total, sealed) = fold(Sealed::default(), &[apply, old], now);
        assert_eq!(total.created, 6);
        assert_eq!(sealed.before, Some(datetime!(2026-12-01 07:00 UTC)));
        assert_eq!(sealed.counters.created, 1);
    }

    #[test]
    fn sync_outcomes_render_in_the_text_format() {
        let mut out = String::new();
        let counters = SyncCounters {
            created: 2,
            failed: 1,
            ..SyncCounters::default()
        };
        render_sync(&mut out, &[("en\"tra".to_owned(), counters)]);
        assert!(out.contains("# TYPE roster_sync_outcomes_total counter\n"));
        assert!(out.contains(
            "roster_sync_outcomes_total{connector=\"en\\\"tra\",outcome=\"created\"} 2\n"
        ));
        assert!(out.contains(
            "roster_sync_outcomes_total{connector=\"en\\\"tra\",outcome=\"failed\"} 1\n"
        ));
        assert_eq!(out.lines().count(), 2 + 7);
    }

    #[test]
    fn request_handles_are_found_by_borrowed_labels() {
        let metrics = RequestMetrics::default();
        let route = "/scim/v2/{connector}/Users";
        metrics.record("entra", route, "GET", 200, Duration::from_millis(1));
        metrics.record("entra", route, "GET", 200, Duration::from_millis(2));
        metrics.record("entra", route, "GET", 404, Duration::from_millis(1));
        metrics.record("", route, "GET", 200, Duration::from_millis(1));
        let map = metrics.0.read().expect("not poisoned");
        assert_eq!(map.len(), 3);
        let labels = Labels {
            connector: "entra",
            route,
            method: "GET",
            status: 404,
        };
        assert!(map.contains_key(&labels as &dyn LabelKey));
    }
}
