//! The gateway to upstream indexes (issue 12): which names may resolve upstream, the stored
//! upstream pages and their revalidation, the filters (cooldown, rules, advisories) and the
//! verdict on an upstream file. See docs/gateway.md and docs/architecture.md ("The gateway").

pub mod fast;
#[cfg(test)]
mod fast_tests;
pub mod filter;
pub mod local_names;
#[cfg(test)]
mod local_names_tests;
pub mod served;
pub mod stored;
#[cfg(test)]
mod tests;

use strongroom_protocol::NormalizedName;
use strongroom_protocol::simple::ProjectPage;
use strongroom_protocol::simple::read::UpstreamFile;

pub use filter::{FileDecision, FilterContext, Hidden};
pub use local_names::UpstreamKnown;
pub use served::ServedProject;
pub use stored::GatewayPage;

use crate::advisories::AdvisoryFilter;
use crate::upstream_rules::UpstreamRules;
use crate::{CoreError, Services};
use fast::NameFilters;

/// At most this many requested reserved names are remembered for the name-conflict job
/// (anyone may ask for made-up names matching a pattern; the table must not grow with them).
pub const REQUESTED_NAMES_CAP: i64 = 10_000;

/// What a rendered upstream page depends on besides its project and format: the stored page's
/// revision, the rules-and-advisories generation, and, with a cooldown on, the hour (files
/// come out of the cooldown as time passes). A cached rendering is valid for exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageValidity {
    /// `upstream_pages.revision`.
    pub revision: i64,
    /// `Db::upstream_generation()`.
    pub generation: i64,
    /// Hours since the epoch with `upstream.min_age_days > 0`, else 0.
    pub hour: i64,
}

/// Where a name is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// A local project (in any state) or a prohibited name: local rows only, never upstream.
    Local,
    /// A reserved private name (`upstream.private_patterns`) with no local project: 404.
    Reserved,
    /// No local project: the upstreams are asked, in order.
    Upstream,
    /// No upstream is configured: local only.
    NoUpstream,
}

/// The verdict on a request for an upstream file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamFileVerdict {
    /// Served: the file as the stored page lists it (its sha256 is always `Some`), its version,
    /// and the index of the upstream that answers for the project.
    Serve {
        /// The file.
        file: Box<UpstreamFile>,
        /// Its release's version (from the filename).
        version: String,
        /// Which upstream (index into `upstream.url`).
        upstream: usize,
    },
    /// Refused with a reason the client is told (a block, a malicious-package record): 403.
    Refused(String),
    /// Unknown, not yet old enough, or a name that never resolves upstream: 404.
    NotFound,
}

impl Services {
    /// Where `name` is served from (database reads, no upstream request). A local project in
    /// any state, or a prohibited name or one confusable with it, is `Local`; a name matching
    /// `upstream.private_patterns` is `Reserved` (and remembered, bounded, for the
    /// name-conflict job).
    pub async fn resolve_name(&self, name: &NormalizedName) -> Result<Resolution, CoreError> {
        let resolution = self.resolution(name).await?;
        if resolution == Resolution::Reserved {
            // Remembering is best effort: a failure must not turn the 404 into a 500.
            if let Err(e) = self
                .db
                .remember_requested_name(name.as_str(), self.now(), REQUESTED_NAMES_CAP)
                .await
            {
                tracing::warn!(name = %name, error = %e, "could not remember a requested reserved name");
            }
        }
        Ok(resolution)
    }

    /// [`Services::resolve_name`] without remembering anything.
    pub(crate) async fn resolution(&self, name: &NormalizedName) -> Result<Resolution, CoreError> {
        if !self.settings.upstream.enabled() {
            return Ok(Resolution::NoUpstream);
        }
        if self
            .db
            .project_by_normalized(name.as_str())
            .await?
            .is_some()
        {
            return Ok(Resolution::Local);
        }
        // The check `admin prohibit` promises: the name and every name confusable with it.
        let skeleton = strongroom_protocol::name::skeleton(name.as_str());
        if self
            .db
            .prohibited_match(name.as_str(), &skeleton)
            .await?
            .is_some()
        {
            return Ok(Resolution::Local);
        }
        if self.reserved_for_local(name) {
            return Ok(Resolution::Reserved);
        }
        Ok(Resolution::Upstream)
    }

    /// What a rendering of `page` depends on (see [`PageValidity`]).
    pub async fn upstream_validity(&self, page: &GatewayPage) -> Result<PageValidity, CoreError> {
        Ok(PageValidity {
            revision: page.revision,
            generation: self.db.upstream_generation().await?,
            hour: if self.settings.upstream.min_age_days > 0 {
                self.now().div_euclid(3_600_000_000)
            } else {
                0
            },
        })
    }

    /// Apply the rules, the advisories and the cooldown to a stored page.
    pub async fn served_upstream_project(
        &self,
        name: &NormalizedName,
        page: &GatewayPage,
    ) -> Result<ServedProject, CoreError> {
        let (rules, advisories) = self.name_filters(name, None).await?;
        Ok(served::served_project(
            name,
            page,
            &self.filter_context(&rules, &advisories),
        ))
    }

    /// The rules and advisories of `name`; with `hint` from the lookup, only those that exist
    /// are read.
    async fn name_filters(
        &self,
        name: &NormalizedName,
        hint: Option<NameFilters>,
    ) -> Result<(UpstreamRules, AdvisoryFilter), CoreError> {
        let rules = match hint {
            Some(h) if !h.rules => UpstreamRules::default(),
            _ => self.upstream_rules(name).await?,
        };
        let advisories = match hint {
            Some(h) if !h.advisories => AdvisoryFilter::default(),
            _ => self.advisory_filter(name).await?,
        };
        Ok((rules, advisories))
    }

    fn filter_context<'a>(
        &self,
        rules: &'a UpstreamRules,
        advisories: &'a AdvisoryFilter,
    ) -> FilterContext<'a> {
        FilterContext {
            rules,
            advisories,
            now_micros: self.now(),
            min_age_days: self.settings.upstream.min_age_days,
        }
    }

    /// The simple page of an upstream project, file links under `link_base`. With `known`
    /// (the lookup's filters and the validity the rendering is kept under), the verdicts on
    /// the page's newest files are remembered under that validity too, so that the resolver's
    /// next requests (their `.metadata`, then the file) are decided without reading the page
    /// again.
    pub async fn upstream_project_page(
        &self,
        name: &NormalizedName,
        page: &GatewayPage,
        link_base: &str,
        known: Option<(NameFilters, PageValidity)>,
    ) -> Result<ProjectPage, CoreError> {
        let (rules, advisories) = self.name_filters(name, known.map(|k| k.0)).await?;
        let ctx = self.filter_context(&rules, &advisories);
        if let Some((_, validity)) = known {
            let newest = page.page.files.iter().rev().take(REMEMBERED_VERDICTS);
            let verdicts = newest.filter_map(|f| {
                let sha = f.sha256.as_deref()?;
                let key = (name.as_str().to_owned(), sha.to_owned(), f.filename.clone());
                Some((key, verdict_on(name, page, f, &ctx)))
            });
            self.gateway_verdicts.put_all(verdicts, validity);
        }
        let served = served::served_project(name, page, &ctx);
        Ok(served::project_page(name, &served, link_base))
    }

    /// The JSON API document of an upstream project (or one release), links under `base`;
    /// `None` when that version (or any file) is not served. `hint`: the lookup's filters.
    pub async fn upstream_json_document(
        &self,
        name: &NormalizedName,
        page: &GatewayPage,
        version: Option<&str>,
        base: &str,
        hint: Option<NameFilters>,
    ) -> Result<Option<String>, CoreError> {
        let (rules, advisories) = self.name_filters(name, hint).await?;
        let served = served::served_project(name, page, &self.filter_context(&rules, &advisories));
        let described = match version {
            Some(v) => Some(v.to_owned()),
            None => served::latest_served(&served),
        };
        let Some(described) = described else {
            return Ok(None);
        };
        let vulnerabilities = self.vulnerabilities(name, Some(&described)).await?;
        Ok(served::json_document(
            name,
            &served,
            version,
            base,
            vulnerabilities,
        ))
    }

    /// The verdict on `/upstream/files/<project>/<sha256>/<filename>`, from the stored page
    /// (never asks the upstream): the file must be listed there under that sha256 and
    /// filename, and pass the filter now.
    pub async fn upstream_file(
        &self,
        project: &NormalizedName,
        sha256: &str,
        filename: &str,
    ) -> Result<UpstreamFileVerdict, CoreError> {
        if self.resolve_name(project).await? != Resolution::Upstream {
            return Ok(UpstreamFileVerdict::NotFound);
        }
        self.file_verdict_of(project, sha256, filename, None).await
    }

    /// [`Services::upstream_file`] for a name already resolved upstream (`hint`: the lookup's
    /// filters, when it was read).
    pub(crate) async fn file_verdict_of(
        &self,
        project: &NormalizedName,
        sha256: &str,
        filename: &str,
        hint: Option<NameFilters>,
    ) -> Result<UpstreamFileVerdict, CoreError> {
        let Some(page) = self.stored_gateway_page(project).await? else {
            return Ok(UpstreamFileVerdict::NotFound);
        };
        let Some(file) = page
            .page
            .files
            .iter()
            .find(|f| f.filename == filename && f.sha256.as_deref() == Some(sha256))
        else {
            return Ok(UpstreamFileVerdict::NotFound);
        };
        let (rules, advisories) = self.name_filters(project, hint).await?;
        Ok(verdict_on(
            project,
            &page,
            file,
            &self.filter_context(&rules, &advisories),
        ))
    }
}

/// At most this many verdicts (the newest files of a page) are remembered when a page is
/// rendered: a resolver asks for one of them next, and a project with thousands of files must
/// not fill the memo.
pub const REMEMBERED_VERDICTS: usize = 64;

/// The verdict on `file`, listed on `page`, under `ctx`: a blocked project refuses it, a
/// project its upstream quarantined serves nothing, else the filter decides.
fn verdict_on(
    project: &NormalizedName,
    page: &GatewayPage,
    file: &UpstreamFile,
    ctx: &FilterContext<'_>,
) -> UpstreamFileVerdict {
    if let Some(reason) = &ctx.rules.project_blocked {
        return UpstreamFileVerdict::Refused(reason.clone());
    }
    if page.page.status == strongroom_protocol::simple::read::UpstreamStatus::Quarantined {
        return UpstreamFileVerdict::NotFound;
    }
    match filter::decide(project, file, ctx) {
        FileDecision::Serve(version) => UpstreamFileVerdict::Serve {
            file: Box::new(file.clone()),
            version,
            upstream: page.upstream,
        },
        FileDecision::Refused(reason) => UpstreamFileVerdict::Refused(reason),
        FileDecision::Hidden(_) => UpstreamFileVerdict::NotFound,
    }
}
