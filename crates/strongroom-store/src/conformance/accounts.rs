//! Account-security store cases (migrations 0002, 0003): sessions, second factors, mail tokens, auth
//! states, rate-limit windows and server secrets, each run on SQLite and PostgreSQL (the outbox:
//! `outbox`).

use super::{backends, user, user_event as ev};
use crate::model::AuthState;
use crate::{NewCredential, NewMail, NewSession, NewToken, StoreError};

fn session(uid: i64, secret_hash: &str, at: i64) -> NewSession {
    NewSession {
        secret_hash: secret_hash.into(),
        user_id: uid,
        csrf_token: "csrf".into(),
        at,
        two_factor_ok: true,
        ip: Some("192.0.2.1".into()),
        user_agent: None,
    }
}

#[tokio::test]
async fn sessions_end_one_all_or_all_but_one() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;
        let mut tx = db.begin_account().await.expect("begin");
        let s1 = tx.insert_session(&session(a, "h1", 10)).await.expect("s1");
        let s2 = tx.insert_session(&session(a, "h2", 11)).await.expect("s2");
        let s3 = tx.insert_session(&session(a, "h3", 12)).await.expect("s3");
        let sb = tx.insert_session(&session(b, "hb", 12)).await.expect("sb");
        tx.commit(&[ev("login", 12)], &[]).await.expect("commit");
        let got = db.session_by_hash("h2").await.expect("get").expect("found");
        assert_eq!(
            (got.id, got.user_id, got.two_factor_ok),
            (s2, a, true),
            "{name}"
        );
        assert!(
            db.session_by_hash("h9").await.expect("get").is_none(),
            "{name}"
        );

        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            !tx.end_session(b, s1, 20).await.expect("idor"),
            "{name}: another user's session"
        );
        assert!(tx.end_session(a, s1, 20).await.expect("end"), "{name}");
        assert!(
            !tx.end_session(a, s1, 21).await.expect("again"),
            "{name}: ends once"
        );
        assert_eq!(
            tx.end_sessions(a, Some(s3), 22).await.expect("others"),
            1,
            "{name}"
        );
        tx.set_reauth(s3, 30).await.expect("reauth");
        tx.commit(&[], &[]).await.expect("commit");
        let live: Vec<i64> = db
            .sessions_of(a)
            .await
            .expect("list")
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(live, vec![s3], "{name}");
        assert_eq!(
            db.session_by_hash("h3")
                .await
                .expect("get")
                .expect("s3")
                .reauth_at,
            30,
            "{name}"
        );
        assert_eq!(
            db.sessions_of(b).await.expect("list").len(),
            1,
            "{name}: bob untouched"
        );
        let mut tx = db.begin_account().await.expect("begin");
        assert_eq!(
            tx.end_sessions(a, None, 40).await.expect("all"),
            1,
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert!(db.sessions_of(a).await.expect("list").is_empty(), "{name}");
        let _ = sb;
    }
}

#[tokio::test]
async fn a_dropped_change_leaves_nothing_and_a_committed_one_chains_events_and_mail() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let mut tx = db.begin_account().await.expect("begin");
        tx.insert_session(&session(a, "gone", 5))
            .await
            .expect("insert");
        drop(tx);
        assert!(
            db.session_by_hash("gone").await.expect("get").is_none(),
            "{name}: rolled back"
        );
        let mut tx = db.begin_account().await.expect("begin");
        tx.set_password(a, "new-hash", 50).await.expect("pw");
        tx.commit(
            &[ev("account:password:change", 50)],
            &[NewMail {
                to: "alice@example.org".into(),
                subject: "Password changed".into(),
                body: "b".into(),
            }],
        )
        .await
        .expect("commit");
        let u = db.user_by_id(a).await.expect("get").expect("user");
        assert_eq!(
            (u.password_hash.as_deref(), u.password_changed_at),
            (Some("new-hash"), Some(50)),
            "{name}"
        );
        assert_eq!(
            db.verify_events().await.expect("verify"),
            None,
            "{name}: chain intact"
        );
        let evs = db.events_of_user(a, 10).await.expect("events");
        assert!(
            evs.iter().any(|e| e.action == "account:create"),
            "{name}: {evs:?}"
        );
        let due = db.outbox_due(50, 10).await.expect("due");
        assert_eq!(due.len(), 1, "{name}");
        assert_eq!(due[0].subject, "Password changed", "{name}");
    }
}

#[tokio::test]
async fn totp_steps_are_claimed_once_and_only_forward() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let mut tx = db.begin_account().await.expect("begin");
        tx.put_totp(a, "SECRET", 1, false, Some(90))
            .await
            .expect("put");
        assert_eq!(
            tx.count_second_factors(a).await.expect("count"),
            0,
            "{name}: pending"
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert!(
            !db.totp_claim_step(a, 100).await.expect("claim"),
            "{name}: pending seeds accept nothing"
        );
        let mut tx = db.begin_account().await.expect("begin");
        assert_eq!(
            tx.enable_pending_second_factors(a, 2)
                .await
                .expect("enable"),
            1,
            "{name}"
        );
        assert_eq!(
            tx.count_second_factors(a).await.expect("count"),
            1,
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert!(db.totp_claim_step(a, 100).await.expect("claim"), "{name}");
        assert!(
            !db.totp_claim_step(a, 100).await.expect("replay"),
            "{name}: same step twice"
        );
        assert!(
            !db.totp_claim_step(a, 99).await.expect("older"),
            "{name}: an older step"
        );
        assert!(db.totp_claim_step(a, 101).await.expect("next"), "{name}");
        assert_eq!(
            db.totp_of(a)
                .await
                .expect("get")
                .expect("seed")
                .last_used_step,
            Some(101),
            "{name}"
        );
        let mut tx = db.begin_account().await.expect("begin");
        assert!(tx.delete_totp(a).await.expect("delete"), "{name}");
        tx.commit(&[], &[]).await.expect("commit");
        assert!(db.totp_of(a).await.expect("get").is_none(), "{name}");
    }
}

#[tokio::test]
async fn recovery_codes_burn_once_and_are_replaced() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let mut tx = db.begin_account().await.expect("begin");
        tx.replace_recovery_codes(a, &["h1".into(), "h2".into()], 1)
            .await
            .expect("codes");
        tx.commit(&[], &[]).await.expect("commit");
        let codes = db.recovery_codes_of(a).await.expect("list");
        assert_eq!(codes.len(), 2, "{name}");
        assert!(
            db.burn_recovery_code(codes[0].id, 5).await.expect("burn"),
            "{name}"
        );
        assert!(
            !db.burn_recovery_code(codes[0].id, 6)
                .await
                .expect("burn again"),
            "{name}: single use"
        );
        let mut tx = db.begin_account().await.expect("begin");
        tx.replace_recovery_codes(a, &["h3".into()], 7)
            .await
            .expect("regenerate");
        tx.commit(&[], &[]).await.expect("commit");
        let codes = db.recovery_codes_of(a).await.expect("list");
        assert_eq!(
            codes
                .iter()
                .map(|c| c.code_hash.as_str())
                .collect::<Vec<_>>(),
            vec!["h3"],
            "{name}"
        );
    }
}

#[tokio::test]
async fn webauthn_credentials_are_unique_and_counters_only_grow() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;
        let cred = |uid, cid: &str, label: &str| NewCredential {
            user_id: uid,
            credential_id: cid.into(),
            passkey: "{}".into(),
            sign_count: 5,
            label: label.into(),
            at: 1,
            enabled: true,
        };
        let mut tx = db.begin_account().await.expect("begin");
        let id = tx
            .insert_credential(&cred(a, "cid1", "key"))
            .await
            .expect("insert");
        assert!(
            matches!(tx.insert_credential(&cred(a, "cid2", "key")).await, Err(StoreError::Conflict(ref w)) if w == "label"),
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
        let mut tx = db.begin_account().await.expect("begin");
        let dup = tx.insert_credential(&cred(b, "cid1", "other")).await;
        assert!(
            matches!(dup, Err(StoreError::Conflict(ref w)) if w == "credential"),
            "{name}: {dup:?}"
        );
        drop(tx);
        assert_eq!(
            db.webauthn_by_credential_id("cid1")
                .await
                .expect("get")
                .expect("cred")
                .user_id,
            a,
            "{name}"
        );
        assert!(
            !db.webauthn_record_use(id, "{}", 5, 2).await.expect("same"),
            "{name}: counter must grow"
        );
        assert!(
            !db.webauthn_record_use(id, "{}", 4, 2).await.expect("back"),
            "{name}: regression"
        );
        assert!(
            db.webauthn_record_use(id, "{\"n\":1}", 6, 3)
                .await
                .expect("grow"),
            "{name}"
        );
        assert!(
            db.webauthn_record_use(id, "{}", 0, 4).await.expect("zero"),
            "{name}: non-counting authenticator"
        );
        let mut tx = db.begin_account().await.expect("begin");
        assert!(!tx.delete_credential(b, id).await.expect("idor"), "{name}");
        assert_eq!(
            tx.count_second_factors(a).await.expect("count"),
            1,
            "{name}"
        );
        assert!(tx.delete_credential(a, id).await.expect("delete"), "{name}");
        tx.commit(&[], &[]).await.expect("commit");
        assert!(db.webauthn_of(a).await.expect("list").is_empty(), "{name}");
    }
}

#[tokio::test]
async fn email_tokens_are_single_use_and_invalidated_by_purpose() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let mut tx = db.begin_account().await.expect("begin");
        let t1 = tx
            .insert_email_token("r1", a, None, "reset_password", 1, 100)
            .await
            .expect("t1");
        tx.insert_email_token("v1", a, Some(1), "verify_email", 1, 100)
            .await
            .expect("t2");
        tx.commit(&[], &[]).await.expect("commit");
        let t = db
            .email_token_by_hash("r1")
            .await
            .expect("get")
            .expect("token");
        assert_eq!(
            (t.id, t.purpose.as_str(), t.used_at),
            (t1, "reset_password", None),
            "{name}"
        );
        let mut tx = db.begin_account().await.expect("begin");
        assert!(tx.use_email_token(t1, 5).await.expect("use"), "{name}");
        assert!(
            !tx.use_email_token(t1, 6).await.expect("reuse"),
            "{name}: single use"
        );
        tx.insert_email_token("r2", a, None, "reset_password", 7, 100)
            .await
            .expect("t3");
        assert_eq!(
            tx.invalidate_email_tokens(a, &["reset_password"], 8)
                .await
                .expect("kill"),
            1,
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert!(
            db.email_token_by_hash("r2")
                .await
                .expect("get")
                .expect("r2")
                .used_at
                .is_some(),
            "{name}"
        );
        assert!(
            db.email_token_by_hash("v1")
                .await
                .expect("get")
                .expect("v1")
                .used_at
                .is_none(),
            "{name}: other purposes kept"
        );
    }
}

#[tokio::test]
async fn auth_states_are_taken_once_and_expire() {
    for (name, db, _d) in backends().await {
        let st = |kind: &str| AuthState {
            kind: kind.into(),
            user_id: Some(1),
            data: "{}".into(),
            created_at: 1,
            expires_at: 100,
        };
        db.put_state("s1", &st("webauthn_login"))
            .await
            .expect("put");
        db.put_state("s2", &st("webauthn_login"))
            .await
            .expect("put");
        assert!(
            db.peek_state("s1", "webauthn_login", 50)
                .await
                .expect("peek")
                .is_some(),
            "{name}"
        );
        assert!(
            db.take_state("s1", "login_ticket", 50)
                .await
                .expect("kind")
                .is_none(),
            "{name}: wrong kind"
        );
        assert!(
            db.take_state("s1", "webauthn_login", 50)
                .await
                .expect("take")
                .is_some(),
            "{name}"
        );
        assert!(
            db.take_state("s1", "webauthn_login", 50)
                .await
                .expect("again")
                .is_none(),
            "{name}: single use"
        );
        assert!(
            db.peek_state("s2", "webauthn_login", 100)
                .await
                .expect("peek")
                .is_none(),
            "{name}: expired"
        );
        assert!(
            db.take_state("s2", "webauthn_login", 150)
                .await
                .expect("take")
                .is_none(),
            "{name}: expired"
        );
    }
}

#[tokio::test]
async fn rate_windows_count_per_bucket_and_since() {
    for (name, db, _d) in backends().await {
        for at in [10, 20, 30, 40] {
            db.rate_hit("login:user:alice", at).await.expect("hit");
        }
        db.rate_hit("login:user:bob", 35).await.expect("hit");
        assert_eq!(
            db.rate_window("login:user:alice", 0, 1).await.expect("w"),
            (4, Some(40)),
            "{name}"
        );
        assert_eq!(
            db.rate_window("login:user:alice", 15, 3).await.expect("w"),
            (3, Some(20)),
            "{name}"
        );
        assert_eq!(
            db.rate_window("login:user:alice", 40, 1).await.expect("w"),
            (0, None),
            "{name}"
        );
        assert_eq!(db.rate_prune(25).await.expect("prune"), 2, "{name}");
        db.rate_clear("login:user:alice").await.expect("clear");
        assert_eq!(
            db.rate_window("login:user:alice", 0, 1).await.expect("w").0,
            0,
            "{name}"
        );
        assert_eq!(
            db.rate_window("login:user:bob", 0, 1).await.expect("w").0,
            1,
            "{name}"
        );
    }
}

#[tokio::test]
async fn concurrent_rate_reservations_get_exactly_the_room_there_is() {
    // 40 reservations at once against a window of 7 (and a longer one of 30 that has room):
    // exactly 7 are taken, whatever the interleaving; the rest see the window full.
    for (name, db, _d) in backends().await {
        db.rate_hit("login:user:eve", 1).await.expect("old hit");
        let windows = [(10, 7), (0, 30)];
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(
                    async move { db.rate_reserve("login:user:eve", &windows, 100 + i).await },
                )
            })
            .collect();
        let mut taken = Vec::new();
        let mut full = 0;
        for t in tasks {
            match t.await.expect("task").expect("reserve") {
                crate::RateReservation::Taken(id) => taken.push(id),
                crate::RateReservation::Full(seen) => {
                    assert_eq!(seen[0].0, 7, "{name}: the full window's count");
                    assert!(seen[0].1.is_some(), "{name}: its 7th newest hit");
                    full += 1;
                }
            }
        }
        assert_eq!((taken.len(), full), (7, 33), "{name}");
        assert_eq!(
            db.rate_window("login:user:eve", 10, 1).await.expect("w").0,
            7,
            "{name}"
        );
        // A refund gives one place back, once; another bucket is untouched by all this.
        db.rate_refund(taken[0]).await.expect("refund");
        db.rate_refund(taken[0]).await.expect("refund twice");
        assert!(
            matches!(
                db.rate_reserve("login:user:eve", &windows, 200)
                    .await
                    .expect("reserve"),
                crate::RateReservation::Taken(_)
            ),
            "{name}: the refunded place"
        );
        assert!(
            matches!(
                db.rate_reserve("login:user:eve", &windows, 201)
                    .await
                    .expect("reserve"),
                crate::RateReservation::Full(_)
            ),
            "{name}: full again"
        );
        assert!(
            matches!(
                db.rate_reserve("login:user:bob", &[(10, 1)], 202)
                    .await
                    .expect("reserve"),
                crate::RateReservation::Taken(_)
            ),
            "{name}: another bucket"
        );
    }
}

#[tokio::test]
async fn account_rows_change_only_for_their_owner() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;
        let mut tx = db.begin_account().await.expect("begin");
        let tid = tx
            .insert_token(&NewToken {
                user_id: a,
                name: "ci".into(),
                token_hash: "t".repeat(64),
                project_id: None,
                expires_at: None,
                at: 1,
            })
            .await
            .expect("token");
        let e2 = tx
            .add_email(a, "Alice2@Example.org", false, 2)
            .await
            .expect("add");
        tx.commit(&[], &[]).await.expect("commit");
        // A conflict ends the transaction on PostgreSQL: callers drop it (nothing is kept).
        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            matches!(
                tx.add_email(b, "alice2@example.org", false, 2).await,
                Err(StoreError::Conflict(_))
            ),
            "{name}"
        );
        drop(tx);
        let mut tx = db.begin_account().await.expect("begin");
        assert!(!tx.revoke_token(b, tid, 3).await.expect("idor"), "{name}");
        assert!(!tx.remove_email(b, e2).await.expect("idor"), "{name}");
        assert!(!tx.set_primary_email(b, e2).await.expect("idor"), "{name}");
        assert!(
            tx.set_primary_email(a, e2).await.expect("primary"),
            "{name}"
        );
        tx.verify_email(e2, 4).await.expect("verify");
        assert!(tx.remember_login(a, "fp", 4).await.expect("new"), "{name}");
        assert!(
            !tx.remember_login(a, "fp", 5).await.expect("known"),
            "{name}"
        );
        tx.disable_password(a, "compromised")
            .await
            .expect("disable");
        tx.set_last_login(a, 7).await.expect("login");
        assert_eq!(
            tx.revoke_all_tokens(a, 8).await.expect("revoke"),
            1,
            "{name}"
        );
        tx.freeze_account(a, "mail", None, &[], 9)
            .await
            .expect("freeze");
        tx.commit(&[], &[]).await.expect("commit");
        let emails = db.emails_of(a).await.expect("emails");
        assert_eq!(emails[0].id, e2, "{name}: new primary first");
        assert_eq!(emails.iter().filter(|e| e.is_primary).count(), 1, "{name}");
        assert_eq!(
            db.email_by_address("ALICE2@example.org")
                .await
                .expect("get")
                .expect("e")
                .verified_at,
            Some(4),
            "{name}"
        );
        let u = db.user_by_id(a).await.expect("get").expect("u");
        assert_eq!(
            (u.frozen_at, u.password_disabled.as_deref(), u.last_login_at),
            (Some(9), Some("compromised"), Some(7)),
            "{name}"
        );
        assert!(
            db.tokens_of(a).await.expect("tokens")[0]
                .revoked_at
                .is_some(),
            "{name}"
        );
        assert_eq!(db.list_users().await.expect("users").len(), 2, "{name}");
    }
}

#[tokio::test]
async fn spent_and_expired_secrets_are_pruned() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let st = |exp: i64| AuthState {
            kind: "login_ticket".into(),
            user_id: Some(a),
            data: "{}".into(),
            created_at: 1,
            expires_at: exp,
        };
        db.put_state("old", &st(50)).await.expect("put");
        db.put_state("live", &st(500)).await.expect("put");
        let mut tx = db.begin_account().await.expect("begin");
        let used = tx
            .insert_email_token("used", a, None, "verify_email", 1, 1000)
            .await
            .expect("t");
        tx.insert_email_token("expired", a, None, "verify_email", 1, 20)
            .await
            .expect("t");
        tx.insert_email_token("fresh", a, None, "verify_email", 1, 1000)
            .await
            .expect("t");
        tx.use_email_token(used, 10).await.expect("use");
        tx.commit(&[], &[]).await.expect("commit");
        assert_eq!(db.prune_secrets(100, 30).await.expect("prune"), 3, "{name}");
        assert!(
            db.peek_state("live", "login_ticket", 100)
                .await
                .expect("peek")
                .is_some(),
            "{name}"
        );
        assert!(
            db.email_token_by_hash("fresh")
                .await
                .expect("get")
                .is_some(),
            "{name}"
        );
        assert!(
            db.email_token_by_hash("used").await.expect("get").is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn server_secrets_are_created_once_and_shared() {
    for (name, db, _d) in backends().await {
        // two servers starting at once with different candidates agree on one value
        let (a, b) = tokio::join!(
            db.server_secret("web-key", "aaaa", 1),
            db.server_secret("web-key", "bbbb", 2)
        );
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert_eq!(a, b, "{name}");
        assert!(a == "aaaa" || a == "bbbb", "{name}: {a}");
        // a later start (or a restart) reads the stored value, whatever it would have made
        assert_eq!(
            db.server_secret("web-key", "cccc", 3).await.expect("c"),
            a,
            "{name}"
        );
        // names are independent
        assert_eq!(
            db.server_secret("other", "dddd", 4).await.expect("d"),
            "dddd",
            "{name}"
        );
    }
}
