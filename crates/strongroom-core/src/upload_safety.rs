//! What a recent account recovery means for an upload: during the recovery hold the account may
//! publish only to projects it created during the hold; for `recovery.watch_days` after the
//! recovery, a new release of a dormant project (no release for `recovery.dormant_project_days`)
//! is quarantined for an administrator's review instead of published, and the project's owners
//! and every administrator are told.
//!
//! PyPI has no such state, and twine treats anything but 200 as failure (and retries some), so a
//! quarantined upload answers 200 with a body saying the release is held for review; the release
//! stays out of the simple and JSON APIs and of the journal until an admin approves it.

use strongroom_protocol::name::ProjectName;
use strongroom_store::model::{Project, Role, User};
use strongroom_store::{NewMail, UploadPolicy};

use crate::hold::{HeldAction, is_held};
use crate::mail::{notice, notice_recipients};
use crate::settings::days;
use crate::tokens::Principal;
use crate::watch::Watch;
use crate::{CoreError, Services};

/// The answer body of an upload whose release was quarantined.
pub fn quarantined_answer(project: &str, version: &str) -> String {
    format!(
        "OK, but held for review: the new release {version} of {project} was quarantined because the project had no release for a long time and this account was recently recovered. It is not installable until an administrator approves it; the project's owners were told.\n"
    )
}

/// Whether an account recovered at `recovered_at` is still watched at `now`.
pub fn under_watch(recovered_at: Option<i64>, now: i64, watch_days: u64) -> bool {
    recovered_at.is_some_and(|r| r <= now && now.saturating_sub(r) < days(watch_days))
}

impl Services {
    /// Refuse an upload to an existing project the held account did not create during its hold
    /// (the store checks the same inside the upload's transaction).
    pub(crate) async fn check_upload_hold(
        &self,
        who: &Principal,
        name: &ProjectName,
        meta: &crate::RequestMeta,
    ) -> Result<(), CoreError> {
        let user = self
            .db
            .user_by_id(who.user.id)
            .await?
            .unwrap_or_else(|| who.user.clone());
        if !is_held(&user, self.now()) {
            return Ok(());
        }
        let Some(p) = self
            .db
            .project_by_normalized(name.normalized().as_str())
            .await?
        else {
            return Ok(()); // a new project: created during the hold
        };
        let since = user.recovered_at.unwrap_or(i64::MIN);
        let origin = self.db.project_origin(p.id).await?;
        if origin.is_some_and(|(by, at)| by == Some(user.id) && at >= since) {
            return Ok(());
        }
        self.check_hold(&user, HeldAction::Publish, Some((p.id, &p.name)), meta)
            .await
    }

    /// The refusal of a held upload, for the store's in-transaction verdict (logged like
    /// [`Services::check_upload_hold`]'s).
    pub(crate) async fn held_refusal(
        &self,
        user_id: i64,
        name: &ProjectName,
        meta: &crate::RequestMeta,
    ) -> CoreError {
        let generic = || {
            CoreError::Forbidden(
                "Your account is on a recovery hold and cannot upload to this project.".into(),
            )
        };
        let Ok(Some(user)) = self.db.user_by_id(user_id).await else {
            return generic();
        };
        let Some(refusal) = self.hold_refusal(&user, HeldAction::Publish) else {
            return generic(); // the hold ended in between: nothing to log
        };
        let project = self
            .db
            .project_by_normalized(name.normalized().as_str())
            .await
            .ok()
            .flatten();
        self.log_hold_refusal(
            &user,
            HeldAction::Publish,
            project.as_ref().map(|p| (p.id, p.name.as_str())),
            meta,
            refusal,
        )
        .await
    }

    /// The rules for this upload: the dormant-project quarantine while the account is watched
    /// after a recovery or its role on the project is new, and the notice of a newcomer's release.
    pub(crate) async fn upload_policy(
        &self,
        user: &User,
        project: &str,
        version: &str,
        filename: &str,
    ) -> Result<UploadPolicy, CoreError> {
        let now = self.now();
        let safety = &self.settings.safety;
        // The project and its members, read once (a new project has neither: nothing dormant
        // to protect, nobody else to tell).
        let existing = match self
            .db
            .project_by_normalized(&strongroom_protocol::name::normalize(project))
            .await?
        {
            Some(p) => Some((self.db.roles_of_project(p.id).await?, p)),
            None => None,
        };
        let roles = existing.as_ref().map_or(&[][..], |(roles, _)| &roles[..]);
        let watch = self.watch_on(user, roles).await?;
        let newcomer = roles.iter().any(|r| {
            r.user_id == user.id && now.saturating_sub(r.granted_at) < days(safety.newcomer_days)
        });
        // A newcomer's new release of a lively project is published, and told to the other
        // Owners: a sock's first release is never quiet.
        let release_mails = match &existing {
            Some((roles, p)) if newcomer => {
                self.newcomer_release_mails(user, p, roles, version).await?
            }
            _ => Vec::new(),
        };
        let why = match watch {
            Some(Watch::Recovered { .. }) => format!(
                "within {} days of an account recovery",
                safety.recovery_watch_days
            ),
            // An account invited by a recovered (or compromised) one must not publish to the
            // dormant project in its place: the newcomer's first releases wait for review too.
            Some(Watch::Newcomer { .. }) => format!(
                "who has held a role on the project for less than {} days",
                safety.newcomer_days
            ),
            None => {
                return Ok(UploadPolicy {
                    release_mails,
                    ..UploadPolicy::default()
                });
            }
        };
        let reason = format!(
            "new release of a project dormant for more than {} days, uploaded by {} {why}",
            safety.dormant_project_days, user.username
        );
        let owners = existing.as_ref().map_or(&[][..], |(roles, _)| &roles[..]);
        Ok(UploadPolicy {
            dormant_before: Some(now.saturating_sub(days(safety.dormant_project_days))),
            quarantine_mails: self
                .quarantine_mails(owners, project, version, filename, &reason)
                .await?,
            quarantine_reason: reason,
            release_mails,
            ..UploadPolicy::default()
        })
    }

    /// The notice to the project's other Owners of a newcomer's new release.
    async fn newcomer_release_mails(
        &self,
        user: &User,
        p: &Project,
        roles: &[Role],
        version: &str,
    ) -> Result<Vec<NewMail>, CoreError> {
        let mut to = Vec::new();
        for r in roles {
            if r.role == strongroom_store::OWNER && r.user_id != user.id {
                to.extend(notice_recipients(&self.db.emails_of(r.user_id).await?));
            }
        }
        Ok(notice(
            &to,
            &format!("{} published {} {version}", user.username, p.name),
            &format!(
                "{} has held a role on the project {} for less than {} days and just published its new release {version}. If you did not expect this, remove {} on the project's manage page, yank or remove the release, and contact the index administrators.",
                user.username, p.name, self.settings.safety.newcomer_days, user.username
            ),
        ))
    }

    /// The project's owners (`roles`) and every administrator (queued only if the release is
    /// quarantined); `why` says whose upload it was.
    async fn quarantine_mails(
        &self,
        roles: &[Role],
        project: &str,
        version: &str,
        filename: &str,
        why: &str,
    ) -> Result<Vec<NewMail>, CoreError> {
        let mut to: Vec<String> = Vec::new();
        let mut add = |addrs: Vec<String>| {
            for a in addrs {
                if !to.iter().any(|t| t.eq_ignore_ascii_case(&a)) {
                    to.push(a);
                }
            }
        };
        for r in roles {
            if r.role == strongroom_store::OWNER {
                add(notice_recipients(&self.db.emails_of(r.user_id).await?));
            }
        }
        add(self.admin_addresses().await?);
        Ok(notice(
            &to,
            &format!("Release {project} {version} was quarantined for review"),
            &format!(
                "{filename}, the release {version} of {project}, is a {why}. The release is held for review and cannot be installed until an administrator approves it (strongroom admin area, or `strongroom admin` on the server). If this upload was not expected, freeze the account and remove the release."
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_lasts_watch_days_after_the_recovery() {
        let day = days(1);
        let t = 1_767_225_600_000_000;
        assert!(!under_watch(None, t, 30));
        assert!(under_watch(Some(t), t, 30));
        assert!(under_watch(Some(t - 29 * day), t, 30));
        assert!(!under_watch(Some(t - 30 * day), t, 30));
        assert!(
            !under_watch(Some(t + day), t, 30),
            "a recovery in the future"
        );
        assert!(!under_watch(Some(t), t, 0), "watch turned off");
    }
}
