//! Verify-first registration store cases (migration 0013): a pending registration reserves its
//! username (case-insensitively, alongside accounts) until it expires, is taken by its link once
//! (two takers: one wins), an expired one frees its name and is purged; never-verified,
//! non-primary addresses are dropped by age or by address, verified and primary ones never.
//! Each runs on SQLite and PostgreSQL.

use super::{backends, verified_user};
use crate::{NewEvent, NewPendingRegistration, StoreError};

fn pending(name: &str, hash: &str, at: i64, expires_at: i64) -> NewPendingRegistration {
    NewPendingRegistration {
        username: name.into(),
        address: format!("{}@example.org", name.to_lowercase()),
        password_hash: "$argon2id$x".into(),
        token_hash: hash.into(),
        invite_id: None,
        at,
        expires_at,
    }
}

fn ev(at: i64) -> NewEvent {
    NewEvent {
        at,
        action: "account:create".into(),
        subject_kind: "user".into(),
        ..NewEvent::default()
    }
}

#[tokio::test]
async fn a_pending_registration_reserves_its_name_until_it_expires_and_is_taken_once() {
    for (name, db, _d) in backends().await {
        verified_user(&db, "alice", None, 1, ev(1)).await;
        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            tx.username_reserved("ALICE", 5).await.expect("q"),
            "{name}: an account's name"
        );
        assert!(!tx.username_reserved("erin", 5).await.expect("q"));
        tx.insert_pending_registration(&pending("Erin", "h1", 10, 100))
            .await
            .expect("insert");
        assert!(tx.username_reserved("erin", 50).await.expect("q"), "{name}");
        assert!(
            !tx.username_reserved("erin", 100).await.expect("q"),
            "{name}: expired"
        );
        tx.commit(&[], &[]).await.expect("commit");
        // (a failed statement ends a PostgreSQL transaction: the duplicate gets its own)
        let mut tx = db.begin_account().await.expect("begin");
        let dup = tx
            .insert_pending_registration(&pending("ERIN", "h2", 20, 120))
            .await;
        assert!(
            matches!(dup, Err(StoreError::Conflict(_))),
            "{name}: {dup:?}"
        );
        drop(tx);
        assert_eq!(
            db.live_pending_registrations(50).await.expect("n"),
            1,
            "{name}"
        );

        // Taken once by its hash; not after expiry; not twice.
        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            tx.take_pending_registration("h1", 100)
                .await
                .expect("t")
                .is_none(),
            "{name}: expired"
        );
        assert!(
            tx.take_pending_registration("nope", 50)
                .await
                .expect("t")
                .is_none()
        );
        let got = tx
            .take_pending_registration("h1", 50)
            .await
            .expect("t")
            .expect("found");
        assert_eq!(
            (
                got.username.as_str(),
                got.address.as_str(),
                got.created_at,
                got.expires_at
            ),
            ("Erin", "erin@example.org", 10, 100),
            "{name}"
        );
        assert!(
            tx.take_pending_registration("h1", 50)
                .await
                .expect("t")
                .is_none(),
            "{name}: once"
        );
        tx.commit(&[], &[]).await.expect("commit");

        // An expired one frees its name for a new pending registration, and is purged.
        let mut tx = db.begin_account().await.expect("begin");
        tx.insert_pending_registration(&pending("gil", "g1", 10, 100))
            .await
            .expect("insert");
        tx.insert_pending_registration(&pending("hal", "g2", 10, 100))
            .await
            .expect("insert");
        tx.insert_pending_registration(&pending("GIL", "g3", 150, 250))
            .await
            .expect("an expired pending registration gives its name up");
        tx.commit(&[], &[]).await.expect("commit");
        assert_eq!(
            db.purge_pending_registrations(150).await.expect("purge"),
            1,
            "{name}: hal"
        );
        assert_eq!(
            db.live_pending_registrations(150).await.expect("n"),
            1,
            "{name}: the new gil"
        );
    }
}

#[tokio::test]
async fn never_verified_secondary_addresses_are_dropped_by_age_or_by_address() {
    for (name, db, _d) in backends().await {
        let bob = verified_user(&db, "bob", None, 1, ev(1)).await;
        let mut tx = db.begin_account().await.expect("begin");
        tx.add_email(bob, "old@example.org", false, 10)
            .await
            .expect("add");
        tx.add_email(bob, "new@example.org", false, 90)
            .await
            .expect("add");
        let kept = tx
            .add_email(bob, "kept@example.org", false, 10)
            .await
            .expect("add");
        tx.verify_email(kept, 20).await.expect("verify");
        tx.commit(&[], &[]).await.expect("commit");

        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            tx.address_held_by_claim("NEW@example.org")
                .await
                .expect("q")
                .is_some(),
            "{name}"
        );
        assert!(
            tx.address_held_by_claim("kept@example.org")
                .await
                .expect("q")
                .is_none()
        );
        assert!(
            tx.address_held_by_claim("bob@example.org")
                .await
                .expect("q")
                .is_none(),
            "primary"
        );
        let by_age = tx
            .drop_unproven_addresses(None, 50, 100)
            .await
            .expect("drop");
        assert_eq!(
            by_age
                .iter()
                .map(|e| e.address.as_str())
                .collect::<Vec<_>>(),
            vec!["old@example.org"],
            "{name}"
        );
        let by_address = tx
            .drop_unproven_addresses(Some("New@Example.org"), 0, 100)
            .await
            .expect("drop");
        assert_eq!(by_address.len(), 1, "{name}");
        assert!(
            tx.drop_unproven_addresses(Some("kept@example.org"), 0, 100)
                .await
                .expect("d")
                .is_empty()
        );
        tx.commit(&[], &[]).await.expect("commit");
        let left: Vec<String> = db
            .emails_of(bob)
            .await
            .expect("emails")
            .into_iter()
            .map(|e| e.address)
            .collect();
        assert_eq!(left, vec!["bob@example.org", "kept@example.org"], "{name}");
    }
}
