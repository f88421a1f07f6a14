//! The test harness of the storage layer, shared by every crate's tests (feature `testing`):
//! fresh migrated databases (SQLite in a temp folder, PostgreSQL on the server named by
//! `STRONGROOM_TEST_PG_URL`), blob stores (a folder, the S3 server named by
//! `STRONGROOM_TEST_S3_*`), and the one rule for a service that is not there.
//!
//! The rule: a suite that needs PostgreSQL or S3 asks [`postgres_url`] / [`s3_settings`]. When the
//! service's variables are unset, the suite's cases on it are not run and one line per suite
//! says so on stderr (written past the test harness's capture, so plain `cargo test` shows it);
//! with `STRONGROOM_TEST_REQUIRE_SERVICES=1` (set by `scripts/test.sh`, so by CI) the suite fails
//! instead. A service that is named but does not answer always fails.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;

use sqlx::Executor as _;

use crate::{Blobs, Db, DbSettings, Keyring, S3Settings, SecretsKey};

/// The switch that makes every service-needing suite mandatory.
pub const REQUIRE_SERVICES: &str = "STRONGROOM_TEST_REQUIRE_SERVICES";

/// A service some suites need and a fresh clone does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Postgres,
    S3,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Postgres => "PostgreSQL",
            Service::S3 => "S3",
        }
    }

    fn variables(self) -> &'static str {
        match self {
            Service::Postgres => "STRONGROOM_TEST_PG_URL",
            Service::S3 => "STRONGROOM_TEST_S3_ENDPOINT/_BUCKET/_ACCESS_KEY/_SECRET_KEY",
        }
    }
}

/// Whether `STRONGROOM_TEST_REQUIRE_SERVICES` asks for every service (`1`, `true`, `yes`).
pub fn services_required() -> bool {
    std::env::var(REQUIRE_SERVICES)
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// What a suite does when `service` is not configured: fail under the switch, otherwise say
/// once (per suite and service, per test process) that its cases there were not run.
fn missing(suite: &str, service: Service) {
    if services_required() {
        panic!(
            "{suite} needs {} and {} is not set ({REQUIRE_SERVICES}=1 makes every service \
             mandatory; bash scripts/test.sh --stages rust starts them)",
            service.name(),
            service.variables()
        );
    }
    static SAID: Mutex<BTreeSet<(String, Service)>> = Mutex::new(BTreeSet::new());
    let first = SAID
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert((suite.to_owned(), service));
    if first {
        // Past libtest's capture (which only takes the print macros): this line must be seen.
        let line = format!(
            "\n!!!!! NOT RUN: {suite} on {} ({} not set; `bash scripts/test.sh --stages rust` \
             starts the services and runs it) !!!!!\n",
            service.name(),
            service.variables()
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// The PostgreSQL server `suite` runs on, or `None` (announced, or a panic under the switch).
pub fn postgres_url(suite: &str) -> Option<String> {
    match std::env::var("STRONGROOM_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            missing(suite, Service::Postgres);
            None
        }
    }
}

/// The S3 bucket `suite` runs on, or `None` (announced, or a panic under the switch).
pub fn s3_settings(suite: &str) -> Option<S3Settings> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(bucket), Some(endpoint), Some(access), Some(secret)) = (
        var("STRONGROOM_TEST_S3_BUCKET"),
        var("STRONGROOM_TEST_S3_ENDPOINT"),
        var("STRONGROOM_TEST_S3_ACCESS_KEY"),
        var("STRONGROOM_TEST_S3_SECRET_KEY"),
    ) else {
        missing(suite, Service::S3);
        return None;
    };
    Some(S3Settings {
        bucket,
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        access_key_id: Some(access),
        secret_access_key: Some(secret),
        allow_http: true,
        ..S3Settings::default()
    })
}

/// The S3 blob store `suite` runs on, or `None` as [`s3_settings`] (the caller installs a
/// rustls crypto provider first).
pub fn s3_blobs(suite: &str) -> Option<Blobs> {
    s3_settings(suite).map(|s| Blobs::s3(&s).expect("S3 blob store from STRONGROOM_TEST_S3_*"))
}

/// A fixed secrets key made of `byte` (suites that need two keys pick two bytes).
pub fn keyring(byte: u8) -> Keyring {
    Keyring::new(SecretsKey::from_bytes([byte; crate::sealing::KEY_LEN]))
}

/// Pool settings for the suites: the production timeouts (a few seconds, to answer 503 fast
/// in an outage) are too short for a PostgreSQL busy creating a database for every test of a
/// parallel run on a loaded machine.
pub fn patient() -> DbSettings {
    DbSettings {
        connect_timeout: std::time::Duration::from_secs(60),
        acquire_timeout: std::time::Duration::from_secs(60),
        ..DbSettings::default()
    }
}

/// The URL of the SQLite database file `t.db` in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("t.db").display())
}

/// A migrated SQLite database at [`sqlite_url`]`(dir)`, without a secrets key.
pub async fn sqlite(dir: &Path) -> Db {
    let db = Db::connect(&sqlite_url(dir)).await.expect("open SQLite");
    db.migrate().await.expect("migrate SQLite");
    db
}

/// A fresh, migrated PostgreSQL database (its own `CREATE DATABASE` on the suite's server),
/// without a secrets key; `None` as [`postgres_url`].
pub async fn postgres(suite: &str) -> Option<Db> {
    let url = postgres_url(suite)?;
    let db = empty_postgres(&url).await;
    db.migrate().await.expect("migrate PostgreSQL");
    Some(db)
}

/// A new empty database on the server at `url`, connected, nothing applied.
pub async fn empty_postgres(url: &str) -> Db {
    let admin = Db::connect_with(url, &patient())
        .await
        .unwrap_or_else(|e| panic!("STRONGROOM_TEST_PG_URL is set but does not answer: {e}"));
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        crate::model::now_micros() % 1_000_000_000_000 + i64::from(next_u16())
    );
    admin
        .write
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create database");
    admin.close().await;
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    Db::connect_with(&format!("{base}/{name}"), &patient())
        .await
        .expect("connect to the test database")
}

fn next_u16() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static N: AtomicU16 = AtomicU16::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Every database backend `suite` can reach, freshly created and migrated, without a secrets
/// key: SQLite always, PostgreSQL when configured (see the module's rule). Each comes with a
/// temp folder that lives as long as it is needed (SQLite's file is in it).
pub async fn databases(suite: &str) -> Vec<(&'static str, Db, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![("sqlite", sqlite(dir.path()).await, dir)];
    if let Some(pg) = postgres(suite).await {
        out.push(("postgres", pg, tempfile::tempdir().expect("tempdir")));
    }
    out
}

/// Every blob store `suite` can reach: a folder `blobs` under `dir`, and S3 when configured.
pub fn blob_stores(suite: &str, dir: &Path) -> Vec<(&'static str, Blobs)> {
    let mut out = vec![(
        "local",
        Blobs::local(dir.join("blobs")).expect("local blob store"),
    )];
    if let Some(s3) = s3_blobs(suite) {
        out.push(("s3", s3));
    }
    out
}

/// Run one SQL statement as written (a test setting up a state no binary of today would make,
/// such as a release published by one without search).
pub async fn exec(db: &Db, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&db.write)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}
