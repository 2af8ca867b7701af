//! Lenient routing: endpoint names in any case (Entra and Microsoft's test suite call
//! `/users`), trailing slashes, and answers always in `application/scim+json`.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn endpoint_names_are_matched_case_insensitively() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c.post("/users", &json!({"userName": "lower@x.test"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    // The canonical spelling is what the server hands out.
    assert_eq!(
        r.header("location"),
        Some(format!("{}/Users/{id}", c.base).as_str())
    );
    assert_eq!(c.get(&format!("/USERS/{id}")).await.status, 200);
    assert_eq!(
        c.get("/users?filter=userName+eq+%22lower%40x.test%22")
            .await
            .resources()
            .len(),
        1
    );
    assert_eq!(
        c.post("/groups", &json!({"displayName": "g"})).await.status,
        201
    );
    assert_eq!(c.get("/GROUPS").await.resources().len(), 1);
    assert_eq!(
        c.post("/users/.SEARCH", &json!({})).await.resources().len(),
        1
    );
    assert_eq!(c.post("/.Search", &json!({})).await.resources().len(), 2);
    for path in [
        "/serviceproviderconfig",
        "/resourcetypes",
        "/resourcetypes/user",
        "/schemas",
    ] {
        let r = c.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        r.assert_scim_json();
    }
    let r = server
        .client
        .get(format!("{}/SCIM/V2/entra/Users", server.url))
        .header("authorization", c.authorization.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn trailing_slashes_are_tolerated() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = c.create_user("slash@x.test").await;
    assert_eq!(c.get("/Users/").await.resources().len(), 1);
    assert_eq!(c.get(&format!("/Users/{id}/")).await.status, 200);
    assert_eq!(c.get("/ServiceProviderConfig/").await.status, 200);
    assert_eq!(
        c.get("/Users/?filter=userName+eq+%22slash%40x.test%22")
            .await
            .resources()
            .len(),
        1
    );
}

#[tokio::test]
async fn resource_ids_keep_their_case() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = c.create_user("case@x.test").await;
    let upper = id.to_uppercase();
    if upper != id {
        c.get(&format!("/Users/{upper}"))
            .await
            .assert_error(404, None);
    }
}
