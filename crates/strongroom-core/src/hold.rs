//! The recovery hold: for a while after a password reset, an email change or a 2FA (re)enrolment
//! an account may not publish to projects it did not create during the hold, add or remove
//! owners, or create API tokens. A takeover through recovery is then slow and loud, not instant.

use strongroom_store::ProjectRole;
use strongroom_store::model::User;
use strongroom_store::{AccountTx, NewMail};

use crate::clock::iso8601_seconds;
use crate::mail::{notice, notice_recipients};
use crate::refusal_log::{RefusalKind, Source};
use crate::settings::hours;
use crate::{CoreError, Services};

/// What started a hold (shown to the user and in the log).
pub mod reason {
    pub const PASSWORD_RESET: &str = "password reset";
    pub const EMAIL_CHANGE: &str = "email change";
    pub const TWO_FACTOR_ENROLMENT: &str = "first two-factor enrolment";
    pub const TWO_FACTOR_RESET: &str = "two-factor reset";
    /// A second factor added beside existing ones on an established account.
    pub const TWO_FACTOR_CHANGE: &str = "two-factor change";
    /// A second factor (TOTP application or passkey) removed: whoever removes the owner's
    /// factor signs in later with less, or locks the owner out.
    pub const TWO_FACTOR_REMOVAL: &str = "two-factor removal";
    /// New recovery codes: the owner's old ones die, and a code with the password skips every
    /// other factor.
    pub const RECOVERY_CODES: &str = "recovery-code regeneration";
    /// The password changed from a signed-in session: the owner's password no longer works.
    pub const PASSWORD_CHANGE: &str = "password change";
}

/// What a held account is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldAction {
    /// Upload to a project the account did not create during the hold.
    Publish,
    /// Invite or add an owner (or any role).
    AddOwner,
    /// Remove or demote an owner.
    RemoveOwner,
    /// Create an API token.
    CreateToken,
    /// Yank or unyank a release.
    Yank,
    /// Remove a release or a file (filenames burn for good).
    RemoveRelease,
    /// Remove (delete) a whole project.
    DeleteProject,
    /// Leave a project (an Owner leaving is an established Owner removed at once).
    LeaveProject,
    /// Accept an invitation to become Owner of another project.
    AcceptOwner,
    /// Delete the account itself.
    DeleteAccount,
}

impl HeldAction {
    /// The name the event log gives it.
    pub fn code(self) -> &'static str {
        match self {
            HeldAction::Publish => "upload",
            HeldAction::AddOwner => "add-role",
            HeldAction::RemoveOwner => "remove-owner",
            HeldAction::CreateToken => "create-token",
            HeldAction::Yank => "yank",
            HeldAction::RemoveRelease => "remove-release",
            HeldAction::DeleteProject => "remove-project",
            HeldAction::LeaveProject => "leave",
            HeldAction::AcceptOwner => "accept-owner",
            HeldAction::DeleteAccount => "delete-account",
        }
    }

    /// What the refusal says the held account cannot do.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            HeldAction::Publish => "upload to projects it did not create during the hold",
            HeldAction::AddOwner => "add owners or maintainers",
            HeldAction::RemoveOwner => "remove or demote owners",
            HeldAction::CreateToken => "create API tokens",
            HeldAction::Yank => "yank or unyank releases",
            HeldAction::RemoveRelease => "remove releases or files",
            HeldAction::DeleteProject => "delete projects",
            HeldAction::LeaveProject => "leave projects",
            HeldAction::AcceptOwner => "become Owner of other projects",
            HeldAction::DeleteAccount => "be deleted",
        }
    }
}

/// Whether the account is held at `now`.
pub fn is_held(user: &User, now: i64) -> bool {
    user.hold_until.is_some_and(|t| t > now)
}

/// The refusal a held account gets.
pub fn held_message(user: &User, what: HeldAction) -> String {
    format!(
        "Your account is on a recovery hold until {} UTC after a recent {}: it cannot {} until then. If you did not make that change, contact the index administrators.",
        iso8601_seconds(user.hold_until.unwrap_or_default()),
        user.hold_reason.as_deref().unwrap_or("account recovery"),
        what.describe()
    )
}

impl Services {
    /// The refusal `what` gets while the account is held, if it is.
    pub(crate) fn hold_refusal(&self, user: &User, what: HeldAction) -> Option<CoreError> {
        is_held(user, self.now()).then(|| CoreError::Forbidden(held_message(user, what)))
    }

    /// Refuse `what` while the account is held, and log the refusal: a recovered account
    /// reaching for a project, a token or an owner during its hold is the evidence a takeover
    /// leaves. `project` (id, name) is what it reached for, so the project's timeline shows it.
    pub async fn check_hold(
        &self,
        user: &User,
        what: HeldAction,
        project: Option<(i64, &str)>,
        meta: &crate::RequestMeta,
    ) -> Result<(), CoreError> {
        match self.hold_refusal(user, what) {
            None => Ok(()),
            Some(refusal) => Err(self
                .log_hold_refusal(user, what, project, meta, refusal)
                .await),
        }
    }

    /// Log `account:hold:refused` for a refusal already decided (counted per account and
    /// refused action per window, `crate::refusal_log`), then hand the refusal back. A failing
    /// append is logged and does not change the answer.
    pub(crate) async fn log_hold_refusal(
        &self,
        user: &User,
        what: HeldAction,
        project: Option<(i64, &str)>,
        meta: &crate::RequestMeta,
        refusal: CoreError,
    ) -> CoreError {
        let ev = self.hold_refusal_event(user, what, project, meta);
        self.log_refusal(RefusalKind::Hold, Source::Account(user.id), ev)
            .await;
        refusal
    }

    /// [`Services::check_hold`] inside a change that has written nothing yet: the transaction
    /// is dropped (it wrote nothing) and the refusal logged like any other.
    pub(crate) async fn check_hold_in(
        &self,
        tx: AccountTx,
        user: &User,
        what: HeldAction,
        project: (i64, &str),
        meta: &crate::RequestMeta,
    ) -> Result<AccountTx, CoreError> {
        let Some(refusal) = self.hold_refusal(user, what) else {
            return Ok(tx);
        };
        drop(tx);
        Err(self
            .log_hold_refusal(user, what, Some(project), meta, refusal)
            .await)
    }

    fn hold_refusal_event(
        &self,
        user: &User,
        what: HeldAction,
        project: Option<(i64, &str)>,
        meta: &crate::RequestMeta,
    ) -> strongroom_store::NewEvent {
        let until = user.hold_until.unwrap_or_default();
        let mut ev = self.user_event(
            "account:hold:refused",
            user,
            meta,
            serde_json::json!({
                "refused": what.code(),
                "hold_reason": user.hold_reason,
                "until": until,
                "until_utc": iso8601_seconds(until),
                "user_id": user.id,
            }),
        );
        if let Some((id, name)) = project {
            ev.subject_kind = "project".into();
            ev.subject_id = Some(id);
            ev.subject_name = Some(name.to_owned());
        }
        ev
    }

    /// [`Services::start_hold`] plus its `account:hold` event (reason, until), done by `user`.
    pub(crate) async fn start_hold_logged(
        &self,
        tx: &mut AccountTx,
        user: &User,
        why: &str,
        extra: &[String],
        meta: &crate::RequestMeta,
    ) -> Result<(Vec<NewMail>, strongroom_store::NewEvent), CoreError> {
        let mails = self.start_hold(tx, user, why, extra, meta).await?;
        let until = tx
            .user(user.id)
            .await?
            .and_then(|u| u.hold_until)
            .unwrap_or_default();
        let ev = self.user_event(
            "account:hold",
            user,
            meta,
            serde_json::json!({"reason": why, "until": until, "until_utc": iso8601_seconds(until)}),
        );
        Ok((mails, ev))
    }

    /// Inside a credential change (docs/ownership-contract.md, "Credential changes"): start the
    /// hold for `why` unless the account is still being set up ([`Services::is_setup`]), adding
    /// its mails (every verified address) and its `account:hold` event to the change's own.
    pub(crate) async fn credential_hold(
        &self,
        tx: &mut AccountTx,
        user: &User,
        why: &str,
        meta: &crate::RequestMeta,
        mails: &mut Vec<NewMail>,
        events: &mut Vec<strongroom_store::NewEvent>,
    ) -> Result<(), CoreError> {
        if self.is_setup(user) {
            return Ok(());
        }
        let (hold_mails, hold) = self.start_hold_logged(tx, user, why, &[], meta).await?;
        mails.extend(hold_mails);
        events.push(hold);
        Ok(())
    }

    /// Whether a verification or first 2FA enrolment is the account's setup rather than a
    /// recovery: the account is younger than the hold itself and (for addresses) has no other
    /// verified address. Setting up a new account is not a takeover and is not held.
    pub(crate) fn is_setup(&self, user: &User) -> bool {
        self.now().saturating_sub(user.created_at) < hours(self.settings.safety.recovery_hold_hours)
    }

    /// Inside an account change: start the hold and tell every address the account has or had
    /// (`extra` are addresses just removed or replaced, which must hear of it too).
    /// Returns the mails to queue with the change.
    pub(crate) async fn start_hold(
        &self,
        tx: &mut AccountTx,
        user: &User,
        why: &str,
        extra: &[String],
        meta: &crate::RequestMeta,
    ) -> Result<Vec<NewMail>, CoreError> {
        let now = self.now();
        let until = now.saturating_add(hours(self.settings.safety.recovery_hold_hours));
        tx.set_hold(user.id, until, why, now).await?;
        // What the account set in motion before the recovery dies with it: invitations it sent
        // (a sock invited from a compromised account must not become Owner after the owner
        // takes the account back) and held role changes it asked for.
        let why_void = format!(
            "{} sent it, then went on a recovery hold ({why})",
            user.username
        );
        self.end_what_it_started(
            tx,
            user,
            &why_void,
            &format!("hold:{}", user.username),
            meta,
        )
        .await?;
        let mut to: Vec<String> = tx
            .emails(user.id)
            .await?
            .into_iter()
            .filter(|e| e.verified_recipient())
            .map(|e| e.address)
            .collect();
        for e in extra {
            if !to.iter().any(|t| t.eq_ignore_ascii_case(e)) {
                to.push(e.clone());
            }
        }
        let mut mails = notice(
            &to,
            "Your account is on a recovery hold",
            &format!(
                "A {why} was just made on the account {}. For the next {} hours it cannot upload to projects it did not create in that time, add or remove owners, create API tokens, yank, remove releases, files or projects, leave projects, become Owner elsewhere or be deleted (until {} UTC).",
                user.username,
                self.settings.safety.recovery_hold_hours,
                iso8601_seconds(until)
            ),
        );
        mails.extend(self.co_owner_notices(tx, user, why, until).await?);
        Ok(mails)
    }

    /// Inside an account change: void every invitation the account sent and cancel every held
    /// role change it asked for (`why` goes into each `role:invite:void` / `role:change:cancel`
    /// event, `ended_by` onto each change). A hold and a freeze both do this, so nothing the
    /// account set in motion takes effect after the owner has it back. Returns (voided,
    /// cancelled).
    pub(crate) async fn end_what_it_started(
        &self,
        tx: &mut AccountTx,
        user: &User,
        why: &str,
        ended_by: &str,
        meta: &crate::RequestMeta,
    ) -> Result<(usize, usize), CoreError> {
        let now = self.now();
        let voided = tx.void_all_invitations_from(user.id, now).await?;
        for i in &voided {
            tx.note_event(strongroom_store::NewEvent {
                at: now,
                actor_id: Some(user.id),
                actor_name: Some(user.username.clone()),
                action: "role:invite:void".into(),
                subject_kind: "project".into(),
                subject_id: Some(i.project_id),
                subject_name: Some(i.project_name.clone()),
                ip: meta.ip.clone(),
                user_agent: meta.user_agent.clone(),
                request_id: meta.request_id.clone(),
                details: serde_json::json!({"invitation_id": i.id, "user_id": i.invitee_id, "user": i.invitee_name, "role": i.role, "why": why}),
            });
        }
        let cancelled = tx.cancel_all_changes_by(user.id, now, ended_by).await?;
        for c in &cancelled {
            tx.note_event(strongroom_store::NewEvent {
                at: now,
                actor_id: Some(user.id),
                actor_name: Some(user.username.clone()),
                action: "role:change:cancel".into(),
                subject_kind: "project".into(),
                subject_id: Some(c.project_id),
                subject_name: Some(c.project_name.clone()),
                ip: meta.ip.clone(),
                user_agent: meta.user_agent.clone(),
                request_id: meta.request_id.clone(),
                details: serde_json::json!({"change_id": c.id, "user_id": c.target_id, "user": c.target_name, "kind": c.kind, "why": why}),
            });
        }
        Ok((voided.len(), cancelled.len()))
    }

    /// Every Owner of every project the account can publish to (as Owner or Maintainer) hears
    /// of its recovery: if it was not they who recovered it, they are the ones who can remove
    /// it, veto, and call the admins; a recovered Maintainer must not publish unseen.
    async fn co_owner_notices(
        &self,
        tx: &mut AccountTx,
        user: &User,
        why: &str,
        until: i64,
    ) -> Result<Vec<NewMail>, CoreError> {
        let safety = &self.settings.safety;
        let mut mails = Vec::new();
        for (p, role, _) in self.db.projects_of_user(user.id).await? {
            let mut to = Vec::new();
            for r in tx.project_roles(p.id).await? {
                if r.role == ProjectRole::Owner && r.user_id != user.id {
                    to.extend(notice_recipients(&tx.emails(r.user_id).await?));
                }
            }
            let limits = if role == ProjectRole::Owner {
                "it counts as a newcomer Owner: its removals of established Owners wait for their veto, and"
            } else {
                "as for a newcomer,"
            };
            mails.extend(notice(
                &to,
                &format!("{}, {} of {}, recovered their account", user.username, article(role), p.name),
                &format!(
                    "A {why} was just made on the account {}, {} of the project {}. The account is on a recovery hold until {} UTC. For {} days after it {limits} every release or file it publishes to the project is told to its Owners (and held for review if the project is dormant), and so is anyone it brings in. If you did not expect this, remove {} on the project's manage page and contact the index administrators.",
                    user.username,
                    article(role),
                    p.name,
                    iso8601_seconds(until),
                    safety.recovery_watch_days,
                    user.username,
                ),
            ));
        }
        Ok(mails)
    }
}

/// "an Owner" / "a Maintainer".
fn article(role: ProjectRole) -> String {
    if role == ProjectRole::Owner {
        format!("an {role}")
    } else {
        format!("a {role}")
    }
}
