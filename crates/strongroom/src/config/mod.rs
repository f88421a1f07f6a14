//! Configuration: defaults < `strongroom.toml` < `STRONGROOM_*` environment < command-line flags.
//! Nested keys use `__` in the environment (`STRONGROOM_S3__ENDPOINT` = `[s3] endpoint`), and any
//! secret may be given as `KEY_FILE` (a path whose contents are the value). This is the only
//! module that reads the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use strongroom_core::trusted_proxies::{IpRange, TrustedProxies};

use keys::KEYS;

mod defaults;
mod keys;
pub mod limits;
mod names;
mod parse;
mod redact;

use defaults::defaults;
use parse::*;

pub use redact::redact_url;
#[cfg(test)]
mod tests;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag,
    /// Not set: derived from other settings or the machine (the text says from what).
    Derived(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(k) => write!(f, "env {k}"),
            Source::Flag => f.write_str("flag"),
            Source::Derived(from) => write!(f, "derived from {from}"),
        }
    }
}

/// Command-line overrides.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub data: Option<String>,
    pub database: Option<String>,
    pub storage: Option<String>,
    pub bind: Option<String>,
    /// `serve --no-migrate`: `migrate_on_start = false` for this start.
    pub no_migrate: bool,
    /// `serve --upstream URL` (repeatable): `upstream.url`.
    pub upstream: Vec<String>,
}

/// The effective, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data: PathBuf,
    pub bind: String,
    pub database: String,
    pub storage: Storage,
    pub public_url: Option<String>,
    pub log: String,
    /// `log_format`: text or JSON lines.
    pub log_format: crate::logging::LogFormat,
    pub max_file_size: u64,
    pub max_project_size: u64,
    pub strict_filenames: bool,
    pub strict_metadata: bool,
    pub release_file_window_days: u64,
    /// The account-security part of the core's settings.
    pub accounts: AccountSettings,
    /// Ownership, recovery-hold, retention and domain-check policy.
    pub safety: strongroom_core::SafetySettings,
    /// TEST SUITES ONLY: the clock reads an offset (seconds) from this file.
    pub clock_offset_file: Option<PathBuf>,
    /// TEST SUITES ONLY: a SQLite file a start cannot vouch for is checked in the background
    /// whatever its size, after this long (so a suite can see changes wait for it).
    pub database_check_delay: Option<std::time::Duration>,
    /// Commands other than `migrate` apply pending migrations (`migrate_on_start`).
    pub migrate_on_start: bool,
    /// The migrations this binary knows: `1..=known_migrations` (all, unless
    /// `testing.known_migrations` makes it act as an older release).
    pub known_migrations: i64,
    /// Seconds between runs of the periodic jobs.
    pub jobs_interval_secs: u64,
    /// Reverse proxies trusted for `X-Forwarded-For` and `X-Request-Id` (addresses, ranges).
    pub trusted_proxies: Vec<IpRange>,
    /// Where the key that seals secrets in the database comes from.
    pub secrets_key: KeySource,
    /// Blob claims and the collector of unreferenced blobs.
    pub blobs: strongroom_core::BlobSettings,
    /// Batching of notices to Owners (`notices.*`).
    pub notices: strongroom_core::NoticeSettings,
    /// External images in descriptions (`images.*`).
    pub images: strongroom_core::ImageSettings,
    /// The gateway to upstream indexes (`upstream.*`).
    pub upstream: strongroom_core::UpstreamSettings,
    /// The download log (`downloads.*`).
    pub downloads: strongroom_core::DownloadSettings,
    /// The content scanner and OSV ids (`scan.*`, `osv.*`).
    pub scan: strongroom_core::ScanSettings,
    /// Page cache budget, Host names, connection timeouts and caps.
    pub http: strongroom_core::settings::HttpSettings,
    /// Every rate limit (`ratelimit.*`) and the password-hashing pool (`password.hash_*`).
    pub limits: limits::LimitSettings,
    /// The separate metrics listener's address (`metrics.bind`; None = off).
    pub metrics_bind: Option<String>,
    /// How long in-flight uploads may take to finish at shutdown (`shutdown.grace_seconds`).
    pub shutdown_grace_secs: u64,
    /// Database pool size and timeouts (`db.*`).
    pub db: strongroom_store::DbSettings,
    values: BTreeMap<&'static str, (String, Source)>,
    /// The flags this configuration was loaded with (SIGHUP loads again from the same sources).
    pub flags: Flags,
    /// The config file that was read (given, or the implicit `./strongroom.toml` made absolute):
    /// SIGHUP reads this one again and refuses when it is gone, never falling back to defaults.
    pub file: Option<PathBuf>,
}

/// Where the secrets key (sealing TOTP seeds, server secrets and queued mail) comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The key itself, in `secrets.key`.
    Inline { text: String, from: Source },
    /// A key file named by `secrets.key_file`: it must exist.
    File { path: PathBuf, from: Source },
    /// The embedded default (`<data>/secret.key`): made at first start when the database holds
    /// no sealed secret yet.
    DefaultFile { path: PathBuf },
    /// Nothing configured on PostgreSQL: the start is refused.
    Missing,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySource({self})")
    }
}

impl std::fmt::Display for KeySource {
    /// Where the key comes from; never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Inline { from, .. } => write!(f, "secrets.key ({from})"),
            KeySource::File { path, from } => {
                write!(f, "key file {} ({from})", path.display())
            }
            KeySource::DefaultFile { path } => write!(
                f,
                "key file {} (default; made at first start)",
                path.display()
            ),
            KeySource::Missing => f.write_str("none configured"),
        }
    }
}

/// Account-security settings (sessions, 2FA, breach checks, mail, WebAuthn, rate limits).
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub require_2fa: bool,
    pub rate_limits: bool,
    pub session_idle_minutes: u64,
    pub session_absolute_hours: u64,
    pub reauth_minutes: u64,
    pub hibp_url: Option<String>,
    pub hibp_offline_dir: Option<PathBuf>,
    pub smtp: Option<strongroom_core::SmtpSettings>,
    pub mail_from: String,
    pub webauthn_rp_id: String,
    pub webauthn_origin: String,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// Who may register (`accounts.registration`, `accounts.allowed_email_domains`).
    pub registration: strongroom_core::registration::Registration,
    /// Pending registrations and never-verified addresses are dropped after this long.
    pub unverified_address_hours: u64,
}

/// Where blobs go.
#[derive(Debug, Clone)]
pub enum Storage {
    Local(PathBuf),
    S3(strongroom_store::S3Settings),
}

use names::env_name;

impl Config {
    /// Load from the environment of this process.
    pub fn load(flags: &Flags) -> anyhow::Result<Config> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("STRONGROOM_"))
            .collect();
        Config::load_from(flags, &env)
    }

    /// Load again from the sources `self` was loaded from, for SIGHUP: the file read at start
    /// is read as if given explicitly, so a file that has gone since is an error, not "no file".
    pub fn reload(&self) -> anyhow::Result<Config> {
        let mut flags = self.flags.clone();
        if let Some(file) = &self.file {
            flags.config = Some(file.clone());
        }
        Config::load(&flags)
    }

    /// Load with an explicit environment (tests).
    pub fn load_from(flags: &Flags, env: &BTreeMap<String, String>) -> anyhow::Result<Config> {
        // A misspelt variable is refused like a misspelt TOML key: ignoring it would silently
        // run with the default (an unset secret, a limit left open).
        if let Some(msg) = names::unknown_variable(env.keys()) {
            bail!("{msg}");
        }
        let (mut values, file) = gather(flags, env)?;
        // Defaults where nothing was given (`defaults`; some derive from the data folder).
        let data = values
            .get("data")
            .map_or_else(|| "./strongroom-data".to_owned(), |(v, _)| v.clone());
        for (k, v) in defaults(&data) {
            values.entry(k).or_insert((v, Source::Default));
        }
        for (k, v) in limits::defaults() {
            if let Some(key) = KEYS.iter().find(|key| key.name == k) {
                values.entry(key.name).or_insert((v, Source::Default));
            }
        }
        // Registration is closed unless the operator opens it (the first admin comes from the CLI).
        values
            .entry("accounts.registration")
            .or_insert(("closed".into(), Source::Default));
        let get = |k: &str| values.get(k).map(|(v, _)| v.clone());
        let storage_url = get("storage").unwrap_or_default();
        let storage = if let Some(path) = storage_url.strip_prefix("file://") {
            Storage::Local(PathBuf::from(path))
        } else if let Some(bucket) = storage_url.strip_prefix("s3://") {
            let bucket = bucket.trim_end_matches('/');
            if bucket.is_empty() || bucket.contains('/') {
                bail!("storage: expected s3://BUCKET, got '{storage_url}'");
            }
            Storage::S3(strongroom_store::S3Settings {
                bucket: bucket.to_owned(),
                endpoint: get("s3.endpoint"),
                region: get("s3.region").unwrap_or_else(|| "us-east-1".into()),
                access_key_id: get("s3.access_key_id"),
                secret_access_key: get("s3.secret_access_key"),
                allow_http: parse_bool("s3.allow_http", &get("s3.allow_http").unwrap_or_default())?,
                timeout: std::time::Duration::from_secs(
                    parse_u64(
                        "s3.timeout_seconds",
                        &get("s3.timeout_seconds").unwrap_or_default(),
                    )?
                    .max(1),
                ),
                retries: usize::try_from(parse_u64(
                    "s3.retries",
                    &get("s3.retries").unwrap_or_default(),
                )?)
                .unwrap_or(usize::MAX)
                .min(10),
            })
        } else {
            bail!("storage: expected file://FOLDER or s3://BUCKET, got '{storage_url}'");
        };
        let database = get("database").unwrap_or_default();
        if !(database.starts_with("sqlite:")
            || database.starts_with("postgres:")
            || database.starts_with("postgresql:"))
        {
            // A value that is not a URL (a key/value DSN) is not echoed: it may hold a password
            // in a form the redaction does not know.
            if database.contains("://") {
                bail!(
                    "database: expected sqlite://PATH or postgres://..., got '{}'",
                    redact_url(&database)
                );
            }
            bail!(
                "database: expected sqlite://PATH or postgres://... (a URL; key/value connection strings are not supported; the value is not shown)"
            );
        }
        let secrets_key = key_source(&values, &database, Path::new(&data))?;
        if let KeySource::DefaultFile { path } = &secrets_key {
            values.insert(
                "secrets.key_file",
                (path.display().to_string(), Source::Default),
            );
        }
        let get = |k: &str| values.get(k).map(|(v, _)| v.clone());
        let public_url = get("public_url").filter(|u| !u.is_empty());
        if let Some(u) = &public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            bail!("public_url: expected an http(s) URL, got '{u}'");
        }
        let public_host = public_url
            .as_deref()
            .map(|u| url_host("public_url", u))
            .transpose()?;
        let bind = get("bind").unwrap_or_default();
        let accounts =
            account_settings(&get, public_url.as_deref(), public_host.as_deref(), &bind)?;
        let safety = safety_settings(&get)?;
        let http = http_settings(&get, public_host.as_deref(), &bind)?;
        let limits = limits::parse(&get)?;
        let db = db_settings(&get)?;
        let clock_offset_file = get("testing.clock_offset_file")
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from);
        let database_check_delay = get("testing.database_check_delay_ms")
            .filter(|v| !v.trim().is_empty())
            .map(|v| parse_u64("testing.database_check_delay_ms", &v))
            .transpose()?
            .map(std::time::Duration::from_millis);
        let metrics_bind = get("metrics.bind").filter(|v| !v.trim().is_empty());
        let shutdown_grace_secs = parse_u64(
            "shutdown.grace_seconds",
            &get("shutdown.grace_seconds").unwrap_or_default(),
        )?;
        let mail_from_derived = get("smtp.from")
            .is_none_or(|v| v.trim().is_empty())
            .then(|| {
                if public_host.is_some() {
                    "public_url"
                } else {
                    "this machine's host name (set public_url or smtp.from)"
                }
            });
        let migrate_on_start = parse_bool(
            "migrate_on_start",
            &get("migrate_on_start").unwrap_or_default(),
        )?;
        let known_migrations =
            match get("testing.known_migrations").filter(|v| !v.trim().is_empty()) {
                None => strongroom_store::LATEST_MIGRATION,
                Some(v) => {
                    let n = parse_u64("testing.known_migrations", &v)?;
                    match i64::try_from(n) {
                        Ok(n) if (1..=strongroom_store::LATEST_MIGRATION).contains(&n) => n,
                        _ => bail!(
                            "testing.known_migrations: expected 1 to {}, got {v}",
                            strongroom_store::LATEST_MIGRATION
                        ),
                    }
                }
            };
        let mut config = Config {
            metrics_bind,
            shutdown_grace_secs,
            migrate_on_start,
            known_migrations,
            accounts,
            safety,
            http,
            limits,
            db,
            clock_offset_file,
            database_check_delay,
            secrets_key,
            trusted_proxies: parse_ips(
                "proxy.trusted_ips",
                &get("proxy.trusted_ips").unwrap_or_default(),
            )?,
            jobs_interval_secs: parse_u64(
                "jobs.interval_seconds",
                &get("jobs.interval_seconds").unwrap_or_default(),
            )?,
            blobs: strongroom_core::BlobSettings {
                claim_grace_minutes: parse_u64(
                    "blobs.claim_grace_minutes",
                    &get("blobs.claim_grace_minutes").unwrap_or_default(),
                )?
                .max(1),
                scan_interval_hours: parse_u64(
                    "blobs.scan_interval_hours",
                    &get("blobs.scan_interval_hours").unwrap_or_default(),
                )?,
                scan_at_start: parse_bool(
                    "blobs.scan_at_start",
                    &get("blobs.scan_at_start").unwrap_or_default(),
                )?,
                verify_sample: parse_u64(
                    "blobs.verify_sample",
                    &get("blobs.verify_sample").unwrap_or_default(),
                )?,
            },
            images: parse::image_settings(&get)?,
            upstream: parse::upstream_settings(&get)?,
            scan: parse::scan_settings(&get)?,
            downloads: strongroom_core::DownloadSettings {
                retention_days: parse_u64(
                    "downloads.retention_days",
                    &get("downloads.retention_days").unwrap_or_default(),
                )?
                .max(1),
            },
            notices: strongroom_core::NoticeSettings {
                digest_minutes: parse_u64(
                    "notices.digest_minutes",
                    &get("notices.digest_minutes").unwrap_or_default(),
                )?,
                digest_max_items: usize::try_from(
                    parse_u64(
                        "notices.digest_max_items",
                        &get("notices.digest_max_items").unwrap_or_default(),
                    )?
                    .max(1),
                )
                .unwrap_or(usize::MAX),
            },
            data: PathBuf::from(&data),
            bind: get("bind").unwrap_or_default(),
            database,
            storage,
            public_url,
            log: {
                let log = get("log").unwrap_or_else(|| "info".into());
                crate::logging::parse_filter(&log).map_err(anyhow::Error::msg)?;
                log
            },
            log_format: crate::logging::LogFormat::parse(&get("log_format").unwrap_or_default())
                .map_err(anyhow::Error::msg)?,
            max_file_size: parse_u64(
                "limits.max_file_size",
                &get("limits.max_file_size").unwrap_or_default(),
            )?,
            max_project_size: parse_u64(
                "limits.max_project_size",
                &get("limits.max_project_size").unwrap_or_default(),
            )?,
            strict_filenames: parse_bool(
                "upload.strict_filenames",
                &get("upload.strict_filenames").unwrap_or_default(),
            )?,
            strict_metadata: parse_bool(
                "upload.strict_metadata",
                &get("upload.strict_metadata").unwrap_or_default(),
            )?,
            release_file_window_days: parse_u64(
                "upload.release_file_window_days",
                &get("upload.release_file_window_days").unwrap_or_default(),
            )?,
            values,
            flags: flags.clone(),
            file: file.map(|(path, _)| std::path::absolute(&path).unwrap_or(path)),
        };
        if let Some(from) = mail_from_derived {
            let v = config.accounts.mail_from.clone();
            config
                .values
                .insert("smtp.from", (v, Source::Derived(from)));
        }
        Ok(config)
    }

    /// The keys whose effective value differs between `self` and `other` (where a value came
    /// from does not count).
    pub fn changed_keys(&self, other: &Config) -> Vec<&'static str> {
        KEYS.iter()
            .map(|k| k.name)
            .filter(|k| self.values.get(k).map(|(v, _)| v) != other.values.get(k).map(|(v, _)| v))
            .collect()
    }

    /// The `testing.*` keys that are set (test suites only: each makes the process unfit for
    /// production), as one warning to print or log, or None.
    pub fn testing_warning(&self) -> Option<String> {
        let set: Vec<String> = KEYS
            .iter()
            .filter(|k| k.name.starts_with("testing."))
            .filter_map(|k| {
                let (v, source) = self.values.get(k.name)?;
                (!v.trim().is_empty() && *source != Source::Default)
                    .then(|| format!("{} = {v} ({source})", k.name))
            })
            .collect();
        (!set.is_empty()).then(|| {
            format!(
                "WARNING: test-suite settings are set, never use them in production: {}",
                set.join(", ")
            )
        })
    }

    /// Where the effective value of `key` came from (None for a key with no value).
    pub fn source_of(&self, key: &str) -> Option<&Source> {
        self.values.get(key).map(|(_, source)| source)
    }

    /// Every setting, its effective value (secrets redacted) and where it came from.
    pub fn show(&self) -> String {
        let mut out = String::new();
        for key in KEYS {
            let (value, source) = match self.values.get(key.name) {
                Some((v, s)) => (v.clone(), s.to_string()),
                None => ("(unset)".to_owned(), "default".to_owned()),
            };
            // A secret is hidden whole unless it is a URL (`database`), which shows without its
            // password and secret parameters; so does every other URL-valued setting.
            let shown = if key.secret && key.name != "database" {
                if value == "(unset)" || value.is_empty() {
                    value
                } else {
                    redact::HIDDEN.to_owned()
                }
            } else if key.name == "upstream.url" {
                parse::parse_list(key.name, &value)
                    .map(|urls| {
                        urls.iter()
                            .map(|u| redact_url(u))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_else(|_| redact::HIDDEN.to_owned())
            } else if value.contains("://") {
                redact_url(&value)
            } else {
                value
            };
            out.push_str(&format!(
                "{:<34} = {:<44} # {} ({})\n",
                key.name, shown, source, key.help
            ));
        }
        out.push_str(&format!(
            "# the secrets key (seals TOTP seeds, server secrets and queued mail in the database; never in backups of it) comes from: {}\n",
            self.secrets_key
        ));
        out
    }

    /// The core's policy settings.
    pub fn core_settings(&self) -> strongroom_core::Settings {
        strongroom_core::Settings {
            max_file_size: self.max_file_size,
            max_project_size: self.max_project_size,
            strict_filenames: self.strict_filenames,
            strict_metadata: self.strict_metadata,
            release_file_window_days: self.release_file_window_days,
            public_url: self.public_url.clone(),
            bind: self.bind.clone(),
            require_2fa: self.accounts.require_2fa,
            session_idle_minutes: self.accounts.session_idle_minutes,
            session_absolute_hours: self.accounts.session_absolute_hours,
            reauth_minutes: self.accounts.reauth_minutes,
            hibp_url: self.accounts.hibp_url.clone(),
            known_migrations: self.known_migrations,
            hibp_offline_dir: self.accounts.hibp_offline_dir.clone(),
            smtp: self.accounts.smtp.clone(),
            mail_from: self.accounts.mail_from.clone(),
            outbox_dir: self.data.join("outbox"),
            webauthn_rp_id: self.accounts.webauthn_rp_id.clone(),
            webauthn_origin: self.accounts.webauthn_origin.clone(),
            rate_limits: self.accounts.rate_limits,
            limits: self.limits.limits.clone(),
            hash_concurrency: self.limits.hash_concurrency,
            hash_wait_secs: self.limits.hash_wait_secs,
            argon2_memory_kib: self.accounts.argon2_memory_kib,
            argon2_iterations: self.accounts.argon2_iterations,
            safety: self.safety.clone(),
            trusted_proxies: TrustedProxies::new(self.trusted_proxies.clone()),
            registration: self.accounts.registration.clone(),
            unverified_address_hours: self.accounts.unverified_address_hours,
            blobs: self.blobs.clone(),
            http: self.http.clone(),
            notices: self.notices.clone(),
            images: self.images.clone(),
            upstream: self.upstream.clone(),
            downloads: self.downloads.clone(),
            scan: self.scan.clone(),
        }
    }
}

/// Each setting's value as given, and where it came from.
type Values = BTreeMap<&'static str, (String, Source)>;

/// The settings given in the config file, the environment (`STRONGROOM_*`, and `*_FILE` for a
/// value read from a file) and the flags, each with where it came from; a later source wins.
fn gather(
    flags: &Flags,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<(Values, Option<(PathBuf, bool)>)> {
    let mut values = Values::new();
    // File: explicit flag/env, else ./strongroom.toml if present.
    let file = flags
        .config
        .clone()
        .map(|p| (p, true))
        .or_else(|| {
            env.get("STRONGROOM_CONFIG")
                .map(|p| (PathBuf::from(p), true))
        })
        .or_else(|| {
            Path::new("strongroom.toml")
                .exists()
                .then(|| (PathBuf::from("strongroom.toml"), false))
        });
    if let Some((path, _explicit)) = &file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let parsed: toml::Value =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let mut flat = BTreeMap::new();
        flatten("", &parsed, &mut flat);
        for (k, v) in flat {
            let Some(key) = KEYS.iter().find(|key| key.name == k) else {
                let near = names::closest(&k, KEYS.iter().map(|key| key.name))
                    .map(|n| format!(" (did you mean '{n}'?)"))
                    .unwrap_or_default();
                bail!("{}: unknown setting '{k}'{near}", path.display());
            };
            values.insert(key.name, (v, Source::File(path.clone())));
        }
    }
    for key in KEYS {
        let name = env_name(key.name);
        if let Some(v) = env.get(&name) {
            values.insert(key.name, (v.clone(), Source::Env(name.clone())));
        }
        let file_var = format!("{name}_FILE");
        // `secrets.key_file` is a key of its own: STRONGROOM_SECRETS__KEY_FILE names it
        let file_is_a_key = KEYS.iter().any(|k| env_name(k.name) == file_var);
        if let Some(p) = env.get(&file_var).filter(|_| !file_is_a_key) {
            let v =
                std::fs::read_to_string(p).with_context(|| format!("reading {file_var}={p}"))?;
            values.insert(
                key.name,
                (
                    v.trim_end_matches(['\n', '\r']).to_owned(),
                    Source::Env(file_var),
                ),
            );
        }
    }
    for (name, v) in [
        ("data", &flags.data),
        ("database", &flags.database),
        ("storage", &flags.storage),
        ("bind", &flags.bind),
        (
            "migrate_on_start",
            &flags.no_migrate.then(|| "false".to_owned()),
        ),
        (
            "upstream.url",
            &(!flags.upstream.is_empty()).then(|| flags.upstream.join(",")),
        ),
    ] {
        if let Some(v) = v {
            let key = KEYS
                .iter()
                .find(|k| k.name == name)
                .map_or("data", |k| k.name);
            values.insert(key, (v.clone(), Source::Flag));
        }
    }
    Ok((values, file))
}
