//! Second factors: enrolment confirmed by mail, TOTP windows and replay, recovery codes,
//! the last method, WebAuthn ceremony states.

use super::*;

#[tokio::test]
async fn required_2fa_restricts_the_session_until_enrolment_is_confirmed_by_mail() {
    let h = harness(true).await;
    let s = h.user("alice").await;
    let info = h.session(&s).await;
    assert!(info.restricted_to_2fa_enrolment && !info.two_factor_ok);
    let enrol = h.s.totp_begin(&info).expect("begin");
    assert!(
        enrol.otpauth_uri.starts_with("otpauth://totp/"),
        "{}",
        enrol.otpauth_uri
    );
    let code = code_at(&enrol.secret_base32, h.secs()).expect("code");
    h.s.totp_confirm(&info, &enrol.secret_base32, &code, &meta("192.0.2.1"))
        .await
        .expect("confirm");
    assert!(
        h.session(&s).await.restricted_to_2fa_enrolment,
        "still pending: check your mail"
    );
    assert!(!h.s.has_two_factor(info.user.id).await.expect("2fa"));
    let t = h
        .mailed_token("alice@example.org", "Confirm two-factor")
        .await;
    h.s.confirm_2fa_email(&t, &meta("192.0.2.1"))
        .await
        .expect("confirm mail");
    assert!(!h.session(&s).await.restricted_to_2fa_enrolment);
    assert!(
        h.s.confirm_2fa_email(&t, &meta("192.0.2.1")).await.is_err(),
        "the link works once"
    );
}

#[tokio::test]
async fn totp_window_normalisation_and_replay() {
    let h = harness(true).await;
    let s = h.user("alice").await;
    let (seed, _) = h.with_totp(&s).await;
    let now = h.secs();
    // ±1 step, no more.
    assert!(matching_step(&seed, &code_at(&seed, now - 30).expect("c"), now).is_some());
    assert!(matching_step(&seed, &code_at(&seed, now + 30).expect("c"), now).is_some());
    assert!(matching_step(&seed, &code_at(&seed, now - 60).expect("c"), now).is_none());
    assert!(matching_step(&seed, &code_at(&seed, now + 60).expect("c"), now).is_none());
    assert!(matching_step(&seed, "12345", now).is_none());
    assert!(matching_step(&seed, "abcdef", now).is_none());

    let code = code_at(&seed, now).expect("code");
    let spaced = format!("{} {}\u{a0}", &code[..3], &code[3..]);
    let ticket = h.ticket("alice", "192.0.2.1").await;
    let g =
        h.s.login_totp(&ticket, &spaced, &meta("192.0.2.1"))
            .await
            .expect("spaced code accepted");
    assert!(h.session(&g.secret).await.two_factor_ok);
    // The same code, in any spelling, is never accepted twice.
    let ticket = h.ticket("alice", "192.0.2.1").await;
    for replay in [code.clone(), spaced.clone(), format!(" {code} ")] {
        let r = h.s.login_totp(&ticket, &replay, &meta("192.0.2.1")).await;
        assert!(
            is_forbidden(&r, "Invalid authentication code"),
            "{replay:?}: {r:?}"
        );
    }
    // Nor an older one once a newer step was used.
    h.clock.advance(30_000_000);
    let newer = code_at(&seed, h.secs()).expect("code");
    h.s.login_totp(&ticket, &newer, &meta("192.0.2.1"))
        .await
        .expect("next step");
    assert!(
        h.s.login_totp(&ticket, &newer, &meta("192.0.2.1"))
            .await
            .is_err(),
        "ticket used up"
    );
}

#[tokio::test]
async fn two_factor_attempts_are_rate_limited_per_user() {
    let h = harness(true).await;
    let s = h.user("alice").await;
    let (seed, _) = h.with_totp(&s).await;
    let ticket = h.ticket("alice", "192.0.2.1").await;
    for _ in 0..5 {
        let r = h.s.login_totp(&ticket, "000000", &meta("192.0.2.1")).await;
        assert!(r.is_err());
    }
    let good = code_at(&seed, h.secs()).expect("code");
    match h.s.login_totp(&ticket, &good, &meta("192.0.2.1")).await {
        Err(CoreError::TooMany {
            retry_after_secs, ..
        }) => assert!((1..=300).contains(&retry_after_secs)),
        other => panic!("the 6th attempt must wait, got {other:?}"),
    }
    h.clock.advance(5 * MIN);
    let ticket = h.ticket("alice", "192.0.2.1").await;
    let good = code_at(&seed, h.secs()).expect("code");
    h.s.login_totp(&ticket, &good, &meta("192.0.2.1"))
        .await
        .expect("after the window");
}

#[tokio::test]
async fn recovery_codes_are_single_use_and_mail_the_owner() {
    let h = harness(true).await;
    let s = h.user("alice").await;
    let (_, codes) = h.with_totp(&s).await;
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 16 && c.bytes().all(|b| b.is_ascii_hexdigit()))
    );
    let stored =
        h.s.db
            .recovery_codes_of(h.session(&s).await.user.id)
            .await
            .expect("codes");
    assert!(
        stored
            .iter()
            .all(|c| c.code_hash.starts_with("$argon2id$") && !codes.contains(&c.code_hash))
    );
    let ticket = h.ticket("alice", "192.0.2.1").await;
    let spaced = format!("{}-{}", &codes[0][..8], &codes[0][8..].to_uppercase());
    h.s.login_recovery_code(&ticket, &spaced, &meta("192.0.2.1"))
        .await
        .expect("first use");
    assert_eq!(
        h.mail_count("alice@example.org", "A recovery code was used")
            .await,
        1
    );
    let ticket = h.ticket("alice", "192.0.2.1").await;
    let again =
        h.s.login_recovery_code(&ticket, &codes[0], &meta("192.0.2.1"))
            .await;
    assert!(is_forbidden(&again, "already been used"), "{again:?}");
    assert_eq!(
        h.mail_count("alice@example.org", "used recovery code was tried")
            .await,
        1
    );
    h.s.login_recovery_code(&ticket, &codes[1], &meta("192.0.2.1"))
        .await
        .expect("another code");
}

#[tokio::test]
async fn the_last_second_factor_cannot_be_removed_while_2fa_is_required() {
    let h = harness(true).await;
    let s = h.user("alice").await;
    h.with_totp(&s).await;
    let info = h.session(&s).await;
    let r = h.s.totp_remove(&info, &meta("192.0.2.1")).await;
    assert!(is_forbidden(&r, LAST_METHOD), "{r:?}");
    assert!(h.s.has_two_factor(info.user.id).await.expect("2fa"));

    let h = harness(false).await;
    let s = h.user("bob").await;
    h.with_totp(&s).await;
    let info = h.session(&s).await;
    h.s.totp_remove(&info, &meta("192.0.2.1"))
        .await
        .expect("allowed when 2FA is optional");
    assert!(!h.s.has_two_factor(info.user.id).await.expect("2fa"));
    assert!(
        h.s.db
            .recovery_codes_of(info.user.id)
            .await
            .expect("codes")
            .is_empty()
    );
    assert_eq!(h.mail_count("bob@example.org", "was removed").await, 1);
}

#[tokio::test]
async fn webauthn_ceremony_states_are_single_use() {
    let h = harness(false).await;
    let s = h.user("alice").await;
    let info = h.session(&s).await;
    let (challenge, state) = h.s.webauthn_register_start(&info).await.expect("start");
    let c: serde_json::Value = serde_json::from_str(&challenge).expect("json");
    assert_eq!(c["publicKey"]["rp"]["id"], "localhost", "{c}");
    assert!(c["publicKey"]["challenge"].is_string());
    let r =
        h.s.webauthn_register_finish(
            &info,
            &state,
            "key",
            "{\"not\":\"a credential\"}",
            &meta("192.0.2.1"),
        )
        .await;
    assert!(is_forbidden(&r, "malformed"), "{r:?}");
    let r =
        h.s.webauthn_register_finish(&info, &state, "key", "{}", &meta("192.0.2.1"))
            .await;
    assert!(is_forbidden(&r, "expired"), "the state was used up: {r:?}");
    // Another user's state is not yours.
    let b = h.user("bob").await;
    let (_, bob_state) =
        h.s.webauthn_register_start(&h.session(&b).await)
            .await
            .expect("start");
    let r =
        h.s.webauthn_register_finish(&info, &bob_state, "key", "{}", &meta("192.0.2.1"))
            .await;
    assert!(is_forbidden(&r, "expired"), "{r:?}");
    // Passwordless: a conditional-mediation challenge; a state answers once, and expires.
    let (challenge, state) = h.s.webauthn_login_start(None).await.expect("start");
    assert!(challenge.contains("conditional"), "{challenge}");
    assert!(
        h.s.webauthn_login_finish(&state, "garbage", &meta("192.0.2.1"))
            .await
            .is_err()
    );
    let r =
        h.s.webauthn_login_finish(&state, "garbage", &meta("192.0.2.1"))
            .await;
    assert!(is_forbidden(&r, "expired"), "{r:?}");
    let (_, state) = h.s.webauthn_login_start(None).await.expect("start");
    h.clock.advance(5 * MIN + 1);
    let r =
        h.s.webauthn_login_finish(&state, "garbage", &meta("192.0.2.1"))
            .await;
    assert!(is_forbidden(&r, "expired"), "{r:?}");
    // A ticket-bound ceremony needs an account with a key.
    assert!(
        h.s.webauthn_login_start(Some("no such ticket"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_code_that_proved_a_totp_seed_cannot_log_in() {
    let h = harness(false).await;
    let s = h.user("alice").await;
    let info = h.session(&s).await;
    let enrol = h.s.totp_begin(&info).expect("begin");
    let code = code_at(&enrol.secret_base32, h.secs()).expect("code");
    h.s.totp_confirm(&info, &enrol.secret_base32, &code, &meta("192.0.2.1"))
        .await
        .expect("confirm");
    let t = h
        .mailed_token("alice@example.org", "Confirm two-factor")
        .await;
    h.s.confirm_2fa_email(&t, &meta("192.0.2.1"))
        .await
        .expect("confirm mail");
    let ticket = h.ticket("alice", "192.0.2.1").await;
    let r = h.s.login_totp(&ticket, &code, &meta("192.0.2.1")).await;
    assert!(is_forbidden(&r, "Invalid authentication code"), "{r:?}");
    h.clock.advance(30_000_000);
    let next = code_at(&enrol.secret_base32, h.secs()).expect("code");
    h.s.login_totp(&ticket, &next, &meta("192.0.2.1"))
        .await
        .expect("the next step works");
}

#[tokio::test]
async fn a_factor_added_beside_others_on_an_established_account_holds_it() {
    let h = harness(false).await;
    let s = h.user("erin").await;
    let info = h.session(&s).await;
    // An account that already has a security key...
    let mut tx = h.s.db.begin_account().await.expect("tx");
    tx.insert_credential(&strongroom_store::NewCredential {
        user_id: info.user.id,
        credential_id: "Y3JlZC0x".into(),
        passkey: "{}".into(),
        sign_count: 0,
        label: "the owner's key".into(),
        at: h.s.now(),
        enabled: true,
    })
    .await
    .expect("key");
    tx.commit(&[], &[]).await.expect("commit");
    // ...and is past its setup window; the session (a stolen one, say) stays alive.
    for _ in 0..16 {
        h.clock.advance(6 * 3_600_000_000);
        h.session(&s).await;
    }
    let info = h.session(&s).await;
    h.s.reauthenticate(&info, PW, &meta("192.0.2.1"))
        .await
        .expect("reauth");
    let info = h.session(&s).await;
    assert!(info.user.hold_until.is_none());
    let enrol = h.s.totp_begin(&info).expect("begin");
    let code = code_at(&enrol.secret_base32, h.secs()).expect("code");
    let done =
        h.s.totp_confirm(&info, &enrol.secret_base32, &code, &meta("192.0.2.1"))
            .await
            .expect("added");
    assert!(!done.pending_email_confirmation, "not the first method");
    let user =
        h.s.db
            .user_by_id(info.user.id)
            .await
            .expect("user")
            .expect("row");
    assert_eq!(user.hold_reason.as_deref(), Some("two-factor change"));
    assert!(user.hold_until.is_some_and(|t| t > h.s.now()));
    let token =
        h.s.create_token("erin", "ci", None, None, &meta("192.0.2.1"))
            .await;
    assert!(
        matches!(&token, Err(CoreError::Forbidden(m)) if m.contains("recovery hold")),
        "{token:?}"
    );
    assert!(h.mail_count("erin@example.org", "recovery hold").await >= 1);
}

#[tokio::test]
async fn an_admin_two_factor_reset_wipes_factors_ends_sessions_holds_and_sends_the_way_back() {
    let h = harness(true).await;
    let s = h.user("alice").await;
    h.with_totp(&s).await;
    let ops = crate::Actor {
        id: None,
        name: "cli:ops".into(),
    };
    let m = meta("198.51.100.7");
    let r = h.s.admin_reset_two_factor(&ops, "alice", "  ", &m).await;
    assert!(
        matches!(r, Err(CoreError::Invalid(_))),
        "a reason is required: {r:?}"
    );
    let r = h.s.admin_reset_two_factor(&ops, "nobody", "x", &m).await;
    assert!(matches!(r, Err(CoreError::NotFound(_))), "{r:?}");

    let out =
        h.s.admin_reset_two_factor(&ops, "alice", "lost phone and codes, ticket 42", &m)
            .await
            .expect("reset");
    assert!(
        out.totp && out.security_keys == 0 && out.sessions_ended >= 1,
        "{out:?}"
    );
    // The factors, the codes, the sessions and the password are gone.
    let alice =
        h.s.db
            .user_by_name("alice")
            .await
            .expect("get")
            .expect("alice");
    assert!(h.s.db.totp_of(alice.id).await.expect("totp").is_none());
    assert!(
        h.s.db
            .recovery_codes_of(alice.id)
            .await
            .expect("codes")
            .is_empty()
    );
    assert!(
        h.s.session(&s).await.expect("lookup").is_none(),
        "session ended"
    );
    let r = h.s.login_password("alice", PW, &meta("192.0.2.1")).await;
    assert!(is_forbidden(&r, crate::login::PASSWORD_DISABLED), "{r:?}");
    // Held, and told (with the reset link) at the verified address.
    assert_eq!(alice.hold_reason.as_deref(), Some("two-factor reset"));
    assert!(alice.hold_until.is_some_and(|t| t > h.s.now()));
    assert_eq!(h.mail_count("alice@example.org", "recovery hold").await, 1);
    let link = h
        .mailed_token("alice@example.org", "two-factor authentication was reset")
        .await;
    // The events name the admin and the reason.
    let events = h.s.db.events(0, 1000).await.expect("events");
    let reset = events
        .iter()
        .find(|e| e.action == "admin:user:reset-2fa")
        .expect("reset event");
    assert_eq!(reset.actor_name.as_deref(), Some("cli:ops"));
    assert_eq!(reset.subject_name.as_deref(), Some("alice"));
    assert_eq!(reset.ip.as_deref(), Some("198.51.100.7"));
    assert!(reset.details.contains("ticket 42"), "{}", reset.details);
    assert!(
        events
            .iter()
            .any(|e| e.action == "account:hold" && e.actor_name.as_deref() == Some("cli:ops"))
    );
    // A second reset has nothing to remove.
    let r = h.s.admin_reset_two_factor(&ops, "alice", "again", &m).await;
    assert!(matches!(r, Err(CoreError::Conflict(_))), "{r:?}");

    // The way back: the mailed link sets a password, and the next login must enrol again.
    h.clock.advance(MIN);
    h.s.reset_password(&link, "a brand new long passphrase", &meta("192.0.2.1"))
        .await
        .expect("reset through the mailed link");
    match h
        .s
        .login_password("alice", "a brand new long passphrase", &meta("192.0.2.1"))
        .await
        .expect("login")
    {
        crate::login::LoginStep::EnrolTwoFactor(_) => {}
        other => panic!("expected enrolment, got {other:?}"),
    }
    assert_eq!(h.s.db.verify_events().await.expect("verify"), None);
}

#[tokio::test]
async fn a_two_factor_reset_trusts_only_addresses_older_than_the_hold_and_kills_old_links() {
    let h = harness(true).await;
    let s = h.user("alice").await;
    let (seed, _) = h.with_totp(&s).await;
    let ops = crate::Actor {
        id: None,
        name: "cli:ops".into(),
    };
    let m = meta("198.51.100.7");
    // An established account; someone in its session adds and verifies an address (held).
    h.clock.advance(5 * 24 * 60 * MIN);
    let ticket = h.ticket("alice", "192.0.2.1").await;
    let code = code_at(&seed, h.secs()).expect("code");
    let grant =
        h.s.login_totp(&ticket, &code, &meta("192.0.2.1"))
            .await
            .expect("login");
    let info = h.session(&grant.secret).await;
    h.s.add_email(&info, "mallory@evil.test", &meta("203.0.113.9"))
        .await
        .expect("add");
    let t = h.mailed_token("mallory@evil.test", "Verify").await;
    h.s.verify_email(&t, &meta("203.0.113.9"))
        .await
        .expect("verify");
    let held =
        h.s.db
            .user_by_name("alice")
            .await
            .expect("get")
            .expect("alice");
    assert_eq!(held.hold_reason.as_deref(), Some("email change"));
    // A reset link asked for before the admin's reset.
    h.s.request_password_reset("alice@example.org", &meta("192.0.2.1"))
        .await
        .expect("forgot");
    let old_link = h.mailed_token("alice@example.org", "Reset").await;

    h.clock.advance(MIN);
    let out =
        h.s.admin_reset_two_factor(&ops, "alice", "owner called, ticket 9", &m)
            .await
            .expect("reset");
    assert!(out.totp);
    // The address verified during the hold is left suspect (no mail until the owner keeps
    // it) and got no link.
    let emails = h.s.db.emails_of(held.id).await.expect("emails");
    let mallory = emails
        .iter()
        .find(|e| e.address == "mallory@evil.test")
        .expect("address");
    assert!(mallory.suspect_at.is_some(), "{mallory:?}");
    assert!(
        out.addresses_suspect == vec!["mallory@evil.test".to_string()],
        "{out:?}"
    );
    assert_eq!(
        h.mail_count("mallory@evil.test", "two-factor authentication was reset")
            .await,
        0
    );
    let link = h
        .mailed_token("alice@example.org", "two-factor authentication was reset")
        .await;
    let ev =
        h.s.db
            .events(0, 1000)
            .await
            .expect("events")
            .into_iter()
            .find(|e| e.action == "admin:user:reset-2fa")
            .expect("event");
    assert!(ev.details.contains("mallory@evil.test"), "{}", ev.details);
    // "Forgot password" now reaches only the trusted address; the old link is dead.
    let r =
        h.s.reset_password(
            &old_link,
            "some other long passphrase",
            &meta("203.0.113.9"),
        )
        .await;
    assert!(matches!(r, Err(CoreError::Invalid(_))), "{r:?}");
    h.s.request_password_reset("mallory@evil.test", &meta("203.0.113.9"))
        .await
        .expect("answers the same either way");
    assert_eq!(h.mail_count("mallory@evil.test", "Reset").await, 0);
    h.s.reset_password(&link, "a brand new long passphrase", &meta("192.0.2.1"))
        .await
        .expect("the admin's link works");

    // A frozen account is not reset (its hold would run out during the freeze).
    let s2 = h.user("bob").await;
    h.with_totp(&s2).await;
    h.s.admin_freeze_user(&ops, "bob", "investigating", &m)
        .await
        .expect("freeze");
    let r =
        h.s.admin_reset_two_factor(&ops, "bob", "lost phone", &m)
            .await;
    assert!(
        matches!(&r, Err(CoreError::Conflict(msg)) if msg.contains("unfreeze")),
        "{r:?}"
    );
    let bob = h.s.db.user_by_name("bob").await.expect("get").expect("bob");
    assert!(
        h.s.db.totp_of(bob.id).await.expect("totp").is_some(),
        "nothing changed"
    );
}

#[tokio::test]
async fn the_operator_makes_an_account_with_its_first_factor_on_and_a_wrong_code_makes_nothing() {
    let h = harness(true).await;
    let offer = crate::second_factor::totp_offer("erin").expect("offer");
    assert!(
        offer.otpauth_uri.starts_with("otpauth://totp/") && offer.otpauth_uri.contains("erin"),
        "{}",
        offer.otpauth_uri
    );
    let op = crate::Actor {
        id: None,
        name: "cli:root".into(),
    };
    let now = h.secs();
    let wrong = code_at(&offer.secret_base32, now - 120).expect("code");
    let refused =
        h.s.create_user_with_totp(
            "erin",
            "erin@example.org",
            PW,
            false,
            &offer.secret_base32,
            &wrong,
            &op,
            &meta("192.0.2.1"),
        )
        .await;
    assert!(
        matches!(&refused, Err(CoreError::Invalid(m)) if m == crate::operator_enrolment::CODE_MISMATCH),
        "{refused:?}"
    );
    assert!(
        h.s.db.user_by_name("erin").await.expect("read").is_none(),
        "a wrong code makes no account"
    );

    let code = code_at(&offer.secret_base32, now).expect("code");
    let (user, enrolled) =
        h.s.create_user_with_totp(
            "erin",
            "erin@example.org",
            PW,
            false,
            &offer.secret_base32,
            &code,
            &op,
            &meta("192.0.2.1"),
        )
        .await
        .expect("made");
    assert_eq!(enrolled.recovery_codes.len(), 8);
    assert!(!enrolled.pending_email_confirmation);
    assert!(
        h.s.has_two_factor(user.id).await.expect("2fa"),
        "on at once"
    );
    // The seed is stored as the web stores it: its codes log in, the confirming one only once.
    let ticket = h.ticket("erin", "192.0.2.1").await;
    assert!(
        h.s.login_totp(&ticket, &code, &meta("192.0.2.1"))
            .await
            .is_err(),
        "the confirming code is used up"
    );
    h.clock.advance(MIN);
    let later = code_at(&offer.secret_base32, h.secs()).expect("code");
    let ticket = h.ticket("erin", "192.0.2.1").await;
    h.s.login_totp(&ticket, &later, &meta("192.0.2.1"))
        .await
        .expect("a later code logs in");
    let events = h.s.db.events_of_user(user.id, 50).await.expect("events");
    for action in ["account:2fa:totp:add", "account:2fa:confirmed"] {
        let ev = events
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("no {action}: {events:?}"));
        assert_eq!(ev.actor_name.as_deref(), Some("cli:root"), "{action}");
    }
    assert_eq!(
        h.mail_count("erin@example.org", "Two-factor authentication is on")
            .await,
        1
    );
    assert_eq!(
        h.mail_count("erin@example.org", "Confirm two-factor").await,
        0,
        "no mailed confirmation: the operator vouched for the address"
    );
}
