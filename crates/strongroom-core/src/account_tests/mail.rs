//! Ownership of objects, the outbox and SMTP delivery, mail rate limits, the web signing key.

use super::*;

#[tokio::test]
async fn other_users_objects_are_404_and_mail_tokens_check_their_address() {
    let h = harness(false).await;
    let a = h.user("alice").await;
    let b = h.user("bob").await;
    let (ai, bi) = (h.session(&a).await, h.session(&b).await);
    h.s.create_token("alice", "ci", None, None, &meta("192.0.2.1"))
        .await
        .expect("token");
    let tid = h.s.tokens_of(ai.user.id).await.expect("tokens")[0].id;
    assert!(matches!(
        h.s.revoke_token(&bi, tid, &meta("192.0.2.1")).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(matches!(
        h.s.end_session(bi.user.id, ai.id, &meta("192.0.2.1")).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(h.s.session(&a).await.expect("get").is_some());
    let alice_email = h.s.db.emails_of(ai.user.id).await.expect("emails")[0].id;
    assert!(matches!(
        h.s.remove_email(&bi, alice_email, &meta("192.0.2.1")).await,
        Err(CoreError::NotFound(_))
    ));
    h.s.revoke_token(&ai, tid, &meta("192.0.2.1"))
        .await
        .expect("own token");
    // A verification link for an address removed since is dead.
    h.s.add_email(&ai, "old@example.org", &meta("192.0.2.1"))
        .await
        .expect("add");
    let t = h.mailed_token("old@example.org", "Verify").await;
    let old =
        h.s.db
            .email_by_address("old@example.org")
            .await
            .expect("get")
            .expect("row");
    h.s.remove_email(&ai, old.id, &meta("192.0.2.1"))
        .await
        .expect("remove");
    assert!(h.s.verify_email(&t, &meta("192.0.2.1")).await.is_err());
    assert_eq!(
        h.mail_count("old@example.org", "was removed").await,
        1,
        "the removed address is told"
    );
    // Every action above is in the hash-chained log, without secrets.
    assert_eq!(h.s.db.verify_events().await.expect("verify"), None);
    let events = h.s.account_events(ai.user.id, 100).await.expect("events");
    assert!(events.iter().any(|e| e.action == "account:email:remove"));
    assert!(
        events
            .iter()
            .all(|e| !e.details.contains(&t) && !e.details.contains(PW))
    );
}

#[tokio::test]
async fn outbox_mail_is_written_as_eml_and_listed() {
    let h = harness(false).await;
    h.user("alice").await;
    let sent = h.s.deliver_outbox().await.expect("deliver");
    assert!(sent >= 1);
    assert_eq!(
        h.s.deliver_outbox().await.expect("again"),
        0,
        "each mail once"
    );
    let files = crate::mail::list_outbox_files(&h.s.settings.outbox_dir).expect("list");
    let f = files
        .iter()
        .find(|f| f.subject.contains("Verify"))
        .expect("verification mail");
    assert_eq!(f.to, "alice@example.org");
    assert!(!f.date.is_empty());
    let body = std::fs::read_to_string(&f.file).expect("read");
    assert!(
        body.contains("https://index.example/account/verify-email/?token="),
        "{body}"
    );
}

#[tokio::test]
async fn undeliverable_mail_is_retried_with_backoff_not_dropped() {
    let mut h = harness(false).await;
    h.user("alice").await;
    let mut settings = (*h.s.settings).clone();
    settings.smtp = Some(crate::SmtpSettings {
        host: "127.0.0.1".into(),
        port: 9,
        tls: crate::SmtpTls::None,
        username: None,
        password: None,
    });
    h.s.settings = Arc::new(settings);
    assert_eq!(h.s.deliver_outbox().await.expect("round"), 0);
    let pending = h.s.db.outbox_due(i64::MAX, 10).await.expect("due");
    assert!(
        !pending.is_empty()
            && pending
                .iter()
                .all(|m| m.attempts == 1 && m.last_error.is_some())
    );
    assert!(
        h.s.db
            .outbox_due(h.s.now(), 10)
            .await
            .expect("due")
            .is_empty(),
        "backing off"
    );
    h.clock.advance(31_000_000);
    assert_eq!(h.s.deliver_outbox().await.expect("round"), 0);
    let pending = h.s.db.outbox_due(i64::MAX, 10).await.expect("due");
    assert!(pending.iter().all(|m| m.attempts == 2), "retried");
}

/// A minimal SMTP sink: accepts one session at a time, records each message's DATA.
#[tokio::test]
async fn mail_goes_out_over_smtp_when_a_relay_is_configured() {
    let mut h = harness(false).await;
    h.user("alice").await;
    let (port, sink) = smtp_sink().await;
    let mut settings = (*h.s.settings).clone();
    settings.smtp = Some(crate::SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: crate::SmtpTls::None,
        username: None,
        password: None,
    });
    h.s.settings = Arc::new(settings);
    let sent = h.s.deliver_outbox().await.expect("deliver");
    assert!(sent >= 1, "delivered {sent}");
    assert!(
        h.s.db
            .outbox_due(i64::MAX, 10)
            .await
            .expect("due")
            .is_empty(),
        "nothing left pending"
    );
    let messages = sink.await.expect("sink");
    assert_eq!(messages.len(), sent);
    assert!(
        messages
            .iter()
            .any(|m| m.contains("Subject: Verify your email address")
                && m.contains("To: alice@example.org")),
        "{messages:?}"
    );
    assert!(
        crate::mail::list_outbox_files(&h.s.settings.outbox_dir)
            .expect("list")
            .is_empty(),
        "no files when SMTP works"
    );
}

#[tokio::test]
async fn mail_sending_actions_are_rate_limited() {
    let h = harness(false).await;
    let s = h.user("alice").await;
    let info = h.session(&s).await;
    // Verification mails: 3 per 6 hours per user.
    h.s.add_email(&info, "a2@example.org", &meta("192.0.2.1"))
        .await
        .expect("add");
    let e2 =
        h.s.db
            .email_by_address("a2@example.org")
            .await
            .expect("get")
            .expect("row")
            .id;
    for _ in 0..3 {
        h.s.resend_verification(info.user.id, e2, &meta("192.0.2.1"))
            .await
            .expect("resend");
    }
    let r =
        h.s.resend_verification(info.user.id, e2, &meta("192.0.2.1"))
            .await;
    assert!(
        matches!(r, Err(CoreError::TooMany { retry_after_secs, .. }) if retry_after_secs > 5 * 3600),
        "{r:?}"
    );
    // Address additions: 2 per day per IP.
    h.s.add_email(&info, "a3@example.org", &meta("192.0.2.1"))
        .await
        .expect("second add");
    let r =
        h.s.add_email(&info, "a4@example.org", &meta("192.0.2.1"))
            .await;
    assert!(matches!(r, Err(CoreError::TooMany { .. })), "{r:?}");
    assert!(
        h.s.db
            .email_by_address("a4@example.org")
            .await
            .expect("get")
            .is_none(),
        "nothing added"
    );
    // Registrations: 10 per hour per IP.
    for i in 0..9 {
        h.s.register(
            &format!("user{i}"),
            &format!("user{i}@example.org"),
            PW,
            &meta("192.0.2.1"),
        )
        .await
        .expect("register");
    }
    let r =
        h.s.register("one-more", "one-more@example.org", PW, &meta("192.0.2.1"))
            .await;
    assert!(
        matches!(r, Err(CoreError::TooMany { .. })),
        "alice was the 1st, this is the 11th: {r:?}"
    );
    h.s.register("one-more", "one-more@example.org", PW, &meta("192.0.2.77"))
        .await
        .expect("another IP");
}

#[tokio::test]
async fn the_web_signing_key_is_made_once_and_kept() {
    let h = harness(false).await;
    let a = h.s.web_signing_key().await.expect("key");
    let b = h.s.web_signing_key().await.expect("key");
    assert_eq!(a, b);
    assert_ne!(a, [0u8; 32]);
}
