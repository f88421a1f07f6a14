//! Invitation links to register, made by administrators (`strongroom admin invite-user` or the
//! admin area) for one address. The link is mailed to that address and shown once to its maker;
//! only the SHA-256 of its secret is stored. It registers that address only, once, until it
//! expires or is revoked, in every registration mode but `closed` (in `domains` it admits an
//! address outside the list). Creation, use and revocation are events.

use strongroom_store::model::User;
use strongroom_store::{NewEvent, NewMail, NewRegistrationInvite, RegistrationInvite};

use crate::admin::require_reason;
use crate::registration::Registration;
use crate::secrets::hash_token;
use crate::secrets::random_secret;
use crate::settings::hours;
use crate::{Actor, CoreError, RequestMeta, Services, Subject};

/// How long a link works unless its maker says otherwise.
pub const DEFAULT_HOURS: u64 = 72;
/// The longest a link may work.
pub const MAX_HOURS: u64 = 24 * 30;

/// A link that names no invitation.
pub const INVALID: &str = "This invitation link is not valid. Ask an administrator for a new one.";
/// A link already used to register.
pub const USED: &str =
    "This invitation link was already used. Log in, or ask an administrator for a new one.";
/// A link past its expiry.
pub const EXPIRED: &str = "This invitation link has expired. Ask an administrator for a new one.";
/// A link an administrator revoked.
pub const REVOKED: &str =
    "This invitation was withdrawn by an administrator. Ask an administrator for a new one.";
/// A link used with another address than the one it was made for.
pub const OTHER_ADDRESS: &str =
    "This invitation was made for another email address: register with the address it was sent to.";

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InviteState {
    /// Usable.
    Pending,
    /// An account was registered with it (or its address turned out to be taken).
    Used,
    /// Past its expiry, unused.
    Expired,
    /// Withdrawn by an administrator.
    Revoked,
}

impl InviteState {
    /// As listed (`pending`, `used`, `expired`, `revoked`).
    pub fn name(self) -> &'static str {
        match self {
            InviteState::Pending => "pending",
            InviteState::Used => "used",
            InviteState::Expired => "expired",
            InviteState::Revoked => "revoked",
        }
    }
}

/// Where `invite` stands at `now`.
pub fn invite_state(invite: &RegistrationInvite, now: i64) -> InviteState {
    if invite.used_at.is_some() {
        InviteState::Used
    } else if invite.revoked_at.is_some() {
        InviteState::Revoked
    } else if invite.expires_at <= now {
        InviteState::Expired
    } else {
        InviteState::Pending
    }
}

/// An invitation as administrators list it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InviteView {
    #[serde(flatten)]
    pub invite: RegistrationInvite,
    pub state: InviteState,
}

/// A new invitation: its link is shown once to its maker (and mailed to its address).
#[derive(Debug, Clone)]
pub struct CreatedInvite {
    pub id: i64,
    pub email: String,
    pub link: String,
    pub expires_at: i64,
}

impl Services {
    /// Invite `email` to register: an expiring, single-use link bound to that address, mailed
    /// to it. Refused while registration is `closed` (the link could not be used) and for an
    /// address that already has an account or a pending invitation.
    pub async fn invite_user(
        &self,
        actor: &Actor,
        email: &str,
        valid_hours: Option<u64>,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<CreatedInvite, CoreError> {
        let reason = require_reason(reason)?;
        let email = &crate::email_address::canonical_address(email)?;
        if self.settings.registration == Registration::Closed {
            return Err(CoreError::Invalid(
                "Registration is closed (accounts.registration = closed): an invitation link could not be used. Set accounts.registration to invite first.".into(),
            ));
        }
        let valid_hours = valid_hours.unwrap_or(DEFAULT_HOURS);
        if valid_hours == 0 || valid_hours > MAX_HOURS {
            return Err(CoreError::Invalid(format!(
                "An invitation works for 1 to {MAX_HOURS} hours."
            )));
        }
        // An address added to an account but never verified is a claim, not a proof: it does
        // not block the invitation (the invited person's followed link overrides it).
        if let Some(e) = self.db.email_by_address(email).await?
            && !(e.verified_at.is_none() && e.unverified_at.is_none() && !e.is_primary)
        {
            let who = self
                .db
                .user_by_id(e.user_id)
                .await?
                .map_or_else(|| format!("#{}", e.user_id), |u| u.username);
            return Err(CoreError::Conflict(format!(
                "The address {email} already belongs to the account {who}."
            )));
        }
        let now = self.now();
        if let Some(live) = self
            .db
            .live_registration_invites_for(email, now)
            .await?
            .first()
        {
            return Err(CoreError::Conflict(format!(
                "Invitation #{} for {email} is still pending: revoke it first to make a new one.",
                live.id
            )));
        }
        let secret = random_secret(32);
        let expires_at = now.saturating_add(hours(valid_hours));
        let mut tx = self.db.begin_account().await?;
        if let Some(maker) = actor.id {
            // Decided on the maker's row held by this transaction (`crate::credential_gate`):
            // a link made while the maker's freeze commits would escape the freeze's revocation.
            self.lock_live_account(&mut tx, maker).await?;
        }
        let id = tx
            .insert_registration_invite(&NewRegistrationInvite {
                token_hash: hash_token(&secret),
                email: email.to_owned(),
                created_by: actor.name.clone(),
                created_by_id: actor.id,
                reason: reason.to_owned(),
                at: now,
                expires_at,
            })
            .await?;
        let base = self.settings.link_base();
        let link = format!("{base}/account/register/?invite={secret}");
        let ev = self.event(
            actor,
            "admin:invite:create",
            Subject {
                kind: "invite",
                id: Some(id),
                name: Some(email),
            },
            meta,
            serde_json::json!({"email": email, "expires_at": expires_at, "reason": reason}),
        );
        let mail = NewMail {
            to: email.to_owned(),
            subject: "You are invited to create an account".into(),
            body: format!(
                "An administrator of {base} invited {email} to create an account there. Follow this link to choose a username and a password (it works once, for this address only, and expires in {valid_hours} hours):\n\n{link}\n\nIf you did not expect this invitation, ignore this mail.\n\n-- strongroom\n"
            ),
        };
        tx.commit(&[ev], &[mail]).await?;
        Ok(CreatedInvite {
            id,
            email: email.to_owned(),
            link,
            expires_at,
        })
    }

    /// Inside `tx`: revoke, for good, every invitation to register that `user` made and that
    /// could still be used (a freeze or a deletion of its maker: an attacker holding an admin
    /// account could otherwise leave links behind that register accounts of their own after
    /// the owner has it back). One `admin:invite:revoke` event each, by `actor`, with `why`.
    pub(crate) async fn revoke_invites_made_by(
        &self,
        tx: &mut strongroom_store::AccountTx,
        actor: &Actor,
        user: &User,
        why: &str,
        meta: &RequestMeta,
    ) -> Result<Vec<NewEvent>, CoreError> {
        let revoked = tx
            .revoke_registration_invites_by(user.id, &actor.name, self.now())
            .await?;
        Ok(revoked
            .iter()
            .map(|(id, email)| {
                self.event(
                    actor,
                    "admin:invite:revoke",
                    Subject {
                        kind: "invite",
                        id: Some(*id),
                        name: Some(email),
                    },
                    meta,
                    serde_json::json!({"email": email, "reason": why, "made_by": user.username}),
                )
            })
            .collect())
    }

    /// The newest invitations first, with their state.
    pub async fn registration_invites(&self, limit: i64) -> Result<Vec<InviteView>, CoreError> {
        let now = self.now();
        Ok(self
            .db
            .registration_invites(limit.clamp(1, 1000))
            .await?
            .into_iter()
            .map(|invite| InviteView {
                state: invite_state(&invite, now),
                invite,
            })
            .collect())
    }

    /// Withdraw an unused invitation: its link stops working at once.
    pub async fn revoke_invite(
        &self,
        actor: &Actor,
        id: i64,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<RegistrationInvite, CoreError> {
        let reason = require_reason(reason)?;
        let Some(invite) = self.db.registration_invite(id).await? else {
            return Err(CoreError::NotFound(format!("No invitation #{id}.")));
        };
        let mut tx = self.db.begin_account().await?;
        if !tx
            .revoke_registration_invite(id, &actor.name, self.now())
            .await?
        {
            return Err(CoreError::Invalid(format!(
                "Invitation #{id} was already {}.",
                if invite.used_at.is_some() {
                    "used"
                } else {
                    "revoked"
                }
            )));
        }
        let ev = self.event(
            actor,
            "admin:invite:revoke",
            Subject {
                kind: "invite",
                id: Some(id),
                name: Some(&invite.email),
            },
            meta,
            serde_json::json!({"email": invite.email, "reason": reason}),
        );
        tx.commit(&[ev], &[]).await?;
        Ok(self.db.registration_invite(id).await?.unwrap_or(invite))
    }

    /// The usable invitation behind a link's secret (and, given an address, made for it);
    /// every refusal is `Forbidden` with what went wrong, for the one who holds the link.
    pub(crate) async fn live_invite(
        &self,
        secret: &str,
        email: Option<&str>,
    ) -> Result<RegistrationInvite, CoreError> {
        let secret = secret.trim();
        if secret.is_empty() || secret.len() > 200 {
            return Err(CoreError::Forbidden(INVALID.into()));
        }
        let Some(invite) = self
            .db
            .registration_invite_by_hash(&hash_token(secret))
            .await?
        else {
            return Err(CoreError::Forbidden(INVALID.into()));
        };
        let refusal = match invite_state(&invite, self.now()) {
            InviteState::Pending => None,
            InviteState::Used => Some(USED),
            InviteState::Expired => Some(EXPIRED),
            InviteState::Revoked => Some(REVOKED),
        };
        if let Some(why) = refusal {
            return Err(CoreError::Forbidden(why.into()));
        }
        if let Some(e) = email
            && crate::email_address::canonical_address(e)
                .map_or(true, |e| e.to_lowercase() != invite.email.to_lowercase())
        {
            return Err(CoreError::Forbidden(OTHER_ADDRESS.into()));
        }
        Ok(invite)
    }

    /// The event of an invitation used up: by the account it created, or (`outcome`
    /// `address_taken`) by someone registering an address that already had an account.
    pub(crate) fn invite_used_event(
        &self,
        id: i64,
        user: Option<&User>,
        email: &str,
        outcome: &str,
        meta: &RequestMeta,
    ) -> NewEvent {
        NewEvent {
            at: self.now(),
            actor_id: user.map(|u| u.id),
            actor_name: user.map(|u| u.username.clone()),
            action: "account:invite:use".into(),
            subject_kind: "invite".into(),
            subject_id: Some(id),
            subject_name: Some(email.to_owned()),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            request_id: meta.request_id.clone(),
            details: serde_json::json!({"email": email, "outcome": outcome}),
        }
    }
}
