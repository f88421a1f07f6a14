//! Metadata store cases: accounts, tokens, publishing rules, races, the journal and the event log.

use std::sync::Arc;

use sqlx::Executor;

use super::backends;
use crate::publish::{NewFile, PublishOutcome, Refusal};
use crate::states::ProjectRole;
use crate::users::{NewToken, NewUser};
use crate::{Db, NewEvent, StoreError};

fn ev(action: &str) -> NewEvent {
    NewEvent {
        at: 1,
        action: action.into(),
        subject_kind: "user".into(),
        ..NewEvent::default()
    }
}

pub(super) async fn user(db: &Db, name: &str) -> i64 {
    db.create_user(
        &NewUser {
            username: name.into(),
            email: format!("{name}@example.org"),
            email_verified: true,
            password_hash: None,
            is_admin: false,
            at: 1,
        },
        ev("account:create"),
    )
    .await
    .expect("create user")
    .id
}

pub(super) fn file(project: &str, user_id: i64, filename: &str, content: &str) -> NewFile {
    let h = |s: &str, salt: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{salt}{s}")))
    };
    NewFile {
        project_name: project.into(),
        normalized_name: project.to_lowercase(),
        ultranormalized_name: project.to_lowercase().replace(['-', '_', '.'], ""),
        user_id,
        username: format!("user{user_id}"),
        token_project_id: None,
        token_id: None,
        version: "1.0".into(),
        canonical_version: "1".into(),
        requires_python: Some(">=3.8".into()),
        core_metadata: "Metadata-Version: 2.1\nName: x\nVersion: 1.0\n".into(),
        description: None,
        filename: filename.into(),
        packagetype: if filename.ends_with(".whl") {
            "bdist_wheel".into()
        } else {
            "sdist".into()
        },
        python_version: "py3".into(),
        size: 10,
        md5: h(content, "md5")[..32].to_owned(),
        sha256: h(content, "sha"),
        blake2_256: h(content, "b2"),
        blob_key: format!("{}/{filename}", h(content, "b2")),
        metadata_sha256: None,
        metadata_blake2_256: None,
        comment_text: None,
        at: 1_000_000,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
        request_id: None,
        release_window_micros: 14 * 86_400_000_000,
        max_project_size: 1_000_000,
        scan: None,
    }
}

fn published(o: &PublishOutcome) -> bool {
    matches!(o, PublishOutcome::Published { .. })
}

#[tokio::test]
async fn accounts_are_unique_case_insensitively() {
    for (name, db, _d) in backends().await {
        let id = user(&db, "Alice").await;
        let again = db
            .create_user(
                &NewUser {
                    username: "alice".into(),
                    email: "other@example.org".into(),
                    email_verified: true,
                    password_hash: None,
                    is_admin: false,
                    at: 2,
                },
                ev("account:create"),
            )
            .await;
        assert!(
            matches!(again, Err(StoreError::Conflict(ref w)) if w == "username"),
            "{name}: {again:?}"
        );
        let u = db
            .user_by_name("ALICE")
            .await
            .expect("lookup")
            .expect("exists");
        assert_eq!((u.id, u.username.as_str()), (id, "Alice"), "{name}");
        let emails = db.emails_of(id).await.expect("emails");
        assert_eq!(
            emails.len(),
            1,
            "{name}: the failed creation left no address behind"
        );
        assert!(
            emails[0].is_primary && emails[0].verified_at.is_some(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn tokens_are_found_by_hash_only() {
    for (name, db, _d) in backends().await {
        let uid = user(&db, "bob").await;
        let t = NewToken {
            user_id: uid,
            name: "ci".into(),
            token_hash: "ab".repeat(32),
            project_id: None,
            expires_at: Some(99),
            at: 5,
        };
        let id = db
            .create_token(&t, ev("token:create"))
            .await
            .expect("token");
        let (tok, owner) = db
            .token_by_hash(&"ab".repeat(32))
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(
            (tok.id, owner.id, tok.expires_at),
            (id, uid, Some(99)),
            "{name}"
        );
        assert!(
            db.token_by_hash(&"cd".repeat(32))
                .await
                .expect("lookup")
                .is_none(),
            "{name}"
        );
        db.touch_token(id, 100_000_000).await.expect("touch");
        let toks = db.tokens_of(uid).await.expect("list");
        assert_eq!(toks[0].last_used_at, Some(100_000_000), "{name}");
        assert!(
            db.create_token(&t, ev("token:create")).await.is_err(),
            "{name}: duplicate hash refused"
        );
    }
}

#[tokio::test]
async fn publishing_rules() {
    for (name, db, _d) in backends().await {
        let alice = user(&db, "alice").await;
        let mallory = user(&db, "mallory").await;
        let f = file("Demo", alice, "demo-1.0.tar.gz", "a");
        let o = db.publish_file(&f).await.expect("publish");
        assert_eq!(
            o,
            PublishOutcome::Published {
                serial: 3,
                project_created: true,
                release_created: true
            },
            "{name}"
        );
        let p = db
            .project_by_normalized("demo")
            .await
            .expect("q")
            .expect("project");
        assert_eq!(
            (p.name.as_str(), p.last_serial, p.total_size),
            ("Demo", 3, 10),
            "{name}"
        );
        assert_eq!(
            db.role_of(p.id, alice).await.expect("role"),
            Some(ProjectRole::Owner),
            "{name}"
        );
        // Identical retry: a no-op.
        assert_eq!(
            db.publish_file(&f).await.expect("retry"),
            PublishOutcome::Duplicate,
            "{name}"
        );
        assert_eq!(
            db.global_serial().await.expect("serial"),
            3,
            "{name}: retry wrote nothing"
        );
        // Same filename, other bytes.
        let o = db
            .publish_file(&file("Demo", alice, "demo-1.0.tar.gz", "b"))
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Refused(Refusal::FileExists { ref filename, .. }) if filename == "demo-1.0.tar.gz"),
            "{name}: {o:?}"
        );
        // Same bytes, other filename.
        let o = db
            .publish_file(&file("Demo", alice, "demo-1.0-py3-none-any.whl", "a"))
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Refused(Refusal::FileExists { .. })),
            "{name}: {o:?}"
        );
        // Second sdist.
        let o = db
            .publish_file(&file("Demo", alice, "demo-1.0.zip", "c"))
            .await
            .expect("p");
        assert_eq!(o, PublishOutcome::Refused(Refusal::OnlyOneSdist), "{name}");
        // Not an owner.
        let o = db
            .publish_file(&file("demo", mallory, "demo-1.0-py3-none-any.whl", "d"))
            .await
            .expect("p");
        assert_eq!(
            o,
            PublishOutcome::Refused(Refusal::UserNotAllowed {
                project: "Demo".into()
            }),
            "{name}"
        );
        // A token scoped to another project.
        let mut scoped = file("Demo", alice, "demo-1.0-py3-none-any.whl", "e");
        scoped.token_project_id = Some(p.id + 100);
        assert!(
            matches!(
                db.publish_file(&scoped).await.expect("p"),
                PublishOutcome::Refused(Refusal::TokenNotAllowed { .. })
            ),
            "{name}"
        );
        // A scoped token cannot create a project.
        let mut scoped = file("Fresh", alice, "fresh-1.0.tar.gz", "f");
        scoped.token_project_id = Some(p.id);
        assert!(
            matches!(
                db.publish_file(&scoped).await.expect("p"),
                PublishOutcome::Refused(Refusal::TokenNotAllowed { .. })
            ),
            "{name}"
        );
        assert!(
            db.project_by_normalized("fresh")
                .await
                .expect("q")
                .is_none(),
            "{name}: nothing created"
        );
        // Confusable name.
        let mut conf = file("D-emo", alice, "d_emo-1.0.tar.gz", "g");
        conf.normalized_name = "d-emo".into();
        assert!(
            matches!(
                db.publish_file(&conf).await.expect("p"),
                PublishOutcome::Refused(Refusal::TooSimilar { .. })
            ),
            "{name}"
        );
        // Release older than the window.
        let mut late = file("Demo", alice, "demo-1.0-py3-none-any.whl", "h");
        late.at = f.at + late.release_window_micros + 1;
        assert_eq!(
            db.publish_file(&late).await.expect("p"),
            PublishOutcome::Refused(Refusal::ReleaseTooOld),
            "{name}"
        );
        // Project size limit.
        let mut big = file("Demo", alice, "demo-1.0-py3-none-any.whl", "i");
        big.size = 1_000_000;
        assert_eq!(
            db.publish_file(&big).await.expect("p"),
            PublishOutcome::Refused(Refusal::ProjectTooLarge),
            "{name}"
        );
        // 1.0.0 attaches to release 1.0 (same canonical version).
        let mut same = file("Demo", alice, "demo-1.0.0-py3-none-any.whl", "j");
        same.version = "1.0.0".into();
        let o = db.publish_file(&same).await.expect("p");
        assert_eq!(
            o,
            PublishOutcome::Published {
                serial: 4,
                project_created: false,
                release_created: false
            },
            "{name}"
        );
        assert_eq!(db.releases_of(p.id).await.expect("r").len(), 1, "{name}");
        assert_eq!(db.files_of(p.id).await.expect("f").len(), 2, "{name}");
        // Nothing refused left a trace in the journal or the log.
        assert_eq!(db.global_serial().await.expect("serial"), 4, "{name}");
        assert_eq!(db.verify_events().await.expect("verify"), None, "{name}");
        assert_eq!(
            db.events(0, 100).await.expect("events").len(),
            2 + 3,
            "{name}: 2 accounts, create + 2 uploads"
        );
    }
}

#[tokio::test]
async fn filenames_are_never_reused() {
    for (name, db, _d) in backends().await {
        let alice = user(&db, "alice").await;
        db.publish_file(&file("demo", alice, "demo-1.0.tar.gz", "a"))
            .await
            .expect("p");
        // Simulate a deletion: the row goes, the registry stays.
        db.write.execute("DELETE FROM files").await.expect("delete");
        let o = db
            .publish_file(&file("demo", alice, "demo-1.0.tar.gz", "z"))
            .await
            .expect("p");
        assert_eq!(
            o,
            PublishOutcome::Refused(Refusal::FilenamePreviouslyUsed),
            "{name}"
        );
    }
}

#[tokio::test]
async fn yanking_bumps_the_serial() {
    for (name, db, _d) in backends().await {
        let alice = user(&db, "alice").await;
        db.publish_file(&file("demo", alice, "demo-1.0.tar.gz", "a"))
            .await
            .expect("p");
        let p = db
            .project_by_normalized("demo")
            .await
            .expect("q")
            .expect("p");
        let s = db
            .set_yanked(p.id, "1", Some("broken"), "alice", ev("release:yank"))
            .await
            .expect("yank");
        assert_eq!(s, p.last_serial + 1, "{name}");
        let r = &db.releases_of(p.id).await.expect("r")[0];
        assert_eq!(r.yanked_reason.as_deref(), Some("broken"), "{name}");
        db.set_yanked(p.id, "1", None, "alice", ev("release:unyank"))
            .await
            .expect("unyank");
        assert!(
            db.releases_of(p.id).await.expect("r")[0]
                .yanked_at
                .is_none(),
            "{name}"
        );
        assert!(
            matches!(
                db.set_yanked(p.id, "9", None, "a", ev("x")).await,
                Err(StoreError::NotFound(_))
            ),
            "{name}"
        );
        let j = db.journal_since(0, 100).await.expect("journal");
        assert_eq!(
            j.iter().map(|e| e.serial).collect::<Vec<_>>(),
            (1..=5).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(j[3].action, "yank release", "{name}");
    }
}

/// An Owner's yank from the web runs inside the account change that holds the actor's row
/// (`AccountTx::set_yanked`), and an Owner's removal reads the actor's row held in its
/// intervention (`AdminTx::lock_user`): a freeze of the same account is ordered with either.
#[tokio::test]
async fn a_yank_or_removal_holding_its_actor_is_ordered_with_a_freeze() {
    for (name, db, _d) in backends().await {
        let alice = user(&db, "alice").await;
        db.publish_file(&file("demo", alice, "demo-1.0.tar.gz", "a"))
            .await
            .expect("p");
        let p = db
            .project_by_normalized("demo")
            .await
            .expect("q")
            .expect("p");
        // The yank holds alice's row: a freeze waits for it.
        let mut yank = db.begin_account().await.expect("begin");
        assert!(
            yank.lock_user(alice).await.expect("lock").is_some(),
            "{name}"
        );
        let serial = yank
            .set_yanked(p.id, "1", Some("broken"), "alice", ev("release:yank"), None)
            .await
            .expect("yank");
        assert_eq!(serial, p.last_serial + 1, "{name}");
        assert!(
            matches!(
                yank.set_yanked(p.id, "9", None, "a", ev("x"), None).await,
                Err(StoreError::NotFound(_))
            ),
            "{name}"
        );
        let freezer = db.clone();
        let mut freeze = tokio::spawn(async move {
            let mut tx = freezer.begin_account().await.expect("begin");
            tx.freeze_account(alice, "takeover", Some("cli:ops"), &[], 20)
                .await
                .expect("freeze");
            tx.commit(&[ev("admin:user:freeze")], &[])
                .await
                .expect("commit");
        });
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(400), &mut freeze)
                .await
                .is_err(),
            "{name}: the freeze waits for the yank holding the row"
        );
        yank.commit(&[], &[]).await.expect("commit");
        freeze.await.expect("join");
        let r = &db.releases_of(p.id).await.expect("r")[0];
        assert_eq!(r.yanked_reason.as_deref(), Some("broken"), "{name}");
        let j = db.journal_since(0, 100).await.expect("journal");
        assert_eq!(
            j.last().map(|e| e.action.as_str()),
            Some("yank release"),
            "{name}"
        );

        // A freeze first: an intervention reading the Owner's row waits, then sees it frozen.
        let bob = user(&db, "bob").await;
        let mut freezing = db.begin_account().await.expect("begin");
        freezing
            .freeze_account(bob, "takeover", Some("cli:ops"), &[], 30)
            .await
            .expect("freeze");
        let reader = db.clone();
        let mut read = tokio::spawn(async move {
            let mut tx = reader.begin_admin().await.expect("begin");
            tx.lock_user(bob).await.expect("lock").expect("bob")
        });
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(400), &mut read)
                .await
                .is_err(),
            "{name}: the removal waits for the freeze"
        );
        freezing
            .commit(&[ev("admin:user:freeze")], &[])
            .await
            .expect("commit");
        assert_eq!(read.await.expect("join").frozen_at, Some(30), "{name}");
        assert_eq!(db.verify_events().await.expect("verify"), None, "{name}");
    }
}

#[tokio::test]
async fn tampering_with_the_event_log_is_detected() {
    for (name, db, _d) in backends().await {
        user(&db, "a").await;
        user(&db, "b").await;
        user(&db, "c").await;
        assert_eq!(db.verify_events().await.expect("verify"), None, "{name}");
        db.write
            .execute("UPDATE events SET details = '{\"forged\":true}' WHERE seq = 2")
            .await
            .expect("tamper");
        assert_eq!(db.verify_events().await.expect("verify"), Some(2), "{name}");
    }
}

#[tokio::test]
async fn an_events_request_id_is_stored_and_covered_by_the_chain() {
    for (name, db, _d) in backends().await {
        user(&db, "a").await; // no request id (the CLI): hashed as before 0018
        let mut upload = file("Rid", 1, "rid-1.0-py3-none-any.whl", "rid");
        upload.request_id = Some("req-upload-1".into());
        db.publish_file(&upload).await.expect("publish");
        db.append_event(&NewEvent {
            request_id: Some("req-login-2".into()),
            ..ev("account:login")
        })
        .await
        .expect("append");
        let events = db.events(0, 10).await.expect("events");
        let ids: Vec<_> = events.iter().map(|e| e.request_id.as_deref()).collect();
        // the upload's events (project created, file uploaded) carry its request's id
        assert_eq!(
            ids,
            [
                None,
                Some("req-upload-1"),
                Some("req-upload-1"),
                Some("req-login-2")
            ],
            "{name}"
        );
        assert_eq!(db.verify_events().await.expect("verify"), None, "{name}");
        // the id is part of what the chain covers: changing it breaks verification
        db.write
            .execute("UPDATE events SET request_id = 'forged' WHERE seq = 4")
            .await
            .expect("tamper");
        assert_eq!(db.verify_events().await.expect("verify"), Some(4), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_race_safely_and_serials_have_no_gaps() {
    for (name, db, _d) in backends().await {
        let db = Arc::new(db);
        let alice = user(&db, "alice").await;
        let bob = user(&db, "bob").await;
        // 20 uploads of one filename with different bytes: exactly one wins.
        let mut tasks = Vec::new();
        for i in 0..20 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.publish_file(&file("race", alice, "race-1.0.tar.gz", &format!("v{i}")))
                    .await
            }));
        }
        let mut wins = 0;
        for t in tasks {
            let o = t.await.expect("join").expect("publish");
            if published(&o) {
                wins += 1;
            } else {
                assert!(
                    matches!(o, PublishOutcome::Refused(Refusal::FileExists { .. })),
                    "{name}: {o:?}"
                );
            }
        }
        assert_eq!(wins, 1, "{name}");
        // Two users create one project at once: one project, one owner.
        let (fa, fb) = (
            file("newproj", alice, "newproj-1.0.tar.gz", "x1"),
            file("newproj", bob, "newproj-1.0-py3-none-any.whl", "x2"),
        );
        let (a, b) = tokio::join!(db.publish_file(&fa), db.publish_file(&fb));
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert_eq!(
            [published(&a), published(&b)]
                .iter()
                .filter(|x| **x)
                .count(),
            1,
            "{name}: {a:?} {b:?}"
        );
        let p = db
            .project_by_normalized("newproj")
            .await
            .expect("q")
            .expect("p");
        assert_eq!(
            db.roles_of_project(p.id).await.expect("roles").len(),
            1,
            "{name}"
        );
        // 60 uploads across 12 projects: serials 1..=N, no gaps, chain intact.
        let mut tasks = Vec::new();
        for i in 0..60 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let proj = format!("p{}", i % 12);
                db.publish_file(&file(
                    &proj,
                    alice,
                    &format!("{proj}-1.0-py3-none-any-{i}.whl"),
                    &format!("c{i}"),
                ))
                .await
            }));
        }
        for t in tasks {
            assert!(
                published(&t.await.expect("join").expect("publish")),
                "{name}"
            );
        }
        let j = db.journal_since(0, 10_000).await.expect("journal");
        let serials: Vec<i64> = j.iter().map(|e| e.serial).collect();
        assert_eq!(
            serials,
            (1..=serials.len() as i64).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(
            db.global_serial().await.expect("s"),
            serials.len() as i64,
            "{name}"
        );
        assert_eq!(db.verify_events().await.expect("verify"), None, "{name}");
    }
}

/// The project size quota is exact under concurrent uploads to one project: each publish reads
/// the total it checks under the lock of the project row (PostgreSQL `FOR NO KEY UPDATE`; SQLite
/// has one writer), so of 24 uploads racing for room for 6, exactly 6 are published and the
/// stored total never passes the quota. (Without the lock, each transaction checked the total
/// it read before the others committed, and several more fit "under" it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_size_quota_holds_under_concurrent_uploads() {
    const SIZE: i64 = 1_000;
    const QUOTA: i64 = 7 * SIZE;
    for (name, db, _d) in backends().await {
        let db = Arc::new(db);
        let alice = user(&db, "alice").await;
        let sized = |filename: &str, content: &str| {
            let mut f = file("quota", alice, filename, content);
            f.size = SIZE;
            f.max_project_size = QUOTA;
            f
        };
        // The project exists (one file of the quota used) before the race.
        let first = db
            .publish_file(&sized("quota-1.0.tar.gz", "first"))
            .await
            .expect("publish");
        assert!(published(&first), "{name}: {first:?}");
        let barrier = Arc::new(tokio::sync::Barrier::new(24));
        let mut tasks = Vec::new();
        for i in 0..24 {
            let (db, barrier) = (db.clone(), barrier.clone());
            let f = sized(&format!("quota-1.0-{i}-py3-none-any.whl"), &format!("w{i}"));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                db.publish_file(&f).await
            }));
        }
        let (mut won, mut full) = (0, 0);
        for t in tasks {
            match t.await.expect("join").expect("publish") {
                PublishOutcome::Published { .. } => won += 1,
                PublishOutcome::Refused(Refusal::ProjectTooLarge) => full += 1,
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!((won, full), (6, 18), "{name}");
        let p = db
            .project_by_normalized("quota")
            .await
            .expect("q")
            .expect("p");
        assert_eq!(p.total_size, QUOTA, "{name}: the stored total");
        let files = db.files_of(p.id).await.expect("files");
        assert_eq!(
            files.iter().map(|f| f.size).sum::<i64>(),
            QUOTA,
            "{name}: the files"
        );
    }
}

#[tokio::test]
async fn a_freeze_or_revocation_during_the_upload_wins() {
    for (name, db, _d) in backends().await {
        let uid = user(&db, "carol").await;
        let token_id = db
            .create_token(
                &NewToken {
                    user_id: uid,
                    name: "ci".into(),
                    token_hash: "ef".repeat(32),
                    project_id: None,
                    expires_at: None,
                    at: 5,
                },
                ev("token:create"),
            )
            .await
            .expect("token");
        let with_token = |filename: &str, content: &str| NewFile {
            token_id: Some(token_id),
            ..file("Streamed", uid, filename, content)
        };
        assert!(
            published(
                &db.publish_file(&with_token("streamed-1.0.tar.gz", "a"))
                    .await
                    .expect("publish")
            ),
            "{name}"
        );
        // The token is revoked while the next file streams in: refused, nothing written.
        let mut tx = db.begin_account().await.expect("tx");
        assert!(tx.revoke_token(uid, token_id, 6).await.expect("revoke"));
        tx.commit(&[ev("token:revoke")], &[]).await.expect("commit");
        let o = db
            .publish_file(&with_token("streamed-1.0-py3-none-any.whl", "b"))
            .await
            .expect("publish");
        assert_eq!(
            o,
            PublishOutcome::Refused(Refusal::CredentialsGone),
            "{name}"
        );
        // A frozen account (no token in play, e.g. the CLI) is refused the same way.
        let mut tx = db.begin_account().await.expect("tx");
        tx.freeze_account(uid, "investigation", None, &[], 7)
            .await
            .expect("freeze");
        tx.commit(&[ev("account:freeze")], &[])
            .await
            .expect("commit");
        let o = db
            .publish_file(&file("Streamed", uid, "streamed-1.0-py2-none-any.whl", "c"))
            .await
            .expect("publish");
        assert_eq!(
            o,
            PublishOutcome::Refused(Refusal::CredentialsGone),
            "{name}"
        );
        assert_eq!(db.files_of(1).await.expect("files").len(), 1, "{name}");
    }
}
