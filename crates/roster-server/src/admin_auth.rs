//! Who is calling the admin API, the application API or the console.
//!
//! - **API tokens** (`Authorization: Bearer roster_admin_…` or `roster_app_…`, see
//!   [`roster_core::admin`]): an admin token opens the admin API and the application API; an
//!   app token opens only the application API (403 elsewhere). A connector's SCIM token opens
//!   neither (401).
//! - **Console sessions**: the session cookie opens the console and, so that the console's
//!   scripts can use it, the APIs too. A session's request that changes something (any method
//!   but GET, HEAD and OPTIONS) must also carry the session's CSRF token: in the `x-csrf-token`
//!   header for the APIs, in the form's `csrf` field for the console. A forged cross-site form
//!   cannot know it.
//!
//! Every failed check gets the same answer whatever went wrong (unknown, revoked, expired,
//! mistyped), so a caller cannot probe which tokens exist.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::admin::{self, ApiScope, ApiTokenRecord, SessionRecord};
use roster_core::store::Actor;
use time::{Duration, OffsetDateTime};

use crate::AppState;

/// The session cookie's name over plain HTTP.
const COOKIE: &str = "roster_session";
/// Its name when cookies are `Secure`: the `__Host-` prefix makes browsers refuse it unless it
/// is `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain cannot plant one.
const HOST_COOKIE: &str = "__Host-roster_session";
/// The header that carries a session's CSRF token on API calls.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// How often an API token's `last_used_at` is written at most.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// The session cookie's name for this server.
pub(crate) fn cookie_name(state: &AppState) -> &'static str {
    if state.admin_options().secure_cookies {
        HOST_COOKIE
    } else {
        COOKIE
    }
}

/// A `Set-Cookie` value for one of the console's cookies (the session's, the login form's):
/// out of scripts' reach, never sent cross-site, `Secure` when cookies are; `max_age` 0 ends
/// it. `value` is hex or empty.
pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.admin_options().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::try_from(format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a cookie of hex digits is a valid header value")
}

/// The value of the request's cookie `name`, if it carries one.
pub(crate) fn read_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value that starts a session.
pub(crate) fn session_cookie(state: &AppState, value: &str) -> HeaderValue {
    let max_age = state.admin_options().session_lifetime.as_secs();
    set_cookie(state, cookie_name(state), value, max_age)
}

/// The `Set-Cookie` value that ends a session.
pub(crate) fn clear_cookie(state: &AppState) -> HeaderValue {
    set_cookie(state, cookie_name(state), "", 0)
}

/// The session cookie's value, if the request carries one.
pub(crate) fn cookie_value<'h>(state: &AppState, headers: &'h HeaderMap) -> Option<&'h str> {
    read_cookie(headers, cookie_name(state)).filter(|v| !v.is_empty())
}

/// The live session the request's cookie names, if any (expired sessions are not).
pub(crate) async fn session(state: &AppState, headers: &HeaderMap) -> Option<SessionRecord> {
    let cookie = cookie_value(state, headers)?;
    let hash = admin::session_hash(cookie);
    match state.store().admin().session(&hash).await {
        Ok(Some(s)) if s.expires_at > state.clock().now() => Some(s),
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, "could not read a console session");
            None
        }
    }
}

/// Who a caller of the APIs is.
#[derive(Debug, Clone)]
pub(crate) enum Principal {
    /// An administrator in the console.
    Session(SessionRecord),
    /// An API token.
    Token(ApiTokenRecord),
}

impl Principal {
    /// Who the audit log says made a change: `admin:{username}` for a session,
    /// `admin:token:{id}` for a token.
    pub(crate) fn actor(&self) -> Actor {
        match self {
            Self::Session(s) => Actor::Admin(s.username.clone()),
            Self::Token(t) => Actor::Admin(format!("token:{}", t.id)),
        }
    }
}

/// Why a caller was refused: 401 (who are you?) or 403 (not with that). Answered as JSON,
/// `{"status": 401, "error": "…"}`, with `WWW-Authenticate: Bearer` on 401 (RFC 6750 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthRejection {
    pub(crate) status: StatusCode,
    pub(crate) message: &'static str,
}

impl AuthRejection {
    fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: "a valid admin session or API token is required",
        }
    }

    fn forbidden(message: &'static str) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message,
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let body = axum::Json(serde_json::json!({
            "status": self.status.as_u16(),
            "error": self.message,
        }));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Checks a presented API token: the stored record if it is valid now.
async fn api_token(state: &AppState, presented: &str) -> Result<ApiTokenRecord, AuthRejection> {
    let (_, id, secret) =
        admin::parse_api_token(presented).ok_or_else(AuthRejection::unauthorized)?;
    let record = match state.store().admin().api_token(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(AuthRejection::unauthorized()),
        Err(e) => {
            tracing::error!(error = %e, "could not read an API token");
            return Err(AuthRejection::unauthorized());
        }
    };
    let now = state.clock().now();
    if !admin::verify_api_token(&record, secret) || record.expired(now) {
        return Err(AuthRejection::unauthorized());
    }
    if record.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY)
        && let Err(e) = state.store().admin().touch_api_token(&record.id, now).await
    {
        tracing::warn!(error = %e, token = %record.id, "could not record an API token's use");
    }
    Ok(record)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Who a request is from, if it needs `scope`.
async fn principal(
    state: &AppState,
    parts: &Parts,
    scope: ApiScope,
) -> Result<Principal, AuthRejection> {
    if let Some(presented) = bearer(&parts.headers) {
        let record = api_token(state, presented).await?;
        return match (scope, record.scope) {
            (ApiScope::App, _) | (ApiScope::Admin, ApiScope::Admin) => Ok(Principal::Token(record)),
            (ApiScope::Admin, ApiScope::App) => Err(AuthRejection::forbidden(
                "an application token reads the application API only; the admin API needs an admin token",
            )),
        };
    }
    let session = session(state, &parts.headers)
        .await
        .ok_or_else(AuthRejection::unauthorized)?;
    if !is_safe(&parts.method) {
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !session.csrf_matches(presented) {
            return Err(AuthRejection::forbidden(
                "a console session's changes must carry its CSRF token in x-csrf-token",
            ));
        }
    }
    Ok(Principal::Session(session))
}

/// A caller of the admin API: an admin token, or a console session (with its CSRF token for
/// changes).
#[derive(Debug, Clone)]
pub(crate) struct AdminCaller(pub(crate) Principal);

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        principal(state, parts, ApiScope::Admin).await.map(Self)
    }
}

/// A caller of the application API: an app or admin token, or a console session. The API
/// only reads, so who it is does not matter once it is let in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppCaller;

impl FromRequestParts<AppState> for AppCaller {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        principal(state, parts, ApiScope::App).await.map(|_| Self)
    }
}

/// The time a session started now would end.
pub(crate) fn session_lifetime(state: &AppState) -> Duration {
    Duration::try_from(state.admin_options().session_lifetime).unwrap_or(Duration::hours(12))
}

/// Now, by the state's clock.
pub(crate) fn now(state: &AppState) -> OffsetDateTime {
    state.clock().now()
}
