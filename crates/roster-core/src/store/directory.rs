//! The directory side of the store ([`DirectoryStore`]): what the sync engine made of the IdP
//! view, and what an administrator sees and steers.
//!
//! # Why a second trait
//!
//! [`Store`](super::Store) is the IdP view (and connectors and tokens): what SCIM handlers
//! call. [`DirectoryStore`] is everything the sync engine writes and the admin tools read:
//! connector settings, the ordered directories with their users, groups and memberships, the
//! audit log, sync results, and preview/apply. A backend implements both on one type and hands
//! the second out through [`Store::directory`](super::Store::directory), so one
//! `Arc<dyn Store>` reaches everything, while a wrapper of the SCIM side (a test double that
//! injects faults) delegates the whole directory side with one method.
//!
//! # What a backend guarantees
//!
//! - **Same transaction.** Every SCIM write
//!   ([`Store::create_resource`](super::Store::create_resource),
//!   [`Store::update_resource`](super::Store::update_resource),
//!   [`Store::delete_resource`](super::Store::delete_resource))
//!   runs the sync engine for the users it affects inside its own write transaction, with the
//!   connector's stored settings, so the IdP view and the directory never disagree: a user
//!   write syncs that user; a group write syncs the group ([`crate::sync::sync_group`]) and
//!   then exactly the users whose memberships changed (k users for a delta of k members). A
//!   group write that changes how the group bears on its members (imported or filtered,
//!   required or not, always-assigned or not, mappable or not) re-syncs all of them; deleting
//!   a group re-syncs its members only if it was required, always-assigned or unmappable
//!   (otherwise deleting the directory group is the whole change). A user whose mapping
//!   fails at run time gets a `failed` outcome and the SCIM write stands.
//! - **Audit.** Every directory change writes one [`AuditEntry`] in the transaction that made
//!   it, with the [`WriteContext`]'s time, actor and request id. Sequence numbers only grow
//!   and are never reused: `since` paging is a change feed.
//! - **Sync results.** Every synced user (and IdP group) records its latest outcome, and the
//!   counters of its run: an hourly bucket for SCIM traffic, one run per apply.
//! - **Preview = apply.** [`DirectoryStore::preview`] runs the engine over every user of the
//!   connector exactly as [`DirectoryStore::apply`] does (IdP groups first, then users in
//!   creation order, then users the IdP deleted), each seeing the changes of the ones before,
//!   and writes nothing; with no SCIM traffic in between, apply's report equals the preview.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use time::OffsetDateTime;

use super::StoreError;
use crate::directory::{Directory, DirectoryGroup, DirectoryUser, MembershipOrigin};
use crate::settings::Settings;
use crate::sync::{GroupResult, Outcome, SyncSummary, UserResult};

// ---- who, when, why ----

/// Who changed the directory: the audit log's `actor`.
///
/// Written as text: `connector:{id}` (SCIM traffic of that connector), `admin:{name}` (the
/// admin API or console), `cli`, `system`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A connector's IdP, through its SCIM endpoint.
    Connector(String),
    /// A named administrator.
    Admin(String),
    /// The command line.
    Cli,
    /// Roster itself (migrations, housekeeping).
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connector(id) => write!(f, "connector:{id}"),
            Self::Admin(name) => write!(f, "admin:{name}"),
            Self::Cli => f.write_str("cli"),
            Self::System => f.write_str("system"),
        }
    }
}

impl FromStr for Actor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some(("connector", id)) => Ok(Self::Connector(id.to_owned())),
            Some(("admin", name)) => Ok(Self::Admin(name.to_owned())),
            None if s == "cli" => Ok(Self::Cli),
            None if s == "system" => Ok(Self::System),
            _ => Err(format!("unknown actor '{s}'")),
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// When a write happens, who makes it and for which request: every write method that changes
/// the directory (SCIM writes included) takes one, and the audit log records it. Time is an
/// input (STYLE.md habit 9): stores never read the system clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteContext {
    /// When.
    pub at: OffsetDateTime,
    /// Who.
    pub actor: Actor,
    /// The request that caused it (`x-request-id`), if any.
    pub request_id: Option<String>,
}

impl WriteContext {
    /// A write at `at` by `actor`, for no particular request.
    #[must_use]
    pub fn new(at: OffsetDateTime, actor: Actor) -> Self {
        Self {
            at,
            actor,
            request_id: None,
        }
    }

    /// The same, for the request `request_id`.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }
}

// ---- settings ----

/// A connector's settings document as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSettings {
    /// The connector.
    pub connector_id: String,
    /// Incremented by every [`DirectoryStore::set_settings`]; 0 while the connector runs on
    /// the defaults (never set).
    pub version: i64,
    /// The document.
    pub settings: Settings,
    /// When it was last set; `None` for the defaults.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

// ---- users and groups ----

/// A page request for [`DirectoryStore::users`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Only the users of this directory; `None` for every directory.
    pub directory: Option<String>,
    /// Only users whose username, display name or email contains this text, ignoring case.
    pub search: Option<String>,
    /// Only members of a group of this name (ignoring case) in the user's own directory: with
    /// `effective_only`, the members apps see of the group.
    pub member_of: Option<String>,
    /// Only the users apps see ([`ListedUser::effective`]): one per username.
    pub effective_only: bool,
    /// The [`UserPage::next`] cursor of the previous page.
    pub after: Option<String>,
    /// The most users to return (0 means the store's default, 100; capped at 1,000).
    pub limit: u32,
}

/// One user of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedUser {
    /// The user.
    #[serde(flatten)]
    pub user: DirectoryUser,
    /// Whether apps see this user for its username: no earlier directory in the order holds
    /// the same username (case-insensitively).
    pub effective: bool,
}

/// A page of users, ordered by username (case-insensitively), then by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPage {
    /// How many users match in all.
    pub total: u64,
    /// This page.
    pub users: Vec<ListedUser>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// A user's membership, as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMembership {
    /// The group's store id.
    pub group_id: String,
    /// The group's name.
    pub group: String,
    /// The group's IdP link, if the IdP manages it.
    pub idp_group: Option<String>,
    /// Why the user is in it.
    pub origin: MembershipOrigin,
}

/// A user of one directory with its memberships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInDirectory {
    /// The user.
    #[serde(flatten)]
    pub user: DirectoryUser,
    /// Its memberships in its directory, by group name.
    pub memberships: Vec<UserMembership>,
    /// Whether this is the user apps see for the username.
    pub effective: bool,
}

/// Everything about one username ([`DirectoryStore::user`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDetail {
    /// The directory the effective user comes from: the earliest in the order that holds the
    /// username.
    pub effective_directory: String,
    /// Every user with this username, one per directory, in directory order (the first is
    /// the effective one).
    pub users: Vec<UserInDirectory>,
}

/// A page request for [`DirectoryStore::groups`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupQuery {
    /// Only the groups of this directory; `None` for every directory.
    pub directory: Option<String>,
    /// Only groups whose name contains this text, ignoring case.
    pub search: Option<String>,
    /// Only groups with exactly this name, ignoring case (one per directory at most).
    pub name: Option<String>,
    /// Only one group per name, of the earliest directory that holds it: the groups apps see.
    pub effective_only: bool,
    /// The [`GroupPage::next`] cursor of the previous page.
    pub after: Option<String>,
    /// The most groups to return (0 means the store's default, 100; capped at 1,000).
    pub limit: u32,
}

/// One group of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedGroup {
    /// The group.
    #[serde(flatten)]
    pub group: DirectoryGroup,
    /// How many users are in it.
    pub members: u64,
}

/// A page of groups, ordered by name (case-insensitively), then by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPage {
    /// How many groups match in all.
    pub total: u64,
    /// This page.
    pub groups: Vec<ListedGroup>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// A user an administrator creates or imports ([`DirectoryStore::create_user`]): a local user,
/// linked to no IdP user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// Unique in the directory, case-insensitively; a valid name
    /// ([`crate::directory::validate_name`]).
    pub username: String,
    /// The name apps show; the username when `None`.
    pub display_name: Option<String>,
    /// The email address.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Whether the user may sign in.
    pub active: bool,
    /// Custom attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The last sign-in, when importing from another system.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
}

impl NewUser {
    /// An active user with only a username.
    #[must_use]
    pub fn named(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            display_name: None,
            email: None,
            first_name: None,
            last_name: None,
            active: true,
            attributes: BTreeMap::new(),
            last_login: None,
        }
    }
}

/// A local group an administrator creates ([`DirectoryStore::create_group`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewGroup {
    /// Unique in the directory, case-insensitively.
    pub name: String,
    /// A description.
    pub description: Option<String>,
}

// ---- the audit log ----

/// What an audit row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A directory user (`subject.id` is its store id).
    User,
    /// A directory group.
    Group,
    /// A membership: the subject is the user; `before`/`after` name the group and origin.
    Membership,
    /// A connector's settings (`subject.id` is the connector id).
    Settings,
    /// A directory, or the directory order.
    Directory,
}

impl SubjectKind {
    /// The name stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Membership => "membership",
            Self::Settings => "settings",
            Self::Directory => "directory",
        }
    }
}

impl FromStr for SubjectKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "user" => Self::User,
            "group" => Self::Group,
            "membership" => Self::Membership,
            "settings" => Self::Settings,
            "directory" => Self::Directory,
            other => return Err(format!("unknown subject kind '{other}'")),
        })
    }
}

/// What happened, `{subject}.{verb}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// `user.create`: `after` is the user's data.
    UserCreate,
    /// `user.update`: `before` and `after` are the user's data; `detail.events` says what
    /// notable happened (renamed, disabled, cleaned up, …).
    UserUpdate,
    /// `user.delete`: `before` is the user's data; its memberships went with it.
    UserDelete,
    /// `membership.add`: `after` is `{group, group_id, idp_group, origin}`.
    MembershipAdd,
    /// `membership.remove`: `before` is `{group, group_id, idp_group, origin}`.
    MembershipRemove,
    /// `membership.origin`: the membership stays for another reason; `before`/`after` carry
    /// the origins.
    MembershipOrigin,
    /// `group.create`: `after` is the group.
    GroupCreate,
    /// `group.rename`: `before`/`after` are the group; its memberships stay.
    GroupRename,
    /// `group.link`: a local group taken over by an IdP group of the same name.
    GroupLink,
    /// `group.unlink`: the IdP group is gone (or filtered out) but a rule protects the
    /// directory group, which stays as a local group with its memberships.
    GroupUnlink,
    /// `group.delete`: `before` is the group; its memberships went with it.
    GroupDelete,
    /// `settings.set`: `before`/`after` are `{version, settings}`.
    SettingsSet,
    /// `directory.create`, with its connector.
    DirectoryCreate,
    /// `directory.delete`, with its connector (and all its users and groups).
    DirectoryDelete,
    /// `directory.order`: `before`/`after` are the directory ids in order.
    DirectoryOrder,
}

impl AuditAction {
    const ALL: [Self; 15] = [
        Self::UserCreate,
        Self::UserUpdate,
        Self::UserDelete,
        Self::MembershipAdd,
        Self::MembershipRemove,
        Self::MembershipOrigin,
        Self::GroupCreate,
        Self::GroupRename,
        Self::GroupLink,
        Self::GroupUnlink,
        Self::GroupDelete,
        Self::SettingsSet,
        Self::DirectoryCreate,
        Self::DirectoryDelete,
        Self::DirectoryOrder,
    ];

    /// The name stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreate => "user.create",
            Self::UserUpdate => "user.update",
            Self::UserDelete => "user.delete",
            Self::MembershipAdd => "membership.add",
            Self::MembershipRemove => "membership.remove",
            Self::MembershipOrigin => "membership.origin",
            Self::GroupCreate => "group.create",
            Self::GroupRename => "group.rename",
            Self::GroupLink => "group.link",
            Self::GroupUnlink => "group.unlink",
            Self::GroupDelete => "group.delete",
            Self::SettingsSet => "settings.set",
            Self::DirectoryCreate => "directory.create",
            Self::DirectoryDelete => "directory.delete",
            Self::DirectoryOrder => "directory.order",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown audit action '{s}'"))
    }
}

impl Serialize for AuditAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The subject of an audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSubject {
    /// What it is.
    pub kind: SubjectKind,
    /// Its id: a user's or group's store id, a connector id, a directory id.
    pub id: String,
    /// Its name when the row was written (username, group name), for reading the log
    /// without joins.
    pub name: Option<String>,
}

/// One row of the audit log: one directory change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The sequence number: increasing, never reused.
    pub seq: i64,
    /// When ([`WriteContext::at`]).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The connector whose sync or settings made the change, if any.
    pub connector_id: Option<String>,
    /// The directory changed, if any.
    pub directory: Option<String>,
    /// Who.
    pub actor: Actor,
    /// The request, if any.
    pub request_id: Option<String>,
    /// About what.
    pub subject: AuditSubject,
    /// What happened.
    pub action: AuditAction,
    /// The subject before (JSON), if it existed.
    pub before: Option<Value>,
    /// The subject after (JSON), if it still exists.
    pub after: Option<Value>,
    /// More about it (the sync events of a user change, a group's deleted member count).
    pub detail: Option<Value>,
}

/// A request for audit rows ([`DirectoryStore::audit`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only rows of this connector.
    pub connector_id: Option<String>,
    /// Only rows about this directory user (its store id): its `user.*` and `membership.*`
    /// rows, its history.
    pub user_id: Option<String>,
    /// Only rows after this sequence number (a change-feed consumer's position).
    pub since: Option<i64>,
    /// The most rows to return (0 means 100; capped at 10,000).
    pub limit: u32,
    /// Newest first (the last `limit` rows) instead of oldest first.
    pub newest_first: bool,
}

// ---- sync results ----

/// What caused a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncSource {
    /// A SCIM write.
    Scim,
    /// [`DirectoryStore::apply`].
    Apply,
}

impl SyncSource {
    /// The name stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scim => "scim",
            Self::Apply => "apply",
        }
    }
}

/// The outcome counters of a run (see [`Outcome`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCounters {
    /// Users created.
    pub created: u64,
    /// Users updated.
    pub updated: u64,
    /// Users synced with nothing to do.
    pub unchanged: u64,
    /// Users disabled.
    pub disabled: u64,
    /// Users deleted.
    pub deleted: u64,
    /// Users not imported.
    pub filtered: u64,
    /// Users (and IdP groups) that failed.
    pub failed: u64,
}

impl SyncCounters {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Disabled => self.disabled += 1,
            Outcome::Deleted => self.deleted += 1,
            Outcome::Filtered => self.filtered += 1,
            Outcome::Failed { .. } => self.failed += 1,
        }
    }

    /// Adds another set of counters to these.
    pub fn merge(&mut self, other: &Self) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.disabled += other.disabled;
        self.deleted += other.deleted;
        self.filtered += other.filtered;
        self.failed += other.failed;
    }

    /// Whether nothing was counted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The counters of one run: an hour of SCIM traffic, or one apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRun {
    /// The connector.
    pub connector_id: String,
    /// SCIM traffic or apply.
    pub source: SyncSource,
    /// The start of the hour (SCIM) or the apply's time.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The last sync counted in it.
    #[serde(with = "time::serde::rfc3339")]
    pub last_at: OffsetDateTime,
    /// User outcomes (the failed count includes IdP groups that failed).
    pub counters: SyncCounters,
}

/// What is synced: a user or an IdP group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncSubject {
    /// A SCIM user.
    User,
    /// A SCIM group.
    Group,
}

/// The latest outcome of one SCIM user (or group) of a connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOutcome {
    /// The connector.
    pub connector_id: String,
    /// User or group.
    pub subject: SyncSubject,
    /// The SCIM id.
    pub scim_id: String,
    /// The directory username (or group name) it maps to, else the IdP's `userName`
    /// (`displayName`), when known.
    pub name: Option<String>,
    /// The outcome, with the reason when it failed.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Warnings that did not stop the sync.
    pub warnings: Vec<String>,
    /// What caused it.
    pub source: SyncSource,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A request for sync outcomes ([`DirectoryStore::sync_outcomes`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeQuery {
    /// The connector.
    pub connector_id: String,
    /// Only this outcome (`created`, `failed`, … as [`Outcome::as_str`]).
    pub outcome: Option<String>,
    /// The most rows, newest first (0 means 100; capped at 10,000).
    pub limit: u32,
}

// ---- preview and apply ----

/// Options of a preview or apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// Preview only: run with this document instead of the stored one (it is compiled first;
    /// errors are [`StoreError::InvalidSettings`]).
    pub proposed: Option<Settings>,
    /// The most user results listed in the report (the summary counts all of them).
    pub max_details: usize,
    /// Apply only: users per write transaction (0 means 500). Each batch is one job of the
    /// backend's writer, so SCIM writes interleave with a long apply instead of waiting for it.
    pub batch_size: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            proposed: None,
            max_details: 10_000,
            batch_size: 0,
        }
    }
}

/// One user of a report: the engine's result and a name to show it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedUser {
    /// The directory username after the sync (else before it, else the IdP's `userName`).
    pub username: Option<String>,
    /// What the engine decided.
    #[serde(flatten)]
    pub result: UserResult,
}

/// What a preview would do, or what an apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// The connector.
    pub connector_id: String,
    /// The stored settings version run; `None` for a proposed document.
    pub settings_version: Option<i64>,
    /// Counters over every user and IdP group.
    pub summary: SyncSummary,
    /// IdP groups with a change or a failure.
    pub groups: Vec<GroupResult>,
    /// Users with a change, a failure or a warning (at most [`SyncOptions::max_details`]).
    pub users: Vec<ReportedUser>,
    /// Whether users were left out of `users` for [`SyncOptions::max_details`].
    pub truncated: bool,
}

/// The directory side of the store (see the module docs).
#[async_trait]
pub trait DirectoryStore: Send + Sync + fmt::Debug {
    // ---- settings ----

    /// A connector's settings: the defaults (version 0) until set. [`StoreError::NotFound`]
    /// if there is no such connector.
    async fn settings(&self, connector_id: &str) -> Result<StoredSettings, StoreError>;

    /// Validates (compiles) and stores a connector's settings, incrementing the version, and
    /// writes a `settings.set` audit row with the document before and after. The new settings
    /// apply to the next SCIM write; run [`DirectoryStore::apply`] to re-sync everyone now.
    /// `if_version`: fail with [`StoreError::PreconditionFailed`] unless the stored version is
    /// that one. Errors: [`StoreError::InvalidSettings`] with every problem found,
    /// [`StoreError::NotFound`] if there is no such connector.
    async fn set_settings(
        &self,
        connector_id: &str,
        settings: &Settings,
        if_version: Option<i64>,
        ctx: &WriteContext,
    ) -> Result<StoredSettings, StoreError>;

    // ---- directories ----

    /// Every directory, in order (the earliest wins a username).
    async fn directories(&self) -> Result<Vec<Directory>, StoreError>;

    /// Puts the directories in `order` (directory ids, each exactly once) and writes a
    /// `directory.order` audit row. [`StoreError::Invalid`] unless `order` lists every
    /// directory exactly once.
    async fn reorder_directories(
        &self,
        order: &[String],
        ctx: &WriteContext,
    ) -> Result<Vec<Directory>, StoreError>;

    // ---- users and groups ----

    /// A page of users, of one directory or all.
    async fn users(&self, query: &UserQuery) -> Result<UserPage, StoreError>;

    /// Every user named `username` (case-insensitively), one per directory, with memberships
    /// and which one is effective; `None` if no directory holds the name.
    async fn user(&self, username: &str) -> Result<Option<UserDetail>, StoreError>;

    /// A page of groups, of one directory or all, with member counts.
    async fn groups(&self, query: &GroupQuery) -> Result<GroupPage, StoreError>;

    /// One group, by its store id.
    async fn group(&self, id: &str) -> Result<Option<DirectoryGroup>, StoreError>;

    /// The user of `directory` linked to the IdP user `idp_id` (a SCIM id), if any.
    async fn linked_user(
        &self,
        directory: &str,
        idp_id: &str,
    ) -> Result<Option<DirectoryUser>, StoreError>;

    /// Creates a local user in `directory` (typically [`crate::directory::INTERNAL`]), with a
    /// `user.create` audit row. [`StoreError::Conflict`] if the username is taken there,
    /// [`StoreError::Invalid`] for an invalid username, [`StoreError::NotFound`] if there is
    /// no such directory.
    async fn create_user(
        &self,
        directory: &str,
        user: &NewUser,
        ctx: &WriteContext,
    ) -> Result<DirectoryUser, StoreError>;

    /// Creates a local group in `directory`, with a `group.create` audit row. Errors as
    /// [`DirectoryStore::create_user`].
    async fn create_group(
        &self,
        directory: &str,
        group: &NewGroup,
        ctx: &WriteContext,
    ) -> Result<DirectoryGroup, StoreError>;

    /// Puts the user `username` in the group `group` of `directory` with origin `local`, with
    /// a `membership.add` audit row. Returns false (and writes nothing) if it already was a
    /// member. [`StoreError::NotFound`] if the directory, user or group does not exist.
    ///
    /// In a connector's directory the sync rules still apply: by default the IdP is
    /// authoritative, so the user's next sync removes a local membership that no
    /// `never_remove` rule covers.
    async fn add_member(
        &self,
        directory: &str,
        username: &str,
        group: &str,
        ctx: &WriteContext,
    ) -> Result<bool, StoreError>;

    /// Takes the user out of the group, with a `membership.remove` audit row. Returns false if
    /// it was not a member. [`StoreError::NotFound`] as [`DirectoryStore::add_member`].
    async fn remove_member(
        &self,
        directory: &str,
        username: &str,
        group: &str,
        ctx: &WriteContext,
    ) -> Result<bool, StoreError>;

    // ---- audit and sync results ----

    /// Audit rows, by sequence number.
    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;

    /// A connector's runs, newest first: hourly buckets of SCIM traffic and applies, since
    /// `since` (their start) if given, at most `limit` (0 means 100).
    async fn sync_runs(
        &self,
        connector_id: &str,
        since: Option<OffsetDateTime>,
        limit: u32,
    ) -> Result<Vec<SyncRun>, StoreError>;

    /// The latest outcome of each SCIM user and group of a connector, newest first.
    async fn sync_outcomes(&self, query: &OutcomeQuery) -> Result<Vec<SyncOutcome>, StoreError>;

    // ---- preview and apply ----

    /// Runs the engine over every IdP group and user of the connector, with the stored
    /// settings or [`SyncOptions::proposed`], and reports what would change. Writes nothing.
    async fn preview(
        &self,
        connector_id: &str,
        options: &SyncOptions,
    ) -> Result<SyncReport, StoreError>;

    /// Runs the engine over every IdP group and user of the connector with the stored
    /// settings and writes the result, in batches of [`SyncOptions::batch_size`] users (each
    /// one write transaction), with audit rows (actor and request id from `ctx`) and sync
    /// results (one `apply` run at `ctx.at`). [`StoreError::Conflict`] if the settings change
    /// while it runs (the batches written stand; run it again).
    async fn apply(
        &self,
        connector_id: &str,
        options: &SyncOptions,
        ctx: &WriteContext,
    ) -> Result<SyncReport, StoreError>;
}
