//! Plain records read from and written to the database.

use serde::{Deserialize, Serialize};

pub use crate::states::{
    InvitationStatus, ProjectRole, ProjectStatus, RoleChangeKind, RoleChangeStatus,
};

/// Microseconds since the Unix epoch, from the system clock.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// An account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub created_at: i64,
    pub frozen_at: Option<i64>,
    pub deleted_at: Option<i64>,
    /// When the password was last set (a reset token made before this is dead).
    pub password_changed_at: Option<i64>,
    /// When the account last completed a login (a reset token made before this is dead).
    pub last_login_at: Option<i64>,
    /// Why the password may not be used (e.g. `compromised`), until it is reset.
    pub password_disabled: Option<String>,
    /// Why an administrator (or the owner, from a mail link) froze the account.
    pub frozen_reason: Option<String>,
    /// Recovery hold: until this time the account may not publish to projects it did not
    /// create during the hold, change owners or create tokens.
    pub hold_until: Option<i64>,
    /// What started the hold (`password reset`, `email change`, `2FA enrolment`, `2FA reset`).
    pub hold_reason: Option<String>,
    /// The last recovery event (reset, email change, 2FA enrolment or reset).
    pub recovered_at: Option<i64>,
    /// A deleted account's personal data is purged after this time.
    pub purge_after: Option<i64>,
}

/// An email address of an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Email {
    pub id: i64,
    pub user_id: i64,
    pub address: String,
    pub is_primary: bool,
    pub verified_at: Option<i64>,
    /// When a domain check took the verification away (the address may belong to someone
    /// else now: nothing is ever mailed to it).
    pub unverified_at: Option<i64>,
    /// Added or verified inside an incident window: no mail goes to it until the owner keeps
    /// it on the review page (see `incidents`).
    pub suspect_at: Option<i64>,
}

/// The rules of who may be mailed and who is trusted, in one place: every mail to an account's
/// address and every undo's choice of where a reset link goes asks these.
impl Email {
    /// Whether anything may be mailed to it: not left suspect by an incident (it may be the
    /// attacker's) and not unverified by a domain check (its domain may be someone else's now;
    /// such a check clears `verified_at`, so an address verified again since counts as proven).
    pub fn receives_mail(&self) -> bool {
        self.suspect_at.is_none() && (self.verified_at.is_some() || self.unverified_at.is_none())
    }

    /// Verified and [`Email::receives_mail`]: where security notices and reset links go.
    pub fn verified_recipient(&self) -> bool {
        self.verified_at.is_some() && self.receives_mail()
    }

    /// Whether it proves its owner to an undo whose incident window starts at `t`: a verified
    /// recipient verified **before** `t` (one verified at or after it may be the attacker's).
    pub fn trusted_before(&self, t: i64) -> bool {
        self.receives_mail() && self.verified_at.is_some_and(|v| v < t)
    }
}

/// An API token row (the secret itself is never stored, only its SHA-256).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub token_hash: String,
    pub project_id: Option<i64>,
    pub project_name: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub normalized_name: String,
    pub created_at: i64,
    pub status: ProjectStatus,
    pub last_serial: i64,
    pub total_size: i64,
    /// Why the status was set (admin reason), if not active.
    pub status_reason: Option<String>,
}

/// A role of a user on a project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub project_id: i64,
    pub user_id: i64,
    pub username: String,
    pub role: ProjectRole,
    pub granted_at: i64,
    /// The account that granted the role (None: the project's creator, or an administrator).
    pub granted_by: Option<i64>,
    /// The watch this role inherited from the watched account that granted it lasts until then
    /// (migration 0015); the role is not established before it ends.
    pub watch_until: Option<i64>,
}

/// A release (all the files of one version) as lists show it: everything but its stored core
/// metadata, which may be megabytes and is read for one release at a time
/// ([`crate::Db::release_core_metadata`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseSummary {
    pub id: i64,
    pub project_id: i64,
    pub version: String,
    pub canonical_version: String,
    pub created_at: i64,
    pub requires_python: Option<String>,
    pub yanked_at: Option<i64>,
    pub yanked_reason: Option<String>,
    /// Held for admin review: invisible to installers until released.
    pub quarantined_at: Option<i64>,
    pub quarantine_reason: Option<String>,
}

/// A distribution file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistFile {
    pub id: i64,
    pub release_id: i64,
    pub project_id: i64,
    pub filename: String,
    pub packagetype: String,
    pub python_version: String,
    pub size: i64,
    pub md5: String,
    pub sha256: String,
    pub blake2_256: String,
    pub blob_key: String,
    pub metadata_sha256: Option<String>,
    pub comment_text: Option<String>,
    pub uploaded_at: i64,
}

/// A file the public may download, with what the download log records of it.
#[derive(Debug, Clone)]
pub struct PublicDownload {
    pub file: DistFile,
    /// The project's normalised name.
    pub project: String,
    /// The release's version.
    pub version: String,
}

/// One journal entry (the mirror-facing change feed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    pub serial: i64,
    pub project_name: String,
    pub version: Option<String>,
    pub filename: Option<String>,
    pub action: String,
    pub at: i64,
}

/// One entry of the security event log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: Option<i64>,
    pub subject_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The HTTP request that caused it (migration 0018), if one did.
    pub request_id: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A server-side login session (the cookie holds the secret; only its SHA-256 is stored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub reauth_at: i64,
    pub two_factor_ok: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub ended_at: Option<i64>,
}

/// A user's TOTP seed; `enabled_at` is None while the first enrolment awaits email confirmation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpSecret {
    pub user_id: i64,
    pub secret: String,
    pub last_used_step: Option<i64>,
    pub created_at: i64,
    pub enabled_at: Option<i64>,
}

/// One recovery code (Argon2 hash), single use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryCode {
    pub id: i64,
    pub user_id: i64,
    pub code_hash: String,
    pub created_at: i64,
    pub burned_at: Option<i64>,
    /// Generated inside an incident window: unusable until the owner keeps the set.
    pub suspect_at: Option<i64>,
}

/// A WebAuthn credential (security key or passkey).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebauthnCredential {
    pub id: i64,
    pub user_id: i64,
    /// Base64url credential id (unique across all users).
    pub credential_id: String,
    /// webauthn-rs `Passkey` as JSON.
    pub passkey: String,
    pub sign_count: i64,
    pub label: String,
    pub created_at: i64,
    pub enabled_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// Added inside an incident window: signs nobody in until the owner keeps it.
    pub suspect_at: Option<i64>,
}

/// A single-use token sent by mail (only its SHA-256 is stored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailToken {
    pub id: i64,
    pub user_id: i64,
    pub email_id: Option<i64>,
    pub purpose: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// A short-lived, single-use server-side state (login ticket, WebAuthn ceremony, TOTP enrolment).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthState {
    pub kind: String,
    pub user_id: Option<i64>,
    pub data: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A mail waiting in (or delivered from) the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxMail {
    pub id: i64,
    pub to_addr: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}

/// An invitation to a role on a project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invitation {
    pub id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub invitee_id: i64,
    pub invitee_name: String,
    pub inviter_id: i64,
    pub inviter_name: String,
    pub role: ProjectRole,
    pub created_at: i64,
    pub expires_at: i64,
    pub status: InvitationStatus,
}

/// A role change held for the cooling-off period.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleChange {
    pub id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub target_id: i64,
    pub target_name: String,
    pub actor_id: i64,
    pub actor_name: String,
    pub kind: RoleChangeKind,
    /// The role a demotion gives.
    pub new_role: Option<ProjectRole>,
    pub created_at: i64,
    pub effective_at: i64,
    pub status: RoleChangeStatus,
}

/// A name nobody may register.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProhibitedName {
    pub name: String,
    pub normalized_name: String,
    pub reason: String,
    pub created_at: i64,
    pub created_by: String,
}

/// What an account's incident window was recorded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IncidentKind {
    /// An administrator froze the account (CLI or admin area), the owner froze it from a mail
    /// ("this wasn't me"), or an Owner froze it from a veto link.
    Freeze,
    /// An administrator restored the deleted account (`restore-user`).
    Restore,
}

impl IncidentKind {
    /// The value stored in `account_incidents.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Freeze => "freeze",
            IncidentKind::Restore => "restore",
        }
    }

    /// The kind a stored value names.
    pub fn parse(s: &str) -> Option<IncidentKind> {
        match s {
            "freeze" => Some(IncidentKind::Freeze),
            "restore" => Some(IncidentKind::Restore),
            _ => None,
        }
    }
}

/// An account's incident window: from its earliest suspicious change to the moment the
/// incident was caught (the freeze, or the deletion a restore undoes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub user_id: i64,
    pub kind: IncidentKind,
    pub window_start: i64,
    pub window_end: i64,
    pub opened_at: i64,
    pub opened_by: String,
    /// When the account was handed back (unfrozen, or restored).
    pub returned_at: Option<i64>,
    pub returned_by: Option<String>,
}

impl Incident {
    /// Whether `at` falls inside the window (both ends included).
    pub fn covers(&self, at: i64) -> bool {
        self.window_start <= at && at <= self.window_end
    }
}

/// What kind of thing an incident window left suspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SuspectKind {
    /// An email address (row id).
    Address,
    /// The TOTP application (one per account; id 0).
    Totp,
    /// A WebAuthn security key or passkey (row id).
    SecurityKey,
    /// The set of recovery codes (id 0).
    RecoveryCodes,
}

impl SuspectKind {
    /// The name forms and events use.
    pub fn as_str(self) -> &'static str {
        match self {
            SuspectKind::Address => "address",
            SuspectKind::Totp => "totp",
            SuspectKind::SecurityKey => "security-key",
            SuspectKind::RecoveryCodes => "recovery-codes",
        }
    }

    /// The kind a form value names.
    pub fn parse(s: &str) -> Option<SuspectKind> {
        match s {
            "address" => Some(SuspectKind::Address),
            "totp" => Some(SuspectKind::Totp),
            "security-key" => Some(SuspectKind::SecurityKey),
            "recovery-codes" => Some(SuspectKind::RecoveryCodes),
            _ => None,
        }
    }
}

/// An address or factor added inside an incident window, waiting for the owner's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspectItem {
    pub kind: SuspectKind,
    /// The address's or key's row id; 0 for the TOTP application and the recovery codes.
    pub id: i64,
    /// The address, the key's name, or a fixed name for TOTP and recovery codes.
    pub label: String,
    /// When it was added (or, for an address, verified if later).
    pub added_at: i64,
    /// When the incident left it suspect.
    pub flagged_at: i64,
}

#[cfg(test)]
mod tests {
    use super::Email;

    fn email(verified: Option<i64>, unverified: Option<i64>, suspect: Option<i64>) -> Email {
        Email {
            id: 1,
            user_id: 1,
            address: "a@x.test".into(),
            is_primary: true,
            verified_at: verified,
            unverified_at: unverified,
            suspect_at: suspect,
        }
    }

    #[test]
    fn who_gets_mail_and_who_is_trusted() {
        // (verified, unverified by a domain check, suspect) -> (mail, verified recipient, trusted before 100)
        let cases = [
            ((Some(10), None, None), (true, true, true)),
            ((Some(100), None, None), (true, true, false)), // verified at the window's start
            ((None, None, None), (true, false, false)),     // never verified: mail, no trust
            ((None, Some(50), None), (false, false, false)), // a domain check took it away
            ((Some(60), Some(50), None), (true, true, true)), // verified again since
            ((Some(10), None, Some(120)), (false, false, false)), // left suspect by an incident
            ((None, None, Some(120)), (false, false, false)),
        ];
        for ((v, u, s), (mail, recipient, trusted)) in cases {
            let e = email(v, u, s);
            assert_eq!(e.receives_mail(), mail, "{v:?} {u:?} {s:?}");
            assert_eq!(e.verified_recipient(), recipient, "{v:?} {u:?} {s:?}");
            assert_eq!(e.trusted_before(100), trusted, "{v:?} {u:?} {s:?}");
        }
    }
}
