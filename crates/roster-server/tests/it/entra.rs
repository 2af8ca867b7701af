//! Microsoft Entra ID's provisioning service, request by request, as IDP-CLIENTS.md records it
//! from Microsoft Learn and published traffic: Test Connection (§3), the user lifecycle (§5:
//! lookup, create, PATCH in the default and `aadOptscim062020` shapes, disable, manager,
//! roles, delete) and the group lifecycle (§6: lookup without members, create, member add and
//! remove, rename, delete).
//!
//! Each test is one sequence as Entra sends it, with Entra's payloads verbatim, and reads the
//! result back by GET and by the filter Entra matches with: what Entra compares every cycle
//! must come back exactly as it was written, or it re-PATCHes forever (§5.2, §12.16).

use serde_json::{Value, json};

use crate::common::{
    Conn, LIST_RESPONSE, Reply, TestServer, enc, member_ids, sorted, without_meta,
};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The extra group schema URI the Learn group-create example still sends (§6.2).
const MS_GROUP: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

/// The empty ListResponse Test Connection and every missed lookup expect (§3), exactly.
fn empty_list() -> Value {
    json!({"schemas": [LIST_RESPONSE], "totalResults": 0, "Resources": [],
           "startIndex": 1, "itemsPerPage": 0})
}

/// `GET /{endpoint}?{extra}filter=…`, the filter percent-encoded as Entra sends it.
async fn lookup(c: &Conn, endpoint: &str, filter: &str, extra: &str) -> Reply {
    c.get(&format!("/{endpoint}?{extra}filter={}", enc(filter)))
        .await
}

/// Asserts a lookup found exactly `want`, as GET returns it.
fn found_one(r: &Reply, want: &Value) {
    let list = r.resources();
    assert_eq!(list.len(), 1, "{}", r.text);
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert_eq!(r.body["itemsPerPage"], 1, "{}", r.text);
    assert_eq!(r.body["startIndex"], 1, "{}", r.text);
    assert_eq!(&list[0], want, "the lookup and GET disagree");
}

/// `GET {path}`, asserting 200 with the resource served as SCIM JSON.
async fn read(c: &Conn, path: &str) -> Reply {
    let r = c.get(path).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.text);
    r.assert_scim_json();
    assert_eq!(
        r.body["meta"]["version"].as_str(),
        r.header("etag"),
        "{}",
        r.text
    );
    r
}

/// A user PATCH as Entra sends it: 200 with the full resource, which is what GET now returns.
async fn patch_user(c: &Conn, id: &str, ops: Value) -> Value {
    let path = format!("/Users/{id}");
    let r = c.patch_ops(&path, ops.clone()).await;
    assert_eq!(r.status, 200, "PATCH {ops}: {}", r.text);
    r.assert_scim_json();
    assert_eq!(r.header("location"), r.body["meta"]["location"].as_str());
    let got = read(c, &path).await;
    assert_eq!(r.body, got.body, "the PATCH answer and GET disagree");
    assert_eq!(r.etag(), got.etag());
    got.body
}

/// A group PATCH as Entra sends it: 204, no body, and the `ETag` of the version GET then shows.
async fn patch_group(c: &Conn, id: &str, ops: Value) {
    let path = format!("/Groups/{id}");
    let r = c.patch_ops(&path, ops.clone()).await;
    assert_eq!(r.status, 204, "PATCH {ops}: {}", r.text);
    assert!(r.text.is_empty(), "a 204 with a body: {}", r.text);
    let got = read(c, &path).await;
    assert_eq!(r.etag(), got.etag(), "the 204's ETag is the new version");
}

/// The Learn sample user (§5.2), verbatim.
fn adele() -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": "AdeleV",
        "userName": "AdeleV@contoso.onmicrosoft.com",
        "active": true,
        "displayName": "Adele Vance",
        "title": "Retail Manager",
        "emails": [{"primary": true, "type": "work", "value": "AdeleV@contoso.com"}],
        "preferredLanguage": "en-US",
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Adele Vance", "familyName": "Vance", "givenName": "Adele"},
        "addresses": [{"type": "work", "formatted": "18/2111", "streetAddress": "205 108th Ave NE",
                       "locality": "Bellevue", "region": "WA", "postalCode": "98004", "country": "US"}],
        "phoneNumbers": [{"type": "work", "value": "+1 425 555 0109"},
                         {"type": "mobile", "value": "+1 425 555 0110"},
                         {"type": "fax", "value": "+1 425 555 0111"}],
        ENTERPRISE: {"employeeNumber": "100101", "department": "Retail"},
        "roles": []
    })
}

/// Creates a user from an Entra body; returns its id.
async fn create(c: &Conn, body: &Value) -> String {
    let r = c.post("/Users", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.id()
}

// ---- §3 Test Connection --------------------------------------------------------------------

#[tokio::test]
async fn test_connection_probes_get_empty_lists_and_unknown_ids_get_404() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    // Something exists, so "empty" means "no match", not "empty connector".
    create(&c, &adele()).await;
    c.create_group("Sales", &[]).await;

    // The user probe: a random GUID as the matching attribute, `+` and `%22` as the
    // validator encodes it, and with the flag's query string forwarded.
    let guid = "7b3e0d44-5f2b-4c4e-9a51-0f1f4a2c9e11";
    for path in [
        format!("/Users?filter=userName+eq+%22{guid}%22"),
        format!("/Users?filter={}", enc(&format!("userName eq \"{guid}\""))),
        format!("/Users?aadOptscim062020&filter=userName+eq+%22{guid}%22"),
        format!(
            "/Users?filter={}",
            enc(&format!("externalId eq \"{guid}\""))
        ),
    ] {
        let r = c.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        r.assert_scim_json();
        assert_eq!(r.body, empty_list(), "{path}");
    }

    // The group probe has the group lookup's shape.
    let r = lookup(
        &c,
        "Groups",
        &format!("displayName eq \"{guid}\""),
        "excludedAttributes=members&",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    assert_eq!(r.body, empty_list());

    // Reading a random user or group by id is 404 with a SCIM body, never 5xx or 501
    // (Test Connection once read a group by id).
    c.get(&format!("/Users/{guid}"))
        .await
        .assert_error(404, None);
    c.get(&format!("/Groups/{guid}?excludedAttributes=members"))
        .await
        .assert_error(404, None);

    // Wrong credentials are 401, which Entra shows as "invalid credentials".
    c.with_authorization(Some("Bearer not-a-token"))
        .get(&format!("/Users?filter=userName+eq+%22{guid}%22"))
        .await
        .assert_unauthorized();
}

// ---- §5 users ------------------------------------------------------------------------------

#[tokio::test]
async fn the_learn_user_is_created_and_read_back_exactly_as_written() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;

    // Matching: the lookup by userName misses, so Entra creates.
    let r = lookup(
        &c,
        "Users",
        "userName eq \"AdeleV@contoso.onmicrosoft.com\"",
        "",
    )
    .await;
    assert_eq!(r.body, empty_list());

    let r = c.post("/Users", &adele()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.assert_scim_json();
    let id = r.id();
    assert!(!id.is_empty());
    let location = format!("{}/Users/{id}", c.base);
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert_eq!(r.body["meta"]["created"], r.body["meta"]["lastModified"]);

    // Every attribute as sent: no reformatted phone numbers, no case folding, `meta` the
    // server's own, `active` a JSON boolean.
    let want = json!({
        "schemas": [USER, ENTERPRISE],
        "id": id,
        "externalId": "AdeleV",
        "userName": "AdeleV@contoso.onmicrosoft.com",
        "active": true,
        "displayName": "Adele Vance",
        "title": "Retail Manager",
        "emails": [{"primary": true, "type": "work", "value": "AdeleV@contoso.com"}],
        "preferredLanguage": "en-US",
        "name": {"formatted": "Adele Vance", "familyName": "Vance", "givenName": "Adele"},
        "addresses": [{"type": "work", "formatted": "18/2111", "streetAddress": "205 108th Ave NE",
                       "locality": "Bellevue", "region": "WA", "postalCode": "98004", "country": "US"}],
        "phoneNumbers": [{"type": "work", "value": "+1 425 555 0109"},
                         {"type": "mobile", "value": "+1 425 555 0110"},
                         {"type": "fax", "value": "+1 425 555 0111"}],
        ENTERPRISE: {"employeeNumber": "100101", "department": "Retail"},
        "roles": []
    });
    assert_eq!(without_meta(&r, "User", &location), want);

    // Entra caches the id; the next cycle reads by id and matches by each attribute.
    let got = read(&c, &format!("/Users/{id}")).await;
    assert_eq!(got.body, r.body);
    for filter in [
        "userName eq \"AdeleV@contoso.onmicrosoft.com\"",
        "externalId eq \"AdeleV\"",
        "emails[type eq \"work\"].value eq \"AdeleV@contoso.com\"",
    ] {
        found_one(&lookup(&c, "Users", filter, "").await, &got.body);
    }

    // The older samples' POST: `null` attributes are absent, and the string `"True"` is a
    // boolean (only where the schema says boolean).
    let r = c
        .post(
            "/Users",
            &json!({
                "schemas": [USER, ENTERPRISE],
                "externalId": "AlexW",
                "userName": "AlexW@contoso.onmicrosoft.com",
                "active": "True",
                "displayName": "True",
                "title": null,
                "addresses": null,
                "nickName": null,
                "emails": [{"primary": "True", "type": "work", "value": "AlexW@contoso.com"}],
                "name": {"familyName": "Wilber", "givenName": "Alex", "formatted": null},
                "meta": {"resourceType": "User"},
                ENTERPRISE: {"department": null, "employeeNumber": "100102"},
                "roles": [{"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let alex = r.id();
    let location = format!("{}/Users/{alex}", c.base);
    assert_eq!(
        without_meta(&r, "User", &location),
        json!({
            "schemas": [USER, ENTERPRISE],
            "id": alex,
            "externalId": "AlexW",
            "userName": "AlexW@contoso.onmicrosoft.com",
            "active": true,
            "displayName": "True",
            "emails": [{"primary": true, "type": "work", "value": "AlexW@contoso.com"}],
            "name": {"familyName": "Wilber", "givenName": "Alex"},
            ENTERPRISE: {"employeeNumber": "100102"},
            "roles": [{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]
        })
    );
    assert_eq!(read(&c, &format!("/Users/{alex}")).await.body, r.body);

    // A second create of the same userName (a retried POST, or a lookup that missed) is 409
    // `uniqueness` with a detail, whatever the case.
    let mut again = adele();
    again["userName"] = json!("adelev@CONTOSO.onmicrosoft.com");
    let r = c.post("/Users", &again).await;
    r.assert_error(409, Some("uniqueness"));
    assert!(
        r.body["detail"].as_str().unwrap().contains("userName"),
        "{}",
        r.text
    );
    // Nothing else was created.
    assert_eq!(c.get("/Users").await.body["totalResults"], 2);
}

#[tokio::test]
async fn default_job_patches_one_capitalised_op_per_attribute() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = create(&c, &adele()).await;
    let before = read(&c, &format!("/Users/{id}")).await;

    // §5.4 A, verbatim.
    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "Replace", "path": "displayName", "value": "Pvlo"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
            {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
            {"op": "Replace", "path": "externalId", "value": "Eqpj"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Eqpj"}
        ]),
    )
    .await;
    let mut want = before.body.clone();
    want["displayName"] = json!("Pvlo");
    want["emails"] =
        json!([{"primary": true, "type": "work", "value": "TestBcwqnm@test.microsoft.com"}]);
    want["name"]["givenName"] = json!("Gtfd");
    want["name"]["familyName"] = json!("Pkqf");
    want["externalId"] = json!("Eqpj");
    want[ENTERPRISE]["employeeNumber"] = json!("Eqpj");
    want["meta"] = after["meta"].clone();
    assert_eq!(after, want, "only the patched values changed");
    assert_ne!(after["meta"]["version"], before.body["meta"]["version"]);
    assert_eq!(after["meta"]["created"], before.body["meta"]["created"]);

    // The next cycle matches on the new externalId and sees what it wrote; the old work
    // e-mail no longer matches, the new one does (e-mail values compare case-insensitively).
    found_one(
        &lookup(&c, "Users", "externalId eq \"Eqpj\"", "").await,
        &after,
    );
    found_one(
        &lookup(
            &c,
            "Users",
            "emails[type eq \"work\"].value eq \"testbcwqnm@TEST.microsoft.com\"",
            "",
        )
        .await,
        &after,
    );
    assert_eq!(
        lookup(
            &c,
            "Users",
            "emails[type eq \"work\"].value eq \"AdeleV@contoso.com\"",
            ""
        )
        .await
        .body,
        empty_list()
    );
    assert_eq!(
        lookup(&c, "Users", "externalId eq \"AdeleV\"", "")
            .await
            .body,
        empty_list()
    );

    // §5.4 B: `Add` where the target had no value, including filtered paths that match no
    // element: the element is created next to the others, nothing is clobbered.
    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "Add", "path": "nickName", "value": "Babs"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "value": "CC-7"},
            {"op": "Add", "path": "addresses[type eq \"home\"].locality", "value": "Redmond"}
        ]),
    )
    .await;
    assert_eq!(after["nickName"], "Babs");
    assert_eq!(
        after[ENTERPRISE],
        json!({"employeeNumber": "Eqpj", "department": "Retail", "costCenter": "CC-7"})
    );
    assert_eq!(
        after["addresses"],
        json!([{"type": "work", "formatted": "18/2111", "streetAddress": "205 108th Ave NE",
                "locality": "Bellevue", "region": "WA", "postalCode": "98004", "country": "US"},
               {"type": "home", "locality": "Redmond"}])
    );

    // A filtered Replace touches only its element.
    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 (425) 555-0199"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Microsoft Way"}
        ]),
    )
    .await;
    assert_eq!(
        after["phoneNumbers"],
        json!([{"type": "work", "value": "+1 425 555 0109"},
               {"type": "mobile", "value": "+1 (425) 555-0199"},
               {"type": "fax", "value": "+1 425 555 0111"}])
    );
    assert_eq!(after["addresses"][0]["streetAddress"], "1 Microsoft Way");
    assert_eq!(after["addresses"][0]["locality"], "Bellevue");

    // A cycle with nothing new to say still gets 200, and changes nothing.
    let again = patch_user(
        &c,
        &id,
        json!([{"op": "Replace", "path": "displayName", "value": "Pvlo"}]),
    )
    .await;
    assert_eq!(again, after);
}

#[tokio::test]
async fn add_on_a_filtered_path_with_no_such_element_creates_it() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    // A user Entra created before `mail` and `mobile` were set: no emails, no phones.
    let id = create(
        &c,
        &json!({"schemas": [USER], "userName": "joe@contoso.com", "externalId": "joe",
                "active": true, "displayName": "Joe"}),
    )
    .await;

    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "joe@contoso.com"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 425 555 0110"}
        ]),
    )
    .await;
    assert_eq!(
        after["emails"],
        json!([{"type": "work", "value": "joe@contoso.com"}])
    );
    assert_eq!(
        after["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 425 555 0110"}])
    );

    // A second Add of another type appends; the same Add again is idempotent.
    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 425 555 0109"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 425 555 0110"},
            {"op": "Add", "path": "emails[type eq \"work\"].primary", "value": "True"}
        ]),
    )
    .await;
    assert_eq!(
        after["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 425 555 0110"},
               {"type": "work", "value": "+1 425 555 0109"}])
    );
    assert_eq!(
        after["emails"],
        json!([{"type": "work", "value": "joe@contoso.com", "primary": true}])
    );

    // The new work e-mail is filterable, as Entra's alternative matching attribute.
    found_one(
        &lookup(
            &c,
            "Users",
            "emails[type eq \"work\"].value eq \"joe@contoso.com\"",
            "",
        )
        .await,
        &after,
    );
}

#[tokio::test]
async fn flagged_job_patches_path_less_with_dotted_keys() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = create(&c, &adele()).await;
    let before = read(&c, &format!("/Users/{id}")).await;

    // §5.4 E, verbatim: lowercase ops, a filtered path as its own op, then one path-less
    // replace whose keys are attribute paths.
    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "TestMhvaes@test.microsoft.com"},
            {"op": "replace", "value": {"displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"}}
        ]),
    )
    .await;
    let mut want = before.body.clone();
    want["emails"][0]["value"] = json!("TestMhvaes@test.microsoft.com");
    want["displayName"] = json!("Bjfe");
    want["name"] = json!({"formatted": "Adele Vance", "familyName": "Unua", "givenName": "Kkom"});
    want[ENTERPRISE]["employeeNumber"] = json!("Aklq");
    want["meta"] = after["meta"].clone();
    assert_eq!(after, want, "dotted keys are paths, never literal keys");

    // Path-less replaces also carry userName, externalId and active (validator "Update
    // User userName"); the flagged disable is a real boolean.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "replace", "value": {"userName": "adele.vance@contoso.com", "externalId": "adele"}}]),
    )
    .await;
    assert_eq!(after["userName"], "adele.vance@contoso.com");
    assert_eq!(after["externalId"], "adele");
    found_one(
        &lookup(&c, "Users", "userName eq \"adele.vance@contoso.com\"", "").await,
        &after,
    );
    assert_eq!(
        lookup(
            &c,
            "Users",
            "userName eq \"AdeleV@contoso.onmicrosoft.com\"",
            ""
        )
        .await
        .body,
        empty_list(),
        "the old userName no longer matches"
    );

    let after = patch_user(
        &c,
        &id,
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    assert_eq!(after["active"], false);
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "add", "path": "nickName", "value": "Babs"}]),
    )
    .await;
    assert_eq!(after["nickName"], "Babs");
    assert_eq!(after["active"], false, "other attributes are untouched");

    // The old userName is free again: a create with it is not a conflict.
    let mut other = adele();
    other["externalId"] = json!("AdeleV2");
    create(&c, &other).await;
}

#[tokio::test]
async fn disable_and_re_enable_with_string_booleans() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = create(&c, &adele()).await;
    let u = c.create_user("other@contoso.com").await;
    let g = c.create_group("Retail", &[&id, &u]).await;

    // §5.5, the default job: `"False"` as a string.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    assert_eq!(
        after["active"],
        json!(false),
        "a JSON boolean, not a string"
    );

    // A disabled user is still returned by GET and by every lookup, with `active: false`,
    // so Entra never re-creates it (§12.14).
    for filter in [
        "userName eq \"AdeleV@contoso.onmicrosoft.com\"",
        "userName eq \"adelev@contoso.onmicrosoft.com\"",
        "externalId eq \"AdeleV\"",
    ] {
        found_one(&lookup(&c, "Users", filter, "").await, &after);
    }
    assert_eq!(c.get("/Users").await.body["totalResults"], 2);
    // It keeps its memberships (dynamic groups are not re-sent on restore).
    assert_eq!(
        member_ids(&read(&c, &format!("/Groups/{g}")).await.body),
        sorted(&[&id, &u])
    );
    // A create of the same userName is still a conflict.
    c.post("/Users", &adele())
        .await
        .assert_error(409, Some("uniqueness"));

    // Re-enable; then `"false"` in lower case (seen in issue threads) disables again.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .await;
    assert_eq!(after["active"], json!(true));
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "false"}]),
    )
    .await;
    assert_eq!(after["active"], json!(false));

    // A string attribute is never coerced: a displayName of "True" stays a string.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Replace", "path": "displayName", "value": "True"}]),
    )
    .await;
    assert_eq!(after["displayName"], json!("True"));
    // A non-boolean string for a boolean is a 400, not a stored string.
    let r = c
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "Yes"}]),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert_eq!(
        read(&c, &format!("/Users/{id}")).await.body["active"],
        false
    );
}

#[tokio::test]
async fn manager_is_set_changed_and_cleared_in_every_shape() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = create(&c, &adele()).await;
    let boss = c.create_user("boss@contoso.com").await;
    let boss2 = c.create_user("boss2@contoso.com").await;
    let manager = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    let enterprise = |mgr: Value| {
        let mut e = json!({"employeeNumber": "100101", "department": "Retail"});
        if !mgr.is_null() {
            e["manager"] = mgr;
        }
        e
    };

    // §5.4 D, the default job: `Add` with a bare id. Read back as `{"value": …}` (a string
    // would be a deserialisation error in Entra, §5.3).
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Add", "path": manager, "value": boss}]),
    )
    .await;
    assert_eq!(after[ENTERPRISE], enterprise(json!({"value": boss})));
    // The same Add next cycle changes nothing.
    let again = patch_user(
        &c,
        &id,
        json!([{"op": "Add", "path": manager, "value": boss}]),
    )
    .await;
    assert_eq!(again, after);

    // Changed with Replace and a bare id, then in the validator's object form.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Replace", "path": manager, "value": boss2}]),
    )
    .await;
    assert_eq!(after[ENTERPRISE], enterprise(json!({"value": boss2})));
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "replace", "path": manager, "value": {"value": boss}}]),
    )
    .await;
    assert_eq!(after[ENTERPRISE], enterprise(json!({"value": boss})));

    // Cleared with `""` (validator / SCIM_Update_Manager_Test).
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "replace", "path": manager, "value": ""}]),
    )
    .await;
    assert_eq!(after[ENTERPRISE], enterprise(Value::Null));

    // Learn "Example 5": the short path and a one-element array with `$ref`.
    let reference = format!("{}/Users/{boss2}", c.base);
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Add", "path": "manager", "value": [{"$ref": reference, "value": boss2}]}]),
    )
    .await;
    assert_eq!(
        after[ENTERPRISE],
        enterprise(json!({"$ref": reference, "value": boss2}))
    );

    // Cleared with `{"value": ""}`.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "replace", "path": manager, "value": {"value": ""}}]),
    )
    .await;
    assert_eq!(after[ENTERPRISE], enterprise(Value::Null));

    // Removed by the URN path (validator "Remove Manager").
    patch_user(
        &c,
        &id,
        json!([{"op": "Add", "path": manager, "value": boss}]),
    )
    .await;
    let after = patch_user(&c, &id, json!([{"op": "remove", "path": manager}])).await;
    assert_eq!(after[ENTERPRISE], enterprise(Value::Null));

    // Removed by a value filter (with the flag, scim-patch#453); a filter naming another
    // manager leaves it alone.
    patch_user(
        &c,
        &id,
        json!([{"op": "Add", "path": manager, "value": boss}]),
    )
    .await;
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "remove", "path": format!("manager[value eq \"{boss2}\"]")}]),
    )
    .await;
    assert_eq!(after[ENTERPRISE], enterprise(json!({"value": boss})));
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "remove", "path": format!("manager[value eq \"{boss}\"]")}]),
    )
    .await;
    assert_eq!(after[ENTERPRISE], enterprise(Value::Null));
    // Removing a manager that is not there is fine (Entra retries).
    let again = patch_user(&c, &id, json!([{"op": "Remove", "path": manager}])).await;
    assert_eq!(again, after);

    // Microsoft's Postman suite capitalises attribute names.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Add", "path": ENTERPRISE, "value": {"Manager": {"Value": boss2}}}]),
    )
    .await;
    assert_eq!(after[ENTERPRISE], enterprise(json!({"value": boss2})));
}

#[tokio::test]
async fn app_roles_are_stored_as_sent() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = create(&c, &adele()).await;

    // §5.4 F: the role arrives as a JSON string inside `value`; it is a string attribute and
    // comes back byte for byte.
    let role =
        r#"{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"25","displayName":"Role1234"}"#;
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Add", "path": "roles", "value": [{"value": role}]}]),
    )
    .await;
    assert_eq!(after["roles"], json!([{"value": role}]));

    // AssertiveAppRoleAssignmentsComplex replaces the whole list.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "replace", "path": "roles", "value": [
            {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"}]}]),
    )
    .await;
    assert_eq!(
        after["roles"],
        json!([{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"}])
    );
    // The same replace again is a no-op.
    let again = patch_user(
        &c,
        &id,
        json!([{"op": "Replace", "path": "roles", "value": [
            {"primary": "False", "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"}]}]),
    )
    .await;
    assert_eq!(again, after);
}

#[tokio::test]
async fn clearing_optional_attributes_with_empty_and_null_values() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = create(&c, &adele()).await;

    // The 2026 kit's SCIM_Null_Update_Test: `""` then `null`; GET shows them absent.
    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "replace", "path": "title", "value": ""},
            {"op": "replace", "path": "preferredLanguage", "value": ""},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": ""}
        ]),
    )
    .await;
    // The kit accepts "empty or absent"; Roster keeps an empty string as the value sent.
    let empty_or_absent = |v: &Value| v.is_null() || v == "";
    for gone in ["title", "preferredLanguage"] {
        assert!(empty_or_absent(&after[gone]), "{gone} still in {after}");
    }
    assert!(empty_or_absent(&after[ENTERPRISE]["department"]), "{after}");
    assert_eq!(after[ENTERPRISE]["employeeNumber"], "100101");

    let after = patch_user(
        &c,
        &id,
        json!([
            {"op": "replace", "path": "title", "value": null},
            {"op": "replace", "path": "preferredLanguage", "value": null},
            {"op": "replace", "path": "displayName", "value": null},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": null},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": null}
        ]),
    )
    .await;
    for gone in ["title", "preferredLanguage", "displayName"] {
        assert!(after.get(gone).is_none(), "{gone} still in {after}");
    }
    assert!(
        after.get(ENTERPRISE).is_none(),
        "an empty extension is dropped: {after}"
    );
    assert_eq!(after["schemas"], json!([USER]));

    // Required attributes are not removable; the request changes nothing.
    let r = c
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "nickName", "value": "x"},
                   {"op": "remove", "path": "userName"}]),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(
        read(&c, &format!("/Users/{id}"))
            .await
            .body
            .get("nickName")
            .is_none()
    );
}

#[tokio::test]
async fn delete_is_204_then_404_everywhere() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = create(&c, &adele()).await;
    let other = c.create_user("other@contoso.com").await;
    let g = c.create_group("Retail", &[&id, &other]).await;
    let path = format!("/Users/{id}");

    // §5.6: hard delete, 30 days after the soft delete.
    patch_user(
        &c,
        &id,
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    let r = c.delete(&path).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty(), "{}", r.text);

    c.get(&path).await.assert_error(404, None);
    c.delete(&path).await.assert_error(404, None);
    c.patch_ops(
        &path,
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    )
    .await
    .assert_error(404, None);
    assert_eq!(
        lookup(
            &c,
            "Users",
            "userName eq \"AdeleV@contoso.onmicrosoft.com\"",
            ""
        )
        .await
        .body,
        empty_list()
    );
    // It left its group; the other member stayed.
    assert_eq!(
        member_ids(&read(&c, &format!("/Groups/{g}")).await.body),
        [other]
    );
    // Re-assigned later: created afresh, with a new id.
    let again = create(&c, &adele()).await;
    assert_ne!(again, id);
}

// ---- §6 groups -----------------------------------------------------------------------------

#[tokio::test]
async fn group_lifecycle_as_the_default_job_sends_it() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let a = create(&c, &adele()).await;
    let b = c.create_user("b@contoso.com").await;
    let d = c.create_user("d@contoso.com").await;

    // §6.1 lookup misses, §6.2 create with the Learn body (MS schema URI, `meta`).
    let lookup_sales = |c: Conn| async move {
        lookup(
            &c,
            "Groups",
            "displayName eq \"Sales\"",
            "excludedAttributes=members&",
        )
        .await
    };
    assert_eq!(lookup_sales(c.clone()).await.body, empty_list());
    let r = c
        .post(
            "/Groups",
            &json!({"schemas": [GROUP, MS_GROUP],
                    "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                    "displayName": "Sales", "meta": {"resourceType": "Group"}}),
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
        json!({"schemas": [GROUP], "id": g,
               "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
               "displayName": "Sales", "members": []})
    );

    // What Entra reads: never the members.
    let excluded = read(&c, &format!("{path}?excludedAttributes=members")).await;
    assert_eq!(
        without_meta(&excluded, "Group", &location),
        json!({"schemas": [GROUP], "id": g,
               "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Sales"})
    );
    found_one(&lookup_sales(c.clone()).await, &excluded.body);
    // Case-insensitive, as the validator checks.
    found_one(
        &lookup(
            &c,
            "Groups",
            "displayName eq \"SALES\"",
            "excludedAttributes=members&",
        )
        .await,
        &excluded.body,
    );
    // A duplicate create is 409.
    c.post(
        "/Groups",
        &json!({"schemas": [GROUP, MS_GROUP], "externalId": "other", "displayName": "sales"}),
    )
    .await
    .assert_error(409, Some("uniqueness"));

    // §6.4 add, default job: `Add`, `$ref: null`, several members in one op.
    patch_group(
        &c,
        &g,
        json!([{"op": "Add", "path": "members",
                "value": [{"$ref": null, "value": a}, {"$ref": null, "value": b}]}]),
    )
    .await;
    let full = read(&c, &path).await;
    assert_eq!(member_ids(&full.body), sorted(&[&a, &b]));
    // Members come back with the server's `$ref`.
    for m in full.body["members"].as_array().unwrap() {
        let v = m["value"].as_str().unwrap();
        assert_eq!(m["$ref"], format!("{}/Users/{v}", c.base), "{m}");
    }
    // Excluding members still hides them after they exist, on GET and on the lookup.
    let excluded = read(&c, &format!("{path}?excludedAttributes=members")).await;
    assert!(excluded.body.get("members").is_none(), "{}", excluded.text);
    found_one(&lookup_sales(c.clone()).await, &excluded.body);
    // Each user's read-only `groups` names the group.
    let user = read(&c, &format!("/Users/{a}")).await;
    assert_eq!(user.body["groups"][0]["value"], g.as_str());
    assert_eq!(user.body["groups"][0]["display"], "Sales");

    // Entra re-sends adds after a restart: no duplicates, still 204.
    patch_group(
        &c,
        &g,
        json!([{"op": "Add", "path": "members",
                "value": [{"$ref": null, "value": a}, {"$ref": null, "value": d}]}]),
    )
    .await;
    let full = read(&c, &path).await;
    assert_eq!(member_ids(&full.body), sorted(&[&a, &b, &d]));
    assert_eq!(full.body["members"].as_array().unwrap().len(), 3);

    // §6.5 remove, default job: a value array removes exactly those listed.
    patch_group(
        &c,
        &g,
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": a}]}]),
    )
    .await;
    assert_eq!(member_ids(&read(&c, &path).await.body), sorted(&[&b, &d]));
    // A multi-member remove, one of them not a member (a no-op, not an error).
    patch_group(
        &c,
        &g,
        json!([{"op": "Remove", "path": "members",
                "value": [{"$ref": null, "value": b}, {"$ref": null, "value": a}]}]),
    )
    .await;
    assert_eq!(member_ids(&read(&c, &path).await.body), [d.as_str()]);

    // §6.6 rename, default job.
    patch_group(
        &c,
        &g,
        json!([{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}]),
    )
    .await;
    let renamed = read(&c, &path).await;
    assert_eq!(renamed.body["displayName"], "Sales EMEA");
    assert_eq!(
        member_ids(&renamed.body),
        [d.as_str()],
        "a rename keeps members"
    );
    assert_eq!(lookup_sales(c.clone()).await.body, empty_list());
    found_one(
        &lookup(
            &c,
            "Groups",
            "displayName eq \"Sales EMEA\"",
            "excludedAttributes=members&",
        )
        .await,
        &read(&c, &format!("{path}?excludedAttributes=members"))
            .await
            .body,
    );
    // The old name is free again.
    let other = c.create_group("Sales", &[]).await;
    // Renaming onto a taken name is 409, and changes nothing.
    c.patch_ops(
        &path,
        json!([{"op": "Replace", "path": "displayName", "value": "sales"}]),
    )
    .await
    .assert_error(409, Some("uniqueness"));
    assert_eq!(read(&c, &path).await.body["displayName"], "Sales EMEA");

    // §6.7 delete: 204, then 404 for GET, PATCH and DELETE; its members stay users.
    let r = c.delete(&path).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    c.get(&path).await.assert_error(404, None);
    c.get(&format!("{path}?excludedAttributes=members"))
        .await
        .assert_error(404, None);
    c.patch_ops(
        &path,
        json!([{"op": "Add", "path": "members", "value": [{"value": d}]}]),
    )
    .await
    .assert_error(404, None);
    c.delete(&path).await.assert_error(404, None);
    let user = read(&c, &format!("/Users/{d}")).await;
    assert!(user.body.get("groups").is_none(), "{}", user.text);
    c.delete(&format!("/Groups/{other}")).await;
}

#[tokio::test]
async fn group_membership_as_the_flagged_job_sends_it() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let a = c.create_user("a@contoso.com").await;
    let b = c.create_user("b@contoso.com").await;
    let g = c
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "externalId": "0db508eb-91e2-46e4-809c-30dcbda0c685",
                    "displayName": "Engineering"}),
        )
        .await
        .id();
    let path = format!("/Groups/{g}");

    // §6.4 with the flag: lowercase, `$ref` omitted; several ops in one request.
    patch_group(
        &c,
        &g,
        json!([{"op": "add", "path": "members", "value": [{"value": a}]},
               {"op": "add", "path": "members", "value": [{"value": b}]}]),
    )
    .await;
    assert_eq!(member_ids(&read(&c, &path).await.body), sorted(&[&a, &b]));

    // §6.5 with the flag: the RFC form.
    patch_group(
        &c,
        &g,
        json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
    )
    .await;
    assert_eq!(member_ids(&read(&c, &path).await.body), [b.as_str()]);
    // Removing someone who is not a member: 204, nothing changes.
    patch_group(
        &c,
        &g,
        json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]),
    )
    .await;
    assert_eq!(member_ids(&read(&c, &path).await.body), [b.as_str()]);

    // The validator's path-less replaces: externalId, then displayName; neither touches
    // membership (§6.6, langwatch#7131).
    patch_group(
        &c,
        &g,
        json!([{"op": "replace", "value": {"externalId": "663fa3a8-5f3e-4f8e-9a1b-1c2d3e4f5a6b"}}]),
    )
    .await;
    patch_group(
        &c,
        &g,
        json!([{"op": "replace", "value": {"displayName": "Engineering EMEA"}}]),
    )
    .await;
    let got = read(&c, &path).await;
    assert_eq!(
        got.body["externalId"],
        "663fa3a8-5f3e-4f8e-9a1b-1c2d3e4f5a6b"
    );
    assert_eq!(got.body["displayName"], "Engineering EMEA");
    assert_eq!(member_ids(&got.body), [b.as_str()]);
    found_one(
        &lookup(
            &c,
            "Groups",
            "externalId eq \"663fa3a8-5f3e-4f8e-9a1b-1c2d3e4f5a6b\"",
            "excludedAttributes=members&",
        )
        .await,
        &read(&c, &format!("{path}?excludedAttributes=members"))
            .await
            .body,
    );
}

#[tokio::test]
async fn group_member_edge_cases() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let a = c.create_user("a@contoso.com").await;
    let b = c.create_user("b@contoso.com").await;
    let x = c.create_user("x@contoso.com").await;
    let g = c.create_group("Edge", &[&a]).await;
    let path = format!("/Groups/{g}");
    let version = |r: &Reply| r.body["meta"]["version"].clone();

    // The validator's "Multiple Ops on same attribute": add X, then remove X: X is absent.
    patch_group(
        &c,
        &g,
        json!([{"op": "add", "path": "members", "value": [{"value": x}]},
               {"op": "remove", "path": format!("members[value eq \"{x}\"]")}]),
    )
    .await;
    assert_eq!(member_ids(&read(&c, &path).await.body), [a.as_str()]);
    // And remove then add leaves it present.
    patch_group(
        &c,
        &g,
        json!([{"op": "Remove", "path": "members", "value": [{"value": a}]},
               {"op": "Add", "path": "members", "value": [{"value": a}]}]),
    )
    .await;
    assert_eq!(member_ids(&read(&c, &path).await.body), [a.as_str()]);

    // An unknown member id (a nested group, an out-of-scope user) is a 4xx naming it, never
    // a 5xx; and the request is atomic: neither the known member nor the rename is applied.
    let before = read(&c, &path).await;
    for ops in [
        json!([{"op": "Add", "path": "members",
                "value": [{"$ref": null, "value": b}, {"$ref": null, "value": "ghost-7f4bc1a3"}]}]),
        json!([{"op": "replace", "path": "displayName", "value": "Renamed"},
               {"op": "add", "path": "members", "value": [{"value": "ghost-7f4bc1a3"}]}]),
        json!([{"op": "replace", "path": "members",
                "value": [{"value": b}, {"value": "ghost-7f4bc1a3"}]}]),
    ] {
        let r = c.patch_ops(&path, ops.clone()).await;
        assert!(
            (400..500).contains(&r.status),
            "{ops}: {} {}",
            r.status,
            r.text
        );
        r.assert_error(r.status, r.body["scimType"].as_str());
        assert!(r.text.contains("ghost-7f4bc1a3"), "{}", r.text);
        let after = read(&c, &path).await;
        assert_eq!(after.body, before.body, "{ops} was partly applied");
        assert_eq!(version(&after), version(&before));
    }
    // A group as a member id of another connector's user is unknown too.
    let other = server.connector("okta").await;
    let foreign = other.create_user("foreign@okta.test").await;
    let r = c
        .patch_ops(
            &path,
            json!([{"op": "add", "path": "members", "value": [{"value": foreign}]}]),
        )
        .await;
    assert!((400..500).contains(&r.status), "{}", r.text);
    assert!(r.text.contains(&foreign), "{}", r.text);

    // `remove path=members` with no value empties the group (RFC; Postman "remove all").
    patch_group(&c, &g, json!([{"op": "remove", "path": "members"}])).await;
    assert!(member_ids(&read(&c, &path).await.body).is_empty());
    // Several members in one op, then the validator's setup: replace the whole list.
    patch_group(
        &c,
        &g,
        json!([{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}, {"value": x}]}]),
    )
    .await;
    assert_eq!(
        member_ids(&read(&c, &path).await.body),
        sorted(&[&a, &b, &x])
    );
    patch_group(
        &c,
        &g,
        json!([{"op": "replace", "path": "members", "value": [{"value": b}]}]),
    )
    .await;
    assert_eq!(member_ids(&read(&c, &path).await.body), [b.as_str()]);

    // An empty Operations array: 400 or 204, never 500 (scimmy#59).
    let r = c.patch_ops(&path, json!([])).await;
    assert!(
        r.status == 400 || r.status == 204,
        "{} {}",
        r.status,
        r.text
    );
    if r.status == 400 {
        r.assert_error(400, r.body["scimType"].as_str());
    }
    assert_eq!(member_ids(&read(&c, &path).await.body), [b.as_str()]);
}

#[tokio::test]
async fn lookups_in_the_other_documented_shapes() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let boss = c.create_user("boss@contoso.com").await;
    let id = create(
        &c,
        &json!({"schemas": [USER], "userName": "jyoung@contoso.com", "externalId": "jyoung",
                "active": true}),
    )
    .await;
    let user = patch_user(
        &c,
        &id,
        json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": boss}]),
    )
    .await;

    // An old doc sample's unquoted value.
    found_one(&c.get("/Users?filter=externalId+eq+jyoung").await, &user);
    // Attribute names in any case.
    found_one(
        &lookup(&c, "Users", "UserName eq \"JYOUNG@contoso.com\"", "").await,
        &user,
    );

    // The legacy reference check: `id eq … and manager eq …` with `attributes=id`.
    for manager in [
        "manager",
        "manager.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    ] {
        let r = lookup(
            &c,
            "Users",
            &format!("id eq \"{id}\" and {manager} eq \"{boss}\""),
            "attributes=id&",
        )
        .await;
        let list = r.resources();
        assert_eq!(list.len(), 1, "{manager}: {}", r.text);
        assert_eq!(list[0]["id"], id.as_str());
        assert!(list[0].get("userName").is_none(), "{}", r.text);
        let r = lookup(
            &c,
            "Users",
            &format!("id eq \"{id}\" and {manager} eq \"someone-else\""),
            "attributes=id&",
        )
        .await;
        assert_eq!(r.body, empty_list(), "{manager}");
    }

    // A group name full of characters that need encoding (Learn's known issue: they make
    // the lookup fail and the group is never synced).
    let name = "Sales & Marketing \"EMEA\" (50%) / R+D #1";
    let r = c
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "externalId": "g-special", "displayName": name}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let g = r.id();
    let escaped = name.replace('"', "\\\"");
    let excluded = read(&c, &format!("/Groups/{g}?excludedAttributes=members")).await;
    found_one(
        &lookup(
            &c,
            "Groups",
            &format!("displayName eq \"{escaped}\""),
            "excludedAttributes=members&",
        )
        .await,
        &excluded.body,
    );
    // The validator's `+` for spaces, and a literal `+` as `%2B`.
    found_one(
        &c.get("/Groups?excludedAttributes=members&filter=displayName+eq+%22Sales+%26+Marketing+%5C%22EMEA%5C%22+(50%25)+%2F+R%2BD+%231%22")
            .await,
        &excluded.body,
    );
}

#[tokio::test]
async fn custom_extension_attributes_round_trip() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let custom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";

    // §5.2: a custom attribute at the top level of the body, its URN missing from `schemas`.
    let mut body = adele();
    body[format!("{custom}:CustomAttribute")] = json!("Value A");
    let r = c.post("/Users", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.id();
    assert_eq!(r.body[custom], json!({"CustomAttribute": "Value A"}));
    assert_eq!(r.body["schemas"], json!([USER, ENTERPRISE, custom]));

    // Changed by its URN path (default job), by a path-less replace (flag), and added to.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Replace", "path": format!("{custom}:CustomAttribute"), "value": "Value B"},
               {"op": "Add", "path": format!("{custom}:Other"), "value": "X"}]),
    )
    .await;
    assert_eq!(
        after[custom],
        json!({"CustomAttribute": "Value B", "Other": "X"})
    );
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "replace", "value": {format!("{custom}:CustomAttribute"): "Value C"}}]),
    )
    .await;
    assert_eq!(
        after[custom],
        json!({"CustomAttribute": "Value C", "Other": "X"})
    );
    // Removing the last custom attribute drops the extension and its schema URI.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Remove", "path": format!("{custom}:CustomAttribute")},
               {"op": "Remove", "path": format!("{custom}:Other")}]),
    )
    .await;
    assert!(after.get(custom).is_none(), "{after}");
    assert_eq!(after["schemas"], json!([USER, ENTERPRISE]));
}

// ---- §8, §12.19: parallel jobs and retries --------------------------------------------------

#[tokio::test]
async fn parallel_requests_neither_duplicate_nor_lose_anything() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;

    // A create retried after a timeout, racing itself: one 201, the rest 409, never a 500.
    let posts = (0..8).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.post("/Users", &adele()).await })
    });
    let mut statuses = Vec::new();
    for p in posts {
        let r = p.await.unwrap();
        if r.status != 201 {
            r.assert_error(409, Some("uniqueness"));
        }
        statuses.push(r.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    let posts = (0..8).map(|_| {
        let c = c.clone();
        tokio::spawn(async move {
            c.post(
                "/Groups",
                &json!({"schemas": [GROUP], "displayName": "Race"}),
            )
            .await
        })
    });
    let mut created = 0;
    for p in posts {
        let r = p.await.unwrap();
        if r.status == 201 {
            created += 1;
        } else {
            r.assert_error(409, Some("uniqueness"));
        }
    }
    assert_eq!(created, 1);
    let g = lookup(&c, "Groups", "displayName eq \"Race\"", "")
        .await
        .resources()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Member adds for one group arriving in parallel (several jobs, or one job's batches):
    // every one lands, and a member added twice at once is there once.
    let mut users = Vec::new();
    for i in 0..10 {
        users.push(c.create_user(&format!("racer{i}@contoso.com")).await);
    }
    let adds = users.iter().chain(users.iter().take(3)).map(|u| {
        let (c, g, u) = (c.clone(), g.clone(), u.clone());
        tokio::spawn(async move {
            c.patch_ops(
                &format!("/Groups/{g}"),
                json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": u}]}]),
            )
            .await
        })
    });
    for a in adds {
        let r = a.await.unwrap();
        assert_eq!(r.status, 204, "{}", r.text);
    }
    let got = read(&c, &format!("/Groups/{g}")).await;
    let want: Vec<&str> = users.iter().map(String::as_str).collect();
    assert_eq!(member_ids(&got.body), sorted(&want));

    // PATCHes of different attributes of one user in parallel: none is lost.
    let id = lookup(
        &c,
        "Users",
        "userName eq \"AdeleV@contoso.onmicrosoft.com\"",
        "",
    )
    .await
    .resources()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ops = [
        json!({"op": "Replace", "path": "displayName", "value": "P1"}),
        json!({"op": "Replace", "path": "title", "value": "P2"}),
        json!({"op": "Add", "path": "nickName", "value": "P3"}),
        json!({"op": "Replace", "path": "name.givenName", "value": "P4"}),
        json!({"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "P5"}),
        json!({"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "P6"}),
    ];
    let patches = ops.iter().map(|op| {
        let (c, id, op) = (c.clone(), id.clone(), op.clone());
        tokio::spawn(async move { c.patch_ops(&format!("/Users/{id}"), json!([op])).await })
    });
    for p in patches {
        let r = p.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let u = read(&c, &format!("/Users/{id}")).await.body;
    assert_eq!(
        (
            &u["displayName"],
            &u["title"],
            &u["nickName"],
            &u["name"]["givenName"],
            &u[ENTERPRISE]["department"],
            &u["phoneNumbers"][1]["value"],
        ),
        (
            &json!("P1"),
            &json!("P2"),
            &json!("P3"),
            &json!("P4"),
            &json!("P5"),
            &json!("P6")
        )
    );
    assert_eq!(
        u["meta"]["version"], "W/\"7\"",
        "six writes after the create"
    );
}

#[tokio::test]
async fn a_case_only_rename_is_not_a_conflict_with_itself() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = create(&c, &adele()).await;
    let g = c.create_group("Sales", &[&id]).await;

    // A UPN whose case changes in Entra is re-sent as a userName replace; the user holds
    // that name, so there is nothing to conflict with.
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "Replace", "path": "userName", "value": "adelev@contoso.onmicrosoft.com"}]),
    )
    .await;
    assert_eq!(after["userName"], "adelev@contoso.onmicrosoft.com");
    let after = patch_user(
        &c,
        &id,
        json!([{"op": "replace", "value": {"userName": "ADELEV@contoso.onmicrosoft.com"}}]),
    )
    .await;
    assert_eq!(
        after["userName"], "ADELEV@contoso.onmicrosoft.com",
        "stored as sent"
    );
    found_one(
        &lookup(
            &c,
            "Users",
            "userName eq \"AdeleV@contoso.onmicrosoft.com\"",
            "",
        )
        .await,
        &after,
    );

    // The same for a group's displayName.
    patch_group(
        &c,
        &g,
        json!([{"op": "Replace", "path": "displayName", "value": "SALES"}]),
    )
    .await;
    let got = read(&c, &format!("/Groups/{g}?excludedAttributes=members")).await;
    assert_eq!(got.body["displayName"], "SALES");
    found_one(
        &lookup(
            &c,
            "Groups",
            "displayName eq \"sales\"",
            "excludedAttributes=members&",
        )
        .await,
        &got.body,
    );
}
