//! Refusals are evidence, and a loop must not bury them or the rest of the log. Every refusal
//! event goes through [`Services::log_refusal`]: keyed by its kind (the action, and for hold and
//! removal refusals what was refused) and its source (the account, the token, or the address of
//! an anonymous request), the first in a window of [`WINDOW_MINUTES`] is appended to the event
//! log like every event (actor, time, IP, user agent), the rest are only counted
//! (`strongroom_store::refusal_windows`, one row per open window, so the state is bounded), and
//! when the window closes (the periodic job, or the source's next refusal after it) one
//! `refusal:counted` event records how many came (`count`, the first one's `first_seq`, the
//! window). The refusals themselves never stop: every one is answered as before.

use strongroom_store::model::Event;
use strongroom_store::refusal_windows::RefusalWindow;
use strongroom_store::{NewEvent, RefusalCounted};

use crate::clock::iso8601_seconds;
use crate::{CoreError, Services};

/// The length of a counting window. The first refusal of a kind from a source in a window is
/// logged; the rest are counted into the window's `refusal:counted` event.
pub const WINDOW_MINUTES: i64 = 60;

/// The action of a closed window's summary event.
pub const COUNTED: &str = "refusal:counted";

const WINDOW_MICROS: i64 = WINDOW_MINUTES * 60_000_000;

/// The kinds of refusal that are evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Something a recovery hold refused (`crate::hold`).
    Hold,
    /// A known API token that is revoked or expired, or whose account is frozen or deleted.
    TokenUse,
    /// A wrong password for a known account.
    LoginFailure,
    /// A wrong second factor (TOTP, security key, recovery code) at login.
    TwoFactorFailure,
    /// A signed-in session gave a wrong password or code to re-authenticate.
    Reauthenticate,
    /// A newcomer Owner tried to remove a file, a release or the project while an elder Owner
    /// exists.
    NewcomerRemoval,
    /// A change would have left a project without an Owner.
    LastOwner,
    /// A state change (yank, unyank) refused by the per-account limit
    /// (`crate::ratelimit::Limit::StateChangesUser`).
    RateLimited,
    /// An Owner tried to end a held role change someone else asked for (only the asker
    /// withdraws it; its target vetoes by the mailed link).
    CancelNotAsker,
}

impl RefusalKind {
    /// The event's action.
    pub fn action(self) -> &'static str {
        match self {
            RefusalKind::Hold => "account:hold:refused",
            RefusalKind::TokenUse => "token:use:refused",
            RefusalKind::LoginFailure => "account:login:failure",
            RefusalKind::TwoFactorFailure => "account:login:2fa_failure",
            RefusalKind::Reauthenticate => "account:reauthenticate:failed",
            RefusalKind::NewcomerRemoval => "removal:refused:newcomer",
            RefusalKind::LastOwner => "role:refused:last-owner",
            RefusalKind::RateLimited => "account:rate-limited",
            RefusalKind::CancelNotAsker => "role:change:cancel:refused",
        }
    }
}

/// Who a refusal came from: what its window is counted per.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A signed-in account (or the known account a login named).
    Account(i64),
    /// An API token.
    Token(i64),
    /// An anonymous request, by its address.
    Ip(String),
}

impl Source {
    fn label(&self) -> String {
        match self {
            Source::Account(id) => format!("account:{id}"),
            Source::Token(id) => format!("token:{id}"),
            Source::Ip(ip) => format!("ip:{ip}"),
        }
    }
}

/// The summary event of a closed window, appended at `now`: actor and subject of its first
/// refusal, the count.
fn summary(w: &RefusalWindow, first: Option<&Event>, now: i64) -> NewEvent {
    NewEvent {
        at: now,
        actor_id: first.and_then(|e| e.actor_id),
        actor_name: first.and_then(|e| e.actor_name.clone()),
        action: COUNTED.into(),
        subject_kind: first.map_or_else(|| "site".into(), |e| e.subject_kind.clone()),
        subject_id: first.and_then(|e| e.subject_id),
        subject_name: first.and_then(|e| e.subject_name.clone()),
        ip: first.and_then(|e| e.ip.clone()),
        user_agent: first.and_then(|e| e.user_agent.clone()),
        request_id: first.and_then(|e| e.request_id.clone()),
        details: serde_json::json!({
            "action": w.action,
            "source": w.source,
            "count": w.count,
            "first_seq": w.first_seq,
            "window_start": w.opened_at,
            "window_start_utc": iso8601_seconds(w.opened_at),
            "last_at": w.last_at,
            "last_utc": iso8601_seconds(w.last_at),
        }),
    }
}

impl Services {
    /// Log `ev` as a refusal of `kind` from `source`, or count it into the open window of that
    /// kind and source (see the module docs). Call it outside any write transaction (the
    /// refused change wrote nothing). A failing append is logged and changes no answer.
    pub(crate) async fn log_refusal(&self, kind: RefusalKind, source: Source, mut ev: NewEvent) {
        ev.action = kind.action().into();
        // What was refused, when the kind covers several (a held upload and a held token
        // request are two signals, not one).
        let what = ev
            .details
            .get("refused")
            .and_then(serde_json::Value::as_str)
            .map(|r| format!("/{r}"))
            .unwrap_or_default();
        let label = source.label();
        let bucket = format!("{}{what}@{label}", kind.action());
        let now = self.now();
        match self
            .db
            .count_refusal(
                &bucket,
                &label,
                &ev,
                now,
                now.saturating_sub(WINDOW_MICROS),
                &|w: &RefusalWindow, first: Option<&Event>| summary(w, first, now),
            )
            .await
        {
            Ok(RefusalCounted::Logged { .. } | RefusalCounted::Counted { .. }) => {}
            Err(e) => {
                tracing::warn!(error = %e, action = kind.action(), "could not log a refusal")
            }
        }
    }

    /// The periodic job's part: close the windows older than [`WINDOW_MINUTES`], each leaving
    /// its `refusal:counted` event when more than one refusal came.
    pub async fn close_refusal_windows(&self) -> Result<Vec<String>, CoreError> {
        let now = self.now();
        let until = now.saturating_sub(WINDOW_MICROS);
        let closed = self
            .db
            .close_refusal_windows(until, &|w: &RefusalWindow, first: Option<&Event>| {
                summary(w, first, now)
            })
            .await?;
        Ok(closed
            .iter()
            .filter(|w| w.count > 1)
            .map(|w| {
                format!(
                    "{} refusals of {} from {} counted in one window",
                    w.count, w.action, w.source
                )
            })
            .collect())
    }
}
