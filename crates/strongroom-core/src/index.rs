//! Building the read side: simple-API models (PEP 503/691/700/714/792) and PyPI's JSON API,
//! as pure functions of a project's rows. The server renders and caches them by serial.

use std::collections::BTreeMap;

use strongroom_protocol::metadata::CoreMetadata;
use strongroom_protocol::name::NormalizedName;
use strongroom_protocol::simple::{IndexEntry, ProjectPage, ProjectStatus, SimpleFile};
use strongroom_protocol::version::Version;
use strongroom_store::model::{DistFile, JournalEntry, Project, ReleaseSummary};

use crate::clock::iso8601_micros;
use crate::visibility::State;
use crate::{CoreError, Services};

pub use crate::file_urls::file_url;

/// The PEP 792 marker of a project the public sees, from the visibility rule; `None` for every
/// other project, a status text no version of strongroom writes included (fail closed, as the
/// rule does: such a project is hidden, never shown as active).
fn status_of(p: &Project) -> Option<ProjectStatus> {
    let state = State::of_project(p.status);
    if !state.is_public() {
        return None;
    }
    match state {
        State::Live => Some(ProjectStatus::Active),
        State::Archived => Some(ProjectStatus::Archived),
        State::Deprecated => Some(ProjectStatus::Deprecated),
        _ => None,
    }
}

/// Releases by id, for joining files to them.
fn releases_by_id(releases: &[ReleaseSummary]) -> BTreeMap<i64, &ReleaseSummary> {
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

/// Build the simple-API model of a project; a project the public does not see has none
/// ([`CoreError::NotFound`]).
pub fn build_project_page(
    project: &Project,
    releases: &[ReleaseSummary],
    files: &[DistFile],
    base: &str,
) -> Result<ProjectPage, CoreError> {
    let Some(status) = status_of(project) else {
        return Err(CoreError::NotFound(format!(
            "No such project: {}",
            project.name
        )));
    };
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
            size: Some(u64::try_from(f.size).unwrap_or(0)),
            upload_time: Some(iso8601_micros(f.uploaded_at)),
            yanked: r
                .yanked_at
                .map(|_| r.yanked_reason.clone().unwrap_or_default()),
            core_metadata_sha256: f.metadata_sha256.clone(),
            provenance: None,
        });
    }
    sort_versions(&mut versions);
    let name = NormalizedName::new(&project.normalized_name)
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(ProjectPage {
        name,
        status,
        status_reason: None,
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
            .filter(|p| State::of_project(p.status).is_public()))
    }

    /// The public file stored under `blob_key` (a download or its `.metadata`).
    pub async fn public_file(&self, blob_key: &str) -> Result<Option<DistFile>, CoreError> {
        Ok(self.db.file_by_blob_key(blob_key).await?)
    }

    /// [`Services::public_file`] with the project's normalised name and the release's version
    /// (for the download log), in the same one query.
    pub async fn public_download(
        &self,
        blob_key: &str,
    ) -> Result<Option<strongroom_store::model::PublicDownload>, CoreError> {
        Ok(self.db.public_download(blob_key).await?)
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
        rows.into_iter().map(index_entry).collect()
    }

    /// One run of the index: at most `limit` public projects after the normalized name
    /// `after` (`""` from the first), in name order (`IndexPieces` writes them as they come).
    pub async fn simple_index_run(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<IndexEntry>, CoreError> {
        let rows = self.db.index_projects_after(after, limit).await?;
        rows.into_iter().map(index_entry).collect()
    }

    /// The simple-API model of a project.
    pub async fn simple_project_page(
        &self,
        project: &Project,
        base: &str,
    ) -> Result<ProjectPage, CoreError> {
        let releases = self.db.releases_of(project.id).await?;
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
        let releases = self.db.releases_of(project.id).await?;
        let files = self.db.files_of(project.id).await?;
        let Some(chosen) = crate::json_doc::choose(&releases, &files, version) else {
            return Ok(None);
        };
        // Hidden since the list was read: as if it did not exist.
        let Some(core_metadata) = self.db.release_core_metadata(releases[chosen].id).await? else {
            return Ok(None);
        };
        let roles = self.db.roles_of_project(project.id).await?;
        // The described release's advisories (the project document describes the latest).
        let name = strongroom_protocol::NormalizedName::new(&project.normalized_name)
            .map_err(|e| CoreError::Internal(format!("stored project name: {e}")))?;
        let vulnerabilities = self
            .vulnerabilities(&name, Some(&releases[chosen].version))
            .await?;
        crate::json_doc::build(
            project,
            &crate::json_doc::Described {
                releases: &releases,
                files: &files,
                roles: &roles,
                chosen,
                metadata: &release_metadata(&core_metadata),
                vulnerabilities,
            },
            version.is_none(),
            base,
        )
        .map(Some)
    }
}

/// Parse a release's stored core metadata (it was validated at upload).
pub(crate) fn release_metadata(core_metadata: &str) -> CoreMetadata {
    CoreMetadata::parse(core_metadata.as_bytes()).unwrap_or_default()
}

/// An index row (display name, normalized name, last serial) as the protocol's entry.
fn index_entry(
    (name, normalized, last_serial): (String, String, i64),
) -> Result<IndexEntry, CoreError> {
    Ok(IndexEntry {
        name,
        normalized: NormalizedName::new(&normalized)
            .map_err(|e| CoreError::Internal(e.to_string()))?,
        last_serial,
    })
}

#[cfg(test)]
mod tests {
    use strongroom_protocol::simple::ProjectStatus;
    use strongroom_store::model::{DistFile, Project, ReleaseSummary};

    use super::build_project_page;
    use crate::CoreError;

    fn project(status: strongroom_store::ProjectStatus) -> Project {
        Project {
            id: 1,
            name: "Demo".into(),
            normalized_name: "demo".into(),
            created_at: 1,
            status,
            last_serial: 3,
            total_size: 10,
            status_reason: None,
        }
    }

    /// The simple page's status marker comes from the visibility rule: a status text no version
    /// of strongroom writes (a newer version's, a hand edit) hides the project as the rule does,
    /// instead of showing it, files and all, as active.
    #[test]
    fn a_page_exists_only_for_public_statuses_and_unknown_ones_fail_closed() {
        let release = ReleaseSummary {
            id: 7,
            project_id: 1,
            version: "1.0".into(),
            canonical_version: "1".into(),
            created_at: 1,
            requires_python: None,
            yanked_at: None,
            yanked_reason: None,
            quarantined_at: None,
            quarantine_reason: None,
        };
        let file = DistFile {
            id: 1,
            release_id: 7,
            project_id: 1,
            filename: "demo-1.0.tar.gz".into(),
            packagetype: "sdist".into(),
            python_version: "source".into(),
            size: 10,
            md5: String::new(),
            sha256: "00".into(),
            blake2_256: "00".into(),
            blob_key: "k".into(),
            metadata_sha256: None,
            comment_text: None,
            uploaded_at: 1,
        };
        let page = |status: strongroom_store::ProjectStatus| {
            build_project_page(
                &project(status),
                std::slice::from_ref(&release),
                std::slice::from_ref(&file),
                "",
            )
        };
        use strongroom_store::ProjectStatus as Stored;
        for (status, marker) in [
            (Stored::Active, ProjectStatus::Active),
            (Stored::Archived, ProjectStatus::Archived),
            (Stored::Deprecated, ProjectStatus::Deprecated),
        ] {
            let p = page(status).expect("a public project has a page");
            assert_eq!(p.status, marker);
            assert_eq!(p.files.len(), 1);
        }
        for status in [Stored::Quarantined, Stored::Removed] {
            assert!(
                matches!(page(status), Err(CoreError::NotFound(_))),
                "{status:?}"
            );
        }
    }
}
