//! Who is watched, and why: an account recently recovered, or new in its role on a project.
//! Every rule that treats a watched account differently (the dormant-project quarantine,
//! per-file review, notices to Owners, who counts as established) asks here, so that the
//! rule and the contract (docs/ownership-contract.md, "Watched states") say the same.

use strongroom_store::model::{Role, User};

use crate::settings::days;
use crate::{CoreError, Services};

/// Why an account is watched on a project at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// The account was recovered (reset, address or factor change) at this time, less than
    /// `recovery.watch_days` ago.
    Recovered { at: i64 },
    /// The account's role on the project was granted at this time, less than
    /// `ownership.newcomer_days` ago.
    Newcomer { granted_at: i64 },
}

impl Watch {
    /// When the watch ends, given the settings' lengths in days.
    pub fn until(self, watch_days: u64, newcomer_days: u64) -> i64 {
        match self {
            Watch::Recovered { at } => at.saturating_add(days(watch_days)),
            Watch::Newcomer { granted_at } => granted_at.saturating_add(days(newcomer_days)),
        }
    }
}

impl Services {
    /// Whether (and why) `user` is watched on the project whose roles are `roles` at this
    /// instant. The account row is read fresh (a recovery may have happened since `user` was
    /// loaded). A recovery outranks a new role (it usually lasts longer and says more).
    pub(crate) async fn watch_on(
        &self,
        user: &User,
        roles: &[Role],
    ) -> Result<Option<Watch>, CoreError> {
        let now = self.now();
        let safety = &self.settings.safety;
        let fresh = self.db.user_by_id(user.id).await?;
        let recovered_at = fresh.as_ref().unwrap_or(user).recovered_at;
        if let Some(at) = recovered_at
            && crate::upload_safety::under_watch(Some(at), now, safety.recovery_watch_days)
        {
            return Ok(Some(Watch::Recovered { at }));
        }
        Ok(roles
            .iter()
            .find(|r| {
                r.user_id == user.id
                    && now.saturating_sub(r.granted_at) < days(safety.newcomer_days)
            })
            .map(|r| Watch::Newcomer {
                granted_at: r.granted_at,
            }))
    }
}
