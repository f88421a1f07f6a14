//! The domain check's circuit breaker, judged per domain: a round acts on the bad domains it found
//! smallest first, as long as the addresses it has taken (with the check's unverifications of the
//! last day) stay within a small share of all verified addresses, and holds back (and signals) the
//! domains that would push it over. A resolver that answers NXDOMAIN for the organisation's own
//! mail domain (split-horizon or air-gapped DNS) looks, to the check, exactly like that domain
//! lapsing; the difference is that it hits many people at once, so that one big domain is held
//! while a lone lapsed domain next to it is still acted on.
//!
//! Why the order is hard to game: a domain goes first when it has fewer verified addresses, then
//! when it was first seen bad earlier, then when its oldest verification is older, then by name.
//! To keep a victim's lapsed domain from being acted on, an attacker must fill the whole budget
//! ahead of it: more lapsing domains with verified accounts than the budget allows (at least
//! [`ALWAYS_ALLOWED`], and a share of everyone), each no bigger than the victim's, each seen bad
//! before it (or in the same round and verified before the victim's address was). Those domains
//! are then unverified themselves, and the victim's domain is named in the held-back signal every
//! hour; after the window the budget is free again, so the attacker has to repeat it every day
//! with fresh domains and fresh verified accounts. Making the victim's domain look big does not
//! help either: only addresses at that very domain count for it.

/// The default share (`domains.max_unverify_share`): 5 % of the verified addresses.
pub const DEFAULT_SHARE: f64 = 0.05;

/// Addresses the check unverified within this many hours (or the check interval, if longer)
/// count against each later round's share.
pub const WINDOW_HOURS: u64 = 24;

/// A round may always unverify this many addresses, whatever the share says: on a small install
/// (three accounts) one lapsed domain must still be acted on, while a whole office is not.
pub const ALWAYS_ALLOWED: u64 = 2;

/// How many addresses one round may unverify when `verified` addresses are verified in all:
/// `max(ALWAYS_ALLOWED, floor(share × verified))`. A share outside 0..=1 (or not a number) is
/// taken as the nearest bound, 0 when not a number.
pub fn allowed(verified: u64, share: f64) -> u64 {
    let share = if share.is_nan() {
        0.0
    } else {
        share.clamp(0.0, 1.0)
    };
    // Exact for any count below 2^53; a larger install does not exist.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    #[allow(clippy::cast_sign_loss)]
    let by_share = (share * verified as f64).floor() as u64;
    by_share.min(verified).max(ALWAYS_ALLOWED)
}

/// Whether a round that would unverify `would_unverify` of `verified` addresses must stop:
/// more than `share` of them, and more than [`ALWAYS_ALLOWED`].
pub fn trips(would_unverify: u64, verified: u64, share: f64) -> bool {
    would_unverify > allowed(verified, share)
}

/// A bad domain a round would act on: every verified address at it goes at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadDomain {
    pub domain: String,
    /// Verified addresses at the domain (all of them, not only the round's).
    pub addresses: u64,
    /// The earliest bad sighting of any of its addresses (µs).
    pub first_bad: i64,
    /// The oldest verification among its addresses (µs).
    pub oldest_verified: i64,
}

/// Which bad domains a round acts on and which it holds back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Acted on, in the order they were taken.
    pub act: Vec<BadDomain>,
    /// Held back: taking them would go over the share.
    pub held: Vec<BadDomain>,
}

/// Split `bad` domains into those a round acts on and those it holds back, when `recent`
/// addresses were unverified by the check within the window and `verified` are verified in all
/// (the recent ones included): smallest first (ties: first seen bad earlier, then the older
/// verification, then the name), each taken while the running total, starting from `recent`,
/// stays within [`allowed`]. Sorted so, once one domain does not fit no later one does.
pub fn split(mut bad: Vec<BadDomain>, recent: u64, verified: u64, share: f64) -> Split {
    bad.sort_by(|a, b| {
        a.addresses
            .cmp(&b.addresses)
            .then(a.first_bad.cmp(&b.first_bad))
            .then(a.oldest_verified.cmp(&b.oldest_verified))
            .then_with(|| a.domain.cmp(&b.domain))
    });
    let limit = allowed(verified, share);
    let mut taken = recent;
    let mut out = Split::default();
    for d in bad {
        let next = taken.saturating_add(d.addresses);
        if out.held.is_empty() && next <= limit {
            taken = next;
            out.act.push(d);
        } else {
            out.held.push(d);
        }
    }
    out
}

/// `domains.max_unverify_share` from its text: a number from 0 to 1 (`0.05`) or a percentage
/// (`5%`).
pub fn parse_share(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(p) => (p.trim(), 100.0),
        None => (t, 1.0),
    };
    let bad = || {
        format!(
            "domains.max_unverify_share: expected a share from 0 to 1 (0.05) or a percentage (5%), got '{text}'"
        )
    };
    let v: f64 = number.parse().map_err(|_| bad())?;
    let v = v / scale;
    if !v.is_finite() || !(0.0..=1.0).contains(&v) {
        return Err(bad());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_is_of_all_verified_addresses_with_a_floor() {
        // 200 people, 5 %: ten may go in one round, the eleventh stops it.
        assert_eq!(allowed(200, 0.05), 10);
        assert!(!trips(10, 200, 0.05));
        assert!(trips(11, 200, 0.05));
        // "More than the share": exactly the share is allowed, a fraction above it is not.
        assert_eq!(allowed(100, 0.05), 5);
        assert!(!trips(5, 100, 0.05));
        assert!(trips(6, 100, 0.05));
        assert_eq!(allowed(119, 0.05), 5, "5.95 rounds down");
        // A small install: one lapsed domain is acted on, a whole office is not.
        assert_eq!(allowed(3, 0.05), ALWAYS_ALLOWED);
        assert!(!trips(1, 3, 0.05));
        assert!(!trips(2, 3, 0.05));
        assert!(trips(3, 3, 0.05));
        // Nothing to unverify never trips, even with nothing verified.
        assert!(!trips(0, 0, 0.05));
        assert!(!trips(0, 10_000, 0.0));
        // A share of 0 leaves only the floor; 1 never stops anything.
        assert_eq!(allowed(10_000, 0.0), ALWAYS_ALLOWED);
        assert!(!trips(10_000, 10_000, 1.0));
        assert!(
            trips(10_001, 10_000, 1.0),
            "more than there are is still more"
        );
        // Out-of-range shares are clamped, not trusted.
        assert_eq!(allowed(100, 7.0), 100);
        assert_eq!(allowed(100, -1.0), ALWAYS_ALLOWED);
        assert_eq!(allowed(100, f64::NAN), ALWAYS_ALLOWED);
        assert_eq!(allowed(u64::MAX, 1.0), u64::MAX);
    }

    fn bad(domain: &str, addresses: u64, first_bad: i64, oldest_verified: i64) -> BadDomain {
        BadDomain {
            domain: domain.into(),
            addresses,
            first_bad,
            oldest_verified,
        }
    }

    fn names(v: &[BadDomain]) -> Vec<&str> {
        v.iter().map(|d| d.domain.as_str()).collect()
    }

    #[test]
    fn a_lone_lapsed_domain_is_acted_on_beside_a_tripping_one() {
        // The red team's case: 44 verified, the budget is the floor (2); three attacker
        // accounts at one lapsing domain would trip it, the victim's one address does not.
        let s = split(
            vec![bad("attacker.test", 3, 10, 1), bad("lapsed.test", 1, 10, 5)],
            0,
            44,
            0.05,
        );
        assert_eq!(names(&s.act), ["lapsed.test"]);
        assert_eq!(names(&s.held), ["attacker.test"]);
        // The intranet: the company's domain is held, the lone lapsed one still goes.
        let s = split(
            vec![bad("intranet.test", 6, 0, 0), bad("lapsed.test", 1, 0, 0)],
            0,
            10,
            0.05,
        );
        assert_eq!(names(&s.act), ["lapsed.test"]);
        assert_eq!(names(&s.held), ["intranet.test"]);
        // Within the share everything goes; the day's unverifications use the budget up.
        let s = split(
            vec![bad("a.test", 5, 0, 0), bad("b.test", 5, 0, 0)],
            0,
            200,
            0.05,
        );
        assert_eq!((s.act.len(), s.held.len()), (2, 0));
        let s = split(
            vec![bad("a.test", 5, 0, 0), bad("b.test", 5, 0, 0)],
            1,
            200,
            0.05,
        );
        assert_eq!(
            (names(&s.act), names(&s.held)),
            (vec!["a.test"], vec!["b.test"])
        );
        let s = split(vec![bad("a.test", 1, 0, 0)], 2, 44, 0.05);
        assert_eq!((s.act.len(), s.held.len()), (0, 1), "the budget is spent");
        // Once one does not fit, nothing later goes, even what would fit a gap: the order is
        // the budget's order, and a held domain is never overtaken by a bigger one.
        let s = split(
            vec![
                bad("a.test", 1, 0, 0),
                bad("b.test", 2, 0, 0),
                bad("c.test", 2, 0, 0),
            ],
            0,
            60,
            0.05,
        );
        assert_eq!(
            (names(&s.act), names(&s.held)),
            (vec!["a.test", "b.test"], vec!["c.test"])
        );
        // Nothing bad, nothing to split.
        assert_eq!(split(Vec::new(), 0, 0, 0.05), Split::default());
    }

    #[test]
    fn ties_go_to_the_earlier_sighting_then_the_older_verification_then_the_name() {
        // Two single-address domains, one slot: the one seen bad first goes, whatever its name.
        let s = split(
            vec![bad("aaa.test", 1, 20, 0), bad("zzz.test", 1, 10, 9)],
            1,
            10,
            0.05,
        );
        assert_eq!(names(&s.act), ["zzz.test"]);
        // Seen in the same round: the older verification goes (the attacker's fresh accounts
        // do not push a long-standing victim back).
        let s = split(
            vec![bad("aaa.test", 1, 10, 50), bad("zzz.test", 1, 10, 5)],
            1,
            10,
            0.05,
        );
        assert_eq!(names(&s.act), ["zzz.test"]);
        // Only the name is left.
        let s = split(
            vec![bad("zzz.test", 1, 10, 5), bad("aaa.test", 1, 10, 5)],
            1,
            10,
            0.05,
        );
        assert_eq!(names(&s.act), ["aaa.test"]);
    }

    #[test]
    fn shares_parse_as_fractions_or_percentages() {
        assert_eq!(parse_share("0.05"), Ok(0.05));
        assert_eq!(parse_share(" 5% "), Ok(0.05));
        assert_eq!(parse_share("0"), Ok(0.0));
        assert_eq!(parse_share("1"), Ok(1.0));
        assert_eq!(parse_share("100%"), Ok(1.0));
        for bad in ["", "5", "-0.1", "1.5", "NaN", "inf", "five", "%"] {
            let e = parse_share(bad).expect_err(bad);
            assert!(e.starts_with("domains.max_unverify_share"), "{e}");
        }
    }
}
