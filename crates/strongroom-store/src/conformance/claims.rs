//! Blob claims and announced deletions (the database half of `core::blob_collector`), on both
//! engines: who may delete a key's blobs and when, and the race of uploads of one key against
//! collectors.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::backends;
use super::meta::{file, user};
use crate::{ClaimOutcome, Db, PublishOutcome, Refusal, StoreError, UploadPolicy};

const LEASE: i64 = 600_000_000;
const GRACE: i64 = 3_600_000_000;

async fn claim(db: &Db, key: &str, at: i64) -> crate::BlobClaim {
    match db.claim_blob(key, at, LEASE).await.expect("claim") {
        ClaimOutcome::Claimed(c) => c,
        other => panic!("expected a claim, got {other:?}"),
    }
}

#[tokio::test]
async fn a_live_claim_or_a_file_row_protects_a_key() {
    for (name, db, _d) in backends().await {
        let alice = user(&db, "alice").await;
        let f = file("demo", alice, "demo-1.0.tar.gz", "a");
        let t = f.at;
        let c = claim(&db, &f.blob_key, t).await;
        assert_eq!(db.blob_claim_counts().await.expect("n"), (1, 0), "{name}");
        // Live (made after live_after): protected.
        assert_eq!(
            db.begin_blob_deletion(&f.blob_key, t + 1, t - GRACE, LEASE, None)
                .await
                .expect("decide"),
            None,
            "{name}: live claim"
        );
        // The publish settles the claim in its own transaction.
        let o = db
            .publish(&f, &UploadPolicy::default(), Some(&c))
            .await
            .expect("publish");
        assert!(
            matches!(o, PublishOutcome::Published { .. }),
            "{name}: {o:?}"
        );
        assert_eq!(
            db.blob_claim_counts().await.expect("n"),
            (0, 0),
            "{name}: settled"
        );
        // Referenced: never deleted, however old.
        assert_eq!(
            db.begin_blob_deletion(&f.blob_key, t + 10 * GRACE, t + 9 * GRACE, LEASE, None)
                .await
                .expect("decide"),
            None,
            "{name}: referenced"
        );
        assert_eq!(
            db.unreferenced_blob_keys(&[f.blob_key.clone(), "aa/bb/cc/x.whl".into()])
                .await
                .expect("q"),
            vec!["aa/bb/cc/x.whl".to_owned()],
            "{name}"
        );
        // More keys than one list binds on either backend (128 on SQLite, 1,000 on
        // PostgreSQL), the referenced one in a later list.
        let unknown: Vec<String> = (0..1100).map(|i| format!("aa/bb/cc/{i}.whl")).collect();
        let mut asked = unknown.clone();
        asked.insert(1050, f.blob_key.clone());
        assert_eq!(
            db.unreferenced_blob_keys(&asked).await.expect("q"),
            unknown,
            "{name}"
        );
        // A removed file's row still protects its blob (a restore needs it).
        db.write_raw("UPDATE files SET removed_at = 5").await;
        assert!(
            db.unreferenced_blob_keys(std::slice::from_ref(&f.blob_key))
                .await
                .expect("q")
                .is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_refused_publish_keeps_its_claim_for_the_uploader_to_release() {
    for (name, db, _d) in backends().await {
        let alice = user(&db, "alice").await;
        let mallory = user(&db, "mallory").await;
        db.publish_file(&file("demo", alice, "demo-1.0.tar.gz", "a"))
            .await
            .expect("first");
        let f = file("demo", mallory, "demo-1.0-py3-none-any.whl", "m");
        let c = claim(&db, &f.blob_key, f.at).await;
        let o = db
            .publish(&f, &UploadPolicy::default(), Some(&c))
            .await
            .expect("publish");
        assert!(
            matches!(o, PublishOutcome::Refused(Refusal::UserNotAllowed { .. })),
            "{name}: {o:?}"
        );
        assert_eq!(db.blob_claim_counts().await.expect("n"), (1, 0), "{name}");
        // A retry of the same bytes has claimed the key too: giving up the first claim
        // deletes nothing while the second one lives.
        let retry = claim(&db, &f.blob_key, f.at + 1).await;
        assert_eq!(
            db.begin_blob_deletion(&f.blob_key, f.at + 2, f.at + 2 - GRACE, LEASE, Some(&c))
                .await
                .expect("decide"),
            None,
            "{name}"
        );
        assert_eq!(
            db.blob_claim_counts().await.expect("n"),
            (1, 0),
            "{name}: only the retry's"
        );
        // The retry is refused too and gives up its claim: nothing protects the key now, so it
        // goes at once, without waiting for the grace period.
        let lease = db
            .begin_blob_deletion(&f.blob_key, f.at + 3, f.at + 3 - GRACE, LEASE, Some(&retry))
            .await
            .expect("decide")
            .expect("collectable");
        assert_eq!(db.blob_claim_counts().await.expect("n"), (0, 1), "{name}");
        db.finish_blob_deletion(&lease).await.expect("finish");
        assert_eq!(db.blob_claim_counts().await.expect("n"), (0, 0), "{name}");
        // release_blob_claim alone (no deletion) works too.
        let c = claim(&db, &f.blob_key, f.at + 4).await;
        db.release_blob_claim(&c).await.expect("release");
        assert_eq!(db.blob_claim_counts().await.expect("n"), (0, 0), "{name}");
    }
}

#[tokio::test]
async fn an_expired_claim_is_taken_and_its_publish_records_nothing() {
    for (name, db, _d) in backends().await {
        let alice = user(&db, "alice").await;
        let f = file("demo", alice, "demo-1.0.tar.gz", "a");
        let t = f.at;
        let c = claim(&db, &f.blob_key, t).await;
        let later = t + GRACE + 1;
        assert_eq!(
            db.expired_blob_claims(later - GRACE, 10)
                .await
                .expect("expired"),
            vec![f.blob_key.clone()],
            "{name}"
        );
        let lease = db
            .begin_blob_deletion(&f.blob_key, later, later - GRACE, LEASE, None)
            .await
            .expect("decide")
            .expect("the upload stalled past the grace period");
        // The stalled upload wakes up: its publish must not point a row at a deleted blob.
        let r = db.publish(&f, &UploadPolicy::default(), Some(&c)).await;
        assert!(
            matches!(r, Err(StoreError::ClaimExpired(_))),
            "{name}: {r:?}"
        );
        assert!(
            db.project_by_normalized("demo").await.expect("q").is_none(),
            "{name}: nothing recorded"
        );
        db.finish_blob_deletion(&lease).await.expect("finish");
        assert!(
            db.expired_blob_claims(later, 10)
                .await
                .expect("q")
                .is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_announced_deletion_holds_off_new_claims_until_done_or_stale() {
    for (name, db, _d) in backends().await {
        let key = format!("ab/cd/{}/demo-1.0.tar.gz", "e".repeat(60));
        let t = 1_000_000_000;
        let lease = db
            .begin_blob_deletion(&key, t, t - GRACE, LEASE, None)
            .await
            .expect("decide")
            .expect("unknown key: collectable");
        // A second collector leaves it to the first.
        assert_eq!(
            db.begin_blob_deletion(&key, t + 1, t + 1 - GRACE, LEASE, None)
                .await
                .expect("decide"),
            None,
            "{name}"
        );
        // An upload of the same bytes waits while the delete runs...
        assert_eq!(
            db.claim_blob(&key, t + 2, LEASE).await.expect("claim"),
            ClaimOutcome::DeletionInProgress,
            "{name}"
        );
        db.finish_blob_deletion(&lease).await.expect("finish");
        // ...and claims once it is done.
        let c = claim(&db, &key, t + 3).await;
        db.release_blob_claim(&c).await.expect("release");
        // A collector that died mid-deletion: once its lease is over, its announcement is
        // taken over, by an upload or by another collector.
        let dead = db
            .begin_blob_deletion(&key, t + 10, t + 10 - GRACE, LEASE, None)
            .await
            .expect("decide")
            .expect("collectable");
        let c = claim(&db, &key, t + 10 + LEASE + 1).await;
        assert_eq!(db.blob_claim_counts().await.expect("n"), (1, 0), "{name}");
        // The dead collector's withdrawal (if it ever comes) does not touch anyone else's.
        db.finish_blob_deletion(&dead).await.expect("finish");
        db.release_blob_claim(&c).await.expect("release");
        let again = db
            .begin_blob_deletion(&key, t + 20, t + 20 - GRACE, LEASE, None)
            .await
            .expect("decide")
            .expect("collectable");
        let taken = db
            .begin_blob_deletion(
                &key,
                t + 20 + LEASE + 1,
                t + 20 + LEASE + 1 - GRACE,
                LEASE,
                None,
            )
            .await
            .expect("decide")
            .expect("a stale announcement is taken over");
        db.finish_blob_deletion(&again).await.expect("finish");
        assert_eq!(
            db.blob_claim_counts().await.expect("n"),
            (0, 1),
            "{name}: the new one stays"
        );
        db.finish_blob_deletion(&taken).await.expect("finish");
        assert_eq!(db.blob_claim_counts().await.expect("n"), (0, 0), "{name}");
    }
}

/// Uploads of one key (identical bytes, as a retrying client sends) race collectors that treat
/// every claim as expired, with a simulated blob store whose put and delete happen between the
/// transactions exactly as in `core::blob_collector`. Whatever the interleaving, a committed
/// file row's blob exists at the end.
#[tokio::test]
async fn uploads_of_one_key_racing_collectors_never_lose_a_referenced_blob() {
    for (name, db, _d) in backends().await {
        let alice = user(&db, "alice").await;
        let f = file("demo", alice, "demo-1.0.tar.gz", "a");
        let store: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut tasks = Vec::new();
        for i in 0..12_i64 {
            let (db, f, store) = (db.clone(), f.clone(), store.clone());
            tasks.push(tokio::spawn(async move {
                for round in 0..6_i64 {
                    let at = 2_000_000_000 + i * 100 + round;
                    let c = loop {
                        match db.claim_blob(&f.blob_key, at, LEASE).await.expect("claim") {
                            ClaimOutcome::Claimed(c) => break c,
                            ClaimOutcome::DeletionInProgress => tokio::task::yield_now().await,
                        }
                    };
                    tokio::task::yield_now().await;
                    store.lock().expect("lock").insert(f.blob_key.clone());
                    tokio::task::yield_now().await;
                    match db.publish(&f, &UploadPolicy::default(), Some(&c)).await {
                        Ok(PublishOutcome::Published { .. }) => {}
                        Ok(PublishOutcome::Duplicate) => {
                            db.release_blob_claim(&c).await.expect("release")
                        }
                        Ok(other) => panic!("{other:?}"),
                        Err(StoreError::ClaimExpired(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            }));
        }
        for i in 0..6_i64 {
            let (db, key, store) = (db.clone(), f.blob_key.clone(), store.clone());
            tasks.push(tokio::spawn(async move {
                for round in 0..10_i64 {
                    let now = 3_000_000_000 + i * 100 + round;
                    // live_after in the future: every claim counts as expired.
                    if let Some(lease) = db
                        .begin_blob_deletion(&key, now, i64::MAX, LEASE, None)
                        .await
                        .expect("decide")
                    {
                        tokio::task::yield_now().await;
                        store.lock().expect("lock").remove(&key);
                        tokio::task::yield_now().await;
                        db.finish_blob_deletion(&lease).await.expect("finish");
                    }
                    tokio::task::yield_now().await;
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let referenced = db
            .unreferenced_blob_keys(std::slice::from_ref(&f.blob_key))
            .await
            .expect("q")
            .is_empty();
        if referenced {
            assert!(
                store.lock().expect("lock").contains(&f.blob_key),
                "{name}: a file row points at a deleted blob"
            );
        }
    }
}

impl Db {
    /// Test-only: run one statement on the write pool.
    pub(crate) async fn write_raw(&self, sql: &'static str) {
        use sqlx::Executor;
        self.write.execute(sql).await.expect("statement");
    }
}
