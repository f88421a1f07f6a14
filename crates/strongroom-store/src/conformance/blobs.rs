//! Blob store cases on the local folder and on a real S3-compatible server.

use bytes::Bytes;
use futures_util::StreamExt;

use crate::{BlobKey, Blobs, ByteRange};

async fn read_all(b: &Blobs, key: &str, range: Option<ByteRange>) -> Option<Vec<u8>> {
    let mut s = b.get(key, range).await.expect("get")?;
    let mut out = Vec::new();
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.expect("chunk"));
    }
    Some(out)
}

#[tokio::test]
async fn blob_stores_round_trip() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = crate::testing::blob_stores(super::SUITE, dir.path());
    for (name, b) in stores {
        let unique = format!("{:064x}", crate::model::now_micros());
        let key = BlobKey::for_file(&unique, "demo-1.0.tar.gz").expect("key");
        assert_eq!(
            key.as_str(),
            format!(
                "{}/{}/{}/demo-1.0.tar.gz",
                &unique[..2],
                &unique[2..4],
                &unique[4..]
            )
        );
        assert!(
            b.head(key.as_str()).await.expect("head").is_none(),
            "{name}"
        );
        // Large enough to take the multipart path on S3.
        let data: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let src = dir.path().join(format!("src-{name}"));
        std::fs::write(&src, &data).expect("write");
        b.put_file(&key, &src).await.expect("put");
        assert!(
            src.exists(),
            "{name}: the caller's temp file is left for the caller"
        );
        assert_eq!(
            b.head(key.as_str())
                .await
                .expect("head")
                .expect("present")
                .size,
            data.len() as u64,
            "{name}"
        );
        assert_eq!(
            read_all(&b, key.as_str(), None).await.expect("present"),
            data,
            "{name}"
        );
        let part = read_all(
            &b,
            key.as_str(),
            Some(ByteRange {
                start: 1000,
                end: 1100,
            }),
        )
        .await
        .expect("present");
        assert_eq!(part, &data[1000..1100], "{name}");
        b.put_bytes(
            &key.metadata(),
            Bytes::from_static(b"Metadata-Version: 2.1\n"),
        )
        .await
        .expect("put meta");
        assert_eq!(
            b.get_bytes(&key.metadata())
                .await
                .expect("get")
                .expect("present"),
            Bytes::from_static(b"Metadata-Version: 2.1\n")
        );
        b.delete(key.as_str()).await.expect("delete");
        assert!(
            b.get(key.as_str(), None).await.expect("get").is_none(),
            "{name}"
        );
        b.delete(key.as_str())
            .await
            .expect("deleting twice is fine");
    }
}

#[test]
fn keys_refuse_traversal() {
    let h = "a".repeat(64);
    assert!(BlobKey::for_file(&h, "../x").is_none());
    assert!(BlobKey::for_file(&h, "a/b").is_none());
    assert!(BlobKey::for_file("zz", "x.whl").is_none());
    assert!(BlobKey::parse(&format!("aa/aa/{}/x.whl", "a".repeat(60))).is_some());
    assert!(BlobKey::parse(&format!("aa/aa/{}/../x.whl", "a".repeat(60))).is_none());
    assert!(BlobKey::parse("aa/aa/x.whl").is_none());
}

/// A cached upstream file's key: one folder per leading byte, read back exactly; the earlier
/// four-part layout is still read (rows kept before name it); anything else is not a key.
#[test]
fn upstream_keys_have_one_folder_per_leading_byte_and_the_earlier_layout_is_read() {
    let sha = format!("ab{}", "c".repeat(62));
    let key = BlobKey::for_upstream(&sha, "demo-1.0-py3-none-any.whl").expect("key");
    assert_eq!(
        key.as_str(),
        format!("upstream/ab/{sha}-demo-1.0-py3-none-any.whl")
    );
    assert!(key.is_upstream());
    assert_eq!(BlobKey::parse_upstream(key.as_str()), Some(key.clone()));
    assert_eq!(BlobKey::parse_stored(key.as_str()), Some(key.clone()));
    let earlier = format!("upstream/ab/cc/{}/demo-1.0.tar.gz", "c".repeat(60));
    assert_eq!(
        BlobKey::parse_upstream(&earlier).map(|k| k.as_str().to_owned()),
        Some(earlier.clone())
    );
    for bad in [
        format!("upstream/cd/{sha}-demo-1.0.tar.gz"),
        format!("upstream/ab/{sha}demo-1.0.tar.gz"),
        format!("upstream/ab/{sha}-../x"),
        format!("upstream/ab/{sha}-.hidden"),
        format!("upstream/ab/{}-demo-1.0.tar.gz", "c".repeat(63)),
        format!("ab/{sha}-demo-1.0.tar.gz"),
        "upstream/ab/".to_owned(),
    ] {
        assert_eq!(BlobKey::parse_upstream(&bad), None, "{bad}");
        assert_eq!(BlobKey::parse_stored(&bad), None, "{bad}");
    }
    assert!(BlobKey::for_upstream("zz", "x.whl").is_none());
    assert!(BlobKey::for_upstream(&sha, "a/b.whl").is_none());
}

/// The local folder store keeps blobs owner-only (issue 8, finding 7): files 0600 and folders
/// 0700, whatever the mode of the caller's temp file and the umask.
#[tokio::test]
async fn local_blobs_and_their_folders_are_owner_only() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("stat").mode() & 0o777;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("blobs");
    let b = Blobs::local(&root).expect("local");
    let key = BlobKey::for_file(&"ab".repeat(32), "demo-1.0-py3-none-any.whl").expect("key");
    let src = dir.path().join("src");
    std::fs::write(&src, b"wheel bytes").expect("write");
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    b.put_file(&key, &src).await.expect("put");
    let meta_key = format!("{}.metadata", key.as_str());
    b.put_bytes(&meta_key, Bytes::from_static(b"Metadata-Version: 2.1\n"))
        .await
        .expect("put bytes");
    assert_eq!(mode(&root.join(key.as_str())), 0o600);
    assert_eq!(mode(&root.join(&meta_key)), 0o600);
    assert_eq!(mode(&root.join(".tmp")), 0o700);
    let mut d = root.join(key.as_str());
    while d.pop() && d.starts_with(&root) {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
}

/// The listing names every object by the key it was stored under, on both backends (object_store
/// escapes some characters on the way in: the collector compares listed keys with the database's),
/// skips the folder store's `.tmp`, and carries a write time.
#[tokio::test]
async fn blob_stores_list_objects_under_their_own_keys() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = crate::testing::blob_stores(super::SUITE, dir.path());
    std::fs::write(dir.path().join("blobs/.tmp/upload-x"), b"in flight").expect("temp");
    for (name, b) in stores {
        let unique = format!("{:064x}", crate::model::now_micros() + 7);
        let key = BlobKey::for_file(&unique, "odd~name%41 [1].whl").expect("key");
        b.put_bytes(key.as_str(), Bytes::from_static(b"x"))
            .await
            .expect("put");
        b.put_bytes(&key.metadata(), Bytes::from_static(b"m"))
            .await
            .expect("put meta");
        let listed: Vec<crate::ListedBlob> = b
            .list()
            .map(|r| r.expect("listed"))
            .collect::<Vec<_>>()
            .await;
        let mine: Vec<&crate::ListedBlob> = listed
            .iter()
            .filter(|l| l.key.starts_with(key.as_str()))
            .collect();
        let mut keys: Vec<&str> = mine.iter().map(|l| l.key.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, vec![key.as_str(), key.metadata().as_str()], "{name}");
        let now = crate::model::now_micros();
        assert!(
            mine.iter()
                .all(|l| (now - l.modified_micros).abs() < 600_000_000),
            "{name}: write times are real"
        );
        assert!(
            !listed.iter().any(|l| l.key.contains(".tmp")),
            "{name}: temp files are not blobs"
        );
        b.delete(key.as_str()).await.expect("delete");
        b.delete(&key.metadata()).await.expect("delete");
    }
}
