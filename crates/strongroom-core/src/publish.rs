//! The upload use case (`POST /legacy/`): check the form, the file and the archive, claim the
//! blob key, store the blob, then record everything in one transaction that also settles the
//! claim. Nothing becomes visible unless all of it worked, and a blob whose upload did not end in
//! a row is deleted (`blob_collector`). The archive's own checks are `archive`; what a refused
//! publish answers, `refusals`.

use std::path::PathBuf;

use bytes::Bytes;
use strongroom_dist::Digests;
use strongroom_protocol::filename::DistFilename;
use strongroom_protocol::name::ProjectName;
use strongroom_store::ProjectStatus;
use strongroom_store::{BlobClaim, BlobKey, NewFile, PublishOutcome, StoreError, UploadPolicy};

use crate::help::HelpTopic;
use crate::tokens::Principal;
pub use crate::upload_checks::UploadForm;
use crate::upload_checks::{check_digests, check_filename, check_form};
use crate::{CoreError, RequestMeta, Services};

use crate::names::FIRST_COME_HELP as NAME_HELP;

mod archive;
mod refusals;

use archive::{Inspected, check_metadata, inspect};
use refusals::{token_not_allowed, user_not_allowed};

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
        let (claim, outcome) = self
            .store_and_publish(&key, wheel_metadata, file, &new, &policy)
            .await?;
        match outcome {
            PublishOutcome::Published {
                serial,
                project_created,
                ..
            } => {
                if project_created {
                    self.count_new_project(who, meta).await?;
                }
                Ok(Published::New { serial })
            }
            PublishOutcome::Quarantined { .. } | PublishOutcome::FileHeld { .. } if scan_held => {
                // A project created by a held first release counts against the creation limits.
                if project_is_new {
                    self.count_new_project(who, meta).await?;
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

    /// Write the blob (and the wheel's `.metadata` file) under a claim committed first, then
    /// record the file: a row without a blob must be impossible, and a blob without a row must
    /// not stay (`blob_collector`). The claim is given up on every failure; on success it is
    /// returned with the outcome, for the caller to give up when nothing was recorded.
    async fn store_and_publish(
        &self,
        key: &BlobKey,
        wheel_metadata: Option<(Bytes, Digests)>,
        file: &ReceivedFile,
        new: &NewFile,
        policy: &UploadPolicy,
    ) -> Result<(BlobClaim, PublishOutcome), CoreError> {
        let claim = self.claim_blob_key(key).await?;
        let stored: Result<(), CoreError> = async {
            if let Some((bytes, _)) = wheel_metadata {
                self.blobs.put_bytes(&key.metadata(), bytes).await?;
            }
            self.blobs.put_file(key, &file.path).await?;
            Ok(())
        }
        .await;
        if let Err(e) = stored {
            self.release_claim(&claim, true).await;
            return Err(e);
        }
        match self.db.publish(new, policy, Some(&claim)).await {
            Ok(outcome) => Ok((claim, outcome)),
            Err(e) => {
                // ClaimExpired: a collector took the claim; the blob is ours alone to collect.
                let still_held = !matches!(e, StoreError::ClaimExpired(_));
                self.release_claim(&claim, still_held).await;
                Err(e.into())
            }
        }
    }

    /// A project this upload created counts against the creation limits (per account and per
    /// address; an admin's do not).
    async fn count_new_project(
        &self,
        who: &Principal,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        if who.user.is_admin {
            return Ok(());
        }
        self.rate_hit(&format!("project:create:user:{}", who.user.id))
            .await?;
        if let Some(ip) = &meta.ip {
            self.rate_hit(&format!("project:create:ip:{ip}")).await?;
        }
        Ok(())
    }
}
