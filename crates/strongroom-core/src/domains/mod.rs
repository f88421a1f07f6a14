//! Email-domain checks (the `ctx` door): a verified address is only as good as its domain. Every
//! verified address's domain is looked up in DNS (MX, else A/AAAA) and in RDAP (status, expiry,
//! registration date). A domain that no longer resolves, is lapsing or expired, or was
//! (re)registered after the address was verified takes the verification away: the address gets
//! no more password resets, and the account's other verified addresses are told. Failing to find
//! out (timeouts, SERVFAIL, RDAP down) never changes anything; the address is retried next round.

pub mod dns;
pub mod rdap;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use strongroom_store::DomainCheckAddress;

use crate::accounts::purpose;
use crate::clock::iso8601_seconds;
use crate::mail::notice;
use crate::settings::hours;
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
            client: rdap::client(),
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
    /// Could not find out; retry next round.
    Unknown(String),
    Bad {
        kind: BadKind,
        detail: String,
    },
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
    let unresolvable = |detail: &str| Verdict::Bad {
        kind: BadKind::Unresolvable,
        detail: detail.to_owned(),
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
    /// Addresses left for the next round (no verdict).
    pub retry: Vec<String>,
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

    /// The periodic job: addresses not checked for `domains.check_interval_hours` (0 = never).
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
        let report = self
            .check_domains_with(&probe, &actor, &RequestMeta::default(), due_before, 500)
            .await?;
        for r in &report.retry {
            tracing::warn!(address = %r, "domain check found nothing out; retrying next round");
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

    /// One round: addresses verified or checked before `due_before`, each domain asked once.
    pub async fn check_domains_with<P: DomainProbe>(
        &self,
        probe: &P,
        actor: &Actor,
        meta: &RequestMeta,
        due_before: i64,
        limit: i64,
    ) -> Result<DomainReport, CoreError> {
        let due = self
            .db
            .addresses_due_for_domain_check(due_before, limit)
            .await?;
        let mut by_domain: BTreeMap<String, Vec<DomainCheckAddress>> = BTreeMap::new();
        let mut report = DomainReport {
            addresses: due.len(),
            ..DomainReport::default()
        };
        for a in due {
            match address_domain(&a.address) {
                Some(d) => by_domain.entry(d).or_default().push(a),
                None => report.retry.push(a.address),
            }
        }
        // First every verdict, then the changes: a notice never goes to an address this very
        // round is about to find bad.
        let mut bad: Vec<(DomainCheckAddress, BadKind, String)> = Vec::new();
        for (domain, addresses) in by_domain {
            let (dns, rdap) = tokio::join!(probe.dns(&domain), probe.rdap(&domain));
            let now = self.now();
            let mut healthy = Vec::new();
            let mut summary = "healthy".to_owned();
            for a in addresses {
                match verdict(&dns, &rdap, a.verified_at, now) {
                    Verdict::Healthy => healthy.push(a.email_id),
                    Verdict::Unknown(why) => {
                        summary = format!("unknown: {why}");
                        report.retry.push(a.address);
                    }
                    Verdict::Bad { kind, detail } => {
                        summary = format!("{}: {detail}", kind.as_str());
                        bad.push((a, kind, detail));
                    }
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
    fn dns_says_it_does_not_resolve() {
        for d in [
            DnsOutcome::NxDomain,
            DnsOutcome::NoRecords,
            DnsOutcome::NullMx,
        ] {
            assert_eq!(
                kind(verdict(&d, &RdapOutcome::Disabled, VERIFIED, NOW)),
                Some(BadKind::Unresolvable),
                "{d:?}"
            );
            // Even when RDAP is down: NXDOMAIN is an answer, not an error.
            assert_eq!(
                kind(verdict(
                    &d,
                    &RdapOutcome::Error("down".into()),
                    VERIFIED,
                    NOW
                )),
                Some(BadKind::Unresolvable)
            );
        }
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
}
