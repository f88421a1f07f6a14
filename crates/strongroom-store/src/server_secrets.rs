//! Installation-wide secrets (signing keys), shared by every server on the same database and
//! stored sealed (`crate::sealing`): the key that opens them is not in the database.

use crate::sealing::Binding;
use crate::{Db, StoreError};

impl Db {
    /// The secret stored under `name`; when there is none yet, `candidate` is stored first.
    /// Insert-if-absent then read: servers starting at once all end up with the same value.
    pub async fn server_secret(
        &self,
        name: &str,
        candidate: &str,
        at: i64,
    ) -> Result<String, StoreError> {
        let keyring = self.keyring()?;
        let binding = Binding::ServerSecret { name };
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_owned())
        .bind(keyring.seal(binding, candidate)?)
        .bind(at)
        .execute(&self.write)
        .await?;
        // Read through the writer: it has certainly seen the row, whoever inserted it.
        let stored: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name.to_owned())
            .fetch_one(&self.write)
            .await?;
        Ok(keyring.open(binding, &stored)?)
    }
}
