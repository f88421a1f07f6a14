//! `strongroom admin impact PROJECT [--version V] [--since T] [--json|--csv]`: the impact report
//! (`core::impact`), what the ctx incident report worked out by hand: each file's installable
//! window and downloads, downloads per file per day, page reads against downloads by client
//! kind, the client addresses (listed while on record, counted per day after), the local
//! projects that depend on it, and the incident's events. Text escapes every field the
//! clients or uploaders wrote (`super::terminal_text`); `--json` is one document, exact;
//! `--csv` is one table of rows `section,...` (RFC 4180 quoting).

use clap::Args;
use strongroom_core::Services;
use strongroom_core::clock::iso8601_seconds;
use strongroom_core::impact::{ImpactQuery, ImpactReport};

use super::terminal_text::shown;

/// `admin impact`'s arguments.
#[derive(Args, Debug)]
pub(crate) struct ImpactArgs {
    /// The project (any spelling; local, or upstream through the gateway).
    project: String,
    /// One version only (files, downloads and addresses; page reads are per project).
    #[arg(long, value_name = "V")]
    version: Option<String>,
    /// From this time on: RFC 3339 (2026-05-21T08:00:00Z) or a date (its midnight UTC).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// One JSON document instead of text.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// CSV rows (first column: the section) instead of text.
    #[arg(long)]
    csv: bool,
}

/// Run `admin impact`.
pub(crate) async fn run(s: &Services, args: ImpactArgs) -> anyhow::Result<()> {
    let q = ImpactQuery::parse(
        &args.project,
        args.version.as_deref(),
        args.since.as_deref(),
    )?;
    let report = s.impact_report(&q).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json(&report))?);
    } else if args.csv {
        print!("{}", csv(&report));
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

fn time(at: i64) -> String {
    format!("{}Z", iso8601_seconds(at))
}

fn day(at: i64) -> String {
    time(at)[..10].to_owned()
}

fn opt_time(at: Option<i64>) -> Option<String> {
    at.map(time)
}

/// The report as JSON, times as RFC 3339 text beside nothing else changed.
fn json(r: &ImpactReport) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
    v["since"] = serde_json::json!((r.since > 0).then(|| time(r.since)));
    v["files"] = r
        .files
        .iter()
        .map(|f| {
            serde_json::json!({
                "version": f.version, "filename": f.filename, "sha256": f.sha256,
                "uploaded_at": opt_time(f.uploaded_at),
                "installable_from": opt_time(f.installable_from),
                "installable_until": opt_time(f.installable_until),
                "ended_by": f.ended_by, "downloads": f.downloads,
            })
        })
        .collect();
    v["daily"] = r
        .daily
        .iter()
        .map(|d| {
            serde_json::json!({
                "day": day(d.day), "origin": d.origin, "version": d.version,
                "filename": d.filename, "count": d.count,
            })
        })
        .collect();
    v["page_hits_daily"] = r
        .page_hits_daily
        .iter()
        .map(|(d, n)| serde_json::json!({"day": day(*d), "count": n}))
        .collect();
    v["clients"] = r
        .clients
        .iter()
        .map(|c| {
            serde_json::json!({
                "ip": c.ip, "version": c.version, "downloads": c.downloads,
                "first": time(c.first), "last": time(c.last),
            })
        })
        .collect();
    v["events"] = r
        .events
        .iter()
        .map(|e| {
            serde_json::json!({
                "at": time(e.at), "kind": e.kind, "action": e.action, "actor": e.actor,
                "version": e.version, "filename": e.filename,
            })
        })
        .collect();
    v
}

/// One CSV field (RFC 4180: quoted when it holds a comma, a quote or a line break; a leading
/// `=`, `+`, `-` or `@` gets a `'` so a spreadsheet does not run it as a formula).
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv(r: &ImpactReport) -> String {
    let mut out = String::new();
    let mut row = |cells: &[String]| {
        out.push_str(&cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    };
    let o = |t: Option<i64>| t.map(time).unwrap_or_default();
    row(&[
        "section".into(),
        "a".into(),
        "b".into(),
        "c".into(),
        "d".into(),
        "e".into(),
        "f".into(),
    ]);
    for f in &r.files {
        row(&[
            "file".into(),
            f.version.clone(),
            f.filename.clone(),
            f.sha256.clone(),
            o(f.installable_from),
            o(f.installable_until),
            f.downloads.to_string(),
        ]);
    }
    for d in &r.daily {
        row(&[
            "daily".into(),
            day(d.day),
            d.origin.into(),
            d.version.clone(),
            d.filename.clone(),
            d.count.to_string(),
            String::new(),
        ]);
    }
    for k in &r.kinds {
        row(&[
            "kind".into(),
            k.kind.as_str().into(),
            k.page_hits.to_string(),
            k.downloads.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    for c in &r.clients {
        row(&[
            "client".into(),
            c.ip.clone(),
            c.version.clone(),
            c.downloads.to_string(),
            time(c.first),
            time(c.last),
            String::new(),
        ]);
    }
    for d in &r.dependents {
        row(&[
            "dependent".into(),
            d.project.clone(),
            d.version.clone(),
            d.requirement.clone(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    for e in &r.events {
        row(&[
            "event".into(),
            time(e.at),
            e.kind.as_str().into(),
            e.action.clone(),
            e.actor.clone(),
            e.version.clone().unwrap_or_default(),
            e.filename.clone().unwrap_or_default(),
        ]);
    }
    out
}

fn text(r: &ImpactReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "impact of {}{}{}{}",
        r.project,
        r.version
            .as_deref()
            .map(|v| format!(" {}", shown(v)))
            .unwrap_or_default(),
        if r.since > 0 {
            format!(" since {}", time(r.since))
        } else {
            String::new()
        },
        if r.local {
            ""
        } else {
            " (not a local project)"
        }
    );
    let _ = writeln!(out, "\nfiles (installable from, until, downloads):");
    if r.files.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for f in &r.files {
        let until = match (f.installable_until, f.ended_by) {
            (Some(t), Some(why)) => format!(
                "{} ({})",
                time(t),
                serde_json::to_value(why)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            (Some(t), None) => time(t),
            (None, _) if f.installable_from.is_some() => "still installable".into(),
            (None, _) => "-".into(),
        };
        let _ = writeln!(
            out,
            "  {}\t{}\t{}\t{}\t{}",
            shown(&f.version),
            shown(&f.filename),
            f.installable_from
                .map(time)
                .unwrap_or_else(|| "never".into()),
            until,
            f.downloads
        );
    }
    let _ = writeln!(out, "\ndownloads per day:");
    for d in &r.daily {
        let _ = writeln!(
            out,
            "  {}\t{}\t{}\t{}",
            day(d.day),
            d.origin,
            shown(&d.filename),
            d.count
        );
    }
    let _ = writeln!(
        out,
        "\nby client kind (page reads, downloads; {} downloads carry a kind):",
        r.downloads_with_kind
    );
    for k in &r.kinds {
        let _ = writeln!(out, "  {}\t{}\t{}", k.kind, k.page_hits, k.downloads);
    }
    let _ = writeln!(
        out,
        "\nclient addresses (kept {} days, then counted per day):",
        r.retention_days
    );
    for a in &r.addresses {
        let _ = writeln!(
            out,
            "  {}\t{} distinct on record\t{} per folded day (summed)",
            shown(&a.version),
            a.on_record,
            a.folded_day_sum
        );
    }
    for c in &r.clients {
        let _ = writeln!(
            out,
            "  {}\t{}\t{}\t{}\t{}",
            shown(&c.ip),
            shown(&c.version),
            c.downloads,
            time(c.first),
            time(c.last)
        );
    }
    if r.clients_truncated {
        let _ = writeln!(out, "  (more addresses than shown)");
    }
    let _ = writeln!(out, "\nlocal projects depending on it:");
    if r.dependents.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for d in &r.dependents {
        let _ = writeln!(
            out,
            "  {} {}\t{}",
            shown(&d.project),
            shown(&d.version),
            shown(&d.requirement)
        );
    }
    let _ = writeln!(out, "\nevents:");
    for e in &r.events {
        let _ = writeln!(
            out,
            "  {}\t{}\t{}\t{}\t{}",
            time(e.at),
            e.kind.as_str(),
            shown(&e.actor),
            shown(e.version.as_deref().unwrap_or("-")),
            shown(e.filename.as_deref().unwrap_or("-"))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("-1,2"), "\"'-1,2\"");
    }
}
