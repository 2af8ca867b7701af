//! The administration side of the store: admin accounts, console sessions, API tokens, the
//! SCIM request log and the dashboard's figures, against `Arc<dyn Store>`.

use std::sync::Arc;

use roster_core::admin::{
    self, AdminAccount, ApiScope, ConnectorActivity, KdfStrength, NewRequestLog, RequestLogQuery,
};
use roster_core::store::ResourceKind;
use roster_core::{Store, StoreError};
use time::{Duration, OffsetDateTime};

use crate::{at, connector, create, ctx, group_body, user_body};

fn account(username: &str, password: &str) -> AdminAccount {
    AdminAccount {
        username: username.to_owned(),
        password_hash: admin::hash_password(password, KdfStrength::Fast).expect("hash"),
        created_at: at(10),
        last_login_at: None,
    }
}

fn entry(connector_id: &str, secs: i64, status: u16) -> NewRequestLog {
    let failed = status >= 400;
    NewRequestLog {
        at: at(secs),
        connector_id: connector_id.to_owned(),
        request_id: Some(format!("req-{connector_id}-{secs}")),
        method: if failed { "POST" } else { "GET" }.to_owned(),
        path: format!("/Users?n={secs}"),
        status,
        duration_ms: u32::try_from(secs).unwrap_or(0) + 1,
        request_body: failed.then(|| admin::mask_secrets(br#"{"password":"hunter2"}"#)),
        response_body: failed.then(|| format!(r#"{{"status":"{status}"}}"#)),
    }
}

/// The `(connector, time)` of what a query returns, in its order.
async fn log(store: &Arc<dyn Store>, query: RequestLogQuery) -> Vec<(String, i64)> {
    store
        .admin()
        .request_log(&query)
        .await
        .expect("request log")
        .into_iter()
        .map(|e| {
            (
                e.request.connector_id,
                e.request.at.unix_timestamp() - at(0).unix_timestamp(),
            )
        })
        .collect()
}

fn c(id: &str, secs: &[i64]) -> Vec<(String, i64)> {
    secs.iter().map(|s| (id.to_owned(), *s)).collect()
}

// ---- accounts ----

pub(crate) async fn admin_accounts(store: Arc<dyn Store>) {
    let admin = store.admin();
    assert!(admin.admin_accounts().await.unwrap().is_empty());
    admin
        .create_admin(&account("alice", "correct horse battery"))
        .await
        .unwrap();
    admin
        .create_admin(&account("Bob", "correct horse battery"))
        .await
        .unwrap();
    admin
        .create_admin(&account("Émile", "correct horse battery"))
        .await
        .unwrap();

    // Usernames are unique case-insensitively, beyond ASCII too.
    for taken in ["ALICE", "bob", "éMILE"] {
        let e = admin
            .create_admin(&account(taken, "another good password"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, StoreError::Conflict(text) if text.contains(taken)),
            "{taken}: {e:?}"
        );
    }

    let names: Vec<String> = admin
        .admin_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.username)
        .collect();
    assert_eq!(
        names,
        ["alice", "Bob", "Émile"],
        "by username, case-insensitively"
    );

    // Looked up in any case; the account keeps the spelling it was made with.
    let alice = admin.admin_account("ALICE").await.unwrap().unwrap();
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.created_at, at(10));
    assert_eq!(alice.last_login_at, None);
    assert!(admin::verify_password(
        &alice.password_hash,
        "correct horse battery"
    ));
    assert!(admin.admin_account("carol").await.unwrap().is_none());

    admin.record_admin_login("Alice", at(20)).await.unwrap();
    let alice = admin.admin_account("alice").await.unwrap().unwrap();
    assert_eq!(alice.last_login_at, Some(at(20)));
    assert!(matches!(
        admin.record_admin_login("carol", at(20)).await,
        Err(StoreError::NotFound)
    ));

    // A new password replaces the hash and ends the account's sessions, not others'.
    let (_, alice_session) = admin::new_session("alice", at(30), Duration::hours(1)).unwrap();
    let (_, bob_session) = admin::new_session("bob", at(30), Duration::hours(1)).unwrap();
    admin.create_session(&alice_session).await.unwrap();
    admin.create_session(&bob_session).await.unwrap();
    let new_hash = admin::hash_password("a brand new password", KdfStrength::Fast).unwrap();
    admin.set_admin_password("ALICE", &new_hash).await.unwrap();
    let alice = admin.admin_account("alice").await.unwrap().unwrap();
    assert!(admin::verify_password(
        &alice.password_hash,
        "a brand new password"
    ));
    assert!(!admin::verify_password(
        &alice.password_hash,
        "correct horse battery"
    ));
    assert!(
        admin
            .session(&alice_session.id_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert!(admin.session(&bob_session.id_hash).await.unwrap().is_some());
    assert!(matches!(
        admin.set_admin_password("carol", &new_hash).await,
        Err(StoreError::NotFound)
    ));

    // Deleting an account takes its sessions with it.
    admin.delete_admin("BOB").await.unwrap();
    assert!(admin.admin_account("bob").await.unwrap().is_none());
    assert!(admin.session(&bob_session.id_hash).await.unwrap().is_none());
    assert!(matches!(
        admin.delete_admin("bob").await,
        Err(StoreError::NotFound)
    ));
    // The name is free again.
    admin
        .create_admin(&account("bob", "correct horse battery"))
        .await
        .unwrap();
    assert_eq!(admin.admin_accounts().await.unwrap().len(), 3);
}

// ---- sessions ----

pub(crate) async fn admin_sessions(store: Arc<dyn Store>) {
    let admin = store.admin();
    admin
        .create_admin(&account("Alice", "correct horse battery"))
        .await
        .unwrap();

    let (cookie, short) = admin::new_session("alice", at(100), Duration::minutes(5)).unwrap();
    let (_, long) = admin::new_session("ALICE", at(100), Duration::hours(12)).unwrap();
    admin.create_session(&short).await.unwrap();
    admin.create_session(&long).await.unwrap();

    // Found by the hash of the cookie; the username is the account's own spelling.
    let found = admin
        .session(&admin::session_hash(cookie.expose()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id_hash, short.id_hash);
    assert_eq!(found.username, "Alice");
    assert_eq!(found.csrf, short.csrf);
    assert_eq!(
        (found.created_at, found.expires_at),
        (at(100), at(100) + Duration::minutes(5))
    );
    assert!(admin.session(&[7; 32]).await.unwrap().is_none());

    // One session per cookie.
    assert!(matches!(
        admin.create_session(&short).await,
        Err(StoreError::Conflict(_))
    ));
    // No session for an account that does not exist.
    let (_, ghost) = admin::new_session("ghost", at(100), Duration::hours(1)).unwrap();
    assert!(matches!(
        admin.create_session(&ghost).await,
        Err(StoreError::NotFound)
    ));

    // Expired sessions are still returned (the caller decides) until cleaned up.
    let later = at(100) + Duration::minutes(10);
    assert!(admin.session(&short.id_hash).await.unwrap().is_some());
    assert_eq!(admin.delete_expired_sessions(later).await.unwrap(), 1);
    assert!(admin.session(&short.id_hash).await.unwrap().is_none());
    assert!(admin.session(&long.id_hash).await.unwrap().is_some());
    assert_eq!(admin.delete_expired_sessions(later).await.unwrap(), 0);

    // Logging out; twice is fine.
    admin.delete_session(&long.id_hash).await.unwrap();
    admin.delete_session(&long.id_hash).await.unwrap();
    assert!(admin.session(&long.id_hash).await.unwrap().is_none());
}

// ---- API tokens ----

pub(crate) async fn api_tokens(store: Arc<dyn Store>) {
    let admin = store.admin();
    assert!(admin.api_tokens().await.unwrap().is_empty());
    let expires = Some(at(1000));
    let (secret_a, a) =
        admin::generate_api_token(ApiScope::Admin, "deploy", "cli", at(2), None).unwrap();
    let (_, b) =
        admin::generate_api_token(ApiScope::App, "jira", "admin:alice", at(1), expires).unwrap();
    admin.add_api_token(&a).await.unwrap();
    admin.add_api_token(&b).await.unwrap();
    assert!(matches!(
        admin.add_api_token(&a).await,
        Err(StoreError::Conflict(_))
    ));

    // Read back whole, hash included, so the presented secret verifies.
    let got = admin.api_token(&a.id).await.unwrap().unwrap();
    assert_eq!(got, a);
    let (_, id, secret) = admin::parse_api_token(secret_a.expose()).unwrap();
    assert_eq!(id, a.id);
    assert!(admin::verify_api_token(&got, secret));
    assert_eq!(admin.api_token(&b.id).await.unwrap().unwrap(), b);
    assert!(admin.api_token("0000000000000000").await.unwrap().is_none());

    let ids: Vec<String> = admin
        .api_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, [b.id.clone(), a.id.clone()], "oldest first");

    admin.touch_api_token(&a.id, at(50)).await.unwrap();
    assert_eq!(
        admin.api_token(&a.id).await.unwrap().unwrap().last_used_at,
        Some(at(50))
    );
    assert!(matches!(
        admin.touch_api_token("0000000000000000", at(50)).await,
        Err(StoreError::NotFound)
    ));

    admin.revoke_api_token(&a.id).await.unwrap();
    assert!(admin.api_token(&a.id).await.unwrap().is_none());
    assert!(matches!(
        admin.revoke_api_token(&a.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(admin.api_tokens().await.unwrap(), [b]);
}

// ---- the request log ----

pub(crate) async fn request_log(store: Arc<dyn Store>) {
    connector(&store, "a").await;
    connector(&store, "b").await;
    let admin = store.admin();
    admin.log_requests(&[]).await.unwrap();
    admin
        .log_requests(&[
            entry("a", 1, 200),
            entry("b", 2, 201),
            entry("nope", 3, 500),
            entry("a", 4, 404),
            entry("a", 5, 500),
        ])
        .await
        .unwrap();
    admin
        .log_requests(&[entry("b", 6, 409), entry("a", 7, 204)])
        .await
        .unwrap();

    // Newest first; the unknown connector's request is not kept.
    let all = RequestLogQuery::default();
    let everything = log(&store, all.clone()).await;
    assert_eq!(
        everything,
        [
            ("a".into(), 7),
            ("b".into(), 6),
            ("a".into(), 5),
            ("a".into(), 4),
            ("b".into(), 2),
            ("a".into(), 1),
        ]
    );

    // Entries come back whole, and seq follows the order they were logged in.
    let entries = admin.request_log(&all).await.unwrap();
    assert!(entries.windows(2).all(|w| w[0].seq > w[1].seq));
    let failed = entries.iter().find(|e| e.request.status == 404).unwrap();
    assert_eq!(failed.request, entry("a", 4, 404));
    assert!(
        !failed
            .request
            .request_body
            .as_deref()
            .unwrap()
            .contains("hunter2")
    );
    let by_seq = admin.request_log_entry(failed.seq).await.unwrap().unwrap();
    assert_eq!(&by_seq, failed);
    assert!(admin.request_log_entry(-1).await.unwrap().is_none());

    // Filters, alone and together.
    let q = |f: fn(&mut RequestLogQuery)| {
        let mut query = RequestLogQuery::default();
        f(&mut query);
        query
    };
    assert_eq!(
        log(&store, q(|q| q.connector_id = Some("a".into()))).await,
        c("a", &[7, 5, 4, 1])
    );
    assert!(
        log(&store, q(|q| q.connector_id = Some("nope".into())))
            .await
            .is_empty()
    );
    assert_eq!(
        log(&store, q(|q| q.min_status = Some(400))).await,
        [("b".into(), 6), ("a".into(), 5), ("a".into(), 4)]
    );
    assert_eq!(
        log(
            &store,
            q(|q| {
                q.min_status = Some(400);
                q.max_status = Some(499);
            })
        )
        .await,
        [("b".into(), 6), ("a".into(), 4)]
    );
    assert_eq!(
        log(&store, q(|q| q.max_status = Some(299))).await,
        [("a".into(), 7), ("b".into(), 2), ("a".into(), 1)]
    );
    // `since` is inclusive, `until` exclusive.
    assert_eq!(
        log(
            &store,
            q(|q| {
                q.since = Some(at(2));
                q.until = Some(at(6));
            })
        )
        .await,
        [("a".into(), 5), ("a".into(), 4), ("b".into(), 2)]
    );
    assert_eq!(
        log(
            &store,
            q(|q| {
                q.connector_id = Some("a".into());
                q.min_status = Some(400);
                q.since = Some(at(5));
            })
        )
        .await,
        c("a", &[5])
    );

    // Paging backwards by seq, `limit` at a time, walks everything once.
    let mut walked = Vec::new();
    let mut before_seq = None;
    loop {
        let page = admin
            .request_log(&RequestLogQuery {
                before_seq,
                limit: 4,
                ..RequestLogQuery::default()
            })
            .await
            .unwrap();
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        before_seq = Some(last.seq);
        walked.extend(page.into_iter().map(|e| e.request.request_id));
    }
    let expected: Vec<_> = entries
        .iter()
        .map(|e| e.request.request_id.clone())
        .collect();
    assert_eq!(walked, expected);

    // Pruning removes what is older than the cut, whatever the connector.
    assert_eq!(admin.prune_request_log(at(5)).await.unwrap(), 3);
    assert_eq!(
        log(&store, all.clone()).await,
        [("a".into(), 7), ("b".into(), 6), ("a".into(), 5)]
    );
    assert_eq!(admin.prune_request_log(at(5)).await.unwrap(), 0);

    // A connector's log goes with it.
    store.delete_connector("a", &ctx(at(9))).await.unwrap();
    assert_eq!(log(&store, all).await, c("b", &[6]));
}

/// Pruning deletes in chunks: more rows than one chunk are all deleted and all counted.
pub(crate) async fn large_prunes_are_complete(store: Arc<dyn Store>) {
    connector(&store, "a").await;
    let batch: Vec<NewRequestLog> = (0..12_000).map(|i| entry("a", i % 100, 200)).collect();
    store.admin().log_requests(&batch).await.unwrap();
    store
        .admin()
        .log_requests(&[entry("a", 100, 200)])
        .await
        .unwrap();
    assert_eq!(
        store.admin().prune_request_log(at(100)).await.unwrap(),
        12_000
    );
    assert_eq!(
        log(&store, RequestLogQuery::default()).await,
        c("a", &[100])
    );
}

// ---- the dashboard ----

pub(crate) async fn connector_activity(store: Arc<dyn Store>) {
    connector(&store, "a").await;
    connector(&store, "b").await;
    connector(&store, "quiet").await;
    create(&store, "a", ResourceKind::User, "u1", user_body("ann")).await;
    create(&store, "a", ResourceKind::User, "u2", user_body("abe")).await;
    create(&store, "a", ResourceKind::Group, "g1", group_body("staff")).await;
    create(&store, "b", ResourceKind::User, "u1", user_body("bea")).await;
    store
        .admin()
        .log_requests(&[
            entry("a", 10, 500),
            entry("a", 20, 400),
            entry("a", 30, 200),
            entry("a", 40, 409),
            entry("b", 15, 201),
        ])
        .await
        .unwrap();

    let activity = store.admin().connector_activity(at(20)).await.unwrap();
    assert_eq!(
        activity,
        [
            ConnectorActivity {
                connector_id: "a".into(),
                users: 2,
                groups: 1,
                last_request_at: Some(at(40)),
                recent_errors: 2,
            },
            ConnectorActivity {
                connector_id: "b".into(),
                users: 1,
                groups: 0,
                last_request_at: Some(at(15)),
                recent_errors: 0,
            },
            ConnectorActivity {
                connector_id: "quiet".into(),
                users: 0,
                groups: 0,
                last_request_at: None,
                recent_errors: 0,
            },
        ]
    );
    let since_start = store.admin().connector_activity(at(0)).await.unwrap();
    assert_eq!(since_start[0].recent_errors, 3);
    let later: OffsetDateTime = at(41);
    assert_eq!(
        store.admin().connector_activity(later).await.unwrap()[0].recent_errors,
        0
    );
}

suite!(
    sqlite, crate::sqlite_store:
    admin_accounts,
    admin_sessions,
    api_tokens,
    request_log,
    large_prunes_are_complete,
    connector_activity,
);
