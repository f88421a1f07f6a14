//! The name-conflict job (issue 12): asks each configured upstream about every local project
//! name, every literal reserved name (`upstream.private_patterns` without a wildcard) and every
//! reserved name someone requested, and raises an admin signal (`upstream:name-conflict`, the
//! admin start page) the first time an upstream has a project of that name: the dependency
//! confusion case, where a public project shadows a private one for anyone whose installer also
//! asks that upstream. Rate-limited: at most `upstream.name_checks_per_run` questions per run,
//! each name at most every `upstream.name_check_interval_hours` per upstream; a name found is
//! signalled once per upstream and not asked about again.

use std::collections::BTreeMap;

use strongroom_protocol::NormalizedName;
use strongroom_upstream::PageFetch;

use crate::{Actor, CoreError, RequestMeta, Services, Subject};

/// The event (and signal) of a name found upstream.
pub const NAME_CONFLICT: &str = "upstream:name-conflict";

/// Why a name is watched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Watched {
    /// A local project has it (in any state).
    Local,
    /// A literal reserved name in `upstream.private_patterns`.
    Reserved,
    /// It matched a reserved pattern when someone asked for it.
    Requested,
}

impl Watched {
    fn as_str(&self) -> &'static str {
        match self {
            Watched::Local => "local project",
            Watched::Reserved => "reserved name",
            Watched::Requested => "requested reserved name",
        }
    }
}

impl Services {
    /// Every name the job watches, each with why (a local project wins over a reservation).
    pub async fn watched_names(&self) -> Result<BTreeMap<String, Watched>, CoreError> {
        let mut names = BTreeMap::new();
        for n in self.requested_reserved_names().await? {
            names.insert(n, Watched::Requested);
        }
        for p in &self.settings.upstream.private_patterns {
            if p.is_literal() {
                names.insert(p.as_str().to_owned(), Watched::Reserved);
            }
        }
        for n in self.db.all_project_names().await? {
            names.insert(n, Watched::Local);
        }
        Ok(names)
    }

    /// The reserved names someone asked the gateway for (remembered by its resolution).
    async fn requested_reserved_names(&self) -> Result<Vec<String>, CoreError> {
        Ok(self
            .db
            .requested_reserved_names(crate::gateway::REQUESTED_NAMES_CAP)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect())
    }

    /// One run of the job; one line per name found and per upstream that could not be asked.
    pub(crate) async fn upstream_names_job(&self) -> Result<Vec<String>, CoreError> {
        let Some(client) = &self.upstream else {
            return Ok(Vec::new());
        };
        let settings = &self.settings.upstream;
        let mut budget = settings.name_checks_per_run;
        if budget == 0 {
            return Ok(Vec::new());
        }
        let names = self.watched_names().await?;
        let interval = i64::try_from(settings.name_check_interval_hours.saturating_mul(3_600))
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        let actor = Actor {
            id: None,
            name: "job:upstream-names".into(),
        };
        let mut lines = Vec::new();
        for (i, index) in client.indexes().iter().enumerate() {
            if budget == 0 {
                break;
            }
            let url = index.url.as_str();
            let checks: BTreeMap<String, (i64, bool)> = self
                .db
                .name_checks(url)
                .await?
                .into_iter()
                .map(|c| (c.name, (c.checked_at, c.found_at.is_some())))
                .collect();
            let now = self.now();
            // Never asked first, then the longest ago; found names are never asked again.
            let mut due: Vec<(Option<i64>, &String, &Watched)> = names
                .iter()
                .filter_map(|(n, why)| match checks.get(n) {
                    None => Some((None, n, why)),
                    Some((_, true)) => None,
                    Some((at, false)) => {
                        (now.saturating_sub(*at) >= interval).then_some((Some(*at), n, why))
                    }
                })
                .collect();
            due.sort();
            for (_, name, why) in due {
                if budget == 0 {
                    break;
                }
                let Ok(normalized) = NormalizedName::new(name) else {
                    continue;
                };
                budget -= 1;
                match client.fetch_page(i, &normalized, None).await {
                    Ok(PageFetch::Page { .. }) => {
                        let at = self.now();
                        let mut tx = crate::admin::begin(self).await?;
                        if tx.mark_name_found(name, url, at).await? {
                            let ev = self.event(
                                &actor,
                                NAME_CONFLICT,
                                Subject {
                                    kind: "project",
                                    id: None,
                                    name: Some(name),
                                },
                                &RequestMeta::default(),
                                serde_json::json!({
                                    "project": name,
                                    "upstream": url,
                                    "watched": why.as_str(),
                                }),
                            );
                            tx.commit(&[ev], &[]).await?;
                            lines.push(format!(
                                "upstream name conflict: {url} has a project named {name} ({})",
                                why.as_str()
                            ));
                        }
                    }
                    Ok(PageFetch::NotFound | PageFetch::NotModified) => {
                        self.db.record_name_check(name, url, self.now()).await?;
                    }
                    Err(
                        e @ (strongroom_upstream::UpstreamError::Timeout(_)
                        | strongroom_upstream::UpstreamError::Unreachable(_)
                        | strongroom_upstream::UpstreamError::Config(_)),
                    ) => {
                        lines.push(format!(
                            "upstream name check: {url} could not be asked ({e}); its names wait for the next run"
                        ));
                        break;
                    }
                    Err(e) => {
                        // An answer that is no page (a 5xx, a malformed body): asked again
                        // after the interval, not at every run.
                        self.db.record_name_check(name, url, self.now()).await?;
                        lines.push(format!("upstream name check: {url} about {name}: {e}"));
                    }
                }
            }
        }
        Ok(lines)
    }
}
