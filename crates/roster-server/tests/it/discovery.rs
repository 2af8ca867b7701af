//! The discovery endpoints (RFC 7644 §4): they describe what the server really does, under
//! the connector's base URL, and only to the connector's token.

use roster_core::idp_view::Limits;
use roster_server::HttpLimits;
use scim::bulk::BulkLimits;
use scim::query::QueryLimits;
use serde_json::{Value, json};

use crate::common::{Options, TestServer};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The body with the server's ephemeral address replaced, for snapshots.
fn redacted(server: &TestServer, body: &Value) -> Value {
    serde_json::from_str(&body.to_string().replace(&server.url, "http://roster.test")).unwrap()
}

#[tokio::test]
async fn service_provider_config_tells_the_real_limits() {
    let server = TestServer::start_with(Options {
        limits: Limits {
            query: QueryLimits {
                default_count: 25,
                max_count: 250,
            },
            bulk: BulkLimits {
                max_operations: 50,
                max_payload_bytes: 65_536,
            },
        },
        http: HttpLimits::default(),
        ..Options::default()
    })
    .await;
    let c = server.connector("entra").await;
    let r = c.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    let b = &r.body;
    assert_eq!(
        b["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    assert_eq!(b["patch"], json!({"supported": true}));
    assert_eq!(
        b["bulk"],
        json!({"supported": true, "maxOperations": 50, "maxPayloadSize": 65_536})
    );
    assert_eq!(b["filter"], json!({"supported": true, "maxResults": 250}));
    assert_eq!(b["sort"], json!({"supported": true}));
    assert_eq!(b["etag"], json!({"supported": true}));
    assert_eq!(b["changePassword"], json!({"supported": false}));
    assert_eq!(b["pagination"]["cursor"], true);
    assert_eq!(b["pagination"]["index"], true);
    assert_eq!(b["pagination"]["defaultPageSize"], 25);
    assert_eq!(b["pagination"]["maxPageSize"], 250);
    assert_eq!(b["authenticationSchemes"][0]["type"], "oauthbearertoken");
    assert_eq!(
        b["meta"]["location"],
        format!("{}/ServiceProviderConfig", c.base)
    );
    insta::assert_json_snapshot!("service_provider_config", redacted(&server, b));

    // What it says about page sizes is what a list does.
    for i in 0..3 {
        c.create_user(&format!("u{i}@x.test")).await;
    }
    let r = c.get("/Users?count=100000").await;
    assert_eq!(r.resources().len(), 3);
}

#[tokio::test]
async fn resource_types_list_users_and_groups() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c.get("/ResourceTypes").await;
    let list = r.resources();
    assert_eq!(r.body["totalResults"], 2);
    let endpoints: Vec<&str> = list
        .iter()
        .map(|t| t["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(endpoints, ["/Users", "/Groups"]);
    insta::assert_json_snapshot!("resource_types", redacted(&server, &r.body));

    let r = c.get("/ResourceTypes/User").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    assert_eq!(r.body["schema"], USER);
    assert_eq!(
        r.body["meta"]["location"],
        format!("{}/ResourceTypes/User", c.base)
    );
    let r = c.get("/ResourceTypes/group").await;
    assert_eq!(r.body["name"], "Group", "{}", r.text);
    c.get("/ResourceTypes/Device").await.assert_error(404, None);
}

#[tokio::test]
async fn schemas_list_every_schema_once_and_by_id() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c.get("/Schemas").await;
    let ids: Vec<&str> = r
        .resources()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [USER, ENTERPRISE, GROUP]);

    for id in [USER, ENTERPRISE, GROUP] {
        let r = c.get(&format!("/Schemas/{id}")).await;
        assert_eq!(r.status, 200, "{id}: {}", r.text);
        r.assert_scim_json();
        assert_eq!(r.body["id"], id);
        assert_eq!(
            r.body["meta"]["location"],
            format!("{}/Schemas/{id}", c.base)
        );
    }
    // The attribute the server filters userName by is described as it behaves.
    let user = c.get(&format!("/Schemas/{USER}")).await;
    let user_name = user.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap();
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(user_name["uniqueness"], "server");

    c.get("/Schemas/urn:nope").await.assert_error(404, None);
}

#[tokio::test]
async fn discovery_needs_the_connector_token() {
    let server = TestServer::start().await;
    server.connector("entra").await;
    let anon = server.anonymous("entra");
    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/ResourceTypes/User",
        "/Schemas",
        &format!("/Schemas/{USER}"),
    ] {
        anon.get(path).await.assert_unauthorized();
    }
}
