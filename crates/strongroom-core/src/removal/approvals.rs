//! An administrator's review decisions: approving a quarantined release (only the files the
//! review saw; files held on their own stay held), and approving or rejecting one held file.

use super::*;

/// What approving a quarantined release published, and what stays held for its own review
/// (`approve-file`): approval is per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseApproval {
    pub published: Vec<String>,
    pub still_held: Vec<String>,
}

impl Services {
    /// Publish a release held for review: it and its files appear in the index (and in the
    /// journal, which did not list them while held).
    pub async fn admin_approve_release(
        &self,
        cap: &AdminCap,
        project: &str,
        version: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<ReleaseApproval, CoreError> {
        let actor = cap.actor();
        let reason = require_reason(reason)?;
        let (mut tx, p, r) = self
            .open_release(&Authority::Admin(cap), project, version)
            .await?;
        if r.removed_at.is_some() {
            return Err(CoreError::Conflict(format!(
                "{} {} was removed; restore it first.",
                p.name, r.version
            )));
        }
        // Approval is per file: the release's quarantine covers the files that were not held
        // on their own; a file held separately (one that joined the quarantined release later,
        // or added by a watched account) stays held for `approve-file`.
        let (held, published): (Vec<FileState>, Vec<FileState>) = tx
            .files_of_release(r.id)
            .await?
            .into_iter()
            .filter(|f| f.removed_at.is_none())
            .partition(|f| f.held_at.is_some());
        self.no_incident_uploads(&format!("Publishing {} {}", p.name, r.version), &published)
            .await?;
        if !tx.clear_release_quarantine(r.id).await? {
            return Err(CoreError::Conflict(format!(
                "{} {} is not quarantined.",
                p.name, r.version
            )));
        }
        let now = self.now();
        if project_visible(&p) {
            tx.journal(&p, Some(&r.version), None, "new release", &actor.name, now)
                .await?;
            for f in &published {
                tx.journal_file_added(&p, f, &actor.name, now).await?;
            }
        }
        let approval = ReleaseApproval {
            published: published.iter().map(|f| f.filename.clone()).collect(),
            still_held: held.iter().map(|f| f.filename.clone()).collect(),
        };
        let still = if approval.still_held.is_empty() {
            String::new()
        } else {
            format!(
                " These files remain held for review on their own: {}.",
                approval.still_held.join(", ")
            )
        };
        let outcome = Outcome {
            action: "admin:release:approve",
            details: serde_json::json!({"reason": reason, "version": r.version, "release_id": r.id,
                "quarantine_reason": r.quarantine_reason, "published": approval.published,
                "still_held": approval.still_held}),
            notice: Some((
                format!("{} {} has been published", p.name, r.version),
                format!(
                    "The index administrators reviewed and published the release {} of {}, which had been held for review, with these files: {}.{still}",
                    r.version,
                    p.name,
                    approval.published.join(", ")
                ),
            )),
        };
        self.finish(tx, actor, &p, meta, outcome).await?;
        Ok(approval)
    }

    /// The file held for review in a release that is not itself held (added by a watched
    /// account, `core::file_review`).
    async fn open_held_file(
        &self,
        cap: &AdminCap,
        project: &str,
        version: &str,
        filename: &str,
    ) -> Result<(AdminTx, ProjectState, ReleaseState, FileState), CoreError> {
        let (mut tx, p, r) = self
            .open_release(&Authority::Admin(cap), project, version)
            .await?;
        let f = self.intervention_file(&mut tx, &p, &r, filename).await?;
        if f.held_at.is_none() || f.removed_at.is_some() {
            return Err(CoreError::Conflict(format!(
                "{} is not held for review.",
                f.filename
            )));
        }
        Ok((tx, p, r, f))
    }

    /// Publish one file held for review: it appears in the index and the journal (which did not
    /// list it while held), as if uploaded now. Refused for a file uploaded inside its
    /// uploader's incident window, as a held release is.
    pub async fn admin_approve_file(
        &self,
        cap: &AdminCap,
        project: &str,
        version: &str,
        filename: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let actor = cap.actor();
        let reason = require_reason(reason)?;
        let (mut tx, p, r, f) = self.open_held_file(cap, project, version, filename).await?;
        self.no_incident_uploads(
            &format!("Publishing {}", f.filename),
            std::slice::from_ref(&f),
        )
        .await?;
        changed_meanwhile(tx.clear_file_hold(f.id).await?)?;
        let now = self.now();
        if project_visible(&p) && release_visible(&r) {
            tx.journal_file_added(&p, &f, &actor.name, now).await?;
        }
        let outcome = Outcome {
            action: "admin:file:approve",
            details: serde_json::json!({"reason": reason, "version": r.version, "filename": f.filename,
                "file_id": f.id, "sha256": f.sha256, "held_reason": f.held_reason,
                "uploader": f.uploaded_by}),
            notice: Some((
                format!("{} of {} has been published", f.filename, p.name),
                format!(
                    "The index administrators reviewed and published the file {}, added to {} {}, which had been held for review.",
                    f.filename, p.name, r.version
                ),
            )),
        };
        self.finish(tx, actor, &p, meta, outcome).await
    }

    /// Reject one file held for review: its row is deleted and, once that commits, its blob
    /// (the filename stays used). Nothing of it is left to restore.
    pub async fn admin_reject_file(
        &self,
        cap: &AdminCap,
        project: &str,
        version: &str,
        filename: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let actor = cap.actor();
        let reason = require_reason(reason)?;
        let (mut tx, p, r, f) = self.open_held_file(cap, project, version, filename).await?;
        changed_meanwhile(tx.delete_held_file(f.id).await?)?;
        let outcome = Outcome {
            action: "admin:file:reject",
            details: serde_json::json!({"reason": reason, "version": r.version, "filename": f.filename,
                "file_id": f.id, "sha256": f.sha256, "held_reason": f.held_reason,
                "uploader": f.uploaded_by}),
            notice: Some((
                format!("{} of {} was rejected", f.filename, p.name),
                format!(
                    "The index administrators reviewed and rejected the file {}, added to {} {} while its uploader was watched; it was deleted and its filename cannot be reused. Reason: {reason}",
                    f.filename, p.name, r.version
                ),
            )),
        };
        self.finish(tx, actor, &p, meta, outcome).await?;
        // The row is gone: nothing protects the blob any more; delete it now (else the
        // collector does after the grace period).
        if let Some(key) = strongroom_store::BlobKey::parse(&f.blob_key) {
            let claim = self.claim_blob_key(&key).await?;
            self.release_claim(&claim, true).await;
        }
        Ok(())
    }
}
