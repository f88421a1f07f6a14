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
    /// The migrations this binary knows (`1..=known_migrations`): readiness compares the
    /// database's schema with them.
    pub known_migrations: i64,
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
    /// Password hashes computed at once (each holds `argon2_memory_kib`); more wait.
    pub hash_concurrency: usize,
    /// How long a login waits for a hashing slot before a 503 (seconds).
    pub hash_wait_secs: u64,
    /// Every rate limit's rate (`ratelimit.*`); `Services::limits` is what is in force.
    pub limits: crate::limits::Limits,
    /// Ownership, recovery and incident-response policy.
    pub safety: SafetySettings,
    /// Reverse proxies whose `X-Forwarded-For` names the client (events, rate limits) and whose
    /// `X-Request-Id` is kept: a handle SIGHUP replaces (`proxy.trusted_ips`).
    pub trusted_proxies: crate::trusted_proxies::TrustedProxies,
    /// Who may create an account from the registration page (`accounts.registration`).
    pub registration: crate::registration::Registration,
    /// A pending registration (its username reserved, its address not yet proven) and an
    /// address added but never verified are dropped after this many hours
    /// (`accounts.unverified_address_hours`).
    pub unverified_address_hours: u64,
    /// Blob claims and the collector of unreferenced blobs (issue 8, finding 6).
    pub blobs: BlobSettings,
    /// The HTTP front door: page cache budget, Host names, connection timeouts and caps.
    pub http: HttpSettings,
    /// Notices to Owners of added files, yanks and unyanks, batched (`core::owner_notices`).
    pub notices: NoticeSettings,
    /// External images in descriptions: shown through the image proxy, or as links (`images.*`).
    pub images: ImageSettings,
    /// The gateway to upstream indexes (`upstream.*`, issue 12); no upstream = local only.
    pub upstream: UpstreamSettings,
    /// The download log (`downloads.*`).
    pub downloads: DownloadSettings,
    /// The content scanner and the verdicts it leads to (`scan.*`, `osv.*`, issue 13).
    pub scan: ScanSettings,
}

/// The content scanner and the index's own verdicts (`scan.*`, `osv.*`, issue 13). See
/// docs/scanning.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSettings {
    /// A release (or added file) whose score reaches this is held for review.
    pub hold_score: u32,
    /// The prefix of this index's OSV ids (`<prefix>-<year>-<n>`); never a bare `MAL`.
    pub osv_id_prefix: String,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            hold_score: DEFAULT_HOLD_SCORE,
            osv_id_prefix: DEFAULT_OSV_ID_PREFIX.to_owned(),
        }
    }
}

/// `scan.hold_score` by default (docs/scanning.md says what weighs how much).
pub const DEFAULT_HOLD_SCORE: u32 = 10;
/// `osv.id_prefix` by default.
pub const DEFAULT_OSV_ID_PREFIX: &str = "STRONGROOM-MAL";

/// `upstream.file_hosts` by default: the public index's files host, so that its files are
/// fetched through the configured proxies (other public hosts are fetched directly, guarded).
pub const DEFAULT_FILE_HOSTS: &str = "files.pythonhosted.org";

/// The gateway to upstream indexes (`upstream.*`, issue 12). See docs/gateway.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// The client's part: upstreams in priority order (empty = local only), timeouts, CA bundle.
    pub client: strongroom_upstream::ClientSettings,
    /// Names that never resolve upstream though no local project has them yet (normalised).
    pub private_patterns: Vec<strongroom_protocol::NamePattern>,
    /// Upstream files younger than this (by `upload-time`) are not served; 0 = off.
    pub min_age_days: u64,
    /// A stored upstream page is served without asking the upstream for this long (seconds).
    pub page_ttl_secs: u64,
    /// The most bytes of cached upstream files kept (least recently downloaded go first).
    pub cache_max_bytes: u64,
    /// The largest upstream file fetched (bytes).
    pub max_file_bytes: u64,
    /// Fetches of not-yet-cached upstream files per client address per minute.
    pub new_fetches_per_minute: u32,
    /// Each name is asked about at each upstream at most this often (name-conflict job, hours).
    pub name_check_interval_hours: u64,
    /// At most this many names are asked about per jobs run.
    pub name_checks_per_run: u64,
    /// Upstream page fetches (names not stored yet, or past the TTL) per client address per
    /// minute; 0 = off.
    pub page_fetches_per_minute: u32,
    /// The most bytes of stored upstream pages kept (least recently served go first).
    pub pages_max_bytes: u64,
    /// Names the name-conflict job never sends to an upstream (matched normalised, like
    /// `private_patterns`): names whose existence must not leave the organisation.
    pub name_watch_exclude: Vec<strongroom_protocol::NamePattern>,
}

impl UpstreamSettings {
    /// True when at least one upstream is configured.
    pub fn enabled(&self) -> bool {
        !self.client.indexes.is_empty()
    }

    /// The upstream client (`None` when no upstream is configured); an error when one is
    /// configured but the client cannot be built (a CA bundle that holds no certificate, a TLS
    /// setup that cannot start). `serve` refuses to start on that error.
    pub fn build_client(
        &self,
    ) -> Result<Option<strongroom_upstream::UpstreamClient>, strongroom_upstream::UpstreamError>
    {
        if !self.enabled() {
            return Ok(None);
        }
        strongroom_upstream::UpstreamClient::new(self.client.clone()).map(Some)
    }
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        UpstreamSettings {
            client: strongroom_upstream::ClientSettings {
                indexes: Vec::new(),
                timeout_secs: 20,
                ca_bundle: None,
                // the biggest real project pages are a few MB (a PEP 691 entry is ~0.5 KB, so
                // 16 MiB is ~30 000 files): room to spare, while bounding what one page costs
                // to read, parse and store; a bigger page fails that project ("page too
                // large"), and the key raises it
                max_page_bytes: 16 * 1024 * 1024,
                file_hosts: strongroom_upstream::FileHost::parse(DEFAULT_FILE_HOSTS)
                    .into_iter()
                    .collect(),
            },
            private_patterns: Vec::new(),
            min_age_days: 0,
            page_ttl_secs: 300,
            cache_max_bytes: 20 * 1024 * 1024 * 1024,
            max_file_bytes: 4 * 1024 * 1024 * 1024,
            new_fetches_per_minute: 120,
            name_check_interval_hours: 24,
            name_checks_per_run: 100,
            page_fetches_per_minute: 300,
            pages_max_bytes: 1024 * 1024 * 1024,
            name_watch_exclude: Vec::new(),
        }
    }
}

/// The download log (`downloads.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadSettings {
    /// Client addresses and user agents are kept this long, then only counted (days).
    pub retention_days: u64,
}

impl Default for DownloadSettings {
    fn default() -> Self {
        DownloadSettings { retention_days: 90 }
    }
}

/// External images in project descriptions (`images.*`, issue 11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSettings {
    /// Show them through this server's image proxy (`/image-proxy/…`); off, they are links, so
    /// a page view never makes a reader's browser contact a host a description chose.
    pub proxy: bool,
    /// Largest image the proxy passes on, bytes.
    pub proxy_max_bytes: u64,
    /// The proxy gives up on an image after this long (connect, redirects and body).
    pub proxy_timeout_secs: u64,
    /// TEST SUITES ONLY: the proxy may fetch from loopback addresses (a local image server).
    pub allow_loopback: bool,
}

impl Default for ImageSettings {
    fn default() -> Self {
        ImageSettings {
            proxy: false,
            proxy_max_bytes: 5 * 1024 * 1024,
            proxy_timeout_secs: 10,
            allow_loopback: false,
        }
    }
}

/// How notices to a project's Owners are batched (`notices.*`).
#[derive(Debug, Clone)]
pub struct NoticeSettings {
    /// The first notice of a project goes out at once; later ones within this many minutes are
    /// collected into one digest mail per recipient, sent by the job at the window's end.
    pub digest_minutes: u64,
    /// A digest lists at most this many items and says how many more there were.
    pub digest_max_items: usize,
}

impl Default for NoticeSettings {
    fn default() -> Self {
        NoticeSettings {
            digest_minutes: 60,
            digest_max_items: 20,
        }
    }
}

/// Blob claims and the collector (`core::blob_collector`).
#[derive(Debug, Clone)]
pub struct BlobSettings {
    /// An upload's claim on its blob key protects the blob this long (far longer than any
    /// upload takes from its claim to its publish); a blob the database has never heard of is
    /// left alone until it is this old.
    pub claim_grace_minutes: u64,
    /// How often `serve` lists the whole blob store for blobs no file references (0 = only at
    /// start and by `strongroom admin run-jobs`). Expired claims are collected on every jobs run.
    pub scan_interval_hours: u64,
    /// Whether `serve` lists the whole blob store when it starts (else the first listing waits
    /// for `scan_interval_hours`): a large bucket makes every start list it all.
    pub scan_at_start: bool,
    /// How many random files' blobs each jobs run reads whole and checks against their
    /// sha256 (`core::fsck`); a missing or damaged one is an admin signal. 0 = off.
    pub verify_sample: u64,
}

impl Default for BlobSettings {
    fn default() -> Self {
        BlobSettings {
            claim_grace_minutes: 60,
            scan_interval_hours: 24,
            scan_at_start: true,
            verify_sample: 5,
        }
    }
}

/// Ownership, recovery-hold, retention and email-domain policy (issue 4).
#[derive(Debug, Clone)]
pub struct SafetySettings {
    /// A role invitation expires this long after it was sent.
    pub invitation_hours: u64,
    /// An Owner who has held the role for less than this is a newcomer: removing or demoting
    /// an Owner of longer standing is held for `pending_hours`.
    pub newcomer_days: u64,
    /// How long a held owner removal or demotion waits for a veto.
    pub pending_hours: u64,
    /// How long after a password reset, an email change or a 2FA (re)enrolment the account is held.
    pub recovery_hold_hours: u64,
    /// A project with no new release for this long is dormant.
    pub dormant_project_days: u64,
    /// For this long after a recovery event, a new release of a dormant project by the account
    /// is quarantined for admin review instead of published.
    pub recovery_watch_days: u64,
    /// How far before a freeze (or a deletion being undone, or an admin's 2FA reset) the
    /// incident window may start: its earliest suspicious change within this many days.
    pub incident_lookback_days: u64,
    /// A deleted account's personal data is kept this long, then purged.
    pub deleted_account_retention_days: u64,
    /// How often verified addresses' domains are checked (0 = only by `admin check-domains`).
    pub domain_check_interval_hours: u64,
    /// DNS server (`IP:PORT`) for domain checks; None = the first nameserver of /etc/resolv.conf.
    pub dns_resolver: Option<String>,
    /// RDAP base URL (`https://rdap.org/`); None = no registration-data check.
    pub rdap_url: Option<String>,
    /// Whether the email-domain check runs at all (`domains.check`): off = no DNS or RDAP
    /// lookup ever, by the job, `admin check-domains` or the admin area.
    pub domain_check: bool,
    /// The organisation's own domains (`domains.trusted`, IDNA form, lower case): addresses at
    /// them or their subdomains are never looked up nor unverified.
    pub trusted_domains: Vec<String>,
    /// The circuit breaker (`domains.max_unverify_share`): a round that would unverify more
    /// than this share of all verified addresses (and more than
    /// [`crate::domains::breaker::ALWAYS_ALLOWED`]) unverifies none and raises a signal.
    pub max_unverify_share: f64,
}

impl Default for SafetySettings {
    fn default() -> Self {
        SafetySettings {
            invitation_hours: 72,
            newcomer_days: 7,
            pending_hours: 72,
            recovery_hold_hours: 72,
            dormant_project_days: 365,
            recovery_watch_days: 30,
            incident_lookback_days: 30,
            deleted_account_retention_days: 90,
            domain_check_interval_hours: 24,
            dns_resolver: None,
            rdap_url: Some("https://rdap.org/".into()),
            domain_check: true,
            trusted_domains: Vec::new(),
            max_unverify_share: crate::domains::breaker::DEFAULT_SHARE,
        }
    }
}

/// Microseconds in an hour.
pub const HOUR_MICROS: i64 = 3_600_000_000;

/// `n` hours in microseconds (saturating).
pub fn hours(n: u64) -> i64 {
    i64::try_from(n)
        .unwrap_or(i64::MAX / HOUR_MICROS)
        .saturating_mul(HOUR_MICROS)
}

/// `n` days in microseconds (saturating).
pub fn days(n: u64) -> i64 {
    hours(n.saturating_mul(24))
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
            known_migrations: strongroom_store::LATEST_MIGRATION,
            hibp_offline_dir: None,
            smtp: None,
            mail_from: "strongroom <strongroom@localhost>".into(),
            outbox_dir: PathBuf::from("./strongroom-data/outbox"),
            webauthn_rp_id: "localhost".into(),
            webauthn_origin: "http://localhost:8080".into(),
            rate_limits: true,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            hash_concurrency: std::thread::available_parallelism().map_or(1, usize::from),
            hash_wait_secs: 10,
            limits: crate::limits::Limits::default(),
            safety: SafetySettings::default(),
            trusted_proxies: crate::trusted_proxies::TrustedProxies::default(),
            registration: crate::registration::Registration::Closed,
            unverified_address_hours: 72,
            blobs: BlobSettings::default(),
            notices: NoticeSettings::default(),
            http: HttpSettings::default(),
            images: ImageSettings::default(),
            upstream: UpstreamSettings::default(),
            downloads: DownloadSettings::default(),
            scan: ScanSettings::default(),
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

/// The HTTP front door (issue 8): what a request may make the server keep (memory, connections,
/// time). Every bound is a number an operator can raise; none depends on what a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Bytes the rendered-page cache may hold (bodies, gzip copies, keys); larger pages are
    /// served without being kept.
    pub cache_max_bytes: u64,
    /// Host names (lowercase, no port; IPv6 in brackets) requests may name; empty = any. Holds
    /// `public_url`'s host and `http.allowed_hosts`.
    pub allowed_hosts: Vec<String>,
    /// A connection is closed when no complete request head arrives this long after it opened
    /// or after the previous response (idle keep-alive, slow headers).
    pub idle_timeout_secs: u64,
    /// A request body must deliver at least this many bytes in every `body_window_secs`.
    pub body_min_bytes: u64,
    /// The window of `body_min_bytes`, seconds.
    pub body_window_secs: u64,
    /// A response write that makes no progress for this long ends the connection.
    pub write_timeout_secs: u64,
    /// Open connections in total (lowered at start to what the open-files limit allows).
    pub max_connections: u64,
    /// Open connections per client address (at most a quarter of the total; reverse proxies in
    /// `trusted_proxies` are exempt).
    pub max_connections_per_ip: u64,
    /// A request body that is not an authenticated upload (web forms, XML-RPC, a refused
    /// upload's drain) must be complete within this many seconds.
    pub body_timeout_secs: u64,
    /// Uploads one account may have in progress at once (more: 429).
    pub max_uploads_per_user: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            cache_max_bytes: 64 * 1024 * 1024,
            allowed_hosts: Vec::new(),
            idle_timeout_secs: 30,
            body_min_bytes: 8 * 1024,
            body_window_secs: 30,
            write_timeout_secs: 60,
            max_connections: 1024,
            max_connections_per_ip: 128,
            body_timeout_secs: 30,
            max_uploads_per_user: 4,
        }
    }
}
