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
