//! The signals an administrator should see first, because a takeover leaves them, grouped by
//! kind with a typed severity, so that one `account:hold:refused` is never scrolled away by a
//! flood of lesser events: the admin start page lists one group per kind, most severe first
//! (then the newest), with its count over the last [`SIGNAL_DAYS`] days (counted refusals
//! included, `crate::refusal_log`), its newest time and its newest entries, and links to the
//! kind's full list.

use crate::refusal_log::COUNTED;
use crate::timeline::TimelineEntry;
use crate::{CoreError, Services};

/// How far back the start page counts.
pub const SIGNAL_DAYS: i64 = 30;

/// How bad a signal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Background noise that matters in numbers (failed logins).
    Low,
    /// Worth a look (old tokens tried, held changes, lapsed domains).
    Medium,
    /// Someone is reaching for what a takeover wants (held or refused actions, vetoes,
    /// requests to freeze, quarantined releases, freezes).
    High,
}

/// The kinds of event the start page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    FreezeRequested,
    RecoveredOwnerChange,
    CancelRefused,
    HoldRefused,
    NewcomerRemoval,
    Veto,
    Quarantine,
    FileHeld,
    Freeze,
    EmailUnverified,
    DomainCheckHalted,
    TokenRefused,
    ReauthFailed,
    LastOwner,
    RateLimited,
    ChangePending,
    PasswordDisabled,
    TwoFactorReset,
    LoginFailure,
    TwoFactorFailure,
    BlobMissing,
    BlobDamaged,
    UpstreamNameConflict,
    AdvisoryNameMatch,
    AdvisoryHashMatch,
}

impl SignalKind {
    /// Every kind.
    pub const ALL: &'static [SignalKind] = &[
        SignalKind::FreezeRequested,
        SignalKind::RecoveredOwnerChange,
        SignalKind::CancelRefused,
        SignalKind::HoldRefused,
        SignalKind::NewcomerRemoval,
        SignalKind::Veto,
        SignalKind::Quarantine,
        SignalKind::FileHeld,
        SignalKind::Freeze,
        SignalKind::EmailUnverified,
        SignalKind::DomainCheckHalted,
        SignalKind::TokenRefused,
        SignalKind::ReauthFailed,
        SignalKind::LastOwner,
        SignalKind::RateLimited,
        SignalKind::ChangePending,
        SignalKind::PasswordDisabled,
        SignalKind::TwoFactorReset,
        SignalKind::LoginFailure,
        SignalKind::TwoFactorFailure,
        SignalKind::BlobMissing,
        SignalKind::BlobDamaged,
        SignalKind::UpstreamNameConflict,
        SignalKind::AdvisoryNameMatch,
        SignalKind::AdvisoryHashMatch,
    ];

    /// The event action.
    pub fn action(self) -> &'static str {
        match self {
            SignalKind::FreezeRequested => crate::ownership::FREEZE_REQUESTED,
            SignalKind::RecoveredOwnerChange => crate::ownership::RECOVERED_OWNER_CHANGE,
            SignalKind::CancelRefused => "role:change:cancel:refused",
            SignalKind::HoldRefused => "account:hold:refused",
            SignalKind::NewcomerRemoval => "removal:refused:newcomer",
            SignalKind::Veto => "role:change:veto",
            SignalKind::Quarantine => "release:quarantine",
            SignalKind::FileHeld => "file:held",
            SignalKind::Freeze => "account:freeze",
            SignalKind::EmailUnverified => "account:email:unverified",
            SignalKind::DomainCheckHalted => "domains:check:halted",
            SignalKind::TokenRefused => "token:use:refused",
            SignalKind::ReauthFailed => "account:reauthenticate:failed",
            SignalKind::LastOwner => "role:refused:last-owner",
            SignalKind::RateLimited => "account:rate-limited",
            SignalKind::ChangePending => "role:change:pending",
            SignalKind::PasswordDisabled => "account:password:disabled",
            SignalKind::TwoFactorReset => "admin:user:reset-2fa",
            SignalKind::LoginFailure => "account:login:failure",
            SignalKind::TwoFactorFailure => "account:login:2fa_failure",
            SignalKind::BlobMissing => "blob:missing",
            SignalKind::BlobDamaged => "blob:damaged",
            SignalKind::UpstreamNameConflict => crate::upstream_names::NAME_CONFLICT,
            SignalKind::AdvisoryNameMatch => crate::advisories::NAME_MATCH,
            SignalKind::AdvisoryHashMatch => crate::advisories::HASH_MATCH,
        }
    }

    /// How bad it is.
    pub fn severity(self) -> Severity {
        match self {
            SignalKind::FreezeRequested
            | SignalKind::RecoveredOwnerChange
            | SignalKind::CancelRefused
            | SignalKind::HoldRefused
            | SignalKind::NewcomerRemoval
            | SignalKind::Veto
            | SignalKind::Quarantine
            | SignalKind::FileHeld
            | SignalKind::Freeze
            | SignalKind::EmailUnverified
            | SignalKind::DomainCheckHalted
            | SignalKind::BlobMissing
            | SignalKind::BlobDamaged
            | SignalKind::UpstreamNameConflict
            | SignalKind::AdvisoryNameMatch
            | SignalKind::AdvisoryHashMatch => Severity::High,
            SignalKind::TokenRefused
            | SignalKind::ReauthFailed
            | SignalKind::LastOwner
            | SignalKind::RateLimited
            | SignalKind::ChangePending
            | SignalKind::PasswordDisabled
            | SignalKind::TwoFactorReset => Severity::Medium,
            SignalKind::LoginFailure | SignalKind::TwoFactorFailure => Severity::Low,
        }
    }

    /// What the group means, for the page.
    pub fn describe(self) -> &'static str {
        match self {
            SignalKind::FreezeRequested => {
                "an Owner vetoed a held change and asked you to freeze the account that asked for it (either may be the intruder)"
            }
            SignalKind::RecoveredOwnerChange => {
                "an Owner asked to remove or demote an Owner whose account was just recovered (held for its veto; the asker may be an intruder's account)"
            }
            SignalKind::CancelRefused => {
                "an Owner tried to end a held change someone else asked for (one aimed at it is ended only by its veto link)"
            }
            SignalKind::HoldRefused => {
                "an account on a recovery hold reached for what the hold refuses"
            }
            SignalKind::NewcomerRemoval => {
                "a newcomer or recovered Owner tried to remove what an elder Owner published"
            }
            SignalKind::Veto => "a held removal or demotion of an Owner was vetoed",
            SignalKind::Quarantine => "a release was held for your review",
            SignalKind::FileHeld => {
                "a file a watched account added to an existing release was held for your review"
            }
            SignalKind::Freeze => "an owner froze their own account (\"this wasn't me\")",
            SignalKind::EmailUnverified => "an address's domain lapsed or was re-registered",
            SignalKind::DomainCheckHalted => {
                "the email-domain check held back domains that would have unverified more addresses at once than domains.max_unverify_share allows (your own domain behind a blind resolver? list it in domains.trusted; a domain you do not know? someone may be tripping it on purpose)"
            }
            SignalKind::TokenRefused => {
                "a revoked or expired token, or one of a frozen account, was tried"
            }
            SignalKind::ReauthFailed => "a signed-in session gave a wrong password or code",
            SignalKind::LastOwner => "someone tried to leave a project without an Owner",
            SignalKind::RateLimited => "an account repeated a change (yank, unyank) past the limit",
            SignalKind::ChangePending => {
                "a newcomer asked to remove or demote an established Owner"
            }
            SignalKind::PasswordDisabled => "a password was found in a breach and disabled",
            SignalKind::TwoFactorReset => {
                "an administrator reset an account's two-factor authentication"
            }
            SignalKind::LoginFailure => "wrong passwords for known accounts",
            SignalKind::TwoFactorFailure => "wrong second factors at login",
            SignalKind::BlobMissing => {
                "a file's stored bytes are missing from the blob store (downloads refused): restore them from a backup, see `strongroom admin fsck`"
            }
            SignalKind::BlobDamaged => {
                "a file's stored bytes do not match its sha256 (downloads cut short): restore them from a backup, see `strongroom admin fsck`"
            }
            SignalKind::UpstreamNameConflict => {
                "an upstream index has a project with the name of a local project or a reserved private name: strongroom never serves it, but an installer that also asks that upstream directly (--extra-index-url) may take it; see /admin/upstream/"
            }
            SignalKind::AdvisoryNameMatch => {
                "an imported malicious-package advisory names a local project by name alone (a malicious package upstream under one of your names: the local project was not changed; make sure nobody installs that name from anywhere but here)"
            }
            SignalKind::AdvisoryHashMatch => {
                "an imported malicious-package advisory lists the sha256 of a local file under another project's name: the local release was not changed (every local file's hash is public, so this proves nothing by itself); check where the file came from"
            }
        }
    }

    /// The kind of an event action.
    pub fn from_action(action: &str) -> Option<SignalKind> {
        SignalKind::ALL
            .iter()
            .copied()
            .find(|k| k.action() == action)
    }
}

/// One group of the start page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignalGroup {
    pub action: &'static str,
    pub severity: Severity,
    pub description: &'static str,
    /// Events over the period, each counted refusal included.
    pub count: i64,
    /// Microseconds; and as `2026-11-22T13:05:01Z`.
    pub newest_at: i64,
    pub newest_time: String,
    /// The newest logged entries, newest first.
    pub latest: Vec<TimelineEntry>,
}

impl Services {
    /// The signal groups of the last [`SIGNAL_DAYS`] days with something in them, most severe
    /// first, then the newest; each with its `per_group` newest entries.
    pub async fn signal_groups(&self, per_group: i64) -> Result<Vec<SignalGroup>, CoreError> {
        let since = self
            .now()
            .saturating_sub(SIGNAL_DAYS.saturating_mul(86_400_000_000));
        let actions: Vec<&str> = SignalKind::ALL.iter().map(|k| k.action()).collect();
        // (count, newest) per kind, from the logged events ...
        let mut tally: Vec<(SignalKind, i64, i64)> = Vec::new();
        let mut add =
            |kind: SignalKind, n: i64, at: i64| match tally.iter_mut().find(|(k, _, _)| *k == kind)
            {
                Some(t) => {
                    t.1 = t.1.saturating_add(n);
                    t.2 = t.2.max(at);
                }
                None => tally.push((kind, n, at)),
            };
        for (action, n, at) in self.db.event_counts_since(&actions, since).await? {
            if let Some(k) = SignalKind::from_action(&action) {
                add(k, n, at);
            }
        }
        // ... the refusals counted into closed windows (each window's first one is logged) ...
        for e in self.db.events_of_since(COUNTED, since, 10_000).await? {
            let d: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
            let kind = d
                .get("action")
                .and_then(serde_json::Value::as_str)
                .and_then(SignalKind::from_action);
            let count = d.get("count").and_then(serde_json::Value::as_i64);
            let last = d.get("last_at").and_then(serde_json::Value::as_i64);
            if let (Some(k), Some(c)) = (kind, count) {
                add(k, c.saturating_sub(1), last.unwrap_or(e.at));
            }
        }
        // ... and into the windows still open.
        for w in self.db.open_refusal_windows().await? {
            if let Some(k) = SignalKind::from_action(&w.action) {
                add(k, w.count.saturating_sub(1), w.last_at);
            }
        }
        tally.sort_by(|a, b| b.0.severity().cmp(&a.0.severity()).then(b.2.cmp(&a.2)));
        let mut groups = Vec::with_capacity(tally.len());
        for (kind, count, newest_at) in tally {
            let latest = self
                .db
                .events_of_since(kind.action(), since, per_group)
                .await?
                .iter()
                .map(TimelineEntry::from_event)
                .collect();
            groups.push(SignalGroup {
                action: kind.action(),
                severity: kind.severity(),
                description: kind.describe(),
                count,
                newest_at,
                newest_time: format!("{}Z", crate::clock::iso8601_seconds(newest_at)),
                latest,
            });
        }
        Ok(groups)
    }

    /// Every logged event of one signal kind over the last [`SIGNAL_DAYS`] days, newest first
    /// (at most `limit`), with the windows' `refusal:counted` events of that kind among them:
    /// the full list a start-page group links to. `None` for an action that is no signal.
    pub async fn signal_log(
        &self,
        action: &str,
        limit: i64,
    ) -> Result<Option<(SignalKind, Vec<TimelineEntry>)>, CoreError> {
        let Some(kind) = SignalKind::from_action(action) else {
            return Ok(None);
        };
        let since = self
            .now()
            .saturating_sub(SIGNAL_DAYS.saturating_mul(86_400_000_000));
        let mut events = self.db.events_of_since(kind.action(), since, limit).await?;
        events.extend(
            self.db
                .events_of_since(COUNTED, since, limit)
                .await?
                .into_iter()
                .filter(|e| {
                    serde_json::from_str::<serde_json::Value>(&e.details)
                        .ok()
                        .and_then(|d| d.get("action").and_then(|a| a.as_str().map(str::to_owned)))
                        .as_deref()
                        == Some(kind.action())
                }),
        );
        events.sort_by_key(|e| std::cmp::Reverse(e.seq));
        events.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(Some((
            kind,
            events.iter().map(TimelineEntry::from_event).collect(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_action_and_the_severities_order_high_first() {
        for k in SignalKind::ALL {
            assert_eq!(SignalKind::from_action(k.action()), Some(*k));
        }
        let mut actions: Vec<&str> = SignalKind::ALL.iter().map(|k| k.action()).collect();
        actions.sort_unstable();
        actions.dedup();
        assert_eq!(actions.len(), SignalKind::ALL.len());
        assert!(Severity::High > Severity::Medium && Severity::Medium > Severity::Low);
        assert_eq!(SignalKind::HoldRefused.severity(), Severity::High);
        assert_eq!(SignalKind::LoginFailure.severity(), Severity::Low);
    }

    fn refusal(action: &str, subject: &str) -> strongroom_store::NewEvent {
        strongroom_store::NewEvent {
            action: action.into(),
            subject_kind: "user".into(),
            subject_name: Some(subject.into()),
            details: serde_json::json!({}),
            ..strongroom_store::NewEvent::default()
        }
    }

    /// One held refusal stays first above forty refused token uses, whose count includes the
    /// ones only counted, before and after their window closes.
    #[tokio::test]
    async fn the_severe_group_comes_first_and_counted_refusals_count() {
        use crate::refusal_log::{RefusalKind, Source};
        let h = crate::test_harness::Harness::new().await;
        let at = |h: &crate::test_harness::Harness| {
            let mut e = refusal("", "alice");
            e.at = h.s.now();
            e
        };
        h.s.log_refusal(RefusalKind::Hold, Source::Account(1), at(&h))
            .await;
        for _ in 0..40 {
            h.clock.advance(1_000_000);
            h.s.log_refusal(RefusalKind::TokenUse, Source::Token(9), at(&h))
                .await;
        }
        for _ in 0..3 {
            h.s.log_refusal(
                RefusalKind::LoginFailure,
                Source::Ip("192.0.2.1".into()),
                at(&h),
            )
            .await;
        }
        let seen = |groups: Vec<SignalGroup>| {
            groups
                .iter()
                .map(|g| (g.action, g.severity, g.count, g.latest.len()))
                .collect::<Vec<_>>()
        };
        let expect = vec![
            ("account:hold:refused", Severity::High, 1, 1),
            ("token:use:refused", Severity::Medium, 40, 1),
            ("account:login:failure", Severity::Low, 3, 1),
        ];
        assert_eq!(seen(h.s.signal_groups(5).await.expect("groups")), expect);
        h.clock
            .advance(crate::refusal_log::WINDOW_MINUTES * 60_000_000 + 1);
        h.s.close_refusal_windows().await.expect("close");
        assert_eq!(seen(h.s.signal_groups(5).await.expect("groups")), expect);
        let (kind, entries) =
            h.s.signal_log("token:use:refused", 100)
                .await
                .expect("log")
                .expect("a signal");
        assert_eq!(kind, SignalKind::TokenRefused);
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, [crate::refusal_log::COUNTED, "token:use:refused"]);
        assert!(
            h.s.signal_log("account:login", 10)
                .await
                .expect("log")
                .is_none()
        );
    }
}
