//! Second factors: TOTP (RFC 6238, 30 s, ±1 step, a step never accepted twice), recovery codes
//! (8, Argon2-hashed, single use), and the rules around them: the first enrolment completes only
//! when the primary address confirms it, and the last method cannot go while 2FA is required.

use strongroom_store::AccountTx;
use strongroom_store::model::User;
use totp_rs::{Builder, Secret, Totp};

use crate::accounts::purpose;
use crate::mail::{notice, notice_recipients};
use crate::sessions::SessionInfo;
use crate::{CoreError, RequestMeta, Services};

/// A TOTP seed offered for enrolment (not stored until confirmed with a code).
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
    /// Left empty: the UI renders the QR code from `otpauth_uri`.
    pub qr_svg: String,
}

/// The result of adding a second factor.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// New recovery codes, shown once (only when the account had none).
    pub recovery_codes: Vec<String>,
    /// The first method waits for the link mailed to the primary address ("check your mail").
    pub pending_email_confirmation: bool,
}

/// The refusal to remove the last second factor.
pub const LAST_METHOD: &str = "You cannot remove your last two-factor method while two-factor authentication is required. Add another method first.";

/// Keep only what a person means by a code: digits and letters, no spaces (any Unicode
/// whitespace, including no-break spaces) or dashes.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '\u{200b}')
        .collect::<String>()
        .to_ascii_lowercase()
}

fn totp(secret_base32: &str, account: &str) -> Result<Totp, CoreError> {
    let secret = Secret::try_from_base32(secret_base32)
        .map_err(|_| CoreError::Invalid("Invalid TOTP secret.".into()))?;
    Builder::new()
        .with_secret(secret)
        .with_account_name(account.replace(':', "_"))
        .with_issuer(Some("strongroom"))
        .build()
        .map_err(|e| CoreError::Invalid(format!("Invalid TOTP secret: {e}")))
}

/// The step (30 s window index) within ±1 of `now_secs` whose code is `code`, if any.
pub fn matching_step(secret_base32: &str, code: &str, now_secs: u64) -> Option<u64> {
    let code = normalize_code(code);
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret_base32, "x").ok()?.check(&code, now_secs)
}

/// The code of `secret_base32` at `secs` (tests and tools).
pub fn code_at(secret_base32: &str, secs: u64) -> Result<String, CoreError> {
    Ok(totp(secret_base32, "x")?.generate(secs).to_string())
}

/// A new TOTP seed (160 bits) for the account `username`, with its `otpauth://` URI.
pub fn totp_offer(username: &str) -> Result<TotpEnrolment, CoreError> {
    let bytes: [u8; 20] = rand::random();
    let secret_base32 = Secret::from(bytes.to_vec()).to_base32();
    let t = totp(&secret_base32, username)?;
    let otpauth_uri = t
        .to_url()
        .map_err(|e| CoreError::Internal(format!("otpauth URI: {e}")))?;
    Ok(TotpEnrolment {
        secret_base32,
        otpauth_uri,
        qr_svg: String::new(),
    })
}

fn new_recovery_codes() -> Vec<String> {
    (0..8)
        .map(|_| {
            let b: [u8; 8] = rand::random();
            hex::encode(b)
        })
        .collect()
}

impl Services {
    fn now_secs(&self) -> u64 {
        u64::try_from(self.now() / 1_000_000).unwrap_or(0)
    }

    /// Whether `code` is a valid, never-used TOTP code of the account; claims its step.
    pub(crate) async fn totp_accepts(&self, user_id: i64, code: &str) -> Result<bool, CoreError> {
        let Some(seed) = self.db.totp_of(user_id).await? else {
            return Ok(false);
        };
        if seed.enabled_at.is_none() {
            return Ok(false);
        }
        let Some(step) = matching_step(&seed.secret, code, self.now_secs()) else {
            return Ok(false);
        };
        // The conditional update decides replays, even between two servers.
        Ok(self
            .db
            .totp_claim_step(user_id, i64::try_from(step).unwrap_or(i64::MAX))
            .await?)
    }

    /// Check and burn a recovery code; a reused code gets its own refusal and mails the owner.
    pub(crate) async fn use_recovery_code(
        &self,
        user: &User,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let code = normalize_code(code);
        // A code left suspect by an incident is not one (until the owner keeps the set).
        let codes: Vec<_> = self
            .db
            .recovery_codes_of(user.id)
            .await?
            .into_iter()
            .filter(|c| c.suspect_at.is_none())
            .collect();
        let found = if code.len() == 16 && code.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hashes = codes.iter().map(|c| c.code_hash.clone()).collect();
            self.find_secret_pooled(hashes, &code)
                .await?
                .and_then(|i| codes.get(i))
        } else {
            None
        };
        let Some(found) = found else {
            self.two_factor_failed(user, "recovery_code", meta).await?;
            return Err(CoreError::Forbidden("Invalid recovery code.".into()));
        };
        let burned =
            found.burned_at.is_none() && self.db.burn_recovery_code(found.id, self.now()).await?;
        let mut tx = self.db.begin_account().await?;
        let to = notice_recipients(&tx.emails(user.id).await?);
        if !burned {
            let mails = notice(
                &to,
                "A used recovery code was tried on your account",
                &format!(
                    "Someone tried to log in to {} with a recovery code that was already used.",
                    user.username
                ),
            );
            let ev = self.user_event(
                "account:recovery_code:reuse",
                user,
                meta,
                serde_json::json!({}),
            );
            tx.commit(&[ev], &mails).await?;
            // Counted by the place the caller took (`two_factor_rate_check`), like a wrong code.
            return Err(CoreError::Forbidden(
                "This recovery code has already been used.".into(),
            ));
        }
        tx.commit(&[], &[]).await?;
        let tx = self.db.begin_account().await?;
        let left = codes
            .iter()
            .filter(|c| c.burned_at.is_none())
            .count()
            .saturating_sub(1);
        let mails = notice(
            &to,
            "A recovery code was used on your account",
            &format!(
                "A recovery code was used to log in to {}. {left} unused codes remain.",
                user.username
            ),
        );
        let ev = self.user_event(
            "account:recovery_code:used",
            user,
            meta,
            serde_json::json!({"remaining": left}),
        );
        tx.commit(&[ev], &mails).await?;
        Ok(())
    }

    /// Offer a new TOTP seed (160 bits).
    pub fn totp_begin(&self, session: &SessionInfo) -> Result<TotpEnrolment, CoreError> {
        totp_offer(&session.user.username)
    }

    /// New recovery codes for `user_id`, stored hashed in `tx` (replacing any it had); the
    /// codes themselves are returned to be shown once.
    pub(crate) async fn store_new_recovery_codes(
        &self,
        tx: &mut AccountTx,
        user_id: i64,
    ) -> Result<Vec<String>, CoreError> {
        let codes = new_recovery_codes();
        // Inside the enrolment's transaction, so not queued behind logins on the pool (a
        // wait there would hold the transaction open); one Argon2 memory for all the codes.
        let mut memory = crate::passwords::HashMemory::new(self.settings.argon2_memory_kib);
        let hashes = codes
            .iter()
            .map(|c| crate::passwords::hash_secret_in(&self.settings, c, &mut memory))
            .collect::<Result<Vec<_>, _>>()?;
        tx.replace_recovery_codes(user_id, &hashes, self.now())
            .await?;
        Ok(codes)
    }

    /// Store a method added in `tx` and finish the enrolment rules: recovery codes for a first
    /// method, and (first method) a confirmation mail to the primary address. A method added
    /// beside existing ones on an established account starts the recovery hold: adding one's
    /// own factor, then removing the owner's, is a 2FA reset by other means.
    pub(crate) async fn finish_enrolment_pub(
        &self,
        tx: &mut AccountTx,
        user: &User,
        first: bool,
        method: &str,
        meta: &RequestMeta,
    ) -> Result<
        (
            Enrolled,
            Vec<strongroom_store::NewMail>,
            Vec<strongroom_store::NewEvent>,
        ),
        CoreError,
    > {
        let has_codes = self
            .db
            .recovery_codes_of(user.id)
            .await?
            .iter()
            .any(|c| c.burned_at.is_none());
        let mut codes = Vec::new();
        if first || !has_codes {
            codes = self.store_new_recovery_codes(tx, user.id).await?;
        }
        let emails = tx.emails(user.id).await?;
        if first {
            let primary = emails
                .iter()
                .find(|e| e.is_primary)
                .ok_or_else(|| CoreError::Invalid("Add an email address first.".into()))?;
            let link = self
                .issue_mail_token(tx, user.id, Some(primary.id), purpose::CONFIRM_2FA_EMAIL)
                .await?;
            let mail = strongroom_store::NewMail {
                to: primary.address.clone(),
                subject: "Confirm two-factor authentication".into(),
                body: format!(
                    "To finish turning on two-factor authentication ({method}) for the account {}, follow this link (it expires in 1 hour):\n\n{link}\n\nIf you did not start this, change your password.\n\n-- strongroom\n",
                    user.username
                ),
            };
            return Ok((
                Enrolled {
                    recovery_codes: codes,
                    pending_email_confirmation: true,
                },
                vec![mail],
                Vec::new(),
            ));
        }
        let mut mails = notice(
            &notice_recipients(&emails),
            "A two-factor method was added to your account",
            &format!(
                "A {method} second factor was added to the account {}.",
                user.username
            ),
        );
        let mut events = Vec::new();
        if !self.is_setup(user) {
            let (hold_mails, hold) = self
                .start_hold_logged(tx, user, crate::hold::reason::TWO_FACTOR_CHANGE, &[], meta)
                .await?;
            mails.extend(hold_mails);
            events.push(hold);
        }
        Ok((
            Enrolled {
                recovery_codes: codes,
                pending_email_confirmation: false,
            },
            mails,
            events,
        ))
    }

    /// Confirm a TOTP seed with a current code and add it.
    pub async fn totp_confirm(
        &self,
        session: &SessionInfo,
        secret_base32: &str,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<Enrolled, CoreError> {
        self.require_recent_auth(session)?;
        let user = &session.user;
        let secret = secret_base32.trim().to_ascii_uppercase();
        totp(&secret, &user.username)?;
        // 160 bits or more: 32 base32 characters.
        if secret.trim_end_matches('=').len() < 32 {
            return Err(CoreError::Invalid("Invalid TOTP secret.".into()));
        }
        let hold = self.two_factor_rate_check(user.id, meta).await?;
        let Some(step) = matching_step(&secret, code, self.now_secs()) else {
            self.two_factor_failed(user, "totp", meta).await?;
            return Err(CoreError::Invalid("Invalid authentication code.".into()));
        };
        self.rate_refund(hold).await?;
        let first = !self.has_two_factor(user.id).await?;
        let now = self.now();
        let mut tx = self.db.begin_account().await?;
        // A freeze or deletion since the session was checked refuses the factor here
        // (`crate::credential_gate`).
        self.lock_live_account(&mut tx, user.id).await?;
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        tx.put_totp(user.id, &secret, now, !first, Some(step))
            .await?;
        let (enrolled, mails, mut events) = self
            .finish_enrolment_pub(&mut tx, user, first, "TOTP", meta)
            .await?;
        let ev = self.user_event(
            if first {
                "account:2fa:totp:pending"
            } else {
                "account:2fa:totp:add"
            },
            user,
            meta,
            serde_json::json!({"recovery_codes_generated": !enrolled.recovery_codes.is_empty()}),
        );
        events.insert(0, ev);
        tx.commit(&events, &mails).await?;
        Ok(enrolled)
    }

    /// Follow the link that completes a first 2FA enrolment (also verifies the address).
    pub async fn confirm_2fa_email(
        &self,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<User, CoreError> {
        let (t, user, mut tx) = self
            .consume_mail_token(token, purpose::CONFIRM_2FA_EMAIL)
            .await?;
        let now = self.now();
        let enabled = tx.enable_pending_second_factors(user.id, now).await?;
        if let Some(email_id) = t.email_id {
            tx.verify_email(email_id, now).await?;
        }
        let mut mails = notice(
            &notice_recipients(&tx.emails(user.id).await?),
            "Two-factor authentication is on",
            &format!(
                "Two-factor authentication is now on for the account {}.",
                user.username
            ),
        );
        let mut events = vec![self.user_event(
            "account:2fa:confirmed",
            &user,
            meta,
            serde_json::json!({"methods": enabled}),
        )];
        // The first enrolment (unless the account is still being set up) and any re-enrolment
        // after every factor was removed start the recovery hold.
        if enabled > 0 {
            let before = self
                .db
                .events_of_user(user.id, 1000)
                .await?
                .iter()
                .any(|e| e.action == "account:2fa:confirmed" && e.subject_id == Some(user.id));
            let why = if before {
                Some(crate::hold::reason::TWO_FACTOR_RESET)
            } else if !self.is_setup(&user) {
                Some(crate::hold::reason::TWO_FACTOR_ENROLMENT)
            } else {
                None
            };
            if let Some(why) = why {
                let (hold_mails, hold) = self
                    .start_hold_logged(&mut tx, &user, why, &[], meta)
                    .await?;
                mails.extend(hold_mails);
                events.push(hold);
            }
        }
        tx.commit(&events, &mails).await?;
        Ok(user)
    }

    /// Remove the TOTP seed (refused for the last method while 2FA is required).
    pub async fn totp_remove(
        &self,
        session: &SessionInfo,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.require_recent_auth(session)?;
        let mut tx = self.db.begin_account().await?;
        // The account as it is now, held until the removal commits (`crate::credential_gate`).
        let now_user = self.lock_live_account(&mut tx, session.user.id).await?;
        let user = &now_user;
        let count = tx.count_second_factors(user.id).await?;
        let enabled = self
            .db
            .totp_of(user.id)
            .await?
            .is_some_and(|t| t.enabled_at.is_some());
        if enabled && count <= 1 && self.settings.require_2fa {
            return Err(CoreError::Forbidden(LAST_METHOD.into()));
        }
        if !tx.delete_totp(user.id).await? {
            return Err(CoreError::NotFound("No TOTP application is set up.".into()));
        }
        if enabled && count <= 1 {
            tx.delete_recovery_codes(user.id).await?;
        }
        let mut mails = notice(
            &notice_recipients(&tx.emails(user.id).await?),
            "A two-factor method was removed from your account",
            &format!(
                "The TOTP application was removed from the account {}.",
                user.username
            ),
        );
        let mut events =
            vec![self.user_event("account:2fa:totp:remove", user, meta, serde_json::json!({}))];
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

    /// Replace all recovery codes (needs an enabled second factor); returns the new codes, once.
    pub async fn recovery_codes_regenerate(
        &self,
        session: &SessionInfo,
        meta: &RequestMeta,
    ) -> Result<Vec<String>, CoreError> {
        self.require_recent_auth(session)?;
        let user = &session.user;
        if !self.has_two_factor(user.id).await? {
            return Err(CoreError::Forbidden(
                "Set up a two-factor method first.".into(),
            ));
        }
        let codes = new_recovery_codes();
        let hashes = {
            let (settings, codes) = (std::sync::Arc::clone(&self.settings), codes.to_vec());
            self.hash_pool
                .run(move |mem| {
                    codes
                        .iter()
                        .map(|c| crate::passwords::hash_secret_in(&settings, c, mem))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await??
        };
        let mut tx = self.db.begin_account().await?;
        let now_user = self.lock_live_account(&mut tx, user.id).await?;
        let user = &now_user;
        tx.replace_recovery_codes(user.id, &hashes, self.now())
            .await?;
        let mut mails = notice(
            &notice_recipients(&tx.emails(user.id).await?),
            "New recovery codes were generated",
            &format!(
                "New recovery codes were generated for the account {}; the old ones no longer work.",
                user.username
            ),
        );
        let mut events = vec![self.user_event(
            "account:recovery_codes:generate",
            user,
            meta,
            serde_json::json!({}),
        )];
        // New codes kill the owner's and, with the password, sign in without any other factor:
        // a credential change like a reset (`hold::reason::RECOVERY_CODES`).
        self.credential_hold(
            &mut tx,
            user,
            crate::hold::reason::RECOVERY_CODES,
            meta,
            &mut mails,
            &mut events,
        )
        .await?;
        tx.commit(&events, &mails).await?;
        Ok(codes)
    }
}
