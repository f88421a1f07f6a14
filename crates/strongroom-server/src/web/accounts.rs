//! Account pages for people not (fully) logged in: register, verify email, log in (password,
//! then a second factor; or a passkey alone), log out, forgot and reset password.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use super::errors::WebError;
use super::redirect::safe_next;
use super::session::clear_session_cookie;
use super::{PageCx, csrf, see_other, session};
use crate::state::AppState;

/// `?next=` of the login pages.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

/// `?token=` of the links in mail.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: Option<String>,
}

/// Any form: every field optional, so a missing CSRF token is a 403, not a 422.
#[allow(dead_code)] // fields are read once the backend's account functions exist
#[derive(Debug, Deserialize, Default)]
pub(crate) struct AccountForm {
    #[serde(default)]
    pub csrf_token: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_confirm: Option<String>,
    #[serde(default)]
    pub username_or_email: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub totp_code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// The answer to an action whose backend function is not there yet.
pub(crate) fn not_available() -> WebError {
    WebError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "This action is not available on this server yet.",
    )
}

/// `GET /account/login/`
pub(crate) async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let cx = PageCx::load(&state, &headers).await?;
    let next = safe_next(q.next.as_deref());
    if cx.viewer.is_some() {
        return Ok(see_other(&next, Vec::new()));
    }
    cx.render("login.html", context! { next => next, username => "" })
}

/// `POST /account/login/`
pub(crate) async fn login_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(_q): Query<NextQuery>,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    csrf::check_post(&state, &headers, None, form.csrf_token.as_deref())?;
    Err(not_available())
}

/// `GET /account/two-factor/`
pub(crate) async fn two_factor_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let cx = PageCx::load(&state, &headers).await?;
    let next = safe_next(q.next.as_deref());
    if session::cookie(&headers, TICKET_COOKIE).is_none() {
        return Ok(see_other("/account/login/", Vec::new()));
    }
    cx.render(
        "two_factor.html",
        context! {
            next => next,
            methods => context! { totp => true, webauthn => true, recovery => true },
        },
    )
}

/// The cookie that carries the login ticket between the password and the second factor.
pub(crate) const TICKET_COOKIE: &str = "__Host-strongroom-2fa";

/// `POST /account/two-factor/`
pub(crate) async fn two_factor_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(_q): Query<NextQuery>,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    csrf::check_post(&state, &headers, None, form.csrf_token.as_deref())?;
    Err(not_available())
}

/// `POST /account/logout/`
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    let viewer = session::viewer(&state, &headers).await?;
    csrf::check_post(
        &state,
        &headers,
        viewer.as_ref(),
        form.csrf_token.as_deref(),
    )?;
    Ok(see_other("/", vec![clear_session_cookie()]))
}

/// `GET /account/register/`
pub(crate) async fn register_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let cx = PageCx::load(&state, &headers).await?;
    cx.render("register.html", context! { username => "", email => "" })
}

/// `POST /account/register/`
pub(crate) async fn register_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    csrf::check_post(&state, &headers, None, form.csrf_token.as_deref())?;
    Err(not_available())
}

/// `GET /account/verify-email/?token=`
pub(crate) async fn verify_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, WebError> {
    let _ = (&state, &headers, q.token);
    Err(not_available())
}

/// `GET /account/forgot-password/`
pub(crate) async fn forgot_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let cx = PageCx::load(&state, &headers).await?;
    cx.render("forgot_password.html", context! {})
}

/// `POST /account/forgot-password/`
pub(crate) async fn forgot_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    csrf::check_post(&state, &headers, None, form.csrf_token.as_deref())?;
    Err(not_available())
}

/// `GET /account/reset-password/?token=`
pub(crate) async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Result<Response, WebError> {
    let cx = PageCx::load(&state, &headers).await?;
    let token = q.token.unwrap_or_default();
    if token.is_empty() || token.len() > 200 {
        return Err(WebError::new(
            StatusCode::BAD_REQUEST,
            "This reset link is not valid.",
        ));
    }
    cx.render("reset_password.html", context! { token => token })
}

/// `POST /account/reset-password/`
pub(crate) async fn reset_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Result<Response, WebError> {
    csrf::check_post(&state, &headers, None, form.csrf_token.as_deref())?;
    Err(not_available())
}
