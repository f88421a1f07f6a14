//! The chronology of an account or a project from the event log, the way incident reports
//! tell it: time, actor, action, target, details — as text lines or as JSON.

use strongroom_store::model::Event;

use crate::clock::iso8601_seconds;
use crate::{CoreError, Services};

/// Whose history.
#[derive(Debug, Clone, Copy)]
pub enum TimelineOf<'a> {
    /// An account by username (deleted accounts included).
    User(&'a str),
    /// A project by name (any status).
    Project(&'a str),
}

/// One line of a timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimelineEntry {
    pub seq: i64,
    /// Microseconds since the epoch.
    pub at: i64,
    /// `2026-11-22T13:05:01Z`.
    pub time: String,
    pub actor: String,
    pub action: String,
    /// `user alice`, `project foo`, `site read_only`, `name foo`.
    pub target: String,
    pub details: serde_json::Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The HTTP request that caused it (`X-Request-Id`; the server's request log line).
    pub request_id: Option<String>,
}

impl TimelineEntry {
    pub(crate) fn from_event(e: &Event) -> TimelineEntry {
        TimelineEntry {
            seq: e.seq,
            at: e.at,
            time: format!("{}Z", iso8601_seconds(e.at)),
            actor: e.actor_name.clone().unwrap_or_else(|| "-".into()),
            action: e.action.clone(),
            target: match &e.subject_name {
                Some(n) => format!("{} {n}", e.subject_kind),
                None => e.subject_kind.clone(),
            },
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
            ip: e.ip.clone(),
            user_agent: e.user_agent.clone(),
            request_id: e.request_id.clone(),
        }
    }

    /// `2026-11-22 13:05:01Z  actor  action  target  k=v ... (ip, user agent)`.
    pub fn text_line(&self) -> String {
        let mut line = format!(
            "{}  {}  {}  {}",
            self.time.replacen('T', " ", 1),
            self.actor,
            self.action,
            self.target
        );
        if let serde_json::Value::Object(m) = &self.details {
            let parts: Vec<String> = m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!("{k}={}", quote(s)),
                    other => format!("{k}={other}"),
                })
                .collect();
            if !parts.is_empty() {
                line.push_str("  ");
                line.push_str(&parts.join(" "));
            }
        }
        match (&self.ip, &self.user_agent) {
            (None, None) => {}
            (ip, ua) => line.push_str(&format!(
                "  ({}, {})",
                ip.as_deref().unwrap_or("-"),
                ua.as_deref().unwrap_or("-")
            )),
        }
        if let Some(id) = &self.request_id {
            line.push_str(&format!("  request {id}"));
        }
        line
    }
}

/// A value shown bare when it has no spaces or quotes, else JSON-quoted.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c.is_control())
    {
        s.to_owned()
    } else {
        serde_json::Value::String(s.to_owned()).to_string()
    }
}

/// The timeline as text, one line per event.
pub fn timeline_text(entries: &[TimelineEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        out.push_str(&e.text_line());
        out.push('\n');
    }
    out
}

/// Parse an RFC 3339 UTC time (`2026-11-22T13:00:00Z`, fractional seconds and offsets
/// accepted; a bare date means its midnight UTC) into microseconds.
pub fn parse_time(s: &str) -> Result<i64, CoreError> {
    let bad = || {
        CoreError::Invalid(format!(
            "invalid time '{s}': use RFC 3339, like 2026-11-22T13:00:00Z"
        ))
    };
    let s = s.trim();
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, "00:00:00Z"),
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, mo, da] = d.as_slice() else {
        return Err(bad());
    };
    let (y, mo, da): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        mo.parse().map_err(|_| bad())?,
        da.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || y.to_string().len() != 4 {
        return Err(bad());
    }
    // Offset: Z, or +hh:mm / -hh:mm at the end.
    let (clock, offset_secs) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if rest.len() > 6 && matches!(rest.as_bytes()[rest.len() - 6], b'+' | b'-') {
        let (c, off) = rest.split_at(rest.len() - 6);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':').ok_or_else(bad)?;
        let h: i64 = h.parse().map_err(|_| bad())?;
        let m: i64 = m.parse().map_err(|_| bad())?;
        (c, sign * (h * 3600 + m * 60))
    } else {
        return Err(bad());
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((a, b)) => (a, b),
        None => (clock, ""),
    };
    let t: Vec<&str> = hms.split(':').collect();
    let [h, mi, se] = t.as_slice() else {
        return Err(bad());
    };
    let (h, mi, se): (i64, i64, i64) = (
        h.parse().map_err(|_| bad())?,
        mi.parse().map_err(|_| bad())?,
        se.parse().map_err(|_| bad())?,
    );
    if h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let mut micros_frac = 0i64;
    if !frac.is_empty() {
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let six: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        micros_frac = six.parse().map_err(|_| bad())?;
    }
    let days = days_from_civil(y, mo, da);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_secs;
    Ok(secs * 1_000_000 + micros_frac)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Services {
    /// The events by or about an account, or about a project, from `since` (µs), in order.
    pub async fn timeline(
        &self,
        of: TimelineOf<'_>,
        since: Option<i64>,
    ) -> Result<Vec<TimelineEntry>, CoreError> {
        let since = since.unwrap_or(i64::MIN);
        let events = match of {
            TimelineOf::User(name) => {
                let u = self.user_named(name).await?;
                self.db.events_about_user(u.id, since).await?
            }
            TimelineOf::Project(name) => {
                let normalized = strongroom_protocol::name::normalize(name);
                match self.db.project_state(&normalized).await? {
                    Some(p) => {
                        self.db
                            .events_about_project(p.id, &[normalized], since)
                            .await?
                    }
                    // An upstream project (no local row): the events naming it (rules, name
                    // conflicts), if there are any.
                    None => {
                        let events = self
                            .db
                            .events_about_project(-1, &[normalized], since)
                            .await?;
                        if events.is_empty() {
                            return Err(CoreError::NotFound(format!("no such project: {name}")));
                        }
                        events
                    }
                }
            }
        };
        Ok(events.iter().map(TimelineEntry::from_event).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z").ok(), Some(0));
        assert_eq!(
            parse_time("2026-11-22T13:00:00Z").ok(),
            Some(1_795_352_400_000_000)
        );
        assert_eq!(
            parse_time("2026-11-22T14:00:00+01:00").ok(),
            parse_time("2026-11-22T13:00:00Z").ok()
        );
        assert_eq!(
            parse_time("2026-11-22T13:00:00.5Z").ok(),
            Some(1_795_352_400_500_000)
        );
        assert_eq!(
            parse_time("2026-11-22").ok(),
            parse_time("2026-11-22T00:00:00Z").ok()
        );
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-22T13:00:00",
            "",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_read_like_an_incident_report() {
        let e = TimelineEntry::from_event(&Event {
            seq: 7,
            at: 1_795_352_701_000_000,
            actor_id: Some(1),
            actor_name: Some("cli:root".into()),
            action: "admin:user:freeze".into(),
            subject_kind: "user".into(),
            subject_id: Some(2),
            subject_name: Some("mallory".into()),
            ip: Some("192.0.2.7".into()),
            user_agent: Some("curl/8".into()),
            request_id: None,
            details: r#"{"reason":"takeover suspected","sessions_ended":2}"#.into(),
            prev_hash: String::new(),
            hash: String::new(),
        });
        assert_eq!(
            e.text_line(),
            "2026-11-22 13:05:01Z  cli:root  admin:user:freeze  user mallory  reason=\"takeover suspected\" sessions_ended=2  (192.0.2.7, curl/8)"
        );
    }
}
