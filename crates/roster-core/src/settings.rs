//! Placeholder: connector settings (issue: the sync engine).
