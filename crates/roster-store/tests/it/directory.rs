//! The directory side of every store, driven the way production drives it: SCIM writes of
//! Entra-shaped resources (through the `Store` trait, as the IdP view service makes them),
//! settings documents, and the admin's reads, local writes, preview and apply.
//!
//! Each check takes a fresh `Arc<dyn Store>`; [`suite!`] runs them on SQLite.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use roster_core::directory::{CleanupAction, CleanupReason, INTERNAL, MembershipOrigin};
use roster_core::settings::Settings;
use roster_core::store::{
    Actor, AuditAction, AuditEntry, AuditQuery, DirectoryStore, GroupQuery, NewGroup, NewResource,
    NewUser, OutcomeQuery, ResourceKind, SubjectKind, SyncOptions, SyncSource, Update,
    UserInDirectory, UserQuery, WriteContext,
};
use roster_core::sync::{Outcome, UserChange, UserEvent, cleanup::pseudonym};
use roster_core::{Store, StoreError};
use scim::patch::{Member, MemberDelta, PatchOutcome};
use serde_json::{Map, Value, json};

use crate::{at, body, connector};

const USER: ResourceKind = ResourceKind::User;
const GROUP: ResourceKind = ResourceKind::Group;
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A user as Entra's default attribute mappings provision it.
fn entra(upn: &str, given: &str, family: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": given,
        "userName": upn,
        "active": true,
        "displayName": format!("{given} {family}"),
        "emails": [{"value": upn.to_lowercase(), "type": "work", "primary": true}],
        "name": {"givenName": given, "familyName": family},
        ENTERPRISE: {"department": "Retail", "employeeNumber": "100"},
    })
}

/// An admin's write.
fn admin(secs: i64) -> WriteContext {
    WriteContext::new(at(secs), Actor::Admin("alice".into()))
}

/// One connector's IdP, writing through the store as the IdP view service does, with a
/// clock that moves one second per write and a request id per write (`req-{second}`).
struct Idp {
    store: Arc<dyn Store>,
    c: String,
    clock: AtomicI64,
}

impl Idp {
    async fn new(store: &Arc<dyn Store>, c: &str) -> Self {
        connector(store, c).await;
        Self {
            store: Arc::clone(store),
            c: c.to_owned(),
            clock: AtomicI64::new(100),
        }
    }

    fn dir(&self) -> &dyn DirectoryStore {
        self.store.directory()
    }

    fn ctx(&self) -> WriteContext {
        let t = self.clock.fetch_add(1, Ordering::Relaxed);
        WriteContext::new(at(t), Actor::Connector(self.c.clone()))
            .with_request_id(format!("req-{t}"))
    }

    /// The request id the next write will carry.
    fn next_request(&self) -> String {
        format!("req-{}", self.clock.load(Ordering::Relaxed))
    }

    async fn settings(&self, toml: &str) {
        let s = Settings::from_toml(toml).unwrap_or_else(|e| panic!("{e}"));
        self.dir()
            .set_settings(&self.c, &s, None, &admin(50))
            .await
            .expect("settings");
    }

    async fn user(&self, id: &str, v: Value) {
        self.store
            .create_resource(
                &self.c,
                USER,
                NewResource {
                    id: id.into(),
                    body: body(USER, v),
                    members: Vec::new(),
                },
                &self.ctx(),
            )
            .await
            .expect("create user");
    }

    async fn replace_user(&self, id: &str, v: Value) {
        self.store
            .update_resource(
                &self.c,
                USER,
                id,
                None,
                Update::Replace {
                    body: body(USER, v),
                    members: None,
                },
                &self.ctx(),
            )
            .await
            .expect("replace user");
    }

    /// PATCH one top-level attribute (`null` removes it).
    async fn set(&self, kind: ResourceKind, id: &str, key: &'static str, value: Value) {
        let apply = Box::new(move |body: &mut Map<String, Value>| {
            let changed = body.get(key) != Some(&value);
            if value.is_null() {
                body.remove(key);
            } else {
                body.insert(key.to_owned(), value.clone());
            }
            Ok(PatchOutcome {
                changed,
                members: MemberDelta::default(),
            })
        });
        self.store
            .update_resource(
                &self.c,
                kind,
                id,
                None,
                Update::Patch { apply },
                &self.ctx(),
            )
            .await
            .expect("patch");
    }

    async fn delete(&self, kind: ResourceKind, id: &str) {
        self.store
            .delete_resource(&self.c, kind, id, None, &self.ctx())
            .await
            .expect("delete");
    }

    async fn group(&self, id: &str, name: &str, members: &[&str]) {
        self.store
            .create_resource(
                &self.c,
                GROUP,
                NewResource {
                    id: id.into(),
                    body: body(GROUP, json!({"displayName": name})),
                    members: members.iter().map(|m| member(m)).collect(),
                },
                &self.ctx(),
            )
            .await
            .expect("create group");
    }

    async fn members(&self, group: &str, add: &[&str], remove: &[&str]) {
        let mut delta = MemberDelta::default();
        delta.add(add.iter().map(|m| member(m)));
        delta.remove(remove.iter().map(|m| (*m).to_owned()));
        let apply = Box::new(move |_: &mut Map<String, Value>| {
            Ok(PatchOutcome {
                changed: false,
                members: delta.clone(),
            })
        });
        self.store
            .update_resource(
                &self.c,
                GROUP,
                group,
                None,
                Update::Patch { apply },
                &self.ctx(),
            )
            .await
            .expect("members");
    }

    /// The user of this connector's directory with that username.
    async fn get(&self, username: &str) -> Option<UserInDirectory> {
        self.dir()
            .user(username)
            .await
            .expect("user")
            .and_then(|d| d.users.into_iter().find(|u| u.user.directory == self.c))
    }

    async fn must(&self, username: &str) -> UserInDirectory {
        self.get(username)
            .await
            .unwrap_or_else(|| panic!("no user '{username}' in directory '{}'", self.c))
    }

    /// The user's memberships as (group, origin), by name.
    async fn groups_of(&self, username: &str) -> Vec<(String, MembershipOrigin)> {
        self.must(username)
            .await
            .memberships
            .into_iter()
            .map(|m| (m.group, m.origin))
            .collect()
    }

    /// The names of the connector directory's groups, in order.
    async fn group_names(&self) -> Vec<String> {
        self.dir()
            .groups(&GroupQuery {
                directory: Some(self.c.clone()),
                ..GroupQuery::default()
            })
            .await
            .expect("groups")
            .groups
            .into_iter()
            .map(|g| g.group.name)
            .collect()
    }

    async fn outcome(&self, scim_id: &str) -> Outcome {
        self.dir()
            .sync_outcomes(&OutcomeQuery {
                connector_id: self.c.clone(),
                limit: 10_000,
                ..OutcomeQuery::default()
            })
            .await
            .expect("outcomes")
            .into_iter()
            .find(|o| o.scim_id == scim_id)
            .unwrap_or_else(|| panic!("no outcome for {scim_id}"))
            .outcome
    }

    async fn audit(&self) -> Vec<AuditEntry> {
        self.dir()
            .audit(&AuditQuery {
                connector_id: Some(self.c.clone()),
                limit: 10_000,
                ..AuditQuery::default()
            })
            .await
            .expect("audit")
    }
}

fn member(id: &str) -> Member {
    Member {
        value: id.to_owned(),
        display: None,
        kind: None,
    }
}

fn g(name: &str, origin: MembershipOrigin) -> (String, MembershipOrigin) {
    (name.to_owned(), origin)
}

use MembershipOrigin::{Copied, Idp as FromIdp, Local, Rule};

// ---- mapping ----

pub(crate) async fn mapping_and_custom_attributes(store: Arc<dyn Store>) {
    let idp = Idp::new(&store, "entra").await;
    idp.settings(
        r#"
        [mapping]
        username = "lower(user.userName)"
        drop = "coalesce(user.userType, '') == 'Guest'"
        [mapping.attributes]
        department = 'ext(user, "department")'
        number = 'ext(user, "employeeNumber")'
        manager = 'ext(user, "manager")'
        "#,
    )
    .await;
    idp.user("u1", entra("AdeleV@Contoso.com", "Adele", "Vance"))
        .await;
    let u = idp.must("adelev@contoso.com").await.user;
    assert_eq!(u.data.username, "adelev@contoso.com");
    assert_eq!(u.data.display_name, "Adele Vance");
    assert_eq!(u.data.email.as_deref(), Some("adelev@contoso.com"));
    assert_eq!(u.data.first_name.as_deref(), Some("Adele"));
    assert_eq!(u.data.last_name.as_deref(), Some("Vance"));
    assert!(u.data.active);
    assert_eq!(u.data.idp_id.as_deref(), Some("u1"));
    assert_eq!(
        u.data.attributes,
        [("department", "Retail"), ("number", "100")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into()
    );
    assert_eq!(idp.outcome("u1").await, Outcome::Created);

    // A PUT with another department updates the attribute; one without removes it.
    let mut v = entra("AdeleV@Contoso.com", "Adele", "Vance");
    v[ENTERPRISE]["department"] = json!("Sales");
    idp.replace_user("u1", v.clone()).await;
    let u = idp.must("adelev@contoso.com").await.user;
    assert_eq!(u.data.attributes["department"], "Sales");
    v[ENTERPRISE] = json!({"employeeNumber": "100"});
    idp.replace_user("u1", v).await;
    let u = idp.must("adelev@contoso.com").await.user;
    assert!(!u.data.attributes.contains_key("department"));
    assert_eq!(idp.outcome("u1").await, Outcome::Updated);

    // Entra disables with active = false: mapping, not cleanup.
    idp.set(USER, "u1", "active", json!(false)).await;
    let u = idp.must("adelev@contoso.com").await.user;
    assert!(!u.data.active);
    assert_eq!(u.data.cleanup, None);
    assert_eq!(idp.outcome("u1").await, Outcome::Disabled);
    idp.set(USER, "u1", "active", json!(true)).await;
    assert!(idp.must("adelev@contoso.com").await.user.data.active);

    // A run-time failure is the user's outcome; the SCIM write stands. (The mapping takes
    // the manager for text; Entra sends a reference.)
    let mut v = entra("x@contoso.com", "X", "Y");
    v[ENTERPRISE]["manager"] = json!({"value": "u1", "displayName": "Adele"});
    idp.user("u2", v).await;
    assert!(
        crate::get(&store, "entra", USER, "u2").await.is_some(),
        "the IdP view keeps what the IdP wrote"
    );
    assert!(idp.get("x@contoso.com").await.is_none());
    match idp.outcome("u2").await {
        Outcome::Failed { reason } => {
            assert!(reason.contains("mapping.attributes.manager"), "{reason}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    // Fixing the user (or the mapping) fixes its sync.
    idp.set(USER, "u2", ENTERPRISE, json!({"manager": "Adele"}))
        .await;
    assert!(idp.get("x@contoso.com").await.is_some());
    assert_eq!(idp.outcome("u2").await, Outcome::Created);
}

// ---- groups ----

pub(crate) async fn group_filters(store: Arc<dyn Store>) {
    let idp = Idp::new(&store, "entra").await;
    idp.settings(
        r#"
        [groups]
        only_assign = ["jira-.*"]
        never_assign = ["jira-admins"]
        "#,
    )
    .await;
    idp.user("u1", entra("adele@contoso.com", "Adele", "Vance"))
        .await;
    idp.group("g1", "jira-users", &["u1"]).await;
    idp.group("g2", "Jira-Admins", &["u1"]).await;
    idp.group("g3", "sales", &["u1"]).await;
    assert_eq!(
        idp.group_names().await,
        ["jira-users"],
        "filtered groups are not imported"
    );
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("jira-users", FromIdp)]
    );

    // A rename into the allow-list imports the group with its members ...
    idp.set(GROUP, "g3", "displayName", json!("jira-sales"))
        .await;
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("jira-sales", FromIdp), g("jira-users", FromIdp)]
    );
    // ... a rename inside it renames the directory group, memberships kept ...
    idp.set(GROUP, "g1", "displayName", json!("jira-software"))
        .await;
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("jira-sales", FromIdp), g("jira-software", FromIdp)]
    );
    // ... and one out of it deletes the directory group.
    idp.set(GROUP, "g3", "displayName", json!("sales")).await;
    assert_eq!(idp.group_names().await, ["jira-software"]);
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("jira-software", FromIdp)]
    );

    // Deleting the IdP group deletes the directory group.
    idp.delete(GROUP, "g1").await;
    assert!(idp.group_names().await.is_empty());
    assert!(idp.groups_of("adele@contoso.com").await.is_empty());
}

pub(crate) async fn always_assign_and_never_remove(store: Arc<dyn Store>) {
    let idp = Idp::new(&store, "entra").await;
    idp.settings(
        r#"
        [groups]
        always_assign = ["jira-users"]
        never_remove = ["keep-.*"]
        "#,
    )
    .await;
    idp.user("u1", entra("adele@contoso.com", "Adele", "Vance"))
        .await;
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("jira-users", Rule)]
    );
    let d = store.directory();
    // A manual removal of an always-assign membership is undone at the next sync.
    assert!(
        d.remove_member("entra", "adele@contoso.com", "jira-users", &admin(60))
            .await
            .unwrap()
    );
    assert!(idp.groups_of("adele@contoso.com").await.is_empty());
    idp.set(USER, "u1", "title", json!("Engineer")).await;
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("jira-users", Rule)]
    );

    // A local membership that never_remove covers survives the IdP's authority.
    d.create_group(
        "entra",
        &NewGroup {
            name: "keep-admins".into(),
            description: None,
        },
        &admin(61),
    )
    .await
    .unwrap();
    assert!(
        d.add_member("entra", "adele@contoso.com", "keep-admins", &admin(62))
            .await
            .unwrap()
    );
    assert!(
        !d.add_member("entra", "adele@contoso.com", "keep-admins", &admin(62))
            .await
            .unwrap(),
        "already a member"
    );
    idp.set(USER, "u1", "title", json!("Lead")).await;
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("jira-users", Rule), g("keep-admins", Local)]
    );
    // An IdP group of an always-assign name: the rule wins the origin.
    idp.group("g1", "jira-users", &["u1"]).await;
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("jira-users", Rule), g("keep-admins", Local)]
    );
}

pub(crate) async fn idp_is_authoritative_by_default(store: Arc<dyn Store>) {
    let idp = Idp::new(&store, "entra").await;
    idp.user("u1", entra("adele@contoso.com", "Adele", "Vance"))
        .await;
    idp.group("g1", "engineering", &["u1"]).await;
    let d = store.directory();
    d.create_group(
        "entra",
        &NewGroup {
            name: "on-call".into(),
            description: Some("pager".into()),
        },
        &admin(60),
    )
    .await
    .unwrap();
    d.add_member("entra", "adele@contoso.com", "on-call", &admin(61))
        .await
        .unwrap();
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("engineering", FromIdp), g("on-call", Local)]
    );
    // The next sync of the user removes what the IdP does not report.
    idp.set(USER, "u1", "title", json!("Engineer")).await;
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("engineering", FromIdp)]
    );
    let removed = idp
        .audit()
        .await
        .into_iter()
        .find(|e| e.action == AuditAction::MembershipRemove)
        .expect("a membership.remove row");
    assert_eq!(removed.before.as_ref().unwrap()["group"], "on-call");
    assert_eq!(removed.before.as_ref().unwrap()["origin"], "local");
    assert_eq!(removed.actor, Actor::Connector("entra".into()));

    // "User data only": never assign and never remove anything.
    idp.settings("[groups]\nnever_assign = ['.*']\nnever_remove = ['.*']\n")
        .await;
    d.add_member("entra", "adele@contoso.com", "on-call", &admin(70))
        .await
        .unwrap();
    idp.set(USER, "u1", "title", json!("Lead")).await;
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("engineering", FromIdp), g("on-call", Local)],
        "nothing is removed"
    );
    idp.user("u2", entra("bob@contoso.com", "Bob", "Ray")).await;
    idp.members("g1", &["u2"], &[]).await;
    assert!(
        idp.groups_of("bob@contoso.com").await.is_empty(),
        "nothing is assigned"
    );
}

pub(crate) async fn required_groups(store: Arc<dyn Store>) {
    let idp = Idp::new(&store, "entra").await;
    idp.settings("[groups]\nrequired = ['licensed-.*']\n").await;
    idp.user("u1", entra("adele@contoso.com", "Adele", "Vance"))
        .await;
    assert!(idp.get("adele@contoso.com").await.is_none(), "not created");
    assert_eq!(idp.outcome("u1").await, Outcome::Filtered);
    idp.group("g1", "licensed-jira", &["u1"]).await;
    let u = idp.must("adele@contoso.com").await;
    assert!(u.user.data.active);
    assert_eq!(idp.outcome("u1").await, Outcome::Created);

    idp.members("g1", &[], &["u1"]).await;
    let u = idp.must("adele@contoso.com").await.user;
    assert!(!u.data.active);
    assert_eq!(
        u.data.cleanup.map(|c| c.reason),
        Some(CleanupReason::NotInRequired)
    );
    assert_eq!(idp.outcome("u1").await, Outcome::Disabled);

    idp.members("g1", &["u1"], &[]).await;
    let u = idp.must("adele@contoso.com").await.user;
    assert!(u.data.active, "back when the reason goes away");
    assert_eq!(u.data.cleanup, None);

    // Deleting the required group re-syncs its members.
    idp.delete(GROUP, "g1").await;
    assert!(!idp.must("adele@contoso.com").await.user.data.active);
}

// ---- cleanup ----

/// Each cleanup action on each trigger, and what happens when the reason goes away.
pub(crate) async fn cleanup_on_every_trigger(store: Arc<dyn Store>) {
    let actions = [
        CleanupAction::Disable,
        CleanupAction::Delete,
        CleanupAction::Anonymize,
        CleanupAction::Keep,
    ];
    let triggers = [
        CleanupReason::Deleted,
        CleanupReason::NotInRequired,
        CleanupReason::Dropped,
    ];
    for (i, (trigger, action)) in triggers
        .iter()
        .flat_map(|t| actions.iter().map(move |a| (*t, *a)))
        .enumerate()
    {
        let c = format!("c{i}");
        let case = format!("{trigger} → {action}");
        let idp = Idp::new(&store, &c).await;
        idp.settings(&format!(
            r#"
            [mapping]
            drop = "coalesce(user.title, '') == 'contractor'"
            [groups]
            required = [{required}]
            never_remove = ["keep"]
            [cleanup]
            {trigger} = "{action}"
            "#,
            required = if trigger == CleanupReason::NotInRequired {
                "'licensed'"
            } else {
                ""
            },
        ))
        .await;
        idp.user("u1", entra("adele@contoso.com", "Adele", "Vance"))
            .await;
        idp.group("g1", "licensed", &["u1"]).await;
        idp.store
            .directory()
            .create_group(
                &c,
                &NewGroup {
                    name: "keep".into(),
                    description: None,
                },
                &admin(60),
            )
            .await
            .unwrap();
        idp.store
            .directory()
            .add_member(&c, "adele@contoso.com", "keep", &admin(61))
            .await
            .unwrap();
        let before = idp.must("adele@contoso.com").await.user;
        assert!(before.data.active, "{case}");

        match trigger {
            CleanupReason::Deleted => idp.delete(USER, "u1").await,
            CleanupReason::NotInRequired => idp.members("g1", &[], &["u1"]).await,
            CleanupReason::Dropped => idp.set(USER, "u1", "title", json!("contractor")).await,
        }
        let state = Some(roster_core::directory::CleanupState {
            reason: trigger,
            action,
        });
        let pseudonym = pseudonym("u1");
        match action {
            CleanupAction::Disable => {
                let u = idp.must("adele@contoso.com").await;
                assert!(!u.user.data.active, "{case}");
                assert_eq!(u.user.data.cleanup, state, "{case}");
                assert_eq!(u.user.id, before.id, "{case}");
                assert_eq!(u.memberships.len(), 2, "{case}: memberships kept");
                assert_eq!(idp.outcome("u1").await, Outcome::Disabled, "{case}");
            }
            CleanupAction::Delete => {
                assert!(idp.get("adele@contoso.com").await.is_none(), "{case}");
                assert_eq!(idp.outcome("u1").await, Outcome::Deleted, "{case}");
            }
            CleanupAction::Anonymize => {
                assert!(idp.get("adele@contoso.com").await.is_none(), "{case}");
                let u = idp.must(&pseudonym).await.user;
                assert!(u.data.anonymized && !u.data.active, "{case}");
                assert_eq!(
                    u.data.email,
                    Some(format!("{pseudonym}@anonymized.invalid"))
                );
                assert_eq!(u.data.first_name, None, "{case}");
                assert_eq!(u.data.idp_id.as_deref(), Some("u1"), "{case}: link kept");
                assert_eq!(u.id, before.id, "{case}");
            }
            CleanupAction::Keep => {
                let u = idp.must("adele@contoso.com").await.user;
                assert!(u.data.active, "{case}");
                assert_eq!(u.data.cleanup, state, "{case}");
            }
        }

        // The reason goes away.
        match trigger {
            // A hard-deleted IdP user comes back with a new SCIM id: it takes over the
            // directory user with its username if there is one (not linked to a live user).
            CleanupReason::Deleted => {
                idp.user("u1b", entra("adele@contoso.com", "Adele", "Vance"))
                    .await;
            }
            CleanupReason::NotInRequired => idp.members("g1", &["u1"], &[]).await,
            CleanupReason::Dropped => idp.set(USER, "u1", "title", json!("engineer")).await,
        }
        let u = idp.must("adele@contoso.com").await;
        assert!(u.user.data.active, "{case}: active again");
        assert_eq!(u.user.data.cleanup, None, "{case}");
        assert!(!u.user.data.anonymized, "{case}");
        let same_user = match (trigger, action) {
            (_, CleanupAction::Delete) => false,
            // The pseudonym hides the username: a new SCIM id cannot find it.
            (CleanupReason::Deleted, CleanupAction::Anonymize) => false,
            _ => true,
        };
        assert_eq!(u.user.id == before.id, same_user, "{case}");
        if same_user {
            assert!(
                u.memberships.iter().any(|m| m.group == "keep"),
                "{case}: memberships survive cleanup"
            );
        }
    }

    // remove_memberships strips every membership of a cleaned-up user.
    let idp = Idp::new(&store, "strip").await;
    idp.settings("[cleanup]\nremove_memberships = true\n").await;
    idp.user("u1", entra("adele@contoso.com", "Adele", "Vance"))
        .await;
    idp.group("g1", "engineering", &["u1"]).await;
    idp.delete(USER, "u1").await;
    let u = idp.must("adele@contoso.com").await;
    assert!(!u.user.data.active);
    assert!(u.memberships.is_empty());
}

// ---- copy ----

pub(crate) async fn copy_from_internal(store: Arc<dyn Store>) {
    let d = store.directory();
    let last_login = at(-86_400);
    let local = d
        .create_user(
            INTERNAL,
            &NewUser {
                email: Some("adele@old.example".into()),
                attributes: [("badge".to_owned(), "42".to_owned())].into(),
                last_login: Some(last_login),
                ..NewUser::named("adele@contoso.com")
            },
            &admin(10),
        )
        .await
        .unwrap();
    assert_eq!(local.data.idp_id, None);
    d.create_group(
        INTERNAL,
        &NewGroup {
            name: "confluence-users".into(),
            description: None,
        },
        &admin(11),
    )
    .await
    .unwrap();
    d.add_member(
        INTERNAL,
        "adele@contoso.com",
        "confluence-users",
        &admin(12),
    )
    .await
    .unwrap();
    assert!(matches!(
        d.create_user(INTERNAL, &NewUser::named("ADELE@contoso.com"), &admin(13))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        d.create_user(INTERNAL, &NewUser::named(" padded"), &admin(13))
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        d.create_user("nowhere", &NewUser::named("x"), &admin(13))
            .await,
        Err(StoreError::NotFound)
    ));

    let idp = Idp::new(&store, "entra").await;
    idp.settings(
        r#"
        [groups]
        never_remove = ["confluence-.*"]
        [mapping.attributes]
        department = 'ext(user, "department")'
        [copy]
        from_directory = "internal"
        "#,
    )
    .await;
    idp.user("u1", entra("Adele@contoso.com", "Adele", "Vance"))
        .await;
    let u = idp.must("adele@contoso.com").await;
    assert_eq!(u.user.data.last_login, Some(last_login));
    assert_eq!(u.user.data.attributes["badge"], "42");
    assert_eq!(u.user.data.attributes["department"], "Retail");
    assert_eq!(
        u.user.data.email.as_deref(),
        Some("adele@contoso.com"),
        "mapped wins"
    );
    assert_eq!(u.memberships.len(), 1);
    assert_eq!(
        (u.memberships[0].group.as_str(), u.memberships[0].origin),
        ("confluence-users", Copied)
    );
    let created = idp
        .audit()
        .await
        .into_iter()
        .find(|e| e.action == AuditAction::UserCreate)
        .unwrap();
    assert_eq!(
        created.detail.unwrap()["events"][0],
        json!({"event": "copied", "from_directory": "internal"})
    );
    // The next sync keeps the copied membership (never_remove covers it).
    idp.set(USER, "u1", "title", json!("Lead")).await;
    assert_eq!(
        idp.groups_of("adele@contoso.com").await,
        [g("confluence-users", Copied)]
    );
    // The source is untouched.
    let source = d.user("adele@contoso.com").await.unwrap().unwrap();
    assert_eq!(source.users[0].user, local);
}

// ---- identity ----

pub(crate) async fn rename_by_idp_id(store: Arc<dyn Store>) {
    let idp = Idp::new(&store, "entra").await;
    idp.settings("[mapping]\nusername = 'strip_domain(user.userName)'\n")
        .await;
    idp.user("u1", entra("adele@contoso.com", "Adele", "Vance"))
        .await;
    idp.group("g1", "engineering", &["u1"]).await;
    let before = idp.must("adele").await;
    idp.set(USER, "u1", "userName", json!("adele.vance@contoso.com"))
        .await;
    assert!(idp.get("adele").await.is_none());
    let after = idp.must("adele.vance").await;
    assert_eq!(after.user.id, before.user.id, "a rename, not a new user");
    assert_eq!(after.memberships, before.memberships);
    let renamed = idp
        .audit()
        .await
        .into_iter()
        .rfind(|e| e.action == AuditAction::UserUpdate)
        .unwrap();
    assert_eq!(renamed.before.as_ref().unwrap()["username"], "adele");
    assert_eq!(renamed.after.as_ref().unwrap()["username"], "adele.vance");
    assert_eq!(
        renamed.detail.unwrap()["events"],
        json!([{"event": "renamed", "from": "adele", "to": "adele.vance"}])
    );

    // A rename onto a username another user holds is refused, reported, and changes nothing.
    idp.user("u2", entra("bob@contoso.com", "Bob", "Ray")).await;
    idp.set(USER, "u2", "userName", json!("adele.vance@fabrikam.com"))
        .await;
    assert_eq!(
        crate::get(&store, "entra", USER, "u2").await.unwrap().body["userName"],
        "adele.vance@fabrikam.com",
        "the IdP view keeps the write"
    );
    let bob = idp.must("bob").await;
    assert_eq!(bob.user.data.idp_id.as_deref(), Some("u2"));
    assert_eq!(idp.must("adele.vance").await.user, after.user, "not merged");
    match idp.outcome("u2").await {
        Outcome::Failed { reason } => {
            assert!(
                reason.contains("'adele.vance' is held by another user"),
                "{reason}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let failed = idp
        .dir()
        .sync_outcomes(&OutcomeQuery {
            connector_id: "entra".into(),
            outcome: Some("failed".into()),
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].name.as_deref(), Some("bob"));

    // A new IdP user whose username a live user holds is refused too (not adopted).
    idp.user("u3", entra("adele.vance@other.example", "Adele", "Other"))
        .await;
    assert!(matches!(idp.outcome("u3").await, Outcome::Failed { .. }));
    assert_eq!(idp.must("adele.vance").await.user, after.user);

    // A SCIM id that comes back (ids are never reused by Roster, but a store must not trip on
    // one) finds its linked user.
    idp.delete(USER, "u2").await;
    assert!(!idp.must("bob").await.user.data.active);
    idp.user("u2", entra("bob@contoso.com", "Bob", "Ray")).await;
    let back = idp.must("bob").await.user;
    assert_eq!(back.id, bob.user.id);
    assert!(back.data.active);

    // A group rename keeps the directory group and its memberships.
    let group_id = idp.must("adele.vance").await.memberships[0]
        .group_id
        .clone();
    idp.set(GROUP, "g1", "displayName", json!("Engineering EU"))
        .await;
    let m = &idp.must("adele.vance").await.memberships[0];
    assert_eq!(
        (m.group_id.as_str(), m.group.as_str()),
        (group_id.as_str(), "Engineering EU")
    );
}

// ---- directories ----

pub(crate) async fn directory_order_and_effective_user(store: Arc<dyn Store>) {
    let d = store.directory();
    d.create_user(INTERNAL, &NewUser::named("Adele@contoso.com"), &admin(1))
        .await
        .unwrap();
    let idp = Idp::new(&store, "entra").await;
    idp.user("u1", entra("adele@contoso.com", "Adele", "Vance"))
        .await;
    idp.user("u2", entra("bob@contoso.com", "Bob", "Ray")).await;
    let dirs: Vec<String> = d
        .directories()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(dirs, [INTERNAL, "entra"]);

    let detail = d.user("ADELE@CONTOSO.COM").await.unwrap().unwrap();
    assert_eq!(detail.effective_directory, INTERNAL);
    let who: Vec<(&str, bool)> = detail
        .users
        .iter()
        .map(|u| (u.user.directory.as_str(), u.effective))
        .collect();
    assert_eq!(who, [(INTERNAL, true), ("entra", false)]);
    assert!(d.user("nobody").await.unwrap().is_none());

    let page = d.users(&UserQuery::default()).await.unwrap();
    let listed: Vec<(&str, &str, bool)> = page
        .users
        .iter()
        .map(|u| {
            (
                u.user.data.username.as_str(),
                u.user.directory.as_str(),
                u.effective,
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("adele@contoso.com", "entra", false),
            ("Adele@contoso.com", INTERNAL, true),
            ("bob@contoso.com", "entra", true),
        ]
    );
    assert_eq!(page.total, 3);

    let order = vec!["entra".to_owned(), INTERNAL.to_owned()];
    let after = d.reorder_directories(&order, &admin(5)).await.unwrap();
    assert_eq!(after.iter().map(|d| d.position).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(
        d.user("adele@contoso.com")
            .await
            .unwrap()
            .unwrap()
            .effective_directory,
        "entra"
    );
    for bad in [
        vec!["entra".to_owned()],
        vec!["entra".into(), "x".into(), INTERNAL.into()],
    ] {
        assert!(matches!(
            d.reorder_directories(&bad, &admin(6)).await,
            Err(StoreError::Invalid(_))
        ));
    }
    let row = d
        .audit(&AuditQuery {
            newest_first: true,
            limit: 1,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(row.action, AuditAction::DirectoryOrder);
    assert_eq!(row.before, Some(json!([INTERNAL, "entra"])));
    assert_eq!(row.after, Some(json!(["entra", INTERNAL])));
    assert_eq!(row.actor, Actor::Admin("alice".into()));

    // Paging, one directory at a time.
    let first = d
        .users(&UserQuery {
            directory: Some("entra".into()),
            limit: 1,
            ..UserQuery::default()
        })
        .await
        .unwrap();
    assert_eq!((first.total, first.users.len()), (2, 1));
    let second = d
        .users(&UserQuery {
            directory: Some("entra".into()),
            limit: 1,
            after: first.next.clone(),
            ..UserQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(second.users[0].user.data.username, "bob@contoso.com");
    assert_eq!(second.next, None);

    // A connector's directory goes with it, and says so.
    store.delete_connector("entra", &admin(7)).await.unwrap();
    let dirs: Vec<String> = d
        .directories()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(dirs, [INTERNAL]);
    assert_eq!(d.users(&UserQuery::default()).await.unwrap().total, 1);
    let gone = d
        .audit(&AuditQuery {
            connector_id: Some("entra".into()),
            newest_first: true,
            limit: 1,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(gone.action, AuditAction::DirectoryDelete);
    assert_eq!(
        gone.detail,
        Some(json!({"users_removed": 2, "groups_removed": 0}))
    );
}

// ---- audit and sync results ----

pub(crate) async fn audit_rows(store: Arc<dyn Store>) {
    let idp = Idp::new(&store, "entra").await;
    let req = idp.next_request();
    idp.user("u1", entra("adele@contoso.com", "Adele", "Vance"))
        .await;
    let rows = idp.audit().await;
    let created = rows
        .iter()
        .find(|e| e.action == AuditAction::UserCreate)
        .unwrap();
    assert_eq!(created.request_id.as_deref(), Some(req.as_str()));
    assert_eq!(created.actor, Actor::Connector("entra".into()));
    assert_eq!(created.connector_id.as_deref(), Some("entra"));
    assert_eq!(created.directory.as_deref(), Some("entra"));
    assert_eq!(created.subject.kind, SubjectKind::User);
    assert_eq!(created.subject.name.as_deref(), Some("adele@contoso.com"));
    assert_eq!(created.before, None);
    assert_eq!(
        created.after.as_ref().unwrap()["display_name"],
        "Adele Vance"
    );
    assert_eq!(created.at, at(100));

    let req = idp.next_request();
    idp.set(USER, "u1", "displayName", json!("Adele V.")).await;
    let rows = idp.audit().await;
    let updated = rows.last().unwrap();
    assert_eq!(updated.action, AuditAction::UserUpdate);
    assert_eq!(updated.request_id.as_deref(), Some(req.as_str()));
    assert_eq!(updated.subject.id, created.subject.id);
    assert_eq!(
        updated.before.as_ref().unwrap()["display_name"],
        "Adele Vance"
    );
    assert_eq!(updated.after.as_ref().unwrap()["display_name"], "Adele V.");

    // A PATCH the mapping does not see changes nothing in the directory: no row.
    let n = rows.len();
    idp.set(USER, "u1", "nickName", json!("Ad")).await;
    assert_eq!(idp.audit().await.len(), n);

    // A group and a membership.
    idp.group("g1", "engineering", &["u1"]).await;
    let rows = idp.audit().await;
    let actions: Vec<AuditAction> = rows[n..].iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [AuditAction::GroupCreate, AuditAction::MembershipAdd]
    );
    assert_eq!(rows[n + 1].after.as_ref().unwrap()["group"], "engineering");
    assert_eq!(rows[n + 1].after.as_ref().unwrap()["origin"], "idp");

    // Settings are versioned in the log.
    let d = store.directory();
    let mut s = d.settings("entra").await.unwrap();
    assert_eq!(s.version, 0);
    s.settings.groups.always_assign = vec!["everyone".into()];
    let stored = d
        .set_settings("entra", &s.settings, Some(0), &admin(500))
        .await
        .unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.updated_at, Some(at(500)));
    assert!(matches!(
        d.set_settings("entra", &s.settings, Some(0), &admin(501))
            .await,
        Err(StoreError::PreconditionFailed { current: 1 })
    ));
    let mut bad = s.settings.clone();
    bad.mapping.email = "primary_email(user".into();
    match d.set_settings("entra", &bad, None, &admin(502)).await {
        Err(StoreError::InvalidSettings(errors)) => assert_eq!(errors[0].field, "mapping.email"),
        other => panic!("expected invalid settings, got {other:?}"),
    }
    assert!(matches!(
        d.set_settings("nope", &s.settings, None, &admin(502)).await,
        Err(StoreError::NotFound)
    ));
    let row = idp.audit().await.pop().unwrap();
    assert_eq!(row.action, AuditAction::SettingsSet);
    assert_eq!(row.subject.kind, SubjectKind::Settings);
    assert_eq!(row.before.as_ref().unwrap()["version"], 0);
    assert_eq!(row.after.as_ref().unwrap()["version"], 1);
    assert_eq!(
        row.after.as_ref().unwrap()["settings"]["groups"]["always_assign"],
        json!(["everyone"])
    );
    assert_eq!(d.settings("entra").await.unwrap().settings, s.settings);

    // A change feed: rows after a sequence number, in order, never reused.
    let all = d.audit(&AuditQuery::default()).await.unwrap();
    let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let tail = d
        .audit(&AuditQuery {
            since: Some(seqs[seqs.len() - 2]),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(tail.len(), 1);
    let newest = d
        .audit(&AuditQuery {
            newest_first: true,
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(newest[0].seq, *seqs.last().unwrap());
}

pub(crate) async fn sync_result_counters(store: Arc<dyn Store>) {
    let idp = Idp::new(&store, "entra").await;
    idp.settings("[mapping]\ndrop = \"user.userType == 'Guest'\"\n")
        .await;
    idp.user("u1", json!({"userName": "a@x.com", "userType": "Member"}))
        .await;
    idp.user("u2", json!({"userName": "b@x.com", "userType": "Guest"}))
        .await;
    idp.user("u3", json!({"userName": "c@x.com"})).await; // userType missing: the mapping fails
    idp.set(USER, "u1", "userType", json!("Guest")).await; // dropped → disabled
    idp.set(USER, "u1", "nickName", json!("x")).await; // synced again: unchanged
    let runs = idp.dir().sync_runs("entra", None, 0).await.unwrap();
    assert_eq!(runs.len(), 1, "one hourly bucket of SCIM traffic");
    let r = &runs[0];
    assert_eq!(r.source, SyncSource::Scim);
    let c = r.counters;
    assert_eq!(
        (
            c.created,
            c.filtered,
            c.failed,
            c.disabled,
            c.updated,
            c.unchanged,
            c.deleted
        ),
        (1, 1, 1, 1, 0, 1, 0),
        "{c:?}"
    );
    assert_eq!(r.last_at, at(104));

    let outcomes = idp
        .dir()
        .sync_outcomes(&OutcomeQuery {
            connector_id: "entra".into(),
            ..OutcomeQuery::default()
        })
        .await
        .unwrap();
    let by_id = |id: &str| outcomes.iter().find(|o| o.scim_id == id).unwrap();
    assert_eq!(
        by_id("u1").outcome,
        Outcome::Unchanged,
        "the latest outcome"
    );
    assert_eq!(by_id("u1").name.as_deref(), Some("a@x.com"));
    assert_eq!(by_id("u2").outcome, Outcome::Filtered);
    assert!(
        matches!(&by_id("u3").outcome, Outcome::Failed { reason } if reason.contains("mapping.drop"))
    );
    assert_eq!(by_id("u3").name.as_deref(), Some("c@x.com"));

    // An apply is one run of its own.
    let report = idp
        .dir()
        .apply("entra", &SyncOptions::default(), &admin(7_200))
        .await
        .unwrap();
    assert_eq!(report.summary.failed, 1);
    let runs = idp.dir().sync_runs("entra", None, 0).await.unwrap();
    assert_eq!(runs[0].source, SyncSource::Apply);
    assert_eq!(runs[0].started_at, at(7_200));
    assert_eq!(
        (
            runs[0].counters.unchanged,
            runs[0].counters.filtered,
            runs[0].counters.failed
        ),
        (1, 1, 1)
    );
}

/// A group PATCH of k members syncs those k users, not the group's other members.
pub(crate) async fn member_deltas_sync_only_their_users(store: Arc<dyn Store>) {
    let idp = Idp::new(&store, "entra").await;
    let ids: Vec<String> = (0..30).map(|i| format!("u{i}")).collect();
    for id in &ids {
        idp.user(id, json!({"userName": format!("{id}@x.com")}))
            .await;
    }
    let members: Vec<&str> = ids[..20].iter().map(String::as_str).collect();
    idp.group("g1", "big", &members).await;
    let count = |runs: Vec<roster_core::store::SyncRun>| {
        let c = runs[0].counters;
        c.created + c.updated + c.unchanged + c.disabled + c.deleted + c.filtered + c.failed
    };
    let before = count(idp.dir().sync_runs("entra", None, 0).await.unwrap());
    idp.members("g1", &["u25", "u26"], &["u0"]).await;
    let after = count(idp.dir().sync_runs("entra", None, 0).await.unwrap());
    assert_eq!(after - before, 3, "three users synced");
    assert!(idp.groups_of("u0@x.com").await.is_empty());
    assert_eq!(idp.groups_of("u25@x.com").await, [g("big", FromIdp)]);
    assert_eq!(idp.groups_of("u1@x.com").await, [g("big", FromIdp)]);
    // A rename syncs nobody: the directory group is renamed, memberships stay.
    idp.set(GROUP, "g1", "displayName", json!("bigger")).await;
    let renamed = count(idp.dir().sync_runs("entra", None, 0).await.unwrap());
    assert_eq!(renamed, after);
    assert_eq!(idp.groups_of("u1@x.com").await, [g("bigger", FromIdp)]);
}

// ---- preview and apply ----

pub(crate) async fn preview_is_apply_without_writing(store: Arc<dyn Store>) {
    let idp = Idp::new(&store, "entra").await;
    for i in 0..12 {
        let mut v = entra(&format!("User{i}@Contoso.com"), "User", &format!("N{i}"));
        if i % 4 == 0 {
            v["title"] = json!("contractor");
        }
        idp.user(&format!("u{i}"), v).await;
    }
    idp.group("g1", "jira-users", &["u1", "u2", "u3"]).await;
    idp.group("g2", "sales", &["u2", "u5"]).await;
    idp.delete(USER, "u11").await;
    let d = store.directory();
    let audit_before = d
        .audit(&AuditQuery {
            limit: 10_000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let users_before = d.users(&UserQuery::default()).await.unwrap();

    let proposed = Settings::from_toml(
        r#"
        [mapping]
        username = "lower(user.userName)"
        drop = "coalesce(user.title, '') == 'contractor'"
        [groups]
        only_assign = ["jira-.*"]
        always_assign = ["everyone"]
        [cleanup]
        dropped = "anonymize"
        deleted = "delete"
        "#,
    )
    .unwrap();
    let preview = d
        .preview(
            "entra",
            &SyncOptions {
                proposed: Some(proposed.clone()),
                ..SyncOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(preview.settings_version, None);
    let s = &preview.summary;
    assert_eq!(
        (s.updated, s.disabled, s.deleted, s.renamed, s.anonymized),
        (8, 3, 1, 8, 3),
        "{s:?}"
    );
    assert_eq!(
        (s.groups_deleted, s.groups_created),
        (1, 1),
        "sales goes, everyone comes"
    );
    assert!(s.memberships_added >= 8);
    assert!(!preview.truncated);
    let renamed = preview
        .users
        .iter()
        .find(|u| u.result.scim_id == "u1")
        .unwrap();
    assert_eq!(renamed.username.as_deref(), Some("user1@contoso.com"));
    match &renamed.result.user {
        Some(UserChange::Update { events, .. }) => assert!(events.contains(&UserEvent::Renamed {
            from: "User1@Contoso.com".into(),
            to: "user1@contoso.com".into()
        })),
        other => panic!("{other:?}"),
    }
    // Nothing was written.
    assert_eq!(
        d.audit(&AuditQuery {
            limit: 10_000,
            ..AuditQuery::default()
        })
        .await
        .unwrap(),
        audit_before
    );
    assert_eq!(d.users(&UserQuery::default()).await.unwrap(), users_before);
    assert!(matches!(
        d.preview("nope", &SyncOptions::default()).await,
        Err(StoreError::NotFound)
    ));
    let mut bad = proposed.clone();
    bad.groups.only_assign = vec!["(".into()];
    assert!(matches!(
        d.preview(
            "entra",
            &SyncOptions {
                proposed: Some(bad),
                ..SyncOptions::default()
            }
        )
        .await,
        Err(StoreError::InvalidSettings(_))
    ));

    // Stored, previewed, applied: the same report.
    d.set_settings("entra", &proposed, None, &admin(1_000))
        .await
        .unwrap();
    let stored = d.preview("entra", &SyncOptions::default()).await.unwrap();
    assert_eq!(stored.settings_version, Some(1));
    assert_eq!(stored.summary, preview.summary);
    let applied = d
        .apply(
            "entra",
            &SyncOptions {
                batch_size: 5,
                ..SyncOptions::default()
            },
            &WriteContext::new(at(2_000), Actor::Cli).with_request_id("apply-1"),
        )
        .await
        .unwrap();
    assert_eq!(applied, stored, "apply does what the preview showed");
    let u = idp.must("user1@contoso.com").await;
    assert_eq!(
        u.memberships
            .iter()
            .map(|m| (m.group.as_str(), m.origin))
            .collect::<Vec<_>>(),
        [("everyone", Rule), ("jira-users", FromIdp)]
    );
    assert!(idp.get(&pseudonym("u4")).await.is_some());
    let rows = d
        .audit(&AuditQuery {
            since: audit_before.last().map(|e| e.seq),
            limit: 10_000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(rows.iter().any(|e| e.action == AuditAction::SettingsSet));
    let by_apply: Vec<&AuditEntry> = rows.iter().filter(|e| e.actor == Actor::Cli).collect();
    assert!(by_apply.len() > 20);
    assert!(
        by_apply
            .iter()
            .all(|e| e.request_id.as_deref() == Some("apply-1"))
    );

    // Applied, nothing is left to do.
    let again = d.preview("entra", &SyncOptions::default()).await.unwrap();
    assert!(again.users.is_empty(), "{:#?}", again.users);
    assert!(again.groups.is_empty());
    assert_eq!(again.summary.unchanged, 11, "u11 was deleted for good");
    assert!(matches!(
        d.apply(
            "entra",
            &SyncOptions {
                proposed: Some(proposed),
                ..SyncOptions::default()
            },
            &admin(3_000)
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
}

/// A settings change previewed over 10,000 users (the release-build figures for 100,000 are
/// in `examples/sync_bench.rs`).
pub(crate) async fn preview_of_ten_thousand_users(store: Arc<dyn Store>) {
    const N: usize = 10_000;
    connector(&store, "big").await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in (t..N).step_by(8) {
                store
                    .create_resource(
                        "big",
                        USER,
                        NewResource {
                            id: format!("u{i:05}"),
                            body: body(USER, entra(&format!("User{i}@Contoso.com"), "User", "X")),
                            members: Vec::new(),
                        },
                        &WriteContext::new(at(1), Actor::Connector("big".into())),
                    )
                    .await
                    .expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let members: Vec<Member> = (0..N)
        .step_by(2)
        .map(|i| member(&format!("u{i:05}")))
        .collect();
    store
        .create_resource(
            "big",
            GROUP,
            NewResource {
                id: "g".into(),
                body: body(GROUP, json!({"displayName": "Half"})),
                members,
            },
            &WriteContext::new(at(2), Actor::Connector("big".into())),
        )
        .await
        .unwrap();
    let d = store.directory();
    let proposed = Settings::from_toml(
        "[mapping]\nusername = 'lower(user.userName)'\n[groups]\nrequired = ['half']\n",
    )
    .unwrap();
    let start = std::time::Instant::now();
    let report = d
        .preview(
            "big",
            &SyncOptions {
                proposed: Some(proposed),
                max_details: 100,
                ..SyncOptions::default()
            },
        )
        .await
        .unwrap();
    let took = start.elapsed();
    // Half are renamed; the other half, in no required group, are disabled (and frozen: not
    // renamed).
    let s = &report.summary;
    assert_eq!(
        (s.updated, s.disabled, s.renamed),
        (N as u64 / 2, N as u64 / 2, N as u64 / 2),
        "{s:?}"
    );
    assert_eq!(report.users.len(), 100);
    assert!(report.truncated);
    eprintln!("preview of {N} users (debug build): {took:?}");
}

suite!(
    sqlite, crate::sqlite_store:
    mapping_and_custom_attributes,
    group_filters,
    always_assign_and_never_remove,
    idp_is_authoritative_by_default,
    required_groups,
    cleanup_on_every_trigger,
    copy_from_internal,
    rename_by_idp_id,
    directory_order_and_effective_user,
    audit_rows,
    sync_result_counters,
    member_deltas_sync_only_their_users,
    preview_is_apply_without_writing,
    preview_of_ten_thousand_users,
);
