//! Storage ports and adapters: the metadata database (SQLite or PostgreSQL through sqlx's `Any`
//! driver, one SQL text with `$n` parameters and a [`Dialect`] for the few differences) and the
//! blob store (a local folder, or S3 through object_store).
//!
//! Every business write is one transaction inside this crate; unique constraints, not
//! application checks, decide races. Times are microseconds since the Unix epoch (UTC).

mod account_tx;
pub mod admin;
pub mod advisories;
pub mod blob_check;
mod blob_claims;
mod blob_key;
mod blob_read;
mod blob_walk;
mod blobs;
pub mod change_feed;
pub mod clean_close;
mod db;
mod deletion;
mod descriptions;
mod domains;
pub mod download_log;
mod email_tokens;
mod error;
mod events;
pub mod file_scans;
mod file_status;
pub mod fsck;
pub mod gateway_lookup;
mod health;
mod incidents;
mod index;
mod journal;
mod migrations;
pub mod model;
mod names;
mod outbox;
pub mod owner_notices;
pub mod page_hits;
mod pending_registrations;
pub mod private_fs;
mod projects;
mod publish;
mod rate_limits;
pub mod refusal_windows;
mod registration;
mod roles;
mod rows;
pub mod scan_cache;
mod seal_pass;
pub mod sealing;
pub mod search;
pub mod search_sweep;
mod second_factor;
mod server_secrets;
mod sessions;
pub mod site_flags;
mod skeletons;
pub mod snapshot;
pub mod states;
pub mod synthetic;
pub mod tempfiles;
pub mod timeline;
pub mod upload_record;
mod upstream_files;
mod upstream_generation;
mod upstream_metadata;
pub mod upstream_pages;
pub(crate) use upstream_generation::bump_upstream_generation_in;
pub mod upstream_rules;
mod upstream_served;
mod users;
pub mod verdicts;
pub mod visibility;

pub use account_tx::{AccountTx, NewMail};
pub use blob_claims::{BlobClaim, ClaimOutcome, DeletionLease};
pub use blobs::{
    BlobBody, BlobIdentity, BlobKey, BlobMeta, Blobs, ByteRange, ListedBlob, Opened, PROBE_PREFIX,
    ProbeFailure, S3Settings, UPSTREAM_PREFIX, blob_error_count,
};
pub use db::{Db, DbSettings, Dialect, PoolStats, server_name};
pub use deletion::{DuePurge, Purged};
pub use descriptions::RenderedDescription;
pub use domains::{DomainCheckAddress, EmailDomainState};
pub use error::{Backend, StoreError};
pub use events::{GENESIS_HASH, NewEvent};
pub use file_status::FileStatusRow;
pub use incidents::{FreezeEffects, TOTP_LABEL};
pub use journal::{ChangelogRow, ReleaseFlags};
pub use migrations::{
    LATEST as LATEST_MIGRATION, Migrated, PlannedMigration, SchemaState, plan as migration_plan,
    sqlite_file_state,
};
pub use outbox::{MailState, OutboxEntry};
pub use owner_notices::{NoticeRecipient, OwnerNotice, PendingDigest};
pub use pending_registrations::{NewPendingRegistration, PendingRegistration};
pub use publish::Refusal;
pub use publish::{NewFile, PublishOutcome, UploadPolicy};
pub use rate_limits::RateReservation;
pub use refusal_windows::{RefusalCounted, RefusalWindow};
pub use registration::{NewRegistrationInvite, RegistrationInvite};
pub use roles::RoleOutcome;
pub use seal_pass::SealReport;
pub use sealing::{Keyring, SealError, SecretsKey};
pub use second_factor::NewCredential;
pub use sessions::NewSession;
pub use states::{
    InvitationStatus, ProjectRole, ProjectStatus, RoleChangeKind, RoleChangeStatus, UnknownValue,
};
pub use upstream_files::{KeepOutcome, UpstreamFileRow};
pub use upstream_metadata::{MetadataKept, UpstreamEntry, UpstreamEntryKind, UpstreamMetadataRow};
pub use users::{NewToken, NewUser};

#[cfg(test)]
mod conformance;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
