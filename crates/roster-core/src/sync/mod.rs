//! Placeholder: the sync engine.
