//! An account made by the operator with its first second factor already on
//! (`strongroom user create --totp`): the seed is shown at the server's terminal, confirmed with
//! a code from the authenticator, and stored sealed with recovery codes, as the web enrolment
//! stores it, in one step with the account.
//!
//! The web's first enrolment waits for a mailed link because a web session proves only a
//! password: the link shows that the address's owner is the one adding the factor. Here the
//! operator who runs the command on the server types the address and vouches for it (accounts
//! made by the CLI have a verified address, as before), so the link would prove nothing the
//! operator has not already asserted; the account is new, so no factor of anyone else's is
//! replaced. Only a new account can be enrolled this way: an existing account adds factors on
//! the web, with the mailed confirmation.

use strongroom_store::model::User;

use crate::mail::{notice, notice_recipients};
use crate::second_factor::{Enrolled, matching_step};
use crate::{Actor, CoreError, RequestMeta, Services};

/// The refusal of a code that does not match the seed shown (the account is not made).
pub const CODE_MISMATCH: &str = "The code does not match the secret shown: check the authenticator's clock and that it holds this secret, and type its current code.";

impl Services {
    /// Make the account (as [`Services::create_user`]: address verified) and enable `secret`
    /// as its TOTP factor, confirmed by `code`, with eight new recovery codes (returned once).
    /// Nothing is made when the code does not match. Events `account:create`, then
    /// `account:2fa:totp:add` and `account:2fa:confirmed` (both `via: cli`, naming `actor`); the
    /// account's address is told that two-factor authentication is on.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_user_with_totp(
        &self,
        username: &str,
        email: &str,
        password: &str,
        is_admin: bool,
        secret_base32: &str,
        code: &str,
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<(User, Enrolled), CoreError> {
        let secret = secret_base32.trim().to_ascii_uppercase();
        // 160 bits or more: 32 base32 characters (as the web enrolment asks).
        if secret.trim_end_matches('=').len() < 32 {
            return Err(CoreError::Invalid("Invalid TOTP secret.".into()));
        }
        let now_secs = u64::try_from(self.now() / 1_000_000).unwrap_or(0);
        let step = matching_step(&secret, code, now_secs)
            .ok_or_else(|| CoreError::Invalid(CODE_MISMATCH.into()))?;
        let user = self
            .create_user(username, email, password, is_admin, meta)
            .await?;
        let mut tx = self.db.begin_account().await?;
        self.lock_live_account(&mut tx, user.id).await?;
        let now = self.now();
        // Enabled at once and the step used, so the confirming code cannot log in again.
        tx.put_totp(
            user.id,
            &secret,
            now,
            true,
            Some(i64::try_from(step).unwrap_or(i64::MAX)),
        )
        .await?;
        let codes = self.store_new_recovery_codes(&mut tx, user.id).await?;
        let by_operator = |action: &str, details: serde_json::Value| {
            let mut ev = self.user_event(action, &user, meta, details);
            ev.actor_id = actor.id;
            ev.actor_name = Some(actor.name.clone());
            ev
        };
        let events = [
            by_operator(
                "account:2fa:totp:add",
                serde_json::json!({"via": "cli", "recovery_codes_generated": true}),
            ),
            by_operator(
                "account:2fa:confirmed",
                serde_json::json!({"via": "cli", "methods": 1}),
            ),
        ];
        let mails = notice(
            &notice_recipients(&tx.emails(user.id).await?),
            "Two-factor authentication is on",
            &format!(
                "The account {} was made for you by the operator of this index, with two-factor authentication (an authenticator app) already on.",
                user.username
            ),
        );
        tx.commit(&events, &mails).await?;
        Ok((
            user,
            Enrolled {
                recovery_codes: codes,
                pending_email_confirmation: false,
            },
        ))
    }
}
