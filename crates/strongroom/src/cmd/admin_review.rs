//! `strongroom admin review ...`: the review queue (`core::review_queue`) at the terminal: the
//! held releases (`r<id>`) and files (`f<id>`), one item's files, findings (snippets escaped for
//! the terminal) and capability diff in words, and the decisions, each logged with the operator
//! as actor (`cli:$USER`) and the `--reason` given.

use clap::Subcommand;
use strongroom_core::admin::AdminCap;
use strongroom_core::clock::iso8601_seconds;
use strongroom_core::review_queue::{ReviewItem, StoredScan};
use strongroom_core::{RequestMeta, Services};

use super::terminal_text::shown;

/// `strongroom admin review ...`
#[derive(Subcommand, Debug)]
pub(crate) enum ReviewCommand {
    /// The items held for review, oldest first: id (r<release> or f<file>), project, version,
    /// held since, score (`-`: not scanned), findings, files, reason.
    List {
        /// One JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One item: its files (sha256, size, uploader), the reason, each scan's score, findings
    /// with their snippets, and the capability diff against the previous release.
    Show {
        /// The item (r<number> or f<number>, from `review list`).
        id: String,
        /// JSON instead of text (snippets raw, as JSON escapes them).
        #[arg(long)]
        json: bool,
    },
    /// Publish the item (a release: its files not held on their own; a file: that file).
    Approve {
        /// The item (r<number> or f<number>).
        id: String,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Reject the item as malicious: a release is removed, a held file deleted (filenames stay
    /// used for good), and a malicious-package verdict recorded.
    Reject {
        /// The item (r<number> or f<number>).
        id: String,
        /// Why (required; recorded in the event log and PUBLISHED as written: it is the
        /// `details` of the verdict's OSV record at /osv/, so describe the behaviour, not
        /// internal notes).
        #[arg(long)]
        reason: String,
    },
}

/// Run one `admin review` command.
pub(crate) async fn run(
    s: &Services,
    cap: &AdminCap,
    m: &RequestMeta,
    command: ReviewCommand,
) -> anyhow::Result<()> {
    match command {
        ReviewCommand::List { json } => {
            let items = s.review_list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
                return Ok(());
            }
            if items.is_empty() {
                println!("nothing is held for review");
            }
            for i in &items {
                println!(
                    "{}\t{}\t{}\t{}Z\tscore {}\t{} finding(s)\t{}\t{}",
                    i.id,
                    shown(&i.project),
                    shown(&i.version),
                    iso8601_seconds(i.held_at),
                    i.score.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    i.findings,
                    shown(&i.files.join(", ")),
                    shown(i.reason.as_deref().unwrap_or("")),
                );
            }
        }
        ReviewCommand::Show { id, json } => {
            let item = s.review_show(&id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&item)?);
            } else {
                print!("{}", item_text(&item));
            }
        }
        ReviewCommand::Approve { id, reason } => {
            let d = s.review_approve(cap, &id, &reason, m).await?;
            println!(
                "published {} {}: {}",
                shown(&d.project),
                shown(&d.version),
                shown(&d.published.join(", "))
            );
            for f in &d.still_held {
                println!(
                    "still held for its own review: {} (`strongroom admin review list`)",
                    shown(f)
                );
            }
        }
        ReviewCommand::Reject { id, reason } => {
            let d = s.review_reject(cap, &id, &reason, m).await?;
            println!(
                "rejected {} {}: removed {} (the filenames cannot be reused)",
                shown(&d.project),
                shown(&d.version),
                shown(&d.removed.join(", "))
            );
            if let Some(v) = &d.verdict_id {
                println!("malicious-package verdict recorded: {}", shown(v));
            }
        }
    }
    Ok(())
}

/// The item as text for the terminal: every value from an upload escaped.
fn item_text(i: &ReviewItem) -> String {
    let mut out = format!(
        "{} {} {}\nheld since {}Z: {}\nscore: {}\n",
        i.id,
        shown(&i.project),
        shown(&i.version),
        iso8601_seconds(i.held_at),
        shown(i.reason.as_deref().unwrap_or("(no reason recorded)")),
        i.score
            .map_or_else(|| "not scanned".to_owned(), |s| s.to_string()),
    );
    if !i.diff_words.is_empty() {
        out.push_str("changes since the previous release:\n");
        for w in &i.diff_words {
            out.push_str(&format!("  {}\n", shown(w)));
        }
    }
    for f in &i.files {
        out.push_str(&format!(
            "file {}\n  sha256 {}  {} bytes  uploaded {}Z by {}\n",
            shown(&f.filename),
            f.sha256,
            f.size,
            iso8601_seconds(f.uploaded_at),
            shown(f.uploader.as_deref().unwrap_or("(unknown)")),
        ));
        if let Some(r) = &f.held_reason {
            out.push_str(&format!("  held: {}\n", shown(r)));
        }
        match &f.scan {
            None => out.push_str("  no scan stored for this file\n"),
            Some(scan) => out.push_str(&scan_text(scan)),
        }
    }
    if !i.held_apart.is_empty() {
        let ids: Vec<String> = i.held_apart.iter().map(ToString::to_string).collect();
        out.push_str(&format!(
            "held on their own (approve or reject each; rejecting this release removes them too): {}\n",
            ids.join(", ")
        ));
    }
    out
}

fn scan_text(scan: &StoredScan) -> String {
    let mut out = format!(
        "  scan: score {} (scanner {}, {}Z)\n",
        scan.score,
        scan.scanner_version,
        iso8601_seconds(scan.scanned_at)
    );
    if let Some(u) = &scan.unreadable {
        out.push_str(&format!(
            "  the stored scan could not be read: {}\n",
            shown(u)
        ));
    }
    for (path, caps) in &scan.capabilities {
        let names: Vec<&str> = caps.iter().map(|c| c.as_str()).collect();
        out.push_str(&format!("  {}: {}\n", shown(path), names.join(", ")));
    }
    if scan.findings.is_empty() {
        out.push_str("  no findings\n");
    }
    for f in &scan.findings {
        let at = f.line.map(|l| format!(":{l}")).unwrap_or_default();
        out.push_str(&format!(
            "  [{}] {} {}{at}: {}\n      {}\n",
            serde_json::to_value(f.severity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            f.rule,
            shown(&f.path),
            shown(&f.message),
            shown(&f.snippet),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use strongroom_core::review_queue::{ItemKind, ReviewFile, ReviewId, ReviewItem, StoredScan};
    use strongroom_scan::{Capability, Finding, Rule, Severity};

    /// A snippet with a terminal escape and a bidi override is shown escaped; the diff reads as
    /// words; a file without a scan says so.
    #[test]
    fn the_item_text_escapes_snippets_and_reads_the_diff() {
        let finding = Finding {
            rule: Rule::EnvExfiltration,
            severity: Severity::High,
            path: "ctx.py".into(),
            line: Some(3),
            snippet: "x = os.environ \u{1b}[2J\u{202e}gnp.".into(),
            message: "env to network".into(),
        };
        let scan = StoredScan {
            scanner_version: 1,
            score: 40,
            scanned_at: 1_700_000_000_000_000,
            held_reason: None,
            capabilities: BTreeMap::from([(
                "ctx.py".to_owned(),
                BTreeSet::from([Capability::Network]),
            )]),
            findings: vec![finding],
            diff: None,
            diff_words: Vec::new(),
            unreadable: None,
        };
        let file = |name: &str, scan: Option<StoredScan>| ReviewFile {
            file_id: 1,
            filename: name.into(),
            sha256: "ab".repeat(32),
            size: 10,
            uploader: Some("alice".into()),
            uploaded_at: 1_700_000_000_000_000,
            held_reason: None,
            scan,
        };
        let item = ReviewItem {
            id: ReviewId {
                kind: ItemKind::Release,
                id: 7,
            },
            kind: ItemKind::Release,
            project: "ctx".into(),
            version: "0.2".into(),
            held_at: 1_700_000_000_000_000,
            reason: Some("dormant".into()),
            files: vec![
                file("ctx-0.2.whl", Some(scan)),
                file("ctx-0.2.tar.gz", None),
            ],
            score: Some(40),
            diff_words: vec!["adds environment-read, network to ctx.py".into()],
            held_apart: vec![ReviewId {
                kind: ItemKind::File,
                id: 9,
            }],
        };
        let out = super::item_text(&item);
        assert!(out.starts_with("r7 ctx 0.2\n"), "{out}");
        assert!(
            out.contains("  adds environment-read, network to ctx.py\n"),
            "{out}"
        );
        assert!(
            out.contains("[high] SR-M1-env-exfiltration ctx.py:3: env to network"),
            "{out}"
        );
        assert!(
            out.contains("x = os.environ \\u{1b}[2J\\u{202e}gnp."),
            "{out}"
        );
        assert!(!out.contains('\u{1b}') && !out.contains('\u{202e}'));
        assert!(out.contains("no scan stored for this file"), "{out}");
        assert!(out.contains("f9"), "{out}");
    }
}
