//! Signed-in flows: sessions, admin area, IDOR, enrol-only sessions, rate limits, mail links,
//! re-authentication and WebAuthn JSON calls.

use crate::support::*;

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
            &format!("/manage/account/token/{}/revoke/", tokens[0].id),
            &format!("csrf_token={csrf}"),
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
    for path in [
        format!("/manage/account/token/{a_token}/revoke/"),
        format!("/manage/account/email/{a_email}/remove/"),
        format!("/manage/account/email/{a_email}/primary/"),
        format!("/manage/account/email/{a_email}/resend/"),
        format!("/manage/account/session/{a_session}/end/"),
        "/manage/account/webauthn/1/remove/".to_owned(),
        "/manage/account/token/not-a-number/revoke/".to_owned(),
    ] {
        let r = b.post(&app, &path, &format!("csrf_token={b_csrf}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
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
            &format!("/manage/account/token/{a_token}/revoke/"),
            &format!("csrf_token={b_csrf}"),
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
    let app = app_with(
        Settings {
            registration: Registration::Open,
            ..Settings::default()
        },
        false,
    )
    .await;
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
async fn the_prompt_never_writes_a_secret_field_into_its_page_nor_reposts_it() {
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
    clock.advance(11 * 60_000_000);
    let action = "/manage/account/tokens/";
    let r = b
        .post(&app, action, &format!("csrf_token={csrf}&name=late-one"))
        .await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT, "{}", r.body);
    let prompt = r.headers[header::LOCATION].to_str().unwrap().to_owned();
    // A waiting form with any secret-looking field: nothing of it is written into the page,
    // and the prompt is the plain one (back to the page, no re-post).
    for secret in [
        "password",
        "new_password",
        "old_password2",
        "totp_secret",
        "code",
        "api_token",
        "recovery",
    ] {
        let page = b
            .post(
                &app,
                &prompt,
                &format!("csrf_token={csrf}&name=late-one&{secret}=hunter2-other"),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{secret}: {}", page.body);
        assert!(page.body.contains("Confirm it is you"));
        assert!(
            !page.body.contains("hunter2-other"),
            "{secret}: {}",
            page.body
        );
        assert!(!page.body.contains("late-one"), "{secret}: nothing carried");
        assert!(!page.body.contains("then="), "{secret}: no re-post");
        assert!(page.body.contains("id=\"reauth-note\""), "{secret}");
    }
    // The TOTP enrolment's seed and code, which its own page shows, are the one exception.
    let totp = "/manage/account/reauth/?next=%2Fmanage%2Faccount%2Ftotp%2F&then=%2Fmanage%2Faccount%2Ftotp%2F";
    let page = b
        .post(
            &app,
            totp,
            &format!("csrf_token={csrf}&secret=SEEDSEED&code=123456"),
        )
        .await;
    assert!(page.body.contains("value=\"SEEDSEED\""), "{}", page.body);
    assert!(page.body.contains("then="), "{}", page.body);
    // Even a crafted post that names the action and gives the password goes back to the page.
    let ok = b
        .post(
            &app,
            &prompt,
            &format!(
                "csrf_token={csrf}&name=late-one&password=hunter2-other&reauth_password={}",
                enc(PASSWORD)
            ),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.headers[header::LOCATION], "/manage/account/");
    assert!(app.services.tokens_of(gina.id).await.unwrap().is_empty());
    // A form without secrets is still carried and re-posted.
    clock.advance(11 * 60_000_000);
    let page = b
        .post(&app, &prompt, &format!("csrf_token={csrf}&name=late-one"))
        .await;
    assert!(
        page.body
            .contains("<input type=\"hidden\" name=\"name\" value=\"late-one\">"),
        "{}",
        page.body
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
    // the revoke is held back: the same form goes to the prompt (307 keeps it), the password
    // is asked, then the form is sent to its action again
    let revoke = format!("/manage/account/token/{token_id}/revoke/");
    let r = b.post(&app, &revoke, &format!("csrf_token={csrf}")).await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT, "{}", r.body);
    let prompt = r.headers[header::LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        prompt,
        format!(
            "/manage/account/reauth/?next=%2Fmanage%2Faccount%2F&then={}",
            enc(&revoke)
        )
    );
    assert!(
        app.services.tokens_of(gina.id).await.unwrap()[0]
            .revoked_at
            .is_none()
    );
    // so is a new token: nothing is created before the password is given again, and the
    // prompt keeps what was typed into the form
    let r = b
        .post(
            &app,
            "/manage/account/tokens/",
            &format!("csrf_token={csrf}&name=late-one&expires_days=7"),
        )
        .await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT, "{}", r.body);
    let prompt = r.headers[header::LOCATION].to_str().unwrap().to_owned();
    assert!(
        prompt.ends_with("&then=%2Fmanage%2Faccount%2Ftokens%2F"),
        "{prompt}"
    );
    assert_eq!(app.services.tokens_of(gina.id).await.unwrap().len(), 1);
    let page = b
        .post(
            &app,
            &prompt,
            &format!("csrf_token={csrf}&name=late-one&expires_days=7"),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Confirm it is you"));
    assert!(
        page.body
            .contains("<input type=\"hidden\" name=\"name\" value=\"late-one\">"),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"reauth_password\""));
    let kept = "name=late-one&expires_days=7";
    let wrong = b
        .post(
            &app,
            &prompt,
            &format!("csrf_token={csrf}&{kept}&reauth_password=not-it"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("id=\"form-error\""));
    assert!(
        wrong.body.contains("value=\"late-one\""),
        "kept after a wrong password too"
    );
    let ok = b
        .post(
            &app,
            &prompt,
            &format!("csrf_token={csrf}&{kept}&reauth_password={}", enc(PASSWORD)),
        )
        .await;
    assert_eq!(ok.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(ok.headers[header::LOCATION], "/manage/account/tokens/");
    // the browser posts the same form to its action again
    let r = b
        .post(
            &app,
            "/manage/account/tokens/",
            &format!("csrf_token={csrf}&{kept}&reauth_password={}", enc(PASSWORD)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("late-one"), "the new token is shown once");
    let tokens = app.services.tokens_of(gina.id).await.unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens
            .iter()
            .any(|t| t.name == "late-one" && t.expires_at.is_some())
    );
    let r = b.post(&app, &revoke, &format!("csrf_token={csrf}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers[header::LOCATION],
        "/manage/account/tokens/?done=token-revoked"
    );
    assert!(
        app.services
            .tokens_of(gina.id)
            .await
            .unwrap()
            .iter()
            .any(|t| t.id == token_id && t.revoked_at.is_some())
    );
    // the plain prompt (a page that needed the password) goes back to `next`
    let plain = b
        .get(
            &app,
            "/manage/account/reauth/?next=%2Fmanage%2Faccount%2Ftokens%2F",
        )
        .await;
    assert!(plain.body.contains("name=\"password\""));
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
#[tokio::test]
async fn emails_password_change_and_reset_by_mail() {
    let app = accounts_app(false).await;
    let hank = user(&app, "hank").await;
    let (mut b, csrf) = Browser::login(&app, "hank").await;

    // add a second address: unverified, cannot become primary, can be removed
    let r = b
        .post(
            &app,
            "/manage/account/email/add/",
            &format!("csrf_token={csrf}&address=hank2%40example.org"),
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
            &format!("/manage/account/email/{}/primary/", second.id),
            &format!("csrf_token={csrf}"),
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
            &format!("/manage/account/email/{}/remove/", second.id),
            &format!("csrf_token={csrf}"),
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
