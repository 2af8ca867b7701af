//! Attribute paths (RFC 7644 §3.10) and PATCH paths (RFC 7644 §3.5.2).
//!
//! ```text
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! subAttr   = "." ATTRNAME
//! ATTRNAME  = ALPHA *(nameChar) / "$ref"
//! nameChar  = "-" / "_" / DIGIT / ALPHA
//! PATH      = attrPath / valuePath [subAttr]          ; PATCH, RFC 7644 §3.5.2
//! valuePath = attrPath "[" valFilter "]"
//! ```
//!
//! A URN prefix is split off at its *last* colon, so the `.` in `…:enterprise:2.0:User:manager`
//! is never taken for a sub-attribute separator. Names keep the case they were written in;
//! every comparison against a schema is case-insensitive (RFC 7643 §2.1).

use std::fmt;

use crate::filter::Filter;

/// An attribute path: an optional schema URN, an attribute name and an optional sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN the path is qualified with, if any.
    pub urn: Option<String>,
    /// The attribute's name.
    pub name: String,
    /// The sub-attribute's name, if any.
    pub sub: Option<String>,
}

/// Why a string is not an attribute path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid attribute path '{path}': {reason}")]
pub struct PathError {
    /// The offending input.
    pub path: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Whether `s` is a valid `ATTRNAME` (RFC 7644 §3.10).
#[must_use]
pub fn is_attr_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl AttrPath {
    /// A short path to a top-level attribute.
    pub fn attr(name: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub: None,
        }
    }

    /// A short path to a sub-attribute.
    pub fn sub_attr(name: impl Into<String>, sub: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub: Some(sub.into()),
        }
    }

    /// Parses `[URN ":"] name ["." sub]`.
    pub fn parse(input: &str) -> Result<Self, PathError> {
        let err = |reason| PathError {
            path: input.to_owned(),
            reason,
        };
        let (urn, rest) = split_urn(input);
        if rest.is_empty() {
            return Err(err("no attribute name"));
        }
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        if !is_attr_name(name) {
            return Err(err("not a valid attribute name"));
        }
        if let Some(s) = sub
            && !is_attr_name(s)
        {
            return Err(err("not a valid sub-attribute name"));
        }
        Ok(Self {
            urn: urn.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    /// The same path without its sub-attribute.
    #[must_use]
    pub fn parent(&self) -> Self {
        Self {
            urn: self.urn.clone(),
            name: self.name.clone(),
            sub: None,
        }
    }

    /// Whether both paths name the same attribute, ignoring case (URNs included).
    #[must_use]
    pub fn same_as(&self, other: &Self) -> bool {
        fn eq(a: Option<&str>, b: Option<&str>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (None, None) => true,
                _ => false,
            }
        }
        eq(self.urn.as_deref(), other.urn.as_deref())
            && self.name.eq_ignore_ascii_case(&other.name)
            && eq(self.sub.as_deref(), other.sub.as_deref())
    }
}

/// Whether `s` starts with `urn:` (any case) and has something after it.
pub(crate) fn is_urn(s: &str) -> bool {
    // `get` rather than indexing: byte 4 may fall inside a multi-byte character.
    s.len() > 4 && s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// Splits a URN prefix off a path at its last colon. A path without `urn:` has none.
pub(crate) fn split_urn(input: &str) -> (Option<&str>, &str) {
    if is_urn(input) {
        match input.rfind(':') {
            Some(i) => (Some(&input[..i]), &input[i + 1..]),
            None => (None, input),
        }
    } else {
        (None, input)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A PATCH `path` (RFC 7644 §3.5.2): an attribute path, or a value path with an optional
/// trailing sub-attribute (`emails[type eq "work"].value`).
///
/// Parsed by [`PatchPath::parse`], which lives with the filter parser.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (for a value path: the multi-valued attribute before `[`). When there is
    /// no filter, `attr.sub` may name a sub-attribute (`name.givenName`).
    pub attr: AttrPath,
    /// The value filter between `[` and `]`, if any.
    pub filter: Option<Filter>,
    /// The sub-attribute after `]`, if any (`value` in `emails[type eq "work"].value`).
    pub sub: Option<String>,
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_sub_and_urn_paths() {
        assert_eq!(
            AttrPath::parse("userName").unwrap(),
            AttrPath::attr("userName")
        );
        assert_eq!(
            AttrPath::parse("name.givenName").unwrap(),
            AttrPath::sub_attr("name", "givenName")
        );
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            p.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.name, "manager");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert_eq!(
            p.to_string(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
        );
        assert_eq!(
            AttrPath::parse("members.$ref").unwrap().sub.as_deref(),
            Some("$ref")
        );
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "", "1abc", "a b", "a.", ".a", "a.b.c", "urn:x:", "a[b]", "Ⱥ】", "uré:x",
        ] {
            assert!(AttrPath::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn same_as_ignores_case() {
        assert!(
            AttrPath::parse("Name.GIVENNAME")
                .unwrap()
                .same_as(&AttrPath::parse("name.givenName").unwrap())
        );
        assert!(!AttrPath::attr("name").same_as(&AttrPath::sub_attr("name", "givenName")));
    }
}
