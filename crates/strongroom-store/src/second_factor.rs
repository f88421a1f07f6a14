//! Second factors: the TOTP seed with its last accepted step, recovery codes, WebAuthn credentials.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::account_tx::AccountTx;
use crate::error::conflict_or;
use crate::model::{RecoveryCode, TotpSecret, WebauthnCredential};
use crate::sealing::Binding;
use crate::{Db, StoreError};

/// A WebAuthn credential to store.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub user_id: i64,
    pub credential_id: String,
    pub passkey: String,
    pub sign_count: i64,
    pub label: String,
    pub at: i64,
    /// False while the first enrolment awaits email confirmation.
    pub enabled: bool,
}

const CRED_COLS: &str = "id, user_id, credential_id, passkey, sign_count, label, created_at, enabled_at, last_used_at, suspect_at";

fn cred_from_row(r: &AnyRow) -> Result<WebauthnCredential, sqlx::Error> {
    Ok(WebauthnCredential {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        credential_id: r.try_get("credential_id")?,
        passkey: r.try_get("passkey")?,
        sign_count: r.try_get("sign_count")?,
        label: r.try_get("label")?,
        created_at: r.try_get("created_at")?,
        enabled_at: r.try_get("enabled_at")?,
        last_used_at: r.try_get("last_used_at")?,
        suspect_at: r.try_get("suspect_at")?,
    })
}

impl Db {
    /// The user's TOTP seed, enabled or pending, opened with the keyring (the row holds it
    /// sealed: a copy of the database alone does not give the seed away).
    pub async fn totp_of(&self, user_id: i64) -> Result<Option<TotpSecret>, StoreError> {
        let r = sqlx::query(
            "SELECT user_id, secret, last_used_step, created_at, enabled_at FROM totp_secrets WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.read)
        .await?;
        let Some(r) = r else { return Ok(None) };
        let sealed: String = r.try_get("secret")?;
        let secret = self
            .keyring()?
            .open(Binding::TotpSeed { user_id }, &sealed)?;
        Ok(Some(TotpSecret {
            user_id: r.try_get("user_id")?,
            secret,
            last_used_step: r.try_get("last_used_step")?,
            created_at: r.try_get("created_at")?,
            enabled_at: r.try_get("enabled_at")?,
        }))
    }

    /// Whether the user has an enabled TOTP seed that is not suspect (one that can sign in).
    pub async fn totp_usable(&self, user_id: i64) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM totp_secrets WHERE user_id = $1 AND enabled_at IS NOT NULL AND suspect_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.read)
        .await?;
        Ok(n > 0)
    }

    /// The user's recovery codes (burned ones included).
    pub async fn recovery_codes_of(&self, user_id: i64) -> Result<Vec<RecoveryCode>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, code_hash, created_at, burned_at, suspect_at FROM recovery_codes WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RecoveryCode {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    code_hash: r.try_get("code_hash")?,
                    created_at: r.try_get("created_at")?,
                    burned_at: r.try_get("burned_at")?,
                    suspect_at: r.try_get("suspect_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The user's WebAuthn credentials, oldest first.
    pub async fn webauthn_of(&self, user_id: i64) -> Result<Vec<WebauthnCredential>, StoreError> {
        let sql =
            format!("SELECT {CRED_COLS} FROM webauthn_credentials WHERE user_id = $1 ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(cred_from_row).collect::<Result<_, _>>()?)
    }

    /// A credential by its (base64url) credential id, whoever owns it.
    pub async fn webauthn_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<WebauthnCredential>, StoreError> {
        let sql = format!("SELECT {CRED_COLS} FROM webauthn_credentials WHERE credential_id = $1");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(credential_id.to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(r.as_ref().map(cred_from_row).transpose()?)
    }

    /// Accept TOTP `step` for the user only if it is later than every step accepted before.
    ///
    /// One conditional UPDATE, so two requests racing with the same code cannot both win. A
    /// suspect seed (added inside an incident window, not yet kept by the owner) never matches.
    pub async fn totp_claim_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE totp_secrets SET last_used_step = $1 WHERE user_id = $2 AND enabled_at IS NOT NULL \
             AND suspect_at IS NULL AND (last_used_step IS NULL OR last_used_step < $1)",
        )
        .bind(step)
        .bind(user_id)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Burn a recovery code; false when it was already burned (a race or a reuse) or is suspect.
    pub async fn burn_recovery_code(&self, id: i64, at: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE recovery_codes SET burned_at = $1 WHERE id = $2 AND burned_at IS NULL AND suspect_at IS NULL",
        )
        .bind(at)
        .bind(id)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Record a WebAuthn use: new passkey state and counter, refusing a counter that went backwards
    /// (a cloned authenticator). A counter of 0 means the authenticator does not count.
    pub async fn webauthn_record_use(
        &self,
        id: i64,
        passkey: &str,
        sign_count: i64,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE webauthn_credentials SET passkey = $1, sign_count = $2, last_used_at = $3 \
             WHERE id = $4 AND ($2 = 0 OR sign_count < $2)",
        )
        .bind(passkey.to_owned())
        .bind(sign_count)
        .bind(at)
        .bind(id)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}

impl AccountTx {
    /// Set (replace) the user's TOTP seed, stored sealed for this user's row; `used_step` is the
    /// step of the code that proved it (spent, so it cannot log in afterwards).
    pub async fn put_totp(
        &mut self,
        user_id: i64,
        secret: &str,
        at: i64,
        enabled: bool,
        used_step: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM totp_secrets WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        let sealed = self
            .keyring()?
            .seal(Binding::TotpSeed { user_id }, secret)?;
        sqlx::query(
            "INSERT INTO totp_secrets (user_id, secret, last_used_step, created_at, enabled_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user_id)
        .bind(sealed)
        .bind(used_step)
        .bind(at)
        .bind(if enabled { Some(at) } else { None })
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Remove the user's TOTP seed; false when there was none.
    pub async fn delete_totp(&mut self, user_id: i64) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM totp_secrets WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Enable every second factor of the user still waiting for email confirmation (never a
    /// suspect one); returns how many.
    pub async fn enable_pending_second_factors(
        &mut self,
        user_id: i64,
        at: i64,
    ) -> Result<u64, StoreError> {
        let a = sqlx::query(
            "UPDATE totp_secrets SET enabled_at = $1 WHERE user_id = $2 AND enabled_at IS NULL AND suspect_at IS NULL",
        )
        .bind(at)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        let b = sqlx::query(
            "UPDATE webauthn_credentials SET enabled_at = $1 WHERE user_id = $2 AND enabled_at IS NULL AND suspect_at IS NULL",
        )
        .bind(at)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(a + b)
    }

    /// How many usable second factors (enabled, not suspect: TOTP seed + WebAuthn credentials)
    /// the user has.
    pub async fn count_second_factors(&mut self, user_id: i64) -> Result<i64, StoreError> {
        let a: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM totp_secrets WHERE user_id = $1 AND enabled_at IS NOT NULL AND suspect_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&mut *self.tx)
        .await?;
        let b: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM webauthn_credentials WHERE user_id = $1 AND enabled_at IS NOT NULL AND suspect_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(a + b)
    }

    /// Replace all recovery codes of the user with these hashes.
    pub async fn replace_recovery_codes(
        &mut self,
        user_id: i64,
        hashes: &[String],
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        for h in hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
            )
            .bind(user_id)
            .bind(h.clone())
            .bind(at)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Delete all recovery codes of the user (the last second factor went away).
    pub async fn delete_recovery_codes(&mut self, user_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Store a WebAuthn credential; `Conflict("credential")` for a known credential id,
    /// `Conflict("label")` for a label the user already uses.
    pub async fn insert_credential(&mut self, c: &NewCredential) -> Result<i64, StoreError> {
        let clash: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM webauthn_credentials WHERE user_id = $1 AND label = $2",
        )
        .bind(c.user_id)
        .bind(c.label.clone())
        .fetch_optional(&mut *self.tx)
        .await?;
        if clash.is_some() {
            return Err(StoreError::Conflict("label".into()));
        }
        sqlx::query_scalar(
            "INSERT INTO webauthn_credentials (user_id, credential_id, passkey, sign_count, label, created_at, enabled_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(c.user_id)
        .bind(c.credential_id.clone())
        .bind(c.passkey.clone())
        .bind(c.sign_count)
        .bind(c.label.clone())
        .bind(c.at)
        .bind(if c.enabled { Some(c.at) } else { None })
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| conflict_or(e, "credential"))
    }

    /// Delete every WebAuthn credential of the user (an administrator's 2FA reset); how many.
    pub async fn delete_all_credentials(&mut self, user_id: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM webauthn_credentials WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *self.tx)
                .await?
                .rows_affected(),
        )
    }

    /// Delete one of the user's credentials; false when it is not theirs.
    pub async fn delete_credential(&mut self, user_id: i64, id: i64) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(n == 1)
    }
}
