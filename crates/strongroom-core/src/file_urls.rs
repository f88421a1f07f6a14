//! Where a file is served: the one URL the simple index, the JSON API and the web pages link to.

use strongroom_store::model::DistFile;

/// The URL of a file (or, with `.metadata`, of its core metadata).
pub fn file_url(base: &str, f: &DistFile) -> String {
    format!("{base}/packages/{}", f.blob_key)
}
