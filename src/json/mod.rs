//! JSON text in and out of `serde_json::Value` without changing any value.
//!
//! serde_json (built with `arbitrary_precision`) keeps a number as its text, so `1e400`, 2^64
//! and a 30-digit integer survive, but it spells every exponent `e+`/`e-`; and its strings are
//! Rust strings, which cannot hold a lone UTF-16 surrogate (`"\ud800"`, refused outright),
//! while PostgreSQL text cannot hold a NUL. [`parse`] rewrites those into *held forms*, which a
//! `Value` (and, for strings, any text column) holds, and the writers ([`to_string`],
//! [`to_string_pretty`]) rewrite them back, so JSON text -> `Value` -> JSON text keeps every
//! string and every number's text. Only insignificant spelling goes: whitespace, and escapes of
//! characters that need none (`\u0041` is written `A`, `\/` is written `/`).
//!
//! The held forms (JSON text the writers write has none: it is as sent):
//! - In a string, U+FDD0 (a Unicode noncharacter, reserved for a program's internal use)
//!   followed by four lowercase hex digits is the UTF-16 code unit a string cannot hold: a NUL
//!   (`\u0000`: U+FDD0 `0000`) or a lone surrogate (`\ud800`: U+FDD0 `d800`). A U+FDD0 that
//!   was sent is doubled.
//! - A number's exponent is `e+` or `e-` followed by `4z + k` zeros and its digits without
//!   leading zeros, where `z` is how many leading zeros were sent and `k` how its marker was
//!   spelled (`e+` 0, `e` 1, `E+` 2, `E` 3; `e-` 0, `E-` 2). Leading zeros never change a
//!   number's value, so `as_f64` and friends read the same number; `1e+5` and `1e-5` are
//!   held as sent, `1e5` as `1e+05`.
//!
//! Both directions are a pass over the text around serde_json's own parser and writer, which
//! finds nothing to do in ordinary JSON: no copy is made then. Nesting is read up to
//! [`MAX_DEPTH`] levels; [`too_deep`] and [`item_at`] say where text goes past that.

#[cfg(test)]
pub mod arbitrary;
mod locate;

pub use locate::{Item, MAX_DEPTH, item_at, too_deep};

use serde::Serialize;
use serde_json::{Result, Value};
use std::borrow::Cow;
use std::ops::Range;

/// Marks a code unit a string cannot hold (see the module docs).
const MARK: char = '\u{FDD0}';
const MARK_UTF8: &[u8] = "\u{FDD0}".as_bytes();

/// Parses JSON text into a `Value` that [`to_string`] writes back with every value as sent.
pub fn parse(text: &str) -> Result<Value> {
    parse_slice(text.as_bytes())
}

/// [`parse`] of bytes (an HTTP body): invalid UTF-8 is an error.
pub fn parse_slice(bytes: &[u8]) -> Result<Value> {
    match rewrite(bytes, held_number, held_string) {
        None => serde_json::from_slice(bytes),
        Some(held) => serde_json::from_slice(&held),
    }
}

/// Compact JSON text of `value`, every string and number as it was sent.
pub fn to_string(value: &Value) -> String {
    // `Value`'s own `Display`: serde_json's writer compiled (and optimized) in serde_json.
    sent(value.to_string())
}

/// JSON text of `value` with two-space indentation, for people; every string and number in it
/// as it was sent.
pub fn to_string_pretty<T: Serialize + ?Sized>(value: &T) -> String {
    sent(serde_json::to_string_pretty(value).expect("values of ours serialize"))
}

/// `text`, written by serde_json, with the held forms in it as they were sent.
fn sent(text: String) -> String {
    match rewrite(text.as_bytes(), sent_number, sent_string) {
        None => text,
        Some(sent) => String::from_utf8(sent).expect("only ASCII replaced ASCII or a mark"),
    }
}

/// Whether a string holds a held form (a NUL, a lone surrogate, or a U+FDD0 that was sent),
/// so that it is not, as it is, the text that was sent.
pub fn has_held_form(held: &str) -> bool {
    held.contains(MARK)
}

/// A string as text for people (a table cell, a CSV field, an error): a NUL is a NUL again, a
/// lone surrogate, which no text can hold, becomes U+FFFD (as in `String::from_utf16_lossy`).
pub fn lossy(held: &str) -> Cow<'_, str> {
    if !held.contains(MARK) {
        return Cow::Borrowed(held);
    }
    let mut out = String::with_capacity(held.len());
    let mut rest = held;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let (unit, len) = held_unit(&rest.as_bytes()[at..]);
        match unit {
            Some(unit) => out.push(char::from_u32(unit.into()).unwrap_or('\u{FFFD}')),
            None => out.push(MARK),
        }
        rest = &rest[at + len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Rewrites JSON text: `number` may replace each number with an exponent, `string` handles
/// each backslash and each mark inside strings (returning where the string goes on). `None`
/// when nothing was replaced. Text that is no JSON comes out as no JSON, for serde_json to
/// report.
fn rewrite(
    text: &[u8],
    number: fn(&[u8]) -> Option<String>,
    string: fn(&[u8], usize, &mut Rewrite<'_>) -> usize,
) -> Option<Vec<u8>> {
    let mut out = Rewrite::new(text);
    let mut at = 0;
    loop {
        let quote = memchr::memchr(b'"', &text[at..]).map_or(text.len(), |i| at + i);
        // Mostly `:` or `,` between two strings: an exponent takes three bytes at least.
        if quote - at >= 3 {
            exponents(text, at..quote, number, &mut out);
        }
        if quote == text.len() {
            break;
        }
        at = quote + 1;
        loop {
            let Some(i) = memchr::memchr3(b'"', b'\\', MARK_UTF8[0], &text[at..]) else {
                return out.finish(); // an unterminated string
            };
            at += i;
            if text[at] == b'"' {
                break;
            }
            at = string(text, at, &mut out);
        }
        at += 1;
    }
    out.finish()
}

/// Lets `number` replace the numbers with an exponent in `text[range]`, which holds no string.
fn exponents(
    text: &[u8],
    range: Range<usize>,
    number: fn(&[u8]) -> Option<String>,
    out: &mut Rewrite<'_>,
) {
    let mut done = range.start;
    for i in memchr::memchr2_iter(b'e', b'E', &text[range.clone()]) {
        let at = range.start + i;
        // After a digit it is an exponent (`true` and `false` have theirs after a letter).
        if at < done || at == 0 || !text[at - 1].is_ascii_digit() {
            continue;
        }
        let start = at
            - text[..at]
                .iter()
                .rev()
                .take_while(|b| is_number(**b))
                .count();
        let end = at + text[at..].iter().take_while(|b| is_number(**b)).count();
        if start >= done
            && let Some(replaced) = number(&text[start..end])
        {
            out.replace(start..end, replaced.as_bytes());
        }
        done = end;
    }
}

fn is_number(byte: u8) -> bool {
    matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
}

/// At a backslash or a mark in a string as sent: holds what a `Value` cannot.
fn held_string(text: &[u8], at: usize, out: &mut Rewrite<'_>) -> usize {
    if text[at] != b'\\' {
        if !text[at..].starts_with(MARK_UTF8) {
            return at + 1;
        }
        let end = at + MARK_UTF8.len();
        out.replace(at..end, &[MARK_UTF8, MARK_UTF8].concat());
        return end;
    }
    let Some(unit) = unit_escape(text, at) else {
        return at + 2; // any other escape, or a broken one serde_json reports
    };
    if (0xD800..0xDC00).contains(&unit)
        && unit_escape(text, at + 6).is_some_and(|low| (0xDC00..0xE000).contains(&low))
    {
        return at + 12; // a surrogate pair: one character, kept as sent
    }
    let held = match unit {
        0 | 0xD800..=0xDFFF => format!("\\ufdd0{unit:04x}"),
        0xFDD0 => "\\ufdd0\\ufdd0".to_owned(),
        _ => return at + 6,
    };
    out.replace(at..at + 6, held.as_bytes());
    at + 6
}

/// At a backslash or a mark in a string serde_json wrote: what the mark holds, as sent.
fn sent_string(text: &[u8], at: usize, out: &mut Rewrite<'_>) -> usize {
    if text[at] == b'\\' {
        return at + 2;
    }
    if !text[at..].starts_with(MARK_UTF8) {
        return at + 1;
    }
    let (unit, len) = held_unit(&text[at..]);
    match unit {
        Some(unit) => out.replace(at..at + len, format!("\\u{unit:04x}").as_bytes()),
        None if len > MARK_UTF8.len() => out.replace(at..at + len, MARK_UTF8),
        None => {}
    }
    at + len
}

/// What the held form at the start of `held` (a mark) stands for: a code unit, or `None` for
/// a mark; and its length. A mark followed by neither a mark nor four hex digits (which no
/// `parse` makes) stands for itself.
fn held_unit(held: &[u8]) -> (Option<u16>, usize) {
    let after = &held[MARK_UTF8.len()..];
    if after.starts_with(MARK_UTF8) {
        return (None, 2 * MARK_UTF8.len());
    }
    let unit = after
        .get(..4)
        .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        .and_then(|hex| u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
    match unit {
        Some(unit) => (Some(unit), MARK_UTF8.len() + 4),
        None => (None, MARK_UTF8.len()),
    }
}

/// The code unit of a `\uXXXX` escape at `text[at]`.
fn unit_escape(text: &[u8], at: usize) -> Option<u16> {
    let escape = text.get(at..at + 6)?;
    let hex = escape.strip_prefix(b"\\u")?;
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// The held form of a number whose exponent serde_json would respell; `None` when it keeps
/// the number as it is (`e+`/`e-` without leading zeros) or it is no number.
fn held_number(token: &[u8]) -> Option<String> {
    let token = std::str::from_utf8(token).ok()?;
    let at = token.find(['e', 'E'])?;
    let (mantissa, marker, rest) = (&token[..at], &token[at..=at], &token[at + 1..]);
    let (sign, digits, implicit) = match rest.as_bytes().first()? {
        b'+' | b'-' => (&rest[..1], &rest[1..], false),
        _ => ("+", rest, true),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let zeros = digits.bytes().take_while(|b| *b == b'0').count();
    let zeros = zeros.min(digits.len() - 1);
    let spelling = usize::from(marker == "E") * 2 + usize::from(implicit);
    let held_zeros = 4 * zeros + spelling;
    (held_zeros != zeros).then(|| {
        let significant = &digits[zeros..];
        format!("{mantissa}e{sign}{}{significant}", "0".repeat(held_zeros))
    })
}

/// A number as it was sent, from its held form; `None` when that is the number as written.
fn sent_number(held: &[u8]) -> Option<String> {
    let held = std::str::from_utf8(held).ok()?;
    let at = held.find('e')?;
    let (mantissa, rest) = (&held[..at], &held[at + 1..]);
    let sign = rest.chars().next().filter(|c| matches!(c, '+' | '-'))?;
    let digits = &rest[1..];
    let held_zeros = digits.bytes().take_while(|b| *b == b'0').count();
    let held_zeros = held_zeros.min(digits.len().saturating_sub(1));
    if held_zeros == 0 {
        return None;
    }
    let (zeros, spelling) = (held_zeros / 4, held_zeros % 4);
    let marker = if spelling & 2 == 0 { "e" } else { "E" };
    let sign = if spelling & 1 == 1 && sign == '+' {
        String::new()
    } else {
        sign.to_string()
    };
    let significant = &digits[held_zeros..];
    Some(format!(
        "{mantissa}{marker}{sign}{}{significant}",
        "0".repeat(zeros)
    ))
}

/// Copy-on-write editing of a byte string: the original until the first replacement.
struct Rewrite<'a> {
    text: &'a [u8],
    out: Option<Vec<u8>>,
    /// How much of `text` is in `out`.
    copied: usize,
}

impl<'a> Rewrite<'a> {
    fn new(text: &'a [u8]) -> Self {
        Self {
            text,
            out: None,
            copied: 0,
        }
    }

    /// Replaces `text[range]` (ranges come in increasing order) with `with`.
    fn replace(&mut self, range: Range<usize>, with: &[u8]) {
        let out = self
            .out
            .get_or_insert_with(|| Vec::with_capacity(self.text.len() + 64));
        out.extend_from_slice(&self.text[self.copied..range.start]);
        out.extend_from_slice(with);
        self.copied = range.end;
    }

    fn finish(self) -> Option<Vec<u8>> {
        let mut out = self.out?;
        out.extend_from_slice(&self.text[self.copied..]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text -> Value -> text.
    fn again(text: &str) -> String {
        to_string(&parse(text).unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    #[test]
    fn numbers_keep_their_text() {
        for number in [
            "0",
            "-0",
            "1.50",
            "1e400",
            "1E400",
            "1e+400",
            "1E+400",
            "1e-400",
            "1E-400",
            "-2.5e007",
            "1e0",
            "1e00",
            "1E-000",
            "18446744073709551616",
            "123456789012345678901234567890",
            "-9223372036854775809",
            "0.000000000000000000001",
        ] {
            assert_eq!(again(number), number);
            assert_eq!(
                again(&format!("[{number}, {{\"a\": {number}}}]")),
                format!("[{number},{{\"a\":{number}}}]")
            );
        }
    }

    #[test]
    fn held_numbers_keep_their_value() {
        let held = parse("[1e5, 1E-7, 2e01]").unwrap();
        assert_eq!(
            serde_json::to_string(&held).unwrap(),
            "[1e+05,1e-007,2e+000001]"
        );
        let values: Vec<f64> = held
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert_eq!(values, [1e5, 1e-7, 2e1]);
    }

    #[test]
    fn strings_keep_nul_lone_surrogates_and_the_mark() {
        for (sent, written) in [
            (r#""a\u0000b""#, r#""a\u0000b""#),
            (r#""\ud800""#, r#""\ud800""#),
            (r#""\uDFFFx\uD800""#, r#""\udfffx\ud800""#),
            (r#""\ud83d\ude00""#, "\"\u{1F600}\""),
            (r#""\udc00\ud800\udc00""#, "\"\\udc00\u{10000}\""),
            (r#""\ud800\ud800\udc00""#, "\"\\ud800\u{10000}\""),
            ("\"\u{FDD0}0000\"", "\"\u{FDD0}0000\""),
            (r#""\ufdd0\u0000""#, "\"\u{FDD0}\\u0000\""),
            (r#""\\u0000 \"\ud800\" \\""#, r#""\\u0000 \"\ud800\" \\""#),
            (r#""\u0041\/""#, r#""A/""#),
        ] {
            assert_eq!(again(sent), written, "{sent}");
            assert_eq!(
                again(&format!("{{{sent}: [{sent}]}}")),
                format!("{{{written}:[{written}]}}")
            );
        }
    }

    #[test]
    fn held_strings_are_what_the_database_gets() {
        let held = parse(r#"["a\u0000b", "\ud800", "\ufdd0"]"#).unwrap();
        let held: Vec<&str> = held
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(held, ["a\u{FDD0}0000b", "\u{FDD0}d800", "\u{FDD0}\u{FDD0}"]);
        let shown: Vec<Cow<str>> = held.iter().map(|s| lossy(s)).collect();
        assert_eq!(shown, ["a\0b", "\u{FFFD}", "\u{FDD0}"]);
        // A mark no parse made stands for itself.
        assert_eq!(lossy("\u{FDD0}x"), "\u{FDD0}x");
        let unheld = Value::from("\u{FDD0}xyz\u{FDD0}");
        assert_eq!(to_string(&unheld), "\"\u{FDD0}xyz\u{FDD0}\"");
    }

    #[test]
    fn pretty_text_is_exact_too() {
        let value = parse(r#"{"a": [1E5, "\u0000"]}"#).unwrap();
        assert_eq!(
            to_string_pretty(&value),
            "{\n  \"a\": [\n    1E5,\n    \"\\u0000\"\n  ]\n}"
        );
    }

    #[test]
    fn text_that_is_no_json_stays_an_error() {
        for broken in [
            r#""\ud800"#,
            "[1e]",
            "[1E+]",
            r#"{"a":"\u00"}"#,
            "[-]",
            "\u{FDD0}",
        ] {
            assert!(parse(broken).is_err(), "{broken}");
        }
    }

    mod properties {
        use super::super::{parse, to_string};
        use crate::json::arbitrary::{Json, json, number, string};
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_value_comes_back_as_sent(value in json(true)) {
                let parsed = parse(&value.sent());
                prop_assert!(parsed.is_ok(), "{}: {:?}", value.sent(), parsed);
                let parsed = parsed.unwrap();
                prop_assert_eq!(to_string(&parsed), value.expected());
                prop_assert_eq!(parse(&value.expected()).unwrap(), parsed);
            }

            #[test]
            fn held_numbers_keep_their_value(text in number()) {
                let held = parse(&text).unwrap();
                let value = text.parse::<f64>().ok().filter(|f| f.is_finite());
                prop_assert_eq!(held.as_f64(), value);
            }

            #[test]
            fn nesting_comes_back_up_to_the_parsers_limit(depth in 0..=127usize, s in string()) {
                let value = Json::String(s).nested(depth);
                prop_assert_eq!(to_string(&parse(&value.sent()).unwrap()), value.expected());
            }
        }

        #[test]
        fn nesting_past_the_limit_is_an_error() {
            let value = Json::Null.nested(128);
            let err = parse(&value.sent()).unwrap_err();
            assert!(err.to_string().contains("recursion limit"), "{err}");
        }
    }
}
