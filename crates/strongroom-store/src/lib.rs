//! Storage ports and adapters: the metadata database (SQLite or PostgreSQL through sqlx's `Any`
//! driver, one SQL text with `$n` parameters and a [`Dialect`] for the few differences) and the
//! blob store (a local folder, or S3 through object_store).
//!
//! Every business write is one transaction inside this crate; unique constraints, not
//! application checks, decide races. Times are microseconds since the Unix epoch (UTC).

mod account_tx;
pub mod admin;
mod blobs;
mod db;
mod deletion;
mod descriptions;
mod domains;
mod email_tokens;
mod error;
mod events;
mod index;
mod journal;
mod migrations;
pub mod model;
mod names;
mod outbox;
mod projects;
mod publish;
mod rate_limits;
mod roles;
mod rows;
mod second_factor;
mod server_secrets;
mod sessions;
pub mod site_flags;
pub mod timeline;
mod users;

pub use account_tx::{AccountTx, NewMail};
pub use blobs::{BlobBody, BlobKey, BlobMeta, Blobs, ByteRange, S3Settings};
pub use db::{Db, Dialect};
pub use deletion::{DuePurge, Purged};
pub use descriptions::RenderedDescription;
pub use domains::{DomainCheckAddress, EmailDomainState};
pub use error::StoreError;
pub use events::{GENESIS_HASH, NewEvent};
pub use publish::Refusal;
pub use publish::{NewFile, PublishOutcome, UploadPolicy};
pub use roles::{MAINTAINER, OWNER, RoleOutcome};
pub use second_factor::NewCredential;
pub use sessions::NewSession;
pub use users::{NewToken, NewUser};

#[cfg(test)]
mod conformance;
