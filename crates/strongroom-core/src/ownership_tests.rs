//! The ownership rules, end to end through `Services` on a SQLite database with a hand-moved
//! clock: invitations (verified invitee, expiry, voiding, one pending), the last Owner, the
//! cooling-off hold with its veto link, admin approval and the job, who is mailed, the recovery
//! hold's refusals, and yanking by release id. Every test names the rule it pins.

use strongroom_store::model::User;
use strongroom_store::{NewEvent, PublishOutcome};

use crate::login::LoginStep;
use crate::ownership::ChangeOutcome;
use crate::settings::{HOUR_MICROS, days};
use crate::{Actor, CoreError, RequestMeta};

use crate::test_harness::{Harness, PW, T0, is_forbidden, is_invalid, sdist};

/// The shared harness with this suite's fixtures.
struct H(Harness);

impl std::ops::Deref for H {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.0
    }
}

fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("192.0.2.7".into()),
        user_agent: Some("test-browser".into()),
    }
}

async fn harness() -> H {
    H(Harness::new().await)
}

impl H {
    /// An account with a verified address (made at the CLI).
    async fn user(&self, name: &str) -> User {
        self.s
            .create_user(name, &format!("{name}@example.org"), PW, false, &meta())
            .await
            .expect("create user")
    }

    /// Publish a file of `project` as `owner` at time `at` (creating the project, `owner`
    /// becoming its Owner at `at`).
    async fn publish(&self, project: &str, version: &str, owner: &User, at: i64) -> PublishOutcome {
        let filename = format!("{}-{version}.tar.gz", project.replace('-', "_"));
        let seed = format!("{project}{version}{}", owner.id);
        self.s
            .db
            .publish_file(&sdist(project, version, owner, at, filename, &seed))
            .await
            .expect("publish")
    }

    /// `alice` has owned `proj` for 30 days.
    async fn old_project(&self, owner: &User) {
        let out = self.publish("proj", "1.0", owner, T0 - days(30)).await;
        assert!(matches!(out, PublishOutcome::Published { .. }), "{out:?}");
    }

    async fn roles(&self) -> Vec<(String, String)> {
        let p = self
            .s
            .db
            .project_by_normalized("proj")
            .await
            .expect("p")
            .expect("exists");
        self.s
            .db
            .roles_of_project(p.id)
            .await
            .expect("roles")
            .into_iter()
            .map(|r| (r.username, r.role))
            .collect()
    }

    async fn mails_to(&self, name: &str, subject: &str) -> Vec<String> {
        self.mails(&format!("{name}@example.org"), subject).await
    }

    /// Invite and accept.
    async fn member(&self, by: &User, who: &User, role: &str) {
        let inv = self
            .s
            .invite(by, "proj", &who.username, role, &meta())
            .await
            .expect("invite");
        self.s
            .accept_invitation(who, inv.id, &meta())
            .await
            .expect("accept");
    }

    /// The token of the newest veto mail to `name`.
    async fn veto_token(&self, name: &str) -> String {
        self.token_in_mail(&format!("{name}@example.org"), "Veto")
            .await
    }
}

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
    h.s.register("fresh", "fresh@example.org", PW, &meta())
        .await
        .expect("register");
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
    tx.freeze_user(frosty.id, "test", T0).await.expect("freeze");
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
        "expired"
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
        "expired"
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
async fn the_last_owner_cannot_be_removed_demoted_or_leave() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.old_project(&alice).await;
    h.member(&alice, &bob, "Maintainer").await;
    let r = h.s.remove_member(&alice, "proj", "alice", &meta()).await;
    assert!(is_forbidden(&r, "last Owner"), "{r:?}");
    let r =
        h.s.change_role(&alice, "proj", "alice", "Maintainer", &meta())
            .await;
    assert!(is_forbidden(&r, "last Owner"), "{r:?}");
    let r = h.s.leave_project(&alice, "proj", &meta()).await;
    assert!(is_forbidden(&r, "last Owner"), "{r:?}");
    // A Maintainer may leave; every Owner and the one who left hear of it.
    h.s.leave_project(&bob, "proj", &meta())
        .await
        .expect("leave");
    assert_eq!(h.roles().await, vec![("alice".into(), "Owner".into())]);
    assert_eq!(
        h.mails_to("alice", "bob was removed from proj").await.len(),
        1
    );
    assert_eq!(
        h.mails_to("bob", "bob was removed from proj").await.len(),
        1
    );
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
        "voided"
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
async fn a_newcomer_removing_an_older_owner_waits_and_the_target_vetoes_and_freezes() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let mallory = h.user("mallory").await;
    h.old_project(&alice).await;
    h.member(&alice, &mallory, "Owner").await;
    let session = match h
        .s
        .login_password("mallory", PW, &meta())
        .await
        .expect("login")
    {
        LoginStep::Done(g) | LoginStep::EnrolTwoFactor(g) => g.secret,
        LoginStep::NeedTwoFactor { .. } => panic!("no 2FA"),
    };
    h.clock.advance(HOUR_MICROS);
    let out =
        h.s.remove_member(&mallory, "proj", "alice", &meta())
            .await
            .expect("remove");
    let ChangeOutcome::Pending {
        change_id,
        effective_at,
    } = out
    else {
        panic!("expected a held change, got {out:?}");
    };
    assert_eq!(effective_at, h.s.now() + 72 * HOUR_MICROS);
    assert_eq!(h.roles().await.len(), 2, "alice is still an Owner");
    let view = h.s.project_manage(&alice, "proj").await.expect("manage");
    assert_eq!(view.pending_changes.len(), 1);
    assert_eq!(view.pending_changes[0].target_name, "alice");
    // A second hold on the same Owner is refused while one waits.
    let r =
        h.s.change_role(&mallory, "proj", "alice", "Maintainer", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Conflict(_))), "{r:?}");
    let token = h.veto_token("alice").await;
    let v = h.s.veto_view(&token).await.expect("view");
    assert_eq!(
        (v.change.id, v.change.actor_name.as_str()),
        (change_id, "mallory")
    );
    // The link of another purpose does not veto.
    let r = h.s.veto_role_change("not-a-token", true, &meta()).await;
    assert!(is_invalid(&r, "invalid"), "{r:?}");
    let vetoed =
        h.s.veto_role_change(&token, true, &meta())
            .await
            .expect("veto");
    assert_eq!(vetoed.status, "vetoed");
    assert_eq!(h.roles().await.len(), 2);
    assert!(
        h.fresh(&mallory).await.frozen_at.is_some(),
        "mallory frozen"
    );
    assert!(
        h.s.session(&session).await.expect("session").is_none(),
        "mallory's sessions ended"
    );
    // Single use; and the job never applies a vetoed change.
    let r = h.s.veto_role_change(&token, false, &meta()).await;
    assert!(r.is_err());
    h.clock.advance(100 * HOUR_MICROS);
    h.s.ownership_jobs().await.expect("jobs");
    assert_eq!(h.roles().await.len(), 2);
    let acts = h.actions().await;
    for a in ["role:change:pending", "role:change:veto", "account:freeze"] {
        assert!(acts.contains(&a.to_owned()), "{a} in {acts:?}");
    }
    assert!(!acts.contains(&"role:remove".to_owned()));
    assert_eq!(
        h.mails_to("mallory", "Your account has been frozen")
            .await
            .len(),
        1
    );
    assert_eq!(h.mails_to("mallory", "vetoed").await.len(), 1);
}

#[tokio::test]
async fn an_unvetoed_change_is_applied_by_the_job_after_the_window() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let mallory = h.user("mallory").await;
    h.old_project(&alice).await;
    h.member(&alice, &mallory, "Owner").await;
    let out =
        h.s.change_role(&mallory, "proj", "alice", "Maintainer", &meta())
            .await
            .expect("demote");
    assert!(matches!(out, ChangeOutcome::Pending { .. }), "{out:?}");
    h.clock.advance(72 * HOUR_MICROS - 1);
    assert!(h.s.ownership_jobs().await.expect("jobs").is_empty());
    h.clock.advance(1);
    let lines = h.s.ownership_jobs().await.expect("jobs");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        h.roles().await,
        vec![
            ("mallory".into(), "Owner".into()),
            ("alice".into(), "Maintainer".into())
        ]
    );
    assert_eq!(
        h.mails_to("alice", "alice is now Maintainer of proj")
            .await
            .len(),
        1
    );
    let acts = h.actions().await;
    assert!(acts.contains(&"role:change:apply".to_owned()), "{acts:?}");
    assert!(acts.contains(&"role:change".to_owned()), "{acts:?}");
    // Applied once.
    assert!(h.s.ownership_jobs().await.expect("jobs").is_empty());
    assert_eq!(h.s.db.verify_events().await.expect("verify"), None);
}

#[tokio::test]
async fn an_admin_approves_early_and_only_an_admin() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let mallory = h.user("mallory").await;
    h.old_project(&alice).await;
    h.member(&alice, &mallory, "Owner").await;
    let ChangeOutcome::Pending { change_id, .. } =
        h.s.remove_member(&mallory, "proj", "alice", &meta())
            .await
            .expect("remove")
    else {
        panic!("held");
    };
    let r =
        h.s.approve_role_change(&Actor::user(&mallory), change_id, "please", &meta())
            .await;
    assert!(is_forbidden(&r, "administrators"), "{r:?}");
    let admin = Actor {
        id: None,
        name: "cli:root".into(),
    };
    let c =
        h.s.approve_role_change(&admin, change_id, "confirmed by phone", &meta())
            .await
            .expect("approve");
    assert_eq!(c.status, "approved");
    assert_eq!(h.roles().await, vec![("mallory".into(), "Owner".into())]);
    let acts = h.actions().await;
    for a in [
        "admin:role_change:approve",
        "role:change:approve",
        "role:remove",
    ] {
        assert!(acts.contains(&a.to_owned()), "{a} in {acts:?}");
    }
    assert_eq!(
        h.mails_to("alice", "alice was removed from proj")
            .await
            .len(),
        1
    );
    let r =
        h.s.approve_role_change(&admin, change_id, "again", &meta())
            .await;
    assert!(is_invalid(&r, "no longer pending"), "{r:?}");
}

#[tokio::test]
async fn a_held_change_is_cancelled_when_its_asker_loses_the_owner_role() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let mallory = h.user("mallory").await;
    h.old_project(&alice).await;
    h.member(&alice, &mallory, "Owner").await;
    let out =
        h.s.remove_member(&mallory, "proj", "alice", &meta())
            .await
            .expect("remove");
    let ChangeOutcome::Pending { change_id, .. } = out else {
        panic!("held");
    };
    // alice has owned the project longer: her removal of mallory is immediate.
    assert_eq!(
        h.s.remove_member(&alice, "proj", "mallory", &meta())
            .await
            .expect("remove mallory"),
        ChangeOutcome::Applied
    );
    assert_eq!(
        h.s.db
            .role_change(change_id)
            .await
            .expect("get")
            .expect("row")
            .status,
        "cancelled"
    );
    h.clock.advance(100 * HOUR_MICROS);
    h.s.ownership_jobs().await.expect("jobs");
    assert_eq!(h.roles().await, vec![("alice".into(), "Owner".into())]);
}

#[tokio::test]
async fn the_cooling_off_needs_a_newcomer_acting_on_an_older_owner() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.old_project(&alice).await;
    h.member(&alice, &bob, "Owner").await;
    // Past newcomer_days bob is no longer a newcomer: his change applies at once.
    h.clock.advance(days(7));
    let out =
        h.s.change_role(&bob, "proj", "alice", "Maintainer", &meta())
            .await
            .expect("demote");
    assert_eq!(out, ChangeOutcome::Applied);
    // A promotion is never held.
    let out =
        h.s.change_role(&bob, "proj", "alice", "Owner", &meta())
            .await
            .expect("promote");
    assert_eq!(out, ChangeOutcome::Applied);
    // Self-demotion is never held either.
    let out =
        h.s.change_role(&alice, "proj", "alice", "Maintainer", &meta())
            .await
            .expect("self");
    assert_eq!(out, ChangeOutcome::Applied);
}

#[tokio::test]
async fn a_held_account_cannot_invite_or_remove_owners() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.user("carol").await;
    h.old_project(&alice).await;
    h.member(&alice, &bob, "Owner").await;
    let mut tx = h.s.db.begin_account().await.expect("begin");
    tx.set_hold(alice.id, T0 + 72 * HOUR_MICROS, "password reset", T0)
        .await
        .expect("hold");
    tx.commit(&[], &[]).await.expect("commit");
    let alice = h.fresh(&alice).await;
    let r =
        h.s.invite(&alice, "proj", "carol", "Maintainer", &meta())
            .await;
    assert!(is_forbidden(&r, "recovery hold"), "{r:?}");
    let r = h.s.remove_member(&alice, "proj", "bob", &meta()).await;
    assert!(is_forbidden(&r, "recovery hold"), "{r:?}");
    let r =
        h.s.change_role(&alice, "proj", "bob", "Maintainer", &meta())
            .await;
    assert!(is_forbidden(&r, "recovery hold"), "{r:?}");
    assert_eq!(h.roles().await.len(), 2);
    // Each refusal is in the project's log (the transaction that refused wrote only that).
    let refused: Vec<(String, Option<String>, String)> =
        h.s.db
            .events(0, 1000)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.action == "account:hold:refused")
            .map(|e| {
                let d: serde_json::Value = serde_json::from_str(&e.details).expect("json");
                (
                    d["refused"].as_str().unwrap_or_default().to_owned(),
                    e.subject_name,
                    e.actor_name.unwrap_or_default(),
                )
            })
            .collect();
    let row = |what: &str| (what.to_owned(), Some("proj".to_owned()), "alice".to_owned());
    assert_eq!(
        refused,
        vec![row("add-role"), row("remove-owner"), row("remove-owner")]
    );
    assert_eq!(h.s.db.verify_events().await.expect("verify"), None);
}

#[tokio::test]
async fn read_only_mode_refuses_changes() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.user("bob").await;
    h.old_project(&alice).await;
    let ev = NewEvent {
        at: T0,
        action: "admin:flag".into(),
        subject_kind: "site".into(),
        ..NewEvent::default()
    };
    h.s.db
        .set_site_flag("read_only", true, Some("incident"), "cli:root", &ev)
        .await
        .expect("flag");
    let r =
        h.s.invite(&alice, "proj", "bob", "Maintainer", &meta())
            .await;
    assert!(is_forbidden(&r, "Read-only"), "{r:?}");
    h.s.db
        .set_site_flag("read_only", false, None, "cli:root", &ev)
        .await
        .expect("flag");
    h.s.invite(&alice, "proj", "bob", "Maintainer", &meta())
        .await
        .expect("writable again");
}

#[tokio::test]
async fn a_quarantined_project_cannot_be_changed_by_its_owners() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.old_project(&alice).await;
    h.member(&alice, &bob, "Maintainer").await;
    let inv =
        h.s.invite(&alice, "proj", "carol_not_yet", "Maintainer", &meta())
            .await;
    assert!(matches!(inv, Err(CoreError::NotFound(_))), "{inv:?}");
    h.user("carol").await;
    let pending =
        h.s.invite(&alice, "proj", "carol", "Maintainer", &meta())
            .await
            .expect("invite");
    let admin = Actor {
        id: None,
        name: "cli:root".into(),
    };
    h.s.admin_quarantine_project(&admin, "proj", "investigating", &meta())
        .await
        .expect("quarantine");
    let carol =
        h.s.db
            .user_by_name("carol")
            .await
            .expect("get")
            .expect("carol");
    for r in [
        h.s.invite(&alice, "proj", "carol", "Owner", &meta())
            .await
            .map(|_| ()),
        h.s.remove_member(&alice, "proj", "bob", &meta())
            .await
            .map(|_| ()),
        h.s.leave_project(&bob, "proj", &meta()).await,
        h.s.accept_invitation(&carol, pending.id, &meta())
            .await
            .map(|_| ()),
    ] {
        assert!(is_forbidden(&r, "quarantined"), "{r:?}");
    }
    assert_eq!(h.roles().await.len(), 2);
}

#[tokio::test]
async fn yanking_from_the_web_names_the_release_by_id_within_the_project() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let eve = h.user("eve").await;
    h.old_project(&alice).await;
    h.member(&alice, &bob, "Maintainer").await;
    let other = h.publish("other", "1.0", &eve, T0).await;
    assert!(matches!(other, PublishOutcome::Published { .. }));
    let rel = |name: &'static str| {
        let db = h.s.db.clone();
        async move {
            let p = db.project_by_normalized(name).await.expect("p").expect("p");
            db.releases_of(p.id).await.expect("releases").remove(0)
        }
    };
    let mine = rel("proj").await;
    let theirs = rel("other").await;
    let r =
        h.s.set_yanked_by_id(&alice, "proj", theirs.id, Some("bad"), &meta())
            .await;
    assert!(matches!(r, Err(CoreError::NotFound(_))), "{r:?}");
    let r =
        h.s.set_yanked_by_id(&bob, "proj", mine.id, Some("bad"), &meta())
            .await;
    assert!(is_forbidden(&r, "Only Owners"), "{r:?}");
    h.s.set_yanked_by_id(&alice, "proj", mine.id, Some("broken build"), &meta())
        .await
        .expect("yank");
    assert_eq!(
        rel("proj").await.yanked_reason.as_deref(),
        Some("broken build")
    );
    assert!(rel("other").await.yanked_at.is_none());
    h.s.set_yanked_by_id(&alice, "proj", mine.id, None, &meta())
        .await
        .expect("unyank");
    assert!(rel("proj").await.yanked_at.is_none());
    let ev = h.s.db.events(0, 1000).await.expect("events");
    let y = ev
        .iter()
        .find(|e| e.action == "release:yank")
        .expect("event");
    assert_eq!(y.actor_id, Some(alice.id));
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

#[tokio::test]
async fn a_hold_voids_the_accounts_invitations_and_cancels_its_held_changes() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.old_project(&alice).await;
    // Sent from the account before its owner took it back with a password reset.
    let inv =
        h.s.invite(&alice, "proj", "bob", "Owner", &meta())
            .await
            .expect("invite");
    let alice = h.fresh(&alice).await;
    let mut tx = h.s.db.begin_account().await.expect("tx");
    let (mails, ev) =
        h.s.start_hold_logged(
            &mut tx,
            &alice,
            crate::hold::reason::PASSWORD_RESET,
            &[],
            &meta(),
        )
        .await
        .expect("hold");
    tx.commit(&[ev], &mails).await.expect("commit");
    let r = h.s.accept_invitation(&bob, inv.id, &meta()).await;
    assert!(is_invalid(&r, "voided"), "{r:?}");
    assert_eq!(h.roles().await, vec![("alice".into(), "Owner".into())]);
    let actions = h.actions().await;
    let hold = actions
        .iter()
        .position(|a| a == "account:hold")
        .expect("hold");
    assert!(
        actions[hold..].iter().any(|a| a == "role:invite:void"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn during_read_only_mode_a_held_change_waits_and_can_still_be_vetoed() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let mallory = h.user("mallory").await;
    h.old_project(&alice).await;
    h.member(&alice, &mallory, "Owner").await;
    let out =
        h.s.remove_member(&mallory, "proj", "alice", &meta())
            .await
            .expect("remove");
    assert!(matches!(out, ChangeOutcome::Pending { .. }), "{out:?}");
    let flag = |on: bool| NewEvent {
        at: T0,
        action: "admin:flag".into(),
        subject_kind: "site".into(),
        details: serde_json::json!({"enabled": on}),
        ..NewEvent::default()
    };
    h.s.db
        .set_site_flag("read_only", true, Some("incident"), "cli:root", &flag(true))
        .await
        .expect("flag");
    // The window passes during the incident: the job applies nothing.
    h.clock.advance(73 * HOUR_MICROS);
    assert!(h.s.ownership_jobs().await.expect("jobs").is_empty());
    assert!(h.roles().await.contains(&("alice".into(), "Owner".into())));
    // The victim's veto goes through even now.
    let token = h.veto_token("alice").await;
    h.s.veto_role_change(&token, true, &meta())
        .await
        .expect("a veto is allowed in read-only mode");
    h.s.db
        .set_site_flag("read_only", false, None, "cli:root", &flag(false))
        .await
        .expect("flag");
    assert!(h.s.ownership_jobs().await.expect("jobs").is_empty());
    assert!(h.roles().await.contains(&("alice".into(), "Owner".into())));
}
