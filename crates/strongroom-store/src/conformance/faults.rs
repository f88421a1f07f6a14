//! A failed transaction never poisons a pooled connection: after a failed BEGIN, a failed
//! statement, a failed COMMIT, a transaction the database ended behind sqlx's back, a killed
//! backend or a future dropped mid-transaction, the next write works, on both engines.

use std::time::Duration;

use sqlx::Executor;

use super::backends;
use crate::{Db, Dialect, NewEvent, StoreError};

/// Tables the cases write to: a child whose foreign key is checked only at COMMIT, so a COMMIT
/// can be made to fail on both engines.
async fn probe_tables(db: &Db) {
    db.write
        .execute(
            "CREATE TABLE fault_parent (id BIGINT PRIMARY KEY); \
             CREATE TABLE fault_probe (n BIGINT NOT NULL, \
               parent BIGINT REFERENCES fault_parent(id) DEFERRABLE INITIALLY DEFERRED)",
        )
        .await
        .expect("probe tables");
}

/// One ordinary write through `begin_write`, the way every store method writes.
async fn write(db: &Db, n: i64) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO fault_probe (n) VALUES ($1)")
        .bind(n)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn rows(db: &Db) -> Vec<i64> {
    sqlx::query_scalar("SELECT n FROM fault_probe ORDER BY n")
        .fetch_all(&db.read)
        .await
        .expect("read probe rows")
}

/// Several writes in a row (the SQLite write pool has one connection, PostgreSQL's several: each
/// must be clean), plus a store method that writes the event log.
async fn writes_work(name: &str, db: &Db, first: i64, what: &str) {
    for n in first..first + 4 {
        write(db, n)
            .await
            .unwrap_or_else(|e| panic!("{name}: write #{n} after {what}: {e}"));
    }
    db.append_event(&NewEvent {
        at: first,
        action: "test:after-fault".into(),
        subject_kind: "site".into(),
        ..NewEvent::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{name}: event after {what}: {e}"));
}

#[tokio::test]
async fn a_failed_commit_leaves_the_pool_usable() {
    for (name, db, _d) in backends().await {
        probe_tables(&db).await;
        let mut tx = db.begin_write().await.expect("begin");
        sqlx::query("INSERT INTO fault_probe (n, parent) VALUES (1, 999)")
            .execute(&mut *tx)
            .await
            .expect("deferred: accepted until COMMIT");
        let err = tx
            .commit()
            .await
            .expect_err("the deferred foreign key fails the COMMIT");
        assert!(
            err.to_string().to_lowercase().contains("foreign key"),
            "{name}: {err}"
        );
        writes_work(name, &db, 10, "a failed COMMIT").await;
        assert_eq!(
            rows(&db).await,
            vec![10, 11, 12, 13],
            "{name}: the failed row is gone"
        );
    }
}

/// The state SQLite leaves after `SQLITE_FULL` in a COMMIT or a statement: the database has
/// rolled the transaction back, sqlx still counts it as open, and its ROLLBACK fails. Before
/// the pools checked returned connections, this connection made every later write fail with
/// "attempted to call begin_with at non-zero transaction depth".
#[tokio::test]
async fn a_transaction_ended_by_the_database_does_not_poison_the_connection() {
    for (name, db, _d) in backends().await {
        probe_tables(&db).await;
        for round in 0..3 {
            let mut tx = db.begin_write().await.expect("begin");
            sqlx::query("INSERT INTO fault_probe (n) VALUES (1)")
                .execute(&mut *tx)
                .await
                .expect("insert");
            tx.execute("ROLLBACK").await.expect("the database ends it");
            // SQLite: "cannot commit - no transaction is active"; PostgreSQL: a warning.
            let _ = tx.commit().await;
            writes_work(
                name,
                &db,
                10 * (round + 1),
                "a transaction ended underneath",
            )
            .await;
        }
        assert_eq!(
            rows(&db).await,
            vec![10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33],
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_failed_begin_leaves_the_pool_usable() {
    for (name, db, dir) in backends().await {
        probe_tables(&db).await;
        match db.dialect {
            Dialect::Sqlite => {
                // Another process holds the write lock longer than we wait: BEGIN IMMEDIATE fails.
                let other = Db::connect(&crate::testing::sqlite_url(dir.path()))
                    .await
                    .expect("second handle");
                let mut held = other.begin_write().await.expect("other writer");
                db.write
                    .execute("PRAGMA busy_timeout = 50")
                    .await
                    .expect("short wait");
                let err = write(&db, 1).await.expect_err("locked");
                assert!(err.to_string().contains("locked"), "{name}: {err}");
                held.execute("SELECT 1").await.expect("still held");
                held.rollback().await.expect("release");
                other.close().await;
            }
            Dialect::Postgres => {
                // Every backend of the pool is killed (a restart, an operator's
                // pg_terminate_backend): the pool replaces them instead of failing BEGIN.
                let _ = write(&db, 1).await;
                kill_other_backends(&db).await;
            }
        }
        writes_work(name, &db, 10, "a failed BEGIN").await;
    }
}

/// A statement fails mid-transaction because the connection itself died (PostgreSQL backend
/// terminated); on SQLite, a statement error inside the transaction.
#[tokio::test]
async fn a_connection_dying_mid_transaction_is_replaced() {
    for (name, db, _d) in backends().await {
        probe_tables(&db).await;
        let mut tx = db.begin_write().await.expect("begin");
        sqlx::query("INSERT INTO fault_probe (n) VALUES (1)")
            .execute(&mut *tx)
            .await
            .expect("insert");
        let failing = match db.dialect {
            Dialect::Postgres => "SELECT pg_terminate_backend(pg_backend_pid())",
            Dialect::Sqlite => "INSERT INTO no_such_table VALUES (1)",
        };
        assert!(tx.execute(failing).await.is_err(), "{name}");
        drop(tx);
        writes_work(name, &db, 10, "a connection lost mid-transaction").await;
        assert_eq!(rows(&db).await, vec![10, 11, 12, 13], "{name}");
    }
}

/// A request cancelled mid-transaction (the client went away, a timeout): its writes are rolled
/// back and the connection comes back clean.
#[tokio::test]
async fn a_future_dropped_mid_transaction_leaves_the_pool_usable() {
    for (name, db, _d) in backends().await {
        probe_tables(&db).await;
        let slow = match db.dialect {
            Dialect::Postgres => "SELECT pg_sleep(2)",
            Dialect::Sqlite => {
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) \
                 SELECT count(*) FROM c"
            }
        };
        let db2 = db.clone();
        let cancelled = tokio::time::timeout(Duration::from_millis(50), async move {
            let mut tx = db2.begin_write().await?;
            sqlx::query("INSERT INTO fault_probe (n) VALUES (1)")
                .execute(&mut *tx)
                .await?;
            tx.execute(slow).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })
        .await;
        assert!(cancelled.is_err(), "{name}: the slow statement was cut off");
        writes_work(name, &db, 10, "a cancelled transaction").await;
        assert_eq!(
            rows(&db).await,
            vec![10, 11, 12, 13],
            "{name}: nothing of it stayed"
        );
    }
}

/// Terminate every PostgreSQL backend of this database but the caller's.
async fn kill_other_backends(db: &Db) {
    let mut conn = db.read.acquire().await.expect("connection");
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("terminate");
    assert!(!killed.is_empty(), "the pool had idle backends to kill");
    // The caller's own connection goes too, so no backend of the pool survives.
    let _ = conn
        .execute("SELECT pg_terminate_backend(pg_backend_pid())")
        .await;
}
