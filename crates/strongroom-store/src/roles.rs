//! Project roles, invitations to them and role changes held for the cooling-off period.
//!
//! Every change runs inside an [`AccountTx`] (so it commits with its events and mails) after
//! [`AccountTx::lock_project_roles`]: on PostgreSQL a transaction-scoped advisory lock per
//! project serialises role changes, so the "at least one Owner" rule is decided on what is
//! committed, never on a stale snapshot; on SQLite the single write connection already does.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::account_tx::AccountTx;
use crate::error::conflict_or;
use crate::model::{Invitation, Project, Role, RoleChange};
use crate::projects::{PROJECT_COLS, ROLE_SELECT, project_from_row, role_from_row};
use crate::rows::{all, optional, query};
use crate::states::{InvitationStatus, ProjectRole, RoleChangeKind, RoleChangeStatus};
use crate::{Db, Dialect, StoreError};

/// Advisory-lock key space of the per-project role lock (the event tail uses 7265001).
const ROLE_LOCK_BASE: i64 = 0x5352_0000_0000_0000;

/// What a removal or role change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleOutcome {
    /// Done; carries the role the user held before.
    Changed { previous: ProjectRole },
    /// The user holds no role on the project.
    NotMember,
    /// Refused: it would leave the project without an Owner.
    LastOwner,
    /// Nothing to do (already that role).
    Unchanged,
}

const INVITATION_SELECT: &str = "SELECT i.id, i.project_id, p.name AS project_name, i.invitee_id, \
     ie.username AS invitee_name, i.inviter_id, ir.username AS inviter_name, i.role, i.created_at, \
     i.expires_at, i.status FROM role_invitations i JOIN projects p ON p.id = i.project_id \
     JOIN users ie ON ie.id = i.invitee_id JOIN users ir ON ir.id = i.inviter_id";

const CHANGE_SELECT: &str = "SELECT c.id, c.project_id, p.name AS project_name, c.target_id, \
     t.username AS target_name, c.actor_id, a.username AS actor_name, c.kind, c.new_role, \
     c.created_at, c.effective_at, c.status FROM role_changes c JOIN projects p ON p.id = c.project_id \
     JOIN users t ON t.id = c.target_id JOIN users a ON a.id = c.actor_id";

fn invitation_from_row(r: &AnyRow) -> Result<Invitation, sqlx::Error> {
    Ok(Invitation {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        project_name: r.try_get("project_name")?,
        invitee_id: r.try_get("invitee_id")?,
        invitee_name: r.try_get("invitee_name")?,
        inviter_id: r.try_get("inviter_id")?,
        inviter_name: r.try_get("inviter_name")?,
        role: ProjectRole::decode("role_invitations.role", &r.try_get::<String, _>("role")?)?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        status: InvitationStatus::decode(
            "role_invitations.status",
            &r.try_get::<String, _>("status")?,
        )?,
    })
}

fn change_from_row(r: &AnyRow) -> Result<RoleChange, sqlx::Error> {
    Ok(RoleChange {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        project_name: r.try_get("project_name")?,
        target_id: r.try_get("target_id")?,
        target_name: r.try_get("target_name")?,
        actor_id: r.try_get("actor_id")?,
        actor_name: r.try_get("actor_name")?,
        kind: RoleChangeKind::decode("role_changes.kind", &r.try_get::<String, _>("kind")?)?,
        new_role: r
            .try_get::<Option<String>, _>("new_role")?
            .map(|n| ProjectRole::decode("role_changes.new_role", &n))
            .transpose()?,
        created_at: r.try_get("created_at")?,
        effective_at: r.try_get("effective_at")?,
        status: RoleChangeStatus::decode(
            "role_changes.status",
            &r.try_get::<String, _>("status")?,
        )?,
    })
}

impl Db {
    /// A project by id (any status).
    pub async fn project_by_id(&self, id: i64) -> Result<Option<Project>, StoreError> {
        let sql = format!("SELECT {PROJECT_COLS} FROM projects WHERE id = $1");
        optional(query(sql).bind(id), &self.read, project_from_row).await
    }

    /// The projects a user holds a role on, with the role: (project, role, granted_at), by name.
    pub async fn projects_of_user(
        &self,
        user_id: i64,
    ) -> Result<Vec<(Project, ProjectRole, i64)>, StoreError> {
        let cols = PROJECT_COLS
            .split(", ")
            .map(|c| format!("p.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols}, r.role AS role, r.granted_at AS granted_at FROM roles r \
             JOIN projects p ON p.id = r.project_id WHERE r.user_id = $1 ORDER BY p.normalized_name"
        );
        all(query(sql).bind(user_id), &self.read, |r| {
            Ok((
                project_from_row(r)?,
                ProjectRole::decode("roles.role", &r.try_get::<String, _>("role")?)?,
                r.try_get("granted_at")?,
            ))
        })
        .await
    }

    /// One invitation by id (any status).
    pub async fn invitation(&self, id: i64) -> Result<Option<Invitation>, StoreError> {
        let sql = format!("{INVITATION_SELECT} WHERE i.id = $1");
        optional(query(sql).bind(id), &self.read, invitation_from_row).await
    }

    /// The project's pending invitations (expired ones included until the job marks them), oldest first.
    pub async fn pending_invitations_of_project(
        &self,
        project_id: i64,
    ) -> Result<Vec<Invitation>, StoreError> {
        let sql = format!(
            "{INVITATION_SELECT} WHERE i.project_id = $1 AND i.status = 'pending' ORDER BY i.id"
        );
        all(query(sql).bind(project_id), &self.read, invitation_from_row).await
    }

    /// The invitations addressed to a user that are still pending, oldest first.
    pub async fn pending_invitations_for_user(
        &self,
        user_id: i64,
    ) -> Result<Vec<Invitation>, StoreError> {
        let sql = format!(
            "{INVITATION_SELECT} WHERE i.invitee_id = $1 AND i.status = 'pending' ORDER BY i.id"
        );
        all(query(sql).bind(user_id), &self.read, invitation_from_row).await
    }

    /// Pending invitations whose time ran out at `now`.
    pub async fn overdue_invitations(&self, now: i64) -> Result<Vec<Invitation>, StoreError> {
        let sql = format!(
            "{INVITATION_SELECT} WHERE i.status = 'pending' AND i.expires_at <= $1 ORDER BY i.id"
        );
        all(query(sql).bind(now), &self.read, invitation_from_row).await
    }

    /// One held role change by id (any status).
    pub async fn role_change(&self, id: i64) -> Result<Option<RoleChange>, StoreError> {
        let sql = format!("{CHANGE_SELECT} WHERE c.id = $1");
        optional(query(sql).bind(id), &self.read, change_from_row).await
    }

    /// The project's pending role changes, soonest first.
    pub async fn pending_role_changes(
        &self,
        project_id: i64,
    ) -> Result<Vec<RoleChange>, StoreError> {
        let sql = format!(
            "{CHANGE_SELECT} WHERE c.project_id = $1 AND c.status = 'pending' ORDER BY c.effective_at, c.id"
        );
        all(query(sql).bind(project_id), &self.read, change_from_row).await
    }

    /// Every pending role change whose veto window has passed at `now`, soonest first.
    pub async fn due_role_changes(&self, now: i64) -> Result<Vec<RoleChange>, StoreError> {
        let sql = format!(
            "{CHANGE_SELECT} WHERE c.status = 'pending' AND c.effective_at <= $1 ORDER BY c.effective_at, c.id"
        );
        all(query(sql).bind(now), &self.read, change_from_row).await
    }

    /// Every pending role change on any project (admin listing), soonest first.
    pub async fn all_pending_role_changes(&self) -> Result<Vec<RoleChange>, StoreError> {
        let sql =
            format!("{CHANGE_SELECT} WHERE c.status = 'pending' ORDER BY c.effective_at, c.id");
        all(query(sql), &self.read, change_from_row).await
    }
}

impl AccountTx {
    /// Serialise role changes on this project until the transaction ends, and read the project.
    /// Call it before reading roles to decide anything (the last-Owner rule).
    pub async fn lock_project_roles(
        &mut self,
        project_id: i64,
    ) -> Result<Option<Project>, StoreError> {
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(ROLE_LOCK_BASE | project_id)
                .execute(&mut *self.tx)
                .await?;
        }
        let sql = format!("SELECT {PROJECT_COLS} FROM projects WHERE id = $1");
        optional(query(sql).bind(project_id), &mut *self.tx, project_from_row).await
    }

    /// Everyone with a role on the project, read inside the transaction (Owners first).
    pub async fn project_roles(&mut self, project_id: i64) -> Result<Vec<Role>, StoreError> {
        let sql =
            format!("{ROLE_SELECT} WHERE r.project_id = $1 ORDER BY r.role DESC, u.username_lower");
        all(query(sql).bind(project_id), &mut *self.tx, role_from_row).await
    }

    /// The user's role on the project, read inside the transaction.
    pub async fn role_in(
        &mut self,
        project_id: i64,
        user_id: i64,
    ) -> Result<Option<Role>, StoreError> {
        let sql = format!("{ROLE_SELECT} WHERE r.project_id = $1 AND r.user_id = $2");
        optional(
            query(sql).bind(project_id).bind(user_id),
            &mut *self.tx,
            role_from_row,
        )
        .await
    }

    /// Grant a role; `Conflict("role")` when the user already holds one on the project.
    pub async fn insert_role(
        &mut self,
        project_id: i64,
        user_id: i64,
        role: ProjectRole,
        at: i64,
        granted_by: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO roles (project_id, user_id, role, granted_at, granted_by) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(at)
        .bind(granted_by)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| conflict_or(e, "role"))?;
        Ok(())
    }

    /// Record that the member's role inherited a watch lasting until `until` (kept when a
    /// longer one is already recorded).
    pub async fn set_role_watch(
        &mut self,
        project_id: i64,
        user_id: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE roles SET watch_until = $1 WHERE project_id = $2 AND user_id = $3 \
             AND (watch_until IS NULL OR watch_until < $1)",
        )
        .bind(until)
        .bind(project_id)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn owner_count(&mut self, project_id: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM roles WHERE project_id = $1 AND role = 'Owner'",
        )
        .bind(project_id)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// Set a member's role (the time it was granted restarts). Refuses to demote the last Owner.
    /// Takes the project's role lock itself.
    pub async fn change_role(
        &mut self,
        project_id: i64,
        user_id: i64,
        role: ProjectRole,
        at: i64,
        granted_by: Option<i64>,
    ) -> Result<RoleOutcome, StoreError> {
        self.lock_project_roles(project_id).await?;
        let Some(current) = self.role_in(project_id, user_id).await? else {
            return Ok(RoleOutcome::NotMember);
        };
        if current.role == role {
            return Ok(RoleOutcome::Unchanged);
        }
        if current.role == ProjectRole::Owner && self.owner_count(project_id).await? <= 1 {
            return Ok(RoleOutcome::LastOwner);
        }
        sqlx::query(
            "UPDATE roles SET role = $1, granted_at = $2, granted_by = $3 WHERE project_id = $4 AND user_id = $5",
        )
        .bind(role.as_str())
        .bind(at)
        .bind(granted_by)
        .bind(project_id)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(RoleOutcome::Changed {
            previous: current.role,
        })
    }

    /// Remove a member. Refuses to remove the last Owner. Takes the project's role lock itself.
    pub async fn remove_role(
        &mut self,
        project_id: i64,
        user_id: i64,
    ) -> Result<RoleOutcome, StoreError> {
        self.lock_project_roles(project_id).await?;
        let Some(current) = self.role_in(project_id, user_id).await? else {
            return Ok(RoleOutcome::NotMember);
        };
        if current.role == ProjectRole::Owner && self.owner_count(project_id).await? <= 1 {
            return Ok(RoleOutcome::LastOwner);
        }
        sqlx::query("DELETE FROM roles WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(RoleOutcome::Changed {
            previous: current.role,
        })
    }

    /// One invitation by id, read inside the transaction.
    pub async fn invitation(&mut self, id: i64) -> Result<Option<Invitation>, StoreError> {
        let sql = format!("{INVITATION_SELECT} WHERE i.id = $1");
        optional(query(sql).bind(id), &mut *self.tx, invitation_from_row).await
    }

    /// Mark the pending invitations of this project to this invitee whose time ran out as
    /// `expired` (lazy expiry, before a new one is sent); returns them.
    pub async fn expire_invitations_to(
        &mut self,
        project_id: i64,
        invitee_id: i64,
        now: i64,
    ) -> Result<Vec<Invitation>, StoreError> {
        let sql = format!(
            "{INVITATION_SELECT} WHERE i.project_id = $1 AND i.invitee_id = $2 AND i.status = 'pending' AND i.expires_at <= $3"
        );
        let overdue = all(
            query(sql).bind(project_id).bind(invitee_id).bind(now),
            &mut *self.tx,
            invitation_from_row,
        )
        .await?;
        self.end_invitations(overdue, InvitationStatus::Expired, now)
            .await
    }

    /// Send an invitation; `Conflict("invitation")` when one is already pending for this
    /// project and invitee (the partial unique index decides, even under races).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_invitation(
        &mut self,
        project_id: i64,
        invitee_id: i64,
        inviter_id: i64,
        role: ProjectRole,
        at: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO role_invitations (project_id, invitee_id, inviter_id, role, created_at, expires_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending') RETURNING id",
        )
        .bind(project_id)
        .bind(invitee_id)
        .bind(inviter_id)
        .bind(role.as_str())
        .bind(at)
        .bind(expires_at)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| conflict_or(e, "invitation"))
    }

    /// End a pending invitation with `status` (`accepted`, `declined`, `revoked`, `expired`,
    /// `voided`); false when it was not pending any more (someone else ended it first).
    pub async fn end_invitation(
        &mut self,
        id: i64,
        status: InvitationStatus,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE role_invitations SET status = $1, ended_at = $2 WHERE id = $3 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(at)
        .bind(id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// End each of these invitations with `status`; returns the ones this call ended (as ended).
    async fn end_invitations(
        &mut self,
        invitations: Vec<Invitation>,
        status: InvitationStatus,
        at: i64,
    ) -> Result<Vec<Invitation>, StoreError> {
        let mut ended = Vec::new();
        for i in invitations {
            if self.end_invitation(i.id, status, at).await? {
                ended.push(Invitation { status, ..i });
            }
        }
        Ok(ended)
    }

    /// Void every pending invitation `inviter_id` sent on the project (they stopped being an
    /// Owner); returns the voided invitations.
    pub async fn void_invitations_from(
        &mut self,
        project_id: i64,
        inviter_id: i64,
        at: i64,
    ) -> Result<Vec<Invitation>, StoreError> {
        let sql = format!(
            "{INVITATION_SELECT} WHERE i.project_id = $1 AND i.inviter_id = $2 AND i.status = 'pending' ORDER BY i.id"
        );
        let sent = all(
            query(sql).bind(project_id).bind(inviter_id),
            &mut *self.tx,
            invitation_from_row,
        )
        .await?;
        self.end_invitations(sent, InvitationStatus::Voided, at)
            .await
    }

    /// Void every pending invitation `inviter_id` sent, on any project (its account went on a
    /// recovery hold); returns the voided invitations.
    pub async fn void_all_invitations_from(
        &mut self,
        inviter_id: i64,
        at: i64,
    ) -> Result<Vec<Invitation>, StoreError> {
        let sql = format!(
            "{INVITATION_SELECT} WHERE i.inviter_id = $1 AND i.status = 'pending' ORDER BY i.id"
        );
        let sent = all(
            query(sql).bind(inviter_id),
            &mut *self.tx,
            invitation_from_row,
        )
        .await?;
        self.end_invitations(sent, InvitationStatus::Voided, at)
            .await
    }

    /// Cancel every pending held change `actor_id` asked for, on any project; returns them.
    pub async fn cancel_all_changes_by(
        &mut self,
        actor_id: i64,
        at: i64,
        by: &str,
    ) -> Result<Vec<RoleChange>, StoreError> {
        let sql =
            format!("{CHANGE_SELECT} WHERE c.actor_id = $1 AND c.status = 'pending' ORDER BY c.id");
        let asked = all(query(sql).bind(actor_id), &mut *self.tx, change_from_row).await?;
        let mut cancelled = Vec::new();
        for c in asked {
            if self
                .end_role_change(c.id, RoleChangeStatus::Cancelled, at, by)
                .await?
            {
                cancelled.push(RoleChange {
                    status: RoleChangeStatus::Cancelled,
                    ..c
                });
            }
        }
        Ok(cancelled)
    }

    /// Hold a removal (`kind` `remove`) or demotion (`demote`, with `new_role`) for the
    /// cooling-off period; returns the change's id.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_role_change(
        &mut self,
        project_id: i64,
        target_id: i64,
        actor_id: i64,
        kind: RoleChangeKind,
        new_role: Option<ProjectRole>,
        at: i64,
        effective_at: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO role_changes (project_id, target_id, actor_id, kind, new_role, created_at, effective_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') RETURNING id",
        )
        .bind(project_id)
        .bind(target_id)
        .bind(actor_id)
        .bind(kind.as_str())
        .bind(new_role.map(ProjectRole::as_str))
        .bind(at)
        .bind(effective_at)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// One held role change by id, read inside the transaction.
    pub async fn role_change(&mut self, id: i64) -> Result<Option<RoleChange>, StoreError> {
        let sql = format!("{CHANGE_SELECT} WHERE c.id = $1");
        optional(query(sql).bind(id), &mut *self.tx, change_from_row).await
    }

    /// The pending changes on the project that target this user.
    pub async fn pending_changes_for(
        &mut self,
        project_id: i64,
        target_id: i64,
    ) -> Result<Vec<RoleChange>, StoreError> {
        let sql = format!(
            "{CHANGE_SELECT} WHERE c.project_id = $1 AND c.target_id = $2 AND c.status = 'pending' ORDER BY c.id"
        );
        all(
            query(sql).bind(project_id).bind(target_id),
            &mut *self.tx,
            change_from_row,
        )
        .await
    }

    /// The pending changes on the project made by this user.
    pub async fn pending_changes_by(
        &mut self,
        project_id: i64,
        actor_id: i64,
    ) -> Result<Vec<RoleChange>, StoreError> {
        let sql = format!(
            "{CHANGE_SELECT} WHERE c.project_id = $1 AND c.actor_id = $2 AND c.status = 'pending' ORDER BY c.id"
        );
        all(
            query(sql).bind(project_id).bind(actor_id),
            &mut *self.tx,
            change_from_row,
        )
        .await
    }

    /// Every pending change targeting `target_id`, on any project (read in the change).
    pub async fn pending_changes_targeting(
        &mut self,
        target_id: i64,
    ) -> Result<Vec<RoleChange>, StoreError> {
        let sql = format!(
            "{CHANGE_SELECT} WHERE c.target_id = $1 AND c.status = 'pending' ORDER BY c.id"
        );
        all(query(sql).bind(target_id), &mut *self.tx, change_from_row).await
    }

    /// Move a pending change's effective time; `false` when it is not pending any more.
    pub async fn reschedule_role_change(
        &mut self,
        id: i64,
        effective_at: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE role_changes SET effective_at = $1 WHERE id = $2 AND status = 'pending'",
        )
        .bind(effective_at)
        .bind(id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// End a pending change with `status` (`applied`, `vetoed`, `approved`, `cancelled`);
    /// false when it was not pending any more (single outcome, even under races).
    pub async fn end_role_change(
        &mut self,
        id: i64,
        status: RoleChangeStatus,
        at: i64,
        by: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE role_changes SET status = $1, ended_at = $2, ended_by = $3 WHERE id = $4 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(at)
        .bind(by.to_owned())
        .bind(id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Store a mail token that acts on something beyond its account (`subject_id`: the role
    /// change a veto link vetoes); returns its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_subject_token(
        &mut self,
        token_hash: &str,
        user_id: i64,
        purpose: &str,
        subject_id: i64,
        at: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO email_tokens (token_hash, user_id, email_id, purpose, created_at, expires_at, subject_id) \
             VALUES ($1, $2, NULL, $3, $4, $5, $6) RETURNING id",
        )
        .bind(token_hash.to_owned())
        .bind(user_id)
        .bind(purpose.to_owned())
        .bind(at)
        .bind(expires_at)
        .bind(subject_id)
        .fetch_one(&mut *self.tx)
        .await?)
    }
}

impl Db {
    /// What a mail token acts on (`email_tokens.subject_id`), found by the secret's hash.
    pub async fn email_token_subject(&self, token_hash: &str) -> Result<Option<i64>, StoreError> {
        let r: Option<Option<i64>> =
            sqlx::query_scalar("SELECT subject_id FROM email_tokens WHERE token_hash = $1")
                .bind(token_hash.to_owned())
                .fetch_optional(&self.read)
                .await?;
        Ok(r.flatten())
    }
}
