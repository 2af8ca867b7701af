//! PATCH tests: every example of RFC 7644 §3.5.2 and every shape Entra ID and Okta send,
//! each asserting the resulting JSON.

use serde_json::{Value, json};

use super::*;
use crate::ScimType;
use crate::schema::ENTERPRISE_USER;

const EXT: &str = ENTERPRISE_USER;

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", EXT],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen",
        "userName": "bjensen@example.com",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [
            {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
             "region": "CA", "postalCode": "91608", "country": "USA", "primary": true}
        ],
        EXT: {"employeeNumber": "701984", "department": "Tour Operations"},
        "meta": {"resourceType": "User", "version": "W/\"a330bc54f0671c9\""}
    })
}

fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            {"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen"},
            {"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge"}
        ]
    })
}

fn ops(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// Applies `body` to `resource` with members kept in the resource (no delta).
fn run(
    resource: Value,
    schema: &ResourceSchema,
    body: Value,
) -> Result<(Value, PatchOutcome), ScimError> {
    let Value::Object(mut map) = resource else {
        panic!("resource must be an object")
    };
    let out = apply(&mut map, &body, schema, PatchOptions::default())?;
    Ok((Value::Object(map), out))
}

fn run_user(body: Value) -> Value {
    run(user(), &ResourceSchema::user(), body).unwrap().0
}

fn run_group(body: Value) -> Value {
    run(group(), &ResourceSchema::group(), body).unwrap().0
}

fn delta(body: Value) -> (Value, PatchOutcome) {
    let Value::Object(mut map) = group() else {
        unreachable!()
    };
    map.remove("members");
    let out = apply(
        &mut map,
        &body,
        &ResourceSchema::group(),
        PatchOptions {
            members_as_delta: true,
        },
    )
    .unwrap();
    (Value::Object(map), out)
}

fn ids(d: &MemberDelta) -> (bool, Vec<&str>, Vec<&str>) {
    (
        d.clear,
        d.add.keys().map(String::as_str).collect(),
        d.remove.iter().map(String::as_str).collect(),
    )
}

fn err(resource: Value, schema: &ResourceSchema, body: Value) -> ScimError {
    run(resource, schema, body).unwrap_err()
}

// ---- RFC 7644 §3.5.2.1 add ----

#[test]
fn rfc_add_member() {
    let g = run_group(ops(json!([{"op": "add", "path": "members", "value": [{
        "display": "Babs Jensen",
        "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
        "value": "2819c223-7f76-453a-919d-413861904646"
    }, {"display": "James Smith", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}]}])));
    // Adding an existing member (with other sub-attributes) must not duplicate it by id when
    // members are rows; in-resource, values that differ are appended as the RFC says.
    let members = g["members"].as_array().unwrap();
    assert!(
        members
            .iter()
            .any(|m| m["value"] == "08e1d05d-121c-4561-8b96-473d93df9210")
    );
    assert_eq!(members.len(), 4);
}

#[test]
fn rfc_add_without_path() {
    let u = run_user(ops(json!([{"op": "add", "value": {
        "emails": [{"value": "babs@jensen.org", "type": "home"}, {"value": "b@x.org", "type": "other"}],
        "nickname": "Babs"
    }}])));
    assert_eq!(u["nickName"], "Babs");
    assert_eq!(
        u["emails"],
        json!([
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"},
            {"value": "b@x.org", "type": "other"}
        ])
    );
}

// ---- RFC 7644 §3.5.2.2 remove ----

#[test]
fn rfc_remove_one_member_by_filter() {
    let g = run_group(ops(
        json!([{"op": "remove", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]),
    ));
    assert_eq!(
        g["members"],
        json!([{"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge"}])
    );
}

#[test]
fn rfc_remove_all_members() {
    let g = run_group(ops(json!([{"op": "remove", "path": "members"}])));
    assert!(g.get("members").is_none());
}

#[test]
fn rfc_remove_by_complex_filter() {
    let u = run_user(ops(
        json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
    ));
    assert_eq!(
        u["emails"],
        json!([{"value": "babs@jensen.org", "type": "home"}])
    );
}

#[test]
fn rfc_remove_then_add_members_replaces_them() {
    let g = run_group(ops(json!([
        {"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [
            {"display": "Babs Jensen", "value": "2819c223-7f76-453a-919d-413861904646"},
            {"display": "James Smith", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}
        ]}
    ])));
    assert_eq!(
        g["members"],
        json!([
            {"display": "Babs Jensen", "value": "2819c223-7f76-453a-919d-413861904646"},
            {"display": "James Smith", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}
        ])
    );
}

#[test]
fn rfc_remove_a_sub_attribute_and_an_extension_attribute() {
    let u = run_user(ops(json!([
        {"op": "remove", "path": "name.givenName"},
        {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}
    ])));
    assert_eq!(u["name"], json!({"familyName": "Jensen"}));
    assert_eq!(u[EXT], json!({"employeeNumber": "701984"}));
}

#[test]
fn remove_without_path_is_no_target() {
    let e = err(
        user(),
        &ResourceSchema::user(),
        ops(json!([{"op": "remove"}])),
    );
    assert_eq!((e.status, e.scim_type), (400, Some(ScimType::NoTarget)));
}

// ---- RFC 7644 §3.5.2.3 replace ----

#[test]
fn rfc_replace_members() {
    let g = run_group(ops(json!([{"op": "replace", "path": "members", "value": [
        {"display": "Babs Jensen", "value": "2819c223-7f76-453a-919d-413861904646"},
        {"display": "James Smith", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}
    ]}])));
    assert_eq!(g["members"].as_array().unwrap().len(), 2);
    assert_eq!(
        g["members"][1]["value"],
        "08e1d05d-121c-4561-8b96-473d93df9210"
    );
}

#[test]
fn rfc_replace_a_filtered_complex_value() {
    let u = run_user(ops(
        json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
            "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood",
            "region": "CA", "postalCode": "91608", "country": "US",
            "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true
        }}]),
    ));
    assert_eq!(
        u["addresses"][0]["streetAddress"],
        "911 Universal City Plaza"
    );
    assert_eq!(u["addresses"][0]["country"], "US");
    assert_eq!(u["addresses"].as_array().unwrap().len(), 1);
}

#[test]
fn rfc_replace_a_filtered_sub_attribute() {
    let u = run_user(ops(
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
    ));
    assert_eq!(u["addresses"][0]["streetAddress"], "1010 Broadway Ave");
    assert_eq!(u["addresses"][0]["locality"], "Hollywood");
}

#[test]
fn rfc_replace_without_path() {
    let u = run_user(ops(json!([{"op": "replace", "value": {
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                   {"value": "babs@jensen.org", "type": "home"}],
        "nickName": "Babs"
    }}])));
    assert_eq!(u["nickName"], "Babs");
    assert_eq!(u["emails"].as_array().unwrap().len(), 2);
}

// ---- Entra ID, default job (capitalised ops, one op per attribute) ----

#[test]
fn entra_default_replace_per_attribute() {
    let u = run_user(ops(json!([
        {"op": "Replace", "path": "displayName", "value": "Pvlo"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
        {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
        {"op": "Replace", "path": "externalId", "value": "Eqpj"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Eqpj"}
    ])));
    assert_eq!(u["displayName"], "Pvlo");
    assert_eq!(
        u["emails"],
        json!([
            {"value": "TestBcwqnm@test.microsoft.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ])
    );
    assert_eq!(
        u["name"],
        json!({"familyName": "Pkqf", "givenName": "Gtfd"})
    );
    assert_eq!(u["externalId"], "Eqpj");
    assert_eq!(u[EXT]["employeeNumber"], "Eqpj");
    assert_eq!(u[EXT]["department"], "Tour Operations");
}

#[test]
fn entra_add_on_a_filtered_path_with_no_match_creates_the_element() {
    let u = run_user(ops(json!([
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 425 555 0110"},
        {"op": "Add", "path": "emails[type eq \"other\"].value", "value": "babs@other.org"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "value": "4130"}
    ])));
    assert_eq!(
        u["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 425 555 0110"}])
    );
    assert_eq!(
        u["emails"][2],
        json!({"type": "other", "value": "babs@other.org"})
    );
    assert_eq!(u["nickName"], "Babs");
    assert_eq!(u[EXT]["costCenter"], "4130");
}

#[test]
fn entra_add_on_a_filtered_path_that_matches_updates_only_that_element() {
    let u = run_user(ops(
        json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]),
    ));
    assert_eq!(
        u["emails"][0],
        json!({"value": "new@example.com", "type": "work", "primary": true})
    );
    assert_eq!(
        u["emails"][1],
        json!({"value": "babs@jensen.org", "type": "home"})
    );
}

#[test]
fn entra_string_booleans_are_coerced_for_boolean_attributes_only() {
    for (sent, want) in [
        ("False", false),
        ("True", true),
        ("false", false),
        ("TRUE", true),
    ] {
        let u = run_user(ops(
            json!([{"op": "Replace", "path": "active", "value": sent}]),
        ));
        assert_eq!(u["active"], json!(want), "{sent}");
    }
    let u = run_user(ops(
        json!([{"op": "Replace", "path": "displayName", "value": "True"}]),
    ));
    assert_eq!(u["displayName"], json!("True"));
    let u = run_user(ops(
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": "True"}]),
    ));
    assert_eq!(u["emails"][1]["primary"], json!(true));
    assert_eq!(
        u["emails"][0]["primary"],
        json!(false),
        "primary is exclusive"
    );
}

#[test]
fn entra_manager_set_change_and_clear_in_every_shape() {
    let schema = ResourceSchema::user();
    let set = |v: Value| {
        run_user(ops(
            json!([{"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": v}]),
        ))
    };
    assert_eq!(set(json!("271"))[EXT]["manager"], json!({"value": "271"}));
    assert_eq!(
        set(json!({"value": "CBEQXYNPNAZS"}))[EXT]["manager"],
        json!({"value": "CBEQXYNPNAZS"})
    );
    let u = run_user(ops(json!([{"op": "Add", "path": "manager", "value": [
        {"$ref": "http://example.com/scim/Users/00aa", "value": "00aa"}
    ]}])));
    assert_eq!(
        u[EXT]["manager"],
        json!({"$ref": "http://example.com/scim/Users/00aa", "value": "00aa"})
    );

    // Change: a different manager replaces the reference, it is not merged into the old one.
    let (with_manager, _) = run(
        user(),
        &schema,
        ops(json!([{"op": "Add", "path": "manager", "value": {"value": "m1", "displayName": "Old Boss"}}])),
    )
    .unwrap();
    let (changed, _) = run(
        with_manager.clone(),
        &schema,
        ops(json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m2"}])),
    )
    .unwrap();
    assert_eq!(changed[EXT]["manager"], json!({"value": "m2"}));

    // Clear: by URN path, by value filter, with "", with {"value": ""}, with null.
    for clear in [
        json!({"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}),
        json!({"op": "remove", "path": "manager[value eq \"m1\"]"}),
        json!({"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": ""}),
        json!({"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": ""}}),
        json!({"op": "Replace", "path": "manager", "value": null}),
    ] {
        let (u, out) = run(with_manager.clone(), &schema, ops(json!([clear.clone()]))).unwrap();
        assert!(u[EXT].get("manager").is_none(), "{clear}");
        assert_eq!(
            u[EXT],
            json!({"employeeNumber": "701984", "department": "Tour Operations"})
        );
        assert!(out.changed);
    }
    // A filter naming another manager removes nothing.
    let (u, out) = run(
        with_manager,
        &schema,
        ops(json!([{"op": "remove", "path": "manager[value eq \"other\"]"}])),
    )
    .unwrap();
    assert_eq!(u[EXT]["manager"]["value"], "m1");
    assert!(!out.changed);
}

#[test]
fn entra_roles_keep_their_json_string_value() {
    let role = "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"25\",\"displayName\":\"Role1234\"}";
    let u = run_user(ops(
        json!([{"op": "Add", "path": "roles", "value": [{"value": role}]}]),
    ));
    assert_eq!(u["roles"], json!([{"value": role}]));
    let u = run_user(ops(json!([{"op": "replace", "path": "roles", "value": [
        {"primary": "False", "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"}
    ]}])));
    assert_eq!(u["roles"][0]["primary"], json!(false));
}

// ---- Entra ID with ?aadOptscim062020 ----

#[test]
fn entra_flag_pathless_replace_with_dotted_and_urn_keys() {
    let u = run_user(ops(json!([
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "TestMhvaes@test.microsoft.com"},
        {"op": "replace", "value": {
            "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"
        }}
    ])));
    assert_eq!(u["emails"][0]["value"], "TestMhvaes@test.microsoft.com");
    assert_eq!(u["displayName"], "Bjfe");
    assert_eq!(
        u["name"],
        json!({"familyName": "Unua", "givenName": "Kkom"})
    );
    assert_eq!(u[EXT]["employeeNumber"], "Aklq");
    assert!(
        u.get("name.givenName").is_none(),
        "dotted keys are paths, not literal keys"
    );
}

#[test]
fn entra_flag_disable_and_pathless_username() {
    let u = run_user(ops(
        json!([{"op": "replace", "path": "active", "value": false}]),
    ));
    assert_eq!(u["active"], json!(false));
    let u = run_user(ops(
        json!([{"op": "replace", "value": {"userName": "emilio@hermann.uk"}}]),
    ));
    assert_eq!(u["userName"], "emilio@hermann.uk");
}

// ---- Groups: Entra and Okta shapes, as a member delta ----

#[test]
fn entra_group_member_add_default_and_flag() {
    let (_, out) = delta(ops(json!([{"op": "Add", "path": "members", "value": [
        {"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}, {"$ref": null, "value": "a1b2"}
    ]}])));
    assert_eq!(
        ids(&out.members),
        (false, vec!["a1b2", "f648f8d5ea4e4cd38e9c"], vec![])
    );
    assert!(!out.changed, "members are not in the resource");
    let (_, out) = delta(ops(
        json!([{"op": "add", "path": "members", "value": [{"value": "4143f2ee-d771-46d6-9a0a-74a9f7296ea7"}]}]),
    ));
    assert_eq!(
        ids(&out.members).1,
        vec!["4143f2ee-d771-46d6-9a0a-74a9f7296ea7"]
    );
}

#[test]
fn entra_group_member_remove_by_value_array_removes_only_those() {
    let (_, out) = delta(ops(json!([{"op": "Remove", "path": "members", "value": [
        {"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}, {"value": "a1b2"}
    ]}])));
    assert_eq!(
        ids(&out.members),
        (false, vec![], vec!["a1b2", "f648f8d5ea4e4cd38e9c"])
    );

    // Without the delta, the same request removes exactly that member from the list.
    let g = run_group(ops(
        json!([{"op": "Remove", "path": "members", "value": [{"value": "2819c223-7f76-453a-919d-413861904646"}]}]),
    ));
    assert_eq!(
        g["members"],
        json!([{"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge"}])
    );
}

#[test]
fn flag_and_okta_group_member_remove_by_filter_then_add() {
    let (_, out) = delta(ops(json!([
        {"op": "remove", "path": "members[value eq \"89bb1940\"]"},
        {"op": "add", "path": "members", "value": [{"value": "23a35c27", "display": "test.user@okta.local"}]}
    ])));
    assert_eq!(
        ids(&out.members),
        (false, vec!["23a35c27"], vec!["89bb1940"])
    );
    assert_eq!(
        out.members.add["23a35c27"].display.as_deref(),
        Some("test.user@okta.local")
    );
}

#[test]
fn validator_add_then_remove_the_same_member_leaves_it_absent() {
    let (_, out) = delta(ops(json!([
        {"op": "add", "path": "members", "value": [{"value": "x"}]},
        {"op": "remove", "path": "members[value eq \"x\"]"}
    ])));
    assert_eq!(ids(&out.members), (false, vec![], vec!["x"]));
}

#[test]
fn okta_full_push_and_empty_replace() {
    let (_, out) = delta(ops(json!([{"op": "replace", "path": "members", "value": [
        {"value": "a", "display": "A"}, {"value": "b", "display": "B"}
    ]}])));
    assert_eq!(ids(&out.members), (true, vec!["a", "b"], vec![]));
    let (_, out) = delta(ops(
        json!([{"op": "replace", "path": "members", "value": []}]),
    ));
    assert_eq!(ids(&out.members), (true, vec![], vec![]));
}

#[test]
fn remove_all_members_is_a_clear() {
    let (_, out) = delta(ops(json!([{"op": "remove", "path": "members"}])));
    assert_eq!(ids(&out.members), (true, vec![], vec![]));
}

#[test]
fn members_filter_other_than_by_value_is_invalid_filter() {
    let Value::Object(mut g) = group() else {
        unreachable!()
    };
    let e = apply(
        &mut g,
        &ops(json!([{"op": "remove", "path": "members[display eq \"Babs\"]"}])),
        &ResourceSchema::group(),
        PatchOptions {
            members_as_delta: true,
        },
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
}

#[test]
fn okta_rename_carries_the_read_only_id_and_keeps_members() {
    let (g, out) = delta(ops(json!([{"op": "replace", "value": {
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a", "displayName": "Test SCIMv2"
    }}])));
    assert_eq!(g["displayName"], "Test SCIMv2");
    assert!(
        out.members.is_empty(),
        "a path-less replace without members leaves membership alone"
    );
    assert!(out.changed);

    let g = run_group(ops(
        json!([{"op": "replace", "value": {"displayName": "Sales EMEA"}}]),
    ));
    assert_eq!(g["members"].as_array().unwrap().len(), 2);

    let e = err(
        group(),
        &ResourceSchema::group(),
        ops(json!([{"op": "replace", "value": {"id": "other"}}])),
    );
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
}

#[test]
fn entra_group_rename_and_validator_external_id() {
    let (g, _) = delta(ops(
        json!([{"op": "Replace", "path": "displayName", "value": "Sales EMEA"}]),
    ));
    assert_eq!(g["displayName"], "Sales EMEA");
    let (g, _) = delta(ops(
        json!([{"op": "replace", "value": {"externalId": "663fa3a8-8a2c"}}]),
    ));
    assert_eq!(g["externalId"], "663fa3a8-8a2c");
}

// ---- Okta users ----

#[test]
fn okta_active_and_password_patches() {
    let (u, out) = run(
        user(),
        &ResourceSchema::user(),
        ops(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .unwrap();
    assert_eq!(u["active"], json!(false));
    assert!(out.changed);
    let (u, out) = run(
        user(),
        &ResourceSchema::user(),
        ops(json!([{"op": "replace", "value": {"password": "1mz050nq"}}])),
    )
    .unwrap();
    assert!(u.get("password").is_none(), "passwords are never kept");
    assert!(!out.changed);
}

// ---- change detection, atomicity and errors ----

#[test]
fn a_patch_that_changes_nothing_reports_unchanged() {
    let (_, out) = run(
        user(),
        &ResourceSchema::user(),
        ops(json!([
            {"op": "replace", "path": "displayName", "value": "Babs Jensen"},
            {"op": "remove", "path": "nickName"},
            {"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]}
        ])),
    )
    .unwrap();
    assert!(!out.changed);
    let (_, out) = run(user(), &ResourceSchema::user(), ops(json!([]))).unwrap();
    assert!(!out.changed);
}

#[test]
fn a_failing_operation_leaves_the_resource_untouched() {
    let Value::Object(mut u) = user() else {
        unreachable!()
    };
    let before = u.clone();
    let e = apply(
        &mut u,
        &ops(json!([
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "replace", "path": "active", "value": "maybe"}
        ])),
        &ResourceSchema::user(),
        PatchOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert_eq!(u, before);
}

#[test]
fn errors_carry_the_right_scim_type() {
    let s = ResourceSchema::user();
    let cases = [
        (
            json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "noSuchAttribute", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "name.noSuch", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "id", "value": "new-id"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "remove", "path": "meta.created"}]),
            ScimType::Mutability,
        ),
        (
            json!([{"op": "remove", "path": "userName"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": null}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "userName", "value": 42}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "emails", "value": [{"value": 1}]}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "displayName"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "value": "not an object"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "replace", "path": "emails[type co \"zzz\"].value", "value": "x"}]),
            ScimType::NoTarget,
        ),
        (
            json!([{"op": "replace", "path": "emails[nope eq \"w\"].value", "value": "x"}]),
            ScimType::InvalidFilter,
        ),
        (
            json!([{"op": "copy", "path": "displayName", "value": "x"}]),
            ScimType::InvalidSyntax,
        ),
    ];
    for (body, want) in cases {
        let Err(e) = run(user(), &s, ops(body.clone())) else {
            panic!("{body} should fail")
        };
        assert_eq!(
            (e.status, e.scim_type),
            (400, Some(want)),
            "{body}: {}",
            e.detail
        );
    }
    let e = err(user(), &s, json!({"schemas": [PATCH_OP]}));
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
}

#[test]
fn immutable_attributes_can_be_set_once() {
    let schema = ResourceSchema::user().with_extension(
        crate::schema::Schema {
            id: "urn:example:params:scim:schemas:extension:badge:2.0:User".into(),
            name: "Badge".into(),
            description: String::new(),
            attributes: vec![
                crate::schema::AttributeDef::string("badge").mutability(Mutability::Immutable),
            ],
        },
        false,
    );
    let path = "urn:example:params:scim:schemas:extension:badge:2.0:User:badge";
    let (u, _) = run(
        user(),
        &schema,
        ops(json!([{"op": "add", "path": path, "value": "B1"}])),
    )
    .unwrap();
    assert_eq!(
        u["urn:example:params:scim:schemas:extension:badge:2.0:User"]["badge"],
        "B1"
    );
    run(
        u.clone(),
        &schema,
        ops(json!([{"op": "replace", "path": path, "value": "B1"}])),
    )
    .unwrap();
    let e = run(
        u,
        &schema,
        ops(json!([{"op": "replace", "path": path, "value": "B2"}])),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
}

#[test]
fn unknown_extensions_are_kept_and_schemas_follow_extensions() {
    let u = run_user(ops(json!([
        {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:badge", "value": "B-7"},
        {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}
    ])));
    assert_eq!(
        u["urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User"],
        json!({"badge": "B-7"})
    );
    assert!(u.get(EXT).is_none());
    assert_eq!(
        u["schemas"],
        json!([
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User"
        ])
    );
}

#[test]
fn attribute_names_in_paths_and_values_are_case_insensitive() {
    let u = run_user(ops(json!([
        {"op": "replace", "path": "DISPLAYNAME", "value": "X"},
        {"op": "replace", "path": "Emails[Type eq \"work\"].Value", "value": "w@x.org"},
        {"op": "add", "path": "name", "value": {"MiddleName": "Jane"}}
    ])));
    assert_eq!(u["displayName"], "X");
    assert!(u.get("DISPLAYNAME").is_none());
    assert_eq!(u["emails"][0]["value"], "w@x.org");
    assert_eq!(u["name"]["middleName"], "Jane");
}

#[test]
fn primary_is_exclusive_when_adding_values() {
    let u = run_user(ops(json!([{"op": "add", "path": "emails", "value": [
        {"value": "new@x.org", "type": "other", "primary": "True"}
    ]}])));
    let primaries: Vec<_> = u["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == json!(true))
        .collect();
    assert_eq!(
        primaries,
        vec![&json!({"value": "new@x.org", "type": "other", "primary": true})]
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-zA-Z0-9 \"@.]{0,12}".prop_map(Value::String),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        json_leaf().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-zA-Z.$]{1,10}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn path() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("members".to_owned()),
            Just("emails[type eq \"work\"].value".to_owned()),
            Just("emails[type eq \"work\" and primary eq true]".to_owned()),
            Just("name.givenName".to_owned()),
            Just("active".to_owned()),
            Just("id".to_owned()),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager".to_owned()),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_owned()),
            Just("manager[value eq \"x\"]".to_owned()),
            "[a-zA-Z\\[\\]\". :]{0,30}",
        ]
    }

    fn operation() -> impl Strategy<Value = Value> {
        (
            prop_oneof![Just("add"), Just("Replace"), Just("REMOVE"), Just("bogus")],
            prop::option::of(path()),
            prop::option::of(json_value()),
        )
            .prop_map(|(op, path, value)| {
                let mut o = serde_json::Map::new();
                o.insert("op".into(), json!(op));
                if let Some(p) = path {
                    o.insert("path".into(), json!(p));
                }
                if let Some(v) = value {
                    o.insert("value".into(), v);
                }
                Value::Object(o)
            })
    }

    proptest! {
        #[test]
        fn random_patch_documents_never_panic(operations in prop::collection::vec(operation(), 0..6), as_delta in any::<bool>()) {
            let body = ops(Value::Array(operations));
            for (resource, schema) in [(user(), ResourceSchema::user()), (group(), ResourceSchema::group())] {
                let Value::Object(mut map) = resource else { unreachable!() };
                let before = map.clone();
                match apply(&mut map, &body, &schema, PatchOptions { members_as_delta: as_delta }) {
                    Ok(_) => {}
                    Err(e) => {
                        prop_assert_eq!(e.status, 400);
                        prop_assert!(e.scim_type.is_some());
                        prop_assert_eq!(&map, &before);
                    }
                }
            }
        }

        #[test]
        fn arbitrary_json_bodies_never_panic(body in json_value()) {
            let Value::Object(mut map) = user() else { unreachable!() };
            let _ = apply(&mut map, &body, &ResourceSchema::user(), PatchOptions::default());
        }
    }
}

#[test]
fn empty_strings_and_nulls_clear_attributes() {
    // The gallery kit's null-update test sends "" and then null for optional attributes.
    let u = run_user(ops(json!([
        {"op": "replace", "path": "displayName", "value": ""},
        {"op": "replace", "path": "name.givenName", "value": null},
        {"op": "replace", "value": {"title": "", "name.familyName": ""}}
    ])));
    assert!(u.get("displayName").is_none());
    assert!(u.get("title").is_none());
    assert!(
        u.get("name").is_none(),
        "a complex attribute left empty is removed"
    );
}

#[test]
fn an_extension_value_may_name_its_own_schema() {
    // scim2-client (and so scim2-tester) sends a whole extension with its `schemas` inside.
    let manager = json!({"value": "26118915-6090-4610-87e4-49d8ca9f808d",
                         "$ref": "https://example.com/v2/Users/26118915-6090-4610-87e4-49d8ca9f808d"});
    for op in ["add", "replace"] {
        let u = run_user(ops(json!([{
            "op": op,
            "path": EXT,
            "value": {"schemas": [EXT], "employeeNumber": "42", "manager": manager}
        }])));
        assert_eq!(u[EXT]["employeeNumber"], "42", "{op}");
        assert_eq!(u[EXT]["manager"], manager, "{op}");
        assert!(u[EXT].get("schemas").is_none(), "{op}: {u}");
    }
    // The same inside a path-less operation.
    let u = run_user(ops(json!([{
        "op": "add",
        "value": {EXT: {"schemas": [EXT], "costCenter": "4130"}}
    }])));
    assert_eq!(u[EXT]["costCenter"], "4130");
    assert!(u[EXT].get("schemas").is_none());

    // Anything else under `schemas` is still not an attribute of the extension.
    let e = run(
        user(),
        &ResourceSchema::user(),
        ops(json!([{"op": "add", "path": EXT,
                    "value": {"schemas": ["urn:example:other"], "costCenter": "1"}}])),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
}
