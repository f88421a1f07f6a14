//! Creating a credential (an API token, a session, a second factor or recovery codes, an
//! address, a password, an invitation link to register) is decided on the account's row read
//! **inside** the creating transaction and held until it commits
//! ([`strongroom_store::AccountTx::lock_user`]), never only on a read made before it. A freeze,
//! a deletion or a hold that commits between an earlier check and the insert would otherwise
//! miss what the insert makes: a token the freeze never revoked, which the unfreeze then hands
//! back with the account. With the row held, the two changes are ordered: either the freeze
//! committed first and the creation is refused here, or the creation commits first and the
//! freeze, which locks the same row before it revokes and ends anything, sees and ends it.
//! Checks made before the transaction stay, to refuse early and cheaply; this one decides.

use strongroom_store::AccountTx;
use strongroom_store::model::User;

use crate::{CoreError, Services};

impl Services {
    /// Inside `tx`: hold `user_id`'s row and read it; refused when the account is deleted
    /// (`NotFound`) or frozen (`Forbidden`, the login's "frozen" message) as of now.
    pub(crate) async fn lock_live_account(
        &self,
        tx: &mut AccountTx,
        user_id: i64,
    ) -> Result<User, CoreError> {
        let user = tx
            .lock_user(user_id)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or_else(|| CoreError::NotFound("No such user.".into()))?;
        if user.frozen_at.is_some() {
            return Err(CoreError::Forbidden(crate::login::FROZEN.into()));
        }
        Ok(user)
    }

    /// [`Services::lock_live_account`] inside an intervention (an Owner's removal).
    pub(crate) async fn lock_live_actor(
        &self,
        tx: &mut strongroom_store::admin::AdminTx,
        user_id: i64,
    ) -> Result<User, CoreError> {
        let user = tx
            .lock_user(user_id)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or_else(|| CoreError::NotFound("No such user.".into()))?;
        if user.frozen_at.is_some() {
            return Err(CoreError::Forbidden(crate::login::FROZEN.into()));
        }
        Ok(user)
    }
}
