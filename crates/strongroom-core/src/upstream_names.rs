//! The name-conflict job (issue 12): asks each configured upstream about every local project
//! name, every literal reserved name (`upstream.private_patterns` without a wildcard) and every
//! reserved name someone requested, and raises an admin signal (`upstream:name-conflict`, the
//! admin start page) the first time an upstream has a project of that name: the dependency
//! confusion case, where a public project shadows a private one for anyone whose installer also
//! asks that upstream. Rate-limited: at most `upstream.name_checks_per_run` questions per run,
//! each name at most every `upstream.name_check_interval_hours` per upstream; a name found is
//! signalled once per upstream and not asked about again. The names asked about reach the
//! upstream's logs: a name matching `upstream.name_watch_exclude` is never asked about.

use std::collections::BTreeMap;

use strongroom_protocol::NormalizedName;
use strongroom_upstream::PageFetch;

use crate::{Actor, CoreError, RequestMeta, Services, Subject};

/// The event (and signal) of a name found upstream.
pub const NAME_CONFLICT: &str = "upstream:name-conflict";

/// Why a name is watched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Watched {
    /// A local project has it (in any state).
    Local,
    /// A literal reserved name in `upstream.private_patterns`.
    Reserved,
    /// It matched a reserved pattern when someone asked for it.
    Requested,
}

impl Watched {
    fn as_str(&self) -> &'static str {
        match self {
            Watched::Local => "local project",
            Watched::Reserved => "reserved name",
            Watched::Requested => "requested reserved name",
        }
    }
}

impl Services {
    /// Every name the job watches, each with why (a local project wins over a reservation);
    /// names matching `upstream.name_watch_exclude` are left out (never sent upstream).
    pub async fn watched_names(&self) -> Result<BTreeMap<String, Watched>, CoreError> {
        let mut names = BTreeMap::new();
        for n in self.requested_reserved_names().await? {
            names.insert(n, Watched::Requested);
        }
        for p in &self.settings.upstream.private_patterns {
            if p.is_literal() {
                names.insert(p.as_str().to_owned(), Watched::Reserved);
            }
        }
        for n in self.db.all_project_names().await? {
            names.insert(n, Watched::Local);
        }
        let excluded = &self.settings.upstream.name_watch_exclude;
        names.retain(|n, _| {
            NormalizedName::new(n).is_ok_and(|n| !excluded.iter().any(|p| p.matches(&n)))
        });
        Ok(names)
    }

    /// The reserved names someone asked the gateway for (remembered by its resolution).
    async fn requested_reserved_names(&self) -> Result<Vec<String>, CoreError> {
        Ok(self
            .db
            .requested_reserved_names(crate::gateway::REQUESTED_NAMES_CAP)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect())
    }

    /// One run of the job; one line per name found and per upstream that could not be asked.
    pub(crate) async fn upstream_names_job(&self) -> Result<Vec<String>, CoreError> {
        let Some(client) = &self.upstream else {
            return Ok(Vec::new());
        };
        let settings = &self.settings.upstream;
        let mut budget = settings.name_checks_per_run;
        if budget == 0 {
            return Ok(Vec::new());
        }
        let names = self.watched_names().await?;
        let interval = i64::try_from(settings.name_check_interval_hours.saturating_mul(3_600))
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        let actor = Actor {
            id: None,
            name: "job:upstream-names".into(),
        };
        let mut lines = Vec::new();
        for (i, index) in client.indexes().iter().enumerate() {
            if budget == 0 {
                break;
            }
            let url = index.url.as_str();
            let checks: BTreeMap<String, (i64, bool)> = self
                .db
                .name_checks(url)
                .await?
                .into_iter()
                .map(|c| (c.name, (c.checked_at, c.found_at.is_some())))
                .collect();
            let now = self.now();
            // Never asked first, then the longest ago; found names are never asked again.
            let mut due: Vec<(Option<i64>, &String, &Watched)> = names
                .iter()
                .filter_map(|(n, why)| match checks.get(n) {
                    None => Some((None, n, why)),
                    Some((_, true)) => None,
                    Some((at, false)) => {
                        (now.saturating_sub(*at) >= interval).then_some((Some(*at), n, why))
                    }
                })
                .collect();
            due.sort();
            for (_, name, why) in due {
                if budget == 0 {
                    break;
                }
                let Ok(normalized) = NormalizedName::new(name) else {
                    continue;
                };
                budget -= 1;
                match client.fetch_page(i, &normalized, None).await {
                    Ok(PageFetch::Page { .. }) => {
                        let at = self.now();
                        let mut tx = crate::admin::begin(self).await?;
                        if tx.mark_name_found(name, url, at).await? {
                            let ev = self.event(
                                &actor,
                                NAME_CONFLICT,
                                Subject {
                                    kind: "project",
                                    id: None,
                                    name: Some(name),
                                },
                                &RequestMeta::default(),
                                serde_json::json!({
                                    "project": name,
                                    "upstream": url,
                                    "watched": why.as_str(),
                                }),
                            );
                            tx.commit(&[ev], &[]).await?;
                            lines.push(format!(
                                "upstream name conflict: {url} has a project named {name} ({})",
                                why.as_str()
                            ));
                        }
                    }
                    Ok(PageFetch::NotFound | PageFetch::NotModified) => {
                        self.db.record_name_check(name, url, self.now()).await?;
                    }
                    Err(
                        e @ (strongroom_upstream::UpstreamError::Timeout(_)
                        | strongroom_upstream::UpstreamError::Unreachable(_)
                        | strongroom_upstream::UpstreamError::Config(_)
                        | strongroom_upstream::UpstreamError::Busy),
                    ) => {
                        lines.push(format!(
                            "upstream name check: {url} could not be asked ({e}); its names wait for the next run"
                        ));
                        break;
                    }
                    Err(e) => {
                        // An answer that is no page (a 5xx, a malformed body): asked again
                        // after the interval, not at every run.
                        self.db.record_name_check(name, url, self.now()).await?;
                        lines.push(format!("upstream name check: {url} about {name}: {e}"));
                    }
                }
            }
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Mutex};

    use strongroom_protocol::NamePattern;
    use strongroom_upstream::UpstreamIndex;

    /// A loopback upstream that knows `known` and counts the pages asked for.
    fn fake_upstream(known: &'static [&'static str]) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/simple/", listener.local_addr().expect("addr"));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut line = String::new();
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // the rest of the head
                let mut h = String::new();
                while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                    h.clear();
                }
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let name = path
                    .trim_start_matches("/simple/")
                    .trim_end_matches('/')
                    .to_owned();
                log.lock().expect("lock").push(name.clone());
                let resp = if known.contains(&name.as_str()) {
                    let body =
                        format!(r#"{{"meta":{{"api-version":"1.1"}},"name":"{name}","files":[]}}"#);
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.pypi.simple.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .into()
                };
                let _ = conn.write_all(resp.as_bytes());
            }
        });
        (url, asked)
    }

    /// Two names per run, never-asked first; a found name is signalled once and never asked
    /// again; a name not found is asked again only after the interval.
    #[tokio::test]
    async fn names_are_asked_within_the_budget_and_signalled_once() {
        let (url, asked) = fake_upstream(&["acme-a", "acme-c"]);
        let h = crate::test_harness::Harness::with(|_, s| {
            s.upstream.client.indexes = vec![UpstreamIndex {
                url: url.clone(),
                username: None,
                password: None,
            }];
            s.upstream.client.timeout_secs = 5;
            s.upstream.private_patterns = ["acme-a", "acme-b", "acme-c", "acme-*"]
                .iter()
                .map(|p| NamePattern::new(p).expect("pattern"))
                .collect();
            s.upstream.name_checks_per_run = 2;
        })
        .await;
        let s = &h.s;
        let conflicts = || async {
            s.db.events(0, 1000)
                .await
                .expect("events")
                .into_iter()
                .filter(|e| e.action == super::NAME_CONFLICT)
                .map(|e| e.subject_name.unwrap_or_default())
                .collect::<Vec<_>>()
        };
        let asked_now = || asked.lock().expect("lock").clone();

        let lines = s.upstream_names_job().await.expect("run 1");
        assert_eq!(asked_now(), ["acme-a", "acme-b"], "{lines:?}");
        assert_eq!(conflicts().await, ["acme-a"]);
        s.upstream_names_job().await.expect("run 2");
        assert_eq!(asked_now(), ["acme-a", "acme-b", "acme-c"]);
        assert_eq!(conflicts().await, ["acme-a", "acme-c"]);
        s.upstream_names_job().await.expect("run 3");
        assert_eq!(asked_now().len(), 3, "nothing due within the interval");
        h.clock.advance(25 * 3_600_000_000);
        s.upstream_names_job().await.expect("run 4");
        assert_eq!(asked_now(), ["acme-a", "acme-b", "acme-c", "acme-b"]);
        assert_eq!(
            conflicts().await,
            ["acme-a", "acme-c"],
            "signalled once each"
        );
    }

    /// A name matching `upstream.name_watch_exclude` is never sent to the upstream (not even
    /// when it is a local or reserved name); the others still are.
    #[tokio::test]
    async fn excluded_names_are_never_sent_upstream() {
        let (url, asked) = fake_upstream(&["acme-secret"]);
        let h = crate::test_harness::Harness::with(|_, s| {
            s.upstream.client.indexes = vec![UpstreamIndex {
                url: url.clone(),
                username: None,
                password: None,
            }];
            s.upstream.client.timeout_secs = 5;
            s.upstream.private_patterns = ["acme-secret", "acme-public", "acme-*"]
                .iter()
                .map(|p| NamePattern::new(p).expect("pattern"))
                .collect();
            s.upstream.name_watch_exclude = vec![NamePattern::new("Acme.Secret*").expect("p")];
        })
        .await;
        let names = h.s.watched_names().await.expect("names");
        assert_eq!(names.get("acme-secret"), None, "{names:?}");
        h.s.upstream_names_job().await.expect("run");
        assert_eq!(*asked.lock().expect("lock"), ["acme-public"]);
    }
}
