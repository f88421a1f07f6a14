//! The at-start pass over sealed secrets: it checks that the configured key is the one the
//! database's secrets were sealed with (a wrong key stops the start instead of failing every 2FA
//! check), and seals every value an older version stored in plaintext, in one transaction.

use sqlx::{Executor, Row};

use crate::sealing::{Binding, SEALED_PREFIX, SealError, key_id_of};
use crate::{Db, Dialect, StoreError};

/// The columns that hold sealed values.
const SEALED_COLUMNS: [(&str, &str); 3] = [
    ("totp_secrets", "secret"),
    ("server_secrets", "value"),
    ("outbox", "body"),
];

/// What the at-start pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealReport {
    /// TOTP seeds found in plaintext and sealed.
    pub totp_seeds: u64,
    /// Server secrets found in plaintext and sealed.
    pub server_secrets: u64,
    /// Queued or sent mail bodies found in plaintext and sealed.
    pub mails: u64,
}

impl SealReport {
    /// How many values were sealed.
    pub fn sealed(&self) -> u64 {
        self.totp_seeds + self.server_secrets + self.mails
    }
}

impl std::fmt::Display for SealReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} TOTP seed(s), {} server secret(s) and {} mail bodies",
            self.totp_seeds, self.server_secrets, self.mails
        )
    }
}

impl Db {
    /// The id of a key the database's sealed values name, if any value is sealed (`None` for a
    /// new database, or one an older version filled with plaintext only). Stops at the first.
    pub async fn a_sealed_key_id(&self) -> Result<Option<String>, StoreError> {
        for (table, column) in SEALED_COLUMNS {
            let sql =
                format!("SELECT {column} FROM {table} WHERE {column} LIKE 'sealed:%' LIMIT 1");
            let found: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_optional(&self.read)
                .await?;
            if let Some(v) = found {
                let id = key_id_of(&v)
                    .ok_or_else(|| SealError::Malformed(format!("a value of {table}.{column}")))?;
                return Ok(Some(id.to_owned()));
            }
        }
        Ok(None)
    }

    /// Check the keyring against the database and seal every plaintext TOTP seed, server secret
    /// and mail body, in one transaction and one pass over each table (the rows not sealed with
    /// the current key): a value sealed with another key stops it, naming both ids. Idempotent:
    /// a second run, or another server running it at the same time, finds nothing left. When
    /// something was sealed, the database is compacted so the plaintext does not linger in free
    /// pages (SQLite `VACUUM` and a truncated WAL; PostgreSQL `VACUUM FULL` of the tables changed).
    pub async fn seal_stored_secrets(&self) -> Result<SealReport, StoreError> {
        let keyring = self.keyring()?;
        let not_current = format!("sealed:v1:{}:%", keyring.primary_id());
        // a sealed value whose key is not ours; else whether it is plaintext
        let check = |stored: &str, what: String| -> Result<bool, SealError> {
            if !stored.starts_with(SEALED_PREFIX) {
                return Ok(true);
            }
            match key_id_of(stored) {
                Some(id) if !keyring.holds(id) => Err(SealError::UnknownKey {
                    found: id.to_owned(),
                    configured: keyring.primary_id().to_owned(),
                }),
                Some(_) => Ok(false),
                None => Err(SealError::Malformed(what)),
            }
        };
        let mut report = SealReport::default();
        let mut tx = self.begin_write().await?;
        if self.dialect == Dialect::Postgres {
            // Servers starting at once: one seals, the others then find nothing to do.
            tx.execute("SELECT pg_advisory_xact_lock(7265011)").await?;
        }
        let seeds =
            sqlx::query("SELECT user_id, secret FROM totp_secrets WHERE secret NOT LIKE $1")
                .bind(not_current.clone())
                .fetch_all(&mut *tx)
                .await?;
        for r in seeds {
            let user_id: i64 = r.try_get("user_id")?;
            let binding = Binding::TotpSeed { user_id };
            let plain: String = r.try_get("secret")?;
            if !check(&plain, binding.describe())? {
                continue;
            }
            let sealed = keyring.seal(binding, &plain)?;
            report.totp_seeds += sqlx::query(
                "UPDATE totp_secrets SET secret = $1 WHERE user_id = $2 AND secret = $3",
            )
            .bind(sealed)
            .bind(user_id)
            .bind(plain)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        let secrets = sqlx::query("SELECT name, value FROM server_secrets WHERE value NOT LIKE $1")
            .bind(not_current.clone())
            .fetch_all(&mut *tx)
            .await?;
        for r in secrets {
            let name: String = r.try_get("name")?;
            let binding = Binding::ServerSecret { name: &name };
            let plain: String = r.try_get("value")?;
            if !check(&plain, binding.describe())? {
                continue;
            }
            let sealed = keyring.seal(binding, &plain)?;
            report.server_secrets +=
                sqlx::query("UPDATE server_secrets SET value = $1 WHERE name = $2 AND value = $3")
                    .bind(sealed)
                    .bind(name.clone())
                    .bind(plain)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        let mails = sqlx::query("SELECT id, to_addr, body FROM outbox WHERE body NOT LIKE $1")
            .bind(not_current)
            .fetch_all(&mut *tx)
            .await?;
        for r in mails {
            let id: i64 = r.try_get("id")?;
            let to: String = r.try_get("to_addr")?;
            let binding = Binding::MailBody { id, to: &to };
            let plain: String = r.try_get("body")?;
            if !check(&plain, binding.describe())? {
                continue;
            }
            let sealed = keyring.seal(binding, &plain)?;
            report.mails += sqlx::query("UPDATE outbox SET body = $1 WHERE id = $2 AND body = $3")
                .bind(sealed)
                .bind(id)
                .bind(plain)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        if report.sealed() > 0 {
            self.compact_after_sealing(&report).await?;
        }
        Ok(report)
    }

    /// Rewrite what held plaintext so it does not survive in free space of the file.
    async fn compact_after_sealing(&self, report: &SealReport) -> Result<(), StoreError> {
        match self.dialect {
            Dialect::Sqlite => {
                let mut conn = self.write.acquire().await?;
                conn.execute("VACUUM").await?;
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
            }
            Dialect::Postgres => {
                let changed = [
                    ("totp_secrets", report.totp_seeds),
                    ("server_secrets", report.server_secrets),
                    ("outbox", report.mails),
                ];
                for (table, n) in changed {
                    if n > 0 {
                        self.write
                            .execute(sqlx::AssertSqlSafe(format!("VACUUM FULL {table}")))
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Sealed columns are written in one place each (plus this pass), so no new query can store
    /// a secret in plaintext: a plaintext row would be refused at every read.
    #[test]
    fn sealed_columns_are_written_only_where_they_are_sealed() {
        let allowed: [(&str, &[&str]); 6] = [
            ("INSERT INTO outbox", &["outbox.rs"]),
            ("UPDATE outbox SET body", &["outbox.rs", "seal_pass.rs"]),
            ("INSERT INTO totp_secrets", &["second_factor.rs"]),
            ("UPDATE totp_secrets SET secret", &["seal_pass.rs"]),
            ("INSERT INTO server_secrets", &["server_secrets.rs"]),
            ("UPDATE server_secrets SET value", &["seal_pass.rs"]),
        ];
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("read src") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    if !p.ends_with("conformance") {
                        stack.push(p);
                    }
                    continue;
                }
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let text = std::fs::read_to_string(&p).expect("read");
                // the SQL of this very test is split so it does not match itself
                let text = text.split("#[cfg(test)]").next().unwrap_or_default();
                seen += 1;
                for (sql, files) in allowed {
                    if text.contains(sql) {
                        assert!(
                            files.contains(&name),
                            "{} writes a sealed column ({sql}): go through the module that seals it ({files:?})",
                            p.display()
                        );
                    }
                }
            }
        }
        assert!(seen > 20, "the store's sources were found ({seen})");
    }
}
