//! Groups and memberships.
//!
//! # A user's memberships (active users)
//!
//! At every sync of a user who is not cleaned up, its memberships in the connector's directory
//! become:
//!
//! 1. one per **imported IdP group** the IdP reports (origin `idp`); groups filtered out by
//!    `only_assign` / `never_assign` are not imported at all;
//! 2. one per **`always_assign`** group (origin `rule`, which wins over `idp`), re-added if
//!    removed by hand; a missing group is created as a local group;
//! 3. when the user first arrives with copying on, one per group of the **copy source**
//!    (origin `copied`) not already above; missing groups are created as local groups;
//! 4. every other existing membership is **removed** (the IdP is authoritative, whatever the
//!    origin, `local` included) unless **`never_remove`** covers its group, in which case it
//!    stays as it is.
//!
//! An existing membership that a rule above now explains takes that rule's origin (a `local`
//! membership the IdP starts reporting becomes `idp`).
//!
//! IdP groups are found in the directory by their link (the SCIM group id) first, so a pending
//! rename does not look like a different group, then by name; a local group of the same name is
//! used as is (syncing the group links it). An IdP group whose name belongs to a group linked
//! to another IdP group is skipped with a warning: [`sync_group`] reports that conflict.
//!
//! # IdP groups ([`sync_group`])
//!
//! - a new imported group creates a directory group linked to it; a local group of that name
//!   is adopted (linked) instead; a group of that name linked to another IdP group is a
//!   conflict, reported, nothing changed;
//! - a renamed group renames its directory group, memberships kept; a rename onto a name
//!   another group holds is refused and reported;
//! - a deleted group, or one the filters now leave out, deletes its directory group (and so its
//!   memberships), unless `never_remove` or `always_assign` covers its name: then the group is
//!   unlinked and stays as a local group with its memberships.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::Outcome;
use super::mapping::{GroupMapping, IdpGroup};
use crate::directory::{DirectoryGroup, Membership, MembershipOrigin, fold_name};
use crate::settings::CompiledSettings;

/// The groups of the connector's directory, indexed for the engine: by folded name and by IdP
/// link. Build it once per preview, or per sync from the groups the sync can touch.
#[derive(Debug, Clone, Default)]
pub struct GroupIndex {
    by_name: HashMap<String, IndexedGroup>,
    by_idp: HashMap<String, String>,
}

#[derive(Debug, Clone)]
struct IndexedGroup {
    name: String,
    idp_id: Option<String>,
}

impl GroupIndex {
    /// Indexes `groups`.
    #[must_use]
    pub fn new<'a>(groups: impl IntoIterator<Item = &'a DirectoryGroup>) -> Self {
        let mut index = Self::default();
        for g in groups {
            index.insert(g);
        }
        index
    }

    /// Adds a group, or replaces the one of the same name: for a store that keeps one index
    /// across many syncs (a preview, a batch of an apply) and applies each result to it.
    pub fn insert(&mut self, group: &DirectoryGroup) {
        let key = fold_name(&group.name);
        if let Some(old) = self.by_name.get(&key).and_then(|g| g.idp_id.clone()) {
            self.by_idp.remove(&old);
        }
        if let Some(idp) = &group.idp_id {
            self.by_idp.insert(idp.clone(), key.clone());
        }
        self.by_name.insert(
            key,
            IndexedGroup {
                name: group.name.clone(),
                idp_id: group.idp_id.clone(),
            },
        );
    }

    /// Removes the group named `name` (case-insensitively), if there is one.
    pub fn remove(&mut self, name: &str) {
        let key = fold_name(name);
        if let Some(idp) = self.by_name.remove(&key).and_then(|g| g.idp_id)
            && self.by_idp.get(&idp) == Some(&key)
        {
            self.by_idp.remove(&idp);
        }
    }

    fn by_name(&self, name: &str) -> Option<&IndexedGroup> {
        self.by_name.get(&fold_name(name))
    }

    fn by_idp(&self, scim_id: &str) -> Option<&IndexedGroup> {
        self.by_idp
            .get(scim_id)
            .and_then(|key| self.by_name.get(key))
    }
}

/// A change to one of the user's memberships. The applier finds the group by `idp_group` when
/// set and linked, else by `group` (case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum MembershipChange {
    /// Put the user in the group.
    Add {
        /// The group's name.
        group: String,
        /// The SCIM id of the IdP group it stands for.
        idp_group: Option<String>,
        /// Why.
        origin: MembershipOrigin,
    },
    /// Take the user out of the group.
    Remove {
        /// The group's name.
        group: String,
        /// The group's link to the IdP.
        idp_group: Option<String>,
        /// The origin the membership had.
        origin: MembershipOrigin,
    },
    /// The membership stays, for another reason.
    SetOrigin {
        /// The group's name.
        group: String,
        /// The SCIM id of the IdP group it stands for.
        idp_group: Option<String>,
        /// The origin it had.
        from: MembershipOrigin,
        /// The origin it has now.
        to: MembershipOrigin,
    },
}

/// A directory group to create if it does not exist yet (several users of one preview may ask
/// for the same group: creating is idempotent).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupCreate {
    /// Its name.
    pub name: String,
    /// The IdP group it is linked to; `None` for a local group.
    pub idp_group: Option<String>,
}

/// What to do to a user's memberships.
#[derive(Debug, Default)]
pub(crate) struct MembershipPlan {
    pub(crate) changes: Vec<MembershipChange>,
    pub(crate) creates: Vec<GroupCreate>,
    pub(crate) warnings: Vec<String>,
}

struct Desired {
    name: String,
    idp_group: Option<String>,
    origin: MembershipOrigin,
    create: Option<GroupCreate>,
}

/// The membership changes for an active user (see the module docs).
pub(crate) fn plan_memberships(
    settings: &CompiledSettings,
    idp_groups: &[(&str, &str)],
    existing: &[Membership],
    index: &GroupIndex,
    copied: &[Membership],
) -> MembershipPlan {
    let mut plan = MembershipPlan::default();
    let mut desired: BTreeMap<String, Desired> = BTreeMap::new();

    for &(name, scim_id) in idp_groups {
        let resolved = match index.by_idp(scim_id) {
            Some(g) => Desired {
                name: g.name.clone(),
                idp_group: Some(scim_id.to_owned()),
                origin: MembershipOrigin::Idp,
                create: None,
            },
            None => match index.by_name(name) {
                Some(g) if g.idp_id.as_deref().is_some_and(|other| other != scim_id) => {
                    plan.warnings.push(format!(
                        "IdP group {scim_id} maps to '{name}', which belongs to IdP group {}: membership skipped",
                        g.idp_id.as_deref().unwrap_or_default()
                    ));
                    continue;
                }
                Some(g) => Desired {
                    name: g.name.clone(),
                    idp_group: Some(scim_id.to_owned()),
                    origin: MembershipOrigin::Idp,
                    create: None,
                },
                None => Desired {
                    name: name.to_owned(),
                    idp_group: Some(scim_id.to_owned()),
                    origin: MembershipOrigin::Idp,
                    create: Some(GroupCreate {
                        name: name.to_owned(),
                        idp_group: Some(scim_id.to_owned()),
                    }),
                },
            },
        };
        let key = fold_name(&resolved.name);
        match desired.get(&key) {
            Some(d) if d.idp_group != resolved.idp_group => plan.warnings.push(format!(
                "IdP groups {} and {scim_id} both map to '{name}': only the first is used",
                d.idp_group.as_deref().unwrap_or_default()
            )),
            Some(_) => {}
            None => {
                desired.insert(key, resolved);
            }
        }
    }

    for name in settings.always_assign() {
        let key = fold_name(name);
        if let Some(d) = desired.get_mut(&key) {
            d.origin = MembershipOrigin::Rule;
            continue;
        }
        let d = match index.by_name(name) {
            Some(g) => Desired {
                name: g.name.clone(),
                idp_group: g.idp_id.clone(),
                origin: MembershipOrigin::Rule,
                create: None,
            },
            None => Desired {
                name: name.clone(),
                idp_group: None,
                origin: MembershipOrigin::Rule,
                create: Some(GroupCreate {
                    name: name.clone(),
                    idp_group: None,
                }),
            },
        };
        desired.insert(key, d);
    }

    for m in copied {
        let key = fold_name(&m.group);
        if desired.contains_key(&key) {
            continue;
        }
        let d = match index.by_name(&m.group) {
            Some(g) => Desired {
                name: g.name.clone(),
                idp_group: g.idp_id.clone(),
                origin: MembershipOrigin::Copied,
                create: None,
            },
            None => Desired {
                name: m.group.clone(),
                idp_group: None,
                origin: MembershipOrigin::Copied,
                create: Some(GroupCreate {
                    name: m.group.clone(),
                    idp_group: None,
                }),
            },
        };
        desired.insert(key, d);
    }

    let mut current: BTreeMap<String, &Membership> =
        existing.iter().map(|m| (fold_name(&m.group), m)).collect();
    // Changes in group-name order, removals and additions interleaved: stable for tests and
    // readable in a preview.
    let mut changes: BTreeMap<String, MembershipChange> = BTreeMap::new();
    for (key, d) in desired {
        match current.remove(&key) {
            Some(m) if m.origin == d.origin => {}
            Some(m) => {
                changes.insert(
                    key,
                    MembershipChange::SetOrigin {
                        group: m.group.clone(),
                        idp_group: d.idp_group,
                        from: m.origin,
                        to: d.origin,
                    },
                );
            }
            None => {
                if let Some(create) = d.create
                    && !plan.creates.contains(&create)
                {
                    plan.creates.push(create);
                }
                changes.insert(
                    key,
                    MembershipChange::Add {
                        group: d.name,
                        idp_group: d.idp_group,
                        origin: d.origin,
                    },
                );
            }
        }
    }
    for (key, m) in current {
        if !settings.never_remove.matches(&m.group) {
            changes.insert(
                key,
                MembershipChange::Remove {
                    group: m.group.clone(),
                    idp_group: m.idp_group.clone(),
                    origin: m.origin,
                },
            );
        }
    }
    plan.changes = changes.into_values().collect();
    plan.creates.sort();
    plan
}

/// Removes every membership: the cleanup's `remove_memberships`.
pub(crate) fn remove_all(existing: &[Membership]) -> Vec<MembershipChange> {
    let mut sorted: Vec<&Membership> = existing.iter().collect();
    sorted.sort_by_key(|m| fold_name(&m.group));
    sorted
        .into_iter()
        .map(|m| MembershipChange::Remove {
            group: m.group.clone(),
            idp_group: m.idp_group.clone(),
            origin: m.origin,
        })
        .collect()
}

/// An IdP group as [`sync_group`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupInput {
    /// The group exists in the IdP view, mapped by [`CompiledSettings::map_group`].
    Present(IdpGroup),
    /// The IdP deleted it.
    Deleted {
        /// Its SCIM id.
        scim_id: String,
    },
}

impl GroupInput {
    /// The SCIM id.
    #[must_use]
    pub fn scim_id(&self) -> &str {
        match self {
            Self::Present(g) => &g.scim_id,
            Self::Deleted { scim_id } => scim_id,
        }
    }

    /// The name to look up as [`GroupState::name_holder`]: the mapped name of an imported group.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Present(IdpGroup {
                mapping: GroupMapping::Imported { name },
                ..
            }) => Some(name),
            _ => None,
        }
    }
}

/// What [`sync_group`] needs of the connector's directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupState<'a> {
    /// The directory group linked to this IdP group, if any.
    pub linked: Option<&'a DirectoryGroup>,
    /// The directory group holding [`GroupInput::name`] (case-insensitively), if any.
    pub name_holder: Option<&'a DirectoryGroup>,
}

/// A change to a directory group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum GroupChange {
    /// Create a group linked to the IdP group.
    Create {
        /// Its name.
        name: String,
        /// The IdP group.
        idp_group: String,
    },
    /// Rename the group; its memberships stay.
    Rename {
        /// The store's id of the group.
        group_id: String,
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// Link a local group to the IdP group, setting its name (which may differ in case).
    Link {
        /// The store's id of the group.
        group_id: String,
        /// The name it gets.
        name: String,
        /// The IdP group.
        idp_group: String,
    },
    /// Unlink the group from its IdP group: it stays as a local group, memberships and all.
    Unlink {
        /// The store's id of the group.
        group_id: String,
        /// Its name.
        name: String,
    },
    /// Delete the group and its memberships.
    Delete {
        /// The store's id of the group.
        group_id: String,
        /// Its name.
        name: String,
    },
}

/// What syncing one IdP group does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupResult {
    /// The SCIM group's id.
    pub scim_id: String,
    /// The outcome, for sync results.
    pub outcome: Outcome,
    /// The change to apply, if any.
    pub change: Option<GroupChange>,
}

/// Syncs one IdP group to the connector's directory (see the module docs for the rules).
#[must_use]
pub fn sync_group(
    settings: &CompiledSettings,
    input: &GroupInput,
    state: &GroupState<'_>,
) -> GroupResult {
    let scim_id = input.scim_id().to_owned();
    let result = |outcome, change| GroupResult {
        scim_id: scim_id.clone(),
        outcome,
        change,
    };
    let gone = |linked: Option<&DirectoryGroup>, absent: Outcome| match linked {
        None => result(absent, None),
        Some(g) if settings.protects_group(&g.name) => result(
            Outcome::Updated,
            Some(GroupChange::Unlink {
                group_id: g.id.clone(),
                name: g.name.clone(),
            }),
        ),
        Some(g) => result(
            Outcome::Deleted,
            Some(GroupChange::Delete {
                group_id: g.id.clone(),
                name: g.name.clone(),
            }),
        ),
    };
    let linked = state.linked;
    let mapping = match input {
        GroupInput::Deleted { .. } => return gone(linked, Outcome::Unchanged),
        GroupInput::Present(g) => &g.mapping,
    };
    let name = match mapping {
        GroupMapping::Failed { error } => {
            return result(
                Outcome::Failed {
                    reason: error.clone(),
                },
                None,
            );
        }
        GroupMapping::Filtered { .. } => return gone(linked, Outcome::Filtered),
        GroupMapping::Imported { name } => name,
    };
    let holder = state
        .name_holder
        .filter(|h| linked.is_none_or(|l| l.id != h.id));
    match (linked, holder) {
        (Some(g), _) if g.name == *name => result(Outcome::Unchanged, None),
        (Some(g), Some(h)) => result(
            Outcome::Failed {
                reason: format!(
                    "cannot rename group '{}' to '{name}': group '{}' of the directory has that name",
                    g.name, h.name
                ),
            },
            None,
        ),
        (Some(g), None) => result(
            Outcome::Updated,
            Some(GroupChange::Rename {
                group_id: g.id.clone(),
                from: g.name.clone(),
                to: name.clone(),
            }),
        ),
        (None, Some(h)) if h.idp_id.is_none() => result(
            Outcome::Updated,
            Some(GroupChange::Link {
                group_id: h.id.clone(),
                name: name.clone(),
                idp_group: scim_id.clone(),
            }),
        ),
        (None, Some(h)) => result(
            Outcome::Failed {
                reason: format!(
                    "group name '{name}' is taken by group '{}' of IdP group {}",
                    h.name,
                    h.idp_id.as_deref().unwrap_or_default()
                ),
            },
            None,
        ),
        (None, None) => result(
            Outcome::Created,
            Some(GroupChange::Create {
                name: name.clone(),
                idp_group: scim_id.clone(),
            }),
        ),
    }
}
