//! The upload's scan run: the scan slots, the scanner on a blocking thread with the member
//! cache, and what `Services` does with the decision (stored scans, refusals, holds, mails).

use std::path::PathBuf;

use strongroom_protocol::filename::DistFilename;
use strongroom_protocol::metadata::CoreMetadata;
use strongroom_scan::{
    ArchiveKind, ArchiveScan, Finding, Rule, SCANNER_VERSION, ScanError, ScanLimits, Severity,
};
use strongroom_store::file_scans::NewScan;
use strongroom_store::model::{Role, User};
use strongroom_store::{NewEvent, NewFile, NewMail, UploadPolicy};

use crate::mail::notice;
use crate::publish::ReceivedFile;
use crate::settings::days;
use crate::watch::Watch;
use crate::{CoreError, RequestMeta, Services};

use super::policy::*;

#[cfg(test)]
pub(crate) mod injected {
    //! Scans the tests hand in, by the file's sha256 (the scanner is another part's work).
    use std::collections::HashMap;
    use std::sync::Mutex;

    use strongroom_scan::ArchiveScan;

    static SCANS: Mutex<Option<HashMap<String, ArchiveScan>>> = Mutex::new(None);

    /// Answer `scan` for the file whose sha256 is `sha256`.
    pub(crate) fn set(sha256: &str, scan: ArchiveScan) {
        let mut g = SCANS.lock().unwrap_or_else(|p| p.into_inner());
        g.get_or_insert_with(HashMap::new)
            .insert(sha256.to_owned(), scan);
    }

    pub(super) fn get(sha256: &str) -> Option<ArchiveScan> {
        let g = SCANS.lock().unwrap_or_else(|p| p.into_inner());
        g.as_ref().and_then(|m| m.get(sha256).cloned())
    }
}

/// How long an upload waits for a scan slot before it is answered 503 (Retry-After).
const SCAN_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The process's scan slots: one per available core.
fn scan_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Run the scanner on a blocking thread.
async fn run_scanner(
    path: PathBuf,
    kind: ArchiveKind,
    sha256: &str,
    db: &strongroom_store::Db,
    now: i64,
) -> Result<ArchiveScan, CoreError> {
    #[cfg(test)]
    if let Some(scan) = injected::get(sha256) {
        return Ok(scan);
    }
    let _ = sha256;
    // At most one scan per core at once: a scan is CPU and memory bound (a parse tree of up to
    // `ScanLimits::max_source_bytes`), and uploads from many accounts must not multiply it.
    let permit = tokio::time::timeout(SCAN_WAIT, scan_slots().acquire())
        .await
        .map_err(|_| CoreError::Busy {
            message: "The package index is busy checking other uploads. Try again shortly.".into(),
            retry_after_secs: 30,
        })?
        .map_err(|_| CoreError::Internal("the scan slots are closed".into()))?;
    // Python members go through the scan cache (`core::scan_cache`): unchanged files of a new
    // release are not analysed again.
    let cache =
        crate::scan_cache::MemberCache::new(Some(db.clone()), tokio::runtime::Handle::current());
    let (result, cache) = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let scanner = |p: &str, s: &[u8], r, l: &ScanLimits| cache.scan(p, s, r, l);
        let result = strongroom_scan::archive::scan_archive_with(
            &path,
            kind,
            &ScanLimits::default(),
            &scanner,
        );
        (result, cache)
    })
    .await
    .map_err(|e| CoreError::Internal(format!("scan task failed: {e}")))?;
    cache.save(now).await;
    result.map_err(|e| match e {
        ScanError::Io(io) => CoreError::Internal(format!("scanning the uploaded file: {io}")),
        ScanError::Archive(m) => CoreError::Invalid(format!(
            "Invalid distribution file: it could not be scanned ({m})."
        )),
    })
}

/// What the publish hook hands the policy about the upload.
pub(crate) struct Upload<'a> {
    pub metadata: &'a CoreMetadata,
    /// The archive's members (as inspected).
    pub members: &'a [String],
}

impl Services {
    /// The precise rules, then the scan: refuse a file a live malicious-package advisory names
    /// by sha256, scan the archive (on a blocking thread), refuse a `Reject` finding. Each
    /// refusal is an event (`file:upload:refused:scan`) and stores nothing.
    pub(crate) async fn scan_upload(
        &self,
        user: &User,
        project: &str,
        file: &ReceivedFile,
        parsed: &DistFilename,
        meta: &RequestMeta,
    ) -> Result<ArchiveScan, CoreError> {
        let filename = file.filename.as_str();
        let sha256 = file.digests.sha256_hex();
        let sha256 = sha256.as_str();
        let records = self.db.malicious_records_naming(sha256).await?;
        if let Some(r) = records.first() {
            self.log_scan_refusal(
                user,
                project,
                meta,
                serde_json::json!({
                    "filename": filename, "sha256": sha256, "rule": Rule::KnownMalicious.id(),
                    "advisory": r.id, "source": r.source, "advisory_project": r.project,
                }),
            )
            .await;
            return Err(CoreError::Invalid(known_malicious_message(
                filename, &r.source, &r.id,
            )));
        }
        let scan = run_scanner(
            file.path.clone(),
            archive_kind(parsed),
            sha256,
            &self.db,
            self.now(),
        )
        .await?;
        if let Some(f) = scan.rejection() {
            self.log_scan_refusal(
                user,
                project,
                meta,
                serde_json::json!({
                    "filename": filename, "sha256": sha256, "rule": f.rule.id(),
                    "path": f.path, "line": f.line, "message": f.message,
                }),
            )
            .await;
            return Err(CoreError::Invalid(rejection_message(filename, f)));
        }
        Ok(scan)
    }

    /// The refusal's event (a failing append is logged and changes no answer).
    async fn log_scan_refusal(
        &self,
        user: &User,
        project: &str,
        meta: &RequestMeta,
        details: serde_json::Value,
    ) {
        let ev = NewEvent {
            at: self.now(),
            actor_id: Some(user.id),
            actor_name: Some(user.username.clone()),
            action: REFUSED_ACTION.into(),
            subject_kind: "project".into(),
            subject_name: Some(strongroom_protocol::name::normalize(project)),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            request_id: meta.request_id.clone(),
            details,
            ..NewEvent::default()
        };
        if let Err(e) = self.db.append_event(&ev).await {
            tracing::warn!(error = %e, "could not log a refused upload");
        }
    }

    /// Score the scanned upload and fill `new.scan` (every upload stores its scan); when the
    /// score reaches `scan.hold_score`, set `policy.scan_hold` and its mails. True when the
    /// project does not exist yet.
    pub(crate) async fn scan_policy(
        &self,
        user: &User,
        new: &mut NewFile,
        upload: Upload<'_>,
        mut scan: ArchiveScan,
        policy: &mut UploadPolicy,
    ) -> Result<bool, CoreError> {
        let project = self.db.project_by_normalized(&new.normalized_name).await?;
        let (roles, previous) = match &project {
            Some(p) => (
                self.db.roles_of_project(p.id).await?,
                self.db
                    .previous_release_scans(p.id, &new.canonical_version, new.at)
                    .await?,
            ),
            None => (Vec::new(), None),
        };
        let safety = &self.settings.safety;
        let dormant_days = previous
            .as_ref()
            .filter(|p| {
                safety.dormant_project_days > 0
                    && p.created_at < new.at.saturating_sub(days(safety.dormant_project_days))
            })
            .map(|_| safety.dormant_project_days);
        let watched = match self.watch_on(user, &roles).await? {
            // The founder of a project is new in its role, brought in by nobody.
            Some(Watch::Newcomer { .. }) if self.founded_by(project.as_ref(), user).await? => None,
            Some(w) => Some(w.describe(safety.recovery_watch_days, safety.newcomer_days)),
            None => None,
        };
        let previous = previous.as_ref().and_then(previous_capabilities);
        // A published release held for the typosquat profile was approved by an administrator:
        // the name was looked at, and is not held for itself again (B7).
        let name_reviewed = previous
            .as_ref()
            .is_some_and(|p| p.rules.contains_key(&Rule::TyposquatProfile));
        let typosquat_of = if name_reviewed {
            None
        } else {
            self.typosquat_of(&new.normalized_name, &new.version, &upload)
                .await?
        };
        let ctx = Context {
            version: new.version.clone(),
            previous,
            dormant_days,
            watched,
            typosquat_of: typosquat_of.clone(),
            hold_score: self.settings.scan.hold_score,
        };
        let decision = decide(&scan, &ctx);
        if let Some(of) = &typosquat_of {
            scan.findings.push(Finding {
                rule: Rule::TyposquatProfile,
                severity: Severity::High,
                path: String::new(),
                line: None,
                snippet: new.project_name.clone(),
                message: format!(
                    "The name {} is one edit from the popular project {of}, and the upload has a placeholder profile (early version, empty description or a single module).",
                    new.project_name
                ),
            });
        }
        new.scan = Some(NewScan {
            scanner_version: i64::from(SCANNER_VERSION),
            scan: to_json(&scan)?,
            score: i64::from(decision.score),
            diff: match &decision.diff {
                Some(d) => Some(to_json(d)?),
                None => None,
            },
            held_reason: decision.hold.clone(),
        });
        if let Some(reason) = decision.hold {
            let name = project
                .as_ref()
                .map_or(new.project_name.as_str(), |p| p.name.as_str());
            policy.scan_hold_mails = self
                .scan_hold_mails(&roles, user, name, new, &reason)
                .await?;
            policy.scan_hold = Some(reason);
        }
        Ok(project.is_none())
    }

    /// The local names most depended on and, with a gateway, the upstream names it served
    /// most, from the cache while it is current (see [`popular_cache`]).
    async fn popular_names(&self) -> Result<std::sync::Arc<Vec<String>>, CoreError> {
        let key = std::sync::Arc::as_ptr(&self.settings) as usize;
        let fingerprint = self.db.releases_fingerprint().await?;
        let now = self.now();
        if let Some(names) = popular_cache::get(key, fingerprint, now) {
            return Ok(names);
        }
        let metadata = self
            .db
            .latest_release_metadata(DEPENDENCY_SCAN_PROJECTS)
            .await?;
        let mut popular = most_depended_on(&metadata, POPULAR_NAMES);
        if self.upstream.is_some() {
            let limit = i64::try_from(POPULAR_NAMES).unwrap_or(i64::MAX);
            popular.extend(self.db.upstream_names_served(limit).await?);
        }
        let popular = std::sync::Arc::new(popular);
        popular_cache::put(key, fingerprint, now, popular.clone());
        Ok(popular)
    }

    /// Whether `user` created the project.
    async fn founded_by(
        &self,
        project: Option<&strongroom_store::model::Project>,
        user: &User,
    ) -> Result<bool, CoreError> {
        let Some(p) = project else { return Ok(false) };
        Ok(self
            .db
            .project_origin(p.id)
            .await?
            .is_some_and(|(by, _)| by == Some(user.id)))
    }

    /// The popular name `name` is one edit from, when the upload also has the placeholder
    /// profile (checked first, so the name lists are read only then).
    async fn typosquat_of(
        &self,
        name: &str,
        version: &str,
        upload: &Upload<'_>,
    ) -> Result<Option<String>, CoreError> {
        if !placeholder_profile(
            version,
            upload.metadata.description.as_deref(),
            upload.members,
        ) {
            return Ok(None);
        }
        let popular = self.popular_names().await?;
        // A name that is itself popular is that project, not a squat of its neighbour.
        if popular.iter().any(|p| p == name) {
            return Ok(None);
        }
        Ok(popular.iter().find(|p| one_edit_apart(p, name)).cloned())
    }

    /// The project's Owners (`roles`; the uploader too when it is one) and every
    /// administrator: the reasons and the diff.
    async fn scan_hold_mails(
        &self,
        roles: &[Role],
        user: &User,
        project: &str,
        new: &NewFile,
        reason: &str,
    ) -> Result<Vec<NewMail>, CoreError> {
        let to = self.owner_and_admin_addresses(roles).await?;
        Ok(notice(
            &to,
            &format!(
                "{} of {project} {} was held for review after its content scan",
                new.filename, new.version
            ),
            &format!(
                "{user} uploaded {file} to {project} {version}. The content scan held it for an administrator's review: {reason}.\n\nIt is not installable until an administrator approves it (strongroom admin area, or `strongroom admin review` on the server); the project's earlier releases are unaffected. If this upload was not expected, freeze the account and remove the release.",
                user = user.username,
                file = new.filename,
                version = new.version,
            ),
        ))
    }
}

mod popular_cache {
    //! The popular names, computed at most once per [`TTL_MICROS`] per services instance
    //! while no release was added or removed (count and newest id of `releases`), for at most
    //! [`ENTRIES`] instances (the oldest goes first): the Requires-Dist count reads many
    //! releases' metadata and runs only for uploads with the placeholder profile anyway.
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// How long an entry serves.
    pub(super) const TTL_MICROS: i64 = 3_600_000_000;
    /// How many services instances are cached at once.
    pub(super) const ENTRIES: usize = 8;

    type Entry = ((i64, i64), i64, Arc<Vec<String>>);

    static CACHE: Mutex<Option<HashMap<usize, Entry>>> = Mutex::new(None);

    pub(super) fn get(key: usize, fingerprint: (i64, i64), now: i64) -> Option<Arc<Vec<String>>> {
        let g = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        let (fp, at, names) = g.as_ref()?.get(&key)?;
        (*fp == fingerprint && now.saturating_sub(*at) < TTL_MICROS && *at <= now)
            .then(|| names.clone())
    }

    pub(super) fn put(key: usize, fingerprint: (i64, i64), now: i64, names: Arc<Vec<String>>) {
        let mut g = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        let map = g.get_or_insert_with(HashMap::new);
        if map.len() >= ENTRIES
            && !map.contains_key(&key)
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, at, _))| *at)
                .map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(key, (fingerprint, now, names));
    }
}

/// JSON of a stored shape, the error typed.
fn to_json<T: serde::Serialize>(v: &T) -> Result<String, CoreError> {
    serde_json::to_string(v).map_err(|e| CoreError::Internal(format!("encoding a scan: {e}")))
}
