//! The public visibility rule written in SQL, once. `strongroom_core::visibility` decides what
//! anonymous readers see; every store read that serves them (the simple and JSON indexes,
//! downloads, the XML-RPC lists, the web lists and pages) filters its rows through these
//! fragments over the aliases `p` (projects), `r` (releases) and `f` (files), and the changelog
//! hands core the states its entries name. Core's tests check, state by state, that the
//! fragments keep exactly what the rule calls public.

use serde::Serialize;

/// The status of a project row (`projects.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectStatus {
    /// The default: uploads accepted, files served.
    Active,
    /// PEP 792: no new uploads, files still served.
    Archived,
    /// PEP 792: like active, with a marker installers may warn about.
    Deprecated,
    /// Hidden by the index administrators while they investigate.
    Quarantined,
    /// Soft-removed (by an Owner or an administrator); names and filenames stay burned.
    Removed,
}

impl ProjectStatus {
    /// Every status, for tests that walk them all.
    pub const ALL: [ProjectStatus; 5] = [
        ProjectStatus::Active,
        ProjectStatus::Archived,
        ProjectStatus::Deprecated,
        ProjectStatus::Quarantined,
        ProjectStatus::Removed,
    ];

    /// The text stored in `projects.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectStatus::Active => "active",
            ProjectStatus::Archived => "archived",
            ProjectStatus::Deprecated => "deprecated",
            ProjectStatus::Quarantined => "quarantined",
            ProjectStatus::Removed => "removed",
        }
    }

    /// The status stored as `s`; `None` for text no version of strongroom writes.
    pub fn parse(s: &str) -> Option<ProjectStatus> {
        ProjectStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A project (`p`) the public sees: the statuses whose files PEP 792 lets an index serve.
/// Text that is no known status is hidden (fail closed), as core's rule does.
pub(crate) const PUBLIC_PROJECT: &str = "p.status IN ('active', 'archived', 'deprecated')";

/// A release (`r`) the public sees: neither held for review nor removed.
pub(crate) const PUBLIC_RELEASE: &str = "r.quarantined_at IS NULL AND r.removed_at IS NULL";

/// A file (`f`) the public sees, given that its release and project are public too: neither
/// removed nor held for review (a file a watched account added to an existing release).
pub(crate) const PUBLIC_FILE: &str = "f.removed_at IS NULL AND f.held_at IS NULL";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_text_is_none() {
        for s in ProjectStatus::ALL {
            assert_eq!(ProjectStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).expect("json"),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(ProjectStatus::parse("Active"), None);
        assert_eq!(ProjectStatus::parse(""), None);
    }
}
