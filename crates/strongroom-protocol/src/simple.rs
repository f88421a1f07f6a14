//! The simple repository API (PEP 503/691 and later, API version 1.4): the project
//! index and project pages as HTML and JSON, byte for byte as Warehouse renders them
//! (`templates/api/simple/{index,detail}.html` with Jinja's `trim_blocks` and
//! `lstrip_blocks`, autoescaped), plus content negotiation between the three formats.
//!
//! Pure data in, text out: callers supply absolute or root-relative file URLs, hex
//! digests and ISO-8601 upload times; files and versions are written in the order given
//! (PyPI orders files by release version, then filename); index entries are sorted by
//! normalized name.

use std::fmt::Write as _;

use serde::Serialize;

use crate::name::NormalizedName;

mod negotiate;
pub mod read;
pub use negotiate::{SimpleFormat, names_media};

/// The simple API version this crate writes.
pub const API_VERSION: &str = "1.4";
/// PEP 691 HTML content type.
pub const CONTENT_TYPE_V1_HTML: &str = "application/vnd.pypi.simple.v1+html";
/// PEP 691 JSON content type.
pub const CONTENT_TYPE_V1_JSON: &str = "application/vnd.pypi.simple.v1+json";
/// Legacy alias of the v1 HTML format.
pub const CONTENT_TYPE_TEXT_HTML: &str = "text/html";

/// One project in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Display name (link text and JSON `name`).
    pub name: String,
    /// Normalized name (link target, sort key).
    pub normalized: NormalizedName,
    /// The project's last serial.
    pub last_serial: i64,
}

/// PEP 792 project status markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectStatus {
    /// Normal.
    #[default]
    Active,
    /// No further uploads expected.
    Archived,
    /// Under review for malware; installers should not use it.
    Quarantined,
    /// Not recommended for new use.
    Deprecated,
}

impl ProjectStatus {
    /// The marker value (`active`, `archived`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
            Self::Quarantined => "quarantined",
            Self::Deprecated => "deprecated",
        }
    }
}

/// One file on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleFile {
    /// The distribution filename (anchor text).
    pub filename: String,
    /// Absolute or root-relative URL, written as given.
    pub url: String,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// The release's Requires-Python, if any.
    pub requires_python: Option<String>,
    /// Size in bytes (PEP 700); `None` for a file an upstream listed without one (the JSON
    /// page then leaves the key out).
    pub size: Option<u64>,
    /// `yyyy-mm-ddThh:mm:ss.ffffffZ` for local files; an upstream's as it gave it; `None`
    /// when unknown (the key is left out).
    pub upload_time: Option<String>,
    /// `None` = not yanked; `Some("")` = yanked without a reason; `Some(reason)`.
    pub yanked: Option<String>,
    /// SHA-256 of the PEP 658 `.metadata` file, when there is one.
    pub core_metadata_sha256: Option<String>,
    /// PEP 740 provenance URL (`data-provenance`, JSON `provenance`), when there is one.
    pub provenance: Option<String>,
}

/// One project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPage {
    /// Normalized project name.
    pub name: NormalizedName,
    /// PEP 792 status.
    pub status: ProjectStatus,
    /// PEP 792 status reason (`pypi:project-status-reason`, JSON `project-status.reason`).
    pub status_reason: Option<String>,
    /// The project's last serial.
    pub last_serial: i64,
    /// Release versions with files (PEP 700).
    pub versions: Vec<String>,
    /// Files, in display order.
    pub files: Vec<SimpleFile>,
}

/// Escape text for HTML content and double- or single-quoted attributes, exactly as
/// MarkupSafe (Jinja's autoescape) does.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn sorted_entries(entries: &[IndexEntry]) -> Vec<&IndexEntry> {
    let mut sorted: Vec<&IndexEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.normalized.cmp(&b.normalized));
    sorted
}

/// The `/simple/` page. Entries are sorted by normalized name; a `<!--SERIAL n-->`
/// comment with the global serial follows `</html>`.
pub fn index_html(entries: &[IndexEntry], global_serial: i64) -> String {
    whole_index(IndexPieces::new(false, global_serial), entries)
}

/// The `/simple/` JSON document.
pub fn index_json(entries: &[IndexEntry], global_serial: i64) -> String {
    whole_index(IndexPieces::new(true, global_serial), entries)
}

fn whole_index(mut pieces: IndexPieces, entries: &[IndexEntry]) -> String {
    let mut out = pieces.head();
    pieces.entries(&sorted_entries(entries), &mut out);
    out.push_str(&pieces.tail());
    out
}

/// The `/simple/` page in pieces, for an index too large to hold whole: the head, then the
/// entries in any number of runs (each run in the order given: the caller reads them in
/// name order), then the tail. Head, runs and tail joined are [`index_html`] or
/// [`index_json`] of the same entries, byte for byte.
#[derive(Debug)]
pub struct IndexPieces {
    json: bool,
    global_serial: i64,
    /// No entry written yet (JSON separates entries with commas).
    first: bool,
}

impl IndexPieces {
    /// The pieces of the JSON document (`json`) or the HTML page at `global_serial`.
    #[must_use]
    pub fn new(json: bool, global_serial: i64) -> IndexPieces {
        IndexPieces {
            json,
            global_serial,
            first: true,
        }
    }

    /// Everything before the first entry.
    #[must_use]
    pub fn head(&self) -> String {
        if self.json {
            // the document's serialisation up to its list: `{"meta":{...},"projects":[`
            let meta = serde_json::to_string(&Meta::new(self.global_serial)).unwrap_or_default();
            return format!("{{\"meta\":{meta},\"projects\":[");
        }
        let mut out = String::new();
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n  <head>\n");
        let _ = writeln!(
            out,
            "    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">"
        );
        out.push_str("    <title>Simple index</title>\n  </head>\n  <body>\n");
        out
    }

    /// Append a run of entries to `out`.
    pub fn entries(&mut self, run: &[&IndexEntry], out: &mut String) {
        for entry in run {
            if self.json {
                if !self.first {
                    out.push(',');
                }
                let project = IndexProject {
                    name: &entry.name,
                    last_serial: entry.last_serial,
                };
                out.push_str(&serde_json::to_string(&project).unwrap_or_default());
            } else {
                let _ = writeln!(
                    out,
                    "<a href=\"/simple/{}/\">{}</a>",
                    escape_html(entry.normalized.as_str()),
                    escape_html(&entry.name)
                );
            }
            self.first = false;
        }
    }

    /// Everything after the last entry.
    #[must_use]
    pub fn tail(&self) -> String {
        if self.json {
            return "]}".to_owned();
        }
        format!("</body>\n</html>\n<!--SERIAL {}-->", self.global_serial)
    }
}

/// A project page in HTML.
pub fn project_html(page: &ProjectPage) -> String {
    let name = escape_html(page.name.as_str());
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n  <head>\n");
    let _ = writeln!(
        out,
        "    <meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">"
    );
    // Jinja's lstrip_blocks/trim_blocks put the status marker at the start of a line
    // and glue the title onto it; PyPI's output looks exactly like this.
    let _ = write!(
        out,
        "<meta name=\"pypi:project-status\" content=\"{}\">",
        page.status.as_str()
    );
    if let Some(reason) = &page.status_reason {
        let _ = write!(
            out,
            "<meta name=\"pypi:project-status-reason\" content=\"{}\">",
            escape_html(reason)
        );
    }
    let _ = writeln!(out, "    <title>Links for {name}</title>");
    out.push_str("  </head>\n  <body>\n");
    let _ = writeln!(out, "    <h1>Links for {name}</h1>");
    for file in &page.files {
        let _ = write!(
            out,
            "<a href=\"{}#sha256={}\" ",
            escape_html(&file.url),
            escape_html(&file.sha256)
        );
        if let Some(rp) = file.requires_python.as_deref().filter(|rp| !rp.is_empty()) {
            let _ = write!(out, "data-requires-python=\"{}\" ", escape_html(rp));
        }
        if let Some(reason) = &file.yanked {
            let _ = write!(out, "data-yanked=\"{}\" ", escape_html(reason));
        }
        if let Some(hash) = &file.core_metadata_sha256 {
            let hash = escape_html(hash);
            let _ = write!(
                out,
                "data-dist-info-metadata=\"sha256={hash}\" data-core-metadata=\"sha256={hash}\""
            );
        }
        // Warehouse's template: a leading space, after the metadata attributes.
        if let Some(provenance) = file.provenance.as_deref().filter(|p| !p.is_empty()) {
            let _ = write!(out, " data-provenance=\"{}\"", escape_html(provenance));
        }
        let _ = writeln!(out, ">{}</a><br />", escape_html(&file.filename));
    }
    out.push_str("</body>\n</html>\n");
    let _ = write!(out, "<!--SERIAL {}-->", page.last_serial);
    out
}

/// A project page in JSON.
pub fn project_json(page: &ProjectPage) -> String {
    let doc = ProjectDoc {
        meta: Meta::new(page.last_serial),
        name: page.name.as_str(),
        project_status: StatusDoc {
            status: page.status,
            reason: page.status_reason.as_deref(),
        },
        versions: &page.versions,
        files: page.files.iter().map(FileDoc::new).collect(),
    };
    serde_json::to_string(&doc).unwrap_or_default()
}

#[derive(Serialize)]
struct Meta {
    #[serde(rename = "api-version")]
    api_version: &'static str,
    #[serde(rename = "_last-serial")]
    last_serial: i64,
}

impl Meta {
    fn new(last_serial: i64) -> Self {
        Self {
            api_version: API_VERSION,
            last_serial,
        }
    }
}

#[derive(Serialize)]
struct IndexProject<'a> {
    name: &'a str,
    #[serde(rename = "_last-serial")]
    last_serial: i64,
}

#[derive(Serialize)]
struct ProjectDoc<'a> {
    meta: Meta,
    name: &'a str,
    #[serde(rename = "project-status")]
    project_status: StatusDoc<'a>,
    versions: &'a [String],
    files: Vec<FileDoc<'a>>,
}

#[derive(Serialize)]
struct StatusDoc<'a> {
    status: ProjectStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// `false`, `true` or a reason string.
#[derive(Serialize, Clone, Copy)]
#[serde(untagged)]
enum Yanked<'a> {
    Flag(bool),
    Reason(&'a str),
}

/// `false` or `{"sha256": hex}`.
#[derive(Serialize, Clone, Copy)]
#[serde(untagged)]
enum CoreMetadataDoc<'a> {
    Absent(bool),
    Present { sha256: &'a str },
}

#[derive(Serialize)]
struct HashesDoc<'a> {
    sha256: &'a str,
}

#[derive(Serialize)]
struct FileDoc<'a> {
    filename: &'a str,
    url: &'a str,
    hashes: HashesDoc<'a>,
    #[serde(rename = "requires-python")]
    requires_python: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(rename = "upload-time", skip_serializing_if = "Option::is_none")]
    upload_time: Option<&'a str>,
    yanked: Yanked<'a>,
    #[serde(rename = "data-dist-info-metadata")]
    data_dist_info_metadata: CoreMetadataDoc<'a>,
    #[serde(rename = "dist-info-metadata")]
    dist_info_metadata: CoreMetadataDoc<'a>,
    #[serde(rename = "core-metadata")]
    core_metadata: CoreMetadataDoc<'a>,
    provenance: Option<&'a str>,
}

impl<'a> FileDoc<'a> {
    fn new(file: &'a SimpleFile) -> Self {
        let yanked = match file.yanked.as_deref() {
            None => Yanked::Flag(false),
            Some("") => Yanked::Flag(true),
            Some(reason) => Yanked::Reason(reason),
        };
        let core_metadata = match file.core_metadata_sha256.as_deref() {
            Some(sha256) => CoreMetadataDoc::Present { sha256 },
            None => CoreMetadataDoc::Absent(false),
        };
        Self {
            filename: &file.filename,
            url: &file.url,
            hashes: HashesDoc {
                sha256: &file.sha256,
            },
            requires_python: file.requires_python.as_deref().filter(|rp| !rp.is_empty()),
            size: file.size,
            upload_time: file.upload_time.as_deref(),
            yanked,
            data_dist_info_metadata: core_metadata,
            dist_info_metadata: core_metadata,
            core_metadata,
            provenance: file.provenance.as_deref().filter(|p| !p.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests;
