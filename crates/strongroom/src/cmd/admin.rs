//! `strongroom admin ...`: the incident-response commands (freeze, quarantine, remove, restore,
//! prohibit, site switches) and the evidence (timeline, log verify), each audited with the
//! operator as actor (`cli:$USER`) and the `--reason` given.

use clap::{Subcommand, ValueEnum};
use strongroom_core::Services;
use strongroom_core::admin::{Authority, SiteSwitch};
use strongroom_core::timeline::{TimelineOf, parse_time, timeline_text};

use super::{cli_actor, cli_meta};

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OnOff {
    On,
    Off,
}

/// The admin commands.
#[derive(Subcommand, Debug)]
pub(crate) enum AdminCommand {
    /// Freeze an account: every session ends and every API token is revoked for good, mailed
    /// links that could hand the account back die, logins are refused.
    Freeze {
        /// The account (username).
        user: String,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Lift a freeze: the password stays disabled and a reset link goes only to addresses
    /// verified before the incident window (refused when none is left); what was added in the
    /// window waits for the owner's decision.
    Unfreeze {
        /// The account (username).
        user: String,
        /// One of the account's verified addresses you have confirmed the owner controls (out
        /// of band): it gets the reset link even if it was added inside the incident window.
        #[arg(long, value_name = "ADDRESS")]
        trust_address: Option<String>,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Remove an account's second factors and recovery codes (owner lost them all): its
    /// password stops working, sessions end, a reset link goes to its verified addresses, and
    /// the account is on a recovery hold.
    #[command(name = "reset-2fa")]
    ResetTwoFactor {
        /// The account (username).
        user: String,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Hide a project from the index and installs (files kept) while it is investigated.
    Quarantine {
        /// The project (any spelling of its name).
        project: String,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Release a quarantined project, or (with VERSION) publish a release held for review.
    Release {
        /// The project (any spelling of its name).
        project: String,
        /// One release of it (its version).
        version: Option<String>,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Remove a project, a release or a file (soft: archived, restorable, names stay burned).
    Remove {
        /// The project (any spelling of its name).
        project: String,
        /// One release of it (its version).
        version: Option<String>,
        /// One file of that release.
        filename: Option<String>,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Restore a removed project, release or file.
    Restore {
        /// The project (any spelling of its name).
        project: String,
        /// One release of it (its version).
        version: Option<String>,
        /// One file of that release.
        filename: Option<String>,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Keep one file that release and restore refuse to bring back (uploaded while its
    /// uploader's account may have been someone else's), after reviewing its bytes.
    KeepFile {
        /// The project (any spelling of its name).
        project: String,
        /// The release (its version).
        version: String,
        /// The file.
        filename: String,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Publish one file held for review (added to an existing release by a watched account).
    ApproveFile {
        /// The project (any spelling of its name).
        project: String,
        /// The release (its version).
        version: String,
        /// The held file.
        filename: String,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Reject one file held for review: its row and its blob are deleted (the filename stays
    /// used).
    RejectFile {
        /// The project (any spelling of its name).
        project: String,
        /// The release (its version).
        version: String,
        /// The held file.
        filename: String,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Prohibit a project name (and names confusable with it).
    Prohibit {
        /// A project name (its normalised and confusable forms are covered).
        name: String,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Allow a name again (a prohibited name, or a removed project's name).
    Allow {
        /// A project name (its normalised and confusable forms are covered).
        name: String,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Restore a deleted account and the roles it held (default: just before its incident
    /// window opened, or before its deletion when nothing suspicious preceded it).
    RestoreUser {
        /// The account (username).
        user: String,
        /// The moment whose roles to re-grant (RFC 3339, e.g. 2026-11-22T13:00:00Z); default:
        /// just before the account's first suspicious change in the lookback before its
        /// deletion (a reset, a new address or factor, a hold, …), else just before the deletion.
        #[arg(long, value_name = "TIME")]
        roles_at: Option<String>,
        /// One of the account's verified addresses you have confirmed the owner controls (out
        /// of band): it gets the reset link even if it was added inside the incident window.
        #[arg(long, value_name = "ADDRESS")]
        trust_address: Option<String>,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Read-only mode: uploads and other changes refused, installs keep working.
    ReadOnly {
        /// `on` or `off`.
        state: OnOff,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Allow or refuse uploads that create new projects.
    NewProjects {
        /// `on` or `off`.
        state: OnOff,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// The event log.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// The chronology of an account or a project, from the event log.
    Timeline {
        /// Everything this account did or was subject to.
        #[arg(long, conflicts_with = "project", required_unless_present = "project")]
        user: Option<String>,
        /// Everything that happened to this project.
        #[arg(long)]
        project: Option<String>,
        /// Only events from this time on (RFC 3339).
        #[arg(long, value_name = "T")]
        since: Option<String>,
        /// A JSON array instead of text lines.
        #[arg(long)]
        json: bool,
    },
    /// Run the periodic jobs once (held role changes, expiries, purges, domain checks).
    RunJobs,
    /// Check the data: database integrity, every file's blob against its sha256, orphan blobs
    /// and temp files, journal gaps, the event chain. One line per finding; exit 0 clean, 1
    /// findings, 2 could not check.
    Fsck {
        /// Delete what nothing uses (orphan blobs past the claim grace, temp files no live
        /// process holds). Rows and files with users are never touched.
        #[arg(long)]
        repair: bool,
        /// A JSON report instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Apply a role change held for cooling-off now, before its veto window ends.
    ApproveChange {
        /// The change's number (shown on the project's manage page and in /admin/changes/).
        id: i64,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Check every verified address's email domain now (DNS and RDAP).
    CheckDomains,
    /// The gateway to upstream indexes: rules for upstream projects (allow, block, rules), the
    /// download log (log).
    Upstream {
        #[command(subcommand)]
        command: super::admin_upstream::AdminUpstreamCommand,
    },
    /// The impact report of a project: installable windows, downloads per day, page reads vs
    /// downloads by client kind, client addresses, dependents, the incident's events.
    Impact(super::admin_impact::ImpactArgs),
    /// Account repairs by the operator (verify-email).
    User {
        #[command(subcommand)]
        command: super::admin_user::AdminUserCommand,
    },
    /// OSV feeds: import malicious-package and vulnerability records; export or withdraw this index's verdicts.
    Osv {
        #[command(subcommand)]
        command: super::admin_osv::OsvCommand,
    },
    /// The review queue: releases and files held for review (list, show, approve, reject).
    Review {
        #[command(subcommand)]
        command: super::admin_review::ReviewCommand,
    },
    /// Invite someone to register (accounts.registration = invite; also works in open and
    /// domains, never in closed): a single-use link for ADDR only, mailed to it and printed.
    InviteUser {
        /// The address the invitation is for (the only one it registers).
        #[arg(long)]
        email: String,
        /// How long the link works, in hours (1 to 720).
        #[arg(long, value_name = "N", default_value_t = strongroom_core::registration_invites::DEFAULT_HOURS)]
        expires_hours: u64,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
    /// Back up the SQLite database and its blobs into DIR (new or empty), online: a consistent
    /// snapshot of the database, then every blob it names, sha256-checked, and a manifest.
    /// The secrets key is NOT included unless --include-secrets-key: back it up separately,
    /// or a restored database cannot decrypt TOTP seeds (strongroom will not start on it).
    /// PostgreSQL: pg_dump, then the bucket (docs/operations.md, "Backup and restore").
    Backup {
        /// The folder to write (created owner-only; an existing one must be empty).
        dir: std::path::PathBuf,
        /// Also copy the secrets key into the backup (whoever reads the backup can then open
        /// the TOTP seeds and other sealed secrets in it).
        #[arg(long)]
        include_secrets_key: bool,
    },
    /// Restore a backup made by `admin backup` into the configured database and blob store,
    /// which must be empty; every blob's sha256 is checked first. Prints the event log's head
    /// to check with `admin log verify --expect-head`. (`admin restore` brings back a removed
    /// project, release or file.)
    RestoreBackup {
        /// The backup folder (with its manifest.json).
        dir: std::path::PathBuf,
    },
    /// Scan wheels and sdists offline as uploads are scanned: per file the capabilities of each
    /// member, the findings (rule, severity, path:line, snippet) and the base score. The kind
    /// comes from the name (.whl, .tar.gz, .zip). Exits 1 when a file cannot be read.
    Scan {
        /// The files to scan.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Print the scans as JSON (as stored with each upload).
        #[arg(long)]
        json: bool,
    },
    /// List invitations to register, newest first, with their state.
    Invites,
    /// Fill the index with synthetic projects for scale benchmarks (hidden: not for real
    /// indexes). Refuses a database that has projects unless --append.
    #[command(hide = true)]
    GenerateSynthetic(super::admin_synthetic::SyntheticArgs),
    /// Revoke an unused invitation: its link stops working at once.
    RevokeInvite {
        /// The invitation's number (from `admin invites` or the admin area).
        id: i64,
        /// Why (required; recorded in the event log with you as actor).
        #[arg(long)]
        reason: String,
    },
}

/// `strongroom admin log ...`
#[derive(Subcommand, Debug)]
pub(crate) enum LogCommand {
    /// Check the whole hash chain; names the first broken entry. Prints the newest entry as
    /// SEQ:HASH: keep it elsewhere and pass it back with --expect-head to prove later that
    /// nothing was cut off the end.
    Verify {
        /// A head printed earlier (SEQ:HASH) that must still be in the log, unchanged.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<String>,
    },
}

/// Run one admin command.
pub(crate) async fn run(s: &Services, command: AdminCommand) -> anyhow::Result<()> {
    let a = cli_actor();
    // The operator at the terminal acts as an administrator.
    let cap = s.operator_cap(a.clone());
    let m = cli_meta();
    match command {
        AdminCommand::Freeze { user, reason } => {
            let u = s.admin_freeze_user(&a, &user, &reason, &m).await?;
            println!("froze {}", u.username);
        }
        AdminCommand::Unfreeze {
            user,
            trust_address,
            reason,
        } => {
            let back = s
                .admin_unfreeze_user(&a, &user, trust_address.as_deref(), &reason, &m)
                .await?;
            println!(
                "unfroze {} (it signs in only after a password reset)",
                back.username
            );
            print_handed_back(&back);
        }
        AdminCommand::ResetTwoFactor { user, reason } => {
            let r = s.admin_reset_two_factor(&a, &user, &reason, &m).await?;
            println!(
                "reset two-factor authentication of {user}: TOTP {}, {} security key(s), {} session(s) ended, {} API token(s) created inside the incident window revoked; a password reset link went to its addresses verified before that window",
                if r.totp { "removed" } else { "none" },
                r.security_keys,
                r.sessions_ended,
                r.tokens_revoked.len()
            );
            for a in &r.addresses_suspect {
                println!("suspect until the owner keeps it: address {a}");
            }
        }
        AdminCommand::Quarantine { project, reason } => {
            s.admin_quarantine_project(&cap, &project, &reason, &m)
                .await?;
            println!("quarantined {project}");
        }
        AdminCommand::Release {
            project,
            version: None,
            reason,
        } => {
            s.admin_release_project(&cap, &project, &reason, &m).await?;
            println!("released {project}");
        }
        AdminCommand::Release {
            project,
            version: Some(version),
            reason,
        } => {
            let approval = s
                .admin_approve_release(&cap, &project, &version, &reason, &m)
                .await?;
            println!("published the quarantined release {project} {version}");
            for f in &approval.published {
                println!("published file {f}");
            }
            for f in &approval.still_held {
                println!(
                    "still held for review: {f} (`strongroom admin approve-file {project} {version} {f}` or `reject-file`)"
                );
            }
        }
        AdminCommand::Remove {
            project,
            version,
            filename,
            reason,
        } => {
            let by = Authority::Admin(&cap);
            match (version, filename) {
                (None, _) => {
                    s.remove_project(&by, &project, &reason, &m).await?;
                    println!("removed project {project}");
                }
                (Some(v), None) => {
                    s.remove_release(&by, &project, &v, &reason, &m).await?;
                    println!("removed release {project} {v}");
                }
                (Some(v), Some(f)) => {
                    s.remove_file(&by, &project, &v, &f, &reason, &m).await?;
                    println!("removed file {f} of {project} {v}");
                }
            }
        }
        AdminCommand::Restore {
            project,
            version,
            filename,
            reason,
        } => match (version, filename) {
            (None, _) => {
                s.admin_restore_project(&cap, &project, &reason, &m).await?;
                println!("restored project {project}");
            }
            (Some(v), None) => {
                s.admin_restore_release(&cap, &project, &v, &reason, &m)
                    .await?;
                println!("restored release {project} {v}");
            }
            (Some(v), Some(f)) => {
                s.admin_restore_file(&cap, &project, &v, &f, &reason, &m)
                    .await?;
                println!("restored file {f} of {project} {v}");
            }
        },
        AdminCommand::KeepFile {
            project,
            version,
            filename,
            reason,
        } => {
            s.admin_keep_file(&cap, &project, &version, &filename, &reason, &m)
                .await?;
            println!("kept file {filename} of {project} {version}: an undo may bring it back");
        }
        AdminCommand::ApproveFile {
            project,
            version,
            filename,
            reason,
        } => {
            s.admin_approve_file(&cap, &project, &version, &filename, &reason, &m)
                .await?;
            println!("published the held file {filename} of {project} {version}");
        }
        AdminCommand::RejectFile {
            project,
            version,
            filename,
            reason,
        } => {
            s.admin_reject_file(&cap, &project, &version, &filename, &reason, &m)
                .await?;
            println!("rejected and deleted the held file {filename} of {project} {version}");
        }
        AdminCommand::Prohibit { name, reason } => {
            s.admin_prohibit_name(&a, &name, &reason, &m).await?;
            println!("prohibited the name {name}");
        }
        AdminCommand::Allow { name, reason } => {
            let done = s.admin_allow_name(&a, &name, &reason, &m).await?;
            if done.prohibition {
                println!("the name {name} is no longer prohibited");
            }
            for p in done.removed_projects {
                println!("freed the name of the removed project {p} (its filenames stay unusable)");
            }
            for k in done.upstream {
                eprintln!("{}", upstream_warning(&k));
            }
        }
        AdminCommand::RestoreUser {
            user,
            roles_at,
            trust_address,
            reason,
        } => {
            let at = roles_at.as_deref().map(parse_time).transpose()?;
            let r = s
                .admin_restore_user(&a, &user, at, trust_address.as_deref(), &reason, &m)
                .await?;
            println!(
                "restored {} (it signs in only after a password reset)",
                r.username
            );
            for (p, role) in r.roles {
                println!("re-granted {role} on {p}");
            }
            for (p, role) in r.skipped {
                println!("not re-granted: {role} on {p} (project removed, or a role is held)");
            }
            for (p, role) in r.withheld {
                println!("not re-granted: {role} on {p} (gained inside the incident window)");
            }
            print_handed_back(&r.handed_back);
        }
        AdminCommand::ReadOnly { state, reason } => {
            let on = state == OnOff::On;
            s.admin_set_switch(&a, SiteSwitch::ReadOnly, on, &reason, &m)
                .await?;
            println!("read-only mode {}", if on { "on" } else { "off" });
        }
        AdminCommand::NewProjects { state, reason } => {
            let on = state == OnOff::On;
            // The flag is "no new projects": `new-projects off` turns it on.
            s.admin_set_switch(&a, SiteSwitch::NoNewProjects, !on, &reason, &m)
                .await?;
            println!("new projects {}", if on { "allowed" } else { "refused" });
        }
        AdminCommand::GenerateSynthetic(args) => super::admin_synthetic::run(s, &args).await?,
        AdminCommand::Log {
            command: LogCommand::Verify { expect_head },
        } => {
            let expected = expect_head
                .as_deref()
                .map(str::parse::<strongroom_core::evidence::Head>)
                .transpose()?;
            // A damaged database cannot vouch for its own log.
            let damaged = strongroom_core::fsck::check_database(&s.db, false).await?;
            if let Some(first) = damaged.first() {
                println!(
                    "event log NOT VERIFIED: the database reports damage ({}); run `strongroom admin fsck`",
                    first.detail
                );
                std::process::exit(1);
            }
            match s.verify_log().await? {
                Ok(n) => {
                    let head = s.log_head().await?;
                    match &head {
                        Some(h) => println!("event log intact: {n} entries, head {h}"),
                        None => println!("event log intact: {n} entries"),
                    }
                }
                Err(seq) => {
                    println!("event log BROKEN at entry {seq}");
                    std::process::exit(1);
                }
            }
            if let Some(e) = expected {
                use strongroom_core::evidence::HeadCheck;
                match s.check_head(&e).await? {
                    HeadCheck::Present => println!("recorded head {} is present", e.seq),
                    HeadCheck::Missing => {
                        println!(
                            "event log BROKEN: recorded head entry {} is gone (entries were cut off the end)",
                            e.seq
                        );
                        std::process::exit(1);
                    }
                    HeadCheck::Changed => {
                        println!(
                            "event log BROKEN at entry {}: it no longer has the recorded hash",
                            e.seq
                        );
                        std::process::exit(1);
                    }
                }
            }
        }
        AdminCommand::Timeline {
            user,
            project,
            since,
            json,
        } => {
            let since = since.as_deref().map(parse_time).transpose()?;
            let of = match (&user, &project) {
                (Some(u), _) => TimelineOf::User(u),
                (None, Some(p)) => TimelineOf::Project(p),
                (None, None) => anyhow::bail!("give --user NAME or --project NAME"),
            };
            let entries = s.timeline(of, since).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                // Event details and user agents are others' words: escaped for the terminal.
                for line in timeline_text(&entries).lines() {
                    println!("{}", super::terminal_text::shown_line(line));
                }
            }
        }
        AdminCommand::ApproveChange { id, reason } => {
            let c = s.approve_role_change(&a, id, &reason, &m).await?;
            println!(
                "role change {} on {} ({} {}): {}",
                c.id, c.project_name, c.kind, c.target_name, c.status
            );
        }
        AdminCommand::CheckDomains => {
            let report = s.check_domains(&a, &m).await?;
            println!("checked {} addresses", report.addresses);
            for l in report.lines() {
                println!("{l}");
            }
        }
        AdminCommand::User { command } => super::admin_user::run(s, &a, &m, command).await?,
        AdminCommand::Impact(args) => super::admin_impact::run(s, args).await?,
        AdminCommand::Upstream { command } => {
            super::admin_upstream::run(s, &cap, &m, command).await?;
        }
        AdminCommand::Osv { command } => super::admin_osv::run(s, &a, &m, command).await?,
        AdminCommand::Review { command } => super::admin_review::run(s, &cap, &m, command).await?,
        AdminCommand::InviteUser {
            email,
            expires_hours,
            reason,
        } => super::invites::invite(s, &a, &m, &email, expires_hours, &reason).await?,
        AdminCommand::Invites => super::invites::list(s).await?,
        AdminCommand::RevokeInvite { id, reason } => {
            super::invites::revoke(s, &a, &m, id, &reason).await?;
        }
        AdminCommand::Backup { .. }
        | AdminCommand::RestoreBackup { .. }
        | AdminCommand::Scan { .. } => {
            unreachable!("dispatched before the data is opened (cmd::run)")
        }
        AdminCommand::Fsck { .. } => {
            anyhow::bail!("admin fsck opens the database itself (cmd::fsck)")
        }
        AdminCommand::RunJobs => {
            let report = s.run_jobs().await?;
            if report.lines.is_empty() && report.failures.is_empty() {
                println!("nothing to do");
            }
            for l in &report.lines {
                println!("{l}");
            }
            if !report.failures.is_empty() {
                anyhow::bail!("{}", report.failures.join("; "));
            }
        }
    }
    Ok(())
}

/// What an unfreeze or a restore handed back, as the operator reads it.
fn print_handed_back(back: &strongroom_core::handback::HandedBack) {
    println!("incident window: {}", back.window.describe());
    println!(
        "password reset link sent to: {}",
        back.reset_sent_to.join(", ")
    );
    if let Some(p) = &back.primary_moved_to {
        println!("primary address is now {p}");
    }
    for item in &back.suspect {
        println!(
            "suspect until the owner keeps it: {} {}",
            item.kind.as_str(),
            item.label
        );
    }
    for (id, name) in &back.tokens_revoked {
        println!("token made since the window opened, revoked: #{id} {name}");
    }
    for c in &back.changes_postponed {
        println!(
            "held change #{} on {} that waited out the freeze: pending again until {} UTC (a new veto link was mailed)",
            c.change_id,
            c.project,
            strongroom_core::clock::iso8601_seconds(c.effective_at)
        );
    }
}

/// The warning for a freed name that an upstream now answers for.
fn upstream_warning(k: &strongroom_core::gateway::UpstreamKnown) -> String {
    let mut how = Vec::new();
    if k.served {
        how.push("this index has served it from an upstream".to_owned());
    }
    if !k.found_at.is_empty() {
        how.push(format!(
            "the name watch found it at {}",
            k.found_at.join(", ")
        ));
    }
    format!(
        "warning: {name} now resolves upstream ({how}): every install of {name} through this index gets the upstream's project. To keep the name for local projects, add it to upstream.private_patterns.",
        name = k.name,
        how = how.join("; ")
    )
}
