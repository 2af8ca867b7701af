//! The directory state the sync engine runs against, in memory: shared by every backend.
//!
//! A [`Workset`] holds part of one connector directory (its users, groups and memberships)
//! and the copy sources of another directory, as the engine's "Integration" docs ask
//! (`roster_core::sync`): a backend loads into it what a set of syncs needs (everything for
//! a preview; only the rows the users of one write job can touch on the SCIM write path and
//! in an apply batch), runs each sync against it ([`Workset::sync_user`]), writes the result,
//! and records it back ([`Workset::record_user`]), so that the next user of the same set sees
//! the change: a username just taken, a group just created. A preview records results without
//! writing them, with placeholder ids ([`Workset::preview_user`]); that is what makes the
//! preview the same sequence of decisions as the apply that follows it.
//!
//! Memberships are kept by group id, so a group renamed or deleted in the group phase of a
//! preview needs no rewrite of its members' rows; a deleted group's rows are skipped.

use std::collections::HashMap;

use roster_core::directory::{
    DirectoryGroup, DirectoryUser, Membership, MembershipOrigin, fold_name,
};
use roster_core::settings::CompiledSettings;
use roster_core::sync::{
    CopySource, GroupChange, GroupIndex, GroupInput, GroupLookups, GroupResult, GroupState,
    MembershipChange, UserChange, UserInput, UserResult, UserState, sync_group, sync_user,
};

/// Part of one directory, in memory (see the module docs).
#[derive(Debug)]
pub(crate) struct Workset {
    directory: String,
    users: HashMap<String, DirectoryUser>,
    by_idp: HashMap<String, String>,
    by_name: HashMap<String, String>,
    members: HashMap<String, Vec<(String, MembershipOrigin)>>,
    groups: HashMap<String, DirectoryGroup>,
    groups_by_name: HashMap<String, String>,
    groups_by_idp: HashMap<String, String>,
    index: GroupIndex,
    copy: HashMap<String, (DirectoryUser, Vec<Membership>)>,
    placeholders: u64,
}

/// A sync's result, and the directory user it is about (the one whose memberships it
/// changes), if one exists yet.
#[derive(Debug)]
pub(crate) struct Synced {
    /// The engine's result.
    pub(crate) result: UserResult,
    /// The linked user, else the username holder.
    pub(crate) owner: Option<String>,
}

impl Workset {
    /// An empty workset for `directory`.
    pub(crate) fn new(directory: &str) -> Self {
        Self {
            directory: directory.to_owned(),
            users: HashMap::new(),
            by_idp: HashMap::new(),
            by_name: HashMap::new(),
            members: HashMap::new(),
            groups: HashMap::new(),
            groups_by_name: HashMap::new(),
            groups_by_idp: HashMap::new(),
            index: GroupIndex::default(),
            copy: HashMap::new(),
            placeholders: 0,
        }
    }

    /// The directory.
    pub(crate) fn directory(&self) -> &str {
        &self.directory
    }

    // ---- loading ----

    /// Adds a user of the directory (replacing one with the same id).
    pub(crate) fn add_user(&mut self, user: DirectoryUser) {
        self.unindex_user(&user.id);
        if let Some(idp) = &user.data.idp_id {
            self.by_idp.insert(idp.clone(), user.id.clone());
        }
        self.by_name
            .insert(fold_name(&user.data.username), user.id.clone());
        self.users.insert(user.id.clone(), user);
    }

    fn unindex_user(&mut self, id: &str) {
        if let Some(old) = self.users.get(id) {
            if let Some(idp) = &old.data.idp_id
                && self.by_idp.get(idp).is_some_and(|u| u == id)
            {
                self.by_idp.remove(idp);
            }
            let key = fold_name(&old.data.username);
            if self.by_name.get(&key).is_some_and(|u| u == id) {
                self.by_name.remove(&key);
            }
        }
    }

    /// Adds a group of the directory (replacing one with the same id).
    pub(crate) fn add_group(&mut self, group: DirectoryGroup) {
        self.remove_group(&group.id);
        self.groups_by_name
            .insert(fold_name(&group.name), group.id.clone());
        if let Some(idp) = &group.idp_id {
            self.groups_by_idp.insert(idp.clone(), group.id.clone());
        }
        self.index.insert(&group);
        self.groups.insert(group.id.clone(), group);
    }

    /// Removes a group (its membership rows are skipped from now on).
    pub(crate) fn remove_group(&mut self, id: &str) {
        let Some(old) = self.groups.remove(id) else {
            return;
        };
        let key = fold_name(&old.name);
        if self.groups_by_name.get(&key).is_some_and(|g| g == id) {
            self.groups_by_name.remove(&key);
            self.index.remove(&old.name);
        }
        if let Some(idp) = &old.idp_id
            && self.groups_by_idp.get(idp).is_some_and(|g| g == id)
        {
            self.groups_by_idp.remove(idp);
        }
    }

    /// Adds a membership row (its group must be added too).
    pub(crate) fn add_membership(
        &mut self,
        user_id: &str,
        group_id: &str,
        origin: MembershipOrigin,
    ) {
        let rows = self.members.entry(user_id.to_owned()).or_default();
        match rows.iter_mut().find(|(g, _)| g == group_id) {
            Some(row) => row.1 = origin,
            None => rows.push((group_id.to_owned(), origin)),
        }
    }

    /// Adds the copy source for its username: a user of the copy directory and its
    /// memberships there.
    pub(crate) fn add_copy_source(&mut self, user: DirectoryUser, memberships: Vec<Membership>) {
        self.copy
            .insert(fold_name(&user.data.username), (user, memberships));
    }

    /// Whether the group is loaded.
    pub(crate) fn has_group(&self, id: &str) -> bool {
        self.groups.contains_key(id)
    }

    /// The user linked to a SCIM id.
    pub(crate) fn linked(&self, scim_id: &str) -> Option<&DirectoryUser> {
        self.by_idp.get(scim_id).and_then(|id| self.users.get(id))
    }

    /// The user holding a username.
    pub(crate) fn holder(&self, username: &str) -> Option<&DirectoryUser> {
        self.by_name
            .get(&fold_name(username))
            .and_then(|id| self.users.get(id))
    }

    /// Every user, in no particular order.
    pub(crate) fn users(&self) -> impl Iterator<Item = &DirectoryUser> {
        self.users.values()
    }

    /// Every group, in no particular order.
    pub(crate) fn groups(&self) -> impl Iterator<Item = &DirectoryGroup> {
        self.groups.values()
    }

    /// The group a membership change names: by its IdP link when set and linked, else by
    /// name (the engine's contract, `MembershipChange`).
    pub(crate) fn resolve_group(
        &self,
        name: &str,
        idp_group: Option<&str>,
    ) -> Option<&DirectoryGroup> {
        idp_group
            .and_then(|idp| self.groups_by_idp.get(idp))
            .or_else(|| self.groups_by_name.get(&fold_name(name)))
            .and_then(|id| self.groups.get(id))
    }

    /// The group of a name.
    pub(crate) fn group_by_name(&self, name: &str) -> Option<&DirectoryGroup> {
        self.groups_by_name
            .get(&fold_name(name))
            .and_then(|id| self.groups.get(id))
    }

    /// A user's memberships, as the engine takes them.
    pub(crate) fn memberships_of(&self, user_id: &str) -> Vec<Membership> {
        self.members
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|(group_id, origin)| {
                self.groups.get(group_id).map(|g| Membership {
                    group: g.name.clone(),
                    idp_group: g.idp_id.clone(),
                    origin: *origin,
                })
            })
            .collect()
    }

    /// The copy source loaded for a username.
    pub(crate) fn copy_source(&self, username: &str) -> Option<CopySource<'_>> {
        self.copy
            .get(&fold_name(username))
            .map(|(user, memberships)| CopySource { user, memberships })
    }

    /// The groups `input` needs in the index, with its copy source (if loaded).
    pub(crate) fn group_lookups(
        &self,
        settings: &CompiledSettings,
        input: &UserInput,
    ) -> GroupLookups {
        let copy = match (self.linked(&input.scim_id), input.username()) {
            (None, Some(name)) => self.copy_source(name),
            _ => None,
        };
        input.group_lookups(settings, copy.as_ref())
    }

    // ---- syncing ----

    /// Runs the engine for one user against this state.
    pub(crate) fn sync_user(&self, settings: &CompiledSettings, input: &UserInput) -> Synced {
        let linked = self.linked(&input.scim_id);
        let holder = input
            .username()
            .and_then(|name| self.holder(name))
            .filter(|h| linked.is_none_or(|l| l.id != h.id));
        let owner = linked.or(holder);
        let memberships = owner
            .map(|u| self.memberships_of(&u.id))
            .unwrap_or_default();
        let copy_source = match (linked, input.username()) {
            (None, Some(name)) => self.copy_source(name),
            _ => None,
        };
        let state = UserState {
            linked,
            username_holder: holder,
            memberships: &memberships,
            groups: &self.index,
            copy_source,
        };
        Synced {
            result: sync_user(settings, input, &state),
            owner: owner.map(|u| u.id.clone()),
        }
    }

    /// A placeholder id for something a preview creates.
    fn placeholder(&mut self, kind: &str) -> String {
        self.placeholders += 1;
        format!("new-{kind}-{}", self.placeholders)
    }

    /// Records a user result that has been written: the groups it created must have been
    /// added already ([`Workset::add_group`]); `user_id` is the created user's id, or the
    /// owner's.
    pub(crate) fn record_user(&mut self, result: &UserResult, user_id: Option<&str>) {
        let user_id = match &result.user {
            Some(UserChange::Create { data, .. }) => {
                let Some(id) = user_id else { return };
                self.add_user(DirectoryUser {
                    id: id.to_owned(),
                    directory: self.directory.clone(),
                    data: data.clone(),
                });
                id.to_owned()
            }
            Some(UserChange::Update { user_id, after, .. }) => {
                self.add_user(DirectoryUser {
                    id: user_id.clone(),
                    directory: self.directory.clone(),
                    data: after.clone(),
                });
                user_id.clone()
            }
            Some(UserChange::Delete { user_id, .. }) => {
                self.unindex_user(user_id);
                self.users.remove(user_id);
                self.members.remove(user_id);
                return;
            }
            None => match user_id {
                Some(id) => id.to_owned(),
                None => return,
            },
        };
        for change in &result.memberships {
            match change {
                MembershipChange::Add {
                    group,
                    idp_group,
                    origin,
                }
                | MembershipChange::SetOrigin {
                    group,
                    idp_group,
                    to: origin,
                    ..
                } => {
                    if let Some(g) = self.resolve_group(group, idp_group.as_deref()) {
                        let g = g.id.clone();
                        self.add_membership(&user_id, &g, *origin);
                    }
                }
                MembershipChange::Remove {
                    group, idp_group, ..
                } => {
                    if let Some(g) = self.resolve_group(group, idp_group.as_deref()) {
                        let g = g.id.clone();
                        if let Some(rows) = self.members.get_mut(&user_id) {
                            rows.retain(|(id, _)| *id != g);
                        }
                    }
                }
            }
        }
    }

    /// Syncs one user and records the result without writing it (a preview).
    pub(crate) fn preview_user(
        &mut self,
        settings: &CompiledSettings,
        input: &UserInput,
    ) -> UserResult {
        let Synced { result, owner } = self.sync_user(settings, input);
        for create in &result.create_groups {
            if self.group_by_name(&create.name).is_none() {
                let id = self.placeholder("group");
                self.add_group(DirectoryGroup {
                    id,
                    directory: self.directory.clone(),
                    name: create.name.clone(),
                    description: None,
                    idp_id: create.idp_group.clone(),
                });
            }
        }
        let user_id = match &result.user {
            Some(UserChange::Create { .. }) => Some(self.placeholder("user")),
            _ => owner,
        };
        self.record_user(&result, user_id.as_deref());
        result
    }

    /// The directory groups [`sync_group`] needs: linked to the IdP group, and holding its
    /// mapped name.
    pub(crate) fn group_state(
        &self,
        input: &GroupInput,
    ) -> (Option<&DirectoryGroup>, Option<&DirectoryGroup>) {
        let linked = self
            .groups_by_idp
            .get(input.scim_id())
            .and_then(|id| self.groups.get(id));
        let holder = input.name().and_then(|name| self.group_by_name(name));
        (linked, holder)
    }

    /// Records a group result that has been written; `new_id` is a created group's id.
    pub(crate) fn record_group(&mut self, result: &GroupResult, new_id: Option<&str>) {
        let Some(change) = &result.change else {
            return;
        };
        let changed = |ws: &Self, id: &str, f: &dyn Fn(&mut DirectoryGroup)| {
            ws.groups.get(id).map(|g| {
                let mut g = g.clone();
                f(&mut g);
                g
            })
        };
        let updated = match change {
            GroupChange::Create { name, idp_group } => new_id.map(|id| DirectoryGroup {
                id: id.to_owned(),
                directory: self.directory.clone(),
                name: name.clone(),
                description: None,
                idp_id: Some(idp_group.clone()),
            }),
            GroupChange::Rename { group_id, to, .. } => {
                changed(self, group_id, &|g| g.name.clone_from(to))
            }
            GroupChange::Link {
                group_id,
                name,
                idp_group,
            } => changed(self, group_id, &|g| {
                g.name.clone_from(name);
                g.idp_id = Some(idp_group.clone());
            }),
            GroupChange::Unlink { group_id, .. } => changed(self, group_id, &|g| g.idp_id = None),
            GroupChange::Delete { group_id, .. } => {
                self.remove_group(group_id);
                None
            }
        };
        if let Some(g) = updated {
            self.add_group(g);
        }
    }

    /// Syncs one IdP group and records the result without writing it (a preview).
    pub(crate) fn preview_group(
        &mut self,
        settings: &CompiledSettings,
        input: &GroupInput,
    ) -> GroupResult {
        let (linked, name_holder) = self.group_state(input);
        let result = sync_group(
            settings,
            input,
            &GroupState {
                linked,
                name_holder,
            },
        );
        let id = matches!(result.change, Some(GroupChange::Create { .. }))
            .then(|| self.placeholder("group"));
        self.record_group(&result, id.as_deref());
        result
    }

    /// A name to show a user result by: the username after the sync, else before it, else
    /// that of the user linked to the SCIM id (call after [`Workset::record_user`]).
    pub(crate) fn result_name(&self, result: &UserResult) -> Option<String> {
        match &result.user {
            Some(UserChange::Create { data, .. }) => Some(data.username.clone()),
            Some(UserChange::Update { after, .. }) => Some(after.username.clone()),
            Some(UserChange::Delete { before, .. }) => Some(before.username.clone()),
            None => self
                .linked(&result.scim_id)
                .map(|u| u.data.username.clone()),
        }
    }
}
