//! Backups: the blobs a database's rows name (with `.metadata` companions), its counts and
//! schema version on both engines; on SQLite, a snapshot taken while a writer holds an
//! uncommitted change has the committed state only, is owner-only, and opens read-only.

use std::os::unix::fs::PermissionsExt;

use sqlx::Executor;

use super::{backends, verified_user};
use crate::publish::{NewFile, PublishOutcome};
use crate::snapshot::NamedBlob;
use crate::{Db, Dialect, NewEvent};

fn file(user_id: i64, version: &str, with_metadata: bool) -> NewFile {
    let h = |salt: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{salt}{version}")))
    };
    let filename = format!("acme-{version}-py3-none-any.whl");
    let b2 = h("b2");
    NewFile {
        project_name: "Acme".into(),
        normalized_name: "acme".into(),
        ultranormalized_name: "acme".into(),
        user_id,
        username: format!("user{user_id}"),
        token_project_id: None,
        token_id: None,
        version: version.into(),
        canonical_version: version.into(),
        requires_python: None,
        core_metadata: "Metadata-Version: 2.1\nName: acme\n".into(),
        description: None,
        filename: filename.clone(),
        packagetype: "bdist_wheel".into(),
        python_version: "py3".into(),
        size: 10,
        md5: h("md5")[..32].to_owned(),
        sha256: h("sha"),
        blake2_256: b2.clone(),
        blob_key: format!("{}/{}/{}/{filename}", &b2[..2], &b2[2..4], &b2[4..]),
        metadata_sha256: with_metadata.then(|| h("meta")),
        metadata_blake2_256: with_metadata.then(|| h("metab2")),
        comment_text: None,
        request_id: None,
        at: 1_000_000,
        ip: None,
        user_agent: None,
        release_window_micros: i64::MAX / 2,
        max_project_size: 1_000_000,
        scan: None,
    }
}

async fn two_files(db: &Db) -> Vec<NewFile> {
    let event = NewEvent {
        at: 1,
        action: "account:create".into(),
        subject_kind: "user".into(),
        ..NewEvent::default()
    };
    let u = verified_user(db, "owner", None, 1, event).await;
    let files = vec![file(u, "1.0", true), file(u, "2.0", false)];
    for f in &files {
        assert!(matches!(
            db.publish_file(f).await.expect("publish"),
            PublishOutcome::Published { .. }
        ));
    }
    files
}

fn expected(files: &[NewFile]) -> Vec<NamedBlob> {
    let mut out = Vec::new();
    for f in files {
        out.push(NamedBlob {
            key: f.blob_key.clone(),
            sha256: f.sha256.clone(),
        });
        if let Some(m) = &f.metadata_sha256 {
            out.push(NamedBlob {
                key: format!("{}.metadata", f.blob_key),
                sha256: m.clone(),
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

#[tokio::test]
async fn every_file_row_names_its_blob_and_metadata_with_their_sha256() {
    for (name, db, _d) in backends().await {
        let files = two_files(&db).await;
        assert_eq!(
            db.named_blobs().await.expect("blobs"),
            expected(&files),
            "{name}"
        );
        let c = db.counts().await.expect("counts");
        assert_eq!(
            (c.users, c.projects, c.releases, c.files),
            (1, 1, 2, 2),
            "{name}"
        );
        assert!(c.events >= 1, "{name}");
        let newest = crate::migrations::MIGRATIONS
            .last()
            .expect("migrations")
            .version;
        assert_eq!(db.schema_version().await.expect("schema"), newest, "{name}");
        assert!(db.has_tables().await.expect("tables"), "{name}");
        if db.dialect() == Dialect::Postgres {
            let dir = tempfile::tempdir().expect("tempdir");
            assert!(
                db.snapshot_into(&dir.path().join("s.db")).await.is_err(),
                "{name}: PostgreSQL is backed up with pg_dump"
            );
            assert!(!dir.path().join("s.db").exists(), "{name}");
        }
    }
}

#[tokio::test]
async fn an_sqlite_snapshot_holds_what_was_committed_when_it_began_and_is_owner_only() {
    for (_name, db, dir) in backends().await {
        if db.dialect() != Dialect::Sqlite {
            continue;
        }
        let files = two_files(&db).await;
        let head = db.event_head().await.expect("head");
        // A writer in the middle of a change: the snapshot does not wait for it nor see it.
        let mut tx = db.begin_write().await.expect("begin");
        tx.execute("DELETE FROM files").await.expect("delete");
        let dest = dir.path().join("snap.db");
        db.snapshot_into(&dest).await.expect("snapshot");
        drop(tx);
        let mode = std::fs::metadata(&dest).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(
            db.snapshot_into(&dest).await.is_err(),
            "a snapshot never overwrites a file"
        );

        let snap = Db::open_snapshot(&dest).await.expect("open");
        assert_eq!(snap.named_blobs().await.expect("blobs"), expected(&files));
        assert_eq!(snap.event_head().await.expect("head"), head);
        assert_eq!(snap.verify_events().await.expect("verify"), None);
        assert!(
            snap.execute_probe().await.is_err(),
            "the snapshot opens read-only"
        );
        snap.close().await;
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut p = dest.as_os_str().to_owned();
            p.push(suffix);
            assert!(
                !std::path::Path::new(&p).exists(),
                "no {suffix} beside the snapshot"
            );
        }
    }
}

impl Db {
    /// A write on the read pool (fails on a read-only snapshot).
    async fn execute_probe(&self) -> Result<(), crate::StoreError> {
        sqlx::query("CREATE TABLE probe (x INTEGER)")
            .execute(&self.read)
            .await?;
        Ok(())
    }
}
