//! The core's error: a kind the HTTP layer maps to a status, and the message the user sees.

use strongroom_store::StoreError;

/// A use case's failure.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The request is malformed or breaks a rule (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// Not allowed, or not authenticated (HTTP 403, as PyPI answers uploads).
    #[error("{0}")]
    Forbidden(String),
    /// A sensitive change in a session whose last proof of identity is too old: the person
    /// must confirm their password (or a second factor) again first (HTTP 403; the web UI
    /// shows the confirmation prompt).
    #[error("{}", crate::sessions::REAUTH_REQUIRED)]
    ReauthRequired,
    /// The thing does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with existing state (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The endpoint or action is gone (HTTP 410).
    #[error("{0}")]
    Gone(String),
    /// Too many requests (HTTP 429, with `Retry-After`).
    #[error("{message}")]
    TooMany {
        message: String,
        retry_after_secs: u64,
    },
    /// The index is too busy to do this now (HTTP 503, with `Retry-After`): every slot of a
    /// bounded resource (password hashing) stayed taken for the whole wait.
    #[error("{message}")]
    Busy {
        message: String,
        retry_after_secs: u64,
    },
    /// No upstream index answered for a project the gateway has no stored page of (HTTP 504
    /// when it timed out, else 502); the message says so without naming the upstream's URL.
    #[error("{message}")]
    UpstreamUnavailable { timed_out: bool, message: String },
    /// Storage failed (HTTP 5xx); the message is for logs only.
    #[error("storage failure: {0}")]
    Storage(#[from] StoreError),
    /// Anything else unexpected (HTTP 500); the message is for logs only.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a client is told when a write failed because a disk is full (HTTP 507). The request
/// changed nothing and may simply be repeated once the operator has freed space.
pub const OUT_OF_SPACE: &str = "The package index is out of storage space, so nothing was stored. \
Try again later; if this persists, tell the index's administrator.";

/// What a client is told when the database cannot be reached (HTTP 503 with `Retry-After`).
pub const DATABASE_UNAVAILABLE: &str = "The package index cannot reach its database right now, so nothing was read or changed. \
Try again in a few seconds.";

/// What a client is told when the blob store cannot be reached (HTTP 503 with `Retry-After`).
pub const BLOB_STORE_UNAVAILABLE: &str = "The package index cannot reach its file store right now, so nothing was read or changed. \
Try again in a few seconds.";

impl CoreError {
    /// Which backend is unreachable, when an outage caused this failure.
    pub fn unavailable(&self) -> Option<strongroom_store::Backend> {
        match self {
            CoreError::Storage(e) => e.unavailable(),
            _ => None,
        }
    }

    /// Whether a full disk (database, blob store or temp folder) caused this failure.
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, CoreError::Storage(e) if e.is_out_of_space())
    }

    /// The seconds to put in `Retry-After`, for a rate-limit refusal or a busy answer.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            CoreError::TooMany {
                retry_after_secs, ..
            }
            | CoreError::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl From<std::io::Error> for CoreError {
    fn from(e: std::io::Error) -> Self {
        CoreError::Storage(StoreError::from(e))
    }
}
