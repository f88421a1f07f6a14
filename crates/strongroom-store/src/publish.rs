//! The one transaction that makes an uploaded file visible: project (if new), role, release,
//! file, filename registry, journal entries and events — or none of them. A held account's upload
//! to a project it did not create during the hold is refused here too (by database identity), and
//! a new release of a dormant project may be quarantined: recorded, but with no journal entry and
//! invisible to installers until an administrator approves it.

use sqlx::{Any, Row, Transaction};

use crate::blob_claims::BlobClaim;
use crate::events::{NewEvent, append, lock_tail};
use crate::states::ProjectStatus;
use crate::{Db, Dialect, NewMail, StoreError};

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

/// A project row created without a journal entry (its first upload held or quarantined): the
/// name now resolves locally only, so every page cache forgets its pages (an upstream page of
/// the name may be cached) through a new upstream generation.
async fn unjournaled_project(tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
    crate::upstream_generation::bump_upstream_generation_in(tx).await?;
    Ok(())
}

/// Whether the uploading account is no longer live (frozen, deleted) or its token no longer
/// valid (revoked, expired), read inside the publish transaction.
async fn credentials_gone(tx: &mut Transaction<'_, Any>, f: &NewFile) -> Result<bool, StoreError> {
    let user = sqlx::query("SELECT frozen_at, deleted_at FROM users WHERE id = $1")
        .bind(f.user_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(user) = user else {
        return Ok(true);
    };
    if user.try_get::<Option<i64>, _>(0)?.is_some() || user.try_get::<Option<i64>, _>(1)?.is_some()
    {
        return Ok(true);
    }
    let Some(token_id) = f.token_id else {
        return Ok(false);
    };
    let token = sqlx::query("SELECT revoked_at, expires_at FROM api_tokens WHERE id = $1")
        .bind(token_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match token {
        None => true,
        Some(t) => {
            t.try_get::<Option<i64>, _>(0)?.is_some()
                || t.try_get::<Option<i64>, _>(1)?.is_some_and(|e| e <= f.at)
        }
    })
}

/// The upload's project row by normalised name, locked against other writers on PostgreSQL.
fn project_row_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => {
            "SELECT id, name, status, total_size FROM projects WHERE normalized_name = $1 FOR NO KEY UPDATE"
        }
        Dialect::Sqlite => {
            "SELECT id, name, status, total_size FROM projects WHERE normalized_name = $1"
        }
    }
}

async fn publish_in(
    tx: &mut Transaction<'_, Any>,
    db: &Db,
    f: &NewFile,
    policy: &UploadPolicy,
) -> Result<PublishOutcome, StoreError> {
    // 1. The project: find it, or create it with the uploader as Owner. On PostgreSQL the row
    //    is locked (FOR NO KEY UPDATE) before anything else touches it: uploads to one project
    //    then take turns from here, so the size quota is checked against the total this
    //    transaction will update (two uploads can no longer both fit under it), and no
    //    transaction upgrades the key-share lock of its own foreign-key checks into an update
    //    while others hold theirs (PostgreSQL 15 failed such an upgrade under 16 parallel
    //    uploads with "new multixact has more than one updating member"). SQLite's single
    //    writer already serialises the whole transaction.
    let mut project_created = false;
    let existing = sqlx::query(project_row_sql(db.dialect))
        .bind(f.normalized_name.clone())
        .fetch_optional(&mut **tx)
        .await?;
    let (project_id, project_name, status, total_size) = match existing {
        Some(r) => (
            r.try_get::<i64, _>(0)?,
            r.try_get::<String, _>(1)?,
            ProjectStatus::decode("projects.status", &r.try_get::<String, _>(2)?)?,
            r.try_get::<i64, _>(3)?,
        ),
        None => {
            if f.token_project_id.is_some() {
                return Ok(PublishOutcome::Refused(Refusal::TokenNotAllowed {
                    project: f.project_name.clone(),
                }));
            }
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(f.project_name.clone())
            .bind(f.normalized_name.clone())
            .bind(f.ultranormalized_name.clone())
            .bind(f.at)
            .bind(f.user_id)
            .fetch_optional(&mut **tx)
            .await?;
            match id {
                Some(id) => {
                    sqlx::query("INSERT INTO roles (project_id, user_id, role, granted_at) VALUES ($1, $2, 'Owner', $3)")
                        .bind(id)
                        .bind(f.user_id)
                        .bind(f.at)
                        .execute(&mut **tx)
                        .await?;
                    project_created = true;
                    (id, f.project_name.clone(), ProjectStatus::Active, 0)
                }
                None => {
                    // Lost a race, or a confusable name exists.
                    let r = sqlx::query(project_row_sql(db.dialect))
                        .bind(f.normalized_name.clone())
                        .fetch_optional(&mut **tx)
                        .await?;
                    match r {
                        Some(r) => (
                            r.try_get(0)?,
                            r.try_get(1)?,
                            ProjectStatus::decode("projects.status", &r.try_get::<String, _>(2)?)?,
                            r.try_get(3)?,
                        ),
                        None => {
                            let existing: String = sqlx::query_scalar(
                                "SELECT name FROM projects WHERE ultranormalized_name = $1",
                            )
                            .bind(f.ultranormalized_name.clone())
                            .fetch_optional(&mut **tx)
                            .await?
                            .unwrap_or_default();
                            return Ok(PublishOutcome::Refused(Refusal::TooSimilar { existing }));
                        }
                    }
                }
            }
        }
    };

    // 2. Permission, by database identity. The account and the token are read again here: a
    //    freeze, a deletion or a revocation that landed while the body streamed wins.
    if credentials_gone(tx, f).await? {
        return Ok(PublishOutcome::Refused(Refusal::CredentialsGone));
    }
    if !project_created {
        if let Some(scope) = f.token_project_id
            && scope != project_id
        {
            return Ok(PublishOutcome::Refused(Refusal::TokenNotAllowed {
                project: project_name,
            }));
        }
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM roles WHERE project_id = $1 AND user_id = $2")
                .bind(project_id)
                .bind(f.user_id)
                .fetch_optional(&mut **tx)
                .await?;
        if role.is_none() {
            return Ok(PublishOutcome::Refused(Refusal::UserNotAllowed {
                project: project_name,
            }));
        }
        if status != ProjectStatus::Active {
            return Ok(PublishOutcome::Refused(Refusal::ProjectNotActive {
                project: project_name,
                status,
            }));
        }
        if held_out(tx, f, project_id).await? {
            return Ok(PublishOutcome::Refused(Refusal::Held));
        }
    }

    // 3. Duplicates: identical file → no-op; same name or content with other bytes → refused.
    if let Some(outcome) = duplicate_check(tx, f).await? {
        return Ok(outcome);
    }
    let used: Option<String> =
        sqlx::query_scalar("SELECT filename FROM filename_registry WHERE filename = $1")
            .bind(f.filename.clone())
            .fetch_optional(&mut **tx)
            .await?;
    if used.is_some() {
        // The registry row may belong to a concurrent upload that committed after the duplicate
        // check above: then the file is live and this is a duplicate, not a deleted name.
        if let Some(outcome) = duplicate_check(tx, f).await? {
            return Ok(outcome);
        }
        return Ok(PublishOutcome::Refused(Refusal::FilenamePreviouslyUsed));
    }
    if total_size.saturating_add(f.size) > f.max_project_size {
        return Ok(PublishOutcome::Refused(Refusal::ProjectTooLarge));
    }

    // 4. The release: find it by canonical version or create it.
    let mut release_created = false;
    let mut quarantined = false;
    let release = sqlx::query(
        "SELECT id, created_at, removed_at, quarantined_at FROM releases WHERE project_id = $1 AND canonical_version = $2",
    )
    .bind(project_id)
    .bind(f.canonical_version.clone())
    .fetch_optional(&mut **tx)
    .await?;
    let release_id: i64 = match release {
        Some(r) => {
            // A removed release's version is burned like its filenames.
            if r.try_get::<Option<i64>, _>(2)?.is_some() {
                return Ok(PublishOutcome::Refused(Refusal::FilenamePreviouslyUsed));
            }
            let created_at: i64 = r.try_get(1)?;
            if f.at.saturating_sub(created_at) > f.release_window_micros {
                return Ok(PublishOutcome::Refused(Refusal::ReleaseTooOld));
            }
            // Files added to a quarantined release stay in quarantine with it.
            quarantined = r.try_get::<Option<i64>, _>(3)?.is_some();
            r.try_get(0)?
        }
        None => {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO releases (project_id, version, canonical_version, created_at, requires_python, core_metadata, description_html, description_renderer, uploader_watched) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(project_id)
            .bind(f.version.clone())
            .bind(f.canonical_version.clone())
            .bind(f.at)
            .bind(f.requires_python.clone())
            .bind(f.core_metadata.clone())
            .bind(f.description.as_ref().map(|d| d.html.clone()))
            .bind(f.description.as_ref().map(|d| d.renderer))
            .bind(i64::from(policy.uploader_watched))
            .fetch_optional(&mut **tx)
            .await?;
            match id {
                Some(id) => {
                    release_created = true;
                    crate::search::index_release(
                        tx,
                        id,
                        project_id,
                        &project_name,
                        &f.core_metadata,
                    )
                    .await?;
                    id
                }
                None => {
                    // A concurrent upload created it first: take its state as well as its id,
                    // so a file never joins a quarantined or removed release as a published one.
                    let r = sqlx::query(
                        "SELECT id, removed_at, quarantined_at FROM releases WHERE project_id = $1 AND canonical_version = $2",
                    )
                    .bind(project_id)
                    .bind(f.canonical_version.clone())
                    .fetch_one(&mut **tx)
                    .await?;
                    if r.try_get::<Option<i64>, _>(1)?.is_some() {
                        return Ok(PublishOutcome::Refused(Refusal::FilenamePreviouslyUsed));
                    }
                    quarantined = r.try_get::<Option<i64>, _>(2)?.is_some();
                    r.try_get(0)?
                }
            }
        }
    };
    // A scan hold quarantines the new release whatever the project's age (a new project's
    // first release too); otherwise a dormant project's new release may be.
    let scan_quarantined = release_created
        && match &policy.scan_hold {
            Some(reason) => {
                quarantine_release(tx, release_id, reason, f.at).await?;
                true
            }
            None => false,
        };
    let newly_quarantined = scan_quarantined
        || (release_created
            && !project_created
            && quarantine_if_dormant(tx, policy, project_id, release_id, f.at).await?);
    quarantined |= newly_quarantined;
    // A file added to a release that is not held (published, or approved after review) by a
    // watched account waits for its own review, and so does any file joining a quarantined
    // release after the upload that quarantined it: approval is per file.
    let (hold_file, hold_mails) = if release_created {
        (None, &[][..])
    } else if let Some(reason) = &policy.scan_hold {
        // The scan holds a file joining an existing release, held or not: its own review item.
        (Some(reason.clone()), &policy.scan_hold_mails[..])
    } else if quarantined {
        match &policy.hold_joined_file {
            Some((reason, mails)) => (Some(reason.clone()), &mails[..]),
            None => (
                Some(format!(
                    "file added to the quarantined release {} by {}",
                    f.version, f.username
                )),
                &[][..],
            ),
        }
    } else {
        (policy.hold_added_file.clone(), &policy.held_file_mails[..])
    };
    if f.packagetype == "sdist" {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM files WHERE release_id = $1 AND packagetype = 'sdist'",
        )
        .bind(release_id)
        .fetch_one(&mut **tx)
        .await?;
        if n > 0 {
            return Ok(PublishOutcome::Refused(Refusal::OnlyOneSdist));
        }
    }

    // 5. The file row; a concurrent winner shows up as "nothing inserted".
    let file_id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO files (release_id, project_id, filename, packagetype, python_version, size, md5, sha256, blake2_256, \
         blob_key, metadata_sha256, metadata_blake2_256, comment_text, uploaded_at, uploaded_by, user_agent, held_at, held_reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(release_id)
    .bind(project_id)
    .bind(f.filename.clone())
    .bind(f.packagetype.clone())
    .bind(f.python_version.clone())
    .bind(f.size)
    .bind(f.md5.clone())
    .bind(f.sha256.clone())
    .bind(f.blake2_256.clone())
    .bind(f.blob_key.clone())
    .bind(f.metadata_sha256.clone())
    .bind(f.metadata_blake2_256.clone())
    .bind(f.comment_text.clone())
    .bind(f.at)
    .bind(f.user_id)
    .bind(f.user_agent.clone())
    .bind(hold_file.as_ref().map(|_| f.at))
    .bind(hold_file.clone())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(file_id) = file_id else {
        if let Some(outcome) = duplicate_check(tx, f).await? {
            return Ok(outcome);
        }
        if f.packagetype == "sdist" {
            return Ok(PublishOutcome::Refused(Refusal::OnlyOneSdist));
        }
        return Err(StoreError::Conflict("file".into()));
    };
    if let Some(scan) = &f.scan {
        crate::file_scans::insert(tx, file_id, scan, f.at).await?;
    }
    sqlx::query("INSERT INTO filename_registry (filename, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(f.filename.clone())
        .bind(f.at)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE projects SET total_size = total_size + $1 WHERE id = $2")
        .bind(f.size)
        .bind(project_id)
        .execute(&mut **tx)
        .await?;

    // 6. Journal and events, serialised so serials follow commit order without gaps.
    // A quarantined release gets no journal entry: mirrors learn of it when it is approved.
    lock_tail(tx, db.dialect).await?;
    let by = f.username.as_str();
    let base = NewEvent {
        at: f.at,
        actor_id: Some(f.user_id),
        actor_name: Some(f.username.clone()),
        ip: f.ip.clone(),
        user_agent: f.user_agent.clone(),
        request_id: f.request_id.clone(),
        ..NewEvent::default()
    };
    // Every file added to an existing release is told to the project's Owners (batched).
    // (A held file is told with the admins' review request instead, and a watched uploader's
    // published file at once with the watch's reason, `policy.file_mails`: one notice, not two.)
    let told_at_once = !quarantined && !policy.file_mails.is_empty();
    if !release_created
        && hold_file.is_none()
        && !told_at_once
        && let Some(notice) = &policy.added_file_notice
    {
        crate::owner_notices::record(tx, db.keyring.as_deref(), project_id, notice).await?;
    }
    if let Some(reason) = &hold_file {
        append(
            tx,
            &NewEvent {
                action: "file:held".into(),
                subject_kind: "project".into(),
                subject_id: Some(project_id),
                subject_name: Some(project_name.clone()),
                details: serde_json::json!({
                    "file_id": file_id, "filename": f.filename, "version": f.version,
                    "reason": reason, "user": f.username, "user_id": f.user_id,
                    "scan": policy.scan_hold.is_some(),
                }),
                ..base.clone()
            },
        )
        .await?;
        crate::outbox::queue(tx, db.keyring.as_deref(), hold_mails, f.at).await?;
        let ev = upload_event(f, file_id, project_id, &project_name, Some("held"), base);
        append(tx, &ev).await?;
        if project_created {
            unjournaled_project(tx).await?;
        }
        return Ok(PublishOutcome::FileHeld { file_id });
    }
    if quarantined {
        if newly_quarantined {
            let (reason, mails) = match &policy.scan_hold {
                Some(r) if scan_quarantined => (r, &policy.scan_hold_mails[..]),
                _ => (&policy.quarantine_reason, &policy.quarantine_mails[..]),
            };
            if project_created {
                append(
                    tx,
                    &NewEvent {
                        action: "project:create".into(),
                        subject_kind: "project".into(),
                        subject_id: Some(project_id),
                        subject_name: Some(project_name.clone()),
                        details: serde_json::json!({"role": crate::states::ProjectRole::Owner.as_str(), "user": f.username}),
                        ..base.clone()
                    },
                )
                .await?;
            }
            append(
                tx,
                &NewEvent {
                    action: "release:quarantine".into(),
                    subject_kind: "project".into(),
                    subject_id: Some(project_id),
                    subject_name: Some(project_name.clone()),
                    details: serde_json::json!({
                        "version": f.version, "release_id": release_id,
                        "reason": reason, "user": f.username,
                        "user_id": f.user_id, "scan": scan_quarantined,
                    }),
                    ..base.clone()
                },
            )
            .await?;
            crate::outbox::queue(tx, db.keyring.as_deref(), mails, f.at).await?;
        }
        let ev = upload_event(
            f,
            file_id,
            project_id,
            &project_name,
            Some("quarantined"),
            base,
        );
        append(tx, &ev).await?;
        if project_created {
            unjournaled_project(tx).await?;
        }
        return Ok(PublishOutcome::Quarantined {
            release_created: newly_quarantined,
        });
    }
    if project_created {
        write_journal(
            tx,
            project_id,
            &project_name,
            None,
            None,
            "create",
            by,
            f.at,
        )
        .await?;
    }
    if release_created {
        write_journal(
            tx,
            project_id,
            &project_name,
            Some(&f.version),
            None,
            "new release",
            by,
            f.at,
        )
        .await?;
        crate::outbox::queue(tx, db.keyring.as_deref(), &policy.release_mails, f.at).await?;
    } else if !project_created {
        crate::outbox::queue(tx, db.keyring.as_deref(), &policy.file_mails, f.at).await?;
    }
    let action = file_added_action(&f.python_version, &f.filename);
    let serial = write_journal(
        tx,
        project_id,
        &project_name,
        Some(&f.version),
        Some(&f.filename),
        &action,
        by,
        f.at,
    )
    .await?;
    if project_created {
        append(
            tx,
            &NewEvent {
                action: "project:create".into(),
                subject_kind: "project".into(),
                subject_id: Some(project_id),
                subject_name: Some(project_name.clone()),
                details: serde_json::json!({"role": crate::states::ProjectRole::Owner.as_str(), "user": f.username}),
                ..base.clone()
            },
        )
        .await?;
    }
    let ev = upload_event(f, file_id, project_id, &project_name, None, base);
    append(tx, &ev).await?;
    Ok(PublishOutcome::Published {
        serial,
        project_created,
        release_created,
    })
}

/// The journal action of a file appearing on the index (what mirrors read in the changelog).
pub(crate) fn file_added_action(python_version: &str, filename: &str) -> String {
    format!("add {python_version} file {filename}")
}

/// The `file:upload` event of this upload; `state` (`held`, `quarantined`) is set `true` in its
/// details when the file is not published.
fn upload_event(
    f: &NewFile,
    file_id: i64,
    project_id: i64,
    project_name: &str,
    state: Option<&str>,
    base: NewEvent,
) -> NewEvent {
    let mut details = serde_json::json!({
        "file_id": file_id, "filename": f.filename, "version": f.version,
        "sha256": f.sha256, "blake2_256": f.blake2_256, "size": f.size,
        "token_scope": f.token_project_id, "token_id": f.token_id,
    });
    if let Some(state) = state {
        details[state] = serde_json::json!(true);
    }
    NewEvent {
        action: "file:upload".into(),
        subject_kind: "project".into(),
        subject_id: Some(project_id),
        subject_name: Some(project_name.to_owned()),
        details,
        ..base
    }
}

/// Whether the uploader is on a recovery hold that covers this (existing) project: held, and the
/// project was not created by the uploader since the hold began.
async fn held_out(
    tx: &mut Transaction<'_, Any>,
    f: &NewFile,
    project_id: i64,
) -> Result<bool, StoreError> {
    let hold = sqlx::query("SELECT hold_until, recovered_at FROM users WHERE id = $1")
        .bind(f.user_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(hold) = hold else { return Ok(false) };
    let until: Option<i64> = hold.try_get(0)?;
    if until.is_none_or(|u| u <= f.at) {
        return Ok(false);
    }
    let since: i64 = hold.try_get::<Option<i64>, _>(1)?.unwrap_or(i64::MIN);
    let origin = sqlx::query("SELECT created_by, created_at FROM projects WHERE id = $1")
        .bind(project_id)
        .fetch_one(&mut **tx)
        .await?;
    let created_by: Option<i64> = origin.try_get(0)?;
    let created_at: i64 = origin.try_get(1)?;
    Ok(!(created_by == Some(f.user_id) && created_at >= since))
}

/// Quarantine the release just created when the policy says so and the project is dormant: its
/// newest release that is not itself quarantined and was not created by a watched account
/// (removed ones count: removing old releases must not make a project look fresh; a sock's
/// release must not either) is older than `dormant_before`; without such a release, the project
/// itself is; with `first_release_since`, only when that newest release came before it. True
/// when quarantined.
async fn quarantine_if_dormant(
    tx: &mut Transaction<'_, Any>,
    policy: &UploadPolicy,
    project_id: i64,
    release_id: i64,
    at: i64,
) -> Result<bool, StoreError> {
    let Some(before) = policy.dormant_before else {
        return Ok(false);
    };
    let newest: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(created_at) FROM releases WHERE project_id = $1 AND id <> $2 AND quarantined_at IS NULL \
         AND uploader_watched = 0",
    )
    .bind(project_id)
    .bind(release_id)
    .fetch_one(&mut **tx)
    .await?;
    // No release by an unwatched account: the project's own age decides (an old project whose
    // every release came from watched accounts is dormant; a project made minutes ago is not).
    let newest = match newest {
        Some(n) => Some(n),
        None => {
            sqlx::query_scalar::<_, Option<i64>>("SELECT created_at FROM projects WHERE id = $1")
                .bind(project_id)
                .fetch_one(&mut **tx)
                .await?
        }
    };
    if newest.is_none_or(|n| n >= before) {
        return Ok(false);
    }
    // A member's recovery counts, however long ago, until the project's first release after it
    // is published by an unwatched account (or approved: then it is that release).
    if let (Some(since), Some(n)) = (policy.first_release_since, newest)
        && n >= since
    {
        return Ok(false);
    }
    quarantine_release(tx, release_id, &policy.quarantine_reason, at).await?;
    Ok(true)
}

/// Mark the release just created quarantined, with `reason`.
async fn quarantine_release(
    tx: &mut Transaction<'_, Any>,
    release_id: i64,
    reason: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE releases SET quarantined_at = $1, quarantine_reason = $2 WHERE id = $3")
        .bind(at)
        .bind(reason.to_owned())
        .bind(release_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn duplicate_check(
    tx: &mut Transaction<'_, Any>,
    f: &NewFile,
) -> Result<Option<PublishOutcome>, StoreError> {
    use crate::visibility::{PUBLIC_FILE, PUBLIC_PROJECT, PUBLIC_RELEASE};
    let sql = format!(
        "SELECT f.filename, f.sha256, f.blake2_256, f.removed_at, p.status, r.removed_at, r.quarantined_at, r.yanked_at, \
         CAST(CASE WHEN {PUBLIC_PROJECT} AND {PUBLIC_RELEASE} AND {PUBLIC_FILE} THEN 1 ELSE 0 END AS BIGINT), f.held_at \
         FROM files f JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = f.project_id \
         WHERE f.filename = $1 OR f.blake2_256 = $2 OR f.sha256 = $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(f.filename.clone())
        .bind(f.blake2_256.clone())
        .bind(f.sha256.clone())
        .fetch_all(&mut **tx)
        .await?;
    for r in &rows {
        let filename: String = r.try_get(0)?;
        let sha256: String = r.try_get(1)?;
        let blake2: String = r.try_get(2)?;
        if filename == f.filename && sha256 == f.sha256 && blake2 == f.blake2_256 {
            // Only a file the public sees is "already there": anything hidden refuses by its
            // state, and nothing about it changes.
            if r.try_get::<i64, _>(8)? == 1 {
                return Ok(Some(PublishOutcome::Duplicate));
            }
            return Ok(Some(PublishOutcome::Refused(Refusal::IdenticalHidden {
                file_removed: r.try_get::<Option<i64>, _>(3)?.is_some(),
                file_held: r.try_get::<Option<i64>, _>(9)?.is_some(),
                release: crate::ReleaseFlags {
                    held: r.try_get::<Option<i64>, _>(6)?.is_some(),
                    removed: r.try_get::<Option<i64>, _>(5)?.is_some(),
                    yanked: r.try_get::<Option<i64>, _>(7)?.is_some(),
                },
                project_status: ProjectStatus::decode(
                    "projects.status",
                    &r.try_get::<String, _>(4)?,
                )?,
            })));
        }
    }
    if let Some(r) = rows.first() {
        return Ok(Some(PublishOutcome::Refused(Refusal::FileExists {
            filename: r.try_get(0)?,
            blake2_256: r.try_get(2)?,
        })));
    }
    Ok(None)
}
