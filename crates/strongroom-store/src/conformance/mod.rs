//! The store test-suite, run against every backend: SQLite (a temp file) and PostgreSQL (a fresh
//! database on the server named by `STRONGROOM_TEST_PG_URL`); blobs on a local folder and on the
//! S3-compatible server named by `STRONGROOM_TEST_S3_*`, both reached through the storage
//! layer's test harness ([`crate::testing`]): a service that is not configured leaves its
//! cases out with one loud line, or fails the suite under `STRONGROOM_TEST_REQUIRE_SERVICES=1`.

mod accounts;
mod admin;
mod advisories;
mod blobs;
mod claims;
mod descriptions;
mod download_log;
mod faults;
mod file_review;
mod file_scans;
mod file_status;
mod fsck;
mod gateway_lookup;
mod incidents;
mod meta;
mod outbox;
mod page_hits;
mod pending;
mod refusals;
mod registration;
mod roles;
mod safety;
mod scan_cache;
mod schema;
mod search;
mod secrets;
mod snapshot;
mod synthetic;
mod upgrades;
mod upstream_files;
mod upstream_pages;
mod upstream_rules;
mod upstream_served;
mod verdicts;
mod visibility;

use crate::testing;
use crate::users::NewUser;
use crate::{Db, NewEvent};

/// The suite's name in the line that says its PostgreSQL or S3 cases were not run.
pub(crate) const SUITE: &str = "store conformance";

/// The secrets key of the suite's databases (a fixed test key; `secrets` cases use others).
pub(crate) fn test_keyring() -> crate::Keyring {
    testing::keyring(42)
}

/// Every database backend, each freshly created and migrated, with the suite's secrets key.
pub(crate) async fn backends() -> Vec<(&'static str, Db, tempfile::TempDir)> {
    raw_backends()
        .await
        .into_iter()
        .map(|(name, db, dir)| (name, db.with_keyring(test_keyring()), dir))
        .collect()
}

/// Every database backend, freshly created and migrated, without a secrets key: SQLite, and
/// PostgreSQL unless it is not configured (see [`testing`] for what happens then).
pub(crate) async fn raw_backends() -> Vec<(&'static str, Db, tempfile::TempDir)> {
    testing::databases(SUITE).await
}

/// An event about an account (`subject_kind` `user`) at `at`.
pub(crate) fn user_event(action: &str, at: i64) -> NewEvent {
    NewEvent {
        at,
        action: action.into(),
        subject_kind: "user".into(),
        ..NewEvent::default()
    }
}

/// A verified account `name` with the password hash `h`, created at time 1; returns its id.
pub(crate) async fn user(db: &Db, name: &str) -> i64 {
    verified_user(db, name, Some("h"), 1, user_event("account:create", 1)).await
}

/// A verified account `name` (address `<name>@example.org`) created at `at` with its
/// `account:create` event; returns its id.
pub(crate) async fn verified_user(
    db: &Db,
    name: &str,
    password_hash: Option<&str>,
    at: i64,
    event: NewEvent,
) -> i64 {
    db.create_user(
        &NewUser {
            username: name.into(),
            email: format!("{name}@example.org"),
            email_verified: true,
            password_hash: password_hash.map(str::to_owned),
            is_admin: false,
            at,
        },
        event,
    )
    .await
    .expect("create user")
    .id
}
