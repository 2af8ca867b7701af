//! The values IdPs filter on, taken out of a resource body into indexed columns.
//!
//! Every backend indexes the same things (DESIGN.md, "Storage"): users by `userName` (unique
//! per connector, case-insensitive), `externalId`, `displayName` and their emails' `value`
//! and `type`; groups by `displayName` (unique per connector, case-insensitive) and
//! `externalId`. Values are read from the body the way `Filter::matches` reads them (keys
//! case-insensitively, an exact match first; a multi-valued attribute as an array or a single
//! value), and case-insensitive ones are lowercased here with Rust's full Unicode
//! `to_lowercase`, the evaluator's own folding, so an indexed comparison agrees with it exactly.

use serde_json::{Map, Value};

/// The indexed values of one resource body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Indexed {
    /// `userName` as sent (users), for conflict messages.
    pub(crate) user_name: Option<String>,
    /// `userName`, lowercased: the uniqueness key.
    pub(crate) user_name_lc: Option<String>,
    /// `externalId`, case-exact (RFC 7643 §3.1).
    pub(crate) external_id: Option<String>,
    /// `displayName` as sent.
    pub(crate) display_name: Option<String>,
    /// `displayName`, lowercased (for groups: the uniqueness key).
    pub(crate) display_name_lc: Option<String>,
    /// The user's email elements (objects only, as the evaluator only looks into objects).
    pub(crate) emails: Vec<Email>,
}

/// One element of a user's `emails`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Email {
    /// `value`, lowercased, if it is a string.
    pub(crate) value_lc: Option<String>,
    /// `type`, lowercased, if it is a string.
    pub(crate) type_lc: Option<String>,
}

/// Case-insensitive key lookup, exact match first: `Filter::matches`'s own rule (RFC 7643 §2.1).
pub(crate) fn get_ci<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn string(obj: &Map<String, Value>, key: &str) -> Option<String> {
    get_ci(obj, key).and_then(Value::as_str).map(str::to_owned)
}

impl Indexed {
    /// The indexed values of a user body.
    pub(crate) fn user(body: &Map<String, Value>) -> Self {
        let user_name = string(body, "userName");
        let display_name = string(body, "displayName");
        let emails = match get_ci(body, "emails") {
            Some(Value::Array(items)) => items.iter().filter_map(email).collect(),
            Some(one) => email(one).into_iter().collect(),
            None => Vec::new(),
        };
        Self {
            user_name_lc: user_name.as_deref().map(str::to_lowercase),
            user_name,
            external_id: string(body, "externalId"),
            display_name_lc: display_name.as_deref().map(str::to_lowercase),
            display_name,
            emails,
        }
    }

    /// The indexed values of a group body.
    pub(crate) fn group(body: &Map<String, Value>) -> Self {
        let display_name = string(body, "displayName");
        Self {
            external_id: string(body, "externalId"),
            display_name_lc: display_name.as_deref().map(str::to_lowercase),
            display_name,
            ..Self::default()
        }
    }
}

fn email(element: &Value) -> Option<Email> {
    let obj = element.as_object()?;
    let lc = |key| string(obj, key).map(|s| s.to_lowercase());
    Some(Email {
        value_lc: lc("value"),
        type_lc: lc("type"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn user_values_are_read_like_the_evaluator_reads_them() {
        let body = obj(json!({
            "USERNAME": "Bjensen@Example.COM",
            "externalId": "AbC",
            "displayName": "Ünal",
            "emails": [{"Value": "A@X.org", "type": "Work"}, "not an object", {"primary": true}],
        }));
        let ix = Indexed::user(&body);
        assert_eq!(ix.user_name.as_deref(), Some("Bjensen@Example.COM"));
        assert_eq!(ix.user_name_lc.as_deref(), Some("bjensen@example.com"));
        assert_eq!(ix.external_id.as_deref(), Some("AbC"));
        assert_eq!(ix.display_name_lc.as_deref(), Some("ünal"));
        assert_eq!(
            ix.emails,
            [
                Email {
                    value_lc: Some("a@x.org".into()),
                    type_lc: Some("work".into())
                },
                Email::default()
            ]
        );
    }

    #[test]
    fn a_single_email_object_counts_as_one_element() {
        let ix = Indexed::user(&obj(json!({"userName": "u", "emails": {"value": "x@y"}})));
        assert_eq!(ix.emails.len(), 1);
    }
}
