//! The `ratelimit.*` keys (one per `strongroom_core::limits::Limit`) and the password-hashing
//! pool's `password.hash_*` keys: their defaults and their parsing.

use anyhow::{Context, bail};
use strongroom_core::limits::{Limit, Limits, Rate};

/// What these keys set.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub limits: Limits,
    pub hash_concurrency: usize,
    pub hash_wait_secs: u64,
}

/// The config key of `limit`.
pub(super) fn key(limit: Limit) -> String {
    format!("ratelimit.{}", limit.name())
}

/// Every key's default, rendered from the core's defaults (the one source).
pub(super) fn defaults() -> Vec<(String, String)> {
    let core = strongroom_core::Settings::default();
    let mut out: Vec<(String, String)> = Limit::ALL
        .iter()
        .map(|l| (key(*l), core.limits.rate(*l).to_string()))
        .collect();
    out.push((
        "password.hash_concurrency".into(),
        core.hash_concurrency.to_string(),
    ));
    out.push((
        "password.hash_wait_seconds".into(),
        core.hash_wait_secs.to_string(),
    ));
    out
}

/// Parse every key (`get` gives the effective value, defaults included).
pub(super) fn parse(get: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<LimitSettings> {
    let mut limits = Limits::default();
    for l in Limit::ALL {
        let k = key(*l);
        if let Some(text) = get(&k) {
            let rate: Rate = text.parse().with_context(|| k.clone())?;
            limits.set(*l, rate);
        }
    }
    let num = |k: &str| -> anyhow::Result<u64> {
        let v = get(k).unwrap_or_default();
        v.trim()
            .parse::<u64>()
            .with_context(|| format!("{k}: expected a whole number, got '{v}'"))
    };
    let hash_concurrency = match num("password.hash_concurrency")? {
        0 => {
            bail!("password.hash_concurrency must be at least 1 (password hashes computed at once)")
        }
        n => usize::try_from(n).context("password.hash_concurrency: out of range")?,
    };
    let hash_wait_secs = match num("password.hash_wait_seconds")? {
        0 => bail!("password.hash_wait_seconds must be at least 1 (every wait has a bound)"),
        n => n,
    };
    Ok(LimitSettings {
        limits,
        hash_concurrency,
        hash_wait_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_has_a_documented_key() {
        for l in Limit::ALL {
            let k = key(*l);
            let found = super::super::keys::KEYS.iter().find(|x| x.name == k);
            let found = found.unwrap_or_else(|| panic!("{k} is not in config/keys.rs"));
            assert_eq!(
                found.help,
                l.help(),
                "{k}: keys.rs and core::limits disagree"
            );
        }
        for k in ["password.hash_concurrency", "password.hash_wait_seconds"] {
            assert!(super::super::keys::KEYS.iter().any(|x| x.name == k), "{k}");
        }
    }

    fn load(pairs: &[(&str, &str)]) -> anyhow::Result<super::super::Config> {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        super::super::Config::load_from(&super::super::Flags::default(), &env)
    }

    #[test]
    fn each_limit_is_its_own_key_listed_with_its_default_and_help() {
        let c = load(&[]).expect("config");
        let shown = c.show();
        for l in Limit::ALL {
            let line = shown
                .lines()
                .find(|x| x.starts_with(&format!("{} ", key(*l))))
                .unwrap_or_else(|| panic!("{} missing from config show", key(*l)));
            assert!(line.contains(l.default_text()), "{line}");
            assert!(
                line.contains("# default (") && line.contains(l.help()),
                "{line}"
            );
        }
        assert!(shown.contains("ratelimit.login_global"));
        assert!(shown.contains("1000 per 5 minutes"));
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(c.limits.hash_concurrency, cpus);
        assert!(shown.contains("password.hash_concurrency"));
    }

    #[test]
    fn a_set_rate_reaches_the_core_settings() {
        let c = load(&[
            ("STRONGROOM_RATELIMIT__PROJECT_CREATE_USER", "500 per hour"),
            (
                "STRONGROOM_RATELIMIT__LOGIN_GLOBAL",
                "5 per 2 minutes, 100 per day",
            ),
            ("STRONGROOM_PASSWORD__HASH_CONCURRENCY", "2"),
        ])
        .expect("config");
        let core = c.core_settings();
        assert_eq!(
            core.limits.rate(Limit::ProjectCreateUser).to_string(),
            "500 per hour"
        );
        assert_eq!(
            core.limits.rate(Limit::LoginGlobal).to_string(),
            "5 per 2 minutes, 100 per day"
        );
        assert_eq!(
            core.limits.rate(Limit::LoginUser).to_string(),
            "10 per 5 minutes"
        );
        assert_eq!(core.hash_concurrency, 2);
        assert!(
            c.show()
                .contains("STRONGROOM_RATELIMIT__PROJECT_CREATE_USER")
        );
    }

    #[test]
    fn bad_rates_and_counts_are_refused_naming_the_key() {
        for (var, value, says) in [
            (
                "STRONGROOM_RATELIMIT__LOGIN_IP",
                "ten per minute",
                "ratelimit.login_ip",
            ),
            (
                "STRONGROOM_RATELIMIT__REGISTER_IP",
                "5 per fortnight",
                "unknown period",
            ),
            ("STRONGROOM_RATELIMIT__VERIFY_EMAIL", "5", "N per PERIOD"),
            ("STRONGROOM_PASSWORD__HASH_CONCURRENCY", "0", "at least 1"),
            ("STRONGROOM_PASSWORD__HASH_WAIT_SECONDS", "0", "at least 1"),
        ] {
            let err = format!("{:#}", load(&[(var, value)]).expect_err(var));
            assert!(err.contains(says), "{var}={value}: {err}");
        }
    }
}
