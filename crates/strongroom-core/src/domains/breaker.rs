//! The domain check's circuit breaker: a round that would take the verification away from more
//! than a small share of all verified addresses takes it from none. A resolver that answers
//! NXDOMAIN for the organisation's own mail domain (split-horizon or air-gapped DNS) looks, to
//! the check, exactly like that domain lapsing; the difference is that it hits everyone at once.

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
