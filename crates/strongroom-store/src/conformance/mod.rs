//! The store test-suite, run against every backend: SQLite (a temp file) and PostgreSQL (a fresh
//! database on the server named by `STRONGROOM_TEST_PG_URL`); blobs on a local folder and on the
//! S3-compatible server named by `STRONGROOM_TEST_S3_*`. A missing service fails the suite.

mod accounts;
mod admin;
mod blobs;
mod claims;
mod descriptions;
mod faults;
mod file_review;
mod fsck;
mod incidents;
mod meta;
mod pending;
mod refusals;
mod registration;
mod roles;
mod safety;
mod search;
mod secrets;
mod snapshot;
mod upgrades;
mod visibility;

use sqlx::Executor;

use crate::users::NewUser;
use crate::{Db, NewEvent};

/// The secrets key of the suite's databases (a fixed test key; `secrets` cases use others).
pub(crate) fn test_keyring() -> crate::Keyring {
    crate::Keyring::new(crate::SecretsKey::from_bytes([42; crate::sealing::KEY_LEN]))
}

/// Every database backend, each freshly created and migrated, with the suite's secrets key.
pub(crate) async fn backends() -> Vec<(&'static str, Db, tempfile::TempDir)> {
    raw_backends()
        .await
        .into_iter()
        .map(|(name, db, dir)| (name, db.with_keyring(test_keyring()), dir))
        .collect()
}

/// Pool settings for the suites: the production timeouts (a few seconds, to answer 503 fast
/// in an outage) are too short for a PostgreSQL busy creating a database for every test of a
/// parallel run on a loaded machine.
fn patient() -> crate::DbSettings {
    crate::DbSettings {
        connect_timeout: std::time::Duration::from_secs(60),
        acquire_timeout: std::time::Duration::from_secs(60),
        ..crate::DbSettings::default()
    }
}

/// Every database backend, freshly created and migrated, without a secrets key.
pub(crate) async fn raw_backends() -> Vec<(&'static str, Db, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .expect("sqlite");
    sqlite.migrate().await.expect("migrate sqlite");
    let pg_url = std::env::var("STRONGROOM_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("STRONGROOM_TEST_PG_URL is not set: the store suite needs PostgreSQL (bash scripts/test.sh starts one)")
    });
    let admin = Db::connect_with(&pg_url, &patient())
        .await
        .expect("connect to PostgreSQL");
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        crate::model::now_micros() % 1_000_000_000_000 + i64::from(rand_u16())
    );
    admin
        .write
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create database");
    admin.close().await;
    let base = pg_url.rsplit_once('/').map_or(pg_url.as_str(), |(b, _)| b);
    let pg = Db::connect_with(&format!("{base}/{name}"), &patient())
        .await
        .expect("connect to the test database");
    pg.migrate().await.expect("migrate postgres");
    vec![
        ("sqlite", sqlite, dir),
        ("postgres", pg, tempfile::tempdir().expect("tempdir")),
    ]
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

fn rand_u16() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static N: AtomicU16 = AtomicU16::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
