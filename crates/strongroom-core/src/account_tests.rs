//! The account rules, end to end through `Services` on a SQLite database with a hand-moved clock
//! and an offline breached-password folder. Every test names the rule it pins.

use std::sync::Arc;

use strongroom_store::{Blobs, Db};

use crate::breached::range_key;
use crate::login::{BAD_CREDENTIALS, LoginStep, PASSWORD_COMPROMISED};
use crate::second_factor::{LAST_METHOD, code_at, matching_step};
use crate::sessions::SessionInfo;
use crate::tokens::{Credentials, hash_token};
use crate::{CoreError, ManualClock, RequestMeta, Services, Settings};

const MIN: i64 = 60_000_000;
/// 2026-01-01T00:00:00Z, on a 30 s step boundary.
const T0: i64 = 1_767_225_600_000_000;
const PW: &str = "correct horse battery staple";
const BREACHED: &str = "monkey trousers 1987 lizard";

struct H {
    s: Services,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn meta(ip: &str) -> RequestMeta {
    RequestMeta {
        ip: Some(ip.into()),
        user_agent: Some("test-browser".into()),
    }
}

async fn harness(require_2fa: bool) -> H {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .expect("db");
    db.migrate().await.expect("migrate");
    let hibp = dir.path().join("hibp");
    std::fs::create_dir_all(&hibp).expect("hibp dir");
    let (prefix, suffix) = range_key(BREACHED);
    std::fs::write(hibp.join(format!("{prefix}.txt")), format!("{suffix}:42\n")).expect("range");
    let settings = Settings {
        require_2fa,
        hibp_url: None,
        hibp_offline_dir: Some(hibp),
        outbox_dir: dir.path().join("outbox"),
        public_url: Some("https://index.example".into()),
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        ..Settings::default()
    };
    let blobs = Blobs::local(dir.path().join("files")).expect("blobs");
    let mut s = Services::new(db, blobs, settings);
    let clock = Arc::new(ManualClock::new(T0));
    s.clock = clock.clone();
    H {
        s,
        clock,
        _dir: dir,
    }
}

impl H {
    /// The token in the newest mail to `to` whose subject contains `subject`.
    async fn mailed_token(&self, to: &str, subject: &str) -> String {
        let mails = self.s.db.outbox_recent(200).await.expect("outbox");
        let m = mails
            .iter()
            .find(|m| m.to_addr == to && m.subject.contains(subject))
            .unwrap_or_else(|| panic!("no mail '{subject}' to {to}: {mails:?}"));
        let at = m.body.find("token=").expect("a link") + 6;
        m.body[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    async fn mail_count(&self, to: &str, subject: &str) -> usize {
        self.s
            .db
            .outbox_recent(500)
            .await
            .expect("outbox")
            .iter()
            .filter(|m| m.to_addr == to && m.subject.contains(subject))
            .count()
    }

    async fn session(&self, secret: &str) -> SessionInfo {
        self.s
            .session(secret)
            .await
            .expect("session")
            .expect("live session")
    }

    /// A registered, verified account; returns the session of its first login.
    async fn user(&self, name: &str) -> String {
        let email = format!("{name}@example.org");
        self.s
            .register(name, &email, PW, &meta("192.0.2.1"))
            .await
            .expect("register");
        let t = self.mailed_token(&email, "Verify").await;
        self.s
            .verify_email(&t, &meta("192.0.2.1"))
            .await
            .expect("verify");
        match self
            .s
            .login_password(name, PW, &meta("192.0.2.1"))
            .await
            .expect("login")
        {
            LoginStep::Done(g) | LoginStep::EnrolTwoFactor(g) => g.secret,
            LoginStep::NeedTwoFactor { .. } => panic!("no 2FA yet"),
        }
    }

    /// Enrol TOTP and confirm it by mail; returns (seed, recovery codes).
    async fn with_totp(&self, session: &str) -> (String, Vec<String>) {
        let info = self.session(session).await;
        let enrol = self.s.totp_begin(&info).expect("begin");
        let code = code_at(&enrol.secret_base32, self.secs()).expect("code");
        let done = self
            .s
            .totp_confirm(&info, &enrol.secret_base32, &code, &meta("192.0.2.1"))
            .await
            .expect("confirm");
        assert!(
            done.pending_email_confirmation,
            "the first method waits for the mail"
        );
        assert_eq!(done.recovery_codes.len(), 8);
        let to = format!("{}@example.org", info.user.username);
        let t = self.mailed_token(&to, "Confirm two-factor").await;
        self.s
            .confirm_2fa_email(&t, &meta("192.0.2.1"))
            .await
            .expect("confirm mail");
        // The enrolment code's step is spent by nobody: move on a step so tests start clean.
        self.clock.advance(30_000_000);
        (enrol.secret_base32, done.recovery_codes)
    }

    fn secs(&self) -> u64 {
        u64::try_from(self.s.now() / 1_000_000).expect("time")
    }

    async fn ticket(&self, name: &str, ip: &str) -> String {
        match self
            .s
            .login_password(name, PW, &meta(ip))
            .await
            .expect("password step")
        {
            LoginStep::NeedTwoFactor { ticket, methods } => {
                assert!(methods.totp);
                ticket
            }
            other => panic!("expected a second step, got {other:?}"),
        }
    }
}

fn is_forbidden(r: &Result<impl std::fmt::Debug, CoreError>, needle: &str) -> bool {
    matches!(r, Err(CoreError::Forbidden(m)) if m.contains(needle))
}

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
async fn sensitive_changes_need_a_recent_reauthentication() {
    let h = harness(false).await;
    let s = h.user("alice").await;
    h.clock.advance(11 * MIN);
    let info = h.session(&s).await;
    assert!(h.s.needs_reauth(&info));
    let r =
        h.s.add_email(&info, "alice2@example.org", &meta("192.0.2.1"))
            .await;
    assert!(is_forbidden(&r, crate::sessions::REAUTH_REQUIRED), "{r:?}");
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
    let r = h.s.authenticate_upload(&Credentials::Token(token)).await;
    assert!(r.is_err(), "tokens revoked");
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

impl H {
    async fn ticket_with(&self, name: &str, pw: &str) -> String {
        match self
            .s
            .login_password(name, pw, &meta("192.0.2.1"))
            .await
            .expect("password step")
        {
            LoginStep::NeedTwoFactor { ticket, .. } => ticket,
            other => panic!("{other:?}"),
        }
    }
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
    assert_eq!(failures.len(), 20);
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
        h.s.authenticate_upload(&Credentials::Token(token))
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

#[tokio::test]
async fn other_users_objects_are_404_and_mail_tokens_check_their_address() {
    let h = harness(false).await;
    let a = h.user("alice").await;
    let b = h.user("bob").await;
    let (ai, bi) = (h.session(&a).await, h.session(&b).await);
    h.s.create_token("alice", "ci", None, None, &meta("192.0.2.1"))
        .await
        .expect("token");
    let tid = h.s.tokens_of(ai.user.id).await.expect("tokens")[0].id;
    assert!(matches!(
        h.s.revoke_token(&bi, tid, &meta("192.0.2.1")).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(matches!(
        h.s.end_session(bi.user.id, ai.id, &meta("192.0.2.1")).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(h.s.session(&a).await.expect("get").is_some());
    let alice_email = h.s.db.emails_of(ai.user.id).await.expect("emails")[0].id;
    assert!(matches!(
        h.s.remove_email(&bi, alice_email, &meta("192.0.2.1")).await,
        Err(CoreError::NotFound(_))
    ));
    h.s.revoke_token(&ai, tid, &meta("192.0.2.1"))
        .await
        .expect("own token");
    // A verification link for an address removed since is dead.
    h.s.add_email(&ai, "old@example.org", &meta("192.0.2.1"))
        .await
        .expect("add");
    let t = h.mailed_token("old@example.org", "Verify").await;
    let old =
        h.s.db
            .email_by_address("old@example.org")
            .await
            .expect("get")
            .expect("row");
    h.s.remove_email(&ai, old.id, &meta("192.0.2.1"))
        .await
        .expect("remove");
    assert!(h.s.verify_email(&t, &meta("192.0.2.1")).await.is_err());
    assert_eq!(
        h.mail_count("old@example.org", "was removed").await,
        1,
        "the removed address is told"
    );
    // Every action above is in the hash-chained log, without secrets.
    assert_eq!(h.s.db.verify_events().await.expect("verify"), None);
    let events = h.s.account_events(ai.user.id, 100).await.expect("events");
    assert!(events.iter().any(|e| e.action == "account:email:remove"));
    assert!(
        events
            .iter()
            .all(|e| !e.details.contains(&t) && !e.details.contains(PW))
    );
}

#[tokio::test]
async fn outbox_mail_is_written_as_eml_and_listed() {
    let h = harness(false).await;
    h.user("alice").await;
    let sent = h.s.deliver_outbox().await.expect("deliver");
    assert!(sent >= 1);
    assert_eq!(
        h.s.deliver_outbox().await.expect("again"),
        0,
        "each mail once"
    );
    let files = crate::mail::list_outbox_files(&h.s.settings.outbox_dir).expect("list");
    let f = files
        .iter()
        .find(|f| f.subject.contains("Verify"))
        .expect("verification mail");
    assert_eq!(f.to, "alice@example.org");
    assert!(!f.date.is_empty());
    let body = std::fs::read_to_string(&f.file).expect("read");
    assert!(
        body.contains("https://index.example/account/verify-email/?token="),
        "{body}"
    );
}

#[tokio::test]
async fn undeliverable_mail_is_retried_with_backoff_not_dropped() {
    let mut h = harness(false).await;
    h.user("alice").await;
    let mut settings = (*h.s.settings).clone();
    settings.smtp = Some(crate::SmtpSettings {
        host: "127.0.0.1".into(),
        port: 9,
        tls: crate::SmtpTls::None,
        username: None,
        password: None,
    });
    h.s.settings = Arc::new(settings);
    assert_eq!(h.s.deliver_outbox().await.expect("round"), 0);
    let pending = h.s.db.outbox_due(i64::MAX, 10).await.expect("due");
    assert!(
        !pending.is_empty()
            && pending
                .iter()
                .all(|m| m.attempts == 1 && m.last_error.is_some())
    );
    assert!(
        h.s.db
            .outbox_due(h.s.now(), 10)
            .await
            .expect("due")
            .is_empty(),
        "backing off"
    );
    h.clock.advance(31_000_000);
    assert_eq!(h.s.deliver_outbox().await.expect("round"), 0);
    let pending = h.s.db.outbox_due(i64::MAX, 10).await.expect("due");
    assert!(pending.iter().all(|m| m.attempts == 2), "retried");
}

/// A minimal SMTP sink: accepts one session at a time, records each message's DATA.
async fn smtp_sink() -> (u16, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut messages = Vec::new();
        while let Ok(Ok((sock, _))) =
            tokio::time::timeout(std::time::Duration::from_millis(1500), listener.accept()).await
        {
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            let _ = w.write_all(b"220 sink ESMTP\r\n").await;
            let mut data: Option<String> = None;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(d) = data.as_mut() {
                    if line == "." {
                        messages.push(data.take().unwrap_or_default());
                        let _ = w.write_all(b"250 queued\r\n").await;
                    } else {
                        d.push_str(&line);
                        d.push('\n');
                    }
                    continue;
                }
                let verb = line.to_ascii_uppercase();
                let reply: &[u8] = if verb.starts_with("EHLO") || verb.starts_with("HELO") {
                    b"250 sink\r\n"
                } else if verb.starts_with("DATA") {
                    data = Some(String::new());
                    b"354 go ahead\r\n"
                } else if verb.starts_with("QUIT") {
                    let _ = w.write_all(b"221 bye\r\n").await;
                    break;
                } else {
                    b"250 ok\r\n"
                };
                let _ = w.write_all(reply).await;
            }
        }
        messages
    });
    (port, task)
}

#[tokio::test]
async fn mail_goes_out_over_smtp_when_a_relay_is_configured() {
    let mut h = harness(false).await;
    h.user("alice").await;
    let (port, sink) = smtp_sink().await;
    let mut settings = (*h.s.settings).clone();
    settings.smtp = Some(crate::SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: crate::SmtpTls::None,
        username: None,
        password: None,
    });
    h.s.settings = Arc::new(settings);
    let sent = h.s.deliver_outbox().await.expect("deliver");
    assert!(sent >= 1, "delivered {sent}");
    assert!(
        h.s.db
            .outbox_due(i64::MAX, 10)
            .await
            .expect("due")
            .is_empty(),
        "nothing left pending"
    );
    let messages = sink.await.expect("sink");
    assert_eq!(messages.len(), sent);
    assert!(
        messages
            .iter()
            .any(|m| m.contains("Subject: Verify your email address")
                && m.contains("To: alice@example.org")),
        "{messages:?}"
    );
    assert!(
        crate::mail::list_outbox_files(&h.s.settings.outbox_dir)
            .expect("list")
            .is_empty(),
        "no files when SMTP works"
    );
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
async fn mail_sending_actions_are_rate_limited() {
    let h = harness(false).await;
    let s = h.user("alice").await;
    let info = h.session(&s).await;
    // Verification mails: 3 per 6 hours per user.
    h.s.add_email(&info, "a2@example.org", &meta("192.0.2.1"))
        .await
        .expect("add");
    let e2 =
        h.s.db
            .email_by_address("a2@example.org")
            .await
            .expect("get")
            .expect("row")
            .id;
    for _ in 0..3 {
        h.s.resend_verification(info.user.id, e2, &meta("192.0.2.1"))
            .await
            .expect("resend");
    }
    let r =
        h.s.resend_verification(info.user.id, e2, &meta("192.0.2.1"))
            .await;
    assert!(
        matches!(r, Err(CoreError::TooMany { retry_after_secs, .. }) if retry_after_secs > 5 * 3600),
        "{r:?}"
    );
    // Address additions: 2 per day per IP.
    h.s.add_email(&info, "a3@example.org", &meta("192.0.2.1"))
        .await
        .expect("second add");
    let r =
        h.s.add_email(&info, "a4@example.org", &meta("192.0.2.1"))
            .await;
    assert!(matches!(r, Err(CoreError::TooMany { .. })), "{r:?}");
    assert!(
        h.s.db
            .email_by_address("a4@example.org")
            .await
            .expect("get")
            .is_none(),
        "nothing added"
    );
    // Registrations: 10 per hour per IP.
    for i in 0..9 {
        h.s.register(
            &format!("user{i}"),
            &format!("user{i}@example.org"),
            PW,
            &meta("192.0.2.1"),
        )
        .await
        .expect("register");
    }
    let r =
        h.s.register("one-more", "one-more@example.org", PW, &meta("192.0.2.1"))
            .await;
    assert!(
        matches!(r, Err(CoreError::TooMany { .. })),
        "alice was the 1st, this is the 11th: {r:?}"
    );
    h.s.register("one-more", "one-more@example.org", PW, &meta("192.0.2.77"))
        .await
        .expect("another IP");
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
            s.authenticate_upload(&Credentials::Token(secret))
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
    // Registered, never verified.
    h.s.register("fresh", "fresh@example.org", PW, &meta("192.0.2.1"))
        .await
        .expect("register");
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
        h.s.authenticate_upload(&Credentials::Token(secret))
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
    assert!(is_forbidden(&r, crate::sessions::REAUTH_REQUIRED), "{r:?}");
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
    // Registered, never verified.
    h.s.register("fresh", "fresh@example.org", PW, &meta("192.0.2.1"))
        .await
        .expect("register");
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

#[tokio::test]
async fn the_web_signing_key_is_made_once_and_kept() {
    let h = harness(false).await;
    let a = h.s.web_signing_key().await.expect("key");
    let b = h.s.web_signing_key().await.expect("key");
    assert_eq!(a, b);
    assert_ne!(a, [0u8; 32]);
}
