//! Registration, end to end through `Services` on SQLite with a hand-moved clock: every mode
//! (the default `closed`, `open`, `domains`, `invite` with admin links), the answer that never
//! tells a taken address from a free one (verify-first: the account is made only when the link
//! mailed to the address is followed, and the username is reserved either way), and the verified
//! address that registration by address needs before an account acts. Every test names the rule
//! it pins.

use std::sync::Arc;

use crate::registration::{CLOSED, INVITE_ONLY, RegisterPage, Registration, USERNAME_TAKEN};
use crate::registration_invites::{EXPIRED, INVALID, InviteState, OTHER_ADDRESS, REVOKED, USED};
use crate::settings::hours;
use crate::test_harness::{Harness, PW, is_forbidden};
use crate::tokens::{Credentials, TOKEN_NEEDS_VERIFIED_EMAIL};
use crate::{Actor, CoreError, LoginStep, RequestMeta, Services, Settings};

fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("198.51.100.7".into()),
        user_agent: Some("test-browser".into()),
        request_id: None,
    }
}

fn root() -> Actor {
    Actor {
        id: None,
        name: "cli:root".into(),
    }
}

async fn harness(mode: Registration) -> Harness {
    Harness::with(|_, s| s.registration = mode).await
}

fn domains(list: &[&str]) -> Registration {
    let list: Vec<String> = list.iter().map(|d| (*d).to_owned()).collect();
    Registration::from_config("domains", &list).expect("domains")
}

/// The same services and database under another registration mode.
fn with_mode(s: &Services, mode: Registration) -> Services {
    let mut other = s.clone();
    other.settings = Arc::new(Settings {
        registration: mode,
        ..(*s.settings).clone()
    });
    other
}

async fn user_exists(h: &Harness, name: &str) -> bool {
    h.s.db.user_by_name(name).await.expect("get").is_some()
}

/// Follow the newest registration link mailed to `to` (its canonical address): the account is
/// made now.
async fn confirm(h: &Harness, to: &str) {
    let t = h.token_in_mail(to, "Verify").await;
    h.s.verify_email(&t, &meta()).await.expect("confirm");
}

/// The secret of the newest invitation link mailed to `to`.
async fn invite_secret(h: &Harness, to: &str) -> String {
    let body = h
        .mails(to, "invited")
        .await
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no invitation mail to {to}"));
    let at = body.find("?invite=").expect("a link") + 8;
    body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn the_default_is_closed_and_refuses_the_page_the_post_and_invitation_links() {
    assert_eq!(Settings::default().registration, Registration::Closed);
    let h = harness(Settings::default().registration).await;
    assert_eq!(
        h.s.register_page(None).await.expect("page"),
        RegisterPage::Refused(CLOSED.into())
    );
    let r =
        h.s.register("mallory", "mallory@example.org", PW, &meta())
            .await;
    assert!(is_forbidden(&r, CLOSED), "{r:?}");
    assert!(!user_exists(&h, "mallory").await);
    assert!(h.mails("mallory@example.org", "").await.is_empty());
    // An invitation cannot be made while closed, and one made before does not open it.
    let r =
        h.s.invite_user(&root(), "new@example.org", None, "hire", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Invalid(m)) if m.contains("closed")));
    let inviting = with_mode(&h.s, Registration::Invite);
    let made = inviting
        .invite_user(&root(), "new@example.org", None, "hire", &meta())
        .await
        .expect("invite");
    let secret = made.link.rsplit_once("invite=").expect("link").1;
    assert_eq!(
        h.s.register_page(Some(secret)).await.expect("page"),
        RegisterPage::Refused(CLOSED.into())
    );
    let r =
        h.s.register_invited("newbie", "new@example.org", PW, secret, &meta())
            .await;
    assert!(is_forbidden(&r, CLOSED), "{r:?}");
    assert!(!user_exists(&h, "newbie").await);
    // The operator's CLI still creates accounts.
    h.s.create_user("ops", "ops@example.org", PW, false, &meta())
        .await
        .expect("the CLI is the operator's, whatever the mode");
}

#[tokio::test]
async fn open_registration_makes_the_account_only_when_the_mailed_link_is_followed() {
    let h = harness(Registration::Open).await;
    assert_eq!(
        h.s.register_page(None).await.expect("page"),
        RegisterPage::Open
    );
    h.s.register("erin", "erin@example.org", PW, &meta())
        .await
        .expect("register");
    // Pending: no account, a login answers as for an unknown name, the name is reserved.
    assert!(!user_exists(&h, "erin").await);
    let unknown = h.s.login_password("nobody-at-all", PW, &meta()).await;
    let pending = h.s.login_password("erin", PW, &meta()).await;
    assert_eq!(format!("{unknown:?}"), format!("{pending:?}"));
    let r = h.s.register("Erin", "other@example.org", PW, &meta()).await;
    assert!(
        matches!(&r, Err(CoreError::Conflict(m)) if m == USERNAME_TAKEN),
        "{r:?}"
    );
    let t = h.token_in_mail("erin@example.org", "Verify").await;
    h.s.verify_email(&t, &meta()).await.expect("verify");
    let u =
        h.s.db
            .user_by_name("erin")
            .await
            .expect("get")
            .expect("created");
    let emails = h.s.db.emails_of(u.id).await.expect("emails");
    assert!(
        emails[0].verified_at.is_some(),
        "the link proved the address"
    );
    let details = h.event_details("account:create").await;
    assert_eq!(details[0]["via"], "register");
    // A link works once.
    assert!(h.s.verify_email(&t, &meta()).await.is_err());
}

#[tokio::test]
async fn a_pending_registration_expires_and_its_name_is_free_again() {
    let h = harness(Registration::Open).await;
    h.s.register("gil", "gil@example.org", PW, &meta())
        .await
        .expect("register");
    let t = h.token_in_mail("gil@example.org", "Verify").await;
    h.clock
        .advance(hours(h.s.settings.unverified_address_hours));
    assert!(h.s.verify_email(&t, &meta()).await.is_err(), "expired");
    assert!(!user_exists(&h, "gil").await);
    let report = h.s.run_jobs().await.expect("jobs");
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("expired pending registration")),
        "{:?}",
        report.lines
    );
    assert_eq!(
        h.s.db
            .live_pending_registrations(h.s.now())
            .await
            .expect("n"),
        0
    );
    h.s.register("gil", "gil2@example.org", PW, &meta())
        .await
        .expect("the name is free again");
}

#[tokio::test]
async fn domains_admit_the_domain_and_its_subdomains_and_refuse_look_alikes() {
    let h = harness(domains(&["Example.org", "bücher.example"])).await;
    assert_eq!(
        h.s.register_page(None).await.expect("page"),
        RegisterPage::Domains(vec!["example.org".into(), "xn--bcher-kva.example".into()])
    );
    for (i, (ok, canonical)) in [
        ("ann@example.org", "ann@example.org"),
        ("bob@EXAMPLE.ORG", "bob@example.org"),
        ("cy@mail.example.org", "cy@mail.example.org"),
        ("di@BÜCHER.example", "di@xn--bcher-kva.example"),
        ("ed@\u{ff45}xample.org", "ed@example.org"),
    ]
    .iter()
    .enumerate()
    {
        h.s.register(&format!("ok{i}"), ok, PW, &meta())
            .await
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
        confirm(&h, canonical).await;
        assert!(user_exists(&h, &format!("ok{i}")).await, "{ok}");
    }
    for (i, bad) in [
        "eve@example.org.evil.test",
        "eve@evilexample.org",
        "eve@example.com",
        "eve@bucher.example",
    ]
    .iter()
    .enumerate()
    {
        let r = h.s.register(&format!("bad{i}"), bad, PW, &meta()).await;
        assert!(
            is_forbidden(&r, "open to addresses at example.org"),
            "{bad}: {r:?}"
        );
        assert!(!user_exists(&h, &format!("bad{i}")).await, "{bad}");
        assert!(h.mails(bad, "").await.is_empty(), "{bad}");
    }
    // An administrator's invitation admits an address outside the list.
    let made =
        h.s.invite_user(&root(), "guest@partner.test", None, "contractor", &meta())
            .await
            .expect("invite");
    let secret = made.link.rsplit_once("invite=").expect("link").1;
    h.s.register_invited("guest", "guest@partner.test", PW, secret, &meta())
        .await
        .expect("invited from outside the domains");
    confirm(&h, "guest@partner.test").await;
    assert!(user_exists(&h, "guest").await);
}

#[tokio::test]
async fn an_invitation_registers_its_address_once_before_it_expires_unless_revoked() {
    let h = harness(Registration::Invite).await;
    assert_eq!(
        h.s.register_page(None).await.expect("page"),
        RegisterPage::Refused(INVITE_ONLY.into())
    );
    let r =
        h.s.register("walkin", "walkin@example.org", PW, &meta())
            .await;
    assert!(is_forbidden(&r, INVITE_ONLY), "{r:?}");

    // Made by an admin: mailed to the address, stored as a hash, listed as pending.
    let made =
        h.s.invite_user(
            &root(),
            "New.Hire@Example.org",
            Some(24),
            "new colleague",
            &meta(),
        )
        .await
        .expect("invite");
    let secret = invite_secret(&h, "New.Hire@example.org").await;
    assert!(
        made.link.ends_with(&secret),
        "the link shown once is the one mailed"
    );
    let row = &h.s.registration_invites(10).await.expect("list")[0];
    assert_eq!((row.invite.id, row.state), (made.id, InviteState::Pending));
    assert!(
        !serde_json::to_string(row).expect("json").contains(&secret),
        "the secret is never stored or listed"
    );
    // A second pending invitation for the address, or one for an existing account: refused.
    let r =
        h.s.invite_user(&root(), "new.hire@example.org", None, "again", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Conflict(m)) if m.contains("pending")));
    h.s.create_user("old", "old@example.org", PW, false, &meta())
        .await
        .expect("old");
    let r =
        h.s.invite_user(&root(), "OLD@example.org", None, "x", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Conflict(m)) if m.contains("old")));
    for bad_hours in [0, 24 * 30 + 1] {
        let r =
            h.s.invite_user(&root(), "x@example.org", Some(bad_hours), "x", &meta())
                .await;
        assert!(matches!(r, Err(CoreError::Invalid(_))), "{bad_hours}");
    }
    let r =
        h.s.invite_user(&root(), "x@example.org", None, " ", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Invalid(m)) if m.contains("reason")));

    // The page offers the form for the invited address; a wrong link shows no form.
    assert_eq!(
        h.s.register_page(Some(&secret)).await.expect("page"),
        RegisterPage::Invited {
            email: "New.Hire@example.org".into()
        }
    );
    assert_eq!(
        h.s.register_page(Some("not-a-link")).await.expect("page"),
        RegisterPage::Refused(INVALID.into())
    );
    // Another address with the link: refused, the link still works.
    let r =
        h.s.register_invited("thief", "thief@example.org", PW, &secret, &meta())
            .await;
    assert!(is_forbidden(&r, OTHER_ADDRESS), "{r:?}");
    assert!(!user_exists(&h, "thief").await);
    // A taken username does not use the link up either.
    let r =
        h.s.register_invited("old", "new.hire@example.org", PW, &secret, &meta())
            .await;
    assert!(
        matches!(&r, Err(CoreError::Conflict(m)) if m == USERNAME_TAKEN),
        "{r:?}"
    );
    // The invited address (any case): registered, the link used up.
    h.s.register_invited("hire", "new.hire@EXAMPLE.org", PW, &secret, &meta())
        .await
        .expect("register");
    confirm(&h, "new.hire@example.org").await;
    let hire =
        h.s.db
            .user_by_name("hire")
            .await
            .expect("get")
            .expect("created");
    let row = &h.s.registration_invites(10).await.expect("list")[0];
    assert_eq!(
        (row.state, row.invite.used_by.as_deref()),
        (InviteState::Used, Some("hire"))
    );
    assert_eq!(
        h.event_details("account:create").await.last().expect("ev")["via"],
        "invite"
    );
    let outcomes: Vec<_> = h
        .event_details("account:invite:use")
        .await
        .iter()
        .map(|d| d["outcome"].clone())
        .collect();
    assert_eq!(outcomes, vec!["pending", "created"]);
    // Replayed: refused, page and post.
    assert_eq!(
        h.s.register_page(Some(&secret)).await.expect("page"),
        RegisterPage::Refused(USED.into())
    );
    let r =
        h.s.register_invited("hire2", "new.hire@example.org", PW, &secret, &meta())
            .await;
    assert!(is_forbidden(&r, USED), "{r:?}");
    assert_eq!(h.s.list_users().await.expect("users").len(), 2, "{hire:?}");

    // Expired.
    h.s.invite_user(&root(), "late@example.org", Some(1), "x", &meta())
        .await
        .expect("invite");
    let late = invite_secret(&h, "late@example.org").await;
    h.clock.advance(hours(1));
    let r =
        h.s.register_invited("late", "late@example.org", PW, &late, &meta())
            .await;
    assert!(is_forbidden(&r, EXPIRED), "{r:?}");
    assert_eq!(
        h.s.registration_invites(10).await.expect("list")[0].state,
        InviteState::Expired
    );

    // Revoked: the link stops working at once; a used or revoked one cannot be revoked again.
    let gone =
        h.s.invite_user(&root(), "gone@example.org", None, "x", &meta())
            .await
            .expect("invite");
    let gone_secret = invite_secret(&h, "gone@example.org").await;
    h.s.revoke_invite(&root(), gone.id, "sent by mistake", &meta())
        .await
        .expect("revoke");
    let r =
        h.s.register_invited("gone", "gone@example.org", PW, &gone_secret, &meta())
            .await;
    assert!(is_forbidden(&r, REVOKED), "{r:?}");
    assert!(!user_exists(&h, "gone").await);
    for id in [gone.id, made.id] {
        let r = h.s.revoke_invite(&root(), id, "again", &meta()).await;
        assert!(matches!(r, Err(CoreError::Invalid(_))), "{id}: {r:?}");
    }
    assert!(matches!(
        h.s.revoke_invite(&root(), 999, "x", &meta()).await,
        Err(CoreError::NotFound(_))
    ));
    let actions = h.actions().await;
    for a in [
        "admin:invite:create",
        "account:invite:use",
        "admin:invite:revoke",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} logged: {actions:?}");
    }
}

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

#[tokio::test]
async fn a_freeze_or_deletion_of_its_maker_revokes_an_invitation_link_for_good() {
    let h = harness(Registration::Invite).await;
    h.clock.advance(-crate::settings::days(400));
    let admin =
        h.s.create_user("boss", "boss@example.org", PW, true, &meta())
            .await
            .expect("admin");
    let other =
        h.s.create_user("deputy", "deputy@example.org", PW, true, &meta())
            .await
            .expect("admin");
    h.clock.advance(crate::settings::days(400));
    // Links made in the admin area by an account that an attacker may hold.
    let by_admin = Actor::user(&admin);
    h.s.invite_user(&by_admin, "sock@example.org", None, "hire", &meta())
        .await
        .expect("invite");
    let sock = invite_secret(&h, "sock@example.org").await;
    h.s.invite_user(
        &Actor::user(&other),
        "puppet@example.org",
        None,
        "hire",
        &meta(),
    )
    .await
    .expect("invite");
    let puppet = invite_secret(&h, "puppet@example.org").await;
    // One made at the CLI stays: no account made it.
    h.s.invite_user(&root(), "ok@example.org", None, "hire", &meta())
        .await
        .expect("invite");
    let ok = invite_secret(&h, "ok@example.org").await;

    h.s.admin_freeze_user(&root(), "boss", "takeover suspected", &meta())
        .await
        .expect("freeze");
    let r =
        h.s.register_invited("sock", "sock@example.org", PW, &sock, &meta())
            .await;
    assert!(is_forbidden(&r, REVOKED), "{r:?}");
    // Nor can the frozen account make another.
    let r =
        h.s.invite_user(&by_admin, "sock2@example.org", None, "x", &meta())
            .await;
    assert!(r.is_err(), "{r:?}");
    // The unfreeze brings none back.
    h.s.admin_unfreeze_user(&root(), "boss", None, "owner confirmed", &meta())
        .await
        .expect("unfreeze");
    let r =
        h.s.register_invited("sock", "sock@example.org", PW, &sock, &meta())
            .await;
    assert!(is_forbidden(&r, REVOKED), "{r:?}");
    let revoked = h.event_details("admin:invite:revoke").await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["made_by"], "boss");
    assert_eq!(
        h.event_details("admin:user:freeze").await[0]["registration_invites_revoked"],
        1
    );

    // A deletion does the same.
    h.s.delete_account(&root(), &other, "left", &meta())
        .await
        .expect("delete");
    let r =
        h.s.register_invited("puppet", "puppet@example.org", PW, &puppet, &meta())
            .await;
    assert!(is_forbidden(&r, REVOKED), "{r:?}");

    h.s.register_invited("okay", "ok@example.org", PW, &ok, &meta())
        .await
        .expect("the operator's link still works");
}
