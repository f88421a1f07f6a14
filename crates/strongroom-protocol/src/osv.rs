//! OSV records (the schema osv.dev, ossf/malicious-packages and pypa/advisory-database share),
//! read for the PyPI ecosystem only: the packages a record names, the versions it affects
//! (ECOSYSTEM ranges of `introduced`/`fixed`/`last_affected`, and explicit `versions`), the file
//! hashes a malicious-packages record names, and the JSON API's `vulnerabilities` entry built from
//! it. No I/O: the importer (core::advisories) hands in parsed records.

use serde::{Deserialize, Deserializer, Serialize};

use crate::json_api::Vulnerability;
use crate::name::normalize;
use crate::version::Version;

/// The ecosystem name OSV gives Python packages.
pub const ECOSYSTEM: &str = "PyPI";

/// The longest record id accepted.
pub const MAX_ID_LEN: usize = 128;

/// A record the importer cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsvError {
    #[error("the record has no id")]
    NoId,
    #[error(
        "the record id '{0}' is longer than {MAX_ID_LEN} characters or holds characters other than letters, digits, '-', '_', '.' and ':'"
    )]
    BadId(String),
}

/// One OSV record as stored in a feed (JSON or YAML).
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub modified: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// One `affected` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<Package>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ranges: Vec<Range>,
    #[serde(default, deserialize_with = "versions_text")]
    pub versions: Vec<String>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// `affected[].package`.
#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    #[serde(default)]
    pub ecosystem: String,
    #[serde(default)]
    pub name: String,
}

/// `affected[].ranges[]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Range {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub events: Vec<RawEvent>,
}

/// One range event as written (exactly one field is set in a valid record).
#[derive(Debug, Clone, Deserialize)]
pub struct RawEvent {
    #[serde(default, deserialize_with = "opt_version_text")]
    pub introduced: Option<String>,
    #[serde(default, deserialize_with = "opt_version_text")]
    pub fixed: Option<String>,
    #[serde(default, deserialize_with = "opt_version_text")]
    pub last_affected: Option<String>,
    #[serde(default, deserialize_with = "opt_version_text")]
    pub limit: Option<String>,
}

/// A range event, typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

impl Event {
    fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

/// What strongroom keeps of one record for one PyPI project (a record naming several projects
/// gives one each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    /// The normalised project name.
    pub project: String,
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    pub details: String,
    pub modified: Option<String>,
    pub withdrawn: Option<String>,
    /// A malicious-package record (a `MAL-` id or alias; `malicious-packages-origins` alone
    /// does not make one).
    pub malicious: bool,
    /// Explicit affected versions, as written.
    pub versions: Vec<String>,
    /// ECOSYSTEM ranges, each a list of events.
    pub ranges: Vec<Vec<Event>>,
    /// File sha256s a malicious record names (lowercase hex; none for other records).
    pub sha256: Vec<String>,
}

impl Record {
    /// Check the id (it names the record in every reason and URL strongroom shows).
    pub fn check(&self) -> Result<(), OsvError> {
        if self.id.is_empty() {
            return Err(OsvError::NoId);
        }
        let ok = self.id.len() <= MAX_ID_LEN
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if !ok {
            return Err(OsvError::BadId(self.id.chars().take(MAX_ID_LEN).collect()));
        }
        Ok(())
    }

    /// Whether this is a malicious-package record: a `MAL-` id or alias, as the
    /// malicious-packages feed assigns them, or an index's own `<name>-MAL-` id (a
    /// strongroom's verdicts, `osv.id_prefix`). `database_specific` is free-form, so its
    /// `malicious-packages-origins` alone never makes a record malicious: anyone who gets a
    /// record into a vulnerability feed could otherwise turn it into one that hides and
    /// quarantines.
    pub fn is_malicious(&self) -> bool {
        malicious_id(&self.id) || self.aliases.iter().any(|a| malicious_id(a))
    }

    /// One [`Advisory`] per PyPI project the record names (other ecosystems are skipped).
    pub fn advisories(&self) -> Result<Vec<Advisory>, OsvError> {
        self.check()?;
        let malicious = self.is_malicious();
        let mut out: Vec<Advisory> = Vec::new();
        for a in &self.affected {
            let Some(p) = &a.package else { continue };
            if p.ecosystem != ECOSYSTEM || p.name.is_empty() {
                continue;
            }
            let project = normalize(&p.name);
            let idx = match out.iter().position(|x| x.project == project) {
                Some(i) => i,
                None => {
                    out.push(Advisory {
                        id: self.id.clone(),
                        project,
                        aliases: self.aliases.clone(),
                        summary: self.summary.clone(),
                        details: self.details.clone().unwrap_or_default(),
                        modified: self.modified.clone(),
                        withdrawn: self.withdrawn.clone(),
                        malicious,
                        versions: Vec::new(),
                        ranges: Vec::new(),
                        sha256: if malicious {
                            hashes(self.database_specific.as_ref())
                        } else {
                            Vec::new()
                        },
                    });
                    out.len() - 1
                }
            };
            let adv = &mut out[idx];
            adv.versions.extend(a.versions.iter().cloned());
            for r in &a.ranges {
                if r.kind != "ECOSYSTEM" {
                    continue; // GIT ranges name commits, SEMVER is not PEP 440
                }
                adv.ranges
                    .push(r.events.iter().filter_map(RawEvent::typed).collect());
            }
            let named = if malicious {
                hashes(a.database_specific.as_ref())
            } else {
                Vec::new()
            };
            for h in named {
                if !adv.sha256.contains(&h) {
                    adv.sha256.push(h);
                }
            }
        }
        Ok(out)
    }
}

impl RawEvent {
    fn typed(&self) -> Option<Event> {
        if let Some(v) = &self.introduced {
            Some(Event::Introduced(v.clone()))
        } else if let Some(v) = &self.fixed {
            Some(Event::Fixed(v.clone()))
        } else if let Some(v) = &self.last_affected {
            Some(Event::LastAffected(v.clone()))
        } else {
            self.limit.clone().map(Event::Limit)
        }
    }
}

/// A malicious-packages id (`MAL-...`) or an index's own verdict id (`<name>-MAL-...`).
fn malicious_id(id: &str) -> bool {
    id.starts_with("MAL-") || id.contains("-MAL-")
}

/// The `malicious-packages-origins` entries of a `database_specific` object.
fn origins(ds: Option<&serde_json::Value>) -> impl Iterator<Item = &serde_json::Value> {
    ds.and_then(|d| d.get("malicious-packages-origins"))
        .and_then(|o| o.as_array())
        .into_iter()
        .flatten()
}

/// The `indicators.package_integrity[].hashes.sha256` values of a `database_specific` object.
fn integrity_hashes(ds: Option<&serde_json::Value>) -> impl Iterator<Item = &serde_json::Value> {
    ds.and_then(|d| d.get("indicators"))
        .and_then(|i| i.get("package_integrity"))
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("hashes").and_then(|h| h.get("sha256")))
}

/// The sha256s named in a `database_specific` object (its origins' `sha256` and its
/// `indicators.package_integrity` hashes), lowercase.
fn hashes(ds: Option<&serde_json::Value>) -> Vec<String> {
    let mut out = Vec::new();
    let named = origins(ds)
        .filter_map(|o| o.get("sha256"))
        .chain(integrity_hashes(ds));
    for h in named {
        if let Some(h) = h.as_str() {
            let h = h.to_ascii_lowercase();
            if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) && !out.contains(&h) {
                out.push(h);
            }
        }
    }
    out
}

/// Compare two version texts by PEP 440; `"0"` (OSV's "from the start") is below everything.
fn parse(v: &str) -> Option<Version> {
    Version::parse(v).ok()
}

impl Advisory {
    /// Whether `version` is affected (listed, or inside an ECOSYSTEM range).
    pub fn affects(&self, version: &str) -> bool {
        let Some(v) = parse(version) else {
            // An unparseable version can only match literally.
            return self.versions.iter().any(|x| x == version);
        };
        if self
            .versions
            .iter()
            .any(|x| parse(x).is_some_and(|x| x == v))
        {
            return true;
        }
        self.ranges.iter().any(|r| range_affects(r, &v))
    }

    /// Whether the record names every version (a range introduced at "0" with no end).
    pub fn all_versions(&self) -> bool {
        self.ranges.iter().any(|r| {
            r.iter()
                .any(|e| matches!(e, Event::Introduced(v) if v == "0"))
                && !r.iter().any(|e| !matches!(e, Event::Introduced(_)))
        })
    }

    /// The versions with the fix (the ranges' `fixed` events), as the JSON API lists them.
    pub fn fixed_in(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in self.ranges.iter().flatten() {
            if let Event::Fixed(v) = e
                && !out.contains(v)
            {
                out.push(v.clone());
            }
        }
        out
    }

    /// The JSON API's `vulnerabilities` entry, in the shape the public index gives it.
    pub fn to_vulnerability(&self) -> Vulnerability {
        Vulnerability {
            id: self.id.clone(),
            source: "osv".to_owned(),
            link: format!("https://osv.dev/vulnerability/{}", self.id),
            aliases: self.aliases.clone(),
            details: self.details.clone(),
            summary: self.summary.clone(),
            fixed_in: self.fixed_in(),
            withdrawn: self.withdrawn.clone(),
        }
    }
}

impl Advisory {
    /// The record as an OSV API answers it (`POST /v1/query`), for this project only: what
    /// pip-audit's OSV service reads (id, summary, details, aliases, withdrawn, the PyPI
    /// `affected` entry with its ECOSYSTEM ranges and versions).
    pub fn to_osv_json(&self) -> serde_json::Value {
        let ranges: Vec<serde_json::Value> = self
            .ranges
            .iter()
            .map(|events| serde_json::json!({"type": "ECOSYSTEM", "events": events}))
            .collect();
        let mut v = serde_json::json!({
            "schema_version": "1.5.0",
            "id": self.id,
            "aliases": self.aliases,
            "details": self.details,
            "affected": [{
                "package": {"ecosystem": ECOSYSTEM, "name": self.project},
                "ranges": ranges,
                "versions": self.versions,
            }],
        });
        for (key, value) in [
            ("summary", &self.summary),
            ("modified", &self.modified),
            ("withdrawn", &self.withdrawn),
        ] {
            if let Some(x) = value {
                v[key] = serde_json::Value::from(x.clone());
            }
        }
        v
    }
}

/// OSV's range evaluation: walk the events in version order; `introduced` at or below the
/// version opens, `fixed` at or below it (or `last_affected` below it) closes.
fn range_affects(events: &[Event], v: &Version) -> bool {
    let mut sorted: Vec<(Option<Version>, &Event)> = events
        .iter()
        .filter(|e| !matches!(e, Event::Limit(_)))
        .map(|e| {
            let pv = if e.version() == "0" {
                None
            } else {
                parse(e.version())
            };
            (pv, e)
        })
        // An event whose version does not parse (other than "0") cannot be placed: drop it.
        .filter(|(pv, e)| pv.is_some() || e.version() == "0")
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut affected = false;
    for (pv, e) in sorted {
        let at_or_below = pv.as_ref().is_none_or(|p| p <= v);
        match e {
            Event::Introduced(_) if at_or_below => affected = true,
            Event::Fixed(_) if at_or_below => affected = false,
            Event::LastAffected(_) if pv.as_ref().is_none_or(|p| p < v) => affected = false,
            _ => {}
        }
    }
    affected
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A version written as a string or (in YAML, unquoted) a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum VersionText {
    Text(String),
    Int(u64),
    Float(f64),
}

impl VersionText {
    fn into_string(self) -> String {
        match self {
            VersionText::Text(s) => s,
            VersionText::Int(i) => i.to_string(),
            VersionText::Float(f) => f.to_string(),
        }
    }
}

fn opt_version_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<VersionText>::deserialize(d)?.map(VersionText::into_string))
}

fn versions_text<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<VersionText>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(VersionText::into_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: serde_json::Value) -> Record {
        serde_json::from_value(json).expect("record")
    }

    #[test]
    fn ranges_follow_osv_semantics() {
        let r = record(serde_json::json!({
            "id": "PYSEC-2099-1",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "Demo_Pkg"},
                "ranges": [{"type": "ECOSYSTEM", "events": [
                    {"introduced": "0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"last_affected": "2.1"}]}],
                "versions": ["5.0"]}]
        }));
        let a = &r.advisories().expect("advisories")[0];
        assert_eq!(a.project, "demo-pkg");
        for (v, want) in [
            ("0.1", true),
            ("1.1.9", true),
            ("1.2", false),
            ("1.9", false),
            ("2.0", true),
            ("2.1", true),
            ("2.1.1", false),
            ("5.0.0", true),
            ("6", false),
        ] {
            assert_eq!(a.affects(v), want, "{v}");
        }
        assert_eq!(a.fixed_in(), vec!["1.2".to_owned()]);
        assert!(!a.all_versions());
        assert!(!a.malicious);
    }

    #[test]
    fn malicious_packages_layout_gives_hashes_and_every_version() {
        let h = "AB".repeat(32);
        let r = record(serde_json::json!({
            "id": "MAL-2099-7", "summary": "Malicious code in evil (PyPI)",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "evil"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]},
                {"package": {"ecosystem": "npm", "name": "evil"}}],
            "database_specific": {"malicious-packages-origins": [{"source": "x", "sha256": h}, {"source": "y", "sha256": "short"}]}
        }));
        let all = r.advisories().expect("advisories");
        assert_eq!(all.len(), 1, "npm is skipped");
        let a = &all[0];
        assert!(a.malicious && a.all_versions() && a.affects("9.9"));
        assert_eq!(a.sha256, vec!["ab".repeat(32)]);
    }

    #[test]
    fn package_integrity_indicators_give_hashes_too() {
        let (h1, h2) = ("CD".repeat(32), "ef".repeat(32));
        let r = record(serde_json::json!({
            "id": "MAL-2099-8",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "evil"}, "versions": ["1.0"]}],
            "database_specific": {
                "malicious-packages-origins": [{"sha256": h2}],
                "indicators": {"package_integrity": [
                    {"filename": "evil-1.0.tar.gz", "hashes": {"sha256": h1}},
                    {"filename": "evil-1.0-py3-none-any.whl", "hashes": {"sha256": h2}},
                    {"filename": "x", "hashes": {"sha256": "short"}}
                ]}
            }
        }));
        let a = &r.advisories().expect("advisories")[0];
        assert_eq!(a.sha256, vec!["ef".repeat(32), "cd".repeat(32)]);
    }

    #[test]
    fn origins_alone_do_not_make_a_vulnerability_record_malicious() {
        let h = "ab".repeat(32);
        let ds = serde_json::json!({"malicious-packages-origins": [{"sha256": h}]});
        let pysec = record(serde_json::json!({
            "id": "PYSEC-2099-1",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "unrelated"},
                "database_specific": ds.clone()}],
            "database_specific": ds.clone()
        }));
        let a = &pysec.advisories().expect("advisories")[0];
        assert!(
            !a.malicious,
            "origins in a vulnerability record are not a MAL id"
        );
        assert!(a.sha256.is_empty(), "its hashes name nothing");
        let aliased = record(serde_json::json!({
            "id": "GHSA-xxxx-yyyy-zzzz", "aliases": ["MAL-2099-5"],
            "affected": [{"package": {"ecosystem": "PyPI", "name": "evil"}}],
            "database_specific": ds
        }));
        let a = &aliased.advisories().expect("advisories")[0];
        assert!(a.malicious, "a MAL alias is malicious");
        assert_eq!(a.sha256, vec![h]);
    }

    #[test]
    fn the_osv_answer_keeps_the_ranges_pip_audit_reads() {
        let r = record(serde_json::json!({
            "id": "PYSEC-2099-3", "summary": "s",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "X_y"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}]}]
        }));
        let v = r.advisories().expect("advisories")[0].to_osv_json();
        assert_eq!(v["affected"][0]["package"]["name"], "x-y");
        assert_eq!(
            v["affected"][0]["ranges"][0]["events"],
            serde_json::json!([{"introduced": "0"}, {"fixed": "2.0"}])
        );
        assert_eq!(v["summary"], "s");
        assert!(v.get("withdrawn").is_none());
    }

    #[test]
    fn an_index_verdict_id_is_malicious_and_a_vulnerability_id_is_not() {
        let h = "cd".repeat(32);
        let ds = serde_json::json!({"malicious-packages-origins": [{"sha256": h}]});
        let of = |id: &str| {
            record(serde_json::json!({"id": id, "database_specific": ds,
                "affected": [{"package": {"ecosystem": "PyPI", "name": "x"}, "versions": ["1"]}]}))
        };
        let own = of("ACME-MAL-2026-3");
        assert!(own.is_malicious());
        assert_eq!(own.advisories().expect("a")[0].sha256, vec![h.clone()]);
        for id in ["PYSEC-2026-1", "GHSA-mal-x", "NOTMAL-1", "MALWARE-1"] {
            assert!(!of(id).is_malicious(), "{id}");
        }
    }

    #[test]
    fn ids_are_checked() {
        let bad = record(serde_json::json!({"id": "../x"}));
        assert!(matches!(bad.advisories(), Err(OsvError::BadId(_))));
        let none = record(serde_json::json!({"id": ""}));
        assert_eq!(none.advisories(), Err(OsvError::NoId));
    }

    #[test]
    fn the_vulnerability_entry_has_the_public_shape() {
        let r = record(serde_json::json!({
            "id": "PYSEC-2099-2", "aliases": ["CVE-2099-1"], "details": "d",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "x"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0"}]}]}]
        }));
        let v = r.advisories().expect("advisories")[0].to_vulnerability();
        assert_eq!(
            serde_json::to_value(v).expect("json"),
            serde_json::json!({"id": "PYSEC-2099-2", "source": "osv",
                "link": "https://osv.dev/vulnerability/PYSEC-2099-2", "aliases": ["CVE-2099-1"],
                "details": "d", "summary": null, "fixed_in": ["1.0"], "withdrawn": null})
        );
    }
}
