//! The Microsoft SCIM Validator's test list (IDP-CLIENTS.md §10.1), one test per validator
//! test, in the validator's dialect: lowercase ops, path-less replaces, `"True"` strings in a
//! POST, `display` sub-attributes of filtered paths. Each asserts what the validator checks
//! and reads the result back as the validator does, by GET and by filter.

use serde_json::{Value, json};

use crate::common::{Conn, Reply, TestServer, enc, member_ids, sorted};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const MANAGER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

/// A user as the validator generates one: every mapped attribute, `"True"` strings for
/// booleans, the enterprise extension.
fn generated_user(user_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "externalId": external_id,
        "active": "True",
        "displayName": "Emilio Hermann",
        "title": "Dynamic Intranet Orchestrator",
        "preferredLanguage": "ts-ZA",
        "name": {"givenName": "Emilio", "familyName": "Hermann", "formatted": "Emilio Hermann"},
        "emails": [{"type": "work", "value": user_name, "primary": "True"}],
        "phoneNumbers": [{"type": "work", "value": "33-146-2071"},
                         {"type": "mobile", "value": "64-452-6163"},
                         {"type": "fax", "value": "18-823-1771"}],
        "addresses": [{"type": "work", "formatted": "AEKQPLSRRAYN", "streetAddress": "2712 Shanelle Squares",
                       "locality": "GZPQQRBTXFCR", "region": "ODXLMIAOHFWM", "postalCode": "cu57 1yc",
                       "country": "Cook Islands", "primary": "False"}],
        "roles": [{"primary": "True", "display": "XDMFGKMQMVQM", "value": "HVJPTDUDQBUN", "type": "JPRMIKYNPTSP"}],
        ENTERPRISE: {"employeeNumber": "AJYVGNYPXRWB", "department": "NPDZBVVVRJXK",
                     "costCenter": "WGGQRMDDKPUT", "organization": "OVXYQYFVTVZA",
                     "division": "BDNNWLAQOJFV"}
    })
}

/// Creates a validator user; returns the 201 reply.
async fn create_user(c: &Conn, user_name: &str) -> Reply {
    let r = c
        .post(
            "/Users",
            &generated_user(user_name, &format!("ext-{user_name}")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r
}

/// `GET {endpoint}?filter=…`, encoded as the validator does (`+` for spaces).
async fn filter(c: &Conn, endpoint: &str, expr: &str, extra: &str) -> Reply {
    let encoded = enc(expr).replace("%20", "+");
    c.get(&format!("/{endpoint}?{extra}filter={encoded}")).await
}

/// PATCH a user with these ops: 200, and the answer is what GET now returns.
async fn patch_user(c: &Conn, id: &str, ops: Value) -> Value {
    let r = c.patch_ops(&format!("/Users/{id}"), ops.clone()).await;
    assert_eq!(r.status, 200, "{ops}: {}", r.text);
    r.assert_scim_json();
    let got = c.get(&format!("/Users/{id}")).await;
    assert_eq!(got.body, r.body, "the PATCH answer and GET disagree");
    got.body
}

/// PATCH a group with these ops: the validator's recommended 204.
async fn patch_group(c: &Conn, id: &str, ops: Value) {
    let r = c.patch_ops(&format!("/Groups/{id}"), ops.clone()).await;
    assert_eq!(r.status, 204, "{ops}: {}", r.text);
}

/// The element of a multi-valued attribute with this `type`.
fn typed<'a>(v: &'a Value, attr: &str, ty: &str) -> &'a Value {
    v[attr]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["type"] == ty))
        .unwrap_or_else(|| panic!("no {attr} of type {ty} in {v}"))
}

// ---- users ---------------------------------------------------------------------------------

#[tokio::test]
async fn create_a_new_user_and_a_duplicate() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let r = create_user(&c, "emilio@hermann.uk").await;
    r.assert_scim_json();
    // Booleans come back as booleans ("The value 'True' cannot be parsed as the type
    // 'Boolean'" otherwise), everything else as sent.
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["emails"][0]["primary"], true);
    assert_eq!(r.body["addresses"][0]["primary"], false);
    assert_eq!(
        r.body["roles"],
        json!([{"primary": true, "display": "XDMFGKMQMVQM", "value": "HVJPTDUDQBUN", "type": "JPRMIKYNPTSP"}])
    );
    assert_eq!(
        typed(&r.body, "phoneNumbers", "fax")["value"],
        "18-823-1771"
    );
    assert_eq!(r.body[ENTERPRISE]["division"], "BDNNWLAQOJFV");

    // Create a duplicate User: 409.
    let r = c
        .post("/Users", &generated_user("emilio@hermann.uk", "other"))
        .await;
    r.assert_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn filter_for_existing_missing_and_differently_cased_users() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let created = create_user(&c, "emilio@hermann.uk").await;
    create_user(&c, "other@hermann.uk").await;

    let r = filter(&c, "Users", "userName eq \"emilio@hermann.uk\"", "").await;
    assert_eq!(r.resources(), &vec![created.body.clone()]);
    let r = filter(&c, "Users", "userName eq \"nobody@hermann.uk\"", "").await;
    assert!(r.resources().is_empty());
    assert_eq!(r.body["totalResults"], 0);
    let r = filter(&c, "Users", "userName eq \"EMILIO@HERMANN.UK\"", "").await;
    assert_eq!(
        r.resources(),
        &vec![created.body.clone()],
        "exactly one hit"
    );
}

#[tokio::test]
async fn patch_user_replace_attributes_verbose() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let id = create_user(&c, "emilio@hermann.uk").await.id();

    // "Patch User - Replace Attributes" (Verbose): one replace per mapped attribute.
    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "replace", "path": "userName", "value": "kaci@oconnell.uk"},
            {"op": "replace", "path": "active", "value": false},
            {"op": "replace", "path": "displayName", "value": "Kaci OConnell"},
            {"op": "replace", "path": "title", "value": "Senior Web Designer"},
            {"op": "replace", "path": "preferredLanguage", "value": "en-GB"},
            {"op": "replace", "path": "externalId", "value": "ext-kaci"},
            {"op": "replace", "path": "name.givenName", "value": "Kaci"},
            {"op": "replace", "path": "name.familyName", "value": "OConnell"},
            {"op": "replace", "path": "name.formatted", "value": "Kaci OConnell"},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "kaci@oconnell.uk"},
            {"op": "replace", "path": "emails[type eq \"work\"].display", "value": "Kaci at work"},
            {"op": "replace", "path": "emails[type eq \"work\"].primary", "value": true},
            {"op": "replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "11-111-1111"},
            {"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "22-222-2222"},
            {"op": "replace", "path": "phoneNumbers[type eq \"fax\"].value", "value": "33-333-3333"},
            {"op": "replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Road, Town"},
            {"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Road"},
            {"op": "replace", "path": "addresses[type eq \"work\"].locality", "value": "Town"},
            {"op": "replace", "path": "addresses[type eq \"work\"].region", "value": "Shire"},
            {"op": "replace", "path": "addresses[type eq \"work\"].postalCode", "value": "AB1 2CD"},
            {"op": "replace", "path": "addresses[type eq \"work\"].country", "value": "UK"},
            {"op": "replace", "path": "addresses[type eq \"work\"].primary", "value": true},
            {"op": "replace", "path": "roles[primary eq \"True\"].display", "value": "Designer"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "E-2"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Design"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "value": "CC-2"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization", "value": "Org-2"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division", "value": "Div-2"}
        ]),
    )
    .await;
    assert_eq!(after["userName"], "kaci@oconnell.uk");
    assert_eq!(after["active"], false);
    assert_eq!(
        after["name"],
        json!({"givenName": "Kaci", "familyName": "OConnell", "formatted": "Kaci OConnell"})
    );
    assert_eq!(
        after["emails"],
        json!([{"type": "work", "value": "kaci@oconnell.uk", "primary": true, "display": "Kaci at work"}])
    );
    assert_eq!(
        after["phoneNumbers"],
        json!([{"type": "work", "value": "11-111-1111"},
               {"type": "mobile", "value": "22-222-2222"},
               {"type": "fax", "value": "33-333-3333"}])
    );
    assert_eq!(
        after["addresses"],
        json!([{"type": "work", "formatted": "1 Road, Town", "streetAddress": "1 Road",
                "locality": "Town", "region": "Shire", "postalCode": "AB1 2CD",
                "country": "UK", "primary": true}])
    );
    assert_eq!(after["roles"][0]["display"], "Designer");
    assert_eq!(
        after[ENTERPRISE],
        json!({"employeeNumber": "E-2", "department": "Design", "costCenter": "CC-2",
               "organization": "Org-2", "division": "Div-2"})
    );
    // And the filter on the new userName finds it, disabled.
    let r = filter(&c, "Users", "userName eq \"kaci@oconnell.uk\"", "").await;
    assert_eq!(r.resources(), &vec![after]);
}

#[tokio::test]
async fn patch_user_add_attributes() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let id = c
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "lean@hermann.uk", "active": true}),
        )
        .await
        .id();

    // "Patch User - Add Attributes": adds to a user that has none of them.
    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "add", "path": "displayName", "value": "Lean Hermann"},
            {"op": "add", "path": "name.givenName", "value": "Lean"},
            {"op": "add", "path": "emails[type eq \"work\"].value", "value": "lean@hermann.uk"},
            {"op": "add", "path": "emails[type eq \"work\"].primary", "value": true},
            {"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "64-452-6163"},
            {"op": "add", "path": "addresses[type eq \"work\"].locality", "value": "Town"},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Design"}
        ]),
    )
    .await;
    assert_eq!(
        after,
        json!({
            "schemas": [USER, ENTERPRISE], "id": id, "userName": "lean@hermann.uk",
            "active": true, "displayName": "Lean Hermann", "name": {"givenName": "Lean"},
            "emails": [{"type": "work", "value": "lean@hermann.uk", "primary": true}],
            "phoneNumbers": [{"type": "mobile", "value": "64-452-6163"}],
            "addresses": [{"type": "work", "locality": "Town"}],
            ENTERPRISE: {"department": "Design"},
            "meta": after["meta"].clone()
        })
    );
}

#[tokio::test]
async fn update_user_user_name_path_less_then_recreate_the_old_name() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let id = create_user(&c, "emilio@hermann.uk").await.id();
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "replace", "value": {"userName": "emilio.new@hermann.uk"}}]),
    )
    .await;
    assert_eq!(after["userName"], "emilio.new@hermann.uk");
    // The validator re-creates a userName it renamed in an earlier test: no stale 409.
    create_user(&c, "emilio@hermann.uk").await;
    // Renaming onto a taken userName (any case) is 409, and nothing changes.
    c.patch_ops(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "value": {"userName": "EMILIO@hermann.uk"}}]),
    )
    .await
    .assert_error(409, Some("uniqueness"));
    assert_eq!(c.get(&format!("/Users/{id}")).await.body, after);
}

#[tokio::test]
async fn patch_user_disable_user() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let id = create_user(&c, "emilio@hermann.uk").await.id();
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    assert_eq!(after["active"], false);
    // "Response from a GET and filter request on a disabled User should have attribute active".
    let r = filter(&c, "Users", "userName eq \"emilio@hermann.uk\"", "").await;
    assert_eq!(r.resources()[0]["active"], false);
    let r = c.get(&format!("/Users/{id}?attributes=active")).await;
    assert_eq!(r.body["active"], false, "{}", r.text);
}

#[tokio::test]
async fn patch_user_add_replace_and_remove_manager() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let id = create_user(&c, "emilio@hermann.uk").await.id();
    let m1 = create_user(&c, "m1@hermann.uk").await.id();
    let m2 = create_user(&c, "m2@hermann.uk").await.id();

    // The validator's own shapes: an object value for add and replace.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "add", "path": MANAGER, "value": {"value": m1}}]),
    )
    .await;
    assert_eq!(after[ENTERPRISE]["manager"], json!({"value": m1}));
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "replace", "path": MANAGER, "value": {"value": m2}}]),
    )
    .await;
    assert_eq!(after[ENTERPRISE]["manager"], json!({"value": m2}));
    let after = patch_user(&c, &id, json!([{"op": "remove", "path": MANAGER}])).await;
    assert!(after[ENTERPRISE].get("manager").is_none(), "{after}");
    assert_eq!(after[ENTERPRISE]["department"], "NPDZBVVVRJXK");
}

#[tokio::test]
async fn delete_a_user_a_missing_user_and_the_same_user_twice() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let id = create_user(&c, "emilio@hermann.uk").await.id();
    let r = c.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    c.get(&format!("/Users/{id}")).await.assert_error(404, None);
    c.delete(&format!("/Users/{id}"))
        .await
        .assert_error(404, None);
    c.delete("/Users/6b4e2c9a-0000-4000-8000-000000000000")
        .await
        .assert_error(404, None);
}

#[tokio::test]
async fn patch_user_multiple_ops_on_different_and_same_attributes() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let id = create_user(&c, "emilio@hermann.uk").await.id();

    // Different attributes, mixed ops.
    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "replace", "path": "displayName", "value": "E. Hermann"},
            {"op": "add", "path": "nickName", "value": "Emi"},
            {"op": "remove", "path": "title"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"}
        ]),
    )
    .await;
    assert_eq!(after["displayName"], "E. Hermann");
    assert_eq!(after["nickName"], "Emi");
    assert!(after.get("title").is_none());
    assert_eq!(after[ENTERPRISE]["department"], "Ops");

    // The same attribute several times: applied in order, the last one wins.
    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "add", "path": "nickName", "value": "First"},
            {"op": "replace", "path": "nickName", "value": "Second"},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@hermann.uk"},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@hermann.uk"},
            {"op": "remove", "path": "phoneNumbers[type eq \"fax\"]"},
            {"op": "add", "path": "phoneNumbers[type eq \"fax\"].value", "value": "99-999-9999"}
        ]),
    )
    .await;
    assert_eq!(after["nickName"], "Second");
    assert_eq!(typed(&after, "emails", "work")["value"], "b@hermann.uk");
    assert_eq!(
        typed(&after, "phoneNumbers", "fax"),
        &json!({"type": "fax", "value": "99-999-9999"})
    );
    assert_eq!(after["phoneNumbers"].as_array().unwrap().len(), 3);
}

// ---- groups --------------------------------------------------------------------------------

/// A group as the validator creates one, with a member.
async fn create_group(c: &Conn, name: &str, members: &[&str]) -> Reply {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let r = c
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "externalId": format!("ext-{name}"),
                    "displayName": name, "members": members}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r
}

#[tokio::test]
async fn group_reads_filters_and_creates() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let u = create_user(&c, "emilio@hermann.uk").await.id();
    // "Create a new Group", with a member, as Microsoft's Postman suite also does.
    let created = create_group(&c, "Sales QYZLR", &[&u]).await;
    assert_eq!(member_ids(&created.body), [u.as_str()]);
    let g = created.id();
    create_group(&c, "Support", &[]).await;

    // "Get group by id excluding members".
    let r = c
        .get(&format!("/Groups/{g}?excludedAttributes=members"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("members").is_none(), "{}", r.text);
    let mut without_members = created.body.clone();
    without_members.as_object_mut().unwrap().remove("members");
    assert_eq!(r.body, without_members);

    // "Filter for existing group excluding members", "… an existing group", "… different
    // case", "… a non-existing group".
    let r = filter(
        &c,
        "Groups",
        "displayName eq \"Sales QYZLR\"",
        "excludedAttributes=members&",
    )
    .await;
    assert_eq!(r.resources(), &vec![without_members.clone()]);
    let r = filter(&c, "Groups", "displayName eq \"Sales QYZLR\"", "").await;
    assert_eq!(r.resources(), &vec![created.body.clone()]);
    let r = filter(
        &c,
        "Groups",
        "displayName eq \"sales qyzlr\"",
        "excludedAttributes=members&",
    )
    .await;
    assert_eq!(r.resources(), &vec![without_members]);
    let r = filter(
        &c,
        "Groups",
        "displayName eq \"No Such Group\"",
        "excludedAttributes=members&",
    )
    .await;
    assert!(r.resources().is_empty());
    // The unfiltered listing, excluding members.
    let r = c.get("/Groups?excludedAttributes=members").await;
    let all = r.resources();
    assert_eq!(all.len(), 2, "{}", r.text);
    assert!(all.iter().all(|g| g.get("members").is_none()), "{}", r.text);

    // "Create a duplicate Group".
    c.post(
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": "SALES QYZLR", "members": []}),
    )
    .await
    .assert_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn patch_group_attributes_and_members() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let a = create_user(&c, "a@hermann.uk").await.id();
    let b = create_user(&c, "b@hermann.uk").await.id();
    let g = create_group(&c, "Sales QYZLR", &[]).await.id();
    let path = format!("/Groups/{g}");

    // "Patch Group - Add Member": the setup replaces the list, then members are added.
    patch_group(
        &c,
        &g,
        json!([{"op": "replace", "path": "members", "value": [{"value": a}]}]),
    )
    .await;
    patch_group(
        &c,
        &g,
        json!([{"op": "add", "path": "members", "value": [{"value": b}]}]),
    )
    .await;
    assert_eq!(member_ids(&c.get(&path).await.body), sorted(&[&a, &b]));

    // "Patch Group - Replace Attributes" and "Update Group displayName": path-less; the
    // members stay.
    patch_group(
        &c,
        &g,
        json!([{"op": "replace", "value": {"externalId": "a6e7ab6e-3c55-4b8c-8f1c-4e0cfa3c1f86"}}]),
    )
    .await;
    patch_group(
        &c,
        &g,
        json!([{"op": "replace", "value": {"displayName": "Sales RENAMED"}}]),
    )
    .await;
    let got = c.get(&path).await;
    assert_eq!(
        got.body["externalId"],
        "a6e7ab6e-3c55-4b8c-8f1c-4e0cfa3c1f86"
    );
    assert_eq!(got.body["displayName"], "Sales RENAMED");
    assert_eq!(member_ids(&got.body), sorted(&[&a, &b]));

    // "Patch Group - Remove Member".
    patch_group(
        &c,
        &g,
        json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
    )
    .await;
    assert_eq!(member_ids(&c.get(&path).await.body), [b.as_str()]);

    // Preview "Patch Group - Multiple Ops on same attribute": add X, remove X → absent.
    patch_group(
        &c,
        &g,
        json!([{"op": "add", "path": "members", "value": [{"value": a}]},
               {"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
    )
    .await;
    assert_eq!(member_ids(&c.get(&path).await.body), [b.as_str()]);
}

#[tokio::test]
async fn delete_a_group_a_missing_group_and_the_same_group_twice() {
    let server = TestServer::start().await;
    let c = server.connector("validator").await;
    let u = create_user(&c, "emilio@hermann.uk").await.id();
    let g = create_group(&c, "Sales QYZLR", &[&u]).await.id();
    let r = c.delete(&format!("/Groups/{g}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    c.get(&format!("/Groups/{g}")).await.assert_error(404, None);
    c.delete(&format!("/Groups/{g}"))
        .await
        .assert_error(404, None);
    c.delete("/Groups/6b4e2c9a-0000-4000-8000-000000000000")
        .await
        .assert_error(404, None);
    // Its member is still a user.
    assert_eq!(c.get(&format!("/Users/{u}")).await.status, 200);
}
