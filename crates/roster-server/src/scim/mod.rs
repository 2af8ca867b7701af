//! The SCIM 2.0 endpoints of one connector (RFC 7644), under `/scim/v2/{connector}`.
//!
//! | module | endpoints |
//! |---|---|
//! | [`resources`] | `/Users`, `/Groups` and their `/{id}`: POST, GET, PUT, PATCH, DELETE (§3.3–§3.6); `/Me` (§3.11, 501) |
//! | [`search`] | `POST /.search`, `POST /Users/.search`, `POST /Groups/.search` (§3.4.3) |
//! | [`bulk`] | `POST /Bulk` (§3.7) |
//! | [`discovery`] | `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` (§4) |
//!
//! Each handler extracts, calls one [`roster_core::IdpView`] method and maps its result to a
//! response; every body is `application/scim+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use roster_core::idp_view::Rendered;

use crate::error::scim_json;

pub(crate) mod bulk;
pub(crate) mod discovery;
pub(crate) mod resources;
pub(crate) mod search;

/// One resource as a response: its body, `ETag` (RFC 7644 §3.14) and `Location` (§3.1).
pub(crate) fn resource(status: StatusCode, r: &Rendered) -> Response {
    let mut response = scim_json(status, &r.body);
    add_tags(&mut response, r);
    response
}

/// A bodiless answer about one resource (204 after a group PATCH, 304 after a GET): its
/// `ETag`, so the client knows the version it now has, and its `Location`.
pub(crate) fn bodiless(status: StatusCode, r: &Rendered) -> Response {
    let mut response = Response::default();
    *response.status_mut() = status;
    add_tags(&mut response, r);
    response
}

fn add_tags(response: &mut Response, r: &Rendered) {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&r.etag()) {
        headers.insert(header::ETAG, v);
    }
    // The public URL comes from configuration; a value that cannot be a header is left out
    // rather than failing the request (it is in `meta.location` too).
    if let Ok(v) = HeaderValue::from_str(&r.location) {
        headers.insert(header::LOCATION, v);
    }
}
