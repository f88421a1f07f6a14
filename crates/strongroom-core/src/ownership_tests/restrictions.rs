//! What stops an Owner: the recovery hold, read-only mode, a quarantined project; and yanks
//! that name the release by id within the project.

use super::*;

#[tokio::test]
async fn a_held_account_cannot_invite_or_remove_owners() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let sock = h.user("sock").await;
    h.user("carol").await;
    h.old_project(&alice).await;
    h.member(&alice, &bob, "Owner").await;
    h.clock.advance(days(8)); // bob is an established Owner now
    // Invited from the account just before its owner took it back with a reset:
    h.member(&alice, &sock, "Owner").await;
    let now = h.s.now();
    let mut tx = h.s.db.begin_account().await.expect("begin");
    tx.set_hold(alice.id, now + 72 * HOUR_MICROS, "password reset", now)
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
    assert_eq!(h.roles().await.len(), 3);
    // ... but the owner who took the account back can throw out the newcomer it invited.
    let out =
        h.s.remove_member(&alice, "proj", "sock", &meta())
            .await
            .expect("a held account removes a newcomer Owner");
    assert_eq!(out, ChangeOutcome::Applied);
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
        // the second remove-owner refusal is counted into the first one's window
        vec![row("add-role"), row("remove-owner")]
    );
    assert_eq!(h.s.db.verify_events().await.expect("verify"), None);
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
    h.s.admin_quarantine_project(
        &crate::admin::AdminCap::test(admin.clone()),
        "proj",
        "investigating",
        &meta(),
    )
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
async fn yank_and_removal_reasons_with_control_or_bidi_characters_are_refused() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.old_project(&alice).await;
    let p =
        h.s.db
            .project_by_normalized("proj")
            .await
            .expect("p")
            .expect("p");
    let rel = h.s.db.releases_of(p.id).await.expect("releases").remove(0);
    for bad in [
        "bad\u{1b}[2K\u{1b}[1Gall files live, ok",
        "two\nlines",
        "bell\u{7}",
        "c1\u{9b}2K",
        "flip\u{202e}kcab",
    ] {
        // The operator's CLI (and the upload API) and the web page both go through the check.
        let r =
            h.s.set_yanked("proj", &rel.version, Some(bad), "cli:op", &meta())
                .await;
        assert!(
            matches!(&r, Err(CoreError::Invalid(m)) if m.contains("control character")),
            "{bad:?}: {r:?}"
        );
        let r =
            h.s.set_yanked_by_id(&alice, "proj", rel.id, Some(bad), &meta())
                .await;
        assert!(matches!(r, Err(CoreError::Invalid(_))), "{bad:?}: {r:?}");
        // Every admin reason (removals, review rejections) is checked the same way.
        assert!(crate::admin::require_reason(bad).is_err(), "{bad:?}");
    }
    // Nothing was yanked.
    let now = h.s.db.releases_of(p.id).await.expect("releases").remove(0);
    assert!(now.yanked_at.is_none(), "{now:?}");
    // Plain text, accents and emoji pass.
    h.s.set_yanked_by_id(&alice, "proj", rel.id, Some("cassé — voir 1.1 ✓"), &meta())
        .await
        .expect("yank");
}
