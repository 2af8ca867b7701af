//! The console's stylesheet and script, compiled into the binary (no build step, nothing to
//! deploy beside it) and served at `/console/static/{name}`.
//!
//! Pages link them as `/console/static/console.css?v={version}`, where the version is a hash of
//! every file's content: a new binary with changed files gets new URLs, so browsers may keep
//! them for a year (`immutable`) and never run a stale script against a new page. A request
//! without the version (or with an old one) still gets the current file, revalidated by ETag.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

/// A file served from the binary.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Every static file of the console. Adding one is one entry here.
const ASSETS: &[Asset] = &[
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../static/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/console.js"),
    },
    Asset {
        name: "settings.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/settings.js"),
    },
    Asset {
        name: "pages.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../static/pages.css"),
    },
];

/// FNV-1a, 64 bits: a stable content hash (std's hasher may change between Rust versions,
/// and a cryptographic hash would be more than a cache key needs).
const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const fn content_hash() -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < ASSETS.len() {
        hash = fnv1a(hash, ASSETS[i].body.as_bytes());
        i += 1;
    }
    hash
}

/// The version of the static files, for their URLs: 12 hex digits of their content hash.
pub(super) fn version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| {
        let hex = format!("{:016x}", content_hash());
        hex[..12].to_owned()
    });
    &VERSION
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/static/{name}", get(asset))
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found",
        )
            .into_response();
    };
    let etag = format!("\"{}\"", version());
    let cache = HeaderValue::from_static("public, max-age=31536000, immutable");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, cache);
    if let Ok(etag) = HeaderValue::try_from(etag) {
        h.insert(header::ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_follows_the_content() {
        assert_eq!(version().len(), 12);
        assert_ne!(
            fnv1a(0xcbf2_9ce4_8422_2325, b"a"),
            fnv1a(0xcbf2_9ce4_8422_2325, b"b")
        );
    }
}
