//! The conformance suite: what every `Store` must do, against `Arc<dyn Store>`.
//!
//! Each check is a function taking a fresh store; [`suite!`] turns the list into tests for a
//! backend. A PostgreSQL backend adds one more `suite!` invocation with its own factory.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use roster_core::connector::Connector;
use roster_core::store::{Load, NewResource, PatchFn, ResourceKind, ResourceQuery, Update};
use roster_core::token::TokenRecord;
use roster_core::{Store, StoreError};
use scim::patch::{Member, MemberDelta, PatchOutcome};
use scim::path::AttrPath;
use scim::query::Paging;
use serde_json::{Map, Value, json};

use crate::{at, body, connector, create, ctx, get, group_body, user_body};

const USER: ResourceKind = ResourceKind::User;
const GROUP: ResourceKind = ResourceKind::Group;

fn member(id: &str) -> Member {
    Member {
        value: id.to_owned(),
        display: None,
        kind: None,
    }
}

/// A PATCH that changes nothing in the body and applies `delta` to the members.
fn members_patch(delta: MemberDelta) -> Update {
    Update::Patch {
        apply: Box::new(move |_body: &mut Map<String, Value>| {
            Ok(PatchOutcome {
                changed: false,
                members: delta.clone(),
            })
        }),
    }
}

/// A PATCH that sets one attribute.
fn set_patch(key: &'static str, value: Value) -> Update {
    let apply: PatchFn = Box::new(move |body: &mut Map<String, Value>| {
        let changed = body.get(key) != Some(&value);
        body.insert(key.to_owned(), value.clone());
        Ok(PatchOutcome {
            changed,
            members: MemberDelta::default(),
        })
    });
    Update::Patch { apply }
}

fn member_ids(store_members: Option<Vec<Member>>) -> Vec<String> {
    let mut ids: Vec<String> = store_members
        .expect("members loaded")
        .into_iter()
        .map(|m| m.value)
        .collect();
    ids.sort();
    ids
}

fn query(filter: Option<&str>, paging: Paging) -> ResourceQuery {
    ResourceQuery {
        filter: filter.map(|f| scim::filter::parse(f).expect("valid filter")),
        sort_by: None,
        descending: false,
        paging,
        load: Load::default(),
    }
}

fn index(start_index: u64, count: u64) -> Paging {
    Paging::Index { start_index, count }
}

async fn ids(
    store: &Arc<dyn Store>,
    c: &str,
    kind: ResourceKind,
    q: &ResourceQuery,
) -> Vec<String> {
    store
        .query_resources(c, kind, q)
        .await
        .expect("query")
        .items
        .into_iter()
        .map(|r| r.id)
        .collect()
}

// ---- connectors and tokens ----

pub(crate) async fn connectors(store: Arc<dyn Store>) {
    connector(&store, "okta").await;
    connector(&store, "entra").await;
    let all: Vec<String> = store
        .connectors()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(all, ["entra", "okta"], "connectors are listed by id");
    let c = store.connector("entra").await.unwrap().unwrap();
    assert_eq!(
        c,
        Connector {
            id: "entra".into(),
            name: "Connector entra".into(),
            enabled: true,
            created_at: at(0),
        }
    );
    let dup = store
        .create_connector(&Connector {
            name: "again".into(),
            ..c.clone()
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    store.set_connector_enabled("entra", false).await.unwrap();
    assert!(!store.connector("entra").await.unwrap().unwrap().enabled);
    assert!(matches!(
        store.set_connector_enabled("nope", true).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.connector("nope").await.unwrap().is_none());

    store.delete_connector("okta", &ctx(at(200))).await.unwrap();
    assert!(store.connector("okta").await.unwrap().is_none());
    assert!(matches!(
        store.delete_connector("okta", &ctx(at(200))).await,
        Err(StoreError::NotFound)
    ));
}

fn token(id: &str, connector_id: &str, created: i64) -> TokenRecord {
    TokenRecord {
        id: id.to_owned(),
        connector_id: connector_id.to_owned(),
        hash: [created as u8; 32],
        description: format!("token {id}"),
        created_at: at(created),
        expires_at: (created % 2 == 0).then(|| at(created + 3600)),
        last_used_at: None,
    }
}

pub(crate) async fn tokens(store: Arc<dyn Store>) {
    connector(&store, "a").await;
    connector(&store, "b").await;
    let (t1, t2, t3) = (
        token("t1", "a", 2),
        token("t2", "a", 1),
        token("t3", "b", 3),
    );
    for t in [&t1, &t2, &t3] {
        store.add_token(t).await.unwrap();
    }
    assert_eq!(store.token("t1").await.unwrap().as_ref(), Some(&t1));
    assert!(store.token("zz").await.unwrap().is_none());
    assert_eq!(
        store.tokens("a").await.unwrap(),
        [t2.clone(), t1.clone()],
        "oldest first"
    );
    assert!(matches!(
        store.add_token(&token("t4", "missing", 4)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.add_token(&t1).await,
        Err(StoreError::Conflict(_))
    ));

    store.touch_token("t1", at(99)).await.unwrap();
    assert_eq!(
        store.token("t1").await.unwrap().unwrap().last_used_at,
        Some(at(99))
    );
    assert!(matches!(
        store.touch_token("zz", at(99)).await,
        Err(StoreError::NotFound)
    ));

    // A token is revoked through its own connector only.
    assert!(matches!(
        store.revoke_token("b", "t1").await,
        Err(StoreError::NotFound)
    ));
    store.revoke_token("a", "t1").await.unwrap();
    assert!(store.token("t1").await.unwrap().is_none());
    assert_eq!(store.tokens("a").await.unwrap(), [t2]);
}

// ---- resources ----

pub(crate) async fn resource_lifecycle(store: Arc<dyn Store>) {
    connector(&store, "c").await;
    let b = body(
        USER,
        json!({
            "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tour"},
            "active": true,
        }),
    );
    let created = create(&store, "c", USER, "u1", b.clone()).await;
    assert_eq!(created.version, 1);
    assert_eq!(created.created, at(1));
    assert_eq!(created.last_modified, at(1));
    assert_eq!(created.body, b);

    let read = get(&store, "c", USER, "u1").await.unwrap();
    assert_eq!(read.body, b, "the body round-trips exactly");
    assert_eq!((read.version, read.created), (1, at(1)));
    assert_eq!(read.groups, Some(Vec::new()));
    let plain = store
        .get_resource("c", USER, "u1", Load::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((plain.members, plain.groups), (None, None));

    // PUT replaces the body.
    let mut replaced = user_body("bjensen@example.com");
    replaced.insert("displayName".into(), json!("Babs"));
    let up = store
        .update_resource(
            "c",
            USER,
            "u1",
            None,
            Update::Replace {
                body: replaced.clone(),
                members: None,
            },
            &ctx(at(10)),
        )
        .await
        .unwrap();
    assert!(up.changed);
    assert_eq!(up.resource.version, 2);
    assert_eq!(up.resource.last_modified, at(10));
    assert_eq!(up.resource.created, at(1));
    assert_eq!(up.resource.body, replaced);
    assert_eq!(get(&store, "c", USER, "u1").await.unwrap().body, replaced);

    // A PATCH that changes nothing writes nothing.
    let same = store
        .update_resource(
            "c",
            USER,
            "u1",
            None,
            set_patch("displayName", json!("Babs")),
            &ctx(at(50)),
        )
        .await
        .unwrap();
    assert!(!same.changed);
    assert_eq!(same.resource.version, 2);
    assert_eq!(same.resource.last_modified, at(10));

    let patched = store
        .update_resource(
            "c",
            USER,
            "u1",
            None,
            set_patch("title", json!("Boss")),
            &ctx(at(50)),
        )
        .await
        .unwrap();
    assert!(patched.changed);
    assert_eq!(patched.resource.version, 3);
    assert_eq!(patched.resource.body["title"], json!("Boss"));

    // A PATCH that fails changes nothing.
    let failing: PatchFn = Box::new(|body: &mut Map<String, Value>| {
        body.insert("title".into(), json!("Changed"));
        Err(scim::ScimError::no_target("nothing to patch"))
    });
    let e = store
        .update_resource(
            "c",
            USER,
            "u1",
            None,
            Update::Patch { apply: failing },
            &ctx(at(60)),
        )
        .await;
    assert!(matches!(e, Err(StoreError::Scim(_))), "{e:?}");
    assert_eq!(
        get(&store, "c", USER, "u1").await.unwrap().body["title"],
        json!("Boss")
    );

    store
        .delete_resource("c", USER, "u1", None, &ctx(at(1)))
        .await
        .unwrap();
    assert!(get(&store, "c", USER, "u1").await.is_none());
    assert!(matches!(
        store
            .delete_resource("c", USER, "u1", None, &ctx(at(1)))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_resource(
                "c",
                USER,
                "u1",
                None,
                set_patch("title", json!("x")),
                &ctx(at(50))
            )
            .await,
        Err(StoreError::NotFound)
    ));
    // A user is not a group.
    create(&store, "c", USER, "u2", user_body("u2")).await;
    assert!(get(&store, "c", GROUP, "u2").await.is_none());
}

pub(crate) async fn uniqueness_is_case_insensitive(store: Arc<dyn Store>) {
    connector(&store, "c").await;
    create(&store, "c", USER, "u1", user_body("Bob@X.com")).await;
    let new = |id: &str, b| NewResource {
        id: id.to_owned(),
        body: b,
        members: Vec::new(),
    };
    let e = store
        .create_resource("c", USER, new("u2", user_body("bob@x.com")), &ctx(at(1)))
        .await;
    match e {
        Err(StoreError::Conflict(m)) => {
            assert_eq!(m, "userName 'bob@x.com' is already taken");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Renaming onto a taken name conflicts too, and changes nothing.
    create(&store, "c", USER, "u3", user_body("carol")).await;
    let e = store
        .update_resource(
            "c",
            USER,
            "u3",
            None,
            set_patch("userName", json!("BOB@x.COM")),
            &ctx(at(50)),
        )
        .await;
    assert!(matches!(e, Err(StoreError::Conflict(_))), "{e:?}");
    assert_eq!(
        get(&store, "c", USER, "u3").await.unwrap().body["userName"],
        json!("carol")
    );
    // Changing only the case of one's own name is fine.
    store
        .update_resource(
            "c",
            USER,
            "u1",
            None,
            set_patch("userName", json!("BOB@X.COM")),
            &ctx(at(50)),
        )
        .await
        .unwrap();

    create(&store, "c", GROUP, "g1", group_body("Admins")).await;
    let e = store
        .create_resource("c", GROUP, new("g2", group_body("ADMINS")), &ctx(at(1)))
        .await;
    match e {
        Err(StoreError::Conflict(m)) => assert!(m.contains("displayName 'ADMINS'"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Users may share display names; names are unique per connector only.
    connector(&store, "d").await;
    create(&store, "d", USER, "u1", user_body("bob@x.com")).await;
    create(&store, "d", GROUP, "g1", group_body("admins")).await;
}

pub(crate) async fn preconditions(store: Arc<dyn Store>) {
    connector(&store, "c").await;
    create(&store, "c", USER, "u1", user_body("u1")).await;
    let e = store
        .update_resource(
            "c",
            USER,
            "u1",
            Some(7),
            set_patch("title", json!("x")),
            &ctx(at(50)),
        )
        .await;
    assert!(
        matches!(e, Err(StoreError::PreconditionFailed { current: 1 })),
        "{e:?}"
    );
    let ok = store
        .update_resource(
            "c",
            USER,
            "u1",
            Some(1),
            set_patch("title", json!("x")),
            &ctx(at(50)),
        )
        .await
        .unwrap();
    assert_eq!(ok.resource.version, 2);
    assert!(matches!(
        store
            .delete_resource("c", USER, "u1", Some(1), &ctx(at(1)))
            .await,
        Err(StoreError::PreconditionFailed { current: 2 })
    ));
    store
        .delete_resource("c", USER, "u1", Some(2), &ctx(at(1)))
        .await
        .unwrap();
}

pub(crate) async fn member_deltas(store: Arc<dyn Store>) {
    connector(&store, "c").await;
    for u in ["u1", "u2", "u3"] {
        create(&store, "c", USER, u, user_body(u)).await;
    }
    create(&store, "c", GROUP, "inner", group_body("Inner")).await;
    let g = store
        .create_resource(
            "c",
            GROUP,
            NewResource {
                id: "g".into(),
                body: group_body("Outer"),
                members: vec![
                    Member {
                        display: Some("User One".into()),
                        ..member("u1")
                    },
                    member("inner"),
                    member("u1"),
                ],
            },
            &ctx(at(1)),
        )
        .await
        .unwrap();
    let types: Vec<(String, Option<String>)> = g
        .members
        .unwrap()
        .into_iter()
        .map(|m| (m.value, m.kind))
        .collect();
    assert_eq!(
        types,
        [
            ("u1".into(), Some("User".into())),
            ("inner".into(), Some("Group".into()))
        ]
    );

    // Excluded members are not loaded.
    let plain = store
        .get_resource("c", GROUP, "g", Load::default())
        .await
        .unwrap()
        .unwrap();
    assert!(plain.members.is_none());
    let full = get(&store, "c", GROUP, "g").await.unwrap();
    let members = full.members.clone().unwrap();
    let u1 = members.iter().find(|m| m.value == "u1").unwrap();
    assert_eq!(u1.display.as_deref(), Some("User One"));
    assert_eq!(u1.kind.as_deref(), Some("User"));

    // add
    let mut d = MemberDelta::default();
    d.add([member("u2")]);
    let up = store
        .update_resource("c", GROUP, "g", None, members_patch(d), &ctx(at(100)))
        .await
        .unwrap();
    assert!(up.changed);
    assert_eq!(up.resource.version, 2);
    assert_eq!(up.resource.last_modified, at(100));
    assert!(
        up.resource.members.is_none(),
        "an update does not load members"
    );
    assert_eq!(
        member_ids(get(&store, "c", GROUP, "g").await.unwrap().members),
        ["inner", "u1", "u2"]
    );

    // Re-adding a member is no error, no duplicate, and no change.
    let mut d = MemberDelta::default();
    d.add([member("u2"), member("u1")]);
    let up = store
        .update_resource("c", GROUP, "g", None, members_patch(d), &ctx(at(100)))
        .await
        .unwrap();
    assert!(!up.changed);
    assert_eq!(up.resource.version, 2);
    assert_eq!(
        member_ids(get(&store, "c", GROUP, "g").await.unwrap().members),
        ["inner", "u1", "u2"]
    );

    // remove (of a member and of a non-member)
    let mut d = MemberDelta::default();
    d.remove(["u1".to_owned(), "nobody".to_owned()]);
    let up = store
        .update_resource("c", GROUP, "g", None, members_patch(d), &ctx(at(100)))
        .await
        .unwrap();
    assert!(up.changed);
    assert_eq!(
        member_ids(get(&store, "c", GROUP, "g").await.unwrap().members),
        ["inner", "u2"]
    );

    // replace: the same set changes nothing; another set is written as a difference.
    let mut d = MemberDelta::default();
    d.replace([member("u2"), member("inner")]);
    let up = store
        .update_resource("c", GROUP, "g", None, members_patch(d), &ctx(at(100)))
        .await
        .unwrap();
    assert!(!up.changed);
    let mut d = MemberDelta::default();
    d.replace([member("u3"), member("u2")]);
    store
        .update_resource("c", GROUP, "g", None, members_patch(d), &ctx(at(100)))
        .await
        .unwrap();
    assert_eq!(
        member_ids(get(&store, "c", GROUP, "g").await.unwrap().members),
        ["u2", "u3"]
    );

    // PUT with members replaces them; PUT without keeps them.
    store
        .update_resource(
            "c",
            GROUP,
            "g",
            None,
            Update::Replace {
                body: group_body("Outer"),
                members: Some(vec![member("u1")]),
            },
            &ctx(at(120)),
        )
        .await
        .unwrap();
    assert_eq!(
        member_ids(get(&store, "c", GROUP, "g").await.unwrap().members),
        ["u1"]
    );
    store
        .update_resource(
            "c",
            GROUP,
            "g",
            None,
            Update::Replace {
                body: group_body("Renamed"),
                members: None,
            },
            &ctx(at(130)),
        )
        .await
        .unwrap();
    let g = get(&store, "c", GROUP, "g").await.unwrap();
    assert_eq!(member_ids(g.members), ["u1"]);
    assert_eq!(g.body["displayName"], json!("Renamed"));

    // clear
    let mut d = MemberDelta::default();
    d.clear();
    let up = store
        .update_resource("c", GROUP, "g", None, members_patch(d), &ctx(at(100)))
        .await
        .unwrap();
    assert!(up.changed);
    assert!(member_ids(get(&store, "c", GROUP, "g").await.unwrap().members).is_empty());
}

pub(crate) async fn unknown_members_roll_back_everything(store: Arc<dyn Store>) {
    connector(&store, "c").await;
    connector(&store, "other").await;
    create(&store, "c", USER, "u1", user_body("u1")).await;
    create(&store, "other", USER, "elsewhere", user_body("x")).await;
    create(&store, "c", GROUP, "g", group_body("G")).await;
    let before = get(&store, "c", GROUP, "g").await.unwrap();

    // The body changes and a known member is added, but two members do not exist here.
    let apply: PatchFn = Box::new(|body: &mut Map<String, Value>| {
        body.insert("displayName".into(), json!("Changed"));
        let mut members = MemberDelta::default();
        members.add([member("u1"), member("ghost"), member("elsewhere")]);
        Ok(PatchOutcome {
            changed: true,
            members,
        })
    });
    let e = store
        .update_resource("c", GROUP, "g", None, Update::Patch { apply }, &ctx(at(5)))
        .await;
    match e {
        Err(StoreError::UnknownMembers(ids)) => {
            assert_eq!(
                ids.into_iter().collect::<BTreeSet<_>>(),
                BTreeSet::from(["elsewhere".to_owned(), "ghost".to_owned()])
            );
        }
        other => panic!("expected UnknownMembers, got {other:?}"),
    }
    assert_eq!(get(&store, "c", GROUP, "g").await.unwrap(), before);

    // On create too.
    let e = store
        .create_resource(
            "c",
            GROUP,
            NewResource {
                id: "g2".into(),
                body: group_body("G2"),
                members: vec![member("u1"), member("ghost")],
            },
            &ctx(at(6)),
        )
        .await;
    assert!(matches!(e, Err(StoreError::UnknownMembers(_))), "{e:?}");
    assert!(get(&store, "c", GROUP, "g2").await.is_none());
}

pub(crate) async fn deleting_members_leaves_groups(store: Arc<dyn Store>) {
    connector(&store, "c").await;
    create(&store, "c", USER, "u1", user_body("u1")).await;
    create(&store, "c", USER, "u2", user_body("u2")).await;
    for (g, name) in [("g1", "One"), ("g2", "Two"), ("g3", "Three")] {
        create(&store, "c", GROUP, g, group_body(name)).await;
    }
    let mut d = MemberDelta::default();
    d.add([member("u1"), member("u2"), member("g3")]);
    store
        .update_resource("c", GROUP, "g1", None, members_patch(d), &ctx(at(100)))
        .await
        .unwrap();
    let mut d = MemberDelta::default();
    d.add([member("u1")]);
    store
        .update_resource("c", GROUP, "g2", None, members_patch(d), &ctx(at(100)))
        .await
        .unwrap();

    let u1 = get(&store, "c", USER, "u1").await.unwrap();
    let groups: Vec<(String, String)> = u1
        .groups
        .unwrap()
        .into_iter()
        .map(|g| (g.id, g.display))
        .collect();
    assert_eq!(
        groups,
        [("g1".into(), "One".into()), ("g2".into(), "Two".into())]
    );

    let v1 = get(&store, "c", GROUP, "g1").await.unwrap().version;
    let v2 = get(&store, "c", GROUP, "g2").await.unwrap().version;
    let v3 = get(&store, "c", GROUP, "g3").await.unwrap().version;
    store
        .delete_resource("c", USER, "u1", None, &ctx(at(1)))
        .await
        .unwrap();
    let g1 = get(&store, "c", GROUP, "g1").await.unwrap();
    let g2 = get(&store, "c", GROUP, "g2").await.unwrap();
    assert_eq!(member_ids(g1.members), ["g3", "u2"]);
    assert!(member_ids(g2.members).is_empty());
    assert_eq!((g1.version, g2.version), (v1 + 1, v2 + 1));
    assert_eq!(get(&store, "c", GROUP, "g3").await.unwrap().version, v3);

    // A deleted group leaves the groups it was in; its own membership rows go with it.
    store
        .delete_resource("c", GROUP, "g3", None, &ctx(at(1)))
        .await
        .unwrap();
    let g1 = get(&store, "c", GROUP, "g1").await.unwrap();
    assert_eq!(member_ids(g1.members), ["u2"]);
    assert_eq!(g1.version, v1 + 2);
    store
        .delete_resource("c", GROUP, "g1", None, &ctx(at(1)))
        .await
        .unwrap();
    assert_eq!(
        get(&store, "c", USER, "u2").await.unwrap().groups,
        Some(Vec::new())
    );
}

pub(crate) async fn connectors_are_isolated(store: Arc<dyn Store>) {
    connector(&store, "a").await;
    connector(&store, "b").await;
    create(&store, "a", USER, "u1", user_body("alice")).await;
    create(&store, "a", GROUP, "g1", group_body("Team")).await;

    assert!(get(&store, "b", USER, "u1").await.is_none());
    assert!(get(&store, "b", GROUP, "g1").await.is_none());
    for filter in [None, Some("userName eq \"alice\""), Some("id eq \"u1\"")] {
        let page = store
            .query_resources("b", USER, &query(filter, index(1, 100)))
            .await
            .unwrap();
        assert_eq!((page.total, page.items.len()), (0, 0), "{filter:?}");
    }
    assert!(matches!(
        store
            .update_resource(
                "b",
                USER,
                "u1",
                None,
                set_patch("title", json!("x")),
                &ctx(at(50))
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .delete_resource("b", GROUP, "g1", None, &ctx(at(1)))
            .await,
        Err(StoreError::NotFound)
    ));
    // B cannot make A's user a member of its group.
    create(&store, "b", GROUP, "gb", group_body("Team")).await;
    let mut d = MemberDelta::default();
    d.add([member("u1")]);
    assert!(matches!(
        store
            .update_resource("b", GROUP, "gb", None, members_patch(d), &ctx(at(100)))
            .await,
        Err(StoreError::UnknownMembers(_))
    ));
    // The same ids and names may exist in both.
    create(&store, "b", USER, "u1", user_body("alice")).await;
    assert_eq!(
        ids(&store, "a", USER, &query(None, index(1, 10))).await,
        ["u1"]
    );
    // A resource cannot be created for a connector that does not exist.
    let e = store
        .create_resource(
            "missing",
            USER,
            NewResource {
                id: "x".into(),
                body: user_body("x"),
                members: Vec::new(),
            },
            &ctx(at(1)),
        )
        .await;
    assert!(matches!(e, Err(StoreError::NotFound)), "{e:?}");
}

pub(crate) async fn deleting_a_connector_cascades(store: Arc<dyn Store>) {
    connector(&store, "a").await;
    connector(&store, "b").await;
    store.add_token(&token("ta", "a", 1)).await.unwrap();
    store.add_token(&token("tb", "b", 1)).await.unwrap();
    create(&store, "a", USER, "u1", user_body("alice")).await;
    create(&store, "b", USER, "u1", user_body("alice")).await;
    create(&store, "a", GROUP, "g1", group_body("Team")).await;
    let mut d = MemberDelta::default();
    d.add([member("u1")]);
    store
        .update_resource("a", GROUP, "g1", None, members_patch(d), &ctx(at(100)))
        .await
        .unwrap();

    store.delete_connector("a", &ctx(at(200))).await.unwrap();
    assert!(store.token("ta").await.unwrap().is_none());
    assert!(store.token("tb").await.unwrap().is_some());
    assert!(get(&store, "b", USER, "u1").await.is_some());
    // A new connector with the same id starts empty.
    connector(&store, "a").await;
    assert!(get(&store, "a", USER, "u1").await.is_none());
    assert!(get(&store, "a", GROUP, "g1").await.is_none());
    assert!(store.tokens("a").await.unwrap().is_empty());
    create(&store, "a", USER, "u1", user_body("alice")).await;
    create(&store, "a", GROUP, "g1", group_body("Team")).await;
    assert_eq!(
        get(&store, "a", GROUP, "g1").await.unwrap().members,
        Some(Vec::new())
    );
}

/// Concurrent read-modify-writes of one resource never lose each other's changes.
pub(crate) async fn concurrent_patches_are_serialised(store: Arc<dyn Store>) {
    connector(&store, "c").await;
    create(&store, "c", USER, "u", user_body("u")).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let apply: PatchFn = Box::new(move |body: &mut Map<String, Value>| {
                let emails = body.entry("emails").or_insert_with(|| json!([]));
                emails
                    .as_array_mut()
                    .expect("an array")
                    .push(json!({"value": format!("u{i}@example.com")}));
                Ok(PatchOutcome {
                    changed: true,
                    members: MemberDelta::default(),
                })
            });
            store
                .update_resource("c", USER, "u", None, Update::Patch { apply }, &ctx(at(i)))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let u = get(&store, "c", USER, "u").await.unwrap();
    assert_eq!(u.version, 51);
    let emails: HashSet<String> = u.body["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails.len(), 50);
    // The indexed email rows followed every change.
    let found = ids(
        &store,
        "c",
        USER,
        &query(Some("emails.value eq \"U37@EXAMPLE.COM\""), index(1, 10)),
    )
    .await;
    assert_eq!(found, ["u"]);
}

/// Writes that fail do not affect the writes that run beside them.
pub(crate) async fn failing_writes_do_not_affect_others(store: Arc<dyn Store>) {
    connector(&store, "c").await;
    create(&store, "c", USER, "taken", user_body("taken")).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            // Every third create conflicts.
            let name = if i % 3 == 0 {
                "TAKEN".to_owned()
            } else {
                format!("user{i}")
            };
            store
                .create_resource(
                    "c",
                    USER,
                    NewResource {
                        id: format!("id{i}"),
                        body: user_body(&name),
                        members: Vec::new(),
                    },
                    &ctx(at(i)),
                )
                .await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        if i % 3 == 0 {
            assert!(matches!(r, Err(StoreError::Conflict(_))), "{i}: {r:?}");
        } else {
            r.unwrap();
        }
    }
    for i in 0..40 {
        let found = get(&store, "c", USER, &format!("id{i}")).await;
        assert_eq!(found.is_some(), i % 3 != 0, "{i}");
    }
}

async fn many_users(store: &Arc<dyn Store>, n: usize) -> Vec<String> {
    connector(store, "c").await;
    let mut ids = Vec::new();
    for i in 0..n {
        // Names not in creation order, so sorted and creation orders differ.
        let name = format!("user{:02}", (i * 7) % n);
        let id = format!("id{i:02}");
        create(store, "c", USER, &id, user_body(&name)).await;
        ids.push(id);
    }
    ids
}

pub(crate) async fn index_paging_walks_everything_once(store: Arc<dyn Store>) {
    let all = many_users(&store, 25).await;
    for count in [1, 7, 25, 100] {
        let mut seen = Vec::new();
        let mut start = 1;
        loop {
            let page = store
                .query_resources("c", USER, &query(None, index(start, count)))
                .await
                .unwrap();
            assert_eq!(page.total, 25);
            if page.items.is_empty() {
                break;
            }
            start += page.items.len() as u64;
            seen.extend(page.items.into_iter().map(|r| r.id));
        }
        assert_eq!(seen, all, "creation order with pages of {count}");
    }
    // count=0 asks for the total only.
    let page = store
        .query_resources("c", USER, &query(None, index(1, 0)))
        .await
        .unwrap();
    assert_eq!((page.total, page.items.len()), (25, 0));
    // A filtered lookup that finds one.
    let page = store
        .query_resources(
            "c",
            USER,
            &query(Some("userName eq \"USER03\""), index(1, 100)),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    // Past the end: an empty page, still with the total.
    let page = store
        .query_resources(
            "c",
            USER,
            &query(Some("userName sw \"user1\""), index(50, 10)),
        )
        .await
        .unwrap();
    assert_eq!((page.total, page.items.len()), (10, 0));
}

pub(crate) async fn cursor_paging_walks_everything_once(store: Arc<dyn Store>) {
    let all = many_users(&store, 23).await;
    let cursor = |cursor: Option<String>, count| Paging::Cursor { cursor, count };
    for sort in [None, Some("userName")] {
        let mut q = query(None, cursor(None, 5));
        q.sort_by = sort.map(|s| AttrPath::parse(s).unwrap());
        let mut seen = Vec::new();
        let mut pages = Vec::new();
        loop {
            let page = store.query_resources("c", USER, &q).await.unwrap();
            assert_eq!(page.total, 23);
            assert_eq!(
                page.previous_cursor.is_some(),
                !pages.is_empty(),
                "{sort:?}"
            );
            seen.extend(page.items.iter().map(|r| r.id.clone()));
            pages.push(page.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
            match page.next_cursor {
                Some(next) => q.paging = cursor(Some(next), 5),
                None => break,
            }
        }
        assert_eq!(pages.len(), 5, "{sort:?}");
        let mut expected = all.clone();
        if sort.is_some() {
            expected.sort_by_key(|id| {
                let i: usize = id[2..].parse().unwrap();
                (i * 7) % 23
            });
        }
        assert_eq!(seen, expected, "{sort:?}");

        // Walking back from the last page gives the same pages.
        let page = store.query_resources("c", USER, &q).await.unwrap();
        let mut back = page.previous_cursor;
        let mut i = pages.len() - 1;
        while let Some(c) = back {
            i -= 1;
            q.paging = cursor(Some(c), 5);
            let page = store.query_resources("c", USER, &q).await.unwrap();
            let ids: Vec<String> = page.items.iter().map(|r| r.id.clone()).collect();
            assert_eq!(ids, pages[i], "{sort:?} page {i}");
            back = page.previous_cursor;
        }
        assert_eq!(i, 0, "{sort:?}");
    }

    // A cursor that was not issued, or not for this query, is refused.
    let mut q = query(None, cursor(Some("VZUTiyhEQJ94IR".into()), 5));
    assert!(matches!(
        store.query_resources("c", USER, &q).await,
        Err(StoreError::InvalidCursor)
    ));
    q.paging = cursor(None, 5);
    let next = store
        .query_resources("c", USER, &q)
        .await
        .unwrap()
        .next_cursor
        .unwrap();
    let mut other = query(Some("userName pr"), cursor(Some(next), 5));
    assert!(matches!(
        store.query_resources("c", USER, &other).await,
        Err(StoreError::InvalidCursor)
    ));
    other.paging = cursor(None, 100);
    let page = store.query_resources("c", USER, &other).await.unwrap();
    assert_eq!((page.total, page.next_cursor), (23, None));
}

pub(crate) async fn sorting(store: Arc<dyn Store>) {
    connector(&store, "c").await;
    for (id, name, display) in [
        ("a", "carol", Some("Zed")),
        ("b", "Alice", None),
        ("c", "bob", Some("yann")),
        ("d", "alice2", Some("Xavier")),
    ] {
        let mut b = user_body(name);
        if let Some(d) = display {
            b.insert("displayName".into(), json!(d));
        }
        create(&store, "c", USER, id, b).await;
    }
    let sorted = |by: &str, descending| {
        let mut q = query(None, index(1, 100));
        q.sort_by = Some(AttrPath::parse(by).unwrap());
        q.descending = descending;
        q
    };
    assert_eq!(
        ids(&store, "c", USER, &sorted("userName", false)).await,
        ["b", "d", "c", "a"]
    );
    assert_eq!(
        ids(&store, "c", USER, &sorted("userName", true)).await,
        ["a", "c", "d", "b"]
    );
    // Missing values sort last, in both directions.
    assert_eq!(
        ids(&store, "c", USER, &sorted("displayName", false)).await,
        ["d", "c", "a", "b"]
    );
    assert_eq!(
        ids(&store, "c", USER, &sorted("displayName", true)).await,
        ["a", "c", "d", "b"]
    );
    // Ties keep creation order.
    assert_eq!(
        ids(&store, "c", USER, &sorted("meta.created", false)).await,
        ["a", "b", "c", "d"]
    );
    assert_eq!(
        ids(&store, "c", USER, &sorted("meta.resourceType", false)).await,
        ["a", "b", "c", "d"]
    );
    // Without sortBy, sortOrder does nothing.
    let mut q = query(None, index(1, 100));
    q.descending = true;
    assert_eq!(ids(&store, "c", USER, &q).await, ["a", "b", "c", "d"]);
    assert!(matches!(
        store
            .query_resources("c", GROUP, &sorted("members", false))
            .await,
        Err(StoreError::Unsupported(_))
    ));

    // Attributes in the body: a sub-attribute, and a multi-valued attribute by its primary
    // value, else its first.
    connector(&store, "j").await;
    for (id, family, emails) in [
        (
            "p",
            "Smith",
            json!([{"value": "z@x"}, {"value": "b@x", "primary": true}]),
        ),
        ("q", "adams", json!([{"value": "C@x"}, {"value": "a@x"}])),
        ("r", "Brown", json!([{"value": "a@x", "primary": false}])),
    ] {
        let b = body(
            USER,
            json!({"userName": id, "name": {"familyName": family}, "emails": emails}),
        );
        create(&store, "j", USER, id, b).await;
    }
    assert_eq!(
        ids(&store, "j", USER, &sorted("name.familyName", false)).await,
        ["q", "r", "p"]
    );
    assert_eq!(
        ids(&store, "j", USER, &sorted("emails", false)).await,
        ["r", "p", "q"]
    );
    assert_eq!(
        ids(&store, "j", USER, &sorted("emails.value", true)).await,
        ["q", "p", "r"]
    );
}

/// Hand-picked filters of real IdPs, and the semantics they rely on.
pub(crate) async fn idp_filters(store: Arc<dyn Store>) {
    connector(&store, "c").await;
    let alice = body(
        USER,
        json!({
            "userName": "Alice@Example.com",
            "externalId": "ext-A",
            "emails": [
                {"value": "alice@work.example", "type": "work"},
                {"value": "ALICE@home.example", "type": "home"}
            ],
            "title": "Engineer",
        }),
    );
    // Bob first, so that Alice's rows are not the first of anything.
    create(&store, "c", USER, "bob", user_body("bob@example.com")).await;
    create(&store, "c", USER, "alice", alice).await;
    create(&store, "c", GROUP, "g", group_body("Engineers")).await;
    let mut d = MemberDelta::default();
    d.add([member("alice")]);
    store
        .update_resource("c", GROUP, "g", None, members_patch(d), &ctx(at(100)))
        .await
        .unwrap();

    let users = |f: &str| {
        let store = Arc::clone(&store);
        let q = query(Some(f), index(1, 100));
        async move { ids(&store, "c", USER, &q).await }
    };
    assert_eq!(users("userName eq \"alice@example.com\"").await, ["alice"]);
    assert_eq!(users("externalId eq \"ext-A\"").await, ["alice"]);
    assert!(
        users("externalId eq \"EXT-A\"").await.is_empty(),
        "externalId is case-exact"
    );
    assert_eq!(
        users("emails[type eq \"work\"].value eq \"Alice@Work.Example\"").await,
        ["alice"]
    );
    assert!(
        users("emails[type eq \"work\"].value eq \"alice@home.example\"")
            .await
            .is_empty()
    );
    assert_eq!(users("emails.value co \"@HOME\"").await, ["alice"]);
    assert_eq!(
        users("emails.value eq \"alice@home.example\"").await,
        ["alice"]
    );
    assert_eq!(
        users("title ne \"Engineer\"").await,
        ["bob"],
        "ne matches the absent"
    );
    assert_eq!(users("title eq null").await, ["bob"]);
    assert_eq!(users("not (title pr)").await, ["bob"]);
    assert_eq!(users("groups[value eq \"g\"]").await, ["alice"]);
    assert_eq!(users("groups.display eq \"engineers\"").await, ["alice"]);
    assert_eq!(
        users("meta.lastModified ge \"2020-01-01T00:00:00Z\" and userName sw \"B\"").await,
        ["bob"]
    );
    assert_eq!(
        users("schemas eq \"urn:ietf:params:scim:schemas:core:2.0:User\"").await,
        ["bob", "alice"]
    );
    let groups = ids(
        &store,
        "c",
        GROUP,
        &query(
            Some("id eq \"g\" and members[value eq \"alice\"]"),
            index(1, 100),
        ),
    )
    .await;
    assert_eq!(groups, ["g"]);
    let groups = ids(
        &store,
        "c",
        GROUP,
        &query(
            Some("id eq \"g\" and members[value eq \"bob\"]"),
            index(1, 100),
        ),
    )
    .await;
    assert!(groups.is_empty());

    // What the backend cannot run is refused, never answered with an empty list.
    for f in ["meta.location eq \"x\"", "meta.created gt \"last week\""] {
        let e = store
            .query_resources("c", USER, &query(Some(f), index(1, 100)))
            .await;
        assert!(matches!(e, Err(StoreError::Unsupported(_))), "{f}: {e:?}");
    }
    // A long chain runs (SQLite limits expression depth).
    let chain = vec!["userName eq \"x\""; 400].join(" or ");
    assert!(users(&chain).await.is_empty());
}

suite!(
    sqlite, crate::sqlite_store:
    connectors,
    tokens,
    resource_lifecycle,
    uniqueness_is_case_insensitive,
    preconditions,
    member_deltas,
    unknown_members_roll_back_everything,
    deleting_members_leaves_groups,
    connectors_are_isolated,
    deleting_a_connector_cascades,
    concurrent_patches_are_serialised,
    failing_writes_do_not_affect_others,
    index_paging_walks_everything_once,
    cursor_paging_walks_everything_once,
    sorting,
    idp_filters,
);
