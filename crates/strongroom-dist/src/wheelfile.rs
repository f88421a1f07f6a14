//! `.dist-info/WHEEL`: the `Key: value` header block with `Wheel-Version`, `Root-Is-Purelib`
//! and one `Tag:` line per expanded compatibility tag. Only `Wheel-Version` 1.x is accepted
//! (installers refuse a newer major version; a newer minor version is fine).
//!
//! pip and installer read WHEEL with Python's `email.parser`; the header block is split by the
//! same rules here (`strongroom_protocol::header_block`), so a `Wheel-Version` after a line
//! that ends the block (`Wheel-Version : 2.0`, a blank line) is not read by either.

use crate::DistError;

/// Most header lines read from WHEEL (one per tag; real wheels have a few dozen at most).
const MAX_HEADERS: usize = 10_000;

/// The facts in a WHEEL file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WheelFile {
    pub version: String,
    pub root_is_purelib: Option<bool>,
    pub tags: Vec<String>,
}

fn is_tag_part(part: &str) -> bool {
    !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Parse WHEEL; `path` only labels error messages.
pub(crate) fn parse(path: &str, bytes: &[u8]) -> Result<WheelFile, DistError> {
    let invalid = |reason: String| DistError::InvalidWheelFile {
        path: path.to_owned(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("not valid UTF-8".to_owned()))?;
    let block = strongroom_protocol::header_block::split(text, MAX_HEADERS)
        .map_err(|e| invalid(e.to_string()))?;
    let mut version: Option<String> = None;
    let mut purelib: Option<bool> = None;
    let mut tags = Vec::new();
    for header in &block.headers {
        let [value] = header.lines[..] else {
            return Err(invalid("continuation lines are not supported".to_owned()));
        };
        let key = header.name;
        let value = value.trim();
        if key.eq_ignore_ascii_case("Wheel-Version") {
            let valid = value.split_once('.').is_some_and(|(major, minor)| {
                [major, minor]
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            });
            if !valid {
                return Err(invalid(format!("invalid Wheel-Version {value:?}")));
            }
            if version.replace(value.to_owned()).is_some() {
                return Err(invalid("Wheel-Version appears twice".to_owned()));
            }
        } else if key.eq_ignore_ascii_case("Root-Is-Purelib") {
            let flag = if value.eq_ignore_ascii_case("true") {
                true
            } else if value.eq_ignore_ascii_case("false") {
                false
            } else {
                return Err(invalid(format!("invalid Root-Is-Purelib {value:?}")));
            };
            if purelib.replace(flag).is_some() {
                return Err(invalid("Root-Is-Purelib appears twice".to_owned()));
            }
        } else if key.eq_ignore_ascii_case("Tag") {
            let parts: Vec<&str> = value.split('-').collect();
            if parts.len() != 3 || !parts.iter().all(|p| is_tag_part(p)) {
                return Err(invalid(format!("invalid Tag {value:?}")));
            }
            tags.push(value.to_owned());
        }
    }
    let version = version.ok_or_else(|| {
        // Say where the block ended when a line that is no header ended it early.
        match block.body.lines().next().filter(|l| !l.trim().is_empty()) {
            Some(line) => invalid(format!(
                "no Wheel-Version before {line:?}, which ends the header block (it is not a 'Name: value' line)"
            )),
            None => invalid("no Wheel-Version".to_owned()),
        }
    })?;
    // pip and uv refuse a major version above the one they know (and only warn about a newer
    // minor version), so such a wheel could never be installed.
    let major = version
        .split('.')
        .next()
        .unwrap_or("")
        .trim_start_matches('0');
    if major.len() > 1 || major > "1" {
        return Err(DistError::UnsupportedWheelVersion {
            path: path.to_owned(),
            version,
        });
    }
    Ok(WheelFile {
        version,
        root_is_purelib: purelib,
        tags,
    })
}
