//! Full-text search (`crate::search`) on every backend: words of the name, summary and
//! description find a project, hidden and removed projects and releases are never found, an
//! unmatched query finds nothing, pages are bounded, and releases published without an index
//! row are indexed by the next migrate. A search's cost does not grow with descriptions: only
//! their start is indexed, and PostgreSQL matches and ranks on the stored document through its
//! GIN index, never re-running `to_tsvector` per row.

use super::{backends, verified_user};
use crate::publish::{NewFile, PublishOutcome};
use crate::search::{MAX_OFFSET, SEARCH_STATEMENT_TIMEOUT_MS, SearchQuery};
use crate::{Db, Dialect, NewEvent};

const T0: i64 = 1_767_225_600_000_000;

fn file(project: &str, user_id: i64, version: &str, summary: &str, body: &str) -> NewFile {
    let h = |salt: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{salt}{project}{version}")))
    };
    let filename = format!("{project}-{version}-py3-none-any.whl");
    NewFile {
        project_name: project.into(),
        normalized_name: strongroom_protocol::name::normalize(project),
        ultranormalized_name: strongroom_protocol::name::normalize(project).replace('-', ""),
        user_id,
        username: format!("user{user_id}"),
        token_project_id: None,
        token_id: None,
        version: version.into(),
        canonical_version: version.into(),
        requires_python: None,
        core_metadata: format!(
            "Metadata-Version: 2.1\nName: {project}\nVersion: {version}\nSummary: {summary}\n\n{body}\n"
        ),
        description: None,
        blob_key: format!("{}/{filename}", h("b2")),
        filename,
        packagetype: "bdist_wheel".into(),
        python_version: "py3".into(),
        size: 10,
        md5: h("md5")[..32].to_owned(),
        sha256: h("sha"),
        blake2_256: h("b2"),
        metadata_sha256: None,
        metadata_blake2_256: None,
        comment_text: None,
        at: T0,
        ip: None,
        user_agent: None,
        request_id: None,
        release_window_micros: i64::MAX / 2,
        max_project_size: 1_000_000,
        scan: None,
    }
}

async fn publish(db: &Db, f: NewFile) {
    assert!(matches!(
        db.publish_file(&f).await.expect("publish"),
        PublishOutcome::Published { .. }
    ));
}

async fn found(db: &Db, q: &str) -> Vec<String> {
    db.search_projects(&SearchQuery::parse(q), 0, 100)
        .await
        .expect("search")
        .hits
        .into_iter()
        .map(|h| h.normalized_name)
        .collect()
}

async fn exec(db: &Db, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&db.write)
        .await
        .expect("update");
}

#[tokio::test]
async fn search_finds_public_text_only_and_pages_are_bounded() {
    for (engine, db, _d) in backends().await {
        let ev = NewEvent {
            at: T0,
            action: "account:create".into(),
            subject_kind: "user".into(),
            ..NewEvent::default()
        };
        let u = verified_user(&db, "owner", None, T0, ev).await;
        publish(
            &db,
            file(
                "Garden_Tools",
                u,
                "1.0",
                "Widgets for gardeners",
                "Ships the zebrafish module.",
            ),
        )
        .await;
        publish(
            &db,
            file("garden", u, "1.0", "A plain garden", "Nothing else."),
        )
        .await;
        publish(
            &db,
            file("hidden-thing", u, "1.0", "Secret summary", "quokka inside"),
        )
        .await;
        publish(
            &db,
            file("old-text", u, "1.0", "Old", "axolotl in the old release"),
        )
        .await;
        publish(&db, file("old-text", u, "2.0", "New", "nothing special")).await;

        // every field is searched; words are stemmed or prefixed; all words must match
        assert_eq!(
            found(&db, "zebrafish").await,
            ["garden-tools"],
            "{engine}: description"
        );
        assert_eq!(
            found(&db, "widget").await,
            ["garden-tools"],
            "{engine}: summary"
        );
        assert_eq!(
            found(&db, "gardeners widgets").await,
            ["garden-tools"],
            "{engine}"
        );
        assert_eq!(
            found(&db, "zebrafish plain").await,
            Vec::<String>::new(),
            "{engine}: AND"
        );
        // the exact name first, then the others
        assert_eq!(
            found(&db, "garden").await,
            ["garden", "garden-tools"],
            "{engine}: name"
        );
        assert_eq!(
            found(&db, "Garden.Tools").await[0],
            "garden-tools",
            "{engine}"
        );
        // an honest nothing, and engine syntax is only text
        let none = db
            .search_projects(&SearchQuery::parse("xylophonist"), 0, 20)
            .await
            .expect("search");
        assert!(
            none.hits.is_empty() && none.total == 0,
            "{engine}: {none:?}"
        );
        for hostile in ["\"", "NEAR(a b)", "a:* & !b", "*", "' OR 1=1 --", "%", "_"] {
            db.search_projects(&SearchQuery::parse(hostile), 0, 20)
                .await
                .unwrap_or_else(|e| panic!("{engine}: {hostile}: {e}"));
        }

        // hidden: the project quarantined or removed, its only release held or removed
        assert_eq!(found(&db, "quokka").await, ["hidden-thing"], "{engine}");
        for (hide, show) in [
            (
                "UPDATE projects SET status = 'quarantined' WHERE normalized_name = 'hidden-thing'",
                "UPDATE projects SET status = 'active' WHERE normalized_name = 'hidden-thing'",
            ),
            (
                "UPDATE projects SET status = 'removed' WHERE normalized_name = 'hidden-thing'",
                "UPDATE projects SET status = 'active' WHERE normalized_name = 'hidden-thing'",
            ),
            (
                "UPDATE releases SET quarantined_at = 5 WHERE project_id = (SELECT id FROM projects WHERE normalized_name = 'hidden-thing')",
                "UPDATE releases SET quarantined_at = NULL WHERE project_id = (SELECT id FROM projects WHERE normalized_name = 'hidden-thing')",
            ),
            (
                "UPDATE releases SET removed_at = 5 WHERE project_id = (SELECT id FROM projects WHERE normalized_name = 'hidden-thing')",
                "UPDATE releases SET removed_at = NULL WHERE project_id = (SELECT id FROM projects WHERE normalized_name = 'hidden-thing')",
            ),
        ] {
            exec(&db, hide).await;
            assert!(found(&db, "quokka").await.is_empty(), "{engine}: {hide}");
            assert!(
                found(&db, "secret summary").await.is_empty(),
                "{engine}: {hide}"
            );
            if hide.contains("status") {
                assert!(
                    found(&db, "hidden-thing").await.is_empty(),
                    "{engine}: {hide}: by name"
                );
            }
            exec(&db, show).await;
            assert_eq!(
                found(&db, "quokka").await,
                ["hidden-thing"],
                "{engine}: {show}"
            );
        }
        // a removed release's text is not found once it is removed
        assert_eq!(found(&db, "axolotl").await, ["old-text"], "{engine}");
        exec(&db, "UPDATE releases SET removed_at = 5 WHERE version = '1.0' AND project_id = (SELECT id FROM projects WHERE normalized_name = 'old-text')").await;
        assert!(found(&db, "axolotl").await.is_empty(), "{engine}");

        // the cards: public releases with their summaries, newest first
        let id = db
            .project_state("old-text")
            .await
            .expect("r")
            .expect("p")
            .id;
        let cards = db.card_releases(&[id]).await.expect("cards");
        assert_eq!(cards.len(), 1, "{engine}: {cards:?}");
        assert_eq!(
            (cards[0].version.as_str(), cards[0].summary.as_str()),
            ("2.0", "New")
        );

        // pages: bounded size, a total, nothing past the cap
        for i in 0..5 {
            publish(&db, file(&format!("pager-{i}"), u, "1.0", "paged", "")).await;
        }
        let q = SearchQuery::parse("paged");
        let first = db.search_projects(&q, 0, 2).await.expect("page");
        assert_eq!((first.hits.len(), first.total), (2, 5), "{engine}");
        let last = db.search_projects(&q, 4, 2).await.expect("page");
        assert_eq!((last.hits.len(), last.total), (1, 5), "{engine}");
        let past = db.search_projects(&q, 10, 2).await.expect("page");
        assert_eq!((past.hits.len(), past.total), (0, 5), "{engine}");
        let beyond = db
            .search_projects(&q, MAX_OFFSET + 1, 2)
            .await
            .expect("page");
        assert!(beyond.hits.is_empty(), "{engine}");
        let all = db
            .search_projects(&SearchQuery::parse(""), 0, 1000)
            .await
            .expect("all");
        assert_eq!(all.total, 9, "{engine}: every public project listed");
        assert!(all.hits.len() <= crate::search::MAX_PAGE_SIZE as usize);

        // releases without an index row (a binary without search published them) are indexed
        // by the search job's walk past its mark
        exec(&db, "DELETE FROM release_search").await;
        assert!(found(&db, "zebrafish").await.is_empty(), "{engine}");
        let releases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM releases")
            .fetch_one(&db.read)
            .await
            .expect("count");
        let mark = db.search_mark().await.expect("mark");
        assert_eq!(mark, 0, "{engine}");
        let first = db
            .index_unsearched_after(mark, i64::MAX, 2)
            .await
            .expect("batch");
        assert_eq!((first.checked, first.indexed), (2, 2), "{engine}");
        assert_eq!(
            first.settled_through, first.last_id,
            "{engine}: all settled"
        );
        let rest = db
            .index_unsearched_after(first.last_id.expect("last"), 0, 10_000)
            .await
            .expect("batch");
        assert_eq!(rest.indexed as i64, releases - 2, "{engine}");
        assert_eq!(
            rest.settled_through, None,
            "{engine}: none settled before 0"
        );
        assert_eq!(
            found(&db, "zebrafish").await,
            ["garden-tools"],
            "{engine}: re-indexed"
        );
        let again = db
            .index_unsearched_after(0, i64::MAX, 10_000)
            .await
            .expect("batch");
        assert_eq!(again.indexed, 0, "{engine}: indexed once");
        db.advance_search_mark(5).await.expect("advance");
        db.advance_search_mark(3).await.expect("advance");
        assert_eq!(
            db.search_mark().await.expect("mark"),
            5,
            "{engine}: never back"
        );
    }
}

/// The plan PostgreSQL makes for `query`'s search (`EXPLAIN (VERBOSE)`, one line a node), with
/// `setup` run first in the same transaction.
async fn pg_plan(db: &Db, query: &str, setup: &[&str]) -> String {
    let (sql, binds) = db.search_sql(&SearchQuery::parse(query));
    let mut tx = db.write.begin().await.expect("begin");
    for statement in setup {
        sqlx::query(sqlx::AssertSqlSafe((*statement).to_owned()))
            .execute(&mut *tx)
            .await
            .expect("setup");
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN (VERBOSE) {sql}")));
    for b in binds {
        q = q.bind(b);
    }
    let rows = q
        .bind(50_i64)
        .bind(0_i64)
        .fetch_all(&mut *tx)
        .await
        .expect("explain");
    tx.rollback().await.expect("rollback");
    rows.iter()
        .map(|r| sqlx::Row::try_get::<String, _>(r, 0).expect("plan line"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn search_cost_does_not_grow_with_descriptions() {
    // Many releases with long descriptions: the shape that made one anonymous PostgreSQL search
    // re-run to_tsvector over every release's 64 KB (seconds a query).
    let filler = "gardening trowel compost seedling ".repeat(400); // 13,600 characters
    let body = format!("Opening words: earlyword.\n\n{filler}\n\nlateword at the end.");
    for (engine, db, _d) in backends().await {
        let ev = NewEvent {
            at: T0,
            action: "account:create".into(),
            subject_kind: "user".into(),
            ..NewEvent::default()
        };
        let u = verified_user(&db, "owner", None, T0, ev).await;
        for i in 0..150 {
            publish(
                &db,
                file("bulk", u, &format!("1.{i}"), "Bulk things", &body),
            )
            .await;
        }
        // only the start of a description is indexed, on both engines
        let longest: i64 =
            sqlx::query_scalar("SELECT MAX(LENGTH(description)) FROM release_search")
                .fetch_one(&db.read)
                .await
                .expect("longest");
        assert!(
            longest <= 8 * 1024,
            "{engine}: {longest} characters indexed"
        );
        assert_eq!(found(&db, "earlyword").await, ["bulk"], "{engine}");
        assert!(
            found(&db, "lateword").await.is_empty(),
            "{engine}: text past the bound found"
        );
        if db.dialect != Dialect::Postgres {
            continue;
        }
        exec(&db, "ANALYZE release_search").await;
        for q in ["compost", "pyt", "zzzznomatch", "bulk things"] {
            // matched and ranked on the stored column: nothing computes a document per row
            let plan = pg_plan(&db, q, &[]).await;
            assert!(
                !plan.contains("to_tsvector"),
                "{engine} {q:?}: per-row document\n{plan}"
            );
            assert!(
                plan.contains("document @@"),
                "{engine} {q:?}: no match on the column\n{plan}"
            );
        }
        // and the query's match is one the GIN index can serve (on a table this small the
        // planner rightly prefers reading the rows unless told otherwise)
        let no_scans = [
            "SET LOCAL enable_seqscan = off",
            "SET LOCAL enable_indexscan = off",
        ];
        for q in ["zzzznomatch", "seedlings zzzznomatch"] {
            let plan = pg_plan(&db, q, &no_scans).await;
            assert!(
                plan.contains("Bitmap Index Scan on release_search_document"),
                "{engine} {q:?}: the GIN index cannot serve the search\n{plan}"
            );
        }
    }
}

#[tokio::test]
async fn a_postgresql_search_is_stopped_at_its_time_limit() {
    for (engine, db, _d) in backends().await {
        if db.dialect != Dialect::Postgres {
            continue;
        }
        let ev = NewEvent {
            at: T0,
            action: "account:create".into(),
            subject_kind: "user".into(),
            ..NewEvent::default()
        };
        let u = verified_user(&db, "owner", None, T0, ev).await;
        publish(&db, file("slowpoke", u, "1.0", "Slow", "text")).await;
        // a search that cannot finish (its table locked by another transaction) holds its
        // connection only until the statement timeout, then is refused as such
        let mut lock = db.write.begin().await.expect("begin");
        exec_in(
            &mut lock,
            "LOCK TABLE release_search IN ACCESS EXCLUSIVE MODE",
        )
        .await;
        let limit = std::time::Duration::from_millis(u64::from(SEARCH_STATEMENT_TIMEOUT_MS) * 10);
        let outcome = tokio::time::timeout(
            limit,
            db.search_projects(&SearchQuery::parse("slow"), 0, 10),
        )
        .await
        .unwrap_or_else(|_| panic!("{engine}: the search was not stopped within {limit:?}"));
        lock.rollback().await.expect("rollback");
        let e = outcome.expect_err("a search past its time limit is refused");
        assert!(e.is_statement_timeout(), "{engine}: {e}");
        // and the connection it used serves the next search
        assert_eq!(found(&db, "slow").await, ["slowpoke"], "{engine}");
    }
}

async fn exec_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut **tx)
        .await
        .expect("statement");
}
