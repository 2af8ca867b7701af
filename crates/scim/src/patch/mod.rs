//! PATCH (RFC 7644 §3.5.2).
//!
//! [`apply`] runs a PATCH request body against a resource: the body is first brought into
//! standard form by [`crate::dialect::normalize_patch`] (Entra's and Okta's shapes), then each
//! operation is applied in order to a working copy. Either every operation succeeds and the
//! resource is replaced by the copy, or the resource is left untouched and the first error is
//! returned (RFC 7644 §3.5.2: "each operation … MUST be applied … atomically").
//!
//! Semantics, per RFC 7644 §3.5.2.1–3 with the choices the RFC leaves open:
//!
//! - `add` on a single-valued attribute replaces it; on a multi-valued one appends the values
//!   not already present; on a complex one merges sub-attributes.
//! - `replace` on a multi-valued attribute without a filter replaces every value; with a filter
//!   it replaces the matching values (or, with a trailing sub-attribute, that sub-attribute of
//!   each). On a single-valued complex attribute it merges sub-attributes, unless the new
//!   `value` differs from the old (`manager`): then it is a different reference and replaces it.
//! - `add`/`replace` on a value path that matches nothing creates the element from the
//!   filter's `eq` terms (`emails[type eq "work"].value` → `{"type":"work","value":…}`), as
//!   Entra ID requires; a filter that is not a conjunction of `eq` terms is `noTarget`.
//! - `remove` of something absent is a no-op (idempotent, as IdPs retry); `remove` without a
//!   path is `noTarget`; removing a required attribute is `invalidValue`.
//! - `null`, `""` and `{"value":""}` as an `add`/`replace` value remove the attribute
//!   (RFC 7644 §3.5.2.3; Entra's manager removal, the gallery kit's null-update test).
//! - Setting `primary` to true on one value sets it to false on the others.
//! - `readOnly` attributes may only be "written" with their current value (a no-op: Okta sends
//!   the group's `id` in a rename); `immutable` ones only while they have no value; writing a
//!   `writeOnly` attribute (`password`) is accepted and discarded (Roster keeps no passwords).
//!
//! With [`PatchOptions::members_as_delta`], operations on a Group's `members` never touch the
//! resource: they fold into a [`MemberDelta`] that a store applies in O(changes).

mod members;

use serde_json::{Map, Value};

pub use self::members::{Member, MemberDelta};
use crate::dialect::{self, Op, OpKind, Target, check_value, find_key, is_clearing};
use crate::error::ScimError;
use crate::filter::{CompValue, CompareOp, Filter};
use crate::path::{PatchPath, is_urn};
use crate::schema::{AttributeDef, AttributeType, Mutability, Owner, Resolved, ResourceSchema};

pub use crate::message::PATCH_OP;

/// How [`apply`] treats the resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PatchOptions {
    /// Route operations on a Group's `members` into [`PatchOutcome::members`] instead of the
    /// resource (the store keeps members as rows).
    pub members_as_delta: bool,
}

/// What a PATCH did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchOutcome {
    /// Whether the resource's attributes changed (so the server can skip the write).
    pub changed: bool,
    /// Membership changes, when [`PatchOptions::members_as_delta`] is set.
    pub members: MemberDelta,
}

/// Applies a PATCH request body (RFC 7644 §3.5.2) to `resource`, atomically.
pub fn apply(
    resource: &mut Map<String, Value>,
    body: &Value,
    schema: &ResourceSchema,
    options: PatchOptions,
) -> Result<PatchOutcome, ScimError> {
    let ops = dialect::normalize_patch(body, schema)?;
    apply_ops(resource, &ops, schema, options)
}

/// Applies already-normalised operations to `resource`, atomically.
pub fn apply_ops(
    resource: &mut Map<String, Value>,
    ops: &[Op],
    schema: &ResourceSchema,
    options: PatchOptions,
) -> Result<PatchOutcome, ScimError> {
    let mut work = resource.clone();
    let mut members = MemberDelta::default();
    for op in ops {
        apply_op(&mut work, op, schema, options, &mut members)?;
    }
    for def in schema.core.attributes.iter().filter(|d| d.required) {
        if work.get(&def.name).is_none_or(is_clearing) {
            return Err(ScimError::invalid_value(format!(
                "'{}' is required and cannot be removed",
                def.name
            )));
        }
    }
    refresh_schemas(&mut work, schema);
    let changed = work != *resource;
    *resource = work;
    Ok(PatchOutcome { changed, members })
}

/// Keeps `schemas` in step with the extension objects present.
fn refresh_schemas(res: &mut Map<String, Value>, schema: &ResourceSchema) {
    let mut list = vec![Value::String(schema.core.id.clone())];
    for (k, v) in res.iter() {
        if is_urn(k) && v.is_object() {
            list.push(Value::String(k.clone()));
        }
    }
    res.insert("schemas".into(), Value::Array(list));
}

fn apply_op(
    res: &mut Map<String, Value>,
    op: &Op,
    schema: &ResourceSchema,
    options: PatchOptions,
    members: &mut MemberDelta,
) -> Result<(), ScimError> {
    let path = match &op.target {
        Target::Extension(urn) => {
            // Only `remove` reaches here: add/replace on an extension URN were expanded.
            if let Some(k) = find_key(res, urn) {
                res.remove(&k);
            }
            return Ok(());
        }
        Target::Path(p) => p,
    };
    let kind = op.kind;
    // A clearing value turns add/replace into remove (RFC 7644 §3.5.2.3).
    let value = match (kind, &op.value) {
        (OpKind::Remove, _) => None,
        (_, None) => {
            return Err(ScimError::invalid_value(
                format!("'{kind:?}' on '{path}' needs a 'value'").to_lowercase(),
            ));
        }
        (_, Some(v)) => Some(v),
    };
    // `null`, `""` and `{"value": ""}` all mean "no value": RFC 7644 §3.5.2.3, and Entra's
    // manager removal. (An empty array is handled where arrays are: it empties the attribute.)
    let clearing = value.is_some_and(|v| !v.is_array() && is_clearing(v));
    let kind = if clearing { OpKind::Remove } else { kind };
    let value = if clearing { None } else { value };

    let Some(r) = schema.resolve(&path.attr) else {
        return apply_unknown(res, kind, path, value, schema);
    };

    if options.members_as_delta && matches!(r.owner, Owner::Core(_)) && r.attr.name == "members" {
        return apply_members(kind, path, value, members);
    }

    // Mutability (RFC 7643 §7).
    let leaf_def = match &path.sub {
        Some(s) => r.attr.sub_attribute(s).ok_or_else(|| {
            ScimError::invalid_path(format!("'{}' has no sub-attribute '{s}'", r.attr.name))
        })?,
        None => r.leaf(),
    };
    for def in [r.attr, leaf_def] {
        match def.mutability {
            Mutability::WriteOnly => return Ok(()),
            Mutability::ReadOnly => {
                // Clients echo `meta` back (Okta's PUT-style bodies): writing it is ignored.
                if r.attr.name == "meta" && kind != OpKind::Remove {
                    return Ok(());
                }
                let current = current_value(res, &r, path);
                return match (kind, value) {
                    (OpKind::Remove, _) => {
                        Err(ScimError::mutability(format!("'{path}' is read-only")))
                    }
                    (_, Some(v)) if current == Some(v) => Ok(()),
                    _ => Err(ScimError::mutability(format!("'{path}' is read-only"))),
                };
            }
            Mutability::Immutable if !def.multi_valued && path.filter.is_none() => {
                let current = current_value(res, &r, path);
                if let Some(cur) = current
                    && !is_clearing(cur)
                    && (kind == OpKind::Remove || value != Some(cur))
                {
                    return Err(ScimError::mutability(format!("'{path}' is immutable")));
                }
            }
            _ => {}
        }
    }
    if kind == OpKind::Remove && path.filter.is_none() && path.attr.sub.is_none() && r.attr.required
    {
        return Err(ScimError::invalid_value(format!(
            "'{}' is required and cannot be removed",
            r.attr.name
        )));
    }

    let urn = r.owner.extension_urn();
    match (&path.filter, &path.attr.sub) {
        (Some(filter), _) => {
            apply_value_path(res, urn, kind, r.attr, filter, path.sub.as_deref(), value)
        }
        (None, Some(_)) => {
            let sub_def = r.sub.unwrap_or(leaf_def);
            apply_sub(res, urn, kind, r.attr, sub_def, value)
        }
        (None, None) => apply_whole(res, urn, kind, r.attr, value),
    }
}

/// The value a resolved path currently has (no filter: for mutability checks).
fn current_value<'a>(
    res: &'a Map<String, Value>,
    r: &Resolved<'_>,
    path: &PatchPath,
) -> Option<&'a Value> {
    if path.filter.is_some() {
        return None;
    }
    let container = match r.owner.extension_urn() {
        Some(urn) => res.get(&find_key(res, urn)?)?.as_object()?,
        None => res,
    };
    let v = container.get(&find_key(container, &r.attr.name)?)?;
    match r.sub {
        Some(sub) => v.as_object().and_then(|o| o.get(&find_key(o, &sub.name)?)),
        None => Some(v),
    }
}

/// The object an attribute lives in: the resource, or its extension object.
fn container_mut<'a>(
    res: &'a mut Map<String, Value>,
    urn: Option<&str>,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    let Some(urn) = urn else {
        return Some(res);
    };
    let key = match find_key(res, urn) {
        Some(k) => k,
        None if create => {
            res.insert(urn.to_owned(), Value::Object(Map::new()));
            urn.to_owned()
        }
        None => return None,
    };
    let slot = res.get_mut(&key)?;
    if !slot.is_object() && create {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// Removes an extension object that no longer holds anything.
fn drop_if_empty(res: &mut Map<String, Value>, urn: Option<&str>) {
    if let Some(urn) = urn
        && let Some(k) = find_key(res, urn)
        && res
            .get(&k)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        res.remove(&k);
    }
}

/// An operation on a whole attribute: `emails`, `active`, `name`, `manager`.
fn apply_whole(
    res: &mut Map<String, Value>,
    urn: Option<&str>,
    kind: OpKind,
    attr: &AttributeDef,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if kind == OpKind::Remove {
        if let Some(c) = container_mut(res, urn, false)
            && let Some(k) = find_key(c, &attr.name)
        {
            c.remove(&k);
        }
        drop_if_empty(res, urn);
        return Ok(());
    }
    let value = value.ok_or_else(|| ScimError::invalid_value("missing value"))?;
    check_value(value, attr, false, &attr.name)?;
    let c = container_mut(res, urn, true).ok_or_else(|| {
        ScimError::invalid_value(format!("'{}' is not an object", urn.unwrap_or_default()))
    })?;
    let key = find_key(c, &attr.name).unwrap_or_else(|| attr.name.clone());
    if attr.multi_valued {
        let new = value.as_array().cloned().unwrap_or_default();
        if new.is_empty() {
            if kind == OpKind::Replace {
                c.remove(&key);
            }
            drop_if_empty(res, urn);
            return Ok(());
        }
        let new_primary = new.iter().any(is_primary);
        let slot = c.entry(key).or_insert_with(|| Value::Array(Vec::new()));
        if kind == OpKind::Replace || !slot.is_array() {
            *slot = Value::Array(Vec::new());
        }
        let items = slot.as_array_mut().expect("just made an array");
        if new_primary {
            clear_primary(items);
        }
        for v in new {
            if !items.contains(&v) {
                items.push(v);
            }
        }
        return Ok(());
    }
    match (c.get_mut(&key), value) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            let different_reference = new
                .get("value")
                .is_some_and(|nv| old.get("value").is_some_and(|ov| ov != nv));
            if different_reference {
                *old = new.clone();
            } else {
                for (k, v) in new {
                    old.insert(k.clone(), v.clone());
                }
            }
        }
        _ => {
            c.insert(key, value.clone());
        }
    }
    Ok(())
}

/// An operation on `attr.sub` without a filter: `name.givenName`, or `emails.display` (every
/// element).
fn apply_sub(
    res: &mut Map<String, Value>,
    urn: Option<&str>,
    kind: OpKind,
    attr: &AttributeDef,
    sub_def: &AttributeDef,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let name = format!("{}.{}", attr.name, sub_def.name);
    if let Some(v) = value {
        check_value(v, sub_def, false, &name)?;
    }
    let Some(c) = container_mut(res, urn, kind != OpKind::Remove) else {
        return Ok(());
    };
    let key = find_key(c, &attr.name).unwrap_or_else(|| attr.name.clone());
    if attr.multi_valued {
        let Some(Value::Array(items)) = c.get_mut(&key) else {
            if kind == OpKind::Remove {
                return Ok(());
            }
            let v = value.expect("add/replace carry a value");
            let mut el = Map::new();
            el.insert(sub_def.name.clone(), v.clone());
            c.insert(key, Value::Array(vec![Value::Object(el)]));
            return Ok(());
        };
        for item in items.iter_mut() {
            if let Value::Object(o) = item {
                set_or_remove(o, &sub_def.name, value);
            }
        }
        if value.is_some_and(|v| sub_def.name == "primary" && v == &Value::Bool(true))
            && items.len() > 1
        {
            return Err(ScimError::invalid_value(format!(
                "'{name}' would make every value primary; select one with a filter"
            )));
        }
        return Ok(());
    }
    match c.get_mut(&key) {
        Some(Value::Object(o)) => {
            set_or_remove(o, &sub_def.name, value);
            if o.is_empty() {
                c.remove(&key);
            }
        }
        _ if kind == OpKind::Remove => {}
        _ => {
            let mut o = Map::new();
            set_or_remove(&mut o, &sub_def.name, value);
            c.insert(key, Value::Object(o));
        }
    }
    drop_if_empty(res, urn);
    Ok(())
}

fn set_or_remove(o: &mut Map<String, Value>, name: &str, value: Option<&Value>) {
    let key = find_key(o, name).unwrap_or_else(|| name.to_owned());
    match value {
        Some(v) => {
            o.insert(key, v.clone());
        }
        None => {
            o.remove(&key);
        }
    }
}

fn is_primary(v: &Value) -> bool {
    v.as_object()
        .and_then(|o| o.get("primary"))
        .is_some_and(|p| p == &Value::Bool(true))
}

fn clear_primary(items: &mut [Value]) {
    for item in items {
        if let Some(p) = item.as_object_mut().and_then(|o| o.get_mut("primary"))
            && p == &Value::Bool(true)
        {
            *p = Value::Bool(false);
        }
    }
}

/// An operation on a value path: `emails[type eq "work"]`, `emails[type eq "work"].value`,
/// `manager[value eq "x"]`.
fn apply_value_path(
    res: &mut Map<String, Value>,
    urn: Option<&str>,
    kind: OpKind,
    attr: &AttributeDef,
    filter: &Filter,
    sub: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if attr.ty != AttributeType::Complex {
        return Err(ScimError::invalid_path(format!(
            "'{}' is not a complex attribute: it cannot take a value filter",
            attr.name
        )));
    }
    filter.validate_element(attr)?;
    let sub_def = match sub {
        Some(s) => Some(attr.sub_attribute(s).ok_or_else(|| {
            ScimError::invalid_path(format!("'{}' has no sub-attribute '{s}'", attr.name))
        })?),
        None => None,
    };
    let display = match sub_def {
        Some(d) => format!("{}[{filter}].{}", attr.name, d.name),
        None => format!("{}[{filter}]", attr.name),
    };
    if let Some(v) = value {
        match sub_def {
            Some(d) => check_value(v, d, false, &display)?,
            None => check_value(v, attr, true, &display)?,
        }
    }
    let Some(c) = container_mut(res, urn, kind != OpKind::Remove) else {
        return Ok(());
    };
    let key = find_key(c, &attr.name).unwrap_or_else(|| attr.name.clone());

    if !attr.multi_valued {
        // A single complex value is the one element (`manager[value eq "x"]`).
        let matches = c
            .get(&key)
            .is_some_and(|el| filter.matches_element(el, attr));
        if !matches {
            return if kind == OpKind::Remove {
                Ok(())
            } else {
                Err(ScimError::no_target(format!(
                    "'{display}' matches no value"
                )))
            };
        }
        match (sub_def, value) {
            (None, None) => {
                c.remove(&key);
            }
            (None, Some(v)) => {
                c.insert(key, v.clone());
            }
            (Some(d), v) => {
                if let Some(Value::Object(o)) = c.get_mut(&key) {
                    set_or_remove(o, &d.name, v);
                }
            }
        }
        drop_if_empty(res, urn);
        return Ok(());
    }

    let items: &mut Vec<Value> = match c.get_mut(&key) {
        Some(Value::Array(items)) => items,
        _ => {
            c.insert(key.clone(), Value::Array(Vec::new()));
            c.get_mut(&key)
                .and_then(Value::as_array_mut)
                .expect("just inserted")
        }
    };
    let hits: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, el)| filter.matches_element(el, attr))
        .map(|(i, _)| i)
        .collect();

    match kind {
        OpKind::Remove => match sub_def {
            None => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !hits.contains(&i);
                    i += 1;
                    keep
                });
            }
            Some(d) => {
                for &i in &hits {
                    if let Value::Object(o) = &mut items[i] {
                        set_or_remove(o, &d.name, None);
                    }
                }
            }
        },
        OpKind::Add | OpKind::Replace => {
            let v = value.expect("add/replace carry a value");
            let sets_primary = match sub_def {
                Some(d) => d.name == "primary" && v == &Value::Bool(true),
                None => is_primary(v),
            };
            let hits = if hits.is_empty() {
                // Entra: an add/replace on `emails[type eq "work"].value` with no work email
                // creates it.
                let Some(terms) = eq_terms(filter, attr) else {
                    return Err(ScimError::no_target(format!(
                        "'{display}' matches no value"
                    )));
                };
                let mut el: Map<String, Value> = terms.into_iter().collect();
                if sub_def.is_none()
                    && let Value::Object(o) = v
                {
                    for (k, val) in o {
                        el.insert(k.clone(), val.clone());
                    }
                }
                items.push(Value::Object(el));
                vec![items.len() - 1]
            } else {
                hits
            };
            if sets_primary {
                for (i, item) in items.iter_mut().enumerate() {
                    if !hits.contains(&i) {
                        clear_primary(std::slice::from_mut(item));
                    }
                }
            }
            for &i in &hits {
                match sub_def {
                    Some(d) => {
                        if let Value::Object(o) = &mut items[i] {
                            set_or_remove(o, &d.name, Some(v));
                        }
                    }
                    None if kind == OpKind::Replace => items[i] = v.clone(),
                    None => {
                        if let (Value::Object(o), Value::Object(new)) = (&mut items[i], v) {
                            for (k, val) in new {
                                o.insert(k.clone(), val.clone());
                            }
                        }
                    }
                }
            }
        }
    }
    if items.is_empty() {
        c.remove(&key);
    }
    drop_if_empty(res, urn);
    Ok(())
}

/// The `(sub-attribute, value)` pairs of a filter made only of `eq` terms joined by `and`.
fn eq_terms(filter: &Filter, attr: &AttributeDef) -> Option<Vec<(String, Value)>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.urn.is_none() && path.sub.is_none() => {
            let name = attr
                .sub_attribute(&path.name)
                .map_or_else(|| path.name.clone(), |d| d.name.clone());
            let v = match value {
                CompValue::String(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Null => return None,
            };
            Some(vec![(name, v)])
        }
        Filter::And(a, b) => {
            let mut t = eq_terms(a, attr)?;
            t.extend(eq_terms(b, attr)?);
            Some(t)
        }
        _ => None,
    }
}

/// A Group's `members`, folded into the delta.
fn apply_members(
    kind: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    delta: &mut MemberDelta,
) -> Result<(), ScimError> {
    if path.attr.sub.is_some() || path.sub.is_some() {
        return Err(ScimError::invalid_path(format!(
            "'{path}': member sub-attributes cannot be changed; remove and add the member"
        )));
    }
    let selected = path
        .filter
        .as_ref()
        .map(members::selected_ids)
        .transpose()?;
    match (kind, selected) {
        (OpKind::Remove, None) => delta.clear(),
        (OpKind::Remove, Some(ids)) => delta.remove(ids),
        (OpKind::Add, None) => delta.add(Member::list_from_json(value.unwrap_or(&Value::Null))?),
        (OpKind::Replace, None) => {
            delta.replace(Member::list_from_json(value.unwrap_or(&Value::Null))?)
        }
        (OpKind::Add | OpKind::Replace, Some(ids)) => {
            delta.remove(ids);
            delta.add(Member::list_from_json(value.unwrap_or(&Value::Null))?);
        }
    }
    Ok(())
}

/// An attribute the resource type does not define. URN-qualified attributes of a schema the
/// server does not know (a custom Entra extension) are kept as sent; anything else is an
/// `invalidPath` error, never a silent no-op.
fn apply_unknown(
    res: &mut Map<String, Value>,
    kind: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let unknown_extension = path
        .attr
        .urn
        .as_deref()
        .filter(|u| schema.schema(u).is_none() && path.filter.is_none() && path.sub.is_none());
    let Some(urn) = unknown_extension else {
        return Err(ScimError::invalid_path(format!(
            "'{path}' is not an attribute of {}",
            schema.name
        )));
    };
    let Some(c) = container_mut(res, Some(urn), kind != OpKind::Remove) else {
        return Ok(());
    };
    match &path.attr.sub {
        None => set_or_remove(c, &path.attr.name, value),
        Some(sub) => {
            let key = find_key(c, &path.attr.name).unwrap_or_else(|| path.attr.name.clone());
            let slot = c.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(o) = slot {
                set_or_remove(o, sub, value);
            }
        }
    }
    drop_if_empty(res, Some(urn));
    Ok(())
}

#[cfg(test)]
mod tests;
