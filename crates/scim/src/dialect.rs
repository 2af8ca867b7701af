//! IdP dialects: the one place where what real clients send is turned into standard SCIM.
//!
//! Microsoft Entra ID and Okta do not always speak RFC 7644. Their quirks are accepted here,
//! in small named steps, so that the rest of the crate (PATCH, filters, projection) only ever
//! sees the standard form. Each step says which client needs it and why; none of them changes
//! the meaning of a standard request.
//!
//! | step | who sends it |
//! |---|---|
//! | [`coerce_value`]: `"True"`/`"False"` strings → booleans, *only* where the schema says boolean | Entra (`active`, `primary`), Microsoft's validator |
//! | [`coerce_value`]: a bare id for a complex reference (`"manager": "271"`) → `{"value":"271"}` | Entra (default job) |
//! | [`coerce_value`]: a one-element array for a single-valued complex attribute → the element | Entra ("Example 5" manager) |
//! | [`coerce_value`]: `null` sub-attributes (`"$ref": null`) dropped | Entra group member adds |
//! | [`is_clearing`]: `""`, `null`, `{"value":""}` on a complex attribute clear it | Entra, the validator (manager removal) |
//! | [`normalize_resource`]: URN-qualified top-level keys (`urn:…:User:department`) folded into their extension object; key case canonicalised; `null` = absent; read-only and write-only attributes dropped | Entra custom extensions, Microsoft's Postman suite (`"Manager"`), Okta PUT (`id`, `meta`, `groups`), Okta's random `password` |
//! | [`normalize_patch`]: `op` case-insensitive (`"Replace"`) | Entra (default job) |
//! | [`normalize_patch`]: a path-less `add`/`replace` split into one operation per key, keys being attribute paths (`"name.givenName"`, `"urn:…:User:employeeNumber"`) | Entra (`aadOptscim062020`), the validator, Okta (`{"active":false}`) |
//! | [`normalize_patch`]: `remove` with a `value` array (`members`) → remove exactly those values | Entra (default job) |
//! | [`normalize_patch`]: a `schemas` member inside an extension's value (`"path": "urn:…:enterprise:2.0:User", "value": {"schemas": ["urn:…:enterprise:2.0:User"], …}`) ignored when it names just that extension | scim2-client (python-scim), and so scim2-tester |
//!
//! Two further accommodations live in the PATCH engine itself, because they depend on the
//! resource's current state: an `add` or `replace` on a value path that matches no element
//! creates it (Entra's `emails[type eq "work"].value`), and a read-only attribute written with
//! its current value is a no-op (Okta's rename carries the group's `id`).

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::{CompValue, CompareOp, Filter};
use crate::path::{AttrPath, PatchPath, is_urn, split_urn};
use crate::schema::{AttributeDef, AttributeType, Mutability, ResourceSchema};

/// A PATCH operation kind (RFC 7644 §3.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `add`.
    Add,
    /// `remove`.
    Remove,
    /// `replace`.
    Replace,
}

/// What a normalised operation acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// An attribute, sub-attribute or value path.
    Path(PatchPath),
    /// A whole extension object (`path` is the extension's URN).
    Extension(String),
}

/// One PATCH operation in standard form: a known kind and a parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// add, remove or replace.
    pub kind: OpKind,
    /// Where it acts.
    pub target: Target,
    /// The value, already coerced to the schema's types. `None` for `remove`.
    pub value: Option<Value>,
}

/// Finds the key of `map` that equals `name` ignoring ASCII case (RFC 7643 §2.1).
pub(crate) fn find_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_owned());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Whether `v` means "no value": `null`, `""`, or an object whose every member is one of those
/// (`{"value":""}`, Entra's manager removal). RFC 7644 §3.5.2.3 treats them as removal.
#[must_use]
pub fn is_clearing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.values().all(is_clearing),
        Value::Array(a) => a.iter().all(is_clearing),
        _ => false,
    }
}

/// Coerces one value to the shape `def` declares, applying the dialect steps listed above.
///
/// `as_element` coerces a single element of a multi-valued attribute. It never fails: a value
/// that cannot be coerced is left as it is for [`check_value`] to reject with a clear error.
pub fn coerce_value(value: &mut Value, def: &AttributeDef, as_element: bool) {
    if def.multi_valued && !as_element {
        // A single element where an array is expected: clients do send it.
        if !value.is_array() && !value.is_null() {
            let one = value.take();
            *value = Value::Array(vec![one]);
        }
        if let Value::Array(items) = value {
            items.retain(|v| !v.is_null());
            for item in items.iter_mut() {
                coerce_value(item, def, true);
            }
        }
        return;
    }
    match def.ty {
        AttributeType::Boolean => {
            if let Value::String(s) = value {
                if s.eq_ignore_ascii_case("true") {
                    *value = Value::Bool(true);
                } else if s.eq_ignore_ascii_case("false") {
                    *value = Value::Bool(false);
                }
            }
        }
        AttributeType::Complex => {
            // Entra: a one-element array for a single-valued complex attribute.
            if !def.multi_valued
                && let Value::Array(items) = value
                && items.len() == 1
            {
                let one = items.remove(0);
                *value = one;
            }
            // Entra: `"manager": "271"` means `{"value": "271"}`.
            if let Value::String(s) = value
                && def.sub_attribute("value").is_some()
            {
                let id = std::mem::take(s);
                *value = if id.is_empty() {
                    Value::Null
                } else {
                    serde_json::json!({ "value": id })
                };
            }
            if let Value::Object(obj) = value {
                canonicalise_object(obj, &def.sub_attributes);
            }
        }
        _ => {}
    }
}

/// Renames keys to the schema's spelling, drops `null` members and coerces known ones.
fn canonicalise_object(obj: &mut Map<String, Value>, defs: &[AttributeDef]) {
    let old = std::mem::take(obj);
    for (key, mut v) in old {
        if v.is_null() {
            continue;
        }
        match defs.iter().find(|d| d.name.eq_ignore_ascii_case(&key)) {
            Some(d) => {
                coerce_value(&mut v, d, false);
                if !v.is_null() {
                    obj.insert(d.name.clone(), v);
                }
            }
            None => {
                obj.insert(key, v);
            }
        }
    }
}

/// Checks that a (coerced) value has the type `def` declares: 400 `invalidValue` otherwise.
///
/// Unknown sub-attributes of complex values are accepted and kept, as IdPs send them.
pub fn check_value(
    value: &Value,
    def: &AttributeDef,
    as_element: bool,
    name: &str,
) -> Result<(), ScimError> {
    if def.multi_valued && !as_element {
        let Value::Array(items) = value else {
            return Err(ScimError::invalid_value(format!(
                "'{name}' must be an array"
            )));
        };
        return items
            .iter()
            .try_for_each(|v| check_value(v, def, true, name));
    }
    let ok = match def.ty {
        AttributeType::String | AttributeType::Reference | AttributeType::Binary => {
            value.is_string()
        }
        AttributeType::DateTime => value.as_str().is_some_and(is_date_time),
        AttributeType::Boolean => value.is_boolean(),
        AttributeType::Integer => value.is_i64() || value.is_u64(),
        AttributeType::Decimal => value.is_number(),
        AttributeType::Complex => {
            let Value::Object(obj) = value else {
                return Err(ScimError::invalid_value(format!(
                    "'{name}' must be an object"
                )));
            };
            for (k, v) in obj {
                if let Some(sub) = def.sub_attribute(k) {
                    check_value(v, sub, false, &format!("{name}.{}", sub.name))?;
                }
            }
            true
        }
    };
    if ok {
        Ok(())
    } else {
        let ty = match def.ty {
            AttributeType::String => "a string",
            AttributeType::Reference => "a reference (string)",
            AttributeType::Binary => "base64 (string)",
            AttributeType::DateTime => "a dateTime (RFC 3339 string)",
            AttributeType::Boolean => "a boolean",
            AttributeType::Integer => "an integer",
            AttributeType::Decimal => "a number",
            AttributeType::Complex => "an object",
        };
        Err(ScimError::invalid_value(format!("'{name}' must be {ty}")))
    }
}

/// A loose `xsd:dateTime` check: `YYYY-MM-DDTHH:MM:SS`, then anything (fraction, zone).
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
}

/// Brings a POST or PUT body into standard form for `schema` (see the module table).
///
/// - URN-qualified top-level keys are folded into their extension object, known or not;
/// - known attribute names get the schema's spelling, values are coerced, `null` means absent;
/// - read-only attributes (`id`, `meta`, `groups`) and write-only ones (`password`) are dropped:
///   the server sets the former, and Roster does not keep passwords;
/// - `schemas` lists the core schema and every extension present.
///
/// Then types and required attributes are checked: 400 `invalidValue`, or `invalidSyntax` when
/// the body is not an object.
pub fn normalize_resource(
    body: Value,
    schema: &ResourceSchema,
) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(input) = body else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    let mut out = Map::new();
    let mut extensions: Vec<(String, Map<String, Value>)> = Vec::new();
    let ext_entry = |urn: &str, extensions: &mut Vec<(String, Map<String, Value>)>| -> usize {
        let canonical = schema.schema(urn).map_or(urn, |s| s.id.as_str()).to_owned();
        match extensions
            .iter()
            .position(|(u, _)| u.eq_ignore_ascii_case(&canonical))
        {
            Some(i) => i,
            None => {
                extensions.push((canonical, Map::new()));
                extensions.len() - 1
            }
        }
    };
    for (key, value) in input {
        if value.is_null() || key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let urn_key = is_urn(&key);
        if urn_key && schema.core.id.eq_ignore_ascii_case(&key) {
            // The core schema's URN as a key: its members are top-level attributes.
            if let Value::Object(inner) = value {
                for (k, v) in inner {
                    out.insert(k, v);
                }
            }
        } else if urn_key && (schema.extension(&key).is_some() || value.is_object()) {
            // A whole extension object, known or custom.
            let i = ext_entry(&key, &mut extensions);
            if let Value::Object(inner) = value {
                for (k, v) in inner {
                    extensions[i].1.insert(k, v);
                }
            }
        } else if urn_key {
            // `urn:…:User:department`: one extension attribute at the top level (Entra).
            let (urn, attr) = split_urn(&key);
            let urn = urn.unwrap_or_default();
            if schema.core.id.eq_ignore_ascii_case(urn) {
                out.insert(attr.to_owned(), value);
            } else {
                let i = ext_entry(urn, &mut extensions);
                extensions[i].1.insert(attr.to_owned(), value);
            }
        } else {
            out.insert(key, value);
        }
    }

    let mut result = Map::new();
    let mut schemas = vec![Value::String(schema.core.id.clone())];
    result.insert("schemas".into(), Value::Null); // placeholder keeps `schemas` first
    normalise_attributes(
        out,
        schema.common().iter().chain(&schema.core.attributes),
        &mut result,
    )?;
    for (urn, mut attrs) in extensions {
        // scim2-client (and so scim2-tester) puts the extension's own URN in a `schemas` inside
        // the extension object; the resource's `schemas` already says it.
        if let Some(k) = find_key(&attrs, "schemas")
            && attrs.get(&k).is_some_and(|v| names_only(v, &urn))
        {
            attrs.remove(&k);
        }
        let mut obj = Map::new();
        match schema.extension(&urn) {
            Some(ext) => normalise_attributes(attrs, ext.attributes.iter(), &mut obj)?,
            None => obj = attrs.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        }
        if !obj.is_empty() {
            schemas.push(Value::String(urn.clone()));
            result.insert(urn, Value::Object(obj));
        }
    }
    result.insert("schemas".into(), Value::Array(schemas));

    for def in schema.core.attributes.iter().filter(|d| d.required) {
        if result.get(&def.name).is_none_or(is_clearing) {
            return Err(ScimError::invalid_value(format!(
                "'{}' is required",
                def.name
            )));
        }
    }
    for ext in schema.extensions.iter().filter(|e| e.required) {
        if !result.contains_key(&ext.schema.id) {
            return Err(ScimError::invalid_value(format!(
                "the extension '{}' is required",
                ext.schema.id
            )));
        }
    }
    Ok(result)
}

fn normalise_attributes<'a>(
    input: Map<String, Value>,
    defs: impl Iterator<Item = &'a AttributeDef> + Clone,
    out: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    for (key, mut value) in input {
        if value.is_null() {
            continue;
        }
        match defs.clone().find(|d| d.name.eq_ignore_ascii_case(&key)) {
            Some(def) => {
                if matches!(def.mutability, Mutability::ReadOnly | Mutability::WriteOnly) {
                    continue;
                }
                coerce_value(&mut value, def, false);
                if value.is_null() {
                    continue;
                }
                check_value(&value, def, false, &def.name)?;
                out.insert(def.name.clone(), value);
            }
            None => {
                out.insert(key, value);
            }
        }
    }
    Ok(())
}

/// One operation of a PATCH body as sent: `op`, `path` and `value`, not yet interpreted.
#[derive(Debug, Clone, PartialEq)]
pub struct RawOperation {
    /// The `op` member as sent (`"Replace"`, `"add"`).
    pub op: String,
    /// The `path` member; absent, `null` and blank all mean no path.
    pub path: Option<String>,
    /// The `value` member.
    pub value: Option<Value>,
}

/// The raw operations of a PATCH request body (RFC 7644 §3.5.2), read leniently: member names
/// in any case (`Operations`, `operations`; `op`, `Op`), unknown members ignored.
pub fn read_patch(body: &Value) -> Result<Vec<RawOperation>, ScimError> {
    let Value::Object(obj) = body else {
        return Err(ScimError::invalid_syntax(
            "the PATCH body must be a JSON object",
        ));
    };
    let ops = find_key(obj, "Operations")
        .and_then(|k| obj.get(&k))
        .ok_or_else(|| ScimError::invalid_syntax("the PATCH body has no 'Operations'"))?;
    let Value::Array(ops) = ops else {
        return Err(ScimError::invalid_syntax("'Operations' must be an array"));
    };
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let Value::Object(op) = op else {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {i} must be an object"
                )));
            };
            let get = |name: &str| find_key(op, name).and_then(|k| op.get(&k));
            let kind = match get("op") {
                Some(Value::String(s)) => s.clone(),
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "operation {i} has no 'op'"
                    )));
                }
            };
            let path = match get("path") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => Some(s.trim().to_owned()),
                Some(_) => {
                    return Err(ScimError::invalid_path(format!(
                        "operation {i}: 'path' must be a string"
                    )));
                }
            };
            Ok(RawOperation {
                op: kind,
                path,
                value: get("value").cloned(),
            })
        })
        .collect()
}

/// Turns a PATCH request body into standard operations for `schema` (see the module table).
pub fn normalize_patch(body: &Value, schema: &ResourceSchema) -> Result<Vec<Op>, ScimError> {
    let mut out = Vec::new();
    for RawOperation {
        op: kind,
        path,
        value,
    } in read_patch(body)?
    {
        let kind = if kind.eq_ignore_ascii_case("add") {
            OpKind::Add
        } else if kind.eq_ignore_ascii_case("replace") {
            OpKind::Replace
        } else if kind.eq_ignore_ascii_case("remove") {
            OpKind::Remove
        } else {
            return Err(ScimError::invalid_syntax(format!(
                "unknown PATCH op '{kind}': expected add, remove or replace"
            )));
        };
        match path {
            None => {
                if kind == OpKind::Remove {
                    return Err(ScimError::no_target("a 'remove' operation needs a 'path'"));
                }
                let Some(Value::Object(map)) = value else {
                    return Err(ScimError::invalid_value(
                        "an 'add' or 'replace' without 'path' needs an object 'value'",
                    ));
                };
                expand_pathless(kind, None, map, schema, &mut out)?;
            }
            Some(p) => {
                if let Some(ext) = schema.extension(&p) {
                    let urn = ext.id.clone();
                    match (kind, value) {
                        (OpKind::Remove, _) => out.push(Op {
                            kind,
                            target: Target::Extension(urn),
                            value: None,
                        }),
                        (_, Some(Value::Object(map))) => {
                            expand_pathless(kind, Some(&urn), map, schema, &mut out)?
                        }
                        _ => {
                            return Err(ScimError::invalid_value(format!(
                                "the value for '{urn}' must be an object"
                            )));
                        }
                    }
                    continue;
                }
                let path = PatchPath::parse(&p)
                    .map_err(|e| ScimError::invalid_path(format!("invalid path '{p}': {e}")))?;
                push_op(kind, path, value, schema, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// A path-less `add`/`replace` (or one on an extension URN): each key is an attribute path.
fn expand_pathless(
    kind: OpKind,
    urn: Option<&str>,
    map: Map<String, Value>,
    schema: &ResourceSchema,
    out: &mut Vec<Op>,
) -> Result<(), ScimError> {
    for (key, value) in map {
        if key.eq_ignore_ascii_case("schemas") {
            match urn {
                // The resource's own `schemas`: recomputed from the extensions present.
                None => continue,
                // An extension object that names itself (scim2-client): not an attribute.
                Some(u)
                    if names_only(&value, u)
                        && schema
                            .schema(u)
                            .is_some_and(|s| s.attribute(&key).is_none()) =>
                {
                    continue;
                }
                Some(_) => {}
            }
        }
        if urn.is_none()
            && let Some(ext) = schema.schema(&key)
        {
            let Value::Object(inner) = value else {
                return Err(ScimError::invalid_value(format!(
                    "the value for '{key}' must be an object"
                )));
            };
            let id = ext.id.clone();
            expand_pathless(kind, Some(&id), inner, schema, out)?;
            continue;
        }
        let text = match urn {
            Some(u) => format!("{u}:{key}"),
            None => key.clone(),
        };
        let attr = AttrPath::parse(&text).map_err(|e| ScimError::invalid_path(e.to_string()))?;
        let path = PatchPath {
            attr,
            filter: None,
            sub: None,
        };
        push_op(kind, path, Some(value), schema, out)?;
    }
    Ok(())
}

/// Whether `value` is a `schemas` list naming exactly the extension `urn` (in any case).
fn names_only(value: &Value, urn: &str) -> bool {
    matches!(value, Value::Array(items)
        if !items.is_empty()
            && items.iter().all(|i| i.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn))))
}

/// Coerces the value of one operation and applies the `remove`-with-values dialect.
fn push_op(
    kind: OpKind,
    path: PatchPath,
    mut value: Option<Value>,
    schema: &ResourceSchema,
    out: &mut Vec<Op>,
) -> Result<(), ScimError> {
    let resolved = schema.resolve(&path.attr);
    if let (Some(r), Some(v)) = (resolved.as_ref(), value.as_mut()) {
        // The definition the value is for: a value path's trailing sub-attribute, or the
        // attribute (an element of it when a filter selects elements).
        let (def, as_element) = match &path.sub {
            Some(s) => match r.attr.sub_attribute(s) {
                Some(d) => (d, false),
                None => {
                    return Err(ScimError::invalid_path(format!(
                        "'{}' has no sub-attribute '{s}'",
                        r.attr.name
                    )));
                }
            },
            None => (r.leaf(), path.filter.is_some()),
        };
        coerce_value(v, def, as_element);
        // A multi-valued attribute given a bare object in a filtered op stays an object.
    }

    if kind == OpKind::Remove
        && path.filter.is_none()
        && path.attr.sub.is_none()
        && let Some(v) = value.as_ref().filter(|v| !v.is_null())
        && resolved.is_some_and(|r| r.attr.multi_valued && r.attr.ty == AttributeType::Complex)
    {
        // Entra: `{"op":"Remove","path":"members","value":[{"value":"id"}]}` removes exactly
        // those members. Taken literally (path without filter) it would empty the group.
        let items = match v {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        for item in items {
            let id = item
                .as_object()
                .and_then(|o| find_key(o, "value").and_then(|k| o.get(&k).cloned()))
                .or_else(|| item.is_string().then_some(item.clone()));
            let Some(Value::String(id)) = id else {
                return Err(ScimError::invalid_value(format!(
                    "each value removed from '{}' needs a string 'value'",
                    path.attr
                )));
            };
            out.push(Op {
                kind: OpKind::Remove,
                target: Target::Path(PatchPath {
                    attr: path.attr.clone(),
                    filter: Some(Filter::Compare {
                        path: AttrPath::attr("value"),
                        op: CompareOp::Eq,
                        value: CompValue::String(id),
                    }),
                    sub: None,
                }),
                value: None,
            });
        }
        return Ok(());
    }
    let value = if kind == OpKind::Remove { None } else { value };
    out.push(Op {
        kind,
        target: Target::Path(path),
        value,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ENTERPRISE_USER;
    use serde_json::json;

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                prop_oneof![
                    Just("True".to_owned()),
                    Just(String::new()),
                    "[a-zA-Z0-9 @.:]{0,10}"
                ]
                .prop_map(Value::String),
            ];
            let key = prop_oneof![
                Just("userName".to_owned()),
                Just("active".to_owned()),
                Just("emails".to_owned()),
                Just("primary".to_owned()),
                Just("value".to_owned()),
                Just("manager".to_owned()),
                Just(ENTERPRISE_USER.to_owned()),
                Just(format!("{ENTERPRISE_USER}:manager")),
                Just("urn:x:y:2.0:User:z".to_owned()),
                "[a-zA-Z.:]{1,8}",
            ];
            leaf.prop_recursive(3, 24, 5, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(key.clone(), inner, 0..5)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            /// Any body either fails with a 400 or normalises to a fixed point: normalising the
            /// result again changes nothing (so a resource read back and PUT again is stable).
            #[test]
            fn normalising_never_panics_and_is_idempotent(body in json_value(), user_name in "[a-z]{1,5}") {
                for schema in [ResourceSchema::user(), ResourceSchema::group()] {
                    let mut body = body.clone();
                    if let Value::Object(m) = &mut body {
                        m.insert("userName".into(), Value::String(user_name.clone()));
                        m.insert("displayName".into(), Value::String(user_name.clone()));
                    }
                    match normalize_resource(body, &schema) {
                        Ok(once) => {
                            let twice = normalize_resource(Value::Object(once.clone()), &schema).unwrap();
                            prop_assert_eq!(once, twice);
                        }
                        Err(e) => prop_assert_eq!(e.status, 400),
                    }
                }
            }
        }
    }

    #[test]
    fn coerces_booleans_only_where_the_schema_says_boolean() {
        let user = ResourceSchema::user();
        let body = json!({
            "userName": "True", "active": "False", "displayName": "True",
            "emails": [{"value": "a@b.c", "primary": "True"}],
            "roles": [{"primary": "true", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]
        });
        let r = normalize_resource(body, &user).unwrap();
        assert_eq!(r["active"], json!(false));
        assert_eq!(r["userName"], json!("True"));
        assert_eq!(r["displayName"], json!("True"));
        assert_eq!(r["emails"][0]["primary"], json!(true));
        assert_eq!(r["roles"][0]["primary"], json!(true));
    }

    #[test]
    fn folds_urn_keys_canonicalises_case_and_drops_server_owned_attributes() {
        let user = ResourceSchema::user();
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "UserName": "a@b.c",
            "id": "client-sent", "meta": {"resourceType": "User"}, "groups": [], "password": "s3cret",
            "Emails": [{"Value": "a@b.c", "Primary": "True", "Type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Retail",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Manager": {"Value": "42"}, "schemas": [ENTERPRISE_USER]},
            "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:badge": "B-7",
            "addresses": null,
            "title": null
        });
        let r = normalize_resource(body, &user).unwrap();
        assert_eq!(
            Value::Object(r),
            json!({
                "schemas": [
                    "urn:ietf:params:scim:schemas:core:2.0:User",
                    ENTERPRISE_USER,
                    "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User"
                ],
                "userName": "a@b.c",
                "emails": [{"value": "a@b.c", "primary": true, "type": "work"}],
                ENTERPRISE_USER: {"department": "Retail", "manager": {"value": "42"}},
                "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User": {"badge": "B-7"}
            })
        );
    }

    #[test]
    fn manager_as_bare_id_or_array_becomes_a_complex_value() {
        let user = ResourceSchema::user();
        for manager in [
            json!("271"),
            json!([{"value": "271"}]),
            json!({"value": "271"}),
        ] {
            let r = normalize_resource(
                json!({"userName": "x", ENTERPRISE_USER: {"manager": manager}}),
                &user,
            )
            .unwrap();
            assert_eq!(r[ENTERPRISE_USER]["manager"], json!({"value": "271"}));
        }
    }

    #[test]
    fn rejects_missing_required_and_mistyped_values() {
        let user = ResourceSchema::user();
        let e = normalize_resource(json!({"displayName": "x"}), &user).unwrap_err();
        assert_eq!(
            (e.status, e.scim_type),
            (400, Some(crate::ScimType::InvalidValue))
        );
        assert!(e.detail.contains("userName"));
        let e = normalize_resource(json!({"userName": "x", "active": "yes"}), &user).unwrap_err();
        assert!(
            e.detail.contains("'active' must be a boolean"),
            "{}",
            e.detail
        );
        let e = normalize_resource(json!({"userName": 7}), &user).unwrap_err();
        assert!(e.detail.contains("'userName' must be a string"));
        let e = normalize_resource(json!([1]), &user).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidSyntax));
    }

    #[test]
    fn op_names_are_case_insensitive_and_unknown_ones_rejected() {
        let user = ResourceSchema::user();
        let ops = normalize_patch(
            &json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
            &user,
        )
        .unwrap();
        assert_eq!(ops[0].kind, OpKind::Replace);
        assert_eq!(ops[0].value, Some(json!(false)));
        let e = normalize_patch(
            &json!({"Operations": [{"op": "merge", "path": "active"}]}),
            &user,
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidSyntax));
    }

    #[test]
    fn pathless_values_are_split_into_one_op_per_attribute_path() {
        let user = ResourceSchema::user();
        let ops = normalize_patch(
            &json!({"Operations": [{"op": "replace", "value": {
                "displayName": "Bjfe", "name.givenName": "Kkom",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq",
                ENTERPRISE_USER: {"department": "Sales"}
            }}]}),
            &user,
        )
        .unwrap();
        let paths: Vec<String> = ops
            .iter()
            .map(|o| match &o.target {
                Target::Path(p) => p.to_string(),
                Target::Extension(u) => u.clone(),
            })
            .collect();
        assert_eq!(
            paths,
            [
                "displayName".to_owned(),
                "name.givenName".to_owned(),
                format!("{ENTERPRISE_USER}:employeeNumber"),
                format!("{ENTERPRISE_USER}:department"),
            ]
        );
    }
}
