//! Password reset, login rate limits, breached passwords and new-device mail.

use super::*;

#[tokio::test]
async fn reset_links_are_hashed_single_use_and_die_on_later_login_or_password_change() {
    let h = harness(true).await;
    let s = h.user("alice").await;
    let (seed, _) = h.with_totp(&s).await;
    h.s.request_password_reset("alice", &meta("192.0.2.9"))
        .await
        .expect("request");
    let t = h.mailed_token("alice@example.org", "Reset").await;
    // Only the hash is stored, and lookups go through the hash.
    assert!(h.s.db.email_token_by_hash(&t).await.expect("get").is_none());
    assert!(
        h.s.db
            .email_token_by_hash(&hash_token(&t))
            .await
            .expect("get")
            .is_some()
    );
    let mut wrong = t.clone();
    wrong.pop();
    wrong.push(if t.ends_with('A') { 'B' } else { 'A' });
    assert!(
        h.s.reset_password(&wrong, "a brand new long passphrase", &meta("192.0.2.9"))
            .await
            .is_err()
    );
    // A later login kills it.
    h.clock.advance(MIN);
    let ticket = h.ticket("alice", "192.0.2.1").await;
    h.s.login_totp(
        &ticket,
        &code_at(&seed, h.secs()).expect("c"),
        &meta("192.0.2.1"),
    )
    .await
    .expect("login");
    let r =
        h.s.reset_password(&t, "a brand new long passphrase", &meta("192.0.2.9"))
            .await;
    assert!(
        matches!(r, Err(CoreError::Invalid(_))),
        "dead after a login: {r:?}"
    );
    // A fresh one works once, and the next login still asks for the second factor.
    h.clock.advance(MIN);
    h.s.request_password_reset("alice@example.org", &meta("192.0.2.9"))
        .await
        .expect("request");
    let t = h.mailed_token("alice@example.org", "Reset").await;
    assert!(
        h.s.reset_password(&t, "password", &meta("192.0.2.9"))
            .await
            .is_err(),
        "weak refused"
    );
    h.s.reset_password(&t, "a brand new long passphrase", &meta("192.0.2.9"))
        .await
        .expect("reset");
    assert!(
        h.s.reset_password(&t, "yet another long passphrase", &meta("192.0.2.9"))
            .await
            .is_err(),
        "single use"
    );
    assert!(
        h.s.session(&s).await.expect("get").is_none(),
        "reset ends every session"
    );
    match h
        .s
        .login_password("alice", "a brand new long passphrase", &meta("192.0.2.1"))
        .await
        .expect("login")
    {
        LoginStep::NeedTwoFactor { .. } => {}
        other => panic!("reset must not bypass 2FA: {other:?}"),
    }
    // A link issued before a password change is dead too.
    h.clock.advance(MIN);
    h.s.request_password_reset("alice", &meta("192.0.2.9"))
        .await
        .expect("request");
    let t = h.mailed_token("alice@example.org", "Reset").await;
    let ticket = h.ticket_with("alice", "a brand new long passphrase").await;
    h.clock.advance(30_000_000);
    let g =
        h.s.login_totp(
            &ticket,
            &code_at(&seed, h.secs()).expect("c"),
            &meta("192.0.2.1"),
        )
        .await
        .expect("login");
    let _ = t;
    h.clock.advance(MIN);
    h.s.request_password_reset("alice", &meta("192.0.2.9"))
        .await
        .expect("request");
    let t2 = h.mailed_token("alice@example.org", "Reset").await;
    let info = h.session(&g.secret).await;
    h.s.change_password(
        &info,
        "a brand new long passphrase",
        "the fourth long passphrase",
        &meta("192.0.2.1"),
    )
    .await
    .expect("change");
    assert!(
        h.s.reset_password(&t2, "a fifth long passphrase here", &meta("192.0.2.9"))
            .await
            .is_err(),
        "dead after a password change"
    );
}

#[tokio::test]
async fn reset_requests_answer_the_same_and_mail_only_verified_addresses() {
    let h = harness(false).await;
    h.user("alice").await;
    h.s.request_password_reset("nobody", &meta("192.0.2.9"))
        .await
        .expect("unknown: same answer");
    h.s.request_password_reset("nobody@example.org", &meta("192.0.2.9"))
        .await
        .expect("unknown: same answer");
    // Registered but never verified: no reset mail.
    h.s.register("bob", "bob@example.org", PW, &meta("192.0.2.2"))
        .await
        .expect("register");
    h.s.request_password_reset("bob", &meta("192.0.2.9"))
        .await
        .expect("same answer");
    assert_eq!(h.mail_count("bob@example.org", "Reset").await, 0);
    h.s.request_password_reset("alice", &meta("192.0.2.9"))
        .await
        .expect("known");
    assert_eq!(h.mail_count("alice@example.org", "Reset").await, 1);
    // The limit applies to unknown names exactly as to known ones.
    for _ in 0..4 {
        h.s.request_password_reset("nobody", &meta("192.0.2.9"))
            .await
            .expect("within the limit");
    }
    assert!(matches!(
        h.s.request_password_reset("nobody", &meta("192.0.2.9"))
            .await,
        Err(CoreError::TooMany { .. })
    ));
}

#[tokio::test]
async fn login_is_rate_limited_per_user_and_per_ip_including_unknown_names() {
    let h = harness(false).await;
    h.user("alice").await;
    for _ in 0..10 {
        let r =
            h.s.login_password("alice", "wrong password!", &meta("203.0.113.1"))
                .await;
        assert!(is_forbidden(&r, BAD_CREDENTIALS), "{r:?}");
    }
    match h.s.login_password("alice", PW, &meta("203.0.113.2")).await {
        Err(CoreError::TooMany {
            retry_after_secs,
            message,
        }) => {
            assert!((1..=300).contains(&retry_after_secs), "{retry_after_secs}");
            assert!(message.contains("Try again in"), "{message}");
        }
        other => panic!("locked out even with the right password: {other:?}"),
    }
    h.clock.advance(5 * MIN + 1);
    assert!(
        h.s.login_password("alice", PW, &meta("203.0.113.2"))
            .await
            .is_ok(),
        "window passed"
    );
    // Unknown usernames count toward the IP's limit.
    for i in 0..10 {
        let r =
            h.s.login_password(&format!("ghost{i}"), "whatever pw", &meta("203.0.113.3"))
                .await;
        assert!(is_forbidden(&r, BAD_CREDENTIALS));
    }
    let r = h.s.login_password("alice", PW, &meta("203.0.113.3")).await;
    assert!(matches!(r, Err(CoreError::TooMany { .. })), "{r:?}");
    // Failures are logged, but a typed unknown name (maybe a password) is not.
    let events = h.s.db.events(0, 1000).await.expect("events");
    let failures: Vec<_> = events
        .iter()
        .filter(|e| e.action == "account:login:failure")
        .collect();
    // One per source and window (alice's account; the address for the unknown names), the
    // rest counted into the windows' `refusal:counted` events when they close.
    assert_eq!(failures.len(), 2);
    h.clock.advance(crate::refusal_log::WINDOW_MINUTES * MIN);
    h.s.close_refusal_windows().await.expect("close");
    let counted: i64 =
        h.s.db
            .events(0, 1000)
            .await
            .expect("events")
            .iter()
            .filter(|e| e.action == crate::refusal_log::COUNTED)
            .map(|e| {
                let d: serde_json::Value = serde_json::from_str(&e.details).expect("json");
                assert_eq!(d["action"], "account:login:failure", "{d}");
                d["count"].as_i64().expect("count")
            })
            .sum();
    assert_eq!(counted, 20, "every failure is counted");
    assert!(
        failures
            .iter()
            .all(|e| e.subject_name.as_deref().is_none_or(|n| n == "alice"))
    );
    assert!(
        events
            .iter()
            .all(|e| !e.details.contains("ghost") && !e.details.contains("wrong password"))
    );
}

#[tokio::test]
async fn breached_passwords_are_refused_on_registration_and_disabled_at_login() {
    let h = harness(false).await;
    let r =
        h.s.register("carol", "carol@example.org", BREACHED, &meta("192.0.2.1"))
            .await;
    assert!(
        matches!(r, Err(CoreError::Invalid(ref m)) if m.contains("breach")),
        "{r:?}"
    );
    // An account whose password was fine then but is breached now.
    h.s.create_user(
        "dave",
        "dave@example.org",
        BREACHED,
        false,
        &meta("192.0.2.1"),
    )
    .await
    .expect("cli user");
    let r =
        h.s.login_password("dave", BREACHED, &meta("192.0.2.1"))
            .await;
    assert!(is_forbidden(&r, PASSWORD_COMPROMISED), "{r:?}");
    let u =
        h.s.db
            .user_by_name("dave")
            .await
            .expect("get")
            .expect("dave");
    assert_eq!(u.password_disabled.as_deref(), Some("compromised"));
    assert_eq!(
        h.mail_count("dave@example.org", "found in a breach").await,
        1
    );
    let r =
        h.s.login_password("dave", BREACHED, &meta("192.0.2.1"))
            .await;
    assert!(
        is_forbidden(&r, PASSWORD_COMPROMISED),
        "stays refused until reset: {r:?}"
    );
    let t = h
        .mailed_token("dave@example.org", "found in a breach")
        .await;
    h.s.reset_password(&t, "a strong and unbreached phrase", &meta("192.0.2.1"))
        .await
        .expect("reset");
    assert!(
        h.s.login_password("dave", "a strong and unbreached phrase", &meta("192.0.2.1"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_login_from_a_new_device_mails_a_link_that_freezes_the_account() {
    let h = harness(false).await;
    h.user("alice").await;
    let token =
        h.s.create_token("alice", "ci", None, None, &meta("192.0.2.1"))
            .await
            .expect("token");
    assert_eq!(
        h.mail_count("alice@example.org", "New login").await,
        0,
        "the first login is not news"
    );
    let attacker = match h
        .s
        .login_password("alice", PW, &meta("198.51.100.66"))
        .await
        .expect("login")
    {
        LoginStep::Done(g) => g.secret,
        other => panic!("{other:?}"),
    };
    assert_eq!(h.mail_count("alice@example.org", "New login").await, 1);
    let t = h.mailed_token("alice@example.org", "New login").await;
    h.s.freeze_from_mail(&t, &meta("192.0.2.1"))
        .await
        .expect("freeze");
    assert!(
        h.s.session(&attacker).await.expect("get").is_none(),
        "sessions ended"
    );
    assert!(
        h.s.authenticate_upload(&Credentials::Token(token), &meta("192.0.2.1"))
            .await
            .is_err(),
        "tokens ended"
    );
    let r =
        h.s.login_password("alice", PW, &meta("198.51.100.66"))
            .await;
    assert!(is_forbidden(&r, "frozen"), "{r:?}");
    assert!(
        h.s.freeze_from_mail(&t, &meta("192.0.2.1")).await.is_err(),
        "single use"
    );
}
