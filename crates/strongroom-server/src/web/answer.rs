//! What the web layer does to every handler's answer, so no handler repeats it: an error page
//! is rendered again with the signed-in header and the way back (the page the person came
//! from, their account, the home page); an answer that needs a fresh password
//! ([`ReauthNeeded`]) becomes the re-authentication prompt. A form POST is sent there with
//! `307`, so the browser posts the same form to the prompt, which keeps its values as hidden
//! fields and posts them to the original action once the password is confirmed (`manage`'s
//! `confirm_reauth`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use minijinja::context;

use super::errors::{ErrorPage, ReauthNeeded};
use super::redirect::{encoded, safe_next};
use super::{PageCx, UiPage, see_other};
use crate::state::AppState;

/// The re-authentication prompt.
pub(crate) const REAUTH_PAGE: &str = "/manage/account/reauth/";

/// The path of a same-site `Referer`, if it is a safe one.
pub(crate) fn referer_path(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if !super::csrf::same_origin_referer(state, headers) {
        return None;
    }
    let r = headers.get(header::REFERER)?.to_str().ok()?;
    let rest = r.split_once("://")?.1;
    let path = &rest[rest.find('/')?..];
    let path = safe_next(Some(path));
    (path != "/").then_some(path)
}

/// The middleware (see the module's comment).
pub(crate) async fn finish(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let here = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let headers = req.headers().clone();
    let resp = next.run(req).await;
    if resp.extensions().get::<ReauthNeeded>().is_some() {
        return reauth_detour(&state, &method, &here, &headers);
    }
    match resp.extensions().get::<ErrorPage>() {
        Some(page) => with_header(&state, &headers, &here, page.clone(), resp).await,
        None => resp,
    }
}

/// To the prompt: a GET comes back to the same page; a POST is re-posted there (307) and then
/// to its own action, back to the page it came from.
fn reauth_detour(state: &AppState, method: &Method, here: &str, headers: &HeaderMap) -> Response {
    if matches!(*method, Method::GET | Method::HEAD) {
        return see_other(
            &format!("{REAUTH_PAGE}?next={}", encoded(&safe_next(Some(here)))),
            Vec::new(),
        );
    }
    let action = here.split('?').next().unwrap_or("/");
    let back = referer_path(state, headers).unwrap_or_else(|| "/manage/account/".to_owned());
    repost(&format!(
        "{REAUTH_PAGE}?next={}&then={}",
        encoded(&back),
        encoded(&safe_next(Some(action)))
    ))
}

/// `307` to `action`: the browser posts the same form there again (after the prompt).
pub(crate) fn repost(action: &str) -> Response {
    let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(action) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.extensions_mut().insert(UiPage);
    resp
}

/// The error page again, with the viewer's header and the way back. The answer keeps its
/// status and headers (`Retry-After`, cookies); only the body changes.
async fn with_header(
    state: &AppState,
    headers: &HeaderMap,
    here: &str,
    page: ErrorPage,
    resp: Response,
) -> Response {
    let Ok(cx) = PageCx::load(state, headers).await else {
        return resp;
    };
    let back = referer_path(state, headers).filter(|p| p != here);
    let body = page.body(context! {
        viewer => super::ser(&cx.viewer),
        csrf_token => &cx.csrf_token,
        registration_closed => cx.registration_closed(),
        back => back,
    });
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}
