//! The test harness of the core layer (feature `testing`), for core's own tests and the
//! server's: [`Services`] over a fresh SQLite database (the storage layer's harness,
//! [`strongroom_store::testing`]) and a blob folder in a temp dir, with a secrets key.

use std::path::{Path, PathBuf};

use strongroom_store::{Blobs, Keyring};

use crate::{Services, Settings};

/// The blob folder of the services [`services_in`] makes in `dir`.
pub fn blob_root(dir: &Path) -> PathBuf {
    dir.join("files")
}

/// Services over the migrated SQLite database `dir/t.db` (created unless it exists, so a second
/// call on one folder is a second server on one database) and the blob folder
/// [`blob_root`]`(dir)`, sealing with `keyring`, under `settings` as given.
pub async fn services_in(dir: &Path, settings: Settings, keyring: Keyring) -> Services {
    let db = strongroom_store::testing::sqlite(dir)
        .await
        .with_keyring(keyring);
    let blobs = Blobs::local(blob_root(dir)).expect("blob folder");
    Services::new(db, blobs, settings)
}
