//! Project ownership: Owners invite by username (the invitee must have a verified address; the
//! invitation expires, is bound to the invitee and is voided when the inviter stops being an
//! Owner), change roles and remove members; the last Owner stays. A newcomer Owner removing or
//! demoting an Owner of longer standing is held for a cooling-off period the target can veto by
//! mail (and report the acting account to the administrators, who alone freeze); so is anyone's
//! removal or demotion of an Owner on a recovery hold or watch (her recovery never makes her
//! easier to remove). Only the asker withdraws a held change; an admin may approve it early;
//! the periodic job applies it. Every change is mailed to all Owners (the removed one included) and logged, in the same
//! transaction as the change.

use strongroom_store::model::{Invitation, Project, ReleaseSummary, Role, RoleChange, User};
use strongroom_store::{AccountTx, NewEvent, NewMail, RoleOutcome, StoreError};
use strongroom_store::{ProjectRole, ProjectStatus, RoleChangeStatus};

use crate::clock::iso8601_seconds;
use crate::hold::HeldAction;
use crate::mail::{notice, notice_recipients};
use crate::secrets::hash_token;
use crate::secrets::random_secret;
use crate::settings::{days, hours};
use crate::visibility::{ListedRelease, Sight, State, Viewer};
use crate::{Actor, CoreError, RequestMeta, Services, Subject};

mod changes;
mod held_changes;
pub use held_changes::{FREEZE_REQUESTED, Veto};
mod invitations;
mod releases;

/// The event (a high-severity admin signal) beside `role:change:pending` when the change is
/// held because its target, an Owner, is on a recovery hold or watch.
pub const RECOVERED_OWNER_CHANGE: &str = "role:change:pending:recovered-owner";

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
    pub my_role: ProjectRole,
    pub members: Vec<Role>,
    /// Pending, unexpired invitations.
    pub invitations: Vec<Invitation>,
    /// Removals and demotions waiting for their veto window.
    pub pending_changes: Vec<RoleChange>,
    /// Public releases (the ones Owners act on), newest first, without their metadata.
    pub releases: Vec<ReleaseSummary>,
    /// Releases the members see but the public does not (held for review, or the whole
    /// project quarantined), newest first: listed, no actions, no downloads.
    pub listed: Vec<ListedRelease>,
}

/// A veto link's change, as the veto page shows it before anything is done.
#[derive(Debug, Clone)]
pub struct VetoView {
    pub change: RoleChange,
}

/// The role a form names: `Owner` or `Maintainer`, in any case.
pub fn parse_role(role: &str) -> Result<ProjectRole, CoreError> {
    let role = role.trim();
    ProjectRole::ALL
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(role))
        .ok_or_else(|| {
            CoreError::Invalid(format!(
                "Unknown role '{role}': choose Owner or Maintainer."
            ))
        })
}

/// Who counts as new to a project's ownership, and who as established. A role is established
/// once it has been held for `ownership.newcomer_days`, counted from when it was granted, or,
/// for a role that inherited a watch from the watched account that granted it, from when that
/// watch ends (`roles.watch_until`): standing is never earned through a watched account. An
/// account is a newcomer while its role is not established, and also while it is watched after
/// an account recovery (`recovery.watch_days`): whoever just took an old account back, owner or
/// attacker, gets the newcomer's limits, not the old account's standing.
impl Services {
    pub(crate) fn is_newcomer(&self, actor: &User, mine: &Role) -> bool {
        let safety = &self.settings.safety;
        !self.is_established(mine)
            || crate::watch::under_watch(actor.recovered_at, self.now(), safety.recovery_watch_days)
    }

    /// Whether `target`'s role was granted by `actor`'s account inside one of that account's
    /// incident windows (recorded by a freeze or a restore): whoever held the account then may
    /// have been the attacker, so the owner may take it back without a cooling-off or a hold.
    pub(crate) async fn granted_in_incident(
        &self,
        tx: &mut AccountTx,
        project_id: i64,
        target: &Role,
        actor: &User,
    ) -> Result<bool, CoreError> {
        if tx.role_granted_by(project_id, target.user_id).await? != Some(actor.id) {
            return Ok(false);
        }
        Ok(self
            .db
            .incidents_of(actor.id)
            .await?
            .iter()
            .any(|i| i.window_start < i.window_end && i.covers(target.granted_at)))
    }

    /// Whether the account is on a recovery hold or within its recovery watch
    /// (`recovery.watch_days`, [`crate::watch::Watch::Recovered`]).
    pub(crate) fn is_recovering(&self, user: &User) -> bool {
        let now = self.now();
        crate::hold::is_held(user, now)
            || crate::watch::under_watch(
                user.recovered_at,
                now,
                self.settings.safety.recovery_watch_days,
            )
    }

    /// Whether a role is established: held for `newcomer_days` since it was granted, or since
    /// the watch it inherited ended, whichever is later.
    pub(crate) fn is_established(&self, role: &Role) -> bool {
        let clock_from = role
            .watch_until
            .map_or(role.granted_at, |w| w.max(role.granted_at));
        self.now().saturating_sub(clock_from) >= days(self.settings.safety.newcomer_days)
    }

    /// Whether `target` is an Owner a newcomer (`mine` its role) must not remove, demote or
    /// outrun: older in the role than the newcomer, or established.
    pub(crate) fn is_elder_owner(&self, target: &Role, mine: &Role) -> bool {
        target.role == ProjectRole::Owner
            && target.user_id != mine.user_id
            && (target.granted_at < mine.granted_at || self.is_established(target))
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
        .filter(|r| r.role == ProjectRole::Owner)
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
    role: ProjectRole,
}

impl<'a> Member<'a> {
    /// An account and a role.
    fn user(u: &'a User, role: ProjectRole) -> Self {
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
            role: r.role,
        }
    }

    /// An invitation's invitee with the role offered.
    fn invitee(i: &'a Invitation) -> Self {
        Member {
            id: i.invitee_id,
            name: &i.invitee_name,
            role: i.role,
        }
    }

    /// The Owner a held change is about.
    fn change_target(c: &'a RoleChange) -> Self {
        Member {
            id: c.target_id,
            name: &c.target_name,
            role: ProjectRole::Owner,
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
        .filter(|r| r.role == ProjectRole::Owner)
        .count())
}

/// Whether the project's members see it (its manage page, their project list).
fn member_sees(p: &Project) -> bool {
    State::of_project(p.status).sight(Viewer::Member) != Sight::Hidden
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
    status: RoleChangeStatus,
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

    /// The project by name, if its members see it at all ([`crate::visibility`]: removed
    /// projects do not exist for them).
    async fn project_named(&self, name: &str) -> Result<Project, CoreError> {
        let normalized = strongroom_protocol::name::normalize(name);
        self.db
            .project_by_normalized(&normalized)
            .await?
            .filter(member_sees)
            .ok_or_else(|| CoreError::NotFound(format!("No such project: {name}")))
    }

    /// Refuse any change to a project that is not active (quarantined by an admin).
    fn check_active(p: &Project) -> Result<(), CoreError> {
        if p.status != ProjectStatus::Active {
            return Err(CoreError::Forbidden(format!(
                "The project {} is {} by the index administrators: its owners cannot change anything until it is released.",
                p.name, p.status
            )));
        }
        Ok(())
    }

    /// Open a change on the project: writable site, active project, role lock taken, and the
    /// actor's role read inside the transaction (must be Owner unless `any_member`). The actor
    /// comes back as its row is now, held until the change ends ([`crate::credential_gate`]):
    /// a freeze or deletion committed after the session was loaded refuses the change here, and
    /// the hold checks that follow decide on this row, not on the session's copy.
    async fn begin_project(
        &self,
        actor: &User,
        project: &str,
        any_member: bool,
    ) -> Result<(Project, Role, AccountTx, User), CoreError> {
        self.check_writable().await?;
        let p = self.project_named(project).await?;
        let mut tx = self.db.begin_account().await?;
        let actor = self.lock_live_account(&mut tx, actor.id).await?;
        let p = tx
            .lock_project_roles(p.id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("No such project: {project}")))?;
        let Some(mine) = tx.role_in(p.id, actor.id).await? else {
            return Err(CoreError::NotFound(format!("No such project: {project}")));
        };
        Self::check_active(&p)?;
        if !any_member && mine.role != ProjectRole::Owner {
            return Err(CoreError::Forbidden(format!(
                "Only Owners of {} can do this; you are a {}.",
                p.name, mine.role
            )));
        }
        Ok((p, mine, tx, actor))
    }

    /// The projects the user holds a role on: (project, role, since), by name.
    pub async fn my_projects(
        &self,
        user_id: i64,
    ) -> Result<Vec<(Project, ProjectRole, i64)>, CoreError> {
        Ok(self
            .db
            .projects_of_user(user_id)
            .await?
            .into_iter()
            .filter(|(p, _, _)| member_sees(p))
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
        let listed = self.member_listed_releases(&p).await?;
        Ok(ProjectManage {
            listed,
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
}
