//! Yanking from the project's manage page: the release is named by its database id inside the
//! project the Owner manages.

use super::*;

impl Services {
    /// Yank (`reason` Some) or unyank (None) a release from the web: the release is named by its
    /// id and must belong to the project the Owner manages. Returns the journal serial.
    pub async fn set_yanked_by_id(
        &self,
        actor: &User,
        project: &str,
        release_id: i64,
        reason: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<i64, CoreError> {
        if let Some(r) = reason {
            crate::admin::check_reason_text(r)?;
        }
        // A yank/unyank loop is refused (429) before it writes anything (and before the change's
        // transaction opens: the refusal's event is written on its own).
        self.take_state_change(
            actor,
            if reason.is_some() { "yank" } else { "unyank" },
            meta,
        )
        .await?;
        let (p, _mine, tx, now_actor) = self.begin_project(actor, project, false).await?;
        let actor = &now_actor;
        let mut tx = self
            .check_hold_in(tx, actor, HeldAction::Yank, (p.id, &p.name), meta)
            .await?;
        let release = self
            .db
            .public_release(p.id, release_id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("No such release of {}.", p.name)))?;
        let action = if reason.is_some() {
            "release:yank"
        } else {
            "release:unyank"
        };
        let ev = self.event(
            &Actor::user(actor),
            action,
            project_subject(&p),
            meta,
            serde_json::json!({"reason": reason, "release_id": release.id}),
        );
        let notice = self
            .yank_notice(
                &p,
                &release.version,
                reason,
                &actor.username,
                Some(actor.id),
            )
            .await?;
        // Inside the change whose transaction holds the actor's row: a freeze or hold that
        // commits meanwhile waits for it, or was seen above.
        let serial = tx
            .set_yanked(
                p.id,
                &release.canonical_version,
                reason,
                &actor.username,
                ev,
                notice.as_ref(),
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => {
                    CoreError::NotFound(format!("No such release of {}.", p.name))
                }
                other => CoreError::from(other),
            })?;
        tx.commit(&[], &[]).await?;
        Ok(serial)
    }
}
