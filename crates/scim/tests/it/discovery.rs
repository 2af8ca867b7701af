//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` as served, and what Entra ID's
//! gallery checks of them.

use scim::bulk::BulkLimits;
use scim::discovery::{
    ServiceProviderConfig, resource_type_by_name, resource_types_list, schema_by_id, schemas_list,
};
use scim::message::LIST_RESPONSE;
use scim::query::QueryLimits;
use scim::schema::{
    AttributeDef, ENTERPRISE_USER, GROUP, Mutability, ResourceSchema, Returned, Schema, USER,
};
use serde_json::{Value, json};

use crate::assert_no_nulls;

const BASE: &str = "https://roster.example/scim/v2/acme";

fn types() -> Vec<ResourceSchema> {
    vec![ResourceSchema::user(), ResourceSchema::group()]
}

fn custom_extension() -> Schema {
    Schema {
        id: "urn:roster:params:scim:schemas:extension:acme:2.0:User".into(),
        name: "AcmeUser".into(),
        description: "Acme's own user attributes".into(),
        attributes: vec![
            AttributeDef::string("badgeNumber").describe("The number printed on the badge."),
            AttributeDef::boolean("contractor"),
        ],
    }
}

#[test]
fn service_provider_config_snapshot() {
    let spc = ServiceProviderConfig::new(&QueryLimits::default());
    insta::assert_json_snapshot!(spc.to_json(&format!("{BASE}/ServiceProviderConfig")));
}

#[test]
fn service_provider_config_with_every_feature_snapshot() {
    let spc = ServiceProviderConfig::new(&QueryLimits {
        default_count: 50,
        max_count: 500,
    })
    .with_bulk(&BulkLimits::default())
    .with_sort(true)
    .with_etag(true)
    .with_cursor_paging(3600)
    .with_documentation_uri("https://roster.example/docs/scim");
    insta::assert_json_snapshot!(spc.to_json(&format!("{BASE}/ServiceProviderConfig")));
}

#[test]
fn resource_types_snapshot() {
    insta::assert_json_snapshot!(resource_types_list(&types(), BASE));
}

#[test]
fn schemas_snapshot() {
    insta::assert_json_snapshot!(schemas_list(&types(), BASE));
}

#[test]
fn entra_finds_a_list_response_with_the_group_schema() {
    let list = schemas_list(&types(), BASE);
    assert_eq!(list["schemas"], json!([LIST_RESPONSE]));
    assert!(list["totalResults"].is_u64());
    assert_eq!(list["startIndex"], 1);
    assert_eq!(list["itemsPerPage"], list["totalResults"]);
    let ids: Vec<&str> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [USER, ENTERPRISE_USER, GROUP]);
}

#[test]
fn entra_finds_patch_supported() {
    let spc = ServiceProviderConfig::new(&QueryLimits::default()).to_json(BASE);
    assert_eq!(spc["patch"]["supported"], true);
}

#[test]
fn no_nulls_anywhere() {
    let full = ServiceProviderConfig::new(&QueryLimits::default())
        .with_bulk(&BulkLimits::default())
        .with_cursor_paging(60);
    let types = [
        ResourceSchema::user().with_extension(custom_extension(), false),
        ResourceSchema::group(),
    ];
    assert_no_nulls(&full.to_json(BASE), "ServiceProviderConfig");
    assert_no_nulls(&schemas_list(&types, BASE), "Schemas");
    assert_no_nulls(&resource_types_list(&types, BASE), "ResourceTypes");
}

/// Every characteristic value is one of RFC 7643 §7's camelCase keywords, and every
/// attribute carries the characteristics a client's schema reader needs.
#[test]
fn attribute_characteristics_are_camel_case_and_complete() {
    fn check(attr: &Value, at: &str) {
        let allowed: [(&str, &[&str]); 4] = [
            (
                "type",
                &[
                    "string",
                    "boolean",
                    "decimal",
                    "integer",
                    "dateTime",
                    "binary",
                    "reference",
                    "complex",
                ],
            ),
            (
                "mutability",
                &["readOnly", "readWrite", "immutable", "writeOnly"],
            ),
            ("returned", &["always", "never", "default", "request"]),
            ("uniqueness", &["none", "server", "global"]),
        ];
        for (key, values) in allowed {
            let v = attr[key]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: no {key}"));
            assert!(values.contains(&v), "{at}: {key} = {v}");
        }
        for key in ["multiValued", "required", "caseExact"] {
            assert!(attr[key].is_boolean(), "{at}: {key} is not a boolean");
        }
        let name = attr["name"].as_str().unwrap();
        if attr["type"] == "complex" {
            let subs = attr["subAttributes"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: no subAttributes"));
            for sub in subs {
                check(sub, &format!("{at}.{}", sub["name"].as_str().unwrap()));
            }
        } else {
            assert!(
                attr.get("subAttributes").is_none(),
                "{at}: {name} has subAttributes"
            );
        }
    }
    let types = [
        ResourceSchema::user().with_extension(custom_extension(), false),
        ResourceSchema::group(),
    ];
    for schema in schemas_list(&types, BASE)["Resources"].as_array().unwrap() {
        let id = schema["id"].as_str().unwrap();
        for attr in schema["attributes"].as_array().unwrap() {
            check(attr, &format!("{id}:{}", attr["name"].as_str().unwrap()));
        }
    }
}

#[test]
fn custom_extensions_are_discoverable() {
    let ext = custom_extension();
    let types = [
        ResourceSchema::user().with_extension(ext.clone(), true),
        ResourceSchema::group(),
    ];
    let list = schemas_list(&types, BASE);
    assert_eq!(list["totalResults"], 4);
    let found = schema_by_id(&types, &ext.id.to_uppercase(), BASE).unwrap();
    assert_eq!(found["name"], "AcmeUser");
    assert_eq!(
        found["meta"]["location"],
        format!("{BASE}/Schemas/{}", ext.id)
    );

    let user = resource_type_by_name(&types, "USER", BASE).unwrap();
    assert_eq!(
        user["schemaExtensions"],
        json!([
            {"schema": ENTERPRISE_USER, "required": false},
            {"schema": ext.id, "required": true}
        ])
    );
}

#[test]
fn password_is_described_as_never_returned() {
    let user = schema_by_id(&types(), USER, BASE).unwrap();
    let password = user["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "password")
        .unwrap();
    assert_eq!(password["returned"], json!(Returned::Never));
    assert_eq!(password["mutability"], json!(Mutability::WriteOnly));
}
