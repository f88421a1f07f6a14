//! `strongroom serve`: open storage, bind, print the URLs to give pip and twine, serve.

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::config::Config;

pub(crate) async fn serve(config: Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let services = super::open(&config).await?;
    let temp = config.data.join("tmp");
    let temp = match &config.storage {
        crate::config::Storage::Local(_) => services.blobs.temp_dir(&temp),
        crate::config::Storage::S3(_) => temp,
    };
    // Mail queued by account changes: delivered (SMTP or <data>/outbox) with retries.
    tokio::spawn(services.clone().deliver_outbox_forever());
    // Held role changes, invitation expiry, retention purges, email-domain checks.
    tokio::spawn(services.clone().run_jobs_forever(config.jobs_interval_secs));
    // Behind a TLS-terminating reverse proxy its X-Forwarded-Proto says whether the client used
    // HTTPS (HSTS then goes out). Browsers ignore HSTS over plain HTTP, so a direct client
    // forging the header gains nothing.
    let behind_proxy = !config.trusted_proxies.is_empty();
    let state = strongroom_server::AppState::new(services, temp.clone())
        .await
        .context("preparing the server state (temp folder, web signing key)")?
        .trust_forwarded_proto(behind_proxy);
    // Uploads interrupted by a crash leave temp files behind: sweep them now and periodically.
    tokio::spawn(sweep_temp_files(temp));
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
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
    println!(
        "  data:    {} (database {})",
        config.data.display(),
        crate::config::redact_url(&config.database)
    );
    let limits = strongroom_server::ConnLimits::new(
        &config.http,
        &config.trusted_proxies,
        strongroom_server::ConnLimits::open_files_limit(),
    );
    let app = strongroom_server::router(state);
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        tracing::info!("shutting down");
    };
    strongroom_server::serve(listener, app, limits, shutdown).await?;
    Ok(())
}

/// Remove temp files older than an hour (no upload takes that long to stream), every ten minutes.
async fn sweep_temp_files(dir: std::path::PathBuf) {
    let max_age = std::time::Duration::from_secs(3600);
    loop {
        if let Ok(mut entries) = tokio::fs::read_dir(&dir).await {
            while let Ok(Some(e)) = entries.next_entry().await {
                let old = e
                    .metadata()
                    .await
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > max_age);
                if old {
                    if let Err(err) = tokio::fs::remove_file(e.path()).await {
                        tracing::warn!(path = %e.path().display(), error = %err, "cannot remove stale temp file");
                    } else {
                        tracing::info!(path = %e.path().display(), "removed stale temp file");
                    }
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
    }
}
