//! `strongroom audit FILE... [--index URL] [--json]` (issue 13): read the files a lock file pins
//! by sha256 (requirements files with `--hash`, PEP 751 `pylock.toml`, `uv.lock`,
//! `poetry.lock`), ask the index about each (`POST /api/file-status`, in batches), and name
//! every one that is unknown to the index, or yanked, removed, held, quarantined or malicious.
//!
//! Exit 0 when every pinned file is live, 1 when one is not (each named), 2 when a file cannot
//! be read or parsed (the file and line named) or the index cannot be asked. Needs no
//! configuration and no database: it is a client of an index. Reading the lock files is
//! `audit/pins.rs`; this file asks the index and reports.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

mod pins;
use pins::{Pin, quoted, read_pins};

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
