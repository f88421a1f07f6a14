//! Layering, parsing and the key table, without touching the process environment.

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
    let file = dir.join("s.toml");
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

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("strongroom-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}
