//! Preview and apply: the engine over every IdP group and user of a connector.
//!
//! Both run the same sequence: the IdP groups in creation order, then the directory groups
//! whose IdP group is gone; the SCIM users in creation order; then the directory users whose
//! SCIM user is gone. Each decision sees the ones before it.
//!
//! - **Preview** reads everything in one read transaction (a consistent snapshot), loads the
//!   connector directory whole into a [`Workset`], maps each IdP group once, pages through the
//!   SCIM users and records every result in the workset without writing. Memory: the
//!   directory and the SCIM membership pairs, not the SCIM bodies.
//! - **Apply** runs the same sequence in batches, each one job of the writer (one
//!   transaction, so SCIM writes interleave with a long apply), each gathering what its users
//!   need with the write path's indexed queries ([`SyncJob`]). The settings version is pinned
//!   at the start; a batch that finds another one stops the apply with a conflict.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use roster_core::StoreError;
use roster_core::settings::CompiledSettings;
use roster_core::store::{ReportedUser, SyncOptions, SyncReport, SyncSource, WriteContext};
use roster_core::sync::{
    GroupInput, GroupResult, IdpGroup, Outcome, SyncSummary, UserInput, UserResult,
};
use serde_json::{Map, Value};

use super::exec::{Conn, query, query_as, query_scalar};
use super::rows::{group_columns, group_row, origin, user_columns, user_row};
use super::settings::compiled;
use super::sync::{IdpGroupCache, ScimUser, SyncJob, load_copy_sources};
use super::{Shared, SqliteStore, backend};
use crate::workset::Workset;

/// SCIM users read per page by a preview.
const PAGE: i64 = 2_000;

/// Directory rows read per page by a preview.
const LOAD_PAGE: i64 = 5_000;

/// The default apply batch.
const BATCH: usize = 500;

/// A report being built.
struct Report {
    summary: SyncSummary,
    groups: Vec<GroupResult>,
    users: Vec<ReportedUser>,
    truncated: bool,
    max: usize,
}

impl Report {
    fn new(max: usize) -> Self {
        Self {
            summary: SyncSummary::default(),
            groups: Vec::new(),
            users: Vec::new(),
            truncated: false,
            max,
        }
    }

    fn group(&mut self, r: GroupResult) {
        self.summary.add_group(&r);
        if r.change.is_some() || matches!(r.outcome, Outcome::Failed { .. }) {
            self.groups.push(r);
        }
    }

    fn user(&mut self, r: ReportedUser) {
        self.summary.add_user(&r.result);
        if !worth_listing(&r.result) {
            return;
        }
        if self.users.len() < self.max {
            self.users.push(r);
        } else {
            self.truncated = true;
        }
    }

    fn finish(self, connector_id: &str, settings_version: Option<i64>) -> SyncReport {
        SyncReport {
            connector_id: connector_id.to_owned(),
            settings_version,
            summary: self.summary,
            groups: self.groups,
            users: self.users,
            truncated: self.truncated,
        }
    }
}

/// Users a report lists: those with a change, a failure or a warning.
fn worth_listing(r: &UserResult) -> bool {
    r.has_changes() || matches!(r.outcome, Outcome::Failed { .. }) || !r.warnings.is_empty()
}

fn connector_exists(conn: &Conn, id: &str) -> Result<bool, StoreError> {
    Ok(
        query_scalar::<i64>("SELECT count(*) FROM connectors WHERE id = ?")
            .bind(id)
            .fetch_one(conn)
            .map_err(backend)?
            > 0,
    )
}

/// The settings a preview or apply runs: proposed, or stored (with their version).
fn settings_for(
    conn: &Conn,
    shared: &Shared,
    connector_id: &str,
    options: &SyncOptions,
) -> Result<(Option<i64>, Arc<CompiledSettings>), StoreError> {
    if let Some(proposed) = &options.proposed {
        let compiled = proposed.compile().map_err(StoreError::InvalidSettings)?;
        return Ok((None, Arc::new(compiled)));
    }
    let (version, compiled) = compiled(conn, &shared.settings, connector_id, None)?;
    let compiled = compiled.map_err(|errors| StoreError::InvalidSettings(errors.to_vec()))?;
    Ok((Some(version), compiled))
}

/// Previews a sync of the connector: `conn` is a read transaction of its own
/// ([`SqliteStore::read_snapshot`]), so every read sees one snapshot.
pub(super) fn preview(
    conn: &Conn,
    shared: &Shared,
    connector_id: &str,
    options: &SyncOptions,
) -> Result<SyncReport, StoreError> {
    if !connector_exists(conn, connector_id)? {
        return Err(StoreError::NotFound);
    }
    let (version, settings) = settings_for(conn, shared, connector_id, options)?;
    let mut ws = load_directory(conn, connector_id)?;
    if let Some(from) = settings.copy_from() {
        load_copy_sources(conn, &mut ws, from, None)?;
    }
    let mut report = Report::new(options.max_details);

    // IdP groups, mapped once.
    let rows: Vec<(String, String)> =
        query_as("SELECT id, body FROM scim_groups WHERE connector_id = ? ORDER BY seq")
            .bind(connector_id)
            .fetch_all(conn)
            .map_err(backend)?;
    let mut idp_groups: HashMap<String, IdpGroup> = HashMap::with_capacity(rows.len());
    let mut order = Vec::with_capacity(rows.len());
    for (id, body) in rows {
        let body: Map<String, Value> = serde_json::from_str(&body).map_err(StoreError::backend)?;
        idp_groups.insert(id.clone(), settings.map_group(&id, &body));
        order.push(id);
    }
    for id in &order {
        let input = GroupInput::Present(idp_groups[id].clone());
        report.group(ws.preview_group(&settings, &input));
    }
    let mut gone: Vec<(i64, String)> = ws
        .groups()
        .filter_map(|g| {
            let idp = g.idp_id.as_ref()?;
            (!idp_groups.contains_key(idp)).then(|| (g.id.parse().unwrap_or(i64::MAX), idp.clone()))
        })
        .collect();
    gone.sort();
    for (_, scim_id) in gone {
        report.group(ws.preview_group(&settings, &GroupInput::Deleted { scim_id }));
    }

    // The users' IdP groups, one group at a time (each read is the size of a group, not of
    // all memberships), kept as indexes into `order`.
    let mut groups_of: HashMap<String, Vec<u32>> = HashMap::new();
    for (i, group) in order.iter().enumerate() {
        let members: Vec<String> = query_scalar(
            "SELECT member_id FROM scim_memberships \
             WHERE connector_id = ? AND group_id = ? AND member_type = 'User'",
        )
        .bind(connector_id)
        .bind(group)
        .fetch_all(conn)
        .map_err(backend)?;
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        for user in members {
            groups_of.entry(user).or_default().push(i);
        }
    }

    // The users, a page at a time.
    let mut present = HashSet::new();
    let mut after = 0_i64;
    loop {
        let rows: Vec<(i64, String, String)> = query_as(
            "SELECT seq, id, body FROM scim_users WHERE connector_id = ? AND seq > ? \
             ORDER BY seq LIMIT ?",
        )
        .bind(connector_id)
        .bind(after)
        .bind(PAGE)
        .fetch_all(conn)
        .map_err(backend)?;
        let n = rows.len();
        for (seq, id, body) in rows {
            after = seq;
            let body: Map<String, Value> =
                serde_json::from_str(&body).map_err(StoreError::backend)?;
            let mut group_ids: Vec<&str> = groups_of
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| order.get(i as usize).map(String::as_str))
                .collect();
            group_ids.sort_unstable();
            let groups = group_ids
                .iter()
                .filter_map(|g| idp_groups.get(*g).cloned())
                .collect();
            let input = UserInput::present(&settings, &id, &body, groups);
            let result = ws.preview_user(&settings, &input);
            let name = ws
                .result_name(&result)
                .or_else(|| input.username().map(str::to_owned))
                .or_else(|| {
                    body.get("userName")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                });
            report.user(ReportedUser {
                username: name,
                result,
            });
            present.insert(id);
        }
        if i64::try_from(n).unwrap_or(0) < PAGE {
            break;
        }
    }

    // The users the IdP deleted.
    let mut gone: Vec<(i64, String)> = ws
        .users()
        .filter_map(|u| {
            let idp = u.data.idp_id.as_ref()?;
            (!present.contains(idp)).then(|| (u.id.parse().unwrap_or(i64::MAX), idp.clone()))
        })
        .collect();
    gone.sort();
    for (_, scim_id) in gone {
        let result = ws.preview_user(&settings, &UserInput::deleted(&scim_id));
        let name = ws.result_name(&result);
        report.user(ReportedUser {
            username: name,
            result,
        });
    }
    Ok(report.finish(connector_id, version))
}

/// The whole connector directory: users, groups, memberships.
fn load_directory(conn: &Conn, directory: &str) -> Result<Workset, StoreError> {
    let mut ws = Workset::new(directory);
    let rows = query(concat!(
        "SELECT ",
        group_columns!(),
        " FROM dir_groups AS g WHERE g.directory_id = ?"
    ))
    .bind(directory)
    .fetch_all(conn)
    .map_err(backend)?;
    for row in &rows {
        ws.add_group(group_row(row, 0)?);
    }
    // Users and memberships a page at a time: reading them all at once would hold every row
    // twice (as rows, then in the workset).
    let mut after = 0_i64;
    loop {
        let rows = query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM dir_users AS u WHERE u.directory_id = ? AND u.id > ? ORDER BY u.id LIMIT ?"
        ))
        .bind(directory)
        .bind(after)
        .bind(LOAD_PAGE)
        .fetch_all(conn)
        .map_err(backend)?;
        for row in &rows {
            after = row.try_get(0).map_err(backend)?;
            ws.add_user(user_row(row, 0)?);
        }
        if i64::try_from(rows.len()).unwrap_or(0) < LOAD_PAGE {
            break;
        }
    }
    let mut after = (0_i64, 0_i64);
    loop {
        let rows: Vec<(i64, i64, String)> = query_as(
            "SELECT m.user_id, m.group_id, m.origin FROM dir_memberships AS m \
             JOIN dir_users AS u ON u.id = m.user_id WHERE u.directory_id = ? \
             AND (m.user_id, m.group_id) > (?, ?) ORDER BY m.user_id, m.group_id LIMIT ?",
        )
        .bind(directory)
        .bind(after.0)
        .bind(after.1)
        .bind(LOAD_PAGE)
        .fetch_all(conn)
        .map_err(backend)?;
        let n = rows.len();
        for (user, group, o) in rows {
            after = (user, group);
            ws.add_membership(&user.to_string(), &group.to_string(), origin(&o)?);
        }
        if i64::try_from(n).unwrap_or(0) < LOAD_PAGE {
            break;
        }
    }
    Ok(ws)
}

/// What one apply batch did, and where the next one starts.
struct Batch<T> {
    results: Vec<T>,
    last: Option<i64>,
    idp_groups: IdpGroupCache,
}

fn changed_settings(pinned: i64, now: i64) -> StoreError {
    StoreError::Conflict(format!(
        "the connector's settings changed during the apply (version {pinned}, now {now}); \
         the batches written stand: run apply again"
    ))
}

/// One writer job of an apply: begins the sync job, checks the settings version, runs
/// `step` (which returns the results and the last key it reached), finishes.
macro_rules! batch {
    ($writer:expr, $shared:expr, $connector:expr, $ctx:expr, $pinned:expr, $groups:expr,
     |$conn:ident, $job:ident, $cid:ident| $step:expr) => {{
        let (shared, $cid, ctx, groups) = (
            Arc::clone($shared),
            $connector.to_owned(),
            $ctx.clone(),
            $groups,
        );
        let pinned = $pinned;
        // The cache is only a shortcut: a second run of the job (see `writer`) maps anew.
        let mut groups = Some(groups);
        $writer
            .write(move |$conn| {
                let mut $job = SyncJob::begin($conn, &shared, &$cid, &ctx, SyncSource::Apply)?
                    .with_idp_groups(groups.take().unwrap_or_default());
                if $job.version() != pinned {
                    return Err(changed_settings(pinned, $job.version()));
                }
                let (results, last) = $step;
                let idp_groups = $job.finish(&shared);
                Ok(Batch {
                    results,
                    last,
                    idp_groups,
                })
            })
            .await?
    }};
}

#[allow(clippy::too_many_lines)] // four phases of one loop each
pub(super) async fn apply(
    store: &SqliteStore,
    connector_id: &str,
    options: &SyncOptions,
    ctx: &WriteContext,
) -> Result<SyncReport, StoreError> {
    let (writer, shared) = (&store.writer, &store.shared);
    let (version, settings) = {
        let (shared, connector_id) = (Arc::clone(shared), connector_id.to_owned());
        let stored = SyncOptions {
            proposed: None,
            ..options.clone()
        };
        store
            .read_snapshot(move |conn| {
                if !connector_exists(conn, &connector_id)? {
                    return Err(StoreError::NotFound);
                }
                settings_for(conn, &shared, &connector_id, &stored)
            })
            .await?
    };
    let pinned = version.unwrap_or_default();
    let size = i64::try_from(if options.batch_size == 0 {
        BATCH
    } else {
        options.batch_size
    })
    .unwrap_or(i64::MAX);
    let mut report = Report::new(options.max_details);
    let mut groups = IdpGroupCache::default();

    // IdP groups.
    let mut after = 0_i64;
    loop {
        let settings = Arc::clone(&settings);
        let b = batch!(
            writer,
            shared,
            connector_id,
            ctx,
            pinned,
            groups,
            |conn, job, cid| {
                let rows: Vec<(i64, String, String)> = query_as(
                    "SELECT seq, id, body FROM scim_groups WHERE connector_id = ? AND seq > ? \
                 ORDER BY seq LIMIT ?",
                )
                .bind(&cid)
                .bind(after)
                .bind(size)
                .fetch_all(conn)
                .map_err(backend)?;
                let mut results = Vec::with_capacity(rows.len());
                let mut last = None;
                for (seq, id, body) in rows {
                    let body: Map<String, Value> =
                        serde_json::from_str(&body).map_err(StoreError::backend)?;
                    let input = GroupInput::Present(settings.map_group(&id, &body));
                    results.push(job.sync_group(conn, input)?);
                    last = Some(seq);
                }
                (results, last)
            }
        );
        groups = b.idp_groups;
        let next = next_after(b.last, b.results.len(), size);
        b.results.into_iter().for_each(|r| report.group(r));
        let Some(last) = next else { break };
        after = last;
    }

    // Directory groups whose IdP group is gone.
    let mut after = 0_i64;
    loop {
        let b = batch!(
            writer,
            shared,
            connector_id,
            ctx,
            pinned,
            groups,
            |conn, job, cid| {
                let rows: Vec<(i64, String)> = query_as(
                    "SELECT g.id, g.idp_id FROM dir_groups AS g WHERE g.directory_id = ?1 \
                 AND g.idp_id IS NOT NULL AND g.id > ?2 AND NOT EXISTS (SELECT 1 FROM \
                 scim_groups AS s WHERE s.connector_id = ?1 AND s.id = g.idp_id) \
                 ORDER BY g.id LIMIT ?3",
                )
                .bind(&cid)
                .bind(after)
                .bind(size)
                .fetch_all(conn)
                .map_err(backend)?;
                let mut results = Vec::with_capacity(rows.len());
                let mut last = None;
                for (id, scim_id) in rows {
                    results.push(job.sync_group(conn, GroupInput::Deleted { scim_id })?);
                    last = Some(id);
                }
                (results, last)
            }
        );
        groups = b.idp_groups;
        let next = next_after(b.last, b.results.len(), size);
        b.results.into_iter().for_each(|r| report.group(r));
        let Some(last) = next else { break };
        after = last;
    }

    // SCIM users.
    let mut after = 0_i64;
    loop {
        let b = batch!(
            writer,
            shared,
            connector_id,
            ctx,
            pinned,
            groups,
            |conn, job, cid| {
                let rows: Vec<(i64, String, String)> = query_as(
                    "SELECT seq, id, body FROM scim_users WHERE connector_id = ? AND seq > ? \
                 ORDER BY seq LIMIT ?",
                )
                .bind(&cid)
                .bind(after)
                .bind(size)
                .fetch_all(conn)
                .map_err(backend)?;
                let last = rows.last().map(|(seq, _, _)| *seq);
                let mut users = Vec::with_capacity(rows.len());
                for (_, id, body) in rows {
                    users.push(ScimUser::Present {
                        id,
                        body: Some(serde_json::from_str(&body).map_err(StoreError::backend)?),
                        new: false,
                    });
                }
                (job.sync_users(conn, users)?, last)
            }
        );
        groups = b.idp_groups;
        let next = next_after(b.last, b.results.len(), size);
        b.results.into_iter().for_each(|r| report.user(r));
        let Some(last) = next else { break };
        after = last;
    }

    // Directory users whose SCIM user is gone.
    let mut after = 0_i64;
    loop {
        let b = batch!(
            writer,
            shared,
            connector_id,
            ctx,
            pinned,
            groups,
            |conn, job, cid| {
                let rows: Vec<(i64, String)> = query_as(
                    "SELECT u.id, u.idp_id FROM dir_users AS u WHERE u.directory_id = ?1 \
                 AND u.idp_id IS NOT NULL AND u.id > ?2 AND NOT EXISTS (SELECT 1 FROM \
                 scim_users AS s WHERE s.connector_id = ?1 AND s.id = u.idp_id) \
                 ORDER BY u.id LIMIT ?3",
                )
                .bind(&cid)
                .bind(after)
                .bind(size)
                .fetch_all(conn)
                .map_err(backend)?;
                let last = rows.last().map(|(id, _)| *id);
                let users = rows
                    .into_iter()
                    .map(|(_, id)| ScimUser::Deleted { id })
                    .collect();
                (job.sync_users(conn, users)?, last)
            }
        );
        groups = b.idp_groups;
        let next = next_after(b.last, b.results.len(), size);
        b.results.into_iter().for_each(|r| report.user(r));
        let Some(last) = next else { break };
        after = last;
    }
    Ok(report.finish(connector_id, version))
}

/// Where the next batch of a keyset walk starts: after the last key read, if the batch was
/// full; a short (or empty) batch was the last.
fn next_after(last: Option<i64>, read: usize, size: i64) -> Option<i64> {
    last.filter(|_| i64::try_from(read).unwrap_or(0) >= size)
}
