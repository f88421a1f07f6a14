//! What a scan means for an upload (issue 13): run the scanner on the checked archive, refuse
//! precise rules (encrypted code, a known-malicious hash), score the rest (the scanner's base
//! score, new dangerous capabilities against the previous release, a dormant project, a watched
//! uploader, the typosquat profile M12), and hold for review what reaches `scan.hold_score`.
//!
//! **Refused at upload** (400, nothing stored): a finding of severity `Reject` (PyArmor and
//! other encrypted code, `SR-M11-encrypted-code`), and a file whose sha256 a live
//! malicious-package advisory names (`SR-known-malicious`), under any project's name: the
//! bytes are the same file.
//!
//! **The score** of an upload is the sum of:
//! - the scanner's base score of its findings (`strongroom_scan::score::base_score`);
//! - [`NEW_CAPABILITY_WEIGHT`] for each dangerous capability kind
//!   (`Capability::is_dangerous`) the file has and the project's previous release did not
//!   (the newest release created before this one that is published: neither quarantined nor
//!   removed; its live, unheld files' scans, unioned per path). A project's first release, or
//!   one whose previous release was uploaded before scanning existed, gets no such points: it
//!   is scored on its findings alone;
//! - [`NEW_BEHAVIOUR_WEIGHT`] for each behaviour rule (`Rule::is_behaviour`: exfiltration,
//!   decode-and-exec, download-and-run, credential theft, …) whose finding is at least
//!   `medium` and worse than anything the previous release had for that rule: "same
//!   capabilities, new flow" (0.1 reads a proxy variable beside `requests`, 0.2 passes a
//!   token to a function that posts it) is the staged attack's tell, and a medium finding
//!   (4) new to the project reaches the default threshold with it. First releases get none;
//! - [`EXECUTABLE_PTH_WEIGHT`] when the file ships an executable `.pth` (code at every
//!   interpreter start; a new one also counts as a new capability);
//! - [`DORMANT_WEIGHT`] when the project's previous release is older than
//!   `safety.dormant_project_days`;
//! - [`WATCHED_WEIGHT`] when the uploader is watched on the project (recovered, newcomer or
//!   inherited: `core::watch`);
//! - [`TYPOSQUAT_WEIGHT`] for the typosquat profile (M12, a `SR-M12-typosquat-profile` finding
//!   of severity High added to the stored scan): the name is one edit (insertion, deletion,
//!   substitution or adjacent transposition) from one of the [`POPULAR_NAMES`] local projects
//!   most depended on (Requires-Dist of each local project's newest published release) or,
//!   with a gateway, the upstream projects it served most; and a placeholder profile: a 0.0.x
//!   or 0.1 version with an empty description or a single Python module. Not when the
//!   previous release had that finding and is published: an administrator approved the name.
//!
//! Dormancy and a watch alone never reach the default threshold: they raise a release that
//! already changed character.
//!
//! **Holding.** A score at or above `scan.hold_score` holds the upload: a new release is
//! stored quarantined (the ownership work's release quarantine: out of the simple and JSON
//! APIs, no journal entry until approved), a file joining an existing release is held on its
//! own; the project's Owners and every administrator are mailed the reasons with the capability
//! diff in words ("0.2.2 adds network, environment-read, encoding to ctx.py, which 0.1.2 did
//! not have": capabilities in their display order). `scan.hold_score = 0` turns holding off (files are still scanned, scored and
//! their scans stored; precise rules still refuse). Every upload stores its scan
//! (`file_scans`): scanner version, scan, score, diff against the previous release, and the
//! hold's reason.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use strongroom_protocol::filename::{DistFilename, SdistKind};
use strongroom_protocol::metadata::CoreMetadata;
use strongroom_scan::diff::CapabilityDiff;
use strongroom_scan::{
    ArchiveKind, ArchiveScan, Capability, FileCapabilities, Finding, Rule, SCANNER_VERSION,
    ScanError, ScanLimits, Severity,
};
use strongroom_store::file_scans::{NewScan, PreviousRelease};
use strongroom_store::model::{Role, User};
use strongroom_store::{NewEvent, NewFile, NewMail, ProjectRole, UploadPolicy};

use crate::mail::{notice, notice_recipients};
use crate::publish::ReceivedFile;
use crate::settings::days;
use crate::watch::Watch;
use crate::{CoreError, RequestMeta, Services};

/// Points for each dangerous capability kind new to the project with this release.
pub const NEW_CAPABILITY_WEIGHT: u32 = 5;
/// Points for each behaviour rule whose finding is new to the project, or worse than before,
/// with this release (at least `medium`): with a medium finding's 4, the default threshold.
pub const NEW_BEHAVIOUR_WEIGHT: u32 = 6;
/// Points for an executable `.pth` file.
pub const EXECUTABLE_PTH_WEIGHT: u32 = 5;
/// Points when the project's previous release is older than `safety.dormant_project_days`.
pub const DORMANT_WEIGHT: u32 = 3;
/// Points when the uploader is watched on the project.
pub const WATCHED_WEIGHT: u32 = 3;
/// Points for the typosquat profile (M12).
pub const TYPOSQUAT_WEIGHT: u32 = 10;
/// How many popular names (local and, apart, upstream) the typosquat check compares with.
pub const POPULAR_NAMES: usize = 1000;
/// How many local projects' newest releases the Requires-Dist count reads at most.
const DEPENDENCY_SCAN_PROJECTS: i64 = 20_000;
/// How many findings and files a hold's reason names (the review queue shows them all).
const REASON_ITEMS: usize = 5;

/// The event of an upload refused by a precise rule.
pub const REFUSED_ACTION: &str = "file:upload:refused:scan";

/// The previous release, as the score compares with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub version: String,
    /// Per path, the union of the capabilities its files' scans found there.
    pub capabilities: FileCapabilities,
    /// Each rule its files' scans found, at its worst finding.
    pub rules: BTreeMap<Rule, Severity>,
}

/// What the policy knows beside the scan.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The version uploaded.
    pub version: String,
    /// `None`: the project's first release (or its previous one was never scanned).
    pub previous: Option<Previous>,
    /// The project's previous release is older than this many days (dormant).
    pub dormant_days: Option<u64>,
    /// Why the uploader is watched, if it is.
    pub watched: Option<String>,
    /// The typosquat profile matched: the popular name the upload's name is one edit from.
    pub typosquat_of: Option<String>,
    /// `scan.hold_score` (0: never hold).
    pub hold_score: u32,
}

/// What the policy decided for one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub score: u32,
    /// The scanner's base score (findings alone).
    pub base: u32,
    /// Dangerous capability kinds new to the project.
    pub new_kinds: BTreeSet<Capability>,
    /// Behaviour rules found (at least `medium`) worse than in the previous release.
    pub new_behaviours: BTreeMap<Rule, Severity>,
    /// Against the previous release (none for a first release).
    pub diff: Option<CapabilityDiff>,
    /// The diff in words, when something was added.
    pub diff_words: Option<String>,
    /// Why the upload is held, when it is.
    pub hold: Option<String>,
}

/// Compare the previous release's capabilities with this file's, per path.
pub fn capability_diff(previous: &FileCapabilities, current: &FileCapabilities) -> CapabilityDiff {
    strongroom_scan::diff::diff(previous, current)
}

/// "0.2.2 adds network, environment-read, encoding to ctx.py, which 0.1.2 did not have" (a
/// few files named, the rest counted); `None` when nothing was added.
pub fn diff_in_words(version: &str, previous: &str, diff: &CapabilityDiff) -> Option<String> {
    if diff.added.is_empty() {
        return None;
    }
    let parts: Vec<String> = diff
        .added
        .iter()
        .take(REASON_ITEMS)
        .map(|(path, caps)| {
            let names: Vec<&str> = caps.iter().map(|c| c.as_str()).collect();
            format!("{} to {path}", names.join(", "))
        })
        .collect();
    let more = diff.added.len().saturating_sub(REASON_ITEMS);
    let tail = if more > 0 {
        format!(" (and {more} more files)")
    } else {
        String::new()
    };
    Some(format!(
        "{version} adds {}{tail}, which {previous} did not have",
        parts.join("; ")
    ))
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Reject => "reject",
    }
}

/// One finding in a sentence: rule, severity, where.
fn finding_line(f: &Finding) -> String {
    let at = match f.line {
        Some(l) => format!("{}:{l}", f.path),
        None => f.path.clone(),
    };
    format!("{} ({}) in {at}", f.rule, severity_word(f.severity))
}

/// Score `scan` (the scanner's, without the typosquat finding) in `ctx`.
pub fn decide(scan: &ArchiveScan, ctx: &Context) -> Decision {
    let base = strongroom_scan::score::base_score(scan);
    let mut score = base;
    let mut why: Vec<String> = Vec::new();
    let (diff, new_kinds, diff_words) = match &ctx.previous {
        Some(prev) => {
            let d = capability_diff(&prev.capabilities, &scan.capabilities);
            let new_kinds: BTreeSet<Capability> = d
                .new_kinds
                .iter()
                .copied()
                .filter(|c| c.is_dangerous())
                .collect();
            let words = diff_in_words(&ctx.version, &prev.version, &d);
            (Some(d), new_kinds, words)
        }
        None => (None, BTreeSet::new(), None),
    };
    if !new_kinds.is_empty() {
        let n = u32::try_from(new_kinds.len()).unwrap_or(u32::MAX);
        score = score.saturating_add(NEW_CAPABILITY_WEIGHT.saturating_mul(n));
        let names: Vec<&str> = new_kinds.iter().map(|c| c.as_str()).collect();
        why.push(format!(
            "new capabilities: {} (+{NEW_CAPABILITY_WEIGHT} each)",
            names.join(", ")
        ));
    }
    let new_behaviours = match &ctx.previous {
        Some(prev) => new_behaviours(scan, prev),
        None => BTreeMap::new(),
    };
    if !new_behaviours.is_empty() {
        let n = u32::try_from(new_behaviours.len()).unwrap_or(u32::MAX);
        score = score.saturating_add(NEW_BEHAVIOUR_WEIGHT.saturating_mul(n));
        let prev = ctx.previous.as_ref().map_or("", |p| p.version.as_str());
        let names: Vec<String> = new_behaviours
            .iter()
            .map(|(rule, sev)| format!("{rule} ({})", severity_word(*sev)))
            .collect();
        why.push(format!(
            "new behaviour since {prev}: {} (+{NEW_BEHAVIOUR_WEIGHT} each)",
            names.join(", ")
        ));
    }
    if scan.all_capabilities().contains(&Capability::ExecutablePth) {
        score = score.saturating_add(EXECUTABLE_PTH_WEIGHT);
        let paths: Vec<&str> = scan
            .capabilities
            .iter()
            .filter(|(_, c)| c.contains(&Capability::ExecutablePth))
            .map(|(p, _)| p.as_str())
            .take(REASON_ITEMS)
            .collect();
        why.push(format!(
            "executable .pth: {} (+{EXECUTABLE_PTH_WEIGHT})",
            paths.join(", ")
        ));
    }
    if let Some(d) = ctx.dormant_days {
        score = score.saturating_add(DORMANT_WEIGHT);
        why.push(format!(
            "the project had no release for more than {d} days (+{DORMANT_WEIGHT})"
        ));
    }
    if let Some(w) = &ctx.watched {
        score = score.saturating_add(WATCHED_WEIGHT);
        why.push(format!("uploaded by an account {w} (+{WATCHED_WEIGHT})"));
    }
    if let Some(of) = &ctx.typosquat_of {
        score = score.saturating_add(TYPOSQUAT_WEIGHT);
        why.push(format!(
            "{}: the name is one edit from the popular project {of}, with a placeholder profile (+{TYPOSQUAT_WEIGHT})",
            Rule::TyposquatProfile
        ));
    }
    let hold = (ctx.hold_score > 0 && score >= ctx.hold_score).then(|| {
        let mut parts = vec![format!(
            "content scan score {score} reached the hold score {}",
            ctx.hold_score
        )];
        if let Some(w) = &diff_words {
            parts.push(w.clone());
        }
        parts.extend(why.iter().cloned());
        let mut findings: Vec<&Finding> = scan
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .collect();
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        if !findings.is_empty() {
            let lines: Vec<String> = findings
                .iter()
                .take(REASON_ITEMS)
                .map(|f| finding_line(f))
                .collect();
            let more = findings.len().saturating_sub(REASON_ITEMS);
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            parts.push(format!(
                "findings (base score {base}): {}{tail}",
                lines.join(", ")
            ));
        }
        parts.join("; ")
    });
    Decision {
        score,
        base,
        new_kinds,
        new_behaviours,
        diff,
        diff_words,
        hold,
    }
}

/// The behaviour rules this scan finds at `medium` or worse, and worse than the previous
/// release found them (not at all counts as below everything).
fn new_behaviours(scan: &ArchiveScan, prev: &Previous) -> BTreeMap<Rule, Severity> {
    strongroom_scan::score::worst_by_rule(scan)
        .into_iter()
        .filter(|(rule, sev)| {
            rule.is_behaviour()
                && (Severity::Medium..Severity::Reject).contains(sev)
                && prev.rules.get(rule).is_none_or(|before| before < sev)
        })
        .collect()
}

/// The message of an upload refused by a `Reject` finding.
pub fn rejection_message(filename: &str, f: &Finding) -> String {
    let at = match f.line {
        Some(l) => format!("{}, line {l}", f.path),
        None => f.path.clone(),
    };
    format!(
        "The file {filename} was refused by the content scan: rule {} in {at}: {} Encrypted or obfuscated code cannot be reviewed; publish the plain source. If you think this is a mistake, contact the index administrators.",
        f.rule, f.message
    )
}

/// The message of an upload whose sha256 a malicious-package advisory names.
pub fn known_malicious_message(filename: &str, source: &str, id: &str) -> String {
    format!(
        "The file {filename} was refused: its sha256 is listed as malicious by the advisory {id} (source {source}), rule {}. Contact the index administrators if you think this is a mistake.",
        Rule::KnownMalicious
    )
}

/// The answer body of an upload held by its scan.
pub fn held_answer(project: &str, version: &str, filename: &str) -> String {
    format!(
        "OK, but held for review: {filename} ({project} {version}) was held after its content scan. It is not installable until an administrator approves it; the project's owners and the index administrators were told.\n"
    )
}

/// Whether `a` and `b` differ by exactly one edit: an insertion, a deletion, a substitution
/// or the transposition of two adjacent characters.
pub fn one_edit_apart(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a == b {
        return false;
    }
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    match long.len() - short.len() {
        0 => {
            let diffs: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            match diffs[..] {
                [_] => true,
                [i, j] => j == i + 1 && a[i] == b[j] && a[j] == b[i],
                _ => false,
            }
        }
        1 => {
            let i = (0..short.len())
                .find(|&i| short[i] != long[i])
                .unwrap_or(short.len());
            short[i..] == long[i + 1..]
        }
        _ => false,
    }
}

/// The project name named by a Requires-Dist value (`name [extras] (spec) ; marker`),
/// normalised.
fn requirement_name(req: &str) -> Option<String> {
    let name: String = req
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    (!name.is_empty()).then(|| strongroom_protocol::name::normalize(&name))
}

/// The `limit` local names most depended on, from each project's newest release's metadata
/// (normalised name, metadata): only names of local projects count, a project's dependency on
/// itself does not.
pub fn most_depended_on(metadata: &[(String, String)], limit: usize) -> Vec<String> {
    let local: BTreeSet<&str> = metadata.iter().map(|(n, _)| n.as_str()).collect();
    let mut counts: HashMap<String, u64> = HashMap::new();
    for (name, md) in metadata {
        let Ok(parsed) = CoreMetadata::parse(md.as_bytes()) else {
            continue;
        };
        let deps: BTreeSet<String> = parsed
            .requires_dist
            .iter()
            .filter_map(|r| requirement_name(r))
            .filter(|d| d != name && local.contains(d.as_str()))
            .collect();
        for d in deps {
            *counts.entry(d).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter().take(limit).map(|(n, _)| n).collect()
}

/// The placeholder profile of a typosquat: a 0.0.x or 0.1 version, with an empty description
/// or a single Python module (besides `setup.py`).
pub fn placeholder_profile(version: &str, description: Option<&str>, members: &[String]) -> bool {
    let nums: Vec<u64> = version
        .split('.')
        .map_while(|p| p.parse::<u64>().ok())
        .collect();
    let early = match nums[..] {
        [0] => true,
        [0, 0, ..] => true,
        [0, 1, ref rest @ ..] => rest.iter().all(|n| *n == 0),
        _ => false,
    };
    let empty = description.is_none_or(|d| d.trim().is_empty());
    let modules = members
        .iter()
        .filter(|m| m.ends_with(".py"))
        .filter(|m| {
            let file = m.rsplit('/').next().unwrap_or(m);
            file != "setup.py" && file != "conftest.py"
        })
        .count();
    early && (empty || modules <= 1)
}

/// The per-path union of a release's stored scans (rows whose JSON does not read are skipped);
/// `None` when none of its files was scanned.
fn previous_capabilities(prev: &PreviousRelease) -> Option<Previous> {
    let mut caps: FileCapabilities = BTreeMap::new();
    let mut rules: BTreeMap<Rule, Severity> = BTreeMap::new();
    let mut any = false;
    for row in &prev.scans {
        let Ok(scan) = serde_json::from_str::<ArchiveScan>(&row.scan) else {
            continue;
        };
        any = true;
        for (rule, sev) in strongroom_scan::score::worst_by_rule(&scan) {
            let w = rules.entry(rule).or_insert(sev);
            *w = (*w).max(sev);
        }
        for (path, c) in scan.capabilities {
            caps.entry(path).or_default().extend(c);
        }
    }
    any.then(|| Previous {
        version: prev.version.clone(),
        capabilities: caps,
        rules,
    })
}

fn archive_kind(parsed: &DistFilename) -> ArchiveKind {
    match parsed {
        DistFilename::Wheel(_) => ArchiveKind::Wheel,
        DistFilename::Sdist(s) => match s.kind {
            SdistKind::TarGz => ArchiveKind::SdistTarGz,
            SdistKind::Zip => ArchiveKind::SdistZip,
        },
    }
}

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
        let mut to: Vec<String> = Vec::new();
        let mut add = |addrs: Vec<String>| {
            for a in addrs {
                if !to.iter().any(|t| t.eq_ignore_ascii_case(&a)) {
                    to.push(a);
                }
            }
        };
        for r in roles {
            if r.role == ProjectRole::Owner {
                add(notice_recipients(&self.db.emails_of(r.user_id).await?));
            }
        }
        add(self.admin_addresses().await?);
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

#[cfg(test)]
mod tests;
