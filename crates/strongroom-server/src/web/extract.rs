//! The web layer's extractors: who may reach a handler, and the only way a handler reads a
//! form or JSON body. Each one's rejection is the response, so a handler that names them
//! cannot forget a check, and one that does not name them cannot read a body:
//!
//! - [`SignedIn`]: a signed-in account whose second factor is in order. Anonymous → the login
//!   page (coming back here) for GET, 403 otherwise; a session that may only enrol 2FA → the
//!   enrolment page for GET, 403 otherwise.
//! - [`Enrolling`]: the same, but admits the session that may only enrol 2FA.
//! - [`Admin`]: a signed-in administrator holding core's [`AdminCap`]; 404 for everyone else
//!   (the admin area's existence is not revealed). A change (non-GET) also needs a recent
//!   password, else the re-authentication prompt.
//! - [`CsrfForm`]: same-origin and CSRF token checked, then the form. The server crate's
//!   clippy.toml forbids `axum::Form`, so this is the only way a web handler reads a form.
//! - [`CsrfJson`]: the same for the WebAuthn JSON posts (token in the `X-CSRF-Token` header).
//!
//! A page for anyone takes [`PageCx`] itself as an extractor.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use strongroom_core::admin::AdminCap;

use super::errors::WebError;
use super::redirect::encoded;
use super::session::{self, Viewer};
use super::{PageCx, csrf, json_error, see_other};
use crate::state::AppState;

/// The path of the page where a session limited to enrolment sets up its second factor.
pub(crate) const ENROL_PAGE: &str = "/manage/account/two-factor/";

/// The viewer of this request, looked up once however many extractors ask.
#[derive(Clone)]
struct Looked(Option<Viewer>);

async fn viewer_of(parts: &mut Parts, state: &AppState) -> Result<Option<Viewer>, WebError> {
    if let Some(Looked(v)) = parts.extensions.get::<Looked>() {
        return Ok(v.clone());
    }
    let v = session::viewer(state, &parts.headers).await?;
    parts.extensions.insert(Looked(v.clone()));
    Ok(v)
}

/// Whether the request asks for JSON (the WebAuthn calls): its refusals are JSON too.
fn wants_json(headers: &HeaderMap) -> bool {
    headers.contains_key(csrf::HEADER)
        || headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"))
}

fn refuse(parts: &Parts, e: WebError) -> Response {
    refuse_as(wants_json(&parts.headers), e)
}

fn refuse_as(json: bool, e: WebError) -> Response {
    if json {
        json_error(e)
    } else {
        e.into_response()
    }
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

fn here(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned()
}

impl FromRequestParts<AppState> for PageCx {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let viewer = viewer_of(parts, state).await?;
        Ok(PageCx::with_viewer(state, &parts.headers, viewer))
    }
}

/// The signed-in viewer and the page context (see the module's list).
pub(crate) struct SignedIn {
    pub cx: PageCx,
    pub viewer: Viewer,
}

/// Like [`SignedIn`], admitting the session that may only enrol a second factor.
pub(crate) struct Enrolling {
    pub cx: PageCx,
    pub viewer: Viewer,
}

async fn signed_in(
    parts: &mut Parts,
    state: &AppState,
    enrolment: bool,
) -> Result<(PageCx, Viewer), Response> {
    let viewer = viewer_of(parts, state)
        .await
        .map_err(|e| refuse(parts, e))?;
    let Some(viewer) = viewer else {
        if is_read(&parts.method) {
            let target = format!("/account/login/?next={}", encoded(&here(parts)));
            return Err(see_other(&target, Vec::new()));
        }
        return Err(refuse(
            parts,
            WebError::forbidden("You need to log in first."),
        ));
    };
    if viewer.restricted && !enrolment {
        if is_read(&parts.method) {
            return Err(see_other(ENROL_PAGE, Vec::new()));
        }
        return Err(refuse(
            parts,
            WebError::forbidden("Set up two-factor authentication before doing anything else."),
        ));
    }
    let cx = PageCx::with_viewer(state, &parts.headers, Some(viewer.clone()));
    Ok((cx, viewer))
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let (cx, viewer) = signed_in(parts, state, false).await?;
        Ok(SignedIn { cx, viewer })
    }
}

impl FromRequestParts<AppState> for Enrolling {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let (cx, viewer) = signed_in(parts, state, true).await?;
        Ok(Enrolling { cx, viewer })
    }
}

/// A signed-in administrator: the page context (which holds the viewer) and core's capability
/// (see the module's list).
pub(crate) struct Admin {
    pub cx: PageCx,
    pub cap: AdminCap,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let viewer = viewer_of(parts, state)
            .await
            .map_err(|e| refuse(parts, e))?;
        let Some((viewer, cap)) =
            viewer.and_then(|v| state.services.admin_cap(&v.info).map(|cap| (v, cap)))
        else {
            return Err(refuse(parts, WebError::not_found()));
        };
        // Every intervention needs a recent password: a stolen admin cookie alone must not
        // unfreeze an account, approve a held removal or allow a prohibited name.
        if !is_read(&parts.method) && state.services.needs_reauth(&viewer.info) {
            // `answer::finish` turns this into the prompt, keeping the form.
            return Err(refuse(parts, WebError::reauth()));
        }
        let cx = PageCx::with_viewer(state, &parts.headers, Some(viewer));
        Ok(Admin { cx, cap })
    }
}

/// The `{id}` of the path: a database id that is not a number names nothing (404, as an id
/// of another account's object).
pub(crate) struct ObjectId(pub i64);

impl FromRequestParts<AppState> for ObjectId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let params = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| p)
            .unwrap_or_default();
        params
            .iter()
            .find(|(k, _)| k == "id")
            .and_then(|(_, v)| v.parse().ok())
            .map(ObjectId)
            .ok_or_else(|| refuse(parts, WebError::not_found()))
    }
}

/// A form with no fields but its token (a button: "remove", "revoke"): `CsrfForm<NoFields>`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct NoFields {}

/// A form whose origin and CSRF token were checked before it was read (see the module's list).
/// The token field (`csrf_token`) need not be part of `T`.
pub(crate) struct CsrfForm<T>(pub T);

/// The body, after the same-origin and token check for this request's viewer (a signed-in
/// session's token, or the anonymous double-submit cookie's).
async fn checked_body(
    req: Request,
    state: &AppState,
    json: bool,
    token_of: impl FnOnce(&Parts, &Bytes) -> Option<String>,
) -> Result<(Parts, Bytes), Response> {
    let (mut parts, body) = req.into_parts();
    let json = json || wants_json(&parts.headers);
    if !csrf::same_origin(state, &parts.headers) {
        return Err(refuse_as(json, csrf::refused()));
    }
    let viewer = match viewer_of(&mut parts, state).await {
        Ok(v) => v,
        Err(e) => return Err(refuse_as(json, e)),
    };
    let bytes = match Bytes::from_request(Request::from_parts(parts.clone(), body), state).await {
        Ok(b) => b,
        Err(e) => return Err(e.into_response()),
    };
    let token = token_of(&parts, &bytes);
    if let Err(e) = csrf::check_post(state, &parts.headers, viewer.as_ref(), token.as_deref()) {
        return Err(refuse_as(json, e));
    }
    Ok((parts, bytes))
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, bytes) = checked_body(req, state, false, |_, bytes| {
            form_urlencoded::parse(bytes)
                .find(|(k, _)| k == "csrf_token")
                .map(|(_, v)| v.into_owned())
        })
        .await?;
        let bytes = without_reauth_password(&parts, bytes);
        // The one place a form is parsed (clippy.toml forbids `axum::Form` elsewhere).
        #[allow(clippy::disallowed_types)]
        let parsed =
            axum::Form::<T>::from_request(Request::from_parts(parts, Body::from(bytes)), state)
                .await;
        match parsed {
            Ok(axum::Form(t)) => Ok(CsrfForm(t)),
            Err(_) => Err(WebError::new(
                StatusCode::BAD_REQUEST,
                "The form could not be read. Reload the page and try again.",
            )
            .into_response()),
        }
    }
}

/// The body without `reauth_password` for every action but the prompt: after the prompt, the
/// browser re-posts the prompt's whole form (307) to the waiting action, and that action must
/// never see the account's password among its fields.
fn without_reauth_password(parts: &Parts, bytes: Bytes) -> Bytes {
    const FIELD: &str = "reauth_password";
    if parts.uri.path() == super::answer::REAUTH_PAGE
        || !form_urlencoded::parse(&bytes).any(|(k, _)| k == FIELD)
    {
        return bytes;
    }
    let kept = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_urlencoded::parse(&bytes).filter(|(k, _)| k != FIELD))
        .finish();
    Bytes::from(kept)
}

/// A JSON body whose origin and CSRF token (`X-CSRF-Token` header) were checked before it was
/// read; refusals are JSON (`{"error": …}`).
pub(crate) struct CsrfJson<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (_, bytes) = checked_body(req, state, true, |parts, _| {
            parts
                .headers
                .get(csrf::HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .await?;
        let body = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(body)
            .map(CsrfJson)
            .map_err(|_| json_error(WebError::new(StatusCode::BAD_REQUEST, "Malformed request.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str) -> Parts {
        Request::post(path)
            .body(())
            .expect("request")
            .into_parts()
            .0
    }

    #[test]
    fn no_action_but_the_prompt_sees_reauth_password() {
        let body = Bytes::from_static(b"csrf_token=t&name=a+b&reauth_password=hunter2&x=1");
        let out = without_reauth_password(&parts("/manage/account/tokens/"), body.clone());
        assert_eq!(&out[..], b"csrf_token=t&name=a+b&x=1");
        let out = without_reauth_password(&parts(super::super::answer::REAUTH_PAGE), body.clone());
        assert_eq!(out, body, "the prompt reads it");
        let plain = Bytes::from_static(b"csrf_token=t&name=a");
        assert_eq!(
            without_reauth_password(&parts("/manage/account/tokens/"), plain.clone()),
            plain
        );
    }
}
