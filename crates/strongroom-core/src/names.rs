//! Project names nobody may take: prohibited names (and anything confusable with them), and the
//! names of removed projects, until an administrator allows them again.

use strongroom_protocol::name::{ProjectName, normalize, skeleton};
use strongroom_store::ProjectStatus;
use strongroom_store::StoreError;

use crate::admin::{begin, require_reason};
use crate::help::HelpTopic;
use crate::{Actor, CoreError, RequestMeta, Services, Subject};

const NAME_HELP: &str = "The index's administrators decide which names are allowed.";

/// What an upload refused for its project's name may do instead.
pub(crate) const FIRST_COME_HELP: &str = "Project names are first come, first served: choose another name, or ask an Owner of the project or the index's administrators.";

/// The refusal for a new name confusable with an existing project's.
pub(crate) fn too_similar(name: &str) -> CoreError {
    CoreError::Invalid(format!(
        "The name '{name}' is too similar to an existing project. {FIRST_COME_HELP} {}",
        HelpTopic::ProjectNames.see()
    ))
}

/// The refusal for a name that belonged to a removed project.
pub fn removed_name_message(name: &str) -> String {
    format!(
        "The name '{name}' isn't allowed (it belonged to a project that was removed). {NAME_HELP} {}",
        HelpTopic::ProjectNames.see()
    )
}

/// The refusal for a prohibited name (`similar_to`: the prohibited name it is confusable with).
pub fn prohibited_message(name: &str, similar_to: Option<&str>) -> String {
    match similar_to {
        None => format!(
            "The name '{name}' isn't allowed. {NAME_HELP} {}",
            HelpTopic::ProjectNames.see()
        ),
        Some(p) => format!(
            "The name '{name}' isn't allowed (it is too similar to the prohibited name '{p}'). {NAME_HELP} {}",
            HelpTopic::ProjectNames.see()
        ),
    }
}

/// What allowing a name freed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// The prohibition lifted, if there was one.
    pub prohibition: bool,
    /// Removed projects whose names were moved out of the way.
    pub removed_projects: Vec<String>,
    /// Freed names that now resolve upstream and that the gateway has served from an upstream
    /// or the name watch found there: installs of them now get the upstream's project.
    pub upstream: Vec<crate::gateway::UpstreamKnown>,
}

impl Services {
    /// Refuse a new project's name when it is prohibited, confusable with a prohibited name,
    /// or the (normalised or confusable) name of a removed project. `uploader`: the account
    /// asking, told that a project was removed only if it was a member (`None`: an internal
    /// check, told the precise reason).
    pub async fn check_new_project_name(
        &self,
        name: &ProjectName,
        uploader: Option<i64>,
    ) -> Result<(), CoreError> {
        let normalized = name.normalized();
        let ultra = name.skeleton();
        if let Some(p) = self
            .db
            .prohibited_match(normalized.as_str(), &ultra)
            .await?
        {
            let similar = (p.normalized_name != normalized.as_str()).then_some(p.name.as_str());
            return Err(CoreError::Invalid(prohibited_message(
                name.as_str(),
                similar,
            )));
        }
        for p in [
            self.db.project_state(normalized.as_str()).await?,
            self.db.project_state_by_ultra(&ultra).await?,
        ]
        .into_iter()
        .flatten()
        {
            if p.status == ProjectStatus::Removed {
                // An uploader who was no member of the removed project gets the answer any
                // existing project's confusable name gets: its state is its members' business.
                let member = match uploader {
                    None => true,
                    Some(u) => self.db.role_of(p.id, u).await?.is_some(),
                };
                if !member {
                    return Err(too_similar(name.as_str()));
                }
                return Err(CoreError::Invalid(removed_name_message(name.as_str())));
            }
        }
        Ok(())
    }

    /// Prohibit a name (its normalised and confusable forms). Existing projects are not
    /// touched (quarantine or remove them separately).
    pub async fn admin_prohibit_name(
        &self,
        actor: &Actor,
        name: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let reason = require_reason(reason)?;
        let name = name.trim();
        if !strongroom_protocol::name::is_valid_project_name(name) {
            return Err(CoreError::Invalid(format!(
                "'{name}' is not a valid project name."
            )));
        }
        let (normalized, ultra) = (normalize(name), skeleton(name));
        let mut tx = begin(self).await?;
        match tx
            .prohibit_name(name, &normalized, &ultra, reason, &actor.name, self.now())
            .await
        {
            Err(StoreError::Conflict(_)) => {
                return Err(CoreError::Conflict(format!(
                    "The name '{name}' is already prohibited."
                )));
            }
            other => other?,
        }
        let ev = self.event(
            actor,
            "admin:name:prohibit",
            Subject {
                kind: "name",
                id: None,
                name: Some(&normalized),
            },
            meta,
            serde_json::json!({"reason": reason, "name": name, "ultranormalized": ultra}),
        );
        tx.commit(&[ev], &[]).await?;
        Ok(())
    }

    /// Allow a name again: lift its prohibition, and move removed projects' names (same
    /// normalised or confusable form) out of the way. Their filenames stay unusable.
    pub async fn admin_allow_name(
        &self,
        actor: &Actor,
        name: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<Allowed, CoreError> {
        let reason = require_reason(reason)?;
        let name = name.trim();
        let (normalized, ultra) = (normalize(name), skeleton(name));
        let mut tx = begin(self).await?;
        let lifted = tx.allow_name(&normalized).await?;
        let removed = tx.removed_projects_named(&normalized, &ultra).await?;
        for p in &removed {
            tx.rename_names_away(p.id, &format!("~removed~{}", p.id))
                .await?;
        }
        if lifted.is_none() && removed.is_empty() {
            return Err(CoreError::NotFound(format!(
                "The name '{name}' is neither prohibited nor the name of a removed project."
            )));
        }
        let freed: Vec<String> = removed.iter().map(|p| p.name.clone()).collect();
        // What the gateway knows upstream of the freed names goes on record with the change.
        let mut names = vec![normalized.clone()];
        names.extend(removed.iter().map(|p| p.normalized_name.clone()));
        let known = self.known_upstream(&names).await?;
        let ev = self.event(
            actor,
            "admin:name:allow",
            Subject {
                kind: "name",
                id: None,
                name: Some(&normalized),
            },
            meta,
            serde_json::json!({"reason": reason, "name": name, "was_prohibited": lifted.is_some(),
                "removed_projects": removed.iter().map(|p| p.id).collect::<Vec<_>>(),
                "known_upstream": known.iter().map(|k| k.name.as_str()).collect::<Vec<_>>()}),
        );
        tx.commit(&[ev], &[]).await?;
        Ok(Allowed {
            prohibition: lifted.is_some(),
            removed_projects: freed,
            upstream: self.resolving_upstream(known).await?,
        })
    }
}
