//! Account deletion: the sole-Owner refusal, the soft delete, the purge, voided invitations.

use super::*;
use strongroom_store::ProjectRole;

#[tokio::test]
async fn deletion_is_refused_for_a_sole_owner_and_soft_otherwise() {
    let h = harness().await;
    let frank = h.user("frank").await;
    let gina = h.user("gina").await;
    assert!(matches!(
        h.publish("solo", "1.0", &frank, T0 - days(5)).await,
        PublishOutcome::Published { .. }
    ));
    assert!(matches!(
        h.publish("shared", "1.0", &gina, T0 - days(5)).await,
        PublishOutcome::Published { .. }
    ));
    let shared =
        h.s.db
            .project_by_normalized("shared")
            .await
            .expect("p")
            .expect("p");
    let solo =
        h.s.db
            .project_by_normalized("solo")
            .await
            .expect("p")
            .expect("p");
    let mut tx = h.s.db.begin_account().await.expect("tx");
    tx.insert_role(shared.id, frank.id, ProjectRole::Owner, T0, Some(gina.id))
        .await
        .expect("role");
    tx.commit(&[], &[]).await.expect("commit");
    h.s.create_token("frank", "ci", None, None, &meta())
        .await
        .expect("token");
    let s = h.login("frank").await;

    let r = h.s.delete_own_account(&s, "frank", &meta()).await;
    assert!(forbidden(&r, "only Owner of this project: solo"), "{r:?}");
    assert!(h.fresh(&frank).await.deleted_at.is_none());
    // The refusal is evidence too (a held or stolen account trying to delete itself).
    let refused: Vec<_> =
        h.s.db
            .events(0, 10_000)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.action == "role:refused:last-owner")
            .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let e = &refused[0];
    assert_eq!(e.actor_name.as_deref(), Some("frank"));
    assert_eq!(e.subject_name.as_deref(), Some("frank"));
    assert_eq!(e.ip.as_deref(), Some("192.0.2.9"));
    assert_eq!(e.user_agent.as_deref(), Some("test-browser"));
    let d: serde_json::Value = serde_json::from_str(&e.details).expect("json");
    assert_eq!(d["refused"], "delete-account", "{d}");
    assert_eq!(d["projects"], serde_json::json!(["solo"]), "{d}");

    // Gina joins solo as Owner; now frank can go.
    let mut tx = h.s.db.begin_account().await.expect("tx");
    tx.insert_role(solo.id, gina.id, ProjectRole::Owner, T0, Some(frank.id))
        .await
        .expect("role");
    tx.commit(&[], &[]).await.expect("commit");
    let r = h.s.delete_own_account(&s, "not-frank", &meta()).await;
    assert!(matches!(r, Err(CoreError::Invalid(_))), "{r:?}");
    let done =
        h.s.delete_own_account(&s, "frank", &meta())
            .await
            .expect("delete");
    assert_eq!(done.roles_removed.len(), 2);
    assert_eq!(done.tokens_revoked, 1);
    assert!(done.sessions_ended >= 1);
    let gone = h.fresh(&frank).await;
    assert!(gone.deleted_at.is_some());
    assert_eq!(gone.purge_after, Some(T0 + days(90)));
    assert!(
        h.s.db
            .role_of(shared.id, frank.id)
            .await
            .expect("r")
            .is_none()
    );
    assert!(
        h.s.db
            .role_of(solo.id, frank.id)
            .await
            .expect("r")
            .is_none()
    );
    let removals = h.event_details("role:remove").await;
    assert_eq!(removals.len(), 2);
    assert!(removals.iter().all(|d| d["reason"] == "account deleted"
        && d["user"] == "frank"
        && d["role"] == "Owner"
        && d["user_id"] == frank.id));
    assert!(h.actions().await.contains(&"account:delete".to_owned()));
    assert_eq!(h.mails("gina@example.org", "frank left").await.len(), 2);
    assert_eq!(
        h.mails("frank@example.org", "account was deleted")
            .await
            .len(),
        1
    );
    // The session is dead, login fails like an unknown account, the name stays taken.
    assert!(h.s.list_sessions(frank.id).await.expect("s").is_empty());
    let r = h.s.login_password("frank", PW, &meta()).await;
    assert!(forbidden(&r, BAD_CREDENTIALS), "{r:?}");
    let r =
        h.s.register("frank", "other@example.org", PW, &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Conflict(_))), "{r:?}");
    let r =
        h.s.register("FRANK", "other2@example.org", PW, &meta())
            .await;
    assert!(matches!(r, Err(CoreError::Conflict(_))), "{r:?}");

    // The purge waits for the retention period, then removes personal data, never events.
    let events_before = h.actions().await.len();
    h.s.run_jobs().await.expect("jobs");
    assert_eq!(h.s.db.emails_of(frank.id).await.expect("e").len(), 1);
    h.clock.advance(days(90) + 1);
    let report = h.s.run_jobs().await.expect("jobs");
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("purged") && l.contains("frank")),
        "{:?}",
        report.lines
    );
    assert!(h.s.db.emails_of(frank.id).await.expect("e").is_empty());
    let u = h.fresh(&frank).await;
    assert!(u.password_hash.is_none());
    let (_, _, _, purged) =
        h.s.db
            .deletion_state(frank.id)
            .await
            .expect("s")
            .expect("s");
    assert!(purged.is_some());
    let actions = h.actions().await;
    assert_eq!(
        actions.len(),
        events_before + 1,
        "{:?}",
        &actions[events_before - 3..]
    );
    assert_eq!(actions.last().map(String::as_str), Some("account:purge"));
    // Idempotent.
    h.s.run_jobs().await.expect("jobs");
    assert_eq!(h.actions().await.len(), events_before + 1);
    // After the purge there is nothing to restore the account to.
    let ops = Actor {
        id: None,
        name: "cli:ops".into(),
    };
    let r =
        h.s.admin_restore_user(&ops, "frank", None, None, "asked too late", &meta())
            .await;
    assert!(
        matches!(&r, Err(CoreError::Conflict(m)) if m.contains("purged")),
        "{r:?}"
    );
    assert!(h.fresh(&frank).await.deleted_at.is_some(), "still deleted");
    assert_eq!(h.actions().await.len(), events_before + 1, "nothing logged");
}

#[tokio::test]
async fn deletion_voids_invitations_to_and_from_the_account() {
    let h = harness().await;
    let hal = h.user("hal").await;
    let ivy = h.user("ivy").await;
    let jo = h.user("jo").await;
    h.publish("p1", "1.0", &hal, T0 - days(5)).await;
    h.publish("p2", "1.0", &jo, T0 - days(5)).await;
    let p1 =
        h.s.db
            .project_by_normalized("p1")
            .await
            .expect("p")
            .expect("p");
    let p2 =
        h.s.db
            .project_by_normalized("p2")
            .await
            .expect("p")
            .expect("p");
    let mut tx = h.s.db.begin_account().await.expect("tx");
    tx.insert_role(p1.id, ivy.id, ProjectRole::Owner, T0, Some(hal.id))
        .await
        .expect("r");
    tx.insert_invitation(
        p1.id,
        jo.id,
        hal.id,
        ProjectRole::Maintainer,
        T0,
        T0 + days(3),
    )
    .await
    .expect("from hal");
    tx.insert_invitation(
        p2.id,
        hal.id,
        jo.id,
        ProjectRole::Maintainer,
        T0,
        T0 + days(3),
    )
    .await
    .expect("to hal");
    tx.commit(&[], &[]).await.expect("commit");
    let s = h.login("hal").await;
    let done =
        h.s.delete_own_account(&s, "hal", &meta())
            .await
            .expect("delete");
    assert_eq!(done.invitations_voided, 2);
    assert!(
        h.s.db
            .pending_invitations_for_user(jo.id)
            .await
            .expect("i")
            .is_empty()
    );
    assert!(
        h.s.db
            .pending_invitations_of_project(p2.id)
            .await
            .expect("i")
            .is_empty()
    );
    assert_eq!(h.event_details("role:invite:void").await.len(), 2);
}
