//! `strongroom admin fsck [--repair] [--json]`: check the data (`core::fsck`) and print one line
//! per finding. Exit 0: nothing found (or everything found was repaired); 1: findings; 2: the
//! check could not run. The database's own check runs first, on the bare database: a damaged
//! SQLite file is reported as such and the other checks are skipped (they would read it).

use std::path::PathBuf;

use strongroom_core::fsck::{Finding, FindingKind, FsckReport, check_database};
use strongroom_store::Db;

use crate::config::{Config, Storage};

/// Run fsck; never returns an error (a check that cannot run exits 2).
pub(crate) async fn run(config: &Config, repair: bool, json: bool) -> anyhow::Result<()> {
    match check(config, repair).await {
        Ok((report, skipped)) => {
            print_report(&report, skipped, json)?;
            std::process::exit(i32::from(report.has_open_findings()));
        }
        Err(e) => {
            eprintln!("fsck could not check the data: {e:#}");
            std::process::exit(2);
        }
    }
}

/// The report, and whether the checks after the database's own were skipped.
async fn check(config: &Config, repair: bool) -> anyhow::Result<(FsckReport, bool)> {
    let db = match Db::connect_with(&config.database, &config.db).await {
        Ok(db) => db,
        // Too damaged to open at all: that is the finding.
        Err(e) if e.is_corruption() => {
            let f = Finding {
                kind: FindingKind::DatabaseDamaged,
                subject: "database".into(),
                detail: e.to_string(),
                repair: FindingKind::DatabaseDamaged.repair(),
                repaired: false,
            };
            return Ok((
                FsckReport {
                    findings: vec![f],
                    ..FsckReport::default()
                },
                true,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let damaged = check_database(&db, true).await?;
    db.close().await;
    if !damaged.is_empty() {
        return Ok((
            FsckReport {
                findings: damaged,
                ..FsckReport::default()
            },
            true,
        ));
    }
    let services = super::open(config, super::DataFolder::Existing).await?;
    let report = services.fsck(&temp_dirs(config, &services), repair).await?;
    Ok((report, false))
}

/// The folders upload temp files live in (as `serve` sweeps them).
fn temp_dirs(config: &Config, services: &strongroom_core::Services) -> Vec<PathBuf> {
    let data_temp = config.data.join("tmp");
    let mut dirs = vec![data_temp.clone()];
    if let Storage::Local(_) = &config.storage {
        let t = services.blobs.temp_dir(&data_temp);
        if t != data_temp {
            dirs.push(t);
        }
    }
    dirs
}

fn print_report(report: &FsckReport, skipped: bool, json: bool) -> anyhow::Result<()> {
    if json {
        let mut v = serde_json::to_value(report)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("skipped_after_database".into(), skipped.into());
            o.insert("clean".into(), (!report.has_open_findings()).into());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    for f in &report.findings {
        println!("{}", Finding::line(f));
    }
    if skipped {
        println!(
            "the database is damaged: the blob, journal and event checks were skipped (they read it)"
        );
        return Ok(());
    }
    let open = report.findings.iter().filter(|f| !f.repaired).count();
    let repaired = report.findings.len() - open;
    println!(
        "fsck: {} file(s) read, {} object(s) listed, {} event(s) verified; {} finding(s){}",
        report.files_checked,
        report.objects_listed,
        report.events_checked,
        open,
        if repaired > 0 {
            format!(", {repaired} repaired")
        } else {
            String::new()
        }
    );
    Ok(())
}
