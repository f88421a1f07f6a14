//! Names moving between local and upstream while the gateway serves upstream projects: a new
//! local project may not take a name the gateway serves (or has served) from an upstream unless
//! the admins reserved it (`upstream.private_patterns`), since the local project would replace
//! the public one for every install through this index; and freeing a name (`admin allow`)
//! says which names an upstream will answer for from then on.

use strongroom_protocol::NormalizedName;
use strongroom_protocol::name::ProjectName;

use crate::help::HelpTopic;
use crate::{CoreError, Services};

/// What the gateway knows of a name at its upstreams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamKnown {
    /// The normalised name.
    pub name: String,
    /// The gateway has served it from an upstream (a stored page, kept files, downloads).
    pub served: bool,
    /// The upstreams at which the name watch found a project of that name.
    pub found_at: Vec<String>,
}

/// The refusal of a new local project whose name the gateway serves from an upstream.
pub fn upstream_name_message(name: &str) -> String {
    format!(
        "The name '{name}' isn't allowed for a new project: this index serves a project of that name from its upstream index, and a local project would replace it for everyone who installs '{name}' from here. If the name is your organisation's own, ask the index's administrators to reserve it for local projects (upstream.private_patterns). {}",
        HelpTopic::ProjectNames.see()
    )
}

impl Services {
    /// Whether `name` matches `upstream.private_patterns`.
    pub fn reserved_for_local(&self, name: &NormalizedName) -> bool {
        self.settings
            .upstream
            .private_patterns
            .iter()
            .any(|p| p.matches(name))
    }

    /// What the gateway knows of `name` upstream: `None` when it never served the name from an
    /// upstream and the name watch never found it there.
    pub async fn upstream_knows(
        &self,
        name: &NormalizedName,
    ) -> Result<Option<UpstreamKnown>, CoreError> {
        let served = self.db.served_from_upstream(name.as_str()).await?;
        let found_at = self.db.name_found_upstream(name.as_str()).await?;
        Ok((served || !found_at.is_empty()).then(|| UpstreamKnown {
            name: name.as_str().to_owned(),
            served,
            found_at,
        }))
    }

    /// May a new local project be created under `name`, as far as the gateway is concerned?
    /// Refused when the gateway is on, the name is not reserved, and the gateway has served it
    /// from an upstream (or the name watch found it there): for administrators too, whose way
    /// to declare a name private is reserving it.
    pub(crate) async fn check_new_name_against_upstream(
        &self,
        name: &ProjectName,
    ) -> Result<(), CoreError> {
        if !self.settings.upstream.enabled() {
            return Ok(());
        }
        let normalized = name.normalized();
        if self.reserved_for_local(&normalized) {
            return Ok(());
        }
        if self.upstream_knows(&normalized).await?.is_some() {
            return Err(CoreError::Invalid(upstream_name_message(name.as_str())));
        }
        Ok(())
    }

    /// What the gateway knows upstream of each of `names` (normalised, about to be freed)
    /// that is not reserved, with the gateway on.
    pub(crate) async fn known_upstream(
        &self,
        names: &[String],
    ) -> Result<Vec<UpstreamKnown>, CoreError> {
        let mut known = Vec::new();
        if !self.settings.upstream.enabled() {
            return Ok(known);
        }
        for n in names {
            let Ok(name) = NormalizedName::new(n) else {
                continue;
            };
            if self.reserved_for_local(&name) || known.iter().any(|k: &UpstreamKnown| &k.name == n)
            {
                continue;
            }
            if let Some(k) = self.upstream_knows(&name).await? {
                known.push(k);
            }
        }
        Ok(known)
    }

    /// Those of `known` whose names resolve upstream now (after they were freed).
    pub(crate) async fn resolving_upstream(
        &self,
        known: Vec<UpstreamKnown>,
    ) -> Result<Vec<UpstreamKnown>, CoreError> {
        let mut now_upstream = Vec::new();
        for k in known {
            let Ok(name) = NormalizedName::new(&k.name) else {
                continue;
            };
            if self.resolution(&name).await? == super::Resolution::Upstream {
                now_upstream.push(k);
            }
        }
        Ok(now_upstream)
    }
}
