//! `strongroom admin osv import PATH [--source NAME]`: read a feed (dist::osv_feed), parse each
//! record (JSON or YAML), keep its PyPI advisories, replace the source's snapshot in one
//! transaction (store::advisories), then apply what the records mean for local projects
//! (`super::local`). A record that cannot be read fails the whole import with its path, and
//! nothing is written, unless the operator asks to skip such records
//! ([`ImportOptions::skip_invalid`]): then each skipped file is named in the summary and the
//! import's event, and the rows it gave before (by its path, or its file name as the record id,
//! as OSV feeds name files) are kept as they were: a record is never retracted because it
//! could not be read this time.

use std::path::Path;

use strongroom_dist::osv_feed::{FeedError, FeedLimits, FeedRecord, RecordFormat, read_feed};
use strongroom_protocol::osv::{Advisory, Record};
use strongroom_store::advisories::{AdvisoryRow, ImportCounts, StoredAdvisory};

use crate::{Actor, CoreError, RequestMeta, Services, Subject};

/// A source's name: what a re-import replaces (1 to 64 of `a-z 0-9 . _ -`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceName(String);

impl SourceName {
    /// Check a name given by the operator.
    pub fn new(name: &str) -> Result<SourceName, CoreError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if !ok {
            return Err(CoreError::Invalid(format!(
                "'{name}' is not a source name: use 1 to 64 of a-z, 0-9, '.', '_' and '-'"
            )));
        }
        Ok(SourceName(name.to_owned()))
    }

    /// The default: the feed's file or folder name, lowercased, without an archive suffix.
    pub fn from_path(path: &Path) -> Result<SourceName, CoreError> {
        let base = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_lowercase()))
            .unwrap_or_default();
        let base = [".tar.gz", ".tgz", ".zip"]
            .iter()
            .find_map(|s| base.strip_suffix(s))
            .unwrap_or(&base)
            .to_owned();
        let cleaned: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .take(64)
            .collect();
        SourceName::new(&cleaned).map_err(|_| {
            CoreError::Invalid(format!(
                "cannot name the source after {}: give --source NAME",
                path.display()
            ))
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A live malicious record naming a local project by name alone (no local file's hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NameMatch {
    pub project: String,
    pub record: String,
}

/// A local file whose sha256 a live malicious record names under another project's name (an
/// admin signal: every local file's sha256 is public, so this proves nothing about it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HashMatch {
    pub project: String,
    pub version: String,
    pub filename: String,
    pub record: String,
    /// The project the record names.
    pub named_project: String,
}

/// A record file the import could not read and skipped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedRecord {
    pub path: String,
    pub error: String,
}

/// How to import.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Skip record files that cannot be read (keeping what they gave before) instead of
    /// failing the whole import.
    pub skip_invalid: bool,
}

/// The longest error text kept for a skipped record.
const MAX_SKIP_ERROR: usize = 300;

/// What an import did, for the operator.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportSummary {
    pub source: String,
    /// Record files read.
    pub records: u64,
    /// PyPI advisories kept (a record naming two projects counts twice).
    pub advisories: u64,
    /// Record files that name no PyPI package.
    pub other_ecosystems: u64,
    pub counts: ImportCounts,
    /// Local releases quarantined now (`project version`).
    pub held: Vec<String>,
    /// Local releases an advisory no longer holds, published again.
    pub released: Vec<String>,
    /// Local projects a live malicious record names by name alone (admin signal).
    pub name_matches: Vec<NameMatch>,
    /// Local files a live malicious record names by hash under another name (admin signal).
    pub hash_matches: Vec<HashMatch>,
    /// Record files that could not be read and were skipped (`--skip-invalid`).
    pub skipped: Vec<SkippedRecord>,
    /// Stored rows kept as they were because their record file was skipped.
    pub kept: u64,
}

/// Parse one record file.
fn parse(r: &FeedRecord) -> Result<Record, CoreError> {
    let bad = |e: String| CoreError::Invalid(format!("{}: not an OSV record: {e}", r.path));
    let rec: Record = match r.format {
        RecordFormat::Json => serde_json::from_slice(&r.bytes).map_err(|e| bad(e.to_string()))?,
        RecordFormat::Yaml => {
            serde_yaml_ng::from_slice(&r.bytes).map_err(|e| bad(e.to_string()))?
        }
    };
    rec.check().map_err(|e| bad(e.to_string()))?;
    Ok(rec)
}

/// The rows of one feed, gathered record by record as the feed is read (records of other
/// ecosystems are counted and dropped at once, so memory follows the PyPI records only):
/// withdrawn (field, or under `withdrawn/`) marked, one row per (id, project), a withdrawn copy
/// winning over a live one.
pub(crate) struct Collector {
    now_iso: String,
    skip_invalid: bool,
    pub(crate) skipped: Vec<SkippedRecord>,
    pub(crate) rows: Vec<(Advisory, AdvisoryRow)>,
    index: std::collections::HashMap<(String, String), usize>,
    pub(crate) records: u64,
    pub(crate) other: u64,
}

impl Collector {
    pub(crate) fn new(now_iso: &str, skip_invalid: bool) -> Collector {
        Collector {
            now_iso: now_iso.to_owned(),
            skip_invalid,
            skipped: Vec::new(),
            rows: Vec::new(),
            index: std::collections::HashMap::new(),
            records: 0,
            other: 0,
        }
    }

    pub(crate) fn add(&mut self, f: &FeedRecord) -> Result<(), CoreError> {
        self.records += 1;
        let advisories = match parse(f).and_then(|rec| {
            rec.advisories()
                .map_err(|e| CoreError::Invalid(format!("{}: not an OSV record: {e}", f.path)))
        }) {
            Ok(a) => a,
            Err(CoreError::Invalid(msg)) if self.skip_invalid => {
                let error: String = msg
                    .strip_prefix(&format!("{}: ", f.path))
                    .unwrap_or(&msg)
                    .chars()
                    .take(MAX_SKIP_ERROR)
                    .collect();
                self.skipped.push(SkippedRecord {
                    path: f.path.clone(),
                    error,
                });
                return Ok(());
            }
            Err(CoreError::Invalid(msg)) => {
                return Err(CoreError::Invalid(format!(
                    "{msg} (nothing was imported; --skip-invalid skips unreadable records and keeps what they gave before)"
                )));
            }
            Err(e) => return Err(e),
        };
        if advisories.is_empty() {
            self.other += 1;
        }
        for mut a in advisories {
            if f.withdrawn && a.withdrawn.is_none() {
                a.withdrawn = Some(a.modified.clone().unwrap_or_else(|| self.now_iso.clone()));
            }
            let row = AdvisoryRow {
                id: a.id.clone(),
                project: a.project.clone(),
                malicious: a.malicious,
                withdrawn: a.withdrawn.is_some(),
                doc: serde_json::to_string(&a)
                    .map_err(|e| CoreError::Internal(format!("advisory not serialisable: {e}")))?,
                sha256: a.sha256.clone(),
                path: f.path.clone(),
            };
            let key = (a.id.clone(), a.project.clone());
            match self.index.get(&key) {
                Some(&i) => {
                    if row.withdrawn || !self.rows[i].1.withdrawn {
                        self.rows[i] = (a, row);
                    }
                }
                None => {
                    self.index.insert(key, self.rows.len());
                    self.rows.push((a, row));
                }
            }
        }
        Ok(())
    }

    /// Keep the stored rows of the skipped record files (by path, or by the file name as the
    /// record id) that no readable file gave again; the number kept.
    pub(crate) fn keep_skipped(&mut self, stored: Vec<StoredAdvisory>) -> u64 {
        let stems: Vec<String> = self
            .skipped
            .iter()
            .map(|s| record_id_of_path(&s.path).to_owned())
            .collect();
        let paths: Vec<String> = self.skipped.iter().map(|s| s.path.clone()).collect();
        let mut kept = 0;
        for s in stored {
            let key = (s.id.clone(), s.project.clone());
            if self.index.contains_key(&key) || !(paths.contains(&s.path) || stems.contains(&s.id))
            {
                continue;
            }
            let a: Advisory = match serde_json::from_str(&s.doc) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(id = %s.id, project = %s.project, error = %e,
                        "stored advisory not readable; not kept");
                    continue;
                }
            };
            let row = AdvisoryRow {
                id: s.id,
                project: s.project,
                malicious: a.malicious,
                withdrawn: a.withdrawn.is_some(),
                doc: s.doc,
                sha256: a.sha256.clone(),
                path: s.path,
            };
            self.index.insert(key, self.rows.len());
            self.rows.push((a, row));
            kept += 1;
        }
        kept
    }
}

/// The record id a feed file's name gives (`a/b/MAL-2024-1.json` gives `MAL-2024-1`).
fn record_id_of_path(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    [".json", ".yaml", ".yml"]
        .iter()
        .find(|s| lower.ends_with(*s))
        .map_or(name, |s| &name[..name.len() - s.len()])
}

#[cfg(test)]
fn rows_of(
    feed: Vec<FeedRecord>,
    now_iso: &str,
) -> Result<(Vec<(Advisory, AdvisoryRow)>, u64), CoreError> {
    let mut c = Collector::new(now_iso, false);
    for f in &feed {
        c.add(f)?;
    }
    Ok((c.rows, c.other))
}

impl Services {
    /// Import the feed at `path` as `source` (a snapshot of it), then apply its effects on
    /// local projects. The operator is the actor.
    pub async fn import_advisories(
        &self,
        path: &Path,
        source: &SourceName,
        options: ImportOptions,
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<ImportSummary, CoreError> {
        let limits = FeedLimits::default();
        let owned = path.to_path_buf();
        let now_iso = crate::clock::iso8601_seconds(self.now());
        // Reading, decompressing and parsing is blocking work.
        let collected = tokio::task::spawn_blocking(move || {
            let mut c = Collector::new(&now_iso, options.skip_invalid);
            read_feed(&owned, &limits, |r| {
                c.add(&r).map_err(|e| FeedError::Record(e.to_string()))
            })
            .map(|()| c)
        })
        .await
        .map_err(|e| CoreError::Internal(format!("feed reader failed: {e}")))?
        .map_err(|e: FeedError| CoreError::Invalid(e.to_string()))?;
        let mut collected = collected;
        let kept = if collected.skipped.is_empty() {
            0
        } else {
            let stored = self.db.advisories_of_source(source.as_str()).await?;
            collected.keep_skipped(stored)
        };
        let skipped = collected.skipped;
        let (records, other, rows) = (collected.records, collected.other, collected.rows);
        let plain: Vec<AdvisoryRow> = rows.iter().map(|(_, r)| r.clone()).collect();
        let ev = self.event(
            actor,
            "advisories:import",
            Subject {
                kind: "site",
                id: None,
                name: Some(source.as_str()),
            },
            meta,
            serde_json::json!({"source": source.as_str(), "path": path.display().to_string(),
                "records": records, "skipped": skipped, "kept": kept}),
        );
        let counts = self
            .db
            .import_advisories(source.as_str(), &plain, &ev)
            .await?;
        let mut summary = ImportSummary {
            source: source.as_str().to_owned(),
            records,
            advisories: plain.len() as u64,
            other_ecosystems: other,
            counts,
            skipped,
            kept,
            ..ImportSummary::default()
        };
        self.apply_local_advisories(actor, meta, &mut summary)
            .await?;
        self.signal_hash_matches(actor, meta, &mut summary).await?;
        let malicious: Vec<&Advisory> = rows
            .iter()
            .filter(|(a, _)| a.malicious && a.withdrawn.is_none())
            .map(|(a, _)| a)
            .collect();
        self.signal_name_matches(&malicious, actor, meta, &mut summary)
            .await?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(path: &str, withdrawn_dir: bool, format: RecordFormat, body: &str) -> FeedRecord {
        FeedRecord {
            path: path.into(),
            withdrawn: withdrawn_dir,
            format,
            bytes: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn yaml_and_json_records_become_rows_and_withdrawn_wins() {
        let yaml = "id: PYSEC-2099-9\nmodified: 2099-01-01T00:00:00Z\naffected:\n- package:\n    name: Demo\n    ecosystem: PyPI\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: '0'\n    - fixed: 1.10\n  versions:\n  - 1.0\n  - '1.1'\n";
        let mal = r#"{"id": "MAL-2099-1", "affected": [{"package": {"ecosystem": "PyPI", "name": "evil"}}]}"#;
        let (rows, other) = rows_of(
            vec![
                rec("PYSEC-2099-9.yaml", false, RecordFormat::Yaml, yaml),
                rec("malicious/MAL-2099-1.json", false, RecordFormat::Json, mal),
                rec("withdrawn/MAL-2099-1.json", true, RecordFormat::Json, mal),
                rec("npm.json", false, RecordFormat::Json, r#"{"id": "MAL-3"}"#),
            ],
            "2099-02-02T00:00:00",
        )
        .expect("rows");
        assert_eq!(other, 1);
        assert_eq!(rows.len(), 2);
        let (pysec, row) = &rows[0];
        assert_eq!((pysec.project.as_str(), row.malicious), ("demo", false));
        assert!(pysec.affects("1.0") && pysec.affects("1.1"));
        let (mal, row) = &rows[1];
        assert!(mal.malicious && row.withdrawn, "the withdrawn/ copy wins");
    }

    #[test]
    fn a_bad_record_names_its_path() {
        let e = rows_of(
            vec![rec("x/bad.yaml", false, RecordFormat::Yaml, "id: [")],
            "t",
        )
        .expect_err("bad");
        assert!(e.to_string().contains("x/bad.yaml"), "{e}");
        let e = rows_of(
            vec![rec(
                "x/id.json",
                false,
                RecordFormat::Json,
                r#"{"id": "a b"}"#,
            )],
            "t",
        )
        .expect_err("bad id");
        assert!(e.to_string().contains("x/id.json"), "{e}");
    }

    #[test]
    fn skipped_records_keep_their_stored_rows_and_are_named() {
        let mal = |id: &str| {
            format!(
                r#"{{"id": "{id}", "affected": [{{"package": {{"ecosystem": "PyPI", "name": "evil"}}}}]}}"#
            )
        };
        // The previous import: two records, each from its own file.
        let mut first = Collector::new("t", false);
        for (path, id) in [
            ("pypi/evil/MAL-1.json", "MAL-1"),
            ("pypi/evil/MAL-2.json", "MAL-2"),
        ] {
            first
                .add(&rec(path, false, RecordFormat::Json, &mal(id)))
                .expect("add");
        }
        let stored: Vec<StoredAdvisory> = first
            .rows
            .iter()
            .map(|(_, r)| StoredAdvisory {
                id: r.id.clone(),
                project: r.project.clone(),
                path: r.path.clone(),
                doc: r.doc.clone(),
            })
            .collect();
        // Strict: one unreadable record fails the import, naming it and the way out.
        let mut strict = Collector::new("t", false);
        let e = strict
            .add(&rec("pypi/evil/MAL-1.json", false, RecordFormat::Json, "{"))
            .expect_err("strict");
        assert!(
            e.to_string().contains("pypi/evil/MAL-1.json")
                && e.to_string().contains("--skip-invalid"),
            "{e}"
        );
        // Skipping: MAL-1's file is unreadable now, MAL-2 moved (readable) under withdrawn/,
        // and a YAML alias bomb, whose file name is a record id, was never stored.
        let mut c = Collector::new("t", true);
        c.add(&rec("pypi/evil/MAL-1.json", false, RecordFormat::Json, "{"))
            .expect("skipped");
        c.add(&rec(
            "withdrawn/pypi/evil/MAL-2.json",
            true,
            RecordFormat::Json,
            &mal("MAL-2"),
        ))
        .expect("add");
        c.add(&rec(
            "pypi/x/MAL-9.yaml",
            false,
            RecordFormat::Yaml,
            "a: &a [*a, *a]\nid: *a\n",
        ))
        .expect("skipped");
        assert_eq!(
            c.skipped
                .iter()
                .map(|s| s.path.as_str())
                .collect::<Vec<_>>(),
            vec!["pypi/evil/MAL-1.json", "pypi/x/MAL-9.yaml"]
        );
        assert!(c.skipped.iter().all(|s| !s.error.is_empty()));
        assert_eq!(
            c.keep_skipped(stored.clone()),
            1,
            "MAL-1 kept, MAL-2 read anew"
        );
        let by_id = |id: &str| c.rows.iter().find(|(a, _)| a.id == id).expect("row");
        let (a1, r1) = by_id("MAL-1");
        assert!(a1.malicious && !r1.withdrawn, "kept as it was: live");
        assert_eq!(r1.path, "pypi/evil/MAL-1.json");
        assert!(
            by_id("MAL-2").1.withdrawn,
            "the readable withdrawal applies"
        );
        // A record whose file moved and is unreadable at its new place is kept by its id.
        let mut moved = Collector::new("t", true);
        moved
            .add(&rec(
                "withdrawn/pypi/evil/MAL-1.json",
                true,
                RecordFormat::Json,
                "not json",
            ))
            .expect("skipped");
        assert_eq!(moved.keep_skipped(stored), 1);
        assert_eq!(moved.rows[0].0.id, "MAL-1");
    }

    #[test]
    fn source_names_are_checked_and_derived() {
        assert!(SourceName::new("malicious-packages").is_ok());
        assert!(SourceName::new("Bad Name").is_err());
        assert!(SourceName::new("").is_err());
        let d = tempfile::tempdir().expect("dir");
        let p = d.path().join("Advisory-DB.tar.gz");
        std::fs::write(&p, b"").expect("w");
        assert_eq!(
            SourceName::from_path(&p).expect("name").as_str(),
            "advisory-db"
        );
    }
}
