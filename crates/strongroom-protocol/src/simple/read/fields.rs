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
///
/// Only filenames an upload could carry are kept: printable ASCII without spaces (no bidi
/// override, no look-alike letters: the name is shown to admins and kept as a blob key) and,
/// for a wheel, tags of letters, digits and `_` ([`WheelFilename::parse`]). Anything else is
/// dropped like another unusable entry.
pub fn dist_version(filename: &str, project: &NormalizedName) -> Option<Version> {
    if !filename.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
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

/// `upload-time` in the form every installer reads: `yyyy-mm-ddThh:mm:ssZ` or
/// `yyyy-mm-ddThh:mm:ss.ffffffZ` (PEP 700's form; pip on Python before 3.11 reads nothing
/// else, and one value it cannot read stops its whole run). A PEP 700 / RFC 3339 value in
/// another spelling (lower-case `t`/`z`, a space, an offset, 1–9 fraction digits) is
/// rewritten to the same instant in that form; an impossible date or anything else is
/// dropped (a file without an upload time counts as new).
pub fn normal_upload_time(value: &str) -> Option<String> {
    let b = value.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    let shaped = sep(4, b'-')
        && sep(7, b'-')
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && sep(13, b':')
        && sep(16, b':');
    if !shaped {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year < 1
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = None;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        let digits: String = frac[..n.min(6)].iter().map(|&c| char::from(c)).collect();
        micros = Some(format!("{digits:0<6}"));
        rest = &frac[n..];
    }
    let offset_minutes = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let (h, m) = (digit(h1)? * 10 + digit(h2)?, digit(m1)? * 10 + digit(m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        _ => return None,
    };
    let minutes = days_from_civil(year, month, day) * 1440 + hour * 60 + minute - offset_minutes;
    let (days, in_day) = (minutes.div_euclid(1440), minutes.rem_euclid(1440));
    let (year, month, day) = civil_from_days(days);
    if !(1..=9999).contains(&year) {
        return None;
    }
    let fraction = micros.map(|m| format!(".{m}")).unwrap_or_default();
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{second:02}{fraction}Z",
        in_day / 60,
        in_day % 60
    ))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
        upload_time: raw.upload_time.as_deref().and_then(normal_upload_time),
        core_metadata: raw.core_metadata,
        provenance: raw
            .provenance
            .and_then(|p| resolve(base, &p))
            .map(String::from),
    })
}
