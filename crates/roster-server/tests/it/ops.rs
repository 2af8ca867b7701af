//! Operations: `/healthz`, `/readyz`, `/metrics` and the SCIM request log.
//!
//! The metrics recorder is process-wide, so every test here uses connector ids no other test
//! uses, and looks only at its own series. The request log is written asynchronously: tests
//! poll the store until an entry shows up (or a deadline passes), or stop the server, whose
//! shutdown writes what is queued.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::Method;
use roster_core::admin::{MAX_LOGGED_BODY, RequestLogEntry, RequestLogQuery};
use roster_server::{HttpLimits, OpsOptions};
use serde_json::json;

use crate::common::{BACKEND_SECRET, Faults, Options, TestServer, enc, user};

/// Every request-log entry of a connector, newest first.
async fn entries(server: &TestServer, connector: &str) -> Vec<RequestLogEntry> {
    server
        .store
        .admin()
        .request_log(&RequestLogQuery {
            connector_id: Some(connector.to_owned()),
            limit: 1000,
            ..RequestLogQuery::default()
        })
        .await
        .expect("read the request log")
}

/// Polls the request log until an entry of `connector` matches, for up to ten seconds.
async fn logged(
    server: &TestServer,
    connector: &str,
    what: &str,
    matches: impl Fn(&RequestLogEntry) -> bool,
) -> RequestLogEntry {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = entries(server, connector).await;
        if let Some(found) = all.iter().find(|e| matches(e)) {
            return found.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no request-log entry of {connector} for {what}; have {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The metrics page.
async fn scrape(server: &TestServer) -> String {
    let r = server
        .raw(Method::GET, "/metrics")
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(r.status(), 200);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    r.text().await.expect("metrics text")
}

/// The samples of `metric` whose labels include every one of `labels` (`name="value"`).
fn samples<'a>(text: &'a str, metric: &str, labels: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .collect()
}

/// The value of a sample line.
fn value(sample: &str) -> f64 {
    sample
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {sample}"))
}

#[tokio::test]
async fn healthz_is_ok_even_when_the_store_is_down() {
    let faults = Faults::default();
    let server = TestServer::start_with(Options {
        faults: faults.clone(),
        ..Options::default()
    })
    .await;
    faults.store_down.store(true, Ordering::SeqCst);
    let r = server.raw(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn readyz_follows_the_store_and_says_nothing_of_its_errors() {
    let faults = Faults::default();
    let server = TestServer::start_with(Options {
        faults: faults.clone(),
        ..Options::default()
    })
    .await;
    let r = server.raw(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ready");

    faults.store_down.store(true, Ordering::SeqCst);
    let r = server.raw(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(r.status(), 503);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("not ready"), "{text}");
    assert!(!text.contains(BACKEND_SECRET), "{text}");

    faults.store_down.store(false, Ordering::SeqCst);
    let r = server.raw(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn metrics_count_scim_requests_by_route_template_without_ids_or_filters() {
    let server = TestServer::start().await;
    let conn = server.connector("ops-metrics").await;
    let id = conn.create_user("metrics.person@example.com").await;
    assert_eq!(conn.get(&format!("/Users/{id}")).await.status, 200);
    let filter = enc("userName eq \"metrics.person@example.com\"");
    let found = conn.get(&format!("/Users?filter={filter}")).await;
    assert_eq!(found.resources().len(), 1);
    assert_eq!(conn.get("/Users/no-such-id").await.status, 404);
    // A connector that does not exist, probed without a token: counted, but not by its name.
    let probe = server.anonymous("ops-no-such-connector");
    assert_eq!(probe.get("/Users").await.status, 401);

    let text = scrape(&server).await;
    let connector = "connector=\"ops-metrics\"";
    let by_id = "route=\"/scim/v2/{connector}/Users/{id}\"";
    let got = samples(
        &text,
        "roster_http_requests_total",
        &[connector, by_id, "method=\"GET\"", "status=\"200\""],
    );
    assert_eq!(got.len(), 1, "{text}");
    assert_eq!(value(got[0]), 1.0, "{text}");
    let missing = samples(
        &text,
        "roster_http_requests_total",
        &[connector, by_id, "status=\"404\""],
    );
    assert_eq!(missing.len(), 1, "{text}");
    let created = samples(
        &text,
        "roster_http_requests_total",
        &[
            connector,
            "route=\"/scim/v2/{connector}/Users\"",
            "method=\"POST\"",
            "status=\"201\"",
        ],
    );
    assert_eq!(created.len(), 1, "{text}");
    let buckets = samples(
        &text,
        "roster_http_request_duration_seconds_bucket",
        &[connector, by_id, "le=\"+Inf\""],
    );
    assert_eq!(buckets.len(), 1, "a histogram with buckets: {text}");
    assert!(value(buckets[0]) >= 2.0, "{text}");

    // Never a resource id, a user name or a filter; never a connector that does not exist.
    for private in [
        id.as_str(),
        "metrics.person",
        "no-such-id",
        "filter=",
        "userName",
        "ops-no-such-connector",
    ] {
        assert!(!text.contains(private), "{private} in {text}");
    }
    // The unknown connector's 401 is still counted, with no connector label value (the
    // recorder is shared by the whole test binary: other tests' 401s may add to it).
    let refused = samples(
        &text,
        "roster_http_requests_total",
        &[
            "connector=\"\"",
            "route=\"/scim/v2/{connector}/Users\"",
            "method=\"GET\"",
            "status=\"401\"",
        ],
    );
    assert_eq!(refused.len(), 1, "{text}");
    assert!(value(refused[0]) >= 1.0, "{text}");

    // The user's sync outcome, read from the store.
    let outcomes = samples(
        &text,
        "roster_sync_outcomes_total",
        &[connector, "outcome=\"created\""],
    );
    assert_eq!(outcomes.len(), 1, "{text}");
    assert_eq!(value(outcomes[0]), 1.0, "{text}");
    assert!(text.contains("# TYPE roster_sync_outcomes_total counter"));
}

#[tokio::test]
async fn sync_outcomes_grow_with_scim_writes() {
    let server = TestServer::start().await;
    let conn = server.connector("ops-sync").await;
    conn.create_user("one@example.com").await;
    let outcome = |text: &str, outcome: &str| {
        let label = format!("outcome=\"{outcome}\"");
        samples(
            text,
            "roster_sync_outcomes_total",
            &["connector=\"ops-sync\"", &label],
        )
        .first()
        .map_or(0.0, |s| value(s))
    };
    let before = scrape(&server).await;
    assert_eq!(outcome(&before, "created"), 1.0, "{before}");

    let id = conn.create_user("two@example.com").await;
    let r = conn
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{}", r.text);
    let after = scrape(&server).await;
    assert_eq!(outcome(&after, "created"), 2.0, "{after}");
    let total = |text: &str| {
        samples(
            text,
            "roster_sync_outcomes_total",
            &["connector=\"ops-sync\""],
        )
        .iter()
        .map(|s| value(s))
        .sum::<f64>()
    };
    assert_eq!(total(&after), total(&before) + 2.0, "{after}");
}

#[tokio::test]
async fn metrics_and_the_request_log_can_be_turned_off() {
    let mut server = TestServer::start_with(Options {
        ops: OpsOptions {
            metrics: false,
            request_log_days: 0,
        },
        ..Options::default()
    })
    .await;
    let r = server.raw(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(r.status(), 404);
    let conn = server.connector("ops-off").await;
    conn.create_user("off@example.com").await;
    assert_eq!(
        conn.post("/Users", &user("off@example.com")).await.status,
        409
    );
    server.signal_shutdown();
    server.join().await.unwrap();
    assert!(entries(&server, "ops-off").await.is_empty());
}

#[tokio::test]
async fn a_failed_request_is_logged_with_its_bodies_masked() {
    let server = TestServer::start().await;
    let conn = server.connector("ops-log-fail").await;
    conn.create_user("taken@example.com").await;
    let mut body = user("taken@example.com");
    body["password"] = json!("hunter2-very-secret");
    let r = conn
        .request_json(Method::POST, "/Users?attributes=userName", &body)
        .header("x-request-id", "ops-request-409")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    let e = logged(&server, "ops-log-fail", "the 409", |e| {
        e.request.status == 409
    })
    .await;
    let logged = &e.request;
    assert_eq!(logged.method, "POST");
    assert_eq!(logged.path, "/Users?attributes=userName");
    assert_eq!(logged.request_id.as_deref(), Some("ops-request-409"));
    let request = logged.request_body.as_deref().expect("the request body");
    assert!(request.contains(r#""password":"***""#), "{request}");
    assert!(!request.contains("hunter2"), "{request}");
    assert!(request.contains("taken@example.com"), "{request}");
    let response = logged.response_body.as_deref().expect("the response body");
    assert!(response.contains("uniqueness"), "{response}");
    assert!(
        !format!("{e:?}").contains(conn.authorization.as_deref().unwrap()),
        "the token is never logged"
    );
}

#[tokio::test]
async fn a_successful_request_is_logged_without_bodies() {
    let server = TestServer::start().await;
    let conn = server.connector("ops-log-ok").await;
    let r = conn
        .request_json(Method::POST, "/Users", &user("ok@example.com"))
        .header("x-request-id", "ops-request-201")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let filter = enc("userName eq \"ok@example.com\"");
    assert_eq!(
        conn.get(&format!("/Users?filter={filter}"))
            .await
            .resources()
            .len(),
        1
    );

    let created = logged(&server, "ops-log-ok", "the 201", |e| {
        e.request.status == 201
    })
    .await;
    assert_eq!(
        created.request.request_id.as_deref(),
        Some("ops-request-201")
    );
    assert_eq!(created.request.path, "/Users");
    assert_eq!(created.request.request_body, None);
    assert_eq!(created.request.response_body, None);

    let lookup = logged(&server, "ops-log-ok", "the lookup", |e| {
        e.request.method == "GET"
    })
    .await;
    assert_eq!(lookup.request.path, format!("/Users?filter={filter}"));
    assert_eq!(lookup.request.status, 200);
    assert_eq!(lookup.request.response_body, None);
    // The server made up a request id for the client that sent none.
    assert!(lookup.request.request_id.is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn a_wrong_token_is_logged_as_a_401_without_the_token() {
    let server = TestServer::start().await;
    let conn = server.connector("ops-log-401").await;
    let wrong = conn.with_authorization(Some("Bearer wrong-token-7f3a9c"));
    let mut body = user("intruder@example.com");
    body["password"] = json!("intruder-password");
    wrong.post("/Users", &body).await.assert_unauthorized();
    // A token in the query string (RFC 6750 §2.3, which Roster does not accept) is masked.
    let r = server
        .raw(
            Method::GET,
            "/scim/v2/ops-log-401/Users?access_token=query-token-5e1d",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let post = logged(&server, "ops-log-401", "the 401 POST", |e| {
        e.request.status == 401 && e.request.method == "POST"
    })
    .await;
    // Authentication comes before the body is read: no body to log, and none is invented.
    assert_eq!(post.request.request_body, None);
    assert!(post.request.response_body.is_some());
    let get = logged(&server, "ops-log-401", "the 401 GET", |e| {
        e.request.status == 401 && e.request.method == "GET"
    })
    .await;
    assert_eq!(get.request.path, "/Users?access_token=***");
    let all = format!("{:?}", entries(&server, "ops-log-401").await);
    for secret in [
        "wrong-token-7f3a9c",
        "query-token-5e1d",
        "intruder-password",
        "Bearer",
    ] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
}

#[tokio::test]
async fn requests_for_unknown_connectors_are_not_kept() {
    let server = TestServer::start().await;
    let ghost = server.anonymous("ops-ghost");
    assert_eq!(ghost.get("/Users").await.status, 401);
    let conn = server.connector("ops-real").await;
    assert_eq!(conn.get("/Users").await.status, 200);
    // Entries are written in order: once the later one is there, the earlier was handled.
    logged(&server, "ops-real", "the list", |e| e.request.status == 200).await;
    assert!(entries(&server, "ops-ghost").await.is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_still_413_and_logged() {
    let server = TestServer::start_with(Options {
        http: HttpLimits {
            max_body_bytes: 1024,
            ..HttpLimits::default()
        },
        ..Options::default()
    })
    .await;
    let conn = server.connector("ops-log-413").await;
    let mut body = user("big@example.com");
    // Larger than the log keeps of a body, so what is kept cannot be whole JSON.
    body["displayName"] = json!("x".repeat(3 * MAX_LOGGED_BODY));
    conn.post("/Users", &body).await.assert_error(413, None);
    let e = logged(&server, "ops-log-413", "the 413", |e| {
        e.request.status == 413
    })
    .await;
    // Cut JSON cannot be searched for secrets: only its length is kept.
    let request = e.request.request_body.as_deref().unwrap_or_default();
    assert!(request.contains("not JSON"), "{request}");
    assert!(!request.contains("xxx"), "{request}");
    assert!(
        e.request
            .response_body
            .as_deref()
            .is_some_and(|b| b.contains("larger than 1024 bytes")),
        "{e:?}"
    );
}

#[tokio::test]
async fn shutdown_writes_what_the_log_still_holds() {
    let mut server = TestServer::start().await;
    let conn = server.connector("ops-log-flush").await;
    assert_eq!(conn.get("/Users/missing").await.status, 404);
    // No polling: serve returns only once the queued entries are written.
    server.signal_shutdown();
    server.join().await.unwrap();
    let all = entries(&server, "ops-log-flush").await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].request.path, "/Users/missing");
    assert_eq!(all[0].request.status, 404);
}

#[tokio::test]
async fn a_failed_patch_that_sets_a_password_by_path_is_logged_masked() {
    let server = TestServer::start().await;
    let conn = server.connector("ops-log-patch").await;
    // An unknown user: the PATCH fails (404) after its body was read.
    let r = conn
        .patch_ops(
            "/Users/no-such-user?access_token=t0ps3cret&apiKey=k3y",
            json!([
                {"op": "replace", "path": "password", "value": "hunter2-by-path"},
                {"op": "replace", "value": {"userPassword": "hunter3-by-name"}},
            ]),
        )
        .await;
    assert_eq!(r.status, 404);

    let e = logged(&server, "ops-log-patch", "the 404", |e| {
        e.request.status == 404
    })
    .await;
    let request = e.request.request_body.as_deref().expect("the request body");
    for secret in ["hunter2", "hunter3", "t0ps3cret", "k3y"] {
        assert!(!format!("{e:?}").contains(secret), "{secret} in {e:?}");
    }
    assert!(request.contains(r#""path":"password""#), "{request}");
    assert_eq!(
        e.request.path,
        "/Users/no-such-user?access_token=***&apiKey=***"
    );
}

#[tokio::test]
async fn expired_console_sessions_are_deleted_by_the_housekeeping() {
    use roster_core::admin;

    let server = TestServer::start().await;
    server
        .admin_account("ops-sessions", "correct horse battery staple")
        .await;
    let now = time::OffsetDateTime::now_utc();
    let twelve_hours = time::Duration::hours(12);
    let (_, expired) = admin::new_session(
        "ops-sessions",
        now - time::Duration::hours(13),
        twelve_hours,
    )
    .unwrap();
    let (_, live) = admin::new_session("ops-sessions", now, twelve_hours).unwrap();
    for s in [&expired, &live] {
        server.store.admin().create_session(s).await.unwrap();
    }
    // Any request starts the background task, whose first housekeeping runs at once.
    let r = server.raw(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server
        .store
        .admin()
        .session(&expired.id_hash)
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "the expired session is still stored"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        server
            .store
            .admin()
            .session(&live.id_hash)
            .await
            .unwrap()
            .is_some(),
        "a live session stays"
    );
}

#[tokio::test]
async fn unauthenticated_probes_mint_no_connector_labels() {
    let server = TestServer::start().await;
    // Connector segments that are not UTF-8 once decoded, or not connector ids at all: each
    // would be a new series if it became a label. None is authenticated.
    let mut statuses = Vec::new();
    for path in [
        "/scim/v2/%FFops-mint-a/Users",
        "/scim/v2/%FFops-mint-b/Users/x",
        "/scim/v2/%FFops-mint-c/Schemas",
        "/scim/v2/ops-mint-d%FF/Groups",
    ] {
        let r = server.raw(Method::GET, path).send().await.unwrap();
        statuses.push((path, r.status().as_u16()));
    }
    // An authenticated request whose path spells its connector with a percent-escape: counted
    // and logged under the connector's id, not under the spelling.
    let conn = server.connector("ops-mint-real").await;
    let r = server
        .raw(Method::GET, "/scim/v2/ops-mint-re%61l/Users?count=1")
        .header(
            "authorization",
            conn.authorization.as_deref().expect("a token"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    logged(&server, "ops-mint-real", "the escaped request", |e| {
        e.request.path == "/Users?count=1"
    })
    .await;

    let text = scrape(&server).await;
    for minted in ["%FFops-mint", "ops-mint-d", "ops-mint-re%61l"] {
        assert!(!text.contains(minted), "{minted}: {statuses:?}\n{text}");
    }
    let counted = samples(
        &text,
        "roster_http_requests_total",
        &["connector=\"ops-mint-real\"", "status=\"200\""],
    );
    assert_eq!(counted.len(), 1, "{text}");
}
