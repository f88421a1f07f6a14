//! The migrations this binary carries, in order: each one's number, name, step (expand or
//! contract, with why) and SQL for SQLite and PostgreSQL (`crates/strongroom-store/migrations/`).
//! A new migration is one more entry at the end, with its two files.

/// What a migration does to the binaries that do not know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The binaries that could run before it still can, correctly and safely.
    Expand,
    /// Only binaries whose schema version is at least `compatible_from` may run after it: the
    /// migration's own version, or (for a contract prepared by an earlier expand step whose
    /// release stopped depending on what this one removes) that expand step's version.
    Contract { compatible_from: i64 },
}

pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) step: Step,
    pub(super) sqlite: &'static str,
    pub(super) postgres: &'static str,
}

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        // the first schema: nothing runs before it
        step: Step::Contract { compatible_from: 1 },
        name: "index",
        sqlite: include_str!("../../migrations/sqlite/0001_index.sql"),
        postgres: include_str!("../../migrations/postgres/0001_index.sql"),
    },
    Migration {
        version: 2,
        // `users.password_disabled`: a binary without it would let an account whose password was disabled log in with it
        step: Step::Contract { compatible_from: 2 },
        name: "accounts",
        sqlite: include_str!("../../migrations/sqlite/0002_accounts.sql"),
        postgres: include_str!("../../migrations/postgres/0002_accounts.sql"),
    },
    Migration {
        version: 3,
        // a new table the previous release never reads
        step: Step::Expand,
        name: "server_secrets",
        sqlite: include_str!("../../migrations/sqlite/0003_server_secrets.sql"),
        postgres: include_str!("../../migrations/postgres/0003_server_secrets.sql"),
    },
    Migration {
        version: 4,
        // frozen accounts, quarantined projects and releases, removed files: the previous release would let a frozen account act and serve what is quarantined
        step: Step::Contract { compatible_from: 4 },
        name: "ownership",
        sqlite: include_str!("../../migrations/sqlite/0004_ownership.sql"),
        postgres: include_str!("../../migrations/postgres/0004_ownership.sql"),
    },
    Migration {
        version: 5,
        // columns with defaults that only pace the domain check's retries
        step: Step::Expand,
        name: "domain_retries",
        sqlite: include_str!("../../migrations/sqlite/0005_domain_retries.sql"),
        postgres: include_str!("../../migrations/postgres/0005_domain_retries.sql"),
    },
    Migration {
        version: 6,
        // an index
        step: Step::Expand,
        name: "event_actions",
        sqlite: include_str!("../../migrations/sqlite/0006_event_actions.sql"),
        postgres: include_str!("../../migrations/postgres/0006_event_actions.sql"),
    },
    Migration {
        version: 7,
        // rendered descriptions beside the text the previous release renders itself
        step: Step::Expand,
        name: "release_descriptions",
        sqlite: include_str!("../../migrations/sqlite/0007_release_descriptions.sql"),
        postgres: include_str!("../../migrations/postgres/0007_release_descriptions.sql"),
    },
    Migration {
        version: 8,
        // blob claims: the new collector deletes blobs no claim or row names, so an upload by a binary that does not claim its blob could lose it
        step: Step::Contract { compatible_from: 8 },
        name: "blob_claims",
        sqlite: include_str!("../../migrations/sqlite/0008_blob_claims.sql"),
        postgres: include_str!("../../migrations/postgres/0008_blob_claims.sql"),
    },
    Migration {
        version: 9,
        // suspect second factors and addresses: the previous release would accept them
        step: Step::Contract { compatible_from: 9 },
        name: "incidents",
        sqlite: include_str!("../../migrations/sqlite/0009_incidents.sql"),
        postgres: include_str!("../../migrations/postgres/0009_incidents.sql"),
    },
    Migration {
        version: 10,
        // a new table; the previous release simply offers no invitations
        step: Step::Expand,
        name: "registration_invites",
        sqlite: include_str!("../../migrations/sqlite/0010_registration_invites.sql"),
        postgres: include_str!("../../migrations/postgres/0010_registration_invites.sql"),
    },
    Migration {
        version: 11,
        // an index
        step: Step::Expand,
        name: "changelog_release_index",
        sqlite: include_str!("../../migrations/sqlite/0011_changelog_release_index.sql"),
        postgres: include_str!("../../migrations/postgres/0011_changelog_release_index.sql"),
    },
    Migration {
        version: 12,
        // an index
        step: Step::Expand,
        name: "registration_invites_by_maker",
        sqlite: include_str!("../../migrations/sqlite/0012_registration_invites_by_maker.sql"),
        postgres: include_str!("../../migrations/postgres/0012_registration_invites_by_maker.sql"),
    },
    Migration {
        version: 13,
        // a new table and an index; the previous release registers without a pending step
        step: Step::Expand,
        name: "pending_registrations",
        sqlite: include_str!("../../migrations/sqlite/0013_pending_registrations.sql"),
        postgres: include_str!("../../migrations/postgres/0013_pending_registrations.sql"),
    },
    Migration {
        version: 14,
        // the runner re-folds stored skeletons with the new fold: a binary with the older fold would let confusable names past them
        step: Step::Contract {
            compatible_from: 14,
        },
        name: "name_fold",
        sqlite: include_str!("../../migrations/sqlite/0014_name_fold.sql"),
        postgres: include_str!("../../migrations/postgres/0014_name_fold.sql"),
    },
    Migration {
        version: 15,
        // watches inherited through roles: a role granted by the previous release would escape the watch
        step: Step::Contract {
            compatible_from: 15,
        },
        name: "watch_inheritance",
        sqlite: include_str!("../../migrations/sqlite/0015_watch_inheritance.sql"),
        postgres: include_str!("../../migrations/postgres/0015_watch_inheritance.sql"),
    },
    Migration {
        version: 16,
        // held files are invisible until reviewed: the previous release would serve them
        step: Step::Contract {
            compatible_from: 16,
        },
        name: "file_review",
        sqlite: include_str!("../../migrations/sqlite/0016_file_review.sql"),
        postgres: include_str!("../../migrations/postgres/0016_file_review.sql"),
    },
    Migration {
        version: 17,
        // a new table grouping refusal signals; the previous release signals each refusal
        step: Step::Expand,
        name: "refusal_windows",
        sqlite: include_str!("../../migrations/sqlite/0017_refusal_windows.sql"),
        postgres: include_str!("../../migrations/postgres/0017_refusal_windows.sql"),
    },
    Migration {
        version: 18,
        // a nullable column the previous release neither reads nor writes; its own
        // `admin log verify` would not know that the chain covers the id (run verify with the
        // newer binary after a rollback)
        step: Step::Expand,
        name: "event_request_id",
        sqlite: include_str!("../../migrations/sqlite/0018_event_request_id.sql"),
        postgres: include_str!("../../migrations/postgres/0018_event_request_id.sql"),
    },
    Migration {
        version: 19,
        // a new table the previous release never reads; releases it publishes are indexed by
        // this one's search job (`Services::search_job`)
        step: Step::Expand,
        name: "search",
        sqlite: include_str!("../../migrations/sqlite/0019_search.sql"),
        postgres: include_str!("../../migrations/postgres/0019_search.sql"),
    },
    Migration {
        version: 20,
        // a new table the previous release never reads
        step: Step::Expand,
        name: "upstream_generation",
        sqlite: include_str!("../../migrations/sqlite/0020_upstream_generation.sql"),
        postgres: include_str!("../../migrations/postgres/0020_upstream_generation.sql"),
    },
    Migration {
        version: 21,
        // new tables the previous release never reads
        step: Step::Expand,
        name: "upstream_pages",
        sqlite: include_str!("../../migrations/sqlite/0021_upstream_pages.sql"),
        postgres: include_str!("../../migrations/postgres/0021_upstream_pages.sql"),
    },
    Migration {
        version: 22,
        // new tables the previous release never reads
        step: Step::Expand,
        name: "upstream_files",
        sqlite: include_str!("../../migrations/sqlite/0022_upstream_files.sql"),
        postgres: include_str!("../../migrations/postgres/0022_upstream_files.sql"),
    },
    Migration {
        version: 23,
        // new tables the previous release never reads
        step: Step::Expand,
        name: "download_log",
        sqlite: include_str!("../../migrations/sqlite/0023_download_log.sql"),
        postgres: include_str!("../../migrations/postgres/0023_download_log.sql"),
    },
    Migration {
        version: 24,
        // new tables the previous release never reads
        step: Step::Expand,
        name: "advisories",
        sqlite: include_str!("../../migrations/sqlite/0024_advisories.sql"),
        postgres: include_str!("../../migrations/postgres/0024_advisories.sql"),
    },
    Migration {
        version: 25,
        // new tables the previous release never reads
        step: Step::Expand,
        name: "upstream_rules",
        sqlite: include_str!("../../migrations/sqlite/0025_upstream_rules.sql"),
        postgres: include_str!("../../migrations/postgres/0025_upstream_rules.sql"),
    },
    Migration {
        version: 26,
        // new table: the content scanner's rows; older binaries never read it
        step: Step::Expand,
        name: "file_scans",
        sqlite: include_str!("../../migrations/sqlite/0026_file_scans.sql"),
        postgres: include_str!("../../migrations/postgres/0026_file_scans.sql"),
    },
    Migration {
        version: 27,
        // new table: the index's malicious-package verdicts; older binaries never read it
        step: Step::Expand,
        name: "malicious_verdicts",
        sqlite: include_str!("../../migrations/sqlite/0027_malicious_verdicts.sql"),
        postgres: include_str!("../../migrations/postgres/0027_malicious_verdicts.sql"),
    },
    Migration {
        version: 28,
        // new tables: page reads and downloads per client kind, distinct addresses per day; older binaries never read them
        step: Step::Expand,
        name: "page_hits",
        sqlite: include_str!("../../migrations/sqlite/0028_page_hits.sql"),
        postgres: include_str!("../../migrations/postgres/0028_page_hits.sql"),
    },
    Migration {
        version: 29,
        // new table: the scanner's per-member results by content; older binaries never read it
        step: Step::Expand,
        name: "scan_member_cache",
        sqlite: include_str!("../../migrations/sqlite/0029_scan_member_cache.sql"),
        postgres: include_str!("../../migrations/postgres/0029_scan_member_cache.sql"),
    },
    Migration {
        version: 30,
        // new table: metadata of upstream files not kept; older binaries never read it (their
        // collector could take such a key's blob after the grace: the metadata is fetched again)
        step: Step::Expand,
        name: "upstream_metadata",
        sqlite: include_str!("../../migrations/sqlite/0030_upstream_metadata.sql"),
        postgres: include_str!("../../migrations/postgres/0030_upstream_metadata.sql"),
    },
    Migration {
        version: 31,
        // new table: the search job's mark; older binaries never read it (a release one of them
        // publishes has an id past the mark, so the job still finds it)
        step: Step::Expand,
        name: "search_swept",
        sqlite: include_str!("../../migrations/sqlite/0031_search_swept.sql"),
        postgres: include_str!("../../migrations/postgres/0031_search_swept.sql"),
    },
];
