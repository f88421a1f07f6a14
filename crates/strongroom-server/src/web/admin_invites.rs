//! The admin area's invitations section (`/admin/invitations/`): make an invitation link for
//! one address (shown once here, and mailed to the address), list every invitation with its
//! state, revoke a pending one. Same gate as the rest of the admin area: 404 for anyone but an
//! admin, CSRF-checked POSTs, a recent password and a reason for every change.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use super::admin::AdminQuery;
use super::errors::WebError;
use super::extract::{Admin, CsrfForm};
use super::{Meta, PageCx, see_other};
use crate::state::AppState;

/// How many invitations the section lists (newest first).
const LISTED: i64 = 200;

/// The invitation form (revoking needs only the reason).
#[derive(Debug, Deserialize, Default)]
pub(crate) struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    expires_hours: String,
    #[serde(default)]
    reason: String,
}

/// Fixed confirmations (never reflected text).
fn done_message(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "revoke-invite" => Some("The invitation was revoked: its link no longer works."),
        _ => None,
    }
}

async fn render(
    state: &AppState,
    cx: PageCx,
    done: Option<&'static str>,
    created: Option<minijinja::Value>,
) -> Result<Response, WebError> {
    let s = &state.services;
    let invites = s.registration_invites(LISTED).await?;
    cx.render(
        "admin.html",
        context! {
            section => "invitations",
            done => done,
            registration => s.settings.registration.name(),
            invites => super::ser(&invites),
            created => created,
            default_hours => strongroom_core::registration_invites::DEFAULT_HOURS,
            max_hours => strongroom_core::registration_invites::MAX_HOURS,
        },
    )
}

/// `GET /admin/invitations/`
pub(crate) async fn show_invites(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<AdminQuery>,
) -> Result<Response, WebError> {
    render(&state, admin.cx, done_message(q.done()), None).await
}

/// `POST /admin/invitations/new/` (`email`, `expires_hours`, `reason`): the new link is shown
/// once on the answer (never in a URL).
pub(crate) async fn invite_user(
    State(state): State<AppState>,
    admin: Admin,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Result<Response, WebError> {
    let a = admin.cap.actor();
    let hours = match form.expires_hours.trim() {
        "" => None,
        h => Some(h.parse::<u64>().map_err(|_| {
            WebError::from(strongroom_core::CoreError::Invalid(
                "The validity is a whole number of hours.".into(),
            ))
        })?),
    };
    let made = state
        .services
        .invite_user(a, &form.email, hours, &form.reason, &meta)
        .await?;
    let cx = admin.cx;
    let created = context! {
        id => made.id, email => made.email, link => made.link, expires_at => made.expires_at,
    };
    render(&state, cx, None, Some(created)).await
}

/// `POST /admin/invitations/{id}/revoke/` (`reason`)
pub(crate) async fn revoke_invite(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Result<Response, WebError> {
    let a = admin.cap.actor();
    let id: i64 = id.parse().map_err(|_| WebError::not_found())?;
    state
        .services
        .revoke_invite(a, id, &form.reason, &meta)
        .await?;
    Ok(see_other(
        "/admin/invitations/?done=revoke-invite",
        Vec::new(),
    ))
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use crate::web::templates::render;

    /// The section renders the create form, a link shown once, and a revoke form only for
    /// pending invitations; every form carries the CSRF token and asks a reason.
    #[test]
    fn the_invitations_section_renders_with_csrf_and_reason() {
        let t = 1_700_000_000_000_000_i64;
        let invite = |id: i64, state: &str| {
            context! { id => id, email => format!("p{id}@example.org"), state => state, created_by => "root",
            created_at => t, expires_at => t, used_by => "newbie", used_at => t, revoked_at => t, revoked_by => "root", reason => "hire" }
        };
        let out = render(
            "admin.html",
            context! {
                viewer => context! { user_id => 1, username => "root", is_admin => true, restricted => false },
                csrf_token => "tok-123",
                section => "invitations",
                registration => "invite",
                default_hours => 72, max_hours => 720,
                created => context! { id => 9, email => "new@example.org", link => "http://x/account/register/?invite=SECRET", expires_at => t },
                invites => vec![invite(1, "pending"), invite(2, "used"), invite(3, "expired"), invite(4, "revoked")],
            },
        )
        .expect("render");
        assert!(out.contains("?invite=SECRET") && out.contains("id=\"invite-link\""));
        assert!(out.contains("id=\"invite-form\""));
        assert_eq!(out.matches("/revoke/\"").count(), 1, "only the pending one");
        assert!(out.contains("action=\"/admin/invitations/1/revoke/\""));
        assert!(out.contains("action=\"/admin/invitations/new/\""));
        assert!(!out.contains("name=\"action\""));
        assert_eq!(
            out.matches("method=\"post\"").count(),
            out.matches("value=\"tok-123\"").count(),
            "every form has the CSRF token"
        );
        assert_eq!(
            out.matches("name=\"reason\" required").count(),
            2,
            "create and revoke ask a reason"
        );
        for state in ["pending", "used", "expired", "revoked"] {
            assert!(out.contains(&format!("invite-state-{state}")), "{state}");
        }
    }
}
