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
        request_id: None,
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

    /// `by` invites `who` to `role` on `project`, and `who` accepts.
    async fn join(&self, by: &User, project: &str, who: &User, role: &str) {
        let inv = self
            .s
            .invite(by, project, &who.username, role, &meta())
            .await
            .expect("invite");
        self.s
            .accept_invitation(who, inv.id, &meta())
            .await
            .expect("accept");
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

mod credential_changes;
mod deletion;
mod destruction;
mod domain_checks;
mod file_review;
mod hold;
mod quarantine;
mod undo;
mod undo_window;
