//! The file-status rule, state by state, through the real publish and admin paths: what an
//! anonymous reader, an administrator and an admin token learn of each file.

use strongroom_store::model::User;
use strongroom_store::{NewFile, PublishOutcome, UploadPolicy};

use super::{FileStatus, MAX_BATCH, Sha256Hex, StatusReader};
use crate::admin::{AdminCap, Authority};
use crate::test_harness::{Harness, PW, sdist};
use crate::tokens::Credentials;
use crate::{Actor, CoreError, RequestMeta};

fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("192.0.2.7".into()),
        user_agent: Some("test".into()),
        request_id: None,
    }
}

fn file(project: &str, version: &str, u: &User, at: i64, tag: &str) -> NewFile {
    sdist(
        project,
        version,
        u,
        at,
        format!("{project}-{version}{tag}.tar.gz"),
        &format!("{project}{version}{tag}"),
    )
}

fn sha(f: &NewFile) -> Sha256Hex {
    Sha256Hex::parse(&f.sha256).expect("sha")
}

struct Fx {
    h: Harness,
    owner: User,
    cap: AdminCap,
}

async fn fx() -> Fx {
    let h = Harness::new().await;
    let owner = h.user("olga").await;
    let root =
        h.s.create_user("root", "root@example.org", PW, true, &meta())
            .await
            .expect("admin");
    Fx {
        cap: AdminCap::test(Actor::user(&root)),
        h,
        owner,
    }
}

impl Fx {
    async fn publish(&self, f: &NewFile, policy: &UploadPolicy) -> PublishOutcome {
        self.h.s.db.publish(f, policy, None).await.expect("publish")
    }

    async fn anon(&self, f: &NewFile) -> super::FileStatusReport {
        self.h
            .s
            .file_status(StatusReader::Anonymous, &sha(f))
            .await
            .expect("status")
    }

    async fn admin(&self, f: &NewFile) -> super::FileStatusReport {
        self.h
            .s
            .file_status(StatusReader::Admin(&self.cap), &sha(f))
            .await
            .expect("status")
    }
}

#[test]
fn only_64_hex_digits_are_a_sha256() {
    let ok = "AB".repeat(32);
    assert_eq!(Sha256Hex::parse(&ok).expect("ok").as_str(), "ab".repeat(32));
    for bad in [
        "",
        "ab",
        &"g".repeat(64),
        &"a".repeat(65),
        &format!("{}é", "a".repeat(62)),
    ] {
        assert!(
            matches!(Sha256Hex::parse(bad), Err(CoreError::Invalid(_))),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn a_published_file_is_live_then_yanked_with_its_reason_and_an_unknown_hash_is_unknown() {
    let x = fx().await;
    let f = file("demo", "1.0", &x.owner, x.h.s.now(), "");
    assert!(matches!(
        x.publish(&f, &UploadPolicy::default()).await,
        PublishOutcome::Published { .. }
    ));
    let r = x.anon(&f).await;
    assert_eq!(r.status, FileStatus::Live);
    let id = r.file.clone().expect("identity");
    assert_eq!(
        (
            id.project.as_str(),
            id.version.as_str(),
            id.filename.as_str()
        ),
        ("demo", "1.0", "demo-1.0.tar.gz")
    );
    assert_eq!(r.to_json()["status"], "live");
    assert!(r.to_json().get("reason").is_none());

    x.h.s
        .set_yanked("demo", "1.0", Some("broken build"), "olga", &meta())
        .await
        .expect("yank");
    let r = x.anon(&f).await;
    assert_eq!(r.status, FileStatus::Yanked);
    assert_eq!(r.reason.as_deref(), Some("broken build"));
    assert_eq!(r.to_json()["reason"], "broken build");

    let nobody = Sha256Hex::parse(&"0".repeat(64)).expect("sha");
    for reader in [StatusReader::Anonymous, StatusReader::Admin(&x.cap)] {
        let r = x.h.s.file_status(reader, &nobody).await.expect("status");
        assert_eq!(r.status, FileStatus::Unknown);
        assert_eq!(
            r.to_json(),
            serde_json::json!({"sha256": "0".repeat(64), "status": "unknown"})
        );
    }
}

#[tokio::test]
async fn a_held_file_never_published_is_unknown_to_the_public_until_approved() {
    let x = fx().await;
    let now = x.h.s.now();
    let first = file("demo", "1.0", &x.owner, now, "");
    x.publish(&first, &UploadPolicy::default()).await;
    let added = NewFile {
        packagetype: "bdist_wheel".into(),
        ..file("demo", "1.0", &x.owner, now + 1, "-py3-none-any")
    };
    let held = UploadPolicy {
        hold_added_file: Some("watched uploader".into()),
        ..UploadPolicy::default()
    };
    assert!(matches!(
        x.publish(&added, &held).await,
        PublishOutcome::FileHeld { .. }
    ));
    let r = x.anon(&added).await;
    assert_eq!(
        r.status,
        FileStatus::Unknown,
        "nothing leaks about held uploads"
    );
    assert!(r.file.is_none());
    let r = x.admin(&added).await;
    assert_eq!(r.status, FileStatus::Held);
    assert_eq!(r.reason.as_deref(), Some("watched uploader"));

    x.h.s
        .admin_approve_file(&x.cap, "demo", "1.0", &added.filename, "fine", &meta())
        .await
        .expect("approve");
    assert_eq!(x.anon(&added).await.status, FileStatus::Live);
}

#[tokio::test]
async fn a_quarantined_release_is_unknown_to_the_public_and_a_later_project_quarantine_is_told() {
    let x = fx().await;
    let now = x.h.s.now();
    let old = file("demo", "1.0", &x.owner, now, "");
    x.publish(&old, &UploadPolicy::default()).await;
    let new = file("demo", "2.0", &x.owner, now + 1, "");
    let dormant = UploadPolicy {
        dormant_before: Some(i64::MAX),
        quarantine_reason: "dormant project".into(),
        ..UploadPolicy::default()
    };
    assert!(matches!(
        x.publish(&new, &dormant).await,
        PublishOutcome::Quarantined { .. }
    ));
    assert_eq!(x.anon(&new).await.status, FileStatus::Unknown);
    let r = x.admin(&new).await;
    assert_eq!(r.status, FileStatus::Quarantined);
    assert_eq!(r.reason.as_deref(), Some("dormant project"));
    assert_eq!(x.anon(&old).await.status, FileStatus::Live);

    // The whole project quarantined: the file that was public says so (without the admins'
    // reason); the one that never was still says nothing.
    x.h.s
        .admin_quarantine_project(&x.cap, "demo", "under investigation", &meta())
        .await
        .expect("quarantine");
    let r = x.anon(&old).await;
    assert_eq!(r.status, FileStatus::Quarantined);
    assert_eq!(r.reason, None);
    assert_eq!(
        x.admin(&old).await.reason.as_deref(),
        Some("under investigation")
    );
    assert_eq!(x.anon(&new).await.status, FileStatus::Unknown);
}

#[tokio::test]
async fn removal_outranks_a_yank_and_a_batch_answers_in_order_through_an_admin_token_or_not() {
    let x = fx().await;
    let now = x.h.s.now();
    let a = file("demo", "1.0", &x.owner, now, "");
    let b = file("demo", "2.0", &x.owner, now + 1, "");
    x.publish(&a, &UploadPolicy::default()).await;
    x.publish(&b, &UploadPolicy::default()).await;
    x.h.s
        .set_yanked("demo", "1.0", Some("old"), "olga", &meta())
        .await
        .expect("yank");
    x.h.s
        .remove_release(&Authority::Admin(&x.cap), "demo", "1.0", "malware", &meta())
        .await
        .expect("remove");
    let r = x.anon(&a).await;
    assert_eq!(r.status, FileStatus::Removed);
    assert_eq!(r.reason, None, "the removal's reason is the admins'");
    assert_eq!(x.admin(&a).await.reason.as_deref(), Some("malware"));

    // A held file, asked in a batch with others (one twice), anonymously and with tokens.
    let c = NewFile {
        packagetype: "bdist_wheel".into(),
        ..file("demo", "2.0", &x.owner, now + 2, "-py3-none-any")
    };
    let held = UploadPolicy {
        hold_added_file: Some("watched".into()),
        ..UploadPolicy::default()
    };
    x.publish(&c, &held).await;
    let asked = vec![sha(&b), sha(&c), sha(&a), sha(&b)];
    let words = |rs: Vec<super::FileStatusReport>| {
        rs.iter()
            .map(|r| (r.sha256.clone(), r.status.as_str()))
            .collect::<Vec<_>>()
    };
    let anon =
        x.h.s
            .file_statuses(StatusReader::Anonymous, &asked)
            .await
            .expect("batch");
    assert_eq!(
        words(anon),
        vec![
            (sha(&b), "live"),
            (sha(&c), "unknown"),
            (sha(&a), "removed"),
            (sha(&b), "live")
        ]
    );
    let admin_token =
        x.h.s
            .create_token("root", "audit", None, None, &meta())
            .await
            .expect("token");
    let owner_token =
        x.h.s
            .create_token("olga", "audit", None, None, &meta())
            .await
            .expect("token");
    let by = |secret: String| async {
        let creds = Credentials::Token(secret);
        words(
            x.h.s
                .file_statuses(StatusReader::Token(&creds), &asked)
                .await
                .expect("batch"),
        )
    };
    assert_eq!(by(admin_token).await[1], (sha(&c), "held"));
    assert_eq!(
        by(owner_token).await[1],
        (sha(&c), "unknown"),
        "only an admin's token sees held files"
    );

    let too_many = vec![sha(&a); MAX_BATCH + 1];
    assert!(matches!(
        x.h.s
            .file_statuses(StatusReader::Anonymous, &too_many)
            .await,
        Err(CoreError::Invalid(m)) if m.contains("at most 1000")
    ));
}
