//! The filter tree.

use crate::path::AttrPath;

/// A parsed filter (RFC 7644 §3.4.2.2).
///
/// Inside a [`Filter::ValuePath`], paths are relative to one element of the multi-valued
/// attribute (`type` in `emails[type eq "work"]`).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath compareOp compValue`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The literal.
        value: CompValue,
    },
    /// `attrPath pr`.
    Present(AttrPath),
    /// `attrPath "[" valFilter "]"`: some element of the attribute matches the inner filter.
    ValuePath {
        /// The multi-valued (or complex) attribute; never has a sub-attribute.
        path: AttrPath,
        /// The filter each element is tested against.
        filter: Box<Filter>,
    },
    /// `not "(" filter ")"`.
    Not(Box<Filter>),
    /// `filter and filter`.
    And(Box<Filter>, Box<Filter>),
    /// `filter or filter`.
    Or(Box<Filter>, Box<Filter>),
}

/// A comparison operator (RFC 7644 §3.4.2.2, table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains.
    Co,
    /// Starts with.
    Sw,
    /// Ends with.
    Ew,
    /// Greater than.
    Gt,
    /// Greater than or equal to.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal to.
    Le,
}

/// A comparison literal: `false / null / true / number / string` (RFC 7644 §3.4.2.2).
///
/// A dateTime is a string literal; it is compared as a time when the attribute's type says so.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A JSON number, kept exactly as written.
    Number(serde_json::Number),
    /// A JSON string, unescaped.
    String(String),
}
