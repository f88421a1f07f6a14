//! Registration store cases (migration 0010): invitation links are found by their hash, used
//! up once and only for their address, only before they expire and unless revoked, and one
//! link raced by two writers is won by exactly one; the reads registration makes inside its
//! transaction. Each runs on SQLite and PostgreSQL.

use super::backends;
use crate::{Db, NewEvent, NewRegistrationInvite, NewUser, StoreError};

fn ev(action: &str, at: i64) -> NewEvent {
    NewEvent {
        at,
        action: action.into(),
        subject_kind: "invite".into(),
        ..NewEvent::default()
    }
}

fn invite(hash: &str, email: &str, at: i64, expires_at: i64) -> NewRegistrationInvite {
    NewRegistrationInvite {
        token_hash: hash.into(),
        email: email.into(),
        created_by: "cli:root".into(),
        created_by_id: None,
        reason: "new colleague".into(),
        at,
        expires_at,
    }
}

async fn make(db: &Db, n: &NewRegistrationInvite) -> i64 {
    let mut tx = db.begin_account().await.expect("begin");
    let id = tx.insert_registration_invite(n).await.expect("insert");
    tx.commit(&[ev("admin:invite:create", n.at)], &[])
        .await
        .expect("commit");
    id
}

async fn use_it(db: &Db, hash: &str, email: &str, now: i64) -> Option<i64> {
    let mut tx = db.begin_account().await.expect("begin");
    let id = tx
        .use_registration_invite(hash, email, now)
        .await
        .expect("use");
    tx.commit(&[], &[]).await.expect("commit");
    id
}

#[tokio::test]
async fn an_invitation_is_used_once_for_its_address_before_it_expires() {
    for (name, db, _d) in backends().await {
        let id = make(&db, &invite("h1", "New.Person@Example.org", 10, 100)).await;
        let got = db
            .registration_invite_by_hash("h1")
            .await
            .expect("get")
            .expect("found");
        assert_eq!(
            (got.id, got.email.as_str(), got.used_at, got.revoked_at),
            (id, "New.Person@Example.org", None, None),
            "{name}"
        );
        assert!(
            db.registration_invite_by_hash("h2")
                .await
                .expect("get")
                .is_none()
        );
        assert_eq!(
            db.live_registration_invites_for("new.person@example.org", 50)
                .await
                .expect("live")
                .len(),
            1,
            "{name}: found case-insensitively"
        );
        assert!(
            db.live_registration_invites_for("new.person@example.org", 100)
                .await
                .expect("live")
                .is_empty(),
            "{name}: not live once expired"
        );
        // Another address, or the right one after expiry: nothing changes.
        assert_eq!(
            use_it(&db, "h1", "other@example.org", 20).await,
            None,
            "{name}"
        );
        assert_eq!(
            use_it(&db, "h1", "new.person@example.org", 100).await,
            None,
            "{name}"
        );
        assert_eq!(
            use_it(&db, "nope", "new.person@example.org", 20).await,
            None,
            "{name}"
        );
        assert!(
            db.registration_invite(id)
                .await
                .expect("get")
                .expect("row")
                .used_at
                .is_none(),
            "{name}"
        );
        // The address in any case, before expiry: used, once.
        assert_eq!(
            use_it(&db, "h1", "NEW.PERSON@example.ORG", 20).await,
            Some(id),
            "{name}"
        );
        assert_eq!(
            use_it(&db, "h1", "new.person@example.org", 21).await,
            None,
            "{name}: replay"
        );
        let uid = db
            .create_user(
                &NewUser {
                    username: "newperson".into(),
                    email: "new.person@example.org".into(),
                    email_verified: false,
                    password_hash: Some("h".into()),
                    is_admin: false,
                    at: 20,
                },
                ev("account:create", 20),
            )
            .await
            .expect("user")
            .id;
        let mut tx = db.begin_account().await.expect("begin");
        tx.set_registration_invite_user(id, uid).await.expect("set");
        // A used invitation cannot be revoked.
        assert!(
            !tx.revoke_registration_invite(id, "cli:root", 22)
                .await
                .expect("revoke"),
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
        let got = db.registration_invite(id).await.expect("get").expect("row");
        assert_eq!(
            (
                got.used_at,
                got.used_by_id,
                got.used_by.as_deref(),
                got.revoked_at
            ),
            (Some(20), Some(uid), Some("newperson"), None),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_revoked_invitation_cannot_be_used_and_the_list_is_newest_first() {
    for (name, db, _d) in backends().await {
        let a = make(&db, &invite("ha", "a@example.org", 10, 1000)).await;
        let b = make(&db, &invite("hb", "b@example.org", 11, 1000)).await;
        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            tx.revoke_registration_invite(a, "root", 12)
                .await
                .expect("revoke"),
            "{name}"
        );
        assert!(
            !tx.revoke_registration_invite(a, "root", 13)
                .await
                .expect("again"),
            "{name}: revoked once"
        );
        assert!(
            !tx.revoke_registration_invite(9999, "root", 13)
                .await
                .expect("none"),
            "{name}"
        );
        tx.commit(&[ev("admin:invite:revoke", 12)], &[])
            .await
            .expect("commit");
        assert_eq!(use_it(&db, "ha", "a@example.org", 20).await, None, "{name}");
        let list = db.registration_invites(10).await.expect("list");
        let ids: Vec<i64> = list.iter().map(|i| i.id).collect();
        assert_eq!(ids, vec![b, a], "{name}");
        assert_eq!(
            (list[1].revoked_at, list[1].revoked_by.as_deref()),
            (Some(12), Some("root")),
            "{name}"
        );
        assert_eq!(
            db.registration_invites(1).await.expect("list").len(),
            1,
            "{name}"
        );
        // The secret's hash is unique.
        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            matches!(
                tx.insert_registration_invite(&invite("hb", "c@example.org", 30, 40))
                    .await,
                Err(StoreError::Conflict(_))
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn one_link_raced_by_two_writers_is_won_once() {
    for (name, db, _d) in backends().await {
        let id = make(&db, &invite("race", "r@example.org", 10, 1000)).await;
        let attempt = |db: Db| async move {
            let mut tx = db.begin_account().await.expect("begin");
            let got = tx
                .use_registration_invite("race", "r@example.org", 20)
                .await
                .expect("use");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            tx.commit(&[], &[]).await.expect("commit");
            got
        };
        let (x, y) = tokio::join!(
            tokio::spawn(attempt(db.clone())),
            tokio::spawn(attempt(db.clone()))
        );
        let mut won: Vec<Option<i64>> = vec![x.expect("task"), y.expect("task")];
        won.sort();
        assert_eq!(won, vec![None, Some(id)], "{name}");
    }
}

#[tokio::test]
async fn registration_reads_names_and_addresses_inside_its_transaction() {
    for (name, db, _d) in backends().await {
        super::verified_user(&db, "Alice", None, 1, ev("account:create", 1)).await;
        let mut tx = db.begin_account().await.expect("begin");
        assert!(tx.username_taken("aLiCe").await.expect("name"), "{name}");
        assert!(!tx.username_taken("bob").await.expect("name"), "{name}");
        let e = tx
            .email_by_address("ALICE@example.org")
            .await
            .expect("addr")
            .expect("found");
        assert_eq!(e.address, "Alice@example.org", "{name}: as typed");
        assert!(
            tx.email_by_address("bob@example.org")
                .await
                .expect("addr")
                .is_none()
        );
    }
}

#[tokio::test]
async fn the_invitations_an_account_made_are_revoked_together_and_only_those_still_usable() {
    for (name, db, _d) in backends().await {
        let maker = super::verified_user(&db, "boss", None, 1, ev("account:create", 1)).await;
        let mine = |hash: &str, email: &str, expires_at: i64| NewRegistrationInvite {
            created_by: "boss".into(),
            created_by_id: Some(maker),
            ..invite(hash, email, 10, expires_at)
        };
        let live = make(&db, &mine("m1", "a@example.org", 100)).await;
        let used = make(&db, &mine("m2", "b@example.org", 100)).await;
        assert_eq!(use_it(&db, "m2", "b@example.org", 20).await, Some(used));
        make(&db, &mine("m3", "c@example.org", 30)).await; // expired by 50
        let cli = make(&db, &invite("c1", "d@example.org", 10, 100)).await;

        let mut tx = db.begin_account().await.expect("begin");
        let revoked = tx
            .revoke_registration_invites_by(maker, "cli:ops", 50)
            .await
            .expect("revoke");
        tx.commit(&[ev("admin:user:freeze", 50)], &[])
            .await
            .expect("commit");
        assert_eq!(revoked, vec![(live, "a@example.org".to_string())], "{name}");
        assert_eq!(use_it(&db, "m1", "a@example.org", 60).await, None, "{name}");
        let row = db
            .registration_invite(live)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(row.revoked_at, Some(50), "{name}");
        assert_eq!(row.revoked_by.as_deref(), Some("cli:ops"), "{name}");
        assert_eq!(
            use_it(&db, "c1", "d@example.org", 60).await,
            Some(cli),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_purge_forgets_the_addresses_of_the_invitations_the_account_made_used_or_was_sent() {
    for (name, db, _d) in backends().await {
        let carol = super::verified_user(&db, "carol", None, 1, ev("account:create", 1)).await;
        let made = make(
            &db,
            &NewRegistrationInvite {
                created_by_id: Some(carol),
                created_by: "carol".into(),
                ..invite("p1", "friend@example.org", 10, 100)
            },
        )
        .await;
        // Sent to her address (another registration, revoked later), and one she used.
        let sent = make(&db, &invite("p2", "CAROL@example.org", 10, 100)).await;
        let used = make(&db, &invite("p3", "other@example.org", 10, 100)).await;
        let mut tx = db.begin_account().await.expect("begin");
        tx.set_registration_invite_user(used, carol)
            .await
            .expect("used by");
        tx.commit(&[], &[]).await.expect("commit");
        let unrelated = make(&db, &invite("p4", "stranger@example.org", 10, 100)).await;

        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            tx.soft_delete_user(carol, "left", 50, 20)
                .await
                .expect("delete")
        );
        tx.commit(&[ev("account:delete", 20)], &[])
            .await
            .expect("commit");
        let mut tx = db.begin_account().await.expect("begin");
        let gone = tx
            .purge_user(carol, 60)
            .await
            .expect("purge")
            .expect("purged");
        tx.commit(&[ev("account:purge", 60)], &[])
            .await
            .expect("commit");
        assert_eq!(gone.registration_invites, 3, "{name}");
        for id in [made, sent, used] {
            let row = db.registration_invite(id).await.expect("get").expect("row");
            assert_eq!(row.email, "(purged)", "{name}: #{id}");
        }
        let row = db
            .registration_invite(used)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(
            row.used_by_id,
            Some(carol),
            "{name}: who invited whom stays"
        );
        assert!(
            db.live_registration_invites_for("carol@example.org", 70)
                .await
                .expect("live")
                .is_empty(),
            "{name}"
        );
        let other = db
            .registration_invite(unrelated)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(other.email, "stranger@example.org", "{name}");
    }
}
