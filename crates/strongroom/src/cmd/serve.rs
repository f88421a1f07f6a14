//! `strongroom serve`: the start in small steps, then serve.
//!
//! The order (each step its own function, so another step slots in between):
//! 1. logging and the SIGHUP handler (`cmd::reload`: from here on SIGHUP never ends the
//!    process); the data folder and the secrets key's source (`prepare`);
//! 2. the blob store's configuration (a plain-HTTP endpoint without `s3.allow_http` is refused);
//!    the upstream client, when `upstream.url` is set (one that cannot be built, e.g. from a CA
//!    bundle without a certificate, ends the start: the gateway never turns itself off quietly);
//! 3. bind, and answer at once: `/healthz` 200, `/readyz` 503 and every other route 503 with a
//!    reason until step 5 is done (`strongroom_server::Starting`);
//! 4. probe the blob store: credentials it refuses, or a bucket that does not exist, end the
//!    start with a message saying what to fix (that will not mend itself); a store that does not
//!    answer is an outage: the start goes on and `/readyz` reports it until it is back;
//! 5. open the database, retrying every few seconds while it is unreachable: connect, migrate,
//!    the secrets key, the web signing key;
//! 6. the temp-file sweep, the background jobs, the SQLite file's full check when no clean stop
//!    vouches for it (changes to the index wait for it; damage stops the server), the SIGHUP
//!    reload, the schema watch, the metrics listener, then the full application, and the banner.
//!
//! On SIGTERM or ctrl-c the server drains (`strongroom_server::Drain`): new uploads get 503,
//! those in flight may finish for `shutdown.grace_seconds`. A contract migration this binary
//! does not know, applied by another binary while it serves, stops it too (`cmd::schema`), as
//! does a damaged database file found by the background check.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use strongroom_core::Services;
use strongroom_core::trusted_proxies::TrustedProxies;
use strongroom_server::{AppState, Drain, Starting};
use strongroom_store::{Blobs, ProbeFailure};
use tokio::sync::mpsc;

use crate::config::Config;

/// How often the start tries the database again while it is unreachable.
const DATABASE_RETRY: Duration = Duration::from_secs(2);
/// How often the start says in the log that it still waits for the database.
const WAITING_LOG_EVERY: Duration = Duration::from_secs(30);

pub(crate) async fn serve(config: Config) -> anyhow::Result<()> {
    let log = crate::logging::init(&config.log, config.log_format).map_err(anyhow::Error::msg)?;
    if let Some(w) = config.testing_warning() {
        tracing::warn!("{w}");
    }
    // SIGHUP reloads settings (`cmd::reload`); caught from here on, so it never ends the process.
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    super::prepare(&config, super::DataFolder::Tighten)?;
    let blobs = super::open_blobs(&config)?;
    check_upstream_client(&config)?;
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    warn_without_public_url(&config, addr);
    let starting = Starting::new();
    // One handle on the trusted proxies: the connection caps' exemption and the client-IP logic
    // read it, SIGHUP replaces it.
    let trusted = TrustedProxies::new(config.trusted_proxies.clone());
    let limits = strongroom_server::ConnLimits::new(
        &config.http,
        &trusted,
        strongroom_server::ConnLimits::open_files_limit(),
    );
    let drain = Drain::default();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    // Why the server stopped by itself (a contract migration it does not know, a damaged
    // database file), if it did.
    let stopped_why: Arc<OnceLock<String>> = Arc::default();
    let (stop_tx, stop_rx) = mpsc::channel::<String>(2);
    let mut server = tokio::spawn(strongroom_server::serve(
        listener,
        starting.clone(),
        limits,
        drain.clone(),
        grace,
        shutdown_signal(stop_rx, stopped_why.clone()),
    ));
    tracing::info!(address = %addr, "bound; opening the blob store and the database");
    check_blob_store(&blobs).await?;
    let opened = tokio::select! {
        opened = open_storage(&config, &blobs, &starting, addr, &trusted, &drain) => opened?,
        // Stopped (a signal) or failed before the database came: nothing to anchor.
        served = &mut server => {
            served.context("the server task")??;
            return Ok(());
        }
    };
    let Opened {
        services,
        state,
        check,
    } = opened;
    let mut background = spawn_background(&config, &services);
    if check == super::FileCheck::Owed {
        background.spawn(check_database_file(
            services.clone(),
            stop_tx.clone(),
            config.database_check_delay,
        ));
    }
    say_what_is_off(&services);
    // A contract step this binary does not know, applied while it serves: stop (fail closed).
    let schema_moved = super::schema::moved_past(
        services.db.clone(),
        config.known_migrations,
        config.jobs_interval_secs,
    );
    tokio::spawn(async move {
        let _ = stop_tx.send(schema_moved.await).await;
    });
    tokio::spawn(super::reload::reload_on_sighup(
        hup,
        config.clone(),
        log,
        services.clone(),
    ));
    let metrics_addr = spawn_metrics(&config, &state).await?;
    let anchor = services.clone();
    starting.open(state);
    // Before the banner: whoever waits for "strongroom listening on" has every line before it.
    if let Some(m) = metrics_addr {
        println!("  metrics: http://{m}/metrics (metrics.bind)");
    }
    print_banner(&config, addr, &services);
    let served = server.await.context("the server task")?;
    // The periodic work stops first: what is left below is done once, here.
    background.stop().await;
    // Every request has finished (or the server failed): the final head covers all of them.
    anchor.anchor_head_at_shutdown().await;
    if anchor.database_check.state() == strongroom_core::database_check::CheckState::Passed {
        final_writes(&anchor).await;
    } else {
        tracing::warn!(
            lost = anchor.downloads.stats().buffered,
            "the database file was not found sound before the stop: the download log's last batch is not written into it"
        );
    }
    served?;
    if let Some(why) = stopped_why.get() {
        anyhow::bail!("{why}");
    }
    super::mark_clean_stop(&config, &anchor.db, Duration::from_secs(5)).await;
    Ok(())
}

/// What the buffers still hold at a stop, written once: the download log's last batch and the
/// download times of kept upstream files (their eviction order).
async fn final_writes(anchor: &Services) {
    match anchor.downloads.flush(&anchor.db).await {
        Ok(n) => tracing::info!(written = n, "download log flushed at shutdown"),
        Err(e) => {
            tracing::error!(error = %e, lost = anchor.downloads.stats().buffered, "download log: the last batch could not be written at shutdown")
        }
    }
    if let Err(e) = anchor.flush_upstream_touches().await {
        tracing::warn!(error = %e, "upstream cache: the last download times could not be written at shutdown");
    }
}

/// SIGINT, SIGTERM, or a reason to stop sent on `stop` (a contract migration this binary does
/// not know, a damaged database file: kept in `why`, and `serve` then exits non-zero).
async fn shutdown_signal(mut stop: mpsc::Receiver<String>, why: Arc<OnceLock<String>>) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let moved = async {
        match stop.recv().await {
            Some(reason) => reason,
            // Nothing can send any more (the start failed first): wait for a signal only.
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        reason = moved => {
            tracing::error!("{reason}");
            let _ = why.set(reason);
        }
    }
    tracing::info!("shutting down");
}

/// Network lookups the operator turned off (air-gapped installs): said once, here, never per
/// login or per job run.
fn say_what_is_off(services: &Services) {
    if !services.settings.safety.domain_check {
        tracing::info!("{}", strongroom_core::domains::OFF_LINE);
    }
    if services.settings.hibp_url.is_none() {
        tracing::info!("{}", strongroom_core::breached::ONLINE_OFF_LINE);
    }
}

/// Metrics on their own listener (`metrics.bind`; off by default): its address when on.
async fn spawn_metrics(
    config: &Config,
    state: &AppState,
) -> anyhow::Result<Option<std::net::SocketAddr>> {
    let Some(bind) = &config.metrics_bind else {
        return Ok(None);
    };
    let metrics = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding metrics.bind {bind}"))?;
    let addr = metrics.local_addr()?;
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = strongroom_server::serve_metrics(metrics, state).await {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    });
    Ok(Some(addr))
}

/// Step 4: write, read back and delete a probe object. A refusal that needs the operator ends
/// the start; an outage is logged and left to readiness.
async fn check_blob_store(blobs: &Blobs) -> anyhow::Result<()> {
    match blobs.probe().await {
        Ok(()) => Ok(()),
        Err(e @ (ProbeFailure::Misconfigured { .. } | ProbeFailure::Mismatch)) => {
            anyhow::bail!(
                "the blob store cannot be used: {e} ({}); strongroom does not start with a blob store it cannot use",
                e.detail()
            )
        }
        Err(e @ ProbeFailure::Unreachable { .. }) => {
            tracing::warn!(
                error = %e,
                detail = e.detail(),
                "the blob store does not answer; starting anyway: /readyz says 503 and downloads and uploads answer 503 until it is back"
            );
            Ok(())
        }
    }
}

/// What step 5 opens.
struct Opened {
    services: Services,
    state: AppState,
    check: super::FileCheck,
}

/// Step 5: open the database and everything that needs it, retrying while it is unreachable
/// (what `/readyz` says meanwhile is updated at each try). Any other failure ends the start.
async fn open_storage(
    config: &Config,
    blobs: &Blobs,
    starting: &Starting,
    addr: std::net::SocketAddr,
    trusted: &TrustedProxies,
    drain: &Drain,
) -> anyhow::Result<Opened> {
    let mut last_said: Option<tokio::time::Instant> = None;
    loop {
        match open_once(config, blobs, addr, trusted, drain).await {
            Ok(opened) => {
                if last_said.is_some() {
                    tracing::info!("the database answers: opening the server");
                }
                return Ok(opened);
            }
            Err(e) if super::is_unreachable(&e) => {
                starting.waiting_for_database(&unreachable_reason(&e));
                if last_said.is_none_or(|t| t.elapsed() >= WAITING_LOG_EVERY) {
                    tracing::warn!(
                        error = %format!("{e:#}"),
                        "the database is not reachable: answering 503 (and /readyz 503) until it is; retrying every {} s",
                        DATABASE_RETRY.as_secs()
                    );
                    last_said = Some(tokio::time::Instant::now());
                }
                tokio::time::sleep(DATABASE_RETRY).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The storage error of an unreachable database, without the URL (shown on `/readyz`).
fn unreachable_reason(e: &anyhow::Error) -> String {
    e.chain()
        .find_map(|c| c.downcast_ref::<strongroom_store::StoreError>())
        .map_or_else(|| "no answer".to_owned(), ToString::to_string)
}

/// One try of step 5.
async fn open_once(
    config: &Config,
    blobs: &Blobs,
    addr: std::net::SocketAddr,
    trusted: &TrustedProxies,
    drain: &Drain,
) -> anyhow::Result<Opened> {
    let (db, check) = super::open_db(
        config,
        super::connect_db(config).await?,
        super::DataFolder::Tighten,
    )
    .await
    .map_err(super::name_damage)?;
    let mut services = super::services(config, db, blobs.clone());
    if check == super::FileCheck::Owed {
        // From the first request on, changes wait for the check (`check_database_file`).
        services.database_check.begin();
    }
    let settings = Arc::make_mut(&mut services.settings);
    // The handle the connection caps already read, so SIGHUP changes both at once.
    settings.trusted_proxies = trusted.clone();
    if config.public_url.is_none() {
        // Links in mail (resets, verifications, invitations) name the address actually bound
        // (`--bind 127.0.0.1:0` gets its real port), before any job or request can make one.
        settings.bind = addr.to_string();
    }
    let temp = temp_dir(config, &services);
    // Behind a TLS-terminating reverse proxy its X-Forwarded-Proto says whether the client used
    // HTTPS (HSTS then goes out). Browsers ignore HSTS over plain HTTP, so a direct client
    // forging the header gains nothing.
    let behind_proxy = !config.trusted_proxies.is_empty();
    let state = AppState::new(services.clone(), temp)
        .await
        .context("preparing the server state (temp folder, web signing key)")?
        .trust_forwarded_proto(behind_proxy)
        .data_dir(config.data.clone())
        // The drain the accept loop already watches (uploads refused and awaited at shutdown).
        .drain(drain.clone());
    Ok(Opened {
        services,
        state,
        check,
    })
}

/// Read the SQLite file whole (`quick_check`) while the server answers; changes wait for it
/// (`strongroom_core::database_check`). Damage stops the server with the reason, as it stopped
/// the start before the check ran in the background; a check that cannot run now (no
/// connection free in time) is tried again.
async fn check_database_file(
    services: Services,
    stop: mpsc::Sender<String>,
    delay: Option<Duration>,
) {
    tracing::info!(
        "the database file is not vouched for by a clean stop: reading it whole in the background; changes to the index wait until it passes"
    );
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let started = std::time::Instant::now();
    loop {
        match strongroom_core::fsck::check_database(&services.db, false).await {
            Ok(damage) if damage.is_empty() => {
                strongroom_store::clean_close::note_checked();
                services.database_check.passed();
                tracing::info!(
                    seconds = started.elapsed().as_secs_f64(),
                    "the database file was read whole and is sound: changes are taken"
                );
                return;
            }
            Ok(damage) => {
                services.database_check.damaged();
                let _ = stop.send(super::damage_refusal(&damage)).await;
                return;
            }
            // Not damage (a damaged page is a finding): no connection free in time, say. The
            // check is tried again; changes keep waiting.
            Err(e) => {
                tracing::warn!(error = %e, "the database file could not be read whole now: trying again in {} s; changes to the index wait", CHECK_RETRY.as_secs());
                tokio::time::sleep(CHECK_RETRY).await;
            }
        }
    }
}

/// How soon the background file check is tried again after it could not run.
const CHECK_RETRY: Duration = Duration::from_secs(10);

/// Where uploads are streamed: beside the blobs when they are a local folder (the final move
/// is a rename), else `<data>/tmp`.
fn temp_dir(config: &Config, services: &Services) -> std::path::PathBuf {
    let data_temp = config.data.join("tmp");
    match &config.storage {
        crate::config::Storage::Local(_) => services.blobs.temp_dir(&data_temp),
        crate::config::Storage::S3(_) => data_temp,
    }
}

/// The periodic work that may be stopped anywhere (each step a transaction of its own), stopped
/// before the database is closed at a stop, so that a job in the middle of a pass does not hold
/// a connection the close waits for. (The background file check's statement runs on in SQLite's
/// worker to its end: a stop during the check waits the close's limit and leaves no mark.)
#[derive(Default)]
struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Background {
    fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.0.push(tokio::spawn(task));
    }

    /// Stop every task (each at its next await) and wait until they are gone.
    async fn stop(self) {
        for t in &self.0 {
            t.abort();
        }
        for t in self.0 {
            let _ = t.await;
        }
    }
}

/// Step 6: the temp-file sweep and the periodic work. The work that writes (the jobs, the
/// download log, the outbox) waits for the file check's verdict when one is owed
/// (`DatabaseCheck::settled`); it never starts on a damaged file.
fn spawn_background(config: &Config, services: &Services) -> Background {
    let mut background = Background::default();
    let data_temp = config.data.join("tmp");
    let temp = temp_dir(config, services);
    // Temp files of uploads cut short by a crash or a kill: every file no live process holds
    // goes now, before the first request (both folders: the storage may have changed).
    let mut temp_dirs = vec![temp.clone()];
    if temp != data_temp {
        temp_dirs.push(data_temp);
    }
    for dir in &temp_dirs {
        sweep_temp_dir(dir);
    }
    // And again periodically (another process sharing the folder may have been killed).
    background.spawn(sweep_temp_files(temp_dirs));
    // Mail queued by account changes: delivered (SMTP or <data>/outbox) with retries. Not
    // stopped before the close: a message sent but not yet marked would go out twice.
    let s = services.clone();
    tokio::spawn(async move {
        if s.database_check.settled().await {
            s.deliver_outbox_forever().await;
        }
    });
    // The download log's recorder: its buffer written in batches (`core::download_log`). Not
    // stopped before the close either: a batch taken but not written would be lost.
    let s = services.clone();
    tokio::spawn(async move {
        if s.database_check.settled().await {
            s.flush_downloads_forever().await;
        }
    });
    // Held role changes, invitation expiry, retention purges, email-domain checks, the blob
    // collector (which deletes what the file's rows do not name: never from an unchecked file).
    let s = services.clone();
    let every = config.jobs_interval_secs;
    background.spawn(async move {
        if s.database_check.settled().await {
            s.run_jobs_forever(every).await;
        }
    });
    // The event log's head, written to this process's log whenever it moves: the anchor
    // outside the database for `strongroom admin log verify --expect-head`.
    background.spawn(
        services
            .clone()
            .anchor_head_forever(strongroom_core::evidence::HEAD_ANCHOR_EVERY),
    );
    background
}

/// Without `public_url`, links in mail name the bound address: fine on loopback (a trial on
/// this machine), useless or wrong from anywhere else (`0.0.0.0`, an internal address behind a
/// proxy), so a server reachable from elsewhere says so in its log at every start.
/// Refuse to start when an upstream is configured but its client cannot be built: serving
/// local projects only would quietly break every install that needs the upstream.
fn check_upstream_client(config: &Config) -> anyhow::Result<()> {
    match config.upstream.build_client() {
        Ok(_) => Ok(()),
        Err(e) => Err(anyhow::anyhow!(
            "the gateway to the upstream index cannot start ({e}): fix upstream.ca_bundle or \
             upstream.url, or remove upstream.url to serve local projects only"
        )),
    }
}

fn warn_without_public_url(config: &Config, addr: std::net::SocketAddr) {
    if config.public_url.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            "public_url is not set and the index listens on {addr}, beyond this machine: links in mail (password resets, address verification, invitations, vetoes) will name http://{addr}/, which the people mailed may not reach; set public_url (STRONGROOM_PUBLIC_URL) to the address users reach the index at"
        );
    }
}

/// The URLs to give pip and twine (printed once the server is open: the first line is what
/// scripts wait for).
fn print_banner(config: &Config, addr: std::net::SocketAddr, services: &Services) {
    let key_id = services.db.secrets_key_id().unwrap_or("?");
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
        "  secrets: {} (key id {key_id}; back it up apart from the database)",
        config.secrets_key
    );
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
