//! The admin area: users and projects, and the incident tools (freeze, quarantine, removal and
//! restore, held releases, prohibited names, site switches, pending role changes, timelines,
//! the log check). Only admins see it; for anyone else every admin path is a 404 (its existence
//! is not revealed). Every change is a CSRF-checked POST with a required reason.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use minijinja::{Value, context};
use serde::Deserialize;
use strongroom_core::admin::{Authority, SiteSwitch};
use strongroom_core::timeline::{TimelineOf, parse_time};

use super::errors::WebError;
use super::extract::{Admin, CsrfForm};
use super::{Meta, PageCx, read, see_other};
use crate::state::AppState;

/// An admin section with the `?done=` confirmation.
fn section_page(cx: PageCx, q: &AdminQuery, ctx: Value) -> Result<Response, WebError> {
    cx.render(
        "admin.html",
        context! { done => done_message(q.done.as_deref()), ..ctx },
    )
}

/// Every admin change's form: the reason the log keeps, and (for some) one more field.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct AdminForm {
    #[serde(default)]
    reason: String,
    /// `prohibit_name`, `allow_name`: the name.
    #[serde(default)]
    name: String,
    /// `restore_user`: when the roles to bring back were held (RFC 3339; empty = before the
    /// incident).
    #[serde(default)]
    roles_at: String,
    /// `unfreeze_user`, `restore_user`: an address the admin confirmed the owner controls.
    #[serde(default)]
    trust_address: String,
}

impl AdminForm {
    fn trust(&self) -> Option<&str> {
        Some(self.trust_address.as_str()).filter(|t| !t.trim().is_empty())
    }
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
        "allow-upstream" => {
            "The name is allowed again. This index has served it from an upstream index (or the name watch found it there), so installs of it through this index now get the upstream's project. To keep it for local projects, add it to upstream.private_patterns."
        }
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
pub(crate) async fn show_admin(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
) -> Result<Response, WebError> {
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
pub(crate) async fn show_signals(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
    Query(q): Query<SignalQuery>,
) -> Result<Response, WebError> {
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
pub(crate) async fn list_users(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
) -> Result<Response, WebError> {
    let users = read::all_users(&state).await?;
    cx.render(
        "admin.html",
        context! { section => "users", users => super::ser(&users) },
    )
}

/// `GET /admin/projects/`
pub(crate) async fn list_projects(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
) -> Result<Response, WebError> {
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
pub(crate) async fn show_user(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
    Path(name): Path<String>,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
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
            base => page_path("users", &name),
            user => super::ser(&user),
            emails => super::ser(&emails),
            two_factor => two_factor,
            timeline => super::ser(&timeline),
            since => &q.since,
        },
    )
}

/// `/admin/users/{name}/`: the page every user action goes back to.
fn user_done(name: &str, key: &str) -> Result<Response, WebError> {
    Ok(done(&format!("/admin/users/{}/", encode(name)), key))
}

/// `POST /admin/users/{name}/freeze/`
pub(crate) async fn freeze_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_freeze_user(admin.cap.actor(), &name, &form.reason, &meta)
        .await?;
    user_done(&name, "freeze")
}

/// `POST /admin/users/{name}/unfreeze/` (`trust_address` optional)
pub(crate) async fn unfreeze_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_unfreeze_user(admin.cap.actor(), &name, form.trust(), &form.reason, &meta)
        .await?;
    user_done(&name, "unfreeze")
}

/// `POST /admin/users/{name}/reset-2fa/`
pub(crate) async fn reset_two_factor(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_reset_two_factor(admin.cap.actor(), &name, &form.reason, &meta)
        .await?;
    user_done(&name, "reset-2fa")
}

/// `POST /admin/users/{name}/restore/` (`roles_at`, `trust_address` optional)
pub(crate) async fn restore_user(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let at = match form.roles_at.trim() {
        "" => None,
        t => Some(parse_time(t)?),
    };
    let s = &state.services;
    s.admin_restore_user(
        admin.cap.actor(),
        &name,
        at,
        form.trust(),
        &form.reason,
        &meta,
    )
    .await?;
    user_done(&name, "restore-user")
}

/// `GET /admin/projects/{name}/`
pub(crate) async fn show_project(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
    Path(name): Path<String>,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
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
            base => page_path("projects", &name),
            project => super::ser(&p),
            releases => super::ser(&releases),
            files => super::ser(&files),
            roles => super::ser(&roles),
            timeline => super::ser(&timeline),
            since => &q.since,
        },
    )
}

/// `/admin/projects/{name}/`: the page every project action goes back to.
fn project_done(name: &str, key: &str) -> Result<Response, WebError> {
    Ok(done(&format!("/admin/projects/{}/", encode(name)), key))
}

/// `POST /admin/projects/{name}/quarantine/`
pub(crate) async fn quarantine_project(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_quarantine_project(&admin.cap, &name, &form.reason, &meta)
        .await?;
    project_done(&name, "quarantine")
}

/// `POST /admin/projects/{name}/unquarantine/`: released from quarantine.
pub(crate) async fn unquarantine_project(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_release_project(&admin.cap, &name, &form.reason, &meta)
        .await?;
    project_done(&name, "release")
}

/// `POST /admin/projects/{name}/remove/`
pub(crate) async fn remove_project(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.remove_project(&Authority::Admin(&admin.cap), &name, &form.reason, &meta)
        .await?;
    project_done(&name, "remove")
}

/// `POST /admin/projects/{name}/restore/`
pub(crate) async fn restore_project(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_restore_project(&admin.cap, &name, &form.reason, &meta)
        .await?;
    project_done(&name, "restore")
}

/// `POST /admin/projects/{name}/release/{version}/approve/`: published with every file not held
/// on its own.
pub(crate) async fn approve_release(
    State(state): State<AppState>,
    admin: Admin,
    Path((name, version)): Path<(String, String)>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    let approval = s
        .admin_approve_release(&admin.cap, &name, &version, &form.reason, &meta)
        .await?;
    if approval.still_held.is_empty() {
        project_done(&name, "approve")
    } else {
        project_done(&name, "approve-partial")
    }
}

/// `POST /admin/projects/{name}/release/{version}/remove/`
pub(crate) async fn remove_release(
    State(state): State<AppState>,
    admin: Admin,
    Path((name, version)): Path<(String, String)>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.remove_release(
        &Authority::Admin(&admin.cap),
        &name,
        &version,
        &form.reason,
        &meta,
    )
    .await?;
    project_done(&name, "remove-release")
}

/// `POST /admin/projects/{name}/release/{version}/restore/`
pub(crate) async fn restore_release(
    State(state): State<AppState>,
    admin: Admin,
    Path((name, version)): Path<(String, String)>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_restore_release(&admin.cap, &name, &version, &form.reason, &meta)
        .await?;
    project_done(&name, "restore-release")
}

/// `POST /admin/projects/{name}/release/{version}/file/{filename}/remove/`
pub(crate) async fn remove_file(
    State(state): State<AppState>,
    admin: Admin,
    Path((name, version, filename)): Path<(String, String, String)>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let by = Authority::Admin(&admin.cap);
    let s = &state.services;
    s.remove_file(&by, &name, &version, &filename, &form.reason, &meta)
        .await?;
    project_done(&name, "remove-file")
}

/// `POST /admin/projects/{name}/release/{version}/file/{filename}/restore/`
pub(crate) async fn restore_file(
    State(state): State<AppState>,
    admin: Admin,
    Path((name, version, filename)): Path<(String, String, String)>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_restore_file(&admin.cap, &name, &version, &filename, &form.reason, &meta)
        .await?;
    project_done(&name, "restore-file")
}

/// `POST /admin/projects/{name}/release/{version}/file/{filename}/approve/`: a held file
/// published.
pub(crate) async fn approve_file(
    State(state): State<AppState>,
    admin: Admin,
    Path((name, version, filename)): Path<(String, String, String)>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_approve_file(&admin.cap, &name, &version, &filename, &form.reason, &meta)
        .await?;
    project_done(&name, "approve-file")
}

/// `POST /admin/projects/{name}/release/{version}/file/{filename}/reject/`: a held file
/// rejected and deleted.
pub(crate) async fn reject_file(
    State(state): State<AppState>,
    admin: Admin,
    Path((name, version, filename)): Path<(String, String, String)>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_reject_file(&admin.cap, &name, &version, &filename, &form.reason, &meta)
        .await?;
    project_done(&name, "reject-file")
}

/// `GET /admin/files/{id}`: any file, whatever its state (quarantined, removed), for admins.
pub(crate) async fn download_file(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
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
pub(crate) async fn show_names(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
    let names = state.services.db.prohibited_names().await?;
    section_page(
        cx,
        &q,
        context! { section => "names", names => super::ser(&names) },
    )
}

/// `POST /admin/names/prohibit/` (`name`)
pub(crate) async fn prohibit_name(
    State(state): State<AppState>,
    admin: Admin,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_prohibit_name(admin.cap.actor(), &form.name, &form.reason, &meta)
        .await?;
    Ok(done("/admin/names/", "prohibit"))
}

/// `POST /admin/names/allow/` (`name`: a prohibited name, or a removed project's)
pub(crate) async fn allow_name(
    State(state): State<AppState>,
    admin: Admin,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    let allowed = s
        .admin_allow_name(admin.cap.actor(), &form.name, &form.reason, &meta)
        .await?;
    let key = if allowed.upstream.is_empty() {
        "allow"
    } else {
        "allow-upstream"
    };
    Ok(done("/admin/names/", key))
}

/// `GET /admin/site/`: the switches, and (with `?verify=1`) the event log check.
pub(crate) async fn show_site(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
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
pub(crate) async fn check_domains(
    State(state): State<AppState>,
    admin: Admin,
    Meta(meta): Meta,
    CsrfForm(_): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let report = state
        .services
        .check_domains(admin.cap.actor(), &meta)
        .await?;
    let cx = admin.cx;
    let ctx = site_context(&state, Some(report.lines())).await?;
    section_page(cx, &AdminQuery::default(), ctx)
}

/// A site switch as the path names it (`read_only`, `no_new_projects`); any other is a 404.
fn switch_named(name: &str) -> Result<SiteSwitch, WebError> {
    match name {
        "read_only" => Ok(SiteSwitch::ReadOnly),
        "no_new_projects" => Ok(SiteSwitch::NoNewProjects),
        _ => Err(WebError::not_found()),
    }
}

/// `POST /admin/site/switch/{switch}/on/`
pub(crate) async fn turn_switch_on(
    State(state): State<AppState>,
    admin: Admin,
    Path(switch): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_set_switch(
        admin.cap.actor(),
        switch_named(&switch)?,
        true,
        &form.reason,
        &meta,
    )
    .await?;
    Ok(done("/admin/site/", "switch"))
}

/// `POST /admin/site/switch/{switch}/off/`
pub(crate) async fn turn_switch_off(
    State(state): State<AppState>,
    admin: Admin,
    Path(switch): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let s = &state.services;
    s.admin_set_switch(
        admin.cap.actor(),
        switch_named(&switch)?,
        false,
        &form.reason,
        &meta,
    )
    .await?;
    Ok(done("/admin/site/", "switch"))
}

/// `GET /admin/log/`: recompute the event log's hash chain.
pub(crate) async fn verify_log(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
) -> Result<Response, WebError> {
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
pub(crate) async fn show_changes(
    State(state): State<AppState>,
    Admin { cx, .. }: Admin,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
    let changes = state.services.db.all_pending_role_changes().await?;
    section_page(
        cx,
        &q,
        context! { section => "changes", changes => super::ser(&changes) },
    )
}

/// `POST /admin/changes/{id}/approve/`: a held role change applied now.
pub(crate) async fn approve_change(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AdminForm>,
) -> Result<Response, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::not_found())?;
    state
        .services
        .approve_role_change(admin.cap.actor(), id, &form.reason, &meta)
        .await?;
    Ok(done("/admin/changes/", "approve-change"))
}

impl AdminQuery {
    /// The `?done=` key.
    pub(super) fn done(&self) -> Option<&str> {
        self.done.as_deref()
    }
}

/// `/admin/{kind}/{name}/`, the name percent-encoded (so nothing in it needs HTML escaping).
fn page_path(kind: &str, name: &str) -> Value {
    Value::from_safe_string(format!("/admin/{kind}/{}/", encode(name)))
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
            base => minijinja::Value::from_safe_string("/admin/x/".into()),
            viewer => context! { user_id => 1, username => "root", is_admin => true, restricted => false },
            csrf_token => "tok-123",
            timeline => vec![entry.clone()],
        };
        let cases = vec![
            (
                "user",
                context! { section => "user", user => context! { username => "mallory", frozen_at => t, frozen_reason => "x" },
                emails => vec![context! { address => "m@e.org", verified_at => t, is_primary => true }], ..base.clone() },
                "action=\"/admin/x/unfreeze/\"",
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
                "action=\"/admin/names/prohibit/\"",
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
                "action=\"/admin/changes/3/approve/\"",
            ),
        ];
        for (name, ctx, expect) in cases {
            let out = render("admin.html", ctx).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            // paths built in the template are escaped as every value is (`/` as `&#x2f;`)
            let out = out.replace("&#x2f;", "/");
            assert!(out.contains(expect), "{name}: {expect} missing");
            // The admin change forms (base.html adds the logout form; the domain check asks
            // nothing), each posting to its own route: no `action` field names the operation.
            assert!(!out.contains("name=\"action\""), "{name}: an action field");
            let forms = out.matches("method=\"post\" action=\"/admin/").count()
                - out.matches("action=\"/admin/site/domains/\"").count();
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

    /// The timeline is read by a person at a desk: times without the `T`/`Z` noise, details as
    /// key/value with yes/no and "none", hashes and user agents cut short with the whole value
    /// on hover and on expand; nothing is dropped.
    #[test]
    fn the_timeline_is_readable() {
        let hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        let entry = context! { time => "2026-11-22T13:05:01Z", actor => "alice", action => "file:upload",
        target => "project demo", details => context! { digest => hash, trusted => true, previous => (), reason => "a new release", files => vec!["a.whl", "b.tar.gz"],
            expires_at => 1_700_000_000_000_000_i64, size => 1_700_000_000_000_000_i64 },
        ip => "192.0.2.1", user_agent => ua };
        let out = render(
            "admin.html",
            context! {
                viewer => context! { user_id => 1, username => "root", is_admin => true, restricted => false },
                csrf_token => "tok", section => "user",
                user => context! { username => "alice" }, timeline => vec![entry],
            },
        )
        .expect("render");
        let table = &out[out.find("id=\"timeline\"").expect("timeline")..];
        assert!(
            table.contains("<time datetime=\"2026-11-22T13:05:01Z\""),
            "{table}"
        );
        assert!(table.contains(">2026-11-22 13:05:01</time>"), "{table}");
        assert!(table.contains("<dt>trusted</dt><dd>yes</dd>"), "{table}");
        assert!(
            table.contains("<dt>previous</dt><dd><span class=\"none\">none</span></dd>"),
            "{table}"
        );
        assert!(
            table.contains("<dt>reason</dt><dd>a new release</dd>"),
            "{table}"
        );
        assert!(
            table.contains("<dt>files</dt><dd>a.whl, b.tar.gz</dd>"),
            "{table}"
        );
        // a time in microseconds is a date; another large number stays a number
        assert!(table.contains(">2023-11-14 22:13 UTC</span>"), "{table}");
        assert!(
            table.contains("<dt>size</dt><dd>1700000000000000</dd>"),
            "{table}"
        );
        assert!(
            table.contains("<td class=\"action\"><code>file:upload</code>"),
            "{table}"
        );
        // the hash: its start shown, the whole on hover (title) and on expand
        assert!(table.contains("<code>sha256:9f86d…</code>"), "{table}");
        assert_eq!(table.matches(hash).count(), 2, "{table}");
        assert!(!table.contains("digest="), "{table}");
        // the user agent: cut, the whole on hover and expand
        let cut = minijinja::HtmlEscape("Mozilla/5.0 (X11; Linux x86_").to_string();
        assert!(table.contains(&format!("{cut}…</summary>")), "{table}");
        assert_eq!(
            table
                .matches(&minijinja::HtmlEscape(ua).to_string())
                .count(),
            2,
            "{table}"
        );
    }
}
