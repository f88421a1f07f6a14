//! Invitations to a role: sent by an Owner, bound to the invitee, expiring, voided when the
//! sender can no longer grant roles; accepted or declined by the invitee, revoked by an Owner.

use super::*;
use strongroom_store::{InvitationStatus, ProjectRole, ProjectStatus};

impl Services {
    /// An Owner invites `invitee` (by username) to `role` on the project. The invitee gets a mail
    /// with the link to accept or decline; every Owner is told.
    pub async fn invite(
        &self,
        actor: &User,
        project: &str,
        invitee: &str,
        role: &str,
        meta: &RequestMeta,
    ) -> Result<Invitation, CoreError> {
        let role = parse_role(role)?;
        // An invite/revoke loop mails every Owner each time: limited per account (429).
        self.take_state_change(actor, "invite", meta).await?;
        let (p, _mine, tx, now_actor) = self.begin_project(actor, project, false).await?;
        let actor = &now_actor;
        let mut tx = self
            .check_hold_in(tx, actor, HeldAction::AddOwner, (p.id, &p.name), meta)
            .await?;
        let invitee = invitee.trim();
        let target = self
            .db
            .user_by_name(invitee)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or_else(|| {
                CoreError::NotFound(format!("No user found with the username '{invitee}'."))
            })?;
        if target.frozen_at.is_some() {
            return Err(CoreError::Invalid(format!(
                "User '{}' cannot be invited right now.",
                target.username
            )));
        }
        let emails = tx.emails(target.id).await?;
        if !emails.iter().any(|e| e.verified_at.is_some()) {
            return Err(CoreError::Invalid(format!(
                "User '{}' does not have a verified email address and cannot be added as a {role} for project {}. {}",
                target.username,
                p.name,
                crate::help::HelpTopic::Invitations.see()
            )));
        }
        if let Some(r) = tx.role_in(p.id, target.id).await? {
            return Err(CoreError::Conflict(format!(
                "User '{}' already has the {} role for project {}.",
                target.username, r.role, p.name
            )));
        }
        let now = self.now();
        let who = Actor::user(actor);
        let mut events = Vec::new();
        for old in tx.expire_invitations_to(p.id, target.id, now).await? {
            events.push(self.role_event(
                &who,
                "role:invite:expire",
                &p,
                meta,
                Member::user(&target, old.role),
                serde_json::json!({"invitation_id": old.id}),
            ));
        }
        let expires_at = now.saturating_add(hours(self.settings.safety.invitation_hours));
        let id = tx
            .insert_invitation(p.id, target.id, actor.id, role, now, expires_at)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => CoreError::Conflict(format!(
                    "User '{}' already has an active invitation to {}. Please try again later.",
                    target.username, p.name
                )),
                other => other.into(),
            })?;
        events.push(self.role_event(
            &who,
            "role:invite",
            &p,
            meta,
            Member::user(&target, role),
            serde_json::json!({"invitation_id": id, "expires_at": expires_at}),
        ));
        let link = format!("{}/manage/account/invitations/", self.settings.link_base());
        // Never to an address an incident left suspect or a domain check unverified: the
        // invitation still waits on the account page.
        let to: Vec<String> = emails
            .iter()
            .filter(|e| e.verified_recipient())
            .map(|e| e.address.clone())
            .collect();
        let mut mails: Vec<NewMail> = to
            .iter()
            .map(|addr| NewMail {
                to: addr.clone(),
                subject: format!("Invitation to be {role} of {}", p.name),
                body: format!(
                    "{} invited you ({}) to be {role} of the project {} on strongroom.\n\nAccept or decline it here (after logging in):\n\n{link}\n\nThe invitation expires at {} UTC.\n\n-- strongroom\n",
                    actor.username,
                    target.username,
                    p.name,
                    iso8601_seconds(expires_at)
                ),
            })
            .collect();
        mails.extend(notice(
            &owners_and(&mut tx, p.id, &[]).await?,
            &format!("{} was invited to {}", target.username, p.name),
            &format!(
                "{} invited {} to be {role} of the project {}. The invitation expires at {} UTC unless accepted.",
                actor.username,
                target.username,
                p.name,
                iso8601_seconds(expires_at)
            ),
        ));
        tx.commit(&events, &mails).await?;
        self.db
            .invitation(id)
            .await?
            .ok_or_else(|| CoreError::Internal("new invitation vanished".into()))
    }

    /// The invitee's own pending invitation, checked for expiry (an expired one is marked so
    /// and refused with a clear message).
    pub(super) async fn open_invitation(
        &self,
        user: &User,
        invitation_id: i64,
        meta: &RequestMeta,
    ) -> Result<(Invitation, Project, AccountTx), CoreError> {
        self.check_writable().await?;
        let inv = self
            .db
            .invitation(invitation_id)
            .await?
            .filter(|i| i.invitee_id == user.id)
            .ok_or_else(|| CoreError::NotFound("No such invitation.".into()))?;
        let p = self
            .db
            .project_by_id(inv.project_id)
            .await?
            .filter(|p| p.status != ProjectStatus::Removed)
            .ok_or_else(|| CoreError::NotFound("No such invitation.".into()))?;
        let mut tx = self.db.begin_account().await?;
        // The invitee as it is now, held until the answer commits (`crate::credential_gate`).
        self.lock_live_account(&mut tx, user.id).await?;
        tx.lock_project_roles(p.id).await?;
        let inv = tx
            .invitation(invitation_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("No such invitation.".into()))?;
        if inv.status != InvitationStatus::Pending {
            return Err(CoreError::Invalid(format!(
                "This invitation to {} is no longer valid (it was {}).",
                p.name, inv.status
            )));
        }
        let now = self.now();
        if inv.expires_at <= now {
            if tx
                .end_invitation(inv.id, InvitationStatus::Expired, now)
                .await?
            {
                let ev = self.role_event(
                    &Actor::user(user),
                    "role:invite:expire",
                    &p,
                    meta,
                    Member::user(user, inv.role),
                    serde_json::json!({"invitation_id": inv.id}),
                );
                tx.commit(&[ev], &[]).await?;
            }
            return Err(CoreError::Invalid(format!(
                "This invitation to {} expired at {} UTC. Ask an Owner of the project to invite you again.",
                p.name,
                iso8601_seconds(inv.expires_at)
            )));
        }
        Self::check_active(&p)?;
        // An invitation is only as good as its sender: a frozen or deleted inviter, or one who is
        // no longer an Owner, voids it (a compromised account's invitations die with its freeze).
        let inviter_ok = tx
            .user(inv.inviter_id)
            .await?
            .is_some_and(|u| u.frozen_at.is_none() && u.deleted_at.is_none())
            && tx
                .role_in(p.id, inv.inviter_id)
                .await?
                .is_some_and(|r| r.role == ProjectRole::Owner);
        if !inviter_ok {
            if tx
                .end_invitation(inv.id, InvitationStatus::Voided, now)
                .await?
            {
                let ev = self.role_event(
                    &Actor::user(user),
                    "role:invite:void",
                    &p,
                    meta,
                    Member::user(user, inv.role),
                    serde_json::json!({"invitation_id": inv.id,
                        "why": "inviter frozen, deleted or no longer an Owner"}),
                );
                tx.commit(&[ev], &[]).await?;
            }
            return Err(CoreError::Invalid(format!(
                "This invitation to {} is no longer valid: the account that sent it can no longer grant roles.",
                p.name
            )));
        }
        Ok((inv, p, tx))
    }

    /// The invitee accepts: the role is granted; every Owner is told.
    pub async fn accept_invitation(
        &self,
        user: &User,
        invitation_id: i64,
        meta: &RequestMeta,
    ) -> Result<Project, CoreError> {
        let (inv, p, mut tx) = self.open_invitation(user, invitation_id, meta).await?;
        // A held account does not become Owner elsewhere: a project the attacker gains through
        // a recovered account stays theirs after the owner takes the account back. (Becoming a
        // Maintainer adds no power to remove anyone; it is allowed.) The hold is read on the
        // row `open_invitation` holds.
        let mut tx = if inv.role == ProjectRole::Owner {
            let now_user = tx.user(user.id).await?;
            let now_user = now_user.as_ref().unwrap_or(user);
            self.check_hold_in(tx, now_user, HeldAction::AcceptOwner, (p.id, &p.name), meta)
                .await?
        } else {
            tx
        };
        let now = self.now();
        // The watch follows the people a watched account brings in: read the inviter's watch
        // on the project now, before the new role is there.
        let inherited = self
            .watch_inherited_from(&mut tx, p.id, inv.inviter_id)
            .await?;
        if !tx
            .end_invitation(inv.id, InvitationStatus::Accepted, now)
            .await?
        {
            return Err(CoreError::Invalid(
                "This invitation is no longer valid.".into(),
            ));
        }
        tx.insert_role(p.id, user.id, inv.role, now, Some(inv.inviter_id))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    CoreError::Conflict(format!("You already have a role on {}.", p.name))
                }
                other => other.into(),
            })?;
        if let Some(until) = inherited {
            tx.set_role_watch(p.id, user.id, until).await?;
        }
        let who = Actor::user(user);
        let events = [
            self.role_event(
                &who,
                "role:invite:accept",
                &p,
                meta,
                Member::user(user, inv.role),
                serde_json::json!({"invitation_id": inv.id, "inviter": inv.inviter_name}),
            ),
            self.role_event(
                &who,
                "role:add",
                &p,
                meta,
                Member::user(user, inv.role),
                serde_json::json!({"via": "invitation", "invitation_id": inv.id,
                    "granted_by": inv.inviter_name, "watched_until": inherited}),
            ),
        ];
        let to = owners_and(&mut tx, p.id, &[user.id]).await?;
        let mails = notice(
            &to,
            &format!("{} is now {} of {}", user.username, inv.role, p.name),
            &format!(
                "{} accepted the invitation {} sent and is now {} of the project {}.",
                user.username, inv.inviter_name, inv.role, p.name
            ),
        );
        tx.commit(&events, &mails).await?;
        Ok(p)
    }

    /// The invitee declines; every Owner is told.
    pub async fn decline_invitation(
        &self,
        user: &User,
        invitation_id: i64,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let (inv, p, mut tx) = self.open_invitation(user, invitation_id, meta).await?;
        if !tx
            .end_invitation(inv.id, InvitationStatus::Declined, self.now())
            .await?
        {
            return Err(CoreError::Invalid(
                "This invitation is no longer valid.".into(),
            ));
        }
        let ev = self.role_event(
            &Actor::user(user),
            "role:invite:decline",
            &p,
            meta,
            Member::user(user, inv.role),
            serde_json::json!({"invitation_id": inv.id}),
        );
        let mails = notice(
            &owners_and(&mut tx, p.id, &[]).await?,
            &format!("{} declined the invitation to {}", user.username, p.name),
            &format!(
                "{} declined the invitation to be {} of the project {}.",
                user.username, inv.role, p.name
            ),
        );
        tx.commit(&[ev], &mails).await?;
        Ok(())
    }

    /// An Owner revokes a pending invitation of the project; the invitee and every Owner are told.
    pub async fn revoke_invitation(
        &self,
        actor: &User,
        project: &str,
        invitation_id: i64,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.take_state_change(actor, "revoke-invitation", meta)
            .await?;
        let (p, _mine, mut tx, now_actor) = self.begin_project(actor, project, false).await?;
        let actor = &now_actor;
        let inv = tx
            .invitation(invitation_id)
            .await?
            .filter(|i| i.project_id == p.id)
            .ok_or_else(|| CoreError::NotFound("No such invitation.".into()))?;
        if !tx
            .end_invitation(inv.id, InvitationStatus::Revoked, self.now())
            .await?
        {
            return Err(CoreError::Invalid(format!(
                "This invitation is no longer pending (it was {}).",
                inv.status
            )));
        }
        let ev = self.role_event(
            &Actor::user(actor),
            "role:invite:revoke",
            &p,
            meta,
            Member::invitee(&inv),
            serde_json::json!({"invitation_id": inv.id}),
        );
        let mails = notice(
            &owners_and(&mut tx, p.id, &[inv.invitee_id]).await?,
            &format!("Invitation to {} revoked", p.name),
            &format!(
                "{} revoked the invitation of {} to be {} of the project {}.",
                actor.username, inv.invitee_name, inv.role, p.name
            ),
        );
        tx.commit(&[ev], &mails).await?;
        Ok(())
    }
}
