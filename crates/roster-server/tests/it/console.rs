//! The admin console over real HTTP: signing in and out, login limits, the dashboard,
//! connectors and their tokens, API tokens, CSRF, and the headers every page carries.
//!
//! Cookies are handled by hand (no cookie jar), so each test sees exactly which cookies the
//! server sets and with which attributes; redirects are not followed, so each test sees them.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{self, HeaderMap};
use roster_core::admin::{ApiScope, KdfStrength};
use roster_core::clock::{SystemClock, UuidIds};
use roster_core::idp_view::{IdpView, Limits};
use roster_core::{Authenticator, Clock, Store};
use roster_server::{AdminOptions, AppState, HttpLimits};
use tokio::sync::oneshot;

use crate::common::TestServer;

const ADMIN: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";

/// A client that follows no redirects and keeps no cookies.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// An answer, read whole.
#[derive(Debug)]
struct Page {
    status: u16,
    headers: HeaderMap,
    html: String,
}

impl Page {
    async fn from(rb: reqwest::RequestBuilder) -> Self {
        let r = rb.send().await.expect("send");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let html = r.text().await.expect("body");
        Self {
            status,
            headers,
            html,
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn location(&self) -> &str {
        self.header("location")
    }

    /// Every `Set-Cookie` line.
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ascii cookie").to_owned())
            .collect()
    }

    /// The `Set-Cookie` line whose cookie name ends with `suffix`.
    fn set_cookie(&self, suffix: &str) -> Option<String> {
        self.set_cookies().into_iter().find(|c| {
            c.split_once('=')
                .is_some_and(|(name, _)| name.ends_with(suffix))
        })
    }

    /// The value of the first `name="…"` attribute `value="…"` pair in the page.
    fn hidden(&self, name: &str) -> String {
        attribute_after(&self.html, &format!("name=\"{name}\" value=\""))
            .unwrap_or_else(|| panic!("no field {name} in {}", self.html))
    }

    /// The text of the element with `id`.
    fn text_of(&self, id: &str) -> String {
        let start = self
            .html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id} in {}", self.html));
        let rest = &self.html[start..];
        let open = rest.find('>').expect("tag end") + 1;
        let close = rest[open..].find('<').expect("text end");
        rest[open..open + close].trim().to_owned()
    }

    fn has(&self, id: &str) -> bool {
        self.html.contains(&format!("id=\"{id}\""))
    }
}

fn attribute_after(html: &str, prefix: &str) -> Option<String> {
    let start = html.find(prefix)? + prefix.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// `name=value` of a `Set-Cookie` line, as a `Cookie` header sends it back.
fn pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .expect("a cookie pair")
        .to_owned()
}

/// A console user agent: a base URL, the client and the cookies it holds.
#[derive(Debug, Clone)]
struct Console {
    url: String,
    client: reqwest::Client,
    cookies: Vec<String>,
}

impl Console {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            client: client(),
            cookies: Vec::new(),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.client.request(method, format!("{}{path}", self.url));
        if self.cookies.is_empty() {
            rb
        } else {
            rb.header(header::COOKIE, self.cookies.join("; "))
        }
    }

    async fn get(&self, path: &str) -> Page {
        Page::from(self.request(Method::GET, path)).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        Page::from(
            self.request(Method::POST, path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }

    /// Keeps the cookie a page set (replacing one of the same name).
    fn keep(&mut self, set_cookie: &str) {
        let p = pair(set_cookie);
        let name = p.split('=').next().expect("name").to_owned();
        self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
        self.cookies.push(p);
    }

    /// Opens the login page (keeping its form cookie) and posts these credentials.
    async fn try_login(&mut self, username: &str, password: &str, next: &str) -> Page {
        let form = self.get("/console/login").await;
        assert_eq!(form.status, 200, "{}", form.html);
        if let Some(c) = form.set_cookie("roster_login") {
            self.keep(&c);
        }
        let token = form.hidden("login_csrf");
        self.post(
            "/console/login",
            &[
                ("username", username),
                ("password", password),
                ("next", next),
                ("login_csrf", &token),
            ],
        )
        .await
    }

    /// Signs in, or fails the test.
    async fn login(&mut self, username: &str, password: &str) {
        let r = self.try_login(username, password, "").await;
        assert_eq!(r.status, 303, "{}", r.html);
        let cookie = r
            .set_cookie("roster_session")
            .unwrap_or_else(|| panic!("no session cookie in {:?}", r.set_cookies()));
        self.keep(&cookie);
    }

    /// The session's CSRF token, from a page's `<meta name="csrf">`.
    async fn csrf(&self) -> String {
        let page = self.get("/console/").await;
        assert_eq!(page.status, 200, "{}", page.html);
        attribute_after(&page.html, "<meta name=\"csrf\" content=\"").expect("csrf meta")
    }
}

async fn signed_in(server: &TestServer) -> Console {
    server.admin_account(ADMIN, PASSWORD).await;
    let mut console = Console::new(&server.url);
    console.login(ADMIN, PASSWORD).await;
    console
}

// ---- signing in ----

#[tokio::test]
async fn pages_without_a_session_go_to_the_login_page_and_back() {
    let server = TestServer::start().await;
    server.admin_account(ADMIN, PASSWORD).await;
    let mut console = Console::new(&server.url);

    let root = console.get("/").await;
    assert_eq!((root.status, root.location()), (303, "/console/"));
    let r = console.get("/console/connectors/okta?x=1").await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.location(),
        "/console/login?next=%2Fconsole%2Fconnectors%2Fokta%3Fx%3D1"
    );

    // A form posted without a session is not replayed after the login.
    let post = console
        .post("/console/connectors/okta/disable", &[("csrf", "x")])
        .await;
    assert_eq!((post.status, post.location()), (303, "/console/login"));

    let login = console.get(r.location()).await;
    assert_eq!(login.hidden("next"), "/console/connectors/okta?x=1");
    let done = console
        .try_login(ADMIN, PASSWORD, "/console/connectors/okta?x=1")
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(done.location(), "/console/connectors/okta?x=1");
}

#[tokio::test]
async fn without_any_account_the_login_page_says_how_to_make_one() {
    let server = TestServer::start().await;
    let page = Console::new(&server.url).get("/console/login").await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("roster admin create"), "{}", page.html);
    assert!(!page.has("login"), "no form that cannot work");
}

#[tokio::test]
async fn a_wrong_password_or_an_unknown_user_gets_the_same_answer_and_no_session() {
    let server = TestServer::start().await;
    server.admin_account(ADMIN, PASSWORD).await;
    let mut console = Console::new(&server.url);
    let wrong = console.try_login(ADMIN, "not the password!", "").await;
    let unknown = console.try_login("mallory", PASSWORD, "").await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status, 401, "{}", r.html);
        assert_eq!(r.text_of("login-error"), "Incorrect username or password.");
        assert!(r.set_cookie("roster_session").is_none());
        assert!(r.has("login"), "the form is shown again");
    }
    // The username is kept in the form; the password is not.
    assert!(wrong.html.contains("value=\"alice\""));
    assert!(!wrong.html.contains("not the password!"));
    // Still signed out.
    assert_eq!(console.get("/console/").await.status, 303);
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_host_cookie_and_records_the_login() {
    let server = TestServer::start().await;
    server.admin_account(ADMIN, PASSWORD).await;
    let mut console = Console::new(&server.url);
    let r = console.try_login("ALICE", PASSWORD, "").await;
    assert_eq!((r.status, r.location()), (303, "/console/"), "{}", r.html);
    // The harness's server has Secure cookies (the default), hence the __Host- name.
    let cookie = r.set_cookie("roster_session").expect("session cookie");
    assert!(cookie.starts_with("__Host-roster_session="), "{cookie}");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Secure",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    // The login form's cookie is cleared.
    let login_cookie = r.set_cookie("roster_login").expect("login cookie cleared");
    assert!(login_cookie.contains("Max-Age=0"), "{login_cookie}");

    console.keep(&cookie);
    let dashboard = console.get("/console/").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.html);
    // The account's own spelling, whatever was typed.
    assert_eq!(dashboard.text_of("signed-in-as"), "alice");
    let account = server
        .store
        .admin()
        .admin_account(ADMIN)
        .await
        .unwrap()
        .unwrap();
    assert!(account.last_login_at.is_some());
}

/// A server built here rather than by the harness, to choose its public URL and admin options.
struct Custom {
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
}

impl Drop for Custom {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn custom(
    public_url: Option<&str>,
    options: impl FnOnce(AdminOptions) -> AdminOptions,
) -> Custom {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = roster_store::open(&format!(
        "sqlite://{}",
        dir.path().join("roster.db").display()
    ))
    .await
    .expect("store");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let view = IdpView::new(
        store.clone(),
        clock.clone(),
        Arc::new(UuidIds),
        Limits::default(),
    );
    let auth = Arc::new(Authenticator::new(store.clone(), clock));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(
        view,
        auth,
        public_url.unwrap_or(&url),
        HttpLimits::default(),
    );
    let admin = options(state.admin_options());
    let state = state.with_admin_options(admin);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(roster_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    let account = roster_core::admin::AdminAccount {
        username: ADMIN.to_owned(),
        password_hash: roster_core::admin::hash_password(PASSWORD, KdfStrength::Fast).unwrap(),
        created_at: time::OffsetDateTime::now_utc(),
        last_login_at: None,
    };
    store.admin().create_admin(&account).await.unwrap();
    Custom {
        url,
        shutdown: Some(tx),
        _dir: dir,
        store,
    }
}

#[tokio::test]
async fn cookies_are_secure_exactly_when_the_public_url_is_https() {
    let fast = |o: AdminOptions| AdminOptions {
        kdf: KdfStrength::Fast,
        ..o
    };
    // Served over plain HTTP here, but announced as https: what counts is the public URL.
    let https = custom(Some("https://roster.example"), fast).await;
    let mut console = Console::new(&https.url);
    let r = console.try_login(ADMIN, PASSWORD, "").await;
    let cookie = r.set_cookie("roster_session").expect("cookie");
    assert!(cookie.starts_with("__Host-roster_session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");

    let http = custom(None, fast).await;
    let mut console = Console::new(&http.url);
    let r = console.try_login(ADMIN, PASSWORD, "").await;
    let cookie = r.set_cookie("roster_session").expect("cookie");
    assert!(cookie.starts_with("roster_session="), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    console.keep(&cookie);
    assert_eq!(console.get("/console/").await.status, 200);
}

#[tokio::test]
async fn failed_logins_are_limited_per_username_and_per_address() {
    let server = custom(None, |o| AdminOptions {
        kdf: KdfStrength::Fast,
        login_attempts_per_minute: 3,
        ..o
    })
    .await;
    let mut console = Console::new(&server.url);
    for _ in 0..3 {
        let r = console.try_login(ADMIN, "wrong password!", "").await;
        assert_eq!(r.status, 401, "{}", r.html);
    }
    // The right password no longer helps: it is not even checked.
    let limited = console.try_login(ADMIN, PASSWORD, "").await;
    assert_eq!(limited.status, 429, "{}", limited.html);
    assert!(limited.text_of("login-error").contains("Too many"));
    assert!(limited.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert!(limited.set_cookie("roster_session").is_none());
    // This address is spent too, whatever the username.
    let other = console.try_login("bob", "whatever password", "").await;
    assert_eq!(other.status, 429, "{}", other.html);
    assert!(
        server
            .store
            .admin()
            .admin_account(ADMIN)
            .await
            .unwrap()
            .unwrap()
            .last_login_at
            .is_none()
    );
}

#[tokio::test]
async fn next_is_followed_only_within_the_console() {
    let server = TestServer::start().await;
    server.admin_account(ADMIN, PASSWORD).await;
    for (next, want) in [
        ("//evil.example", "/console/"),
        ("https://evil.example/console/", "/console/"),
        ("/\\evil.example", "/console/"),
        ("/console/api-tokens", "/console/api-tokens"),
    ] {
        let mut console = Console::new(&server.url);
        let r = console.try_login(ADMIN, PASSWORD, next).await;
        assert_eq!((r.status, r.location()), (303, want), "{next}");
    }
    // The login page does not even put it in its form.
    let page = Console::new(&server.url)
        .get("/console/login?next=%2F%2Fevil.example")
        .await;
    assert_eq!(page.hidden("next"), "/console/");
}

#[tokio::test]
async fn a_login_post_without_the_forms_cookie_is_refused_unchecked() {
    let server = TestServer::start().await;
    server.admin_account(ADMIN, PASSWORD).await;
    let console = Console::new(&server.url);
    // A cross-site form: no SameSite=Strict cookie comes with it.
    let r = console
        .post(
            "/console/login",
            &[
                ("username", ADMIN),
                ("password", PASSWORD),
                ("login_csrf", &"a".repeat(64)),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.html);
    assert!(r.set_cookie("roster_session").is_none());
    // It gets a fresh form that works.
    assert!(r.set_cookie("roster_login").is_some());
}

#[tokio::test]
async fn logout_ends_the_session_in_the_store() {
    let server = TestServer::start().await;
    let console = signed_in(&server).await;
    let csrf = console.csrf().await;

    let forged = console.post("/console/logout", &[("csrf", "forged")]).await;
    assert_eq!(forged.status, 403);
    assert_eq!(
        console.get("/console/").await.status,
        200,
        "still signed in"
    );

    let r = console.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (r.status, r.location()),
        (303, "/console/login?signed_out=1")
    );
    let cleared = r.set_cookie("roster_session").expect("cleared cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie, replayed, opens nothing.
    let after = console.get("/console/").await;
    assert_eq!(after.status, 303);
    assert!(after.location().starts_with("/console/login"));
}

// ---- the dashboard and connectors ----

#[tokio::test]
async fn the_dashboard_explains_connectors_before_there_are_any() {
    let server = TestServer::start().await;
    let console = signed_in(&server).await;
    let page = console.get("/console/").await;
    assert!(page.has("no-connectors"), "{}", page.html);
    assert!(page.html.contains("href=\"/console/connectors/new\""));
}

#[tokio::test]
async fn the_dashboard_shows_what_the_idp_provisioned() {
    let server = TestServer::start().await;
    let entra = server.connector("entra").await;
    server.create_connector("okta").await;
    server
        .store
        .set_connector_enabled("okta", false)
        .await
        .unwrap();
    let a = entra.create_user("a@example.com").await;
    let b = entra.create_user("b@example.com").await;
    entra.create_group("Engineering", &[&a, &b]).await;
    let console = signed_in(&server).await;

    let page = console.get("/console/").await;
    assert_eq!(page.status, 200);
    assert!(page.has("connectors"), "{}", page.html);
    let entra_row = row(&page.html, "connector-entra");
    assert!(entra_row.contains("Test entra"), "{entra_row}");
    assert!(entra_row.contains(">Enabled<"), "{entra_row}");
    assert!(
        entra_row.contains("<td class=\"num users\">2</td>"),
        "{entra_row}"
    );
    assert!(
        entra_row.contains("<td class=\"num groups\">1</td>"),
        "{entra_row}"
    );
    let okta = row(&page.html, "connector-okta");
    assert!(okta.contains(">Disabled<"), "{okta}");
    assert!(okta.contains("<td class=\"num users\">0</td>"), "{okta}");
    assert_eq!(page.text_of("total-users"), "2");

    // A failed request reaches the dashboard once the request log has written it.
    entra.get("/Users/does-not-exist").await;
    let mut seen = false;
    for _ in 0..50 {
        let page = console.get("/console/").await;
        let now = row(&page.html, "connector-entra");
        if now.contains("/console/connectors/entra/log?status=failed") {
            assert!(now.contains("1 failed"), "{now}");
            assert!(now.contains("<time"), "last activity shown: {now}");
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the failed request never showed on the dashboard");
}

/// The `<tr>` with this id.
fn row(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("<tr id=\"{id}\""))
        .unwrap_or_else(|| panic!("no row {id} in {html}"));
    let end = html[start..].find("</tr>").expect("row end");
    html[start..start + end].to_owned()
}

#[tokio::test]
async fn a_new_connector_shows_its_token_once_and_the_token_works() {
    let server = TestServer::start().await;
    let console = signed_in(&server).await;
    let form = console.get("/console/connectors/new").await;
    assert!(form.has("new-connector"));
    let csrf = form.hidden("csrf");

    let r = console
        .post(
            "/console/connectors/new",
            &[("csrf", &csrf), ("name", "Okta (production)"), ("id", "")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.html);
    assert!(r.header("cache-control").contains("no-store"));
    let base_url = r.text_of("scim-base-url");
    let token = r.text_of("scim-token");
    assert_eq!(base_url, format!("{}/scim/v2/okta-production", server.url));
    assert!(token.starts_with("roster_"), "{token}");
    assert!(r.has("token-warning") && r.has("setup-entra") && r.has("setup-okta"));
    assert!(r.html.contains("Tenant URL") && r.html.contains("Provision on demand"));

    let scim = server.conn("okta-production", &token);
    let users = scim
        .get("/Users?filter=userName%20eq%20%22nobody%40example.com%22")
        .await;
    assert_eq!(users.status, 200, "{}", users.text);
    assert_eq!(users.body["totalResults"], 0);

    // The connector's page lists the token, never shows it again.
    let page = console.get("/console/connectors/okta-production").await;
    assert_eq!(page.status, 200);
    assert!(!page.html.contains(&token));
    assert_eq!(page.text_of("scim-base-url"), base_url);
    assert!(page.has("tokens"));
    assert!(page.html.contains("created with the connector"));
}

#[tokio::test]
async fn bad_connector_forms_are_explained_not_failed() {
    let server = TestServer::start().await;
    server.create_connector("entra").await;
    let console = signed_in(&server).await;
    let csrf = console.csrf().await;
    for (name, id, status, says) in [
        ("", "", 400, "Give the connector a name"),
        ("Entra", "Bad_Id", 400, "invalid connector id"),
        ("Entra", "internal", 400, "reserved"),
        ("Entra", "new", 400, "taken by the console"),
        ("Entra again", "entra", 409, "already exists"),
    ] {
        let r = console
            .post(
                "/console/connectors/new",
                &[("csrf", &csrf), ("name", name), ("id", id)],
            )
            .await;
        assert_eq!(r.status, status, "{name}/{id}: {}", r.html);
        assert!(r.text_of("form-error").contains(says), "{}", r.html);
        // The form comes back filled in.
        assert!(r.has("new-connector"));
    }
    assert_eq!(server.store.connectors().await.unwrap().len(), 1);
}

#[tokio::test]
async fn forged_forms_change_nothing() {
    let server = TestServer::start().await;
    server.connector("entra").await;
    let console = signed_in(&server).await;
    let tokens_before = server.store.tokens("entra").await.unwrap();
    let revoke = format!(
        "/console/connectors/entra/tokens/{}/revoke",
        tokens_before[0].id
    );
    for csrf in [None, Some("0".repeat(64))] {
        let with = |mut fields: Vec<(&'static str, String)>| {
            if let Some(c) = &csrf {
                fields.push(("csrf", c.clone()));
            }
            fields
        };
        let attempts = [
            (
                "/console/connectors/new",
                with(vec![("name", "Evil".to_owned())]),
            ),
            ("/console/connectors/entra/disable", with(vec![])),
            (
                "/console/connectors/entra/delete",
                with(vec![("confirm", "entra".to_owned())]),
            ),
            ("/console/connectors/entra/tokens", with(vec![])),
            (revoke.as_str(), with(vec![])),
            (
                "/console/api-tokens",
                with(vec![("scope", "admin".to_owned())]),
            ),
        ];
        for (path, fields) in attempts {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = console.post(path, &fields).await;
            assert_eq!(r.status, 403, "{path}: {}", r.html);
            assert!(r.html.contains("Nothing was changed"), "{}", r.html);
        }
    }
    let connectors = server.store.connectors().await.unwrap();
    assert_eq!(connectors.len(), 1);
    assert!(connectors[0].enabled);
    assert_eq!(server.store.tokens("entra").await.unwrap(), tokens_before);
    assert!(server.store.admin().api_tokens().await.unwrap().is_empty());
}

#[tokio::test]
async fn tokens_are_added_listed_and_revoked() {
    let server = TestServer::start().await;
    let old = server.connector("entra").await;
    let console = signed_in(&server).await;
    let csrf = console.csrf().await;

    let bad = console
        .post(
            "/console/connectors/entra/tokens",
            &[("csrf", &csrf), ("expires_in_days", "0")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.html);
    assert!(bad.text_of("token-error").contains("whole number of days"));

    let r = console
        .post(
            "/console/connectors/entra/tokens",
            &[
                ("csrf", &csrf),
                ("description", "rotation <2027>"),
                ("expires_in_days", "30"),
            ],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.html);
    assert!(r.header("cache-control").contains("no-store"));
    let token = r.text_of("scim-token");
    let new = server.conn("entra", &token);
    assert_eq!(new.get("/Users").await.status, 200);

    let page = console.get("/console/connectors/entra").await;
    assert!(
        page.html.contains("rotation &#60;2027&#62;")
            || page.html.contains("rotation &lt;2027&gt;"),
        "escaped: {}",
        page.html
    );
    let tokens = server.store.tokens("entra").await.unwrap();
    assert_eq!(tokens.len(), 2);
    let added = tokens
        .iter()
        .find(|t| t.description == "rotation <2027>")
        .unwrap();
    assert!(added.expires_at.is_some());
    let first = tokens.iter().find(|t| t.id != added.id).unwrap();
    assert!(page.has(&format!("token-{}", first.id)));

    let r = console
        .post(
            &format!("/console/connectors/entra/tokens/{}/revoke", first.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.html);
    assert_eq!(r.location(), "/console/connectors/entra?done=revoked");
    let left = server.store.tokens("entra").await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, added.id);
    // The authenticator may trust what it read for a second.
    let mut refused = false;
    for _ in 0..30 {
        if old.get("/Users").await.status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the revoked token still opens the connector");

    let again = console
        .post(
            &format!("/console/connectors/entra/tokens/{}/revoke", first.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn connectors_are_disabled_enabled_and_deleted_after_confirmation() {
    let server = TestServer::start().await;
    let entra = server.connector("entra").await;
    entra.create_user("a@example.com").await;
    let console = signed_in(&server).await;
    let csrf = console.csrf().await;

    let r = console
        .post("/console/connectors/entra/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(
        (r.status, r.location()),
        (303, "/console/connectors/entra?done=disabled")
    );
    assert!(
        !server
            .store
            .connector("entra")
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    let page = console.get(r.location()).await;
    assert!(page.has("disabled-warning") && page.has("enable-connector"));
    let r = console
        .post("/console/connectors/entra/enable", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303);
    assert!(
        server
            .store
            .connector("entra")
            .await
            .unwrap()
            .unwrap()
            .enabled
    );

    let confirm = console.get("/console/connectors/entra/delete").await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.has("delete-summary") && confirm.has("confirm-id"));
    assert!(
        confirm.html.contains("<strong>1</strong> user"),
        "{}",
        confirm.html
    );
    let wrong = console
        .post(
            "/console/connectors/entra/delete",
            &[("csrf", &csrf), ("confirm", "okta")],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(server.store.connector("entra").await.unwrap().is_some());

    let r = console
        .post(
            "/console/connectors/entra/delete",
            &[("csrf", &csrf), ("confirm", "entra")],
        )
        .await;
    assert_eq!((r.status, r.location()), (303, "/console/?deleted=entra"));
    assert!(server.store.connector("entra").await.unwrap().is_none());
    let dashboard = console.get(r.location()).await;
    assert!(dashboard.has("notice"));
    assert_eq!(console.get("/console/connectors/entra").await.status, 404);
}

#[tokio::test]
async fn api_tokens_are_made_with_a_scope_and_revoked() {
    let server = TestServer::start().await;
    let console = signed_in(&server).await;
    let csrf = console.csrf().await;
    let bad = console
        .post("/console/api-tokens", &[("csrf", &csrf), ("scope", "root")])
        .await;
    assert_eq!(bad.status, 400);
    assert!(server.store.admin().api_tokens().await.unwrap().is_empty());

    let r = console
        .post(
            "/console/api-tokens",
            &[
                ("csrf", &csrf),
                ("scope", "app"),
                ("description", "jira"),
                ("expires_in_days", "7"),
            ],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.html);
    assert!(r.header("cache-control").contains("no-store"));
    let token = r.text_of("api-token");
    assert!(token.starts_with("roster_app_"), "{token}");
    let stored = server.store.admin().api_tokens().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].scope, ApiScope::App);
    assert_eq!(stored[0].created_by, "admin:alice");
    assert!(token.contains(&stored[0].id));

    let list = console.get("/console/api-tokens").await;
    assert!(list.has(&format!("api-token-{}", stored[0].id)));
    assert!(!list.html.contains(&token), "shown once");

    let r = console
        .post(
            &format!("/console/api-tokens/{}/revoke", stored[0].id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        (r.status, r.location()),
        (303, "/console/api-tokens?done=revoked")
    );
    assert!(server.store.admin().api_tokens().await.unwrap().is_empty());
}

// ---- headers and static files ----

#[tokio::test]
async fn console_answers_carry_security_headers() {
    let server = TestServer::start().await;
    let console = signed_in(&server).await;
    for path in ["/console/login", "/console/", "/console/no-such-page"] {
        let r = console.get(path).await;
        let csp = r.header("content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(r.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(r.header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{path}");
        assert!(r.header("cache-control").contains("no-store"), "{path}");
    }
    let missing = console.get("/console/no-such-page").await;
    assert_eq!(missing.status, 404);
    assert!(missing.header("content-type").starts_with("text/html"));
    // No inline script anywhere: the CSP would block it.
    let page = console.get("/console/connectors/new").await;
    assert!(!page.html.contains("<script>"));
    assert!(!page.html.contains("style=\""));
}

#[tokio::test]
async fn static_files_are_served_with_long_lived_cache_headers() {
    let server = TestServer::start().await;
    let console = Console::new(&server.url);
    let login = console.get("/console/login").await;
    let css_url = attribute_after(&login.html, "<link rel=\"stylesheet\" href=\"").unwrap();
    assert!(
        css_url.starts_with("/console/static/console.css?v="),
        "{css_url}"
    );
    let css = console.get(&css_url).await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.header("cache-control").contains("immutable"));
    let etag = css.header("etag").to_owned();
    let revalidated = Page::from(
        console
            .request(Method::GET, "/console/static/console.css")
            .header(header::IF_NONE_MATCH, &etag),
    )
    .await;
    assert_eq!(revalidated.status, 304);
    let js = console.get("/console/static/console.js").await;
    assert!(js.header("content-type").starts_with("text/javascript"));
    assert!(js.html.contains("data-copy"));
    assert_eq!(console.get("/console/static/nope.js").await.status, 404);
}

#[tokio::test]
async fn signing_in_again_ends_the_session_the_browser_held() {
    let server = TestServer::start().await;
    let old = signed_in(&server).await;
    let old_session: Vec<String> = old
        .cookies
        .iter()
        .filter(|c| c.contains("roster_session="))
        .cloned()
        .collect();
    assert_eq!(old_session.len(), 1, "{:?}", old.cookies);

    // The same browser signs in again: it fetches the form (here without its session, which
    // would be sent back to the dashboard), then posts it with the session cookie it holds.
    let mut again = Console::new(&server.url);
    let form = again.get("/console/login").await;
    again.keep(&form.set_cookie("roster_login").expect("the form's cookie"));
    let token = form.hidden("login_csrf");
    again.cookies.extend(old_session.iter().cloned());
    let r = again
        .post(
            "/console/login",
            &[
                ("username", ADMIN),
                ("password", PASSWORD),
                ("next", ""),
                ("login_csrf", &token),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.html);
    let new = r.set_cookie("roster_session").expect("a new session");
    assert_ne!(pair(&new), old_session[0], "a new session id");

    // The session it replaced opens nothing any more; the new one works.
    let replayed = old.get("/console/").await;
    assert_eq!(replayed.status, 303);
    assert!(replayed.location().starts_with("/console/login"));
    again.keep(&new);
    assert_eq!(again.get("/console/").await.status, 200);
}
