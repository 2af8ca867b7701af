//! Filters (RFC 7644 §3.4.2.2).
//!
//! Module layout: [`ast`](Filter) (the typed tree), `parse` (text → tree, with byte spans and
//! [`Limits`]), `display` (tree → text that parses back to the same tree), `eval` (tree ×
//! resource → bool, honouring `caseExact`, types and multi-valued semantics, and
//! [`Filter::validate`] against a schema).
//!
//! # Grammar
//!
//! The grammar of RFC 7644 §3.4.2.2 and §3.10, as implemented. Whitespace (`SP` below) is any
//! run of ASCII whitespace, and may be omitted next to `(`, `)`, `[`, `]` and a string.
//! Keywords and operators are case-insensitive (`EQ`, `And`, `NOT`).
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]" [ "." ATTRNAME ( SP "pr" / SP compareOp SP compValue ) ]
//!                                        ; the suffix is Entra ID's extension, see below
//! valFilter = attrExp / logExp / *1"not" "(" valFilter ")"
//!                                        ; no nested valuePath; paths have no URN
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"
//! compValue = false / null / true / number / string / bareWord
//!                                        ; number and string as in RFC 8259 (JSON)
//! bareWord  = 1*(any char but SP, "(", ")", "[", "]", DQUOTE)
//!                                        ; not a keyword, true/false/null or number-like
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! subAttr   = "." ATTRNAME
//! ATTRNAME  = ALPHA *(nameChar) / "$ref"
//! nameChar  = "-" / "_" / DIGIT / ALPHA
//! ```
//!
//! Precedence: `not` (which always takes parentheses) binds tightest, then `and`, then `or`;
//! `and` and `or` associate to the left, so `a or b and c` is `a or (b and c)`.
//!
//! A URN-qualified path (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`)
//! is one token: it runs to whitespace, a bracket or a parenthesis, and its URN ends at the
//! last colon, so the `.` in `2.0` is not a sub-attribute separator.
//!
//! # Vendor dialects
//!
//! Microsoft Entra ID sends two things the RFC grammar does not have; both are accepted and
//! normalised to the standard tree, so nothing downstream knows about them:
//!
//! - `emails[type eq "work"].value eq "x"`: a value path followed by a sub-attribute test.
//!   It becomes `emails[type eq "work" and value eq "x"]`.
//! - `externalId eq jyoung`: an unquoted value. A bare word that is not `true`, `false`,
//!   `null`, a keyword or number-like (only digits, `+ - . e E`) is a string literal.
//!
//! Evaluation also compares the string literals `"true"`/`"false"` (any case) with booleans.
//!
//! # Limits
//!
//! [`Limits`] bounds the input length (8192 bytes) and the nesting of `(`, `not (` and `[`
//! (32 levels). `and`/`or` chains do not nest the parser, so the tree's height is bounded by
//! the input length: recursive consumers (display, evaluation, SQL compilers) are safe.

mod ast;
mod display;
mod eval;
mod parse;
#[cfg(test)]
mod tests;

pub use self::ast::{CompValue, CompareOp, Filter};
pub use self::parse::{FilterError, Limits, parse, parse_with};
