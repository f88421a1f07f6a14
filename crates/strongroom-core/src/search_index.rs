//! The periodic search job: gives a search row to every release published without one (by a
//! binary without search, which may run on this schema during a rollback), walking only the
//! releases past the stored mark, in batches, each write its own short transaction. It used to
//! run inside every start's migration transaction over all releases (seconds at millions of
//! releases, with SQLite's write lock held).

use std::time::{Duration, Instant};

use crate::{CoreError, Services};

/// Releases checked per batch.
const BATCH: i64 = 1_000;
/// No new batch after this long in one pass (the next round goes on from the mark).
const PASS_BUDGET: Duration = Duration::from_secs(20);
/// A release is settled, and the mark may pass it, once it is this old: a release still being
/// committed under a lower id (PostgreSQL takes ids before commit) is long done by then.
pub const SETTLE: Duration = Duration::from_secs(3600);

impl Services {
    /// One pass: index the unsearched releases past the mark, moving the mark over the settled
    /// ones. Idempotent, and safe on several servers at once.
    pub async fn search_job(&self) -> Result<Vec<String>, CoreError> {
        let started = Instant::now();
        let settled_before = self
            .clock
            .now_micros()
            .saturating_sub(i64::try_from(SETTLE.as_micros()).unwrap_or(i64::MAX));
        let mark = self.db.search_mark().await?;
        let mut after = mark;
        // the mark moves only over a run of settled releases starting at it
        let mut may_move = true;
        let mut indexed = 0;
        while started.elapsed() < PASS_BUDGET {
            let batch = self
                .db
                .index_unsearched_after(after, settled_before, BATCH)
                .await?;
            indexed += batch.indexed;
            if may_move {
                if let Some(through) = batch.settled_through {
                    self.db.advance_search_mark(through).await?;
                }
                may_move = batch.settled_through == batch.last_id;
            }
            match batch.last_id {
                Some(last) if batch.checked == BATCH as usize => after = last,
                _ => break,
            }
        }
        Ok(if indexed == 0 {
            Vec::new()
        } else {
            vec![format!("indexed {indexed} releases for search")]
        })
    }
}

#[cfg(test)]
mod tests {
    use strongroom_store::search::SearchQuery;

    use crate::test_harness::{Harness, exec, sdist};

    async fn found(h: &Harness) -> usize {
        h.s.db
            .search_projects(&SearchQuery::parse("zebrafish"), 0, 10)
            .await
            .expect("search")
            .hits
            .len()
    }

    async fn publish(h: &Harness, version: &str) {
        let u = match h.s.db.user_by_name("owner").await.expect("user") {
            Some(u) => u,
            None => h.user("owner").await,
        };
        let mut f = sdist(
            "zebra-tools",
            version,
            &u,
            h.s.clock.now_micros(),
            format!("zebra_tools-{version}.tar.gz"),
            version,
        );
        f.core_metadata = format!(
            "Metadata-Version: 2.1\nName: zebra-tools\nVersion: {version}\nSummary: zebrafish keeper\n"
        );
        h.s.db.publish_file(&f).await.expect("publish");
    }

    #[tokio::test]
    async fn the_job_indexes_releases_published_without_a_search_row_past_its_mark() {
        let h = Harness::new().await;
        publish(&h, "1.0").await;
        assert_eq!(found(&h).await, 1, "indexed when published");

        // as if a binary without search had published it: no row
        exec(&h.s, "DELETE FROM release_search").await;
        assert_eq!(found(&h).await, 0);
        // too recent for the mark to pass, but indexed (and the job runs with the others)
        let report = h.s.run_jobs().await.expect("jobs");
        assert!(
            report
                .lines
                .iter()
                .any(|l| l == "indexed 1 releases for search"),
            "{:?}",
            report.lines
        );
        assert_eq!(found(&h).await, 1, "indexed by the job");
        assert_eq!(h.s.db.search_mark().await.expect("mark"), 0, "not settled");

        // once settled, the job passes it and moves the mark
        h.clock
            .advance(i64::try_from(super::SETTLE.as_micros()).expect("micros") + 1);
        assert!(
            h.s.search_job().await.expect("job").is_empty(),
            "nothing to do"
        );
        let mark = h.s.db.search_mark().await.expect("mark");
        assert!(mark > 0, "the mark passed the settled release");

        // behind the mark nothing is read again: releases are never deleted, ids never reused
        exec(&h.s, "DELETE FROM release_search").await;
        assert!(h.s.search_job().await.expect("job").is_empty());
        assert_eq!(found(&h).await, 0, "behind the mark: not read");

        // a release published past the mark without a row is found
        publish(&h, "2.0").await;
        exec(&h.s, "DELETE FROM release_search WHERE release_id > 1").await;
        assert_eq!(
            h.s.search_job().await.expect("job"),
            ["indexed 1 releases for search"]
        );
        assert_eq!(found(&h).await, 1, "the new release indexed");
        assert_eq!(
            h.s.db.search_mark().await.expect("mark"),
            mark,
            "2.0 not settled"
        );
    }
}
