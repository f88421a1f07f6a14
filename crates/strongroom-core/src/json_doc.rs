//! PyPI's JSON API document (`/pypi/<p>/json`, `/pypi/<p>/<v>/json`) from a project's rows.

use std::collections::BTreeMap;

use strongroom_protocol::json_api::{
    CoreMetadataRef, Digests, FileJson, Info, Ownership, ProjectJson, ReleaseLinks, RoleJson,
    latest_version, legacy_upload_time,
};
use strongroom_protocol::metadata::CoreMetadata;
use strongroom_protocol::version::Version;
use strongroom_store::ProjectRole;
use strongroom_store::model::{DistFile, Project, ReleaseSummary, Role};

use crate::CoreError;
use crate::clock::iso8601_micros;
use crate::file_urls::file_url;

fn file_json(base: &str, f: &DistFile, r: &ReleaseSummary) -> FileJson {
    let iso = iso8601_micros(f.uploaded_at);
    FileJson {
        comment_text: f.comment_text.clone(),
        core_metadata: CoreMetadataRef::from_sha256(f.metadata_sha256.as_deref()),
        digests: Digests {
            md5: f.md5.clone(),
            sha256: f.sha256.clone(),
            blake2b_256: f.blake2_256.clone(),
        },
        downloads: -1,
        filename: f.filename.clone(),
        has_sig: false,
        md5_digest: f.md5.clone(),
        packagetype: f.packagetype.clone(),
        python_version: f.python_version.clone(),
        requires_python: r.requires_python.clone(),
        size: u64::try_from(f.size).unwrap_or(0),
        upload_time: legacy_upload_time(&iso),
        upload_time_iso_8601: iso,
        url: file_url(base, f),
        yanked: r.yanked_at.is_some(),
        yanked_reason: r
            .yanked_at
            .and(r.yanked_reason.clone())
            .filter(|s| !s.is_empty()),
    }
}

/// Which release the document describes: `version` (by PEP 440 equality), else the latest
/// release with files (yanked ones only when nothing else is left); `None` when there is none.
pub(crate) fn choose(
    releases: &[ReleaseSummary],
    files: &[DistFile],
    version: Option<&str>,
) -> Option<usize> {
    let parsed: Vec<(Version, bool, usize)> = releases
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            Version::parse(&r.version)
                .ok()
                .map(|v| (v, r.yanked_at.is_some(), i))
        })
        .collect();
    match version {
        Some(v) => {
            let want = Version::parse(v).ok()?;
            parsed
                .iter()
                .find(|(pv, _, _)| *pv == want)
                .map(|(_, _, i)| *i)
        }
        None => {
            // Releases without files do not count (PyPI derives releases from files).
            let with_files: Vec<(Version, bool)> = parsed
                .iter()
                .filter(|(_, _, i)| files.iter().any(|f| f.release_id == releases[*i].id))
                .map(|(v, y, _)| (v.clone(), *y))
                .collect();
            let latest = latest_version(&with_files)?;
            parsed
                .iter()
                .find(|(pv, _, _)| pv == latest)
                .map(|(_, _, i)| *i)
        }
    }
}

/// What one document describes: the project's public releases and files, its roles, and the
/// release chosen by [`choose`] with its parsed core metadata (the only release whose metadata
/// is read: the others are listed by version and files only).
pub(crate) struct Described<'a> {
    pub releases: &'a [ReleaseSummary],
    pub files: &'a [DistFile],
    pub roles: &'a [Role],
    pub chosen: usize,
    pub metadata: &'a CoreMetadata,
    /// The chosen release's advisories (`None`: no advisory source imported, left out).
    pub vulnerabilities: Option<Vec<strongroom_protocol::json_api::Vulnerability>>,
}

/// Build and serialise the document of `d.releases[d.chosen]`. `whole_project`: the project
/// route, which also lists every release.
pub(crate) fn build(
    project: &Project,
    d: &Described<'_>,
    whole_project: bool,
    base: &str,
) -> Result<String, CoreError> {
    let Described {
        releases,
        files,
        roles,
        chosen,
        metadata: md,
        ref vulnerabilities,
    } = *d;
    let chosen = releases
        .get(chosen)
        .ok_or_else(|| CoreError::Internal("chosen release out of range".into()))?;
    let parsed: Vec<&ReleaseSummary> = releases
        .iter()
        .filter(|r| Version::parse(&r.version).is_ok())
        .collect();
    let links = ReleaseLinks::new(base, &project.name, &chosen.version);
    let yanked = chosen
        .yanked_at
        .map(|_| chosen.yanked_reason.clone().unwrap_or_default());
    let info = Info::from_metadata(md, &project.name, &chosen.version, links, yanked.as_deref());
    let urls: Vec<FileJson> = files
        .iter()
        .filter(|f| f.release_id == chosen.id)
        .map(|f| file_json(base, f, chosen))
        .collect();
    let releases_map = if whole_project {
        let mut map: BTreeMap<String, Vec<FileJson>> = BTreeMap::new();
        for r in &parsed {
            map.insert(
                r.version.clone(),
                files
                    .iter()
                    .filter(|f| f.release_id == r.id)
                    .map(|f| file_json(base, f, r))
                    .collect(),
            );
        }
        Some(map)
    } else {
        None
    };
    let mut roles: Vec<&Role> = roles.iter().collect();
    roles.sort_by_cached_key(|r| (r.role != ProjectRole::Owner, r.username.to_lowercase()));
    let roles: Vec<RoleJson> = roles
        .into_iter()
        .map(|r| RoleJson {
            role: r.role.to_string(),
            user: r.username.clone(),
        })
        .collect();
    let doc = ProjectJson {
        info,
        last_serial: project.last_serial,
        releases: releases_map,
        urls,
        vulnerabilities: vulnerabilities.clone(),
        ownership: Ownership {
            roles,
            organization: None,
        },
    };
    serde_json::to_string(&doc).map_err(|e| CoreError::Internal(e.to_string()))
}
