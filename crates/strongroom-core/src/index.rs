//! Building the read side: simple-API models (PEP 503/691/700/714/792) and PyPI's JSON API,
//! as pure functions of a project's rows. The server renders and caches them by serial.

use std::collections::BTreeMap;

use strongroom_protocol::metadata::CoreMetadata;
use strongroom_protocol::name::NormalizedName;
use strongroom_protocol::simple::{IndexEntry, ProjectPage, ProjectStatus, SimpleFile};
use strongroom_protocol::version::Version;
use strongroom_store::model::{DistFile, JournalEntry, Project, Release};

use crate::clock::iso8601_micros;
use crate::visibility::State;
use crate::{CoreError, Services};

/// The URL of a file (or, with `.metadata`, of its core metadata).
pub fn file_url(base: &str, f: &DistFile) -> String {
    format!("{base}/packages/{}", f.blob_key)
}

fn status_of(p: &Project) -> ProjectStatus {
    match p.status.as_str() {
        "archived" => ProjectStatus::Archived,
        "deprecated" => ProjectStatus::Deprecated,
        "quarantined" => ProjectStatus::Quarantined,
        _ => ProjectStatus::Active,
    }
}

/// Releases by id, for joining files to them.
fn releases_by_id(releases: &[Release]) -> BTreeMap<i64, &Release> {
    releases.iter().map(|r| (r.id, r)).collect()
}

/// Versions sorted by PEP 440 (unparseable ones last, by text).
pub(crate) fn sort_versions(versions: &mut [String]) {
    versions.sort_by(|a, b| match (Version::parse(a), Version::parse(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    });
}

/// Build the simple-API model of a project.
pub fn build_project_page(
    project: &Project,
    releases: &[Release],
    files: &[DistFile],
    base: &str,
) -> Result<ProjectPage, CoreError> {
    let by_id = releases_by_id(releases);
    let mut versions: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let Some(r) = by_id.get(&f.release_id) else {
            continue;
        };
        if !versions.contains(&r.version) {
            versions.push(r.version.clone());
        }
        out.push(SimpleFile {
            filename: f.filename.clone(),
            url: file_url(base, f),
            sha256: f.sha256.clone(),
            requires_python: r.requires_python.clone(),
            size: u64::try_from(f.size).unwrap_or(0),
            upload_time: iso8601_micros(f.uploaded_at),
            yanked: r
                .yanked_at
                .map(|_| r.yanked_reason.clone().unwrap_or_default()),
            core_metadata_sha256: f.metadata_sha256.clone(),
        });
    }
    sort_versions(&mut versions);
    let name = NormalizedName::new(&project.normalized_name)
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(ProjectPage {
        name,
        status: status_of(project),
        last_serial: project.last_serial,
        versions,
        files: out,
    })
}

impl Services {
    /// A project the public sees ([`crate::visibility`]), by normalised name.
    pub async fn visible_project(&self, normalized: &str) -> Result<Option<Project>, CoreError> {
        Ok(self
            .db
            .project_by_normalized(normalized)
            .await?
            .filter(|p| State::of_project(&p.status).is_public()))
    }

    /// The public file stored under `blob_key` (a download or its `.metadata`).
    pub async fn public_file(&self, blob_key: &str) -> Result<Option<DistFile>, CoreError> {
        Ok(self.db.file_by_blob_key(blob_key).await?)
    }

    /// The changelog after `since` (at most `limit` entries) as the public may read it: every
    /// serial, but an entry whose project, release or file the public does not see now keeps
    /// only its project's name ([`crate::visibility::public_entry`]).
    pub async fn public_changelog(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<JournalEntry>, CoreError> {
        Ok(self
            .db
            .changelog_since(since, limit)
            .await?
            .into_iter()
            .map(crate::visibility::public_entry)
            .collect())
    }

    /// The public projects: the root index, the XML-RPC list and the web lists and search.
    pub async fn simple_index_entries(&self) -> Result<Vec<IndexEntry>, CoreError> {
        let rows = self.db.index_projects().await?;
        rows.into_iter()
            .map(|(name, normalized, last_serial)| {
                Ok(IndexEntry {
                    name,
                    normalized: NormalizedName::new(&normalized)
                        .map_err(|e| CoreError::Internal(e.to_string()))?,
                    last_serial,
                })
            })
            .collect()
    }

    /// The simple-API model of a project.
    pub async fn simple_project_page(
        &self,
        project: &Project,
        base: &str,
    ) -> Result<ProjectPage, CoreError> {
        // the simple page needs no core metadata: do not read every release's
        let releases = self.db.release_list_of(project.id).await?;
        let files = self.db.files_of(project.id).await?;
        build_project_page(project, &releases, &files, base)
    }

    /// PyPI's JSON API document for a project (or one of its versions), serialised;
    /// `None` when the version does not exist.
    pub async fn json_document(
        &self,
        project: &Project,
        version: Option<&str>,
        base: &str,
    ) -> Result<Option<String>, CoreError> {
        // Only the described release's core metadata is read (each may be megabytes): the
        // cost of a document does not grow with the project's history.
        let mut releases = self.db.release_list_of(project.id).await?;
        let files = self.db.files_of(project.id).await?;
        let Some(chosen) = crate::json_doc::choose(&releases, &files, version) else {
            return Ok(None);
        };
        let release = &mut releases[chosen];
        release.core_metadata = self
            .db
            .release_core_metadata(release.id)
            .await?
            .unwrap_or_default();
        let roles = self.db.roles_of_project(project.id).await?;
        crate::json_doc::build(
            project,
            &releases,
            &files,
            &roles,
            chosen,
            version.is_none(),
            base,
        )
        .map(Some)
    }
}

/// Parse a release's stored core metadata (it was validated at upload).
pub(crate) fn release_metadata(r: &Release) -> CoreMetadata {
    CoreMetadata::parse(r.core_metadata.as_bytes()).unwrap_or_default()
}
