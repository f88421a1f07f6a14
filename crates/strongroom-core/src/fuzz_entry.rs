//! The body of the `fuzz/` target for this crate, called by the cargo-fuzz target and by the
//! corpus replay test (`cargo test`), so the two can never drift apart.

use crate::upload_checks::{UploadForm, check_filename, check_form};

/// The legacy upload form (`key=value` lines, keys may repeat): PyPI's form checks, then the
/// filename against the form, in both filename modes. Nothing here may panic; a filename that
/// passes names the form's project and version.
pub fn upload_form(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fields: Vec<(String, String)> = text
        .split('\n')
        .take(512)
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let form = UploadForm { fields };
    let Ok(checked) = check_form(&form) else {
        return;
    };
    let Some(filename) = form.get("filename") else {
        return;
    };
    for strict in [false, true] {
        if let Ok(parsed) = check_filename(filename, &checked, strict) {
            assert_eq!(
                parsed.version().canonical(),
                checked.version.canonical(),
                "{filename} passed for another version"
            );
        }
    }
}

/// This crate's fuzz targets: `fuzz/fuzz_targets/<name>.rs` calls `fuzz_entry::<name>`.
pub const TARGETS: &[strongroom_protocol::fuzz_entry::Target] = &[("upload_form", upload_form)];

#[cfg(test)]
mod tests {
    #[test]
    fn committed_corpora_replay_without_a_panic() {
        let replayed =
            strongroom_protocol::fuzz_entry::replay_corpus("strongroom_core", super::TARGETS);
        assert!(replayed > 0);
    }
}
