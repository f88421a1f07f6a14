//! Account settings of the logged-in user: email addresses, password, sessions, security
//! history, second factors (TOTP, WebAuthn keys and passkeys, recovery codes), API tokens and
//! the re-authentication prompt. One route per operation, the object in the path; objects are
//! named by id and core looks them up *within the session's account*: another user's id is a
//! 404 and changes nothing. Who may post and the CSRF check are the extractors' (`extract`),
//! the re-authentication detour and error pages are `answer`'s: a handler is the core call and
//! where to go afterwards ([`done`]).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use minijinja::context;
use serde::Deserialize;
use strongroom_core::CoreError;

use super::accounts::{WebauthnFinish, challenge_json};
use super::answer::REAUTH_PAGE;
use super::errors::WebError;
use super::extract::{CsrfForm, CsrfJson, ENROL_PAGE, Enrolling, NoFields, ObjectId, SignedIn};
use super::redirect::{encoded, safe_next};
use super::{Meta, PageCx, done_message, json, see_other};
use crate::state::AppState;

const ACCOUNT: &str = "/manage/account/";
const TOKENS: &str = "/manage/account/tokens/";

/// `?done=` of the settings pages.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ManageQuery {
    #[serde(default)]
    pub(crate) done: Option<String>,
}

/// Where a settings POST goes: `page?done=key` once core said yes; a refusal is an error page
/// (the re-authentication prompt when core wants a fresh password, by `answer::finish`).
pub(crate) fn done(
    result: Result<(), CoreError>,
    page: &str,
    key: &str,
) -> Result<Response, WebError> {
    result?;
    Ok(see_other(&format!("{page}?done={key}"), Vec::new()))
}

/// `GET /manage/account/`
pub(crate) async fn show_account(
    Enrolling { cx, viewer: v }: Enrolling,
    State(state): State<AppState>,
    Query(q): Query<ManageQuery>,
) -> Result<Response, WebError> {
    let s = &state.services;
    let emails: Vec<_> =
        s.db.emails_of(v.user_id)
            .await?
            .into_iter()
            .map(|e| {
                context! { id => e.id, address => e.address, is_primary => e.is_primary,
                verified => e.verified_at.is_some(), suspect => e.suspect_at.is_some() }
            })
            .collect();
    let sessions: Vec<_> = s
        .list_sessions(v.user_id)
        .await?
        .into_iter()
        .map(|s| {
            context! { id => s.id, created_at => s.created_at, last_seen_at => s.last_seen_at,
            ip => s.ip, user_agent => s.user_agent, current => s.id == v.info.id }
        })
        .collect();
    let events: Vec<_> = s
        .account_events(v.user_id, 50)
        .await?
        .into_iter()
        .map(
            |e| context! { at => e.at, action => e.action, ip => e.ip, user_agent => e.user_agent },
        )
        .collect();
    let invitations: Vec<_> = s
        .my_invitations(v.user_id)
        .await?
        .into_iter()
        .map(|i| {
            context! { id => i.id, project => i.project_name, inviter => &i.inviter_name,
            role => i.role.as_str(), expires_at => i.expires_at }
        })
        .collect();
    cx.render(
        "account.html",
        context! { emails => emails, sessions => sessions, events => events,
        invitations => invitations,
        notice => done_message(q.done.as_deref()),
        review_pending => s.review_pending(v.user_id).await?,
        safety => super::account_delete::account_safety(&state, v.user_id).await? },
    )
}

/// The add-address form.
#[derive(Debug, Deserialize)]
pub(crate) struct AddressForm {
    #[serde(default)]
    address: String,
}

/// `POST /manage/account/email/add/`
pub(crate) async fn add_email(
    SignedIn { viewer: v, .. }: SignedIn,
    State(state): State<AppState>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<AddressForm>,
) -> Result<Response, WebError> {
    let result = state
        .services
        .add_email(&v.info, form.address.trim(), &meta)
        .await;
    done(result, ACCOUNT, "email-added")
}

/// `POST /manage/account/email/{id}/remove/`
pub(crate) async fn remove_email(
    SignedIn { viewer: v, .. }: SignedIn,
    State(state): State<AppState>,
    ObjectId(id): ObjectId,
    Meta(meta): Meta,
    _: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    let result = state.services.remove_email(&v.info, id, &meta).await;
    done(result, ACCOUNT, "email-removed")
}

/// `POST /manage/account/email/{id}/primary/`
pub(crate) async fn make_email_primary(
    SignedIn { viewer: v, .. }: SignedIn,
    State(state): State<AppState>,
    ObjectId(id): ObjectId,
    Meta(meta): Meta,
    _: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    let result = state.services.make_primary(&v.info, id, &meta).await;
    done(result, ACCOUNT, "email-primary")
}

/// `POST /manage/account/email/{id}/resend/`
pub(crate) async fn resend_verification(
    SignedIn { viewer: v, .. }: SignedIn,
    State(state): State<AppState>,
    ObjectId(id): ObjectId,
    Meta(meta): Meta,
    _: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    let result = state
        .services
        .resend_verification(v.user_id, id, &meta)
        .await;
    done(result, ACCOUNT, "email-sent")
}

/// The change-password form.
#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    old_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
}

/// `POST /manage/account/password/`
pub(crate) async fn change_password(
    SignedIn { viewer: v, .. }: SignedIn,
    State(state): State<AppState>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<Response, WebError> {
    if form.new_password != form.new_password_confirm {
        return Err(WebError::new(
            StatusCode::BAD_REQUEST,
            "The new passwords do not match.",
        ));
    }
    let result = state
        .services
        .change_password(&v.info, &form.old_password, &form.new_password, &meta)
        .await;
    done(result, ACCOUNT, "password")
}

/// `POST /manage/account/session/{id}/end/`
pub(crate) async fn end_session(
    Enrolling { viewer: v, .. }: Enrolling,
    State(state): State<AppState>,
    ObjectId(id): ObjectId,
    Meta(meta): Meta,
    _: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    let result = state.services.end_session(v.user_id, id, &meta).await;
    done(result, ACCOUNT, "session-ended")
}

/// `GET /manage/account/two-factor/`: for a session that may only enrol, the page says why.
pub(crate) async fn show_two_factor(
    Enrolling { cx, viewer: v }: Enrolling,
    State(state): State<AppState>,
    Query(q): Query<ManageQuery>,
) -> Result<Response, WebError> {
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

/// The enrolment page for `secret` (with the refusal of a code, if any).
fn totp_page(
    cx: PageCx,
    status: StatusCode,
    username: &str,
    secret: &str,
    error: Option<String>,
) -> Result<Response, WebError> {
    let uri = format!(
        "otpauth://totp/strongroom:{}?secret={}&issuer=strongroom",
        encoded(username),
        encoded(secret)
    );
    let qr = qr_data_url(&uri)?;
    cx.render_status(
        status,
        "totp_enrol.html",
        context! { secret => secret, qr_data_url => qr, error => error },
    )
}

/// `GET /manage/account/totp/` (a new seed, its QR code, and the confirmation form)
pub(crate) async fn show_totp_enrolment(
    Enrolling { cx, viewer: v }: Enrolling,
    State(state): State<AppState>,
) -> Result<Response, WebError> {
    if state.services.needs_reauth(&v.info) {
        return Err(WebError::reauth());
    }
    let enrolment = state.services.totp_begin(&v.info)?;
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

/// The TOTP confirmation form.
#[derive(Debug, Deserialize)]
pub(crate) struct TotpForm {
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: String,
}

/// `POST /manage/account/totp/`: a refused code (wrong, or too many tries) shows the same seed
/// again with the reason, so the entry already in the app stays valid.
pub(crate) async fn confirm_totp(
    Enrolling { cx, viewer: v }: Enrolling,
    State(state): State<AppState>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<TotpForm>,
) -> Result<Response, WebError> {
    let result = state
        .services
        .totp_confirm(&v.info, &form.secret, &form.code, &meta)
        .await;
    match result {
        Ok(enrolled) => enrolled_page(cx, &enrolled),
        Err(e @ (CoreError::Invalid(_) | CoreError::TooMany { .. })) => {
            let refused = WebError::from(e);
            let retry = refused
                .retry_after
                .map(|s| format!(" Try again in {s} seconds."))
                .unwrap_or_default();
            totp_page(
                cx,
                refused.status,
                &v.username,
                &form.secret,
                Some(format!("{}{retry}", refused.message)),
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /manage/account/totp/remove/`
pub(crate) async fn remove_totp(
    Enrolling { viewer: v, .. }: Enrolling,
    State(state): State<AppState>,
    Meta(meta): Meta,
    _: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    let result = state.services.totp_remove(&v.info, &meta).await;
    done(result, ENROL_PAGE, "totp-removed")
}

/// `POST /manage/account/recovery-codes/`
pub(crate) async fn regenerate_recovery_codes(
    Enrolling { cx, viewer: v }: Enrolling,
    State(state): State<AppState>,
    Meta(meta): Meta,
    _: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    let codes = state
        .services
        .recovery_codes_regenerate(&v.info, &meta)
        .await?;
    cx.render("recovery_codes.html", context! { codes => codes })
}

/// A JSON refusal that sends the page to the re-authentication prompt first.
fn json_refusal(e: WebError) -> Response {
    if e.reauth {
        return json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({
                "error": e.message,
                "redirect": format!("{REAUTH_PAGE}?next={}", encoded(ENROL_PAGE)),
            }),
        );
    }
    super::json_error(e)
}

/// `POST /manage/account/webauthn/begin/` (JSON: the options for `navigator.credentials.create`)
pub(crate) async fn begin_key_registration(
    Enrolling { viewer: v, .. }: Enrolling,
    State(state): State<AppState>,
    _: CsrfJson<serde_json::Value>,
) -> Response {
    if state.services.needs_reauth(&v.info) {
        return json_refusal(WebError::reauth());
    }
    match state.services.webauthn_register_start(&v.info).await {
        Ok((challenge, state_id)) => {
            challenge_json(&challenge, &state_id).unwrap_or_else(json_refusal)
        }
        Err(e) => json_refusal(e.into()),
    }
}

/// `POST /manage/account/webauthn/finish/` (JSON)
pub(crate) async fn finish_key_registration(
    Enrolling { viewer: v, .. }: Enrolling,
    State(state): State<AppState>,
    Meta(meta): Meta,
    CsrfJson(body): CsrfJson<WebauthnFinish>,
) -> Response {
    let enrolled = state
        .services
        .webauthn_register_finish(
            &v.info,
            &body.state_id,
            &body.label,
            &body.response.to_string(),
            &meta,
        )
        .await;
    let enrolled = match enrolled {
        Ok(e) => e,
        Err(e) => return json_refusal(e.into()),
    };
    let redirect = if enrolled.pending_email_confirmation {
        "/manage/account/two-factor/?done=two-factor-pending"
    } else {
        "/manage/account/two-factor/?done=key-added"
    };
    json(
        StatusCode::OK,
        &serde_json::json!({
            "redirect": redirect,
            "recovery_codes": enrolled.recovery_codes,
        }),
    )
}

/// `POST /manage/account/webauthn/{id}/remove/`
pub(crate) async fn remove_security_key(
    Enrolling { viewer: v, .. }: Enrolling,
    State(state): State<AppState>,
    ObjectId(id): ObjectId,
    Meta(meta): Meta,
    _: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    let result = state.services.webauthn_remove(&v.info, id, &meta).await;
    done(result, ENROL_PAGE, "key-removed")
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
pub(crate) async fn show_tokens(
    SignedIn { cx, viewer: v }: SignedIn,
    State(state): State<AppState>,
    Query(q): Query<ManageQuery>,
) -> Result<Response, WebError> {
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

/// The new-token form.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    expires_days: String,
}

/// `POST /manage/account/tokens/` (the secret is shown once, on the answer page)
pub(crate) async fn create_token(
    SignedIn { cx, viewer: v }: SignedIn,
    State(state): State<AppState>,
    Meta(meta): Meta,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Result<Response, WebError> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(WebError::new(
            StatusCode::BAD_REQUEST,
            "Give the token a name of 1 to 100 characters.",
        ));
    }
    let scope = Some(form.scope.trim()).filter(|s| !s.is_empty());
    let expires_days = match form.expires_days.trim() {
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
        .await?;
    let scope_text = scope.map_or("the entire account".to_owned(), |p| format!("project {p}"));
    cx.render(
        "token_created.html",
        context! { name => name, token => secret, scope => scope_text },
    )
}

/// `POST /manage/account/token/{id}/revoke/`
pub(crate) async fn revoke_token(
    SignedIn { viewer: v, .. }: SignedIn,
    State(state): State<AppState>,
    ObjectId(id): ObjectId,
    Meta(meta): Meta,
    _: CsrfForm<NoFields>,
) -> Result<Response, WebError> {
    let result = state.services.revoke_token(&v.info, id, &meta).await;
    done(result, TOKENS, "token-revoked")
}

/// `?next=` (the page to go back to) and `?then=` (the action whose form waits) of the prompt.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct ReauthQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    then: Option<String>,
}

/// `GET /manage/account/reauth/?next=`
pub(crate) async fn show_reauth(
    Enrolling { cx, .. }: Enrolling,
    Query(q): Query<ReauthQuery>,
) -> Result<Response, WebError> {
    cx.render(
        "reauth.html",
        context! { next => safe_next(q.next.as_deref()) },
    )
}

/// Said on the prompt when the waiting form held a secret and so was not kept.
const SECRET_NOT_KEPT: &str = "The form you sent holds a password or code, so it is not kept here: once you have confirmed, fill it in again.";

/// The prompt's own fields, never carried on.
const PROMPT_FIELDS: [&str; 2] = ["csrf_token", "reauth_password"];

/// Whether a field's name marks a secret (a password, a TOTP seed or code, a token, a recovery
/// code): such a field is never written into the prompt's page, nor re-posted from it.
fn is_secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "passphrase",
        "secret",
        "code",
        "token",
        "recovery",
    ]
    .iter()
    .any(|m| name.contains(m))
}

/// Secret-looking fields an action's own page already writes into its HTML, so carrying them
/// shows nothing new: the TOTP enrolment's seed (shown as text and QR code on that page) and
/// the code for that not-yet-enrolled seed. Kept so an enrolment interrupted by the prompt
/// keeps the seed the person's app already holds.
const SHOWN_BY_ITS_PAGE: [(&str, &str); 2] = [
    ("/manage/account/totp/", "secret"),
    ("/manage/account/totp/", "code"),
];

/// The waiting form's fields the prompt carries on to `action` as hidden inputs, or `None` when
/// the form holds a secret: then the prompt keeps nothing and goes back to the page afterwards,
/// so the secret is typed again there rather than written into this page.
fn carried(action: &str, fields: &[(String, String)]) -> Option<Vec<(String, String)>> {
    let rest = fields
        .iter()
        .filter(|(k, _)| !PROMPT_FIELDS.contains(&k.as_str()));
    let shown = |k: &str| SHOWN_BY_ITS_PAGE.contains(&(action, k));
    if rest.clone().any(|(k, _)| is_secret_field(k) && !shown(k)) {
        return None;
    }
    Some(rest.cloned().collect())
}

/// `POST /manage/account/reauth/?next=[&then=]`. From the prompt's own form: check the password
/// (`reauth_password`, or `password` from the plain prompt) and go back to `next`, or, with
/// `then`, post the waiting form to its action again (307 keeps the method and the body; the
/// action never sees `reauth_password`, `extract::CsrfForm` drops it). A form sent here by
/// `answer::finish` (no password field yet) is shown as the prompt, its values kept as hidden
/// fields, unless one of them is a secret: then it is the plain prompt, back to `next`.
pub(crate) async fn confirm_reauth(
    Enrolling { cx, viewer: v }: Enrolling,
    State(state): State<AppState>,
    Meta(meta): Meta,
    Query(q): Query<ReauthQuery>,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    let then = q.then.as_deref().map(|t| safe_next(Some(t)));
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    // With a waiting form, what may be carried (None: it holds a secret, so nothing is).
    let kept = then.as_deref().and_then(|a| carried(a, &fields));
    let password = match (&then, get("reauth_password"), get("password")) {
        (_, Some(p), _) | (None, None, Some(p)) => p,
        (Some(_), None, _) => {
            let note = kept.is_none().then_some(SECRET_NOT_KEPT);
            return cx.render(
                "reauth.html",
                context! { next => next, then => kept.as_ref().map(|_| &then), fields => kept,
                note => note },
            );
        }
        (None, None, None) => "",
    };
    match state
        .services
        .reauthenticate(&v.info, password, &meta)
        .await
    {
        Ok(()) => Ok(match (then, &kept) {
            (Some(action), Some(_)) => super::answer::repost(&action),
            _ => see_other(&next, Vec::new()),
        }),
        Err(e) => {
            let w = WebError::from(e);
            if w.status == StatusCode::TOO_MANY_REQUESTS || w.status.is_server_error() {
                return Err(w);
            }
            cx.render_status(
                w.status,
                "reauth.html",
                context! { fields => kept.as_ref(), next => next,
                then => kept.as_ref().and(then.as_ref()), error => w.message },
            )
        }
    }
}
