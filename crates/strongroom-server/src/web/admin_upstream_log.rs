//! The admin area's download log (`/admin/upstream/log?project=NAME&since=T`): what
//! `strongroom admin upstream log` prints, as a page: every download of a project still on
//! record (time, origin, version, filename, sha256, client address, user agent), each file's
//! first download, and the daily counts of downloads past `downloads.retention_days`. Same gate
//! as the rest of the admin area (404 for anyone but an admin); a read, so a GET form.

use axum::extract::{Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use strongroom_core::download_log::{DEFAULT_LIMIT, LogQuery};

use super::errors::WebError;
use super::extract::Admin;
use crate::state::AppState;

/// `?project=&since=`
#[derive(Debug, Deserialize, Default)]
pub(crate) struct LogForm {
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    since: Option<String>,
}

/// `GET /admin/upstream/log`
pub(crate) async fn show_log(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
    Query(form): Query<LogForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    let project = form.project.as_deref().map(str::trim).unwrap_or_default();
    let since = form.since.as_deref().map(str::trim).unwrap_or_default();
    let mut shown = Value::UNDEFINED;
    if !project.is_empty() {
        let q = LogQuery::parse(project, Some(since))?;
        let log = s
            .download_log_of(&q.project, q.since, DEFAULT_LIMIT)
            .await?;
        let downloads: Vec<Value> = log
            .downloads
            .into_iter()
            .map(|d| {
                context! {
                    at => d.at, origin => d.origin.as_str(), version => d.version,
                    filename => d.filename, sha256 => d.sha256, ip => d.ip,
                    user_agent => d.user_agent,
                }
            })
            .collect();
        let files: Vec<Value> = log
            .files
            .into_iter()
            .map(|f| {
                context! {
                    first_seen => f.first_seen, origin => f.origin.as_str(), version => f.version,
                    filename => f.filename, sha256 => f.sha256, downloads => f.downloads,
                }
            })
            .collect();
        let counts: Vec<Value> = log
            .counts
            .into_iter()
            .map(|c| {
                context! {
                    day => strongroom_core::clock::iso8601_seconds(c.day)[..10].to_owned(),
                    origin => c.origin.as_str(), version => c.version, filename => c.filename,
                    sha256 => c.sha256, count => c.count,
                }
            })
            .collect();
        shown = context! {
            project => q.project, since => (q.since > 0).then_some(q.since),
            truncated => downloads.len() as i64 >= DEFAULT_LIMIT, limit => DEFAULT_LIMIT,
            downloads => downloads, files => files, counts => counts,
        };
    }
    cx.render(
        "admin.html",
        context! {
            section => "upstream-log",
            form_project => project,
            form_since => since,
            retention_days => s.settings.downloads.retention_days,
            log => shown,
        },
    )
}
