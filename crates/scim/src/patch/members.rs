//! Group membership as a delta.
//!
//! A store keeps memberships as rows, so a PATCH that adds or removes k members must cost O(k)
//! whatever the group's size. Membership operations therefore never touch a member list:
//! they fold, in order, into a [`MemberDelta`] that the store applies.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::dialect::find_key;
use crate::error::ScimError;
use crate::filter::{CompValue, CompareOp, Filter};

/// One member reference as a client sent it (RFC 7643 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's `id`.
    pub value: String,
    /// Its `display`, if sent.
    pub display: Option<String>,
    /// `User` or `Group`, if sent.
    pub kind: Option<String>,
}

impl Member {
    /// Reads one element of a `members` value: an object with a non-empty string `value`.
    pub fn from_json(v: &Value) -> Result<Self, ScimError> {
        let obj = v.as_object().ok_or_else(|| {
            ScimError::invalid_value("each member must be an object with a 'value'")
        })?;
        let s = |name: &str| -> Option<String> {
            find_key(obj, name)
                .and_then(|k| obj.get(&k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match s("value") {
            Some(value) if !value.is_empty() => Ok(Self {
                value,
                display: s("display"),
                kind: s("type"),
            }),
            _ => Err(ScimError::invalid_value(
                "each member needs a non-empty string 'value'",
            )),
        }
    }

    /// Reads a `members` value: an array of members, or one member.
    pub fn list_from_json(v: &Value) -> Result<Vec<Self>, ScimError> {
        match v {
            Value::Array(items) => items
                .iter()
                .filter(|i| !i.is_null())
                .map(Self::from_json)
                .collect(),
            Value::Null => Ok(Vec::new()),
            other => Ok(vec![Self::from_json(other)?]),
        }
    }

    /// The member as a `members` element: `{"value", "display"?, "type"?}`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("value".into(), Value::String(self.value.clone()));
        if let Some(d) = &self.display {
            m.insert("display".into(), Value::String(d.clone()));
        }
        if let Some(t) = &self.kind {
            m.insert("type".into(), Value::String(t.clone()));
        }
        Value::Object(m)
    }
}

/// The net effect of a request's membership operations, in a form a store applies in O(k):
/// if `clear`, delete every membership first; then delete `remove`; then insert `add`
/// (ignoring members already present).
///
/// Folding keeps sequential semantics: `add X` then `remove X` leaves X absent, `remove X` then
/// `add X` leaves it present, and a `replace` or a path-only `remove` discards what came before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberDelta {
    /// Remove every current member first.
    pub clear: bool,
    /// Members to insert, by id.
    pub add: BTreeMap<String, Member>,
    /// Member ids to delete.
    pub remove: BTreeSet<String>,
}

impl MemberDelta {
    /// Whether the delta does nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.clear && self.add.is_empty() && self.remove.is_empty()
    }

    /// `add`: the members join.
    pub fn add(&mut self, members: impl IntoIterator<Item = Member>) {
        for m in members {
            self.remove.remove(&m.value);
            self.add.insert(m.value.clone(), m);
        }
    }

    /// `remove` of specific members.
    pub fn remove(&mut self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            self.add.remove(&id);
            if !self.clear {
                self.remove.insert(id);
            }
        }
    }

    /// `remove` without a filter: the group is emptied.
    pub fn clear(&mut self) {
        self.clear = true;
        self.add.clear();
        self.remove.clear();
    }

    /// `replace`: the group's members become exactly `members`.
    pub fn replace(&mut self, members: impl IntoIterator<Item = Member>) {
        self.clear();
        self.add(members);
    }

    /// Applies the delta to an in-memory member list (for stores without rows, and tests).
    pub fn apply_to(&self, members: &mut Vec<Member>) {
        if self.clear {
            members.clear();
        }
        members.retain(|m| !self.remove.contains(&m.value));
        let present: BTreeSet<String> = members.iter().map(|m| m.value.clone()).collect();
        members.extend(
            self.add
                .values()
                .filter(|m| !present.contains(&m.value))
                .cloned(),
        );
    }
}

/// The member ids a `members[…]` filter selects, when it selects by id: `value eq "x"`, or an
/// `or` of those. Anything else would need the member list, so it is refused.
pub(crate) fn selected_ids(filter: &Filter) -> Result<Vec<String>, ScimError> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(id),
        } if path.urn.is_none()
            && path.sub.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            Ok(vec![id.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = selected_ids(a)?;
            ids.extend(selected_ids(b)?);
            Ok(ids)
        }
        other => Err(ScimError::invalid_filter(format!(
            "members can only be selected by id (members[value eq \"…\"]); got '{other}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str) -> Member {
        Member {
            value: id.into(),
            display: None,
            kind: None,
        }
    }

    #[test]
    fn folds_in_order() {
        let mut d = MemberDelta::default();
        d.add([m("a"), m("b")]);
        d.remove(["a".to_owned(), "c".to_owned()]);
        assert!(!d.clear);
        assert_eq!(d.add.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(d.remove.iter().collect::<Vec<_>>(), ["a", "c"]);
        d.add([m("c")]);
        assert_eq!(d.remove.iter().collect::<Vec<_>>(), ["a"]);

        let mut d = MemberDelta::default();
        d.remove(["x".to_owned()]);
        d.replace([m("y")]);
        assert!(d.clear);
        assert!(d.remove.is_empty());
        d.remove(["y".to_owned()]);
        assert!(d.add.is_empty() && d.remove.is_empty() && d.clear);
    }

    #[test]
    fn applies_to_a_list_without_duplicates() {
        let mut list = vec![m("a"), m("b")];
        let mut d = MemberDelta::default();
        d.add([m("b"), m("c")]);
        d.remove(["a".to_owned()]);
        d.apply_to(&mut list);
        assert_eq!(
            list.iter().map(|m| m.value.as_str()).collect::<Vec<_>>(),
            ["b", "c"]
        );
    }
}
