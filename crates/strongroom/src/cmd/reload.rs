//! SIGHUP: load the configuration again from the same sources as at start, apply what can
//! change while serving (the log filter, `proxy.trusted_ips`, the rate limits), and say in one
//! log line what was reloaded and which changed settings need a restart. A configuration that
//! does not load is refused and the running one kept.

use strongroom_core::Services;

use crate::config::Config;
use crate::logging::LogHandle;

/// Keys applied to the running server on SIGHUP (and every `ratelimit.*` key: [`is_live`]).
pub(crate) const LIVE_KEYS: &[&str] = &["log", "proxy.trusted_ips"];

/// Whether a changed key takes effect on SIGHUP: the listed ones and every rate limit
/// (`rate_limits`, the master switch, stays a start-time setting).
pub(crate) fn is_live(key: &str) -> bool {
    LIVE_KEYS.contains(&key) || key.starts_with("ratelimit.")
}

/// What one SIGHUP did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Changed keys applied live.
    pub reloaded: Vec<&'static str>,
    /// Changed keys that take effect only after a restart.
    pub need_restart: Vec<&'static str>,
}

/// The live keys that changed since the last applied configuration, and the other keys that
/// differ from what the process started with (they still wait for a restart).
pub(crate) fn classify(started: &Config, applied: &Config, new: &Config) -> Outcome {
    Outcome {
        reloaded: applied
            .changed_keys(new)
            .into_iter()
            .filter(|k| is_live(k))
            .collect(),
        need_restart: started
            .changed_keys(new)
            .into_iter()
            .filter(|k| !is_live(k))
            .collect(),
    }
}

/// Wait for SIGHUP forever, reloading each time. Installed before the first request, so a
/// SIGHUP never takes the default action (ending the process).
pub(crate) async fn reload_on_sighup(
    mut hup: tokio::signal::unix::Signal,
    started: Config,
    log: Option<LogHandle>,
    services: Services,
) {
    let mut applied = started.clone();
    while hup.recv().await.is_some() {
        let new = match started.reload() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    error = %crate::error_chain(&e),
                    "SIGHUP: the configuration does not load; keeping the running settings"
                );
                continue;
            }
        };
        let outcome = classify(&started, &applied, &new);
        if let Some(log) = &log
            && let Err(e) = log.set_filter(&new.log)
        {
            tracing::error!(error = %e, "SIGHUP: the log filter was not changed");
        }
        services
            .settings
            .trusted_proxies
            .replace(new.trusted_proxies.clone());
        services.reload_limits(new.core_settings().limits);
        let list = |keys: &[&str]| {
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            }
        };
        tracing::info!(
            reloaded = %list(&outcome.reloaded),
            restart_needed = %list(&outcome.need_restart),
            log = %new.log,
            trusted_proxies = %new
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            "SIGHUP: configuration reloaded"
        );
        applied = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Flags;

    fn load(pairs: &[(&str, &str)]) -> Config {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::load_from(&Flags::default(), &env).expect("config")
    }

    #[test]
    fn live_keys_are_reloaded_and_the_rest_waits_for_a_restart() {
        let started = load(&[]);
        let first = load(&[
            ("STRONGROOM_LOG", "debug"),
            ("STRONGROOM_PROXY__TRUSTED_IPS", "10.0.0.0/8"),
            ("STRONGROOM_BIND", "127.0.0.1:9"),
        ]);
        let o = classify(&started, &started, &first);
        assert_eq!(o.reloaded, ["log", "proxy.trusted_ips"]);
        assert_eq!(o.need_restart, ["bind"]);
        // a second SIGHUP with nothing new: nothing reloaded, bind still waits for a restart
        let o = classify(&started, &first, &first);
        assert!(o.reloaded.is_empty());
        assert_eq!(o.need_restart, ["bind"]);
    }
}
