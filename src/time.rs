//! Timestamps as the API sends them.
//!
//! `created_at`/`updated_at` come as `2022-12-11T13:59:59.633Z`, `...59Z` or `...59` (no zone,
//! meaning UTC). The raw text is what we store and send back as a marker; the parsed instant is
//! only for ordering and queries.
//!
//! `shift_api_time` does marker arithmetic on that text: one step of the text's own precision
//! later or earlier, written the same way.
//!
//! Every instant we store is truncated to microseconds: PostgreSQL keeps no more, so both
//! backends then compare equal.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, Utc};

/// Parses an API timestamp; `None` if it is in no format we know (the raw text is still kept),
/// or names an instant outside the years 1 to 9999 (UTC), which is no API time and which not
/// every database holds: PostgreSQL refuses years before 4713 BC, and SQLite's text times
/// compare in time order only with four-digit years.
pub fn parse_api_time(text: &str) -> Option<DateTime<Utc>> {
    use chrono::Datelike as _;
    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .ok()
        .filter(|t| (1..=9999).contains(&t.year()))?;
    Some(truncate_to_micros(parsed))
}

/// `text` moved by `steps` units of its own precision, written the same way (separator,
/// number of fraction digits, zone suffix); `None` if it is in no format we know.
///
/// The unit is the text's last digit: 1 ms for `2022-12-11T13:59:59.633Z`, 1 s for
/// `2022-12-11T13:59:59Z` or `2022-12-11T13:59:59`. "One millisecond later in the same format"
/// cannot be written in whole seconds, and a whole-second time stands for its whole second
/// (the service may hold a finer instant and show it truncated), so the next instant such a
/// text can name is the next second. Offsets stay as written: shifting the local time shifts
/// the instant by the same amount.
pub fn shift_api_time(text: &str, steps: i64) -> Option<String> {
    let (body, zone) = split_zone(text);
    let (whole, fraction) = (body.get(..19)?, body.get(19..)?);
    let sep = whole[10..].chars().next()?;
    if !matches!(sep, 'T' | 't' | ' ') {
        return None;
    }
    let digits = match fraction.strip_prefix('.') {
        None if fraction.is_empty() => 0,
        Some(f) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => f.len(),
        _ => return None,
    };
    let normalized = format!("{}T{}{fraction}", &whole[..10], &whole[11..]);
    let time = NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let unit = 10i64.pow(9 - u32::try_from(digits).ok()?);
    let moved = time.checked_add_signed(TimeDelta::nanoseconds(unit.checked_mul(steps)?))?;
    let mut out = moved.format("%Y-%m-%d").to_string();
    out.push(sep);
    out.push_str(&moved.format("%H:%M:%S").to_string());
    if digits > 0 {
        let nanos = i64::from(moved.and_utc().timestamp_subsec_nanos());
        out.push_str(&format!(".{:0digits$}", nanos / unit));
    }
    out.push_str(zone);
    Some(out)
}

/// Splits `Z`/`z` or a `+08:00`-style offset off the end; the zone is empty when there is none.
fn split_zone(text: &str) -> (&str, &str) {
    if let Some(body) = text.strip_suffix(['Z', 'z']) {
        return (body, &text[body.len()..]);
    }
    let cut = text.len().saturating_sub(6);
    match text.get(cut..).map(str::as_bytes) {
        Some([b'+' | b'-', h1, h2, b':', m1, m2])
            if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()) =>
        {
            text.split_at(cut)
        }
        _ => (text, ""),
    }
}

/// An instant as SQLite holds it: UTC text `YYYY-MM-DD HH:MM:SS.ffffff`, always six fraction
/// digits, so stored times compare as text in time order, and with what SQLite's `datetime()`
/// gives (`detected_at >= datetime('now', '-1 day')`). Reports show a PostgreSQL timestamptz
/// this way too, so both backends print the same.
pub fn stored_text(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// The formats `parse_time` reads, for error messages and help texts.
pub const TIME_FORMATS: &str = concat!(
    "a time ago (24h, 7d, 30m, 1h30m), a date (2026-11-01, midnight UTC), ",
    "an RFC 3339 time (2026-11-01T08:00:00Z) or now"
);

/// A time a person gives (`--since`, a report's `time` parameter): `now`, a time ago (`24h`,
/// `7d`, `1h30m`, counted back from `now`), a date (midnight UTC) or an RFC 3339 time.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let parsed = if text == "now" {
        Some(now)
    } else if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        Some(t.with_timezone(&Utc))
    } else if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        date.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
    } else if text.starts_with(|c: char| c.is_ascii_digit())
        && text.ends_with(|c: char| c.is_ascii_alphabetic())
    {
        humantime::parse_duration(text)
            .ok()
            .and_then(|ago| TimeDelta::from_std(ago).ok())
            .and_then(|ago| now.checked_sub_signed(ago))
    } else {
        None
    };
    parsed
        .map(truncate_to_micros)
        .ok_or_else(|| format!("{text:?} is not a time: use {TIME_FORMATS}"))
}

/// An instant as printed for people and programs: RFC 3339 in UTC with `Z`, with as many
/// fraction digits as it needs (0, 3, 6 or 9).
pub fn shown(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An instant in a table: RFC 3339 in UTC with `Z`, whole seconds.
pub fn shown_in_table(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
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
    fn years_past_four_digits_read_as_no_time() {
        for text in [
            "+10000-01-01T00:00:00",
            "-5000-01-01T00:00:00",
            "-0001-01-01T00:00:00",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z+01:00",
        ] {
            assert_eq!(parse_api_time(text), None, "{text}");
        }
        let last = parse_api_time("9999-12-31T23:59:59.999999Z").unwrap();
        assert_eq!(last.timestamp(), 253_402_300_799);
        assert!(parse_api_time("0001-01-01T00:00:00Z").is_some());
        // An offset must not carry a time across the edge either.
        assert_eq!(parse_api_time("9999-12-31T23:00:00-02:00"), None);
        assert_eq!(parse_api_time("0001-01-01T01:00:00+02:00"), None);
    }

    #[test]
    fn shifting_keeps_the_spelling_and_moves_one_unit_of_it() {
        let cases = [
            (
                "2022-12-11T13:59:59.633Z",
                "2022-12-11T13:59:59.634Z",
                "2022-12-11T13:59:59.632Z",
            ),
            (
                "2022-12-11T13:59:59.999Z",
                "2022-12-11T14:00:00.000Z",
                "2022-12-11T13:59:59.998Z",
            ),
            (
                "2022-12-11T13:59:59.000Z",
                "2022-12-11T13:59:59.001Z",
                "2022-12-11T13:59:58.999Z",
            ),
            (
                "2022-12-11T13:59:59Z",
                "2022-12-11T14:00:00Z",
                "2022-12-11T13:59:58Z",
            ),
            (
                "2022-12-11T13:59:59",
                "2022-12-11T14:00:00",
                "2022-12-11T13:59:58",
            ),
            (
                "2022-12-31T23:59:59",
                "2023-01-01T00:00:00",
                "2022-12-31T23:59:58",
            ),
            (
                "2022-12-11T21:59:59.633+08:00",
                "2022-12-11T21:59:59.634+08:00",
                "",
            ),
            (
                "2022-12-11T23:59:59-05:00",
                "2022-12-12T00:00:00-05:00",
                "2022-12-11T23:59:58-05:00",
            ),
            (
                "2022-12-11t13:59:59.5z",
                "2022-12-11t13:59:59.6z",
                "2022-12-11t13:59:59.4z",
            ),
            (
                "2022-12-11 13:59:59.633123Z",
                "2022-12-11 13:59:59.633124Z",
                "",
            ),
        ];
        for (text, later, earlier) in cases {
            assert_eq!(shift_api_time(text, 1).as_deref(), Some(later), "{text}");
            if !earlier.is_empty() {
                assert_eq!(shift_api_time(text, -1).as_deref(), Some(earlier), "{text}");
            }
            // What we send reads back as the instant it claims, one unit on.
            let (t, l) = (
                parse_api_time(text).unwrap(),
                parse_api_time(later).unwrap(),
            );
            assert!(l > t, "{text}");
        }
        let step = |text: &str| {
            let later = shift_api_time(text, 1).unwrap();
            parse_api_time(&later).unwrap() - parse_api_time(text).unwrap()
        };
        assert_eq!(step("2022-12-11T13:59:59.633Z"), TimeDelta::milliseconds(1));
        assert_eq!(step("2022-12-11T13:59:59Z"), TimeDelta::seconds(1));
        assert_eq!(
            step("2022-12-11T21:59:59.633+08:00"),
            TimeDelta::milliseconds(1)
        );
        for unknown in [
            "yesterday",
            "2022-12-11T13:59:59.Z",
            "2022-12-11T13:59:59+0800",
            "",
        ] {
            assert_eq!(shift_api_time(unknown, 1), None, "{unknown}");
        }
    }

    #[test]
    fn stored_times_sort_as_text_and_against_sqlite_datetime() {
        let t = parse_api_time("2026-11-28T15:38:53.839686Z").unwrap();
        assert_eq!(stored_text(&t), "2026-11-28 15:38:53.839686");
        let whole = parse_api_time("2026-11-28T15:38:53Z").unwrap();
        assert_eq!(stored_text(&whole), "2026-11-28 15:38:53.000000");
        // What datetime() gives for the same second sorts at or before it, never after.
        assert!(stored_text(&whole).as_str() >= "2026-11-28 15:38:53");
        assert!(stored_text(&t).as_str() < "2026-11-28 15:38:54");
        let nanos = parse_api_time("2026-11-28T15:38:53.000000001Z").unwrap();
        assert_eq!(stored_text(&nanos), stored_text(&whole));
    }

    #[test]
    fn instants_keep_whole_microseconds_only() {
        let t = parse_api_time("2022-12-11T13:59:59.123456789Z").unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(now_utc().timestamp_subsec_nanos() % 1_000, 0);
    }
}
