//! Role changes and removals: the last-Owner rule, and the cooling-off that holds a newcomer
//! Owner's removal or demotion of an established Owner, or anyone's of a recovered Owner.

use super::*;
use crate::refusal_log::RefusalKind;
use strongroom_store::{ProjectRole, RoleChangeKind, RoleChangeStatus};

impl Services {
    /// Change a member's role (Owner ↔ Maintainer). Demoting an Owner may be held (cooling-off).
    pub async fn change_role(
        &self,
        actor: &User,
        project: &str,
        username: &str,
        role: &str,
        meta: &RequestMeta,
    ) -> Result<ChangeOutcome, CoreError> {
        let role = parse_role(role)?;
        // A promote/demote loop mails every Owner each time: limited per account (429).
        self.take_state_change(actor, "change-role", meta).await?;
        self.owner_change(actor, project, username, Some(role), meta)
            .await
    }

    /// Remove a member from the project. Removing an Owner may be held (cooling-off).
    pub async fn remove_member(
        &self,
        actor: &User,
        project: &str,
        username: &str,
        meta: &RequestMeta,
    ) -> Result<ChangeOutcome, CoreError> {
        self.owner_change(actor, project, username, None, meta)
            .await
    }

    /// Leave the project (any member; the last Owner cannot).
    pub async fn leave_project(
        &self,
        user: &User,
        project: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let (p, mine, tx, now_user) = self.begin_project(user, project, true).await?;
        let user = &now_user;
        // Leaving removes the account's role at once, with no veto: an attacker holding a
        // recovered account would take an established Owner off the project with it.
        let mut tx = self
            .check_hold_in(tx, user, HeldAction::LeaveProject, (p.id, &p.name), meta)
            .await?;
        if mine.role == ProjectRole::Owner && owner_count(&mut tx, p.id).await? <= 1 {
            return Err(self
                .refuse_last_owner(tx, user, &p, &mine, "leave", None, meta)
                .await);
        }
        let mut events = Vec::new();
        let mut mails = Vec::new();
        self.apply_change(
            &mut tx,
            &Actor::user(user),
            &p,
            &mine,
            None,
            "left the project",
            meta,
            &mut events,
            &mut mails,
        )
        .await?;
        tx.commit(&events, &mails).await?;
        Ok(())
    }

    pub(super) async fn owner_change(
        &self,
        actor: &User,
        project: &str,
        username: &str,
        new_role: Option<ProjectRole>,
        meta: &RequestMeta,
    ) -> Result<ChangeOutcome, CoreError> {
        let (p, mine, mut tx, now_actor) = self.begin_project(actor, project, false).await?;
        let actor = &now_actor;
        let target_user = self
            .db
            .user_by_name(username.trim())
            .await?
            .ok_or_else(|| not_member(username.trim(), &p.name))?;
        let target = tx
            .role_in(p.id, target_user.id)
            .await?
            .ok_or_else(|| not_member(&target_user.username, &p.name))?;
        if new_role == Some(target.role) {
            return Err(CoreError::Invalid(format!(
                "{} is already {} of {}.",
                target.username, target.role, p.name
            )));
        }
        let self_change = target.user_id == actor.id;
        // What the account granted inside one of its incident windows (a sock the attacker
        // invited from it) it may take back at once: neither its hold nor the cooling-off
        // stands between the owner who got the account back and whoever the attacker let in.
        let taking_back = !self_change
            && new_role != Some(ProjectRole::Owner)
            && self
                .granted_in_incident(&mut tx, p.id, &target, actor)
                .await?;
        // A held account may still remove or demote a newcomer Owner: the owner who took the
        // account back must be able to throw out whoever the attacker invited before the reset.
        let held = if new_role == Some(ProjectRole::Owner) {
            Some(HeldAction::AddOwner)
        } else if self_change && target.role == ProjectRole::Owner {
            // Stepping down from Owner (removing or demoting oneself) is leaving.
            Some(HeldAction::LeaveProject)
        } else if target.role == ProjectRole::Owner
            && !self_change
            && !taking_back
            && self.is_established(&target)
        {
            Some(HeldAction::RemoveOwner)
        } else {
            None
        };
        if let Some(what) = held {
            tx = self
                .check_hold_in(tx, actor, what, (p.id, &p.name), meta)
                .await?;
        }
        let owners = owner_count(&mut tx, p.id).await?;
        if target.role == ProjectRole::Owner && owners <= 1 {
            let refused = match (self_change, new_role) {
                (true, None) => "leave",
                (false, None) => "remove-owner",
                (_, Some(_)) => "demote-owner",
            };
            return Err(self
                .refuse_last_owner(tx, actor, &p, &target, refused, new_role, meta)
                .await);
        }
        let now = self.now();
        // An Owner's own recovery never makes her easier to remove: while her account is on a
        // recovery hold or watch (she may be taking it back from an intruder whose sock is now
        // established), anyone's removal or demotion of her waits for her veto like a
        // newcomer's, and the administrators see it at high severity.
        let target_recovering = !self_change
            && !taking_back
            && target.role == ProjectRole::Owner
            && self.is_recovering(&target_user);
        let held = target_recovering
            || (!self_change
                && !taking_back
                && self.is_newcomer(actor, &mine)
                && self.is_elder_owner(&target, &mine));
        if held {
            if let Some(c) = tx.pending_changes_for(p.id, target.user_id).await?.first() {
                return Err(CoreError::Conflict(format!(
                    "A change to {}'s role is already pending until {} UTC.",
                    target.username,
                    iso8601_seconds(c.effective_at)
                )));
            }
            let effective_at = now.saturating_add(hours(self.settings.safety.pending_hours));
            let kind = if new_role.is_some() {
                RoleChangeKind::Demote
            } else {
                RoleChangeKind::Remove
            };
            let change_id = tx
                .insert_role_change(
                    p.id,
                    target.user_id,
                    actor.id,
                    kind,
                    new_role,
                    now,
                    effective_at,
                )
                .await?;
            let secret = random_secret(32);
            tx.insert_subject_token(
                &hash_token(&secret),
                target.user_id,
                VETO_ROLE_CHANGE,
                change_id,
                now,
                // Valid past the window: a change still pending then (held back by read-only
                // mode) can still be vetoed; an applied one refuses the veto by its status.
                effective_at.saturating_add(crate::settings::days(7)),
            )
            .await?;
            let link = format!("{}/account/veto/?token={secret}", self.settings.link_base());
            let what = match new_role {
                Some(r) => format!("demote {} to {r}", target.username),
                None => format!("remove {} as Owner", target.username),
            };
            let ev = self.role_event(
                &Actor::user(actor),
                "role:change:pending",
                &p,
                meta,
                Member::holding(&target),
                serde_json::json!({"change_id": change_id, "kind": kind, "to": new_role,
                    "effective_at": effective_at}),
            );
            let mut events = vec![ev];
            if target_recovering {
                events.push(self.role_event(
                    &Actor::user(actor),
                    RECOVERED_OWNER_CHANGE,
                    &p,
                    meta,
                    Member::holding(&target),
                    serde_json::json!({"change_id": change_id, "kind": kind, "to": new_role,
                        "effective_at": effective_at,
                        "recovered_at": target_user.recovered_at,
                        "hold_until": target_user.hold_until}),
                ));
            }
            let why_held = if target_recovering {
                format!(
                    "{} was recovered recently (a password, address or two-factor change), so a removal or demotion of it by another Owner waits",
                    target.username
                )
            } else {
                format!(
                    "{} became an Owner of the project {} recently and asked for it; because you have been an Owner for longer, the change waits",
                    actor.username, p.name
                )
            };
            let target_to = notice_recipients(&tx.emails(target.user_id).await?);
            let mut mails: Vec<NewMail> = target_to
                .iter()
                .map(|addr| NewMail {
                    to: addr.clone(),
                    subject: format!("Veto: {} wants to {what} of {}", actor.username, p.name),
                    body: format!(
                        "{} asked to {what} of the project {}. {why_held} until {} UTC.\n\nIf you did not agree to this, veto it here (you can also ask the index administrators to freeze {}'s account):\n\n{link}\n\nIf you do nothing, the change happens at that time.\n\n-- strongroom\n",
                        actor.username,
                        p.name,
                        iso8601_seconds(effective_at),
                        actor.username
                    ),
                })
                .collect();
            if target_to.is_empty() {
                // Nobody can receive the veto link (the target's addresses are unverified, maybe
                // by a domain check): the administrators decide instead.
                mails.extend(notice(
                    &self.admin_addresses().await?,
                    &format!("Review a held change on {}: {what}", p.name),
                    &format!(
                        "{} asked to {what} of the project {}. {} has no verified address to receive the veto link, so the change needs your review before {} UTC: veto it by freezing {} or let it apply (admin area: /admin/changes/).",
                        actor.username,
                        p.name,
                        target.username,
                        iso8601_seconds(effective_at),
                        actor.username
                    ),
                ));
            }
            let others: Vec<String> = owners_and(&mut tx, p.id, &[])
                .await?
                .into_iter()
                .filter(|a| !target_to.contains(a))
                .collect();
            mails.extend(notice(
                &others,
                &format!("Pending change on {}: {what}", p.name),
                &format!(
                    "{} asked to {what} of the project {}. The change is held until {} UTC; {} can veto it.",
                    actor.username,
                    p.name,
                    iso8601_seconds(effective_at),
                    target.username
                ),
            ));
            tx.commit(&events, &mails).await?;
            return Ok(ChangeOutcome::Pending {
                change_id,
                effective_at,
            });
        }
        let mut events = Vec::new();
        let mut mails = Vec::new();
        let reason = if self_change {
            "left the project"
        } else {
            "removed by an Owner"
        };
        self.apply_change(
            &mut tx,
            &Actor::user(actor),
            &p,
            &target,
            new_role,
            reason,
            meta,
            &mut events,
            &mut mails,
        )
        .await?;
        tx.commit(&events, &mails).await?;
        Ok(ChangeOutcome::Applied)
    }

    /// The last-Owner refusal of `actor`'s change to `target` (`refused`: leave, remove-owner,
    /// demote-owner), logged: `tx` wrote nothing and ends before the event goes in.
    #[allow(clippy::too_many_arguments)]
    async fn refuse_last_owner(
        &self,
        tx: AccountTx,
        actor: &User,
        p: &Project,
        target: &Role,
        refused: &str,
        new_role: Option<ProjectRole>,
        meta: &RequestMeta,
    ) -> CoreError {
        drop(tx);
        let kind = RefusalKind::LastOwner;
        let ev = self.role_event(
            &Actor::user(actor),
            kind.action(),
            p,
            meta,
            Member::holding(target),
            serde_json::json!({"refused": refused, "to": new_role}),
        );
        self.log_refusal(kind, crate::refusal_log::Source::Account(actor.id), ev)
            .await;
        last_owner(&target.username, &p.name)
    }

    /// Remove `target` (`new_role` None) or set its role, inside `tx` (role lock held): the
    /// last-Owner rule, the events, the mails to every Owner and the target, and — when an
    /// Owner loses the role — voiding its invitations and cancelling the changes it asked for.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply_change(
        &self,
        tx: &mut AccountTx,
        actor: &Actor,
        p: &Project,
        target: &Role,
        new_role: Option<ProjectRole>,
        reason: &str,
        meta: &RequestMeta,
        events: &mut Vec<NewEvent>,
        mails: &mut Vec<NewMail>,
    ) -> Result<(), CoreError> {
        let now = self.now();
        // Everyone who must hear of it, read before the change (the removed Owner included).
        let mut to = owners_and(tx, p.id, &[target.user_id]).await?;
        // A role given by a watched account inherits its watch (read before the change).
        let inherited = match (new_role, actor.id) {
            (Some(_), Some(by)) => self.watch_inherited_from(tx, p.id, by).await?,
            _ => None,
        };
        let outcome = match new_role {
            None => tx.remove_role(p.id, target.user_id).await?,
            Some(r) => {
                tx.change_role(p.id, target.user_id, r, now, actor.id)
                    .await?
            }
        };
        match outcome {
            RoleOutcome::LastOwner => return Err(last_owner(&target.username, &p.name)),
            RoleOutcome::NotMember => return Err(not_member(&target.username, &p.name)),
            RoleOutcome::Unchanged => return Ok(()),
            RoleOutcome::Changed { .. } => {}
        }
        if let Some(until) = inherited {
            tx.set_role_watch(p.id, target.user_id, until).await?;
        }
        let (subject, body) = match new_role {
            None => {
                events.push(self.role_event(
                    actor,
                    "role:remove",
                    p,
                    meta,
                    Member::holding(target),
                    serde_json::json!({"reason": reason}),
                ));
                (
                    format!("{} was removed from {}", target.username, p.name),
                    format!(
                        "{} is no longer {} of the project {} ({}, by {}).",
                        target.username, target.role, p.name, reason, actor.name
                    ),
                )
            }
            Some(r) => {
                events.push(self.role_event(
                    actor,
                    "role:change",
                    p,
                    meta,
                    Member {
                        role: r,
                        ..Member::holding(target)
                    },
                    serde_json::json!({"from": target.role, "to": r}),
                ));
                (
                    format!("{} is now {r} of {}", target.username, p.name),
                    format!(
                        "{} changed the role of {} on the project {} from {} to {r}.",
                        actor.name, target.username, p.name, target.role
                    ),
                )
            }
        };
        // Owners as they are now (a promoted Maintainer hears too).
        for a in owners_and(tx, p.id, &[]).await? {
            if !to.contains(&a) {
                to.push(a);
            }
        }
        mails.extend(notice(&to, &subject, &body));
        if target.role == ProjectRole::Owner && new_role != Some(ProjectRole::Owner) {
            self.owner_lost_role(tx, p, target, meta, events).await?;
        }
        Ok(())
    }

    /// An Owner lost the role: void the invitations it sent and cancel the changes it asked for.
    pub(super) async fn owner_lost_role(
        &self,
        tx: &mut AccountTx,
        p: &Project,
        target: &Role,
        meta: &RequestMeta,
        events: &mut Vec<NewEvent>,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let system = system_actor();
        for inv in tx.void_invitations_from(p.id, target.user_id, now).await? {
            events.push(self.role_event(
                &system,
                "role:invite:void",
                p,
                meta,
                Member::invitee(&inv),
                serde_json::json!({"invitation_id": inv.id, "inviter": target.username,
                    "reason": "the inviter is no longer an Owner"}),
            ));
        }
        for c in tx.pending_changes_by(p.id, target.user_id).await? {
            if tx
                .end_role_change(c.id, RoleChangeStatus::Cancelled, now, "system")
                .await?
            {
                events.push(self.role_event(
                    &system,
                    "role:change:cancel",
                    p,
                    meta,
                    Member::change_target(&c),
                    serde_json::json!({"change_id": c.id,
                        "reason": "the Owner who asked for it is no longer an Owner"}),
                ));
            }
        }
        Ok(())
    }
}
