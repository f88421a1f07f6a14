//! Who is watched, and why: an account recently recovered, new in its role on a project, or
//! brought in by an account that was watched when it granted the role (the watch follows the
//! people a watched account brings in, down the chain). Every rule that treats a watched account
//! differently (the dormant-project quarantine, per-file review, notices to Owners, who counts as
//! established) asks here, so that the rule and the contract (docs/ownership-contract.md,
//! "Watched states") say the same.

use strongroom_store::model::{Role, User};

use crate::settings::days;
use crate::{CoreError, Services};

/// Whether an account recovered at `recovered_at` is still watched at `now`.
pub fn under_watch(recovered_at: Option<i64>, now: i64, watch_days: u64) -> bool {
    recovered_at.is_some_and(|r| r <= now && now.saturating_sub(r) < days(watch_days))
}

/// Why an account is watched on a project at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// The account was recovered (reset, address or factor change) at this time, less than
    /// `recovery.watch_days` ago.
    Recovered { at: i64 },
    /// The account's role on the project was granted at this time, less than
    /// `ownership.newcomer_days` ago.
    Newcomer { granted_at: i64 },
    /// The account's role was granted by `from`, which was watched then; the watch it inherited
    /// lasts until `until` (`roles.watch_until`).
    Inherited { from: i64, until: i64 },
}

impl Watch {
    /// When the watch ends, given the settings' lengths in days.
    pub fn until(self, watch_days: u64, newcomer_days: u64) -> i64 {
        match self {
            Watch::Recovered { at } => at.saturating_add(days(watch_days)),
            Watch::Newcomer { granted_at } => granted_at.saturating_add(days(newcomer_days)),
            Watch::Inherited { until, .. } => until,
        }
    }

    /// How the watch reads in a mail or a quarantine reason ("an account ...").
    pub fn describe(self, watch_days: u64, newcomer_days: u64) -> String {
        match self {
            Watch::Recovered { .. } => {
                format!(
                    "recovered (password, address or two-factor change) less than {watch_days} days ago"
                )
            }
            Watch::Newcomer { .. } => {
                format!("that has held a role on the project for less than {newcomer_days} days")
            }
            Watch::Inherited { until, .. } => format!(
                "that was given its role by an account under watch, and is watched with it until {} UTC",
                crate::clock::iso8601_seconds(until)
            ),
        }
    }
}

/// The watch of `user_id` on a project with `roles`, given `recovered_at` (the account's last
/// recovery), at `now`. A recovery outranks a role's watch; of the role's own watches
/// (newcomer, inherited), the one lasting longer is given.
pub fn watch_at(
    user_id: i64,
    recovered_at: Option<i64>,
    roles: &[Role],
    now: i64,
    watch_days: u64,
    newcomer_days: u64,
) -> Option<Watch> {
    if let Some(at) = recovered_at
        && under_watch(Some(at), now, watch_days)
    {
        return Some(Watch::Recovered { at });
    }
    let role = roles.iter().find(|r| r.user_id == user_id)?;
    let newcomer =
        (now.saturating_sub(role.granted_at) < days(newcomer_days)).then_some(Watch::Newcomer {
            granted_at: role.granted_at,
        });
    let inherited = role
        .watch_until
        .filter(|until| *until > now)
        .map(|until| Watch::Inherited {
            from: role.granted_by.unwrap_or_default(),
            until,
        });
    [newcomer, inherited]
        .into_iter()
        .flatten()
        .max_by_key(|w| w.until(watch_days, newcomer_days))
}

impl Services {
    /// Whether (and why) `user` is watched on the project whose roles are `roles` at this
    /// instant. The account row is read fresh (a recovery may have happened since `user` was
    /// loaded).
    pub(crate) async fn watch_on(
        &self,
        user: &User,
        roles: &[Role],
    ) -> Result<Option<Watch>, CoreError> {
        let fresh = self.db.user_by_id(user.id).await?;
        let recovered_at = fresh.as_ref().unwrap_or(user).recovered_at;
        let safety = &self.settings.safety;
        Ok(watch_at(
            user.id,
            recovered_at,
            roles,
            self.now(),
            safety.recovery_watch_days,
            safety.newcomer_days,
        ))
    }

    /// When the watch a role granted now by `granter` inherits ends: the granter's own watch on
    /// the project (roles `roles`, read before the grant), if it is watched and it has not
    /// ended. `None`: the granter is not watched, the role inherits nothing.
    pub(crate) async fn inherited_watch_until(
        &self,
        granter: &User,
        roles: &[Role],
    ) -> Result<Option<i64>, CoreError> {
        let safety = &self.settings.safety;
        Ok(self
            .watch_on(granter, roles)
            .await?
            .map(|w| w.until(safety.recovery_watch_days, safety.newcomer_days))
            .filter(|until| *until > self.now()))
    }

    /// [`Services::inherited_watch_until`] for the account `granter_id` on the project, with
    /// the roles read inside the granting transaction.
    pub(crate) async fn watch_inherited_from(
        &self,
        tx: &mut strongroom_store::AccountTx,
        project_id: i64,
        granter_id: i64,
    ) -> Result<Option<i64>, CoreError> {
        let Some(granter) = tx.user(granter_id).await? else {
            return Ok(None);
        };
        let roles = tx.project_roles(project_id).await?;
        self.inherited_watch_until(&granter, &roles).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_harness::T0;
    use strongroom_store::ProjectRole;

    fn role(user_id: i64, granted_at: i64, by: Option<i64>, until: Option<i64>) -> Role {
        Role {
            project_id: 1,
            user_id,
            username: format!("u{user_id}"),
            role: ProjectRole::Maintainer,
            granted_at,
            granted_by: by,
            watch_until: until,
        }
    }

    #[test]
    fn a_recovery_outranks_the_role_and_lasts_watch_days() {
        let d = days(1);
        let roles = [role(7, T0 - 400 * d, None, None)];
        assert_eq!(
            watch_at(7, Some(T0 - 29 * d), &roles, T0, 30, 7),
            Some(Watch::Recovered { at: T0 - 29 * d })
        );
        assert_eq!(watch_at(7, Some(T0 - 30 * d), &roles, T0, 30, 7), None);
        assert_eq!(watch_at(7, None, &roles, T0, 30, 7), None);
    }

    #[test]
    fn a_new_role_is_watched_for_newcomer_days() {
        let d = days(1);
        let roles = [role(7, T0 - 6 * d, Some(1), None)];
        assert_eq!(
            watch_at(7, None, &roles, T0, 30, 7),
            Some(Watch::Newcomer {
                granted_at: T0 - 6 * d
            })
        );
        assert_eq!(watch_at(7, None, &roles, T0 + d, 30, 7), None);
        assert_eq!(watch_at(8, None, &roles, T0, 30, 7), None, "not a member");
    }

    #[test]
    fn an_inherited_watch_lasts_until_its_end_and_outlives_the_newcomer_days() {
        let d = days(1);
        // The sock of the ctx route: granted at T0 by account 1, recovered 3 days before, so
        // watched until 27 days from now.
        let roles = [role(9, T0, Some(1), Some(T0 + 27 * d))];
        let inherited = Watch::Inherited {
            from: 1,
            until: T0 + 27 * d,
        };
        assert_eq!(
            watch_at(9, None, &roles, T0 + 8 * d, 30, 7),
            Some(inherited)
        );
        assert_eq!(
            watch_at(9, None, &roles, T0 + 26 * d, 30, 7),
            Some(inherited)
        );
        assert_eq!(watch_at(9, None, &roles, T0 + 27 * d, 30, 7), None);
        // While both run, the longer one is the answer.
        assert_eq!(watch_at(9, None, &roles, T0 + d, 30, 7), Some(inherited));
        let short = [role(9, T0, Some(1), Some(T0 + 2 * d))];
        assert_eq!(
            watch_at(9, None, &short, T0 + d, 30, 7),
            Some(Watch::Newcomer { granted_at: T0 })
        );
        assert_eq!(inherited.until(30, 7), T0 + 27 * d);
    }
}
