//! Files by sha256 for `strongroom audit` (issue 13), on every backend: each row's states, and
//! "ever public" read from the journal (a held file has no entry until approved).

use super::backends;
use super::safety::{T0, file, user};
use crate::NewEvent;
use crate::publish::{PublishOutcome, UploadPolicy};
use crate::states::ProjectStatus;

#[tokio::test]
async fn file_status_rows_carry_each_state_and_whether_the_journal_ever_announced_the_file() {
    for (name, db, _dir) in backends().await {
        let bob = user(&db, "bob", T0).await;
        let live = file("fstat", bob, "1.0", 0, T0);
        assert!(matches!(
            db.publish(&live, &UploadPolicy::default(), None)
                .await
                .expect("p"),
            PublishOutcome::Published { .. }
        ));
        let held = file("fstat", bob, "1.0", 1, T0 + 1);
        let policy = UploadPolicy {
            hold_added_file: Some("watched".into()),
            ..UploadPolicy::default()
        };
        assert!(matches!(
            db.publish(&held, &policy, None).await.expect("p"),
            PublishOutcome::FileHeld { .. }
        ));
        let p = db.project_state("fstat").await.expect("p").expect("p");
        db.set_yanked(
            p.id,
            "1.0",
            Some("bad"),
            "bob",
            NewEvent {
                at: T0 + 2,
                action: "release:yank".into(),
                subject_kind: "project".into(),
                ..NewEvent::default()
            },
        )
        .await
        .expect("yank");

        let nobody = "0".repeat(64);
        let mut rows = db
            .file_status_rows(&[live.sha256.clone(), held.sha256.clone(), nobody])
            .await
            .expect("rows");
        rows.sort_by_key(|r| r.filename.clone());
        assert_eq!(rows.len(), 2, "{name}: an unknown hash has no row");
        let (l, h) = (&rows[0], &rows[1]);
        assert_eq!(
            (l.sha256.as_str(), l.project.as_str(), l.version.as_str()),
            (live.sha256.as_str(), "fstat", "1.0"),
            "{name}"
        );
        assert_eq!(l.project_status, ProjectStatus::Active, "{name}");
        assert!(l.ever_public && l.held_at.is_none(), "{name}");
        assert_eq!(
            (l.yanked_at.is_some(), l.yanked_reason.as_deref()),
            (true, Some("bad")),
            "{name}"
        );
        assert!(!h.ever_public, "{name}: held at upload, never announced");
        assert_eq!(h.held_reason.as_deref(), Some("watched"), "{name}");
        assert!(
            db.verdicts_for_files(std::slice::from_ref(&live.sha256))
                .await
                .expect("v")
                .is_empty(),
            "{name}: no verdicts table on this branch"
        );
        // More hashes than one query binds.
        let many: Vec<String> = (0..1200)
            .map(|i| format!("{i:064x}"))
            .chain([held.sha256.clone()])
            .collect();
        assert_eq!(
            db.file_status_rows(&many).await.expect("rows").len(),
            1,
            "{name}"
        );
    }
}
