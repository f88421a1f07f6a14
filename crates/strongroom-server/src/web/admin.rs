//! The admin area: users and projects, and the incident tools (freeze, quarantine, removal and
//! restore, held releases, prohibited names, site switches, pending role changes, timelines,
//! the log check). Only admins see it; for anyone else every admin path is a 404 (its existence
//! is not revealed). Every change is a CSRF-checked POST with a required reason.

use axum::Form;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use minijinja::{Value, context};
use serde::Deserialize;
use strongroom_core::CoreError;
use strongroom_core::admin::{AdminCap, Authority, SiteSwitch};
use strongroom_core::timeline::{TimelineOf, parse_time};

use super::errors::WebError;
use super::signed_in::field;
use super::{Meta, PageCx, csrf, read, see_other, session};
use crate::state::AppState;

pub(super) async fn admin_cx(state: &AppState, headers: &HeaderMap) -> Result<PageCx, WebError> {
    let cx = PageCx::load(state, headers).await?;
    match &cx.viewer {
        Some(v) if v.is_admin && !v.restricted => Ok(cx),
        _ => Err(WebError::not_found()),
    }
}

/// An admin's form POST: 404 for anyone else, then the CSRF check; the admin as the actor.
pub(super) async fn admin_post(
    state: &AppState,
    headers: &HeaderMap,
    form: &AdminForm,
) -> Result<AdminCap, WebError> {
    let viewer = session::viewer(state, headers).await?;
    let Some((viewer, cap)) =
        viewer.and_then(|v| state.services.admin_cap(&v.info).map(|cap| (v, cap)))
    else {
        return Err(WebError::not_found());
    };
    csrf::check_post(state, headers, Some(&viewer), form.csrf_token.as_deref())?;
    // Every intervention needs a recent password: a stolen admin cookie alone must not unfreeze
    // an account, approve a held removal or allow a prohibited name.
    if state.services.needs_reauth(&viewer.info) {
        let back = headers
            .get(axum::http::header::REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
            .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
            .filter(|path| path.starts_with("/admin/"))
            .unwrap_or("/admin/");
        let back = super::redirect::safe_next(Some(back));
        return Err(WebError::redirect(&format!(
            "/manage/account/reauth/?next={}",
            super::redirect::encoded(&back)
        )));
    }
    Ok(cap)
}

/// An admin section with the `?done=` confirmation.
fn section_page(cx: PageCx, q: &AdminQuery, ctx: Value) -> Result<Response, WebError> {
    cx.render(
        "admin.html",
        context! { done => done_message(q.done.as_deref()), ..ctx },
    )
}

/// A form's `action` (or `switch`) that names nothing.
fn unknown(what: &str) -> WebError {
    WebError::from(CoreError::Invalid(format!("Unknown {what}.")))
}

/// Every admin form's fields.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct AdminForm {
    #[serde(default)]
    csrf_token: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    roles_at: Option<String>,
    #[serde(default)]
    trust_address: Option<String>,
    #[serde(default)]
    switch: Option<String>,
    #[serde(default)]
    change_id: Option<String>,
}

/// `?done=` and `?since=` of the admin pages.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct AdminQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    since: Option<String>,
}

/// Fixed confirmations (never reflected text).
fn done_message(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "freeze" => "The account was frozen.",
        "unfreeze" => {
            "The account was unfrozen. Its tokens and sessions stay ended; it signs in only after a password reset, whose link went to the addresses it had before the incident (the timeline's admin:user:unfreeze entry names them and what is left for the owner to review)."
        }
        "reset-2fa" => {
            "Two-factor authentication was reset; a password reset link went to the account's verified addresses."
        }
        "restore-user" => {
            "The account was restored; it signs in only after a password reset, whose link went to the addresses it had before the incident."
        }
        "quarantine" => "The project was quarantined.",
        "release" => "The project was released from quarantine.",
        "remove" => "The project was removed.",
        "restore" => "The project was restored.",
        "approve" => "The release was published with all its files.",
        "approve-partial" => {
            "The release was published with the files that were not held on their own. The files marked held below joined it after its quarantine: each needs its own approval or rejection."
        }
        "remove-release" => "The release was removed.",
        "restore-release" => "The release was restored.",
        "remove-file" => "The file was removed.",
        "restore-file" => "The file was restored.",
        "approve-file" => "The held file was published.",
        "reject-file" => "The held file was rejected and deleted.",
        "prohibit" => "The name is now prohibited.",
        "allow" => "The name is allowed again.",
        "switch" => "The switch was set.",
        "approve-change" => "The role change was approved and applied.",
        _ => return None,
    })
}

fn done(page: &str, key: &str) -> Response {
    see_other(&format!("{page}?done={key}"), Vec::new())
}

fn since_of(q: &AdminQuery) -> Result<Option<i64>, WebError> {
    match q.since.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Ok(Some(parse_time(s).map_err(WebError::from)?)),
    }
}

/// How many of each signal group's newest entries the admin start page lists.
const SIGNALS_PER_GROUP: i64 = 5;

/// How many entries a signal kind's full list shows.
const SIGNAL_LOG_SHOWN: i64 = 500;

/// `GET /admin/`
pub(crate) async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let cx = admin_cx(&state, &headers).await?;
    let s = &state.services;
    let held = s.db.quarantined_releases().await?.len();
    let held_files = s.db.held_files().await?.len();
    let changes = s.db.all_pending_role_changes().await?.len();
    let now = s.now();
    let users = read::all_users(&state).await?;
    let on_hold: Vec<String> = users
        .iter()
        .filter(|u| u.deleted_at.is_none() && strongroom_core::hold::is_held(u, now))
        .map(|u| u.username.clone())
        .collect();
    let frozen = users
        .iter()
        .filter(|u| u.deleted_at.is_none() && u.frozen_at.is_some())
        .count();
    let signals = s.signal_groups(SIGNALS_PER_GROUP).await?;
    cx.render(
        "admin.html",
        context! {
            section => "",
            held_releases => held,
            held_files => held_files,
            pending_changes => changes,
            on_hold => on_hold,
            frozen => frozen,
            signal_groups => super::ser(&signals),
            signal_days => strongroom_core::signals::SIGNAL_DAYS,
        },
    )
}

/// `?kind=` of the signal list.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct SignalQuery {
    #[serde(default)]
    kind: Option<String>,
}

/// `GET /admin/signals/?kind=ACTION`: every event of one signal kind over the start page's
/// period, newest first (the windows' counted refusals among them).
pub(crate) async fn signals_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SignalQuery>,
) -> Result<Response, WebError> {
    let cx = admin_cx(&state, &headers).await?;
    let kind = q.kind.as_deref().unwrap_or_default();
    let (kind, entries) = state
        .services
        .signal_log(kind, SIGNAL_LOG_SHOWN)
        .await?
        .ok_or_else(WebError::not_found)?;
    cx.render(
        "admin.html",
        context! {
            section => "signals",
            signal_action => kind.action(),
            signal_description => kind.describe(),
            signal_days => strongroom_core::signals::SIGNAL_DAYS,
            entries => super::ser(&entries),
        },
    )
}

/// `GET /admin/users/`
pub(crate) async fn users(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let cx = admin_cx(&state, &headers).await?;
    let users = read::all_users(&state).await?;
    cx.render(
        "admin.html",
        context! { section => "users", users => super::ser(&users) },
    )
}

/// `GET /admin/projects/`
pub(crate) async fn projects(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let cx = admin_cx(&state, &headers).await?;
    let projects = read::all_projects(&state).await?;
    let hidden = state.services.db.projects_not_active().await?;
    let held = state.services.db.quarantined_releases().await?;
    let held_files = state.services.db.held_files().await?;
    cx.render(
        "admin.html",
        context! {
            section => "projects",
            projects => super::ser(&projects),
            hidden => super::ser(&hidden),
            held => super::ser(&held),
            held_files => super::ser(&held_files),
        },
    )
}

/// `GET /admin/users/{name}/`
pub(crate) async fn user_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
    let cx = admin_cx(&state, &headers).await?;
    let user = state
        .services
        .db
        .user_by_name(&name)
        .await?
        .ok_or_else(WebError::not_found)?;
    let emails = state.services.db.emails_of(user.id).await?;
    let two_factor = state.services.has_two_factor(user.id).await?;
    let timeline = state
        .services
        .timeline(TimelineOf::User(&user.username), since_of(&q)?)
        .await?;
    section_page(
        cx,
        &q,
        context! {
            section => "user",
            user => super::ser(&user),
            emails => super::ser(&emails),
            two_factor => two_factor,
            timeline => super::ser(&timeline),
            since => &q.since,
        },
    )
}

/// `POST /admin/users/{name}/`: `action` = freeze | unfreeze | reset-2fa | restore.
pub(crate) async fn user_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Meta(meta): Meta,
    Form(form): Form<AdminForm>,
) -> Result<Response, WebError> {
    let cap = admin_post(&state, &headers, &form).await?;
    let a = cap.actor().clone();
    let s = &state.services;
    let reason = field(&form.reason);
    let page = format!("/admin/users/{}/", encode(&name));
    let key = match field(&form.action) {
        "freeze" => {
            s.admin_freeze_user(&a, &name, reason, &meta).await?;
            "freeze"
        }
        "unfreeze" => {
            let trust = Some(field(&form.trust_address)).filter(|t| !t.trim().is_empty());
            s.admin_unfreeze_user(&a, &name, trust, reason, &meta)
                .await?;
            "unfreeze"
        }
        "reset-2fa" => {
            s.admin_reset_two_factor(&a, &name, reason, &meta).await?;
            "reset-2fa"
        }
        "restore" => {
            let at = match field(&form.roles_at).trim() {
                "" => None,
                t => Some(parse_time(t)?),
            };
            let trust = Some(field(&form.trust_address)).filter(|t| !t.trim().is_empty());
            s.admin_restore_user(&a, &name, at, trust, reason, &meta)
                .await?;
            "restore-user"
        }
        _ => return Err(unknown("action")),
    };
    Ok(done(&page, key))
}

/// `GET /admin/projects/{name}/`
pub(crate) async fn project_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
    let cx = admin_cx(&state, &headers).await?;
    let db = &state.services.db;
    let normalized = strongroom_protocol::name::normalize(&name);
    let p = match db.project_state(&normalized).await? {
        Some(p) => p,
        // A removed project whose name was freed keeps its row under the moved-away name.
        None => db
            .project_state(&name)
            .await?
            .ok_or_else(WebError::not_found)?,
    };
    let releases = db.releases_any_state(p.id).await?;
    let files = db.files_any_state(p.id).await?;
    let roles = db.roles_of_project(p.id).await?;
    let timeline = state
        .services
        .timeline(TimelineOf::Project(&p.normalized_name), since_of(&q)?)
        .await?;
    section_page(
        cx,
        &q,
        context! {
            section => "project",
            project => super::ser(&p),
            releases => super::ser(&releases),
            files => super::ser(&files),
            roles => super::ser(&roles),
            timeline => super::ser(&timeline),
            since => &q.since,
        },
    )
}

/// `POST /admin/projects/{name}/`: quarantine | release | remove | restore (the project),
/// approve | remove-release | restore-release (`version`), remove-file | restore-file |
/// approve-file | reject-file (`version`, `filename`).
pub(crate) async fn project_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Meta(meta): Meta,
    Form(form): Form<AdminForm>,
) -> Result<Response, WebError> {
    let cap = admin_post(&state, &headers, &form).await?;
    let by = Authority::Admin(&cap);
    let s = &state.services;
    let reason = field(&form.reason);
    let (version, filename) = (field(&form.version), field(&form.filename));
    let action = field(&form.action);
    match action {
        "quarantine" => {
            s.admin_quarantine_project(&cap, &name, reason, &meta)
                .await?
        }
        "release" => s.admin_release_project(&cap, &name, reason, &meta).await?,
        "remove" => s.remove_project(&by, &name, reason, &meta).await?,
        "restore" => s.admin_restore_project(&cap, &name, reason, &meta).await?,
        "approve" => {
            let approval = s
                .admin_approve_release(&cap, &name, version, reason, &meta)
                .await?;
            if !approval.still_held.is_empty() {
                return Ok(done(
                    &format!("/admin/projects/{}/", encode(&name)),
                    "approve-partial",
                ));
            }
        }
        "remove-release" => s.remove_release(&by, &name, version, reason, &meta).await?,
        "restore-release" => {
            s.admin_restore_release(&cap, &name, version, reason, &meta)
                .await?
        }
        "remove-file" => {
            s.remove_file(&by, &name, version, filename, reason, &meta)
                .await?
        }
        "restore-file" => {
            s.admin_restore_file(&cap, &name, version, filename, reason, &meta)
                .await?
        }
        "approve-file" => {
            s.admin_approve_file(&cap, &name, version, filename, reason, &meta)
                .await?
        }
        "reject-file" => {
            s.admin_reject_file(&cap, &name, version, filename, reason, &meta)
                .await?
        }
        _ => return Err(unknown("action")),
    }
    Ok(done(&format!("/admin/projects/{}/", encode(&name)), action))
}

/// `GET /admin/files/{id}`: any file, whatever its state (quarantined, removed), for admins.
pub(crate) async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    admin_cx(&state, &headers).await?;
    let id: i64 = id.parse().map_err(|_| WebError::not_found())?;
    let f = state
        .services
        .db
        .file_any_state(id)
        .await?
        .ok_or_else(WebError::not_found)?;
    let body = state
        .services
        .blobs
        .get(&f.blob_key, None)
        .await?
        .ok_or_else(|| WebError::internal(format!("blob missing for {}", f.filename)))?;
    let mut resp = Body::from_stream(body.map_err(std::io::Error::other)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(f.size.max(0)));
    // Filenames are checked at upload (no quotes or separators).
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", f.filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `GET /admin/names/`
pub(crate) async fn names_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
    let cx = admin_cx(&state, &headers).await?;
    let names = state.services.db.prohibited_names().await?;
    section_page(
        cx,
        &q,
        context! { section => "names", names => super::ser(&names) },
    )
}

/// `POST /admin/names/`: `action` = prohibit | allow, `name`.
pub(crate) async fn names_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<AdminForm>,
) -> Result<Response, WebError> {
    let cap = admin_post(&state, &headers, &form).await?;
    let a = cap.actor().clone();
    let (name, reason) = (field(&form.name), field(&form.reason));
    let key = match field(&form.action) {
        "prohibit" => {
            state
                .services
                .admin_prohibit_name(&a, name, reason, &meta)
                .await?;
            "prohibit"
        }
        "allow" => {
            state
                .services
                .admin_allow_name(&a, name, reason, &meta)
                .await?;
            "allow"
        }
        _ => return Err(unknown("action")),
    };
    Ok(done("/admin/names/", key))
}

/// `GET /admin/site/`: the switches, and (with `?verify=1`) the event log check.
pub(crate) async fn site_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
    let cx = admin_cx(&state, &headers).await?;
    let ctx = site_context(&state, None).await?;
    section_page(cx, &q, ctx)
}

/// The site section: switches, their history, and (after a check) the email-domain report.
async fn site_context(
    state: &AppState,
    domain_report: Option<Vec<String>>,
) -> Result<Value, WebError> {
    let s = &state.services;
    let read_only = s.switch_enabled(SiteSwitch::ReadOnly).await?;
    let no_new = s.switch_enabled(SiteSwitch::NoNewProjects).await?;
    let flags: Vec<serde_json::Value> =
        s.db.site_flags()
            .await?
            .into_iter()
            .map(|f| {
                serde_json::json!({"name": f.name, "enabled": f.enabled, "reason": f.reason,
                "updated_at": f.updated_at, "updated_by": f.updated_by})
            })
            .collect();
    Ok(context! {
        section => "site",
        read_only => read_only,
        no_new_projects => no_new,
        flags => super::ser(&flags),
        domain_report => domain_report,
    })
}

/// `POST /admin/site/domains/`: check every verified address's email domain now (DNS and RDAP),
/// as `strongroom admin check-domains` does, and show what was found.
pub(crate) async fn domains_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<AdminForm>,
) -> Result<Response, WebError> {
    let cap = admin_post(&state, &headers, &form).await?;
    let a = cap.actor().clone();
    let report = state.services.check_domains(&a, &meta).await?;
    let cx = admin_cx(&state, &headers).await?;
    let ctx = site_context(&state, Some(report.lines())).await?;
    section_page(cx, &AdminQuery::default(), ctx)
}

/// `POST /admin/site/`: `switch` = read_only | no_new_projects, `action` = on | off.
pub(crate) async fn site_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<AdminForm>,
) -> Result<Response, WebError> {
    let cap = admin_post(&state, &headers, &form).await?;
    let a = cap.actor().clone();
    let switch = match field(&form.switch) {
        "read_only" => SiteSwitch::ReadOnly,
        "no_new_projects" => SiteSwitch::NoNewProjects,
        _ => return Err(unknown("switch")),
    };
    let on = match field(&form.action) {
        "on" => true,
        "off" => false,
        _ => return Err(unknown("action")),
    };
    state
        .services
        .admin_set_switch(&a, switch, on, field(&form.reason), &meta)
        .await?;
    Ok(done("/admin/site/", "switch"))
}

/// `GET /admin/log/`: recompute the event log's hash chain.
pub(crate) async fn log_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let cx = admin_cx(&state, &headers).await?;
    let (intact, n) = match state.services.verify_log().await? {
        Ok(n) => (true, n),
        Err(seq) => (false, seq),
    };
    cx.render(
        "admin.html",
        context! { section => "log", intact => intact, n => n },
    )
}

/// `GET /admin/changes/`: role changes held for cooling-off, every project.
pub(crate) async fn changes_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
    let cx = admin_cx(&state, &headers).await?;
    let changes = state.services.db.all_pending_role_changes().await?;
    section_page(
        cx,
        &q,
        context! { section => "changes", changes => super::ser(&changes) },
    )
}

/// `POST /admin/changes/`: approve a pending change now (`change_id`, `reason`).
pub(crate) async fn changes_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<AdminForm>,
) -> Result<Response, WebError> {
    let cap = admin_post(&state, &headers, &form).await?;
    let a = cap.actor().clone();
    let id: i64 = field(&form.change_id)
        .trim()
        .parse()
        .map_err(|_| WebError::not_found())?;
    state
        .services
        .approve_role_change(&a, id, field(&form.reason), &meta)
        .await?;
    Ok(done("/admin/changes/", "approve-change"))
}

impl AdminForm {
    /// A form carrying only its CSRF token, for sections with forms of their own
    /// (`admin_invites`) that pass the same [`admin_post`] gate.
    pub(super) fn with_csrf(csrf_token: Option<String>) -> AdminForm {
        AdminForm {
            csrf_token,
            ..AdminForm::default()
        }
    }
}

impl AdminQuery {
    /// The `?done=` key.
    pub(super) fn done(&self) -> Option<&str> {
        self.done.as_deref()
    }
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use crate::web::templates::render;

    /// Every admin section renders; every change form carries the CSRF token and a required reason.
    #[test]
    fn admin_sections_render_with_csrf_and_reason() {
        let t = 1_700_000_000_000_000_i64;
        let entry = context! { time => "2026-11-22T13:05:01Z", actor => "cli:root", action => "admin:user:freeze",
        target => "user mallory", details => context! { reason => "takeover" }, ip => "192.0.2.1", user_agent => "UA" };
        let base = context! {
            viewer => context! { user_id => 1, username => "root", is_admin => true, restricted => false },
            csrf_token => "tok-123",
            timeline => vec![entry.clone()],
        };
        let cases = vec![
            (
                "user",
                context! { section => "user", user => context! { username => "mallory", frozen_at => t, frozen_reason => "x" },
                emails => vec![context! { address => "m@e.org", verified_at => t, is_primary => true }], ..base.clone() },
                "unfreeze",
            ),
            (
                "user-deleted",
                context! { section => "user", user => context! { username => "bob", deleted_at => t }, ..base.clone() },
                "roles_at",
            ),
            (
                "project",
                context! { section => "project",
                project => context! { name => "Demo", normalized_name => "demo", status => "active" },
                roles => vec![context! { username => "alice", role => "Owner" }],
                releases => vec![context! { id => 1, version => "1.0", canonical_version => "1", quarantined_at => t, quarantine_reason => "dormant" }],
                files => vec![context! { id => 9, release_id => 1, filename => "demo-1.0.tar.gz", size => 10 }],
                ..base.clone() },
                "/admin/files/9",
            ),
            (
                "names",
                context! { section => "names", names => vec![context! { name => "evil", reason => "r", created_at => t, created_by => "cli:x" }], ..base.clone() },
                "prohibit",
            ),
            (
                "site",
                context! { section => "site", read_only => true, no_new_projects => false, flags => Vec::<i32>::new(), ..base.clone() },
                "Turn read-only off",
            ),
            (
                "log",
                context! { section => "log", intact => false, n => 7, ..base.clone() },
                "event log BROKEN at entry 7",
            ),
            (
                "start",
                context! { section => "", signal_days => 30, signal_groups => vec![
                    context! { action => "account:freeze:requested", severity => "high", count => 1,
                        newest_time => "2026-11-22T13:05:01Z", description => "asked",
                        latest => vec![context! { time => "2026-11-22T13:05:01Z", actor => "newbie",
                            action => "account:freeze:requested", target => "user alice",
                            details => context! { user => "alice", requested_by => "newbie", project => "demo" } }] },
                    context! { action => "token:use:refused", severity => "medium", count => 40,
                        newest_time => "2026-11-22T13:05:01Z", description => "old tokens", latest => vec![entry.clone()] },
                ], ..base.clone() },
                "href=\"/admin/users/newbie/\"",
            ),
            (
                "signals",
                context! { section => "signals", signal_action => "token:use:refused", signal_description => "old tokens",
                signal_days => 30, entries => vec![entry.clone()], ..base.clone() },
                "id=\"signal-log\"",
            ),
            (
                "changes",
                context! { section => "changes", changes => vec![context! { id => 3, project_name => "Demo", kind => "remove", target_name => "alice", actor_name => "eve", effective_at => t }], ..base.clone() },
                "change_id",
            ),
        ];
        for (name, ctx, expect) in cases {
            let out = render("admin.html", ctx).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(out.contains(expect), "{name}: {expect} missing");
            // The admin forms (base.html adds the logout form, which has no `action` field).
            let forms = out.matches("name=\"action\" value=").count();
            assert!(
                forms > 0 || ["log", "start", "signals"].contains(&name),
                "{name}: no forms"
            );
            assert_eq!(
                out.matches("method=\"post\"").count(),
                out.matches("value=\"tok-123\"").count(),
                "{name}: every form has the CSRF token"
            );
            assert_eq!(
                out.matches("name=\"reason\" required").count(),
                forms,
                "{name}: every form asks a reason"
            );
        }
    }
}
