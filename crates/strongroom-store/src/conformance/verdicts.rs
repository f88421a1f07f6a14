//! Malicious-package verdicts (issue 13, migration 0027) on every backend: ids count per year
//! under the given prefix, one live verdict per release, files kept by name and sha256, a
//! withdrawal keeps the row and happens once, and every write appends its event.

use super::backends;
use super::safety::T0;
use crate::NewEvent;
use crate::StoreError;
use crate::verdicts::{NewVerdict, VerdictFile, WithdrawOutcome};

fn verdict(project: &str, version: &str, year: i64, files: &[(&str, &str)]) -> NewVerdict {
    NewVerdict {
        prefix: "ACME-MAL".into(),
        year,
        project: project.into(),
        normalized_project: project.to_ascii_lowercase(),
        version: version.into(),
        details: format!("{project} {version} steals credentials"),
        created_by: "cli:root".into(),
        at: T0,
        files: files
            .iter()
            .map(|(f, h)| VerdictFile {
                filename: (*f).into(),
                sha256: (*h).into(),
            })
            .collect(),
    }
}

fn ev(action: &str) -> NewEvent {
    NewEvent {
        at: T0,
        action: action.into(),
        subject_kind: "project".into(),
        details: serde_json::json!({}),
        ..NewEvent::default()
    }
}

#[tokio::test]
async fn verdicts_are_numbered_per_year_kept_and_withdrawn_once() {
    let (ha, hb) = ("AB".repeat(32), "cd".repeat(32));
    for (name, db, _dir) in backends().await {
        assert!(db.verdicts().await.expect("list").is_empty(), "{name}");
        let first = verdict(
            "Ctx",
            "0.2.2",
            2026,
            &[
                ("ctx-0.2.2.tar.gz", &ha),
                ("ctx-0.2.2-py3-none-any.whl", &hb),
            ],
        );
        let id = db
            .record_verdict(&first, &ev("verdict:malicious"))
            .await
            .expect("record");
        assert_eq!(id, "ACME-MAL-2026-1", "{name}");
        // One live verdict per release.
        let again = db.record_verdict(&first, &ev("verdict:malicious")).await;
        assert!(
            matches!(&again, Err(StoreError::Conflict(m)) if m.contains(&id)),
            "{name}: {again:?}"
        );
        let second = db
            .record_verdict(&verdict("evil", "1.0", 2026, &[]), &ev("verdict:malicious"))
            .await
            .expect("second");
        assert_eq!(second, "ACME-MAL-2026-2", "{name}");
        let next_year = db
            .record_verdict(&verdict("evil", "2.0", 2027, &[]), &ev("verdict:malicious"))
            .await
            .expect("2027");
        assert_eq!(
            next_year, "ACME-MAL-2027-1",
            "{name}: the counter is per year"
        );

        let v = db.verdict(&id).await.expect("get").expect("row");
        assert_eq!(
            (
                v.project.as_str(),
                v.normalized_project.as_str(),
                v.version.as_str()
            ),
            ("Ctx", "ctx", "0.2.2"),
            "{name}"
        );
        assert_eq!(
            (v.created_at, v.modified_at, v.withdrawn_at),
            (T0, T0, None)
        );
        assert_eq!(v.created_by, "cli:root");
        assert_eq!(
            v.files
                .iter()
                .map(|f| (f.filename.as_str(), f.sha256.as_str()))
                .collect::<Vec<_>>(),
            vec![
                ("ctx-0.2.2-py3-none-any.whl", hb.as_str()),
                ("ctx-0.2.2.tar.gz", ha.to_ascii_lowercase().as_str()),
            ],
            "{name}: by filename, hashes lowercased"
        );
        assert_eq!(
            db.verdicts_of_sha256(&ha).await.expect("h"),
            vec![id.clone()]
        );
        assert!(db.verdict("ACME-MAL-2026-9").await.expect("get").is_none());
        // The file-status read (`strongroom audit`): both files of the release, nothing else.
        let asked = [ha.to_ascii_lowercase(), hb.clone(), "ef".repeat(32)];
        let named = db.verdicts_for_files(&asked).await.expect("status");
        assert_eq!(
            named.into_iter().collect::<Vec<_>>(),
            {
                let mut want = vec![
                    (ha.to_ascii_lowercase(), id.clone()),
                    (hb.clone(), id.clone()),
                ];
                want.sort();
                want
            },
            "{name}"
        );

        // Withdraw: the row stays, marked; a second withdrawal changes nothing.
        let o = db
            .withdraw_verdict(&id, "a false positive", T0 + 5, &ev("verdict:withdrawn"))
            .await
            .expect("withdraw");
        assert_eq!(o, WithdrawOutcome::Withdrawn, "{name}");
        let o = db
            .withdraw_verdict(&id, "again", T0 + 9, &ev("verdict:withdrawn"))
            .await
            .expect("again");
        assert_eq!(o, WithdrawOutcome::AlreadyWithdrawn(T0 + 5), "{name}");
        let gone = db
            .withdraw_verdict("ACME-MAL-1999-1", "x", T0, &ev("verdict:withdrawn"))
            .await;
        assert!(
            matches!(gone, Err(StoreError::NotFound(_))),
            "{name}: {gone:?}"
        );
        let v = db.verdict(&id).await.expect("get").expect("row");
        assert_eq!(
            (v.withdrawn_at, v.withdrawn_reason.as_deref(), v.modified_at),
            (Some(T0 + 5), Some("a false positive"), T0 + 5),
            "{name}"
        );
        assert_eq!(v.files.len(), 2, "{name}: the files stay");
        assert!(db.verdicts_of_sha256(&ha).await.expect("h").is_empty());
        assert_eq!(
            db.verdict_for_file(&hb).await.expect("status"),
            None,
            "{name}: a withdrawn verdict names nothing"
        );
        // A withdrawn verdict no longer blocks a new one on the release.
        let renewed = db
            .record_verdict(&first, &ev("verdict:malicious"))
            .await
            .expect("renewed");
        assert_eq!(renewed, "ACME-MAL-2026-3", "{name}");

        let all = db.verdicts().await.expect("list");
        assert_eq!(
            all.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
            vec![
                id.as_str(),
                "ACME-MAL-2026-2",
                "ACME-MAL-2026-3",
                "ACME-MAL-2027-1"
            ],
            "{name}: by time, then id"
        );
        assert_eq!(all[0].files.len(), 2);
        assert_eq!(all[2].files.len(), 2);
        assert!(all[1].files.is_empty());

        // Each recording and the one real withdrawal appended an event; the record's carries the id.
        let events = db.events(0, 1000).await.expect("events");
        let recorded: Vec<_> = events
            .iter()
            .filter(|e| e.action == "verdict:malicious")
            .collect();
        assert_eq!(recorded.len(), 4, "{name}");
        assert!(
            recorded[0].details.contains(&id),
            "{name}: {}",
            recorded[0].details
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| e.action == "verdict:withdrawn")
                .count(),
            1,
            "{name}"
        );
    }
}
