//! The upload use case (`POST /legacy/`): check the form, the file and the archive, claim the
//! blob key, store the blob, then record everything in one transaction that also settles the
//! claim. Nothing becomes visible unless all of it worked, and a blob whose upload did not end in
//! a row is deleted (`blob_collector`).

use std::path::PathBuf;

use bytes::Bytes;
use strongroom_dist::{Digests, Limits};
use strongroom_protocol::filename::DistFilename;
use strongroom_protocol::metadata::CoreMetadata;
use strongroom_protocol::name::ProjectName;
use strongroom_store::ProjectStatus;
use strongroom_store::{BlobKey, NewFile, PublishOutcome, Refusal, StoreError, UploadPolicy};

use crate::help::HelpTopic;
use crate::tokens::Principal;
pub use crate::upload_checks::UploadForm;
use crate::upload_checks::{CheckedForm, check_digests, check_filename, check_form};
use crate::{CoreError, RequestMeta, Services};

use crate::names::FIRST_COME_HELP as NAME_HELP;
const REUSE_HELP: &str = "A published file can never be replaced, even after it is deleted: publish a new version instead.";

/// The `content` part, already streamed to a temporary file and hashed.
#[derive(Debug, Clone)]
pub struct ReceivedFile {
    pub path: PathBuf,
    pub filename: String,
    pub content_type: Option<String>,
    pub size: u64,
    pub digests: Digests,
}

/// What an accepted upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// New file, visible at this serial.
    New { serial: i64 },
    /// The identical file was already there; nothing changed.
    AlreadyThere,
    /// Recorded in a quarantined release (see `upload_safety`): not installable until an
    /// administrator approves it. The body to answer with.
    Quarantined { message: String },
}

/// PyPI's message for a file over the size limit.
pub fn file_too_large(project: &str, limit: u64) -> String {
    format!(
        "File too large. Limit for project '{project}' is {} MB. The index's administrators can raise it (limits.max_file_size).",
        limit / (1024 * 1024)
    )
}

fn blob_blake2(d: &Digests) -> String {
    d.blake2b_256_hex()
}

impl Services {
    /// The checks that need only the form and the principal (run before the file is read,
    /// so a refused upload costs nothing). Returns the project name from the form.
    pub async fn precheck_upload(
        &self,
        who: &Principal,
        form: &UploadForm,
        meta: &RequestMeta,
    ) -> Result<String, CoreError> {
        let checked = check_form(form)?;
        self.check_project_access(who, &checked.name, None).await?;
        self.check_uploader(who).await?;
        self.check_upload_hold(who, &checked.name, meta).await?;
        Ok(checked.name.as_str().to_owned())
    }

    /// PyPI's step 7: an account uploads only with a verified primary address and (when 2FA is
    /// required) two-factor authentication enabled.
    pub(crate) async fn check_uploader(&self, who: &Principal) -> Result<(), CoreError> {
        // Registration by address (`domains`, `invite`) needs it proven, whatever `require_2fa` says.
        if !self.settings.require_2fa && !self.settings.registration.needs_proven_address() {
            return Ok(());
        }
        let verified_primary = self
            .db
            .emails_of(who.user.id)
            .await?
            .iter()
            .any(|e| e.is_primary && e.verified_at.is_some());
        if !verified_primary {
            return Err(CoreError::Forbidden(format!(
                "User '{}' does not have a verified primary email address. Please add a verified primary email before attempting to upload: verify an address under Account settings. {}",
                who.user.username,
                HelpTopic::VerifiedEmail.see()
            )));
        }
        if !self.settings.require_2fa {
            return Ok(());
        }
        if !self.has_two_factor(who.user.id).await? {
            return Err(CoreError::Forbidden(format!(
                "User '{}' does not have two-factor authentication enabled. Please enable two-factor authentication before attempting to upload: set up an authenticator app or a security key under Account settings. {}",
                who.user.username,
                HelpTopic::TwoFactor.see()
            )));
        }
        Ok(())
    }

    /// May `who` upload to the existing project `p` (`typed`: the name as the upload spells it)?
    /// Whoever is not a member of `p` gets the answer every name they may not upload to gets,
    /// whatever `p`'s state: a removed or quarantined project's state, and the stored spelling
    /// of a name the public does not see, are told to its members only.
    async fn check_existing_project(
        &self,
        who: &Principal,
        p: &strongroom_store::model::Project,
        typed: &ProjectName,
    ) -> Result<(), CoreError> {
        let shown = if crate::visibility::State::of_project(p.status).is_public() {
            p.name.as_str()
        } else {
            typed.as_str()
        };
        if let Some(scope) = who.token.project_id
            && scope != p.id
        {
            return Err(token_not_allowed(shown));
        }
        if self.db.role_of(p.id, who.user.id).await?.is_none() {
            return Err(user_not_allowed(&who.user.username, shown));
        }
        if p.status == ProjectStatus::Removed {
            return Err(CoreError::Invalid(crate::names::removed_name_message(
                typed.as_str(),
            )));
        }
        if p.status != ProjectStatus::Active {
            return Err(CoreError::Forbidden(format!(
                "The project '{}' is {} and does not accept uploads.",
                p.name, p.status
            )));
        }
        Ok(())
    }

    async fn check_project_access(
        &self,
        who: &Principal,
        name: &ProjectName,
        ip: Option<&str>,
    ) -> Result<(), CoreError> {
        self.check_writable().await?;
        let normalized = name.normalized();
        match self.db.project_by_normalized(normalized.as_str()).await? {
            Some(p) => self.check_existing_project(who, &p, name).await,
            None => {
                if who.token.project_id.is_some() {
                    return Err(token_not_allowed(name.as_str()));
                }
                self.check_new_projects_allowed().await?;
                if strongroom_protocol::name::is_stdlib_module_name(&normalized) {
                    return Err(CoreError::Invalid(format!(
                        "The name '{}' isn't allowed (conflict with Python Standard Library module name). {NAME_HELP} {}",
                        name.as_str(),
                        HelpTopic::ProjectNames.see()
                    )));
                }
                self.check_new_project_name(name, Some(who.user.id)).await?;
                if self
                    .db
                    .project_by_ultranormalized(&name.skeleton())
                    .await?
                    .is_some()
                {
                    // A concurrent first upload may have just created this very project.
                    if let Some(p) = self.db.project_by_normalized(normalized.as_str()).await? {
                        return self.check_existing_project(who, &p, name).await;
                    }
                    return Err(crate::names::too_similar(name.as_str()));
                }
                // With the gateway on, a new local project must not take over a name it serves
                // from an upstream (for every install through this index) unless it is reserved.
                self.check_new_name_against_upstream(name).await?;
                if who.user.is_admin {
                    // Administrators seed and import: the limit is for accounts anyone can make.
                    return Ok(());
                }
                let msg = "Too many new projects created by this account or address.";
                self.rate_check(
                    &format!("project:create:user:{}", who.user.id),
                    crate::ratelimit::Limit::ProjectCreateUser,
                    msg,
                )
                .await?;
                if let Some(ip) = ip {
                    self.rate_check(
                        &format!("project:create:ip:{ip}"),
                        crate::ratelimit::Limit::ProjectCreateIp,
                        msg,
                    )
                    .await?;
                }
                Ok(())
            }
        }
    }

    /// Publish one file.
    pub async fn publish(
        &self,
        who: &Principal,
        form: &UploadForm,
        file: Option<&ReceivedFile>,
        meta: &RequestMeta,
    ) -> Result<Published, CoreError> {
        let checked = check_form(form)?;
        let Some(file) = file else {
            return Err(CoreError::Invalid(
                "Upload payload does not have a file.".into(),
            ));
        };
        // uv sends the file part without a Content-Type; only image/* is refused, as PyPI does.
        if file
            .content_type
            .as_deref()
            .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("image/"))
        {
            return Err(CoreError::Invalid("Invalid distribution file.".into()));
        }
        self.check_project_access(who, &checked.name, meta.ip.as_deref())
            .await?;
        self.check_uploader(who).await?;
        self.check_upload_hold(who, &checked.name, meta).await?;
        let parsed = check_filename(&file.filename, &checked, self.settings.strict_filenames)?;
        if file.size > self.settings.max_file_size {
            return Err(CoreError::Invalid(file_too_large(
                checked.name.as_str(),
                self.settings.max_file_size,
            )));
        }
        check_digests(&checked, &file.digests)?;

        // Flush the upload to disk while the archive is inspected: I/O and CPU overlap, and the
        // blob store's own fsync before the rename then finds little left to write.
        let early_flush = self.blobs.is_local().then(|| {
            let p = file.path.clone();
            tokio::task::spawn_blocking(move || std::fs::File::open(p).and_then(|f| f.sync_data()))
        });
        let inspected = inspect(file.path.clone(), parsed.clone()).await;
        if let Some(flush) = early_flush {
            // Errors surface again from put_file's fsync, which is what decides.
            let _ = flush.await;
        }
        let inspected = inspected?;
        let metadata =
            check_metadata(&checked, &parsed, &inspected, self.settings.strict_metadata)?;

        let blake2 = blob_blake2(&file.digests);
        let key = BlobKey::for_file(&blake2, &file.filename)
            .ok_or_else(|| CoreError::Invalid("Invalid file name.".into()))?;
        let wheel_metadata = match (&parsed, &inspected) {
            (DistFilename::Wheel(_), Inspected::Wheel(w)) => {
                let bytes = Bytes::from(w.metadata.clone());
                let mut h = strongroom_dist::Hasher::new();
                h.update(&bytes);
                Some((bytes, h.finish()))
            }
            _ => None,
        };
        let (metadata_sha256, metadata_blake2) = match &wheel_metadata {
            Some((_, d)) => (Some(d.sha256_hex()), Some(d.blake2b_256_hex())),
            None => (None, None),
        };

        let normalized = checked.name.normalized();
        let mut new = NewFile {
            project_name: checked.name.as_str().to_owned(),
            normalized_name: normalized.as_str().to_owned(),
            ultranormalized_name: checked.name.skeleton(),
            user_id: who.user.id,
            username: who.user.username.clone(),
            token_project_id: who.token.project_id,
            token_id: Some(who.token.id),
            version: checked.version.normalized(),
            canonical_version: checked.version.canonical(),
            requires_python: metadata.requires_python.clone(),
            core_metadata: String::from_utf8_lossy(inspected.metadata_bytes()).into_owned(),
            description: None,
            filename: file.filename.clone(),
            packagetype: checked.filetype.clone(),
            python_version: checked.pyversion.clone(),
            size: i64::try_from(file.size).unwrap_or(i64::MAX),
            md5: file.digests.md5_hex(),
            sha256: file.digests.sha256_hex(),
            blake2_256: blake2.clone(),
            blob_key: key.as_str().to_owned(),
            metadata_sha256,
            metadata_blake2_256: metadata_blake2,
            comment_text: checked.comment.clone(),
            at: self.now(),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            request_id: meta.request_id.clone(),
            release_window_micros: i64::try_from(self.settings.release_file_window_days)
                .unwrap_or(i64::MAX / 86_400_000_000)
                .saturating_mul(86_400_000_000),
            max_project_size: i64::try_from(self.settings.max_project_size).unwrap_or(i64::MAX),
            scan: None,
        };
        // A file already known by name or content is answered before the scan: re-uploading an
        // existing file (twine's `--skip-existing` habit, CI retries) costs no scan. Only an
        // answer the store's publish gives anyway (duplicate or a refusal of steps that do not
        // read the policy) returns here; anything else goes on to the scan.
        if self
            .db
            .file_known(&new.filename, &new.blake2_256, &new.sha256)
            .await?
        {
            match self
                .db
                .check_publish(&new, &UploadPolicy::default())
                .await?
            {
                PublishOutcome::Duplicate => return Ok(Published::AlreadyThere),
                PublishOutcome::Refused(r) => {
                    return Err(self.publish_refusal(r, &checked, who, meta).await);
                }
                _ => {}
            }
        }
        // The content scan: precise rules refuse here, before anything is stored.
        let scan = self
            .scan_upload(&who.user, checked.name.as_str(), file, &parsed, meta)
            .await?;
        let mut policy = self
            .upload_policy(
                &who.user,
                checked.name.as_str(),
                &new.version,
                &new.filename,
            )
            .await?;
        // Per-file review and the Owners' notice of an added file (`file_review`).
        self.added_file_policy(&who.user, &new, &mut policy).await?;
        // The scan's score: `new.scan` always, `policy.scan_hold` when it reaches the threshold.
        let upload = crate::scanning::Upload {
            metadata: &metadata,
            members: inspected.members(),
        };
        let project_is_new = self
            .scan_policy(&who.user, &mut new, upload, scan, &mut policy)
            .await?;
        let scan_held = policy.scan_hold.is_some();
        // Ask before writing the blob: a refused upload must leave nothing in the blob store.
        let release_created = match self.db.check_publish(&new, &policy).await? {
            PublishOutcome::Duplicate => return Ok(Published::AlreadyThere),
            PublishOutcome::Refused(r) => {
                return Err(self.publish_refusal(r, &checked, who, meta).await);
            }
            PublishOutcome::Published {
                release_created, ..
            }
            | PublishOutcome::Quarantined { release_created } => release_created,
            PublishOutcome::FileHeld { .. } => false,
        };
        // A new release stores its description rendered (bounded work, on a blocking thread):
        // pages only read it. A file joining an existing release keeps that release's.
        if release_created {
            new.description = Some(
                crate::descriptions::render_blocking(
                    metadata.description.clone(),
                    metadata.description_content_type.clone(),
                )
                .await?,
            );
        }
        // Then the blob (and the wheel's .metadata), under a claim committed first: a row without
        // a blob must be impossible, and a blob without a row must not stay (blob_collector).
        let claim = self.claim_blob_key(&key).await?;
        let stored: Result<(), CoreError> = async {
            if let Some((bytes, _)) = wheel_metadata {
                self.blobs.put_bytes(&key.metadata(), bytes).await?;
            }
            self.blobs.put_file(&key, &file.path).await?;
            Ok(())
        }
        .await;
        if let Err(e) = stored {
            self.release_claim(&claim, true).await;
            return Err(e);
        }
        let outcome = match self.db.publish(&new, &policy, Some(&claim)).await {
            Ok(o) => o,
            Err(e) => {
                // ClaimExpired: a collector took the claim; the blob is ours alone to collect.
                let still_held = !matches!(e, StoreError::ClaimExpired(_));
                self.release_claim(&claim, still_held).await;
                return Err(e.into());
            }
        };
        match outcome {
            PublishOutcome::Published {
                serial,
                project_created,
                ..
            } => {
                if project_created && !who.user.is_admin {
                    self.rate_hit(&format!("project:create:user:{}", who.user.id))
                        .await?;
                    if let Some(ip) = &meta.ip {
                        self.rate_hit(&format!("project:create:ip:{ip}")).await?;
                    }
                }
                Ok(Published::New { serial })
            }
            PublishOutcome::Quarantined { .. } | PublishOutcome::FileHeld { .. } if scan_held => {
                // A project created by a held first release counts against the creation limits.
                if project_is_new && !who.user.is_admin {
                    self.rate_hit(&format!("project:create:user:{}", who.user.id))
                        .await?;
                    if let Some(ip) = &meta.ip {
                        self.rate_hit(&format!("project:create:ip:{ip}")).await?;
                    }
                }
                Ok(Published::Quarantined {
                    message: crate::scanning::held_answer(
                        checked.name.as_str(),
                        &new.version,
                        &new.filename,
                    ),
                })
            }
            PublishOutcome::Quarantined { .. } => Ok(Published::Quarantined {
                message: crate::upload_safety::quarantined_answer(
                    checked.name.as_str(),
                    &new.version,
                ),
            }),
            PublishOutcome::FileHeld { .. } => Ok(Published::Quarantined {
                message: crate::file_review::held_answer(
                    checked.name.as_str(),
                    &new.version,
                    &new.filename,
                ),
            }),
            PublishOutcome::Duplicate => {
                // The identical file's row protects the blob; only the claim goes.
                self.release_claim(&claim, true).await;
                Ok(Published::AlreadyThere)
            }
            PublishOutcome::Refused(r) => {
                // A race lost after the check: the blob just written goes again.
                self.release_claim(&claim, true).await;
                Err(self.publish_refusal(r, &checked, who, meta).await)
            }
        }
    }

    /// The answer to a refused publish (a held account's refusal is logged).
    async fn publish_refusal(
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

fn user_not_allowed(user: &str, project: &str) -> CoreError {
    CoreError::Forbidden(format!(
        "The user '{user}' isn't allowed to upload to project '{project}'. {NAME_HELP} {}",
        HelpTopic::ProjectNames.see()
    ))
}

fn token_not_allowed(project: &str) -> CoreError {
    CoreError::Forbidden(format!(
        "The given token isn't allowed to upload to project '{project}': it is scoped to another project. {}",
        HelpTopic::ApiTokens.see()
    ))
}

/// What the archive inspection found.
enum Inspected {
    Wheel(strongroom_dist::WheelInfo),
    Sdist(strongroom_dist::SdistInfo),
}

impl Inspected {
    fn metadata_bytes(&self) -> &[u8] {
        match self {
            Inspected::Wheel(w) => &w.metadata,
            Inspected::Sdist(s) => &s.pkg_info,
        }
    }

    fn members(&self) -> &[String] {
        match self {
            Inspected::Wheel(w) => &w.members,
            Inspected::Sdist(s) => &s.members,
        }
    }
}

async fn inspect(path: PathBuf, parsed: DistFilename) -> Result<Inspected, CoreError> {
    let limits = Limits::default();
    let result = tokio::task::spawn_blocking(move || match parsed {
        DistFilename::Wheel(_) => {
            strongroom_dist::inspect_wheel(&path, &limits).map(Inspected::Wheel)
        }
        DistFilename::Sdist(s) => {
            let kind = match s.kind {
                strongroom_protocol::filename::SdistKind::TarGz => {
                    strongroom_dist::SdistKind::TarGz
                }
                strongroom_protocol::filename::SdistKind::Zip => strongroom_dist::SdistKind::Zip,
            };
            strongroom_dist::inspect_sdist(&path, kind, &limits).map(Inspected::Sdist)
        }
    })
    .await
    .map_err(|e| CoreError::Internal(format!("inspection task failed: {e}")))?;
    result.map_err(|e| match e {
        strongroom_dist::DistError::Io(io) => {
            CoreError::Internal(format!("reading the uploaded file: {io}"))
        }
        other => CoreError::Invalid(format!("Invalid distribution file. {other}")),
    })
}

/// Rules PyPI added after many of the files it hosts were published: a field newer than the
/// declared Metadata-Version, classifiers deprecated since (unknown classifiers were never
/// accepted, so they stay refused). Private indexes hold
/// copies of those files, so these are enforced only with `strict_metadata`.
fn is_historical_rule(e: &strongroom_protocol::metadata::MetadataError) -> bool {
    let msg = e.to_string();
    (e.field() == Some("classifier") && msg.contains("has been deprecated"))
        || msg.contains("introduced in metadata version")
}

/// Parse and validate the file's own metadata and make sure it agrees with the form and filename.
fn check_metadata(
    form: &CheckedForm,
    parsed: &DistFilename,
    inspected: &Inspected,
    strict_metadata: bool,
) -> Result<CoreMetadata, CoreError> {
    let md = CoreMetadata::parse(inspected.metadata_bytes())
        .map_err(|e| CoreError::Invalid(format!("Invalid distribution file. {e}")))?;
    // Metadata-Version 2.0 was never a standard but bdist_wheel wrote it for years, and PyPI
    // hosts those files: outside strict mode they are checked by the 2.1 rules.
    let errors = if !strict_metadata && md.metadata_version.as_deref() == Some("2.0") {
        let mut as_21 = md.clone();
        as_21.metadata_version = Some("2.1".into());
        as_21.validate_all()
    } else {
        md.validate_all()
    };
    if let Some(e) = errors
        .iter()
        .find(|e| strict_metadata || !is_historical_rule(e))
    {
        return Err(CoreError::Invalid(e.upload_message()));
    }
    let file_name = md.name.clone().unwrap_or_default();
    if strongroom_protocol::name::normalize(&file_name) != form.name.normalized().as_str() {
        return Err(CoreError::Invalid(format!(
            "The name in the file's metadata ('{file_name}') does not match the upload form ('{}').",
            form.name.as_str()
        )));
    }
    let file_version = md.version.clone().unwrap_or_default();
    let same_version = strongroom_protocol::version::Version::parse(&file_version)
        .map(|v| v.canonical() == form.version.canonical())
        .unwrap_or(false);
    if !same_version {
        return Err(CoreError::Invalid(format!(
            "The version in the file's metadata ('{file_version}') does not match the upload form ('{}').",
            form.version.raw()
        )));
    }
    // License-File must name real files only from Metadata 2.4 (PEP 639) on: older metadata
    // (setuptools wrote License-File into 2.1/2.2 for years) put them elsewhere, as PyPI allows.
    let pep639 = md.metadata_version.as_deref().is_some_and(|v| {
        let mut it = v.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (2, 4)
    });
    match (parsed, inspected) {
        (DistFilename::Wheel(w), Inspected::Wheel(info)) => {
            check_wheel(form, w, info, &md, pep639)?
        }
        (DistFilename::Sdist(_), Inspected::Sdist(info)) => {
            check_sdist_top_dir(form, info)?;
            for lic in md.license_files.iter().filter(|_| pep639) {
                let path = format!("{}/{}", info.top_dir, lic);
                if !inspected.members().iter().any(|m| m == &path) {
                    return Err(CoreError::Invalid(format!(
                        "License-File {lic} does not exist in distribution file."
                    )));
                }
            }
        }
        _ => return Err(CoreError::Internal("inspection kind mismatch".into())),
    }
    Ok(md)
}

/// The sdist's single top-level folder (every member is inside it; `strongroom-dist` checked
/// that) must be `{name}-{version}` of this release, in any spelling real sdists use.
fn check_sdist_top_dir(
    form: &CheckedForm,
    info: &strongroom_dist::SdistInfo,
) -> Result<(), CoreError> {
    let project = form.name.normalized();
    if strongroom_protocol::dist_dir_matches(&info.top_dir, &project, &form.version) {
        return Ok(());
    }
    Err(CoreError::Invalid(format!(
        "Invalid distribution file. The sdist's top-level directory '{}' does not match the project and version (expected '{}-{}').",
        info.top_dir,
        project.underscored(),
        form.version.normalized()
    )))
}

fn check_wheel(
    form: &CheckedForm,
    w: &strongroom_protocol::filename::WheelFilename,
    info: &strongroom_dist::WheelInfo,
    md: &CoreMetadata,
    pep639: bool,
) -> Result<(), CoreError> {
    let ok = info
        .dist_info_dir
        .strip_suffix(".dist-info")
        .is_some_and(|dir| {
            strongroom_protocol::dist_dir_matches(dir, &form.name.normalized(), &form.version)
        });
    if !ok {
        return Err(CoreError::Invalid(format!(
            "Invalid distribution file. The .dist-info directory '{}' does not match the project and version.",
            info.dist_info_dir
        )));
    }
    if !info.tags.is_empty() {
        // Tag lines may themselves be compressed tag sets (maturin writes `cp311-cp311-a.b`).
        let listed = expand_tags(&info.tags);
        for tag in expand_tags(&[format!(
            "{}-{}-{}",
            w.python_tags.join("."),
            w.abi_tags.join("."),
            w.platform_tags.join(".")
        )]) {
            if !listed.contains(&tag) {
                return Err(CoreError::Invalid(format!(
                    "Invalid distribution file. The wheel's filename tag '{tag}' is not listed in its WHEEL file."
                )));
            }
        }
    }
    for lic in md.license_files.iter().filter(|_| pep639) {
        let path = format!("{}/licenses/{}", info.dist_info_dir, lic);
        if !info.members.iter().any(|m| m == &path) {
            return Err(CoreError::Invalid(format!(
                "License-File {lic} does not exist in distribution file."
            )));
        }
    }
    Ok(())
}

/// Expand compressed tag sets (`py2.py3-none-any` → `py2-none-any`, `py3-none-any`).
fn expand_tags(tags: &[String]) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for t in tags {
        let mut parts = t.trim().splitn(3, '-');
        let (Some(py), Some(abi), Some(plat)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        for p in py.split('.') {
            for a in abi.split('.') {
                for pl in plat.split('.') {
                    out.insert(format!("{p}-{a}-{pl}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::expand_tags;

    #[test]
    fn only_rules_newer_than_hosted_files_are_relaxed() {
        use strongroom_protocol::metadata::CoreMetadata;
        let md = |extra: &str| {
            CoreMetadata::parse(
                format!("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n{extra}").as_bytes(),
            )
            .expect("parses")
        };
        let relaxed = |m: &CoreMetadata| m.validate_all().iter().all(super::is_historical_rule);
        // Deprecated since: relaxed outside strict mode.
        let deprecated = md("Classifier: License :: OSI Approved :: Intel Open Source License\n");
        assert!(!deprecated.validate_all().is_empty());
        assert!(relaxed(&deprecated));
        // Never a classifier: always refused.
        let bogus = md("Classifier: Totally :: Made Up\n");
        assert!(!relaxed(&bogus));
        // A 2.4 field in 2.1 metadata: relaxed.
        let newer = md("License-Expression: MIT\n");
        assert!(!newer.validate_all().is_empty());
        assert!(relaxed(&newer));
        // A direct URL dependency: always refused.
        let direct = md("Requires-Dist: evil @ https://example.invalid/evil.whl\n");
        assert!(!relaxed(&direct));
    }

    #[test]
    fn sdist_top_dir_must_name_the_release() {
        use crate::upload_checks::CheckedForm;
        use strongroom_protocol::{ProjectName, Version};
        let form = |name: &str, version: &str| CheckedForm {
            name: ProjectName::new(name).expect("name"),
            version: Version::parse(version).expect("version"),
            filetype: "sdist".into(),
            pyversion: "source".into(),
            md5: None,
            sha256: None,
            blake2: None,
            comment: None,
        };
        let info = |top: &str| strongroom_dist::SdistInfo {
            top_dir: top.into(),
            pkg_info: Vec::new(),
            members: vec![format!("{top}/PKG-INFO")],
        };
        for (top, name, version) in [
            ("Django-1.11.29", "Django", "1.11.29"),
            ("zope.interface-4.1.3", "zope.interface", "4.1.3"),
            ("demo_pkg-1.0", "demo-pkg", "1.0.0"),
        ] {
            super::check_sdist_top_dir(&form(name, version), &info(top)).expect(top);
        }
        let e = super::check_sdist_top_dir(&form("demo-pkg", "1.0"), &info("evil-1.0"))
            .expect_err("another project's folder");
        assert_eq!(
            e.to_string(),
            "Invalid distribution file. The sdist's top-level directory 'evil-1.0' does not match the project and version (expected 'demo_pkg-1.0')."
        );
        super::check_sdist_top_dir(&form("demo-pkg", "1.0"), &info("demo_pkg-2.0"))
            .expect_err("another version's folder");
    }

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

    #[test]
    fn tag_sets_expand_on_both_sides() {
        let a = expand_tags(&["cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64".to_owned()]);
        assert_eq!(a.len(), 2);
        assert!(a.contains("cp311-cp311-manylinux2014_x86_64"));
        let b = expand_tags(&["py2.py3-none-any".to_owned(), "garbage".to_owned()]);
        assert_eq!(
            b.into_iter().collect::<Vec<_>>(),
            vec!["py2-none-any", "py3-none-any"]
        );
    }
}
