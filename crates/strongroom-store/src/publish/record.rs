//! What an upload's file row is told to: the journal (only for what installers may see), the
//! event log, the Owners' notices and the mails, serialised so that serials follow commit order
//! without gaps. A quarantined release or a held file gets no journal entry: mirrors learn of
//! it when it is approved.

use sqlx::{Any, Transaction};

use super::project_row::ProjectRow;
use super::release_row::{FileHold, ReleaseRow};
use super::{NewFile, PublishOutcome, UploadPolicy, file_added_action, write_journal};
use crate::events::{NewEvent, append, lock_tail};
use crate::{Db, StoreError};

/// The upload whose file row was just written.
pub(super) struct Written<'a> {
    pub f: &'a NewFile,
    pub policy: &'a UploadPolicy,
    pub project: &'a ProjectRow,
    pub release: &'a ReleaseRow,
    pub file_id: i64,
}

/// Record the journal entries, events, notices and mails of `w`, and say what it did.
pub(super) async fn record(
    tx: &mut Transaction<'_, Any>,
    db: &Db,
    w: &Written<'_>,
    hold: FileHold<'_>,
) -> Result<PublishOutcome, StoreError> {
    lock_tail(tx, db.dialect).await?;
    let (f, policy) = (w.f, w.policy);
    let base = NewEvent {
        at: f.at,
        actor_id: Some(f.user_id),
        actor_name: Some(f.username.clone()),
        ip: f.ip.clone(),
        user_agent: f.user_agent.clone(),
        request_id: f.request_id.clone(),
        ..NewEvent::default()
    };
    // Every file added to an existing release is told to the project's Owners (batched).
    // (A held file is told with the admins' review request instead, and a watched uploader's
    // published file at once with the watch's reason, `policy.file_mails`: one notice, not two.)
    let told_at_once = !w.release.quarantined && !policy.file_mails.is_empty();
    if !w.release.created
        && hold.reason.is_none()
        && !told_at_once
        && let Some(notice) = &policy.added_file_notice
    {
        crate::owner_notices::record(tx, db.keyring.as_deref(), w.project.id, notice).await?;
    }
    if let Some(reason) = &hold.reason {
        return held(tx, db, w, reason, hold.mails, base).await;
    }
    if w.release.quarantined {
        return quarantined(tx, db, w, base).await;
    }
    published(tx, db, w, base).await
}

/// The file is held for its own review: `file:held`, the review request, `file:upload`.
async fn held(
    tx: &mut Transaction<'_, Any>,
    db: &Db,
    w: &Written<'_>,
    reason: &str,
    mails: &[crate::NewMail],
    base: NewEvent,
) -> Result<PublishOutcome, StoreError> {
    let f = w.f;
    append(
        tx,
        &NewEvent {
            action: "file:held".into(),
            subject_kind: "project".into(),
            subject_id: Some(w.project.id),
            subject_name: Some(w.project.name.clone()),
            details: serde_json::json!({
                "file_id": w.file_id, "filename": f.filename, "version": f.version,
                "reason": reason, "user": f.username, "user_id": f.user_id,
                "scan": w.policy.scan_hold.is_some(),
            }),
            ..base.clone()
        },
    )
    .await?;
    crate::outbox::queue(tx, db.keyring.as_deref(), mails, f.at).await?;
    append(tx, &upload_event(w, Some("held"), base)).await?;
    if w.project.created {
        unjournaled_project(tx).await?;
    }
    Ok(PublishOutcome::FileHeld { file_id: w.file_id })
}

/// The file joins a quarantined release (this upload's, or an earlier one's).
async fn quarantined(
    tx: &mut Transaction<'_, Any>,
    db: &Db,
    w: &Written<'_>,
    base: NewEvent,
) -> Result<PublishOutcome, StoreError> {
    let (f, policy, release) = (w.f, w.policy, w.release);
    if release.newly_quarantined {
        let (reason, mails) = match &policy.scan_hold {
            Some(r) if release.scan_quarantined => (r, &policy.scan_hold_mails[..]),
            _ => (&policy.quarantine_reason, &policy.quarantine_mails[..]),
        };
        if w.project.created {
            append(tx, &project_created_event(w, base.clone())).await?;
        }
        append(
            tx,
            &NewEvent {
                action: "release:quarantine".into(),
                subject_kind: "project".into(),
                subject_id: Some(w.project.id),
                subject_name: Some(w.project.name.clone()),
                details: serde_json::json!({
                    "version": f.version, "release_id": release.id,
                    "reason": reason, "user": f.username,
                    "user_id": f.user_id, "scan": release.scan_quarantined,
                }),
                ..base.clone()
            },
        )
        .await?;
        crate::outbox::queue(tx, db.keyring.as_deref(), mails, f.at).await?;
    }
    append(tx, &upload_event(w, Some("quarantined"), base)).await?;
    if w.project.created {
        unjournaled_project(tx).await?;
    }
    Ok(PublishOutcome::Quarantined {
        release_created: release.newly_quarantined,
    })
}

/// The file is on the index: journal entries for the project, the release and the file, then
/// the mails and events.
async fn published(
    tx: &mut Transaction<'_, Any>,
    db: &Db,
    w: &Written<'_>,
    base: NewEvent,
) -> Result<PublishOutcome, StoreError> {
    let (f, policy, project) = (w.f, w.policy, w.project);
    let by = f.username.as_str();
    if project.created {
        write_journal(
            tx,
            project.id,
            &project.name,
            None,
            None,
            "create",
            by,
            f.at,
        )
        .await?;
    }
    if w.release.created {
        write_journal(
            tx,
            project.id,
            &project.name,
            Some(&f.version),
            None,
            "new release",
            by,
            f.at,
        )
        .await?;
        crate::outbox::queue(tx, db.keyring.as_deref(), &policy.release_mails, f.at).await?;
    } else if !project.created {
        crate::outbox::queue(tx, db.keyring.as_deref(), &policy.file_mails, f.at).await?;
    }
    let action = file_added_action(&f.python_version, &f.filename);
    let serial = write_journal(
        tx,
        project.id,
        &project.name,
        Some(&f.version),
        Some(&f.filename),
        &action,
        by,
        f.at,
    )
    .await?;
    if project.created {
        append(tx, &project_created_event(w, base.clone())).await?;
    }
    append(tx, &upload_event(w, None, base)).await?;
    Ok(PublishOutcome::Published {
        serial,
        project_created: project.created,
        release_created: w.release.created,
    })
}

/// The `project:create` event of a project this upload created.
fn project_created_event(w: &Written<'_>, base: NewEvent) -> NewEvent {
    NewEvent {
        action: "project:create".into(),
        subject_kind: "project".into(),
        subject_id: Some(w.project.id),
        subject_name: Some(w.project.name.clone()),
        details: serde_json::json!({
            "role": crate::states::ProjectRole::Owner.as_str(), "user": w.f.username,
        }),
        ..base
    }
}

/// The `file:upload` event of this upload; `state` (`held`, `quarantined`) is set `true` in its
/// details when the file is not published.
fn upload_event(w: &Written<'_>, state: Option<&str>, base: NewEvent) -> NewEvent {
    let f = w.f;
    let mut details = serde_json::json!({
        "file_id": w.file_id, "filename": f.filename, "version": f.version,
        "sha256": f.sha256, "blake2_256": f.blake2_256, "size": f.size,
        "token_scope": f.token_project_id, "token_id": f.token_id,
    });
    if let Some(state) = state {
        details[state] = serde_json::json!(true);
    }
    NewEvent {
        action: "file:upload".into(),
        subject_kind: "project".into(),
        subject_id: Some(w.project.id),
        subject_name: Some(w.project.name.clone()),
        details,
        ..base
    }
}

/// A project row created without a journal entry (its first upload held or quarantined): the
/// name now resolves locally only, so every page cache forgets its pages (an upstream page of
/// the name may be cached) through a new upstream generation.
async fn unjournaled_project(tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
    crate::upstream_generation::bump_upstream_generation_in(tx).await?;
    Ok(())
}
