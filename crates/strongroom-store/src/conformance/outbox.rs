//! The mail outbox on every backend: a mail claimed once and retried until sent, and the
//! listing of each mail's state with the queue depth.

use super::{backends, user, user_event as ev};
use crate::{MailState, NewMail};

#[tokio::test]
async fn outbox_mails_are_claimed_once_and_retried_until_sent() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let mut tx = db.begin_account().await.expect("begin");
        tx.revoke_all_tokens(a, 1).await.expect("noop");
        let mails = [
            NewMail {
                to: "a@example.org".into(),
                subject: "one".into(),
                body: "1".into(),
            },
            NewMail {
                to: "b@example.org".into(),
                subject: "two".into(),
                body: "2".into(),
            },
        ];
        tx.commit(&[ev("x", 100)], &mails).await.expect("commit");
        let due = db.outbox_due(200, 10).await.expect("due");
        assert_eq!(
            due.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(),
            vec!["one", "two"],
            "{name}"
        );
        assert!(
            db.outbox_claim(due[0].id, 200, 300).await.expect("claim"),
            "{name}"
        );
        assert!(
            !db.outbox_claim(due[0].id, 200, 300).await.expect("claim"),
            "{name}: claimed once"
        );
        db.outbox_failed(due[0].id, "connection refused", 300)
            .await
            .expect("failed");
        assert_eq!(
            db.outbox_due(250, 10).await.expect("due").len(),
            1,
            "{name}: backing off"
        );
        let retry = db.outbox_due(300, 10).await.expect("due");
        assert_eq!(retry.len(), 2, "{name}: retried, never dropped");
        let m = retry
            .iter()
            .find(|m| m.id == due[0].id)
            .expect("the failed mail");
        assert_eq!(
            (m.attempts, m.last_error.as_deref()),
            (1, Some("connection refused")),
            "{name}"
        );
        db.outbox_sent(due[0].id, 301).await.expect("sent");
        assert_eq!(
            db.outbox_due(400, 10).await.expect("due").len(),
            1,
            "{name}"
        );
        assert_eq!(db.outbox_recent(10).await.expect("all").len(), 2, "{name}");
    }
}

/// `strongroom outbox` and the mail-queue metric read the shared table: every mail with its
/// state, oldest first, whatever process queued or sent it, and the count still to send.
#[tokio::test]
async fn the_outbox_listing_gives_each_mails_state_and_the_queue_depth() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let mut tx = db.begin_account().await.expect("begin");
        tx.revoke_all_tokens(a, 1).await.expect("noop");
        let mails: Vec<NewMail> = ["one", "two", "three"]
            .iter()
            .map(|s| NewMail {
                to: format!("{s}@example.org"),
                subject: (*s).into(),
                body: "a live link".into(),
            })
            .collect();
        tx.commit(&[ev("x", 100)], &mails).await.expect("commit");
        assert_eq!(db.outbox_pending_count().await.expect("n"), 3, "{name}");
        let due = db.outbox_due(200, 10).await.expect("due");
        db.outbox_claim(due[0].id, 200, 300).await.expect("claim");
        db.outbox_failed(due[0].id, "connection refused", 300)
            .await
            .expect("failed");
        db.outbox_claim(due[1].id, 200, 300).await.expect("claim");
        db.outbox_sent(due[1].id, 250).await.expect("sent");
        let listed = db.outbox_entries(10).await.expect("entries");
        let seen: Vec<(&str, MailState, i64)> = listed
            .iter()
            .map(|e| (e.subject.as_str(), e.state, e.attempts))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("one", MailState::Failing, 1),
                ("two", MailState::Sent, 1),
                ("three", MailState::Pending, 0)
            ],
            "{name}"
        );
        assert_eq!(listed[0].last_error.as_deref(), Some("connection refused"));
        assert_eq!(listed[1].sent_at, Some(250), "{name}");
        assert_eq!(db.outbox_pending_count().await.expect("n"), 2, "{name}");
        // the newest first when limited, still listed oldest first
        let last: Vec<String> = db
            .outbox_entries(2)
            .await
            .expect("entries")
            .into_iter()
            .map(|e| e.subject)
            .collect();
        assert_eq!(last, ["two", "three"], "{name}");
        let pool = db.pool_stats();
        assert!(pool.in_use + pool.idle >= 1, "{name}: {pool:?}");
    }
}
