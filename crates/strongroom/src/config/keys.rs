//! Every configuration key: its name (`section.key`), whether it is a secret, and its help.

pub(super) struct Key {
    pub(super) name: &'static str,
    pub(super) secret: bool,
    pub(super) help: &'static str,
}

pub(super) const KEYS: &[Key] = &[
    Key {
        name: "data",
        secret: false,
        help: "data folder (SQLite database, files, temp)",
    },
    Key {
        name: "bind",
        secret: false,
        help: "address to listen on",
    },
    Key {
        name: "database",
        secret: true,
        help: "sqlite://PATH or postgres://...",
    },
    Key {
        name: "secrets.key",
        secret: true,
        help: "key sealing TOTP seeds, server secrets and queued mail in the database: 32 bytes as base64 or hex (`openssl rand -base64 32`); or secrets.key_file",
    },
    Key {
        name: "secrets.key_file",
        secret: false,
        help: "file holding the secrets key (SQLite default: <data>/secret.key, made at first start; PostgreSQL needs this or secrets.key); keep it out of database backups",
    },
    Key {
        name: "storage",
        secret: false,
        help: "file://FOLDER or s3://BUCKET",
    },
    Key {
        name: "public_url",
        secret: false,
        help: "absolute base URL for links; requests for other Host names then get 421, /healthz and /readyz excepted (see http.allowed_hosts; a proxy must pass the client's Host). Unset: simple pages link relative to themselves",
    },
    Key {
        name: "log",
        secret: false,
        help: "log filter (tracing EnvFilter syntax); sqlx, object_store, hyper, h2, rustls and the other clients stay at warn unless named; reloaded on SIGHUP",
    },
    Key {
        name: "log_format",
        secret: false,
        help: "text or json (one JSON object per line); colour only when stderr is a terminal",
    },
    Key {
        name: "s3.endpoint",
        secret: false,
        help: "S3 endpoint URL (omit for AWS)",
    },
    Key {
        name: "s3.region",
        secret: false,
        help: "S3 region",
    },
    Key {
        name: "s3.access_key_id",
        secret: false,
        help: "S3 access key id",
    },
    Key {
        name: "s3.secret_access_key",
        secret: true,
        help: "S3 secret access key",
    },
    Key {
        name: "s3.allow_http",
        secret: false,
        help: "allow plain-HTTP S3 endpoints",
    },
    Key {
        name: "limits.max_file_size",
        secret: false,
        help: "largest file, bytes",
    },
    Key {
        name: "limits.max_project_size",
        secret: false,
        help: "largest project total, bytes",
    },
    Key {
        name: "upload.strict_filenames",
        secret: false,
        help: "refuse legacy (non-normalised) filenames",
    },
    Key {
        name: "upload.strict_metadata",
        secret: false,
        help: "also enforce metadata rules added after many existing packages were published",
    },
    Key {
        name: "upload.release_file_window_days",
        secret: false,
        help: "days after a release's creation during which files may be added",
    },
    Key {
        name: "require_2fa",
        secret: false,
        help: "two-factor authentication needed for everything but enrolment, and for uploads",
    },
    Key {
        name: "rate_limits",
        secret: false,
        help: "master switch of every ratelimit.* limit (false: all off, for load tests only; raise one limit instead)",
    },
    Key {
        name: "session_idle_minutes",
        secret: false,
        help: "a session ends after this long without a request",
    },
    Key {
        name: "session_absolute_hours",
        secret: false,
        help: "a session ends this long after login",
    },
    Key {
        name: "reauth_minutes",
        secret: false,
        help: "sensitive changes need a password entered this recently",
    },
    Key {
        name: "hibp.url",
        secret: false,
        help: "HaveIBeenPwned range API base (empty = off)",
    },
    Key {
        name: "hibp.offline_dir",
        secret: false,
        help: "folder of HIBP range files ABCDE.txt",
    },
    Key {
        name: "smtp.host",
        secret: false,
        help: "SMTP relay (unset = mail goes to <data>/outbox as .eml files)",
    },
    Key {
        name: "smtp.port",
        secret: false,
        help: "SMTP port",
    },
    Key {
        name: "smtp.tls",
        secret: false,
        help: "none | starttls | tls",
    },
    Key {
        name: "smtp.username",
        secret: false,
        help: "SMTP user",
    },
    Key {
        name: "smtp.password",
        secret: true,
        help: "SMTP password",
    },
    Key {
        name: "smtp.from",
        secret: false,
        help: "From: of every mail (default: strongroom <strongroom@HOST>, HOST being public_url's host, else this machine's host name)",
    },
    Key {
        name: "webauthn.rp_id",
        secret: false,
        help: "WebAuthn relying-party id (default: host of public_url, else localhost)",
    },
    Key {
        name: "webauthn.origin",
        secret: false,
        help: "WebAuthn origin (default: public_url, else http://localhost:<port>)",
    },
    Key {
        name: "password.argon2_memory_kib",
        secret: false,
        help: "Argon2id memory cost, KiB",
    },
    Key {
        name: "password.argon2_iterations",
        secret: false,
        help: "Argon2id passes",
    },
    // Limits (issue 10, failure 5): the hashing pool, then one key per rate limit, each
    // "N per PERIOD[, N per PERIOD]" (help lines must equal core::limits::Limit::help).
    Key {
        name: "password.hash_concurrency",
        secret: false,
        help: "password hashes computed at once (each holds password.argon2_memory_kib); default: the number of CPUs",
    },
    Key {
        name: "password.hash_wait_seconds",
        secret: false,
        help: "how long a login waits for a free hashing slot before a 503",
    },
    Key {
        name: "ratelimit.login_user",
        secret: false,
        help: "failed logins per username (checked before the password)",
    },
    Key {
        name: "ratelimit.login_ip",
        secret: false,
        help: "failed logins per client address; when full, only a login that goes on to a valid second factor or passkey gets through",
    },
    Key {
        name: "ratelimit.login_global",
        secret: false,
        help: "failed logins on the whole index; when full, password-only logins wait, logins with a valid second factor or passkey do not",
    },
    Key {
        name: "ratelimit.two_factor_user",
        secret: false,
        help: "failed second-factor attempts per account (TOTP, passkeys and recovery codes together)",
    },
    Key {
        name: "ratelimit.two_factor_ip",
        secret: false,
        help: "failed second-factor attempts per client address",
    },
    Key {
        name: "ratelimit.password_reset",
        secret: false,
        help: "password-reset mails per account (and per name or address typed)",
    },
    Key {
        name: "ratelimit.verify_email",
        secret: false,
        help: "address-verification mails per account",
    },
    Key {
        name: "ratelimit.email_add_ip",
        secret: false,
        help: "email addresses added per client address",
    },
    Key {
        name: "ratelimit.email_change_user",
        secret: false,
        help: "email address changes per account",
    },
    Key {
        name: "ratelimit.register_ip",
        secret: false,
        help: "new accounts registered per client address",
    },
    Key {
        name: "ratelimit.taken_address_notice",
        secret: false,
        help: "notices to an address that someone tried to register it or add it elsewhere",
    },
    Key {
        name: "ratelimit.project_create_user",
        secret: false,
        help: "new projects per account; administrators are exempt (raise it for a seeding account's import window)",
    },
    Key {
        name: "ratelimit.project_create_ip",
        secret: false,
        help: "new projects per client address; administrators are exempt",
    },
    Key {
        name: "ratelimit.state_changes_user",
        secret: false,
        help: "yanks, invitations and role changes per account (each logs and mails the Owners)",
    },
    Key {
        name: "accounts.registration",
        secret: false,
        help: "who may register on the web: open | domains (accounts.allowed_email_domains) | invite (admin links: admin invite-user) | closed (only `user create`)",
    },
    Key {
        name: "accounts.allowed_email_domains",
        secret: false,
        help: "for registration = domains: list of domains whose addresses (and subdomains') may register, e.g. [\"example.org\"] or example.org,corp.example",
    },
    Key {
        name: "accounts.unverified_address_hours",
        secret: false,
        help: "a registration waiting for its verification link (its username reserved) and an address added but never verified are dropped after this many hours, so neither squats an address or a name",
    },
    Key {
        name: "ownership.invitation_hours",
        secret: false,
        help: "a role invitation expires after this many hours",
    },
    Key {
        name: "ownership.newcomer_days",
        secret: false,
        help: "an Owner for less than this many days is a newcomer (their removal of older Owners is held)",
    },
    Key {
        name: "ownership.pending_hours",
        secret: false,
        help: "hours a held owner removal/demotion waits for a veto",
    },
    Key {
        name: "recovery.hold_hours",
        secret: false,
        help: "hours after a reset, email change or 2FA (re)enrolment during which the account is held",
    },
    Key {
        name: "recovery.dormant_project_days",
        secret: false,
        help: "a project with no new release for this many days is dormant",
    },
    Key {
        name: "recovery.watch_days",
        secret: false,
        help: "days after a recovery event during which a new release of a dormant project is quarantined",
    },
    // -- incident response (issue 8, finding 3)
    Key {
        name: "recovery.incident_lookback_days",
        secret: false,
        help: "days before a freeze (or a deletion being undone) in which the earliest suspicious change opens the incident window",
    },
    Key {
        name: "retention.deleted_account_days",
        secret: false,
        help: "days a deleted account's personal data is kept for investigation",
    },
    Key {
        name: "domains.check_interval_hours",
        secret: false,
        help: "hours between email-domain checks (0 = only `admin check-domains`)",
    },
    Key {
        name: "domains.resolver",
        secret: false,
        help: "DNS server IP:PORT for domain checks (empty = /etc/resolv.conf)",
    },
    Key {
        name: "domains.rdap_url",
        secret: false,
        help: "RDAP base URL for domain registration data (empty = off)",
    },
    // The domain check in intranets and air-gapped installs (issue 10, failure 1).
    Key {
        name: "domains.check",
        secret: false,
        help: "whether verified addresses' domains are checked at all (false = no DNS or RDAP lookups, by the job, admin check-domains or the admin area: air-gapped installs)",
    },
    Key {
        name: "domains.trusted",
        secret: false,
        help: "the organisation's own mail domains: addresses at them (and their subdomains) are never looked up nor unverified, e.g. [\"corp.example\"] or corp.example,corp.test",
    },
    Key {
        name: "domains.max_unverify_share",
        secret: false,
        help: "circuit breaker: a check that would unverify more than this share of all verified addresses (and more than 2) unverifies none and raises an admin signal; 0.05 or 5%",
    },
    Key {
        name: "proxy.trusted_ips",
        secret: false,
        help: "reverse proxies whose X-Forwarded-For names the client and whose X-Request-Id is kept: addresses or CIDR ranges (IPv4, IPv6), a list or comma-separated (X-Forwarded-Proto: https then turns HSTS on); reloaded on SIGHUP",
    },
    Key {
        name: "jobs.interval_seconds",
        secret: false,
        help: "seconds between runs of the periodic jobs (held role changes, expiry, purges, domain checks)",
    },
    // The HTTP front door (issue 8): page cache budget, Host names, timeouts, connection caps.
    Key {
        name: "cache.max_bytes",
        secret: false,
        help: "bytes of rendered pages kept in memory (bodies, gzip copies, keys); a larger page is served uncached",
    },
    Key {
        name: "http.allowed_hosts",
        secret: false,
        help: "comma-separated host names requests may use besides public_url's host (others get 421, except /healthz and /readyz); needs public_url",
    },
    Key {
        name: "http.idle_timeout_seconds",
        secret: false,
        help: "close a connection with no complete request head this long after it opened or after its last response (idle keep-alive, slow headers)",
    },
    Key {
        name: "http.body_min_bytes",
        secret: false,
        help: "a request body must deliver at least this many bytes every http.body_window_seconds, else it is cut off (408); 0 = no minimum",
    },
    Key {
        name: "http.body_window_seconds",
        secret: false,
        help: "the window of http.body_min_bytes, seconds",
    },
    Key {
        name: "http.write_timeout_seconds",
        secret: false,
        help: "close a connection whose client reads nothing of a response for this long",
    },
    Key {
        name: "http.max_connections",
        secret: false,
        help: "open connections in total (lowered at start to fit the open-files limit); at the cap the oldest idle one is closed, or new ones wait in the listen queue",
    },
    Key {
        name: "http.max_connections_per_ip",
        secret: false,
        help: "open connections per client address (at most a quarter of the total; proxy.trusted_ips exempt); at the cap the oldest idle one is closed, or, all busy, the new one gets 503",
    },
    Key {
        name: "http.body_timeout_seconds",
        secret: false,
        help: "a request body that is not an authenticated upload (web forms, XML-RPC, a refused upload being drained) must be complete within this many seconds, else 408; such a connection may also be closed to make room at a connection cap",
    },
    Key {
        name: "http.max_uploads_per_user",
        secret: false,
        help: "uploads one account may have in progress at once; one more gets 429 with Retry-After",
    },
    // -- health: database pool and blob-store timeouts (an outage answers 503 quickly)
    Key {
        name: "db.pool_size",
        secret: false,
        help: "PostgreSQL connections this server opens at most (SQLite: one writer and two readers per CPU, from 2 to 8, fixed)",
    },
    Key {
        name: "db.connect_timeout_seconds",
        secret: false,
        help: "PostgreSQL: how long the first connection (when serve or a command starts) may take before the database counts as unreachable (serve then retries; commands exit)",
    },
    Key {
        name: "db.acquire_timeout_seconds",
        secret: false,
        help: "PostgreSQL: how long a request waits for a connection (opening one included) before it is answered 503 with Retry-After",
    },
    Key {
        name: "db.application_name",
        secret: false,
        help: "PostgreSQL application_name of this server's connections (pg_stat_activity); empty: 'strongroom HOST:PID'",
    },
    Key {
        name: "s3.timeout_seconds",
        secret: false,
        help: "S3 connect timeout, and the longest wait for the first byte of a download; past it the request is answered 503",
    },
    Key {
        name: "s3.retries",
        secret: false,
        help: "retries of a failed S3 write or delete (short back-off); downloads are never retried by the server (pip and uv retry a 503)",
    },
    Key {
        name: "blobs.claim_grace_minutes",
        secret: false,
        help: "an upload's claim protects its blob this long; a blob no row names is kept until this old (then the collector deletes it)",
    },
    Key {
        name: "blobs.scan_interval_hours",
        secret: false,
        help: "hours between listings of the whole blob store for blobs no file references (0 = only at start and by `admin run-jobs`)",
    },
    // -- notices to Owners of added files, yanks and unyanks (issue 9, finding 5)
    Key {
        name: "notices.digest_minutes",
        secret: false,
        help: "the first notice to a project's Owners (an added file, a yank, an unyank) is mailed at once; later ones within this many minutes go as one digest per Owner at the window's end",
    },
    Key {
        name: "notices.digest_max_items",
        secret: false,
        help: "a digest of notices lists at most this many items and says how many more there were",
    },
    Key {
        name: "blobs.scan_at_start",
        secret: false,
        help: "list the whole blob store when `serve` starts (false: the first listing waits for blobs.scan_interval_hours; with 0 there, only `admin run-jobs` lists it)",
    },
    // -- metrics and graceful shutdown (issue 10, metrics)
    Key {
        name: "metrics.bind",
        secret: false,
        help: "address of a separate listener serving Prometheus metrics at /metrics to anyone who reaches it (empty = off; bind it where only monitoring reaches). Admins' API tokens can also read /metrics on the main listener",
    },
    Key {
        name: "shutdown.grace_seconds",
        secret: false,
        help: "on SIGTERM or ctrl-c, new uploads get 503 and the uploads in flight may finish for this many seconds; what is still open then is cut short (and logged)",
    },
    // -- upgrades: who changes the schema, and testing "the previous release" (issue 10, failure 4)
    Key {
        name: "migrate_on_start",
        secret: false,
        help: "apply pending migrations when serve (or any command but `migrate`) opens the database; false when several servers share it: run `strongroom migrate` once per upgrade (serve --no-migrate is the same for one start)",
    },
    Key {
        name: "testing.known_migrations",
        secret: false,
        help: "TEST SUITES ONLY: the binary knows migrations 1..=N only (acts as an older release); empty = all",
    },
    // -- checking the data (issue 10, failure 8)
    Key {
        name: "blobs.verify_sample",
        secret: false,
        help: "how many random files' blobs each jobs run reads whole and checks against their sha256; a missing or damaged one raises an admin signal (0 = off; `admin fsck` checks them all)",
    },
    Key {
        name: "testing.clock_offset_file",
        secret: false,
        help: "TEST SUITES ONLY: file holding seconds added to the clock",
    },
    Key {
        name: "testing.database_check_delay_ms",
        secret: false,
        help: "TEST SUITES ONLY: a SQLite file a start cannot vouch for is checked in the background whatever its size, after this long (changes wait with it)",
    },
    // -- external images in descriptions (issue 11)
    Key {
        name: "images.proxy",
        secret: false,
        help: "show external images in project descriptions through this server's image proxy (signed URLs, no cookies, private addresses refused); false (the default, for readers' privacy): they are shown as links",
    },
    Key {
        name: "images.proxy_max_bytes",
        secret: false,
        help: "largest image the image proxy passes on, bytes (larger ones are refused without being kept)",
    },
    Key {
        name: "images.proxy_timeout_seconds",
        secret: false,
        help: "the image proxy gives up on an image after this many seconds",
    },
    Key {
        name: "testing.image_proxy_allow_loopback",
        secret: false,
        help: "TEST SUITES ONLY: the image proxy may fetch from loopback addresses (127.0.0.0/8, ::1); private and link-local ones stay refused",
    },
    // -- the gateway to upstream indexes (issue 12; docs/gateway.md)
    Key {
        name: "upstream.url",
        secret: false,
        help: "upstream simple indexes (a list, first = highest priority; `serve --upstream URL`): projects with no local name are served from the first upstream that knows them; credentials as https://user:token@host/simple/ (shown redacted); unset = local only",
    },
    Key {
        name: "upstream.private_patterns",
        secret: false,
        help: "name patterns that never resolve upstream though no local project has them yet (a list, `acme-*`; * and ?; matched on normalised names)",
    },
    Key {
        name: "upstream.min_age_days",
        secret: false,
        help: "cooldown: upstream files uploaded less than this many days ago are not served (a file without an upload time counts as new); 0 = off",
    },
    Key {
        name: "upstream.page_ttl_seconds",
        secret: false,
        help: "a stored upstream page is served without asking the upstream again for this long; then it is revalidated (ETag), and served stale if the upstream is down",
    },
    Key {
        name: "upstream.timeout_seconds",
        secret: false,
        help: "the longest wait for an upstream to connect or to send the next bytes",
    },
    Key {
        name: "upstream.ca_bundle",
        secret: false,
        help: "PEM file of extra CA certificates trusted for upstreams (besides the system's); HTTPS_PROXY and NO_PROXY from the environment are honoured",
    },
    Key {
        name: "upstream.max_page_bytes",
        secret: false,
        help: "the largest upstream project page read, bytes (a bigger page fails that project); parsing and storing pages runs off the request workers, two at a time",
    },
    Key {
        name: "upstream.cache_max_bytes",
        secret: false,
        help: "the most bytes of cached upstream files kept in the blob store; the least recently downloaded are evicted first",
    },
    Key {
        name: "upstream.max_file_bytes",
        secret: false,
        help: "the largest upstream file fetched, bytes",
    },
    Key {
        name: "upstream.new_fetches_per_minute",
        secret: false,
        help: "fetches of not-yet-cached upstream files per client address per minute (cached files are not counted)",
    },
    Key {
        name: "upstream.name_check_interval_hours",
        secret: false,
        help: "the name-conflict job asks each upstream about each local or reserved name at most this often",
    },
    Key {
        name: "upstream.name_checks_per_run",
        secret: false,
        help: "the name-conflict job asks about at most this many names per jobs run",
    },
    // fix-gateway: upstream page fetches and stored pages
    Key {
        name: "upstream.page_fetches_per_minute",
        secret: false,
        help: "upstream page fetches (projects not stored yet or past upstream.page_ttl_seconds) per client address per minute; over it: 429; 0 = unlimited",
    },
    Key {
        name: "upstream.pages_max_bytes",
        secret: false,
        help: "the most bytes of stored upstream project pages kept; the least recently served (and those not served for 30 days) are evicted by the jobs",
    },
    // fix-pages: names kept from the name-conflict job
    Key {
        name: "upstream.name_watch_exclude",
        secret: false,
        help: "comma-separated name patterns (like upstream.private_patterns) the name-conflict job never sends to an upstream; the job sends every other local and reserved name to each upstream (0 checks per run turns it off)",
    },
    // -- where upstream file URLs may lead (issue 12, fix round)
    Key {
        name: "upstream.file_hosts",
        secret: false,
        help: "hosts (host or host:port, a list) that upstream file URLs and their redirects may name besides each upstream's own origin, fetched through the configured proxies; any other host must resolve only to public addresses and is fetched directly (loopback, private, link-local and similar addresses are refused)",
    },
    Key {
        name: "downloads.retention_days",
        secret: false,
        help: "the download log keeps client addresses and user agents this many days, then only counts",
    },
    // -- the content scanner (issue 13)
    Key {
        name: "scan.hold_score",
        secret: false,
        help: "a release or added file whose scan score reaches this is held for an administrator's review (docs/scanning.md: what weighs how much)",
    },
    Key {
        name: "osv.id_prefix",
        secret: false,
        help: "the prefix of the OSV ids this index gives its malicious-package verdicts (<prefix>-<year>-<n>); letters, digits and '-', ending in -MAL (like ACME-MAL), never MAL alone",
    },
];
