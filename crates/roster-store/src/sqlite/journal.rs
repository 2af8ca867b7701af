//! The audit log and sync results: written by every directory write job through a
//! [`Journal`] (one set-based flush per job, in its transaction), and read by the admin tools.

use roster_core::StoreError;
use roster_core::store::{
    Actor, AuditAction, AuditEntry, AuditQuery, AuditSubject, OutcomeQuery, SubjectKind,
    SyncCounters, SyncOutcome, SyncRun, SyncSource, SyncSubject, WriteContext,
};
use roster_core::sync::Outcome;
use serde_json::{Value, json};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};
use time::OffsetDateTime;

use super::{backend, from_ms, to_ms};

/// One hour: SCIM traffic is counted in hourly runs.
const HOUR_MS: i64 = 3_600_000;

/// What one write job adds to the audit log and the sync results, flushed at its end.
#[derive(Debug)]
pub(super) struct Journal {
    connector_id: Option<String>,
    at_ms: i64,
    actor: String,
    request_id: Option<String>,
    source: SyncSource,
    run_ms: i64,
    audit: Vec<Value>,
    outcomes: Vec<Value>,
    counters: SyncCounters,
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
        self.audit.push(json!([
            directory,
            kind.as_str(),
            id,
            name,
            action.as_str(),
            before,
            after,
            detail
        ]));
    }

    /// How many audit rows there are: a mark to [`Journal::truncate`] back to.
    pub(super) fn mark(&self) -> usize {
        self.audit.len()
    }

    /// Drops the audit rows added since `mark` (their writes were rolled back).
    pub(super) fn truncate(&mut self, mark: usize) {
        self.audit.truncate(mark);
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
        if subject == SyncSubject::User || matches!(outcome, Outcome::Failed { .. }) {
            self.counters.add(outcome);
        }
        let reason = match outcome {
            Outcome::Failed { reason } => Some(reason.as_str()),
            _ => None,
        };
        self.outcomes.push(json!([
            match subject {
                SyncSubject::User => "user",
                SyncSubject::Group => "group",
            },
            scim_id,
            name,
            outcome.as_str(),
            reason,
            (!warnings.is_empty()).then_some(warnings),
        ]));
    }

    /// Writes everything, in at most one round trip.
    pub(super) async fn flush(self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        macro_rules! audit_sql {
            () => {
                "INSERT INTO audit_log (at_ms, connector_id, directory_id, actor, \
             request_id, subject_kind, subject_id, subject_name, action, before, after, detail) \
             SELECT ?, ?, e.value ->> 0, ?, ?, e.value ->> 1, e.value ->> 2, e.value ->> 3, \
             e.value ->> 4, e.value ->> 5, e.value ->> 6, e.value ->> 7 \
             FROM json_each(?) AS e ORDER BY e.key;"
            };
        }
        macro_rules! outcomes_sql {
            () => {
                "INSERT INTO sync_outcomes (connector_id, subject, scim_id, name, \
             outcome, reason, warnings, source, at_ms) \
             SELECT ?, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4, \
             e.value ->> 5, ?, ? FROM json_each(?) AS e WHERE true \
             ON CONFLICT (connector_id, subject, scim_id) DO UPDATE SET name = excluded.name, \
             outcome = excluded.outcome, reason = excluded.reason, warnings = excluded.warnings, \
             source = excluded.source, at_ms = excluded.at_ms; \
             INSERT INTO sync_runs (connector_id, started_ms, source, last_ms, created, updated, \
             unchanged, disabled, deleted, filtered, failed) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (connector_id, started_ms, source) DO UPDATE SET \
             last_ms = max(last_ms, excluded.last_ms), created = created + excluded.created, \
             updated = updated + excluded.updated, unchanged = unchanged + excluded.unchanged, \
             disabled = disabled + excluded.disabled, deleted = deleted + excluded.deleted, \
             filtered = filtered + excluded.filtered, failed = failed + excluded.failed;"
            };
        }
        let has_audit = !self.audit.is_empty();
        let has_outcomes = !self.outcomes.is_empty() && self.connector_id.is_some();
        let sql: &'static str = match (has_audit, has_outcomes) {
            (false, false) => return Ok(()),
            (true, false) => audit_sql!(),
            (false, true) => outcomes_sql!(),
            (true, true) => concat!(audit_sql!(), " ", outcomes_sql!()),
        };
        let mut q = sqlx::query(sql);
        if has_audit {
            q = q
                .bind(self.at_ms)
                .bind(self.connector_id.as_deref())
                .bind(&self.actor)
                .bind(self.request_id.as_deref())
                .bind(Value::Array(self.audit).to_string());
        }
        if has_outcomes {
            let c = self.counters;
            let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            q = q
                .bind(self.connector_id.as_deref())
                .bind(self.source.as_str())
                .bind(self.at_ms)
                .bind(Value::Array(self.outcomes).to_string())
                .bind(self.connector_id.as_deref())
                .bind(self.run_ms)
                .bind(self.source.as_str())
                .bind(self.at_ms)
                .bind(n(c.created))
                .bind(n(c.updated))
                .bind(n(c.unchanged))
                .bind(n(c.disabled))
                .bind(n(c.deleted))
                .bind(n(c.filtered))
                .bind(n(c.failed));
        }
        q.execute(&mut *conn).await.map_err(backend)?;
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
