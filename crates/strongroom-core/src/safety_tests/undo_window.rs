//! What an undo brings back and what it withholds (issue 8, finding 3): a restore hands the
//! account back without the roles it gained in its incident window; no undo revives the
//! window's uploads or grants, which come back file by file once an administrator kept each,
//! and the owner takes back at once what the account granted; a change held against the
//! account waits out its freeze and gets a new veto period at the unfreeze.

use strongroom_store::UploadPolicy;

use super::undo::{elsewhere, ops};
use super::*;
use crate::admin::Authority;
use crate::login::PASSWORD_DISABLED;
use crate::ownership::ChangeOutcome;
use strongroom_store::{ProjectRole, RoleChangeStatus};

#[tokio::test]
async fn restore_user_hands_back_through_a_pre_incident_address_and_withholds_roles_gained_in_the_window()
 {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    h.publish("kept", "1.0", &alice, h.s.now()).await;
    h.publish("gained", "1.0", &carol, h.s.now()).await;
    h.join(&alice, "kept", &bob, "Owner").await;
    h.clock.advance(days(1));
    // Inside the window: the account joins carol's project and gets the attacker's address.
    let s = h.login("alice").await;
    h.clock.advance(60_000_000);
    h.join(&carol, "gained", &alice, "Owner").await;
    h.swap_in_address(&s, "mallory@evil.test").await;
    // The hold the new address started refuses the deletion; the attacker waits it out.
    h.clock.advance(60_000_000);
    let alice_now = h.fresh(&alice).await;
    let r =
        h.s.delete_account(&Actor::user(&alice_now), &alice_now, "bye", &elsewhere())
            .await;
    assert!(forbidden(&r, "recovery hold"), "{r:?}");
    h.clock.advance(73 * HOUR_MICROS);
    let alice_now = h.fresh(&alice).await;
    let deleted_at = h.s.now();
    h.s.delete_account(&Actor::user(&alice_now), &alice_now, "bye", &elsewhere())
        .await
        .expect("delete");
    h.clock.advance(HOUR_MICROS);
    // The roles held just before the deletion (by default it would be before the window,
    // when alice did not hold "gained" at all): the one gained inside the window is withheld.
    let r =
        h.s.admin_restore_user(
            &ops(),
            "alice",
            Some(deleted_at - 1),
            None,
            "victim of #9",
            &meta(),
        )
        .await
        .expect("restore");
    assert_eq!(
        r.roles,
        vec![("kept".to_string(), ProjectRole::Owner)],
        "{r:?}"
    );
    assert_eq!(
        r.withheld,
        vec![("gained".to_string(), ProjectRole::Owner)],
        "{r:?}"
    );
    assert_eq!(
        r.handed_back.reset_sent_to,
        vec!["alice@example.org".to_string()]
    );
    assert_eq!(r.handed_back.suspect[0].label, "mallory@evil.test");
    assert!(
        h.mails("mallory@evil.test", "Set a new password")
            .await
            .is_empty()
    );
    let back = h.fresh(&alice).await;
    let r = h.s.complete_login(&back, true, "passkey", &meta()).await;
    assert!(forbidden(&r, PASSWORD_DISABLED), "{r:?}");
    assert_eq!(h.s.db.incidents_of(alice.id).await.expect("w").len(), 1);
}

#[tokio::test]
async fn no_undo_brings_back_what_was_uploaded_inside_an_incident_window() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.publish("proj", "1.0", &alice, h.s.now()).await;
    // Older than the lookback before the freeze: 1.0 predates anything an undo doubts.
    h.clock.advance(days(40));
    h.login("alice").await;
    h.clock.advance(60_000_000);
    h.publish("proj", "2.0", &alice, h.s.now()).await;
    let held = h.new_file("proj", "3.0", &alice, h.s.now() + 1);
    let policy = UploadPolicy {
        dormant_before: Some(h.s.now() + 10),
        quarantine_reason: "recovered account".into(),
        ..UploadPolicy::default()
    };
    let o = h.s.db.publish(&held, &policy, None).await.expect("held");
    assert!(matches!(o, PublishOutcome::Quarantined { .. }), "{o:?}");
    h.clock.advance(60_000_000);
    h.s.admin_quarantine_project(
        &crate::admin::AdminCap::test(ops()),
        "proj",
        "report",
        &meta(),
    )
    .await
    .expect("quarantine");
    h.s.admin_freeze_user(&ops(), "alice", "takeover", &meta())
        .await
        .expect("freeze");
    let admin = Authority::Admin(&crate::admin::AdminCap::test(ops()));
    let conflict = |r: Result<(), CoreError>, needle: &str| {
        assert!(
            matches!(&r, Err(CoreError::Conflict(m)) if m.contains(needle)),
            "{needle}: {r:?}"
        );
    };
    // Releasing the project would show 2.0 again: refused, naming the file.
    conflict(
        h.s.admin_release_project(
            &crate::admin::AdminCap::test(ops()),
            "proj",
            "cleaned",
            &meta(),
        )
        .await,
        "proj-2.0",
    );
    conflict(
        h.s.admin_approve_release(
            &crate::admin::AdminCap::test(ops()),
            "proj",
            "3.0",
            "looks fine",
            &meta(),
        )
        .await
        .map(|_| ()),
        "incident window",
    );
    h.s.remove_release(&admin, "proj", "2.0", "malicious", &meta())
        .await
        .expect("remove");
    h.s.admin_release_project(
        &crate::admin::AdminCap::test(ops()),
        "proj",
        "cleaned",
        &meta(),
    )
    .await
    .expect("release what predates the window");
    // After the unfreeze, the window still speaks for the uploads inside it.
    h.unfreeze("alice").await;
    conflict(
        h.s.admin_restore_release(
            &crate::admin::AdminCap::test(ops()),
            "proj",
            "2.0",
            "oops",
            &meta(),
        )
        .await,
        "incident window",
    );
    conflict(
        h.s.admin_approve_release(
            &crate::admin::AdminCap::test(ops()),
            "proj",
            "3.0",
            "looks fine",
            &meta(),
        )
        .await
        .map(|_| ()),
        "incident window",
    );
    // What predates the window comes back as before.
    h.s.remove_release(&admin, "proj", "1.0", "by mistake", &meta())
        .await
        .expect("remove");
    h.s.admin_restore_release(
        &crate::admin::AdminCap::test(ops()),
        "proj",
        "1.0",
        "mistake",
        &meta(),
    )
    .await
    .expect("restore");
}

#[tokio::test]
async fn the_owner_takes_back_at_once_what_the_account_granted_inside_its_window() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let sock = h.user("sock").await;
    // alice has owned proj for a month: bob's role inherits no newcomer's watch from her.
    h.publish("proj", "1.0", &alice, h.s.now() - days(30)).await;
    h.join(&alice, "proj", &bob, "Owner").await;
    h.clock.advance(days(1));
    h.login("alice").await;
    h.join(&alice, "proj", &sock, "Owner").await;
    // The sock is established by the time the account is caught.
    h.clock.advance(days(8));
    h.s.admin_freeze_user(&ops(), "alice", "takeover", &meta())
        .await
        .expect("freeze");
    h.unfreeze("alice").await;
    h.reset_through("alice@example.org").await;
    let alice = h.fresh(&alice).await;
    assert!(alice.hold_until.is_some_and(|t| t > h.s.now()), "held");
    // The sock goes at once (no hold, no cooling-off, no veto link for it) ...
    let out =
        h.s.remove_member(&alice, "proj", "sock", &meta())
            .await
            .expect("remove the sock");
    assert_eq!(out, ChangeOutcome::Applied);
    assert!(h.mails("sock@example.org", "Veto").await.is_empty());
    // ... but an Owner the account brought in before the window keeps its protection.
    let r = h.s.remove_member(&alice, "proj", "bob", &meta()).await;
    assert!(forbidden(&r, "recovery hold"), "{r:?}");
}

#[tokio::test]
async fn a_frozen_accounts_veto_link_still_vetoes_but_freezes_nobody() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let newbie = h.user_aged("newbie", days(1)).await;
    h.publish("proj", "1.0", &alice, h.s.now()).await;
    h.clock.advance(days(30));
    h.join(&alice, "proj", &newbie, "Owner").await;
    let out =
        h.s.remove_member(&newbie, "proj", "alice", &meta())
            .await
            .expect("ask");
    assert!(matches!(out, ChangeOutcome::Pending { .. }), "{out:?}");
    let veto = h.token_in_mail("alice@example.org", "Veto").await;
    h.s.admin_freeze_user(&ops(), "alice", "takeover", &meta())
        .await
        .expect("freeze");
    let r =
        h.s.veto_role_change(&veto, crate::ownership::Veto::AndReport, &meta())
            .await;
    assert!(forbidden(&r, "cannot report"), "{r:?}");
    assert!(h.fresh(&newbie).await.frozen_at.is_none());
    h.s.veto_role_change(&veto, crate::ownership::Veto::Only, &meta())
        .await
        .expect("a plain veto");
}

/// Red-team U1 and U2: an upload the computed window misses (a stolen token changes nothing on
/// the account; a sock acts only in its setup hours) is still held back by every undo: the
/// frozen account's uploads from the lookback before its freeze until its unfreeze come back
/// only file by file, once an administrator kept each (`admin keep-file`).
#[tokio::test]
async fn an_undo_holds_back_the_frozen_accounts_recent_uploads_even_with_an_empty_window() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let t1 = h.s.now();
    h.publish("proj", "1.0", &alice, t1).await;
    h.publish("other", "0.1", &alice, t1).await;
    h.clock.advance(days(40));
    // U1: a stolen token uploads; nothing about the account changes.
    h.publish("proj", "6.6.6", &alice, h.s.now()).await;
    // U2: a sock registered an hour ago (its setup period) uploads to another project.
    let sock = h.user_aged("sock", HOUR_MICROS).await;
    h.join(&alice, "other", &sock, "Owner").await;
    let t2 = h.s.now();
    h.publish("other", "0.2", &sock, t2).await;
    h.clock.advance(HOUR_MICROS);
    for (user, project) in [("alice", "proj"), ("sock", "other")] {
        h.s.admin_quarantine_project(
            &crate::admin::AdminCap::test(ops()),
            project,
            "report",
            &meta(),
        )
        .await
        .expect("quarantine");
        h.s.admin_freeze_user(&ops(), user, "takeover", &meta())
            .await
            .expect("freeze");
    }
    let window = &h.event_details("admin:user:freeze").await;
    assert!(
        window.iter().all(|w| w["window_opened_by"].is_null()),
        "the computed windows are empty: {window:?}"
    );
    let conflict = |r: Result<(), CoreError>, needle: &str| {
        assert!(
            matches!(&r, Err(CoreError::Conflict(m)) if m.contains(needle) && m.contains("keep-file")),
            "{needle}: {r:?}"
        );
    };
    conflict(
        h.s.admin_release_project(
            &crate::admin::AdminCap::test(ops()),
            "proj",
            "cleaned",
            &meta(),
        )
        .await,
        "proj-6.6.6",
    );
    conflict(
        h.s.admin_release_project(
            &crate::admin::AdminCap::test(ops()),
            "other",
            "cleaned",
            &meta(),
        )
        .await,
        "other-0.2",
    );
    // A file nothing holds back cannot be "kept"; the sock's file, reviewed, can.
    let r =
        h.s.admin_keep_file(
            &crate::admin::AdminCap::test(ops()),
            "proj",
            "1.0",
            &format!("proj-1.0-{t1}.tar.gz"),
            "ok",
            &meta(),
        )
        .await;
    assert!(matches!(&r, Err(CoreError::Conflict(_))), "{r:?}");
    let reviewed = format!("other-0.2-{t2}.tar.gz");
    h.s.admin_keep_file(
        &crate::admin::AdminCap::test(ops()),
        "other",
        "0.2",
        &reviewed,
        "reviewed: harmless",
        &meta(),
    )
    .await
    .expect("keep");
    h.s.admin_release_project(
        &crate::admin::AdminCap::test(ops()),
        "other",
        "cleaned",
        &meta(),
    )
    .await
    .expect("the kept file comes back");
    let kept = h.event_details("admin:file:keep").await;
    assert_eq!(kept[0]["filename"], reviewed.as_str());
    assert_eq!(kept[0]["uploader"], "sock");

    // After the unfreeze it is still held back; an upload after it is not.
    h.unfreeze("alice").await;
    conflict(
        h.s.admin_release_project(
            &crate::admin::AdminCap::test(ops()),
            "proj",
            "cleaned",
            &meta(),
        )
        .await,
        "proj-6.6.6",
    );
    let admin = Authority::Admin(&crate::admin::AdminCap::test(ops()));
    h.s.remove_release(&admin, "proj", "6.6.6", "malicious", &meta())
        .await
        .expect("remove");
    h.s.admin_release_project(
        &crate::admin::AdminCap::test(ops()),
        "proj",
        "cleaned",
        &meta(),
    )
    .await
    .expect("release what is left");
    conflict(
        h.s.admin_restore_release(
            &crate::admin::AdminCap::test(ops()),
            "proj",
            "6.6.6",
            "oops",
            &meta(),
        )
        .await,
        "proj-6.6.6",
    );
    h.clock.advance(HOUR_MICROS);
    h.publish("proj", "7.0", &alice, h.s.now()).await;
    h.s.remove_release(&admin, "proj", "7.0", "test", &meta())
        .await
        .expect("remove");
    h.s.admin_restore_release(
        &crate::admin::AdminCap::test(ops()),
        "proj",
        "7.0",
        "back",
        &meta(),
    )
    .await
    .expect("an upload after the hand-back is the owner's");
}

/// Red-team U4: a held removal aimed at a frozen account is not applied while it is frozen
/// (its owner cannot veto then); the unfreeze gives it a new pending period and mails a new
/// veto link to the anchor, which still vetoes it.
#[tokio::test]
async fn a_held_change_against_a_frozen_account_waits_and_the_unfreeze_mails_a_new_veto() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let newbie = h.user_aged("newbie", days(1)).await;
    h.publish("proj", "1.0", &alice, h.s.now()).await;
    h.clock.advance(days(30));
    // The attacker, as alice, lets its sock in; the sock asks to remove alice (held 72 h).
    h.join(&alice, "proj", &newbie, "Owner").await;
    let out =
        h.s.remove_member(&newbie, "proj", "alice", &meta())
            .await
            .expect("ask");
    assert!(matches!(out, ChangeOutcome::Pending { .. }), "{out:?}");
    h.clock.advance(HOUR_MICROS);
    h.s.admin_freeze_user(&ops(), "alice", "takeover", &meta())
        .await
        .expect("freeze");
    let owner_of_proj = |u: User| {
        let db = h.s.db.clone();
        async move {
            db.projects_of_user(u.id)
                .await
                .expect("projects")
                .iter()
                .any(|(p, role, _)| p.name == "proj" && *role == ProjectRole::Owner)
        }
    };
    h.clock.advance(days(4));
    let lines = h.s.ownership_jobs().await.expect("jobs");
    assert!(
        lines.iter().any(|l| l.contains("frozen")),
        "the job says why it waits: {lines:?}"
    );
    assert!(
        owner_of_proj(alice.clone()).await,
        "applied during the freeze"
    );

    let vetos_before = h.mails("alice@example.org", "Veto").await.len();
    let back = h.unfreeze("alice").await;
    assert_eq!(back.changes_postponed.len(), 1, "{back:?}");
    assert_eq!(
        back.changes_postponed[0].effective_at,
        h.s.now() + crate::settings::hours(h.s.settings.safety.pending_hours)
    );
    assert_eq!(
        h.mails("alice@example.org", "Veto").await.len(),
        vetos_before + 1
    );
    assert!(
        h.event_details("role:change:postpone")
            .await
            .iter()
            .any(|d| d["user"] == "alice")
    );
    // Right after the unfreeze the job still does not apply it: a new pending period runs.
    h.clock.advance(HOUR_MICROS);
    h.s.ownership_jobs().await.expect("jobs");
    assert!(
        owner_of_proj(alice.clone()).await,
        "applied before the new period"
    );
    // The owner, back, vetoes through the new link.
    let veto = h.token_in_mail("alice@example.org", "Veto").await;
    let c =
        h.s.veto_role_change(&veto, crate::ownership::Veto::Only, &meta())
            .await
            .expect("veto");
    assert_eq!(c.status, RoleChangeStatus::Vetoed);
    h.clock.advance(days(4));
    h.s.ownership_jobs().await.expect("jobs");
    assert!(owner_of_proj(alice).await);
}
