//! strongroom's policy and use cases: publishing files, building the indexes, accounts and API
//! tokens, yanking. No HTTP and no SQL here: the server crate speaks HTTP, the store crate SQL.

pub mod accounts;
pub mod admin;
pub mod advisories;
pub mod blob_collector;
pub mod breached;
pub mod client_kind;
pub mod clock;
mod credential_gate;
pub mod database_check;
pub mod deletion;
pub mod descriptions;
pub mod domains;
pub mod download_log;
pub mod email_address;
pub mod error;
pub mod evidence;
pub mod file_review;
pub mod file_status;
mod file_urls;
pub mod freeze;
pub mod fsck;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod gateway;
pub mod handback;
pub mod hash_pool;
pub mod help;
pub mod hold;
pub mod impact;
pub mod incident;
pub mod index;
pub mod job_stats;
pub mod jobs;
mod json_doc;
pub mod limits;
pub mod login;
pub mod mail;
pub mod names;
pub mod operator_enrolment;
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
pub mod review_queue;
pub mod scan_cache;
pub mod scanning;
pub mod search_index;
pub mod second_factor;
mod secrets;
pub mod sessions;
pub mod settings;
pub mod signals;
pub mod site;
pub mod striped;
pub mod synthetic;
pub mod timeline;
pub mod tokens;
pub mod trusted_proxies;
pub mod two_factor_reset;
mod upload_checks;
pub mod upload_safety;
pub mod upstream_cache;
pub mod upstream_names;
pub mod upstream_rules;
pub mod verdicts;
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
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod visibility_tests;

use std::sync::Arc;

pub use clock::{Clock, FileOffsetClock, ManualClock, SystemClock};
pub use error::CoreError;
pub use login::{LoginStep, TwoFactorMethods};
pub use second_factor::{Enrolled, TotpEnrolment};
pub use sessions::{SessionGrant, SessionInfo};
pub use settings::{
    BlobSettings, DownloadSettings, ImageSettings, NoticeSettings, SafetySettings, ScanSettings,
    Settings, SmtpSettings, SmtpTls, UpstreamSettings,
};
use strongroom_store::{Blobs, Db};

/// Who is asking, as far as the event log cares.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The request's id (`X-Request-Id`, server::request_log), recorded with its events.
    pub request_id: Option<String>,
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
    /// The rate limits in force: `settings.limits` at start, replaced by [`Services::reload_limits`].
    limits: Arc<std::sync::RwLock<Arc<limits::Limits>>>,
    /// Where password hashing runs (bounded, `password.hash_concurrency`).
    pub hash_pool: hash_pool::HashPool,
    /// The client for upstream indexes (`None`: no upstream configured, local only).
    pub upstream: Option<strongroom_upstream::UpstreamClient>,
    /// The download log's recorder (`download_log`).
    pub downloads: download_log::DownloadRecorder,
    /// Upstream pages being revalidated now, one request per project at a time (`gateway`).
    pub(crate) revalidations: gateway::stored::Revalidations,
    /// Upstream file verdicts by page validity (`gateway::fast`).
    pub(crate) gateway_verdicts: gateway::fast::VerdictMemo,
    /// Downloads of kept upstream files waiting for a flush (`upstream_cache::touches`).
    pub upstream_touches: upstream_cache::touches::UpstreamTouches,
    /// This process's estimate of the upstream cache's bytes (`upstream_cache`).
    pub(crate) upstream_bytes: upstream_cache::CacheBytes,
    /// The SQLite file's full check, when `serve` runs it after answering (`database_check`).
    pub database_check: database_check::DatabaseCheck,
}

impl Services {
    /// Bundle the parts.
    pub fn new(db: Db, blobs: Blobs, settings: Settings) -> Services {
        Services {
            db,
            blobs,
            clock: Arc::new(SystemClock),
            limits: Arc::new(std::sync::RwLock::new(Arc::new(settings.limits.clone()))),
            hash_pool: hash_pool::HashPool::new(
                settings.hash_concurrency,
                settings.hash_wait_secs,
                settings.argon2_memory_kib,
            ),
            // `serve` refuses to start when the client cannot be built (it calls
            // `build_client` first); other users of the services (admin commands) go on
            // without the gateway, loudly.
            upstream: match settings.upstream.build_client() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "the upstream client cannot start; serving local projects only");
                    None
                }
            },
            downloads: download_log::DownloadRecorder::default(),
            revalidations: gateway::stored::Revalidations::default(),
            gateway_verdicts: gateway::fast::VerdictMemo::default(),
            upstream_touches: upstream_cache::touches::UpstreamTouches::default(),
            upstream_bytes: upstream_cache::CacheBytes::default(),
            database_check: database_check::DatabaseCheck::default(),
            settings: Arc::new(settings),
        }
    }

    /// The rate limits in force now (a reload replaces them for every request that starts after it).
    pub fn limits(&self) -> Arc<limits::Limits> {
        // A poisoned lock still holds a whole `Arc` (a writer only swaps it): use it.
        match self.limits.read() {
            Ok(l) => Arc::clone(&l),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replace the rate limits for every clone of these services (SIGHUP calls this with the
    /// limits read from the configuration again). `rate_limits = false` stays a start-time switch.
    pub fn reload_limits(&self, new: limits::Limits) {
        let new = Arc::new(new);
        match self.limits.write() {
            Ok(mut l) => *l = new,
            Err(poisoned) => *poisoned.into_inner() = new,
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
            request_id: meta.request_id.clone(),
            details,
        }
    }

    /// Now, in microseconds since the epoch.
    pub fn now(&self) -> i64 {
        self.clock.now_micros()
    }
}
