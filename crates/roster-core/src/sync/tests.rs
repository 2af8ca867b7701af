//! The engine, rule by rule, on Entra-shaped users.
//!
//! [`World`] plays the store: it holds directories, gathers a user's [`UserState`] the way the
//! integration docs say, runs [`sync_user`], and applies the change set, so multi-step
//! scenarios (a manual removal undone, anonymize and come back, copy then the next sync) run
//! through the same contract the store implements. Single-step tests assert the exact change
//! set.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use time::macros::datetime;

use super::*;
use crate::directory::{CleanupAction, DirectoryGroup, INTERNAL, MembershipOrigin};
use crate::settings::Settings;

const DIR: &str = "entra";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn compile(toml: &str) -> CompiledSettings {
    Settings::from_toml(toml)
        .unwrap_or_else(|e| panic!("{e}"))
        .compile()
        .unwrap_or_else(|e| panic!("{e:?}"))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A user as Entra's default mappings provision it (IDP-CLIENTS.md §5.2).
fn entra_user(upn: &str, given: &str, family: &str) -> Map<String, Value> {
    object(json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": given,
        "userName": upn,
        "active": true,
        "displayName": format!("{given} {family}"),
        "emails": [{"value": format!("{given}@contoso.com"), "type": "work", "primary": true}],
        "name": {"formatted": format!("{given} {family}"), "givenName": given, "familyName": family},
        ENTERPRISE: {"employeeNumber": "100101", "department": "Retail"}
    }))
}

fn with(mut user: Map<String, Value>, key: &str, value: Value) -> Map<String, Value> {
    user.insert(key.to_owned(), value);
    user
}

fn add(group: &str, idp: Option<&str>, origin: MembershipOrigin) -> MembershipChange {
    MembershipChange::Add {
        group: group.into(),
        idp_group: idp.map(Into::into),
        origin,
    }
}

fn remove(group: &str, idp: Option<&str>, origin: MembershipOrigin) -> MembershipChange {
    MembershipChange::Remove {
        group: group.into(),
        idp_group: idp.map(Into::into),
        origin,
    }
}

fn set_origin(
    group: &str,
    idp: Option<&str>,
    from: MembershipOrigin,
    to: MembershipOrigin,
) -> MembershipChange {
    MembershipChange::SetOrigin {
        group: group.into(),
        idp_group: idp.map(Into::into),
        from,
        to,
    }
}

fn create(name: &str, idp: Option<&str>) -> GroupCreate {
    GroupCreate {
        name: name.into(),
        idp_group: idp.map(Into::into),
    }
}

use MembershipOrigin::{Copied, Idp, Local, Rule};

#[derive(Debug, Clone)]
struct Member {
    user: String,
    group: String,
    origin: MembershipOrigin,
}

/// An in-memory store: directories `internal` and `entra`, an IdP view of groups.
struct World {
    settings: CompiledSettings,
    users: Vec<DirectoryUser>,
    groups: Vec<DirectoryGroup>,
    members: Vec<Member>,
    idp_groups: BTreeMap<String, Map<String, Value>>,
    ids: u32,
}

impl World {
    fn new(toml: &str) -> Self {
        Self {
            settings: compile(toml),
            users: Vec::new(),
            groups: Vec::new(),
            members: Vec::new(),
            idp_groups: BTreeMap::new(),
            ids: 0,
        }
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.ids += 1;
        format!("{prefix}{}", self.ids)
    }

    /// An IdP group in the IdP view (not yet synced to the directory).
    fn idp_group(&mut self, scim_id: &str, display_name: &str) {
        self.idp_groups
            .insert(scim_id.into(), object(json!({"displayName": display_name})));
    }

    fn mapped_group(&self, scim_id: &str) -> IdpGroup {
        self.settings.map_group(scim_id, &self.idp_groups[scim_id])
    }

    fn input(&self, scim_id: &str, user: &Map<String, Value>, groups: &[&str]) -> UserInput {
        let groups = groups.iter().map(|g| self.mapped_group(g)).collect();
        UserInput::present(&self.settings, scim_id, user, groups)
    }

    fn user_in(&mut self, directory: &str, username: &str, idp_id: Option<&str>) -> String {
        let id = self.next_id("u");
        self.users.push(DirectoryUser {
            id: id.clone(),
            directory: directory.into(),
            data: UserData {
                username: username.into(),
                display_name: username.into(),
                email: None,
                first_name: None,
                last_name: None,
                active: true,
                attributes: BTreeMap::new(),
                last_login: None,
                idp_id: idp_id.map(Into::into),
                cleanup: None,
                anonymized: false,
            },
        });
        id
    }

    fn group_in(&mut self, directory: &str, name: &str, idp_id: Option<&str>) -> String {
        let id = self.next_id("g");
        self.groups.push(DirectoryGroup {
            id: id.clone(),
            directory: directory.into(),
            name: name.into(),
            description: None,
            idp_id: idp_id.map(Into::into),
        });
        id
    }

    /// Adds a membership by hand (the group is found or created in the user's directory).
    fn member(&mut self, user_id: &str, group: &str, origin: MembershipOrigin) {
        let directory = self
            .users
            .iter()
            .find(|u| u.id == user_id)
            .unwrap()
            .directory
            .clone();
        let group_id = match self.find_group(&directory, None, group) {
            Some(g) => g,
            None => self.group_in(&directory, group, None),
        };
        self.members.push(Member {
            user: user_id.into(),
            group: group_id,
            origin,
        });
    }

    fn unmember(&mut self, user_id: &str, group: &str) {
        let g = self.find_group(DIR, None, group).unwrap();
        self.members
            .retain(|m| !(m.user == user_id && m.group == g));
    }

    fn find_group(&self, directory: &str, idp: Option<&str>, name: &str) -> Option<String> {
        let in_dir = || self.groups.iter().filter(|g| g.directory == directory);
        idp.and_then(|idp| in_dir().find(|g| g.idp_id.as_deref() == Some(idp)))
            .or_else(|| in_dir().find(|g| fold_name(&g.name) == fold_name(name)))
            .map(|g| g.id.clone())
    }

    fn memberships_of(&self, user_id: &str) -> Vec<Membership> {
        self.members
            .iter()
            .filter(|m| m.user == user_id)
            .map(|m| {
                let g = self.groups.iter().find(|g| g.id == m.group).unwrap();
                Membership {
                    group: g.name.clone(),
                    idp_group: g.idp_id.clone(),
                    origin: m.origin,
                }
            })
            .collect()
    }

    /// The user's memberships as (group name, origin), by name.
    fn groups_of(&self, user_id: &str) -> Vec<(String, MembershipOrigin)> {
        let mut v: Vec<_> = self
            .memberships_of(user_id)
            .into_iter()
            .map(|m| (m.group, m.origin))
            .collect();
        v.sort();
        v
    }

    fn linked(&self, scim_id: &str) -> Option<&DirectoryUser> {
        self.users
            .iter()
            .find(|u| u.directory == DIR && u.data.idp_id.as_deref() == Some(scim_id))
    }

    fn user(&self, scim_id: &str) -> &DirectoryUser {
        self.linked(scim_id)
            .unwrap_or_else(|| panic!("no user linked to {scim_id}"))
    }

    /// Gathers the state as the integration docs say, and syncs.
    fn preview(&self, input: &UserInput) -> UserResult {
        let linked = self.linked(&input.scim_id);
        let holder = input.username().and_then(|name| {
            self.users.iter().find(|u| {
                u.directory == DIR
                    && fold_name(&u.data.username) == fold_name(name)
                    && linked.is_none_or(|l| l.id != u.id)
            })
        });
        let owner = linked.or(holder);
        let memberships = owner
            .map(|u| self.memberships_of(&u.id))
            .unwrap_or_default();
        let index = GroupIndex::new(self.groups.iter().filter(|g| g.directory == DIR));
        let copy_user = match (linked, self.settings.copy_from(), input.username()) {
            (None, Some(from), Some(name)) => self
                .users
                .iter()
                .find(|u| u.directory == from && fold_name(&u.data.username) == fold_name(name)),
            _ => None,
        };
        let copy_memberships = copy_user
            .map(|u| self.memberships_of(&u.id))
            .unwrap_or_default();
        let state = UserState {
            linked,
            username_holder: holder,
            memberships: &memberships,
            groups: &index,
            copy_source: copy_user.map(|user| CopySource {
                user,
                memberships: &copy_memberships,
            }),
        };
        sync_user(&self.settings, input, &state)
    }

    fn sync(&mut self, input: &UserInput) -> UserResult {
        let owner = self
            .linked(&input.scim_id)
            .or_else(|| {
                input.username().and_then(|name| {
                    self.users.iter().find(|u| {
                        u.directory == DIR && fold_name(&u.data.username) == fold_name(name)
                    })
                })
            })
            .map(|u| u.id.clone());
        let r = self.preview(input);
        self.apply(&r, owner);
        r
    }

    /// Applies a change set as a store would.
    fn apply(&mut self, r: &UserResult, owner: Option<String>) {
        for g in &r.create_groups {
            if self.find_group(DIR, None, &g.name).is_none() {
                self.group_in(DIR, &g.name, g.idp_group.as_deref());
            }
        }
        let user_id = match &r.user {
            Some(UserChange::Create { data, .. }) => {
                let id = self.next_id("u");
                self.users.push(DirectoryUser {
                    id: id.clone(),
                    directory: DIR.into(),
                    data: data.clone(),
                });
                id
            }
            Some(UserChange::Update {
                user_id,
                before,
                after,
                ..
            }) => {
                let u = self.users.iter_mut().find(|u| u.id == *user_id).unwrap();
                assert_eq!(&u.data, before, "the change set was computed on this state");
                u.data = after.clone();
                user_id.clone()
            }
            Some(UserChange::Delete { user_id, .. }) => {
                self.users.retain(|u| u.id != *user_id);
                self.members.retain(|m| m.user != *user_id);
                return;
            }
            None => match owner {
                Some(id) => id,
                None => return,
            },
        };
        for change in &r.memberships {
            match change {
                MembershipChange::Add {
                    group,
                    idp_group,
                    origin,
                } => {
                    let g = self
                        .find_group(DIR, idp_group.as_deref(), group)
                        .expect("group exists");
                    self.members.push(Member {
                        user: user_id.clone(),
                        group: g,
                        origin: *origin,
                    });
                }
                MembershipChange::Remove {
                    group, idp_group, ..
                } => {
                    let g = self.find_group(DIR, idp_group.as_deref(), group).unwrap();
                    self.members
                        .retain(|m| !(m.user == user_id && m.group == g));
                }
                MembershipChange::SetOrigin {
                    group,
                    idp_group,
                    to,
                    ..
                } => {
                    let g = self.find_group(DIR, idp_group.as_deref(), group).unwrap();
                    for m in &mut self.members {
                        if m.user == user_id && m.group == g {
                            m.origin = *to;
                        }
                    }
                }
            }
        }
    }

    fn group_state(&self, input: &GroupInput) -> (Option<DirectoryGroup>, Option<DirectoryGroup>) {
        let in_dir = || self.groups.iter().filter(|g| g.directory == DIR);
        let linked = in_dir()
            .find(|g| g.idp_id.as_deref() == Some(input.scim_id()))
            .cloned();
        let holder = input
            .name()
            .and_then(|n| in_dir().find(|g| fold_name(&g.name) == fold_name(n)))
            .cloned();
        (linked, holder)
    }

    fn sync_group(&mut self, input: &GroupInput) -> GroupResult {
        let (linked, holder) = self.group_state(input);
        let r = sync_group(
            &self.settings,
            input,
            &GroupState {
                linked: linked.as_ref(),
                name_holder: holder.as_ref(),
            },
        );
        match &r.change {
            Some(GroupChange::Create { name, idp_group }) => {
                self.group_in(DIR, name, Some(idp_group));
            }
            Some(GroupChange::Rename { group_id, to, .. }) => {
                self.groups
                    .iter_mut()
                    .find(|g| g.id == *group_id)
                    .unwrap()
                    .name = to.clone();
            }
            Some(GroupChange::Link {
                group_id,
                name,
                idp_group,
            }) => {
                let g = self.groups.iter_mut().find(|g| g.id == *group_id).unwrap();
                g.name = name.clone();
                g.idp_id = Some(idp_group.clone());
            }
            Some(GroupChange::Unlink { group_id, .. }) => {
                self.groups
                    .iter_mut()
                    .find(|g| g.id == *group_id)
                    .unwrap()
                    .idp_id = None;
            }
            Some(GroupChange::Delete { group_id, .. }) => {
                self.groups.retain(|g| g.id != *group_id);
                self.members.retain(|m| m.group != *group_id);
            }
            None => {}
        }
        r
    }

    fn sync_idp_group(&mut self, scim_id: &str) -> GroupResult {
        let input = GroupInput::Present(self.mapped_group(scim_id));
        self.sync_group(&input)
    }
}

fn adele() -> Map<String, Value> {
    entra_user("AdeleV@contoso.onmicrosoft.com", "Adele", "Vance")
}

fn adele_data() -> UserData {
    UserData {
        username: "AdeleV@contoso.onmicrosoft.com".into(),
        display_name: "Adele Vance".into(),
        email: Some("Adele@contoso.com".into()),
        first_name: Some("Adele".into()),
        last_name: Some("Vance".into()),
        active: true,
        attributes: BTreeMap::new(),
        last_login: None,
        idp_id: Some("s-adele".into()),
        cleanup: None,
        anonymized: false,
    }
}

// ---------------------------------------------------------------------------------------------
// Mapping
// ---------------------------------------------------------------------------------------------

#[test]
fn a_new_entra_user_is_created_with_the_default_mapping() {
    let mut w = World::new("");
    w.idp_group("s-sales", "Sales");
    w.idp_group("s-eng", "Engineering");
    w.group_in(DIR, "Engineering", Some("s-eng"));
    let input = w.input("s-adele", &adele(), &["s-sales", "s-eng"]);
    let r = w.sync(&input);
    assert_eq!(
        r,
        UserResult {
            scim_id: "s-adele".into(),
            outcome: Outcome::Created,
            user: Some(UserChange::Create {
                data: adele_data(),
                events: vec![]
            }),
            memberships: vec![
                add("Engineering", Some("s-eng"), Idp),
                add("Sales", Some("s-sales"), Idp),
            ],
            create_groups: vec![create("Sales", Some("s-sales"))],
            warnings: vec![],
        }
    );
    // Syncing again with nothing changed changes nothing.
    let again = w.sync(&input);
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert!(!again.has_changes(), "{again:?}");
}

#[test]
fn default_mapping_falls_back_for_missing_attributes() {
    let w = World::new("");
    // Okta's minimal user, and a user with neither names nor emails.
    let okta = object(json!({
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "active": true
    }));
    let bare = object(json!({"userName": "bare"}));
    let guest = object(json!({
        "userName": "jordan_fabrikam.com#EXT#@contoso.onmicrosoft.com",
        "emails": [{"value": "jordan@fabrikam.com", "type": "other"}, {"value": "j@work.example", "type": "work"}]
    }));
    let cases = [
        (
            okta,
            (
                "test.user@okta.local",
                "Test User",
                Some("test.user@okta.local"),
                Some("Test"),
                Some("User"),
                true,
            ),
        ),
        (bare, ("bare", "bare", None, None, None, true)),
        (
            guest,
            (
                "jordan_fabrikam.com#EXT#@contoso.onmicrosoft.com",
                "jordan_fabrikam.com#EXT#@contoso.onmicrosoft.com",
                Some("j@work.example"),
                None,
                None,
                true,
            ),
        ),
    ];
    for (user, (username, display, email, first, last, active)) in cases {
        let m = w.settings.map_user("x", &user).unwrap();
        assert_eq!(
            (
                m.username.as_str(),
                m.display_name.as_str(),
                m.email.as_deref(),
                m.first_name.as_deref(),
                m.last_name.as_deref(),
                m.active
            ),
            (username, display, email, first, last, active)
        );
        assert!(!m.drop);
    }
}

#[test]
fn expressions_and_custom_attributes() {
    let mut w = World::new(
        r#"
        [mapping]
        username = "lower(guest_email(user.userName))"
        email = "coalesce(work_email(user), primary_email(user))"
        display_name = 'join(" ", user.name.familyName, user.name.givenName)'
        [mapping.attributes]
        department = 'ext(user, "department")'
        cost_center = 'ext(user, "costCenter")'
        title = "user.title"
        "#,
    );
    let guest = object(json!({
        "userName": "Jordan_Fabrikam.com#EXT#@contoso.onmicrosoft.com",
        "emails": [{"value": "jordan@fabrikam.com", "type": "other"}],
        "name": {"givenName": "Jordan", "familyName": "Diaz"},
        ENTERPRISE: {"department": "Sales"}
    }));
    let r = w.sync(&w.input("s-jordan", &guest, &[]));
    let Some(UserChange::Create { data, .. }) = &r.user else {
        panic!("{r:?}")
    };
    assert_eq!(data.username, "jordan@fabrikam.com");
    assert_eq!(data.email.as_deref(), Some("jordan@fabrikam.com"));
    assert_eq!(data.display_name, "Diaz Jordan");
    assert_eq!(
        data.attributes,
        BTreeMap::from([("department".into(), "Sales".into())]),
        "missing attributes (costCenter, title) are simply absent"
    );

    // A locally set attribute the mapping does not name stays; a mapped one that becomes empty
    // goes; a changed one changes.
    let id = w.user("s-jordan").id.clone();
    w.users
        .iter_mut()
        .find(|u| u.id == id)
        .unwrap()
        .data
        .attributes
        .insert("badge".into(), "B-7".into());
    let moved = with(
        with(guest.clone(), ENTERPRISE, json!({"costCenter": "CC-9"})),
        "title",
        json!("Rep"),
    );
    let r = w.sync(&w.input("s-jordan", &moved, &[]));
    let Some(UserChange::Update { after, events, .. }) = &r.user else {
        panic!("{r:?}")
    };
    assert_eq!(
        after.attributes,
        BTreeMap::from([
            ("badge".into(), "B-7".into()),
            ("cost_center".into(), "CC-9".into()),
            ("title".into(), "Rep".into()),
        ])
    );
    assert_eq!(events, &[]);
    assert_eq!(r.outcome, Outcome::Updated);
}

#[test]
fn a_mapping_failing_at_run_time_fails_that_user_only() {
    let mut w = World::new(
        r#"
        [mapping]
        active = "user.accountEnabled"
        "#,
    );
    let r = w.sync(&w.input("s-adele", &adele(), &[]));
    assert_eq!(
        r,
        UserResult {
            scim_id: "s-adele".into(),
            outcome: Outcome::Failed {
                reason: "mapping.active: missing attribute 'accountEnabled' (use has(), coalesce() or ?. for optional attributes)".into()
            },
            user: None,
            memberships: vec![],
            create_groups: vec![],
            warnings: vec![],
        }
    );
    let ok = with(adele(), "accountEnabled", json!(true));
    assert_eq!(
        w.sync(&w.input("s-other", &ok, &[])).outcome,
        Outcome::Created
    );

    let w = World::new("[mapping]\nusername = 'coalesce(user.nickName)'\n");
    let r = w.preview(&w.input("s-adele", &adele(), &[]));
    assert_eq!(
        r.outcome,
        Outcome::Failed {
            reason: "mapping.username: the username is empty".into()
        }
    );
    let w = World::new("[mapping]\nemail = 'user.emails'\n");
    let r = w.preview(&w.input("s-adele", &adele(), &[]));
    assert_eq!(
        r.outcome,
        Outcome::Failed {
            reason: "mapping.email: expected text, got list".into()
        }
    );
    let w = World::new("[mapping]\nusername = 'user.userName + \" \"'\n");
    let r = w.preview(&w.input("s-adele", &adele(), &[]));
    assert!(
        matches!(&r.outcome, Outcome::Failed { reason } if reason.contains("white space")),
        "{r:?}"
    );
}

#[test]
fn entra_active_false_disables_and_true_re_enables() {
    let mut w = World::new("");
    w.sync(&w.input("s-adele", &adele(), &[]));
    // The scim crate has already turned Entra's "False" into false.
    let off = with(adele(), "active", json!(false));
    let r = w.sync(&w.input("s-adele", &off, &[]));
    assert_eq!(r.outcome, Outcome::Disabled);
    assert_eq!(
        r.user,
        Some(UserChange::Update {
            user_id: w.user("s-adele").id.clone(),
            before: adele_data(),
            after: UserData {
                active: false,
                ..adele_data()
            },
            events: vec![UserEvent::Disabled],
        })
    );
    assert_eq!(w.user("s-adele").data.cleanup, None, "mapping, not cleanup");
    let r = w.sync(&w.input("s-adele", &adele(), &[]));
    assert_eq!(r.outcome, Outcome::Updated);
    let Some(UserChange::Update { events, after, .. }) = &r.user else {
        panic!()
    };
    assert_eq!(events, &[UserEvent::Enabled]);
    assert!(after.active);
    // A user created inactive is created, inactive.
    let r = w.sync(&w.input(
        "s-new",
        &with(entra_user("new@c", "N", "U"), "active", json!(false)),
        &[],
    ));
    assert_eq!(r.outcome, Outcome::Created);
    assert!(!w.user("s-new").data.active);
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

#[test]
fn a_username_change_in_the_idp_is_a_rename() {
    let mut w = World::new("");
    w.idp_group("s-sales", "Sales");
    w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    let id = w.user("s-adele").id.clone();
    let renamed = with(adele(), "userName", json!("adele.vance@contoso.com"));
    let r = w.sync(&w.input("s-adele", &renamed, &["s-sales"]));
    assert_eq!(
        r,
        UserResult {
            scim_id: "s-adele".into(),
            outcome: Outcome::Updated,
            user: Some(UserChange::Update {
                user_id: id.clone(),
                before: adele_data(),
                after: UserData {
                    username: "adele.vance@contoso.com".into(),
                    ..adele_data()
                },
                events: vec![UserEvent::Renamed {
                    from: "AdeleV@contoso.onmicrosoft.com".into(),
                    to: "adele.vance@contoso.com".into()
                }],
            }),
            memberships: vec![],
            create_groups: vec![],
            warnings: vec![],
        }
    );
    assert_eq!(w.user("s-adele").id, id, "same directory user");
    assert_eq!(w.groups_of(&id), [("Sales".into(), Idp)]);
    // A change of case only is a rename too.
    let r = w.sync(&w.input(
        "s-adele",
        &with(adele(), "userName", json!("ADELE.VANCE@contoso.com")),
        &["s-sales"],
    ));
    assert!(
        matches!(&r.user, Some(UserChange::Update { events, .. }) if matches!(events[..], [UserEvent::Renamed { .. }]))
    );
}

#[test]
fn a_rename_onto_a_taken_username_is_refused() {
    let mut w = World::new("");
    w.sync(&w.input("s-adele", &adele(), &[]));
    w.sync(&w.input(
        "s-alex",
        &entra_user("alex@contoso.com", "Alex", "Wilber"),
        &[],
    ));
    let before_users = w.users.clone();
    let onto = with(adele(), "userName", json!("ALEX@contoso.com"));
    let r = w.sync(&w.input("s-adele", &onto, &[]));
    assert_eq!(
        r,
        UserResult {
            scim_id: "s-adele".into(),
            outcome: Outcome::Failed {
                reason: "username 'ALEX@contoso.com' is held by another user of the directory ('alex@contoso.com', IdP user s-alex); nothing was changed".into()
            },
            user: None,
            memberships: vec![],
            create_groups: vec![],
            warnings: vec![],
        }
    );
    assert_eq!(w.users, before_users, "nothing merged");
}

#[test]
fn a_new_user_onto_a_taken_username() {
    // Held by a user linked to a live IdP user: refused.
    let mut w = World::new("");
    w.sync(&w.input("s-adele", &adele(), &[]));
    let r = w.sync(&w.input("s-adele-2", &adele(), &[]));
    assert!(
        matches!(&r.outcome, Outcome::Failed { reason } if reason.contains("held by another user")),
        "{r:?}"
    );
    assert_eq!(w.users.len(), 1);

    // Held by a local user of the connector's directory: adopted and linked.
    let mut w = World::new("[groups]\nnever_remove = ['keep-.*']\n");
    let local = w.user_in(DIR, "adelev@contoso.onmicrosoft.com", None);
    w.member(&local, "keep-me", Local);
    w.member(&local, "drop-me", Local);
    let r = w.sync(&w.input("s-adele", &adele(), &[]));
    assert_eq!(r.outcome, Outcome::Updated);
    let Some(UserChange::Update {
        user_id,
        after,
        events,
        ..
    }) = &r.user
    else {
        panic!("{r:?}")
    };
    assert_eq!(user_id, &local);
    assert_eq!(after, &adele_data());
    assert_eq!(
        events,
        &[
            UserEvent::Relinked { previous: None },
            UserEvent::Renamed {
                from: "adelev@contoso.onmicrosoft.com".into(),
                to: "AdeleV@contoso.onmicrosoft.com".into()
            }
        ]
    );
    assert_eq!(r.memberships, [remove("drop-me", None, Local)]);
    assert_eq!(w.groups_of(&local), [("keep-me".into(), Local)]);
}

#[test]
fn entra_re_creating_a_hard_deleted_user_gets_the_old_account_back() {
    let mut w = World::new("");
    w.idp_group("s-sales", "Sales");
    w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    let id = w.user("s-adele").id.clone();
    let r = w.sync(&UserInput::deleted("s-adele"));
    assert_eq!(r.outcome, Outcome::Disabled);
    // Entra POSTs the user again: a new SCIM id, the same userName.
    let r = w.sync(&w.input("s-adele-new", &adele(), &["s-sales"]));
    assert_eq!(r.outcome, Outcome::Updated);
    let Some(UserChange::Update {
        user_id,
        after,
        events,
        ..
    }) = &r.user
    else {
        panic!("{r:?}")
    };
    assert_eq!(user_id, &id);
    assert!(after.active);
    assert_eq!(after.idp_id.as_deref(), Some("s-adele-new"));
    assert_eq!(after.cleanup, None);
    assert_eq!(
        events,
        &[
            UserEvent::Relinked {
                previous: Some("s-adele".into())
            },
            UserEvent::Restored {
                reason: CleanupReason::Deleted
            },
            UserEvent::Enabled
        ]
    );
    assert_eq!(
        w.groups_of(&id),
        [("Sales".into(), Idp)],
        "memberships kept through the disable"
    );
}

// ---------------------------------------------------------------------------------------------
// Groups and memberships
// ---------------------------------------------------------------------------------------------

#[test]
fn group_names_are_mapped_and_filtered() {
    let mut w = World::new(
        r#"
        [groups]
        name = 'lower(regex_replace(group.displayName, r"\s+", "-"))'
        only_assign = ["jira-.*", "sales"]
        never_assign = ["jira-admins"]
        "#,
    );
    for (id, name) in [
        ("s-1", "Jira Users"),
        ("s-2", "JIRA Admins"),
        ("s-3", "Sales"),
        ("s-4", "Marketing"),
        ("s-5", "old jira users"),
    ] {
        w.idp_group(id, name);
    }
    assert_eq!(
        w.mapped_group("s-1").mapping,
        GroupMapping::Imported {
            name: "jira-users".into()
        }
    );
    assert_eq!(
        w.mapped_group("s-2").mapping,
        GroupMapping::Filtered {
            name: "jira-admins".into()
        }
    );
    assert_eq!(
        w.mapped_group("s-5").mapping,
        GroupMapping::Filtered {
            name: "old-jira-users".into()
        },
        "whole-name match"
    );
    let r = w.sync(&w.input("s-adele", &adele(), &["s-1", "s-2", "s-3", "s-4", "s-5"]));
    assert_eq!(
        r.memberships,
        [
            add("jira-users", Some("s-1"), Idp),
            add("sales", Some("s-3"), Idp)
        ]
    );
    assert_eq!(
        r.create_groups,
        [
            create("jira-users", Some("s-1")),
            create("sales", Some("s-3"))
        ],
        "filtered groups are not imported at all"
    );
}

#[test]
fn the_idp_is_authoritative_by_default_even_for_local_memberships() {
    let mut w = World::new("");
    w.idp_group("s-sales", "Sales");
    w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    let id = w.user("s-adele").id.clone();
    w.member(&id, "Confluence Admins", Local);
    let r = w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    assert_eq!(r.memberships, [remove("Confluence Admins", None, Local)]);
    assert_eq!(r.outcome, Outcome::Updated);
    // The IdP drops Sales: removed too.
    let r = w.sync(&w.input("s-adele", &adele(), &[]));
    assert_eq!(r.memberships, [remove("Sales", Some("s-sales"), Idp)]);
    assert_eq!(w.groups_of(&id), []);
}

#[test]
fn never_remove_protects_memberships() {
    let mut w = World::new("[groups]\nnever_remove = ['confluence-.*', 'Sales']\n");
    w.idp_group("s-sales", "Sales");
    w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    let id = w.user("s-adele").id.clone();
    w.member(&id, "Confluence-Admins", Local);
    w.member(&id, "Other", Local);
    let r = w.sync(&w.input("s-adele", &adele(), &[]));
    assert_eq!(r.memberships, [remove("Other", None, Local)]);
    assert_eq!(
        w.groups_of(&id),
        [("Confluence-Admins".into(), Local), ("Sales".into(), Idp)],
        "protected memberships stay as they are"
    );
}

#[test]
fn always_assign_is_re_applied_at_every_sync() {
    let mut w = World::new("[groups]\nalways_assign = ['jira-users']\n");
    let r = w.sync(&w.input("s-adele", &adele(), &[]));
    assert_eq!(r.memberships, [add("jira-users", None, Rule)]);
    assert_eq!(
        r.create_groups,
        [create("jira-users", None)],
        "created as a local group"
    );
    let id = w.user("s-adele").id.clone();
    // An admin removes it by hand; the next sync puts it back.
    w.unmember(&id, "jira-users");
    let r = w.sync(&w.input("s-adele", &adele(), &[]));
    assert_eq!(r.outcome, Outcome::Updated);
    assert_eq!(r.memberships, [add("jira-users", None, Rule)]);
    assert_eq!(r.create_groups, [], "the group exists now");
    assert_eq!(w.groups_of(&id), [("jira-users".into(), Rule)]);
}

#[test]
fn origins_follow_the_reason_a_membership_exists() {
    let mut w = World::new("[groups]\nalways_assign = ['Sales']\n");
    w.idp_group("s-sales", "Sales");
    w.idp_group("s-eng", "Engineering");
    w.sync_idp_group("s-sales");
    w.sync_idp_group("s-eng");
    w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    let id = w.user("s-adele").id.clone();
    assert_eq!(
        w.groups_of(&id),
        [("Sales".into(), Rule)],
        "rule wins over idp"
    );
    w.member(&id, "Engineering", Local);
    let r = w.sync(&w.input("s-adele", &adele(), &["s-sales", "s-eng"]));
    assert_eq!(
        r.memberships,
        [set_origin("Engineering", Some("s-eng"), Local, Idp)]
    );
}

#[test]
fn never_assign_and_never_remove_everything_syncs_user_data_only() {
    let mut w = World::new("[groups]\nnever_assign = ['.*']\nnever_remove = ['.*']\n");
    w.idp_group("s-sales", "Sales");
    let r = w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    assert_eq!(r.memberships, []);
    assert_eq!(r.create_groups, []);
    let id = w.user("s-adele").id.clone();
    w.member(&id, "local-team", Local);
    let renamed = with(adele(), "displayName", json!("Adele V."));
    let r = w.sync(&w.input("s-adele", &renamed, &["s-sales"]));
    assert_eq!(r.outcome, Outcome::Updated);
    assert_eq!(r.memberships, [], "local groups untouched");
    assert_eq!(w.groups_of(&id), [("local-team".into(), Local)]);
    assert_eq!(w.user("s-adele").data.display_name, "Adele V.");
}

#[test]
fn idp_groups_are_found_by_link_before_name() {
    let mut w = World::new("");
    w.idp_group("s-sales", "Sales");
    w.sync_idp_group("s-sales");
    w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    let id = w.user("s-adele").id.clone();
    // The IdP renames the group; the user syncs before the group does: no churn.
    w.idp_group("s-sales", "Sales EMEA");
    let r = w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    assert!(!r.has_changes(), "{r:?}");
    // The group syncs: renamed, membership kept.
    let g = w.sync_idp_group("s-sales");
    assert_eq!(g.outcome, Outcome::Updated);
    assert!(
        matches!(&g.change, Some(GroupChange::Rename { from, to, .. }) if from == "Sales" && to == "Sales EMEA")
    );
    assert_eq!(w.groups_of(&id), [("Sales EMEA".into(), Idp)]);
    // A name held by another IdP group's directory group: skipped, with a warning.
    w.group_in(DIR, "Marketing", Some("s-other"));
    w.idp_group("s-mkt", "Marketing");
    let r = w.sync(&w.input("s-adele", &adele(), &["s-sales", "s-mkt"]));
    assert_eq!(r.memberships, []);
    assert_eq!(
        r.warnings,
        [
            "IdP group s-mkt maps to 'Marketing', which belongs to IdP group s-other: membership skipped"
        ]
    );
}

#[test]
fn a_group_name_that_cannot_be_mapped_fails_the_user() {
    let mut w = World::new("[groups]\nname = 'group.externalId'\n");
    w.idp_group("s-sales", "Sales");
    let r = w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    assert_eq!(
        r.outcome,
        Outcome::Failed {
            reason: "IdP group s-sales: groups.name: the group name is empty".into()
        }
    );
    assert!(!r.has_changes());
}

// ---------------------------------------------------------------------------------------------
// Required groups and cleanup
// ---------------------------------------------------------------------------------------------

const ACTIONS: [CleanupAction; 4] = [
    CleanupAction::Disable,
    CleanupAction::Delete,
    CleanupAction::Anonymize,
    CleanupAction::Keep,
];

fn cleanup_toml(reason: CleanupReason, action: CleanupAction, remove_memberships: bool) -> String {
    format!(
        "[mapping]\ndrop = 'coalesce(user.userType) == \"Guest\"'\n[groups]\nrequired = ['jira-.*']\nalways_assign = ['everyone']\n[cleanup]\n{reason} = \"{action}\"\nremove_memberships = {remove_memberships}\n"
    )
}

/// What a trigger does to Adele: deleted in the IdP, dropped, or out of her required group.
fn triggered(w: &World, reason: CleanupReason) -> UserInput {
    match reason {
        CleanupReason::Deleted => UserInput::deleted("s-adele"),
        CleanupReason::Dropped => w.input(
            "s-adele",
            &with(adele(), "userType", json!("Guest")),
            &["s-jira"],
        ),
        CleanupReason::NotInRequired => w.input("s-adele", &adele(), &["s-sales"]),
    }
}

#[test]
fn each_cleanup_action_on_each_trigger() {
    for reason in [
        CleanupReason::Deleted,
        CleanupReason::NotInRequired,
        CleanupReason::Dropped,
    ] {
        for action in ACTIONS {
            for strip in [false, true] {
                let case = format!("{reason} → {action}, remove_memberships = {strip}");
                let mut w = World::new(&cleanup_toml(reason, action, strip));
                w.idp_group("s-jira", "jira-users");
                w.idp_group("s-sales", "Sales");
                w.sync(&w.input("s-adele", &adele(), &["s-jira"]));
                let id = w.user("s-adele").id.clone();
                w.users
                    .iter_mut()
                    .find(|u| u.id == id)
                    .unwrap()
                    .data
                    .last_login = Some(datetime!(2026-11-01 09:00 UTC));
                w.member(&id, "local-team", Local);
                let before = w.user("s-adele").data.clone();

                let r = w.sync(&triggered(&w, reason));
                let state = CleanupState { reason, action };
                let cleanup = Some(state);
                let expected_removes = if strip && action != CleanupAction::Delete {
                    vec![
                        remove("everyone", None, Rule),
                        remove("jira-users", Some("s-jira"), Idp),
                        remove("local-team", None, Local),
                    ]
                } else {
                    vec![]
                };
                assert_eq!(r.memberships, expected_removes, "{case}");
                match action {
                    CleanupAction::Delete => {
                        assert_eq!(r.outcome, Outcome::Deleted, "{case}");
                        assert_eq!(
                            r.user,
                            Some(UserChange::Delete {
                                user_id: id.clone(),
                                before: before.clone()
                            }),
                            "{case}"
                        );
                        assert!(w.linked("s-adele").is_none(), "{case}");
                    }
                    CleanupAction::Disable => {
                        assert_eq!(r.outcome, Outcome::Disabled, "{case}");
                        assert_eq!(
                            r.user,
                            Some(UserChange::Update {
                                user_id: id.clone(),
                                before: before.clone(),
                                after: UserData {
                                    active: false,
                                    cleanup,
                                    ..before.clone()
                                },
                                events: vec![UserEvent::CleanedUp(state), UserEvent::Disabled],
                            }),
                            "{case}"
                        );
                    }
                    CleanupAction::Anonymize => {
                        assert_eq!(r.outcome, Outcome::Disabled, "{case}");
                        let name = cleanup::pseudonym("s-adele");
                        assert_eq!(
                            r.user,
                            Some(UserChange::Update {
                                user_id: id.clone(),
                                before: before.clone(),
                                after: UserData {
                                    username: name.clone(),
                                    display_name: name.clone(),
                                    email: Some(format!("{name}@anonymized.invalid")),
                                    first_name: None,
                                    last_name: None,
                                    attributes: BTreeMap::new(),
                                    active: false,
                                    cleanup,
                                    anonymized: true,
                                    ..before.clone()
                                },
                                events: vec![
                                    UserEvent::CleanedUp(state),
                                    UserEvent::Anonymized,
                                    UserEvent::Disabled
                                ],
                            }),
                            "{case}"
                        );
                        assert_eq!(
                            w.user("s-adele").data.idp_id.as_deref(),
                            Some("s-adele"),
                            "link kept"
                        );
                    }
                    CleanupAction::Keep => {
                        assert_eq!(r.outcome, Outcome::Updated, "{case}");
                        assert_eq!(
                            r.user,
                            Some(UserChange::Update {
                                user_id: id.clone(),
                                before: before.clone(),
                                after: UserData {
                                    cleanup,
                                    ..before.clone()
                                },
                                events: vec![UserEvent::CleanedUp(state)],
                            }),
                            "{case}"
                        );
                        assert!(w.user("s-adele").data.active, "{case}");
                    }
                }
                // Applying the same trigger again changes nothing: the user is frozen.
                if action != CleanupAction::Delete {
                    let again = w.sync(&triggered(&w, reason));
                    assert_eq!(again.outcome, Outcome::Unchanged, "{case}: {again:?}");
                    assert!(!again.has_changes(), "{case}: {again:?}");
                    let expected: Vec<(String, MembershipOrigin)> = if strip {
                        vec![]
                    } else {
                        vec![
                            ("everyone".into(), Rule),
                            ("jira-users".into(), Idp),
                            ("local-team".into(), Local),
                        ]
                    };
                    assert_eq!(w.groups_of(&id), expected, "{case}");
                }
            }
        }
    }
}

#[test]
fn a_cleaned_up_user_comes_back_when_the_reason_goes_away() {
    for reason in [CleanupReason::NotInRequired, CleanupReason::Dropped] {
        for action in [
            CleanupAction::Disable,
            CleanupAction::Anonymize,
            CleanupAction::Keep,
        ] {
            let case = format!("{reason} → {action}");
            let mut w = World::new(&cleanup_toml(reason, action, true));
            w.idp_group("s-jira", "jira-users");
            w.idp_group("s-sales", "Sales");
            w.sync(&w.input("s-adele", &adele(), &["s-jira"]));
            let id = w.user("s-adele").id.clone();
            w.sync(&triggered(&w, reason));
            // While the reason holds, the IdP's changes are not applied.
            let r = w.sync(&triggered(&w, reason));
            assert!(!r.has_changes(), "{case}");

            let r = w.sync(&w.input("s-adele", &adele(), &["s-jira"]));
            assert_eq!(r.outcome, Outcome::Updated, "{case}");
            let Some(UserChange::Update {
                user_id,
                after,
                events,
                ..
            }) = &r.user
            else {
                panic!("{case}: {r:?}")
            };
            assert_eq!(user_id, &id, "{case}");
            assert_eq!(
                after,
                &UserData {
                    attributes: BTreeMap::new(),
                    ..adele_data()
                },
                "{case}"
            );
            let mut want = vec![UserEvent::Restored { reason }];
            match action {
                CleanupAction::Anonymize => {
                    want.extend([UserEvent::Deanonymized, UserEvent::Enabled])
                }
                CleanupAction::Disable => want.push(UserEvent::Enabled),
                _ => {}
            }
            assert_eq!(events, &want, "{case}");
            assert_eq!(
                r.memberships,
                [
                    add("everyone", None, Rule),
                    add("jira-users", Some("s-jira"), Idp)
                ],
                "{case}: memberships rebuilt"
            );
        }
    }
}

#[test]
fn anonymize_then_come_back_restores_the_idp_data() {
    let mut w = World::new(
        "[mapping]\ndrop = 'coalesce(user.userType) == \"Guest\"'\n[cleanup]\ndropped = 'anonymize'\n",
    );
    w.sync(&w.input("s-adele", &adele(), &[]));
    w.sync(&w.input("s-adele", &with(adele(), "userType", json!("Guest")), &[]));
    let anon = w.user("s-adele").data.clone();
    assert_eq!(anon.username, cleanup::pseudonym("s-adele"));
    assert!(anon.anonymized && !anon.active);
    assert!(anon.username.starts_with("anon-") && anon.username.len() == 21);
    w.sync(&w.input("s-adele", &adele(), &[]));
    assert_eq!(w.user("s-adele").data, adele_data());

    // Anonymized again; meanwhile another IdP user takes the freed username: the returning
    // user fails rather than merging.
    w.sync(&w.input("s-adele", &with(adele(), "userType", json!("Guest")), &[]));
    assert_eq!(
        w.sync(&w.input("s-usurper", &adele(), &[])).outcome,
        Outcome::Created
    );
    let r = w.sync(&w.input("s-adele", &adele(), &[]));
    assert!(
        matches!(&r.outcome, Outcome::Failed { reason } if reason.contains("IdP user s-usurper")),
        "{r:?}"
    );
    assert!(w.user("s-adele").data.anonymized);
}

#[test]
fn required_groups_count_only_imported_groups() {
    let mut w = World::new(
        "[groups]\nrequired = ['jira-users', 'contractors']\nnever_assign = ['contractors']\n[cleanup]\nnot_in_required = 'disable'\n",
    );
    w.idp_group("s-jira", "jira-users");
    w.idp_group("s-con", "contractors");
    // A new user in no required group is not created.
    let r = w.sync(&w.input("s-adele", &adele(), &["s-con"]));
    assert_eq!(r.outcome, Outcome::Filtered);
    assert!(!r.has_changes());
    let r = w.sync(&w.input("s-adele", &adele(), &["s-jira", "s-con"]));
    assert_eq!(r.outcome, Outcome::Created);
    assert_eq!(r.memberships, [add("jira-users", Some("s-jira"), Idp)]);
    // Leaving the required group disables, joining again re-enables.
    let r = w.sync(&w.input("s-adele", &adele(), &["s-con"]));
    assert_eq!(r.outcome, Outcome::Disabled);
    let r = w.sync(&w.input("s-adele", &adele(), &["s-jira"]));
    assert_eq!(r.outcome, Outcome::Updated);
    assert!(w.user("s-adele").data.active);
}

#[test]
fn a_new_user_that_would_be_dropped_is_not_created() {
    for action in ACTIONS {
        let w = World::new(&cleanup_toml(CleanupReason::Dropped, action, false));
        let r = w.preview(&w.input("s-guest", &with(adele(), "userType", json!("Guest")), &[]));
        assert_eq!(r.outcome, Outcome::Filtered, "{action}");
        assert!(!r.has_changes());
    }
    // A deleted user the directory never had: nothing to do.
    let w = World::new("");
    assert_eq!(
        w.preview(&UserInput::deleted("s-nobody")).outcome,
        Outcome::Unchanged
    );
}

#[test]
fn a_changed_reason_takes_its_own_action() {
    let mut w = World::new(
        "[mapping]\ndrop = 'coalesce(user.userType) == \"Guest\"'\n[cleanup]\ndropped = 'disable'\ndeleted = 'delete'\n",
    );
    w.sync(&w.input("s-adele", &adele(), &[]));
    w.sync(&w.input("s-adele", &with(adele(), "userType", json!("Guest")), &[]));
    assert_eq!(
        w.user("s-adele").data.cleanup,
        Some(CleanupState {
            reason: CleanupReason::Dropped,
            action: CleanupAction::Disable
        })
    );
    let r = w.sync(&UserInput::deleted("s-adele"));
    assert_eq!(r.outcome, Outcome::Deleted);
}

// ---------------------------------------------------------------------------------------------
// Copy
// ---------------------------------------------------------------------------------------------

#[test]
fn copy_from_internal_on_first_arrival() {
    let mut w = World::new(
        "[mapping.attributes]\ndepartment = 'ext(user, \"department\")'\n[groups]\nalways_assign = ['jira-users']\n[copy]\nfrom_directory = 'internal'\n",
    );
    w.idp_group("s-sales", "Sales");
    let old = w.user_in(INTERNAL, "adelev@contoso.onmicrosoft.com", None);
    {
        let u = w.users.iter_mut().find(|u| u.id == old).unwrap();
        u.data.last_login = Some(datetime!(2026-10-30 17:45 UTC));
        u.data.attributes = BTreeMap::from([
            ("department".into(), "Old Dept".into()),
            ("badge".into(), "B-7".into()),
        ]);
    }
    w.member(&old, "confluence-users", Local);
    w.member(&old, "Sales", Local);
    w.member(&old, "jira-users", Local);
    let source_before = (
        w.users.iter().find(|u| u.id == old).cloned(),
        w.groups_of(&old),
    );

    let r = w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    assert_eq!(
        r,
        UserResult {
            scim_id: "s-adele".into(),
            outcome: Outcome::Created,
            user: Some(UserChange::Create {
                data: UserData {
                    attributes: BTreeMap::from([
                        ("badge".into(), "B-7".into()),
                        ("department".into(), "Retail".into()),
                    ]),
                    last_login: Some(datetime!(2026-10-30 17:45 UTC)),
                    ..adele_data()
                },
                events: vec![UserEvent::Copied {
                    from_directory: "internal".into()
                }],
            }),
            memberships: vec![
                add("confluence-users", None, Copied),
                add("jira-users", None, Rule),
                add("Sales", Some("s-sales"), Idp),
            ],
            create_groups: vec![
                create("Sales", Some("s-sales")),
                create("confluence-users", None),
                create("jira-users", None),
            ],
            warnings: vec![],
        }
    );
    assert_eq!(
        (
            w.users.iter().find(|u| u.id == old).cloned(),
            w.groups_of(&old)
        ),
        source_before,
        "the source is untouched"
    );

    // Copying happens on first arrival only; afterwards the IdP is authoritative.
    let r = w.sync(&w.input("s-adele", &adele(), &["s-sales"]));
    assert_eq!(r.memberships, [remove("confluence-users", None, Copied)]);
}

#[test]
fn copied_memberships_stay_where_never_remove_covers_them() {
    let mut w = World::new(
        "[groups]\nnever_remove = ['confluence-.*']\n[copy]\nfrom_directory = 'internal'\n",
    );
    let old = w.user_in(INTERNAL, "AdeleV@contoso.onmicrosoft.com", None);
    w.member(&old, "confluence-users", Local);
    w.sync(&w.input("s-adele", &adele(), &[]));
    let r = w.sync(&w.input("s-adele", &adele(), &[]));
    assert!(!r.has_changes(), "{r:?}");
    let id = w.user("s-adele").id.clone();
    assert_eq!(w.groups_of(&id), [("confluence-users".into(), Copied)]);
}

#[test]
fn no_copy_without_a_source_or_setting() {
    let mut w = World::new("");
    let old = w.user_in(INTERNAL, "AdeleV@contoso.onmicrosoft.com", None);
    w.member(&old, "confluence-users", Local);
    let r = w.sync(&w.input("s-adele", &adele(), &[]));
    assert!(matches!(&r.user, Some(UserChange::Create { events, .. }) if events.is_empty()));
    assert_eq!(r.memberships, []);
}

// ---------------------------------------------------------------------------------------------
// IdP groups
// ---------------------------------------------------------------------------------------------

#[test]
fn idp_group_lifecycle() {
    let mut w = World::new("[groups]\nnever_assign = ['secret-.*']\nnever_remove = ['keep-.*']\n");
    w.idp_group("s-1", "Sales");
    let r = w.sync_idp_group("s-1");
    assert_eq!(
        r,
        GroupResult {
            scim_id: "s-1".into(),
            outcome: Outcome::Created,
            change: Some(GroupChange::Create {
                name: "Sales".into(),
                idp_group: "s-1".into()
            }),
        }
    );
    assert_eq!(w.sync_idp_group("s-1").outcome, Outcome::Unchanged);

    // Rename keeps the group (and so its memberships).
    let gid = w.find_group(DIR, Some("s-1"), "").unwrap();
    w.idp_group("s-1", "Sales EMEA");
    assert_eq!(
        w.sync_idp_group("s-1").change,
        Some(GroupChange::Rename {
            group_id: gid.clone(),
            from: "Sales".into(),
            to: "Sales EMEA".into()
        })
    );

    // A rename onto another group's name is refused.
    w.group_in(DIR, "Marketing", None);
    w.idp_group("s-1", "marketing");
    let r = w.sync_idp_group("s-1");
    assert_eq!(
        r.outcome,
        Outcome::Failed {
            reason: "cannot rename group 'Sales EMEA' to 'marketing': group 'Marketing' of the directory has that name".into()
        }
    );
    assert_eq!(r.change, None);

    // A new IdP group adopts a local group of its name.
    w.idp_group("s-2", "MARKETING");
    let local = w.find_group(DIR, None, "marketing").unwrap();
    assert_eq!(
        w.sync_idp_group("s-2"),
        GroupResult {
            scim_id: "s-2".into(),
            outcome: Outcome::Updated,
            change: Some(GroupChange::Link {
                group_id: local.clone(),
                name: "MARKETING".into(),
                idp_group: "s-2".into()
            }),
        }
    );
    // …but not a group linked to another IdP group.
    w.idp_group("s-3", "marketing");
    assert_eq!(
        w.sync_idp_group("s-3").outcome,
        Outcome::Failed {
            reason: "group name 'marketing' is taken by group 'MARKETING' of IdP group s-2".into()
        }
    );

    // Filtered groups are not imported; an imported group the filters now leave out goes.
    w.idp_group("s-4", "secret-project");
    assert_eq!(
        w.sync_idp_group("s-4"),
        GroupResult {
            scim_id: "s-4".into(),
            outcome: Outcome::Filtered,
            change: None
        }
    );
    w.idp_group("s-1", "secret-sales");
    assert_eq!(
        w.sync_idp_group("s-1").change,
        Some(GroupChange::Delete {
            group_id: gid,
            name: "Sales EMEA".into()
        })
    );

    // Deleted in the IdP: deleted, unless never_remove covers it (then it stays, local).
    assert_eq!(
        w.sync_group(&GroupInput::Deleted {
            scim_id: "s-2".into()
        })
        .change,
        Some(GroupChange::Delete {
            group_id: local,
            name: "MARKETING".into()
        })
    );
    w.idp_group("s-5", "keep-this");
    w.sync_idp_group("s-5");
    let kept = w.find_group(DIR, Some("s-5"), "").unwrap();
    let r = w.sync_group(&GroupInput::Deleted {
        scim_id: "s-5".into(),
    });
    assert_eq!(
        r,
        GroupResult {
            scim_id: "s-5".into(),
            outcome: Outcome::Updated,
            change: Some(GroupChange::Unlink {
                group_id: kept,
                name: "keep-this".into()
            }),
        }
    );
    assert_eq!(
        w.sync_group(&GroupInput::Deleted {
            scim_id: "s-404".into()
        })
        .outcome,
        Outcome::Unchanged
    );

    // A name expression that fails.
    let mut w = World::new("[groups]\nname = 'group.externalId'\n");
    w.idp_group("s-1", "Sales");
    assert_eq!(
        w.sync_idp_group("s-1").outcome,
        Outcome::Failed {
            reason: "groups.name: the group name is empty".into()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------------

#[test]
fn preview_over_ten_thousand_users() {
    // The preview loop as the store will run it: groups mapped once, settings compiled once.
    let settings = compile(
        "[mapping]\nusername = 'lower(user.userName)'\n[mapping.attributes]\ndepartment = 'ext(user, \"department\")'\n[groups]\nalways_assign = ['jira-users']\nrequired = ['team-.*']\n",
    );
    let groups: Vec<IdpGroup> = (0..20)
        .map(|i| {
            settings.map_group(
                &format!("g{i}"),
                &object(json!({"displayName": format!("team-{i}")})),
            )
        })
        .collect();
    let index = GroupIndex::default();
    let started = std::time::Instant::now();
    let mut summary = SyncSummary::default();
    let n = 10_000;
    for i in 0..n {
        let user = entra_user(
            &format!("User{i}@contoso.com"),
            &format!("Given{i}"),
            "Family",
        );
        let member_of = if i % 10 == 0 {
            vec![]
        } else {
            vec![groups[i % 20].clone(), groups[(i + 1) % 20].clone()]
        };
        let input = UserInput::present(&settings, &format!("s{i}"), &user, member_of);
        let state = UserState {
            linked: None,
            username_holder: None,
            memberships: &[],
            groups: &index,
            copy_source: None,
        };
        summary.add_user(&sync_user(&settings, &input, &state));
    }
    let elapsed = started.elapsed();
    assert_eq!(summary.created, 9_000);
    assert_eq!(summary.filtered, 1_000);
    assert_eq!(summary.memberships_added, 9_000 * 3);
    assert_eq!(summary.groups_created, 21);
    eprintln!("preview of {n} new users: {elapsed:?} (debug build)");
}

#[test]
fn summary_counts_outcomes_and_events() {
    let mut w = World::new("");
    w.idp_group("s-sales", "Sales");
    let mut summary = SyncSummary::default();
    summary.add_user(&w.sync(&w.input("s-adele", &adele(), &["s-sales"])));
    summary.add_user(&w.sync(&w.input("s-adele", &with(adele(), "userName", json!("a@b.c")), &[])));
    summary.add_user(&w.sync(&w.input(
        "s-adele",
        &with(
            with(adele(), "userName", json!("a@b.c")),
            "active",
            json!(false),
        ),
        &[],
    )));
    summary.add_user(&w.sync(&UserInput::deleted("s-adele")));
    summary.add_group(&w.sync_idp_group("s-sales"));
    let want = SyncSummary {
        created: 1,
        updated: 2,
        disabled: 1,
        renamed: 1,
        memberships_added: 1,
        memberships_removed: 1,
        groups_created: 1,
        ..SyncSummary::default()
    };
    assert_eq!(
        serde_json::to_value(&summary).unwrap(),
        serde_json::to_value(&want).unwrap()
    );
}

#[test]
fn change_sets_serialize_for_previews_and_audit() {
    let mut w = World::new(&cleanup_toml(
        CleanupReason::Dropped,
        CleanupAction::Anonymize,
        true,
    ));
    w.idp_group("s-jira", "jira-users");
    let created = w.sync(&w.input("s-adele", &adele(), &["s-jira"]));
    let anonymized = w.sync(&triggered(&w, CleanupReason::Dropped));
    let f = World::new("[mapping]\nactive = 'user.nope'\n");
    let failed = f.preview(&f.input("s-x", &adele(), &[]));
    for r in [&created, &anonymized, &failed] {
        let value = serde_json::to_value(r).unwrap();
        let back: UserResult = serde_json::from_value(value).unwrap();
        assert_eq!(&back, r);
    }
    let value = serde_json::to_value(&anonymized).unwrap();
    assert_eq!(value["outcome"], json!({"outcome": "disabled"}));
    assert_eq!(value["user"]["op"], "update");
    assert_eq!(
        value["user"]["events"][0],
        json!({"event": "cleaned_up", "reason": "dropped", "action": "anonymize"})
    );
    assert_eq!(
        value["memberships"][0],
        json!({"op": "remove", "group": "everyone", "idp_group": null, "origin": "rule"})
    );
    assert_eq!(
        serde_json::to_value(&failed.outcome).unwrap(),
        json!({"outcome": "failed", "reason": "mapping.active: missing attribute 'nope' (use has(), coalesce() or ?. for optional attributes)"})
    );
    let group = w.sync_idp_group("s-jira");
    let back: GroupResult = serde_json::from_value(serde_json::to_value(&group).unwrap()).unwrap();
    assert_eq!(back, group);
}

#[test]
fn a_partial_group_index_from_the_lookups_gives_the_same_result() {
    let mut w = World::new(
        "[groups]\nalways_assign = ['jira-users']\n[copy]\nfrom_directory = 'internal'\n",
    );
    for (id, name) in [
        ("s-sales", "Sales"),
        ("s-eng", "Engineering"),
        ("s-ops", "Ops"),
    ] {
        w.idp_group(id, name);
        w.sync_idp_group(id);
    }
    w.group_in(DIR, "jira-users", None);
    w.group_in(DIR, "unrelated", None);
    let old = w.user_in(INTERNAL, "AdeleV@contoso.onmicrosoft.com", None);
    w.member(&old, "confluence-users", Local);
    w.group_in(DIR, "confluence-users", None);
    let input = w.input("s-adele", &adele(), &["s-sales", "s-eng"]);
    let full = w.preview(&input);

    let copy_memberships = w.memberships_of(&old);
    let source = CopySource {
        user: w.users.iter().find(|u| u.id == old).unwrap(),
        memberships: &copy_memberships,
    };
    let lookups = input.group_lookups(&w.settings, Some(&source));
    assert_eq!(
        lookups.names.iter().map(String::as_str).collect::<Vec<_>>(),
        ["confluence-users", "engineering", "jira-users", "sales"]
    );
    assert_eq!(lookups.idp_ids.len(), 2);
    let needed = w.groups.iter().filter(|g| {
        g.directory == DIR
            && (g
                .idp_id
                .as_ref()
                .is_some_and(|i| lookups.idp_ids.contains(i))
                || lookups.names.contains(&fold_name(&g.name)))
    });
    let index = GroupIndex::new(needed);
    let partial = sync_user(
        &w.settings,
        &input,
        &UserState {
            linked: None,
            username_holder: None,
            memberships: &[],
            groups: &index,
            copy_source: Some(source),
        },
    );
    assert_eq!(partial, full);
    assert_eq!(full.create_groups, [], "every group exists");
}

#[test]
fn compiled_settings_are_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<CompiledSettings>();
    shareable::<UserResult>();
    shareable::<GroupIndex>();
}

#[test]
fn outcome_kinds_are_the_counter_names() {
    let all = [
        Outcome::Created,
        Outcome::Updated,
        Outcome::Unchanged,
        Outcome::Disabled,
        Outcome::Deleted,
        Outcome::Filtered,
        Outcome::Failed {
            reason: String::new(),
        },
    ];
    assert_eq!(all.map(|o| o.as_str()), Outcome::KINDS);
}
