//! Periodic work: applying held role changes whose veto window passed, expiring invitations,
//! purging deleted accounts' personal data after retention, checking email domains, deleting
//! blobs no file references (`blob_collector`), reading a random sample of blobs against their
//! sha256 (`fsck`), rendering descriptions stored without HTML or by
//! an older renderer, indexing releases published without a search row (`search_index`), asking upstreams about private names (`upstream_names`), folding
//! download-log rows past `downloads.retention_days` into daily counts (`download_log`). Every
//! job is idempotent and transactional, so several servers may run them
//! at once.

use crate::{CoreError, Services};

/// What one pass of the jobs did (for logs and `strongroom admin run-jobs`).
#[derive(Debug, Default, Clone)]
pub struct JobReport {
    /// One line per thing done.
    pub lines: Vec<String>,
    /// One line per job that failed (the others still ran).
    pub failures: Vec<String>,
}

impl JobReport {
    fn take(&mut self, job: &'static str, r: Result<Vec<String>, CoreError>) {
        crate::job_stats::record(job, r.is_err());
        match r {
            Ok(lines) => self.lines.extend(lines),
            Err(e) => self.failures.push(format!("{job} failed: {e}")),
        }
    }
}

impl Services {
    /// Run every periodic job once, the blob collector with a listing of the whole store (what
    /// `strongroom admin run-jobs` does). The jobs are independent: one failing (a database
    /// hiccup in the purge, an unreachable resolver) never keeps the others from running.
    pub async fn run_jobs(&self) -> Result<JobReport, CoreError> {
        self.run_jobs_with(true).await
    }

    /// [`Services::run_jobs`]; `scan_blobs`: whether the collector lists the whole blob store
    /// (expired claims are collected either way).
    async fn run_jobs_with(&self, scan_blobs: bool) -> Result<JobReport, CoreError> {
        let mut report = JobReport::default();
        report.take(
            "held role changes and invitations",
            self.ownership_jobs().await,
        );
        report.take("retention purge", self.purge_job().await);
        report.take(
            "pending registrations and unverified addresses",
            self.unverified_job().await,
        );
        report.take("email-domain check", self.domain_check_job().await);
        report.take("upstream cache", self.upstream_cache_job().await);
        report.take("upstream pages", self.upstream_pages_job().await);
        report.take("blob collector", self.blob_collector_job(scan_blobs).await);
        report.take("sampled blob check", self.blob_sample_job().await);
        report.take("description rendering", self.description_job().await);
        report.take("search index", self.search_job().await);
        report.take("notice digests", self.notice_digest_job().await);
        report.take("refusal windows", self.close_refusal_windows().await);
        report.take("upstream name conflicts", self.upstream_names_job().await);
        report.take(
            "download log retention",
            self.download_retention_job().await,
        );
        Ok(report)
    }

    /// Run the jobs every `interval_secs`, forever (from `serve`). Failures are logged and retried.
    pub async fn run_jobs_forever(self, interval_secs: u64) {
        let mut logged_first_round = false;
        // The whole blob store is listed at start (unless `blobs.scan_at_start` is off), then
        // every `blobs.scan_interval_hours`.
        let scan_every = std::time::Duration::from_secs(
            self.settings.blobs.scan_interval_hours.saturating_mul(3600),
        );
        let mut last_scan: Option<std::time::Instant> =
            (!self.settings.blobs.scan_at_start).then(std::time::Instant::now);
        loop {
            let scan = match last_scan {
                None => true,
                Some(t) => !scan_every.is_zero() && t.elapsed() >= scan_every,
            };
            if scan {
                last_scan = Some(std::time::Instant::now());
            }
            let first = logged_first_round;
            logged_first_round = true;
            let ran = self.run_jobs_with(scan).await;
            if self.db.is_closed() {
                // the server is stopping: a failure now is the closed pool's, not the job's
                return;
            }
            match ran {
                Ok(r) => {
                    for l in &r.lines {
                        tracing::info!(job = %l, "periodic job");
                    }
                    for l in &r.failures {
                        tracing::warn!(job = %l, "periodic job failed; retrying next round");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "periodic jobs failed; retrying next round"),
            }
            if !first && !scan {
                tracing::info!(
                    "first jobs run done without listing the blob store (blobs.scan_at_start is off)"
                );
            }
            tokio::time::sleep(std::time::Duration::from_secs(interval_secs.max(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// A server stops by closing its database while these loops still run: each ends at its
    /// next round instead of reporting the closed pool as a failure every round until exit.
    #[tokio::test]
    async fn the_background_loops_end_once_the_database_is_closed() {
        let (s, _clock, _dir) = crate::test_harness::services(|_, _| {}).await;
        s.db.close().await;
        let ended = |what: &str, done: Result<(), tokio::time::error::Elapsed>| {
            assert!(done.is_ok(), "{what} still runs after the database closed");
        };
        let wait = Duration::from_secs(10);
        ended(
            "the periodic jobs",
            tokio::time::timeout(wait, s.clone().run_jobs_forever(1)).await,
        );
        ended(
            "the outbox delivery",
            tokio::time::timeout(wait, s.clone().deliver_outbox_forever()).await,
        );
        ended(
            "the event log's head",
            tokio::time::timeout(
                wait,
                s.clone().anchor_head_forever(Duration::from_millis(10)),
            )
            .await,
        );
    }
}
