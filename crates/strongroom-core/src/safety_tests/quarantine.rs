//! The dormant-project quarantine of a release uploaded by a recently recovered account.

use super::*;

#[tokio::test]
async fn dormant_projects_new_releases_are_quarantined_for_a_recovered_account() {
    let h = harness().await;
    let erin = h.user("erin").await;
    let admin =
        h.s.create_user("root", "root@example.org", PW, true, &meta())
            .await
            .expect("admin");
    assert!(admin.is_admin);
    assert!(matches!(
        h.publish("sleepy", "1.0", &erin, T0 - days(400)).await,
        PublishOutcome::Published { .. }
    ));
    assert!(matches!(
        h.publish("lively", "1.0", &erin, T0 - days(10)).await,
        PublishOutcome::Published { .. }
    ));
    // Not recovered: no quarantine rule at all.
    let p =
        h.s.upload_policy(&erin, "sleepy", "2.0", "f")
            .await
            .expect("policy");
    assert!(p.dormant_before.is_none());

    h.reset_password(&erin).await;
    h.clock.advance(73 * HOUR_MICROS);
    let erin = h.fresh(&erin).await;
    let now = h.s.now();
    let policy =
        h.s.upload_policy(&erin, "sleepy", "2.0", "sleepy-2.0.tar.gz")
            .await
            .expect("policy");
    assert_eq!(policy.dormant_before, Some(now - days(365)));
    let to: Vec<&str> = policy
        .quarantine_mails
        .iter()
        .map(|m| m.to.as_str())
        .collect();
    assert!(
        to.contains(&"erin@example.org") && to.contains(&"root@example.org"),
        "{to:?}"
    );

    let sleepy =
        h.s.db
            .project_by_normalized("sleepy")
            .await
            .expect("p")
            .expect("p");
    let serial_before = sleepy.last_serial;
    let out =
        h.s.db
            .publish(&h.new_file("sleepy", "2.0", &erin, now), &policy, None)
            .await
            .expect("publish");
    assert_eq!(
        out,
        PublishOutcome::Quarantined {
            release_created: true
        }
    );
    let sleepy =
        h.s.db
            .project_by_normalized("sleepy")
            .await
            .expect("p")
            .expect("p");
    assert_eq!(sleepy.last_serial, serial_before, "no journal entry");
    let visible: Vec<String> =
        h.s.db
            .releases_of(sleepy.id)
            .await
            .expect("r")
            .into_iter()
            .map(|r| r.version)
            .collect();
    assert_eq!(visible, vec!["1.0"]);
    assert_eq!(h.mails("root@example.org", "quarantined").await.len(), 1);
    let q = h.event_details("release:quarantine").await;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["version"], "2.0");
    // A later file of the quarantined release is held on its own (approval is per file), and
    // is no second quarantine.
    let out =
        h.s.db
            .publish(&h.new_file("sleepy", "2.0", &erin, now + 1), &policy, None)
            .await
            .expect("publish");
    assert!(matches!(out, PublishOutcome::FileHeld { .. }), "{out:?}");
    assert_eq!(h.mails("root@example.org", "quarantined").await.len(), 1);
    // A quarantined release does not make the project look alive: 2.1 is held too.
    let out =
        h.s.db
            .publish(&h.new_file("sleepy", "2.1", &erin, now + 2), &policy, None)
            .await
            .expect("publish");
    assert_eq!(
        out,
        PublishOutcome::Quarantined {
            release_created: true
        }
    );
    // A project with a recent release publishes normally.
    let policy =
        h.s.upload_policy(&erin, "lively", "2.0", "f")
            .await
            .expect("policy");
    let out =
        h.s.db
            .publish(&h.new_file("lively", "2.0", &erin, now + 3), &policy, None)
            .await
            .expect("publish");
    assert!(matches!(out, PublishOutcome::Published { .. }), "{out:?}");
    // After the watch, the dormant project's first release since the recovery still goes to
    // the admins (red team C5): the recovery is later than its newest lively release.
    h.clock.advance(days(30));
    let policy =
        h.s.upload_policy(&erin, "sleepy", "3.0", "f")
            .await
            .expect("policy");
    assert!(!policy.uploader_watched, "{policy:?}");
    assert!(policy.first_release_since.is_some() && !policy.quarantine_mails.is_empty());
    let out =
        h.s.db
            .publish(
                &h.new_file("sleepy", "3.0", &erin, h.s.now()),
                &policy,
                None,
            )
            .await
            .expect("publish");
    assert!(matches!(out, PublishOutcome::Quarantined { .. }), "{out:?}");
    // A project that is not dormant publishes as usual, the recovery notwithstanding.
    let policy =
        h.s.upload_policy(&erin, "lively", "3.0", "f")
            .await
            .expect("policy");
    let out =
        h.s.db
            .publish(
                &h.new_file("lively", "3.0", &erin, h.s.now()),
                &policy,
                None,
            )
            .await
            .expect("publish");
    assert!(matches!(out, PublishOutcome::Published { .. }), "{out:?}");
}

#[tokio::test]
async fn a_newcomer_invited_to_a_dormant_project_has_its_release_quarantined_too() {
    let h = harness().await;
    let erin = h.user("erin").await;
    let sock = h.user("sock").await;
    assert!(matches!(
        h.publish("sleepy", "1.0", &erin, T0 - days(400)).await,
        PublishOutcome::Published { .. }
    ));
    // erin (never recovered) invites a fresh account, which publishes at once.
    h.join(&erin, "sleepy", &sock, "Maintainer").await;
    let now = h.s.now();
    let policy =
        h.s.upload_policy(&sock, "sleepy", "2.0", "sleepy-2.0.tar.gz")
            .await
            .expect("policy");
    assert_eq!(policy.dormant_before, Some(now - days(365)));
    assert!(
        policy.quarantine_reason.contains("less than 7 days"),
        "{}",
        policy.quarantine_reason
    );
    let out =
        h.s.db
            .publish(&h.new_file("sleepy", "2.0", &sock, now), &policy, None)
            .await
            .expect("publish");
    assert!(matches!(out, PublishOutcome::Quarantined { .. }), "{out:?}");
    // The project's own old hand is not held; nor is the newcomer once established.
    let p =
        h.s.upload_policy(&erin, "sleepy", "2.1", "f")
            .await
            .expect("policy");
    assert!(p.dormant_before.is_none());
    h.clock.advance(days(8));
    let p =
        h.s.upload_policy(&sock, "sleepy", "2.1", "f")
            .await
            .expect("policy");
    assert!(p.dormant_before.is_none());
}

#[tokio::test]
async fn a_newcomers_new_release_of_a_lively_project_is_told_to_the_other_owners() {
    let h = harness().await;
    let erin = h.user("erin").await;
    let sock = h.user("sock").await;
    assert!(matches!(
        h.publish("lively", "1.0", &erin, T0 - days(10)).await,
        PublishOutcome::Published { .. }
    ));
    h.join(&erin, "lively", &sock, "Maintainer").await;
    let now = h.s.now();
    let policy =
        h.s.upload_policy(&sock, "lively", "1.1", "lively-1.1.tar.gz")
            .await
            .expect("policy");
    let out =
        h.s.db
            .publish(&h.new_file("lively", "1.1", &sock, now), &policy, None)
            .await
            .expect("publish");
    assert!(matches!(out, PublishOutcome::Published { .. }), "{out:?}");
    let told = h
        .mails("erin@example.org", "sock published lively 1.1")
        .await;
    assert_eq!(told.len(), 1, "the Owner hears of the newcomer's release");
    assert!(h.mails("sock@example.org", "published").await.is_empty());
    // The same release's next file is not a new release: no second notice.
    let mut second = h.new_file("lively", "1.1", &sock, now);
    second.filename = "lively-1.1-py3-none-any.whl".into();
    second.packagetype = "bdist_wheel".into();
    second.blake2_256 = "ab".repeat(32);
    second.sha256 = "cd".repeat(32);
    second.md5 = "ef".repeat(16);
    second.blob_key = format!("ab/ab/{}/{}", "ab".repeat(30), second.filename);
    let out =
        h.s.db
            .publish(&second, &policy, None)
            .await
            .expect("publish");
    assert!(matches!(out, PublishOutcome::Published { .. }), "{out:?}");
    assert_eq!(h.mails("erin@example.org", "sock published").await.len(), 1);
    // An established Owner's releases are not announced.
    let p =
        h.s.upload_policy(&erin, "lively", "1.2", "f")
            .await
            .expect("policy");
    assert!(p.release_mails.is_empty());
}
