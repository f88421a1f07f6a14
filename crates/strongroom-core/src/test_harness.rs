//! What the core's use-case tests share: a SQLite database and a blob folder in a temp dir, a
//! hand-moved clock, and settings that never reach the network (no HIBP, no RDAP, no DNS) and
//! hash passwords cheaply.

use std::path::Path;
use std::sync::Arc;

use strongroom_store::{Blobs, Db};

use crate::{ManualClock, SafetySettings, Services, Settings};

/// 2026-01-01T00:00:00Z, where every test clock starts.
pub(crate) const T0: i64 = 1_767_225_600_000_000;

/// Settings for tests: 2FA and rate limits off, mail to `<dir>/outbox`, links under
/// `https://index.example`, no network checks.
pub(crate) fn settings(dir: &Path) -> Settings {
    Settings {
        require_2fa: false,
        hibp_url: None,
        outbox_dir: dir.join("outbox"),
        public_url: Some("https://index.example".into()),
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        rate_limits: false,
        safety: SafetySettings {
            domain_check_interval_hours: 0,
            rdap_url: None,
            ..SafetySettings::default()
        },
        ..Settings::default()
    }
}

/// Services over a fresh database, with `adjust` applied to [`settings`]; the clock shows [`T0`].
pub(crate) async fn services(
    adjust: impl FnOnce(&Path, &mut Settings),
) -> (Services, Arc<ManualClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .expect("db");
    db.migrate().await.expect("migrate");
    let mut settings = settings(dir.path());
    adjust(dir.path(), &mut settings);
    let blobs = Blobs::local(dir.path().join("files")).expect("blobs");
    let mut s = Services::new(db, blobs, settings);
    let clock = Arc::new(ManualClock::new(T0));
    s.clock = clock.clone();
    (s, clock, dir)
}
