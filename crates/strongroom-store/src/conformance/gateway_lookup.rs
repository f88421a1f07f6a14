//! The gateway's one hot-path read on every engine: each part (local project, prohibited
//! name or skeleton, generation, page stamp, kept file, metadata kept on its own, whether
//! rules or advisories name the project) is read back, and absent parts are absent.

use super::upstream_files::claim;
use super::{backends, user};
use crate::advisories::AdvisoryRow;
use crate::upstream_pages::NewUpstreamPage;
use crate::upstream_rules::{UpstreamRule, UpstreamRuleKind};
use crate::{BlobKey, MetadataKept, NewEvent, UpstreamFileRow, UpstreamMetadataRow};

#[tokio::test]
async fn one_read_returns_every_part_of_a_name() {
    for (name, db, _d) in backends().await {
        // Nothing known: no project, no page, not prohibited, generation 0.
        let none = db
            .gateway_lookup("pub-lib", "publib", None)
            .await
            .expect("read");
        assert!(none.project.is_none(), "{name}");
        assert!(!none.prohibited, "{name}");
        assert_eq!(none.page, None, "{name}");
        assert_eq!(none.kept, None, "{name}");
        assert_eq!(none.lone_metadata, None, "{name}");
        assert!(!none.has_rules && !none.has_advisories, "{name}");
        let g0 = none.generation;

        // A stored page and a kept file.
        let saved = db
            .save_upstream_page(&NewUpstreamPage {
                project: "pub-lib",
                upstream_url: "http://a/simple/",
                page: Some("{}"),
                etag: None,
                now: 10,
            })
            .await
            .expect("save");
        let sha: String = "d".repeat(64);
        let key = BlobKey::for_upstream(&sha, "pub_lib-1.0.tar.gz").expect("key");
        let claim = claim(&db, key.as_str(), 10).await;
        let row = UpstreamFileRow {
            sha256: sha.clone(),
            blob_key: key.as_str().to_owned(),
            project: "pub-lib".into(),
            version: "1.0".into(),
            filename: "pub_lib-1.0.tar.gz".into(),
            size: 5,
            upstream_url: "http://a/simple/".into(),
            first_seen_at: 10,
            last_download_at: 10,
            metadata_sha256: None,
        };
        db.keep_upstream_file(&row, &claim).await.expect("keep");
        let generation = db.bump_upstream_generation().await.expect("bump");
        let got = db
            .gateway_lookup("pub-lib", "publib", Some(&sha))
            .await
            .expect("read");
        assert_eq!(got.generation, generation, "{name}");
        assert!(generation > g0, "{name}");
        let stamp = got.page.expect("page stamp");
        assert_eq!(stamp.revision, saved.revision, "{name}");
        assert_eq!(stamp.confirmed_at, 10, "{name}");
        assert!(stamp.found, "{name}");
        assert_eq!(stamp.upstream_url, "http://a/simple/", "{name}");
        assert_eq!(got.kept, Some(row), "{name}");
        // Another sha256 is not kept; the page is the same.
        let other = db
            .gateway_lookup("pub-lib", "publib", Some(&"e".repeat(64)))
            .await
            .expect("read");
        assert_eq!(other.kept, None, "{name}");
        assert!(other.page.is_some(), "{name}");

        // A prohibited name matches by its skeleton too.
        let mut tx = db.begin_admin().await.expect("begin");
        tx.prohibit_name("Req_uests", "req-uests", "requests", "squat", "cli:a", 1)
            .await
            .expect("prohibit");
        tx.commit(&[], &[]).await.expect("commit");
        assert!(
            db.gateway_lookup("requests", "requests", None)
                .await
                .expect("read")
                .prohibited,
            "{name}: by skeleton"
        );
        assert!(
            db.gateway_lookup("req-uests", "x", None)
                .await
                .expect("read")
                .prohibited,
            "{name}: by name"
        );

        // A local project is read whole.
        let u = user(&db, "owner").await;
        db.publish_file(&super::visibility::file("local-lib", u, "1.0", "x"))
            .await
            .expect("publish");
        let local = db
            .gateway_lookup("local-lib", "locallib", None)
            .await
            .expect("read");
        let p = local.project.expect("project");
        assert_eq!(p.normalized_name, "local-lib", "{name}");
        let direct = db
            .project_by_normalized("local-lib")
            .await
            .expect("p")
            .expect("project");
        assert_eq!(
            (p.id, p.last_serial, p.status, p.created_at),
            (
                direct.id,
                direct.last_serial,
                direct.status,
                direct.created_at
            ),
            "{name}"
        );
        assert_eq!(local.page, None, "{name}");
    }
}

#[tokio::test]
async fn rules_advisories_and_lone_metadata_are_read_for_their_name_only() {
    for (name, db, _d) in backends().await {
        // Metadata kept on its own for a file that is not kept.
        let sha: String = "a".repeat(64);
        let key = BlobKey::for_upstream(&sha, "pub_lib-2.0-py3-none-any.whl").expect("key");
        let claim = claim(&db, key.as_str(), 10).await;
        let m = UpstreamMetadataRow {
            sha256: sha.clone(),
            blob_key: key.as_str().to_owned(),
            project: "pub-lib".into(),
            filename: "pub_lib-2.0-py3-none-any.whl".into(),
            metadata_sha256: "b".repeat(64),
            size: 7,
            first_seen_at: 10,
            last_download_at: 11,
        };
        assert_eq!(
            db.keep_upstream_metadata(&m, &claim, true)
                .await
                .expect("keep"),
            MetadataKept::Alone,
            "{name}"
        );
        let got = db
            .gateway_lookup("pub-lib", "publib", Some(&sha))
            .await
            .expect("read");
        assert_eq!(got.lone_metadata, Some(m), "{name}");
        assert_eq!(got.kept, None, "{name}");
        assert_eq!(
            db.gateway_lookup("pub-lib", "publib", Some(&"c".repeat(64)))
                .await
                .expect("read")
                .lone_metadata,
            None,
            "{name}: another sha256"
        );

        // A rule on one project, an advisory on another: each flag for its own name only.
        let mut tx = db.begin_admin().await.expect("tx");
        tx.put_upstream_rule(&UpstreamRule {
            project: "ruled".into(),
            version: Some("1.0".into()),
            kind: UpstreamRuleKind::Block,
            reason: "bad".into(),
            created_at: 10,
            created_by: "cli:ops".into(),
        })
        .await
        .expect("rule");
        tx.commit(&[], &[]).await.expect("commit");
        db.import_advisories(
            "feed",
            &[AdvisoryRow {
                id: "PYSEC-1".into(),
                project: "advised".into(),
                malicious: false,
                withdrawn: true,
                doc: "{}".into(),
                path: "advised/PYSEC-1.json".into(),
                sha256: Vec::new(),
            }],
            &NewEvent {
                at: 10,
                action: "advisories:import".into(),
                subject_kind: "site".into(),
                details: serde_json::json!({}),
                ..NewEvent::default()
            },
        )
        .await
        .expect("import");
        let ruled = db.gateway_lookup("ruled", "ruled", None).await.expect("r");
        assert!(ruled.has_rules && !ruled.has_advisories, "{name}");
        let advised = db
            .gateway_lookup("advised", "advised", None)
            .await
            .expect("r");
        assert!(!advised.has_rules && advised.has_advisories, "{name}");
        let neither = db
            .gateway_lookup("pub-lib", "publib", None)
            .await
            .expect("r");
        assert!(!neither.has_rules && !neither.has_advisories, "{name}");
    }
}
