//! The admin area's site-wide tools: prohibited names, the site switches and the email-domain
//! check, the event log's verification, and role changes held for cooling-off.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use strongroom_core::admin::SiteSwitch;

use super::Meta;
use super::admin::{AdminForm, AdminQuery, done, section_page};
use super::errors::WebError;
use super::extract::{Admin, CsrfForm};
use crate::state::AppState;

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
