//! The process's log: one subscriber writing to stderr as text or JSON (`log_format`), filtered
//! by `log` (with the database, S3 and HTTP clients' chatter kept below `info` unless the filter
//! names them), colour only on a terminal, and a handle that swaps the filter on SIGHUP.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The libraries whose `info` and `debug` lines are noise to an operator: held at `warn` unless
/// the operator's filter names them (`log = "info,sqlx=debug"`).
pub(crate) const QUIET_TARGETS: &[&str] = &[
    "sqlx",
    "object_store",
    "aws_config",
    "aws_smithy_runtime",
    "aws_sdk_s3",
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tower_http",
    "lettre",
];

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line (for journald/Loki/Elasticsearch pipelines).
    Json,
}

impl LogFormat {
    /// Parse `log_format`.
    pub fn parse(v: &str) -> Result<LogFormat, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("log_format: expected text or json, got '{other}'")),
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// The filter directives actually used for the operator's `log`: theirs, preceded by
/// `<target>=warn` for every quiet target the filter does not name itself.
pub(crate) fn effective_filter(log: &str) -> String {
    let named = |t: &str| {
        log.split(',').any(|d| {
            let target = d.trim().split(['=', '[']).next().unwrap_or("");
            target == t || target.starts_with(&format!("{t}::"))
        })
    };
    let mut out: Vec<String> = QUIET_TARGETS
        .iter()
        .filter(|t| !named(t))
        .map(|t| format!("{t}=warn"))
        .collect();
    out.push(log.trim().to_owned());
    out.join(",")
}

/// Check a `log` value (so a bad one is refused at start and on SIGHUP, not silently replaced).
pub(crate) fn parse_filter(log: &str) -> Result<EnvFilter, String> {
    EnvFilter::try_new(effective_filter(log))
        .map_err(|e| format!("log: '{log}' is not a valid filter: {e}"))
}

/// Swaps the running filter (SIGHUP).
#[derive(Clone)]
pub(crate) struct LogHandle(reload::Handle<EnvFilter, Registry>);

impl LogHandle {
    /// Replace the filter with the one `log` gives.
    pub(crate) fn set_filter(&self, log: &str) -> Result<(), String> {
        let filter = parse_filter(log)?;
        self.0
            .reload(filter)
            .map_err(|e| format!("cannot swap the log filter: {e}"))
    }
}

/// Install the process's subscriber, writing to stderr. Colour only when stderr is a terminal
/// (a file or journald gets plain text). `None` when a subscriber was already installed.
pub(crate) fn init(log: &str, format: LogFormat) -> Result<Option<LogHandle>, String> {
    let filter = parse_filter(log)?;
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(ansi),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stderr)
                    .with_ansi(false),
            )
            .try_init(),
    };
    Ok(installed.ok().map(|()| LogHandle(handle)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_chatter_stays_below_info_unless_named() {
        let f = effective_filter("info");
        assert!(
            f.contains("sqlx=warn") && f.contains("object_store=warn"),
            "{f}"
        );
        assert!(f.contains("hyper=warn") && f.contains("h2=warn") && f.contains("rustls=warn"));
        assert!(f.ends_with(",info"), "{f}");
        // the operator's own directive for a target wins: it is not overridden
        let f = effective_filter("info,sqlx=debug");
        assert!(!f.contains("sqlx=warn"), "{f}");
        assert!(f.contains("hyper=warn"), "{f}");
        let f = effective_filter("debug,hyper_util::client=trace");
        assert!(
            !f.contains("hyper_util=warn") && f.contains("hyper=warn"),
            "{f}"
        );
        assert!(parse_filter("info,sqlx=debug").is_ok());
        assert!(parse_filter("info,sqlx=loud").is_err());
    }

    #[test]
    fn log_format_is_text_or_json() {
        assert_eq!(LogFormat::parse("JSON"), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse("text"), Ok(LogFormat::Text));
        assert!(LogFormat::parse("xml").is_err());
    }
}
