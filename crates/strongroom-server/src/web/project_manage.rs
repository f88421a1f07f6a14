//! Managing projects from the web: the viewer's projects, one project's members, invitations,
//! held role changes and releases (yank, unyank, removal), the viewer's invitations, and the
//! veto link of a held owner removal. One route per operation, the objects in the path
//! (`/manage/project/{name}/release/{version}/yank/`); core looks each one up *within the
//! project the viewer manages*. Removing a file, a release or the project needs its name typed
//! again (checked here, not only in the browser); the page offers no action core would refuse
//! anyway (the last Owner is not offered "Leave").

use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use strongroom_core::CoreError;
use strongroom_core::admin::Authority;
use strongroom_core::ownership::{ChangeOutcome, Veto};
use strongroom_store::ProjectRole;
use strongroom_store::model::{ReleaseSummary, User};

use super::errors::WebError;
use super::extract::{CsrfForm, SignedIn};
use super::redirect::encoded;
use super::session::Viewer;
use super::{Meta, PageCx, see_other};
use crate::state::AppState;

/// The invitation form: who, and as what.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct InviteForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
}

/// A member's new role.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct RoleForm {
    #[serde(default)]
    role: String,
}

/// A form with nothing but its token: the object is in the path.
#[derive(Debug, Deserialize)]
pub(crate) struct NoFields {}

/// A yank's optional reason.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ReasonForm {
    #[serde(default)]
    reason: String,
}

/// An irreversible removal: the object's name typed again, and a reason.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ConfirmForm {
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    reason: String,
}

/// The veto link's form: the token mailed to the Owner.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct VetoForm {
    #[serde(default)]
    token: String,
}

/// `?done=` of the pages.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// What a change did, told on the page it goes back to as `?done=<key>` (a fixed message,
/// never reflected text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Invited,
    Revoked,
    Role,
    Removed,
    Pending,
    Cancelled,
    Yanked,
    Unyanked,
    ReleaseRemoved,
    FileRemoved,
    Accepted,
    Declined,
    Left,
    Deleted,
}

impl Done {
    const ALL: [Done; 14] = [
        Done::Invited,
        Done::Revoked,
        Done::Role,
        Done::Removed,
        Done::Pending,
        Done::Cancelled,
        Done::Yanked,
        Done::Unyanked,
        Done::ReleaseRemoved,
        Done::FileRemoved,
        Done::Accepted,
        Done::Declined,
        Done::Left,
        Done::Deleted,
    ];

    fn key(self) -> &'static str {
        match self {
            Done::Invited => "invited",
            Done::Revoked => "revoked",
            Done::Role => "role",
            Done::Removed => "removed",
            Done::Pending => "pending",
            Done::Cancelled => "cancelled",
            Done::Yanked => "yanked",
            Done::Unyanked => "unyanked",
            Done::ReleaseRemoved => "release-removed",
            Done::FileRemoved => "file-removed",
            Done::Accepted => "accepted",
            Done::Declined => "declined",
            Done::Left => "left",
            Done::Deleted => "deleted",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Done::Invited => "Invitation sent. It is valid until the time shown below.",
            Done::Revoked => "The invitation was revoked.",
            Done::Role => "The role was changed.",
            Done::Removed => "The member was removed.",
            Done::Pending => {
                "The change is held for the cooling-off period: the Owner concerned was emailed and can veto it. It is listed below with the time it takes effect."
            }
            Done::Cancelled => "The pending change was cancelled.",
            Done::Yanked => "The release was yanked.",
            Done::Unyanked => "The release was un-yanked.",
            Done::ReleaseRemoved => "The release was removed.",
            Done::FileRemoved => "The file was removed.",
            Done::Accepted => "Invitation accepted.",
            Done::Declined => "Invitation declined.",
            Done::Left => "You left the project.",
            Done::Deleted => "The project was deleted.",
        }
    }
}

/// The confirmation a page shows for its `?done=` key (nothing for a key it does not know).
fn done_message(key: Option<&str>) -> Option<&'static str> {
    let key = key?;
    Done::ALL
        .into_iter()
        .find(|d| d.key() == key)
        .map(Done::message)
}

fn project_page(name: &str) -> String {
    format!("/manage/project/{}/", encoded(name))
}

/// `GET /manage/projects/`
pub(crate) async fn show_projects(
    State(state): State<AppState>,
    SignedIn { cx, viewer: v }: SignedIn,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
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
pub(crate) async fn show_project(
    State(state): State<AppState>,
    SignedIn { cx, viewer: v }: SignedIn,
    Path(name): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let m = state.services.project_manage(&v.info.user, &name).await?;
    let files = state.services.db.files_of(m.project.id).await?;
    let is_owner = m.my_role == ProjectRole::Owner;
    let owner_count = m
        .members
        .iter()
        .filter(|r| r.role == ProjectRole::Owner)
        .count();
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
            my_role => m.my_role.as_str(), is_owner => is_owner, owner_count => owner_count,
            // The last Owner cannot leave (core refuses it): the page does not offer it.
            can_leave => !(is_owner && owner_count < 2),
            members => members, invitations => invitations, changes => changes,
            releases => releases, listed => super::ser(&m.listed),
            notice => done_message(q.done.as_deref()),
        },
    )
}

/// The Owner's way back to the project's manage page, with its confirmation.
fn back(name: &str, done: Done) -> Result<Response, WebError> {
    Ok(see_other(
        &format!("{}?done={}", project_page(name), done.key()),
        Vec::new(),
    ))
}

/// A role change applied at once, or held for the cooling-off period.
fn changed(name: &str, out: ChangeOutcome, done: Done) -> Result<Response, WebError> {
    match out {
        ChangeOutcome::Applied => back(name, done),
        ChangeOutcome::Pending { .. } => back(name, Done::Pending),
    }
}

/// Who may act on the project, and whether it and its releases exist, are changes only a
/// recent proof of identity may make (a stolen session cookie alone cannot hand the project
/// over or delete it): the viewer is sent to confirm it, then back to the manage page.
fn recent(state: &AppState, v: &Viewer, name: &str) -> Result<(), WebError> {
    if state.services.needs_reauth(&v.info) {
        return Err(WebError::redirect(&format!(
            "/manage/account/reauth/?next={}",
            encoded(&project_page(name))
        )));
    }
    Ok(())
}

/// An object id from the path: anything that is not a number names nothing (404).
fn number(segment: &str) -> Result<i64, WebError> {
    segment.parse().map_err(|_| WebError::not_found())
}

/// An irreversible removal goes ahead only when the object's name was typed again.
fn confirmed(typed: &str, expected: &str, what: &str) -> Result<(), WebError> {
    if typed.trim() == expected {
        Ok(())
    } else {
        Err(WebError::from(CoreError::Invalid(format!(
            "Type the {what}, {expected}, exactly to confirm its removal: nothing was removed."
        ))))
    }
}

/// A public release of the project, by its version as the manage page shows it.
async fn release_of(
    state: &AppState,
    user: &User,
    name: &str,
    version: &str,
) -> Result<ReleaseSummary, WebError> {
    let m = state.services.project_manage(user, name).await?;
    m.releases
        .into_iter()
        .find(|r| r.version == version)
        .ok_or_else(WebError::not_found)
}

/// `POST /manage/project/{name}/invite/`
pub(crate) async fn invite_member(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path(name): Path<String>,
    CsrfForm(f): CsrfForm<InviteForm>,
) -> Result<Response, WebError> {
    recent(&state, &v, &name)?;
    state
        .services
        .invite(&v.info.user, &name, &f.username, &f.role, &meta)
        .await?;
    back(&name, Done::Invited)
}

/// `POST /manage/project/{name}/invitation/{id}/revoke/`
pub(crate) async fn revoke_invitation(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path((name, invitation)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    state
        .services
        .revoke_invitation(&v.info.user, &name, number(&invitation)?, &meta)
        .await?;
    back(&name, Done::Revoked)
}

/// `POST /manage/project/{name}/member/{username}/role/`
pub(crate) async fn change_role(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path((name, username)): Path<(String, String)>,
    CsrfForm(f): CsrfForm<RoleForm>,
) -> Result<Response, WebError> {
    recent(&state, &v, &name)?;
    let out = state
        .services
        .change_role(&v.info.user, &name, &username, &f.role, &meta)
        .await?;
    changed(&name, out, Done::Role)
}

/// `POST /manage/project/{name}/member/{username}/remove/`
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path((name, username)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    recent(&state, &v, &name)?;
    let out = state
        .services
        .remove_member(&v.info.user, &name, &username, &meta)
        .await?;
    changed(&name, out, Done::Removed)
}

/// `POST /manage/project/{name}/leave/`
pub(crate) async fn leave_project(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path(name): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    recent(&state, &v, &name)?;
    state
        .services
        .leave_project(&v.info.user, &name, &meta)
        .await?;
    Ok(see_other(
        &format!("/manage/projects/?done={}", Done::Left.key()),
        Vec::new(),
    ))
}

/// `POST /manage/project/{name}/change/{id}/withdraw/`: the asking Owner withdraws a held
/// removal or demotion.
pub(crate) async fn withdraw_change(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path((name, change)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    recent(&state, &v, &name)?;
    state
        .services
        .cancel_role_change(&v.info.user, &name, number(&change)?, &meta)
        .await?;
    back(&name, Done::Cancelled)
}

/// `POST /manage/project/{name}/release/{version}/yank/` (an optional `reason`)
pub(crate) async fn yank_release(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path((name, version)): Path<(String, String)>,
    CsrfForm(f): CsrfForm<ReasonForm>,
) -> Result<Response, WebError> {
    recent(&state, &v, &name)?;
    let r = release_of(&state, &v.info.user, &name, &version).await?;
    state
        .services
        .set_yanked_by_id(&v.info.user, &name, r.id, Some(f.reason.trim()), &meta)
        .await?;
    back(&name, Done::Yanked)
}

/// `POST /manage/project/{name}/release/{version}/unyank/`
pub(crate) async fn unyank_release(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path((name, version)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    recent(&state, &v, &name)?;
    let r = release_of(&state, &v.info.user, &name, &version).await?;
    state
        .services
        .set_yanked_by_id(&v.info.user, &name, r.id, None, &meta)
        .await?;
    back(&name, Done::Unyanked)
}

/// `POST /manage/project/{name}/release/{version}/remove/` (`confirm`: the version typed again)
pub(crate) async fn remove_release(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path((name, version)): Path<(String, String)>,
    CsrfForm(f): CsrfForm<ConfirmForm>,
) -> Result<Response, WebError> {
    recent(&state, &v, &name)?;
    let r = release_of(&state, &v.info.user, &name, &version).await?;
    confirmed(&f.confirm, &r.version, "version")?;
    let by = Authority::Owner(&v.info.user);
    state
        .services
        .remove_release(&by, &name, &r.version, &f.reason, &meta)
        .await?;
    back(&name, Done::ReleaseRemoved)
}

/// `POST /manage/project/{name}/release/{version}/file/{filename}/remove/` (`confirm`: the file
/// name typed again)
pub(crate) async fn remove_file(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path((name, version, filename)): Path<(String, String, String)>,
    CsrfForm(f): CsrfForm<ConfirmForm>,
) -> Result<Response, WebError> {
    recent(&state, &v, &name)?;
    let r = release_of(&state, &v.info.user, &name, &version).await?;
    confirmed(&f.confirm, &filename, "file name")?;
    let by = Authority::Owner(&v.info.user);
    state
        .services
        .remove_file(&by, &name, &r.version, &filename, &f.reason, &meta)
        .await?;
    back(&name, Done::FileRemoved)
}

/// `POST /manage/project/{name}/delete/` (`confirm`: the project's name typed again)
pub(crate) async fn delete_project(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path(name): Path<String>,
    CsrfForm(f): CsrfForm<ConfirmForm>,
) -> Result<Response, WebError> {
    recent(&state, &v, &name)?;
    let m = state.services.project_manage(&v.info.user, &name).await?;
    confirmed(&f.confirm, &m.project.name, "project's name")?;
    let by = Authority::Owner(&v.info.user);
    state
        .services
        .remove_project(&by, &m.project.name, &f.reason, &meta)
        .await?;
    Ok(see_other(
        &format!("/manage/projects/?done={}", Done::Deleted.key()),
        Vec::new(),
    ))
}

/// `GET /manage/account/invitations/`
pub(crate) async fn show_invitations(
    State(state): State<AppState>,
    SignedIn { cx, viewer: v }: SignedIn,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
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

/// `POST /manage/account/invitations/{id}/accept/`
pub(crate) async fn accept_invitation(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path(invitation): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    let p = state
        .services
        .accept_invitation(&v.info.user, number(&invitation)?, &meta)
        .await?;
    back(&p.name, Done::Accepted)
}

/// `POST /manage/account/invitations/{id}/decline/`
pub(crate) async fn decline_invitation(
    State(state): State<AppState>,
    SignedIn { viewer: v, .. }: SignedIn,
    Meta(meta): Meta,
    Path(invitation): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    state
        .services
        .decline_invitation(&v.info.user, number(&invitation)?, &meta)
        .await?;
    Ok(see_other(
        &format!("/manage/account/invitations/?done={}", Done::Declined.key()),
        Vec::new(),
    ))
}

/// `GET /account/veto/?token=` (the link in the mail about a held change: asks first)
pub(crate) async fn show_veto(
    State(state): State<AppState>,
    cx: PageCx,
    Query(q): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let token = q.token.clone().unwrap_or_default();
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

/// `POST /account/veto/`: the Owner keeps their role. The veto link works signed in or not:
/// the mailed token is the authority.
pub(crate) async fn veto_change(
    State(state): State<AppState>,
    cx: PageCx,
    Meta(meta): Meta,
    CsrfForm(f): CsrfForm<VetoForm>,
) -> Result<Response, WebError> {
    let c = state
        .services
        .veto_role_change(&f.token, Veto::Only, &meta)
        .await?;
    vetoed(
        cx,
        format!(
            "The change was vetoed: you are still an Owner of {}.",
            c.project_name
        ),
    )
}

/// `POST /account/veto/report/`: the veto, and the administrators asked to look at (and freeze,
/// if it is in the wrong hands) the acting account; no member freezes another.
pub(crate) async fn veto_and_report(
    State(state): State<AppState>,
    cx: PageCx,
    Meta(meta): Meta,
    CsrfForm(f): CsrfForm<VetoForm>,
) -> Result<Response, WebError> {
    let c = state
        .services
        .veto_role_change(&f.token, Veto::AndReport, &meta)
        .await?;
    vetoed(
        cx,
        format!(
            "The change was vetoed: you are still an Owner of {}. The index administrators were asked to look at the account {} and freeze it if it is in the wrong hands; nothing was frozen yet. They may contact you.",
            c.project_name, c.actor_name
        ),
    )
}

fn vetoed(cx: PageCx, message: String) -> Result<Response, WebError> {
    cx.render(
        "message.html",
        context! { heading => "Change vetoed", message => message,
        link => context! { href => "/manage/projects/", text => "Your projects" } },
    )
}

#[cfg(test)]
mod tests {
    use minijinja::{Value, context};

    use crate::web::templates::render;

    fn page(status: &str, members: Vec<Value>, owner_count: usize) -> String {
        let t = 1_700_000_000_000_000_i64;
        render(
            "manage_project.html",
            context! {
                viewer => context! { user_id => 1, username => "alice", is_admin => false, restricted => false },
                csrf_token => "tok-1",
                project => context! { name => "Demo", normalized => "demo", status => status },
                my_role => "Owner", is_owner => true, owner_count => owner_count,
                can_leave => owner_count > 1,
                members => members,
                invitations => vec![context! { id => 4, invitee => "carol", inviter => "alice", role => "Owner", expires_at => t }],
                changes => Vec::<Value>::new(),
                releases => vec![context! { id => 7, version => "1.0", created_at => t, yanked => false,
                    files => vec![context! { id => 9, filename => "demo-1.0.tar.gz" }] }],
            },
        )
        .expect("render")
    }

    fn member(name: &str, role: &str, me: bool) -> Value {
        context! { username => name, role => role, since => 0, me => me }
    }

    /// Every form posts to its own route and carries the token; removals ask for the name typed.
    #[test]
    fn each_form_has_its_route_and_removals_ask_for_the_name() {
        let out = page(
            "active",
            vec![
                member("alice", "Owner", true),
                member("bob", "Owner", false),
            ],
            2,
        );
        assert!(!out.contains("name=\"action\""));
        assert_eq!(
            out.matches("method=\"post\"").count(),
            out.matches("value=\"tok-1\"").count()
        );
        for route in [
            "/manage/project/demo/invite/",
            "/manage/project/demo/invitation/4/revoke/",
            "/manage/project/demo/member/bob/role/",
            "/manage/project/demo/member/bob/remove/",
            "/manage/project/demo/leave/",
            "/manage/project/demo/release/1.0/yank/",
            "/manage/project/demo/release/1.0/remove/",
            "/manage/project/demo/release/1.0/file/demo-1.0.tar.gz/remove/",
            "/manage/project/demo/delete/",
        ] {
            assert!(out.contains(&format!("action=\"{route}\"")), "{route}");
        }
        // the release, the file and the project: each removal asks for its name typed
        assert_eq!(out.matches("name=\"confirm\"").count(), 3);
        assert!(out.contains("Type the version, <strong>1.0</strong>"));
        assert!(out.contains("Type the file name, <strong>demo-1.0.tar.gz</strong>"));
        assert!(out.contains("id=\"leave-button\""));
    }

    /// The sole Owner is offered neither "Leave" nor demoting herself; she is told why.
    #[test]
    fn the_last_owner_is_not_offered_leave() {
        let out = page(
            "active",
            vec![
                member("alice", "Owner", true),
                member("bob", "Maintainer", false),
            ],
            1,
        );
        assert!(!out.contains("id=\"leave-button\""));
        assert!(!out.contains("/leave/"));
        assert!(!out.contains("Make Maintainer"));
        assert!(out.contains("Make Owner"), "bob can still be made an Owner");
        assert!(out.contains("id=\"sole-owner-note\""));
    }

    /// Every confirmation's key leads back to its own message; any other key shows nothing.
    #[test]
    fn done_keys_round_trip() {
        for d in super::Done::ALL {
            assert_eq!(
                super::done_message(Some(d.key())),
                Some(d.message()),
                "{d:?}"
            );
        }
        assert_eq!(super::done_message(Some("<script>")), None);
        assert_eq!(super::done_message(None), None);
    }

    /// A project core will not change (quarantined, frozen) shows its releases but no form.
    #[test]
    fn a_project_that_cannot_change_offers_no_form() {
        let out = page(
            "quarantined",
            vec![
                member("alice", "Owner", true),
                member("bob", "Owner", false),
            ],
            2,
        );
        assert!(out.contains("id=\"releases\""));
        assert!(
            !out.contains("/manage/project/demo/"),
            "no form posts to the project"
        );
    }
}
