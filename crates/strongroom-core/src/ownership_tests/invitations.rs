//! Invitations: the verified invitee, expiry (lazy and by the job), decline and revoke, and
//! voiding when the sender loses the role or is frozen; every step told to every Owner.

use super::*;
use strongroom_store::InvitationStatus;

#[tokio::test]
async fn an_owner_invites_the_invitee_accepts_and_every_owner_hears() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.old_project(&alice).await;
    let inv =
        h.s.invite(&alice, "proj", "BOB", "maintainer", &meta())
            .await
            .expect("invite");
    assert_eq!(
        (inv.role.as_str(), inv.status.as_str()),
        ("Maintainer", "pending")
    );
    assert_eq!(
        inv.expires_at,
        T0 + 72 * HOUR_MICROS,
        "expires after invitation_hours"
    );
    let to_bob = h
        .mails_to("bob", "Invitation to be Maintainer of proj")
        .await;
    assert_eq!(to_bob.len(), 1);
    assert!(
        to_bob[0].contains("https://index.example/manage/account/invitations/"),
        "{}",
        to_bob[0]
    );
    assert_eq!(
        h.mails_to("alice", "bob was invited to proj").await.len(),
        1
    );
    // One pending invitation per invitee.
    let again = h.s.invite(&alice, "proj", "bob", "Owner", &meta()).await;
    assert!(matches!(again, Err(CoreError::Conflict(_))), "{again:?}");
    // Only the invitee may answer it.
    let carol = h.user("carol").await;
    let r = h.s.accept_invitation(&carol, inv.id, &meta()).await;
    assert!(matches!(r, Err(CoreError::NotFound(_))), "{r:?}");
    assert_eq!(h.s.my_invitations(bob.id).await.expect("mine").len(), 1);
    h.s.accept_invitation(&bob, inv.id, &meta())
        .await
        .expect("accept");
    assert_eq!(
        h.roles().await,
        vec![
            ("alice".into(), "Owner".into()),
            ("bob".into(), "Maintainer".into())
        ]
    );
    assert_eq!(
        h.mails_to("alice", "bob is now Maintainer of proj")
            .await
            .len(),
        1
    );
    let acts = h.actions().await;
    for a in ["role:invite", "role:invite:accept", "role:add"] {
        assert!(acts.contains(&a.to_owned()), "{a} in {acts:?}");
    }
    // Accepted: no second acceptance; a member cannot be invited again.
    let r = h.s.accept_invitation(&bob, inv.id, &meta()).await;
    assert!(is_invalid(&r, "no longer valid"), "{r:?}");
    let r = h.s.invite(&alice, "proj", "bob", "Owner", &meta()).await;
    assert!(
        matches!(r, Err(CoreError::Conflict(m)) if m.contains("already has the Maintainer role"))
    );
    // A Maintainer uploads, but cannot invite or yank.
    let up = h.publish("proj", "2.0", &bob, T0).await;
    assert!(matches!(up, PublishOutcome::Published { .. }), "{up:?}");
    let r = h.s.invite(&bob, "proj", "carol", "Owner", &meta()).await;
    assert!(is_forbidden(&r, "Only Owners"), "{r:?}");
    // Someone without a role sees nothing.
    let r = h.s.invite(&carol, "proj", "bob", "Owner", &meta()).await;
    assert!(matches!(r, Err(CoreError::NotFound(_))), "{r:?}");
    let r = h.s.project_manage(&carol, "proj").await;
    assert!(matches!(r, Err(CoreError::NotFound(_))), "{r:?}");
    assert_eq!(h.s.db.verify_events().await.expect("verify"), None);
}

#[tokio::test]
async fn invitee_needs_a_verified_address_and_a_live_account() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.old_project(&alice).await;
    crate::test_harness::legacy_unverified(&h.s, "fresh", "fresh@example.org").await;
    let r =
        h.s.invite(&alice, "proj", "fresh", "Maintainer", &meta())
            .await;
    assert!(
        is_invalid(&r, "does not have a verified email address"),
        "{r:?}"
    );
    let r =
        h.s.invite(&alice, "proj", "nobody", "Maintainer", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::NotFound(_))), "{r:?}");
    let r =
        h.s.invite(&alice, "proj", "alice", "Janitor", &meta())
            .await;
    assert!(is_invalid(&r, "Unknown role"), "{r:?}");
    let frosty = h.user("frosty").await;
    let mut tx = h.s.db.begin_account().await.expect("begin");
    tx.freeze_account(frosty.id, "test", None, &[], T0)
        .await
        .expect("freeze");
    tx.commit(&[], &[]).await.expect("commit");
    let r =
        h.s.invite(&alice, "proj", "frosty", "Maintainer", &meta())
            .await;
    assert!(is_invalid(&r, "cannot be invited"), "{r:?}");
    assert!(!h.actions().await.contains(&"role:invite".to_owned()));
}

#[tokio::test]
async fn invitations_expire_lazily_and_by_the_job() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    h.old_project(&alice).await;
    let to_bob =
        h.s.invite(&alice, "proj", "bob", "Maintainer", &meta())
            .await
            .expect("invite");
    let to_carol =
        h.s.invite(&alice, "proj", "carol", "Owner", &meta())
            .await
            .expect("invite");
    h.clock.advance(72 * HOUR_MICROS - 1);
    assert!(
        h.s.ownership_jobs().await.expect("jobs").is_empty(),
        "not yet"
    );
    h.clock.advance(1);
    assert!(h.s.my_invitations(bob.id).await.expect("mine").is_empty());
    let r = h.s.accept_invitation(&bob, to_bob.id, &meta()).await;
    assert!(is_invalid(&r, "expired"), "{r:?}");
    assert_eq!(
        h.s.db
            .invitation(to_bob.id)
            .await
            .expect("get")
            .expect("row")
            .status,
        InvitationStatus::Expired
    );
    let lines = h.s.ownership_jobs().await.expect("jobs");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("carol"), "{lines:?}");
    assert_eq!(
        h.s.db
            .invitation(to_carol.id)
            .await
            .expect("get")
            .expect("row")
            .status,
        InvitationStatus::Expired
    );
    let r = h.s.accept_invitation(&carol, to_carol.id, &meta()).await;
    assert!(is_invalid(&r, "no longer valid"), "{r:?}");
    assert_eq!(
        h.actions()
            .await
            .iter()
            .filter(|a| *a == "role:invite:expire")
            .count(),
        2
    );
    // A new invitation may follow an expired one.
    h.s.invite(&alice, "proj", "bob", "Maintainer", &meta())
        .await
        .expect("invite again");
    assert_eq!(h.roles().await.len(), 1);
}

#[tokio::test]
async fn decline_and_revoke_end_the_invitation_and_are_told() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    h.old_project(&alice).await;
    let i1 =
        h.s.invite(&alice, "proj", "bob", "Maintainer", &meta())
            .await
            .expect("invite");
    h.s.decline_invitation(&bob, i1.id, &meta())
        .await
        .expect("decline");
    assert_eq!(h.mails_to("alice", "bob declined").await.len(), 1);
    let i2 =
        h.s.invite(&alice, "proj", "carol", "Owner", &meta())
            .await
            .expect("invite");
    let r = h.s.revoke_invitation(&bob, "proj", i2.id, &meta()).await;
    assert!(
        matches!(r, Err(CoreError::NotFound(_))),
        "not a member: {r:?}"
    );
    h.s.revoke_invitation(&alice, "proj", i2.id, &meta())
        .await
        .expect("revoke");
    assert_eq!(h.mails_to("carol", "revoked").await.len(), 1);
    let r = h.s.accept_invitation(&carol, i2.id, &meta()).await;
    assert!(is_invalid(&r, "revoked"), "{r:?}");
    assert_eq!(h.roles().await.len(), 1);
    let acts = h.actions().await;
    assert!(acts.contains(&"role:invite:decline".to_owned()));
    assert!(acts.contains(&"role:invite:revoke".to_owned()));
}

#[tokio::test]
async fn an_owner_losing_the_role_voids_its_invitations_and_everyone_hears() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    h.old_project(&alice).await;
    h.member(&alice, &carol, "Owner").await;
    let inv =
        h.s.invite(&carol, "proj", "dave", "Maintainer", &meta())
            .await
            .expect("carol invites");
    // alice (long-standing) removing carol (newcomer) is not held.
    let out =
        h.s.remove_member(&alice, "proj", "carol", &meta())
            .await
            .expect("remove");
    assert_eq!(out, ChangeOutcome::Applied);
    assert_eq!(h.roles().await, vec![("alice".into(), "Owner".into())]);
    assert_eq!(
        h.s.db
            .invitation(inv.id)
            .await
            .expect("get")
            .expect("row")
            .status,
        InvitationStatus::Voided
    );
    let r = h.s.accept_invitation(&dave, inv.id, &meta()).await;
    assert!(is_invalid(&r, "voided"), "{r:?}");
    let acts = h.actions().await;
    assert!(acts.contains(&"role:invite:void".to_owned()), "{acts:?}");
    assert!(acts.contains(&"role:remove".to_owned()), "{acts:?}");
    // The removed Owner is told too.
    assert_eq!(
        h.mails_to("carol", "carol was removed from proj")
            .await
            .len(),
        1
    );
    assert_eq!(
        h.mails_to("alice", "carol was removed from proj")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn an_invitation_dies_with_its_senders_freeze() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.old_project(&alice).await;
    let inv =
        h.s.invite(&alice, "proj", "bob", "Owner", &meta())
            .await
            .expect("invite");
    h.s.admin_freeze_user(
        &Actor {
            id: None,
            name: "cli:test".into(),
        },
        "alice",
        "compromised",
        &meta(),
    )
    .await
    .expect("freeze");
    let r = h.s.accept_invitation(&bob, inv.id, &meta()).await;
    assert!(is_invalid(&r, "no longer valid"), "{r:?}");
    assert_eq!(h.roles().await, vec![("alice".into(), "Owner".into())]);
    assert!(h.actions().await.contains(&"role:invite:void".to_owned()));
    // and it stays dead after the sender is unfrozen
    let r = h.s.accept_invitation(&bob, inv.id, &meta()).await;
    assert!(is_invalid(&r, "voided"), "{r:?}");
}
