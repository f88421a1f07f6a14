//! PyPI's legacy JSON API documents (`/pypi/<project>/json` and
//! `/pypi/<project>/<version>/json`), key for key as Warehouse's
//! `legacy/api/json.py` writes them, and the choice of the "latest" release.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metadata::CoreMetadata;
use crate::version::Version;

/// The whole document. `releases` is present only on the project route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectJson {
    /// Release metadata of the chosen release.
    pub info: Info,
    /// The project's last serial.
    pub last_serial: i64,
    /// Every release's files by version (project route only; deprecated but used by
    /// bandersnatch and `twine upload --skip-existing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releases: Option<BTreeMap<String, Vec<FileJson>>>,
    /// Files of the chosen release.
    pub urls: Vec<FileJson>,
    /// Known vulnerabilities (OSV). `None` (left out of the document) until a lookup has
    /// really been made: an empty list would claim the release was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerabilities: Option<Vec<Vulnerability>>,
    /// Roles on the project.
    #[serde(default)]
    pub ownership: Ownership,
}

/// The deprecated download counters, always `-1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downloads {
    /// Always -1.
    pub last_day: i64,
    /// Always -1.
    pub last_week: i64,
    /// Always -1.
    pub last_month: i64,
}

impl Default for Downloads {
    fn default() -> Self {
        Self {
            last_day: -1,
            last_week: -1,
            last_month: -1,
        }
    }
}

/// The `info` object. Absent values are `null`, as PyPI writes them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Info {
    /// Project display name.
    pub name: String,
    /// Release version (normalized).
    pub version: String,
    /// Summary.
    pub summary: Option<String>,
    /// Description-Content-Type.
    pub description_content_type: Option<String>,
    /// Description (empty string when none, like PyPI).
    pub description: Option<String>,
    /// Keywords joined with `", "`.
    pub keywords: Option<String>,
    /// License.
    pub license: Option<String>,
    /// License-Expression.
    pub license_expression: Option<String>,
    /// License-File entries, or null.
    pub license_files: Option<Vec<String>>,
    /// Classifiers (always a list).
    pub classifiers: Vec<String>,
    /// Author.
    pub author: Option<String>,
    /// Author-email.
    pub author_email: Option<String>,
    /// Maintainer.
    pub maintainer: Option<String>,
    /// Maintainer-email.
    pub maintainer_email: Option<String>,
    /// Requires-Python.
    pub requires_python: Option<String>,
    /// The first Platform value.
    pub platform: Option<String>,
    /// Deprecated counters.
    pub downloads: Downloads,
    /// Project page URL.
    pub package_url: String,
    /// Project page URL (same as `package_url`).
    pub project_url: String,
    /// Project-URL label → URL, or null.
    pub project_urls: Option<BTreeMap<String, String>>,
    /// Release page URL.
    pub release_url: String,
    /// Requires-Dist, or null.
    pub requires_dist: Option<Vec<String>>,
    /// Hosted documentation URL (always null here).
    pub docs_url: Option<String>,
    /// Always null.
    pub bugtrack_url: Option<String>,
    /// Home-page.
    pub home_page: Option<String>,
    /// Download-URL.
    pub download_url: Option<String>,
    /// Whether the release is yanked.
    pub yanked: bool,
    /// The yank reason, or null.
    pub yanked_reason: Option<String>,
    /// Provides-Extra, or null.
    pub provides_extra: Option<Vec<String>>,
    /// Dynamic (title-cased), or null.
    pub dynamic: Option<Vec<String>>,
}

/// The three page links in `info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseLinks {
    /// `{base}/project/{name}/`
    pub package_url: String,
    /// `{base}/project/{name}/`
    pub project_url: String,
    /// `{base}/project/{name}/{version}/`
    pub release_url: String,
}

impl ReleaseLinks {
    /// PyPI's link scheme under `base_url` (no trailing slash needed).
    pub fn new(base_url: &str, project_name: &str, version: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        let project = format!("{base}/project/{project_name}/");
        Self {
            package_url: project.clone(),
            release_url: format!("{project}{version}/"),
            project_url: project,
        }
    }
}

impl Info {
    /// Fill `info` from a release's core metadata. `yanked`: `None` = not yanked,
    /// `Some("")` = yanked without a reason.
    pub fn from_metadata(
        meta: &CoreMetadata,
        name: &str,
        version: &str,
        links: ReleaseLinks,
        yanked: Option<&str>,
    ) -> Self {
        let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let keywords = meta.keywords_list();
        let project_urls: BTreeMap<String, String> = meta.project_urls().into_iter().collect();
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            summary: meta.summary.clone(),
            description_content_type: meta.description_content_type.clone(),
            description: Some(meta.description.clone().unwrap_or_default()),
            keywords: (!keywords.is_empty()).then(|| keywords.join(", ")),
            license: meta.license.clone(),
            license_expression: meta.license_expression.clone(),
            license_files: non_empty(&meta.license_files),
            classifiers: meta.classifiers.clone(),
            author: meta.author.clone(),
            author_email: meta.author_email.clone(),
            maintainer: meta.maintainer.clone(),
            maintainer_email: meta.maintainer_email.clone(),
            requires_python: meta.requires_python.clone().filter(|rp| !rp.is_empty()),
            platform: meta.platforms.first().cloned(),
            downloads: Downloads::default(),
            package_url: links.package_url,
            project_url: links.project_url,
            project_urls: (!project_urls.is_empty()).then_some(project_urls),
            release_url: links.release_url,
            requires_dist: non_empty(&meta.requires_dist),
            docs_url: None,
            bugtrack_url: None,
            home_page: meta.home_page.clone(),
            download_url: meta.download_url.clone(),
            yanked: yanked.is_some(),
            yanked_reason: yanked.filter(|r| !r.is_empty()).map(str::to_owned),
            provides_extra: non_empty(&meta.provides_extra),
            dynamic: (!meta.dynamic.is_empty())
                .then(|| meta.dynamic.iter().map(|d| python_title(d)).collect()),
        }
    }
}

/// Python's `str.title()` for ASCII header names: `requires-dist` → `Requires-Dist`.
fn python_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut after_letter = false;
    for c in s.chars() {
        if c.is_alphabetic() {
            if after_letter {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            after_letter = true;
        } else {
            out.push(c);
            after_letter = false;
        }
    }
    out
}

/// `md5`, `sha256` and `blake2b_256` hex digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digests {
    /// MD5 (hex).
    pub md5: String,
    /// SHA-256 (hex).
    pub sha256: String,
    /// BLAKE2b-256 (hex).
    pub blake2b_256: String,
}

/// `false` or `{"sha256": hex}` (PEP 658/714 metadata file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CoreMetadataRef {
    /// `{"sha256": hex}`
    Hashes {
        /// SHA-256 of the `.metadata` file.
        sha256: String,
    },
    /// `false` (or `true` from indexes that know a file exists but not its hash).
    Flag(bool),
}

impl CoreMetadataRef {
    /// `Hashes` when a digest is known, else `false`.
    pub fn from_sha256(sha256: Option<&str>) -> Self {
        match sha256 {
            Some(h) => Self::Hashes {
                sha256: h.to_owned(),
            },
            None => Self::Flag(false),
        }
    }
}

/// One file in `urls` / `releases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileJson {
    /// Upload comment.
    pub comment_text: Option<String>,
    /// PEP 658 metadata file reference.
    #[serde(rename = "core-metadata")]
    pub core_metadata: CoreMetadataRef,
    /// Digests.
    pub digests: Digests,
    /// Always -1.
    pub downloads: i64,
    /// Filename.
    pub filename: String,
    /// Always false (GPG signatures are no longer accepted).
    pub has_sig: bool,
    /// MD5 hex digest (duplicate of `digests.md5`).
    pub md5_digest: String,
    /// `sdist` or `bdist_wheel`.
    pub packagetype: String,
    /// `source` or the wheel's `pyversion`, e.g. `py3`.
    pub python_version: String,
    /// The release's Requires-Python.
    pub requires_python: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// `%Y-%m-%dT%H:%M:%S`, see [`legacy_upload_time`].
    pub upload_time: String,
    /// `yyyy-mm-ddThh:mm:ss.ffffffZ`.
    pub upload_time_iso_8601: String,
    /// Download URL.
    pub url: String,
    /// Whether the release is yanked.
    pub yanked: bool,
    /// Yank reason, or null.
    pub yanked_reason: Option<String>,
}

/// `upload_time` from `upload_time_iso_8601`: seconds precision, no zone
/// (`2024-01-02T03:04:05.123456Z` → `2024-01-02T03:04:05`).
pub fn legacy_upload_time(iso_8601: &str) -> String {
    iso_8601
        .get(..19)
        .unwrap_or(iso_8601)
        .trim_end_matches('Z')
        .to_owned()
}

/// One OSV vulnerability record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// Record id (`PYSEC-…`, `GHSA-…`).
    pub id: String,
    /// Database the record came from.
    pub source: String,
    /// Link to the record.
    pub link: String,
    /// Other ids.
    pub aliases: Vec<String>,
    /// Details.
    pub details: String,
    /// Summary.
    pub summary: Option<String>,
    /// Versions with the fix.
    pub fixed_in: Vec<String>,
    /// Withdrawal time, if withdrawn.
    pub withdrawn: Option<String>,
}

/// `ownership` object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ownership {
    /// Owners first, then maintainers, each alphabetical.
    pub roles: Vec<RoleJson>,
    /// Owning organization name.
    pub organization: Option<String>,
}

/// One role on the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleJson {
    /// `Owner` or `Maintainer`.
    pub role: String,
    /// Username.
    pub user: String,
}

/// PyPI's "latest" release for the project route: non-yanked releases first, then
/// non-prereleases, then the highest version. `None` for an empty list.
pub fn latest_version(releases: &[(Version, bool)]) -> Option<&Version> {
    releases
        .iter()
        .max_by(|(a, a_yanked), (b, b_yanked)| {
            (!a_yanked, !a.is_prerelease(), a).cmp(&(!b_yanked, !b.is_prerelease(), b))
        })
        .map(|(version, _)| version)
}

#[cfg(test)]
mod tests;
