//! Every error class answers with an RFC 7644 §3.12 body, `application/scim+json`, and the
//! right status — never the framework's plain text, never internals.

use std::time::Duration;

use reqwest::Method;
use roster_server::HttpLimits;
use serde_json::json;

use crate::common::{
    BACKEND_SECRET, Faults, Options, PANIC_SECRET, Reply, TestServer, timed, user,
};

#[tokio::test]
async fn malformed_json_is_400_invalid_syntax() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    for (method, path) in [
        (Method::POST, "/Users"),
        (Method::POST, "/Groups"),
        (Method::PUT, "/Users/x"),
        (Method::PATCH, "/Groups/x"),
        (Method::POST, "/Users/.search"),
        (Method::POST, "/.search"),
        (Method::POST, "/Bulk"),
    ] {
        let r = Reply::from(
            c.request(method.clone(), path)
                .header("content-type", "application/scim+json")
                .body("{\"userName\": "),
        )
        .await;
        r.assert_error(400, Some("invalidSyntax"));
        let r = Reply::from(c.request(method.clone(), path).body("")).await;
        r.assert_error(400, Some("invalidSyntax"));
    }
}

#[tokio::test]
async fn other_content_types_are_415() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    for ty in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
    ] {
        let r = Reply::from(
            c.request(Method::POST, "/Users")
                .header("content-type", ty)
                .body(user("a@x.test").to_string()),
        )
        .await;
        r.assert_error(415, None);
    }
    // Nothing was created.
    let r = c.get("/Users").await;
    assert!(r.resources().is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let server = TestServer::start_with(Options {
        http: HttpLimits {
            max_body_bytes: 1024,
            ..HttpLimits::default()
        },
        ..Options::default()
    })
    .await;
    let c = server.connector("entra").await;
    let mut big = user("big@x.test");
    big["displayName"] = json!("x".repeat(2000));
    let r = c.post("/Users", &big).await;
    r.assert_error(413, None);
    let r = c
        .patch_ops(
            "/Users/x",
            json!([{"op": "add", "path": "title", "value": "y".repeat(2000)}]),
        )
        .await;
    r.assert_error(413, None);
    // Within the limit, fine.
    assert_eq!(c.post("/Users", &user("small@x.test")).await.status, 201);
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    c.get("/Devices").await.assert_error(404, None);
    c.get("/Users/a/b").await.assert_error(404, None);
    Reply::from(server.raw(Method::GET, "/nope"))
        .await
        .assert_error(404, None);
    Reply::from(server.raw(Method::GET, "/scim/v2"))
        .await
        .assert_error(404, None);
}

#[tokio::test]
async fn unsupported_methods_are_405_with_allow() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c.delete("/Users").await;
    r.assert_error(405, None);
    let allow = r.header("allow").unwrap_or_default();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert!(!allow.contains("DELETE"), "{allow}");

    let r = Reply::from(c.request(Method::POST, "/Users/x").body("{}")).await;
    r.assert_error(405, None);
    let allow = r.header("allow").unwrap_or_default();
    for m in ["GET", "PUT", "PATCH", "DELETE"] {
        assert!(allow.contains(m), "{allow}");
    }
    c.post("/ServiceProviderConfig", &json!({}))
        .await
        .assert_error(405, None);
    c.put("/Bulk", &json!({})).await.assert_error(405, None);
}

#[tokio::test]
async fn me_is_501_once_authenticated() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    c.get("/Me").await.assert_error(501, None);
    c.post("/Me", &json!({})).await.assert_error(501, None);
    server
        .anonymous("entra")
        .get("/Me")
        .await
        .assert_unauthorized();
}

#[tokio::test]
async fn a_panic_is_a_bare_500_and_the_server_lives_on() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c.get("/Users/panic").await;
    r.assert_error(500, None);
    assert_eq!(r.body["detail"], "internal server error");
    assert!(!r.text.contains(PANIC_SECRET), "{}", r.text);
    assert_eq!(c.get("/Users").await.status, 200);
}

#[tokio::test]
async fn a_storage_failure_is_a_500_that_says_nothing() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    for r in [
        c.get("/Users/fail").await,
        c.delete("/Groups/fail").await,
        c.patch_ops(
            "/Users/fail",
            json!([{"op": "add", "path": "title", "value": "x"}]),
        )
        .await,
    ] {
        r.assert_error(500, None);
        assert_eq!(r.body["detail"], "internal server error");
        assert!(!r.text.contains("disk"), "{}", r.text);
        assert!(!r.text.contains(BACKEND_SECRET), "{}", r.text);
    }
}

#[tokio::test]
async fn a_request_that_outlives_the_timeout_is_503() {
    let server = TestServer::start_with(Options {
        http: HttpLimits {
            request_timeout: Duration::from_millis(200),
            ..HttpLimits::default()
        },
        faults: Faults {
            delay: Duration::from_secs(60),
            ..Faults::default()
        },
        ..Options::default()
    })
    .await;
    let c = server.connector("entra").await;
    let (r, took) = timed(c.get("/Users/slow")).await;
    r.assert_error(503, None);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    // Other requests are unaffected.
    assert_eq!(c.get("/Users").await.status, 200);
}
