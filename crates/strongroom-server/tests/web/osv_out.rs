//! `GET /osv/` and `GET /osv/<id>.json` (issue 13): the index's verdicts as an OSV feed, public,
//! with an ETag a conditional GET answers with 304, a withdrawn record marked, 404 otherwise.

use super::support::*;

async fn get_with(app: &TestApp, path: &str, etag: Option<&str>) -> Resp {
    let mut b = Request::get(path).header(header::HOST, "localhost:8000");
    if let Some(e) = etag {
        b = b.header(header::IF_NONE_MATCH, e);
    }
    app.send(b.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn the_feed_lists_and_serves_verdicts_with_etags() {
    let app = app().await;
    let empty = app.get("/osv/").await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    let v: serde_json::Value = serde_json::from_str(&empty.body).unwrap();
    assert_eq!(v["records"], serde_json::json!([]));

    app.publish(
        "demo",
        "0.2.2",
        "Metadata-Version: 2.1\nName: demo\nVersion: 0.2.2\n",
    )
    .await;
    // Setup as the operator at the terminal would record it (the review queue's reject).
    #[allow(clippy::disallowed_methods)]
    let cap = app.services.operator_cap(strongroom_core::Actor {
        id: None,
        name: "cli:ops".into(),
    });
    let id = app
        .services
        .record_malicious_verdict(&cap, "demo", "0.2.2", "bad", &RequestMeta::default())
        .await
        .unwrap();
    assert!(id.starts_with("STRONGROOM-MAL-"), "{id}");

    let index = app.get("/osv/").await;
    assert_eq!(index.status, StatusCode::OK);
    assert_eq!(index.headers[header::CONTENT_TYPE], "application/json");
    assert!(
        index.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("public")
    );
    let v: serde_json::Value = serde_json::from_str(&index.body).unwrap();
    let rec = &v["records"][0];
    assert_eq!(rec["id"], id.as_str());
    assert!(rec.get("withdrawn").is_none(), "{rec}");
    assert_eq!(
        rec["url"],
        format!("http://localhost:8000/osv/{id}.json").as_str()
    );
    let etag = index.headers[header::ETAG].to_str().unwrap().to_owned();
    assert_ne!(etag, empty.headers[header::ETAG].to_str().unwrap());
    let again = get_with(&app, "/osv/", Some(&etag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());

    let doc = app.get(&format!("/osv/{id}.json")).await;
    assert_eq!(doc.status, StatusCode::OK, "{}", doc.body);
    let rec: serde_json::Value = serde_json::from_str(&doc.body).unwrap();
    assert_eq!(rec["id"], id.as_str());
    assert_eq!(rec["affected"][0]["versions"], serde_json::json!(["0.2.2"]));
    assert!(rec.get("withdrawn").is_none());
    let etag = doc.headers[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(
        get_with(&app, &format!("/osv/{id}.json"), Some(&etag))
            .await
            .status,
        StatusCode::NOT_MODIFIED
    );
    for missing in [
        "/osv/STRONGROOM-MAL-2026-999.json".to_owned(),
        format!("/osv/{id}"),
        "/osv/.json".to_owned(),
    ] {
        assert_eq!(
            app.get(&missing).await.status,
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }

    // Withdrawn: the record changes (new ETag) and says so.
    app.services
        .withdraw_malicious_verdict(&cap, &id, "false positive", &RequestMeta::default())
        .await
        .unwrap();
    let w = get_with(&app, &format!("/osv/{id}.json"), Some(&etag)).await;
    assert_eq!(w.status, StatusCode::OK);
    let rec: serde_json::Value = serde_json::from_str(&w.body).unwrap();
    assert!(rec["withdrawn"].is_string(), "{rec}");
    let v: serde_json::Value = serde_json::from_str(&app.get("/osv/").await.body).unwrap();
    assert_eq!(v["records"][0]["withdrawn"], rec["withdrawn"]);
}
