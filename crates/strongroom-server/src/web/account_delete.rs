//! Deleting one's own account from the account page (a recent password confirmation and the
//! username typed again; refused, naming them, while the account is the sole Owner of projects),
//! and what the account page shows about the recovery hold and the deletion rules.

use axum::extract::State;
use axum::http::header;
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use strongroom_core::hold::is_held;

use super::Meta;
use super::errors::WebError;
use super::extract::{CsrfForm, Enrolling};
use super::session::clear_session_cookie;
use crate::state::AppState;

/// The deletion form.
#[derive(Debug, Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    confirm_username: String,
}

/// The account page's extra context: `hold` (until, reason) while the account is held,
/// `sole_owned` (projects that block deletion) and `unverified` (email id → why the domain
/// check took the verification away).
pub(crate) async fn account_safety(state: &AppState, user_id: i64) -> Result<Value, WebError> {
    let s = &state.services;
    let user = s.db.user_by_id(user_id).await?;
    let hold = user.filter(|u| is_held(u, s.now())).map(|u| {
        context! {
            until => u.hold_until,
            reason => u.hold_reason.unwrap_or_else(|| "account recovery".into()),
        }
    });
    let sole = s.sole_owned_projects(user_id).await?;
    let unverified: Vec<Value> =
        s.db.email_domain_states(user_id)
            .await?
            .into_iter()
            .filter_map(|e| {
                e.unverified_reason
                    .map(|r| context! { id => e.email_id, reason => r, at => e.unverified_at })
            })
            .collect();
    Ok(context! { hold => hold, sole_owned => sole, unverified => unverified })
}

/// `POST /manage/account/delete/`: the username must be typed again (core compares it).
pub(crate) async fn delete_account(
    Enrolling { cx, viewer: v }: Enrolling,
    State(state): State<AppState>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<DeleteForm>,
) -> Result<Response, WebError> {
    let done = state
        .services
        .delete_own_account(&v.info, &form.confirm_username, &meta)
        .await?;
    let mut resp = cx.render(
        "message.html",
        context! {
            heading => "Your account was deleted",
            message => format!(
                "The account {} was deleted: you were logged out everywhere, its API tokens were revoked and it left {} project(s). The username stays reserved. Its data is kept for investigation for {} days, during which the index administrators can restore it.",
                v.username,
                done.roles_removed.len(),
                state.services.settings.safety.deleted_account_retention_days
            ),
            link => context! { href => "/", text => "Go to the home page" },
        },
    )?;
    resp.headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie());
    Ok(resp)
}
