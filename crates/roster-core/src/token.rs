//! Bearer tokens.
//!
//! A token reads `roster_<id>_<secret>`: `id` is 16 hex digits that name the token (it is
//! shown in listings and logs), `secret` is 64 hex digits, 256 bits from the operating
//! system's CSPRNG. Only the SHA-256 of the secret is stored. Checking a token looks it up by
//! `id` and compares hashes in constant time, so neither the lookup nor the comparison tells
//! an attacker how much of a guess was right. (A password KDF is not needed: the secret has
//! 256 bits of entropy, so a fast hash cannot be brute-forced.)

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

const PREFIX: &str = "roster_";

/// A token in clear text. Its `Debug` and `Display` never show it: print it on purpose with
/// [`Secret::expose`], once, to the person who asked for it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(text: String) -> Self {
        Self(text)
    }

    /// The clear text.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What the store keeps of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The public part of the token, unique.
    pub id: String,
    /// The connector it opens.
    pub connector_id: String,
    /// SHA-256 of the secret.
    #[serde(skip)]
    pub hash: [u8; 32],
    /// A note from whoever made it.
    pub description: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// After this, it no longer opens anything.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it last opened its connector (updated at most once a minute).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl TokenRecord {
    /// Whether the token has expired at `now`.
    #[must_use]
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub(crate) fn random(n: usize) -> Result<Vec<u8>, RandomError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
    Ok(buf)
}

/// A new token's parts, shared by connector and API tokens, which differ only in their
/// prefix: the public id, the clear text (`{prefix}{id}_{secret}`) and the secret's hash.
pub(crate) fn mint(prefix: &str) -> Result<(String, Secret, [u8; 32]), RandomError> {
    let id = hex(&random(8)?);
    let secret = hex(&random(32)?);
    let hash = hash(&secret);
    Ok((id.clone(), Secret(format!("{prefix}{id}_{secret}")), hash))
}

/// Makes a new token for `connector_id`: the clear text (show it once) and the record to store.
pub fn generate(
    connector_id: &str,
    description: &str,
    now: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
) -> Result<(Secret, TokenRecord), RandomError> {
    let (id, secret, hash) = mint(PREFIX)?;
    let record = TokenRecord {
        id,
        connector_id: connector_id.to_owned(),
        hash,
        description: description.to_owned(),
        created_at: now,
        expires_at,
        last_used_at: None,
    };
    Ok((secret, record))
}

pub(crate) fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A presented token, split into its public id and its secret. `None` if it is not shaped
/// like a Roster token (then it cannot be valid, and no lookup is made).
#[must_use]
pub fn parse(presented: &str) -> Option<(&str, &str)> {
    split(presented.strip_prefix(PREFIX)?)
}

/// What follows a token's prefix, split into its id and its secret: `None` unless it is
/// `{16 hex digits}_{64 hex digits}`, as [`mint`] makes them.
pub(crate) fn split(rest: &str) -> Option<(&str, &str)> {
    let (id, secret) = rest.split_once('_')?;
    let is_hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (is_hex(id, 16) && is_hex(secret, 64)).then_some((id, secret))
}

/// Whether `secret` is the one `record` was made with, compared in constant time.
#[must_use]
pub fn verify(record: &TokenRecord, secret: &str) -> bool {
    matches(&record.hash, secret)
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub(crate) fn matches(stored: &[u8; 32], secret: &str) -> bool {
    bool::from(hash(secret).ct_eq(stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_verify() {
        let (secret, record) =
            generate("entra", "first", OffsetDateTime::UNIX_EPOCH, None).unwrap();
        let text = secret.expose();
        assert!(text.starts_with("roster_"));
        assert_eq!(text.len(), "roster_".len() + 16 + 1 + 64);
        let (id, s) = parse(text).unwrap();
        assert_eq!(id, record.id);
        assert!(verify(&record, s));
        assert!(!verify(&record, &"0".repeat(64)));
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }

    #[test]
    fn two_tokens_differ() {
        let a = generate("c", "", OffsetDateTime::UNIX_EPOCH, None)
            .unwrap()
            .0;
        let b = generate("c", "", OffsetDateTime::UNIX_EPOCH, None)
            .unwrap()
            .0;
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "roster_",
            "Bearer x",
            "roster_zz_00",
            &format!("roster_{}_{}", "a".repeat(16), "g".repeat(64)),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn expiry() {
        let (_, mut r) = generate("c", "", OffsetDateTime::UNIX_EPOCH, None).unwrap();
        assert!(!r.expired(OffsetDateTime::UNIX_EPOCH));
        r.expires_at = Some(OffsetDateTime::UNIX_EPOCH);
        assert!(r.expired(OffsetDateTime::UNIX_EPOCH));
    }
}
