//! Freezing an account, through either of its doors: an administrator (CLI or admin area), or
//! the owner's own "this wasn't me" link in a new-login mail. No member freezes another: a veto
//! only asks the administrators to (`crate::ownership::Veto::AndReport`). One rule for both, in
//! the same transaction as the freeze:
//!
//! - every session ends and every API token is **revoked** (`revoked_at`, one `token:revoke`
//!   event each): an unfreeze revives none of them, so a token an attacker minted stays dead;
//! - every unused mail link that could hand the account back dies (password reset, address
//!   verification, 2FA confirmation) and so do "this wasn't me" links; veto links stay (they
//!   belong to changes asked by others and only keep things as they were);
//! - login tickets and WebAuthn ceremonies in flight are dropped, factors still waiting for
//!   their confirmation mail are removed;
//! - invitations the account sent are voided and held role changes it asked for cancelled;
//!   invitation links to register that it made (as an administrator) are revoked for good;
//! - the incident window (see [`crate::incident`]) is recorded, for the unfreeze and for every
//!   later undo.

use strongroom_store::model::{IncidentKind, User};
use strongroom_store::{AccountTx, NewEvent, NewMail};

use crate::accounts::purpose;
use crate::admin::{require_reason, user_subject};
use crate::mail::{notice, notice_recipients};
use crate::{Actor, CoreError, RequestMeta, Services};

/// The mail links a freeze kills: those that could hand the account back, and the "this wasn't
/// me" links (the account is frozen already; after an unfreeze they would only freeze it again).
pub const LINKS_A_FREEZE_KILLS: &[&str] = &[
    purpose::RESET_PASSWORD,
    purpose::VERIFY_EMAIL,
    purpose::CONFIRM_2FA_EMAIL,
    purpose::FREEZE_ACCOUNT,
];

/// Which door froze the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeVia {
    /// An administrator (CLI or admin area): `admin:user:freeze`.
    Admin,
    /// The owner's "this wasn't me" link: `account:freeze` with `via: mail`.
    Mail,
}

impl FreezeVia {
    fn action(self) -> &'static str {
        match self {
            FreezeVia::Admin => "admin:user:freeze",
            FreezeVia::Mail => "account:freeze",
        }
    }

    fn code(self) -> &'static str {
        match self {
            FreezeVia::Admin => "admin",
            FreezeVia::Mail => "mail",
        }
    }
}

/// What a freeze queued for its commit.
pub(crate) struct Frozen {
    pub events: Vec<NewEvent>,
    pub mails: Vec<NewMail>,
}

impl Services {
    /// Inside `tx`: freeze `user` for good (see the module docs). `details` are merged into the
    /// freeze event; `body` is the notice mailed to the account's addresses.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn freeze_in(
        &self,
        tx: &mut AccountTx,
        actor: &Actor,
        user: &User,
        via: FreezeVia,
        reason: &str,
        details: serde_json::Value,
        body: &str,
        meta: &RequestMeta,
    ) -> Result<Frozen, CoreError> {
        let now = self.now();
        let current = tx
            .user(user.id)
            .await?
            .ok_or_else(|| CoreError::NotFound("No such user.".into()))?;
        let effects = tx
            .freeze_account(
                user.id,
                reason,
                Some(&actor.name),
                LINKS_A_FREEZE_KILLS,
                now,
            )
            .await?;
        let (voided, cancelled) = self
            .end_what_it_started(
                tx,
                user,
                &format!("{} sent it, then was frozen", user.username),
                &format!("freeze:{}", user.username),
                meta,
            )
            .await?;
        let invites_revoked = self
            .revoke_invites_made_by(
                tx,
                actor,
                user,
                &format!("{} made it, then was frozen", user.username),
                meta,
            )
            .await?;
        // The window is recorded once per freeze: a second door on a frozen account adds no
        // new one (the first freeze's time stays the account's `frozen_at`).
        let end = current.frozen_at.unwrap_or(now);
        let window = self.incident_window(&current, end).await?;
        if tx
            .open_incident(user.id, IncidentKind::Freeze)
            .await?
            .is_none()
        {
            tx.record_incident(
                user.id,
                IncidentKind::Freeze,
                window.start,
                window.end,
                now,
                &actor.name,
            )
            .await?;
        }
        let mut main = serde_json::json!({
            "via": via.code(),
            "reason": reason,
            "sessions_ended": effects.sessions_ended,
            "tokens_revoked": effects.tokens_revoked.len(),
            "links_killed": effects.links_killed,
            "pending_factors_removed": effects.pending_factors_removed,
            "invitations_voided": voided,
            "changes_cancelled": cancelled,
            "registration_invites_revoked": invites_revoked.len(),
        });
        for (k, v) in window
            .details()
            .as_object()
            .into_iter()
            .flatten()
            .chain(details.as_object().into_iter().flatten())
        {
            main[k] = v.clone();
        }
        let mut events = vec![self.event(actor, via.action(), user_subject(user), meta, main)];
        for (id, name) in &effects.tokens_revoked {
            events.push(self.event(
                actor,
                "token:revoke",
                user_subject(user),
                meta,
                serde_json::json!({"token_id": id, "name": name, "reason": "account frozen"}),
            ));
        }
        events.extend(invites_revoked);
        let mails = notice(
            &notice_recipients(&tx.emails(user.id).await?),
            "Your account has been frozen",
            body,
        );
        Ok(Frozen { events, mails })
    }

    /// An administrator freezes an account (CLI `admin freeze`, or the admin area).
    pub async fn admin_freeze_user(
        &self,
        actor: &Actor,
        username: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<User, CoreError> {
        let reason = require_reason(reason)?;
        let user = self.user_named(username).await?;
        if user.frozen_at.is_some() {
            return Err(CoreError::Conflict(format!(
                "{} is already frozen.",
                user.username
            )));
        }
        if user.deleted_at.is_some() {
            return Err(CoreError::Conflict(format!(
                "{} is deleted: it has no sessions or tokens left to end.",
                user.username
            )));
        }
        let mut tx = self.db.begin_account().await?;
        let body = format!(
            "The index administrators froze the account {}: every session was ended and every API token revoked for good. Logins are refused until it is unfrozen; after that, the account signs in only after a password reset through an address it had before the incident. Contact the index administrators.",
            user.username
        );
        let frozen = self
            .freeze_in(
                &mut tx,
                actor,
                &user,
                FreezeVia::Admin,
                reason,
                serde_json::json!({}),
                &body,
                meta,
            )
            .await?;
        tx.commit(&frozen.events, &frozen.mails).await?;
        Ok(user)
    }

    /// "This wasn't me": the link in a new-login mail freezes the account (see the module docs).
    pub async fn freeze_from_mail(
        &self,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<User, CoreError> {
        let (_t, user, mut tx) = self
            .consume_mail_token(token, purpose::FREEZE_ACCOUNT)
            .await?;
        let body = format!(
            "You reported a login you did not recognise, so the account {} is frozen: every session was ended and every API token revoked for good. Contact the index administrators to recover it.",
            user.username
        );
        let frozen = self
            .freeze_in(
                &mut tx,
                &Actor::user(&user),
                &user,
                FreezeVia::Mail,
                "owner reported an unrecognised login",
                serde_json::json!({}),
                &body,
                meta,
            )
            .await?;
        tx.commit(&frozen.events, &frozen.mails).await?;
        Ok(user)
    }
}
