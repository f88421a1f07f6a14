//! The rate limits as settings: every limit has a name (`ratelimit.<name>`), a rate written
//! `"N per PERIOD"` (several joined by commas: `"5 per 5 minutes, 20 per hour"`), a default
//! (Warehouse's number where Warehouse has the limit) and a help line. [`Limits`] holds one rate
//! per limit; the server reads it through `Services::limits()`, which a reload can replace.

use std::fmt;
use std::str::FromStr;

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// One window: at most `max` hits per `window` microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub max: i64,
    pub window: i64,
}

/// A limit's rate: every window must have room for a hit to be allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    windows: Vec<Window>,
}

impl Rate {
    /// The windows, shortest first as written.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// The longest window, microseconds (how long a hit matters).
    pub fn longest(&self) -> i64 {
        self.windows.iter().map(|w| w.window).max().unwrap_or(0)
    }
}

/// Why a rate string was refused (the message names what to write instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{text}': {why} (write it as \"N per PERIOD\", e.g. \"10 per 5 minutes\" or \"5 per 5 minutes, 20 per hour\"; PERIOD is second, minute, hour or day, optionally with a count)"
)]
pub struct RateError {
    text: String,
    why: String,
}

fn unit(word: &str) -> Option<i64> {
    match word {
        "second" | "seconds" | "sec" | "secs" | "s" => Some(SECOND),
        "minute" | "minutes" | "min" | "mins" | "m" => Some(MINUTE),
        "hour" | "hours" | "h" => Some(HOUR),
        "day" | "days" | "d" => Some(DAY),
        _ => None,
    }
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(text: &str) -> Result<Rate, RateError> {
        let fail = |why: String| RateError {
            text: text.to_owned(),
            why,
        };
        let mut windows = Vec::new();
        for part in text.split([',', ';']) {
            let part = part.trim().to_ascii_lowercase();
            if part.is_empty() {
                return Err(fail("an empty rate".into()));
            }
            let words: Vec<&str> = part.split_whitespace().collect();
            let (n, period) = match words.as_slice() {
                [n, "per", period @ ..] | [n, "/", period @ ..] if !period.is_empty() => {
                    (*n, period)
                }
                _ => return Err(fail(format!("'{part}' is not \"N per PERIOD\""))),
            };
            let max: i64 = n
                .parse()
                .ok()
                .filter(|m| *m >= 1 && *m <= 1_000_000_000)
                .ok_or_else(|| fail(format!("'{n}' is not a count from 1 to 1000000000")))?;
            let (count, word) = match period {
                [word] => (1, *word),
                [count, word] => (
                    count
                        .parse::<i64>()
                        .ok()
                        .filter(|c| *c >= 1 && *c <= 10_000)
                        .ok_or_else(|| {
                            fail(format!(
                                "'{count}' is not a number of periods from 1 to 10000"
                            ))
                        })?,
                    *word,
                ),
                _ => return Err(fail(format!("'{}' is not a period", period.join(" ")))),
            };
            let len = unit(word).ok_or_else(|| fail(format!("unknown period '{word}'")))?;
            let window = count * len;
            if window > 31 * DAY {
                return Err(fail("a period longer than 31 days".into()));
            }
            windows.push(Window { max, window });
        }
        Ok(Rate { windows })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.windows.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let (count, word) = [(DAY, "day"), (HOUR, "hour"), (MINUTE, "minute")]
                .into_iter()
                .find(|(len, _)| w.window % len == 0)
                .map_or((w.window / SECOND, "second"), |(len, word)| {
                    (w.window / len, word)
                });
            match count {
                1 => write!(f, "{} per {word}", w.max)?,
                n => write!(f, "{} per {n} {word}s", w.max)?,
            }
        }
        Ok(())
    }
}

macro_rules! limits {
    ($( $(#[doc = $doc:literal])* $variant:ident = $key:literal, $default:literal, $help:literal; )*) => {
        /// One rate limit of the index (its key is `ratelimit.<name>`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Limit {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Limit {
            /// Every limit, in the order `config show` lists them.
            pub const ALL: &'static [Limit] = &[$(Limit::$variant),*];

            /// The name after `ratelimit.`.
            pub fn name(self) -> &'static str {
                match self { $(Limit::$variant => $key,)* }
            }

            /// The default rate as written in `config show`.
            pub fn default_text(self) -> &'static str {
                match self { $(Limit::$variant => $default,)* }
            }

            /// One line for `config show`.
            pub fn help(self) -> &'static str {
                match self { $(Limit::$variant => $help,)* }
            }
        }
    };
}

limits! {
    /// Failed logins per username (unknown usernames count too).
    LoginUser = "login_user", "10 per 5 minutes",
        "failed logins per username (checked before the password)";
    /// Failed logins per client address.
    LoginIp = "login_ip", "10 per 5 minutes",
        "failed logins per client address; when full, only a login that goes on to a valid second factor or passkey gets through";
    /// Failed logins on the whole index.
    LoginGlobal = "login_global", "1000 per 5 minutes",
        "failed logins on the whole index; when full, password-only logins wait, logins with a valid second factor or passkey do not";
    /// Failed second-factor attempts per account (TOTP, WebAuthn and recovery codes share it).
    TwoFactorUser = "two_factor_user", "5 per 5 minutes, 20 per hour, 50 per day",
        "failed second-factor attempts per account (TOTP, passkeys and recovery codes together)";
    /// Failed second-factor attempts per client address.
    TwoFactorIp = "two_factor_ip", "10 per 5 minutes, 50 per hour",
        "failed second-factor attempts per client address";
    /// Password reset requests per account or per typed name/address.
    PasswordReset = "password_reset", "5 per day",
        "password-reset mails per account (and per name or address typed)";
    /// Verification mails per account.
    VerifyEmail = "verify_email", "3 per 6 hours",
        "address-verification mails per account";
    /// Addresses added per client address.
    EmailAddIp = "email_add_ip", "2 per day",
        "email addresses added per client address";
    /// Address changes per account.
    EmailChangeUser = "email_change_user", "5 per 5 minutes, 20 per hour",
        "email address changes per account";
    /// Registrations per client address.
    RegisterIp = "register_ip", "10 per 5 minutes, 30 per hour",
        "new accounts registered per client address";
    /// Mails telling an address that someone tried to register it or add it to another account.
    TakenAddressNotice = "taken_address_notice", "3 per day",
        "notices to an address that someone tried to register it or add it elsewhere";
    /// New projects per account (administrators are exempt).
    ProjectCreateUser = "project_create_user", "20 per hour",
        "new projects per account; administrators are exempt (raise it for a seeding account's import window)";
    /// New projects per client address (administrators are exempt).
    ProjectCreateIp = "project_create_ip", "40 per hour",
        "new projects per client address; administrators are exempt";
    /// State changes of one account that each log and mail the Owners (yank, unyank, invite,
    /// revoke an invitation, change a role).
    StateChangesUser = "state_changes_user", "20 per minute, 200 per hour",
        "yanks, invitations and role changes per account (each logs and mails the Owners)";
}

/// One rate per [`Limit`]: what the index enforces now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    rates: Vec<Rate>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rates: Limit::ALL
                .iter()
                .map(|l| {
                    l.default_text()
                        .parse()
                        .unwrap_or_else(|e| panic!("default of ratelimit.{}: {e}", l.name()))
                })
                .collect(),
        }
    }
}

impl Limits {
    fn index(limit: Limit) -> usize {
        Limit::ALL.iter().position(|l| *l == limit).unwrap_or(0)
    }

    /// The rate of `limit`.
    pub fn rate(&self, limit: Limit) -> &Rate {
        &self.rates[Self::index(limit)]
    }

    /// Replace the rate of `limit`.
    pub fn set(&mut self, limit: Limit, rate: Rate) {
        self.rates[Self::index(limit)] = rate;
    }

    /// The longest window of any limit (hits older than this can be forgotten).
    pub fn longest(&self) -> i64 {
        self.rates.iter().map(Rate::longest).max().unwrap_or(DAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print_back() {
        for (text, windows) in [
            ("10 per 5 minutes", vec![(10, 5 * MINUTE)]),
            ("1 per second", vec![(1, SECOND)]),
            ("3 per 6 hours", vec![(3, 6 * HOUR)]),
            (
                "5 per 5 minutes, 20 per hour, 50 per day",
                vec![(5, 5 * MINUTE), (20, HOUR), (50, DAY)],
            ),
            ("20 Per Hour; 7 per 2 days", vec![(20, HOUR), (7, 2 * DAY)]),
        ] {
            let r: Rate = text.parse().expect(text);
            let got: Vec<(i64, i64)> = r.windows().iter().map(|w| (w.max, w.window)).collect();
            assert_eq!(got, windows, "{text}");
            let again: Rate = r.to_string().parse().expect("printed form parses");
            assert_eq!(again, r, "{text} -> {r}");
        }
        assert_eq!(
            "10 per 300 seconds"
                .parse::<Rate>()
                .expect("rate")
                .to_string(),
            "10 per 5 minutes"
        );
    }

    #[test]
    fn bad_rates_say_what_is_wrong() {
        for (text, says) in [
            ("", "empty"),
            ("ten per hour", "'ten' is not a count"),
            ("0 per hour", "is not a count"),
            ("10 per fortnight", "unknown period 'fortnight'"),
            ("10 per 0 minutes", "number of periods"),
            ("10 hour", "not \"N per PERIOD\""),
            ("10 per hour,", "empty"),
            ("10 per 40 days", "longer than 31 days"),
        ] {
            let e = text.parse::<Rate>().expect_err(text).to_string();
            assert!(e.contains(says), "{text}: {e}");
            assert!(e.contains("N per PERIOD"), "{text}: {e}");
        }
    }

    #[test]
    fn every_limit_has_a_parsable_default_and_a_unique_name() {
        let limits = Limits::default();
        let mut names = std::collections::HashSet::new();
        for l in Limit::ALL {
            assert!(names.insert(l.name()), "{} twice", l.name());
            assert_eq!(
                limits.rate(*l).to_string(),
                l.default_text(),
                "{}",
                l.name()
            );
            assert!(!l.help().is_empty());
        }
        assert_eq!(limits.longest(), DAY);
    }
}
