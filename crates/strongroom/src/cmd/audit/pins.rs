//! Reading the files a lock file pins by sha256 (`strongroom audit`): requirements files with
//! `--hash` (and their `-r` includes), PEP 751 `pylock.toml`, `uv.lock` and `poetry.lock`, each
//! pin with the file and line that names it; a file that cannot be read or parsed is an error
//! naming the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How deep `-r` includes may nest.
const MAX_INCLUDE_DEPTH: usize = 10;
/// The largest lock file read (bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One pinned file: where it was read, what names it, and its sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pin {
    /// The lock file and line (1-based) that pins it.
    pub source: PathBuf,
    pub line: usize,
    /// The requirement or package (`name==version`, or the file name when the lock names it).
    pub what: String,
    /// Lower-case hex.
    pub sha256: String,
}

/// A lock file that cannot be read: the file, the line (0 when the whole file) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)
        }
    }
}

fn err(file: &Path, line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        file: file.to_owned(),
        line,
        message: message.into(),
    }
}

/// The kinds of lock file read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Requirements,
    Pylock,
    UvLock,
    PoetryLock,
}

/// The kind of `path`, by its name (PEP 751: `pylock.toml` or `pylock.*.toml`).
pub(crate) fn format_of(path: &Path) -> Format {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if name == "pylock.toml" || (name.starts_with("pylock.") && name.ends_with(".toml")) {
        Format::Pylock
    } else if name == "uv.lock" {
        Format::UvLock
    } else if name == "poetry.lock" {
        Format::PoetryLock
    } else {
        Format::Requirements
    }
}

/// A lock file's text: a regular file (not a device, pipe or directory), at most
/// [`MAX_FILE_BYTES`] whatever its size claims (`/proc` files claim 0), UTF-8 without NUL bytes
/// (`-r /proc/self/environ` is refused, never echoed).
fn read_text(path: &Path) -> Result<String, ParseError> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| err(path, 0, format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(err(path, 0, "not a regular file: not a lock file"));
    }
    let too_big = || {
        err(
            path,
            0,
            format!("larger than {MAX_FILE_BYTES} bytes: not a lock file"),
        )
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| err(path, 0, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    if bytes.contains(&0) {
        return Err(err(path, 0, "holds NUL bytes: not a lock file"));
    }
    String::from_utf8(bytes).map_err(|_| err(path, 0, "not UTF-8: not a lock file"))
}

/// Text of a lock file quoted in a message: at most 80 characters, hidden characters escaped.
pub(super) fn quoted(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    let more = if cut.len() < s.len() { "…" } else { "" };
    format!("{}{more}", crate::cmd::terminal_text::shown(&cut))
}

/// Every file `path` pins, by its format.
pub(crate) fn read_pins(path: &Path) -> Result<Vec<Pin>, ParseError> {
    match format_of(path) {
        Format::Requirements => {
            let mut out = Vec::new();
            requirements(path, 0, &mut Vec::new(), &mut out)?;
            Ok(out)
        }
        Format::Pylock => pylock(path, &read_text(path)?),
        Format::UvLock => uv_lock(path, &read_text(path)?),
        Format::PoetryLock => poetry_lock(path, &read_text(path)?),
    }
}

// ---- requirements files ----

/// A `sha256:HEX` (or `sha256=HEX`) value: the hex, checked.
fn sha256_value(v: &str) -> Result<Option<String>, String> {
    let Some((algo, hex)) = v.split_once(':').or_else(|| v.split_once('=')) else {
        return Err(format!("'{v}' is not ALGORITHM:HEX"));
    };
    if !algo.eq_ignore_ascii_case("sha256") {
        return Ok(None);
    }
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Some(hex.to_ascii_lowercase()))
    } else {
        Err(format!("'{v}' is not a sha256 (64 hex digits)"))
    }
}

/// The logical lines of a requirements file: continuations (`\` at the end) joined, comments
/// (`#` at the start or after whitespace) dropped; each with the line number it starts on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        let (body, continues) = match line.trim_end().strip_suffix('\\') {
            Some(b) => (b.to_owned(), true),
            None => (line.to_owned(), false),
        };
        let entry = current.get_or_insert_with(|| (i + 1, String::new()));
        entry.1.push(' ');
        entry.1.push_str(&body);
        if !continues && let Some(done) = current.take() {
            out.push(done);
        }
    }
    out.extend(current);
    out.into_iter()
        .map(|(n, l)| (n, l.trim().to_owned()))
        .filter(|(_, l)| !l.is_empty())
        .collect()
}

fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #").or_else(|| line.find("\t#")) {
        Some(i) => &line[..i],
        None => line,
    }
}

fn requirements(
    path: &Path,
    depth: usize,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<Pin>,
) -> Result<(), ParseError> {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    if stack.contains(&canonical) {
        return Err(err(path, 0, "includes itself (a -r loop)"));
    }
    let text = read_text(path)?;
    stack.push(canonical);
    for (n, line) in logical_lines(&text) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        // An include: -r FILE, --requirement FILE, -rFILE, --requirement=FILE (and -c, a
        // constraints file, pins nothing installed by itself but is read the same way).
        let include = match *first {
            "-r" | "--requirement" | "-c" | "--constraint" => Some(
                words
                    .get(1)
                    .map(|s| s.to_string())
                    .ok_or_else(|| err(path, n, format!("{first} needs a file")))?,
            ),
            w if w.starts_with("--requirement=") || w.starts_with("--constraint=") => {
                w.split_once('=').map(|(_, f)| f.to_owned())
            }
            w if (w.starts_with("-r") || w.starts_with("-c")) && w.len() > 2 => {
                Some(w[2..].to_owned())
            }
            _ => None,
        };
        if let Some(inc) = include {
            if depth + 1 > MAX_INCLUDE_DEPTH {
                return Err(err(
                    path,
                    n,
                    format!("includes nest deeper than {MAX_INCLUDE_DEPTH}"),
                ));
            }
            let target = path.parent().unwrap_or(Path::new(".")).join(&inc);
            requirements(&target, depth + 1, stack, out).map_err(|e| {
                if e.file == target && e.line == 0 {
                    err(path, n, format!("-r {inc}: {}", e.message))
                } else {
                    e
                }
            })?;
            continue;
        }
        // Other options on their own line (--index-url, -e, --find-links …) pin nothing.
        if first.starts_with('-') {
            continue;
        }
        let mut hashes = Vec::new();
        let mut what = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            let value = if w == "--hash" {
                i += 1;
                Some(
                    *words
                        .get(i)
                        .ok_or_else(|| err(path, n, "--hash needs a value"))?,
                )
            } else {
                w.strip_prefix("--hash=")
            };
            match value {
                Some(v) => {
                    if let Some(h) = sha256_value(v).map_err(|m| err(path, n, m))? {
                        hashes.push(h);
                    }
                }
                None if w.starts_with("--") => {}
                None => what.push(w),
            }
            i += 1;
        }
        let what = what.join(" ").trim_end_matches(';').to_owned();
        if hashes.is_empty() {
            return Err(err(
                path,
                n,
                format!(
                    "'{}' has no --hash=sha256:… (audit needs pinned hashes)",
                    quoted(&what)
                ),
            ));
        }
        for sha256 in hashes {
            out.push(Pin {
                source: path.to_owned(),
                line: n,
                what: what.clone(),
                sha256,
            });
        }
    }
    stack.pop();
    Ok(())
}

// ---- TOML lock files ----

/// The 1-based line of the first occurrence of `needle` in `text`, or 0: a TOML value carries
/// no position, so the hash's text is looked for (a sha256 is unique enough).
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map_or(0, |i| text[..i].bytes().filter(|b| *b == b'\n').count() + 1)
}

fn parse_toml(path: &Path, text: &str) -> Result<toml::Table, ParseError> {
    text.parse::<toml::Table>().map_err(|e| {
        let line = e.span().map_or(0, |s| {
            let before = &text.as_bytes()[..s.start.min(text.len())];
            before.iter().filter(|b| **b == b'\n').count() + 1
        });
        err(path, line, format!("not TOML: {}", e.message()))
    })
}

fn str_of<'a>(t: &'a toml::Table, key: &str) -> Option<&'a str> {
    t.get(key).and_then(|v| v.as_str())
}

struct TomlPins<'a> {
    path: &'a Path,
    text: &'a str,
    out: Vec<Pin>,
}

impl TomlPins<'_> {
    /// Record `hex` (already without a `sha256:` prefix) for `what`.
    fn push(&mut self, what: String, hex: &str) -> Result<(), ParseError> {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(
                self.path,
                line_of(self.text, hex),
                format!(
                    "{}: '{}' is not a sha256 (64 hex digits)",
                    quoted(&what),
                    quoted(hex)
                ),
            ));
        }
        self.out.push(Pin {
            source: self.path.to_owned(),
            line: line_of(self.text, hex),
            what,
            sha256: hex.to_ascii_lowercase(),
        });
        Ok(())
    }

    /// An `ALGO:HEX` hash string (uv, poetry): its sha256, or nothing for another algorithm.
    fn push_prefixed(&mut self, what: String, value: &str) -> Result<(), ParseError> {
        match value.split_once(':') {
            Some((algo, hex)) if algo.eq_ignore_ascii_case("sha256") => self.push(what, hex),
            Some(_) => Ok(()),
            None => Err(err(
                self.path,
                line_of(self.text, value),
                format!(
                    "{}: hash '{}' is not ALGORITHM:HEX",
                    quoted(&what),
                    quoted(value)
                ),
            )),
        }
    }
}

fn package_name(p: &toml::Table) -> String {
    match (str_of(p, "name"), str_of(p, "version")) {
        (Some(n), Some(v)) => format!("{n}=={v}"),
        (Some(n), None) => n.to_owned(),
        _ => "?".to_owned(),
    }
}

/// The file name an artifact names (PEP 751 `name`, poetry `file`), else the last part of its
/// `url` or `path` (uv).
fn artifact_name(a: &toml::Table) -> Option<String> {
    if let Some(n) = ["name", "filename", "file"]
        .iter()
        .find_map(|k| str_of(a, k))
    {
        return Some(n.to_owned());
    }
    str_of(a, "url")
        .or_else(|| str_of(a, "path"))
        .and_then(|u| u.rsplit('/').next())
        .map(|s| s.split(['#', '?']).next().unwrap_or(s).to_owned())
}

fn what(pkg: &str, artifact: &toml::Table) -> String {
    match artifact_name(artifact) {
        Some(n) => format!("{pkg} ({n})"),
        None => pkg.to_owned(),
    }
}

fn packages<'a>(
    path: &Path,
    doc: &'a toml::Table,
    key: &str,
) -> Result<Vec<&'a toml::Table>, ParseError> {
    match doc.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_table().ok_or_else(|| {
                    err(
                        path,
                        0,
                        format!("[[{key}]] holds a value that is not a table"),
                    )
                })
            })
            .collect(),
        Some(_) => Err(err(path, 0, format!("'{key}' is not an array of tables"))),
    }
}

fn tables(v: Option<&toml::Value>) -> Vec<&toml::Table> {
    v.and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_table()).collect())
        .unwrap_or_default()
}

/// PEP 751: `[[packages]]` with `sdist.hashes`, `wheels[].hashes`, `archive.hashes`.
pub(crate) fn pylock(path: &Path, text: &str) -> Result<Vec<Pin>, ParseError> {
    let doc = parse_toml(path, text)?;
    if doc.get("lock-version").is_none() {
        return Err(err(path, 0, "no lock-version: not a PEP 751 lock file"));
    }
    let mut pins = TomlPins {
        path,
        text,
        out: Vec::new(),
    };
    for p in packages(path, &doc, "packages")? {
        let pkg = package_name(p);
        let mut artifacts: Vec<&toml::Table> = tables(p.get("wheels"));
        for key in ["sdist", "archive"] {
            if let Some(t) = p.get(key).and_then(|v| v.as_table()) {
                artifacts.push(t);
            }
        }
        for a in artifacts {
            let Some(hashes) = a.get("hashes").and_then(|h| h.as_table()) else {
                return Err(err(
                    path,
                    0,
                    format!("{}: a file without hashes", what(&pkg, a)),
                ));
            };
            if let Some(h) = hashes.get("sha256").and_then(|v| v.as_str()) {
                pins.push(what(&pkg, a), h)?;
            }
        }
    }
    Ok(pins.out)
}

/// uv: `[[package]]` with `sdist = { hash = "sha256:…" }` and `wheels = [{ hash = … }]`.
pub(crate) fn uv_lock(path: &Path, text: &str) -> Result<Vec<Pin>, ParseError> {
    let doc = parse_toml(path, text)?;
    if doc.get("version").is_none() {
        return Err(err(path, 0, "no version: not a uv.lock file"));
    }
    let mut pins = TomlPins {
        path,
        text,
        out: Vec::new(),
    };
    for p in packages(path, &doc, "package")? {
        let pkg = package_name(p);
        let mut artifacts: Vec<&toml::Table> = tables(p.get("wheels"));
        if let Some(t) = p.get("sdist").and_then(|v| v.as_table()) {
            artifacts.push(t);
        }
        for a in artifacts {
            // A local or VCS source has no hash; an index's file always has one.
            if let Some(h) = str_of(a, "hash") {
                pins.push_prefixed(what(&pkg, a), h)?;
            }
        }
    }
    Ok(pins.out)
}

/// Poetry: `[[package]]` with `files = [{file, hash}]` (lock 2.x), or the older
/// `[metadata.files]` table (`name = [{file, hash}]`).
pub(crate) fn poetry_lock(path: &Path, text: &str) -> Result<Vec<Pin>, ParseError> {
    let doc = parse_toml(path, text)?;
    if doc.get("metadata").is_none() {
        return Err(err(path, 0, "no [metadata]: not a poetry.lock file"));
    }
    let mut pins = TomlPins {
        path,
        text,
        out: Vec::new(),
    };
    let mut versions = BTreeMap::new();
    for p in packages(path, &doc, "package")? {
        let pkg = package_name(p);
        if let Some(n) = str_of(p, "name") {
            versions.insert(n.to_ascii_lowercase(), pkg.clone());
        }
        for f in tables(p.get("files")) {
            if let Some(h) = str_of(f, "hash") {
                pins.push_prefixed(what(&pkg, f), h)?;
            }
        }
    }
    if let Some(files) = doc
        .get("metadata")
        .and_then(|m| m.get("files"))
        .and_then(|f| f.as_table())
    {
        for (name, list) in files {
            let pkg = versions
                .get(&name.to_ascii_lowercase())
                .cloned()
                .unwrap_or_else(|| name.clone());
            for f in tables(Some(list)) {
                if let Some(h) = str_of(f, "hash") {
                    pins.push_prefixed(what(&pkg, f), h)?;
                }
            }
        }
    }
    Ok(pins.out)
}
