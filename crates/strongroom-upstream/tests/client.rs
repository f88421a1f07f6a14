//! The upstream client against in-test HTTP servers on 127.0.0.1: page negotiation and
//! revalidation, not-found, bounds, timeouts (slow head, slow-drip body), the credential rule
//! across origins and redirects, the User-Agent, the CA bundle, and proxies from the
//! environment (through a forward proxy).

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use strongroom_protocol::NormalizedName;
use strongroom_upstream::{
    ClientSettings, FileStream, PageFetch, UpstreamClient, UpstreamError, UpstreamIndex,
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
