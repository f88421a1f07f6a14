//! `/api/file-status` over the real router: a file held at upload is `unknown` to anonymous
//! callers and to the batch POST even with an admin's cookie (it reads none), and `held` to the
//! GET carrying that admin's session.

use super::support::*;

fn sha_of(name: &str, version: &str) -> String {
    // as `TestApp::publish` digests its file
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (name, version).hash(&mut h);
    format!("{:064x}", h.finish())
}

async fn hold_a_file(app: &TestApp) -> String {
    let owner = app
        .services
        .db
        .user_by_name("owner")
        .await
        .unwrap()
        .unwrap();
    let sha = "ab".repeat(32);
    let filename = "demo-1.0-py2-none-any.whl".to_owned();
    let f = NewFile {
        project_name: "demo".into(),
        normalized_name: "demo".into(),
        ultranormalized_name: strongroom_protocol::name::skeleton("demo"),
        user_id: owner.id,
        username: owner.username.clone(),
        token_project_id: None,
        token_id: None,
        version: "1.0".into(),
        canonical_version: "1.0".into(),
        requires_python: None,
        core_metadata: metadata("demo", "1.0", "s", "d", "text/plain"),
        description: None,
        filename: filename.clone(),
        packagetype: "bdist_wheel".into(),
        python_version: "py2".into(),
        size: 10,
        md5: "1".repeat(32),
        sha256: sha.clone(),
        blake2_256: "cd".repeat(32),
        blob_key: format!("ab/ab/{}/{filename}", "ab".repeat(30)),
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
    };
    let policy = strongroom_store::UploadPolicy {
        hold_added_file: Some("watched".into()),
        ..Default::default()
    };
    let out = app.services.db.publish(&f, &policy, None).await.unwrap();
    assert!(
        matches!(out, strongroom_store::PublishOutcome::FileHeld { .. }),
        "{out:?}"
    );
    sha
}

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

#[tokio::test]
async fn a_held_upload_is_unknown_to_the_public_and_to_the_cookie_less_batch_but_held_to_an_admin()
{
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
    app.publish(
        "demo",
        "1.0",
        &metadata("demo", "1.0", "s", "d", "text/plain"),
    )
    .await;
    let live = sha_of("demo", "1.0");
    let held = hold_a_file(&app).await;

    let r = app.get(&format!("/api/file-status/{live}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(json(&r)["status"], "live");
    let r = app.get(&format!("/api/file-status/{held}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(
        json(&r),
        serde_json::json!({"sha256": held, "status": "unknown"})
    );

    let (mut root, _) = Browser::login(&app, "root").await;
    let r = root.get(&app, &format!("/api/file-status/{held}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(json(&r)["status"], "held");
    assert_eq!(json(&r)["reason"], "watched");

    let r = app
        .send(
            Request::post("/api/file-status")
                .header(header::HOST, "localhost:8000")
                .header(header::COOKIE, root.cookie_header())
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(format!("[\"{live}\", \"{held}\"]")))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let statuses: Vec<String> = json(&r)["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["live", "unknown"], "the batch reads no cookie");
}
