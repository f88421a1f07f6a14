//! The impact report (issue 13): what the ctx incident report worked out by hand, for one
//! project (optionally one version) from a time on: downloads per file per day with the window
//! in which each file was installable, page reads against downloads by client kind (mirrors
//! read everything, installers what they resolve), the distinct client addresses (listed
//! while the download log keeps them, counted per day after), the local projects whose latest
//! release depends on it (Requires-Dist), and the incident's events (upload, hold, quarantine,
//! yank, removal, approval) with their times, for the chart's markers.
//!
//! Every part is bounded: files and dependents by the store's limits, addresses by
//! [`CLIENTS_MAX`], events by [`EVENTS_MAX`]. Page reads are counted per project, not per
//! version: `--version` narrows the files, downloads and addresses only.

use std::collections::BTreeMap;

use serde::Serialize;
use strongroom_store::page_hits::{FileDay, ImpactFile};

use crate::client_kind::{self, ClientKind};
use crate::timeline::{TimelineEntry, TimelineOf};
use crate::{CoreError, Services};

/// Client addresses listed at most (most downloads first).
pub const CLIENTS_MAX: i64 = 1_000;
/// Events shown at most (the newest are kept).
pub const EVENTS_MAX: usize = 500;
/// Latest releases read for Requires-Dist at most.
pub const DEPENDENT_CANDIDATES_MAX: i64 = 500;

/// What `admin impact` and `/admin/impact/{project}/` ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpactQuery {
    /// The normalised name.
    pub project: String,
    /// One version only (as given; compared in canonical form).
    pub version: Option<String>,
    /// µs; 0 = everything on record.
    pub since: i64,
}

impl ImpactQuery {
    /// Check the operator's words: a name no project could have, a version that is not one,
    /// or a time that is not one, is a clear error.
    pub fn parse(
        project: &str,
        version: Option<&str>,
        since: Option<&str>,
    ) -> Result<ImpactQuery, CoreError> {
        let q = crate::download_log::LogQuery::parse(project, since)?;
        let version = match version.map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => {
                strongroom_protocol::version::Version::parse(v)
                    .map_err(|_| CoreError::Invalid(format!("'{v}' is not a valid version")))?;
                Some(v.to_owned())
            }
            None => None,
        };
        Ok(ImpactQuery {
            project: q.project,
            version,
            since: q.since,
        })
    }

    fn wants(&self, version: &str) -> bool {
        match &self.version {
            None => true,
            Some(v) => same_version(v, version),
        }
    }
}

/// Equal versions (`1.0`, `1.0.0`) are one release.
fn same_version(a: &str, b: &str) -> bool {
    use strongroom_protocol::version::Version;
    match (Version::parse(a), Version::parse(b)) {
        (Ok(x), Ok(y)) => x.canonical() == y.canonical(),
        _ => a == b,
    }
}

/// Why a file's installable window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowEnd {
    Yanked,
    Quarantined,
    Held,
    Removed,
}

/// One file and the window in which installers could get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileWindow {
    pub version: String,
    pub filename: String,
    pub sha256: String,
    /// µs; none for a file known only from the download log (an upstream file).
    pub uploaded_at: Option<i64>,
    /// From when it was installable (none: never, e.g. held at upload and not approved).
    pub installable_from: Option<i64>,
    /// Until when (none: still installable, or never was).
    pub installable_until: Option<i64>,
    pub ended_by: Option<WindowEnd>,
    /// Downloads on record from `since` on.
    pub downloads: i64,
}

/// Downloads of one file on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyDownloads {
    /// µs of the UTC day's midnight.
    pub day: i64,
    pub origin: &'static str,
    pub version: String,
    pub filename: String,
    pub count: i64,
}

/// Page reads and downloads of one client kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    pub kind: ClientKind,
    pub page_hits: i64,
    pub downloads: i64,
}

/// One client address on record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientRow {
    pub ip: String,
    pub version: String,
    pub downloads: i64,
    pub first: i64,
    pub last: i64,
}

/// Distinct addresses of one release: on record, and per folded day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressSummary {
    pub version: String,
    /// Distinct addresses among the downloads still on record.
    pub on_record: i64,
    /// Distinct addresses per folded day, added up (an address seen on two days counts twice).
    pub folded_day_sum: i64,
}

/// A local project whose latest release requires this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependent {
    pub project: String,
    pub version: String,
    /// The Requires-Dist line as written.
    pub requirement: String,
}

/// What an event did, for the chart's markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Upload,
    Hold,
    Quarantine,
    Approve,
    Yank,
    Unyank,
    Removal,
    Restore,
    Verdict,
}

impl EventKind {
    /// The kind of a timeline action, when it is one the report shows.
    pub fn of(action: &str) -> Option<EventKind> {
        let a = action.strip_prefix("admin:").unwrap_or(action);
        Some(match a {
            "file:upload" => EventKind::Upload,
            "file:held" => EventKind::Hold,
            "release:quarantine" | "project:quarantine" => EventKind::Quarantine,
            "release:approve" | "file:approve" | "project:release" | "file:keep" => {
                EventKind::Approve
            }
            "release:yank" => EventKind::Yank,
            "release:unyank" => EventKind::Unyank,
            "release:remove" | "file:remove" | "file:reject" | "project:delete" => {
                EventKind::Removal
            }
            "release:restore" | "file:restore" | "project:restore" => EventKind::Restore,
            _ if a.contains("malicious") || a.contains("verdict") => EventKind::Verdict,
            _ => return None,
        })
    }

    /// The word shown.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Upload => "upload",
            EventKind::Hold => "hold",
            EventKind::Quarantine => "quarantine",
            EventKind::Approve => "approve",
            EventKind::Yank => "yank",
            EventKind::Unyank => "unyank",
            EventKind::Removal => "removal",
            EventKind::Restore => "restore",
            EventKind::Verdict => "verdict",
        }
    }
}

/// One event of the incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImpactEvent {
    pub at: i64,
    pub kind: EventKind,
    pub action: String,
    pub actor: String,
    pub version: Option<String>,
    pub filename: Option<String>,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImpactReport {
    pub project: String,
    pub version: Option<String>,
    pub since: i64,
    /// A project published here (else: known from the gateway's download log only).
    pub local: bool,
    pub retention_days: u64,
    pub files: Vec<FileWindow>,
    pub daily: Vec<DailyDownloads>,
    /// Every kind, in [`client_kind::ALL`]'s order.
    pub kinds: Vec<KindCounts>,
    /// Page reads per day (all kinds), for the chart.
    pub page_hits_daily: Vec<(i64, i64)>,
    /// Downloads counted per kind: the downloads recorded before migration 0028 have no kind,
    /// so this can be less than the files' downloads.
    pub downloads_with_kind: i64,
    pub clients: Vec<ClientRow>,
    pub clients_truncated: bool,
    pub addresses: Vec<AddressSummary>,
    pub dependents: Vec<Dependent>,
    pub dependents_truncated: bool,
    pub events: Vec<ImpactEvent>,
}

impl ImpactReport {
    /// Downloads per day, all files together, oldest first.
    pub fn downloads_per_day(&self) -> Vec<(i64, i64)> {
        let mut days: BTreeMap<i64, i64> = BTreeMap::new();
        for d in &self.daily {
            *days.entry(d.day).or_default() += d.count;
        }
        days.into_iter().collect()
    }
}

/// The installable window of a local file, from its row and the project's events.
fn window(f: &ImpactFile, events: &[ImpactEvent]) -> (Option<i64>, Option<i64>, Option<WindowEnd>) {
    let of_this = |e: &&ImpactEvent| {
        e.version
            .as_deref()
            .is_some_and(|v| same_version(v, &f.version))
            && e.filename.as_deref().is_none_or(|n| n == f.filename)
    };
    // Held at upload (a quarantined release or a held file): installable from its approval.
    let held_at_upload = events.iter().filter(of_this).any(|e| {
        matches!(e.kind, EventKind::Hold | EventKind::Quarantine) && e.at <= f.uploaded_at
    }) || f.held_at.is_some_and(|h| h <= f.uploaded_at)
        || f.quarantined_at.is_some_and(|q| q <= f.uploaded_at);
    let start = if held_at_upload {
        if f.held_at.is_some() || f.quarantined_at.is_some_and(|q| q <= f.uploaded_at) {
            None
        } else {
            events
                .iter()
                .filter(of_this)
                .filter(|e| e.kind == EventKind::Approve && e.at >= f.uploaded_at)
                .map(|e| e.at)
                .min()
        }
    } else {
        Some(f.uploaded_at)
    };
    let Some(start) = start else {
        return (None, None, None);
    };
    let ends = [
        (f.yanked_at, WindowEnd::Yanked),
        (
            f.quarantined_at.filter(|&q| q >= start),
            WindowEnd::Quarantined,
        ),
        (f.held_at.filter(|&h| h >= start), WindowEnd::Held),
        (f.release_removed_at, WindowEnd::Removed),
        (f.file_removed_at, WindowEnd::Removed),
    ];
    match ends
        .into_iter()
        .filter_map(|(at, why)| at.map(|a| (a, why)))
        .min_by_key(|(a, _)| *a)
    {
        Some((at, why)) => (Some(start), Some(at.max(start)), Some(why)),
        None => (Some(start), None, None),
    }
}

/// The requirement's project name (PEP 508: the leading identifier), normalised. Only the name
/// is needed, and the leading identifier is where every PEP 508 requirement names it.
fn requirement_name(req: &str) -> Option<String> {
    let t = req.trim_start();
    let end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(t.len());
    let name = &t[..end];
    strongroom_protocol::name::is_valid_project_name(name)
        .then(|| strongroom_protocol::name::normalize(name))
}

/// A lower-case `LIKE` pattern that finds `normalized` in any spelling: each separator may be
/// any one character (`-`, `_` or `.`), and `%`/`_` in names cannot occur (names are
/// letters, digits and separators).
fn like_pattern(normalized: &str) -> String {
    let mut p = String::from("%");
    for c in normalized.chars() {
        p.push(if c == '-' {
            '_'
        } else {
            c.to_ascii_lowercase()
        });
    }
    p.push('%');
    p
}

impl Services {
    /// The impact report of `q`.
    pub async fn impact_report(&self, q: &ImpactQuery) -> Result<ImpactReport, CoreError> {
        let project_id = self.db.project_state(&q.project).await?.map(|p| p.id);
        let events = self.impact_events(q).await?;
        let daily_rows: Vec<FileDay> = self
            .db
            .downloads_per_file_day(&q.project, q.since)
            .await?
            .into_iter()
            .filter(|d| q.wants(&d.version))
            .collect();
        let files = self
            .impact_files(q, project_id, &events, &daily_rows)
            .await?;
        let daily = daily_rows
            .into_iter()
            .map(|d| DailyDownloads {
                day: d.day,
                origin: d.origin.as_str(),
                version: d.version,
                filename: d.filename,
                count: d.count,
            })
            .collect();
        let by_kind = self.impact_kinds(q).await?;
        let (clients, clients_truncated) = self.impact_clients(q).await?;
        let addresses = self.impact_addresses(q).await?;
        let (dependents, dependents_truncated) =
            self.impact_dependents(q, project_id.unwrap_or(-1)).await?;
        Ok(ImpactReport {
            project: q.project.clone(),
            version: q.version.clone(),
            since: q.since,
            local: project_id.is_some(),
            retention_days: self.settings.downloads.retention_days,
            files,
            daily,
            kinds: by_kind.kinds,
            page_hits_daily: by_kind.page_hits_daily,
            downloads_with_kind: by_kind.downloads_with_kind,
            clients,
            clients_truncated,
            addresses,
            dependents,
            dependents_truncated,
            events,
        })
    }

    /// The project's incident events since `q.since` (local projects, and upstream ones an
    /// admin acted on), of the versions asked for, the last [`EVENTS_MAX`].
    async fn impact_events(&self, q: &ImpactQuery) -> Result<Vec<ImpactEvent>, CoreError> {
        let timeline: Vec<TimelineEntry> = match self
            .timeline(TimelineOf::Project(&q.project), Some(q.since))
            .await
        {
            Ok(t) => t,
            Err(CoreError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut events: Vec<ImpactEvent> = timeline
            .iter()
            .filter_map(|t| {
                let kind = EventKind::of(&t.action)?;
                let version = t.details.get("version").and_then(|v| v.as_str());
                if version.is_some_and(|v| !q.wants(v)) {
                    return None;
                }
                Some(ImpactEvent {
                    at: t.at,
                    kind,
                    action: t.action.clone(),
                    actor: t.actor.clone(),
                    version: version.map(str::to_owned),
                    filename: t
                        .details
                        .get("filename")
                        .and_then(|v| v.as_str())
                        .map(str::to_owned),
                })
            })
            .collect();
        if events.len() > EVENTS_MAX {
            events.drain(..events.len() - EVENTS_MAX);
        }
        Ok(events)
    }

    /// Each file of the versions asked for, with its downloads in `daily_rows` and the window
    /// in which it was installable (from `events`): the local project's files, then those
    /// known only to the download log (upstream files through the gateway).
    async fn impact_files(
        &self,
        q: &ImpactQuery,
        project_id: Option<i64>,
        events: &[ImpactEvent],
        daily_rows: &[FileDay],
    ) -> Result<Vec<FileWindow>, CoreError> {
        let mut per_file: BTreeMap<(String, String), i64> = BTreeMap::new();
        for d in daily_rows {
            *per_file
                .entry((d.filename.clone(), d.sha256.clone()))
                .or_default() += d.count;
        }
        let downloads_of = |filename: &str, sha256: &str| {
            per_file
                .get(&(filename.to_owned(), sha256.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        let mut files = Vec::new();
        if let Some(id) = project_id {
            for f in self.db.impact_files(id).await? {
                if !q.wants(&f.version) {
                    continue;
                }
                let (from, until, ended_by) = window(&f, events);
                files.push(FileWindow {
                    downloads: downloads_of(&f.filename, &f.sha256),
                    version: f.version,
                    filename: f.filename,
                    sha256: f.sha256,
                    uploaded_at: Some(f.uploaded_at),
                    installable_from: from,
                    installable_until: until,
                    ended_by,
                });
            }
        }
        for f in self.db.downloaded_files(&q.project).await? {
            if !q.wants(&f.version)
                || files
                    .iter()
                    .any(|w| w.filename == f.filename && w.sha256 == f.sha256)
            {
                continue;
            }
            files.push(FileWindow {
                downloads: downloads_of(&f.filename, &f.sha256),
                version: f.version,
                filename: f.filename,
                sha256: f.sha256,
                uploaded_at: None,
                installable_from: None,
                installable_until: None,
                ended_by: None,
            });
        }
        Ok(files)
    }

    /// Page reads (per project: every version) and downloads (of the versions asked for) by
    /// client kind, and the page reads per day.
    async fn impact_kinds(&self, q: &ImpactQuery) -> Result<ByKind, CoreError> {
        let mut hits = [0i64; client_kind::ALL.len()];
        let mut downloads = [0i64; client_kind::ALL.len()];
        let mut hits_per_day: BTreeMap<i64, i64> = BTreeMap::new();
        for h in self.db.page_hits_of(&q.project, q.since).await? {
            let k = ClientKind::parse(&h.client_kind).unwrap_or(ClientKind::Other);
            hits[k.index()] += h.count;
            *hits_per_day.entry(h.day).or_default() += h.count;
        }
        let mut downloads_with_kind = 0;
        for d in self.db.download_kinds_of(&q.project, q.since).await? {
            if !q.wants(&d.version) {
                continue;
            }
            let k = ClientKind::parse(&d.client_kind).unwrap_or(ClientKind::Other);
            downloads[k.index()] += d.count;
            downloads_with_kind += d.count;
        }
        let kinds = client_kind::ALL
            .into_iter()
            .map(|kind| KindCounts {
                kind,
                page_hits: hits[kind.index()],
                downloads: downloads[kind.index()],
            })
            .collect();
        Ok(ByKind {
            kinds,
            page_hits_daily: hits_per_day.into_iter().collect(),
            downloads_with_kind,
        })
    }

    /// The client addresses on record (the download log's), of the versions asked for: at
    /// most [`CLIENTS_MAX`], and whether there were more.
    async fn impact_clients(&self, q: &ImpactQuery) -> Result<(Vec<ClientRow>, bool), CoreError> {
        let mut clients: Vec<ClientRow> = self
            .db
            .download_clients_of(&q.project, q.since, CLIENTS_MAX + 1)
            .await?
            .into_iter()
            .filter(|c| q.wants(&c.version))
            .map(|c| ClientRow {
                ip: c.ip,
                version: c.version,
                downloads: c.downloads,
                first: c.first,
                last: c.last,
            })
            .collect();
        let truncated = clients.len() as i64 > CLIENTS_MAX;
        clients.truncate(usize::try_from(CLIENTS_MAX).unwrap_or(usize::MAX));
        Ok((clients, truncated))
    }

    /// Distinct client addresses per version: those still on record, and the per-day counts
    /// of those folded away.
    async fn impact_addresses(&self, q: &ImpactQuery) -> Result<Vec<AddressSummary>, CoreError> {
        let mut addresses: BTreeMap<String, AddressSummary> = BTreeMap::new();
        for (version, n) in self.db.distinct_clients_of(&q.project, q.since).await? {
            if q.wants(&version) {
                summary_of(&mut addresses, &version).on_record += n;
            }
        }
        for a in self.db.address_counts_of(&q.project, q.since).await? {
            if q.wants(&a.version) {
                summary_of(&mut addresses, &a.version).folded_day_sum += a.addresses;
            }
        }
        Ok(addresses.into_values().collect())
    }

    /// Local projects (other than `exclude`) whose latest release requires `q.project`, from
    /// at most [`DEPENDENT_CANDIDATES_MAX`] candidates, and whether there were more.
    async fn impact_dependents(
        &self,
        q: &ImpactQuery,
        exclude: i64,
    ) -> Result<(Vec<Dependent>, bool), CoreError> {
        let candidates = self
            .db
            .dependent_candidates(
                exclude,
                &like_pattern(&q.project),
                DEPENDENT_CANDIDATES_MAX + 1,
            )
            .await?;
        let truncated = candidates.len() as i64 > DEPENDENT_CANDIDATES_MAX;
        let mut dependents = Vec::new();
        for c in candidates
            .iter()
            .take(usize::try_from(DEPENDENT_CANDIDATES_MAX).unwrap_or(usize::MAX))
        {
            let Ok(meta) =
                strongroom_protocol::metadata::CoreMetadata::parse(c.core_metadata.as_bytes())
            else {
                continue;
            };
            for req in meta.requires_dist {
                if requirement_name(&req).as_deref() == Some(q.project.as_str()) {
                    dependents.push(Dependent {
                        project: c.project.clone(),
                        version: c.version.clone(),
                        requirement: req,
                    });
                }
            }
        }
        Ok((dependents, truncated))
    }
}

/// The summary of `version` in `addresses`, made empty if there is none yet.
fn summary_of<'a>(
    addresses: &'a mut BTreeMap<String, AddressSummary>,
    version: &str,
) -> &'a mut AddressSummary {
    addresses
        .entry(version.to_owned())
        .or_insert_with(|| AddressSummary {
            version: version.to_owned(),
            on_record: 0,
            folded_day_sum: 0,
        })
}

/// Page reads and downloads by client kind ([`Services::impact_kinds`]).
struct ByKind {
    kinds: Vec<KindCounts>,
    page_hits_daily: Vec<(i64, i64)>,
    downloads_with_kind: i64,
}

#[cfg(test)]
#[path = "impact_tests.rs"]
mod tests;
