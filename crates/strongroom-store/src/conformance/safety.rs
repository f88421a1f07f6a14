//! Recovery-hold, quarantine, soft-deletion/purge and domain-check cases, on every backend.

use super::{backends, verified_user};
use crate::publish::{NewFile, PublishOutcome, Refusal, UploadPolicy};
use crate::states::ProjectRole;
use crate::users::NewUser;
use crate::{Db, NewEvent, NewMail};

pub(super) const DAY: i64 = 86_400_000_000;
pub(super) const T0: i64 = 1_767_225_600_000_000;

fn ev(action: &str) -> NewEvent {
    NewEvent {
        at: T0,
        action: action.into(),
        subject_kind: "user".into(),
        ..NewEvent::default()
    }
}

pub(super) async fn user(db: &Db, name: &str, at: i64) -> i64 {
    verified_user(db, name, Some("hash"), at, ev("account:create")).await
}

pub(super) fn file(project: &str, user_id: i64, version: &str, n: u32, at: i64) -> NewFile {
    let h = |salt: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{salt}{project}{version}{n}")))
    };
    let filename = format!("{project}-{version}-{n}.whl");
    NewFile {
        project_name: project.into(),
        normalized_name: project.into(),
        ultranormalized_name: project.replace('-', ""),
        user_id,
        username: format!("user{user_id}"),
        token_project_id: None,
        token_id: None,
        version: version.into(),
        canonical_version: version.into(),
        requires_python: None,
        core_metadata: "Metadata-Version: 2.1\nName: x\nVersion: 1.0\n".into(),
        description: None,
        filename,
        packagetype: "bdist_wheel".into(),
        python_version: "py3".into(),
        size: 10,
        md5: h("md5")[..32].to_owned(),
        sha256: h("sha"),
        blake2_256: h("b2"),
        blob_key: h("key"),
        metadata_sha256: None,
        metadata_blake2_256: None,
        comment_text: None,
        at,
        ip: None,
        user_agent: None,
        request_id: None,
        release_window_micros: 14 * DAY,
        max_project_size: 1_000_000,
        scan: None,
    }
}

async fn hold(db: &Db, user_id: i64, from: i64, until: i64) {
    let mut tx = db.begin_account().await.expect("tx");
    tx.set_hold(user_id, until, "password reset", from)
        .await
        .expect("hold");
    tx.commit(&[], &[]).await.expect("commit");
}

async fn actions(db: &Db) -> Vec<String> {
    db.events(0, 1000)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[tokio::test]
async fn a_held_account_uploads_only_to_projects_it_created_during_the_hold() {
    for (name, db, _dir) in backends().await {
        let alice = user(&db, "alice", T0 - 400 * DAY).await;
        let old = db
            .publish_file(&file("old", alice, "1.0", 0, T0 - 10 * DAY))
            .await
            .expect("p");
        assert!(matches!(old, PublishOutcome::Published { .. }), "{name}");
        hold(&db, alice, T0, T0 + 3 * DAY).await;
        assert_eq!(
            db.publish_file(&file("old", alice, "1.1", 1, T0 + DAY))
                .await
                .expect("p"),
            PublishOutcome::Refused(Refusal::Held),
            "{name}"
        );
        for (v, n) in [("1.0", 2), ("1.1", 3)] {
            let o = db
                .publish_file(&file("fresh", alice, v, n, T0 + DAY))
                .await
                .expect("p");
            assert!(
                matches!(o, PublishOutcome::Published { .. }),
                "{name}: {o:?}"
            );
        }
        // After the hold: fine again.
        let o = db
            .publish_file(&file("old", alice, "1.1", 1, T0 + 3 * DAY + 1))
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Published { .. }),
            "{name}: {o:?}"
        );
    }
}

#[tokio::test]
async fn a_dormant_projects_new_release_is_quarantined_without_a_journal_entry() {
    for (name, db, _dir) in backends().await {
        let bob = user(&db, "bob", T0 - 400 * DAY).await;
        db.publish_file(&file("sleepy", bob, "1.0", 0, T0 - 400 * DAY))
            .await
            .expect("p");
        let p = db
            .project_by_normalized("sleepy")
            .await
            .expect("p")
            .expect("p");
        let policy = UploadPolicy {
            dormant_before: Some(T0 - 365 * DAY),
            quarantine_reason: "dormant".into(),
            quarantine_mails: vec![NewMail {
                to: "admin@example.org".into(),
                subject: "quarantined".into(),
                body: "b".into(),
            }],
            ..UploadPolicy::default()
        };
        let o = db
            .publish(&file("sleepy", bob, "2.0", 1, T0), &policy, None)
            .await
            .expect("p");
        assert_eq!(
            o,
            PublishOutcome::Quarantined {
                release_created: true
            },
            "{name}"
        );
        let after = db
            .project_by_normalized("sleepy")
            .await
            .expect("p")
            .expect("p");
        assert_eq!(after.last_serial, p.last_serial, "{name}: no journal entry");
        assert_eq!(db.releases_of(p.id).await.expect("r").len(), 1, "{name}");
        assert_eq!(db.files_of(p.id).await.expect("f").len(), 1, "{name}");
        assert!(
            actions(&db)
                .await
                .contains(&"release:quarantine".to_owned())
        );
        let mails = db.outbox_recent(10).await.expect("outbox");
        assert_eq!(
            mails
                .iter()
                .filter(|m| m.to_addr == "admin@example.org")
                .count(),
            1,
            "{name}"
        );
        // Another file of the quarantined release, with or without a policy: held on its own
        // (approving the release will not publish it), never simply joining the quarantine.
        for (n, f) in [(2, policy.clone()), (3, UploadPolicy::default())] {
            let o = db
                .publish(&file("sleepy", bob, "2.0", n, T0 + 1), &f, None)
                .await
                .expect("p");
            let PublishOutcome::FileHeld { file_id } = o else {
                panic!("{name}: {o:?}");
            };
            let held = db.file_any_state(file_id).await.expect("f").expect("f");
            assert!(held.held_at.is_some(), "{name}");
        }
        assert_eq!(db.outbox_recent(10).await.expect("o").len(), 1, "{name}");
        // A project with a recent release is not dormant.
        db.publish_file(&file("lively", bob, "1.0", 0, T0 - DAY))
            .await
            .expect("p");
        let o = db
            .publish(&file("lively", bob, "2.0", 1, T0), &policy, None)
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Published { .. }),
            "{name}: {o:?}"
        );
    }
}

#[tokio::test]
async fn a_dormant_projects_first_release_since_a_members_recovery_is_quarantined_however_late() {
    for (name, db, _dir) in backends().await {
        let bob = user(&db, "bob", T0 - 3000 * DAY).await;
        db.publish_file(&file("patient", bob, "1.0", 0, T0 - 2900 * DAY))
            .await
            .expect("p");
        // The recovery was 34 days ago (past any watch): still the first release since it.
        let policy = |at: i64| UploadPolicy {
            dormant_before: Some(at - 365 * DAY),
            quarantine_reason: "first since recovery".into(),
            first_release_since: Some(T0 - 34 * DAY),
            ..UploadPolicy::default()
        };
        let o = db
            .publish(&file("patient", bob, "2.0", 1, T0), &policy(T0), None)
            .await
            .expect("p");
        assert_eq!(
            o,
            PublishOutcome::Quarantined {
                release_created: true
            },
            "{name}"
        );
        // Approved (its uploader was not watched): it is the project's newest lively release,
        // after the recovery, so the next release a year on is published as usual.
        let r = db
            .project_by_normalized("patient")
            .await
            .expect("p")
            .expect("p");
        let rel = db
            .releases_any_state(r.id)
            .await
            .expect("r")
            .into_iter()
            .find(|x| x.version == "2.0")
            .expect("2.0");
        let mut tx = db.begin_admin().await.expect("tx");
        assert!(tx.clear_release_quarantine(rel.id).await.expect("c"));
        tx.commit(&[], &[]).await.expect("commit");
        let later = T0 + 400 * DAY;
        let o = db
            .publish(&file("patient", bob, "3.0", 2, later), &policy(later), None)
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Published { .. }),
            "{name}: {o:?}"
        );
        // A dormant project whose newest release came after the latest recovery: published.
        db.publish_file(&file("calm", bob, "1.0", 0, T0 - 500 * DAY))
            .await
            .expect("p");
        let calm = UploadPolicy {
            first_release_since: Some(T0 - 600 * DAY),
            ..policy(T0)
        };
        let o = db
            .publish(&file("calm", bob, "2.0", 1, T0), &calm, None)
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Published { .. }),
            "{name}: {o:?}"
        );
    }
}

#[tokio::test]
async fn soft_deletion_keeps_the_row_and_the_purge_waits_for_retention() {
    for (name, db, _dir) in backends().await {
        let carol = user(&db, "carol", T0 - DAY).await;
        let mut tx = db.begin_account().await.expect("tx");
        assert!(
            tx.soft_delete_user(carol, "deleted by its owner", T0 + 90 * DAY, T0)
                .await
                .expect("delete")
        );
        assert!(
            !tx.soft_delete_user(carol, "again", T0 + 90 * DAY, T0)
                .await
                .expect("delete"),
            "{name}: only once"
        );
        tx.commit(&[], &[]).await.expect("commit");
        let u = db.user_by_id(carol).await.expect("u").expect("row kept");
        assert_eq!(u.deleted_at, Some(T0), "{name}");
        // The username stays taken.
        let again = db
            .create_user(
                &NewUser {
                    username: "Carol".into(),
                    email: "new@example.org".into(),
                    email_verified: true,
                    password_hash: None,
                    is_admin: false,
                    at: T0,
                },
                ev("account:create"),
            )
            .await;
        assert!(again.is_err(), "{name}");
        assert!(
            db.accounts_due_for_purge(T0 + DAY, 10)
                .await
                .expect("due")
                .is_empty()
        );
        let mut tx = db.begin_account().await.expect("tx");
        assert_eq!(
            tx.purge_user(carol, T0 + DAY).await.expect("purge"),
            None,
            "{name}: too early"
        );
        tx.commit(&[], &[]).await.expect("commit");
        let due = db
            .accounts_due_for_purge(T0 + 90 * DAY, 10)
            .await
            .expect("due");
        assert_eq!(due.len(), 1, "{name}");
        assert_eq!(due[0].username, "carol");
        let mut tx = db.begin_account().await.expect("tx");
        let gone = tx
            .purge_user(carol, T0 + 90 * DAY)
            .await
            .expect("purge")
            .expect("purged");
        assert_eq!(gone.emails, 1, "{name}");
        tx.commit(&[], &[]).await.expect("commit");
        assert!(db.emails_of(carol).await.expect("e").is_empty(), "{name}");
        let u = db.user_by_id(carol).await.expect("u").expect("row kept");
        assert!(u.password_hash.is_none(), "{name}");
        let (_, reason, _, purged) = db.deletion_state(carol).await.expect("s").expect("s");
        assert_eq!(reason.as_deref(), Some("deleted by its owner"));
        assert_eq!(purged, Some(T0 + 90 * DAY), "{name}");
        assert!(
            db.accounts_due_for_purge(T0 + 99 * DAY, 10)
                .await
                .expect("due")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn domain_checks_pick_due_addresses_and_unverify_only_what_they_saw() {
    for (name, db, _dir) in backends().await {
        let dan = user(&db, "dan", T0 - 10 * DAY).await;
        let erin = user(&db, "erin", T0).await;
        let due = db
            .addresses_due_for_domain_check(T0 - DAY, T0, 100)
            .await
            .expect("due");
        assert_eq!(
            due.len(),
            1,
            "{name}: only the address verified before the cut-off"
        );
        assert_eq!(due[0].user_id, dan);
        assert_eq!(due[0].verified_at, T0 - 10 * DAY);
        db.mark_domain_checked(&[due[0].email_id], T0)
            .await
            .expect("mark");
        assert!(
            db.addresses_due_for_domain_check(T0 - DAY, T0, 100)
                .await
                .expect("due")
                .is_empty()
        );
        let all = db
            .addresses_due_for_domain_check(i64::MAX, i64::MAX, 100)
            .await
            .expect("due");
        assert_eq!(all.len(), 2, "{name}");
        let e = all
            .iter()
            .find(|a| a.user_id == erin)
            .expect("erin")
            .clone();
        let mut tx = db.begin_account().await.expect("tx");
        assert!(
            !tx.unverify_email(e.email_id, e.verified_at + 1, "x", T0)
                .await
                .expect("u"),
            "{name}: re-verified since the check read it"
        );
        assert!(
            tx.unverify_email(e.email_id, e.verified_at, "lapsed: gone", T0 + 1)
                .await
                .expect("u")
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert!(
            db.emails_of(erin).await.expect("e")[0]
                .verified_at
                .is_none()
        );
        let st = db.email_domain_states(erin).await.expect("s");
        assert_eq!(
            st[0].unverified_reason.as_deref(),
            Some("lapsed: gone"),
            "{name}"
        );
        assert_eq!(st[0].unverified_at, Some(T0 + 1));
        // Unverified addresses are not checked any more.
        let all = db
            .addresses_due_for_domain_check(i64::MAX, i64::MAX, 100)
            .await
            .expect("due");
        assert_eq!(all.len(), 1, "{name}");
    }
}

#[tokio::test]
async fn verified_addresses_are_counted_and_a_fresh_verification_restarts_the_domain_clock() {
    const MIN: i64 = 60_000_000;
    for (name, db, _dir) in backends().await {
        assert_eq!(db.count_verified_addresses().await.expect("n"), 0, "{name}");
        let fay = user(&db, "fay", T0 - 10 * DAY).await;
        user(&db, "gus", T0 - 10 * DAY).await;
        assert_eq!(db.count_verified_addresses().await.expect("n"), 2, "{name}");
        let a = db
            .addresses_due_for_domain_check(i64::MAX, i64::MAX, 100)
            .await
            .expect("due")
            .into_iter()
            .find(|a| a.user_id == fay)
            .expect("fay");
        // Sighted, then unverified by a confirming round an hour later.
        db.record_domain_attempt(
            a.email_id,
            a.verified_at,
            T0,
            T0 + 10 * MIN,
            0,
            Some((T0, "x")),
        )
        .await
        .expect("attempt");
        let mut tx = db.begin_account().await.expect("tx");
        assert!(
            tx.unverify_email(a.email_id, a.verified_at, "unresolvable: x", T0 + 60 * MIN)
                .await
                .expect("u")
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert_eq!(db.count_verified_addresses().await.expect("n"), 1, "{name}");
        assert_eq!(
            db.count_unverified_since(T0 + 60 * MIN).await.expect("n"),
            1
        );
        assert_eq!(
            db.count_unverified_since(T0 + 61 * MIN).await.expect("n"),
            0
        );
        // Verified again (an operator's repair) a day later: not due until an interval on
        // from the new verification, not from the round that took it away.
        let mut tx = db.begin_account().await.expect("tx");
        tx.verify_email(a.email_id, T0 + DAY).await.expect("verify");
        tx.commit(&[], &[]).await.expect("commit");
        assert_eq!(db.count_verified_addresses().await.expect("n"), 2, "{name}");
        assert_eq!(
            db.count_unverified_since(0).await.expect("n"),
            0,
            "{name}: verified again, no longer counted"
        );
        let st = &db.email_domain_states(fay).await.expect("s")[0];
        assert_eq!(
            (
                st.domain_checked_at,
                st.domain_retry_at,
                st.domain_suspect_at
            ),
            (None, None, None),
            "{name}"
        );
        let due = |cut: i64| {
            let db = db.clone();
            async move {
                db.addresses_due_for_domain_check(cut, cut, 100)
                    .await
                    .expect("due")
                    .iter()
                    .any(|a| a.user_id == fay)
            }
        };
        assert!(!due(T0 + DAY - 1).await, "{name}");
        assert!(due(T0 + DAY).await, "{name}");
        // Verifying an address that is verified changes none of its check state.
        db.record_domain_attempt(a.email_id, T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY, 2, None)
            .await
            .expect("attempt");
        let mut tx = db.begin_account().await.expect("tx");
        tx.verify_email(a.email_id, T0 + 4 * DAY)
            .await
            .expect("verify");
        tx.commit(&[], &[]).await.expect("commit");
        let st = &db.email_domain_states(fay).await.expect("s")[0];
        assert_eq!(
            (st.domain_checked_at, st.domain_retry_at, st.domain_failures),
            (Some(T0 + 2 * DAY), Some(T0 + 3 * DAY), 2),
            "{name}"
        );
        assert_eq!(
            db.emails_of(fay).await.expect("e")[0].verified_at,
            Some(T0 + DAY)
        );
    }
}

#[tokio::test]
async fn every_domain_attempt_is_recorded_and_retries_wait_their_turn() {
    const MIN: i64 = 60_000_000;
    for (name, db, _dir) in backends().await {
        let hung = user(&db, "hung", T0 - 10 * DAY).await;
        let fine = user(&db, "fine", T0 - 9 * DAY).await;
        let due = db
            .addresses_due_for_domain_check(T0 - DAY, T0, 100)
            .await
            .expect("due");
        assert_eq!(due.len(), 2, "{name}");
        // Least recently attempted first.
        assert_eq!(due[0].user_id, hung, "{name}");
        assert_eq!((due[0].failures, due[0].suspect_at), (0, None));
        let h = due[0].clone();
        // No answer: attempted now, retried in an hour, not after the interval.
        db.record_domain_attempt(h.email_id, h.verified_at, T0, T0 + 60 * MIN, 1, None)
            .await
            .expect("attempt");
        let due = db
            .addresses_due_for_domain_check(T0 - DAY, T0, 100)
            .await
            .expect("due");
        assert_eq!(
            due.iter().map(|a| a.user_id).collect::<Vec<_>>(),
            vec![fine],
            "{name}: the hung address waits for its retry, the other one is not starved"
        );
        let due = db
            .addresses_due_for_domain_check(T0 + 60 * MIN - DAY, T0 + 60 * MIN, 100)
            .await
            .expect("due");
        // Both due an hour later; the one attempted long ago comes first.
        assert_eq!(
            due.iter().map(|a| a.user_id).collect::<Vec<_>>(),
            vec![fine, hung],
            "{name}"
        );
        assert_eq!(due[1].failures, 1);
        // A bad sighting to confirm later.
        db.record_domain_attempt(
            h.email_id,
            h.verified_at,
            T0 + 60 * MIN,
            T0 + 70 * MIN,
            0,
            Some((T0 + 60 * MIN, "unresolvable: NXDOMAIN")),
        )
        .await
        .expect("attempt");
        let a = db
            .addresses_due_for_domain_check(i64::MAX, i64::MAX, 100)
            .await
            .expect("due")
            .into_iter()
            .find(|a| a.user_id == hung)
            .expect("hung");
        assert_eq!(a.suspect_at, Some(T0 + 60 * MIN), "{name}");
        assert_eq!(a.suspect_reason.as_deref(), Some("unresolvable: NXDOMAIN"));
        let st = &db.email_domain_states(hung).await.expect("s")[0];
        assert_eq!(
            (
                st.domain_checked_at,
                st.domain_retry_at,
                st.domain_suspect_at
            ),
            (
                Some(T0 + 60 * MIN),
                Some(T0 + 70 * MIN),
                Some(T0 + 60 * MIN)
            )
        );
        // An attempt recorded against an older verification changes nothing.
        db.record_domain_attempt(h.email_id, h.verified_at - 1, T0, T0, 9, None)
            .await
            .expect("attempt");
        assert_eq!(
            db.email_domain_states(hung).await.expect("s")[0].domain_failures,
            0
        );
        // A healthy answer clears retry, failures and suspicion.
        db.mark_domain_checked(&[h.email_id], T0 + 70 * MIN)
            .await
            .expect("mark");
        let st = &db.email_domain_states(hung).await.expect("s")[0];
        assert_eq!(
            (st.domain_retry_at, st.domain_failures, st.domain_suspect_at),
            (None, 0, None),
            "{name}"
        );
        assert!(
            db.addresses_due_for_domain_check(T0 + 70 * MIN - DAY, T0 + 70 * MIN, 100)
                .await
                .expect("due")
                .iter()
                .all(|a| a.user_id != hung)
        );
    }
}

#[tokio::test]
async fn a_watched_uploaders_release_never_makes_a_project_lively_and_roles_keep_their_watch() {
    for (name, db, _dir) in backends().await {
        let bob = user(&db, "bob", T0 - 400 * DAY).await;
        let sock = user(&db, "sock", T0 - DAY).await;
        db.publish_file(&file("sleepy", bob, "1.0", 0, T0 - 400 * DAY))
            .await
            .expect("p");
        let p = db
            .project_by_normalized("sleepy")
            .await
            .expect("p")
            .expect("p");
        // The role a watched account granted keeps the inherited watch; a shorter one later
        // does not shorten it.
        let mut tx = db.begin_account().await.expect("tx");
        tx.insert_role(p.id, sock, ProjectRole::Maintainer, T0 - DAY, Some(bob))
            .await
            .expect("role");
        tx.set_role_watch(p.id, sock, T0 + 20 * DAY)
            .await
            .expect("watch");
        tx.set_role_watch(p.id, sock, T0 + 2 * DAY)
            .await
            .expect("watch");
        tx.commit(&[], &[]).await.expect("commit");
        let roles = db.roles_of_project(p.id).await.expect("roles");
        let r = roles.iter().find(|r| r.user_id == sock).expect("sock");
        assert_eq!(r.watch_until, Some(T0 + 20 * DAY), "{name}");
        assert_eq!(r.granted_by, Some(bob), "{name}");
        let mut tx = db.begin_account().await.expect("tx");
        let r = tx.role_in(p.id, sock).await.expect("r").expect("role");
        assert_eq!(r.watch_until, Some(T0 + 20 * DAY), "{name}");
        tx.commit(&[], &[]).await.expect("commit");
        // A watched uploader's release of the dormant project is published (no quarantine
        // asked for here), marked, and the project stays dormant for the next watched release.
        let watched = UploadPolicy {
            uploader_watched: true,
            ..UploadPolicy::default()
        };
        let o = db
            .publish(&file("sleepy", sock, "2.0", 1, T0), &watched, None)
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Published { .. }),
            "{name}: {o:?}"
        );
        let policy = UploadPolicy {
            dormant_before: Some(T0 - 365 * DAY),
            quarantine_reason: "dormant".into(),
            uploader_watched: true,
            ..UploadPolicy::default()
        };
        let o = db
            .publish(&file("sleepy", bob, "3.0", 1, T0 + DAY), &policy, None)
            .await
            .expect("p");
        assert_eq!(
            o,
            PublishOutcome::Quarantined {
                release_created: true
            },
            "{name}: a watched account's release does not make the project lively"
        );
        // A release by an account that was not watched does.
        db.publish_file(&file("sleepy", bob, "4.0", 1, T0 + 2 * DAY))
            .await
            .expect("p");
        let o = db
            .publish(&file("sleepy", bob, "5.0", 1, T0 + 3 * DAY), &policy, None)
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Published { .. }),
            "{name}: {o:?}"
        );
        // A watched account's file added to an existing, published release queues file_mails.
        let before = db.outbox_recent(50).await.expect("o").len();
        let told = UploadPolicy {
            file_mails: vec![NewMail {
                to: "owner@example.org".into(),
                subject: "file added".into(),
                body: "b".into(),
            }],
            release_mails: vec![NewMail {
                to: "owner@example.org".into(),
                subject: "release".into(),
                body: "b".into(),
            }],
            ..UploadPolicy::default()
        };
        db.publish(
            &file("sleepy", sock, "5.0", 2, T0 + 3 * DAY + 1),
            &told,
            None,
        )
        .await
        .expect("p");
        let mails = db.outbox_recent(50).await.expect("o");
        assert_eq!(mails.len(), before + 1, "{name}");
        assert!(mails.iter().any(|m| m.subject == "file added"), "{name}");
        // A project whose every release came from watched accounts is judged by its own age:
        // an old one is dormant, one made a minute ago is not.
        db.publish(
            &file("solo", sock, "1.0", 0, T0 - 400 * DAY),
            &watched,
            None,
        )
        .await
        .expect("p");
        let o = db
            .publish(&file("solo", sock, "2.0", 0, T0), &policy, None)
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Quarantined { .. }),
            "{name}: {o:?}"
        );
        db.publish(
            &file("fresh", sock, "1.0", 0, T0 - 60_000_000),
            &watched,
            None,
        )
        .await
        .expect("p");
        let o = db
            .publish(&file("fresh", sock, "2.0", 0, T0), &policy, None)
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Published { .. }),
            "{name}: {o:?}"
        );
    }
}

/// A new project whose first release the scan quarantines is created without a journal entry:
/// the upstream generation moves instead, so page caches holding an upstream page of the name
/// forget it. A project published as usual (journaled) leaves the generation alone.
#[tokio::test]
async fn a_project_created_quarantined_moves_the_upstream_generation() {
    for (name, db, _dir) in backends().await {
        let bob = user(&db, "bob", T0 - 400 * DAY).await;
        let g0 = db.upstream_generation().await.expect("g");
        db.publish_file(&file("plain", bob, "1.0", 0, T0))
            .await
            .expect("p");
        assert_eq!(db.upstream_generation().await.expect("g"), g0, "{name}");
        let policy = UploadPolicy {
            scan_hold: Some("the scanner found M1".into()),
            ..UploadPolicy::default()
        };
        let o = db
            .publish(&file("held-new", bob, "1.0", 1, T0), &policy, None)
            .await
            .expect("p");
        assert_eq!(
            o,
            PublishOutcome::Quarantined {
                release_created: true
            },
            "{name}"
        );
        assert_eq!(db.upstream_generation().await.expect("g"), g0 + 1, "{name}");
        // its next release, quarantined too, changes nothing more (the project existed)
        let o = db
            .publish(&file("held-new", bob, "1.1", 2, T0 + 1), &policy, None)
            .await
            .expect("p");
        assert!(
            matches!(o, PublishOutcome::Quarantined { .. }),
            "{name}: {o:?}"
        );
        assert_eq!(db.upstream_generation().await.expect("g"), g0 + 1, "{name}");
    }
}
