//! The sync engine: what the IdP sent, through a connector's settings, into the connector's
//! directory. Pure: no I/O, no clock, no store; the caller gathers the state, the engine
//! returns a change set, the caller applies it (in the transaction of the SCIM write that
//! caused it, or for every user at once for "apply"; not at all for "preview").
//!
//! | module | rules |
//! |---|---|
//! | [`expr`] | the expression language and its function library |
//! | [`mapping`] | SCIM user → directory fields; SCIM group → name, imported or filtered |
//! | [`groups`] | a user's memberships; IdP group create / rename / delete ([`sync_group`]) |
//! | [`cleanup`] | deleted / not in a required group / dropped → disable, delete, anonymize, keep |
//! | [`copy`] | a new user takes memberships, attributes and last login from another directory |
//!
//! # One user ([`sync_user`])
//!
//! 1. The user is identified by its SCIM `id`: the directory user linked to it
//!    ([`UserState::linked`]) is the same person whatever its username, so a changed
//!    `userName` is a **rename**. A rename onto a username another user of the directory holds
//!    is **refused**: outcome `failed`, nothing changed, nothing merged.
//! 2. A user with no linked directory user is **new**. If its username is held by a user of the
//!    directory that is not linked to a live IdP user (a local user, or one whose IdP user was
//!    deleted), that user is **adopted**: linked to the new SCIM id and rebuilt from it (Entra
//!    re-creating a user after a hard delete gets its account back). A username held by a
//!    user linked to a live IdP user is refused, as above. Otherwise the user is **created**,
//!    taking what the copy rules give it.
//! 3. If the mapping fails (an expression error, an invalid username) or an IdP group's name
//!    cannot be mapped, the outcome is `failed` with the reason, and nothing changes.
//! 4. A **cleanup reason** (deleted in the IdP, `drop`, no required group) applies the cleanup
//!    action ([`cleanup`]); for a new user it means not creating it (`filtered`).
//! 5. Otherwise the directory user is made what the mapping says, including `active` (the IdP
//!    deactivating a user disables it; that is mapping, not cleanup), its cleanup state is
//!    cleared (a cleaned-up user **comes back**, re-enabled and de-anonymized), its custom
//!    attributes not named by the mapping are kept, its last login is kept, and its
//!    memberships follow the membership rules ([`groups`]).
//!
//! # Integration
//!
//! Per user, the store gathers:
//!
//! - the IdP view: the SCIM user's body and the SCIM groups it is a member of, each mapped once
//!   with [`CompiledSettings::map_group`] (cache them across a preview); then
//!   [`UserInput::present`] (which maps the user) or [`UserInput::deleted`];
//! - [`UserState::linked`]: the connector directory's user whose `idp_id` is the SCIM id;
//! - [`UserState::username_holder`]: the connector directory's user whose folded username is
//!   that of [`UserInput::username`], if another than `linked`;
//! - [`UserState::memberships`]: the memberships of `linked`, or, when there is none, of
//!   `username_holder` (which may be adopted);
//! - [`UserState::groups`]: the connector directory's groups ([`GroupIndex`]): all of them for
//!   a preview (built once), or only those [`UserInput::group_lookups`] names on the SCIM write
//!   path;
//! - [`UserState::copy_source`]: when there is no `linked` user and
//!   [`CompiledSettings::copy_from`] is set, the same-named user of that directory and its
//!   memberships.
//!
//! Then it applies the [`UserResult`]: first [`UserResult::create_groups`] (create each group
//! that does not exist yet, by name, case-insensitively), then [`UserResult::user`] (a create
//! assigns the store's id; an update writes `after` over the user; a delete removes the user
//! and its memberships), then [`UserResult::memberships`] (each names its group by
//! `idp_group` when set and linked, else by name). It records the outcome for the sync results
//! and writes one audit row per change (`before` / `after` are in the change set).
//!
//! For groups, [`sync_group`] takes the mapped IdP group (or its deletion), the directory group
//! linked to it and the group holding its mapped name, and returns one [`GroupChange`]. Run it
//! when the IdP writes a group, and over every IdP group before the users for apply/preview.

pub mod cleanup;
pub mod copy;
pub mod expr;
pub mod groups;
pub mod mapping;
pub mod tester;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use groups::{
    GroupChange, GroupCreate, GroupIndex, GroupInput, GroupResult, GroupState, MembershipChange,
    sync_group,
};
pub use mapping::{GroupMapping, IdpGroup, MappedUser, MappingError};

use crate::directory::{
    CleanupReason, CleanupState, DirectoryUser, Membership, UserData, fold_name,
};
use crate::settings::CompiledSettings;

/// The IdP view of one user, mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInput {
    /// The SCIM user's `id`.
    pub scim_id: String,
    /// What the IdP has.
    pub idp: IdpUser,
}

/// What the IdP has of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpUser {
    /// The user exists in the IdP view.
    Present {
        /// The user through the mapping, or why it could not be mapped.
        mapped: Result<MappedUser, MappingError>,
        /// The IdP groups it is a member of, mapped.
        groups: Vec<IdpGroup>,
    },
    /// The IdP deleted it.
    Deleted,
}

impl UserInput {
    /// A user of the IdP view: maps its body (`scim_id` is added as `user.id`).
    #[must_use]
    pub fn present(
        settings: &CompiledSettings,
        scim_id: &str,
        user: &Map<String, Value>,
        groups: Vec<IdpGroup>,
    ) -> Self {
        Self {
            scim_id: scim_id.to_owned(),
            idp: IdpUser::Present {
                mapped: settings.map_user(scim_id, user),
                groups,
            },
        }
    }

    /// A user the IdP deleted.
    #[must_use]
    pub fn deleted(scim_id: &str) -> Self {
        Self {
            scim_id: scim_id.to_owned(),
            idp: IdpUser::Deleted,
        }
    }

    /// The mapped username: what to look up as [`UserState::username_holder`] and, for a new
    /// user, as [`UserState::copy_source`].
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        match &self.idp {
            IdpUser::Present { mapped: Ok(m), .. } => Some(&m.username),
            _ => None,
        }
    }

    /// The directory groups syncing this user can touch, for a store that builds the
    /// [`GroupIndex`] from these rather than from every group of the directory (the SCIM write
    /// path): the groups linked to the user's imported IdP groups, and the groups named by
    /// them, by `always_assign` and by the copy source's memberships. (Existing memberships
    /// need no lookup: they carry their group.)
    #[must_use]
    pub fn group_lookups(
        &self,
        settings: &CompiledSettings,
        copy_source: Option<&CopySource<'_>>,
    ) -> GroupLookups {
        let mut lookups = GroupLookups::default();
        if let IdpUser::Present { groups, .. } = &self.idp {
            for g in groups {
                if let GroupMapping::Imported { name } = &g.mapping {
                    lookups.idp_ids.insert(g.scim_id.clone());
                    lookups.names.insert(fold_name(name));
                }
            }
        }
        lookups
            .names
            .extend(settings.always_assign().iter().map(|n| fold_name(n)));
        if let Some(source) = copy_source {
            lookups
                .names
                .extend(source.memberships.iter().map(|m| fold_name(&m.group)));
        }
        lookups
    }
}

/// Which directory groups a sync needs in its [`GroupIndex`] ([`UserInput::group_lookups`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupLookups {
    /// Groups linked to these SCIM group ids.
    pub idp_ids: BTreeSet<String>,
    /// Groups with these names, folded ([`fold_name`]).
    pub names: BTreeSet<String>,
}

/// The copy source of a new user: the same-named user of `copy.from_directory`.
#[derive(Debug, Clone, Copy)]
pub struct CopySource<'a> {
    /// The user.
    pub user: &'a DirectoryUser,
    /// Its memberships in its directory.
    pub memberships: &'a [Membership],
}

/// The directory state [`sync_user`] needs (see the module docs, "Integration").
#[derive(Debug, Clone, Copy)]
pub struct UserState<'a> {
    /// The connector directory's user linked to the SCIM id.
    pub linked: Option<&'a DirectoryUser>,
    /// The connector directory's user holding the mapped username, if another than `linked`.
    pub username_holder: Option<&'a DirectoryUser>,
    /// The memberships of `linked` (or, without one, of `username_holder`).
    pub memberships: &'a [Membership],
    /// The connector directory's groups.
    pub groups: &'a GroupIndex,
    /// For a new user with copying on: the same-named user of the copy directory.
    pub copy_source: Option<CopySource<'a>>,
}

/// What happened to a user (or group), for the sync results.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// Created in the directory.
    Created,
    /// Changed (data, state or memberships).
    Updated,
    /// Nothing to do.
    Unchanged,
    /// Deactivated (by the IdP's `active`, or by cleanup).
    Disabled,
    /// Deleted from the directory.
    Deleted,
    /// Not imported: a new user the cleanup rules would act on, or a group the filters leave
    /// out.
    Filtered,
    /// Not synced, with the reason; nothing changed.
    Failed {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// Every counter name [`Outcome::as_str`] gives, in the order of the variants: what the
    /// API and the console accept as an outcome filter.
    pub const KINDS: [&'static str; 7] = [
        "created",
        "updated",
        "unchanged",
        "disabled",
        "deleted",
        "filtered",
        "failed",
    ];

    /// The counter name: `created`, `updated`, `unchanged`, `disabled`, `deleted`, `filtered`,
    /// `failed`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Disabled => "disabled",
            Self::Deleted => "deleted",
            Self::Filtered => "filtered",
            Self::Failed { .. } => "failed",
        }
    }
}

/// Notable parts of a user change, for the audit log and the preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum UserEvent {
    /// The username changed.
    Renamed {
        /// The old username.
        from: String,
        /// The new one.
        to: String,
    },
    /// The user became inactive.
    Disabled,
    /// The user became active.
    Enabled,
    /// A cleanup rule now acts on the user.
    CleanedUp(CleanupState),
    /// The cleanup reason went away.
    Restored {
        /// The reason it had.
        reason: CleanupReason,
    },
    /// The user was pseudonymised.
    Anonymized,
    /// The pseudonym was replaced by the IdP's data.
    Deanonymized,
    /// An existing user of the directory was linked to this IdP user.
    Relinked {
        /// The SCIM id it was linked to before, if any.
        previous: Option<String>,
    },
    /// Memberships, attributes and last login were copied.
    Copied {
        /// From this directory.
        from_directory: String,
    },
}

/// A change to the directory user.
// An update carries the user before and after, for the audit log; one such value exists per
// synced user at a time, so boxing it would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum UserChange {
    /// Create the user.
    Create {
        /// Its data.
        data: UserData,
        /// Notable parts.
        events: Vec<UserEvent>,
    },
    /// Replace the user's data.
    Update {
        /// The store's id of the user.
        user_id: String,
        /// Its data now.
        before: UserData,
        /// Its data after.
        after: UserData,
        /// Notable parts.
        events: Vec<UserEvent>,
    },
    /// Delete the user and its memberships.
    Delete {
        /// The store's id of the user.
        user_id: String,
        /// Its data now.
        before: UserData,
    },
}

/// What syncing one user does: the change set and the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserResult {
    /// The SCIM user's id.
    pub scim_id: String,
    /// The outcome, for sync results.
    pub outcome: Outcome,
    /// The change to the directory user, if any.
    pub user: Option<UserChange>,
    /// Membership changes, in group-name order.
    pub memberships: Vec<MembershipChange>,
    /// Groups to create first, if they do not exist yet.
    pub create_groups: Vec<GroupCreate>,
    /// Things the admin should know that did not stop the sync.
    pub warnings: Vec<String>,
}

impl UserResult {
    fn new(scim_id: &str) -> Self {
        Self {
            scim_id: scim_id.to_owned(),
            outcome: Outcome::Unchanged,
            user: None,
            memberships: Vec::new(),
            create_groups: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn failed(scim_id: &str, reason: String) -> Self {
        Self {
            outcome: Outcome::Failed { reason },
            ..Self::new(scim_id)
        }
    }

    /// Whether there is anything to apply.
    #[must_use]
    pub fn has_changes(&self) -> bool {
        self.user.is_some() || !self.memberships.is_empty() || !self.create_groups.is_empty()
    }
}

/// Syncs one user (see the module docs for the rules).
#[must_use]
pub fn sync_user(
    settings: &CompiledSettings,
    input: &UserInput,
    state: &UserState<'_>,
) -> UserResult {
    let scim_id = input.scim_id.as_str();
    let mut result = UserResult::new(scim_id);
    let (mapped, groups) = match &input.idp {
        IdpUser::Deleted => {
            if let Some(user) = state.linked {
                cleanup::clean_up(
                    settings,
                    scim_id,
                    user,
                    CleanupReason::Deleted,
                    state,
                    &mut result,
                );
            }
            return result;
        }
        IdpUser::Present { mapped: Err(e), .. } => {
            return UserResult::failed(scim_id, e.to_string());
        }
        IdpUser::Present {
            mapped: Ok(m),
            groups,
        } => (m, groups),
    };
    let mut imported = Vec::with_capacity(groups.len());
    for g in groups {
        match &g.mapping {
            GroupMapping::Imported { name } => imported.push((name.as_str(), g.scim_id.as_str())),
            GroupMapping::Filtered { .. } => {}
            GroupMapping::Failed { error } => {
                return UserResult::failed(scim_id, format!("IdP group {}: {error}", g.scim_id));
            }
        }
    }
    let reason = if mapped.drop {
        Some(CleanupReason::Dropped)
    } else if settings.has_required_groups()
        && !imported
            .iter()
            .any(|(name, _)| settings.is_required_group(name))
    {
        Some(CleanupReason::NotInRequired)
    } else {
        None
    };

    let holder = state
        .username_holder
        .filter(|h| state.linked.is_none_or(|l| l.id != h.id))
        .filter(|h| fold_name(&h.data.username) == fold_name(&mapped.username));
    let (target, adopted) = match (state.linked, holder) {
        (Some(user), _) => (Some(user), false),
        (None, _) if reason.is_some() => {
            result.outcome = Outcome::Filtered;
            return result;
        }
        (None, Some(h)) if adoptable(h) => (Some(h), true),
        (None, Some(h)) => return UserResult::failed(scim_id, taken(&mapped.username, h)),
        (None, None) => (None, false),
    };

    match (target, reason) {
        (None, _) => create(settings, mapped, &imported, state, &mut result),
        (Some(user), Some(reason)) => {
            cleanup::clean_up(settings, scim_id, user, reason, state, &mut result)
        }
        (Some(user), None) => {
            let renamed = fold_name(&user.data.username) != fold_name(&mapped.username);
            if renamed
                && !adopted
                && let Some(h) = holder
            {
                return UserResult::failed(scim_id, taken(&mapped.username, h));
            }
            update(
                settings,
                scim_id,
                mapped,
                &imported,
                user,
                adopted,
                state,
                &mut result,
            );
        }
    }
    result
}

/// A directory user that a new IdP user with its username may take over: one not linked to a
/// live IdP user (local, or its IdP user deleted).
fn adoptable(user: &DirectoryUser) -> bool {
    user.data.idp_id.is_none()
        || user
            .data
            .cleanup
            .is_some_and(|c| c.reason == CleanupReason::Deleted)
}

fn taken(username: &str, holder: &DirectoryUser) -> String {
    format!(
        "username '{username}' is held by another user of the directory ('{}'{}); nothing was changed",
        holder.data.username,
        holder
            .data
            .idp_id
            .as_deref()
            .map(|id| format!(", IdP user {id}"))
            .unwrap_or_default()
    )
}

fn create(
    settings: &CompiledSettings,
    mapped: &MappedUser,
    imported: &[(&str, &str)],
    state: &UserState<'_>,
    result: &mut UserResult,
) {
    let copied = copy::copy_for(settings, mapped, state.copy_source.as_ref());
    let (base_attributes, last_login, copied_memberships, events) = match &copied {
        Some(c) => (
            c.attributes.clone(),
            c.last_login,
            c.memberships,
            vec![UserEvent::Copied {
                from_directory: c.from_directory.to_owned(),
            }],
        ),
        None => (Default::default(), None, &[][..], Vec::new()),
    };
    let data = UserData {
        username: mapped.username.clone(),
        display_name: mapped.display_name.clone(),
        email: mapped.email.clone(),
        first_name: mapped.first_name.clone(),
        last_name: mapped.last_name.clone(),
        active: mapped.active,
        attributes: copy::apply_attributes(base_attributes, &mapped.attributes),
        last_login,
        idp_id: Some(result.scim_id.clone()),
        cleanup: None,
        anonymized: false,
    };
    let plan = groups::plan_memberships(settings, imported, &[], state.groups, copied_memberships);
    result.outcome = Outcome::Created;
    result.user = Some(UserChange::Create { data, events });
    result.memberships = plan.changes;
    result.create_groups = plan.creates;
    result.warnings = plan.warnings;
}

#[allow(clippy::too_many_arguments)] // the parts of one sync, passed through once
fn update(
    settings: &CompiledSettings,
    scim_id: &str,
    mapped: &MappedUser,
    imported: &[(&str, &str)],
    user: &DirectoryUser,
    adopted: bool,
    state: &UserState<'_>,
    result: &mut UserResult,
) {
    let before = &user.data;
    let after = UserData {
        username: mapped.username.clone(),
        display_name: mapped.display_name.clone(),
        email: mapped.email.clone(),
        first_name: mapped.first_name.clone(),
        last_name: mapped.last_name.clone(),
        active: mapped.active,
        attributes: copy::apply_attributes(before.attributes.clone(), &mapped.attributes),
        last_login: before.last_login,
        idp_id: Some(scim_id.to_owned()),
        cleanup: None,
        anonymized: false,
    };
    let mut events = Vec::new();
    if adopted {
        events.push(UserEvent::Relinked {
            previous: before.idp_id.clone(),
        });
    }
    if let Some(c) = before.cleanup {
        events.push(UserEvent::Restored { reason: c.reason });
    }
    if before.anonymized {
        events.push(UserEvent::Deanonymized);
    } else if before.username != after.username {
        events.push(UserEvent::Renamed {
            from: before.username.clone(),
            to: after.username.clone(),
        });
    }
    if before.active && !after.active {
        events.push(UserEvent::Disabled);
    } else if !before.active && after.active {
        events.push(UserEvent::Enabled);
    }
    let plan = groups::plan_memberships(settings, imported, state.memberships, state.groups, &[]);
    let changed = *before != after;
    result.outcome = if before.active && !after.active {
        Outcome::Disabled
    } else if changed || !plan.changes.is_empty() {
        Outcome::Updated
    } else {
        Outcome::Unchanged
    };
    if changed {
        result.user = Some(UserChange::Update {
            user_id: user.id.clone(),
            before: before.clone(),
            after,
            events,
        });
    }
    result.memberships = plan.changes;
    result.create_groups = plan.creates;
    result.warnings = plan.warnings;
}

/// Counters over many results: what a preview shows and sync results record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSummary {
    /// Users created.
    pub created: u64,
    /// Users updated.
    pub updated: u64,
    /// Users unchanged.
    pub unchanged: u64,
    /// Users disabled.
    pub disabled: u64,
    /// Users deleted.
    pub deleted: u64,
    /// Users not imported.
    pub filtered: u64,
    /// Users that failed.
    pub failed: u64,
    /// Users renamed.
    pub renamed: u64,
    /// Users re-enabled (the IdP's `active`, or a cleanup reason gone).
    pub enabled: u64,
    /// Users anonymized.
    pub anonymized: u64,
    /// Memberships added.
    pub memberships_added: u64,
    /// Memberships removed.
    pub memberships_removed: u64,
    /// Directory groups created (each name once).
    pub groups_created: u64,
    /// Directory groups renamed.
    pub groups_renamed: u64,
    /// Directory groups deleted.
    pub groups_deleted: u64,
    /// IdP groups that failed.
    pub groups_failed: u64,
    #[serde(skip)]
    group_names: BTreeSet<String>,
}

impl SyncSummary {
    /// Counts one user's result.
    pub fn add_user(&mut self, r: &UserResult) {
        match r.outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Disabled => self.disabled += 1,
            Outcome::Deleted => self.deleted += 1,
            Outcome::Filtered => self.filtered += 1,
            Outcome::Failed { .. } => self.failed += 1,
        }
        let events = match &r.user {
            Some(UserChange::Update { events, .. } | UserChange::Create { events, .. }) => {
                events.as_slice()
            }
            _ => &[],
        };
        for e in events {
            match e {
                UserEvent::Renamed { .. } => self.renamed += 1,
                UserEvent::Enabled => self.enabled += 1,
                UserEvent::Anonymized => self.anonymized += 1,
                _ => {}
            }
        }
        for m in &r.memberships {
            match m {
                MembershipChange::Add { .. } => self.memberships_added += 1,
                MembershipChange::Remove { .. } => self.memberships_removed += 1,
                MembershipChange::SetOrigin { .. } => {}
            }
        }
        for g in &r.create_groups {
            self.count_group_created(&g.name);
        }
    }

    /// Counts one IdP group's result.
    pub fn add_group(&mut self, r: &GroupResult) {
        match &r.change {
            Some(GroupChange::Create { name, .. }) => self.count_group_created(name),
            Some(GroupChange::Rename { .. }) => self.groups_renamed += 1,
            Some(GroupChange::Delete { .. }) => self.groups_deleted += 1,
            _ => {}
        }
        if matches!(r.outcome, Outcome::Failed { .. }) {
            self.groups_failed += 1;
        }
    }

    fn count_group_created(&mut self, name: &str) {
        if self.group_names.insert(fold_name(name)) {
            self.groups_created += 1;
        }
    }
}
