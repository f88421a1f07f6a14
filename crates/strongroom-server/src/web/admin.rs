//! The admin area: users and projects. Only admins see it; for anyone else every admin path
//! is a 404 (its existence is not revealed).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use minijinja::context;

use super::errors::WebError;
use super::{PageCx, read};
use crate::state::AppState;

async fn admin_cx(state: &AppState, headers: &HeaderMap) -> Result<PageCx, WebError> {
    let cx = PageCx::load(state, headers).await?;
    match &cx.viewer {
        Some(v) if v.is_admin && !v.restricted => Ok(cx),
        _ => Err(WebError::not_found()),
    }
}

/// `GET /admin/`
pub(crate) async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let cx = admin_cx(&state, &headers).await?;
    cx.render("admin.html", context! { section => "" })
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
    cx.render(
        "admin.html",
        context! { section => "projects", projects => super::ser(&projects) },
    )
}
