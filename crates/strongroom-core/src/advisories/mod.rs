//! Advisories (issue 12): OSV records imported by `strongroom admin osv import` (the
//! malicious-packages feed and vulnerability databases such as pypa/advisory-database).
//! Malicious records (a `MAL-` id or alias) hide upstream versions and files
//! ([`AdvisoryFilter`], read by the gateway) and hold local releases whose file hashes they name
//! under the local project's own name (`local`); a malicious record that matches a local
//! project by name alone, or a local file's hash under another name, is an admin signal only. Vulnerability records fill
//! the JSON API's `vulnerabilities` ([`Services::vulnerabilities`]).

mod import;
mod local;

pub use import::{HashMatch, ImportOptions, ImportSummary, NameMatch, SkippedRecord, SourceName};
pub use local::{HASH_MATCH, NAME_MATCH};

use strongroom_protocol::NormalizedName;
use strongroom_protocol::json_api::Vulnerability;
use strongroom_protocol::osv::Advisory;

use crate::gateway::Resolution;
use crate::{CoreError, Services};

/// What the malicious-package records say about one project's upstream files.
#[derive(Debug, Clone, Default)]
pub struct AdvisoryFilter {
    /// The live (not withdrawn) malicious records naming the project.
    entries: Vec<Advisory>,
}

impl AdvisoryFilter {
    /// A filter over these records (the live malicious ones are kept).
    pub fn new(records: Vec<Advisory>) -> AdvisoryFilter {
        AdvisoryFilter {
            entries: records
                .into_iter()
                .filter(|a| a.malicious && a.withdrawn.is_none())
                .collect(),
        }
    }

    /// Whether no record names the project.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The reason (naming the record) a file of `version` with `sha256` must not be served.
    pub fn hides(&self, version: &str, sha256: Option<&str>) -> Option<String> {
        self.entries
            .iter()
            .find(|e| e.affects(version) || sha256.is_some_and(|h| e.sha256.iter().any(|x| x == h)))
            .map(|e| format!("listed as malicious ({})", e.id))
    }
}

/// The stored records, read back (a row this version cannot read is skipped with a log line:
/// it was written by this code, so that means a newer version wrote it).
fn parse_docs(project: &str, docs: Vec<String>) -> Vec<Advisory> {
    docs.into_iter()
        .filter_map(|d| match serde_json::from_str::<Advisory>(&d) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(project, error = %e, "advisory row not readable; skipped");
                None
            }
        })
        .collect()
}

impl Services {
    /// Every stored record naming `project`, all sources.
    async fn advisories_of(&self, project: &NormalizedName) -> Result<Vec<Advisory>, CoreError> {
        let docs = self.db.advisories_of_project(project.as_str()).await?;
        Ok(parse_docs(project.as_str(), docs))
    }

    /// The malicious-package filter for `project`'s upstream files.
    pub async fn advisory_filter(
        &self,
        project: &NormalizedName,
    ) -> Result<AdvisoryFilter, CoreError> {
        Ok(AdvisoryFilter::new(self.advisories_of(project).await?))
    }

    /// The JSON API's `vulnerabilities` for `project` (and `version`, when the document is one
    /// release's; for the project's document, the latest version's): `None` when no advisory
    /// source was ever imported (the field is left out), else the live records affecting it,
    /// one per id, in the public index's shape. Malicious records are not vulnerabilities
    /// (they hide files instead) and withdrawn ones are left out.
    pub async fn vulnerabilities(
        &self,
        project: &NormalizedName,
        version: Option<&str>,
    ) -> Result<Option<Vec<Vulnerability>>, CoreError> {
        if !self.db.any_advisory_source().await? {
            return Ok(None);
        }
        let Some(version) = version else {
            return Ok(Some(Vec::new()));
        };
        let mut out: Vec<Vulnerability> = Vec::new();
        for a in self.advisories_of(project).await? {
            if a.malicious || a.withdrawn.is_some() || !a.affects(version) {
                continue;
            }
            if !out.iter().any(|v| v.id == a.id) {
                out.push(a.to_vulnerability());
            }
        }
        Ok(Some(out))
    }
}

impl Services {
    /// What an OSV API's `POST /v1/query` answers for one PyPI package version: every live
    /// record affecting it (malicious ones too), as OSV records. pip-audit's OSV service reads
    /// this (`pip-audit -s osv --osv-url <strongroom>/osv/v1/query`). For a local name (a
    /// local project, or a name that resolves locally) a malicious record counts only when it
    /// names the sha256 of one of that version's local files: a malicious record about the
    /// name alone is about a package elsewhere under the organisation's name (the
    /// dependency-confusion case), not the local project, as the JSON API's `vulnerabilities`
    /// has it.
    pub async fn osv_query(
        &self,
        project: &NormalizedName,
        version: &str,
    ) -> Result<Vec<serde_json::Value>, CoreError> {
        let local = self
            .db
            .project_by_normalized(project.as_str())
            .await?
            .is_some()
            || self.resolve_name(project).await? == Resolution::Local;
        let local_hashes = if local {
            self.db.local_file_hashes(project.as_str(), version).await?
        } else {
            Vec::new()
        };
        let mut out: Vec<serde_json::Value> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for a in self.advisories_of(project).await? {
            if a.withdrawn.is_some() || !a.affects(version) || seen.contains(&a.id) {
                continue;
            }
            if local && a.malicious && !a.sha256.iter().any(|h| local_hashes.contains(h)) {
                continue;
            }
            seen.push(a.id.clone());
            out.push(a.to_osv_json());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(id: &str, malicious: bool, withdrawn: bool, events: serde_json::Value) -> Advisory {
        let r: strongroom_protocol::osv::Record = serde_json::from_value(serde_json::json!({
            "id": if malicious { format!("MAL-{id}") } else { id.to_owned() },
            "withdrawn": if withdrawn { Some("2026-01-01T00:00:00Z") } else { None },
            "affected": [{"package": {"ecosystem": "PyPI", "name": "p"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
            "database_specific": if malicious {
                serde_json::json!({"malicious-packages-origins": [{"sha256": "ab".repeat(32)}]})
            } else { serde_json::json!({}) }
        }))
        .expect("record");
        r.advisories().expect("advisories").remove(0)
    }

    #[test]
    fn the_filter_hides_by_version_or_hash_and_ignores_withdrawn_and_vulnerabilities() {
        let f = AdvisoryFilter::new(vec![
            adv("1", true, false, serde_json::json!([{"introduced": "2.0"}])),
            adv("2", true, true, serde_json::json!([{"introduced": "0"}])),
            adv(
                "PYSEC-1",
                false,
                false,
                serde_json::json!([{"introduced": "0"}]),
            ),
        ]);
        assert_eq!(
            f.hides("2.1", None).as_deref(),
            Some("listed as malicious (MAL-1)")
        );
        assert_eq!(
            f.hides("1.0", None),
            None,
            "withdrawn MAL-2 and PYSEC-1 hide nothing"
        );
        assert!(
            f.hides("1.0", Some(&"ab".repeat(32))).is_some(),
            "named by hash"
        );
    }
}
