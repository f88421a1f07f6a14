//! The stored upstream page of a project: served from the store while fresh
//! (`upstream.page_ttl_seconds`), else revalidated with the upstreams in order (ETag /
//! If-None-Match) within `upstream.timeout_seconds`, and served stale, saying why, when they
//! cannot be reached. The first upstream that knows a name answers for it; versions are never
//! merged across upstreams, and an upstream that fails stops the walk (a lower one is never
//! asked in its place). Once an upstream has answered for a name the name stays bound to it:
//! only that upstream is asked again, and its "not found" is the gateway's (a tombstone), never
//! a walk to the next upstream. Asking the upstreams costs the client's address a place in
//! `upstream.page_fetches_per_minute`; serving a stored page marks its last use at most once
//! per [`USE_MARK_PERIOD_MICROS`], and the eviction job drops pages not served for long.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strongroom_protocol::NormalizedName;
use strongroom_protocol::simple::read::UpstreamPage;
use strongroom_store::upstream_pages::{NewUpstreamPage, StoredUpstreamPage};
use strongroom_upstream::{PageFetch, UpstreamClient, UpstreamError};

use super::fast::Known;
use crate::{CoreError, Services};

/// An upstream page as the gateway serves it.
#[derive(Debug, Clone)]
pub struct GatewayPage {
    /// The page as the upstream gave it (unfiltered).
    pub page: UpstreamPage,
    /// Which upstream answered (index into `upstream.url`).
    pub upstream: usize,
    /// The stored revision (moves exactly when the page changes).
    pub revision: i64,
    /// Seconds since the upstream last confirmed the page.
    pub age_secs: i64,
    /// Why the page may be out of date: the upstream could not be asked now (short, ASCII).
    pub stale: Option<String>,
}

/// The projects whose page this process is revalidating: a request that finds its page past
/// the TTL waits for the one already asking, then reads what it stored, so a burst of requests
/// for an expired page asks the upstream once. An entry lives only while someone holds or
/// awaits it (cheap to clone: one map per `Services`).
///
/// An upstream that did not answer (timeout, connection refused) is not asked again for
/// [`RETRY_AFTER_FAILURE_SECS`]: meanwhile stored pages are served stale at once, instead of
/// every request (and every request queued behind it) waiting out the timeout again.
#[derive(Debug, Clone, Default)]
pub struct Revalidations {
    slots: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Per upstream index: not asked again before this time (µs), and why.
    down: Arc<Mutex<HashMap<usize, (i64, String)>>>,
}

/// Serving a stored page moves its `last_used_at` at most this often (µs): one hour.
pub const USE_MARK_PERIOD_MICROS: i64 = 3_600 * 1_000_000;

/// A stored page (or tombstone) not served for this long is evicted by the jobs (µs): 30 days.
pub const UNUSED_PAGE_MICROS: i64 = 30 * 24 * 3_600 * 1_000_000;

/// At most this many stored pages and tombstones are kept (least recently served go first).
pub const MAX_STORED_PAGES: i64 = 200_000;

/// About how many bytes one file of a page takes serialised (for [`PageWork::run_sized`]).
///
/// [`PageWork::run_sized`]: strongroom_upstream::PageWork::run_sized
const FILE_JSON_BYTES: usize = 400;

/// How long an upstream that did not answer is left alone (seconds).
pub const RETRY_AFTER_FAILURE_SECS: i64 = 30;

impl Revalidations {
    fn slot(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(name.to_owned()).or_default().clone()
    }

    /// Drop the entry of `name` when nobody else holds or awaits it.
    fn release(&self, name: &str, slot: Arc<tokio::sync::Mutex<()>>) {
        let mut map = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // two references: the map's and ours
        if Arc::strong_count(&slot) <= 2 {
            map.remove(name);
        }
    }

    /// Why upstream `i` is not asked now, if it failed less than the back-off ago.
    fn down_reason(&self, i: usize, now: i64) -> Option<String> {
        let down = self
            .down
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        down.get(&i)
            .filter(|(until, _)| now < *until)
            .map(|(_, why)| why.clone())
    }

    /// Remember that upstream `i` failed now (`Some`), or answered (`None`).
    fn mark(&self, i: usize, now: i64, failure: Option<&UpstreamError>) {
        let mut down = self
            .down
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match failure {
            Some(e) => {
                let until = now.saturating_add(RETRY_AFTER_FAILURE_SECS * 1_000_000);
                down.insert(i, (until, short_reason(e)));
            }
            None => {
                down.remove(&i);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.lock().map_or(0, |m| m.len())
    }
}

/// What an upstream said when asked.
enum Answer {
    Page {
        upstream: usize,
        page: Box<UpstreamPage>,
        etag: Option<String>,
    },
    NotModified,
    /// No upstream knows the name (`None`: the walk ended), or the upstream it is bound to
    /// answered "not found" (`Some(i)`: a tombstone that keeps the binding).
    NotFound(Option<usize>),
}

/// A short reason for the stale header and the logs (never the credentials: the client's
/// errors name hosts only).
fn short_reason(e: &UpstreamError) -> String {
    let text = match e {
        UpstreamError::Timeout(s) => format!("no answer within {s} s"),
        UpstreamError::Unreachable(_) => "unreachable".to_owned(),
        UpstreamError::Status(code) => format!("answered {code}"),
        UpstreamError::TooLarge(_) => "page too large".to_owned(),
        UpstreamError::Malformed(_) => "unreadable page".to_owned(),
        UpstreamError::Config(_) => "not configured".to_owned(),
        UpstreamError::Busy => "busy reading other pages".to_owned(),
        UpstreamError::Forbidden(_) => "a refused destination".to_owned(),
    };
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect()
}

impl Services {
    fn upstream_index_of(&self, url: &str) -> Option<usize> {
        self.settings
            .upstream
            .client
            .indexes
            .iter()
            .position(|i| i.url == url)
    }

    /// The stored row of `name`, if it came from an upstream still configured (a config change
    /// makes the others unknown: they are fetched again, never served).
    async fn stored_upstream_page(
        &self,
        name: &NormalizedName,
    ) -> Result<Option<(StoredUpstreamPage, usize)>, CoreError> {
        Ok(self
            .db
            .upstream_page(name.as_str())
            .await?
            .and_then(|s| self.upstream_index_of(&s.upstream_url).map(|i| (s, i))))
    }

    /// Turn a stored row into what is served (`None`: "not found" was stored).
    fn gateway_page(
        &self,
        stored: &StoredUpstreamPage,
        upstream: usize,
        now: i64,
        stale: Option<String>,
    ) -> Result<Option<GatewayPage>, CoreError> {
        let Some(json) = stored.page.as_deref().filter(|_| stored.found) else {
            return Ok(None);
        };
        let page: UpstreamPage = serde_json::from_str(json).map_err(|e| {
            CoreError::Internal(format!("stored upstream page of {}: {e}", stored.project))
        })?;
        Ok(Some(GatewayPage {
            page,
            upstream,
            revision: stored.revision,
            age_secs: now.saturating_sub(stored.confirmed_at).max(0) / 1_000_000,
            stale,
        }))
    }

    /// The stored page of `name` without asking any upstream (the file verdict's read).
    pub async fn stored_gateway_page(
        &self,
        name: &NormalizedName,
    ) -> Result<Option<GatewayPage>, CoreError> {
        let now = self.now();
        match self.stored_upstream_page(name).await? {
            Some((s, i)) => self.gateway_page(&s, i, now, None),
            None => Ok(None),
        }
    }

    /// The upstream page of `name` (call only for a name [`Services::resolve_name`] resolved
    /// `Upstream`): fresh from the store, revalidated, or stale when the upstreams cannot be
    /// asked. `Ok(None)`: no upstream knows it. `CoreError::UpstreamUnavailable` when no
    /// upstream answered and nothing is stored.
    ///
    /// Asking the upstreams (a name not stored, or past the TTL) takes a place of `ip`'s
    /// `upstream.page_fetches_per_minute` first: `CoreError::TooMany` (429) when spent.
    pub async fn upstream_page(
        &self,
        name: &NormalizedName,
        ip: Option<&str>,
    ) -> Result<Option<GatewayPage>, CoreError> {
        self.upstream_page_known(name, ip, None).await
    }

    /// [`Services::upstream_page`] for a name the hot path's lookup found not fresh
    /// ([`Known`]): the stored page is read only when there is one (for its ETag), or when
    /// this request waited for another one asking about the same name (which may have just
    /// stored a fresh answer).
    pub async fn upstream_page_known(
        &self,
        name: &NormalizedName,
        ip: Option<&str>,
        known: Option<&Known>,
    ) -> Result<Option<GatewayPage>, CoreError> {
        let Some(client) = self.upstream.as_ref() else {
            return Ok(None);
        };
        if known.is_none()
            && let Some(fresh) = self.fresh_upstream_page(name).await?
        {
            return Ok(fresh);
        }
        let slot = self.revalidations.slot(name.as_str());
        let result = {
            let (_asking, waited) = match slot.try_lock() {
                Ok(g) => (g, false),
                Err(_) => (slot.lock().await, true),
            };
            // whoever held the slot before may have just stored a fresh answer
            let fresh = if waited || known.is_none() {
                self.fresh_upstream_page(name).await
            } else {
                Ok(None)
            };
            match fresh {
                Ok(Some(fresh)) => Ok(fresh),
                Ok(None) => match self.take_upstream_page_fetch(ip).await {
                    Ok(()) => {
                        let nothing_stored = known.is_some_and(|k| k.stamp.is_none()) && !waited;
                        self.revalidate_upstream_page(client, name, nothing_stored)
                            .await
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        };
        self.revalidations.release(name.as_str(), slot);
        result
    }

    /// The stored answer about `name` when it is within the TTL: `Some(Some(page))`, or
    /// `Some(None)` for a fresh "not found"; `None` when it must be asked again.
    async fn fresh_upstream_page(
        &self,
        name: &NormalizedName,
    ) -> Result<Option<Option<GatewayPage>>, CoreError> {
        let now = self.now();
        let ttl = i64::try_from(self.settings.upstream.page_ttl_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000);
        match self.stored_upstream_page(name).await? {
            // a confirmation from the future (a clock moved back) is not trusted as fresh
            Some((s, i)) if (0..ttl).contains(&now.saturating_sub(s.confirmed_at)) => {
                self.mark_page_used(&s, now).await;
                Ok(Some(self.gateway_page(&s, i, now, None)?))
            }
            _ => Ok(None),
        }
    }

    /// Ask the upstreams about `name` and store the answer; the stored page, stale, when they
    /// cannot be asked. `nothing_stored`: known to have no stored page (not read again).
    async fn revalidate_upstream_page(
        &self,
        client: &UpstreamClient,
        name: &NormalizedName,
        nothing_stored: bool,
    ) -> Result<Option<GatewayPage>, CoreError> {
        let now = self.now();
        let stored = if nothing_stored {
            None
        } else {
            self.stored_upstream_page(name).await?
        };
        let asked = self.ask_upstreams(client, name, stored.as_ref(), now).await;
        match asked {
            Ok(Answer::Page {
                upstream,
                page,
                etag,
            }) => {
                // a big page costs CPU to serialise: off the async workers, under the limit
                // (a few hundred bytes a file)
                let size = page.files.len().saturating_mul(FILE_JSON_BYTES);
                let (page, json) = client
                    .page_work()
                    .run_sized(size, move || {
                        let json = serde_json::to_string(&page);
                        (page, json)
                    })
                    .await
                    .map_err(|e| CoreError::UpstreamUnavailable {
                        timed_out: false,
                        message: format!("The package index cannot store {name} right now ({e}). Try again later."),
                    })?;
                let json =
                    json.map_err(|e| CoreError::Internal(format!("upstream page of {name}: {e}")))?;
                let url = &client.indexes()[upstream].url;
                let saved = self
                    .db
                    .save_upstream_page(&NewUpstreamPage {
                        project: name.as_str(),
                        upstream_url: url,
                        page: Some(&json),
                        etag: etag.as_deref(),
                        now,
                    })
                    .await?;
                Ok(Some(GatewayPage {
                    page: *page,
                    upstream,
                    revision: saved.revision,
                    age_secs: 0,
                    stale: None,
                }))
            }
            Ok(Answer::NotModified) => {
                match self.db.confirm_upstream_page(name.as_str(), now).await? {
                    Some(s) => match self.upstream_index_of(&s.upstream_url) {
                        Some(i) => {
                            self.mark_page_used(&s, now).await;
                            self.gateway_page(&s, i, now, None)
                        }
                        None => Ok(None),
                    },
                    None => Ok(None),
                }
            }
            Ok(Answer::NotFound(Some(bound))) => {
                // the upstream that answered for the name no longer does (e.g. a private index
                // quarantined it): a tombstone keeps the name bound to it, so no other upstream
                // ever answers for it in its place
                let url = &client.indexes()[bound].url;
                self.db
                    .save_upstream_page(&NewUpstreamPage {
                        project: name.as_str(),
                        upstream_url: url,
                        page: None,
                        etag: None,
                        now,
                    })
                    .await?;
                Ok(None)
            }
            Ok(Answer::NotFound(None)) => {
                // "nobody knows it" is kept for the TTL too, under the first upstream; expired
                // ones go first, so made-up names cannot fill the table
                let ttl = i64::try_from(self.settings.upstream.page_ttl_secs)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1_000_000);
                self.db
                    .forget_unknown_upstream_names(now.saturating_sub(ttl))
                    .await?;
                if let Some(first) = client.indexes().first() {
                    self.db
                        .save_upstream_page(&NewUpstreamPage {
                            project: name.as_str(),
                            upstream_url: &first.url,
                            page: None,
                            etag: None,
                            now,
                        })
                        .await?;
                }
                Ok(None)
            }
            Err(e) => {
                let reason = short_reason(&e);
                match &stored {
                    // a tombstone served stale is still "not found"
                    Some((s, _)) if !s.found => Ok(None),
                    Some((s, i)) => {
                        tracing::warn!(project = %name, error = %e, "upstream not reachable; serving the stored page");
                        self.mark_page_used(s, now).await;
                        self.gateway_page(s, *i, now, Some(reason))
                    }
                    None => {
                        tracing::warn!(project = %name, error = %e, "upstream not reachable and no stored page");
                        Err(CoreError::UpstreamUnavailable {
                            timed_out: matches!(e, UpstreamError::Timeout(_)),
                            message: format!(
                                "The package index cannot reach its upstream index for {name} right now ({reason}), \
                                 and has no stored copy of that project. Try again later."
                            ),
                        })
                    }
                }
            }
        }
    }
}

impl Services {
    /// Ask the upstreams in order, all within one `upstream.timeout_seconds`; the stored
    /// page's ETag goes to the upstream it came from. An upstream in its back-off after a
    /// failure fails the walk at once, as it would have.
    async fn ask_upstreams(
        &self,
        client: &UpstreamClient,
        name: &NormalizedName,
        stored: Option<&(StoredUpstreamPage, usize)>,
        now: i64,
    ) -> Result<Answer, UpstreamError> {
        let timeout = self.settings.upstream.client.timeout_secs.max(1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        // a name an upstream answered for is asked of that upstream only
        let bound = stored.filter(|(s, _)| s.bound).map(|(_, i)| *i);
        let order: Vec<usize> = match bound {
            Some(i) => vec![i],
            None => (0..client.indexes().len()).collect(),
        };
        for upstream in order {
            if let Some(why) = self.revalidations.down_reason(upstream, now) {
                return Err(UpstreamError::Unreachable(format!(
                    "{why}, not asked again yet"
                )));
            }
            let etag = stored
                .filter(|(s, i)| *i == upstream && s.found)
                .and_then(|(s, _)| s.etag.as_deref());
            let head = AtomicBool::new(false);
            let answer = tokio::time::timeout_at(
                deadline,
                client.fetch_page_watched(upstream, name, etag, &head),
            )
            .await
            .unwrap_or(Err(UpstreamError::Timeout(timeout)));
            let answer = match answer {
                Ok(a) => {
                    self.revalidations.mark(upstream, now, None);
                    a
                }
                Err(e) => {
                    // only an upstream that gave no response head is left alone; a slow,
                    // oversized or bad answer about one project says nothing about the others
                    let answered = head.load(Ordering::Relaxed);
                    if !answered
                        && matches!(e, UpstreamError::Timeout(_) | UpstreamError::Unreachable(_))
                    {
                        self.revalidations.mark(upstream, now, Some(&e));
                    }
                    return Err(e);
                }
            };
            match answer {
                PageFetch::NotModified if etag.is_some() => return Ok(Answer::NotModified),
                // a 304 to a request without a validator: the upstream is confused
                PageFetch::NotModified => return Err(UpstreamError::Status(304)),
                PageFetch::NotFound if bound.is_some() => return Ok(Answer::NotFound(bound)),
                PageFetch::NotFound => continue,
                PageFetch::Page { page, etag } => {
                    return Ok(Answer::Page {
                        upstream,
                        page: Box::new(page),
                        etag,
                    });
                }
            }
        }
        Ok(Answer::NotFound(None))
    }

    /// The stored page `s` was served now: move its last use, at most once per
    /// [`USE_MARK_PERIOD_MICROS`] (best effort: a failed write does not fail the request).
    async fn mark_page_used(&self, s: &StoredUpstreamPage, now: i64) {
        if now.saturating_sub(s.last_used_at) < USE_MARK_PERIOD_MICROS {
            return;
        }
        let older_than = now.saturating_sub(USE_MARK_PERIOD_MICROS);
        if let Err(e) = self
            .db
            .touch_upstream_page(&s.project, now, older_than)
            .await
        {
            tracing::warn!(project = %s.project, error = %e, "could not mark an upstream page used");
        }
    }

    /// Take a place for one upstream page fetch by `ip` (`upstream.page_fetches_per_minute`),
    /// or refuse with the wait (429 + Retry-After). Off with `rate_limits = false` or 0.
    pub async fn take_upstream_page_fetch(&self, ip: Option<&str>) -> Result<(), CoreError> {
        let per_minute = i64::from(self.settings.upstream.page_fetches_per_minute);
        if !self.settings.rate_limits || per_minute == 0 {
            return Ok(());
        }
        const WINDOW: i64 = 60 * 1_000_000;
        let now = self.now();
        let bucket = format!("upstream-page:{}", ip.unwrap_or("-"));
        match self
            .db
            .rate_reserve(&bucket, &[(now - WINDOW, per_minute)], now)
            .await?
        {
            strongroom_store::RateReservation::Taken(_) => Ok(()),
            strongroom_store::RateReservation::Full(seen) => {
                let oldest = seen.first().and_then(|(_, at)| *at).unwrap_or(now);
                let wait = (oldest + WINDOW - now).max(1_000_000);
                let secs = u64::try_from((wait + 999_999) / 1_000_000).unwrap_or(60);
                Err(CoreError::TooMany {
                    message: format!(
                        "Too many projects not yet stored or due for a refresh were asked for from this address. Try again in {secs} s. (Limit upstream.page_fetches_per_minute: {per_minute}.)"
                    ),
                    retry_after_secs: secs,
                })
            }
        }
    }

    /// Eviction of stored upstream pages as a periodic job: those not served for
    /// [`UNUSED_PAGE_MICROS`], then the least recently served past [`MAX_STORED_PAGES`] or
    /// `upstream.pages_max_bytes`. Report lines.
    pub(crate) async fn upstream_pages_job(&self) -> Result<Vec<String>, CoreError> {
        let now = self.now();
        let max_bytes = i64::try_from(self.settings.upstream.pages_max_bytes).unwrap_or(i64::MAX);
        let n = self
            .db
            .evict_upstream_pages(
                now.saturating_sub(UNUSED_PAGE_MICROS),
                MAX_STORED_PAGES,
                max_bytes,
            )
            .await?;
        Ok(if n > 0 {
            vec![format!(
                "upstream pages: evicted {n} stored page(s) not served for long or past upstream.pages_max_bytes"
            )]
        } else {
            Vec::new()
        })
    }
}
