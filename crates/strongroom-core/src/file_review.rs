//! Per-file review: a file a watched account (`core::watch`) adds to an existing release that is
//! not itself held (published, or approved after review), and any file joining a quarantined
//! release after the upload that quarantined it, is held like a new release of a dormant project
//! is quarantined (approving the release does not publish it). The upload answers 200 saying so (twine treats anything else
//! as failure); the file is invisible on every read path and absent from the journal until an
//! administrator approves it (`strongroom admin approve-file`, or the admin area), and a rejected
//! one is deleted with its blob (`removal`). The project's Owners and the admins are told at
//! once. Every other file added to an existing release is told to the Owners, batched
//! (`owner_notices`).

use strongroom_store::model::{Role, User};
use strongroom_store::{NewFile, NewMail, UploadPolicy};

use crate::mail::notice;
use crate::owner_notices::NoticeText;
use crate::watch::Watch;
use crate::{CoreError, Services};

/// The answer body of an upload whose file was held for review.
pub fn held_answer(project: &str, version: &str, filename: &str) -> String {
    format!(
        "OK, but held for review: {filename}, added to the existing release {version} of {project}, is held for review on its own (it was uploaded by an account that is recently recovered or new in its role, or the release is itself held for review). It is not installable until an administrator approves it; the project's owners were told.\n"
    )
}

impl Services {
    /// Add to the upload's policy the hold of a watched account's added file and the Owners'
    /// notice of an added file. The store applies both only when the release already exists
    /// (and holds the file only when the release is not itself held).
    pub(crate) async fn added_file_policy(
        &self,
        user: &User,
        new: &NewFile,
        policy: &mut UploadPolicy,
    ) -> Result<(), CoreError> {
        let Some(p) = self.db.project_by_normalized(&new.normalized_name).await? else {
            return Ok(()); // a new project: no existing release, nobody else to tell
        };
        let roles = self.db.roles_of_project(p.id).await?;
        let safety = &self.settings.safety;
        let why = match self.watch_on(user, &roles).await? {
            // The account that created the project is new in its role too, but brought in by
            // nobody: its own new project's files (an sdist, then its wheels) are not held.
            Some(Watch::Newcomer { .. }) if self.founded(user, p.id).await? => None,
            Some(w) => Some(format!(
                "an account {}",
                w.describe(safety.recovery_watch_days, safety.newcomer_days)
            )),
            None => None,
        };
        if let Some(why) = why {
            let reason = format!(
                "file added to the existing release {} by {}, {why}",
                new.version, user.username
            );
            policy.held_file_mails = self.held_file_mails(&roles, &p.name, new, &reason).await?;
            policy.hold_added_file = Some(reason);
        }
        // Any file joining a quarantined release after the upload that quarantined it is its own
        // review item, whoever uploads it (the store applies this only to such a release).
        let joined = format!(
            "file added by {} to the release {}, which was already quarantined for review",
            user.username, new.version
        );
        policy.hold_joined_file = Some((
            joined.clone(),
            self.held_file_mails(&roles, &p.name, new, &joined).await?,
        ));
        policy.added_file_notice = self
            .owner_notice_for(
                &roles,
                Some(user.id),
                NoticeText {
                    subject: format!("{} added a file to {} {}", user.username, p.name, new.version),
                    body: format!(
                        "{} added the file {} to the existing release {} of {}.\nIf you did not expect this, remove the file on the project's manage page and contact the index administrators.",
                        user.username, new.filename, new.version, p.name
                    ),
                    line: format!("{} added {} to {}", user.username, new.filename, new.version),
                },
            )
            .await?;
        Ok(())
    }

    /// Whether `user` created the project (and so holds its first role, granted by nobody).
    async fn founded(&self, user: &User, project_id: i64) -> Result<bool, CoreError> {
        Ok(self
            .db
            .project_origin(project_id)
            .await?
            .is_some_and(|(by, _)| by == Some(user.id)))
    }

    /// The project's Owners and every administrator (queued only if the file is held).
    async fn held_file_mails(
        &self,
        roles: &[Role],
        project: &str,
        new: &NewFile,
        reason: &str,
    ) -> Result<Vec<NewMail>, CoreError> {
        let to = self.owner_and_admin_addresses(roles).await?;
        Ok(notice(
            &to,
            &format!("File {} of {project} was held for review", new.filename),
            &format!(
                "{}: a {reason}. The file is held for review and cannot be installed until an administrator approves it (strongroom admin area, or `strongroom admin approve-file {project} {} {}` on the server; `reject-file` deletes it). If this upload was not expected, freeze the account and reject the file.",
                new.filename, new.version, new.filename
            ),
        ))
    }
}
