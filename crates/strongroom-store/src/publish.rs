//! The one transaction that makes an uploaded file visible: project (if new), role, release,
//! file, filename registry, journal entries and events — or none of them. A held account's upload
//! to a project it did not create during the hold is refused here too (by database identity), and
//! a new release of a dormant project may be quarantined: recorded, but with no journal entry and
//! invisible to installers until an administrator approves it.

mod duplicates;
mod file_row;
mod project_row;
mod record;
mod release_row;

use std::ops::ControlFlow;

use sqlx::{Any, Row, Transaction};

use crate::blob_claims::BlobClaim;
use crate::states::ProjectStatus;
use crate::{Db, NewMail, StoreError};

/// Everything needed to record one uploaded file. The blob must already be durable.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub project_name: String,
    pub normalized_name: String,
    pub ultranormalized_name: String,
    pub user_id: i64,
    pub username: String,
    /// The scope of the token used, if project-scoped.
    pub token_project_id: Option<i64>,
    /// The token used, recorded in the upload event.
    pub token_id: Option<i64>,
    pub version: String,
    pub canonical_version: String,
    pub requires_python: Option<String>,
    pub core_metadata: String,
    /// The description rendered from `core_metadata`, stored with the release this file creates
    /// (None: the periodic job renders it).
    pub description: Option<crate::RenderedDescription>,
    pub filename: String,
    pub packagetype: String,
    pub python_version: String,
    pub size: i64,
    pub md5: String,
    pub sha256: String,
    pub blake2_256: String,
    pub blob_key: String,
    pub metadata_sha256: Option<String>,
    pub metadata_blake2_256: Option<String>,
    pub comment_text: Option<String>,
    pub at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The HTTP request that uploads it (recorded with the upload event).
    pub request_id: Option<String>,
    /// Files may be added to a release only this long (µs) after it was created.
    pub release_window_micros: i64,
    pub max_project_size: i64,
    /// The content scanner's verdict, stored with the file (`file_scans`) in the same
    /// transaction. `None` only where nothing was scanned (tests of other parts).
    pub scan: Option<crate::file_scans::NewScan>,
}

/// Why the upload was refused by the database's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A project whose name folds to the same confusable form exists.
    TooSimilar { existing: String },
    /// The user holds no role on the project.
    UserNotAllowed { project: String },
    /// The token is scoped to another project.
    TokenNotAllowed { project: String },
    /// The project is not accepting uploads (quarantined, archived, ...).
    ProjectNotActive {
        project: String,
        status: ProjectStatus,
    },
    /// Same filename or same content with different bytes.
    FileExists {
        filename: String,
        blake2_256: String,
    },
    /// The filename was used by a file since deleted.
    FilenamePreviouslyUsed,
    /// The identical file (same name, same bytes) is recorded, but the public does not see it:
    /// the file, its release or its project is removed, held or quarantined. Nothing changes (it
    /// is not resurrected); core words the refusal from the state these give (one visibility
    /// rule, `core::visibility`).
    IdenticalHidden {
        file_removed: bool,
        /// The file is held for review (added to an existing release by a watched account).
        file_held: bool,
        release: crate::ReleaseFlags,
        project_status: ProjectStatus,
    },
    /// A second sdist for one release.
    OnlyOneSdist,
    /// The release is older than the window for new files.
    ReleaseTooOld,
    /// The project would exceed its size limit.
    ProjectTooLarge,
    /// The account is on a recovery hold and did not create this project during it.
    Held,
    /// The account was frozen or deleted, or the token revoked or expired, while the file
    /// streamed in (the credentials were good when the request began).
    CredentialsGone,
}

/// What the caller's policy adds to one upload (core decides; the store applies it inside the
/// transaction).
#[derive(Debug, Clone, Default)]
pub struct UploadPolicy {
    /// Quarantine a new release when the project's newest release that is not itself
    /// quarantined was created before this time (a dormant project, a recently recovered account).
    pub dormant_before: Option<i64>,
    /// Why (stored in `releases.quarantine_reason` and the `release:quarantine` event).
    pub quarantine_reason: String,
    /// Mails queued when a release is quarantined by this upload.
    pub quarantine_mails: Vec<NewMail>,
    /// Mails queued when this upload publishes a new release (a watched account's release, told
    /// to the project's other Owners).
    pub release_mails: Vec<NewMail>,
    /// Hold a file added to an existing release that is not itself held (published, or approved
    /// after review) for an administrator's review, with this reason (a watched account's
    /// upload, `core::file_review`).
    pub hold_added_file: Option<String>,
    /// Mails queued when this upload's file is held (the project's Owners and the admins).
    pub held_file_mails: Vec<NewMail>,
    /// The hold of a file joining a release that is quarantined (created by an earlier upload):
    /// it is its own review item, whoever uploads, with this reason and these mails (the
    /// project's Owners and the admins). Approval is per file, so approving the release never
    /// publishes a file that joined it later.
    pub hold_joined_file: Option<(String, Vec<NewMail>)>,
    /// With `dormant_before`: quarantine the dormant project's new release only when the
    /// project's newest release by an unwatched account is older than this time (the latest
    /// recovery of any member: the first release since it). `None`: whenever dormant.
    pub first_release_since: Option<i64>,
    /// The notice to the project's Owners of a file added to an existing release (published,
    /// held, or joining a quarantined release), batched per recipient (`owner_notices`).
    pub added_file_notice: Option<crate::owner_notices::OwnerNotice>,
    /// Mails queued when this upload adds a published file to an existing, published release
    /// (a watched account's file, told to the project's other Owners).
    pub file_mails: Vec<NewMail>,
    /// The uploader is watched on the project (recovered, newcomer or inherited): a release it
    /// creates is marked so (`releases.uploader_watched`) and never makes the project lively.
    pub uploader_watched: bool,
    /// Hold this upload for review because of its content scan (`core::scanning`), with this
    /// reason: a new release is quarantined whatever the project's dormancy; a file joining an
    /// existing release that is not itself held is held (`hold_added_file` semantics). Part H3.
    pub scan_hold: Option<String>,
    /// Mails queued when `scan_hold` holds something (the project's Owners and the admins).
    pub scan_hold_mails: Vec<NewMail>,
}

/// What the publish transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// The file is now visible at this journal serial.
    Published {
        serial: i64,
        project_created: bool,
        release_created: bool,
    },
    /// The file was recorded in a quarantined release: no journal entry, invisible to installers
    /// until an administrator approves the release. `release_created`: this upload quarantined it.
    Quarantined { release_created: bool },
    /// The file was added to an existing release, but held for an administrator's review
    /// (`UploadPolicy::hold_added_file`): no journal entry, invisible on every read path until
    /// approved.
    FileHeld { file_id: i64 },
    /// The identical file already exists: nothing changed.
    Duplicate,
    /// Refused; nothing changed.
    Refused(Refusal),
}

impl Db {
    /// [`Db::publish`] with the default policy and no blob claim: the same path, for callers
    /// whose blob is not collected (tests, imports).
    pub async fn publish_file(&self, f: &NewFile) -> Result<PublishOutcome, StoreError> {
        self.publish(f, &UploadPolicy::default(), None).await
    }

    /// Who created the project and when: `(created_by, created_at)`.
    pub async fn project_origin(
        &self,
        project_id: i64,
    ) -> Result<Option<(Option<i64>, i64)>, StoreError> {
        let r = sqlx::query("SELECT created_by, created_at FROM projects WHERE id = $1")
            .bind(project_id)
            .fetch_optional(&self.read)
            .await?;
        Ok(match r {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// Whether a file row (any state) or a used file name matches this name or content: the
    /// only case in which [`Db::check_publish`] can answer a duplicate or a file-reuse refusal.
    /// One indexed read, so the upload can ask before its scan.
    pub async fn file_known(
        &self,
        filename: &str,
        blake2_256: &str,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        let row: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM files WHERE filename = $1 OR blake2_256 = $2 OR sha256 = $3 \
             UNION ALL SELECT 1 FROM filename_registry WHERE filename = $1 LIMIT 1",
        )
        .bind(filename.to_owned())
        .bind(blake2_256.to_owned())
        .bind(sha256.to_owned())
        .fetch_optional(&self.read)
        .await?;
        Ok(row.is_some())
    }

    /// What [`Db::publish`] would answer now, without changing anything (the same
    /// checks, rolled back). The upload asks before writing its blob, so a refused upload leaves
    /// nothing in the blob store; the real publish decides again (a race may still lose).
    pub async fn check_publish(
        &self,
        f: &NewFile,
        policy: &UploadPolicy,
    ) -> Result<PublishOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = publish_in(&mut tx, self, f, policy).await?;
        tx.rollback().await?;
        Ok(outcome)
    }

    /// Record an uploaded file, atomically: the one publish path. Races are decided by unique
    /// constraints and, on PostgreSQL, by the lock of the project row (see `publish_in`), which
    /// makes the size quota exact under concurrent uploads.
    ///
    /// With `claim` (the upload wrote its blob under it), the same transaction settles the claim
    /// (the file row protects the blob from then on). A refused or duplicate outcome leaves the
    /// claim in place for the caller to release. If a collector has meanwhile taken the claim as
    /// expired (the upload stalled for longer than the grace period), nothing is recorded and
    /// [`StoreError::ClaimExpired`] is returned: the blob may already be gone, so the row must
    /// not point at it.
    pub async fn publish(
        &self,
        f: &NewFile,
        policy: &UploadPolicy,
        claim: Option<&BlobClaim>,
    ) -> Result<PublishOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(claim) = claim
            && !crate::blob_claims::settle(&mut tx, self.dialect, claim).await?
        {
            tx.rollback().await?;
            return Err(StoreError::ClaimExpired(claim.blob_key.clone()));
        }
        let outcome = publish_in(&mut tx, self, f, policy).await?;
        match outcome {
            PublishOutcome::Published { .. }
            | PublishOutcome::Quarantined { .. }
            | PublishOutcome::FileHeld { .. } => tx.commit().await?,
            _ => tx.rollback().await?,
        }
        Ok(outcome)
    }
}

/// Append a journal entry (the next serial: callers hold the events' tail lock, so serials
/// follow commit order without gaps), note it as the project's last serial and tell the page
/// caches.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_journal(
    tx: &mut Transaction<'_, Any>,
    project_id: i64,
    project_name: &str,
    version: Option<&str>,
    filename: Option<&str>,
    action: &str,
    by: &str,
    at: i64,
) -> Result<i64, StoreError> {
    let serial: i64 = sqlx::query_scalar(
        "INSERT INTO journal (serial, project_id, project_name, version, filename, action, submitted_by, at) \
         SELECT COALESCE(MAX(serial), 0) + 1, $1, $2, $3, $4, $5, $6, $7 FROM journal RETURNING serial",
    )
    .bind(project_id)
    .bind(project_name.to_owned())
    .bind(version.map(str::to_owned))
    .bind(filename.map(str::to_owned))
    .bind(action.to_owned())
    .bind(by.to_owned())
    .bind(at)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("UPDATE projects SET last_serial = $1 WHERE id = $2")
        .bind(serial)
        .bind(project_id)
        .execute(&mut **tx)
        .await?;
    // the page caches hear of it (this process now, other servers at commit)
    crate::change_feed::journal_written(tx, serial, project_name).await?;
    Ok(serial)
}

/// The publish transaction's steps, each in the module named for what it owns; any refusal
/// ends it with nothing written that the caller commits.
async fn publish_in(
    tx: &mut Transaction<'_, Any>,
    db: &Db,
    f: &NewFile,
    policy: &UploadPolicy,
) -> Result<PublishOutcome, StoreError> {
    // 1. The project, found (and locked) or created with the uploader as Owner.
    let project = match project_row::find_or_create(tx, db, f).await? {
        ControlFlow::Continue(project) => project,
        ControlFlow::Break(outcome) => return Ok(outcome),
    };
    // 2. Permission, by database identity.
    if let Some(refusal) = project_row::refusal(tx, f, &project).await? {
        return Ok(PublishOutcome::Refused(refusal));
    }
    // 3. Duplicates, burned names, the size quota.
    if let Some(outcome) = duplicates::not_new(tx, f, project.total_size).await? {
        return Ok(outcome);
    }
    // 4. The release, found or created, and what is held.
    let release = match release_row::find_or_create(tx, f, policy, &project).await? {
        ControlFlow::Continue(release) => release,
        ControlFlow::Break(outcome) => return Ok(outcome),
    };
    let hold = release_row::file_hold(f, policy, &release);
    if f.packagetype == "sdist" && release_row::has_sdist(tx, release.id).await? {
        return Ok(PublishOutcome::Refused(Refusal::OnlyOneSdist));
    }
    // 5. The file row.
    let file_id =
        match file_row::insert(tx, f, project.id, release.id, hold.reason.as_deref()).await? {
            ControlFlow::Continue(id) => id,
            ControlFlow::Break(outcome) => return Ok(outcome),
        };
    // 6. Journal, events, notices and mails.
    let written = record::Written {
        f,
        policy,
        project: &project,
        release: &release,
        file_id,
    };
    record::record(tx, db, &written, hold).await
}

/// The journal action of a file appearing on the index (what mirrors read in the changelog).
pub(crate) fn file_added_action(python_version: &str, filename: &str) -> String {
    format!("add {python_version} file {filename}")
}
