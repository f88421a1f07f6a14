//! Account pages for people not (fully) logged in: register, verify email, log in (password,
//! then a second factor; or a passkey alone), log out, forgot and reset password, and the
//! links mailed by core (confirm two-factor, "this wasn't me").

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use strongroom_core::registration::RegisterPage;
use strongroom_core::{CoreError, LoginStep, SessionGrant};

use super::errors::WebError;
use super::extract::{CsrfForm, CsrfJson, NoFields};
use super::redirect::safe_next;
use super::session::{SESSION_COOKIE, clear_session_cookie, set_session_cookie, short_cookie};
use super::{Meta, PageCx, json, json_error, see_other, session};
use crate::state::AppState;

/// The cookie that carries the login ticket between the password and the second factor
/// (`<ticket>.<methods>`, methods a subset of `t` TOTP, `w` WebAuthn, `r` recovery codes).
pub(crate) const TICKET_COOKIE: &str = "__Host-strongroom-2fa";

/// `?next=` of the login pages.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct NextQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    second_factor: Option<String>,
}

/// `?token=` of the links in mail.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: Option<String>,
}

/// Any form of these pages: every field optional (the token is `CsrfForm`'s).
#[derive(Debug, Deserialize, Default)]
pub(crate) struct AccountForm {
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
    pub totp_code: Option<String>,
    #[serde(default)]
    pub recovery_code: Option<String>,
    #[serde(default)]
    pub invite: Option<String>,
}

fn field(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// A form error shown on the form itself (4xx), anything else as an error page.
fn form_error(e: CoreError) -> Result<(StatusCode, String), WebError> {
    let w = WebError::from(e);
    if w.status.is_client_error() && w.status != StatusCode::TOO_MANY_REQUESTS {
        Ok((w.status, w.message))
    } else {
        Err(w)
    }
}

/// Where a sign-in goes: the review page first when an incident left addresses or factors
/// waiting for the owner's decision.
fn after_login<'a>(grant: &SessionGrant, next: &'a str) -> &'a str {
    if grant.review_pending {
        "/manage/account/review/"
    } else {
        next
    }
}

/// Log `grant` in: its cookie, the end of any ticket, and where to go.
fn logged_in(grant: &SessionGrant, next: &str) -> Result<Response, WebError> {
    Ok(see_other(
        after_login(grant, next),
        vec![
            set_session_cookie(&grant.secret)?,
            short_cookie(TICKET_COOKIE, "", 0)?,
        ],
    ))
}

/// `GET /account/login/`
pub(crate) async fn show_login(
    cx: PageCx,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    if cx.viewer.is_some() {
        return Ok(see_other(&next, Vec::new()));
    }
    cx.render("login.html", context! { next => next, username => "" })
}

/// `POST /account/login/`
pub(crate) async fn log_in(
    cx: PageCx,
    State(state): State<AppState>,
    Meta(meta): Meta,
    Query(q): Query<NextQuery>,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    let username = field(&form.username).trim();
    match state
        .services
        .login_password(username, field(&form.password), &meta)
        .await
    {
        Ok(LoginStep::Done(grant)) => logged_in(&grant, &next),
        Ok(LoginStep::EnrolTwoFactor(grant)) => logged_in(&grant, "/manage/account/two-factor/"),
        Ok(LoginStep::NeedTwoFactor { ticket, methods }) => {
            let mut flags = String::new();
            for (on, c) in [
                (methods.totp, 't'),
                (methods.webauthn, 'w'),
                (methods.recovery_codes, 'r'),
            ] {
                if on {
                    flags.push(c);
                }
            }
            let target = format!(
                "/account/two-factor/?next={}",
                form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            Ok(see_other(
                &target,
                vec![short_cookie(
                    TICKET_COOKIE,
                    &format!("{ticket}.{flags}"),
                    300,
                )?],
            ))
        }
        Err(e) => {
            let (status, message) = form_error(e)?;
            cx.render_status(
                status,
                "login.html",
                context! { next => next, username => username, error => message },
            )
        }
    }
}

/// The ticket and method flags from the ticket cookie.
fn ticket(headers: &HeaderMap) -> Option<(String, String)> {
    let raw = session::cookie(headers, TICKET_COOKIE)?;
    let (t, flags) = raw.rsplit_once('.').unwrap_or((raw.as_str(), ""));
    Some((t.to_owned(), flags.to_owned()))
}

/// `GET /account/two-factor/`
pub(crate) async fn show_second_factor(
    cx: PageCx,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    let Some((_, flags)) = ticket(&headers) else {
        return Ok(see_other("/account/login/", Vec::new()));
    };
    render_two_factor(cx, StatusCode::OK, &next, &flags, None)
}

fn render_two_factor(
    cx: PageCx,
    status: StatusCode,
    next: &str,
    flags: &str,
    error: Option<String>,
) -> Result<Response, WebError> {
    cx.render_status(
        status,
        "two_factor.html",
        context! {
            next => next,
            error => error,
            methods => context! {
                totp => flags.contains('t'),
                webauthn => flags.contains('w'),
                recovery => flags.contains('r') || flags.is_empty(),
            },
        },
    )
}

/// Which second factor a login step uses.
#[derive(Debug, Clone, Copy)]
enum SecondFactor {
    Totp,
    RecoveryCode,
}

/// The second login step: a ticket from the password step and a code.
async fn second_factor(
    cx: PageCx,
    state: &AppState,
    headers: &HeaderMap,
    meta: &strongroom_core::RequestMeta,
    next: Option<&str>,
    (how, code): (SecondFactor, &str),
) -> Result<Response, WebError> {
    let next = safe_next(next);
    let Some((t, flags)) = ticket(headers) else {
        return Ok(see_other("/account/login/", Vec::new()));
    };
    let s = &state.services;
    let result = match how {
        SecondFactor::RecoveryCode => s.login_recovery_code(&t, code, meta).await,
        SecondFactor::Totp => s.login_totp(&t, code, meta).await,
    };
    match result {
        Ok(grant) => logged_in(&grant, &next),
        Err(e) => {
            let (status, message) = form_error(e)?;
            render_two_factor(cx, status, &next, &flags, Some(message))
        }
    }
}

/// `POST /account/two-factor/totp/`
pub(crate) async fn verify_totp_login(
    cx: PageCx,
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Query(q): Query<NextQuery>,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, WebError> {
    let code = (SecondFactor::Totp, field(&form.totp_code));
    second_factor(cx, &state, &headers, &meta, q.next.as_deref(), code).await
}

/// `POST /account/two-factor/recovery/`
pub(crate) async fn verify_recovery_login(
    cx: PageCx,
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Query(q): Query<NextQuery>,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, WebError> {
    let code = (SecondFactor::RecoveryCode, field(&form.recovery_code));
    second_factor(cx, &state, &headers, &meta, q.next.as_deref(), code).await
}

/// Body of the WebAuthn finish calls.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct WebauthnFinish {
    #[serde(default)]
    pub state_id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub next: String,
    #[serde(default)]
    pub response: serde_json::Value,
}

/// `{"state_id": …, "options": <challenge>}`
pub(crate) fn challenge_json(challenge: &str, state_id: &str) -> Result<Response, WebError> {
    let options: serde_json::Value = serde_json::from_str(challenge).map_err(WebError::internal)?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "state_id": state_id, "options": options }),
    ))
}

/// `POST /account/webauthn/login/begin/` (`?second_factor=1` after the password step)
pub(crate) async fn begin_key_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
    _: CsrfJson<serde_json::Value>,
) -> Response {
    let run = async {
        let t = match q.second_factor.as_deref() {
            Some(_) => Some(
                ticket(&headers)
                    .ok_or_else(|| WebError::forbidden("Log in with your password first."))?
                    .0,
            ),
            None => None,
        };
        let (challenge, state_id) = state.services.webauthn_login_start(t.as_deref()).await?;
        challenge_json(&challenge, &state_id)
    };
    run.await.unwrap_or_else(json_error)
}

/// `POST /account/webauthn/login/finish/`
pub(crate) async fn finish_key_login(
    State(state): State<AppState>,
    Meta(meta): Meta,
    CsrfJson(body): CsrfJson<WebauthnFinish>,
) -> Response {
    let run = async {
        let grant = state
            .services
            .webauthn_login_finish(&body.state_id, &body.response.to_string(), &meta)
            .await?;
        let next = safe_next(
            Some(&body.next)
                .filter(|n| !n.is_empty())
                .map(String::as_str),
        );
        let mut resp = json(
            StatusCode::OK,
            &serde_json::json!({ "redirect": after_login(&grant, &next) }),
        );
        let h = resp.headers_mut();
        h.append(header::SET_COOKIE, set_session_cookie(&grant.secret)?);
        h.append(header::SET_COOKIE, short_cookie(TICKET_COOKIE, "", 0)?);
        Ok::<_, WebError>(resp)
    };
    run.await.unwrap_or_else(json_error)
}

/// `POST /account/logout/`
pub(crate) async fn log_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    _: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    if let Some(secret) = session::cookie(&headers, SESSION_COOKIE) {
        state.services.logout(&secret, &meta).await?;
    }
    Ok(see_other("/", vec![clear_session_cookie()]))
}

/// `?invite=` of the registration page (an administrator's invitation link).
#[derive(Debug, Deserialize, Default)]
pub(crate) struct RegisterQuery {
    #[serde(default)]
    invite: Option<String>,
}

/// The registration page in the state core decided: the form (open, for some domains, or for
/// an invited address) or, when registration is not possible, only why (no form that would
/// fail on submit).
fn render_register(
    cx: PageCx,
    status: StatusCode,
    page: &RegisterPage,
    invite: &str,
    typed: (&str, &str),
    error: Option<String>,
) -> Result<Response, WebError> {
    let (refused, domains, invited) = match page {
        RegisterPage::Refused(why) => (Some(why.as_str()), Vec::new(), None),
        RegisterPage::Domains(list) => (None, list.clone(), None),
        RegisterPage::Invited { email } => (None, Vec::new(), Some(email.as_str())),
        RegisterPage::Open => (None, Vec::new(), None),
    };
    cx.render_status(
        status,
        "register.html",
        context! {
            refused => refused,
            domains => domains,
            invited => invited,
            invite => invite,
            username => typed.0,
            email => invited.unwrap_or(typed.1),
            error => error,
        },
    )
}

/// `GET /account/register/` (`?invite=` from an invitation mail)
pub(crate) async fn show_register(
    cx: PageCx,
    State(state): State<AppState>,
    Query(q): Query<RegisterQuery>,
) -> Result<Response, WebError> {
    let invite = q.invite.as_deref().unwrap_or("");
    let page = state.services.register_page(Some(invite)).await?;
    let status = match page {
        RegisterPage::Refused(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::OK,
    };
    render_register(cx, status, &page, invite, ("", ""), None)
}

/// `POST /account/register/`: core decides again whether registration is possible (the page is
/// never trusted), and answers a taken address exactly as a free one.
pub(crate) async fn register(
    cx: PageCx,
    State(state): State<AppState>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, WebError> {
    let username = field(&form.username).trim();
    let email = field(&form.email).trim();
    let invite = field(&form.invite).trim();
    let s = &state.services;
    let result = if field(&form.password) != field(&form.password_confirm) {
        Err(CoreError::Invalid("The passwords do not match.".into()))
    } else if invite.is_empty() {
        s.register(username, email, field(&form.password), &meta)
            .await
    } else {
        s.register_invited(username, email, field(&form.password), invite, &meta)
            .await
    };
    match result {
        Ok(()) => cx.render(
            "message.html",
            context! {
                heading => "Check your email",
                message => format!("We sent a message to {email} telling you how to continue."),
                link => context! { href => "/account/login/", text => "Go to the login page" },
            },
        ),
        Err(e) => {
            let (status, message) = form_error(e)?;
            // The page as it stands now (a link used up meanwhile shows no form), with the
            // reason this attempt failed.
            let page = s.register_page(Some(invite)).await?;
            let error = match &page {
                RegisterPage::Refused(why) if *why == message => None,
                _ => Some(message),
            };
            render_register(cx, status, &page, invite, (username, email), error)
        }
    }
}

/// A page telling the outcome of following a mailed link.
fn link_outcome(
    cx: PageCx,
    result: Result<&str, CoreError>,
    heading: &str,
    link: (&str, &str),
) -> Result<Response, WebError> {
    match result {
        Ok(message) => cx.render(
            "message.html",
            context! { heading => heading, message => message,
            link => context! { href => link.0, text => link.1 } },
        ),
        Err(e) => {
            let (status, message) = form_error(e)?;
            cx.render_status(
                status,
                "message.html",
                context! { heading => "This link does not work", message => message },
            )
        }
    }
}

fn query_token(q: &TokenQuery) -> Result<&str, CoreError> {
    q.token
        .as_deref()
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .ok_or_else(|| CoreError::Invalid("This link is not valid.".into()))
}

/// `GET /account/verify-email/?token=` (the link in the verification mail)
pub(crate) async fn verify_email(
    cx: PageCx,
    State(state): State<AppState>,
    Meta(meta): Meta,
    Query(q): Query<TokenQuery>,
) -> Result<Response, WebError> {
    let result = match query_token(&q) {
        Ok(t) => state
            .services
            .verify_email(t, &meta)
            .await
            .map(|_| "Your email address is verified."),
        Err(e) => Err(e),
    };
    link_outcome(cx, result, "Email verified", ("/account/login/", "Log in"))
}

/// `GET /account/confirm-two-factor/?token=` (the link that completes a first 2FA enrolment)
pub(crate) async fn confirm_two_factor(
    cx: PageCx,
    State(state): State<AppState>,
    Meta(meta): Meta,
    Query(q): Query<TokenQuery>,
) -> Result<Response, WebError> {
    let result = match query_token(&q) {
        Ok(t) => state
            .services
            .confirm_2fa_email(t, &meta)
            .await
            .map(|_| "Two-factor authentication is now on for your account."),
        Err(e) => Err(e),
    };
    link_outcome(
        cx,
        result,
        "Two-factor authentication is on",
        ("/manage/account/two-factor/", "Two-factor settings"),
    )
}

/// `GET /account/freeze/?token=` ("this wasn't me": asks before freezing)
pub(crate) async fn show_freeze(
    cx: PageCx,
    Query(q): Query<TokenQuery>,
) -> Result<Response, WebError> {
    let token = query_token(&q)?.to_owned();
    cx.render("freeze.html", context! { token => token })
}

/// `POST /account/freeze/`
pub(crate) async fn freeze_account(
    cx: PageCx,
    State(state): State<AppState>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, WebError> {
    let result = state
        .services
        .freeze_from_mail(field(&form.token), &meta)
        .await
        .map(|_| "Your account is frozen: every session and API token was ended. Contact an administrator to recover it.");
    link_outcome(cx, result, "Account frozen", ("/", "Home"))
}

/// `GET /account/forgot-password/`
pub(crate) async fn show_forgot_password(cx: PageCx) -> Result<Response, WebError> {
    cx.render("forgot_password.html", context! {})
}

/// `POST /account/forgot-password/` (the same answer whether or not the account exists)
pub(crate) async fn request_password_reset(
    cx: PageCx,
    State(state): State<AppState>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, WebError> {
    state
        .services
        .request_password_reset(field(&form.username_or_email), &meta)
        .await?;
    cx.render(
        "message.html",
        context! {
            heading => "Check your email",
            message => "If this account exists and has a verified email address, we sent it a link to reset the password.",
        },
    )
}

/// `GET /account/reset-password/?token=`
pub(crate) async fn show_reset_password(
    cx: PageCx,
    Query(q): Query<TokenQuery>,
) -> Result<Response, WebError> {
    let token = query_token(&q)?.to_owned();
    cx.render("reset_password.html", context! { token => token })
}

/// `POST /account/reset-password/`
pub(crate) async fn reset_password(
    cx: PageCx,
    State(state): State<AppState>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AccountForm>,
) -> Result<Response, WebError> {
    let token = field(&form.token);
    let result = if field(&form.password) != field(&form.password_confirm) {
        Err(CoreError::Invalid("The passwords do not match.".into()))
    } else {
        state
            .services
            .reset_password(token, field(&form.password), &meta)
            .await
    };
    match result {
        Ok(_) => cx.render(
            "message.html",
            context! {
                heading => "Password changed",
                message => "Your password was changed. Log in with the new one.",
                link => context! { href => "/account/login/", text => "Log in" },
            },
        ),
        Err(e) => {
            let (status, message) = form_error(e)?;
            cx.render_status(
                status,
                "reset_password.html",
                context! { token => token, error => message },
            )
        }
    }
}
