//! Per-file review of a watched account's added file, and the batched notices to Owners of
//! added files, yanks and unyanks (issue 9, findings 2 and 5).

use super::*;

#[tokio::test]
async fn a_watched_accounts_added_file_is_held_and_every_added_file_is_told_to_the_other_owners() {
    let h = harness().await;
    let erin = h.user("erin").await;
    let bob = h.user("bob").await;
    h.s.create_user("root", "root@example.org", PW, true, &meta())
        .await
        .expect("admin");
    let now = h.s.now();
    // erin creates the project now: new in her role, but its founder, so not held.
    assert!(matches!(
        h.publish("proj", "1.0", &erin, now).await,
        PublishOutcome::Published { .. }
    ));
    let policy = |u: User| {
        let h = &h;
        async move {
            let mut p = strongroom_store::UploadPolicy::default();
            let f = h.new_file("proj", "1.0", &u, h.s.now() + 1);
            h.s.added_file_policy(&u, &f, &mut p).await.expect("policy");
            p
        }
    };
    let p = policy(erin.clone()).await;
    assert!(p.hold_added_file.is_none(), "the founder's own file");
    assert!(p.added_file_notice.is_none(), "no other Owner to tell");

    // bob joins as a Maintainer: new in his role, brought in by erin (watched herself): his added file is held,
    // and the held mail goes to the Owners and the admins.
    h.join(&erin, "proj", &bob, "Maintainer").await;
    let p = policy(bob.clone()).await;
    let reason = p.hold_added_file.clone().expect("held");
    // (erin, the founder, is new in her role too: bob's watch is his own or the one he
    // inherited from her, whichever lasts longer; granted at the same instant, they end together.)
    assert!(
        reason.contains("less than 7 days")
            || reason.contains("given its role by an account under watch"),
        "{reason}"
    );
    let to: Vec<&str> = p.held_file_mails.iter().map(|m| m.to.as_str()).collect();
    assert!(
        to.contains(&"erin@example.org") && to.contains(&"root@example.org"),
        "{to:?}"
    );
    let n = p.added_file_notice.expect("told");
    assert_eq!(
        n.recipients.iter().map(|r| r.user_id).collect::<Vec<_>>(),
        vec![erin.id],
        "the Owners, never the uploader"
    );
    let held_policy = strongroom_store::UploadPolicy {
        hold_added_file: Some(reason),
        ..Default::default()
    };
    let f = h.new_file("proj", "1.0", &bob, h.s.now() + 1);
    let out =
        h.s.db
            .publish(&f, &held_policy, None)
            .await
            .expect("publish");
    assert!(matches!(out, PublishOutcome::FileHeld { .. }), "{out:?}");

    // A week on, bob is no newcomer: published, and still told to erin.
    h.clock.advance(days(8));
    let p = policy(bob.clone()).await;
    assert!(p.hold_added_file.is_none());
    assert!(p.added_file_notice.is_some());

    // erin is recovered: her own added files are held again (a recovery is not a founding).
    h.reset_password(&erin).await;
    let erin = h.fresh(&erin).await;
    let p = policy(erin).await;
    assert!(
        p.hold_added_file.expect("held").contains("recovered"),
        "a recovered founder is watched"
    );
}

#[tokio::test]
async fn yanks_are_told_at_once_then_in_one_bounded_digest_after_the_window() {
    let h = harness().await;
    let erin = h.user("erin").await;
    let now = h.s.now();
    h.publish("yanky", "1.0", &erin, now).await;
    let subject = "yanky 1.0 was yanked";
    // The operator's CLI yanks (no account): erin is told of the first at once.
    h.s.set_yanked("yanky", "1.0", Some("first"), "cli:op", &meta())
        .await
        .expect("yank");
    assert_eq!(h.mails("erin@example.org", subject).await.len(), 1);
    for i in 0..12 {
        h.clock.advance(1_000_000);
        h.s.set_yanked("yanky", "1.0", None, "cli:op", &meta())
            .await
            .expect("unyank");
        h.s.set_yanked(
            "yanky",
            "1.0",
            Some(&format!("loop {i}")),
            "cli:op",
            &meta(),
        )
        .await
        .expect("yank");
    }
    // Nothing more at once, and nothing from the job before the window's end.
    assert_eq!(
        h.s.db
            .outbox_recent(1000)
            .await
            .expect("o")
            .iter()
            .filter(|m| m.to_addr == "erin@example.org")
            .count(),
        1
    );
    assert!(h.s.notice_digest_job().await.expect("job").is_empty());
    h.clock.advance(61 * 60 * 1_000_000);
    assert_eq!(h.s.notice_digest_job().await.expect("job").len(), 1);
    let digests = h
        .mails("erin@example.org", "24 change(s) to yanky (digest)")
        .await;
    assert_eq!(digests.len(), 1);
    let lines = digests[0].lines().filter(|l| l.starts_with("- ")).count();
    assert_eq!(lines, 21, "20 items and the 'more' line: {}", digests[0]);
    assert!(digests[0].contains("... and 4 more"), "{}", digests[0]);
    assert!(
        h.s.notice_digest_job().await.expect("job").is_empty(),
        "sent once"
    );
    // The yanking Owner is not told of her own yank.
    let web_erin = h.fresh(&erin).await;
    h.clock.advance(days(1));
    let r =
        h.s.db
            .project_by_normalized("yanky")
            .await
            .expect("p")
            .expect("p");
    let rel = h.s.db.releases_of(r.id).await.expect("r");
    let before = h.s.db.outbox_recent(1000).await.expect("o").len();
    h.s.set_yanked_by_id(&web_erin, "yanky", rel[0].id, None, &meta())
        .await
        .expect("unyank");
    assert_eq!(h.s.db.outbox_recent(1000).await.expect("o").len(), before);
}
