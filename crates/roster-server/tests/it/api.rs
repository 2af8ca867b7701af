//! The admin API and the application API under `/api/v1`: every endpoint, who may call it,
//! and what it answers when things go wrong.

use reqwest::Method;
use reqwest::header;
use roster_core::admin::{self, ApiScope, NewRequestLog};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::common::{Reply, TestServer};

/// A caller of the APIs: anonymous, a bearer token, or a console session (with or without a
/// CSRF header).
#[derive(Debug, Clone)]
struct Caller {
    base: String,
    http: reqwest::Client,
    authorization: Option<String>,
    cookie: Option<String>,
    csrf: Option<String>,
}

impl Caller {
    fn anonymous(server: &TestServer) -> Self {
        Self {
            base: server.url.clone(),
            http: server.client.clone(),
            authorization: None,
            cookie: None,
            csrf: None,
        }
    }

    fn bearer(server: &TestServer, token: &str) -> Self {
        Self {
            authorization: Some(format!("Bearer {token}")),
            ..Self::anonymous(server)
        }
    }

    fn session(server: &TestServer, cookie: &str, csrf: Option<&str>) -> Self {
        Self {
            // The cookie's name depends on whether the server's cookies are `Secure`; the
            // server reads only its own, so sending both works either way.
            cookie: Some(format!(
                "roster_session={cookie}; __Host-roster_session={cookie}"
            )),
            csrf: csrf.map(str::to_owned),
            ..Self::anonymous(server)
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(a) = &self.authorization {
            rb = rb.header(header::AUTHORIZATION, a);
        }
        if let Some(c) = &self.cookie {
            rb = rb.header(header::COOKIE, c);
        }
        if let Some(t) = &self.csrf {
            rb = rb.header("x-csrf-token", t);
        }
        rb
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb
                .header(header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        Reply::from(rb).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }
}

/// Asserts an API error: this status, a JSON `{"status", "error"}` body.
fn assert_api_error(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{:?}: {}",
        r.header("content-type"),
        r.text
    );
    assert_eq!(r.body["status"], status, "{}", r.text);
    assert!(
        r.body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        r.text
    );
}

/// Waits out the SCIM authenticator's one-second memory of tokens and connectors.
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

/// A server and an admin token's caller.
async fn admin() -> (TestServer, Caller) {
    let server = TestServer::start().await;
    let token = server.api_token(ApiScope::Admin).await;
    let caller = Caller::bearer(&server, &token);
    (server, caller)
}

/// A console session of a new admin account: the cookie value and the CSRF token.
async fn session(server: &TestServer) -> (String, String) {
    server.admin_account("alice", "correct horse battery").await;
    let (cookie, record) =
        admin::new_session("alice", OffsetDateTime::now_utc(), Duration::hours(1)).unwrap();
    server
        .store
        .admin()
        .create_session(&record)
        .await
        .expect("store the session");
    (cookie.expose().to_owned(), record.csrf)
}

// ---- who may call what ----

#[tokio::test]
async fn without_credentials_every_api_is_401_with_the_bearer_challenge() {
    let server = TestServer::start().await;
    let anon = Caller::anonymous(&server);
    for path in [
        "/api/v1/connectors",
        "/api/v1/directory/users",
        "/api/v1/changes",
    ] {
        let r = anon.get(path).await;
        assert_api_error(&r, 401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{path}");
    }
    let r = anon
        .post("/api/v1/connectors", &json!({"name": "Entra"}))
        .await;
    assert_api_error(&r, 401);
    assert!(server.store.connectors().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_connectors_scim_token_opens_no_api() {
    let server = TestServer::start().await;
    let scim = server.connector("entra").await;
    let token = scim.authorization.clone().unwrap();
    let caller = Caller {
        authorization: Some(token),
        ..Caller::anonymous(&server)
    };
    assert_api_error(&caller.get("/api/v1/connectors").await, 401);
    assert_api_error(&caller.get("/api/v1/directory/users").await, 401);
}

#[tokio::test]
async fn an_app_token_reads_the_application_api_only() {
    let server = TestServer::start().await;
    let app = Caller::bearer(&server, &server.api_token(ApiScope::App).await);
    for path in [
        "/api/v1/connectors",
        "/api/v1/users",
        "/api/v1/audit",
        "/api/v1/api-tokens",
        "/api/v1/directories",
    ] {
        assert_api_error(&app.get(path).await, 403);
    }
    assert_api_error(
        &app.post("/api/v1/connectors", &json!({"name": "Entra"}))
            .await,
        403,
    );
    assert!(server.store.connectors().await.unwrap().is_empty());
    for path in [
        "/api/v1/directory/users",
        "/api/v1/directory/groups",
        "/api/v1/changes",
    ] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn an_admin_token_reads_the_application_api_too() {
    let (_server, admin) = admin().await;
    for path in [
        "/api/v1/directory/users",
        "/api/v1/directory/groups",
        "/api/v1/changes",
    ] {
        assert_eq!(admin.get(path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn revoked_and_expired_api_tokens_are_401() {
    let (server, admin) = admin().await;
    let created = admin
        .post(
            "/api/v1/api-tokens",
            &json!({"scope": "app", "description": "reporting"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let token = created.body["token"].as_str().unwrap().to_owned();
    let app = Caller::bearer(&server, &token);
    assert_eq!(app.get("/api/v1/changes").await.status, 200);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        admin
            .delete(&format!("/api/v1/api-tokens/{id}"))
            .await
            .status,
        204
    );
    assert_api_error(&app.get("/api/v1/changes").await, 401);

    let now = OffsetDateTime::now_utc();
    let (secret, record) = admin::generate_api_token(
        ApiScope::Admin,
        "old",
        "cli",
        now - Duration::hours(2),
        Some(now - Duration::hours(1)),
    )
    .unwrap();
    server.store.admin().add_api_token(&record).await.unwrap();
    let expired = Caller::bearer(&server, secret.expose());
    assert_api_error(&expired.get("/api/v1/connectors").await, 401);
    assert_api_error(&expired.get("/api/v1/changes").await, 401);
}

#[tokio::test]
async fn a_session_needs_its_csrf_token_to_change_anything() {
    let server = TestServer::start().await;
    server.create_connector("entra").await;
    let (cookie, csrf) = session(&server).await;

    // Reads need no CSRF token.
    let reader = Caller::session(&server, &cookie, None);
    assert_eq!(reader.get("/api/v1/connectors").await.status, 200);
    assert_eq!(reader.get("/api/v1/directory/users").await.status, 200);

    for forged in [
        Caller::session(&server, &cookie, None),
        Caller::session(&server, &cookie, Some("0123456789abcdef")),
    ] {
        assert_api_error(
            &forged
                .post("/api/v1/connectors", &json!({"name": "Okta"}))
                .await,
            403,
        );
        assert_api_error(
            &forged
                .put(
                    "/api/v1/connectors/entra/settings",
                    &json!({"settings": {"copy": {"from_directory": "internal"}}}),
                )
                .await,
            403,
        );
        assert_api_error(&forged.delete("/api/v1/connectors/entra").await, 403);
        assert_api_error(
            &forged
                .post("/api/v1/users", &json!({"username": "mallory"}))
                .await,
            403,
        );
    }
    // Nothing changed.
    let ids: Vec<String> = server
        .store
        .connectors()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["entra"]);
    let settings = server.store.directory().settings("entra").await.unwrap();
    assert_eq!(settings.version, 0);
    assert!(
        server
            .store
            .directory()
            .user("mallory")
            .await
            .unwrap()
            .is_none()
    );

    // With it, the same changes go through, made by the session's admin.
    let console = Caller::session(&server, &cookie, Some(&csrf));
    let r = console
        .post("/api/v1/users", &json!({"username": "mallory"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let detail = console.get("/api/v1/users/mallory").await;
    assert_eq!(detail.body["history"][0]["actor"], "admin:alice");
    assert_eq!(console.delete("/api/v1/connectors/entra").await.status, 204);
}

// ---- connectors and tokens ----

#[tokio::test]
async fn connectors_are_made_listed_disabled_enabled_and_deleted() {
    let (server, admin) = admin().await;
    let created = admin
        .post("/api/v1/connectors", &json!({"name": "Entra ID (prod)"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["id"], "entra-id-prod");
    assert_eq!(created.body["enabled"], true);
    assert_eq!(
        created.body["scim_base_url"],
        format!("{}/scim/v2/entra-id-prod", server.url)
    );
    let token = created.body["token"].as_str().unwrap().to_owned();

    // The token opens the connector's SCIM endpoint, and is never shown again.
    let scim = server.conn("entra-id-prod", &token);
    scim.create_user("adele@contoso.com").await;
    let list = admin.get("/api/v1/connectors").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["connectors"][0]["id"], "entra-id-prod");
    assert_eq!(list.body["connectors"][0]["activity"]["users"], 1);
    let one = admin.get("/api/v1/connectors/entra-id-prod").await;
    assert_eq!(one.body["name"], "Entra ID (prod)");
    let tokens = admin.get("/api/v1/connectors/entra-id-prod/tokens").await;
    assert_eq!(tokens.body["tokens"][0]["id"], created.body["token_id"]);
    for r in [&list, &one, &tokens] {
        assert!(!r.text.contains(&token), "{}", r.text);
    }

    // An id of one's own; taken and invalid ids; no name.
    let r = admin
        .post(
            "/api/v1/connectors",
            &json!({"name": "Okta", "id": "okta-1"}),
        )
        .await;
    assert_eq!(r.body["id"], "okta-1");
    assert_api_error(
        &admin
            .post(
                "/api/v1/connectors",
                &json!({"name": "Okta", "id": "okta-1"}),
            )
            .await,
        409,
    );
    for bad in [
        json!({"name": "X", "id": "Bad_Id"}),
        json!({"name": "X", "id": "internal"}),
        json!({"name": "  "}),
        json!({"id": "x"}),
        json!({"name": "X", "colour": "red"}),
    ] {
        assert_api_error(&admin.post("/api/v1/connectors", &bad).await, 400);
    }

    // Disabled, its token gets 401; enabled again, 200.
    let r = admin
        .post("/api/v1/connectors/entra-id-prod/disable", &json!({}))
        .await;
    assert_eq!(r.body["enabled"], false, "{}", r.text);
    settle().await;
    assert_eq!(scim.get("/Users").await.status, 401);
    let r = admin
        .send(
            Method::POST,
            "/api/v1/connectors/entra-id-prod/enable",
            None,
        )
        .await;
    assert_eq!(r.body["enabled"], true, "{}", r.text);
    settle().await;
    assert_eq!(scim.get("/Users").await.status, 200);

    assert_eq!(
        admin
            .delete("/api/v1/connectors/entra-id-prod")
            .await
            .status,
        204
    );
    assert_api_error(&admin.get("/api/v1/connectors/entra-id-prod").await, 404);
    assert_api_error(&admin.delete("/api/v1/connectors/entra-id-prod").await, 404);
    assert_api_error(
        &admin
            .post("/api/v1/connectors/entra-id-prod/enable", &json!({}))
            .await,
        404,
    );
    settle().await;
    assert_eq!(scim.get("/Users").await.status, 401);
}

#[tokio::test]
async fn connector_tokens_are_added_shown_once_and_revoked() {
    let (server, admin) = admin().await;
    server.create_connector("entra").await;
    let expires = (OffsetDateTime::now_utc() + Duration::days(30))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = admin
        .post(
            "/api/v1/connectors/entra/tokens",
            &json!({"description": "rotation", "expires_at": expires}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["description"], "rotation");
    assert_eq!(r.body["expired"], false);
    assert!(r.body["expires_at"].is_string());

    let scim = server.conn("entra", &token);
    assert_eq!(scim.get("/Users").await.status, 200);
    let list = admin.get("/api/v1/connectors/entra/tokens").await;
    assert_eq!(list.body["tokens"].as_array().unwrap().len(), 1);
    assert!(
        list.body["tokens"][0]["last_used_at"].is_string(),
        "{}",
        list.text
    );
    assert!(!list.text.contains(&token));

    let r = admin
        .post(
            "/api/v1/connectors/entra/tokens",
            &json!({"expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_api_error(&r, 400);
    assert_api_error(
        &admin
            .post(
                "/api/v1/connectors/entra/tokens",
                &json!({"expires_at": "next week"}),
            )
            .await,
        400,
    );
    assert_api_error(
        &admin
            .post("/api/v1/connectors/nope/tokens", &json!({}))
            .await,
        404,
    );
    assert_api_error(&admin.get("/api/v1/connectors/nope/tokens").await, 404);

    assert_eq!(
        admin
            .delete(&format!("/api/v1/connectors/entra/tokens/{id}"))
            .await
            .status,
        204
    );
    settle().await;
    assert_eq!(scim.get("/Users").await.status, 401);
    assert_api_error(
        &admin
            .delete(&format!("/api/v1/connectors/entra/tokens/{id}"))
            .await,
        404,
    );
}

// ---- settings, preview, apply, the mapping tester, results ----

#[tokio::test]
async fn settings_are_read_validated_and_saved() {
    let (server, admin) = admin().await;
    server.create_connector("entra").await;
    let r = admin.get("/api/v1/connectors/entra/settings").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 0);
    assert_eq!(r.body["settings"]["mapping"]["username"], "user.userName");
    assert!(r.body["updated_at"].is_null());

    let template = admin
        .get("/api/v1/connectors/entra/settings/template")
        .await;
    assert!(
        template.body["toml"]
            .as_str()
            .unwrap()
            .contains("[mapping]")
    );
    assert_eq!(template.body["settings"], r.body["settings"]);

    let saved = admin
        .put(
            "/api/v1/connectors/entra/settings",
            &json!({"settings": {"groups": {"always_assign": ["jira-users"]}}}),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(saved.body["version"], 1);
    assert_eq!(
        saved.body["settings"]["groups"]["always_assign"],
        json!(["jira-users"])
    );
    assert!(saved.body["updated_at"].is_string());

    // A bad expression: 400 naming the field and the position in it.
    let r = admin
        .put(
            "/api/v1/connectors/entra/settings",
            &json!({"settings": {"mapping": {"email": "primary_email(user"}}}),
        )
        .await;
    assert_api_error(&r, 400);
    let problem = &r.body["problems"][0];
    assert_eq!(problem["field"], "mapping.email", "{}", r.text);
    assert_eq!(problem["line"], 1, "{}", r.text);
    assert!(
        problem["column"].as_u64().is_some_and(|c| c > 1),
        "{}",
        r.text
    );

    // An unknown field, a wrong type, a stale version, no connector.
    assert_api_error(
        &admin
            .put(
                "/api/v1/connectors/entra/settings",
                &json!({"settings": {"mapping": {"usernme": "x"}}}),
            )
            .await,
        400,
    );
    assert_api_error(
        &admin
            .put(
                "/api/v1/connectors/entra/settings",
                &json!({"settings": {"cleanup": {"deleted": "explode"}}}),
            )
            .await,
        400,
    );
    assert_api_error(
        &admin
            .put(
                "/api/v1/connectors/entra/settings",
                &json!({"settings": {}, "version": 0}),
            )
            .await,
        412,
    );
    assert_api_error(
        &admin
            .put("/api/v1/connectors/nope/settings", &json!({"settings": {}}))
            .await,
        404,
    );
    assert_api_error(&admin.get("/api/v1/connectors/nope/settings").await, 404);
    let r = admin.get("/api/v1/connectors/entra/settings").await;
    assert_eq!(r.body["version"], 1, "refused saves changed nothing");

    let r = admin
        .put(
            "/api/v1/connectors/entra/settings",
            &json!({"settings": {}, "version": 1}),
        )
        .await;
    assert_eq!(r.body["version"], 2, "{}", r.text);
}

#[tokio::test]
async fn malformed_bodies_are_400_with_a_json_error() {
    let (server, admin) = admin().await;
    server.create_connector("entra").await;
    let r = Reply::from(
        admin
            .request(Method::PUT, "/api/v1/connectors/entra/settings")
            .header(header::CONTENT_TYPE, "application/json")
            .body("{\"settings\": {"),
    )
    .await;
    assert_api_error(&r, 400);
    assert!(r.body["error"].as_str().unwrap().contains("not valid JSON"));
    let r = Reply::from(
        admin
            .request(Method::POST, "/api/v1/connectors")
            .header(header::CONTENT_TYPE, "text/plain")
            .body("name=x"),
    )
    .await;
    assert_api_error(&r, 415);
    // Unknown paths and methods under /api answer in the API's shape too.
    assert_api_error(&admin.get("/api/v1/nothing").await, 404);
    assert_api_error(&admin.delete("/api/v1/connectors").await, 405);
}

#[tokio::test]
async fn preview_shows_what_apply_then_does() {
    let (server, admin) = admin().await;
    let scim = server.connector("entra").await;
    scim.create_user("Adele@Contoso.com").await;
    admin
        .put(
            "/api/v1/connectors/entra/settings",
            &json!({"settings": {"mapping": {"username": "user.userName.lowerAscii()"}}}),
        )
        .await;

    let preview = admin
        .post("/api/v1/connectors/entra/preview", &json!({}))
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    assert_eq!(preview.body["settings_version"], 1);
    assert_eq!(preview.body["summary"]["updated"], 1);
    assert_eq!(preview.body["summary"]["renamed"], 1);
    assert_eq!(preview.body["users"][0]["username"], "adele@contoso.com");
    // Nothing written yet.
    let user = admin.get("/api/v1/users/adele@contoso.com").await;
    assert_eq!(user.body["users"][0]["username"], "Adele@Contoso.com");

    // Proposed settings run without being stored.
    let proposed = admin
        .post(
            "/api/v1/connectors/entra/preview",
            &json!({"settings": {"mapping": {"drop": "true"}}}),
        )
        .await;
    assert!(
        proposed.body["settings_version"].is_null(),
        "{}",
        proposed.text
    );
    assert_eq!(proposed.body["summary"]["disabled"], 1);
    assert_api_error(
        &admin
            .post(
                "/api/v1/connectors/entra/preview",
                &json!({"settings": {"mapping": {"drop": "user."}}}),
            )
            .await,
        400,
    );

    let applied = admin
        .send(Method::POST, "/api/v1/connectors/entra/apply", None)
        .await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert_eq!(applied.body["summary"], preview.body["summary"]);
    let user = admin.get("/api/v1/users/adele@contoso.com").await;
    assert_eq!(user.body["users"][0]["username"], "adele@contoso.com");
    let again = admin
        .post("/api/v1/connectors/entra/preview", &json!({}))
        .await;
    assert_eq!(again.body["summary"]["unchanged"], 1);
    assert_eq!(again.body["summary"]["updated"], 0);

    let results = admin.get("/api/v1/connectors/entra/results").await;
    assert_eq!(results.status, 200, "{}", results.text);
    let sources: Vec<&str> = results.body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["source"].as_str())
        .collect();
    assert!(
        sources.contains(&"apply") && sources.contains(&"scim"),
        "{sources:?}"
    );
    let updated = admin
        .get("/api/v1/connectors/entra/results?outcome=updated&limit=5")
        .await;
    let outcomes = updated.body["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 1, "{}", updated.text);
    assert_eq!(outcomes[0]["name"], "adele@contoso.com");
    assert_api_error(
        &admin
            .get("/api/v1/connectors/entra/results?outcome=bogus")
            .await,
        400,
    );
    assert_api_error(
        &admin
            .get("/api/v1/connectors/entra/results?limit=1001")
            .await,
        400,
    );
    assert_api_error(&admin.get("/api/v1/connectors/nope/results").await, 404);
    assert_api_error(
        &admin
            .post("/api/v1/connectors/nope/preview", &json!({}))
            .await,
        404,
    );
    assert_api_error(
        &admin
            .post("/api/v1/connectors/nope/apply", &json!({}))
            .await,
        404,
    );
}

#[tokio::test]
async fn the_mapping_tester_shows_the_directory_user_and_memberships() {
    let (server, admin) = admin().await;
    let scim = server.connector("entra").await;
    let user = scim.create_user("adele@contoso.com").await;
    let sales = scim.create_group("Sales", &[&user]).await;

    // The stored settings: what the directory has.
    let r = admin
        .post(
            "/api/v1/connectors/entra/mapping-test",
            &json!({"user_id": user}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], "unchanged");
    assert_eq!(r.body["username"], "adele@contoso.com");
    assert_eq!(r.body["user"]["display_name"], "Given Family");
    assert_eq!(r.body["user"]["email"], "adele@contoso.com");
    assert_eq!(
        r.body["memberships"],
        json!([{"group": "Sales", "idp_group": sales, "origin": "idp"}])
    );
    assert_eq!(r.body["groups"][0]["status"], "imported");

    // Proposed settings: what they would make of the same user. Nothing is written.
    let r = admin
        .post(
            "/api/v1/connectors/entra/mapping-test",
            &json!({
                "user_id": user,
                "settings": {
                    "mapping": {"display_name": "'X ' + user.userName"},
                    "groups": {"always_assign": ["jira-users"], "never_assign": ["sales"]},
                },
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], "updated");
    assert_eq!(r.body["user"]["display_name"], "X adele@contoso.com");
    assert_eq!(
        r.body["memberships"],
        json!([{"group": "jira-users", "idp_group": null, "origin": "rule"}])
    );
    assert_eq!(r.body["groups"][0]["status"], "filtered");
    let stored = admin.get("/api/v1/users/adele@contoso.com").await;
    assert_eq!(stored.body["users"][0]["display_name"], "Given Family");
    assert_eq!(stored.body["users"][0]["memberships"][0]["group"], "Sales");

    // A pasted user: its groups are the ones it names.
    let r = admin
        .post(
            "/api/v1/connectors/entra/mapping-test",
            &json!({"user": {
                "userName": "Jordan@Contoso.com",
                "name": {"givenName": "Jordan", "familyName": "Lee"},
                "active": "False",
                "groups": [{"value": sales}, {"display": "Engineering"}],
            }}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], "created");
    assert_eq!(r.body["user"]["display_name"], "Jordan Lee");
    assert_eq!(r.body["user"]["active"], false);
    let groups: Vec<&str> = r.body["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["group"].as_str())
        .collect();
    assert_eq!(groups, ["Engineering", "Sales"]);
    assert!(
        server
            .store
            .directory()
            .user("Jordan@Contoso.com")
            .await
            .unwrap()
            .is_none()
    );

    // A mapping that fails at run time says why; settings that do not compile are refused.
    let r = admin
        .post(
            "/api/v1/connectors/entra/mapping-test",
            &json!({"user": {"userName": "x"}, "settings": {"mapping": {"active": "user.nickName"}}}),
        )
        .await;
    assert_eq!(r.body["outcome"], "failed", "{}", r.text);
    assert!(
        r.body["reason"]
            .as_str()
            .unwrap()
            .contains("mapping.active")
    );
    assert!(r.body["user"].is_null());
    let r = admin
        .post(
            "/api/v1/connectors/entra/mapping-test",
            &json!({"user_id": user, "settings": {"mapping": {"email": "user.emails["}}}),
        )
        .await;
    assert_api_error(&r, 400);
    assert_eq!(r.body["problems"][0]["field"], "mapping.email");

    for bad in [
        json!({}),
        json!({"user_id": user, "user": {"userName": "x"}}),
        json!({"user": "not an object"}),
    ] {
        assert_api_error(
            &admin
                .post("/api/v1/connectors/entra/mapping-test", &bad)
                .await,
            400,
        );
    }
    assert_api_error(
        &admin
            .post(
                "/api/v1/connectors/entra/mapping-test",
                &json!({"user_id": "no-such-user"}),
            )
            .await,
        404,
    );
    assert_api_error(
        &admin
            .post(
                "/api/v1/connectors/nope/mapping-test",
                &json!({"user_id": user}),
            )
            .await,
        404,
    );
}

// ---- the request log ----

#[tokio::test]
async fn the_request_log_filters_pages_and_shows_one_entry() {
    let (server, admin) = admin().await;
    server.create_connector("entra").await;
    server.create_connector("okta").await;
    let t0 = OffsetDateTime::now_utc() - Duration::hours(1);
    let entry = |connector: &str, minutes: i64, status: u16| NewRequestLog {
        at: t0 + Duration::minutes(minutes),
        connector_id: connector.to_owned(),
        request_id: Some(format!("r{minutes}")),
        method: "POST".into(),
        path: "/Users".into(),
        status,
        duration_ms: 3,
        request_body: (status >= 400).then(|| admin::mask_secrets(br#"{"password":"hunter2"}"#)),
        response_body: None,
    };
    server
        .store
        .admin()
        .log_requests(&[
            entry("entra", 0, 201),
            entry("entra", 10, 409),
            entry("entra", 20, 200),
            entry("entra", 30, 500),
            entry("okta", 40, 400),
        ])
        .await
        .unwrap();

    let all = admin.get("/api/v1/connectors/entra/request-log").await;
    assert_eq!(all.status, 200, "{}", all.text);
    let statuses = |r: &Reply| -> Vec<u64> {
        r.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(statuses(&all), [500, 200, 409, 201], "newest first");
    assert!(all.body["next_before"].is_null());
    assert!(!all.text.contains("hunter2"));

    let failed = admin
        .get("/api/v1/connectors/entra/request-log?status=failed")
        .await;
    assert_eq!(statuses(&failed), [500, 409]);
    let success = admin
        .get("/api/v1/connectors/entra/request-log?status=success")
        .await;
    assert_eq!(statuses(&success), [200, 201]);
    let conflict = admin
        .get("/api/v1/connectors/entra/request-log?status=409")
        .await;
    assert_eq!(statuses(&conflict), [409]);
    let since = (t0 + Duration::minutes(5))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let until = (t0 + Duration::minutes(25))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let window = admin
        .get(&format!(
            "/api/v1/connectors/entra/request-log?since={}&until={}",
            crate::common::enc(&since),
            crate::common::enc(&until)
        ))
        .await;
    assert_eq!(statuses(&window), [200, 409], "{}", window.text);

    // Paging backwards.
    let first = admin
        .get("/api/v1/connectors/entra/request-log?limit=3")
        .await;
    assert_eq!(statuses(&first), [500, 200, 409]);
    let before = first.body["next_before"].as_i64().expect("a next page");
    let second = admin
        .get(&format!(
            "/api/v1/connectors/entra/request-log?limit=3&before={before}"
        ))
        .await;
    assert_eq!(statuses(&second), [201]);
    assert!(second.body["next_before"].is_null());

    // One entry, with the masked body of a failure; another connector's is not found here.
    let seq = failed.body["entries"][1]["seq"].as_i64().unwrap();
    let one = admin
        .get(&format!("/api/v1/connectors/entra/request-log/{seq}"))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["status"], 409);
    assert_eq!(one.body["request_body"], r#"{"password":"***"}"#);
    assert_api_error(
        &admin
            .get(&format!("/api/v1/connectors/okta/request-log/{seq}"))
            .await,
        404,
    );
    assert_api_error(
        &admin.get("/api/v1/connectors/entra/request-log/x").await,
        404,
    );
    for bad in ["status=teapot", "since=yesterday", "limit=0"] {
        assert_api_error(
            &admin
                .get(&format!("/api/v1/connectors/entra/request-log?{bad}"))
                .await,
            400,
        );
    }
    assert_api_error(&admin.get("/api/v1/connectors/nope/request-log").await, 404);
}

// ---- the directory ----

#[tokio::test]
async fn directories_are_listed_and_reordered() {
    let (server, admin) = admin().await;
    server.create_connector("entra").await;
    let r = admin.get("/api/v1/directories").await;
    let ids = |r: &Reply| -> Vec<String> {
        r.body["directories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&r), ["internal", "entra"]);
    assert_eq!(r.body["directories"][1]["kind"], "connector");
    let r = admin
        .put(
            "/api/v1/directories/order",
            &json!({"order": ["entra", "internal"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids(&r), ["entra", "internal"]);
    assert_eq!(r.body["directories"][0]["position"], 0);
    assert_eq!(
        ids(&admin.get("/api/v1/directories").await),
        ["entra", "internal"]
    );
    for bad in [
        json!({"order": ["entra"]}),
        json!({"order": ["entra", "internal", "nope"]}),
        json!({"order": "entra"}),
    ] {
        assert_api_error(&admin.put("/api/v1/directories/order", &bad).await, 400);
    }
}

#[tokio::test]
async fn users_are_made_searched_paged_and_shown_with_their_history() {
    let (server, admin) = admin().await;
    let scim = server.connector("entra").await;
    let scim_id = scim.create_user("adele@contoso.com").await;
    scim.create_group("Sales", &[&scim_id]).await;
    for (username, display) in [("adele@contoso.com", "Adele Local"), ("bob", "Bob Builder")] {
        let r = Reply::from(
            admin
                .request(Method::POST, "/api/v1/users")
                .header(header::CONTENT_TYPE, "application/json")
                .header("x-request-id", format!("make-{username}"))
                .body(
                    json!({"username": username, "display_name": display, "attributes": {"team": "a"}})
                        .to_string(),
                ),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["directory"], "internal");
        assert_eq!(r.body["attributes"]["team"], "a");
    }
    assert_api_error(
        &admin
            .post("/api/v1/users", &json!({"username": "BOB"}))
            .await,
        409,
    );
    assert_api_error(
        &admin
            .post("/api/v1/users", &json!({"username": " spaced "}))
            .await,
        400,
    );
    assert_api_error(
        &admin
            .post(
                "/api/v1/users",
                &json!({"username": "x", "directory": "nope"}),
            )
            .await,
        404,
    );

    let all = admin.get("/api/v1/users").await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.body["total"], 3);
    let found = admin.get("/api/v1/users?search=BUILD").await;
    assert_eq!(found.body["total"], 1, "{}", found.text);
    assert_eq!(found.body["users"][0]["username"], "bob");
    let local = admin.get("/api/v1/users?directory=entra").await;
    assert_eq!(local.body["total"], 1);
    assert_eq!(
        local.body["users"][0]["effective"], false,
        "internal is first"
    );

    // Paging: an opaque cursor; a bad one or a bad limit is 400.
    let page1 = admin.get("/api/v1/users?limit=2").await;
    assert_eq!(page1.body["users"].as_array().unwrap().len(), 2);
    let next = page1.body["next"].as_str().unwrap();
    let page2 = admin
        .get(&format!("/api/v1/users?limit=2&after={next}"))
        .await;
    assert_eq!(page2.body["users"].as_array().unwrap().len(), 1);
    assert!(page2.body["next"].is_null());
    assert_eq!(page2.body["users"][0]["username"], "bob");
    for bad in ["limit=1001", "limit=0", "limit=many", "after=zz"] {
        assert_api_error(&admin.get(&format!("/api/v1/users?{bad}")).await, 400);
    }

    // One username in two directories: memberships with their origin, which one apps see,
    // and the history of both.
    let detail = admin.get("/api/v1/users/ADELE@contoso.com").await;
    assert_eq!(detail.status, 200, "{}", detail.text);
    assert_eq!(detail.body["effective_directory"], "internal");
    let users = detail.body["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["effective"], true);
    assert_eq!(users[1]["directory"], "entra");
    assert_eq!(users[1]["memberships"][0]["group"], "Sales");
    assert_eq!(users[1]["memberships"][0]["origin"], "idp");
    let history = detail.body["history"].as_array().unwrap();
    let actions: Vec<&str> = history
        .iter()
        .filter_map(|h| h["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"user.create") && actions.contains(&"membership.add"),
        "{actions:?}"
    );
    let seqs: Vec<i64> = history.iter().map(|h| h["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    let local = history
        .iter()
        .find(|h| h["directory"] == "internal")
        .unwrap();
    assert_eq!(local["request_id"], "make-adele@contoso.com");
    assert!(
        local["actor"].as_str().unwrap().starts_with("admin:token:"),
        "{local}"
    );
    // Bob's history is not Adele's.
    assert!(!detail.text.contains("Bob Builder"));
    assert_api_error(&admin.get("/api/v1/users/nobody").await, 404);
}

#[tokio::test]
async fn groups_are_made_searched_and_given_members() {
    let (_server, admin) = admin().await;
    for name in ["jira-users", "jira-admins", "confluence-users"] {
        let r = admin
            .post(
                "/api/v1/groups",
                &json!({"name": name, "description": format!("{name} group")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert_api_error(
        &admin
            .post("/api/v1/groups", &json!({"name": "JIRA-USERS"}))
            .await,
        409,
    );
    assert_api_error(
        &admin
            .post("/api/v1/groups", &json!({"name": "x", "directory": "nope"}))
            .await,
        404,
    );
    admin
        .post("/api/v1/users", &json!({"username": "adele"}))
        .await;

    let jira = admin.get("/api/v1/groups?search=JIRA").await;
    assert_eq!(jira.body["total"], 2, "{}", jira.text);
    let id = jira.body["groups"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(jira.body["groups"][1]["name"], "jira-users");
    let page = admin.get("/api/v1/groups?limit=1").await;
    assert!(page.body["next"].is_string());

    let members = format!("/api/v1/groups/{id}/members");
    let r = admin.post(&members, &json!({"username": "Adele"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["added"], true);
    assert_eq!(r.body["group"], "jira-users");
    let again = admin.post(&members, &json!({"username": "adele"})).await;
    assert_eq!(again.body["added"], false);
    let listed = admin.get("/api/v1/groups?search=jira-users").await;
    assert_eq!(listed.body["groups"][0]["members"], 1);
    let user = admin.get("/api/v1/users/adele").await;
    assert_eq!(user.body["users"][0]["memberships"][0]["origin"], "local");

    assert_api_error(
        &admin.post(&members, &json!({"username": "nobody"})).await,
        404,
    );
    assert_api_error(
        &admin
            .post(
                "/api/v1/groups/999999/members",
                &json!({"username": "adele"}),
            )
            .await,
        404,
    );
    assert_eq!(admin.delete(&format!("{members}/adele")).await.status, 204);
    assert_api_error(&admin.delete(&format!("{members}/adele")).await, 404);
    assert_api_error(
        &admin.delete("/api/v1/groups/nope/members/adele").await,
        404,
    );
}

#[tokio::test]
async fn the_audit_log_is_read_by_connector_and_position() {
    let (server, admin) = admin().await;
    let scim = server.connector("entra").await;
    scim.create_user("adele@contoso.com").await;
    scim.create_user("bob@contoso.com").await;
    admin
        .post("/api/v1/users", &json!({"username": "carol"}))
        .await;

    let entra = admin.get("/api/v1/audit?connector=entra").await;
    assert_eq!(entra.status, 200, "{}", entra.text);
    let rows = entra.body["entries"].as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["connector_id"] == "entra"),
        "{}",
        entra.text
    );
    assert!(
        rows.iter()
            .any(|r| r["subject"]["name"] == "bob@contoso.com")
    );
    assert!(!entra.text.contains("carol"));

    let first = admin.get("/api/v1/audit?limit=1").await;
    let since = first.body["next_since"].as_i64().expect("a full page");
    let rest = admin.get(&format!("/api/v1/audit?since={since}")).await;
    assert!(
        rest.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["seq"].as_i64().unwrap() > since)
    );
    assert!(rest.body["next_since"].is_null());
    let newest = admin.get("/api/v1/audit?newest_first=true&limit=1").await;
    assert_eq!(newest.body["entries"][0]["subject"]["name"], "carol");
    assert_api_error(&admin.get("/api/v1/audit?since=abc").await, 400);
}

#[tokio::test]
async fn api_tokens_are_made_listed_without_secrets_and_revoked() {
    let (server, admin) = admin().await;
    let r = admin
        .post(
            "/api/v1/api-tokens",
            &json!({"scope": "admin", "description": "deploy"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("roster_admin_"));
    assert_eq!(r.body["scope"], "admin");
    assert!(
        r.body["created_by"]
            .as_str()
            .unwrap()
            .starts_with("admin:token:")
    );
    let id = r.body["id"].as_str().unwrap().to_owned();

    let second = Caller::bearer(&server, &token);
    let list = second.get("/api/v1/api-tokens").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["tokens"].as_array().unwrap().len(), 2);
    assert!(!list.text.contains(&token));
    assert!(!list.text.contains(token.rsplit('_').next().unwrap()));

    for bad in [
        json!({"scope": "root"}),
        json!({"scope": "app", "expires_at": "2001-01-01T00:00:00Z"}),
    ] {
        assert_api_error(&admin.post("/api/v1/api-tokens", &bad).await, 400);
    }
    assert_eq!(
        admin
            .delete(&format!("/api/v1/api-tokens/{id}"))
            .await
            .status,
        204
    );
    assert_api_error(&second.get("/api/v1/api-tokens").await, 401);
    assert_api_error(
        &admin.delete(&format!("/api/v1/api-tokens/{id}")).await,
        404,
    );
}

// ---- the application API ----

#[tokio::test]
async fn apps_see_the_effective_directory() {
    let (server, admin) = admin().await;
    let app = Caller::bearer(&server, &server.api_token(ApiScope::App).await);
    let scim = server.connector("entra").await;
    let adele = scim.create_user("adele@contoso.com").await;
    let bob = scim.create_user("bob@contoso.com").await;
    scim.create_group("Sales", &[&adele, &bob]).await;
    // Adele also exists in `internal`, first in the order, with no groups: that one wins.
    admin
        .post(
            "/api/v1/users",
            &json!({"username": "Adele@Contoso.com", "display_name": "Adele (local)"}),
        )
        .await;
    admin
        .post("/api/v1/groups", &json!({"name": "sales"}))
        .await;

    let users = app.get("/api/v1/directory/users").await;
    assert_eq!(users.status, 200, "{}", users.text);
    assert_eq!(users.body["total"], 2);
    assert_eq!(users.body["users"][0]["display_name"], "Adele (local)");
    assert_eq!(users.body["users"][0]["directory"], "internal");
    assert!(users.body["users"][0].get("idp_id").is_none());
    let page = app.get("/api/v1/directory/users?limit=1").await;
    let next = page.body["next"].as_str().unwrap();
    let page2 = app
        .get(&format!("/api/v1/directory/users?limit=1&after={next}"))
        .await;
    assert_eq!(page2.body["users"][0]["username"], "bob@contoso.com");
    assert!(page2.body["next"].is_null());

    let one = app.get("/api/v1/directory/users/ADELE@contoso.com").await;
    assert_eq!(one.body["directory"], "internal");
    assert_eq!(one.body["groups"], json!([]));
    let bob_detail = app.get("/api/v1/directory/users/bob@contoso.com").await;
    assert_eq!(bob_detail.body["groups"], json!(["Sales"]));
    assert_api_error(&app.get("/api/v1/directory/users/nobody").await, 404);

    // One group per name, of the earliest directory.
    let groups = app.get("/api/v1/directory/groups").await;
    assert_eq!(groups.body["total"], 1, "{}", groups.text);
    assert_eq!(groups.body["groups"][0]["name"], "sales");
    assert_eq!(groups.body["groups"][0]["directory"], "internal");
    // Its members: the effective users whose own directory has them in a group so named.
    // Adele is hidden by her internal namesake, who is in no group.
    let members = app.get("/api/v1/directory/groups/SALES/members").await;
    assert_eq!(members.status, 200, "{}", members.text);
    let names: Vec<&str> = members.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, ["bob@contoso.com"]);
    assert_api_error(&app.get("/api/v1/directory/groups/nope/members").await, 404);
    for bad in ["limit=5000", "after=not-hex"] {
        assert_api_error(
            &app.get(&format!("/api/v1/directory/users?{bad}")).await,
            400,
        );
    }
}

#[tokio::test]
async fn the_change_feed_follows_the_audit_log() {
    let (server, admin) = admin().await;
    let app = Caller::bearer(&server, &server.api_token(ApiScope::App).await);
    let scim = server.connector("entra").await;

    let start = app.get("/api/v1/changes").await;
    assert_eq!(start.status, 200, "{}", start.text);
    let position = start.body["next_after"].as_i64().expect("a position");

    scim.create_user("adele@contoso.com").await;
    admin
        .put(
            "/api/v1/connectors/entra/settings",
            &json!({"settings": {"groups": {"always_assign": ["secret-group"]}}}),
        )
        .await;
    let feed = app.get(&format!("/api/v1/changes?after={position}")).await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    let changes = feed.body["changes"].as_array().unwrap();
    let created = changes
        .iter()
        .find(|c| c["action"] == "user.create")
        .expect("the SCIM create");
    assert_eq!(created["subject"]["name"], "adele@contoso.com");
    assert_eq!(created["actor"], "connector:entra");
    assert!(
        changes
            .iter()
            .all(|c| c["seq"].as_i64().unwrap() > position)
    );
    // Settings are the admins': the feed skips them, and its position passes them.
    assert!(changes.iter().all(|c| c["subject"]["kind"] != "settings"));
    assert!(!feed.text.contains("secret-group"));
    let last = feed.body["next_after"].as_i64().unwrap();
    let audit = admin.get("/api/v1/audit?newest_first=true&limit=1").await;
    assert_eq!(audit.body["entries"][0]["seq"].as_i64().unwrap(), last);
    assert_eq!(audit.body["entries"][0]["action"], "settings.set");

    let after = app.get(&format!("/api/v1/changes?after={last}")).await;
    assert_eq!(after.body["changes"], json!([]));
    assert_eq!(after.body["next_after"], last);

    // Paging oldest first.
    let one = app
        .get(&format!("/api/v1/changes?after={position}&limit=1"))
        .await;
    assert_eq!(one.body["changes"].as_array().unwrap().len(), 1);
    assert_eq!(one.body["changes"][0]["seq"], changes[0]["seq"]);
    assert_api_error(&app.get("/api/v1/changes?limit=0").await, 400);
    assert_api_error(&app.get("/api/v1/changes?after=x").await, 400);
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let server = TestServer::start().await;
    let r = Caller::anonymous(&server).get("/api/openapi.json").await;
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    assert!(r.body["paths"]["/api/v1/connectors/{id}/mapping-test"]["post"].is_object());
    assert!(r.body["paths"]["/api/v1/changes"]["get"].is_object());
}

#[tokio::test]
async fn the_change_feed_shows_no_idp_links_or_cleanup_state() {
    let (server, admin) = admin().await;
    let app = Caller::bearer(&server, &server.api_token(ApiScope::App).await);
    let scim = server.connector("entra").await;
    let user_id = scim.create_user("adele@contoso.com").await;
    let group_id = scim.create_group("Sales", &[&user_id]).await;
    // Deleted in the IdP: a cleanup rule acts on the directory user.
    assert_eq!(scim.delete(&format!("/Users/{user_id}")).await.status, 204);

    // The admins' audit log has all of it.
    let audit = admin.get("/api/v1/audit?limit=1000").await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    assert!(audit.text.contains("idp_id"), "{}", audit.text);
    assert!(audit.text.contains(&user_id), "{}", audit.text);

    let feed = app.get("/api/v1/changes?limit=1000").await;
    assert_eq!(feed.status, 200, "{}", feed.text);
    assert!(
        feed.body["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["action"] == "user.create"),
        "{}",
        feed.text
    );
    for hidden in [
        "idp_id",
        "idp_group",
        "cleanup",
        "cleaned_up",
        &user_id,
        &group_id,
    ] {
        assert!(!feed.text.contains(hidden), "{hidden} in {}", feed.text);
    }
}

#[tokio::test]
async fn api_answers_are_never_cached() {
    let (server, admin) = admin().await;
    let made = admin
        .post(
            "/api/v1/api-tokens",
            &json!({"scope": "app", "description": "cache"}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    assert!(made.body["token"].is_string());
    let listed = admin.get("/api/v1/users").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let refused = Caller::anonymous(&server).get("/api/v1/users").await;
    assert_eq!(refused.status, 401);
    for r in [&made, &listed, &refused] {
        assert_eq!(r.header("cache-control"), Some("no-store"), "{}", r.text);
    }
}

#[tokio::test]
async fn bad_input_is_a_client_error_never_a_server_error() {
    let (server, admin) = admin().await;
    let app = Caller::bearer(&server, &server.api_token(ApiScope::App).await);
    let scim = server.connector("entra").await;
    scim.create_user("adele@contoso.com").await;
    let gets = [
        "/api/v1/users?limit=99999999999",
        "/api/v1/users?limit=-1",
        "/api/v1/users?after=00",
        "/api/v1/users?after=5b22",
        "/api/v1/users?after=ffff",
        "/api/v1/users?after=%FF",
        "/api/v1/users?directory=%00",
        "/api/v1/users/%FF",
        "/api/v1/users/%00",
        "/api/v1/groups?after=7b7d",
        "/api/v1/audit?since=-9223372036854775808",
        "/api/v1/audit?limit=0",
        "/api/v1/connectors/%FF",
        "/api/v1/connectors/nope/request-log?since=2026-13-01T00:00:00Z",
        "/api/v1/connectors/entra/request-log?since=yesterday",
        "/api/v1/connectors/entra/request-log?before=-9223372036854775808",
        "/api/v1/connectors/entra/request-log?status=99999",
        "/api/v1/connectors/entra/request-log/99999999999999999999",
        "/api/v1/connectors/entra/results?outcome=%FF",
        "/api/v1/connectors/entra/results?limit=1001",
        "/api/v1/connectors/nope/settings",
        "/api/v1/connectors/nope/results",
    ];
    for path in gets {
        let r = admin.get(path).await;
        assert!(r.status < 500, "{path}: {} {}", r.status, r.text);
    }
    for path in [
        "/api/v1/directory/users?after=5b22",
        "/api/v1/directory/users?after=ffff",
        "/api/v1/directory/users/%FF",
        "/api/v1/directory/groups/%FF/members",
        "/api/v1/directory/groups?after=7b7d",
        "/api/v1/changes?after=-9223372036854775808&limit=1000",
    ] {
        let r = app.get(path).await;
        assert!(r.status < 500, "{path}: {} {}", r.status, r.text);
    }
    let posts: [(&str, Value); 7] = [
        ("/api/v1/connectors", json!({"name": "x", "id": "../x"})),
        ("/api/v1/connectors", json!({"name": 5})),
        (
            "/api/v1/connectors/entra/tokens",
            json!({"expires_at": "9999-12-31T23:59:59Z"}),
        ),
        (
            "/api/v1/connectors/nope/mapping-test",
            json!({"user": {"userName": "a"}}),
        ),
        (
            "/api/v1/connectors/entra/mapping-test",
            json!({"user_id": "no-such-user"}),
        ),
        (
            "/api/v1/groups/no-such-group/members",
            json!({"username": "adele@contoso.com"}),
        ),
        (
            "/api/v1/users",
            json!({"username": "", "directory": "nope"}),
        ),
    ];
    for (path, body) in posts {
        let r = admin.post(path, &body).await;
        assert!(r.status < 500, "{path} {body}: {} {}", r.status, r.text);
    }
    let r = admin
        .put("/api/v1/directories/order", &json!({"order": ["x", "x"]}))
        .await;
    assert!(r.status < 500, "{} {}", r.status, r.text);
}

#[tokio::test]
async fn every_documented_endpoint_needs_its_kind_of_caller() {
    let server = TestServer::start().await;
    let anon = Caller::anonymous(&server);
    let app = Caller::bearer(&server, &server.api_token(ApiScope::App).await);
    let scim = Caller {
        authorization: server.connector("entra").await.authorization.clone(),
        ..Caller::anonymous(&server)
    };
    let doc = anon.get("/api/openapi.json").await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    let mut checked = 0;
    for (path, item) in doc.body["paths"].as_object().expect("paths") {
        if path == "/api/openapi.json" {
            continue;
        }
        // Every parameter filled in: who is asking is checked before what is asked for.
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "entra" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let for_apps = path.starts_with("/api/v1/directory/") || path == "/api/v1/changes";
        for method in item.as_object().expect("methods").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            for (caller, want) in [
                (&anon, 401),
                (&scim, 401),
                (&app, if for_apps { 200 } else { 403 }),
            ] {
                let r = caller.send(method.clone(), &concrete, body.as_ref()).await;
                if want == 200 {
                    assert!(
                        r.status < 400 || r.status == 404,
                        "{method} {concrete}: {}",
                        r.text
                    );
                } else {
                    assert_eq!(r.status, want, "{method} {concrete}: {}", r.text);
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} endpoints documented");
    assert!(server.store.connectors().await.unwrap().len() == 1);
}
