//! Protocol messages: the ListResponse (RFC 7644 §3.4.2), the SearchRequest of
//! `POST /.search` (RFC 7644 §3.4.3), cursor attributes (RFC 9865 §2), and the URNs of every
//! `urn:ietf:params:scim:api:messages:2.0:*` message.
//!
//! A [`ListResponse`] always carries `totalResults`, `itemsPerPage` and `Resources` (an empty
//! array when nothing matched, never an absent key) and, with index paging, `startIndex`,
//! all as JSON numbers: Entra ID and Okta both reject lists that deviate from that.
//!
//! A [`SearchRequest`] is read leniently, because it is written by many hands: keys are
//! matched case-insensitively (RFC 7643 §2.1 makes attribute names case-insensitive, and
//! some clients send `StartIndex`), `attributes` may be an array or a comma-separated string,
//! and numbers may arrive as numeric strings. It converts into the same
//! [`ListQuery`] as the query string of a `GET`, through the same
//! code, so both routes behave identically.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ScimError;
use crate::query::{ListQuery, QueryLimits};

/// `urn:ietf:params:scim:api:messages:2.0:ListResponse` (RFC 7644 §3.4.2).
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `urn:ietf:params:scim:api:messages:2.0:SearchRequest` (RFC 7644 §3.4.3).
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// `urn:ietf:params:scim:api:messages:2.0:PatchOp` (RFC 7644 §3.5.2).
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `urn:ietf:params:scim:api:messages:2.0:BulkRequest` (RFC 7644 §3.7).
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// `urn:ietf:params:scim:api:messages:2.0:BulkResponse` (RFC 7644 §3.7).
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// A page of query results (RFC 7644 §3.4.2; cursors from RFC 9865 §2.2).
///
/// Build one with [`ListResponse::index`], [`ListResponse::cursor`] or
/// [`ListResponse::complete`]; it serialises to the wire form.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse {
    /// How many resources match the query in total, across all pages. Always present with
    /// index paging (RFC 7644 §3.4.2 makes it REQUIRED); RFC 9865 §2.2 lets a provider that
    /// pages by cursor omit it when it cannot know.
    #[serde(default)]
    pub total_results: Option<u64>,
    /// The 1-based index of the first resource of this page; `None` with cursor paging.
    #[serde(default)]
    pub start_index: Option<u64>,
    /// How many resources this page holds.
    #[serde(default)]
    pub items_per_page: u64,
    /// The cursor of the next page; absent on the last page (RFC 9865 §2.2).
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// The cursor of the previous page; absent on the first page (RFC 9865 §2.2).
    #[serde(default)]
    pub previous_cursor: Option<String>,
    /// The resources of this page, already projected.
    #[serde(default, rename = "Resources", alias = "resources")]
    pub resources: Vec<Value>,
}

impl ListResponse {
    /// A page of an index-paged query: `start_index` is the 1-based index the client asked
    /// for (echoed back, as Entra's pagination test checks), `total_results` the size of the
    /// whole result set. `itemsPerPage` is the number of resources given.
    #[must_use]
    pub fn index(resources: Vec<Value>, total_results: u64, start_index: u64) -> Self {
        Self {
            total_results: Some(total_results),
            start_index: Some(start_index.max(1)),
            items_per_page: resources.len() as u64,
            next_cursor: None,
            previous_cursor: None,
            resources,
        }
    }

    /// A page of a cursor-paged query (RFC 9865 §2.2): `startIndex` is omitted, and
    /// `nextCursor` is given on every page but the last.
    #[must_use]
    pub fn cursor(
        resources: Vec<Value>,
        total_results: Option<u64>,
        next_cursor: Option<String>,
        previous_cursor: Option<String>,
    ) -> Self {
        Self {
            total_results,
            start_index: None,
            items_per_page: resources.len() as u64,
            next_cursor,
            previous_cursor,
            resources,
        }
    }

    /// Every result in one page, starting at index 1: the discovery endpoints.
    #[must_use]
    pub fn complete(resources: Vec<Value>) -> Self {
        let total = resources.len() as u64;
        Self::index(resources, total, 1)
    }

    /// The wire form.
    #[must_use]
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl Serialize for ListResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("ListResponse", 7)?;
        s.serialize_field("schemas", &[LIST_RESPONSE])?;
        if let Some(total) = self.total_results {
            s.serialize_field("totalResults", &total)?;
        }
        if let Some(start) = self.start_index {
            s.serialize_field("startIndex", &start)?;
        }
        s.serialize_field("itemsPerPage", &self.items_per_page)?;
        if let Some(next) = &self.next_cursor {
            s.serialize_field("nextCursor", next)?;
        }
        if let Some(previous) = &self.previous_cursor {
            s.serialize_field("previousCursor", previous)?;
        }
        s.serialize_field("Resources", &self.resources)?;
        s.end()
    }
}

/// The body of `POST /.search` (RFC 7644 §3.4.3), with RFC 9865's `cursor`.
///
/// Values are kept as sent; [`SearchRequest::into_query`] validates them exactly as
/// [`ListQuery::from_pairs`] validates a query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRequest {
    /// `attributes`: the attributes to return.
    pub attributes: Vec<String>,
    /// `excludedAttributes`: the attributes not to return.
    pub excluded_attributes: Vec<String>,
    /// `filter`, as text.
    pub filter: Option<String>,
    /// `sortBy`, as text.
    pub sort_by: Option<String>,
    /// `sortOrder`, as text (`ascending` / `descending`).
    pub sort_order: Option<String>,
    /// `startIndex`, possibly out of range (clamped later, as in a query string).
    pub start_index: Option<i64>,
    /// `count`, possibly out of range (clamped later, as in a query string).
    pub count: Option<i64>,
    /// `cursor` (RFC 9865): `Some("")` asks for the first page.
    pub cursor: Option<String>,
}

impl SearchRequest {
    /// Reads a request body. Keys are case-insensitive; unknown keys (and `schemas`) are
    /// ignored. A value of the wrong JSON type is `400 invalidValue`, naming the key; a body
    /// that is not an object is `400 invalidSyntax`.
    pub fn from_json(body: &Value) -> Result<Self, ScimError> {
        let Some(obj) = body.as_object() else {
            return Err(ScimError::invalid_syntax(
                "a SearchRequest must be a JSON object",
            ));
        };
        let mut req = Self::default();
        for (key, value) in obj {
            if value.is_null() {
                // Entra and older clients send explicit nulls for "not set".
                continue;
            }
            match key.to_ascii_lowercase().as_str() {
                "attributes" => req.attributes = string_list(key, value)?,
                "excludedattributes" => req.excluded_attributes = string_list(key, value)?,
                "filter" => req.filter = Some(string(key, value)?),
                "sortby" => req.sort_by = Some(string(key, value)?),
                "sortorder" => req.sort_order = Some(string(key, value)?),
                "startindex" => req.start_index = Some(integer(key, value)?),
                "count" => req.count = Some(integer(key, value)?),
                "cursor" => req.cursor = Some(string(key, value)?),
                _ => {}
            }
        }
        Ok(req)
    }

    /// The same parameters as a query string's `(name, value)` pairs.
    #[must_use]
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut push = |name: &str, value: String| pairs.push((name.to_owned(), value));
        if !self.attributes.is_empty() {
            push("attributes", self.attributes.join(","));
        }
        if !self.excluded_attributes.is_empty() {
            push("excludedAttributes", self.excluded_attributes.join(","));
        }
        if let Some(f) = &self.filter {
            push("filter", f.clone());
        }
        if let Some(s) = &self.sort_by {
            push("sortBy", s.clone());
        }
        if let Some(s) = &self.sort_order {
            push("sortOrder", s.clone());
        }
        if let Some(i) = self.start_index {
            push("startIndex", i.to_string());
        }
        if let Some(c) = self.count {
            push("count", c.to_string());
        }
        if let Some(c) = &self.cursor {
            push("cursor", c.clone());
        }
        pairs
    }

    /// Validates the request into a [`ListQuery`], with the same rules and errors as
    /// [`ListQuery::from_pairs`].
    pub fn into_query(&self, limits: &QueryLimits) -> Result<ListQuery, ScimError> {
        ListQuery::from_pairs(self.to_pairs(), limits)
    }
}

impl Serialize for SearchRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = serializer.serialize_map(None)?;
        m.serialize_entry("schemas", &[SEARCH_REQUEST])?;
        if !self.attributes.is_empty() {
            m.serialize_entry("attributes", &self.attributes)?;
        }
        if !self.excluded_attributes.is_empty() {
            m.serialize_entry("excludedAttributes", &self.excluded_attributes)?;
        }
        if let Some(v) = &self.filter {
            m.serialize_entry("filter", v)?;
        }
        if let Some(v) = &self.sort_by {
            m.serialize_entry("sortBy", v)?;
        }
        if let Some(v) = &self.sort_order {
            m.serialize_entry("sortOrder", v)?;
        }
        if let Some(v) = self.start_index {
            m.serialize_entry("startIndex", &v)?;
        }
        if let Some(v) = self.count {
            m.serialize_entry("count", &v)?;
        }
        if let Some(v) = &self.cursor {
            m.serialize_entry("cursor", v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for SearchRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let body = Value::deserialize(deserializer)?;
        Self::from_json(&body).map_err(|e| serde::de::Error::custom(e.detail))
    }
}

fn string(key: &str, value: &Value) -> Result<String, ScimError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScimError::invalid_value(format!("'{key}' must be a string")))
}

/// An array of strings, or (leniently) one comma-separated string as in a query string.
fn string_list(key: &str, value: &Value) -> Result<Vec<String>, ScimError> {
    match value {
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        Value::Array(items) => items.iter().map(|v| string(key, v)).collect(),
        _ => Err(ScimError::invalid_value(format!(
            "'{key}' must be an array of strings"
        ))),
    }
}

/// An integer, or (leniently) a string holding one. One too large for `i64` saturates, as
/// it does in a query string: both are clamped to the page limits later.
fn integer(key: &str, value: &Value) -> Result<i64, ScimError> {
    let err = || ScimError::invalid_value(format!("'{key}' must be an integer"));
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|_| i64::MAX))
            .ok_or_else(err),
        Value::String(s) => s.trim().parse().map_err(|_| err()),
        _ => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::query::Paging;
    use serde_json::json;

    #[test]
    fn index_page_has_every_rfc_field_as_numbers() {
        let page = ListResponse::index(vec![json!({"id": "a"}), json!({"id": "b"})], 11, 6);
        assert_eq!(
            page.to_json(),
            json!({
                "schemas": [LIST_RESPONSE],
                "totalResults": 11,
                "startIndex": 6,
                "itemsPerPage": 2,
                "Resources": [{"id": "a"}, {"id": "b"}]
            })
        );
    }

    #[test]
    fn empty_page_keeps_an_empty_resources_array() {
        let page = ListResponse::index(Vec::new(), 0, 1);
        assert_eq!(
            page.to_json(),
            json!({
                "schemas": [LIST_RESPONSE],
                "totalResults": 0,
                "startIndex": 1,
                "itemsPerPage": 0,
                "Resources": []
            })
        );
    }

    #[test]
    fn cursor_page_omits_start_index_and_absent_cursors() {
        let page = ListResponse::cursor(
            vec![json!({"id": "a"})],
            Some(100),
            Some("VZUT".into()),
            None,
        );
        assert_eq!(
            page.to_json(),
            json!({
                "schemas": [LIST_RESPONSE],
                "totalResults": 100,
                "itemsPerPage": 1,
                "nextCursor": "VZUT",
                "Resources": [{"id": "a"}]
            })
        );
        let last = ListResponse::cursor(Vec::new(), None, None, Some("prev".into()));
        assert_eq!(
            last.to_json(),
            json!({
                "schemas": [LIST_RESPONSE],
                "itemsPerPage": 0,
                "previousCursor": "prev",
                "Resources": []
            })
        );
    }

    #[test]
    fn list_response_reads_back() {
        let page = ListResponse::index(vec![json!({"id": "a"})], 3, 2);
        let back: ListResponse = serde_json::from_value(page.to_json()).unwrap();
        assert_eq!(back, page);
    }

    #[test]
    fn search_request_reads_rfc_example() {
        // RFC 7644 §3.4.3, figure 4.
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "attributes": ["displayName", "userName"],
            "filter": "displayName sw \"smith\"",
            "startIndex": 1,
            "count": 10
        });
        let req: SearchRequest = serde_json::from_value(body).unwrap();
        assert_eq!(req.attributes, ["displayName", "userName"]);
        assert_eq!(req.filter.as_deref(), Some("displayName sw \"smith\""));
        assert_eq!(req.start_index, Some(1));
        assert_eq!(req.count, Some(10));
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "schemas": [SEARCH_REQUEST],
                "attributes": ["displayName", "userName"],
                "filter": "displayName sw \"smith\"",
                "startIndex": 1,
                "count": 10
            })
        );
    }

    #[test]
    fn search_request_is_lenient() {
        let req = SearchRequest::from_json(&json!({
            "StartIndex": "3",
            "COUNT": 5,
            "ExcludedAttributes": "members, meta",
            "sortOrder": null,
            "somethingElse": true
        }))
        .unwrap();
        assert_eq!(req.start_index, Some(3));
        assert_eq!(req.count, Some(5));
        assert_eq!(req.excluded_attributes, ["members", "meta"]);
        assert_eq!(req.sort_order, None);
    }

    #[test]
    fn search_request_rejects_wrong_types() {
        let big = SearchRequest::from_json(&json!({"count": u64::MAX})).unwrap();
        assert_eq!(big.count, Some(i64::MAX));
        let e = SearchRequest::from_json(&json!({"count": 2.5})).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        let e = SearchRequest::from_json(&json!({"count": true})).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidValue)));
        assert!(e.detail.contains("count"));
        let e = SearchRequest::from_json(&json!([])).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        assert!(serde_json::from_value::<SearchRequest>(json!({"filter": 3})).is_err());
    }

    #[test]
    fn search_request_becomes_the_same_query_as_the_query_string() {
        let limits = QueryLimits::default();
        let req = SearchRequest::from_json(&json!({
            "excludedAttributes": ["members"],
            "startIndex": 0,
            "count": 5000,
            "sortBy": "displayName",
            "sortOrder": "DESCENDING"
        }))
        .unwrap();
        let from_body = req.into_query(&limits).unwrap();
        let from_query = ListQuery::from_pairs(
            [
                ("excludedAttributes", "members"),
                ("startIndex", "0"),
                ("count", "5000"),
                ("sortBy", "displayName"),
                ("sortOrder", "DESCENDING"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
            &limits,
        )
        .unwrap();
        assert_eq!(from_body, from_query);
        assert_eq!(
            from_body.paging,
            Paging::Index {
                start_index: 1,
                count: 1000
            }
        );

        let cursor = SearchRequest::from_json(&json!({"cursor": "", "count": 2}))
            .unwrap()
            .into_query(&limits)
            .unwrap();
        assert_eq!(
            cursor.paging,
            Paging::Cursor {
                cursor: None,
                count: 2
            }
        );
    }
}
