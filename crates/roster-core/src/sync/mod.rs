//! The sync engine (in progress).
pub mod expr;
