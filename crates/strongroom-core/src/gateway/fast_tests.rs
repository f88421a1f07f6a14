//! The hot path against the full path: the same answers, from one read and a remembered
//! verdict, and every change that must show at once (a local project, a prohibited name, a
//! rule, a new page revision, the cooldown's hour) does.

use strongroom_protocol::simple::read::{UpstreamFile, UpstreamPage, UpstreamStatus};
use strongroom_store::upstream_pages::NewUpstreamPage;

use super::UpstreamFileVerdict;
use super::fast::{FileTarget, PageTarget};
use crate::admin::AdminCap;
use crate::test_harness::{Harness, T0};
use crate::upstream_rules::RuleChange;
use crate::{Actor, RequestMeta};

const HOUR: i64 = 3_600_000_000;

use super::tests::{UP, file, gateway, name};

async fn store(h: &Harness, project: &str, files: Vec<UpstreamFile>, found: bool, at: i64) -> i64 {
    let page = UpstreamPage {
        name: project.into(),
        status: UpstreamStatus::Active,
        status_reason: None,
        versions: Vec::new(),
        files,
    };
    let json = serde_json::to_string(&page).expect("json");
    h.s.db
        .save_upstream_page(&NewUpstreamPage {
            project,
            upstream_url: UP,
            page: found.then_some(json.as_str()),
            etag: None,
            now: at,
        })
        .await
        .expect("save")
        .revision
}

fn ops() -> AdminCap {
    AdminCap::test(Actor {
        id: None,
        name: "cli:ops".into(),
    })
}

fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("192.0.2.9".into()),
        user_agent: Some("test".into()),
        request_id: None,
    }
}

async fn verdict(h: &Harness, p: &str, sha: &str, f: &str) -> UpstreamFileVerdict {
    match h.s.file_target(&name(p), sha, f).await.expect("target") {
        FileTarget::Verdict(v, _) => {
            // the full path agrees
            assert_eq!(
                v,
                h.s.upstream_file(&name(p), sha, f).await.expect("slow"),
                "{p} {f}"
            );
            v
        }
        FileTarget::Slow => panic!("{p} {f}: expected the hot path"),
    }
}

#[tokio::test]
async fn pages_take_the_hot_path_only_when_fresh_and_upstream() {
    let h = gateway(1).await;
    let old = "2025-01-01T00:00:00Z";
    let rev = store(
        &h,
        "demo",
        vec![file("demo-1.0.tar.gz", &"a".repeat(64), old)],
        true,
        T0,
    )
    .await;
    store(&h, "nothing", vec![], false, T0).await;

    match h.s.page_target(&name("demo")).await.expect("t") {
        PageTarget::Upstream(f) => {
            assert_eq!(f.validity.revision, rev);
            assert_eq!(
                f.validity.hour,
                T0.div_euclid(HOUR),
                "cooldown on: the hour"
            );
            assert_eq!(f.age_secs, 0);
            assert_eq!(f.confirmed_at, T0);
            // served from memory until the TTL ends or, sooner, the cooldown's hour does
            let ttl = i64::try_from(h.s.settings.upstream.page_ttl_secs).expect("ttl") * 1_000_000;
            let hour_end = (T0.div_euclid(HOUR) + 1) * HOUR;
            assert_eq!(f.fresh_until, (T0 + ttl).min(hour_end));
            assert!(f.fresh_until > T0);
        }
        other => panic!("{other:?}"),
    }
    // a fresh "not found" answers 404 at once; an unknown name and a reserved one go the full way
    assert!(matches!(
        h.s.page_target(&name("nothing")).await.expect("t"),
        PageTarget::NotServed
    ));
    // (what the lookup said goes along: nothing stored; a reserved name is resolved again)
    match h.s.page_target(&name("unknown")).await.expect("t") {
        PageTarget::Slow(Some(k)) => {
            assert_eq!(k.stamp, None);
            assert!(!k.filters.rules && !k.filters.advisories);
        }
        other => panic!("{other:?}"),
    }
    store(&h, "acme-x", vec![], true, T0).await;
    assert!(matches!(
        h.s.page_target(&name("acme-x")).await.expect("t"),
        PageTarget::Slow(None)
    ));
    // past the TTL: the full path revalidates, knowing the stored page's stamp
    h.clock.advance(301_000_000);
    match h.s.page_target(&name("demo")).await.expect("t") {
        PageTarget::Slow(Some(k)) => {
            assert_eq!(k.stamp.map(|s| s.revision), Some(rev));
        }
        other => panic!("{other:?}"),
    }
    // a prohibited name (by its skeleton) is never served upstream, fresh page or not
    store(&h, "dem0", vec![], true, T0 + 301_000_000).await;
    let mut tx = h.s.db.begin_admin().await.expect("tx");
    tx.prohibit_name(
        "dem0",
        "dem0",
        &strongroom_protocol::name::skeleton("dem0"),
        "no",
        "admin",
        T0,
    )
    .await
    .expect("prohibit");
    tx.commit(&[], &[]).await.expect("commit");
    assert!(matches!(
        h.s.page_target(&name("dem0")).await.expect("t"),
        PageTarget::NotServed
    ));
}

#[tokio::test]
async fn file_verdicts_are_remembered_per_validity_and_every_change_shows_at_once() {
    let h = gateway(1).await;
    let (a, b) = ("a".repeat(64), "b".repeat(64));
    let old = "2025-01-01T00:00:00Z";
    // uploaded 23 h before T0: inside the one-day cooldown for another hour
    let young = "2025-12-31T01:00:00Z";
    store(
        &h,
        "demo",
        vec![
            file("demo-1.0.tar.gz", &a, old),
            file("demo-2.0.tar.gz", &b, young),
        ],
        true,
        T0,
    )
    .await;
    assert!(matches!(
        verdict(&h, "demo", &a, "demo-1.0.tar.gz").await,
        UpstreamFileVerdict::Serve { .. }
    ));
    assert_eq!(
        verdict(&h, "demo", &b, "demo-2.0.tar.gz").await,
        UpstreamFileVerdict::NotFound
    );
    assert_eq!(h.s.gateway_verdicts.len(), 2, "both remembered");
    // the cooldown's hour turns: decided again, now served
    h.clock.advance(2 * HOUR);
    assert!(matches!(
        verdict(&h, "demo", &b, "demo-2.0.tar.gz").await,
        UpstreamFileVerdict::Serve { .. }
    ));
    // a block rule bumps the generation: refused at once
    h.s.admin_upstream_rule(&ops(), RuleChange::Block, "demo", None, "malware", &meta())
        .await
        .expect("block");
    assert!(matches!(
        verdict(&h, "demo", &a, "demo-1.0.tar.gz").await,
        UpstreamFileVerdict::Refused(_)
    ));
    h.s.admin_upstream_rule(&ops(), RuleChange::Unblock, "demo", None, "ok", &meta())
        .await
        .expect("unblock");
    // a new revision without the file: not found at once
    store(
        &h,
        "demo",
        vec![file("demo-2.0.tar.gz", &b, young)],
        true,
        T0 + 2 * HOUR,
    )
    .await;
    assert_eq!(
        verdict(&h, "demo", &a, "demo-1.0.tar.gz").await,
        UpstreamFileVerdict::NotFound
    );
    // a local project of that name: never upstream again
    let u = h.user("owner").await;
    let f = crate::test_harness::sdist("demo", "1.0", &u, T0, "demo-1.0.tar.gz".into(), "x");
    h.s.db.publish_file(&f).await.expect("publish");
    assert_eq!(
        verdict(&h, "demo", &b, "demo-2.0.tar.gz").await,
        UpstreamFileVerdict::NotFound
    );
}

#[test]
fn the_memo_is_bounded_and_evicts_one_entry_at_a_time() {
    let memo = super::fast::VerdictMemo::default();
    let v = super::PageValidity {
        revision: 1,
        generation: 1,
        hour: 0,
    };
    let key = |i: usize| {
        (
            "demo".to_owned(),
            format!("{i:064x}"),
            format!("demo-{i}.tar.gz"),
        )
    };
    for i in 0..super::fast::VERDICT_MEMO_CAP + 10 {
        memo.put(key(i), v, UpstreamFileVerdict::NotFound);
        assert!(memo.len() <= super::fast::VERDICT_MEMO_CAP);
    }
    assert_eq!(memo.len(), super::fast::VERDICT_MEMO_CAP);
    // the newest is there; another validity is a miss
    let last = key(super::fast::VERDICT_MEMO_CAP + 9);
    assert_eq!(memo.get(&last, v), Some(UpstreamFileVerdict::NotFound));
    assert_eq!(memo.get(&last, super::PageValidity { hour: 1, ..v }), None);
}

#[tokio::test]
async fn a_rendered_page_remembers_the_verdicts_on_its_newest_files() {
    let h = gateway(1).await;
    let old = "2025-01-01T00:00:00Z";
    let n = super::REMEMBERED_VERDICTS + 2;
    let files: Vec<UpstreamFile> = (0..n)
        .map(|i| file(&format!("demo-{i}.0.tar.gz"), &format!("{i:064x}"), old))
        .collect();
    store(&h, "demo", files.clone(), true, T0).await;
    store(
        &h,
        "ruled",
        vec![file("ruled-1.0.tar.gz", &"c".repeat(64), old)],
        true,
        T0,
    )
    .await;
    h.s.admin_upstream_rule(&ops(), RuleChange::Block, "ruled", None, "malware", &meta())
        .await
        .expect("block");
    for project in ["demo", "ruled"] {
        let fresh = match h.s.page_target(&name(project)).await.expect("t") {
            PageTarget::Upstream(f) => f,
            other => panic!("{other:?}"),
        };
        assert_eq!(fresh.filters.rules, project == "ruled", "{project}");
        let page =
            h.s.stored_gateway_page(&name(project))
                .await
                .expect("read")
                .expect("stored");
        h.s.upstream_project_page(
            &name(project),
            &page,
            "/",
            Some((fresh.filters, fresh.validity)),
        )
        .await
        .expect("render");
        for f in &page.page.files {
            let sha = f.sha256.clone().expect("sha");
            let key = (project.to_owned(), sha.clone(), f.filename.clone());
            let remembered = h.s.gateway_verdicts.get(&key, fresh.validity);
            let newest = page.page.files.len()
                - page.page.files.iter().position(|x| x == f).expect("listed")
                <= super::REMEMBERED_VERDICTS;
            if newest {
                // what the full path decides
                let slow =
                    h.s.upstream_file(&name(project), &sha, &f.filename)
                        .await
                        .expect("slow");
                assert_eq!(remembered, Some(slow), "{project} {}", f.filename);
            } else {
                assert_eq!(
                    remembered, None,
                    "{}: older files are not remembered",
                    f.filename
                );
            }
        }
    }
    assert!(matches!(
        h.s.gateway_verdicts.get(
            &(
                "ruled".to_owned(),
                "c".repeat(64),
                "ruled-1.0.tar.gz".to_owned()
            ),
            match h.s.page_target(&name("ruled")).await.expect("t") {
                PageTarget::Upstream(f) => f.validity,
                other => panic!("{other:?}"),
            }
        ),
        Some(UpstreamFileVerdict::Refused(_))
    ));
    assert_eq!(h.s.gateway_verdicts.len(), super::REMEMBERED_VERDICTS + 1);
}
