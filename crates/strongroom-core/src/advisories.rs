//! Advisories (issue 12): OSV records imported by `strongroom admin osv import` (the
//! malicious-packages feed and vulnerability databases). Malicious records hide upstream
//! versions and hold local releases whose file hashes they name; vulnerability records fill the
//! JSON API's `vulnerabilities`.
//!
//! FOUNDATION STUB: the types and signatures are the contract between the gateway's parts.

use strongroom_protocol::NormalizedName;
use strongroom_protocol::json_api::Vulnerability;

use crate::{CoreError, Services};

/// What the malicious-package records say about one project's upstream files.
#[derive(Debug, Clone, Default)]
pub struct AdvisoryFilter {
    /// (record id, the versions it names or `None` for every version, file sha256s it names).
    entries: Vec<FilterEntry>,
}

#[derive(Debug, Clone)]
struct FilterEntry {
    id: String,
    all_versions: bool,
    versions: Vec<String>,
    sha256: Vec<String>,
}

impl AdvisoryFilter {
    /// The reason (naming the record) a file of `version` with `sha256` must not be served.
    pub fn hides(&self, version: &str, sha256: Option<&str>) -> Option<String> {
        let canonical = strongroom_protocol::Version::parse(version)
            .map(|v| v.canonical())
            .unwrap_or_else(|_| version.to_owned());
        self.entries
            .iter()
            .find(|e| {
                e.all_versions
                    || e.versions.contains(&canonical)
                    || sha256.is_some_and(|h| e.sha256.iter().any(|x| x == h))
            })
            .map(|e| format!("listed as malicious ({})", e.id))
    }
}

impl Services {
    /// The malicious-package filter for `project`'s upstream files.
    pub async fn advisory_filter(
        &self,
        _project: &NormalizedName,
    ) -> Result<AdvisoryFilter, CoreError> {
        Ok(AdvisoryFilter::default())
    }

    /// The JSON API's `vulnerabilities` for `project` (and `version`, when the document is one
    /// release's): `None` when no advisory source was ever imported (the field is left out).
    pub async fn vulnerabilities(
        &self,
        _project: &NormalizedName,
        _version: Option<&str>,
    ) -> Result<Option<Vec<Vulnerability>>, CoreError> {
        Ok(None)
    }
}
