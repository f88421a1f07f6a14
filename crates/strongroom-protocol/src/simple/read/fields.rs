//! The checks both page formats share: what one file entry may hold (URL resolution, the
//! sha256 fragment, filenames, `upload-time`, size limits), so JSON and HTML pages are held to
//! the same rules.

use url::Url;

use super::UpstreamFile;
use crate::filename::{WheelFilename, name_matches_project};
use crate::name::NormalizedName;
use crate::version::Version;

/// The most files one page may list (the page's byte cap, `upstream.max_page_bytes`, is the
/// tighter bound for PyPI-sized entries; this bounds tiny entries).
pub const MAX_FILES: usize = 250_000;
/// The most PEP 700 `versions` one page may list.
pub const MAX_VERSIONS: usize = 250_000;
/// The longest file URL kept (presigned object-store URLs run to a few KiB).
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// The longest filename kept (a filesystem's name limit; blob keys end in the filename).
pub const MAX_FILENAME_BYTES: usize = 255;
/// The longest `requires-python` kept.
pub const MAX_REQUIRES_PYTHON_BYTES: usize = 1024;
/// The longest version string kept in `versions`.
pub const MAX_VERSION_BYTES: usize = 256;
/// Reasons (yanked, PEP 792 status) are cut to this many bytes.
pub const MAX_REASON_BYTES: usize = 1024;

/// A file entry as either format states it, before the checks.
#[derive(Debug, Default)]
pub(super) struct RawFile {
    /// Explicit filename (JSON); `None` = the URL's last path segment (HTML, as pip does).
    pub filename: Option<String>,
    pub href: String,
    /// sha256 from a hashes table (JSON); the URL fragment is the fallback.
    pub sha256: Option<String>,
    pub requires_python: Option<String>,
    pub yanked: Option<String>,
    pub size: Option<u64>,
    pub upload_time: Option<String>,
    pub core_metadata: Option<Option<String>>,
    pub provenance: Option<String>,
}

/// Parse the page URL the body was fetched from.
pub(super) fn page_base(page_url: &str) -> Result<Url, super::ReadError> {
    match Url::parse(page_url) {
        Ok(url) if is_http(&url) => Ok(url),
        _ => Err(super::ReadError::malformed(format!(
            "the page URL {page_url:?} is not an http(s) URL"
        ))),
    }
}

fn is_http(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https") && url.host().is_some()
}

/// `href` resolved against `base`, when it is an http(s) URL of a bounded length.
pub(super) fn resolve(base: &Url, href: &str) -> Option<Url> {
    if href.len() > MAX_URL_BYTES {
        return None;
    }
    let url = base.join(href.trim()).ok()?;
    (is_http(&url) && url.as_str().len() <= MAX_URL_BYTES).then_some(url)
}

/// A sha256 hex digest in any case, lower-cased; `None` for anything else.
pub(super) fn sha256_hex(value: &str) -> Option<String> {
    (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| value.to_ascii_lowercase())
}

/// The sha256 a URL fragment names (`#sha256=…`, also after `&` as pip's
/// `[#&]sha256=([^&]*)` reads it); other algorithms are not kept.
pub(super) fn fragment_sha256(url: &Url) -> Option<String> {
    url.fragment()?
        .split('&')
        .find_map(|part| part.strip_prefix("sha256="))
        .and_then(sha256_hex)
}

/// The sha256 in a `hash=value` string (`data-core-metadata`); `None` for other algorithms.
pub(super) fn named_sha256(value: &str) -> Option<String> {
    let (name, hex) = value.split_once('=')?;
    if name.eq_ignore_ascii_case("sha256") {
        sha256_hex(hex)
    } else {
        None
    }
}

/// The last path segment of `url`, percent-decoded (how pip and uv name an HTML link's file).
fn url_filename(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    let bytes: Vec<u8> = percent_decode(segment.as_bytes());
    String::from_utf8(bytes).ok()
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'%'
            && let (Some(h), Some(l)) = (
                input.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                input.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// A filename strongroom can name in a URL path segment and a blob key: one non-empty path
/// component, no separators, no control characters, bounded.
pub(super) fn usable_filename(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILENAME_BYTES
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// The archive endings pip installs a source distribution from (`SUPPORTED_EXTENSIONS`
/// less `.whl`); other files (eggs, installers) are no distribution an installer takes.
const SDIST_ENDINGS: &[&str] = &[
    ".tar.gz",
    ".tgz",
    ".tar",
    ".zip",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
];

/// The release version `filename` is a distribution of, when it is one of `project`'s: a
/// wheel whose name part normalises to the project, or an sdist whose stem splits (at any
/// `-`, as pip splits it knowing the project) into the project's name and a PEP 440 version.
/// `None` for another project's file, which pip and uv skip on this page.
pub fn dist_version(filename: &str, project: &NormalizedName) -> Option<Version> {
    if filename.ends_with(".whl") {
        let wheel = WheelFilename::parse(filename).ok()?;
        return name_matches_project(&wheel.name, project).then_some(wheel.version);
    }
    let stem = SDIST_ENDINGS
        .iter()
        .find_map(|ending| filename.strip_suffix(ending))?;
    stem.match_indices('-').find_map(|(at, _)| {
        if !name_matches_project(&stem[..at], project) {
            return None;
        }
        Version::parse(&stem[at + 1..]).ok()
    })
}

/// `upload-time` as PEP 700 allows it (RFC 3339 / ISO 8601 with a `Z` or offset, optional
/// fraction): kept as given when it has that shape, dropped otherwise (a file without a usable
/// upload time counts as new).
pub(super) fn valid_upload_time(value: &str) -> bool {
    let b = value.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if b.len() < 20 || b.len() > 40 {
        return false;
    }
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        std::str::from_utf8(&b[r])
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(99)
    };
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        b"Z" | b"z" => true,
        [sign, h1, h2, b':', m1, m2] => {
            matches!(sign, b'+' | b'-') && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// Text kept from a page for a person to read (reasons) or a tool to parse
/// (`requires-python`): control characters become spaces, so a reason cannot carry terminal
/// escapes into an installer's output, and the text reads back the same from either format.
pub(super) fn clean_text(s: String) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    } else {
        s
    }
}

/// A reason as kept: cleaned and cut to [`MAX_REASON_BYTES`].
pub(super) fn reason(s: String) -> String {
    truncate(clean_text(s), MAX_REASON_BYTES)
}

/// Cut `s` to at most `max` bytes on a character boundary.
pub(super) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Apply the checks to one entry: `None` drops the file (as pip skips a link it cannot use,
/// or one of another project).
pub(super) fn finish(project: &NormalizedName, base: &Url, raw: RawFile) -> Option<UpstreamFile> {
    let url = resolve(base, &raw.href)?;
    let filename = match raw.filename {
        Some(name) => name,
        None => url_filename(&url)?,
    };
    if !usable_filename(&filename) || dist_version(&filename, project).is_none() {
        return None;
    }
    let sha256 = raw.sha256.or_else(|| fragment_sha256(&url));
    let mut url = url;
    url.set_fragment(None);
    let requires_python = raw
        .requires_python
        .map(|rp| clean_text(rp).trim().to_owned())
        .filter(|rp| !rp.is_empty());
    if requires_python
        .as_ref()
        .is_some_and(|rp| rp.len() > MAX_REQUIRES_PYTHON_BYTES)
    {
        return None;
    }
    Some(UpstreamFile {
        filename,
        url: url.into(),
        sha256,
        requires_python,
        yanked: raw.yanked.map(reason),
        size: raw.size,
        upload_time: raw
            .upload_time
            .map(|t| t.trim().to_owned())
            .filter(|t| valid_upload_time(t)),
        core_metadata: raw.core_metadata,
        provenance: raw
            .provenance
            .and_then(|p| resolve(base, &p))
            .map(String::from),
    })
}
