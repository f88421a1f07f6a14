//! The domain check's rules: verdicts, backoff, and rounds against a scripted probe.

use super::*;
use crate::domains::rdap::RdapInfo;
use crate::settings::HOUR_MICROS;

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
mod rounds;
