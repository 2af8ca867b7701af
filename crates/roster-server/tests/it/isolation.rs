//! Cross-connector isolation: connector A's token cannot read, write or discover connector
//! B's resources, by any route, and B's data is unchanged afterwards.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{BULK_REQUEST, Conn, PATCH_OP, Reply, TestServer, user};

/// Everything B has, as B sees it.
async fn snapshot(b: &Conn, user_id: &str, group_id: &str) -> (Value, Value, Value, Value) {
    (
        b.get(&format!("/Users/{user_id}")).await.body,
        b.get(&format!("/Groups/{group_id}")).await.body,
        b.get("/Users").await.body,
        b.get("/Groups").await.body,
    )
}

#[tokio::test]
async fn a_token_cannot_touch_another_connectors_resources() {
    let server = TestServer::start().await;
    let a = server.connector("tenant-a").await;
    let b = server.connector("tenant-b").await;
    let user_id = b.create_user("b-user@x.test").await;
    let group_id = b.create_group("B Group", &[&user_id]).await;
    let before = snapshot(&b, &user_id, &group_id).await;

    let intruder = a.aimed_at(&b);
    let patch = json!({"schemas": [PATCH_OP],
                       "Operations": [{"op": "replace", "path": "displayName", "value": "pwned"}]});
    let bulk = json!({"schemas": [BULK_REQUEST], "Operations": [
        {"method": "DELETE", "path": format!("/Users/{user_id}")},
        {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "planted@x.test"}}
    ]});
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/Users".into(), None),
        (Method::GET, "/Groups".into(), None),
        (Method::GET, format!("/Users/{user_id}"), None),
        (Method::GET, format!("/Groups/{group_id}"), None),
        (
            Method::GET,
            "/Users?filter=userName+eq+%22b-user%40x.test%22".into(),
            None,
        ),
        (Method::POST, "/Users".into(), Some(user("planted@x.test"))),
        (
            Method::POST,
            "/Groups".into(),
            Some(json!({"displayName": "planted"})),
        ),
        (
            Method::PUT,
            format!("/Users/{user_id}"),
            Some(user("pwned@x.test")),
        ),
        (
            Method::PUT,
            format!("/Groups/{group_id}"),
            Some(json!({"displayName": "pwned"})),
        ),
        (
            Method::PATCH,
            format!("/Users/{user_id}"),
            Some(patch.clone()),
        ),
        (
            Method::PATCH,
            format!("/Groups/{group_id}"),
            Some(patch.clone()),
        ),
        (Method::DELETE, format!("/Users/{user_id}"), None),
        (Method::DELETE, format!("/Groups/{group_id}"), None),
        (Method::POST, "/Users/.search".into(), Some(json!({}))),
        (Method::POST, "/Groups/.search".into(), Some(json!({}))),
        (Method::POST, "/.search".into(), Some(json!({}))),
        (Method::POST, "/Bulk".into(), Some(bulk)),
        (Method::GET, "/ServiceProviderConfig".into(), None),
        (Method::GET, "/ResourceTypes".into(), None),
        (Method::GET, "/Schemas".into(), None),
    ];
    for (method, path, body) in attempts {
        let rb = match &body {
            Some(body) => intruder.request_json(method.clone(), &path, body),
            None => intruder.request(method.clone(), &path),
        };
        let r = Reply::from(rb).await;
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text);
        r.assert_unauthorized();
    }
    assert_eq!(snapshot(&b, &user_id, &group_id).await, before);

    // Through its own connector, A does not see B's resources either.
    a.get(&format!("/Users/{user_id}"))
        .await
        .assert_error(404, None);
    a.get(&format!("/Groups/{group_id}"))
        .await
        .assert_error(404, None);
    a.delete(&format!("/Users/{user_id}"))
        .await
        .assert_error(404, None);
    a.patch_ops(
        &format!("/Groups/{group_id}"),
        json!([{"op": "replace", "path": "displayName", "value": "pwned"}]),
    )
    .await
    .assert_error(404, None);
    let r = a
        .get("/Users?filter=userName+eq+%22b-user%40x.test%22")
        .await;
    assert!(r.resources().is_empty());
    let r = a.post("/.search", &json!({})).await;
    assert!(r.resources().is_empty());
    // A group of A cannot take B's user as a member.
    let r = a
        .post(
            "/Groups",
            &json!({"displayName": "A Group", "members": [{"value": user_id}]}),
        )
        .await;
    assert!((400..500).contains(&r.status), "{}", r.text);
    assert_eq!(snapshot(&b, &user_id, &group_id).await, before);

    // Names are unique per connector, not across connectors.
    assert_eq!(a.post("/Users", &user("b-user@x.test")).await.status, 201);
    assert_eq!(snapshot(&b, &user_id, &group_id).await, before);
}
