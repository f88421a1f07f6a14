//! `strongroom audit FILE... [--index URL] [--json]` (issue 13): read the files a lock file pins
//! by sha256 (requirements files with `--hash`, PEP 751 `pylock.toml`, `uv.lock`,
//! `poetry.lock`), ask the index about each (`POST /api/file-status`, in batches), and name
//! every one that is unknown to the index, or yanked, removed, held, quarantined or malicious.
//!
//! Exit 0 when every pinned file is live, 1 when one is not (each named), 2 when a file cannot
//! be read or parsed (the file and line named) or the index cannot be asked. Needs no
//! configuration and no database: it is a client of an index.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

/// How deep `-r` includes may nest.
const MAX_INCLUDE_DEPTH: usize = 10;
/// The largest lock file read (bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Hashes per request (the server takes up to 1000).
const BATCH: usize = 1000;
/// An index's answer to one batch is at most this large (1,000 answers of a few hundred bytes).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// The index asked when neither `--index` nor `STRONGROOM_INDEX_URL` names one: a local
/// `strongroom serve` at its default address.
const DEFAULT_INDEX: &str = "http://127.0.0.1:8080/";

#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    /// Lock files: requirements files with --hash, pylock.toml (PEP 751), uv.lock, poetry.lock.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The index to ask (its root, or its /simple/ URL). Default: $STRONGROOM_INDEX_URL, else
    /// http://127.0.0.1:8080/.
    #[arg(long, value_name = "URL", env = "STRONGROOM_INDEX_URL")]
    pub index: Option<String>,
    /// An API token (an administrator's sees held and quarantined files too).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "STRONGROOM_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Print a machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the index (each request).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
}

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
fn quoted(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    let more = if cut.len() < s.len() { "…" } else { "" };
    format!("{}{more}", super::terminal_text::shown(&cut))
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

// ---- asking the index ----

/// What the index said of one hash.
#[derive(Debug, Clone, serde::Deserialize)]
struct Answer {
    sha256: String,
    status: String,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    osv_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct BatchAnswer {
    files: Vec<Answer>,
}

/// The batch endpoint under `index` (its root, or a `…/simple/` URL).
fn endpoint(index: &str) -> Result<url::Url, String> {
    let mut u = url::Url::parse(index).map_err(|e| format!("--index {index}: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("--index {index}: not an http(s) URL"));
    }
    let mut path = u.path().trim_end_matches('/').to_owned();
    if let Some(root) = path.strip_suffix("/simple") {
        path = root.to_owned();
    }
    u.set_path(&format!("{path}/api/file-status"));
    u.set_query(None);
    u.set_fragment(None);
    Ok(u)
}

async fn ask(
    client: &reqwest::Client,
    url: &url::Url,
    token: Option<&str>,
    hashes: &[String],
) -> Result<BTreeMap<String, Answer>, String> {
    let mut out = BTreeMap::new();
    for chunk in hashes.chunks(BATCH) {
        let body = serde_json::to_vec(chunk).map_err(|e| e.to_string())?;
        let mut req = client
            .post(url.clone())
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("asking {url}: {}", chain(&e)))?;
        let status = resp.status();
        let mut resp = resp;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("reading the answer of {url}: {}", chain(&e)))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!(
                    "{url} answered more than {MAX_ANSWER_BYTES} bytes: not a file-status list"
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return Err(format!("{url} answered {status}: {}", quoted(text.trim())));
        }
        let answer: BatchAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{url} answered something that is not a file-status list: {e}"))?;
        for a in answer.files {
            out.insert(a.sha256.clone(), a);
        }
    }
    Ok(out)
}

/// An error and its causes (reqwest's own text says only "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Run the command; its exit code is the outcome (0 all live, 1 a bad file, 2 unusable input).
pub(crate) fn run(args: AuditArgs) -> ExitCode {
    let mut pins = Vec::new();
    for f in &args.files {
        match read_pins(f) {
            Ok(p) if p.is_empty() => {
                eprintln!("error: {}: pins no file by sha256", f.display());
                return ExitCode::from(2);
            }
            Ok(p) => pins.extend(p),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let index = args.index.clone().unwrap_or_else(|| DEFAULT_INDEX.into());
    let url = match endpoint(&index) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .connect_timeout(Duration::from_secs(args.timeout.clamp(1, 10)))
        .user_agent(format!("strongroom-audit/{}", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot make an HTTP client: {e}");
            return ExitCode::from(2);
        }
    };
    let mut hashes: Vec<String> = pins.iter().map(|p| p.sha256.clone()).collect();
    hashes.sort();
    hashes.dedup();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let answers = match runtime.block_on(ask(&client, &url, args.token.as_deref(), &hashes)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    report(&pins, &answers, args.json)
}

/// Print what was found; the exit code says whether every file is live.
fn report(pins: &[Pin], answers: &BTreeMap<String, Answer>, json: bool) -> ExitCode {
    let mut bad = 0usize;
    let mut rows = Vec::new();
    for p in pins {
        let a = answers.get(&p.sha256);
        let status = a.map_or("unknown", |a| a.status.as_str());
        let ok = status == "live";
        if !ok {
            bad += 1;
        }
        rows.push(serde_json::json!({
            "lock_file": p.source.display().to_string(),
            "line": p.line,
            "requirement": p.what,
            "sha256": p.sha256,
            "status": status,
            "ok": ok,
            "project": a.and_then(|a| a.project.clone()),
            "version": a.and_then(|a| a.version.clone()),
            "filename": a.and_then(|a| a.filename.clone()),
            "reason": a.and_then(|a| a.reason.clone()),
            "osv_id": a.and_then(|a| a.osv_id.clone()),
        }));
        if !json && !ok {
            let name = a
                .and_then(|a| a.filename.clone())
                .unwrap_or_else(|| p.what.clone());
            // every field from the index (or the lock file) is shown escaped
            let esc = |v: &str| super::terminal_text::shown(v).into_owned();
            let mut line = format!(
                "{}:{}: {}: {}",
                esc(&p.source.display().to_string()),
                p.line,
                esc(&name),
                esc(status)
            );
            if status == "unknown" {
                line.push_str(&format!(" (sha256 {} is not on the index)", p.sha256));
            }
            if let Some(a) = a {
                if let Some(r) = &a.reason {
                    line.push_str(&format!(" ({})", esc(r)));
                }
                if let Some(id) = &a.osv_id {
                    line.push_str(&format!(" [{}]", esc(id)));
                }
            }
            println!("{line}");
        }
    }
    if json {
        let doc = serde_json::json!({
            "ok": bad == 0,
            "checked": pins.len(),
            "problems": bad,
            "files": rows,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
        );
    } else if bad == 0 {
        println!("all {} pinned files are live on the index", pins.len());
    } else {
        eprintln!(
            "{bad} of {} pinned files are not live on the index",
            pins.len()
        );
    }
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests;
