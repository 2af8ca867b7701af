//! The [`Store`] trait: everything Roster keeps, behind one interface.
//!
//! Backends (SQLite, PostgreSQL) implement it in `roster-store`; the rest of the house talks
//! only to this trait. It is shaped by what cannot be tuned later:
//!
//! - the IdP view is kept as the IdP wrote it (a JSON body per resource), with the attributes
//!   IdPs filter on held in indexed columns;
//! - group memberships are rows: [`Update::Patch`] hands the backend a [`MemberDelta`](scim::patch::MemberDelta), which
//!   costs O(changes) whatever the group's size, and [`Load::members`] is false whenever the
//!   client excluded `members`, so they are never read;
//! - filters, sorting and paging run in the backend (`ResourceQuery` carries the parsed
//!   filter), never in memory over every resource;
//! - a read-modify-write (PATCH) runs inside one write transaction, so concurrent PATCHes of
//!   one resource are serialised and none is lost;
//! - every SCIM write also runs the sync engine for what it affects, in the same transaction
//!   (see [`directory`]), so it takes a [`WriteContext`]: when, by whom, for which request.
//!
//! The directory side (settings, directories, users, groups, audit log, sync results,
//! preview and apply) is the second trait, [`DirectoryStore`], reached through
//! [`Store::directory`]; [`directory`] says why. Administration (accounts, sessions, API
//! tokens, the request log) is the third, [`AdminStore`], reached through [`Store::admin`].

pub mod admin;
pub mod directory;

use async_trait::async_trait;
use scim::ScimError;
use scim::filter::Filter;
use scim::patch::{Member, PatchOutcome};
use scim::path::AttrPath;
use scim::query::Paging;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::connector::Connector;
use crate::settings::SettingsError;
use crate::token::TokenRecord;

pub use admin::AdminStore;
pub use directory::{
    Actor, AuditAction, AuditEntry, AuditQuery, AuditSubject, DirectoryStore, GroupPage,
    GroupQuery, ListedGroup, ListedUser, NewGroup, NewUser, OutcomeQuery, ReportedUser,
    StoredSettings, SubjectKind, SyncCounters, SyncOptions, SyncOutcome, SyncReport, SyncRun,
    SyncSource, SyncSubject, UserDetail, UserInDirectory, UserMembership, UserPage, UserQuery,
    WriteContext,
};

/// The two resource types of the IdP view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `/Users`.
    User,
    /// `/Groups`.
    Group,
}

impl ResourceKind {
    /// `User` or `Group`, as in `meta.resourceType`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
        }
    }

    /// The endpoint segment: `Users` or `Groups`.
    #[must_use]
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "Users",
            Self::Group => "Groups",
        }
    }

    /// The resource type's schema.
    #[must_use]
    pub fn schema(self) -> &'static scim::schema::ResourceSchema {
        use std::sync::LazyLock;
        static USER: LazyLock<scim::schema::ResourceSchema> =
            LazyLock::new(scim::schema::ResourceSchema::user);
        static GROUP: LazyLock<scim::schema::ResourceSchema> =
            LazyLock::new(scim::schema::ResourceSchema::group);
        match self {
            Self::User => &USER,
            Self::Group => &GROUP,
        }
    }
}

/// What to load besides the resource's own body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// A group's members.
    pub members: bool,
    /// A user's groups (the read-only `groups` attribute).
    pub groups: bool,
}

/// A group a user belongs to, for the user's `groups` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    /// The group's id.
    pub id: String,
    /// The group's displayName.
    pub display: String,
}

/// A resource as stored: the body as the IdP wrote it (normalised, without `id` and `meta`),
/// and what the server adds.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    /// The server-assigned id.
    pub id: String,
    /// Incremented on every change; the ETag is `W/"{version}"`.
    pub version: i64,
    /// `meta.created`.
    pub created: OffsetDateTime,
    /// `meta.lastModified`.
    pub last_modified: OffsetDateTime,
    /// The attributes, without `id`, `meta`, `members` and `groups`.
    pub body: Map<String, Value>,
    /// A group's members, when [`Load::members`] asked for them.
    pub members: Option<Vec<Member>>,
    /// A user's groups, when [`Load::groups`] asked for them.
    pub groups: Option<Vec<GroupRef>>,
}

/// A resource to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResource {
    /// Its new id.
    pub id: String,
    /// Its normalised body, without `id`, `meta`, `members`.
    pub body: Map<String, Value>,
    /// For a group: its initial members.
    pub members: Vec<Member>,
}

/// A PATCH applied by the backend inside its write transaction: it receives the current body
/// and changes it in place. It may be called more than once, each time on the body as stored
/// (a backend may run a write again after rolling it back).
pub type PatchFn = Box<dyn Fn(&mut Map<String, Value>) -> Result<PatchOutcome, ScimError> + Send>;

/// A change to an existing resource (its time is the [`WriteContext`]'s).
pub enum Update {
    /// PUT: the body is replaced; for a group, `members: Some(list)` replaces the members.
    Replace {
        /// The new body.
        body: Map<String, Value>,
        /// The new members, if the request carried them.
        members: Option<Vec<Member>>,
    },
    /// PATCH: the function edits the body; its [`PatchOutcome::members`] delta is applied to
    /// the membership rows.
    Patch {
        /// The edit.
        apply: PatchFn,
    },
}

impl std::fmt::Debug for Update {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Replace { body, members } => f
                .debug_struct("Replace")
                .field("body", body)
                .field("members", &members.as_ref().map(Vec::len))
                .finish(),
            Self::Patch { .. } => f.debug_struct("Patch").finish_non_exhaustive(),
        }
    }
}

/// The result of an [`Update`].
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The resource after the update (members and groups not loaded).
    pub resource: StoredResource,
    /// Whether anything changed (body or memberships); if not, nothing was written.
    pub changed: bool,
}

/// A list query, already parsed and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceQuery {
    /// The filter.
    pub filter: Option<Filter>,
    /// The attribute to sort by; `None` keeps the stable storage order (creation order).
    pub sort_by: Option<AttrPath>,
    /// Descending order.
    pub descending: bool,
    /// Index or cursor paging.
    pub paging: Paging,
    /// What to load with each resource.
    pub load: Load,
}

/// One page of a list query.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePage {
    /// How many resources match in all.
    pub total: u64,
    /// This page's resources.
    pub items: Vec<StoredResource>,
    /// With cursor paging: the cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
    /// With cursor paging: the cursor of the previous page, if there is one.
    pub previous_cursor: Option<String>,
}

/// What can go wrong in a store. [`From<StoreError> for ScimError`] is the one table that says
/// what a SCIM client is told.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The resource (or connector, or token) does not exist.
    #[error("not found")]
    NotFound,
    /// A unique value is taken; the text names the attribute and value.
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` named another version.
    #[error("the resource has changed (version {current})")]
    PreconditionFailed {
        /// The version it has now.
        current: i64,
    },
    /// Member references to resources that do not exist in this connector.
    #[error("members do not exist in this connector: {}", .0.join(", "))]
    UnknownMembers(Vec<String>),
    /// A filter or sort the backend cannot run; the text says what.
    #[error("{0}")]
    Unsupported(String),
    /// A cursor the backend did not issue, or no longer understands.
    #[error("invalid cursor")]
    InvalidCursor,
    /// An error from the PATCH function, passed through.
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// A settings document that does not compile: every problem, each naming its field.
    #[error("invalid settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidSettings(Vec<SettingsError>),
    /// An argument the store refuses (an invalid name, a directory order that is not a
    /// permutation); the text says what.
    #[error("{0}")]
    Invalid(String),
    /// The backend failed (I/O, database). Logged, never shown to clients.
    #[error("storage failure: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ScimError::not_found("resource not found"),
            StoreError::Conflict(detail) => ScimError::uniqueness(detail),
            StoreError::PreconditionFailed { current } => ScimError::new(
                412,
                None,
                format!("the resource has changed: its version is now W/\"{current}\""),
            ),
            e @ StoreError::UnknownMembers(_) => ScimError::invalid_value(e.to_string()),
            StoreError::Unsupported(detail) => ScimError::invalid_filter(detail),
            StoreError::InvalidCursor => ScimError::bad_request(
                scim::ScimType::InvalidCursor,
                "the cursor is not valid for this query",
            ),
            StoreError::Scim(e) => e,
            e @ (StoreError::InvalidSettings(_) | StoreError::Invalid(_)) => {
                ScimError::invalid_value(e.to_string())
            }
            StoreError::Backend(cause) => {
                tracing::error!(error = %cause, "storage failure");
                ScimError::internal()
            }
        }
    }
}

/// Everything Roster keeps. Implemented by `roster-store` for SQLite and PostgreSQL.
///
/// Resource methods are scoped by connector: a resource of connector A is invisible to every
/// call made for connector B.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// The directory side of the same store: settings, directories, users, groups, audit log,
    /// sync results, preview and apply.
    fn directory(&self) -> &dyn DirectoryStore;

    /// The administration side: admin accounts, console sessions, API tokens, the SCIM
    /// request log and the dashboard's figures.
    fn admin(&self) -> &dyn AdminStore;

    // ---- connectors ----

    /// Creates a connector, and its directory (last in the order; a `directory.create` audit
    /// row at `connector.created_at`, actor `system`): [`StoreError::Conflict`] if its id is
    /// taken.
    async fn create_connector(&self, connector: &Connector) -> Result<(), StoreError>;
    /// One connector.
    async fn connector(&self, id: &str) -> Result<Option<Connector>, StoreError>;
    /// Every connector, by id.
    async fn connectors(&self) -> Result<Vec<Connector>, StoreError>;
    /// Enables or disables a connector: [`StoreError::NotFound`] if there is none.
    async fn set_connector_enabled(&self, id: &str, enabled: bool) -> Result<(), StoreError>;
    /// Deletes a connector with its tokens, its whole IdP view, its settings and sync results,
    /// and its directory with every user and group in it (one `directory.delete` audit row;
    /// the log keeps their history): [`StoreError::NotFound`] if there is none.
    async fn delete_connector(&self, id: &str, ctx: &WriteContext) -> Result<(), StoreError>;

    // ---- tokens ----

    /// Stores a new token.
    async fn add_token(&self, token: &TokenRecord) -> Result<(), StoreError>;
    /// A token by its public id (for authentication).
    async fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// A connector's tokens, oldest first.
    async fn tokens(&self, connector_id: &str) -> Result<Vec<TokenRecord>, StoreError>;
    /// Deletes a token: [`StoreError::NotFound`] if the connector has no such token.
    async fn revoke_token(&self, connector_id: &str, token_id: &str) -> Result<(), StoreError>;
    /// Records that a token was used.
    async fn touch_token(&self, token_id: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    // ---- the IdP view ----

    /// Creates a resource at `ctx.at` (`meta.created`), and syncs it to the directory in the
    /// same transaction. [`StoreError::Conflict`] if its `userName` (users) or `displayName`
    /// (groups) is taken in this connector, compared case-insensitively;
    /// [`StoreError::UnknownMembers`] if a member does not exist.
    async fn create_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        new: NewResource,
        ctx: &WriteContext,
    ) -> Result<StoredResource, StoreError>;

    /// One resource, or `None`.
    async fn get_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        id: &str,
        load: Load,
    ) -> Result<Option<StoredResource>, StoreError>;

    /// A page of resources matching a query.
    async fn query_resources(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        query: &ResourceQuery,
    ) -> Result<ResourcePage, StoreError>;

    /// Changes a resource in one write transaction at `ctx.at`, and syncs what the change
    /// affects to the directory in it. `if_version`: fail with
    /// [`StoreError::PreconditionFailed`] unless the resource has that version. Uniqueness and
    /// member references are checked as in [`Store::create_resource`].
    async fn update_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        id: &str,
        if_version: Option<i64>,
        update: Update,
        ctx: &WriteContext,
    ) -> Result<Updated, StoreError>;

    /// Deletes a resource at `ctx.at`; a deleted user or group leaves every group it was a
    /// member of (those groups' `lastModified` becomes `ctx.at`). The directory follows in
    /// the same transaction (a deleted user gets the `cleanup.deleted` action).
    async fn delete_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        id: &str,
        if_version: Option<i64>,
        ctx: &WriteContext,
    ) -> Result<(), StoreError>;
}
