//! The APIs' JSON shapes: what goes over the wire, with their OpenAPI schemas.
//!
//! The API owns its contract: these types are made from the domain's (`From` impls) rather
//! than the domain learning about HTTP or OpenAPI. Where a domain type already has a JSON form
//! (the CLI's `--json`), the API's is the same, field for field (a test checks it), plus what
//! only the API adds (`scim_base_url`, `expired`, `history`).

use std::collections::BTreeMap;
use std::fmt;

use roster_core::admin::{ApiTokenRecord, ConnectorActivity, RequestLogEntry};
use roster_core::connector::Connector;
use roster_core::directory::{
    CleanupState, Directory, DirectoryGroup, DirectoryKind, DirectoryUser, Membership, UserData,
};
use roster_core::settings::SettingsError;
use roster_core::store::{
    AuditEntry, ListedGroup, ListedUser, StoredSettings, SyncCounters, SyncOutcome, SyncReport,
    SyncRun, UserInDirectory, UserMembership,
};
use roster_core::sync::{GroupMapping, IdpGroup, Outcome, SyncSummary};
use roster_core::token::TokenRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

// ---- errors ----

/// Every error: the HTTP status again, and what went wrong.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// The HTTP status.
    pub(crate) status: u16,
    /// What went wrong, for people.
    pub(crate) error: String,
    /// For a settings document that does not compile: every problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) problems: Option<Vec<Problem>>,
}

/// A problem in a settings document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Problem {
    /// The field: `mapping.email`, `groups.only_assign[2]`; empty for the whole document.
    pub(crate) field: String,
    /// What is wrong.
    pub(crate) message: String,
    /// The line in the field's text (expressions) or in the document, from 1.
    pub(crate) line: Option<u32>,
    /// The column, in characters, from 1.
    pub(crate) column: Option<u32>,
}

impl From<&SettingsError> for Problem {
    fn from(e: &SettingsError) -> Self {
        Self {
            field: e.field.clone(),
            message: e.message.clone(),
            line: e.position.map(|p| p.line),
            column: e.position.map(|p| p.column),
        }
    }
}

// ---- connectors and their tokens ----

/// A connector.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ConnectorOut {
    /// The slug in its SCIM base URL.
    pub(crate) id: String,
    /// Its name.
    pub(crate) name: String,
    /// A disabled connector answers 401 to every SCIM request.
    pub(crate) enabled: bool,
    /// The URL the IdP is given.
    pub(crate) scim_base_url: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    /// What its IdP did lately.
    pub(crate) activity: ActivityOut,
}

impl ConnectorOut {
    pub(crate) fn new(c: Connector, scim_base_url: String, activity: ActivityOut) -> Self {
        Self {
            id: c.id,
            name: c.name,
            enabled: c.enabled,
            scim_base_url,
            created_at: c.created_at,
            activity,
        }
    }
}

/// A connector's activity.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub(crate) struct ActivityOut {
    /// Users in its IdP view.
    pub(crate) users: u64,
    /// Groups in its IdP view.
    pub(crate) groups: u64,
    /// Its last SCIM request.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) last_request_at: Option<OffsetDateTime>,
    /// Its failed SCIM requests in the last 24 hours.
    pub(crate) recent_errors: u64,
}

impl From<ConnectorActivity> for ActivityOut {
    fn from(a: ConnectorActivity) -> Self {
        Self {
            users: a.users,
            groups: a.groups,
            last_request_at: a.last_request_at,
            recent_errors: a.recent_errors,
        }
    }
}

/// Every connector.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ConnectorList {
    /// By id.
    pub(crate) connectors: Vec<ConnectorOut>,
}

/// A connector to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewConnector {
    /// Its name ("Entra ID").
    pub(crate) name: String,
    /// Its id: 1 to 63 lowercase letters, digits and `-`; made from the name when absent.
    pub(crate) id: Option<String>,
}

/// A new connector, with its first token: shown this once, never again.
#[derive(Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatedConnector {
    /// Its id.
    pub(crate) id: String,
    /// Its name.
    pub(crate) name: String,
    /// Always true for a new connector.
    pub(crate) enabled: bool,
    /// The URL to give the IdP.
    pub(crate) scim_base_url: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    /// The bearer token to give the IdP. Only its hash is kept.
    pub(crate) token: String,
    /// The token's public id (to revoke it).
    pub(crate) token_id: String,
}

/// A connector's bearer token (never the secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct TokenOut {
    /// Its public id.
    pub(crate) id: String,
    /// The connector it opens.
    pub(crate) connector_id: String,
    /// A note.
    pub(crate) description: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    /// After this it opens nothing.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) expires_at: Option<OffsetDateTime>,
    /// Its last use (recorded at most once a minute).
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) last_used_at: Option<OffsetDateTime>,
    /// Whether it has expired.
    pub(crate) expired: bool,
}

impl TokenOut {
    pub(crate) fn new(t: TokenRecord, now: OffsetDateTime) -> Self {
        Self {
            expired: t.expired(now),
            id: t.id,
            connector_id: t.connector_id,
            description: t.description,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A connector's tokens.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct TokenList {
    /// Oldest first.
    pub(crate) tokens: Vec<TokenOut>,
}

/// A token to make.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct NewToken {
    /// A note ("Entra production").
    pub(crate) description: Option<String>,
    /// When it stops working (RFC 3339); never when absent. Entra quarantines a job whose
    /// token expires: give Entra tokens without one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) expires_at: Option<OffsetDateTime>,
}

/// A new token: the secret is shown this once.
#[derive(Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatedToken {
    /// The token.
    #[serde(flatten)]
    pub(crate) record: TokenOut,
    /// The bearer token. Only its hash is kept.
    pub(crate) token: String,
}

// ---- settings, preview, apply, the mapping tester ----

/// A connector's settings document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SettingsOut {
    /// The connector.
    pub(crate) connector_id: String,
    /// Incremented by every save; 0 while the connector runs on the defaults.
    pub(crate) version: i64,
    /// The document (`mapping`, `groups`, `cleanup`, `copy`; see the template).
    #[schema(value_type = Object)]
    pub(crate) settings: Value,
    /// When it was last saved.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) updated_at: Option<OffsetDateTime>,
}

impl From<StoredSettings> for SettingsOut {
    fn from(s: StoredSettings) -> Self {
        Self {
            connector_id: s.connector_id,
            version: s.version,
            settings: serde_json::to_value(&s.settings).unwrap_or_default(),
            updated_at: s.updated_at,
        }
    }
}

/// Settings to save.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsIn {
    /// The whole document; absent fields take their defaults.
    #[schema(value_type = Object)]
    pub(crate) settings: Value,
    /// Save only if the stored version is this one (else 412).
    pub(crate) version: Option<i64>,
}

/// The default settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct TemplateOut {
    /// The default document as TOML, every field explained in comments.
    pub(crate) toml: String,
    /// The default document as JSON.
    #[schema(value_type = Object)]
    pub(crate) settings: Value,
}

/// What to preview.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct PreviewIn {
    /// Proposed settings to run instead of the stored ones.
    #[schema(value_type = Option<Object>)]
    pub(crate) settings: Option<Value>,
}

/// What a preview would do, or what an apply did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SyncReportOut {
    /// The connector.
    pub(crate) connector_id: String,
    /// The stored settings version run; null for proposed settings.
    pub(crate) settings_version: Option<i64>,
    /// Counters over every user and IdP group.
    pub(crate) summary: SummaryOut,
    /// IdP groups with a change or a failure: `scim_id`, `outcome` (`reason` if failed),
    /// `change` (`op`: create, rename, link, unlink, delete…).
    #[schema(value_type = Vec<Object>)]
    pub(crate) groups: Vec<Value>,
    /// Users with a change, a failure or a warning: `username`, `scim_id`, `outcome`
    /// (`reason` if failed), `user` (the change: `op` create/update/delete, with `before`,
    /// `after`, `events`), `memberships` (`op` add/remove/set_origin), `create_groups`,
    /// `warnings`.
    #[schema(value_type = Vec<Object>)]
    pub(crate) users: Vec<Value>,
    /// Whether users were left out of `users` (the summary counts them all).
    pub(crate) truncated: bool,
}

impl From<SyncReport> for SyncReportOut {
    fn from(r: SyncReport) -> Self {
        Self {
            connector_id: r.connector_id,
            settings_version: r.settings_version,
            summary: SummaryOut::from(&r.summary),
            groups: r
                .groups
                .iter()
                .map(|g| serde_json::to_value(g).unwrap_or_default())
                .collect(),
            users: r
                .users
                .iter()
                .map(|u| serde_json::to_value(u).unwrap_or_default())
                .collect(),
            truncated: r.truncated,
        }
    }
}

/// A report's counters.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SummaryOut {
    /// Users created.
    pub(crate) created: u64,
    /// Users updated.
    pub(crate) updated: u64,
    /// Users with nothing to do.
    pub(crate) unchanged: u64,
    /// Users disabled.
    pub(crate) disabled: u64,
    /// Users deleted.
    pub(crate) deleted: u64,
    /// Users not imported.
    pub(crate) filtered: u64,
    /// Users that failed.
    pub(crate) failed: u64,
    /// Users renamed.
    pub(crate) renamed: u64,
    /// Users re-enabled.
    pub(crate) enabled: u64,
    /// Users anonymized.
    pub(crate) anonymized: u64,
    /// Memberships added.
    pub(crate) memberships_added: u64,
    /// Memberships removed.
    pub(crate) memberships_removed: u64,
    /// Directory groups created.
    pub(crate) groups_created: u64,
    /// Directory groups renamed.
    pub(crate) groups_renamed: u64,
    /// Directory groups deleted.
    pub(crate) groups_deleted: u64,
    /// IdP groups that failed.
    pub(crate) groups_failed: u64,
}

impl From<&SyncSummary> for SummaryOut {
    fn from(s: &SyncSummary) -> Self {
        Self {
            created: s.created,
            updated: s.updated,
            unchanged: s.unchanged,
            disabled: s.disabled,
            deleted: s.deleted,
            filtered: s.filtered,
            failed: s.failed,
            renamed: s.renamed,
            enabled: s.enabled,
            anonymized: s.anonymized,
            memberships_added: s.memberships_added,
            memberships_removed: s.memberships_removed,
            groups_created: s.groups_created,
            groups_renamed: s.groups_renamed,
            groups_deleted: s.groups_deleted,
            groups_failed: s.groups_failed,
        }
    }
}

/// A mapping test: one SCIM user through the settings. Give `user_id` (a provisioned user)
/// or `user` (SCIM user JSON), not both.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct MappingTestIn {
    /// Proposed settings; the stored ones when absent.
    #[schema(value_type = Option<Object>)]
    pub(crate) settings: Option<Value>,
    /// The SCIM `id` of a user of the connector's IdP view.
    pub(crate) user_id: Option<String>,
    /// A SCIM user as the IdP would send it; its groups are those its `groups` attribute
    /// names (`[{"value": id, "display": name}]` or names), else none.
    #[schema(value_type = Option<Object>)]
    pub(crate) user: Option<Value>,
}

/// What syncing the user would make of it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct MappingTestOut {
    /// The SCIM id it was tested under.
    pub(crate) scim_id: String,
    /// The directory username it would have (else the mapped one, else its `userName`).
    pub(crate) username: Option<String>,
    /// The directory user it would be; null when it would not be in the directory.
    pub(crate) user: Option<UserDataOut>,
    /// The memberships it would have.
    pub(crate) memberships: Vec<MembershipOut>,
    /// `created`, `updated`, `unchanged`, `disabled`, `deleted`, `filtered` or `failed`.
    pub(crate) outcome: String,
    /// Why it failed.
    pub(crate) reason: Option<String>,
    /// What the admin should know that did not stop the sync.
    pub(crate) warnings: Vec<String>,
    /// Its IdP groups and what the settings make of them.
    pub(crate) groups: Vec<IdpGroupOut>,
    /// The change set the engine returned (as in a preview's `users`).
    #[schema(value_type = Object)]
    pub(crate) changes: Value,
}

impl From<roster_core::sync::tester::MappingTest> for MappingTestOut {
    fn from(t: roster_core::sync::tester::MappingTest) -> Self {
        let (outcome, reason) = outcome(&t.result.outcome);
        Self {
            changes: serde_json::to_value(&t.result).unwrap_or_default(),
            scim_id: t.scim_id,
            username: t.username,
            user: t.user.map(UserDataOut::from),
            memberships: t.memberships.into_iter().map(MembershipOut::from).collect(),
            outcome,
            reason,
            warnings: t.result.warnings,
            groups: t.groups.into_iter().map(IdpGroupOut::from).collect(),
        }
    }
}

fn outcome(o: &Outcome) -> (String, Option<String>) {
    let reason = match o {
        Outcome::Failed { reason } => Some(reason.clone()),
        _ => None,
    };
    (o.as_str().to_owned(), reason)
}

/// A membership as the engine sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct MembershipOut {
    /// The directory group's name.
    pub(crate) group: String,
    /// The SCIM id of its IdP group, if the IdP manages it.
    pub(crate) idp_group: Option<String>,
    /// Why: `idp`, `local`, `rule` or `copied`.
    pub(crate) origin: String,
}

impl From<Membership> for MembershipOut {
    fn from(m: Membership) -> Self {
        Self {
            group: m.group,
            idp_group: m.idp_group,
            origin: m.origin.as_str().to_owned(),
        }
    }
}

/// An IdP group through the settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct IdpGroupOut {
    /// The SCIM group's id.
    pub(crate) scim_id: String,
    /// `imported`, `filtered` or `failed`.
    pub(crate) status: String,
    /// Its directory name, unless the mapping failed.
    pub(crate) name: Option<String>,
    /// Why the mapping failed.
    pub(crate) error: Option<String>,
}

impl From<IdpGroup> for IdpGroupOut {
    fn from(g: IdpGroup) -> Self {
        let (status, name, error) = match g.mapping {
            GroupMapping::Imported { name } => ("imported", Some(name), None),
            GroupMapping::Filtered { name } => ("filtered", Some(name), None),
            GroupMapping::Failed { error } => ("failed", None, Some(error)),
        };
        Self {
            scim_id: g.scim_id,
            status: status.to_owned(),
            name,
            error,
        }
    }
}

/// Sync runs and latest outcomes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ResultsOut {
    /// Runs, newest first: hours of SCIM traffic and applies.
    pub(crate) runs: Vec<SyncRunOut>,
    /// The latest outcome of each SCIM user and group, newest first.
    pub(crate) outcomes: Vec<SyncOutcomeOut>,
}

/// One run's counters.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SyncRunOut {
    /// The connector.
    pub(crate) connector_id: String,
    /// `scim` (an hour of traffic) or `apply`.
    pub(crate) source: String,
    /// The start of the hour, or the apply's time.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) started_at: OffsetDateTime,
    /// The last sync counted.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) last_at: OffsetDateTime,
    /// User outcomes.
    pub(crate) counters: CountersOut,
}

impl From<SyncRun> for SyncRunOut {
    fn from(r: SyncRun) -> Self {
        Self {
            connector_id: r.connector_id,
            source: r.source.as_str().to_owned(),
            started_at: r.started_at,
            last_at: r.last_at,
            counters: r.counters.into(),
        }
    }
}

/// Outcome counters.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CountersOut {
    /// Created.
    pub(crate) created: u64,
    /// Updated.
    pub(crate) updated: u64,
    /// Nothing to do.
    pub(crate) unchanged: u64,
    /// Disabled.
    pub(crate) disabled: u64,
    /// Deleted.
    pub(crate) deleted: u64,
    /// Not imported.
    pub(crate) filtered: u64,
    /// Failed (users and IdP groups).
    pub(crate) failed: u64,
}

impl From<SyncCounters> for CountersOut {
    fn from(c: SyncCounters) -> Self {
        Self {
            created: c.created,
            updated: c.updated,
            unchanged: c.unchanged,
            disabled: c.disabled,
            deleted: c.deleted,
            filtered: c.filtered,
            failed: c.failed,
        }
    }
}

/// The latest outcome of a SCIM user or group.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SyncOutcomeOut {
    /// The connector.
    pub(crate) connector_id: String,
    /// `user` or `group`.
    pub(crate) subject: String,
    /// The SCIM id.
    pub(crate) scim_id: String,
    /// The directory name it maps to, else the IdP's.
    pub(crate) name: Option<String>,
    /// `created`, `updated`, `unchanged`, `disabled`, `deleted`, `filtered` or `failed`.
    pub(crate) outcome: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// Warnings.
    pub(crate) warnings: Vec<String>,
    /// `scim` or `apply`.
    pub(crate) source: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) at: OffsetDateTime,
}

impl From<SyncOutcome> for SyncOutcomeOut {
    fn from(o: SyncOutcome) -> Self {
        let (outcome, reason) = outcome(&o.outcome);
        Self {
            connector_id: o.connector_id,
            subject: match o.subject {
                roster_core::store::SyncSubject::User => "user",
                roster_core::store::SyncSubject::Group => "group",
            }
            .to_owned(),
            scim_id: o.scim_id,
            name: o.name,
            outcome,
            reason,
            warnings: o.warnings,
            source: o.source.as_str().to_owned(),
            at: o.at,
        }
    }
}

// ---- the request log ----

/// A logged SCIM request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RequestLogOut {
    /// Its position in the log.
    pub(crate) seq: i64,
    /// When it arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) at: OffsetDateTime,
    /// The connector.
    pub(crate) connector_id: String,
    /// Its `x-request-id`.
    pub(crate) request_id: Option<String>,
    /// The HTTP method.
    pub(crate) method: String,
    /// The path below the connector's base URL, with the query.
    pub(crate) path: String,
    /// The response status.
    pub(crate) status: u16,
    /// How long the answer took, in milliseconds.
    pub(crate) duration_ms: u32,
    /// A failed request's body, secrets masked.
    pub(crate) request_body: Option<String>,
    /// A failed request's response body, secrets masked.
    pub(crate) response_body: Option<String>,
}

impl From<RequestLogEntry> for RequestLogOut {
    fn from(e: RequestLogEntry) -> Self {
        let r = e.request;
        Self {
            seq: e.seq,
            at: r.at,
            connector_id: r.connector_id,
            request_id: r.request_id,
            method: r.method,
            path: r.path,
            status: r.status,
            duration_ms: r.duration_ms,
            request_body: r.request_body,
            response_body: r.response_body,
        }
    }
}

/// A page of the request log, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RequestLogPage {
    /// The entries.
    pub(crate) entries: Vec<RequestLogOut>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub(crate) next_before: Option<i64>,
}

// ---- directories, users, groups ----

/// A directory.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct DirectoryOut {
    /// `internal` or a connector's id.
    pub(crate) id: String,
    /// Its name.
    pub(crate) name: String,
    /// `internal` or `connector`.
    pub(crate) kind: String,
    /// The connector, for a connector's directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) connector_id: Option<String>,
    /// Its place in the order, 0 first: the earliest wins a username.
    pub(crate) position: u32,
}

impl From<Directory> for DirectoryOut {
    fn from(d: Directory) -> Self {
        let (kind, connector_id) = match d.kind {
            DirectoryKind::Internal => ("internal", None),
            DirectoryKind::Connector { connector_id } => ("connector", Some(connector_id)),
        };
        Self {
            id: d.id,
            name: d.name,
            kind: kind.to_owned(),
            connector_id,
            position: d.position,
        }
    }
}

/// The directories, in order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct DirectoryList {
    /// First wins.
    pub(crate) directories: Vec<DirectoryOut>,
}

/// A new directory order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderIn {
    /// Every directory id, exactly once, first wins.
    pub(crate) order: Vec<String>,
}

/// A directory user's data.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UserDataOut {
    /// Unique in its directory, ignoring case.
    pub(crate) username: String,
    /// The name apps show.
    pub(crate) display_name: String,
    /// Email.
    pub(crate) email: Option<String>,
    /// Given name.
    pub(crate) first_name: Option<String>,
    /// Family name.
    pub(crate) last_name: Option<String>,
    /// Whether it may sign in.
    pub(crate) active: bool,
    /// Custom attributes.
    pub(crate) attributes: BTreeMap<String, String>,
    /// The last sign-in an app reported.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) last_login: Option<OffsetDateTime>,
    /// The SCIM id of the IdP user it is synced from; null for a local user.
    pub(crate) idp_id: Option<String>,
    /// Set while a cleanup rule acts on it.
    pub(crate) cleanup: Option<CleanupOut>,
    /// Whether its names are a pseudonym.
    pub(crate) anonymized: bool,
}

impl From<UserData> for UserDataOut {
    fn from(d: UserData) -> Self {
        Self {
            username: d.username,
            display_name: d.display_name,
            email: d.email,
            first_name: d.first_name,
            last_name: d.last_name,
            active: d.active,
            attributes: d.attributes,
            last_login: d.last_login,
            idp_id: d.idp_id,
            cleanup: d.cleanup.map(CleanupOut::from),
            anonymized: d.anonymized,
        }
    }
}

/// Why and how a cleanup rule acts on a user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CleanupOut {
    /// `deleted`, `not_in_required` or `dropped`.
    pub(crate) reason: String,
    /// `disable`, `delete`, `anonymize` or `keep`.
    pub(crate) action: String,
}

impl From<CleanupState> for CleanupOut {
    fn from(c: CleanupState) -> Self {
        Self {
            reason: c.reason.as_str().to_owned(),
            action: c.action.as_str().to_owned(),
        }
    }
}

/// A user of a directory.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct DirectoryUserOut {
    /// The store's id.
    pub(crate) id: String,
    /// Its directory.
    pub(crate) directory: String,
    /// Its data.
    #[serde(flatten)]
    pub(crate) data: UserDataOut,
}

impl From<DirectoryUser> for DirectoryUserOut {
    fn from(u: DirectoryUser) -> Self {
        Self {
            id: u.id,
            directory: u.directory,
            data: u.data.into(),
        }
    }
}

/// A user of a listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ListedUserOut {
    /// The user.
    #[serde(flatten)]
    pub(crate) user: DirectoryUserOut,
    /// Whether apps see it: no earlier directory holds its username.
    pub(crate) effective: bool,
}

impl From<ListedUser> for ListedUserOut {
    fn from(u: ListedUser) -> Self {
        Self {
            user: u.user.into(),
            effective: u.effective,
        }
    }
}

/// A page of users, by username.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UserPageOut {
    /// How many match in all.
    pub(crate) total: u64,
    /// This page.
    pub(crate) users: Vec<ListedUserOut>,
    /// Pass as `after` for the next page; null on the last.
    pub(crate) next: Option<String>,
}

/// A user's membership.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UserMembershipOut {
    /// The group's store id.
    pub(crate) group_id: String,
    /// The group's name.
    pub(crate) group: String,
    /// The group's IdP link, if the IdP manages it.
    pub(crate) idp_group: Option<String>,
    /// Why: `idp`, `local`, `rule` or `copied`.
    pub(crate) origin: String,
}

impl From<UserMembership> for UserMembershipOut {
    fn from(m: UserMembership) -> Self {
        Self {
            group_id: m.group_id,
            group: m.group,
            idp_group: m.idp_group,
            origin: m.origin.as_str().to_owned(),
        }
    }
}

/// A user of one directory, with its memberships.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UserInDirectoryOut {
    /// The user.
    #[serde(flatten)]
    pub(crate) user: DirectoryUserOut,
    /// Its memberships in its directory, by group name.
    pub(crate) memberships: Vec<UserMembershipOut>,
    /// Whether apps see this one.
    pub(crate) effective: bool,
}

impl From<UserInDirectory> for UserInDirectoryOut {
    fn from(u: UserInDirectory) -> Self {
        Self {
            user: u.user.into(),
            memberships: u.memberships.into_iter().map(Into::into).collect(),
            effective: u.effective,
        }
    }
}

/// Everything about one username.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UserDetailOut {
    /// The directory of the user apps see.
    pub(crate) effective_directory: String,
    /// Every user with this username, in directory order (the first is effective).
    pub(crate) users: Vec<UserInDirectoryOut>,
    /// The audit rows about these users, newest first (at most 100 each).
    pub(crate) history: Vec<AuditEntryOut>,
}

/// A local user to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUserIn {
    /// The directory; `internal` when absent.
    #[serde(default)]
    pub(crate) directory: Option<String>,
    /// The username, unique in the directory ignoring case.
    pub(crate) username: String,
    /// The name apps show; the username when absent.
    #[serde(default)]
    pub(crate) display_name: Option<String>,
    /// Email.
    #[serde(default)]
    pub(crate) email: Option<String>,
    /// Given name.
    #[serde(default)]
    pub(crate) first_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub(crate) last_name: Option<String>,
    /// Whether it may sign in; true when absent.
    #[serde(default)]
    pub(crate) active: Option<bool>,
    /// Custom attributes.
    #[serde(default)]
    pub(crate) attributes: BTreeMap<String, String>,
}

/// A group of a directory.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct GroupOut {
    /// The store's id.
    pub(crate) id: String,
    /// Its directory.
    pub(crate) directory: String,
    /// Unique in its directory, ignoring case.
    pub(crate) name: String,
    /// A description.
    pub(crate) description: Option<String>,
    /// The SCIM id of its IdP group; null for a local group.
    pub(crate) idp_id: Option<String>,
}

impl From<DirectoryGroup> for GroupOut {
    fn from(g: DirectoryGroup) -> Self {
        Self {
            id: g.id,
            directory: g.directory,
            name: g.name,
            description: g.description,
            idp_id: g.idp_id,
        }
    }
}

/// A group of a listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ListedGroupOut {
    /// The group.
    #[serde(flatten)]
    pub(crate) group: GroupOut,
    /// How many users are in it.
    pub(crate) members: u64,
}

impl From<ListedGroup> for ListedGroupOut {
    fn from(g: ListedGroup) -> Self {
        Self {
            group: g.group.into(),
            members: g.members,
        }
    }
}

/// A page of groups, by name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct GroupPageOut {
    /// How many match in all.
    pub(crate) total: u64,
    /// This page.
    pub(crate) groups: Vec<ListedGroupOut>,
    /// Pass as `after` for the next page; null on the last.
    pub(crate) next: Option<String>,
}

/// A local group to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewGroupIn {
    /// The directory; `internal` when absent.
    #[serde(default)]
    pub(crate) directory: Option<String>,
    /// The name, unique in the directory ignoring case.
    pub(crate) name: String,
    /// A description.
    #[serde(default)]
    pub(crate) description: Option<String>,
}

/// A user to put in a group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberIn {
    /// A username of the group's directory.
    pub(crate) username: String,
}

/// A membership change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct MemberOut {
    /// The group's store id.
    pub(crate) group_id: String,
    /// The group's name.
    pub(crate) group: String,
    /// The group's directory.
    pub(crate) directory: String,
    /// The user.
    pub(crate) username: String,
    /// False when the user already was a member.
    pub(crate) added: bool,
}

// ---- the audit log ----

/// One directory change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AuditEntryOut {
    /// Increasing, never reused.
    pub(crate) seq: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) at: OffsetDateTime,
    /// The connector whose sync or settings made it.
    pub(crate) connector_id: Option<String>,
    /// The directory changed.
    pub(crate) directory: Option<String>,
    /// Who: `connector:{id}`, `admin:{name}`, `admin:token:{id}`, `cli`, `system`.
    pub(crate) actor: String,
    /// The request that made it.
    pub(crate) request_id: Option<String>,
    /// About what.
    pub(crate) subject: SubjectOut,
    /// `user.create`, `membership.add`, `group.rename`, …
    pub(crate) action: String,
    /// The subject before.
    #[schema(value_type = Option<Object>)]
    pub(crate) before: Option<Value>,
    /// The subject after.
    #[schema(value_type = Option<Object>)]
    pub(crate) after: Option<Value>,
    /// More about it.
    #[schema(value_type = Option<Object>)]
    pub(crate) detail: Option<Value>,
}

/// The subject of an audit row.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SubjectOut {
    /// `user`, `group`, `membership` (the subject is the user), `settings`, `directory`.
    pub(crate) kind: String,
    /// Its id: a user's or group's store id, a connector id, a directory id.
    pub(crate) id: String,
    /// Its name when the row was written.
    pub(crate) name: Option<String>,
}

impl From<AuditEntry> for AuditEntryOut {
    fn from(e: AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at: e.at,
            connector_id: e.connector_id,
            directory: e.directory,
            actor: e.actor.to_string(),
            request_id: e.request_id,
            subject: SubjectOut {
                kind: e.subject.kind.as_str().to_owned(),
                id: e.subject.id,
                name: e.subject.name,
            },
            action: e.action.as_str().to_owned(),
            before: e.before,
            after: e.after,
            detail: e.detail,
        }
    }
}

/// Audit rows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AuditPage {
    /// By sequence number (newest first if asked).
    pub(crate) entries: Vec<AuditEntryOut>,
    /// Oldest first: pass as `since` for the next page; null when this page was not full.
    pub(crate) next_since: Option<i64>,
}

// ---- API tokens ----

/// An admin or application API token (never the secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApiTokenOut {
    /// Its public id.
    pub(crate) id: String,
    /// `admin` (the admin API) or `app` (the application API, read-only).
    pub(crate) scope: String,
    /// A note.
    pub(crate) description: String,
    /// Who made it.
    pub(crate) created_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    /// After this it opens nothing.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) expires_at: Option<OffsetDateTime>,
    /// Its last use.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) last_used_at: Option<OffsetDateTime>,
    /// Whether it has expired.
    pub(crate) expired: bool,
}

impl ApiTokenOut {
    pub(crate) fn new(t: ApiTokenRecord, now: OffsetDateTime) -> Self {
        Self {
            expired: t.expired(now),
            id: t.id,
            scope: t.scope.as_str().to_owned(),
            description: t.description,
            created_by: t.created_by,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// Every API token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApiTokenList {
    /// Oldest first.
    pub(crate) tokens: Vec<ApiTokenOut>,
}

/// An API token to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewApiToken {
    /// `admin` or `app`.
    pub(crate) scope: String,
    /// What it is for.
    #[serde(default)]
    pub(crate) description: String,
    /// When it stops working (RFC 3339); never when absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub(crate) expires_at: Option<OffsetDateTime>,
}

/// A new API token: the secret is shown this once.
#[derive(Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatedApiToken {
    /// The token.
    #[serde(flatten)]
    pub(crate) record: ApiTokenOut,
    /// The bearer token. Only its hash is kept.
    pub(crate) token: String,
}

// The answers that carry a new secret print it as `***` (a `Debug` that reaches a log must not
// carry it).

impl fmt::Debug for CreatedConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedConnector")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("scim_base_url", &self.scim_base_url)
            .field("created_at", &self.created_at)
            .field("token", &"***")
            .field("token_id", &self.token_id)
            .finish()
    }
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken")
            .field("record", &self.record)
            .field("token", &"***")
            .finish()
    }
}

impl fmt::Debug for CreatedApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApiToken")
            .field("record", &self.record)
            .field("token", &"***")
            .finish()
    }
}

// ---- the application API ----

/// A user as applications see it: the effective user of its username.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AppUser {
    /// The username.
    pub(crate) username: String,
    /// The name to show.
    pub(crate) display_name: String,
    /// Email.
    pub(crate) email: Option<String>,
    /// Given name.
    pub(crate) first_name: Option<String>,
    /// Family name.
    pub(crate) last_name: Option<String>,
    /// Whether it may sign in.
    pub(crate) active: bool,
    /// Custom attributes.
    pub(crate) attributes: BTreeMap<String, String>,
    /// The last sign-in an app reported.
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) last_login: Option<OffsetDateTime>,
    /// The directory it comes from.
    pub(crate) directory: String,
}

impl From<DirectoryUser> for AppUser {
    fn from(u: DirectoryUser) -> Self {
        let d = u.data;
        Self {
            username: d.username,
            display_name: d.display_name,
            email: d.email,
            first_name: d.first_name,
            last_name: d.last_name,
            active: d.active,
            attributes: d.attributes,
            last_login: d.last_login,
            directory: u.directory,
        }
    }
}

/// A page of users.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AppUserPage {
    /// How many in all.
    pub(crate) total: u64,
    /// This page, by username.
    pub(crate) users: Vec<AppUser>,
    /// Pass as `after` for the next page; null on the last.
    pub(crate) next: Option<String>,
}

/// A user and its groups.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AppUserDetail {
    /// The user.
    #[serde(flatten)]
    pub(crate) user: AppUser,
    /// The names of its groups (in its own directory), by name.
    pub(crate) groups: Vec<String>,
}

/// A group as applications see it: one per name, of the earliest directory holding it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AppGroup {
    /// The name.
    pub(crate) name: String,
    /// A description.
    pub(crate) description: Option<String>,
    /// The directory it comes from.
    pub(crate) directory: String,
}

/// A page of groups.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AppGroupPage {
    /// How many in all.
    pub(crate) total: u64,
    /// This page, by name.
    pub(crate) groups: Vec<AppGroup>,
    /// Pass as `after` for the next page; null on the last.
    pub(crate) next: Option<String>,
}

/// The change feed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ChangesOut {
    /// Directory changes after `after`, oldest first.
    pub(crate) changes: Vec<AuditEntryOut>,
    /// Pass as `after` next time: the position reached (rows apps do not see are skipped
    /// past too). Null only when the log is empty and no `after` was given.
    pub(crate) next_after: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::directory::{CleanupAction, CleanupReason};

    fn user() -> DirectoryUser {
        DirectoryUser {
            id: "7".into(),
            directory: "entra".into(),
            data: UserData {
                username: "adele".into(),
                display_name: "Adele V".into(),
                email: Some("adele@contoso.com".into()),
                first_name: None,
                last_name: Some("V".into()),
                active: false,
                attributes: BTreeMap::from([("department".into(), "Sales".into())]),
                last_login: Some(OffsetDateTime::UNIX_EPOCH),
                idp_id: Some("u1".into()),
                cleanup: Some(CleanupState {
                    reason: CleanupReason::Deleted,
                    action: CleanupAction::Disable,
                }),
                anonymized: false,
            },
        }
    }

    /// The API speaks the domain's JSON (the CLI's `--json`) where the domain has one.
    #[test]
    fn shapes_match_the_domain() {
        let same = |api: Value, core: Value| assert_eq!(api, core);
        let u = user();
        same(
            serde_json::to_value(DirectoryUserOut::from(u.clone())).unwrap(),
            serde_json::to_value(&u).unwrap(),
        );
        let listed = ListedUser {
            user: u.clone(),
            effective: true,
        };
        same(
            serde_json::to_value(ListedUserOut::from(listed.clone())).unwrap(),
            serde_json::to_value(&listed).unwrap(),
        );
        let group = DirectoryGroup {
            id: "3".into(),
            directory: "internal".into(),
            name: "jira-users".into(),
            description: Some("d".into()),
            idp_id: None,
        };
        same(
            serde_json::to_value(GroupOut::from(group.clone())).unwrap(),
            serde_json::to_value(&group).unwrap(),
        );
        for d in [
            Directory::internal(),
            Directory::for_connector("entra", "Entra", 1),
        ] {
            same(
                serde_json::to_value(DirectoryOut::from(d.clone())).unwrap(),
                serde_json::to_value(&d).unwrap(),
            );
        }
        let entry = AuditEntry {
            seq: 4,
            at: OffsetDateTime::UNIX_EPOCH,
            connector_id: Some("entra".into()),
            directory: Some("entra".into()),
            actor: roster_core::store::Actor::Connector("entra".into()),
            request_id: Some("r".into()),
            subject: roster_core::store::AuditSubject {
                kind: roster_core::store::SubjectKind::User,
                id: "7".into(),
                name: Some("adele".into()),
            },
            action: roster_core::store::AuditAction::UserCreate,
            before: None,
            after: Some(serde_json::json!({"username": "adele"})),
            detail: None,
        };
        same(
            serde_json::to_value(AuditEntryOut::from(entry.clone())).unwrap(),
            serde_json::to_value(&entry).unwrap(),
        );
    }

    #[test]
    fn app_users_show_no_links_or_cleanup_state() {
        let v = serde_json::to_value(AppUser::from(user())).unwrap();
        for hidden in ["idp_id", "cleanup", "anonymized", "id"] {
            assert!(v.get(hidden).is_none(), "{hidden} in {v}");
        }
        assert_eq!(v["directory"], "entra");
    }

    #[test]
    fn new_secrets_are_not_in_debug_output() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let created = CreatedApiToken {
            record: ApiTokenOut::new(
                roster_core::admin::generate_api_token(
                    roster_core::admin::ApiScope::App,
                    "",
                    "cli",
                    now,
                    None,
                )
                .unwrap()
                .1,
                now,
            ),
            token: "roster_app_secret-value".into(),
        };
        assert!(!format!("{created:?}").contains("secret-value"));
        let connector = CreatedConnector {
            id: "c".into(),
            name: "C".into(),
            enabled: true,
            scim_base_url: "https://x/scim/v2/c".into(),
            created_at: now,
            token: "scim-secret-value".into(),
            token_id: "t".into(),
        };
        assert!(!format!("{connector:?}").contains("secret-value"));
        let token = CreatedToken {
            record: TokenOut {
                id: "t".into(),
                connector_id: "c".into(),
                description: String::new(),
                created_at: now,
                expires_at: None,
                last_used_at: None,
                expired: false,
            },
            token: "scim-secret-value".into(),
        };
        assert!(!format!("{token:?}").contains("secret-value"));
    }
}
