//! The recovery hold: what starts it (reset, email change, 2FA enrolment and re-enrolment),
//! what it refuses, who hears of it, and that setting up a new account is not a recovery.

use super::*;

#[tokio::test]
async fn a_password_reset_holds_tokens_and_uploads_to_older_projects_for_the_hold() {
    let h = harness().await;
    let alice = h.user("alice").await;
    assert!(matches!(
        h.publish("old-proj", "1.0", &alice, T0 - days(10)).await,
        PublishOutcome::Published { .. }
    ));
    h.reset_password(&alice).await;
    let held = h.fresh(&alice).await;
    assert_eq!(held.hold_until, Some(T0 + 72 * HOUR_MICROS));
    assert_eq!(held.hold_reason.as_deref(), Some("password reset"));
    assert_eq!(held.recovered_at, Some(T0));
    let ev = h.event_details("account:hold").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["reason"], "password reset");
    assert_eq!(ev[0]["until"], T0 + 72 * HOUR_MICROS);
    assert_eq!(
        h.mails("alice@example.org", "recovery hold").await.len(),
        1,
        "the account's addresses hear of the hold"
    );

    // No tokens (CLI or web), no upload to the older project, a new project is fine.
    let r = h.s.create_token("alice", "ci", None, None, &meta()).await;
    assert!(forbidden(&r, "recovery hold"), "{r:?}");
    assert!(forbidden(&r, "create API tokens"), "{r:?}");
    let who = h.principal(&held);
    let r =
        h.s.check_upload_hold(&who, &name("old-proj"), &meta())
            .await;
    assert!(
        forbidden(&r, "upload to projects it did not create"),
        "{r:?}"
    );
    assert!(
        h.s.check_upload_hold(&who, &name("brand-new"), &meta())
            .await
            .is_ok()
    );
    // The store refuses the same inside the upload's transaction.
    assert_eq!(
        h.publish("old-proj", "1.1", &held, T0 + HOUR_MICROS).await,
        PublishOutcome::Refused(Refusal::Held)
    );
    let msg = h.s.held_refusal(held.id, &name("old-proj"), &meta()).await;
    assert!(msg.to_string().contains("password reset"), "{msg}");
    // Every refusal is evidence: the token, and both upload refusals against old-proj (the
    // project's timeline shows them); allowed checks log nothing.
    let refused: Vec<_> =
        h.s.db
            .events(0, 1000)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.action == "account:hold:refused")
            .collect();
    let details: Vec<serde_json::Value> = refused
        .iter()
        .map(|e| serde_json::from_str(&e.details).expect("details are JSON"))
        .collect();
    let seen: Vec<_> = refused
        .iter()
        .map(|e| {
            (
                serde_json::from_str::<serde_json::Value>(&e.details).expect("json")["refused"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e.subject_kind.clone(),
                e.subject_name.clone().unwrap_or_default(),
                e.actor_name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let row = |what: &str, kind: &str, subject: &str| {
        (
            what.to_owned(),
            kind.to_owned(),
            subject.to_owned(),
            "alice".to_owned(),
        )
    };
    assert_eq!(
        seen,
        // the CLI's token refusal is the operator's, not the account's: not logged as one
        // the second upload refusal is counted into the first one's window
        vec![row("upload", "project", "old-proj")]
    );
    assert_eq!(details[0]["hold_reason"], "password reset");
    assert_eq!(details[0]["until"], T0 + 72 * HOUR_MICROS);
    // A retry loop is refused every time but counted into the window's first event.
    for _ in 0..30 {
        let r =
            h.s.check_upload_hold(&who, &name("old-proj"), &meta())
                .await;
        assert!(forbidden(&r, "recovery hold"), "{r:?}");
    }
    let logged = |h: &crate::test_harness::Harness| {
        let db = h.s.db.clone();
        async move {
            db.events(0, 10_000)
                .await
                .expect("events")
                .iter()
                .filter(|e| e.action == "account:hold:refused")
                .count()
        }
    };
    let cap = 1; // the upload refusals' window: the loop only counts
    assert_eq!(logged(&h).await, cap);
    h.clock
        .advance(crate::refusal_log::WINDOW_MINUTES * 60_000_000 + 1);
    let r =
        h.s.check_upload_hold(&who, &name("old-proj"), &meta())
            .await;
    assert!(forbidden(&r, "recovery hold"), "{r:?}");
    assert_eq!(
        logged(&h).await,
        cap + 1,
        "a window later the next one is logged"
    );
    // A project created during the hold by the account accepts more files and releases.
    assert!(matches!(
        h.publish("brand-new", "1.0", &held, T0 + HOUR_MICROS).await,
        PublishOutcome::Published { .. }
    ));
    assert!(matches!(
        h.publish("brand-new", "1.1", &held, T0 + 2 * HOUR_MICROS)
            .await,
        PublishOutcome::Published { .. }
    ));
    assert!(
        h.s.check_upload_hold(&who, &name("brand-new"), &meta())
            .await
            .is_ok()
    );

    // After the hold everything works again.
    h.clock.advance(72 * HOUR_MICROS + 1);
    assert!(
        h.s.create_token("alice", "ci", None, None, &meta())
            .await
            .is_ok()
    );
    assert!(
        h.s.check_upload_hold(&who, &name("old-proj"), &meta())
            .await
            .is_ok()
    );
    assert!(matches!(
        h.publish("old-proj", "1.1", &held, h.s.now()).await,
        PublishOutcome::Published { .. }
    ));
}

#[tokio::test]
async fn email_changes_hold_and_the_removed_address_is_told() {
    let h = harness().await;
    let bob = h.user("bob").await;
    let s = h.login("bob").await;
    // Adding an address alone changes nothing yet; verifying it holds.
    h.s.add_email(&s, "bob2@example.net", &meta())
        .await
        .expect("add");
    assert!(h.fresh(&bob).await.hold_until.is_none());
    let t = h.token_in_mail("bob2@example.net", "Verify").await;
    h.s.verify_email(&t, &meta()).await.expect("verify");
    let held = h.fresh(&bob).await;
    assert_eq!(held.hold_reason.as_deref(), Some("email change"));
    assert_eq!(h.mails("bob@example.org", "recovery hold").await.len(), 1);
    assert_eq!(h.mails("bob2@example.net", "recovery hold").await.len(), 1);

    // Removing a verified address: the removed one hears of the hold too.
    h.clock.advance(80 * HOUR_MICROS);
    let s = h.login("bob").await;
    assert!(
        h.fresh(&bob)
            .await
            .hold_until
            .is_some_and(|u| u < h.s.now())
    );
    let id = h.s.db.emails_of(bob.id).await.expect("emails")[1].id;
    h.s.remove_email(&s, id, &meta()).await.expect("remove");
    assert_eq!(h.mails("bob2@example.net", "recovery hold").await.len(), 2);
    assert!(
        h.fresh(&bob)
            .await
            .hold_until
            .is_some_and(|u| u > h.s.now())
    );

    // Making another address primary holds too.
    h.clock.advance(80 * HOUR_MICROS);
    let s = h.login("bob").await;
    h.s.add_email(&s, "bob3@example.net", &meta())
        .await
        .expect("add");
    let t = h.token_in_mail("bob3@example.net", "Verify").await;
    h.s.verify_email(&t, &meta()).await.expect("verify");
    h.clock.advance(80 * HOUR_MICROS);
    let s = h.login("bob").await;
    let id = h.s.db.emails_of(bob.id).await.expect("emails")[1].id;
    h.s.make_primary(&s, id, &meta()).await.expect("primary");
    let u = h.fresh(&bob).await;
    assert!(u.hold_until.is_some_and(|t| t > h.s.now()));
    assert_eq!(h.event_details("account:hold").await.len(), 4);
}

#[tokio::test]
async fn setting_up_a_new_account_is_not_a_recovery() {
    let h = harness().await;
    h.s.register("carol", "carol@example.org", PW, &meta())
        .await
        .expect("register");
    let t = h.token_in_mail("carol@example.org", "Verify").await;
    let carol = h.s.verify_email(&t, &meta()).await.expect("verify");
    assert!(
        h.fresh(&carol).await.hold_until.is_none(),
        "first address of a new account"
    );
    // First 2FA of a new account: no hold either.
    let s = h.login("carol").await;
    enrol_totp(&h, &s).await;
    assert!(h.fresh(&carol).await.hold_until.is_none());
    assert!(
        h.s.create_token("carol", "ci", None, None, &meta())
            .await
            .is_ok()
    );
}

async fn enrol_totp(h: &H, s: &SessionInfo) {
    let enrol = h.s.totp_begin(s).expect("begin");
    let code = crate::second_factor::code_at(
        &enrol.secret_base32,
        u64::try_from(h.s.now() / 1_000_000).expect("secs"),
    )
    .expect("code");
    h.s.totp_confirm(s, &enrol.secret_base32, &code, &meta())
        .await
        .expect("confirm");
    let t = h
        .token_in_mail(
            &format!("{}@example.org", s.user.username),
            "Confirm two-factor",
        )
        .await;
    h.s.confirm_2fa_email(&t, &meta())
        .await
        .expect("confirm mail");
    h.clock.advance(60_000_000);
}

#[tokio::test]
async fn first_2fa_on_an_old_account_and_any_re_enrolment_hold() {
    let h = harness().await;
    let dave = h.user("dave").await;
    let s = h.login("dave").await;
    enrol_totp(&h, &s).await;
    assert_eq!(
        h.fresh(&dave).await.hold_reason.as_deref(),
        Some("first two-factor enrolment")
    );
    // Remove every factor (allowed without require_2fa), then enrol again: a 2FA reset.
    h.clock.advance(80 * HOUR_MICROS);
    let s = h.login_after_2fa("dave").await;
    h.s.totp_remove(&s, &meta()).await.expect("remove");
    assert!(!h.s.has_two_factor(dave.id).await.expect("2fa"));
    enrol_totp(&h, &s).await;
    let u = h.fresh(&dave).await;
    assert_eq!(u.hold_reason.as_deref(), Some("two-factor reset"));
    assert!(u.hold_until.is_some_and(|t| t > h.s.now()));
}

#[tokio::test]
async fn a_recovery_is_told_to_the_other_owners_of_the_accounts_projects() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let carol = h.user("carol").await;
    h.publish("shared", "1.0", &alice, T0 - days(10)).await;
    h.publish("alone", "1.0", &alice, T0 - days(10)).await;
    h.join(&alice, "shared", &bob, "Owner").await;
    h.join(&alice, "shared", &carol, "Maintainer").await;
    h.reset_password(&alice).await;
    let told = h
        .mails("bob@example.org", "alice, an Owner of shared, recovered")
        .await;
    assert_eq!(told.len(), 1, "the co-Owner hears of it");
    assert!(told[0].contains("password reset"), "{}", told[0]);
    assert!(
        h.mails("carol@example.org", "recovered").await.is_empty(),
        "Maintainers are not Owners"
    );
    assert!(
        h.mails("alice@example.org", "an Owner of").await.is_empty(),
        "the account itself gets its own notice"
    );
}
