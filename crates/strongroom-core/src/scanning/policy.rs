//! The scan policy, pure: the weights, `decide` (the score and the hold), the capability diff in
//! words, the messages, the typosquat and placeholder checks, and the previous release's
//! capabilities as the score compares with them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use strongroom_protocol::filename::{DistFilename, SdistKind};
use strongroom_protocol::metadata::CoreMetadata;
use strongroom_scan::diff::CapabilityDiff;
use strongroom_scan::{
    ArchiveKind, ArchiveScan, Capability, FileCapabilities, Finding, Rule, Severity,
};
use strongroom_store::file_scans::PreviousRelease;

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
pub(super) const DEPENDENCY_SCAN_PROJECTS: i64 = 20_000;
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
pub(super) fn previous_capabilities(prev: &PreviousRelease) -> Option<Previous> {
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

pub(super) fn archive_kind(parsed: &DistFilename) -> ArchiveKind {
    match parsed {
        DistFilename::Wheel(_) => ArchiveKind::Wheel,
        DistFilename::Sdist(s) => match s.kind {
            SdistKind::TarGz => ArchiveKind::SdistTarGz,
            SdistKind::Zip => ArchiveKind::SdistZip,
        },
    }
}
