//! Filters (RFC 7644 §3.4.2.2).
//!
//! Module layout: [`ast`] (the typed tree), `parse` (text → tree, with byte spans and limits),
//! `display` (tree → text that parses back to the same tree), `eval` (tree × resource → bool,
//! honouring `caseExact`, types and multi-valued semantics).

mod ast;
mod display;
mod eval;
mod parse;

pub use self::ast::{CompValue, CompareOp, Filter};
