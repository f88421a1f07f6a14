//! What a watched account means for an upload: during the recovery hold the account may publish
//! only to projects it created during the hold; while it is watched (`core::watch`), or any
//! member of the project was recovered within `recovery.watch_days`, or it is the first release
//! since the latest recovery of any member (however long ago), a new release of a dormant
//! project (no release by an unwatched account for `recovery.dormant_project_days`) is
//! quarantined for an administrator's review instead of published, and the project's owners and
//! every administrator are told; every publish by a watched account is told to the Owners.
//!
//! PyPI has no such state, and twine treats anything but 200 as failure (and retries some), so a
//! quarantined upload answers 200 with a body saying the release is held for review; the release
//! stays out of the simple and JSON APIs and of the journal until an admin approves it.

use strongroom_protocol::name::ProjectName;
use strongroom_store::ProjectRole;
use strongroom_store::model::{Project, Role, User};
use strongroom_store::{NewMail, UploadPolicy};

use crate::hold::{HeldAction, is_held};
use crate::mail::{notice, notice_recipients};
use crate::settings::days;
use crate::tokens::Principal;
use crate::watch::{Watch, under_watch};
use crate::{CoreError, Services};

/// The answer body of an upload whose release was quarantined.
pub fn quarantined_answer(project: &str, version: &str) -> String {
    format!(
        "OK, but held for review: the new release {version} of {project} was quarantined because the project had no release for a long time and this account, or one of the project's members, is under watch after a recent recovery or a new role, or was recovered since the project's last release. It is not installable until an administrator approves it; the project's owners were told.\n"
    )
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

    /// The rules for this upload (docs/ownership-contract.md, "Watched states"): a new release
    /// of a dormant project is quarantined for review (owners and admins told) when the uploader
    /// is watched on it ([`Services::watch_on`]: recovered, newcomer or inherited) or any of its
    /// members was recovered within `recovery.watch_days`; a watched uploader's release is
    /// marked so it never makes the project lively; and every publish by a watched account, a
    /// new release or a file added to an existing one, is told to the project's other Owners.
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
        // A recovery of any member: whoever publishes next to the dormant project (the
        // recovered account, a sock it brought in, or anyone else) goes through the admins;
        // within `recovery.watch_days` always, and after it until the first release since the
        // latest recovery of any member (the uploader included) is published.
        let mut recovered_member = None;
        let mut latest_recovery: Option<(i64, String)> = None;
        for r in roles {
            let Some(u) = self.db.user_by_id(r.user_id).await? else {
                continue;
            };
            if let Some(at) = u.recovered_at
                && latest_recovery.as_ref().is_none_or(|(l, _)| at > *l)
            {
                latest_recovery = Some((at, u.username.clone()));
            }
            if r.user_id != user.id
                && recovered_member.is_none()
                && under_watch(u.recovered_at, now, safety.recovery_watch_days)
            {
                recovered_member = Some(u.username);
            }
        }
        let (release_mails, file_mails) = match (&existing, watch) {
            (Some((roles, p)), Some(w)) => (
                self.watched_publish_mails(user, p, roles, version, None, w)
                    .await?,
                self.watched_publish_mails(user, p, roles, version, Some(filename), w)
                    .await?,
            ),
            // While a member is within its recovery watch, every new release is told to the
            // Owners, whoever uploads it (an intruder's sock is not watched itself).
            (Some((roles, p)), None) if recovered_member.is_some() => (
                self.member_recovered_release_mails(user, p, roles, version)
                    .await?,
                Vec::new(),
            ),
            _ => (Vec::new(), Vec::new()),
        };
        let told = UploadPolicy {
            release_mails,
            file_mails,
            uploader_watched: watch.is_some(),
            ..UploadPolicy::default()
        };
        let why = match (watch, &recovered_member) {
            (Some(w), _) => format!(
                "an account {}",
                w.describe(safety.recovery_watch_days, safety.newcomer_days)
            ),
            (None, Some(member)) => format!(
                "while {member}, a member of the project, was recovered less than {} days ago",
                safety.recovery_watch_days
            ),
            (None, None) => match &latest_recovery {
                Some((_, member)) => format!(
                    "the first release since {member}, a member of the project, was recovered"
                ),
                None => return Ok(told),
            },
        };
        let first_release_since = match (watch, &recovered_member) {
            (None, None) => latest_recovery.map(|(at, _)| at),
            _ => None,
        };
        let reason = format!(
            "new release of a project dormant for more than {} days, uploaded by {}, {why}",
            safety.dormant_project_days, user.username
        );
        Ok(UploadPolicy {
            dormant_before: Some(now.saturating_sub(days(safety.dormant_project_days))),
            quarantine_mails: self
                .quarantine_mails(roles, project, version, filename, &reason)
                .await?,
            quarantine_reason: reason,
            first_release_since,
            ..told
        })
    }

    /// The notice to the project's other Owners of a watched account's publish: its new
    /// release (`filename` None) or a file it added to an existing release.
    async fn watched_publish_mails(
        &self,
        user: &User,
        p: &Project,
        roles: &[Role],
        version: &str,
        filename: Option<&str>,
        watch: Watch,
    ) -> Result<Vec<NewMail>, CoreError> {
        let safety = &self.settings.safety;
        let mut to = Vec::new();
        for r in roles {
            if r.role == ProjectRole::Owner && r.user_id != user.id {
                to.extend(notice_recipients(&self.db.emails_of(r.user_id).await?));
            }
        }
        let (subject, what) = match filename {
            None => (
                format!("{} published {} {version}", user.username, p.name),
                format!("just published the new release {version}"),
            ),
            Some(f) => (
                format!("{} added {f} to {} {version}", user.username, p.name),
                format!("just added the file {f} to the existing release {version}"),
            ),
        };
        Ok(notice(
            &to,
            &subject,
            &format!(
                "{} is an account {} on the project {}, and {what}. If you did not expect this, remove {} on the project's manage page, yank or remove the release, and contact the index administrators.",
                user.username,
                watch.describe(safety.recovery_watch_days, safety.newcomer_days),
                p.name,
                user.username
            ),
        ))
    }

    /// The notice to the project's other Owners of a new release by an unwatched uploader
    /// while one of the project's members is within its recovery watch.
    async fn member_recovered_release_mails(
        &self,
        user: &User,
        p: &Project,
        roles: &[Role],
        version: &str,
    ) -> Result<Vec<NewMail>, CoreError> {
        let mut to = Vec::new();
        for r in roles {
            if r.role == ProjectRole::Owner && r.user_id != user.id {
                to.extend(notice_recipients(&self.db.emails_of(r.user_id).await?));
            }
        }
        Ok(notice(
            &to,
            &format!("{} published {} {version}", user.username, p.name),
            &format!(
                "{} just published the new release {version} of the project {}, while an account with a role on it was recovered less than {} days ago (a password, address or two-factor change). If you did not expect this release, yank or remove it on the project's manage page, remove {} if you do not know them, and contact the index administrators.",
                user.username, p.name, self.settings.safety.recovery_watch_days, user.username
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
        let to = self.owner_and_admin_addresses(roles).await?;
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
