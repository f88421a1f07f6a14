//! Admin interventions on accounts and the site: restore a deleted account with the roles it
//! held (replayed from the event log), the site switches (freezing is `crate::freeze`, handing
//! an account back `crate::handback`). Every change needs a reason, and is one transaction with
//! its event (and its mails).

use std::collections::BTreeMap;

use strongroom_store::admin::AdminTx;
use strongroom_store::model::User;
use strongroom_store::site_flags::{NO_NEW_PROJECTS, READ_ONLY};
use strongroom_store::{ProjectRole, ProjectStatus};

use crate::{Actor, CoreError, RequestMeta, Services, Subject};

/// Proof that an administrator acts: a signed-in admin account (its session checked by
/// [`Services::admin_cap`]) or the operator at the terminal ([`Services::operator_cap`]). Its
/// field is private and it has no public constructor, so only core mints one: a caller cannot
/// claim [`Authority::Admin`] or call an `admin_*` operation without having been checked.
#[derive(Debug, Clone)]
pub struct AdminCap {
    actor: Actor,
}

impl AdminCap {
    /// The administrator, as the event log names them.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// A capability for core's own tests.
    #[cfg(test)]
    pub(crate) fn test(actor: Actor) -> AdminCap {
        AdminCap { actor }
    }
}

impl Services {
    /// The admin capability of a session: its account is an administrator and the session is
    /// not limited to enrolling a second factor. `None` for everyone else.
    pub fn admin_cap(&self, session: &crate::SessionInfo) -> Option<AdminCap> {
        (session.user.is_admin && !session.restricted_to_2fa_enrolment).then(|| AdminCap {
            actor: Actor::user(&session.user),
        })
    }

    /// The operator at the terminal (`strongroom admin …`): whoever runs the CLI already holds
    /// the database and the secrets key. Only the CLI may call this (the server crate's
    /// clippy.toml forbids it there).
    pub fn operator_cap(&self, actor: Actor) -> AdminCap {
        AdminCap { actor }
    }
}

/// Who removes a release, a file or a project: an administrator (web admin area or CLI), or an
/// Owner of the project acting on it from the project's manage page.
#[derive(Debug, Clone, Copy)]
pub enum Authority<'a> {
    /// An administrator or the CLI operator: only core mints the [`AdminCap`].
    Admin(&'a AdminCap),
    /// An account acting as an Owner: it must hold the Owner role on an active project.
    Owner(&'a User),
}

impl Authority<'_> {
    /// The event log's actor.
    pub fn actor(&self) -> Actor {
        match self {
            Authority::Admin(a) => a.actor.clone(),
            Authority::Owner(u) => Actor::user(u),
        }
    }

    /// Whether an administrator acts.
    pub fn is_admin(&self) -> bool {
        matches!(self, Authority::Admin(_))
    }
}

/// The longest reason kept.
const MAX_REASON: usize = 1000;

/// Refuse control characters (terminal escapes, newlines) and bidirectional-text controls in a
/// reason: reasons are shown on terminals (`audit`, the admin CLI), in HTML attributes (a yank
/// reason in `data-yanked`) and in published records (a rejection's OSV `details`), where such a
/// character could rewrite what the reader sees.
pub fn check_reason_text(reason: &str) -> Result<(), CoreError> {
    if let Some(c) = reason
        .chars()
        .find(|c| c.is_control() || strongroom_scan::archive::is_bidi_control(*c))
    {
        return Err(CoreError::Invalid(format!(
            "The reason contains the control character U+{:04X}: write it as plain text on one line.",
            u32::from(c)
        )));
    }
    Ok(())
}

/// A reason is required for every admin change.
pub fn require_reason(reason: &str) -> Result<&str, CoreError> {
    let r = reason.trim();
    check_reason_text(r)?;
    if r.is_empty() {
        return Err(CoreError::Invalid(
            "A reason is required (--reason TEXT): it goes into the event log.".into(),
        ));
    }
    if r.chars().count() > MAX_REASON {
        return Err(CoreError::Invalid(format!(
            "The reason is too long (at most {MAX_REASON} characters)."
        )));
    }
    Ok(r)
}

/// A site switch an admin flips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteSwitch {
    /// `read_only`: no change to the index (uploads refused); reads keep working.
    ReadOnly,
    /// `no_new_projects`: uploads that would create a project are refused.
    NoNewProjects,
}

impl SiteSwitch {
    /// The flag's name in `site_flags`.
    pub fn flag(self) -> &'static str {
        match self {
            SiteSwitch::ReadOnly => READ_ONLY,
            SiteSwitch::NoNewProjects => NO_NEW_PROJECTS,
        }
    }
}

/// What restoring an account gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredUser {
    pub username: String,
    /// (project name, role) re-granted.
    pub roles: Vec<(String, ProjectRole)>,
    /// (project name, role) held at the time but not re-granted (project removed or gone).
    pub skipped: Vec<(String, ProjectRole)>,
    /// (project name, role) held at the time but gained inside the account's incident window
    /// (whoever held the account then may have been the attacker): never re-granted.
    pub withheld: Vec<(String, ProjectRole)>,
    /// Where the password reset went and what waits for the owner's decision.
    pub handed_back: crate::handback::HandedBack,
}

/// The roles `user_id` held, replaying role events in log order: project id → role.
pub fn replay_roles(
    events: &[strongroom_store::model::Event],
    user_id: i64,
) -> BTreeMap<i64, HeldRole> {
    let mut held: BTreeMap<i64, HeldRole> = BTreeMap::new();
    for e in events {
        let Some(project_id) = e.subject_id else {
            continue;
        };
        let d: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
        let about = d.get("user_id").and_then(serde_json::Value::as_i64);
        let role = |k: &str| {
            d.get(k)
                .and_then(serde_json::Value::as_str)
                .and_then(ProjectRole::parse)
        };
        let mut set = |r: ProjectRole| {
            // Tenure counts from when the account first held this role, so a restored Owner
            // is not a "newcomer" for the cooling-off rule.
            let keep = held.get(&project_id).is_some_and(|h| h.role == r);
            if !keep {
                held.insert(
                    project_id,
                    HeldRole {
                        role: r,
                        since: e.at,
                    },
                );
            }
        };
        match e.action.as_str() {
            "project:create" if about.or(e.actor_id) == Some(user_id) => {
                set(role("role").unwrap_or(ProjectRole::Owner));
            }
            "role:add" if about == Some(user_id) => {
                if let Some(r) = role("role") {
                    set(r);
                }
            }
            "role:change" if about == Some(user_id) => {
                if let Some(r) = role("to").or_else(|| role("role")) {
                    set(r);
                }
            }
            "role:remove" if about == Some(user_id) => {
                held.remove(&project_id);
            }
            _ => {}
        }
    }
    held
}

/// A role an account held on a project at some moment, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRole {
    pub role: ProjectRole,
    /// When the account came to hold this role (its tenure, restored as `granted_at`).
    pub since: i64,
}

/// The moment whose roles a `restore-user` re-grants by default: just before the incident
/// window opened, or, with an empty window, just before the deletion.
pub fn default_roles_at(window: &crate::incident::IncidentWindow, deleted_at: i64) -> i64 {
    if window.is_empty() {
        deleted_at - 1
    } else {
        window.start.min(deleted_at) - 1
    }
}

impl Services {
    pub(crate) async fn user_named(&self, username: &str) -> Result<User, CoreError> {
        self.db
            .user_by_name(username)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no such user: {username}")))
    }

    /// Restore a soft-deleted account without handing it to whoever deleted it: it comes back
    /// with its password disabled and a reset link mailed only to addresses verified before its
    /// incident window (refused when none is left; see [`crate::handback`]), with the roles it
    /// held at `roles_at` (replayed from the event log) on projects that still exist, except
    /// roles it gained inside the window. By default `roles_at` is just before the window opened
    /// (its first suspicious change, [`crate::incident`]): whatever the account left or gave up
    /// inside the window, maybe at the attacker's hand, comes back. With an empty window (no
    /// suspicious change before the deletion) it is just before the deletion.
    #[allow(clippy::too_many_arguments)]
    pub async fn admin_restore_user(
        &self,
        actor: &Actor,
        username: &str,
        roles_at: Option<i64>,
        trust: Option<&str>,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<RestoredUser, CoreError> {
        let reason = require_reason(reason)?;
        let user = self.user_named(username).await?;
        let Some(deleted_at) = user.deleted_at else {
            return Err(CoreError::Conflict(format!(
                "{} is not deleted.",
                user.username
            )));
        };
        if let Some(Some(purged)) = self
            .db
            .deletion_state(user.id)
            .await?
            .map(|(_, _, _, purged_at)| purged_at)
        {
            // Its addresses are gone: nobody could ever reset the password, and roles granted
            // to an account nobody can reach only confuse the last-Owner rule.
            return Err(CoreError::Conflict(format!(
                "{}'s personal data was purged on {} UTC (the retention period had ended): there is nothing left to restore it to. Its history stays in the event log.",
                user.username,
                crate::clock::iso8601_seconds(purged)
            )));
        }
        let window = self.incident_window(&user, deleted_at).await?;
        let until = roles_at.unwrap_or_else(|| default_roles_at(&window, deleted_at));
        let events = self.db.role_events_until(until).await?;
        let held = replay_roles(&events, user.id);
        let now = self.now();
        let mut tx = self.db.begin_admin().await?;
        if !tx.undelete_user(user.id).await? {
            return Err(CoreError::Conflict(format!(
                "{} is not deleted.",
                user.username
            )));
        }
        let mut granted: Vec<(String, ProjectRole)> = Vec::new();
        let mut skipped = Vec::new();
        let mut withheld = Vec::new();
        let mut evs = Vec::new();
        for (project_id, HeldRole { role, since }) in held {
            let Some(p) = tx.project_by_id(project_id).await? else {
                continue;
            };
            if p.status == ProjectStatus::Removed {
                skipped.push((p.name, role));
                continue;
            }
            if !window.is_empty() && since >= window.start {
                withheld.push((p.name, role));
                continue;
            }
            if !tx
                .grant_role(project_id, user.id, role, actor.id, since)
                .await?
            {
                skipped.push((p.name, role));
                continue;
            }
            evs.push(self.event(
                actor,
                "role:add",
                Subject {
                    kind: "project",
                    id: Some(p.id),
                    name: Some(&p.name),
                },
                meta,
                serde_json::json!({"user_id": user.id, "user": user.username, "role": role, "via": "restore", "reason": reason}),
            ));
            granted.push((p.name, role));
        }
        let mut tx = tx.into_account();
        let incident = tx
            .record_incident(
                user.id,
                strongroom_store::model::IncidentKind::Restore,
                window.start,
                window.end,
                now,
                &actor.name,
            )
            .await?;
        tx.mark_incident_returned(incident, now, &actor.name)
            .await?;
        let handed = self
            .hand_back_in(
                &mut tx,
                &user,
                window,
                window.start,
                trust,
                &format!(
                    "The index administrators restored the account {}",
                    user.username
                ),
            )
            .await;
        let (handed_back, mut mails) = match handed {
            Ok(b) => b,
            Err(e) => {
                drop(tx);
                return Err(self
                    .handback_refused(actor, &user, "admin:user:restore:refused", e, meta)
                    .await);
            }
        };
        let mut details = serde_json::json!({
            "reason": reason,
            "roles_at": until,
            "roles_withheld": withheld.iter().map(|(p, r)| format!("{r} of {p}")).collect::<Vec<_>>(),
            "reset_sent_to": handed_back.reset_sent_to,
            "suspect": crate::handback::suspect_details(&handed_back.suspect),
            "primary_moved_to": handed_back.primary_moved_to,
            "address_trusted_by_admin": trust.map(str::trim).filter(|t| !t.is_empty()),
            "anchor": handed_back.anchor,
            "tokens_revoked": handed_back.tokens_revoked.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        });
        crate::handback::merge(&mut details, window.details());
        evs.extend(self.handback_token_events(actor, &user, &handed_back, meta));
        evs.insert(
            0,
            self.event(
                actor,
                "admin:user:restore",
                user_subject(&user),
                meta,
                details,
            ),
        );
        // Every role change is told to the project's Owners, this one too.
        for (name, role) in &granted {
            let Some(p) = self
                .db
                .project_by_normalized(&strongroom_protocol::name::normalize(name))
                .await?
            else {
                continue;
            };
            let mut to = Vec::new();
            for r in tx.project_roles(p.id).await? {
                if r.role == ProjectRole::Owner && r.user_id != user.id {
                    to.extend(crate::mail::notice_recipients(&tx.emails(r.user_id).await?));
                }
            }
            mails.extend(crate::mail::notice(
                &to,
                &format!("{} is again {role} of {}", user.username, p.name),
                &format!(
                    "The index administrators restored the account {} with the roles it held before, so it is again {role} of the project {} ({}).",
                    user.username,
                    p.name,
                    reason
                ),
            ));
        }
        tx.commit(&evs, &mails).await?;
        Ok(RestoredUser {
            username: user.username.clone(),
            roles: granted,
            skipped,
            withheld,
            handed_back,
        })
    }

    /// Turn a site switch on or off.
    pub async fn admin_set_switch(
        &self,
        actor: &Actor,
        switch: SiteSwitch,
        enabled: bool,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let reason = require_reason(reason)?;
        let ev = self.event(
            actor,
            "admin:flag",
            Subject {
                kind: "site",
                id: None,
                name: Some(switch.flag()),
            },
            meta,
            serde_json::json!({"flag": switch.flag(), "enabled": enabled, "reason": reason}),
        );
        self.db
            .set_site_flag(switch.flag(), enabled, Some(reason), &actor.name, &ev)
            .await?;
        Ok(())
    }

    /// Whether a switch is on.
    pub async fn switch_enabled(&self, switch: SiteSwitch) -> Result<bool, CoreError> {
        Ok(self.db.site_flag(switch.flag()).await?)
    }

    /// Recompute the event log's hash chain: `Ok(entries)` when intact, `Err(seq)` naming the
    /// first broken entry.
    pub async fn verify_log(&self) -> Result<Result<i64, i64>, CoreError> {
        match self.db.verify_events().await? {
            Some(seq) => Ok(Err(seq)),
            None => {
                let mut n = 0;
                let mut after = 0;
                loop {
                    let batch = self.db.events(after, 1000).await?;
                    let Some(last) = batch.last() else { break };
                    after = last.seq;
                    n += i64::try_from(batch.len()).unwrap_or(0);
                }
                Ok(Ok(n))
            }
        }
    }
}

pub(crate) fn user_subject(u: &User) -> Subject<'_> {
    Subject {
        kind: "user",
        id: Some(u.id),
        name: Some(&u.username),
    }
}

/// Open an intervention (helper for the sibling modules).
pub(crate) async fn begin(s: &Services) -> Result<AdminTx, CoreError> {
    Ok(s.db.begin_admin().await?)
}
