//! The policy knobs the core obeys (filled from the binary's configuration).

use std::path::PathBuf;

/// How mail leaves the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (loopback relays, tests).
    None,
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// An SMTP relay.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Upload, index and account policy.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest accepted file, bytes.
    pub max_file_size: u64,
    /// Largest total size of one project's files, bytes.
    pub max_project_size: u64,
    /// Refuse legacy (non-normalised) filenames, as PyPI now does for new uploads.
    pub strict_filenames: bool,
    /// Enforce today's metadata rules on every file, including ones PyPI added after files it
    /// still hosts were published (see `publish::is_historical_rule`).
    pub strict_metadata: bool,
    /// New files may be added to a release for this many days after it was created.
    pub release_file_window_days: u64,
    /// Absolute base URL for links (`https://pypi.example.org`), if configured.
    pub public_url: Option<String>,
    /// The address the server listens on (links in mail fall back to `http://<bind>`).
    pub bind: String,
    /// Two-factor authentication is needed to do anything but log in and enrol (and to upload).
    pub require_2fa: bool,
    /// A session ends after this long without a request.
    pub session_idle_minutes: u64,
    /// A session ends this long after login, whatever happens.
    pub session_absolute_hours: u64,
    /// Sensitive changes need a password or code entered this recently.
    pub reauth_minutes: u64,
    /// HIBP range API base (`…/range/`); None = no online breach check.
    pub hibp_url: Option<String>,
    /// Folder of HIBP range files (`ABCDE.txt`, lines `SUFFIX:COUNT`), checked before the API.
    pub hibp_offline_dir: Option<PathBuf>,
    /// SMTP relay; None = mail is written as `.eml` files to `outbox_dir`.
    pub smtp: Option<SmtpSettings>,
    /// The `From:` of every mail.
    pub mail_from: String,
    /// Where undeliverable-by-SMTP mail is written (`<data>/outbox`).
    pub outbox_dir: PathBuf,
    /// WebAuthn relying-party id (a registrable domain, no scheme or port).
    pub webauthn_rp_id: String,
    /// WebAuthn origin (`https://pypi.example.org`).
    pub webauthn_origin: String,
    /// Enforce rate limits (turn off only for test suites that hammer one IP).
    pub rate_limits: bool,
    /// Argon2id memory cost in KiB (tests lower it; production keeps the default).
    pub argon2_memory_kib: u32,
    /// Argon2id passes.
    pub argon2_iterations: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_file_size: 100 * 1024 * 1024,
            max_project_size: 10 * 1024 * 1024 * 1024,
            strict_filenames: false,
            strict_metadata: false,
            release_file_window_days: 14,
            public_url: None,
            bind: "127.0.0.1:8080".into(),
            require_2fa: true,
            session_idle_minutes: 60 * 12,
            session_absolute_hours: 24 * 14,
            reauth_minutes: 10,
            hibp_url: Some("https://api.pwnedpasswords.com/range/".into()),
            hibp_offline_dir: None,
            smtp: None,
            mail_from: "strongroom <noreply@localhost>".into(),
            outbox_dir: PathBuf::from("./strongroom-data/outbox"),
            webauthn_rp_id: "localhost".into(),
            webauthn_origin: "http://localhost:8080".into(),
            rate_limits: true,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
        }
    }
}

impl Settings {
    /// The base of links in mail: `public_url`, else `http://<bind>`, without a trailing slash.
    pub fn link_base(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind))
            .trim_end_matches('/')
            .to_owned()
    }
}
