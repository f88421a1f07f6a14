//! `strongroom admin osv ...`: OSV advisory feeds (malicious packages, vulnerability databases),
//! imported by the operator (`cli:$USER` is the actor of the import's events), and this index's
//! own malicious-package verdicts, exported as such a feed or withdrawn.

use clap::Subcommand;
use strongroom_core::advisories::{ImportOptions, SourceName};
use strongroom_core::{Actor, RequestMeta, Services};

/// `strongroom admin osv ...`
#[derive(Subcommand, Debug)]
pub(crate) enum OsvCommand {
    /// Import OSV records (JSON or YAML) from a folder tree, a .tar.gz/.tgz or a .zip (the
    /// ossf/malicious-packages or pypa/advisory-database layout). The import is a snapshot of
    /// its source: records of the source that are gone now, or moved under withdrawn/, are
    /// retracted. Malicious records hide matching upstream versions; one naming the sha256 of
    /// a local file quarantines that release (owners and admins are told); one naming a local
    /// project by name alone is only an admin signal. Other records fill the JSON API's
    /// vulnerabilities.
    /// A record file that cannot be read fails the whole import (nothing is written) unless
    /// --skip-invalid is given.
    Import {
        /// The feed: a folder, .tar.gz, .tgz or .zip.
        path: std::path::PathBuf,
        /// The source's name (what a later import of the same feed replaces); default: the
        /// folder's or archive's name.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Skip record files that cannot be read instead of failing the whole import: what
        /// they gave before is kept as it was (never retracted), each is named in the output
        /// and the import's event, and the command exits non-zero after importing the rest.
        #[arg(long)]
        skip_invalid: bool,
    },
    /// Write this index's malicious-package verdicts to DIR as OSV records, one `<id>.json`
    /// each (the malicious-packages layout; withdrawn ones marked withdrawn), each file
    /// replaced at once. DIR is created if missing and is a feed `admin osv import` reads.
    Export {
        /// The folder to write.
        dir: std::path::PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Withdraw one of this index's verdicts: its record stays, marked withdrawn, in the feed
    /// (`/osv/`) and the next export.
    Withdraw {
        /// The verdict's id (like STRONGROOM-MAL-2026-1).
        id: String,
        /// Why (kept in the record and the event).
        #[arg(long)]
        reason: String,
    },
}

/// Run one `admin osv` command.
pub(crate) async fn run(
    s: &Services,
    a: &Actor,
    m: &RequestMeta,
    command: OsvCommand,
) -> anyhow::Result<()> {
    match command {
        OsvCommand::Export { dir, json } => {
            let r = s.export_malicious_verdicts(&dir).await?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "wrote {} records ({} withdrawn) to {}",
                    r.written.len(),
                    r.withdrawn,
                    dir.display()
                );
            }
            Ok(())
        }
        OsvCommand::Withdraw { id, reason } => {
            let cap = s.operator_cap(a.clone());
            s.withdraw_malicious_verdict(&cap, &id, &reason, m).await?;
            println!("withdrew {id}");
            Ok(())
        }
        OsvCommand::Import {
            path,
            source,
            json,
            skip_invalid,
        } => {
            let source = match source {
                Some(n) => SourceName::new(&n)?,
                None => SourceName::from_path(&path)?,
            };
            let r = s
                .import_advisories(&path, &source, ImportOptions { skip_invalid }, a, m)
                .await?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
                return skipped_result(&r);
            }
            println!(
                "source {}: {} record files, {} advisories ({} record files name no Python package); added {}, updated {}, unchanged {}, withdrawn {}",
                r.source,
                r.records,
                r.advisories,
                r.other_ecosystems,
                r.counts.added,
                r.counts.updated,
                r.counts.unchanged,
                r.counts.withdrawn
            );
            for h in &r.held {
                println!("quarantined {h}: a file's sha256 is listed as malicious");
            }
            for h in &r.released {
                println!("published again {h}: the advisory that held it is withdrawn");
            }
            for n in &r.name_matches {
                println!(
                    "matched {} by name only ({}): admin signal, the local project is unchanged",
                    n.project, n.record
                );
            }
            for h in &r.hash_matches {
                println!(
                    "matched the sha256 of {} ({} {}) under the name {} ({}): admin signal, the local release is unchanged",
                    h.filename, h.project, h.version, h.named_project, h.record
                );
            }
            for k in &r.skipped {
                println!(
                    "skipped {}: {} (what it gave before is kept)",
                    k.path.escape_debug(),
                    k.error.escape_debug()
                );
            }
            skipped_result(&r)
        }
    }
}

/// A failure after an import that skipped record files (the rest is imported), so a
/// scheduled import does not hide them.
fn skipped_result(r: &strongroom_core::advisories::ImportSummary) -> anyhow::Result<()> {
    if r.skipped.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "source {}: imported, but {} record file(s) could not be read and were skipped ({} stored advisories kept as they were); fix or remove them",
        r.source,
        r.skipped.len(),
        r.kept
    )
}
