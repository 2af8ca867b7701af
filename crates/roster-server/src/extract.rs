//! What handlers take from a request besides the connector: the SCIM JSON body, the decoded
//! query string, and the precondition headers.
//!
//! - **Bodies** ([`ScimJson`], [`BulkJson`]). RFC 7644 §3.1 names `application/scim+json`;
//!   Okta's tests post `application/json`, some clients add `; charset=utf-8`, some send no
//!   `Content-Type` at all. All of those are read as JSON. Any other explicit type is 415. A
//!   body over the limit is 413, a body that is not JSON 400 `invalidSyntax` — SCIM errors
//!   both, never the framework's plain text.
//! - **Query strings** ([`QueryPairs`]) are decoded as `application/x-www-form-urlencoded`:
//!   `+` is a space and `%XX` is a byte, because Entra's validator sends
//!   `filter=userName+eq+"x%40y"` and others send `%20` and `%22`. Names are matched
//!   case-insensitively and unknown ones (`aadOptscim062020`) ignored, by
//!   [`scim::query::ListQuery::from_pairs`].
//! - **Preconditions** ([`Preconditions`]): `If-Match` and `If-None-Match` (RFC 7644 §3.14),
//!   passed on as text; the IdP view decides what they match.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use scim::ScimError;
use scim::projection::Projection;
use scim::query::{ListQuery, QueryLimits};
use serde_json::Value;

use crate::AppState;
use crate::error::Error;

/// The decoded `(name, value)` pairs of the query string, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryPairs(pub(crate) Vec<(String, String)>);

impl QueryPairs {
    /// Decodes a raw query string.
    pub(crate) fn parse(query: &str) -> Self {
        Self(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The list query of `GET /Users` and `GET /Groups`.
    pub(crate) fn list_query(self, limits: &QueryLimits) -> Result<ListQuery, ScimError> {
        ListQuery::from_pairs(self.0, limits)
    }

    /// `attributes` / `excludedAttributes` (RFC 7644 §3.9), which every resource endpoint
    /// honours, not only lists. As in a list query, names are case-insensitive and the last
    /// occurrence counts.
    pub(crate) fn projection(&self) -> Result<Projection, ScimError> {
        let last = |name: &str| {
            self.0
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        Projection::parse(last("attributes"), last("excludedAttributes"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::parse(parts.uri.query().unwrap_or_default()))
    }
}

/// The `{id}` path parameter: a resource id, a resource type name or a schema URN,
/// percent-decoded.
#[derive(Debug, Clone)]
pub(crate) struct PathId(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        // An id that does not decode to UTF-8 names nothing this server has.
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::NotFound)?;
        params
            .iter()
            .find_map(|(name, value)| (name == "id").then(|| Self(value.to_owned())))
            .ok_or(Error::NotFound)
    }
}

/// `If-Match` and `If-None-Match`, as sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Preconditions {
    /// `If-Match`: PUT, PATCH and DELETE apply only to this version (else 412).
    pub(crate) if_match: Option<String>,
    /// `If-None-Match`: a GET of this version answers 304.
    pub(crate) if_none_match: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Preconditions {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Repeated headers are one comma-separated list (RFC 9110 §5.3). A value that is not
        // text can name no version of ours: it is kept as "" so that it never matches.
        let read = |name| {
            let values: Vec<&str> = parts
                .headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap_or_default())
                .collect();
            (!values.is_empty()).then(|| values.join(", "))
        };
        Ok(Self {
            if_match: read(header::IF_MATCH),
            if_none_match: read(header::IF_NONE_MATCH),
        })
    }
}

/// A SCIM JSON request body (RFC 7644 §3.1), within the server's body limit.
#[derive(Debug, Clone)]
pub(crate) struct ScimJson(pub(crate) Value);

impl FromRequest<AppState> for ScimJson {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        let limit = state.limits().max_body_bytes;
        let bytes = read_body(req, state, || Error::BodyTooLarge { limit }).await?;
        parse(&bytes).map(Self)
    }
}

/// A `/Bulk` request body (RFC 7644 §3.7): its size is checked against the advertised
/// `maxPayloadSize` before it is parsed (RFC 7644 §3.7.4).
#[derive(Debug, Clone)]
pub(crate) struct BulkJson(pub(crate) Value);

impl FromRequest<AppState> for BulkJson {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        let limits = state.view().limits().bulk;
        let bytes = read_body(req, state, || Error::BulkTooLarge(limits)).await?;
        limits.check_payload_size(bytes.len())?;
        parse(&bytes).map(Self)
    }
}

/// Checks the content type, then reads the body within the route's `DefaultBodyLimit`.
async fn read_body(
    req: Request,
    state: &AppState,
    too_large: impl FnOnce() -> Error,
) -> Result<Bytes, Error> {
    check_content_type(req.headers())?;
    match Bytes::from_request(req, state).await {
        Ok(bytes) => Ok(bytes),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
        Err(_) => Err(Error::UnreadableBody),
    }
}

fn parse(bytes: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(bytes).map_err(Error::MalformedJson)
}

/// Accepts `application/scim+json`, `application/json` (any parameters, any case) and no
/// content type; refuses every other.
fn check_content_type(headers: &HeaderMap) -> Result<(), Error> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("(not text)");
    let essence = text.split(';').next().unwrap_or_default().trim();
    let accepted = essence.is_empty()
        || essence.eq_ignore_ascii_case("application/scim+json")
        || essence.eq_ignore_ascii_case("application/json");
    if accepted {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType(essence.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_type(ty: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
        h
    }

    #[test]
    fn scim_and_plain_json_are_accepted_in_any_spelling() {
        for ty in [
            "application/scim+json",
            "application/json",
            "application/json; charset=utf-8",
            "Application/SCIM+JSON;charset=UTF-8",
            "",
        ] {
            assert!(check_content_type(&with_type(ty)).is_ok(), "{ty}");
        }
        assert!(check_content_type(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn other_types_are_refused() {
        for ty in [
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
        ] {
            let e = check_content_type(&with_type(ty)).unwrap_err().to_scim();
            assert_eq!(e.status, 415, "{ty}");
        }
    }

    #[test]
    fn plus_and_percent_both_decode() {
        let q = QueryPairs::parse("filter=userName+eq+\"a%40b.c\"&aadOptscim062020");
        assert_eq!(
            q.0,
            [
                ("filter".to_owned(), "userName eq \"a@b.c\"".to_owned()),
                ("aadOptscim062020".to_owned(), String::new()),
            ]
        );
        let q = QueryPairs::parse("filter=userName%20eq%20%22x%22");
        assert_eq!(q.0[0].1, "userName eq \"x\"");
    }

    #[test]
    fn projection_takes_the_last_parameter_in_any_case() {
        let q = QueryPairs::parse("excludedAttributes=meta&EXCLUDEDATTRIBUTES=members");
        let p = q.projection().unwrap();
        assert_eq!(p.excluded, [scim::path::AttrPath::attr("members")]);
        assert!(QueryPairs::default().projection().unwrap().is_default());
    }
}
