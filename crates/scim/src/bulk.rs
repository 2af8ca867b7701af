//! Bulk operations (RFC 7644 §3.7): the BulkRequest and BulkResponse messages, `bulkId`
//! cross-references (§3.7.2), their execution order and circular references (§3.7.1), and
//! the size limits (§3.7.4).
//!
//! A client names a resource it creates in the request with a `bulkId` and refers to it
//! elsewhere in the request as the string `"bulkId:<id>"`: in any value of another
//! operation's `data` (a group's `members[].value`, a user's `manager.value`, a PATCH
//! operation's `value`) or as a segment of its `path` (`/Groups/bulkId:ytrewq`).
//! [`execution_order`] runs creations before the operations that refer to them, and
//! [`BulkOperation::resolve`] substitutes the ids the provider assigned.
//!
//! Failure statuses, from the RFC where it speaks:
//!
//! - Circular references the provider does not resolve: `409` (§3.7.1: the provider "MAY stop
//!   after a failed attempt and instead return HTTP status code 409 (Conflict)").
//! - A reference that cannot be resolved (no operation declares the `bulkId`, or its
//!   creation failed): also `409`. §3.7.2 does not name a status for this; it is the same
//!   conflict as §3.7.1, a cross-reference within the job that cannot be satisfied.
//!   Neither carries a `scimType`: RFC 7644 §3.12 defines those keywords for 400 responses.
//! - Too many operations or too large a payload: `413`, with a detail naming the limit
//!   (§3.7.4).

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ScimError;
use crate::message::{BULK_REQUEST, BULK_RESPONSE};

/// The prefix of a `bulkId` reference (RFC 7644 §3.7.2): `"bulkId:qwerty"`.
pub const BULK_ID_PREFIX: &str = "bulkId:";

/// The HTTP method of one bulk operation. Read case-insensitively, written in capitals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkMethod {
    /// Create a resource.
    Post,
    /// Replace a resource.
    Put,
    /// Modify a resource.
    Patch,
    /// Delete a resource.
    Delete,
}

impl BulkMethod {
    /// The method as written on the wire.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

impl fmt::Display for BulkMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for BulkMethod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BulkMethod {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        [Self::Post, Self::Put, Self::Patch, Self::Delete]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(&s))
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown bulk method '{s}': expected POST, PUT, PATCH or DELETE"
                ))
            })
    }
}

/// A BulkRequest (RFC 7644 §3.7). `schemas` is written on output and not required on input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest {
    /// How many errors to accept before the remaining operations are skipped.
    #[serde(default)]
    pub fail_on_errors: Option<u32>,
    /// The operations, in the order the client wrote them.
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<BulkOperation>,
}

impl BulkRequest {
    /// Whether processing stops after `errors` failed operations (`failOnErrors`; without
    /// it the provider "MUST continue performing as many changes as possible").
    #[must_use]
    pub fn should_stop(&self, errors: u32) -> bool {
        self.fail_on_errors.is_some_and(|limit| errors >= limit)
    }
}

impl Serialize for BulkRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("BulkRequest", 3)?;
        s.serialize_field("schemas", &[BULK_REQUEST])?;
        if let Some(n) = self.fail_on_errors {
            s.serialize_field("failOnErrors", &n)?;
        }
        s.serialize_field("Operations", &self.operations)?;
        s.end()
    }
}

/// One operation of a BulkRequest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperation {
    /// The HTTP method.
    pub method: BulkMethod,
    /// The client's name for the resource a POST creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The resource version (ETag) a PUT, PATCH or DELETE expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource path relative to the base URL: `/Users` for POST, `/Users/{id}` otherwise.
    pub path: String,
    /// The body a POST, PUT or PATCH would carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl BulkOperation {
    /// Checks the operation's shape: a `path` starting with `/`, a non-empty `bulkId` when
    /// given, and `data` for POST, PUT and PATCH (`400 invalidSyntax` otherwise).
    pub fn check(&self) -> Result<(), ScimError> {
        if !self.path.starts_with('/') {
            return Err(ScimError::invalid_syntax(format!(
                "{} operation path '{}' must start with '/'",
                self.method, self.path
            )));
        }
        if self.bulk_id.as_deref().is_some_and(str::is_empty) {
            return Err(ScimError::invalid_syntax("bulkId must not be empty"));
        }
        if self.method != BulkMethod::Delete && self.data.is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "{} operation on '{}' has no data",
                self.method, self.path
            )));
        }
        Ok(())
    }

    /// The `bulkId`s this operation refers to, in its path and its data, each once.
    #[must_use]
    pub fn references(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix(BULK_ID_PREFIX))
            .map(str::to_owned)
            .collect();
        if let Some(data) = &self.data {
            for id in referenced_bulk_ids(data) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    /// Replaces every `bulkId` reference in the path and data with the id it was assigned.
    /// On error (`409`, naming the first unresolved `bulkId`) nothing is changed.
    pub fn resolve(&mut self, ids: &HashMap<String, String>) -> Result<(), ScimError> {
        if let Some(missing) = self
            .references()
            .into_iter()
            .find(|id| !ids.contains_key(id))
        {
            return Err(unresolved(&missing));
        }
        self.path = self
            .path
            .split('/')
            .map(|seg| match seg.strip_prefix(BULK_ID_PREFIX) {
                Some(id) => ids[id].as_str(),
                None => seg,
            })
            .collect::<Vec<_>>()
            .join("/");
        if let Some(data) = &mut self.data {
            resolve_bulk_ids(data, ids)?;
        }
        Ok(())
    }
}

/// A BulkResponse (RFC 7644 §3.7.3). `schemas` is written on output.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct BulkResponse {
    /// The results, one per operation processed, in processing order.
    #[serde(rename = "Operations", alias = "operations", default)]
    pub operations: Vec<BulkOperationResponse>,
}

impl Serialize for BulkResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("BulkResponse", 2)?;
        s.serialize_field("schemas", &[BULK_RESPONSE])?;
        s.serialize_field("Operations", &self.operations)?;
        s.end()
    }
}

/// The result of one bulk operation (RFC 7644 §3.7.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperationResponse {
    /// The operation's method.
    pub method: BulkMethod,
    /// The operation's `bulkId`, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The resource's version after the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource's URL; absent only when a POST failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The HTTP status, as a string (`"201"`) like every SCIM status.
    pub status: String,
    /// The body: the error for a failed operation; optional otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

impl BulkOperationResponse {
    /// A successful operation: `status` is 201 for a POST, 200 or 204 otherwise.
    #[must_use]
    pub fn success(
        operation: &BulkOperation,
        status: u16,
        location: Option<String>,
        version: Option<String>,
    ) -> Self {
        Self {
            method: operation.method,
            bulk_id: operation.bulk_id.clone(),
            version,
            location,
            status: status.to_string(),
            response: None,
        }
    }

    /// A failed operation, with the error as its `response` (RFC 7644 §3.7.3). `location`
    /// is the target resource's URL, which a failed POST does not have.
    #[must_use]
    pub fn error(operation: &BulkOperation, error: &ScimError, location: Option<String>) -> Self {
        Self {
            method: operation.method,
            bulk_id: operation.bulk_id.clone(),
            version: None,
            location,
            status: error.status.to_string(),
            response: Some(error.to_json()),
        }
    }

    /// Whether the operation failed (a status of 400 or more).
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.status.parse::<u16>().map_or(true, |s| s >= 400)
    }
}

/// The `bulkId`s referred to anywhere in `data` (`"bulkId:qwerty"` → `qwerty`), each once,
/// in document order.
#[must_use]
pub fn referenced_bulk_ids(data: &Value) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => {
                if let Some(id) = s.strip_prefix(BULK_ID_PREFIX)
                    && !out.iter().any(|o| o == id)
                {
                    out.push(id.to_owned());
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(obj) => obj.values().for_each(|v| walk(v, out)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(data, &mut out);
    out
}

/// Replaces every `"bulkId:<id>"` string in `data` with the id the provider assigned to
/// `<id>`. If any reference is missing from `ids`, returns `409` naming it and changes
/// nothing.
pub fn resolve_bulk_ids(data: &mut Value, ids: &HashMap<String, String>) -> Result<(), ScimError> {
    fn walk(value: &mut Value, ids: &HashMap<String, String>) {
        match value {
            Value::String(s) => {
                if let Some(real) = s.strip_prefix(BULK_ID_PREFIX).and_then(|id| ids.get(id)) {
                    *s = real.clone();
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, ids)),
            Value::Object(obj) => obj.values_mut().for_each(|v| walk(v, ids)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    if let Some(missing) = referenced_bulk_ids(data)
        .into_iter()
        .find(|id| !ids.contains_key(id))
    {
        return Err(unresolved(&missing));
    }
    walk(data, ids);
    Ok(())
}

fn unresolved(bulk_id: &str) -> ScimError {
    ScimError::new(
        409,
        None,
        format!("bulkId '{bulk_id}' does not refer to a resource created by this bulk request"),
    )
}

/// The error for an operation left out of [`ExecutionPlan::order`] because it is part of a
/// circular reference (RFC 7644 §3.7.1): `409`, naming its `bulkId`.
#[must_use]
pub fn circular_reference(operation: &BulkOperation) -> ScimError {
    let who = operation.bulk_id.as_deref().map_or_else(
        || format!("{} {}", operation.method, operation.path),
        |id| format!("bulkId '{id}'"),
    );
    ScimError::new(
        409,
        None,
        format!(
            "{who} is part of a circular bulkId reference, which this service provider does not resolve"
        ),
    )
}

/// In what order to run a request's operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionPlan {
    /// Indexes into the request's operations: every POST before the operations that refer to
    /// its `bulkId`, otherwise in request order.
    pub order: Vec<usize>,
    /// Operations that refer to each other in a cycle (directly, or through other
    /// operations), in request order. They are not in `order`: report each with
    /// [`circular_reference`], or resolve the cycle another way (create without the
    /// references, then PATCH them in).
    pub circular: Vec<usize>,
}

/// Orders the operations so that each POST runs before the operations that refer to its
/// `bulkId` (RFC 7644 §3.7.2), keeping request order where references do not decide it, and
/// separates circular references (RFC 7644 §3.7.1).
///
/// Only POST operations declare a `bulkId` others can refer to. A reference to a `bulkId`
/// no operation declares does not affect the order; it fails when resolved. Two operations
/// declaring the same `bulkId` are `400 invalidValue` for the whole request: references to
/// it would be ambiguous.
pub fn execution_order(operations: &[BulkOperation]) -> Result<ExecutionPlan, ScimError> {
    let mut declared: HashMap<&str, usize> = HashMap::new();
    for (i, op) in operations.iter().enumerate() {
        if let Some(id) = op.bulk_id.as_deref()
            && declared.insert(id, i).is_some()
        {
            return Err(ScimError::invalid_value(format!(
                "bulkId '{id}' is used by more than one operation"
            )));
        }
    }
    let deps: Vec<Vec<usize>> = operations
        .iter()
        .map(|op| {
            op.references()
                .iter()
                .filter_map(|id| declared.get(id.as_str()).copied())
                .filter(|&j| operations[j].method == BulkMethod::Post)
                .collect()
        })
        .collect();

    // Tarjan's strongly connected components, edges pointing at dependencies: components
    // come out dependencies first, and roots are visited in request order.
    let mut tarjan = Tarjan::new(&deps);
    for i in 0..operations.len() {
        if tarjan.index[i].is_none() {
            tarjan.connect(i);
        }
    }
    let mut plan = ExecutionPlan::default();
    for component in tarjan.components {
        if component.len() == 1 && !deps[component[0]].contains(&component[0]) {
            plan.order.push(component[0]);
        } else {
            plan.circular.extend(component);
        }
    }
    plan.circular.sort_unstable();
    Ok(plan)
}

/// Tarjan's algorithm over at most a few thousand operations (the bulk limit bounds the
/// recursion depth).
struct Tarjan<'a> {
    deps: &'a [Vec<usize>],
    next: usize,
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    stack: Vec<usize>,
    on_stack: Vec<bool>,
    components: Vec<Vec<usize>>,
}

impl<'a> Tarjan<'a> {
    fn new(deps: &'a [Vec<usize>]) -> Self {
        let n = deps.len();
        Self {
            deps,
            next: 0,
            index: vec![None; n],
            low: vec![0; n],
            stack: Vec::new(),
            on_stack: vec![false; n],
            components: Vec::new(),
        }
    }

    fn connect(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.deps[v] {
            match self.index[w] {
                None => {
                    self.connect(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort_unstable();
            self.components.push(component);
        }
    }
}

/// The provider's bulk limits (RFC 7644 §3.7.4), advertised in `/ServiceProviderConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLimits {
    /// The most operations one request may hold (`bulk.maxOperations`).
    pub max_operations: usize,
    /// The largest request body, in bytes (`bulk.maxPayloadSize`).
    pub max_payload_bytes: usize,
}

impl Default for BulkLimits {
    /// 1000 operations and 1 MiB, the figures of RFC 7644's examples.
    fn default() -> Self {
        Self {
            max_operations: 1000,
            max_payload_bytes: 1_048_576,
        }
    }
}

impl BulkLimits {
    /// `413` if a body of `bytes` is over `maxPayloadSize`. Check before parsing it.
    pub fn check_payload_size(&self, bytes: usize) -> Result<(), ScimError> {
        if bytes > self.max_payload_bytes {
            return Err(ScimError::new(
                413,
                None,
                format!(
                    "The size of the bulk operation exceeds the maxPayloadSize ({}).",
                    self.max_payload_bytes
                ),
            ));
        }
        Ok(())
    }

    /// `413` if the request holds more than `maxOperations` operations.
    pub fn check(&self, request: &BulkRequest) -> Result<(), ScimError> {
        if request.operations.len() > self.max_operations {
            return Err(ScimError::new(
                413,
                None,
                format!(
                    "The number of operations exceeds the maxOperations ({}).",
                    self.max_operations
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(
        method: BulkMethod,
        path: &str,
        bulk_id: Option<&str>,
        data: Option<Value>,
    ) -> BulkOperation {
        BulkOperation {
            method,
            bulk_id: bulk_id.map(str::to_owned),
            version: None,
            path: path.to_owned(),
            data,
        }
    }

    fn group_with_member(bulk_id: &str, member: &str) -> BulkOperation {
        op(
            BulkMethod::Post,
            "/Groups",
            Some(bulk_id),
            Some(json!({"displayName": bulk_id, "members": [{"value": member}]})),
        )
    }

    #[test]
    fn methods_are_case_insensitive_on_input() {
        for (s, m) in [
            ("post", BulkMethod::Post),
            ("Put", BulkMethod::Put),
            ("PATCH", BulkMethod::Patch),
            ("delete", BulkMethod::Delete),
        ] {
            assert_eq!(serde_json::from_value::<BulkMethod>(json!(s)).unwrap(), m);
        }
        assert!(serde_json::from_value::<BulkMethod>(json!("GET")).is_err());
        assert_eq!(
            serde_json::to_value(BulkMethod::Patch).unwrap(),
            json!("PATCH")
        );
    }

    #[test]
    fn finds_references_anywhere() {
        let data = json!({
            "members": [{"value": "bulkId:qwerty"}, {"value": "plain"}, {"value": "bulkId:ytrewq"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "bulkId:boss"}},
            "again": "bulkId:qwerty",
            "n": 1
        });
        assert_eq!(referenced_bulk_ids(&data), ["qwerty", "ytrewq", "boss"]);
        let patch = op(
            BulkMethod::Patch,
            "/Groups/bulkId:grp",
            None,
            Some(
                json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}]}]}),
            ),
        );
        assert_eq!(patch.references(), ["grp", "u1"]);
    }

    #[test]
    fn resolves_references_or_changes_nothing() {
        let ids = HashMap::from([("qwerty".to_owned(), "92b725cd".to_owned())]);
        let mut data = json!({"members": [{"value": "bulkId:qwerty", "type": "User"}]});
        resolve_bulk_ids(&mut data, &ids).unwrap();
        assert_eq!(
            data,
            json!({"members": [{"value": "92b725cd", "type": "User"}]})
        );

        let mut data = json!({"members": [{"value": "bulkId:qwerty"}, {"value": "bulkId:nope"}]});
        let before = data.clone();
        let e = resolve_bulk_ids(&mut data, &ids).unwrap_err();
        assert_eq!((e.status, e.scim_type), (409, None));
        assert!(e.detail.contains("'nope'"), "{}", e.detail);
        assert_eq!(data, before);

        let mut patch = op(BulkMethod::Delete, "/Users/bulkId:qwerty", None, None);
        patch.resolve(&ids).unwrap();
        assert_eq!(patch.path, "/Users/92b725cd");
    }

    #[test]
    fn orders_creations_before_their_references() {
        let ops = vec![
            group_with_member("grp", "bulkId:alice"),
            op(BulkMethod::Delete, "/Users/x", None, None),
            op(
                BulkMethod::Post,
                "/Users",
                Some("alice"),
                Some(json!({"userName": "alice"})),
            ),
            op(
                BulkMethod::Patch,
                "/Groups/bulkId:grp",
                None,
                Some(json!({"Operations": []})),
            ),
        ];
        let plan = execution_order(&ops).unwrap();
        assert_eq!(plan.order, [2, 0, 1, 3]);
        assert!(plan.circular.is_empty());
    }

    #[test]
    fn detects_circular_references() {
        let ops = vec![
            group_with_member("a", "bulkId:b"),
            group_with_member("b", "bulkId:a"),
            group_with_member("self", "bulkId:self"),
            group_with_member("c", "bulkId:a"),
            group_with_member("d", "bulkId:undeclared"),
        ];
        let plan = execution_order(&ops).unwrap();
        assert_eq!(plan.circular, [0, 1, 2]);
        assert_eq!(plan.order, [3, 4]);
        let e = circular_reference(&ops[0]);
        assert_eq!(e.status, 409);
        assert!(e.detail.contains("bulkId 'a'"), "{}", e.detail);
    }

    #[test]
    fn duplicate_bulk_ids_are_rejected() {
        let ops = vec![group_with_member("a", "x"), group_with_member("a", "y")];
        let e = execution_order(&ops).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("'a'"));
    }

    #[test]
    fn limits_answer_413_naming_the_limit() {
        let limits = BulkLimits {
            max_operations: 1,
            max_payload_bytes: 1_048_576,
        };
        let e = limits.check_payload_size(1_048_577).unwrap_err();
        assert_eq!(e.status, 413);
        assert_eq!(
            e.detail,
            "The size of the bulk operation exceeds the maxPayloadSize (1048576)."
        );
        assert!(limits.check_payload_size(1_048_576).is_ok());

        let two = BulkRequest {
            fail_on_errors: None,
            operations: vec![group_with_member("a", "x"), group_with_member("b", "y")],
        };
        let e = limits.check(&two).unwrap_err();
        assert_eq!(e.status, 413);
        assert!(e.detail.contains("maxOperations (1)"), "{}", e.detail);
    }

    #[test]
    fn fail_on_errors() {
        let mut req = BulkRequest {
            fail_on_errors: None,
            operations: Vec::new(),
        };
        assert!(!req.should_stop(100));
        req.fail_on_errors = Some(1);
        assert!(!req.should_stop(0));
        assert!(req.should_stop(1));
    }

    #[test]
    fn operation_shape_is_checked() {
        assert!(
            op(BulkMethod::Delete, "/Users/1", None, None)
                .check()
                .is_ok()
        );
        assert!(op(BulkMethod::Post, "/Users", None, None).check().is_err());
        assert!(
            op(BulkMethod::Put, "Users/1", None, Some(json!({})))
                .check()
                .is_err()
        );
        assert!(
            op(BulkMethod::Post, "/Users", Some(""), Some(json!({})))
                .check()
                .is_err()
        );
    }

    #[test]
    fn error_response_carries_the_error_body() {
        let post = op(BulkMethod::Post, "/Users", Some("qwerty"), Some(json!({})));
        let r = BulkOperationResponse::error(
            &post,
            &ScimError::invalid_syntax("Request is unparsable"),
            None,
        );
        assert!(r.is_error());
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({
                "method": "POST",
                "bulkId": "qwerty",
                "status": "400",
                "response": {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": "400",
                    "scimType": "invalidSyntax",
                    "detail": "Request is unparsable"
                }
            })
        );
        assert!(!BulkOperationResponse::success(&post, 201, None, None).is_error());
    }
}
