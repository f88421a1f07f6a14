//! `strongroom admin upstream log --project NAME [--since T] [--json]`: the download log of one
//! project (`core::download_log`), to answer "did any of our machines install ctx 0.2.2, and
//! which?": every download still on record (time, origin, version, filename, sha256, client
//! address, user agent), the files with their first download, and the daily counts of
//! downloads older than `downloads.retention_days`. The text form escapes control, bidi and tab
//! characters in every field (`super::terminal_text`: user agents are the client's words,
//! filenames the upstream's); `--json` keeps them exact.

use clap::Args;
use strongroom_core::Services;
use strongroom_core::clock::iso8601_seconds;
use strongroom_core::download_log::{DEFAULT_LIMIT, LogQuery, ProjectDownloads};

use super::terminal_text::shown;

/// `admin upstream log`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct LogArgs {
    /// The project (any spelling of its name; local or upstream).
    #[arg(long)]
    project: String,
    /// Only downloads from this time on: RFC 3339 (2026-05-21T08:00:00Z) or a date (its
    /// midnight UTC).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// At most this many downloads (newest first) and as many daily counts.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIMIT)]
    limit: i64,
    /// JSON lines (`"kind"`: `download`, `file` or `count`) instead of text.
    #[arg(long)]
    json: bool,
}

/// Run `admin upstream log`.
pub(crate) async fn run(s: &Services, args: LogArgs) -> anyhow::Result<()> {
    let q = LogQuery::parse(&args.project, args.since.as_deref())?;
    if args.limit < 1 {
        anyhow::bail!("--limit must be at least 1");
    }
    let log = s.download_log_of(&q.project, q.since, args.limit).await?;
    if args.json {
        for line in json_lines(&log) {
            println!("{line}");
        }
    } else {
        print!(
            "{}",
            text(&q, &log, s.settings.downloads.retention_days, args.limit)
        );
    }
    Ok(())
}

fn time(at: i64) -> String {
    format!("{}Z", iso8601_seconds(at))
}

fn json_lines(log: &ProjectDownloads) -> Vec<String> {
    let mut out = Vec::new();
    for d in &log.downloads {
        out.push(
            serde_json::json!({
                "kind": "download",
                "at": time(d.at),
                "origin": d.origin.as_str(),
                "project": d.project,
                "version": d.version,
                "filename": d.filename,
                "sha256": d.sha256,
                "ip": d.ip,
                "user_agent": d.user_agent,
            })
            .to_string(),
        );
    }
    for f in &log.files {
        out.push(
            serde_json::json!({
                "kind": "file",
                "origin": f.origin.as_str(),
                "version": f.version,
                "filename": f.filename,
                "sha256": f.sha256,
                "first_seen": time(f.first_seen),
                "downloads": f.downloads,
            })
            .to_string(),
        );
    }
    for c in &log.counts {
        out.push(
            serde_json::json!({
                "kind": "count",
                "day": time(c.day)[..10],
                "origin": c.origin.as_str(),
                "project": c.project,
                "version": c.version,
                "filename": c.filename,
                "sha256": c.sha256,
                "count": c.count,
            })
            .to_string(),
        );
    }
    out
}

fn text(q: &LogQuery, log: &ProjectDownloads, retention_days: u64, limit: i64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let since = if q.since > 0 {
        format!(" since {}", time(q.since))
    } else {
        String::new()
    };
    if log.downloads.is_empty() && log.counts.is_empty() && log.files.is_empty() {
        let _ = writeln!(out, "no downloads of {} on record{since}", q.project);
        return out;
    }
    let _ = writeln!(
        out,
        "downloads of {}{since}, newest first (client addresses kept {retention_days} days):",
        q.project
    );
    if log.downloads.is_empty() {
        let _ = writeln!(out, "  (none with an address)");
    }
    for d in &log.downloads {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            time(d.at),
            d.origin.as_str(),
            shown(&d.version),
            shown(&d.filename),
            shown(&d.sha256),
            shown(d.ip.as_deref().unwrap_or("-")),
            shown(d.user_agent.as_deref().unwrap_or("-")),
        );
    }
    if log.downloads.len() as i64 >= limit {
        let _ = writeln!(
            out,
            "(the newest {limit} shown; --limit or --since for more)"
        );
    }
    if !log.files.is_empty() {
        let _ = writeln!(out, "\nfiles (first seen, downloads in all):");
        for f in &log.files {
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}",
                time(f.first_seen),
                f.origin.as_str(),
                shown(&f.version),
                shown(&f.filename),
                shown(&f.sha256),
                f.downloads
            );
        }
    }
    if !log.counts.is_empty() {
        let _ = writeln!(
            out,
            "\nolder downloads, counted per day (addresses no longer kept):"
        );
        for c in &log.counts {
            let _ = writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}",
                &time(c.day)[..10],
                c.origin.as_str(),
                shown(&c.version),
                shown(&c.filename),
                shown(&c.sha256),
                c.count
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use strongroom_core::download_log::{DownloadRecord, Origin};

    /// RT12 F7: a user agent with an 8-bit CSI, a bidi override and a tab reached the admin's
    /// terminal raw and forged a column; the text form escapes them, JSON keeps them exact.
    #[test]
    fn hostile_user_agents_are_escaped_in_text_and_exact_in_json() {
        let ua = "pip/1.0 \u{9b}31mC1CSI \u{202e} reversed\tforged-column";
        let log = ProjectDownloads {
            downloads: vec![DownloadRecord {
                origin: Origin::Upstream,
                project: "meta-lib".into(),
                version: "1.0".into(),
                filename: "meta_lib-1.0-py3-none-any.whl".into(),
                sha256: "a".repeat(64),
                at: 1_767_225_600_000_000,
                ip: Some("127.0.0.1".into()),
                user_agent: Some(ua.into()),
            }],
            ..ProjectDownloads::default()
        };
        let q = LogQuery::parse("meta-lib", None).expect("query");
        let out = text(&q, &log, 90, 10);
        let row = out
            .lines()
            .find(|l| l.contains("meta_lib-1.0"))
            .expect("the download's line");
        assert_eq!(row.split('\t').count(), 7, "{row:?}");
        assert!(
            row.ends_with("\tpip/1.0 \\u{9b}31mC1CSI \\u{202e} reversed\\tforged-column"),
            "{row:?}"
        );
        assert!(
            !out.chars()
                .any(|c| c.is_control() && c != '\t' && c != '\n' || c == '\u{202e}'),
            "{out:?}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&json_lines(&log)[0]).expect("json line");
        assert_eq!(json["user_agent"], ua);
    }
}
