//! The page cache's freshness over a real SQLite database and the real router: a cached page
//! is answered with the database closed (no read per request), this server's own writes are
//! seen at once, and the catch-up read invalidates what another writer journalled.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use strongroom_store::{NewFile, PublishOutcome};
use tower::ServiceExt;

use super::Freshness;
use crate::AppState;
use crate::cache::{CachedPage, PageCache, PageKey};

async fn state() -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let settings = strongroom_core::Settings {
        hibp_url: None,
        ..strongroom_core::Settings::default()
    };
    let services = strongroom_core::testing::services_in(
        dir.path(),
        settings,
        strongroom_store::Keyring::new(strongroom_store::SecretsKey::from_bytes([9; 32])),
    )
    .await;
    let state = AppState::new(services, dir.path().join("tmp"))
        .await
        .expect("state");
    (state, dir)
}

async fn get(state: &AppState, path: &str) -> (StatusCode, String) {
    let mut req = Request::get(path)
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 1))));
    let resp = crate::router(state.clone())
        .oneshot(req)
        .await
        .expect("answer");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Publish one wheel of `name` `version` straight through the store.
async fn publish(db: &strongroom_store::Db, user_id: i64, name: &str, version: &str) {
    let filename = format!("{}-{version}-py3-none-any.whl", name.replace('-', "_"));
    let digest = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        filename.hash(&mut h);
        format!("{:064x}", h.finish())
    };
    let out = db
        .publish_file(&NewFile {
            project_name: name.into(),
            normalized_name: name.into(),
            ultranormalized_name: strongroom_protocol::name::skeleton(name),
            user_id,
            username: "owner".into(),
            token_project_id: None,
            token_id: None,
            version: version.into(),
            canonical_version: version.into(),
            requires_python: None,
            core_metadata: format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
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
            at: 1_700_000_000_000_000,
            ip: None,
            user_agent: None,
            request_id: None,
            release_window_micros: i64::MAX / 4,
            max_project_size: i64::MAX / 4,
            scan: None,
        })
        .await
        .expect("publish");
    assert!(matches!(out, PublishOutcome::Published { .. }), "{out:?}");
}

async fn owner(state: &AppState) -> i64 {
    state
        .services
        .create_user(
            "owner",
            "owner@example.org",
            "correct horse battery",
            false,
            &strongroom_core::RequestMeta::default(),
        )
        .await
        .expect("user")
        .id
}

/// A state whose database holds `name` 1.0, published by the returned owner and seen committed
/// by a catch-up read.
async fn published(name: &str) -> (AppState, tempfile::TempDir, i64) {
    let (state, dir) = state().await;
    let user = owner(&state).await;
    publish(&state.services.db, user, name, "1.0").await;
    state
        .fresh
        .catch_up(&state.services.db)
        .await
        .expect("catch up");
    (state, dir, user)
}

#[tokio::test]
async fn own_writes_are_seen_at_once_and_cached_pages_need_no_database() {
    let (state, _dir) = state().await;
    let user = owner(&state).await;
    let name = "fresh-own-writes-7c1";
    publish(&state.services.db, user, name, "1.0").await;
    let page = format!("/simple/{name}/");
    let doc = format!("/pypi/{name}/json");
    let (status, body) = get(&state, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("-1.0-py3"), "{body}");
    // this server's write: the next answer shows it, with no catch-up read in between
    publish(&state.services.db, user, name, "2.0").await;
    let (_, body) = get(&state, &page).await;
    assert!(
        body.contains("-2.0-py3"),
        "own write not seen at once: {body}"
    );
    // once the commit is seen, pages are kept again
    state
        .fresh
        .catch_up(&state.services.db)
        .await
        .expect("catch up");
    for path in [&page, &doc, &page, &doc] {
        assert_eq!(get(&state, path).await.0, StatusCode::OK, "{path}");
    }
    let (hits, _) = state.cache.hits_misses();
    state
        .fresh
        .catch_up(&state.services.db)
        .await
        .expect("catch up");
    state.services.db.close().await;
    // the database is closed: a page not in the cache cannot be answered...
    let (status, _) = get(&state, "/simple/not-cached-anywhere/").await;
    assert_ne!(status, StatusCode::OK, "the database is still answering");
    assert_ne!(
        status,
        StatusCode::NOT_FOUND,
        "the database is still answering"
    );
    // ...while the cached ones are, from memory
    let (status, body) = get(&state, &page).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("-2.0-py3"));
    let (status, body) = get(&state, &doc).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"2.0\""), "{body}");
    assert!(state.cache.hits_misses().0 >= hits + 2);
}

#[tokio::test]
async fn a_download_kept_since_its_project_changed_needs_no_database() {
    let name = "fresh-download-3d9";
    let (state, _dir, _) = published(name).await;
    let (_, page) = get(
        &state,
        &format!("/simple/{name}/?format=application/vnd.pypi.simple.v1+json"),
    )
    .await;
    let blob_key = page
        .split("packages/")
        .nth(1)
        .and_then(|rest| rest.split(['#', '"']).next())
        .expect("a file link")
        .to_owned();
    state
        .services
        .blobs
        .put_bytes(&blob_key, bytes::Bytes::from_static(b"0123456789"))
        .await
        .expect("blob");
    // a part of the file: served unchecked, so these stored bytes do
    let part = |state: AppState| {
        let path = format!("/packages/{blob_key}");
        async move {
            let mut req = Request::get(path)
                .header(header::HOST, "localhost")
                .header(header::RANGE, "bytes=2-5")
                .body(Body::empty())
                .expect("request");
            req.extensions_mut()
                .insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 1))));
            let resp = crate::router(state).oneshot(req).await.expect("answer");
            let status = resp.status();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            (status, body)
        }
    };
    assert_eq!(
        part(state.clone()).await,
        (
            StatusCode::PARTIAL_CONTENT,
            bytes::Bytes::from_static(b"2345")
        )
    );
    state.services.db.close().await;
    // the database is closed: what the first download read of the file is kept
    assert_eq!(
        part(state.clone()).await,
        (
            StatusCode::PARTIAL_CONTENT,
            bytes::Bytes::from_static(b"2345")
        ),
        "the download read the database"
    );
}

#[tokio::test]
async fn the_catch_up_read_invalidates_what_another_writer_journalled() {
    let (state, _dir) = state().await;
    let user = owner(&state).await;
    // a cache that no hook tells anything: only the catch-up read can invalidate it
    let cache = Arc::new(PageCache::new(1 << 20));
    let marks = state.services.db.change_marks().await.expect("marks");
    let fresh = Freshness::new(cache.clone(), marks, None);
    let key = |p: &str| PageKey::Simple {
        project: p.into(),
        json: false,
    };
    let page = || CachedPage::new(1, "html", "page".into());
    for p in ["fresh-catch-a", "fresh-catch-b"] {
        assert!(cache.put_fresh(key(p), page(), cache.ticket()));
    }
    let index = PageKey::Index { json: false };
    assert!(cache.put_fresh(index.clone(), page(), cache.ticket()));
    fresh.catch_up(&state.services.db).await.expect("catch up");
    assert!(
        fresh
            .page(&state.services.db, &key("fresh-catch-a"))
            .await
            .is_some(),
        "nothing changed"
    );
    publish(&state.services.db, user, "Fresh.Catch_A", "1.0").await;
    assert!(
        cache.get_fresh(&key("fresh-catch-a")).is_some(),
        "not seen yet"
    );
    fresh.catch_up(&state.services.db).await.expect("catch up");
    assert!(
        cache.get_fresh(&key("fresh-catch-a")).is_none(),
        "the journalled project (by its normalised name) is invalidated"
    );
    assert!(
        cache.get_fresh(&index).is_none(),
        "the list of every project too"
    );
    assert!(
        cache.get_fresh(&key("fresh-catch-b")).is_some(),
        "others stay"
    );
    assert!(fresh.trusted());
}

#[tokio::test]
async fn a_generation_bumped_here_is_read_from_the_database_until_seen_committed() {
    let (state, _dir) = state().await;
    let cache = Arc::new(PageCache::new(1 << 20));
    let marks = state.services.db.change_marks().await.expect("marks");
    let fresh = Arc::new(Freshness::new(cache.clone(), marks, None));
    let hook: Arc<dyn strongroom_store::change_feed::JournalHook> = fresh.clone();
    strongroom_store::change_feed::subscribe(&state.services.db, &hook)
        .await
        .expect("subscribe");
    assert_eq!(fresh.generation(), Some(0));
    // an upstream project's page, kept under no generation of its own
    let kept = PageKey::Simple {
        project: "fresh-upstream".into(),
        json: true,
    };
    fresh.catch_up(&state.services.db).await.expect("catch up");
    cache.put_fresh(
        kept.clone(),
        CachedPage::new(0, "json", "{}".into()),
        cache.ticket(),
    );
    assert!(fresh.page(&state.services.db, &kept).await.is_some());
    let g = state
        .services
        .db
        .bump_upstream_generation()
        .await
        .expect("bump");
    assert_eq!(
        fresh.generation(),
        None,
        "the bump is not known committed yet"
    );
    assert!(
        fresh.page(&state.services.db, &kept).await.is_none(),
        "no kept page is served while this process's bump is not seen: a rule may hide it"
    );
    fresh.catch_up(&state.services.db).await.expect("catch up");
    assert_eq!(fresh.generation(), Some(g));
    assert!(
        cache.get_fresh(&kept).is_none(),
        "the catch-up that sees the bump drops what was kept"
    );
}

#[test]
fn a_bump_never_seen_committed_holds_pages_back_for_the_dirty_ttl_only() {
    let ttl = u64::try_from(crate::cache::DIRTY_TTL.as_millis()).expect("ms");
    assert!(super::pending_settled(5, 5, 0), "seen committed");
    assert!(super::pending_settled(5, 6, 0), "and past");
    assert!(
        !super::pending_settled(5, 4, ttl),
        "not seen yet, within the TTL"
    );
    assert!(
        super::pending_settled(5, 4, ttl + 1),
        "rolled back (an upload's check): the cache is not bypassed for ever"
    );
}

#[tokio::test]
async fn a_commit_by_another_process_is_caught_up_by_the_first_request_after_a_look() {
    let (state, dir) = state().await;
    let user = owner(&state).await;
    let db = &state.services.db;
    publish(db, user, "fresh-foreign", "1.0").await;
    // a cache that no hook tells anything, as for a write by another process
    let cache = Arc::new(PageCache::new(1 << 20));
    let fresh = Freshness::new(
        cache.clone(),
        db.change_marks().await.expect("marks"),
        db.wal_stamp(),
    );
    let key = PageKey::Simple {
        project: "fresh-foreign".into(),
        json: false,
    };
    assert!(cache.put_fresh(
        key.clone(),
        CachedPage::new(1, "html", "p".into()),
        cache.ticket()
    ));
    for _ in 0..3 {
        assert!(fresh.page(db, &key).await.is_some(), "nothing changed");
    }
    // another connection pool on the same file: what the admin CLI is
    let other = strongroom_store::Db::connect(&strongroom_store::testing::sqlite_url(dir.path()))
        .await
        .expect("second handle");
    publish(&other, user, "fresh-foreign", "2.0").await;
    // requests look at the log's stamp at most every WAL_LOOK_EVERY_MS
    tokio::time::sleep(std::time::Duration::from_millis(
        crate::freshness::WAL_LOOK_EVERY_MS + 5,
    ))
    .await;
    assert!(
        fresh.page(db, &key).await.is_none(),
        "the first request after a look's interval must see the other process's commit"
    );
}

#[tokio::test]
async fn a_server_behind_on_the_journal_still_serves_a_kept_page_whose_serial_the_row_confirms() {
    let name = "fresh-behind-3d9";
    let (state, _dir, user) = published(name).await;
    let page = format!("/simple/{name}/");
    let doc = format!("/pypi/{name}/json");
    assert_eq!(get(&state, &page).await.0, StatusCode::OK);
    assert_eq!(get(&state, &doc).await.0, StatusCode::OK);
    assert!(
        state
            .cache
            .peek(&PageKey::Simple {
                project: name.into(),
                json: false
            })
            .is_some()
    );
    // Not caught up lately (a busy server between two notifications): the page is not served
    // unread, but the project row's serial says the kept copy is current: a hit, not a render.
    // Holding the catch-up's lock keeps the periodic catch-up from running meanwhile.
    let behind = state.fresh.catching_up.lock().await;
    tokio::time::sleep(super::STALENESS_BOUND + std::time::Duration::from_millis(100)).await;
    assert!(!state.fresh.trusted());
    let (hits, _) = state.cache.hits_misses();
    let (status, body) = get(&state, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("-1.0-py3"), "{body}");
    assert_eq!(
        state.cache.hits_misses().0,
        hits + 1,
        "served from the cache"
    );
    let (status, body) = get(&state, &doc).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"1.0\""), "{body}");
    assert_eq!(
        state.cache.hits_misses().0,
        hits + 2,
        "the document from the cache"
    );
    // A new serial in the row: rendered again, with the new file.
    publish(&state.services.db, user, name, "2.0").await;
    assert!(!state.fresh.trusted());
    let (_, body) = get(&state, &page).await;
    assert!(body.contains("-2.0-py3"), "{body}");
    let (_, body) = get(&state, &doc).await;
    assert!(body.contains("\"2.0\""), "{body}");
    drop(behind);
}
