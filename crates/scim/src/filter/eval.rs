//! [`Filter`] × resource JSON → bool, and [`Filter`] × schema → is it meaningful.
//!
//! Semantics (RFC 7644 §3.4.2.2, RFC 7643 §2):
//!
//! - Attribute names and extension URNs match JSON keys case-insensitively (RFC 7643 §2.1).
//!   Extension attributes live in the object keyed by the extension's URN.
//! - Strings compare by `caseExact`; case-insensitive comparison lowercases both sides
//!   (Unicode). Integers and decimals compare numerically, booleans by `eq`/`ne` only,
//!   dateTimes as instants when both sides parse as RFC 3339 (else as strings).
//! - A multi-valued attribute matches if *any* value matches. A complex attribute compared
//!   without a sub-attribute (`emails co "example.com"`) compares its `value` sub-attribute.
//! - `ne` is the negation of `eq`: `title ne "x"` matches a user with no title, and
//!   `emails.type ne "work"` matches a user with no work email. This keeps `ne v` and
//!   `not (eq v)` the same filter, for stores that compile filters to SQL as much as here.
//! - `eq null` matches an unassigned attribute, `ne null` an assigned one; both mean what
//!   `pr` means (RFC 7643 §2.5: null, `""`, `[]` and `{}` all mean "unassigned").
//! - An attribute the schema does not define is compared by the JSON type it has, strings
//!   case-insensitively; `schemas` is treated as a multi-valued, case-insensitive string.
//!   Use [`Filter::validate`] to reject such filters up front instead.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::LazyLock;

use serde_json::{Map, Number, Value};

use super::{CompValue, CompareOp, Filter};
use crate::ScimError;
use crate::path::AttrPath;
use crate::schema::{AttributeDef, AttributeType, Owner, ResourceSchema};

/// `schemas` is in every resource (RFC 7643 §3) but in no schema's attribute list.
static SCHEMAS: LazyLock<AttributeDef> = LazyLock::new(|| AttributeDef::string("schemas").multi());

impl Filter {
    /// Whether `resource` (a SCIM resource as a JSON object) matches this filter.
    #[must_use]
    pub fn matches(&self, resource: &Value, schema: &ResourceSchema) -> bool {
        eval(self, resource, Scope::Resource(schema))
    }

    /// Whether one element of the multi-valued complex attribute `attr` matches this value
    /// filter, whose paths are relative to the element (`type eq "work"`). PATCH uses it for
    /// `emails[type eq "work"].value`.
    #[must_use]
    pub fn matches_element(&self, element: &Value, attr: &AttributeDef) -> bool {
        eval(self, element, Scope::Element(attr))
    }

    /// Checks that every path exists in `schema` and every operator suits its attribute's
    /// type; the error is a 400 `invalidFilter` naming the attribute.
    pub fn validate(&self, schema: &ResourceSchema) -> Result<(), ScimError> {
        validate(self, Scope::Resource(schema))
    }

    /// [`Filter::validate`] for a value filter over the complex attribute `attr`.
    pub fn validate_element(&self, attr: &AttributeDef) -> Result<(), ScimError> {
        if attr.ty != AttributeType::Complex {
            return Err(ScimError::invalid_filter(format!(
                "'{}' is not a complex attribute, so it cannot take a value filter",
                attr.name
            )));
        }
        validate(self, Scope::Element(attr))
    }
}

/// What paths are relative to: a resource, or one element of a complex attribute.
#[derive(Debug, Clone, Copy)]
enum Scope<'s> {
    Resource(&'s ResourceSchema),
    Element(&'s AttributeDef),
}

/// Case-insensitive key lookup (RFC 7643 §2.1); an exact match is tried first as it is the
/// common case.
fn get_ci<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let obj: &Map<String, Value> = value.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A path looked up in a resource or element.
struct Located<'v, 'd> {
    /// The attribute's value, if the JSON has it.
    value: Option<&'v Value>,
    /// The attribute's definition, if the schema has it.
    attr: Option<&'d AttributeDef>,
    /// The sub-attribute the path names, if any.
    sub: Option<&'v str>,
    /// The sub-attribute's definition, if the path names one and the schema has it.
    sub_def: Option<&'d AttributeDef>,
}

fn locate<'v, 'd>(path: &'v AttrPath, json: &'v Value, scope: Scope<'d>) -> Located<'v, 'd> {
    let sub = path.sub.as_deref();
    match scope {
        Scope::Resource(schema) => {
            if let Some(r) = schema.resolve(path) {
                let value = match r.owner {
                    Owner::Extension(s) => {
                        get_ci(json, &s.id).and_then(|e| get_ci(e, &r.attr.name))
                    }
                    Owner::Common | Owner::Core(_) => get_ci(json, &r.attr.name),
                };
                return Located {
                    value,
                    attr: Some(r.attr),
                    sub,
                    sub_def: r.sub,
                };
            }
            let attr = (path.urn.is_none() && path.name.eq_ignore_ascii_case("schemas"))
                .then_some(&*SCHEMAS);
            let value = match &path.urn {
                Some(urn) => get_ci(json, urn).and_then(|e| get_ci(e, &path.name)),
                None => get_ci(json, &path.name),
            };
            Located {
                value,
                attr,
                sub,
                sub_def: None,
            }
        }
        Scope::Element(parent) => {
            // A value filter's paths are relative to the element: a URN cannot apply, and a
            // sub-attribute of a sub-attribute does not exist in SCIM (RFC 7643 §2.4).
            if path.urn.is_some() {
                return Located {
                    value: None,
                    attr: None,
                    sub,
                    sub_def: None,
                };
            }
            let attr = parent.sub_attribute(&path.name);
            Located {
                value: get_ci(json, &path.name),
                attr,
                sub,
                sub_def: None,
            }
        }
    }
}

/// The values of an array, or the value itself.
fn each(value: &Value) -> impl Iterator<Item = &Value> {
    match value {
        Value::Array(items) => items.as_slice().iter(),
        other => std::slice::from_ref(other).iter(),
    }
}

impl<'v, 'd> Located<'v, 'd> {
    /// The values `pr` and `eq null` look at: the attribute's, or its sub-attribute's.
    fn presence_values(&self) -> Vec<&'v Value> {
        let Some(value) = self.value else {
            return Vec::new();
        };
        match self.sub {
            None => vec![value],
            Some(sub) => each(value).filter_map(|el| get_ci(el, sub)).collect(),
        }
    }

    /// The scalar values a comparison looks at, with the definition that says how to
    /// compare them. A complex attribute without a sub-attribute stands for its `value`.
    fn compared_values(&self) -> (Vec<&'v Value>, Option<&'d AttributeDef>) {
        let Some(value) = self.value else {
            return (Vec::new(), None);
        };
        let (key, def) = match (self.sub, self.attr) {
            (Some(sub), _) => (Some(sub), self.sub_def),
            (None, Some(a)) if a.ty == AttributeType::Complex => {
                (Some("value"), a.sub_attribute("value"))
            }
            (None, Some(a)) => (None, Some(a)),
            // Unknown to the schema: an object is taken as complex, as above.
            (None, None) => {
                let complex = each(value).any(Value::is_object);
                (complex.then_some("value"), None)
            }
        };
        let values = match key {
            None => each(value).collect(),
            // A sub-attribute may itself hold an array (a multi-valued sub-attribute of an
            // extension); its elements are compared one by one too.
            Some(key) => each(value)
                .filter_map(|el| get_ci(el, key))
                .flat_map(each)
                .collect(),
        };
        (values, def)
    }
}

/// RFC 7643 §2.5: null, the empty string, `[]` and `{}` are all "unassigned".
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(members) => members.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn eval(filter: &Filter, json: &Value, scope: Scope<'_>) -> bool {
    match filter {
        Filter::Compare { path, op, value } => {
            let loc = locate(path, json, scope);
            match (value, op) {
                (CompValue::Null, CompareOp::Eq) => {
                    !loc.presence_values().into_iter().any(is_present)
                }
                (CompValue::Null, CompareOp::Ne) => {
                    loc.presence_values().into_iter().any(is_present)
                }
                (CompValue::Null, _) => false,
                (_, CompareOp::Ne) => {
                    let (values, def) = loc.compared_values();
                    !values
                        .into_iter()
                        .any(|v| compare(v, CompareOp::Eq, value, def))
                }
                _ => {
                    let (values, def) = loc.compared_values();
                    values.into_iter().any(|v| compare(v, *op, value, def))
                }
            }
        }
        Filter::Present(path) => locate(path, json, scope)
            .presence_values()
            .into_iter()
            .any(is_present),
        Filter::ValuePath { path, filter } => {
            // A value filter inside a value filter has no meaning (the parser rejects it).
            if matches!(scope, Scope::Element(_)) || path.sub.is_some() {
                return false;
            }
            let loc = locate(path, json, scope);
            let Some(value) = loc.value else {
                return false;
            };
            let unknown;
            let attr = match loc.attr {
                Some(a) if a.ty == AttributeType::Complex => a,
                Some(_) => return false,
                None => {
                    unknown = AttributeDef::complex(path.name.clone(), Vec::new());
                    &unknown
                }
            };
            // A single-valued complex attribute is its own one element: `name[givenName eq "x"]`.
            each(value).any(|el| el.is_object() && eval(filter, el, Scope::Element(attr)))
        }
        Filter::Not(inner) => !eval(inner, json, scope),
        Filter::And(l, r) => eval(l, json, scope) && eval(r, json, scope),
        Filter::Or(l, r) => eval(l, json, scope) || eval(r, json, scope),
    }
}

/// One actual value against the literal. `def` says how; without it, the JSON type does.
/// The literal is never null here.
fn compare(actual: &Value, op: CompareOp, literal: &CompValue, def: Option<&AttributeDef>) -> bool {
    let case_exact = def.is_some_and(|d| d.case_exact);
    let ty = match def.map(|d| d.ty) {
        Some(ty) => ty,
        None => match actual {
            Value::String(_) => AttributeType::String,
            Value::Number(_) => AttributeType::Decimal,
            Value::Bool(_) => AttributeType::Boolean,
            Value::Null | Value::Array(_) | Value::Object(_) => return false,
        },
    };
    match ty {
        AttributeType::String | AttributeType::Reference => {
            match (scalar_text(actual), literal_text(literal)) {
                (Some(a), Some(b)) => compare_text(&a, op, &b, case_exact),
                _ => false,
            }
        }
        AttributeType::Binary => {
            matches!(op, CompareOp::Eq | CompareOp::Ne)
                && match (actual.as_str(), literal_text(literal)) {
                    (Some(a), Some(b)) => compare_text(a, op, &b, true),
                    _ => false,
                }
        }
        AttributeType::Integer | AttributeType::Decimal => {
            match (actual_number(actual), literal_number(literal)) {
                (Some(a), Some(b)) => cmp_numbers(&a, &b).is_some_and(|o| ordering_matches(o, op)),
                _ => false,
            }
        }
        AttributeType::Boolean => match (actual_bool(actual), literal_bool(literal)) {
            (Some(a), Some(b)) => match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                _ => false,
            },
            _ => false,
        },
        AttributeType::DateTime => {
            let (Some(a), Some(b)) = (scalar_text(actual), literal_text(literal)) else {
                return false;
            };
            let ordered = !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
            match (parse_instant(&a), parse_instant(&b)) {
                (Some(x), Some(y)) if ordered => ordering_matches(x.cmp(&y), op),
                _ => compare_text(&a, op, &b, case_exact),
            }
        }
        AttributeType::Complex => false,
    }
}

fn ordering_matches(o: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => o.is_eq(),
        CompareOp::Ne => o.is_ne(),
        CompareOp::Gt => o.is_gt(),
        CompareOp::Ge => o.is_ge(),
        CompareOp::Lt => o.is_lt(),
        CompareOp::Le => o.is_le(),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn compare_text(a: &str, op: CompareOp, b: &str, case_exact: bool) -> bool {
    let (a, b): (Cow<'_, str>, Cow<'_, str>) = if case_exact {
        (a.into(), b.into())
    } else {
        (a.to_lowercase().into(), b.to_lowercase().into())
    };
    match op {
        CompareOp::Co => a.contains(&*b),
        CompareOp::Sw => a.starts_with(&*b),
        CompareOp::Ew => a.ends_with(&*b),
        _ => ordering_matches(a.cmp(&b), op),
    }
}

/// A scalar as text, for string comparison. A number or boolean stored where the schema says
/// string still compares by its JSON text.
fn scalar_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(s.into()),
        Value::Number(n) => Some(n.to_string().into()),
        Value::Bool(b) => Some(b.to_string().into()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn literal_text(l: &CompValue) -> Option<Cow<'_, str>> {
    match l {
        CompValue::String(s) => Some(s.into()),
        CompValue::Number(n) => Some(n.to_string().into()),
        CompValue::Bool(b) => Some(b.to_string().into()),
        CompValue::Null => None,
    }
}

fn actual_number(v: &Value) -> Option<Number> {
    match v {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => serde_json::from_str(s.trim()).ok(),
        _ => None,
    }
}

fn literal_number(l: &CompValue) -> Option<Number> {
    match l {
        CompValue::Number(n) => Some(n.clone()),
        CompValue::String(s) => serde_json::from_str(s.trim()).ok(),
        _ => None,
    }
}

/// Numeric order: exact for integers (as i128, so u64 and i64 mix), else as f64.
fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Entra ID compares booleans with string literals (`active eq "True"`), and some clients
/// store them as strings; both are read case-insensitively.
fn text_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn actual_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => text_bool(s),
        _ => None,
    }
}

fn literal_bool(l: &CompValue) -> Option<bool> {
    match l {
        CompValue::Bool(b) => Some(*b),
        CompValue::String(s) => text_bool(s),
        _ => None,
    }
}

/// A point in time: seconds since the Unix epoch and nanoseconds, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Instant {
    secs: i64,
    nanos: u32,
}

/// Parses the RFC 3339 `date-time` profile SCIM uses (RFC 7643 §2.3.5):
/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`. A hand-written parser keeps the crate free of a
/// time dependency; anything else is `None` and compares as a string.
fn parse_instant(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits
            .iter()
            .try_fold(0i64, |acc, d| Some(acc * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    // 60 admits a leap second; it orders as the next second's start, which is near enough.
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if at(i, b".") {
        let start = i + 1;
        let len = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        // Digits beyond nanoseconds are dropped: RFC 3339 allows any precision.
        for k in 0..9 {
            let d = if k < len {
                u32::from(b[start + k] - b'0')
            } else {
                0
            };
            nanos = nanos * 10 + d;
        }
        i = start + len;
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && at(i + 3, b":") => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset * 60;
    Some(Instant { secs, nanos })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The definition a path names, or an error naming what does not exist.
fn resolve_def<'d>(
    path: &AttrPath,
    scope: Scope<'d>,
) -> Result<(&'d AttributeDef, Option<&'d AttributeDef>), ScimError> {
    match scope {
        Scope::Resource(schema) => {
            if let Some(r) = schema.resolve(path) {
                return Ok((r.attr, r.sub));
            }
            if path.urn.is_none() && path.name.eq_ignore_ascii_case("schemas") && path.sub.is_none()
            {
                return Ok((&SCHEMAS, None));
            }
            match schema.resolve(&path.parent()) {
                Some(r) => Err(ScimError::invalid_filter(format!(
                    "attribute '{}' has no sub-attribute '{}'",
                    r.attr.name,
                    path.sub.as_deref().unwrap_or_default()
                ))),
                None => Err(ScimError::invalid_filter(format!(
                    "unknown attribute '{path}' for resource type {}",
                    schema.name
                ))),
            }
        }
        Scope::Element(parent) => {
            if path.urn.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "'{path}' is URN-qualified, but paths inside a value filter on '{}' are relative",
                    parent.name
                )));
            }
            let Some(attr) = parent.sub_attribute(&path.name) else {
                return Err(ScimError::invalid_filter(format!(
                    "attribute '{}' has no sub-attribute '{}'",
                    parent.name, path.name
                )));
            };
            if path.sub.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "'{}.{path}' names a sub-attribute of a sub-attribute, which SCIM does not have",
                    parent.name
                )));
            }
            Ok((attr, None))
        }
    }
}

fn validate(filter: &Filter, scope: Scope<'_>) -> Result<(), ScimError> {
    match filter {
        Filter::Present(path) => resolve_def(path, scope).map(|_| ()),
        Filter::Compare { path, op, value } => {
            let (attr, sub) = resolve_def(path, scope)?;
            check_operator(path, attr, sub, *op, value)
        }
        Filter::ValuePath { path, filter } => {
            if let Scope::Element(parent) = scope {
                return Err(ScimError::invalid_filter(format!(
                    "value filter on '{path}' inside the value filter on '{}'",
                    parent.name
                )));
            }
            if path.sub.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "value filter on '{path}', a sub-attribute; it goes on the attribute itself"
                )));
            }
            let (attr, _) = resolve_def(path, scope)?;
            if attr.ty != AttributeType::Complex {
                return Err(ScimError::invalid_filter(format!(
                    "value filter on '{path}', which is not a complex attribute"
                )));
            }
            validate(filter, Scope::Element(attr))
        }
        Filter::Not(inner) => validate(inner, scope),
        Filter::And(l, r) | Filter::Or(l, r) => {
            validate(l, scope)?;
            validate(r, scope)
        }
    }
}

/// RFC 7644 §3.4.2.2: ordering operators reject booleans and binaries, and (here) complex
/// attributes without a sub-attribute; `co`/`sw`/`ew` only make sense on text.
fn check_operator(
    path: &AttrPath,
    attr: &AttributeDef,
    sub: Option<&AttributeDef>,
    op: CompareOp,
    value: &CompValue,
) -> Result<(), ScimError> {
    let ordering = matches!(
        op,
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
    );
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let mut leaf = sub.unwrap_or(attr);
    if *value == CompValue::Null {
        // `eq null` / `ne null` test presence, which any attribute has.
        return if matches!(op, CompareOp::Eq | CompareOp::Ne) {
            Ok(())
        } else {
            Err(ScimError::invalid_filter(format!(
                "'{path} {op} null': only eq and ne compare with null"
            )))
        };
    }
    if leaf.ty == AttributeType::Complex {
        if ordering {
            return Err(ScimError::invalid_filter(format!(
                "'{op}' on complex attribute '{path}'; name a sub-attribute"
            )));
        }
        leaf = leaf.sub_attribute("value").ok_or_else(|| {
            ScimError::invalid_filter(format!(
                "complex attribute '{path}' has no 'value' to compare; name a sub-attribute"
            ))
        })?;
    }
    let allowed = match leaf.ty {
        AttributeType::Boolean | AttributeType::Binary => !ordering && !substring,
        AttributeType::Integer | AttributeType::Decimal => !substring,
        AttributeType::String | AttributeType::Reference | AttributeType::DateTime => true,
        AttributeType::Complex => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ScimError::invalid_filter(format!(
            "'{op}' cannot compare '{path}', a {} attribute",
            type_name(leaf.ty)
        )))
    }
}

fn type_name(ty: AttributeType) -> &'static str {
    match ty {
        AttributeType::String => "string",
        AttributeType::Boolean => "boolean",
        AttributeType::Decimal => "decimal",
        AttributeType::Integer => "integer",
        AttributeType::DateTime => "dateTime",
        AttributeType::Binary => "binary",
        AttributeType::Reference => "reference",
        AttributeType::Complex => "complex",
    }
}
