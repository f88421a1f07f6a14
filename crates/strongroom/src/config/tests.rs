//! Layering, parsing and the key table, without touching the process environment (what is
//! refused, and how it is said: `refusals`).

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_derive_from_data() {
    let c = Config::load_from(
        &Flags {
            data: Some("/srv/x".into()),
            ..Flags::default()
        },
        &env(&[]),
    )
    .expect("config");
    assert_eq!(c.database, "sqlite:///srv/x/strongroom.db");
    assert!(matches!(c.storage, Storage::Local(ref p) if p == Path::new("/srv/x/files")));
    assert_eq!(c.max_file_size, 104_857_600);
    assert!(
        c.show()
            .contains("data                               = /srv/x")
    );
    assert!(c.show().contains("# flag"));
}

#[test]
fn precedence_and_sources() {
    let dir = tempfile_dir();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, "bind = \"127.0.0.1:1\"\n[limits]\nmax_file_size = 10\n[s3]\nsecret_access_key = \"topsecret\"\n").expect("write");
    let e = env(&[
        ("STRONGROOM_BIND", "127.0.0.1:2"),
        ("STRONGROOM_STORAGE", "s3://bucket"),
    ]);
    let c = Config::load_from(
        &Flags {
            config: Some(file.clone()),
            ..Flags::default()
        },
        &e,
    )
    .expect("config");
    assert_eq!(c.bind, "127.0.0.1:2");
    assert_eq!(c.max_file_size, 10);
    assert!(
        matches!(&c.storage, Storage::S3(s) if s.bucket == "bucket" && s.secret_access_key.as_deref() == Some("topsecret"))
    );
    let shown = c.show();
    assert!(!shown.contains("topsecret"), "{shown}");
    assert!(shown.contains("env STRONGROOM_BIND"));
    let c = Config::load_from(
        &Flags {
            config: Some(file),
            bind: Some("127.0.0.1:3".into()),
            ..Flags::default()
        },
        &e,
    )
    .expect("config");
    assert_eq!(c.bind, "127.0.0.1:3");
}

#[test]
fn bad_values_are_named() {
    let e = env(&[("STRONGROOM_LIMITS__MAX_FILE_SIZE", "lots")]);
    let err = Config::load_from(&Flags::default(), &e)
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("limits.max_file_size"), "{err}");
    let e = env(&[("STRONGROOM_STORAGE", "ftp://x")]);
    assert!(Config::load_from(&Flags::default(), &e).is_err());
    assert_eq!(
        redact_url("postgres://u:pw@h/db"),
        "postgres://u:********@h/db"
    );
}

#[test]
fn account_settings_and_their_defaults() {
    let c = Config::load_from(&Flags::default(), &env(&[])).expect("config");
    let s = c.core_settings();
    assert!(s.require_2fa && s.rate_limits);
    assert_eq!(
        (
            s.session_idle_minutes,
            s.session_absolute_hours,
            s.reauth_minutes
        ),
        (720, 336, 10)
    );
    assert_eq!(
        s.hibp_url.as_deref(),
        Some("https://api.pwnedpasswords.com/range/")
    );
    assert!(s.smtp.is_none());
    assert_eq!(
        (s.webauthn_rp_id.as_str(), s.webauthn_origin.as_str()),
        ("localhost", "http://localhost:8080")
    );
    assert_eq!(s.link_base(), "http://127.0.0.1:8080");
    assert!(s.outbox_dir.ends_with("outbox"));
    let e = env(&[
        ("STRONGROOM_REQUIRE_2FA", "false"),
        ("STRONGROOM_HIBP__URL", ""),
        ("STRONGROOM_PUBLIC_URL", "https://pypi.example.org/"),
        ("STRONGROOM_SMTP__HOST", "mail.example.org"),
        ("STRONGROOM_SMTP__TLS", "tls"),
        ("STRONGROOM_SMTP__PASSWORD", "hunter2"),
    ]);
    let c = Config::load_from(&Flags::default(), &e).expect("config");
    let s = c.core_settings();
    assert!(!s.require_2fa);
    assert!(s.hibp_url.is_none(), "empty turns the online check off");
    assert_eq!(s.webauthn_rp_id, "pypi.example.org");
    assert_eq!(s.webauthn_origin, "https://pypi.example.org");
    assert_eq!(s.link_base(), "https://pypi.example.org");
    let smtp = s.smtp.expect("smtp");
    assert_eq!((smtp.port, smtp.tls), (465, strongroom_core::SmtpTls::Tls));
    assert!(!c.show().contains("hunter2"));
    let bad = env(&[
        ("STRONGROOM_SMTP__HOST", "h"),
        ("STRONGROOM_SMTP__TLS", "ssl3"),
    ]);
    assert!(Config::load_from(&Flags::default(), &bad).is_err());
}

#[test]
fn registration_is_closed_by_default_and_typed_from_env_or_file() {
    use strongroom_core::registration::Registration;
    let c = Config::load_from(&Flags::default(), &env(&[])).expect("config");
    assert_eq!(c.core_settings().registration, Registration::Closed);
    let shown = c.show();
    assert!(
        shown.contains("accounts.registration              = closed"),
        "{shown}"
    );
    assert!(shown.contains("accounts.allowed_email_domains"), "{shown}");
    let e = env(&[
        ("STRONGROOM_ACCOUNTS__REGISTRATION", "domains"),
        (
            "STRONGROOM_ACCOUNTS__ALLOWED_EMAIL_DOMAINS",
            "Example.org, bücher.example",
        ),
    ]);
    let c = Config::load_from(&Flags::default(), &e).expect("config");
    assert_eq!(
        c.core_settings().registration,
        Registration::Domains(vec!["example.org".into(), "xn--bcher-kva.example".into()])
    );
    let dir = tempfile_dir();
    let file = dir.path().join("registration.toml");
    std::fs::write(
        &file,
        "[accounts]\nregistration = \"domains\"\nallowed_email_domains = [\"corp.example\"]\n",
    )
    .expect("write");
    let c = Config::load_from(
        &Flags {
            config: Some(file),
            ..Flags::default()
        },
        &env(&[]),
    )
    .expect("config");
    assert_eq!(
        c.core_settings().registration,
        Registration::Domains(vec!["corp.example".into()])
    );
    for (mode, domains) in [
        ("domains", ""),
        ("domains", "*.example.org"),
        ("public", ""),
    ] {
        let e = env(&[
            ("STRONGROOM_ACCOUNTS__REGISTRATION", mode),
            ("STRONGROOM_ACCOUNTS__ALLOWED_EMAIL_DOMAINS", domains),
        ]);
        let err = Config::load_from(&Flags::default(), &e).expect_err(mode);
        assert!(err.to_string().contains("accounts."), "{err}");
    }
}

#[test]
fn http_settings_defaults_host_names_and_bad_values() {
    let c = Config::load_from(&Flags::default(), &env(&[])).expect("config");
    let h = c.core_settings().http;
    assert_eq!(h, strongroom_core::settings::HttpSettings::default());
    assert!(h.allowed_hosts.is_empty(), "no public_url: any Host");
    for key in [
        "cache.max_bytes",
        "http.idle_timeout_seconds",
        "http.max_connections_per_ip",
    ] {
        assert!(c.show().contains(key), "{key} missing from config show");
    }
    let e = env(&[
        (
            "STRONGROOM_PUBLIC_URL",
            "https://PyPI.example.org:8443/index/",
        ),
        (
            "STRONGROOM_HTTP__ALLOWED_HOSTS",
            "127.0.0.1, Internal.example.org., ::1, pypi.example.org",
        ),
        ("STRONGROOM_CACHE__MAX_BYTES", "1_000_000"),
        ("STRONGROOM_HTTP__IDLE_TIMEOUT_SECONDS", "2"),
    ]);
    let h = Config::load_from(&Flags::default(), &e)
        .expect("config")
        .core_settings()
        .http;
    assert_eq!(
        h.allowed_hosts,
        [
            "pypi.example.org",
            "127.0.0.1",
            "internal.example.org",
            "[::1]"
        ]
    );
    assert_eq!((h.cache_max_bytes, h.idle_timeout_secs), (1_000_000, 2));
    let v6 = env(&[("STRONGROOM_PUBLIC_URL", "http://[::1]:8080/")]);
    let h = Config::load_from(&Flags::default(), &v6)
        .expect("config")
        .http;
    assert_eq!(h.allowed_hosts, ["[::1]"]);
    for (k, v) in [
        ("STRONGROOM_HTTP__ALLOWED_HOSTS", "pypi.example.org:443"),
        ("STRONGROOM_HTTP__ALLOWED_HOSTS", "https://pypi.example.org"),
        ("STRONGROOM_HTTP__IDLE_TIMEOUT_SECONDS", "0"),
        ("STRONGROOM_HTTP__MAX_CONNECTIONS", "-1"),
    ] {
        let err = Config::load_from(&Flags::default(), &env(&[(k, v)]))
            .expect_err(v)
            .to_string();
        let key = k
            .trim_start_matches("STRONGROOM_")
            .replace("__", ".")
            .to_lowercase();
        assert!(err.contains(&key), "{err}");
    }
}

#[test]
fn public_url_host_is_read_once_ipv6_included() {
    for (url, host) in [
        ("https://PyPI.Example.org/", "pypi.example.org"),
        (
            "https://pypi.example.org.:8443/index/?x#y",
            "pypi.example.org",
        ),
        ("https://user:pw@pypi.example.org:443", "pypi.example.org"),
        ("http://127.0.0.1:8080", "127.0.0.1"),
        ("http://[::1]:8080/", "[::1]"),
        ("http://[2001:DB8:0::1]/simple/", "[2001:db8::1]"),
        ("http://u@[::1]", "[::1]"),
    ] {
        assert_eq!(url_host("public_url", url).expect(url), host, "{url}");
    }
    for bad in [
        "https://",
        "http://[::1",
        "http://[::1]x/",
        "http://[pypi.example.org]/",
        "http://pypi.example.org:https/",
        "http://pypi.example.org:99999/",
        "http://pypi example.org/",
    ] {
        let err = url_host("public_url", bad).expect_err(bad).to_string();
        assert!(err.starts_with("public_url: "), "{err}");
    }
    // every use of the host agrees: the allow-list, the WebAuthn RP id, the From: domain
    let c = Config::load_from(
        &Flags::default(),
        &env(&[("STRONGROOM_PUBLIC_URL", "http://[::1]:8080/")]),
    )
    .expect("config");
    let s = c.core_settings();
    assert_eq!(s.http.allowed_hosts, ["[::1]"]);
    assert_eq!(s.webauthn_rp_id, "[::1]");
    assert_eq!(s.webauthn_origin, "http://[::1]:8080");
    assert_eq!(s.mail_from, "strongroom <strongroom@[::1]>");
    let err = Config::load_from(
        &Flags::default(),
        &env(&[("STRONGROOM_PUBLIC_URL", "http://[::1/")]),
    )
    .expect_err("unclosed bracket")
    .to_string();
    assert!(err.contains("public_url"), "{err}");
}

#[test]
fn allowed_hosts_without_public_url_are_refused_naming_both_keys() {
    let e = env(&[("STRONGROOM_HTTP__ALLOWED_HOSTS", "127.0.0.1,index.internal")]);
    let err = Config::load_from(&Flags::default(), &e)
        .expect_err("mail links would name a refused host")
        .to_string();
    assert!(
        err.contains("http.allowed_hosts") && err.contains("public_url"),
        "{err}"
    );
    assert!(err.contains("http://127.0.0.1:8080"), "{err}");
    // with public_url the same list is fine, and the links are allowed
    let e = env(&[
        ("STRONGROOM_HTTP__ALLOWED_HOSTS", "127.0.0.1,index.internal"),
        ("STRONGROOM_PUBLIC_URL", "https://pypi.example.org"),
    ]);
    let s = Config::load_from(&Flags::default(), &e)
        .expect("config")
        .core_settings();
    assert_eq!(
        s.http.allowed_hosts,
        ["pypi.example.org", "127.0.0.1", "index.internal"]
    );
    assert_eq!(s.link_base(), "https://pypi.example.org");
}

#[test]
fn defaults_are_the_cores_defaults() {
    // `config show` and the settings the server runs with, both from core's Default
    let c = Config::load_from(&Flags::default(), &env(&[])).expect("config");
    // (the default From: names this machine, which the core cannot know)
    let expected = strongroom_core::Settings {
        mail_from: super::default_mail_from(None),
        ..strongroom_core::Settings::default()
    };
    assert_eq!(format!("{:?}", c.core_settings()), format!("{expected:?}"));
    let shown = c.show();
    let core = strongroom_core::Settings::default();
    for (key, value) in [
        ("cache.max_bytes", core.http.cache_max_bytes),
        ("http.idle_timeout_seconds", core.http.idle_timeout_secs),
        ("blobs.claim_grace_minutes", core.blobs.claim_grace_minutes),
        ("blobs.scan_interval_hours", core.blobs.scan_interval_hours),
        ("recovery.hold_hours", core.safety.recovery_hold_hours),
    ] {
        assert!(
            shown.contains(&format!("{key:<34} = {value:<44} # default")),
            "{key}: {shown}"
        );
    }
}

/// A folder for a test's files, removed when the test ends.
fn tempfile_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

#[test]
fn the_secrets_key_source_is_named_and_the_key_never_shown() {
    let flags = Flags {
        data: Some("/srv/x".into()),
        ..Flags::default()
    };
    // the embedded default: a key file in the data folder, made at first start
    let c = Config::load_from(&flags, &env(&[])).expect("config");
    assert_eq!(
        c.secrets_key,
        KeySource::DefaultFile {
            path: PathBuf::from("/srv/x/secret.key")
        }
    );
    let shown = c.show();
    assert!(
        shown.contains("secrets.key_file                   = /srv/x/secret.key"),
        "{shown}"
    );
    assert!(
        shown.contains("comes from: key file /srv/x/secret.key (default; made at first start)"),
        "{shown}"
    );
    // PostgreSQL: nothing is made up (servers must share one key)
    let pg = env(&[("STRONGROOM_DATABASE", "postgres://u@h/db")]);
    let c = Config::load_from(&flags, &pg).expect("config");
    assert_eq!(c.secrets_key, KeySource::Missing);
    assert!(c.show().contains("comes from: none configured"));
    // the key in the environment: redacted, its source named
    let key = "q6v3hKx0o5YbS0m8bXw2yK8m1p7T7yQm3r2b1s0a9Zc=";
    let e = env(&[
        ("STRONGROOM_DATABASE", "postgres://u@h/db"),
        ("STRONGROOM_SECRETS__KEY", key),
    ]);
    let c = Config::load_from(&flags, &e).expect("config");
    assert!(
        matches!(&c.secrets_key, KeySource::Inline { text, from: Source::Env(v) }
        if text == key && v == "STRONGROOM_SECRETS__KEY")
    );
    let shown = c.show();
    assert!(
        !shown.contains(key) && !shown.contains(&key[..12]),
        "{shown}"
    );
    assert!(
        shown.contains("comes from: secrets.key (env STRONGROOM_SECRETS__KEY)"),
        "{shown}"
    );
    assert!(
        !format!("{:?}", c.secrets_key).contains(key),
        "Debug never shows the key"
    );
    // STRONGROOM_SECRETS__KEY_FILE names the key file (it is not read as secrets.key's value)
    let e = env(&[(
        "STRONGROOM_SECRETS__KEY_FILE",
        "/run/secrets/strongroom.key",
    )]);
    let c = Config::load_from(&flags, &e).expect("config");
    assert_eq!(
        c.secrets_key,
        KeySource::File {
            path: PathBuf::from("/run/secrets/strongroom.key"),
            from: Source::Env("STRONGROOM_SECRETS__KEY_FILE".into())
        }
    );
    // both at once is ambiguous
    let e = env(&[
        ("STRONGROOM_SECRETS__KEY", key),
        ("STRONGROOM_SECRETS__KEY_FILE", "/run/k"),
    ]);
    let err = Config::load_from(&flags, &e).expect_err("both");
    assert!(err.to_string().contains("both set"), "{err}");
}

#[test]
fn smtp_from_defaults_from_public_url_and_config_show_says_so() {
    let c = Config::load_from(
        &Flags::default(),
        &env(&[("STRONGROOM_PUBLIC_URL", "https://Index.Example.com/")]),
    )
    .expect("config");
    assert_eq!(
        c.core_settings().mail_from,
        "strongroom <strongroom@index.example.com>"
    );
    let shown = c.show();
    let line = shown
        .lines()
        .find(|l| l.starts_with("smtp.from "))
        .expect("smtp.from listed");
    assert!(
        line.contains("strongroom@index.example.com") && line.contains("derived from public_url"),
        "{line}"
    );
    // set explicitly: the value and its source as given
    let c = Config::load_from(
        &Flags::default(),
        &env(&[
            ("STRONGROOM_PUBLIC_URL", "https://index.example.com/"),
            ("STRONGROOM_SMTP__FROM", "ops@example.com"),
        ]),
    )
    .expect("config");
    assert_eq!(c.core_settings().mail_from, "ops@example.com");
    assert!(c.show().contains("env STRONGROOM_SMTP__FROM"));
    // neither: the machine's name, and config show says to set one
    let c = Config::load_from(&Flags::default(), &env(&[])).expect("config");
    assert!(
        c.core_settings()
            .mail_from
            .starts_with("strongroom <strongroom@")
    );
    assert!(c.show().contains("derived from this machine's host name"));
}

#[test]
fn metrics_are_off_and_the_shutdown_grace_is_thirty_seconds_by_default() {
    let c = Config::load_from(&Flags::default(), &env(&[])).expect("config");
    assert_eq!(
        (c.metrics_bind.as_deref(), c.shutdown_grace_secs),
        (None, 30)
    );
    let c = Config::load_from(
        &Flags::default(),
        &env(&[
            ("STRONGROOM_METRICS__BIND", "127.0.0.1:9150"),
            ("STRONGROOM_SHUTDOWN__GRACE_SECONDS", "5"),
        ]),
    )
    .expect("config");
    assert_eq!(
        (c.metrics_bind.as_deref(), c.shutdown_grace_secs),
        (Some("127.0.0.1:9150"), 5)
    );
}

/// `migrate_on_start` is on by default (one server migrates its own database), off from the
/// file, the environment or `serve --no-migrate` (a flag, so it wins over both); the testing
/// knob that plays an older release defaults to every migration and refuses what no release
/// knew.
#[test]
fn migrate_on_start_and_known_migrations() {
    let data = Flags {
        data: Some("/srv/x".into()),
        ..Flags::default()
    };
    let c = Config::load_from(&data, &env(&[])).expect("config");
    assert!(c.migrate_on_start);
    assert_eq!(c.known_migrations, strongroom_store::LATEST_MIGRATION);
    let off = env(&[("STRONGROOM_MIGRATE_ON_START", "false")]);
    assert!(
        !Config::load_from(&data, &off)
            .expect("config")
            .migrate_on_start
    );
    let on = env(&[("STRONGROOM_MIGRATE_ON_START", "true")]);
    let c = Config::load_from(
        &Flags {
            no_migrate: true,
            ..data.clone()
        },
        &on,
    )
    .expect("config");
    assert!(
        !c.migrate_on_start,
        "serve --no-migrate wins over the environment"
    );
    assert!(
        c.show().lines().any(|l| l.starts_with("migrate_on_start ")
            && l.contains("= false")
            && l.contains("# flag")),
        "{}",
        c.show()
    );
    let c = Config::load_from(
        &data,
        &env(&[("STRONGROOM_TESTING__KNOWN_MIGRATIONS", "16")]),
    )
    .expect("config");
    assert_eq!(c.known_migrations, 16);
    for bad in ["0", "9999", "x"] {
        assert!(
            Config::load_from(
                &data,
                &env(&[("STRONGROOM_TESTING__KNOWN_MIGRATIONS", bad)])
            )
            .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn domain_check_switch_trusted_domains_and_breaker() {
    let c = Config::load_from(&Flags::default(), &env(&[])).expect("config");
    let s = c.core_settings().safety;
    assert!(s.domain_check, "on by default");
    assert!(s.trusted_domains.is_empty());
    assert!((s.max_unverify_share - 0.05).abs() < f64::EPSILON);
    let shown = c.show();
    for k in [
        "domains.check ",
        "domains.trusted ",
        "domains.max_unverify_share ",
    ] {
        assert!(shown.contains(k), "{k}: {shown}");
    }
    assert!(
        shown.contains("domains.max_unverify_share         = 0.05"),
        "{shown}"
    );
    let dir = tempfile_dir();
    let file = dir.path().join("domains.toml");
    std::fs::write(
        &file,
        "[domains]\ncheck = false\ntrusted = [\"Corp.Example\", \"bücher.example\"]\nmax_unverify_share = 0.1\n",
    )
    .expect("write");
    let c = Config::load_from(
        &Flags {
            config: Some(file),
            ..Flags::default()
        },
        &env(&[]),
    )
    .expect("config");
    let s = c.core_settings().safety;
    assert!(!s.domain_check);
    assert_eq!(s.trusted_domains, ["corp.example", "xn--bcher-kva.example"]);
    assert!((s.max_unverify_share - 0.1).abs() < f64::EPSILON);
    let c = Config::load_from(
        &Flags::default(),
        &env(&[
            ("STRONGROOM_DOMAINS__TRUSTED", "corp.example, corp.test"),
            ("STRONGROOM_DOMAINS__MAX_UNVERIFY_SHARE", "2%"),
        ]),
    )
    .expect("config");
    let s = c.core_settings().safety;
    assert_eq!(s.trusted_domains, ["corp.example", "corp.test"]);
    assert!((s.max_unverify_share - 0.02).abs() < f64::EPSILON);
    for (k, v) in [
        ("STRONGROOM_DOMAINS__TRUSTED", "*.corp.example"),
        ("STRONGROOM_DOMAINS__TRUSTED", "[1]"),
        ("STRONGROOM_DOMAINS__MAX_UNVERIFY_SHARE", "5"),
        ("STRONGROOM_DOMAINS__CHECK", "maybe"),
    ] {
        let err = Config::load_from(&Flags::default(), &env(&[(k, v)])).expect_err(v);
        assert!(err.to_string().starts_with("domains."), "{err}");
    }
}

#[test]
fn show_hides_secrets_in_url_query_parameters_and_userinfo() {
    for (database, secret) in [
        ("postgres://u@h/db?password=hunter2", "hunter2"),
        (
            "postgres://u@h/db?sslmode=require&SSLPASSWORD=hunter3",
            "hunter3",
        ),
        ("postgres://u:hunter4@h/db", "hunter4"),
        ("sqlite:///srv/sr.db?key=hunter5", "hunter5"),
    ] {
        let e = env(&[
            ("STRONGROOM_DATABASE", database),
            (
                "STRONGROOM_SECRETS__KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
            // a URL-valued setting that is not marked secret is redacted too
            (
                "STRONGROOM_HIBP__URL",
                "https://hibp.internal/range/?token=hunter6",
            ),
        ]);
        let shown = Config::load_from(&Flags::default(), &e)
            .expect("config")
            .show();
        assert!(!shown.contains(secret), "{database}: {shown}");
        assert!(!shown.contains("hunter6"), "{shown}");
        assert!(shown.contains("********"), "{shown}");
    }
}

#[test]
fn trusted_proxies_take_ranges_as_a_list_or_a_comma_string() {
    let dir = tempfile_dir();
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        "[proxy]\ntrusted_ips = [\"10.0.0.0/8\", \"fd00::/8\", \"192.0.2.1\"]\n",
    )
    .expect("write");
    let c = Config::load_from(
        &Flags {
            config: Some(file),
            ..Flags::default()
        },
        &env(&[]),
    )
    .expect("config");
    let proxies = c.core_settings().trusted_proxies;
    for ip in ["10.1.2.3", "fd00::5", "192.0.2.1", "::ffff:10.9.9.9"] {
        assert!(proxies.contains(ip.parse().expect("ip")), "{ip}");
    }
    assert!(!proxies.contains("192.0.2.2".parse().expect("ip")));
    let c = Config::load_from(
        &Flags::default(),
        &env(&[("STRONGROOM_PROXY__TRUSTED_IPS", "10.0.0.2, 172.16.0.0/12")]),
    )
    .expect("config");
    assert!(
        c.core_settings()
            .trusted_proxies
            .contains("172.31.0.1".parse().expect("ip"))
    );
    let err = Config::load_from(
        &Flags::default(),
        &env(&[("STRONGROOM_PROXY__TRUSTED_IPS", "10.0.0.0/40")]),
    )
    .expect_err("bad range")
    .to_string();
    assert!(
        err.contains("proxy.trusted_ips") && err.contains("10.0.0.0/40"),
        "{err}"
    );
}

#[test]
fn log_settings_are_checked_at_load() {
    let bad = |k: &str, v: &str| Config::load_from(&Flags::default(), &env(&[(k, v)])).is_err();
    assert!(bad("STRONGROOM_LOG", "info,sqlx=loud"));
    assert!(bad("STRONGROOM_LOG_FORMAT", "xml"));
    let c = Config::load_from(
        &Flags::default(),
        &env(&[("STRONGROOM_LOG_FORMAT", "json")]),
    )
    .expect("config");
    assert_eq!(c.log_format, crate::logging::LogFormat::Json);
}

#[test]
fn changed_keys_compare_values_not_sources() {
    let a = Config::load_from(&Flags::default(), &env(&[])).expect("config");
    let b =
        Config::load_from(&Flags::default(), &env(&[("STRONGROOM_LOG", "info")])).expect("config");
    assert!(a.changed_keys(&b).is_empty());
    let c = Config::load_from(
        &Flags::default(),
        &env(&[
            ("STRONGROOM_LOG", "debug"),
            ("STRONGROOM_BIND", "127.0.0.1:9"),
        ]),
    )
    .expect("config");
    assert_eq!(a.changed_keys(&c), ["bind", "log"]);
}

#[test]
fn database_pool_and_blob_store_timeouts_have_short_defaults_and_are_settings() {
    let c = Config::load_from(&Flags::default(), &env(&[])).expect("config");
    assert_eq!(c.db.pool_size, 16);
    assert_eq!(c.db.acquire_timeout, std::time::Duration::from_secs(3));
    assert_eq!(c.db.connect_timeout, std::time::Duration::from_secs(5));
    assert_eq!(c.db.application_name, None);
    for key in [
        "db.pool_size",
        "db.connect_timeout_seconds",
        "db.acquire_timeout_seconds",
        "db.application_name",
        "s3.timeout_seconds",
        "s3.retries",
    ] {
        assert!(c.show().contains(key), "{key} missing from config show");
    }
    let c = Config::load_from(
        &Flags::default(),
        &env(&[
            ("STRONGROOM_STORAGE", "s3://b"),
            ("STRONGROOM_DB__POOL_SIZE", "4"),
            ("STRONGROOM_DB__ACQUIRE_TIMEOUT_SECONDS", "1"),
            ("STRONGROOM_DB__APPLICATION_NAME", "index-a"),
            ("STRONGROOM_S3__TIMEOUT_SECONDS", "7"),
            ("STRONGROOM_S3__RETRIES", "0"),
        ]),
    )
    .expect("config");
    assert_eq!(c.db.pool_size, 4);
    assert_eq!(c.db.acquire_timeout, std::time::Duration::from_secs(1));
    assert_eq!(c.db.application_name.as_deref(), Some("index-a"));
    let Storage::S3(s3) = &c.storage else {
        panic!("s3 storage")
    };
    assert_eq!(s3.timeout, std::time::Duration::from_secs(7));
    assert_eq!(s3.retries, 0);
    let err = Config::load_from(
        &Flags::default(),
        &env(&[("STRONGROOM_DB__POOL_SIZE", "0")]),
    )
    .expect_err("no connections");
    assert!(err.to_string().contains("db.pool_size"), "{err}");
}

mod refusals;
