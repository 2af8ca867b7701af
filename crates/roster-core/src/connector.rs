//! Connectors: one SCIM endpoint for one IdP application.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use scim::ScimError;

/// A connector: where one IdP application provisions to.
///
/// Its SCIM base URL is `{public_url}/scim/v2/{id}`; its bearer tokens live apart (see
/// [`crate::token`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connector {
    /// The slug in the URL: lowercase letters, digits and `-`.
    pub id: String,
    /// A human-readable name ("Entra ID").
    pub name: String,
    /// A disabled connector answers 401 to every SCIM request.
    pub enabled: bool,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Connector {
    /// The SCIM base URL the IdP is given.
    #[must_use]
    pub fn scim_base_url(&self, public_url: &str) -> String {
        format!("{}/scim/v2/{}", public_url.trim_end_matches('/'), self.id)
    }
}

/// The longest connector name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Ids that name something else: `new` is the console's page for making a connector
/// (`/console/connectors/new`), so a connector with that id could never be opened there.
const RESERVED_IDS: &[&str] = &["new"];

/// Checks a connector name: 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn validate_name(name: &str) -> Result<(), ScimError> {
    let n = name.chars().count();
    if name.trim().is_empty() || n > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ScimError::invalid_value(format!(
            "a connector name has 1 to {MAX_NAME_CHARS} characters and no control characters"
        )));
    }
    Ok(())
}

/// Checks a connector id: 1–63 characters of `a-z`, `0-9` and `-`, starting and ending with a
/// letter or digit. No `_`: Okta refuses base URLs that contain one. `internal` is taken: a
/// connector's directory has the connector's id, and `internal` is the built-in directory;
/// `new` is taken by the console.
pub fn validate_id(id: &str) -> Result<(), ScimError> {
    if id == crate::directory::INTERNAL {
        return Err(ScimError::invalid_value(format!(
            "the connector id '{id}' is reserved for the built-in directory"
        )));
    }
    if RESERVED_IDS.contains(&id) {
        return Err(ScimError::invalid_value(format!(
            "the connector id '{id}' is taken by the console (its page for new connectors): choose another"
        )));
    }
    let ok = (1..=63).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ScimError::invalid_value(format!(
            "invalid connector id '{id}': use 1 to 63 lowercase letters, digits and '-', not starting or ending with '-'"
        )))
    }
}

/// A connector id made from a name: "Entra ID (prod)" → `entra-id-prod`.
#[must_use]
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out.trim_end_matches('-').chars().take(63).collect();
    let out = out.trim_end_matches('-').to_owned();
    match out.as_str() {
        "" => "connector".to_owned(),
        crate::directory::INTERNAL => "internal-connector".to_owned(),
        id if RESERVED_IDS.contains(&id) => format!("{id}-connector"),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_valid_ids() {
        for (name, want) in [
            ("Entra ID", "entra-id"),
            ("  Okta (prod) ", "okta-prod"),
            ("Ünïcode__name", "n-code-name"),
            ("!!!", "connector"),
            ("Internal", "internal-connector"),
            ("New", "new-connector"),
        ] {
            assert_eq!(slugify(name), want);
            validate_id(&slugify(name)).unwrap();
        }
        assert_eq!(slugify(&"a".repeat(100)).len(), 63);
        assert!(validate_id("new").is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("Entra ID").is_ok());
        assert!(validate_name(&"é".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(validate_name(&"é".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(validate_name("  ").is_err());
        assert!(validate_name("a\nb").is_err());
    }

    #[test]
    fn ids_are_checked() {
        for bad in [
            "",
            "A",
            "a_b",
            "-a",
            "a-",
            "a b",
            "internal",
            &"a".repeat(64),
        ] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
        validate_id("entra-id-2").unwrap();
    }

    #[test]
    fn base_url_joins_cleanly() {
        let c = Connector {
            id: "entra".into(),
            name: "Entra".into(),
            enabled: true,
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(
            c.scim_base_url("https://h.example/"),
            "https://h.example/scim/v2/entra"
        );
    }
}
