//! The sync engine end to end: the real server, Entra-shaped SCIM traffic, connector settings
//! set with the CLI, and the resulting directory read back through the CLI's `--json` output.

use serde_json::{Value, json};

use crate::{Env, Server, client};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A server with one connector (`entra`), a SCIM client for it, and the CLI.
struct Setup {
    env: Env,
    _server: Server,
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Setup {
    fn new(settings: &str) -> Self {
        let env = Env::new();
        let server = Server::start(&env, &[]);
        let created = env.json(&["connector", "create", "Entra ID", "--id", "entra", "--json"]);
        let token = created["token"].as_str().unwrap().to_owned();
        let setup = Self {
            base: format!("{}/scim/v2/entra", server.url),
            env,
            _server: server,
            token,
            http: client(),
        };
        if !settings.is_empty() {
            setup.set_settings(settings);
        }
        setup
    }

    fn set_settings(&self, toml: &str) {
        let file = self.env.path("settings.toml");
        std::fs::write(&file, toml).unwrap();
        self.env.ok(&[
            "connector",
            "settings",
            "set",
            "entra",
            "--file",
            file.to_str().unwrap(),
        ]);
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("x-request-id", "req-e2e-1");
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        assert!(status < 500, "{path}: {status} {v}");
        (status, v)
    }

    /// Entra's POST /Users; returns the SCIM id.
    async fn entra_user(&self, upn: &str, extra: Value) -> String {
        let mut body = json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": upn.split('@').next().unwrap(),
            "userName": upn,
            "active": true,
            "displayName": "Adele Vance",
            "name": {"formatted": "Adele Vance", "familyName": "Vance", "givenName": "Adele"},
            "emails": [{"primary": true, "type": "work", "value": upn.to_lowercase()}],
            ENTERPRISE: {"employeeNumber": "100101", "department": "Retail"},
            "meta": {"resourceType": "User"},
            "roles": []
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let (status, v) = self.send(reqwest::Method::POST, "/Users", Some(body)).await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    /// Entra's POST /Groups (empty), then the member adds; returns the SCIM id.
    async fn entra_group(&self, name: &str, members: &[&str]) -> String {
        let (status, v) = self
            .send(
                reqwest::Method::POST,
                "/Groups",
                Some(json!({"schemas": [GROUP], "externalId": format!("ext-{name}"), "displayName": name, "meta": {"resourceType": "Group"}})),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        if !members.is_empty() {
            self.members("Add", &id, members).await;
        }
        id
    }

    async fn members(&self, op: &str, group: &str, members: &[&str]) {
        let value: Vec<Value> = members
            .iter()
            .map(|m| json!({"$ref": null, "value": m}))
            .collect();
        let (status, v) = self
            .send(
                reqwest::Method::PATCH,
                &format!("/Groups/{group}"),
                Some(json!({"schemas": [PATCH], "Operations": [{"op": op, "path": "members", "value": value}]})),
            )
            .await;
        assert_eq!(status, 204, "{v}");
    }

    async fn patch_user(&self, id: &str, ops: Value) -> (u16, Value) {
        self.send(
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": ops})),
        )
        .await
    }

    /// `roster users show NAME --json`, the user of directory `entra`.
    fn user(&self, username: &str) -> Option<Value> {
        let out = self.env.run(&["users", "show", username, "--json"]);
        if !out.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["directory"] == "entra")
            .cloned()
    }

    fn memberships(&self, username: &str) -> Vec<(String, String)> {
        let u = self
            .user(username)
            .unwrap_or_else(|| panic!("no user {username}"));
        u["memberships"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["group"].as_str().unwrap().to_owned(),
                    m["origin"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn group_names(&self) -> Vec<String> {
        let v = self
            .env
            .json(&["groups", "list", "--directory", "entra", "--json"]);
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn mapping_expressions_and_custom_attributes() {
    let s = Setup::new(
        r#"
[mapping]
username = "lower(user.userName)"
email = "work_email(user)"
[mapping.attributes]
department = 'ext(user, "department")'
employee = 'concat("E-", ext(user, "employeeNumber"))'
"#,
    );
    s.entra_user("AdeleV@Contoso.com", json!({})).await;
    let u = s.user("adelev@contoso.com").expect("mapped username");
    assert_eq!(u["username"], "adelev@contoso.com");
    assert_eq!(u["display_name"], "Adele Vance");
    assert_eq!(u["email"], "adelev@contoso.com");
    assert_eq!(u["first_name"], "Adele");
    assert_eq!(u["last_name"], "Vance");
    assert_eq!(u["active"], true);
    assert_eq!(u["attributes"]["department"], "Retail");
    assert_eq!(u["attributes"]["employee"], "E-100101");

    // The IdP view is untouched by the mapping: Entra reads back what it wrote.
    let (_, list) = s
        .send(
            reqwest::Method::GET,
            "/Users?filter=userName+eq+%22AdeleV%40Contoso.com%22",
            None,
        )
        .await;
    assert_eq!(list["Resources"][0]["userName"], "AdeleV@Contoso.com");
}

#[tokio::test]
async fn entra_guest_upn_and_active_false() {
    let s = Setup::new("[mapping]\nusername = \"guest_email(user.userName)\"\n");
    let id = s
        .entra_user("adele_fabrikam.com#EXT#@contoso.onmicrosoft.com", json!({}))
        .await;
    assert_eq!(s.user("adele@fabrikam.com").unwrap()["active"], true);
    // Entra's default job disables with the string "False".
    let (status, _) = s
        .patch_user(
            &id,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(s.user("adele@fabrikam.com").unwrap()["active"], false);
    let (_, _) = s
        .patch_user(
            &id,
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        )
        .await;
    assert_eq!(s.user("adele@fabrikam.com").unwrap()["active"], true);
}

#[tokio::test]
async fn group_filters_always_assign_and_never_remove() {
    let s = Setup::new(
        r#"
[groups]
only_assign = ["jira-.*", "confluence-users"]
never_assign = ["jira-admins"]
always_assign = ["everyone"]
never_remove = ["keep-.*"]
"#,
    );
    let alice = s.entra_user("alice@contoso.com", json!({})).await;
    s.entra_group("jira-users", &[&alice]).await;
    s.entra_group("jira-admins", &[&alice]).await;
    s.entra_group("Sales", &[&alice]).await;
    let mut m = s.memberships("alice@contoso.com");
    m.sort();
    assert_eq!(m, pairs(&[("everyone", "rule"), ("jira-users", "idp")]));
    let groups = s.group_names();
    assert!(groups.contains(&"jira-users".to_owned()));
    assert!(
        !groups.iter().any(|g| g == "Sales" || g == "jira-admins"),
        "filtered groups are not imported: {groups:?}"
    );

    // A local membership in a group never_remove covers survives the IdP's next write…
    s.env
        .ok(&["groups", "create", "keep-local", "--directory", "entra"]);
    s.env.ok(&[
        "groups",
        "add-member",
        "keep-local",
        "alice@contoso.com",
        "--directory",
        "entra",
    ]);
    // …and always_assign undoes a manual removal at the next sync.
    s.env.ok(&[
        "groups",
        "remove-member",
        "everyone",
        "alice@contoso.com",
        "--directory",
        "entra",
    ]);
    s.patch_user(
        &alice,
        json!([{"op": "Replace", "path": "displayName", "value": "Alice A."}]),
    )
    .await;
    let mut m = s.memberships("alice@contoso.com");
    m.sort();
    assert_eq!(
        m,
        pairs(&[
            ("everyone", "rule"),
            ("jira-users", "idp"),
            ("keep-local", "local")
        ])
    );
}

#[tokio::test]
async fn the_idp_is_authoritative_for_memberships_by_default() {
    let s = Setup::new("");
    let bob = s.entra_user("bob@contoso.com", json!({})).await;
    let g = s.entra_group("Engineering", &[&bob]).await;
    s.env
        .ok(&["groups", "create", "local-only", "--directory", "entra"]);
    s.env.ok(&[
        "groups",
        "add-member",
        "local-only",
        "bob@contoso.com",
        "--directory",
        "entra",
    ]);
    assert_eq!(s.memberships("bob@contoso.com").len(), 2);
    // The next sync of bob removes the membership the IdP does not report.
    s.patch_user(
        &bob,
        json!([{"op": "Replace", "path": "title", "value": "Engineer"}]),
    )
    .await;
    assert_eq!(
        s.memberships("bob@contoso.com"),
        pairs(&[("Engineering", "idp")])
    );
    // Removing bob from the IdP group removes the membership.
    s.members("Remove", &g, &[&bob]).await;
    assert!(s.memberships("bob@contoso.com").is_empty());
}

#[tokio::test]
async fn required_groups_disable_and_reactivate() {
    let s = Setup::new(
        "[groups]\nrequired = [\"jira-users\"]\n[cleanup]\nnot_in_required = \"disable\"\n",
    );
    let carol = s.entra_user("carol@contoso.com", json!({})).await;
    // A new user in no required group is not imported.
    assert!(s.user("carol@contoso.com").is_none());
    let g = s.entra_group("jira-users", &[&carol]).await;
    assert_eq!(s.user("carol@contoso.com").unwrap()["active"], true);
    s.members("Remove", &g, &[&carol]).await;
    let u = s.user("carol@contoso.com").unwrap();
    assert_eq!(u["active"], false, "{u}");
    assert_eq!(u["cleanup"]["reason"], "not_in_required");
    s.members("Add", &g, &[&carol]).await;
    let u = s.user("carol@contoso.com").unwrap();
    assert_eq!(u["active"], true, "the reason went away: {u}");
    assert!(u["cleanup"].is_null());
}

#[tokio::test]
async fn cleanup_on_idp_delete_each_option() {
    for (option, check) in [
        ("disable", "disabled"),
        ("delete", "gone"),
        ("anonymize", "anonymized"),
        ("keep", "kept"),
    ] {
        let s = Setup::new(&format!("[cleanup]\ndeleted = \"{option}\"\n"));
        let id = s.entra_user("dave@contoso.com", json!({})).await;
        let (status, _) = s
            .send(reqwest::Method::DELETE, &format!("/Users/{id}"), None)
            .await;
        assert_eq!(status, 204);
        let users = s
            .env
            .json(&["users", "list", "--directory", "entra", "--json"]);
        let list = users["users"].as_array().unwrap();
        match check {
            "disabled" => {
                let u = s.user("dave@contoso.com").unwrap();
                assert_eq!(u["active"], false, "{option}");
                assert_eq!(u["cleanup"]["reason"], "deleted");
            }
            "gone" => assert!(list.is_empty(), "{option}: {users}"),
            "anonymized" => {
                assert_eq!(list.len(), 1);
                assert_ne!(list[0]["username"], "dave@contoso.com", "pseudonymised");
                assert_eq!(list[0]["anonymized"], true);
                assert!(list[0]["email"].is_null() || list[0]["email"] != "dave@contoso.com");
            }
            "kept" => assert_eq!(
                s.user("dave@contoso.com").unwrap()["active"],
                true,
                "{option}"
            ),
            _ => unreachable!(),
        }
    }
}

#[tokio::test]
async fn copy_from_internal_on_first_arrival() {
    let s = Setup::new(
        "[copy]\nfrom_directory = \"internal\"\n[groups]\nnever_remove = [\"confluence-users\"]\n",
    );
    s.env.ok(&[
        "users",
        "create",
        "erin@contoso.com",
        "--email",
        "erin@contoso.com",
    ]);
    s.env.ok(&["groups", "create", "confluence-users"]);
    s.env.ok(&[
        "groups",
        "add-member",
        "confluence-users",
        "erin@contoso.com",
    ]);
    s.entra_user("erin@contoso.com", json!({})).await;
    assert_eq!(
        s.memberships("erin@contoso.com"),
        pairs(&[("confluence-users", "copied")])
    );
}

#[tokio::test]
async fn a_username_change_is_a_rename_and_a_rename_onto_a_taken_name_is_refused() {
    let s = Setup::new("");
    let frank = s.entra_user("frank@contoso.com", json!({})).await;
    s.entra_user("grace@contoso.com", json!({})).await;
    let before = s.user("frank@contoso.com").unwrap();
    s.patch_user(
        &frank,
        json!([{"op": "replace", "value": {"userName": "franklin@contoso.com"}}]),
    )
    .await;
    let after = s.user("franklin@contoso.com").expect("renamed");
    assert_eq!(after["id"], before["id"], "the same directory user");
    assert!(s.user("frank@contoso.com").is_none());

    // Onto grace's name: the IdP view takes the write (SCIM userName is unique per connector,
    // and that PATCH is a 409 there) — so collide through the mapping instead.
    s.set_settings(
        "[mapping]\nusername = 'regex_replace(user.userName, \"^franklin\", \"grace\")'\n",
    );
    s.patch_user(
        &frank,
        json!([{"op": "Replace", "path": "title", "value": "x"}]),
    )
    .await;
    assert!(
        s.user("franklin@contoso.com").is_some(),
        "not renamed, not merged"
    );
    let results = s.env.json(&[
        "connector",
        "results",
        "entra",
        "--outcome",
        "failed",
        "--json",
    ]);
    let failed = results["outcomes"].as_array().unwrap();
    assert!(
        failed.iter().any(|o| o["scim_id"] == frank.as_str()),
        "the refused rename is reported: {results}"
    );
}

#[tokio::test]
async fn directory_order_decides_the_effective_user() {
    let s = Setup::new("");
    s.env.ok(&[
        "users",
        "create",
        "henry@contoso.com",
        "--display-name",
        "Henry (local)",
    ]);
    s.entra_user("henry@contoso.com", json!({})).await;
    let detail = s
        .env
        .json(&["users", "show", "henry@contoso.com", "--json"]);
    assert_eq!(detail["effective_directory"], "internal");
    s.env.ok(&["directories", "order", "entra", "internal"]);
    let detail = s
        .env
        .json(&["users", "show", "henry@contoso.com", "--json"]);
    assert_eq!(detail["effective_directory"], "entra");
    let dirs = s.env.json(&["directories", "list", "--json"]);
    assert_eq!(dirs[0]["id"], "entra");
}

#[tokio::test]
async fn preview_then_apply_a_settings_change_and_audit_it() {
    let s = Setup::new("");
    let ids = [
        s.entra_user("ivy@contoso.com", json!({})).await,
        s.entra_user("jack@contoso.com", json!({})).await,
    ];
    s.entra_group("jira-users", &[&ids[0]]).await;

    let proposed = s.env.path("proposed.toml");
    std::fs::write(
        &proposed,
        "[groups]\nalways_assign = [\"everyone\"]\nrequired = [\"jira-users\"]\n",
    )
    .unwrap();
    let preview = s.env.json(&[
        "connector",
        "preview",
        "entra",
        "--file",
        proposed.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(preview["summary"]["disabled"], 1, "{preview}");
    assert_eq!(preview["summary"]["memberships_added"], 1, "{preview}");
    // Nothing was written.
    assert_eq!(s.user("jack@contoso.com").unwrap()["active"], true);
    assert!(
        s.memberships("ivy@contoso.com")
            .iter()
            .all(|(g, _)| g != "everyone")
    );

    s.env.ok(&[
        "connector",
        "settings",
        "set",
        "entra",
        "--file",
        proposed.to_str().unwrap(),
    ]);
    let applied = s.env.json(&["connector", "apply", "entra", "--json"]);
    assert_eq!(
        applied["summary"], preview["summary"],
        "apply does what preview said"
    );
    assert_eq!(s.user("jack@contoso.com").unwrap()["active"], false);
    assert!(
        s.memberships("ivy@contoso.com")
            .contains(&("everyone".to_owned(), "rule".to_owned()))
    );

    let audit = s.env.json(&["audit", "--connector", "entra", "--json"]);
    let rows = audit.as_array().unwrap();
    assert!(rows.iter().any(|r| r["action"] == "settings.set"));
    assert!(rows.iter().any(|r| r["action"] == "user.create"
        && r["request_id"] == "req-e2e-1"
        && r["actor"] == "connector:entra"));
    assert!(
        rows.iter()
            .any(|r| r["action"] == "user.update" && r["actor"] == "cli")
    );
    let last = rows.last().unwrap()["seq"].as_i64().unwrap();
    let since = s
        .env
        .json(&["audit", "--since", &last.to_string(), "--json"]);
    assert_eq!(
        since.as_array().unwrap().len(),
        0,
        "the change feed is empty after the last seq"
    );
}

#[test]
fn settings_that_do_not_compile_are_refused_with_their_position() {
    let env = Env::new();
    env.ok(&["connector", "create", "Entra", "--id", "entra"]);
    let file = env.path("bad.toml");
    std::fs::write(
        &file,
        "[mapping]\nemail = \"lower(user.userName\"\n[groups]\nonly_assign = [\"(\"]\n",
    )
    .unwrap();
    let out = env.run(&[
        "connector",
        "settings",
        "set",
        "entra",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mapping.email"), "{err}");
    assert!(err.contains("groups.only_assign[0]"), "{err}");
    // Nothing was stored.
    let shown = env.json(&["connector", "settings", "show", "entra", "--json"]);
    assert_eq!(shown["version"], 0);
    // The template is a valid document.
    let template = env.ok(&["connector", "settings", "template"]);
    std::fs::write(&file, template).unwrap();
    env.ok(&[
        "connector",
        "settings",
        "set",
        "entra",
        "--file",
        file.to_str().unwrap(),
    ]);
}
