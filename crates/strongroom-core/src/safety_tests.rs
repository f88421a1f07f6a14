//! The recovery hold, the dormant-project quarantine, account deletion with its purge, and the
//! email-domain checks, end to end through `Services` on a SQLite database with a hand-moved
//! clock (and a table instead of DNS and RDAP). Every test names the rule it pins.

use std::collections::HashMap;

use strongroom_store::model::{ApiToken, User};
use strongroom_store::{NewFile, PublishOutcome, Refusal};

use crate::domains::rdap::{RdapInfo, RdapOutcome};
use crate::domains::{DnsOutcome, DomainProbe};
use crate::login::{BAD_CREDENTIALS, LoginStep};
use crate::settings::{HOUR_MICROS, days};
use crate::tokens::Principal;
use crate::{Actor, CoreError, RequestMeta, SessionInfo};

use crate::test_harness::{Harness, PW, T0, is_forbidden as forbidden, sdist};
const NEW_PW: &str = "a completely different passphrase 42";

/// The shared harness with this suite's fixtures.
struct H(Harness);

impl std::ops::Deref for H {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.0
    }
}

fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("192.0.2.9".into()),
        user_agent: Some("test-browser".into()),
    }
}

async fn harness() -> H {
    H(Harness::new().await)
}

impl H {
    /// An account made at the CLI (verified address), `age` ago.
    async fn user_aged(&self, name: &str, age: i64) -> User {
        self.clock.advance(-age);
        let u = self
            .s
            .create_user(name, &format!("{name}@example.org"), PW, false, &meta())
            .await
            .expect("create user");
        self.clock.advance(age);
        u
    }

    async fn user(&self, name: &str) -> User {
        self.user_aged(name, days(400)).await
    }

    async fn login(&self, name: &str) -> SessionInfo {
        let secret = match self
            .s
            .login_password(name, PW, &meta())
            .await
            .expect("login")
        {
            LoginStep::Done(g) | LoginStep::EnrolTwoFactor(g) => g.secret,
            other => panic!("{other:?}"),
        };
        self.s
            .session(&secret)
            .await
            .expect("session")
            .expect("live")
    }

    async fn reset_password(&self, u: &User) {
        self.s
            .request_password_reset(&u.username, &meta())
            .await
            .expect("request");
        let t = self
            .token_in_mail(&format!("{}@example.org", u.username), "Reset")
            .await;
        self.s
            .reset_password(&t, NEW_PW, &meta())
            .await
            .expect("reset");
    }

    fn new_file(&self, project: &str, version: &str, u: &User, at: i64) -> NewFile {
        let filename = format!("{project}-{version}-{at}.tar.gz");
        NewFile {
            packagetype: if at % 2 == 0 { "sdist" } else { "bdist_wheel" }.into(),
            ..sdist(
                project,
                version,
                u,
                at,
                filename,
                &format!("{project}{version}{at}"),
            )
        }
    }

    async fn publish(&self, project: &str, version: &str, u: &User, at: i64) -> PublishOutcome {
        self.s
            .db
            .publish_file(&self.new_file(project, version, u, at))
            .await
            .expect("publish")
    }

    fn principal(&self, u: &User) -> Principal {
        Principal {
            user: u.clone(),
            token: ApiToken {
                id: 1,
                user_id: u.id,
                name: "t".into(),
                token_hash: String::new(),
                project_id: None,
                project_name: None,
                created_at: T0,
                expires_at: None,
                last_used_at: None,
                revoked_at: None,
            },
        }
    }
}

fn name(n: &str) -> strongroom_protocol::name::ProjectName {
    strongroom_protocol::name::ProjectName::new(n).expect("name")
}

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
        vec![
            row("upload", "project", "old-proj"),
            row("upload", "project", "old-proj"),
        ]
    );
    assert_eq!(details[0]["hold_reason"], "password reset");
    assert_eq!(details[0]["until"], T0 + 72 * HOUR_MICROS);
    // A retry loop is refused every time but logged at most REFUSALS_LOGGED_PER_HOUR times an hour.
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
    let cap = usize::try_from(crate::hold::REFUSALS_LOGGED_PER_HOUR).expect("cap");
    assert_eq!(logged(&h).await, cap);
    h.clock.advance(HOUR_MICROS + 1);
    let r =
        h.s.check_upload_hold(&who, &name("old-proj"), &meta())
            .await;
    assert!(forbidden(&r, "recovery hold"), "{r:?}");
    assert_eq!(
        logged(&h).await,
        cap + 1,
        "an hour later the next one is logged"
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

impl H {
    /// Log in with password and TOTP (the seed is read back from the database).
    async fn login_after_2fa(&self, name: &str) -> SessionInfo {
        let LoginStep::NeedTwoFactor { ticket, .. } = self
            .s
            .login_password(name, PW, &meta())
            .await
            .expect("login")
        else {
            panic!("expected a second step")
        };
        let u = self.s.db.user_by_name(name).await.expect("u").expect("u");
        let seed = self.s.db.totp_of(u.id).await.expect("seed").expect("seed");
        let code = crate::second_factor::code_at(
            &seed.secret,
            u64::try_from(self.s.now() / 1_000_000).expect("secs"),
        )
        .expect("code");
        let grant = self
            .s
            .login_totp(&ticket, &code, &meta())
            .await
            .expect("totp");
        self.s
            .session(&grant.secret)
            .await
            .expect("session")
            .expect("live")
    }
}

#[tokio::test]
async fn dormant_projects_new_releases_are_quarantined_for_a_recovered_account() {
    let h = harness().await;
    let erin = h.user("erin").await;
    let admin =
        h.s.create_user("root", "root@example.org", PW, true, &meta())
            .await
            .expect("admin");
    assert!(admin.is_admin);
    assert!(matches!(
        h.publish("sleepy", "1.0", &erin, T0 - days(400)).await,
        PublishOutcome::Published { .. }
    ));
    assert!(matches!(
        h.publish("lively", "1.0", &erin, T0 - days(10)).await,
        PublishOutcome::Published { .. }
    ));
    // Not recovered: no quarantine rule at all.
    let p =
        h.s.upload_policy(&erin, "sleepy", "2.0", "f")
            .await
            .expect("policy");
    assert!(p.dormant_before.is_none());

    h.reset_password(&erin).await;
    h.clock.advance(73 * HOUR_MICROS);
    let erin = h.fresh(&erin).await;
    let now = h.s.now();
    let policy =
        h.s.upload_policy(&erin, "sleepy", "2.0", "sleepy-2.0.tar.gz")
            .await
            .expect("policy");
    assert_eq!(policy.dormant_before, Some(now - days(365)));
    let to: Vec<&str> = policy
        .quarantine_mails
        .iter()
        .map(|m| m.to.as_str())
        .collect();
    assert!(
        to.contains(&"erin@example.org") && to.contains(&"root@example.org"),
        "{to:?}"
    );

    let sleepy =
        h.s.db
            .project_by_normalized("sleepy")
            .await
            .expect("p")
            .expect("p");
    let serial_before = sleepy.last_serial;
    let out =
        h.s.db
            .publish_file_with(&h.new_file("sleepy", "2.0", &erin, now), &policy)
            .await
            .expect("publish");
    assert_eq!(
        out,
        PublishOutcome::Quarantined {
            release_created: true
        }
    );
    let sleepy =
        h.s.db
            .project_by_normalized("sleepy")
            .await
            .expect("p")
            .expect("p");
    assert_eq!(sleepy.last_serial, serial_before, "no journal entry");
    let visible: Vec<String> =
        h.s.db
            .releases_of(sleepy.id)
            .await
            .expect("r")
            .into_iter()
            .map(|r| r.version)
            .collect();
    assert_eq!(visible, vec!["1.0"]);
    assert_eq!(h.mails("root@example.org", "quarantined").await.len(), 1);
    let q = h.event_details("release:quarantine").await;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["version"], "2.0");
    // More files of the quarantined release stay in quarantine, with no new mail.
    let out =
        h.s.db
            .publish_file_with(&h.new_file("sleepy", "2.0", &erin, now + 1), &policy)
            .await
            .expect("publish");
    assert_eq!(
        out,
        PublishOutcome::Quarantined {
            release_created: false
        }
    );
    assert_eq!(h.mails("root@example.org", "quarantined").await.len(), 1);
    // A quarantined release does not make the project look alive: 2.1 is held too.
    let out =
        h.s.db
            .publish_file_with(&h.new_file("sleepy", "2.1", &erin, now + 2), &policy)
            .await
            .expect("publish");
    assert_eq!(
        out,
        PublishOutcome::Quarantined {
            release_created: true
        }
    );
    // A project with a recent release publishes normally.
    let policy =
        h.s.upload_policy(&erin, "lively", "2.0", "f")
            .await
            .expect("policy");
    let out =
        h.s.db
            .publish_file_with(&h.new_file("lively", "2.0", &erin, now + 3), &policy)
            .await
            .expect("publish");
    assert!(matches!(out, PublishOutcome::Published { .. }), "{out:?}");
    // After the watch, the dormant project publishes normally again.
    h.clock.advance(days(30));
    let policy =
        h.s.upload_policy(&erin, "sleepy", "3.0", "f")
            .await
            .expect("policy");
    assert!(policy.dormant_before.is_none() && policy.quarantine_mails.is_empty());
}

#[tokio::test]
async fn deletion_is_refused_for_a_sole_owner_and_soft_otherwise() {
    let h = harness().await;
    let frank = h.user("frank").await;
    let gina = h.user("gina").await;
    assert!(matches!(
        h.publish("solo", "1.0", &frank, T0 - days(5)).await,
        PublishOutcome::Published { .. }
    ));
    assert!(matches!(
        h.publish("shared", "1.0", &gina, T0 - days(5)).await,
        PublishOutcome::Published { .. }
    ));
    let shared =
        h.s.db
            .project_by_normalized("shared")
            .await
            .expect("p")
            .expect("p");
    let solo =
        h.s.db
            .project_by_normalized("solo")
            .await
            .expect("p")
            .expect("p");
    let mut tx = h.s.db.begin_account().await.expect("tx");
    tx.insert_role(shared.id, frank.id, "Owner", T0, Some(gina.id))
        .await
        .expect("role");
    tx.commit(&[], &[]).await.expect("commit");
    h.s.create_token("frank", "ci", None, None, &meta())
        .await
        .expect("token");
    let s = h.login("frank").await;

    let r = h.s.delete_own_account(&s, "frank", &meta()).await;
    assert!(forbidden(&r, "only Owner of this project: solo"), "{r:?}");
    assert!(h.fresh(&frank).await.deleted_at.is_none());

    // Gina joins solo as Owner; now frank can go.
    let mut tx = h.s.db.begin_account().await.expect("tx");
    tx.insert_role(solo.id, gina.id, "Owner", T0, Some(frank.id))
        .await
        .expect("role");
    tx.commit(&[], &[]).await.expect("commit");
    let r = h.s.delete_own_account(&s, "not-frank", &meta()).await;
    assert!(matches!(r, Err(CoreError::Invalid(_))), "{r:?}");
    let done =
        h.s.delete_own_account(&s, "frank", &meta())
            .await
            .expect("delete");
    assert_eq!(done.roles_removed.len(), 2);
    assert_eq!(done.tokens_revoked, 1);
    assert!(done.sessions_ended >= 1);
    let gone = h.fresh(&frank).await;
    assert!(gone.deleted_at.is_some());
    assert_eq!(gone.purge_after, Some(T0 + days(90)));
    assert!(
        h.s.db
            .role_of(shared.id, frank.id)
            .await
            .expect("r")
            .is_none()
    );
    assert!(
        h.s.db
            .role_of(solo.id, frank.id)
            .await
            .expect("r")
            .is_none()
    );
    let removals = h.event_details("role:remove").await;
    assert_eq!(removals.len(), 2);
    assert!(removals.iter().all(|d| d["reason"] == "account deleted"
        && d["user"] == "frank"
        && d["role"] == "Owner"
        && d["user_id"] == frank.id));
    assert!(h.actions().await.contains(&"account:delete".to_owned()));
    assert_eq!(h.mails("gina@example.org", "frank left").await.len(), 2);
    assert_eq!(
        h.mails("frank@example.org", "account was deleted")
            .await
            .len(),
        1
    );
    // The session is dead, login fails like an unknown account, the name stays taken.
    assert!(h.s.list_sessions(frank.id).await.expect("s").is_empty());
    let r = h.s.login_password("frank", PW, &meta()).await;
    assert!(forbidden(&r, BAD_CREDENTIALS), "{r:?}");
    let r =
        h.s.register("frank", "other@example.org", PW, &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Conflict(_))), "{r:?}");
    let r =
        h.s.register("FRANK", "other2@example.org", PW, &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Conflict(_))), "{r:?}");

    // The purge waits for the retention period, then removes personal data, never events.
    let events_before = h.actions().await.len();
    h.s.run_jobs().await.expect("jobs");
    assert_eq!(h.s.db.emails_of(frank.id).await.expect("e").len(), 1);
    h.clock.advance(days(90) + 1);
    let report = h.s.run_jobs().await.expect("jobs");
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("purged") && l.contains("frank")),
        "{:?}",
        report.lines
    );
    assert!(h.s.db.emails_of(frank.id).await.expect("e").is_empty());
    let u = h.fresh(&frank).await;
    assert!(u.password_hash.is_none());
    let (_, _, _, purged) =
        h.s.db
            .deletion_state(frank.id)
            .await
            .expect("s")
            .expect("s");
    assert!(purged.is_some());
    let actions = h.actions().await;
    assert_eq!(
        actions.len(),
        events_before + 1,
        "{:?}",
        &actions[events_before - 3..]
    );
    assert_eq!(actions.last().map(String::as_str), Some("account:purge"));
    // Idempotent.
    h.s.run_jobs().await.expect("jobs");
    assert_eq!(h.actions().await.len(), events_before + 1);
}

#[tokio::test]
async fn deletion_voids_invitations_to_and_from_the_account() {
    let h = harness().await;
    let hal = h.user("hal").await;
    let ivy = h.user("ivy").await;
    let jo = h.user("jo").await;
    h.publish("p1", "1.0", &hal, T0 - days(5)).await;
    h.publish("p2", "1.0", &jo, T0 - days(5)).await;
    let p1 =
        h.s.db
            .project_by_normalized("p1")
            .await
            .expect("p")
            .expect("p");
    let p2 =
        h.s.db
            .project_by_normalized("p2")
            .await
            .expect("p")
            .expect("p");
    let mut tx = h.s.db.begin_account().await.expect("tx");
    tx.insert_role(p1.id, ivy.id, "Owner", T0, Some(hal.id))
        .await
        .expect("r");
    tx.insert_invitation(p1.id, jo.id, hal.id, "Maintainer", T0, T0 + days(3))
        .await
        .expect("from hal");
    tx.insert_invitation(p2.id, hal.id, jo.id, "Maintainer", T0, T0 + days(3))
        .await
        .expect("to hal");
    tx.commit(&[], &[]).await.expect("commit");
    let s = h.login("hal").await;
    let done =
        h.s.delete_own_account(&s, "hal", &meta())
            .await
            .expect("delete");
    assert_eq!(done.invitations_voided, 2);
    assert!(
        h.s.db
            .pending_invitations_for_user(jo.id)
            .await
            .expect("i")
            .is_empty()
    );
    assert!(
        h.s.db
            .pending_invitations_of_project(p2.id)
            .await
            .expect("i")
            .is_empty()
    );
    assert_eq!(h.event_details("role:invite:void").await.len(), 2);
}

/// DNS and RDAP answers by domain.
#[derive(Default)]
struct Table {
    dns: HashMap<String, DnsOutcome>,
    rdap: HashMap<String, RdapOutcome>,
}

impl DomainProbe for Table {
    async fn dns(&self, domain: &str) -> DnsOutcome {
        self.dns
            .get(domain)
            .cloned()
            .unwrap_or(DnsOutcome::Resolves)
    }

    async fn rdap(&self, domain: &str) -> RdapOutcome {
        self.rdap
            .get(domain)
            .cloned()
            .unwrap_or(RdapOutcome::NotFound)
    }
}

#[tokio::test]
async fn the_domain_check_unverifies_and_tells_only_the_other_addresses() {
    let h = harness().await;
    let kim = h.user("kim").await;
    let s = h.login("kim").await;
    h.s.add_email(&s, "kim@lapsed.example", &meta())
        .await
        .expect("add");
    let t = h.token_in_mail("kim@lapsed.example", "Verify").await;
    h.s.verify_email(&t, &meta()).await.expect("verify");
    let lone =
        h.s.create_user("lone", "lone@gone.example", PW, false, &meta())
            .await
            .expect("lone");
    let mut probe = Table::default();
    probe.rdap.insert(
        "lapsed.example".into(),
        RdapOutcome::Found(RdapInfo {
            domain: "lapsed.example".into(),
            statuses: vec!["redemption period".into()],
            ..RdapInfo::default()
        }),
    );
    probe
        .dns
        .insert("gone.example".into(), DnsOutcome::NxDomain);
    let actor = Actor {
        id: None,
        name: "cli:test".into(),
    };
    let report =
        h.s.check_domains_with(&probe, &actor, &meta(), i64::MAX, 1000)
            .await
            .expect("check");
    let mut gone: Vec<(String, &str)> = report
        .unverified
        .iter()
        .map(|u| (u.address.clone(), u.kind.as_str()))
        .collect();
    gone.sort();
    assert_eq!(
        gone,
        vec![
            ("kim@lapsed.example".to_owned(), "lapsed"),
            ("lone@gone.example".to_owned(), "unresolvable"),
        ]
    );
    let kim_addrs = h.s.db.emails_of(kim.id).await.expect("e");
    assert!(
        kim_addrs[0].verified_at.is_some(),
        "the healthy address stays verified"
    );
    assert!(kim_addrs[1].verified_at.is_none());
    let notice = h.mails("kim@example.org", "no longer verified").await;
    assert_eq!(notice.len(), 1);
    assert!(notice[0].contains("kim@lapsed.example") && notice[0].contains("redemption period"));
    assert!(
        h.s.db
            .emails_of(lone.id)
            .await
            .expect("e")
            .iter()
            .all(|e| e.verified_at.is_none())
    );
    let ev = h.event_details("account:email:unverified").await;
    assert_eq!(ev.len(), 2);
    assert!(
        ev.iter()
            .any(|d| d["address"] == "kim@lapsed.example" && d["reason"] == "lapsed")
    );
    // Never told at the suspicious address itself.
    assert!(
        h.mails("lone@gone.example", "")
            .await
            .iter()
            .all(|b| !b.contains("no longer verified"))
    );
    assert!(
        h.mails("kim@lapsed.example", "no longer verified")
            .await
            .is_empty()
    );
    // A password reset now goes nowhere for lone (its only address is unverified), asked for
    // by name or by the address itself; kim's goes to the healthy address only.
    let before = h.mails("lone@gone.example", "").await.len();
    h.s.request_password_reset("lone", &meta())
        .await
        .expect("request");
    h.s.request_password_reset("lone@gone.example", &meta())
        .await
        .expect("request");
    assert_eq!(h.mails("lone@gone.example", "").await.len(), before);
    h.s.request_password_reset("kim@lapsed.example", &meta())
        .await
        .expect("request");
    assert!(h.mails("kim@lapsed.example", "Reset").await.is_empty());
    assert_eq!(h.mails("kim@example.org", "Reset").await.len(), 1);
    let req = h.event_details("account:password:reset_request").await;
    assert_eq!(
        req.iter().filter(|d| d["mailed"] == true).count(),
        1,
        "{req:?}"
    );
}

#[tokio::test]
async fn failures_to_find_out_change_nothing_and_healthy_domains_wait_for_the_interval() {
    let h = harness().await;
    let max = h.user("max").await;
    let mut probe = Table::default();
    probe
        .dns
        .insert("example.org".into(), DnsOutcome::Error("timeout".into()));
    let actor = Actor {
        id: None,
        name: "job".into(),
    };
    let r =
        h.s.check_domains_with(&probe, &actor, &meta(), i64::MAX, 1000)
            .await
            .expect("check");
    assert!(r.unverified.is_empty());
    assert_eq!(r.retry, vec!["max@example.org".to_owned()]);
    assert!(
        h.s.db.emails_of(max.id).await.expect("e")[0]
            .verified_at
            .is_some()
    );
    let state = h.s.db.email_domain_states(max.id).await.expect("s");
    assert_eq!(
        state[0].domain_checked_at,
        Some(h.s.now()),
        "every attempt is recorded"
    );
    assert_eq!(state[0].domain_failures, 1, "retried later, with backoff");

    // Healthy: checked now, not due again until the interval passed.
    let healthy = Table::default();
    let r =
        h.s.check_domains_with(&healthy, &actor, &meta(), i64::MAX, 1000)
            .await
            .expect("check");
    assert_eq!(
        r.domains,
        vec![("example.org".to_owned(), "healthy".to_owned())]
    );
    let due = |at: i64| {
        let db = h.s.db.clone();
        async move {
            db.addresses_due_for_domain_check(at, at, 100)
                .await
                .expect("due")
                .len()
        }
    };
    assert_eq!(due(h.s.now() - HOUR_MICROS).await, 0);
    assert_eq!(due(h.s.now()).await, 1);
}
