//! The at-start pass over sealed secrets: it checks that the configured key is the one the
//! database's secrets were sealed with (a wrong key stops the start instead of failing every 2FA
//! check), and seals every value an older version stored in plaintext, in bounded batches.

use sqlx::{Executor, Row};

use crate::sealing::{Binding, SealError, key_id_of};
use crate::{Db, Dialect, StoreError};

/// The columns that hold sealed values.
const SEALED_COLUMNS: [(&str, &str); 3] = [
    ("totp_secrets", "secret"),
    ("server_secrets", "value"),
    ("outbox", "body"),
];

/// Rows sealed per transaction by the at-start pass.
const SEAL_BATCH: i64 = 500;

/// `batch` as a row count.
fn batch_len(batch: i64) -> usize {
    usize::try_from(batch).unwrap_or(usize::MAX)
}

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
    /// and mail body: a value sealed with another key stops it, naming both ids, before anything
    /// is sealed. The plaintext is sealed in batches of [`SEAL_BATCH`] rows, one transaction
    /// each, so neither memory nor a transaction grows with the tables (an old database may hold
    /// years of mail). Idempotent: a second run, or another server running it at the same time,
    /// finds nothing left. When something was sealed, the database is compacted so the
    /// plaintext does not linger in free pages (SQLite `VACUUM` and a truncated WAL; PostgreSQL
    /// `VACUUM FULL` of the tables changed).
    /// Whether [`Db::seal_stored_secrets`] would write: a value an older version stored in
    /// plaintext (one row read per table).
    pub async fn holds_plaintext_secrets(&self) -> Result<bool, StoreError> {
        for (table, column) in SEALED_COLUMNS {
            let sql = format!("SELECT 1 FROM {table} WHERE {column} NOT LIKE 'sealed:%' LIMIT 1");
            let found: Option<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_optional(&self.read)
                .await?;
            if found.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub async fn seal_stored_secrets(&self) -> Result<SealReport, StoreError> {
        self.seal_stored_secrets_in_batches(SEAL_BATCH).await
    }

    /// [`Db::seal_stored_secrets`] with batches of `batch` rows.
    pub(crate) async fn seal_stored_secrets_in_batches(
        &self,
        batch: i64,
    ) -> Result<SealReport, StoreError> {
        let keyring = self.keyring()?;
        // 1. One value sealed with a key we do not hold stops the pass before anything changes
        //    (sealing with the wrong key would leave values no key opens once the right one is
        //    configured). One row per table, whatever the table's size.
        let current = format!("sealed:v1:{}:%", keyring.primary_id());
        for (table, column) in SEALED_COLUMNS {
            let sql = format!(
                "SELECT {column} FROM {table} WHERE {column} LIKE 'sealed:%' AND {column} NOT LIKE $1 LIMIT 1"
            );
            let other: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(current.clone())
                .fetch_optional(&self.read)
                .await?;
            if let Some(v) = other {
                return Err(match key_id_of(&v) {
                    Some(id) if !keyring.holds(id) => SealError::UnknownKey {
                        found: id.to_owned(),
                        configured: keyring.primary_id().to_owned(),
                    },
                    _ => SealError::Malformed(format!("a value of {table}.{column}")),
                }
                .into());
            }
        }
        // 2. The plaintext, in batches in key order.
        let mut report = SealReport::default();
        let mut after: i64 = i64::MIN;
        loop {
            let mut tx = self.begin_sealing().await?;
            let rows = sqlx::query(
                "SELECT user_id, secret FROM totp_secrets WHERE secret NOT LIKE 'sealed:%' AND user_id > $1 ORDER BY user_id LIMIT $2",
            )
            .bind(after)
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
            for r in &rows {
                let user_id: i64 = r.try_get("user_id")?;
                let plain: String = r.try_get("secret")?;
                let sealed = keyring.seal(Binding::TotpSeed { user_id }, &plain)?;
                report.totp_seeds += sqlx::query(
                    "UPDATE totp_secrets SET secret = $1 WHERE user_id = $2 AND secret = $3",
                )
                .bind(sealed)
                .bind(user_id)
                .bind(plain)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                after = user_id;
            }
            tx.commit().await?;
            if rows.len() < batch_len(batch) {
                break;
            }
        }
        let mut after = String::new();
        loop {
            let mut tx = self.begin_sealing().await?;
            let rows = sqlx::query(
                "SELECT name, value FROM server_secrets WHERE value NOT LIKE 'sealed:%' AND name > $1 ORDER BY name LIMIT $2",
            )
            .bind(after.clone())
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
            for r in &rows {
                let name: String = r.try_get("name")?;
                let plain: String = r.try_get("value")?;
                let sealed = keyring.seal(Binding::ServerSecret { name: &name }, &plain)?;
                report.server_secrets += sqlx::query(
                    "UPDATE server_secrets SET value = $1 WHERE name = $2 AND value = $3",
                )
                .bind(sealed)
                .bind(name.clone())
                .bind(plain)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                after = name;
            }
            tx.commit().await?;
            if rows.len() < batch_len(batch) {
                break;
            }
        }
        let mut after: i64 = i64::MIN;
        loop {
            let mut tx = self.begin_sealing().await?;
            let rows = sqlx::query(
                "SELECT id, to_addr, body FROM outbox WHERE body NOT LIKE 'sealed:%' AND id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
            for r in &rows {
                let id: i64 = r.try_get("id")?;
                let to: String = r.try_get("to_addr")?;
                let plain: String = r.try_get("body")?;
                let sealed = keyring.seal(Binding::MailBody { id, to: &to }, &plain)?;
                report.mails +=
                    sqlx::query("UPDATE outbox SET body = $1 WHERE id = $2 AND body = $3")
                        .bind(sealed)
                        .bind(id)
                        .bind(plain)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                after = id;
            }
            tx.commit().await?;
            if rows.len() < batch_len(batch) {
                break;
            }
        }
        if report.sealed() > 0 {
            self.compact_after_sealing(&report).await?;
        }
        Ok(report)
    }

    /// A write transaction of the sealing pass; on PostgreSQL servers starting at once take
    /// turns (one seals a batch, the others then find it done).
    async fn begin_sealing(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut tx = self.begin_write().await?;
        if self.dialect == Dialect::Postgres {
            tx.execute("SELECT pg_advisory_xact_lock(7265011)").await?;
        }
        Ok(tx)
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
