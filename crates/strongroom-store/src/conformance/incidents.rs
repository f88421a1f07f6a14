//! Incident store cases (migration 0009), each on SQLite and PostgreSQL: a freeze ends every
//! credential for good (an unfreeze revives none), incident windows are recorded and handed
//! back, and addresses and factors left suspect are unusable until kept, gone when dropped.

use super::{backends, user, user_event as ev};
use crate::model::{AuthState, IncidentKind, SuspectKind};
use crate::{NewCredential, NewSession, NewToken};

fn token(uid: i64, name: &str, at: i64) -> NewToken {
    NewToken {
        user_id: uid,
        name: name.into(),
        token_hash: format!("{name}{uid}").repeat(8),
        project_id: None,
        expires_at: None,
        at,
    }
}

fn key(uid: i64, cid: &str, at: i64, enabled: bool) -> NewCredential {
    NewCredential {
        user_id: uid,
        credential_id: cid.into(),
        passkey: "{}".into(),
        sign_count: 0,
        label: cid.into(),
        at,
        enabled,
    }
}

#[tokio::test]
async fn a_freeze_ends_every_credential_for_good_and_an_unfreeze_revives_none() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;
        let mut tx = db.begin_account().await.expect("begin");
        let t1 = tx.insert_token(&token(a, "ci", 2)).await.expect("t1");
        let t2 = tx.insert_token(&token(a, "minted", 3)).await.expect("t2");
        let tb = tx.insert_token(&token(b, "ci", 3)).await.expect("tb");
        tx.insert_session(&NewSession {
            secret_hash: "s1".into(),
            user_id: a,
            csrf_token: "c".into(),
            at: 3,
            two_factor_ok: true,
            ip: None,
            user_agent: None,
        })
        .await
        .expect("session");
        for (h, purpose) in [
            ("r", "reset_password"),
            ("v", "verify_email"),
            ("c", "confirm_2fa_email"),
            ("f", "freeze_account"),
            ("x", "veto_role_change"),
        ] {
            tx.insert_email_token(h, a, None, purpose, 3, 1_000)
                .await
                .expect("link");
        }
        tx.put_totp(a, "SEED", 3, false, None).await.expect("totp");
        tx.insert_credential(&key(a, "pending-key", 3, false))
            .await
            .expect("pending key");
        tx.insert_credential(&key(a, "owner-key", 3, true))
            .await
            .expect("key");
        tx.commit(&[], &[]).await.expect("commit");
        db.put_state(
            "ticket",
            &AuthState {
                kind: "login_ticket".into(),
                user_id: Some(a),
                data: "{}".into(),
                created_at: 3,
                expires_at: 1_000,
            },
        )
        .await
        .expect("ticket");

        let mut tx = db.begin_account().await.expect("begin");
        let fx = tx
            .freeze_account(
                a,
                "takeover",
                Some("cli:ops"),
                &[
                    "reset_password",
                    "verify_email",
                    "confirm_2fa_email",
                    "freeze_account",
                ],
                10,
            )
            .await
            .expect("freeze");
        tx.commit(&[ev("admin:user:freeze", 10)], &[])
            .await
            .expect("commit");
        assert_eq!(fx.sessions_ended, 1, "{name}");
        assert_eq!(
            fx.tokens_revoked,
            vec![(t1, "ci".to_string()), (t2, "minted".to_string())],
            "{name}"
        );
        assert_eq!(fx.links_killed, 4, "{name}: every link but the veto");
        assert_eq!(fx.states_dropped, 1, "{name}");
        assert_eq!(fx.pending_factors_removed, 2, "{name}");
        let u = db.user_by_id(a).await.expect("read").expect("user");
        assert_eq!(
            (u.frozen_at, u.frozen_reason.as_deref()),
            (Some(10), Some("takeover")),
            "{name}"
        );
        for h in ["r", "v", "c", "f"] {
            let t = db.email_token_by_hash(h).await.expect("get").expect("t");
            assert_eq!(t.used_at, Some(10), "{name}: {h} killed");
        }
        let veto = db.email_token_by_hash("x").await.expect("get").expect("t");
        assert_eq!(veto.used_at, None, "{name}: a veto link stays");
        assert!(db.totp_of(a).await.expect("totp").is_none(), "{name}");
        let keys = db.webauthn_of(a).await.expect("keys");
        assert_eq!(keys.len(), 1, "{name}: the confirmed key stays");
        assert!(
            db.take_state("ticket", "login_ticket", 5)
                .await
                .expect("take")
                .is_none(),
            "{name}"
        );

        // The unfreeze leaves the password disabled and revives nothing.
        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            tx.unfreeze_account(a, "unfrozen").await.expect("unfreeze"),
            "{name}"
        );
        assert!(
            !tx.unfreeze_account(b, "unfrozen")
                .await
                .expect("not frozen"),
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
        let u = db.user_by_id(a).await.expect("read").expect("user");
        assert_eq!(
            (u.frozen_at, u.password_disabled.as_deref()),
            (None, Some("unfrozen")),
            "{name}"
        );
        let tokens = db.tokens_of(a).await.expect("tokens");
        assert!(
            tokens.iter().all(|t| t.revoked_at == Some(10)),
            "{name}: {tokens:?}"
        );
        assert!(
            db.session_by_hash("s1")
                .await
                .expect("s")
                .expect("s")
                .ended_at
                .is_some(),
            "{name}"
        );
        let theirs = db.tokens_of(b).await.expect("tokens");
        assert_eq!(
            (theirs[0].id, theirs[0].revoked_at),
            (tb, None),
            "{name}: another account's token is untouched"
        );
    }
}

#[tokio::test]
async fn incident_windows_are_recorded_found_and_handed_back() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            tx.open_incident(a, IncidentKind::Freeze)
                .await
                .expect("open")
                .is_none(),
            "{name}"
        );
        let id = tx
            .record_incident(a, IncidentKind::Freeze, 100, 200, 201, "cli:ops")
            .await
            .expect("record");
        tx.commit(&[], &[]).await.expect("commit");
        let mut tx = db.begin_account().await.expect("begin");
        let open = tx
            .open_incident(a, IncidentKind::Freeze)
            .await
            .expect("open")
            .expect("found");
        assert_eq!(
            (open.id, open.window_start, open.window_end),
            (id, 100, 200),
            "{name}"
        );
        assert!(
            tx.open_incident(a, IncidentKind::Restore)
                .await
                .expect("open")
                .is_none(),
            "{name}: by kind"
        );
        tx.mark_incident_returned(id, 300, "cli:ops")
            .await
            .expect("return");
        assert!(
            tx.open_incident(a, IncidentKind::Freeze)
                .await
                .expect("open")
                .is_none(),
            "{name}: handed back"
        );
        tx.commit(&[], &[]).await.expect("commit");
        let all = db.incidents_of(a).await.expect("incidents");
        assert_eq!(all.len(), 1, "{name}");
        assert_eq!(
            (all[0].returned_at, all[0].returned_by.as_deref()),
            (Some(300), Some("cli:ops")),
            "{name}"
        );
        assert!(
            all[0].covers(100) && all[0].covers(200) && !all[0].covers(201),
            "{name}"
        );
    }
}

#[tokio::test]
async fn what_a_window_left_suspect_is_unusable_until_kept_and_gone_when_dropped() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let mut tx = db.begin_account().await.expect("begin");
        let old_key = tx
            .insert_credential(&key(a, "owner-key", 5, true))
            .await
            .expect("old key");
        let mallory = tx
            .add_email(a, "mallory@evil.test", false, 50)
            .await
            .expect("add");
        tx.verify_email(mallory, 51).await.expect("verify");
        let pending = tx
            .add_email(a, "pending@evil.test", false, 52)
            .await
            .expect("add");
        tx.put_totp(a, "SEED", 53, true, None).await.expect("totp");
        let new_key = tx
            .insert_credential(&key(a, "attacker-key", 54, true))
            .await
            .expect("key");
        tx.replace_recovery_codes(a, &["c1".into(), "c2".into()], 55)
            .await
            .expect("codes");
        assert_eq!(tx.count_second_factors(a).await.expect("n"), 3, "{name}");
        tx.remember_login(a, "old-device", 5).await.expect("login");
        tx.remember_login(a, "new-device", 56).await.expect("login");
        tx.commit(&[], &[]).await.expect("commit");

        let mut tx = db.begin_account().await.expect("begin");
        let flagged = tx.flag_suspect(a, 50, 60, None).await.expect("flag");
        let got: Vec<(SuspectKind, i64)> = flagged.iter().map(|s| (s.kind, s.id)).collect();
        assert_eq!(
            got,
            vec![
                (SuspectKind::Address, mallory),
                (SuspectKind::Address, pending),
                (SuspectKind::Totp, 0),
                (SuspectKind::SecurityKey, new_key),
                (SuspectKind::RecoveryCodes, 0),
            ],
            "{name}"
        );
        assert!(
            flagged.iter().all(|s| s.flagged_at == 60),
            "{name}: {flagged:?}"
        );
        assert_eq!(
            flagged[0].added_at, 51,
            "{name}: verified after it was added"
        );
        assert_eq!(flagged[4].label, "recovery codes (2 unused)", "{name}");
        assert_eq!(
            tx.count_second_factors(a).await.expect("n"),
            1,
            "{name}: only the owner's key counts"
        );
        assert_eq!(
            tx.forget_logins_since(a, 50).await.expect("forget"),
            1,
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
        assert_eq!(db.suspect_items(a).await.expect("items"), flagged, "{name}");
        // A suspect seed, code or pending factor is never accepted or enabled.
        assert!(!db.totp_usable(a).await.expect("usable"), "{name}");
        assert!(
            !db.totp_claim_step(a, 1_000).await.expect("claim"),
            "{name}"
        );
        let codes = db.recovery_codes_of(a).await.expect("codes");
        assert!(codes.iter().all(|c| c.suspect_at == Some(60)), "{name}");
        assert!(
            !db.burn_recovery_code(codes[0].id, 61).await.expect("burn"),
            "{name}"
        );
        let emails = db.emails_of(a).await.expect("emails");
        let primary = emails.iter().find(|e| e.is_primary).expect("primary");
        assert_eq!(
            primary.suspect_at, None,
            "{name}: the old address is not suspect"
        );

        // Keep the key, drop the rest; a primary address is never dropped.
        let mut tx = db.begin_account().await.expect("begin");
        assert!(
            !tx.drop_suspect(a, SuspectKind::Address, primary.id)
                .await
                .expect("drop"),
            "{name}: not suspect, not dropped"
        );
        assert!(
            !tx.keep_suspect(a, SuspectKind::SecurityKey, old_key)
                .await
                .expect("keep"),
            "{name}: not suspect"
        );
        assert!(
            tx.keep_suspect(a, SuspectKind::SecurityKey, new_key)
                .await
                .expect("keep"),
            "{name}"
        );
        for (kind, id) in [
            (SuspectKind::Address, mallory),
            (SuspectKind::Address, pending),
            (SuspectKind::Totp, 0),
            (SuspectKind::RecoveryCodes, 0),
        ] {
            assert!(
                tx.drop_suspect(a, kind, id).await.expect("drop"),
                "{name}: {kind:?}"
            );
        }
        assert!(
            tx.suspect_items(a).await.expect("items").is_empty(),
            "{name}"
        );
        assert_eq!(tx.count_second_factors(a).await.expect("n"), 2, "{name}");
        tx.commit(&[], &[]).await.expect("commit");
        assert_eq!(db.emails_of(a).await.expect("emails").len(), 1, "{name}");
        assert!(db.totp_of(a).await.expect("totp").is_none(), "{name}");
        assert!(
            db.recovery_codes_of(a).await.expect("codes").is_empty(),
            "{name}"
        );
        let keys = db.webauthn_of(a).await.expect("keys");
        assert!(keys.iter().all(|k| k.suspect_at.is_none()), "{name}");

        // A pending factor added in a window is never enabled by a later confirmation.
        let mut tx = db.begin_account().await.expect("begin");
        tx.insert_credential(&key(a, "pending-attacker", 70, false))
            .await
            .expect("pending");
        tx.flag_suspect(a, 70, 71, None).await.expect("flag");
        assert_eq!(
            tx.enable_pending_second_factors(a, 72)
                .await
                .expect("enable"),
            0,
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
    }
}

#[tokio::test]
async fn window_events_are_read_by_action_and_time_and_tokens_revoked_since() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let mut e = ev("account:email:add", 20);
        e.subject_id = Some(a);
        db.append_event(&e).await.expect("append");
        let mut e = ev("account:login", 30);
        e.subject_id = Some(a);
        db.append_event(&e).await.expect("append");
        let mut other = ev("account:email:add", 25);
        other.subject_id = Some(a + 1000);
        db.append_event(&other).await.expect("append");
        let got = db
            .account_events_between(a, &["account:email:add", "account:login"], 10, 40)
            .await
            .expect("events");
        assert_eq!(
            got.iter()
                .map(|e| (e.action.as_str(), e.at))
                .collect::<Vec<_>>(),
            vec![("account:email:add", 20), ("account:login", 30)],
            "{name}"
        );
        assert!(
            db.account_events_between(a, &["account:login"], 31, 40)
                .await
                .expect("events")
                .is_empty(),
            "{name}"
        );
        let mut tx = db.begin_account().await.expect("begin");
        let old = tx.insert_token(&token(a, "old", 5)).await.expect("old");
        let new = tx.insert_token(&token(a, "new", 25)).await.expect("new");
        assert_eq!(
            tx.revoke_tokens_since(a, 20, 26).await.expect("revoke"),
            vec![(new, "new".to_string())],
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
        let tokens = db.tokens_of(a).await.expect("tokens");
        let live: Vec<i64> = tokens
            .iter()
            .filter(|t| t.revoked_at.is_none())
            .map(|t| t.id)
            .collect();
        assert_eq!(live, vec![old], "{name}");
    }
}

#[tokio::test]
async fn an_intervention_goes_on_as_an_account_change_in_one_transaction() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let tx = db.begin_admin().await.expect("begin");
        let mut tx = tx.into_account();
        tx.record_incident(a, IncidentKind::Restore, 1, 2, 3, "cli:ops")
            .await
            .expect("record");
        drop(tx);
        assert!(
            db.incidents_of(a).await.expect("read").is_empty(),
            "{name}: dropped, nothing kept"
        );
        let tx = db.begin_admin().await.expect("begin");
        let mut tx = tx.into_account();
        tx.record_incident(a, IncidentKind::Restore, 1, 2, 3, "cli:ops")
            .await
            .expect("record");
        tx.commit(&[ev("admin:user:restore", 3)], &[])
            .await
            .expect("commit");
        assert_eq!(db.incidents_of(a).await.expect("read").len(), 1, "{name}");
        assert_eq!(db.verify_events().await.expect("verify"), None, "{name}");
    }
}

/// How long a step that must wait is given to show it does not (it is blocked, so any machine
/// shows it; a step that wrongly does not wait finishes in milliseconds).
const WAITS: std::time::Duration = std::time::Duration::from_millis(400);

#[tokio::test]
async fn a_held_account_row_orders_a_credential_and_a_freeze_either_way() {
    for (name, db, _d) in backends().await {
        let a = user(&db, "alice").await;
        let b = user(&db, "bob").await;

        // The credential first: its transaction holds alice's row and is about to insert a
        // token. A freeze started now waits for it, then revokes what it made.
        let mut making = db.begin_account().await.expect("begin");
        let held = making.lock_user(a).await.expect("lock").expect("alice");
        assert!(held.frozen_at.is_none(), "{name}");
        let freezer = db.clone();
        let mut freeze = tokio::spawn(async move {
            let mut tx = freezer.begin_account().await.expect("begin");
            let fx = tx
                .freeze_account(a, "takeover", Some("cli:ops"), &[], 20)
                .await
                .expect("freeze");
            tx.commit(&[ev("admin:user:freeze", 20)], &[])
                .await
                .expect("commit");
            fx
        });
        assert!(
            tokio::time::timeout(WAITS, &mut freeze).await.is_err(),
            "{name}: the freeze waits for the transaction holding the row"
        );
        let id = making
            .insert_token(&token(a, "raced", 10))
            .await
            .expect("token");
        making
            .commit(&[ev("token:create", 10)], &[])
            .await
            .expect("commit");
        let fx = freeze.await.expect("join");
        assert_eq!(
            fx.tokens_revoked,
            vec![(id, "raced".to_string())],
            "{name}: the freeze saw the token made before it"
        );

        // The freeze first: a credential's transaction holding bob's row waits for it and then
        // reads bob frozen (and so refuses; the core decides that on this row).
        let mut freezing = db.begin_account().await.expect("begin");
        freezing
            .freeze_account(b, "takeover", Some("cli:ops"), &[], 30)
            .await
            .expect("freeze");
        let reader = db.clone();
        let mut read = tokio::spawn(async move {
            let mut tx = reader.begin_account().await.expect("begin");
            tx.lock_user(b).await.expect("lock").expect("bob")
        });
        assert!(
            tokio::time::timeout(WAITS, &mut read).await.is_err(),
            "{name}: the credential waits for the freeze"
        );
        freezing
            .commit(&[ev("admin:user:freeze", 30)], &[])
            .await
            .expect("commit");
        let seen = read.await.expect("join");
        assert_eq!(seen.frozen_at, Some(30), "{name}: read after the freeze");
    }
}

#[tokio::test]
async fn the_files_an_admin_kept_are_read_from_the_log_by_project() {
    for (name, db, _d) in backends().await {
        let keep = |project: i64, file: i64, at: i64| crate::NewEvent {
            at,
            action: "admin:file:keep".into(),
            subject_kind: "project".into(),
            subject_id: Some(project),
            details: serde_json::json!({"file_id": file, "reason": "reviewed"}),
            ..crate::NewEvent::default()
        };
        let other = crate::NewEvent {
            action: "admin:file:remove".into(),
            ..keep(7, 99, 3)
        };
        for e in [keep(7, 11, 1), keep(8, 12, 2), other] {
            db.append_event(&e).await.expect("event");
        }
        assert_eq!(db.files_kept(7).await.expect("kept"), vec![11], "{name}");
        assert_eq!(db.files_kept(8).await.expect("kept"), vec![12], "{name}");
        assert!(db.files_kept(9).await.expect("kept").is_empty(), "{name}");
    }
}
