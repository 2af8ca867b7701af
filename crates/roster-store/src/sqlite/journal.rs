//! The audit log and sync results: written by every directory write job through a
//! [`Journal`], gathered per writer batch in the [`BatchJournal`] and written with one
//! set-based statement per table just before the batch commits (so in the transaction of the
//! writes they record); read by the admin tools.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use roster_core::StoreError;
use roster_core::store::{
    Actor, AuditAction, AuditEntry, AuditQuery, AuditSubject, OutcomeQuery, SubjectKind,
    SyncCounters, SyncOutcome, SyncRun, SyncSource, SyncSubject, WriteContext,
};
use roster_core::sync::Outcome;
use rusqlite::params;
use serde_json::{Value, json};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;

use super::exec::Conn;
use super::{backend, from_ms, to_ms};

/// One hour: SCIM traffic is counted in hourly runs.
const HOUR_MS: i64 = 3_600_000;

/// What one write job adds to the audit log and the sync results. Submitted to the
/// [`BatchJournal`] at the end of the job, written with the rest of its batch.
#[derive(Debug)]
pub(super) struct Journal {
    connector_id: Option<String>,
    at_ms: i64,
    actor: String,
    request_id: Option<String>,
    source: SyncSource,
    run_ms: i64,
    audit: Vec<AuditRow>,
    outcomes: Vec<OutcomeRow>,
    counters: SyncCounters,
}

/// An `audit_log` row to write (JSON columns as text).
#[derive(Debug)]
struct AuditRow {
    at_ms: i64,
    connector_id: Option<String>,
    directory: Option<String>,
    actor: String,
    request_id: Option<String>,
    kind: &'static str,
    id: String,
    name: Option<String>,
    action: &'static str,
    before: Option<String>,
    after: Option<String>,
    detail: Option<String>,
}

/// A `sync_outcomes` row to write.
#[derive(Debug)]
struct OutcomeRow {
    connector_id: String,
    subject: &'static str,
    scim_id: String,
    name: Option<String>,
    outcome: &'static str,
    reason: Option<String>,
    warnings: Option<String>,
    source: &'static str,
    at_ms: i64,
}

impl Journal {
    /// A journal for the writes of `ctx`, made by the sync of `connector_id` (if any) from
    /// `source`. SCIM traffic counts in the run of its hour; an apply in the run of its time.
    pub(super) fn new(connector_id: Option<&str>, ctx: &WriteContext, source: SyncSource) -> Self {
        let at_ms = to_ms(ctx.at);
        Self {
            connector_id: connector_id.map(str::to_owned),
            at_ms,
            actor: ctx.actor.to_string(),
            request_id: ctx.request_id.clone(),
            source,
            run_ms: match source {
                SyncSource::Scim => at_ms - at_ms.rem_euclid(HOUR_MS),
                SyncSource::Apply => at_ms,
            },
            audit: Vec::new(),
            outcomes: Vec::new(),
            counters: SyncCounters::default(),
        }
    }

    /// The time of the writes, in stored milliseconds.
    pub(super) fn at_ms(&self) -> i64 {
        self.at_ms
    }

    /// Adds an audit row.
    #[allow(clippy::too_many_arguments)] // the columns of one row
    pub(super) fn audit(
        &mut self,
        directory: Option<&str>,
        kind: SubjectKind,
        id: &str,
        name: Option<&str>,
        action: AuditAction,
        before: Option<Value>,
        after: Option<Value>,
        detail: Option<Value>,
    ) {
        let text = |v: Option<Value>| v.map(|v| v.to_string());
        self.audit.push(AuditRow {
            at_ms: self.at_ms,
            connector_id: self.connector_id.clone(),
            directory: directory.map(str::to_owned),
            actor: self.actor.clone(),
            request_id: self.request_id.clone(),
            kind: kind.as_str(),
            id: id.to_owned(),
            name: name.map(str::to_owned),
            action: action.as_str(),
            before: text(before),
            after: text(after),
            detail: text(detail),
        });
    }

    /// How many audit rows there are: a mark to [`Journal::truncate`] back to.
    pub(super) fn mark(&self) -> usize {
        self.audit.len()
    }

    /// Drops the audit rows added since `mark` (their writes were rolled back).
    pub(super) fn truncate(&mut self, mark: usize) {
        self.audit.truncate(mark);
    }

    /// A mark of everything recorded so far: audit rows, outcomes and counters.
    pub(super) fn mark_all(&self) -> (usize, usize, SyncCounters) {
        (self.audit.len(), self.outcomes.len(), self.counters)
    }

    /// Drops everything recorded since `mark` (the syncs are run again).
    pub(super) fn truncate_all(&mut self, mark: (usize, usize, SyncCounters)) {
        self.audit.truncate(mark.0);
        self.outcomes.truncate(mark.1);
        self.counters = mark.2;
    }

    /// Records the outcome of a user or IdP group sync.
    pub(super) fn outcome(
        &mut self,
        subject: SyncSubject,
        scim_id: &str,
        name: Option<&str>,
        outcome: &Outcome,
        warnings: &[String],
    ) {
        let Some(connector_id) = &self.connector_id else {
            return;
        };
        if subject == SyncSubject::User || matches!(outcome, Outcome::Failed { .. }) {
            self.counters.add(outcome);
        }
        let reason = match outcome {
            Outcome::Failed { reason } => Some(reason.clone()),
            _ => None,
        };
        self.outcomes.push(OutcomeRow {
            connector_id: connector_id.clone(),
            subject: match subject {
                SyncSubject::User => "user",
                SyncSubject::Group => "group",
            },
            scim_id: scim_id.to_owned(),
            name: name.map(str::to_owned),
            outcome: outcome.as_str(),
            reason,
            warnings: (!warnings.is_empty()).then(|| json!(warnings).to_string()),
            source: self.source.as_str(),
            at_ms: self.at_ms,
        });
    }

    /// Hands everything to the batch, to be written before its commit if the job stands.
    pub(super) fn submit(self, batch: &BatchJournal) {
        let mut pending = batch.lock();
        let job = &mut pending.job;
        job.audit.extend(self.audit);
        job.outcomes.extend(self.outcomes);
        if let (Some(connector_id), false) = (self.connector_id, self.counters.is_empty()) {
            let run = job
                .runs
                .entry((connector_id, self.run_ms, self.source.as_str()))
                .or_insert((self.at_ms, SyncCounters::default()));
            run.0 = run.0.max(self.at_ms);
            run.1.merge(&self.counters);
        }
    }
}

/// Rows waiting for the commit.
#[derive(Debug, Default)]
struct Rows {
    audit: Vec<AuditRow>,
    outcomes: Vec<OutcomeRow>,
    runs: BTreeMap<(String, i64, &'static str), (i64, SyncCounters)>,
}

impl Rows {
    fn absorb(&mut self, other: Self) {
        self.audit.extend(other.audit);
        self.outcomes.extend(other.outcomes);
        for (key, (last, counters)) in other.runs {
            let run = self
                .runs
                .entry(key)
                .or_insert((last, SyncCounters::default()));
            run.0 = run.0.max(last);
            run.1.merge(&counters);
        }
    }

    fn is_empty(&self) -> bool {
        self.audit.is_empty() && self.outcomes.is_empty() && self.runs.is_empty()
    }
}

#[derive(Debug, Default)]
struct Pending {
    /// Of the jobs of this batch that stand.
    batch: Rows,
    /// Of the job running.
    job: Rows,
}

/// The audit rows and sync results of the writer's current batch: jobs [`Journal::submit`]
/// theirs, the writer keeps those of the jobs that stand and writes them all before the
/// commit ([`BatchJournal::write`]).
#[derive(Debug, Default)]
pub(crate) struct BatchJournal {
    pending: Mutex<Pending>,
}

impl BatchJournal {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A batch begins: nothing is pending.
    pub(super) fn begin(&self) {
        *self.lock() = Pending::default();
    }

    /// The running job ended: its rows join the batch if it stands.
    pub(super) fn job_done(&self, ok: bool) {
        let mut pending = self.lock();
        let job = std::mem::take(&mut pending.job);
        if ok {
            pending.batch.absorb(job);
        }
    }

    /// Writes what the batch's jobs left, with statements the writer keeps prepared.
    pub(super) fn write(&self, conn: &Conn) -> Result<(), rusqlite::Error> {
        let rows = std::mem::take(&mut self.lock().batch);
        if rows.is_empty() {
            return Ok(());
        }
        if !rows.audit.is_empty() {
            let mut insert = conn.prepare_cached(
                "INSERT INTO audit_log (at_ms, connector_id, directory_id, actor, request_id, \
                 subject_kind, subject_id, subject_name, action, before, after, detail) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for r in &rows.audit {
                insert.execute(params![
                    r.at_ms,
                    r.connector_id,
                    r.directory,
                    r.actor,
                    r.request_id,
                    r.kind,
                    r.id,
                    r.name,
                    r.action,
                    r.before,
                    r.after,
                    r.detail
                ])?;
            }
        }
        if !rows.outcomes.is_empty() {
            let mut upsert = conn.prepare_cached(
                "INSERT INTO sync_outcomes (connector_id, subject, scim_id, name, outcome, \
                 reason, warnings, source, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (connector_id, subject, scim_id) DO UPDATE SET \
                 name = excluded.name, outcome = excluded.outcome, reason = excluded.reason, \
                 warnings = excluded.warnings, source = excluded.source, at_ms = excluded.at_ms",
            )?;
            for r in &rows.outcomes {
                upsert.execute(params![
                    r.connector_id,
                    r.subject,
                    r.scim_id,
                    r.name,
                    r.outcome,
                    r.reason,
                    r.warnings,
                    r.source,
                    r.at_ms
                ])?;
            }
        }
        if !rows.runs.is_empty() {
            let mut upsert = conn.prepare_cached(
                "INSERT INTO sync_runs (connector_id, started_ms, source, last_ms, created, \
                 updated, unchanged, disabled, deleted, filtered, failed) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (connector_id, started_ms, source) DO UPDATE SET \
                 last_ms = max(last_ms, excluded.last_ms), created = created + excluded.created, \
                 updated = updated + excluded.updated, unchanged = unchanged + excluded.unchanged, \
                 disabled = disabled + excluded.disabled, deleted = deleted + excluded.deleted, \
                 filtered = filtered + excluded.filtered, failed = failed + excluded.failed",
            )?;
            let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            for ((connector, started, source), (last, c)) in &rows.runs {
                upsert.execute(params![
                    connector,
                    started,
                    source,
                    last,
                    n(c.created),
                    n(c.updated),
                    n(c.unchanged),
                    n(c.disabled),
                    n(c.deleted),
                    n(c.filtered),
                    n(c.failed)
                ])?;
            }
        }
        Ok(())
    }
}

fn json_column(row: &SqliteRow, i: usize) -> Result<Option<Value>, StoreError> {
    row.try_get::<Option<String>, _>(i)
        .map_err(backend)?
        .map(|t| serde_json::from_str(&t).map_err(StoreError::backend))
        .transpose()
}

fn limit(requested: u32, max: u32) -> i64 {
    i64::from(if requested == 0 {
        100
    } else {
        requested.min(max)
    })
}

pub(super) async fn audit(
    pool: &SqlitePool,
    query: &AuditQuery,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "SELECT seq, at_ms, connector_id, directory_id, actor, request_id, subject_kind, \
         subject_id, subject_name, action, before, after, detail FROM audit_log WHERE true",
    );
    if let Some(c) = &query.connector_id {
        qb.push(" AND connector_id = ").push_bind(c.clone());
    }
    if let Some(user) = &query.user_id {
        qb.push(" AND subject_kind IN ('user', 'membership') AND subject_id = ")
            .push_bind(user.clone());
    }
    if let Some(since) = query.since {
        qb.push(" AND seq > ").push_bind(since);
    }
    qb.push(if query.newest_first {
        " ORDER BY seq DESC LIMIT "
    } else {
        " ORDER BY seq LIMIT "
    });
    qb.push_bind(limit(query.limit, 10_000));
    let rows = qb.build().fetch_all(pool).await.map_err(backend)?;
    rows.iter()
        .map(|row| {
            let text = |i: usize| row.try_get::<String, _>(i).map_err(backend);
            Ok(AuditEntry {
                seq: row.try_get(0).map_err(backend)?,
                at: from_ms(row.try_get(1).map_err(backend)?)?,
                connector_id: row.try_get(2).map_err(backend)?,
                directory: row.try_get(3).map_err(backend)?,
                actor: text(4)?.parse::<Actor>().map_err(corrupt)?,
                request_id: row.try_get(5).map_err(backend)?,
                subject: AuditSubject {
                    kind: text(6)?.parse::<SubjectKind>().map_err(corrupt)?,
                    id: text(7)?,
                    name: row.try_get(8).map_err(backend)?,
                },
                action: text(9)?.parse::<AuditAction>().map_err(corrupt)?,
                before: json_column(row, 10)?,
                after: json_column(row, 11)?,
                detail: json_column(row, 12)?,
            })
        })
        .collect()
}

fn corrupt(message: String) -> StoreError {
    StoreError::Backend(message.into())
}

fn source(s: &str) -> Result<SyncSource, StoreError> {
    match s {
        "scim" => Ok(SyncSource::Scim),
        "apply" => Ok(SyncSource::Apply),
        other => Err(corrupt(format!("unknown sync source '{other}'"))),
    }
}

pub(super) async fn runs(
    pool: &SqlitePool,
    connector_id: &str,
    since: Option<OffsetDateTime>,
    max: u32,
) -> Result<Vec<SyncRun>, StoreError> {
    let rows = sqlx::query(
        "SELECT connector_id, source, started_ms, last_ms, created, updated, unchanged, \
         disabled, deleted, filtered, failed FROM sync_runs \
         WHERE connector_id = ? AND started_ms >= ? ORDER BY started_ms DESC, source LIMIT ?",
    )
    .bind(connector_id)
    .bind(since.map_or(i64::MIN, to_ms))
    .bind(limit(max, 10_000))
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.iter()
        .map(|row| {
            let n = |i: usize| -> Result<u64, StoreError> {
                Ok(u64::try_from(row.try_get::<i64, _>(i).map_err(backend)?).unwrap_or(0))
            };
            Ok(SyncRun {
                connector_id: row.try_get(0).map_err(backend)?,
                source: source(&row.try_get::<String, _>(1).map_err(backend)?)?,
                started_at: from_ms(row.try_get(2).map_err(backend)?)?,
                last_at: from_ms(row.try_get(3).map_err(backend)?)?,
                counters: SyncCounters {
                    created: n(4)?,
                    updated: n(5)?,
                    unchanged: n(6)?,
                    disabled: n(7)?,
                    deleted: n(8)?,
                    filtered: n(9)?,
                    failed: n(10)?,
                },
            })
        })
        .collect()
}

pub(super) async fn outcomes(
    pool: &SqlitePool,
    query: &OutcomeQuery,
) -> Result<Vec<SyncOutcome>, StoreError> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "SELECT connector_id, subject, scim_id, name, outcome, reason, warnings, source, at_ms \
         FROM sync_outcomes WHERE connector_id = ",
    );
    qb.push_bind(query.connector_id.clone());
    if let Some(o) = &query.outcome {
        qb.push(" AND outcome = ").push_bind(o.clone());
    }
    qb.push(" ORDER BY at_ms DESC, scim_id LIMIT ")
        .push_bind(limit(query.limit, 10_000));
    let rows = qb.build().fetch_all(pool).await.map_err(backend)?;
    rows.iter()
        .map(|row| {
            let text = |i: usize| row.try_get::<String, _>(i).map_err(backend);
            let outcome = match text(4)?.as_str() {
                "created" => Outcome::Created,
                "updated" => Outcome::Updated,
                "unchanged" => Outcome::Unchanged,
                "disabled" => Outcome::Disabled,
                "deleted" => Outcome::Deleted,
                "filtered" => Outcome::Filtered,
                "failed" => Outcome::Failed {
                    reason: row
                        .try_get::<Option<String>, _>(5)
                        .map_err(backend)?
                        .unwrap_or_default(),
                },
                other => return Err(corrupt(format!("unknown outcome '{other}'"))),
            };
            let warnings = match json_column(row, 6)? {
                Some(v) => serde_json::from_value(v).map_err(StoreError::backend)?,
                None => Vec::new(),
            };
            Ok(SyncOutcome {
                connector_id: text(0)?,
                subject: match text(1)?.as_str() {
                    "group" => SyncSubject::Group,
                    _ => SyncSubject::User,
                },
                scim_id: text(2)?,
                name: row.try_get(3).map_err(backend)?,
                outcome,
                warnings,
                source: source(&text(7)?)?,
                at: from_ms(row.try_get(8).map_err(backend)?)?,
            })
        })
        .collect()
}
