//! # scim — the SCIM 2.0 protocol, pure
//!
//! This crate implements the protocol side of SCIM 2.0 (RFC 7643, RFC 7644) and cursor
//! pagination (RFC 9865) with no I/O: no HTTP, no database, no async runtime. Servers, stores
//! and sync engines build on it.
//!
//! | module | implements |
//! |---|---|
//! | [`error`] | the error body, `scimType` keywords (RFC 7644 §3.12) |
//! | [`schema`] | attribute definitions, the User, Group and enterprise schemas (RFC 7643 §2, §4, §7, §8.7) |
//! | [`path`] | attribute paths and PATCH paths (RFC 7644 §3.10, §3.5.2) |
//! | [`filter`] | filter grammar, tree, display and evaluation (RFC 7644 §3.4.2.2) |
//! | [`dialect`] | Entra ID's and Okta's deviations, turned into standard SCIM in one place |
//! | [`patch`] | PATCH operations (RFC 7644 §3.5.2), member deltas, IdP dialects |
//! | [`projection`] | `attributes` / `excludedAttributes` and `returned` (RFC 7644 §3.4.2.5, RFC 7643 §7) |
//! | [`query`] | list query parameters: filter, sort, index and cursor paging (RFC 7644 §3.4.2, RFC 9865) |
//! | [`message`] | ListResponse, SearchRequest (RFC 7644 §3.4.2, §3.4.3) |
//! | [`bulk`] | BulkRequest / BulkResponse and `bulkId` references (RFC 7644 §3.7) |
//! | [`discovery`] | `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` (RFC 7644 §4, RFC 7643 §5–7) |
//!
//! Resources are `serde_json` objects, kept as the client wrote them: SCIM clients compare
//! what they read back with what they wrote, so the library never reshapes a value it does
//! not have to. The schema definitions say how to compare, merge and project them.

pub mod bulk;
pub mod dialect;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod message;
pub mod patch;
pub mod path;
pub mod projection;
pub mod query;
pub mod schema;

pub use error::{ScimError, ScimType};
