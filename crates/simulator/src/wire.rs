//! The API's text as the simulator reads it: timestamps in the spellings the service uses, and
//! JSON compared regardless of key order or null fields.
//!
//! The product has its own versions of these (`vpn_inventory::time`, `api::model`); the simulator
//! keeps small local ones so that it does not depend on the product it fakes the cloud for.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

/// A `created_at`/`updated_at`/`marker` value: `2022-12-11T13:59:59.633Z`,
/// `2022-12-11T13:59:59Z`, any RFC 3339 offset, or `2022-12-11T13:59:59` (no zone means UTC).
/// Like the real service, the simulator compares instants at full precision.
pub fn parse_api_time(text: &str) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.to_utc()),
        Err(_) => Some(
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()?
                .and_utc(),
        ),
    }
}

/// `text` without its fraction of a second (`...59.633Z` -> `...59Z`), what a service that
/// shows whole seconds serves; text without a fraction is returned as it is.
pub fn in_whole_seconds(text: &str) -> String {
    match (text.get(19..20), text.get(20..)) {
        (Some("."), Some(rest)) => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            format!("{}{}", &text[..19], &rest[digits..])
        }
        _ => text.to_owned(),
    }
}

/// JSON text with object keys sorted at every level, so equal values give equal text.
pub fn canonical_json(value: &Value) -> String {
    let mut sorted = value.clone();
    sorted.sort_all_objects();
    sorted.to_string()
}

/// The same JSON without null fields: what the product stores and `export` gives back.
pub fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_served_formats_parse_to_the_same_clock() {
        let ms = parse_api_time("2022-12-11T13:59:59.633Z").unwrap();
        assert_eq!(ms.timestamp_millis(), 1_670_767_199_633);
        let whole = parse_api_time("2022-12-11T13:59:59Z").unwrap();
        assert_eq!(parse_api_time("2022-12-11T13:59:59").unwrap(), whole);
        assert_eq!(parse_api_time("2022-12-11T21:59:59+08:00").unwrap(), whole);
        let nanos = parse_api_time("2022-12-11T13:59:59.123456789Z").unwrap();
        assert_eq!(nanos.timestamp_subsec_nanos(), 123_456_789);
        assert!(parse_api_time("yesterday").is_none());
    }

    #[test]
    fn whole_seconds_cut_the_fraction_only() {
        for (text, whole) in [
            ("2022-12-11T13:59:59.633Z", "2022-12-11T13:59:59Z"),
            ("2022-12-11T21:59:59.6+08:00", "2022-12-11T21:59:59+08:00"),
            ("2022-12-11T13:59:59.633", "2022-12-11T13:59:59"),
            ("2022-12-11T13:59:59Z", "2022-12-11T13:59:59Z"),
            ("yesterday", "yesterday"),
        ] {
            assert_eq!(in_whole_seconds(text), whole);
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = json!({"b": 1, "a": [{"d": 1, "c": "é"}]});
        assert_eq!(canonical_json(&value), r#"{"a":[{"c":"é","d":1}],"b":1}"#);
    }

    #[test]
    fn nulls_go_at_every_level() {
        let v = json!({"a": null, "b": [{"c": null, "d": 1}, null], "e": {"f": null}});
        assert_eq!(without_nulls(&v), json!({"b": [{"d": 1}, null], "e": {}}));
    }
}
