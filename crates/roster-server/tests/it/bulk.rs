//! `POST /Bulk` (RFC 7644 §3.7): `bulkId` references, the advertised limits, `failOnErrors`.

use roster_core::idp_view::Limits;
use scim::bulk::BulkLimits;
use serde_json::json;

use crate::common::{BULK_REQUEST, Options, Reply, TestServer};

#[tokio::test]
async fn a_group_can_name_a_user_created_in_the_same_request() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST],
                "Operations": [
                    // The group comes first and waits for the user it names.
                    {"method": "POST", "path": "/Groups", "bulkId": "g1",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                              "displayName": "Bulk Group",
                              "members": [{"type": "User", "value": "bulkId:u1"}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "u1",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                              "userName": "bulk@x.test"}}
                ]
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    assert_eq!(
        r.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"])
    );
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "{}", r.text);
    for op in ops {
        assert_eq!(op["status"], "201", "{}", r.text);
        assert!(
            op["location"].as_str().unwrap().starts_with(&c.base),
            "{}",
            r.text
        );
    }
    let by_id = |id: &str| {
        ops.iter()
            .find(|o| o["bulkId"] == id)
            .unwrap_or_else(|| panic!("no {id} in {}", r.text))
    };
    let user_location = by_id("u1")["location"].as_str().unwrap();
    let user_id = user_location.rsplit('/').next().unwrap();
    let group_location = by_id("g1")["location"].as_str().unwrap();
    let group_id = group_location.rsplit('/').next().unwrap();

    let group = c.get(&format!("/Groups/{group_id}")).await;
    assert_eq!(group.status, 200, "{}", group.text);
    assert_eq!(group.body["members"][0]["value"], user_id, "{}", group.text);
    let user = c.get(&format!("/Users/{user_id}")).await;
    assert_eq!(user.body["userName"], "bulk@x.test");
}

#[tokio::test]
async fn fail_on_errors_stops_processing() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    c.create_user("taken@x.test").await;
    let r = c
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST],
                "failOnErrors": 1,
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "a",
                     "data": {"userName": "taken@x.test"}},
                    {"method": "POST", "path": "/Users", "bulkId": "b",
                     "data": {"userName": "never@x.test"}}
                ]
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1, "{}", r.text);
    assert_eq!(ops[0]["status"], "409");
    assert_eq!(ops[0]["response"]["scimType"], "uniqueness");
    let r = c
        .get("/Users?filter=userName+eq+%22never%40x.test%22")
        .await;
    assert!(r.resources().is_empty());
}

fn small_bulk() -> Options {
    Options {
        limits: Limits {
            bulk: BulkLimits {
                max_operations: 2,
                max_payload_bytes: 2048,
            },
            ..Limits::default()
        },
        ..Options::default()
    }
}

#[tokio::test]
async fn an_oversized_bulk_body_is_413_before_it_is_parsed() {
    let server = TestServer::start_with(small_bulk()).await;
    let c = server.connector("entra").await;
    // Not even JSON: the size is what is refused.
    let r = Reply::from(
        c.request(reqwest::Method::POST, "/Bulk")
            .header("content-type", "application/scim+json")
            .body("x".repeat(4096)),
    )
    .await;
    r.assert_error(413, None);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("maxPayloadSize (2048)"),
        "{}",
        r.text
    );
    // Just under the limit, the same junk is a syntax error.
    let r = Reply::from(
        c.request(reqwest::Method::POST, "/Bulk")
            .header("content-type", "application/scim+json")
            .body("x".repeat(2000)),
    )
    .await;
    r.assert_error(400, Some("invalidSyntax"));
}

#[tokio::test]
async fn too_many_operations_is_413() {
    let server = TestServer::start_with(small_bulk()).await;
    let c = server.connector("entra").await;
    let op = json!({"method": "DELETE", "path": "/Users/x"});
    let r = c
        .post(
            "/Bulk",
            &json!({"schemas": [BULK_REQUEST], "Operations": [op, op, op]}),
        )
        .await;
    r.assert_error(413, None);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("maxOperations (2)"),
        "{}",
        r.text
    );
}
