//! Project ownership: Owners invite by username (the invitee must have a verified address; the
//! invitation expires, is bound to the invitee and is voided when the inviter stops being an
//! Owner), change roles and remove members; the last Owner stays. A newcomer Owner removing or
//! demoting an Owner of longer standing is held for a cooling-off period the target can veto by
//! mail (and freeze the acting account); an admin may approve it early; the periodic job applies
//! it. Every change is mailed to all Owners (the removed one included) and logged, in the same
//! transaction as the change.

use strongroom_store::model::{Invitation, Project, Release, Role, RoleChange, User};
use strongroom_store::{AccountTx, MAINTAINER, NewEvent, NewMail, OWNER, RoleOutcome, StoreError};

use crate::accounts::{purpose, random_secret};
use crate::clock::iso8601_seconds;
use crate::hold::HeldAction;
use crate::mail::{notice, notice_recipients};
use crate::settings::{days, hours};
use crate::tokens::hash_token;
use crate::{Actor, CoreError, RequestMeta, Services, Subject};

/// The mail-token purpose of a veto link (`email_tokens.subject_id` = the role change).
pub const VETO_ROLE_CHANGE: &str = "veto_role_change";

/// What a removal or demotion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Applied at once.
    Applied,
    /// Held for the cooling-off period: applied at `effective_at` unless vetoed.
    Pending { change_id: i64, effective_at: i64 },
}

/// Everything the project's manage page shows.
#[derive(Debug, Clone)]
pub struct ProjectManage {
    pub project: Project,
    /// The viewer's role.
    pub my_role: String,
    pub members: Vec<Role>,
    /// Pending, unexpired invitations.
    pub invitations: Vec<Invitation>,
    /// Removals and demotions waiting for their veto window.
    pub pending_changes: Vec<RoleChange>,
    /// Visible releases, newest first.
    pub releases: Vec<Release>,
}

/// A veto link's change, as the veto page shows it before anything is done.
#[derive(Debug, Clone)]
pub struct VetoView {
    pub change: RoleChange,
}

/// `Owner` or `Maintainer`, exactly (form input may be lowercase).
pub fn parse_role(role: &str) -> Result<&'static str, CoreError> {
    match role.trim() {
        r if r.eq_ignore_ascii_case(OWNER) => Ok(OWNER),
        r if r.eq_ignore_ascii_case(MAINTAINER) => Ok(MAINTAINER),
        other => Err(CoreError::Invalid(format!(
            "Unknown role '{other}': choose Owner or Maintainer."
        ))),
    }
}

fn last_owner(user: &str, project: &str) -> CoreError {
    CoreError::Forbidden(format!(
        "{user} is the last Owner of {project}: a project must keep at least one Owner. Make someone else an Owner first."
    ))
}

fn not_member(user: &str, project: &str) -> CoreError {
    CoreError::NotFound(format!("{user} has no role on {project}."))
}

fn project_subject(p: &Project) -> Subject<'_> {
    Subject {
        kind: "project",
        id: Some(p.id),
        name: Some(&p.name),
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|a| seen.insert(a.to_lowercase()));
    v
}

/// The addresses of every Owner of the project (read in `tx`), plus those of `extra` accounts.
async fn owners_and(
    tx: &mut AccountTx,
    project_id: i64,
    extra: &[i64],
) -> Result<Vec<String>, CoreError> {
    let mut ids: Vec<i64> = tx
        .project_roles(project_id)
        .await?
        .into_iter()
        .filter(|r| r.role == OWNER)
        .map(|r| r.user_id)
        .collect();
    for e in extra {
        if !ids.contains(e) {
            ids.push(*e);
        }
    }
    let mut to = Vec::new();
    for id in ids {
        to.extend(notice_recipients(&tx.emails(id).await?));
    }
    Ok(dedup(to))
}

/// `base` with the fields of `extra` added (both JSON objects).
fn merged(mut base: serde_json::Value, mut extra: serde_json::Value) -> serde_json::Value {
    if let (Some(d), Some(x)) = (base.as_object_mut(), extra.as_object_mut()) {
        d.append(x);
    }
    base
}

/// Whom a role event is about: the account and the role in question.
#[derive(Debug, Clone, Copy)]
struct Member<'a> {
    id: i64,
    name: &'a str,
    role: &'a str,
}

impl<'a> Member<'a> {
    /// An account and a role.
    fn user(u: &'a User, role: &'a str) -> Self {
        Member {
            id: u.id,
            name: &u.username,
            role,
        }
    }

    /// A member with the role it holds.
    fn holding(r: &'a Role) -> Self {
        Member {
            id: r.user_id,
            name: &r.username,
            role: &r.role,
        }
    }

    /// An invitation's invitee with the role offered.
    fn invitee(i: &'a Invitation) -> Self {
        Member {
            id: i.invitee_id,
            name: &i.invitee_name,
            role: &i.role,
        }
    }

    /// The Owner a held change is about.
    fn change_target(c: &'a RoleChange) -> Self {
        Member {
            id: c.target_id,
            name: &c.target_name,
            role: OWNER,
        }
    }
}

/// Who acts for the periodic job and for what follows from another change.
fn system_actor() -> Actor {
    Actor {
        id: None,
        name: "system".into(),
    }
}

/// How many Owners the project has, read in `tx` (role lock held).
async fn owner_count(tx: &mut AccountTx, project_id: i64) -> Result<usize, CoreError> {
    Ok(tx
        .project_roles(project_id)
        .await?
        .iter()
        .filter(|r| r.role == OWNER)
        .count())
}

/// Take the role lock of the project a held change is on, and read the project.
async fn lock_change_project(tx: &mut AccountTx, c: &RoleChange) -> Result<Project, CoreError> {
    tx.lock_project_roles(c.project_id)
        .await?
        .ok_or_else(|| CoreError::NotFound("No such project.".into()))
}

/// End a held change as `status`; refused when it was settled meanwhile (one outcome only).
async fn end_pending_change(
    tx: &mut AccountTx,
    c: &RoleChange,
    status: &str,
    at: i64,
    by: &str,
) -> Result<(), CoreError> {
    if !tx.end_role_change(c.id, status, at, by).await? {
        return Err(CoreError::Invalid(format!(
            "This change is no longer pending (it was {}).",
            c.status
        )));
    }
    Ok(())
}

impl Services {
    /// A project event with the role details every role event carries.
    fn role_event(
        &self,
        actor: &Actor,
        action: &str,
        p: &Project,
        meta: &RequestMeta,
        about: Member<'_>,
        extra: serde_json::Value,
    ) -> NewEvent {
        let details =
            serde_json::json!({"user_id": about.id, "user": about.name, "role": about.role});
        self.event(
            actor,
            action,
            project_subject(p),
            meta,
            merged(details, extra),
        )
    }

    /// The project by name; removed projects do not exist.
    async fn project_named(&self, name: &str) -> Result<Project, CoreError> {
        let normalized = strongroom_protocol::name::normalize(name);
        self.db
            .project_by_normalized(&normalized)
            .await?
            .filter(|p| p.status != "removed")
            .ok_or_else(|| CoreError::NotFound(format!("No such project: {name}")))
    }

    /// Refuse any change to a project that is not active (quarantined by an admin).
    fn check_active(p: &Project) -> Result<(), CoreError> {
        if p.status != "active" {
            return Err(CoreError::Forbidden(format!(
                "The project {} is {} by the index administrators: its owners cannot change anything until it is released.",
                p.name, p.status
            )));
        }
        Ok(())
    }

    /// Open a change on the project: writable site, active project, role lock taken, and the
    /// actor's role read inside the transaction (must be Owner unless `any_member`).
    async fn begin_project(
        &self,
        actor: &User,
        project: &str,
        any_member: bool,
    ) -> Result<(Project, Role, AccountTx), CoreError> {
        self.check_writable().await?;
        let p = self.project_named(project).await?;
        let mut tx = self.db.begin_account().await?;
        let p = tx
            .lock_project_roles(p.id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("No such project: {project}")))?;
        let Some(mine) = tx.role_in(p.id, actor.id).await? else {
            return Err(CoreError::NotFound(format!("No such project: {project}")));
        };
        Self::check_active(&p)?;
        if !any_member && mine.role != OWNER {
            return Err(CoreError::Forbidden(format!(
                "Only Owners of {} can do this; you are a {}.",
                p.name, mine.role
            )));
        }
        Ok((p, mine, tx))
    }

    /// The projects the user holds a role on: (project, role, since), by name.
    pub async fn my_projects(
        &self,
        user_id: i64,
    ) -> Result<Vec<(Project, String, i64)>, CoreError> {
        Ok(self
            .db
            .projects_of_user(user_id)
            .await?
            .into_iter()
            .filter(|(p, _, _)| p.status != "removed")
            .collect())
    }

    /// What the manage page of a project shows to one of its members (404 for anyone else).
    pub async fn project_manage(
        &self,
        viewer: &User,
        project: &str,
    ) -> Result<ProjectManage, CoreError> {
        let p = self.project_named(project).await?;
        let my_role = self
            .db
            .role_of(p.id, viewer.id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("No such project: {project}")))?;
        let now = self.now();
        let mut releases = self.db.releases_of(p.id).await?;
        releases.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(ProjectManage {
            members: self.db.roles_of_project(p.id).await?,
            invitations: self
                .db
                .pending_invitations_of_project(p.id)
                .await?
                .into_iter()
                .filter(|i| i.expires_at > now)
                .collect(),
            pending_changes: self.db.pending_role_changes(p.id).await?,
            releases,
            my_role,
            project: p,
        })
    }

    /// The invitations waiting for the user (unexpired), oldest first.
    pub async fn my_invitations(&self, user_id: i64) -> Result<Vec<Invitation>, CoreError> {
        let now = self.now();
        Ok(self
            .db
            .pending_invitations_for_user(user_id)
            .await?
            .into_iter()
            .filter(|i| i.expires_at > now)
            .collect())
    }

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
        self.check_hold(actor, HeldAction::AddOwner)?;
        let (p, _mine, mut tx) = self.begin_project(actor, project, false).await?;
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
        let Some(primary) = emails.iter().find(|e| e.verified_at.is_some()).cloned() else {
            return Err(CoreError::Invalid(format!(
                "User '{}' does not have a verified email address and cannot be added as a {role} for project {}.",
                target.username, p.name
            )));
        };
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
                Member::user(&target, &old.role),
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
        let mut to: Vec<String> = emails
            .iter()
            .filter(|e| e.verified_at.is_some())
            .map(|e| e.address.clone())
            .collect();
        if to.is_empty() {
            to.push(primary.address.clone());
        }
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
    async fn open_invitation(
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
            .filter(|p| p.status != "removed")
            .ok_or_else(|| CoreError::NotFound("No such invitation.".into()))?;
        let mut tx = self.db.begin_account().await?;
        tx.lock_project_roles(p.id).await?;
        let inv = tx
            .invitation(invitation_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("No such invitation.".into()))?;
        if inv.status != "pending" {
            return Err(CoreError::Invalid(format!(
                "This invitation to {} is no longer valid (it was {}).",
                p.name, inv.status
            )));
        }
        let now = self.now();
        if inv.expires_at <= now {
            if tx.end_invitation(inv.id, "expired", now).await? {
                let ev = self.role_event(
                    &Actor::user(user),
                    "role:invite:expire",
                    &p,
                    meta,
                    Member::user(user, &inv.role),
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
                .is_some_and(|r| r.role == strongroom_store::OWNER);
        if !inviter_ok {
            if tx.end_invitation(inv.id, "voided", now).await? {
                let ev = self.role_event(
                    &Actor::user(user),
                    "role:invite:void",
                    &p,
                    meta,
                    Member::user(user, &inv.role),
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
        if user.frozen_at.is_some() {
            return Err(CoreError::Forbidden("Your account is frozen.".into()));
        }
        let now = self.now();
        if !tx.end_invitation(inv.id, "accepted", now).await? {
            return Err(CoreError::Invalid(
                "This invitation is no longer valid.".into(),
            ));
        }
        tx.insert_role(p.id, user.id, &inv.role, now, Some(inv.inviter_id))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    CoreError::Conflict(format!("You already have a role on {}.", p.name))
                }
                other => other.into(),
            })?;
        let who = Actor::user(user);
        let events = [
            self.role_event(
                &who,
                "role:invite:accept",
                &p,
                meta,
                Member::user(user, &inv.role),
                serde_json::json!({"invitation_id": inv.id, "inviter": inv.inviter_name}),
            ),
            self.role_event(
                &who,
                "role:add",
                &p,
                meta,
                Member::user(user, &inv.role),
                serde_json::json!({"via": "invitation", "invitation_id": inv.id,
                    "granted_by": inv.inviter_name}),
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
        if !tx.end_invitation(inv.id, "declined", self.now()).await? {
            return Err(CoreError::Invalid(
                "This invitation is no longer valid.".into(),
            ));
        }
        let ev = self.role_event(
            &Actor::user(user),
            "role:invite:decline",
            &p,
            meta,
            Member::user(user, &inv.role),
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
        let (p, _mine, mut tx) = self.begin_project(actor, project, false).await?;
        let inv = tx
            .invitation(invitation_id)
            .await?
            .filter(|i| i.project_id == p.id)
            .ok_or_else(|| CoreError::NotFound("No such invitation.".into()))?;
        if !tx.end_invitation(inv.id, "revoked", self.now()).await? {
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
        let (p, mine, mut tx) = self.begin_project(user, project, true).await?;
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

    async fn owner_change(
        &self,
        actor: &User,
        project: &str,
        username: &str,
        new_role: Option<&'static str>,
        meta: &RequestMeta,
    ) -> Result<ChangeOutcome, CoreError> {
        let (p, mine, mut tx) = self.begin_project(actor, project, false).await?;
        let target_user = self
            .db
            .user_by_name(username.trim())
            .await?
            .ok_or_else(|| not_member(username.trim(), &p.name))?;
        let target = tx
            .role_in(p.id, target_user.id)
            .await?
            .ok_or_else(|| not_member(&target_user.username, &p.name))?;
        if new_role == Some(target.role.as_str()) {
            return Err(CoreError::Invalid(format!(
                "{} is already {} of {}.",
                target.username, target.role, p.name
            )));
        }
        let self_change = target.user_id == actor.id;
        if new_role == Some(OWNER) {
            self.check_hold(actor, HeldAction::AddOwner)?;
        } else if target.role == OWNER && !self_change {
            self.check_hold(actor, HeldAction::RemoveOwner)?;
        }
        let owners = owner_count(&mut tx, p.id).await?;
        if target.role == OWNER && owners <= 1 {
            return Err(last_owner(&target.username, &p.name));
        }
        let now = self.now();
        let newcomer =
            now.saturating_sub(mine.granted_at) < days(self.settings.safety.newcomer_days);
        let held =
            target.role == OWNER && !self_change && newcomer && target.granted_at < mine.granted_at;
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
                "demote"
            } else {
                "remove"
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
            let target_to = notice_recipients(&tx.emails(target.user_id).await?);
            let mut mails: Vec<NewMail> = target_to
                .iter()
                .map(|addr| NewMail {
                    to: addr.clone(),
                    subject: format!("Veto: {} wants to {what} of {}", actor.username, p.name),
                    body: format!(
                        "{} became an Owner of the project {} recently and asked to {what}. Because you have been an Owner for longer, the change waits until {} UTC.\n\nIf you did not agree to this, veto it here (you can also freeze {}'s account):\n\n{link}\n\nIf you do nothing, the change happens at that time.\n\n-- strongroom\n",
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
            tx.commit(&[ev], &mails).await?;
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

    /// Remove `target` (`new_role` None) or set its role, inside `tx` (role lock held): the
    /// last-Owner rule, the events, the mails to every Owner and the target, and — when an
    /// Owner loses the role — voiding its invitations and cancelling the changes it asked for.
    #[allow(clippy::too_many_arguments)]
    async fn apply_change(
        &self,
        tx: &mut AccountTx,
        actor: &Actor,
        p: &Project,
        target: &Role,
        new_role: Option<&str>,
        reason: &str,
        meta: &RequestMeta,
        events: &mut Vec<NewEvent>,
        mails: &mut Vec<NewMail>,
    ) -> Result<(), CoreError> {
        let now = self.now();
        // Everyone who must hear of it, read before the change (the removed Owner included).
        let mut to = owners_and(tx, p.id, &[target.user_id]).await?;
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
        if target.role == OWNER && new_role != Some(OWNER) {
            self.owner_lost_role(tx, p, target, meta, events).await?;
        }
        Ok(())
    }

    /// An Owner lost the role: void the invitations it sent and cancel the changes it asked for.
    async fn owner_lost_role(
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
            if tx.end_role_change(c.id, "cancelled", now, "system").await? {
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

    /// An Owner cancels a pending change on the project.
    pub async fn cancel_role_change(
        &self,
        actor: &User,
        project: &str,
        change_id: i64,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let (p, _mine, mut tx) = self.begin_project(actor, project, false).await?;
        let c = tx
            .role_change(change_id)
            .await?
            .filter(|c| c.project_id == p.id)
            .ok_or_else(|| CoreError::NotFound("No such pending change.".into()))?;
        end_pending_change(&mut tx, &c, "cancelled", self.now(), &actor.username).await?;
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

    /// Follow a veto link: the pending change is vetoed; with `freeze_actor` the account that
    /// asked for it is frozen too (sessions and tokens ended). Every Owner is told.
    pub async fn veto_role_change(
        &self,
        token: &str,
        freeze_actor: bool,
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
        end_pending_change(&mut tx, &c, "vetoed", now, &target.username).await?;
        let who = Actor::user(&target);
        let mut events = vec![self.role_event(
            &who,
            "role:change:veto",
            &p,
            meta,
            Member::change_target(&c),
            serde_json::json!({"change_id": c.id, "kind": c.kind, "by_owner": c.actor_name,
                "freeze": freeze_actor}),
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
                if freeze_actor {
                    format!(" The account {} was frozen.", c.actor_name)
                } else {
                    String::new()
                }
            ),
        );
        if freeze_actor {
            let reason = format!(
                "{} vetoed its change to {} on {}",
                target.username, c.target_name, p.name
            );
            tx.freeze_user(c.actor_id, &reason, now).await?;
            let sessions = tx.end_sessions(c.actor_id, None, now).await?;
            let tokens = tx.revoke_all_tokens(c.actor_id, now).await?;
            tx.invalidate_email_tokens(
                c.actor_id,
                &[
                    purpose::RESET_PASSWORD,
                    purpose::VERIFY_EMAIL,
                    purpose::CONFIRM_2FA_EMAIL,
                ],
                now,
            )
            .await?;
            events.push(self.event(
                &who,
                "account:freeze",
                Subject {
                    kind: "user",
                    id: Some(c.actor_id),
                    name: Some(&c.actor_name),
                },
                meta,
                serde_json::json!({"via": "veto", "change_id": c.id, "project": p.name,
                    "reason": reason, "sessions_ended": sessions, "tokens_revoked": tokens}),
            ));
            mails.extend(notice(
                &notice_recipients(&tx.emails(c.actor_id).await?),
                "Your account has been frozen",
                &format!(
                    "An Owner of {} vetoed the change your account {} asked for and reported it, so the account is frozen: every session and API token was ended. Contact the index administrators.",
                    p.name, c.actor_name
                ),
            ));
        }
        tx.commit(&events, &mails).await?;
        Ok(RoleChange {
            status: "vetoed".into(),
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
        self.settle_change(&c, "approved", actor, extra, meta).await
    }

    /// End a pending change as `applied` (job) or `approved` (admin): it is applied unless the
    /// project lost its other Owners, or the Owner who asked is no longer one (then cancelled).
    async fn settle_change(
        &self,
        c: &RoleChange,
        status: &str,
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
        if c.status != "pending" {
            return Err(CoreError::Invalid(format!(
                "This change is no longer pending (it was {}).",
                c.status
            )));
        }
        let now = self.now();
        let asker = tx.role_in(p.id, c.actor_id).await?;
        let asker_user = tx.user(c.actor_id).await?;
        let asker_ok = asker.is_some_and(|r| r.role == OWNER)
            && asker_user.is_some_and(|u| u.frozen_at.is_none() && u.deleted_at.is_none());
        let target = tx.role_in(p.id, c.target_id).await?;
        let owners = owner_count(&mut tx, p.id).await?;
        let mut events = Vec::new();
        let mut mails = Vec::new();
        let why_not = if p.status != "active" {
            Some(format!("the project is {}", p.status))
        } else if !asker_ok {
            Some(format!("{} is no longer an active Owner", c.actor_name))
        } else if target.as_ref().is_none_or(|t| t.role != OWNER) {
            Some(format!("{} is no longer an Owner", c.target_name))
        } else if owners <= 1 {
            Some(format!("{} is the last Owner", c.target_name))
        } else {
            None
        };
        let ended_by = actor.name.clone();
        if let Some(why) = why_not {
            tx.end_role_change(c.id, "cancelled", now, &ended_by)
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
        let action = if status == "approved" {
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
        if status == "approved" {
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
            c.new_role.as_deref(),
            "removed by an Owner after the cooling-off period",
            meta,
            &mut events,
            &mut mails,
        )
        .await?;
        tx.commit(&events, &mails).await?;
        Ok(RoleChange {
            status: status.into(),
            ..c
        })
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
            if !tx.end_invitation(inv.id, "expired", now).await? {
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
                .settle_change(&c, "applied", &system, serde_json::json!({}), &meta)
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

    /// Yank (`reason` Some) or unyank (None) a release from the web: the release is named by its
    /// id and must belong to the project the Owner manages. Returns the journal serial.
    pub async fn set_yanked_by_id(
        &self,
        actor: &User,
        project: &str,
        release_id: i64,
        reason: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<i64, CoreError> {
        let (p, _mine, tx) = self.begin_project(actor, project, false).await?;
        drop(tx);
        let release = self
            .db
            .releases_of(p.id)
            .await?
            .into_iter()
            .find(|r| r.id == release_id)
            .ok_or_else(|| CoreError::NotFound(format!("No such release of {}.", p.name)))?;
        let action = if reason.is_some() {
            "release:yank"
        } else {
            "release:unyank"
        };
        let ev = self.event(
            &Actor::user(actor),
            action,
            project_subject(&p),
            meta,
            serde_json::json!({"reason": reason, "release_id": release.id}),
        );
        self.db
            .set_yanked(
                p.id,
                &release.canonical_version,
                reason,
                &actor.username,
                ev,
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => {
                    CoreError::NotFound(format!("No such release of {}.", p.name))
                }
                other => other.into(),
            })
    }
}
