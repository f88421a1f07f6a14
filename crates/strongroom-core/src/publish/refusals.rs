//! What a refused publish answers: the store's `Refusal` as the message a client shows (the
//! prefixes clients match on kept, "File already exists").

use strongroom_store::{ProjectStatus, Refusal};

use crate::help::HelpTopic;
use crate::names::FIRST_COME_HELP as NAME_HELP;
use crate::tokens::Principal;
use crate::upload_checks::CheckedForm;
use crate::{CoreError, RequestMeta, Services};

const REUSE_HELP: &str = "A published file can never be replaced, even after it is deleted: publish a new version instead.";

impl Services {
    /// The answer to a refused publish (a held account's refusal is logged).
    pub(super) async fn publish_refusal(
        &self,
        r: Refusal,
        checked: &CheckedForm,
        who: &Principal,
        meta: &RequestMeta,
    ) -> CoreError {
        match r {
            Refusal::Held => self.held_refusal(who.user.id, &checked.name, meta).await,
            r => self.refusal(r, checked, &who.user.username),
        }
    }

    fn refusal(&self, r: Refusal, form: &CheckedForm, username: &str) -> CoreError {
        match r {
            Refusal::TooSimilar { .. } => crate::names::too_similar(form.name.as_str()),
            Refusal::UserNotAllowed { project } => user_not_allowed(username, &project),
            Refusal::TokenNotAllowed { project } => token_not_allowed(&project),
            Refusal::ProjectNotActive { project, status } => CoreError::Forbidden(format!(
                "The project '{project}' is {status} and does not accept uploads."
            )),
            Refusal::FileExists {
                filename,
                blake2_256,
            } => CoreError::Invalid(format!(
                "File already exists ('{filename}', with blake2_256 hash '{blake2_256}'). {REUSE_HELP} {}",
                HelpTopic::FileNameReuse.see()
            )),
            Refusal::FilenamePreviouslyUsed => previously_used(),
            Refusal::IdenticalHidden {
                file_removed,
                file_held,
                release,
                project_status,
            } => identical_hidden(file_removed, file_held, release, project_status, form),
            Refusal::OnlyOneSdist => {
                CoreError::Invalid("Only one sdist may be uploaded per release.".into())
            }
            Refusal::ReleaseTooOld => CoreError::Invalid(format!(
                "Uploading new files to releases older than {} days is not allowed.",
                self.settings.release_file_window_days
            )),
            Refusal::ProjectTooLarge => CoreError::Invalid(format!(
                "Project size too large. Limit for project '{}' total size is {} GB. The index's administrators can raise it (limits.max_project_size).",
                form.name.as_str(),
                self.settings.max_project_size / (1024 * 1024 * 1024)
            )),
            Refusal::Held => CoreError::Forbidden(
                "Your account is on a recovery hold and cannot upload to this project.".into(),
            ),
            Refusal::CredentialsGone => CoreError::Forbidden(crate::tokens::NO_AUTH.into()),
        }
    }
}

/// The refusal of an identical re-upload of a file the public does not see. The one visibility
/// rule decides what the file is; only a member gets here (the store checks the role first), so
/// the precise state may be named. Nothing is resurrected either way.
fn identical_hidden(
    file_removed: bool,
    file_held: bool,
    release: strongroom_store::ReleaseFlags,
    project_status: ProjectStatus,
    form: &CheckedForm,
) -> CoreError {
    use crate::visibility::State;
    let state = State::of_file(file_removed, file_held)
        .within(State::of_release(
            release.held,
            release.removed,
            release.yanked,
        ))
        .within(State::of_project(project_status));
    match state {
        State::Held if file_held && !release.held => CoreError::Invalid(format!(
            "This file was already uploaded to release '{}' and is held for review: it is published when the index's administrators approve it, and cannot be uploaded again meanwhile.",
            form.version.normalized()
        )),
        State::Held => CoreError::Invalid(format!(
            "This file was already uploaded to release '{}', which is held for review: it is published when the index's administrators approve the release, and cannot be uploaded again meanwhile.",
            form.version.normalized()
        )),
        State::Quarantined => CoreError::Forbidden(format!(
            "The project '{}' is quarantined and does not accept uploads.",
            form.name.as_str()
        )),
        // Removed, or anything the store did not call public: burned for good.
        _ => previously_used(),
    }
}

fn previously_used() -> CoreError {
    CoreError::Invalid(format!(
        "This filename was previously used by a file that has since been deleted. Use a different version. {REUSE_HELP} {}",
        HelpTopic::FileNameReuse.see()
    ))
}

pub(super) fn user_not_allowed(user: &str, project: &str) -> CoreError {
    CoreError::Forbidden(format!(
        "The user '{user}' isn't allowed to upload to project '{project}'. {NAME_HELP} {}",
        HelpTopic::ProjectNames.see()
    ))
}

pub(super) fn token_not_allowed(project: &str) -> CoreError {
    CoreError::Forbidden(format!(
        "The given token isn't allowed to upload to project '{project}': it is scoped to another project. {}",
        HelpTopic::ApiTokens.see()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn identical_uploads_of_hidden_files_are_refused_by_their_state() {
        use crate::upload_checks::CheckedForm;
        use strongroom_protocol::{ProjectName, Version};
        use strongroom_store::{ProjectStatus, ReleaseFlags};
        let form = CheckedForm {
            name: ProjectName::new("Demo").expect("name"),
            version: Version::parse("1.0").expect("version"),
            filetype: "bdist_wheel".into(),
            pyversion: "py3".into(),
            md5: None,
            sha256: None,
            blake2: None,
            comment: None,
        };
        let live = ReleaseFlags {
            held: false,
            removed: false,
            yanked: false,
        };
        let say = |file_removed: bool, release: ReleaseFlags, status: ProjectStatus| {
            super::identical_hidden(file_removed, false, release, status, &form).to_string()
        };
        let burned = "This filename was previously used by a file that has since been deleted. Use a different version. A published file can never be replaced, even after it is deleted: publish a new version instead. See /help/#file-name-reuse for more information.";
        assert_eq!(say(true, live, ProjectStatus::Active), burned);
        let removed = ReleaseFlags {
            removed: true,
            ..live
        };
        assert_eq!(say(false, removed, ProjectStatus::Active), burned);
        assert_eq!(say(false, live, ProjectStatus::Removed), burned);
        let held = ReleaseFlags { held: true, ..live };
        assert_eq!(
            say(false, held, ProjectStatus::Active),
            "This file was already uploaded to release '1.0', which is held for review: it is published when the index's administrators approve the release, and cannot be uploaded again meanwhile."
        );
        assert_eq!(
            say(true, held, ProjectStatus::Active),
            burned,
            "removed wins over held"
        );
        assert_eq!(
            say(false, live, ProjectStatus::Quarantined),
            "The project 'Demo' is quarantined and does not accept uploads."
        );
        assert_eq!(say(false, held, ProjectStatus::Removed), burned);
    }
}
