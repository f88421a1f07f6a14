//! OSV advisories (issue 12, migration 0024) on every backend: an import is a snapshot of its
//! source (retractions counted), bumps the upstream generation, indexes the sha256s of live
//! malicious records only, and an advisory's hold of a local release ends only its own quarantine.
//! A hash is a local file's only under the record's own project name; under another name it is
//! a separate signal list.

use super::backends;
use super::safety::{T0, file, user};
use crate::NewEvent;
use crate::advisories::AdvisoryRow;
use crate::publish::{PublishOutcome, UploadPolicy};

fn row(id: &str, project: &str, malicious: bool, withdrawn: bool, sha: &[&str]) -> AdvisoryRow {
    AdvisoryRow {
        id: id.into(),
        project: project.into(),
        malicious,
        withdrawn,
        doc: format!("{{\"id\":\"{id}\",\"w\":{withdrawn}}}"),
        path: format!("{project}/{id}.json"),
        sha256: sha.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn ev() -> NewEvent {
    NewEvent {
        at: T0,
        action: "advisories:import".into(),
        subject_kind: "site".into(),
        details: serde_json::json!({}),
        ..NewEvent::default()
    }
}

#[tokio::test]
async fn an_import_is_a_snapshot_and_holds_end_only_their_own_quarantine() {
    for (name, db, _dir) in backends().await {
        assert!(!db.any_advisory_source().await.expect("any"), "{name}");
        let bob = user(&db, "bob", T0).await;
        let f = file("victim", bob, "1.0", 0, T0);
        let o = db
            .publish(&f, &UploadPolicy::default(), None)
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Published { .. }),
            "{name}: {o:?}"
        );
        let g0 = db.upstream_generation().await.expect("g");

        let first = vec![
            row("MAL-1", "victim", true, false, &[&f.sha256]),
            row("PYSEC-1", "victim", false, false, &[]),
            row("MAL-2", "other", true, true, &[&f.sha256]),
        ];
        let c = db
            .import_advisories("feed", &first, &ev())
            .await
            .expect("import");
        assert_eq!((c.added, c.updated, c.withdrawn), (3, 0, 0), "{name}");
        assert!(c.generation > g0, "{name}: the generation moves");
        assert!(db.any_advisory_source().await.expect("any"), "{name}");
        assert_eq!(
            db.advisories_of_project("victim").await.expect("a").len(),
            2
        );
        let named = db.local_files_named_by_advisories().await.expect("named");
        assert_eq!(named.len(), 1, "{name}: the withdrawn MAL-2 names nothing");
        assert_eq!(
            (named[0].record.as_str(), named[0].version.as_str()),
            ("MAL-1", "1.0")
        );

        let mut tx = db.begin_admin().await.expect("tx");
        let held = tx
            .hold_release_for_advisory(
                named[0].release_id,
                "feed",
                "MAL-1",
                &f.sha256,
                "malicious (MAL-1)",
                T0,
            )
            .await
            .expect("hold");
        assert!(held, "{name}");
        tx.commit(&[], &[]).await.expect("commit");
        let pid = db.project_state("victim").await.expect("p").expect("p").id;
        let quarantined = |rs: Vec<crate::admin::ReleaseState>| rs[0].quarantine_reason.clone();
        assert_eq!(
            quarantined(db.releases_any_state(pid).await.expect("r")).as_deref(),
            Some("malicious (MAL-1)"),
            "{name}"
        );
        let holds = db.advisory_holds().await.expect("holds");
        assert!(
            holds.len() == 1 && holds[0].still_named,
            "{name}: {holds:?}"
        );
        // Holding again is a no-op.
        let mut tx = db.begin_admin().await.expect("tx");
        assert!(
            !tx.hold_release_for_advisory(named[0].release_id, "feed", "MAL-1", &f.sha256, "x", T0)
                .await
                .expect("hold")
        );
        drop(tx);

        // Re-import without MAL-1 and with PYSEC-1 changed: a snapshot.
        let second = vec![
            AdvisoryRow {
                doc: "{\"changed\":1}".into(),
                ..row("PYSEC-1", "victim", false, false, &[])
            },
            row("MAL-2", "other", true, true, &[]),
        ];
        let c = db
            .import_advisories("feed", &second, &ev())
            .await
            .expect("import");
        assert_eq!(
            (c.added, c.updated, c.unchanged, c.withdrawn),
            (0, 1, 1, 1),
            "{name}"
        );
        let holds = db.advisory_holds().await.expect("holds");
        assert!(
            holds.len() == 1 && !holds[0].still_named,
            "{name}: {holds:?}"
        );
        let mut tx = db.begin_admin().await.expect("tx");
        assert!(
            tx.end_advisory_hold(holds[0].release_id)
                .await
                .expect("end"),
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert!(
            db.advisory_holds().await.expect("holds").is_empty(),
            "{name}"
        );
        assert_eq!(
            quarantined(db.releases_any_state(pid).await.expect("r")),
            None,
            "{name}"
        );
        // Another source is untouched by this one's snapshot.
        db.import_advisories(
            "other",
            &[row("GHSA-1", "victim", false, false, &[])],
            &ev(),
        )
        .await
        .expect("import");
        db.import_advisories("feed", &[], &ev())
            .await
            .expect("import");
        assert_eq!(
            db.advisories_of_project("victim").await.expect("a").len(),
            1,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_hash_named_under_another_project_is_not_a_local_match() {
    for (name, db, _dir) in backends().await {
        let bob = user(&db, "bob", T0).await;
        let f = file("corp-lib", bob, "1.0", 0, T0);
        db.publish(&f, &UploadPolicy::default(), None)
            .await
            .expect("p");
        db.import_advisories(
            "feed",
            &[row("MAL-9", "unrelated-thing", true, false, &[&f.sha256])],
            &ev(),
        )
        .await
        .expect("import");
        assert!(
            db.local_files_named_by_advisories()
                .await
                .expect("named")
                .is_empty(),
            "{name}: a record about another name never names a local file"
        );
        let foreign = db
            .local_files_hashed_under_other_names("feed")
            .await
            .expect("foreign");
        assert_eq!(foreign.len(), 1, "{name}");
        assert_eq!(
            (
                foreign[0].project.as_str(),
                foreign[0].named_project.as_str(),
                foreign[0].record.as_str()
            ),
            ("corp-lib", "unrelated-thing", "MAL-9"),
            "{name}"
        );
        assert!(
            db.local_files_hashed_under_other_names("other")
                .await
                .expect("foreign")
                .is_empty(),
            "{name}: per source"
        );
        assert_eq!(
            db.local_file_hashes("corp-lib", "1.0").await.expect("h"),
            vec![f.sha256.clone()],
            "{name}"
        );
        let kept = db.advisories_of_source("feed").await.expect("rows");
        assert_eq!(kept.len(), 1, "{name}");
        assert_eq!(kept[0].path, "unrelated-thing/MAL-9.json", "{name}");
    }
}
