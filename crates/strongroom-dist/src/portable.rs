//! Member names that Windows or macOS cannot hold as written, or would read as another name.
//!
//! An archive is installed on every platform, so a name Linux keeps apart but another file system
//! rewrites, drops or redirects means what gets installed there differs from what RECORD vouched
//! for (or an extraction writes outside the intended file). Refused, per path component:
//! - a trailing dot or space (Windows strips them: `x.py.` is `x.py`);
//! - a Windows device name (`CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`, `LPT0`–`LPT9`, the
//!   superscript-digit forms, `CONIN$`, `CONOUT$`), in any case and with any extension;
//! - a character Windows refuses in names (`<>"|?*`; controls, `\` and `:` are refused by
//!   `paths` already);
//! - an 8.3 short-name form (`PROGRA~1`, `LONGMO~1.PY`), which can name another member's file;
//! - an invisible (Unicode default-ignorable) code point: zero-width characters, the soft
//!   hyphen, the byte-order mark, bidirectional controls, variation selectors. HFS+ drops some
//!   of them, and a reviewer cannot see any of them (`__init\u{200d}__.py` reads as
//!   `__init__.py`).
//!
//! Names that differ only in case or normalisation are `collisions`' to refuse; its key also
//! drops what this module refuses, so the two rules cannot drift apart.

use std::fmt;

/// Why one path component is not portable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unportable {
    /// Ends with `.` or ` `.
    TrailingDotOrSpace { component: String },
    /// A Windows device name, with or without an extension.
    ReservedName { component: String },
    /// A character Windows does not allow in names.
    WindowsCharacter { character: char },
    /// Has the form of a Windows 8.3 short name.
    ShortName { component: String },
    /// An invisible (default-ignorable) code point.
    Invisible { character: char },
}

impl fmt::Display for Unportable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unportable::TrailingDotOrSpace { component } => write!(
                f,
                "the name {component:?} ends with a dot or a space, which Windows drops"
            ),
            Unportable::ReservedName { component } => {
                write!(f, "{component:?} is a reserved device name on Windows")
            }
            Unportable::WindowsCharacter { character } => write!(
                f,
                "the character {character:?} is not allowed in file names on Windows"
            ),
            Unportable::ShortName { component } => write!(
                f,
                "{component:?} has the form of a Windows 8.3 short name, which can refer to another file"
            ),
            Unportable::Invisible { character } => write!(
                f,
                "it contains the invisible character U+{:04X}, which some file systems ignore",
                u32::from(*character)
            ),
        }
    }
}

/// Unicode's `Default_Ignorable_Code_Point` property (DerivedCoreProperties.txt, Unicode 15),
/// as inclusive ranges.
const DEFAULT_IGNORABLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// True for an invisible code point some file systems ignore (see [`DEFAULT_IGNORABLE`]).
pub(crate) fn is_default_ignorable(c: char) -> bool {
    let c = u32::from(c);
    DEFAULT_IGNORABLE
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Characters Windows refuses in names besides controls, `\`, `/` and `:`.
const WINDOWS_FORBIDDEN: &[char] = &['<', '>', '"', '|', '?', '*'];

/// Windows device names (compared case-insensitively with the part before the first dot).
const RESERVED: &[&str] = &[
    "CON",
    "PRN",
    "AUX",
    "NUL",
    "CONIN$",
    "CONOUT$",
    "COM0",
    "COM1",
    "COM2",
    "COM3",
    "COM4",
    "COM5",
    "COM6",
    "COM7",
    "COM8",
    "COM9",
    "COM\u{b9}",
    "COM\u{b2}",
    "COM\u{b3}",
    "LPT0",
    "LPT1",
    "LPT2",
    "LPT3",
    "LPT4",
    "LPT5",
    "LPT6",
    "LPT7",
    "LPT8",
    "LPT9",
    "LPT\u{b9}",
    "LPT\u{b2}",
    "LPT\u{b3}",
];

/// Whether `component` reads as an 8.3 short name: a stem of at most 8 characters ending in
/// `~` and digits, and at most one extension of at most 3 characters.
fn is_short_name(component: &str) -> bool {
    let (stem, ext) = component.split_once('.').unwrap_or((component, ""));
    if ext.contains('.') || ext.chars().count() > 3 || stem.chars().count() > 8 {
        return false;
    }
    let digits = stem.trim_end_matches(|c: char| c.is_ascii_digit());
    digits.len() < stem.len() && digits.ends_with('~')
}

/// Check one path component (not empty, not `.` or `..`: `paths` refused those).
pub(crate) fn check_component(component: &str) -> Result<(), Unportable> {
    if let Some(character) = component.chars().find(|&c| is_default_ignorable(c)) {
        return Err(Unportable::Invisible { character });
    }
    if let Some(&character) = WINDOWS_FORBIDDEN.iter().find(|c| component.contains(**c)) {
        return Err(Unportable::WindowsCharacter { character });
    }
    if component.ends_with(['.', ' ']) {
        return Err(Unportable::TrailingDotOrSpace {
            component: component.to_owned(),
        });
    }
    // Windows ignores spaces before the extension when it matches device names (`NUL .txt`).
    let stem = component.split('.').next().unwrap_or(component);
    let stem = stem.trim_end_matches(' ');
    if RESERVED
        .iter()
        .any(|r| r.len() == stem.len() && r.eq_ignore_ascii_case(stem))
    {
        return Err(Unportable::ReservedName {
            component: component.to_owned(),
        });
    }
    if is_short_name(component) {
        return Err(Unportable::ShortName {
            component: component.to_owned(),
        });
    }
    Ok(())
}
