//! The bodies of the `fuzz/` targets for this crate, called by the cargo-fuzz targets and by
//! the corpus replay test (`cargo test`), so the two can never drift apart.
//!
//! Each function takes attacker bytes, runs the parser an upload or a request runs, must never
//! panic, and asserts the invariants that are cheap to state (a parsed filename renders back to
//! itself, normalisation is idempotent, a normalised version parses to the same version).

use crate::filename::{DistFilename, check_basic, check_extension_for_filetype};
use crate::metadata::CoreMetadata;
use crate::name::{self, NormalizedName, ProjectName};
use crate::simple::{self, SimpleFormat, read};
use crate::version::{Version, validate_requires_python};
use crate::{dist_dir_matches, is_stdlib_module_name};

/// PEP 440 versions and Requires-Python specifier sets.
pub fn version(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = Version::parse(text) {
        assert_eq!(v.raw(), text);
        let normal = Version::parse(&v.normalized()).expect("the normal form parses");
        assert_eq!(normal, v, "normalising keeps the version");
        assert_eq!(
            normal.normalized(),
            v.normalized(),
            "normalising is idempotent"
        );
        let canonical = Version::parse(&v.canonical()).expect("the canonical form parses");
        assert_eq!(canonical.canonical(), v.canonical());
        assert_eq!(canonical, v, "trailing zeros do not change a release");
        let _ = (
            v.is_local(),
            v.is_prerelease(),
            v.is_postrelease(),
            v.epoch(),
        );
    }
    let _ = validate_requires_python(text);
}

/// Project names: validation, PEP 503 and "ultranormal" forms, the stdlib check.
pub fn name(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let normal = name::normalize(text);
    assert_eq!(name::normalize(&normal), normal, "normalize is idempotent");
    let ultra = name::skeleton(text);
    assert_eq!(name::skeleton(&ultra), ultra);
    if let Ok(valid) = ProjectName::new(text) {
        let normalized = valid.normalized();
        assert_eq!(normalized.as_str(), normal);
        assert_eq!(
            NormalizedName::new(normalized.as_str()).expect("a normalised valid name is valid"),
            normalized
        );
        assert_eq!(valid.skeleton(), ultra);
        let _ = is_stdlib_module_name(&normalized);
        let _ = ProjectName::new_project(text);
    }
}

/// Upload filenames (wheel and sdist): a filename that parses renders back to itself, and its
/// parts pass the release checks against themselves.
pub fn filename(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = check_basic(text);
    for filetype in ["sdist", "bdist_wheel"] {
        let _ = check_extension_for_filetype(text, filetype);
    }
    let Ok(parsed) = DistFilename::parse(text) else {
        return;
    };
    let rendered = match &parsed {
        DistFilename::Wheel(w) => {
            let _ = (w.unsupported_platform_tag(), w.expanded_tags());
            w.to_string()
        }
        DistFilename::Sdist(s) => s.to_string(),
    };
    assert_eq!(rendered, text, "a parsed filename renders back to itself");
    let version = parsed.version().clone();
    if let Ok(project) = ProjectName::new(parsed.name()) {
        let normalized = project.normalized();
        let _ = parsed.check_release(text, project.as_str(), &normalized, &version);
        let stem = format!("{}-{}", parsed.name(), version.raw());
        assert!(
            dist_dir_matches(&stem, &normalized, &version),
            "{stem} names its own release"
        );
    }
}

/// Core metadata (METADATA / PKG-INFO): parsing and every validation rule with its message.
pub fn metadata(data: &[u8]) {
    let Ok(md) = CoreMetadata::parse(data) else {
        return;
    };
    for error in md.validate_all() {
        let _ = (error.field(), error.upload_message());
    }
    let _ = (md.validate(), md.project_urls(), md.keywords_list());
}

/// Upload form fields (`key=value` lines) as metadata, the way the upload form is read.
pub fn form_metadata(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pairs: Vec<(&str, &str)> = text
        .split('\n')
        .take(512)
        .filter_map(|line| line.split_once('='))
        .collect();
    if let Ok(md) = CoreMetadata::from_form(&pairs) {
        for error in md.validate_all() {
            let _ = error.upload_message();
        }
    }
}

/// The simple API's content negotiation, as `GET /simple/...` runs it: the input as an `Accept`
/// header and as a `?format=` value. A format the `?format=` value names wins over any `Accept`.
pub fn accept(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let by_accept = SimpleFormat::negotiate(None, Some(&text));
    let by_param = SimpleFormat::negotiate(Some(&text), None);
    let _ = (by_accept.content_type(), by_param.is_json());
    for accept in ["text/html", "application/vnd.pypi.simple.v1+json", &*text] {
        let both = SimpleFormat::negotiate(Some(&text), Some(accept));
        if by_param != SimpleFormat::TextHtml {
            assert_eq!(
                both, by_param,
                "?format= names a format: it wins over {accept:?}"
            );
        }
    }
}

/// Upload times as an upstream writes them: the normal form is a fixed point.
fn upload_time_fixpoint(data: &[u8]) {
    if let Some(time) = std::str::from_utf8(data)
        .ok()
        .and_then(read::normal_upload_time)
    {
        assert_eq!(
            read::normal_upload_time(&time),
            Some(time.clone()),
            "{time}"
        );
        assert!(time.len() == 20 || time.len() == 27, "{time}");
    }
}

/// An upstream index's PEP 691 JSON project page, as the gateway reads it: never panics,
/// keeps only what it promises (`upstream_invariants`), and what strongroom renders from
/// the result reads back the same.
pub fn upstream_json(data: &[u8]) {
    upload_time_fixpoint(data);
    let asked = NormalizedName::new("demo").expect("a valid name");
    let Ok(page) = read::parse_project_json(&asked, data, UPSTREAM_PAGE) else {
        return;
    };
    upstream_invariants(&page);
    let again = read::parse_project_json(
        &asked,
        simple::project_json(&rendered(&page)).as_bytes(),
        UPSTREAM_PAGE,
    )
    .expect("strongroom's own JSON page reads");
    assert_eq!(again, offered(&page), "the JSON page reads back the same");
}

/// An upstream index's PEP 503 HTML project page, as the gateway reads it (same checks as
/// [`upstream_json`]).
pub fn upstream_html(data: &[u8]) {
    let asked = NormalizedName::new("demo").expect("a valid name");
    let Ok(page) = read::parse_project_html(&asked, data, UPSTREAM_PAGE) else {
        return;
    };
    upstream_invariants(&page);
    let again = read::parse_project_html(
        &asked,
        simple::project_html(&rendered(&page)).as_bytes(),
        UPSTREAM_PAGE,
    )
    .expect("strongroom's own HTML page reads");
    // HTML carries no size, upload time or versions unless given as `data-*` (which
    // strongroom does not write).
    let mut want = offered(&page);
    want.versions.clear();
    for file in &mut want.files {
        file.size = None;
        file.upload_time = None;
    }
    assert_eq!(again, want, "the HTML page reads back the same");
}

const UPSTREAM_PAGE: &str = "https://up.example/simple/demo/";

/// What a read page promises whatever the input.
fn upstream_invariants(page: &read::UpstreamPage) {
    assert_eq!(page.name, "demo");
    assert!(page.files.len() <= read::MAX_FILES);
    assert!(page.versions.len() <= read::MAX_VERSIONS);
    for v in &page.versions {
        assert!(!v.is_empty() && v.len() <= read::MAX_VERSION_BYTES);
    }
    let reasons = page
        .status_reason
        .iter()
        .chain(page.files.iter().filter_map(|f| f.yanked.as_ref()));
    for reason in reasons {
        assert!(reason.len() <= read::MAX_REASON_BYTES);
        assert!(!reason.chars().any(char::is_control), "{reason:?}");
    }
    for file in &page.files {
        let name = &file.filename;
        assert!(
            !name.is_empty() && name.len() <= read::MAX_FILENAME_BYTES,
            "{name:?}"
        );
        assert!(name != "." && name != "..", "{name:?}");
        assert!(
            !name
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control()),
            "{name:?}"
        );
        for url in std::iter::once(&file.url).chain(&file.provenance) {
            assert!(url.len() <= read::MAX_URL_BYTES);
            assert!(
                url.starts_with("http://") || url.starts_with("https://"),
                "{url}"
            );
        }
        assert!(!file.url.contains('#'), "{}", file.url);
        let hexes = file
            .sha256
            .iter()
            .chain(file.core_metadata.iter().flatten());
        for hex in hexes {
            assert!(hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
        if let Some(time) = &file.upload_time {
            assert_eq!(
                read::normal_upload_time(time).as_ref(),
                Some(time),
                "{time}"
            );
        }
        if let Some(rp) = &file.requires_python {
            assert!(!rp.is_empty() && rp.len() <= read::MAX_REQUIRES_PYTHON_BYTES);
            assert_eq!(rp.trim(), rp);
        }
    }
}

/// The page strongroom would serve from `page`, every file at its upstream URL.
fn rendered(page: &read::UpstreamPage) -> simple::ProjectPage {
    simple::ProjectPage {
        name: NormalizedName::new(&page.name).expect("the asked name"),
        status: page.status.into(),
        status_reason: page.status_reason.clone(),
        last_serial: 0,
        versions: page.versions.clone(),
        files: page
            .files
            .iter()
            .filter_map(|f| f.to_simple_file(f.url.clone()))
            .collect(),
    }
}

/// `page` as it reads back from [`rendered`]: only files with a sha256, metadata only with one.
fn offered(page: &read::UpstreamPage) -> read::UpstreamPage {
    let mut page = page.clone();
    page.files.retain(|f| f.sha256.is_some());
    for file in &mut page.files {
        if file.core_metadata == Some(None) {
            file.core_metadata = None;
        }
    }
    page
}

/// A fuzz target: its name (`fuzz/fuzz_targets/<name>.rs`, `fuzz/corpus/<name>/`) and body.
pub type Target = (&'static str, fn(&[u8]));

/// This crate's fuzz targets: `fuzz/fuzz_targets/<name>.rs` calls `fuzz_entry::<name>`.
pub const TARGETS: &[Target] = &[
    ("version", version),
    ("name", name),
    ("filename", filename),
    ("metadata", metadata),
    ("form_metadata", form_metadata),
    ("accept", accept),
    ("upstream_json", upstream_json),
    ("upstream_html", upstream_html),
];

/// Replay every committed corpus file of `targets` (`fuzz/corpus/<name>/*`) through its body,
/// and check that `fuzz/fuzz_targets/<name>.rs` calls that same body. Used by the test suite of
/// every crate that has fuzz targets; panics name the target and the file. Returns the number
/// of inputs replayed.
pub fn replay_corpus(crate_name: &str, targets: &[Target]) -> usize {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut replayed = 0;
    for (name, body) in targets {
        let target = fuzz.join("fuzz_targets").join(format!("{name}.rs"));
        let source = std::fs::read_to_string(&target)
            .unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        let call = format!("{crate_name}::fuzz_entry::{name}(");
        assert!(
            source.contains(&call),
            "{} must call {call}..)",
            target.display()
        );
        let dir = fuzz.join("corpus").join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} has no seed inputs", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if std::panic::catch_unwind(|| body(&data)).is_err() {
                panic!("fuzz target {name} panicked on {}", file.display());
            }
            replayed += 1;
        }
    }
    replayed
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_corpora_replay_without_a_panic() {
        assert!(super::replay_corpus("strongroom_protocol", super::TARGETS) > 0);
    }
}
