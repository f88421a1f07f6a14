//! An operator marks an account's address verified again (`strongroom admin user verify-email`):
//! the way out when a domain check took verifications away that it should not have (a resolver
//! blind to the organisation's own domain), or when an address can receive no mail to verify it.
//! The operator vouches for the address out of band; the change is logged with them as actor.
//! Refused for a frozen account (the incident path decides whose the addresses are), and for an
//! address that was never verified unless the operator says so explicitly (`--never-verified`):
//! repairing what the check took away is the common case, vouching for a new address is not.

use crate::clock::iso8601_seconds;
use crate::{Actor, CoreError, RequestMeta, Services, Subject};

/// What the address was before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Before {
    /// Already verified: nothing was changed, nothing logged.
    Verified,
    /// A domain check took its verification away at this time (µs), for this reason.
    Unverified { at: i64, reason: String },
    /// It was never verified.
    NeverVerified,
}

/// The outcome of [`Services::admin_verify_email`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAgain {
    pub username: String,
    pub address: String,
    pub before: Before,
}

impl VerifiedAgain {
    /// One line for the operator.
    pub fn describe(&self) -> String {
        match &self.before {
            Before::Verified => format!(
                "{} of {} is already verified: nothing changed",
                self.address, self.username
            ),
            Before::Unverified { at, reason } => format!(
                "marked {} of {} verified again (the domain check had unverified it on {} UTC: {reason})",
                self.address,
                self.username,
                iso8601_seconds(*at)
            ),
            Before::NeverVerified => format!(
                "marked {} of {} verified (it had never been verified)",
                self.address, self.username
            ),
        }
    }
}

impl Services {
    /// Mark `username`'s primary address, or its address `address`, verified, as `actor` (the
    /// operator, who vouches for it), logged as `admin:user:verify-email` with `reason`. An
    /// address that was never verified only with `never_verified` (the operator says so). Nothing
    /// changes for an address already verified. Refused for a deleted or frozen account, an address the
    /// account does not have, and an address left suspect by an incident (its owner keeps it on
    /// the review page first: it may be the intruder's). The domain check counts the new
    /// verification as a check: the address is next looked at an interval from now.
    pub async fn admin_verify_email(
        &self,
        actor: &Actor,
        username: &str,
        address: Option<&str>,
        reason: &str,
        never_verified: bool,
        meta: &RequestMeta,
    ) -> Result<VerifiedAgain, CoreError> {
        let user = self.user_named(username).await?;
        if user.deleted_at.is_some() {
            return Err(CoreError::Conflict(format!(
                "{} is deleted: restore it first (admin restore-user)",
                user.username
            )));
        }
        if user.frozen_at.is_some() {
            return Err(CoreError::Conflict(format!(
                "{} is frozen: someone else may hold it, and a verified address is a way back in. Finish the incident first (admin incident, then admin unfreeze with a reset to a pre-incident address); verify the address after that if it is still needed",
                user.username
            )));
        }
        let mut tx = self.db.begin_account().await?;
        let emails = tx.emails(user.id).await?;
        let email = match address.map(str::trim) {
            Some(a) => emails
                .iter()
                .find(|e| e.address.eq_ignore_ascii_case(a))
                .ok_or_else(|| {
                    CoreError::NotFound(format!(
                        "{} has no address {a} (its addresses: {})",
                        user.username,
                        emails
                            .iter()
                            .map(|e| e.address.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?,
            None => emails.iter().find(|e| e.is_primary).ok_or_else(|| {
                CoreError::NotFound(format!("{} has no primary address", user.username))
            })?,
        }
        .clone();
        let done = |before| VerifiedAgain {
            username: user.username.clone(),
            address: email.address.clone(),
            before,
        };
        if email.verified_at.is_some() {
            return Ok(done(Before::Verified));
        }
        if email.suspect_at.is_some() {
            return Err(CoreError::Conflict(format!(
                "{} was added or verified while someone else may have held the account: its owner keeps it on the review page (/manage/account/review/) first",
                email.address
            )));
        }
        let before = match email.unverified_at {
            Some(at) => Before::Unverified {
                at,
                reason: self
                    .db
                    .email_domain_states(user.id)
                    .await?
                    .into_iter()
                    .find(|s| s.email_id == email.id)
                    .and_then(|s| s.unverified_reason)
                    .unwrap_or_default(),
            },
            None if never_verified => Before::NeverVerified,
            None => {
                return Err(CoreError::Conflict(format!(
                    "{} of {} was never verified: this command repairs addresses the domain check unverified. To vouch for a new address yourself, say so with --never-verified",
                    email.address, user.username
                )));
            }
        };
        tx.verify_email(email.id, self.now()).await?;
        let was = match &before {
            Before::Unverified { reason, .. } => {
                format!("unverified by the domain check: {reason}")
            }
            _ => "never verified".to_owned(),
        };
        let ev = self.event(
            actor,
            "admin:user:verify-email",
            Subject {
                kind: "user",
                id: Some(user.id),
                name: Some(&user.username),
            },
            meta,
            serde_json::json!({"address": email.address, "was": was, "reason": reason}),
        );
        tx.commit(&[ev], &[]).await?;
        Ok(done(before))
    }
}
