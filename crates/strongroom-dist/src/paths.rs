//! Member-name rules shared by ZIP and tar: valid UTF-8, no control characters, and no path
//! that could escape or confuse an extraction directory.

use crate::DistError;

/// True for characters no member name may contain: C0/C1 controls, DEL, and the Unicode line
/// and paragraph separators (which Python's `str.splitlines` treats as line breaks in RECORD).
pub(crate) fn is_forbidden_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Decode a raw member name: UTF-8 only, no control characters.
pub(crate) fn decode_name(raw: &[u8]) -> Result<String, DistError> {
    if raw.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(DistError::InvalidCharacter {
            path: String::from_utf8_lossy(raw).into_owned(),
        });
    }
    let name = std::str::from_utf8(raw).map_err(|_| DistError::NonUtf8Filename {
        path: String::from_utf8_lossy(raw).into_owned(),
    })?;
    if name.chars().any(is_forbidden_char) {
        return Err(DistError::InvalidCharacter {
            path: name.to_owned(),
        });
    }
    Ok(name.to_owned())
}

/// Check a decoded member name (directories may end with one `/`).
///
/// Refuses: empty names, absolute paths, backslashes, `..`, `.` and empty components, any
/// colon (drive letters such as `C:` and NTFS alternate data streams), and components another
/// file system cannot hold as written (`portable`).
pub(crate) fn check_member_path(path: &str) -> Result<(), DistError> {
    let invalid = || DistError::InvalidPath {
        path: path.to_owned(),
    };
    if path.chars().any(is_forbidden_char) {
        return Err(DistError::InvalidCharacter {
            path: path.to_owned(),
        });
    }
    if path.is_empty() || path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err(invalid());
    }
    let body = path.strip_suffix('/').unwrap_or(path);
    if body.is_empty() {
        return Err(invalid());
    }
    for component in body.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(invalid());
        }
    }
    for component in body.split('/') {
        crate::portable::check_component(component).map_err(|reason| {
            DistError::UnportableName {
                path: path.to_owned(),
                reason,
            }
        })?;
    }
    Ok(())
}

/// The first path component of a member name (the whole name if it has no `/`).
pub(crate) fn top_component(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}
