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
use crate::{Actor, CoreError, RequestMeta, Services, Settings};

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

mod addresses;
