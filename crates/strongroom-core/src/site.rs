//! Site-wide switches an administrator flips during an incident: read-only mode and
//! "no new projects". Every server reads them from the database, so they act everywhere at once.

use strongroom_store::site_flags::{NO_NEW_PROJECTS, READ_ONLY};

use crate::database_check::{CHECKING_MESSAGE, CheckState, DAMAGED_MESSAGE, RETRY_AFTER_SECS};
use crate::{CoreError, Services};

/// Warehouse's refusal while uploads are disabled.
pub const READ_ONLY_MESSAGE: &str = "Read-only mode: Uploads are temporarily disabled.";
/// Warehouse's refusal while new projects are disabled.
pub const NO_NEW_PROJECTS_MESSAGE: &str = "New project registration temporarily disabled by the index's administrators. Uploads to existing projects still work.";

impl Services {
    /// Refuse a change to the index while read-only mode is on, or while the database's full
    /// check runs after an unclean stop (`database_check`).
    pub async fn check_writable(&self) -> Result<(), CoreError> {
        let refused = match self.database_check.state() {
            CheckState::Passed => None,
            CheckState::Running => Some(CHECKING_MESSAGE),
            CheckState::Damaged => Some(DAMAGED_MESSAGE),
        };
        if let Some(message) = refused {
            return Err(CoreError::Busy {
                message: message.into(),
                retry_after_secs: RETRY_AFTER_SECS,
            });
        }
        if self.db.site_flag(READ_ONLY).await? {
            return Err(CoreError::Forbidden(READ_ONLY_MESSAGE.into()));
        }
        Ok(())
    }

    /// Refuse creating a project while "no new projects" (or read-only) is on.
    pub async fn check_new_projects_allowed(&self) -> Result<(), CoreError> {
        self.check_writable().await?;
        if self.db.site_flag(NO_NEW_PROJECTS).await? {
            return Err(CoreError::Forbidden(NO_NEW_PROJECTS_MESSAGE.into()));
        }
        Ok(())
    }
}
