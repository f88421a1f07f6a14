//! The gateway's hot path (issue 12's bar: a cached upstream page or file served as fast as a
//! local one). One database read ([`strongroom_store::Db::gateway_lookup`]) answers what a
//! request needs to know about a name: the local project (served as before), a prohibited
//! name, the generation of rules and advisories, the stored page's stamp and the kept file.
//! A fresh page's rendering then comes from the server's page cache, keyed by
//! [`PageValidity`], without decoding the stored page; a file's verdict comes from a bounded
//! in-memory memo keyed by the same validity (filled by the request that rendered the page, so
//! a resolver's first `.metadata` or file request finds its verdict there). Anything else (no
//! stored page, past its TTL, a reserved name) takes the full path, handed what the read
//! already said ([`Known`]: it asks the upstreams without reading the name again); a reserved
//! name goes through [`Services::resolve_name`], which remembers requested names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use strongroom_protocol::NormalizedName;
use strongroom_store::gateway_lookup::{GatewayLookup, PageStamp};
use strongroom_store::model::Project;
use strongroom_store::{UpstreamFileRow, UpstreamMetadataRow};

use super::{PageValidity, UpstreamFileVerdict};
use crate::visibility::State;
use crate::{CoreError, Services};

/// At most this many file verdicts are remembered (each a few hundred bytes).
pub const VERDICT_MEMO_CAP: usize = 8_192;

/// Where `/simple/<p>/` or `/pypi/<p>/json` goes.
#[derive(Debug, Clone)]
pub enum PageTarget {
    /// A local project the public sees, and the upstream generation (advisories change a
    /// local JSON document's `vulnerabilities`).
    Local(Project, i64),
    /// Never served upstream and not public here: a local project in another state, a
    /// prohibited name, or an upstream "not found" still within its TTL (404).
    NotServed,
    /// A stored upstream page within its TTL.
    Upstream(FreshPage),
    /// The full path decides (and may ask the upstreams), with what the read said about a
    /// name that resolves upstream (`None`: a reserved name, or no upstream client).
    Slow(Option<Known>),
}

/// Whether upstream rules and advisories name a project (from the lookup): a name with
/// neither is filtered without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameFilters {
    pub rules: bool,
    pub advisories: bool,
}

/// What the lookup said about a name that resolves upstream (no local project, not
/// prohibited, not reserved) whose page is not fresh: the full path starts from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The upstream generation read with it.
    pub generation: i64,
    /// The stored page's stamp (`None`: nothing stored).
    pub stamp: Option<PageStamp>,
    pub filters: NameFilters,
}

/// A stored upstream page within its TTL, without its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshPage {
    pub validity: PageValidity,
    /// Seconds since the upstream last confirmed it.
    pub age_secs: i64,
    /// When the upstream last confirmed it (µs).
    pub confirmed_at: i64,
    /// Until when (µs, the services' clock) a rendering of it may be served without asking
    /// again: the end of its TTL and, with a cooldown, of the hour (files come out of the
    /// cooldown as time passes). Local names, prohibitions and rules that appear meanwhile
    /// reach the page caches through the journal and the upstream generation.
    pub fresh_until: i64,
    pub filters: NameFilters,
}

/// Where `/upstream/files/<p>/<sha256>/<filename>` goes.
#[derive(Debug, Clone)]
pub enum FileTarget {
    /// The verdict, with what is kept of the file.
    Verdict(UpstreamFileVerdict, Box<KeptParts>),
    /// The full path decides.
    Slow,
}

/// What the lookup found kept of an upstream file (by its sha256).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptParts {
    /// The kept file (its metadata on its row).
    pub file: Option<UpstreamFileRow>,
    /// Its metadata, kept on its own (the file is not kept).
    pub lone_metadata: Option<UpstreamMetadataRow>,
}

/// Remembered file verdicts: (project, sha256, filename) → (validity, verdict). Bounded by
/// count; when full, one entry goes per insert (never the whole memo).
#[derive(Debug, Clone, Default)]
pub struct VerdictMemo {
    inner: Arc<Mutex<HashMap<VerdictKey, (PageValidity, UpstreamFileVerdict)>>>,
}

/// (project, sha256, filename).
pub(crate) type VerdictKey = (String, String, String);

impl VerdictMemo {
    pub(crate) fn get(&self, key: &VerdictKey, v: PageValidity) -> Option<UpstreamFileVerdict> {
        let map = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key)
            .filter(|(at, _)| *at == v)
            .map(|(_, verdict)| verdict.clone())
    }

    pub(crate) fn put(&self, key: VerdictKey, v: PageValidity, verdict: UpstreamFileVerdict) {
        self.put_all(std::iter::once((key, verdict)), v);
    }

    /// Remember several verdicts under one validity (one lock).
    pub(crate) fn put_all(
        &self,
        verdicts: impl Iterator<Item = (VerdictKey, UpstreamFileVerdict)>,
        v: PageValidity,
    ) {
        let mut map = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (key, verdict) in verdicts {
            if map.len() >= VERDICT_MEMO_CAP
                && !map.contains_key(&key)
                && let Some(old) = map.keys().next().cloned()
            {
                map.remove(&old);
            }
            map.insert(key, (v, verdict));
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map_or(0, |m| m.len())
    }
}

impl Services {
    /// The validity of a rendering of the page with `revision` under `generation`, now.
    pub fn validity_now(&self, revision: i64, generation: i64) -> PageValidity {
        PageValidity {
            revision,
            generation,
            hour: if self.settings.upstream.min_age_days > 0 {
                self.now().div_euclid(3_600_000_000)
            } else {
                0
            },
        }
    }

    async fn lookup(
        &self,
        name: &NormalizedName,
        sha256: Option<&str>,
    ) -> Result<GatewayLookup, CoreError> {
        let skeleton = strongroom_protocol::name::skeleton(name.as_str());
        Ok(self
            .db
            .gateway_lookup(name.as_str(), &skeleton, sha256)
            .await?)
    }

    /// A stored page's stamp and its upstream's index, when the stamp is a found page of a
    /// configured upstream.
    fn found_page<'a>(&self, stamp: Option<&'a PageStamp>) -> Option<(&'a PageStamp, usize)> {
        let s = stamp.filter(|s| s.found)?;
        let i = self
            .settings
            .upstream
            .client
            .indexes
            .iter()
            .position(|x| x.url == s.upstream_url)?;
        Some((s, i))
    }

    /// Where a project page request goes, in one read. Call only with the gateway on (without
    /// it, [`Services::visible_project`] is the whole answer).
    pub async fn page_target(&self, name: &NormalizedName) -> Result<PageTarget, CoreError> {
        let l = self.lookup(name, None).await?;
        if let Some(p) = l.project {
            return Ok(if State::of_project(p.status).is_public() {
                PageTarget::Local(p, l.generation)
            } else {
                PageTarget::NotServed
            });
        }
        if l.prohibited {
            return Ok(PageTarget::NotServed);
        }
        if self.reserved_for_local(name) || self.upstream.is_none() {
            return Ok(PageTarget::Slow(None));
        }
        let filters = NameFilters {
            rules: l.has_rules,
            advisories: l.has_advisories,
        };
        let slow = |l: GatewayLookup| {
            Ok(PageTarget::Slow(Some(Known {
                generation: l.generation,
                stamp: l.page,
                filters,
            })))
        };
        let now = self.now();
        let ttl = i64::try_from(self.settings.upstream.page_ttl_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        let Some(stamp) = l.page.as_ref() else {
            return slow(l);
        };
        // a confirmation from the future (a clock moved back) is not trusted as fresh
        if !(0..ttl).contains(&now.saturating_sub(stamp.confirmed_at)) {
            return slow(l);
        }
        if !stamp.found {
            return Ok(PageTarget::NotServed);
        }
        let Some((stamp, _)) = self.found_page(Some(stamp)) else {
            return slow(l);
        };
        self.mark_stamp_used(name.as_str(), stamp, now).await;
        let validity = self.validity_now(stamp.revision, l.generation);
        let mut fresh_until = stamp.confirmed_at.saturating_add(ttl);
        if validity.hour != 0 {
            fresh_until = fresh_until.min((validity.hour + 1).saturating_mul(3_600_000_000));
        }
        Ok(PageTarget::Upstream(FreshPage {
            validity,
            age_secs: now.saturating_sub(stamp.confirmed_at).max(0) / 1_000_000,
            confirmed_at: stamp.confirmed_at,
            fresh_until,
            filters,
        }))
    }

    /// Where a request for an upstream file goes, in one read and, when the page, rules and
    /// advisories have not changed since it was last asked, no decoding.
    pub async fn file_target(
        &self,
        project: &NormalizedName,
        sha256: &str,
        filename: &str,
    ) -> Result<FileTarget, CoreError> {
        if !self.settings.upstream.enabled() {
            return Ok(FileTarget::Verdict(
                UpstreamFileVerdict::NotFound,
                Box::default(),
            ));
        }
        let l = self.lookup(project, Some(sha256)).await?;
        if l.project.is_some() || l.prohibited {
            return Ok(FileTarget::Verdict(
                UpstreamFileVerdict::NotFound,
                Box::default(),
            ));
        }
        if self.reserved_for_local(project) {
            return Ok(FileTarget::Slow);
        }
        let Some((stamp, _)) = self.found_page(l.page.as_ref()) else {
            return Ok(FileTarget::Slow);
        };
        let validity = self.validity_now(stamp.revision, l.generation);
        let key = (
            project.as_str().to_owned(),
            sha256.to_owned(),
            filename.to_owned(),
        );
        let verdict = match self.gateway_verdicts.get(&key, validity) {
            Some(v) => v,
            None => {
                let filters = NameFilters {
                    rules: l.has_rules,
                    advisories: l.has_advisories,
                };
                let v = self
                    .file_verdict_of(project, sha256, filename, Some(filters))
                    .await?;
                // remembered under the validity read before deciding: a change in between
                // only makes the next request decide again
                self.gateway_verdicts.put(key, validity, v.clone());
                v
            }
        };
        Ok(FileTarget::Verdict(
            verdict,
            Box::new(KeptParts {
                file: l.kept,
                lone_metadata: l.lone_metadata,
            }),
        ))
    }

    async fn mark_stamp_used(&self, project: &str, s: &PageStamp, now: i64) {
        if now.saturating_sub(s.last_used_at) < super::stored::USE_MARK_PERIOD_MICROS {
            return;
        }
        let older_than = now.saturating_sub(super::stored::USE_MARK_PERIOD_MICROS);
        if let Err(e) = self.db.touch_upstream_page(project, now, older_than).await {
            tracing::warn!(project, error = %e, "could not mark an upstream page used");
        }
    }
}
