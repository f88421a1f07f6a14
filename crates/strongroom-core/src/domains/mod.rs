//! Email-domain checks (the `ctx` door): a verified address is only as good as its domain. Every
//! verified address's domain is looked up in DNS (MX, else A/AAAA) and in RDAP (status, expiry,
//! registration date). A domain that is lapsing or expired, or was (re)registered after the address
//! was verified (registry documents), takes the verification away at once; one that no longer
//! resolves does when a second round some minutes later, or the registry (no such domain), confirms
//! it. Then the address gets no more password resets, and the account's other verified addresses
//! are told. Failing to find out (timeouts, SERVFAIL, RDAP down) never changes anything; every
//! attempt is recorded and the address retried with backoff. Each domain is asked once per round.

pub mod dns;
pub mod rdap;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use strongroom_store::DomainCheckAddress;

use crate::accounts::purpose;
use crate::clock::iso8601_seconds;
use crate::mail::notice;
use crate::settings::{HOUR_MICROS, hours};
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

/// Why a domain no longer vouches for an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadKind {
    /// No DNS name, no mail or address records, or a null MX.
    Unresolvable,
    /// In redemption, pending delete, or past its expiry date.
    Lapsed,
    /// Registered (again) after the address was verified: someone else may hold it now.
    ReRegistered,
}

impl BadKind {
    /// The short name in events and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            BadKind::Unresolvable => "unresolvable",
            BadKind::Lapsed => "lapsed",
            BadKind::ReRegistered => "re-registered",
        }
    }
}

/// The check's verdict on one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Could not find out; retry later (with backoff).
    Unknown(String),
    /// Definitive: a registry document, or DNS confirmed by the registry having no such domain.
    Bad {
        kind: BadKind,
        detail: String,
    },
    /// DNS alone says the domain does not resolve: a resolver glitch looks the same, so it counts
    /// only when a later round (at least [`CONFIRM_AFTER`] on) sees it again.
    Suspect {
        kind: BadKind,
        detail: String,
    },
}

/// How far apart two DNS-only bad sightings must be to take a verification away (µs).
pub const CONFIRM_AFTER: i64 = 10 * 60 * 1_000_000;
/// The longest one round of the periodic job spends asking (the rest waits for the next round).
const JOB_ROUND_BUDGET: Duration = Duration::from_secs(120);
/// The longest one domain's DNS and RDAP questions may take together.
const DOMAIN_PROBE_LIMIT: Duration = Duration::from_secs(45);

/// When to try again after `failures` rounds in a row without an answer (1 = the first):
/// 1 h, 2 h, 4 h, ... but never later than the regular interval (`interval`, µs; 0 = a day).
pub fn retry_delay(failures: i64, interval: i64) -> i64 {
    let cap = if interval > 0 {
        interval
    } else {
        24 * HOUR_MICROS
    };
    let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    HOUR_MICROS.saturating_mul(1_i64 << doublings).min(cap)
}

const LAPSING: &[&str] = &[
    "redemption period",
    "redemptionperiod",
    "pending delete",
    "pendingdelete",
    "pending restore",
    "pendingrestore",
];

/// Judge one address (verified at `verified_at`) from what DNS and RDAP said, at `now`.
/// Only positive evidence makes it bad: a registry's dates and status, or DNS saying the name
/// or its records do not exist. Errors from either source are never a verdict.
pub fn verdict(dns: &DnsOutcome, rdap: &RdapOutcome, verified_at: i64, now: i64) -> Verdict {
    if let RdapOutcome::Found(info) = rdap {
        if let Some(reg) = info.registered_at.filter(|r| *r > verified_at) {
            return Verdict::Bad {
                kind: BadKind::ReRegistered,
                detail: format!(
                    "the domain {} was registered on {} UTC, after the address was verified ({} UTC)",
                    info.domain,
                    iso8601_seconds(reg),
                    iso8601_seconds(verified_at)
                ),
            };
        }
        if let Some(s) = info.statuses.iter().find(|s| LAPSING.contains(&s.as_str())) {
            return Verdict::Bad {
                kind: BadKind::Lapsed,
                detail: format!("the domain {} has the registry status '{s}'", info.domain),
            };
        }
        if let Some(exp) = info.expires_at.filter(|e| *e <= now) {
            return Verdict::Bad {
                kind: BadKind::Lapsed,
                detail: format!(
                    "the domain {} expired on {} UTC",
                    info.domain,
                    iso8601_seconds(exp)
                ),
            };
        }
        if info.statuses.iter().any(|s| s == "inactive") {
            return Verdict::Bad {
                kind: BadKind::Unresolvable,
                detail: format!(
                    "the domain {} is inactive at its registry (no name servers)",
                    info.domain
                ),
            };
        }
    }
    // DNS says no: the registry having no such domain either confirms it; anything else (the
    // registry knows it, RDAP is off or down) leaves it to a second round.
    let unresolvable = |detail: &str| match rdap {
        RdapOutcome::NotFound => Verdict::Bad {
            kind: BadKind::Unresolvable,
            detail: format!("{detail}, and its registry has no such domain (RDAP)"),
        },
        _ => Verdict::Suspect {
            kind: BadKind::Unresolvable,
            detail: detail.to_owned(),
        },
    };
    match dns {
        DnsOutcome::NxDomain => unresolvable("the domain does not exist in DNS (NXDOMAIN)"),
        DnsOutcome::NoRecords => unresolvable("the domain has no MX, A or AAAA records"),
        DnsOutcome::NullMx => unresolvable("the domain publishes a null MX: it accepts no mail"),
        DnsOutcome::Error(e) => Verdict::Unknown(format!("DNS: {e}")),
        DnsOutcome::Resolves => match rdap {
            RdapOutcome::Error(e) => Verdict::Unknown(format!("RDAP: {e}")),
            _ => Verdict::Healthy,
        },
    }
}

/// The domain of an address, lower-cased and in its ASCII (IDNA) form.
pub fn address_domain(address: &str) -> Option<String> {
    let (_, domain) = address.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.');
    match url::Host::parse(domain).ok()? {
        url::Host::Domain(d) if d.contains('.') => Some(d.to_ascii_lowercase()),
        _ => None,
    }
}

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
        out
    }
}

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
        if interval == 0 {
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
        for a in due {
            match address_domain(&a.address) {
                Some(d) => by_domain.entry(d).or_default().push(a),
                // Nothing to ask about (a bare host name, an address literal): recorded as
                // checked so it does not come back every round.
                None => no_domain.push(a.email_id),
            }
        }
        if !no_domain.is_empty() {
            self.db.mark_domain_checked(&no_domain, self.now()).await?;
        }
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
        let bad_ids: Vec<i64> = bad.iter().map(|(a, _, _)| a.email_id).collect();
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
            .filter(|e| e.verified_at.is_some() && e.id != a.email_id && !also_bad.contains(&e.id))
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
mod tests {
    use super::*;
    use crate::domains::rdap::RdapInfo;

    const DAY: i64 = 86_400_000_000;
    const NOW: i64 = 1_767_225_600_000_000;
    const VERIFIED: i64 = NOW - 400 * DAY;

    fn found(f: impl FnOnce(&mut RdapInfo)) -> RdapOutcome {
        let mut i = RdapInfo {
            domain: "example.org".into(),
            registered_at: Some(NOW - 4000 * DAY),
            expires_at: Some(NOW + 100 * DAY),
            last_changed_at: Some(NOW - DAY),
            statuses: vec!["active".into()],
        };
        f(&mut i);
        RdapOutcome::Found(i)
    }

    fn kind(v: Verdict) -> Option<BadKind> {
        match v {
            Verdict::Bad { kind, .. } => Some(kind),
            _ => None,
        }
    }

    fn suspect(v: Verdict) -> Option<BadKind> {
        match v {
            Verdict::Suspect { kind, .. } => Some(kind),
            _ => None,
        }
    }

    #[test]
    fn a_healthy_domain_stays_verified() {
        assert_eq!(
            verdict(&DnsOutcome::Resolves, &found(|_| {}), VERIFIED, NOW),
            Verdict::Healthy
        );
        // Without RDAP (not configured, or no registry object) DNS decides alone.
        for r in [RdapOutcome::Disabled, RdapOutcome::NotFound] {
            assert_eq!(
                verdict(&DnsOutcome::Resolves, &r, VERIFIED, NOW),
                Verdict::Healthy
            );
        }
        // A change to the registration (renewal) is not a re-registration.
        assert_eq!(
            verdict(
                &DnsOutcome::Resolves,
                &found(|i| i.last_changed_at = Some(NOW)),
                VERIFIED,
                NOW
            ),
            Verdict::Healthy
        );
    }

    #[test]
    fn dns_alone_is_a_suspicion_the_registry_confirms() {
        for d in [
            DnsOutcome::NxDomain,
            DnsOutcome::NoRecords,
            DnsOutcome::NullMx,
        ] {
            // A resolver glitch looks the same: without the registry, only a suspicion (an
            // answer, not an error: a second round confirms it).
            for r in [
                RdapOutcome::Disabled,
                RdapOutcome::Error("down".into()),
                found(|_| {}),
            ] {
                assert_eq!(
                    suspect(verdict(&d, &r, VERIFIED, NOW)),
                    Some(BadKind::Unresolvable),
                    "{d:?} {r:?}"
                );
            }
            // The registry has no such domain either: confirmed at once.
            let v = verdict(&d, &RdapOutcome::NotFound, VERIFIED, NOW);
            assert_eq!(kind(v.clone()), Some(BadKind::Unresolvable), "{d:?}");
            let Verdict::Bad { detail, .. } = v else {
                unreachable!()
            };
            assert!(detail.contains("registry has no such domain"), "{detail}");
        }
        // Registry documents stay immediate whatever DNS says.
        assert_eq!(
            kind(verdict(
                &DnsOutcome::Error("timeout".into()),
                &found(|i| i.statuses = vec!["pending delete".into()]),
                VERIFIED,
                NOW
            )),
            Some(BadKind::Lapsed)
        );
        assert_eq!(
            kind(verdict(
                &DnsOutcome::Resolves,
                &found(|i| i.statuses = vec!["inactive".into()]),
                VERIFIED,
                NOW
            )),
            Some(BadKind::Unresolvable)
        );
    }

    #[test]
    fn lapsing_and_expired_domains() {
        for s in ["redemption period", "pending delete", "pendingdelete"] {
            let r = found(|i| i.statuses = vec!["client transfer prohibited".into(), s.into()]);
            assert_eq!(
                kind(verdict(&DnsOutcome::Resolves, &r, VERIFIED, NOW)),
                Some(BadKind::Lapsed),
                "{s}"
            );
        }
        let expired = found(|i| i.expires_at = Some(NOW - DAY));
        assert_eq!(
            kind(verdict(&DnsOutcome::Resolves, &expired, VERIFIED, NOW)),
            Some(BadKind::Lapsed)
        );
    }

    #[test]
    fn registered_after_verification_is_a_new_owner() {
        let r = found(|i| i.registered_at = Some(VERIFIED + DAY));
        let v = verdict(&DnsOutcome::Resolves, &r, VERIFIED, NOW);
        assert_eq!(kind(v.clone()), Some(BadKind::ReRegistered));
        let Verdict::Bad { detail, .. } = v else {
            unreachable!()
        };
        assert!(detail.contains("example.org"), "{detail}");
        // Registered before the verification: fine.
        let r = found(|i| i.registered_at = Some(VERIFIED - 1));
        assert_eq!(
            verdict(&DnsOutcome::Resolves, &r, VERIFIED, NOW),
            Verdict::Healthy
        );
    }

    #[test]
    fn errors_are_never_a_verdict() {
        assert!(matches!(
            verdict(
                &DnsOutcome::Error("timeout".into()),
                &found(|_| {}),
                VERIFIED,
                NOW
            ),
            Verdict::Unknown(_)
        ));
        assert!(matches!(
            verdict(
                &DnsOutcome::Resolves,
                &RdapOutcome::Error("HTTP 503".into()),
                VERIFIED,
                NOW
            ),
            Verdict::Unknown(_)
        ));
        assert!(matches!(
            verdict(
                &DnsOutcome::Error("SERVFAIL".into()),
                &RdapOutcome::Error("down".into()),
                VERIFIED,
                NOW
            ),
            Verdict::Unknown(_)
        ));
    }

    #[test]
    fn domains_of_addresses() {
        assert_eq!(
            address_domain("a@Example.ORG").as_deref(),
            Some("example.org")
        );
        assert_eq!(
            address_domain("a@b@mail.example.org.").as_deref(),
            Some("mail.example.org")
        );
        assert_eq!(
            address_domain("a@bücher.de").as_deref(),
            Some("xn--bcher-kva.de")
        );
        assert_eq!(address_domain("a@localhost"), None);
        assert_eq!(address_domain("a@[192.0.2.1]"), None);
        assert_eq!(address_domain("nobody"), None);
    }

    #[test]
    fn unknowns_back_off_up_to_the_interval() {
        let h = HOUR_MICROS;
        assert_eq!(retry_delay(1, 24 * h), h);
        assert_eq!(retry_delay(2, 24 * h), 2 * h);
        assert_eq!(retry_delay(4, 24 * h), 8 * h);
        assert_eq!(
            retry_delay(6, 24 * h),
            24 * h,
            "never later than the interval"
        );
        assert_eq!(retry_delay(i64::MAX, 24 * h), 24 * h);
        assert_eq!(retry_delay(0, 24 * h), h);
        assert_eq!(retry_delay(3, 2 * h), 2 * h);
        // No interval (checks by hand only): a day at most.
        assert_eq!(retry_delay(10, 0), 24 * h);
    }

    /// Rounds against a fake probe on a SQLite database with a hand-moved clock.
    mod rounds {
        use std::collections::HashMap;
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use super::super::*;
        use crate::domains::rdap::RdapInfo;
        use crate::test_harness::{T0, services};

        const MIN: i64 = 60_000_000;

        /// DNS and RDAP answers by domain (default: resolves, no registry object); counts the
        /// DNS questions per domain; `hang` never answers.
        #[derive(Default)]
        struct Fake {
            dns: Mutex<HashMap<String, DnsOutcome>>,
            rdap: Mutex<HashMap<String, RdapOutcome>>,
            asked: Mutex<HashMap<String, usize>>,
            hang: Vec<String>,
            calls: AtomicUsize,
        }

        impl Fake {
            fn set_dns(&self, d: &str, o: DnsOutcome) {
                self.dns.lock().expect("lock").insert(d.into(), o);
            }
            fn set_rdap(&self, d: &str, o: RdapOutcome) {
                self.rdap.lock().expect("lock").insert(d.into(), o);
            }
            fn asked(&self, d: &str) -> usize {
                self.asked
                    .lock()
                    .expect("lock")
                    .get(d)
                    .copied()
                    .unwrap_or(0)
            }
        }

        impl DomainProbe for Fake {
            async fn dns(&self, domain: &str) -> DnsOutcome {
                self.calls.fetch_add(1, Ordering::SeqCst);
                *self
                    .asked
                    .lock()
                    .expect("lock")
                    .entry(domain.into())
                    .or_default() += 1;
                if self.hang.iter().any(|h| h == domain) {
                    std::future::pending::<()>().await;
                }
                let got = self.dns.lock().expect("lock").get(domain).cloned();
                got.unwrap_or(DnsOutcome::Resolves)
            }
            async fn rdap(&self, domain: &str) -> RdapOutcome {
                let got = self.rdap.lock().expect("lock").get(domain).cloned();
                got.unwrap_or(RdapOutcome::NotFound)
            }
        }

        fn actor() -> Actor {
            Actor {
                id: None,
                name: "job:test".into(),
            }
        }

        async fn add_user(s: &Services, name: &str, address: &str) -> i64 {
            s.create_user(
                name,
                address,
                "a long test passphrase 42",
                false,
                &RequestMeta::default(),
            )
            .await
            .expect("user")
            .id
        }

        async fn verified(s: &Services, user_id: i64) -> bool {
            s.db.emails_of(user_id).await.expect("e")[0]
                .verified_at
                .is_some()
        }

        #[tokio::test]
        async fn a_dns_only_bad_answer_needs_a_second_round_minutes_later() {
            let (s, clock, _dir) = services(|_, _| {}).await;
            let ann = add_user(&s, "ann", "ann@glitch.example").await;
            let bo = add_user(&s, "bo", "bo@gone.example").await;
            let fake = Fake::default();
            // glitch.example: the registry knows it, DNS says NXDOMAIN (a resolver glitch?).
            fake.set_dns("glitch.example", DnsOutcome::NxDomain);
            fake.set_rdap(
                "glitch.example",
                RdapOutcome::Found(RdapInfo {
                    domain: "glitch.example".into(),
                    statuses: vec!["active".into()],
                    ..RdapInfo::default()
                }),
            );
            // gone.example: NXDOMAIN and no registry object: confirmed at once.
            fake.set_dns("gone.example", DnsOutcome::NxDomain);
            let r = s
                .check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
                .await
                .expect("round");
            assert_eq!(
                r.unverified
                    .iter()
                    .map(|u| u.address.as_str())
                    .collect::<Vec<_>>(),
                vec!["bo@gone.example"]
            );
            assert!(verified(&s, ann).await, "one sighting changes nothing");
            assert!(!verified(&s, bo).await);
            let glitch = r
                .domains
                .iter()
                .find(|(d, _)| d == "glitch.example")
                .expect("d");
            assert!(glitch.1.starts_with("suspect: unresolvable"), "{glitch:?}");
            let st = &s.db.email_domain_states(ann).await.expect("s")[0];
            assert_eq!(st.domain_suspect_at, Some(T0));
            assert_eq!(
                st.domain_retry_at,
                Some(T0 + CONFIRM_AFTER),
                "rechecked soon"
            );

            // A second look too soon (an operator running the check twice) confirms nothing.
            clock.advance(MIN);
            let r = s
                .check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
                .await
                .expect("round");
            assert!(r.unverified.is_empty());
            assert_eq!(
                s.db.email_domain_states(ann).await.expect("s")[0].domain_suspect_at,
                Some(T0),
                "the first sighting is kept"
            );

            // The glitch passes: healthy, the suspicion is forgotten.
            fake.set_dns("glitch.example", DnsOutcome::Resolves);
            clock.advance(20 * MIN);
            s.check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
                .await
                .expect("round");
            let st = &s.db.email_domain_states(ann).await.expect("s")[0];
            assert_eq!((st.domain_suspect_at, st.domain_retry_at), (None, None));

            // Bad again: a new first sighting; the periodic round picks the confirmation up when
            // it is due, and the second sighting takes the verification away.
            fake.set_dns("glitch.example", DnsOutcome::NoRecords);
            s.check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
                .await
                .expect("round");
            assert!(verified(&s, ann).await);
            let first = s.now();
            clock.advance(CONFIRM_AFTER - 1);
            let job = |s: &Services| {
                let due_before = s.now() - 24 * HOUR_MICROS;
                let round = Round {
                    due_before,
                    limit: 100,
                    budget: None,
                };
                (due_before, round)
            };
            let (_, rnd) = job(&s);
            let r = s
                .check_domains_round(&fake, &actor(), &RequestMeta::default(), rnd)
                .await
                .expect("round");
            assert_eq!(r.addresses, 0, "the confirmation is not due yet");
            clock.advance(1);
            let (_, rnd) = job(&s);
            let r = s
                .check_domains_round(&fake, &actor(), &RequestMeta::default(), rnd)
                .await
                .expect("round");
            assert_eq!(r.addresses, 1);
            assert_eq!(r.unverified.len(), 1);
            assert!(!verified(&s, ann).await);
            assert!(
                r.unverified[0].reason.contains(&iso8601_seconds(first)),
                "{:?}",
                r.unverified[0]
            );
        }

        #[tokio::test]
        async fn unknowns_are_recorded_backed_off_and_starve_no_one() {
            let (s, clock, _dir) = services(|_, _| {}).await;
            // Three addresses at a domain whose nameservers fail, verified first (so oldest),
            // and one at a healthy domain; rounds of two addresses.
            let mut stuck = Vec::new();
            for n in ["a", "b", "c"] {
                stuck.push(add_user(&s, n, &format!("{n}@servfail.example")).await);
                clock.advance(1);
            }
            let ok = add_user(&s, "okay", "okay@fine.example").await;
            clock.advance(48 * HOUR_MICROS);
            let fake = Fake::default();
            fake.set_dns("servfail.example", DnsOutcome::Error("SERVFAIL".into()));
            let job = |s: &Services| Round {
                due_before: s.now() - 24 * HOUR_MICROS,
                limit: 2,
                budget: None,
            };
            let r = s
                .check_domains_round(&fake, &actor(), &RequestMeta::default(), job(&s))
                .await
                .expect("round");
            assert_eq!(r.retry.len(), 2);
            assert_eq!(fake.asked("servfail.example"), 1, "one question per domain");
            let st = &s.db.email_domain_states(stuck[0]).await.expect("s")[0];
            assert_eq!(
                st.domain_checked_at,
                Some(s.now()),
                "the attempt is recorded"
            );
            assert_eq!(st.domain_failures, 1);
            assert_eq!(st.domain_retry_at, Some(s.now() + HOUR_MICROS));
            // The next round takes the ones not yet attempted: the healthy domain gets its turn.
            let r = s
                .check_domains_round(&fake, &actor(), &RequestMeta::default(), job(&s))
                .await
                .expect("round");
            assert_eq!(r.addresses, 2);
            assert_eq!(fake.asked("fine.example"), 1);
            assert!(
                s.db.email_domain_states(ok).await.expect("s")[0]
                    .domain_checked_at
                    .is_some()
            );
            // Nothing is due until the retry time: the resolver is not hammered.
            let r = s
                .check_domains_round(&fake, &actor(), &RequestMeta::default(), job(&s))
                .await
                .expect("round");
            assert_eq!(r.addresses, 0);
            assert_eq!(fake.asked("servfail.example"), 2);
            // An hour on, the first two are retried; the second failure waits two hours.
            clock.advance(HOUR_MICROS);
            let r = s
                .check_domains_round(&fake, &actor(), &RequestMeta::default(), job(&s))
                .await
                .expect("round");
            assert_eq!(r.retry.len(), 2);
            let st = &s.db.email_domain_states(stuck[0]).await.expect("s")[0];
            assert_eq!(st.domain_failures, 2);
            assert_eq!(st.domain_retry_at, Some(s.now() + 2 * HOUR_MICROS));
            for id in stuck.iter().chain([&ok]) {
                assert!(verified(&s, *id).await, "no answer is never a verdict");
            }
            // An answer resets the count.
            fake.set_dns("servfail.example", DnsOutcome::Resolves);
            clock.advance(2 * HOUR_MICROS);
            s.check_domains_round(&fake, &actor(), &RequestMeta::default(), job(&s))
                .await
                .expect("round");
            let st = &s.db.email_domain_states(stuck[0]).await.expect("s")[0];
            assert_eq!((st.domain_failures, st.domain_retry_at), (0, None));
        }

        #[tokio::test]
        async fn a_hanging_probe_is_cut_off_and_the_round_has_a_budget() {
            let (s, _clock, _dir) = services(|_, _| {}).await;
            let a = add_user(&s, "hang", "hang@slow.example").await;
            add_user(&s, "zed", "zed@zz.example").await;
            let fake = Fake {
                hang: vec!["slow.example".into()],
                ..Fake::default()
            };
            let round = Round {
                due_before: i64::MAX,
                limit: 100,
                budget: Some(Duration::from_millis(300)),
            };
            let r = s
                .check_domains_round(&fake, &actor(), &RequestMeta::default(), round)
                .await
                .expect("round");
            assert_eq!(r.retry, vec!["hang@slow.example".to_owned()]);
            assert!(
                r.domains[0].1.contains("no answer within"),
                "{:?}",
                r.domains
            );
            // The budget was spent on the hanging domain: the other waits for the next round.
            assert_eq!(r.deferred, 1);
            assert_eq!(fake.asked("zz.example"), 0);
            assert!(verified(&s, a).await);
        }

        #[tokio::test]
        async fn addresses_without_a_public_domain_do_not_come_back_every_round() {
            let (s, _clock, _dir) = services(|_, _| {}).await;
            let u = add_user(&s, "local", "root@192.0.2.1").await;
            let fake = Fake::default();
            let r = s
                .check_domains_with(&fake, &actor(), &RequestMeta::default(), s.now(), 100)
                .await
                .expect("round");
            assert_eq!(r.addresses, 1);
            assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
            assert!(verified(&s, u).await);
            let r = s
                .check_domains_with(&fake, &actor(), &RequestMeta::default(), s.now() - 1, 100)
                .await
                .expect("round");
            assert_eq!(r.addresses, 0);
        }
    }
}
