//! The harness every module of this test binary shares: a real server on `127.0.0.1:0` over a
//! real SQLite store in a temporary directory, connectors with bearer tokens made through the
//! store, and request builders that speak SCIM to it.
//!
//! ```ignore
//! let server = TestServer::start().await;
//! let entra = server.connector("entra").await;
//! let created = entra.post("/Users", &json!({"userName": "a@b.c"})).await;
//! assert_eq!(created.status, 201);
//! ```

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{self, HeaderMap};
use roster_core::admin::{self, AdminAccount, ApiScope, KdfStrength};
use roster_core::clock::{SystemClock, UuidIds};
use roster_core::connector::Connector;
use roster_core::idp_view::{IdpView, Limits};
use roster_core::store::{
    AdminStore, DirectoryStore, Load, NewResource, ResourceKind, ResourcePage, ResourceQuery,
    Store, StoreError, StoredResource, Update, Updated, WriteContext,
};
use roster_core::token::{self, TokenRecord};
use roster_core::{Authenticator, Clock};
use roster_server::{AdminOptions, AppState, HttpLimits, OpsOptions};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// The error body's schema URN (RFC 7644 §3.12).
pub(crate) const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The ListResponse URN (RFC 7644 §3.4.2).
pub(crate) const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The PatchOp URN (RFC 7644 §3.5.2).
pub(crate) const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The BulkRequest URN (RFC 7644 §3.7).
pub(crate) const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Body size and request timeout.
    pub(crate) http: HttpLimits,
    /// Page sizes and bulk limits.
    pub(crate) limits: Limits,
    /// Resource ids that make the store misbehave (see [`Faults`]).
    pub(crate) faults: Faults,
    /// Metrics and the request log.
    pub(crate) ops: OpsOptions,
}

/// A running server and what tests need to talk to it.
#[derive(Debug)]
pub(crate) struct TestServer {
    /// `http://127.0.0.1:{port}`: also the public URL it was given.
    pub(crate) url: String,
    /// The store underneath, for arranging and checking state directly.
    pub(crate) store: Arc<dyn Store>,
    /// One client for every request.
    pub(crate) client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with the default limits.
    pub(crate) async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// A server with these options.
    pub(crate) async fn start_with(options: Options) -> Self {
        logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("roster.db").display());
        let real = roster_store::open(&url)
            .await
            .expect("open the SQLite store");
        let store: Arc<dyn Store> = Arc::new(FaultyStore {
            inner: real,
            faults: options.faults.clone(),
        });
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let view = IdpView::new(
            store.clone(),
            clock.clone(),
            Arc::new(UuidIds),
            options.limits,
        );
        let authenticator = Arc::new(Authenticator::new(store.clone(), clock));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let url = format!("http://{addr}");
        // Cheap password hashes (debug builds would spend seconds on each); plain-HTTP cookies.
        let state = AppState::new(view, authenticator, url.clone(), options.http)
            .with_admin_options(AdminOptions {
                kdf: KdfStrength::Fast,
                ..AdminOptions::default()
            })
            .with_ops_options(options.ops);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(roster_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        Self {
            url,
            store,
            client: http_client(),
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Creates an enabled connector with one token that never expires.
    pub(crate) async fn connector(&self, id: &str) -> Conn {
        self.create_connector(id).await;
        let token = self.add_token(id, None).await;
        self.conn(id, &token)
    }

    /// Creates an enabled connector with no token.
    pub(crate) async fn create_connector(&self, id: &str) {
        let connector = Connector {
            id: id.to_owned(),
            name: format!("Test {id}"),
            enabled: true,
            created_at: OffsetDateTime::now_utc(),
        };
        self.store
            .create_connector(&connector)
            .await
            .expect("create connector");
    }

    /// Adds a token to a connector and returns it in clear text.
    pub(crate) async fn add_token(
        &self,
        connector_id: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> String {
        let (secret, record): (token::Secret, TokenRecord) =
            token::generate(connector_id, "test", OffsetDateTime::now_utc(), expires_at)
                .expect("generate token");
        self.store.add_token(&record).await.expect("store token");
        secret.expose().to_owned()
    }

    /// Creates an admin account with a cheap hash.
    pub(crate) async fn admin_account(&self, username: &str, password: &str) {
        let account = AdminAccount {
            username: username.to_owned(),
            password_hash: admin::hash_password(password, KdfStrength::Fast)
                .expect("hash password"),
            created_at: OffsetDateTime::now_utc(),
            last_login_at: None,
        };
        self.store
            .admin()
            .create_admin(&account)
            .await
            .expect("create admin account");
    }

    /// Makes an API token of `scope` and returns it in clear text.
    pub(crate) async fn api_token(&self, scope: ApiScope) -> String {
        let (secret, record) =
            admin::generate_api_token(scope, "test", "cli", OffsetDateTime::now_utc(), None)
                .expect("generate API token");
        self.store
            .admin()
            .add_api_token(&record)
            .await
            .expect("store API token");
        secret.expose().to_owned()
    }

    /// A handle on connector `id`'s endpoints that presents `token`.
    pub(crate) fn conn(&self, id: &str, token: &str) -> Conn {
        Conn {
            id: id.to_owned(),
            base: format!("{}/scim/v2/{id}", self.url),
            authorization: Some(format!("Bearer {token}")),
            client: self.client.clone(),
        }
    }

    /// A handle on connector `id`'s endpoints that sends no `Authorization` header.
    pub(crate) fn anonymous(&self, id: &str) -> Conn {
        Conn {
            id: id.to_owned(),
            base: format!("{}/scim/v2/{id}", self.url),
            authorization: None,
            client: self.client.clone(),
        }
    }

    /// A request to any path of the server, without authentication.
    pub(crate) fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// Sends the shutdown signal without waiting.
    pub(crate) fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for `serve` to return.
    pub(crate) async fn join(&mut self) -> std::io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.expect("the server task panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.signal_shutdown();
    }
}

/// A reqwest client for the test server. It installs rustls' ring provider first: under
/// `cargo test --workspace` reqwest is built with `rustls-no-provider` (the `roster` crate's
/// TLS test asks for it) and its clients panic at build time without one, even for HTTP.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// One connector's SCIM endpoints, as seen by a client holding a token (or none).
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    /// The connector id.
    pub(crate) id: String,
    /// Its SCIM base URL.
    pub(crate) base: String,
    /// The `Authorization` header sent, if any.
    pub(crate) authorization: Option<String>,
    client: reqwest::Client,
}

impl Conn {
    /// The same connector, presenting another `Authorization` header (or none).
    #[must_use]
    pub(crate) fn with_authorization(&self, authorization: Option<&str>) -> Self {
        Self {
            authorization: authorization.map(str::to_owned),
            ..self.clone()
        }
    }

    /// The same client and token, aimed at another connector's base URL.
    #[must_use]
    pub(crate) fn aimed_at(&self, other: &Conn) -> Self {
        Self {
            id: other.id.clone(),
            base: other.base.clone(),
            ..self.clone()
        }
    }

    /// A request to `{base}{path}`; `path` may carry a query string, sent as written.
    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.client.request(method, format!("{}{path}", self.base));
        match &self.authorization {
            Some(a) => rb.header(header::AUTHORIZATION, a),
            None => rb,
        }
    }

    /// A request with a SCIM JSON body.
    pub(crate) fn request_json(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> reqwest::RequestBuilder {
        self.request(method, path)
            .header(header::CONTENT_TYPE, "application/scim+json")
            .body(body.to_string())
    }

    /// `GET {path}`.
    pub(crate) async fn get(&self, path: &str) -> Reply {
        Reply::from(self.request(Method::GET, path)).await
    }

    /// `POST {path}` with a SCIM JSON body.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Reply {
        Reply::from(self.request_json(Method::POST, path, body)).await
    }

    /// `PUT {path}` with a SCIM JSON body.
    pub(crate) async fn put(&self, path: &str, body: &Value) -> Reply {
        Reply::from(self.request_json(Method::PUT, path, body)).await
    }

    /// `PATCH {path}` with a SCIM JSON body.
    pub(crate) async fn patch(&self, path: &str, body: &Value) -> Reply {
        Reply::from(self.request_json(Method::PATCH, path, body)).await
    }

    /// `PATCH {path}` with a PatchOp of these operations.
    pub(crate) async fn patch_ops(&self, path: &str, operations: Value) -> Reply {
        self.patch(
            path,
            &serde_json::json!({"schemas": [PATCH_OP], "Operations": operations}),
        )
        .await
    }

    /// `DELETE {path}`.
    pub(crate) async fn delete(&self, path: &str) -> Reply {
        Reply::from(self.request(Method::DELETE, path)).await
    }

    /// Creates a user with this userName (and a name and work e-mail); returns its id.
    pub(crate) async fn create_user(&self, user_name: &str) -> String {
        let r = self.post("/Users", &user(user_name)).await;
        assert_eq!(r.status, 201, "create user {user_name}: {}", r.text);
        r.id()
    }

    /// Creates a group with this displayName and these member ids; returns its id.
    pub(crate) async fn create_group(&self, display_name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members
            .iter()
            .map(|m| serde_json::json!({"value": m}))
            .collect();
        let r = self
            .post(
                "/Groups",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": display_name,
                    "members": members,
                }),
            )
            .await;
        assert_eq!(r.status, 201, "create group {display_name}: {}", r.text);
        r.id()
    }
}

/// A minimal Okta-shaped user.
pub(crate) fn user(user_name: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": "Given Family",
        "active": true,
    })
}

/// An answer, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The status code.
    pub(crate) status: u16,
    /// The headers.
    pub(crate) headers: HeaderMap,
    /// The body as text.
    pub(crate) text: String,
    /// The body as JSON; `Null` when empty or not JSON.
    pub(crate) body: Value,
}

impl Reply {
    /// Sends a request and reads the whole answer.
    pub(crate) async fn from(rb: reqwest::RequestBuilder) -> Self {
        let response = rb.send().await.expect("send request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("read body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            body,
        }
    }

    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `id` of the resource in the body.
    pub(crate) fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.text))
            .to_owned()
    }

    /// The `ETag` header.
    pub(crate) fn etag(&self) -> String {
        self.header("etag")
            .unwrap_or_else(|| panic!("no ETag header (status {})", self.status))
            .to_owned()
    }

    /// Asserts `Content-Type: application/scim+json`.
    pub(crate) fn assert_scim_json(&self) -> &Self {
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/scim+json"),
            "content type '{ct}' (status {}): {}",
            self.status,
            self.text
        );
        self
    }

    /// Asserts a SCIM error body (RFC 7644 §3.12) with this status and `scimType`, served as
    /// `application/scim+json`, with a non-empty `detail`.
    pub(crate) fn assert_error(&self, status: u16, scim_type: Option<&str>) -> &Self {
        assert_eq!(self.status, status, "{}", self.text);
        self.assert_scim_json();
        assert_eq!(
            self.body["schemas"],
            serde_json::json!([ERROR_SCHEMA]),
            "{}",
            self.text
        );
        assert_eq!(
            self.body["status"],
            Value::String(status.to_string()),
            "{}",
            self.text
        );
        match scim_type {
            Some(t) => assert_eq!(self.body["scimType"], t, "{}", self.text),
            None => assert!(self.body.get("scimType").is_none(), "{}", self.text),
        }
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            self.text
        );
        self
    }

    /// Asserts a 401 SCIM error with the bearer challenge.
    pub(crate) fn assert_unauthorized(&self) -> &Self {
        self.assert_error(401, None);
        assert_eq!(
            self.header("www-authenticate"),
            Some("Bearer realm=\"roster\""),
            "{}",
            self.text
        );
        self
    }

    /// Asserts a ListResponse and returns its resources.
    pub(crate) fn resources(&self) -> &Vec<Value> {
        assert_eq!(self.status, 200, "{}", self.text);
        self.assert_scim_json();
        assert_eq!(
            self.body["schemas"],
            serde_json::json!([LIST_RESPONSE]),
            "{}",
            self.text
        );
        self.body["Resources"]
            .as_array()
            .unwrap_or_else(|| panic!("no Resources in {}", self.text))
    }
}

/// Store misbehaviour on demand, keyed by the resource id a request asks for: a request for
/// `/Users/panic` makes the store panic, `/Users/fail` gives a backend error, `/Users/slow`
/// waits [`Faults::delay`] (announcing the wait on [`Faults::entered`]). Every other call goes
/// to the real store untouched.
#[derive(Debug, Clone)]
pub(crate) struct Faults {
    /// How long `slow` takes.
    pub(crate) delay: Duration,
    /// Notified when a `slow` call starts.
    pub(crate) entered: Arc<Notify>,
    /// While set, listing connectors (what `/readyz` reads) fails.
    pub(crate) store_down: Arc<std::sync::atomic::AtomicBool>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            delay: Duration::from_secs(60),
            entered: Arc::new(Notify::new()),
            store_down: Arc::default(),
        }
    }
}

/// What a panicking store says: it must never reach a client.
pub(crate) const PANIC_SECRET: &str = "panic with internals: /var/lib/roster/secret.db";
/// What a failing store says: it must never reach a client.
pub(crate) const BACKEND_SECRET: &str = "disk I/O error at /var/lib/roster/secret.db";

/// The real store, wrapped with [`Faults`].
#[derive(Debug)]
struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Faults,
}

impl FaultyStore {
    async fn trip(&self, id: &str) -> Result<(), StoreError> {
        match id {
            "panic" => panic!("{PANIC_SECRET}"),
            "fail" => Err(StoreError::backend(std::io::Error::other(BACKEND_SECRET))),
            "slow" => {
                self.faults.entered.notify_one();
                tokio::time::sleep(self.faults.delay).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    fn directory(&self) -> &dyn DirectoryStore {
        self.inner.directory()
    }
    fn admin(&self) -> &dyn AdminStore {
        self.inner.admin()
    }
    async fn create_connector(&self, connector: &Connector) -> Result<(), StoreError> {
        self.inner.create_connector(connector).await
    }
    async fn connector(&self, id: &str) -> Result<Option<Connector>, StoreError> {
        self.inner.connector(id).await
    }
    async fn connectors(&self) -> Result<Vec<Connector>, StoreError> {
        if self
            .faults
            .store_down
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StoreError::backend(std::io::Error::other(BACKEND_SECRET)));
        }
        self.inner.connectors().await
    }
    async fn set_connector_enabled(&self, id: &str, enabled: bool) -> Result<(), StoreError> {
        self.inner.set_connector_enabled(id, enabled).await
    }
    async fn delete_connector(&self, id: &str, ctx: &WriteContext) -> Result<(), StoreError> {
        self.inner.delete_connector(id, ctx).await
    }
    async fn add_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.inner.add_token(token).await
    }
    async fn token(&self, token_id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.inner.token(token_id).await
    }
    async fn tokens(&self, connector_id: &str) -> Result<Vec<TokenRecord>, StoreError> {
        self.inner.tokens(connector_id).await
    }
    async fn revoke_token(&self, connector_id: &str, token_id: &str) -> Result<(), StoreError> {
        self.inner.revoke_token(connector_id, token_id).await
    }
    async fn touch_token(&self, token_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.inner.touch_token(token_id, at).await
    }
    async fn create_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        new: NewResource,
        ctx: &WriteContext,
    ) -> Result<StoredResource, StoreError> {
        self.inner
            .create_resource(connector_id, kind, new, ctx)
            .await
    }
    async fn get_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        id: &str,
        load: Load,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.trip(id).await?;
        self.inner.get_resource(connector_id, kind, id, load).await
    }
    async fn query_resources(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        query: &ResourceQuery,
    ) -> Result<ResourcePage, StoreError> {
        self.inner.query_resources(connector_id, kind, query).await
    }
    async fn update_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        id: &str,
        if_version: Option<i64>,
        update: Update,
        ctx: &WriteContext,
    ) -> Result<Updated, StoreError> {
        self.trip(id).await?;
        self.inner
            .update_resource(connector_id, kind, id, if_version, update, ctx)
            .await
    }
    async fn delete_resource(
        &self,
        connector_id: &str,
        kind: ResourceKind,
        id: &str,
        if_version: Option<i64>,
        ctx: &WriteContext,
    ) -> Result<(), StoreError> {
        self.trip(id).await?;
        self.inner
            .delete_resource(connector_id, kind, id, if_version, ctx)
            .await
    }
}

/// Runs `f` and returns how long it took: for assertions that something did *not* wait.
pub(crate) async fn timed<T>(f: impl Future<Output = T>) -> (T, Duration) {
    let start = std::time::Instant::now();
    let out = f.await;
    (out, start.elapsed())
}

/// Everything the test binary logged at INFO and above, as text.
///
/// One global subscriber, installed before the first server starts: a per-test
/// `tracing::subscriber::set_default` misses events when other tests on other threads
/// register the same callsites first, so log assertions would be flaky.
pub(crate) fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test binary");
        captured
    })
}

/// A log sink in memory.
#[derive(Debug, Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// What was logged so far.
    pub(crate) fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Percent-encodes a query value the way Entra ID and Okta send filters: every byte outside
/// RFC 3986's unreserved set becomes `%XX`, so a space is `%20`, a quote `%22`, `@` `%40`.
pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A group's member ids, sorted; empty when it has no `members`.
pub(crate) fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().expect("member value").to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// These ids, sorted: to compare with [`member_ids`].
pub(crate) fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    ids.sort();
    ids
}

/// The body without `meta`, after checking that `meta` is the server's own: this resource
/// type, its location, RFC 3339 times and the version the `ETag` header carries.
pub(crate) fn without_meta(r: &Reply, resource_type: &str, location: &str) -> Value {
    let meta = &r.body["meta"];
    assert_eq!(meta["resourceType"], resource_type, "{}", r.text);
    assert_eq!(meta["location"], location, "{}", r.text);
    for time in ["created", "lastModified"] {
        let t = meta[time].as_str().unwrap_or_default();
        assert!(
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_ok(),
            "meta.{time} '{t}' is not RFC 3339: {}",
            r.text
        );
    }
    if r.status != 304 {
        assert_eq!(meta["version"].as_str(), r.header("etag"), "{}", r.text);
    }
    let mut body = r.body.clone();
    body.as_object_mut().expect("a resource").remove("meta");
    body
}
