//! What is specific to the SQLite backend: URLs, files, the writer's group commit.

use std::sync::Arc;
use std::time::Duration;

use roster_core::Store;
use roster_core::store::{Load, NewResource, ResourceKind};
use roster_store::{OpenError, SqliteStore};
use sqlx::{ConnectOptions, Connection};

use crate::{at, connector, create, ctx, get, user_body};

/// Another connection that holds the file's write lock (`BEGIN IMMEDIATE`) until it commits:
/// the store's writer waits in its next batch while jobs queue up behind it.
async fn hold_write_lock(path: &std::path::Path) -> sqlx::SqliteConnection {
    let mut blocker = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();
    blocker
}

#[tokio::test]
async fn urls_choose_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.db");
    for url in [
        format!("sqlite://{}", file.display()),
        format!("sqlite:{}", file.display()),
    ] {
        let store = roster_store::open(&url).await.unwrap();
        assert!(file.exists(), "{url} creates the file");
        store.connectors().await.unwrap();
    }
    for (url, says) in [
        (
            "postgres://u:secret@localhost/roster",
            "PostgreSQL is not supported yet",
        ),
        (
            "mysql://u:secret@localhost/roster",
            "unsupported database URL scheme 'mysql'",
        ),
        ("roster.db", "unsupported database URL scheme"),
        ("sqlite::memory:", "in-memory"),
    ] {
        let e = roster_store::open(url).await.unwrap_err();
        let text = e.to_string();
        assert!(text.contains(says), "{url}: {text}");
        assert!(!text.contains("secret"), "{url}: {text}");
        assert!(matches!(e, OpenError::Unsupported(_)), "{url}: {e:?}");
    }
    for url in ["sqlite://", "sqlite:", "sqlite://?mode=rwc"] {
        let e = roster_store::open(url).await.unwrap_err();
        assert!(matches!(e, OpenError::InvalidUrl { .. }), "{url}: {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    {
        let store = roster_store::open(&url).await.unwrap();
        connector(&store, "c").await;
        create(&store, "c", ResourceKind::User, "u1", user_body("alice")).await;
    }
    // Migrations are applied once; a second open finds the data.
    let store = roster_store::open(&url).await.unwrap();
    assert!(get(&store, "c", ResourceKind::User, "u1").await.is_some());
}

/// Two stores on one file, as the server and the CLI: both can write (the busy timeout
/// waits for the other's lock), and each sees the other's commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_can_write_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let server = roster_store::open(&url).await.unwrap();
    let cli = roster_store::open(&url).await.unwrap();
    connector(&server, "c").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 {
            Arc::clone(&server)
        } else {
            Arc::clone(&cli)
        };
        tasks.push(tokio::spawn(async move {
            create(
                &store,
                "c",
                ResourceKind::User,
                &format!("u{i}"),
                user_body(&format!("user{i}")),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for i in 0..20 {
        assert!(
            get(&cli, "c", ResourceKind::User, &format!("u{i}"))
                .await
                .is_some()
        );
    }
}

/// Jobs queued while the writer waits share one transaction, and a failing job in that
/// transaction does not affect the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_writes_share_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("batch.db");
    let sqlite = Arc::new(SqliteStore::open(&path).await.unwrap());
    let store: Arc<dyn Store> = sqlite.clone();
    connector(&store, "c").await;
    create(&store, "c", ResourceKind::User, "taken", user_body("taken")).await;

    // Another connection holds the write lock, so the writer's next BEGIN waits…
    let mut blocker = hold_write_lock(&path).await;

    let before = sqlite.writer_counts();
    let n = 30u64;
    let mut tasks = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    for i in 0..n {
        if i == 1 {
            // The writer has taken the first job and waits for the lock.
            while sqlite.writer_counts().jobs == before.jobs {
                assert!(tokio::time::Instant::now() < deadline);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let name = if i % 5 == 4 {
                "TAKEN".to_owned()
            } else {
                format!("user{i}")
            };
            store
                .create_resource(
                    "c",
                    ResourceKind::User,
                    NewResource {
                        id: format!("id{i}"),
                        body: user_body(&name),
                        members: Vec::new(),
                    },
                    &ctx(at(i as i64)),
                )
                .await
        }));
    }
    // …while every other job queues behind the one it has taken.
    while sqlite.writer_counts().queued < n - 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            sqlite.writer_counts()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();
    blocker.close().await.unwrap();

    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        assert_eq!(r.is_ok(), i % 5 != 4, "{i}: {r:?}");
    }
    let after = sqlite.writer_counts();
    assert_eq!(after.jobs - before.jobs, n);
    // The first job's batch, then one batch for the rest.
    assert_eq!(after.commits - before.commits, 2, "{before:?} → {after:?}");
    for i in 0..n {
        let found = store
            .get_resource("c", ResourceKind::User, &format!("id{i}"), Load::default())
            .await
            .unwrap();
        assert_eq!(found.is_some(), i % 5 != 4, "{i}");
    }
}

/// Writes already queued when the store is dropped still happen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_finishes_queued_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drop.db");
    let url = format!("sqlite://{}", path.display());
    let sqlite = Arc::new(SqliteStore::open(&path).await.unwrap());
    let store: Arc<dyn Store> = sqlite.clone();
    connector(&store, "c").await;

    let mut blocker = hold_write_lock(&path).await;
    let mut tasks = Vec::new();
    for i in 0..5 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            create(
                &store,
                "c",
                ResourceKind::User,
                &format!("u{i}"),
                user_body(&format!("user{i}")),
            )
            .await
        }));
    }
    // All five are with the writer: in the batch waiting for the lock, or queued behind it
    // (how many the batch took depends on timing; the connector was one job before them).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    while {
        let c = sqlite.writer_counts();
        c.jobs + c.queued < 6
    } {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            sqlite.writer_counts()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Nobody waits for the answers any more, and the store goes away.
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    drop(store);
    drop(sqlite);
    sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();
    blocker.close().await.unwrap();

    let reopened = roster_store::open(&url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    for i in 0..5 {
        while get(&reopened, "c", ResourceKind::User, &format!("u{i}"))
            .await
            .is_none()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "u{i} was not written"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A new user's mapping is made before its write job, under the settings cached then. When a
/// settings change is queued ahead of it, the job runs under the new settings and maps again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_queued_behind_a_settings_change_maps_under_the_new_settings() {
    use roster_core::settings::Settings;
    use roster_core::store::{Actor, WriteContext};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mapping.db");
    let sqlite = Arc::new(SqliteStore::open(&path).await.unwrap());
    let store: Arc<dyn Store> = sqlite.clone();
    connector(&store, "c").await;
    let settings = |username: &str| {
        Settings::from_toml(&format!("[mapping]\nusername = \"{username}\"\n")).unwrap()
    };
    let admin = WriteContext::new(at(1), Actor::Admin("alice".into()));
    store
        .directory()
        .set_settings("c", &settings("lower(user.userName)"), None, &admin)
        .await
        .unwrap();
    // A first user makes the settings cached.
    create(
        &store,
        "c",
        ResourceKind::User,
        "u0",
        user_body("Zero@Example.com"),
    )
    .await;

    // The writer waits for another connection's lock while the change and the create queue.
    let mut blocker = hold_write_lock(&path).await;
    let before = sqlite.writer_counts();
    let change = {
        let store = Arc::clone(&store);
        let s = settings("'x-' + lower(user.userName)");
        tokio::spawn(async move { store.directory().set_settings("c", &s, None, &admin).await })
    };
    while sqlite.writer_counts().jobs == before.jobs {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let created = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .create_resource(
                    "c",
                    ResourceKind::User,
                    NewResource {
                        id: "u1".into(),
                        body: user_body("One@Example.com"),
                        members: Vec::new(),
                    },
                    &ctx(at(2)),
                )
                .await
        })
    };
    while sqlite.writer_counts().queued == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();
    change.await.unwrap().unwrap();
    created.await.unwrap().unwrap();

    let d = store.directory();
    assert!(d.user("x-one@example.com").await.unwrap().is_some());
    assert!(d.user("one@example.com").await.unwrap().is_none());
}
