//! Distribution filenames: basic upload-filename checks, wheel (PEP 427/491) and sdist
//! (PEP 625, plus legacy spellings) parsing, and the name/version cross-checks PyPI
//! makes against the release being uploaded.
//!
//! Messages are Warehouse's (`_validate_filename`, `packaging.utils.parse_*_filename`,
//! and the checks in `file_upload`).

use std::fmt;

use crate::name::{NormalizedName, is_valid_project_name, normalize};
use crate::pyrepr::py_repr;
use crate::version::{MAX_VERSION_LEN, Version};

mod platform;
pub use platform::is_allowed_platform_tag;

/// Longest filename accepted (a common filesystem limit).
pub const MAX_FILENAME_LEN: usize = 255;
/// Longest wheel filename accepted: its PEP 658 `<filename>.metadata` must also fit.
pub const MAX_WHEEL_FILENAME_LEN: usize = MAX_FILENAME_LEN - ".metadata".len();

const PEP_527_URL: &str = "https://www.python.org/dev/peps/pep-0527";

/// Why a filename was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilenameError {
    /// NUL, another C0 control character or DEL.
    #[error(
        "Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL character (ordinal 127) in the name."
    )]
    ControlCharacter,
    /// A `/` or `\`.
    #[error("Cannot upload a file with '/' or '\\' in the name.")]
    PathSeparator,
    /// Not `.tar.gz`, `.zip` or `.whl`.
    #[error(
        "Invalid file extension: Use .tar.gz, .whl or .zip extension. See {PEP_527_URL} and https://peps.python.org/pep-0715/ for more information"
    )]
    InvalidExtension,
    /// The extension does not fit the declared `filetype`.
    #[error(
        "Invalid file extension: Extension {extension} is invalid for filetype {filetype}. See {PEP_527_URL} for more information."
    )]
    ExtensionMismatch {
        /// The extension found, e.g. `.whl`.
        extension: String,
        /// The declared filetype, e.g. `sdist`.
        filetype: String,
    },
    /// Too many bytes to store safely.
    #[error("Filename is too long: '{filename}'")]
    TooLong {
        /// The filename.
        filename: String,
    },
    /// A `.whl` that is not `{name}-{version}(-{build})?-{py}-{abi}-{plat}`.
    #[error("{message}")]
    InvalidWheel {
        /// packaging's `InvalidWheelFilename` text.
        message: String,
    },
    /// An sdist that is not `{name}-{version}.tar.gz` / `.zip`.
    #[error("Invalid source distribution filename: {filename}")]
    InvalidSdist {
        /// The filename.
        filename: String,
    },
    /// A platform tag not on PyPI's allow-list.
    #[error("Binary wheel '{filename}' has an unsupported platform tag '{tag}'.")]
    UnsupportedPlatformTag {
        /// The filename.
        filename: String,
        /// The refused tag.
        tag: String,
    },
    /// The name part of the filename normalises to another project.
    #[error("Start filename for {} with {}.", py_repr(.project), py_repr(.expected_prefix))]
    WrongProject {
        /// The project's display name.
        project: String,
        /// The normalized name with `_` for `-`.
        expected_prefix: String,
    },
    /// The sdist filename is not exactly the PEP 625 form.
    #[error("Filename {} is invalid, should be {}.", py_repr(.filename), py_repr(.expected))]
    NotNormalized {
        /// The filename.
        filename: String,
        /// `{name_with_underscores}-{normalized_version}.tar.gz`.
        expected: String,
    },
    /// The wheel's name part is not exactly the normalized name with underscores.
    #[error(
        "Filename {} should contain the normalized project name {}, not {}.",
        py_repr(.filename), py_repr(.expected), py_repr(.found)
    )]
    WheelNameNotNormalized {
        /// The filename.
        filename: String,
        /// The expected name part.
        expected: String,
        /// The name part found.
        found: String,
    },
    /// The version in the filename differs from the release version.
    #[error("Version in filename should be {} not {}.", py_repr(.expected), py_repr(.found))]
    WrongVersion {
        /// The release version (normalized).
        expected: String,
        /// The filename version (normalized).
        found: String,
    },
}

/// The two sdist archive formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdistKind {
    /// `.tar.gz` (the only form PEP 625 allows).
    TarGz,
    /// `.zip` (legacy).
    Zip,
}

impl SdistKind {
    /// The extension including the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::TarGz => ".tar.gz",
            Self::Zip => ".zip",
        }
    }
}

/// A parsed source-distribution filename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdistFilename {
    /// The name part exactly as written.
    pub name: String,
    /// The version part.
    pub version: Version,
    /// Archive format.
    pub kind: SdistKind,
}

impl SdistFilename {
    /// Parse `{name}-{version}.tar.gz` / `.zip`, splitting on the last `-` that is
    /// followed by a valid version (so `python-dateutil-2.8.2.tar.gz` works).
    pub fn parse(filename: &str) -> Result<Self, FilenameError> {
        Self::parse_inner(filename, None)
    }

    /// Like [`parse`](Self::parse), but when several splits are possible (a version that
    /// itself contains `-`, e.g. `foo-1.0-1.tar.gz`), prefer the one equal to `expected`.
    pub fn parse_for_version(filename: &str, expected: &Version) -> Result<Self, FilenameError> {
        Self::parse_inner(filename, Some(expected))
    }

    fn parse_inner(filename: &str, expected: Option<&Version>) -> Result<Self, FilenameError> {
        let (stem, kind) = if let Some(stem) = filename.strip_suffix(".tar.gz") {
            (stem, SdistKind::TarGz)
        } else if let Some(stem) = filename.strip_suffix(".zip") {
            (stem, SdistKind::Zip)
        } else {
            return Err(FilenameError::InvalidExtension);
        };
        let mut first_valid = None;
        for (idx, _) in stem.rmatch_indices('-') {
            let (name, version) = (&stem[..idx], &stem[idx + 1..]);
            if name.is_empty() {
                continue;
            }
            let Ok(version) = Version::parse(version) else {
                continue;
            };
            let candidate = Self {
                name: name.to_owned(),
                version,
                kind,
            };
            match expected {
                Some(want) if candidate.version != *want => {
                    first_valid.get_or_insert(candidate);
                }
                _ => return Ok(candidate),
            }
        }
        first_valid.ok_or_else(|| FilenameError::InvalidSdist {
            filename: filename.to_owned(),
        })
    }
}

impl fmt::Display for SdistFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}{}",
            self.name,
            self.version.raw(),
            self.kind.extension()
        )
    }
}

/// A parsed wheel filename: `{dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl`,
/// each tag part possibly a compressed set (`py2.py3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelFilename {
    /// The distribution part exactly as written.
    pub name: String,
    /// The version part.
    pub version: Version,
    /// Optional build tag (starts with a digit).
    pub build_tag: Option<String>,
    /// Python tags, e.g. `["py2", "py3"]`.
    pub python_tags: Vec<String>,
    /// ABI tags, e.g. `["cp311"]`.
    pub abi_tags: Vec<String>,
    /// Platform tags, e.g. `["manylinux_2_17_x86_64", "manylinux2014_x86_64"]`.
    pub platform_tags: Vec<String>,
}

impl WheelFilename {
    /// Parse a wheel filename with `packaging.utils.parse_wheel_filename`'s rules.
    pub fn parse(filename: &str) -> Result<Self, FilenameError> {
        let Some(stem) = filename.strip_suffix(".whl") else {
            return Err(wheel_error(format!(
                "Invalid wheel filename (extension must be '.whl'): {}",
                py_repr(filename)
            )));
        };
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, tags) = match parts.as_slice() {
            [n, v, py, abi, plat] => (*n, *v, None, [*py, *abi, *plat]),
            [n, v, b, py, abi, plat] => (*n, *v, Some(*b), [*py, *abi, *plat]),
            _ => {
                return Err(wheel_error(format!(
                    "Invalid wheel filename (wrong number of parts): {}",
                    py_repr(stem)
                )));
            }
        };
        let name_ok = !name.is_empty()
            && !name.contains("__")
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
        if !name_ok {
            return Err(wheel_error(format!(
                "Invalid project name: {}",
                py_repr(stem)
            )));
        }
        let version = Version::parse(version).map_err(|_| {
            wheel_error(format!(
                "Invalid wheel filename (invalid version): {}",
                py_repr(stem)
            ))
        })?;
        if let Some(build) = build
            && !(build.starts_with(|c: char| c.is_ascii_digit()) && is_tag_text(build))
        {
            return Err(wheel_error(format!(
                "Invalid build number: {build} in {}",
                py_repr(stem)
            )));
        }
        let [python_tags, abi_tags, platform_tags] =
            tags.map(|t| t.split('.').map(str::to_owned).collect::<Vec<String>>());
        let tags_ok = [&python_tags, &abi_tags, &platform_tags]
            .iter()
            .all(|set| set.iter().all(|t| is_tag_text(t)))
            && python_tags.iter().all(|t| is_identifier(t));
        if !tags_ok {
            return Err(wheel_error(format!(
                "Invalid wheel filename (invalid tag component): {}",
                py_repr(stem)
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            version,
            build_tag: build.map(str::to_owned),
            python_tags,
            abi_tags,
            platform_tags,
        })
    }

    /// The first platform tag that PyPI would refuse, if any.
    pub fn unsupported_platform_tag(&self) -> Option<&str> {
        self.platform_tags
            .iter()
            .map(String::as_str)
            .find(|t| !is_allowed_platform_tag(t))
    }

    /// Every `python-abi-platform` combination the compressed tag sets expand to.
    pub fn expanded_tags(&self) -> Vec<String> {
        let mut out = Vec::new();
        for py in &self.python_tags {
            for abi in &self.abi_tags {
                for plat in &self.platform_tags {
                    out.push(format!("{py}-{abi}-{plat}"));
                }
            }
        }
        out
    }
}

impl fmt::Display for WheelFilename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.name, self.version.raw())?;
        if let Some(build) = &self.build_tag {
            write!(f, "-{build}")?;
        }
        write!(
            f,
            "-{}-{}-{}.whl",
            self.python_tags.join("."),
            self.abi_tags.join("."),
            self.platform_tags.join(".")
        )
    }
}

fn wheel_error(message: String) -> FilenameError {
    FilenameError::InvalidWheel { message }
}

/// A wheel tag component or build tag: ASCII letters, digits and `_`, as every tag the
/// packaging tools produce (`cp313t`, `manylinux_2_17_x86_64`, `abi3`); no space, bidi
/// override or look-alike letter, which would show one filename to people and another to
/// tools.
fn is_tag_text(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// A wheel or an sdist filename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DistFilename {
    /// `.whl`
    Wheel(WheelFilename),
    /// `.tar.gz` or `.zip`
    Sdist(SdistFilename),
}

impl DistFilename {
    /// Run [`check_basic`] and parse by extension.
    pub fn parse(filename: &str) -> Result<Self, FilenameError> {
        check_basic(filename)?;
        if filename.ends_with(".whl") {
            if filename.len() > MAX_WHEEL_FILENAME_LEN {
                return Err(FilenameError::TooLong {
                    filename: filename.to_owned(),
                });
            }
            WheelFilename::parse(filename).map(Self::Wheel)
        } else {
            SdistFilename::parse(filename).map(Self::Sdist)
        }
    }

    /// The name part as written.
    pub fn name(&self) -> &str {
        match self {
            Self::Wheel(w) => &w.name,
            Self::Sdist(s) => &s.name,
        }
    }

    /// The version part.
    pub fn version(&self) -> &Version {
        match self {
            Self::Wheel(w) => &w.version,
            Self::Sdist(s) => &s.version,
        }
    }

    /// The upload `filetype` / JSON `packagetype`: `bdist_wheel` or `sdist`.
    pub fn packagetype(&self) -> &'static str {
        match self {
            Self::Wheel(_) => "bdist_wheel",
            Self::Sdist(_) => "sdist",
        }
    }

    /// PyPI's filename checks against the release being uploaded, in PyPI's order:
    /// sdists must name the project and be exactly the PEP 625 filename; wheels must have
    /// allowed platform tags, the exact normalized name part and the release version.
    pub fn check_release(
        &self,
        filename: &str,
        project_display_name: &str,
        project: &NormalizedName,
        version: &Version,
    ) -> Result<(), FilenameError> {
        let wrong_project = || FilenameError::WrongProject {
            project: project_display_name.to_owned(),
            expected_prefix: project.underscored(),
        };
        match self {
            Self::Sdist(sdist) => {
                if !name_matches_project(&sdist.name, project) {
                    return Err(wrong_project());
                }
                let expected = expected_sdist_filename(project, version);
                if filename != expected {
                    return Err(FilenameError::NotNormalized {
                        filename: filename.to_owned(),
                        expected,
                    });
                }
            }
            Self::Wheel(wheel) => {
                if let Some(tag) = wheel.unsupported_platform_tag() {
                    return Err(FilenameError::UnsupportedPlatformTag {
                        filename: filename.to_owned(),
                        tag: tag.to_owned(),
                    });
                }
                if !name_matches_project(&wheel.name, project) {
                    return Err(wrong_project());
                }
                let expected = expected_wheel_name_part(project);
                if wheel.name != expected {
                    return Err(FilenameError::WheelNameNotNormalized {
                        filename: filename.to_owned(),
                        expected,
                        found: wheel.name.clone(),
                    });
                }
                if wheel.version != *version {
                    return Err(FilenameError::WrongVersion {
                        expected: version.normalized(),
                        found: wheel.version.normalized(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Upload-filename checks made before anything else, in Warehouse's order: no control
/// characters or DEL, no path separators, a known extension (case-insensitive, as PyPI),
/// and at most [`MAX_FILENAME_LEN`] bytes.
pub fn check_basic(filename: &str) -> Result<(), FilenameError> {
    if filename.chars().any(|c| (c as u32) < 32 || c == '\u{7f}') {
        return Err(FilenameError::ControlCharacter);
    }
    if filename.contains(['/', '\\']) {
        return Err(FilenameError::PathSeparator);
    }
    extension_of(filename).ok_or(FilenameError::InvalidExtension)?;
    if filename.len() > MAX_FILENAME_LEN {
        return Err(FilenameError::TooLong {
            filename: filename.to_owned(),
        });
    }
    Ok(())
}

/// Check that the extension fits the declared upload `filetype` (`sdist` → `.tar.gz`/`.zip`,
/// `bdist_wheel` → `.whl`).
pub fn check_extension_for_filetype(filename: &str, filetype: &str) -> Result<(), FilenameError> {
    let extension = extension_of(filename).ok_or(FilenameError::InvalidExtension)?;
    let allowed: &[&str] = match filetype {
        "sdist" => &[".tar.gz", ".zip"],
        "bdist_wheel" => &[".whl"],
        _ => &[],
    };
    if allowed.contains(&extension) {
        Ok(())
    } else {
        Err(FilenameError::ExtensionMismatch {
            extension: extension.to_owned(),
            filetype: filetype.to_owned(),
        })
    }
}

/// The extension as written, if it is one of PyPI's (compared case-insensitively) and
/// something precedes it.
fn extension_of(filename: &str) -> Option<&str> {
    [".tar.gz", ".zip", ".whl"].iter().find_map(|ext| {
        let split = filename.len().checked_sub(ext.len())?;
        let (stem, found) = (filename.get(..split)?, filename.get(split..)?);
        (!stem.is_empty() && found.eq_ignore_ascii_case(ext)).then_some(found)
    })
}

/// The PEP 625 sdist filename for a release: `{name_with_underscores}-{version}.tar.gz`.
pub fn expected_sdist_filename(project: &NormalizedName, version: &Version) -> String {
    format!("{}-{}.tar.gz", project.underscored(), version.normalized())
}

/// The exact wheel name part PyPI requires: the normalized name with `_` for `-`.
pub fn expected_wheel_name_part(project: &NormalizedName) -> String {
    project.underscored()
}

/// True when `dir` is the `{name}-{version}` folder of this release: an sdist's single top-level
/// folder, or a wheel's `.dist-info` folder without its suffix.
///
/// The name part must be a valid project name that normalises (PEP 503) to the project, so the
/// legacy spellings old tools wrote (`Django-1.11.29`, `zope.interface-4.1.3`,
/// `python-dateutil-2.2`) match as well as the PEP 625 one (`zope_interface-4.1.3`); the version
/// part must equal the release's version under PEP 440 (`1.0` = `1.0.0`, `1.0b1` = `1.0beta1`).
/// Every `-` is tried as the split, since both the name and (legacy) the version may contain one.
pub fn dist_dir_matches(dir: &str, project: &NormalizedName, version: &Version) -> bool {
    dir.rmatch_indices('-')
        .take_while(|(at, _)| dir.len() - at - 1 <= MAX_VERSION_LEN)
        .any(|(at, _)| {
            let (name, ver) = (&dir[..at], &dir[at + 1..]);
            Version::parse(ver).is_ok_and(|v| v == *version)
                && is_valid_project_name(name)
                && normalize(name) == project.as_str()
        })
}

/// True when the filename's name part normalises to the project.
pub fn name_matches_project(raw_part: &str, project: &NormalizedName) -> bool {
    normalize(raw_part) == project.as_str()
}

#[cfg(test)]
mod tests;
