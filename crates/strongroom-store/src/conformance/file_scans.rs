//! Content scans (issue 13, migration 0026) and the scan hold on every backend: every file
//! keeps its scan row; a scan hold quarantines a new release (a new project's first one too)
//! whatever the project's age, and holds a file joining a published release; the previous
//! release is the newest published one before the upload; a live malicious record's sha256 is
//! found whatever project it names; the typosquat check's name lists are bounded.

use super::backends;
use super::safety::{DAY, T0, file, user};
use crate::download_log::{DownloadRecord, Origin};
use crate::file_scans::NewScan;
use crate::publish::{PublishOutcome, UploadPolicy};
use crate::{Db, NewMail};

fn scan(json: &str) -> Option<NewScan> {
    Some(NewScan {
        scanner_version: 1,
        scan: json.into(),
        score: 3,
        diff: None,
        held_reason: None,
    })
}

fn scan_hold() -> UploadPolicy {
    UploadPolicy {
        scan_hold: Some("score 15: new network".into()),
        scan_hold_mails: vec![NewMail {
            to: "admin@example.org".into(),
            subject: "held by scan".into(),
            body: "b".into(),
        }],
        ..UploadPolicy::default()
    }
}

async fn outbox_subjects(db: &Db) -> Vec<String> {
    db.outbox_recent(100)
        .await
        .expect("outbox")
        .into_iter()
        .map(|m| m.subject)
        .collect()
}

#[tokio::test]
async fn a_scan_hold_quarantines_a_new_release_and_holds_a_joining_file() {
    for (name, db, _dir) in backends().await {
        let bob = user(&db, "bob", T0 - DAY).await;
        let mut first = file("scanned", bob, "0.1", 0, T0);
        first.scan = scan("{\"a\":1}");
        let o = db.publish(&first, &UploadPolicy::default(), None).await;
        assert!(
            matches!(o, Ok(PublishOutcome::Published { .. })),
            "{name}: {o:?}"
        );
        let p = db.project_state("scanned").await.expect("p").expect("p");
        let rows = db.scans_of_release(p.id, "0.1").await.expect("scans");
        assert_eq!(rows.len(), 1, "{name}");
        assert_eq!(rows[0].scan, "{\"a\":1}", "{name}");

        // A lively project (released a minute ago): the scan alone quarantines 0.2.
        let mut second = file("scanned", bob, "0.2", 0, T0 + 60_000_000);
        second.scan = scan("{\"b\":2}");
        let o = db.publish(&second, &scan_hold(), None).await.expect("p");
        assert_eq!(
            o,
            PublishOutcome::Quarantined {
                release_created: true
            },
            "{name}"
        );
        let after = db.project_state("scanned").await.expect("p").expect("p");
        assert_eq!(after.last_serial, p.last_serial, "{name}: no journal entry");
        let visible: Vec<String> = db
            .releases_of(p.id)
            .await
            .expect("r")
            .into_iter()
            .map(|r| r.version)
            .collect();
        assert_eq!(visible, vec!["0.1"], "{name}: the earlier release stays");
        assert!(
            outbox_subjects(&db)
                .await
                .contains(&"held by scan".to_owned()),
            "{name}"
        );
        let events = db.events(0, 1000).await.expect("events");
        let q = events
            .iter()
            .find(|e| e.action == "release:quarantine")
            .expect("quarantine event");
        let d: serde_json::Value = serde_json::from_str(&q.details).expect("json");
        assert_eq!(d["reason"], "score 15: new network", "{name}");
        assert_eq!(d["scan"], true, "{name}");
        assert_eq!(
            db.scans_of_release(p.id, "0.2").await.expect("s").len(),
            1,
            "{name}: a held file has its scan row"
        );

        // The previous release of 0.2 (and of a 0.3 not yet made) is 0.1: 0.2 is quarantined.
        for v in ["0.2", "0.3"] {
            let prev = db
                .previous_release_scans(p.id, v, T0 + 120_000_000)
                .await
                .expect("prev")
                .expect("some");
            assert_eq!(prev.version, "0.1", "{name}");
            assert_eq!(prev.scans.len(), 1, "{name}");
            assert_eq!(prev.scans[0].scan, "{\"a\":1}", "{name}");
        }
        assert!(
            db.previous_release_scans(p.id, "0.1", T0 + 120_000_000)
                .await
                .expect("prev")
                .is_none(),
            "{name}: the first release has none"
        );

        // A file joining the published 0.1 under a scan hold is held on its own.
        let mut joining = file("scanned", bob, "0.1", 1, T0 + 180_000_000);
        joining.scan = scan("{\"c\":3}");
        let o = db.publish(&joining, &scan_hold(), None).await.expect("p");
        assert!(
            matches!(o, PublishOutcome::FileHeld { .. }),
            "{name}: {o:?}"
        );
        let held = db.events(0, 1000).await.expect("events");
        let h = held
            .iter()
            .find(|e| e.action == "file:held")
            .expect("held event");
        let d: serde_json::Value = serde_json::from_str(&h.details).expect("json");
        assert_eq!(d["scan"], true, "{name}");
        let files: Vec<String> = db
            .files_of(p.id)
            .await
            .expect("f")
            .into_iter()
            .map(|f| f.filename)
            .collect();
        assert_eq!(files, vec![first.filename.clone()], "{name}");
        // The held file does not count in the previous release's scans.
        let prev = db
            .previous_release_scans(p.id, "0.4", T0 + 240_000_000)
            .await
            .expect("prev")
            .expect("some");
        assert_eq!(prev.scans.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn a_scan_hold_quarantines_a_new_projects_first_release() {
    for (name, db, _dir) in backends().await {
        let bob = user(&db, "bob", T0 - DAY).await;
        let f = file("reqeusts", bob, "0.0.1", 0, T0);
        let o = db.publish(&f, &scan_hold(), None).await.expect("p");
        assert_eq!(
            o,
            PublishOutcome::Quarantined {
                release_created: true
            },
            "{name}"
        );
        let p = db.project_state("reqeusts").await.expect("p").expect("p");
        assert!(db.releases_of(p.id).await.expect("r").is_empty(), "{name}");
        let actions: Vec<String> = db
            .events(0, 1000)
            .await
            .expect("e")
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert!(
            actions.contains(&"project:create".to_owned())
                && actions.contains(&"release:quarantine".to_owned()),
            "{name}: {actions:?}"
        );
    }
}

#[tokio::test]
async fn malicious_hashes_and_popular_names_are_found() {
    for (name, db, _dir) in backends().await {
        let bob = user(&db, "bob", T0 - DAY).await;
        let rows = vec![
            crate::advisories::AdvisoryRow {
                id: "MAL-2026-1".into(),
                project: "elsewhere".into(),
                malicious: true,
                withdrawn: false,
                doc: "{}".into(),
                path: "elsewhere/MAL-2026-1.json".into(),
                sha256: vec!["ab".repeat(32)],
            },
            crate::advisories::AdvisoryRow {
                id: "MAL-2026-2".into(),
                project: "gone".into(),
                malicious: true,
                withdrawn: true,
                doc: "{}".into(),
                path: "gone/MAL-2026-2.json".into(),
                sha256: vec!["cd".repeat(32)],
            },
        ];
        db.import_advisories(
            "feed",
            &rows,
            &crate::NewEvent {
                at: T0,
                action: "advisories:import".into(),
                subject_kind: "site".into(),
                ..crate::NewEvent::default()
            },
        )
        .await
        .expect("import");
        let hit = db
            .malicious_records_naming(&"AB".repeat(32))
            .await
            .expect("q");
        assert_eq!(hit.len(), 1, "{name}");
        assert_eq!(
            (hit[0].id.as_str(), hit[0].project.as_str()),
            ("MAL-2026-1", "elsewhere")
        );
        assert!(
            db.malicious_records_naming(&"cd".repeat(32))
                .await
                .expect("q")
                .is_empty(),
            "{name}: a withdrawn record names nothing"
        );

        let fp = db.releases_fingerprint().await.expect("fp");
        assert_eq!(fp, (0, 0), "{name}");
        // The newest published release's metadata of each project, bounded.
        for (i, p) in ["alpha", "beta", "gamma"].iter().enumerate() {
            let mut f = file(p, bob, "1.0", 0, T0 + i as i64);
            f.core_metadata = format!("Metadata-Version: 2.1\nName: {p}\nVersion: 1.0\n");
            db.publish_file(&f).await.expect("p");
        }
        let mut newer = file("alpha", bob, "2.0", 0, T0 + 10);
        newer.core_metadata =
            "Metadata-Version: 2.1\nName: alpha\nVersion: 2.0\nRequires-Dist: beta\n".into();
        db.publish_file(&newer).await.expect("p");
        let held = file("beta", bob, "9.0", 0, T0 + 20);
        db.publish(&held, &scan_hold(), None).await.expect("p");
        let fp = db.releases_fingerprint().await.expect("fp");
        assert_eq!(fp.0, 5, "{name}: held releases count");
        let md = db.latest_release_metadata(10).await.expect("md");
        assert_eq!(md.len(), 3, "{name}: {md:?}");
        let alpha = md.iter().find(|(n, _)| n == "alpha").expect("alpha");
        assert!(alpha.1.contains("Requires-Dist: beta"), "{name}");
        let beta = md.iter().find(|(n, _)| n == "beta").expect("beta");
        assert!(beta.1.contains("Version: 1.0"), "{name}: not the held 9.0");
        assert_eq!(db.latest_release_metadata(2).await.expect("md").len(), 2);

        // Upstream names by downloads served, bounded.
        let rec = |project: &str, origin: Origin| DownloadRecord {
            origin,
            project: project.into(),
            version: "1".into(),
            filename: format!("{project}-1.tar.gz"),
            sha256: "ef".repeat(32),
            at: T0,
            ip: None,
            user_agent: None,
        };
        let batch = vec![
            rec("numpy", Origin::Upstream),
            rec("numpy", Origin::Upstream),
            rec("six", Origin::Upstream),
            rec("alpha", Origin::Local),
        ];
        db.insert_downloads(&batch).await.expect("downloads");
        assert_eq!(
            db.upstream_names_served(10).await.expect("names"),
            vec!["numpy".to_owned(), "six".to_owned()],
            "{name}"
        );
        assert_eq!(
            db.upstream_names_served(1).await.expect("names"),
            vec!["numpy".to_owned()],
            "{name}"
        );
        // A page the gateway served counts after the downloaded names; a "not found" does not.
        for (project, page) in [("famous", Some("{}")), ("made-up", None)] {
            db.save_upstream_page(&crate::upstream_pages::NewUpstreamPage {
                project,
                upstream_url: "http://a/simple/",
                page,
                etag: None,
                now: T0,
            })
            .await
            .expect("page");
        }
        assert_eq!(
            db.upstream_names_served(10).await.expect("names"),
            vec!["numpy".to_owned(), "six".to_owned(), "famous".to_owned()],
            "{name}"
        );
    }
}
