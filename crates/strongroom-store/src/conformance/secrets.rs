//! Sealed secrets on both engines: TOTP seeds, server secrets and mail bodies are stored sealed
//! and open only for their own row with the right key; a wrong or missing key is refused; the
//! at-start pass seals what an older version left in plaintext, once.

use sqlx::Executor;

use super::{backends, test_keyring, user};
use crate::sealing::{KEY_LEN, SealError};
use crate::{Db, Keyring, NewMail, SealReport, SecretsKey, StoreError};

const SEED_A: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const SEED_B: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const LINK: &str = "http://127.0.0.1/account/reset-password/?token=live-reset-token-0123";

async fn raw(db: &Db, sql: &str) -> String {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&db.write)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn exec(db: &Db, sql: &str) {
    db.write
        .execute(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn sealing(e: Result<impl std::fmt::Debug, StoreError>) -> SealError {
    match e {
        Err(StoreError::Sealing(s)) => s,
        other => panic!("expected a sealing error, got {other:?}"),
    }
}

fn other_key() -> Keyring {
    Keyring::new(SecretsKey::from_bytes([9; KEY_LEN]))
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_open_only_for_their_row() {
    let kid = test_keyring().primary_id().to_owned();
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;
        let mut tx = db.begin_account().await.expect("begin");
        tx.put_totp(a, SEED_A, 1, true, None).await.expect("put a");
        tx.put_totp(b, SEED_B, 1, true, None).await.expect("put b");
        let mail = NewMail {
            to: "alice@example.org".into(),
            subject: "Reset your password".into(),
            body: format!("Reset it: {LINK}"),
        };
        tx.commit(&[], &[mail]).await.expect("commit");

        let stored = raw(
            &db,
            &format!("SELECT secret FROM totp_secrets WHERE user_id = {a}"),
        )
        .await;
        assert!(
            stored.starts_with(&format!("sealed:v1:{kid}:")),
            "{name}: {stored}"
        );
        assert!(
            !stored.contains(SEED_A) && !stored.contains(&SEED_A[..8]),
            "{name}"
        );
        let body = raw(&db, "SELECT body FROM outbox").await;
        assert!(
            body.starts_with("sealed:v1:") && !body.contains("live-reset-token"),
            "{name}"
        );
        assert_eq!(
            db.totp_of(a).await.expect("a").expect("seed").secret,
            SEED_A,
            "{name}"
        );
        assert_eq!(
            db.totp_of(b).await.expect("b").expect("seed").secret,
            SEED_B,
            "{name}"
        );
        let due = db.outbox_due(i64::MAX, 10).await.expect("due");
        assert_eq!(due.len(), 1, "{name}");
        assert!(due[0].body.contains(LINK), "{name}: {}", due[0].body);

        assert_eq!(
            db.server_secret("web-key", "aaaa", 1).await.expect("key"),
            "aaaa"
        );
        let value = raw(
            &db,
            "SELECT value FROM server_secrets WHERE name = 'web-key'",
        )
        .await;
        assert!(
            value.starts_with("sealed:v1:") && !value.contains("aaaa"),
            "{name}: {value}"
        );

        // Whoever can write the database copies their own sealed seed into bob's row: it does
        // not open there (the seed is bound to its user), so it cannot stand in for bob's.
        exec(&db, &format!(
            "UPDATE totp_secrets SET secret = (SELECT secret FROM totp_secrets WHERE user_id = {a}) WHERE user_id = {b}"
        ))
        .await;
        assert!(
            matches!(sealing(db.totp_of(b).await), SealError::Forged(_)),
            "{name}: a seed moved to another row"
        );
        // the server secret moved under another name does not open either
        exec(&db, "INSERT INTO server_secrets (name, value, created_at) SELECT 'other', value, 2 FROM server_secrets WHERE name = 'web-key'").await;
        assert!(matches!(
            sealing(db.server_secret("other", "bbbb", 3).await),
            SealError::Forged(_)
        ));

        // one changed character of the ciphertext
        let last = stored.chars().last().expect("last");
        let flipped = format!(
            "{}{}",
            &stored[..stored.len() - 1],
            if last == 'A' { 'B' } else { 'A' }
        );
        exec(
            &db,
            &format!("UPDATE totp_secrets SET secret = '{flipped}' WHERE user_id = {a}"),
        )
        .await;
        assert!(
            matches!(sealing(db.totp_of(a).await), SealError::Forged(_)),
            "{name}"
        );
        // a plaintext seed written by hand is refused, not used
        exec(
            &db,
            &format!("UPDATE totp_secrets SET secret = '{SEED_A}' WHERE user_id = {a}"),
        )
        .await;
        assert!(
            matches!(sealing(db.totp_of(a).await), SealError::NotSealed(_)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_refused_at_start_and_at_every_read() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let mut tx = db.begin_account().await.expect("begin");
        tx.put_totp(a, SEED_A, 1, true, None).await.expect("put");
        tx.commit(&[], &[]).await.expect("commit");
        db.server_secret("web-key", "aaaa", 1).await.expect("key");

        let wrong = db.clone().with_keyring(other_key());
        let expected = SealError::UnknownKey {
            found: test_keyring().primary_id().to_owned(),
            configured: other_key().primary_id().to_owned(),
        };
        assert_eq!(
            sealing(wrong.seal_stored_secrets().await),
            expected,
            "{name}"
        );
        assert_eq!(sealing(wrong.totp_of(a).await), expected, "{name}");
        assert_eq!(
            sealing(wrong.server_secret("web-key", "b", 2).await),
            expected,
            "{name}"
        );
        assert_eq!(
            db.a_sealed_key_id().await.expect("id"),
            Some(test_keyring().primary_id().to_owned()),
            "{name}"
        );

        let mut bare = db.clone();
        bare.keyring = None;
        assert_eq!(sealing(bare.totp_of(a).await), SealError::NoKey, "{name}");
        assert_eq!(
            sealing(bare.seal_stored_secrets().await),
            SealError::NoKey,
            "{name}"
        );
        let mut tx = bare.begin_account().await.expect("begin");
        assert_eq!(
            sealing(tx.put_totp(a, SEED_B, 2, true, None).await),
            SealError::NoKey,
            "{name}: nothing is ever written unsealed"
        );
        drop(tx);
        // the right key still works after all that
        assert_eq!(
            db.totp_of(a).await.expect("a").expect("seed").secret,
            SEED_A
        );
    }
}

#[tokio::test]
async fn plaintext_left_by_an_older_version_is_sealed_at_start_once() {
    for (name, db, dir) in backends().await {
        let a = user(&db, "alice").await;
        // what an older version wrote: everything in plaintext
        exec(&db, &format!(
            "INSERT INTO totp_secrets (user_id, secret, last_used_step, created_at, enabled_at) VALUES ({a}, '{SEED_A}', NULL, 1, 1)"
        ))
        .await;
        exec(&db, "INSERT INTO server_secrets (name, value, created_at) VALUES ('web-csrf-key', 'abcdef0123456789', 1)").await;
        exec(&db, &format!(
            "INSERT INTO outbox (to_addr, subject, body, created_at, next_attempt_at) VALUES ('alice@example.org', 'Reset', 'Reset it: {LINK}', 1, 1)"
        ))
        .await;
        assert_eq!(db.a_sealed_key_id().await.expect("id"), None, "{name}");
        // until the pass has run, plaintext is refused rather than trusted
        assert!(matches!(
            sealing(db.totp_of(a).await),
            SealError::NotSealed(_)
        ));

        let report = db.seal_stored_secrets().await.expect("seal");
        assert_eq!(
            report,
            SealReport {
                totp_seeds: 1,
                server_secrets: 1,
                mails: 1
            },
            "{name}"
        );
        for sql in [
            "SELECT secret FROM totp_secrets",
            "SELECT value FROM server_secrets",
            "SELECT body FROM outbox",
        ] {
            let v = raw(&db, sql).await;
            assert!(v.starts_with("sealed:v1:"), "{name}: {sql}: {v}");
        }
        assert_eq!(
            db.totp_of(a).await.expect("a").expect("seed").secret,
            SEED_A,
            "{name}"
        );
        assert_eq!(
            db.server_secret("web-csrf-key", "new", 2)
                .await
                .expect("key"),
            "abcdef0123456789",
            "{name}: the existing key is kept, sealed"
        );
        let due = db.outbox_due(i64::MAX, 10).await.expect("due");
        assert!(due[0].body.contains(LINK), "{name}");
        // idempotent: a second start (or a second server) finds nothing to do
        assert_eq!(
            db.seal_stored_secrets().await.expect("again"),
            SealReport::default()
        );
        if name == "sqlite" {
            // compacted: the plaintext is not left in free pages or the WAL
            for f in ["t.db", "t.db-wal"] {
                let bytes = std::fs::read(dir.path().join(f)).unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(SEED_A), "{f} still holds the seed");
                assert!(
                    !text.contains("live-reset-token"),
                    "{f} still holds the link"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_mail_whose_body_does_not_open_is_set_aside_and_the_others_go_out() {
    for (name, db, _d) in backends().await {
        let mails: Vec<NewMail> = ["one", "two"]
            .iter()
            .map(|w| NewMail {
                to: format!("{w}@example.org"),
                subject: (*w).into(),
                body: format!("body {w}"),
            })
            .collect();
        let tx = db.begin_account().await.expect("begin");
        tx.commit(&[], &mails).await.expect("commit");
        // the second mail's sealed body moved onto the first (another recipient)
        exec(&db, "UPDATE outbox SET body = (SELECT body FROM outbox WHERE subject = 'two') WHERE subject = 'one'").await;
        let due = db.outbox_due(i64::MAX - 1, 10).await.expect("due");
        assert_eq!(
            due.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(),
            vec!["two"],
            "{name}"
        );
        let err = raw(&db, "SELECT last_error FROM outbox WHERE subject = 'one'").await;
        assert!(err.contains("does not open"), "{name}: {err}");
    }
}

/// The at-start pass seals in batches (here of two rows, one transaction each) and finds every
/// plaintext row whatever the batch size; a value sealed with a key the server does not hold
/// stops it before anything is sealed, even one that the batches would reach last (sealing the
/// rest with the wrong key would leave them unreadable once the right key is configured).
#[tokio::test]
async fn the_seal_pass_works_in_batches_and_a_wrong_key_seals_nothing() {
    for (name, db, _d) in backends().await {
        let mut users = Vec::new();
        for u in ["ann", "ben", "cid"] {
            let id = user(&db, u).await;
            exec(&db, &format!(
                "INSERT INTO totp_secrets (user_id, secret, last_used_step, created_at, enabled_at) VALUES ({id}, '{SEED_A}', NULL, 1, 1)"
            ))
            .await;
            users.push(id);
        }
        for s in ["k1", "k2", "k3"] {
            exec(&db, &format!(
                "INSERT INTO server_secrets (name, value, created_at) VALUES ('{s}', 'plain-{s}', 1)"
            ))
            .await;
        }
        for i in 0..5 {
            exec(&db, &format!(
                "INSERT INTO outbox (to_addr, subject, body, created_at, next_attempt_at) VALUES ('m{i}@example.org', 'Reset', 'Reset it: {LINK}', 1, 1)"
            ))
            .await;
        }
        let report = db.seal_stored_secrets_in_batches(2).await.expect("seal");
        assert_eq!(
            report,
            SealReport {
                totp_seeds: 3,
                server_secrets: 3,
                mails: 5
            },
            "{name}"
        );
        for sql in [
            "SELECT COUNT(*) FROM totp_secrets WHERE secret NOT LIKE 'sealed:%'",
            "SELECT COUNT(*) FROM server_secrets WHERE value NOT LIKE 'sealed:%'",
            "SELECT COUNT(*) FROM outbox WHERE body NOT LIKE 'sealed:%'",
        ] {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_one(&db.write)
                .await
                .expect("count");
            assert_eq!(n, 0, "{name}: {sql}");
        }
        for u in &users {
            assert_eq!(
                db.totp_of(*u).await.expect("open").expect("seed").secret,
                SEED_A,
                "{name}"
            );
        }
        assert_eq!(
            db.outbox_due(i64::MAX, 10).await.expect("due").len(),
            5,
            "{name}"
        );

        // New plaintext (first in the pass's order) and, last, a mail sealed with another key.
        let dan = user(&db, "dan").await;
        exec(&db, &format!(
            "INSERT INTO totp_secrets (user_id, secret, last_used_step, created_at, enabled_at) VALUES ({dan}, '{SEED_B}', NULL, 1, 1)"
        ))
        .await;
        let foreign = format!("sealed:v1:{}:AAAA", other_key().primary_id());
        exec(&db, &format!(
            "INSERT INTO outbox (to_addr, subject, body, created_at, next_attempt_at) VALUES ('x@example.org', 'Old', '{foreign}', 1, 1)"
        ))
        .await;
        assert_eq!(
            sealing(db.seal_stored_secrets_in_batches(2).await),
            SealError::UnknownKey {
                found: other_key().primary_id().to_owned(),
                configured: test_keyring().primary_id().to_owned(),
            },
            "{name}"
        );
        assert_eq!(
            raw(
                &db,
                &format!("SELECT secret FROM totp_secrets WHERE user_id = {dan}")
            )
            .await,
            SEED_B,
            "{name}: nothing was sealed with a key that may be the wrong one"
        );
    }
}
