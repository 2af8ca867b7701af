//! SQL filtering agrees with `Filter::matches`.
//!
//! Random users (ASCII strings from a small alphabet, so values collide, prefix each other and
//! case-fold the same in SQLite and Rust) and random filters over their attributes, with every
//! operator, `and`/`or`/`not`, value paths and `pr`. For each filter the store's answer must be
//! exactly the users the evaluator matches, or `Unsupported` — which is counted, must stay
//! rare, and must never happen for the filters Entra ID and Okta send.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use roster_core::clock::rfc3339;
use roster_core::store::{Load, NewResource, ResourceKind, ResourceQuery, StoredResource};
use roster_core::{Store, StoreError};
use scim::filter::{CompValue, CompareOp, Filter};
use scim::path::AttrPath;
use scim::query::Paging;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::{at, ctx};

const USERS: usize = 10;

#[derive(Debug, Clone)]
struct Email {
    value: Option<String>,
    kind: Option<&'static str>,
    primary: Option<bool>,
    display: Option<String>,
}

#[derive(Debug, Clone)]
struct UserSpec {
    user_name: String,
    display_name: Option<String>,
    external_id: Option<String>,
    title: Option<String>,
    given_name: Option<String>,
    department: Option<String>,
    active: Option<bool>,
    emails: Vec<Email>,
}

fn text() -> impl Strategy<Value = String> {
    "[abAB]{0,3}"
}

fn email() -> impl Strategy<Value = Email> {
    (
        proptest::option::of("[abAB@.]{0,4}"),
        proptest::option::of(prop::sample::select(vec!["work", "Work", "home", ""])),
        proptest::option::of(any::<bool>()),
        proptest::option::of(text()),
    )
        .prop_map(|(value, kind, primary, display)| Email {
            value,
            kind,
            primary,
            display,
        })
}

fn user() -> impl Strategy<Value = UserSpec> {
    (
        "[abAB]{1,3}",
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(any::<bool>()),
        prop::collection::vec(email(), 0..3),
    )
        .prop_map(
            |(
                user_name,
                display_name,
                external_id,
                title,
                given_name,
                department,
                active,
                emails,
            )| {
                UserSpec {
                    user_name,
                    display_name,
                    external_id,
                    title,
                    given_name,
                    department,
                    active,
                    emails,
                }
            },
        )
}

fn user_json(u: &UserSpec) -> Value {
    let mut v = json!({ "userName": u.user_name });
    let o = v.as_object_mut().expect("object");
    let mut put = |k: &str, val: Option<Value>| {
        if let Some(val) = val {
            o.insert(k.to_owned(), val);
        }
    };
    put("displayName", u.display_name.clone().map(Value::from));
    put("externalId", u.external_id.clone().map(Value::from));
    put("title", u.title.clone().map(Value::from));
    put("active", u.active.map(Value::from));
    put(
        "name",
        u.given_name
            .clone()
            .map(|g| json!({ "givenName": g, "familyName": "F" })),
    );
    put(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        u.department.clone().map(|d| json!({ "department": d })),
    );
    if !u.emails.is_empty() {
        let emails: Vec<Value> = u
            .emails
            .iter()
            .map(|e| {
                let mut m = Map::new();
                if let Some(v) = &e.value {
                    m.insert("value".into(), json!(v));
                }
                if let Some(k) = e.kind {
                    m.insert("type".into(), json!(k));
                }
                if let Some(p) = e.primary {
                    m.insert("primary".into(), json!(p));
                }
                if let Some(d) = &e.display {
                    m.insert("display".into(), json!(d));
                }
                Value::Object(m)
            })
            .collect();
        put("emails", Some(Value::Array(emails)));
    }
    v
}

/// When user `i` was created: whole milliseconds, all different.
fn created(i: usize) -> OffsetDateTime {
    at(i as i64) + Duration::milliseconds(137 * i as i64)
}

/// The resource as a SCIM client sees it, which is what `Filter::matches` is defined on.
fn render(r: &StoredResource) -> Value {
    let mut out = Map::new();
    out.insert(
        "schemas".into(),
        r.body
            .get("schemas")
            .cloned()
            .unwrap_or_else(|| json!([scim::schema::USER])),
    );
    out.insert("id".into(), json!(r.id));
    for (k, v) in &r.body {
        if k != "schemas" {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": rfc3339(r.created),
            "lastModified": rfc3339(r.last_modified),
            "location": format!("https://example.test/scim/v2/c/Users/{}", r.id),
            "version": format!("W/\"{}\"", r.version),
        }),
    );
    Value::Object(out)
}

fn path(p: &str) -> AttrPath {
    AttrPath::parse(p).expect("valid path")
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn literal() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        6 => text().prop_map(CompValue::String),
        1 => any::<bool>().prop_map(CompValue::Bool),
        1 => Just(CompValue::Null),
        1 => (0i64..3).prop_map(|n| CompValue::Number(n.into())),
        1 => prop::sample::select(vec!["True", "false", "@", "W/\"1\""])
            .prop_map(|s| CompValue::String(s.to_owned())),
    ]
}

/// dateTime literals near the users' creation times: equal, a millisecond off, with a finer
/// fraction, in another offset.
fn date_literal() -> impl Strategy<Value = CompValue> {
    (0..USERS + 1, -1i64..=1, any::<bool>(), any::<bool>()).prop_map(|(i, ms, fine, offset)| {
        let mut t = created(i) + Duration::milliseconds(ms);
        if fine {
            t += Duration::microseconds(250);
        }
        if offset {
            t = t.to_offset(UtcOffset::from_hms(2, 0, 0).expect("offset"));
        }
        CompValue::String(
            t.format(&time::format_description::well_known::Rfc3339)
                .expect("formats"),
        )
    })
}

const COMPARED: &[&str] = &[
    "userName",
    "displayName",
    "externalId",
    "id",
    "title",
    "active",
    "name.givenName",
    "department",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "emails.display",
    "schemas",
    "meta.resourceType",
    "meta.version",
];

const PRESENT: &[&str] = &[
    "userName",
    "displayName",
    "externalId",
    "title",
    "active",
    "name",
    "name.givenName",
    "department",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "emails.display",
    "schemas",
    "meta.created",
];

fn leaf() -> impl Strategy<Value = Filter> {
    let ids = (0..USERS + 1).prop_map(|i| CompValue::String(format!("id{i}")));
    prop_oneof![
        8 => (prop::sample::select(COMPARED), op(), literal()).prop_map(|(p, op, value)| {
            Filter::Compare { path: path(p), op, value }
        }),
        1 => (op(), ids).prop_map(|(op, value)| Filter::Compare { path: path("id"), op, value }),
        2 => (prop::sample::select(vec!["meta.created", "meta.lastModified"]), op(), date_literal())
            .prop_map(|(p, op, value)| Filter::Compare { path: path(p), op, value }),
        3 => prop::sample::select(PRESENT).prop_map(|p| Filter::Present(path(p))),
        3 => element_filter().prop_map(|f| Filter::ValuePath { path: path("emails"), filter: Box::new(f) }),
        1 => (op(), literal()).prop_map(|(op, value)| Filter::ValuePath {
            path: path("name"),
            filter: Box::new(Filter::Compare { path: path("givenName"), op, value }),
        }),
    ]
}

/// A filter on one email: its value, type, primary and display.
fn element_filter() -> impl Strategy<Value = Filter> {
    let subs = vec!["value", "type", "primary", "display"];
    let leaf = prop_oneof![
        3 => (prop::sample::select(subs.clone()), op(), literal())
            .prop_map(|(p, op, value)| Filter::Compare { path: path(p), op, value }),
        1 => prop::sample::select(subs).prop_map(|p| Filter::Present(path(p))),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|f| Filter::Not(Box::new(f))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|f| Filter::Not(Box::new(f))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// Entra ID's and Okta's lookups: `eq` on the indexed attributes, joined with `and`, with
/// values taken from the users so that they hit.
fn idp_filter(users: &[UserSpec], picks: &[(usize, usize, bool)]) -> Filter {
    let mut terms = picks.iter().map(|&(which, i, upper)| {
        let u = &users[i % users.len()];
        let case = |s: &str| {
            if upper {
                s.to_uppercase()
            } else {
                s.to_owned()
            }
        };
        let email = u
            .emails
            .iter()
            .find_map(|e| e.value.clone())
            .unwrap_or_default();
        let (p, v) = match which % 6 {
            0 => ("userName", case(&u.user_name)),
            1 => ("externalId", u.external_id.clone().unwrap_or_default()),
            2 => (
                "displayName",
                case(u.display_name.as_deref().unwrap_or_default()),
            ),
            3 => ("id", format!("id{}", i % users.len())),
            4 => ("emails.value", case(&email)),
            _ => {
                return Filter::ValuePath {
                    path: path("emails"),
                    filter: Box::new(Filter::And(
                        Box::new(Filter::Compare {
                            path: path("type"),
                            op: CompareOp::Eq,
                            value: CompValue::String("work".into()),
                        }),
                        Box::new(Filter::Compare {
                            path: path("value"),
                            op: CompareOp::Eq,
                            value: CompValue::String(case(&email)),
                        }),
                    )),
                };
            }
        };
        Filter::Compare {
            path: path(p),
            op: CompareOp::Eq,
            value: CompValue::String(v),
        }
    });
    let first = terms.next().expect("at least one term");
    terms.fold(first, |a, b| Filter::And(Box::new(a), Box::new(b)))
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
    connectors: AtomicU64,
}

impl Fixture {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (store, dir) = rt.block_on(crate::sqlite_store());
        Self {
            rt,
            store,
            _dir: dir,
            connectors: AtomicU64::new(0),
        }
    }

    /// A new connector with these users (names that collide case-insensitively are skipped,
    /// as the store would refuse them); returns it and the users as rendered.
    fn load(&self, users: &[UserSpec]) -> (String, Vec<(String, Value)>) {
        let c = format!("c{}", self.connectors.fetch_add(1, Ordering::Relaxed));
        self.rt.block_on(async {
            crate::connector(&self.store, &c).await;
            let mut taken = BTreeSet::new();
            let mut rendered = Vec::new();
            for (i, u) in users.iter().enumerate() {
                if !taken.insert(u.user_name.to_lowercase()) {
                    continue;
                }
                let body = crate::body(ResourceKind::User, user_json(u));
                let r = self
                    .store
                    .create_resource(
                        &c,
                        ResourceKind::User,
                        NewResource {
                            id: format!("id{i}"),
                            body,
                            members: Vec::new(),
                        },
                        &ctx(created(i)),
                    )
                    .await
                    .expect("create");
                rendered.push((r.id.clone(), render(&r)));
            }
            (c, rendered)
        })
    }

    /// The ids the store returns for `filter`, or `None` if it is unsupported.
    fn query(&self, c: &str, filter: &Filter) -> Result<Option<BTreeSet<String>>, TestCaseError> {
        let q = ResourceQuery {
            filter: Some(filter.clone()),
            sort_by: None,
            descending: false,
            paging: Paging::Index {
                start_index: 1,
                count: 1000,
            },
            load: Load::default(),
        };
        match self
            .rt
            .block_on(self.store.query_resources(c, ResourceKind::User, &q))
        {
            Ok(page) => {
                let ids: BTreeSet<String> = page.items.into_iter().map(|r| r.id).collect();
                prop_assert_eq!(page.total, ids.len() as u64);
                Ok(Some(ids))
            }
            Err(StoreError::Unsupported(_)) => Ok(None),
            Err(e) => Err(TestCaseError::fail(format!("{filter}: {e}"))),
        }
    }
}

fn expected(rendered: &[(String, Value)], filter: &Filter) -> BTreeSet<String> {
    let schema = ResourceKind::User.schema();
    rendered
        .iter()
        .filter(|(_, json)| filter.matches(json, schema))
        .map(|(id, _)| id.clone())
        .collect()
}

#[test]
fn sql_filters_agree_with_the_evaluator() {
    let fx = Fixture::new();
    let (ran, unsupported) = (AtomicU64::new(0), AtomicU64::new(0));
    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(user(), 1..USERS),
        prop::collection::vec(filter(), 1..16),
    );
    runner
        .run(&strategy, |(users, filters)| {
            let (c, rendered) = fx.load(&users);
            for f in &filters {
                ran.fetch_add(1, Ordering::Relaxed);
                match fx.query(&c, f)? {
                    Some(got) => prop_assert_eq!(got, expected(&rendered, f), "filter: {}", f),
                    None => {
                        unsupported.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    let (ran, unsupported) = (ran.into_inner(), unsupported.into_inner());
    println!("{ran} filters, {unsupported} unsupported");
    assert!(ran > 500, "{ran}");
    // Only shapes the module docs list are refused (here: meta.* ordered against a literal
    // that is not a dateTime, meta.created compared with a boolean, …).
    assert!(
        unsupported * 10 < ran,
        "{unsupported} of {ran} filters were unsupported"
    );
}

#[test]
fn idp_lookups_are_always_supported_and_exact() {
    let fx = Fixture::new();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(user(), 1..USERS),
        prop::collection::vec(
            prop::collection::vec((0usize..6, 0usize..USERS, any::<bool>()), 1..4),
            1..8,
        ),
    );
    runner
        .run(&strategy, |(users, lookups)| {
            let (c, rendered) = fx.load(&users);
            for picks in &lookups {
                let f = idp_filter(&users, picks);
                match fx.query(&c, &f)? {
                    Some(got) => prop_assert_eq!(got, expected(&rendered, &f), "filter: {}", f),
                    None => return Err(TestCaseError::fail(format!("unsupported: {f}"))),
                }
            }
            Ok(())
        })
        .unwrap();
}
