//! Plain records read from and written to the database.

use serde::{Deserialize, Serialize};

/// Microseconds since the Unix epoch, from the system clock.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// An account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub created_at: i64,
    pub frozen_at: Option<i64>,
    pub deleted_at: Option<i64>,
}

/// An email address of an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Email {
    pub id: i64,
    pub user_id: i64,
    pub address: String,
    pub is_primary: bool,
    pub verified_at: Option<i64>,
}

/// An API token row (the secret itself is never stored, only its SHA-256).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub token_hash: String,
    pub project_id: Option<i64>,
    pub project_name: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub normalized_name: String,
    pub created_at: i64,
    pub status: String,
    pub last_serial: i64,
    pub total_size: i64,
}

/// A role of a user on a project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub project_id: i64,
    pub user_id: i64,
    pub username: String,
    pub role: String,
    pub granted_at: i64,
}

/// A release (all the files of one version).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub id: i64,
    pub project_id: i64,
    pub version: String,
    pub canonical_version: String,
    pub created_at: i64,
    pub requires_python: Option<String>,
    pub core_metadata: String,
    pub yanked_at: Option<i64>,
    pub yanked_reason: Option<String>,
}

/// A distribution file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistFile {
    pub id: i64,
    pub release_id: i64,
    pub project_id: i64,
    pub filename: String,
    pub packagetype: String,
    pub python_version: String,
    pub size: i64,
    pub md5: String,
    pub sha256: String,
    pub blake2_256: String,
    pub blob_key: String,
    pub metadata_sha256: Option<String>,
    pub comment_text: Option<String>,
    pub uploaded_at: i64,
}

/// One journal entry (the mirror-facing change feed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    pub serial: i64,
    pub project_name: String,
    pub version: Option<String>,
    pub filename: Option<String>,
    pub action: String,
    pub at: i64,
}

/// One entry of the security event log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: Option<i64>,
    pub subject_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}
