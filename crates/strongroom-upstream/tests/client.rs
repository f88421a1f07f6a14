//! The upstream client against in-test HTTP servers on 127.0.0.1: page negotiation and
//! revalidation, not-found, bounds, timeouts (slow head, slow-drip body), the credential rule
//! across origins and redirects, the User-Agent, the CA bundle, and proxies from the
//! environment (through a forward proxy).

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use strongroom_protocol::NormalizedName;
use strongroom_upstream::{
    ClientSettings, FileHost, FileStream, PAGE_WORK_SLOTS, PageFetch, UpstreamClient,
    UpstreamError, UpstreamIndex,
};
use support::{Reply, Server};

fn name(s: &str) -> NormalizedName {
    NormalizedName::new(s).expect("name")
}

fn settings(index_url: String, creds: Option<(&str, &str)>, timeout_secs: u64) -> ClientSettings {
    ClientSettings {
        indexes: vec![UpstreamIndex {
            url: index_url,
            username: creds.map(|c| c.0.to_owned()),
            password: creds.map(|c| c.1.to_owned()),
        }],
        timeout_secs,
        ca_bundle: None,
        max_page_bytes: 64 * 1024,
        // The in-test files hosts are other loopback ports.
        file_hosts: vec![FileHost::parse("127.0.0.1").expect("host")],
    }
}

fn client(index_url: String, creds: Option<(&str, &str)>, timeout_secs: u64) -> UpstreamClient {
    UpstreamClient::new(settings(index_url, creds, timeout_secs)).expect("client")
}

/// `Basic base64(alice:s3cret)`.
const ALICE: &str = "Basic YWxpY2U6czNjcmV0";

async fn read_all(mut f: FileStream) -> Result<Vec<u8>, UpstreamError> {
    let mut out = Vec::new();
    while let Some(chunk) = f.body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

#[tokio::test]
async fn page_asks_for_json_first_and_revalidates_with_the_etag() {
    let server = Server::start(|req| {
        if req.header("if-none-match") == Some("\"v1\"") {
            Reply::new(304)
        } else {
            Reply::new(404)
        }
    })
    .await;
    let c = client(server.url("/simple/"), None, 5);
    assert!(matches!(
        c.fetch_page(0, &name("Demo_Pkg"), Some("\"v1\"")).await,
        Ok(PageFetch::NotModified)
    ));
    assert!(matches!(
        c.fetch_page(0, &name("demo"), None).await,
        Ok(PageFetch::NotFound)
    ));
    let seen = server.requests();
    assert_eq!(seen[0].target, "/simple/demo-pkg/");
    let accept = seen[0].header("accept").expect("accept");
    assert!(
        accept.starts_with("application/vnd.pypi.simple.v1+json"),
        "{accept}"
    );
    assert!(accept.contains("text/html"), "{accept}");
    assert_eq!(seen[1].header("if-none-match"), None);
    let ua = seen[0].header("user-agent").expect("user agent");
    assert!(
        ua.starts_with(concat!("strongroom/", env!("CARGO_PKG_VERSION"))),
        "{ua}"
    );
}

#[tokio::test]
async fn gone_is_not_found_and_other_statuses_are_errors() {
    let server = Server::start(|req| match req.target.as_str() {
        "/simple/gone/" => Reply::new(410),
        "/simple/teapot/" => Reply::new(418),
        _ => Reply::new(500),
    })
    .await;
    let c = client(server.url("/simple/"), None, 5);
    assert!(matches!(
        c.fetch_page(0, &name("gone"), None).await,
        Ok(PageFetch::NotFound)
    ));
    assert!(matches!(
        c.fetch_page(0, &name("teapot"), None).await,
        Err(UpstreamError::Status(418))
    ));
    // A 304 nobody asked for is not "not modified".
    let s304 = Server::start(|_| Reply::new(304)).await;
    let c = client(s304.url("/simple/"), None, 5);
    assert!(matches!(
        c.fetch_page(0, &name("x"), None).await,
        Err(UpstreamError::Status(304))
    ));
}

#[tokio::test]
async fn a_page_of_another_content_type_is_malformed() {
    let server = Server::start(|_| {
        Reply::new(200)
            .header("Content-Type", "application/octet-stream")
            .body("x")
    })
    .await;
    let c = client(server.url("/simple/"), None, 5);
    assert!(matches!(
        c.fetch_page(0, &name("x"), None).await,
        Err(UpstreamError::Malformed(_))
    ));
}

#[tokio::test]
async fn a_page_larger_than_the_bound_is_refused_announced_or_not() {
    let big = vec![b' '; 64 * 1024 + 1];
    let announced = big.clone();
    let server = Server::start(move |req| {
        let mut r = Reply::new(200)
            .header("Content-Type", "text/html")
            .body(announced.clone());
        if req.target.contains("unannounced") {
            r.content_length = false;
        }
        r
    })
    .await;
    let c = client(server.url("/simple/"), None, 5);
    assert!(matches!(
        c.fetch_page(0, &name("announced"), None).await,
        Err(UpstreamError::TooLarge(65536))
    ));
    assert!(matches!(
        c.fetch_page(0, &name("unannounced"), None).await,
        Err(UpstreamError::TooLarge(65536))
    ));
}

#[tokio::test]
async fn a_silent_upstream_times_out_for_pages_and_files() {
    let server = Server::start(|_| {
        let mut r = Reply::new(200)
            .header("Content-Type", "text/html")
            .body("x");
        r.head_delay = Duration::from_secs(30);
        r
    })
    .await;
    let c = client(server.url("/simple/"), None, 1);
    assert!(matches!(
        c.fetch_page(0, &name("x"), None).await,
        Err(UpstreamError::Timeout(1))
    ));
    assert!(matches!(
        c.open_file(0, &server.url("/f/x.whl"), 1 << 20).await,
        Err(UpstreamError::Timeout(1))
    ));
}

/// A body that drips a few bytes at a time, each well within the per-read timeout.
fn drip() -> Reply {
    let mut r = Reply::new(200).header("Content-Type", "text/html");
    r.chunks = vec![b"<".to_vec(); 200];
    r.chunk_delay = Duration::from_millis(50);
    r.content_length = false;
    r
}

#[tokio::test]
async fn a_slow_drip_body_fails_for_pages_and_files() {
    let server = Server::start(|_| drip()).await;
    let c = client(server.url("/simple/"), None, 1);
    assert!(matches!(
        c.fetch_page(0, &name("x"), None).await,
        Err(UpstreamError::Timeout(1))
    ));
    let f = c
        .open_file(0, &server.url("/f/x.whl"), 1 << 20)
        .await
        .expect("the head comes at once");
    assert!(matches!(read_all(f).await, Err(UpstreamError::Timeout(1))));
}

#[tokio::test]
async fn a_file_streams_and_stops_at_its_byte_cap() {
    let server = Server::start(|req| {
        let mut r = Reply::new(200);
        r.chunks = vec![vec![7u8; 1000]; 10];
        r.content_length = !req.target.contains("unannounced");
        r
    })
    .await;
    let c = client(server.url("/simple/"), None, 5);
    let f = c
        .open_file(0, &server.url("/f/a.whl"), 10_000)
        .await
        .expect("open");
    assert_eq!(f.content_length, Some(10_000));
    assert_eq!(read_all(f).await.expect("body"), vec![7u8; 10_000]);
    assert!(matches!(
        c.open_file(0, &server.url("/f/a.whl"), 9_999).await,
        Err(UpstreamError::TooLarge(9_999))
    ));
    let f = c
        .open_file(0, &server.url("/f/unannounced.whl"), 9_999)
        .await
        .expect("open");
    assert_eq!(f.content_length, None);
    assert!(matches!(
        read_all(f).await,
        Err(UpstreamError::TooLarge(9_999))
    ));
    let missing = Server::start(|_| Reply::new(404)).await;
    assert!(matches!(
        c.open_file(0, &missing.url("/f/a.whl"), 10).await,
        Err(UpstreamError::Status(404))
    ));
}

#[tokio::test]
async fn credentials_go_to_the_upstreams_origin_only() {
    let files = Server::start(|_| Reply::new(200).body("file")).await;
    let index = Server::start(|_| Reply::new(200).body("file")).await;
    let c = client(index.url("/simple/"), Some(("alice", "s3cret")), 5);
    // The page and a file on the index's own origin carry them.
    let _ = c.fetch_page(0, &name("x"), None).await;
    let f = c.open_file(0, &index.url("/files/a.whl"), 100).await;
    assert_eq!(read_all(f.expect("open")).await.expect("body"), b"file");
    for r in index.requests() {
        assert_eq!(r.header("authorization"), Some(ALICE), "{}", r.target);
    }
    // A files host elsewhere (another port is another origin) gets none.
    let f = c.open_file(0, &files.url("/files/a.whl"), 100).await;
    assert_eq!(read_all(f.expect("open")).await.expect("body"), b"file");
    assert_eq!(files.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_origin() {
    let elsewhere = Server::start(|req| {
        if req.target.starts_with("/files/") {
            Reply::new(200).body("moved file")
        } else {
            Reply::new(404)
        }
    })
    .await;
    let other = elsewhere.url("");
    let index = Server::start(move |req| match req.target.as_str() {
        "/simple/x/" => Reply::new(302).header("Location", &format!("{other}/simple/x/")),
        "/files/a.whl" => Reply::new(301).header("Location", &format!("{other}/files/a.whl")),
        _ => Reply::new(404),
    })
    .await;
    let c = client(index.url("/simple/"), Some(("alice", "s3cret")), 5);
    // Off the origin and back again: still none (the chain left it once).
    let back = index.url("/back-home");
    let bounce = Server::start(move |_| Reply::new(307).header("Location", &back)).await;
    let elsewhere_page = c.fetch_page(0, &name("x"), None).await;
    assert!(
        matches!(elsewhere_page, Ok(PageFetch::NotFound)),
        "{elsewhere_page:?}"
    );
    let f = c.open_file(0, &index.url("/files/a.whl"), 100).await;
    assert_eq!(
        read_all(f.expect("open")).await.expect("body"),
        b"moved file"
    );
    let _ = c.open_file(0, &bounce.url("/f"), 100).await;
    for r in elsewhere.requests() {
        assert_eq!(r.header("authorization"), None, "{}", r.target);
    }
    assert_eq!(bounce.requests()[0].header("authorization"), None);
    let home = index
        .requests()
        .into_iter()
        .find(|r| r.target == "/back-home")
        .expect("the bounce came back");
    assert_eq!(home.header("authorization"), None);
    // The first hop on the origin did carry them.
    assert_eq!(index.requests()[0].header("authorization"), Some(ALICE));
}

/// Without `upstream.file_hosts` naming it, a file URL on another origin that is not a public
/// address is refused before any request reaches it, named directly or through a redirect from
/// the upstream's own origin (the page cannot make strongroom read an internal service).
#[tokio::test]
async fn file_urls_off_the_origin_need_file_hosts_or_a_public_address() {
    let internal = Server::start(|_| Reply::new(200).body("INTERNAL-SECRET")).await;
    let secret = internal.url("/latest/meta-data/");
    let index = Server::start(move |req| match req.target.as_str() {
        "/files/a.whl" => Reply::new(200).body("file"),
        "/redir" => Reply::new(302).header("Location", &secret),
        _ => Reply::new(404),
    })
    .await;
    let mut s = settings(index.url("/simple/"), None, 5);
    s.file_hosts = Vec::new();
    let c = UpstreamClient::new(s).expect("client");
    // The upstream's own origin is fine.
    let f = c.open_file(0, &index.url("/files/a.whl"), 100).await;
    assert_eq!(read_all(f.expect("open")).await.expect("body"), b"file");
    for url in [
        internal.url("/latest/meta-data/"),
        index.url("/redir"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]:9/x".to_owned(),
        "http://localhost:9/x".to_owned(),
    ] {
        let r = c.open_file(0, &url, 100).await;
        assert!(
            matches!(r, Err(UpstreamError::Forbidden(_))),
            "{url}: {r:?}"
        );
    }
    assert!(
        internal.requests().is_empty(),
        "the internal host was asked"
    );
    // Listed with its port, that host is a files host; another port of it is not.
    let mut s = settings(index.url("/simple/"), None, 5);
    let port = internal
        .url("")
        .rsplit(':')
        .next()
        .map(str::to_owned)
        .expect("port");
    s.file_hosts = vec![FileHost::parse(&format!("127.0.0.1:{port}")).expect("host")];
    let c = UpstreamClient::new(s).expect("client");
    let f = c.open_file(0, &internal.url("/f"), 100).await;
    assert_eq!(
        read_all(f.expect("open")).await.expect("body"),
        b"INTERNAL-SECRET"
    );
    let r = c.open_file(0, "http://127.0.0.1:9/x", 100).await;
    assert!(matches!(r, Err(UpstreamError::Forbidden(_))), "{r:?}");
}

#[tokio::test]
async fn redirects_are_limited() {
    let server = Server::start(|req| {
        let n: u32 = req.target.trim_start_matches("/r/").parse().unwrap_or(0);
        Reply::new(302).header("Location", &format!("/r/{}", n + 1))
    })
    .await;
    let c = client(server.url("/simple/"), None, 5);
    let r = c.open_file(0, &server.url("/r/0"), 100).await;
    assert!(
        matches!(&r, Err(UpstreamError::Unreachable(m)) if m.contains("redirects")),
        "{:?}",
        r.err()
    );
    assert_eq!(
        server.requests().len(),
        strongroom_upstream::MAX_REDIRECTS + 1
    );
}

#[tokio::test]
async fn a_file_url_that_is_not_http_is_refused() {
    let c = client("http://127.0.0.1:9/simple/".into(), None, 5);
    assert!(matches!(
        c.open_file(0, "file:///etc/passwd", 100).await,
        Err(UpstreamError::Unreachable(_))
    ));
    assert!(matches!(
        c.open_file(1, "http://127.0.0.1:9/x", 100).await,
        Err(UpstreamError::Config(_))
    ));
    // A page's URL with a password in it: the error never shows the password.
    let e = c
        .open_file(0, "http://someone:pagesecret@127.0.0.1:9/x", 100)
        .await
        .expect_err("nothing listens there");
    assert!(matches!(e, UpstreamError::Unreachable(_)), "{e}");
    assert!(!e.to_string().contains("pagesecret"), "{e}");
}

#[test]
fn an_unusable_ca_bundle_is_a_config_error() {
    let dir = std::env::temp_dir().join(format!("sr-upstream-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").expect("write");
    for path in [dir.join("missing.pem"), garbage] {
        let mut s = settings("http://127.0.0.1:9/simple/".into(), None, 5);
        s.ca_bundle = Some(path.clone());
        let e = UpstreamClient::new(s).expect_err("refused");
        assert!(
            matches!(&e, UpstreamError::Config(m) if m.contains("upstream.ca_bundle")),
            "{path:?}: {e}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn https_needs_the_ca_bundle_for_a_private_ca() {
    let server = Server::start_tls(|_| Reply::new(404)).await;
    let url = server.url("/simple/");
    assert!(url.starts_with("https://"));
    // Without the bundle the private CA is unknown: the handshake fails.
    let c = client(url.clone(), None, 5);
    let r = c.fetch_page(0, &name("x"), None).await;
    assert!(matches!(&r, Err(UpstreamError::Unreachable(_))), "{r:?}");
    assert!(server.requests().is_empty());
    // With it, the page is asked for.
    let mut s = settings(url, None, 5);
    s.ca_bundle = Some(support::test_ca_path());
    let c = UpstreamClient::new(s).expect("client");
    let r = c.fetch_page(0, &name("x"), None).await;
    assert!(matches!(r, Ok(PageFetch::NotFound)), "{r:?}");
    assert_eq!(server.requests()[0].target, "/simple/x/");
}

#[tokio::test]
async fn https_never_goes_down_to_plain_http() {
    let plain = Server::start(|_| Reply::new(404)).await;
    let to = plain.url("/simple/x/");
    let server = Server::start_tls(move |_| Reply::new(302).header("Location", &to)).await;
    let mut s = settings(server.url("/simple/"), Some(("alice", "s3cret")), 5);
    s.ca_bundle = Some(support::test_ca_path());
    let c = UpstreamClient::new(s).expect("client");
    let r = c.fetch_page(0, &name("x"), None).await;
    assert!(
        matches!(&r, Err(UpstreamError::Unreachable(m)) if m.contains("plain HTTP")),
        "{r:?}"
    );
    // A plain-HTTP file URL on an HTTPS upstream's page is the same downgrade.
    let r = c.open_file(0, &plain.url("/files/a.whl"), 100).await;
    assert!(
        matches!(&r, Err(UpstreamError::Unreachable(m)) if m.contains("plain HTTP")),
        "{:?}",
        r.err()
    );
    assert!(plain.requests().is_empty());
}

/// The proxy variables reqwest reads, cleared in every child so the machine's own do not leak in.
const PROXY_VARS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Run [`proxy_child`] in a child process of this test binary with `env` set (the environment
/// is read when the client is built; a child keeps the change out of the other tests).
fn run_child(index_url: &str, ca: bool, env: &[(&str, String)]) {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--ignored", "--exact", "proxy_child", "--test-threads=1"]);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    cmd.env("SR_TEST_INDEX_URL", index_url);
    if ca {
        cmd.env("SR_TEST_CA", support::test_ca_path());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("child");
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "the child did not run the check: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The child half of `proxies_come_from_the_environment`: fetch a page of the index named in
/// `SR_TEST_INDEX_URL` (which answers 404) with whatever proxy variables the parent set.
#[tokio::test]
#[ignore = "run by proxies_come_from_the_environment in a child process with proxy variables set"]
async fn proxy_child() {
    let url = std::env::var("SR_TEST_INDEX_URL").expect("SR_TEST_INDEX_URL");
    let mut s = settings(url, None, 5);
    s.ca_bundle = std::env::var_os("SR_TEST_CA").map(Into::into);
    let c = UpstreamClient::new(s).expect("client");
    let r = c.fetch_page(0, &name("x"), None).await;
    assert!(matches!(r, Ok(PageFetch::NotFound)), "{r:?}");
}

// Multi-threaded: the servers keep answering while this thread waits for a child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_come_from_the_environment() {
    let origin = Server::start(|_| Reply::new(404)).await;
    let tls_origin = Server::start_tls(|_| Reply::new(404)).await;
    let proxy = support::Proxy::start().await;
    let index = origin.url("/simple/");
    let tls_index = tls_origin.url("/simple/");

    // HTTP_PROXY: plain-HTTP upstreams are asked through the proxy (absolute-form request).
    run_child(&index, false, &[("HTTP_PROXY", proxy.url())]);
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, origin.url("/simple/x/"));
    assert_eq!(origin.requests().len(), 1, "the proxy forwarded it");

    // NO_PROXY naming the host: straight to the upstream.
    run_child(
        &index,
        false,
        &[
            ("HTTP_PROXY", proxy.url()),
            ("NO_PROXY", "127.0.0.1".into()),
        ],
    );
    assert_eq!(proxy.requests().len(), 1, "NO_PROXY bypassed the proxy");
    assert_eq!(origin.requests().len(), 2);

    // HTTPS_PROXY: HTTPS upstreams are reached through a CONNECT tunnel (TLS end to end, the
    // CA bundle still checked), and HTTP_PROXY is not used for them.
    run_child(&tls_index, true, &[("HTTPS_PROXY", proxy.url())]);
    let seen = proxy.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].method, "CONNECT");
    assert_eq!(seen[1].target, tls_origin.addr.to_string());
    assert_eq!(tls_origin.requests().len(), 1);
    run_child(&tls_index, true, &[("HTTP_PROXY", proxy.url())]);
    assert_eq!(
        proxy.requests().len(),
        2,
        "HTTP_PROXY is for plain HTTP only"
    );
    assert_eq!(tls_origin.requests().len(), 2);

    // The lower-case spelling works too (curl's convention).
    run_child(&index, false, &[("http_proxy", proxy.url())]);
    assert_eq!(proxy.requests().len(), 3);
}

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn a_json_page_is_parsed_with_urls_resolved_against_where_it_was_found() {
    let body = format!(
        r#"{{"meta":{{"api-version":"1.1"}},"name":"demo","versions":["1.0"],
        "files":[{{"filename":"demo-1.0-py3-none-any.whl","url":"demo-1.0-py3-none-any.whl",
        "hashes":{{"sha256":"{SHA}"}},"size":3,"upload-time":"2024-01-02T03:04:05Z"}}]}}"#
    );
    let server = Server::start(move |req| match req.target.as_str() {
        // A same-origin move: relative file URLs resolve against the final page URL.
        "/simple/demo/" => Reply::new(301).header("Location", "/mirror/demo/"),
        _ => Reply::new(200)
            .header("Content-Type", "application/vnd.pypi.simple.v1+json")
            .header("ETag", "\"abc\"")
            .body(body.clone()),
    })
    .await;
    let c = client(server.url("/simple/"), None, 5);
    let Ok(PageFetch::Page { page, etag }) = c.fetch_page(0, &name("demo"), None).await else {
        panic!("no page");
    };
    assert_eq!(etag.as_deref(), Some("\"abc\""));
    assert_eq!(page.name, "demo");
    assert_eq!(page.versions, ["1.0"]);
    assert_eq!(
        page.files[0].url,
        server.url("/mirror/demo/demo-1.0-py3-none-any.whl")
    );
    assert_eq!(page.files[0].sha256.as_deref(), Some(SHA));
    assert_eq!(page.files[0].size, Some(3));
}

#[tokio::test]
async fn an_html_only_upstream_is_read_as_html() {
    let body = format!(
        "<!DOCTYPE html><html><body>\
         <a href=\"/files/demo-1.0.tar.gz#sha256={SHA}\" data-requires-python=\"&gt;=3.8\">demo-1.0.tar.gz</a>\
         </body></html>"
    );
    let server = Server::start(move |_| {
        Reply::new(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(body.clone())
    })
    .await;
    let c = client(server.url("/simple/"), None, 5);
    let Ok(PageFetch::Page { page, etag }) = c.fetch_page(0, &name("demo"), None).await else {
        panic!("no page");
    };
    assert_eq!(etag, None);
    assert_eq!(page.files.len(), 1);
    assert_eq!(page.files[0].url, server.url("/files/demo-1.0.tar.gz"));
    assert_eq!(page.files[0].sha256.as_deref(), Some(SHA));
    assert_eq!(page.files[0].requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(page.files[0].upload_time, None);
}

#[tokio::test]
async fn a_page_for_another_project_is_refused() {
    let server = Server::start(|_| {
        Reply::new(200)
            .header("Content-Type", "application/vnd.pypi.simple.v1+json")
            .body(r#"{"meta":{"api-version":"1.0"},"name":"other","files":[]}"#)
    })
    .await;
    let c = client(server.url("/simple/"), None, 5);
    let r = c.fetch_page(0, &name("demo"), None).await;
    assert!(
        matches!(
            &r,
            Err(UpstreamError::Malformed(
                strongroom_protocol::simple::read::ReadError::WrongProject { .. }
            ))
        ),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_consumer_that_pauses_does_not_make_the_upstream_look_slow() {
    let server = Server::start(|_| {
        let mut r = Reply::new(200);
        r.chunks = vec![vec![1u8; 1000]; 3];
        r
    })
    .await;
    let c = client(server.url("/simple/"), None, 1);
    let mut f = c
        .open_file(0, &server.url("/f/a.whl"), 1 << 20)
        .await
        .expect("open");
    let mut got = 0;
    while let Some(chunk) = f.body.next().await {
        got += chunk
            .expect("no timeout: the upstream was never waited for")
            .len();
        // Longer than the timeout, with far fewer bytes than a window's quota.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    assert_eq!(got, 3000);
}

#[tokio::test]
async fn a_slow_but_steady_body_longer_than_the_timeout_completes() {
    let server = Server::start(|_| {
        let mut r = Reply::new(200);
        // 8 × 20 KiB, one every 300 ms: 2.4 s in all with a 1 s timeout, yet every second of
        // waiting brings more than the least rate.
        r.chunks = vec![vec![2u8; 20 * 1024]; 8];
        r.chunk_delay = Duration::from_millis(300);
        r
    })
    .await;
    let c = client(server.url("/simple/"), None, 1);
    let f = c
        .open_file(0, &server.url("/f/a.whl"), 1 << 20)
        .await
        .expect("open");
    assert_eq!(read_all(f).await.expect("body").len(), 8 * 20 * 1024);
}

/// Parsing a big page (past `INLINE_BYTES`) runs on blocking threads, [`PAGE_WORK_SLOTS`] at
/// a time: while every slot is held by a job that does not end, a big page fetch on this
/// one-thread runtime still runs (the held jobs do not occupy it) and fails `Busy` within its
/// wait, instead of parsing on the runtime or queueing without bound, while a small page is
/// parsed at once, inline. Once a slot is free, the big page is read.
#[tokio::test]
async fn page_parsing_runs_off_the_runtime_under_a_slot_limit() {
    let files = |n: usize| {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"filename":"demo-{i}.0.tar.gz","url":"demo-{i}.0.tar.gz","hashes":{{"sha256":"{}"}}}}"#,
                    "a".repeat(64)
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let big = 200;
    let body = move |n: usize, project: &str| {
        format!(
            r#"{{"meta":{{"api-version":"1.1"}},"name":"{project}","files":[{}]}}"#,
            files(n)
        )
    };
    assert!(body(big, "demo").len() > strongroom_upstream::INLINE_BYTES);
    assert!(body(1, "small").len() <= strongroom_upstream::INLINE_BYTES);
    let server = Server::start(move |req| {
        let page = if req.target.contains("small") {
            body(1, "small")
        } else {
            body(big, "demo")
        };
        Reply::new(200)
            .header("Content-Type", "application/vnd.pypi.simple.v1+json")
            .body(page)
    })
    .await;
    let c = client(server.url("/simple/"), None, 2);
    let mut held = Vec::new();
    for _ in 0..PAGE_WORK_SLOTS {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let work = c.page_work().clone();
        let job = tokio::spawn(async move { work.run(move || wait.recv().is_ok()).await });
        held.push((release, job));
    }
    while c.page_work().free_slots() > 0 {
        tokio::task::yield_now().await;
    }
    let busy = c.fetch_page(0, &name("demo"), None).await;
    assert!(matches!(busy, Err(UpstreamError::Busy)), "{busy:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "the page was fetched, not parsed"
    );
    match c.fetch_page(0, &name("small"), None).await {
        Ok(PageFetch::Page { page, .. }) => assert_eq!(page.name, "small"),
        other => panic!("a small page is parsed inline: {other:?}"),
    }
    assert_eq!(c.page_work().free_slots(), 0, "still held");
    for (release, job) in held {
        release.send(()).expect("job waits");
        assert!(matches!(job.await, Ok(Ok(true))));
    }
    match c.fetch_page(0, &name("demo"), None).await {
        Ok(PageFetch::Page { page, .. }) => assert_eq!(page.files.len(), big),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.page_work().free_slots(), PAGE_WORK_SLOTS);
}
