//! The full check of a SQLite file that a start cannot vouch for (no clean-stop mark:
//! `store::clean_close`): `serve` answers first and reads the file whole in the background
//! (SQLite's `quick_check`: 38-53 s at 10M files), while every change to the index waits for
//! the verdict ([`Services::check_writable`] refuses with 503 and `Retry-After`). Pages and
//! downloads are served meanwhile: reading cannot spread damage, writing into a damaged b-tree
//! can. A damaged file stops the server, as it stopped the start before.

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

    /// Damage found (or the file could not be read whole): changes stay refused.
    pub fn damaged(&self) {
        self.0.store(DAMAGED, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CoreError;
    use crate::test_harness::Harness;

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
