//! Watched states through the real grant paths: a watch follows the people a watched account
//! brings in (invitation accepted, role changed), down the chain; standing is never earned
//! through a watched account; the upload rules and notices read the same watch.

use super::*;
use crate::watch::Watch;
use strongroom_store::RoleChangeStatus;

impl H {
    /// The account's recovery now: the hold starts and its notices are queued, as a reset does.
    async fn recover(&self, u: &User) -> User {
        let mut tx = self.s.db.begin_account().await.expect("begin");
        let mails = self
            .s
            .start_hold(&mut tx, u, "password reset", &[], &meta())
            .await
            .expect("hold");
        tx.commit(&[], &mails).await.expect("commit");
        self.fresh(u).await
    }

    async fn proj_roles(&self) -> Vec<strongroom_store::model::Role> {
        let p = self
            .s
            .db
            .project_by_normalized("proj")
            .await
            .expect("p")
            .expect("exists");
        self.s.db.roles_of_project(p.id).await.expect("roles")
    }

    async fn watch(&self, u: &User) -> Option<Watch> {
        let roles = self.proj_roles().await;
        self.s.watch_on(u, &roles).await.expect("watch")
    }
}

#[tokio::test]
async fn a_sock_invited_by_a_recovered_account_is_watched_as_long_as_its_inviter() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let sock = h.user("sock").await;
    let sock2 = h.user("sock2").await;
    // proj is 400 days old and dormant.
    let out = h.publish("proj", "1.0", &alice, T0 - days(400)).await;
    assert!(matches!(out, PublishOutcome::Published { .. }), "{out:?}");
    let recovered_at = h.s.now();
    let alice = h.recover(&alice).await;
    h.clock.advance(73 * HOUR_MICROS); // the hold is over
    h.member(&alice, &sock, "Owner").await;
    let watch_ends = recovered_at + days(30);
    assert_eq!(
        h.watch(&sock).await,
        Some(Watch::Inherited {
            from: alice.id,
            until: watch_ends
        })
    );
    // The chain: the sock's own invitee inherits the same watch.
    h.member(&sock, &sock2, "Maintainer").await;
    h.clock.advance(days(8)); // past newcomer_days: no longer newcomers by age
    for u in [&sock, &sock2] {
        assert!(
            matches!(h.watch(u).await, Some(Watch::Inherited { until, .. }) if until == watch_ends),
            "{}",
            u.username
        );
    }
    // The upload rules read it: the sock's release of the dormant project is held for review
    // and marked as a watched account's release.
    let policy =
        h.s.upload_policy(&sock, "proj", "2.0", "proj-2.0.tar.gz")
            .await
            .expect("policy");
    assert!(
        policy.dormant_before.is_some() && policy.uploader_watched,
        "{policy:?}"
    );
    assert!(
        policy.quarantine_reason.contains("under watch"),
        "{}",
        policy.quarantine_reason
    );
    // When the inviter's watch ends, so does the sock's.
    h.clock.advance((watch_ends) - h.s.now());
    assert_eq!(h.watch(&sock).await, None);
    assert_eq!(h.watch(&sock2).await, None);
    let policy =
        h.s.upload_policy(&sock, "proj", "2.0", "proj-2.0.tar.gz")
            .await
            .expect("policy");
    assert!(!policy.uploader_watched, "{policy:?}");
    // The inviter's recovery still speaks for the dormant project's first release since it,
    // however late (red team C5): quarantined only if no unwatched release came after it.
    assert!(
        policy.dormant_before.is_some() && policy.first_release_since.is_some(),
        "{policy:?}"
    );
}

#[tokio::test]
async fn an_unwatched_inviter_passes_nothing_on() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.old_project(&alice).await;
    h.member(&alice, &bob, "Maintainer").await;
    assert_eq!(
        h.proj_roles()
            .await
            .iter()
            .find(|r| r.user_id == bob.id)
            .expect("bob")
            .watch_until,
        None
    );
    h.clock.advance(days(7));
    assert_eq!(
        h.watch(&bob).await,
        None,
        "an ordinary Maintainer after a week"
    );
}

#[tokio::test]
async fn a_promotion_by_a_recovered_owner_inherits_its_watch() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.old_project(&alice).await;
    h.member(&alice, &bob, "Maintainer").await;
    h.clock.advance(days(10));
    let alice = h.recover(&alice).await;
    h.clock.advance(73 * HOUR_MICROS);
    h.s.change_role(&alice, "proj", "bob", "Owner", &meta())
        .await
        .expect("promote");
    assert!(matches!(h.watch(&bob).await, Some(Watch::Inherited { from, .. }) if from == alice.id));
}

#[tokio::test]
async fn a_sock_of_a_recovered_account_earns_no_standing_and_the_owner_removes_it_at_once() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let sock = h.user("sock").await;
    h.old_project(&alice).await;
    // The attacker resets alice's password, waits out the hold, brings in a sock as Owner.
    let alice = h.recover(&alice).await;
    h.clock.advance(73 * HOUR_MICROS);
    h.member(&alice, &sock, "Owner").await;
    // Eight days on nobody removed it: by age alone it would be established.
    h.clock.advance(days(8));
    let roles = h.proj_roles().await;
    let sock_role = roles.iter().find(|r| r.user_id == sock.id).expect("sock");
    assert!(
        !h.s.is_established(sock_role),
        "standing earned through a watched account"
    );
    // The real owner takes the account back (a reset: a newcomer again, on a hold) and
    // removes the sock: neither held by her hold nor cooled off for the sock's veto.
    let alice = h.recover(&alice).await;
    let out =
        h.s.remove_member(&alice, "proj", "sock", &meta())
            .await
            .expect("removed");
    assert_eq!(out, ChangeOutcome::Applied);
    assert_eq!(h.roles().await, vec![("alice".into(), "Owner".into())]);
    assert!(
        h.mails_to("sock", "Veto").await.is_empty(),
        "no veto link to the sock"
    );
}

#[tokio::test]
async fn an_inherited_roles_establishment_clock_starts_when_its_watch_ends() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.old_project(&alice).await;
    let recovered_at = h.s.now();
    let alice = h.recover(&alice).await;
    h.clock.advance(73 * HOUR_MICROS);
    h.member(&alice, &bob, "Owner").await;
    let role = |roles: Vec<strongroom_store::model::Role>| {
        roles
            .into_iter()
            .find(|r| r.user_id == bob.id)
            .expect("bob")
    };
    h.clock
        .advance((recovered_at + days(30) + days(7) - 1) - h.s.now());
    assert!(!h.s.is_established(&role(h.proj_roles().await)));
    assert!(h.s.is_newcomer(&bob, &role(h.proj_roles().await)));
    h.clock.advance((recovered_at + days(37)) - h.s.now());
    assert!(h.s.is_established(&role(h.proj_roles().await)));
    assert!(!h.s.is_newcomer(&bob, &role(h.proj_roles().await)));
}

#[tokio::test]
async fn a_recovered_maintainers_recovery_and_publishes_are_told_to_every_owner() {
    let h = harness().await;
    let olga = h.user("olga").await;
    let max = h.user("max").await;
    h.old_project(&olga).await;
    h.member(&olga, &max, "Maintainer").await;
    h.clock.advance(days(30));
    let max = h.recover(&max).await;
    assert_eq!(
        h.mails_to("olga", "max, a Maintainer of proj, recovered their account")
            .await
            .len(),
        1
    );
    h.clock.advance(73 * HOUR_MICROS);
    // Whether or not the store finds proj dormant, the release and any file are told.
    let policy =
        h.s.upload_policy(&max, "proj", "1.1", "proj-1.1.tar.gz")
            .await
            .expect("policy");
    assert!(policy.uploader_watched, "{policy:?}");
    let to_olga = |m: &Vec<strongroom_store::NewMail>| {
        m.iter().filter(|m| m.to == "olga@example.org").count()
    };
    assert_eq!(
        to_olga(&policy.release_mails),
        1,
        "{:?}",
        policy.release_mails
    );
    assert_eq!(to_olga(&policy.file_mails), 1, "{:?}", policy.file_mails);
    assert!(
        policy.file_mails[0]
            .subject
            .contains("added proj-1.1.tar.gz")
    );
    assert!(
        policy
            .release_mails
            .iter()
            .all(|m| m.to != "max@example.org"),
        "not to the uploader"
    );
}

#[tokio::test]
async fn a_dormant_projects_first_release_after_a_members_recovery_goes_to_the_admins_whoever_uploads()
 {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let out = h.publish("proj", "1.0", &alice, T0 - days(400)).await;
    assert!(matches!(out, PublishOutcome::Published { .. }), "{out:?}");
    h.member(&alice, &bob, "Owner").await;
    h.clock.advance(days(10)); // bob is established, unwatched
    assert_eq!(h.watch(&bob).await, None);
    h.recover(&alice).await;
    let policy =
        h.s.upload_policy(&bob, "proj", "2.0", "proj-2.0.tar.gz")
            .await
            .expect("policy");
    assert!(policy.dormant_before.is_some(), "{policy:?}");
    assert!(!policy.uploader_watched);
    assert!(
        policy
            .quarantine_reason
            .contains("alice, a member of the project, was recovered"),
        "{}",
        policy.quarantine_reason
    );
}

#[tokio::test]
async fn a_recovered_owners_removal_by_an_established_owner_waits_for_her_veto() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let sock = h.user("sock").await;
    h.old_project(&alice).await;
    // The sock, let in by alice's unwatched account, is established after 8 days.
    h.member(&alice, &sock, "Owner").await;
    h.clock.advance(days(8));
    // alice takes her account back: her hold, then her watch. Either way the sock's removal or
    // demotion of her is held for her veto and raised to the administrators.
    h.recover(&alice).await;
    for (after, demote) in [(0, false), (73 * HOUR_MICROS, true)] {
        h.clock.advance(after);
        let out = if demote {
            h.s.change_role(&sock, "proj", "alice", "Maintainer", &meta())
                .await
        } else {
            h.s.remove_member(&sock, "proj", "alice", &meta()).await
        }
        .expect("asked");
        let ChangeOutcome::Pending { change_id, .. } = out else {
            panic!("applied at once: {out:?}")
        };
        assert_eq!(
            h.roles().await,
            [
                ("alice".into(), "Owner".into()),
                ("sock".into(), "Owner".into())
            ]
        );
        let events = h.s.db.events(0, 10_000).await.expect("events");
        assert!(
            events
                .iter()
                .any(|e| e.action == crate::ownership::RECOVERED_OWNER_CHANGE
                    && e.details.contains(&format!("\"change_id\":{change_id}"))),
            "no signal for change {change_id}"
        );
        let token = h.veto_token("alice").await;
        h.s.veto_role_change(&token, crate::ownership::Veto::Only, &meta())
            .await
            .expect("veto");
    }
    // After her watch the rule is the ordinary one again: the established sock removes her.
    h.clock.advance(days(31));
    let out =
        h.s.remove_member(&sock, "proj", "alice", &meta())
            .await
            .expect("removed");
    assert_eq!(out, ChangeOutcome::Applied);
}

#[tokio::test]
async fn only_the_asker_withdraws_a_held_change() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let carol = h.user("carol").await;
    let dave = h.user("dave").await;
    h.old_project(&alice).await;
    h.member(&alice, &dave, "Owner").await;
    h.clock.advance(days(8));
    h.member(&alice, &carol, "Owner").await;
    let ChangeOutcome::Pending { change_id, .. } =
        h.s.remove_member(&carol, "proj", "alice", &meta())
            .await
            .expect("asked")
    else {
        panic!("a newcomer's removal of an established Owner must wait")
    };
    for other in [&alice, &dave] {
        let r =
            h.s.cancel_role_change(other, "proj", change_id, &meta())
                .await;
        assert!(is_forbidden(&r, "Only carol, who asked"), "{r:?}");
    }
    let pending = h.s.db.role_change(change_id).await.expect("read");
    assert_eq!(pending.map(|c| c.status), Some(RoleChangeStatus::Pending));
    h.s.cancel_role_change(&carol, "proj", change_id, &meta())
        .await
        .expect("the asker withdraws");
    let ended = h.s.db.role_change(change_id).await.expect("read");
    assert_eq!(ended.map(|c| c.status), Some(RoleChangeStatus::Cancelled));
}
