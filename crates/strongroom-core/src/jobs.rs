//! Periodic work: applying held role changes whose veto window passed, expiring invitations,
//! purging deleted accounts' personal data after retention, checking email domains. Every job
//! is idempotent and transactional, so several servers may run them at once.

use crate::{CoreError, Services};

/// What one pass of the jobs did (for logs and `strongroom admin run-jobs`).
#[derive(Debug, Default, Clone)]
pub struct JobReport {
    /// One line per thing done.
    pub lines: Vec<String>,
}

impl Services {
    /// Run every periodic job once.
    pub async fn run_jobs(&self) -> Result<JobReport, CoreError> {
        let mut report = JobReport::default();
        // Each area appends its job here (ownership, retention, domains).
        report.lines.extend(self.ownership_jobs().await?);
        report.lines.extend(self.purge_job().await?);
        report.lines.extend(
            self.domain_check_job()
                .await
                .unwrap_or_else(|e| vec![format!("domain check failed: {e}")]),
        );
        Ok(report)
    }

    /// Run the jobs every `interval_secs`, forever (from `serve`). Failures are logged and retried.
    pub async fn run_jobs_forever(self, interval_secs: u64) {
        loop {
            match self.run_jobs().await {
                Ok(r) => {
                    for l in &r.lines {
                        tracing::info!(job = %l, "periodic job");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "periodic jobs failed; retrying next round"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(interval_secs.max(1))).await;
        }
    }
}
