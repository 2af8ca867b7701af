//! Who may speak SCIM to a connector: bearer-token checks (RFC 6750).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use scim::ScimError;
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::store::Store;
use crate::token;

/// How often a token's `last_used_at` is written at most: every request would put a write
/// on the hot read path.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// Checks bearer tokens against a connector.
#[derive(Debug)]
pub struct Authenticator {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    touched: Mutex<HashMap<String, OffsetDateTime>>,
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
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// Checks an `Authorization` header for `connector_id`: 401 unless it carries a token of
    /// this connector that has not expired, and the connector exists and is enabled.
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
        let record = self
            .store
            .token(token_id)
            .await
            .map_err(ScimError::from)?
            .ok_or_else(denied)?;
        let now = self.clock.now();
        // The hash comparison runs before anything that depends on the record's other fields.
        let valid = token::verify(&record, secret);
        if !valid || record.connector_id != connector_id || record.expired(now) {
            return Err(denied());
        }
        let connector = self
            .store
            .connector(connector_id)
            .await
            .map_err(ScimError::from)?
            .ok_or_else(denied)?;
        if !connector.enabled {
            return Err(denied());
        }
        self.touch(&record.id, now).await;
        Ok(())
    }

    async fn touch(&self, token_id: &str, now: OffsetDateTime) {
        {
            let mut touched = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
            if touched
                .get(token_id)
                .is_some_and(|t| now - *t < TOUCH_EVERY)
            {
                return;
            }
            touched.insert(token_id.to_owned(), now);
        }
        if let Err(e) = self.store.touch_token(token_id, now).await {
            // Losing a last-used time is not worth failing the request for.
            tracing::warn!(token = token_id, error = %e, "could not record token use");
        }
    }
}
