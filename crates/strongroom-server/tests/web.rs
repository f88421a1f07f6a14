//! The web UI over the real router and a temporary SQLite database (tower `oneshot`): every
//! page renders, security headers, CSRF refusals that change nothing, escaping of hostile
//! metadata, and the upload endpoint ignoring cookies.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use strongroom_core::{RequestMeta, Services, Settings};
use strongroom_server::AppState;
use strongroom_store::{Blobs, Db, NewFile};
use tower::ServiceExt;

const ORIGIN: &str = "http://localhost:8000";

struct TestApp {
    router: Router,
    services: Services,
    _dir: tempfile::TempDir,
}

async fn app_with(settings: Settings, trust_proxy: bool) -> TestApp {
    app_with_clock(settings, trust_proxy, None).await
}

async fn app_with_clock(
    mut settings: Settings,
    trust_proxy: bool,
    clock: Option<std::sync::Arc<strongroom_core::ManualClock>>,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    settings.hibp_url = None;
    settings.outbox_dir = dir.path().join("outbox");
    settings.argon2_memory_kib = 1024;
    settings.argon2_iterations = 1;
    let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let blobs = Blobs::local(dir.path().join("blobs")).unwrap();
    let mut services = Services::new(db, blobs, settings);
    if let Some(c) = clock {
        services.clock = c;
    }
    let state = AppState::new(services.clone(), dir.path().join("tmp"))
        .await
        .unwrap()
        .trust_forwarded_proto(trust_proxy);
    TestApp {
        router: strongroom_server::router(state),
        services,
        _dir: dir,
    }
}

async fn app() -> TestApp {
    app_with(Settings::default(), false).await
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl TestApp {
    async fn send(&self, req: Request<Body>) -> Resp {
        let mut req = req;
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            // minijinja escapes `/` in text as `&#x2f;`: undo that one for readable asserts
            body: String::from_utf8_lossy(&bytes).replace("&#x2f;", "/"),
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(
            Request::get(path)
                .header(header::HOST, "localhost:8000")
                .header(header::ACCEPT, "text/html")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post_form(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let mut b = Request::post(path)
            .header(header::HOST, "localhost:8000")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    async fn event_count(&self) -> usize {
        self.services.db.events(0, 100_000).await.unwrap().len()
    }

    /// Publish `name` `version` with `metadata` straight through the store.
    async fn publish(&self, name: &str, version: &str, metadata: &str) {
        let user = match self.services.db.user_by_name("owner").await.unwrap() {
            Some(u) => u,
            None => self
                .services
                .create_user(
                    "owner",
                    "owner@example.org",
                    "correct horse battery",
                    false,
                    &RequestMeta::default(),
                )
                .await
                .unwrap(),
        };
        let normalized = strongroom_protocol::name::normalize(name);
        let filename = format!(
            "{}-{version}-py3-none-any.whl",
            normalized.replace('-', "_")
        );
        let digest = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (name, version).hash(&mut h);
            format!("{:064x}", h.finish())
        };
        let out = self
            .services
            .db
            .publish_file(&NewFile {
                project_name: name.into(),
                normalized_name: normalized.clone(),
                ultranormalized_name: strongroom_protocol::name::ultranormalize(name),
                user_id: user.id,
                username: user.username.clone(),
                token_project_id: None,
                token_id: None,
                version: version.into(),
                canonical_version: version.into(),
                requires_python: Some(">=3.8".into()),
                core_metadata: metadata.into(),
                filename: filename.clone(),
                packagetype: "bdist_wheel".into(),
                python_version: "py3".into(),
                size: 12_345,
                md5: "0".repeat(32),
                sha256: digest.clone(),
                blake2_256: digest.clone(),
                blob_key: format!(
                    "{}/{}/{}/{filename}",
                    &digest[..2],
                    &digest[2..4],
                    &digest[4..]
                ),
                metadata_sha256: None,
                metadata_blake2_256: None,
                comment_text: None,
                at: self.services.now(),
                ip: None,
                user_agent: None,
                release_window_micros: i64::MAX / 4,
                max_project_size: i64::MAX / 4,
            })
            .await
            .unwrap();
        assert!(
            matches!(out, strongroom_store::PublishOutcome::Published { .. }),
            "{out:?}"
        );
    }
}

fn metadata(name: &str, version: &str, summary: &str, description: &str, ct: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\nProject-URL: Source, https://example.org/src\nProject-URL: Evil, javascript:alert(1)\nRequires-Python: >=3.8\nDescription-Content-Type: {ct}\n\n{description}"
    )
}

/// The `csrf_token` value of the first form in `html`.
fn form_token(html: &str) -> String {
    let at = html.find("name=\"csrf_token\" value=\"").unwrap() + 25;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// The `name=value` of a `Set-Cookie` called `name`.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

#[tokio::test]
async fn public_pages_render() {
    let app = app().await;
    app.publish(
        "Demo-Pkg",
        "1.0",
        &metadata(
            "Demo-Pkg",
            "1.0",
            "A demo",
            "# Hello\n\nSome *markdown*.",
            "text/markdown",
        ),
    )
    .await;
    app.publish(
        "Demo-Pkg",
        "2.0b1",
        &metadata("Demo-Pkg", "2.0b1", "A demo beta", "plain", "text/plain"),
    )
    .await;

    let home = app.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("1 project hosted"), "{}", home.body);
    assert!(home.body.contains("id=\"recent-projects\""));
    assert!(home.body.contains("/static/style."));

    let list = app.get("/projects/").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body
            .contains("href=\"/project/demo-pkg/\">Demo-Pkg</a>")
    );
    let filtered = app.get("/projects/?q=nothing-like-it").await;
    assert!(filtered.body.contains("0 projects"), "{}", filtered.body);

    let p = app.get("/project/demo-pkg/").await;
    assert_eq!(p.status, StatusCode::OK);
    // the latest final release, not the newer pre-release
    assert!(
        p.body.contains("<span class=\"version\">1.0</span>"),
        "{}",
        p.body
    );
    assert!(p.body.contains("<h1>Hello</h1>"));
    assert!(p.body.contains("<em>markdown</em>"));
    assert!(p.body.contains("demo_pkg-1.0-py3-none-any.whl"));
    assert!(p.body.contains("12.3 kB"));
    assert!(p.body.contains("2.0b1"));
    assert!(p.body.contains("pre-release"));
    assert!(p.body.contains("<li>owner</li>"), "maintainers are listed");
    assert!(
        p.body
            .contains("pip install --index-url http://localhost:8000/simple/ Demo-Pkg")
    );

    let r = app.get("/project/demo-pkg/2.0b1/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("This is not the latest release"));
    assert!(r.body.contains("Demo-Pkg==2.0b1"));
    assert!(
        r.body
            .contains("<pre class=\"description-plain\">plain</pre>")
    );

    let moved = app.get("/project/Demo_Pkg/").await;
    assert_eq!(moved.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(moved.headers[header::LOCATION], "/project/demo-pkg/");

    for missing in ["/project/nope/", "/project/demo-pkg/9.9/", "/no/such/page"] {
        let r = app.get(missing).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
        assert!(r.body.contains("<!DOCTYPE html>"), "{missing}");
    }

    for page in [
        "/account/login/",
        "/account/register/",
        "/account/forgot-password/",
        "/account/reset-password/?token=abc",
    ] {
        let r = app.get(page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        assert!(r.body.contains("name=\"csrf_token\""), "{page}");
    }
}

#[tokio::test]
async fn yanked_releases_show_in_history() {
    let app = app().await;
    app.publish(
        "yanky",
        "1.0",
        &metadata("yanky", "1.0", "s", "d", "text/plain"),
    )
    .await;
    app.publish(
        "yanky",
        "1.1",
        &metadata("yanky", "1.1", "s", "d", "text/plain"),
    )
    .await;
    app.services
        .set_yanked(
            "yanky",
            "1.1",
            Some("broken build"),
            "admin",
            &RequestMeta::default(),
        )
        .await
        .unwrap();
    let p = app.get("/project/yanky/").await;
    assert!(
        p.body.contains("<span class=\"version\">1.0</span>"),
        "{}",
        p.body
    );
    assert!(p.body.contains("badge-warn\">yanked</span>"));
    assert!(p.body.contains("broken build"));
    let r = app.get("/project/yanky/1.1/").await;
    assert!(r.body.contains("<strong>Yanked</strong>"));
}

#[tokio::test]
async fn hostile_metadata_is_escaped() {
    let app = app().await;
    app.publish(
        "xss",
        "1.0",
        &metadata(
            "xss",
            "1.0",
            "<svg onload=alert(1)>",
            "<script>alert(1)</script>\n\n[x](javascript:alert(2))",
            "text/markdown",
        ),
    )
    .await;
    let p = app.get("/project/xss/").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(!p.body.contains("<svg"), "{}", p.body);
    assert!(p.body.contains("&lt;svg onload=alert(1)&gt;"));
    assert!(!p.body.contains("<script>alert"));
    assert!(!p.body.contains("href=\"javascript:"));
    assert!(p.body.contains("href=\"https://example.org/src\""));
}

#[tokio::test]
async fn security_headers() {
    let app = app().await;
    let html = app.get("/").await;
    let csp = html.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert_eq!(
        csp,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    assert_eq!(html.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(html.headers.contains_key(header::REFERRER_POLICY));
    assert!(!html.headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
    // the API keeps its strict policy
    let api = app.get("/simple/").await;
    assert_eq!(
        api.headers[header::CONTENT_SECURITY_POLICY],
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    );
    // static files: hashed name, cached for a year
    let at = html.body.find("/static/style.").unwrap();
    let href = &html.body[at..at + html.body[at..].find('"').unwrap()];
    let css = app.get(href).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(
        app.get("/static/style.css").await.status,
        StatusCode::NOT_FOUND
    );

    // X-Forwarded-Proto counts only from a trusted proxy
    let fwd = |app: &TestApp| {
        let r = Request::get("/")
            .header(header::HOST, "localhost")
            .header("x-forwarded-proto", "https")
            .body(Body::empty())
            .unwrap();
        let router = app.router.clone();
        async move {
            let mut r = r;
            r.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
            router.oneshot(r).await.unwrap()
        }
    };
    assert!(
        !fwd(&app)
            .await
            .headers()
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    );
    let trusting = app_with(Settings::default(), true).await;
    assert!(
        fwd(&trusting)
            .await
            .headers()
            .contains_key(header::STRICT_TRANSPORT_SECURITY)
    );
    let https = app_with(
        Settings {
            public_url: Some("https://pypi.example.org".into()),
            ..Settings::default()
        },
        false,
    )
    .await;
    let h = https.get("/simple/").await;
    assert!(
        h.headers[header::STRICT_TRANSPORT_SECURITY]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
}

#[tokio::test]
async fn csrf_refusals_change_nothing() {
    let app = app().await;
    let page = app.get("/account/register/").await;
    let cookie = set_cookie(&page.headers, "__Host-strongroom-csrf").unwrap();
    let set = page.headers[header::SET_COOKIE].to_str().unwrap();
    for part in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    let token = form_token(&page.body);
    let before = app.event_count().await;
    let fields = "username=mallory&email=m%40example.org&password=long+enough+pw&password_confirm=long+enough+pw";
    let cases: Vec<(&str, Vec<(&str, String)>, String)> = vec![
        (
            "no token",
            vec![("origin", ORIGIN.into()), ("cookie", cookie.clone())],
            fields.to_owned(),
        ),
        (
            "wrong token",
            vec![("origin", ORIGIN.into()), ("cookie", cookie.clone())],
            format!("{fields}&csrf_token={}", "0".repeat(64)),
        ),
        (
            "no cookie",
            vec![("origin", ORIGIN.into())],
            format!("{fields}&csrf_token={token}"),
        ),
        (
            "foreign origin",
            vec![
                ("origin", "https://evil.example".into()),
                ("cookie", cookie.clone()),
            ],
            format!("{fields}&csrf_token={token}"),
        ),
        (
            "null origin",
            vec![("origin", "null".into()), ("cookie", cookie.clone())],
            format!("{fields}&csrf_token={token}"),
        ),
        (
            "foreign referer, no origin",
            vec![
                ("referer", "https://evil.example/x".into()),
                ("cookie", cookie.clone()),
            ],
            format!("{fields}&csrf_token={token}"),
        ),
        (
            "neither origin nor referer",
            vec![("cookie", cookie.clone())],
            format!("{fields}&csrf_token={token}"),
        ),
    ];
    for (what, headers, body) in cases {
        let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for path in [
            "/account/register/",
            "/account/login/",
            "/account/forgot-password/",
            "/account/logout/",
            "/manage/account/tokens/",
            "/manage/account/email/",
        ] {
            let r = app.post_form(path, &hs, &body).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{what} on {path}: {}",
                r.body
            );
        }
    }
    assert_eq!(app.event_count().await, before);
    assert!(
        app.services
            .db
            .user_by_name("mallory")
            .await
            .unwrap()
            .is_none()
    );

    // the same-origin request with the right token passes the check (a same-origin Referer
    // counts when Origin is missing)
    for hs in [
        vec![("origin", ORIGIN), ("cookie", cookie.as_str())],
        vec![
            ("referer", "http://localhost:8000/account/login/"),
            ("cookie", cookie.as_str()),
        ],
    ] {
        let r = app
            .post_form("/account/logout/", &hs, &format!("csrf_token={token}"))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
}

#[tokio::test]
async fn anonymous_csrf_tokens_hold_across_servers_on_one_database() {
    let first = app().await;
    let page = first.get("/account/login/").await;
    let cookie = set_cookie(&page.headers, "__Host-strongroom-csrf").unwrap();
    let token = form_token(&page.body);
    // A second server (or this one restarted) on the same database: its own connection,
    // services and state.
    let db = Db::connect(&format!(
        "sqlite://{}",
        first._dir.path().join("t.db").display()
    ))
    .await
    .unwrap();
    db.migrate().await.unwrap();
    let blobs = Blobs::local(first._dir.path().join("blobs")).unwrap();
    let services = Services::new(db, blobs, (*first.services.settings).clone());
    let second = TestApp {
        router: strongroom_server::router(
            AppState::new(services.clone(), first._dir.path().join("tmp2"))
                .await
                .unwrap(),
        ),
        services,
        _dir: tempfile::tempdir().unwrap(),
    };
    let hs = [("origin", ORIGIN), ("cookie", cookie.as_str())];
    let body = format!("csrf_token={token}");
    let r = second.post_form("/account/logout/", &hs, &body).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // A server on another database has another key: the same form is refused there.
    let other = app().await;
    let r = other.post_form("/account/logout/", &hs, &body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body.contains("cross-site request check failed"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn logged_out_visitors_are_sent_to_login_and_admin_is_hidden() {
    let app = app().await;
    let r = app.get("/manage/account/tokens/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers[header::LOCATION],
        "/account/login/?next=%2Fmanage%2Faccount%2Ftokens%2F"
    );
    for admin in ["/admin/", "/admin/users/", "/admin/projects/"] {
        assert_eq!(
            app.get(admin).await.status,
            StatusCode::NOT_FOUND,
            "{admin}"
        );
    }
    // a cookie that names no session is nobody
    let r = app
        .send(
            Request::get("/admin/")
                .header(header::HOST, "localhost:8000")
                .header(header::COOKIE, "__Host-strongroom-session=forged")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn login_page_never_carries_an_unsafe_next() {
    let app = app().await;
    for bad in [
        "//evil.com",
        "/%5Cevil.com",
        "https://evil.com",
        "/%09/evil.com",
    ] {
        let r = app
            .get(&format!(
                "/account/login/?next={}",
                form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>()
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.body.contains("evil.com"), "{bad}: {}", r.body);
    }
    let r = app.get("/account/login/?next=%2Fmanage%2Faccount%2F").await;
    assert!(r.body.contains("?next=/manage/account/\""), "{}", r.body);
}

#[tokio::test]
async fn upload_ignores_session_cookies() {
    let app = app().await;
    let r = app
        .send(
            Request::post("/legacy/")
                .header(header::HOST, "localhost:8000")
                .header(header::COOKIE, "__Host-strongroom-session=whatever")
                .header(header::ORIGIN, ORIGIN)
                .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
                .body(Body::from("--x--\r\n"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body.contains("Invalid or non-existent authentication"),
        "{}",
        r.body
    );
}

// ---------------------------------------------------------------------------------------------
// logged-in flows (require_2fa off unless said otherwise)

const PASSWORD: &str = "correct horse battery staple";

async fn accounts_app(require_2fa: bool) -> TestApp {
    app_with(
        Settings {
            require_2fa,
            ..Settings::default()
        },
        false,
    )
    .await
}

struct Browser {
    cookies: Vec<String>,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies.join("; ")
    }

    fn absorb(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(header::SET_COOKIE) {
            let pair = v.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            if !v.to_str().unwrap().contains("Max-Age=0") {
                self.cookies.push(pair);
            }
        }
    }

    async fn get(&mut self, app: &TestApp, path: &str) -> Resp {
        let r = app
            .send(
                Request::get(path)
                    .header(header::HOST, "localhost:8000")
                    .header(header::COOKIE, self.cookie_header())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        self.absorb(&r.headers);
        r
    }

    async fn post(&mut self, app: &TestApp, path: &str, body: &str) -> Resp {
        let cookie = self.cookie_header();
        let r = app
            .post_form(
                path,
                &[("origin", ORIGIN), ("cookie", cookie.as_str())],
                body,
            )
            .await;
        self.absorb(&r.headers);
        r
    }

    async fn login(app: &TestApp, username: &str) -> (Browser, String) {
        let mut b = Browser {
            cookies: Vec::new(),
        };
        let page = b.get(app, "/account/login/").await;
        let token = form_token(&page.body);
        let r = b
            .post(
                app,
                "/account/login/",
                &format!(
                    "csrf_token={token}&username={username}&password={}",
                    enc(PASSWORD)
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(b.cookie_header().contains("__Host-strongroom-session="));
        let set = r
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        let session = set
            .iter()
            .find(|c| c.starts_with("__Host-strongroom-session="))
            .unwrap();
        for part in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(session.contains(part), "{session}");
        }
        let location = r.headers[header::LOCATION].to_str().unwrap().to_owned();
        let page = b.get(app, "/manage/account/").await;
        let csrf = if page.status == StatusCode::OK {
            form_token(&page.body)
        } else {
            String::new()
        };
        let _ = location;
        (b, csrf)
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn user(app: &TestApp, name: &str) -> strongroom_store::model::User {
    app.services
        .create_user(
            name,
            &format!("{name}@example.org"),
            PASSWORD,
            false,
            &RequestMeta::default(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn login_session_settings_and_logout() {
    let app = accounts_app(false).await;
    let alice = user(&app, "alice").await;
    let (mut b, csrf) = Browser::login(&app, "alice").await;
    assert!(!csrf.is_empty());

    let account = b.get(&app, "/manage/account/").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("alice@example.org"));
    assert!(account.body.contains("this session"));
    assert!(account.body.contains("account:login"), "{}", account.body);

    // the anonymous CSRF token is not accepted for a logged-in user's form
    let r = b
        .post(
            &app,
            "/manage/account/tokens/",
            "csrf_token=deadbeef&name=x",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // create a token: shown once
    let r = b
        .post(
            &app,
            "/manage/account/tokens/",
            &format!("csrf_token={csrf}&name=ci&scope=&expires_days=30"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("strongroom-"), "{}", r.body);
    let tokens = app.services.tokens_of(alice.id).await.unwrap();
    assert_eq!(tokens.len(), 1);
    let list = b.get(&app, "/manage/account/tokens/").await;
    assert!(list.body.contains(">ci<"));
    assert!(
        !list.body.contains("strongroom-"),
        "the secret is never shown again"
    );

    // revoke it
    let r = b
        .post(
            &app,
            "/manage/account/tokens/revoke/",
            &format!("csrf_token={csrf}&token_id={}", tokens[0].id),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        app.services.tokens_of(alice.id).await.unwrap()[0]
            .revoked_at
            .is_some()
    );

    // the admin area stays hidden from non-admins
    assert_eq!(
        b.get(&app, "/admin/users/").await.status,
        StatusCode::NOT_FOUND
    );

    // log out: the old cookie names nobody any more
    let old = b.cookie_header();
    let r = b
        .post(&app, "/account/logout/", &format!("csrf_token={csrf}"))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let mut replay = Browser { cookies: vec![old] };
    let r = replay.get(&app, "/manage/account/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.headers[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/account/login/")
    );
}

#[tokio::test]
async fn admins_see_the_admin_area() {
    let app = accounts_app(false).await;
    app.services
        .create_user(
            "root",
            "root@example.org",
            PASSWORD,
            true,
            &RequestMeta::default(),
        )
        .await
        .unwrap();
    user(&app, "bob").await;
    app.publish(
        "listed",
        "1.0",
        &metadata("listed", "1.0", "s", "d", "text/plain"),
    )
    .await;
    let (mut b, _) = Browser::login(&app, "root").await;
    let users = b.get(&app, "/admin/users/").await;
    assert_eq!(users.status, StatusCode::OK);
    assert!(users.body.contains("bob") && users.body.contains("root"));
    let projects = b.get(&app, "/admin/projects/").await;
    assert!(projects.body.contains("listed"), "{}", projects.body);
    assert!(b.get(&app, "/").await.body.contains("href=\"/admin/\""));
}

#[tokio::test]
async fn idor_on_tokens_emails_sessions_and_keys_is_a_404() {
    let app = accounts_app(false).await;
    let alice = user(&app, "alice").await;
    user(&app, "bob").await;
    let (mut a, a_csrf) = Browser::login(&app, "alice").await;
    let r = a
        .post(
            &app,
            "/manage/account/tokens/",
            &format!("csrf_token={a_csrf}&name=ci&scope=&expires_days="),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let a_token = app.services.tokens_of(alice.id).await.unwrap()[0].id;
    let a_email = app.services.db.emails_of(alice.id).await.unwrap()[0].id;
    let a_session = app.services.list_sessions(alice.id).await.unwrap()[0].id;
    let before = app.event_count().await;

    let (mut b, b_csrf) = Browser::login(&app, "bob").await;
    let after_login = app.event_count().await;
    assert!(after_login >= before);
    for (path, body) in [
        (
            "/manage/account/tokens/revoke/",
            format!("token_id={a_token}"),
        ),
        (
            "/manage/account/email/",
            format!("action=remove&email_id={a_email}"),
        ),
        (
            "/manage/account/email/",
            format!("action=primary&email_id={a_email}"),
        ),
        (
            "/manage/account/email/",
            format!("action=resend&email_id={a_email}"),
        ),
        (
            "/manage/account/sessions/end/",
            format!("session_id={a_session}"),
        ),
        (
            "/manage/account/webauthn/remove/",
            "credential_id=1".to_owned(),
        ),
        (
            "/manage/account/tokens/revoke/",
            "token_id=not-a-number".to_owned(),
        ),
    ] {
        let r = b
            .post(&app, path, &format!("csrf_token={b_csrf}&{body}"))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path} {body}: {}", r.body);
    }
    // nothing of alice's changed
    assert!(
        app.services.tokens_of(alice.id).await.unwrap()[0]
            .revoked_at
            .is_none()
    );
    assert_eq!(app.services.db.emails_of(alice.id).await.unwrap().len(), 1);
    assert_eq!(a.get(&app, "/manage/account/").await.status, StatusCode::OK);
    // and bob's CSRF token does not work in alice's session
    let r = a
        .post(
            &app,
            "/manage/account/tokens/revoke/",
            &format!("csrf_token={b_csrf}&token_id={a_token}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_session_without_second_factor_may_only_enrol() {
    let app = accounts_app(true).await;
    user(&app, "carol").await;
    let mut b = Browser {
        cookies: Vec::new(),
    };
    let page = b.get(&app, "/account/login/").await;
    let token = form_token(&page.body);
    let r = b
        .post(
            &app,
            "/account/login/",
            &format!(
                "csrf_token={token}&username=carol&password={}",
                enc(PASSWORD)
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/manage/account/two-factor/");
    let tf = b.get(&app, "/manage/account/two-factor/").await;
    assert_eq!(tf.status, StatusCode::OK);
    let csrf = form_token(&tf.body);
    let r = b.get(&app, "/manage/account/tokens/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/manage/account/two-factor/");
    let r = b
        .post(
            &app,
            "/manage/account/tokens/",
            &format!("csrf_token={csrf}&name=x"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // TOTP enrolment page: a QR code as a data: image and the secret
    let totp = b.get(&app, "/manage/account/totp/").await;
    assert_eq!(totp.status, StatusCode::OK, "{}", totp.body);
    assert!(
        totp.body.contains("src=\"data:image/svg+xml;base64,"),
        "{}",
        totp.body
    );
    assert!(totp.body.contains("id=\"totp-secret\""));
}

#[tokio::test]
async fn failed_logins_end_in_a_429_with_retry_after() {
    let app = accounts_app(false).await;
    user(&app, "dave").await;
    let mut b = Browser {
        cookies: Vec::new(),
    };
    let page = b.get(&app, "/account/login/").await;
    let token = form_token(&page.body);
    let mut last = None;
    for _ in 0..15 {
        let r = b
            .post(
                &app,
                "/account/login/",
                &format!("csrf_token={token}&username=dave&password=wrong-password"),
            )
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            last = Some(r);
            break;
        }
        assert!(r.status.is_client_error(), "{}", r.status);
        assert!(r.body.contains("id=\"form-error\""));
    }
    let r = last.expect("no 429 after 15 wrong passwords");
    let secs: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs > 0);
    assert!(r.body.contains("Please wait"), "{}", r.body);
}

#[tokio::test]
async fn register_then_verify_by_the_mailed_link() {
    let app = accounts_app(true).await;
    let mut b = Browser {
        cookies: Vec::new(),
    };
    let page = b.get(&app, "/account/register/").await;
    let token = form_token(&page.body);
    let pw = enc("a long and unusual passphrase 7");
    let r = b
        .post(
            &app,
            "/account/register/",
            &format!("csrf_token={token}&username=erin&email=erin%40example.org&password={pw}&password_confirm={pw}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Check your email"));
    // mismatched confirmation: the form again, with the error and the typed values
    let r = b
        .post(
            &app,
            "/account/register/",
            &format!("csrf_token={token}&username=frank&email=f%40example.org&password={pw}&password_confirm=other"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("do not match") && r.body.contains("value=\"frank\""));
    // no SMTP configured: the mail is a file in the outbox
    app.services.deliver_outbox().await.unwrap();
    let outbox = app.services.settings.outbox_dir.clone();
    let mut link = None;
    for entry in std::fs::read_dir(&outbox).unwrap() {
        // quoted-printable: join soft line breaks, decode `=3D`
        let text = std::fs::read_to_string(entry.unwrap().path())
            .unwrap_or_default()
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        if let Some(at) = text.find("/account/verify-email/?token=") {
            let rest = &text[at..];
            link = Some(rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())].to_owned());
        }
    }
    let link = link.expect("a verification mail in the outbox");
    let r = b.get(&app, &link).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("verified"));
    let again = b.get(&app, &link).await;
    assert!(
        again.status.is_client_error(),
        "a verification link works once"
    );
}

#[tokio::test]
async fn sensitive_actions_ask_for_the_password_again() {
    let clock = std::sync::Arc::new(strongroom_core::ManualClock::new(1_800_000_000_000_000));
    let app = app_with_clock(
        Settings {
            require_2fa: false,
            ..Settings::default()
        },
        false,
        Some(clock.clone()),
    )
    .await;
    let gina = user(&app, "gina").await;
    let (mut b, csrf) = Browser::login(&app, "gina").await;
    let r = b
        .post(
            &app,
            "/manage/account/tokens/",
            &format!("csrf_token={csrf}&name=ci"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let token_id = app.services.tokens_of(gina.id).await.unwrap()[0].id;
    clock.advance(11 * 60_000_000);
    // the revoke is held back: re-authenticate first, then come back
    let r = b
        .post(
            &app,
            "/manage/account/tokens/revoke/",
            &format!("csrf_token={csrf}&token_id={token_id}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let prompt = r.headers[header::LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        prompt,
        "/manage/account/reauth/?next=%2Fmanage%2Faccount%2Ftokens%2F"
    );
    assert!(
        app.services.tokens_of(gina.id).await.unwrap()[0]
            .revoked_at
            .is_none()
    );
    // so is a new token: nothing is created before the password is given again
    let r = b
        .post(
            &app,
            "/manage/account/tokens/",
            &format!("csrf_token={csrf}&name=late"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.headers[header::LOCATION].to_str().unwrap(), prompt);
    assert_eq!(app.services.tokens_of(gina.id).await.unwrap().len(), 1);
    let page = b.get(&app, &prompt).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Confirm it is you"));
    let wrong = b
        .post(&app, &prompt, &format!("csrf_token={csrf}&password=not-it"))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("id=\"form-error\""));
    let ok = b
        .post(
            &app,
            &prompt,
            &format!("csrf_token={csrf}&password={}", enc(PASSWORD)),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.headers[header::LOCATION], "/manage/account/tokens/");
    let r = b
        .post(
            &app,
            "/manage/account/tokens/revoke/",
            &format!("csrf_token={csrf}&token_id={token_id}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers[header::LOCATION],
        "/manage/account/tokens/?done=token-revoked"
    );
    assert!(
        app.services.tokens_of(gina.id).await.unwrap()[0]
            .revoked_at
            .is_some()
    );
    let r = b
        .post(
            &app,
            "/manage/account/tokens/",
            &format!("csrf_token={csrf}&name=late"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("strongroom-"),
        "the new token is shown once"
    );
    assert_eq!(app.services.tokens_of(gina.id).await.unwrap().len(), 2);
    // an unsafe next= after re-authentication goes home
    let r = b
        .post(
            &app,
            "/manage/account/reauth/?next=%2F%2Fevil.com",
            &format!("csrf_token={csrf}&password={}", enc(PASSWORD)),
        )
        .await;
    assert_eq!(r.headers[header::LOCATION], "/");
}

/// The last mailed link containing `path`, from the outbox files (quoted-printable undone).
async fn mailed_link(app: &TestApp, path: &str) -> Option<String> {
    app.services.deliver_outbox().await.unwrap();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&app.services.settings.outbox_dir).ok()? {
        let p = entry.ok()?.path();
        let modified = std::fs::metadata(&p).ok()?.modified().ok()?;
        let text = std::fs::read_to_string(&p)
            .unwrap_or_default()
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        if let Some(at) = text.find(path) {
            let rest = &text[at..];
            found.push((
                modified,
                p,
                rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())].to_owned(),
            ));
        }
    }
    found.sort();
    found.pop().map(|(_, _, l)| l)
}

#[tokio::test]
async fn emails_password_change_and_reset_by_mail() {
    let app = accounts_app(false).await;
    let hank = user(&app, "hank").await;
    let (mut b, csrf) = Browser::login(&app, "hank").await;

    // add a second address: unverified, cannot become primary, can be removed
    let r = b
        .post(
            &app,
            "/manage/account/email/",
            &format!("csrf_token={csrf}&action=add&address=hank2%40example.org"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        r.headers[header::LOCATION],
        "/manage/account/?done=email-added"
    );
    let page = b.get(&app, "/manage/account/?done=email-added").await;
    assert!(page.body.contains("hank2@example.org") && page.body.contains("unverified"));
    assert!(page.body.contains("Email address added."));
    let second = app
        .services
        .db
        .emails_of(hank.id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.address == "hank2@example.org")
        .unwrap();
    let r = b
        .post(
            &app,
            "/manage/account/email/",
            &format!("csrf_token={csrf}&action=primary&email_id={}", second.id),
        )
        .await;
    assert!(
        r.status.is_client_error(),
        "an unverified address cannot be primary: {}",
        r.status
    );
    let r = b
        .post(
            &app,
            "/manage/account/email/",
            &format!("csrf_token={csrf}&action=remove&email_id={}", second.id),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(app.services.db.emails_of(hank.id).await.unwrap().len(), 1);

    // change the password: the new one logs in
    let new_pw = "another quite long passphrase 9";
    let r = b
        .post(
            &app,
            "/manage/account/password/",
            &format!(
                "csrf_token={csrf}&old_password={}&new_password={}&new_password_confirm={}",
                enc(PASSWORD),
                enc(new_pw),
                enc(new_pw)
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let mut fresh = Browser {
        cookies: Vec::new(),
    };
    let page = fresh.get(&app, "/account/login/").await;
    let t = form_token(&page.body);
    let r = fresh
        .post(
            &app,
            "/account/login/",
            &format!("csrf_token={t}&username=hank&password={}", enc(new_pw)),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // forgot → mailed link → new password
    let mut anon = Browser {
        cookies: Vec::new(),
    };
    let page = anon.get(&app, "/account/forgot-password/").await;
    let t = form_token(&page.body);
    let r = anon
        .post(
            &app,
            "/account/forgot-password/",
            &format!("csrf_token={t}&username_or_email=hank"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let same = anon
        .post(
            &app,
            "/account/forgot-password/",
            &format!("csrf_token={t}&username_or_email=nobody-here"),
        )
        .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(
        r.body.replace(&t, ""),
        same.body.replace(&t, ""),
        "the answer does not tell whether the account exists"
    );
    let link = mailed_link(&app, "/account/reset-password/?token=")
        .await
        .expect("a reset mail");
    let page = anon.get(&app, &link).await;
    assert_eq!(page.status, StatusCode::OK);
    let reset_token = link.split("token=").nth(1).unwrap().to_owned();
    let third = "yet another long passphrase 123";
    let r = anon
        .post(
            &app,
            "/account/reset-password/",
            &format!(
                "csrf_token={t}&token={}&password={}&password_confirm={}",
                enc(&reset_token),
                enc(third),
                enc(third)
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Password changed"));
    let r = anon
        .post(
            &app,
            "/account/login/",
            &format!("csrf_token={t}&username=hank&password={}", enc(third)),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

#[tokio::test]
async fn webauthn_json_calls_need_the_csrf_header() {
    let app = accounts_app(false).await;
    let mut b = Browser {
        cookies: Vec::new(),
    };
    let page = b.get(&app, "/account/login/").await;
    let token = form_token(&page.body);
    let call = |token: Option<String>, origin: &'static str, cookies: String| {
        let mut req = Request::post("/account/webauthn/login/begin/")
            .header(header::HOST, "localhost:8000")
            .header(header::ORIGIN, origin)
            .header(header::COOKIE, cookies)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        req.body(Body::from("{}")).unwrap()
    };
    let refused = app.send(call(None, ORIGIN, b.cookie_header())).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(refused.body.contains("\"error\""));
    let foreign = app
        .send(call(
            Some(token.clone()),
            "https://evil.example",
            b.cookie_header(),
        ))
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    let ok = app.send(call(Some(token), ORIGIN, b.cookie_header())).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let v: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert!(v["state_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(v["options"]["publicKey"]["challenge"].is_string(), "{v}");
    // registration needs a session
    let r = app
        .send(
            Request::post("/manage/account/webauthn/begin/")
                .header(header::HOST, "localhost:8000")
                .header(header::ORIGIN, ORIGIN)
                .header(header::COOKIE, b.cookie_header())
                .header("x-csrf-token", form_token(&page.body))
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
