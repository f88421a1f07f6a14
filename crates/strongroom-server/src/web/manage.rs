//! Account settings of the logged-in user: email addresses, password, sessions, security
//! history, second factors (TOTP, WebAuthn keys and passkeys, recovery codes), API tokens and
//! the re-authentication prompt. Objects are named by id and core looks them up *within the
//! session's account*: another user's id is a 404 and changes nothing.

use axum::Form;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use minijinja::context;
use serde::Deserialize;
use strongroom_core::CoreError;

use super::accounts::{WebauthnFinish, challenge_json, header_token};
use super::errors::WebError;
use super::redirect::encoded;
use super::redirect::safe_next;
use super::signed_in::{field, id, post_viewer, require_login};
use super::{Meta, PageCx, done_message, json, json_error, see_other};
use crate::state::AppState;

/// Any settings form: every field optional, so a missing CSRF token is a 403, not a 422.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ManageForm {
    #[serde(default)]
    pub csrf_token: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub email_id: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub token_id: Option<String>,
    #[serde(default)]
    pub credential_id: Option<String>,
    #[serde(default)]
    pub old_password: Option<String>,
    #[serde(default)]
    pub new_password: Option<String>,
    #[serde(default)]
    pub new_password_confirm: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub expires_days: Option<String>,
}

/// `?done=` and `?next=` of the settings pages.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ManageQuery {
    #[serde(default)]
    pub(crate) done: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

/// Where a settings POST goes: `page?done=key` on success; the re-authentication prompt when
/// core wants a fresh password first; other errors as pages.
fn outcome(result: Result<(), CoreError>, page: &str, done: &str) -> Result<Response, WebError> {
    match result {
        Ok(()) => Ok(see_other(&format!("{page}?done={done}"), Vec::new())),
        Err(e) => Err(reauth_or(e, page)),
    }
}

fn is_reauth(e: &CoreError) -> bool {
    matches!(e, CoreError::Forbidden(m) if m == strongroom_core::sessions::REAUTH_REQUIRED)
}

/// A core error as a page; "confirm your password" becomes a redirect to the prompt.
pub(crate) fn reauth_or(e: CoreError, back_to: &str) -> WebError {
    if is_reauth(&e) {
        return WebError::redirect(&format!(
            "/manage/account/reauth/?next={}",
            encoded(back_to)
        ));
    }
    WebError::from(e)
}

/// `GET /manage/account/`
pub(crate) async fn account_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<ManageQuery>,
) -> Result<Response, WebError> {
    let (cx, v) = match require_login(&state, &headers, &uri, true).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let emails: Vec<_> = state
        .services
        .db
        .emails_of(v.user_id)
        .await?
        .into_iter()
        .map(|e| {
            context! { id => e.id, address => e.address, is_primary => e.is_primary,
            verified => e.verified_at.is_some(), suspect => e.suspect_at.is_some() }
        })
        .collect();
    let sessions: Vec<_> = state
        .services
        .list_sessions(v.user_id)
        .await?
        .into_iter()
        .map(|s| {
            context! { id => s.id, created_at => s.created_at, last_seen_at => s.last_seen_at,
            ip => s.ip, user_agent => s.user_agent, current => s.id == v.info.id }
        })
        .collect();
    let events: Vec<_> = state
        .services
        .account_events(v.user_id, 50)
        .await?
        .into_iter()
        .map(
            |e| context! { at => e.at, action => e.action, ip => e.ip, user_agent => e.user_agent },
        )
        .collect();
    cx.render(
        "account.html",
        context! { emails => emails, sessions => sessions, events => events,
        notice => done_message(q.done.as_deref()),
        review_pending => state.services.review_pending(v.user_id).await?,
        safety => super::account_delete::account_safety(&state, v.user_id).await? },
    )
}

/// `POST /manage/account/email/` (add, remove, primary, resend)
pub(crate) async fn email_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ManageForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), false).await?;
    let s = &state.services;
    let page = "/manage/account/";
    match field(&form.action) {
        "add" => outcome(
            s.add_email(&v.info, field(&form.address).trim(), &meta)
                .await,
            page,
            "email-added",
        ),
        "remove" => outcome(
            s.remove_email(&v.info, id(&form.email_id)?, &meta).await,
            page,
            "email-removed",
        ),
        "primary" => outcome(
            s.make_primary(&v.info, id(&form.email_id)?, &meta).await,
            page,
            "email-primary",
        ),
        "resend" => outcome(
            s.resend_verification(v.user_id, id(&form.email_id)?, &meta)
                .await,
            page,
            "email-sent",
        ),
        _ => Err(WebError::new(StatusCode::BAD_REQUEST, "Unknown action.")),
    }
}

/// `POST /manage/account/password/`
pub(crate) async fn password_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ManageForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), false).await?;
    if field(&form.new_password) != field(&form.new_password_confirm) {
        return Err(WebError::new(
            StatusCode::BAD_REQUEST,
            "The new passwords do not match.",
        ));
    }
    let result = state
        .services
        .change_password(
            &v.info,
            field(&form.old_password),
            field(&form.new_password),
            &meta,
        )
        .await;
    outcome(result, "/manage/account/", "password")
}

/// `POST /manage/account/sessions/end/`
pub(crate) async fn end_session_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ManageForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), true).await?;
    let result = state
        .services
        .end_session(v.user_id, id(&form.session_id)?, &meta)
        .await;
    outcome(result, "/manage/account/", "session-ended")
}

/// `GET /manage/account/two-factor/`
pub(crate) async fn two_factor_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<ManageQuery>,
) -> Result<Response, WebError> {
    let (cx, v) = match require_login(&state, &headers, &uri, true).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let totp = state.services.db.totp_of(v.user_id).await?;
    let keys: Vec<_> = state
        .services
        .webauthn_list(v.user_id)
        .await?
        .into_iter()
        .map(|k| {
            context! { id => k.id, label => k.label, created_at => k.created_at,
            last_used_at => k.last_used_at, pending => k.enabled_at.is_none() }
        })
        .collect();
    cx.render(
        "two_factor_manage.html",
        context! {
            totp_enabled => totp.as_ref().is_some_and(|t| t.enabled_at.is_some()),
            totp_pending => totp.as_ref().is_some_and(|t| t.enabled_at.is_none()),
            keys => keys,
            notice => done_message(q.done.as_deref()),
        },
    )
}

/// The QR code of an `otpauth://` URI as an SVG `data:` URL (`img-src data:` is allowed).
fn qr_data_url(uri: &str) -> Result<String, WebError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(WebError::internal)?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// `GET /manage/account/totp/` (a new seed, its QR code, and the confirmation form)
pub(crate) async fn totp_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, WebError> {
    let (cx, v) = match require_login(&state, &headers, &uri, true).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    if state.services.needs_reauth(&v.info) {
        return Err(reauth_or(
            CoreError::Forbidden(strongroom_core::sessions::REAUTH_REQUIRED.into()),
            "/manage/account/totp/",
        ));
    }
    let enrolment = state
        .services
        .totp_begin(&v.info)
        .map_err(|e| reauth_or(e, "/manage/account/totp/"))?;
    let qr = qr_data_url(&enrolment.otpauth_uri)?;
    cx.render(
        "totp_enrol.html",
        context! { secret => enrolment.secret_base32, qr_data_url => qr },
    )
}

/// The page after adding a second factor: the recovery codes (once) and what comes next.
fn enrolled_page(cx: PageCx, enrolled: &strongroom_core::Enrolled) -> Result<Response, WebError> {
    if enrolled.recovery_codes.is_empty() && !enrolled.pending_email_confirmation {
        return Ok(see_other(
            "/manage/account/two-factor/?done=key-added",
            Vec::new(),
        ));
    }
    cx.render(
        "recovery_codes.html",
        context! {
            codes => enrolled.recovery_codes.clone(),
            notice => enrolled.pending_email_confirmation.then(|| done_message(Some("two-factor-pending"))),
        },
    )
}

/// `POST /manage/account/totp/`
pub(crate) async fn totp_confirm_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ManageForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), true).await?;
    let result = state
        .services
        .totp_confirm(&v.info, field(&form.secret), field(&form.code), &meta)
        .await;
    let cx = PageCx::load(&state, &headers).await?;
    match result {
        Ok(enrolled) => enrolled_page(cx, &enrolled),
        Err(e) if !is_reauth(&e) && matches!(e, CoreError::Invalid(_)) => {
            // Show the same seed again with the error, so the app entry stays valid.
            let refused = WebError::from(e);
            let secret = field(&form.secret).to_owned();
            let uri = format!(
                "otpauth://totp/strongroom:{}?secret={}&issuer=strongroom",
                encoded(&v.username),
                encoded(&secret)
            );
            let qr = qr_data_url(&uri)?;
            cx.render_status(
                refused.status,
                "totp_enrol.html",
                context! { secret => secret, qr_data_url => qr, error => refused.message },
            )
        }
        Err(e) => Err(reauth_or(e, "/manage/account/totp/")),
    }
}

/// `POST /manage/account/totp/remove/`
pub(crate) async fn totp_remove_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ManageForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), true).await?;
    let result = state.services.totp_remove(&v.info, &meta).await;
    outcome(result, "/manage/account/two-factor/", "totp-removed")
}

/// `POST /manage/account/recovery-codes/`
pub(crate) async fn recovery_codes_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ManageForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), true).await?;
    let codes = state
        .services
        .recovery_codes_regenerate(&v.info, &meta)
        .await
        .map_err(|e| reauth_or(e, "/manage/account/two-factor/"))?;
    let cx = PageCx::load(&state, &headers).await?;
    cx.render("recovery_codes.html", context! { codes => codes })
}

/// `POST /manage/account/webauthn/begin/` (JSON: the options for `navigator.credentials.create`)
pub(crate) async fn webauthn_begin(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let run = async {
        let v = post_viewer(&state, &headers, header_token(&headers), true).await?;
        if state.services.needs_reauth(&v.info) {
            return Err(reauth_or(
                CoreError::Forbidden(strongroom_core::sessions::REAUTH_REQUIRED.into()),
                "/manage/account/two-factor/",
            ));
        }
        let (challenge, state_id) = state.services.webauthn_register_start(&v.info).await?;
        challenge_json(&challenge, &state_id)
    };
    run.await.unwrap_or_else(json_error)
}

/// `POST /manage/account/webauthn/finish/` (JSON)
pub(crate) async fn webauthn_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    body: Bytes,
) -> Response {
    let run = async {
        let v = post_viewer(&state, &headers, header_token(&headers), true).await?;
        let body: WebauthnFinish = serde_json::from_slice(&body)
            .map_err(|_| WebError::new(StatusCode::BAD_REQUEST, "Malformed request."))?;
        let enrolled = state
            .services
            .webauthn_register_finish(
                &v.info,
                &body.state_id,
                &body.label,
                &body.response.to_string(),
                &meta,
            )
            .await
            .map_err(|e| reauth_or(e, "/manage/account/two-factor/"))?;
        let redirect = if enrolled.pending_email_confirmation {
            "/manage/account/two-factor/?done=two-factor-pending"
        } else {
            "/manage/account/two-factor/?done=key-added"
        };
        Ok::<_, WebError>(json(
            StatusCode::OK,
            &serde_json::json!({
                "redirect": redirect,
                "recovery_codes": enrolled.recovery_codes,
            }),
        ))
    };
    run.await.unwrap_or_else(json_error)
}

/// `POST /manage/account/webauthn/remove/`
pub(crate) async fn webauthn_remove_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ManageForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), true).await?;
    let result = state
        .services
        .webauthn_remove(&v.info, id(&form.credential_id)?, &meta)
        .await;
    outcome(result, "/manage/account/two-factor/", "key-removed")
}

/// The projects the user has a role on (names), for the token scope list.
async fn projects_of(state: &AppState, user_id: i64) -> Result<Vec<String>, WebError> {
    let mut out = Vec::new();
    for (name, normalized, _) in state
        .services
        .db
        .index_projects()
        .await?
        .into_iter()
        .take(5000)
    {
        if let Some(p) = state.services.db.project_by_normalized(&normalized).await?
            && state.services.db.role_of(p.id, user_id).await?.is_some()
        {
            out.push(name);
        }
    }
    out.sort_by_key(|n| n.to_lowercase());
    Ok(out)
}

/// `GET /manage/account/tokens/`
pub(crate) async fn tokens_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<ManageQuery>,
) -> Result<Response, WebError> {
    let (cx, v) = match require_login(&state, &headers, &uri, false).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let now = state.services.now();
    let tokens: Vec<_> = state
        .services
        .tokens_of(v.user_id)
        .await?
        .into_iter()
        .filter(|t| t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now))
        .map(|t| {
            let scope = match &t.project_name {
                Some(p) => format!("Project: {p}"),
                None => "Entire account".to_owned(),
            };
            context! { id => t.id, name => t.name, scope => scope, created_at => t.created_at,
            expires_at => t.expires_at, last_used_at => t.last_used_at }
        })
        .collect();
    let projects = projects_of(&state, v.user_id).await?;
    cx.render(
        "tokens.html",
        context! { tokens => tokens, projects => projects,
        notice => done_message(q.done.as_deref()) },
    )
}

/// `POST /manage/account/tokens/` (the secret is shown once, on the answer page)
pub(crate) async fn token_create_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ManageForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), false).await?;
    let name = field(&form.name).trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(WebError::new(
            StatusCode::BAD_REQUEST,
            "Give the token a name of 1 to 100 characters.",
        ));
    }
    let scope = Some(field(&form.scope).trim()).filter(|s| !s.is_empty());
    let expires_days = match field(&form.expires_days).trim() {
        "" => None,
        d => Some(
            d.parse::<u32>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| WebError::new(StatusCode::BAD_REQUEST, "Invalid expiry."))?,
        ),
    };
    let secret = state
        .services
        .create_token_for_session(&v.info, name, scope, expires_days, &meta)
        .await
        .map_err(|e| reauth_or(e, "/manage/account/tokens/"))?;
    let cx = PageCx::load(&state, &headers).await?;
    let scope_text = scope.map_or("the entire account".to_owned(), |p| format!("project {p}"));
    cx.render(
        "token_created.html",
        context! { name => name, token => secret, scope => scope_text },
    )
}

/// `POST /manage/account/tokens/revoke/`
pub(crate) async fn token_revoke_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Form(form): Form<ManageForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), false).await?;
    let result = state
        .services
        .revoke_token(&v.info, id(&form.token_id)?, &meta)
        .await;
    outcome(result, "/manage/account/tokens/", "token-revoked")
}

/// `GET /manage/account/reauth/?next=`
pub(crate) async fn reauth_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<ManageQuery>,
) -> Result<Response, WebError> {
    let (cx, _) = match require_login(&state, &headers, &uri, true).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    cx.render(
        "reauth.html",
        context! { next => safe_next(q.next.as_deref()) },
    )
}

/// `POST /manage/account/reauth/?next=`
pub(crate) async fn reauth_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Meta(meta): Meta,
    Query(q): Query<ManageQuery>,
    Form(form): Form<ManageForm>,
) -> Result<Response, WebError> {
    let v = post_viewer(&state, &headers, form.csrf_token.as_deref(), true).await?;
    let next = safe_next(q.next.as_deref());
    match state
        .services
        .reauthenticate(&v.info, field(&form.password), &meta)
        .await
    {
        Ok(()) => Ok(see_other(&next, Vec::new())),
        Err(e) => {
            let w = WebError::from(e);
            if w.status == StatusCode::TOO_MANY_REQUESTS || w.status.is_server_error() {
                return Err(w);
            }
            let cx = PageCx::load(&state, &headers).await?;
            cx.render_status(
                w.status,
                "reauth.html",
                context! { next => next, error => w.message },
            )
        }
    }
}
