//! The schema guard at start: refuse a database this binary may not run against, and migrate
//! one that is behind only where the operator lets `serve` (and the other commands) do so.

use anyhow::bail;
use strongroom_store::{Db, SchemaState};

/// The operator's next step when the database is ahead of this binary.
fn upgrade_hint(needs: i64) -> String {
    format!(
        "run a strongroom release whose schema version is at least {needs} (the one that migrated this database, or newer); this binary may only run against a database whose newer migrations are all expand steps"
    )
}

/// Check the schema against this binary (which knows migrations `1..=known`) and, when it is
/// behind and `migrate_on_start` allows it, migrate it. Returns the state the command runs
/// against (current, or ahead with every newer migration compatible); refuses, naming both
/// versions and what to do, a database this binary may not run against or (migrations off) one
/// that is behind.
pub(crate) async fn check_schema(
    db: &Db,
    known: i64,
    migrate_on_start: bool,
) -> anyhow::Result<SchemaState> {
    let state = if migrate_on_start {
        let migrated = db.migrate_up_to(known).await?;
        for m in &migrated.applied {
            super::note(&format!("applied migration {m}"));
        }
        migrated.state
    } else {
        db.schema_state(known).await?
    };
    match state {
        SchemaState::AheadIncompatible {
            database,
            binary,
            needs,
            ref unknown,
        } => bail!(
            "the database schema is ahead of this binary ({database} > {binary}) and not compatible with it: {} not known to this binary and only binaries of schema version {needs} or later may run after it; {}",
            unknown.join(", "),
            upgrade_hint(needs)
        ),
        SchemaState::Behind {
            database,
            binary,
            ref pending,
        } => bail!(
            "the database schema is behind this binary ({database} < {binary}: {} not applied) and migrate_on_start is off: run `strongroom migrate` once (with this binary), then start the servers",
            pending.join(", ")
        ),
        SchemaState::AheadCompatible {
            database,
            binary,
            ref unknown,
        } => {
            super::note(&format!(
                "the database schema is ahead of this binary ({database} > {binary}): {} (expand steps this binary may run after); upgrade this server when you can",
                unknown.join(", ")
            ));
            Ok(state)
        }
        SchemaState::Current { .. } => Ok(state),
    }
}

/// `strongroom migrate`: apply what is pending and say where the schema stands.
pub(crate) async fn migrate(db: &Db, known: i64) -> anyhow::Result<()> {
    let migrated = db.migrate_up_to(known).await?;
    for m in &migrated.applied {
        println!("applied {m}");
    }
    match migrated.state {
        SchemaState::Current { .. } => {
            if migrated.applied.is_empty() {
                println!("database is up to date");
            }
            Ok(())
        }
        SchemaState::AheadCompatible {
            database,
            binary,
            unknown,
        } => {
            println!(
                "the database is ahead of this binary ({database} > {binary}): {} {} unknown to it, all expand steps, so this binary may still serve it; nothing was applied",
                unknown.join(", "),
                if unknown.len() == 1 { "is" } else { "are" }
            );
            Ok(())
        }
        SchemaState::AheadIncompatible {
            database,
            binary,
            needs,
            unknown,
        } => bail!(
            "the database is ahead of this binary ({database} > {binary}): {} unknown to it, and only binaries of schema version {needs} or later may run after them; nothing was applied; {}",
            unknown.join(", "),
            upgrade_hint(needs)
        ),
        SchemaState::Behind {
            database,
            binary,
            pending,
        } => bail!(
            "the database is still behind this binary after migrating ({database} < {binary}: {} pending)",
            pending.join(", ")
        ),
    }
}

/// `strongroom migrate --dry-run`: what `migrate` would apply, and whether the servers running
/// now (of the schema version the database has) keep working after it. Changes nothing.
pub(crate) async fn dry_run(db: &Db, known: i64) -> anyhow::Result<()> {
    match db.schema_state(known).await? {
        SchemaState::Behind {
            database, pending, ..
        } => {
            let plan = strongroom_store::migration_plan(&pending);
            for m in &plan {
                if m.expand {
                    println!("would apply {} (expand step)", m.label);
                } else {
                    println!(
                        "would apply {} (contract step: only binaries of schema version {} or later may run after it)",
                        m.label, m.compatible_from
                    );
                }
            }
            let after = plan.last().map_or(0, |m| m.compatible_from);
            if database == 0 {
                println!("a new database: no server runs against it yet");
            } else if plan.iter().all(|m| m.expand) {
                println!(
                    "all expand steps: servers of schema version {database} keep working after them"
                );
            } else if after <= database {
                println!(
                    "servers of schema version {database} keep working after them (their contract steps were prepared by migrations they know)"
                );
            } else {
                println!(
                    "after them only binaries of schema version {after} or later may run: stop servers of an older version (this database is at {database}) before migrating"
                );
            }
            Ok(())
        }
        _ => migrate_state_only(db, known).await,
    }
}

/// The dry run of a database that is not behind: say so as `migrate` would, applying nothing.
async fn migrate_state_only(db: &Db, known: i64) -> anyhow::Result<()> {
    match db.schema_state(known).await? {
        SchemaState::Current { version } => {
            println!("database is up to date (schema version {version}, as this binary)");
            Ok(())
        }
        SchemaState::AheadCompatible {
            database,
            binary,
            unknown,
        } => {
            println!(
                "the database is ahead of this binary ({database} > {binary}): {} unknown to it, all expand steps",
                unknown.join(", ")
            );
            Ok(())
        }
        SchemaState::AheadIncompatible {
            database,
            binary,
            needs,
            unknown,
        } => bail!(
            "the database is ahead of this binary ({database} > {binary}): {} unknown to it; {}",
            unknown.join(", "),
            upgrade_hint(needs)
        ),
        SchemaState::Behind { .. } => Ok(()),
    }
}

/// While serving: check the schema every `every_secs` seconds and return, with the reason, once
/// a migration this binary may not run after has been applied (another server's `migrate` of a
/// release with a contract step this one does not know). `serve` then stops: restarted, this
/// binary refuses the database and says which release it needs. Errors reading the state (the
/// database briefly away) are not a reason to stop.
pub(crate) async fn moved_past(db: Db, known: i64, every_secs: u64) -> String {
    let every = std::time::Duration::from_secs(every_secs.clamp(1, 300));
    loop {
        tokio::time::sleep(every).await;
        if let Ok(SchemaState::AheadIncompatible {
            database,
            binary,
            needs,
            unknown,
        }) = db.schema_state(known).await
        {
            return format!(
                "the database schema moved ahead of this binary ({database} > {binary}) by {}, after which only binaries of schema version {needs} or later may run: stopping; {}",
                unknown.join(", "),
                upgrade_hint(needs)
            );
        }
    }
}
