//! The admin API and the application API under `/api/v1/`, and their OpenAPI document at
//! `/api/openapi.json`.

use axum::Router;

use crate::AppState;

/// The `/api` routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
}
