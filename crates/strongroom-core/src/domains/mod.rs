//! Email-domain checks (the `ctx` door): a verified address is only as good as its domain. Every
//! verified address's domain is looked up in DNS (MX, else A/AAAA) and in RDAP (status, expiry,
//! registration date). A domain that is lapsing or expired, or was (re)registered after the address
//! was verified (registry documents), takes the verification away at once; one that no longer
//! resolves does when a second round some minutes later, or the registry (no such domain), confirms
//! it. Then the address gets no more password resets, and the account's other verified addresses
//! are told. Failing to find out (timeouts, SERVFAIL, RDAP down) never changes anything; every
//! attempt is recorded and the address retried with backoff. Each domain is asked once per round.
//!
//! What the operator controls: `domains.check = false` turns every lookup off (air-gapped
//! installs); addresses at `domains.trusted` domains are never looked up; and a round acts on the
//! bad domains it found, smallest first, only while it stays within `domains.max_unverify_share`
//! of all verified addresses, holding back the domains that would go over and raising a signal
//! for them ([`breaker`]): a resolver that answers NXDOMAIN for the company's own domain must not
//! lock the company out, and a few accounts at a domain left to lapse on purpose must not switch
//! the protection off for everyone else. `strongroom admin user verify-email` repairs
//! ([`reverify`]).

pub mod breaker;
pub mod dns;
pub mod rdap;
pub mod reverify;
pub mod trusted;
mod verdict;

pub use verdict::{BadKind, CONFIRM_AFTER, Verdict, address_domain, retry_delay, verdict};

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use strongroom_store::DomainCheckAddress;

use crate::accounts::purpose;
use crate::clock::iso8601_seconds;
use crate::mail::notice;
use crate::settings::hours;
use crate::signals::SignalKind;
use crate::{Actor, CoreError, RequestMeta, Services, Subject};

use self::dns::{DnsAnswer, QType};
use self::rdap::RdapOutcome;

/// What DNS says about a domain, for mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsOutcome {
    /// MX records (or, without MX, A/AAAA records): mail can be delivered.
    Resolves,
    /// NXDOMAIN: the name does not exist.
    NxDomain,
    /// The name exists but has no MX, A or AAAA record.
    NoRecords,
    /// Only a null MX (RFC 7505): the domain says it accepts no mail.
    NullMx,
    /// No answer (timeout, SERVFAIL, network): no verdict.
    Error(String),
}

/// Where the check asks: DNS and RDAP. Unit tests substitute a table.
pub trait DomainProbe: Send + Sync {
    fn dns(&self, domain: &str) -> impl Future<Output = DnsOutcome> + Send;
    fn rdap(&self, domain: &str) -> impl Future<Output = RdapOutcome> + Send;
}

/// The real probe: the configured resolver and RDAP base URL.
pub struct NetProbe {
    resolver: Result<SocketAddr, String>,
    rdap_base: Option<String>,
    client: Result<reqwest::Client, String>,
    timeout: Duration,
}

impl NetProbe {
    /// From `settings.safety.dns_resolver` and `settings.safety.rdap_url`.
    pub fn from_settings(s: &crate::SafetySettings) -> NetProbe {
        NetProbe {
            resolver: dns::resolver_address(s.dns_resolver.as_deref()).map_err(|e| e.to_string()),
            rdap_base: s.rdap_url.clone().filter(|u| !u.trim().is_empty()),
            client: rdap::client(s.rdap_url.as_deref().unwrap_or_default()),
            timeout: Duration::from_secs(3),
        }
    }
}

impl DomainProbe for NetProbe {
    async fn dns(&self, domain: &str) -> DnsOutcome {
        let server = match &self.resolver {
            Ok(s) => *s,
            Err(e) => return DnsOutcome::Error(e.clone()),
        };
        for qtype in [QType::Mx, QType::A, QType::Aaaa] {
            match dns::query(server, domain, qtype, self.timeout).await {
                Err(e) => return DnsOutcome::Error(format!("{qtype:?}: {e}")),
                Ok(DnsAnswer::NxDomain) => return DnsOutcome::NxDomain,
                Ok(DnsAnswer::Records { count, null_mx }) if count > 0 => {
                    return if null_mx && count == 1 {
                        DnsOutcome::NullMx
                    } else {
                        DnsOutcome::Resolves
                    };
                }
                Ok(DnsAnswer::Records { .. }) => {}
            }
        }
        DnsOutcome::NoRecords
    }

    async fn rdap(&self, domain: &str) -> RdapOutcome {
        let Some(base) = &self.rdap_base else {
            return RdapOutcome::Disabled;
        };
        match &self.client {
            Ok(c) => rdap::lookup(c, base, domain).await,
            Err(e) => RdapOutcome::Error(e.clone()),
        }
    }
}

/// The longest one round of the periodic job spends asking (the rest waits for the next round).
const JOB_ROUND_BUDGET: Duration = Duration::from_secs(120);
/// The longest one domain's DNS and RDAP questions may take together.
const DOMAIN_PROBE_LIMIT: Duration = Duration::from_secs(45);

/// A halted round writes its signal event unless one was written this recently (µs).
const HALTED_SIGNAL_EVERY: i64 = crate::settings::HOUR_MICROS;

/// An address whose verification the check took away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub username: String,
    pub address: String,
    pub kind: BadKind,
    pub reason: String,
}

/// What one round of checks did.
#[derive(Debug, Clone, Default)]
pub struct DomainReport {
    /// Addresses looked at.
    pub addresses: usize,
    /// Each domain and what was found (`healthy`, `unknown: ...`, `lapsed: ...`).
    pub domains: Vec<(String, String)>,
    /// Addresses unverified in this round.
    pub unverified: Vec<Unverified>,
    /// Addresses left for a later round (no answer), retried with backoff.
    pub retry: Vec<String>,
    /// Addresses not asked about because the round ran out of time (first in the next round).
    pub deferred: usize,
    /// The check is off (`domains.check = false`): nothing was looked up.
    pub off: bool,
    /// Addresses at `domains.trusted` domains: not looked up, left verified.
    pub trusted: usize,
    /// The circuit breaker held back some bad domains (the others were acted on).
    pub halted: Option<Halted>,
}

/// Why a round left some bad domains' addresses verified: unverifying them too would have taken
/// more than `domains.max_unverify_share` of all verified addresses (see [`breaker`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halted {
    /// Addresses the round would take, over this round and the next: every verified address
    /// at the domains it found bad (their verdict takes them all), plus those the check
    /// unverified within the last [`breaker::WINDOW_HOURS`] (or the check interval, if longer).
    pub would_unverify: u64,
    /// Of these, the ones unverified within that window.
    pub recently_unverified: u64,
    /// Verified addresses in all (those recently unverified included).
    pub verified: u64,
    /// The most one round may unverify.
    pub allowed: u64,
    /// Each held-back domain and how many verified addresses are at it, most first.
    pub domains: Vec<(String, u64)>,
    /// Bad domains acted on all the same (within the share), smallest first.
    pub acted: Vec<(String, u64)>,
    /// Whether this round wrote the signal event (not when one was written in the last hour).
    pub signalled: bool,
}

impl Halted {
    /// One sentence for logs, the CLI and the event.
    pub fn describe(&self) -> String {
        let domains: Vec<String> = self
            .domains
            .iter()
            .map(|(d, n)| format!("{d} ({n})"))
            .collect();
        format!(
            "halted: the check would have unverified {} of {} verified addresses at once{}, more than the {} domains.max_unverify_share allows; the addresses at these domains were left verified{}. Domains: {}. If these domains are your own, your resolver may not see them (split-horizon or air-gapped DNS): list them in domains.trusted, or fix the resolver (domains.resolver); the next round after that proceeds normally",
            self.would_unverify,
            self.verified,
            if self.recently_unverified > 0 {
                format!(
                    " ({} of them already unverified by it in the last hours)",
                    self.recently_unverified
                )
            } else {
                String::new()
            },
            self.allowed,
            if self.acted.is_empty() {
                String::new()
            } else {
                format!(
                    " (smaller bad domains within the share were acted on: {})",
                    self.acted
                        .iter()
                        .map(|(d, n)| format!("{d} ({n})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            domains.join(", ")
        )
    }

    /// How many verified addresses are at the held-back domains.
    pub fn held_addresses(&self) -> u64 {
        self.domains.iter().map(|(_, n)| *n).sum()
    }
}

/// Which addresses one round takes, and for how long it may ask.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// Addresses last checked (or verified) at or before this time; retries and confirmations
    /// when their time has come (`i64::MAX`: everything now).
    pub due_before: i64,
    pub limit: i64,
    /// Stop asking about further domains after this long (`None`: no limit).
    pub budget: Option<Duration>,
}

/// The first unconfirmed bad sighting of an address, if it was made under its current
/// verification (an older one says nothing about the domain as verified now).
fn live_suspicion(a: &DomainCheckAddress) -> Option<(i64, String)> {
    let at = a.suspect_at.filter(|t| *t >= a.verified_at)?;
    Some((at, a.suspect_reason.clone().unwrap_or_default()))
}

impl DomainReport {
    /// One line per finding, for logs and the CLI.
    pub fn lines(&self) -> Vec<String> {
        if self.off {
            return vec![OFF_LINE.to_owned()];
        }
        let mut out: Vec<String> = self
            .domains
            .iter()
            .map(|(d, v)| format!("domain {d}: {v}"))
            .collect();
        out.extend(self.unverified.iter().map(|u| {
            format!(
                "unverified {} of {} ({}: {})",
                u.address,
                u.username,
                u.kind.as_str(),
                u.reason
            )
        }));
        out.extend(self.halted.as_ref().map(Halted::describe));
        out
    }
}

/// What the CLI, the admin area and the start of `serve` say when `domains.check = false`.
pub const OFF_LINE: &str = "the email-domain check is off (domains.check = false): no DNS or RDAP lookups, no address is unverified by it";

impl Services {
    /// Check every verified address's domain now (`strongroom admin check-domains`, the admin
    /// area): logged as `admin:domains:check` by `actor`, each unverification as
    /// `account:email:unverified`.
    pub async fn check_domains(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<DomainReport, CoreError> {
        let probe = NetProbe::from_settings(&self.settings.safety);
        let report = self
            .check_domains_with(&probe, actor, meta, i64::MAX, 100_000)
            .await?;
        if report.off {
            return Ok(report);
        }
        let ev = self.event(
            actor,
            "admin:domains:check",
            Subject {
                kind: "site",
                id: None,
                name: None,
            },
            meta,
            serde_json::json!({
                "addresses": report.addresses,
                "domains": report.domains.len(),
                "unverified": report.unverified.iter().map(|u| &u.address).collect::<Vec<_>>(),
                "retry": report.retry.len(),
                "trusted": report.trusted,
                "halted": report.halted.is_some(),
                "reason": "domain check",
            }),
        );
        self.db.begin_account().await?.commit(&[ev], &[]).await?;
        Ok(report)
    }

    /// The periodic job: addresses not checked for `domains.check_interval_hours` (0 = never),
    /// and those whose retry or confirmation is due; at most [`JOB_ROUND_BUDGET`] of asking.
    pub(crate) async fn domain_check_job(&self) -> Result<Vec<String>, CoreError> {
        let interval = self.settings.safety.domain_check_interval_hours;
        // Off: said once at start (`serve`), never per run.
        if interval == 0 || !self.settings.safety.domain_check {
            return Ok(Vec::new());
        }
        let due_before = self.now().saturating_sub(hours(interval));
        let probe = NetProbe::from_settings(&self.settings.safety);
        let actor = Actor {
            id: None,
            name: "job:domain-check".into(),
        };
        let round = Round {
            due_before,
            limit: 500,
            budget: Some(JOB_ROUND_BUDGET),
        };
        let report = self
            .check_domains_round(&probe, &actor, &RequestMeta::default(), round)
            .await?;
        for r in &report.retry {
            tracing::warn!(address = %r, "domain check found nothing out; retrying later");
        }
        if report.deferred > 0 {
            tracing::warn!(
                deferred = report.deferred,
                "domain check ran out of time; the rest waits for the next round"
            );
        }
        match &report.halted {
            Some(h) if h.signalled => tracing::warn!("domain check {}", h.describe()),
            Some(h) => tracing::debug!("domain check {}", h.describe()),
            None => {}
        }
        Ok(report
            .unverified
            .iter()
            .map(|u| {
                format!(
                    "domain check: unverified {} of {} ({})",
                    u.address,
                    u.username,
                    u.kind.as_str()
                )
            })
            .chain(report.halted.as_ref().map(|h| {
                format!(
                    "domain check: halted, {} addresses left verified (see the admin signals)",
                    h.held_addresses()
                )
            }))
            .collect())
    }

    /// One round without a time limit: addresses verified or checked before `due_before`
    /// (`i64::MAX`: every verified address, retries and confirmations included).
    pub async fn check_domains_with<P: DomainProbe>(
        &self,
        probe: &P,
        actor: &Actor,
        meta: &RequestMeta,
        due_before: i64,
        limit: i64,
    ) -> Result<DomainReport, CoreError> {
        let round = Round {
            due_before,
            limit,
            budget: None,
        };
        self.check_domains_round(probe, actor, meta, round).await
    }

    /// One round: the due addresses (least recently attempted first), grouped by domain, each
    /// domain asked once; every attempt recorded.
    pub async fn check_domains_round<P: DomainProbe>(
        &self,
        probe: &P,
        actor: &Actor,
        meta: &RequestMeta,
        round: Round,
    ) -> Result<DomainReport, CoreError> {
        if !self.settings.safety.domain_check {
            return Ok(DomainReport {
                off: true,
                ..DomainReport::default()
            });
        }
        let started = Instant::now();
        // No single domain may take longer than the round may.
        let probe_limit = round
            .budget
            .map_or(DOMAIN_PROBE_LIMIT, |b| b.min(DOMAIN_PROBE_LIMIT));
        // Retries and confirmations are due by the clock; a forced round takes them all.
        let retry_before = round.due_before.max(self.now());
        let interval = hours(self.settings.safety.domain_check_interval_hours);
        let due = self
            .db
            .addresses_due_for_domain_check(round.due_before, retry_before, round.limit)
            .await?;
        let mut by_domain: BTreeMap<String, Vec<DomainCheckAddress>> = BTreeMap::new();
        let mut report = DomainReport {
            addresses: due.len(),
            ..DomainReport::default()
        };
        let mut no_domain = Vec::new();
        let mut trusted_ids = Vec::new();
        let mut trusted_seen: BTreeMap<String, &str> = BTreeMap::new();
        let trusted_list = &self.settings.safety.trusted_domains;
        for a in due {
            match address_domain(&a.address) {
                // The operator vouches for these: never asked about, never unverified (and
                // an earlier round's sighting is forgotten).
                Some(d) if trusted::covering(trusted_list, &d).is_some() => {
                    let by = trusted::covering(trusted_list, &d).unwrap_or_default();
                    trusted_seen.insert(d, by);
                    trusted_ids.push(a.email_id);
                }
                Some(d) => by_domain.entry(d).or_default().push(a),
                // Nothing to ask about (a bare host name, an address literal): recorded as
                // checked so it does not come back every round.
                None => no_domain.push(a.email_id),
            }
        }
        if !no_domain.is_empty() {
            self.db.mark_domain_checked(&no_domain, self.now()).await?;
        }
        if !trusted_ids.is_empty() {
            self.db
                .mark_domain_checked(&trusted_ids, self.now())
                .await?;
        }
        report.trusted = trusted_ids.len();
        report.domains.extend(
            trusted_seen
                .into_iter()
                .map(|(d, by)| (d, format!("trusted (domains.trusted: {by}): not looked up"))),
        );
        // First every verdict, then the changes: a notice never goes to an address this very
        // round is about to find bad.
        let mut bad: Vec<(DomainCheckAddress, BadKind, String)> = Vec::new();
        for (domain, addresses) in by_domain {
            if round.budget.is_some_and(|b| started.elapsed() >= b) {
                report.deferred += addresses.len();
                continue;
            }
            let asked = tokio::time::timeout(probe_limit, async {
                tokio::join!(probe.dns(&domain), probe.rdap(&domain))
            })
            .await;
            let (dns, rdap) = asked.unwrap_or_else(|_| {
                let why = format!("no answer within {} ms", probe_limit.as_millis());
                (DnsOutcome::Error(why.clone()), RdapOutcome::Error(why))
            });
            let now = self.now();
            let mut healthy = Vec::new();
            let mut summary = "healthy".to_owned();
            for a in addresses {
                match verdict(&dns, &rdap, a.verified_at, now) {
                    Verdict::Healthy => healthy.push(a.email_id),
                    Verdict::Unknown(why) => {
                        summary = format!("unknown: {why}");
                        let failures = a.failures.saturating_add(1);
                        let suspect = live_suspicion(&a);
                        self.db
                            .record_domain_attempt(
                                a.email_id,
                                a.verified_at,
                                now,
                                now.saturating_add(retry_delay(failures, interval)),
                                failures,
                                suspect.as_ref().map(|(t, r)| (*t, r.as_str())),
                            )
                            .await?;
                        report.retry.push(a.address);
                    }
                    Verdict::Bad { kind, detail } => {
                        summary = format!("{}: {detail}", kind.as_str());
                        bad.push((a, kind, detail));
                    }
                    Verdict::Suspect { kind, detail } => match live_suspicion(&a) {
                        Some((first, seen)) if now.saturating_sub(first) >= CONFIRM_AFTER => {
                            let detail = format!(
                                "{detail} (also seen on {} UTC: {seen})",
                                iso8601_seconds(first)
                            );
                            summary = format!("{}: {detail}", kind.as_str());
                            bad.push((a, kind, detail));
                        }
                        earlier => {
                            let first = earlier.as_ref().map_or(now, |(t, _)| *t);
                            summary = format!(
                                "suspect: {}: {detail} (taken as bad only if seen again after {} UTC)",
                                kind.as_str(),
                                iso8601_seconds(first.saturating_add(CONFIRM_AFTER))
                            );
                            let seen = earlier.map_or(detail, |(_, r)| r);
                            self.db
                                .record_domain_attempt(
                                    a.email_id,
                                    a.verified_at,
                                    now,
                                    first.saturating_add(CONFIRM_AFTER).max(now),
                                    0,
                                    Some((first, &seen)),
                                )
                                .await?;
                        }
                    },
                }
            }
            if !healthy.is_empty() {
                self.db.mark_domain_checked(&healthy, now).await?;
            }
            report.domains.push((domain, summary));
        }
        // Every bad address is left out of this round's notices, held back or not.
        let bad_ids: Vec<i64> = bad.iter().map(|(a, _, _)| a.email_id).collect();
        let (halted, held) = self.breaker_split(&bad).await?;
        let (kept, bad): (Vec<_>, Vec<_>) = bad
            .into_iter()
            .partition(|(a, _, _)| held.contains(&address_domain(&a.address).unwrap_or_default()));
        self.hold_back(kept, interval).await?;
        if let Some(halted) = halted {
            self.signal_halted(halted, actor, meta, &mut report).await?;
        }
        for (a, kind, detail) in bad {
            if self
                .unverify(&a, kind, &detail, &bad_ids, actor, meta)
                .await?
            {
                report.unverified.push(Unverified {
                    username: a.username,
                    address: a.address,
                    kind,
                    reason: detail,
                });
            }
        }
        Ok(report)
    }

    /// Report a round's held-back domains, and write the signal event unless one was written
    /// in the last hour (the periodic rounds meet the domain's addresses as they come due).
    async fn signal_halted(
        &self,
        mut halted: Halted,
        actor: &Actor,
        meta: &RequestMeta,
        report: &mut DomainReport,
    ) -> Result<(), CoreError> {
        report.halted = Some(halted.clone());
        let since = self.now().saturating_sub(HALTED_SIGNAL_EVERY);
        let recent = self
            .db
            .events_of_since(SignalKind::DomainCheckHalted.action(), since, 1)
            .await?;
        if !recent.is_empty() {
            return Ok(());
        }
        let ev = self.event(
                actor,
                SignalKind::DomainCheckHalted.action(),
                Subject {
                    kind: "site",
                    id: None,
                    name: None,
                },
                meta,
                serde_json::json!({
                    "would_unverify": halted.would_unverify,
                    "verified": halted.verified,
                    "allowed": halted.allowed,
                    "max_unverify_share": self.settings.safety.max_unverify_share,
                    "domains": halted.domains.iter().map(|(d, n)| serde_json::json!({"domain": d, "addresses": n})).collect::<Vec<_>>(),
                    "acted": halted.acted.iter().map(|(d, n)| serde_json::json!({"domain": d, "addresses": n})).collect::<Vec<_>>(),
                    "detail": halted.describe(),
                }),
            );
        self.db.begin_account().await?.commit(&[ev], &[]).await?;
        halted.signalled = true;
        report.halted = Some(halted);
        Ok(())
    }

    /// The circuit breaker's verdict on a round that found `bad`, per domain ([`breaker::split`]):
    /// the domains to hold back, and `Some` report of them when there are any.
    async fn breaker_split(
        &self,
        bad: &[(DomainCheckAddress, BadKind, String)],
    ) -> Result<(Option<Halted>, std::collections::BTreeSet<String>), CoreError> {
        if bad.is_empty() {
            return Ok((None, std::collections::BTreeSet::new()));
        }
        // A round takes the addresses that are due, a few at a time: judged alone, a resolver
        // blind to the company's domain would take its people a few per round all day long.
        // So a bad domain counts with every verified address at it, and the check's recent
        // unverifications count too.
        // Each domain is judged whole, ordered by size, then by its first bad sighting and its
        // oldest verification (see the breaker's module for why that order is hard to game).
        let now = self.now();
        let mut per_domain: BTreeMap<String, breaker::BadDomain> = BTreeMap::new();
        for (a, _, _) in bad {
            let domain = address_domain(&a.address).unwrap_or_default();
            let first = live_suspicion(a).map_or(now, |(t, _)| t);
            let d = per_domain
                .entry(domain.clone())
                .or_insert(breaker::BadDomain {
                    domain,
                    addresses: 0,
                    first_bad: first,
                    oldest_verified: a.verified_at,
                });
            d.addresses += 1;
            d.first_bad = d.first_bad.min(first);
            d.oldest_verified = d.oldest_verified.min(a.verified_at);
        }
        // The round's own bad addresses are a floor; every verified address at the domain counts.
        let mut whole: BTreeMap<String, u64> = BTreeMap::new();
        for a in self
            .db
            .addresses_due_for_domain_check(i64::MAX, i64::MAX, i64::from(i32::MAX))
            .await?
        {
            let d = address_domain(&a.address).unwrap_or_default();
            if let Some(b) = per_domain.get_mut(&d) {
                *whole.entry(d).or_default() += 1;
                b.oldest_verified = b.oldest_verified.min(a.verified_at);
            }
        }
        for (d, b) in &mut per_domain {
            b.addresses = b.addresses.max(whole.get(d).copied().unwrap_or(0));
        }
        let at_bad_domains: u64 = per_domain.values().map(|b| b.addresses).sum();
        let window = hours(
            self.settings
                .safety
                .domain_check_interval_hours
                .max(breaker::WINDOW_HOURS),
        );
        let recent = u64::try_from(
            self.db
                .count_unverified_since(self.now().saturating_sub(window))
                .await?,
        )
        .unwrap_or(0);
        let would = at_bad_domains.saturating_add(recent);
        let verified = u64::try_from(self.db.count_verified_addresses().await?)
            .unwrap_or(0)
            .saturating_add(recent);
        let share = self.settings.safety.max_unverify_share;
        let split = breaker::split(per_domain.into_values().collect(), recent, verified, share);
        if split.held.is_empty() {
            return Ok((None, std::collections::BTreeSet::new()));
        }
        let held = split.held.iter().map(|b| b.domain.clone()).collect();
        let mut domains: Vec<(String, u64)> = split
            .held
            .into_iter()
            .map(|b| (b.domain, b.addresses))
            .collect();
        domains.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let halted = Halted {
            would_unverify: would,
            recently_unverified: recent,
            verified,
            allowed: breaker::allowed(verified, share),
            domains,
            acted: split
                .act
                .into_iter()
                .map(|b| (b.domain, b.addresses))
                .collect(),
            signalled: false,
        };
        Ok((Some(halted), held))
    }

    /// The bad addresses at held-back domains stay verified: each attempt is recorded like one without
    /// an answer (retried with backoff, so a broken resolver is not asked every job run), with
    /// its first bad sighting kept, so that the round after the resolver is fixed finds them
    /// healthy and forgets it, and one that still finds them bad is stopped again.
    async fn hold_back(
        &self,
        bad: Vec<(DomainCheckAddress, BadKind, String)>,
        interval: i64,
    ) -> Result<(), CoreError> {
        let now = self.now();
        for (a, kind, detail) in bad {
            let failures = a.failures.saturating_add(1);
            let sighting =
                live_suspicion(&a).unwrap_or_else(|| (now, format!("{}: {detail}", kind.as_str())));
            self.db
                .record_domain_attempt(
                    a.email_id,
                    a.verified_at,
                    now,
                    now.saturating_add(retry_delay(failures, interval)),
                    failures,
                    Some((sighting.0, &sighting.1)),
                )
                .await?;
        }
        Ok(())
    }

    /// Take the verification away (if still as the check saw it), kill reset and verification
    /// links in flight, log it and tell the account's other verified addresses, never this one.
    async fn unverify(
        &self,
        a: &DomainCheckAddress,
        kind: BadKind,
        detail: &str,
        also_bad: &[i64],
        actor: &Actor,
        meta: &RequestMeta,
    ) -> Result<bool, CoreError> {
        let now = self.now();
        let reason = format!("{}: {detail}", kind.as_str());
        let mut tx = self.db.begin_account().await?;
        if !tx
            .unverify_email(a.email_id, a.verified_at, &reason, now)
            .await?
        {
            return Ok(false);
        }
        tx.invalidate_email_tokens(
            a.user_id,
            &[purpose::RESET_PASSWORD, purpose::VERIFY_EMAIL],
            now,
        )
        .await?;
        let others: Vec<String> = tx
            .emails(a.user_id)
            .await?
            .into_iter()
            .filter(|e| e.verified_recipient() && e.id != a.email_id && !also_bad.contains(&e.id))
            .map(|e| e.address)
            .collect();
        let mails = notice(
            &others,
            "An email address of your account is no longer verified",
            &format!(
                "The address {} of the account {} is no longer verified: {detail}. Password resets and notices will not go to it. If the domain is still yours, verify the address again from your account settings.",
                a.address, a.username
            ),
        );
        let ev = self.event(
            actor,
            "account:email:unverified",
            Subject {
                kind: "user",
                id: Some(a.user_id),
                name: Some(&a.username),
            },
            meta,
            serde_json::json!({"address": a.address, "reason": kind.as_str(), "detail": detail}),
        );
        tx.commit(&[ev], &mails).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
