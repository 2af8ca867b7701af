//! The admin console under `/console/`: server-rendered pages (askama templates under
//! `templates/console/`), a little hand-written JavaScript where it truly helps.
//!
//! | module | pages |
//! |---|---|
//! | `auth` | login, logout, login rate limits |
//! | `connectors` | dashboard, create a connector, a connector's page, its tokens, API tokens |
//! | `settings` | settings editor, mapping tester, preview and apply, sync results |
//! | `directory` | directories and their order, users, groups, a user's page |
//! | `logs` | the SCIM request log |
//! | `assets` | the stylesheet and the script, served from the binary |
//!
//! Every page but the login page needs a session ([`Admin`]); every form that changes
//! something carries the session's CSRF token in a `csrf` field, checked by [`Admin::check_csrf`].
//!
//! ## Pages
//!
//! Every page template has a `layout: Layout` field, which the base layout
//! (`templates/console/base.html`) reads: the signed-in username, the CSRF token (the sign-out
//! form and `<meta name="csrf">`, which scripts send as `x-csrf-token` to the APIs), the
//! highlighted section of the navigation. A handler renders with [`render`], and turns a store
//! failure into the 500 page with [`Admin::fail`]:
//!
//! ```ignore
//! async fn page(admin: Admin, State(state): State<AppState>) -> Result<Response, Response> {
//!     let users = state.store().directory().users(…).await.map_err(|e| admin.fail(e))?;
//!     Ok(render(StatusCode::OK, &UsersPage { layout: admin.layout(Section::Users), users }))
//! }
//! ```
//!
//! `templates/console/macros.html` holds the pieces pages share: a time shown relative and
//! absolute ([`When`]), a copy button, a connector's tabs.
//!
//! ## Headers
//!
//! A layer on this router gives every console response a Content-Security-Policy that allows
//! only the console's own script and stylesheet (so no inline script or style anywhere),
//! `X-Frame-Options: DENY`, `Referrer-Policy: same-origin`, `X-Content-Type-Options: nosniff`,
//! and `Cache-Control: no-store` unless the handler chose otherwise (the static files do):
//! pages show tokens and personal data, which must not sit in shared or disk caches.

mod assets;
mod auth;
mod connectors;
mod directory;
mod logs;
mod settings;

use std::fmt;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Redirect, Response};
use roster_core::admin::SessionRecord;
use roster_core::store::{Actor, WriteContext};
use time::OffsetDateTime;

use crate::AppState;

/// The `/console` routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::routes())
        .merge(connectors::routes())
        .merge(settings::routes())
        .merge(directory::routes())
        .merge(logs::routes())
        .merge(assets::routes())
        .fallback(not_found_page)
        .layer(middleware::map_response(security_headers))
        .layer(auth::login_guard_layer())
}

/// Only the console's own files: no inline script or style, no framing, forms post only here.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

// ---- the signed-in administrator ----

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

    /// Who the audit log says made a change.
    pub(crate) fn actor(&self) -> Actor {
        Actor::Admin(self.session.username.clone())
    }

    /// The context of a change made now by this administrator.
    pub(crate) fn write_context(&self, state: &AppState) -> WriteContext {
        WriteContext::new(state.clock().now(), self.actor())
    }

    /// What the base layout needs, with `section` highlighted in the navigation.
    pub(crate) fn layout(&self, section: Section) -> Layout {
        Layout {
            username: self.session.username.clone(),
            csrf: self.session.csrf.clone(),
            section: section.as_str(),
            assets: assets::version(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// Checks a submitted form's `csrf` field: 403 unless it is this session's token.
    #[allow(
        clippy::result_large_err,
        reason = "the error is the page to answer with, returned by handlers with `?` once per request"
    )]
    pub(crate) fn check_csrf(&self, submitted: &str) -> Result<(), Response> {
        if self.session.csrf_matches(submitted) {
            Ok(())
        } else {
            Err(error_page(
                self.layout(Section::None),
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was not sent from this console session, or the session has changed \
                 since the page was loaded. Nothing was changed. Go back, reload the page and try again.",
            ))
        }
    }

    /// The 500 page for a failure the administrator cannot fix; the cause is logged, not shown.
    pub(crate) fn fail(&self, error: impl fmt::Display) -> Response {
        tracing::error!(error = %error, "a console page failed");
        error_page(
            self.layout(Section::None),
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Roster could not complete this request. The cause is in the server's log. \
             Try again in a moment.",
        )
    }

    /// The 404 page for something that does not exist (`what`: "connector 'okta'").
    pub(crate) fn not_found(&self, what: &str) -> Response {
        error_page(
            self.layout(Section::None),
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("There is no {what}. It may have been deleted."),
        )
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Some(session) = crate::admin_auth::session(state, &parts.headers).await {
            return Ok(Self { session });
        }
        // A form posted after the session ended cannot be replayed by a GET after the login:
        // that comes back to the dashboard instead.
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            return Err(Redirect::to("/console/login").into_response());
        }
        let here = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.to_string(), |u| u.0.to_string());
        let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
        Err(Redirect::to(&format!("/console/login?next={next}")).into_response())
    }
}

// ---- the layout ----

/// The part of the console a page belongs to, highlighted in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    /// The dashboard and everything under a connector.
    Connectors,
    /// Directories and their order.
    Directories,
    /// Directory users.
    Users,
    /// Directory groups.
    Groups,
    /// Admin and application API tokens.
    ApiTokens,
    /// Nothing highlighted (error pages, the login page).
    None,
}

impl Section {
    fn as_str(self) -> &'static str {
        match self {
            Self::Connectors => "connectors",
            Self::Directories => "directories",
            Self::Users => "users",
            Self::Groups => "groups",
            Self::ApiTokens => "api-tokens",
            Self::None => "",
        }
    }
}

/// What `base.html` needs; every page template has it as its `layout` field.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The signed-in administrator; empty on the login page (no navigation is shown).
    pub(crate) username: String,
    /// The session's CSRF token, for the sign-out form and `<meta name="csrf">`.
    pub(crate) csrf: String,
    /// The highlighted navigation entry (see [`Section`]).
    pub(crate) section: &'static str,
    /// The static files' version, so they can be cached for good under a versioned URL.
    pub(crate) assets: &'static str,
    /// Roster's version, in the footer.
    pub(crate) version: &'static str,
}

impl Layout {
    /// The layout of a page seen without a session.
    pub(crate) fn anonymous() -> Self {
        Self {
            username: String::new(),
            csrf: String::new(),
            section: Section::None.as_str(),
            assets: assets::version(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Renders a page with `status`. A template that fails to render (which askama's compile-time
/// checks make unlikely) is logged and answered with a bare 500.
pub(crate) fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "internal server error",
            )
                .into_response()
        }
    }
}

/// A redirect after a successful form (303: the browser follows with a GET, so a reload does
/// not send the form again).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A listing's address with its filter (empty fields left out) and, for a later page, its
/// cursor parameter (`("after", …)`, `("before", …)`).
pub(crate) fn list_link(
    base: &str,
    filter: &[(&str, &str)],
    cursor: Option<(&str, &str)>,
) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in filter {
        if !v.is_empty() {
            q.append_pair(k, v);
        }
    }
    if let Some((k, v)) = cursor {
        q.append_pair(k, v);
    }
    let q = q.finish();
    if q.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{q}")
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// A page that says what went wrong, with `status`.
pub(crate) fn error_page(
    layout: Layout,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    render(
        status,
        &ErrorPage {
            layout,
            status: status.as_u16(),
            title,
            message,
        },
    )
}

/// Unknown console paths: an HTML 404 (with the navigation when signed in), not the SCIM one.
async fn not_found_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let layout = match crate::admin_auth::session(&state, &headers).await {
        Some(session) => Admin { session }.layout(Section::None),
        None => Layout::anonymous(),
    };
    error_page(
        layout,
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no console page at this address.",
    )
}

// ---- times ----

/// A moment as pages show it: relative ("5 minutes ago") and absolute (UTC), or "never".
/// Templates use `{% call m::when(w) %}{% endcall %}` from `macros.html`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct When {
    /// Whether there is a time at all.
    pub(crate) is_set: bool,
    /// RFC 3339, for `<time datetime>`.
    pub(crate) iso: String,
    /// `2026-11-30 14:05 UTC`.
    pub(crate) absolute: String,
    /// `5 minutes ago`, `in 3 days`, `just now`.
    pub(crate) relative: String,
}

impl When {
    /// `at` as seen at `now`.
    pub(crate) fn new(at: Option<OffsetDateTime>, now: OffsetDateTime) -> Self {
        let Some(at) = at else {
            return Self {
                is_set: false,
                iso: String::new(),
                absolute: String::new(),
                relative: "never".to_owned(),
            };
        };
        let utc = at.to_offset(time::UtcOffset::UTC);
        Self {
            is_set: true,
            iso: roster_core::clock::rfc3339(at),
            absolute: format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                utc.year(),
                u8::from(utc.month()),
                utc.day(),
                utc.hour(),
                utc.minute()
            ),
            relative: relative(at, now),
        }
    }
}

/// How long ago (or how long until) `at` is, in the largest unit that fits, rounded to the
/// nearest minute, hour or day (4 h 54 min reads "5 hours ago").
fn relative(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let delta = now - at;
    let past = !delta.is_negative();
    let secs = delta.whole_seconds().unsigned_abs();
    if secs < 45 {
        return "just now".to_owned();
    }
    let (n, unit) = match secs {
        0..3_600 => (secs.saturating_add(30) / 60, "minute"),
        3_600..86_400 => (secs.saturating_add(1_800) / 3_600, "hour"),
        86_400..2_592_000 => (secs.saturating_add(43_200) / 86_400, "day"),
        2_592_000..31_536_000 => (secs / 2_592_000, "month"),
        _ => (secs / 31_536_000, "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if past {
        format!("{n} {unit}{plural} ago")
    } else {
        format!("in {n} {unit}{plural}")
    }
}

/// Sets `Cache-Control: no-store` explicitly, for answers that carry a secret shown once: the
/// layer would add it too, but such a page must not depend on a layer someone may reorder.
pub(crate) fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, max-age=0"),
    );
    response.headers_mut().insert(
        HeaderName::from_static("pragma"),
        HeaderValue::from_static("no-cache"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn links_carry_the_filter() {
        assert_eq!(
            list_link("/console/users", &[("search", "")], None),
            "/console/users"
        );
        assert_eq!(
            list_link(
                "/console/users",
                &[("search", "a b&c"), ("group", "x")],
                Some(("after", "cur"))
            ),
            "/console/users?search=a+b%26c&group=x&after=cur"
        );
    }

    #[test]
    fn times_read_naturally() {
        let now = datetime!(2026-11-30 12:00 UTC);
        let ago = |secs: i64| relative(now - time::Duration::seconds(secs), now);
        assert_eq!(ago(10), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(130), "2 minutes ago");
        assert_eq!(ago(3 * 3600 + 5), "3 hours ago");
        assert_eq!(ago(86_400), "1 day ago");
        assert_eq!(ago(-5 * 86_400), "in 5 days");
        assert_eq!(ago(400 * 86_400), "1 year ago");
        let w = When::new(Some(datetime!(2026-11-30 09:05:30 +02:00)), now);
        assert_eq!(w.absolute, "2026-11-30 07:05 UTC");
        assert_eq!(w.relative, "5 hours ago");
        assert_eq!(When::new(None, now).relative, "never");
    }

    #[tokio::test]
    async fn every_console_answer_carries_the_security_headers() {
        let response = security_headers((StatusCode::OK, "x").into_response()).await;
        let h = response.headers();
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        // A handler's own cache policy (the static files') is kept.
        let cached = security_headers(
            ([(header::CACHE_CONTROL, "public, max-age=60")], "x").into_response(),
        )
        .await;
        assert_eq!(
            cached.headers()[header::CACHE_CONTROL],
            "public, max-age=60"
        );
    }
}
