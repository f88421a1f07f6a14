//! The policy knobs the core obeys (filled from the binary's configuration).

/// Upload and index policy.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest accepted file, bytes.
    pub max_file_size: u64,
    /// Largest total size of one project's files, bytes.
    pub max_project_size: u64,
    /// Refuse legacy (non-normalised) filenames, as PyPI now does for new uploads.
    pub strict_filenames: bool,
    /// Enforce today's metadata rules on every file, including ones PyPI added after files it
    /// still hosts were published (see `publish::is_historical_rule`).
    pub strict_metadata: bool,
    /// New files may be added to a release for this many days after it was created.
    pub release_file_window_days: u64,
    /// Absolute base URL for links (`https://pypi.example.org`), if configured.
    pub public_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_file_size: 100 * 1024 * 1024,
            max_project_size: 10 * 1024 * 1024 * 1024,
            strict_filenames: false,
            strict_metadata: false,
            release_file_window_days: 14,
            public_url: None,
        }
    }
}
