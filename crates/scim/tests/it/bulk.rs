//! The bulk examples of RFC 7644 §3.7, run through the public API the way a server would.

use std::collections::HashMap;

use scim::bulk::{
    BulkLimits, BulkMethod, BulkOperationResponse, BulkRequest, BulkResponse, circular_reference,
    execution_order,
};
use serde_json::json;

/// RFC 7644 §3.7.2: a user and a group that has the user as a member, by `bulkId`.
fn rfc_request() -> serde_json::Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "qwerty",
                "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "Alice"
                }
            },
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "ytrewq",
                "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "Tour Guides",
                    "members": [{"type": "User", "value": "bulkId:qwerty"}]
                }
            }
        ]
    })
}

#[test]
fn rfc_7644_bulk_id_example_round_trip() {
    let body = rfc_request();
    let request: BulkRequest = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(serde_json::to_value(&request).unwrap(), body);
    BulkLimits::default().check(&request).unwrap();

    let plan = execution_order(&request.operations).unwrap();
    assert_eq!(plan.order, [0, 1]);
    assert!(plan.circular.is_empty());

    // A toy provider: assigns the ids and versions of the RFC's response.
    let assigned = [
        (
            "qwerty",
            "Users",
            "92b725cd-9465-4e7d-8c16-01f8e146b87a",
            "W/\"4weymrEsh5O6cAEK\"",
        ),
        (
            "ytrewq",
            "Groups",
            "e9e30dba-f08f-4109-8486-d5c6a331660a",
            "W/\"lha5bbazU3fNvfe5\"",
        ),
    ];
    let mut ids = HashMap::new();
    let mut response = BulkResponse::default();
    for i in plan.order {
        let mut op = request.operations[i].clone();
        op.check().unwrap();
        op.resolve(&ids).unwrap();
        let (bulk_id, endpoint, id, version) = assigned[i];
        if i == 1 {
            assert_eq!(
                op.data.as_ref().unwrap()["members"],
                json!([{"type": "User", "value": "92b725cd-9465-4e7d-8c16-01f8e146b87a"}])
            );
        }
        ids.insert(bulk_id.to_owned(), id.to_owned());
        response.operations.push(BulkOperationResponse::success(
            &op,
            201,
            Some(format!("https://example.com/v2/{endpoint}/{id}")),
            Some(version.to_owned()),
        ));
    }

    // RFC 7644 §3.7.3's response to that request.
    let expected = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"],
        "Operations": [
            {
                "location": "https://example.com/v2/Users/92b725cd-9465-4e7d-8c16-01f8e146b87a",
                "method": "POST",
                "bulkId": "qwerty",
                "version": "W/\"4weymrEsh5O6cAEK\"",
                "status": "201"
            },
            {
                "location": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
                "method": "POST",
                "bulkId": "ytrewq",
                "version": "W/\"lha5bbazU3fNvfe5\"",
                "status": "201"
            }
        ]
    });
    assert_eq!(serde_json::to_value(&response).unwrap(), expected);
    let back: BulkResponse = serde_json::from_value(expected).unwrap();
    assert_eq!(back, response);
    insta::assert_json_snapshot!(response);
}

#[test]
fn the_group_may_come_first_in_the_request() {
    let mut body = rfc_request();
    body["Operations"].as_array_mut().unwrap().reverse();
    let request: BulkRequest = serde_json::from_value(body).unwrap();
    assert_eq!(execution_order(&request.operations).unwrap().order, [1, 0]);
}

#[test]
fn rfc_7644_mixed_methods_example_parses() {
    // RFC 7644 §3.7.3, with the PATCH data written as the PatchOp it is meant to be, and
    // methods in the lower case some clients send.
    let request: BulkRequest = serde_json::from_value(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "failOnErrors": 1,
        "Operations": [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "qwerty",
                "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice"}
            },
            {
                "method": "put",
                "path": "/Users/b7c14771-226c-4d05-8860-134711653041",
                "version": "W/\"3694e05e9dff591\"",
                "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "id": "b7c14771-226c-4d05-8860-134711653041",
                    "userName": "Bob"
                }
            },
            {
                "method": "Patch",
                "path": "/Users/5d8d29d3-342c-4b5f-8683-a3cb6763ffcc",
                "version": "W/\"edac3253e2c0ef2\"",
                "data": {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [
                        {"op": "remove", "path": "nickName"},
                        {"op": "replace", "path": "userName", "value": "Dave"}
                    ]
                }
            },
            {
                "method": "DELETE",
                "path": "/Users/e9025315-6bea-44e1-899c-1e07454e468b",
                "version": "W/\"0ee8add0a938e1a\""
            }
        ]
    }))
    .unwrap();
    assert_eq!(request.fail_on_errors, Some(1));
    let methods: Vec<BulkMethod> = request.operations.iter().map(|o| o.method).collect();
    assert_eq!(
        methods,
        [
            BulkMethod::Post,
            BulkMethod::Put,
            BulkMethod::Patch,
            BulkMethod::Delete
        ]
    );
    assert!(request.operations.iter().all(|o| o.check().is_ok()));
    assert_eq!(
        execution_order(&request.operations).unwrap().order,
        [0, 1, 2, 3]
    );
    assert!(request.should_stop(1));
}

#[test]
fn rfc_7644_circular_groups_are_reported() {
    // RFC 7644 §3.7.1: two groups, each a member of the other.
    let request: BulkRequest = serde_json::from_value(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "qwerty",
                "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "Group A",
                    "members": [{"type": "Group", "value": "bulkId:ytrewq"}]
                }
            },
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "ytrewq",
                "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "Group B",
                    "members": [{"type": "Group", "value": "bulkId:qwerty"}]
                }
            }
        ]
    }))
    .unwrap();
    let plan = execution_order(&request.operations).unwrap();
    assert!(plan.order.is_empty());
    assert_eq!(plan.circular, [0, 1]);

    let response = BulkResponse {
        operations: plan
            .circular
            .iter()
            .map(|&i| {
                let op = &request.operations[i];
                BulkOperationResponse::error(op, &circular_reference(op), None)
            })
            .collect(),
    };
    insta::assert_json_snapshot!(response);
}

#[test]
fn a_failed_creation_fails_its_references() {
    let request: BulkRequest = serde_json::from_value(rfc_request()).unwrap();
    // The user's POST failed, so "qwerty" was never assigned an id.
    let mut group = request.operations[1].clone();
    let e = group.resolve(&HashMap::new()).unwrap_err();
    assert_eq!(e.status, 409);
    let r = BulkOperationResponse::error(&group, &e, None);
    assert_eq!(r.status, "409");
    assert_eq!(r.response.unwrap()["status"], "409");
    assert_eq!(
        group, request.operations[1],
        "a failed resolution changes nothing"
    );
}
