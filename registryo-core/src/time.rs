//! Unix time and UTC dates, over the `time` crate: the one calendar of the workspace.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// Seconds since the epoch, now (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn at(unix: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(unix).ok()
}

/// Seconds since the epoch as RFC 3339 UTC (`2026-11-29T07:26:57Z`); a time outside the
/// calendar (past year 9999) as its number.
pub fn rfc3339(unix: i64) -> String {
    at(unix)
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// An RFC 3339 time (`2026-11-29T07:26:57.123456789Z`, any offset) to unix seconds, the
/// fraction dropped; `None` unless it parses.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// `YYYY-MM-DD` (UTC) to unix seconds at its start; `None` unless it is a real date in
/// 1970–9999 written with four, two and two digits.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    // `time` accepts a signed year; a date here is exactly `YYYY-MM-DD`.
    if s.len() != 10 || !s.bytes().next()?.is_ascii_digit() {
        return None;
    }
    let date = Date::parse(s, format_description!("[year]-[month]-[day]")).ok()?;
    (date.year() >= 1970).then(|| date.midnight().assume_utc().unix_timestamp())
}

/// Unix seconds as `YYYY-MM-DD` (UTC).
pub fn date(unix: i64) -> String {
    at(unix)
        .and_then(|t| t.format(format_description!("[year]-[month]-[day]")).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub fn datetime(unix: i64) -> String {
    at(unix)
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Unix seconds as `YYYYMMDDTHHMMSSZ` (UTC, ISO 8601's basic format): for file names, which
/// it sorts in time order.
pub fn compact(unix: i64) -> String {
    at(unix)
        .and_then(|t| {
            t.format(format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_937_217), "2026-11-29T07:26:57Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
        assert_eq!(parse_rfc3339("2026-11-29T07:26:57Z"), Some(1_795_937_217));
        assert_eq!(
            parse_rfc3339("2026-11-29T08:26:57.123456789+01:00"),
            Some(1_795_937_217)
        );
        assert_eq!(parse_rfc3339("2026-11-29 07:26:57"), None);
    }

    #[test]
    fn compact_known_values() {
        assert_eq!(compact(0), "19700101T000000Z");
        assert_eq!(compact(1_795_937_217), "20261129T072657Z");
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date(" 2000-02-29 "), Some(951_782_400));
        assert_eq!(
            parse_date("2024-02-29").map(date).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(
            parse_date("9999-12-31").map(date).as_deref(),
            Some("9999-12-31")
        );
        for bad in [
            "2023-02-29",
            "2023-13-01",
            "2023-00-10",
            "2023-01-32",
            "23-1-1",
            "2023-1-01",
            "1969-12-31",
            "+202-01-01",
            "<script>",
            "",
            "2023-01-01x",
            "２０２３-01-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
        assert_eq!(datetime(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(date(-86_400), "1969-12-31");
        assert_eq!(date(i64::MIN), i64::MIN.to_string());
    }
}
