//! Time as the core sees it, so tests can move it.

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        strongroom_store::model::now_micros()
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock showing `micros`.
    pub fn new(micros: i64) -> ManualClock {
        ManualClock(std::sync::atomic::AtomicI64::new(micros))
    }

    /// Move forward by `micros`.
    pub fn advance(&self, micros: i64) {
        self.0
            .fetch_add(micros, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The system clock plus an offset in seconds read from a file on every call (a missing or
/// empty file is 0). Test suites move a started server's time with it (`testing.clock_offset_file`);
/// never configure it in production.
#[derive(Debug, Clone)]
pub struct FileOffsetClock(pub std::path::PathBuf);

impl Clock for FileOffsetClock {
    fn now_micros(&self) -> i64 {
        let offset_secs = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        strongroom_store::model::now_micros().saturating_add(offset_secs.saturating_mul(1_000_000))
    }
}

/// Format microseconds since the epoch as PyPI's ISO-8601 form `2024-01-02T03:04:05.123456Z`.
pub fn iso8601_micros(micros: i64) -> String {
    let (date, secs_of_day, us) = split(micros);
    format!(
        "{date}T{:02}:{:02}:{:02}.{us:06}Z",
        secs_of_day / 3600,
        (secs_of_day % 3600) / 60,
        secs_of_day % 60
    )
}

/// Format as `2024-01-02T03:04:05` (the JSON API's `upload_time`).
pub fn iso8601_seconds(micros: i64) -> String {
    let (date, secs_of_day, _) = split(micros);
    format!(
        "{date}T{:02}:{:02}:{:02}",
        secs_of_day / 3600,
        (secs_of_day % 3600) / 60,
        secs_of_day % 60
    )
}

fn split(micros: i64) -> (String, i64, i64) {
    let secs = micros.div_euclid(1_000_000);
    let us = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (format!("{y:04}-{m:02}-{d:02}"), sod, us)
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_pypi() {
        assert_eq!(iso8601_micros(0), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29T12:34:56.789012Z
        assert_eq!(
            iso8601_micros(1_709_210_096_789_012),
            "2024-02-29T12:34:56.789012Z"
        );
        assert_eq!(
            iso8601_seconds(1_709_210_096_789_012),
            "2024-02-29T12:34:56"
        );
    }
}
