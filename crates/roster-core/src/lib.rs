//! # roster-core — Roster's domain
//!
//! Everything Roster knows that is neither HTTP nor SQL:
//!
//! | module | what |
//! |---|---|
//! | [`connector`] | connectors: one SCIM endpoint for one IdP application |
//! | [`admin`] | administration: admin accounts (argon2id), console sessions, API tokens (admin and app scope), the SCIM request log and its masking |
//! | [`auth`] | bearer-token checks for SCIM requests |
//! | [`token`] | bearer tokens: generation (256 bits, OS CSPRNG), hashing, constant-time checks |
//! | [`directory`] | the application's directory: ordered directories, users, groups, memberships with their origin |
//! | [`settings`] | a connector's rules: mapping expressions, group rules, cleanup, copy |
//! | [`sync`] | the sync engine, pure: settings + IdP view of a user + directory state → change set |
//! | [`store`] | the [`Store`] trait every backend implements (the IdP view, connectors, tokens), its directory side ([`store::DirectoryStore`]: settings, directories, users, groups, audit log, sync results, preview and apply), and its error |
//! | [`idp_view`] | the SCIM service over the IdP view: create, read, list, replace, patch, delete, bulk |
//! | [`clock`] | time and ids as inputs, so tests can fix them |
//!
//! The dependencies point down only: this crate knows the `scim` protocol crate and nothing
//! of axum or sqlx.

pub mod admin;
pub mod auth;
pub mod clock;
pub mod connector;
pub mod directory;
pub mod idp_view;
pub mod settings;
pub mod store;
pub mod sync;
pub mod token;

pub use auth::Authenticator;
pub use clock::{Clock, IdSource, SystemClock, UuidIds};
pub use connector::Connector;
pub use idp_view::IdpView;
pub use store::{Store, StoreError};
