//! Role changes: the last Owner, and the cooling-off that holds a newcomer's removal of an
//! established Owner (veto and report to the administrators, the job, admin approval, cancellation, read-only mode).

use super::*;
use strongroom_store::RoleChangeStatus;

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
async fn last_owner_refusals_are_logged_with_their_source_and_a_loop_cannot_flood_the_log() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.old_project(&alice).await;
    // Removing oneself is leaving.
    let r = h.s.remove_member(&alice, "proj", "alice", &meta()).await;
    assert!(is_forbidden(&r, "last Owner"), "{r:?}");
    let r =
        h.s.change_role(&alice, "proj", "alice", "Maintainer", &meta())
            .await;
    assert!(is_forbidden(&r, "last Owner"), "{r:?}");
    let r = h.s.leave_project(&alice, "proj", &meta()).await;
    assert!(is_forbidden(&r, "last Owner"), "{r:?}");
    let events: Vec<_> =
        h.s.db
            .events(0, 10_000)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.action == "role:refused:last-owner")
            .collect();
    let refused: Vec<String> = events
        .iter()
        .map(|e| {
            assert_eq!(e.actor_name.as_deref(), Some("alice"));
            assert_eq!(e.subject_name.as_deref(), Some("proj"));
            assert_eq!(e.ip.as_deref(), Some("192.0.2.7"));
            assert_eq!(e.user_agent.as_deref(), Some("test-browser"));
            let d: serde_json::Value = serde_json::from_str(&e.details).expect("json");
            assert_eq!(d["user"], "alice", "{d}");
            d["refused"].as_str().expect("refused").to_owned()
        })
        .collect();
    // The second "leave" falls in the first one's window: counted, not logged again.
    assert_eq!(refused, ["leave", "demote-owner"]);
    // Refused every time, counted into each kind's window (crate::refusal_log).
    for _ in 0..40 {
        let r = h.s.leave_project(&alice, "proj", &meta()).await;
        assert!(is_forbidden(&r, "last Owner"), "{r:?}");
    }
    let logged = h.event_details("role:refused:last-owner").await.len() as i64;
    assert_eq!(
        logged, 2,
        "one per refused kind in the window, the rest counted"
    );
    h.clock.advance(61 * 60_000_000);
    let r = h.s.leave_project(&alice, "proj", &meta()).await;
    assert!(is_forbidden(&r, "last Owner"), "{r:?}");
    assert_eq!(
        h.event_details("role:refused:last-owner").await.len() as i64,
        logged + 1,
        "a new hour logs again"
    );
}

#[tokio::test]
async fn a_newcomer_removing_an_older_owner_waits_and_the_target_vetoes_and_reports() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let mallory = h.user("mallory").await;
    h.s.create_user("root", "root@example.org", PW, true, &meta())
        .await
        .expect("admin");
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
    let r =
        h.s.veto_role_change("not-a-token", crate::ownership::Veto::AndReport, &meta())
            .await;
    assert!(is_invalid(&r, "invalid"), "{r:?}");
    let vetoed =
        h.s.veto_role_change(&token, crate::ownership::Veto::AndReport, &meta())
            .await
            .expect("veto");
    assert_eq!(vetoed.status, RoleChangeStatus::Vetoed);
    assert_eq!(h.roles().await.len(), 2);
    // No member freezes another: the report asks the administrators, who decide.
    assert!(
        h.fresh(&mallory).await.frozen_at.is_none(),
        "mallory is not frozen by a member's veto"
    );
    assert!(
        h.s.session(&session).await.expect("session").is_some(),
        "mallory's sessions live on until an administrator acts"
    );
    let asked = h.mails("root@example.org", "Freeze requested").await;
    assert_eq!(asked.len(), 1, "every administrator is mailed");
    assert!(
        asked[0].contains("/admin/users/mallory/") && asked[0].contains("/admin/users/alice/"),
        "{}",
        asked[0]
    );
    // Single use; and the job never applies a vetoed change.
    let r =
        h.s.veto_role_change(&token, crate::ownership::Veto::Only, &meta())
            .await;
    assert!(r.is_err());
    h.clock.advance(100 * HOUR_MICROS);
    h.s.ownership_jobs().await.expect("jobs");
    assert_eq!(h.roles().await.len(), 2);
    let acts = h.actions().await;
    for a in [
        "role:change:pending",
        "role:change:veto",
        "account:freeze:requested",
    ] {
        assert!(acts.contains(&a.to_owned()), "{a} in {acts:?}");
    }
    assert!(!acts.contains(&"role:remove".to_owned()));
    assert!(!acts.contains(&"account:freeze".to_owned()));
    assert!(
        h.mails_to("mallory", "Your account has been frozen")
            .await
            .is_empty()
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
    assert_eq!(c.status, RoleChangeStatus::Approved);
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
        RoleChangeStatus::Cancelled
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
    h.s.veto_role_change(&token, crate::ownership::Veto::AndReport, &meta())
        .await
        .expect("a veto is allowed in read-only mode");
    h.s.db
        .set_site_flag("read_only", false, None, "cli:root", &flag(false))
        .await
        .expect("flag");
    assert!(h.s.ownership_jobs().await.expect("jobs").is_empty());
    assert!(h.roles().await.contains(&("alice".into(), "Owner".into())));
}

#[tokio::test]
async fn a_recently_recovered_owner_is_a_newcomer_for_the_cooling_off_and_removals() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.old_project(&alice).await;
    h.member(&alice, &bob, "Owner").await;
    h.clock.advance(days(30)); // both established
    // alice's account is taken back through a reset; the hold passes, the watch goes on.
    let now = h.s.now();
    let mut tx = h.s.db.begin_account().await.expect("begin");
    tx.set_hold(alice.id, now + 72 * HOUR_MICROS, "password reset", now)
        .await
        .expect("hold");
    tx.commit(&[], &[]).await.expect("commit");
    h.clock.advance(73 * HOUR_MICROS);
    let alice = h.fresh(&alice).await;
    // Removing bob waits for his veto instead of happening at once...
    let out =
        h.s.remove_member(&alice, "proj", "bob", &meta())
            .await
            .expect("asked");
    assert!(matches!(out, ChangeOutcome::Pending { .. }), "{out:?}");
    assert!(!h.veto_token("bob").await.is_empty());
    // ... and releases stay while an established Owner is there.
    let r =
        h.s.remove_release(
            &crate::admin::Authority::Owner(&alice),
            "proj",
            "1.0",
            "",
            &meta(),
        )
        .await;
    assert!(is_forbidden(&r, "recovered less than"), "{r:?}");
    // After the watch, alice is established again.
    h.clock.advance(days(31));
    let alice = h.fresh(&alice).await;
    h.s.remove_release(
        &crate::admin::Authority::Owner(&alice),
        "proj",
        "1.0",
        "",
        &meta(),
    )
    .await
    .expect("removed");
}
