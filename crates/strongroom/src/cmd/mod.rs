//! The subcommands' bodies.

pub(crate) mod admin;
mod admin_impact;
mod admin_osv;
mod admin_review;
mod admin_synthetic;
mod admin_upstream;
mod admin_upstream_log;
mod admin_user;
pub(crate) mod audit;
mod backup;
mod backup_manifest;
mod data_dir;
mod existing_data;
mod fsck;
mod invites;
mod outbox;
mod reload;
mod restore;
mod scan;
mod schema;
mod secrets_key;
mod serve;
mod terminal_text;
pub(crate) mod user_create;

use anyhow::Context;
use strongroom_core::{RequestMeta, Services};
use strongroom_store::{Blobs, Db, SealError, StoreError};

use crate::Command;
use crate::config::{Config, Storage};

/// Say something the operator should know about the start (what was tightened, a key made):
/// in the log when serving, else on stderr.
pub(crate) fn note(message: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("{message}");
    } else {
        eprintln!("note: {message}");
    }
}

/// How much of the data folder a command looks at before opening it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataFolder {
    /// An existing index (every command but `serve` and `migrate`): refuse when its SQLite
    /// database is missing, saying where it was looked for (`existing_data`).
    Existing,
    /// And make what is in it owner-only (`serve`; `migrate` does it without [`open`]).
    Tighten,
}

/// Open the database (migrating it, checking the secrets key and sealing what an older version
/// left in plaintext) and the blob store; with [`DataFolder::Existing`] the database must be
/// there, with [`DataFolder::Tighten`] the data folder is created when missing and made
/// owner-only. `serve` runs the same steps one by one
/// (`serve::start`), waiting for the database while it is unreachable.
pub(crate) async fn open(config: &Config, folder: DataFolder) -> anyhow::Result<Services> {
    if folder == DataFolder::Existing {
        // Looks only: a refused command changes no file (no folder made, no mode tightened, no
        // database opened for writing).
        existing_data::require_index(config).await?;
    }
    prepare(config, folder)?;
    let (db, check) = open_db(config, connect_db(config).await?, folder).await?;
    if check == FileCheck::Owed {
        // a command serves nothing while it reads: the check before anything else
        refuse_damaged_database(&db).await?;
        strongroom_store::clean_close::note_checked();
    }
    let blobs = open_blobs(config)?;
    Ok(services(config, db, blobs))
}

/// Before any storage: the TLS provider, the secrets key's source, the data folder.
pub(crate) fn prepare(config: &Config, folder: DataFolder) -> anyhow::Result<()> {
    // One TLS provider for the whole tree (ring), installed before any client is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    secrets_key::require_configured(config)?;
    match folder {
        // [`open`] checked first, by looking only (`existing_data::require_index`).
        DataFolder::Existing => data_dir::create(config),
        DataFolder::Tighten => data_dir::prepare(config),
    }
}

/// Connect to the database (`db.*` timeouts and pool size). An unreachable one is
/// [`StoreError::Unavailable`] in the error chain (see [`is_unreachable`]); a SQLite file too
/// damaged to open is refused at once.
pub(crate) async fn connect_db(config: &Config) -> anyhow::Result<Db> {
    match Db::connect_with(&config.database, &config.db).await {
        Ok(db) => Ok(db),
        Err(e) if e.is_corruption() => anyhow::bail!(
            "the database is damaged ({e}): refusing to open it. Stop, restore the database from a backup, and check it with `strongroom admin fsck`"
        ),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "connecting to {}",
            crate::config::redact_url(&config.database)
        ))),
    }
}

/// Whether the SQLite file still has to be read whole (`serve` does it after answering, see
/// `strongroom_core::database_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileCheck {
    /// Checked, vouched for by a clean stop, or not a SQLite file.
    Done,
    /// Not vouched for: the check is owed before any change is taken.
    Owed,
}

/// Check the schema (migrating it when `migrate_on_start`), load the secrets key and seal what
/// an older version left in plaintext. `serve` (`DataFolder::Tighten`) first looks at the
/// SQLite file: one a clean stop vouches for is not read whole; one the start writes into
/// ([`writes_at_start`]) or of at most [`INLINE_CHECK_MAX`] is read whole first (a damaged file
/// is refused before anything is written into it); any other is owed its check
/// ([`FileCheck::Owed`]), which `serve` runs once it answers.
pub(crate) async fn open_db(
    config: &Config,
    db: Db,
    folder: DataFolder,
) -> anyhow::Result<(Db, FileCheck)> {
    let mut check = FileCheck::Done;
    if folder == DataFolder::Tighten {
        // A file exactly as the last clean stop left it, read whole by a start less than a day
        // before, is not read whole again (`store::clean_close`).
        if left_clean(config) {
            tracing::info!(
                "the database file is as the last clean stop left it and was read whole less than a day ago: its full check is skipped (`strongroom admin fsck` reads it all)"
            );
        } else if let Some(file) = strongroom_store::private_fs::sqlite_file(&config.database) {
            // A small file is read whole before answering (under a second): a request right
            // after the start never meets changes waiting. So is any file the start writes into.
            let small = config.database_check_delay.is_none()
                && std::fs::metadata(&file).is_ok_and(|m| m.len() <= INLINE_CHECK_MAX);
            if small || writes_at_start(config, &db).await? {
                refuse_damaged_database(&db).await?;
                strongroom_store::clean_close::note_checked();
            } else {
                check = FileCheck::Owed;
            }
        }
        // (PostgreSQL checks its pages as it reads them.)
    } else {
        existing_data::require_schema(config, &db).await?;
    }
    schema::check_schema(&db, config.known_migrations, config.migrate_on_start)
        .await
        .context("checking the database schema")?;
    let keyring = secrets_key::load(config, &db).await?;
    let db = db.with_keyring(keyring);
    let sealed = match db.seal_stored_secrets().await {
        Ok(report) => report,
        Err(e @ StoreError::Sealing(SealError::UnknownKey { .. })) => {
            return Err(anyhow::Error::new(e).context(format!(
                "the secrets key from {} does not fit this database: start strongroom with the key its secrets were sealed with (without it, TOTP seeds and the server's signing key cannot be read)",
                config.secrets_key
            )));
        }
        Err(e) => return Err(anyhow::Error::new(e).context("checking the sealed secrets")),
    };
    if sealed.sealed() > 0 {
        note(&format!(
            "sealed {sealed} that an older version had stored in plaintext (key id {})",
            db.secrets_key_id().unwrap_or("?")
        ));
    }
    Ok((db, check))
}

/// The largest SQLite file read whole before `serve` answers when no clean stop vouches for it
/// (about half a second here); a larger one is read in the background (`FileCheck::Owed`).
const INLINE_CHECK_MAX: u64 = 64 * 1024 * 1024;

/// Whether opening the database writes into it before serving: migrations to apply (with
/// `migrate_on_start`), stored skeletons to re-fold, secrets an older version left in plaintext.
/// Such a start reads an unvouched file whole first.
async fn writes_at_start(config: &Config, db: &Db) -> anyhow::Result<bool> {
    let state = db
        .schema_state(config.known_migrations)
        .await
        .context("reading the schema state")?;
    if matches!(state, strongroom_store::SchemaState::Behind { .. }) {
        return Ok(config.migrate_on_start);
    }
    Ok(db.fold_outdated().await.context("reading the name fold")?
        || db
            .holds_plaintext_secrets()
            .await
            .context("reading the sealed secrets")?)
}

/// The blob store as configured (no request is made: see `Blobs::probe`).
pub(crate) fn open_blobs(config: &Config) -> anyhow::Result<Blobs> {
    Ok(match &config.storage {
        Storage::Local(p) => Blobs::local(p).with_context(|| format!("opening {}", p.display()))?,
        Storage::S3(s) => Blobs::s3(s).context("configuring S3")?,
    })
}

/// The services over an open database and blob store.
pub(crate) fn services(config: &Config, db: Db, blobs: Blobs) -> Services {
    let mut services = Services::new(db, blobs, config.core_settings());
    if let Some(f) = &config.clock_offset_file {
        services.clock = std::sync::Arc::new(strongroom_core::FileOffsetClock(f.clone()));
    }
    services
}

/// Whether `e` says that the database or the blob store cannot be reached now (an outage that
/// may end by itself), as opposed to a refusal that needs the operator.
pub(crate) fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<StoreError>()
            .is_some_and(|s| s.unavailable().is_some())
            || c.downcast_ref::<strongroom_core::CoreError>()
                .is_some_and(|s| s.unavailable().is_some())
    })
}

/// Whether the SQLite file is exactly as a clean stop left it (the mark is taken away either
/// way: the file changes from now on). Never for PostgreSQL.
fn left_clean(config: &Config) -> bool {
    let Some(file) = strongroom_store::private_fs::sqlite_file(&config.database) else {
        return false;
    };
    let now = std::time::SystemTime::now();
    strongroom_store::clean_close::take_clean_mark(&file, now).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the clean-stop mark beside the database could not be read: checking the file");
        false
    })
}

/// Close the database after a clean stop and mark its file so (see [`left_clean`]), within
/// `wait`; a database still in use by then is left unmarked.
pub(crate) async fn mark_clean_stop(
    config: &Config,
    db: &strongroom_store::Db,
    wait: std::time::Duration,
) {
    let Some(file) = strongroom_store::private_fs::sqlite_file(&config.database) else {
        return;
    };
    match tokio::time::timeout(wait, db.close_folded()).await {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            tracing::info!("another process has the database open: the next start checks the file");
            return;
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the database could not be closed cleanly: the next start checks the file");
            return;
        }
        Err(_) => {
            tracing::warn!(
                "the database was still in use {wait:?} after the stop: the next start checks the file"
            );
            return;
        }
    }
    match tokio::task::spawn_blocking(move || strongroom_store::clean_close::mark_clean(&file))
        .await
    {
        Ok(Ok(true)) => {
            tracing::info!("database closed cleanly: the next start skips its full check")
        }
        Ok(Ok(false)) => tracing::info!(
            "the file is not vouched for (another process has it open, or a damaged page was met): the next start checks it"
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the clean-stop mark could not be written: the next start checks the file")
        }
        Err(e) => tracing::warn!(error = %e, "the clean-stop mark could not be written"),
    }
}

/// `e`, or, when a damaged page caused it (the start read the schema or the secrets from a file
/// its full check had not read yet), the refusal that says so and what to do.
pub(crate) fn name_damage(e: anyhow::Error) -> anyhow::Error {
    let damaged = e.chain().any(|c| {
        c.downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_corruption)
    });
    if damaged {
        anyhow::anyhow!("{}", damaged_message(&format!("{e:#}")))
    } else {
        e
    }
}

/// Refuse to go on when the database reports damage (SQLite `PRAGMA quick_check`: it reads
/// every page, once).
async fn refuse_damaged_database(db: &Db) -> anyhow::Result<()> {
    let damaged = strongroom_core::fsck::check_database(db, false).await?;
    if damaged.is_empty() {
        return Ok(());
    }
    anyhow::bail!("{}", damage_refusal(&damaged))
}

/// What a damaged database file is refused with (the first few findings, and what to do).
pub(crate) fn damage_refusal(damaged: &[strongroom_core::fsck::Finding]) -> String {
    let details: Vec<&str> = damaged.iter().take(5).map(|f| f.detail.as_str()).collect();
    damaged_message(&details.join("; "))
}

/// The refusal of a damaged database file, naming what was found.
fn damaged_message(details: &str) -> String {
    format!(
        "the database is damaged ({details}): refusing to serve from it. Stop, restore the database from a backup, and check it with `strongroom admin fsck`"
    )
}

pub(crate) fn cli_meta() -> RequestMeta {
    RequestMeta {
        ip: None,
        user_agent: Some(format!("strongroom-cli/{}", env!("CARGO_PKG_VERSION"))),
        request_id: None,
    }
}

/// The operator at the terminal, as the event log names them: `cli:<OS user>`.
pub(crate) fn cli_actor() -> strongroom_core::Actor {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|u| !u.is_empty()))
        .or_else(os_user_of_uid)
        .unwrap_or_else(|| "unknown".into());
    strongroom_core::Actor {
        id: None,
        name: format!("cli:{user}"),
    }
}

/// The login name of this process's real uid, from /proc and /etc/passwd (no libc call).
fn os_user_of_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    user_name_of(uid)
}

/// The login name of `uid` in /etc/passwd.
pub(crate) fn user_name_of(uid: u32) -> Option<String> {
    let uid = uid.to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_owned())
    })
}

pub(crate) async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { .. } => serve::serve(config).await,
        // Run by `main` before any configuration is read.
        Command::Audit(_) => anyhow::bail!("audit needs no configuration"),
        Command::Migrate { dry_run } => {
            data_dir::prepare(&config)?;
            let db = connect_db(&config).await?;
            if dry_run {
                return schema::dry_run(&db, config.known_migrations).await;
            }
            schema::migrate(&db, config.known_migrations).await
        }
        Command::Config {
            command: crate::ConfigCommand::Show,
        } => {
            print!("{}", config.show());
            Ok(())
        }
        Command::User {
            command: crate::UserCommand::Create(args),
        } => user_create::run(&config, args).await,
        Command::Token {
            command:
                crate::TokenCommand::Create {
                    user,
                    project,
                    expires_days,
                    name,
                },
        } => {
            let services = open(&config, DataFolder::Existing).await?;
            let secret = services
                .create_token(&user, &name, project.as_deref(), expires_days, &cli_meta())
                .await?;
            println!("{secret}");
            Ok(())
        }
        Command::Yank {
            project,
            version,
            reason,
        } => {
            let services = open(&config, DataFolder::Existing).await?;
            let reason = reason.unwrap_or_default();
            let serial = services
                .set_yanked(
                    &project,
                    &version,
                    Some(&reason),
                    &cli_actor().name,
                    &cli_meta(),
                )
                .await?;
            println!("yanked {project} {version} (serial {serial})");
            Ok(())
        }
        // Neither opens (nor migrates) the data: a backup leaves it as it is, a restore needs
        // it empty.
        Command::Admin {
            command:
                admin::AdminCommand::Backup {
                    dir,
                    include_secrets_key,
                },
        } => backup::backup(&config, &dir, include_secrets_key).await,
        Command::Admin {
            command: admin::AdminCommand::RestoreBackup { dir },
        } => restore::restore(&config, &dir).await,
        Command::Admin {
            command: admin::AdminCommand::Fsck { repair, json },
        } => fsck::run(&config, repair, json).await,
        // Offline: reads only the files named.
        Command::Admin {
            command: admin::AdminCommand::Scan { files, json },
        } => scan::run(&files, json),
        Command::Admin { command } => {
            admin::run(&open(&config, DataFolder::Existing).await?, command).await
        }
        Command::Outbox { limit } => {
            outbox::list(&open(&config, DataFolder::Existing).await?, limit).await
        }
        Command::Unyank { project, version } => {
            let services = open(&config, DataFolder::Existing).await?;
            let serial = services
                .set_yanked(&project, &version, None, &cli_actor().name, &cli_meta())
                .await?;
            println!("unyanked {project} {version} (serial {serial})");
            Ok(())
        }
    }
}
