//! Attribute mapping: the SCIM user (or group) through the settings' expressions.
//!
//! Rules:
//!
//! - the username must come out as non-empty text, without white space at its ends or control
//!   characters, at most 255 characters ([`crate::directory::validate_name`]);
//! - text fields (`display_name`, `email`, `first_name`, `last_name`, custom attributes) take
//!   text, numbers and booleans (written as text); `null`, `""`, white space and a missing
//!   attribute make them empty; a list or map is an error. An empty display name falls back to
//!   the username;
//! - yes/no fields (`active`, `drop`) must come out as `true` or `false`; a missing attribute
//!   is an error there, since neither answer is safe to guess;
//! - any error fails the whole user: nothing of it is synced, and the error names the field;
//! - a group name must come out as a valid name; the group is then imported or filtered by
//!   `only_assign` / `never_assign`.

use std::collections::BTreeMap;
use std::fmt;

use cel::Value as CelValue;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::expr::{EvalError, Expression, Scope, Subject};
use crate::directory::validate_name;
use crate::settings::CompiledSettings;

/// The longest value of a standard text field (display name, email, names), in characters.
pub const MAX_FIELD_LEN: usize = 1024;
/// The longest custom attribute value, in characters.
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 4096;

/// A SCIM user through the mapping: the directory fields the IdP decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedUser {
    /// The username.
    pub username: String,
    /// The display name (the username when the mapping gives none).
    pub display_name: String,
    /// The email.
    pub email: Option<String>,
    /// The given name.
    pub first_name: Option<String>,
    /// The family name.
    pub last_name: Option<String>,
    /// Whether the IdP has the user active.
    pub active: bool,
    /// Whether the `drop` condition holds.
    pub drop: bool,
    /// Each mapped custom attribute: its value, or `None` when the mapping came out empty (the
    /// attribute is then removed).
    pub attributes: BTreeMap<String, Option<String>>,
}

/// Why a user could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingError {
    /// The settings field: `mapping.email`, `mapping.attributes.department`.
    pub field: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for MappingError {}

/// An IdP group through the settings: its directory name and whether it is imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpGroup {
    /// The SCIM group's `id`.
    pub scim_id: String,
    /// What the settings make of it.
    pub mapping: GroupMapping,
}

/// What the settings make of an IdP group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum GroupMapping {
    /// Imported under this name.
    Imported {
        /// The mapped name.
        name: String,
    },
    /// Left out by `only_assign` or `never_assign`.
    Filtered {
        /// The mapped name.
        name: String,
    },
    /// The name expression failed, or gave no valid name.
    Failed {
        /// Why.
        error: String,
    },
}

impl GroupMapping {
    /// The mapped name, if there is one.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Imported { name } | Self::Filtered { name } => Some(name),
            Self::Failed { .. } => None,
        }
    }
}

impl CompiledSettings {
    /// Maps a SCIM user (its stored body; `scim_id` is added as `user.id`).
    ///
    /// # Errors
    ///
    /// The first field that fails, and why.
    pub fn map_user(
        &self,
        scim_id: &str,
        user: &Map<String, Value>,
    ) -> Result<MappedUser, MappingError> {
        let scope = Scope::new(Subject::User, scim_id, user);
        let username = text(
            &self.username,
            &scope,
            "mapping.username",
            MAX_FIELD_LEN,
            false,
        )?
        .ok_or_else(|| error("mapping.username", "the username is empty"))?;
        validate_name("username", &username).map_err(|m| error("mapping.username", m))?;
        let display_name = text(
            &self.display_name,
            &scope,
            "mapping.display_name",
            MAX_FIELD_LEN,
            true,
        )?
        .unwrap_or_else(|| username.clone());
        let email = text(&self.email, &scope, "mapping.email", MAX_FIELD_LEN, true)?;
        let first_name = text(
            &self.first_name,
            &scope,
            "mapping.first_name",
            MAX_FIELD_LEN,
            true,
        )?;
        let last_name = text(
            &self.last_name,
            &scope,
            "mapping.last_name",
            MAX_FIELD_LEN,
            true,
        )?;
        let active = boolean(&self.active, &scope, "mapping.active")?;
        let drop = boolean(&self.drop, &scope, "mapping.drop")?;
        let mut attributes = BTreeMap::new();
        for (name, expression) in &self.attributes {
            let field = format!("mapping.attributes.{name}");
            let value = text(expression, &scope, &field, MAX_ATTRIBUTE_VALUE_LEN, true)?;
            attributes.insert(name.clone(), value);
        }
        Ok(MappedUser {
            username,
            display_name,
            email,
            first_name,
            last_name,
            active,
            drop,
            attributes,
        })
    }

    /// Maps a SCIM group (its stored body, without members; `scim_id` is added as
    /// `group.id`): its directory name, and whether it is imported.
    #[must_use]
    pub fn map_group(&self, scim_id: &str, group: &Map<String, Value>) -> IdpGroup {
        let scope = Scope::new(Subject::Group, scim_id, group);
        let mapping = match text(&self.group_name, &scope, "groups.name", MAX_FIELD_LEN, true) {
            Ok(Some(name)) => match validate_name("group name", &name) {
                Ok(()) if self.imports_group(&name) => GroupMapping::Imported { name },
                Ok(()) => GroupMapping::Filtered { name },
                Err(message) => GroupMapping::Failed {
                    error: format!("groups.name: {message}"),
                },
            },
            Ok(None) => GroupMapping::Failed {
                error: "groups.name: the group name is empty".into(),
            },
            Err(e) => GroupMapping::Failed {
                error: e.to_string(),
            },
        };
        IdpGroup {
            scim_id: scim_id.to_owned(),
            mapping,
        }
    }
}

fn error(field: &str, message: impl Into<String>) -> MappingError {
    MappingError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A text field: `None` when empty, or when an attribute is missing and `missing_is_empty`.
fn text(
    expression: &Expression,
    scope: &Scope,
    field: &str,
    max: usize,
    missing_is_empty: bool,
) -> Result<Option<String>, MappingError> {
    let value = match expression.eval(scope) {
        Ok(value) => value,
        Err(EvalError::Missing(_)) if missing_is_empty => return Ok(None),
        Err(e) => return Err(error(field, e.to_string())),
    };
    let text = match value {
        CelValue::String(s) => s.as_ref().clone(),
        CelValue::Null => return Ok(None),
        CelValue::Int(i) => i.to_string(),
        CelValue::UInt(u) => u.to_string(),
        CelValue::Float(f) => f.to_string(),
        CelValue::Bool(b) => b.to_string(),
        other => {
            return Err(error(
                field,
                format!("expected text, got {}", other.type_of()),
            ));
        }
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    let len = text.chars().count();
    if len > max {
        return Err(error(
            field,
            format!("the value is {len} characters long; at most {max} are allowed"),
        ));
    }
    Ok(Some(text))
}

/// A yes/no field.
fn boolean(expression: &Expression, scope: &Scope, field: &str) -> Result<bool, MappingError> {
    match expression.eval(scope) {
        Ok(CelValue::Bool(b)) => Ok(b),
        Ok(other) => Err(error(
            field,
            format!("expected true or false, got {}", other.type_of()),
        )),
        Err(e) => Err(error(field, e.to_string())),
    }
}
