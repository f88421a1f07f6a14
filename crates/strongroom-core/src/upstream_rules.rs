//! Admins' rules for upstream projects (issue 12): `block` (hidden at once, incident response
//! for a public package) and `allow` (served before the cooldown ends, e.g. a security fix),
//! for a whole project or one version. An allow covers only the files the upstream says were
//! uploaded before it was granted: a file added later (a new wheel in an allowed release, a new
//! release of an allowed project) waits out the cooldown like any other, and a file without an
//! `upload-time` is never covered. Each change is an admin intervention: a reason, an event
//! with the actor, IP and user agent, and the upstream generation bumped in its transaction
//! (`store::upstream_rules`), so every server's cached upstream pages stop at once.

use strongroom_protocol::NormalizedName;
use strongroom_store::upstream_rules::{UpstreamRule, UpstreamRuleKind};

use crate::admin::{AdminCap, begin, require_reason};
use crate::{CoreError, RequestMeta, Services, Subject};

/// How many rules the lists show (CLI and admin page).
pub const LISTED: i64 = 10_000;

/// One change of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleChange {
    /// Serve before the cooldown ends.
    Allow,
    /// Never serve.
    Block,
    /// Take an allow back.
    Unallow,
    /// Take a block back.
    Unblock,
}

impl RuleChange {
    /// The event action.
    pub fn action(self) -> &'static str {
        match self {
            RuleChange::Allow => "upstream:allow",
            RuleChange::Block => "upstream:block",
            RuleChange::Unallow => "upstream:unallow",
            RuleChange::Unblock => "upstream:unblock",
        }
    }

    /// The kind of rule it adds or removes.
    pub fn kind(self) -> UpstreamRuleKind {
        match self {
            RuleChange::Allow | RuleChange::Unallow => UpstreamRuleKind::Allow,
            RuleChange::Block | RuleChange::Unblock => UpstreamRuleKind::Block,
        }
    }

    /// The form's and the URL's word for it (`allow`, `block`, `unallow`, `unblock`).
    pub fn parse(s: &str) -> Option<RuleChange> {
        match s {
            "allow" => Some(RuleChange::Allow),
            "block" => Some(RuleChange::Block),
            "unallow" => Some(RuleChange::Unallow),
            "unblock" => Some(RuleChange::Unblock),
            _ => None,
        }
    }

    fn adds(self) -> bool {
        matches!(self, RuleChange::Allow | RuleChange::Block)
    }
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleChanged {
    /// The normalised project name.
    pub project: String,
    /// The canonical version, `None` for the whole project.
    pub version: Option<String>,
    /// For an allow or block: the reason of the same rule it replaced, if there was one.
    pub replaced: Option<String>,
    /// The project exists locally (a rule for it matters only if the local project goes).
    pub local: bool,
}

/// The rules in force for one upstream project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamRules {
    /// The whole project is blocked, with this reason.
    pub project_blocked: Option<String>,
    /// Blocked versions (canonical PEP 440 form) and their reasons.
    pub blocked_versions: Vec<(String, String)>,
    /// The whole project is allowed before the cooldown ends: when (µs), so that only files
    /// uploaded before then are covered.
    pub project_allowed: Option<i64>,
    /// Versions (canonical) allowed before the cooldown ends, each with when it was allowed.
    pub allowed_versions: Vec<(String, i64)>,
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

    /// True when a file of `version` uploaded at `uploaded` (µs; `None`: the upstream did not
    /// say) may be served before the cooldown ends: an allow of the project or of that version
    /// was granted after the file was uploaded. A file uploaded after the allow (the upstream
    /// added it to the release later, or it is a later release) is not covered, nor is a file
    /// without an upload time.
    pub fn allowed_early(&self, version: &str, uploaded: Option<i64>) -> bool {
        let Some(uploaded) = uploaded else {
            return false;
        };
        let canonical = canonical(version);
        self.project_allowed
            .into_iter()
            .chain(
                self.allowed_versions
                    .iter()
                    .filter(|(v, _)| *v == canonical)
                    .map(|(_, at)| *at),
            )
            .any(|granted| uploaded < granted)
    }
}

fn canonical(version: &str) -> String {
    strongroom_protocol::Version::parse(version)
        .map(|v| v.canonical())
        .unwrap_or_else(|_| version.to_owned())
}

/// The rules of one project, as [`UpstreamRules`].
pub fn rules_of(rows: &[UpstreamRule]) -> UpstreamRules {
    let mut out = UpstreamRules::default();
    for r in rows {
        match (r.kind, &r.version) {
            (UpstreamRuleKind::Block, None) => out.project_blocked = Some(r.reason.clone()),
            (UpstreamRuleKind::Block, Some(v)) => {
                out.blocked_versions.push((v.clone(), r.reason.clone()));
            }
            (UpstreamRuleKind::Allow, None) => out.project_allowed = Some(r.created_at),
            (UpstreamRuleKind::Allow, Some(v)) => {
                out.allowed_versions.push((v.clone(), r.created_at));
            }
        }
    }
    out
}

/// The normalised project name and canonical version of an admin's input.
fn target(project: &str, version: Option<&str>) -> Result<(String, Option<String>), CoreError> {
    let project = project.trim();
    if !strongroom_protocol::name::is_valid_project_name(project) {
        return Err(CoreError::Invalid(format!(
            "'{project}' is not a valid project name."
        )));
    }
    let name = strongroom_protocol::name::normalize(project);
    let version = match version.map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(
            strongroom_protocol::Version::parse(v)
                .map_err(|_| CoreError::Invalid(format!("'{v}' is not a valid version.")))?
                .canonical(),
        ),
    };
    Ok((name, version))
}

impl Services {
    /// The rules in force for `project`.
    pub async fn upstream_rules(
        &self,
        project: &NormalizedName,
    ) -> Result<UpstreamRules, CoreError> {
        Ok(rules_of(
            &self.db.upstream_rules_of(project.as_str()).await?,
        ))
    }

    /// Every rule, by project (at most [`LISTED`]).
    pub async fn upstream_rule_list(&self) -> Result<Vec<UpstreamRule>, CoreError> {
        Ok(self.db.upstream_rules_all(LISTED).await?)
    }

    /// Change the rules of an upstream project (`version` None: the whole project), as an
    /// administrator (web admin area or the CLI operator), with a reason; logged. Taking back
    /// a rule that is not there is `NotFound` and changes nothing.
    pub async fn admin_upstream_rule(
        &self,
        cap: &AdminCap,
        change: RuleChange,
        project: &str,
        version: Option<&str>,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<RuleChanged, CoreError> {
        let reason = require_reason(reason)?;
        let (name, version) = target(project, version)?;
        let local = self.db.project_by_normalized(&name).await?.is_some();
        let actor = cap.actor();
        let mut tx = begin(self).await?;
        let replaced = if change.adds() {
            tx.put_upstream_rule(&UpstreamRule {
                project: name.clone(),
                version: version.clone(),
                kind: change.kind(),
                reason: reason.to_owned(),
                created_at: self.now(),
                created_by: actor.name.clone(),
            })
            .await?
            .map(|r| r.reason)
        } else {
            let Some(gone) = tx
                .delete_upstream_rule(&name, change.kind(), version.as_deref())
                .await?
            else {
                let what = match &version {
                    Some(v) => format!("{name} {v}"),
                    None => name.clone(),
                };
                return Err(CoreError::NotFound(format!(
                    "{what} has no {} rule.",
                    change.kind().as_str()
                )));
            };
            Some(gone.reason)
        };
        let ev = self.event(
            actor,
            change.action(),
            Subject {
                kind: "project",
                id: None,
                name: Some(&name),
            },
            meta,
            serde_json::json!({
                "reason": reason,
                "project": name,
                "version": version,
                "upstream": true,
                "previous_reason": replaced,
            }),
        );
        tx.commit(&[ev], &[]).await?;
        Ok(RuleChanged {
            project: name,
            version,
            replaced: if change.adds() { replaced } else { None },
            local,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;

    fn ops() -> AdminCap {
        AdminCap::test(Actor {
            id: None,
            name: "cli:ops".into(),
        })
    }

    fn meta() -> RequestMeta {
        RequestMeta {
            ip: Some("192.0.2.9".into()),
            user_agent: Some("strongroom-cli/test".into()),
            request_id: None,
        }
    }

    fn name(n: &str) -> NormalizedName {
        NormalizedName::new(n).expect("name")
    }

    /// Block, allow and taking back: the rules read back under any spelling (names normalised,
    /// versions canonical), each change logged with actor, IP and user agent and bumping the
    /// generation; taking back what is not there, a bad name or version, no reason: refused,
    /// nothing changed.
    #[tokio::test]
    async fn rule_changes_are_logged_and_bump_the_generation() {
        let h = crate::test_harness::Harness::new().await;
        let (s, cap, m) = (&h.s, ops(), meta());
        let g0 = s.db.upstream_generation().await.expect("gen");
        s.admin_upstream_rule(&cap, RuleChange::Block, "Ctx", None, "malware", &m)
            .await
            .expect("block");
        s.admin_upstream_rule(&cap, RuleChange::Allow, "CTX", Some("1.0"), "fix", &m)
            .await
            .expect("allow");
        let r = s.upstream_rules(&name("ctx")).await.expect("rules");
        assert_eq!(r.blocked("0.2.2"), Some("malware"));
        let before = Some(crate::test_harness::T0 - 1);
        assert!(
            r.allowed_early("1.0.0", before)
                && r.allowed_early("1", before)
                && !r.allowed_early("1.1", before)
        );
        assert_eq!(s.db.upstream_generation().await.expect("gen"), g0 + 2);

        for bad in [
            s.admin_upstream_rule(&cap, RuleChange::Unallow, "ctx", None, "x", &m)
                .await,
            s.admin_upstream_rule(
                &cap,
                RuleChange::Block,
                "ctx",
                Some("not a version!"),
                "x",
                &m,
            )
            .await,
            s.admin_upstream_rule(&cap, RuleChange::Block, "-bad-", None, "x", &m)
                .await,
            s.admin_upstream_rule(&cap, RuleChange::Block, "ctx", None, "  ", &m)
                .await,
        ] {
            assert!(
                matches!(bad, Err(CoreError::NotFound(_) | CoreError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert_eq!(s.db.upstream_generation().await.expect("gen"), g0 + 2);

        s.admin_upstream_rule(&cap, RuleChange::Unblock, "ctx", None, "cleared", &m)
            .await
            .expect("unblock");
        let r = s.upstream_rules(&name("ctx")).await.expect("rules");
        assert_eq!(r.blocked("0.2.2"), None);
        assert_eq!(s.db.upstream_generation().await.expect("gen"), g0 + 3);

        let events = s.db.events(0, 100).await.expect("events");
        let ours: Vec<_> = events
            .iter()
            .filter(|e| e.action.starts_with("upstream:"))
            .collect();
        let actions: Vec<&str> = ours.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["upstream:block", "upstream:allow", "upstream:unblock"]
        );
        for e in &ours {
            assert_eq!(e.actor_name.as_deref(), Some("cli:ops"));
            assert_eq!(e.ip.as_deref(), Some("192.0.2.9"));
            assert_eq!(e.user_agent.as_deref(), Some("strongroom-cli/test"));
            assert_eq!(e.subject_name.as_deref(), Some("ctx"));
        }
        assert!(ours[1].details.contains("\"1\""), "{}", ours[1].details);
    }
}
