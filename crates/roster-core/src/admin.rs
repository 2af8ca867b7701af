//! Who may administer Roster, and what they see of its traffic.
//!
//! - **Admin accounts**: a username and an argon2id password hash (PHC string). There is no
//!   default account and no default password: `roster admin create` makes the first one.
//! - **Console sessions**: a 256-bit cookie value, of which only the SHA-256 is stored, with a
//!   per-session CSRF token (synchronizer token pattern) and an absolute expiry.
//! - **API tokens**: `roster_admin_<id>_<secret>` (everything the console can do) and
//!   `roster_app_<id>_<secret>` (read-only: the application API). Like connector tokens
//!   (see [`crate::token`]) they carry 256 bits, only their SHA-256 is stored, and they are
//!   compared in constant time. The scope lives in the stored record; the prefix only helps
//!   people and secret scanners tell them apart.
//! - **The SCIM request log**: method, path, status and duration of every SCIM request, with
//!   the bodies of failed ones, secrets masked ([`mask_secrets`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::token::{self, RandomError, Secret};

// ---- admin accounts ----

/// An administrator.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAccount {
    /// The login name, unique, compared case-insensitively.
    pub username: String,
    /// The argon2id hash in PHC string form. Never serialised.
    #[serde(skip)]
    pub password_hash: String,
    /// When the account was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The last successful console login.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
}

impl fmt::Debug for AdminAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAccount")
            .field("username", &self.username)
            .field("password_hash", &"***")
            .field("created_at", &self.created_at)
            .field("last_login_at", &self.last_login_at)
            .finish()
    }
}

/// How much work a password hash costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfStrength {
    /// argon2id with the crate's defaults (OWASP's recommendation: 19 MiB, 2 passes).
    Default,
    /// The cheapest parameters argon2 allows: for tests only, where debug builds would
    /// otherwise spend seconds per hash.
    Fast,
}

/// Why a password could not be hashed or an account not made.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The username is not acceptable; the text says why.
    #[error("invalid username: {0}")]
    Username(String),
    /// The password is not acceptable; the text says why.
    #[error("invalid password: {0}")]
    Password(String),
    /// The KDF failed.
    #[error("could not hash the password: {0}")]
    Hash(String),
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Checks a username: 1–64 characters of letters, digits, `.`, `_`, `-` and `@`.
pub fn validate_username(username: &str) -> Result<(), AccountError> {
    if username.is_empty() || username.chars().count() > 64 {
        return Err(AccountError::Username(
            "it must have 1 to 64 characters".to_owned(),
        ));
    }
    if !username
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(AccountError::Username(
            "use letters, digits, '.', '_', '-' and '@' only".to_owned(),
        ));
    }
    Ok(())
}

/// Checks a new password: at least [`MIN_PASSWORD_CHARS`] characters, at most 1,024.
pub fn validate_password(password: &str) -> Result<(), AccountError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(AccountError::Password(format!(
            "it must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if n > 1024 {
        return Err(AccountError::Password(
            "it must have at most 1024 characters".to_owned(),
        ));
    }
    Ok(())
}

fn argon2(strength: KdfStrength) -> argon2::Argon2<'static> {
    match strength {
        KdfStrength::Default => argon2::Argon2::default(),
        KdfStrength::Fast => argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(
                argon2::Params::MIN_M_COST,
                argon2::Params::MIN_T_COST,
                1,
                None,
            )
            .expect("the minimum argon2 parameters are valid"),
        ),
    }
}

/// Hashes a password with argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &str, strength: KdfStrength) -> Result<String, AccountError> {
    use argon2::PasswordHasher as _;
    validate_password(password)?;
    argon2(strength)
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `phc` (its parameters are read from the string,
/// so hashes made with either [`KdfStrength`] verify). A malformed hash matches nothing.
#[must_use]
pub fn verify_password(phc: &str, password: &str) -> bool {
    use argon2::PasswordVerifier as _;
    let Ok(parsed) = argon2::PasswordHash::new(phc) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

// ---- console sessions ----

/// A console session as stored: the cookie itself is never stored, only its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie value.
    pub id_hash: [u8; 32],
    /// Whose session it is.
    pub username: String,
    /// The CSRF token every form of this session must carry.
    pub csrf: String,
    /// When it began.
    pub created_at: OffsetDateTime,
    /// When it ends, whatever happens.
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("username", &self.username)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl SessionRecord {
    /// Whether `csrf` is this session's CSRF token, compared in constant time.
    #[must_use]
    pub fn csrf_matches(&self, csrf: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(csrf.as_bytes()))
    }
}

/// Starts a session for `username`: the cookie value (set it, never store it) and the record.
pub fn new_session(
    username: &str,
    now: OffsetDateTime,
    lifetime: time::Duration,
) -> Result<(Secret, SessionRecord), RandomError> {
    let cookie = token::hex(&token::random(32)?);
    let csrf = token::hex(&token::random(32)?);
    let record = SessionRecord {
        id_hash: session_hash(&cookie),
        username: username.to_owned(),
        csrf,
        created_at: now,
        expires_at: now + lifetime,
    };
    Ok((Secret::new(cookie), record))
}

/// The stored form of a session cookie's value.
#[must_use]
pub fn session_hash(cookie: &str) -> [u8; 32] {
    token::hash(cookie)
}

// ---- API tokens ----

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiScope {
    /// Everything the console can do, through the admin API.
    Admin,
    /// Read the effective directory and the change feed, through the application API.
    App,
}

impl ApiScope {
    /// `admin` or `app`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::App => "app",
        }
    }
}

impl std::str::FromStr for ApiScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Self::Admin),
            "app" => Ok(Self::App),
            _ => Err(format!("unknown scope '{s}' (admin or app)")),
        }
    }
}

/// What the store keeps of an API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    /// The public part of the token, unique.
    pub id: String,
    /// What it may do.
    pub scope: ApiScope,
    /// SHA-256 of the secret.
    #[serde(skip)]
    pub hash: [u8; 32],
    /// A note from whoever made it.
    pub description: String,
    /// Who made it: `admin:{name}` or `cli`.
    pub created_by: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// After this, it opens nothing.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was last used (written at most once a minute).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl ApiTokenRecord {
    /// Whether the token has expired at `now`.
    #[must_use]
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

fn api_prefix(scope: ApiScope) -> &'static str {
    match scope {
        ApiScope::Admin => "roster_admin_",
        ApiScope::App => "roster_app_",
    }
}

/// Makes a new API token: the clear text (show it once) and the record to store.
pub fn generate_api_token(
    scope: ApiScope,
    description: &str,
    created_by: &str,
    now: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
) -> Result<(Secret, ApiTokenRecord), RandomError> {
    let (id, secret, hash) = token::mint(api_prefix(scope))?;
    let record = ApiTokenRecord {
        id,
        scope,
        hash,
        description: description.to_owned(),
        created_by: created_by.to_owned(),
        created_at: now,
        expires_at,
        last_used_at: None,
    };
    Ok((secret, record))
}

/// A presented API token, split into the scope its prefix claims, its id and its secret.
/// `None` if it is not shaped like one. The claimed scope is a hint: the stored record's
/// scope is what counts.
#[must_use]
pub fn parse_api_token(presented: &str) -> Option<(ApiScope, &str, &str)> {
    let (scope, rest) = if let Some(rest) = presented.strip_prefix("roster_admin_") {
        (ApiScope::Admin, rest)
    } else {
        (ApiScope::App, presented.strip_prefix("roster_app_")?)
    };
    let (id, secret) = token::split(rest)?;
    Some((scope, id, secret))
}

/// Whether `secret` is the one `record` was made with, compared in constant time.
#[must_use]
pub fn verify_api_token(record: &ApiTokenRecord, secret: &str) -> bool {
    token::matches(&record.hash, secret)
}

// ---- the SCIM request log ----

/// A SCIM request to log. Bodies are kept only for failed requests (status ≥ 400), with
/// secrets masked and their length capped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRequestLog {
    /// When the request arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The connector it was for.
    pub connector_id: String,
    /// Its `x-request-id`.
    pub request_id: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The path below the connector's base URL, with the query string (`/Users?filter=…`).
    pub path: String,
    /// The response status.
    pub status: u16,
    /// How long the answer took, in milliseconds.
    pub duration_ms: u32,
    /// The request body, for failed requests, masked.
    pub request_body: Option<String>,
    /// The response body, for failed requests, masked.
    pub response_body: Option<String>,
}

/// A logged SCIM request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogEntry {
    /// Its position in the log, increasing.
    pub seq: i64,
    /// The request.
    #[serde(flatten)]
    pub request: NewRequestLog,
}

/// A query of the request log, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLogQuery {
    /// Only this connector's requests.
    pub connector_id: Option<String>,
    /// Only statuses at or above this one (400: failures only).
    pub min_status: Option<u16>,
    /// Only statuses at or below this one.
    pub max_status: Option<u16>,
    /// Only requests at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only requests before this time.
    pub until: Option<OffsetDateTime>,
    /// Only entries with a smaller `seq` (paging backwards).
    pub before_seq: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// The longest body kept in the request log, in bytes; longer ones are cut (on a character
/// boundary) and marked.
pub const MAX_LOGGED_BODY: usize = 16 * 1024;

/// Words that make a name a secret's wherever they occur in it, ignoring case: containment
/// rather than equality, so that `userPassword`, `clientSecret`, `access_token` and `apiToken`
/// are caught along with `password`, `secret` and `token`.
const SECRET_WORDS: &[&str] = &["password", "secret", "token"];
/// Names that are a secret's only as a whole, ignoring case.
const SECRET_NAMES: &[&str] = &["authorization", "api_key", "apikey"];

/// Whether an attribute or query parameter named `name` holds a secret (see
/// [`mask_secrets`]).
#[must_use]
pub fn is_secret_name(name: &str) -> bool {
    // Compared in place rather than through a lowercased copy: the request log asks this of
    // every query parameter of every SCIM request.
    let name = name.as_bytes();
    let contains = |word: &str| {
        name.windows(word.len())
            .any(|window| window.eq_ignore_ascii_case(word.as_bytes()))
    };
    SECRET_WORDS.iter().any(|word| contains(word))
        || SECRET_NAMES
            .iter()
            .any(|whole| name.eq_ignore_ascii_case(whole.as_bytes()))
}

/// Whether a SCIM PATCH operation's `path` (RFC 7644 §3.5.2) points at a secret:
/// `password`, `urn:…:User:password`, `credentials.token`; a value filter
/// (`emails[type eq "password"]`) does not count, only attribute names.
fn is_secret_path(path: &str) -> bool {
    let mut names = String::with_capacity(path.len());
    let mut depth = 0_u32;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => names.push(c),
            _ => {}
        }
    }
    // The schema URN's last `:` precedes the attribute; `.` separates sub-attributes.
    let attribute = names.rsplit(':').next().unwrap_or_default();
    attribute.split('.').any(is_secret_name)
}

/// A body as the request log keeps it: in JSON bodies, the value of every attribute named like
/// a secret ([`is_secret_name`]: `password`, `userPassword`, `token`, …, at any depth) becomes
/// `"***"`, and so does the `value` of a PATCH operation whose `path` names one
/// (`{"op": "replace", "path": "password", "value": "…"}`); a body that is not JSON is kept
/// only as its length, since secrets in it cannot be found. Cut to [`MAX_LOGGED_BODY`].
#[must_use]
pub fn mask_secrets(body: &[u8]) -> String {
    fn mask(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                let secret_value = map.iter().any(|(k, v)| {
                    k.eq_ignore_ascii_case("path") && v.as_str().is_some_and(is_secret_path)
                });
                for (k, v) in map.iter_mut() {
                    if is_secret_name(k) || (secret_value && k.eq_ignore_ascii_case("value")) {
                        *v = serde_json::Value::String("***".to_owned());
                    } else {
                        mask(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(mask),
            _ => {}
        }
    }
    if body.is_empty() {
        return String::new();
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return format!("({} bytes, not JSON: not kept)", body.len());
    };
    mask(&mut value);
    let mut text = value.to_string();
    if text.len() > MAX_LOGGED_BODY {
        let mut cut = MAX_LOGGED_BODY;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("… (cut)");
    }
    text
}

// ---- the dashboard ----

/// What the dashboard shows of a connector's activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorActivity {
    /// The connector.
    pub connector_id: String,
    /// Users in its IdP view.
    pub users: u64,
    /// Groups in its IdP view.
    pub groups: u64,
    /// Its last SCIM request, from the request log.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_request_at: Option<OffsetDateTime>,
    /// Its failed requests (status ≥ 400) since the time asked for.
    pub recent_errors: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let phc = hash_password("correct horse battery", KdfStrength::Fast).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password(&phc, "correct horse battery"));
        assert!(!verify_password(&phc, "correct horse battery!"));
        assert!(!verify_password("not a hash", "correct horse battery"));
        assert!(matches!(
            hash_password("short", KdfStrength::Fast),
            Err(AccountError::Password(_))
        ));
    }

    #[test]
    fn usernames_are_checked() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("alice@example.com").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("a b").is_err());
        assert!(validate_username(&"a".repeat(65)).is_err());
    }

    #[test]
    fn api_tokens_parse_and_verify() {
        for scope in [ApiScope::Admin, ApiScope::App] {
            let (secret, record) =
                generate_api_token(scope, "ci", "cli", OffsetDateTime::UNIX_EPOCH, None).unwrap();
            let (claimed, id, s) = parse_api_token(secret.expose()).unwrap();
            assert_eq!((claimed, id), (scope, record.id.as_str()));
            assert!(verify_api_token(&record, s));
            assert!(!verify_api_token(&record, &"0".repeat(64)));
        }
        // A connector token is not an API token.
        let (scim, _) = crate::token::generate("c", "", OffsetDateTime::UNIX_EPOCH, None).unwrap();
        assert!(parse_api_token(scim.expose()).is_none());
    }

    #[test]
    fn sessions_keep_only_a_hash() {
        let (cookie, record) = new_session(
            "alice",
            OffsetDateTime::UNIX_EPOCH,
            time::Duration::hours(12),
        )
        .unwrap();
        assert_eq!(record.id_hash, session_hash(cookie.expose()));
        assert!(record.csrf_matches(&record.csrf.clone()));
        assert!(!record.csrf_matches("nope"));
        assert!(!format!("{record:?}").contains(&record.csrf));
    }

    #[test]
    fn secrets_are_masked_at_any_depth() {
        let body = br#"{"userName":"a","password":"hunter2","x":[{"Token":"t"}],"n":{"secret":1}}"#;
        let masked = mask_secrets(body);
        assert!(!masked.contains("hunter2"));
        assert!(!masked.contains("\"t\""));
        assert!(masked.contains(r#""password":"***""#));
        assert!(masked.contains(r#""secret":"***""#));
        assert_eq!(mask_secrets(b"not json"), "(8 bytes, not JSON: not kept)");
        let long = format!(r#"{{"a":"{}"}}"#, "é".repeat(MAX_LOGGED_BODY));
        assert!(mask_secrets(long.as_bytes()).ends_with("… (cut)"));
    }

    #[test]
    fn secrets_set_through_patch_paths_or_other_names_are_masked() {
        let body = br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
            {"op":"replace","path":"password","value":"hunter2"},
            {"op":"replace","Path":"urn:ietf:params:scim:schemas:core:2.0:User:password","value":"hunter3"},
            {"op":"add","path":"emails[type eq \"password\"].value","value":"a@b.c"},
            {"op":"replace","value":{"userPassword":"hunter4","clientSecret":"s","apiToken":"t"}},
            {"op":"replace","path":"displayName","value":"Ada"}]}"#;
        let masked = mask_secrets(body);
        for secret in ["hunter2", "hunter3", "hunter4", "\"s\"", "\"t\""] {
            assert!(!masked.contains(secret), "{secret} in {masked}");
        }
        // Values that are not secrets stay readable, a filter on a value included.
        assert!(
            masked.contains("a@b.c") && masked.contains("Ada"),
            "{masked}"
        );
        assert!(is_secret_name("ACCESS_TOKEN") && is_secret_name("api_key"));
        assert!(!is_secret_name("filter") && !is_secret_name("userName"));
    }
}
