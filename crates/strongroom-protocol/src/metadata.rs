//! Core metadata (versions 1.0–2.5): the `METADATA` / `PKG-INFO` email-header format,
//! the upload form's field names, and Warehouse's validation rules and messages.
//!
//! Parsing follows what reaches PyPI through twine (`pkginfo`): the header block ends where
//! Python's `email.parser` ends it ([`crate::header_block`]), so the index reads the fields
//! installers read; header names are case-insensitive; folded header lines are joined with a space, except `Description`,
//! whose continuation lines lose the 8-space (or `       |`) prefix old setuptools wrote;
//! the body after the first blank line is the description. Values equal to `UNKNOWN` are
//! dropped (as Warehouse does) and NUL bytes are rewritten as the text `\x00`.

use serde::{Deserialize, Serialize};

use crate::header_block::HeaderBlockError;
use crate::pyrepr::py_repr;

mod checks;
mod classifiers;
mod fields;
mod validate;

pub use classifiers::{deprecated_classifier_replacements, is_known_classifier};
use fields::{Arity, Field};

/// Largest metadata document accepted by [`CoreMetadata::parse`].
pub const MAX_METADATA_BYTES: usize = 8 * 1024 * 1024;
/// Most header fields accepted by [`CoreMetadata::parse`].
pub const MAX_HEADERS: usize = 10_000;
/// Metadata versions PyPI accepts.
pub const SUPPORTED_METADATA_VERSIONS: &[&str] =
    &["1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"];

const CORE_METADATA_HELP: &str =
    "See https://packaging.python.org/specifications/core-metadata for more information.";

/// A metadata document that cannot be read or does not pass PyPI's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// Larger than [`MAX_METADATA_BYTES`].
    #[error("Metadata is too large: {size} bytes (the limit is {limit} bytes).")]
    TooLarge {
        /// Size of the document.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// More than [`MAX_HEADERS`] header fields.
    #[error("Metadata has more than {limit} header fields.")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// A header block email parsers read in odd ways (see [`crate::header_block`]).
    #[error("Metadata cannot be read: {reason}.")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// Not UTF-8.
    #[error("Metadata is not valid UTF-8 (invalid byte at offset {offset}).")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// A single-use field given more than once, or a description both as a header and as
    /// the body (packaging's "unparsed" data).
    #[error("{} has invalid data", py_repr(.field))]
    Unparsable {
        /// The header name (lower case) or form key.
        field: String,
    },
    /// A field value PyPI refuses; `message` is PyPI's text.
    #[error("{message}")]
    Invalid {
        /// Lower-case header name the error belongs to (`author-email`, `classifier`).
        field: String,
        /// PyPI's message.
        message: String,
    },
}

impl MetadataError {
    /// The field this error is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Unparsable { field } | Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The text PyPI's upload endpoint returns for this error: the message, a full stop
    /// if it lacks one, then a pointer to the core-metadata specification.
    pub fn upload_message(&self) -> String {
        let message = self.to_string();
        let stop = if message.ends_with('.') { "" } else { "." };
        format!("{message}{stop} {CORE_METADATA_HELP}")
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Core metadata, as raw strings. Single-use fields are `Option`, multiple-use `Vec`.
/// [`CoreMetadata::validate`] applies PyPI's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreMetadata {
    /// `Metadata-Version`
    pub metadata_version: Option<String>,
    /// `Name`
    pub name: Option<String>,
    /// `Version`
    pub version: Option<String>,
    /// `Summary`
    pub summary: Option<String>,
    /// `Description` (header or body)
    pub description: Option<String>,
    /// `Description-Content-Type`
    pub description_content_type: Option<String>,
    /// `Keywords` (comma-separated; see [`CoreMetadata::keywords_list`])
    pub keywords: Option<String>,
    /// `Home-page`
    pub home_page: Option<String>,
    /// `Download-URL`
    pub download_url: Option<String>,
    /// `Author`
    pub author: Option<String>,
    /// `Author-email`
    pub author_email: Option<String>,
    /// `Maintainer`
    pub maintainer: Option<String>,
    /// `Maintainer-email`
    pub maintainer_email: Option<String>,
    /// `License`
    pub license: Option<String>,
    /// `License-Expression` (2.4)
    pub license_expression: Option<String>,
    /// `License-File` (2.4)
    pub license_files: Vec<String>,
    /// `Classifier`
    pub classifiers: Vec<String>,
    /// `Requires-Dist`
    pub requires_dist: Vec<String>,
    /// `Requires-Python`
    pub requires_python: Option<String>,
    /// `Requires-External`
    pub requires_external: Vec<String>,
    /// `Provides-Extra`
    pub provides_extra: Vec<String>,
    /// `Provides-Dist`
    pub provides_dist: Vec<String>,
    /// `Obsoletes-Dist`
    pub obsoletes_dist: Vec<String>,
    /// `Project-URL`, raw `"Label, URL"` strings (see [`CoreMetadata::project_urls`])
    pub project_urls: Vec<String>,
    /// `Platform`
    pub platforms: Vec<String>,
    /// `Supported-Platform`
    pub supported_platforms: Vec<String>,
    /// `Dynamic` (2.2)
    pub dynamic: Vec<String>,
    /// `Import-Name` (2.5)
    pub import_names: Vec<String>,
    /// `Import-Namespace` (2.5)
    pub import_namespaces: Vec<String>,
}

impl CoreMetadata {
    /// Parse a `METADATA` / `PKG-INFO` document. Unknown headers are ignored.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(MetadataError::TooLarge {
                size: bytes.len(),
                limit: MAX_METADATA_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| MetadataError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        // Split first, as Python does on the raw text: NUL is no name character, and the
        // text it is rewritten to below would be.
        let block = crate::header_block::split(text, MAX_HEADERS).map_err(|e| match e {
            HeaderBlockError::TooMany { limit } => MetadataError::TooManyHeaders { limit },
            other => MetadataError::Malformed {
                reason: other.to_string(),
            },
        })?;

        let mut meta = Self::default();
        let mut description_header = false;
        for header in &block.headers {
            let Some(field) = Field::from_header(header.name) else {
                continue;
            };
            if header.lines.len() > 1 && field.one_line() {
                return Err(MetadataError::Malformed {
                    reason: format!(
                        "the {} field is folded over several lines, which installers do not read as one value; write it on one line",
                        header.name
                    ),
                });
            }
            let value = if field == Field::Description {
                description_header = true;
                join_description(&header.lines)
            } else {
                header
                    .lines
                    .iter()
                    .map(|l| l.trim())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            meta.store(field, value.replace('\0', "\\x00"), field.email_name())?;
        }
        let body = block.body;
        if !body.trim().is_empty() {
            if description_header && meta.description.is_some() {
                return Err(MetadataError::Unparsable {
                    field: "description".to_owned(),
                });
            }
            meta.description = Some(body.replace('\0', "\\x00"));
        }
        Ok(meta)
    }

    /// Build metadata from upload form fields (`(key, value)` pairs in request order),
    /// using Warehouse's form keys (`author_email`, `classifiers`, `license_file`, …).
    /// Unknown keys are ignored; a key given only as one empty value counts as absent.
    pub fn from_form<K: AsRef<str>, V: AsRef<str>>(
        pairs: &[(K, V)],
    ) -> Result<Self, MetadataError> {
        let mut meta = Self::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, _) in pairs {
            let key = key.as_ref();
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let Some(field) = Field::from_form_key(key) else {
                continue;
            };
            let values: Vec<&str> = pairs
                .iter()
                .filter(|(k, _)| k.as_ref() == key)
                .map(|(_, v)| v.as_ref())
                .collect();
            if values == [""] {
                continue;
            }
            for value in values {
                let value = value.replace('\0', "\\x00");
                meta.store(field, value, key)?;
            }
        }
        Ok(meta)
    }

    /// Put one value into its slot: `UNKNOWN` and empty values are dropped; a second value
    /// for a single-use field is an error naming `reported_as`.
    fn store(
        &mut self,
        field: Field,
        value: String,
        reported_as: &str,
    ) -> Result<(), MetadataError> {
        if value.trim() == "UNKNOWN" || value.trim().is_empty() {
            return Ok(());
        }
        match field.arity() {
            Arity::Single => {
                if let Some(slot) = self.single_mut(field) {
                    if slot.is_some() {
                        return Err(MetadataError::Unparsable {
                            field: reported_as.to_owned(),
                        });
                    }
                    *slot = Some(value);
                }
            }
            Arity::Multi => {
                if let Some(list) = self.multi_mut(field) {
                    list.push(value);
                }
            }
        }
        Ok(())
    }

    fn single_mut(&mut self, field: Field) -> Option<&mut Option<String>> {
        Some(match field {
            Field::MetadataVersion => &mut self.metadata_version,
            Field::Name => &mut self.name,
            Field::Version => &mut self.version,
            Field::Summary => &mut self.summary,
            Field::Description => &mut self.description,
            Field::DescriptionContentType => &mut self.description_content_type,
            Field::Keywords => &mut self.keywords,
            Field::HomePage => &mut self.home_page,
            Field::DownloadUrl => &mut self.download_url,
            Field::Author => &mut self.author,
            Field::AuthorEmail => &mut self.author_email,
            Field::Maintainer => &mut self.maintainer,
            Field::MaintainerEmail => &mut self.maintainer_email,
            Field::License => &mut self.license,
            Field::LicenseExpression => &mut self.license_expression,
            Field::RequiresPython => &mut self.requires_python,
            _ => return None,
        })
    }

    fn multi_mut(&mut self, field: Field) -> Option<&mut Vec<String>> {
        Some(match field {
            Field::LicenseFile => &mut self.license_files,
            Field::Classifier => &mut self.classifiers,
            Field::RequiresDist => &mut self.requires_dist,
            Field::RequiresExternal => &mut self.requires_external,
            Field::ProvidesExtra => &mut self.provides_extra,
            Field::ProvidesDist => &mut self.provides_dist,
            Field::ObsoletesDist => &mut self.obsoletes_dist,
            Field::ProjectUrl => &mut self.project_urls,
            Field::Platform => &mut self.platforms,
            Field::SupportedPlatform => &mut self.supported_platforms,
            Field::Dynamic => &mut self.dynamic,
            Field::ImportName => &mut self.import_names,
            Field::ImportNamespace => &mut self.import_namespaces,
            _ => return None,
        })
    }

    /// Whether a field has a value (used for the "introduced in" check).
    pub(crate) fn has(&self, field: Field) -> bool {
        match field.arity() {
            Arity::Single => self.single(field).is_some(),
            Arity::Multi => !self.multi(field).is_empty(),
        }
    }

    fn single(&self, field: Field) -> Option<&str> {
        let slot = match field {
            Field::MetadataVersion => &self.metadata_version,
            Field::Name => &self.name,
            Field::Version => &self.version,
            Field::Summary => &self.summary,
            Field::Description => &self.description,
            Field::DescriptionContentType => &self.description_content_type,
            Field::Keywords => &self.keywords,
            Field::HomePage => &self.home_page,
            Field::DownloadUrl => &self.download_url,
            Field::Author => &self.author,
            Field::AuthorEmail => &self.author_email,
            Field::Maintainer => &self.maintainer,
            Field::MaintainerEmail => &self.maintainer_email,
            Field::License => &self.license,
            Field::LicenseExpression => &self.license_expression,
            Field::RequiresPython => &self.requires_python,
            _ => return None,
        };
        slot.as_deref()
    }

    fn multi(&self, field: Field) -> &[String] {
        match field {
            Field::LicenseFile => &self.license_files,
            Field::Classifier => &self.classifiers,
            Field::RequiresDist => &self.requires_dist,
            Field::RequiresExternal => &self.requires_external,
            Field::ProvidesExtra => &self.provides_extra,
            Field::ProvidesDist => &self.provides_dist,
            Field::ObsoletesDist => &self.obsoletes_dist,
            Field::ProjectUrl => &self.project_urls,
            Field::Platform => &self.platforms,
            Field::SupportedPlatform => &self.supported_platforms,
            Field::Dynamic => &self.dynamic,
            Field::ImportName => &self.import_names,
            Field::ImportNamespace => &self.import_namespaces,
            _ => &[],
        }
    }

    /// `Project-URL` entries split into `(label, url)` at the first comma, both trimmed.
    pub fn project_urls(&self) -> Vec<(String, String)> {
        self.project_urls
            .iter()
            .map(|entry| {
                let (label, url) = entry.split_once(',').unwrap_or((entry, ""));
                (label.trim().to_owned(), url.trim().to_owned())
            })
            .collect()
    }

    /// `Keywords` split on commas, trimmed, empty entries dropped.
    pub fn keywords_list(&self) -> Vec<String> {
        self.keywords
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Check every rule and return PyPI's error: the first one for `metadata-version`,
    /// `name` or `version` if any, else the first for the alphabetically first field.
    pub fn validate(&self) -> Result<(), MetadataError> {
        match validate::pick_first(self.validate_all()) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Every error, in the order PyPI finds them (packaging's checks first; Warehouse's
    /// own checks only when those pass, as on PyPI).
    pub fn validate_all(&self) -> Vec<MetadataError> {
        validate::validate_all(self)
    }
}

/// Rebuild a `Description` header value: continuation lines lose the 8-space or
/// `       |` prefix distutils/setuptools added.
fn join_description(lines: &[&str]) -> String {
    let mut out: Vec<&str> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if i == 0 {
            out.push(line);
        } else if let Some(rest) = line.strip_prefix("       |") {
            out.push(rest);
        } else if let Some(rest) = line.strip_prefix("        ") {
            out.push(rest);
        } else {
            out.push(line.trim_start_matches([' ', '\t']));
        }
    }
    out.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests;
