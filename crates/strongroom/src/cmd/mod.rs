//! The subcommands' bodies.

pub(crate) mod admin;
mod serve;

use std::io::Read;

use anyhow::Context;
use strongroom_core::{RequestMeta, Services};
use strongroom_store::{Blobs, Db};

use crate::Command;
use crate::config::{Config, Storage};

/// Open the database (migrating it) and the blob store.
pub(crate) async fn open(config: &Config) -> anyhow::Result<Services> {
    // One TLS provider for the whole tree (ring), installed before any client is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    create_data_folder(config)?;
    let db = Db::connect(&config.database).await.with_context(|| {
        format!(
            "connecting to {}",
            crate::config::redact_url(&config.database)
        )
    })?;
    db.migrate().await.context("migrating the database")?;
    let blobs = match &config.storage {
        Storage::Local(p) => Blobs::local(p).with_context(|| format!("opening {}", p.display()))?,
        Storage::S3(s) => Blobs::s3(s).context("configuring S3")?,
    };
    let mut services = Services::new(db, blobs, config.core_settings());
    if let Some(f) = &config.clock_offset_file {
        services.clock = std::sync::Arc::new(strongroom_core::FileOffsetClock(f.clone()));
    }
    Ok(services)
}

/// The data folder holds the SQLite database: create it (as `serve` and `migrate` both may be
/// the first command run on a new installation).
fn create_data_folder(config: &Config) -> anyhow::Result<()> {
    if config.database.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data)
            .with_context(|| format!("creating {}", config.data.display()))?;
    }
    Ok(())
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
        .to_owned();
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
            create_data_folder(&config)?;
            let db = Db::connect(&config.database).await?;
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
            let services = open(&config).await?;
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
            let services = open(&config).await?;
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
            let services = open(&config).await?;
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
        Command::Admin { command } => admin::run(&open(&config).await?, command).await,
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
            let services = open(&config).await?;
            let serial = services
                .set_yanked(&project, &version, None, &cli_actor().name, &cli_meta())
                .await?;
            println!("unyanked {project} {version} (serial {serial})");
            Ok(())
        }
    }
}
