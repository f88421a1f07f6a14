//! Undoing an incident without bringing the attacker back (issue 8, finding 3): a freeze ends
//! every token and session for good through every door; an unfreeze or a restore hands the
//! account back only through a reset to an address that predates the incident window, with
//! what was added in the window listed for the owner and unusable until kept; no other undo
//! revives what the account did or granted inside its window.

use strongroom_store::model::SuspectKind;

use super::*;
use crate::handback::HandedBack;
use crate::login::PASSWORD_DISABLED;
use crate::review::Decision;
use crate::second_factor::code_at;
use crate::tokens::Credentials;

pub(super) fn ops() -> Actor {
    Actor {
        id: None,
        name: "cli:ops".into(),
    }
}

pub(super) fn elsewhere() -> RequestMeta {
    RequestMeta {
        ip: Some("203.0.113.66".into()),
        user_agent: Some("attacker-browser/6.6".into()),
        request_id: None,
    }
}

impl H {
    async fn token(&self, user: &str, name: &str) -> String {
        self.s
            .create_token(user, name, None, None, &meta())
            .await
            .expect("token")
    }

    async fn upload_auth(&self, secret: &str) -> Result<crate::tokens::Principal, CoreError> {
        self.s
            .authenticate_upload(&Credentials::Token(secret.into()), &meta())
            .await
    }

    pub(super) async fn unfreeze(&self, name: &str) -> HandedBack {
        self.s
            .admin_unfreeze_user(&ops(), name, None, "owner confirmed by phone", &meta())
            .await
            .expect("unfreeze")
    }

    /// The owner follows the reset link the hand-back mailed to `addr`.
    pub(super) async fn reset_through(&self, addr: &str) {
        let link = self.token_in_mail(addr, "Set a new password").await;
        self.s
            .reset_password(&link, NEW_PW, &meta())
            .await
            .expect("reset through the mailed link");
    }

    fn secs(&self) -> u64 {
        u64::try_from(self.s.now() / 1_000_000).expect("secs")
    }

    async fn email_id(&self, u: &User, addr: &str) -> i64 {
        self.s
            .db
            .emails_of(u.id)
            .await
            .expect("emails")
            .iter()
            .find(|e| e.address == addr)
            .expect("address")
            .id
    }

    /// Someone in `session` adds `addr`, verifies it from the mail and makes it primary.
    pub(super) async fn swap_in_address(&self, session: &SessionInfo, addr: &str) {
        self.s
            .add_email(session, addr, &elsewhere())
            .await
            .expect("add");
        let t = self.token_in_mail(addr, "Verify").await;
        self.s.verify_email(&t, &elsewhere()).await.expect("verify");
        let id = self.email_id(&session.user, addr).await;
        self.s
            .make_primary(session, id, &elsewhere())
            .await
            .expect("primary");
    }

    /// Someone in `session` enrols an authenticator, confirmed through the mail sent to `addr`;
    /// returns its secret.
    async fn enrol_totp(&self, session: &SessionInfo, addr: &str, from: &RequestMeta) -> String {
        let enrol = self.s.totp_begin(session).expect("begin");
        let code = code_at(&enrol.secret_base32, self.secs()).expect("code");
        self.s
            .totp_confirm(session, &enrol.secret_base32, &code, from)
            .await
            .expect("totp");
        let t = self.token_in_mail(addr, "Confirm two-factor").await;
        self.s.confirm_2fa_email(&t, from).await.expect("on");
        enrol.secret_base32
    }
}

#[tokio::test]
async fn a_freeze_revokes_every_token_and_session_for_good_and_an_unfreeze_revives_nothing() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.publish("proj", "1.0", &alice, h.s.now()).await;
    let owners_token = h.token("alice", "ci").await;
    // Long after (the owner's own token is older than the lookback), someone signs in as alice
    h.clock.advance(days(40));
    // Someone signs in as alice, mints a token and invites an account of theirs.
    let session = h.login("alice").await;
    let minted = h.token("alice", "minted").await;
    let inv =
        h.s.invite(&alice, "proj", "bob", "Owner", &meta())
            .await
            .expect("invite");
    h.clock.advance(HOUR_MICROS);
    h.s.admin_freeze_user(&ops(), "alice", "takeover suspected", &meta())
        .await
        .expect("freeze");

    assert!(
        h.s.list_sessions(session.user.id)
            .await
            .expect("s")
            .is_empty()
    );
    let tokens = h.s.db.tokens_of(alice.id).await.expect("tokens");
    assert!(
        tokens.len() == 2 && tokens.iter().all(|t| t.revoked_at.is_some()),
        "revoked, not merely refused: {tokens:?}"
    );
    assert_eq!(h.event_details("token:revoke").await.len(), 2);
    let freeze = &h.event_details("admin:user:freeze").await[0];
    assert_eq!(freeze["tokens_revoked"], 2);
    assert_eq!(freeze["invitations_voided"], 1);
    assert_eq!(freeze["window_opened_by"], "account:login");
    // Nor can an operator mint one that the unfreeze would bring to life.
    let r =
        h.s.create_token("alice", "during", None, None, &meta())
            .await;
    assert!(
        matches!(&r, Err(CoreError::Conflict(m)) if m.contains("frozen")),
        "{r:?}"
    );

    h.clock.advance(HOUR_MICROS);
    let back = h.unfreeze("alice").await;
    assert_eq!(back.reset_sent_to, vec!["alice@example.org".to_string()]);
    // Nothing the freeze ended works again: not the owner's token, not the minted one, not
    // the invitation, not the old password, not a passkey (every sign-in ends in
    // `complete_login`).
    for t in [&owners_token, &minted] {
        let r = h.upload_auth(t).await;
        assert!(forbidden(&r, "revoked"), "{r:?}");
    }
    let r = h.s.accept_invitation(&bob, inv.id, &meta()).await;
    assert!(
        matches!(&r, Err(CoreError::Invalid(m)) if m.contains("voided")),
        "{r:?}"
    );
    let r = h.s.login_password("alice", PW, &meta()).await;
    assert!(forbidden(&r, PASSWORD_DISABLED), "{r:?}");
    let fresh = h.fresh(&alice).await;
    let r = h.s.complete_login(&fresh, true, "passkey", &meta()).await;
    assert!(forbidden(&r, PASSWORD_DISABLED), "{r:?}");
    assert_eq!(fresh.password_disabled.as_deref(), Some("unfrozen"));

    // The owner's way back: the mailed reset, then a login; the old tokens stay dead.
    h.reset_through("alice@example.org").await;
    match h
        .s
        .login_password("alice", NEW_PW, &meta())
        .await
        .expect("login")
    {
        LoginStep::Done(g) => assert!(!g.review_pending, "nothing was added in the window"),
        other => panic!("{other:?}"),
    }
    assert!(forbidden(&h.upload_auth(&minted).await, "revoked"));
    let unfreeze = &h.event_details("admin:user:unfreeze").await[0];
    assert_eq!(unfreeze["reset_sent_to"][0], "alice@example.org");
    assert_eq!(unfreeze["password_disabled"], "unfrozen");
    assert_eq!(h.s.db.verify_events().await.expect("verify"), None);
}

/// Run `race` while a freeze of `user` is written but not yet committed, then commit the
/// freeze; returns what `race` returned. `race` runs as far as it can before the commit (it
/// checks the account first, then waits for the database's write side).
pub(super) async fn during_a_freeze<T: Send + 'static>(
    h: &H,
    user: &User,
    race: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let mut tx = h.s.db.begin_account().await.expect("begin");
    let frozen =
        h.s.freeze_in(
            &mut tx,
            &ops(),
            user,
            crate::freeze::FreezeVia::Admin,
            "takeover suspected",
            serde_json::json!({}),
            "frozen",
            &meta(),
        )
        .await
        .expect("freeze");
    let mut racing = tokio::spawn(race);
    // Let it check the account (not frozen yet, as far as anyone outside can see) and reach
    // the write it waits for.
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut racing).await;
    assert!(early.is_err(), "it waits for the freeze's transaction");
    tx.commit(&frozen.events, &frozen.mails)
        .await
        .expect("commit the freeze");
    racing.await.expect("join")
}

#[tokio::test]
async fn a_token_or_session_racing_a_freeze_is_refused_never_left_for_the_unfreeze() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.clock.advance(days(1));
    // An operator (or the attacker's session) asks for a token while the freeze is being made.
    let s = h.s.clone();
    let r = during_a_freeze(&h, &alice, async move {
        s.create_token("alice", "racing", None, None, &meta()).await
    })
    .await;
    assert!(
        matches!(&r, Err(CoreError::Conflict(m)) if m.contains("frozen")),
        "{r:?}"
    );
    let tokens = h.s.db.tokens_of(alice.id).await.expect("tokens");
    assert!(
        tokens.iter().all(|t| t.revoked_at.is_some()),
        "no live token: {tokens:?}"
    );

    // A sign-in whose password was checked before the freeze committed gets no session.
    let bob = h.user("bob").await;
    let s = h.s.clone();
    let b = bob.clone();
    let r = during_a_freeze(&h, &bob, async move {
        s.complete_login(&b, false, "password", &meta()).await
    })
    .await;
    assert!(forbidden(&r, crate::login::FROZEN), "{r:?}");
    assert!(h.s.list_sessions(bob.id).await.expect("s").is_empty());
}

#[tokio::test]
async fn an_unfreeze_revokes_any_token_made_since_the_window_opened() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.clock.advance(days(1));
    h.s.admin_freeze_user(&ops(), "alice", "takeover suspected", &meta())
        .await
        .expect("freeze");
    // A token that slipped past the freeze (written straight to the store: no path of the
    // index makes one for a frozen account any more).
    let secret = "strongroom-slipped-past-the-freeze";
    h.s.db
        .create_token(
            &strongroom_store::NewToken {
                user_id: alice.id,
                name: "slipped".into(),
                token_hash: crate::tokens::hash_token(secret),
                project_id: None,
                expires_at: None,
                at: h.s.now(),
            },
            strongroom_store::NewEvent {
                at: h.s.now(),
                action: "token:create".into(),
                subject_kind: "user".into(),
                ..Default::default()
            },
        )
        .await
        .expect("token");
    h.clock.advance(HOUR_MICROS);
    let back = h.unfreeze("alice").await;
    assert_eq!(back.tokens_revoked.len(), 1, "{back:?}");
    let r = h.upload_auth(secret).await;
    assert!(forbidden(&r, "revoked"), "{r:?}");
    let ev = &h.event_details("admin:user:unfreeze").await[0];
    assert_eq!(ev["tokens_revoked"].as_array().map(Vec::len), Some(1));
    assert!(
        h.event_details("token:revoke")
            .await
            .iter()
            .any(|d| d["name"] == "slipped")
    );
}

#[tokio::test]
async fn the_this_wasnt_me_link_freezes_the_same_way_and_kills_the_links_that_hand_it_back() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let token = h.token("alice", "ci").await;
    h.login("alice").await;
    // A login from somewhere new mails a "this wasn't me" link; a reset link is outstanding.
    let grant = match h
        .s
        .login_password("alice", PW, &elsewhere())
        .await
        .expect("login")
    {
        LoginStep::Done(g) => g,
        other => panic!("{other:?}"),
    };
    h.s.request_password_reset("alice", &elsewhere())
        .await
        .expect("forgot");
    let reset = h.token_in_mail("alice@example.org", "Reset").await;
    let freeze = h.token_in_mail("alice@example.org", "New login").await;
    h.s.freeze_from_mail(&freeze, &meta())
        .await
        .expect("freeze from the mail");
    assert!(h.s.session(&grant.secret).await.expect("s").is_none());
    assert!(forbidden(&h.upload_auth(&token).await, "revoked"));
    let r = h.s.reset_password(&reset, NEW_PW, &elsewhere()).await;
    assert!(matches!(r, Err(CoreError::Invalid(_))), "{r:?}");
    let frozen = &h.event_details("account:freeze").await[0];
    assert_eq!(
        (frozen["via"].as_str(), frozen["tokens_revoked"].as_i64()),
        (Some("mail"), Some(1))
    );
    assert_eq!(h.s.db.incidents_of(alice.id).await.expect("w").len(), 1);
    h.unfreeze("alice").await;
    assert!(forbidden(&h.upload_auth(&token).await, "revoked"));
}

#[tokio::test]
async fn an_unfreeze_resets_through_a_pre_incident_address_only_and_lists_what_was_added() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.clock.advance(days(1));
    // The attacker signs in from a new device, swaps in their address and enrols their own
    // authenticator (confirmed through their address, now the primary one).
    let s = h.login("alice").await;
    h.swap_in_address(&s, "mallory@evil.test").await;
    let secret = h.enrol_totp(&s, "mallory@evil.test", &elsewhere()).await;
    h.clock.advance(HOUR_MICROS);
    h.s.admin_freeze_user(&ops(), "alice", "report #7", &meta())
        .await
        .expect("freeze");
    h.clock.advance(HOUR_MICROS);

    let back = h.unfreeze("alice").await;
    assert_eq!(back.reset_sent_to, vec!["alice@example.org".to_string()]);
    assert_eq!(back.primary_moved_to.as_deref(), Some("alice@example.org"));
    let kinds: Vec<SuspectKind> = back.suspect.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        vec![
            SuspectKind::Address,
            SuspectKind::Totp,
            SuspectKind::RecoveryCodes
        ]
    );
    assert!(
        h.mails("mallory@evil.test", "Set a new password")
            .await
            .is_empty()
    );
    let mail = &h.mails("alice@example.org", "Set a new password").await[0];
    assert!(
        mail.contains("mallory@evil.test") && mail.contains("totp"),
        "{mail}"
    );
    // The suspect address gets nothing, not even "Forgot password".
    h.s.request_password_reset("mallory@evil.test", &elsewhere())
        .await
        .expect("answers the same");
    assert!(h.mails("mallory@evil.test", "Reset").await.is_empty());

    // The owner resets and signs in: the attacker's authenticator is not asked for (it would
    // not be accepted), the review is pending.
    h.reset_through("alice@example.org").await;
    let grant = match h
        .s
        .login_password("alice", NEW_PW, &meta())
        .await
        .expect("login")
    {
        LoginStep::Done(g) => g,
        other => panic!("the suspect TOTP must not be asked for: {other:?}"),
    };
    assert!(grant.review_pending);
    h.clock.advance(30_000_000);
    let code = code_at(&secret, h.secs()).expect("code");
    assert!(!h.s.totp_accepts(alice.id, &code).await.expect("check"));
    assert!(!h.s.has_two_factor(alice.id).await.expect("2fa"));
    let info = h.s.session(&grant.secret).await.expect("s").expect("live");
    let id = h.email_id(&alice, "mallory@evil.test").await;
    let r = h.s.make_primary(&info, id, &meta()).await;
    assert!(forbidden(&r, "review"), "{r:?}");

    // The owner decides: the address and the authenticator go, the codes stay.
    h.s.decide_suspect(&info, SuspectKind::Address, id, Decision::Drop, &meta())
        .await
        .expect("drop address");
    h.s.decide_suspect(&info, SuspectKind::Totp, 0, Decision::Drop, &meta())
        .await
        .expect("drop totp");
    let r =
        h.s.decide_suspect(&info, SuspectKind::Totp, 0, Decision::Keep, &meta())
            .await;
    assert!(
        matches!(r, Err(CoreError::NotFound(_))),
        "decided once: {r:?}"
    );
    h.s.decide_suspect(
        &info,
        SuspectKind::RecoveryCodes,
        0,
        Decision::Keep,
        &meta(),
    )
    .await
    .expect("keep codes");
    assert!(!h.s.review_pending(alice.id).await.expect("pending"));
    assert_eq!(h.s.db.emails_of(alice.id).await.expect("e").len(), 1);
    assert!(h.s.db.totp_of(alice.id).await.expect("totp").is_none());
    let actions = h.actions().await;
    for a in [
        "account:review:drop",
        "account:review:keep",
        "account:review:done",
    ] {
        assert!(actions.contains(&a.to_owned()), "{a}: {actions:?}");
    }
}

#[tokio::test]
async fn an_address_left_suspect_hears_nothing_when_someone_tries_it_elsewhere() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.clock.advance(days(1));
    // The attacker swaps in their address (verified, primary), then the account is frozen and
    // handed back: the address stays on it, suspect.
    let s = h.login("alice").await;
    h.swap_in_address(&s, "mallory@evil.test").await;
    h.clock.advance(HOUR_MICROS);
    h.s.admin_freeze_user(&ops(), "alice", "report #7", &meta())
        .await
        .expect("freeze");
    h.unfreeze("alice").await;
    let tried = "Someone tried to use your email address";

    // Registering with it, or adding it to another account, answers as for a free address; the
    // attacker's mailbox learns nothing (not even that "alice" holds it).
    h.s.register("newcomer", "Mallory@Evil.test", NEW_PW, &elsewhere())
        .await
        .expect("the same answer as for a new address");
    let b = h.login("bob").await;
    h.s.add_email(&b, "mallory@evil.test", &meta())
        .await
        .expect("the same answer as for a free address");
    assert!(h.mails("mallory@evil.test", tried).await.is_empty());
    assert_eq!(
        h.event_details("account:register:address_taken").await[0]["mailed"],
        false
    );
    assert_eq!(
        h.event_details("account:email:add_taken").await[0]["mailed"],
        false
    );
    // The owner's address from before the incident is still told, and named.
    h.s.add_email(&b, "alice@example.org", &meta())
        .await
        .expect("answers the same");
    let told = h.mails("alice@example.org", tried).await;
    assert!(
        told.len() == 1 && told[0].contains("your account alice"),
        "{told:?}"
    );
    assert!(h.s.db.emails_of(bob.id).await.expect("e").len() == 1);
    assert!(h.fresh(&alice).await.frozen_at.is_none());
}

#[tokio::test]
async fn an_unfreeze_is_refused_when_no_address_predates_the_window_unless_an_admin_vouches() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.clock.advance(days(1));
    let s = h.login("alice").await;
    h.swap_in_address(&s, "mallory@evil.test").await;
    let old = h.email_id(&alice, "alice@example.org").await;
    h.s.remove_email(&s, old, &elsewhere())
        .await
        .expect("remove");
    h.s.admin_freeze_user(&ops(), "alice", "report", &meta())
        .await
        .expect("freeze");
    let r =
        h.s.admin_unfreeze_user(&ops(), "alice", None, "asked", &meta())
            .await;
    assert!(
        matches!(&r, Err(CoreError::Conflict(m)) if m.contains("mallory@evil.test") && m.contains("--trust-address")),
        "{r:?}"
    );
    assert!(h.fresh(&alice).await.frozen_at.is_some(), "still frozen");
    assert!(
        h.mails("mallory@evil.test", "Set a new password")
            .await
            .is_empty()
    );
    // An administrator who confirmed the owner out of band vouches for the address.
    let r =
        h.s.admin_unfreeze_user(&ops(), "alice", Some("nobody@else.test"), "asked", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Invalid(_))), "{r:?}");
    let back =
        h.s.admin_unfreeze_user(
            &ops(),
            "alice",
            Some("mallory@evil.test"),
            "owner proved control by phone",
            &meta(),
        )
        .await
        .expect("vouched");
    assert_eq!(back.reset_sent_to, vec!["mallory@evil.test".to_string()]);
    let ev = &h.event_details("admin:user:unfreeze").await[0];
    assert_eq!(ev["address_trusted_by_admin"], "mallory@evil.test");
}

#[tokio::test]
async fn an_admin_two_factor_reset_revokes_tokens_minted_inside_the_window_only() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let old = h.token("alice", "ci").await;
    let s = h.login("alice").await;
    h.enrol_totp(&s, "alice@example.org", &meta()).await;
    // Long after (past the lookback and the hold), a token appears; then "I lost my phone".
    h.clock.advance(days(40));
    let minted = h.token("alice", "minted").await;
    h.clock.advance(HOUR_MICROS);
    let out =
        h.s.admin_reset_two_factor(&ops(), "alice", "lost phone, ticket 3", &meta())
            .await
            .expect("reset");
    assert_eq!(out.tokens_revoked.len(), 1, "{out:?}");
    assert!(forbidden(&h.upload_auth(&minted).await, "revoked"));
    assert!(
        h.upload_auth(&old).await.is_ok(),
        "the owner's older token stays"
    );
    assert!(
        !h.mails("alice@example.org", "two-factor authentication was reset")
            .await
            .is_empty()
    );
    let _ = alice;
}

/// Red-team U3: an address and factors the attacker added and then let age past
/// `recovery.incident_lookback_days` are not trusted by the hand-back: the reset goes to the
/// account's anchor (its oldest verified address) alone, and everything added after it is
/// suspect until the owner keeps it.
#[tokio::test]
async fn an_address_and_factors_aged_past_the_lookback_are_still_suspect_at_the_hand_back() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.clock.advance(days(1));
    // Day 0: the attacker signs in, puts in an address of theirs (primary) and an authenticator
    // with its recovery codes, then waits out the lookback doing nothing.
    let s = h.login("alice").await;
    h.swap_in_address(&s, "mallory@evil.test").await;
    h.enrol_totp(&s, "mallory@evil.test", &elsewhere()).await;
    h.clock.advance(days(31));
    let minted = h.token("alice", "minted").await;
    h.clock.advance(HOUR_MICROS);
    h.s.admin_freeze_user(&ops(), "alice", "report #3", &meta())
        .await
        .expect("freeze");
    h.clock.advance(HOUR_MICROS);
    let window_start = h.event_details("admin:user:freeze").await[0]["window_start"].clone();
    assert!(
        window_start.as_i64().expect("start") > h.s.now() - days(30),
        "the attacker's changes are older than the window: {window_start}"
    );

    let back = h.unfreeze("alice").await;
    assert_eq!(back.reset_sent_to, vec!["alice@example.org".to_string()]);
    assert_eq!(back.anchor.as_deref(), Some("alice@example.org"));
    assert_eq!(back.primary_moved_to.as_deref(), Some("alice@example.org"));
    let kinds: Vec<SuspectKind> = back.suspect.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        vec![
            SuspectKind::Address,
            SuspectKind::Totp,
            SuspectKind::RecoveryCodes
        ]
    );
    assert!(
        h.mails("mallory@evil.test", "Set a new password")
            .await
            .is_empty()
    );
    let ev = &h.event_details("admin:user:unfreeze").await[0];
    assert_eq!(ev["anchor"], "alice@example.org");
    let r = h.upload_auth(&minted).await;
    assert!(forbidden(&r, "revoked"), "{r:?}");
    // The attacker's authenticator no longer signs in; the owner resets through the anchor.
    assert!(!h.s.has_two_factor(alice.id).await.expect("2fa"));
    h.reset_through("alice@example.org").await;
}

/// Red-team U3, second half: when a verified address was removed after the oldest one left
/// (the attacker may have removed the owner's and kept theirs, aged), the unfreeze is refused,
/// logged, and the account stays frozen, unless an administrator names the address.
#[tokio::test]
async fn an_unfreeze_is_refused_when_a_verified_address_was_removed_after_the_anchor() {
    let h = harness().await;
    let bob = h.user_aged("bob", days(400)).await;
    h.clock.advance(-days(200));
    // Long ago the owner added a second address; the attacker adds theirs, makes it primary,
    // removes the owner's original one and the second, and lets everything age.
    let owner = h.login("bob").await;
    h.swap_in_address(&owner, "bob@second.example").await;
    h.clock.advance(days(100));
    let s = h.login("bob").await;
    h.swap_in_address(&s, "mallory@evil.test").await;
    let old = h.email_id(&bob, "bob@example.org").await;
    h.s.remove_email(&s, old, &elsewhere())
        .await
        .expect("remove");
    h.clock.advance(days(100));
    h.token("bob", "minted").await;
    h.s.admin_freeze_user(&ops(), "bob", "report #4", &meta())
        .await
        .expect("freeze");
    let r =
        h.s.admin_unfreeze_user(&ops(), "bob", None, "owner confirmed", &meta())
            .await;
    assert!(
        matches!(&r, Err(CoreError::Conflict(m)) if m.contains("bob@example.org") && m.contains("--trust-address")),
        "{r:?}"
    );
    let still = h.s.db.user_by_id(bob.id).await.expect("u").expect("bob");
    assert!(still.frozen_at.is_some());
    assert!(
        h.mails("bob@second.example", "Set a new password")
            .await
            .is_empty()
    );
    let refused = h.event_details("admin:user:unfreeze:refused").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0]["why"]
            .as_str()
            .is_some_and(|w| w.contains("bob@example.org"))
    );

    // The administrator confirmed the owner controls the second address: it alone gets the
    // reset, and every other address is suspect.
    let back =
        h.s.admin_unfreeze_user(
            &ops(),
            "bob",
            Some("bob@second.example"),
            "owner confirmed by phone",
            &meta(),
        )
        .await
        .expect("unfreeze");
    assert_eq!(back.reset_sent_to, vec!["bob@second.example".to_string()]);
    assert_eq!(back.anchor, None);
    assert!(
        back.suspect
            .iter()
            .any(|s| s.kind == SuspectKind::Address && s.label == "mallory@evil.test"),
        "{back:?}"
    );
}

/// Red-team U3 through the support door: an admin's 2FA reset ("I lost my phone", asked by the
/// attacker) mails its link to the anchor alone, never to an address aged past the lookback.
#[tokio::test]
async fn an_admin_two_factor_reset_mails_the_anchor_only_even_past_the_lookback() {
    let h = harness().await;
    h.user("alice").await;
    h.clock.advance(days(1));
    let s = h.login("alice").await;
    h.swap_in_address(&s, "mallory@evil.test").await;
    h.enrol_totp(&s, "mallory@evil.test", &elsewhere()).await;
    h.clock.advance(days(40));
    let out =
        h.s.admin_reset_two_factor(&ops(), "alice", "lost phone, ticket 9", &meta())
            .await
            .expect("reset");
    assert_eq!(out.addresses_suspect, vec!["mallory@evil.test".to_string()]);
    assert!(
        h.mails("mallory@evil.test", "two-factor authentication was reset")
            .await
            .is_empty()
    );
    assert_eq!(
        h.mails("alice@example.org", "two-factor authentication was reset")
            .await
            .len(),
        1
    );
}
