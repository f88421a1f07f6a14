//! The ownership rules, end to end through `Services` on a SQLite database with a hand-moved
//! clock: invitations (verified invitee, expiry, voiding, one pending), the last Owner, the
//! cooling-off hold with its veto link, admin approval and the job, who is mailed, the recovery
//! hold's refusals, and yanking by release id. Every test names the rule it pins.

use strongroom_store::model::User;
use strongroom_store::{NewEvent, PublishOutcome};

use crate::login::LoginStep;
use crate::ownership::ChangeOutcome;
use crate::settings::{HOUR_MICROS, days};
use crate::{Actor, CoreError, RequestMeta};

use crate::test_harness::{Harness, PW, T0, is_forbidden, is_invalid, sdist};

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
        ip: Some("192.0.2.7".into()),
        user_agent: Some("test-browser".into()),
        request_id: None,
    }
}

async fn harness() -> H {
    H(Harness::new().await)
}

impl H {
    /// An account with a verified address (made at the CLI).
    async fn user(&self, name: &str) -> User {
        self.s
            .create_user(name, &format!("{name}@example.org"), PW, false, &meta())
            .await
            .expect("create user")
    }

    /// Publish a file of `project` as `owner` at time `at` (creating the project, `owner`
    /// becoming its Owner at `at`).
    async fn publish(&self, project: &str, version: &str, owner: &User, at: i64) -> PublishOutcome {
        let filename = format!("{}-{version}.tar.gz", project.replace('-', "_"));
        let seed = format!("{project}{version}{}", owner.id);
        self.s
            .db
            .publish_file(&sdist(project, version, owner, at, filename, &seed))
            .await
            .expect("publish")
    }

    /// `alice` has owned `proj` for 30 days.
    async fn old_project(&self, owner: &User) {
        let out = self.publish("proj", "1.0", owner, T0 - days(30)).await;
        assert!(matches!(out, PublishOutcome::Published { .. }), "{out:?}");
    }

    async fn roles(&self) -> Vec<(String, String)> {
        let p = self
            .s
            .db
            .project_by_normalized("proj")
            .await
            .expect("p")
            .expect("exists");
        self.s
            .db
            .roles_of_project(p.id)
            .await
            .expect("roles")
            .into_iter()
            .map(|r| (r.username, r.role.to_string()))
            .collect()
    }

    async fn mails_to(&self, name: &str, subject: &str) -> Vec<String> {
        self.mails(&format!("{name}@example.org"), subject).await
    }

    /// Invite and accept.
    async fn member(&self, by: &User, who: &User, role: &str) {
        let inv = self
            .s
            .invite(by, "proj", &who.username, role, &meta())
            .await
            .expect("invite");
        self.s
            .accept_invitation(who, inv.id, &meta())
            .await
            .expect("accept");
    }

    /// The token of the newest veto mail to `name`.
    async fn veto_token(&self, name: &str) -> String {
        self.token_in_mail(&format!("{name}@example.org"), "Veto")
            .await
    }
}

mod changes;
mod invitations;
mod restrictions;
mod watched;
