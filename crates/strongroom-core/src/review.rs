//! The owner's review after an incident: on the first sign-in after the reset, the addresses
//! and factors added inside the incident window are listed (`/manage/account/review/`) and the
//! owner keeps or drops each. Until then a suspect address gets no mail and a suspect factor
//! signs nobody in (see [`crate::handback`]). Every decision is an event; the last one closes
//! the review (`account:review:done`).

pub use strongroom_store::model::{SuspectItem, SuspectKind};

use crate::mail::{notice, notice_recipients};
use crate::sessions::SessionInfo;
use crate::{CoreError, RequestMeta, Services};

/// What the owner decides about a suspect item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It is the owner's: it works again.
    Keep,
    /// It is not: it is deleted.
    Drop,
}

impl Decision {
    /// The decision a form value names.
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "keep" => Some(Decision::Keep),
            "drop" => Some(Decision::Drop),
            _ => None,
        }
    }

    fn action(self) -> &'static str {
        match self {
            Decision::Keep => "account:review:keep",
            Decision::Drop => "account:review:drop",
        }
    }
}

impl Services {
    /// What waits for the account owner's decision.
    pub async fn suspect_items(&self, user_id: i64) -> Result<Vec<SuspectItem>, CoreError> {
        Ok(self.db.suspect_items(user_id).await?)
    }

    /// Whether the account has anything left to review.
    pub async fn review_pending(&self, user_id: i64) -> Result<bool, CoreError> {
        Ok(!self.db.suspect_items(user_id).await?.is_empty())
    }

    /// The signed-in owner keeps or drops one suspect item (needs a recent password, as every
    /// change to addresses and factors does; the sign-in counts).
    pub async fn decide_suspect(
        &self,
        session: &SessionInfo,
        kind: SuspectKind,
        id: i64,
        decision: Decision,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.require_recent_auth(session)?;
        let mut tx = self.db.begin_account().await?;
        // Keeping an address or a factor trusts it again: decided on the account as it is now,
        // held until the decision commits (`crate::credential_gate`).
        let now_user = self.lock_live_account(&mut tx, session.user.id).await?;
        let user = &now_user;
        let item = tx
            .suspect_items(user.id)
            .await?
            .into_iter()
            .find(|s| s.kind == kind && s.id == id)
            .ok_or_else(|| CoreError::NotFound("Nothing like this waits for a decision.".into()))?;
        let done = match decision {
            Decision::Keep => tx.keep_suspect(user.id, kind, id).await?,
            Decision::Drop => tx.drop_suspect(user.id, kind, id).await?,
        };
        if !done {
            return Err(CoreError::NotFound(
                "Nothing like this waits for a decision.".into(),
            ));
        }
        let left = tx.suspect_items(user.id).await?.len();
        let mut events = vec![self.user_event(
            decision.action(),
            user,
            meta,
            serde_json::json!({"kind": kind.as_str(), "id": id, "label": item.label,
                "added_at": item.added_at, "left": left}),
        )];
        if left == 0 {
            events.push(self.user_event("account:review:done", user, meta, serde_json::json!({})));
        }
        let verb = match decision {
            Decision::Keep => "kept",
            Decision::Drop => "removed",
        };
        let mails = notice(
            &notice_recipients(&tx.emails(user.id).await?),
            &format!("You {verb} {} on your account", item.label),
            &format!(
                "After the recent incident on the account {}, you {verb} the {} \"{}\", which had been added while someone else may have held the account.",
                user.username,
                kind.as_str(),
                item.label
            ),
        );
        tx.commit(&events, &mails).await?;
        Ok(())
    }
}
