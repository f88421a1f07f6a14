//! The admin area's accounts: an account's page (roles, sessions, timeline) and what an admin
//! does to one after an incident (freeze, unfreeze, reset its second factor, restore it).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::context;
use strongroom_core::timeline::{TimelineOf, parse_time};

use super::Meta;
use super::admin::{AdminForm, AdminQuery, done, encode, page_path, section_page, since_of};
use super::errors::WebError;
use super::extract::{Admin, CsrfForm};
use crate::state::AppState;

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
