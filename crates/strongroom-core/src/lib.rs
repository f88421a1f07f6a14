//! strongroom's policy and use cases: publishing files, building the indexes, accounts and API
//! tokens, yanking. No HTTP and no SQL here: the server crate speaks HTTP, the store crate SQL.

pub mod accounts;
pub mod admin;
pub mod blob_collector;
pub mod breached;
pub mod clock;
mod credential_gate;
pub mod deletion;
pub mod descriptions;
pub mod domains;
pub mod email_address;
pub mod error;
pub mod evidence;
pub mod file_review;
pub mod freeze;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod handback;
pub mod hold;
pub mod incident;
pub mod index;
pub mod jobs;
mod json_doc;
pub mod login;
pub mod mail;
pub mod names;
pub mod owner_notices;
pub mod ownership;
mod password_change;
pub mod passwords;
pub mod pending_registration;
pub mod publish;
pub mod ratelimit;
pub mod readiness;
pub mod refusal_log;
pub mod registration;
pub mod registration_invites;
pub mod removal;
pub mod review;
pub mod second_factor;
pub mod sessions;
pub mod settings;
pub mod signals;
pub mod site;
pub mod timeline;
pub mod tokens;
pub mod two_factor_reset;
mod upload_checks;
pub mod upload_safety;
pub mod visibility;
pub mod watch;
pub mod webauthn;
pub mod yank;

#[cfg(test)]
mod account_tests;
#[cfg(test)]
mod admin_tests;
#[cfg(test)]
mod ownership_tests;
#[cfg(test)]
mod registration_tests;
#[cfg(test)]
mod safety_tests;
#[cfg(test)]
mod test_harness;
#[cfg(test)]
mod visibility_tests;

use std::sync::Arc;

pub use clock::{Clock, FileOffsetClock, ManualClock, SystemClock};
pub use error::CoreError;
pub use login::{LoginStep, TwoFactorMethods};
pub use second_factor::{Enrolled, TotpEnrolment};
pub use sessions::{SessionGrant, SessionInfo};
pub use settings::{BlobSettings, NoticeSettings, SafetySettings, Settings, SmtpSettings, SmtpTls};
use strongroom_store::{Blobs, Db};

/// Who is asking, as far as the event log cares.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Who did something, for the event log: an account (web, API) or the operator at the CLI
/// (`id` None, `name` like `cli:root`).
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<i64>,
    pub name: String,
}

impl Actor {
    /// An account acting.
    pub fn user(u: &strongroom_store::model::User) -> Actor {
        Actor {
            id: Some(u.id),
            name: u.username.clone(),
        }
    }
}

/// The subject of an event.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// `user`, `project`, `site`, `name`.
    pub kind: &'a str,
    pub id: Option<i64>,
    pub name: Option<&'a str>,
}

/// Everything the use cases need: storage, time and settings.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub blobs: Blobs,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
}

impl Services {
    /// Bundle the parts.
    pub fn new(db: Db, blobs: Blobs, settings: Settings) -> Services {
        Services {
            db,
            blobs,
            clock: Arc::new(SystemClock),
            settings: Arc::new(settings),
        }
    }

    /// An event by `actor` about `subject`, from this request, now.
    pub fn event(
        &self,
        actor: &Actor,
        action: &str,
        subject: Subject<'_>,
        meta: &RequestMeta,
        details: serde_json::Value,
    ) -> strongroom_store::NewEvent {
        strongroom_store::NewEvent {
            at: self.now(),
            actor_id: actor.id,
            actor_name: Some(actor.name.clone()),
            action: action.to_owned(),
            subject_kind: subject.kind.to_owned(),
            subject_id: subject.id,
            subject_name: subject.name.map(str::to_owned),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            details,
        }
    }

    /// Now, in microseconds since the epoch.
    pub fn now(&self) -> i64 {
        self.clock.now_micros()
    }
}
