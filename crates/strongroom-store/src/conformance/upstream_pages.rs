//! The gateway's stored upstream pages and requested reserved names, on every engine.

use crate::upstream_pages::NewUpstreamPage;

fn new<'a>(
    page: Option<&'a str>,
    url: &'a str,
    etag: Option<&'a str>,
    now: i64,
) -> NewUpstreamPage<'a> {
    NewUpstreamPage {
        project: "demo",
        upstream_url: url,
        page,
        etag,
        now,
    }
}

#[tokio::test]
async fn the_revision_moves_exactly_when_the_answer_changes() {
    for (name, db, _dir) in super::backends().await {
        assert_eq!(
            db.upstream_page("demo").await.expect("read"),
            None,
            "{name}"
        );
        let up = "http://a/simple/";
        let first = db
            .save_upstream_page(&new(Some("{\"v\":1}"), up, Some("\"e1\""), 10))
            .await
            .expect("save");
        assert_eq!(
            (first.revision, first.found, first.confirmed_at),
            (10, true, 10),
            "{name}"
        );
        // the same content again (a 200 without an ETag match): same revision, new times
        let same = db
            .save_upstream_page(&new(Some("{\"v\":1}"), up, Some("\"e2\""), 20))
            .await
            .expect("save");
        assert_eq!(
            (same.revision, same.fetched_at, same.etag.as_deref()),
            (10, 20, Some("\"e2\"")),
            "{name}"
        );
        // a 304 moves only the confirmation
        let confirmed = db
            .confirm_upstream_page("demo", 30)
            .await
            .expect("confirm")
            .expect("row");
        assert_eq!(
            (
                confirmed.revision,
                confirmed.fetched_at,
                confirmed.confirmed_at
            ),
            (10, 20, 30),
            "{name}"
        );
        assert_eq!(
            db.confirm_upstream_page("other", 30)
                .await
                .expect("confirm"),
            None,
            "{name}"
        );
        // new content, another upstream, "not found": each a new revision
        let changed = db
            .save_upstream_page(&new(Some("{\"v\":2}"), up, None, 40))
            .await
            .expect("save");
        assert_eq!(changed.revision, 40, "{name}");
        let moved = db
            .save_upstream_page(&new(Some("{\"v\":2}"), "http://b/simple/", None, 50))
            .await
            .expect("save");
        assert_eq!(moved.revision, 50, "{name}");
        let gone = db
            .save_upstream_page(&new(None, "http://b/simple/", None, 60))
            .await
            .expect("save");
        assert_eq!(
            (gone.revision, gone.found, gone.page.as_deref()),
            (60, false, None),
            "{name}"
        );
        let stored = db.upstream_page("demo").await.expect("read").expect("row");
        assert_eq!(stored, gone, "{name}");
    }
}

#[tokio::test]
async fn requested_reserved_names_are_bounded() {
    for (name, db, _dir) in super::backends().await {
        assert!(
            db.remember_requested_name("acme-a", 5, 2).await.expect("a"),
            "{name}"
        );
        assert!(
            db.remember_requested_name("acme-a", 6, 2)
                .await
                .expect("a again"),
            "{name}"
        );
        assert!(
            db.remember_requested_name("acme-b", 7, 2).await.expect("b"),
            "{name}"
        );
        assert!(
            !db.remember_requested_name("acme-c", 8, 2).await.expect("c"),
            "{name}: over the cap"
        );
        let names = db.requested_reserved_names(10).await.expect("list");
        let got: Vec<(&str, i64)> = names
            .iter()
            .map(|n| (n.name.as_str(), n.first_requested_at))
            .collect();
        assert_eq!(got, vec![("acme-a", 5), ("acme-b", 7)], "{name}");
        assert_eq!(
            db.requested_reserved_names(1).await.expect("list").len(),
            1,
            "{name}"
        );
    }
}

#[tokio::test]
async fn expired_not_found_answers_are_forgotten_and_pages_kept() {
    for (name, db, _dir) in super::backends().await {
        let up = "http://a/simple/";
        for (project, page, at) in [
            ("old-miss", None, 10),
            ("new-miss", None, 50),
            ("old-page", Some("{}"), 10),
        ] {
            db.save_upstream_page(&NewUpstreamPage {
                project,
                upstream_url: up,
                page,
                etag: None,
                now: at,
            })
            .await
            .expect("save");
        }
        assert_eq!(
            db.forget_unknown_upstream_names(40).await.expect("forget"),
            1,
            "{name}"
        );
        assert_eq!(
            db.upstream_page("old-miss").await.expect("read"),
            None,
            "{name}"
        );
        assert!(
            db.upstream_page("new-miss").await.expect("read").is_some(),
            "{name}"
        );
        assert!(
            db.upstream_page("old-page").await.expect("read").is_some(),
            "{name}: pages stay for stale serving"
        );
    }
}

#[tokio::test]
async fn a_revision_never_repeats_after_the_row_is_forgotten() {
    for (name, db, _dir) in super::backends().await {
        let up = "http://a/simple/";
        let first = db
            .save_upstream_page(&new(Some("{\"v\":1}"), up, None, 10))
            .await
            .expect("save");
        // many changes within one microsecond still move the revision up
        let second = db
            .save_upstream_page(&new(Some("{\"v\":2}"), up, None, 10))
            .await
            .expect("save");
        assert!(second.revision > first.revision, "{name}");
        // nobody knows it any more (walked: bound to no upstream), forgotten after its TTL
        db.save_upstream_page(&new(None, "http://other/simple/", None, 20))
            .await
            .expect("save");
        assert_eq!(
            db.forget_unknown_upstream_names(30).await.expect("forget"),
            1,
            "{name}"
        );
        // back with the first content: a revision it never had
        let back = db
            .save_upstream_page(&new(Some("{\"v\":1}"), up, None, 40))
            .await
            .expect("save");
        assert!(back.revision > second.revision, "{name}: {back:?}");
    }
}

#[tokio::test]
async fn a_not_found_from_the_bound_upstream_is_a_kept_tombstone() {
    for (name, db, _dir) in super::backends().await {
        let up = "http://private/simple/";
        let page = db
            .save_upstream_page(&new(Some("{}"), up, None, 10))
            .await
            .expect("save");
        assert!(page.bound, "{name}: a page binds the name");
        let gone = db
            .save_upstream_page(&new(None, up, None, 20))
            .await
            .expect("save");
        assert!(gone.bound && !gone.found, "{name}: {gone:?}");
        assert_eq!(
            db.forget_unknown_upstream_names(1_000)
                .await
                .expect("forget"),
            0,
            "{name}: tombstones outlive the TTL"
        );
        assert!(
            db.upstream_page("demo").await.expect("read").is_some(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn pages_are_evicted_when_unused_or_past_the_caps() {
    for (name, db, _dir) in super::backends().await {
        let up = "http://a/simple/";
        for (project, at) in [("p1", 10), ("p2", 20), ("p3", 30), ("p4", 40)] {
            db.save_upstream_page(&NewUpstreamPage {
                project,
                upstream_url: up,
                page: Some("0123456789"),
                etag: None,
                now: at,
            })
            .await
            .expect("save");
        }
        // serving p1 moves its use, but only once per period
        assert!(
            db.touch_upstream_page("p1", 50, 45).await.expect("touch"),
            "{name}"
        );
        assert!(
            !db.touch_upstream_page("p1", 55, 45).await.expect("touch"),
            "{name}"
        );
        assert_eq!(
            db.upstream_page("p1")
                .await
                .expect("read")
                .expect("row")
                .last_used_at,
            50,
            "{name}"
        );
        // unused since before 15: none (p1 was used at 50); caps: 3 rows, 25 bytes -> p2
        // (by rows), p3 (by bytes) go
        assert_eq!(
            db.evict_upstream_pages(15, 3, 25).await.expect("evict"),
            2,
            "{name}"
        );
        for (p, want) in [("p1", true), ("p2", false), ("p3", false), ("p4", true)] {
            assert_eq!(
                db.upstream_page(p).await.expect("read").is_some(),
                want,
                "{name}: {p}"
            );
        }
        // not served since 45: p4 (40) goes
        assert_eq!(
            db.evict_upstream_pages(45, 100, 1_000)
                .await
                .expect("evict"),
            1,
            "{name}"
        );
    }
}
