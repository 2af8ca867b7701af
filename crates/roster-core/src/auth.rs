//! Who may speak SCIM to a connector: bearer-token checks (RFC 6750).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use scim::ScimError;
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::store::Store;
use crate::token::{self, TokenRecord};

/// How often a token's `last_used_at` is written at most: every request would put a write
/// on the hot read path.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// How long a token and its connector's state, once read, are trusted without reading them
/// again. Reading both on every request doubled the cost of Entra's hot lookup; a second means
/// a revoked token, a disabled connector or a deleted one is refused within a second.
const FRESH_FOR: Duration = Duration::seconds(1);

/// The most tokens remembered; past that the memory is dropped and rebuilt on demand.
const REMEMBERED: usize = 10_000;

/// Checks bearer tokens against a connector.
#[derive(Debug)]
pub struct Authenticator {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    known: Mutex<HashMap<String, Known>>,
}

/// What was read of a token: the record, whether its connector exists and is enabled, when it
/// was read, and when its use was last recorded. Cheap to clone: every request takes a copy
/// out of the map, and the record is shared rather than copied (three strings).
#[derive(Debug, Clone)]
struct Known {
    record: Arc<TokenRecord>,
    connector_enabled: bool,
    read_at: OffsetDateTime,
    touched_at: Option<OffsetDateTime>,
}

/// The one answer every failed check gets: it does not say which part was wrong, so a caller
/// cannot tell a revoked token from a mistyped one, or a disabled connector from a missing one.
fn denied() -> ScimError {
    ScimError::unauthorized("a valid bearer token for this connector is required")
}

impl Authenticator {
    /// An authenticator over `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Checks an `Authorization` header for `connector_id`: 401 unless it carries a token of
    /// this connector that has not expired, and the connector exists and is enabled.
    ///
    /// What the store says of a token is remembered for a second ([`FRESH_FOR`]); the secret
    /// is checked against the stored hash on every request, in constant time.
    pub async fn authenticate(
        &self,
        connector_id: &str,
        authorization: Option<&str>,
    ) -> Result<(), ScimError> {
        let presented = authorization
            .and_then(|h| {
                let (scheme, rest) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or_else(denied)?;
        let (token_id, secret) = token::parse(presented).ok_or_else(denied)?;
        let now = self.clock.now();
        let known = match self.remembered(token_id, now) {
            Some(k) => k,
            None => self.read(token_id, now).await?,
        };
        // The hash comparison runs before anything that depends on the record's other fields.
        let valid = token::verify(&known.record, secret);
        if !valid
            || known.record.connector_id != connector_id
            || known.record.expired(now)
            || !known.connector_enabled
        {
            return Err(denied());
        }
        if known.touched_at.is_none_or(|t| now - t >= TOUCH_EVERY) {
            self.touch(token_id, now).await;
        }
        Ok(())
    }

    fn remembered(&self, token_id: &str, now: OffsetDateTime) -> Option<Known> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known
            .get(token_id)
            .filter(|k| now - k.read_at < FRESH_FOR)
            .cloned()
    }

    /// Reads a token and its connector from the store, and remembers them. Unknown tokens are
    /// not remembered: a guess must not fill memory.
    async fn read(&self, token_id: &str, now: OffsetDateTime) -> Result<Known, ScimError> {
        let record = self
            .store
            .token(token_id)
            .await
            .map_err(ScimError::from)?
            .ok_or_else(denied)?;
        let connector_enabled = self
            .store
            .connector(&record.connector_id)
            .await
            .map_err(ScimError::from)?
            .is_some_and(|c| c.enabled);
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= REMEMBERED {
            known.clear();
        }
        let touched_at = known.get(token_id).and_then(|k| k.touched_at);
        let entry = Known {
            record: Arc::new(record),
            connector_enabled,
            read_at: now,
            touched_at,
        };
        known.insert(token_id.to_owned(), entry.clone());
        Ok(entry)
    }

    async fn touch(&self, token_id: &str, now: OffsetDateTime) {
        if let Some(k) = self
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(token_id)
        {
            k.touched_at = Some(now);
        }
        if let Err(e) = self.store.touch_token(token_id, now).await {
            // Losing a last-used time is not worth failing the request for.
            tracing::warn!(token = token_id, error = %e, "could not record token use");
        }
    }
}
