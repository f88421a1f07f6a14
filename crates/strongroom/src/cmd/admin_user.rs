//! `strongroom admin user ...`: account repairs only the operator can make, each logged with the
//! operator as actor (`cli:$USER`). `verify-email` marks an address verified again, the way back
//! for an admin whose address a domain check took away.

use clap::Subcommand;
use strongroom_core::{Actor, RequestMeta, Services};

/// `strongroom admin user ...`
#[derive(Subcommand, Debug)]
pub(crate) enum AdminUserCommand {
    /// Mark an account's primary address (or --email ADDR) verified again, vouching for it
    /// yourself: uploads and tokens that need a verified address work again, and mail goes
    /// to it. Use after a domain check unverified addresses it should not have (list the
    /// domain in domains.trusted too, or the next check finds it bad again). Refused for a
    /// frozen account; an address never verified needs --never-verified.
    VerifyEmail {
        /// The account (username).
        user: String,
        /// One of its addresses (default: its primary address).
        #[arg(long, value_name = "ADDR")]
        email: Option<String>,
        /// Why (recorded in the event log with you as actor).
        #[arg(long, default_value = "verified by the operator")]
        reason: String,
        /// Vouch for an address that was never verified (by default only an address the domain
        /// check unverified is marked verified again).
        #[arg(long)]
        never_verified: bool,
    },
}

/// Run one `admin user` command.
pub(crate) async fn run(
    s: &Services,
    a: &Actor,
    m: &RequestMeta,
    command: AdminUserCommand,
) -> anyhow::Result<()> {
    match command {
        AdminUserCommand::VerifyEmail {
            user,
            email,
            reason,
            never_verified,
        } => {
            let done = s
                .admin_verify_email(a, &user, email.as_deref(), &reason, never_verified, m)
                .await?;
            println!("{}", done.describe());
        }
    }
    Ok(())
}
