//! Placeholder: the directory model (issue: the sync engine).
