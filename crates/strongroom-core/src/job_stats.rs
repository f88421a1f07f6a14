//! Runs and failures of each periodic job in this process, for the metrics
//! (`strongroom_job_runs_total`, `strongroom_job_failures_total`). Job names are the fixed
//! names `jobs` gives them, so the label set is bounded.

use std::collections::BTreeMap;
use std::sync::Mutex;

static STATS: Mutex<BTreeMap<&'static str, JobCounts>> = Mutex::new(BTreeMap::new());

/// Runs and failures of one job.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobCounts {
    pub runs: u64,
    pub failures: u64,
}

/// Count one run of `job`, failed or not.
pub(crate) fn record(job: &'static str, failed: bool) {
    let mut stats = STATS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let c = stats.entry(job).or_default();
    c.runs += 1;
    if failed {
        c.failures += 1;
    }
}

/// Every job that has run in this process, by name.
pub fn snapshot() -> Vec<(&'static str, JobCounts)> {
    STATS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .map(|(k, v)| (*k, *v))
        .collect()
}
