//! A connector's SCIM request log: `/api/v1/connectors/{id}/request-log…`.

use axum::Json;
use axum::extract::{Path, State};
use roster_core::admin::RequestLogQuery;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::IntoParams;

use super::connectors::find;
use super::error::ApiError;
use super::extract::{ApiQuery, MAX_LIMIT, limit};
use super::model::{RequestLogOut, RequestLogPage};
use crate::AppState;
use crate::admin_auth::AdminCaller;

/// The query of `GET …/request-log`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogQuery {
    /// `failed` (status ≥ 400), `success` (below 400), or one status code.
    status: Option<String>,
    /// Only requests at or after this time (RFC 3339).
    since: Option<String>,
    /// Only requests before this time (RFC 3339).
    until: Option<String>,
    /// Only entries older than this one: the previous page's `next_before`.
    before: Option<i64>,
    /// The most entries (default 100, at most 1000).
    limit: Option<u32>,
}

fn time(name: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
                ApiError::bad_request(format!(
                    "{name} '{v}' is not an RFC 3339 time (2027-01-31T09:00:00Z)"
                ))
            })
        })
        .transpose()
}

/// `status` as the store's bounds.
fn status_bounds(status: Option<&str>) -> Result<(Option<u16>, Option<u16>), ApiError> {
    match status {
        None | Some("") => Ok((None, None)),
        Some("failed") => Ok((Some(400), None)),
        Some("success") => Ok((None, Some(399))),
        Some(code) => match code.parse::<u16>() {
            Ok(n @ 100..=599) => Ok((Some(n), Some(n))),
            _ => Err(ApiError::bad_request(format!(
                "status '{code}': use failed, success or a status code"
            ))),
        },
    }
}

/// A connector's logged SCIM requests, newest first.
#[utoipa::path(get, path = "/api/v1/connectors/{id}/request-log", tag = "request log",
    params(("id" = String, Path, description = "The connector's id"), LogQuery),
    responses(
        (status = 200, description = "A page, newest first", body = RequestLogPage),
        (status = 400, description = "A bad filter", body = super::model::ErrorBody),
        (status = 404, description = "No such connector", body = super::model::ErrorBody),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    _: AdminCaller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> Result<Json<RequestLogPage>, ApiError> {
    let limit = limit(query.limit)?;
    let (min_status, max_status) = status_bounds(query.status.as_deref())?;
    let since = time("since", query.since.as_deref())?;
    let until = time("until", query.until.as_deref())?;
    find(&state, &id).await?;
    // One more than asked: whether there is a next page.
    let mut entries = state
        .store()
        .admin()
        .request_log(&RequestLogQuery {
            connector_id: Some(id),
            min_status,
            max_status,
            since,
            until,
            before_seq: query.before,
            limit: limit + 1,
        })
        .await?;
    // The store caps a page at the API's largest: a full largest page may have a next one.
    let more = entries.len() > limit as usize
        || (limit == MAX_LIMIT && entries.len() == MAX_LIMIT as usize);
    entries.truncate(limit as usize);
    Ok(Json(RequestLogPage {
        next_before: more.then(|| entries.last().map(|e| e.seq)).flatten(),
        entries: entries.into_iter().map(Into::into).collect(),
    }))
}

/// One logged request, with a failed request's bodies (secrets masked).
#[utoipa::path(get, path = "/api/v1/connectors/{id}/request-log/{seq}", tag = "request log",
    params(
        ("id" = String, Path, description = "The connector's id"),
        ("seq" = i64, Path, description = "The entry's position in the log"),
    ),
    responses(
        (status = 200, description = "The entry", body = RequestLogOut),
        (status = 404, description = "No such connector or entry", body = super::model::ErrorBody),
    ))]
pub(crate) async fn entry(
    State(state): State<AppState>,
    _: AdminCaller,
    Path((id, seq)): Path<(String, String)>,
) -> Result<Json<RequestLogOut>, ApiError> {
    let missing = || ApiError::not_found(format!("connector '{id}' has no log entry '{seq}'"));
    let n: i64 = seq.parse().map_err(|_| missing())?;
    let entry = state
        .store()
        .admin()
        .request_log_entry(n)
        .await?
        .filter(|e| e.request.connector_id == id)
        .ok_or_else(missing)?;
    Ok(Json(entry.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters() {
        assert_eq!(status_bounds(None).unwrap(), (None, None));
        assert_eq!(status_bounds(Some("failed")).unwrap(), (Some(400), None));
        assert_eq!(status_bounds(Some("success")).unwrap(), (None, Some(399)));
        assert_eq!(status_bounds(Some("409")).unwrap(), (Some(409), Some(409)));
        for bad in ["x", "99", "600", "-1"] {
            assert!(status_bounds(Some(bad)).is_err(), "{bad}");
        }
    }
}
