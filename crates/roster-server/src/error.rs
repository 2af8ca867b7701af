//! The one wire error (RFC 7644 §3.12): everything a request can fail with, and the one table
//! that says what the client is told.
//!
//! Every failure answers with a SCIM error body — `schemas`, `status` as a string, `scimType`
//! where RFC 7644 has one, `detail` — and `Content-Type: application/scim+json`, whether it
//! comes from the SCIM service, the authenticator, body parsing, routing, the timeout or a
//! panic. A 401 also carries `WWW-Authenticate: Bearer realm="roster"` (RFC 6750 §3). A 5xx
//! never says anything about internals; its cause is logged where it is known.

use std::any::Any;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim::bulk::BulkLimits;
use scim::{ScimError, ScimType};

/// The media type of every SCIM body (RFC 7644 §3.1).
pub(crate) const SCIM_JSON: &str = "application/scim+json";

/// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3).
pub(crate) const BEARER_CHALLENGE: &str = "Bearer realm=\"roster\"";

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum Error {
    /// An answer from the SCIM service, the authenticator or the protocol library: already a
    /// wire error.
    Scim(ScimError),
    /// The body has a `Content-Type` that is not SCIM JSON or JSON.
    UnsupportedMediaType(String),
    /// The body is not JSON.
    MalformedJson(serde_json::Error),
    /// The body is larger than the server accepts.
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A `/Bulk` body is larger than the advertised `maxPayloadSize`.
    BulkTooLarge(BulkLimits),
    /// The body could not be read (the client went away, or sent a broken stream).
    UnreadableBody,
    /// No endpoint at this path.
    NotFound,
    /// The endpoint exists but not with this method; the router adds the `Allow` header.
    MethodNotAllowed(Method),
    /// The request took longer than the request timeout.
    Timeout(Duration),
    /// A handler panicked.
    Panic,
    /// The framework answered with a bare error status and no body.
    Bare(StatusCode),
}

impl From<ScimError> for Error {
    fn from(e: ScimError) -> Self {
        Self::Scim(e)
    }
}

impl Error {
    /// The table: what the client is told.
    #[must_use]
    pub(crate) fn to_scim(&self) -> ScimError {
        match self {
            Self::Scim(e) => e.clone(),
            Self::UnsupportedMediaType(ty) => ScimError::new(
                415,
                None,
                format!(
                    "unsupported Content-Type '{ty}': send application/scim+json or application/json"
                ),
            ),
            Self::MalformedJson(e) => {
                ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
            }
            Self::BodyTooLarge { limit } => ScimError::new(
                413,
                None,
                format!("the request body is larger than {limit} bytes"),
            ),
            Self::BulkTooLarge(limits) => limits
                .check_payload_size(usize::MAX)
                .err()
                .unwrap_or_else(|| ScimError::new(413, None, "the bulk request is too large")),
            Self::UnreadableBody => ScimError::invalid_syntax("the request body could not be read"),
            Self::NotFound => ScimError::not_found("no SCIM endpoint at this path"),
            Self::MethodNotAllowed(method) => ScimError::new(
                405,
                None,
                format!("{method} is not supported on this endpoint"),
            ),
            Self::Timeout(limit) => ScimError::new(
                503,
                None,
                format!(
                    "the request did not complete within {} seconds; it may be retried",
                    limit.as_secs_f64()
                ),
            ),
            Self::Panic => ScimError::internal(),
            Self::Bare(status) => bare(*status),
        }
    }
}

/// A bare framework status, as a SCIM error.
fn bare(status: StatusCode) -> ScimError {
    let scim_type = (status == StatusCode::BAD_REQUEST).then_some(ScimType::InvalidSyntax);
    if status.is_server_error() {
        return ScimError::new(status.as_u16(), None, "internal server error");
    }
    ScimError::new(
        status.as_u16(),
        scim_type,
        status.canonical_reason().unwrap_or("request failed"),
    )
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Self::Panic = self {
            // Logged by the panic handler, with the panic's message.
        } else if let Self::Scim(e) = &self
            && e.status >= 500
        {
            // The SCIM service logged the cause where it happened (a storage failure); this
            // records which request it was.
            tracing::warn!(status = e.status, "answered with a server error");
        }
        scim_error(&self.to_scim())
    }
}

/// A SCIM error as a response: the RFC 7644 §3.12 body and its headers.
#[must_use]
pub(crate) fn scim_error(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = scim_json(status, &e.to_json());
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(BEARER_CHALLENGE),
        );
    }
    response
}

/// A JSON body with `Content-Type: application/scim+json`.
#[must_use]
pub(crate) fn scim_json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    // Room for a typical resource or one-result list up front: growing from serde_json's 128
    // bytes took three reallocations per lookup. Serialising SCIM messages cannot fail.
    let mut bytes = Vec::with_capacity(1024);
    let _ = serde_json::to_writer(&mut bytes, body);
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

/// The last resort: an error status that left the router without a body (a framework
/// rejection we did not map ourselves) gets a SCIM body; its other headers (`Allow`) stay.
pub(crate) fn bare_errors(response: Response) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || response.headers().contains_key(header::CONTENT_TYPE) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let body = Error::Bare(status).into_response();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body.into_body())
}

/// A handler panicked: log the panic, tell the client nothing about it.
pub(crate) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    tracing::error!(panic = %message, "a request handler panicked");
    Error::Panic.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_say_nothing_about_internals() {
        for e in [
            Error::Panic,
            Error::Bare(StatusCode::INTERNAL_SERVER_ERROR),
            Error::Scim(ScimError::internal()),
        ] {
            let s = e.to_scim();
            assert_eq!(s.status, 500);
            assert_eq!(s.detail, "internal server error");
        }
    }

    #[test]
    fn the_bulk_limit_speaks_the_rfc_example() {
        let e = Error::BulkTooLarge(BulkLimits {
            max_operations: 10,
            max_payload_bytes: 1000,
        })
        .to_scim();
        assert_eq!(e.status, 413);
        assert!(e.detail.contains("maxPayloadSize (1000)"), "{}", e.detail);
    }

    #[test]
    fn malformed_json_is_invalid_syntax() {
        let cause = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let e = Error::MalformedJson(cause).to_scim();
        assert_eq!(
            (e.status, e.scim_type),
            (400, Some(ScimType::InvalidSyntax))
        );
    }

    #[tokio::test]
    async fn bare_framework_errors_get_a_scim_body_and_keep_their_headers() {
        let mut bare_405 = Response::new(Body::empty());
        *bare_405.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        bare_405
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,POST"));
        let r = bare_errors(bare_405);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET,POST");
        assert_eq!(r.headers()[header::CONTENT_TYPE], SCIM_JSON);
        let body = axum::body::to_bytes(r.into_body(), 10_000).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["status"], "405");
        assert_eq!(body["schemas"][0], scim::error::ERROR_SCHEMA);

        // Answers that already have a body, and successes, pass untouched.
        let ok = bare_errors(Response::new(Body::from("ok")));
        assert!(ok.headers().get(header::CONTENT_TYPE).is_none());
        let scim = bare_errors(scim_error(&ScimError::not_found("x")));
        let body = axum::body::to_bytes(scim.into_body(), 10_000)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("\"detail\":\"x\""));
    }

    #[test]
    fn unauthorized_carries_the_bearer_challenge() {
        let r = scim_error(&ScimError::unauthorized("no"));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], BEARER_CHALLENGE);
        assert_eq!(r.headers()[header::CONTENT_TYPE], SCIM_JSON);
    }
}
