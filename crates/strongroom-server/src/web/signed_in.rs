//! The gate of the pages and forms of a logged-in account (account settings, project
//! management): anonymous visitors go to the login and sessions that may only enrol 2FA to the
//! enrolment page; every POST is origin- and CSRF-checked first. Also the form-field readers
//! those forms share.

use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use super::errors::WebError;
use super::redirect::encoded;
use super::session::Viewer;
use super::{PageCx, csrf, see_other, session};
use crate::state::AppState;

/// A form field, empty when missing.
pub(crate) fn field(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// An object id from a form: anything that is not a number names nothing (404).
pub(crate) fn id(v: &Option<String>) -> Result<i64, WebError> {
    field(v).trim().parse().map_err(|_| WebError::not_found())
}

fn here(uri: &Uri) -> String {
    uri.path_and_query().map_or("/", |p| p.as_str()).to_owned()
}

/// The logged-in viewer's page context, or a redirect: anonymous → login (coming back here);
/// a session that may only enrol 2FA → the two-factor page, unless `enrolment` allows it.
pub(crate) async fn require_login(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    enrolment: bool,
) -> Result<Result<(PageCx, Viewer), Response>, WebError> {
    let cx = PageCx::load(state, headers).await?;
    let Some(viewer) = cx.viewer.clone() else {
        let target = format!("/account/login/?next={}", encoded(&here(uri)));
        return Ok(Err(see_other(&target, Vec::new())));
    };
    if viewer.restricted && !enrolment {
        return Ok(Err(see_other("/manage/account/two-factor/", Vec::new())));
    }
    Ok(Ok((cx, viewer)))
}

/// A POST of the logged-in viewer: origin and CSRF checked first; anonymous → 403; a session
/// that may only enrol 2FA → 403 unless `enrolment` allows it.
pub(crate) async fn post_viewer(
    state: &AppState,
    headers: &HeaderMap,
    token: Option<&str>,
    enrolment: bool,
) -> Result<Viewer, WebError> {
    let viewer = session::viewer(state, headers).await?;
    csrf::check_post(state, headers, viewer.as_ref(), token)?;
    let viewer = viewer.ok_or_else(|| WebError::forbidden("You need to log in first."))?;
    if viewer.restricted && !enrolment {
        return Err(WebError::forbidden(
            "Set up two-factor authentication before doing anything else.",
        ));
    }
    Ok(viewer)
}
