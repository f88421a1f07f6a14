//! The subcommands' bodies.

pub(crate) mod admin;
mod data_dir;
mod invites;
mod secrets_key;
mod serve;

use std::io::Read;

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
    /// Create it when missing (every command).
    Create,
    /// And make what is in it owner-only (`serve`; `migrate` does it without [`open`]).
    Tighten,
}

/// Open the database (migrating it, checking the secrets key and sealing what an older version
/// left in plaintext) and the blob store; the data folder is created first, and with
/// [`DataFolder::Tighten`] made owner-only. `serve` runs the same steps one by one
/// (`serve::start`), waiting for the database while it is unreachable.
pub(crate) async fn open(config: &Config, folder: DataFolder) -> anyhow::Result<Services> {
    prepare(config, folder)?;
    let db = open_db(config, connect_db(config).await?).await?;
    let blobs = open_blobs(config)?;
    Ok(services(config, db, blobs))
}

/// Before any storage: the TLS provider, the secrets key's source, the data folder.
pub(crate) fn prepare(config: &Config, folder: DataFolder) -> anyhow::Result<()> {
    // One TLS provider for the whole tree (ring), installed before any client is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    secrets_key::require_configured(config)?;
    match folder {
        DataFolder::Create => data_dir::create(config),
        DataFolder::Tighten => data_dir::prepare(config),
    }
}

/// Connect to the database (`db.*` timeouts and pool size). An unreachable one is
/// [`StoreError::Unavailable`] in the error chain (see [`is_unreachable`]).
pub(crate) async fn connect_db(config: &Config) -> anyhow::Result<Db> {
    Db::connect_with(&config.database, &config.db)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                crate::config::redact_url(&config.database)
            )
        })
}

/// Migrate, load the secrets key and seal what an older version left in plaintext.
pub(crate) async fn open_db(config: &Config, db: Db) -> anyhow::Result<Db> {
    db.migrate().await.context("migrating the database")?;
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
    Ok(db)
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

fn cli_meta() -> RequestMeta {
    RequestMeta {
        ip: None,
        user_agent: Some(format!("strongroom-cli/{}", env!("CARGO_PKG_VERSION"))),
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
        Command::Migrate => {
            data_dir::prepare(&config)?;
            let db = connect_db(&config).await?;
            let applied = db.migrate().await?;
            if applied.is_empty() {
                println!("database is up to date");
            } else {
                for m in applied {
                    println!("applied {m}");
                }
            }
            Ok(())
        }
        Command::Config {
            command: crate::ConfigCommand::Show,
        } => {
            print!("{}", config.show());
            Ok(())
        }
        Command::User {
            command:
                crate::UserCommand::Create {
                    name,
                    email,
                    admin,
                    password_stdin: _,
                },
        } => {
            let mut pw = String::new();
            std::io::stdin()
                .read_to_string(&mut pw)
                .context("reading the password from stdin")?;
            let pw = pw
                .strip_suffix('\n')
                .map(|p| p.strip_suffix('\r').unwrap_or(p))
                .unwrap_or(&pw);
            let services = open(&config, DataFolder::Create).await?;
            let user = services
                .create_user(&name, &email, pw, admin, &cli_meta())
                .await?;
            println!(
                "created user {} (id {}){}",
                user.username,
                user.id,
                if admin { " as administrator" } else { "" }
            );
            if config.accounts.require_2fa {
                eprintln!(
                    "note: two-factor authentication is required (require_2fa): {} must log in on the web and set it up before uploading",
                    user.username
                );
            }
            Ok(())
        }
        Command::Token {
            command:
                crate::TokenCommand::Create {
                    user,
                    project,
                    expires_days,
                    name,
                },
        } => {
            let services = open(&config, DataFolder::Create).await?;
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
            let services = open(&config, DataFolder::Create).await?;
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
        Command::Admin { command } => {
            admin::run(&open(&config, DataFolder::Create).await?, command).await
        }
        Command::Outbox => {
            let dir = config.data.join("outbox");
            let files = strongroom_core::mail::list_outbox_files(&dir)
                .with_context(|| format!("reading {}", dir.display()))?;
            if files.is_empty() {
                println!("no mail in {}", dir.display());
            }
            for f in files {
                println!("{}\t{}\t{}\t{}", f.date, f.to, f.subject, f.file.display());
            }
            Ok(())
        }
        Command::Unyank { project, version } => {
            let services = open(&config, DataFolder::Create).await?;
            let serial = services
                .set_yanked(&project, &version, None, &cli_actor().name, &cli_meta())
                .await?;
            println!("unyanked {project} {version} (serial {serial})");
            Ok(())
        }
    }
}
