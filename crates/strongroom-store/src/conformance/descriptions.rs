//! Release descriptions: the HTML stored at publish, found by the re-render job when missing
//! or older than the current renderer, and replaced only by a newer renderer.

use super::backends;
use crate::publish::NewFile;
use crate::users::NewUser;
use crate::{Db, NewEvent, RenderedDescription};

async fn owner(db: &Db) -> i64 {
    db.create_user(
        &NewUser {
            username: "owner".into(),
            email: "owner@example.org".into(),
            email_verified: true,
            password_hash: None,
            is_admin: false,
            at: 1,
        },
        NewEvent {
            at: 1,
            action: "account:create".into(),
            subject_kind: "user".into(),
            ..NewEvent::default()
        },
    )
    .await
    .expect("create user")
    .id
}

fn file(user_id: i64, version: &str, description: Option<RenderedDescription>) -> NewFile {
    let digest = format!("{:0>64}", version.replace('.', ""));
    NewFile {
        project_name: "described".into(),
        normalized_name: "described".into(),
        ultranormalized_name: "described".into(),
        user_id,
        username: "owner".into(),
        token_project_id: None,
        token_id: None,
        version: version.into(),
        canonical_version: version.into(),
        requires_python: None,
        core_metadata: format!(
            "Metadata-Version: 2.1\nName: described\nVersion: {version}\n\n# Hello {version}\n"
        ),
        description,
        filename: format!("described-{version}.tar.gz"),
        packagetype: "sdist".into(),
        python_version: "source".into(),
        size: 10,
        md5: digest[..32].to_owned(),
        sha256: digest.clone(),
        blake2_256: digest.clone(),
        blob_key: format!("{digest}/described-{version}.tar.gz"),
        metadata_sha256: None,
        metadata_blake2_256: None,
        comment_text: None,
        at: 1_000_000,
        ip: None,
        user_agent: None,
        request_id: None,
        release_window_micros: 14 * 86_400_000_000,
        max_project_size: 1_000_000,
        scan: None,
    }
}

fn rendered(html: &str, renderer: i64) -> RenderedDescription {
    RenderedDescription {
        html: html.into(),
        renderer,
    }
}

#[tokio::test]
async fn descriptions_are_stored_at_publish_and_brought_up_to_date() {
    for (name, db, _d) in backends().await {
        let uid = owner(&db).await;
        // 1.0 rendered at publish by renderer 2; 2.0 as a row from before rendering at
        // publish; 3.0 by an older renderer
        for (version, description) in [
            ("1.0", Some(rendered("<h1>Hello 1.0</h1>", 2))),
            ("2.0", None),
            ("3.0", Some(rendered("<p>old</p>", 1))),
        ] {
            db.publish_file(&file(uid, version, description))
                .await
                .expect("publish");
        }
        let ids: Vec<i64> = {
            let p = db
                .project_by_normalized("described")
                .await
                .expect("project")
                .expect("exists");
            let mut rs = db.releases_of(p.id).await.expect("releases");
            rs.sort_by(|a, b| a.version.cmp(&b.version));
            rs.iter().map(|r| r.id).collect()
        };
        assert_eq!(
            db.release_description(ids[0]).await.expect("read"),
            Some(rendered("<h1>Hello 1.0</h1>", 2)),
            "{name}"
        );
        assert_eq!(db.release_description(ids[1]).await.expect("read"), None);
        assert_eq!(db.release_description(-1).await.expect("read"), None);

        // the job's view: never rendered or older than the current renderer, in id order,
        // in batches
        let todo = db
            .releases_to_render(2, 0, 10, usize::MAX)
            .await
            .expect("to render");
        assert_eq!(
            todo.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![ids[1], ids[2]],
            "{name}"
        );
        assert!(todo[0].1.contains("# Hello 2.0"), "{name}");
        let first = db
            .releases_to_render(2, 0, 1, usize::MAX)
            .await
            .expect("to render");
        assert_eq!(first.len(), 1);
        let next = db
            .releases_to_render(2, first[0].0, 1, usize::MAX)
            .await
            .expect("to render");
        assert_eq!(next[0].0, ids[2], "{name}");

        // writing is idempotent, and never replaces a newer renderer's work
        assert!(
            db.set_release_description(ids[1], &rendered("<h1>Hello 2.0</h1>", 2))
                .await
                .expect("set")
        );
        assert!(
            !db.set_release_description(ids[1], &rendered("<h1>again</h1>", 2))
                .await
                .expect("set")
        );
        assert!(
            !db.set_release_description(ids[0], &rendered("<p>downgrade</p>", 1))
                .await
                .expect("set")
        );
        assert!(
            db.set_release_description(ids[2], &rendered("<h1>Hello 3.0</h1>", 2))
                .await
                .expect("set")
        );
        assert_eq!(
            db.release_description(ids[1]).await.expect("read"),
            Some(rendered("<h1>Hello 2.0</h1>", 2)),
            "{name}"
        );
        assert_eq!(
            db.release_description(ids[0]).await.expect("read"),
            Some(rendered("<h1>Hello 1.0</h1>", 2)),
            "{name}"
        );
        assert!(
            db.releases_to_render(2, 0, 10, usize::MAX)
                .await
                .expect("to render")
                .is_empty()
        );
        // a renderer upgrade finds them all again
        assert_eq!(
            db.releases_to_render(3, 0, 10, usize::MAX)
                .await
                .expect("to render")
                .len(),
            3
        );
    }
}

/// The job's batches hold a bounded amount of metadata (each release's may be megabytes): the
/// first release always, the others while their sizes fit in the budget, the rest next batch.
#[tokio::test]
async fn a_render_batch_holds_at_most_its_byte_budget_of_metadata() {
    const KIB: usize = 1024;
    for (name, db, _d) in backends().await {
        let uid = owner(&db).await;
        for version in ["1.0", "2.0", "3.0", "4.0"] {
            let mut f = file(uid, version, None);
            // ~100 KiB of description each
            f.core_metadata.push_str(&"x".repeat(100 * KIB));
            db.publish_file(&f).await.expect("publish");
        }
        let size = |batch: &[(i64, String)]| batch.iter().map(|(_, m)| m.len()).sum::<usize>();
        let all = db
            .releases_to_render(2, 0, 50, usize::MAX)
            .await
            .expect("all");
        assert_eq!(all.len(), 4, "{name}");
        let one = all[0].1.len();
        assert!(one > 100 * KIB, "{name}");
        // room for two and a half: two
        let batch = db
            .releases_to_render(2, 0, 50, one * 5 / 2)
            .await
            .expect("batch");
        assert_eq!(batch.len(), 2, "{name}");
        assert!(size(&batch) <= one * 5 / 2, "{name}");
        assert_eq!(batch, all[..2].to_vec(), "{name}");
        // a budget below one release's size still makes progress, one at a time
        let mut after = 0;
        let mut seen = Vec::new();
        loop {
            let b = db
                .releases_to_render(2, after, 50, KIB)
                .await
                .expect("batch");
            let Some(last) = b.last() else { break };
            assert_eq!(b.len(), 1, "{name}");
            after = last.0;
            seen.extend(b);
        }
        assert_eq!(seen, all, "{name}");
        // the row limit still holds
        assert_eq!(
            db.releases_to_render(2, 0, 3, usize::MAX)
                .await
                .expect("limit")
                .len(),
            3,
            "{name}"
        );
    }
}

/// Lists of releases carry no metadata ([`crate::model::ReleaseSummary`] has no field for it):
/// the one release a page describes has its metadata read alone, and only while the public sees
/// it.
#[tokio::test]
async fn one_public_release_at_a_time_has_its_metadata_read() {
    for (name, db, _d) in backends().await {
        let uid = owner(&db).await;
        let files: Vec<NewFile> = ["1.0", "2.0"]
            .into_iter()
            .map(|v| file(uid, v, None))
            .collect();
        for f in &files {
            db.publish_file(f).await.expect("publish");
        }
        let p = db
            .project_by_normalized("described")
            .await
            .expect("project")
            .expect("exists");
        let mut listed = db.releases_of(p.id).await.expect("list");
        listed.sort_by_key(|r| r.id);
        assert_eq!(listed.len(), 2, "{name}");
        for (f, l) in files.iter().zip(&listed) {
            assert_eq!(l.version, f.version, "{name}");
            assert_eq!(
                db.release_core_metadata(l.id).await.expect("metadata"),
                Some(f.core_metadata.clone()),
                "{name}"
            );
            let one = db
                .public_release(p.id, l.id)
                .await
                .expect("one")
                .expect("public");
            assert_eq!((one.id, &one.version), (l.id, &l.version), "{name}");
            assert!(
                db.public_release(p.id + 1, l.id)
                    .await
                    .expect("other project")
                    .is_none(),
                "{name}"
            );
        }
        assert_eq!(db.release_core_metadata(-1).await.expect("metadata"), None);
    }
}
