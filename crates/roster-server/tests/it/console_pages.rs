//! The console's connector pages (settings, preview, apply, the mapping tester, sync results,
//! the request log) and directory pages (directories, users, a user, groups), over real HTTP
//! with a session made through the store.

use std::time::{Duration, Instant};

use reqwest::header;
use roster_core::admin::{self, NewRequestLog};
use roster_core::directory::MembershipOrigin;
use roster_core::store::UserQuery;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::common::{Conn, Reply, TestServer};

/// A signed-in administrator's browser: the session cookie, its CSRF token, and a client that
/// does not follow redirects (so that a 303 can be seen).
struct Console<'a> {
    server: &'a TestServer,
    cookie: String,
    csrf: String,
    client: reqwest::Client,
}

impl<'a> Console<'a> {
    async fn sign_in(server: &'a TestServer) -> Self {
        Self::sign_in_as(server, "alice").await
    }

    async fn sign_in_as(server: &'a TestServer, username: &str) -> Self {
        server
            .admin_account(username, "correct horse battery staple")
            .await;
        let (cookie, record) = admin::new_session(
            username,
            OffsetDateTime::now_utc(),
            time::Duration::hours(1),
        )
        .expect("new session");
        server
            .store
            .admin()
            .create_session(&record)
            .await
            .expect("store session");
        let value = cookie.expose();
        Self {
            server,
            // The name depends on whether the server's cookies are `Secure`; only the right
            // one is read.
            cookie: format!("roster_session={value}; __Host-roster_session={value}"),
            csrf: record.csrf.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    async fn get(&self, path: &str) -> Reply {
        Reply::from(
            self.client
                .get(self.url(path))
                .header(header::COOKIE, &self.cookie),
        )
        .await
    }

    /// A form post, sent as a browser sends it.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            body.append_pair(k, v);
        }
        Reply::from(
            self.client
                .post(self.url(path))
                .header(header::COOKIE, &self.cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.finish()),
        )
        .await
    }

    /// A script's JSON post, with the session's CSRF header unless `csrf` is false.
    async fn post_json(&self, path: &str, body: &Value, csrf: bool) -> Reply {
        let mut rb = self
            .client
            .post(self.url(path))
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if csrf {
            rb = rb.header("x-csrf-token", &self.csrf);
        }
        Reply::from(rb).await
    }

    /// Posts the settings form with `action`.
    async fn settings(&self, connector: &str, text: &str, version: i64, action: &str) -> Reply {
        let version = version.to_string();
        self.post(
            &format!("/console/connectors/{connector}/settings"),
            &[
                ("csrf", self.csrf.as_str()),
                ("version", &version),
                ("settings", text),
                ("action", action),
            ],
        )
        .await
    }
}

/// The settings document the tests propose: usernames without their domain, and everyone in
/// `jira-everyone`.
const PROPOSED: &str = r#"[mapping]
username = "strip_domain(user.userName)"

[groups]
always_assign = ["jira-everyone"]
"#;

/// A server with connector `okta`, two users provisioned over SCIM and a group with one of
/// them: `adele@contoso.com` in `Jira Users`, and `ben@contoso.com`.
async fn provisioned() -> (TestServer, Conn, String) {
    let server = TestServer::start().await;
    let okta = server.connector("okta").await;
    let adele = okta.create_user("adele@contoso.com").await;
    okta.create_user("ben@contoso.com").await;
    okta.create_group("Jira Users", &[&adele]).await;
    (server, okta, adele)
}

async fn settings_version(server: &TestServer, connector: &str) -> i64 {
    server
        .store
        .directory()
        .settings(connector)
        .await
        .expect("settings")
        .version
}

fn assert_html(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/html"), "content type {ct}: {}", r.text);
}

/// Every `data-status="…"` of a page, in order.
fn statuses(html: &str) -> Vec<u16> {
    html.split("data-status=\"")
        .skip(1)
        .map(|rest| {
            rest[..rest.find('"').expect("closing quote")]
                .parse()
                .expect("a status")
        })
        .collect()
}

#[tokio::test]
async fn the_settings_page_shows_the_template_and_explains_every_field() {
    let (server, _okta, _) = provisioned().await;
    let console = Console::sign_in(&server).await;
    let r = console.get("/console/connectors/okta/settings").await;
    assert_html(&r, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    for id in [
        "id=\"settings-form\"",
        "id=\"settings\"",
        "id=\"preview\"",
        "id=\"save\"",
        "id=\"mapping-tester\"",
        "id=\"mapping-result\"",
        "/console/static/settings.js",
    ] {
        assert!(r.text.contains(id), "{id} missing");
    }
    // The editor holds the commented template while nothing is saved.
    assert!(
        r.text.contains("# Roster connector settings."),
        "{}",
        r.text
    );
    assert!(r.text.contains("the defaults: never saved"));
    // Applying the stored settings is always at hand.
    assert_eq!(r.text.matches("id=\"apply\"").count(), 1);
    // Every field is explained beside it.
    for field in [
        "username",
        "display_name",
        "email",
        "first_name",
        "last_name",
        "active",
        "drop",
        "[mapping.attributes]",
        "only_assign",
        "never_assign",
        "always_assign",
        "never_remove",
        "required",
        "deleted",
        "not_in_required",
        "dropped",
        "remove_memberships",
        "from_directory",
    ] {
        assert!(
            r.text.contains(&format!("<code>{field}</code>")),
            "{field} is not explained"
        );
    }
    assert!(r.text.contains("strip_domain(user.userName)"));
    assert!(r.text.contains("The IdP is authoritative"));
    // The tester offers the provisioned users.
    assert!(r.text.contains(">adele@contoso.com ("), "{}", r.text);

    let missing = console.get("/console/connectors/nope/settings").await;
    assert_html(&missing, 404);
    assert!(missing.text.contains("nope"), "{}", missing.text);

    // Without a session: to the login page, and back here afterwards.
    let anonymous = server
        .raw(reqwest::Method::GET, "/console/connectors/okta/settings")
        .send()
        .await
        .expect("send");
    assert!(
        anonymous.url().path().starts_with("/console/login"),
        "{}",
        anonymous.url()
    );
}

#[tokio::test]
async fn invalid_settings_are_refused_with_field_and_position_and_the_text_is_kept() {
    let (server, _okta, _) = provisioned().await;
    let console = Console::sign_in(&server).await;

    let text = "# mine\n[mapping]\nemail = \"primary_email(user\"\n";
    let r = console.settings("okta", text, 0, "save").await;
    assert_html(&r, 400);
    assert!(r.text.contains("id=\"settings-problems\""), "{}", r.text);
    assert!(r.text.contains("mapping.email"));
    // `primary_email(user` fails at character 19 of the expression, which starts at
    // column 10 of line 3.
    assert!(r.text.contains("line 3, column 28"), "{}", r.text);
    assert!(r.text.contains("data-line=\"3\" data-column=\"28\""));
    assert!(r.text.contains("# mine"), "the text is kept");
    assert!(r.text.contains("primary_email(user"));
    assert_eq!(settings_version(&server, "okta").await, 0, "nothing saved");

    // A misspelt field: the document's own position.
    let r = console
        .settings("okta", "[groups]\nonly = [\"x\"]\n", 0, "preview")
        .await;
    assert_html(&r, 400);
    assert!(r.text.contains("unknown field"), "{}", r.text);
    assert!(r.text.contains("line 2, column 1"), "{}", r.text);

    // A bad regular expression in a list: the entry's own line.
    let r = console
        .settings(
            "okta",
            "[groups]\nnever_remove = [\n  \"ok\",\n  \"team (eu\",\n]\n",
            0,
            "save",
        )
        .await;
    assert_html(&r, 400);
    assert!(r.text.contains("groups.never_remove[1]"), "{}", r.text);
    assert!(r.text.contains("line 4, column 3"), "{}", r.text);
    assert_eq!(settings_version(&server, "okta").await, 0);
}

#[tokio::test]
async fn preview_shows_the_changes_for_users_provisioned_over_scim_and_apply_makes_them() {
    let (server, _okta, _) = provisioned().await;
    let console = Console::sign_in(&server).await;
    let dir = server.store.directory();
    assert!(dir.user("adele@contoso.com").await.unwrap().is_some());

    let r = console.settings("okta", PROPOSED, 0, "preview").await;
    assert_html(&r, 200);
    assert!(r.text.contains("id=\"preview-summary\""), "{}", r.text);
    assert!(
        r.text.contains("data-count=\"renamed\"><strong>2</strong>"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("data-count=\"memberships added\"><strong>2</strong>")
    );
    assert!(
        r.text.contains("renamed adele@contoso.com → adele"),
        "{}",
        r.text
    );
    assert!(r.text.contains("<strong>jira-everyone</strong>"));
    assert!(r.text.contains("id=\"save-apply\""));
    assert!(r.text.contains("id=\"back-to-editing\""));
    // The proposal rides along, and nothing was written.
    assert!(r.text.contains("strip_domain(user.userName)"));
    assert_eq!(settings_version(&server, "okta").await, 0);
    assert!(dir.user("adele").await.unwrap().is_none());

    // Back to editing keeps the text and saves nothing.
    let back = console.settings("okta", PROPOSED, 0, "edit").await;
    assert_html(&back, 200);
    assert!(
        back.text
            .contains("always_assign = [&#34;jira-everyone&#34;]"),
        "{}",
        back.text
    );
    assert!(back.text.contains("id=\"settings-form\""));
    assert_eq!(settings_version(&server, "okta").await, 0);

    // Save and apply: stored, and every user re-synced now.
    let r = console.settings("okta", PROPOSED, 0, "save_apply").await;
    assert_html(&r, 200);
    assert!(r.text.contains("<h1>Applied</h1>"), "{}", r.text);
    assert_eq!(settings_version(&server, "okta").await, 1);
    assert!(dir.user("adele@contoso.com").await.unwrap().is_none());
    let adele = dir.user("adele").await.unwrap().expect("renamed");
    let origins: Vec<(String, MembershipOrigin)> = adele.users[0]
        .memberships
        .iter()
        .map(|m| (m.group.clone(), m.origin))
        .collect();
    assert_eq!(
        origins,
        [
            ("Jira Users".to_owned(), MembershipOrigin::Idp),
            ("jira-everyone".to_owned(), MembershipOrigin::Rule)
        ]
    );
}

#[tokio::test]
async fn save_redirects_with_a_notice_and_apply_changes_the_directory() {
    let (server, _okta, _) = provisioned().await;
    let console = Console::sign_in(&server).await;
    let r = console.settings("okta", PROPOSED, 0, "save").await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        r.header("location"),
        Some("/console/connectors/okta/settings?saved=1")
    );
    assert_eq!(settings_version(&server, "okta").await, 1);
    // Saved, not applied: the directory waits for the IdP's next writes.
    let dir = server.store.directory();
    assert!(dir.user("adele@contoso.com").await.unwrap().is_some());

    let page = console
        .get("/console/connectors/okta/settings?saved=1")
        .await;
    assert_html(&page, 200);
    assert!(page.text.contains("Saved as version 1"));
    assert_eq!(
        page.text.matches("id=\"apply\"").count(),
        1,
        "in the notice"
    );
    // The editor now holds the stored document, at its version.
    assert!(page.text.contains("name=\"version\" value=\"1\""));
    assert!(page.text.contains("strip_domain(user.userName)"));

    let r = console
        .post(
            "/console/connectors/okta/apply",
            &[("csrf", console.csrf.as_str())],
        )
        .await;
    assert_html(&r, 200);
    assert!(
        r.text.contains("data-count=\"renamed\"><strong>2</strong>"),
        "{}",
        r.text
    );
    assert!(dir.user("adele@contoso.com").await.unwrap().is_none());
    assert!(dir.user("ben").await.unwrap().is_some());
    // An apply is audited as the admin who ran it.
    let rows = dir
        .audit(&roster_core::store::AuditQuery {
            newest_first: true,
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        rows.iter().any(|r| r.actor.to_string() == "admin:alice"),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_save_based_on_an_old_version_is_refused_with_409_and_the_text_is_kept() {
    let (server, _okta, _) = provisioned().await;
    let console = Console::sign_in(&server).await;
    let first = console.settings("okta", PROPOSED, 0, "save").await;
    assert_eq!(first.status, 303, "{}", first.text);

    let mine = "[cleanup]\ndeleted = \"delete\"\n";
    let r = console.settings("okta", mine, 0, "save").await;
    assert_html(&r, 409);
    assert!(r.text.contains("changed elsewhere"), "{}", r.text);
    assert!(r.text.contains("deleted = &#34;delete&#34;"), "{}", r.text);
    let stored = server.store.directory().settings("okta").await.unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(
        stored.settings.mapping.username,
        "strip_domain(user.userName)"
    );
    // Save and apply from a stale preview is refused the same way, and applies nothing.
    let r = console.settings("okta", mine, 0, "save_apply").await;
    assert_html(&r, 409);
    assert_eq!(settings_version(&server, "okta").await, 1);
}

#[tokio::test]
async fn forged_posts_are_refused_and_change_nothing() {
    let (server, _okta, _) = provisioned().await;
    let console = Console::sign_in(&server).await;
    let other = Console::sign_in_as(&server, "bob").await;
    let path = "/console/connectors/okta/settings";
    for csrf in ["", "not-the-token", other.csrf.as_str()] {
        let r = console
            .post(
                path,
                &[
                    ("csrf", csrf),
                    ("version", "0"),
                    ("settings", PROPOSED),
                    ("action", "save"),
                ],
            )
            .await;
        assert_html(&r, 403);
        let r = console
            .post("/console/connectors/okta/apply", &[("csrf", csrf)])
            .await;
        assert_html(&r, 403);
    }
    // No field at all.
    let r = console
        .post(
            path,
            &[
                ("version", "0"),
                ("settings", PROPOSED),
                ("action", "save_apply"),
            ],
        )
        .await;
    assert_html(&r, 403);
    assert_eq!(settings_version(&server, "okta").await, 0);
    assert!(
        server
            .store
            .directory()
            .user("adele@contoso.com")
            .await
            .unwrap()
            .is_some(),
        "nothing applied"
    );
    let before = server.store.directory().directories().await.unwrap();
    let r = console
        .post("/console/directories/order", &[("order", "okta,internal")])
        .await;
    assert_html(&r, 403);
    assert_eq!(
        server.store.directory().directories().await.unwrap(),
        before
    );
    // The tester's JSON endpoint wants the header.
    let r = console
        .post_json(
            "/console/connectors/okta/settings/test",
            &json!({"settings": "", "user_id": "x"}),
            false,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
}

#[tokio::test]
async fn the_mapping_tester_runs_the_editors_text_on_a_provisioned_or_pasted_user() {
    let (server, _okta, adele) = provisioned().await;
    let console = Console::sign_in(&server).await;
    let path = "/console/connectors/okta/settings/test";

    let r = console
        .post_json(path, &json!({"settings": PROPOSED, "user_id": adele}), true)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["username"], "adele");
    assert_eq!(r.body["user"]["email"], "adele@contoso.com");
    assert_eq!(r.body["outcome"], "updated");
    assert_eq!(
        r.body["memberships"],
        json!([
            {"group": "Jira Users", "idp_group": r.body["groups"][0]["scim_id"], "origin": "idp"},
            {"group": "jira-everyone", "idp_group": null, "origin": "rule"},
        ])
    );
    assert_eq!(r.body["groups"][0]["state"], "imported");
    // Nothing was saved or synced.
    assert_eq!(settings_version(&server, "okta").await, 0);
    assert!(
        server
            .store
            .directory()
            .user("adele")
            .await
            .unwrap()
            .is_none()
    );

    // A pasted user, new to the directory.
    let pasted = json!({
        "userName": "carol@fabrikam.com",
        "name": {"givenName": "Carol", "familyName": "Chen"},
        "groups": [{"display": "Jira Users"}],
        "password": "never-shown",
    });
    let r = console
        .post_json(path, &json!({"settings": PROPOSED, "user": pasted}), true)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["username"], "carol");
    assert_eq!(r.body["outcome"], "created");
    assert_eq!(r.body["user"]["display_name"], "Carol Chen");

    // The editor's problems, placed in the editor's text.
    let r = console
        .post_json(
            path,
            &json!({"settings": "[mapping]\nusername = \"lowr(user.userName)\"\n", "user_id": adele}),
            true,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["problems"][0]["field"], "mapping.username");
    assert_eq!(r.body["problems"][0]["line"], 2);
    assert!(r.body["problems"][0]["column"].as_u64().unwrap() > 12);

    // A user that is not there, or none at all.
    let r = console
        .post_json(
            path,
            &json!({"settings": "", "user_id": "no-such-user"}),
            true,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = console
        .post_json(path, &json!({"settings": ""}), true)
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // The picker's search.
    let r = console
        .get("/console/connectors/okta/settings/idp-users?search=BEN")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["users"][0]["userName"], "ben@contoso.com");
}

#[tokio::test]
async fn sync_results_list_runs_and_outcomes_filterable_by_outcome() {
    let (server, _okta, _) = provisioned().await;
    let console = Console::sign_in(&server).await;
    let r = console.get("/console/connectors/okta/results").await;
    assert_html(&r, 200);
    assert!(r.text.contains("id=\"runs\""), "{}", r.text);
    assert!(r.text.contains("data-source=\"scim\""));
    assert!(r.text.contains("id=\"results\""));
    assert!(r.text.contains("data-outcome=\"created\""));
    assert!(r.text.contains("adele@contoso.com"));

    let r = console
        .get("/console/connectors/okta/results?outcome=failed")
        .await;
    assert_html(&r, 200);
    assert!(!r.text.contains("id=\"results\""), "{}", r.text);
    assert!(r.text.contains("id=\"no-results\""));

    let r = console
        .get("/console/connectors/okta/results?outcome=bogus")
        .await;
    assert_html(&r, 400);
    assert!(r.text.contains("bogus"));
    let r = console.get("/console/connectors/nope/results").await;
    assert_html(&r, 404);
}

/// A logged request of connector `connector` at `at`.
fn logged(
    connector: &str,
    at: OffsetDateTime,
    method: &str,
    path: &str,
    status: u16,
) -> NewRequestLog {
    NewRequestLog {
        at,
        connector_id: connector.to_owned(),
        request_id: Some(format!("req-{path}-{status}")),
        method: method.to_owned(),
        path: path.to_owned(),
        status,
        duration_ms: 7,
        request_body: None,
        response_body: None,
    }
}

#[tokio::test]
async fn the_request_log_filters_by_status_and_time_pages_and_shows_masked_bodies() {
    let server = TestServer::start().await;
    server.create_connector("okta").await;
    server.create_connector("entra").await;
    let console = Console::sign_in(&server).await;
    let t0 = OffsetDateTime::now_utc() - time::Duration::hours(2);
    let mut entries = Vec::new();
    for i in 0..55 {
        entries.push(logged(
            "okta",
            t0 + time::Duration::seconds(i),
            "GET",
            &format!("/Users?startIndex={i}"),
            200,
        ));
    }
    let mut failed = logged(
        "okta",
        t0 + time::Duration::minutes(10),
        "POST",
        "/Users",
        409,
    );
    failed.request_body = Some(admin::mask_secrets(
        br#"{"userName":"adele","password":"hunter2-secret"}"#,
    ));
    failed.response_body = Some(admin::mask_secrets(
        br#"{"status":"409","scimType":"uniqueness","detail":"userName is taken"}"#,
    ));
    entries.push(failed);
    entries.push(logged(
        "okta",
        t0 + time::Duration::minutes(11),
        "GET",
        "/Users/x",
        404,
    ));
    entries.push(logged(
        "entra",
        t0 + time::Duration::minutes(12),
        "GET",
        "/Groups/entra-only",
        500,
    ));
    server.store.admin().log_requests(&entries).await.unwrap();

    let r = console.get("/console/connectors/okta/log").await;
    assert_html(&r, 200);
    assert!(r.text.contains("id=\"request-log\""), "{}", r.text);
    assert!(
        !r.text.contains("entra-only"),
        "another connector's request"
    );
    let all = statuses(&r.text);
    assert_eq!(all.len(), 50, "one page");
    assert_eq!(&all[..2], [404, 409], "newest first");
    assert!(r.text.contains("id=\"log-older\""));

    // The older page, through the link the page gives.
    let older = r.text.split("id=\"log-older\"").next().unwrap();
    let href = older.rsplit("href=\"").next().unwrap();
    let href = href[..href.find('"').unwrap()].replace("&amp;", "&");
    let r2 = console.get(&href).await;
    assert_html(&r2, 200);
    assert_eq!(statuses(&r2.text).len(), 7, "{href}");
    assert!(!r2.text.contains("id=\"log-older\""));

    let failed_only = console
        .get("/console/connectors/okta/log?status=failed")
        .await;
    assert_html(&failed_only, 200);
    assert_eq!(statuses(&failed_only.text), [404, 409]);
    let success = console
        .get("/console/connectors/okta/log?status=success")
        .await;
    assert_eq!(statuses(&success.text).len(), 50);
    assert!(statuses(&success.text).iter().all(|s| *s < 400));
    let code = console.get("/console/connectors/okta/log?status=409").await;
    assert_eq!(statuses(&code.text), [409]);

    // A time range, as a datetime-local field sends it (UTC).
    let since = t0 + time::Duration::minutes(10);
    let since = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        since.year(),
        u8::from(since.month()),
        since.day(),
        since.hour(),
        since.minute()
    );
    let r = console
        .get(&format!("/console/connectors/okta/log?since={since}"))
        .await;
    assert_html(&r, 200);
    assert_eq!(statuses(&r.text), [404, 409], "{since}");
    let r = console
        .get(&format!(
            "/console/connectors/okta/log?until={since}&status=all"
        ))
        .await;
    assert_eq!(statuses(&r.text).len(), 50);
    assert!(statuses(&r.text).iter().all(|s| *s == 200));

    for bad in ["status=4xx", "since=yesterday", "before=abc"] {
        let r = console
            .get(&format!("/console/connectors/okta/log?{bad}"))
            .await;
        assert_html(&r, 400);
    }
    assert_html(&console.get("/console/connectors/nope/log").await, 404);

    // One request: its bodies, masked and indented.
    let seq = console
        .get("/console/connectors/okta/log?status=409")
        .await
        .text
        .split("data-seq=\"")
        .nth(1)
        .map(|s| s[..s.find('"').unwrap()].to_owned())
        .expect("a row");
    let r = console
        .get(&format!("/console/connectors/okta/log/{seq}"))
        .await;
    assert_html(&r, 200);
    assert!(r.text.contains("id=\"request-body\""), "{}", r.text);
    assert!(r.text.contains("***"));
    assert!(!r.text.contains("hunter2"));
    assert!(r.text.contains("userName is taken"));
    assert!(
        r.text.contains("\n  &#34;userName&#34;: &#34;adele&#34;"),
        "indented: {}",
        r.text
    );

    // Another connector's request is not found under this one.
    let entra = server
        .store
        .admin()
        .request_log(&roster_core::admin::RequestLogQuery {
            connector_id: Some("entra".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let r = console
        .get(&format!("/console/connectors/okta/log/{}", entra[0].seq))
        .await;
    assert_html(&r, 404);
    assert_html(&console.get("/console/connectors/okta/log/abc").await, 404);
}

#[tokio::test]
async fn a_failed_scim_request_appears_in_the_log_with_its_password_masked() {
    let server = TestServer::start().await;
    let okta = server.connector("okta").await;
    let console = Console::sign_in(&server).await;
    okta.create_user("adele@contoso.com").await;
    let mut again = crate::common::user("adele@contoso.com");
    again["password"] = json!("hunter2-secret");
    let r = okta.post("/Users", &again).await;
    assert_eq!(r.status, 409, "{}", r.text);

    // The log is written in the background, in batches: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = console
            .get("/console/connectors/okta/log?status=failed")
            .await;
        if statuses(&page.text).contains(&409) || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(statuses(&page.text), [409], "{}", page.text);
    let seq = page
        .text
        .split("data-seq=\"")
        .nth(1)
        .map(|s| s[..s.find('"').unwrap()].to_owned())
        .unwrap();
    let r = console
        .get(&format!("/console/connectors/okta/log/{seq}"))
        .await;
    assert_html(&r, 200);
    assert!(r.text.contains("/Users"));
    assert!(r.text.contains("***"), "{}", r.text);
    assert!(!r.text.contains("hunter2"), "{}", r.text);
    let all = console.get("/console/connectors/okta/log").await;
    assert!(statuses(&all.text).contains(&201), "{}", all.text);
}

#[tokio::test]
async fn users_are_searched_and_a_users_page_shows_memberships_origin_and_history() {
    let (server, _okta, _) = provisioned().await;
    let console = Console::sign_in(&server).await;

    let r = console.get("/console/users?search=ADELE").await;
    assert_html(&r, 200);
    assert!(r.text.contains("id=\"users\""), "{}", r.text);
    assert!(r.text.contains("id=\"search\""));
    assert!(r.text.contains("data-username=\"adele@contoso.com\""));
    assert!(!r.text.contains("data-username=\"ben@contoso.com\""));
    let r = console
        .get("/console/users?directory=okta&group=Jira%20Users")
        .await;
    assert_html(&r, 200);
    assert!(r.text.contains("data-username=\"adele@contoso.com\""));
    assert!(!r.text.contains("data-username=\"ben@contoso.com\""));
    assert_html(&console.get("/console/users?directory=nowhere").await, 400);
    assert_html(&console.get("/console/users?after=not-a-cursor").await, 400);

    // Paging: one user per page is not offered, but a cursor from the store works.
    let page = server
        .store
        .directory()
        .users(&UserQuery {
            limit: 1,
            ..UserQuery::default()
        })
        .await
        .unwrap();
    let next = page.next.expect("a second page");
    let r = console
        .get(&format!(
            "/console/users?after={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        ))
        .await;
    assert_html(&r, 200);
    assert!(r.text.contains("data-username=\"ben@contoso.com\""));
    assert!(!r.text.contains("data-username=\"adele@contoso.com\""));

    let r = console.get("/console/users/adele@contoso.com").await;
    assert_html(&r, 200);
    assert!(r.text.contains("id=\"effective-directory\""));
    assert!(r.text.contains("<strong class=\"mono\">okta</strong>"));
    assert!(
        r.text
            .contains("data-group=\"Jira Users\" data-origin=\"idp\""),
        "{}",
        r.text
    );
    assert!(r.text.contains("id=\"user-history\""));
    assert!(r.text.contains("data-action=\"user.create\""));
    assert!(r.text.contains("data-action=\"membership.add\""));
    assert!(r.text.contains("added to Jira Users (idp)"));
    assert!(r.text.contains("connector:okta"));

    let r = console.get("/console/users/nobody").await;
    assert_html(&r, 404);

    let r = console.get("/console/groups?search=jira").await;
    assert_html(&r, 200);
    assert!(r.text.contains("data-group=\"Jira Users\""), "{}", r.text);
    assert!(r.text.contains(">1</a>"), "one member");
    assert!(
        !console
            .get("/console/groups?search=nothing-like-it")
            .await
            .text
            .contains("data-group=")
    );
}

#[tokio::test]
async fn directories_are_listed_in_order_and_reordered() {
    let (server, _okta, _) = provisioned().await;
    let console = Console::sign_in(&server).await;
    let r = console.get("/console/directories").await;
    assert_html(&r, 200);
    assert!(r.text.contains("id=\"directories\""));
    let internal = r
        .text
        .find("data-directory=\"internal\"")
        .expect("internal");
    let okta = r.text.find("data-directory=\"okta\"").expect("okta");
    assert!(internal < okta, "in order");

    let r = console
        .post(
            "/console/directories/order",
            &[("csrf", console.csrf.as_str()), ("order", "okta, internal")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let order: Vec<String> = server
        .store
        .directory()
        .directories()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(order, ["okta", "internal"]);

    let r = console
        .post(
            "/console/directories/order",
            &[("csrf", console.csrf.as_str()), ("order", "okta")],
        )
        .await;
    assert_html(&r, 409);
    assert!(r.text.contains("internal"), "{}", r.text);
}

#[tokio::test]
async fn bad_addresses_and_forms_get_a_page_never_a_server_error() {
    let (server, _okta, _adele) = provisioned().await;
    let console = Console::sign_in(&server).await;
    for path in [
        "/console/users?after=%FF",
        "/console/users?after=garbage",
        "/console/users?after=%5B%22",
        "/console/users?directory=nope",
        "/console/users?group=%00",
        "/console/users/%FF",
        "/console/users/%00",
        "/console/groups?after=%7B%7D",
        "/console/connectors/%FF",
        "/console/connectors/nope/log",
        "/console/connectors/okta/log?since=2026-02-30T10:00",
        "/console/connectors/okta/log?before=-9223372036854775808",
        "/console/connectors/okta/log?before=99999999999999999999",
        "/console/connectors/okta/log?status=%FF",
        "/console/connectors/okta/log/-1",
        "/console/connectors/okta/log/99999999999999999999",
        "/console/connectors/okta/results?outcome=%FF",
        "/console/connectors/okta/settings?saved=%FF",
        "/console/connectors/okta/settings/idp-users?search=%25",
        "/console/?deleted=%3Cscript%3E",
    ] {
        let r = console.get(path).await;
        assert!(r.status < 500, "{path}: {} {}", r.status, r.text);
        assert!(!r.text.contains("<script>"), "{path}: {}", r.text);
    }
    let csrf = console.csrf.clone();
    for (path, fields) in [
        (
            "/console/connectors/okta/settings",
            vec![("csrf", csrf.as_str()), ("version", "x")],
        ),
        (
            "/console/connectors/okta/settings",
            vec![
                ("csrf", csrf.as_str()),
                ("version", "99999999999999999999"),
                ("settings", "[mapping"),
                ("action", "save"),
            ],
        ),
        (
            "/console/connectors/nope/tokens",
            vec![("csrf", csrf.as_str()), ("expires_in_days", "1")],
        ),
        (
            "/console/connectors/okta/tokens/nope/revoke",
            vec![("csrf", csrf.as_str())],
        ),
        (
            "/console/api-tokens/nope/revoke",
            vec![("csrf", csrf.as_str())],
        ),
        (
            "/console/directories/order",
            vec![("csrf", csrf.as_str()), ("order", "a,a,,b")],
        ),
        (
            "/console/connectors/new",
            vec![("csrf", csrf.as_str()), ("name", "\u{0}")],
        ),
    ] {
        let r = console.post(path, &fields).await;
        assert!(r.status < 500, "{path} {fields:?}: {} {}", r.status, r.text);
    }
    // A body that is not a form at all.
    let r = Reply::from(
        console
            .client
            .post(console.url("/console/directories/order"))
            .header(header::COOKIE, &console.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(vec![0xff_u8, 0xfe, b'=', b'%']),
    )
    .await;
    assert!(r.status < 500, "{} {}", r.status, r.text);
}
