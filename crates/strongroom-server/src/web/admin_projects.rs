//! The admin area's projects: a project's page and the incident tools on it (quarantine,
//! removal and restore of the project, a release or a file; approval or rejection of held
//! releases and files; any file downloaded whatever its state).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use minijinja::context;
use strongroom_core::admin::Authority;
use strongroom_core::timeline::TimelineOf;

use super::Meta;
use super::admin::{AdminForm, AdminQuery, done, encode, page_path, section_page, since_of};
use super::errors::WebError;
use super::extract::{Admin, CsrfForm};
use crate::state::AppState;

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
