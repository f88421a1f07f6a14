//! Admins' rules for upstream projects (issue 12): `block` (hidden at once, incident response
//! for a public package) and `allow` (served before the cooldown ends, e.g. a security fix),
//! for a whole project or one version.
//!
//! FOUNDATION STUB: the types and signatures are the contract between the gateway's parts.

use strongroom_protocol::NormalizedName;

use crate::{CoreError, Services};

/// The rules in force for one upstream project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamRules {
    /// The whole project is blocked, with this reason.
    pub project_blocked: Option<String>,
    /// Blocked versions (canonical PEP 440 form) and their reasons.
    pub blocked_versions: Vec<(String, String)>,
    /// The whole project is allowed before the cooldown ends.
    pub project_allowed: bool,
    /// Versions (canonical) allowed before the cooldown ends.
    pub allowed_versions: Vec<String>,
}

impl UpstreamRules {
    /// The reason `version` is blocked, if it is (the project's block first).
    pub fn blocked(&self, version: &str) -> Option<&str> {
        if let Some(r) = &self.project_blocked {
            return Some(r);
        }
        let canonical = canonical(version);
        self.blocked_versions
            .iter()
            .find(|(v, _)| *v == canonical)
            .map(|(_, r)| r.as_str())
    }

    /// True when `version` may be served before the cooldown ends.
    pub fn allowed_early(&self, version: &str) -> bool {
        self.project_allowed || {
            let canonical = canonical(version);
            self.allowed_versions.contains(&canonical)
        }
    }
}

fn canonical(version: &str) -> String {
    strongroom_protocol::Version::parse(version)
        .map(|v| v.canonical())
        .unwrap_or_else(|_| version.to_owned())
}

impl Services {
    /// The rules in force for `project`.
    pub async fn upstream_rules(
        &self,
        _project: &NormalizedName,
    ) -> Result<UpstreamRules, CoreError> {
        Ok(UpstreamRules::default())
    }
}
