//! `/Users` (RFC 7644 §3.3–§3.6): create, read, list, replace, patch, delete, ETags.

use serde_json::{Value, json};

use crate::common::{TestServer, user};

#[tokio::test]
async fn create_answers_201_with_location_etag_and_the_full_resource() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "AdeleV",
        "userName": "AdeleV@contoso.onmicrosoft.com",
        "active": true,
        "displayName": "Adele Vance",
        "emails": [{"primary": true, "type": "work", "value": "AdeleV@contoso.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Adele Vance", "familyName": "Vance", "givenName": "Adele"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
            {"employeeNumber": "100101", "department": "Retail"},
        "password": "1mz050nq",
        "roles": []
    });
    let r = c.post("/Users", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.assert_scim_json();
    let id = r.id();
    let location = format!("{}/Users/{id}", c.base);
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert_eq!(r.body["meta"]["location"], location.as_str());
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_eq!(r.etag(), r.body["meta"]["version"].as_str().unwrap());
    assert!(r.etag().starts_with("W/\""), "{}", r.etag());
    assert_eq!(r.body["userName"], "AdeleV@contoso.onmicrosoft.com");
    assert_eq!(r.body["externalId"], "AdeleV");
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["name"]["givenName"], "Adele");
    assert_eq!(
        r.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Retail"
    );
    assert!(
        r.body.get("password").is_none(),
        "password echoed: {}",
        r.text
    );

    let got = c.get(&format!("/Users/{id}")).await;
    assert_eq!(got.status, 200, "{}", got.text);
    got.assert_scim_json();
    assert_eq!(got.etag(), r.etag());
    assert_eq!(got.header("location"), Some(location.as_str()));
    assert_eq!(got.body, r.body);
}

#[tokio::test]
async fn okta_style_json_content_type_and_string_booleans_are_accepted() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    let r = c
        .request(reqwest::Method::POST, "/Users")
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({"userName": "okta@x.test", "active": "True"}).to_string());
    let r = crate::common::Reply::from(r).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.assert_scim_json();
    assert_eq!(r.body["active"], true);

    // No Content-Type at all is read as JSON too.
    let r = c
        .request(reqwest::Method::POST, "/Users")
        .body(json!({"userName": "bare@x.test"}).to_string());
    let r = crate::common::Reply::from(r).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn a_duplicate_user_name_is_409_uniqueness_whatever_its_case() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    c.create_user("dup@x.test").await;
    c.post("/Users", &user("DUP@X.TEST"))
        .await
        .assert_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn a_user_without_user_name_is_400() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c.post("/Users", &json!({"displayName": "nobody"})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    r.assert_error(400, r.body["scimType"].as_str());
}

#[tokio::test]
async fn get_of_an_unknown_id_is_404() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    c.get("/Users/010101001010101011001010101011")
        .await
        .assert_error(404, None);
}

#[tokio::test]
async fn list_filters_pages_and_sorts() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    for name in ["carol@x.test", "alice@x.test", "bob@x.test"] {
        c.create_user(name).await;
    }

    let r = c.get("/Users?count=2&startIndex=1").await;
    let page = r.resources();
    assert_eq!(page.len(), 2);
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(r.body["startIndex"], 1);

    let r = c.get("/Users?startIndex=3&count=2").await;
    assert_eq!(r.resources().len(), 1);
    assert_eq!(r.body["startIndex"], 3);

    let r = c.get("/Users?sortBy=userName&sortOrder=descending").await;
    let names: Vec<&str> = r
        .resources()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carol@x.test", "bob@x.test", "alice@x.test"]);

    let r = c
        .get("/Users?filter=userName%20eq%20%22bob%40x.test%22")
        .await;
    assert_eq!(r.resources().len(), 1);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.resources()[0]["userName"], "bob@x.test");
}

#[tokio::test]
async fn plus_encoded_filters_and_unknown_parameters_work() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    c.create_user("adele@contoso.test").await;
    // Entra's validator: `+` for spaces, and the flag from the tenant URL.
    let r = c
        .get("/Users?aadOptscim062020&filter=userName+eq+%22ADELE%40contoso.test%22")
        .await;
    assert_eq!(r.resources().len(), 1, "{}", r.text);
    assert_eq!(r.resources()[0]["userName"], "adele@contoso.test");
}

#[tokio::test]
async fn a_filter_that_matches_nothing_is_an_empty_list_not_404() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let r = c
        .get("/Users?filter=userName+eq+%227b3e0d44-5f2b-4c4e-9a51-0f1f4a2c9e11%22")
        .await;
    assert!(r.resources().is_empty());
    assert_eq!(
        r.body,
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []
        })
    );
}

#[tokio::test]
async fn an_invalid_filter_is_400_invalid_filter() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    c.get("/Users?filter=userName+eq")
        .await
        .assert_error(400, Some("invalidFilter"));
    c.get("/Users?filter=shoeSize+eq+44")
        .await
        .assert_error(400, Some("invalidFilter"));
    c.get("/Users?count=ten")
        .await
        .assert_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn cursor_paging_walks_every_page() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    for i in 0..5 {
        c.create_user(&format!("user{i}@x.test")).await;
    }
    let mut seen = Vec::new();
    let mut path = "/Users?cursor=&count=2".to_owned();
    for _ in 0..5 {
        let r = c.get(&path).await;
        let page = r.resources().clone();
        assert!(r.body.get("startIndex").is_none(), "{}", r.text);
        assert_eq!(r.body["itemsPerPage"], page.len());
        seen.extend(
            page.iter()
                .map(|u| u["userName"].as_str().unwrap().to_owned()),
        );
        match r.body.get("nextCursor").and_then(Value::as_str) {
            Some(next) => path = format!("/Users?count=2&cursor={next}"),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        (0..5)
            .map(|i| format!("user{i}@x.test"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn attributes_and_excluded_attributes_project_gets_and_lists() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = c.create_user("proj@x.test").await;

    let r = c.get(&format!("/Users/{id}?attributes=userName")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert!(keys.iter().any(|k| *k == "userName"), "{keys:?}");
    assert!(keys.iter().any(|k| *k == "id"), "{keys:?}");
    assert!(
        !keys.iter().any(|k| *k == "emails" || *k == "name"),
        "{keys:?}"
    );

    let r = c
        .get("/Users?filter=userName+eq+%22proj%40x.test%22&excludedAttributes=emails,name")
        .await;
    let u = &r.resources()[0];
    assert!(u.get("emails").is_none() && u.get("name").is_none(), "{u}");
    assert_eq!(u["userName"], "proj@x.test");
}

#[tokio::test]
async fn put_replaces_and_ignores_read_only_attributes() {
    let server = TestServer::start().await;
    let c = server.connector("okta").await;
    let created = c.post("/Users", &user("put@x.test")).await;
    let id = created.id();

    // Okta sends back the object as it read it, with `id`, `meta` and `groups`.
    let mut body = created.body.clone();
    body["displayName"] = json!("Renamed Person");
    body["groups"] = json!([]);
    let r = c.put(&format!("/Users/{id}"), &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    assert_eq!(r.body["displayName"], "Renamed Person");
    assert_eq!(r.body["id"], id.as_str());
    assert_ne!(r.etag(), created.etag(), "the version moves on a change");
    assert_eq!(r.etag(), r.body["meta"]["version"].as_str().unwrap());

    let r = c.put("/Users/nope", &user("x@x.test")).await;
    r.assert_error(404, None);
}

#[tokio::test]
async fn patch_answers_200_with_the_full_user_and_etag() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let created = c.post("/Users", &user("patch@x.test")).await;
    let id = created.id();
    let r = c
        .patch_ops(
            &format!("/Users/{id}"),
            json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Replace", "path": "name.givenName", "value": "Gtfd"}
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_scim_json();
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["name"]["givenName"], "Gtfd");
    assert_eq!(r.body["userName"], "patch@x.test");
    assert_eq!(r.etag(), r.body["meta"]["version"].as_str().unwrap());
    assert_ne!(r.etag(), created.etag());

    // A disabled user is still found by GET and by filter.
    let got = c.get(&format!("/Users/{id}")).await;
    assert_eq!(got.body["active"], false);
    let found = c
        .get("/Users?filter=userName+eq+%22patch%40x.test%22")
        .await;
    assert_eq!(found.resources().len(), 1);

    // A bad path is a 400, not a 500.
    let r = c
        .patch_ops(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "emails[type eq]", "value": "x"}]),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    r.assert_scim_json();

    c.patch_ops(
        "/Users/nope",
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await
    .assert_error(404, None);
}

#[tokio::test]
async fn delete_is_204_then_404_and_404_again() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let id = c.create_user("gone@x.test").await;
    let r = c.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    c.get(&format!("/Users/{id}")).await.assert_error(404, None);
    c.delete(&format!("/Users/{id}"))
        .await
        .assert_error(404, None);
}

#[tokio::test]
async fn if_none_match_gives_304_and_if_match_412() {
    let server = TestServer::start().await;
    let c = server.connector("entra").await;
    let created = c.post("/Users", &user("etag@x.test")).await;
    let id = created.id();
    let path = format!("/Users/{id}");
    let etag = created.etag();

    let r = crate::common::Reply::from(
        c.request(reqwest::Method::GET, &path)
            .header("if-none-match", &etag),
    )
    .await;
    assert_eq!(r.status, 304, "{}", r.text);
    assert!(r.text.is_empty());
    assert_eq!(r.etag(), etag);

    let r = crate::common::Reply::from(
        c.request(reqwest::Method::GET, &path)
            .header("if-none-match", "W/\"999\""),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let stale = "W/\"999\"";
    let ops = json!({"schemas": [crate::common::PATCH_OP],
                     "Operations": [{"op": "replace", "path": "displayName", "value": "X"}]});
    let r = crate::common::Reply::from(
        c.request_json(reqwest::Method::PATCH, &path, &ops)
            .header("if-match", stale),
    )
    .await;
    r.assert_error(412, None);
    let r = crate::common::Reply::from(
        c.request_json(reqwest::Method::PUT, &path, &user("etag@x.test"))
            .header("if-match", stale),
    )
    .await;
    r.assert_error(412, None);
    let r = crate::common::Reply::from(
        c.request(reqwest::Method::DELETE, &path)
            .header("if-match", stale),
    )
    .await;
    r.assert_error(412, None);
    // Nothing changed.
    let got = c.get(&path).await;
    assert_eq!(got.etag(), etag);
    assert_eq!(got.body, created.body);

    // The right version goes through.
    let r = crate::common::Reply::from(
        c.request_json(reqwest::Method::PATCH, &path, &ops)
            .header("if-match", &etag),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = crate::common::Reply::from(
        c.request(reqwest::Method::DELETE, &path)
            .header("if-match", r.etag()),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
}
