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
    let state =
        strongroom_server::AppState::new(services, temp).context("creating the temp folder")?;
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
    strongroom_server::serve(listener, app, shutdown).await?;
    Ok(())
}
