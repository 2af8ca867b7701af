//! Okta as a SCIM client, request by request, as IDP-CLIENTS.md §11 records it from Okta's
//! developer docs and its Runscope test suites: Test API Credentials, the SCIM 2.0 SPEC test
//! (steps 1–10), user creation with a random password, profile updates by PUT of the whole
//! object as read, deactivation and password sync by path-less PATCH, imports by paging, and
//! Group Push (create, rename carrying `id`, remove + add, full replace, delete).
//!
//! Okta sends `Content-Type: application/json` and its own `User-Agent`; every request here
//! does too. Okta never deletes users.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{
    Conn, ERROR_SCHEMA, LIST_RESPONSE, Reply, TestServer, enc, member_ids, sorted, without_meta,
};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// A request as Okta sends it: `application/json`, Okta's user agent.
async fn okta(c: &Conn, method: Method, path: &str, body: Option<&Value>) -> Reply {
    let rb = c
        .request(method, path)
        .header("user-agent", "Okta SCIM Client 1.0.0")
        .header("accept", "application/scim+json, application/json");
    let rb = match body {
        Some(b) => rb
            .header("content-type", "application/json; charset=utf-8")
            .body(b.to_string()),
        None => rb,
    };
    Reply::from(rb).await
}

async fn get(c: &Conn, path: &str) -> Reply {
    okta(c, Method::GET, path, None).await
}

/// A PatchOp body.
fn patch_op(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// Asserts a ListResponse whose paging values are JSON integers (Okta: "need to be exchanged
/// as integers, not as strings"); returns the resources.
fn list(r: &Reply) -> Vec<Value> {
    let resources = r.resources().clone();
    for key in ["totalResults", "itemsPerPage", "startIndex"] {
        assert!(r.body[key].is_u64(), "{key} is not an integer: {}", r.text);
    }
    assert_eq!(r.body["itemsPerPage"], resources.len(), "{}", r.text);
    resources
}

/// The SPEC test's user checks (steps 1, 2): the attributes Okta reads.
fn has_okta_user_fields(u: &Value) {
    for (what, v) in [
        ("id", &u["id"]),
        ("name.familyName", &u["name"]["familyName"]),
        ("name.givenName", &u["name"]["givenName"]),
        ("userName", &u["userName"]),
        ("emails[0].value", &u["emails"][0]["value"]),
    ] {
        assert!(
            v.as_str().is_some_and(|s| !s.is_empty()),
            "no {what} in {u}"
        );
    }
    assert!(u["active"].is_boolean(), "no boolean active in {u}");
}

/// The create request of §11.4, verbatim: Okta always sends a random password.
fn test_user() -> Value {
    json!({"schemas": [USER], "userName": "test.user@okta.local",
           "name": {"givenName": "Test", "familyName": "User"},
           "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
           "displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
           "groups": [], "password": "1mz050nq", "active": true})
}

/// What the server keeps of [`test_user`]: everything but the read-only `groups` and the
/// write-only `password`.
fn test_user_as_stored(id: &str) -> Value {
    json!({"schemas": [USER], "id": id, "userName": "test.user@okta.local",
           "name": {"givenName": "Test", "familyName": "User"},
           "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
           "displayName": "Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
           "active": true})
}

/// §11.4: the lookup misses, the POST creates; returns the id.
async fn provision(c: &Conn, body: &Value) -> String {
    let user_name = body["userName"].as_str().unwrap();
    let r = get(
        c,
        &format!(
            "/Users?filter={}&startIndex=1&count=100",
            enc(&format!("userName eq \"{user_name}\""))
        ),
    )
    .await;
    assert_eq!(
        r.body,
        json!({"schemas": [LIST_RESPONSE], "totalResults": 0, "startIndex": 1,
               "itemsPerPage": 0, "Resources": []}),
        "{}",
        r.text
    );
    let r = okta(c, Method::POST, "/Users", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.assert_scim_json();
    assert!(
        r.body.get("password").is_none(),
        "password echoed: {}",
        r.text
    );
    r.id()
}

#[tokio::test]
async fn the_scim_2_spec_test_passes_step_by_step() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    // "Run it only after at least one user exists."
    let existing = provision(&c, &test_user()).await;

    // Test API Credentials (the older suite's first step), then the groups listing.
    let r = get(&c, "/Users?count=2&startIndex=1").await;
    assert_eq!(list(&r).len(), 1);
    assert_eq!(r.body["startIndex"], 1);
    let r = get(&c, "/Groups?count=100&startIndex=1").await;
    assert!(list(&r).is_empty());

    // 1. Test Users endpoint.
    let r = get(&c, "/Users?count=1&startIndex=1").await;
    let first = list(&r)[0].clone();
    has_okta_user_fields(&first);
    assert_eq!(first["id"], existing.as_str());

    // 2. Get Users/{id}: the same user, the same fields.
    let r = get(&c, &format!("/Users/{existing}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    has_okta_user_fields(&r.body);
    assert_eq!(r.body, first);

    // 3 and 5. An invalid / random userName: 200, an empty ListResponse.
    for random in ["a7f6c3b0-random@atko.com", "Runscope-nobody-4242@atko.com"] {
        let r = get(
            &c,
            &format!(
                "/Users?filter={}",
                enc(&format!("userName eq \"{random}\""))
            ),
        )
        .await;
        assert!(list(&r).is_empty());
        assert_eq!(r.body["totalResults"], 0);
    }

    // 4. An invalid id: 404 with the Error schema and a non-empty detail.
    let r = get(&c, "/Users/010101001010101011001010101011").await;
    r.assert_error(404, None);
    assert_eq!(r.body["schemas"], json!([ERROR_SCHEMA]));

    // 6. Create Okta user with realistic values.
    let runscope = json!({
        "schemas": [USER], "userName": "Runscope300Hfluaklab151@atko.com",
        "name": {"givenName": "Runscope300", "familyName": "Hfluaklab151"},
        "emails": [{"primary": true, "value": "Runscope300Hfluaklab151@atko.com", "type": "work"}],
        "displayName": "Runscope300 Hfluaklab151", "active": true
    });
    let r = okta(&c, Method::POST, "/Users", Some(&runscope)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.assert_scim_json();
    let id = r.id();
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["userName"], "Runscope300Hfluaklab151@atko.com");
    assert_eq!(r.body["name"], runscope["name"]);
    assert!(
        r.body["schemas"].as_array().unwrap().contains(&json!(USER)),
        "{}",
        r.text
    );
    let location = format!("{}/Users/{id}", c.base);
    assert_eq!(r.header("location"), Some(location.as_str()));
    let mut want = runscope.clone();
    want["id"] = json!(id);
    assert_eq!(without_meta(&r, "User", &location), want);

    // 7. Verify the user was created.
    let got = get(&c, &format!("/Users/{id}")).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body, r.body);

    // 8. The same POST again: 409 uniqueness.
    let r = okta(&c, Method::POST, "/Users", Some(&runscope)).await;
    r.assert_error(409, Some("uniqueness"));
    assert_eq!(get(&c, "/Users").await.body["totalResults"], 2);

    // 9. Username case sensitivity check: 200, and the user is found anyway.
    let r = get(
        &c,
        &format!(
            "/Users?filter={}",
            enc("userName eq \"RUNSCOPE300HFLUAKLAB151@ATKO.COM\"")
        ),
    )
    .await;
    let found = list(&r);
    assert_eq!(found.len(), 1, "{}", r.text);
    assert_eq!(found[0], got.body);

    // 10. Verify Groups endpoint.
    let r = get(&c, "/Groups").await;
    assert!(list(&r).is_empty());
}

#[tokio::test]
async fn create_keeps_what_okta_sent_but_never_the_password() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    let r = okta(&c, Method::POST, "/Users", Some(&test_user())).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    let location = format!("{}/Users/{id}", c.base);
    assert_eq!(
        without_meta(&r, "User", &location),
        test_user_as_stored(&id)
    );
    assert!(!r.text.contains("1mz050nq"), "{}", r.text);

    // Okta's lookup (`%20`, `%22`, `%40`, paging parameters) now finds exactly that.
    let r = get(
        &c,
        &format!(
            "/Users?filter={}&startIndex=1&count=100",
            enc("userName eq \"test.user@okta.local\"")
        ),
    )
    .await;
    let found = list(&r);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], get(&c, &format!("/Users/{id}")).await.body);
    assert!(!r.text.contains("1mz050nq"));

    // A retried create after a timeout: 409 with an Error body, and still one user.
    okta(&c, Method::POST, "/Users", Some(&test_user()))
        .await
        .assert_error(409, Some("uniqueness"));
    assert_eq!(get(&c, "/Users").await.body["totalResults"], 1);
}

#[tokio::test]
async fn profile_updates_are_a_put_of_the_object_as_read() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    let id = provision(&c, &test_user()).await;
    let path = format!("/Users/{id}");
    let g = c.create_group("Everyone", &[&id]).await;

    // §11.5: GET, change, PUT it all back, with `id`, `schemas`, `groups` and `meta` as read.
    let read = get(&c, &path).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["groups"][0]["value"], g.as_str());
    let mut body = read.body.clone();
    body["name"] = json!({"givenName": "Tess", "familyName": "User"});
    body["displayName"] = json!("Tess User");
    body["emails"] = json!([{"primary": true, "value": "tess.user@okta.local", "type": "work"}]);
    body["password"] = json!("9gq1sx20");
    let r = okta(&c, Method::PUT, &path, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    assert_ne!(r.etag(), read.etag());
    let mut want = test_user_as_stored(&id);
    want["name"] = body["name"].clone();
    want["displayName"] = body["displayName"].clone();
    want["emails"] = body["emails"].clone();
    want["groups"] = read.body["groups"].clone();
    assert_eq!(without_meta(&r, "User", &format!("{}{path}", c.base)), want);
    assert_eq!(r.body["meta"]["created"], read.body["meta"]["created"]);
    // GET shows exactly what the PUT answered; the group is untouched by `groups` in a PUT.
    let after = get(&c, &path).await;
    assert_eq!(after.body, r.body);
    assert_eq!(
        member_ids(&get(&c, &format!("/Groups/{g}")).await.body),
        [id.as_str()]
    );

    // `groups: []` in a PUT is read-only too: the membership stays.
    let mut body = after.body.clone();
    body["groups"] = json!([]);
    let r = okta(&c, Method::PUT, &path, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["groups"], after.body["groups"]);
    assert_eq!(r.etag(), after.etag(), "nothing changed, so no new version");

    // PUT replaces: an attribute Okta no longer sends is gone.
    let mut body = after.body.clone();
    body.as_object_mut().unwrap().remove("locale");
    let r = okta(&c, Method::PUT, &path, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("locale").is_none(), "{}", r.text);

    // AIW integrations deactivate by PUT: `active` is kept as sent.
    let mut body = r.body.clone();
    body["active"] = json!(false);
    let r = okta(&c, Method::PUT, &path, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"], false);
    assert_eq!(get(&c, &path).await.body, r.body);

    // A PUT that would take another user's userName is 409, and changes nothing.
    provision(
        &c,
        &json!({"schemas": [USER], "userName": "other@okta.local", "active": true}),
    )
    .await;
    let mut body = r.body.clone();
    body["userName"] = json!("OTHER@okta.local");
    okta(&c, Method::PUT, &path, Some(&body))
        .await
        .assert_error(409, Some("uniqueness"));
    assert_eq!(get(&c, &path).await.body, r.body);

    // A PUT of an unknown id is 404.
    okta(
        &c,
        Method::PUT,
        "/Users/010101001010101011001010101011",
        Some(&body),
    )
    .await
    .assert_error(404, None);
}

#[tokio::test]
async fn deactivate_reactivate_and_password_sync_by_path_less_patch() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    let id = provision(&c, &test_user()).await;
    let path = format!("/Users/{id}");
    let g = c.create_group("Engineering", &[&id]).await;
    let before = get(&c, &path).await;

    // §11.5, OIN: deactivate.
    let r = okta(
        &c,
        Method::PATCH,
        &path,
        Some(&patch_op(
            json!([{"op": "replace", "value": {"active": false}}]),
        )),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    let mut want = before.body.clone();
    want["active"] = json!(false);
    want["meta"] = r.body["meta"].clone();
    assert_eq!(r.body, want, "only active changed");
    // Still there, by GET and by lookup; still in its group (Okta never deletes users).
    assert_eq!(get(&c, &path).await.body, r.body);
    let found = get(
        &c,
        &format!(
            "/Users?filter={}&startIndex=1&count=100",
            enc("userName eq \"test.user@okta.local\"")
        ),
    )
    .await;
    assert_eq!(list(&found), std::slice::from_ref(&r.body));
    assert_eq!(
        member_ids(&get(&c, &format!("/Groups/{g}")).await.body),
        [id.as_str()]
    );

    // Reactivate.
    let r = okta(
        &c,
        Method::PATCH,
        &path,
        Some(&patch_op(
            json!([{"op": "replace", "value": {"active": true}}]),
        )),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"], true);
    let reactivated = get(&c, &path).await;
    assert_eq!(reactivated.body, r.body);

    // Password sync: accepted, never stored or returned, and nothing else changes.
    let r = okta(
        &c,
        Method::PATCH,
        &path,
        Some(&patch_op(
            json!([{"op": "replace", "value": {"password": "t0pS3cret!"}}]),
        )),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("password").is_none(), "{}", r.text);
    assert!(!r.text.contains("t0pS3cret!"), "{}", r.text);
    let after = get(&c, &path).await;
    assert!(!after.text.contains("t0pS3cret!"));
    assert_eq!(after.body, reactivated.body);
    let r = get(&c, &format!("{path}?attributes=password")).await;
    assert!(!r.text.contains("t0pS3cret!"), "{}", r.text);

    // An unknown id is 404.
    okta(
        &c,
        Method::PATCH,
        "/Users/010101001010101011001010101011",
        Some(&patch_op(
            json!([{"op": "replace", "value": {"active": false}}]),
        )),
    )
    .await
    .assert_error(404, None);
}

#[tokio::test]
async fn imports_page_users_and_groups_in_a_stable_order() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    let mut users = Vec::new();
    for i in 0..7 {
        users.push(c.create_user(&format!("import{i}@okta.local")).await);
    }
    for name in ["Group C", "Group A", "Group B"] {
        c.create_group(name, &[&users[0]]).await;
    }

    // §11.6 Import: `startIndex=1&count=100`, then +100; the order must not depend on the
    // page size, so walk with count=3 and compare with one page of 100.
    let all = list(&get(&c, "/Users?startIndex=1&count=100").await);
    assert_eq!(all.len(), 7);
    let mut walked = Vec::new();
    let mut start = 1;
    loop {
        let r = get(&c, &format!("/Users?startIndex={start}&count=3")).await;
        let page = list(&r);
        assert_eq!(r.body["startIndex"], start);
        assert_eq!(r.body["totalResults"], 7);
        if page.is_empty() {
            break;
        }
        start += page.len();
        walked.extend(page);
    }
    assert_eq!(walked, all);

    let groups = list(&get(&c, "/Groups?startIndex=1&count=100").await);
    let names: Vec<&str> = groups
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    let r = get(&c, "/Groups?startIndex=2&count=1").await;
    assert_eq!(list(&r)[0]["displayName"], names[1]);
    // Okta reads groups in full: members included.
    assert!(groups.iter().all(|g| member_ids(g) == [users[0].as_str()]));
}

#[tokio::test]
async fn group_push_creates_renames_syncs_members_and_deletes() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    let a = provision(&c, &test_user()).await;
    let b = c.create_user("b.user@okta.local").await;
    let d = c.create_user("d.user@okta.local").await;

    // §11.6: create with an empty member list.
    let r = okta(
        &c,
        Method::POST,
        "/Groups",
        Some(&json!({"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.assert_scim_json();
    let g = r.id();
    let path = format!("/Groups/{g}");
    let location = format!("{}{path}", c.base);
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert_eq!(
        without_meta(&r, "Group", &location),
        json!({"schemas": [GROUP], "id": g, "displayName": "Test SCIMv2", "members": []})
    );
    let got = get(&c, &path).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body, r.body);

    // The rename, sent with every membership update: path-less, carrying the group's own
    // read-only `id`. 204; nothing else changes.
    let rename =
        |name: &str| patch_op(json!([{"op": "replace", "value": {"id": g, "displayName": name}}]));
    let r = okta(&c, Method::PATCH, &path, Some(&rename("Test SCIMv2"))).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        get(&c, &path).await.body,
        got.body,
        "a same-name rename is a no-op"
    );

    // Membership: add two, as Okta's first push of the group.
    let r = okta(
        &c,
        Method::PATCH,
        &path,
        Some(&patch_op(
            json!([{"op": "add", "path": "members", "value": [
            {"value": a, "display": "test.user@okta.local"},
            {"value": b, "display": "b.user@okta.local"}]}]),
        )),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let full = get(&c, &path).await;
    assert_eq!(member_ids(&full.body), sorted(&[&a, &b]));
    // `display` is kept as Okta sent it.
    let display_of = |g: &Value, id: &str| {
        g["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["value"] == id)
            .map(|m| m["display"].clone())
    };
    assert_eq!(
        display_of(&full.body, &a),
        Some(json!("test.user@okta.local"))
    );

    // Remove one and add another in one request.
    let r = okta(
        &c,
        Method::PATCH,
        &path,
        Some(&patch_op(json!([
            {"op": "remove", "path": format!("members[value eq \"{b}\"]")},
            {"op": "add", "path": "members", "value": [{"value": d, "display": "d.user@okta.local"}]}
        ]))),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(member_ids(&get(&c, &path).await.body), sorted(&[&a, &d]));

    // Rename, then a full push of the member list.
    let r = okta(
        &c,
        Method::PATCH,
        &path,
        Some(&rename("Test SCIMv2 renamed")),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = okta(
        &c,
        Method::PATCH,
        &path,
        Some(&patch_op(
            json!([{"op": "replace", "path": "members", "value": [
            {"value": b, "display": "b.user@okta.local"},
            {"value": d, "display": "d.user@okta.local"}]}]),
        )),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let pushed = get(&c, &path).await;
    assert_eq!(pushed.body["displayName"], "Test SCIMv2 renamed");
    assert_eq!(member_ids(&pushed.body), sorted(&[&b, &d]));
    // Pushing the same list again changes nothing, not even the version.
    let r = okta(
        &c,
        Method::PATCH,
        &path,
        Some(&patch_op(
            json!([{"op": "replace", "path": "members", "value": [
            {"value": d, "display": "d.user@okta.local"},
            {"value": b, "display": "b.user@okta.local"}]}]),
        )),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(get(&c, &path).await.body, pushed.body);

    // A rename carrying some other id is refused (400 mutability), and changes nothing.
    let r = okta(
        &c,
        Method::PATCH,
        &path,
        Some(&patch_op(
            json!([{"op": "replace", "value": {"id": "abf4dd94-0000-0000-0000-000000000000",
                                                  "displayName": "Hijack"}}]),
        )),
    )
    .await;
    r.assert_error(400, Some("mutability"));
    assert_eq!(get(&c, &path).await.body, pushed.body);

    // AIW integrations push with PUT and the full member list.
    let mut body = pushed.body.clone();
    body["members"] = json!([{"value": a, "display": "test.user@okta.local"}]);
    let r = okta(&c, Method::PUT, &path, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    assert_eq!(member_ids(&r.body), [a.as_str()]);
    assert_eq!(get(&c, &path).await.body, r.body);

    // Unlink with "Delete the group in the target app".
    let r = okta(&c, Method::DELETE, &path, None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    get(&c, &path).await.assert_error(404, None);
    okta(&c, Method::DELETE, &path, None)
        .await
        .assert_error(404, None);
    // The users stay, without the group.
    let user = get(&c, &format!("/Users/{a}")).await;
    assert_eq!(user.status, 200);
    assert!(user.body.get("groups").is_none(), "{}", user.text);
    // The name is free for the next push.
    let r = okta(
        &c,
        Method::POST,
        "/Groups",
        Some(
            &json!({"schemas": [GROUP], "displayName": "Test SCIMv2 renamed", "members": [
            {"value": a, "display": "test.user@okta.local"}]}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(member_ids(&r.body), [a.as_str()]);
    assert_eq!(get(&c, &format!("/Groups/{}", r.id())).await.body, r.body);
}
