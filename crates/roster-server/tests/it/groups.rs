//! `/Groups` (RFC 7644 §3.3–§3.6) as Entra ID and Okta drive it: create, lookup without
//! members, member PATCHes answered 204, rename, replace, delete.

use serde_json::{Value, json};

use crate::common::{Reply, TestServer};

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test]
async fn create_answers_201_and_ignores_unknown_schema_uris() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c
        .post(
            "/Groups",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Sales",
                "meta": {"resourceType": "Group"}
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.assert_scim_json();
    let id = r.id();
    let location = format!("{}/Groups/{id}", c.base);
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert_eq!(r.etag(), r.body["meta"]["version"].as_str().unwrap());
    assert_eq!(r.body["displayName"], "Sales");
    assert_eq!(r.body["meta"]["resourceType"], "Group");

    // Group displayName is unique per connector, case-insensitively.
    c.post("/Groups", &json!({"displayName": "SALES"}))
        .await
        .assert_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn members_are_excluded_on_request() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let u = c.create_user("member@x.test").await;
    let g = c.create_group("Sales", &[&u]).await;

    let full = c.get(&format!("/Groups/{g}")).await;
    assert_eq!(full.status, 200, "{}", full.text);
    assert_eq!(member_ids(&full.body), [u.as_str()]);

    let r = c
        .get(&format!("/Groups/{g}?excludedAttributes=members"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("members").is_none(), "{}", r.text);
    assert_eq!(r.body["displayName"], "Sales");

    let r = c
        .get("/Groups?excludedAttributes=members&filter=displayName+eq+%22sales%22")
        .await;
    let list = r.resources();
    assert_eq!(list.len(), 1, "{}", r.text);
    assert!(list[0].get("members").is_none(), "{}", r.text);
    assert_eq!(list[0]["id"], g.as_str());
}

#[tokio::test]
async fn member_patches_answer_204_with_an_etag() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let a = c.create_user("a@x.test").await;
    let b = c.create_user("b@x.test").await;
    let g = c.create_group("Sales", &[]).await;
    let path = format!("/Groups/{g}");
    let before = c.get(&path).await.etag();

    // Entra's default job: capitalised op, `$ref: null`, several members in one op.
    let r = c
        .patch_ops(
            &path,
            json!([{"op": "Add", "path": "members",
                    "value": [{"$ref": null, "value": a}, {"$ref": null, "value": b}]}]),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty(), "{}", r.text);
    let after = r.etag();
    assert_ne!(after, before);
    let got = c.get(&path).await;
    assert_eq!(got.etag(), after);
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(member_ids(&got.body), want);

    // Entra's default remove: a value array, which removes only those listed.
    let r = c
        .patch_ops(
            &path,
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": a}]}]),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(member_ids(&c.get(&path).await.body), [b.as_str()]);

    // The RFC form, as Entra sends it with aadOptscim062020 and as Okta does.
    let r = c
        .patch_ops(
            &path,
            json!([{"op": "remove", "path": format!("members[value eq \"{b}\"]")}]),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(member_ids(&c.get(&path).await.body).is_empty());
}

#[tokio::test]
async fn a_patch_asking_for_attributes_gets_200_and_the_projection() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let u = c.create_user("a@x.test").await;
    let g = c.create_group("Sales", &[&u]).await;
    let ops = json!([{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}]);

    let r = c
        .patch_ops(
            &format!("/Groups/{g}?excludedAttributes=members"),
            ops.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    assert_eq!(r.body["displayName"], "Sales EMEA");
    assert!(r.body.get("members").is_none(), "{}", r.text);
    assert_eq!(r.etag(), r.body["meta"]["version"].as_str().unwrap());

    let r = c
        .patch_ops(
            &format!("/Groups/{g}?attributes=members"),
            json!([{"op": "replace", "value": {"displayName": "Sales"}}]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(member_ids(&r.body), [u]);
    assert!(r.body.get("displayName").is_none(), "{}", r.text);
}

#[tokio::test]
async fn rename_put_and_delete() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    let u = c.create_user("a@x.test").await;
    let g = c.create_group("Test SCIMv2", &[&u]).await;
    let path = format!("/Groups/{g}");

    // Okta's rename carries the read-only id.
    let r = c
        .patch_ops(
            &path,
            json!([{"op": "replace", "value": {"id": g, "displayName": "Renamed"}}]),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let got = c.get(&path).await;
    assert_eq!(got.body["displayName"], "Renamed");
    assert_eq!(
        member_ids(&got.body),
        [u.as_str()],
        "a rename keeps members"
    );

    // PUT replaces; without `members` it keeps them.
    let r = c
        .put(
            &path,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                            "displayName": "Put Name"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    assert_eq!(r.body["displayName"], "Put Name");
    assert_eq!(r.etag(), r.body["meta"]["version"].as_str().unwrap());
    assert_eq!(member_ids(&c.get(&path).await.body), [u]);

    let r = c.delete(&path).await;
    assert_eq!(r.status, 204, "{}", r.text);
    c.get(&path).await.assert_error(404, None);
    c.delete(&path).await.assert_error(404, None);
    c.patch_ops(
        &path,
        json!([{"op": "replace", "path": "displayName", "value": "X"}]),
    )
    .await
    .assert_error(404, None);
}

#[tokio::test]
async fn an_unknown_member_is_a_4xx_naming_it() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c
        .post(
            "/Groups",
            &json!({"displayName": "Ghosts", "members": [{"value": "no-such-user"}]}),
        )
        .await;
    assert!((400..500).contains(&r.status), "{}", r.text);
    r.assert_scim_json();
    assert!(r.text.contains("no-such-user"), "{}", r.text);
}

#[tokio::test]
async fn group_if_match_mismatch_is_412() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let g = c.create_group("Sales", &[]).await;
    let ops = json!({"schemas": [crate::common::PATCH_OP],
                     "Operations": [{"op": "replace", "path": "displayName", "value": "X"}]});
    let r = Reply::from(
        c.request_json(reqwest::Method::PATCH, &format!("/Groups/{g}"), &ops)
            .header("if-match", "W/\"42\""),
    )
    .await;
    r.assert_error(412, None);
    assert_eq!(
        c.get(&format!("/Groups/{g}")).await.body["displayName"],
        "Sales"
    );
}
