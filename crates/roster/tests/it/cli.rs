//! `roster connector …` commands.

use crate::Env;

#[test]
fn create_prints_the_base_url_and_a_token_once() {
    let env = Env::new();
    let created = env.json(&["connector", "create", "Entra ID", "--json"]);
    assert_eq!(created["id"], "entra-id");
    assert_eq!(created["name"], "Entra ID");
    assert_eq!(created["enabled"], true);
    assert_eq!(
        created["scim_base_url"],
        "https://scim.example.com/scim/v2/entra-id"
    );
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("roster_") && token.len() > 70, "{token}");
    assert!(
        crate::exists(&env.path("roster.db")),
        "the default SQLite file is created"
    );

    // The token is never shown again.
    let shown = env.ok(&["connector", "show", "entra-id", "--json"]);
    assert!(!shown.contains(token));
    let secret = token.rsplit('_').next().unwrap();
    assert!(
        !env.ok(&["connector", "token", "list", "entra-id"])
            .contains(secret)
    );
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(shown["tokens"][0]["id"], created["token_id"]);

    // The human form says where each value goes.
    let text = env.ok(&["connector", "create", "Okta", "--id", "okta-prod"]);
    assert!(text.contains("https://scim.example.com/scim/v2/okta-prod"));
    assert!(text.contains("Secret token:   roster_"));
}

#[test]
fn list_show_enable_disable_delete() {
    let env = Env::new();
    assert!(env.ok(&["connector", "list"]).contains("No connectors yet"));
    env.ok(&["connector", "create", "Entra", "--id", "a"]);
    env.ok(&["connector", "create", "Okta", "--id", "b"]);
    let list = env.json(&["connector", "list", "--json"]);
    let ids: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);

    env.ok(&["connector", "disable", "a"]);
    assert_eq!(
        env.json(&["connector", "show", "a", "--json"])["enabled"],
        false
    );
    env.ok(&["connector", "enable", "a"]);
    assert_eq!(
        env.json(&["connector", "show", "a", "--json"])["enabled"],
        true
    );

    env.ok(&["connector", "delete", "a"]);
    let list = env.json(&["connector", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn tokens_rotate_and_revoke() {
    let env = Env::new();
    env.ok(&["connector", "create", "Entra", "--id", "entra"]);
    let added = env.json(&[
        "connector",
        "token",
        "add",
        "entra",
        "--description",
        "rotation",
        "--expires-in-days",
        "30",
        "--json",
    ]);
    assert!(added["token"].as_str().unwrap().starts_with("roster_"));
    assert!(added["expires_at"].is_string());
    let list = env.json(&["connector", "token", "list", "entra", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("token").is_none())
    );

    let id = added["id"].as_str().unwrap();
    env.ok(&["connector", "token", "revoke", "entra", id]);
    let list = env.json(&["connector", "token", "list", "entra", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn mistakes_fail_with_a_message_and_exit_code_1() {
    let env = Env::new();
    env.ok(&["connector", "create", "Entra", "--id", "entra"]);
    for (args, needle) in [
        (
            vec!["connector", "create", "Again", "--id", "entra"],
            "already exists",
        ),
        (
            vec!["connector", "create", "Bad", "--id", "Not_Valid"],
            "invalid connector id",
        ),
        (vec!["connector", "show", "nope"], "no connector 'nope'"),
        (vec!["connector", "disable", "nope"], "no connector 'nope'"),
        (vec!["connector", "delete", "nope"], "no connector 'nope'"),
        (
            vec!["connector", "token", "revoke", "entra", "0000000000000000"],
            "has no token",
        ),
        (
            vec![
                "connector",
                "token",
                "add",
                "entra",
                "--expires-at",
                "yesterday",
            ],
            "RFC 3339",
        ),
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // A command-line mistake is exit code 2 (clap).
    assert_eq!(env.run(&["connector", "frobnicate"]).status.code(), Some(2));
}

#[test]
fn a_bad_database_url_is_a_clear_error() {
    let env = Env::new();
    let out = env
        .command()
        .args(["--database", "mysql://x", "connector", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not open the database"));
}
