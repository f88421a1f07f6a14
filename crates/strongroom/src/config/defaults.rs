//! The default of every setting, as the text a config file would give (what `config show`
//! prints beside "# default").

use std::path::Path;

/// The default of every setting that has one, as text (`data` decides the ones derived from
/// the data folder). Every policy value the core has a default for is rendered from
/// `strongroom_core::Settings::default()`, the one source (`config show` prints these, and
/// parsing them back gives that default); the rest belong to this binary.
pub(super) fn defaults(data: &str) -> Vec<(&'static str, String)> {
    let core = strongroom_core::Settings::default();
    let (safety, blobs, http) = (&core.safety, &core.blobs, &core.http);
    let (db, s3) = (
        strongroom_store::DbSettings::default(),
        strongroom_store::S3Settings::default(),
    );
    let defaults: [(&'static str, String); _] = [
        ("require_2fa", core.require_2fa.to_string()),
        ("rate_limits", core.rate_limits.to_string()),
        (
            "session_idle_minutes",
            core.session_idle_minutes.to_string(),
        ),
        (
            "session_absolute_hours",
            core.session_absolute_hours.to_string(),
        ),
        ("reauth_minutes", core.reauth_minutes.to_string()),
        (
            "accounts.unverified_address_hours",
            core.unverified_address_hours.to_string(),
        ),
        ("hibp.url", core.hibp_url.clone().unwrap_or_default()),
        (
            "password.argon2_memory_kib",
            core.argon2_memory_kib.to_string(),
        ),
        (
            "password.argon2_iterations",
            core.argon2_iterations.to_string(),
        ),
        ("data", "./strongroom-data".into()),
        ("bind", core.bind.clone()),
        (
            "database",
            format!(
                "sqlite://{}",
                Path::new(&data).join("strongroom.db").display()
            ),
        ),
        (
            "storage",
            format!("file://{}", Path::new(&data).join("files").display()),
        ),
        ("log", "info".into()),
        ("log_format", "text".into()),
        ("s3.region", "us-east-1".into()),
        ("s3.allow_http", "false".into()),
        ("limits.max_file_size", core.max_file_size.to_string()),
        ("limits.max_project_size", core.max_project_size.to_string()),
        ("upload.strict_filenames", core.strict_filenames.to_string()),
        ("upload.strict_metadata", core.strict_metadata.to_string()),
        (
            "upload.release_file_window_days",
            core.release_file_window_days.to_string(),
        ),
        (
            "ownership.invitation_hours",
            safety.invitation_hours.to_string(),
        ),
        ("ownership.newcomer_days", safety.newcomer_days.to_string()),
        ("ownership.pending_hours", safety.pending_hours.to_string()),
        (
            "recovery.hold_hours",
            safety.recovery_hold_hours.to_string(),
        ),
        (
            "recovery.dormant_project_days",
            safety.dormant_project_days.to_string(),
        ),
        (
            "recovery.watch_days",
            safety.recovery_watch_days.to_string(),
        ),
        (
            "recovery.incident_lookback_days",
            safety.incident_lookback_days.to_string(),
        ),
        (
            "retention.deleted_account_days",
            safety.deleted_account_retention_days.to_string(),
        ),
        (
            "domains.check_interval_hours",
            safety.domain_check_interval_hours.to_string(),
        ),
        (
            "domains.rdap_url",
            safety.rdap_url.clone().unwrap_or_default(),
        ),
        ("domains.check", safety.domain_check.to_string()),
        ("domains.trusted", safety.trusted_domains.join(",")),
        (
            "domains.max_unverify_share",
            safety.max_unverify_share.to_string(),
        ),
        ("jobs.interval_seconds", "60".into()),
        ("migrate_on_start", "true".into()),
        (
            "blobs.claim_grace_minutes",
            blobs.claim_grace_minutes.to_string(),
        ),
        (
            "blobs.scan_interval_hours",
            blobs.scan_interval_hours.to_string(),
        ),
        ("blobs.scan_at_start", blobs.scan_at_start.to_string()),
        ("blobs.verify_sample", blobs.verify_sample.to_string()),
        (
            "notices.digest_minutes",
            core.notices.digest_minutes.to_string(),
        ),
        (
            "notices.digest_max_items",
            core.notices.digest_max_items.to_string(),
        ),
        ("cache.max_bytes", http.cache_max_bytes.to_string()),
        ("http.allowed_hosts", http.allowed_hosts.join(",")),
        (
            "http.idle_timeout_seconds",
            http.idle_timeout_secs.to_string(),
        ),
        ("http.body_min_bytes", http.body_min_bytes.to_string()),
        (
            "http.body_window_seconds",
            http.body_window_secs.to_string(),
        ),
        (
            "http.write_timeout_seconds",
            http.write_timeout_secs.to_string(),
        ),
        ("http.max_connections", http.max_connections.to_string()),
        (
            "http.max_connections_per_ip",
            http.max_connections_per_ip.to_string(),
        ),
        (
            "http.body_timeout_seconds",
            http.body_timeout_secs.to_string(),
        ),
        (
            "http.max_uploads_per_user",
            http.max_uploads_per_user.to_string(),
        ),
        ("images.proxy", core.images.proxy.to_string()),
        (
            "images.proxy_max_bytes",
            core.images.proxy_max_bytes.to_string(),
        ),
        (
            "images.proxy_timeout_seconds",
            core.images.proxy_timeout_secs.to_string(),
        ),
        (
            "testing.image_proxy_allow_loopback",
            core.images.allow_loopback.to_string(),
        ),
        ("metrics.bind", String::new()),
        ("upstream.url", String::new()),
        ("upstream.private_patterns", String::new()),
        (
            "upstream.min_age_days",
            core.upstream.min_age_days.to_string(),
        ),
        (
            "upstream.page_ttl_seconds",
            core.upstream.page_ttl_secs.to_string(),
        ),
        (
            "upstream.timeout_seconds",
            core.upstream.client.timeout_secs.to_string(),
        ),
        ("upstream.ca_bundle", String::new()),
        (
            "upstream.max_page_bytes",
            core.upstream.client.max_page_bytes.to_string(),
        ),
        (
            "upstream.cache_max_bytes",
            core.upstream.cache_max_bytes.to_string(),
        ),
        (
            "upstream.max_file_bytes",
            core.upstream.max_file_bytes.to_string(),
        ),
        (
            "upstream.new_fetches_per_minute",
            core.upstream.new_fetches_per_minute.to_string(),
        ),
        (
            "upstream.name_check_interval_hours",
            core.upstream.name_check_interval_hours.to_string(),
        ),
        (
            "upstream.name_checks_per_run",
            core.upstream.name_checks_per_run.to_string(),
        ),
        ("upstream.name_watch_exclude", String::new()),
        (
            "upstream.page_fetches_per_minute",
            core.upstream.page_fetches_per_minute.to_string(),
        ),
        (
            "upstream.pages_max_bytes",
            core.upstream.pages_max_bytes.to_string(),
        ),
        (
            "upstream.file_hosts",
            strongroom_core::settings::DEFAULT_FILE_HOSTS.to_owned(),
        ),
        (
            "downloads.retention_days",
            core.downloads.retention_days.to_string(),
        ),
        ("scan.hold_score", core.scan.hold_score.to_string()),
        ("osv.id_prefix", core.scan.osv_id_prefix.clone()),
        ("shutdown.grace_seconds", "30".into()),
        // health: database pool and blob-store timeouts
        ("db.pool_size", db.pool_size.to_string()),
        (
            "db.connect_timeout_seconds",
            db.connect_timeout.as_secs().to_string(),
        ),
        (
            "db.acquire_timeout_seconds",
            db.acquire_timeout.as_secs().to_string(),
        ),
        ("db.application_name", String::new()),
        ("s3.timeout_seconds", s3.timeout.as_secs().to_string()),
        ("s3.retries", s3.retries.to_string()),
    ];
    defaults.into()
}
