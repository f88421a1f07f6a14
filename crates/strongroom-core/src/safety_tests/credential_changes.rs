//! Credential changes (docs/ownership-contract.md, "Credential changes"): each one that can lock
//! the owner out or let someone in later starts the recovery hold and is told to every verified
//! address of the account.

use super::*;

const SECOND: &str = "alice@second.example";

impl H {
    /// alice, 400 days old, with a second verified address and TOTP, every hold those started
    /// over: an established account with two addresses and a factor.
    async fn alice_with_totp(&self) -> User {
        let alice = self.user("alice").await;
        let s = self.login("alice").await;
        self.s.add_email(&s, SECOND, &meta()).await.expect("add");
        let t = self.token_in_mail(SECOND, "Verify").await;
        self.s.verify_email(&t, &meta()).await.expect("verify");
        let enrol = self.s.totp_begin(&s).expect("begin");
        let code = crate::second_factor::code_at(
            &enrol.secret_base32,
            u64::try_from(self.s.now() / 1_000_000).expect("secs"),
        )
        .expect("code");
        self.s
            .totp_confirm(&s, &enrol.secret_base32, &code, &meta())
            .await
            .expect("totp");
        let t = self
            .token_in_mail("alice@example.org", "Confirm two-factor")
            .await;
        self.s.confirm_2fa_email(&t, &meta()).await.expect("on");
        self.clock.advance(73 * HOUR_MICROS);
        assert!(!crate::hold::is_held(
            &self.fresh(&alice).await,
            self.s.now()
        ));
        alice
    }

    /// How many mails with `subject` went to each of alice's two addresses.
    async fn to_both(&self, subject: &str) -> (usize, usize) {
        (
            self.mails("alice@example.org", subject).await.len(),
            self.mails(SECOND, subject).await.len(),
        )
    }
}

#[tokio::test]
async fn new_recovery_codes_hold_the_account_and_every_address_hears_of_them() {
    let h = harness().await;
    let alice = h.alice_with_totp().await;
    let carol = h.user("carol").await;
    h.publish("proj", "1.0", &alice, T0 - days(10)).await;
    let holds_before = h.to_both("recovery hold").await;
    // The attacker (a stolen session, re-authenticated) makes new codes: the owner's die.
    let s = h.login_after_2fa("alice").await;
    let codes =
        h.s.recovery_codes_regenerate(&s, &meta())
            .await
            .expect("codes");
    let a = h.fresh(&alice).await;
    assert_eq!(a.hold_reason.as_deref(), Some("recovery-code regeneration"));
    assert!(crate::hold::is_held(&a, h.s.now()));
    assert_eq!(h.to_both("New recovery codes").await, (1, 1));
    let holds = h.to_both("recovery hold").await;
    assert_eq!((holds.0 - holds_before.0, holds.1 - holds_before.1), (1, 1));

    // Later, password and one new code sign in without TOTP: and get nothing lasting.
    h.clock.advance(HOUR_MICROS);
    let LoginStep::NeedTwoFactor { ticket, .. } =
        h.s.login_password("alice", PW, &meta())
            .await
            .expect("password")
    else {
        panic!("a second step")
    };
    let g =
        h.s.login_recovery_code(&ticket, &codes[0], &meta())
            .await
            .expect("code");
    let s = h.s.session(&g.secret).await.expect("s").expect("live");
    let r =
        h.s.create_token_for_session(&s, "ci", None, None, &meta())
            .await;
    assert!(forbidden(&r, "recovery hold"), "{r:?}");
    let r = h.s.invite(&s.user, "proj", "carol", "Owner", &meta()).await;
    assert!(forbidden(&r, "recovery hold"), "{r:?}");
    let p =
        h.s.db
            .project_by_normalized("proj")
            .await
            .expect("p")
            .expect("p");
    assert_eq!(h.s.db.role_of(p.id, carol.id).await.expect("r"), None);
    let who = h.principal(&h.fresh(&alice).await);
    let r = h.s.check_upload_hold(&who, &name("proj"), &meta()).await;
    assert!(forbidden(&r, "recovery hold"), "{r:?}");
}

#[tokio::test]
async fn a_removed_factor_and_a_password_change_hold_too() {
    let h = harness().await;
    let alice = h.alice_with_totp().await;
    let s = h.login_after_2fa("alice").await;
    h.s.totp_remove(&s, &meta()).await.expect("remove");
    let a = h.fresh(&alice).await;
    assert_eq!(a.hold_reason.as_deref(), Some("two-factor removal"));
    assert_eq!(h.to_both("A two-factor method was removed").await, (1, 1));
    h.clock.advance(73 * HOUR_MICROS);
    let s = h.login("alice").await;
    h.s.change_password(&s, PW, NEW_PW, &meta())
        .await
        .expect("change");
    let a = h.fresh(&alice).await;
    assert_eq!(a.hold_reason.as_deref(), Some("password change"));
    assert_eq!(h.to_both("Your password was changed").await, (1, 1));
    let reasons: Vec<_> = h
        .event_details("account:hold")
        .await
        .iter()
        .map(|d| d["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        reasons.ends_with(&["two-factor removal".into(), "password change".into()]),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_new_account_setting_itself_up_is_not_held_for_new_codes() {
    let h = harness().await;
    let young = h.user_aged("young", HOUR_MICROS).await;
    let s = h.login("young").await;
    let enrol = h.s.totp_begin(&s).expect("begin");
    let code = crate::second_factor::code_at(
        &enrol.secret_base32,
        u64::try_from(h.s.now() / 1_000_000).expect("secs"),
    )
    .expect("code");
    h.s.totp_confirm(&s, &enrol.secret_base32, &code, &meta())
        .await
        .expect("totp");
    let t = h
        .token_in_mail("young@example.org", "Confirm two-factor")
        .await;
    h.s.confirm_2fa_email(&t, &meta()).await.expect("on");
    h.s.recovery_codes_regenerate(&s, &meta())
        .await
        .expect("codes");
    assert!(h.fresh(&young).await.hold_until.is_none());
}
