//! `POST /.search` at the root and per resource type (RFC 7644 §3.4.3).

use serde_json::json;

use crate::common::TestServer;

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

#[tokio::test]
async fn users_search_filters_projects_and_pages() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    for name in ["a@x.test", "b@x.test", "c@y.test"] {
        c.create_user(name).await;
    }
    let r = c
        .post(
            "/Users/.search",
            &json!({
                "schemas": [SEARCH],
                "filter": "userName ew \"@x.test\"",
                "attributes": ["userName"],
                "sortBy": "userName",
                "sortOrder": "descending",
                "startIndex": 1,
                "count": 10
            }),
        )
        .await;
    let list = r.resources();
    let names: Vec<&str> = list
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b@x.test", "a@x.test"]);
    assert_eq!(r.body["totalResults"], 2);
    assert!(list.iter().all(|u| u.get("emails").is_none()), "{}", r.text);
}

#[tokio::test]
async fn groups_search_and_root_search() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let u = c.create_user("a@x.test").await;
    c.create_group("Sales", &[&u]).await;
    c.create_group("Support", &[]).await;

    let r = c
        .post(
            "/Groups/.search",
            &json!({"schemas": [SEARCH], "filter": "displayName sw \"Sa\"",
                    "excludedAttributes": ["members"]}),
        )
        .await;
    let list = r.resources();
    assert_eq!(list.len(), 1, "{}", r.text);
    assert_eq!(list[0]["displayName"], "Sales");
    assert!(list[0].get("members").is_none());

    // The root search spans both types.
    let r = c.post("/.search", &json!({"schemas": [SEARCH]})).await;
    assert_eq!(r.resources().len(), 3, "{}", r.text);
    assert_eq!(r.body["totalResults"], 3);
    let types: Vec<&str> = r
        .resources()
        .iter()
        .map(|x| x["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["User", "Group", "Group"]);

    // An attribute only users have searches users only.
    let r = c
        .post("/.search", &json!({"filter": "userName eq \"A@X.TEST\""}))
        .await;
    assert_eq!(r.resources().len(), 1, "{}", r.text);
}

#[tokio::test]
async fn a_bad_search_request_is_400() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    c.post("/Users/.search", &json!({"filter": "userName eq"}))
        .await
        .assert_error(400, Some("invalidFilter"));
    c.post("/Users/.search", &json!(["not", "an", "object"]))
        .await
        .assert_error(400, Some("invalidSyntax"));
    c.post("/Users/.search", &json!({"count": "many"}))
        .await
        .assert_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn get_on_search_is_405() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c.get("/Users/.search").await;
    r.assert_error(405, None);
    assert_eq!(r.header("allow"), Some("POST"));
}
