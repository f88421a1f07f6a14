//! Cached upstream files (migration 0022) on both engines: kept only under a live claim, once
//! per sha256, counted and ordered for eviction, and protecting their blob key from the
//! collector exactly while their row exists.

use super::backends;
use crate::{
    BlobKey, ClaimOutcome, Db, KeepOutcome, MetadataKept, UpstreamEntryKind, UpstreamFileRow,
    UpstreamMetadataRow,
};

const LEASE: i64 = 600_000_000;
const GRACE: i64 = 3_600_000_000;

fn row(seed: char, filename: &str, size: i64, at: i64) -> UpstreamFileRow {
    let sha256: String = std::iter::repeat_n(seed, 64).collect();
    let blob_key = BlobKey::for_upstream(&sha256, filename)
        .expect("key")
        .as_str()
        .to_owned();
    UpstreamFileRow {
        sha256,
        blob_key,
        project: "pub-lib".into(),
        version: "1.0".into(),
        filename: filename.into(),
        size,
        upstream_url: "https://upstream.example/simple/".into(),
        first_seen_at: at,
        last_download_at: at,
        metadata_sha256: None,
    }
}

/// Metadata of `file` (sha `meta_seed` repeated), `size` bytes, kept at `at`.
fn meta(file: &UpstreamFileRow, meta_seed: char, size: i64, at: i64) -> UpstreamMetadataRow {
    UpstreamMetadataRow {
        sha256: file.sha256.clone(),
        blob_key: file.blob_key.clone(),
        project: file.project.clone(),
        filename: file.filename.clone(),
        metadata_sha256: std::iter::repeat_n(meta_seed, 64).collect(),
        size,
        first_seen_at: at,
        last_download_at: at,
    }
}

/// Keep `m` under a new claim on its key.
async fn keep_meta(db: &Db, m: &UpstreamMetadataRow) -> MetadataKept {
    let c = claim(db, &m.blob_key, m.first_seen_at).await;
    db.keep_upstream_metadata(m, &c, true)
        .await
        .expect("keep metadata")
}

/// A new claim on `key` at `at` (panics unless claimed).
pub(super) async fn claim(db: &Db, key: &str, at: i64) -> crate::BlobClaim {
    match db.claim_blob(key, at, LEASE).await.expect("claim") {
        ClaimOutcome::Claimed(c) => c,
        other => panic!("expected a claim, got {other:?}"),
    }
}

#[tokio::test]
async fn a_kept_upstream_file_is_recorded_once_and_read_back() {
    for (name, db, _d) in backends().await {
        let r = row('a', "pub_lib-1.0-py3-none-any.whl", 100, 10);
        assert!(r.blob_key.starts_with("upstream/aa/aaaa"), "{}", r.blob_key);
        let c = claim(&db, &r.blob_key, 10).await;
        assert_eq!(
            db.keep_upstream_file(&r, &c).await.expect("keep"),
            KeepOutcome::Kept,
            "{name}"
        );
        assert_eq!(
            db.blob_claim_counts().await.expect("n"),
            (0, 0),
            "{name}: settled"
        );
        assert_eq!(
            db.upstream_file(&r.sha256).await.expect("read"),
            Some(r.clone()),
            "{name}"
        );
        // Another server kept the same file first: a no-op that still settles its claim.
        let c2 = claim(&db, &r.blob_key, 11).await;
        let mut again = r.clone();
        again.first_seen_at = 11;
        assert_eq!(
            db.keep_upstream_file(&again, &c2).await.expect("keep"),
            KeepOutcome::AlreadyKept,
            "{name}"
        );
        assert_eq!(db.blob_claim_counts().await.expect("n"), (0, 0), "{name}");
        assert_eq!(
            db.upstream_file(&r.sha256)
                .await
                .expect("read")
                .map(|x| x.first_seen_at),
            Some(10),
            "{name}"
        );
        // The metadata kept beside it (once).
        assert_eq!(
            keep_meta(&db, &meta(&r, 'b', 9, 12)).await,
            MetadataKept::OnFile,
            "{name}"
        );
        assert_eq!(
            keep_meta(&db, &meta(&r, 'b', 9, 13)).await,
            MetadataKept::Already,
            "{name}"
        );
        assert_eq!(db.blob_claim_counts().await.expect("n"), (0, 0), "{name}");
        assert_eq!(
            db.upstream_metadata(&r.sha256).await.expect("m"),
            None,
            "{name}"
        );
        assert_eq!(
            db.upstream_file(&r.sha256)
                .await
                .expect("read")
                .and_then(|x| x.metadata_sha256),
            Some("b".repeat(64)),
            "{name}"
        );
        assert_eq!(
            db.upstream_file(&"c".repeat(64)).await.expect("read"),
            None,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_keep_whose_claim_was_collected_records_nothing() {
    for (name, db, _d) in backends().await {
        let r = row('a', "x-1.0.tar.gz", 5, 10);
        let c = claim(&db, &r.blob_key, 10).await;
        // The claim expired and a collector took the key.
        let lease = db
            .begin_blob_deletion(&r.blob_key, 10 + 2 * GRACE, 10 + GRACE, LEASE, None)
            .await
            .expect("decide")
            .expect("taken");
        db.finish_blob_deletion(&lease).await.expect("finish");
        assert_eq!(
            db.keep_upstream_file(&r, &c).await.expect("keep"),
            KeepOutcome::ClaimExpired,
            "{name}"
        );
        assert_eq!(
            db.upstream_file(&r.sha256).await.expect("read"),
            None,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_row_protects_its_upstream_key_from_the_collector_until_evicted() {
    for (name, db, _d) in backends().await {
        let r = row('d', "y-1.0-py3-none-any.whl", 7, 10);
        let c = claim(&db, &r.blob_key, 10).await;
        db.keep_upstream_file(&r, &c).await.expect("keep");
        let stray = row('e', "z-1.0.tar.gz", 1, 10).blob_key;
        assert_eq!(
            db.unreferenced_blob_keys(&[r.blob_key.clone(), stray.clone()])
                .await
                .expect("q"),
            vec![stray.clone()],
            "{name}"
        );
        assert_eq!(
            db.begin_blob_deletion(&r.blob_key, 10 * GRACE, 9 * GRACE, LEASE, None)
                .await
                .expect("decide"),
            None,
            "{name}: referenced"
        );
        // A download after the eviction's pick keeps the row.
        db.touch_upstream_files(&[(r.sha256.clone(), 20)])
            .await
            .expect("touch");
        assert!(
            !db.forget_upstream_file(&r, 10).await.expect("forget"),
            "{name}"
        );
        assert!(
            db.forget_upstream_file(&r, 20).await.expect("forget"),
            "{name}"
        );
        assert_eq!(
            db.unreferenced_blob_keys(std::slice::from_ref(&r.blob_key))
                .await
                .expect("q"),
            vec![r.blob_key.clone()],
            "{name}: unreferenced once evicted"
        );
        assert!(
            db.begin_blob_deletion(&r.blob_key, 10 * GRACE, 9 * GRACE, LEASE, None)
                .await
                .expect("decide")
                .is_some(),
            "{name}: collected"
        );
    }
}

#[tokio::test]
async fn eviction_order_is_least_recently_downloaded_first() {
    for (name, db, _d) in backends().await {
        for (i, seed) in ['1', '2', '3'].into_iter().enumerate() {
            let r = row(seed, &format!("f{seed}-1.0.tar.gz"), 100, 10 + i as i64);
            let c = claim(&db, &r.blob_key, 10).await;
            db.keep_upstream_file(&r, &c).await.expect("keep");
        }
        assert_eq!(
            db.upstream_cache_bytes().await.expect("bytes"),
            300,
            "{name}"
        );
        // One batch: "1" moves forward, "2" is never moved back, an unknown file is no error.
        let moved = db
            .touch_upstream_files(&[
                ("1".repeat(64), 100),
                ("2".repeat(64), 5),
                ("9".repeat(64), 100),
            ])
            .await
            .expect("touch");
        assert_eq!(moved, 1, "{name}");
        // Metadata kept on its own counts and takes its place in the same order.
        let lone = row('4', "f4-1.0.tar.gz", 0, 0);
        assert_eq!(
            keep_meta(&db, &meta(&lone, 'm', 50, 10)).await,
            MetadataKept::Alone,
            "{name}"
        );
        assert_eq!(
            db.upstream_cache_bytes().await.expect("bytes"),
            350,
            "{name}"
        );
        let order: Vec<(UpstreamEntryKind, String)> = db
            .least_recent_upstream_entries(10)
            .await
            .expect("lru")
            .into_iter()
            .map(|e| (e.kind, e.sha256[..1].to_owned()))
            .collect();
        use UpstreamEntryKind::{File, Metadata};
        assert_eq!(
            order,
            [
                (Metadata, "4".to_owned()),
                (File, "2".to_owned()),
                (File, "3".to_owned()),
                (File, "1".to_owned())
            ],
            "{name}"
        );
    }
}

/// A backup copies what the snapshot's rows name: cached upstream files and their metadata
/// too (a restore without them would list files it cannot serve).
#[tokio::test]
async fn a_backup_names_cached_upstream_files_and_their_metadata() {
    for (name, db, _d) in backends().await {
        let r = row('f', "w-1.0-py3-none-any.whl", 3, 10);
        let c = claim(&db, &r.blob_key, 10).await;
        db.keep_upstream_file(&r, &c).await.expect("keep");
        keep_meta(&db, &meta(&r, '0', 2, 11)).await;
        // and metadata kept without its file: only `<key>.metadata` exists
        let lone = row('0', "v-1.0-py3-none-any.whl", 3, 10);
        assert_eq!(
            keep_meta(&db, &meta(&lone, '7', 2, 11)).await,
            MetadataKept::Alone
        );
        let named: Vec<(String, String)> = db
            .named_blobs()
            .await
            .expect("blobs")
            .into_iter()
            .map(|b| (b.key, b.sha256))
            .collect();
        assert_eq!(
            named,
            vec![
                (format!("{}.metadata", lone.blob_key), "7".repeat(64)),
                (r.blob_key.clone(), r.sha256.clone()),
                (format!("{}.metadata", r.blob_key), "0".repeat(64)),
            ],
            "{name}"
        );
    }
}

/// Metadata kept without its file protects its key from the collector until evicted, and a
/// file kept later takes it over (its row records the metadata; the metadata row goes).
#[tokio::test]
async fn metadata_kept_alone_is_referenced_then_adopted_by_its_file() {
    for (name, db, _d) in backends().await {
        let r = row('a', "pub_lib-2.0-py3-none-any.whl", 100, 10);
        let m = meta(&r, 'c', 5, 10);
        assert_eq!(keep_meta(&db, &m).await, MetadataKept::Alone, "{name}");
        assert_eq!(keep_meta(&db, &m).await, MetadataKept::Already, "{name}");
        assert_eq!(
            db.upstream_metadata(&r.sha256).await.expect("m"),
            Some(m.clone()),
            "{name}"
        );
        assert!(
            db.unreferenced_blob_keys(std::slice::from_ref(&r.blob_key))
                .await
                .expect("q")
                .is_empty(),
            "{name}"
        );
        assert_eq!(
            db.begin_blob_deletion(&r.blob_key, 10 * GRACE, 9 * GRACE, LEASE, None)
                .await
                .expect("decide"),
            None,
            "{name}: referenced"
        );
        // A download moves it; eviction then needs the newer time.
        db.touch_upstream_files(&[(r.sha256.clone(), 30)])
            .await
            .expect("touch");
        let entry = db
            .least_recent_upstream_entries(1)
            .await
            .expect("lru")
            .pop()
            .expect("one");
        assert_eq!(
            (entry.kind, entry.last_download_at),
            (UpstreamEntryKind::Metadata, 30)
        );
        // The file is kept: it takes the metadata over.
        let c = claim(&db, &r.blob_key, 40).await;
        assert_eq!(
            db.keep_upstream_file(&r, &c).await.expect("keep"),
            KeepOutcome::Kept
        );
        assert_eq!(
            db.upstream_file(&r.sha256)
                .await
                .expect("f")
                .and_then(|f| f.metadata_sha256),
            Some(m.metadata_sha256.clone()),
            "{name}"
        );
        assert_eq!(
            db.upstream_metadata(&r.sha256).await.expect("m"),
            None,
            "{name}"
        );
        assert_eq!(
            db.upstream_cache_bytes().await.expect("bytes"),
            100,
            "{name}"
        );
        // Evicting a lone metadata row frees its key.
        let other = row('b', "pub_lib-3.0-py3-none-any.whl", 100, 10);
        keep_meta(&db, &meta(&other, 'd', 5, 50)).await;
        let entry = db
            .least_recent_upstream_entries(10)
            .await
            .expect("lru")
            .into_iter()
            .find(|e| e.kind == UpstreamEntryKind::Metadata)
            .expect("metadata entry");
        assert!(
            !db.forget_upstream_entry(&entry, 49).await.expect("forget"),
            "{name}"
        );
        assert!(
            db.forget_upstream_entry(&entry, 50).await.expect("forget"),
            "{name}"
        );
        assert_eq!(
            db.unreferenced_blob_keys(std::slice::from_ref(&other.blob_key))
                .await
                .expect("q"),
            vec![other.blob_key.clone()],
            "{name}"
        );
    }
}

/// Metadata kept alone under the earlier key layout is not taken over by its file kept under
/// the current one (the blob is not beside the file): its row goes, its key is unreferenced,
/// and the file's row has no metadata (fetched again).
#[tokio::test]
async fn metadata_under_an_earlier_key_layout_is_not_adopted() {
    for (name, db, _d) in backends().await {
        let r = row('e', "pub_lib-5.0-py3-none-any.whl", 100, 10);
        let mut m = meta(&r, 'f', 5, 10);
        m.blob_key = format!("upstream/ee/ee/{}/{}", "e".repeat(60), r.filename);
        assert_eq!(keep_meta(&db, &m).await, MetadataKept::Alone, "{name}");
        let c = claim(&db, &r.blob_key, 40).await;
        assert_eq!(
            db.keep_upstream_file(&r, &c).await.expect("keep"),
            KeepOutcome::Kept,
            "{name}"
        );
        let kept = db.upstream_file(&r.sha256).await.expect("f").expect("kept");
        assert_eq!(kept.metadata_sha256, None, "{name}");
        assert_eq!(
            db.upstream_metadata(&r.sha256).await.expect("m"),
            None,
            "{name}"
        );
        assert_eq!(
            db.unreferenced_blob_keys(std::slice::from_ref(&m.blob_key))
                .await
                .expect("q"),
            vec![m.blob_key.clone()],
            "{name}"
        );
    }
}

/// The metadata of a file just kept, recorded after the file was evicted, is not kept on its
/// own (the key's blobs are to go): nothing recorded, the claim still held for its release.
#[tokio::test]
async fn metadata_for_an_evicted_file_is_not_kept_alone() {
    for (name, db, _d) in backends().await {
        let r = row('e', "pub_lib-4.0-py3-none-any.whl", 100, 10);
        let c = claim(&db, &r.blob_key, 10).await;
        assert_eq!(
            db.keep_upstream_metadata(&meta(&r, 'f', 5, 10), &c, false)
                .await
                .expect("keep"),
            MetadataKept::FileGone,
            "{name}"
        );
        assert_eq!(
            db.upstream_metadata(&r.sha256).await.expect("m"),
            None,
            "{name}"
        );
        assert_eq!(
            db.blob_claim_counts().await.expect("n"),
            (1, 0),
            "{name}: still claimed"
        );
    }
}
