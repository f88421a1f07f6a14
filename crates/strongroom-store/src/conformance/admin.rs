//! Interventions: project status changes with journal entries, soft removal that keeps names
//! burned, prohibited names, account freeze/undelete with role grants, and the timeline queries.

use super::{backends, verified_user};
use crate::publish::{NewFile, PublishOutcome, Refusal};
use crate::states::{ProjectRole, ProjectStatus};
use crate::{Db, NewEvent};

fn ev(action: &str, kind: &str, id: Option<i64>, details: serde_json::Value) -> NewEvent {
    NewEvent {
        at: 5_000_000,
        actor_name: Some("cli:test".into()),
        action: action.into(),
        subject_kind: kind.into(),
        subject_id: id,
        details,
        ..NewEvent::default()
    }
}

async fn user(db: &Db, name: &str) -> i64 {
    let event = ev("account:create", "user", None, serde_json::json!({}));
    verified_user(db, name, None, 1, event).await
}

fn file(user_id: i64, version: &str, filename: &str, content: &str) -> NewFile {
    let h = |salt: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{salt}{content}")))
    };
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
        filename: filename.into(),
        packagetype: "bdist_wheel".into(),
        python_version: "py3".into(),
        size: 10,
        md5: h("md5")[..32].to_owned(),
        sha256: h("sha"),
        blake2_256: h("b2"),
        blob_key: format!("{}/{filename}", h("b2")),
        metadata_sha256: None,
        metadata_blake2_256: None,
        comment_text: None,
        at: 1_000_000,
        ip: None,
        user_agent: None,
        request_id: None,
        release_window_micros: i64::MAX / 2,
        max_project_size: 1_000_000,
        scan: None,
    }
}

async fn publish(db: &Db, f: &NewFile) -> PublishOutcome {
    db.publish_file(f).await.expect("publish")
}

#[tokio::test]
async fn quarantine_hides_and_release_restores_with_journal_entries() {
    for (name, db, _d) in backends().await {
        let u = user(&db, "owner").await;
        assert!(matches!(
            publish(&db, &file(u, "1.0", "acme-1.0-py3-none-any.whl", "a")).await,
            PublishOutcome::Published { .. }
        ));
        let serial0 = db.global_serial().await.expect("serial");
        let p = db
            .project_state("acme")
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(p.status, ProjectStatus::Active, "{name}");

        // A rolled-back intervention changes nothing.
        {
            let mut tx = db.begin_admin().await.expect("begin");
            assert!(
                tx.set_project_status(
                    p.id,
                    ProjectStatus::Active,
                    ProjectStatus::Quarantined,
                    Some(ProjectStatus::Active),
                    Some("x"),
                    2
                )
                .await
                .expect("status")
            );
            drop(tx);
        }
        assert_eq!(
            db.project_state("acme")
                .await
                .expect("read")
                .expect("exists")
                .status,
            ProjectStatus::Active,
            "{name}: dropped transaction rolled back"
        );

        let mut tx = db.begin_admin().await.expect("begin");
        assert!(
            tx.set_project_status(
                p.id,
                ProjectStatus::Active,
                ProjectStatus::Quarantined,
                Some(ProjectStatus::Active),
                Some("why"),
                2
            )
            .await
            .expect("status")
        );
        // The status is decided once: a second transition from `active` loses.
        assert!(
            !tx.set_project_status(
                p.id,
                ProjectStatus::Active,
                ProjectStatus::Removed,
                Some(ProjectStatus::Active),
                None,
                2
            )
            .await
            .expect("status")
        );
        let serial = tx
            .journal(&p, None, None, "quarantine project", "cli:test", 2)
            .await
            .expect("journal");
        tx.commit(
            &[ev(
                "admin:project:quarantine",
                "project",
                Some(p.id),
                serde_json::json!({"reason": "why"}),
            )],
            &[],
        )
        .await
        .expect("commit");
        assert_eq!(serial, serial0 + 1, "{name}");
        let q = db
            .project_state("acme")
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(
            (
                q.status,
                q.status_before,
                q.status_reason.as_deref(),
                q.last_serial
            ),
            (
                ProjectStatus::Quarantined,
                Some(ProjectStatus::Active),
                Some("why"),
                serial
            ),
            "{name}"
        );
        assert!(
            db.index_projects().await.expect("index").is_empty(),
            "{name}: quarantined project left the root index"
        );
        let journal = db.journal_since(serial0, 10).await.expect("journal");
        assert_eq!(journal[0].action, "quarantine project", "{name}");

        let mut tx = db.begin_admin().await.expect("begin");
        assert!(
            tx.set_project_status(
                p.id,
                ProjectStatus::Quarantined,
                ProjectStatus::Active,
                None,
                None,
                3
            )
            .await
            .expect("status")
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert_eq!(db.index_projects().await.expect("index").len(), 1, "{name}");
    }
}

#[tokio::test]
async fn removed_files_and_releases_keep_their_names_burned() {
    for (name, db, _d) in backends().await {
        let u = user(&db, "owner").await;
        let whl = file(u, "1.0", "acme-1.0-py3-none-any.whl", "a");
        let other = file(u, "1.0", "acme-1.0-py2-none-any.whl", "b");
        publish(&db, &whl).await;
        publish(&db, &other).await;
        let p = db
            .project_state("acme")
            .await
            .expect("read")
            .expect("exists");

        let mut tx = db.begin_admin().await.expect("begin");
        let r = tx
            .release(p.id, "1.0")
            .await
            .expect("read")
            .expect("release");
        let files = tx.files_of_release(r.id).await.expect("files");
        assert_eq!(files.len(), 2, "{name}");
        let f = files
            .iter()
            .find(|f| f.filename == whl.filename)
            .expect("the wheel");
        tx.set_file_removed(f.id, Some((4, "malware")))
            .await
            .expect("remove");
        tx.commit(&[], &[]).await.expect("commit");

        let visible = db.files_of(p.id).await.expect("files");
        assert_eq!(visible.len(), 1, "{name}: removed file hidden");
        assert!(
            db.file_by_blob_key(&whl.blob_key)
                .await
                .expect("read")
                .is_none(),
            "{name}: removed file not downloadable"
        );
        let any = db.file_any_state(f.id).await.expect("read").expect("kept");
        assert_eq!(
            (any.removed_at, any.removed_reason.as_deref()),
            (Some(4), Some("malware")),
            "{name}: the row is archived, not deleted"
        );
        // The identical bytes again: refused by the file's state, not a silent duplicate.
        let live = crate::ReleaseFlags {
            held: false,
            removed: false,
            yanked: false,
        };
        assert_eq!(
            publish(&db, &whl).await,
            PublishOutcome::Refused(Refusal::IdenticalHidden {
                file_removed: true,
                file_held: false,
                release: live,
                project_status: ProjectStatus::Active,
            }),
            "{name}"
        );

        // Removing the release burns its version for new files too.
        let mut tx = db.begin_admin().await.expect("begin");
        tx.set_release_removed(r.id, Some((5, "bad release")))
            .await
            .expect("remove");
        tx.commit(&[], &[]).await.expect("commit");
        assert!(
            db.releases_of(p.id).await.expect("releases").is_empty(),
            "{name}"
        );
        assert!(db.files_of(p.id).await.expect("files").is_empty(), "{name}");
        assert_eq!(
            publish(&db, &file(u, "1.0", "acme-1.0-1-py3-none-any.whl", "c")).await,
            PublishOutcome::Refused(Refusal::FilenamePreviouslyUsed),
            "{name}"
        );
        // A file of the removed release that was not removed on its own: its identical bytes
        // are refused too, and the release stays removed.
        assert_eq!(
            publish(&db, &other).await,
            PublishOutcome::Refused(Refusal::IdenticalHidden {
                file_removed: false,
                file_held: false,
                release: crate::ReleaseFlags {
                    removed: true,
                    ..live
                },
                project_status: ProjectStatus::Active,
            }),
            "{name}"
        );
        assert!(db.files_of(p.id).await.expect("files").is_empty(), "{name}");
        let all = db.releases_any_state(p.id).await.expect("all");
        assert_eq!(
            all[0].removed_reason.as_deref(),
            Some("bad release"),
            "{name}"
        );

        // Restore: the release comes back with the file that was not removed on its own.
        let mut tx = db.begin_admin().await.expect("begin");
        tx.set_release_removed(r.id, None).await.expect("restore");
        tx.commit(&[], &[]).await.expect("commit");
        let names: Vec<String> = db
            .files_of(p.id)
            .await
            .expect("files")
            .into_iter()
            .map(|f| f.filename)
            .collect();
        assert_eq!(names, vec![other.filename.clone()], "{name}");
    }
}

#[tokio::test]
async fn quarantined_releases_are_listed_until_cleared() {
    for (name, db, _d) in backends().await {
        let u = user(&db, "owner").await;
        publish(&db, &file(u, "1.0", "acme-1.0-py3-none-any.whl", "a")).await;
        let p = db
            .project_state("acme")
            .await
            .expect("read")
            .expect("exists");
        let rid = db.releases_any_state(p.id).await.expect("r")[0].id;
        sqlx::query(
            "UPDATE releases SET quarantined_at = 7, quarantine_reason = 'dormant' WHERE id = $1",
        )
        .bind(rid)
        .execute(&db.write)
        .await
        .expect("hold");
        let held = db.quarantined_releases().await.expect("held");
        assert_eq!(held.len(), 1, "{name}");
        assert_eq!(held[0].0, "Acme", "{name}");
        assert!(db.files_of(p.id).await.expect("files").is_empty(), "{name}");
        // The held file's identical bytes: refused by its state, and still held.
        assert_eq!(
            publish(&db, &file(u, "1.0", "acme-1.0-py3-none-any.whl", "a")).await,
            PublishOutcome::Refused(Refusal::IdenticalHidden {
                file_removed: false,
                file_held: false,
                release: crate::ReleaseFlags {
                    held: true,
                    removed: false,
                    yanked: false,
                },
                project_status: ProjectStatus::Active,
            }),
            "{name}"
        );
        assert_eq!(db.quarantined_releases().await.expect("held").len(), 1);
        let mut tx = db.begin_admin().await.expect("begin");
        assert!(tx.clear_release_quarantine(rid).await.expect("clear"));
        assert!(
            !tx.clear_release_quarantine(rid).await.expect("clear"),
            "{name}: only once"
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert!(
            db.quarantined_releases().await.expect("held").is_empty(),
            "{name}"
        );
        assert_eq!(db.files_of(p.id).await.expect("files").len(), 1, "{name}");
    }
}

#[tokio::test]
async fn prohibited_names_match_normalised_and_confusable_forms() {
    for (name, db, _d) in backends().await {
        let mut tx = db.begin_admin().await.expect("begin");
        tx.prohibit_name(
            "Req_uests",
            "req-uests",
            "requests",
            "typosquat",
            "cli:a",
            1,
        )
        .await
        .expect("prohibit");
        let again = tx
            .prohibit_name("req.uests", "req-uests", "requests", "again", "cli:a", 2)
            .await;
        assert!(
            matches!(again, Err(crate::StoreError::Conflict(_))),
            "{name}: {again:?}"
        );
        drop(tx); // the conflict aborted the transaction on PostgreSQL: start over
        let mut tx = db.begin_admin().await.expect("begin");
        tx.prohibit_name(
            "Req_uests",
            "req-uests",
            "requests",
            "typosquat",
            "cli:a",
            1,
        )
        .await
        .expect("prohibit");
        tx.commit(&[], &[]).await.expect("commit");
        let exact = db.prohibited_match("req-uests", "x").await.expect("match");
        assert_eq!(exact.map(|p| p.name), Some("Req_uests".into()), "{name}");
        let confusable = db
            .prohibited_match("requests", "requests")
            .await
            .expect("match");
        assert_eq!(
            confusable.map(|p| p.reason),
            Some("typosquat".into()),
            "{name}: the confusable form matches"
        );
        assert!(
            db.prohibited_match("numpy", "numpy")
                .await
                .expect("m")
                .is_none()
        );
        assert_eq!(
            db.prohibited_names().await.expect("list").len(),
            1,
            "{name}"
        );
        let mut tx = db.begin_admin().await.expect("begin");
        let lifted = tx.allow_name("req-uests").await.expect("allow");
        assert_eq!(lifted.map(|p| p.created_by), Some("cli:a".into()), "{name}");
        assert!(tx.allow_name("req-uests").await.expect("allow").is_none());
        tx.commit(&[], &[]).await.expect("commit");
        assert!(
            db.prohibited_names().await.expect("list").is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn removed_project_names_can_be_moved_out_of_the_way() {
    for (name, db, _d) in backends().await {
        let u = user(&db, "owner").await;
        publish(&db, &file(u, "1.0", "acme-1.0-py3-none-any.whl", "a")).await;
        let p = db
            .project_state("acme")
            .await
            .expect("read")
            .expect("exists");
        let mut tx = db.begin_admin().await.expect("begin");
        assert!(
            tx.set_project_status(
                p.id,
                ProjectStatus::Active,
                ProjectStatus::Removed,
                Some(ProjectStatus::Active),
                Some("gone"),
                2
            )
            .await
            .expect("status")
        );
        let found = tx
            .removed_projects_named("nothing", "acme")
            .await
            .expect("find");
        assert_eq!(found.len(), 1, "{name}: found by confusable name");
        tx.rename_names_away(p.id, &format!("~removed~{}", p.id))
            .await
            .expect("rename");
        tx.commit(&[], &[]).await.expect("commit");
        assert!(
            db.project_state("acme").await.expect("read").is_none(),
            "{name}"
        );
        assert!(
            db.project_state_by_ultra("acme")
                .await
                .expect("read")
                .is_none()
        );
        // A new project takes the name; the old filename stays burned.
        let mut fresh = file(u, "2.0", "acme-2.0-py3-none-any.whl", "z");
        fresh.project_name = "ACME".into();
        assert!(
            matches!(
                publish(&db, &fresh).await,
                PublishOutcome::Published {
                    project_created: true,
                    ..
                }
            ),
            "{name}"
        );
        let reuse = publish(&db, &file(u, "1.0", "acme-1.0-py3-none-any.whl", "a2")).await;
        assert!(
            matches!(
                reuse,
                PublishOutcome::Refused(
                    Refusal::FileExists { .. } | Refusal::FilenamePreviouslyUsed
                )
            ),
            "{name}: {reuse:?}"
        );
    }
}

#[tokio::test]
async fn freeze_ends_sessions_and_undelete_regrants_roles() {
    for (name, db, _d) in backends().await {
        let u = user(&db, "mallory").await;
        sqlx::query(
            "INSERT INTO sessions (secret_hash, user_id, csrf_token, created_at, last_seen_at, reauth_at) VALUES ('h1', $1, 'c', 1, 1, 1)",
        )
        .bind(u)
        .execute(&db.write)
        .await
        .expect("session");
        let mut tx = db.begin_account().await.expect("begin");
        assert_eq!(
            tx.freeze_account(u, "takeover", Some("cli:a"), &[], 9)
                .await
                .expect("freeze")
                .sessions_ended,
            1
        );
        tx.commit(&[], &[]).await.expect("commit");
        let fu = db.user_by_id(u).await.expect("read").expect("user");
        assert_eq!(
            (fu.frozen_at, fu.frozen_reason.as_deref()),
            (Some(9), Some("takeover")),
            "{name}"
        );
        let by: Option<String> = sqlx::query_scalar("SELECT frozen_by FROM users WHERE id = $1")
            .bind(u)
            .fetch_one(&db.read)
            .await
            .expect("frozen_by");
        assert_eq!(by.as_deref(), Some("cli:a"), "{name}");
        let mut tx = db.begin_account().await.expect("begin");
        assert!(tx.unfreeze_account(u, "unfrozen").await.expect("unfreeze"));
        assert!(
            !tx.unfreeze_account(u, "unfrozen").await.expect("unfreeze"),
            "{name}: once"
        );
        tx.commit(&[], &[]).await.expect("commit");
        let mut tx = db.begin_admin().await.expect("begin");
        assert!(
            !tx.undelete_user(u).await.expect("undelete"),
            "{name}: not deleted"
        );
        tx.commit(&[], &[]).await.expect("commit");

        publish(&db, &file(u, "1.0", "acme-1.0-py3-none-any.whl", "a")).await;
        let p = db
            .project_state("acme")
            .await
            .expect("read")
            .expect("exists");
        sqlx::query("UPDATE users SET deleted_at = 20, purge_after = 99 WHERE id = $1")
            .bind(u)
            .execute(&db.write)
            .await
            .expect("delete");
        sqlx::query("DELETE FROM roles WHERE user_id = $1")
            .bind(u)
            .execute(&db.write)
            .await
            .expect("roles");
        let mut tx = db.begin_admin().await.expect("begin");
        assert!(tx.undelete_user(u).await.expect("undelete"));
        assert!(
            tx.grant_role(p.id, u, ProjectRole::Owner, None, 30)
                .await
                .expect("grant")
        );
        assert!(
            !tx.grant_role(p.id, u, ProjectRole::Maintainer, None, 30)
                .await
                .expect("grant"),
            "{name}: one role per project"
        );
        tx.commit(&[], &[]).await.expect("commit");
        let back = db.user_by_id(u).await.expect("read").expect("user");
        assert_eq!(
            (
                back.deleted_at,
                back.purge_after,
                back.password_disabled.as_deref()
            ),
            (None, None, Some("restored")),
            "{name}"
        );
        assert_eq!(
            db.role_of(p.id, u).await.expect("role"),
            Some(ProjectRole::Owner)
        );
    }
}

#[tokio::test]
async fn timelines_find_events_by_subject_actor_and_details() {
    for (name, db, _d) in backends().await {
        let alice = user(&db, "alice").await;
        let bob = user(&db, "bob").await;
        publish(&db, &file(alice, "1.0", "acme-1.0-py3-none-any.whl", "a")).await;
        let p = db
            .project_state("acme")
            .await
            .expect("read")
            .expect("exists");
        let mut about_bob = ev(
            "role:add",
            "project",
            Some(p.id),
            serde_json::json!({"user_id": bob, "role": "Maintainer"}),
        );
        about_bob.at = 6_000_000;
        db.append_event(&about_bob).await.expect("append");
        // A user id that merely appears in another number is not a mention.
        let mut decoy = ev(
            "role:add",
            "project",
            Some(p.id),
            serde_json::json!({"user_id": bob * 100 + bob, "n": bob}),
        );
        decoy.at = 6_000_000;
        db.append_event(&decoy).await.expect("append");
        let mut token = ev(
            "token:create",
            "user",
            Some(alice),
            serde_json::json!({"project": "ACME"}),
        );
        token.actor_id = Some(alice);
        db.append_event(&token).await.expect("append");

        let bobs = db.events_about_user(bob, 0).await.expect("bob");
        let actions: Vec<&str> = bobs.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            vec!["account:create", "role:add"],
            "{name}: {bobs:?}"
        );
        assert!(
            bobs.windows(2).all(|w| w[0].seq < w[1].seq),
            "{name}: in order"
        );
        assert_eq!(
            db.events_about_user(bob, 6_000_000)
                .await
                .expect("since")
                .len(),
            1,
            "{name}: since filters by time"
        );

        let proj = db
            .events_about_project(p.id, &["acme".into()], 0)
            .await
            .expect("project");
        let actions: Vec<&str> = proj.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            vec![
                "project:create",
                "file:upload",
                "role:add",
                "role:add",
                "token:create"
            ],
            "{name}"
        );

        let roles = db.role_events_until(5_999_999).await.expect("roles");
        assert_eq!(
            roles.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            vec!["project:create"],
            "{name}"
        );
    }
}

#[tokio::test]
async fn recent_events_of_lists_the_newest_of_the_given_actions_first() {
    for (name, db, _dir) in backends().await {
        for (i, action) in ["a:one", "a:two", "a:three", "a:one", "a:two"]
            .iter()
            .enumerate()
        {
            let mut e = ev(action, "site", None, serde_json::json!({"i": i}));
            e.at = 1_000 + i64::try_from(i).expect("i");
            db.append_event(&e).await.expect("append");
        }
        let got: Vec<(String, i64)> = db
            .recent_events_of(&["a:one", "a:three"], 10)
            .await
            .expect("recent")
            .into_iter()
            .map(|e| (e.action, e.at))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a:one".into(), 1_003),
                ("a:three".into(), 1_002),
                ("a:one".into(), 1_000)
            ],
            "{name}"
        );
        let newest = db
            .recent_events_of(&["a:two", "a:one"], 1)
            .await
            .expect("recent");
        assert_eq!(newest.len(), 1, "{name}");
        assert_eq!(newest[0].action, "a:two", "{name}");
        assert!(
            db.recent_events_of(&[], 5).await.expect("none").is_empty(),
            "{name}"
        );
    }
}
