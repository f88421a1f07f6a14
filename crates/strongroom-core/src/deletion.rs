//! Deleting an account: refused while it is the sole Owner of a project (the refusal names them);
//! otherwise a soft delete in one transaction: roles removed (one `role:remove` each, the
//! project's owners told), invitations to and from it voided, sessions ended, tokens revoked,
//! mail links killed, `account:delete` logged and its addresses told. The row stays, so the
//! username stays reserved and the log keeps pointing at it; an administrator can restore it.
//! After `retention.deleted_account_days` the periodic job purges its personal data.

use crate::hold::HeldAction;
use strongroom_store::model::User;
use strongroom_store::{AccountTx, NewEvent, NewMail, RoleOutcome};
use strongroom_store::{ProjectRole, ProjectStatus, RoleChangeStatus};

use crate::accounts::purpose;
use crate::clock::iso8601_seconds;
use crate::mail::{Recipients, notice, notice_recipients};
use crate::sessions::SessionInfo;
use crate::settings::days;
use crate::{Actor, CoreError, RequestMeta, Services, Subject};

/// The `reason` of the `role:remove` events a deletion writes (restore-user replays them).
pub const ROLE_REMOVAL_REASON: &str = "account deleted";

/// The refusal while the account is the sole Owner of projects.
pub fn sole_owner_message(projects: &[String]) -> String {
    format!(
        "You are the only Owner of {}: {}. Add another Owner or delete {} first, then delete your account.",
        if projects.len() == 1 {
            "this project"
        } else {
            "these projects"
        },
        projects.join(", "),
        if projects.len() == 1 { "it" } else { "them" }
    )
}

/// What a deletion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deleted {
    /// (project, role) removed.
    pub roles_removed: Vec<(String, ProjectRole)>,
    pub invitations_voided: usize,
    pub sessions_ended: u64,
    pub tokens_revoked: u64,
    /// Invitation links to register that the account made, revoked for good.
    pub registration_invites_revoked: usize,
    pub purge_after: i64,
}

/// Every address of the account and the owners of the projects it left, told in one go.
async fn addresses_of_owners(
    tx: &mut AccountTx,
    project_id: i64,
) -> Result<Vec<String>, CoreError> {
    let mut to = Recipients::default();
    for r in tx.project_roles(project_id).await? {
        if r.role == ProjectRole::Owner {
            to.add(notice_recipients(&tx.emails(r.user_id).await?));
        }
    }
    Ok(to.into_vec())
}

impl Services {
    /// The non-removed projects of which the user is the only Owner, by name.
    pub async fn sole_owned_projects(&self, user_id: i64) -> Result<Vec<String>, CoreError> {
        let mut out = Vec::new();
        for (p, role, _) in self.db.projects_of_user(user_id).await? {
            if role != ProjectRole::Owner || p.status == ProjectStatus::Removed {
                continue;
            }
            let owners = self
                .db
                .roles_of_project(p.id)
                .await?
                .iter()
                .filter(|r| r.role == ProjectRole::Owner)
                .count();
            if owners <= 1 {
                out.push(p.name);
            }
        }
        Ok(out)
    }

    /// Delete the session's own account. Needs a recent re-authentication
    /// (`CoreError::ReauthRequired`) and the username typed as confirmation.
    pub async fn delete_own_account(
        &self,
        session: &SessionInfo,
        confirm_username: &str,
        meta: &RequestMeta,
    ) -> Result<Deleted, CoreError> {
        self.check_writable().await?;
        if session.restricted_to_2fa_enrolment {
            return Err(CoreError::Forbidden(
                "Set up two-factor authentication first: until then this session may only enrol it."
                    .into(),
            ));
        }
        let user = self.user_or_404(session.user.id).await?;
        // Deleting the account removes every role it holds at once: during a recovery hold that
        // is the attacker's last move, so it waits out the hold (decided again inside the
        // deletion's transaction, see `delete_account`).
        self.check_hold(&user, HeldAction::DeleteAccount, None, meta)
            .await?;
        let sole = self.sole_owned_projects(user.id).await?;
        if !sole.is_empty() {
            self.log_sole_owner_refusal(&Actor::user(&user), &user, &sole, meta)
                .await;
            return Err(CoreError::Forbidden(sole_owner_message(&sole)));
        }
        self.require_recent_auth(session)?;
        if !confirm_username.trim().eq_ignore_ascii_case(&user.username) {
            return Err(CoreError::Invalid(
                "Type your username to confirm that you want to delete your account.".into(),
            ));
        }
        self.delete_account(&Actor::user(&user), &user, "deleted by its owner", meta)
            .await
    }

    /// Log that deleting `user` was refused because it is the last Owner of `sole`.
    async fn log_sole_owner_refusal(
        &self,
        actor: &Actor,
        user: &User,
        sole: &[String],
        meta: &RequestMeta,
    ) {
        let kind = crate::refusal_log::RefusalKind::LastOwner;
        let ev = self.event(
            actor,
            kind.action(),
            Subject {
                kind: "user",
                id: Some(user.id),
                name: Some(&user.username),
            },
            meta,
            serde_json::json!({"refused": "delete-account", "projects": sole}),
        );
        self.log_refusal(kind, crate::refusal_log::Source::Account(user.id), ev)
            .await;
    }

    /// Soft-delete `user` (refused while it is the sole Owner of a project), done by `actor`.
    pub async fn delete_account(
        &self,
        actor: &Actor,
        user: &User,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<Deleted, CoreError> {
        let now = self.now();
        let purge_after =
            now.saturating_add(days(self.settings.safety.deleted_account_retention_days));
        let mut tx = self.db.begin_account().await?;
        if actor.id == Some(user.id) {
            // The owner deleting its own account: decided on the row as it is now, held until
            // the deletion commits (`crate::credential_gate`), not on the session's copy.
            let now_user = self.lock_live_account(&mut tx, user.id).await?;
            if let Some(refusal) = self.hold_refusal(&now_user, HeldAction::DeleteAccount) {
                drop(tx);
                return Err(self
                    .log_hold_refusal(&now_user, HeldAction::DeleteAccount, None, meta, refusal)
                    .await);
            }
        }
        let mut events: Vec<NewEvent> = Vec::new();
        let mut mails: Vec<NewMail> = Vec::new();
        let mut done = Deleted {
            purge_after,
            ..Deleted::default()
        };
        let subject_user = Subject {
            kind: "user",
            id: Some(user.id),
            name: Some(&user.username),
        };
        // Roles, decided under each project's role lock: a concurrent removal of the other Owner
        // turns this into a refusal, never into an ownerless project.
        let mut sole = Vec::new();
        for (p, _, _) in self.db.projects_of_user(user.id).await? {
            match tx.remove_role(p.id, user.id).await? {
                RoleOutcome::Changed { previous } => {
                    let project = Subject {
                        kind: "project",
                        id: Some(p.id),
                        name: Some(&p.name),
                    };
                    events.push(self.event(
                        actor,
                        "role:remove",
                        project,
                        meta,
                        serde_json::json!({
                            "user_id": user.id, "user": user.username, "role": previous,
                            "reason": ROLE_REMOVAL_REASON,
                        }),
                    ));
                    for inv in tx.void_invitations_from(p.id, user.id, now).await? {
                        events.push(self.event(
                            actor,
                            "role:invite:void",
                            Subject {
                                kind: "project",
                                id: Some(p.id),
                                name: Some(&p.name),
                            },
                            meta,
                            serde_json::json!({
                                "user_id": inv.invitee_id, "user": inv.invitee_name,
                                "role": inv.role, "invitation_id": inv.id,
                                "reason": "inviter's account deleted",
                            }),
                        ));
                        done.invitations_voided += 1;
                    }
                    for c in tx
                        .pending_changes_by(p.id, user.id)
                        .await?
                        .into_iter()
                        .chain(tx.pending_changes_for(p.id, user.id).await?)
                    {
                        if tx
                            .end_role_change(c.id, RoleChangeStatus::Cancelled, now, &actor.name)
                            .await?
                        {
                            events.push(self.event(
                                actor,
                                "role:change:cancel",
                                Subject {
                                    kind: "project",
                                    id: Some(p.id),
                                    name: Some(&p.name),
                                },
                                meta,
                                serde_json::json!({
                                    "change_id": c.id, "user_id": c.target_id,
                                    "user": c.target_name, "reason": "account deleted",
                                }),
                            ));
                        }
                    }
                    let to = addresses_of_owners(&mut tx, p.id).await?;
                    mails.extend(notice(
                        &to,
                        &format!("{} left {}", user.username, p.name),
                        &format!(
                            "The account {} was deleted, so it is no longer {previous} of the project {}.",
                            user.username, p.name
                        ),
                    ));
                    done.roles_removed.push((p.name.clone(), previous));
                }
                RoleOutcome::LastOwner if p.status == ProjectStatus::Removed => {}
                RoleOutcome::LastOwner => sole.push(p.name.clone()),
                _ => {}
            }
        }
        if !sole.is_empty() {
            // Nothing is kept: end the transaction before the refusal's event goes in.
            drop(tx);
            self.log_sole_owner_refusal(actor, user, &sole, meta).await;
            return Err(CoreError::Forbidden(sole_owner_message(&sole)));
        }
        for (id, project_id, project_name) in tx.void_invitations_to(user.id, now).await? {
            events.push(self.event(
                actor,
                "role:invite:void",
                Subject {
                    kind: "project",
                    id: Some(project_id),
                    name: Some(&project_name),
                },
                meta,
                serde_json::json!({
                    "user_id": user.id, "user": user.username, "invitation_id": id,
                    "reason": "invitee's account deleted",
                }),
            ));
            done.invitations_voided += 1;
        }
        if !tx
            .soft_delete_user(user.id, reason, purge_after, now)
            .await?
        {
            return Err(CoreError::NotFound("No such user.".into()));
        }
        let invites_revoked = self
            .revoke_invites_made_by(
                &mut tx,
                actor,
                user,
                &format!("{} made it, then was deleted", user.username),
                meta,
            )
            .await?;
        done.registration_invites_revoked = invites_revoked.len();
        events.extend(invites_revoked);
        done.sessions_ended = tx.end_sessions(user.id, None, now).await?;
        done.tokens_revoked = tx.revoke_all_tokens(user.id, now).await?;
        tx.invalidate_email_tokens(
            user.id,
            &[
                purpose::RESET_PASSWORD,
                purpose::VERIFY_EMAIL,
                purpose::CONFIRM_2FA_EMAIL,
                purpose::FREEZE_ACCOUNT,
            ],
            now,
        )
        .await?;
        mails.extend(notice(
            &notice_recipients(&tx.emails(user.id).await?),
            "Your account was deleted",
            &format!(
                "The account {} was deleted: every session and API token ended and it left {} project(s). Its username stays reserved. Its personal data is kept until {} UTC for investigation, then purged; until then the index administrators can restore it.",
                user.username,
                done.roles_removed.len(),
                iso8601_seconds(purge_after)
            ),
        ));
        events.push(self.event(
            actor,
            "account:delete",
            subject_user,
            meta,
            serde_json::json!({
                "reason": reason,
                "purge_after": purge_after,
                "roles_removed": done.roles_removed.iter().map(|(p, r)| serde_json::json!({"project": p, "role": r})).collect::<Vec<_>>(),
                "invitations_voided": done.invitations_voided,
                "sessions_ended": done.sessions_ended,
                "tokens_revoked": done.tokens_revoked,
                "registration_invites_revoked": done.registration_invites_revoked,
            }),
        ));
        tx.commit(&events, &mails).await?;
        Ok(done)
    }

    /// The periodic job: purge the personal data of deleted accounts whose retention is over.
    pub(crate) async fn purge_job(&self) -> Result<Vec<String>, CoreError> {
        let now = self.now();
        let actor = Actor {
            id: None,
            name: "job:retention".into(),
        };
        let mut lines = Vec::new();
        for due in self.db.accounts_due_for_purge(now, 100).await? {
            let mut tx = self.db.begin_account().await?;
            let Some(gone) = tx.purge_user(due.user_id, now).await? else {
                continue; // restored or purged meanwhile
            };
            let ev = self.event(
                &actor,
                "account:purge",
                Subject {
                    kind: "user",
                    id: Some(due.user_id),
                    name: Some(&due.username),
                },
                &RequestMeta::default(),
                serde_json::json!({
                    "deleted_at": due.deleted_at,
                    "emails": gone.emails, "second_factors": gone.second_factors,
                    "recovery_codes": gone.recovery_codes, "sessions": gone.sessions,
                    "registration_invites": gone.registration_invites,
                    "reason": "retention period over",
                }),
            );
            tx.commit(&[ev], &[]).await?;
            lines.push(format!(
                "purged the personal data of deleted account {}",
                due.username
            ));
        }
        Ok(lines)
    }
}
