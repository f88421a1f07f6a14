//! Managing projects from the web: the viewer's projects, one project's members, invitations,
//! held role changes and releases (yank, unyank, removal), the viewer's invitations, and the
//! veto link of a held owner removal. Releases, files and invitations are named by database id
//! and core looks them up *within the project the viewer manages*; nothing re-parses a name.

use axum::Form;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use strongroom_core::admin::Authority;
use strongroom_core::ownership::{ChangeOutcome, Veto};
use strongroom_store::ProjectRole;

use super::errors::WebError;
use super::redirect::encoded;
use super::signed_in::{field, id, post_viewer, require_login};
use super::{Meta, PageCx, csrf, see_other, session};
use crate::state::AppState;

/// Every project form: all fields optional, so a missing CSRF token is a 403, not a 422.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ProjectForm {
    #[serde(default)]
    csrf_token: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    invitation_id: Option<String>,
    #[serde(default)]
    change_id: Option<String>,
    #[serde(default)]
    release_id: Option<String>,
    #[serde(default)]
    file_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// `?done=` of the pages.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// The fixed confirmations of these pages (`?done=<key>`; never reflected text).
fn done_message(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "invited" => "Invitation sent. It is valid until the time shown below.",
        "revoked" => "The invitation was revoked.",
        "role" => "The role was changed.",
        "removed" => "The member was removed.",
        "pending" => {
            "The change is held for the cooling-off period: the Owner concerned was emailed and can veto it. It is listed below with the time it takes effect."
        }
        "cancelled" => "The pending change was cancelled.",
        "yanked" => "The release was yanked.",
        "unyanked" => "The release was un-yanked.",
        "release-removed" => "The release was removed.",
        "file-removed" => "The file was removed.",
        "accepted" => "Invitation accepted.",
        "declined" => "Invitation declined.",
        "left" => "You left the project.",
        "deleted" => "The project was deleted.",
        _ => return None,
    })
}

fn project_page(name: &str) -> String {
    format!("/manage/project/{}/", encoded(name))
}

/// `GET /manage/projects/`
pub(crate) async fn projects_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let (cx, v) = match require_login(&state, &headers, &uri, false).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let projects: Vec<_> = state
        .services
        .my_projects(v.user_id)
        .await?
        .into_iter()
        .map(|(p, role, since)| {
            context! { name => p.name, normalized => p.normalized_name, status => p.status.as_str(),
            role => role.as_str(), since => since }
        })
        .collect();
    let invitations = state.services.my_invitations(v.user_id).await?.len();
    cx.render(
        "my_projects.html",
        context! { my_projects => projects, invitation_count => invitations,
        notice => done_message(q.done.as_deref()) },
    )
}

/// `GET /manage/project/{name}/`
pub(crate) async fn project_page_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(name): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let (cx, v) = match require_login(&state, &headers, &uri, false).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let m = state.services.project_manage(&v.info.user, &name).await?;
    let files = state.services.db.files_of(m.project.id).await?;
    let members: Vec<_> = m
        .members
        .iter()
        .map(|r| {
            context! { username => &r.username, role => r.role.as_str(), since => r.granted_at,
            me => r.user_id == v.user_id }
        })
        .collect();
    let invitations: Vec<_> = m
        .invitations
        .iter()
        .map(|i| {
            context! { id => i.id, invitee => &i.invitee_name, inviter => &i.inviter_name,
            role => i.role.as_str(), created_at => i.created_at, expires_at => i.expires_at }
        })
        .collect();
    let changes: Vec<_> = m
        .pending_changes
        .iter()
        .map(|c| {
            context! { id => c.id, target => &c.target_name, actor => &c.actor_name,
            kind => c.kind.as_str(), new_role => c.new_role.map(ProjectRole::as_str), created_at => c.created_at,
            effective_at => c.effective_at, mine => c.actor_id == v.user_id,
            aimed_at_me => c.target_id == v.user_id }
        })
        .collect();
    let releases: Vec<_> = m
        .releases
        .iter()
        .map(|r| {
            let fs: Vec<_> = files
                .iter()
                .filter(|f| f.release_id == r.id)
                .map(|f| context! { id => f.id, filename => &f.filename })
                .collect();
            context! { id => r.id, version => &r.version, created_at => r.created_at,
            yanked => r.yanked_at.is_some(), yanked_reason => &r.yanked_reason, files => fs }
        })
        .collect();
    cx.render(
        "manage_project.html",
        context! {
            project => context! { name => m.project.name, normalized => m.project.normalized_name,
                status => m.project.status.as_str() },
            my_role => m.my_role.as_str(), is_owner => m.my_role == ProjectRole::Owner,
            members => members, invitations => invitations, changes => changes,
            releases => releases, listed => super::ser(&m.listed),
            notice => done_message(q.done.as_deref()),
        },
    )
}

/// `POST /manage/project/{name}/` (`action`: invite, revoke, role, remove, leave, cancel,
/// yank, unyank, remove-release, remove-file, delete)
pub(crate) async fn project_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Path(name): Path<String>,
    Form(form): Form<ProjectForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), false).await?;
    let s = &state.services;
    let user = &v.info.user;
    let page = project_page(&name);
    let back = |done: &str| Ok(see_other(&format!("{page}?done={done}"), Vec::new()));
    let changed = |out: ChangeOutcome, done: &str| match out {
        ChangeOutcome::Applied => back(done),
        ChangeOutcome::Pending { .. } => back("pending"),
    };
    // Who may act on the project, and whether it exists, are changes only a recent proof of
    // identity may make (a stolen session cookie alone cannot hand the project over).
    let sensitive = matches!(
        field(&form.action),
        "invite"
            | "role"
            | "remove"
            | "leave"
            | "cancel"
            | "delete"
            | "remove-release"
            | "remove-file"
            | "yank"
            | "unyank"
    );
    if sensitive && s.needs_reauth(&v.info) {
        return Err(WebError::redirect(&format!(
            "/manage/account/reauth/?next={}",
            encoded(&page)
        )));
    }
    match field(&form.action) {
        "invite" => {
            s.invite(user, &name, field(&form.username), field(&form.role), &meta)
                .await?;
            back("invited")
        }
        "revoke" => {
            s.revoke_invitation(user, &name, id(&form.invitation_id)?, &meta)
                .await?;
            back("revoked")
        }
        "role" => changed(
            s.change_role(user, &name, field(&form.username), field(&form.role), &meta)
                .await?,
            "role",
        ),
        "remove" => changed(
            s.remove_member(user, &name, field(&form.username), &meta)
                .await?,
            "removed",
        ),
        "leave" => {
            s.leave_project(user, &name, &meta).await?;
            Ok(see_other("/manage/projects/?done=left", Vec::new()))
        }
        "cancel" => {
            s.cancel_role_change(user, &name, id(&form.change_id)?, &meta)
                .await?;
            back("cancelled")
        }
        "yank" => {
            let reason = field(&form.reason).trim();
            s.set_yanked_by_id(user, &name, id(&form.release_id)?, Some(reason), &meta)
                .await?;
            back("yanked")
        }
        "unyank" => {
            s.set_yanked_by_id(user, &name, id(&form.release_id)?, None, &meta)
                .await?;
            back("unyanked")
        }
        "remove-release" => {
            let rid = id(&form.release_id)?;
            let m = s.project_manage(user, &name).await?;
            let r = m
                .releases
                .iter()
                .find(|r| r.id == rid)
                .ok_or_else(WebError::not_found)?;
            s.remove_release(
                &Authority::Owner(user),
                &m.project.name,
                &r.version,
                field(&form.reason),
                &meta,
            )
            .await?;
            back("release-removed")
        }
        "remove-file" => {
            let fid = id(&form.file_id)?;
            let m = s.project_manage(user, &name).await?;
            let files = s.db.files_of(m.project.id).await?;
            let f = files
                .iter()
                .find(|f| f.id == fid)
                .ok_or_else(WebError::not_found)?;
            let r = m
                .releases
                .iter()
                .find(|r| r.id == f.release_id)
                .ok_or_else(WebError::not_found)?;
            s.remove_file(
                &Authority::Owner(user),
                &m.project.name,
                &r.version,
                &f.filename,
                field(&form.reason),
                &meta,
            )
            .await?;
            back("file-removed")
        }
        "delete" => {
            let m = s.project_manage(user, &name).await?;
            if field(&form.confirm).trim() != m.project.name {
                return Err(WebError::new(
                    StatusCode::BAD_REQUEST,
                    "Type the project's name to confirm its deletion.",
                ));
            }
            s.remove_project(
                &Authority::Owner(user),
                &m.project.name,
                field(&form.reason),
                &meta,
            )
            .await?;
            Ok(see_other("/manage/projects/?done=deleted", Vec::new()))
        }
        _ => Err(WebError::new(StatusCode::BAD_REQUEST, "Unknown action.")),
    }
}

/// `GET /manage/account/invitations/`
pub(crate) async fn invitations_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let (cx, v) = match require_login(&state, &headers, &uri, false).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let invitations: Vec<_> = state
        .services
        .my_invitations(v.user_id)
        .await?
        .into_iter()
        .map(|i| {
            context! { id => i.id, project => i.project_name, inviter => &i.inviter_name,
            role => i.role.as_str(), created_at => i.created_at, expires_at => i.expires_at }
        })
        .collect();
    cx.render(
        "invitations.html",
        context! { invitations => invitations, notice => done_message(q.done.as_deref()) },
    )
}

/// `POST /manage/account/invitations/` (`action`: accept, decline)
pub(crate) async fn invitations_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ProjectForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), false).await?;
    let s = &state.services;
    let iid = id(&form.invitation_id)?;
    match field(&form.action) {
        "accept" => {
            let p = s.accept_invitation(&v.info.user, iid, &meta).await?;
            Ok(see_other(
                &format!("{}?done=accepted", project_page(&p.name)),
                Vec::new(),
            ))
        }
        "decline" => {
            s.decline_invitation(&v.info.user, iid, &meta).await?;
            Ok(see_other(
                "/manage/account/invitations/?done=declined",
                Vec::new(),
            ))
        }
        _ => Err(WebError::new(StatusCode::BAD_REQUEST, "Unknown action.")),
    }
}

/// `GET /account/veto/?token=` (the link in the mail about a held change: asks first)
pub(crate) async fn veto_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let cx = PageCx::load(&state, &headers).await?;
    let token = field(&q.token).to_owned();
    let view = state.services.veto_view(&token).await?;
    let c = view.change;
    cx.render(
        "veto.html",
        context! {
            token => token,
            change => context! { id => c.id, project => c.project_name, target => &c.target_name,
                actor => &c.actor_name, kind => c.kind.as_str(), new_role => c.new_role.map(ProjectRole::as_str),
                created_at => c.created_at, effective_at => c.effective_at, status => c.status.as_str() },
        },
    )
}

/// `POST /account/veto/` (`action`: veto, or veto-report to also ask the administrators to freeze
/// the acting account; `veto-freeze`, the older form's value, is the same report: no member
/// freezes another)
pub(crate) async fn veto_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ProjectForm>,
) -> Result<Response, WebError> {
    let viewer = session::viewer(&state, &headers).await?;
    csrf::check_post(
        &state,
        &headers,
        viewer.as_ref(),
        form.csrf_token.as_deref(),
    )?;
    let what = match field(&form.action) {
        "veto" => Veto::Only,
        "veto-report" | "veto-freeze" => Veto::AndReport,
        _ => return Err(WebError::new(StatusCode::BAD_REQUEST, "Unknown action.")),
    };
    let c = state
        .services
        .veto_role_change(field(&form.token), what, &meta)
        .await?;
    let message = if what == Veto::AndReport {
        format!(
            "The change was vetoed: you are still an Owner of {}. The index administrators were asked to look at the account {} and freeze it if it is in the wrong hands; nothing was frozen yet. They may contact you.",
            c.project_name, c.actor_name
        )
    } else {
        format!(
            "The change was vetoed: you are still an Owner of {}.",
            c.project_name
        )
    };
    let cx = PageCx::load(&state, &headers).await?;
    cx.render(
        "message.html",
        context! { heading => "Change vetoed", message => message,
        link => context! { href => "/manage/projects/", text => "Your projects" } },
    )
}
