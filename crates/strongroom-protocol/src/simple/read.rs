//! Reading another index's project page (PEP 691 JSON, PEP 503 HTML) into [`UpstreamPage`]:
//! what the gateway keeps of an upstream project and filters before serving it.
//!
//! FOUNDATION STUB (issue 12): the types are the contract; the parsers are filled by the
//! protocol part of the gateway work.

use serde::{Deserialize, Serialize};

use crate::name::NormalizedName;
use crate::simple::ProjectStatus;

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
    /// The distribution filename.
    pub filename: String,
    /// Absolute URL of the file (resolved against the page's URL; fragment removed).
    pub url: String,
    /// Lower-case hex SHA-256, when the upstream gave one.
    pub sha256: Option<String>,
    /// `requires-python`, unescaped.
    pub requires_python: Option<String>,
    /// `None` = not yanked; `Some("")` = yanked without a reason.
    pub yanked: Option<String>,
    /// Size in bytes (PEP 700), when given.
    pub size: Option<u64>,
    /// `upload-time` (PEP 700) as given, when given.
    pub upload_time: Option<String>,
    /// PEP 658/714 metadata: `None` = not advertised; `Some(None)` = advertised without a
    /// sha256; `Some(Some(hex))` = advertised with one.
    pub core_metadata: Option<Option<String>>,
    /// PEP 740 provenance URL, absolute, when given.
    pub provenance: Option<String>,
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

/// Parse a PEP 691 JSON project page fetched from `page_url`.
pub fn parse_project_json(
    _asked: &NormalizedName,
    _body: &[u8],
    _page_url: &str,
) -> Result<UpstreamPage, ReadError> {
    Err(ReadError::Malformed("not implemented yet".into()))
}

/// Parse a PEP 503 HTML project page fetched from `page_url`.
pub fn parse_project_html(
    _asked: &NormalizedName,
    _body: &[u8],
    _page_url: &str,
) -> Result<UpstreamPage, ReadError> {
    Err(ReadError::Malformed("not implemented yet".into()))
}
