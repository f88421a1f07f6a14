//! The verdict on one address from what DNS and RDAP said: only positive evidence (a registry's
//! dates and status, DNS saying the name or its records do not exist) takes a verification away;
//! a DNS-only sighting is a suspicion until a second round confirms it.

use crate::clock::iso8601_seconds;
use crate::settings::HOUR_MICROS;

use super::DnsOutcome;
use super::rdap::RdapOutcome;

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
