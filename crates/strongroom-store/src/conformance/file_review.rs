//! Per-file review and batched notices to Owners (issue 9, findings 2 and 5), on every backend.

use super::backends;
use super::safety::{DAY, T0, file, user};
use crate::owner_notices::{NoticeRecipient, OwnerNotice};
use crate::publish::{PublishOutcome, Refusal, UploadPolicy};
use crate::{Db, NewMail};

fn hold_policy() -> UploadPolicy {
    UploadPolicy {
        hold_added_file: Some("watched".into()),
        held_file_mails: vec![NewMail {
            to: "admin@example.org".into(),
            subject: "held".into(),
            body: "b".into(),
        }],
        ..UploadPolicy::default()
    }
}

async fn public_files(db: &Db, project_id: i64) -> Vec<String> {
    let mut v: Vec<String> = db
        .files_of(project_id)
        .await
        .expect("files")
        .into_iter()
        .map(|f| f.filename)
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_file_added_under_the_hold_policy_is_held_out_of_every_read_until_approved() {
    for (name, db, _dir) in backends().await {
        let bob = user(&db, "bob", T0 - DAY).await;
        let first = file("heldf", bob, "1.0", 0, T0);
        assert!(matches!(
            db.publish(&first, &hold_policy(), None).await.expect("p"),
            PublishOutcome::Published { .. }
        ));
        let p = db.project_state("heldf").await.expect("p").expect("p");
        // A new release is never "added to": the policy does not hold its first file.
        let added = file("heldf", bob, "1.0", 1, T0 + 1);
        let o = db.publish(&added, &hold_policy(), None).await.expect("p");
        let PublishOutcome::FileHeld { file_id } = o else {
            panic!("{name}: {o:?}");
        };
        let after = db.project_state("heldf").await.expect("p").expect("p");
        assert_eq!(after.last_serial, p.last_serial, "{name}: no journal entry");
        assert_eq!(
            public_files(&db, p.id).await,
            vec![first.filename.clone()],
            "{name}"
        );
        assert!(
            db.file_by_blob_key(&added.blob_key)
                .await
                .expect("f")
                .is_none(),
            "{name}: no download, no .metadata"
        );
        let held = db.held_files().await.expect("held");
        assert_eq!(held.len(), 1, "{name}");
        assert_eq!(
            (held[0].1.id, held[0].1.held_reason.as_deref()),
            (file_id, Some("watched"))
        );
        let mails = db.outbox_recent(10).await.expect("outbox");
        assert_eq!(mails.len(), 1, "{name}: the held mail");
        // The identical bytes again: refused by the held state, nothing changes.
        let o = db.publish(&added, &hold_policy(), None).await.expect("p");
        assert!(
            matches!(
                o,
                PublishOutcome::Refused(Refusal::IdenticalHidden {
                    file_held: true,
                    ..
                })
            ),
            "{name}: {o:?}"
        );
        // Approved: visible; a second approval finds nothing held.
        let mut tx = db.begin_admin().await.expect("tx");
        assert!(tx.clear_file_hold(file_id).await.expect("clear"), "{name}");
        assert!(!tx.clear_file_hold(file_id).await.expect("clear"), "{name}");
        tx.commit(&[], &[]).await.expect("commit");
        assert_eq!(public_files(&db, p.id).await.len(), 2, "{name}");
        assert!(db.held_files().await.expect("held").is_empty(), "{name}");

        // Another held file, rejected: its row goes (a published file is never deleted so).
        let other = file("heldf", bob, "1.0", 2, T0 + 2);
        let PublishOutcome::FileHeld { file_id } =
            db.publish(&other, &hold_policy(), None).await.expect("p")
        else {
            panic!("{name}");
        };
        let mut tx = db.begin_admin().await.expect("tx");
        let published = first_id(&db, p.id).await;
        assert!(!tx.delete_held_file(published).await.expect("d"), "{name}");
        assert!(
            tx.delete_held_file(file_id).await.expect("delete"),
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert!(
            db.file_any_state(file_id).await.expect("f").is_none(),
            "{name}: no row left"
        );
        assert_eq!(public_files(&db, p.id).await.len(), 2, "{name}");

        // A file joining a quarantined release after the upload that quarantined it is held on
        // its own (approval is per file), with the joined-file reason and mails, whoever uploads.
        db.publish_file(&file("sleepy", bob, "1.0", 0, T0 - 400 * DAY))
            .await
            .expect("p");
        let policy = UploadPolicy {
            dormant_before: Some(T0 - 365 * DAY),
            quarantine_reason: "dormant".into(),
            hold_added_file: None,
            hold_joined_file: Some((
                "joined".into(),
                vec![NewMail {
                    to: "admin@example.org".into(),
                    subject: "joined".into(),
                    body: "b".into(),
                }],
            )),
            ..hold_policy()
        };
        let o = db
            .publish(&file("sleepy", bob, "2.0", 1, T0 + 3), &policy, None)
            .await
            .expect("p");
        assert_eq!(
            o,
            PublishOutcome::Quarantined {
                release_created: true
            },
            "{name}"
        );
        let o = db
            .publish(&file("sleepy", bob, "2.0", 2, T0 + 4), &policy, None)
            .await
            .expect("p");
        let PublishOutcome::FileHeld { file_id } = o else {
            panic!("{name}: {o:?}");
        };
        let joined = db.file_any_state(file_id).await.expect("f").expect("f");
        assert_eq!(joined.held_reason.as_deref(), Some("joined"), "{name}");
        let subjects: Vec<String> = db
            .outbox_recent(10)
            .await
            .expect("outbox")
            .into_iter()
            .map(|m| m.subject)
            .collect();
        assert!(
            subjects.iter().any(|s| s == "joined"),
            "{name}: {subjects:?}"
        );
    }
}

async fn first_id(db: &Db, project_id: i64) -> i64 {
    db.files_any_state(project_id).await.expect("f")[0].id
}

fn notice(at: i64, recipients: &[i64]) -> OwnerNotice {
    OwnerNotice {
        recipients: recipients
            .iter()
            .map(|&user_id| NoticeRecipient {
                user_id,
                addresses: vec![format!("u{user_id}@example.org")],
            })
            .collect(),
        subject: "s".into(),
        body: "b".into(),
        line: format!("at {at}"),
        at,
        window_micros: 3_600_000_000,
    }
}

#[tokio::test]
async fn the_first_notice_goes_at_once_and_later_ones_wait_for_one_digest() {
    for (name, db, _dir) in backends().await {
        let alice = user(&db, "alice", T0 - DAY).await;
        let bob = user(&db, "bob", T0 - DAY).await;
        db.publish_file(&file("told", alice, "1.0", 0, T0))
            .await
            .expect("p");
        let p = db.project_state("told").await.expect("p").expect("p");
        let yank = |at: i64| {
            let db = db.clone();
            async move {
                let n = notice(at, &[bob]);
                db.set_yanked_noticed(
                    p.id,
                    "1.0",
                    Some("x"),
                    "alice",
                    crate::NewEvent {
                        at,
                        action: "release:yank".into(),
                        subject_kind: "project".into(),
                        details: serde_json::json!({}),
                        ..crate::NewEvent::default()
                    },
                    Some(&n),
                )
                .await
                .expect("yank");
            }
        };
        yank(T0 + 1).await;
        assert_eq!(
            db.outbox_recent(10).await.expect("o").len(),
            1,
            "{name}: at once"
        );
        for i in 0..5 {
            yank(T0 + 10 + i).await;
        }
        assert_eq!(
            db.outbox_recent(10).await.expect("o").len(),
            1,
            "{name}: held back"
        );
        assert!(
            db.due_notice_digests(T0 + 20, 3_600_000_000)
                .await
                .expect("d")
                .is_empty(),
            "{name}: the window is still open"
        );
        let due = db
            .due_notice_digests(T0 + 1 + 3_600_000_000, 3_600_000_000)
            .await
            .expect("d");
        assert_eq!(due.len(), 1, "{name}");
        assert_eq!((due[0].user_id, due[0].items.len()), (bob, 5), "{name}");
        let mail = NewMail {
            to: "bob@example.org".into(),
            subject: "digest".into(),
            body: "5".into(),
        };
        assert!(
            db.send_notice_digest(&due[0], std::slice::from_ref(&mail), T0 + 2 * DAY)
                .await
                .expect("s")
        );
        assert!(
            !db.send_notice_digest(&due[0], &[mail], T0 + 2 * DAY)
                .await
                .expect("s"),
            "{name}: sent once"
        );
        assert_eq!(db.outbox_recent(10).await.expect("o").len(), 2, "{name}");
        assert!(
            db.due_notice_digests(T0 + 3 * DAY, 3_600_000_000)
                .await
                .expect("d")
                .is_empty()
        );
        // After the window, the next notice goes at once again.
        yank(T0 + 3 * DAY).await;
        assert_eq!(db.outbox_recent(10).await.expect("o").len(), 3, "{name}");
        // Sent rows are forgotten once old; nothing waiting is.
        yank(T0 + 3 * DAY + 1).await;
        assert_eq!(
            db.prune_owner_notices(T0 + 3 * DAY).await.expect("prune"),
            6,
            "{name}"
        );
        assert_eq!(
            db.prune_owner_notices(T0 + 9 * DAY).await.expect("prune"),
            1,
            "{name}"
        );
        let due = db
            .due_notice_digests(T0 + 9 * DAY, 3_600_000_000)
            .await
            .expect("d");
        assert_eq!(due.len(), 1, "{name}: the waiting notice stays");
    }
}
