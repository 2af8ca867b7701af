//! Signing in and out of the console.
//!
//! - `GET /console/login` shows the form (or, while no admin account exists, how to make one);
//!   `POST /console/login` checks it. Success starts a session (see
//!   [`roster_core::admin::new_session`]), sets its cookie and goes back to the page that asked
//!   for a login (`next`), if that is a console path: anything else (`//evil.example`,
//!   `https://…`) goes to the dashboard, so the login page cannot be used as an open redirect.
//! - `POST /console/logout` ends the session in the store, so the cookie is dead even if it was
//!   copied, and clears it.
//!
//! ## Login attempts
//!
//! Two keyed limiters (governor's GCRA), one per client address (an IPv6 client's /64) and one
//! per username, each allowing `login_attempts_per_minute` attempts in a burst and refilling at
//! that rate. An
//! attempt is counted *before* the password is looked at: a limited attempt is answered 429
//! without any password check, so guessing stops even for the right password. This also counts
//! the rare successful attempt, which is what lets the check come first. The per-address limit
//! needs the server to record client addresses ([`crate::serve`] does, through
//! `ConnectInfo`); behind a reverse proxy, the proxy must be listed as trusted
//! ([`AppState::with_trusted_proxies`](crate::AppState::with_trusted_proxies)) for its
//! `X-Forwarded-For` to say who the client is.
//!
//! An unknown username costs the same argon2 verification as a wrong password (against a dummy
//! hash of the same strength), and gets the same answer, so neither timing nor wording tells an
//! attacker which usernames exist. Hashing runs on the blocking pool: argon2 is ~20 ms of CPU.
//!
//! ## Login CSRF
//!
//! A cross-site page could post its own credentials to the login form and sign the
//! administrator's browser into the attacker's account. The form therefore carries a token that
//! must equal a `SameSite=Strict` cookie set with the form (double submit): a cross-site post
//! carries no Strict cookie.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use roster_core::admin::{self, KdfStrength};
use serde::Deserialize;

use super::{Layout, render};
use crate::AppState;
use crate::admin_auth::{self, clear_cookie, session_cookie, session_lifetime};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

/// The login limiters, one set per application (so that two servers in one process, as in the
/// tests, do not share counts). Made on first use, when the configured rate is known.
#[derive(Debug, Default)]
pub(super) struct LoginGuards {
    limits: OnceLock<LoginGuard>,
    /// A hash of a password nobody knows, verified when the username does not exist.
    dummy_hash: OnceLock<String>,
}

/// The layer that gives the console's handlers their [`LoginGuards`].
pub(super) fn login_guard_layer() -> Extension<Arc<LoginGuards>> {
    Extension(Arc::new(LoginGuards::default()))
}

#[derive(Debug)]
struct LoginGuard {
    by_client: DefaultKeyedRateLimiter<IpAddr>,
    by_user: DefaultKeyedRateLimiter<String>,
}

/// Keys kept before the limiters forget the ones that are back to a full burst.
const MAX_KEYS: usize = 10_000;

impl LoginGuards {
    fn get(&self, state: &AppState) -> &LoginGuard {
        self.limits.get_or_init(|| {
            let per_minute = NonZeroU32::new(state.admin_options().login_attempts_per_minute)
                .unwrap_or(NonZeroU32::MIN);
            let quota = Quota::per_minute(per_minute);
            LoginGuard {
                by_client: RateLimiter::keyed(quota),
                by_user: RateLimiter::keyed(quota),
            }
        })
    }

    /// Whether `password` matches `stored`, the account's hash, or (no account) the dummy
    /// hash, which is then a mismatch whatever it says. The dummy is made on the first
    /// attempt of all, whoever it is for, so that no attempt alone pays for making it.
    /// Blocking: argon2 is milliseconds of CPU.
    fn verify(&self, kdf: KdfStrength, stored: Option<&str>, password: &str) -> bool {
        let dummy = self.dummy_hash.get_or_init(|| {
            admin::hash_password("not the password of any account", kdf)
                .expect("hashing a fixed valid password succeeds")
        });
        match stored {
            Some(hash) => admin::verify_password(hash, password),
            None => {
                let _ = admin::verify_password(dummy, password);
                false
            }
        }
    }
}

impl LoginGuard {
    /// Counts an attempt from `client` for `username`: `Err(wait)` when either is over its
    /// limit. Both are counted, so spreading guesses over usernames or over addresses does not
    /// get around the other limit.
    fn attempt(&self, client: Option<IpAddr>, username: &str) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        let by_client = client.map_or(Ok(()), |ip| self.by_client.check_key(&client_key(ip)));
        let by_user = self.by_user.check_key(&username_key(username));
        if self.by_client.len() > MAX_KEYS {
            self.by_client.retain_recent();
        }
        if self.by_user.len() > MAX_KEYS {
            self.by_user.retain_recent();
        }
        match (by_client, by_user) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), _) | (_, Err(e)) => Err(e.wait_time_from(now)),
        }
    }
}

/// The key a client address is limited by. An IPv6 client usually holds a whole /64 (and can
/// pick any address in it for each request), so its limit is the /64's; an IPv4 address
/// mapped into IPv6 (a dual-stack listener) is the IPv4 address it stands for.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from_bits(
                v6.to_bits() & !u128::from(u64::MAX),
            )),
        },
    }
}

/// Usernames are case-insensitive, so is their limit; the key's length is capped so that
/// sprayed long names cannot grow the table's memory much.
fn username_key(username: &str) -> String {
    username
        .trim()
        .chars()
        .take(64)
        .collect::<String>()
        .to_lowercase()
}

// ---- the login CSRF cookie ----

fn login_cookie_name(state: &AppState) -> &'static str {
    if state.admin_options().secure_cookies {
        "__Host-roster_login"
    } else {
        "roster_login"
    }
}

fn login_cookie(state: &AppState, value: &str) -> HeaderValue {
    admin_auth::set_cookie(state, login_cookie_name(state), value, 86_400)
}

fn clear_login_cookie(state: &AppState) -> HeaderValue {
    admin_auth::set_cookie(state, login_cookie_name(state), "", 0)
}

/// The login CSRF token the request's cookie carries, if it is one we could have made.
fn login_token_from(state: &AppState, headers: &HeaderMap) -> Option<String> {
    admin_auth::read_cookie(headers, login_cookie_name(state))
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
}

/// A fresh login CSRF token: 256 random bits, from the same source as a session's CSRF token
/// (it is one, for the session that does not exist yet). `None` (logged) if the operating
/// system has no randomness to give.
fn new_login_token(state: &AppState) -> Option<String> {
    admin::new_session("", admin_auth::now(state), time::Duration::ZERO)
        .map(|(_, record)| record.csrf)
        .inspect_err(|e| tracing::error!(error = %e, "no randomness for a login token"))
        .ok()
}

/// Equal in constant time (for equal lengths), so the comparison leaks nothing of the cookie.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

// ---- pages ----

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    layout: Layout,
    /// No admin account exists: say how to make one instead of showing a form.
    no_accounts: bool,
    /// What went wrong, if anything.
    error: String,
    /// A neutral message (signed out, session ended).
    notice: String,
    username: String,
    next: String,
    login_csrf: String,
}

/// Where to go after signing in: `next` if it is a console path, the dashboard otherwise.
/// Only a path that starts with `/console` and has no second `/` or `\` at its start can be
/// followed, so `//evil.example`, `/\evil.example` and absolute URLs are ignored; it must be
/// plain ASCII without controls, as the request line it came from was.
fn safe_next(next: &str) -> &str {
    let console =
        next == "/console" || next.starts_with("/console/") || next.starts_with("/console?");
    let clean = next.is_ascii() && !next.bytes().any(|b| b.is_ascii_control() || b == b'\\');
    let loops = next.starts_with("/console/login") || next.starts_with("/console/logout");
    if console && clean && !loops {
        next
    } else {
        "/console/"
    }
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    signed_out: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = safe_next(&query.next).to_owned();
    if admin_auth::session(&state, &headers).await.is_some() {
        return Redirect::to(&next).into_response();
    }
    let no_accounts = match no_accounts(&state).await {
        Ok(none) => none,
        Err(response) => return response,
    };
    let (token, set) = match login_token_from(&state, &headers) {
        Some(token) => (token, false),
        None => match new_login_token(&state) {
            Some(token) => (token, true),
            None => return server_error(),
        },
    };
    let page = LoginPage {
        layout: Layout::anonymous(),
        no_accounts,
        error: String::new(),
        notice: if query.signed_out.is_some() {
            "You have signed out.".to_owned()
        } else {
            String::new()
        },
        username: String::new(),
        next,
        login_csrf: token.clone(),
    };
    let mut response = render(StatusCode::OK, &page);
    if set {
        response
            .headers_mut()
            .append(header::SET_COOKIE, login_cookie(&state, &token));
    }
    response
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    login_csrf: String,
}

/// Without the password: a `Debug` that reaches a log must not carry it.
impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .field("password", &"***")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

async fn login(
    State(state): State<AppState>,
    Extension(guards): Extension<Arc<LoginGuards>>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(&form.next).to_owned();
    let no_accounts = match no_accounts(&state).await {
        Ok(none) => none,
        Err(response) => return response,
    };
    // The page to answer with when the attempt fails; the form keeps the username.
    let again = |status: StatusCode, error: &str, token: String| {
        let page = LoginPage {
            layout: Layout::anonymous(),
            no_accounts,
            error: error.to_owned(),
            notice: String::new(),
            username: form.username.clone(),
            next: next.clone(),
            login_csrf: token,
        };
        render(status, &page)
    };

    let Some(cookie_token) =
        login_token_from(&state, &headers).filter(|t| same_token(t, &form.login_csrf))
    else {
        // No cookie (expired, blocked, or a cross-site post) or another form's token: a new
        // form, with a new token, and nothing checked.
        let Some(token) = new_login_token(&state) else {
            return server_error();
        };
        let mut response = again(
            StatusCode::FORBIDDEN,
            "This sign-in form has expired or was not sent from this site. Please sign in again.",
            token.clone(),
        );
        response
            .headers_mut()
            .append(header::SET_COOKIE, login_cookie(&state, &token));
        return response;
    };
    if no_accounts {
        return again(StatusCode::OK, "", cookie_token);
    }
    if form.username.trim().is_empty() || form.password.is_empty() {
        return again(
            StatusCode::BAD_REQUEST,
            "Enter your username and password.",
            cookie_token,
        );
    }

    let guard = guards.get(&state);
    let client_ip = state.client_ip(
        client.map(|Extension(ConnectInfo(addr))| addr.ip()),
        &headers,
    );
    if let Err(wait) = guard.attempt(client_ip, &form.username) {
        tracing::warn!(client = ?client_ip, "console login refused: too many attempts");
        let mut response = again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-in attempts. Wait a minute, then try again.",
            cookie_token,
        );
        let secs = wait.as_secs().max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return response;
    }

    let account = match state
        .store()
        .admin()
        .admin_account(form.username.trim())
        .await
    {
        Ok(account) => account,
        Err(e) => {
            tracing::error!(error = %e, "could not read an admin account");
            return server_error();
        }
    };
    let kdf = state.admin_options().kdf;
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let password = form.password.clone();
    let verifier = guards.clone();
    let matches =
        tokio::task::spawn_blocking(move || verifier.verify(kdf, stored.as_deref(), &password))
            .await
            .unwrap_or(false);
    let Some(account) = account.filter(|_| matches) else {
        tracing::info!(client = ?client_ip, "console login failed");
        return again(
            StatusCode::UNAUTHORIZED,
            "Incorrect username or password.",
            cookie_token,
        );
    };

    let now = admin_auth::now(&state);
    let Ok((cookie, session)) =
        admin::new_session(&account.username, now, session_lifetime(&state))
    else {
        return server_error();
    };
    if let Err(e) = state.store().admin().create_session(&session).await {
        tracing::error!(error = %e, "could not store a console session");
        return server_error();
    }
    // The session the browser held until now, if any, ends here rather than at its expiry:
    // the new cookie replaces it in this browser, and a copy of the old one (or one planted
    // before the login) must not stay signed in beside it.
    if let Some(old) = admin_auth::cookie_value(&state, &headers)
        && let Err(e) = state
            .store()
            .admin()
            .delete_session(&admin::session_hash(old))
            .await
    {
        tracing::warn!(error = %e, "could not end the session a login replaced");
    }
    if let Err(e) = state
        .store()
        .admin()
        .record_admin_login(&account.username, now)
        .await
    {
        // The session works; only the "last login" column is behind.
        tracing::warn!(error = %e, "could not record an admin login");
    }
    tracing::info!(username = %account.username, "console login");
    let mut response = Redirect::to(&next).into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, session_cookie(&state, cookie.expose()));
    h.append(header::SET_COOKIE, clear_login_cookie(&state));
    response
}

#[derive(Debug, Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Some(session) = admin_auth::session(&state, &headers).await else {
        // Nothing to end: the session had expired or was ended elsewhere.
        let mut response = Redirect::to("/console/login").into_response();
        response
            .headers_mut()
            .append(header::SET_COOKIE, clear_cookie(&state));
        return response;
    };
    let admin = super::Admin { session };
    if let Err(response) = admin.check_csrf(&form.csrf) {
        return response;
    }
    if let Err(e) = state
        .store()
        .admin()
        .delete_session(&admin.session.id_hash)
        .await
    {
        return admin.fail(e);
    }
    tracing::info!(username = %admin.username(), "console logout");
    let mut response = Redirect::to("/console/login?signed_out=1").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_cookie(&state));
    response
}

/// Whether no admin account exists yet (the login page then says how to make one).
async fn no_accounts(state: &AppState) -> Result<bool, Response> {
    match state.store().admin().admin_accounts().await {
        Ok(accounts) => Ok(accounts.is_empty()),
        Err(e) => {
            tracing::error!(error = %e, "could not read admin accounts");
            Err(server_error())
        }
    }
}

fn server_error() -> Response {
    super::error_page(
        Layout::anonymous(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Roster could not complete this request. The cause is in the server's log.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed() {
        for ok in [
            "/console",
            "/console/",
            "/console/connectors/okta?tab=1",
            "/console?x=1",
        ] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/console/",
            "/console/\\evil",
            "/console/login",
            "/console/logout",
            "/consolex",
            "/console/\r\nSet-Cookie: x=1",
            "/console/é",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(bad), "/console/", "{bad:?}");
        }
    }

    #[test]
    fn the_login_form_does_not_print_its_password() {
        let form = LoginForm {
            username: "alice".into(),
            password: "hunter2-secret".into(),
            next: String::new(),
            login_csrf: "c".into(),
        };
        assert!(!format!("{form:?}").contains("hunter2"));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abcd", "abcd"));
        assert!(!same_token("abcd", "abce"));
        assert!(!same_token("abcd", "abc"));
        assert!(!same_token("", "a"));
    }

    #[test]
    fn usernames_share_a_limit_whatever_their_case() {
        assert_eq!(username_key(" Alice "), "alice");
        assert_eq!(username_key(&"x".repeat(1000)).len(), 64);
    }

    #[test]
    fn an_unknown_user_never_matches_not_even_the_dummy_password() {
        let guards = LoginGuards::default();
        let fast = KdfStrength::Fast;
        assert!(!guards.verify(fast, None, "not the password of any account"));
        assert!(guards.dummy_hash.get().is_some());
        let real = admin::hash_password("correct horse battery", fast).unwrap();
        assert!(guards.verify(fast, Some(&real), "correct horse battery"));
        assert!(!guards.verify(fast, Some(&real), "correct horse battery!"));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64_and_mapped_ipv4_as_ipv4() {
        let quota = Quota::per_minute(NonZeroU32::new(2).unwrap());
        let guard = LoginGuard {
            by_client: RateLimiter::keyed(quota),
            by_user: RateLimiter::keyed(quota),
        };
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        guard.attempt(Some(a), "u1").unwrap();
        guard.attempt(Some(b), "u2").unwrap();
        // Another address of the same /64, for yet another username: the /64 is spent.
        let c: IpAddr = "2001:db8:1:2::3".parse().unwrap();
        assert!(guard.attempt(Some(c), "u3").is_err());
        // Another /64 is not.
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        guard.attempt(Some(other), "u4").unwrap();

        let v4: IpAddr = [192, 0, 2, 7].into();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), v4);
        assert_eq!(client_key(v4), v4);
    }

    #[test]
    fn the_limit_counts_per_user_and_per_client() {
        let quota = Quota::per_minute(NonZeroU32::new(3).unwrap());
        let guard = LoginGuard {
            by_client: RateLimiter::keyed(quota),
            by_user: RateLimiter::keyed(quota),
        };
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            guard.attempt(Some(a), "alice").unwrap();
        }
        // Alice's limit holds from another address, and with another spelling.
        assert!(guard.attempt(Some(b), "ALICE").is_err());
        // Address a is spent whatever the username.
        assert!(guard.attempt(Some(a), "bob").is_err());
        // Without an address, only the username counts.
        guard.attempt(None, "carol").unwrap();
    }
}
