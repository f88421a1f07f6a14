//! Forward-only schema migrations, one numbered file per change and per database.

use sqlx::Executor;

use crate::{Db, Dialect, StoreError};

pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "index",
        sqlite: include_str!("../migrations/sqlite/0001_index.sql"),
        postgres: include_str!("../migrations/postgres/0001_index.sql"),
    },
    Migration {
        version: 2,
        name: "accounts",
        sqlite: include_str!("../migrations/sqlite/0002_accounts.sql"),
        postgres: include_str!("../migrations/postgres/0002_accounts.sql"),
    },
    Migration {
        version: 3,
        name: "server_secrets",
        sqlite: include_str!("../migrations/sqlite/0003_server_secrets.sql"),
        postgres: include_str!("../migrations/postgres/0003_server_secrets.sql"),
    },
    Migration {
        version: 4,
        name: "ownership",
        sqlite: include_str!("../migrations/sqlite/0004_ownership.sql"),
        postgres: include_str!("../migrations/postgres/0004_ownership.sql"),
    },
    Migration {
        version: 5,
        name: "domain_retries",
        sqlite: include_str!("../migrations/sqlite/0005_domain_retries.sql"),
        postgres: include_str!("../migrations/postgres/0005_domain_retries.sql"),
    },
    Migration {
        version: 6,
        name: "event_actions",
        sqlite: include_str!("../migrations/sqlite/0006_event_actions.sql"),
        postgres: include_str!("../migrations/postgres/0006_event_actions.sql"),
    },
    Migration {
        version: 7,
        name: "release_descriptions",
        sqlite: include_str!("../migrations/sqlite/0007_release_descriptions.sql"),
        postgres: include_str!("../migrations/postgres/0007_release_descriptions.sql"),
    },
    Migration {
        version: 8,
        name: "blob_claims",
        sqlite: include_str!("../migrations/sqlite/0008_blob_claims.sql"),
        postgres: include_str!("../migrations/postgres/0008_blob_claims.sql"),
    },
    Migration {
        version: 9,
        name: "incidents",
        sqlite: include_str!("../migrations/sqlite/0009_incidents.sql"),
        postgres: include_str!("../migrations/postgres/0009_incidents.sql"),
    },
    Migration {
        version: 10,
        name: "registration_invites",
        sqlite: include_str!("../migrations/sqlite/0010_registration_invites.sql"),
        postgres: include_str!("../migrations/postgres/0010_registration_invites.sql"),
    },
    Migration {
        version: 11,
        name: "changelog_release_index",
        sqlite: include_str!("../migrations/sqlite/0011_changelog_release_index.sql"),
        postgres: include_str!("../migrations/postgres/0011_changelog_release_index.sql"),
    },
    Migration {
        version: 12,
        name: "registration_invites_by_maker",
        sqlite: include_str!("../migrations/sqlite/0012_registration_invites_by_maker.sql"),
        postgres: include_str!("../migrations/postgres/0012_registration_invites_by_maker.sql"),
    },
    Migration {
        version: 13,
        name: "pending_registrations",
        sqlite: include_str!("../migrations/sqlite/0013_pending_registrations.sql"),
        postgres: include_str!("../migrations/postgres/0013_pending_registrations.sql"),
    },
    Migration {
        version: 14,
        name: "name_fold",
        sqlite: include_str!("../migrations/sqlite/0014_name_fold.sql"),
        postgres: include_str!("../migrations/postgres/0014_name_fold.sql"),
    },
    Migration {
        version: 15,
        name: "watch_inheritance",
        sqlite: include_str!("../migrations/sqlite/0015_watch_inheritance.sql"),
        postgres: include_str!("../migrations/postgres/0015_watch_inheritance.sql"),
    },
    Migration {
        version: 16,
        name: "file_review",
        sqlite: include_str!("../migrations/sqlite/0016_file_review.sql"),
        postgres: include_str!("../migrations/postgres/0016_file_review.sql"),
    },
    Migration {
        version: 17,
        name: "refusal_windows",
        sqlite: include_str!("../migrations/sqlite/0017_refusal_windows.sql"),
        postgres: include_str!("../migrations/postgres/0017_refusal_windows.sql"),
    },
    Migration {
        version: 18,
        name: "event_request_id",
        sqlite: include_str!("../migrations/sqlite/0018_event_request_id.sql"),
        postgres: include_str!("../migrations/postgres/0018_event_request_id.sql"),
    },
];

/// `(recorded version, name, version now)`: 0011 was first released as 0012, after a gap.
const RENUMBERED: &[(i64, &str, i64)] = &[(12, "changelog_release_index", 11)];

/// Apply every migration not yet recorded; returns the names applied.
pub(crate) async fn run(db: &Db) -> Result<Vec<String>, StoreError> {
    let mut tx = db.begin_write().await?;
    if db.dialect == Dialect::Postgres {
        // Several servers may start at once: one migrates, the others wait.
        tx.execute("SELECT pg_advisory_xact_lock(7265000)").await?;
    }
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    // Migrations a released version recorded under another number: the record follows the
    // migration's name, so it is neither run twice nor taken for the migration now at its old
    // number.
    for (old_version, name, version) in RENUMBERED {
        sqlx::query("UPDATE schema_migrations SET version = $1 WHERE version = $2 AND name = $3")
            .bind(version)
            .bind(old_version)
            .bind(name)
            .execute(&mut *tx)
            .await?;
    }
    let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *tx)
        .await?;
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        if done.contains(&m.version) {
            continue;
        }
        let sql = match db.dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        tx.execute(sql).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(crate::model::now_micros())
        .execute(&mut *tx)
        .await?;
        applied.push(format!("{:04}_{}", m.version, m.name));
    }
    let folded_with: i64 = sqlx::query_scalar("SELECT version FROM name_fold")
        .fetch_one(&mut *tx)
        .await?;
    if folded_with < crate::skeletons::FOLD_VERSION {
        let refolded = crate::skeletons::refold(&mut tx).await?;
        sqlx::query("UPDATE name_fold SET version = $1")
            .bind(crate::skeletons::FOLD_VERSION)
            .execute(&mut *tx)
            .await?;
        if refolded > 0 {
            tracing::info!(
                rows = refolded,
                "re-folded stored confusable skeletons of project and prohibited names"
            );
        }
    }
    tx.commit().await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::MIGRATIONS;

    /// The `NNNN_name.sql` files of one dialect's folder, with their text.
    fn files(dialect: &str) -> Vec<(String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect);
        let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("the migrations folder")
            .map(|e| {
                let p = e.expect("entry").path();
                let name = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .expect("a UTF-8 name")
                    .to_owned();
                (name, std::fs::read_to_string(&p).expect("read"))
            })
            .collect();
        out.sort();
        out
    }

    /// A migration is applied once, in `MIGRATIONS` order, and recorded by number: a file left
    /// out would never run, a number below one already applied would be skipped on databases
    /// migrated before it (or run after a later one), and a number only one engine has would make
    /// the two schemas differ.
    #[test]
    fn every_migration_file_is_listed_once_in_order_without_gaps_in_both_dialects() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(
            versions,
            (1..=i64::try_from(MIGRATIONS.len()).expect("few")).collect::<Vec<_>>(),
            "versions start at 1 and strictly increase without gaps"
        );
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.name))
            .collect();
        let sqlite = files("sqlite");
        let postgres = files("postgres");
        for (dialect, found) in [("sqlite", &sqlite), ("postgres", &postgres)] {
            let names: Vec<String> = found.iter().map(|(n, _)| n.clone()).collect();
            assert_eq!(
                names, listed,
                "migrations/{dialect} holds exactly the files MIGRATIONS lists"
            );
            for ((name, text), m) in found.iter().zip(MIGRATIONS) {
                let included = if dialect == "sqlite" {
                    m.sqlite
                } else {
                    m.postgres
                };
                assert_eq!(
                    text, included,
                    "{dialect}/{name} is the file MIGRATIONS includes for version {}",
                    m.version
                );
            }
        }
        let names = |f: &[(String, String)]| -> BTreeSet<String> {
            f.iter().map(|(n, _)| n.clone()).collect()
        };
        assert_eq!(names(&sqlite), names(&postgres), "both dialects, same set");
    }
}
