//! Ownership store cases (migration 0004): roles and the last-Owner rule (also under a race),
//! invitations (one pending per project and invitee, lazy expiry, voiding), held role changes
//! and veto tokens, each run on SQLite and PostgreSQL.

use sqlx::Row;

use super::{backends, verified_user};
use crate::states::{InvitationStatus, ProjectRole, RoleChangeKind, RoleChangeStatus};
use crate::{Db, NewEvent, NewMail, RoleOutcome, StoreError};

fn ev(action: &str, at: i64) -> NewEvent {
    NewEvent {
        at,
        action: action.into(),
        subject_kind: "project".into(),
        ..NewEvent::default()
    }
}

async fn user(db: &Db, name: &str) -> i64 {
    verified_user(db, name, Some("h"), 1, ev("account:create", 1)).await
}

/// A project whose owners are `owners` (granted at time 10).
async fn project(db: &Db, name: &str, owners: &[i64]) -> i64 {
    let id: i64 = sqlx::query(
        "INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at, created_by) VALUES ($1, $2, $3, 1, $4) RETURNING id",
    )
    .bind(name.to_owned())
    .bind(name.to_lowercase())
    .bind(format!("u-{}", name.to_lowercase()))
    .bind(owners[0])
    .fetch_one(&db.write)
    .await
    .expect("project")
    .get(0);
    let mut tx = db.begin_account().await.expect("begin");
    for o in owners {
        tx.insert_role(id, *o, ProjectRole::Owner, 10, None)
            .await
            .expect("role");
    }
    tx.commit(&[], &[]).await.expect("commit");
    id
}

async fn owners(db: &Db, project_id: i64) -> Vec<String> {
    db.roles_of_project(project_id)
        .await
        .expect("roles")
        .into_iter()
        .filter(|r| r.role == ProjectRole::Owner)
        .map(|r| r.username)
        .collect()
}

#[tokio::test]
async fn last_owner_cannot_be_removed_or_demoted() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;
        let c = user(&db, "carol").await;
        let p = project(&db, "proj", &[a, b]).await;
        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            matches!(tx.insert_role(p, a, ProjectRole::Maintainer, 11, None).await, Err(StoreError::Conflict(w)) if w == "role"),
            "{name}: one role per user"
        );
        drop(tx);
        let mut tx = db.begin_account().await.expect("begin");
        assert_eq!(
            tx.remove_role(p, c).await.expect("rm"),
            RoleOutcome::NotMember,
            "{name}"
        );
        assert_eq!(
            tx.change_role(p, a, ProjectRole::Owner, 20, Some(b))
                .await
                .expect("same"),
            RoleOutcome::Unchanged,
            "{name}"
        );
        assert_eq!(
            tx.change_role(p, a, ProjectRole::Maintainer, 20, Some(b))
                .await
                .expect("demote"),
            RoleOutcome::Changed {
                previous: ProjectRole::Owner
            },
            "{name}"
        );
        assert_eq!(
            tx.change_role(p, b, ProjectRole::Maintainer, 21, None)
                .await
                .expect("demote last"),
            RoleOutcome::LastOwner,
            "{name}: the last Owner stays"
        );
        assert_eq!(
            tx.remove_role(p, b).await.expect("remove last"),
            RoleOutcome::LastOwner,
            "{name}"
        );
        // A Maintainer may go even when only one Owner is left.
        assert_eq!(
            tx.remove_role(p, a).await.expect("remove maintainer"),
            RoleOutcome::Changed {
                previous: ProjectRole::Maintainer
            },
            "{name}"
        );
        tx.commit(&[ev("role:remove", 22)], &[])
            .await
            .expect("commit");
        assert_eq!(owners(&db, p).await, vec!["bob".to_owned()], "{name}");
        let role = db.role_of(p, a).await.expect("role");
        assert!(role.is_none(), "{name}");
        let mine = db.projects_of_user(b).await.expect("projects");
        assert_eq!(mine.len(), 1, "{name}");
        assert_eq!((mine[0].0.id, mine[0].1), (p, ProjectRole::Owner), "{name}");
        assert_eq!(
            db.project_by_id(p).await.expect("p").map(|p| p.name),
            Some("proj".into()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn two_owners_removing_each_other_leave_one() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;
        for round in 0..8 {
            let p = project(&db, &format!("race{round}"), &[a, b]).await;
            let remove = |db: Db, target: i64| {
                tokio::spawn(async move {
                    let mut tx = db.begin_account().await.expect("begin");
                    let out = tx.remove_role(p, target).await.expect("remove");
                    // Hold the transaction open so the other removal overlaps it.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    tx.commit(&[ev("role:remove", 30)], &[])
                        .await
                        .expect("commit");
                    out
                })
            };
            let (x, y) = tokio::join!(remove(db.clone(), a), remove(db.clone(), b));
            let (x, y) = (x.expect("task"), y.expect("task"));
            let left = owners(&db, p).await;
            assert_eq!(left.len(), 1, "{name} round {round}: {x:?} {y:?}");
            let refused = [&x, &y]
                .iter()
                .filter(|o| ***o == RoleOutcome::LastOwner)
                .count();
            assert_eq!(
                refused, 1,
                "{name} round {round}: exactly one removal loses"
            );
        }
        assert_eq!(db.verify_events().await.expect("verify"), None, "{name}");
    }
}

#[tokio::test]
async fn invitations_one_pending_expire_void_and_end_once() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;
        let c = user(&db, "carol").await;
        let p = project(&db, "proj", &[a]).await;
        let mut tx = db.begin_account().await.expect("begin");
        tx.insert_invitation(p, b, a, ProjectRole::Maintainer, 100, 200)
            .await
            .expect("invite");
        assert!(
            matches!(tx.insert_invitation(p, b, a, ProjectRole::Owner, 101, 201).await, Err(StoreError::Conflict(w)) if w == "invitation"),
            "{name}: one pending per project and invitee"
        );
        drop(tx);
        let mut tx = db.begin_account().await.expect("begin");
        let i1 = tx
            .insert_invitation(p, b, a, ProjectRole::Maintainer, 100, 200)
            .await
            .expect("the rolled-back duplicate left nothing");
        let ic = tx
            .insert_invitation(p, c, a, ProjectRole::Owner, 100, 500)
            .await
            .expect("invite carol");
        tx.commit(
            &[ev("role:invite", 100)],
            &[NewMail {
                to: "bob@example.org".into(),
                subject: "Invitation".into(),
                body: "b".into(),
            }],
        )
        .await
        .expect("commit");
        let pending = db.pending_invitations_of_project(p).await.expect("pending");
        assert_eq!(pending.len(), 2, "{name}");
        let got = db.invitation(i1).await.expect("get").expect("found");
        assert_eq!(
            (
                got.project_name.as_str(),
                got.invitee_name.as_str(),
                got.inviter_name.as_str(),
                got.role.as_str(),
                got.status.as_str(),
                got.expires_at
            ),
            ("proj", "bob", "alice", "Maintainer", "pending", 200),
            "{name}"
        );
        assert_eq!(
            db.pending_invitations_for_user(b)
                .await
                .expect("mine")
                .len(),
            1,
            "{name}"
        );
        // Lazy expiry: nothing before the deadline, then the row is marked and a new one fits.
        let overdue = db.overdue_invitations(199).await.expect("overdue");
        assert!(overdue.is_empty(), "{name}");
        assert_eq!(
            db.overdue_invitations(200).await.expect("overdue").len(),
            1,
            "{name}"
        );
        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            tx.expire_invitations_to(p, b, 199)
                .await
                .expect("early")
                .is_empty(),
            "{name}"
        );
        let expired = tx.expire_invitations_to(p, b, 250).await.expect("expire");
        assert_eq!(
            expired
                .iter()
                .map(|i| (i.id, i.status.as_str()))
                .collect::<Vec<_>>(),
            vec![(i1, "expired")],
            "{name}"
        );
        let i2 = tx
            .insert_invitation(p, b, a, ProjectRole::Owner, 250, 400)
            .await
            .expect("a new invitation after expiry");
        assert!(
            !tx.end_invitation(i1, InvitationStatus::Accepted, 251)
                .await
                .expect("end"),
            "{name}: an expired invitation cannot be accepted"
        );
        assert!(
            tx.end_invitation(i2, InvitationStatus::Declined, 252)
                .await
                .expect("decline")
        );
        assert!(
            !tx.end_invitation(i2, InvitationStatus::Accepted, 253)
                .await
                .expect("again"),
            "{name}: ends once"
        );
        // Voiding: only the inviter's pending invitations on this project.
        let voided = tx.void_invitations_from(p, a, 260).await.expect("void");
        assert_eq!(
            voided
                .iter()
                .map(|i| (i.id, i.status.as_str()))
                .collect::<Vec<_>>(),
            vec![(ic, "voided")],
            "{name}"
        );
        assert!(
            tx.void_invitations_from(p, a, 261)
                .await
                .expect("void again")
                .is_empty(),
            "{name}"
        );
        tx.commit(&[ev("role:invite:void", 260)], &[])
            .await
            .expect("commit");
        assert!(
            db.pending_invitations_of_project(p)
                .await
                .expect("pending")
                .is_empty(),
            "{name}"
        );
        let status = |id| {
            let db = db.clone();
            async move { db.invitation(id).await.expect("get").expect("found").status }
        };
        assert_eq!(status(i2).await, InvitationStatus::Declined, "{name}");
        assert_eq!(status(ic).await, InvitationStatus::Voided, "{name}");
        let mails = db.outbox_recent(10).await.expect("outbox");
        assert_eq!(mails.len(), 1, "{name}: the mail committed with its change");
    }
}

#[tokio::test]
async fn held_changes_end_once_and_come_due() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;
        let p = project(&db, "proj", &[a, b]).await;
        let mut tx = db.begin_account().await.expect("begin");
        let c1 = tx
            .insert_role_change(p, a, b, RoleChangeKind::Remove, None, 100, 1000)
            .await
            .expect("hold");
        let c2 = tx
            .insert_role_change(
                p,
                a,
                b,
                RoleChangeKind::Demote,
                Some(ProjectRole::Maintainer),
                101,
                2000,
            )
            .await
            .expect("hold 2");
        assert_eq!(
            tx.pending_changes_for(p, a).await.expect("for").len(),
            2,
            "{name}"
        );
        assert_eq!(
            tx.pending_changes_by(p, b).await.expect("by").len(),
            2,
            "{name}"
        );
        let tok = tx
            .insert_subject_token("hash-veto", a, "veto_role_change", c1, 100, 1000)
            .await
            .expect("token");
        assert!(tok > 0);
        tx.commit(&[ev("role:change:pending", 100)], &[])
            .await
            .expect("commit");
        assert_eq!(
            db.email_token_subject("hash-veto").await.expect("subject"),
            Some(c1),
            "{name}"
        );
        assert_eq!(
            db.email_token_subject("nope").await.expect("subject"),
            None,
            "{name}"
        );
        let ch = db.role_change(c2).await.expect("get").expect("found");
        assert_eq!(
            (
                ch.target_name.as_str(),
                ch.actor_name.as_str(),
                ch.kind,
                ch.new_role,
                ch.status
            ),
            (
                "alice",
                "bob",
                RoleChangeKind::Demote,
                Some(ProjectRole::Maintainer),
                RoleChangeStatus::Pending
            ),
            "{name}"
        );
        assert_eq!(
            db.pending_role_changes(p).await.expect("pending").len(),
            2,
            "{name}"
        );
        assert_eq!(
            db.all_pending_role_changes().await.expect("all").len(),
            2,
            "{name}"
        );
        let due: Vec<i64> = db
            .due_role_changes(1500)
            .await
            .expect("due")
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(due, vec![c1], "{name}");
        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            tx.end_role_change(c1, RoleChangeStatus::Vetoed, 1100, "alice")
                .await
                .expect("veto")
        );
        assert!(
            !tx.end_role_change(c1, RoleChangeStatus::Applied, 1101, "job")
                .await
                .expect("apply"),
            "{name}: a vetoed change is never applied"
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert!(
            db.due_role_changes(1500).await.expect("due").is_empty(),
            "{name}"
        );
        assert_eq!(
            db.role_change(c1)
                .await
                .expect("get")
                .expect("found")
                .status,
            RoleChangeStatus::Vetoed,
            "{name}"
        );
    }
}

#[tokio::test]
async fn held_changes_against_an_account_are_found_across_projects_and_rescheduled() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;
        let p = project(&db, "proj", &[a, b]).await;
        let q = project(&db, "other", &[a, b]).await;
        let mut tx = db.begin_account().await.expect("begin");
        let c1 = tx
            .insert_role_change(p, a, b, RoleChangeKind::Remove, None, 100, 1000)
            .await
            .expect("hold");
        let c2 = tx
            .insert_role_change(q, a, b, RoleChangeKind::Remove, None, 100, 1000)
            .await
            .expect("hold");
        tx.insert_role_change(q, b, a, RoleChangeKind::Remove, None, 100, 1000)
            .await
            .expect("the other way");
        assert!(
            tx.end_role_change(c2, RoleChangeStatus::Vetoed, 200, "alice")
                .await
                .expect("veto")
        );
        let mine: Vec<i64> = tx
            .pending_changes_targeting(a)
            .await
            .expect("targeting")
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(mine, vec![c1], "{name}: pending ones aimed at alice only");
        assert!(
            tx.reschedule_role_change(c1, 5000).await.expect("move"),
            "{name}"
        );
        assert!(
            !tx.reschedule_role_change(c2, 5000).await.expect("move"),
            "{name}: an ended change stays as it ended"
        );
        tx.commit(&[ev("role:change:postpone", 300)], &[])
            .await
            .expect("commit");
        assert!(
            !db.due_role_changes(1500)
                .await
                .expect("due")
                .iter()
                .any(|c| c.id == c1),
            "{name}: not due before its new time"
        );
        let ch = db.role_change(c1).await.expect("get").expect("found");
        assert_eq!(
            (ch.effective_at, ch.status.as_str()),
            (5000, "pending"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn stored_text_no_version_writes_is_a_typed_error() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;
        let p = project(&db, "proj", &[a]).await;
        let mut tx = db.begin_account().await.expect("begin");
        let inv = tx
            .insert_invitation(p, b, a, ProjectRole::Maintainer, 100, 200)
            .await
            .expect("invite");
        let change = tx
            .insert_role_change(p, a, b, RoleChangeKind::Remove, None, 100, 1000)
            .await
            .expect("change");
        tx.commit(&[], &[]).await.expect("commit");
        // Text a newer version (or a hand edit) wrote: every read of the row names it.
        for sql in [
            "UPDATE projects SET status = 'frozen' WHERE id = $1",
            "UPDATE roles SET role = 'owner' WHERE project_id = $1",
            "UPDATE role_invitations SET status = 'lost' WHERE project_id = $1",
            "UPDATE role_changes SET kind = 'promote' WHERE project_id = $1",
        ] {
            sqlx::query(sql)
                .bind(p)
                .execute(&db.write)
                .await
                .expect("update");
        }
        let unknown = |e: StoreError| match e {
            StoreError::UnknownValue(u) => (u.column, u.value),
            other => panic!("{name}: expected UnknownValue, got {other:?}"),
        };
        assert_eq!(
            unknown(db.project_by_id(p).await.expect_err("project")),
            ("projects.status", "frozen".to_owned()),
            "{name}"
        );
        assert_eq!(
            unknown(db.role_of(p, a).await.expect_err("role_of")),
            ("roles.role", "owner".to_owned()),
            "{name}"
        );
        assert_eq!(
            unknown(db.roles_of_project(p).await.expect_err("roles")),
            ("roles.role", "owner".to_owned()),
            "{name}"
        );
        assert_eq!(
            unknown(db.invitation(inv).await.expect_err("invitation")),
            ("role_invitations.status", "lost".to_owned()),
            "{name}"
        );
        assert_eq!(
            unknown(db.role_change(change).await.expect_err("change")),
            ("role_changes.kind", "promote".to_owned()),
            "{name}"
        );
    }
}
