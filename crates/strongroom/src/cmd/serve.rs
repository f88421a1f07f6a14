//! `strongroom serve`: open storage, bind, print the URLs to give pip and twine, serve.

use crate::config::Config;
use anyhow::Context;

pub(crate) async fn serve(config: Config) -> anyhow::Result<()> {
    let log = crate::logging::init(&config.log, config.log_format).map_err(anyhow::Error::msg)?;
    // SIGHUP reloads settings (`cmd::reload`); caught from here on, so it never ends the process.
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    let mut services = super::open(&config, super::DataFolder::Tighten).await?;
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    if config.public_url.is_none() {
        // Links in mail (resets, verifications, invitations) name the address actually bound
        // (`--bind 127.0.0.1:0` gets its real port), before any job or request can make one.
        std::sync::Arc::make_mut(&mut services.settings).bind = addr.to_string();
    }
    let key_id = services.db.secrets_key_id().unwrap_or("?").to_owned();
    let data_temp = config.data.join("tmp");
    let temp = match &config.storage {
        crate::config::Storage::Local(_) => services.blobs.temp_dir(&data_temp),
        crate::config::Storage::S3(_) => data_temp.clone(),
    };
    // Temp files of uploads cut short by a crash or a kill: every file no live process holds
    // goes now, before the first request (both folders: the storage may have changed).
    let mut temp_dirs = vec![temp.clone()];
    if temp != data_temp {
        temp_dirs.push(data_temp);
    }
    for dir in &temp_dirs {
        sweep_temp_dir(dir);
    }
    // Mail queued by account changes: delivered (SMTP or <data>/outbox) with retries.
    tokio::spawn(services.clone().deliver_outbox_forever());
    // Network lookups the operator turned off (air-gapped installs): said once, here, never
    // per login or per job run.
    if !services.settings.safety.domain_check {
        tracing::info!("{}", strongroom_core::domains::OFF_LINE);
    }
    if services.settings.hibp_url.is_none() {
        tracing::info!("{}", strongroom_core::breached::ONLINE_OFF_LINE);
    }
    // Held role changes, invitation expiry, retention purges, email-domain checks.
    tokio::spawn(services.clone().run_jobs_forever(config.jobs_interval_secs));
    // The event log's head, written to this process's log whenever it moves: the anchor
    // outside the database for `strongroom admin log verify --expect-head`.
    tokio::spawn(
        services
            .clone()
            .anchor_head_forever(strongroom_core::evidence::HEAD_ANCHOR_EVERY),
    );
    let anchor = services.clone();
    // A contract step this binary does not know, applied while it serves: stop (fail closed).
    let schema_moved = super::schema::moved_past(
        services.db.clone(),
        config.known_migrations,
        config.jobs_interval_secs,
    );
    let schema_moved_why = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    tokio::spawn(super::reload::reload_on_sighup(
        hup,
        config.clone(),
        log,
        services.clone(),
    ));
    // Behind a TLS-terminating reverse proxy its X-Forwarded-Proto says whether the client used
    // HTTPS (HSTS then goes out). Browsers ignore HSTS over plain HTTP, so a direct client
    // forging the header gains nothing.
    let behind_proxy = !config.trusted_proxies.is_empty();
    let state = strongroom_server::AppState::new(services, temp.clone())
        .await
        .context("preparing the server state (temp folder, web signing key)")?
        .trust_forwarded_proto(behind_proxy)
        .data_dir(config.data.clone());
    // Metrics on their own listener (`metrics.bind`; off by default).
    if let Some(bind) = &config.metrics_bind {
        let metrics = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding metrics.bind {bind}"))?;
        println!(
            "  metrics: http://{}/metrics (metrics.bind)",
            metrics.local_addr()?
        );
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = strongroom_server::serve_metrics(metrics, state).await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    let drain = state.drain.clone();
    // And again periodically (another process sharing the folder may have been killed).
    tokio::spawn(sweep_temp_files(temp_dirs));
    let base = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let base = base.trim_end_matches('/');
    println!("strongroom listening on http://{addr}/");
    println!("  install: pip install --index-url {base}/simple/ PACKAGE");
    println!(
        "  upload:  twine upload --repository-url {base}/legacy/ -u __token__ -p <token> dist/*"
    );
    if config.public_url.is_none() {
        println!(
            "  links:   public_url is not set: links in mail name {base}/, which works only where that address reaches this server; set public_url to the address users reach the index at"
        );
    }
    println!(
        "  data:    {} (database {})",
        config.data.display(),
        crate::config::redact_url(&config.database)
    );
    println!(
        "  secrets: {} (key id {}; back it up apart from the database)",
        config.secrets_key, key_id
    );
    let limits = strongroom_server::ConnLimits::new(
        &config.http,
        &anchor.settings.trusted_proxies,
        strongroom_server::ConnLimits::open_files_limit(),
    );
    let app = strongroom_server::router(state);
    let moved_why = schema_moved_why.clone();
    let shutdown = async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            why = schema_moved => {
                tracing::error!("{why}");
                let _ = moved_why.set(why);
            }
        }
        tracing::info!("shutting down (signal)");
    };
    let grace = std::time::Duration::from_secs(config.shutdown_grace_secs);
    let served = strongroom_server::serve(listener, app, limits, drain, grace, shutdown).await;
    // Every request has finished (or the server failed): the final head covers all of them.
    anchor.anchor_head_at_shutdown().await;
    served?;
    if let Some(why) = schema_moved_why.get() {
        anyhow::bail!("{why}");
    }
    Ok(())
}

/// Remove the temp files in `dir` that no live process holds (see `store::tempfiles`).
fn sweep_temp_dir(dir: &std::path::Path) {
    match strongroom_store::tempfiles::sweep(dir) {
        Ok(r) if r.removed > 0 => tracing::info!(
            folder = %dir.display(),
            removed = r.removed,
            bytes = r.bytes,
            "removed temp files no live process holds (uploads cut short by a crash)"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(folder = %dir.display(), error = %e, "cannot sweep the temp folder")
        }
    }
}

/// Sweep the temp folders every ten minutes.
async fn sweep_temp_files(dirs: Vec<std::path::PathBuf>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        for dir in &dirs {
            let dir = dir.clone();
            let _ = tokio::task::spawn_blocking(move || sweep_temp_dir(&dir)).await;
        }
    }
}
