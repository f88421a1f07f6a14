//! Held role changes after they are asked for: cancel, the veto link (and reporting the asker to
//! the administrators), admin approval, and the periodic job that applies them or lets
//! invitations expire.

use super::*;
use strongroom_store::ProjectRole;
use strongroom_store::{InvitationStatus, ProjectStatus, RoleChangeStatus};

impl Services {
    /// The Owner who asked for a pending change withdraws it. Nobody else may end it here: the
    /// change's target ends it only through its veto link (mailed to its addresses, a signal
    /// to the administrators), and an administrator through the admin area; a cancel by any
    /// Owner was a veto without the mailbox (a stolen session, or the intruder's sock ending
    /// the recovered owner's removal of it). The server asks for a recent re-authentication.
    pub async fn cancel_role_change(
        &self,
        actor: &User,
        project: &str,
        change_id: i64,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let (p, _mine, mut tx, now_actor) = self.begin_project(actor, project, false).await?;
        let actor = &now_actor;
        let c = tx
            .role_change(change_id)
            .await?
            .filter(|c| c.project_id == p.id)
            .ok_or_else(|| CoreError::NotFound("No such pending change.".into()))?;
        if c.actor_id != actor.id {
            drop(tx);
            let kind = crate::refusal_log::RefusalKind::CancelNotAsker;
            let ev = self.role_event(
                &Actor::user(actor),
                kind.action(),
                &p,
                meta,
                Member::change_target(&c),
                serde_json::json!({"change_id": c.id, "asked_by": c.actor_name}),
            );
            self.log_refusal(kind, crate::refusal_log::Source::Account(actor.id), ev)
                .await;
            return Err(CoreError::Forbidden(format!(
                "Only {}, who asked for this change, can withdraw it. If it is aimed at you, use the veto link mailed to your addresses; otherwise ask the index administrators.",
                c.actor_name
            )));
        }
        end_pending_change(
            &mut tx,
            &c,
            RoleChangeStatus::Cancelled,
            self.now(),
            &actor.username,
        )
        .await?;
        let ev = self.role_event(
            &Actor::user(actor),
            "role:change:cancel",
            &p,
            meta,
            Member::change_target(&c),
            serde_json::json!({"change_id": c.id}),
        );
        let mails = notice(
            &owners_and(&mut tx, p.id, &[c.target_id]).await?,
            &format!("Pending change on {} cancelled", p.name),
            &format!(
                "{} cancelled the pending change asked by {} to {} {}.",
                actor.username, c.actor_name, c.kind, c.target_name
            ),
        );
        tx.commit(&[ev], &mails).await?;
        Ok(())
    }

    /// The veto link's change, without using the link up (for the confirmation page).
    pub async fn veto_view(&self, token: &str) -> Result<VetoView, CoreError> {
        let invalid = || CoreError::Invalid("This link is invalid or has expired.".into());
        if token.is_empty() || token.len() > 200 {
            return Err(invalid());
        }
        let hash = hash_token(token);
        let t = self
            .db
            .email_token_by_hash(&hash)
            .await?
            .ok_or_else(invalid)?;
        if t.purpose != VETO_ROLE_CHANGE || t.used_at.is_some() || t.expires_at <= self.now() {
            return Err(invalid());
        }
        let id = self
            .db
            .email_token_subject(&hash)
            .await?
            .ok_or_else(invalid)?;
        let change = self
            .db
            .role_change(id)
            .await?
            .filter(|c| c.target_id == t.user_id)
            .ok_or_else(invalid)?;
        Ok(VetoView { change })
    }

    /// Follow a veto link: the pending change is vetoed (cancelled: the target keeps its role)
    /// and every Owner is told. With [`Veto::AndReport`] the target also asks the
    /// administrators to freeze the account that asked for the change: an admin signal
    /// (`account:freeze:requested`, high severity) and a mail to every administrator. No member
    /// freezes another by itself: the asker may be the real owner, recovered, throwing out an
    /// attacker's sock that became established, so only an administrator decides who to freeze.
    pub async fn veto_role_change(
        &self,
        token: &str,
        what: Veto,
        meta: &RequestMeta,
    ) -> Result<RoleChange, CoreError> {
        // No read-only check: a veto only undoes, and read-only mode is what an admin turns on
        // during exactly the incident the veto answers.
        let view = self.veto_view(token).await?;
        let (_t, target, mut tx) = self.consume_mail_token(token, VETO_ROLE_CHANGE).await?;
        let c = tx
            .role_change(view.change.id)
            .await?
            .ok_or_else(|| CoreError::Internal("role change vanished".into()))?;
        let p = lock_change_project(&mut tx, &c).await?;
        let now = self.now();
        let report = what == Veto::AndReport;
        if report {
            // A frozen or deleted account's mailbox may be read by whoever took it: its veto
            // keeps things as they were, but it reports nobody to the administrators.
            let holder = tx.user(target.id).await?;
            if holder.is_none_or(|u| u.frozen_at.is_some() || u.deleted_at.is_some()) {
                return Err(CoreError::Forbidden(format!(
                    "The account {} is frozen, so its links cannot report (or freeze) other accounts. Veto without reporting, or ask the index administrators.",
                    target.username
                )));
            }
        }
        end_pending_change(&mut tx, &c, RoleChangeStatus::Vetoed, now, &target.username).await?;
        let who = Actor::user(&target);
        let mut events = vec![self.role_event(
            &who,
            "role:change:veto",
            &p,
            meta,
            Member::change_target(&c),
            serde_json::json!({"change_id": c.id, "kind": c.kind, "by_owner": c.actor_name,
                "reported": report}),
        )];
        let mut mails = notice(
            &owners_and(&mut tx, p.id, &[c.target_id]).await?,
            &format!("Pending change on {} vetoed", p.name),
            &format!(
                "{} vetoed the change {} asked for ({} {}) on the project {}.{}",
                target.username,
                c.actor_name,
                c.kind,
                c.target_name,
                p.name,
                if report {
                    format!(
                        " {} also asked the index administrators to freeze {}'s account; no account was frozen, the administrators decide.",
                        target.username, c.actor_name
                    )
                } else {
                    String::new()
                }
            ),
        );
        if report {
            let asker = tx
                .user(c.actor_id)
                .await?
                .ok_or_else(|| CoreError::Internal("the asking account vanished".into()))?;
            events.push(self.event(
                &who,
                FREEZE_REQUESTED,
                crate::admin::user_subject(&asker),
                meta,
                serde_json::json!({"user_id": asker.id, "user": asker.username,
                    "requested_by_id": target.id, "requested_by": target.username,
                    "change_id": c.id, "kind": c.kind, "project": p.name}),
            ));
            let base = self.settings.link_base();
            mails.extend(notice(
                &self.admin_addresses().await?,
                &format!(
                    "Freeze requested: {} asks you to freeze {} ({})",
                    target.username, asker.username, p.name
                ),
                &format!(
                    "{vetoer} vetoed the change {asker} asked for ({kind} {target}) on the project {project} and asks you to freeze {asker}'s account. Nothing was frozen: only an administrator freezes an account.\n\nEither account may be in the wrong hands: {asker} asked to remove or demote an Owner of longer standing (a newcomer or recently recovered account does that), and {vetoer} may be an intruder's account that became established and now answers the real owner's removal of it. Read both timelines before you decide, then freeze the right one (admin area, or `strongroom admin freeze USER --reason ...`):\n\n  {base}/admin/users/{asker_q}/\n  {base}/admin/users/{vetoer_q}/\n\n-- strongroom\n",
                    vetoer = target.username,
                    asker = asker.username,
                    kind = c.kind,
                    target = c.target_name,
                    project = p.name,
                    asker_q = url_part(&asker.username),
                    vetoer_q = url_part(&target.username),
                ),
            ));
        }
        tx.commit(&events, &mails).await?;
        Ok(RoleChange {
            status: RoleChangeStatus::Vetoed,
            ..c
        })
    }

    /// An admin applies a pending change before its veto window ends (`reason` is logged).
    /// The CLI operator (`actor.id` None) or an admin account may do it.
    pub async fn approve_role_change(
        &self,
        actor: &Actor,
        change_id: i64,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<RoleChange, CoreError> {
        self.check_writable().await?;
        if let Some(id) = actor.id {
            let u = self.db.user_by_id(id).await?;
            if !u.is_some_and(|u| u.is_admin && u.frozen_at.is_none() && u.deleted_at.is_none()) {
                return Err(CoreError::Forbidden(
                    "Only administrators can approve a pending change.".into(),
                ));
            }
        }
        if reason.trim().is_empty() {
            return Err(CoreError::Invalid("Give a reason.".into()));
        }
        let c = self
            .db
            .role_change(change_id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("No pending change {change_id}.")))?;
        let extra = serde_json::json!({"reason": reason});
        self.settle_change(&c, RoleChangeStatus::Approved, actor, extra, meta)
            .await
    }

    /// End a pending change as `applied` (job) or `approved` (admin): it is applied unless the
    /// project lost its other Owners, or the Owner who asked is no longer one (then cancelled).
    pub(super) async fn settle_change(
        &self,
        c: &RoleChange,
        status: RoleChangeStatus,
        actor: &Actor,
        extra: serde_json::Value,
        meta: &RequestMeta,
    ) -> Result<RoleChange, CoreError> {
        let mut tx = self.db.begin_account().await?;
        let p = lock_change_project(&mut tx, c).await?;
        let c = tx
            .role_change(c.id)
            .await?
            .ok_or_else(|| CoreError::NotFound("No such change.".into()))?;
        if c.status != RoleChangeStatus::Pending {
            return Err(CoreError::Invalid(format!(
                "This change is no longer pending (it was {}).",
                c.status
            )));
        }
        if status == RoleChangeStatus::Applied
            && let Some(t) = tx.user(c.target_id).await?
            && t.frozen_at.is_some()
        {
            // Its owner cannot veto while the account is frozen (its mailbox may be read by
            // someone else, its sessions are ended): the change waits, and the unfreeze gives
            // the owner a new pending period and a new veto link (`postpone_held_changes`).
            return Err(CoreError::Conflict(format!(
                "it waits while {} is frozen",
                c.target_name
            )));
        }
        let now = self.now();
        let asker = tx.role_in(p.id, c.actor_id).await?;
        let asker_user = tx.user(c.actor_id).await?;
        let asker_ok = asker.is_some_and(|r| r.role == ProjectRole::Owner)
            && asker_user.is_some_and(|u| u.frozen_at.is_none() && u.deleted_at.is_none());
        let target = tx.role_in(p.id, c.target_id).await?;
        let owners = owner_count(&mut tx, p.id).await?;
        let mut events = Vec::new();
        let mut mails = Vec::new();
        let why_not = if p.status != ProjectStatus::Active {
            Some(format!("the project is {}", p.status))
        } else if !asker_ok {
            Some(format!("{} is no longer an active Owner", c.actor_name))
        } else if target.as_ref().is_none_or(|t| t.role != ProjectRole::Owner) {
            Some(format!("{} is no longer an Owner", c.target_name))
        } else if owners <= 1 {
            Some(format!("{} is the last Owner", c.target_name))
        } else {
            None
        };
        let ended_by = actor.name.clone();
        if let Some(why) = why_not {
            tx.end_role_change(c.id, RoleChangeStatus::Cancelled, now, &ended_by)
                .await?;
            events.push(self.role_event(
                actor,
                "role:change:cancel",
                &p,
                meta,
                Member::change_target(&c),
                serde_json::json!({"change_id": c.id, "reason": why}),
            ));
            mails.extend(notice(
                &owners_and(&mut tx, p.id, &[c.target_id, c.actor_id]).await?,
                &format!("Pending change on {} cancelled", p.name),
                &format!(
                    "The change {} asked for ({} {}) on the project {} was not applied: {why}.",
                    c.actor_name, c.kind, c.target_name, p.name
                ),
            ));
            tx.commit(&events, &mails).await?;
            return Err(CoreError::Conflict(format!(
                "The change was cancelled instead: {why}."
            )));
        }
        let target = target.ok_or_else(|| CoreError::Internal("target vanished".into()))?;
        tx.end_role_change(c.id, status, now, &ended_by).await?;
        let action = if status == RoleChangeStatus::Approved {
            "role:change:approve"
        } else {
            "role:change:apply"
        };
        let details = merged(
            serde_json::json!({"change_id": c.id, "kind": c.kind, "asked_by": c.actor_name}),
            extra,
        );
        events.push(self.role_event(
            actor,
            action,
            &p,
            meta,
            Member::change_target(&c),
            details.clone(),
        ));
        if status == RoleChangeStatus::Approved {
            events.push(self.event(
                actor,
                "admin:role_change:approve",
                project_subject(&p),
                meta,
                details,
            ));
        }
        // The change is the asker's: log it as theirs.
        let asker_actor = Actor {
            id: Some(c.actor_id),
            name: c.actor_name.clone(),
        };
        self.apply_change(
            &mut tx,
            &asker_actor,
            &p,
            &target,
            c.new_role,
            "removed by an Owner after the cooling-off period",
            meta,
            &mut events,
            &mut mails,
        )
        .await?;
        tx.commit(&events, &mails).await?;
        Ok(RoleChange { status, ..c })
    }

    /// Inside `tx`, as `user` is handed back (an unfreeze or restore): every held change that
    /// targets it and waited out the freeze gets a new pending period from now, and a new veto
    /// link goes to `to` (the hand-back's anchor, or the address an administrator named): the
    /// one mailed before may have gone to an address of the attacker's, or been missed while
    /// the owner was locked out. Returns what it postponed and the mails.
    pub(crate) async fn postpone_held_changes(
        &self,
        tx: &mut AccountTx,
        user: &User,
        to: &[String],
    ) -> Result<(Vec<crate::handback::PostponedChange>, Vec<NewMail>), CoreError> {
        let now = self.now();
        let effective_at = now.saturating_add(hours(self.settings.safety.pending_hours));
        let mut done = Vec::new();
        let mut mails = Vec::new();
        for c in tx.pending_changes_targeting(user.id).await? {
            if !tx.reschedule_role_change(c.id, effective_at).await? {
                continue;
            }
            let secret = random_secret(32);
            tx.insert_subject_token(
                &hash_token(&secret),
                user.id,
                VETO_ROLE_CHANGE,
                c.id,
                now,
                effective_at.saturating_add(days(7)),
            )
            .await?;
            let link = format!("{}/account/veto/?token={secret}", self.settings.link_base());
            let what = match &c.new_role {
                Some(r) => format!("demote {} to {r}", c.target_name),
                None => format!("remove {} as Owner", c.target_name),
            };
            mails.extend(to.iter().map(|addr| NewMail {
                to: addr.clone(),
                subject: format!("Veto: {} wants to {what} of {}", c.actor_name, c.project_name),
                body: format!(
                    "{} asked to {what} of the project {} while your account was frozen. The change waited; it now waits until {} UTC.\n\nIf you did not agree to this, veto it here (you can also ask the index administrators to freeze {}'s account):\n\n{link}\n\nIf you do nothing, the change happens at that time.\n\n-- strongroom\n",
                    c.actor_name,
                    c.project_name,
                    iso8601_seconds(effective_at),
                    c.actor_name
                ),
            }));
            done.push(crate::handback::PostponedChange {
                change_id: c.id,
                project_id: c.project_id,
                project: c.project_name.clone(),
                effective_at,
            });
        }
        Ok((done, mails))
    }

    /// The periodic ownership job: expire overdue invitations and apply the held changes whose
    /// veto window has passed. Returns one line per thing done.
    pub async fn ownership_jobs(&self) -> Result<Vec<String>, CoreError> {
        let mut lines = Vec::new();
        let now = self.now();
        let system = system_actor();
        let meta = RequestMeta::default();
        for inv in self.db.overdue_invitations(now).await? {
            let mut tx = self.db.begin_account().await?;
            if !tx
                .end_invitation(inv.id, InvitationStatus::Expired, now)
                .await?
            {
                continue;
            }
            let Some(p) = self.db.project_by_id(inv.project_id).await? else {
                continue;
            };
            let ev = self.role_event(
                &system,
                "role:invite:expire",
                &p,
                &meta,
                Member::invitee(&inv),
                serde_json::json!({"invitation_id": inv.id}),
            );
            tx.commit(&[ev], &[]).await?;
            lines.push(format!(
                "invitation {} of {} to {} expired",
                inv.id, inv.invitee_name, p.name
            ));
        }
        // While the index is read-only (an incident is being handled) nothing held is applied:
        // the changes wait, still vetoable, until the switch is off again.
        let due = if self
            .db
            .site_flag(strongroom_store::site_flags::READ_ONLY)
            .await?
        {
            Vec::new()
        } else {
            self.db.due_role_changes(now).await?
        };
        for c in due {
            match self
                .settle_change(
                    &c,
                    RoleChangeStatus::Applied,
                    &system,
                    serde_json::json!({}),
                    &meta,
                )
                .await
            {
                Ok(_) => lines.push(format!(
                    "role change {} applied: {} {} of {}",
                    c.id, c.kind, c.target_name, c.project_name
                )),
                Err(CoreError::Conflict(m)) => {
                    lines.push(format!("role change {} not applied: {m}", c.id));
                }
                Err(CoreError::Invalid(_)) => {} // settled by someone else meanwhile
                Err(e) => return Err(e),
            }
        }
        Ok(lines)
    }
}

/// The event a veto with a report raises: the vetoer asks the administrators to freeze the
/// account that asked for the change (subject: that account).
pub const FREEZE_REQUESTED: &str = "account:freeze:requested";

/// What the target of a held change asks for with its veto link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Veto {
    /// Cancel the change.
    Only,
    /// Cancel the change and ask the administrators to freeze the account that asked for it.
    AndReport,
}

/// A username as a URL path segment (usernames are letters, digits, `.`, `_`, `-`; anything else
/// is percent-encoded anyway).
fn url_part(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
