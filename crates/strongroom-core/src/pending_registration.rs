//! Verify-first registration and the expiry of unproven addresses. The registration form makes
//! a pending registration, never an account: it reserves the username whether or not the address
//! already has an account (so neither the page nor the name's availability afterwards tells which),
//! and only the link mailed to a free address can turn it into an account. A taken address gets
//! no link: its owner is told instead (the flow shared with adding an address). Until the
//! pending registration expires (`accounts.unverified_address_hours`) its name stays reserved;
//! logging in with it answers as for an unknown name, because no account exists.
//!
//! An address added to an account but never verified is a claim, not a proof: it expires after
//! the same time, does not block an administrator's invitation, and a followed registration link
//! for the same address (a proof) overrides it.

use strongroom_store::model::User;
use strongroom_store::{AccountTx, NewPendingRegistration, StoreError};

use crate::accounts::purpose;
use crate::secrets::hash_token;
use crate::secrets::random_secret;
use crate::{Actor, CoreError, RequestMeta, Services, Subject};

impl Services {
    /// How long a pending registration and a never-verified address live (clock units).
    pub(crate) fn unverified_ttl(&self) -> i64 {
        crate::settings::hours(self.settings.unverified_address_hours)
    }

    /// Store a pending registration in `tx` (the caller commits it with its events and mail);
    /// returns the link for the address, which the caller sends only when the address is free,
    /// or `None` when a live pending registration has the username.
    pub(crate) async fn reserve_pending(
        &self,
        tx: &mut AccountTx,
        username: &str,
        address: &str,
        password_hash: &str,
        invite_id: Option<i64>,
    ) -> Result<Option<String>, CoreError> {
        let secret = random_secret(32);
        let now = self.now();
        match tx
            .insert_pending_registration(&NewPendingRegistration {
                username: username.to_owned(),
                address: address.to_owned(),
                password_hash: password_hash.to_owned(),
                token_hash: hash_token(&secret),
                invite_id,
                at: now,
                expires_at: now.saturating_add(self.unverified_ttl()),
            })
            .await
        {
            Ok(_) => Ok(Some(self.token_link(purpose::VERIFY_EMAIL, &secret))),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Follow a registration link: the pending registration becomes an account whose address is
    /// verified (the link proved it). `Ok(None)` when the token is not a registration's (the
    /// caller then tries it as an address-verification link).
    pub(crate) async fn confirm_pending_registration(
        &self,
        token: &str,
        meta: &RequestMeta,
    ) -> Result<Option<User>, CoreError> {
        if token.is_empty() || token.len() > 200 {
            return Ok(None);
        }
        let now = self.now();
        let mut tx = self.db.begin_account().await?;
        let Some(p) = tx
            .take_pending_registration(&hash_token(token), now)
            .await?
        else {
            return Ok(None);
        };
        // A claim on the address (added to another account, never verified) yields to the proof.
        let released = tx
            .drop_unproven_addresses(Some(&p.address), now, now)
            .await?;
        if tx.email_by_address(&p.address).await?.is_some() {
            // Proven by someone else since the form was sent: the person holding this link
            // controls the address, so telling them is no leak.
            return Err(CoreError::Conflict(
                "This address now belongs to an account. Log in, or reset its password.".into(),
            ));
        }
        let (user_id, email_id) = match tx
            .insert_user(&p.username, &p.address, &p.password_hash, p.created_at)
            .await
        {
            Ok(ids) => ids,
            Err(StoreError::Conflict(_)) => {
                return Err(CoreError::Conflict(
                    "This username was taken while the registration waited. Register again with another one."
                        .into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        tx.verify_email(email_id, now).await?;
        let user = tx
            .user(user_id)
            .await?
            .ok_or_else(|| CoreError::Internal("new user vanished".into()))?;
        let mut events = vec![self.user_event(
            "account:create",
            &user,
            meta,
            match p.invite_id {
                None => serde_json::json!({"email": p.address, "via": "register", "verified": true}),
                Some(id) => serde_json::json!({"email": p.address, "via": "invite", "invite_id": id, "verified": true}),
            },
        )];
        for e in &released {
            events.push(self.event(
                &Actor {
                    id: None,
                    name: "registration".into(),
                },
                "account:email:claim_released",
                Subject {
                    kind: "user",
                    id: Some(e.user_id),
                    name: None,
                },
                meta,
                serde_json::json!({"email": e.address, "proven_by": user.username}),
            ));
        }
        if let Some(id) = p.invite_id {
            tx.set_registration_invite_user(id, user_id).await?;
            events.push(self.invite_used_event(id, Some(&user), &p.address, "created", meta));
        }
        tx.commit(&events, &[]).await?;
        Ok(Some(user))
    }

    /// The periodic job: drop expired pending registrations (their names are free again) and
    /// addresses never verified within `accounts.unverified_address_hours`.
    pub(crate) async fn unverified_job(&self) -> Result<Vec<String>, CoreError> {
        let now = self.now();
        let mut lines = Vec::new();
        let purged = self.db.purge_pending_registrations(now).await?;
        if purged > 0 {
            lines.push(format!("dropped {purged} expired pending registration(s)"));
        }
        let cutoff = now.saturating_sub(self.unverified_ttl());
        let mut tx = self.db.begin_account().await?;
        let dropped = tx.drop_unproven_addresses(None, cutoff, now).await?;
        let actor = Actor {
            id: None,
            name: "job:unverified".into(),
        };
        let events: Vec<_> = dropped
            .iter()
            .map(|e| {
                self.event(
                    &actor,
                    "account:email:expired",
                    Subject {
                        kind: "user",
                        id: Some(e.user_id),
                        name: None,
                    },
                    &RequestMeta::default(),
                    serde_json::json!({"email": e.address, "hours": self.settings.unverified_address_hours}),
                )
            })
            .collect();
        tx.commit(&events, &[]).await?;
        if !dropped.is_empty() {
            lines.push(format!(
                "dropped {} address(es) never verified within {} hours",
                dropped.len(),
                self.settings.unverified_address_hours
            ));
        }
        Ok(lines)
    }
}
