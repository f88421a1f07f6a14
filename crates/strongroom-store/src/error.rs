//! The store's error type: conflicts and absences are typed so the core can map them to PyPI's answers.

/// What went wrong in a storage operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (a race lost, or a duplicate).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row the operation needs does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database refused or failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The blob store refused or failed.
    #[error("blob store error: {0}")]
    Blob(String),
    /// Local file I/O failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A sealed secret could not be sealed or opened (no key, another key, altered).
    #[error(transparent)]
    Sealing(#[from] crate::sealing::SealError),
    /// Configuration of a backend is invalid.
    #[error("invalid storage configuration: {0}")]
    Config(String),
}

impl StoreError {
    /// Whether this error is a unique-constraint violation.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}

/// Turn a unique violation into [`StoreError::Conflict`], keep everything else.
pub(crate) fn conflict_or(e: sqlx::Error, what: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return StoreError::Conflict(what.to_owned());
    }
    StoreError::Database(e)
}
