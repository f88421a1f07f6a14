//! Breached-password checks by k-anonymity (HaveIBeenPwned's range protocol): only the first five
//! hex characters of the password's SHA-1 leave the server; suffixes are compared here. An
//! offline folder of range files is consulted first; a network failure fails open. It is logged
//! as a warning at most once an hour (then at debug): on an index that cannot reach the range API
//! every login would otherwise say so. `hibp.url = ""` turns the network lookup off, silently
//! (air-gapped installs; `hibp.offline_dir` still works).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use crate::Settings;

/// The SHA-1 of `pw`, uppercase hex, split as (5-char prefix, 35-char suffix).
pub fn range_key(pw: &str) -> (String, String) {
    let hex = hex::encode_upper(Sha1::digest(pw.as_bytes()));
    let (p, s) = hex.split_at(5);
    (p.to_owned(), s.to_owned())
}

/// Whether a range body (lines `SUFFIX:COUNT`) lists `suffix` with a count ≥ 1.
/// Padding lines (count 0, sent with `Add-Padding: true`) never match.
pub fn range_lists(body: &str, suffix: &str) -> bool {
    body.lines().any(|line| {
        let Some((s, count)) = line.trim().split_once(':') else {
            return false;
        };
        s.eq_ignore_ascii_case(suffix) && count.trim().parse::<u64>().is_ok_and(|c| c > 0)
    })
}

/// What the start of `serve` says when `hibp.url` is empty.
pub const ONLINE_OFF_LINE: &str = "breached-password lookups over the network are off (hibp.url is empty): only hibp.offline_dir range files, if any, are consulted";

/// How often a failing lookup is logged as a warning; the failures in between go to debug.
pub const WARN_EVERY: Duration = Duration::from_secs(3600);

/// Lets one warning through per period.
#[derive(Debug, Default)]
pub struct Throttle {
    last: Mutex<Option<Instant>>,
}

impl Throttle {
    pub const fn new() -> Throttle {
        Throttle {
            last: Mutex::new(None),
        }
    }

    /// Whether a warning at `now` is the first in `every` (and then the period starts again).
    pub fn allow(&self, now: Instant, every: Duration) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(t) if now.saturating_duration_since(t) < every => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

static FAILURES: Throttle = Throttle::new();

/// Log a failed lookup (which failed open): a warning once per [`WARN_EVERY`], debug otherwise.
fn failed(what: &str, error: &dyn std::fmt::Display) {
    if FAILURES.allow(Instant::now(), WARN_EVERY) {
        tracing::warn!(
            error = %error,
            "breached-password check failed open: {what} (said once an hour; set hibp.url = \"\" to turn the online check off)"
        );
    } else {
        tracing::debug!(error = %error, "breached-password check failed open: {what}");
    }
}

/// Whether the password appears in a known breach.
pub async fn is_breached(settings: &Settings, pw: &str) -> bool {
    let (prefix, suffix) = range_key(pw);
    if let Some(dir) = &settings.hibp_offline_dir {
        let path = dir.join(format!("{prefix}.txt"));
        match tokio::fs::read_to_string(&path).await {
            Ok(body) => {
                if range_lists(&body, &suffix) {
                    return true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => failed(
                &format!("cannot read the range file {}", path.display()),
                &e,
            ),
        }
    }
    let Some(base) = settings.hibp_url.as_deref().filter(|u| !u.is_empty()) else {
        return false;
    };
    let url = format!("{}/{prefix}", base.trim_end_matches('/'));
    // The binary installs ring at start; make sure a provider exists whoever calls us.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .user_agent(concat!("strongroom/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            failed("no HTTP client", &e);
            return false;
        }
    };
    let resp = client.get(&url).header("Add-Padding", "true").send().await;
    match resp {
        Ok(r) if r.status().is_success() => match r.text().await {
            Ok(body) => range_lists(&body, &suffix),
            Err(e) => {
                failed("unreadable answer", &e);
                false
            }
        },
        Ok(r) => {
            failed("the range API refused", &r.status());
            false
        }
        Err(e) => {
            failed("range API unreachable", &e);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn settings(url: Option<String>, dir: Option<std::path::PathBuf>) -> Settings {
        Settings {
            hibp_url: url,
            hibp_offline_dir: dir,
            ..Settings::default()
        }
    }

    /// A one-range HIBP server: answers `GET /range/<prefix>` with `body`, records the request.
    async fn range_server(body: String) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut requests = Vec::new();
            while let Ok(Ok((mut sock, _))) =
                tokio::time::timeout(Duration::from_millis(1500), listener.accept()).await
            {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                requests.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    body.len(),
                    body
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
            requests
        });
        (format!("http://{addr}/range/"), task)
    }

    #[test]
    fn sha1_split_and_padding() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
        let (p, s) = range_key("password");
        assert_eq!(
            (p.as_str(), s.as_str()),
            ("5BAA6", "1E4C9B93F3F0682250B6CF8331B7EE68FD8")
        );
        assert!(range_lists(
            "1E4C9B93F3F0682250B6CF8331B7EE68FD8:3861493\r\n",
            &s
        ));
        assert!(
            !range_lists("1E4C9B93F3F0682250B6CF8331B7EE68FD8:0\r\n", &s),
            "padding"
        );
        assert!(!range_lists(
            "0000000000000000000000000000000000A:5\r\n",
            &s
        ));
    }

    #[tokio::test]
    async fn online_range_api_sends_only_the_prefix() {
        let (_, suffix) = range_key("hunter2hunter2");
        let body = format!("00000000000000000000000000000000001:2\r\n{suffix}:17\r\n");
        let (url, server) = range_server(body).await;
        let s = settings(Some(url), None);
        assert!(is_breached(&s, "hunter2hunter2").await);
        assert!(!is_breached(&s, "a password nobody has used 8c1f").await);
        let requests = server.await.expect("server");
        assert!(requests.len() >= 2, "{requests:?}");
        let (prefix, _) = range_key("hunter2hunter2");
        assert!(
            requests[0].starts_with(&format!("GET /range/{prefix} ")),
            "{}",
            requests[0]
        );
        assert!(
            requests[0]
                .to_ascii_lowercase()
                .contains("add-padding: true")
        );
        assert!(
            !requests[0].contains("hunter2"),
            "the password never leaves"
        );
        assert!(!requests[0].contains(&suffix), "nor the suffix");
    }

    #[test]
    fn failures_warn_once_per_period() {
        let t = Throttle::new();
        let start = Instant::now();
        let hour = Duration::from_secs(3600);
        assert!(t.allow(start, hour), "the first failure is said");
        assert!(!t.allow(start + Duration::from_secs(1), hour));
        assert!(!t.allow(start + Duration::from_secs(3599), hour));
        assert!(t.allow(start + hour, hour), "an hour on, once more");
        assert!(!t.allow(start + hour + Duration::from_secs(60), hour));
        // A clock read out of order is not a new period.
        assert!(!t.allow(start, hour));
    }

    #[tokio::test]
    async fn offline_range_files_and_failing_open() {
        let dir = tempfile::tempdir().expect("dir");
        let (prefix, suffix) = range_key("correct horse battery staple");
        std::fs::write(
            dir.path().join(format!("{prefix}.txt")),
            format!("{suffix}:9\n"),
        )
        .expect("write");
        let s = settings(None, Some(dir.path().to_owned()));
        assert!(is_breached(&s, "correct horse battery staple").await);
        assert!(!is_breached(&s, "something else entirely").await);
        // Nothing listens on port 9 of loopback: the check fails open.
        let s = settings(Some("http://127.0.0.1:9/range/".into()), None);
        assert!(!is_breached(&s, "password").await);
    }
}
