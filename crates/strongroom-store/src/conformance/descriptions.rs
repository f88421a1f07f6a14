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
        release_window_micros: 14 * 86_400_000_000,
        max_project_size: 1_000_000,
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
        let todo = db.releases_to_render(2, 0, 10).await.expect("to render");
        assert_eq!(
            todo.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![ids[1], ids[2]],
            "{name}"
        );
        assert!(todo[0].1.contains("# Hello 2.0"), "{name}");
        let first = db.releases_to_render(2, 0, 1).await.expect("to render");
        assert_eq!(first.len(), 1);
        let next = db
            .releases_to_render(2, first[0].0, 1)
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
            db.releases_to_render(2, 0, 10)
                .await
                .expect("to render")
                .is_empty()
        );
        // a renderer upgrade finds them all again
        assert_eq!(
            db.releases_to_render(3, 0, 10)
                .await
                .expect("to render")
                .len(),
            3
        );
    }
}

#[tokio::test]
async fn release_lists_leave_the_metadata_out() {
    for (name, db, _d) in backends().await {
        let uid = owner(&db).await;
        for version in ["1.0", "2.0"] {
            db.publish_file(&file(uid, version, None))
                .await
                .expect("publish");
        }
        let p = db
            .project_by_normalized("described")
            .await
            .expect("project")
            .expect("exists");
        let mut full = db.releases_of(p.id).await.expect("releases");
        let mut listed = db.release_list_of(p.id).await.expect("list");
        full.sort_by_key(|r| r.id);
        listed.sort_by_key(|r| r.id);
        assert_eq!(listed.len(), 2, "{name}");
        for (f, l) in full.iter().zip(&listed) {
            assert_eq!(
                (f.id, &f.version, f.created_at),
                (l.id, &l.version, l.created_at)
            );
            assert!(l.core_metadata.is_empty(), "{name}");
            assert_eq!(
                db.release_core_metadata(l.id).await.expect("metadata"),
                Some(f.core_metadata.clone()),
                "{name}"
            );
        }
        assert_eq!(db.release_core_metadata(-1).await.expect("metadata"), None);
    }
}
