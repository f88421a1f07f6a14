//! Forward-only schema migrations, one numbered file per change and per database, and the
//! schema's state relative to the binary (current, behind, ahead and still compatible, ahead and
//! not).
//!
//! Every migration says whether the previous release keeps working against the schema after it
//! (an *expand* step: new tables, columns with defaults, indexes) or not (a *contract* step: a
//! drop, a rename, a constraint, or state the previous release would ignore unsafely).
//! `schema_migrations.compatible_from` records, after each migration, the lowest binary schema
//! version that may still run against the database; a binary refuses a database holding a
//! migration it does not know unless every such migration names a version it has.
//!
//! The migrations themselves are listed in `migrations::list`; this module runs them and reads
//! the schema's state.

use sqlx::Executor;

use crate::{Db, Dialect, StoreError};

mod list;
pub(crate) use list::{MIGRATIONS, Migration, Step};

/// Migrations up to this one were written before every contract step had to be prepared by an
/// expand step in an earlier release; their contract steps shut out every older binary.
#[cfg(test)]
const BEFORE_THE_RULE: i64 = 17;

/// The migration that creates `name_fold`, read by the runner's re-fold.
const NAME_FOLD: i64 = 14;

/// The migration that creates `upstream_generation`, read by [`crate::Db::change_marks`].
pub(crate) const UPSTREAM_GENERATION: i64 = 20;

/// The highest schema version this binary knows.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// `(recorded version, name, version now)`: 0011 was first released as 0012, after a gap.
const RENUMBERED: &[(i64, &str, i64)] = &[(12, "changelog_release_index", 11)];

/// The schema relative to a binary that knows migrations `1..=binary`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration the binary knows is applied, and no other.
    Current { version: i64 },
    /// Migrations the binary knows are not applied yet (a new database: all of them).
    Behind {
        database: i64,
        binary: i64,
        pending: Vec<String>,
    },
    /// The database holds migrations the binary does not know, each recorded as leaving it
    /// able to run (expand steps).
    AheadCompatible {
        database: i64,
        binary: i64,
        unknown: Vec<String>,
    },
    /// The database holds a migration after which only binaries of schema version `needs` or
    /// later may run (a contract step, or one recorded without a statement).
    AheadIncompatible {
        database: i64,
        binary: i64,
        needs: i64,
        unknown: Vec<String>,
    },
}

impl SchemaState {
    /// The highest migration recorded in the database (0: none).
    pub fn database_version(&self) -> i64 {
        match self {
            SchemaState::Current { version } => *version,
            SchemaState::Behind { database, .. }
            | SchemaState::AheadCompatible { database, .. }
            | SchemaState::AheadIncompatible { database, .. } => *database,
        }
    }
}

/// What [`migrate_up_to`] did and the state it left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// `NNNN_name` of each migration applied, in order.
    pub applied: Vec<String>,
    /// The schema afterwards (ahead, or current).
    pub state: SchemaState,
}

/// One pending migration as `strongroom migrate --dry-run` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedMigration {
    /// `NNNN_name`.
    pub label: String,
    /// An expand step (the binaries running now keep working after it).
    pub expand: bool,
    /// The lowest binary schema version that may run once it is applied.
    pub compatible_from: i64,
}

/// The pending migrations `labels` (as [`SchemaState::Behind`] names them), in order.
pub fn plan(labels: &[String]) -> Vec<PlannedMigration> {
    MIGRATIONS
        .iter()
        .filter(|m| labels.contains(&format!("{:04}_{}", m.version, m.name)))
        .map(|m| PlannedMigration {
            label: format!("{:04}_{}", m.version, m.name),
            expand: m.step == Step::Expand,
            compatible_from: compatible_from_after(m.version),
        })
        .collect()
}

/// The lowest binary schema version that may run against the database after migration
/// `version` and every one before it.
pub(crate) fn compatible_from_after(version: i64) -> i64 {
    MIGRATIONS
        .iter()
        .take_while(|m| m.version <= version)
        .map(|m| match m.step {
            Step::Expand => 0,
            Step::Contract { compatible_from } => compatible_from,
        })
        .max()
        .unwrap_or(0)
}

/// One row of `schema_migrations`, under the number this binary knows it by.
struct Recorded {
    version: i64,
    name: String,
    compatible_from: Option<i64>,
}

/// The columns of `schema_migrations` (none: the table does not exist yet).
async fn columns<'c, E>(conn: E, dialect: Dialect) -> Result<Vec<String>, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let sql = match dialect {
        Dialect::Sqlite => "SELECT name FROM pragma_table_info('schema_migrations')",
        Dialect::Postgres => {
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
        }
    };
    Ok(sqlx::query_scalar(sql).fetch_all(conn).await?)
}

/// Every recorded migration, renumbered ones under their number now.
async fn recorded(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
) -> Result<Vec<Recorded>, StoreError> {
    let cols = columns(&mut *conn, dialect).await?;
    if cols.is_empty() {
        return Ok(Vec::new());
    }
    let sql = if cols.iter().any(|c| c == "compatible_from") {
        "SELECT version, name, compatible_from FROM schema_migrations"
    } else {
        "SELECT version, name, CAST(NULL AS BIGINT) FROM schema_migrations"
    };
    let rows: Vec<(i64, String, Option<i64>)> = sqlx::query_as(sql).fetch_all(&mut *conn).await?;
    Ok(rows
        .into_iter()
        .map(|(version, name, compatible_from)| {
            let version = RENUMBERED
                .iter()
                .find(|(old, n, _)| *old == version && *n == name)
                .map_or(version, |(_, _, now)| *now);
            Recorded {
                version,
                name,
                compatible_from,
            }
        })
        .collect())
}

/// The state of `rows` for a binary that knows migrations `1..=binary`.
fn state_of(rows: &[Recorded], binary: i64) -> SchemaState {
    let database = rows.iter().map(|r| r.version).max().unwrap_or(0);
    let label = |v: i64, n: &str| format!("{v:04}_{n}");
    let mut unknown: Vec<&Recorded> = rows
        .iter()
        .filter(|r| known(r.version, binary).is_none())
        .collect();
    unknown.sort_by_key(|r| r.version);
    if !unknown.is_empty() {
        // A row without a statement was written by a binary that made none: refuse.
        let needs = unknown
            .iter()
            .map(|r| r.compatible_from.unwrap_or(r.version))
            .max()
            .unwrap_or(database);
        let unknown: Vec<String> = unknown.iter().map(|r| label(r.version, &r.name)).collect();
        return if needs <= binary {
            SchemaState::AheadCompatible {
                database,
                binary,
                unknown,
            }
        } else {
            SchemaState::AheadIncompatible {
                database,
                binary,
                needs,
                unknown,
            }
        };
    }
    let pending: Vec<String> = MIGRATIONS
        .iter()
        .take_while(|m| m.version <= binary)
        .filter(|m| !rows.iter().any(|r| r.version == m.version))
        .map(|m| label(m.version, m.name))
        .collect();
    if pending.is_empty() {
        SchemaState::Current { version: database }
    } else {
        SchemaState::Behind {
            database,
            binary,
            pending,
        }
    }
}

/// The migration `version`, if a binary that knows `1..=binary` knows it.
fn known(version: i64, binary: i64) -> Option<&'static Migration> {
    MIGRATIONS
        .iter()
        .find(|m| m.version == version && m.version <= binary)
}

/// The schema's state for a binary that knows migrations `1..=binary`; changes nothing (read
/// pool: a running server asks periodically without holding up writes).
pub(crate) async fn state(db: &Db, binary: i64) -> Result<SchemaState, StoreError> {
    let mut conn = db.read.acquire().await?;
    let rows = recorded(&mut conn, db.dialect).await?;
    Ok(state_of(&rows, binary.clamp(1, LATEST)))
}

/// The schema's state in the SQLite database file `path` (which must exist) for a binary that
/// knows migrations `1..=binary`, read through one read-only connection (`mode=ro`, no journal
/// mode or other setting applied): nothing is written, no journal is made and no mode is
/// changed, so a command can see that a file holds no index and refuse it as it found it.
pub async fn sqlite_file_state(
    path: &std::path::Path,
    binary: i64,
) -> Result<SchemaState, StoreError> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", path.display());
    let opts: sqlx::any::AnyConnectOptions = url.parse()?;
    let mut conn = sqlx::AnyConnection::connect_with(&opts).await?;
    let rows = recorded(&mut conn, Dialect::Sqlite).await;
    let _ = conn.close().await;
    Ok(state_of(&rows?, binary.clamp(1, LATEST)))
}

/// Apply every migration up to `binary` not yet recorded, unless the database holds one this
/// binary may not run after; returns what was applied and the state left.
pub(crate) async fn run(db: &Db, binary: i64) -> Result<Migrated, StoreError> {
    let binary = binary.clamp(1, LATEST);
    let mut tx = db.begin_write().await?;
    if db.dialect == Dialect::Postgres {
        // Several servers may start at once: one migrates, the others wait.
        tx.execute("SELECT pg_advisory_xact_lock(7265000)").await?;
    }
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL, compatible_from BIGINT)",
    )
    .await?;
    // Tables made before the column existed get it; their rows are filled in below.
    if !columns(&mut *tx, db.dialect)
        .await?
        .iter()
        .any(|c| c == "compatible_from")
    {
        tx.execute("ALTER TABLE schema_migrations ADD COLUMN compatible_from BIGINT")
            .await?;
    }
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
    // Rows recorded before the column existed: the statement this binary knows for them.
    for m in MIGRATIONS.iter().take_while(|m| m.version <= binary) {
        sqlx::query(
            "UPDATE schema_migrations SET compatible_from = $1 WHERE version = $2 AND compatible_from IS NULL",
        )
        .bind(compatible_from_after(m.version))
        .bind(m.version)
        .execute(&mut *tx)
        .await?;
    }
    let before = state_of(&recorded(&mut tx, db.dialect).await?, binary);
    if let SchemaState::AheadIncompatible { .. } = before {
        tx.rollback().await?;
        return Ok(Migrated {
            applied: Vec::new(),
            state: before,
        });
    }
    let pending: Vec<&Migration> = match &before {
        SchemaState::Behind { pending, .. } => MIGRATIONS
            .iter()
            .filter(|m| pending.contains(&format!("{:04}_{}", m.version, m.name)))
            .collect(),
        _ => Vec::new(),
    };
    let mut applied = Vec::new();
    for m in pending {
        let sql = match db.dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        tx.execute(sql).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at, compatible_from) VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(crate::model::now_micros())
        .bind(compatible_from_after(m.version))
        .execute(&mut *tx)
        .await?;
        applied.push(format!("{:04}_{}", m.version, m.name));
    }
    if binary >= NAME_FOLD {
        refold_if_older(&mut tx).await?;
    }
    let state = state_of(&recorded(&mut tx, db.dialect).await?, binary);
    tx.commit().await?;
    Ok(Migrated { applied, state })
}

impl crate::Db {
    /// Whether the next migrate re-folds the stored confusable skeletons (a binary with a newer
    /// fold: a write over every project's row, with no migration to apply).
    pub async fn fold_outdated(&self) -> Result<bool, StoreError> {
        let folded_with: Option<i64> = sqlx::query_scalar("SELECT version FROM name_fold")
            .fetch_optional(&self.read)
            .await?;
        Ok(folded_with.is_some_and(|v| v < crate::skeletons::FOLD_VERSION))
    }
}

/// Re-fold the stored confusable skeletons when they were made with an older fold.
async fn refold_if_older(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<(), StoreError> {
    let folded_with: i64 = sqlx::query_scalar("SELECT version FROM name_fold")
        .fetch_one(&mut **tx)
        .await?;
    if folded_with < crate::skeletons::FOLD_VERSION {
        let refolded = crate::skeletons::refold(tx).await?;
        sqlx::query("UPDATE name_fold SET version = $1")
            .bind(crate::skeletons::FOLD_VERSION)
            .execute(&mut **tx)
            .await?;
        if refolded > 0 {
            tracing::info!(
                rows = refolded,
                "re-folded stored confusable skeletons of project and prohibited names"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::{
        BEFORE_THE_RULE, MIGRATIONS, Recorded, SchemaState, Step, compatible_from_after, state_of,
    };

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

    /// The expand/contract rule, in a form a new migration cannot slip past:
    /// - an expand step's SQL drops, renames and constrains nothing (a column it adds is
    ///   nullable or has a default), so the previous release's reads and writes still fit;
    /// - a contract step names the lowest binary version that may run after it, never above its
    ///   own; from 0018 on it must be *prepared*: it names an earlier expand step (shipped in an
    ///   earlier release, whose code stopped depending on what the contract removes), so the
    ///   release before it keeps running through a rolling upgrade.
    #[test]
    fn every_migration_is_an_expand_or_a_prepared_contract_step() {
        for m in MIGRATIONS {
            let label = format!("{:04}_{}", m.version, m.name);
            match m.step {
                Step::Expand => {
                    for (dialect, sql) in [("sqlite", m.sqlite), ("postgres", m.postgres)] {
                        for statement in sql
                            .lines()
                            .filter(|l| !l.trim_start().starts_with("--"))
                            .collect::<Vec<_>>()
                            .join("\n")
                            .split(';')
                        {
                            let s = statement.to_ascii_uppercase();
                            for word in ["DROP ", "RENAME ", "DELETE ", "UPDATE ", "ALTER COLUMN"] {
                                assert!(
                                    !s.contains(word),
                                    "{label} ({dialect}) is an expand step but does {word:?}: make it a contract step"
                                );
                            }
                            if s.contains("ADD COLUMN") && s.contains("NOT NULL") {
                                assert!(
                                    s.contains("DEFAULT"),
                                    "{label} ({dialect}) adds a NOT NULL column without a default: the previous release's inserts would fail"
                                );
                            }
                        }
                    }
                }
                Step::Contract { compatible_from } => {
                    assert!(
                        (1..=m.version).contains(&compatible_from),
                        "{label}: compatible_from {compatible_from} must be between 1 and its own version"
                    );
                    if m.version > BEFORE_THE_RULE {
                        let prepared_by = MIGRATIONS
                            .iter()
                            .find(|p| p.version == compatible_from)
                            .filter(|p| p.version < m.version && p.step == Step::Expand);
                        assert!(
                            prepared_by.is_some(),
                            "{label}: a contract step must name the earlier expand step (in an earlier release) that prepared it, not {compatible_from}"
                        );
                    }
                }
            }
        }
    }

    fn rows(versions: &[(i64, Option<i64>)]) -> Vec<Recorded> {
        versions
            .iter()
            .map(|(v, c)| Recorded {
                version: *v,
                name: format!("m{v}"),
                compatible_from: *c,
            })
            .collect()
    }

    fn upto(n: i64) -> Vec<(i64, Option<i64>)> {
        (1..=n)
            .map(|v| (v, Some(compatible_from_after(v))))
            .collect()
    }

    #[test]
    fn the_state_names_current_behind_and_ahead_with_both_versions() {
        assert_eq!(
            state_of(&rows(&upto(17)), 17),
            SchemaState::Current { version: 17 }
        );
        assert_eq!(
            state_of(&[], 17),
            SchemaState::Behind {
                database: 0,
                binary: 17,
                pending: MIGRATIONS
                    .iter()
                    .take(17)
                    .map(|m| format!("{:04}_{}", m.version, m.name))
                    .collect(),
            }
        );
        assert_eq!(
            state_of(&rows(&upto(15)), 17),
            SchemaState::Behind {
                database: 15,
                binary: 17,
                pending: vec!["0016_file_review".into(), "0017_refusal_windows".into()],
            }
        );
        // 0017 is an expand step: the binary that knows 16 may run after it.
        assert_eq!(
            state_of(&rows(&upto(17)), 16),
            SchemaState::AheadCompatible {
                database: 17,
                binary: 16,
                unknown: vec!["0017_m17".into()],
            }
        );
        // 0016 is a contract step: the binary that knows 15 may not.
        assert_eq!(
            state_of(&rows(&upto(17)), 15),
            SchemaState::AheadIncompatible {
                database: 17,
                binary: 15,
                needs: 16,
                unknown: vec!["0016_m16".into(), "0017_m17".into()],
            }
        );
        // A newer migration recorded without a statement is taken as a contract step.
        let mut r = upto(17);
        r.push((18, None));
        assert_eq!(
            state_of(&rows(&r), 17),
            SchemaState::AheadIncompatible {
                database: 18,
                binary: 17,
                needs: 18,
                unknown: vec!["0018_m18".into()],
            }
        );
    }

    #[test]
    fn compatible_from_only_grows_and_follows_the_contract_steps() {
        let mut last = 0;
        for m in MIGRATIONS {
            let now = compatible_from_after(m.version);
            assert!(now >= last, "{}", m.version);
            if m.step == Step::Expand {
                assert_eq!(now, last, "an expand step shuts nobody out ({})", m.version);
            }
            last = now;
        }
        assert_eq!(compatible_from_after(17), 16);
    }

    #[test]
    fn the_plan_names_each_pending_step_and_who_may_run_after_it() {
        let plan = super::plan(&["0016_file_review".into(), "0017_refusal_windows".into()]);
        let got: Vec<(&str, bool, i64)> = plan
            .iter()
            .map(|m| (m.label.as_str(), m.expand, m.compatible_from))
            .collect();
        assert_eq!(
            got,
            vec![
                ("0016_file_review", false, 16),
                ("0017_refusal_windows", true, 16)
            ]
        );
    }

    /// The read-only look sees an empty file and a migrated one for what they are, and leaves
    /// the empty file (and its folder) exactly as it was.
    #[tokio::test]
    async fn the_read_only_look_changes_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").expect("write");
        let state = super::sqlite_file_state(&empty, super::LATEST)
            .await
            .expect("state");
        assert!(
            matches!(state, SchemaState::Behind { database: 0, .. }),
            "{state:?}"
        );
        assert_eq!(std::fs::metadata(&empty).expect("stat").len(), 0);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("empty.db")]);

        let full = dir.path().join("full.db");
        let db = crate::Db::connect(&format!("sqlite://{}", full.display()))
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        db.close().await;
        let state = super::sqlite_file_state(&full, super::LATEST)
            .await
            .expect("state");
        assert_eq!(
            state,
            SchemaState::Current {
                version: super::LATEST
            }
        );
    }
}
