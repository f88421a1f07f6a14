//! The admin area's impact report (`/admin/impact/{project}/?version=&since=`): what
//! `strongroom admin impact` prints, as a page with a server-drawn SVG chart (downloads per
//! day, page reads, the incident's events on the time axis; `super::impact_chart`). Same gate
//! as the rest of the admin area (404 for anyone but an admin); a read, so GET only.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use strongroom_core::clock::iso8601_seconds;
use strongroom_core::impact::{ImpactQuery, ImpactReport};

use super::errors::WebError;
use super::extract::Admin;
use super::impact_chart::{self, Marker};
use crate::state::AppState;

/// `?version=&since=`
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ImpactForm {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    since: Option<String>,
}

fn day(at: i64) -> String {
    iso8601_seconds(at)[..10].to_owned()
}

/// The chart of a report (escaped by the generator; the template marks it safe).
pub(crate) fn chart(r: &ImpactReport) -> String {
    let markers: Vec<Marker> = r
        .events
        .iter()
        .map(|e| Marker {
            at: e.at,
            kind: e.kind.as_str(),
            title: format!(
                "{}Z {} {}{} by {}",
                iso8601_seconds(e.at),
                e.action,
                e.version.as_deref().unwrap_or(""),
                e.filename
                    .as_deref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default(),
                e.actor
            ),
        })
        .collect();
    impact_chart::render(
        &format!("Downloads of {} per day, with events", r.project),
        &r.downloads_per_day(),
        &r.page_hits_daily,
        &markers,
    )
}

/// `GET /admin/impact/{project}/`
pub(crate) async fn show_impact(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
    Path(project): Path<String>,
    Query(form): Query<ImpactForm>,
) -> Result<Response, WebError> {
    let q = ImpactQuery::parse(&project, form.version.as_deref(), form.since.as_deref())?;
    let r = state.services.impact_report(&q).await?;
    let svg = chart(&r);
    let files: Vec<Value> = r
        .files
        .into_iter()
        .map(|f| {
            context! {
                version => f.version, filename => f.filename, sha256 => f.sha256,
                uploaded_at => f.uploaded_at, from => f.installable_from,
                until => f.installable_until,
                ended_by => f.ended_by.map(|e| format!("{e:?}").to_lowercase()),
                downloads => f.downloads,
            }
        })
        .collect();
    let daily: Vec<Value> = r
        .daily
        .into_iter()
        .map(|d| {
            context! {
                day => day(d.day), origin => d.origin, version => d.version,
                filename => d.filename, count => d.count,
            }
        })
        .collect();
    let kinds: Vec<Value> = r
        .kinds
        .iter()
        .map(|k| {
            context! {
                kind => k.kind.as_str(), page_hits => k.page_hits, downloads => k.downloads,
                mirror => k.kind.is_mirror(), installer => k.kind.is_installer(),
            }
        })
        .collect();
    let clients: Vec<Value> = r
        .clients
        .into_iter()
        .map(|c| {
            context! {
                ip => c.ip, version => c.version, downloads => c.downloads,
                first => c.first, last => c.last,
            }
        })
        .collect();
    let addresses: Vec<Value> = r
        .addresses
        .into_iter()
        .map(|a| context! { version => a.version, on_record => a.on_record, folded => a.folded_day_sum })
        .collect();
    let dependents: Vec<Value> = r
        .dependents
        .into_iter()
        .map(|d| context! { project => d.project, version => d.version, requirement => d.requirement })
        .collect();
    let events: Vec<Value> = r
        .events
        .into_iter()
        .map(|e| {
            context! {
                at => e.at, kind => e.kind.as_str(), action => e.action, actor => e.actor,
                version => e.version, filename => e.filename,
            }
        })
        .collect();
    let impact = context! {
        project => r.project.clone(), version => r.version.clone(), since => (r.since > 0).then_some(r.since),
        local => r.local, retention_days => r.retention_days, files => files, daily => daily,
        kinds => kinds, downloads_with_kind => r.downloads_with_kind, clients => clients,
        clients_truncated => r.clients_truncated, addresses => addresses,
        dependents => dependents, dependents_truncated => r.dependents_truncated,
        events => events, chart => Value::from_safe_string(svg),
    };
    cx.render(
        "admin.html",
        context! {
            section => "impact",
            form_version => form.version.unwrap_or_default(),
            form_since => form.since.unwrap_or_default(),
            impact => impact,
        },
    )
}
