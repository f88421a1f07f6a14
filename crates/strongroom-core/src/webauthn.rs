//! WebAuthn (security keys and passkeys) through webauthn-rs: ceremony state is kept server-side
//! under a random id (single use, 5 minutes); sign-count regressions are refused; a passkey can
//! log in without a password (discoverable credential).

use base64::Engine;
use strongroom_store::NewCredential;
use strongroom_store::model::{AuthState, WebauthnCredential};
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, WebauthnBuilder,
};

use crate::login::TICKET_KIND;
use crate::mail::{notice, notice_recipients};
use crate::second_factor::{Enrolled, LAST_METHOD};
use crate::secrets::hash_token;
use crate::secrets::random_secret;
use crate::sessions::{SessionGrant, SessionInfo};
use crate::{CoreError, RequestMeta, Services};

const STATE_TTL: i64 = 5 * 60_000_000;
const REGISTER: &str = "webauthn_register";
const LOGIN: &str = "webauthn_login";
const DISCOVERABLE: &str = "webauthn_discoverable";

/// The WebAuthn user handle of an account (stable, not secret).
pub fn user_handle(user_id: i64) -> Uuid {
    Uuid::from_u64_pair(0x7374_726f_6e67_726f, u64::try_from(user_id).unwrap_or(0))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn refused(what: &str) -> CoreError {
    CoreError::Forbidden(format!("The security key was not accepted: {what}."))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LoginState {
    /// The hash of the password-step ticket this ceremony completes (None: passwordless).
    ticket_hash: Option<String>,
    state: serde_json::Value,
}

impl Services {
    fn webauthn(&self) -> Result<Webauthn, CoreError> {
        let origin = Url::parse(&self.settings.webauthn_origin)
            .map_err(|e| CoreError::Internal(format!("webauthn origin: {e}")))?;
        WebauthnBuilder::new(&self.settings.webauthn_rp_id, &origin)
            .and_then(|b| b.rp_name("strongroom").build())
            .map_err(|e| CoreError::Internal(format!("webauthn setup: {e}")))
    }

    async fn put_ceremony(
        &self,
        kind: &str,
        user_id: Option<i64>,
        data: String,
    ) -> Result<String, CoreError> {
        let id = random_secret(24);
        let now = self.now();
        self.db
            .put_state(
                &hash_token(&id),
                &AuthState {
                    kind: kind.into(),
                    user_id,
                    data,
                    created_at: now,
                    expires_at: now + STATE_TTL,
                },
            )
            .await?;
        Ok(id)
    }

    /// Start adding a security key or passkey: (challenge JSON for `navigator.credentials.create`, state id).
    pub async fn webauthn_register_start(
        &self,
        session: &SessionInfo,
    ) -> Result<(String, String), CoreError> {
        let user = &session.user;
        let exclude: Vec<_> = self
            .db
            .webauthn_of(user.id)
            .await?
            .iter()
            .filter_map(|c| serde_json::from_str::<Passkey>(&c.passkey).ok())
            .map(|p| p.cred_id().clone())
            .collect();
        let (challenge, state) = self
            .webauthn()?
            .start_passkey_registration(
                user_handle(user.id),
                &user.username,
                &user.username,
                Some(exclude),
            )
            .map_err(|e| CoreError::Internal(format!("webauthn registration: {e}")))?;
        let data = serde_json::to_string(&state).map_err(|e| CoreError::Internal(e.to_string()))?;
        let id = self.put_ceremony(REGISTER, Some(user.id), data).await?;
        let challenge =
            serde_json::to_string(&challenge).map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok((challenge, id))
    }

    /// Finish adding a key with the browser's response.
    pub async fn webauthn_register_finish(
        &self,
        session: &SessionInfo,
        state_id: &str,
        label: &str,
        response_json: &str,
        meta: &RequestMeta,
    ) -> Result<Enrolled, CoreError> {
        self.require_recent_auth(session)?;
        let user = &session.user;
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 64 {
            return Err(CoreError::Invalid(
                "Give the key a name of 1 to 64 characters.".into(),
            ));
        }
        let st = self
            .db
            .take_state(&hash_token(state_id), REGISTER, self.now())
            .await?
            .filter(|s| s.user_id == Some(user.id))
            .ok_or_else(|| refused("the request expired; try again"))?;
        let state: PasskeyRegistration =
            serde_json::from_str(&st.data).map_err(|e| CoreError::Internal(e.to_string()))?;
        let response: RegisterPublicKeyCredential =
            serde_json::from_str(response_json).map_err(|_| refused("malformed response"))?;
        let passkey = self
            .webauthn()?
            .finish_passkey_registration(&response, &state)
            .map_err(|e| refused(&e.to_string()))?;
        let first = !self.has_two_factor(user.id).await?;
        let now = self.now();
        let mut tx = self.db.begin_account().await?;
        // A freeze or deletion since the session was checked refuses the key here
        // (`crate::credential_gate`).
        self.lock_live_account(&mut tx, user.id).await?;
        tx.insert_credential(&NewCredential {
            user_id: user.id,
            credential_id: b64(passkey.cred_id()),
            passkey: serde_json::to_string(&passkey)
                .map_err(|e| CoreError::Internal(e.to_string()))?,
            sign_count: 0,
            label: label.to_owned(),
            at: now,
            enabled: !first,
        })
        .await
        .map_err(|e| match e {
            strongroom_store::StoreError::Conflict(w) if w == "label" => {
                CoreError::Conflict("You already have a key with this name.".into())
            }
            strongroom_store::StoreError::Conflict(_) => {
                CoreError::Conflict("This security key is already registered.".into())
            }
            other => other.into(),
        })?;
        let (enrolled, mails, mut events) = self
            .finish_enrolment_pub(&mut tx, user, first, "security key", meta)
            .await?;
        let ev = self.user_event(
            if first {
                "account:2fa:webauthn:pending"
            } else {
                "account:2fa:webauthn:add"
            },
            user,
            meta,
            serde_json::json!({"label": label}),
        );
        events.insert(0, ev);
        tx.commit(&events, &mails).await?;
        Ok(enrolled)
    }

    /// The user's keys.
    pub async fn webauthn_list(&self, user_id: i64) -> Result<Vec<WebauthnCredential>, CoreError> {
        Ok(self.db.webauthn_of(user_id).await?)
    }

    /// Remove a key (404 for anyone else's; refused for the last method while 2FA is required).
    pub async fn webauthn_remove(
        &self,
        session: &SessionInfo,
        credential_id: i64,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.require_recent_auth(session)?;
        let user = &session.user;
        let Some(cred) = self
            .db
            .webauthn_of(user.id)
            .await?
            .into_iter()
            .find(|c| c.id == credential_id)
        else {
            return Err(CoreError::NotFound("No such security key.".into()));
        };
        let mut tx = self.db.begin_account().await?;
        // The account as it is now, held until the removal commits (`crate::credential_gate`).
        let now_user = self.lock_live_account(&mut tx, user.id).await?;
        let user = &now_user;
        let count = tx.count_second_factors(user.id).await?;
        let enabled = cred.enabled_at.is_some();
        if enabled && count <= 1 && self.settings.require_2fa {
            return Err(CoreError::Forbidden(LAST_METHOD.into()));
        }
        if !tx.delete_credential(user.id, credential_id).await? {
            return Err(CoreError::NotFound("No such security key.".into()));
        }
        if enabled && count <= 1 {
            tx.delete_recovery_codes(user.id).await?;
        }
        let mut mails = notice(
            &notice_recipients(&tx.emails(user.id).await?),
            "A two-factor method was removed from your account",
            &format!(
                "The security key \"{}\" was removed from the account {}.",
                cred.label, user.username
            ),
        );
        let mut events = vec![self.user_event(
            "account:2fa:webauthn:remove",
            user,
            meta,
            serde_json::json!({"label": cred.label}),
        )];
        if enabled {
            self.credential_hold(
                &mut tx,
                user,
                crate::hold::reason::TWO_FACTOR_REMOVAL,
                meta,
                &mut mails,
                &mut events,
            )
            .await?;
        }
        tx.commit(&events, &mails).await?;
        Ok(())
    }

    /// Start a WebAuthn login: with a password-step ticket (second factor) or without (passkey,
    /// passwordless). Returns (challenge JSON for `navigator.credentials.get`, state id).
    pub async fn webauthn_login_start(
        &self,
        ticket: Option<&str>,
    ) -> Result<(String, String), CoreError> {
        let wa = self.webauthn()?;
        match ticket {
            Some(t) => {
                let user = self.ticket_user(t).await?;
                let keys: Vec<Passkey> = self
                    .db
                    .webauthn_of(user.id)
                    .await?
                    .iter()
                    .filter(|c| c.enabled_at.is_some() && c.suspect_at.is_none())
                    .filter_map(|c| serde_json::from_str(&c.passkey).ok())
                    .collect();
                if keys.is_empty() {
                    return Err(CoreError::Invalid(
                        "This account has no security key.".into(),
                    ));
                }
                let (challenge, state) = wa
                    .start_passkey_authentication(&keys)
                    .map_err(|e| CoreError::Internal(format!("webauthn login: {e}")))?;
                let data = LoginState {
                    ticket_hash: Some(hash_token(t)),
                    state: serde_json::to_value(&state)
                        .map_err(|e| CoreError::Internal(e.to_string()))?,
                };
                let id = self
                    .put_ceremony(
                        LOGIN,
                        Some(user.id),
                        serde_json::to_string(&data)
                            .map_err(|e| CoreError::Internal(e.to_string()))?,
                    )
                    .await?;
                Ok((
                    serde_json::to_string(&challenge)
                        .map_err(|e| CoreError::Internal(e.to_string()))?,
                    id,
                ))
            }
            None => {
                let (challenge, state) = wa
                    .start_discoverable_authentication()
                    .map_err(|e| CoreError::Internal(format!("webauthn login: {e}")))?;
                let data = LoginState {
                    ticket_hash: None,
                    state: serde_json::to_value(&state)
                        .map_err(|e| CoreError::Internal(e.to_string()))?,
                };
                let id = self
                    .put_ceremony(
                        DISCOVERABLE,
                        None,
                        serde_json::to_string(&data)
                            .map_err(|e| CoreError::Internal(e.to_string()))?,
                    )
                    .await?;
                Ok((
                    serde_json::to_string(&challenge)
                        .map_err(|e| CoreError::Internal(e.to_string()))?,
                    id,
                ))
            }
        }
    }

    /// Finish a WebAuthn login with the browser's assertion.
    pub async fn webauthn_login_finish(
        &self,
        state_id: &str,
        response_json: &str,
        meta: &RequestMeta,
    ) -> Result<SessionGrant, CoreError> {
        let now = self.now();
        let hash = hash_token(state_id);
        // The state is used up whatever happens next: a challenge answers once.
        let (st, discoverable) = match self.db.take_state(&hash, LOGIN, now).await? {
            Some(s) => (s, false),
            None => (
                self.db
                    .take_state(&hash, DISCOVERABLE, now)
                    .await?
                    .ok_or_else(|| refused("the request expired; try again"))?,
                true,
            ),
        };
        let data: LoginState =
            serde_json::from_str(&st.data).map_err(|e| CoreError::Internal(e.to_string()))?;
        let response: PublicKeyCredential =
            serde_json::from_str(response_json).map_err(|_| refused("malformed response"))?;
        let wa = self.webauthn()?;
        let cred_id = b64(response.get_credential_id());
        let cred = self
            .db
            .webauthn_by_credential_id(&cred_id)
            .await?
            // A key left suspect by an incident signs nobody in until the owner keeps it.
            .filter(|c| c.enabled_at.is_some() && c.suspect_at.is_none())
            .ok_or_else(|| refused("unknown key"))?;
        let user = self
            .user_or_404(cred.user_id)
            .await
            .map_err(|_| refused("unknown key"))?;
        if user.frozen_at.is_some() {
            return Err(CoreError::Forbidden(crate::login::FROZEN.into()));
        }
        let hold = self.two_factor_rate_check(user.id, meta).await?;
        let mut passkey: Passkey =
            serde_json::from_str(&cred.passkey).map_err(|e| CoreError::Internal(e.to_string()))?;
        let result = if discoverable {
            let (handle, _) = wa
                .identify_discoverable_authentication(&response)
                .map_err(|e| refused(&e.to_string()))?;
            if handle != user_handle(user.id) {
                self.two_factor_failed(&user, "webauthn", meta).await?;
                return Err(refused("the key belongs to another account"));
            }
            let state: DiscoverableAuthentication = serde_json::from_value(data.state)
                .map_err(|e| CoreError::Internal(e.to_string()))?;
            wa.finish_discoverable_authentication_v2(&response, state, &passkey)
        } else {
            if st.user_id != Some(user.id) {
                self.two_factor_failed(&user, "webauthn", meta).await?;
                return Err(refused("the key belongs to another account"));
            }
            let state: PasskeyAuthentication = serde_json::from_value(data.state)
                .map_err(|e| CoreError::Internal(e.to_string()))?;
            wa.finish_passkey_authentication(&response, &state)
        };
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                self.two_factor_failed(&user, "webauthn", meta).await?;
                return Err(refused(&e.to_string()));
            }
        };
        passkey.update_credential(&result);
        let stored =
            serde_json::to_string(&passkey).map_err(|e| CoreError::Internal(e.to_string()))?;
        if !self
            .db
            .webauthn_record_use(cred.id, &stored, i64::from(result.counter()), now)
            .await?
        {
            self.two_factor_failed(&user, "webauthn", meta).await?;
            return Err(refused(
                "its signature counter went backwards (a cloned key?)",
            ));
        }
        self.rate_refund(hold).await?;
        if let Some(ticket_hash) = data.ticket_hash {
            match self.db.take_state(&ticket_hash, TICKET_KIND, now).await? {
                Some(t) if t.user_id == Some(user.id) => {}
                _ => {
                    return Err(CoreError::Forbidden(
                        "Your login has expired. Log in again.".into(),
                    ));
                }
            }
        }
        self.complete_login(
            &user,
            true,
            if discoverable { "passkey" } else { "webauthn" },
            meta,
        )
        .await
    }
}
