//! Who may call a connector's endpoints: the bearer-token check (RFC 6750 §2.1), as an
//! extractor.
//!
//! Every SCIM handler takes a [`ConnectorScope`], and the only way to get one is to present
//! `Authorization: Bearer <token>` with a token of the `{connector}` in the path, unexpired,
//! of an enabled connector ([`roster_core::Authenticator::authenticate`]). So a handler that
//! can reach the IdP view has been authenticated for exactly the connector it serves, and a
//! token opens its own connector and nothing else. Every refusal is the same 401 (with
//! `WWW-Authenticate: Bearer realm="roster"`): it does not tell a wrong token from a
//! disabled or missing connector.
//!
//! The discovery endpoints take a scope too. They are per connector, Entra ID and Okta send
//! the token on every call, and answering them without one would let anyone probe which
//! connector ids exist.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;
use roster_core::idp_view::Endpoint;
use scim::ScimError;

use crate::AppState;
use crate::error::Error;

/// The path parameter that names the connector.
pub(crate) const CONNECTOR_PARAM: &str = "connector";

/// An authenticated request's connector, the SCIM base URL it is served at, and the request's
/// `x-request-id` (set by the outer layer when the client sent none), which the audit log
/// records for the directory changes the request causes.
#[derive(Debug, Clone)]
pub(crate) struct ConnectorScope {
    id: String,
    base_url: String,
    request_id: Option<String>,
}

impl ConnectorScope {
    /// The connector, base URL and request id, as the IdP view takes them.
    pub(crate) fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            connector_id: &self.id,
            base_url: &self.base_url,
            request_id: self.request_id.as_deref(),
        }
    }

    /// The SCIM base URL, `{public_url}/scim/v2/{connector}`.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl FromRequestParts<AppState> for ConnectorScope {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::NotFound)?;
        let Some(id) = params
            .iter()
            .find_map(|(name, value)| (name == CONNECTOR_PARAM).then(|| value.to_owned()))
        else {
            // A route without `{connector}` never takes a scope; refuse rather than guess.
            tracing::error!("a connector scope was asked for on a route without a connector");
            return Err(Error::Scim(ScimError::internal()));
        };
        // A header that is not visible ASCII cannot hold a token: the same 401 as none.
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        state
            .authenticator()
            .authenticate(&id, authorization)
            .await?;
        // Only now may metrics name the connector (see `ops::Noted`).
        crate::ops::note_authenticated(&parts.extensions, &id);
        let base_url = state.base_url(&id);
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self {
            id,
            base_url,
            request_id,
        })
    }
}
