//! Every route of the table that accepts a state-changing method refuses a request without the
//! CSRF token, with another session's token, and from a foreign origin. The routes come from
//! the route table itself (`strongroom_server::routes::route_table`), so a route added later is
//! swept without anyone editing this test. The API routes exempt from the check (each with its
//! reason in the table) are listed here on purpose, and shown not to take the session cookie as
//! authority.

use super::support::*;

/// A concrete path for a route pattern (`{name}` → `demo`, ids → 1, …).
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| match seg {
            "{name}" => "demo",
            "{version}" => "1.0",
            "{id}" => "1",
            "{kind}" => "address",
            "{file}" => "style.css",
            s if s.starts_with("{*") => "x/y",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

const REFUSED: &str = "cross-site request check failed";

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    origin: &str,
    cookie: &str,
    token: Option<&str>,
) -> Resp {
    let body = token.map_or(String::new(), |t| format!("csrf_token={t}"));
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "localhost:8000")
        .header(header::ORIGIN, origin)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(t) = token {
        // the JSON posts carry their token in this header
        req = req.header("x-csrf-token", t);
    }
    app.send(req.body(Body::from(body)).unwrap()).await
}

#[tokio::test]
async fn every_state_changing_web_route_refuses_forged_requests() {
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
        "demo",
        "1.0",
        &metadata("demo", "1.0", "s", "d", "text/plain"),
    )
    .await;
    // an administrator, so the admin routes reach their check instead of the 404 of others
    let (root, root_csrf) = Browser::login(&app, "root").await;
    let (_, bob_csrf) = Browser::login(&app, "bob").await;
    assert!(!root_csrf.is_empty() && root_csrf != bob_csrf);
    let cookie = root.cookie_header();
    let before = app.event_count().await;

    let table = strongroom_server::routes::route_table();
    let mut swept = Vec::new();
    for pattern in &table.paths {
        let path = concrete(pattern);
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let missing = send(&app, method, &path, ORIGIN, &cookie, None).await;
            if missing.status == StatusCode::METHOD_NOT_ALLOWED {
                continue;
            }
            let foreign = send(&app, method, &path, ORIGIN, &cookie, Some(&bob_csrf)).await;
            let cross = send(
                &app,
                method,
                &path,
                "https://evil.example",
                &cookie,
                Some(&root_csrf),
            )
            .await;
            for (what, r) in [
                ("no token", &missing),
                ("another session's token", &foreign),
                ("a foreign Origin", &cross),
            ] {
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{method} {pattern} with {what}: {}",
                    r.body
                );
                assert!(
                    r.body.contains(REFUSED),
                    "{method} {pattern} with {what} was not refused by the CSRF check: {}",
                    r.body
                );
            }
            swept.push(format!("{method} {pattern}"));
        }
    }
    // the sweep saw the routes it is about (not vacuously green)
    for must in [
        "POST /account/login/",
        "POST /account/logout/",
        "POST /manage/account/email/{id}/remove/",
        "POST /manage/account/token/{id}/revoke/",
        "POST /manage/account/webauthn/begin/",
        "POST /manage/account/reauth/",
        "POST /manage/account/delete/",
        "POST /admin/users/{name}/freeze/",
        "POST /manage/project/{name}/release/{version}/yank/",
    ] {
        assert!(
            swept.iter().any(|s| s == must),
            "{must} not swept: {swept:?}"
        );
    }
    assert!(swept.len() >= 30, "{swept:?}");
    assert_eq!(
        app.event_count().await,
        before,
        "a refused request changed something"
    );
}

#[tokio::test]
async fn exempt_api_routes_do_not_take_the_session_cookie_as_authority() {
    let table = strongroom_server::routes::route_table();
    let mut exempt: Vec<&str> = table.exempt.iter().map(|e| e.path).collect();
    exempt.sort_unstable();
    // A new exemption is a decision: it must be added here, with its reason in the table.
    assert_eq!(
        exempt,
        [
            "/RPC2",
            "/api/file-status",
            "/legacy",
            "/legacy/",
            "/osv/v1/query",
            "/pypi"
        ]
    );
    assert!(table.exempt.iter().all(|e| e.reason.len() > 20));
    assert!(
        table.paths.iter().all(|p| !exempt.contains(p)),
        "a path is both swept and exempt"
    );

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
    let (root, csrf) = Browser::login(&app, "root").await;
    let cookie = root.cookie_header();
    // An upload carrying an administrator's session cookie, token and origin, but no API
    // credentials: refused as unauthenticated, nothing stored.
    let before = app.event_count().await;
    let boundary = "x";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ndemo\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n1.0\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n\
         --{boundary}--\r\n"
    );
    let r = app
        .send(
            Request::post("/legacy/")
                .header(header::HOST, "localhost:8000")
                .header(header::COOKIE, &cookie)
                .header(header::ORIGIN, ORIGIN)
                .header("x-csrf-token", &csrf)
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(form))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body.contains("Invalid or non-existent authentication"),
        "{}",
        r.body
    );
    assert!(
        app.services
            .db
            .project_by_normalized("demo")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(app.event_count().await, before);
    // XML-RPC answers the same with and without the cookie, and sets none.
    let call = "<?xml version=\"1.0\"?><methodCall><methodName>list_packages</methodName><params/></methodCall>";
    for path in ["/pypi", "/RPC2"] {
        let mut answers = Vec::new();
        for with_cookie in [false, true] {
            let mut req = Request::post(path)
                .header(header::HOST, "localhost:8000")
                .header(header::CONTENT_TYPE, "text/xml");
            if with_cookie {
                req = req.header(header::COOKIE, &cookie);
            }
            let r = app.send(req.body(Body::from(call)).unwrap()).await;
            assert!(r.headers.get(header::SET_COOKIE).is_none());
            answers.push((r.status, r.body));
        }
        assert_eq!(answers[0], answers[1], "{path}");
    }
}
