//! Reading another index's project page (PEP 691 JSON, PEP 503 HTML) into [`UpstreamPage`]:
//! what the gateway keeps of an upstream project and filters before serving it.
//!
//! Both readers follow what pip and uv accept (odd-but-valid markup, relative URLs, any case
//! of hex, the older PEP 714 names), keep only what strongroom can check (sha256; other hash
//! algorithms are dropped, and a file without a sha256 is kept but never offered by the
//! gateway), drop an entry they cannot use as pip skips such a link (another project's file
//! too: see [`dist_version`]), keep no files of a page marked PEP 792 `quarantined` (such a
//! project offers none), and bound what one page may make them hold ([`MAX_FILES`] and the
//! string limits beside it). Error texts are bounded and free of control characters.

use serde::{Deserialize, Serialize};

mod fields;
mod html;
mod json;

pub use fields::{
    MAX_FILENAME_BYTES, MAX_FILES, MAX_REASON_BYTES, MAX_REQUIRES_PYTHON_BYTES, MAX_URL_BYTES,
    MAX_VERSION_BYTES, MAX_VERSIONS, dist_version, normal_upload_time,
};

use crate::name::NormalizedName;
use crate::simple::{ProjectStatus, SimpleFile};

/// One project page as an upstream index serves it, every URL made absolute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamPage {
    /// The normalised name the page describes.
    pub name: String,
    /// PEP 792 status (`active` when the page has none).
    pub status: UpstreamStatus,
    /// PEP 792 reason, if any.
    pub status_reason: Option<String>,
    /// PEP 700 `versions` (empty for an HTML page, which has none).
    pub versions: Vec<String>,
    /// Files in the order the page lists them.
    pub files: Vec<UpstreamFile>,
}

/// PEP 792 status as stored (a serde mirror of [`ProjectStatus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamStatus {
    /// Normal.
    #[default]
    Active,
    /// No further uploads expected.
    Archived,
    /// Under review; no files are listed.
    Quarantined,
    /// Not recommended for new use.
    Deprecated,
}

impl From<UpstreamStatus> for ProjectStatus {
    fn from(s: UpstreamStatus) -> ProjectStatus {
        match s {
            UpstreamStatus::Active => ProjectStatus::Active,
            UpstreamStatus::Archived => ProjectStatus::Archived,
            UpstreamStatus::Quarantined => ProjectStatus::Quarantined,
            UpstreamStatus::Deprecated => ProjectStatus::Deprecated,
        }
    }
}

/// One file of an upstream page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamFile {
    /// The distribution filename: a wheel or sdist of the page's project (see
    /// [`dist_version`]), usable as one URL path segment.
    pub filename: String,
    /// Absolute URL of the file (resolved against the page's URL; fragment removed).
    pub url: String,
    /// Lower-case hex SHA-256, when the upstream gave one.
    pub sha256: Option<String>,
    /// `requires-python`, unescaped, trimmed, control characters made spaces.
    pub requires_python: Option<String>,
    /// `None` = not yanked; `Some("")` = yanked without a reason (bounded, no control
    /// characters).
    pub yanked: Option<String>,
    /// Size in bytes (PEP 700), when given.
    pub size: Option<u64>,
    /// `upload-time` (PEP 700) in PEP 700's own form (see [`normal_upload_time`]), when given
    /// and readable.
    pub upload_time: Option<String>,
    /// PEP 658/714 metadata: `None` = not advertised; `Some(None)` = advertised without a
    /// sha256; `Some(Some(hex))` = advertised with one.
    pub core_metadata: Option<Option<String>>,
    /// PEP 740 provenance URL, absolute, when given.
    pub provenance: Option<String>,
}

impl UpstreamFile {
    /// The release this file belongs to on `project`'s page (every file a parsed page keeps
    /// has one; see [`dist_version`]).
    pub fn version(&self, project: &NormalizedName) -> Option<crate::version::Version> {
        dist_version(&self.filename, project)
    }

    /// This file as a line of a page strongroom serves, with `url` (strongroom's own URL for
    /// it) in place of the upstream's; `None` when the upstream gave no sha256 (strongroom
    /// offers only files it can check). Metadata advertised without a sha256 is not offered
    /// either, for the same reason.
    pub fn to_simple_file(&self, url: String) -> Option<SimpleFile> {
        Some(SimpleFile {
            filename: self.filename.clone(),
            url,
            sha256: self.sha256.clone()?,
            requires_python: self.requires_python.clone(),
            size: self.size,
            upload_time: self.upload_time.clone(),
            yanked: self.yanked.clone(),
            core_metadata_sha256: self.core_metadata.clone().flatten(),
            provenance: self.provenance.clone(),
        })
    }
}

/// Why a page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The body is not a page of the format it claims.
    #[error("not a project page: {0}")]
    Malformed(String),
    /// The page describes another project than the one asked for.
    #[error("the page is for {found}, not {asked}")]
    WrongProject {
        /// The name asked for.
        asked: String,
        /// The name on the page.
        found: String,
    },
}

/// The most bytes of an error message (which may quote the page) kept: an error is logged
/// and stored, and a page can make one as long as itself.
const MAX_MESSAGE_BYTES: usize = 512;
/// The most bytes of a name quoted from a page.
const MAX_QUOTED_BYTES: usize = 200;

impl ReadError {
    /// A [`ReadError::Malformed`] whose text is bounded and free of control characters.
    fn malformed(message: String) -> ReadError {
        ReadError::Malformed(fields::truncate(
            fields::clean_text(message),
            MAX_MESSAGE_BYTES,
        ))
    }
}

/// Parse a PEP 691 JSON project page fetched from `page_url` (an absolute http(s) URL; file
/// URLs are resolved against it).
pub fn parse_project_json(
    asked: &NormalizedName,
    body: &[u8],
    page_url: &str,
) -> Result<UpstreamPage, ReadError> {
    json::parse(asked, body, page_url).map(without_quarantined_files)
}

/// Parse a PEP 503 HTML project page fetched from `page_url` (an absolute http(s) URL; links
/// are resolved against the page's `<base href>`, else against it).
pub fn parse_project_html(
    asked: &NormalizedName,
    body: &[u8],
    page_url: &str,
) -> Result<UpstreamPage, ReadError> {
    html::parse(asked, body, page_url).map(without_quarantined_files)
}

/// PEP 792: a quarantined project offers no files, whatever its page lists.
fn without_quarantined_files(mut page: UpstreamPage) -> UpstreamPage {
    if page.status == UpstreamStatus::Quarantined {
        page.files.clear();
    }
    page
}

/// PEP 629: a page of a major API version other than 1 cannot be read.
fn check_api_version(version: &str) -> Result<(), ReadError> {
    let major = version.trim().split('.').next().unwrap_or_default();
    match major.parse::<u32>() {
        Ok(1) => Ok(()),
        _ => Err(ReadError::malformed(format!(
            "API version {version:?} is not supported (strongroom reads 1.x)"
        ))),
    }
}

/// The page must describe the project asked for (compared normalised).
fn check_name(asked: &NormalizedName, found: &str) -> Result<(), ReadError> {
    if crate::name::normalize(found.trim()) == asked.as_str() {
        Ok(())
    } else {
        Err(ReadError::WrongProject {
            asked: asked.as_str().to_owned(),
            found: fields::truncate(fields::clean_text(found.to_owned()), MAX_QUOTED_BYTES),
        })
    }
}

/// A PEP 792 status value; one this reader does not know reads as `active` (PEP 792: clients
/// treat an unrecognised status as `active`).
fn status_from_str(value: &str) -> UpstreamStatus {
    match value.trim() {
        "archived" => UpstreamStatus::Archived,
        "quarantined" => UpstreamStatus::Quarantined,
        "deprecated" => UpstreamStatus::Deprecated,
        _ => UpstreamStatus::Active,
    }
}

#[cfg(test)]
mod tests;
