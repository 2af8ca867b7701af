//! `roster admin …` commands: admin accounts and API tokens; and `serve`'s hint when there
//! is no admin account.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Output, Stdio};

use roster_core::admin;

use crate::Env;

const PASSWORD: &str = "correct horse battery staple";

/// Runs `roster ARGS` with `input` on standard input.
fn with_stdin(env: &Env, args: &[&str], input: &str) -> Output {
    let mut child = env
        .command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn roster");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for roster")
}

/// Asserts `out` failed with exit code `code` and a message containing `says`.
fn fails(out: &Output, code: i32, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(says), "expected '{says}' in: {stderr}");
}

fn create(env: &Env, username: &str, password: &str) -> Output {
    with_stdin(
        env,
        &["admin", "create", username, "--password-stdin"],
        &format!("{password}\n"),
    )
}

/// The stored password hash of `username`, read from the database as the server would.
fn stored_hash(env: &Env, username: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = roster_store::open(&env.database_url()).await.unwrap();
        store
            .admin()
            .admin_account(username)
            .await
            .unwrap()
            .expect("the account exists")
            .password_hash
    })
}

#[test]
fn create_then_list() {
    let env = Env::new();
    assert!(
        env.ok(&["admin", "list"])
            .contains("roster admin create USERNAME")
    );
    let out = create(&env, "Alice", PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("Created admin account 'Alice'"), "{stdout}");
    assert!(
        stdout.contains("https://scim.example.com/console/"),
        "{stdout}"
    );

    // Only the line break is dropped; the hash is argon2id with the default (strong) cost.
    let phc = stored_hash(&env, "alice");
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(admin::verify_password(&phc, PASSWORD));
    assert!(!admin::verify_password(&phc, &format!("{PASSWORD}\n")));

    let raw = env.ok(&["admin", "list", "--json"]);
    assert!(
        !raw.contains("argon2") && !raw.contains("password"),
        "{raw}"
    );
    let list: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["username"], "Alice");
    assert!(list[0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(list[0]["last_login_at"], serde_json::Value::Null);

    let text = env.ok(&["admin", "list"]);
    assert!(text.contains("Alice") && text.contains("never"), "{text}");
}

#[test]
fn bad_accounts_are_refused() {
    let env = Env::new();
    assert!(create(&env, "alice", PASSWORD).status.success());

    // Taken, whatever the case: refused before a password is read (none is given here).
    let out = with_stdin(&env, &["admin", "create", "ALICE", "--password-stdin"], "");
    fails(&out, 1, "already exists");

    fails(&create(&env, "bob", "short"), 1, "at least 12 characters");
    fails(&create(&env, "bob", ""), 1, "at least 12 characters");
    fails(&create(&env, "bob smith", PASSWORD), 1, "invalid username");

    // Without --password-stdin, a password is only read from a terminal.
    let out = with_stdin(&env, &["admin", "create", "bob"], &format!("{PASSWORD}\n"));
    fails(&out, 1, "--password-stdin");

    let list = env.json(&["admin", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "only alice: {list}");
}

#[test]
fn password_and_delete() {
    let env = Env::new();
    assert!(create(&env, "alice", PASSWORD).status.success());
    assert!(create(&env, "bob", PASSWORD).status.success());

    let out = with_stdin(
        &env,
        &["admin", "password", "ALICE", "--password-stdin"],
        "a whole new password\r\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let phc = stored_hash(&env, "alice");
    assert!(admin::verify_password(&phc, "a whole new password"));
    assert!(!admin::verify_password(&phc, PASSWORD));
    fails(
        &with_stdin(
            &env,
            &["admin", "password", "alice", "--password-stdin"],
            "short\n",
        ),
        1,
        "at least 12 characters",
    );
    fails(
        &with_stdin(
            &env,
            &["admin", "password", "carol", "--password-stdin"],
            &format!("{PASSWORD}\n"),
        ),
        1,
        "no admin account 'carol'",
    );

    let out = env.ok(&["admin", "delete", "Bob"]);
    assert!(out.contains("is deleted"), "{out}");
    assert!(!out.contains("No admin accounts are left"), "{out}");
    fails(&env.run(&["admin", "delete", "bob"]), 1, "no admin account");
    let list = env.json(&["admin", "list", "--json"]);
    assert_eq!(list[0]["username"], "alice");
    assert_eq!(list.as_array().unwrap().len(), 1);

    let out = env.ok(&["admin", "delete", "alice"]);
    assert!(out.contains("No admin accounts are left"), "{out}");
}

#[test]
fn api_tokens_are_shown_once() {
    let env = Env::new();
    let created = env.json(&[
        "admin",
        "token",
        "create",
        "--scope",
        "admin",
        "--description",
        "deploy",
        "--json",
    ]);
    let mut keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["expires_at", "id", "scope", "token"]);
    assert_eq!(created["scope"], "admin");
    assert_eq!(created["expires_at"], serde_json::Value::Null);
    let token = created["token"].as_str().unwrap();
    let (scope, id, secret) = admin::parse_api_token(token).expect("an API token");
    assert_eq!(scope, admin::ApiScope::Admin);
    assert_eq!(id, created["id"]);

    let app = env.json(&[
        "admin",
        "token",
        "create",
        "--scope",
        "app",
        "--expires-in-days",
        "30",
        "--json",
    ]);
    assert!(app["token"].as_str().unwrap().starts_with("roster_app_"));
    assert!(app["expires_at"].is_string());

    // Listed, never with the secret.
    let raw = env.ok(&["admin", "token", "list", "--json"]);
    assert!(!raw.contains(secret), "{raw}");
    let list: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], created["id"]);
    assert_eq!(list[0]["scope"], "admin");
    assert_eq!(list[0]["description"], "deploy");
    assert_eq!(list[0]["created_by"], "cli");
    assert!(list[0].get("token").is_none());
    assert_eq!(list[1]["scope"], "app");
    assert_eq!(list[1]["expires_at"], app["expires_at"]);
    let text = env.ok(&["admin", "token", "list"]);
    assert!(text.contains(id) && !text.contains(secret), "{text}");

    // Revoked once; a second time is an error (exit code 1).
    let out = env.ok(&["admin", "token", "revoke", id]);
    assert!(out.contains("revoked"), "{out}");
    let list = env.json(&["admin", "token", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], app["id"]);
    fails(
        &env.run(&["admin", "token", "revoke", id]),
        1,
        "no API token",
    );

    // A bad command line is exit code 2.
    fails(
        &env.run(&["admin", "token", "create", "--scope", "root"]),
        2,
        "root",
    );
    fails(&env.run(&["admin", "token", "create"]), 2, "--scope");
    fails(
        &env.run(&[
            "admin",
            "token",
            "create",
            "--scope",
            "app",
            "--expires-in-days",
            "0",
        ]),
        2,
        "0",
    );
}

/// The first line `roster serve` prints on stderr when it has no admin account, and stdout's
/// first line, which must stay the listening address.
fn serve_output(env: &Env) -> (String, String) {
    let mut child = env
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn roster serve");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // Startup warnings are logged before the listening line is printed.
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (first, stderr)
}

#[test]
fn serve_says_how_to_create_the_first_admin() {
    let env = Env::new();
    let (stdout, stderr) = serve_output(&env);
    assert!(stdout.starts_with("roster listening on "), "{stdout}");
    assert!(stderr.contains("roster admin create NAME"), "{stderr}");

    assert!(create(&env, "alice", PASSWORD).status.success());
    let (stdout, stderr) = serve_output(&env);
    assert!(stdout.starts_with("roster listening on "), "{stdout}");
    assert!(!stderr.contains("roster admin create"), "{stderr}");
}
