//! roster-server's integration tests: the real server on an ephemeral port, a real SQLite
//! store in a temporary directory, real HTTP (STYLE habits 5 and 6).
//!
//! `common` is the shared harness; each other module covers one part of the surface. Long
//! IdP request sequences (Entra ID, Okta) belong in modules of their own that use `common`.

mod api;
mod auth;
mod browser;
mod bulk;
mod common;
mod console;
mod console_pages;
mod discovery;
mod entra;
mod errors;
mod groups;
mod isolation;
mod lifecycle;
mod okta;
mod ops;
mod routing;
mod search;
mod users;
mod validator;
