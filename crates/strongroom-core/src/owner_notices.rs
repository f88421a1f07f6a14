//! Notices to a project's Owners of every file added to an existing release and every yank and
//! unyank, batched: the first of a project is mailed to each Owner at once and opens a window
//! of `notices.digest_minutes`; later ones inside it are collected (stored, `owner_notices`)
//! and the job mails them as one digest per Owner and project at the window's end, listing at
//! most `notices.digest_max_items` and saying how many more. The account that did it is not
//! told of its own action. (A watched account's publish is told separately, by
//! `upload_safety`; a held file by `file_review`.)

use strongroom_store::ProjectRole;
use strongroom_store::model::Role;
use strongroom_store::{NoticeRecipient, OwnerNotice};

use crate::mail::{notice, notice_recipients};
use crate::{CoreError, Services};

/// What a notice says: mailed at once as `subject`/`body`, listed in a digest as `line`.
pub(crate) struct NoticeText {
    pub subject: String,
    pub body: String,
    pub line: String,
}

impl Services {
    fn digest_window_micros(&self) -> i64 {
        i64::try_from(self.settings.notices.digest_minutes)
            .unwrap_or(i64::MAX / 60_000_000)
            .saturating_mul(60_000_000)
    }

    /// The notice to the Owners in `roles` but `actor` (None when nobody is left to tell).
    pub(crate) async fn owner_notice_for(
        &self,
        roles: &[Role],
        actor: Option<i64>,
        text: NoticeText,
    ) -> Result<Option<OwnerNotice>, CoreError> {
        let mut recipients = Vec::new();
        for r in roles {
            if r.role == ProjectRole::Owner && Some(r.user_id) != actor {
                recipients.push(NoticeRecipient {
                    user_id: r.user_id,
                    addresses: notice_recipients(&self.db.emails_of(r.user_id).await?),
                });
            }
        }
        if recipients.is_empty() {
            return Ok(None);
        }
        let body = notice(&[String::new()], &text.subject, &text.body)
            .pop()
            .map(|m| m.body)
            .unwrap_or_default();
        Ok(Some(OwnerNotice {
            recipients,
            subject: text.subject,
            body,
            line: text.line,
            at: self.now(),
            window_micros: self.digest_window_micros(),
        }))
    }

    /// The notice of a yank (`reason` Some) or unyank of `version` of the project `p` by
    /// `actor_name` (`actor_id`: its account, which is not told).
    pub(crate) async fn yank_notice(
        &self,
        p: &strongroom_store::model::Project,
        version: &str,
        reason: Option<&str>,
        actor_name: &str,
        actor_id: Option<i64>,
    ) -> Result<Option<OwnerNotice>, CoreError> {
        let roles = self.db.roles_of_project(p.id).await?;
        let text = match reason {
            Some(reason) => NoticeText {
                subject: format!("{} {version} was yanked", p.name),
                body: format!(
                    "{actor_name} yanked the release {version} of {}. Installers skip it unless it is pinned. Reason given: {reason}\nIf you did not expect this, unyank it on the project's manage page and contact the index administrators.",
                    p.name
                ),
                line: format!("{actor_name} yanked {version} (reason: {reason})"),
            },
            None => NoticeText {
                subject: format!("{} {version} was unyanked", p.name),
                body: format!(
                    "{actor_name} unyanked the release {version} of {}: installers choose it again.\nIf you did not expect this, yank it on the project's manage page and contact the index administrators.",
                    p.name
                ),
                line: format!("{actor_name} unyanked {version}"),
            },
        };
        self.owner_notice_for(&roles, actor_id, text).await
    }

    /// The job: mail each Owner the notices whose window ended, one digest per project.
    pub(crate) async fn notice_digest_job(&self) -> Result<Vec<String>, CoreError> {
        let now = self.now();
        let max = self.settings.notices.digest_max_items.max(1);
        let mut out = Vec::new();
        // Sent notices older than their window (and a day) are not needed any more.
        let pruned = self
            .db
            .prune_owner_notices(
                now.saturating_sub(self.digest_window_micros())
                    .saturating_sub(crate::settings::days(1)),
            )
            .await?;
        if pruned > 0 {
            out.push(format!("notices: forgot {pruned} sent notice(s)"));
        }
        for d in self
            .db
            .due_notice_digests(now, self.digest_window_micros())
            .await?
        {
            let to = notice_recipients(&self.db.emails_of(d.user_id).await?);
            let n = d.items.len();
            let mut body = format!(
                "Since the last notice, {n} more change(s) were made to the project {}:\n\n",
                d.project_name
            );
            for (_, at, line) in d.items.iter().take(max) {
                body.push_str(&format!(
                    "- {}: {line}\n",
                    crate::clock::iso8601_seconds(*at)
                ));
            }
            if n > max {
                body.push_str(&format!(
                    "- ... and {} more (the project's history in the admin area, or the event log, has every one).\n",
                    n - max
                ));
            }
            body.push_str("\nIf you did not expect these, check the project's manage page and contact the index administrators.");
            let mails = notice(
                &to,
                &format!("{n} change(s) to {} (digest)", d.project_name),
                &body,
            );
            if self.db.send_notice_digest(&d, &mails, now).await? {
                out.push(format!(
                    "notice digest: {} change(s) to {} for account {}",
                    n, d.project_name, d.user_id
                ));
            }
        }
        Ok(out)
    }
}
