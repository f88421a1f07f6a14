//! Registration over the router: the default (closed) page and POST refuse, a taken address
//! gets the very page a free one gets (and both usernames are reserved alike: registration is
//! verify-first), and an admin's invitation link from the admin area registers its address once
//! when the link mailed to it is followed.

use crate::support::*;

/// A visitor with the anonymous CSRF cookie and token of the login page.
async fn visitor(app: &TestApp) -> (Browser, String) {
    let mut b = Browser {
        cookies: Vec::new(),
    };
    let page = b.get(app, "/account/login/").await;
    let token = form_token(&page.body);
    (b, token)
}

fn form(token: &str, user: &str, email: &str, extra: &str) -> String {
    let pw = enc("a long and unusual passphrase 7");
    format!(
        "csrf_token={token}&username={user}&email={}&password={pw}&password_confirm={pw}{extra}",
        enc(email)
    )
}

/// The path of the newest verification link mailed to `to`.
async fn verify_link(app: &TestApp, to: &str) -> String {
    let mails = app.services.db.outbox_recent(50).await.unwrap();
    let body = mails
        .iter()
        .find(|m| m.to_addr == to && m.body.contains("/account/verify-email/?token="))
        .map(|m| m.body.clone())
        .unwrap_or_else(|| panic!("no verification mail to {to}"));
    let at = body.find("/account/verify-email/?token=").unwrap();
    body[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

fn open_settings() -> Settings {
    Settings {
        registration: Registration::Open,
        ..Settings::default()
    }
}

#[tokio::test]
async fn the_default_closed_registration_shows_no_form_and_refuses_the_post() {
    let app = app().await;
    let page = app.get("/account/register/").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body.contains("Registration is closed on this index"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("id=\"register-form\""),
        "no form that fails on submit"
    );
    let home = app.get("/").await;
    assert!(!home.body.contains("nav-register"), "nothing links to it");
    // The POST is refused too (the page is never trusted), with a valid token.
    let (mut b, token) = visitor(&app).await;
    let before = app.event_count().await;
    let r = b
        .post(
            &app,
            "/account/register/",
            &form(&token, "mallory", "m@example.org", ""),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("Registration is closed") && !r.body.contains("id=\"register-form\""));
    assert!(
        app.services
            .db
            .user_by_name("mallory")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        app.event_count().await,
        before,
        "nothing recorded, nothing created"
    );
}

#[tokio::test]
async fn a_taken_address_gets_the_same_page_as_a_free_one() {
    let app = app_with(open_settings(), false).await;
    user(&app, "alice").await;
    let (mut b, token) = visitor(&app).await;
    let taken = b
        .post(
            &app,
            "/account/register/",
            &form(&token, "mallory", "alice@example.org", ""),
        )
        .await;
    let free = b
        .post(
            &app,
            "/account/register/",
            &form(&token, "zed", "zed@example.org", ""),
        )
        .await;
    assert_eq!(
        (taken.status, free.status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(
        taken.body.replace("alice@example.org", "ADDR"),
        free.body.replace("zed@example.org", "ADDR"),
        "one page for both"
    );
    assert!(!taken.body.contains("already"), "{}", taken.body);
    let users = app.services.list_users().await.unwrap();
    assert_eq!(
        users.len(),
        1,
        "alice only: no account before the link is followed"
    );
    // Both names are reserved, whatever their addresses: one answer for both.
    let again: Vec<_> = [("mallory", "m2@example.org"), ("zed", "z2@example.org")]
        .iter()
        .map(|(u, a)| form(&token, u, a, ""))
        .collect();
    let (m, z) = (
        b.post(&app, "/account/register/", &again[0]).await,
        b.post(&app, "/account/register/", &again[1]).await,
    );
    assert_eq!(
        (m.status, z.status),
        (StatusCode::CONFLICT, StatusCode::CONFLICT)
    );
    // The free address's link makes its account, verified.
    let link = verify_link(&app, "zed@example.org").await;
    let page = b.get(&app, &link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(app.services.list_users().await.unwrap().len(), 2);
    let mails = app.services.db.outbox_recent(50).await.unwrap();
    assert!(mails.iter().any(|m| {
        m.to_addr == "alice@example.org"
            && m.subject
                .contains("Someone tried to use your email address")
    }));
    // A taken username is said plainly (usernames are public).
    let r = b
        .post(
            &app,
            "/account/register/",
            &form(&token, "ALICE", "new@example.org", ""),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("username is already being used"));
}

#[tokio::test]
async fn an_admin_invitation_registers_its_address_once() {
    let app = app_with(
        Settings {
            registration: Registration::Invite,
            require_2fa: false,
            ..Settings::default()
        },
        false,
    )
    .await;
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
    // Without a link: the page says how to get in, and shows no form.
    let page = app.get("/account/register/").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("by invitation only") && !page.body.contains("register-form"));
    // The admin makes one; the answer shows its link once.
    let (mut admin, _) = Browser::login(&app, "root").await;
    let section = admin.get(&app, "/admin/invitations/").await;
    assert_eq!(section.status, StatusCode::OK);
    let csrf = form_token(&section.body);
    let made = admin
        .post(
            &app,
            "/admin/invitations/new/",
            &format!("csrf_token={csrf}&email=new%40example.org&expires_hours=24&reason=hire"),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let at = made
        .body
        .find("/account/register/?invite=")
        .expect("link shown")
        + 26;
    let secret: String = made.body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let link = format!("/account/register/?invite={secret}");
    assert!(
        !admin
            .get(&app, "/admin/invitations/")
            .await
            .body
            .contains(&secret),
        "shown once"
    );
    // The invitee: the form for the invited address, with the link in it.
    let (mut v, token) = visitor(&app).await;
    let page = v.get(&app, &link).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("value=\"new@example.org\" readonly"));
    let hidden = format!("&invite={secret}");
    let r = v
        .post(
            &app,
            "/account/register/",
            &form(&token, "newbie", "other@example.org", &hidden),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another address");
    let r = v
        .post(
            &app,
            "/account/register/",
            &form(&token, "newbie", "new@example.org", &hidden),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let verify = verify_link(&app, "new@example.org").await;
    assert_eq!(v.get(&app, &verify).await.status, StatusCode::OK);
    assert!(
        app.services
            .db
            .user_by_name("newbie")
            .await
            .unwrap()
            .is_some()
    );
    // Used up: the page and the POST refuse a replay.
    let again = v.get(&app, &link).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert!(again.body.contains("already used") && !again.body.contains("register-form"));
    let r = v
        .post(
            &app,
            "/account/register/",
            &form(&token, "newbie2", "new@example.org", &hidden),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        app.services
            .db
            .user_by_name("newbie2")
            .await
            .unwrap()
            .is_none()
    );
    let listed = admin.get(&app, "/admin/invitations/").await;
    assert!(listed.body.contains("invite-state-used") && listed.body.contains("registered newbie"));
    // Nobody but an admin sees the section or may post to it.
    assert_eq!(
        app.get("/admin/invitations/").await.status,
        StatusCode::NOT_FOUND
    );
    let r = v
        .post(
            &app,
            "/admin/invitations/new/",
            &format!("csrf_token={token}&email=x%40example.org&reason=r"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
