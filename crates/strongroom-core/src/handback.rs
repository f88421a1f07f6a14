//! Handing an account back after an incident (an unfreeze, a `restore-user`) without handing it
//! to whoever held it during the incident: the attacker may know the password and may have
//! added addresses and factors.
//!
//! - The password stays disabled until it is reset, and no sign-in works before that (not even
//!   a passkey): [`reset_required`].
//! - The reset link goes only to the account's **anchor** ([`anchor`]): its oldest verified
//!   address that receives mail, which must predate the incident window. The undo is refused,
//!   and the account stays as it was, when there is none, or when a verified address was
//!   removed after the anchor was added (the attacker may have removed the owner's address and
//!   let one of theirs age past the lookback). An administrator who has confirmed the owner
//!   out of band may name the address to hand back to (`--trust-address`), which is logged;
//!   the reset then goes there alone.
//! - Every other address, and every factor and recovery code set added after the anchor (after
//!   nothing, when an administrator vouched), is left **suspect**, however long before the
//!   window: no mail goes to a suspect address and a suspect factor signs nobody in,
//!   until the owner keeps or drops each on the review page after signing in
//!   ([`crate::review`]). A suspect primary address gives way to a trusted one.
//! - Devices first seen inside the window are forgotten (a login from them mails the owner).

use strongroom_store::model::{Email, IncidentKind, SuspectItem, SuspectKind, User};
use strongroom_store::{AccountTx, NewMail};

use crate::accounts::purpose;
use crate::admin::{require_reason, user_subject};
use crate::clock::iso8601_seconds;
use crate::freeze::LINKS_A_FREEZE_KILLS;
use crate::incident::IncidentWindow;
use crate::mail::notice;
use crate::{Actor, CoreError, RequestMeta, Services};

/// Why a password is disabled (`users.password_disabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordDisabled {
    /// Found in a breach: the owner resets it; a passkey still signs in.
    Compromised,
    /// The account was restored after a deletion.
    Restored,
    /// An administrator reset the account's second factors.
    TwoFactorReset,
    /// The account was unfrozen after an incident.
    Unfrozen,
}

impl PasswordDisabled {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordDisabled::Compromised => "compromised",
            PasswordDisabled::Restored => "restored",
            PasswordDisabled::TwoFactorReset => "two-factor reset",
            PasswordDisabled::Unfrozen => "unfrozen",
        }
    }

    /// The reason a stored value names (an unknown one is treated as an incident's: the safe
    /// side).
    pub fn parse(s: &str) -> PasswordDisabled {
        match s {
            "compromised" => PasswordDisabled::Compromised,
            "restored" => PasswordDisabled::Restored,
            "two-factor reset" => PasswordDisabled::TwoFactorReset,
            _ => PasswordDisabled::Unfrozen,
        }
    }
}

/// Whether the account may sign in only after a password reset, by any method: its password
/// was disabled by an incident's undo (not merely found in a breach).
pub fn reset_required(user: &User) -> bool {
    user.password_disabled
        .as_deref()
        .is_some_and(|r| PasswordDisabled::parse(r) != PasswordDisabled::Compromised)
}

/// What handing an account back did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedBack {
    pub username: String,
    pub window: IncidentWindow,
    /// The addresses the reset link went to.
    pub reset_sent_to: Vec<String>,
    /// What waits for the owner's decision.
    pub suspect: Vec<SuspectItem>,
    /// The account's anchor the reset went to (None: an administrator named the address).
    pub anchor: Option<String>,
    /// The primary address, when a suspect one gave way.
    pub primary_moved_to: Option<String>,
    /// API tokens still live that were made since the window's start, revoked: (id, name).
    /// The freeze or deletion revoked every token; one made while it was being decided is
    /// caught here (see [`crate::credential_gate`]).
    pub tokens_revoked: Vec<(i64, String)>,
    /// Held changes targeting the account that waited out the freeze, each with a new pending
    /// period and a new veto link mailed to the reset's address.
    pub changes_postponed: Vec<PostponedChange>,
}

/// A held change a hand-back gave a new pending period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostponedChange {
    pub change_id: i64,
    pub project_id: i64,
    pub project: String,
    /// The new effective time.
    pub effective_at: i64,
}

/// Inside `tx`: when `suspect` (just flagged) holds the primary address, the first of
/// `trusted` becomes the primary instead (mail about the account, and a first 2FA enrolment's
/// confirmation, go to the primary). Returns the new primary, if it moved.
pub(crate) async fn move_suspect_primary(
    tx: &mut AccountTx,
    user_id: i64,
    emails: &[Email],
    suspect: &[SuspectItem],
    trusted: &[&Email],
) -> Result<Option<String>, CoreError> {
    let Some(p) = emails.iter().find(|e| e.is_primary) else {
        return Ok(None);
    };
    let flagged = suspect
        .iter()
        .any(|s| s.kind == SuspectKind::Address && s.id == p.id);
    match trusted.first() {
        Some(first) if flagged && !trusted.iter().any(|t| t.id == p.id) => {
            tx.set_primary_email(user_id, first.id).await?;
            Ok(Some(first.address.clone()))
        }
        _ => Ok(None),
    }
}

/// The account's **anchor**: its oldest verified address that receives mail (not left suspect
/// by an earlier incident, not unverified by a domain check). A hand-back's reset goes to it
/// alone: an address the attacker added and let age past the incident lookback is younger than
/// the anchor, so it is suspect like every factor and recovery code set added after the anchor.
pub(crate) fn anchor(emails: &[Email]) -> Option<&Email> {
    emails
        .iter()
        .filter(|e| e.verified_recipient())
        .min_by_key(|e| (e.verified_at, e.id))
}

impl Services {
    /// The verified addresses the account removed at or after `since` (from the event log:
    /// `account:email:remove`; one logged before removals said whether the address was verified
    /// counts as verified). An attacker may have removed the owner's address after adding one
    /// of their own, which would then be the anchor.
    pub(crate) async fn verified_addresses_removed_since(
        &self,
        user_id: i64,
        since: i64,
    ) -> Result<Vec<String>, CoreError> {
        let events = self
            .db
            .account_events_between(user_id, &["account:email:remove"], since, i64::MAX)
            .await?;
        Ok(events
            .iter()
            .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.details).ok())
            .filter(|d| d.get("verified").and_then(serde_json::Value::as_bool) != Some(false))
            .map(|d| {
                d.get("email")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("?")
                    .to_owned()
            })
            .collect())
    }

    /// Inside `tx`: the part every hand-back shares (see the module docs). `since` is where
    /// suspicion starts (the window's start); `trust` an address an administrator vouched for;
    /// `intro` opens the mail ("The index administrators unfroze the account x").
    pub(crate) async fn hand_back_in(
        &self,
        tx: &mut AccountTx,
        user: &User,
        window: IncidentWindow,
        since: i64,
        trust: Option<&str>,
        intro: &str,
    ) -> Result<(HandedBack, Vec<NewMail>), CoreError> {
        let now = self.now();
        let emails = tx.emails(user.id).await?;
        let vouched = match trust.map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(
                emails
                    .iter()
                    // Verified (a domain check clears that); a suspect one may be vouched for:
                    // the administrator confirmed the owner controls it.
                    .find(|e| e.address.eq_ignore_ascii_case(t) && e.verified_at.is_some())
                    .ok_or_else(|| {
                        CoreError::Invalid(format!(
                            "{t} is not a verified address of {}.",
                            user.username
                        ))
                    })?,
            ),
        };
        // The reset goes to one address only: the one an administrator vouched for, else the
        // account's anchor (see [`anchor`]). Suspicion starts where trust does: everything
        // added after it waits for the owner's decision.
        let (to, suspect_since): (Vec<&Email>, i64) = match vouched {
            Some(v) => (vec![v], i64::MIN),
            None => match anchor(&emails).filter(|a| a.trusted_before(since)) {
                Some(a) => (vec![a], a.verified_at.unwrap_or(i64::MIN)),
                None => (Vec::new(), since),
            },
        };
        if vouched.is_none()
            && let Some(a) = to.first()
        {
            let removed = self
                .verified_addresses_removed_since(user.id, a.verified_at.unwrap_or(i64::MIN))
                .await?;
            if !removed.is_empty() {
                return Err(CoreError::Conflict(format!(
                    "{} had verified email addresses removed after its oldest remaining one, {}, was added ({}): whoever held the account may have removed the owner's address and kept one of theirs. Nothing was changed. Confirm the owner's identity out of band, then name the address they control with --trust-address.",
                    user.username,
                    a.address,
                    removed.join(", ")
                )));
            }
        }
        if to.is_empty() {
            let others = emails
                .iter()
                .map(|e| e.address.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(CoreError::Conflict(format!(
                "{} has no email address verified before its incident window ({}): the password reset could only go to an address whoever held the account may have added ({}). Nothing was changed. Confirm the owner's identity out of band, then name the address they control with --trust-address.",
                user.username,
                window.describe(),
                if others.is_empty() {
                    "none left"
                } else {
                    &others
                }
            )));
        }
        let reset_sent_to: Vec<String> = to.iter().map(|e| e.address.clone()).collect();
        let suspect = tx
            .flag_suspect(user.id, suspect_since, now, to.first().map(|e| e.id))
            .await?;
        let primary_moved_to = move_suspect_primary(tx, user.id, &emails, &suspect, &to).await?;
        tx.invalidate_email_tokens(user.id, LINKS_A_FREEZE_KILLS, now)
            .await?;
        tx.end_sessions(user.id, None, now).await?;
        // A backstop: nothing made since the window opened comes back live, even a token that
        // raced the freeze or the deletion.
        let tokens_revoked = tx.revoke_tokens_since(user.id, since, now).await?;
        tx.forget_logins_since(user.id, since).await?;
        let (changes_postponed, veto_mails) =
            self.postpone_held_changes(tx, user, &reset_sent_to).await?;
        let link = self
            .issue_mail_token(tx, user.id, None, purpose::RESET_PASSWORD)
            .await?;
        let listed = if suspect.is_empty() {
            String::new()
        } else {
            format!(
                "\n\nThese were added to the account between {} and {} UTC, when someone else may have held it. Until you keep them on the page you are shown after signing in, they do not work (no mail goes to such an address, and such a factor does not sign in):\n\n{}",
                iso8601_seconds(window.start),
                iso8601_seconds(window.end),
                suspect
                    .iter()
                    .map(|s| format!("  - {}: {}", s.kind.as_str(), s.label))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        };
        let mut mails = notice(
            &reset_sent_to,
            "Set a new password to get your account back",
            &format!(
                "{intro}. Your old password no longer works, and every session and API token of the account was ended for good (make new tokens after you sign in). Set a new password here (the link expires in 1 hour; \"Forgot password\" on the login page sends a new one to this address):\n\n{link}{listed}"
            ),
        );
        mails.extend(veto_mails);
        Ok((
            HandedBack {
                username: user.username.clone(),
                window,
                anchor: reset_sent_to.first().filter(|_| vouched.is_none()).cloned(),
                reset_sent_to,
                suspect,
                primary_moved_to,
                tokens_revoked,
                changes_postponed,
            },
            mails,
        ))
    }

    /// A hand-back refused (no anchor, or a verified address removed after it): logged as
    /// `action` with the reason, then returned. The caller's transaction is gone already.
    pub(crate) async fn handback_refused(
        &self,
        actor: &Actor,
        user: &User,
        action: &str,
        e: CoreError,
        meta: &RequestMeta,
    ) -> CoreError {
        if let CoreError::Conflict(why) = &e {
            let ev = self.event(
                actor,
                action,
                user_subject(user),
                meta,
                serde_json::json!({"why": why}),
            );
            if let Err(log) = self.db.append_event(&ev).await {
                return log.into();
            }
        }
        e
    }

    /// One `token:revoke` event per token a hand-back revoked, and one `role:change:postpone`
    /// per held change it gave a new pending period.
    pub(crate) fn handback_token_events(
        &self,
        actor: &Actor,
        user: &User,
        back: &HandedBack,
        meta: &RequestMeta,
    ) -> Vec<strongroom_store::NewEvent> {
        back.tokens_revoked
            .iter()
            .map(|(id, name)| {
                self.event(
                    actor,
                    "token:revoke",
                    user_subject(user),
                    meta,
                    serde_json::json!({"token_id": id, "name": name,
                        "reason": "created inside the incident window of an account handed back"}),
                )
            })
            .chain(back.changes_postponed.iter().map(|c| {
                self.event(
                    actor,
                    "role:change:postpone",
                    crate::Subject {
                        kind: "project",
                        id: Some(c.project_id),
                        name: Some(&c.project),
                    },
                    meta,
                    serde_json::json!({"change_id": c.change_id, "user_id": user.id, "user": user.username,
                        "effective_at": c.effective_at, "reason": "its target was frozen; the veto link was mailed again"}),
                )
            }))
            .collect()
    }

    /// Lift a freeze without handing the account to whoever knows its password (see the
    /// module docs): its password stays disabled and the reset link goes only to addresses
    /// verified before the incident window; refused, and the account stays frozen, when none
    /// is left. Tokens and sessions ended by the freeze stay ended.
    pub async fn admin_unfreeze_user(
        &self,
        actor: &Actor,
        username: &str,
        trust: Option<&str>,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<HandedBack, CoreError> {
        let reason = require_reason(reason)?;
        let user = self.user_named(username).await?;
        if user.deleted_at.is_some() {
            return Err(CoreError::Conflict(format!(
                "{} is deleted: restore it instead (strongroom admin restore-user).",
                user.username
            )));
        }
        let Some(frozen_at) = user.frozen_at else {
            return Err(CoreError::Conflict(format!(
                "{} is not frozen.",
                user.username
            )));
        };
        let now = self.now();
        let mut tx = self.db.begin_account().await?;
        let (incident, window) = match tx.open_incident(user.id, IncidentKind::Freeze).await? {
            Some(i) => {
                let w = self.incident_window(&user, i.window_end).await?;
                let w = crate::incident::IncidentWindow {
                    start: i.window_start,
                    end: i.window_end,
                    opened_by_change: w.opened_by_change.filter(|_| w.start == i.window_start),
                };
                (i.id, w)
            }
            // Frozen before windows were recorded: the window ends at the freeze.
            None => {
                let w = self.incident_window(&user, frozen_at).await?;
                let id = tx
                    .record_incident(
                        user.id,
                        IncidentKind::Freeze,
                        w.start,
                        w.end,
                        now,
                        &actor.name,
                    )
                    .await?;
                (id, w)
            }
        };
        let handed = self
            .hand_back_in(
                &mut tx,
                &user,
                window,
                window.start,
                trust,
                &format!(
                    "The index administrators unfroze the account {}",
                    user.username
                ),
            )
            .await;
        let (back, mails) = match handed {
            Ok(b) => b,
            Err(e) => {
                drop(tx);
                return Err(self
                    .handback_refused(actor, &user, "admin:user:unfreeze:refused", e, meta)
                    .await);
            }
        };
        if !tx
            .unfreeze_account(user.id, PasswordDisabled::Unfrozen.as_str())
            .await?
        {
            return Err(CoreError::Conflict(format!(
                "{} is not frozen.",
                user.username
            )));
        }
        tx.mark_incident_returned(incident, now, &actor.name)
            .await?;
        let mut details = serde_json::json!({
            "reason": reason,
            "password_disabled": PasswordDisabled::Unfrozen.as_str(),
            "reset_sent_to": back.reset_sent_to,
            "suspect": suspect_details(&back.suspect),
            "primary_moved_to": back.primary_moved_to,
            "address_trusted_by_admin": trust.map(str::trim).filter(|t| !t.is_empty()),
            "anchor": back.anchor,
            "tokens_revoked": back.tokens_revoked.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            "changes_postponed": back.changes_postponed.iter().map(|c| c.change_id).collect::<Vec<_>>(),
        });
        merge(&mut details, window.details());
        let mut events = vec![self.event(
            actor,
            "admin:user:unfreeze",
            user_subject(&user),
            meta,
            details,
        )];
        events.extend(self.handback_token_events(actor, &user, &back, meta));
        tx.commit(&events, &mails).await?;
        Ok(back)
    }
}

/// The suspect items as an event lists them.
pub(crate) fn suspect_details(items: &[SuspectItem]) -> serde_json::Value {
    serde_json::Value::Array(
        items
            .iter()
            .map(|s| serde_json::json!({"kind": s.kind.as_str(), "id": s.id, "label": s.label}))
            .collect(),
    )
}

/// Copy `extra`'s fields into `into` (both objects).
pub(crate) fn merge(into: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(a), serde_json::Value::Object(b)) = (into.as_object_mut(), extra) {
        a.extend(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(id: i64, verified: Option<i64>, domain_bad: bool, suspect: bool) -> Email {
        Email {
            id,
            user_id: 1,
            address: format!("a{id}@x.test"),
            is_primary: id == 1,
            verified_at: verified,
            unverified_at: domain_bad.then_some(1),
            suspect_at: suspect.then_some(1),
        }
    }

    #[test]
    fn the_anchor_is_the_oldest_verified_address_that_receives_mail() {
        let emails = [
            email(1, Some(10), false, false),  // verified second
            email(2, Some(100), false, false), // verified later still
            email(3, None, false, false),      // never verified
            email(4, None, true, false),       // a domain check took it away
            email(5, Some(5), false, true),    // left suspect by an earlier incident
            email(6, Some(7), false, false),   // the oldest that counts
        ];
        let a = anchor(&emails).expect("anchor");
        assert_eq!(a.id, 6);
        // It must also predate the window to be handed the account.
        assert!(a.trusted_before(100) && !a.trusted_before(7));
        assert!(anchor(&emails[1..5]).is_some_and(|a| a.id == 2));
        assert!(anchor(&emails[2..5]).is_none());
    }

    #[test]
    fn every_incident_reason_but_a_breach_blocks_every_sign_in() {
        let mut u = User {
            id: 1,
            username: "a".into(),
            password_hash: None,
            is_admin: false,
            created_at: 0,
            frozen_at: None,
            deleted_at: None,
            password_changed_at: None,
            last_login_at: None,
            password_disabled: None,
            frozen_reason: None,
            hold_until: None,
            hold_reason: None,
            recovered_at: None,
            purge_after: None,
        };
        assert!(!reset_required(&u));
        for (r, blocks) in [
            (PasswordDisabled::Compromised, false),
            (PasswordDisabled::Restored, true),
            (PasswordDisabled::TwoFactorReset, true),
            (PasswordDisabled::Unfrozen, true),
        ] {
            u.password_disabled = Some(r.as_str().into());
            assert_eq!(reset_required(&u), blocks, "{r:?}");
            assert_eq!(PasswordDisabled::parse(r.as_str()), r);
        }
        u.password_disabled = Some("something new".into());
        assert!(reset_required(&u), "an unknown reason is the safe side");
    }
}
