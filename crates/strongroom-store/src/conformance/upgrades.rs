//! Upgrades from a released schema: a database whose records name a migration by the number it
//! was released under (the changelog index, released as 0012 and now 0011) migrates to the
//! current schema without running a migration twice or skipping the one now at that number.

use sqlx::Executor;

#[tokio::test]
async fn a_database_migrated_with_the_changelog_index_as_0012_upgrades() {
    for (name, db, _dir) in super::backends().await {
        // Roll the schema back to what the release that numbered the index 0012 left: no 0012
        // (invitations by maker) or 0013 (pending registrations), the index recorded as 12.
        for sql in [
            "DELETE FROM schema_migrations WHERE version IN (12, 13)",
            "DROP INDEX registration_invites_created_by",
            "DROP INDEX emails_unverified_age",
            "DROP TABLE pending_registrations",
            "UPDATE schema_migrations SET version = 12 WHERE version = 11",
        ] {
            db.write
                .execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{name}: {sql}: {e}"));
        }
        let applied = db
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("{name}: the upgrade fails: {e}"));
        assert_eq!(
            applied,
            vec![
                "0012_registration_invites_by_maker".to_owned(),
                "0013_pending_registrations".to_owned()
            ],
            "{name}: the index is not run again and both newer migrations run"
        );
        let versions: Vec<(i64, String)> =
            sqlx::query_as("SELECT version, name FROM schema_migrations ORDER BY version")
                .fetch_all(&db.write)
                .await
                .expect("records");
        let expected: Vec<(i64, String)> = crate::migrations::MIGRATIONS
            .iter()
            .map(|m| (m.version, m.name.to_owned()))
            .collect();
        assert_eq!(
            versions, expected,
            "{name}: one record per migration, by its number now"
        );
        assert!(db.migrate().await.expect("again").is_empty(), "{name}");
    }
}

/// A database written with the older confusable fold (`l`/`i` → `1`, `o` → `0` only) has its
/// projects' and prohibited names' skeletons re-folded on migrate, so `acrne-utils` meets a
/// prohibition of `acme-utils` stored before the fold grew; a skeleton two old projects would
/// share goes to the older one, and moved-away names are left alone.
#[tokio::test]
async fn migrate_refolds_skeletons_stored_by_an_older_fold() {
    use strongroom_protocol::name::skeleton;
    for (name, db, _dir) in super::backends().await {
        for sql in [
            "INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at, created_by) VALUES ('modern-kit', 'modern-kit', 'm0dernk1t', 1, NULL)",
            "INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at, created_by) VALUES ('modem-kit', 'modem-kit', 'modemkit', 1, NULL)",
            "INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at, created_by) VALUES ('Gone', 'gone~removed~9', 'g0ne~removed~9', 1, NULL)",
            "INSERT INTO prohibited_names (normalized_name, ultranormalized_name, name, reason, created_at, created_by) VALUES ('acme-utils', 'acme1t11s', 'acme-utils', 'malware', 1, 'root')",
            // as a database made by the older fold records it
            "UPDATE name_fold SET version = 0",
        ] {
            db.write
                .execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{name}: {sql}: {e}"));
        }
        assert!(db.migrate().await.expect("migrate").is_empty(), "{name}");
        let matched = db
            .prohibited_match("acrne-utils", &skeleton("acrne-utils"))
            .await
            .expect("match");
        assert_eq!(
            matched.map(|p| p.name),
            Some("acme-utils".to_owned()),
            "{name}: the stored prohibition is re-folded"
        );
        let stored = |n: &'static str| {
            let db = &db;
            async move {
                sqlx::query_scalar::<_, String>(
                    "SELECT ultranormalized_name FROM projects WHERE name = $1",
                )
                .bind(n)
                .fetch_one(&db.write)
                .await
                .expect("row")
            }
        };
        assert_eq!(stored("modern-kit").await, "modemklt", "{name}");
        assert_eq!(
            stored("modem-kit").await,
            "modemkit",
            "{name}: the skeleton is held by the older modern-kit already"
        );
        assert_eq!(stored("Gone").await, "g0ne~removed~9", "{name}");
        assert_eq!(
            db.project_by_ultranormalized(&skeleton("rnodern-kit"))
                .await
                .expect("lookup"),
            Some("modern-kit".to_owned()),
            "{name}"
        );
        // Once re-folded, later starts do not read every name again.
        let fold: i64 = sqlx::query_scalar("SELECT version FROM name_fold")
            .fetch_one(&db.write)
            .await
            .expect("fold");
        assert_eq!(fold, crate::skeletons::FOLD_VERSION, "{name}");
        db.write
            .execute("INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at, created_by) VALUES ('cl0ud', 'cl0ud', 'cl0ud-as-stored', 2, NULL)")
            .await
            .expect("insert");
        assert!(db.migrate().await.expect("migrate").is_empty(), "{name}");
        assert_eq!(
            stored("cl0ud").await,
            "cl0ud-as-stored",
            "{name}: no re-fold at a later start"
        );
    }
}

/// The schema guard on both engines: a database migrated by a newer binary is ahead of an older
/// one, compatible after expand steps only; a binary never migrates a database it may not run
/// against; rows recorded before `compatible_from` existed get the statement the binary knows.
#[tokio::test]
async fn the_schema_state_follows_expand_and_contract_steps() {
    use crate::SchemaState;
    let latest = crate::LATEST_MIGRATION;
    // The lowest binary version that may run after every migration; the rule keeps it below
    // the newest, so the release before it (`latest - 1`) may run and `needs - 1` may not.
    let needs = crate::migrations::compatible_from_after(latest);
    assert!(needs < latest);
    for (name, db, _dir) in super::backends().await {
        assert_eq!(
            db.schema_state(latest).await.expect("state"),
            SchemaState::Current { version: latest },
            "{name}"
        );
        let previous = db.schema_state(latest - 1).await.expect("state");
        assert!(
            matches!(previous, SchemaState::AheadCompatible { database, binary, .. } if database == latest && binary == latest - 1),
            "{name}: {previous:?}"
        );
        // A release the contract steps shut out: nothing applied, nothing changed.
        let refused = db.migrate_up_to(needs - 1).await.expect("migrate as older");
        assert!(refused.applied.is_empty(), "{name}");
        assert!(
            matches!(
                refused.state,
                SchemaState::AheadIncompatible { database, binary, needs: n, .. }
                    if database == latest && binary == needs - 1 && n == needs
            ),
            "{name}: {:?}",
            refused.state
        );
        // A database migrated before the column existed: the runner adds it and fills it in.
        db.write
            .execute("ALTER TABLE schema_migrations DROP COLUMN compatible_from")
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            db.schema_state(latest).await.expect("state"),
            SchemaState::Current { version: latest },
            "{name}: read without the column"
        );
        assert!(db.migrate().await.expect("migrate").is_empty(), "{name}");
        let filled: Vec<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT version, compatible_from FROM schema_migrations ORDER BY version",
        )
        .fetch_all(&db.write)
        .await
        .expect("rows");
        let expected: Vec<(i64, Option<i64>)> = (1..=latest)
            .map(|v| (v, Some(crate::migrations::compatible_from_after(v))))
            .collect();
        assert_eq!(filled, expected, "{name}");
        // A newer binary's migration: compatible when it says so, else refused, never touched.
        db.write
            .execute("INSERT INTO schema_migrations (version, name, applied_at, compatible_from) VALUES (9001, 'from_the_future', 0, NULL)")
            .await
            .expect("insert");
        let ahead = db.migrate_up_to(latest).await.expect("migrate");
        assert!(
            matches!(
                ahead.state,
                SchemaState::AheadIncompatible {
                    database: 9001,
                    needs: 9001,
                    ..
                }
            ),
            "{name}: a row without a statement is refused: {:?}",
            ahead.state
        );
        db.write
            .execute("UPDATE schema_migrations SET compatible_from = 2 WHERE version = 9001")
            .await
            .expect("update");
        assert!(
            matches!(
                db.schema_state(latest).await.expect("state"),
                SchemaState::AheadCompatible { database: 9001, .. }
            ),
            "{name}"
        );
    }
}

/// A handle acting as a release from before the upstream generation (`testing.known_migrations`)
/// reads the change marks without that table, which such a release's database does not have;
/// the current release's handle does read it.
#[tokio::test]
async fn an_older_release_reads_change_marks_without_the_generation_table() {
    let older = crate::migrations::UPSTREAM_GENERATION - 1;
    for (name, db, _dir) in super::backends().await {
        db.migrate_up_to(older).await.expect("act as older");
        db.write
            .execute("DROP TABLE upstream_generation")
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let marks = db
            .change_marks()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(marks.generation, 0, "{name}");
        db.migrate_up_to(crate::LATEST_MIGRATION)
            .await
            .expect("act as current");
        assert!(
            db.change_marks().await.is_err(),
            "{name}: the table is read"
        );
    }
}
