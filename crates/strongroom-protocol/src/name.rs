//! Project names: validation, PEP 503 normalisation, the confusable skeleton and the
//! standard-library name check.
//!
//! * Valid name: ASCII only, case-insensitive `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`
//!   (Warehouse `PROJECT_NAME_RE`).
//! * Normalized name (PEP 503): lowercase, every run of `-`, `_`, `.` becomes one `-`.
//! * Confusable skeleton ([`skeleton`]): script look-alikes folded, separators deleted, `0`/`o`,
//!   `1`/`i`/`l`, `rn`/`m`, `vv`/`w`, `cl`/`d` made equal (stored as `ultranormalized_name`).
//! * Standard-library names: the set Warehouse builds from the `stdlib-list` package
//!   (every module and dotted prefix of every CPython 2.6–3.14 release, normalised).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::pyrepr::py_repr;

mod skeleton;
pub use skeleton::skeleton;

/// Why a project name was refused. Display strings are Warehouse's upload messages
/// (callers append `" See <help-url> for more information."` where PyPI does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not matching the project-name regex (empty, non-ASCII, bad characters, bad ends).
    #[error("The name {} is invalid.", py_repr(.name))]
    Invalid {
        /// The name as given.
        name: String,
    },
    /// The normalised name is a Python standard-library module name.
    #[error(
        "The name {} isn't allowed (conflict with Python Standard Library module name).",
        py_repr(.name)
    )]
    StdlibConflict {
        /// The name as given.
        name: String,
    },
}

/// True when `name` matches Warehouse's project-name regex.
pub fn is_valid_project_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `name` is its own PEP 503 normalisation ([`normalize`]), read without making it:
/// no uppercase letter, no `_` or `.`, no run of `-`.
pub fn is_normalized(name: &str) -> bool {
    let mut after_dash = false;
    name.chars().all(|c| {
        let ok = match c {
            '-' => !after_dash,
            '_' | '.' => false,
            c if c.is_ascii() => !c.is_ascii_uppercase(),
            c => c.to_lowercase().eq(std::iter::once(c)),
        };
        after_dash = c == '-';
        ok
    })
}

/// PEP 503 normalisation of any string (no validation): lowercase, runs of `-_.` → `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// A valid project name, keeping the display spelling the uploader used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectName(String);

impl ProjectName {
    /// Validate `name` against the project-name regex.
    pub fn new(name: &str) -> Result<Self, NameError> {
        if is_valid_project_name(name) {
            Ok(Self(name.to_owned()))
        } else {
            Err(NameError::Invalid {
                name: name.to_owned(),
            })
        }
    }

    /// Validate a name for a *new* project: the regex, then the standard-library check
    /// (Warehouse's first two `check_project_name` steps; the database steps are the caller's).
    pub fn new_project(name: &str) -> Result<Self, NameError> {
        let valid = Self::new(name)?;
        if is_stdlib_module_name(&valid.normalized()) {
            return Err(NameError::StdlibConflict {
                name: name.to_owned(),
            });
        }
        Ok(valid)
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PEP 503 normalized form.
    pub fn normalized(&self) -> NormalizedName {
        NormalizedName(normalize(&self.0))
    }

    /// The confusable skeleton, see [`skeleton`].
    pub fn skeleton(&self) -> String {
        skeleton(&self.0)
    }
}

/// A PEP 503 normalized project name (`foo-bar`), always derived from a valid name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NormalizedName(String);

impl NormalizedName {
    /// Validate `name` (any spelling) and normalise it: `Foo_Bar` → `foo-bar`.
    pub fn new(name: &str) -> Result<Self, NameError> {
        ProjectName::new(name).map(|n| n.normalized())
    }

    /// The normalized name, e.g. `foo-bar`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used in wheel and PEP 625 sdist filenames: `foo_bar`.
    pub fn underscored(&self) -> String {
        self.0.replace('-', "_")
    }
}

/// True when the (normalized) name is a Python standard-library module or package name
/// in any CPython release Warehouse knows (e.g. `json`, `asyncio`, `os-path`).
pub fn is_stdlib_module_name(name: &NormalizedName) -> bool {
    STDLIB_MODULES.binary_search(&name.as_str()).is_ok()
}

/// Sorted, one per line; generated from `stdlib-list` exactly as Warehouse's
/// `STDLIB_PROHIBITED` (every dotted prefix, canonicalised).
static STDLIB_MODULES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| include_str!("name/stdlib_modules.txt").lines().collect());

macro_rules! string_newtype_impls {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype_impls!(ProjectName);
string_newtype_impls!(NormalizedName);

#[cfg(test)]
mod tests;

/// A pattern of project names (`acme-*`, `acme_*`, `*-internal`): `*` matches any run of
/// characters (also none), `?` one character. Matched on normalised names, and normalised
/// itself, so `acme_*`, `Acme.*` and `acme-*` are one pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    /// Parse a pattern: name characters (letters, digits, `-`, `_`, `.`) and `*`/`?`.
    pub fn new(pattern: &str) -> Result<NamePattern, String> {
        let p = pattern.trim();
        if p.is_empty() {
            return Err("an empty name pattern".into());
        }
        if p.len() > 200 {
            return Err(format!("name pattern '{p}' is longer than 200 characters"));
        }
        if let Some(c) = p
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*' | '?')))
        {
            return Err(format!(
                "name pattern '{p}': '{c}' is not allowed (letters, digits, -, _, ., * and ?)"
            ));
        }
        if p.chars().all(|c| c == '*') {
            return Err(format!("name pattern '{p}' would match every name"));
        }
        // Normalise as PEP 503 does, leaving the wildcards where they are.
        let mut out = String::with_capacity(p.len());
        let mut in_sep = false;
        for c in p.chars() {
            if matches!(c, '-' | '_' | '.') {
                if !in_sep {
                    out.push('-');
                }
                in_sep = true;
            } else {
                out.push(c.to_ascii_lowercase());
                in_sep = false;
            }
        }
        Ok(NamePattern(out))
    }

    /// The normalised pattern text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the pattern has no wildcard (it names one project).
    pub fn is_literal(&self) -> bool {
        !self.0.contains(['*', '?'])
    }

    /// Does the normalised `name` match? Linear in the sizes (two-pointer wildcard match).
    pub fn matches(&self, name: &NormalizedName) -> bool {
        let (p, n) = (self.0.as_bytes(), name.as_str().as_bytes());
        let (mut i, mut j) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while j < n.len() {
            if i < p.len() && (p[i] == b'?' || p[i] == n[j]) {
                i += 1;
                j += 1;
            } else if i < p.len() && p[i] == b'*' {
                star = Some((i, j));
                i += 1;
            } else if let Some((si, sj)) = star {
                i = si + 1;
                j = sj + 1;
                star = Some((si, sj + 1));
            } else {
                return false;
            }
        }
        while i < p.len() && p[i] == b'*' {
            i += 1;
        }
        i == p.len()
    }
}

#[cfg(test)]
mod pattern_tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        NamePattern::new(p)
            .expect("pattern")
            .matches(&NormalizedName::new(n).expect("name"))
    }

    #[test]
    fn patterns_match_normalised_names() {
        assert!(m("acme-*", "acme-tools"));
        assert!(m("acme_*", "Acme.Tools"));
        assert!(m("ACME.*", "acme_tools"));
        assert!(!m("acme-*", "acme"));
        assert!(!m("acme-*", "notacme-tools"));
        assert!(m("*-internal", "billing-internal"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "abbc"));
        assert!(m("acme", "ACME"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(NamePattern::new("acme").expect("p").is_literal());
        assert!(!NamePattern::new("acme-*").expect("p").is_literal());
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        assert!(NamePattern::new("").is_err());
        assert!(
            NamePattern::new("**")
                .expect_err("refused")
                .contains("every name")
        );
        assert!(
            NamePattern::new("acme/*")
                .expect_err("refused")
                .contains("'/'")
        );
    }
}
