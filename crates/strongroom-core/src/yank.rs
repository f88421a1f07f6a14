//! Yanking and unyanking releases (PEP 592). Each is told to the project's Owners (batched,
//! `owner_notices`).

use strongroom_store::{NewEvent, StoreError};

use crate::{CoreError, RequestMeta, Services};

impl Services {
    /// Yank (`reason` = `Some`) or unyank (`None`) a release; returns the journal serial.
    pub async fn set_yanked(
        &self,
        project: &str,
        version: &str,
        reason: Option<&str>,
        actor: &str,
        meta: &RequestMeta,
    ) -> Result<i64, CoreError> {
        if let Some(r) = reason {
            crate::admin::check_reason_text(r)?;
        }
        self.check_writable().await?;
        let normalized = strongroom_protocol::name::normalize(project);
        let p = self
            .db
            .project_by_normalized(&normalized)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no such project: {project}")))?;
        let v = strongroom_protocol::version::Version::parse(version)
            .map_err(|e| CoreError::Invalid(format!("invalid version '{version}': {e}")))?;
        let event = NewEvent {
            at: self.now(),
            actor_name: Some(actor.to_owned()),
            action: if reason.is_some() {
                "release:yank"
            } else {
                "release:unyank"
            }
            .into(),
            subject_kind: "project".into(),
            subject_id: Some(p.id),
            subject_name: Some(p.name.clone()),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            request_id: meta.request_id.clone(),
            details: serde_json::json!({"version": v.normalized(), "reason": reason}),
            ..NewEvent::default()
        };
        let notice = self
            .yank_notice(&p, &v.normalized(), reason, actor, None)
            .await?;
        self.db
            .set_yanked_noticed(p.id, &v.canonical(), reason, actor, event, notice.as_ref())
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => {
                    CoreError::NotFound(format!("no release {version} of {}", p.name))
                }
                other => other.into(),
            })
    }
}
