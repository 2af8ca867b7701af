//! The OpenAPI 3 document of both APIs, served at `GET /api/openapi.json`.
//!
//! Built from the handlers' `#[utoipa::path]` annotations and the shapes in `model`. What
//! every operation shares is added in one place ([`Shared`]): its security requirement (admin
//! token or console session; for the application API also an app token) and its 401 and 403
//! answers.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::model::ErrorBody;
use super::{app, connectors, directory, logs, sync, tokens};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Roster API",
        description = "The admin API (everything the console does) and the application API \
            (the effective directory and its change feed) of a Roster server. Errors are \
            `{\"status\": 404, \"error\": \"…\"}`.",
    ),
    paths(
        document,
        connectors::list,
        connectors::create,
        connectors::get,
        connectors::delete,
        connectors::enable,
        connectors::disable,
        connectors::tokens,
        connectors::add_token,
        connectors::revoke_token,
        sync::get_settings,
        sync::put_settings,
        sync::template,
        sync::preview,
        sync::apply,
        sync::mapping_test,
        sync::results,
        logs::list,
        logs::entry,
        directory::directories,
        directory::order,
        directory::users,
        directory::user,
        directory::create_user,
        directory::groups,
        directory::create_group,
        directory::add_member,
        directory::remove_member,
        directory::audit,
        tokens::list,
        tokens::create,
        tokens::revoke,
        app::users,
        app::user,
        app::groups,
        app::members,
        app::changes,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Shared),
    tags(
        (name = "connectors", description = "Connectors and their SCIM bearer tokens"),
        (name = "sync", description = "Settings, preview, apply, the mapping tester, sync results"),
        (name = "request log", description = "Each connector's SCIM requests"),
        (name = "directory", description = "Directories, users, groups, memberships, the audit log"),
        (name = "api tokens", description = "Admin and application API tokens"),
        (name = "application", description = "The effective directory and the change feed, read-only"),
        (name = "meta", description = "This document"),
    )
)]
pub(crate) struct ApiDoc;

/// The security schemes' names.
const ADMIN_TOKEN: &str = "admin_token";
const APP_TOKEN: &str = "app_token";
const SESSION: &str = "session";

/// Whether a path belongs to the application API.
pub(crate) fn is_app_path(path: &str) -> bool {
    path.starts_with("/api/v1/directory/") || path == "/api/v1/changes"
}

/// Adds the security schemes, and each operation's requirement and auth failures.
#[derive(Debug)]
struct Shared;

impl Modify for Shared {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ADMIN_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("roster_admin_…")
                    .description(Some(
                        "An admin API token (`roster admin token create`, or POST \
                         /api/v1/api-tokens with scope admin): the admin API and the \
                         application API.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            APP_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("roster_app_…")
                    .description(Some(
                        "An application token (scope app): the application API only, \
                         read-only; 403 on the admin API.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "roster_session",
                "A console session cookie (`__Host-roster_session` over HTTPS). Requests \
                 that change something must also carry the session's CSRF token in the \
                 `x-csrf-token` header.",
            ))),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path == "/api/openapi.json" {
                continue;
            }
            let app = is_app_path(path);
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                secure(op, app);
            }
        }
    }
}

fn secure(op: &mut Operation, app: bool) {
    let none = Vec::<String>::new;
    let mut requirements = vec![
        SecurityRequirement::new(ADMIN_TOKEN, none()),
        SecurityRequirement::new(SESSION, none()),
    ];
    if app {
        requirements.insert(0, SecurityRequirement::new(APP_TOKEN, none()));
    }
    op.security = Some(requirements);
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    op.responses.responses.insert(
        "401".into(),
        error(
            "No valid token or session (with `WWW-Authenticate: Bearer`); a connector's SCIM \
             token opens no API",
        )
        .into(),
    );
    let forbidden = if app {
        "A console session's change without its CSRF token"
    } else {
        "An application token, or a console session's change without its CSRF token"
    };
    op.responses
        .responses
        .insert("403".into(), error(forbidden).into());
}

/// The document, serialised once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serialises")
});

/// The OpenAPI document of both APIs. No authentication: it describes, it reveals nothing.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub(crate) async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
