//! The application's directory: what apps see, built by the sync engine from the IdP view.
//!
//! # Model
//!
//! - **Directories** are ordered sources of users and groups: the built-in [`INTERNAL`]
//!   directory (users and groups an administrator creates or imports) and one per connector,
//!   whose id is the connector's id. The order can be changed ([`reorder`]).
//! - **Users** belong to one directory. Their username is unique in that directory, compared
//!   case-insensitively ([`fold_name`]). A user synced from an IdP is linked to its SCIM
//!   resource by the SCIM `id` ([`UserData::idp_id`]), not by the username, so an IdP-side
//!   `userName` change is a rename. A user the cleanup rules act on records why
//!   ([`UserData::cleanup`]), so it can come back when the reason goes away.
//! - **Groups** belong to one directory, names unique case-insensitively. A group is managed by
//!   the IdP when it is linked to a SCIM group ([`DirectoryGroup::idp_id`]), else it is local.
//! - **Memberships** carry their [`MembershipOrigin`]: why the user is in the group.
//!
//! # The effective view
//!
//! When one username exists in several directories, the user of the earliest directory in
//! the order wins, whether active or not, and it is the only one apps see: its attributes and
//! its own directory's memberships (Jira and Crowd semantics, without membership aggregation).
//! [`effective_users`] computes that view from the users of every directory.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The built-in directory's id. No connector may use it as its id.
pub const INTERNAL: &str = "internal";

/// The longest username or group name, in characters (Jira's and Crowd's limit).
pub const MAX_NAME_LEN: usize = 255;

/// The key a username or group name is unique under: its Unicode lower case.
///
/// Stores keep it in an indexed column next to the name and compare keys, never names, so the
/// case-insensitive uniqueness of a directory is the same in SQLite, PostgreSQL and here.
#[must_use]
pub fn fold_name(name: &str) -> String {
    name.to_lowercase()
}

/// Checks a username or group name: 1 to [`MAX_NAME_LEN`] characters, no control characters,
/// no white space at either end (apps compare names exactly; a trailing space makes a second
/// "same" user).
///
/// # Errors
///
/// What is wrong, for the admin.
pub fn validate_name(kind: &str, name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(format!("the {kind} is empty"));
    }
    if name.trim() != name {
        return Err(format!(
            "the {kind} '{name}' starts or ends with white space"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "the {kind} '{}' contains a control character",
            name.escape_debug()
        ));
    }
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(format!(
            "the {kind} is {len} characters long; at most {MAX_NAME_LEN} are allowed"
        ));
    }
    Ok(())
}

/// Where a directory's users come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DirectoryKind {
    /// The built-in directory.
    Internal,
    /// Synced from a connector.
    Connector {
        /// The connector's id.
        connector_id: String,
    },
}

/// A directory: one source of users and groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// [`INTERNAL`] or the connector's id.
    pub id: String,
    /// A human-readable name.
    pub name: String,
    /// Where its users come from.
    #[serde(flatten)]
    pub kind: DirectoryKind,
    /// Its place in the order, 0 first.
    pub position: u32,
}

impl Directory {
    /// The built-in directory, first in the order until an admin moves it.
    #[must_use]
    pub fn internal() -> Self {
        Self {
            id: INTERNAL.to_owned(),
            name: "Internal".to_owned(),
            kind: DirectoryKind::Internal,
            position: 0,
        }
    }

    /// The directory of a connector.
    #[must_use]
    pub fn for_connector(connector_id: &str, name: &str, position: u32) -> Self {
        Self {
            id: connector_id.to_owned(),
            name: name.to_owned(),
            kind: DirectoryKind::Connector {
                connector_id: connector_id.to_owned(),
            },
            position,
        }
    }
}

/// Why a directory change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// A new order does not list every directory exactly once.
    #[error("the order must list every directory exactly once: {0}")]
    BadOrder(String),
}

/// Puts `directories` in the order `order` gives (directory ids, first wins) and renumbers
/// their positions.
///
/// # Errors
///
/// [`DirectoryError::BadOrder`] unless `order` names every directory exactly once.
pub fn reorder(
    directories: &[Directory],
    order: &[&str],
) -> Result<Vec<Directory>, DirectoryError> {
    let by_id: HashMap<&str, &Directory> = directories.iter().map(|d| (d.id.as_str(), d)).collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(order.len());
    for (i, id) in order.iter().enumerate() {
        let Some(d) = by_id.get(id) else {
            return Err(DirectoryError::BadOrder(format!("no directory '{id}'")));
        };
        if !seen.insert(*id) {
            return Err(DirectoryError::BadOrder(format!("'{id}' is listed twice")));
        }
        let mut d = (*d).clone();
        d.position = u32::try_from(i).unwrap_or(u32::MAX);
        out.push(d);
    }
    if let Some(missing) = directories.iter().find(|d| !seen.contains(d.id.as_str())) {
        return Err(DirectoryError::BadOrder(format!(
            "'{}' is missing",
            missing.id
        )));
    }
    Ok(out)
}

/// Why the cleanup rules act on a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanupReason {
    /// The IdP deleted the user.
    Deleted,
    /// The user is in none of the required groups.
    NotInRequired,
    /// The mapping's `drop` condition is true for the user.
    Dropped,
}

impl CleanupReason {
    /// The name used in settings and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::NotInRequired => "not_in_required",
            Self::Dropped => "dropped",
        }
    }
}

impl fmt::Display for CleanupReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the cleanup rules do to a user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanupAction {
    /// Deactivate the user (the default, as Atlassian recommends: history and ownership stay).
    #[default]
    Disable,
    /// Remove the user from the directory.
    Delete,
    /// Deactivate the user and replace its username, names, email and custom attributes with
    /// a stable pseudonym; the link to the IdP stays, so the user is restored if it returns.
    Anonymize,
    /// Leave the user as it is.
    Keep,
}

impl CleanupAction {
    /// The name used in settings and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Delete => "delete",
            Self::Anonymize => "anonymize",
            Self::Keep => "keep",
        }
    }
}

impl fmt::Display for CleanupAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// That the cleanup rules act on a user, why, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CleanupState {
    /// Why.
    pub reason: CleanupReason,
    /// What was done.
    pub action: CleanupAction,
}

/// A directory user's data: everything but its identity in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserData {
    /// Unique in the directory, case-insensitively.
    pub username: String,
    /// The name apps show.
    pub display_name: String,
    /// The email address, if any.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Whether the user may sign in.
    pub active: bool,
    /// Custom attributes (mapped from the IdP, copied, or set locally).
    pub attributes: BTreeMap<String, String>,
    /// The last sign-in an app reported.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
    /// The SCIM `id` of the IdP user this user is synced from; `None` for a local user.
    pub idp_id: Option<String>,
    /// Set while a cleanup rule acts on the user.
    pub cleanup: Option<CleanupState>,
    /// Whether the username, names, email and attributes are a pseudonym.
    pub anonymized: bool,
}

/// A user of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    /// The store's id for it.
    pub id: String,
    /// The directory it belongs to.
    pub directory: String,
    /// Its data.
    #[serde(flatten)]
    pub data: UserData,
}

/// A group of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryGroup {
    /// The store's id for it.
    pub id: String,
    /// The directory it belongs to.
    pub directory: String,
    /// Unique in the directory, case-insensitively.
    pub name: String,
    /// A description, kept by Roster (SCIM groups have none).
    pub description: Option<String>,
    /// The SCIM `id` of the IdP group it is synced from; `None` for a local group.
    pub idp_id: Option<String>,
}

impl DirectoryGroup {
    /// Whether the IdP manages it.
    #[must_use]
    pub fn managed_by_idp(&self) -> bool {
        self.idp_id.is_some()
    }
}

/// Why a user is in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipOrigin {
    /// The IdP reports it.
    Idp,
    /// An administrator added it.
    Local,
    /// An always-assign rule adds it.
    Rule,
    /// Copied from the user of another directory when the user first arrived.
    Copied,
}

impl MembershipOrigin {
    /// The name used in the API and logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idp => "idp",
            Self::Local => "local",
            Self::Rule => "rule",
            Self::Copied => "copied",
        }
    }
}

impl fmt::Display for MembershipOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's membership of a group of the same directory, as the sync engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The group's name.
    pub group: String,
    /// The group's link to the IdP ([`DirectoryGroup::idp_id`]).
    pub idp_group: Option<String>,
    /// Why the user is in it.
    pub origin: MembershipOrigin,
}

/// The user apps see for one username, and the users of later directories it hides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveUser<'a> {
    /// The user of the earliest directory.
    pub user: &'a DirectoryUser,
    /// Same-named users of later directories, in directory order.
    pub shadowed: Vec<&'a DirectoryUser>,
}

/// The effective view: for each username (case-insensitively), the user of the earliest
/// directory in `order` (directory ids, first wins). Users of directories not in `order` are
/// left out. The result is sorted by folded username.
#[must_use]
pub fn effective_users<'a>(
    order: &[&str],
    users: impl IntoIterator<Item = &'a DirectoryUser>,
) -> Vec<EffectiveUser<'a>> {
    let rank: HashMap<&str, usize> = order.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut by_name: BTreeMap<String, Vec<(usize, &'a DirectoryUser)>> = BTreeMap::new();
    for user in users {
        if let Some(&r) = rank.get(user.directory.as_str()) {
            by_name
                .entry(fold_name(&user.data.username))
                .or_default()
                .push((r, user));
        }
    }
    by_name
        .into_values()
        .map(|mut same| {
            // Stable: two users of one directory cannot share a name, but if a store ever
            // held them, the first listed wins consistently.
            same.sort_by_key(|(r, _)| *r);
            let mut it = same.into_iter().map(|(_, u)| u);
            let user = it.next().expect("every entry holds at least one user");
            EffectiveUser {
                user,
                shadowed: it.collect(),
            }
        })
        .collect()
}

/// The effective user among the same-named `candidates` (any order): the one of the earliest
/// directory in `order`.
#[must_use]
pub fn effective_user<'a>(
    order: &[&str],
    candidates: &[&'a DirectoryUser],
) -> Option<&'a DirectoryUser> {
    candidates
        .iter()
        .filter_map(|u| {
            order
                .iter()
                .position(|d| *d == u.directory)
                .map(|r| (r, *u))
        })
        .min_by_key(|(r, _)| *r)
        .map(|(_, u)| u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(directory: &str, username: &str, active: bool) -> DirectoryUser {
        DirectoryUser {
            id: format!("{directory}/{username}"),
            directory: directory.to_owned(),
            data: UserData {
                username: username.to_owned(),
                display_name: username.to_owned(),
                email: None,
                first_name: None,
                last_name: None,
                active,
                attributes: BTreeMap::new(),
                last_login: None,
                idp_id: None,
                cleanup: None,
                anonymized: false,
            },
        }
    }

    #[test]
    fn earliest_directory_wins_whatever_the_case_or_state() {
        let users = [
            user("entra", "Adele", true),
            user("internal", "adele", false),
            user("okta", "ADELE", true),
            user("okta", "jordan", true),
            user("retired", "adele", true),
        ];
        let view = effective_users(&["internal", "entra", "okta"], &users);
        assert_eq!(view.len(), 2);
        assert_eq!(view[0].user.id, "internal/adele", "inactive still wins");
        let shadowed: Vec<&str> = view[0].shadowed.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(shadowed, ["entra/Adele", "okta/ADELE"]);
        assert_eq!(view[1].user.id, "okta/jordan");

        let view = effective_users(&["okta", "entra", "internal"], &users);
        assert_eq!(view[0].user.id, "okta/ADELE");

        let candidates: Vec<&DirectoryUser> = users.iter().take(3).collect();
        assert_eq!(
            effective_user(&["entra", "internal"], &candidates).map(|u| u.id.as_str()),
            Some("entra/Adele")
        );
        assert_eq!(effective_user(&["nowhere"], &candidates), None);
    }

    #[test]
    fn reorder_is_a_permutation() {
        let dirs = vec![
            Directory::internal(),
            Directory::for_connector("entra", "Entra ID", 1),
            Directory::for_connector("okta", "Okta", 2),
        ];
        let out = reorder(&dirs, &["okta", "internal", "entra"]).unwrap();
        let got: Vec<(&str, u32)> = out.iter().map(|d| (d.id.as_str(), d.position)).collect();
        assert_eq!(got, [("okta", 0), ("internal", 1), ("entra", 2)]);
        for (order, message) in [
            (vec!["okta", "internal"], "'entra' is missing"),
            (
                vec!["okta", "okta", "internal", "entra"],
                "'okta' is listed twice",
            ),
            (vec!["okta", "internal", "entra", "x"], "no directory 'x'"),
        ] {
            let err = reorder(&dirs, &order).unwrap_err();
            assert!(err.to_string().contains(message), "{err}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(fold_name("ÄdeLe"), "ädele");
        assert!(validate_name("username", "adele@contoso.com").is_ok());
        for bad in ["", "  ", " adele", "adele ", "a\u{0}b", &"x".repeat(256)] {
            assert!(validate_name("username", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_shapes() {
        let d = Directory::for_connector("entra", "Entra ID", 1);
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"id": "entra", "name": "Entra ID", "kind": "connector", "connector_id": "entra", "position": 1})
        );
        let u = user("entra", "adele", true);
        let back: DirectoryUser =
            serde_json::from_value(serde_json::to_value(&u).unwrap()).unwrap();
        assert_eq!(back, u);
        assert_eq!(
            serde_json::to_value(CleanupState {
                reason: CleanupReason::NotInRequired,
                action: CleanupAction::Anonymize
            })
            .unwrap(),
            serde_json::json!({"reason": "not_in_required", "action": "anonymize"})
        );
    }
}
