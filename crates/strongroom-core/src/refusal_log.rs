//! Refusals that are evidence of a takeover in progress: a failed re-authentication from a
//! signed-in session, a newcomer Owner reaching to remove what an elder published, an attempt
//! to remove the last Owner (by leaving, removal, demotion or deleting the account). Each goes
//! to the event log like every event (actor, time, IP, user agent), at most
//! [`LOGGED_PER_HOUR`] of one kind per account per hour, so that a loop cannot bury the rest of
//! the log; the refusals themselves never stop.

use strongroom_store::NewEvent;

use crate::Services;
use crate::settings::HOUR_MICROS;

/// At most this many refusals of one kind per account per hour reach the log.
pub const LOGGED_PER_HOUR: i64 = 20;

/// The kinds of refusal that are logged here (`account:hold:refused` has its own, in `hold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// A signed-in session gave a wrong password or code to re-authenticate.
    Reauthenticate,
    /// A newcomer Owner tried to remove a file, a release or the project while an elder Owner
    /// exists.
    NewcomerRemoval,
    /// A change would have left a project without an Owner.
    LastOwner,
}

impl RefusalKind {
    /// The event's action.
    pub fn action(self) -> &'static str {
        match self {
            RefusalKind::Reauthenticate => "account:reauthenticate:failed",
            RefusalKind::NewcomerRemoval => "removal:refused:newcomer",
            RefusalKind::LastOwner => "role:refused:last-owner",
        }
    }

    fn bucket(self, user_id: i64) -> String {
        format!("refusal:logged:{}:user:{user_id}", self.action())
    }
}

impl Services {
    /// Append `ev` as a refusal of `kind` by account `user_id`, unless this hour's budget for
    /// that kind and account is spent. Call it outside any write transaction (the refused
    /// change wrote nothing). A failing append is logged and changes no answer.
    pub(crate) async fn log_refusal(&self, kind: RefusalKind, user_id: i64, mut ev: NewEvent) {
        ev.action = kind.action().into();
        let bucket = kind.bucket(user_id);
        let since = self.now().saturating_sub(HOUR_MICROS);
        if let Ok((count, _)) = self.db.rate_window(&bucket, since, LOGGED_PER_HOUR).await
            && count >= LOGGED_PER_HOUR
        {
            return;
        }
        match self.db.append_event(&ev).await {
            Ok(_) => {
                if let Err(e) = self.db.rate_hit(&bucket, self.now()).await {
                    tracing::warn!(error = %e, "could not count a logged refusal");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, action = kind.action(), "could not log a refusal")
            }
        }
    }
}
