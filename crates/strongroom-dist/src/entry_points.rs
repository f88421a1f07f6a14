//! `.dist-info/entry_points.txt`: parsed as Python's `configparser` would (with `=` as the only
//! delimiter and case-sensitive keys), but strictly, then checked as Warehouse's
//! `_validate_entrypoints` does and beyond.
//!
//! Script names in `console_scripts`, `gui_scripts` (and `DEFAULT`, which configparser merges
//! into every section) must match `[\w.-]+` and not be all dots, because installers turn them
//! into file names; their values must be object references (`pkg.mod:obj.attr [extras]`),
//! because installers paste them into generated Python code.

use std::collections::HashSet;

use crate::DistError;

const SCRIPT_SECTIONS: [&str; 3] = ["console_scripts", "gui_scripts", "DEFAULT"];

fn invalid(reason: impl Into<String>) -> DistError {
    DistError::InvalidEntryPoints {
        reason: reason.into(),
    }
}

struct Entry {
    section: String,
    name: String,
    value: String,
    multiline: bool,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_') && chars.all(is_word)
}

fn is_dotted(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_identifier)
}

/// `module(.sub)*(:attr(.attr)*)?` optionally followed by `[extra, ...]`.
fn is_object_reference(value: &str) -> bool {
    let (reference, extras) = match value.find('[') {
        Some(open) => (value[..open].trim_end(), Some(&value[open..])),
        None => (value, None),
    };
    if let Some(extras) = extras {
        let Some(inner) = extras.strip_prefix('[').and_then(|e| e.strip_suffix(']')) else {
            return false;
        };
        let ok = inner.split(',').all(|extra| {
            let extra = extra.trim();
            !extra.is_empty() && extra.chars().all(|c| is_word(c) || c == '-' || c == '.')
        });
        if !ok {
            return false;
        }
    }
    match reference.split_once(':') {
        Some((module, attr)) => is_dotted(module.trim()) && is_dotted(attr.trim()),
        None => is_dotted(reference),
    }
}

fn is_script_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| is_word(c) || c == '.' || c == '-')
        && !name.chars().all(|c| c == '.')
}

fn parse(text: &str) -> Result<Vec<Entry>, DistError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut sections: HashSet<String> = HashSet::new();
    let mut keys: HashSet<(String, String)> = HashSet::new();
    let mut section: Option<String> = None;
    // Indentation of the current option line, while a value may still continue.
    let mut option_indent: Option<usize> = None;
    for (number, raw) in text.split('\n').enumerate() {
        let line_no = number + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let stripped = line.trim();
        if stripped.is_empty() || stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if let (Some(base), Some(last)) = (option_indent, entries.last_mut())
            && indent > base
        {
            last.value.push('\n');
            last.value.push_str(stripped);
            last.multiline = true;
            continue;
        }
        option_indent = None;
        if let Some(header) = stripped.strip_prefix('[') {
            let name = header
                .strip_suffix(']')
                .filter(|n| !n.is_empty())
                .ok_or_else(|| invalid(format!("malformed section header on line {line_no}")))?;
            if !sections.insert(name.to_owned()) {
                return Err(invalid(format!("section {name:?} appears twice")));
            }
            section = Some(name.to_owned());
            continue;
        }
        let Some(current) = section.clone() else {
            return Err(invalid(format!(
                "entry_points.txt is not a valid INI file: line {line_no} is outside any section"
            )));
        };
        let Some((name, value)) = stripped.split_once('=') else {
            return Err(invalid(format!(
                "entry_points.txt is not a valid INI file: line {line_no} has no '='"
            )));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(invalid(format!("empty entry point name on line {line_no}")));
        }
        if !keys.insert((current.clone(), name.to_owned())) {
            return Err(invalid(format!(
                "entry point {name:?} appears twice in {current:?}"
            )));
        }
        entries.push(Entry {
            section: current,
            name: name.to_owned(),
            value: value.to_owned(),
            multiline: false,
        });
        option_indent = Some(indent);
    }
    Ok(entries)
}

/// Validate the bytes of `entry_points.txt`.
pub(crate) fn validate(bytes: &[u8]) -> Result<(), DistError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| invalid("entry_points.txt is not decodable as UTF-8"))?;
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(invalid("entry_points.txt contains a control character"));
    }
    for entry in parse(text)? {
        let script = SCRIPT_SECTIONS.contains(&entry.section.as_str());
        if script && !is_script_name(&entry.name) {
            return Err(invalid(format!(
                "invalid entry point name {:?} in {:?}",
                entry.name, entry.section
            )));
        }
        if entry.value.is_empty() {
            return Err(invalid(format!(
                "entry point {:?} in {:?} has no value",
                entry.name, entry.section
            )));
        }
        if script && (entry.multiline || !is_object_reference(&entry.value)) {
            return Err(invalid(format!(
                "invalid object reference {:?} for {:?} in {:?}",
                entry.value, entry.name, entry.section
            )));
        }
    }
    Ok(())
}
