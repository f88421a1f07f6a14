//! What the gateway remembers of a name at its upstreams, on both engines: a stored page that
//! found the name, a kept file, a logged or counted upstream download each say "served"; a
//! "not found" page and local downloads do not; the name watch's findings are listed per name.

use super::backends;
use crate::download_log::{DownloadRecord, Origin};
use crate::upstream_pages::NewUpstreamPage;
use crate::{BlobKey, ClaimOutcome, UpstreamFileRow};

const UP: &str = "https://upstream.example/simple/";

fn download(origin: Origin, project: &str, at: i64) -> DownloadRecord {
    DownloadRecord {
        origin,
        project: project.into(),
        version: "1.0".into(),
        filename: format!("{project}-1.0.tar.gz"),
        sha256: "c".repeat(64),
        at,
        ip: Some("127.0.0.1".into()),
        user_agent: None,
    }
}

#[tokio::test]
async fn a_name_is_served_from_upstream_by_any_trace_of_it() {
    for (name, db, _d) in backends().await {
        let page = |project: &'static str, found: bool| NewUpstreamPage {
            project,
            upstream_url: UP,
            page: found.then_some("{}"),
            etag: None,
            now: 10,
        };
        db.save_upstream_page(&page("paged-lib", true))
            .await
            .expect("page");
        db.save_upstream_page(&page("unknown-lib", false))
            .await
            .expect("not found");
        let sha256 = "a".repeat(64);
        let key = BlobKey::for_upstream(&sha256, "kept_lib-1.0.tar.gz")
            .expect("key")
            .as_str()
            .to_owned();
        let ClaimOutcome::Claimed(claim) =
            db.claim_blob(&key, 10, 600_000_000).await.expect("claim")
        else {
            panic!("{name}: no claim")
        };
        db.keep_upstream_file(
            &UpstreamFileRow {
                sha256,
                blob_key: key,
                project: "kept-lib".into(),
                version: "1.0".into(),
                filename: "kept_lib-1.0.tar.gz".into(),
                size: 3,
                upstream_url: UP.into(),
                first_seen_at: 10,
                last_download_at: 10,
                metadata_sha256: None,
            },
            &claim,
        )
        .await
        .expect("keep");
        db.insert_downloads(&[
            download(Origin::Upstream, "logged-lib", 10),
            download(Origin::Local, "local-lib", 10),
            download(Origin::Upstream, "folded-lib", 10),
        ])
        .await
        .expect("downloads");
        db.fold_downloads(20, 100).await.expect("fold");
        db.insert_downloads(&[download(Origin::Upstream, "logged-lib", 30)])
            .await
            .expect("downloads");

        for served in ["paged-lib", "kept-lib", "logged-lib", "folded-lib"] {
            assert!(
                db.served_from_upstream(served).await.expect("served"),
                "{name}: {served}"
            );
        }
        for not in ["unknown-lib", "local-lib", "never-lib"] {
            assert!(
                !db.served_from_upstream(not).await.expect("served"),
                "{name}: {not}"
            );
        }

        let mut tx = db.begin_admin().await.expect("tx");
        tx.mark_name_found("watched-lib", UP, 5)
            .await
            .expect("found");
        tx.mark_name_found("watched-lib", "https://second.example/simple/", 7)
            .await
            .expect("found");
        tx.commit(&[], &[]).await.expect("commit");
        db.record_name_check("asked-lib", UP, 5)
            .await
            .expect("check");
        assert_eq!(
            db.name_found_upstream("watched-lib").await.expect("found"),
            [UP, "https://second.example/simple/"],
            "{name}"
        );
        assert!(
            db.name_found_upstream("asked-lib")
                .await
                .expect("found")
                .is_empty(),
            "{name}"
        );
    }
}
