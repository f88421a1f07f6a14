//! The public visibility rule written in SQL, once. `strongroom_core::visibility` decides what
//! anonymous readers see; every store read that serves them (the simple and JSON indexes,
//! downloads, the XML-RPC lists, the web lists and pages) filters its rows through these
//! fragments over the aliases `p` (projects), `r` (releases) and `f` (files), and the changelog
//! hands core the states its entries name. Core's tests check, state by state, that the
//! fragments keep exactly what the rule calls public.

pub use crate::states::ProjectStatus;

/// A project (`p`) the public sees: the statuses whose files PEP 792 lets an index serve.
/// Text that is no known status is hidden (fail closed), as core's rule does.
pub(crate) const PUBLIC_PROJECT: &str = "p.status IN ('active', 'archived', 'deprecated')";

/// A release (`r`) the public sees: neither held for review nor removed.
pub(crate) const PUBLIC_RELEASE: &str = "r.quarantined_at IS NULL AND r.removed_at IS NULL";

/// A file (`f`) the public sees, given that its release and project are public too: neither
/// removed nor held for review (a file a watched account added to an existing release).
pub(crate) const PUBLIC_FILE: &str = "f.removed_at IS NULL AND f.held_at IS NULL";
