//! What a scan means for an upload (issue 13): run the scanner on the checked archive, refuse
//! precise rules (encrypted code, a known-malicious hash), score the rest (the scanner's base
//! score, new dangerous capabilities against the previous release, a dormant project, a watched
//! uploader, the typosquat profile M12), and hold for review what reaches `scan.hold_score`.
//!
//! **Refused at upload** (400, nothing stored): a finding of severity `Reject` (PyArmor and
//! other encrypted code, `SR-M11-encrypted-code`), and a file whose sha256 a live
//! malicious-package advisory names (`SR-known-malicious`), under any project's name: the
//! bytes are the same file.
//!
//! **The score** of an upload is the sum of:
//! - the scanner's base score of its findings (`strongroom_scan::score::base_score`);
//! - [`NEW_CAPABILITY_WEIGHT`] for each dangerous capability kind
//!   (`Capability::is_dangerous`) the file has and the project's previous release did not
//!   (the newest release created before this one that is published: neither quarantined nor
//!   removed; its live, unheld files' scans, unioned per path). A project's first release, or
//!   one whose previous release was uploaded before scanning existed, gets no such points: it
//!   is scored on its findings alone;
//! - [`NEW_BEHAVIOUR_WEIGHT`] for each behaviour rule (`Rule::is_behaviour`: exfiltration,
//!   decode-and-exec, download-and-run, credential theft, …) whose finding is at least
//!   `medium` and worse than anything the previous release had for that rule: "same
//!   capabilities, new flow" (0.1 reads a proxy variable beside `requests`, 0.2 passes a
//!   token to a function that posts it) is the staged attack's tell, and a medium finding
//!   (4) new to the project reaches the default threshold with it. First releases get none;
//! - [`EXECUTABLE_PTH_WEIGHT`] when the file ships an executable `.pth` (code at every
//!   interpreter start; a new one also counts as a new capability);
//! - [`DORMANT_WEIGHT`] when the project's previous release is older than
//!   `safety.dormant_project_days`;
//! - [`WATCHED_WEIGHT`] when the uploader is watched on the project (recovered, newcomer or
//!   inherited: `core::watch`);
//! - [`TYPOSQUAT_WEIGHT`] for the typosquat profile (M12, a `SR-M12-typosquat-profile` finding
//!   of severity High added to the stored scan): the name is one edit (insertion, deletion,
//!   substitution or adjacent transposition) from one of the [`POPULAR_NAMES`] local projects
//!   most depended on (Requires-Dist of each local project's newest published release) or,
//!   with a gateway, the upstream projects it served most; and a placeholder profile: a 0.0.x
//!   or 0.1 version with an empty description or a single Python module. Not when the
//!   previous release had that finding and is published: an administrator approved the name.
//!
//! Dormancy and a watch alone never reach the default threshold: they raise a release that
//! already changed character.
//!
//! **Holding.** A score at or above `scan.hold_score` holds the upload: a new release is
//! stored quarantined (the ownership work's release quarantine: out of the simple and JSON
//! APIs, no journal entry until approved), a file joining an existing release is held on its
//! own; the project's Owners and every administrator are mailed the reasons with the capability
//! diff in words ("0.2.2 adds network, environment-read, encoding to ctx.py, which 0.1.2 did
//! not have": capabilities in their display order). `scan.hold_score = 0` turns holding off (files are still scanned, scored and
//! their scans stored; precise rules still refuse). Every upload stores its scan
//! (`file_scans`): scanner version, scan, score, diff against the previous release, and the
//! hold's reason.

mod policy;
mod run;

pub use policy::*;
pub(crate) use run::Upload;

#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod upload_tests;
