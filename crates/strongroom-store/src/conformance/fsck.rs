//! fsck cases: the queries `admin fsck` and the sampled blob job read, and the streamed blob
//! check, on every backend.

use bytes::Bytes;
use sqlx::Executor;

use super::backends;
use super::meta::{file, user};
use crate::blob_check::BlobState;
use crate::fsck::JournalGap;
use crate::{BlobKey, NewEvent};

#[tokio::test]
async fn the_fsck_queries_find_rows_gaps_claims_and_recent_signals() {
    for (name, db, _d) in backends().await {
        let alice = user(&db, "alice").await;
        for (i, p) in ["fa", "fb", "fc"].iter().enumerate() {
            let mut f = file(p, alice, &format!("{p}-1.0.tar.gz"), p);
            if i == 1 {
                f.metadata_sha256 = Some("ab".repeat(32));
            }
            db.publish_file(&f).await.expect("publish");
        }
        assert!(
            db.integrity_problems(false)
                .await
                .expect("quick")
                .is_empty(),
            "{name}"
        );
        assert!(
            db.integrity_problems(true).await.expect("full").is_empty(),
            "{name}"
        );

        let first = db.file_blobs_after(0, 2).await.expect("rows");
        let rest = db.file_blobs_after(first[1].id, 10).await.expect("rows");
        let names: Vec<&str> = first
            .iter()
            .chain(&rest)
            .map(|f| f.filename.as_str())
            .collect();
        assert_eq!(
            names,
            ["fa-1.0.tar.gz", "fb-1.0.tar.gz", "fc-1.0.tar.gz"],
            "{name}"
        );
        assert_eq!(first[1].project_name, "fb", "{name}");
        assert_eq!(
            first[1].metadata_sha256.as_deref(),
            Some("ab".repeat(32).as_str()),
            "{name}"
        );
        assert_eq!(
            db.sample_file_blobs(2, &[]).await.expect("sample").len(),
            2,
            "{name}"
        );
        assert_eq!(
            db.sample_file_blobs(10, &[]).await.expect("sample").len(),
            3,
            "{name}"
        );
        let by_key = db
            .file_blob_by_key(&rest[0].blob_key)
            .await
            .expect("by key");
        assert_eq!(by_key.as_ref(), Some(&rest[0]), "{name}");
        assert!(
            db.file_blob_by_key("ab/cd/none")
                .await
                .expect("none")
                .is_none(),
            "{name}"
        );

        // Each upload writes "create" and "add file" entries: serials 1..=6, no gap.
        assert!(
            db.journal_gaps(10).await.expect("gaps").is_empty(),
            "{name}"
        );
        db.write
            .execute("DELETE FROM journal WHERE serial IN (1, 3, 4)")
            .await
            .expect("delete");
        assert_eq!(
            db.journal_gaps(10).await.expect("gaps"),
            [
                JournalGap { after: 0, next: 2 },
                JournalGap { after: 2, next: 5 }
            ],
            "{name}"
        );

        let key = &rest[0].blob_key;
        assert!(
            !db.has_live_blob_claim(key, 0).await.expect("claim?"),
            "{name}"
        );
        let crate::ClaimOutcome::Claimed(_) =
            db.claim_blob(key, 500, 60_000_000).await.expect("claim")
        else {
            panic!("{name}: claimed")
        };
        assert!(
            db.has_live_blob_claim(key, 500).await.expect("claim?"),
            "{name}"
        );
        assert!(
            !db.has_live_blob_claim(key, 501).await.expect("claim?"),
            "{name}: expired"
        );

        let signal = |at: i64, action: &str| NewEvent {
            at,
            action: action.into(),
            subject_kind: "file".into(),
            subject_name: Some("fa-1.0.tar.gz".into()),
            ..NewEvent::default()
        };
        let logged = |action: &'static str| {
            let db = db.clone();
            async move {
                db.events(0, 1_000)
                    .await
                    .expect("events")
                    .iter()
                    .filter(|e| e.action == action)
                    .count()
            }
        };
        // eight at once, as eight downloads meeting one damaged blob: logged once
        let tries = (0..8).map(|i| {
            let (db, e) = (db.clone(), signal(1_000 + i, "blob:missing"));
            tokio::spawn(async move { db.append_event_unless_since(&e, 500).await })
        });
        let mut appended = 0;
        for t in tries {
            appended += usize::from(t.await.expect("join").expect("append").is_some());
        }
        assert_eq!((appended, logged("blob:missing").await), (1, 1), "{name}");
        // within the window nothing more; past it, or another action, a new entry
        assert!(
            db.append_event_unless_since(&signal(2_000, "blob:missing"), 1_000)
                .await
                .expect("q")
                .is_none(),
            "{name}"
        );
        assert!(
            db.append_event_unless_since(&signal(2_000, "blob:missing"), 1_008)
                .await
                .expect("q")
                .is_some(),
            "{name}"
        );
        assert!(
            db.append_event_unless_since(&signal(2_000, "blob:damaged"), 0)
                .await
                .expect("q")
                .is_some(),
            "{name}"
        );
        assert_eq!(
            (logged("blob:missing").await, logged("blob:damaged").await),
            (2, 1),
            "{name}"
        );
        assert_eq!(db.verify_events().await.expect("verify"), None, "{name}");
    }
}

#[tokio::test]
async fn a_blob_check_tells_intact_missing_and_damaged_apart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = crate::testing::blob_stores(super::SUITE, dir.path());
    for (name, b) in stores {
        let unique = format!("{:064x}", crate::model::now_micros());
        let key = BlobKey::for_file(&unique, "demo-1.0.tar.gz").expect("key");
        let data = vec![7u8; 600 * 1024]; // several read chunks
        let sha = {
            let mut d = crate::blob_check::Digest::default();
            d.update(&data);
            d.finish()
        };
        let size = Some(data.len() as u64);
        assert_eq!(
            b.check(key.as_str(), size, &sha).await.expect("check"),
            BlobState::Missing,
            "{name}"
        );
        b.put_bytes(key.as_str(), Bytes::from(data.clone()))
            .await
            .expect("put");
        assert_eq!(
            b.check(key.as_str(), size, &sha).await.expect("check"),
            BlobState::Intact,
            "{name}"
        );
        assert_eq!(
            b.check(key.as_str(), None, &sha).await.expect("check"),
            BlobState::Intact,
            "{name}"
        );
        let mut bad = data.clone();
        bad[300_000] ^= 1;
        b.put_bytes(key.as_str(), Bytes::from(bad))
            .await
            .expect("put");
        assert!(
            matches!(
                b.check(key.as_str(), size, &sha).await.expect("check"),
                BlobState::Damaged { size: 614_400, ref sha256 } if *sha256 != sha
            ),
            "{name}"
        );
        b.delete(key.as_str()).await.expect("delete");
    }
}

#[tokio::test]
async fn among_many_files_the_sample_takes_one_indexed_lookup_per_random_point() {
    for (name, db, _d) in backends().await {
        let alice = user(&db, "alice").await;
        for p in ["sa", "sb", "sc"] {
            let f = file(p, alice, &format!("{p}-1.0.tar.gz"), p);
            db.publish_file(&f).await.expect("publish");
        }
        // ids far apart, as in a big index: the random points pick, not a sort of the table
        let far = crate::fsck::SMALL_SPAN + 5_000;
        db.write
            .execute(sqlx::AssertSqlSafe(format!(
                "UPDATE files SET id = id + {far} WHERE filename = 'sc-1.0.tar.gz'"
            )))
            .await
            .expect("spread the ids");
        let all = db.file_blobs_after(0, 10).await.expect("rows");
        let (lo, hi) = (all[0].id, all[2].id);
        let span = u64::try_from(hi - lo).expect("span") + 1;
        let names = |v: Vec<crate::fsck::FileBlob>| -> Vec<String> {
            v.into_iter().map(|f| f.filename).collect()
        };
        // a point picks the first file at or after it; one that meets a picked file is spent
        let got = db.sample_file_blobs(2, &[0, 0, 1]).await.expect("sample");
        assert_eq!(names(got), ["sa-1.0.tar.gz", "sb-1.0.tar.gz"], "{name}");
        let got = db
            .sample_file_blobs(3, &[span - 1, 5, span + 1])
            .await
            .expect("sample");
        // (5 lands in the gap before sc, already picked; span + 1 wraps round to sb)
        assert_eq!(names(got), ["sc-1.0.tar.gz", "sb-1.0.tar.gz"], "{name}");
        // never more than asked for, and nothing without points
        assert_eq!(
            db.sample_file_blobs(1, &[0, 1, 2]).await.expect("s").len(),
            1,
            "{name}"
        );
        assert!(
            db.sample_file_blobs(3, &[]).await.expect("s").is_empty(),
            "{name}"
        );
    }
}
