//! Bearer tokens (RFC 6750): every refusal is the same 401 with a SCIM body and the
//! `WWW-Authenticate` challenge.

use reqwest::Method;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::common::{Reply, TestServer};

#[tokio::test]
async fn a_request_without_a_token_is_401() {
    let server = TestServer::start().await;
    server.connector("entra").await;
    let anon = server.anonymous("entra");
    let r = anon.get("/Users").await;
    r.assert_unauthorized();
    insta::assert_json_snapshot!("unauthorized", r.body);
    anon.get("/Users/x").await.assert_unauthorized();
    anon.post("/Users", &json!({"userName": "a@x.test"}))
        .await
        .assert_unauthorized();
    anon.get("/Groups").await.assert_unauthorized();
    anon.post("/Bulk", &json!({"Operations": []}))
        .await
        .assert_unauthorized();
    anon.post("/.search", &json!({}))
        .await
        .assert_unauthorized();
}

#[tokio::test]
async fn wrong_and_malformed_tokens_are_401() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let token = c.authorization.clone().unwrap();
    // Right id, wrong secret: flip the last hex digit.
    let mut wrong = token.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    for header in [
        wrong.as_str(),
        "Bearer",
        "Bearer ",
        "Bearer roster_nothex_nothex",
        "Basic dXNlcjpwYXNz",
        token.trim_start_matches("Bearer "),
    ] {
        c.with_authorization(Some(header))
            .get("/Users")
            .await
            .assert_unauthorized();
    }
    // The scheme is case-insensitive (RFC 7235 §2.1).
    let lower = token.replacen("Bearer", "bearer", 1);
    assert_eq!(
        c.with_authorization(Some(&lower))
            .get("/Users")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_token_opens_only_its_own_connector() {
    let server = TestServer::start().await;
    let a = server.connector("a").await;
    let b = server.connector("b").await;
    a.aimed_at(&b).get("/Users").await.assert_unauthorized();
    b.aimed_at(&a).get("/Users").await.assert_unauthorized();
    // A connector that does not exist refuses the same way.
    let ghost = server.anonymous("ghost");
    a.aimed_at(&ghost).get("/Users").await.assert_unauthorized();
}

#[tokio::test]
async fn a_disabled_connector_is_401_until_enabled_again() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    assert_eq!(c.get("/Users").await.status, 200);
    server
        .store
        .set_connector_enabled("entra", false)
        .await
        .unwrap();
    // The server trusts what it read of a token and its connector for a second.
    settle().await;
    c.get("/Users").await.assert_unauthorized();
    c.get("/ServiceProviderConfig").await.assert_unauthorized();
    server
        .store
        .set_connector_enabled("entra", true)
        .await
        .unwrap();
    settle().await;
    assert_eq!(c.get("/Users").await.status, 200);
}

/// Waits out the authenticator's one-second memory of tokens and connectors.
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn an_expired_token_is_401_and_another_token_still_works() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let expired = server
        .add_token(
            "entra",
            Some(OffsetDateTime::now_utc() - Duration::hours(1)),
        )
        .await;
    server
        .conn("entra", &expired)
        .get("/Users")
        .await
        .assert_unauthorized();
    let later = server
        .add_token(
            "entra",
            Some(OffsetDateTime::now_utc() + Duration::hours(1)),
        )
        .await;
    assert_eq!(server.conn("entra", &later).get("/Users").await.status, 200);
    assert_eq!(c.get("/Users").await.status, 200);
}

#[tokio::test]
async fn health_needs_no_token() {
    let server = TestServer::start().await;
    let r = Reply::from(server.raw(Method::GET, "/healthz")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "ok");
}
