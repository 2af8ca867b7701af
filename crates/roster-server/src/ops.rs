//! Operations: `/healthz`, `/readyz`, `/metrics`, and the SCIM request log's sink.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use roster_core::Store;

use crate::AppState;

/// Metrics and the request log's sink, shared by every request.
#[derive(Debug, Clone)]
pub(crate) struct Ops {
    #[allow(dead_code, reason = "the request log's sink will write to it")]
    store: Arc<dyn Store>,
}

impl Ops {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

/// The operations routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(|| async { "ok" }))
}
