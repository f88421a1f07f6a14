//! The owner's review after an incident (`/manage/account/review/`): the addresses and factors
//! added while someone else may have held the account, each with "keep" and "drop". Shown
//! first after the sign-in that follows the reset; reachable from a session that may only enrol
//! 2FA too (the owner may have no usable factor left until it decides).

use axum::Form;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use strongroom_core::review::{Decision, SuspectKind};

use super::errors::WebError;
use super::manage::{ManageQuery, reauth_or};
use super::signed_in::{field, post_viewer, require_login};
use super::{Meta, done_message, see_other};
use crate::state::AppState;

const PAGE: &str = "/manage/account/review/";

/// The review form: which item, and what to do with it.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ReviewForm {
    #[serde(default)]
    csrf_token: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    decision: Option<String>,
}

/// `GET /manage/account/review/`
pub(crate) async fn review_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<ManageQuery>,
) -> Result<Response, WebError> {
    let (cx, v) = match require_login(&state, &headers, &uri, true).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
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

/// `POST /manage/account/review/` (`kind`, `id`, `decision` = keep | drop)
pub(crate) async fn review_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ReviewForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), true).await?;
    let unknown = || WebError::new(StatusCode::BAD_REQUEST, "Unknown decision.");
    let kind = SuspectKind::parse(field(&form.kind)).ok_or_else(unknown)?;
    let decision = Decision::parse(field(&form.decision)).ok_or_else(unknown)?;
    let id: i64 = field(&form.id)
        .trim()
        .parse()
        .map_err(|_| WebError::not_found())?;
    match state
        .services
        .decide_suspect(&v.info, kind, id, decision, &meta)
        .await
    {
        Ok(()) => {
            let key = match decision {
                Decision::Keep => "review-kept",
                Decision::Drop => "review-dropped",
            };
            Ok(see_other(&format!("{PAGE}?done={key}"), Vec::new()))
        }
        Err(e) => Err(reauth_or(e, PAGE)),
    }
}
