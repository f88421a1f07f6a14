//! The gateway's use cases over a real store: name resolution, the file verdict from the stored
//! page, and stale serving when the upstream cannot be reached (a closed loopback port).

use strongroom_protocol::simple::read::{UpstreamFile, UpstreamPage, UpstreamStatus};
use strongroom_protocol::{NamePattern, NormalizedName};
use strongroom_store::upstream_pages::NewUpstreamPage;
use strongroom_upstream::UpstreamIndex;

use super::{Resolution, UpstreamFileVerdict};
use crate::CoreError;
use crate::test_harness::{Harness, T0};

pub(super) const UP: &str = "http://127.0.0.1:9/simple/";
const DAY: i64 = 86_400_000_000;

pub(super) fn name(n: &str) -> NormalizedName {
    NormalizedName::new(n).expect("name")
}

pub(super) async fn gateway(min_age_days: u64) -> Harness {
    Harness::with(|_, s| {
        s.upstream.client.indexes = vec![UpstreamIndex {
            url: UP.into(),
            username: None,
            password: None,
        }];
        s.upstream.client.timeout_secs = 2;
        s.upstream.private_patterns = vec![NamePattern::new("acme_*").expect("pattern")];
        s.upstream.min_age_days = min_age_days;
    })
    .await
}

pub(super) fn file(filename: &str, sha: &str, upload_time: &str) -> UpstreamFile {
    UpstreamFile {
        filename: filename.into(),
        url: format!("https://files.example/{filename}"),
        sha256: Some(sha.into()),
        requires_python: None,
        yanked: None,
        size: Some(3),
        upload_time: Some(upload_time.into()),
        core_metadata: None,
        provenance: None,
    }
}

async fn store(h: &Harness, project: &str, files: Vec<UpstreamFile>, at: i64) {
    let page = UpstreamPage {
        name: project.into(),
        status: UpstreamStatus::Active,
        status_reason: None,
        versions: Vec::new(),
        files,
    };
    let json = serde_json::to_string(&page).expect("json");
    h.s.db
        .save_upstream_page(&NewUpstreamPage {
            project,
            upstream_url: UP,
            page: Some(&json),
            etag: None,
            now: at,
        })
        .await
        .expect("save");
}

#[tokio::test]
async fn names_resolve_local_reserved_or_upstream() {
    let off = Harness::new().await;
    assert_eq!(
        off.s
            .resolve_name(&name("anything"))
            .await
            .expect("resolve"),
        Resolution::NoUpstream
    );

    let h = gateway(0).await;
    assert_eq!(
        h.s.resolve_name(&name("requests")).await.expect("resolve"),
        Resolution::Upstream
    );
    assert_eq!(
        h.s.resolve_name(&name("Acme.Lib")).await.expect("resolve"),
        Resolution::Reserved
    );
    let remembered = h.s.db.requested_reserved_names(10).await.expect("names");
    assert_eq!(
        remembered
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>(),
        ["acme-lib"]
    );
    // a prohibited name is local: never asked upstream
    let mut tx = h.s.db.begin_admin().await.expect("tx");
    tx.prohibit_name(
        "requests",
        "requests",
        "requests",
        "reserved by the admins",
        "admin",
        T0,
    )
    .await
    .expect("prohibit");
    tx.commit(&[], &[]).await.expect("commit");
    assert_eq!(
        h.s.resolve_name(&name("requests")).await.expect("resolve"),
        Resolution::Local
    );
}

#[tokio::test]
async fn the_file_verdict_comes_from_the_stored_page_and_the_filter() {
    let h = gateway(3).await;
    let sha_old = "a".repeat(64);
    let sha_new = "b".repeat(64);
    store(
        &h,
        "demo",
        vec![
            file(
                "demo-1.0-py3-none-any.whl",
                &sha_old,
                "2025-01-01T00:00:00Z",
            ),
            file(
                "demo-2.0-py3-none-any.whl",
                &sha_new,
                "2025-12-31T12:00:00Z",
            ),
        ],
        T0,
    )
    .await;
    let demo = name("demo");
    let served =
        h.s.upstream_file(&demo, &sha_old, "demo-1.0-py3-none-any.whl")
            .await
            .expect("verdict");
    assert!(
        matches!(&served, UpstreamFileVerdict::Serve { version, upstream: 0, .. } if version == "1.0"),
        "{served:?}"
    );
    // another filename under a listed sha256, or an unknown sha256: not found
    for (sha, filename) in [
        (&sha_old, "demo-2.0-py3-none-any.whl"),
        (&"c".repeat(64), "demo-1.0-py3-none-any.whl"),
    ] {
        let v =
            h.s.upstream_file(&demo, sha, filename)
                .await
                .expect("verdict");
        assert_eq!(v, UpstreamFileVerdict::NotFound);
    }
    // inside the cooldown: not found, until the clock passes it
    let new =
        h.s.upstream_file(&demo, &sha_new, "demo-2.0-py3-none-any.whl")
            .await
            .expect("verdict");
    assert_eq!(new, UpstreamFileVerdict::NotFound);
    h.clock.advance(3 * DAY);
    let later =
        h.s.upstream_file(&demo, &sha_new, "demo-2.0-py3-none-any.whl")
            .await
            .expect("verdict");
    assert!(
        matches!(later, UpstreamFileVerdict::Serve { .. }),
        "{later:?}"
    );
    // a page stored for a reserved name is never served
    store(
        &h,
        "acme-x",
        vec![file(
            "acme_x-1.0-py3-none-any.whl",
            &sha_old,
            "2025-01-01T00:00:00Z",
        )],
        T0,
    )
    .await;
    let reserved =
        h.s.upstream_file(&name("acme-x"), &sha_old, "acme_x-1.0-py3-none-any.whl")
            .await
            .expect("verdict");
    assert_eq!(reserved, UpstreamFileVerdict::NotFound);
}

#[tokio::test]
async fn an_unreachable_upstream_serves_the_stored_page_stale_or_fails_typed() {
    let h = gateway(0).await;
    let sha = "d".repeat(64);
    store(
        &h,
        "demo",
        vec![file(
            "demo-1.0-py3-none-any.whl",
            &sha,
            "2025-01-01T00:00:00Z",
        )],
        T0,
    )
    .await;
    // fresh: served from the store without asking
    let fresh =
        h.s.upstream_page(&name("demo"), None)
            .await
            .expect("page")
            .expect("found");
    assert_eq!((fresh.stale.as_deref(), fresh.age_secs), (None, 0));
    // past the TTL the upstream (a closed port) is asked and fails: stale, with the age
    h.clock.advance(600 * 1_000_000);
    let stale =
        h.s.upstream_page(&name("demo"), None)
            .await
            .expect("page")
            .expect("found");
    assert!(stale.stale.is_some(), "{stale:?}");
    assert_eq!(stale.age_secs, 600);
    assert_eq!(stale.page.files.len(), 1);
    // never stored: a typed error the server answers 502 (504 for a timeout)
    let err =
        h.s.upstream_page(&name("other"), None)
            .await
            .expect_err("nothing stored");
    assert!(
        matches!(
            err,
            CoreError::UpstreamUnavailable {
                timed_out: false,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A one-page upstream on loopback that counts the requests it gets and answers each after a
/// pause (so concurrent callers overlap).
async fn counting_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/simple/", listener.local_addr().expect("addr"));
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = conn.read(&mut buf).await;
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                let body = format!(
                    "{{\"meta\":{{\"api-version\":\"1.1\"}},\"name\":\"demo\",\"files\":[{{\"filename\":\"demo-1.0-py3-none-any.whl\",\"url\":\"https://files.example/demo-1.0-py3-none-any.whl\",\"hashes\":{{\"sha256\":\"{}\"}}}}]}}",
                    "e".repeat(64)
                );
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.pypi.simple.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    (url, hits)
}

#[tokio::test]
async fn a_burst_of_requests_for_an_expired_page_asks_the_upstream_once() {
    let (url, hits) = counting_upstream().await;
    let h = Harness::with(|_, s| {
        s.upstream.client.indexes = vec![UpstreamIndex {
            url: url.clone(),
            username: None,
            password: None,
        }];
        s.upstream.client.timeout_secs = 5;
    })
    .await;
    let demo = name("demo");
    let burst = (0..8).map(|_| h.s.upstream_page(&demo, None));
    for page in futures_util::future::join_all(burst).await {
        let page = page.expect("page").expect("found");
        assert_eq!(page.page.files.len(), 1);
    }
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one upstream request"
    );
    assert_eq!(h.s.revalidations.len(), 0, "no entry is left behind");
    // past the TTL again: asked once more
    h.clock.advance(301 * 1_000_000);
    let burst = (0..4).map(|_| h.s.upstream_page(&demo, None));
    for page in futures_util::future::join_all(burst).await {
        assert!(page.expect("page").is_some());
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_upstream_that_did_not_answer_is_left_alone_for_a_while() {
    // accepts connections and never answers
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/simple/", listener.local_addr().expect("addr"));
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(conn);
        }
    });
    let h = Harness::with(|_, s| {
        s.upstream.client.indexes = vec![UpstreamIndex {
            url: url.clone(),
            username: None,
            password: None,
        }];
        s.upstream.client.timeout_secs = 1;
    })
    .await;
    let page = UpstreamPage {
        name: "demo".into(),
        status: UpstreamStatus::Active,
        status_reason: None,
        versions: Vec::new(),
        files: vec![file(
            "demo-1.0-py3-none-any.whl",
            &"f".repeat(64),
            "2025-01-01T00:00:00Z",
        )],
    };
    let json = serde_json::to_string(&page).expect("json");
    h.s.db
        .save_upstream_page(&NewUpstreamPage {
            project: "demo",
            upstream_url: &url,
            page: Some(&json),
            etag: None,
            now: T0,
        })
        .await
        .expect("save");
    h.clock.advance(600 * 1_000_000);
    let demo = name("demo");
    let first =
        h.s.upstream_page(&demo, None)
            .await
            .expect("page")
            .expect("found");
    assert!(
        first
            .stale
            .as_deref()
            .is_some_and(|r| r.contains("no answer")),
        "{first:?}"
    );
    let asked = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(asked >= 1);
    // within the back-off: stale at once, the upstream not asked
    let started = std::time::Instant::now();
    for _ in 0..5 {
        let again =
            h.s.upstream_page(&demo, None)
                .await
                .expect("page")
                .expect("found");
        assert!(again.stale.is_some());
    }
    assert!(
        started.elapsed() < std::time::Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), asked);
    // after it, asked again
    h.clock
        .advance((super::stored::RETRY_AFTER_FAILURE_SECS + 1) * 1_000_000);
    assert!(
        h.s.upstream_page(&demo, None)
            .await
            .expect("page")
            .expect("found")
            .stale
            .is_some()
    );
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) > asked);
}

/// How a scripted upstream answers for one project.
#[derive(Clone)]
enum Script {
    /// A JSON page listing `<project>-<version>-py3-none-any.whl`.
    Page(&'static str),
    /// 404.
    Missing,
    /// A response head at once, then a body that trickles (one byte every 200 ms).
    Drip,
}

type Scripts = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Script>>>;

/// An upstream on loopback answering `/simple/<project>/` as `scripts` says (404 for names
/// not scripted); returns its URL and the scripts to change.
async fn scripted_upstream() -> (String, Scripts) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/simple/", listener.local_addr().expect("addr"));
    let scripts: Scripts = Scripts::default();
    let shared = scripts.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let project = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .trim_start_matches("/simple/")
                    .trim_end_matches('/')
                    .to_owned();
                let script = shared
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&project).cloned())
                    .unwrap_or(Script::Missing);
                match script {
                    Script::Missing => {
                        let _ = conn
                            .write_all(
                                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            )
                            .await;
                    }
                    Script::Page(version) => {
                        let file =
                            format!("{}-{version}-py3-none-any.whl", project.replace('-', "_"));
                        let body = format!(
                            "{{\"meta\":{{\"api-version\":\"1.1\"}},\"name\":\"{project}\",\"files\":[{{\"filename\":\"{file}\",\"url\":\"https://files.example/{file}\",\"hashes\":{{\"sha256\":\"{}\"}}}}]}}",
                            "e".repeat(64)
                        );
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.pypi.simple.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = conn.write_all(head.as_bytes()).await;
                        let _ = conn.write_all(body.as_bytes()).await;
                    }
                    Script::Drip => {
                        let _ = conn
                            .write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.pypi.simple.v1+json\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n",
                            )
                            .await;
                        for _ in 0..100 {
                            if conn.write_all(b" ").await.is_err() {
                                break;
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        }
                    }
                }
                let _ = conn.shutdown().await;
            });
        }
    });
    (url, scripts)
}

fn script(scripts: &Scripts, project: &str, s: Script) {
    scripts
        .lock()
        .expect("scripts")
        .insert(project.to_owned(), s);
}

async fn gateway_over(urls: &[&str], configure: impl FnOnce(&mut crate::Settings)) -> Harness {
    let indexes = urls
        .iter()
        .map(|u| UpstreamIndex {
            url: (*u).to_owned(),
            username: None,
            password: None,
        })
        .collect();
    Harness::with(move |_, s| {
        s.upstream.client.indexes = indexes;
        s.upstream.client.timeout_secs = 1;
        configure(s);
    })
    .await
}

fn files_of(page: &super::GatewayPage) -> Vec<String> {
    page.page.files.iter().map(|f| f.filename.clone()).collect()
}

#[tokio::test]
async fn a_name_stays_bound_to_the_upstream_that_answered_for_it() {
    let (private, private_scripts) = scripted_upstream().await;
    let (public, public_scripts) = scripted_upstream().await;
    script(&private_scripts, "corp-lib", Script::Page("1.0"));
    script(&public_scripts, "corp-lib", Script::Page("9.9"));
    script(&public_scripts, "requests", Script::Page("2.0"));
    let h = gateway_over(&[&private, &public], |_| {}).await;
    let corp = name("corp-lib");
    let first =
        h.s.upstream_page(&corp, None)
            .await
            .expect("page")
            .expect("found");
    assert_eq!(first.upstream, 0);
    assert_eq!(files_of(&first), ["corp_lib-1.0-py3-none-any.whl"]);
    // the private index quarantines it (answers 404): the gateway answers "not found", never
    // the public project of that name, however often the TTL passes
    script(&private_scripts, "corp-lib", Script::Missing);
    for _ in 0..3 {
        h.clock.advance(301 * 1_000_000);
        // storing other "not found" answers forgets expired ones (not the binding)
        let _ = h.s.upstream_page(&name("made-up-name"), None).await;
        let later = h.s.upstream_page(&corp, None).await.expect("answer");
        assert!(later.is_none(), "walked on to the next upstream: {later:?}");
    }
    // the private index serves it again: back
    script(&private_scripts, "corp-lib", Script::Page("1.1"));
    h.clock.advance(301 * 1_000_000);
    let back =
        h.s.upstream_page(&corp, None)
            .await
            .expect("page")
            .expect("found");
    assert_eq!(files_of(&back), ["corp_lib-1.1-py3-none-any.whl"]);
    // a name never resolved still walks the list
    let walked =
        h.s.upstream_page(&name("requests"), None)
            .await
            .expect("page")
            .expect("found");
    assert_eq!(walked.upstream, 1);
}

#[tokio::test]
async fn a_slow_page_body_fails_that_project_only() {
    let (url, scripts) = scripted_upstream().await;
    script(&scripts, "drip-page", Script::Drip);
    script(&scripts, "fine", Script::Page("1.0"));
    let h = gateway_over(&[&url], |_| {}).await;
    let slow =
        h.s.upstream_page(&name("drip-page"), None)
            .await
            .expect_err("the slow page fails");
    assert!(
        matches!(slow, CoreError::UpstreamUnavailable { .. }),
        "{slow:?}"
    );
    // the upstream answered its head: it is not "down", other projects are asked as usual
    let fine =
        h.s.upstream_page(&name("fine"), None)
            .await
            .expect("not marked down")
            .expect("found");
    assert_eq!(files_of(&fine), ["fine-1.0-py3-none-any.whl"]);
}

#[tokio::test]
async fn a_revision_never_repeats_after_the_stored_page_went() {
    let (url, scripts) = scripted_upstream().await;
    script(&scripts, "etag-lib", Script::Page("1.0"));
    let h = gateway_over(&[&url], |_| {}).await;
    let lib = name("etag-lib");
    let first =
        h.s.upstream_page(&lib, None)
            .await
            .expect("page")
            .expect("found");
    // the stored page goes (evicted, or a "not found" forgotten) and the name comes back with
    // other content
    h.clock.advance(301 * 1_000_000);
    h.s.db
        .evict_upstream_pages(i64::MAX, 0, 0)
        .await
        .expect("evict");
    script(&scripts, "etag-lib", Script::Page("2.0"));
    let second =
        h.s.upstream_page(&lib, None)
            .await
            .expect("page")
            .expect("found");
    assert_eq!(files_of(&second), ["etag_lib-2.0-py3-none-any.whl"]);
    let (v1, v2) = (
        h.s.upstream_validity(&first).await.expect("validity"),
        h.s.upstream_validity(&second).await.expect("validity"),
    );
    assert_ne!(v1, v2, "one validity for two renderings");
    assert!(second.revision > first.revision);
}

#[tokio::test]
async fn upstream_page_fetches_are_budgeted_per_client_address() {
    let (url, scripts) = scripted_upstream().await;
    for p in ["a1", "a2", "a3", "a4"] {
        script(&scripts, p, Script::Page("1.0"));
    }
    let h = gateway_over(&[&url], |s| {
        s.rate_limits = true;
        s.upstream.page_fetches_per_minute = 2;
    })
    .await;
    let ip = Some("192.0.2.7");
    for p in ["a1", "a2"] {
        assert!(
            h.s.upstream_page(&name(p), ip)
                .await
                .expect("page")
                .is_some()
        );
    }
    // stored and fresh pages cost nothing
    for _ in 0..5 {
        assert!(
            h.s.upstream_page(&name("a1"), ip)
                .await
                .expect("page")
                .is_some()
        );
    }
    let refused =
        h.s.upstream_page(&name("a3"), ip)
            .await
            .expect_err("over the budget");
    assert!(
        matches!(refused, CoreError::TooMany { retry_after_secs, .. } if (1..=60).contains(&retry_after_secs)),
        "{refused:?}"
    );
    // the minute (and the TTL) passed: the budget is back; another address has its own, and a
    // revalidation past the TTL costs a place too
    h.clock.advance(301 * 1_000_000);
    assert!(
        h.s.upstream_page(&name("a3"), Some("192.0.2.8"))
            .await
            .expect("page")
            .is_some()
    );
    assert!(
        h.s.upstream_page(&name("a4"), ip)
            .await
            .expect("page")
            .is_some()
    );
    assert!(
        h.s.upstream_page(&name("a1"), ip)
            .await
            .expect("revalidated")
            .is_some()
    );
    assert!(matches!(
        h.s.upstream_page(&name("a2"), ip).await,
        Err(CoreError::TooMany { .. })
    ));
}

#[tokio::test]
async fn stored_pages_mark_their_use_rarely_and_unused_ones_are_evicted() {
    let (url, scripts) = scripted_upstream().await;
    script(&scripts, "kept", Script::Page("1.0"));
    script(&scripts, "dropped", Script::Page("1.0"));
    let h = gateway_over(&[&url], |s| s.upstream.page_ttl_secs = 100_000_000).await;
    for p in ["kept", "dropped"] {
        h.s.upstream_page(&name(p), None)
            .await
            .expect("page")
            .expect("found");
    }
    let stored_at =
        h.s.db
            .upstream_page("kept")
            .await
            .expect("read")
            .expect("row")
            .last_used_at;
    // served within the period: no write
    h.clock.advance(60 * 1_000_000);
    h.s.upstream_page(&name("kept"), None)
        .await
        .expect("page")
        .expect("found");
    let row =
        h.s.db
            .upstream_page("kept")
            .await
            .expect("read")
            .expect("row");
    assert_eq!(row.last_used_at, stored_at);
    // after it: marked
    let days = 20 * DAY;
    h.clock.advance(days);
    h.s.upstream_page(&name("kept"), None)
        .await
        .expect("page")
        .expect("found");
    let row =
        h.s.db
            .upstream_page("kept")
            .await
            .expect("read")
            .expect("row");
    assert!(row.last_used_at > stored_at);
    // "dropped" was not served for more than 30 days: the jobs evict it
    h.clock.advance(15 * DAY);
    let lines = h.s.upstream_pages_job().await.expect("job");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        h.s.db
            .upstream_page("dropped")
            .await
            .expect("read")
            .is_none()
    );
    assert!(h.s.db.upstream_page("kept").await.expect("read").is_some());
}
