//! Taking things off the index and putting them back: quarantine and release of a project,
//! approval of a quarantined release, soft removal and restore of projects, releases and files.
//! Everything is resolved from the project by database identity; blobs are kept, filenames stay
//! burned. A change visible to installers writes journal entries so mirrors and caches see it.
//!
//! No undo here (release from quarantine, approval of a held release, restore) brings back a
//! file uploaded inside its uploader's incident window (`crate::incident`): the undo is
//! refused and names the files, which an admin removes first.

mod approvals;
pub use approvals::ReleaseApproval;

use strongroom_store::NewMail;
use strongroom_store::admin::{AdminTx, FileState, ProjectState, ReleaseState};
use strongroom_store::{ProjectRole, ProjectStatus};

use crate::admin::{AdminCap, Authority, begin, require_reason};
use crate::hold::HeldAction;
use crate::mail::{Recipients, notice, notice_recipients};
use crate::refusal_log::RefusalKind;
use crate::visibility::State;
use crate::{Actor, CoreError, RequestMeta, Services, Subject};

/// Whether the public sees the project ([`crate::visibility`]): only then do its changes reach
/// the journal.
fn project_visible(p: &ProjectState) -> bool {
    State::of_project(p.status).is_public()
}

/// Whether the public sees the release, its project aside.
fn release_visible(r: &ReleaseState) -> bool {
    State::of_release(r.quarantined_at.is_some(), r.removed_at.is_some(), false).is_public()
}

/// What a release or restore brings a project back to.
fn status_to_restore(before: Option<ProjectStatus>, allow_quarantined: bool) -> ProjectStatus {
    match before {
        Some(s @ (ProjectStatus::Active | ProjectStatus::Archived | ProjectStatus::Deprecated)) => {
            s
        }
        Some(ProjectStatus::Quarantined) if allow_quarantined => ProjectStatus::Quarantined,
        _ => ProjectStatus::Active,
    }
}

fn subject(p: &ProjectState) -> Subject<'_> {
    Subject {
        kind: "project",
        id: Some(p.id),
        name: Some(&p.name),
    }
}

fn parse_version(version: &str) -> Result<String, CoreError> {
    strongroom_protocol::version::Version::parse(version)
        .map(|v| v.canonical())
        .map_err(|e| CoreError::Invalid(format!("invalid version '{version}': {e}")))
}

/// The event action for an admin or an owner.
fn action(by: &Authority<'_>, admin: &'static str, owner: &'static str) -> &'static str {
    if by.is_admin() { admin } else { owner }
}

/// Who removed something, as the owners' notice names them.
fn remover<'a>(by: &Authority<'_>, actor: &'a Actor) -> &'a str {
    if by.is_admin() {
        "the index administrators"
    } else {
        actor.name.as_str()
    }
}

/// A status change that found the project in another status than the one it was read in.
fn changed_meanwhile(changed: bool) -> Result<(), CoreError> {
    if changed {
        Ok(())
    } else {
        Err(CoreError::Conflict(
            "the project changed meanwhile; try again".into(),
        ))
    }
}

/// What an intervention records when it commits: its event, and for what owners must hear of,
/// the notice (subject, body) mailed to every Owner of the project.
struct Outcome {
    action: &'static str,
    details: serde_json::Value,
    notice: Option<(String, String)>,
}

impl Services {
    /// The project an intervention acts on. Admins reach any status; an Owner only an active
    /// project it owns, while the site is writable.
    async fn intervention_project(
        &self,
        by: &Authority<'_>,
        tx: &mut AdminTx,
        project: &str,
    ) -> Result<ProjectState, CoreError> {
        let normalized = strongroom_protocol::name::normalize(project);
        let not_found = || CoreError::NotFound(format!("no such project: {project}"));
        let p = tx.project(&normalized).await?.ok_or_else(not_found)?;
        if let Authority::Owner(user) = by {
            self.check_writable().await?;
            if p.status == ProjectStatus::Removed {
                return Err(not_found());
            }
            if self.db.role_of(p.id, user.id).await? != Some(ProjectRole::Owner) {
                return Err(CoreError::Forbidden(format!(
                    "Only an Owner of '{}' can do this.",
                    p.name
                )));
            }
            if p.status != ProjectStatus::Active {
                return Err(CoreError::Forbidden(format!(
                    "The project '{}' is {}: it cannot be changed until the index administrators release it.",
                    p.name, p.status
                )));
            }
        }
        Ok(p)
    }

    /// The cooling-off's other half: a newcomer Owner cannot destroy what an Owner of longer
    /// standing published (removals burn filenames for good). A recently recovered account
    /// counts as a newcomer too (see `is_newcomer`). Some((refusal, elder's name)) when refused.
    async fn newcomer_removal_refusal(
        &self,
        user: &strongroom_store::model::User,
        p: &ProjectState,
    ) -> Result<Option<(CoreError, String)>, CoreError> {
        let roles = self.db.roles_of_project(p.id).await?;
        if let Some(mine) = roles.iter().find(|r| r.user_id == user.id)
            && self.is_newcomer(user, mine)
            && let Some(elder) = roles.iter().find(|r| self.is_elder_owner(r, mine))
        {
            return Ok(Some((
                CoreError::Forbidden(format!(
                    "You became an Owner of '{}' less than {} days ago, or your account was recovered less than {} days ago: removing releases, files or the project is for {} (an established Owner) or the index administrators until then.",
                    p.name,
                    self.settings.safety.newcomer_days,
                    self.settings.safety.recovery_watch_days,
                    elder.username
                )),
                elder.username.clone(),
            )));
        }
        Ok(None)
    }

    /// The transaction an intervention runs in and the project it acts on.
    async fn open(
        &self,
        by: &Authority<'_>,
        project: &str,
    ) -> Result<(AdminTx, ProjectState), CoreError> {
        self.open_logged(by, project, None).await
    }

    /// [`Self::open`]; `refused`: the request, what the recovery hold calls the action, and
    /// what an Owner reaches for (`remove-project`, …, with its version and file) for the
    /// `removal:refused:newcomer` event a newcomer's refusal leaves.
    ///
    /// An Owner's account is read again inside the intervention and held until it ends
    /// ([`strongroom_store::admin::AdminTx::lock_user`]): frozen or deleted since the session
    /// was loaded, it is refused; on a recovery hold, it is refused and the refusal logged
    /// (`account:hold:refused`): removals burn filenames for good, so they wait out the hold
    /// like creation does.
    async fn open_logged(
        &self,
        by: &Authority<'_>,
        project: &str,
        refused: Option<(&RequestMeta, HeldAction, serde_json::Value)>,
    ) -> Result<(AdminTx, ProjectState), CoreError> {
        let mut tx = begin(self).await?;
        let now_user = match by {
            Authority::Owner(user) => Some(self.lock_live_actor(&mut tx, user.id).await?),
            Authority::Admin(_) => None,
        };
        let p = self.intervention_project(by, &mut tx, project).await?;
        if let (Some(user), Some((meta, what, _))) = (&now_user, &refused)
            && let Some(refusal) = self.hold_refusal(user, *what)
        {
            drop(tx);
            return Err(self
                .log_hold_refusal(user, *what, Some((p.id, &p.name)), meta, refusal)
                .await);
        }
        if let Authority::Owner(user) = by
            && let Some((refusal, elder)) = self.newcomer_removal_refusal(user, &p).await?
        {
            // Nothing was written: end the transaction before the event goes in on its own.
            drop(tx);
            if let Some((meta, _, mut details)) = refused {
                details["elder_owner"] = serde_json::Value::from(elder);
                let kind = RefusalKind::NewcomerRemoval;
                let ev = self.event(&by.actor(), kind.action(), subject(&p), meta, details);
                self.log_refusal(kind, crate::refusal_log::Source::Account(user.id), ev)
                    .await;
            }
            return Err(refusal);
        }
        Ok((tx, p))
    }

    /// [`Self::open`], and the release it acts on.
    async fn open_release(
        &self,
        by: &Authority<'_>,
        project: &str,
        version: &str,
    ) -> Result<(AdminTx, ProjectState, ReleaseState), CoreError> {
        self.open_release_logged(by, project, version, None).await
    }

    /// [`Self::open_release`], logging a newcomer's refusal (see [`Self::open_logged`]).
    async fn open_release_logged(
        &self,
        by: &Authority<'_>,
        project: &str,
        version: &str,
        refused: Option<(&RequestMeta, HeldAction, serde_json::Value)>,
    ) -> Result<(AdminTx, ProjectState, ReleaseState), CoreError> {
        let (mut tx, p) = self.open_logged(by, project, refused).await?;
        let r = self.intervention_release(&mut tx, &p, version).await?;
        Ok((tx, p, r))
    }

    /// Commit an intervention with its event and its notice to the owners.
    async fn finish(
        &self,
        mut tx: AdminTx,
        actor: &Actor,
        p: &ProjectState,
        meta: &RequestMeta,
        outcome: Outcome,
    ) -> Result<(), CoreError> {
        let mails = match &outcome.notice {
            Some((subject, body)) => self.owner_notice(&mut tx, p, subject, body).await?,
            None => Vec::new(),
        };
        let ev = self.event(actor, outcome.action, subject(p), meta, outcome.details);
        tx.commit(&[ev], &mails).await?;
        Ok(())
    }

    async fn intervention_release(
        &self,
        tx: &mut AdminTx,
        p: &ProjectState,
        version: &str,
    ) -> Result<ReleaseState, CoreError> {
        let canonical = parse_version(version)?;
        tx.release(p.id, &canonical)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no release {version} of {}", p.name)))
    }

    /// Mails to every Owner of the project.
    async fn owner_notice(
        &self,
        tx: &mut AdminTx,
        p: &ProjectState,
        subject: &str,
        body: &str,
    ) -> Result<Vec<NewMail>, CoreError> {
        let mut to = Recipients::default();
        for r in self.db.roles_of_project(p.id).await? {
            if r.role == ProjectRole::Owner {
                to.add(notice_recipients(&tx.emails(r.user_id).await?));
            }
        }
        Ok(notice(&to.into_vec(), subject, body))
    }

    /// Quarantine a project: gone from every index and download, files kept (admins can still
    /// fetch them), owners cannot change anything, until it is released.
    pub async fn admin_quarantine_project(
        &self,
        cap: &AdminCap,
        project: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let actor = cap.actor();
        let reason = require_reason(reason)?;
        let (mut tx, p) = self.open(&Authority::Admin(cap), project).await?;
        if !project_visible(&p) {
            return Err(CoreError::Conflict(format!(
                "The project '{}' is already {}.",
                p.name, p.status
            )));
        }
        let now = self.now();
        changed_meanwhile(
            tx.set_project_status(
                p.id,
                p.status,
                ProjectStatus::Quarantined,
                Some(p.status),
                Some(reason),
                now,
            )
            .await?,
        )?;
        tx.journal(&p, None, None, "quarantine project", &actor.name, now)
            .await?;
        let outcome = Outcome {
            action: "admin:project:quarantine",
            details: serde_json::json!({"reason": reason, "status_before": p.status}),
            notice: Some((
                format!("The project {} has been quarantined", p.name),
                format!(
                    "The index administrators quarantined the project {}: it is hidden from the index while they investigate, and it cannot be changed. Reason: {reason}",
                    p.name
                ),
            )),
        };
        self.finish(tx, actor, &p, meta, outcome).await
    }

    /// The files installers would see if the project were visible: in releases neither
    /// removed nor held, not removed themselves.
    async fn files_shown_when_visible(
        &self,
        p: &ProjectState,
    ) -> Result<Vec<FileState>, CoreError> {
        let shown: Vec<i64> = self
            .db
            .releases_any_state(p.id)
            .await?
            .into_iter()
            .filter(release_visible)
            .map(|r| r.id)
            .collect();
        Ok(self
            .db
            .files_any_state(p.id)
            .await?
            .into_iter()
            .filter(|f| f.removed_at.is_none() && shown.contains(&f.release_id))
            .collect())
    }

    /// Refuse `what` if it would show `files` uploaded inside an incident window.
    async fn no_incident_uploads(&self, what: &str, files: &[FileState]) -> Result<(), CoreError> {
        let found = self.incident_uploads(files).await?;
        self.refuse_incident_uploads(what, &found)
    }

    /// Release a quarantined project: it comes back exactly as it was (never with files its
    /// uploader's incident window left suspect: see the module docs).
    pub async fn admin_release_project(
        &self,
        cap: &AdminCap,
        project: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let actor = cap.actor();
        let reason = require_reason(reason)?;
        let (mut tx, p) = self.open(&Authority::Admin(cap), project).await?;
        if p.status != ProjectStatus::Quarantined {
            return Err(CoreError::Conflict(format!(
                "The project '{}' is not quarantined (it is {}).",
                p.name, p.status
            )));
        }
        let to = status_to_restore(p.status_before, false);
        let files = self.files_shown_when_visible(&p).await?;
        self.no_incident_uploads(&format!("Releasing '{}'", p.name), &files)
            .await?;
        let now = self.now();
        changed_meanwhile(
            tx.set_project_status(p.id, ProjectStatus::Quarantined, to, None, None, now)
                .await?,
        )?;
        tx.journal(&p, None, None, "release project", &actor.name, now)
            .await?;
        let outcome = Outcome {
            action: "admin:project:release",
            details: serde_json::json!({"reason": reason, "status": to}),
            notice: None,
        };
        self.finish(tx, actor, &p, meta, outcome).await
    }

    /// Remove a whole project (soft): hidden everywhere, files archived, its names and
    /// filenames unusable. An Owner may do it too (`project:delete`).
    pub async fn remove_project(
        &self,
        by: &Authority<'_>,
        project: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let reason = self.removal_reason(by, reason)?;
        let refused = serde_json::json!({"refused": "remove-project", "reason": reason});
        let (mut tx, p) = self
            .open_logged(
                by,
                project,
                Some((meta, HeldAction::DeleteProject, refused)),
            )
            .await?;
        if p.status == ProjectStatus::Removed {
            return Err(CoreError::Conflict(format!(
                "The project '{}' is already removed.",
                p.name
            )));
        }
        let actor = by.actor();
        let now = self.now();
        changed_meanwhile(
            tx.set_project_status(
                p.id,
                p.status,
                ProjectStatus::Removed,
                Some(p.status),
                Some(&reason),
                now,
            )
            .await?,
        )?;
        if project_visible(&p) {
            tx.journal(&p, None, None, "remove project", &actor.name, now)
                .await?;
        }
        let outcome = Outcome {
            action: action(by, "admin:project:remove", "project:delete"),
            details: serde_json::json!({"reason": reason, "status_before": p.status}),
            notice: Some((
                format!("The project {} has been removed", p.name),
                format!(
                    "The project {} was removed by {}. Its name and filenames cannot be reused. Reason: {reason}",
                    p.name,
                    remover(by, &actor)
                ),
            )),
        };
        self.finish(tx, &actor, &p, meta, outcome).await
    }

    /// Bring a removed project back to the status it had.
    pub async fn admin_restore_project(
        &self,
        cap: &AdminCap,
        project: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let actor = cap.actor();
        let reason = require_reason(reason)?;
        let (mut tx, p) = self.open(&Authority::Admin(cap), project).await?;
        if p.status != ProjectStatus::Removed {
            return Err(CoreError::Conflict(format!(
                "The project '{}' is not removed (it is {}).",
                p.name, p.status
            )));
        }
        let to = status_to_restore(p.status_before, true);
        if to != ProjectStatus::Quarantined {
            let files = self.files_shown_when_visible(&p).await?;
            self.no_incident_uploads(&format!("Restoring '{}'", p.name), &files)
                .await?;
        }
        // A quarantined project restored stays quarantined; its release goes to active.
        let before = (to == ProjectStatus::Quarantined).then_some(ProjectStatus::Active);
        let now = self.now();
        changed_meanwhile(
            tx.set_project_status(p.id, ProjectStatus::Removed, to, before, None, now)
                .await?,
        )?;
        if to != ProjectStatus::Quarantined {
            tx.journal(&p, None, None, "restore project", &actor.name, now)
                .await?;
        }
        let outcome = Outcome {
            action: "admin:project:restore",
            details: serde_json::json!({"reason": reason, "status": to}),
            notice: None,
        };
        self.finish(tx, actor, &p, meta, outcome).await
    }

    /// Remove one release (soft). An Owner may do it too (`release:remove`); an admin also
    /// removes quarantined releases this way (rejecting them).
    pub async fn remove_release(
        &self,
        by: &Authority<'_>,
        project: &str,
        version: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let reason = self.removal_reason(by, reason)?;
        let refused =
            serde_json::json!({"refused": "remove-release", "version": version, "reason": reason});
        let (mut tx, p, r) = self
            .open_release_logged(
                by,
                project,
                version,
                Some((meta, HeldAction::RemoveRelease, refused)),
            )
            .await?;
        if r.removed_at.is_some() {
            return Err(CoreError::Conflict(format!(
                "{} {} is already removed.",
                p.name, r.version
            )));
        }
        if !by.is_admin() && r.quarantined_at.is_some() {
            return Err(CoreError::Forbidden(format!(
                "{} {} is held for review by the index administrators.",
                p.name, r.version
            )));
        }
        let actor = by.actor();
        let now = self.now();
        tx.set_release_removed(r.id, Some((now, &reason))).await?;
        if project_visible(&p) && release_visible(&r) {
            tx.journal(
                &p,
                Some(&r.version),
                None,
                "remove release",
                &actor.name,
                now,
            )
            .await?;
        }
        let outcome = Outcome {
            action: action(by, "admin:release:remove", "release:remove"),
            details: serde_json::json!({"reason": reason, "version": r.version, "release_id": r.id,
                "was_quarantined": r.quarantined_at.is_some()}),
            notice: Some((
                format!("{} {} has been removed", p.name, r.version),
                format!(
                    "The release {} of {} was removed by {}. Its filenames cannot be reused. Reason: {reason}",
                    r.version,
                    p.name,
                    remover(by, &actor)
                ),
            )),
        };
        self.finish(tx, &actor, &p, meta, outcome).await
    }

    /// Bring a removed release back (its separately removed files stay removed).
    pub async fn admin_restore_release(
        &self,
        cap: &AdminCap,
        project: &str,
        version: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let actor = cap.actor();
        let reason = require_reason(reason)?;
        let (mut tx, p, r) = self
            .open_release(&Authority::Admin(cap), project, version)
            .await?;
        if r.removed_at.is_none() {
            return Err(CoreError::Conflict(format!(
                "{} {} is not removed.",
                p.name, r.version
            )));
        }
        if r.quarantined_at.is_none() {
            let files: Vec<FileState> = tx
                .files_of_release(r.id)
                .await?
                .into_iter()
                .filter(|f| f.removed_at.is_none())
                .collect();
            self.no_incident_uploads(&format!("Restoring {} {}", p.name, r.version), &files)
                .await?;
        }
        let now = self.now();
        tx.set_release_removed(r.id, None).await?;
        if project_visible(&p) && r.quarantined_at.is_none() {
            tx.journal(
                &p,
                Some(&r.version),
                None,
                "restore release",
                &actor.name,
                now,
            )
            .await?;
        }
        let outcome = Outcome {
            action: "admin:release:restore",
            details: serde_json::json!({"reason": reason, "version": r.version, "release_id": r.id}),
            notice: None,
        };
        self.finish(tx, actor, &p, meta, outcome).await
    }

    async fn intervention_file(
        &self,
        tx: &mut AdminTx,
        p: &ProjectState,
        r: &ReleaseState,
        filename: &str,
    ) -> Result<FileState, CoreError> {
        tx.files_of_release(r.id)
            .await?
            .into_iter()
            .find(|f| f.filename == filename)
            .ok_or_else(|| {
                CoreError::NotFound(format!("no file {filename} in {} {}", p.name, r.version))
            })
    }

    /// Remove one file (soft). An Owner may do it too (`file:remove`).
    #[allow(clippy::too_many_arguments)]
    pub async fn remove_file(
        &self,
        by: &Authority<'_>,
        project: &str,
        version: &str,
        filename: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let reason = self.removal_reason(by, reason)?;
        let refused = serde_json::json!({"refused": "remove-file", "version": version,
            "filename": filename, "reason": reason});
        let (mut tx, p, r) = self
            .open_release_logged(
                by,
                project,
                version,
                Some((meta, HeldAction::RemoveRelease, refused)),
            )
            .await?;
        if !by.is_admin() && (r.quarantined_at.is_some() || r.removed_at.is_some()) {
            return Err(CoreError::NotFound(format!(
                "no file {filename} in {} {}",
                p.name, r.version
            )));
        }
        let f = self.intervention_file(&mut tx, &p, &r, filename).await?;
        if f.removed_at.is_some() {
            return Err(CoreError::Conflict(format!(
                "{} is already removed.",
                f.filename
            )));
        }
        let actor = by.actor();
        let now = self.now();
        tx.set_file_removed(f.id, Some((now, &reason))).await?;
        if project_visible(&p) && release_visible(&r) {
            tx.journal(
                &p,
                Some(&r.version),
                Some(&f.filename),
                &format!("remove file {}", f.filename),
                &actor.name,
                now,
            )
            .await?;
        }
        let outcome = Outcome {
            action: action(by, "admin:file:remove", "file:remove"),
            details: serde_json::json!({"reason": reason, "version": r.version, "filename": f.filename,
                "file_id": f.id, "sha256": f.sha256}),
            notice: Some((
                format!("{} has been removed from {}", f.filename, p.name),
                format!(
                    "The file {} of {} {} was removed by {}. Its filename cannot be reused. Reason: {reason}",
                    f.filename,
                    p.name,
                    r.version,
                    remover(by, &actor)
                ),
            )),
        };
        self.finish(tx, &actor, &p, meta, outcome).await
    }

    /// An administrator's decision about one file an undo refuses to bring back (uploaded
    /// while its uploader's account may have been someone else's: see
    /// [`Services::incident_uploads`]): having reviewed its bytes, keep it, so that releasing,
    /// restoring or publishing may show it again. One file at a time, logged
    /// (`admin:file:keep`, with its SHA-256); refused for a file nothing holds back.
    #[allow(clippy::too_many_arguments)]
    pub async fn admin_keep_file(
        &self,
        cap: &AdminCap,
        project: &str,
        version: &str,
        filename: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let actor = cap.actor();
        let reason = require_reason(reason)?;
        let (mut tx, p, r) = self
            .open_release(&Authority::Admin(cap), project, version)
            .await?;
        let f = self.intervention_file(&mut tx, &p, &r, filename).await?;
        let found = self.incident_uploads(std::slice::from_ref(&f)).await?;
        let Some(held) = found.first() else {
            return Err(CoreError::Conflict(format!(
                "{} is not held back by any incident window: there is nothing to keep.",
                f.filename
            )));
        };
        let outcome = Outcome {
            action: "admin:file:keep",
            details: serde_json::json!({"reason": reason, "version": r.version,
                "filename": f.filename, "file_id": f.id, "sha256": f.sha256,
                "uploader": held.uploader, "held_back_because": held.why}),
            notice: None,
        };
        self.finish(tx, actor, &p, meta, outcome).await
    }

    /// Bring a removed file back.
    #[allow(clippy::too_many_arguments)]
    pub async fn admin_restore_file(
        &self,
        cap: &AdminCap,
        project: &str,
        version: &str,
        filename: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let actor = cap.actor();
        let reason = require_reason(reason)?;
        let (mut tx, p, r) = self
            .open_release(&Authority::Admin(cap), project, version)
            .await?;
        let f = self.intervention_file(&mut tx, &p, &r, filename).await?;
        if f.removed_at.is_none() {
            return Err(CoreError::Conflict(format!(
                "{} is not removed.",
                f.filename
            )));
        }
        self.no_incident_uploads(
            &format!("Restoring {}", f.filename),
            std::slice::from_ref(&f),
        )
        .await?;
        let now = self.now();
        tx.set_file_removed(f.id, None).await?;
        if project_visible(&p) && release_visible(&r) {
            tx.journal_file_added(&p, &f, &actor.name, now).await?;
        }
        let outcome = Outcome {
            action: "admin:file:restore",
            details: serde_json::json!({"reason": reason, "version": r.version, "filename": f.filename, "file_id": f.id}),
            notice: None,
        };
        self.finish(tx, actor, &p, meta, outcome).await
    }

    /// Admins must give a reason; an Owner's removal may go without (one is recorded).
    fn removal_reason(&self, by: &Authority<'_>, reason: &str) -> Result<String, CoreError> {
        match by {
            Authority::Admin(_) => require_reason(reason).map(str::to_owned),
            Authority::Owner(u) => Ok(if reason.trim().is_empty() {
                format!("removed by owner {}", u.username)
            } else {
                require_reason(reason)?.to_owned()
            }),
        }
    }
}
