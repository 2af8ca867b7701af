//! The admin console under `/console/`: server-rendered pages (askama templates under
//! `templates/console/`), a little hand-written JavaScript where it truly helps.
//!
//! | module | pages |
//! |---|---|
//! | `auth` | login, logout, login rate limits |
//! | `connectors` | dashboard, create a connector, a connector's page, its tokens |
//! | `settings` | settings editor, mapping tester, preview and apply, sync results |
//! | `directory` | directories and their order, users, groups, a user's page |
//! | `logs` | the SCIM request log |
//!
//! Every page but the login page needs a session ([`Admin`]); every form that changes
//! something carries the session's CSRF token in a `csrf` field, checked by [`Admin::check_csrf`].

mod auth;
mod connectors;
mod directory;
mod logs;
mod settings;

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use roster_core::admin::SessionRecord;

use crate::AppState;

/// The `/console` routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::routes())
        .merge(connectors::routes())
        .merge(settings::routes())
        .merge(directory::routes())
        .merge(logs::routes())
}

/// A signed-in administrator. Without a live session, a page answers with a redirect to the
/// login page, which comes back here afterwards.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    /// The session.
    pub(crate) session: SessionRecord,
}

impl Admin {
    /// The username.
    pub(crate) fn username(&self) -> &str {
        &self.session.username
    }

    /// The CSRF token the page's forms must carry.
    pub(crate) fn csrf(&self) -> &str {
        &self.session.csrf
    }

    /// Checks a submitted form's `csrf` field: 403 unless it is this session's token.
    pub(crate) fn check_csrf(&self, submitted: &str) -> Result<(), Response> {
        if self.session.csrf_matches(submitted) {
            Ok(())
        } else {
            Err((
                StatusCode::FORBIDDEN,
                "This form is out of date or was not sent from the console. Reload the page and try again.",
            )
                .into_response())
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Some(session) = crate::admin_auth::session(state, &parts.headers).await {
            return Ok(Self { session });
        }
        let here = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.to_string(), |u| u.0.to_string());
        let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
        Err(Redirect::to(&format!("/console/login?next={next}")).into_response())
    }
}
