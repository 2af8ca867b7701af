//! List queries end to end: the query string or `.search` body an IdP sends, the projection
//! it asks for, and the ListResponse it gets back.

use scim::message::{ListResponse, SearchRequest};
use scim::query::{ListQuery, Paging, QueryLimits};
use scim::schema::ResourceSchema;
use serde_json::{Value, json};

use crate::assert_no_nulls;

fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
    query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn tour_guides() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            {
                "value": "2819c223-7f76-453a-919d-413861904646",
                "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
                "display": "Babs Jensen"
            }
        ],
        "meta": {
            "resourceType": "Group",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff592\"",
            "location": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a"
        }
    })
}

/// Entra ID's group lookup: `GET /Groups?excludedAttributes=members&filter=displayName eq "…"`,
/// with the `aadOptscim062020` flag from the tenant URL.
#[test]
fn entra_group_lookup_snapshot() {
    let schema = ResourceSchema::group();
    let query = ListQuery::from_pairs(
        pairs(&[
            ("aadOptscim062020", ""),
            ("excludedAttributes", "members"),
            ("filter", "displayName eq \"Tour Guides\""),
        ]),
        &QueryLimits::default(),
    )
    .unwrap();
    query.validate(&schema).unwrap();
    assert!(
        !query
            .projection
            .includes(&scim::path::AttrPath::attr("members"), &schema)
    );

    let group = tour_guides();
    assert!(query.filter.as_ref().unwrap().matches(&group, &schema));
    let page = ListResponse::index(vec![query.projection.apply(&group, &schema)], 1, 1);
    let json = page.to_json();
    assert_no_nulls(&json, "ListResponse");
    insta::assert_json_snapshot!(json);
}

/// Entra's Test Connection: a filter that matches nothing is a 200 with an empty list.
#[test]
fn no_match_is_an_empty_list_response_snapshot() {
    let query = ListQuery::from_pairs(
        pairs(&[(
            "filter",
            "userName eq \"ee7a7d52-0f2c-4c6c-8d9b-3a7e1a4c5f10\"",
        )]),
        &QueryLimits::default(),
    )
    .unwrap();
    let Paging::Index { start_index, .. } = query.paging else {
        panic!("index paging expected");
    };
    insta::assert_json_snapshot!(ListResponse::index(Vec::new(), 0, start_index));
}

/// The gallery's pagination test: `startIndex=page*5+1&count=5`, with `startIndex` echoed.
#[test]
fn pages_echo_start_index_and_count_items() {
    let users: Vec<Value> = (1..=11)
        .map(|i| json!({"id": format!("u{i}"), "userName": format!("user{i}"), "password": "x"}))
        .collect();
    let schema = ResourceSchema::user();
    for (start, expected) in [(1, 5), (6, 5), (11, 1)] {
        let query = ListQuery::from_pairs(
            pairs(&[("startIndex", &start.to_string()), ("count", "5")]),
            &QueryLimits::default(),
        )
        .unwrap();
        let Paging::Index { start_index, count } = query.paging else {
            panic!("index paging expected");
        };
        let page: Vec<Value> = users
            .iter()
            .skip(usize::try_from(start_index - 1).unwrap())
            .take(usize::try_from(count).unwrap())
            .map(|u| query.projection.apply(u, &schema))
            .collect();
        let json = ListResponse::index(page, users.len() as u64, start_index).to_json();
        assert_eq!(json["startIndex"], start);
        assert_eq!(json["itemsPerPage"], expected);
        assert_eq!(json["totalResults"], 11);
        for user in json["Resources"].as_array().unwrap() {
            assert!(user.get("password").is_none());
        }
    }
}

#[test]
fn search_request_with_attributes_snapshot() {
    let schema = ResourceSchema::user();
    let request: SearchRequest = serde_json::from_value(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "attributes": ["displayName", "userName", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"],
        "filter": "displayName sw \"smith\"",
        "startIndex": 1,
        "count": 10
    }))
    .unwrap();
    let query = request.into_query(&QueryLimits::default()).unwrap();
    query.validate(&schema).unwrap();
    let user = json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "userName": "bjensen",
        "displayName": "Smith, Barbara",
        "emails": [{"value": "bjensen@example.com", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        },
        "meta": {"resourceType": "User"}
    });
    assert!(query.filter.as_ref().unwrap().matches(&user, &schema));
    let page = ListResponse::index(vec![query.projection.apply(&user, &schema)], 1, 1);
    insta::assert_json_snapshot!(page);
}

#[test]
fn cursor_pages_snapshot() {
    let query = ListQuery::from_pairs(
        pairs(&[("cursor", ""), ("count", "1")]),
        &QueryLimits::default(),
    )
    .unwrap();
    assert_eq!(
        query.paging,
        Paging::Cursor {
            cursor: None,
            count: 1
        }
    );
    let first = ListResponse::cursor(
        vec![json!({"id": "u1", "userName": "alice"})],
        Some(2),
        Some("VZUTiyhEQJ94IR".into()),
        None,
    );
    insta::assert_json_snapshot!(first);
}
