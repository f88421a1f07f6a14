//! What a configuration is refused for, and how it is said: misspelt variables and keys,
//! a start file gone at reload, a database value never echoed, loud `testing.*` keys, and
//! bad scan and OSV values.

use super::*;

/// A misspelt `STRONGROOM_*` variable is refused like a misspelt TOML key (it used to be
/// ignored, so the server ran with the default: an open limit, 2FA off, an unset S3 secret).
#[test]
fn misspelt_environment_variables_are_refused() {
    let flags = Flags {
        data: Some("/srv/x".into()),
        ..Flags::default()
    };
    for (bad, near) in [
        (
            "STRONGROOM_RATELIMIT__PROJECT_CREATE_USRE",
            "STRONGROOM_RATELIMIT__PROJECT_CREATE_USER",
        ),
        ("STRONGROOM_REQUIRE2FA", "STRONGROOM_REQUIRE_2FA"),
        (
            "STRONGROOM_S3_SECRET_ACCESS_KEY",
            "STRONGROOM_S3__SECRET_ACCESS_KEY",
        ),
    ] {
        let err = Config::load_from(&flags, &env(&[(bad, "x")]))
            .expect_err(bad)
            .to_string();
        assert!(err.contains(bad), "{err}");
        assert!(err.contains(&format!("did you mean {near}?")), "{err}");
    }
    let err = Config::load_from(
        &flags,
        &env(&[("STRONGROOM_NOTHING_LIKE_ANY_KEY_AT_ALL", "1")]),
    )
    .expect_err("far from every key")
    .to_string();
    assert!(
        err.contains("unknown setting STRONGROOM_NOTHING_LIKE_ANY_KEY_AT_ALL"),
        "{err}"
    );
    assert!(!err.contains("did you mean"), "{err}");
    // Every key, its _FILE form, the config path and the suite's own variables still load.
    let dir = tempfile_dir();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").expect("write");
    let c = Config::load_from(
        &flags,
        &env(&[
            (
                "STRONGROOM_S3__SECRET_ACCESS_KEY_FILE",
                secret.to_str().expect("utf-8"),
            ),
            ("STRONGROOM_REQUIRE_2FA", "true"),
            ("STRONGROOM_RATELIMIT__PROJECT_CREATE_USER", "5 per hour"),
            ("STRONGROOM_TEST_PG_URL", "postgres://x"),
            ("STRONGROOM_BIN", "/x"),
        ]),
    )
    .expect("known names load");
    assert!(c.accounts.require_2fa);
}

#[test]
fn toml_typos_say_what_was_meant() {
    let dir = tempfile_dir();
    let file = dir.path().join("typo.toml");
    std::fs::write(&file, "require2fa = true\n").expect("write");
    let err = Config::load_from(
        &Flags {
            config: Some(file),
            data: Some("/srv/x".into()),
            ..Flags::default()
        },
        &env(&[]),
    )
    .expect_err("typo")
    .to_string();
    assert!(
        err.contains("unknown setting 'require2fa' (did you mean 'require_2fa'?)"),
        "{err}"
    );
}

/// SIGHUP reads the file used at start again; when it has gone, the reload is refused instead
/// of falling back to defaults (the implicit ./strongroom.toml used to become "no file").
#[test]
fn reload_refuses_when_the_start_file_is_gone() {
    let dir = tempfile_dir();
    let file = dir.path().join("strongroom.toml");
    std::fs::write(&file, "proxy.trusted_ips = \"10.0.0.1\"\n").expect("write");
    let mut c = Config::load_from(
        &Flags {
            data: Some("/srv/x".into()),
            ..Flags::default()
        },
        &env(&[]),
    )
    .expect("no file");
    assert_eq!(c.file, None);
    c.file = Some(file.clone());
    std::fs::remove_file(&file).expect("rm");
    let err = c.reload().expect_err("file gone").to_string();
    assert!(err.contains("strongroom.toml"), "{err}");
}

/// A key/value DSN is refused without echoing it (its password was in the error whole).
#[test]
fn a_refused_database_value_is_not_echoed() {
    for (db, secret) in [
        ("host=db.example password=KVPW dbname=sr", "KVPW"),
        ("mysql://u:PW2@h/db", "PW2"),
    ] {
        let err = Config::load_from(
            &Flags {
                data: Some("/srv/x".into()),
                database: Some(db.into()),
                ..Flags::default()
            },
            &env(&[]),
        )
        .expect_err(db)
        .to_string();
        assert!(err.starts_with("database: expected"), "{err}");
        assert!(!err.contains(secret), "{err}");
    }
}

/// A `testing.*` key is loud: a warning names it (known_migrations used to build a crippled
/// database in production without a word).
#[test]
fn testing_keys_are_named_in_a_warning() {
    let flags = Flags {
        data: Some("/srv/x".into()),
        ..Flags::default()
    };
    let quiet = Config::load_from(&flags, &env(&[])).expect("config");
    assert_eq!(quiet.testing_warning(), None);
    let loud = Config::load_from(
        &flags,
        &env(&[("STRONGROOM_TESTING__KNOWN_MIGRATIONS", "5")]),
    )
    .expect("config");
    let w = loud.testing_warning().expect("warning");
    assert!(
        w.starts_with("WARNING: ") && w.contains("testing.known_migrations = 5"),
        "{w}"
    );
}

#[test]
fn scan_threshold_and_osv_prefix_are_checked() {
    let c = Config::load_from(&Flags::default(), &env(&[])).expect("defaults");
    assert_eq!(c.scan, strongroom_core::ScanSettings::default());
    assert_eq!(c.scan.osv_id_prefix, "STRONGROOM-MAL");
    let c = Config::load_from(
        &Flags::default(),
        &env(&[
            ("STRONGROOM_SCAN__HOLD_SCORE", "25"),
            ("STRONGROOM_OSV__ID_PREFIX", "Acme-MAL"),
        ]),
    )
    .expect("config");
    assert_eq!(
        (c.scan.hold_score, c.scan.osv_id_prefix.as_str()),
        (25, "Acme-MAL")
    );
    for (value, needle) in [
        ("MAL", "MAL is the shared"),
        ("ACME", "must end in -MAL"),
        ("-MAL", "letters, digits"),
        ("AC ME-MAL", "letters, digits"),
        ("", "letters, digits"),
    ] {
        let err = Config::load_from(
            &Flags::default(),
            &env(&[("STRONGROOM_OSV__ID_PREFIX", value)]),
        )
        .expect_err(value)
        .to_string();
        assert!(
            err.contains("osv.id_prefix") && err.contains(needle),
            "{value:?}: {err}"
        );
    }
    let err = Config::load_from(
        &Flags::default(),
        &env(&[("STRONGROOM_SCAN__HOLD_SCORE", "-1")]),
    )
    .expect_err("negative")
    .to_string();
    assert!(err.contains("scan.hold_score"), "{err}");
}
