//! The index's own malicious-package verdicts (issue 13): a release rejected as malicious
//! becomes an OSV record in the ossf/malicious-packages format under `osv.id_prefix`, served at
//! `/osv/` and exported by `strongroom admin osv export DIR`; a withdrawn verdict moves the
//! record to withdrawn. The record names every file of the release (removed ones included) by
//! sha256 where the malicious-packages records put them (`database_specific`'s
//! `malicious-packages-origins`), so `strongroom admin osv import` of an export, here or on
//! another index, reads the verdict back with its hashes.

use std::path::Path;

use strongroom_store::StoreError;
use strongroom_store::verdicts::{NewVerdict, VerdictFile, VerdictRow, WithdrawOutcome};

use crate::admin::AdminCap;
use crate::{CoreError, RequestMeta, Services, Subject};

/// The OSV schema version the records follow.
pub const OSV_SCHEMA_VERSION: &str = "1.7.4";
/// The weakness every verdict names.
pub const CWE_ID: &str = "CWE-506";
/// Its name in the CWE list.
pub const CWE_NAME: &str = "Embedded Malicious Code";
/// The `source` of the records' origins.
pub const ORIGIN_SOURCE: &str = "strongroom";
/// The longest details or reason text kept.
pub const MAX_TEXT: usize = 8000;

/// A verdict, as core hands it out (the store's row).
pub type Verdict = VerdictRow;

/// One entry of the feed's index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerdictSummary {
    pub id: String,
    /// RFC 3339, UTC.
    pub modified: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
}

/// RFC 3339 (seconds, UTC) of a time in microseconds.
fn rfc3339(micros: i64) -> String {
    format!("{}Z", crate::clock::iso8601_seconds(micros))
}

/// The UTC year of a time in microseconds.
fn year_of(micros: i64) -> i64 {
    crate::clock::iso8601_seconds(micros)
        .get(..4)
        .and_then(|y| y.parse().ok())
        .unwrap_or(1970)
}

/// `text` trimmed, checked not empty and cut to [`MAX_TEXT`] characters.
fn text(what: &str, text: &str) -> Result<String, CoreError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(CoreError::Invalid(format!("give the verdict's {what}")));
    }
    Ok(t.chars().take(MAX_TEXT).collect())
}

/// The store's conflicts and absences are the caller's (409/404), not storage failures.
fn store_error(e: StoreError) -> CoreError {
    match e {
        StoreError::Conflict(m) => CoreError::Conflict(m),
        StoreError::NotFound(m) => CoreError::NotFound(m),
        e => CoreError::Storage(e),
    }
}

/// The feed's index entry of a verdict.
pub fn verdict_summary(v: &Verdict) -> VerdictSummary {
    VerdictSummary {
        id: v.id.clone(),
        modified: rfc3339(v.modified_at),
        withdrawn: v.withdrawn_at.map(rfc3339),
    }
}

/// The OSV record of a verdict, in the ossf/malicious-packages layout: `affected` names the
/// project and the one version, `database_specific` carries CWE-506 and one
/// `malicious-packages-origins` entry per file with its sha256 (where that feed's records put
/// hashes, and where `admin osv import` reads them) and `indicators.package_integrity` entries
/// (`filename`, `hashes.sha256`) as other scanners match files by;
/// `affected[].database_specific.files` lists the files by name. `details` is the reviewer's
/// reason, published as written. A withdrawn verdict has `withdrawn` and its reason.
pub fn verdict_osv_json(v: &Verdict) -> serde_json::Value {
    let modified = rfc3339(v.modified_at);
    let files: Vec<serde_json::Value> = v
        .files
        .iter()
        .map(|f: &VerdictFile| serde_json::json!({"filename": f.filename, "sha256": f.sha256}))
        .collect();
    let origins: Vec<serde_json::Value> = v
        .files
        .iter()
        .map(|f| {
            serde_json::json!({
                "source": ORIGIN_SOURCE,
                "id": format!("{}/{}/{}", v.normalized_project, v.version, f.filename),
                "sha256": f.sha256,
                "versions": [v.version],
                "modified_time": modified,
            })
        })
        .collect();
    let integrity: Vec<serde_json::Value> = v
        .files
        .iter()
        .map(|f| serde_json::json!({"filename": f.filename, "hashes": {"sha256": f.sha256}}))
        .collect();
    let mut db = serde_json::json!({
        "cwe_ids": [CWE_ID],
        "cwes": [{"cweId": CWE_ID, "name": CWE_NAME}],
        "malicious-packages-origins": origins,
        "indicators": {"package_integrity": integrity},
    });
    let mut rec = serde_json::json!({
        "schema_version": OSV_SCHEMA_VERSION,
        "id": v.id,
        "modified": modified,
        "published": rfc3339(v.created_at),
        "summary": format!("Malicious code in {} ({})", v.project, strongroom_protocol::osv::ECOSYSTEM),
        "details": v.details,
        "affected": [{
            "package": {"ecosystem": strongroom_protocol::osv::ECOSYSTEM, "name": v.project},
            "versions": [v.version],
            "database_specific": {"files": files},
        }],
    });
    if let Some(w) = v.withdrawn_at {
        rec["withdrawn"] = rfc3339(w).into();
        if let Some(r) = &v.withdrawn_reason {
            db["withdrawn_reason"] = r.clone().into();
        }
    }
    rec["database_specific"] = db;
    rec
}

impl Services {
    /// Record that `project` `version` (its files, removed or not) is malicious; returns the new
    /// record's id (`<osv.id_prefix>-<year>-<n>`). Called by the review queue's reject (part
    /// H4) after the release is removed. A release with a live verdict is a conflict.
    pub async fn record_malicious_verdict(
        &self,
        cap: &AdminCap,
        project: &str,
        version: &str,
        details: &str,
        meta: &RequestMeta,
    ) -> Result<String, CoreError> {
        let details = text("details", details)?;
        let normalized = strongroom_protocol::name::normalize(project);
        let p = self
            .db
            .project_state(&normalized)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no such project: {project}")))?;
        let canonical = strongroom_protocol::version::Version::parse(version)
            .map(|v| v.canonical())
            .map_err(|e| CoreError::Invalid(format!("invalid version '{version}': {e}")))?;
        let r = self
            .db
            .releases_any_state(p.id)
            .await?
            .into_iter()
            .find(|r| r.canonical_version == canonical)
            .ok_or_else(|| CoreError::NotFound(format!("no release {version} of {}", p.name)))?;
        let files: Vec<VerdictFile> = self
            .db
            .files_any_state(p.id)
            .await?
            .into_iter()
            .filter(|f| f.release_id == r.id)
            .map(|f| VerdictFile {
                filename: f.filename,
                sha256: f.sha256.to_ascii_lowercase(),
            })
            .collect();
        let actor = cap.actor();
        let now = self.now();
        let ev = self.event(
            actor,
            "verdict:malicious",
            Subject {
                kind: "project",
                id: Some(p.id),
                name: Some(&p.name),
            },
            meta,
            serde_json::json!({
                "version": r.version,
                "files": files.iter().map(|f| &f.filename).collect::<Vec<_>>(),
                "details": details,
            }),
        );
        let v = NewVerdict {
            prefix: self.settings.scan.osv_id_prefix.clone(),
            year: year_of(now),
            project: p.name.clone(),
            normalized_project: p.normalized_name.clone(),
            version: r.version.clone(),
            details,
            created_by: actor.name.clone(),
            at: now,
            files,
        };
        self.db.record_verdict(&v, &ev).await.map_err(store_error)
    }

    /// Withdraw a verdict (its record stays, marked withdrawn). Withdrawing a withdrawn verdict
    /// is a conflict naming when it was withdrawn.
    pub async fn withdraw_malicious_verdict(
        &self,
        cap: &AdminCap,
        id: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let reason = text("reason for the withdrawal", reason)?;
        let v = self
            .db
            .verdict(id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no verdict {id}")))?;
        let project_id = self
            .db
            .project_state(&v.normalized_project)
            .await?
            .map(|p| p.id);
        let now = self.now();
        let ev = self.event(
            cap.actor(),
            "verdict:withdrawn",
            Subject {
                kind: "project",
                id: project_id,
                name: Some(&v.project),
            },
            meta,
            serde_json::json!({"id": v.id, "version": v.version, "reason": reason}),
        );
        match self
            .db
            .withdraw_verdict(id, &reason, now, &ev)
            .await
            .map_err(store_error)?
        {
            WithdrawOutcome::Withdrawn => Ok(()),
            WithdrawOutcome::AlreadyWithdrawn(at) => Err(CoreError::Conflict(format!(
                "{id} was withdrawn at {}",
                rfc3339(at)
            ))),
        }
    }

    /// Every verdict, oldest first (the feed and the export).
    pub async fn malicious_verdicts(&self) -> Result<Vec<Verdict>, CoreError> {
        Ok(self.db.verdicts().await?)
    }

    /// One verdict by id.
    pub async fn malicious_verdict(&self, id: &str) -> Result<Option<Verdict>, CoreError> {
        Ok(self.db.verdict(id).await?)
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    /// The records written (`<id>.json`), in id order of recording.
    pub written: Vec<String>,
    /// How many of them are withdrawn.
    pub withdrawn: u64,
}

/// Whether `id` is safe as a file name (an id this index gave: letters, digits, `-`).
fn file_safe(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Write `bytes` to `dir/name` at once: a temp file in `dir`, 0644, synced, renamed over.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(dir.join(name)).map_err(|e| e.error)?;
    Ok(())
}

impl Services {
    /// Write every verdict's OSV record to `dir` (created if missing) as `<id>.json`, each
    /// replaced at once, so a folder served or synced as it is never shows half a record. The
    /// folder is a feed `strongroom admin osv import` reads back.
    pub async fn export_malicious_verdicts(&self, dir: &Path) -> Result<ExportSummary, CoreError> {
        let verdicts = self.db.verdicts().await?;
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || -> Result<ExportSummary, CoreError> {
            std::fs::create_dir_all(&dir)?;
            let mut summary = ExportSummary::default();
            for v in &verdicts {
                if !file_safe(&v.id) {
                    return Err(CoreError::Internal(format!(
                        "verdict id {:?} cannot name a file",
                        v.id
                    )));
                }
                let mut body = serde_json::to_vec_pretty(&verdict_osv_json(v))
                    .map_err(|e| CoreError::Internal(format!("record not serialisable: {e}")))?;
                body.push(b'\n');
                let name = format!("{}.json", v.id);
                write_atomic(&dir, &name, &body)?;
                summary.written.push(name);
                summary.withdrawn += u64::from(v.withdrawn_at.is_some());
            }
            Ok(summary)
        })
        .await
        .map_err(|e| CoreError::Internal(format!("export failed: {e}")))?
    }
}

#[cfg(test)]
mod tests;
