//! What a recovery hold refuses besides creation (yank, removals, leaving, becoming Owner
//! elsewhere, deleting the account), what `restore-user` restores by default, and that an action
//! already under way when its account is frozen is refused inside its own transaction.

use super::*;
use crate::admin::Authority;
use crate::hold::HeldAction;
use crate::login::FROZEN;
use crate::safety_tests::undo::during_a_freeze;
use strongroom_store::ProjectRole;

fn ops() -> Actor {
    Actor {
        id: None,
        name: "cli:ops".into(),
    }
}

impl H {
    /// The id of the project's only public release.
    async fn release_id(&self, viewer: &User, project: &str) -> i64 {
        self.s
            .project_manage(viewer, project)
            .await
            .expect("manage")
            .releases[0]
            .id
    }

    /// Signed in with the password a reset set.
    async fn login_new_pw(&self, name: &str) -> SessionInfo {
        let LoginStep::Done(g) = self
            .s
            .login_password(name, NEW_PW, &meta())
            .await
            .expect("login")
        else {
            panic!("one step")
        };
        self.s
            .session(&g.secret)
            .await
            .expect("session")
            .expect("live")
    }

    /// The `refused` codes of every `account:hold:refused` event, oldest first.
    async fn hold_refusals(&self) -> Vec<String> {
        self.event_details("account:hold:refused")
            .await
            .iter()
            .map(|d| d["refused"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Refused by the hold, with the message naming what it refuses.
fn held(r: &Result<impl std::fmt::Debug, CoreError>, what: HeldAction) -> bool {
    forbidden(r, "recovery hold") && forbidden(r, what.describe())
}

#[tokio::test]
async fn a_held_account_cannot_yank_remove_leave_become_owner_or_delete_itself() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    let old = T0 - days(10);
    h.publish("solo", "1.0", &alice, old).await;
    h.publish("shared", "1.0", &alice, old).await;
    h.publish("elsewhere", "1.0", &carol, old).await;
    h.clock.advance(-days(9));
    h.join(&alice, "shared", &bob, "Owner").await;
    h.clock.advance(days(9));
    // The attacker resets alice's password (a lapsed domain): the hold starts.
    h.reset_password(&alice).await;
    let a = h.fresh(&alice).await;
    let solo = h.release_id(&a, "solo").await;
    let file = format!("solo-1.0-{old}.tar.gz");
    let inv =
        h.s.invite(&carol, "elsewhere", "alice", "Owner", &meta())
            .await
            .expect("invite");
    let owner = Authority::Owner(&a);

    let r =
        h.s.set_yanked_by_id(&a, "solo", solo, Some("x"), &meta())
            .await;
    assert!(held(&r, HeldAction::Yank), "{r:?}");
    let r = h.s.set_yanked_by_id(&a, "solo", solo, None, &meta()).await;
    assert!(held(&r, HeldAction::Yank), "{r:?}");
    let r =
        h.s.remove_file(&owner, "solo", "1.0", &file, "x", &meta())
            .await;
    assert!(held(&r, HeldAction::RemoveRelease), "{r:?}");
    let r =
        h.s.remove_release(&owner, "solo", "1.0", "x", &meta())
            .await;
    assert!(held(&r, HeldAction::RemoveRelease), "{r:?}");
    let r = h.s.remove_project(&owner, "solo", "x", &meta()).await;
    assert!(held(&r, HeldAction::DeleteProject), "{r:?}");
    // Leaving a co-owned project removes an established Owner (alice) at once: refused, by
    // either door (leave, or removing oneself).
    let r = h.s.leave_project(&a, "shared", &meta()).await;
    assert!(held(&r, HeldAction::LeaveProject), "{r:?}");
    let r = h.s.remove_member(&a, "shared", "alice", &meta()).await;
    assert!(held(&r, HeldAction::LeaveProject), "{r:?}");
    let r =
        h.s.change_role(&a, "shared", "alice", "Maintainer", &meta())
            .await;
    assert!(held(&r, HeldAction::LeaveProject), "{r:?}");
    let r = h.s.accept_invitation(&a, inv.id, &meta()).await;
    assert!(held(&r, HeldAction::AcceptOwner), "{r:?}");
    let s = h.login_new_pw("alice").await;
    let r = h.s.delete_own_account(&s, "alice", &meta()).await;
    assert!(held(&r, HeldAction::DeleteAccount), "{r:?}");

    // Nothing changed, and every kind of refusal is in the log with what was refused: the
    // first of each refused action in the hour is logged, its repeats (a second yank, the
    // other doors out of "shared") are counted into the window (`refusal_log`).
    assert_eq!(
        h.hold_refusals().await,
        [
            "yank",
            "remove-release",
            "remove-project",
            "leave",
            "accept-owner",
            "delete-account"
        ]
    );
    let m = h.s.project_manage(&a, "solo").await.expect("solo");
    assert!(m.releases[0].yanked_at.is_none());
    assert_eq!(
        h.s.db.role_of(m.project.id, alice.id).await.expect("r"),
        Some(ProjectRole::Owner)
    );
    let shared = h.s.project_manage(&a, "shared").await.expect("shared");
    assert_eq!(shared.my_role, ProjectRole::Owner);
    assert!(h.fresh(&alice).await.deleted_at.is_none());

    // After the hold, all of it works again.
    h.clock.advance(73 * HOUR_MICROS);
    let a = h.fresh(&alice).await;
    let owner = Authority::Owner(&a);
    h.s.set_yanked_by_id(&a, "solo", solo, Some("x"), &meta())
        .await
        .expect("yank");
    h.s.set_yanked_by_id(&a, "solo", solo, None, &meta())
        .await
        .expect("unyank");
    h.s.remove_file(&owner, "solo", "1.0", &file, "x", &meta())
        .await
        .expect("remove file");
    h.s.leave_project(&a, "shared", &meta())
        .await
        .expect("leave");
    let inv =
        h.s.invite(&carol, "elsewhere", "alice", "Owner", &meta())
            .await
            .expect("invite again");
    h.s.accept_invitation(&a, inv.id, &meta())
        .await
        .expect("accept");
    assert_eq!(h.hold_refusals().await.len(), 6, "nothing more refused");
}

#[tokio::test]
async fn a_held_account_may_still_become_maintainer_and_decline() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let carol = h.user("carol").await;
    h.publish("elsewhere", "1.0", &carol, T0 - days(10)).await;
    h.reset_password(&alice).await;
    let a = h.fresh(&alice).await;
    let inv =
        h.s.invite(&carol, "elsewhere", "alice", "Maintainer", &meta())
            .await
            .expect("invite");
    h.s.accept_invitation(&a, inv.id, &meta())
        .await
        .expect("a Maintainer removes nobody");
    assert!(h.hold_refusals().await.is_empty());
}

#[tokio::test]
async fn restore_user_by_default_restores_the_roles_held_before_the_suspect_window() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.publish("kept", "1.0", &alice, T0 - days(20)).await;
    h.clock.advance(-days(15));
    h.join(&alice, "kept", &bob, "Owner").await;
    h.clock.advance(days(15));
    // The attacker resets the password (the window opens), waits out the hold, leaves the
    // project and deletes the account.
    h.reset_password(&alice).await;
    let reset_at = h.s.now();
    h.clock.advance(73 * HOUR_MICROS);
    let a = h.fresh(&alice).await;
    h.s.leave_project(&a, "kept", &meta()).await.expect("leave");
    h.clock.advance(HOUR_MICROS);
    let a = h.fresh(&alice).await;
    h.s.delete_account(&Actor::user(&a), &a, "bye", &meta())
        .await
        .expect("delete");
    h.clock.advance(HOUR_MICROS);
    let r =
        h.s.admin_restore_user(&ops(), "alice", None, None, "victim", &meta())
            .await
            .expect("restore");
    assert_eq!(
        r.roles,
        vec![("kept".to_string(), ProjectRole::Owner)],
        "the role alice held before the window comes back: {r:?}"
    );
    let ev = &h.event_details("admin:user:restore").await[0];
    assert_eq!(ev["roles_at"], reset_at - 1, "{ev}");
    assert_eq!(ev["window_start"], reset_at, "{ev}");
}

#[tokio::test]
async fn restore_user_with_roles_at_restores_that_moment_instead() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.publish("kept", "1.0", &alice, T0 - days(20)).await;
    h.clock.advance(-days(15));
    h.join(&alice, "kept", &bob, "Owner").await;
    h.clock.advance(days(15));
    h.reset_password(&alice).await;
    h.clock.advance(73 * HOUR_MICROS);
    let a = h.fresh(&alice).await;
    h.s.leave_project(&a, "kept", &meta()).await.expect("leave");
    let after_leaving = h.s.now() + 1;
    h.clock.advance(HOUR_MICROS);
    let a = h.fresh(&alice).await;
    h.s.delete_account(&Actor::user(&a), &a, "bye", &meta())
        .await
        .expect("delete");
    let r =
        h.s.admin_restore_user(
            &ops(),
            "alice",
            Some(after_leaving),
            None,
            "as asked",
            &meta(),
        )
        .await
        .expect("restore");
    assert!(r.roles.is_empty(), "{r:?}");
}

/// Every state-changing action a signed-in account reaches, started with the session's copy of
/// the account and racing a freeze that commits while it waits for the database: each decides
/// on the account's row inside its own transaction and is refused, leaving nothing done.
#[tokio::test]
async fn an_action_under_way_when_its_account_is_frozen_is_refused_in_its_transaction() {
    let h = harness().await;
    let carol = h.user("carol").await;
    fn frozen<T>(r: &Result<T, CoreError>) -> bool {
        matches!(r, Err(CoreError::Forbidden(m)) if m == FROZEN)
    }
    let old = T0 - days(10);

    // Yank.
    let u = h.user("u-yank").await;
    h.publish("p-yank", "1.0", &u, old).await;
    let rid = h.release_id(&u, "p-yank").await;
    let (s, uu) = (h.s.clone(), u.clone());
    let r = during_a_freeze(&h, &u, async move {
        s.set_yanked_by_id(&uu, "p-yank", rid, Some("x"), &meta())
            .await
    })
    .await;
    assert!(frozen(&r), "yank: {r:?}");
    let rel = h.s.db.public_release(
        h.s.db
            .project_by_normalized("p-yank")
            .await
            .expect("p")
            .expect("p")
            .id,
        rid,
    );
    assert!(rel.await.expect("r").expect("r").yanked_at.is_none());

    // Removing a release.
    let u = h.user("u-remove").await;
    h.publish("p-remove", "1.0", &u, old).await;
    let (s, uu) = (h.s.clone(), u.clone());
    let r = during_a_freeze(&h, &u, async move {
        s.remove_release(&Authority::Owner(&uu), "p-remove", "1.0", "x", &meta())
            .await
    })
    .await;
    assert!(frozen(&r), "remove release: {r:?}");

    // Role changes: promoting a Maintainer, inviting.
    let u = h.user("u-roles").await;
    h.publish("p-roles", "1.0", &u, old).await;
    h.join(&u, "p-roles", &carol, "Maintainer").await;
    let (s, uu) = (h.s.clone(), u.clone());
    let r = during_a_freeze(&h, &u, async move {
        s.change_role(&uu, "p-roles", "carol", "Owner", &meta())
            .await
    })
    .await;
    assert!(frozen(&r), "promote: {r:?}");
    let p =
        h.s.db
            .project_by_normalized("p-roles")
            .await
            .expect("p")
            .expect("p");
    assert_eq!(
        h.s.db.role_of(p.id, carol.id).await.expect("r"),
        Some(ProjectRole::Maintainer)
    );

    // Accepting an invitation with a frozen account.
    let u = h.user("u-accept").await;
    h.publish("p-accept", "1.0", &carol, old).await;
    let inv =
        h.s.invite(&carol, "p-accept", "u-accept", "Owner", &meta())
            .await
            .expect("invite");
    let (s, uu) = (h.s.clone(), u.clone());
    let r = during_a_freeze(&h, &u, async move {
        s.accept_invitation(&uu, inv.id, &meta()).await
    })
    .await;
    assert!(frozen(&r), "accept: {r:?}");
    let p =
        h.s.db
            .project_by_normalized("p-accept")
            .await
            .expect("p")
            .expect("p");
    assert_eq!(h.s.db.role_of(p.id, u.id).await.expect("r"), None);

    // Leaving a project.
    let u = h.user("u-leave").await;
    h.publish("p-leave", "1.0", &carol, old).await;
    h.join(&carol, "p-leave", &u, "Owner").await;
    let (s, uu) = (h.s.clone(), u.clone());
    let r = during_a_freeze(&h, &u, async move {
        s.leave_project(&uu, "p-leave", &meta()).await
    })
    .await;
    assert!(frozen(&r), "leave: {r:?}");

    // Inviting.
    let u = h.user("u-invite").await;
    h.publish("p-invite", "1.0", &u, old).await;
    let (s, uu) = (h.s.clone(), u.clone());
    let r = during_a_freeze(&h, &u, async move {
        s.invite(&uu, "p-invite", "carol", "Owner", &meta()).await
    })
    .await;
    assert!(frozen(&r), "invite: {r:?}");
    assert!(h.s.my_invitations(carol.id).await.expect("i").is_empty());

    // Removing an address (the owner's, by a session the freeze ended).
    let u = h.user("u-email").await;
    let session = h.login("u-email").await;
    h.s.add_email(&session, "u-email@second.example", &meta())
        .await
        .expect("add");
    let t = h.token_in_mail("u-email@second.example", "Verify").await;
    h.s.verify_email(&t, &meta()).await.expect("verify");
    let second =
        h.s.db
            .emails_of(u.id)
            .await
            .expect("emails")
            .iter()
            .find(|e| !e.is_primary)
            .expect("second")
            .id;
    let s = h.s.clone();
    let r = during_a_freeze(&h, &u, async move {
        s.remove_email(&session, second, &meta()).await
    })
    .await;
    assert!(frozen(&r), "remove address: {r:?}");
    assert_eq!(h.s.db.emails_of(u.id).await.expect("emails").len(), 2);

    // Account changes from a session loaded before the freeze.
    for (name, what) in [
        ("u-password", "password"),
        ("u-delete", "delete"),
        ("u-revoke", "revoke"),
    ] {
        let u = h.user(name).await;
        let session = h.login(name).await;
        let token = h.s.create_token(name, "ci", None, None, &meta()).await;
        let token_id = token
            .ok()
            .and(
                h.s.tokens_of(u.id)
                    .await
                    .expect("tokens")
                    .first()
                    .map(|t| t.id),
            )
            .unwrap_or(-1);
        let s = h.s.clone();
        let session2 = session.clone();
        let r: Result<(), CoreError> = during_a_freeze(&h, &u, async move {
            match what {
                "delete" => s
                    .delete_own_account(&session2, &session2.user.username, &meta())
                    .await
                    .map(|_| ()),
                "revoke" => s.revoke_token(&session2, token_id, &meta()).await,
                _ => s.change_password(&session2, PW, NEW_PW, &meta()).await,
            }
        })
        .await;
        assert!(frozen(&r), "{what}: {r:?}");
        let after = h.fresh(&u).await;
        assert!(after.deleted_at.is_none(), "{what}");
        assert!(after.hold_until.is_none(), "{what}");
    }
}
