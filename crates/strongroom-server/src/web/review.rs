//! The owner's review after an incident (`/manage/account/review/`): the addresses and factors
//! added while someone else may have held the account, each with "keep" and "drop". Shown
//! first after the sign-in that follows the reset; reachable from a session that may only enrol
//! 2FA too (the owner may have no usable factor left until it decides).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::context;
use strongroom_core::RequestMeta;
use strongroom_core::review::{Decision, SuspectKind};

use super::errors::WebError;
use super::extract::{CsrfForm, Enrolling, NoFields};
use super::manage::{ManageQuery, done};
use super::session::Viewer;
use super::{Meta, done_message};
use crate::state::AppState;

const PAGE: &str = "/manage/account/review/";

/// `GET /manage/account/review/`
pub(crate) async fn show_review(
    Enrolling { cx, viewer: v }: Enrolling,
    State(state): State<AppState>,
    Query(q): Query<ManageQuery>,
) -> Result<Response, WebError> {
    let items: Vec<_> = state
        .services
        .suspect_items(v.user_id)
        .await?
        .into_iter()
        .map(|s| {
            context! { kind => s.kind.as_str(), id => s.id, label => s.label,
            added_at => s.added_at, flagged_at => s.flagged_at }
        })
        .collect();
    cx.render(
        "review.html",
        context! { items => items, notice => done_message(q.done.as_deref()) },
    )
}

/// Keep or drop one item: its kind and id are in the path (an unknown kind names nothing).
async fn decide(
    state: &AppState,
    v: &Viewer,
    (kind, id): (String, String),
    decision: Decision,
    meta: &RequestMeta,
) -> Result<Response, WebError> {
    let kind = SuspectKind::parse(&kind).ok_or_else(WebError::not_found)?;
    let id: i64 = id.parse().map_err(|_| WebError::not_found())?;
    let result = state
        .services
        .decide_suspect(&v.info, kind, id, decision, meta)
        .await;
    let key = match decision {
        Decision::Keep => "review-kept",
        Decision::Drop => "review-dropped",
    };
    done(result, PAGE, key)
}

/// `POST /manage/account/review/{kind}/{id}/keep/`
pub(crate) async fn keep_suspect(
    Enrolling { viewer: v, .. }: Enrolling,
    State(state): State<AppState>,
    Path(item): Path<(String, String)>,
    Meta(meta): Meta,
    _: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    decide(&state, &v, item, Decision::Keep, &meta).await
}

/// `POST /manage/account/review/{kind}/{id}/drop/`
pub(crate) async fn drop_suspect(
    Enrolling { viewer: v, .. }: Enrolling,
    State(state): State<AppState>,
    Path(item): Path<(String, String)>,
    Meta(meta): Meta,
    _: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    decide(&state, &v, item, Decision::Drop, &meta).await
}
