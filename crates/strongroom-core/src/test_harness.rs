//! What the core's use-case tests share: services over a SQLite database and a blob folder in a
//! temp dir ([`crate::testing`], which the server's tests use too), a
//! hand-moved clock, and settings that never reach the network (no HIBP, no RDAP, no DNS) and
//! hash passwords cheaply; the readers the suites check outcomes through (mails, events) and
//! their upload fixture.

use std::path::Path;
use std::sync::Arc;

use strongroom_store::NewFile;
use strongroom_store::model::User;

use crate::settings::days;
use crate::{CoreError, ManualClock, SafetySettings, Services, Settings};

/// 2026-01-01T00:00:00Z, where every test clock starts.
pub(crate) const T0: i64 = 1_767_225_600_000_000;

/// Settings for tests: 2FA and rate limits off, mail to `<dir>/outbox`, links under
/// `https://index.example`, no network checks, registration open (the suites register their
/// accounts; the registration suite sets each mode itself and tests the default).
pub(crate) fn settings(dir: &Path) -> Settings {
    Settings {
        require_2fa: false,
        hibp_url: None,
        outbox_dir: dir.join("outbox"),
        public_url: Some("https://index.example".into()),
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        rate_limits: false,
        registration: crate::registration::Registration::Open,
        safety: SafetySettings {
            domain_check_interval_hours: 0,
            rdap_url: None,
            ..SafetySettings::default()
        },
        // Most suites publish rows without writing blobs: the sampled check would signal each
        // (its own tests turn it on).
        blobs: crate::BlobSettings {
            verify_sample: 0,
            ..crate::BlobSettings::default()
        },
        ..Settings::default()
    }
}

/// Services over a fresh database, with `adjust` applied to [`settings`]; the clock shows [`T0`].
pub(crate) async fn services(
    adjust: impl FnOnce(&Path, &mut Settings),
) -> (Services, Arc<ManualClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = settings(dir.path());
    adjust(dir.path(), &mut settings);
    let key = strongroom_store::SecretsKey::generate().expect("key");
    let mut s =
        crate::testing::services_in(dir.path(), settings, strongroom_store::Keyring::new(key))
            .await;
    let clock = Arc::new(ManualClock::new(T0));
    s.clock = clock.clone();
    (s, clock, dir)
}

/// The password of every account the suites make.
pub(crate) const PW: &str = "correct horse battery staple";

/// A suite's services and clock over a fresh database (the temp dir lives as long as it does),
/// with the readers the suites check outcomes through. Suites wrap it in their own `H` (which
/// derefs to it) to add their fixtures.
pub(crate) struct Harness {
    pub s: Services,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// [`services`] with the test [`settings`] unchanged.
    pub async fn new() -> Harness {
        let (s, clock, _dir) = services(|_, _| {}).await;
        Harness { s, clock, _dir }
    }

    /// [`services`] with `adjust` applied to the test [`settings`].
    pub async fn with(adjust: impl FnOnce(&Path, &mut Settings)) -> Harness {
        let (s, clock, _dir) = services(adjust).await;
        Harness { s, clock, _dir }
    }

    /// The temp folder holding the database, the folder blob store (`files/`) and the outbox.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// A verified account without a password, created at [`T0`] (`NAME@example.org`).
    pub async fn user(&self, name: &str) -> User {
        self.s
            .db
            .create_user(
                &strongroom_store::NewUser {
                    username: name.into(),
                    email: format!("{name}@example.org"),
                    email_verified: true,
                    password_hash: None,
                    is_admin: false,
                    at: T0,
                },
                strongroom_store::NewEvent {
                    at: T0,
                    action: "account:create".into(),
                    subject_kind: "user".into(),
                    ..strongroom_store::NewEvent::default()
                },
            )
            .await
            .expect("user")
    }

    /// The account as the database has it now.
    pub async fn fresh(&self, u: &User) -> User {
        self.s
            .db
            .user_by_id(u.id)
            .await
            .expect("get")
            .expect("exists")
    }

    /// The bodies of the queued mails to `to` whose subject contains `subject`, newest first.
    pub async fn mails(&self, to: &str, subject: &str) -> Vec<String> {
        self.s
            .db
            .outbox_recent(1000)
            .await
            .expect("outbox")
            .into_iter()
            .filter(|m| m.to_addr == to && m.subject.contains(subject))
            .map(|m| m.body)
            .collect()
    }

    /// The `token=` of the newest such mail's link.
    pub async fn token_in_mail(&self, to: &str, subject: &str) -> String {
        let body = self
            .mails(to, subject)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no '{subject}' mail to {to}"));
        let at = body.find("token=").expect("a link") + 6;
        body[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    /// Every event's action, in log order.
    pub async fn actions(&self) -> Vec<String> {
        self.events().await.into_iter().map(|e| e.action).collect()
    }

    /// The details of every `action` event, in log order.
    pub async fn event_details(&self, action: &str) -> Vec<serde_json::Value> {
        self.events()
            .await
            .into_iter()
            .filter(|e| e.action == action)
            .map(|e| serde_json::from_str(&e.details).expect("json"))
            .collect()
    }

    async fn events(&self) -> Vec<strongroom_store::model::Event> {
        self.s.db.events(0, 10_000).await.expect("events")
    }
}

/// Whether `r` is a `Forbidden` refusal whose message contains `needle`.
pub(crate) fn is_forbidden<T: std::fmt::Debug>(r: &Result<T, CoreError>, needle: &str) -> bool {
    matches!(r, Err(CoreError::Forbidden(m)) if m.contains(needle))
}

/// Whether `r` is an `Invalid` refusal whose message contains `needle`.
pub(crate) fn is_invalid<T: std::fmt::Debug>(r: &Result<T, CoreError>, needle: &str) -> bool {
    matches!(r, Err(CoreError::Invalid(m)) if m.contains(needle))
}

/// A 10-byte source distribution `filename` of `project` `version` uploaded by `u` at `at`,
/// straight to the store (no archive); its digests come from `seed` (same seed, same file).
pub(crate) fn sdist(
    project: &str,
    version: &str,
    u: &User,
    at: i64,
    filename: String,
    seed: &str,
) -> NewFile {
    let h = |salt: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{salt}{seed}")))
    };
    NewFile {
        project_name: project.into(),
        normalized_name: strongroom_protocol::name::normalize(project),
        ultranormalized_name: format!("u-{project}"),
        user_id: u.id,
        username: u.username.clone(),
        token_project_id: None,
        token_id: None,
        version: version.into(),
        canonical_version: strongroom_protocol::version::Version::parse(version)
            .map_or_else(|_| version.to_owned(), |v| v.canonical()),
        requires_python: None,
        core_metadata: format!("Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"),
        description: None,
        filename,
        packagetype: "sdist".into(),
        python_version: "source".into(),
        size: 10,
        md5: h("md5")[..32].into(),
        sha256: h("sha"),
        blake2_256: h("b2"),
        blob_key: h("key"),
        metadata_sha256: None,
        metadata_blake2_256: None,
        comment_text: None,
        at,
        ip: None,
        user_agent: None,
        request_id: None,
        release_window_micros: days(14),
        max_project_size: 1 << 30,
        scan: None,
    }
}

/// An account whose primary address was never verified, as self-registration made them before
/// it became verify-first (older databases still hold such accounts). Password: [`PW`].
pub async fn legacy_unverified(s: &Services, name: &str, address: &str) -> User {
    let hash = crate::accounts::hash_password(&s.settings, PW).expect("hash");
    let mut tx = s.db.begin_account().await.expect("begin");
    let (id, _) = tx
        .insert_user(name, address, &hash, s.now())
        .await
        .expect("insert");
    tx.commit(&[], &[]).await.expect("commit");
    s.db.user_by_id(id).await.expect("get").expect("exists")
}

/// Run one SQL statement on the services' database (`strongroom_store::testing::exec`).
pub(crate) async fn exec(s: &Services, sql: &str) {
    strongroom_store::testing::exec(&s.db, sql).await;
}
