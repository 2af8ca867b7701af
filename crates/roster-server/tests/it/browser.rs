//! The admin console in a real headless Chromium (see [`driver`]): what an administrator does
//! on a first day, end to end, against the real server and store. Each test drives the pages
//! as a person would (forms, buttons, links) and asserts on what the page shows.
//!
//! Run alone with `cargo test -p roster-server --test it browser::`; with
//! `ROSTER_SCREENSHOTS=DIR` the tests also save the README's screenshots there.

mod driver;

use std::sync::Arc;
use std::time::{Duration, Instant};

use roster_core::connector::Connector;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::common::{Conn, TestServer};
use driver::{PATIENCE, Page};

const ADMIN: &str = "ada";
const PASSWORD: &str = "correct horse battery staple";

/// The first administrator: the login page says how to create one while there is none; once
/// there is, a wrong password is refused on the page and the right one opens the dashboard;
/// signing out ends the session.
#[tokio::test]
async fn first_admin_signs_in() {
    // Shared with the browser task: the account is made half-way through, once the page has
    // shown that there is none.
    let server = Arc::new(TestServer::start().await);
    let url = server.url.clone();
    driver::run(move |page: Page| async move {
        // A console page without a session leads to the login page, which comes back after.
        page.goto(&format!("{url}/console/")).await;
        let path = page.wait_for_path("/console/login").await;
        assert!(
            path.contains("next="),
            "no way back to the dashboard: {path}"
        );
        let advice = page.text("#no-accounts").await;
        assert!(
            advice.contains("roster admin create"),
            "no advice on creating the first administrator: {advice}"
        );
        assert!(
            !page.exists("#login").await,
            "a login form with no accounts"
        );

        server.admin_account(ADMIN, PASSWORD).await;
        page.client.refresh().await.expect("reload");

        page.fill("#username", ADMIN).await;
        page.fill("#password", "not the password").await;
        page.click("#sign-in").await;
        let error = page.text("#login-error").await;
        assert!(
            !error.trim().is_empty() && !error.contains(PASSWORD),
            "the refusal says: {error:?}"
        );
        page.wait_for_path("/console/login").await;
        assert_eq!(page.value("#username").await, ADMIN, "the username is kept");
        assert!(
            !page.exists("#signed-in-as").await,
            "signed in with a wrong password"
        );

        page.fill("#password", PASSWORD).await;
        page.click("#sign-in").await;
        page.wait_for_path("/console/").await;
        assert_eq!(page.text("#signed-in-as").await, ADMIN);
        assert_eq!(page.text("h1").await, "Connectors");
        let empty = page.text("#no-connectors").await;
        assert!(
            empty.contains("Connect your first identity provider"),
            "the empty dashboard says: {empty}"
        );

        // Signing out ends the session: the dashboard asks for a login again.
        page.click("#logout button").await;
        page.wait_for_path("/console/login").await;
        page.goto(&format!("{url}/console/")).await;
        page.wait_for_path("/console/login").await;
        page.find("#login").await;
    })
    .await;
}

/// A connector made through the form gives a SCIM base URL and token that work as shown: an
/// Entra-shaped user provisioned with exactly those appears on the dashboard (with the counts)
/// and on the users page.
#[tokio::test]
async fn a_connector_made_in_the_console_receives_users() {
    let server = TestServer::start().await;
    server.admin_account(ADMIN, PASSWORD).await;
    let (url, client) = (server.url.clone(), server.client.clone());
    driver::run(move |page: Page| async move {
        sign_in(&page, &url).await;
        page.click("#new-connector-button").await;
        page.wait_for_path("/console/connectors/new").await;
        page.fill("#name", "Entra ID").await;
        page.click("#create-connector").await;

        // The next page's heading, not this one's: a click does not wait for the answer.
        page.wait_for_text("h1", "is ready").await;
        assert_eq!(page.text("h1").await, "Entra ID is ready");
        let base = page.text("#scim-base-url").await;
        assert_eq!(base, format!("{url}/scim/v2/entra-id"));
        let token = page.text("#scim-token").await;
        assert!(
            token.starts_with("roster_") && token.len() > 40,
            "the token shown: {token:?}"
        );
        let warning = page.text("#token-warning").await;
        assert!(warning.contains("shown only this once"), "{warning}");
        let steps = page.text("#setup-guide").await;
        assert!(
            steps.contains("Tenant URL") && steps.contains("SCIM connector base URL"),
            "no Entra ID and Okta steps: {steps}"
        );
        page.screenshot("connector-created").await;

        // What an administrator would paste into Entra ID, used as is.
        let mut members = Vec::new();
        for (i, person) in PEOPLE.iter().enumerate() {
            let (status, body) =
                scim_post(&client, &base, "/Users", &token, &entra_user(person)).await;
            assert_eq!(status, 201, "provision user {i}: {body}");
            members.push(json!({"value": body["id"]}));
        }
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "externalId": "c3b1c5a0-sales",
            "displayName": "Sales",
            "members": members,
        });
        let (status, body) = scim_post(&client, &base, "/Groups", &token, &group).await;
        assert_eq!(status, 201, "provision a group: {body}");

        page.goto(&format!("{url}/console/")).await;
        let row = "#connector-entra-id";
        assert!(
            page.text(&format!("{row} .connector-name")).await == "Entra ID",
            "the dashboard lists the connector by name"
        );
        let users = PEOPLE.len().to_string();
        assert_eq!(page.text(&format!("{row} .users")).await, users);
        assert_eq!(page.text(&format!("{row} .groups")).await, "1");
        assert_eq!(page.text("#total-groups").await, "1");
        assert_eq!(page.text("#total-users").await, users);
        assert_eq!(page.text(&format!("{row} .status")).await, "Enabled");
        // The request log is written in the background: the first request shows up shortly.
        reload_until(&page, &format!("{row} .last-activity"), |t| {
            !t.contains("No requests yet")
        })
        .await;
        page.screenshot("dashboard").await;

        page.click("#nav a[href='/console/users']").await;
        page.wait_for_path("/console/users").await;
        let adele = page
            .text("#users tr[data-username='AdeleV@contoso.onmicrosoft.com']")
            .await;
        assert!(
            adele.contains("Adele Vance") && adele.contains("AdeleV@contoso.com"),
            "the users page shows Adele as: {adele}"
        );
        assert!(
            adele.contains("entra-id"),
            "in the connector's directory: {adele}"
        );
        let heading = page.text(".card-header h2").await;
        assert_eq!(heading, format!("{users} users"));
    })
    .await;
}

/// A mapping change is previewed with the user's before and after, applied, and then shows on
/// the user's page.
#[tokio::test]
async fn a_settings_change_is_previewed_and_applied() {
    let server = TestServer::start().await;
    server.admin_account(ADMIN, PASSWORD).await;
    let entra = entra_connector(&server).await;
    provision(&entra).await;
    let url = server.url.clone();
    driver::run(move |page: Page| async move {
        sign_in(&page, &url).await;
        page.goto(&format!("{url}/console/connectors/entra-id/settings"))
            .await;
        page.find("#settings-form").await;
        page.set_value("#settings", FAMILY_FIRST).await;
        page.click("#preview").await;

        let summary = page.wait_for_text("#preview-summary", "would change").await;
        assert!(
            page.exists("#preview-summary[data-changes='true']").await,
            "the preview found no change: {summary}"
        );
        let adele = page
            .text("#preview-users tr[data-user='AdeleV@contoso.onmicrosoft.com']")
            .await;
        assert!(
            adele.contains("Adele Vance") && adele.contains("VANCE, Adele"),
            "the preview shows Adele's change as: {adele}"
        );
        // Nothing is written by a preview.
        let user_page = format!("{url}/console/users/AdeleV@contoso.onmicrosoft.com");
        let card = page.text_in_new_tab(&user_page, "#user-in-entra-id").await;
        assert!(card.contains("Adele Vance"), "before apply: {card}");
        page.screenshot("settings-preview").await;

        page.click("#save-apply").await;
        let applied = page.wait_for_text("h1", "Applied").await;
        assert_eq!(applied, "Applied");
        assert!(page.exists("#preview-summary[data-changes='true']").await);

        page.goto(&user_page).await;
        let card = page.text("#user-in-entra-id").await;
        assert!(
            card.contains("VANCE, Adele") && !card.contains("Adele Vance"),
            "after apply the user's page shows: {card}"
        );

        // The editor now holds the saved text.
        page.goto(&format!("{url}/console/connectors/entra-id/settings"))
            .await;
        assert!(
            page.value("#settings")
                .await
                .contains("upper(user.name.familyName)")
        );

        // The other way: save, then apply the stored settings from the notice.
        page.set_value("#settings", GIVEN_FIRST).await;
        page.click("#save").await;
        let notice = page
            .wait_for_text("#settings-notice", "Saved as version")
            .await;
        assert!(notice.contains("apply them now"), "{notice}");
        page.click("#settings-notice #apply").await;
        page.wait_for_text("h1", "Applied").await;
        let updated = page.text("#preview-summary [data-count='updated']").await;
        assert_eq!(updated, format!("{} updated", PEOPLE.len()));
        page.goto(&user_page).await;
        let card = page.text("#user-in-entra-id").await;
        assert!(
            card.contains("Adele VANCE"),
            "after the second apply: {card}"
        );
    })
    .await;
}

/// The request log lists the IdP's requests with their status, a failed one keeps its bodies,
/// and a password in them is masked.
#[tokio::test]
async fn the_request_log_shows_a_failed_request_masked() {
    let server = TestServer::start().await;
    server.admin_account(ADMIN, PASSWORD).await;
    let entra = entra_connector(&server).await;
    provision(&entra).await;
    let mut again = entra_user(&PEOPLE[0]);
    again["password"] = json!(SECRET_PASSWORD);
    let duplicate = entra.post("/Users", &again).await;
    assert_eq!(duplicate.status, 409, "{}", duplicate.text);
    let url = server.url.clone();
    driver::run(move |page: Page| async move {
        sign_in(&page, &url).await;
        page.goto(&format!("{url}/console/connectors/entra-id/log"))
            .await;
        // Written in the background, in batches: reload until both are in.
        reload_until(&page, "#request-log", |t| t.contains("409")).await;
        let created = page.find_all("#request-log tr[data-status='201']").await;
        assert_eq!(created.len(), PEOPLE.len(), "one 201 per provisioned user");
        let post = created[0].text().await.expect("row text");
        assert!(post.contains("POST") && post.contains("/Users"), "{post}");
        let failed = page.text("#request-log tr[data-status='409']").await;
        assert!(
            failed.contains("POST") && failed.contains("/Users"),
            "{failed}"
        );

        // Only the failed one, when filtered.
        page.fill("#status", "failed").await;
        page.click("#log-filter button[type='submit']").await;
        page.wait_for_path("/console/connectors/entra-id/log").await;
        page.find("#clear-filter").await;
        let rows = page.find_all("#request-log tbody tr").await;
        assert_eq!(rows.len(), 1, "one failed request");

        page.click("#request-log tr[data-status='409'] a").await;
        page.find("#log-entry[data-status='409']").await;
        let request = page.text("#request-body").await;
        assert!(
            request.contains("AdeleV@contoso.onmicrosoft.com") && request.contains("***"),
            "the request body as kept: {request}"
        );
        assert!(!page.visible_text().await.contains(SECRET_PASSWORD));
        assert!(
            !page
                .client
                .source()
                .await
                .expect("source")
                .contains(SECRET_PASSWORD)
        );
        let response = page.text("#response-body").await;
        assert!(
            response.contains("uniqueness"),
            "the response body: {response}"
        );
    })
    .await;
}

/// The mapping tester runs the editor's text, saved or not, on a provisioned user and shows
/// the directory user it would make; editing the text updates the result.
#[tokio::test]
async fn the_mapping_tester_shows_a_provisioned_user() {
    let server = TestServer::start().await;
    server.admin_account(ADMIN, PASSWORD).await;
    let entra = entra_connector(&server).await;
    let ids = provision(&entra).await;
    let url = server.url.clone();
    driver::run(move |page: Page| async move {
        sign_in(&page, &url).await;
        page.goto(&format!("{url}/console/connectors/entra-id/settings"))
            .await;
        let count = page.text("#tester-count").await;
        assert!(count.contains(&format!("of {}", PEOPLE.len())), "{count}");
        page.find("#tester-user")
            .await
            .select_by_value(&ids[0])
            .await
            .expect("choose Adele");
        let result = page
            .wait_for_text("#mapping-result", "AdeleV@contoso.onmicrosoft.com")
            .await;
        assert!(result.contains("Adele Vance"), "the tester shows: {result}");

        // The unsaved text in the editor is what it tries.
        page.set_value("#settings", FAMILY_FIRST).await;
        let result = page.wait_for_text("#mapping-result", "VANCE, Adele").await;
        assert!(
            !result.contains("Adele Vance"),
            "the tester shows: {result}"
        );

        // A broken expression is reported in place, not applied.
        page.set_value("#settings", "[mapping]\ndisplay_name = 'user.name.'\n")
            .await;
        page.wait_for_text("#mapping-result", "The settings have problems")
            .await;
        let problem = page.text("#mapping-result .problem").await;
        assert!(
            problem.contains("display_name") && problem.contains("line 2"),
            "the problem is placed as: {problem}"
        );
    })
    .await;
}

/// Display name "FAMILY, Given": a change the preview, the tester and the user's page show.
const FAMILY_FIRST: &str = "[mapping]\n\
    display_name = 'upper(user.name.familyName) + \", \" + user.name.givenName'\n";

/// Display name "Given FAMILY".
const GIVEN_FIRST: &str = "[mapping]\n\
    display_name = 'user.name.givenName + \" \" + upper(user.name.familyName)'\n";

/// A password sent by mistake: it must never be shown.
const SECRET_PASSWORD: &str = "Pa55word-never-shown";

/// Who the IdP provisions: userName, given, family, department.
struct Person(&'static str, &'static str, &'static str, &'static str);

const PEOPLE: [Person; 3] = [
    Person("AdeleV", "Adele", "Vance", "Retail"),
    Person("AlexW", "Alex", "Wilber", "Marketing"),
    Person("MeganB", "Megan", "Bowen", "Marketing"),
];

/// A user as Entra ID sends it (Microsoft's sample user, abridged).
fn entra_user(p: &Person) -> Value {
    let Person(alias, given, family, department) = *p;
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": alias,
        "userName": format!("{alias}@contoso.onmicrosoft.com"),
        "active": true,
        "displayName": format!("{given} {family}"),
        "emails": [{"primary": true, "type": "work", "value": format!("{alias}@contoso.com")}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("{given} {family}"), "familyName": family, "givenName": given},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": department},
        "roles": []
    })
}

/// A connector named as an administrator would name it (the pages, and so the screenshots,
/// show the name), with a token.
async fn entra_connector(server: &TestServer) -> Conn {
    let connector = Connector {
        id: "entra-id".to_owned(),
        name: "Entra ID".to_owned(),
        enabled: true,
        created_at: OffsetDateTime::now_utc(),
    };
    server
        .store
        .create_connector(&connector)
        .await
        .expect("create connector");
    let token = server.add_token(&connector.id, None).await;
    server.conn(&connector.id, &token)
}

/// Provisions [`PEOPLE`] through the connector; returns their SCIM ids.
async fn provision(c: &Conn) -> Vec<String> {
    let mut ids = Vec::new();
    for p in &PEOPLE {
        let r = c.post("/Users", &entra_user(p)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.id());
    }
    ids
}

/// `POST {base}{path}` with this bearer token, as an IdP would; the status and the body.
async fn scim_post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
    resource: &Value,
) -> (u16, Value) {
    let r = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .body(resource.to_string())
        .send()
        .await
        .expect("send the SCIM request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("a JSON answer"))
}

/// Signs in through the login form and waits for the dashboard.
async fn sign_in(page: &Page, url: &str) {
    page.goto(&format!("{url}/console/login")).await;
    page.fill("#username", ADMIN).await;
    page.fill("#password", PASSWORD).await;
    page.click("#sign-in").await;
    page.wait_for_path("/console/").await;
    page.find("#signed-in-as").await;
}

/// Reloads the page until the element `css` exists and its text passes `ok`: for what the
/// server writes in the background (the request log), which no page event announces.
async fn reload_until(page: &Page, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(element) = page.find_all(css).await.into_iter().next()
            && let Ok(text) = element.text().await
            && ok(&text)
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "'{css}' on {} never showed what was expected; the page says:\n{}",
            page.path().await,
            page.visible_text().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        page.client.refresh().await.expect("reload");
    }
}
