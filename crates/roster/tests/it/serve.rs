//! `roster serve`: the quick start, end to end, over HTTP and HTTPS.

use serde_json::Value;

use crate::{Env, Server, client};

#[tokio::test]
async fn quick_start_serves_entra_test_connection_and_stops_gracefully() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    // The CLI works on the same database while the server runs.
    let created = env.json(&["connector", "create", "Entra ID", "--json"]);
    let token = created["token"].as_str().unwrap();
    let base = format!("{}/scim/v2/entra-id", server.url);
    let http = client();

    // Entra's Test Connection: a lookup by a random GUID answers 200 with an empty list.
    let r = http
        .get(format!(
            "{base}/Users?filter=userName+eq+%227b3e0d44-5f2b-4c4e-9a51-0f1f4a2c9e11%22"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/scim+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["Resources"], serde_json::json!([]));

    // Without the token: 401.
    let r = http.get(format!("{base}/Users")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // A user created over SCIM is seen by the next request.
    let r = http
        .post(format!("{base}/Users"))
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"adele@contoso.com","active":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let user: Value = r.json().await.unwrap();
    assert!(
        user["meta"]["location"]
            .as_str()
            .unwrap()
            .starts_with("https://scim.example.com/scim/v2/entra-id/Users/")
    );

    // A disabled connector's token stops working within a second (the server trusts what it
    // read of a token and its connector for that long).
    env.ok(&["connector", "disable", "entra-id"]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = http
        .get(format!("{base}/Users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    assert!(server.stop().success(), "SIGTERM stops the server cleanly");
}

#[tokio::test]
async fn without_a_public_url_locations_name_the_port_bound() {
    // `--listen 127.0.0.1:0` and no public URL: the default public URL is the address the
    // server got, not `…:0`, so `meta.location` works (the compliance run relies on it).
    let env = Env::new();
    let mut command = env.command();
    command.env_remove("ROSTER_PUBLIC_URL");
    let server = Server::spawn(command, &[]);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    assert!(!server.url.ends_with(":0"), "{}", server.url);
    let created = env.json(&[
        "--public-url",
        &server.url,
        "connector",
        "create",
        "Local",
        "--json",
    ]);
    let base = created["scim_base_url"].as_str().unwrap();
    assert_eq!(base, format!("{}/scim/v2/local", server.url));

    let r = client()
        .post(format!("{base}/Users"))
        .bearer_auth(created["token"].as_str().unwrap())
        .header("content-type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["meta"]["location"], location);
    assert!(
        location.starts_with(&format!("{base}/Users/")),
        "{location}"
    );
    assert!(server.stop().success());
}

#[tokio::test]
async fn serves_https_with_the_given_certificate() {
    let env = Env::new();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(env.path("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(env.path("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let cert_path = env.path("cert.pem");
    let key_path = env.path("key.pem");
    let server = Server::start(
        &env,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let created = env.json(&["connector", "create", "Entra ID", "--json"]);
    let token = created["token"].as_str().unwrap();

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let port = server.url.rsplit(':').next().unwrap();
    let r = http
        .get(format!(
            "https://localhost:{port}/scim/v2/entra-id/ServiceProviderConfig"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["patch"]["supported"], true);
    assert!(server.stop().success());
}

#[test]
fn missing_tls_files_are_reported_before_listening() {
    let env = Env::new();
    let out = env.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "/nonexistent.pem",
        "--tls-key",
        "/nonexistent.key",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[tokio::test]
async fn over_https_failed_logins_are_limited_per_client_address() {
    let env = Env::new();
    // The login form is only checked once an admin account exists.
    let mut create = env
        .command()
        .args(["admin", "create", "alice", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = create.stdin.take().unwrap();
        stdin.write_all(b"correct horse battery staple\n").unwrap();
    }
    assert!(create.wait().unwrap().success());

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(env.path("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(env.path("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let (cert_path, key_path) = (env.path("cert.pem"), env.path("key.pem"));
    let server = Server::start(
        &env,
        &[
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let port = server.url.rsplit(':').next().unwrap();
    let base = format!("https://localhost:{port}/console/login");

    let form = http.get(&base).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-roster_login="))
        .and_then(|c| c.split(';').next())
        .expect("the form's cookie")
        .to_owned();
    let html = form.text().await.unwrap();
    let prefix = "name=\"login_csrf\" value=\"";
    let start = html.find(prefix).expect("the form's token") + prefix.len();
    let token = html[start..start + 64].to_owned();

    // Ten attempts a minute from one address (the default), each for another username: the
    // per-username limit never trips, the per-address one does. Sent at once, so that the
    // limiter's refill (one attempt every six seconds) does not blur the count.
    let attempts: Vec<_> = (0..14)
        .map(|i| {
            // Every value is URL-safe already (hex, letters, digits, `+` for spaces).
            let body = format!("username=guess{i}&password=not+the+password&login_csrf={token}");
            let request = http
                .post(&base)
                .header("cookie", &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses[..10], [401; 10], "{statuses:?}");
    assert_eq!(statuses[10..], [429; 4], "{statuses:?}");
    assert!(server.stop().success());
}
