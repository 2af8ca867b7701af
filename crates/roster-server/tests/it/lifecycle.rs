//! The server as a process: health, request ids, logs that carry what operators need and no
//! secrets, and graceful shutdown that lets requests in flight finish.

use std::time::Duration;

use reqwest::Method;

use crate::common::{Faults, Options, Reply, TestServer, logs};

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c.get("/Users").await;
    let id = r.header("x-request-id").expect("a generated request id");
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(id.matches('-').count(), 4, "{id}");

    let r = Reply::from(
        c.request(Method::GET, "/Users")
            .header("x-request-id", "entra-trace-42"),
    )
    .await;
    assert_eq!(r.header("x-request-id"), Some("entra-trace-42"));

    // Errors too.
    let r = server.anonymous("entra").get("/Users").await;
    assert!(r.header("x-request-id").is_some());
}

#[tokio::test]
async fn logs_name_the_request_but_never_the_token_or_the_query() {
    let server = TestServer::start().await;
    let c = server.connector("logged").await;
    let r = Reply::from(
        c.request(
            Method::GET,
            "/Users?filter=userName+eq+%22private.person%40x.test%22",
        )
        .header("x-request-id", "req-123"),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = Reply::from(
        c.request(Method::GET, "/Users/panic")
            .header("x-request-id", "req-456"),
    )
    .await;
    assert_eq!(r.status, 500);

    let logs = logs().text();
    let line = |needle: &str| {
        logs.lines()
            .find(|l| l.contains(needle) && l.contains("request finished"))
            .unwrap_or_else(|| panic!("no finished request {needle} in:\n{logs}"))
            .to_owned()
    };
    let ok = line("request_id=req-123");
    for field in [
        "method=GET",
        "path=/scim/v2/logged/Users",
        "connector=logged",
        "status=200",
        "latency_ms=",
    ] {
        assert!(ok.contains(field), "{field} missing from {ok}");
    }
    assert!(line("request_id=req-456").contains("status=500"));
    assert!(
        logs.lines()
            .any(|l| l.contains("request_id=req-456") && l.contains("panicked")),
        "the panic is logged with its request: {logs}"
    );

    let token = c
        .authorization
        .as_deref()
        .unwrap()
        .trim_start_matches("Bearer ");
    let secret = token.rsplit('_').next().unwrap();
    assert!(!logs.contains(secret), "a token leaked into the logs");
    assert!(
        !logs.contains("private.person"),
        "a query leaked into the logs"
    );
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let faults = Faults {
        delay: Duration::from_millis(300),
        ..Faults::default()
    };
    let mut server = TestServer::start_with(Options {
        faults: faults.clone(),
        ..Options::default()
    })
    .await;
    let c = server.connector("entra").await;

    let in_flight = tokio::spawn({
        let c = c.clone();
        async move { c.get("/Users/slow").await }
    });
    // Shut down only once the request is inside the store.
    faults.entered.notified().await;
    server.signal_shutdown();
    let r = in_flight.await.unwrap();
    // The slow id does not exist: a complete answer, not a dropped connection.
    r.assert_error(404, None);
    server.join().await.expect("serve returns cleanly");

    // No new connections are taken.
    let refused = server
        .client
        .get(format!("{}/healthz", server.url))
        .send()
        .await;
    assert!(refused.is_err(), "the server still answers after shutdown");
}
