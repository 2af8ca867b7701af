//! Preview and apply of a settings change over a large connector (run with `--release`):
//!
//! - N users (default 100,000) created through the SCIM write path (each synced to the
//!   directory as it arrives), from 16 tasks;
//! - 20 IdP groups, each user in one of them (filled 1,000 members per PATCH);
//! - a settings change that renames every user (lower-case usernames), imports only half of
//!   the groups, adds an always-assign group and requires an imported group: previewed (no
//!   writes), stored, then applied in batches;
//! - a second preview, which must find nothing left to do.
//!
//! `cargo run --release -p roster-store --example sync_bench [N] [DIR]`

use std::sync::Arc;
use std::time::Instant;

use roster_core::Store;
use roster_core::connector::Connector;
use roster_core::settings::Settings;
use roster_core::store::{Actor, NewResource, ResourceKind, SyncOptions, Update, WriteContext};
use scim::patch::{Member, MemberDelta, PatchOutcome};
use serde_json::json;
use time::OffsetDateTime;

const TASKS: usize = 16;
const GROUPS: usize = 20;

fn ctx() -> WriteContext {
    WriteContext::new(OffsetDateTime::now_utc(), Actor::Connector("bench".into()))
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
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = args
        .next()
        .map_or_else(|| tmp.path().to_owned(), Into::into);
    let store: Arc<dyn Store> = Arc::new(
        roster_store::SqliteStore::open(dir.join("sync-bench.db"))
            .await
            .expect("open"),
    );
    store
        .create_connector(&Connector {
            id: "bench".into(),
            name: "Bench".into(),
            enabled: true,
            created_at: OffsetDateTime::now_utc(),
        })
        .await
        .expect("connector");

    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in (t..n).step_by(TASKS) {
                let body = scim::dialect::normalize_resource(
                    json!({
                        "userName": format!("User{i}@Contoso.com"),
                        "externalId": format!("ext-{i}"),
                        "displayName": format!("User {i}"),
                        "name": {"givenName": "User", "familyName": format!("{i}")},
                        "emails": [{"value": format!("user{i}@contoso.com"), "type": "work", "primary": true}],
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": format!("D{}", i % 7)},
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
                        &ctx(),
                    )
                    .await
                    .expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let took = start.elapsed().as_secs_f64();
    println!(
        "create {n} users through the SCIM write path (synced), {TASKS} tasks: {took:.1} s, {:.0} creates/s",
        n as f64 / took
    );

    let start = Instant::now();
    for g in 0..GROUPS {
        let body = scim::dialect::normalize_resource(
            json!({ "displayName": format!("team-{g:02}") }),
            ResourceKind::Group.schema(),
        )
        .expect("valid");
        store
            .create_resource(
                "bench",
                ResourceKind::Group,
                NewResource {
                    id: format!("g{g}"),
                    body,
                    members: Vec::new(),
                },
                &ctx(),
            )
            .await
            .expect("group");
        let members: Vec<usize> = (g..n).step_by(GROUPS).collect();
        for chunk in members.chunks(1_000) {
            let mut delta = MemberDelta::default();
            delta.add(chunk.iter().map(|i| Member {
                value: format!("u{i}"),
                display: None,
                kind: None,
            }));
            store
                .update_resource(
                    "bench",
                    ResourceKind::Group,
                    &format!("g{g}"),
                    None,
                    Update::Patch {
                        apply: Box::new(move |_| {
                            Ok(PatchOutcome {
                                changed: false,
                                members: delta.clone(),
                            })
                        }),
                    },
                    &ctx(),
                )
                .await
                .expect("members");
        }
    }
    println!(
        "{GROUPS} groups, {n} memberships added 1,000 per PATCH (each member synced): {:.1} s, RSS {:.0} MiB",
        start.elapsed().as_secs_f64(),
        rss_mib()
    );

    let d = store.directory();
    let proposed = Settings::from_toml(
        r#"
        [mapping]
        username = "lower(user.userName)"
        [mapping.attributes]
        department = 'ext(user, "department")'
        [groups]
        only_assign = ["team-0.*"]
        always_assign = ["jira-users"]
        required = ["team-0.*"]
        "#,
    )
    .expect("settings");
    let start = Instant::now();
    let preview = d
        .preview(
            "bench",
            &SyncOptions {
                proposed: Some(proposed.clone()),
                max_details: 1_000,
                ..SyncOptions::default()
            },
        )
        .await
        .expect("preview");
    let s = &preview.summary;
    println!(
        "preview of a settings change over {n} users: {:.2} s (updated {}, disabled {}, renamed {}, \
         memberships +{} -{}, groups created {} deleted {}), RSS {:.0} MiB",
        start.elapsed().as_secs_f64(),
        s.updated,
        s.disabled,
        s.renamed,
        s.memberships_added,
        s.memberships_removed,
        s.groups_created,
        s.groups_deleted,
        rss_mib()
    );
    d.set_settings(
        "bench",
        &proposed,
        None,
        &WriteContext::new(OffsetDateTime::now_utc(), Actor::Cli),
    )
    .await
    .expect("set");
    let start = Instant::now();
    let applied = d
        .apply(
            "bench",
            &SyncOptions {
                max_details: 1_000,
                ..SyncOptions::default()
            },
            &WriteContext::new(OffsetDateTime::now_utc(), Actor::Cli),
        )
        .await
        .expect("apply");
    println!(
        "apply of the same over {n} users (batches of 500): {:.2} s, RSS {:.0} MiB",
        start.elapsed().as_secs_f64(),
        rss_mib()
    );
    assert_eq!(
        applied.summary, preview.summary,
        "apply did what the preview showed"
    );
    let start = Instant::now();
    let again = d
        .preview("bench", &SyncOptions::default())
        .await
        .expect("preview");
    println!(
        "preview after the apply: {:.2} s, {} unchanged, {} to change",
        start.elapsed().as_secs_f64(),
        again.summary.unchanged,
        again.users.len()
    );
    assert!(again.users.is_empty());
}
