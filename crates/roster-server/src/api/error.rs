//! The APIs' one error: `{"status": 404, "error": "…"}` as JSON, with `problems` for a
//! settings document that does not compile. [`From<StoreError>`] is the one table that says
//! what a caller is told; a 5xx says nothing about internals and its cause is logged.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::StoreError;
use roster_core::settings::SettingsError;

use super::model::{ErrorBody, Problem};

/// Why an API request failed.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    problems: Vec<Problem>,
}

impl ApiError {
    /// An error with this status and message.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// 400: the request is wrong, and the message says how.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 with a message naming what is missing.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 400 for a settings document: every problem, each naming its field and position.
    pub(crate) fn invalid_settings(errors: &[SettingsError]) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: format!(
                "the settings are not valid: {}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            problems: errors.iter().map(Problem::from).collect(),
        }
    }

    /// A store error, with a 404 that names what was looked for.
    pub(crate) fn store(e: StoreError, missing: impl FnOnce() -> String) -> Self {
        match e {
            StoreError::NotFound => Self::not_found(missing()),
            other => other.into(),
        }
    }

    /// The status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("not found"),
            StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            StoreError::PreconditionFailed { current } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                format!("it has changed since it was read: its version is now {current}"),
            ),
            e @ StoreError::UnknownMembers(_) => Self::bad_request(e.to_string()),
            StoreError::Unsupported(m) | StoreError::Invalid(m) => Self::bad_request(m),
            StoreError::InvalidCursor => {
                Self::bad_request("the paging cursor is not valid for this query")
            }
            StoreError::InvalidSettings(errors) => Self::invalid_settings(&errors),
            StoreError::Scim(e) if e.status >= 500 => {
                tracing::error!(status = e.status, detail = %e.detail, "SCIM service failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
            }
            StoreError::Scim(e) => Self::new(
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                e.detail,
            ),
            StoreError::Backend(cause) => {
                tracing::error!(error = %cause, "storage failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status: self.status.as_u16(),
            error: self.message,
            problems: (!self.problems.is_empty()).then_some(self.problems),
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        let cases: Vec<(StoreError, u16)> = vec![
            (StoreError::NotFound, 404),
            (StoreError::Conflict("taken".into()), 409),
            (StoreError::PreconditionFailed { current: 3 }, 412),
            (StoreError::UnknownMembers(vec!["x".into()]), 400),
            (StoreError::Invalid("no".into()), 400),
            (StoreError::InvalidCursor, 400),
            (StoreError::InvalidSettings(Vec::new()), 400),
            (
                StoreError::Scim(::scim::ScimError::invalid_value("bad")),
                400,
            ),
            (
                StoreError::backend(std::io::Error::other("disk at /var/secret")),
                500,
            ),
        ];
        for (e, status) in cases {
            let text = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(api.status.as_u16(), status, "{text}");
            if status == 500 {
                assert_eq!(api.message, "internal server error");
            }
        }
    }

    #[test]
    fn settings_problems_carry_their_field_and_position() {
        let mut settings = roster_core::settings::Settings::default();
        settings.mapping.email = "user.emails[".into();
        let errors = settings.compile().unwrap_err();
        let api = ApiError::invalid_settings(&errors);
        assert_eq!(api.problems[0].field, "mapping.email");
        assert!(api.problems[0].line.is_some() && api.problems[0].column.is_some());
    }
}
