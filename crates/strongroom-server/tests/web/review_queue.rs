//! The admin area's review queue over the real router: hidden (404) from everyone but an admin,
//! a decision without a reason or for an item not held is refused and changes nothing, and a
//! quarantined release is listed, shown and approved through the page's form.

use crate::support::*;

/// Publish `demo` `version` as `owner`, quarantined as a dormant project's release is.
async fn held_release(app: &TestApp, owner: &strongroom_store::model::User, version: &str) {
    let filename = format!("demo-{version}-py3-none-any.whl");
    let digest = format!("{:0>64}", version.replace('.', ""));
    let out = app
        .services
        .db
        .publish(
            &NewFile {
                project_name: "demo".into(),
                normalized_name: "demo".into(),
                ultranormalized_name: strongroom_protocol::name::skeleton("demo"),
                user_id: owner.id,
                username: owner.username.clone(),
                token_project_id: None,
                token_id: None,
                version: version.into(),
                canonical_version: strongroom_protocol::version::Version::parse(version)
                    .unwrap()
                    .canonical(),
                requires_python: None,
                core_metadata: format!("Metadata-Version: 2.1\nName: demo\nVersion: {version}\n"),
                description: None,
                filename: filename.clone(),
                packagetype: "bdist_wheel".into(),
                python_version: "py3".into(),
                size: 10,
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
                at: app.services.now(),
                ip: None,
                user_agent: None,
                request_id: None,
                release_window_micros: i64::MAX / 4,
                max_project_size: i64::MAX / 4,
                scan: None,
            },
            &strongroom_store::UploadPolicy {
                dormant_before: Some(app.services.now() + 1),
                quarantine_reason: "dormant project".into(),
                ..strongroom_store::UploadPolicy::default()
            },
            None,
        )
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            strongroom_store::PublishOutcome::Quarantined { .. }
                | strongroom_store::PublishOutcome::Published { .. }
        ),
        "{out:?}"
    );
}

#[tokio::test]
async fn the_review_queue_is_for_admins_needs_reasons_and_approves_through_its_form() {
    let app = accounts_app(false).await;
    let owner = user(&app, "owner").await;
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
    // The project's first release is published; the next two find it dormant.
    held_release(&app, &owner, "1.0").await;
    held_release(&app, &owner, "2.0").await;
    held_release(&app, &owner, "3.0").await;
    let held = app.services.db.quarantined_releases().await.unwrap();
    assert_eq!(held.len(), 2, "2.0 and 3.0 are held");
    let id = format!("r{}", held[1].1.id);

    // Not an admin: every path of it is a 404.
    let (mut someone, csrf) = Browser::login(&app, "owner").await;
    assert_eq!(
        someone.get(&app, "/admin/review/").await.status,
        StatusCode::NOT_FOUND
    );
    let r = someone
        .post(
            &app,
            &format!("/admin/review/{id}/approve/"),
            &format!("csrf_token={csrf}&reason=mine"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let (mut root, _) = Browser::login(&app, "root").await;
    let list = root.get(&app, "/admin/review/").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains(&format!("/admin/review/{id}/")),
        "{}",
        list.body
    );
    let page = root.get(&app, &format!("/admin/review/{id}/")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("demo-3.0-py3-none-any.whl") && page.body.contains("No scan is stored")
    );
    assert_eq!(
        root.get(&app, "/admin/review/r999999/").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        root.get(&app, "/admin/review/nonsense/").await.status,
        StatusCode::NOT_FOUND
    );
    let csrf = form_token(&page.body);

    // No reason, or an item not held: refused, nothing changes.
    let events = app.event_count().await;
    let r = root
        .post(
            &app,
            &format!("/admin/review/{id}/approve/"),
            &format!("csrf_token={csrf}&reason=+"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = root
        .post(
            &app,
            "/admin/review/r999999/reject/",
            &format!("csrf_token={csrf}&reason=bad"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.event_count().await, events);
    assert_eq!(
        app.services.db.quarantined_releases().await.unwrap().len(),
        2
    );

    let r = root
        .post(
            &app,
            &format!("/admin/review/{id}/approve/"),
            &format!("csrf_token={csrf}&reason=looked+fine"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.headers[header::LOCATION], "/admin/review/?done=approve");
    let held = app.services.db.quarantined_releases().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].1.version, "2.0");
    let done = root.get(&app, "/admin/review/?done=approve").await;
    assert!(done.body.contains("Published."), "{}", done.body);
}
