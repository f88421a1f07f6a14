//! The public filters of `crate::visibility` and the changelog's subject states, on every
//! backend: one project per stored status, each with a live file, a removed file, a removed
//! release and a held release. (Core's tests hold the same reads to its rule, state by state.)

use std::collections::BTreeSet;

use super::{backends, verified_user};
use crate::publish::{NewFile, PublishOutcome};
use crate::visibility::ProjectStatus;
use crate::{Db, NewEvent, ReleaseFlags};

const T0: i64 = 1_767_225_600_000_000;

pub(super) fn file(project: &str, user_id: i64, version: &str, tag: &str) -> NewFile {
    let h = |salt: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!(
            "{salt}{project}{version}{tag}"
        )))
    };
    let filename = format!("{project}-{version}-{tag}.whl");
    NewFile {
        project_name: project.into(),
        normalized_name: project.into(),
        ultranormalized_name: project.into(),
        user_id,
        username: format!("user{user_id}"),
        token_project_id: None,
        token_id: None,
        version: version.into(),
        canonical_version: version.into(),
        requires_python: None,
        core_metadata: "Metadata-Version: 2.1\nName: x\nVersion: 1.0\n".into(),
        description: None,
        blob_key: format!("{}/{filename}", h("b2")),
        filename,
        packagetype: "bdist_wheel".into(),
        python_version: "py3".into(),
        size: 10,
        md5: h("md5")[..32].to_owned(),
        sha256: h("sha"),
        blake2_256: h("b2"),
        metadata_sha256: None,
        metadata_blake2_256: None,
        comment_text: None,
        at: T0,
        ip: None,
        user_agent: None,
        request_id: None,
        release_window_micros: i64::MAX / 2,
        max_project_size: 1_000_000,
        scan: None,
    }
}

async fn exec(db: &Db, sql: &str, arg: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(arg.to_owned())
        .execute(&db.write)
        .await
        .expect("update");
}

/// `v<status>`: 1.0 with a live and a removed file, 2.0 removed, 3.0 held; status set.
async fn project_in(db: &Db, u: i64, status: ProjectStatus) -> String {
    let p = format!("v{}", status.as_str());
    for (v, tag) in [("1.0", "live"), ("1.0", "gone"), ("2.0", "x"), ("3.0", "x")] {
        assert!(matches!(
            db.publish_file(&file(&p, u, v, tag))
                .await
                .expect("publish"),
            PublishOutcome::Published { .. }
        ));
    }
    exec(
        db,
        "UPDATE files SET removed_at = 5 WHERE filename = $1",
        &format!("{p}-1.0-gone.whl"),
    )
    .await;
    exec(
        db,
        "UPDATE releases SET removed_at = 5 WHERE version = '2.0' AND project_id = (SELECT id FROM projects WHERE normalized_name = $1)",
        &p,
    )
    .await;
    exec(
        db,
        "UPDATE releases SET quarantined_at = 5 WHERE version = '3.0' AND project_id = (SELECT id FROM projects WHERE normalized_name = $1)",
        &p,
    )
    .await;
    sqlx::query("UPDATE projects SET status = $1 WHERE normalized_name = $2")
        .bind(status.as_str())
        .bind(p.clone())
        .execute(&db.write)
        .await
        .expect("status");
    p
}

fn public(status: ProjectStatus) -> bool {
    matches!(
        status,
        ProjectStatus::Active | ProjectStatus::Archived | ProjectStatus::Deprecated
    )
}

#[tokio::test]
async fn public_reads_keep_only_public_rows_and_the_changelog_reports_what_it_names() {
    for (name, db, _d) in backends().await {
        let ev = NewEvent {
            at: T0,
            action: "account:create".into(),
            subject_kind: "user".into(),
            ..NewEvent::default()
        };
        let u = verified_user(&db, "owner", None, T0, ev).await;
        let mut projects = Vec::new();
        for s in ProjectStatus::ALL {
            projects.push((s, project_in(&db, u, s).await));
        }
        let listed: BTreeSet<String> = db
            .index_projects()
            .await
            .expect("index")
            .into_iter()
            .map(|(_, n, _)| n)
            .collect();
        let want: BTreeSet<String> = projects
            .iter()
            .filter(|(s, _)| public(*s))
            .map(|(_, p)| p.clone())
            .collect();
        assert_eq!(listed, want, "{name}");
        for (s, p) in &projects {
            let id = db.project_state(p).await.expect("r").expect("p").id;
            let versions: Vec<String> = db
                .releases_of(id)
                .await
                .expect("releases")
                .into_iter()
                .map(|r| r.version)
                .collect();
            let files: Vec<String> = db
                .files_of(id)
                .await
                .expect("files")
                .into_iter()
                .map(|f| f.filename)
                .collect();
            if public(*s) {
                assert_eq!(versions, vec!["1.0".to_owned()], "{name} {p}");
                assert_eq!(files, vec![format!("{p}-1.0-live.whl")], "{name} {p}");
            } else {
                assert!(versions.is_empty() && files.is_empty(), "{name} {p}");
            }
            for f in db.files_any_state(id).await.expect("all") {
                let served = db
                    .file_by_blob_key(&f.blob_key)
                    .await
                    .expect("dl")
                    .is_some();
                assert_eq!(
                    served,
                    public(*s) && f.filename.ends_with("-1.0-live.whl"),
                    "{name} {}",
                    f.filename
                );
            }
        }

        // Every entry comes back, with the present state of the project, release and file.
        let rows = db.changelog_since(0, 1000).await.expect("changelog");
        assert_eq!(
            rows.len(),
            5 * 8,
            "{name}: create + 3 new releases + 4 files, per project"
        );
        let live = ReleaseFlags {
            held: false,
            removed: false,
            yanked: false,
        };
        for r in &rows {
            let p = r.entry.project_name.clone();
            let status = r.project_status.expect("status");
            assert_eq!(format!("v{}", status.as_str()), p, "{name}");
            let release = match r.entry.version.as_deref() {
                None => None,
                Some("1.0") => Some(live),
                Some("2.0") => Some(ReleaseFlags {
                    removed: true,
                    ..live
                }),
                Some(_) => Some(ReleaseFlags { held: true, ..live }),
            };
            assert_eq!(r.release, release, "{name} {:?}", r.entry);
            let file = r
                .entry
                .filename
                .as_deref()
                .map(|f| f.ends_with("-gone.whl"));
            assert_eq!(r.file_removed, file, "{name} {:?}", r.entry);
        }
        // A version nothing has (the journal of a release never found) reads as no release.
        let since = db.global_serial().await.expect("serial");
        let id = db.project_state("vactive").await.expect("r").expect("p").id;
        let serial = db
            .set_yanked(
                id,
                "1.0",
                Some("bad"),
                "owner",
                NewEvent {
                    at: T0,
                    action: "release:yank".into(),
                    subject_kind: "project".into(),
                    ..NewEvent::default()
                },
            )
            .await
            .expect("yank");
        sqlx::query("UPDATE journal SET version = '9.9' WHERE serial = $1")
            .bind(serial)
            .execute(&db.write)
            .await
            .expect("update");
        let rows = db.changelog_since(since, 10).await.expect("changelog");
        assert_eq!(rows.len(), 1, "{name}");
        assert_eq!(
            (rows[0].release, rows[0].file_removed),
            (None, None),
            "{name}"
        );
    }
}
