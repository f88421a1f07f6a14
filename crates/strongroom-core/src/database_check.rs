//! The full check of a SQLite file that a start cannot vouch for (no clean-stop mark:
//! `store::clean_close`): `serve` answers first and reads the file whole in the background
//! (SQLite's `quick_check`: 38-53 s at 10M files). Until the verdict, the changes to the index
//! that go through [`Services::check_writable`] (uploads, yanks, removals, role, token and
//! account-deletion changes) are refused with 503 and `Retry-After`, and the periodic jobs,
//! the download log's writes and the mail outbox wait ([`DatabaseCheck::settled`]). Pages and
//! downloads are served meanwhile, and sign-ins still write their sessions: reading cannot
//! spread damage, and those writes are small and kept. A damaged file stops the server, as it
//! stopped the start before.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// What a change to the index is told while the check runs (HTTP 503).
pub const CHECKING_MESSAGE: &str = "The package index is checking its database after an unclean stop, so nothing was changed. Try again in a minute.";
/// What a change to the index is told once the check found damage (HTTP 503; the server stops).
pub const DAMAGED_MESSAGE: &str = "The package index found damage in its database and is stopping, so nothing was changed. Tell the index's administrator.";
/// `Retry-After` while the check runs.
pub const RETRY_AFTER_SECS: u64 = 30;

const PASSED: u8 = 0;
const RUNNING: u8 = 1;
const DAMAGED: u8 = 2;

/// Where the check stands; shared by every clone of the services. Passed unless `serve`
/// started one (PostgreSQL, a vouched-for file, and every CLI command never run it).
#[derive(Debug, Clone, Default)]
pub struct DatabaseCheck(Arc<AtomicU8>);

/// The check's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    /// No check pending: changes are taken.
    Passed,
    /// Reading the file whole: changes wait.
    Running,
    /// Damage found: changes are refused and the server stops.
    Damaged,
}

impl DatabaseCheck {
    pub fn state(&self) -> CheckState {
        match self.0.load(Ordering::Acquire) {
            PASSED => CheckState::Passed,
            RUNNING => CheckState::Running,
            _ => CheckState::Damaged,
        }
    }

    /// The check starts: changes wait from now on.
    pub fn begin(&self) {
        self.0.store(RUNNING, Ordering::Release);
    }

    /// The file read whole without damage: changes are taken.
    pub fn passed(&self) {
        self.0.store(PASSED, Ordering::Release);
    }

    /// Damage found: changes stay refused.
    pub fn damaged(&self) {
        self.0.store(DAMAGED, Ordering::Release);
    }

    /// Wait while the check runs (looking twice a second); `true` once it passed, `false` when
    /// it found damage. The periodic jobs wait here before their first round: the blob
    /// collector decides what to delete from the file's rows, and a damaged b-tree that lists
    /// fewer files would cost package files for good.
    pub async fn settled(&self) -> bool {
        loop {
            match self.state() {
                CheckState::Passed => return true,
                CheckState::Damaged => return false,
                CheckState::Running => {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CoreError;
    use crate::test_harness::Harness;

    #[tokio::test]
    async fn the_jobs_wait_for_the_verdict() {
        let check = DatabaseCheck::default();
        assert!(check.settled().await, "no check: nothing to wait for");
        check.begin();
        let waiting = tokio::spawn({
            let check = check.clone();
            async move { check.settled().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        assert!(!waiting.is_finished(), "still checking");
        check.passed();
        assert!(waiting.await.expect("task"));
        check.damaged();
        assert!(!check.settled().await);
    }

    #[tokio::test]
    async fn changes_wait_for_the_check_and_are_refused_after_damage() {
        let h = Harness::new().await;
        assert_eq!(h.s.database_check.state(), CheckState::Passed);
        assert!(
            h.s.check_writable().await.is_ok(),
            "no check: changes taken"
        );

        h.s.database_check.begin();
        let clone = h.s.clone();
        match clone.check_writable().await {
            Err(CoreError::Busy {
                message,
                retry_after_secs,
            }) => {
                assert_eq!(message, CHECKING_MESSAGE);
                assert_eq!(retry_after_secs, RETRY_AFTER_SECS);
            }
            other => panic!("{other:?}"),
        }
        h.s.database_check.passed();
        assert!(
            clone.check_writable().await.is_ok(),
            "every clone sees the verdict"
        );

        h.s.database_check.damaged();
        assert!(matches!(
            h.s.check_writable().await,
            Err(CoreError::Busy { message, .. }) if message == DAMAGED_MESSAGE
        ));
    }
}
