//! Timestamps as the API sends them.
//!
//! `created_at`/`updated_at` come as `2022-12-11T13:59:59.633Z`, `...59Z` or `...59` (no zone,
//! meaning UTC). The raw text is what we store and send back as a marker; the parsed instant is
//! only for ordering and queries.
//!
//! Every instant we store is truncated to microseconds: PostgreSQL keeps no more, so both
//! backends then compare equal.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Parses an API timestamp; `None` if it is in no format we know (the raw text is still kept).
pub fn parse_api_time(text: &str) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .ok()?;
    Some(truncate_to_micros(parsed))
}

/// Current time, truncated to microseconds: what every backend can store exactly.
pub fn now_utc() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{SubsecRound, Timelike};
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(micros)
        .unwrap_or_else(|| t.trunc_subsecs(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_documented_formats_parse_to_the_same_clock() {
        let ms = parse_api_time("2022-12-11T13:59:59.633Z").unwrap();
        assert_eq!(ms.timestamp_millis(), 1_670_767_199_633);
        let whole = parse_api_time("2022-12-11T13:59:59Z").unwrap();
        assert_eq!(parse_api_time("2022-12-11T13:59:59").unwrap(), whole);
        assert_eq!(parse_api_time("2022-12-11T21:59:59+08:00").unwrap(), whole);
        assert!(parse_api_time("yesterday").is_none());
    }

    #[test]
    fn instants_keep_whole_microseconds_only() {
        let t = parse_api_time("2022-12-11T13:59:59.123456789Z").unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(now_utc().timestamp_subsec_nanos() % 1_000, 0);
    }
}
