//! The route table against the OpenAPI document: every method the router serves on every
//! path is documented, and nothing else is.

use std::collections::BTreeSet;
use std::sync::Arc;

use roster_core::clock::{SystemClock, UuidIds};
use roster_core::idp_view::{IdpView, Limits};
use roster_core::{Authenticator, Clock};
use serde_json::Value;
use utoipa::OpenApi;

use super::openapi::{ApiDoc, is_app_path};
use super::routes;
use crate::{AppState, HttpLimits};

/// The whole application on an ephemeral port, over a store in `dir`.
async fn serve(dir: &std::path::Path) -> String {
    let url = format!("sqlite://{}", dir.join("roster.db").display());
    let store = roster_store::open(&url).await.expect("open the store");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let view = IdpView::new(
        store.clone(),
        clock.clone(),
        Arc::new(UuidIds),
        Limits::default(),
    );
    let authenticator = Arc::new(Authenticator::new(store, clock));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let state = AppState::new(view, authenticator, base.clone(), HttpLimits::default());
    tokio::spawn(crate::serve(listener, state, std::future::pending()));
    base
}

/// `/api/v1/connectors/{id}` → `/api/v1/connectors/x`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_served_route_is_documented_and_nothing_else() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let base = serve(dir.path()).await;
    let client = reqwest::Client::new();
    let doc: Value =
        serde_json::from_str(&ApiDoc::openapi().to_json().expect("document")).expect("JSON");
    let paths = doc["paths"].as_object().expect("paths");

    let served: BTreeSet<String> = routes().iter().map(|(p, _)| format!("/api{p}")).collect();
    let documented: BTreeSet<String> = paths.keys().cloned().collect();
    assert_eq!(served, documented);

    let mut operations = 0;
    for path in &served {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let response = client
                .request(m, format!("{base}{}", concrete(path)))
                .send()
                .await
                .expect("send");
            let status = response.status().as_u16();
            let is_served = status != 405;
            let op = &paths[path][method.to_ascii_lowercase()];
            assert_eq!(
                is_served,
                op.is_object(),
                "{method} {path}: served with {status}, documented: {op}"
            );
            if !is_served {
                continue;
            }
            operations += 1;
            if path == "/api/openapi.json" {
                assert_eq!(status, 200);
                continue;
            }
            // Without credentials every operation is refused, and the document says how to
            // get in: admin operations by admin token or session, app ones by app token too.
            assert_eq!(status, 401, "{method} {path}");
            let schemes: BTreeSet<&str> = op["security"]
                .as_array()
                .expect("security")
                .iter()
                .flat_map(|r| r.as_object().expect("requirement").keys())
                .map(String::as_str)
                .collect();
            let mut want = BTreeSet::from(["admin_token", "session"]);
            if is_app_path(path) {
                want.insert("app_token");
            }
            assert_eq!(schemes, want, "{method} {path}");
            for code in ["401", "403"] {
                assert!(op["responses"][code].is_object(), "{method} {path} {code}");
            }
        }
    }
    assert_eq!(operations, 37);
}

#[test]
fn the_document_names_its_security_schemes_and_error_shape() {
    let doc: Value =
        serde_json::from_str(&ApiDoc::openapi().to_json().expect("document")).expect("JSON");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["admin_token"]["scheme"], "bearer");
    assert_eq!(schemes["app_token"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    let error = &doc["components"]["schemas"]["ErrorBody"]["properties"];
    assert!(error["status"].is_object() && error["error"].is_object());
    // A body, parameters and a response schema come through for an ordinary operation.
    let put = &doc["paths"]["/api/v1/connectors/{id}/settings"]["put"];
    assert!(put["requestBody"].is_object(), "{put}");
    assert_eq!(put["parameters"][0]["name"], "id");
    assert!(put["responses"]["412"].is_object());
    let list = &doc["paths"]["/api/v1/users"]["get"]["parameters"];
    let names: Vec<&str> = list
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["directory", "search", "after", "limit"]);
}
