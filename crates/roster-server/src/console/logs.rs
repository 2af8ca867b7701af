//! A connector's SCIM request log: what its IdP sent and what it was answered.
//!
//! | route | what |
//! |---|---|
//! | `GET /connectors/{id}/log?status=&since=&until=&before=` | requests, newest first: time, method, path, status, duration |
//! | `GET /connectors/{id}/log/{seq}` | one request, with its request and response bodies when it failed |
//!
//! `status` is `all` (or empty), `failed` (≥ 400), `success` (< 400) or one code (`404`);
//! `since` and `until` are RFC 3339 times, or `YYYY-MM-DDTHH:MM` as a browser's
//! `datetime-local` field sends it, read as UTC; `before` is the `seq` the previous page ended
//! at. Bodies were masked when they were logged ([`roster_core::admin::mask_secrets`]); the
//! page only pretty-prints them.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use roster_core::admin::{RequestLogEntry, RequestLogQuery};
use roster_core::connector::Connector;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::settings::{bad_request, connector};
use super::{Admin, Layout, Section, When, list_link, render};
use crate::AppState;

/// Requests per page.
const PAGE: u32 = 50;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/connectors/{id}/log", get(log))
        .route("/connectors/{id}/log/{seq}", get(entry))
}

/// The filter as the form sends it: all text, checked here so that a bad value gets a page
/// that says what is wrong.
#[derive(Debug, Default, Deserialize)]
struct LogParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    before: String,
}

/// Which statuses to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusFilter {
    All,
    Failed,
    Success,
    Code(u16),
}

impl StatusFilter {
    fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "" | "all" => Ok(Self::All),
            "failed" => Ok(Self::Failed),
            "success" => Ok(Self::Success),
            code => match code.parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => Ok(Self::Code(c)),
                _ => Err(format!(
                    "'{code}' is not a status filter: use all, failed, success or a status code such as 404"
                )),
            },
        }
    }

    /// `(min_status, max_status)` for the store.
    fn bounds(self) -> (Option<u16>, Option<u16>) {
        match self {
            Self::All => (None, None),
            Self::Failed => (Some(400), None),
            Self::Success => (None, Some(399)),
            Self::Code(c) => (Some(c), Some(c)),
        }
    }

    /// The value the form's field shows.
    fn value(self) -> String {
        match self {
            Self::All => String::new(),
            Self::Failed => "failed".to_owned(),
            Self::Success => "success".to_owned(),
            Self::Code(c) => c.to_string(),
        }
    }
}

/// A time from the filter form: RFC 3339, or a `datetime-local` value (`2026-11-30T14:05`,
/// seconds optional) or a bare date, read as UTC.
fn parse_time(field: &str, s: &str) -> Result<Option<OffsetDateTime>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(Some(t));
    }
    let minutes = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    if let Ok(t) = PrimitiveDateTime::parse(s, &minutes)
        .or_else(|_| PrimitiveDateTime::parse(s, &seconds))
        .or_else(|_| PrimitiveDateTime::parse(&s.replacen(' ', "T", 1), &minutes))
    {
        return Ok(Some(t.assume_utc()));
    }
    if let Ok(d) = time::Date::parse(s, format_description!("[year]-[month]-[day]")) {
        return Ok(Some(d.midnight().assume_utc()));
    }
    Err(format!(
        "'{s}' is not a time for '{field}': use 2026-11-30T14:05 (UTC) or an RFC 3339 time"
    ))
}

/// A time as the filter form shows it back (`datetime-local`, UTC).
fn form_time(t: Option<OffsetDateTime>) -> String {
    t.map(|t| {
        let t = t.to_offset(time::UtcOffset::UTC);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        )
    })
    .unwrap_or_default()
}

/// One request of the list.
#[derive(Debug, Clone)]
struct Row {
    seq: i64,
    at: When,
    method: String,
    /// The path with its query decoded, to be read.
    path: String,
    /// The path as logged.
    raw_path: String,
    status: u16,
    badge: &'static str,
    duration_ms: u32,
    has_bodies: bool,
}

fn status_badge(status: u16) -> &'static str {
    match status {
        500.. => "err",
        400..500 => "warn",
        300..400 => "info",
        _ => "ok",
    }
}

#[derive(Template)]
#[template(path = "console/log.html")]
struct LogPage {
    layout: Layout,
    connector: Connector,
    rows: Vec<Row>,
    /// The filter's values, as the form shows them.
    status: String,
    since: String,
    until: String,
    /// Whether a filter narrows the list.
    filtered: bool,
    /// Whether this is a later page.
    paged: bool,
    /// The link to the next (older) page, with the same filter.
    next: Option<String>,
    /// The link to the first page, with the same filter.
    first: String,
}

async fn log(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Result<Response, Response> {
    let Query(params) = params.map_err(|e| {
        bad_request(
            &admin,
            "Invalid filter",
            &format!("The filter could not be read: {}", e.body_text()),
        )
    })?;
    let invalid = |m: String| bad_request(&admin, "Invalid filter", &m);
    let status = StatusFilter::parse(&params.status).map_err(invalid)?;
    let since = parse_time("since", &params.since).map_err(invalid)?;
    let until = parse_time("until", &params.until).map_err(invalid)?;
    let before = match params.before.trim() {
        "" => None,
        b => Some(b.parse::<i64>().map_err(|_| {
            invalid(format!(
                "'{b}' is not a position in the log (a whole number)"
            ))
        })?),
    };
    let connector = connector(&admin, &state, &id).await?;
    let (min_status, max_status) = status.bounds();
    // One more than a page: whether there is an older page is then known without a count.
    let mut entries = state
        .store()
        .admin()
        .request_log(&RequestLogQuery {
            connector_id: Some(id.clone()),
            min_status,
            max_status,
            since,
            until,
            before_seq: before,
            limit: PAGE + 1,
        })
        .await
        .map_err(|e| admin.fail(e))?;
    let more = entries.len() > PAGE as usize;
    entries.truncate(PAGE as usize);
    let now = state.clock().now();
    let rows: Vec<Row> = entries
        .iter()
        .map(|e| Row {
            seq: e.seq,
            at: When::new(Some(e.request.at), now),
            method: e.request.method.clone(),
            path: readable_path(&e.request.path),
            raw_path: e.request.path.clone(),
            status: e.request.status,
            badge: status_badge(e.request.status),
            duration_ms: e.request.duration_ms,
            has_bodies: e.request.request_body.is_some() || e.request.response_body.is_some(),
        })
        .collect();
    let status = status.value();
    // Links carry the times as they were given (the form shows them to the minute).
    let (raw_since, raw_until) = (params.since.trim(), params.until.trim());
    let base = format!(
        "/console/connectors/{}/log",
        super::settings::path_segment(&id)
    );
    let filter = [
        ("status", status.as_str()),
        ("since", raw_since),
        ("until", raw_until),
    ];
    let link = |before: Option<i64>| {
        let before = before.map(|b| b.to_string());
        list_link(&base, &filter, before.as_deref().map(|b| ("before", b)))
    };
    let page = LogPage {
        layout: admin.layout(Section::Connectors),
        next: more.then(|| link(rows.last().map(|r| r.seq))),
        first: link(None),
        filtered: !status.is_empty() || since.is_some() || until.is_some(),
        paged: before.is_some(),
        connector,
        rows,
        status,
        since: form_time(since),
        until: form_time(until),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console/log_entry.html")]
struct EntryPage {
    layout: Layout,
    connector: Connector,
    entry: RequestLogEntry,
    at: When,
    badge: &'static str,
    request_body: Option<String>,
    response_body: Option<String>,
}

async fn entry(
    admin: Admin,
    State(state): State<AppState>,
    Path((id, seq)): Path<(String, String)>,
) -> Result<Response, Response> {
    let connector = connector(&admin, &state, &id).await?;
    let what = format!("request {seq} in the log of connector '{id}'");
    let Ok(seq) = seq.parse::<i64>() else {
        return Err(admin.not_found(&what));
    };
    let entry = match state.store().admin().request_log_entry(seq).await {
        // Another connector's request is not this connector's to show.
        Ok(Some(e)) if e.request.connector_id == id => e,
        Ok(_) => return Err(admin.not_found(&what)),
        Err(e) => return Err(admin.fail(e)),
    };
    let page = EntryPage {
        layout: admin.layout(Section::Connectors),
        connector,
        at: When::new(Some(entry.request.at), state.clock().now()),
        badge: status_badge(entry.request.status),
        request_body: entry.request.request_body.as_deref().map(pretty),
        response_body: entry.request.response_body.as_deref().map(pretty),
        entry,
    };
    Ok(render(StatusCode::OK, &page))
}

/// A logged path with its query string decoded: `/Users?filter=userName eq "a@b.c"` reads
/// better than its `%20`s and `%22`s. For reading only; the page shows the raw path too.
fn readable_path(raw: &str) -> String {
    let Some((path, query)) = raw.split_once('?') else {
        return raw.to_owned();
    };
    let pairs: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            if v.is_empty() {
                k.into_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// A logged body, indented when it is JSON (bodies are logged compact), else as it is.
fn pretty(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn status_filters() {
        assert_eq!(StatusFilter::parse(""), Ok(StatusFilter::All));
        assert_eq!(
            StatusFilter::parse("failed").map(StatusFilter::bounds),
            Ok((Some(400), None))
        );
        assert_eq!(
            StatusFilter::parse("success").map(StatusFilter::bounds),
            Ok((None, Some(399)))
        );
        assert_eq!(
            StatusFilter::parse(" 404 ").map(StatusFilter::bounds),
            Ok((Some(404), Some(404)))
        );
        for bad in ["4xx", "99", "600", "-1"] {
            assert!(StatusFilter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_from_the_form() {
        let want = datetime!(2026-11-30 14:05 UTC);
        assert_eq!(parse_time("since", "2026-11-30T14:05"), Ok(Some(want)));
        assert_eq!(parse_time("since", "2026-11-30T14:05:00"), Ok(Some(want)));
        assert_eq!(parse_time("since", "2026-11-30 14:05"), Ok(Some(want)));
        assert_eq!(
            parse_time("since", "2026-11-30T16:05:00+02:00"),
            Ok(Some(want))
        );
        assert_eq!(
            parse_time("since", "2026-11-30"),
            Ok(Some(datetime!(2026-11-30 0:00 UTC)))
        );
        assert_eq!(parse_time("since", " "), Ok(None));
        assert!(
            parse_time("since", "yesterday")
                .unwrap_err()
                .contains("since")
        );
        assert_eq!(form_time(Some(want)), "2026-11-30T14:05");
    }

    #[test]
    fn queries_are_decoded_for_reading() {
        assert_eq!(
            readable_path("/Users?filter=userName%20eq%20%22a%40b.c%22&count=1"),
            "/Users?filter=userName eq \"a@b.c\"&count=1"
        );
        assert_eq!(readable_path("/Users/abc"), "/Users/abc");
    }

    #[test]
    fn bodies_are_indented_when_json() {
        assert_eq!(pretty(r#"{"a":1}"#), "{\n  \"a\": 1\n}");
        assert_eq!(
            pretty("(12 bytes, not JSON: not kept)"),
            "(12 bytes, not JSON: not kept)"
        );
    }
}
