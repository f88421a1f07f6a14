//! Shared fixtures of the web tests: an app over the core layer's test services
//! (`strongroom_core::testing`: a temporary SQLite database and blob folder), a cookie-keeping
//! browser, form and mail helpers.

pub(crate) use std::net::SocketAddr;

pub(crate) use axum::Router;
pub(crate) use axum::body::Body;
pub(crate) use axum::extract::ConnectInfo;
pub(crate) use axum::http::{HeaderMap, Request, StatusCode, header};
pub(crate) use http_body_util::BodyExt;
pub(crate) use strongroom_core::registration::Registration;
pub(crate) use strongroom_core::{RequestMeta, Services, Settings};
pub(crate) use strongroom_server::AppState;
pub(crate) use strongroom_store::NewFile;
pub(crate) use tower::ServiceExt;

pub(crate) const ORIGIN: &str = "http://localhost:8000";

/// The secrets key of the test databases (every app, and a second server on one database).
pub(crate) fn test_keyring() -> strongroom_store::Keyring {
    strongroom_store::Keyring::new(strongroom_store::SecretsKey::from_bytes([5; 32]))
}

pub(crate) struct TestApp {
    pub(crate) router: Router,
    pub(crate) services: Services,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) async fn app_with(settings: Settings, trust_proxy: bool) -> TestApp {
    app_with_clock(settings, trust_proxy, None).await
}

pub(crate) async fn app_with_clock(
    mut settings: Settings,
    trust_proxy: bool,
    clock: Option<std::sync::Arc<strongroom_core::ManualClock>>,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    settings.hibp_url = None;
    settings.outbox_dir = dir.path().join("outbox");
    settings.argon2_memory_kib = 1024;
    settings.argon2_iterations = 1;
    let mut services =
        strongroom_core::testing::services_in(dir.path(), settings, test_keyring()).await;
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

pub(crate) async fn app() -> TestApp {
    app_with(Settings::default(), false).await
}

pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl TestApp {
    pub(crate) async fn send(&self, req: Request<Body>) -> Resp {
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

    pub(crate) async fn get(&self, path: &str) -> Resp {
        self.send(
            Request::get(path)
                .header(header::HOST, "localhost:8000")
                .header(header::ACCEPT, "text/html")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub(crate) async fn post_form(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let mut b = Request::post(path)
            .header(header::HOST, "localhost:8000")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    pub(crate) async fn event_count(&self) -> usize {
        self.services.db.events(0, 100_000).await.unwrap().len()
    }

    /// Publish `name` `version` with `metadata` straight through the store.
    pub(crate) async fn publish(&self, name: &str, version: &str, metadata: &str) {
        self.publish_rendered(name, version, metadata, true).await
    }

    /// [`Self::publish`], with the description rendered as the upload path does, or not (as
    /// releases stored before descriptions were rendered at publish).
    pub(crate) async fn publish_rendered(
        &self,
        name: &str,
        version: &str,
        metadata: &str,
        rendered: bool,
    ) {
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
                ultranormalized_name: strongroom_protocol::name::skeleton(name),
                user_id: user.id,
                username: user.username.clone(),
                token_project_id: None,
                token_id: None,
                version: version.into(),
                canonical_version: version.into(),
                requires_python: Some(">=3.8".into()),
                core_metadata: metadata.into(),
                // what the upload path stores: the description rendered at publish
                description: rendered
                    .then(|| strongroom_core::descriptions::render_metadata(metadata)),
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
                request_id: None,
                release_window_micros: i64::MAX / 4,
                max_project_size: i64::MAX / 4,
                scan: None,
            })
            .await
            .unwrap();
        assert!(
            matches!(out, strongroom_store::PublishOutcome::Published { .. }),
            "{out:?}"
        );
    }
}

pub(crate) fn metadata(
    name: &str,
    version: &str,
    summary: &str,
    description: &str,
    ct: &str,
) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\nProject-URL: Source, https://example.org/src\nProject-URL: Evil, javascript:alert(1)\nRequires-Python: >=3.8\nDescription-Content-Type: {ct}\n\n{description}"
    )
}

/// The `csrf_token` value of the first form in `html`.
pub(crate) fn form_token(html: &str) -> String {
    let at = html.find("name=\"csrf_token\" value=\"").unwrap() + 25;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// The `name=value` of a `Set-Cookie` called `name`.
pub(crate) fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

// ---------------------------------------------------------------------------------------------
// logged-in flows (require_2fa off unless said otherwise)

pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) async fn accounts_app(require_2fa: bool) -> TestApp {
    app_with(
        Settings {
            require_2fa,
            ..Settings::default()
        },
        false,
    )
    .await
}

pub(crate) struct Browser {
    pub(crate) cookies: Vec<String>,
}

impl Browser {
    pub(crate) fn cookie_header(&self) -> String {
        self.cookies.join("; ")
    }

    pub(crate) fn absorb(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(header::SET_COOKIE) {
            let pair = v.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            if !v.to_str().unwrap().contains("Max-Age=0") {
                self.cookies.push(pair);
            }
        }
    }

    pub(crate) async fn get(&mut self, app: &TestApp, path: &str) -> Resp {
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

    pub(crate) async fn post(&mut self, app: &TestApp, path: &str, body: &str) -> Resp {
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

    pub(crate) async fn login(app: &TestApp, username: &str) -> (Browser, String) {
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

pub(crate) fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub(crate) async fn user(app: &TestApp, name: &str) -> strongroom_store::model::User {
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

pub(crate) async fn mailed_link(app: &TestApp, path: &str) -> Option<String> {
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
