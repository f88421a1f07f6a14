//! `strongroom outbox`: the mail queue as the database holds it, whichever server queued or
//! delivered each mail (with several servers, each delivers to its own `<data>/outbox` folder
//! when no SMTP relay is set, so no one folder has them all). Recipients, subjects, times and
//! attempts only: bodies carry live reset links and are never printed.

use strongroom_core::Services;
use strongroom_store::MailState;

/// Print the newest `limit` mails, oldest first, and a count per state.
pub(crate) async fn list(services: &Services, limit: u32) -> anyhow::Result<()> {
    let entries = services.db.outbox_entries(i64::from(limit)).await?;
    if entries.is_empty() {
        println!("the outbox is empty");
        return Ok(());
    }
    println!("STATE    QUEUED                ATTEMPTS  TO\tSUBJECT");
    for e in &entries {
        let when = strongroom_core::clock::iso8601_seconds(e.created_at);
        println!(
            "{:<8} {when:<21} {:>8}  {}\t{}",
            e.state.as_str(),
            e.attempts,
            e.to_addr,
            e.subject
        );
        match e.state {
            MailState::Sent => {
                if let Some(at) = e.sent_at {
                    println!(
                        "         sent {}",
                        strongroom_core::clock::iso8601_seconds(at)
                    );
                }
            }
            MailState::Failing => println!(
                "         last error: {}; next attempt {}",
                e.last_error.as_deref().unwrap_or(""),
                strongroom_core::clock::iso8601_seconds(e.next_attempt_at)
            ),
            MailState::Pending => {}
        }
    }
    let count = |s: MailState| entries.iter().filter(|e| e.state == s).count();
    println!(
        "{} shown: {} pending, {} failing (retried), {} sent; waiting in all: {}",
        entries.len(),
        count(MailState::Pending),
        count(MailState::Failing),
        count(MailState::Sent),
        services.db.outbox_pending_count().await?
    );
    Ok(())
}
