//! `strongroom admin upstream ...`: the operator's rules for upstream projects (`allow` before
//! the cooldown ends, `block` at once, `unallow`, `unblock`, and `rules` to list them), each
//! change logged with the operator as actor (`cli:$USER`) and the `--reason` given; `log` (its
//! own module, `admin_upstream_log`) shows the download log of a project.

use clap::Subcommand;
use strongroom_core::admin::AdminCap;
use strongroom_core::upstream_rules::RuleChange;
use strongroom_core::{RequestMeta, Services};

use super::terminal_text::shown;

/// `strongroom admin upstream ...`
#[derive(Subcommand, Debug)]
pub(crate) enum AdminUpstreamCommand {
    /// Serve an upstream project (or one VERSION of it) before the cooldown
    /// (upstream.min_age_days) ends, e.g. a security fix. Only the files uploaded before now
    /// are covered: files the upstream adds later wait out the cooldown (allow again to take
    /// them in), and files without an upload time are never covered.
    Allow {
        /// The project (any spelling of its name).
        project: String,
        /// One version of it (default: the whole project).
        version: Option<String>,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Hide an upstream project (or one VERSION of it) at once: its page says `quarantined`
    /// with the reason, its files answer 403 with the reason.
    Block {
        /// The project (any spelling of its name).
        project: String,
        /// One version of it (default: the whole project).
        version: Option<String>,
        /// Why (required; shown to installers, and recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Take back an `allow`: the cooldown applies again.
    Unallow {
        /// The project (any spelling of its name).
        project: String,
        /// The version the allow named (default: the whole-project allow).
        version: Option<String>,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Take back a `block`: the project or version is served again.
    Unblock {
        /// The project (any spelling of its name).
        project: String,
        /// The version the block named (default: the whole-project block).
        version: Option<String>,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// List the rules: one line per rule (kind, project, version or `*`, when, who, reason;
    /// control, bidi and tab characters escaped).
    Rules {
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The download log of a project: which machines downloaded which file when (time,
    /// origin, version, filename, sha256, client address, user agent), first downloads, and
    /// daily counts of downloads older than downloads.retention_days.
    Log(super::admin_upstream_log::LogArgs),
}

/// Run one `admin upstream` command.
pub(crate) async fn run(
    s: &Services,
    cap: &AdminCap,
    m: &RequestMeta,
    command: AdminUpstreamCommand,
) -> anyhow::Result<()> {
    let (change, project, version, reason) = match command {
        AdminUpstreamCommand::Rules { json } => return list(s, json).await,
        AdminUpstreamCommand::Log(args) => return super::admin_upstream_log::run(s, args).await,
        AdminUpstreamCommand::Allow {
            project,
            version,
            reason,
        } => (RuleChange::Allow, project, version, reason),
        AdminUpstreamCommand::Block {
            project,
            version,
            reason,
        } => (RuleChange::Block, project, version, reason),
        AdminUpstreamCommand::Unallow {
            project,
            version,
            reason,
        } => (RuleChange::Unallow, project, version, reason),
        AdminUpstreamCommand::Unblock {
            project,
            version,
            reason,
        } => (RuleChange::Unblock, project, version, reason),
    };
    let done = s
        .admin_upstream_rule(cap, change, &project, version.as_deref(), &reason, m)
        .await?;
    let what = match &done.version {
        Some(v) => format!("{} {v}", done.project),
        None => format!("{} (every version)", done.project),
    };
    let verb = match change {
        RuleChange::Allow => "allowed before the cooldown ends:",
        RuleChange::Block => "blocked upstream:",
        RuleChange::Unallow => "no longer allowed early:",
        RuleChange::Unblock => "no longer blocked:",
    };
    println!("{verb} {what}");
    if change == RuleChange::Allow {
        println!(
            "only files uploaded before now are covered: files the upstream adds later (to this release or as new releases) wait out the cooldown; allow again to take them in"
        );
    }
    if let Some(old) = &done.replaced {
        println!("(replaced the same rule's reason: {})", shown(old));
    }
    if done.local {
        println!(
            "note: {} is a local project, served from local rows only; the rule matters only if the name is ever freed",
            done.project
        );
    }
    Ok(())
}

async fn list(s: &Services, json: bool) -> anyhow::Result<()> {
    let rules = s.upstream_rule_list().await?;
    if json {
        for r in &rules {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(());
    }
    if rules.is_empty() {
        println!("no upstream rules");
    }
    for r in &rules {
        println!(
            "{}\t{}\t{}\t{}Z\t{}\t{}",
            r.kind.as_str(),
            shown(&r.project),
            shown(r.version.as_deref().unwrap_or("*")),
            strongroom_core::clock::iso8601_seconds(r.created_at),
            shown(&r.created_by),
            shown(&r.reason)
        );
    }
    Ok(())
}
