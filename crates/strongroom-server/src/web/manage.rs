//! Account settings of the logged-in user: email addresses, password, sessions, security
//! history, second factors (TOTP, WebAuthn keys and passkeys, recovery codes), API tokens and
//! the re-authentication prompt. Every object is looked up *within the viewer's account*:
//! another user's id is a 404 and changes nothing.

use axum::Form;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::accounts::not_available;
use super::errors::WebError;
use super::session::Viewer;
use super::{PageCx, csrf, see_other, session};
use crate::state::AppState;

/// Any settings form: every field optional, so a missing CSRF token is a 403, not a 422.
#[allow(dead_code)] // fields are read once the backend's account functions exist
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

/// The logged-in viewer, or a redirect to the login page that comes back here.
pub(crate) async fn require_login(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<Result<PageCx, Response>, WebError> {
    let cx = PageCx::load(state, headers).await?;
    if cx.viewer.is_none() {
        let here = uri.path_and_query().map_or("/", |p| p.as_str());
        let target = format!(
            "/account/login/?next={}",
            form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
        );
        return Ok(Err(see_other(&target, Vec::new())));
    }
    Ok(Ok(cx))
}

/// A POST of the logged-in viewer: CSRF and origin checked; anonymous → 403.
pub(crate) async fn post_viewer(
    state: &AppState,
    headers: &HeaderMap,
    token: Option<&str>,
) -> Result<Viewer, WebError> {
    let viewer = session::viewer(state, headers).await?;
    csrf::check_post(state, headers, viewer.as_ref(), token)?;
    viewer.ok_or_else(|| WebError::forbidden("You need to log in first."))
}

macro_rules! login_page {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        pub(crate) async fn $name(
            State(state): State<AppState>,
            headers: HeaderMap,
            OriginalUri(uri): OriginalUri,
        ) -> Result<Response, WebError> {
            let _cx = match require_login(&state, &headers, &uri).await? {
                Ok(cx) => cx,
                Err(redirect) => return Ok(redirect),
            };
            Err(not_available())
        }
    };
}

login_page!(account_page, "`GET /manage/account/`");
login_page!(two_factor_page, "`GET /manage/account/two-factor/`");
login_page!(totp_page, "`GET /manage/account/totp/`");
login_page!(tokens_page, "`GET /manage/account/tokens/`");
login_page!(reauth_page, "`GET /manage/account/reauth/`");

macro_rules! settings_post {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        pub(crate) async fn $name(
            State(state): State<AppState>,
            headers: HeaderMap,
            Form(form): Form<ManageForm>,
        ) -> Result<Response, WebError> {
            let _viewer = post_viewer(&state, &headers, form.csrf_token.as_deref()).await?;
            Err(not_available())
        }
    };
}

settings_post!(
    email_post,
    "`POST /manage/account/email/` (add, remove, primary, resend)"
);
settings_post!(password_post, "`POST /manage/account/password/`");
settings_post!(end_session_post, "`POST /manage/account/sessions/end/`");
settings_post!(totp_confirm_post, "`POST /manage/account/totp/`");
settings_post!(totp_remove_post, "`POST /manage/account/totp/remove/`");
settings_post!(
    recovery_codes_post,
    "`POST /manage/account/recovery-codes/`"
);
settings_post!(
    webauthn_remove_post,
    "`POST /manage/account/webauthn/remove/`"
);
settings_post!(token_create_post, "`POST /manage/account/tokens/`");
settings_post!(token_revoke_post, "`POST /manage/account/tokens/revoke/`");
settings_post!(reauth_post, "`POST /manage/account/reauth/`");

/// Redirect helper kept for the wiring of the settings actions.
#[allow(dead_code)]
pub(crate) fn back_to(path: &str) -> Response {
    see_other(path, Vec::new())
}
