//! Read models of the public pages, built from the store's rows (`releases_of`, `files_of`)
//! and the shown release's stored core metadata; the description is the HTML stored at publish.

use serde::Serialize;
use strongroom_protocol::metadata::CoreMetadata;
use strongroom_protocol::version::Version;
use strongroom_store::model::{DistFile, Project, ReleaseSummary};

use super::errors::WebError;
use crate::state::AppState;

/// One row of the release history.
#[derive(Debug, Serialize)]
pub(crate) struct ReleaseRow {
    pub version: String,
    pub created_at: i64,
    pub yanked: bool,
    pub yanked_reason: Option<String>,
    pub prerelease: bool,
    pub shown: bool,
}

/// One file of the shown release.
#[derive(Debug, Serialize)]
pub(crate) struct FileRow {
    pub filename: String,
    pub url: String,
    pub packagetype: String,
    pub python_version: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_at: i64,
}

/// A labelled link from the metadata; `href` only for http(s) URLs.
#[derive(Debug, Serialize)]
pub(crate) struct Link {
    pub label: String,
    pub text: String,
    pub href: Option<String>,
}

/// Everything a project page shows.
#[derive(Debug, Serialize)]
pub(crate) struct ProjectView {
    pub name: String,
    pub normalized: String,
    pub status: String,
    pub version: String,
    pub is_latest: bool,
    pub latest_version: String,
    pub created_at: i64,
    pub yanked: bool,
    pub yanked_reason: Option<String>,
    pub summary: Option<String>,
    pub description_html: String,
    pub author: Option<String>,
    pub maintainer: Option<String>,
    pub license: Option<String>,
    pub requires_python: Option<String>,
    pub keywords: Vec<String>,
    pub classifiers: Vec<String>,
    pub requires_dist: Vec<String>,
    pub links: Vec<Link>,
    pub maintainers: Vec<String>,
    pub files: Vec<FileRow>,
    pub releases: Vec<ReleaseRow>,
    pub install: String,
}

fn http_link(url: &str) -> Option<String> {
    let t = url.trim();
    let lower = t.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| t.to_owned())
}

fn person(name: Option<&String>, email: Option<&String>) -> Option<String> {
    match (
        name.filter(|s| !s.is_empty()),
        email.filter(|s| !s.is_empty()),
    ) {
        (Some(n), Some(e)) => Some(format!("{n} <{e}>")),
        (Some(n), None) => Some(n.clone()),
        (None, Some(e)) => Some(e.clone()),
        (None, None) => None,
    }
}

/// Releases newest first (PEP 440 order; unparseable versions last).
fn sort_newest_first(releases: &mut [ReleaseSummary]) {
    releases.sort_by(
        |a, b| match (Version::parse(&a.version), Version::parse(&b.version)) {
            (Ok(x), Ok(y)) => y.cmp(&x),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            (Err(_), Err(_)) => b.version.cmp(&a.version),
        },
    );
}

fn is_prerelease(v: &str) -> bool {
    Version::parse(v).is_ok_and(|v| v.is_prerelease())
}

/// Which of these releases (newest first) is "the latest": the newest final one not yanked,
/// else the newest not yanked, else the newest. The project page and the list's cards agree.
fn latest_index<'a>(releases: impl Iterator<Item = (&'a str, bool)> + Clone) -> Option<usize> {
    releases
        .clone()
        .position(|(v, yanked)| !yanked && !is_prerelease(v))
        .or_else(|| releases.clone().position(|(_, yanked)| !yanked))
        .or_else(|| releases.clone().next().map(|_| 0))
}

/// One project of the list or the search results.
#[derive(Debug, Serialize)]
pub(crate) struct ProjectCard {
    pub name: String,
    pub normalized: String,
    /// The latest release's version ("" when no release is public).
    pub version: String,
    /// When the latest release was published (µs; None without one).
    pub released_at: Option<i64>,
    /// The latest release's summary ("" when it has none).
    pub summary: String,
}

/// The cards of these projects, in their order, from their public releases.
pub(crate) async fn project_cards(
    state: &AppState,
    hits: &[strongroom_store::search::ProjectHit],
) -> Result<Vec<ProjectCard>, WebError> {
    let ids: Vec<i64> = hits.iter().map(|h| h.project_id).collect();
    let releases = state.services.db.card_releases(&ids).await?;
    Ok(hits
        .iter()
        .map(|h| {
            let mut mine: Vec<&strongroom_store::search::CardRelease> = releases
                .iter()
                .filter(|r| r.project_id == h.project_id)
                .collect();
            mine.sort_by(
                |a, b| match (Version::parse(&a.version), Version::parse(&b.version)) {
                    (Ok(x), Ok(y)) => y.cmp(&x),
                    (Ok(_), Err(_)) => std::cmp::Ordering::Less,
                    (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
                    (Err(_), Err(_)) => b.created_at.cmp(&a.created_at),
                },
            );
            let latest = latest_index(mine.iter().map(|r| (r.version.as_str(), r.yanked)))
                .and_then(|i| mine.get(i));
            ProjectCard {
                name: h.name.clone(),
                normalized: h.normalized_name.clone(),
                version: latest.map(|r| r.version.clone()).unwrap_or_default(),
                released_at: latest.map(|r| r.created_at),
                summary: latest.map(|r| r.summary.clone()).unwrap_or_default(),
            }
        })
        .collect())
}

/// The project page model: `version` None = the latest release (newest final non-yanked,
/// else newest non-yanked, else newest). None when the version does not exist.
pub(crate) async fn project_view(
    state: &AppState,
    project: &Project,
    version: Option<&str>,
    base: &str,
) -> Result<Option<ProjectView>, WebError> {
    // the list carries no metadata: only the shown release's is read
    let mut releases = state.services.db.releases_of(project.id).await?;
    let files = state.services.db.files_of(project.id).await?;
    sort_newest_first(&mut releases);
    let Some(latest) = latest_index(
        releases
            .iter()
            .map(|r| (r.version.as_str(), r.yanked_at.is_some())),
    )
    .map(|i| &releases[i]) else {
        return Ok(None);
    };
    let shown = match version {
        None => latest,
        Some(v) => {
            let canonical = Version::parse(v).map(|v| v.canonical()).ok();
            match releases
                .iter()
                .find(|r| r.version == v || canonical.as_deref() == Some(&r.canonical_version))
            {
                Some(r) => r,
                None => return Ok(None),
            }
        }
    };
    let core_metadata = state
        .services
        .db
        .release_core_metadata(shown.id)
        .await?
        .unwrap_or_default();
    let meta = CoreMetadata::parse(core_metadata.as_bytes()).unwrap_or_default();
    // rendered when the release was published: a page view only reads it
    let description_html = state
        .services
        .description_html(shown.id, meta.description.as_deref())
        .await?;
    // external images: through the image proxy, or links when it is off
    let description_html = state.image_proxy.rewrite_description(&description_html);
    let mut links = Vec::new();
    if let Some(h) = meta.home_page.as_deref().filter(|h| !h.trim().is_empty()) {
        links.push(Link {
            label: "Homepage".into(),
            text: h.to_owned(),
            href: http_link(h),
        });
    }
    for (label, url) in meta.project_urls() {
        links.push(Link {
            label,
            href: http_link(&url),
            text: url,
        });
    }
    let mut maintainers: Vec<String> = state
        .services
        .db
        .roles_of_project(project.id)
        .await?
        .into_iter()
        .map(|r| r.username)
        .collect();
    maintainers.sort();
    maintainers.dedup();
    let file_rows = files
        .iter()
        .filter(|f| f.release_id == shown.id)
        .map(|f: &DistFile| FileRow {
            filename: f.filename.clone(),
            url: strongroom_core::index::file_url(base, f),
            packagetype: f.packagetype.clone(),
            python_version: f.python_version.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
            uploaded_at: f.uploaded_at,
        })
        .collect();
    let is_latest = shown.id == latest.id;
    let install = if is_latest {
        format!("pip install --index-url {base}/simple/ {}", project.name)
    } else {
        format!(
            "pip install --index-url {base}/simple/ {}=={}",
            project.name, shown.version
        )
    };
    Ok(Some(ProjectView {
        name: project.name.clone(),
        normalized: project.normalized_name.clone(),
        status: project.status.to_string(),
        version: shown.version.clone(),
        is_latest,
        latest_version: latest.version.clone(),
        created_at: shown.created_at,
        yanked: shown.yanked_at.is_some(),
        yanked_reason: shown.yanked_reason.clone().filter(|r| !r.is_empty()),
        summary: meta.summary.clone().filter(|s| !s.is_empty()),
        description_html,
        author: person(meta.author.as_ref(), meta.author_email.as_ref()),
        maintainer: person(meta.maintainer.as_ref(), meta.maintainer_email.as_ref()),
        license: meta
            .license_expression
            .clone()
            .or_else(|| meta.license.clone())
            .filter(|l| !l.is_empty())
            .map(|l| l.chars().take(200).collect()),
        requires_python: shown.requires_python.clone().filter(|s| !s.is_empty()),
        keywords: meta.keywords_list(),
        classifiers: meta.classifiers.clone(),
        requires_dist: meta.requires_dist.clone(),
        links,
        maintainers,
        files: file_rows,
        releases: releases
            .iter()
            .map(|r| ReleaseRow {
                version: r.version.clone(),
                created_at: r.created_at,
                yanked: r.yanked_at.is_some(),
                yanked_reason: r.yanked_reason.clone().filter(|s| !s.is_empty()),
                prerelease: is_prerelease(&r.version),
                shown: r.id == shown.id,
            })
            .collect(),
        install,
    }))
}

/// Every account, for the admin list.
pub(crate) async fn all_users(
    state: &AppState,
) -> Result<Vec<strongroom_store::model::User>, WebError> {
    Ok(state.services.list_users().await?)
}

/// Every project with its status and size, for the admin list.
pub(crate) async fn all_projects(state: &AppState) -> Result<Vec<Project>, WebError> {
    let rows = state.services.db.index_projects().await?;
    let mut out = Vec::with_capacity(rows.len());
    for (_, normalized, _) in rows {
        if let Some(p) = state.services.db.project_by_normalized(&normalized).await? {
            out.push(p);
        }
    }
    Ok(out)
}
