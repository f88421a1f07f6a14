//! PEP 440 versions as PyPI handles them: the raw spelling, the normal form stored
//! for a release, the canonical form that identifies a release, and Requires-Python
//! specifier validation.
//!
//! * `normalized()` is `str(packaging.version.Version(v))`: `v1.0` → `1.0`,
//!   `0.1.2-1` → `0.1.2.post1`.
//! * `canonical()` is `packaging.utils.canonicalize_version(v)`: the normal form with
//!   trailing zero release components removed, so `1.0` and `1.0.0` are one release.
//! * Parsing is strict and bounded: ASCII only, no whitespace, at most
//!   [`MAX_VERSION_LEN`] characters (as given and in normal form), and numeric components
//!   that do not fit in 64 bits are a clean error, never a panic.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::pyrepr::py_repr;

/// Longest version string accepted.
pub const MAX_VERSION_LEN: usize = 100;

/// Why a version string was refused. The `Invalid` text is packaging's `InvalidVersion`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not a PEP 440 version (includes empty, whitespace and non-ASCII input).
    #[error("Invalid version: {}", py_repr(.0))]
    Invalid(String),
    /// A numeric component does not fit in an unsigned 64-bit integer.
    #[error("Invalid version: {} (a numeric component is too large)", py_repr(.0))]
    NumberTooLarge(String),
    /// Longer than [`MAX_VERSION_LEN`] characters.
    #[error("Invalid version: longer than {max} characters ({len})", max = MAX_VERSION_LEN)]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },
}

/// A PEP 440 version, remembering how it was spelled.
///
/// Equality, ordering and hashing follow PEP 440 (`1.0 == 1.0.0`, `1.0rc1 < 1.0`,
/// `1!0.1 > 2.0`); `Display` and serde use the normalized form.
#[derive(Debug, Clone)]
pub struct Version {
    raw: String,
    parsed: pep440_rs::Version,
}

impl Version {
    /// Parse a version string strictly (see the module docs for the bounds).
    pub fn parse(raw: &str) -> Result<Self, VersionError> {
        if raw.len() > MAX_VERSION_LEN {
            return Err(VersionError::TooLong { len: raw.len() });
        }
        if raw.is_empty() || !raw.is_ascii() || raw.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(VersionError::Invalid(raw.to_owned()));
        }
        if has_oversized_number(raw) {
            return Err(VersionError::NumberTooLarge(raw.to_owned()));
        }
        let parsed =
            pep440_rs::Version::from_str(raw).map_err(|_| VersionError::Invalid(raw.to_owned()))?;
        // The normal form is what is stored and typed back (`yank`, URLs): it must parse too,
        // and it can be longer than the spelling given (`1c` → `1rc0`, `1-1` → `1.post1`).
        let normal_len = parsed.to_string().len();
        if normal_len > MAX_VERSION_LEN {
            return Err(VersionError::TooLong { len: normal_len });
        }
        Ok(Self {
            raw: raw.to_owned(),
            parsed,
        })
    }

    /// The string exactly as given.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// PEP 440 normal form (what PyPI stores as the release version).
    pub fn normalized(&self) -> String {
        self.parsed.to_string()
    }

    /// `canonicalize_version`: the normal form without trailing `.0` release components.
    /// Two versions with the same canonical form are the same release.
    pub fn canonical(&self) -> String {
        let release = self.parsed.release();
        let keep = release
            .iter()
            .rposition(|&n| n != 0)
            .map_or(1, |last_nonzero| last_nonzero + 1);
        let trimmed: Vec<u64> = release.iter().take(keep).copied().collect();
        let trimmed = if trimmed.is_empty() { vec![0] } else { trimmed };
        self.parsed.clone().with_release(trimmed).to_string()
    }

    /// Has a local segment (`1.0+abc`).
    pub fn is_local(&self) -> bool {
        self.parsed.is_local()
    }

    /// A pre-release or development release (`packaging`'s `is_prerelease`).
    pub fn is_prerelease(&self) -> bool {
        self.parsed.any_prerelease()
    }

    /// Has a post-release segment (`1.0.post1`, `1.0-1`).
    pub fn is_postrelease(&self) -> bool {
        self.parsed.is_post()
    }

    /// The epoch (`1!2.0` → 1).
    pub fn epoch(&self) -> u64 {
        self.parsed.epoch()
    }

    /// The release numbers (`1.2.3` → `[1, 2, 3]`).
    pub fn release(&self) -> &[u64] {
        self.parsed.release()
    }

    /// The underlying parsed version.
    pub fn as_pep440(&self) -> &pep440_rs::Version {
        &self.parsed
    }
}

/// True when a run of digits cannot be a `u64` (leading zeros are fine).
fn has_oversized_number(raw: &str) -> bool {
    raw.split(|c: char| !c.is_ascii_digit())
        .filter(|run| !run.is_empty())
        .any(|run| {
            let significant = run.trim_start_matches('0');
            !significant.is_empty() && significant.parse::<u64>().is_err()
        })
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parsed.cmp(&other.parsed)
    }
}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parsed.hash(state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.parsed, f)
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.normalized())
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A Requires-Python value that is not a valid PEP 440 specifier set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is invalid for 'requires-python'", py_repr(.value))]
pub struct SpecifierError {
    /// The value as given.
    pub value: String,
}

/// Validate a Requires-Python value the way `packaging.specifiers.SpecifierSet` does:
/// comma-separated specifiers, empty items ignored, each a valid PEP 440 specifier.
pub fn validate_requires_python(
    value: &str,
) -> Result<pep440_rs::VersionSpecifiers, SpecifierError> {
    let err = || SpecifierError {
        value: value.to_owned(),
    };
    if !value.is_ascii() || value.len() > 1000 || has_oversized_number(value) {
        return Err(err());
    }
    let mut specifiers = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        specifiers.push(pep440_rs::VersionSpecifier::from_str(part).map_err(|_| err())?);
    }
    Ok(specifiers.into_iter().collect())
}

#[cfg(test)]
mod tests;
