//! Verdicts: ids under the index's prefix (never a bare `MAL-`), the record in the
//! malicious-packages layout naming every file, the withdrawal, the events, and the export read
//! back by `admin osv import` with its hashes.

use strongroom_store::NewFile;
use strongroom_store::PublishOutcome;
use strongroom_store::model::User;

use super::*;
use crate::admin::{AdminCap, Authority};
use crate::advisories::{ImportOptions, SourceName};
use crate::test_harness::{Harness, T0, sdist};
use crate::{Actor, RequestMeta};

fn cap() -> AdminCap {
    AdminCap::test(Actor {
        id: None,
        name: "cli:ops".into(),
    })
}

fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("192.0.2.7".into()),
        user_agent: Some("verdict-test/1".into()),
        request_id: None,
    }
}

/// Publish `project` `version` as an sdist and a wheel; their sha256s (sdist, wheel).
async fn release(h: &Harness, u: &User, project: &str, version: &str) -> (String, String) {
    let sd = sdist(
        project,
        version,
        u,
        T0,
        format!("{project}-{version}.tar.gz"),
        &format!("{project}{version}s"),
    );
    let whl = NewFile {
        filename: format!("{project}-{version}-py3-none-any.whl"),
        packagetype: "bdist_wheel".into(),
        python_version: "py3".into(),
        ..sdist(
            project,
            version,
            u,
            T0 + 1,
            String::new(),
            &format!("{project}{version}w"),
        )
    };
    for f in [&sd, &whl] {
        let o = h.s.db.publish_file(f).await.expect("publish");
        assert!(matches!(o, PublishOutcome::Published { .. }), "{o:?}");
    }
    (sd.sha256, whl.sha256)
}

async fn prefixed(prefix: &str) -> Harness {
    let p = prefix.to_owned();
    Harness::with(move |_, s| s.scan.osv_id_prefix = p).await
}

#[tokio::test]
async fn a_verdict_gets_the_index_prefix_and_its_record_names_every_file() {
    let h = prefixed("ACME-MAL").await;
    let u = h.user("owner").await;
    let (sd, whl) = release(&h, &u, "Demo_Pkg", "0.2.2").await;
    // The review queue removes the release first; the removed files are still named.
    h.s.remove_release(
        &Authority::Admin(&cap()),
        "demo-pkg",
        "0.2.2",
        "malicious",
        &meta(),
    )
    .await
    .expect("remove");
    let id =
        h.s.record_malicious_verdict(
            &cap(),
            "demo.pkg",
            "0.2.2",
            "Steals AWS keys at import.",
            &meta(),
        )
        .await
        .expect("record");
    assert_eq!(id, "ACME-MAL-2026-1");
    h.clock.advance(1_000_000);
    let other = release(&h, &u, "other", "1.0").await;
    let id2 =
        h.s.record_malicious_verdict(&cap(), "other", "1.0", "Miner.", &meta())
            .await
            .expect("second");
    assert_eq!(id2, "ACME-MAL-2026-2");
    assert_ne!(other.0, sd);

    let v =
        h.s.malicious_verdict(&id)
            .await
            .expect("get")
            .expect("some");
    let rec = verdict_osv_json(&v);
    assert_eq!(rec["id"], "ACME-MAL-2026-1");
    assert_eq!(rec["schema_version"], OSV_SCHEMA_VERSION);
    assert_eq!(rec["summary"], "Malicious code in Demo_Pkg (PyPI)");
    assert_eq!(rec["details"], "Steals AWS keys at import.");
    assert_eq!(rec["published"], "2026-01-01T00:00:00Z");
    assert_eq!(rec["modified"], "2026-01-01T00:00:00Z");
    assert!(rec.get("withdrawn").is_none(), "{rec}");
    let a = &rec["affected"][0];
    assert_eq!(a["package"]["ecosystem"], "PyPI");
    assert_eq!(a["package"]["name"], "Demo_Pkg");
    assert_eq!(a["versions"], serde_json::json!(["0.2.2"]));
    let files = a["database_specific"]["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    let ds = &rec["database_specific"];
    assert_eq!(ds["cwe_ids"], serde_json::json!(["CWE-506"]));
    assert_eq!(ds["cwes"][0]["name"], "Embedded Malicious Code");
    let mut hashes: Vec<&str> = ds["malicious-packages-origins"]
        .as_array()
        .expect("origins")
        .iter()
        .map(|o| o["sha256"].as_str().expect("sha"))
        .collect();
    hashes.sort_unstable();
    let mut want = vec![sd.as_str(), whl.as_str()];
    want.sort_unstable();
    assert_eq!(hashes, want, "every file, removed ones included");
    // The indicators other scanners match files by: one per file, name and sha256.
    let mut integrity: Vec<(&str, &str)> = ds["indicators"]["package_integrity"]
        .as_array()
        .expect("package_integrity")
        .iter()
        .map(|e| {
            (
                e["filename"].as_str().expect("filename"),
                e["hashes"]["sha256"].as_str().expect("sha256"),
            )
        })
        .collect();
    integrity.sort_unstable_by_key(|e| e.1);
    assert_eq!(integrity.len(), 2, "{integrity:?}");
    assert_eq!(
        integrity.iter().map(|e| e.1).collect::<Vec<_>>(),
        want,
        "{integrity:?}"
    );
    assert!(
        integrity
            .iter()
            .all(|(f, _)| files.iter().any(|x| x["filename"] == *f)),
        "{integrity:?}"
    );
    // The protocol layer reads it back as a malicious record with both hashes.
    let parsed: strongroom_protocol::osv::Record =
        serde_json::from_value(rec.clone()).expect("parse");
    let adv = parsed.advisories().expect("advisories");
    assert!(adv[0].malicious && adv[0].affects("0.2.2") && !adv[0].affects("0.1.2"));
    assert_eq!(adv[0].sha256.len(), 2);

    let ev = h.s.db.events(0, 1000).await.expect("events");
    let e = ev
        .iter()
        .find(|e| e.action == "verdict:malicious")
        .expect("event");
    assert_eq!(e.actor_name.as_deref(), Some("cli:ops"));
    assert_eq!(e.ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(e.user_agent.as_deref(), Some("verdict-test/1"));
    assert_eq!(e.subject_name.as_deref(), Some("Demo_Pkg"));
    assert!(e.details.contains(&id), "{}", e.details);
}

#[tokio::test]
async fn the_default_prefix_is_the_index_own_never_bare_mal() {
    let h = Harness::new().await;
    let u = h.user("owner").await;
    release(&h, &u, "demo", "1.0").await;
    let id =
        h.s.record_malicious_verdict(&cap(), "demo", "1.0", "bad", &meta())
            .await
            .expect("record");
    assert_eq!(id, "STRONGROOM-MAL-2026-1");
    assert!(!id.starts_with("MAL-"));
}

#[tokio::test]
async fn wrong_input_is_refused_and_a_release_gets_one_live_verdict() {
    let h = Harness::new().await;
    let u = h.user("owner").await;
    release(&h, &u, "demo", "1.0").await;
    let r =
        h.s.record_malicious_verdict(&cap(), "nope", "1.0", "x", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::NotFound(_))), "{r:?}");
    let r =
        h.s.record_malicious_verdict(&cap(), "demo", "9.9", "x", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::NotFound(_))), "{r:?}");
    let r =
        h.s.record_malicious_verdict(&cap(), "demo", "1.0", "  ", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Invalid(_))), "{r:?}");
    // `1.0.0` is the same release as `1.0`.
    let id =
        h.s.record_malicious_verdict(&cap(), "demo", "1.0.0", "bad", &meta())
            .await
            .expect("record");
    let again =
        h.s.record_malicious_verdict(&cap(), "demo", "1.0", "bad", &meta())
            .await;
    assert!(
        matches!(&again, Err(CoreError::Conflict(m)) if m.contains(&id)),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_withdrawn_verdict_keeps_its_record_marked_withdrawn() {
    let h = Harness::new().await;
    let u = h.user("owner").await;
    release(&h, &u, "demo", "1.0").await;
    let id =
        h.s.record_malicious_verdict(&cap(), "demo", "1.0", "bad", &meta())
            .await
            .expect("record");
    let r =
        h.s.withdraw_malicious_verdict(&cap(), &id, " ", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Invalid(_))), "{r:?}");
    let r =
        h.s.withdraw_malicious_verdict(&cap(), "STRONGROOM-MAL-2026-99", "x", &meta())
            .await;
    assert!(matches!(r, Err(CoreError::NotFound(_))), "{r:?}");
    h.clock.advance(3_600_000_000);
    h.s.withdraw_malicious_verdict(&cap(), &id, "a false positive", &meta())
        .await
        .expect("withdraw");
    let again =
        h.s.withdraw_malicious_verdict(&cap(), &id, "again", &meta())
            .await;
    assert!(matches!(again, Err(CoreError::Conflict(_))), "{again:?}");
    let v =
        h.s.malicious_verdict(&id)
            .await
            .expect("get")
            .expect("some");
    let rec = verdict_osv_json(&v);
    assert_eq!(rec["withdrawn"], "2026-01-01T01:00:00Z");
    assert_eq!(rec["modified"], "2026-01-01T01:00:00Z");
    assert_eq!(rec["published"], "2026-01-01T00:00:00Z");
    assert_eq!(
        rec["database_specific"]["withdrawn_reason"],
        "a false positive"
    );
    let s = verdict_summary(&v);
    assert_eq!(s.withdrawn.as_deref(), Some("2026-01-01T01:00:00Z"));
    let w = h.event_details("verdict:withdrawn").await;
    assert_eq!(w.len(), 1, "one event, for the withdrawal that happened");
    assert_eq!(w[0]["id"], id.as_str());
    assert_eq!(w[0]["reason"], "a false positive");
}

#[tokio::test]
async fn an_export_imports_back_with_its_hashes_and_its_withdrawal() {
    let h = prefixed("ACME-MAL").await;
    let u = h.user("owner").await;
    // A live release: importing the index's own verdict holds it by its files' hashes.
    let (sd, whl) = release(&h, &u, "demo", "0.2.2").await;
    let id =
        h.s.record_malicious_verdict(&cap(), "demo", "0.2.2", "bad", &meta())
            .await
            .expect("record");
    let out = h.dir().join("feed");
    let e = h.s.export_malicious_verdicts(&out).await.expect("export");
    assert_eq!(e.written, vec![format!("{id}.json")]);
    assert_eq!(e.withdrawn, 0);
    let path = out.join(format!("{id}.json"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    assert_eq!(
        std::fs::read_dir(&out).expect("dir").count(),
        1,
        "no temp file is left"
    );
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(&sd) && text.contains(&whl));

    let source = SourceName::new("own").expect("name");
    let actor = cap().actor().clone();
    let r =
        h.s.import_advisories(&out, &source, ImportOptions::default(), &actor, &meta())
            .await
            .expect("import");
    assert_eq!((r.records, r.advisories, r.counts.added), (1, 1, 1));
    assert_eq!(r.held, vec!["demo 0.2.2".to_owned()], "{r:?}");
    let named =
        h.s.db
            .local_files_named_by_advisories()
            .await
            .expect("named");
    let mut got: Vec<&str> = named.iter().map(|n| n.sha256.as_str()).collect();
    got.sort_unstable();
    let mut want = vec![sd.as_str(), whl.as_str()];
    want.sort_unstable();
    assert_eq!(got, want, "both files' hashes are read back");
    assert!(named.iter().all(|n| n.record == id));

    // Withdrawn here, exported again: the import ends the hold.
    h.s.withdraw_malicious_verdict(&cap(), &id, "false positive", &meta())
        .await
        .expect("withdraw");
    let e = h.s.export_malicious_verdicts(&out).await.expect("export");
    assert_eq!(e.withdrawn, 1);
    let r =
        h.s.import_advisories(&out, &source, ImportOptions::default(), &actor, &meta())
            .await
            .expect("import");
    assert_eq!(r.counts.withdrawn, 1, "{r:?}");
    assert_eq!(r.released, vec!["demo 0.2.2".to_owned()], "{r:?}");
}
