//! roster-store's integration tests: one binary (STYLE.md habit 6).
//!
//! - `conformance`: what every backend must do, written against `Arc<dyn Store>` and run
//!   here on SQLite (a PostgreSQL backend runs the same functions);
//! - `directory`: the same for the directory side: the sync engine driven by SCIM writes,
//!   settings, directories, audit log, sync results, preview and apply;
//! - `admin`: the administration side: admin accounts, sessions, API tokens, the request
//!   log and the dashboard's figures;
//! - `filters`: a property test that SQL filtering agrees with `Filter::matches`;
//! - `sqlite`: what is specific to the SQLite backend (URLs, group commit, files).

/// Turns a list of check functions (each taking a fresh `Arc<dyn Store>`) into tests for a
/// backend. A PostgreSQL backend adds one more invocation per suite with its own factory.
macro_rules! suite {
    ($backend:ident, $factory:path: $($name:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _guard) = $factory().await;
                    super::$name(store).await;
                }
            )*
        }
    };
}

mod admin;
mod conformance;
mod directory;
mod filters;
mod sqlite;

use std::sync::Arc;

use roster_core::Store;
use roster_core::connector::Connector;
use roster_core::store::{Actor, Load, NewResource, ResourceKind, StoredResource, WriteContext};
use serde_json::{Map, Value, json};
use tempfile::TempDir;
use time::OffsetDateTime;

/// A fresh SQLite store in a temporary directory (kept alive by the returned guard).
pub(crate) async fn sqlite_store() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("roster.db").display());
    let store = roster_store::open(&url).await.expect("open store");
    (store, dir)
}

/// A fixed instant, `secs` seconds after an arbitrary epoch, with whole milliseconds (what
/// the store keeps).
pub(crate) fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000 + secs).expect("valid time")
}

/// A SCIM write at `t` by the IdP of connector `c`, for request `req`.
pub(crate) fn ctx(t: OffsetDateTime) -> WriteContext {
    WriteContext::new(t, Actor::Connector("c".into())).with_request_id("req")
}

/// A normalised body, as the IdP view hands it to the store.
pub(crate) fn body(kind: ResourceKind, value: Value) -> Map<String, Value> {
    scim::dialect::normalize_resource(value, kind.schema()).expect("valid resource")
}

pub(crate) fn user_body(user_name: &str) -> Map<String, Value> {
    body(ResourceKind::User, json!({ "userName": user_name }))
}

pub(crate) fn group_body(name: &str) -> Map<String, Value> {
    body(ResourceKind::Group, json!({ "displayName": name }))
}

pub(crate) async fn connector(store: &Arc<dyn Store>, id: &str) {
    store
        .create_connector(&Connector {
            id: id.to_owned(),
            name: format!("Connector {id}"),
            enabled: true,
            created_at: at(0),
        })
        .await
        .expect("create connector");
}

pub(crate) async fn create(
    store: &Arc<dyn Store>,
    connector_id: &str,
    kind: ResourceKind,
    id: &str,
    body: Map<String, Value>,
) -> StoredResource {
    store
        .create_resource(
            connector_id,
            kind,
            NewResource {
                id: id.to_owned(),
                body,
                members: Vec::new(),
            },
            &ctx(at(1)),
        )
        .await
        .expect("create resource")
}

pub(crate) async fn get(
    store: &Arc<dyn Store>,
    connector_id: &str,
    kind: ResourceKind,
    id: &str,
) -> Option<StoredResource> {
    store
        .get_resource(
            connector_id,
            kind,
            id,
            Load {
                members: true,
                groups: true,
            },
        )
        .await
        .expect("get resource")
}
