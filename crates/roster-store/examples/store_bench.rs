//! Store-level figures for the speed goals of issue 3 (run with `--release`):
//!
//! - creating 100,000 users from 16 concurrent tasks (group commit at work);
//! - adding and removing 100 members of a 100,000-member group vs of a 1,000-member group;
//! - `userName eq` lookups against 100,000 users, from 1 and from 16 tasks;
//! - resident memory at the end.
//!
//! `cargo run --release -p roster-store --example store_bench [DIR]` (default: a temp dir).
//! The HTTP-level benchmark lives apart; this isolates the store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use roster_core::Store;
use roster_core::connector::Connector;
use roster_core::store::{
    Actor, Load, NewResource, ResourceKind, ResourceQuery, Update, WriteContext,
};
use scim::patch::{Member, MemberDelta, PatchOutcome};
use scim::query::Paging;
use serde_json::json;
use time::OffsetDateTime;

const USERS: usize = 100_000;
const SPARE: usize = 200;
const TASKS: usize = 16;

fn ctx(at: OffsetDateTime) -> WriteContext {
    WriteContext::new(at, Actor::Connector("bench".into()))
}

fn member(i: usize) -> Member {
    Member {
        value: format!("u{i}"),
        display: None,
        kind: None,
    }
}

async fn delta(store: &Arc<dyn Store>, group: &str, delta: MemberDelta) -> Duration {
    let start = Instant::now();
    let up = store
        .update_resource(
            "bench",
            ResourceKind::Group,
            group,
            None,
            Update::Patch {
                apply: Box::new(move |_| {
                    Ok(PatchOutcome {
                        changed: false,
                        members: delta.clone(),
                    })
                }),
            },
            &ctx(OffsetDateTime::now_utc()),
        )
        .await
        .expect("patch");
    assert!(up.changed);
    start.elapsed()
}

/// Adds then removes 100 spare users in each group, alternating groups so that both see the
/// same background (WAL checkpoints); returns the add and remove times per group.
async fn add_remove(
    store: &Arc<dyn Store>,
    groups: &[&str],
    rounds: usize,
) -> Vec<(Vec<Duration>, Vec<Duration>)> {
    let mut times = vec![(Vec::new(), Vec::new()); groups.len()];
    for r in 0..rounds {
        for (g, group) in groups.iter().enumerate() {
            let ids: Vec<usize> = (0..100).map(|k| USERS + (r * 100 + k) % SPARE).collect();
            let mut d = MemberDelta::default();
            d.add(ids.iter().map(|&i| member(i)));
            times[g].0.push(delta(store, group, d).await);
            let mut d = MemberDelta::default();
            d.remove(ids.iter().map(|&i| format!("u{i}")));
            times[g].1.push(delta(store, group, d).await);
        }
    }
    times
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn mean_ms(v: &[Duration]) -> f64 {
    v.iter().sum::<Duration>().as_secs_f64() * 1e3 / v.len() as f64
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| tmp.path().to_owned(), Into::into);
    let sqlite = Arc::new(
        roster_store::SqliteStore::open(dir.join("bench.db"))
            .await
            .expect("open"),
    );
    let store: Arc<dyn Store> = sqlite.clone();
    // A directory that already holds the data (a second run) skips straight to the reads.
    let seeded = store.connector("bench").await.expect("read").is_some();
    if !seeded {
        seed(&store, &sqlite).await;
    }
    reads(&store).await;
    println!("resident memory: {:.0} MiB", rss_mib());
}

async fn seed(store: &Arc<dyn Store>, sqlite: &roster_store::SqliteStore) {
    store
        .create_connector(&Connector {
            id: "bench".into(),
            name: "Bench".into(),
            enabled: true,
            created_at: OffsetDateTime::now_utc(),
        })
        .await
        .expect("connector");

    // Creates from concurrent tasks.
    let total = USERS + SPARE;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            for i in (t..total).step_by(TASKS) {
                let body = scim::dialect::normalize_resource(
                    json!({
                        "userName": format!("user{i}@example.com"),
                        "externalId": format!("ext-{i}"),
                        "displayName": format!("User {i}"),
                        "name": {"givenName": "User", "familyName": format!("{i}")},
                        "emails": [{"value": format!("user{i}@example.com"), "type": "work", "primary": true}],
                        "active": true,
                    }),
                    ResourceKind::User.schema(),
                )
                .expect("valid");
                store
                    .create_resource(
                        "bench",
                        ResourceKind::User,
                        NewResource {
                            id: format!("u{i}"),
                            body,
                            members: Vec::new(),
                        },
&ctx(OffsetDateTime::now_utc()),
                    )
                    .await
                    .expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let took = start.elapsed();
    let counts = sqlite.writer_counts();
    println!(
        "create {total} users, {TASKS} tasks: {:.1} s, {:.0} creates/s, {:.1} jobs per commit",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64(),
        counts.jobs as f64 / counts.commits as f64
    );

    // Two groups: 1,000 and 100,000 members, filled 1,000 at a time.
    for (g, size) in [("small", 1_000), ("large", USERS)] {
        let body = scim::dialect::normalize_resource(
            json!({ "displayName": g }),
            ResourceKind::Group.schema(),
        )
        .expect("valid");
        store
            .create_resource(
                "bench",
                ResourceKind::Group,
                NewResource {
                    id: g.into(),
                    body,
                    members: Vec::new(),
                },
                &ctx(OffsetDateTime::now_utc()),
            )
            .await
            .expect("group");
        let start = Instant::now();
        for chunk in (0..size).collect::<Vec<_>>().chunks(1_000) {
            let mut d = MemberDelta::default();
            d.add(chunk.iter().map(|&i| member(i)));
            delta(store, g, d).await;
        }
        println!(
            "fill '{g}' to {size} members: {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
    let groups = ["small", "large"];
    for ((add, remove), g) in add_remove(store, &groups, 50).await.into_iter().zip(groups) {
        println!(
            "group '{g}': add 100 members median {:.2} ms (mean {:.2}), \
             remove 100 members median {:.2} ms (mean {:.2}), 50 rounds",
            median_ms(add.clone()),
            mean_ms(&add),
            median_ms(remove.clone()),
            mean_ms(&remove),
        );
    }
}

async fn reads(store: &Arc<dyn Store>) {
    // A group read without members costs nothing more for the large one.
    for g in ["small", "large"] {
        let start = Instant::now();
        for _ in 0..1_000 {
            store
                .get_resource("bench", ResourceKind::Group, g, Load::default())
                .await
                .expect("get");
        }
        println!(
            "GET '{g}' without members: {:.1} µs",
            start.elapsed().as_secs_f64() * 1e6 / 1_000.0
        );
    }

    // userName eq lookups.
    for tasks_n in [1, TASKS] {
        let n = 20_000;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..tasks_n {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                for k in (t..n).step_by(tasks_n) {
                    let i = (k * 7919) % USERS;
                    let q = ResourceQuery {
                        filter: Some(
                            scim::filter::parse(&format!("userName eq \"USER{i}@example.com\""))
                                .expect("filter"),
                        ),
                        sort_by: None,
                        descending: false,
                        paging: Paging::Index {
                            start_index: 1,
                            count: 100,
                        },
                        load: Load {
                            members: false,
                            groups: true,
                        },
                    };
                    let page = store
                        .query_resources("bench", ResourceKind::User, &q)
                        .await
                        .expect("query");
                    assert_eq!(page.total, 1);
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let took = start.elapsed();
        println!(
            "userName eq lookups, {tasks_n} task(s): {:.0} /s",
            n as f64 / took.as_secs_f64()
        );
    }
}
