//! What API handlers take from a request: a JSON body and a query string that fail as
//! [`ApiError`]s (never axum's plain-text rejections), the request id, and paging.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::AppState;

/// A JSON request body. `Content-Type` must be JSON (`application/json`, any `+json`) or
/// absent; an empty body reads as `{}`, so endpoints whose fields are all optional need none.
#[derive(Debug, Clone)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if let Some(value) = req.headers().get(header::CONTENT_TYPE) {
            let text = value.to_str().unwrap_or_default();
            let essence = text.split(';').next().unwrap_or_default().trim();
            let json = essence.eq_ignore_ascii_case("application/json")
                || essence.to_ascii_lowercase().ends_with("+json")
                || essence.is_empty();
            if !json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("unsupported Content-Type '{essence}': send application/json"),
                ));
            }
        }
        let bytes = match Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the request body is larger than {} bytes",
                        state.limits().max_body_bytes
                    ),
                ));
            }
            Err(_) => return Err(ApiError::bad_request("the request body could not be read")),
        };
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes).map(Self).map_err(|e| {
            ApiError::bad_request(match e.classify() {
                serde_json::error::Category::Data => format!("the request body is not valid: {e}"),
                _ => format!("the request body is not valid JSON: {e}"),
            })
        })
    }
}

/// The query string, read into `T`; a bad parameter is a 400 that names it.
#[derive(Debug, Clone)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(q)| Self(q))
            .map_err(|r| ApiError::bad_request(format!("invalid query string: {}", r.body_text())))
    }
}

/// The request's `x-request-id` (set by the outermost layer when the client sent none), for
/// the audit log.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
    }
}

/// The default page size.
pub(crate) const DEFAULT_LIMIT: u32 = 100;
/// The largest page size.
pub(crate) const MAX_LIMIT: u32 = 1_000;

/// A `limit` parameter: the default when absent, refused (400) outside 1 to [`MAX_LIMIT`].
pub(crate) fn limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n @ 1..=MAX_LIMIT) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit {n} is out of range: use 1 to {MAX_LIMIT}"
        ))),
    }
}

/// A listing cursor as the API hands it out: the store's cursor in hex, so it is opaque and
/// needs no escaping in a query string.
pub(crate) fn encode_cursor(cursor: Option<String>) -> Option<String> {
    cursor.map(|c| {
        use std::fmt::Write;
        c.bytes()
            .fold(String::with_capacity(c.len() * 2), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    })
}

/// The store's cursor from an `after` parameter.
pub(crate) fn decode_cursor(after: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(hex) = after.filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let invalid = || ApiError::bad_request("the 'after' cursor is not valid for this query");
    if hex.len() % 2 != 0 {
        return Err(invalid());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    String::from_utf8(bytes).map(Some).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some(1000)).unwrap(), 1000);
        assert_eq!(
            limit(Some(0)).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            limit(Some(1001)).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = r#"["adele","internal"]"#.to_owned();
        let encoded = encode_cursor(Some(c.clone())).unwrap();
        assert!(encoded.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(decode_cursor(Some(&encoded)).unwrap(), Some(c));
        assert_eq!(decode_cursor(None).unwrap(), None);
        for bad in ["abc", "zz", "ff"] {
            assert!(decode_cursor(Some(bad)).is_err(), "{bad}");
        }
    }
}
