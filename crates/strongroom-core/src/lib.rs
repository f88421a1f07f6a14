//! strongroom's policy and use cases: publishing files, building the indexes, accounts and API
//! tokens, yanking. No HTTP and no SQL here: the server crate speaks HTTP, the store crate SQL.

pub mod accounts;
pub mod breached;
pub mod clock;
pub mod error;
pub mod index;
mod json_doc;
pub mod login;
pub mod mail;
mod password_change;
pub mod passwords;
pub mod publish;
pub mod ratelimit;
pub mod second_factor;
pub mod sessions;
pub mod settings;
pub mod tokens;
mod upload_checks;
pub mod webauthn;
pub mod yank;

#[cfg(test)]
mod account_tests;

use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::CoreError;
pub use login::{LoginStep, TwoFactorMethods};
pub use second_factor::{Enrolled, TotpEnrolment};
pub use sessions::{SessionGrant, SessionInfo};
pub use settings::{Settings, SmtpSettings, SmtpTls};
use strongroom_store::{Blobs, Db};

/// Who is asking, as far as the event log cares.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
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

    /// Now, in microseconds since the epoch.
    pub fn now(&self) -> i64 {
        self.clock.now_micros()
    }
}
