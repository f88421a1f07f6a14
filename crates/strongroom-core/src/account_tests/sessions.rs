//! Sessions, re-authentication, password changes, web token rules and upload permissions.

use super::*;

#[tokio::test]
async fn sensitive_changes_need_a_recent_reauthentication() {
    let h = harness(false).await;
    let s = h.user("alice").await;
    h.clock.advance(11 * MIN);
    let info = h.session(&s).await;
    assert!(h.s.needs_reauth(&info));
    let r =
        h.s.add_email(&info, "alice2@example.org", &meta("192.0.2.1"))
            .await;
    assert!(matches!(r, Err(CoreError::ReauthRequired)), "{r:?}");
    assert!(
        h.s.reauthenticate(&info, "wrong password", &meta("192.0.2.1"))
            .await
            .is_err()
    );
    h.s.reauthenticate(&info, PW, &meta("192.0.2.1"))
        .await
        .expect("reauth");
    let info = h.session(&s).await;
    assert!(!h.s.needs_reauth(&info));
    h.s.add_email(&info, "alice2@example.org", &meta("192.0.2.1"))
        .await
        .expect("add");
    assert_eq!(h.mail_count("alice2@example.org", "Verify").await, 1);
    assert_eq!(
        h.mail_count("alice@example.org", "was added").await,
        1,
        "the old address is told"
    );
}

#[tokio::test]
async fn a_failed_reauthentication_from_a_session_is_logged_with_its_source() {
    let h = harness(false).await;
    let s = h.user("alice").await;
    h.clock.advance(11 * MIN);
    let info = h.session(&s).await;
    let failed = || async {
        h.s.db
            .events(0, 10_000)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.action == "account:reauthenticate:failed")
            .collect::<Vec<_>>()
    };
    for _ in 0..3 {
        let r =
            h.s.reauthenticate(&info, "wrong password", &meta("198.51.100.4"))
                .await;
        assert!(matches!(r, Err(CoreError::Forbidden(_))), "{r:?}");
    }
    // The first in the window is logged, the other two counted.
    let events = failed().await;
    assert_eq!(events.len(), 1, "{events:?}");
    for e in &events {
        assert_eq!(e.actor_name.as_deref(), Some("alice"));
        assert_eq!(e.ip.as_deref(), Some("198.51.100.4"));
        assert_eq!(e.user_agent.as_deref(), Some("test-browser"));
        assert!(!e.details.contains("wrong password"), "no secret logged");
        let d: serde_json::Value = serde_json::from_str(&e.details).expect("json");
        assert_eq!(d["session_id"], info.id, "{d}");
    }
    // A success logs no failure (and gives its place back).
    h.s.reauthenticate(&info, PW, &meta("198.51.100.4"))
        .await
        .expect("reauth");
    assert_eq!(failed().await.len(), 1);
}

#[tokio::test]
async fn failed_reauthentications_end_their_session_and_never_lock_the_owners_login() {
    let h = harness(false).await;
    let owner = h.user("alice").await;
    let (seed, _) = h.with_totp(&owner).await;
    // The thief's session: signed in a while ago, so the prompt asks for the password.
    let stolen = h.s.session(&owner).await.expect("get").expect("live");
    h.clock.advance(11 * MIN);
    let thief = meta("203.0.113.9");
    let n = crate::sessions::REAUTH_FAILURES_PER_SESSION;
    // An empty answer is refused without counting.
    for _ in 0..(2 * n) {
        let r = h.s.reauthenticate(&stolen, "", &thief).await;
        assert!(matches!(r, Err(CoreError::Invalid(_))), "{r:?}");
    }
    for i in 1..=n {
        assert!(
            h.s.session(&owner).await.expect("get").is_some(),
            "alive before failure {i}"
        );
        let r =
            h.s.reauthenticate(&stolen, &format!("wrong{i}"), &thief)
                .await;
        assert!(matches!(r, Err(CoreError::Forbidden(_))), "{r:?}");
    }
    assert!(
        h.s.session(&owner).await.expect("get").is_none(),
        "the session that failed {n} times is ended"
    );
    // Even the right password no longer revives it.
    assert!(h.s.reauthenticate(&stolen, PW, &thief).await.is_err());
    let ended = h.s.db.events(0, 10_000).await.expect("events");
    let ended: Vec<_> = ended
        .iter()
        .filter(|e| e.action == "account:session:end" && e.details.contains("reauthenticate"))
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].actor_name.as_deref(), Some("alice"));
    assert_eq!(ended[0].ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(ended[0].user_agent.as_deref(), Some("test-browser"));
    assert!(!ended[0].details.contains("wrong"), "no secret logged");
    assert_eq!(
        h.mail_count("alice@example.org", "session was ended").await,
        1
    );
    // The owner signs in at once with password and code: nothing the thief did counts there.
    h.clock.advance(30_000_000);
    let ticket = h.ticket("alice", "192.0.2.1").await;
    let code = code_at(&seed, h.secs()).expect("code");
    h.s.login_totp(&ticket, &code, &meta("192.0.2.1"))
        .await
        .expect("the owner's login is not locked");
}

#[tokio::test]
async fn sessions_time_out_idle_and_absolute_and_end_on_logout() {
    let h = harness(false).await;
    let s = h.user("alice").await;
    h.clock.advance(12 * 60 * MIN - MIN);
    assert!(
        h.s.session(&s).await.expect("get").is_some(),
        "just inside the idle timeout"
    );
    h.clock.advance(12 * 60 * MIN);
    assert!(
        h.s.session(&s).await.expect("get").is_none(),
        "idle timeout"
    );
    // Absolute: active every 11 hours, still ended after 14 days.
    let s = match h
        .s
        .login_password("alice", PW, &meta("192.0.2.1"))
        .await
        .expect("login")
    {
        LoginStep::Done(g) => g.secret,
        other => panic!("{other:?}"),
    };
    for _ in 0..40 {
        h.clock.advance(11 * 60 * MIN);
        if h.s.session(&s).await.expect("get").is_none() {
            break;
        }
    }
    let created =
        h.s.db
            .session_by_hash(&hash_token(&s))
            .await
            .expect("get")
            .expect("row")
            .created_at;
    let age = h.s.now() - created;
    assert!(
        (14 * 24 * 60 * MIN..=14 * 24 * 60 * MIN + 11 * 60 * MIN).contains(&age),
        "ended by the absolute timeout, not before: {age}"
    );
    assert!(h.s.session(&s).await.expect("get").is_none());
    let s = match h
        .s
        .login_password("alice", PW, &meta("192.0.2.1"))
        .await
        .expect("login")
    {
        LoginStep::Done(g) => g.secret,
        other => panic!("{other:?}"),
    };
    h.s.logout(&s, &meta("192.0.2.1")).await.expect("logout");
    assert!(
        h.s.session(&s).await.expect("get").is_none(),
        "a replayed cookie is anonymous"
    );
}

#[tokio::test]
async fn password_change_keeps_this_session_and_ends_the_others_and_every_token() {
    let h = harness(false).await;
    let s1 = h.user("alice").await;
    let s2 = match h
        .s
        .login_password("alice", PW, &meta("198.51.100.7"))
        .await
        .expect("login")
    {
        LoginStep::Done(g) => g.secret,
        other => panic!("{other:?}"),
    };
    let token =
        h.s.create_token("alice", "ci", None, None, &meta("192.0.2.1"))
            .await
            .expect("token");
    h.s.authenticate_upload(&Credentials::Token(token.clone()), &meta("192.0.2.1"))
        .await
        .expect("a live token works");
    let used = h.s.db.events(0, 1000).await.expect("events");
    assert!(
        used.iter()
            .any(|e| e.action == "token:use" && e.ip.as_deref() == Some("192.0.2.1")),
        "every use is logged"
    );
    let info = h.session(&s1).await;
    let r =
        h.s.change_password(
            &info,
            "wrong old password",
            "another fine long passphrase",
            &meta("192.0.2.1"),
        )
        .await;
    assert!(r.is_err());
    h.s.change_password(
        &info,
        PW,
        "another fine long passphrase",
        &meta("192.0.2.1"),
    )
    .await
    .expect("change");
    assert!(
        h.s.session(&s1).await.expect("get").is_some(),
        "current session kept"
    );
    assert!(
        h.s.session(&s2).await.expect("get").is_none(),
        "other session ended"
    );
    let r =
        h.s.authenticate_upload(&Credentials::Token(token), &meta("203.0.113.9"))
            .await;
    assert!(r.is_err(), "tokens revoked");
    // The old token tried after the change is evidence: logged with where it came from.
    let events = h.s.db.events(0, 1000).await.expect("events");
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.action == "token:use:refused")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].ip.as_deref(), Some("203.0.113.9"));
    assert!(
        refused[0].details.contains("\"why\":\"revoked\""),
        "{}",
        refused[0].details
    );
    assert!(
        !refused[0].details.contains("strongroom-"),
        "no secret in the log"
    );
    assert_eq!(
        h.mail_count("alice@example.org", "Your password was changed")
            .await,
        1
    );
    let weak =
        h.s.change_password(
            &h.session(&s1).await,
            "another fine long passphrase",
            "alice12345",
            &meta("192.0.2.1"),
        )
        .await;
    assert!(matches!(weak, Err(CoreError::Invalid(_))), "{weak:?}");
}

#[tokio::test]
async fn uploads_need_a_verified_primary_address_and_2fa_when_required() {
    let h = harness(true).await;
    let principal = |name: &'static str| {
        let s = &h.s;
        async move {
            let secret = s
                .create_token(name, "ci", None, None, &meta("192.0.2.1"))
                .await
                .expect("token");
            s.authenticate_upload(&Credentials::Token(secret), &meta("192.0.2.1"))
                .await
                .expect("token works")
        }
    };
    // CLI-made: verified address, no 2FA.
    h.s.create_user("cli", "cli@example.org", PW, false, &meta("192.0.2.1"))
        .await
        .expect("cli user");
    let r = h.s.check_uploader(&principal("cli").await).await;
    assert!(
        is_forbidden(
            &r,
            "User 'cli' does not have two-factor authentication enabled"
        ),
        "{r:?}"
    );
    // Registered by an older version, never verified.
    crate::test_harness::legacy_unverified(&h.s, "fresh", "fresh@example.org").await;
    let r = h.s.check_uploader(&principal("fresh").await).await;
    assert!(
        is_forbidden(
            &r,
            "User 'fresh' does not have a verified primary email address"
        ),
        "{r:?}"
    );
    // Verified, with 2FA pending confirmation: still refused; confirmed: allowed.
    let s = h.user("alice").await;
    let info = h.session(&s).await;
    let enrol = h.s.totp_begin(&info).expect("begin");
    let code = code_at(&enrol.secret_base32, h.secs()).expect("code");
    h.s.totp_confirm(&info, &enrol.secret_base32, &code, &meta("192.0.2.1"))
        .await
        .expect("confirm");
    let p = principal("alice").await;
    assert!(is_forbidden(&h.s.check_uploader(&p).await, "two-factor"));
    let t = h
        .mailed_token("alice@example.org", "Confirm two-factor")
        .await;
    h.s.confirm_2fa_email(&t, &meta("192.0.2.1"))
        .await
        .expect("confirm mail");
    h.s.check_uploader(&p)
        .await
        .expect("2FA on: uploads allowed");

    let h = harness(false).await;
    h.s.create_user("cli", "cli@example.org", PW, false, &meta("192.0.2.1"))
        .await
        .expect("cli user");
    let secret =
        h.s.create_token("cli", "ci", None, None, &meta("192.0.2.1"))
            .await
            .expect("token");
    let p =
        h.s.authenticate_upload(&Credentials::Token(secret), &meta("192.0.2.1"))
            .await
            .expect("token works");
    h.s.check_uploader(&p).await.expect("require_2fa off");
}

#[tokio::test]
async fn web_tokens_need_a_recent_reauthentication() {
    let h = harness(false).await;
    let s = h.user("alice").await;
    let info = h.session(&s).await;
    let uid = info.user.id;
    // The login itself is a proof of identity: a token right after it needs nothing more.
    h.s.create_token_for_session(&info, "first", None, None, &meta("192.0.2.1"))
        .await
        .expect("fresh login");
    h.clock.advance(11 * MIN);
    let info = h.session(&s).await;
    let r =
        h.s.create_token_for_session(&info, "ci", None, None, &meta("192.0.2.1"))
            .await;
    assert!(matches!(r, Err(CoreError::ReauthRequired)), "{r:?}");
    assert_eq!(
        h.s.tokens_of(uid).await.expect("tokens").len(),
        1,
        "nothing created"
    );
    h.s.reauthenticate(&info, PW, &meta("192.0.2.1"))
        .await
        .expect("reauth");
    let info = h.session(&s).await;
    let secret =
        h.s.create_token_for_session(&info, "ci", None, None, &meta("192.0.2.1"))
            .await
            .expect("allowed after re-auth");
    assert!(secret.starts_with(crate::tokens::TOKEN_PREFIX));
    assert_eq!(h.s.tokens_of(uid).await.expect("tokens").len(), 2);
}

#[tokio::test]
async fn web_tokens_need_a_verified_address_and_2fa_when_required() {
    let h = harness(true).await;
    // Registered by an older version, never verified.
    crate::test_harness::legacy_unverified(&h.s, "fresh", "fresh@example.org").await;
    let fresh = match h
        .s
        .login_password("fresh", PW, &meta("192.0.2.1"))
        .await
        .expect("login")
    {
        LoginStep::Done(g) | LoginStep::EnrolTwoFactor(g) => h.session(&g.secret).await,
        LoginStep::NeedTwoFactor { .. } => panic!("no 2FA yet"),
    };
    let r =
        h.s.create_token_for_session(&fresh, "ci", None, None, &meta("192.0.2.1"))
            .await;
    assert!(
        is_forbidden(&r, crate::tokens::TOKEN_NEEDS_VERIFIED_EMAIL),
        "{r:?}"
    );
    // Verified, no 2FA: refused; the CLI (an administrator) may still make one.
    let s = h.user("alice").await;
    let info = h.session(&s).await;
    let r =
        h.s.create_token_for_session(&info, "ci", None, None, &meta("192.0.2.1"))
            .await;
    assert!(is_forbidden(&r, crate::tokens::TOKEN_NEEDS_2FA), "{r:?}");
    assert!(
        h.s.tokens_of(info.user.id)
            .await
            .expect("tokens")
            .is_empty()
    );
    // 2FA confirmed (still within the login's re-auth window): allowed.
    h.with_totp(&s).await;
    let info = h.session(&s).await;
    h.s.create_token_for_session(&info, "ci", None, None, &meta("192.0.2.1"))
        .await
        .expect("verified address and 2FA");
    assert_eq!(h.s.tokens_of(info.user.id).await.expect("tokens").len(), 1);
}
