//! A connector's settings: how the IdP view becomes the application's directory.
//!
//! One document per connector, TOML on the command line and JSON in the API, with the same
//! shape (see [`Settings::TEMPLATE`] for the commented default document). Every field has a
//! default that works for Microsoft Entra ID and Okta as they provision out of the box, so an
//! empty document is a valid one. Unknown fields are refused: a misspelt rule must not be
//! silently ignored.
//!
//! Settings are checked and compiled when they are saved ([`Settings::compile`]): every
//! expression is parsed and checked, every regular expression compiled, every limit enforced;
//! each problem is reported with the field it is in (`mapping.email`, `groups.only_assign[2]`)
//! and, where it has one, the position inside that field's text. The [`CompiledSettings`] are
//! what the sync engine runs, many times, without compiling anything again.
//!
//! # Name lists
//!
//! `only_assign`, `never_assign`, `never_remove` and `required` hold group names or regular
//! expressions. An entry matches a (mapped) group name when it equals the name ignoring case, or
//! when, read as a regular expression, it matches the *whole* name ignoring case: `jira-.*`
//! matches `Jira-Users` but not `old-jira-users`. Regular-expression characters in a plain name
//! must be escaped (`c\+\+`); an entry that is not a valid regular expression is refused.
//! `always_assign` holds plain names only: they are groups to put users in.

use std::collections::BTreeMap;
use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::directory::{self, CleanupAction, CleanupReason, fold_name};
use crate::sync::expr::{self, CompileError, Expression, Subject};

pub use crate::sync::expr::Position;

/// The largest settings document accepted, in bytes.
pub const MAX_DOCUMENT_LEN: usize = 256 * 1024;
/// The most entries a name list may hold.
pub const MAX_LIST_ENTRIES: usize = 256;
/// The most custom attributes a mapping may define.
pub const MAX_ATTRIBUTES: usize = 64;
/// The longest custom attribute name.
pub const MAX_ATTRIBUTE_NAME_LEN: usize = 64;

/// A connector's settings document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How each directory field is computed from the SCIM user.
    pub mapping: Mapping,
    /// Which IdP groups are imported and how memberships are managed.
    pub groups: GroupRules,
    /// What happens to users who are deleted in the IdP, not in a required group, or dropped.
    pub cleanup: CleanupRules,
    /// Copying from another directory when a user first arrives.
    pub copy: CopyRules,
}

/// `[mapping]`: each directory field is an expression over `user`, the SCIM user as the IdP
/// wrote it (see [`crate::sync::expr`] for the language and its functions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mapping {
    /// The username (required, unique in the directory ignoring case). Default `user.userName`:
    /// the UPN for Entra, the Okta username. Guest UPNs (`a_b.com#EXT#@tenant.onmicrosoft.com`)
    /// can be turned back into emails with `guest_email(user.userName)`.
    pub username: String,
    /// The display name. Default: `displayName`, else given and family name, else the username.
    /// Empty falls back to the username.
    pub display_name: String,
    /// The email address. Default `primary_email(user)`: the primary email, else the work one,
    /// else the first.
    pub email: String,
    /// The given name. Default `user.name.givenName`.
    pub first_name: String,
    /// The family name. Default `user.name.familyName`.
    pub last_name: String,
    /// Whether the user is active: a yes/no expression. Default: SCIM `active`, true when the
    /// IdP does not say. Entra and Okta deactivate a user by setting `active` to false, which
    /// disables the directory user (this is mapping, not cleanup: no cleanup action applies).
    pub active: String,
    /// A yes/no expression: true drops the user from the directory, and `cleanup.dropped`
    /// decides what that means. Default `false`. Example: `coalesce(user.userType) == "Guest"`.
    pub drop: String,
    /// Custom attributes: name = expression. An empty result removes the attribute. Attributes
    /// not named here (copied from another directory, or set locally) are left alone.
    /// Example: `department = 'ext(user, "department")'`.
    pub attributes: BTreeMap<String, String>,
}

impl Default for Mapping {
    fn default() -> Self {
        Self {
            username: "user.userName".into(),
            display_name: "coalesce(user.displayName, join(\" \", user.name.givenName, user.name.familyName), user.userName)".into(),
            email: "primary_email(user)".into(),
            first_name: "user.name.givenName".into(),
            last_name: "user.name.familyName".into(),
            active: "coalesce(user.active, true)".into(),
            drop: "false".into(),
            attributes: BTreeMap::new(),
        }
    }
}

/// `[groups]`: which IdP groups become directory groups, and how memberships are kept.
///
/// The default membership rule: the IdP is the single source of truth for the memberships of
/// its users. At each sync of a user, a membership the IdP does not report is removed, local
/// ones included, unless `never_remove` or `always_assign` covers its group. `never_assign =
/// [".*"]` with `never_remove = [".*"]` syncs user data only and leaves groups to the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupRules {
    /// The directory group's name, an expression over `group` (the SCIM group). Default
    /// `group.displayName`. The lists below apply to this mapped name.
    pub name: String,
    /// Only import these groups (names or regular expressions); empty imports all. Groups left
    /// out are not imported at all: no directory group, no memberships.
    pub only_assign: Vec<String>,
    /// Never import these groups (names or regular expressions); wins over `only_assign`.
    pub never_assign: Vec<String>,
    /// Put every synced user in these groups (plain names; created as local groups if
    /// missing), again at every sync: removing such a membership by hand is undone.
    pub always_assign: Vec<String>,
    /// Never remove users from these groups (names or regular expressions), whatever the IdP
    /// reports.
    pub never_remove: Vec<String>,
    /// If not empty, a user must be in at least one of these groups (names or regular
    /// expressions, matched against the imported IdP groups) to stay active; otherwise
    /// `cleanup.not_in_required` applies.
    pub required: Vec<String>,
}

impl Default for GroupRules {
    fn default() -> Self {
        Self {
            name: "group.displayName".into(),
            only_assign: Vec::new(),
            never_assign: Vec::new(),
            always_assign: Vec::new(),
            never_remove: Vec::new(),
            required: Vec::new(),
        }
    }
}

/// `[cleanup]`: what happens to a user when (a) the IdP deletes it, (b) it is in no required
/// group, (c) the `drop` condition holds: `disable` (default), `delete`, `anonymize` or `keep`.
///
/// While a reason holds, the user is left as the action made it (its data is not refreshed).
/// When the reason goes away, the user comes back: rebuilt from the IdP data, active again (if
/// the IdP says so) and de-anonymized. A user who would be dropped or is in no required group
/// when it first arrives is not created at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CleanupRules {
    /// For users deleted in the IdP (Entra deletes 30 days after a soft delete; Okta never
    /// deletes, it deactivates).
    pub deleted: CleanupAction,
    /// For users in none of `groups.required`.
    pub not_in_required: CleanupAction,
    /// For users the `mapping.drop` condition drops.
    pub dropped: CleanupAction,
    /// Also remove every membership of a cleaned-up user (all origins). Off by default: Entra
    /// does not re-send dynamic group memberships when a user is restored.
    pub remove_memberships: bool,
}

impl CleanupRules {
    /// The action for `reason`.
    #[must_use]
    pub fn action(&self, reason: CleanupReason) -> CleanupAction {
        match reason {
            CleanupReason::Deleted => self.deleted,
            CleanupReason::NotInRequired => self.not_in_required,
            CleanupReason::Dropped => self.dropped,
        }
    }
}

/// `[copy]`: when a user first arrives and a user with the same username exists in
/// `from_directory`, copy that user's group memberships (origin `copied`; groups are created as
/// local groups if missing), custom attributes (the mapped ones win) and last login.
///
/// Copied memberships follow the membership rules afterwards: with the default rule (the IdP
/// is authoritative) a copied membership the IdP does not report is removed at the user's next
/// sync unless `groups.never_remove` covers it, so list the copied groups there (or `.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CopyRules {
    /// The directory to copy from, e.g. `internal`; empty turns copying off.
    pub from_directory: String,
}

/// A problem in a settings document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsError {
    /// The field, as a path: `mapping.email`, `mapping.attributes.department`,
    /// `groups.only_assign[2]`; empty for the document as a whole.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// Where in the field's text (for expressions) or in the document (for syntax errors).
    pub position: Option<Position>,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        if let Some(p) = self.position {
            write!(f, "{p}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for SettingsError {}

impl SettingsError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            position: None,
        }
    }

    fn from_compile(field: &str, e: CompileError) -> Self {
        Self {
            field: field.to_owned(),
            message: e.message,
            position: e.position,
        }
    }
}

impl Settings {
    /// The default settings as a commented TOML document: what `settings show` prints for a
    /// new connector, and the admin's reference for every field.
    pub const TEMPLATE: &'static str = TEMPLATE;

    /// Reads a TOML document.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] with the position of the syntax error or unknown field.
    pub fn from_toml(text: &str) -> Result<Self, SettingsError> {
        check_size(text)?;
        toml::from_str(text).map_err(|e| SettingsError {
            field: String::new(),
            message: e.message().to_owned(),
            position: e.span().map(|s| Position::at_offset(text, s.start)),
        })
    }

    /// Writes the document as TOML.
    #[must_use]
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self)
            .expect("settings are plain tables of strings, lists and booleans")
    }

    /// Reads a JSON document.
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] with the position of the syntax error or unknown field.
    pub fn from_json(text: &str) -> Result<Self, SettingsError> {
        check_size(text)?;
        serde_json::from_str(text).map_err(|e| SettingsError {
            field: String::new(),
            message: e.to_string(),
            position: (e.line() > 0).then(|| Position::at_line_column(text, e.line(), e.column())),
        })
    }

    /// Reads a JSON value (an API request body already parsed).
    ///
    /// # Errors
    ///
    /// A [`SettingsError`] naming the unknown field or wrong type.
    pub fn from_json_value(value: Value) -> Result<Self, SettingsError> {
        serde_json::from_value(value).map_err(|e| SettingsError::new("", e.to_string()))
    }

    /// Checks everything and compiles the expressions and regular expressions, so that the
    /// sync engine never compiles anything. Run it when settings are saved.
    ///
    /// # Errors
    ///
    /// Every problem found, each naming its field.
    pub fn compile(&self) -> Result<CompiledSettings, Vec<SettingsError>> {
        let mut errors = Vec::new();
        let m = &self.mapping;
        let mut expression = |field: &str, source: &str, subject: Subject| -> Option<Expression> {
            Expression::compile(source, subject)
                .map_err(|es| {
                    errors.extend(
                        es.into_iter()
                            .map(|e| SettingsError::from_compile(field, e)),
                    );
                })
                .ok()
        };
        let username = expression("mapping.username", &m.username, Subject::User);
        let display_name = expression("mapping.display_name", &m.display_name, Subject::User);
        let email = expression("mapping.email", &m.email, Subject::User);
        let first_name = expression("mapping.first_name", &m.first_name, Subject::User);
        let last_name = expression("mapping.last_name", &m.last_name, Subject::User);
        let active = expression("mapping.active", &m.active, Subject::User);
        let drop = expression("mapping.drop", &m.drop, Subject::User);
        let group_name = expression("groups.name", &self.groups.name, Subject::Group);
        let mut attributes = Vec::with_capacity(m.attributes.len());
        for (name, source) in &m.attributes {
            let field = format!("mapping.attributes.{name}");
            if let Some(e) = expression(&field, source, Subject::User) {
                attributes.push((name.clone(), e));
            }
        }
        if m.attributes.len() > MAX_ATTRIBUTES {
            errors.push(SettingsError::new(
                "mapping.attributes",
                format!(
                    "{} attributes; at most {MAX_ATTRIBUTES} are allowed",
                    m.attributes.len()
                ),
            ));
        }
        for name in m.attributes.keys() {
            if let Err(message) = validate_attribute_name(name) {
                errors.push(SettingsError::new(
                    format!("mapping.attributes.{name}"),
                    message,
                ));
            }
        }

        let g = &self.groups;
        let only_assign = NamePatterns::compile("groups.only_assign", &g.only_assign, &mut errors);
        let never_assign =
            NamePatterns::compile("groups.never_assign", &g.never_assign, &mut errors);
        let never_remove =
            NamePatterns::compile("groups.never_remove", &g.never_remove, &mut errors);
        let required = NamePatterns::compile("groups.required", &g.required, &mut errors);
        check_list_len("groups.always_assign", &g.always_assign, &mut errors);
        let mut always_assign: Vec<String> = Vec::with_capacity(g.always_assign.len());
        for (i, name) in g.always_assign.iter().enumerate() {
            let field = format!("groups.always_assign[{i}]");
            if let Err(message) = directory::validate_name("group name", name) {
                errors.push(SettingsError::new(field, message));
            } else if always_assign
                .iter()
                .any(|a| fold_name(a) == fold_name(name))
            {
                errors.push(SettingsError::new(
                    field,
                    format!("'{name}' is listed twice"),
                ));
            } else {
                always_assign.push(name.clone());
            }
        }

        let from = &self.copy.from_directory;
        // `internal` is no valid connector id (it is reserved), but it is a directory.
        if !from.is_empty()
            && from != directory::INTERNAL
            && crate::connector::validate_id(from).is_err()
        {
            errors.push(SettingsError::new(
                "copy.from_directory",
                format!("'{from}' is not a directory id (\"internal\" or a connector id), or empty to turn copying off"),
            ));
        }

        match (
            username,
            display_name,
            email,
            first_name,
            last_name,
            active,
            drop,
            group_name,
        ) {
            (
                Some(username),
                Some(display_name),
                Some(email),
                Some(first_name),
                Some(last_name),
                Some(active),
                Some(drop),
                Some(group_name),
            ) if errors.is_empty() => Ok(CompiledSettings {
                settings: self.clone(),
                username,
                display_name,
                email,
                first_name,
                last_name,
                active,
                drop,
                attributes,
                group_name,
                only_assign,
                never_assign,
                never_remove,
                required,
                always_assign,
            }),
            _ => Err(errors),
        }
    }
}

/// The commented default document ([`Settings::TEMPLATE`]).
const TEMPLATE: &str = r#"# Roster connector settings. Every field is optional: what is left out keeps the value shown.
# Expressions are CEL over the SCIM resource as the IdP sent it (`user`, or `group` for group
# names), with Roster's functions: lower, upper, trim, regex_replace, regex_extract,
# strip_domain, email_domain, guest_email, coalesce, concat, join, primary_email, work_email,
# ext, attr. A missing attribute makes a text field empty; use has() or coalesce() in yes/no
# fields (active, drop).

[mapping]
# The username: required, unique in the directory ignoring case. For Entra guests, try
# guest_email(user.userName) to turn "a_b.com#EXT#@tenant.onmicrosoft.com" into "a@b.com".
username = "user.userName"
# The display name; empty falls back to the username.
display_name = 'coalesce(user.displayName, join(" ", user.name.givenName, user.name.familyName), user.userName)'
# The email: the primary one, else the work one, else the first.
email = "primary_email(user)"
first_name = "user.name.givenName"
last_name = "user.name.familyName"
# Yes/no. Entra and Okta deactivate users with active = false: the directory user is disabled.
active = "coalesce(user.active, true)"
# Yes/no: true drops the user (see [cleanup] dropped). Example: coalesce(user.userType) == "Guest"
drop = "false"

[mapping.attributes]
# Custom attributes, name = expression. An empty result removes the attribute.
# department = 'ext(user, "department")'
# employee_number = 'ext(user, "employeeNumber")'

[groups]
# The directory group name, an expression over `group`. The lists below apply to this name.
name = "group.displayName"
# Names or regular expressions (whole name, ignoring case), e.g. "jira-.*".
# Import only these IdP groups; empty imports all. Others are not imported at all.
only_assign = []
# Never import these IdP groups.
never_assign = []
# Put every synced user in these groups (plain names), again at every sync.
always_assign = []
# Never remove users from these groups. By default the IdP is authoritative: a membership it
# does not report is removed at the user's next sync, local ones included, unless never_remove
# or always_assign covers it. never_assign = [".*"] with never_remove = [".*"] syncs user data
# only and leaves groups to the directory.
never_remove = []
# If set, a user must be in one of these (imported) groups to stay active.
required = []

[cleanup]
# For users deleted in the IdP, in no required group, or dropped by the mapping:
# "disable" (default), "delete", "anonymize" (pseudonym, reversible) or "keep".
# A cleaned-up user comes back when the reason goes away.
deleted = "disable"
not_in_required = "disable"
dropped = "disable"
# Also remove all memberships of a cleaned-up user.
remove_memberships = false

[copy]
# When a user first arrives, copy memberships, custom attributes and last login from the
# same-named user of this directory (e.g. "internal"); "" turns copying off. Copied memberships
# then follow the rules above: add their groups to never_remove to keep them.
from_directory = ""
"#;

fn check_size(text: &str) -> Result<(), SettingsError> {
    if text.len() > MAX_DOCUMENT_LEN {
        return Err(SettingsError::new(
            "",
            format!(
                "the document is {} bytes long; at most {MAX_DOCUMENT_LEN} are allowed",
                text.len()
            ),
        ));
    }
    Ok(())
}

fn check_list_len(field: &str, list: &[String], errors: &mut Vec<SettingsError>) {
    if list.len() > MAX_LIST_ENTRIES {
        errors.push(SettingsError::new(
            field,
            format!(
                "{} entries; at most {MAX_LIST_ENTRIES} are allowed",
                list.len()
            ),
        ));
    }
}

fn validate_attribute_name(name: &str) -> Result<(), String> {
    let ok = (1..=MAX_ATTRIBUTE_NAME_LEN).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "attribute names are 1 to {MAX_ATTRIBUTE_NAME_LEN} letters, digits, '_', '-' or '.', starting with a letter"
        ))
    }
}

/// One entry of a name list: a name, and the same text as a whole-name regular expression.
#[derive(Debug, Clone)]
struct NamePattern {
    folded: String,
    regex: Regex,
}

/// A compiled name list (see the module docs for how entries match).
#[derive(Debug, Clone, Default)]
pub struct NamePatterns {
    entries: Vec<NamePattern>,
}

impl NamePatterns {
    fn compile(field: &str, list: &[String], errors: &mut Vec<SettingsError>) -> Self {
        check_list_len(field, list, errors);
        let mut entries = Vec::with_capacity(list.len());
        for (i, source) in list.iter().enumerate() {
            let field = format!("{field}[{i}]");
            if source.trim().is_empty() {
                errors.push(SettingsError::new(field, "the entry is empty"));
                continue;
            }
            // Compiled alone first, so that an unbalanced entry (`a)|(b`) cannot escape the
            // anchors it is then wrapped in.
            match expr::compile_regex(source).and_then(|_| {
                RegexBuilder::new(&format!("^(?:{source})$"))
                    .case_insensitive(true)
                    .size_limit(expr::REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| format!("invalid regular expression: {e}"))
            }) {
                Ok(regex) => entries.push(NamePattern {
                    folded: fold_name(source),
                    regex,
                }),
                Err(message) => errors.push(SettingsError::new(
                    field,
                    format!(
                        "{message}\n(escape regular-expression characters to match them literally)"
                    ),
                )),
            }
        }
        Self { entries }
    }

    /// Whether the list is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether an entry matches `name`.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let folded = fold_name(name);
        self.entries
            .iter()
            .any(|e| e.folded == folded || e.regex.is_match(name))
    }
}

/// Settings checked and compiled, ready for the sync engine. Build once per settings version
/// and share (`Arc`) across syncs: nothing here is compiled again.
#[derive(Debug)]
pub struct CompiledSettings {
    settings: Settings,
    pub(crate) username: Expression,
    pub(crate) display_name: Expression,
    pub(crate) email: Expression,
    pub(crate) first_name: Expression,
    pub(crate) last_name: Expression,
    pub(crate) active: Expression,
    pub(crate) drop: Expression,
    pub(crate) attributes: Vec<(String, Expression)>,
    pub(crate) group_name: Expression,
    pub(crate) only_assign: NamePatterns,
    pub(crate) never_assign: NamePatterns,
    pub(crate) never_remove: NamePatterns,
    pub(crate) required: NamePatterns,
    pub(crate) always_assign: Vec<String>,
}

impl CompiledSettings {
    /// The document these were compiled from.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The directory to copy from when a user first arrives, if copying is on.
    #[must_use]
    pub fn copy_from(&self) -> Option<&str> {
        Some(self.settings.copy.from_directory.as_str()).filter(|d| !d.is_empty())
    }

    /// The cleanup rules.
    #[must_use]
    pub fn cleanup(&self) -> &CleanupRules {
        &self.settings.cleanup
    }

    /// Whether a mapped IdP group name is imported: not filtered out by `only_assign` or
    /// `never_assign`.
    #[must_use]
    pub fn imports_group(&self, name: &str) -> bool {
        (self.only_assign.is_empty() || self.only_assign.matches(name))
            && !self.never_assign.matches(name)
    }

    /// Whether memberships of the group `name` are protected from removal (`never_remove` or
    /// `always_assign`).
    #[must_use]
    pub fn protects_group(&self, name: &str) -> bool {
        self.never_remove.matches(name) || self.always_assigns(name)
    }

    /// Whether `always_assign` names the group.
    #[must_use]
    pub fn always_assigns(&self, name: &str) -> bool {
        let folded = fold_name(name);
        self.always_assign.iter().any(|a| fold_name(a) == folded)
    }

    /// The groups every synced user is put in.
    #[must_use]
    pub fn always_assign(&self) -> &[String] {
        &self.always_assign
    }

    /// Whether required groups are set, and `name` is one of them.
    #[must_use]
    pub fn is_required_group(&self, name: &str) -> bool {
        self.required.matches(name)
    }

    /// Whether `groups.required` is set.
    #[must_use]
    pub fn has_required_groups(&self) -> bool {
        !self.required.is_empty()
    }

    /// Tries one mapping field on a sample SCIM user (or, for `groups.name`, group): what the
    /// settings page shows next to an expression. `field` is a path as in [`SettingsError`].
    ///
    /// # Errors
    ///
    /// An unknown field, or the evaluation's error.
    pub fn try_field(
        &self,
        field: &str,
        id: &str,
        resource: &Map<String, Value>,
    ) -> Result<Value, String> {
        let expression = match field {
            "mapping.username" => &self.username,
            "mapping.display_name" => &self.display_name,
            "mapping.email" => &self.email,
            "mapping.first_name" => &self.first_name,
            "mapping.last_name" => &self.last_name,
            "mapping.active" => &self.active,
            "mapping.drop" => &self.drop,
            "groups.name" => &self.group_name,
            other => {
                let name = other
                    .strip_prefix("mapping.attributes.")
                    .ok_or_else(|| format!("no expression field '{other}'"))?;
                &self
                    .attributes
                    .iter()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| format!("no custom attribute '{name}'"))?
                    .1
            }
        };
        expression
            .evaluate_json(id, resource)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml_and_json() {
        let defaults = Settings::default();
        let toml_text = defaults.to_toml();
        assert_eq!(
            Settings::from_toml(&toml_text).unwrap(),
            defaults,
            "{toml_text}"
        );
        let json = serde_json::to_string(&defaults).unwrap();
        assert_eq!(Settings::from_json(&json).unwrap(), defaults);
        assert_eq!(
            Settings::from_toml("").unwrap(),
            defaults,
            "an empty document is the defaults"
        );
        assert_eq!(Settings::from_json("{}").unwrap(), defaults);
        assert_eq!(
            Settings::from_toml(Settings::TEMPLATE).unwrap(),
            defaults,
            "the template documents the defaults"
        );
        defaults.compile().expect("the defaults compile");
    }

    #[test]
    fn the_design_example_compiles() {
        let text = r#"
            [mapping]
            username     = "user.userName"
            display_name = "user.displayName"
            email        = "primary_email(user)"
            drop         = "false"
            [mapping.attributes]
            department = "user['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'].department"

            [groups]
            name          = "group.displayName"
            only_assign   = []
            never_assign  = []
            always_assign = ["jira-users"]
            never_remove  = []
            required      = []

            [cleanup]
            deleted          = "disable"
            not_in_required  = "disable"
            dropped          = "anonymize"
            remove_memberships = false

            [copy]
            from_directory = "internal"
        "#;
        let settings = Settings::from_toml(text).unwrap();
        assert_eq!(settings.cleanup.dropped, CleanupAction::Anonymize);
        assert_eq!(
            settings.mapping.first_name, "user.name.givenName",
            "unset fields keep their default"
        );
        let compiled = settings.compile().unwrap();
        assert_eq!(compiled.copy_from(), Some("internal"));
        assert!(compiled.always_assigns("JIRA-USERS"));
    }

    #[test]
    fn unknown_fields_and_syntax_errors_are_positioned() {
        let err = Settings::from_toml("[mapping]\nusername = 'user.userName'\nemial = 'x'\n")
            .unwrap_err();
        assert!(err.message.contains("unknown field `emial`"), "{err}");
        assert_eq!(err.position.map(|p| (p.line, p.column)), Some((3, 1)));
        let err = Settings::from_toml("[cleanup]\ndeleted = \"erase\"\n").unwrap_err();
        assert!(err.message.contains("unknown variant `erase`"), "{err}");
        assert_eq!(err.position.map(|p| p.line), Some(2));
        let err = Settings::from_json("{\"groups\": {\"only\": []}}").unwrap_err();
        assert!(err.message.contains("unknown field `only`"), "{err}");
        assert_eq!(err.position.map(|p| p.line), Some(1));
        let err = Settings::from_json_value(serde_json::json!({"copy": {"from_directory": 3}}))
            .unwrap_err();
        assert!(err.message.contains("invalid type"), "{err}");
        let big = format!("# {}", "x".repeat(MAX_DOCUMENT_LEN));
        assert!(
            Settings::from_toml(&big)
                .unwrap_err()
                .message
                .contains("at most")
        );
    }

    #[test]
    fn compile_errors_name_their_field_and_position() {
        let mut s = Settings::default();
        s.mapping.email = "primary_email(user".into();
        s.mapping.display_name = "user.displayName + lowr(user.userName)".into();
        s.mapping
            .attributes
            .insert("department".into(), "ext(usr, 'department')".into());
        s.mapping.attributes.insert("9lives".into(), "'x'".into());
        s.groups.name = "user.displayName".into();
        s.groups.only_assign = vec!["jira-.*".into(), "ok".into(), "team (eu".into()];
        s.groups.always_assign = vec!["jira-users".into(), "JIRA-USERS".into(), " padded".into()];
        s.groups.required = vec![String::new()];
        s.copy.from_directory = "Not A Directory".into();
        let errors = s.compile().unwrap_err();
        let got: Vec<(String, Option<(u32, u32)>)> = errors
            .iter()
            .map(|e| (e.field.clone(), e.position.map(|p| (p.line, p.column))))
            .collect();
        assert_eq!(
            got,
            [
                ("mapping.display_name".into(), Some((1, 24))),
                ("mapping.email".into(), Some((1, 19))),
                ("groups.name".into(), Some((1, 1))),
                ("mapping.attributes.department".into(), Some((1, 5))),
                ("mapping.attributes.9lives".into(), None),
                ("groups.only_assign[2]".into(), None),
                ("groups.required[0]".into(), None),
                ("groups.always_assign[1]".into(), None),
                ("groups.always_assign[2]".into(), None),
                ("copy.from_directory".into(), None),
            ],
            "{errors:#?}"
        );
        let display = errors[1].to_string();
        assert!(display.starts_with("mapping.email: 1:19: "), "{display}");
        assert!(
            errors[5]
                .message
                .contains("escape regular-expression characters"),
            "{}",
            errors[5]
        );
        assert!(
            errors[0].message.contains("unknown function 'lowr'"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn limits() {
        let mut s = Settings::default();
        s.groups.never_assign = (0..=MAX_LIST_ENTRIES).map(|i| format!("g{i}")).collect();
        s.mapping.drop = format!("'{}' == ''", "a".repeat(expr::MAX_EXPRESSION_LEN));
        s.mapping.attributes = (0..=MAX_ATTRIBUTES)
            .map(|i| (format!("a{i}"), "'x'".to_owned()))
            .collect();
        s.groups.never_remove = vec!["a{1000}{1000}".into()];
        let errors = s.compile().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "mapping.drop",
                "mapping.attributes",
                "groups.never_assign",
                "groups.never_remove[0]"
            ],
            "{errors:#?}"
        );
    }

    #[test]
    fn name_lists_match_whole_names_ignoring_case() {
        let mut errors = Vec::new();
        let list: Vec<String> = ["jira-.*", "Team (EU)", "admins", "c\\+\\+"]
            .map(String::from)
            .to_vec();
        let p = NamePatterns::compile("x", &list, &mut errors);
        assert!(errors.is_empty());
        for (name, want) in [
            ("jira-users", true),
            ("JIRA-Admins", true),
            ("old-jira-users", false),
            ("team (eu)", true),
            ("Team EU", true),
            ("admins", true),
            ("ADMINS", true),
            ("sysadmins", false),
            ("admins2", false),
            ("C++", true),
        ] {
            assert_eq!(p.matches(name), want, "{name}");
        }
        let unbalanced = NamePatterns::compile("x", &["a)|(b".to_owned()], &mut errors);
        assert!(unbalanced.is_empty());
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn try_field_evaluates_on_a_sample() {
        let compiled = Settings::default().compile().unwrap();
        let serde_json::Value::Object(user) = serde_json::json!({
            "userName": "AdeleV@contoso.com",
            "name": {"givenName": "Adele", "familyName": "Vance"}
        }) else {
            unreachable!()
        };
        assert_eq!(
            compiled.try_field("mapping.display_name", "u1", &user),
            Ok(serde_json::json!("Adele Vance"))
        );
        assert!(compiled.try_field("mapping.nope", "u1", &user).is_err());
    }
}
