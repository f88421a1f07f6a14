//! The `strongroom` binary: `serve`, `migrate`, `config show`, `user`, `token`, `yank`/`unyank`, `outbox`.

mod cmd;
mod config;
mod logging;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "strongroom",
    version,
    about = "A Python package index that resists takeovers."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct GlobalArgs {
    /// Configuration file (TOML). Default: ./strongroom.toml if it exists.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data folder (default ./strongroom-data).
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<String>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    /// Blob storage: file://FOLDER or s3://BUCKET.
    #[arg(long, global = true, value_name = "URL")]
    storage: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the index.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free one).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// Do not apply pending migrations (as `migrate_on_start = false`): refuse to start on a
        /// database that is behind; `strongroom migrate` upgrades it.
        #[arg(long)]
        no_migrate: bool,
        /// An upstream simple index (repeatable, first = highest priority): projects with no
        /// local name are served from it (as `upstream.url`; docs/gateway.md).
        #[arg(long = "upstream", value_name = "URL")]
        upstream: Vec<String>,
    },
    /// Create or upgrade the database schema.
    Migrate {
        /// Apply nothing: list the pending migrations, each an expand or a contract step, and
        /// which binaries may still run once they are applied.
        #[arg(long)]
        dry_run: bool,
    },
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Yank a release (PEP 592): installers skip it unless pinned.
    Yank {
        project: String,
        version: String,
        /// Why (shown to installers).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Undo a yank.
    Unyank { project: String, version: String },
    /// List the mail queue from the database, whichever server queued or delivered each mail:
    /// state (pending, failing, sent), time, attempts, recipient and subject (never bodies).
    Outbox {
        /// How many of the newest mails to list.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Check lock files against the index: every pinned file must be live (exit 1 naming each
    /// that is unknown, yanked, removed, held, quarantined or malicious; 2 on unusable input).
    Audit(cmd::audit::AuditArgs),
    /// Incident response and evidence (freeze, quarantine, remove, timeline, log verify, ...).
    Admin {
        #[command(subcommand)]
        command: cmd::admin::AdminCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print every setting, its value and where it came from (secrets redacted).
    Show,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create an account (its email counts as verified).
    Create(cmd::user_create::CreateArgs),
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create an API token and print it once.
    Create {
        #[arg(long)]
        user: String,
        /// Limit the token to one project.
        #[arg(long)]
        project: Option<String>,
        /// Expire after this many days.
        #[arg(long, value_name = "N")]
        expires_days: Option<u32>,
        /// A label to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

/// Output cut short by its reader (`strongroom … | head`): end at once, as Unix tools do when
/// their reader goes away (status 141, a SIGPIPE's), instead of a panic message and status 101.
/// Rust ignores SIGPIPE, so a print to the closed pipe panics with this message; anything else
/// goes to the default hook.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to std") && msg.contains("(os error 32)") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// jemalloc, for every allocation of the process (SQLite's and the other C libraries' too): a
/// server's freed memory goes back to the system within seconds of a load's end (its
/// background thread's decay), where glibc's per-thread arenas kept it (docs/benchmarks.md,
/// "Server memory").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    // A client of an index: no configuration, no data folder.
    let cli = match cli.command {
        Command::Audit(args) => return cmd::audit::run(args),
        command => Cli { command, ..cli },
    };
    let flags = config::Flags {
        config: cli.global.config.clone(),
        data: cli.global.data.clone(),
        database: cli.global.database.clone(),
        storage: cli.global.storage.clone(),
        bind: match &cli.command {
            Command::Serve { bind, .. } => bind.clone(),
            _ => None,
        },
        no_migrate: matches!(
            &cli.command,
            Command::Serve {
                no_migrate: true,
                ..
            }
        ),
        upstream: match &cli.command {
            Command::Serve { upstream, .. } => upstream.clone(),
            _ => Vec::new(),
        },
    };
    let config = match config::Config::load(&flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    // `serve` logs it (in the log's format); every other command says it on stderr.
    if !matches!(cli.command, Command::Serve { .. })
        && let Some(w) = config.testing_warning()
    {
        eprintln!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json_log = config.log_format == logging::LogFormat::Json;
    match runtime.block_on(cmd::run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let chain = error_chain(&e);
            // A log collector that reads JSON lines sees the fatal error too, not only the plain
            // line below (which stays, for a person at a terminal and the CLI contract).
            if json_log && tracing::dispatcher::has_been_set() {
                tracing::error!(error = %chain, "fatal: strongroom stops");
            }
            eprintln!("error: {chain}");
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, joined with ": ", skipping a cause whose text the message before it
/// already ends with (typed errors embed their source's text and also expose it as `source()`).
pub(crate) fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("storage failure: {0}")]
    struct Outer(#[from] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("database is locked")]
    struct Inner;

    #[test]
    fn error_chain_says_each_cause_once_and_keeps_context() {
        let e = anyhow::Error::from(Outer(Inner)).context("cannot remove sr-demo");
        assert_eq!(
            error_chain(&e),
            "cannot remove sr-demo: storage failure: database is locked"
        );
    }
}
