//! The answer that never tells a taken address from a free one: the same page and mail for
//! both, bounded mails to the owner, disguised forms of a taken address, an address added and
//! never verified; and the verified address registration by address needs before an account
//! acts.

use crate::registration::{Registration, USERNAME_TAKEN};
use crate::settings::hours;
use crate::test_harness::{Harness, PW, is_forbidden};
use crate::tokens::{Credentials, TOKEN_NEEDS_VERIFIED_EMAIL};
use crate::{CoreError, LoginStep, RequestMeta};

use super::*;

#[tokio::test]
async fn a_taken_address_gets_the_same_answer_and_its_owner_is_mailed() {
    let h = harness(Registration::Open).await;
    h.s.create_user("alice", "alice@example.org", PW, false, &meta())
        .await
        .expect("alice");
    // Checks before the branch answer alike: a weak password is refused for both addresses.
    for addr in ["alice@example.org", "free@example.org"] {
        let r = h.s.register("mallory", addr, "password", &meta()).await;
        assert!(matches!(r, Err(CoreError::Invalid(_))), "{addr}: {r:?}");
    }
    // Taken (in another case) and free: both Ok(()), and nothing else to tell them apart.
    h.s.register("mallory", "ALICE@example.org", PW, &meta())
        .await
        .expect("taken: the same answer");
    h.s.register("frank", "free@example.org", PW, &meta())
        .await
        .expect("free");
    assert!(!user_exists(&h, "mallory").await, "nothing created");
    assert!(!user_exists(&h, "frank").await, "not before the link");
    confirm(&h, "free@example.org").await;
    assert!(user_exists(&h, "frank").await);
    // Both usernames are reserved alike: a second try tells nothing about the addresses.
    for name in ["mallory", "frank"] {
        let r = h.s.register(name, "third@example.org", PW, &meta()).await;
        assert!(
            matches!(&r, Err(CoreError::Conflict(m)) if m == USERNAME_TAKEN),
            "{name}: {r:?}"
        );
    }
    // The owner hears of it, by name; no verification link goes to the taken address.
    let told = h
        .mails(
            "alice@example.org",
            "Someone tried to use your email address",
        )
        .await;
    assert_eq!(told.len(), 1);
    assert!(
        told[0].contains("your account alice") && told[0].contains("/account/forgot-password/")
    );
    assert!(h.mails("alice@example.org", "Verify").await.is_empty());
    let ev = h.event_details("account:register:address_taken").await;
    assert_eq!(
        (ev[0]["email"].as_str(), ev[0]["mailed"].as_bool()),
        (Some("ALICE@example.org"), Some(true))
    );
    // A username is public: a taken one is said plainly, whatever the address.
    for addr in ["alice@example.org", "another@example.org"] {
        let r = h.s.register("Alice", addr, PW, &meta()).await;
        assert!(
            matches!(&r, Err(CoreError::Conflict(m)) if m == USERNAME_TAKEN),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn taken_address_mails_are_bounded_and_skip_addresses_a_domain_check_unverified() {
    let h = Harness::with(|_, s| {
        s.registration = Registration::Open;
        s.rate_limits = true;
    })
    .await;
    h.s.create_user("alice", "alice@example.org", PW, false, &meta())
        .await
        .expect("alice");
    for i in 0..5 {
        let m = RequestMeta {
            ip: Some(format!("198.51.100.{i}")),
            ..meta()
        };
        h.s.register(&format!("m{i}"), "alice@example.org", PW, &m)
            .await
            .expect("always the same answer");
    }
    assert_eq!(
        h.mails("alice@example.org", "Someone tried").await.len(),
        3,
        "three a day at most"
    );
    // The primary address of an account an older version registered and nobody verified: told
    // without naming the account.
    crate::test_harness::legacy_unverified(&h.s, "squatter", "victim@example.org").await;
    h.s.register(
        "victim",
        "victim@example.org",
        PW,
        &RequestMeta {
            ip: Some("203.0.113.1".into()),
            ..meta()
        },
    )
    .await
    .expect("same answer");
    let told = h.mails("victim@example.org", "Someone tried").await;
    assert!(told.len() == 1 && !told[0].contains("squatter"), "{told:?}");
    // An address a domain check took the verification from: its domain may be someone else's
    // now (the `ctx` door), so it hears nothing; the answer is still the same.
    let lapsed =
        h.s.create_user("lapsed", "owner@lapsed.example", PW, false, &meta())
            .await
            .expect("lapsed");
    let e = h.s.db.emails_of(lapsed.id).await.expect("emails").remove(0);
    let mut tx = h.s.db.begin_account().await.expect("begin");
    assert!(
        tx.unverify_email(e.id, e.verified_at.expect("verified"), "expired", h.s.now())
            .await
            .expect("unverify")
    );
    tx.commit(&[], &[]).await.expect("commit");
    h.s.register(
        "newowner",
        "owner@lapsed.example",
        PW,
        &RequestMeta {
            ip: Some("203.0.113.2".into()),
            ..meta()
        },
    )
    .await
    .expect("same answer");
    assert!(
        h.mails("owner@lapsed.example", "Someone tried")
            .await
            .is_empty()
    );
    assert!(!user_exists(&h, "newowner").await);
}

#[tokio::test]
async fn adding_an_address_another_account_has_answers_as_for_a_free_one() {
    let h = harness(Registration::Open).await;
    h.s.create_user("alice", "alice@example.org", PW, false, &meta())
        .await
        .expect("alice");
    let bob =
        h.s.create_user("bob", "bob@example.org", PW, false, &meta())
            .await
            .expect("bob");
    let secret = match h.s.login_password("bob", PW, &meta()).await.expect("login") {
        LoginStep::Done(g) | LoginStep::EnrolTwoFactor(g) => g.secret,
        LoginStep::NeedTwoFactor { .. } => panic!("no 2FA"),
    };
    let info = h.s.session(&secret).await.expect("session").expect("live");
    h.s.add_email(&info, "Alice@example.org", &meta())
        .await
        .expect("taken: the same answer");
    h.s.add_email(&info, "bob2@example.org", &meta())
        .await
        .expect("free");
    let addrs: Vec<String> =
        h.s.db
            .emails_of(bob.id)
            .await
            .expect("emails")
            .into_iter()
            .map(|e| e.address)
            .collect();
    assert_eq!(addrs, vec!["bob@example.org", "bob2@example.org"]);
    let told = h.mails("alice@example.org", "Someone tried").await;
    assert!(
        told.len() == 1 && told[0].contains("add it to another account"),
        "{told:?}"
    );
    // Their own address again: said plainly (nothing to hide from its owner).
    let r = h.s.add_email(&info, "BOB@example.org", &meta()).await;
    assert!(matches!(r, Err(CoreError::Invalid(m)) if m.contains("already on your account")));
    assert!(h.mails("Alice@example.org", "Verify").await.is_empty());
    assert_eq!(h.event_details("account:email:add_taken").await.len(), 1);
}

#[tokio::test]
async fn registration_by_address_needs_the_address_verified_before_tokens_and_uploads() {
    let h = Harness::with(|_, s| {
        s.registration = domains(&["example.org"]);
        s.require_2fa = false;
    })
    .await;
    // Registered by an older version, which made the account before the address was proven.
    let typo =
        crate::test_harness::legacy_unverified(&h.s, "typo", "someone.else@example.org").await;
    let secret = match h
        .s
        .login_password("typo", PW, &meta())
        .await
        .expect("login")
    {
        LoginStep::Done(g) | LoginStep::EnrolTwoFactor(g) => g.secret,
        LoginStep::NeedTwoFactor { .. } => panic!("no 2FA"),
    };
    let info = h.s.session(&secret).await.expect("session").expect("live");
    let r =
        h.s.create_token_for_session(&info, "ci", None, None, &meta())
            .await;
    assert!(is_forbidden(&r, TOKEN_NEEDS_VERIFIED_EMAIL), "{r:?}");
    // A token made another way (the CLI) does not upload either.
    let t =
        h.s.create_token("typo", "cli", None, None, &meta())
            .await
            .expect("cli token");
    let p =
        h.s.authenticate_upload(&Credentials::Token(t), &meta())
            .await
            .expect("token");
    let r = h.s.check_uploader(&p).await;
    assert!(
        is_forbidden(&r, "does not have a verified primary email address"),
        "{r:?}"
    );
    // Verified: both work.
    let e = h.s.db.emails_of(typo.id).await.expect("emails").remove(0);
    h.s.resend_verification(typo.id, e.id, &meta())
        .await
        .expect("resend");
    let v = h.token_in_mail("someone.else@example.org", "Verify").await;
    h.s.verify_email(&v, &meta()).await.expect("verify");
    h.s.check_uploader(&p).await.expect("verified: uploads");
    // In open mode without require_2fa nothing changes from before.
    let open = with_mode(&h.s, Registration::Open);
    open.register("plain", "plain@elsewhere.test", PW, &meta())
        .await
        .expect("open");
    confirm(&h, "plain@elsewhere.test").await;
    let t = open
        .create_token("plain", "cli", None, None, &meta())
        .await
        .expect("token");
    let p = open
        .authenticate_upload(&Credentials::Token(t), &meta())
        .await
        .expect("token");
    open.check_uploader(&p)
        .await
        .expect("open mode keeps the old rule");
}

#[tokio::test]
async fn a_disguised_form_of_a_taken_address_is_the_taken_address() {
    let h = harness(Registration::Open).await;
    h.s.create_user("alice", "alice@example.org", PW, false, &meta())
        .await
        .expect("alice");
    for (i, typed) in [
        "alice@\u{ff45}xample.org",
        "alice@exa\u{ad}mple.org",
        "alice@example\u{3002}org",
    ]
    .iter()
    .enumerate()
    {
        h.s.register(&format!("m{i}"), typed, PW, &meta())
            .await
            .expect("the same answer");
        assert!(h.mails(typed, "Verify").await.is_empty(), "{typed:?}");
    }
    assert!(h.mails("alice@example.org", "Verify").await.is_empty());
    assert_eq!(h.mails("alice@example.org", "Someone tried").await.len(), 3);
    let r =
        h.s.create_user("bob", "ALICE@\u{ff45}xample.org", PW, false, &meta())
            .await;
    assert!(
        r.is_err(),
        "the CLI refuses the same address in disguise: {r:?}"
    );
}

#[tokio::test]
async fn an_address_added_but_never_verified_expires_and_never_blocks_the_real_owner() {
    let h = harness(Registration::Open).await;
    let bob =
        h.s.create_user("bob", "bob@example.org", PW, false, &meta())
            .await
            .expect("bob");
    let secret = match h.s.login_password("bob", PW, &meta()).await.expect("login") {
        LoginStep::Done(g) | LoginStep::EnrolTwoFactor(g) => g.secret,
        LoginStep::NeedTwoFactor { .. } => panic!("no 2FA"),
    };
    let info = h.s.session(&secret).await.expect("session").expect("live");
    // bob claims two colleagues' addresses without being able to verify them
    for addr in ["carol@example.org", "dave@example.org"] {
        h.s.add_email(&info, addr, &meta()).await.expect("add");
    }
    // the claim blocks neither an invitation nor the owner's own registration
    h.s.invite_user(&root(), "carol@example.org", None, "hire", &meta())
        .await
        .expect("a claim does not block an invitation");
    h.s.register("carol", "carol@example.org", PW, &meta())
        .await
        .expect("register");
    let carol_link = h
        .mails("carol@example.org", "Verify")
        .await
        .into_iter()
        .find(|b| b.contains("/account/verify-email/"))
        .expect("carol gets a link, as for a free address");
    assert!(!carol_link.is_empty());
    confirm(&h, "carol@example.org").await;
    assert!(
        user_exists(&h, "carol").await,
        "the proof overrides the claim"
    );
    let left: Vec<String> =
        h.s.db
            .emails_of(bob.id)
            .await
            .expect("emails")
            .into_iter()
            .map(|e| e.address)
            .collect();
    assert_eq!(left, vec!["bob@example.org", "dave@example.org"]);
    assert_eq!(
        h.event_details("account:email:claim_released").await.len(),
        1
    );
    // the other claim expires
    h.clock
        .advance(hours(h.s.settings.unverified_address_hours) + 1);
    h.s.run_jobs().await.expect("jobs");
    let left: Vec<String> =
        h.s.db
            .emails_of(bob.id)
            .await
            .expect("emails")
            .into_iter()
            .map(|e| e.address)
            .collect();
    assert_eq!(
        left,
        vec!["bob@example.org"],
        "a verified address never expires"
    );
    assert_eq!(
        h.event_details("account:email:expired").await[0]["email"],
        "dave@example.org"
    );
}
