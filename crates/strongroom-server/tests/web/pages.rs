//! Public pages, security headers, CSRF refusals, escaping, and uploads ignoring cookies.

use crate::support::*;

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
    // the card: the latest final release's version and summary, not the newer pre-release's
    assert!(
        list.body.contains("<span class=\"version\">1.0</span>")
            && list.body.contains("<p class=\"card-summary\">A demo</p>"),
        "{}",
        list.body
    );
    let found = app.get("/projects/?q=markdown").await;
    assert!(
        found.body.contains("href=\"/project/demo-pkg/\""),
        "{}",
        found.body
    );
    let filtered = app.get("/projects/?q=nothing-like-it").await;
    assert!(
        filtered.body.contains("id=\"no-match\""),
        "{}",
        filtered.body
    );
    assert!(!filtered.body.contains("href=\"/project/demo-pkg/\""));

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
async fn a_page_view_never_renders_the_description() {
    let app = app().await;
    let md = metadata("old", "1.0", "s", "# Hello\n\n<b>x</b>", "text/markdown");
    app.publish_rendered("old", "1.0", &md, false).await;
    // stored before rendering at publish: shown escaped, as text, until the job renders it
    let before = app.get("/project/old/").await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(
        before
            .body
            .contains("<pre class=\"description-plain\"># Hello\n\n&lt;b&gt;x&lt;/b&gt;</pre>"),
        "{}",
        before.body
    );
    assert!(!before.body.contains("<h1>Hello</h1>"));
    let report = app.services.run_jobs().await.unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let after = app.get("/project/old/").await;
    assert!(after.body.contains("<h1>Hello</h1>"), "{}", after.body);
    // raw HTML goes through the allow-list once rendered (`<b>` is allowed)
    assert!(after.body.contains("<p><b>x</b></p>"), "{}", after.body);
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
    // Registration open: else the registration POST is refused whatever its token.
    let app = app_with(
        Settings {
            registration: Registration::Open,
            ..Settings::default()
        },
        false,
    )
    .await;
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
            "/manage/account/email/add/",
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
    let services = strongroom_core::testing::services_in(
        first._dir.path(),
        (*first.services.settings).clone(),
        test_keyring(),
    )
    .await;
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
