//! The one wire error: RFC 7644 §3.12.
//!
//! Every failure that reaches a SCIM client is a [`ScimError`]: an HTTP status, an optional
//! `scimType` keyword and a human-readable `detail`. It serialises to the body RFC 7644 §3.12
//! prescribes, with `status` as a *string* (`"409"`), which real clients check.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The URN of the SCIM error message schema (RFC 7644 §3.12).
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` keywords of RFC 7644 §3.12, table 9, plus `invalidCursor`, `expiredCursor`
/// and `tooMany`'s siblings from RFC 9865 §2.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScimType {
    /// The filter syntax was invalid or the filter is not supported (400).
    InvalidFilter,
    /// The filter or query yields too many results to process (400).
    TooMany,
    /// One or more unique attribute values are already in use (409).
    Uniqueness,
    /// The attempted modification is not compatible with the attribute's mutability (400).
    Mutability,
    /// The request body structure was invalid or did not conform to the schema (400).
    InvalidSyntax,
    /// The `path` attribute was invalid or malformed (400).
    InvalidPath,
    /// The `path` did not yield an attribute that could be operated on (400).
    NoTarget,
    /// A required value was missing or the value was not compatible (400).
    InvalidValue,
    /// The specified SCIM protocol version is not supported (400).
    InvalidVers,
    /// The request cannot be completed for privacy reasons (403).
    Sensitive,
    /// The cursor is invalid (RFC 9865 §2.3) (400).
    InvalidCursor,
    /// The cursor has expired (RFC 9865 §2.3) (400).
    ExpiredCursor,
}

impl ScimType {
    /// The keyword as it appears on the wire.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
            Self::Sensitive => "sensitive",
            Self::InvalidCursor => "invalidCursor",
            Self::ExpiredCursor => "expiredCursor",
        }
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SCIM protocol error: what the client is told.
///
/// Constructors name the common cases; [`ScimError::new`] builds any other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}{}: {detail}", scim_type.map(|t| format!(" {t}")).unwrap_or_default())]
pub struct ScimError {
    /// The HTTP status code.
    pub status: u16,
    /// The `scimType` keyword, for 400, 409 and 403 errors that have one.
    pub scim_type: Option<ScimType>,
    /// A human-readable message. It is sent to the client: never put internals or secrets in it.
    pub detail: String,
}

impl ScimError {
    /// Any status, keyword and detail.
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    /// 400 with a keyword.
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    /// 400 `invalidFilter`.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }

    /// 400 `invalidSyntax`.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }

    /// 400 `invalidPath`.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }

    /// 400 `invalidValue`.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    /// 400 `noTarget`.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }

    /// 400 `mutability`.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }

    /// 409 `uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }

    /// 404 without a keyword.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    /// 401 without a keyword.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }

    /// 500 with a fixed, internals-free detail. Log the cause where it happened.
    #[must_use]
    pub fn internal() -> Self {
        Self::new(500, None, "internal server error")
    }

    /// The RFC 7644 §3.12 JSON body.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl Serialize for ScimError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let len = 3 + usize::from(self.scim_type.is_some());
        let mut s = serializer.serialize_struct("Error", len)?;
        s.serialize_field("schemas", &[ERROR_SCHEMA])?;
        s.serialize_field("status", &self.status.to_string())?;
        if let Some(t) = self.scim_type {
            s.serialize_field("scimType", &t)?;
        }
        s.serialize_field("detail", &self.detail)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serialises_as_rfc_7644_section_3_12() {
        let e = ScimError::uniqueness("userName 'a@b.c' already exists");
        assert_eq!(
            e.to_json(),
            json!({
                "schemas": [ERROR_SCHEMA],
                "status": "409",
                "scimType": "uniqueness",
                "detail": "userName 'a@b.c' already exists"
            })
        );
        assert_eq!(
            ScimError::not_found("Resource 2819c223 not found").to_json(),
            json!({"schemas": [ERROR_SCHEMA], "status": "404", "detail": "Resource 2819c223 not found"})
        );
    }

    #[test]
    fn display_names_status_and_keyword() {
        assert_eq!(
            ScimError::invalid_filter("bad").to_string(),
            "400 invalidFilter: bad"
        );
        assert_eq!(ScimError::not_found("x").to_string(), "404: x");
    }
}
