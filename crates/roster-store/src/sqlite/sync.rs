//! The sync engine inside SQLite write jobs: gather what the engine needs with indexed
//! queries, run it, write the change set, its audit rows and the outcomes, all in the job's
//! transaction (`roster_core::sync`, "Integration").
//!
//! One [`SyncJob`] per write job. For a set of SCIM users (one for a user write, the k
//! changed members of a group write, a batch of an apply) it reads, set-based, whatever their
//! count:
//!
//! 1. the SCIM bodies not already in hand, the users' SCIM groups and the bodies of the
//!    groups whose mapping is not cached (skipped for a user just created: it has no groups);
//! 2. the connector directory's users linked to their SCIM ids or holding their mapped
//!    usernames, and those users' memberships;
//! 3. with copying on, the same-named users of the copy directory and their memberships;
//! 4. the directory groups of [`roster_core::sync::UserInput::group_lookups`] (skipped when
//!    there are none).
//!
//! Then each user in turn: the engine's result is written (created groups, the user, its
//! memberships; a handful of statements) and recorded in the [`Workset`] for the next user.
//! A user's writes run in a savepoint: if one fails on a constraint (which the engine's own
//! checks should make impossible), they are rolled back and the user's outcome is `failed`,
//! so a SCIM write is never refused for the directory's sake. The audit rows, outcomes and
//! counters are written once at the end of the job ([`Journal::flush`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use roster_core::StoreError;
use roster_core::directory::{DirectoryGroup, DirectoryUser, Membership, fold_name};
use roster_core::settings::CompiledSettings;
use roster_core::store::{
    AuditAction, NewResource, ReportedUser, StoredResource, SubjectKind, SyncSource, SyncSubject,
    WriteContext,
};
use roster_core::sync::{
    GroupChange, GroupInput, GroupMapping, GroupResult, GroupState, IdpGroup, MembershipChange,
    Outcome, UserChange, UserInput, UserResult, sync_group,
};
use serde_json::{Map, Value, json};

use super::exec::{Conn, query, query_as, query_scalar};
use super::journal::Journal;
use super::resources;
use super::rows::{
    USER_WIDTH, attributes_json, group_columns, group_row, int_ids, origin, row_id, texts,
    user_columns, user_row, write_error,
};
use super::settings::{Compiled, compiled};
use super::{Shared, backend, to_ms};
use crate::workset::{Synced, Workset};

/// The mapped IdP groups, by SCIM id, with the version they were mapped at: kept across the
/// batches of an apply so each group is mapped once while it does not change.
#[derive(Debug, Default)]
pub(super) struct IdpGroupCache(HashMap<String, (i64, IdpGroup)>);

/// A SCIM user to sync.
#[derive(Debug)]
pub(super) enum ScimUser {
    /// In the IdP view: its id, its body if the caller has it, and whether it was created in
    /// this job (it has no SCIM groups yet).
    Present {
        id: String,
        body: Option<Map<String, Value>>,
        new: bool,
    },
    /// Deleted by the IdP.
    Deleted { id: String },
}

impl ScimUser {
    fn id(&self) -> &str {
        match self {
            Self::Present { id, .. } | Self::Deleted { id } => id,
        }
    }
}

/// How an IdP group bears on its members' syncs: a change of effect re-syncs every member.
#[derive(Debug, PartialEq, Eq)]
enum GroupEffect {
    /// Not imported (filtered, or deleted).
    Absent,
    /// Its name cannot be mapped: its members' syncs fail.
    Failed,
    /// Imported; whether it is a required group and an always-assign group (which changes
    /// its memberships' origin).
    Imported { required: bool, always: bool },
}

fn effect(settings: &CompiledSettings, group: &IdpGroup) -> GroupEffect {
    match &group.mapping {
        GroupMapping::Imported { name } => GroupEffect::Imported {
            required: settings.has_required_groups() && settings.is_required_group(name),
            always: settings.always_assigns(name),
        },
        GroupMapping::Filtered { .. } => GroupEffect::Absent,
        GroupMapping::Failed { .. } => GroupEffect::Failed,
    }
}

// The statements of the write path, named so that a test can check that each walks an index
// (`plans_use_indexes`): the sync must cost a handful of indexed lookups whatever the
// directory's size.

/// IdP groups by id (`?1` connector, `?2` ids).
const SCIM_GROUPS: &str = "SELECT id, version, body FROM scim_groups WHERE connector_id = ?1 \
     AND id IN (SELECT value FROM json_each(?2))";

/// IdP users by id.
const SCIM_USERS: &str = "SELECT id, body FROM scim_users WHERE connector_id = ?1 \
     AND id IN (SELECT value FROM json_each(?2))";

/// The IdP groups of users (`?2` user ids), with their versions.
const SCIM_GROUPS_OF: &str = "SELECT m.member_id, m.group_id, g.version \
     FROM scim_memberships AS m JOIN scim_groups AS g \
     ON g.connector_id = m.connector_id AND g.id = m.group_id \
     WHERE m.connector_id = ?1 AND m.member_id IN (SELECT value FROM json_each(?2)) \
     AND m.member_type = 'User'";

/// The directory groups linked to an IdP group (`?2`) or holding its name (`?3`).
const GROUP_STATE: &str = concat!(
    "SELECT ",
    group_columns!(),
    " FROM dir_groups AS g WHERE g.directory_id = ?1 AND g.idp_id = ?2 UNION SELECT ",
    group_columns!(),
    " FROM dir_groups AS g WHERE g.directory_id = ?1 AND g.name_lc = ?3"
);

/// The memberships of directory users (`?1` ids), with their groups.
const MEMBERSHIPS_OF: &str = concat!(
    "SELECT m.user_id, m.origin, ",
    group_columns!(),
    " FROM dir_memberships AS m JOIN dir_groups AS g ON g.id = m.group_id \
     WHERE m.user_id IN (SELECT value FROM json_each(?1))"
);

/// The directory groups linked to IdP groups (`?2`) or with names (`?3`).
const GROUP_LOOKUPS: &str = concat!(
    "SELECT ",
    group_columns!(),
    " FROM dir_groups AS g WHERE g.directory_id = ?1 \
     AND g.idp_id IN (SELECT value FROM json_each(?2)) UNION SELECT ",
    group_columns!(),
    " FROM dir_groups AS g WHERE g.directory_id = ?1 \
     AND g.name_lc IN (SELECT value FROM json_each(?3))"
);

/// The directory users linked to SCIM ids (`?2`) or holding usernames (`?3`).
const LINKED_OR_HOLDING: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM dir_users AS u WHERE u.directory_id = ?1 \
     AND u.idp_id IN (SELECT value FROM json_each(?2)) UNION SELECT ",
    user_columns!(),
    " FROM dir_users AS u WHERE u.directory_id = ?1 \
     AND u.username_lc IN (SELECT value FROM json_each(?3))"
);

/// Users of a copy directory (`?1`) with their memberships: keyed by usernames (`?2`) ...
macro_rules! copy_sources {
    ($filter:literal) => {
        concat!(
            "SELECT ",
            user_columns!(),
            ", g.name, g.idp_id, m.origin FROM dir_users AS u \
             LEFT JOIN dir_memberships AS m ON m.user_id = u.id \
             LEFT JOIN dir_groups AS g ON g.id = m.group_id \
             WHERE u.directory_id = ?1 ",
            $filter,
            " ORDER BY u.id"
        )
    };
}
const COPY_SOURCES: &str = copy_sources!("AND u.username_lc IN (SELECT value FROM json_each(?2))");
/// ... or all of them (a preview; `?2` is NULL).
const COPY_DIRECTORY: &str = copy_sources!("AND ?2 IS NULL");

/// The writes of several users in one query, bound in this order: `modified_ms`; user
/// updates `[id, username, username_lc, display_name, email, first_name, last_name, active,
/// attributes, last_login_ms, idp_id, cleanup_reason, cleanup_action, anonymized]`; user ids
/// to delete; memberships to remove `[user_id, group_id]`; memberships to add or re-origin
/// `[user_id, group_id, origin]`. (Plain `?`: the values are dealt to the statements in
/// order, each taking as many as its largest parameter number.)
const DEFERRED_WRITES: &str = "UPDATE dir_users SET username = e.value ->> 1, \
     username_lc = e.value ->> 2, display_name = e.value ->> 3, email = e.value ->> 4, \
     first_name = e.value ->> 5, last_name = e.value ->> 6, active = e.value ->> 7, \
     attributes = e.value ->> 8, last_login_ms = e.value ->> 9, idp_id = e.value ->> 10, \
     cleanup_reason = e.value ->> 11, cleanup_action = e.value ->> 12, \
     anonymized = e.value ->> 13, modified_ms = ? \
     FROM json_each(?) AS e WHERE dir_users.id = e.value ->> 0; \
     DELETE FROM dir_users WHERE id IN (SELECT value FROM json_each(?)); \
     DELETE FROM dir_memberships WHERE (user_id, group_id) IN \
     (SELECT e.value ->> 0, e.value ->> 1 FROM json_each(?) AS e); \
     INSERT INTO dir_memberships (user_id, group_id, origin) \
     SELECT e.value ->> 0, e.value ->> 1, e.value ->> 2 FROM json_each(?) AS e WHERE true \
     ON CONFLICT (user_id, group_id) DO UPDATE SET origin = excluded.origin";

/// The holder of a username in a directory (`?` directory, username).
const HOLDER: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM dir_users AS u WHERE u.directory_id = ? AND u.username_lc = ?"
);

/// A new directory user, unless someone holds its username or a user is linked to its SCIM
/// id already (the user's data, `modified_ms`, directory, `created_ms`, then directory and
/// username, directory and SCIM id).
const INSERT_UNLESS_HELD: &str = "INSERT INTO dir_users (username, username_lc, display_name, \
     email, first_name, last_name, active, attributes, last_login_ms, idp_id, cleanup_reason, \
     cleanup_action, anonymized, modified_ms, directory_id, created_ms) \
     SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? \
     WHERE NOT EXISTS (SELECT 1 FROM dir_users WHERE directory_id = ? AND username_lc = ?) \
     AND NOT EXISTS (SELECT 1 FROM dir_users WHERE directory_id = ? AND idp_id = ?) \
     RETURNING id";

/// The syncs of one write job (see the module docs).
#[derive(Debug)]
pub(super) struct SyncJob {
    connector_id: String,
    version: i64,
    settings: Compiled,
    journal: Journal,
    idp_groups: IdpGroupCache,
}

impl SyncJob {
    /// Starts the syncs of a job for a connector: its compiled settings (cached per version).
    pub(super) fn begin(
        conn: &Conn,
        shared: &Shared,
        connector_id: &str,
        ctx: &WriteContext,
        source: SyncSource,
    ) -> Result<Self, StoreError> {
        let (version, settings) =
            compiled(conn, &shared.settings, connector_id, Some(shared.batch()))?;
        Ok(Self {
            connector_id: connector_id.to_owned(),
            version,
            settings,
            journal: Journal::new(Some(connector_id), ctx, source),
            idp_groups: IdpGroupCache::default(),
        })
    }

    /// The settings version the job runs.
    pub(super) fn version(&self) -> i64 {
        self.version
    }

    /// Uses (and fills) `cache` for the IdP groups' mappings.
    pub(super) fn with_idp_groups(mut self, cache: IdpGroupCache) -> Self {
        self.idp_groups = cache;
        self
    }

    /// The settings, or why they do not compile.
    fn settings(&self) -> Result<Arc<CompiledSettings>, String> {
        self.settings.clone().map_err(|errors| {
            format!(
                "the connector's settings do not compile: {}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
    }

    /// Hands the audit rows and sync results to the batch; returns the IdP group mappings for
    /// the next job of an apply.
    pub(super) fn finish(self, shared: &Shared) -> IdpGroupCache {
        self.journal.submit(&shared.journal);
        self.idp_groups
    }

    /// The mapped groups `ids` (SCIM group ids, with the version each has now).
    fn map_groups(
        &mut self,
        conn: &Conn,
        settings: &CompiledSettings,
        ids: &[(String, i64)],
    ) -> Result<(), StoreError> {
        let missing: BTreeSet<&str> = ids
            .iter()
            .filter(|(id, v)| self.idp_groups.0.get(id).is_none_or(|(cv, _)| cv != v))
            .map(|(id, _)| id.as_str())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let rows: Vec<(String, i64, String)> = query_as(SCIM_GROUPS)
            .bind(&self.connector_id)
            .bind(texts(missing))
            .fetch_all(conn)
            .map_err(backend)?;
        for (id, version, body) in rows {
            let body: Map<String, Value> =
                serde_json::from_str(&body).map_err(StoreError::backend)?;
            let mapped = settings.map_group(&id, &body);
            self.idp_groups.0.insert(id, (version, mapped));
        }
        Ok(())
    }

    /// Syncs SCIM users (in the order given); ids that are not users of the connector (a
    /// group's member that is a group) are skipped. Returns each user's result, for reports.
    pub(super) fn sync_users(
        &mut self,
        conn: &Conn,
        users: Vec<ScimUser>,
    ) -> Result<Vec<ReportedUser>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let settings = match self.settings() {
            Ok(s) => s,
            Err(reason) => {
                return Ok(users
                    .iter()
                    .map(|u| self.fail(u.id(), None, &reason))
                    .collect());
            }
        };
        let inputs = self.inputs(conn, &settings, users)?;
        self.sync_inputs(conn, &settings, inputs, None)
    }

    /// Syncs users whose inputs are ready; `preloaded`: the directory users their keys name,
    /// if the caller already read them.
    fn sync_inputs(
        &mut self,
        conn: &Conn,
        settings: &CompiledSettings,
        inputs: Vec<(UserInput, Option<String>)>,
        preloaded: Option<Vec<DirectoryUser>>,
    ) -> Result<Vec<ReportedUser>, StoreError> {
        let mut ws = Workset::new(&self.connector_id);
        load_keyed(
            conn,
            &mut ws,
            settings,
            inputs.iter().map(|(i, _)| i),
            preloaded,
        )?;
        if inputs.len() > 1 {
            let mark = self.journal.mark_all();
            exec(conn, "SAVEPOINT sync_batch")?;
            match self.sync_batched(conn, settings, &inputs, &mut ws) {
                Ok(out) => {
                    exec(conn, "RELEASE sync_batch")?;
                    return Ok(out);
                }
                Err(StoreError::Conflict(message)) => {
                    // Something the batch assumed did not hold (two renames in one
                    // statement, say): start again, one user at a time.
                    tracing::debug!(error = %message, "batched sync writes refused; one by one");
                    exec(conn, "ROLLBACK TO sync_batch; RELEASE sync_batch")?;
                    self.journal.truncate_all(mark);
                    ws = Workset::new(&self.connector_id);
                    load_keyed(conn, &mut ws, settings, inputs.iter().map(|(i, _)| i), None)?;
                }
                Err(e) => return Err(e),
            }
        }
        let mut out = Vec::with_capacity(inputs.len());
        for (input, scim_name) in inputs {
            let synced = ws.sync_user(settings, &input);
            let result = self.apply_guarded(conn, &mut ws, synced)?;
            let name = ws
                .result_name(&result)
                .or_else(|| input.username().map(str::to_owned))
                .or(scim_name);
            self.journal.outcome(
                SyncSubject::User,
                &input.scim_id,
                name.as_deref(),
                &result.outcome,
                &result.warnings,
            );
            out.push(ReportedUser {
                username: name,
                result,
            });
        }
        Ok(out)
    }

    /// Syncs several users with their writes gathered: results that need no new ids (updates,
    /// deletes, memberships) go into one set-based write, made before any write that
    /// does (a create) and at the end, so the order of the writes is the order of the users.
    /// Any constraint failure fails the whole batch (the caller rolls it back and starts
    /// again one user at a time, each in its own savepoint).
    fn sync_batched(
        &mut self,
        conn: &Conn,
        settings: &CompiledSettings,
        inputs: &[(UserInput, Option<String>)],
        ws: &mut Workset,
    ) -> Result<Vec<ReportedUser>, StoreError> {
        let at = self.journal.at_ms();
        let mut deferred = Deferred::default();
        let mut out = Vec::with_capacity(inputs.len());
        for (input, scim_name) in inputs {
            let synced = ws.sync_user(settings, input);
            let r = &synced.result;
            if r.has_changes() {
                if r.create_groups.is_empty() && !matches!(r.user, Some(UserChange::Create { .. }))
                {
                    deferred.add(ws, &mut self.journal, &synced)?;
                    ws.record_user(r, synced.owner.as_deref());
                } else {
                    deferred.flush(conn, at)?;
                    // Inside the batch's savepoint: no savepoint of its own.
                    let mut sp = Savepoint { open: true };
                    let mut created = Vec::new();
                    apply_user(conn, ws, &mut self.journal, &synced, &mut created, &mut sp)?;
                }
            }
            let result = synced.result;
            let name = ws
                .result_name(&result)
                .or_else(|| input.username().map(str::to_owned))
                .or_else(|| scim_name.clone());
            self.journal.outcome(
                SyncSubject::User,
                &input.scim_id,
                name.as_deref(),
                &result.outcome,
                &result.warnings,
            );
            out.push(ReportedUser {
                username: name,
                result,
            });
        }
        deferred.flush(conn, at)?;
        Ok(out)
    }

    fn fail(&mut self, scim_id: &str, name: Option<String>, reason: &str) -> ReportedUser {
        let result = failed(scim_id, reason.to_owned(), Vec::new());
        self.journal.outcome(
            SyncSubject::User,
            scim_id,
            name.as_deref(),
            &result.outcome,
            &[],
        );
        ReportedUser {
            username: name,
            result,
        }
    }

    /// The engine's inputs: SCIM bodies and groups, mapped.
    fn inputs(
        &mut self,
        conn: &Conn,
        settings: &CompiledSettings,
        users: Vec<ScimUser>,
    ) -> Result<Vec<(UserInput, Option<String>)>, StoreError> {
        let wanted: Vec<&str> = users
            .iter()
            .filter_map(|u| match u {
                ScimUser::Present { id, body: None, .. } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        let mut bodies: HashMap<String, Map<String, Value>> = HashMap::new();
        if !wanted.is_empty() {
            let rows: Vec<(String, String)> = query_as(SCIM_USERS)
                .bind(&self.connector_id)
                .bind(texts(wanted))
                .fetch_all(conn)
                .map_err(backend)?;
            for (id, body) in rows {
                bodies.insert(
                    id,
                    serde_json::from_str(&body).map_err(StoreError::backend)?,
                );
            }
        }
        let grouped: Vec<&str> = users
            .iter()
            .filter_map(|u| match u {
                ScimUser::Present { id, new: false, .. } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        let mut groups_of: HashMap<String, Vec<String>> = HashMap::new();
        if !grouped.is_empty() {
            let pairs: Vec<(String, String, i64)> = query_as(SCIM_GROUPS_OF)
                .bind(&self.connector_id)
                .bind(texts(grouped))
                .fetch_all(conn)
                .map_err(backend)?;
            let versions: Vec<(String, i64)> = pairs
                .iter()
                .map(|(_, g, v)| (g.clone(), *v))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            self.map_groups(conn, settings, &versions)?;
            for (user, group, _) in pairs {
                groups_of.entry(user).or_default().push(group);
            }
        }
        let mut inputs = Vec::with_capacity(users.len());
        for user in users {
            match user {
                ScimUser::Present { id, body, .. } => {
                    let Some(body) = body.or_else(|| bodies.remove(&id)) else {
                        continue;
                    };
                    let mut group_ids = groups_of.remove(&id).unwrap_or_default();
                    // One order for every path, so that preview and apply see the same
                    // "first" of two groups mapping to one name.
                    group_ids.sort();
                    let groups = group_ids
                        .iter()
                        .filter_map(|g| self.idp_groups.0.get(g).map(|(_, m)| m.clone()))
                        .collect();
                    let scim_name = body
                        .get("userName")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    inputs.push((UserInput::present(settings, &id, &body, groups), scim_name));
                }
                ScimUser::Deleted { id } => inputs.push((UserInput::deleted(&id), None)),
            }
        }
        Ok(inputs)
    }

    /// Writes one user's result in a savepoint; a constraint failure rolls it back and makes
    /// the outcome `failed`.
    fn apply_guarded(
        &mut self,
        conn: &Conn,
        ws: &mut Workset,
        synced: Synced,
    ) -> Result<UserResult, StoreError> {
        if !synced.result.has_changes() {
            return Ok(synced.result);
        }
        let mark = self.journal.mark();
        let mut created = Vec::new();
        let mut sp = Savepoint::default();
        match apply_user(conn, ws, &mut self.journal, &synced, &mut created, &mut sp) {
            Ok(()) => {
                if sp.open {
                    exec(conn, "RELEASE sync_user")?;
                }
                Ok(synced.result)
            }
            Err(StoreError::Conflict(message)) => {
                if sp.open {
                    exec(conn, "ROLLBACK TO sync_user; RELEASE sync_user")?;
                }
                self.journal.truncate(mark);
                for id in created {
                    ws.remove_group(&id);
                }
                tracing::warn!(
                    connector = %self.connector_id,
                    scim_id = %synced.result.scim_id,
                    error = %message,
                    "a directory write of a sync failed; the user's changes were rolled back"
                );
                Ok(failed(
                    &synced.result.scim_id,
                    format!("the directory refused the change: {message}"),
                    synced.result.warnings,
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// Syncs one IdP group ([`sync_group`]) and writes its change.
    pub(super) fn sync_group(
        &mut self,
        conn: &Conn,
        input: GroupInput,
    ) -> Result<GroupResult, StoreError> {
        let settings = match self.settings() {
            Ok(s) => s,
            Err(reason) => {
                let result = GroupResult {
                    scim_id: input.scim_id().to_owned(),
                    outcome: Outcome::Failed { reason },
                    change: None,
                };
                self.group_outcome(&result, None);
                return Ok(result);
            }
        };
        let rows = query(GROUP_STATE)
            .bind(&self.connector_id)
            .bind(input.scim_id())
            .bind(input.name().map(fold_name))
            .fetch_all(conn)
            .map_err(backend)?;
        let mut ws = Workset::new(&self.connector_id);
        for row in &rows {
            ws.add_group(group_row(row, 0)?);
        }
        let (linked, name_holder) = ws.group_state(&input);
        let result = sync_group(
            &settings,
            &input,
            &GroupState {
                linked,
                name_holder,
            },
        );
        let name = match &result.change {
            Some(
                GroupChange::Create { name, .. }
                | GroupChange::Link { name, .. }
                | GroupChange::Unlink { name, .. }
                | GroupChange::Delete { name, .. },
            ) => Some(name.clone()),
            Some(GroupChange::Rename { to, .. }) => Some(to.clone()),
            None => input.name().map(str::to_owned),
        };
        let Some(change) = &result.change else {
            self.group_outcome(&result, name.as_deref());
            return Ok(result);
        };
        exec(conn, "SAVEPOINT sync_group")?;
        let mark = self.journal.mark();
        match apply_group(conn, &ws, &mut self.journal, change) {
            Ok(()) => {
                exec(conn, "RELEASE sync_group")?;
                self.group_outcome(&result, name.as_deref());
                Ok(result)
            }
            Err(StoreError::Conflict(message)) => {
                exec(conn, "ROLLBACK TO sync_group; RELEASE sync_group")?;
                self.journal.truncate(mark);
                let result = GroupResult {
                    scim_id: result.scim_id,
                    outcome: Outcome::Failed {
                        reason: format!("the directory refused the change: {message}"),
                    },
                    change: None,
                };
                self.group_outcome(&result, name.as_deref());
                Ok(result)
            }
            Err(e) => Err(e),
        }
    }

    fn group_outcome(&mut self, result: &GroupResult, name: Option<&str>) {
        self.journal.outcome(
            SyncSubject::Group,
            &result.scim_id,
            name,
            &result.outcome,
            &[],
        );
    }

    /// How a SCIM group body bears on its members' syncs (`None` without settings).
    fn effect(&self, scim_id: &str, body: &Map<String, Value>) -> Option<GroupEffect> {
        let settings = self.settings.as_ref().ok()?;
        Some(effect(settings, &settings.map_group(scim_id, body)))
    }

    /// The mapped IdP group of a body.
    fn map_group(&self, scim_id: &str, body: &Map<String, Value>) -> Option<IdpGroup> {
        let settings = self.settings.as_ref().ok()?;
        Some(settings.map_group(scim_id, body))
    }
}

fn failed(scim_id: &str, reason: String, warnings: Vec<String>) -> UserResult {
    UserResult {
        scim_id: scim_id.to_owned(),
        outcome: Outcome::Failed { reason },
        user: None,
        memberships: Vec::new(),
        create_groups: Vec::new(),
        warnings,
    }
}

fn exec(conn: &Conn, sql: &'static str) -> Result<(), StoreError> {
    conn.execute_batch(sql).map_err(backend)
}

/// Loads into `ws` what syncing `inputs` needs (steps 2 to 4 of the module docs); the
/// directory users of step 2 are `preloaded` when the caller read them already.
pub(super) fn load_keyed<'a>(
    conn: &Conn,
    ws: &mut Workset,
    settings: &CompiledSettings,
    inputs: impl Iterator<Item = &'a UserInput> + Clone,
    preloaded: Option<Vec<DirectoryUser>>,
) -> Result<(), StoreError> {
    let directory = ws.directory().to_owned();
    let users = match preloaded {
        Some(users) => users,
        None => linked_or_holding(conn, &directory, inputs.clone())?,
    };
    let mut user_ids = Vec::with_capacity(users.len());
    for user in users {
        user_ids.push(user.id.clone());
        ws.add_user(user);
    }
    if !user_ids.is_empty() {
        let rows = query(MEMBERSHIPS_OF)
            .bind(int_ids(user_ids.iter().map(String::as_str)))
            .fetch_all(conn)
            .map_err(backend)?;
        for row in &rows {
            let user_id: i64 = row.try_get(0).map_err(backend)?;
            let origin = origin(&row.try_get::<String>(1).map_err(backend)?)?;
            let group = group_row(row, 2)?;
            let group_id = group.id.clone();
            if !ws.has_group(&group_id) {
                ws.add_group(group);
            }
            ws.add_membership(&user_id.to_string(), &group_id, origin);
        }
    }
    if let Some(from) = settings.copy_from() {
        let new_names: Vec<String> = inputs
            .clone()
            .filter(|i| ws.linked(&i.scim_id).is_none())
            .filter_map(UserInput::username)
            .map(fold_name)
            .collect();
        if !new_names.is_empty() {
            load_copy_sources(conn, ws, from, Some(&new_names))?;
        }
    }
    let mut lookup_ids = BTreeSet::new();
    let mut lookup_names = BTreeSet::new();
    for input in inputs {
        let l = ws.group_lookups(settings, input);
        lookup_ids.extend(l.idp_ids);
        lookup_names.extend(l.names);
    }
    if !lookup_ids.is_empty() || !lookup_names.is_empty() {
        let rows = query(GROUP_LOOKUPS)
            .bind(&directory)
            .bind(texts(lookup_ids.iter().map(String::as_str)))
            .bind(texts(lookup_names.iter().map(String::as_str)))
            .fetch_all(conn)
            .map_err(backend)?;
        for row in &rows {
            let group = group_row(row, 0)?;
            if !ws.has_group(&group.id) {
                ws.add_group(group);
            }
        }
    }
    Ok(())
}

/// The directory users linked to the inputs' SCIM ids or holding their mapped usernames.
fn linked_or_holding<'a>(
    conn: &Conn,
    directory: &str,
    inputs: impl Iterator<Item = &'a UserInput> + Clone,
) -> Result<Vec<DirectoryUser>, StoreError> {
    let idp_ids = texts(inputs.clone().map(|i| i.scim_id.as_str()));
    let names: Vec<String> = inputs
        .filter_map(UserInput::username)
        .map(fold_name)
        .collect();
    let rows = query(LINKED_OR_HOLDING)
        .bind(directory)
        .bind(&idp_ids)
        .bind(texts(names.iter().map(String::as_str)))
        .fetch_all(conn)
        .map_err(backend)?;
    rows.iter().map(|r| user_row(r, 0)).collect()
}

/// Loads the users of the copy directory `from` (those with the folded `names`, or all) with
/// their memberships there, as copy sources.
pub(super) fn load_copy_sources(
    conn: &Conn,
    ws: &mut Workset,
    from: &str,
    names: Option<&[String]>,
) -> Result<(), StoreError> {
    // Two statements rather than one with an OR, so the keyed one walks the username index.
    let sql = if names.is_some() {
        COPY_SOURCES
    } else {
        COPY_DIRECTORY
    };
    let rows = query(sql)
        .bind(from)
        .bind(names.map(|n| texts(n.iter().map(String::as_str))))
        .fetch_all(conn)
        .map_err(backend)?;
    let mut current: Option<(roster_core::directory::DirectoryUser, Vec<Membership>)> = None;
    for row in &rows {
        let user = user_row(row, 0)?;
        if current.as_ref().is_none_or(|(u, _)| u.id != user.id) {
            if let Some((u, m)) = current.take() {
                ws.add_copy_source(u, m);
            }
            current = Some((user, Vec::new()));
        }
        let group: Option<String> = row.try_get(USER_WIDTH).map_err(backend)?;
        if let (Some(group), Some((_, memberships))) = (group, current.as_mut()) {
            memberships.push(Membership {
                group,
                idp_group: row.try_get(USER_WIDTH + 1).map_err(backend)?,
                origin: origin(&row.try_get::<String>(USER_WIDTH + 2).map_err(backend)?)?,
            });
        }
    }
    if let Some((u, m)) = current {
        ws.add_copy_source(u, m);
    }
    Ok(())
}

/// Binds a user's data, then `modified_ms`, in the order of the INSERT and UPDATE below.
macro_rules! bind_user {
    ($q:expr, $data:expr, $at:expr $(,)?) => {{
        let data: &roster_core::directory::UserData = $data;
        let (reason, action) = match data.cleanup {
            Some(c) => (Some(c.reason.as_str()), Some(c.action.as_str())),
            None => (None, None),
        };
        $q.bind(data.username.clone())
            .bind(fold_name(&data.username))
            .bind(data.display_name.clone())
            .bind(data.email.clone())
            .bind(data.first_name.clone())
            .bind(data.last_name.clone())
            .bind(bool_int(data.active))
            .bind(attributes_json(&data.attributes))
            .bind(data.last_login.map(to_ms))
            .bind(data.idp_id.clone())
            .bind(reason)
            .bind(action)
            .bind(bool_int(data.anonymized))
            .bind($at)
    }};
}

fn user_json(data: &roster_core::directory::UserData) -> Value {
    serde_json::to_value(data).unwrap_or(Value::Null)
}

fn events_detail(events: &[roster_core::sync::UserEvent]) -> Option<Value> {
    (!events.is_empty()).then(|| json!({ "events": events }))
}

fn bool_int(b: bool) -> i64 {
    i64::from(b)
}

/// The savepoint of one user's writes, opened by the first of them (`SAVEPOINT` rides along
/// with that statement) and released when the user's writes are done or rolled back: a
/// savepoint left open would make SQLite copy every page the rest of the batch touches into
/// its journal.
#[derive(Debug, Default)]
struct Savepoint {
    open: bool,
}

/// The statement, prefixed with `SAVEPOINT sync_user` if it is the user's first write.
macro_rules! sp {
    ($sp:expr, $sql:expr) => {
        if std::mem::replace(&mut $sp.open, true) {
            $sql
        } else {
            concat!("SAVEPOINT sync_user; ", $sql)
        }
    };
}

/// Writes one user's change set (see the module docs); `created` collects the ids of the
/// groups it creates, so a rollback can forget them.
fn apply_user(
    conn: &Conn,
    ws: &mut Workset,
    journal: &mut Journal,
    synced: &Synced,
    created: &mut Vec<String>,
    sp: &mut Savepoint,
) -> Result<(), StoreError> {
    let r = &synced.result;
    let directory = ws.directory().to_owned();
    let at = journal.at_ms();
    for create in &r.create_groups {
        if ws.group_by_name(&create.name).is_some() {
            continue;
        }
        let id: i64 = query_scalar(sp!(
            sp,
            "INSERT INTO dir_groups (directory_id, name, name_lc, description, idp_id, \
             created_ms, modified_ms) VALUES (?, ?, ?, NULL, ?, ?, ?) RETURNING id"
        ))
        .bind(&directory)
        .bind(&create.name)
        .bind(fold_name(&create.name))
        .bind(create.idp_group.as_deref())
        .bind(at)
        .bind(at)
        .fetch_one(conn)
        .map_err(write_error)?;
        let group = DirectoryGroup {
            id: id.to_string(),
            directory: directory.clone(),
            name: create.name.clone(),
            description: None,
            idp_id: create.idp_group.clone(),
        };
        journal.audit(
            Some(&directory),
            SubjectKind::Group,
            &group.id,
            Some(&group.name),
            AuditAction::GroupCreate,
            None,
            serde_json::to_value(&group).ok(),
            None,
        );
        created.push(group.id.clone());
        ws.add_group(group);
    }
    let (user_id, username) = match &r.user {
        Some(UserChange::Create { data, events }) => {
            let id: i64 = bind_user!(
                query_scalar(sp!(
                    sp,
                    "INSERT INTO dir_users (username, username_lc, display_name, email, \
                     first_name, last_name, active, attributes, last_login_ms, idp_id, \
                     cleanup_reason, cleanup_action, anonymized, modified_ms, directory_id, \
                     created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     RETURNING id"
                )),
                data,
                at,
            )
            .bind(&directory)
            .bind(at)
            .fetch_one(conn)
            .map_err(write_error)?;
            let id = id.to_string();
            journal.audit(
                Some(&directory),
                SubjectKind::User,
                &id,
                Some(&data.username),
                AuditAction::UserCreate,
                None,
                Some(user_json(data)),
                events_detail(events),
            );
            (Some(id), Some(data.username.clone()))
        }
        Some(UserChange::Update {
            user_id,
            before,
            after,
            events,
        }) => {
            bind_user!(
                query(sp!(
                    sp,
                    "UPDATE dir_users SET username = ?, username_lc = ?, display_name = ?, \
                     email = ?, first_name = ?, last_name = ?, active = ?, attributes = ?, \
                     last_login_ms = ?, idp_id = ?, cleanup_reason = ?, cleanup_action = ?, \
                     anonymized = ?, modified_ms = ? WHERE id = ?"
                )),
                after,
                at,
            )
            .bind(row_id(user_id)?)
            .execute(conn)
            .map_err(write_error)?;
            journal.audit(
                Some(&directory),
                SubjectKind::User,
                user_id,
                Some(&after.username),
                AuditAction::UserUpdate,
                Some(user_json(before)),
                Some(user_json(after)),
                events_detail(events),
            );
            (Some(user_id.clone()), Some(after.username.clone()))
        }
        Some(UserChange::Delete { user_id, before }) => {
            query(sp!(sp, "DELETE FROM dir_users WHERE id = ?"))
                .bind(row_id(user_id)?)
                .execute(conn)
                .map_err(write_error)?;
            audit_delete(ws, journal, user_id, before);
            ws.record_user(r, Some(user_id));
            return Ok(());
        }
        None => {
            let owner = synced.owner.clone();
            let name = ws.result_name(r);
            (owner, name)
        }
    };
    if let Some(user_id) = user_id.as_deref()
        && !r.memberships.is_empty()
    {
        write_memberships(conn, ws, journal, user_id, username.as_deref(), r, sp)?;
    }
    ws.record_user(r, user_id.as_deref());
    Ok(())
}

/// A user's membership changes: one upsert (adds and origin changes) and one delete.
fn write_memberships(
    conn: &Conn,
    ws: &Workset,
    journal: &mut Journal,
    user_id: &str,
    username: Option<&str>,
    r: &UserResult,
    sp: &mut Savepoint,
) -> Result<(), StoreError> {
    let (upserts, removes) = membership_ops(ws, journal, user_id, username, r)?;
    let uid = row_id(user_id)?;
    if !upserts.is_empty() {
        query(sp!(
            sp,
            "INSERT INTO dir_memberships (user_id, group_id, origin) \
             SELECT ?, e.value ->> 0, e.value ->> 1 FROM json_each(?) AS e WHERE true \
             ON CONFLICT (user_id, group_id) DO UPDATE SET origin = excluded.origin"
        ))
        .bind(uid)
        .bind(
            Value::from(
                upserts
                    .into_iter()
                    .map(|(g, o)| json!([g, o]))
                    .collect::<Vec<_>>(),
            )
            .to_string(),
        )
        .execute(conn)
        .map_err(write_error)?;
    }
    if !removes.is_empty() {
        query(sp!(
            sp,
            "DELETE FROM dir_memberships WHERE user_id = ? \
             AND group_id IN (SELECT value FROM json_each(?))"
        ))
        .bind(uid)
        .bind(Value::from(removes).to_string())
        .execute(conn)
        .map_err(write_error)?;
    }
    Ok(())
}

/// A user's membership changes as rows to write, `(group id, origin)` to add or re-origin
/// and group ids to remove, with their audit rows.
#[allow(clippy::type_complexity)] // two lists of plain rows
fn membership_ops(
    ws: &Workset,
    journal: &mut Journal,
    user_id: &str,
    username: Option<&str>,
    r: &UserResult,
) -> Result<(Vec<(i64, &'static str)>, Vec<i64>), StoreError> {
    let directory = ws.directory().to_owned();
    let mut upserts = Vec::new();
    let mut removes = Vec::new();
    for change in &r.memberships {
        let (group, idp_group) = match change {
            MembershipChange::Add {
                group, idp_group, ..
            }
            | MembershipChange::Remove {
                group, idp_group, ..
            }
            | MembershipChange::SetOrigin {
                group, idp_group, ..
            } => (group, idp_group.as_deref()),
        };
        let Some(g) = ws.resolve_group(group, idp_group) else {
            // The engine named a group it did not ask to create and the lookups did not
            // find: a bug, reported rather than written half.
            return Err(StoreError::Conflict(format!(
                "membership of '{group}': no such group in the directory"
            )));
        };
        let group_id = row_id(&g.id)?;
        let about = |origin: roster_core::directory::MembershipOrigin| json!({"group": g.name, "group_id": g.id, "idp_group": g.idp_id, "origin": origin});
        let (action, before, after) = match change {
            MembershipChange::Add { origin, .. } => {
                upserts.push((group_id, origin.as_str()));
                (AuditAction::MembershipAdd, None, Some(about(*origin)))
            }
            MembershipChange::SetOrigin { from, to, .. } => {
                upserts.push((group_id, to.as_str()));
                (
                    AuditAction::MembershipOrigin,
                    Some(about(*from)),
                    Some(about(*to)),
                )
            }
            MembershipChange::Remove { origin, .. } => {
                removes.push(group_id);
                (AuditAction::MembershipRemove, Some(about(*origin)), None)
            }
        };
        journal.audit(
            Some(&directory),
            SubjectKind::Membership,
            user_id,
            username,
            action,
            before,
            after,
            None,
        );
    }
    Ok((upserts, removes))
}

/// Writes of several users gathered into one set-based write (see
/// [`SyncJob::sync_batched`]): user updates and deletes, membership additions (and origin
/// changes) and removals.
#[derive(Debug, Default)]
struct Deferred {
    updates: Vec<Value>,
    deletes: Vec<i64>,
    upserts: Vec<Value>,
    removes: Vec<Value>,
}

impl Deferred {
    fn is_empty(&self) -> bool {
        self.updates.is_empty()
            && self.deletes.is_empty()
            && self.upserts.is_empty()
            && self.removes.is_empty()
    }

    /// Adds a user's result (not a create: no new ids), with its audit rows.
    fn add(
        &mut self,
        ws: &Workset,
        journal: &mut Journal,
        synced: &Synced,
    ) -> Result<(), StoreError> {
        let r = &synced.result;
        let directory = ws.directory().to_owned();
        let (user_id, username) = match &r.user {
            Some(UserChange::Update {
                user_id,
                before,
                after,
                events,
            }) => {
                let (reason, action) = match after.cleanup {
                    Some(c) => (Some(c.reason.as_str()), Some(c.action.as_str())),
                    None => (None, None),
                };
                self.updates.push(json!([
                    row_id(user_id)?,
                    after.username,
                    fold_name(&after.username),
                    after.display_name,
                    after.email,
                    after.first_name,
                    after.last_name,
                    bool_int(after.active),
                    attributes_json(&after.attributes),
                    after.last_login.map(to_ms),
                    after.idp_id,
                    reason,
                    action,
                    bool_int(after.anonymized),
                ]));
                journal.audit(
                    Some(&directory),
                    SubjectKind::User,
                    user_id,
                    Some(&after.username),
                    AuditAction::UserUpdate,
                    Some(user_json(before)),
                    Some(user_json(after)),
                    events_detail(events),
                );
                (user_id.clone(), Some(after.username.clone()))
            }
            Some(UserChange::Delete { user_id, before }) => {
                self.deletes.push(row_id(user_id)?);
                audit_delete(ws, journal, user_id, before);
                return Ok(());
            }
            Some(UserChange::Create { .. }) => {
                return Err(StoreError::Backend(
                    "a created user cannot be deferred".into(),
                ));
            }
            None => match &synced.owner {
                Some(owner) => (owner.clone(), ws.result_name(r)),
                None => return Ok(()),
            },
        };
        let (upserts, removes) = membership_ops(ws, journal, &user_id, username.as_deref(), r)?;
        let uid = row_id(&user_id)?;
        self.upserts
            .extend(upserts.into_iter().map(|(g, o)| json!([uid, g, o])));
        self.removes
            .extend(removes.into_iter().map(|g| json!([uid, g])));
        Ok(())
    }

    /// Writes everything in one query; a constraint failure is a `Conflict`.
    fn flush(&mut self, conn: &Conn, at: i64) -> Result<(), StoreError> {
        if self.is_empty() {
            return Ok(());
        }
        let d = std::mem::take(self);
        query(DEFERRED_WRITES)
            .bind(at)
            .bind(Value::Array(d.updates).to_string())
            .bind(Value::from(d.deletes).to_string())
            .bind(Value::Array(d.removes).to_string())
            .bind(Value::Array(d.upserts).to_string())
            .execute(conn)
            .map_err(write_error)?;
        Ok(())
    }
}

/// The audit row of a deleted user (its memberships went with it: how many, from the workset,
/// which holds every membership of the users it loaded).
fn audit_delete(
    ws: &Workset,
    journal: &mut Journal,
    user_id: &str,
    before: &roster_core::directory::UserData,
) {
    let members = ws.memberships_of(user_id).len();
    journal.audit(
        Some(ws.directory()),
        SubjectKind::User,
        user_id,
        Some(&before.username),
        AuditAction::UserDelete,
        Some(user_json(before)),
        None,
        Some(json!({ "memberships_removed": members })),
    );
}

/// Writes one group change, with its audit row.
fn apply_group(
    conn: &Conn,
    ws: &Workset,
    journal: &mut Journal,
    change: &GroupChange,
) -> Result<(), StoreError> {
    let directory = ws.directory().to_owned();
    let at = journal.at_ms();
    let before = |id: &str| {
        ws.groups()
            .find(|g| g.id == id)
            .and_then(|g| serde_json::to_value(g).ok())
    };
    match change {
        GroupChange::Create { name, idp_group } => {
            let id: i64 = query_scalar(
                "INSERT INTO dir_groups (directory_id, name, name_lc, description, idp_id, \
                 created_ms, modified_ms) VALUES (?, ?, ?, NULL, ?, ?, ?) RETURNING id",
            )
            .bind(&directory)
            .bind(name)
            .bind(fold_name(name))
            .bind(idp_group)
            .bind(at)
            .bind(at)
            .fetch_one(conn)
            .map_err(write_error)?;
            let group = DirectoryGroup {
                id: id.to_string(),
                directory: directory.clone(),
                name: name.clone(),
                description: None,
                idp_id: Some(idp_group.clone()),
            };
            journal.audit(
                Some(&directory),
                SubjectKind::Group,
                &group.id,
                Some(name),
                AuditAction::GroupCreate,
                None,
                serde_json::to_value(&group).ok(),
                None,
            );
        }
        GroupChange::Rename { group_id, to, .. }
        | GroupChange::Link {
            group_id, name: to, ..
        } => {
            let idp = match change {
                GroupChange::Link { idp_group, .. } => Some(idp_group.as_str()),
                _ => None,
            };
            let b = before(group_id);
            query(
                "UPDATE dir_groups SET name = ?, name_lc = ?, idp_id = coalesce(?, idp_id), \
                 modified_ms = ? WHERE id = ?",
            )
            .bind(to)
            .bind(fold_name(to))
            .bind(idp)
            .bind(at)
            .bind(row_id(group_id)?)
            .execute(conn)
            .map_err(write_error)?;
            let mut after = b.clone().unwrap_or(Value::Null);
            if let Value::Object(o) = &mut after {
                o.insert("name".into(), json!(to));
                if let Some(idp) = idp {
                    o.insert("idp_id".into(), json!(idp));
                }
            }
            let action = if idp.is_some() {
                AuditAction::GroupLink
            } else {
                AuditAction::GroupRename
            };
            journal.audit(
                Some(&directory),
                SubjectKind::Group,
                group_id,
                Some(to),
                action,
                b,
                Some(after),
                None,
            );
        }
        GroupChange::Unlink { group_id, name } => {
            let b = before(group_id);
            query("UPDATE dir_groups SET idp_id = NULL, modified_ms = ? WHERE id = ?")
                .bind(at)
                .bind(row_id(group_id)?)
                .execute(conn)
                .map_err(write_error)?;
            let mut after = b.clone().unwrap_or(Value::Null);
            if let Value::Object(o) = &mut after {
                o.insert("idp_id".into(), Value::Null);
            }
            journal.audit(
                Some(&directory),
                SubjectKind::Group,
                group_id,
                Some(name),
                AuditAction::GroupUnlink,
                b,
                Some(after),
                None,
            );
        }
        GroupChange::Delete { group_id, name } => {
            let b = before(group_id);
            let id = row_id(group_id)?;
            let members: i64 =
                query_scalar("SELECT count(*) FROM dir_memberships WHERE group_id = ?")
                    .bind(id)
                    .fetch_one(conn)
                    .map_err(backend)?;
            query("DELETE FROM dir_groups WHERE id = ?")
                .bind(id)
                .execute(conn)
                .map_err(write_error)?;
            journal.audit(
                Some(&directory),
                SubjectKind::Group,
                group_id,
                Some(name),
                AuditAction::GroupDelete,
                b,
                None,
                Some(json!({ "memberships_removed": members })),
            );
        }
    }
    Ok(())
}

// ---- the SCIM write path ----

/// Creates a SCIM user and syncs it. The directory user holding its mapped username (a new
/// SCIM id is linked to nobody) is looked up by the query of the insert itself.
pub(super) fn create_user(
    conn: &Conn,
    shared: &Shared,
    connector_id: &str,
    ctx: &WriteContext,
    new: NewResource,
    prepared: Option<PreparedUser>,
) -> Result<StoredResource, StoreError> {
    let mut job = SyncJob::begin(conn, shared, connector_id, ctx, SyncSource::Scim)?;
    let Ok(settings) = job.settings() else {
        resources::insert_user(conn, connector_id, &new, ctx.at)?;
        let users = vec![ScimUser::Present {
            id: new.id.clone(),
            body: None,
            new: true,
        }];
        job.sync_users(conn, users)?;
        job.finish(shared);
        return resources::created(new, ctx.at);
    };
    // Made before the job, if under the settings the job runs.
    let (input, alone) = match prepared {
        Some(p) if Arc::ptr_eq(&p.settings, &settings) && p.scim_id == new.id => (p.input, p.alone),
        _ => {
            let input = UserInput::present(&settings, &new.id, &new.body, Vec::new());
            let alone = alone(&settings, &input);
            (input, alone)
        }
    };
    let scim_name = new
        .body
        .get("userName")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let directory = connector_id.to_owned();
    let Some(name) = input.username().map(fold_name) else {
        // The mapping failed: nothing to look up.
        resources::insert_user(conn, connector_id, &new, ctx.at)?;
        job.sync_inputs(conn, &settings, vec![(input, scim_name)], Some(Vec::new()))?;
        job.finish(shared);
        return resources::created(new, ctx.at);
    };
    if let Some(alone) = alone {
        match &alone.user {
            // Filtered: the result does not depend on the directory.
            None => {
                resources::insert_user(conn, connector_id, &new, ctx.at)?;
                job.journal.outcome(
                    SyncSubject::User,
                    &new.id,
                    Some(&name),
                    &alone.outcome,
                    &alone.warnings,
                );
                job.finish(shared);
                return resources::created(new, ctx.at);
            }
            // Created unless a user holds the username: one conditional insert.
            Some(UserChange::Create { data, events }) => {
                let at = to_ms(ctx.at);
                resources::insert_user(conn, connector_id, &new, ctx.at)?;
                let id: Option<i64> = bind_user!(query_scalar(INSERT_UNLESS_HELD), data, at)
                    .bind(&directory)
                    .bind(at)
                    .bind(&directory)
                    .bind(&name)
                    .bind(&directory)
                    .bind(&new.id)
                    .fetch_optional(conn)
                    .map_err(write_error)?;
                if let Some(id) = id {
                    job.journal.audit(
                        Some(&directory),
                        SubjectKind::User,
                        &id.to_string(),
                        Some(&data.username),
                        AuditAction::UserCreate,
                        None,
                        Some(user_json(data)),
                        events_detail(events),
                    );
                    job.journal.outcome(
                        SyncSubject::User,
                        &new.id,
                        Some(&data.username),
                        &alone.outcome,
                        &alone.warnings,
                    );
                    job.finish(shared);
                    return resources::created(new, ctx.at);
                }
                // Someone holds the username: the engine decides with that user.
                job.sync_inputs(conn, &settings, vec![(input, scim_name)], None)?;
                job.finish(shared);
                return resources::created(new, ctx.at);
            }
            _ => {}
        }
    }
    resources::insert_user(conn, connector_id, &new, ctx.at)?;
    let holders = query(HOLDER)
        .bind(&directory)
        .bind(&name)
        .fetch_all(conn)
        .map_err(backend)?
        .iter()
        .map(|r| user_row(r, 0))
        .collect::<Result<Vec<_>, _>>()?;
    job.sync_inputs(conn, &settings, vec![(input, scim_name)], Some(holders))?;
    job.finish(shared);
    resources::created(new, ctx.at)
}

/// What the sync of a new SCIM user computes from its body and the settings alone: the
/// mapping and, when the directory does not matter, the result ([`alone`]). Made on the
/// request's thread before the write job, with the settings cached then; the job uses it only
/// if it runs under those very settings (the same compiled `Arc`), else it maps again.
#[derive(Debug)]
pub(super) struct PreparedUser {
    settings: Arc<CompiledSettings>,
    scim_id: String,
    input: UserInput,
    alone: Option<UserResult>,
}

/// Prepares the sync of `new` under the connector's cached settings (`None` if none are
/// cached, or they do not compile).
pub(super) fn prepare_user(
    shared: &Shared,
    connector_id: &str,
    new: &NewResource,
) -> Option<PreparedUser> {
    let settings = shared.settings.latest(connector_id)?;
    let input = UserInput::present(&settings, &new.id, &new.body, Vec::new());
    let alone = alone(&settings, &input);
    Some(PreparedUser {
        settings,
        scim_id: new.id.clone(),
        input,
        alone,
    })
}

/// A new user's result when it depends on nothing in the directory but a holder of its
/// username: copying off and no always-assign groups (a new SCIM user has no groups yet), so
/// the engine run against an empty directory gives the result unless a user holds the
/// username. `None` when the settings make the directory matter.
fn alone(settings: &CompiledSettings, input: &UserInput) -> Option<UserResult> {
    if settings.copy_from().is_some() || !settings.always_assign().is_empty() {
        return None;
    }
    let empty = roster_core::sync::GroupIndex::default();
    let result = roster_core::sync::sync_user(
        settings,
        input,
        &roster_core::sync::UserState {
            linked: None,
            username_holder: None,
            memberships: &[],
            groups: &empty,
            copy_source: None,
        },
    );
    (result.memberships.is_empty() && result.create_groups.is_empty()).then_some(result)
}

/// After a SCIM user's body changed.
pub(super) fn user_changed(
    conn: &Conn,
    shared: &Shared,
    connector_id: &str,
    ctx: &WriteContext,
    id: &str,
    body: Map<String, Value>,
) -> Result<(), StoreError> {
    let mut job = SyncJob::begin(conn, shared, connector_id, ctx, SyncSource::Scim)?;
    job.sync_users(
        conn,
        vec![ScimUser::Present {
            id: id.to_owned(),
            body: Some(body),
            new: false,
        }],
    )?;
    job.finish(shared);
    Ok(())
}

/// After a SCIM user was deleted.
pub(super) fn user_deleted(
    conn: &Conn,
    shared: &Shared,
    connector_id: &str,
    ctx: &WriteContext,
    id: &str,
) -> Result<(), StoreError> {
    let mut job = SyncJob::begin(conn, shared, connector_id, ctx, SyncSource::Scim)?;
    job.sync_users(conn, vec![ScimUser::Deleted { id: id.to_owned() }])?;
    job.finish(shared);
    Ok(())
}

fn present(ids: impl IntoIterator<Item = String>) -> Vec<ScimUser> {
    let ids: BTreeSet<String> = ids.into_iter().collect();
    ids.into_iter()
        .map(|id| ScimUser::Present {
            id,
            body: None,
            new: false,
        })
        .collect()
}

/// After a SCIM group was created with `members` (the user members among them are synced).
pub(super) fn group_created(
    conn: &Conn,
    shared: &Shared,
    connector_id: &str,
    ctx: &WriteContext,
    id: &str,
    body: &Map<String, Value>,
    members: Vec<String>,
) -> Result<(), StoreError> {
    let mut job = SyncJob::begin(conn, shared, connector_id, ctx, SyncSource::Scim)?;
    if let Some(mapped) = job.map_group(id, body) {
        job.sync_group(conn, GroupInput::Present(mapped))?;
    }
    job.sync_users(conn, present(members))?;
    job.finish(shared);
    Ok(())
}

/// After a SCIM group changed: its body (`before` → `after`) and/or the user members in
/// `members` (added or removed). A rename is synced to the directory group; only the changed
/// members are synced, unless the group's effect on its members changed (imported or not,
/// required or not, always-assigned or not): then all of them are.
#[allow(clippy::too_many_arguments)] // the parts of one group write
pub(super) fn group_changed(
    conn: &Conn,
    shared: &Shared,
    connector_id: &str,
    ctx: &WriteContext,
    id: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    members: Vec<String>,
) -> Result<(), StoreError> {
    let mut job = SyncJob::begin(conn, shared, connector_id, ctx, SyncSource::Scim)?;
    let mut users = members;
    if before != after {
        if let Some(mapped) = job.map_group(id, after) {
            job.sync_group(conn, GroupInput::Present(mapped))?;
        }
        if job.effect(id, before) != job.effect(id, after) {
            users.extend(scim_user_members(conn, connector_id, id)?);
        }
    }
    job.sync_users(conn, present(users))?;
    job.finish(shared);
    Ok(())
}

/// The user members of a SCIM group: O(its size), only for a change of its effect.
fn scim_user_members(
    conn: &Conn,
    connector_id: &str,
    group_id: &str,
) -> Result<Vec<String>, StoreError> {
    query_scalar(
        "SELECT member_id FROM scim_memberships WHERE connector_id = ? AND group_id = ? \
         AND member_type = 'User'",
    )
    .bind(connector_id)
    .bind(group_id)
    .fetch_all(conn)
    .map_err(backend)
}

/// A SCIM group about to be deleted: the job, and the members to sync afterwards.
#[derive(Debug)]
pub(super) struct GroupDeletion {
    job: SyncJob,
    id: String,
    members: Vec<String>,
}

/// Before a SCIM group is deleted: its members are synced afterwards only if the group bore
/// on their syncs beyond its memberships (a required or always-assign group, or one whose
/// name cannot be mapped); otherwise deleting the directory group is all there is to do.
pub(super) fn group_deleting(
    conn: &Conn,
    shared: &Shared,
    connector_id: &str,
    ctx: &WriteContext,
    id: &str,
) -> Result<GroupDeletion, StoreError> {
    let job = SyncJob::begin(conn, shared, connector_id, ctx, SyncSource::Scim)?;
    let body: Option<String> =
        query_scalar("SELECT body FROM scim_groups WHERE connector_id = ? AND id = ?")
            .bind(connector_id)
            .bind(id)
            .fetch_optional(conn)
            .map_err(backend)?;
    let mut members = Vec::new();
    if let Some(body) = body {
        let body: Map<String, Value> = serde_json::from_str(&body).map_err(StoreError::backend)?;
        let matters = match job.effect(id, &body) {
            Some(GroupEffect::Imported { required, always }) => required || always,
            Some(GroupEffect::Failed) => true,
            Some(GroupEffect::Absent) | None => false,
        };
        if matters {
            members = scim_user_members(conn, connector_id, id)?;
        }
    }
    Ok(GroupDeletion {
        job,
        id: id.to_owned(),
        members,
    })
}

/// After the SCIM group was deleted.
pub(super) fn group_deleted(
    conn: &Conn,
    shared: &Shared,
    deletion: GroupDeletion,
) -> Result<(), StoreError> {
    let GroupDeletion {
        mut job,
        id,
        members,
    } = deletion;
    job.sync_group(conn, GroupInput::Deleted { scim_id: id })?;
    job.sync_users(conn, present(members))?;
    job.finish(shared);
    Ok(())
}

#[cfg(test)]
mod tests {
    use roster_core::Store;
    use roster_core::connector::Connector;
    use roster_core::directory::UserData;
    use roster_core::store::{Actor, NewUser, OutcomeQuery};
    use roster_core::sync::UserEvent;
    use time::OffsetDateTime;

    use super::*;
    use crate::sqlite::SqliteStore;

    /// A store with connector `c` whose directory holds a local user named `taken`.
    async fn connector_with_taken_user() -> (tempfile::TempDir, SqliteStore, WriteContext) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("roster.db"))
            .await
            .unwrap();
        let at = OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap();
        store
            .create_connector(&Connector {
                id: "c".into(),
                name: "C".into(),
                enabled: true,
                created_at: at,
            })
            .await
            .unwrap();
        let ctx = WriteContext::new(at, Actor::Cli);
        store
            .directory()
            .create_user("c", &NewUser::named("taken"), &ctx)
            .await
            .unwrap();
        (dir, store, ctx)
    }

    /// The lines of `sql`'s query plan (its `params` bound to empty JSON arrays).
    fn plan(conn: &Conn, sql: &str, params: usize) -> Result<Vec<String>, StoreError> {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = query(&explain);
        for _ in 0..params {
            q = q.bind("[]");
        }
        q.fetch_all(conn)
            .map_err(|e| StoreError::Invalid(format!("{sql}: {e}")))?
            .iter()
            .map(|r| r.try_get::<String>(3).map_err(backend))
            .collect()
    }

    /// Every lookup of the write path searches an index: no scan of a table whose size is
    /// the directory's or the IdP view's (json_each's arrays are the keys being looked up).
    #[tokio::test]
    async fn plans_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("plan.db")).await.unwrap();
        let statements = [
            ("SCIM_GROUPS", SCIM_GROUPS, 2),
            ("SCIM_USERS", SCIM_USERS, 2),
            ("SCIM_GROUPS_OF", SCIM_GROUPS_OF, 2),
            ("GROUP_STATE", GROUP_STATE, 3),
            ("MEMBERSHIPS_OF", MEMBERSHIPS_OF, 1),
            ("GROUP_LOOKUPS", GROUP_LOOKUPS, 3),
            ("LINKED_OR_HOLDING", LINKED_OR_HOLDING, 3),
            ("COPY_SOURCES", COPY_SOURCES, 2),
            ("holder", HOLDER, 2),
            ("INSERT_UNLESS_HELD", INSERT_UNLESS_HELD, 20),
        ];
        let plans = store
            .read_snapshot(move |conn| {
                statements
                    .into_iter()
                    .map(|(name, sql, params)| Ok((name, plan(conn, sql, params)?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await
            .unwrap();
        for (name, plan) in plans {
            let scans: Vec<&String> = plan
                .iter()
                .filter(|line| {
                    line.starts_with("SCAN")
                        && !line.contains("VIRTUAL TABLE")
                        && !line.contains("CONSTANT ROW")
                })
                .collect();
            assert!(scans.is_empty(), "{name} scans: {plan:#?}");
            assert!(
                plan.iter()
                    .any(|l| l.contains("INDEX") || l.contains("PRIMARY KEY")),
                "{name}: {plan:#?}"
            );
        }
    }

    /// A batch whose gathered writes the directory refuses is rolled back and run again one
    /// user at a time: the user at fault fails, the others are written.
    #[tokio::test]
    async fn a_refused_batch_is_run_again_user_by_user() {
        use roster_core::store::{NewResource, ResourceKind};

        let (_dir, store, ctx) = connector_with_taken_user().await;
        let body = |name: &str| {
            let Value::Object(m) = json!({ "userName": name }) else {
                unreachable!()
            };
            m
        };
        for (id, name) in [("s1", "a"), ("s2", "b")] {
            store
                .create_resource(
                    "c",
                    ResourceKind::User,
                    NewResource {
                        id: id.into(),
                        body: body(name),
                        members: Vec::new(),
                    },
                    &ctx,
                )
                .await
                .unwrap();
        }
        let shared = Arc::clone(&store.shared);
        let results = store
            .writer
            .write(move |conn| {
                let mut job = SyncJob::begin(conn, &shared, "c", &ctx, SyncSource::Scim)?;
                let settings = job.settings().map_err(StoreError::Invalid)?;
                // What the batch is told: the two users, not the holder of "taken" (as if
                // the lookups had missed it).
                let old = [
                    UserInput::present(&settings, "s1", &body("a"), Vec::new()),
                    UserInput::present(&settings, "s2", &body("b"), Vec::new()),
                ];
                let preloaded = linked_or_holding(conn, "c", old.iter())?;
                assert_eq!(preloaded.len(), 2);
                let inputs = vec![
                    (
                        UserInput::present(&settings, "s1", &body("taken"), Vec::new()),
                        None,
                    ),
                    (
                        UserInput::present(&settings, "s2", &body("b2"), Vec::new()),
                        None,
                    ),
                ];
                let out = job.sync_inputs(conn, &settings, inputs, Some(preloaded))?;
                job.finish(&shared);
                Ok(out
                    .into_iter()
                    .map(|r| r.result.outcome)
                    .collect::<Vec<_>>())
            })
            .await
            .unwrap();
        assert!(
            matches!(&results[0], Outcome::Failed { reason } if reason.contains("held by")),
            "{results:?}"
        );
        assert_eq!(results[1], Outcome::Updated);
        let d = store.directory();
        assert!(d.user("a").await.unwrap().is_some(), "s1 unchanged");
        assert!(d.user("b2").await.unwrap().is_some(), "s2 renamed");
        let taken = d.user("taken").await.unwrap().unwrap();
        assert_eq!(taken.users[0].user.data.idp_id, None, "nothing merged");
        let renames = d
            .audit(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == AuditAction::UserUpdate)
            .count();
        assert_eq!(renames, 1, "the first attempt's rows were dropped");
    }

    fn data(username: &str) -> UserData {
        UserData {
            username: username.into(),
            display_name: username.into(),
            email: None,
            first_name: None,
            last_name: None,
            active: true,
            attributes: Default::default(),
            last_login: None,
            idp_id: Some(format!("scim-{username}")),
            cleanup: None,
            anonymized: false,
        }
    }

    /// A user whose writes the directory refuses (which the engine's own checks make
    /// impossible through SCIM) is rolled back alone and fails; the job goes on.
    #[tokio::test]
    async fn a_refused_write_fails_its_user_only() {
        let (_dir, store, ctx) = connector_with_taken_user().await;
        let shared = Arc::clone(&store.shared);
        let results = store
            .writer
            .write(move |conn| {
                let mut job = SyncJob::begin(conn, &shared, "c", &ctx, SyncSource::Scim)?;
                let mut ws = Workset::new("c");
                let mut out = Vec::new();
                for (scim_id, name) in [("s1", "TAKEN"), ("s2", "free")] {
                    let synced = Synced {
                        result: UserResult {
                            scim_id: scim_id.into(),
                            outcome: Outcome::Created,
                            user: Some(UserChange::Create {
                                data: data(name),
                                events: Vec::<UserEvent>::new(),
                            }),
                            memberships: Vec::new(),
                            create_groups: Vec::new(),
                            warnings: Vec::new(),
                        },
                        owner: None,
                    };
                    let r = job.apply_guarded(conn, &mut ws, synced)?;
                    job.journal
                        .outcome(SyncSubject::User, scim_id, Some(name), &r.outcome, &[]);
                    out.push(r.outcome);
                }
                job.finish(&shared);
                Ok(out)
            })
            .await
            .unwrap();
        assert!(matches!(&results[0], Outcome::Failed { reason } if reason.contains("refused")));
        assert_eq!(results[1], Outcome::Created);
        let d = store.directory();
        let detail = d.user("taken").await.unwrap().unwrap();
        assert_eq!(detail.users.len(), 1, "nothing merged");
        assert_eq!(detail.users[0].user.data.idp_id, None);
        assert!(d.user("free").await.unwrap().is_some());
        let audit = d.audit(&Default::default()).await.unwrap();
        let created: Vec<Option<&str>> = audit
            .iter()
            .filter(|e| e.action == AuditAction::UserCreate)
            .map(|e| e.subject.name.as_deref())
            .collect();
        assert_eq!(
            created,
            [Some("taken"), Some("free")],
            "no row for the refused write"
        );
        let outcomes = d
            .sync_outcomes(&OutcomeQuery {
                connector_id: "c".into(),
                outcome: Some("failed".into()),
                limit: 0,
            })
            .await
            .unwrap();
        assert_eq!(outcomes.len(), 1);
    }
}
