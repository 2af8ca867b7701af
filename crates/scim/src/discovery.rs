//! The discovery endpoints (RFC 7644 §4): `/ServiceProviderConfig` (RFC 7643 §5, with
//! RFC 9865 §4's `pagination`), `/ResourceTypes` (RFC 7643 §6) and `/Schemas` (RFC 7643 §7).
//!
//! The documents are built from the same values the server enforces — [`QueryLimits`],
//! [`BulkLimits`], the [`ResourceSchema`]s it serves — so what it advertises is what it does.
//! Entra ID's gallery checks shape them too: `/Schemas` is a ListResponse that includes the
//! Group schema, property values are camelCase (`readWrite`), absent values are omitted
//! rather than sent as `null`, and `patch.supported` is `true`.
//!
//! URLs: `base_url` is the absolute URL of one SCIM service root
//! (`https://roster.example/scim/v2/acme`); a trailing `/` is ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bulk::BulkLimits;
use crate::message::ListResponse;
use crate::query::QueryLimits;
use crate::schema::ResourceSchema;

/// `urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig` (RFC 7643 §5).
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// `urn:ietf:params:scim:schemas:core:2.0:ResourceType` (RFC 7643 §6).
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// A `{"supported": bool}` capability (RFC 7643 §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supported {
    /// Whether the operation is supported.
    pub supported: bool,
}

/// `bulk` (RFC 7643 §5): both maxima are REQUIRED, so they are 0 when bulk is unsupported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkConfig {
    /// Whether `/Bulk` is supported.
    pub supported: bool,
    /// The most operations in one request.
    pub max_operations: u64,
    /// The largest request body, in bytes.
    pub max_payload_size: u64,
}

/// `filter` (RFC 7643 §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterConfig {
    /// Whether `filter` is supported.
    pub supported: bool,
    /// The most resources one response returns.
    pub max_results: u64,
}

/// `pagination` (RFC 9865 §4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginationConfig {
    /// Whether cursor paging is supported.
    pub cursor: bool,
    /// Whether index paging is supported.
    pub index: bool,
    /// `"index"` or `"cursor"`: what a request naming neither gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_pagination_method: Option<String>,
    /// The page size when `count` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_page_size: Option<u64>,
    /// The largest page returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_page_size: Option<u64>,
    /// How long, in seconds, a cursor stays valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_timeout: Option<u64>,
}

/// One authentication scheme (RFC 7643 §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationScheme {
    /// `oauth`, `oauth2`, `oauthbearertoken`, `httpbasic` or `httpdigest`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Its common name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// The specification that defines it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_uri: Option<String>,
    /// Where it is documented for this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_uri: Option<String>,
    /// Whether it is the preferred scheme.
    #[serde(default)]
    pub primary: bool,
}

impl AuthenticationScheme {
    /// OAuth 2.0 bearer tokens (RFC 6750): the `Authorization: Bearer …` header Entra ID and
    /// Okta send.
    #[must_use]
    pub fn oauth_bearer_token() -> Self {
        Self {
            ty: "oauthbearertoken".into(),
            name: "OAuth Bearer Token".into(),
            description: "Authentication scheme using the OAuth Bearer Token Standard".into(),
            spec_uri: Some("https://www.rfc-editor.org/info/rfc6750".into()),
            documentation_uri: None,
            primary: true,
        }
    }
}

/// The `/ServiceProviderConfig` document (RFC 7643 §5, RFC 9865 §4).
///
/// [`ServiceProviderConfig::new`] describes a provider from its real limits; the `with_*`
/// methods declare the optional features it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderConfig {
    /// Human-readable help for this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_uri: Option<String>,
    /// PATCH (RFC 7644 §3.5.2).
    pub patch: Supported,
    /// `/Bulk` (RFC 7644 §3.7).
    pub bulk: BulkConfig,
    /// `filter` (RFC 7644 §3.4.2.2).
    pub filter: FilterConfig,
    /// Changing passwords.
    pub change_password: Supported,
    /// `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3).
    pub sort: Supported,
    /// ETags and `If-Match` (RFC 7644 §3.14).
    pub etag: Supported,
    /// Index and cursor paging (RFC 9865 §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<PaginationConfig>,
    /// How clients authenticate.
    pub authentication_schemes: Vec<AuthenticationScheme>,
}

impl ServiceProviderConfig {
    /// A provider with PATCH and filters, index paging within `limits`, OAuth bearer-token
    /// authentication, and no bulk, sort, ETag, password change or cursor paging until
    /// declared with the `with_*` methods.
    #[must_use]
    pub fn new(limits: &QueryLimits) -> Self {
        let default_page_size = limits.default_count.min(limits.max_count);
        Self {
            documentation_uri: None,
            patch: Supported { supported: true },
            bulk: BulkConfig::default(),
            filter: FilterConfig {
                supported: true,
                max_results: limits.max_count,
            },
            change_password: Supported::default(),
            sort: Supported::default(),
            etag: Supported::default(),
            pagination: Some(PaginationConfig {
                cursor: false,
                index: true,
                default_pagination_method: Some("index".into()),
                default_page_size: Some(default_page_size),
                max_page_size: Some(limits.max_count),
                cursor_timeout: None,
            }),
            authentication_schemes: vec![AuthenticationScheme::oauth_bearer_token()],
        }
    }

    /// Declares `/Bulk` with these limits.
    #[must_use]
    pub fn with_bulk(mut self, limits: &BulkLimits) -> Self {
        self.bulk = BulkConfig {
            supported: true,
            max_operations: limits.max_operations as u64,
            max_payload_size: limits.max_payload_bytes as u64,
        };
        self
    }

    /// Declares `sortBy` / `sortOrder` support.
    #[must_use]
    pub fn with_sort(mut self, supported: bool) -> Self {
        self.sort.supported = supported;
        self
    }

    /// Declares ETag support.
    #[must_use]
    pub fn with_etag(mut self, supported: bool) -> Self {
        self.etag.supported = supported;
        self
    }

    /// Declares password-change support.
    #[must_use]
    pub fn with_change_password(mut self, supported: bool) -> Self {
        self.change_password.supported = supported;
        self
    }

    /// Declares cursor paging (RFC 9865), with cursors valid for `timeout_seconds`. Index
    /// paging stays the default method: the IdPs that matter page by index.
    #[must_use]
    pub fn with_cursor_paging(mut self, timeout_seconds: u64) -> Self {
        if let Some(p) = &mut self.pagination {
            p.cursor = true;
            p.cursor_timeout = Some(timeout_seconds);
        }
        self
    }

    /// Sets `documentationUri`.
    #[must_use]
    pub fn with_documentation_uri(mut self, uri: impl Into<String>) -> Self {
        self.documentation_uri = Some(uri.into());
        self
    }

    /// Replaces the authentication schemes.
    #[must_use]
    pub fn with_authentication_schemes(mut self, schemes: Vec<AuthenticationScheme>) -> Self {
        self.authentication_schemes = schemes;
        self
    }

    /// The document, with `schemas` and `meta`; `location` is the URL of the
    /// `/ServiceProviderConfig` endpoint.
    #[must_use]
    pub fn to_json(&self, location: &str) -> Value {
        let mut out = serde_json::Map::new();
        out.insert(
            "schemas".into(),
            serde_json::json!([SERVICE_PROVIDER_CONFIG]),
        );
        if let Ok(Value::Object(mut fields)) = serde_json::to_value(self) {
            out.append(&mut fields);
        }
        out.insert(
            "meta".into(),
            serde_json::json!({"resourceType": "ServiceProviderConfig", "location": location}),
        );
        Value::Object(out)
    }
}

fn base(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

/// Every distinct schema of `types` (core schemas and extensions, each once, in order of
/// appearance), as the `/Schemas` ListResponse.
#[must_use]
pub fn schemas_list(types: &[ResourceSchema], base_url: &str) -> Value {
    let mut seen: Vec<&str> = Vec::new();
    let mut resources = Vec::new();
    for schema in types
        .iter()
        .flat_map(|t| std::iter::once(&t.core).chain(t.extensions.iter().map(|e| &e.schema)))
    {
        if seen.iter().any(|id| id.eq_ignore_ascii_case(&schema.id)) {
            continue;
        }
        seen.push(&schema.id);
        resources.push(schema.to_resource(&schema_location(base_url, &schema.id)));
    }
    ListResponse::complete(resources).to_json()
}

/// `/Schemas/{id}`: the schema with this URN (compared case-insensitively), if any type uses it.
#[must_use]
pub fn schema_by_id(types: &[ResourceSchema], id: &str, base_url: &str) -> Option<Value> {
    types
        .iter()
        .find_map(|t| t.schema(id))
        .map(|s| s.to_resource(&schema_location(base_url, &s.id)))
}

fn schema_location(base_url: &str, id: &str) -> String {
    format!("{}/Schemas/{id}", base(base_url))
}

/// Every resource type, as the `/ResourceTypes` ListResponse.
#[must_use]
pub fn resource_types_list(types: &[ResourceSchema], base_url: &str) -> Value {
    let resources = types
        .iter()
        .map(|t| t.to_resource_type(&resource_type_location(base_url, &t.name)))
        .collect();
    ListResponse::complete(resources).to_json()
}

/// `/ResourceTypes/{name}`: the resource type with this name (compared case-insensitively).
#[must_use]
pub fn resource_type_by_name(
    types: &[ResourceSchema],
    name: &str,
    base_url: &str,
) -> Option<Value> {
    types
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
        .map(|t| t.to_resource_type(&resource_type_location(base_url, &t.name)))
}

fn resource_type_location(base_url: &str, name: &str) -> String {
    format!("{}/ResourceTypes/{name}", base(base_url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER, GROUP, USER};
    use serde_json::json;

    const BASE: &str = "https://roster.example/scim/v2/acme/";

    #[test]
    fn service_provider_config_tells_the_limits() {
        let spc = ServiceProviderConfig::new(&QueryLimits {
            default_count: 50,
            max_count: 200,
        })
        .with_bulk(&BulkLimits::default())
        .with_cursor_paging(600);
        let json = spc.to_json("https://roster.example/scim/v2/acme/ServiceProviderConfig");
        assert_eq!(
            json["filter"],
            json!({"supported": true, "maxResults": 200})
        );
        assert_eq!(
            json["bulk"],
            json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 1_048_576})
        );
        assert_eq!(
            json["pagination"],
            json!({
                "cursor": true,
                "index": true,
                "defaultPaginationMethod": "index",
                "defaultPageSize": 50,
                "maxPageSize": 200,
                "cursorTimeout": 600
            })
        );
        assert_eq!(json["schemas"], json!([SERVICE_PROVIDER_CONFIG]));
        assert_eq!(json["meta"]["resourceType"], "ServiceProviderConfig");
        let back: ServiceProviderConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, spc);
    }

    #[test]
    fn schemas_are_listed_once_each() {
        let types = [
            ResourceSchema::user(),
            ResourceSchema::group(),
            ResourceSchema::user(),
        ];
        let list = schemas_list(&types, BASE);
        let ids: Vec<&str> = list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [USER, ENTERPRISE_USER, GROUP]);
        assert_eq!(list["totalResults"], 3);
        assert_eq!(
            list["Resources"][2]["meta"]["location"],
            format!("https://roster.example/scim/v2/acme/Schemas/{GROUP}")
        );
    }

    #[test]
    fn lookups_are_case_insensitive() {
        let types = [ResourceSchema::user(), ResourceSchema::group()];
        let s = schema_by_id(&types, &GROUP.to_uppercase(), BASE).unwrap();
        assert_eq!(s["id"], GROUP);
        assert!(schema_by_id(&types, "urn:nope", BASE).is_none());
        let rt = resource_type_by_name(&types, "group", BASE).unwrap();
        assert_eq!(rt["name"], "Group");
        assert_eq!(
            rt["meta"]["location"],
            "https://roster.example/scim/v2/acme/ResourceTypes/Group"
        );
        assert!(resource_type_by_name(&types, "Device", BASE).is_none());
    }
}
