//! Arbitrary JSON for property tests: values the API could send, spelled the ways it could
//! spell them, each knowing the text `crate::json` must write back for it.
//!
//! Shared by the unit tests (`json`, `api::model`) and the integration tests, which include this
//! file by its path: so it uses nothing of the crate, only proptest.

#![allow(dead_code)] // each includer uses part of it

use proptest::prelude::*;
use proptest::sample::select;
use std::fmt::Write as _;

/// A JSON value as sent, with its spelling.
#[derive(Debug, Clone)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number's text as sent, which is also what must come back.
    Number(String),
    String(Str),
    /// Items, and whether the text has whitespace around them.
    Array(Vec<Json>, bool),
    /// Members with distinct keys, and whether the text has whitespace around them.
    Object(Vec<(Str, Json)>, bool),
}

/// A string as sent: characters and code units, each spelled its own way.
#[derive(Debug, Clone, PartialEq)]
pub struct Str(pub Vec<Piece>);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Piece {
    /// A character as it is (escaped where JSON requires: `\"`, `\\`, `\n`, `\u0001`).
    Raw(char),
    /// A character as `\uXXXX` (two escapes past U+FFFF); hex digits in capitals or not.
    Escaped(char, bool),
    /// One UTF-16 code unit as `\uXXXX`: a surrogate, alone unless a neighbour pairs with it.
    Unit(u16, bool),
}

impl Str {
    pub fn plain(text: &str) -> Self {
        Self(text.chars().map(Piece::Raw).collect())
    }

    /// The string's UTF-16 code units: what it is, whatever its spelling.
    pub fn units(&self) -> Vec<u16> {
        let mut units = Vec::new();
        for piece in &self.0 {
            match *piece {
                Piece::Raw(c) | Piece::Escaped(c, _) => {
                    units.extend_from_slice(c.encode_utf16(&mut [0; 2]));
                }
                Piece::Unit(unit, _) => units.push(unit),
            }
        }
        units
    }

    /// The string literal as sent.
    pub fn sent(&self) -> String {
        let mut out = String::from("\"");
        for piece in &self.0 {
            match *piece {
                Piece::Raw(c) => escape_required(&mut out, c),
                Piece::Escaped(c, upper) => {
                    for unit in c.encode_utf16(&mut [0; 2]) {
                        write_unit(&mut out, *unit, upper);
                    }
                }
                Piece::Unit(unit, upper) => write_unit(&mut out, unit, upper),
            }
        }
        out.push('"');
        out
    }

    /// The string literal as serde_json writes it, with a lone surrogate as `\udXXX`.
    pub fn expected(&self) -> String {
        let mut out = String::from("\"");
        for decoded in char::decode_utf16(self.units()) {
            match decoded {
                Ok(c) => escape_required(&mut out, c),
                Err(lone) => write_unit(&mut out, lone.unpaired_surrogate(), false),
            }
        }
        out.push('"');
        out
    }
}

/// `c` as serde_json writes it in a string: escaped only where JSON requires.
fn escape_required(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c < ' ' => write_unit(out, c as u16, false),
        c => out.push(c),
    }
}

fn write_unit(out: &mut String, unit: u16, upper: bool) {
    if upper {
        write!(out, "\\u{unit:04X}").expect("to a String");
    } else {
        write!(out, "\\u{unit:04x}").expect("to a String");
    }
}

impl Json {
    /// The JSON text as sent.
    pub fn sent(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, true);
        out
    }

    /// The compact text `crate::json` must write for it: the same values, no whitespace,
    /// strings spelled as serde_json spells them.
    pub fn expected(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, false);
        out
    }

    fn write(&self, out: &mut String, sent: bool) {
        let space = |out: &mut String, spaced: bool| {
            if sent && spaced {
                out.push_str(" \n\t");
            }
        };
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(text) => out.push_str(text),
            Json::String(s) => out.push_str(&if sent { s.sent() } else { s.expected() }),
            Json::Array(items, spaced) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    space(out, *spaced);
                    item.write(out, sent);
                }
                space(out, *spaced);
                out.push(']');
            }
            Json::Object(members, spaced) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    space(out, *spaced);
                    out.push_str(&if sent { key.sent() } else { key.expected() });
                    space(out, *spaced);
                    out.push(':');
                    value.write(out, sent);
                }
                space(out, *spaced);
                out.push('}');
            }
        }
    }

    /// An object of these members, keeping the first of members with equal keys.
    pub fn object(members: Vec<(Str, Json)>, spaced: bool) -> Json {
        let mut seen = Vec::new();
        let members = members
            .into_iter()
            .filter(|(key, _)| {
                let units = key.units();
                let new = !seen.contains(&units);
                seen.push(units);
                new
            })
            .collect();
        Json::Object(members, spaced)
    }

    /// `self` inside `depth` arrays and objects (alternately).
    pub fn nested(self, depth: usize) -> Json {
        (0..depth).fold(self, |inner, level| {
            if level % 2 == 0 {
                Json::Array(vec![inner], false)
            } else {
                Json::Object(vec![(Str::plain("k"), inner)], false)
            }
        })
    }
}

/// Characters worth trying: the ones JSON must escape, the mark `crate::json` uses and hex
/// digits that could follow it, and anything else.
fn character() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::char::range(' ', '~'),
        2 => proptest::char::range('\0', '\u{1f}'),
        1 => select(vec!['"', '\\', '/', '\u{7f}', '\u{fdd0}', '\u{fffd}', '\u{10000}']),
        1 => select(vec!['0', 'd', '8', 'F']),
        2 => any::<char>(),
    ]
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        4 => character().prop_map(Piece::Raw),
        2 => (character(), any::<bool>()).prop_map(|(c, upper)| Piece::Escaped(c, upper)),
        2 => (0xD800u16..0xE000, any::<bool>()).prop_map(|(u, upper)| Piece::Unit(u, upper)),
        1 => any::<bool>().prop_map(|upper| Piece::Unit(0, upper)),
    ]
}

pub fn string() -> impl Strategy<Value = Str> {
    proptest::collection::vec(piece(), 0..8).prop_map(Str)
}

fn digits(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(select(('0'..='9').collect::<Vec<_>>()), len)
        .prop_map(|d| d.into_iter().collect())
}

/// Number text in every spelling JSON allows: long and short, fractions, exponents with or
/// without sign and leading zeros, `E` and `e`.
pub fn number() -> impl Strategy<Value = String> {
    let integer = prop_oneof![
        Just("0".to_owned()),
        (1u8..10, digits(0..40)).prop_map(|(first, rest)| format!("{first}{rest}")),
    ];
    let fraction = proptest::option::of(digits(1..30));
    let exponent = proptest::option::of((
        select(vec!["e", "E"]),
        select(vec!["", "+", "-"]),
        digits(1..6),
    ));
    let spelled = (any::<bool>(), integer, fraction, exponent).prop_map(|(neg, int, frac, exp)| {
        let mut text = if neg { format!("-{int}") } else { int };
        if let Some(frac) = frac {
            text = format!("{text}.{frac}");
        }
        if let Some((marker, sign, digits)) = exp {
            text = format!("{text}{marker}{sign}{digits}");
        }
        text
    });
    prop_oneof![
        3 => spelled,
        1 => select(SPECIAL_NUMBERS.to_vec()).prop_map(str::to_owned),
    ]
}

/// Numbers that once failed a run or came back as something else.
pub const SPECIAL_NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "1E400",
    "18446744073709551616",
    "123456789012345678901234567890",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "-0",
    "1.0",
    "1.50",
    "4294967295",
];

/// An integer for a typed `i64` field: mostly ones that fit, some that do not.
pub fn integer() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<i64>().prop_map(|i| i.to_string()),
        1 => number(),
    ]
}

/// Any JSON value, up to a few levels deep; with `null_members` false no object member is
/// `null` (the model drops those: the API uses absent and null alike).
pub fn json(null_members: bool) -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number().prop_map(Json::Number),
        string().prop_map(Json::String),
    ];
    leaf.prop_recursive(4, 32, 5, move |inner| {
        let member = inner.clone().prop_filter("no null member", move |v| {
            null_members || !matches!(v, Json::Null)
        });
        prop_oneof![
            (proptest::collection::vec(inner, 0..5), any::<bool>())
                .prop_map(|(items, spaced)| Json::Array(items, spaced)),
            (
                proptest::collection::vec((string(), member), 0..5),
                any::<bool>()
            )
                .prop_map(|(members, spaced)| Json::object(members, spaced)),
        ]
    })
}

/// A value for an object member the model keeps: anything but `null`, and no `null` member
/// inside.
fn member() -> impl Strategy<Value = Json> {
    json(false).prop_filter("no null member", |v| !matches!(v, Json::Null))
}

/// The type of a model field, for values that fit it (or, sometimes, do not).
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Text,
    Flag,
    Int,
    Texts,
    Object(&'static [(&'static str, Kind)]),
    Objects(&'static [(&'static str, Kind)]),
}

use Kind::{Flag, Int, Object, Objects, Text, Texts};

const RULE: &[(&str, Kind)] = &[
    ("rule_index", Int),
    ("source", Text),
    ("destination", Texts),
];
const DPD: &[(&str, Kind)] = &[("timeout", Int), ("interval", Int), ("msg", Text)];
const IKE: &[(&str, Kind)] = &[
    ("ike_version", Text),
    ("authentication_algorithm", Text),
    ("lifetime_seconds", Int),
    ("local_id", Text),
    ("dpd", Object(DPD)),
];
const IPSEC: &[(&str, Kind)] = &[("pfs", Text), ("lifetime_seconds", Int)];
const TAG: &[(&str, Kind)] = &[("key", Text), ("value", Text)];
const BGP: &[(&str, Kind)] = &[
    ("peer_ip_address", Text),
    ("peer_asn", Int),
    ("state", Text),
    ("num_message_sent", Int),
];
/// A connection's fields (a selection: every kind, every nested object).
const CONNECTION: &[(&str, Kind)] = &[
    ("name", Text),
    ("status", Text),
    ("vgw_ip", Text),
    ("peer_subnets", Texts),
    ("enable_nqa", Flag),
    ("policy_rules", Objects(RULE)),
    ("ikepolicy", Object(IKE)),
    ("ipsecpolicy", Object(IPSEC)),
    ("created_at", Text),
    ("tags", Objects(TAG)),
    ("bgp_peer", Object(BGP)),
];

/// A value for a field of `kind`: mostly one that fits, sometimes any value at all.
fn field(kind: Kind) -> BoxedStrategy<Json> {
    let fitting: BoxedStrategy<Json> = match kind {
        Text => string().prop_map(Json::String).boxed(),
        Flag => any::<bool>().prop_map(Json::Bool).boxed(),
        Int => integer().prop_map(Json::Number).boxed(),
        Texts => proptest::collection::vec(string().prop_map(Json::String), 0..3)
            .prop_map(|items| Json::Array(items, false))
            .boxed(),
        Object(fields) => object(fields).boxed(),
        Objects(fields) => proptest::collection::vec(object(fields), 0..3)
            .prop_map(|items| Json::Array(items, false))
            .boxed(),
    };
    prop_oneof![4 => fitting, 1 => member()].boxed()
}

/// An object with some of `fields` (in a shuffled order) and some unknown members.
fn object(fields: &'static [(&'static str, Kind)]) -> impl Strategy<Value = Json> {
    let known: Vec<_> = fields
        .iter()
        .map(|&(name, kind)| {
            proptest::option::weighted(0.6, field(kind)).prop_map(move |v| (name, v))
        })
        .collect();
    let unknown = proptest::collection::vec((string(), member()), 0..3);
    (known, unknown, any::<bool>()).prop_flat_map(|(known, unknown, spaced)| {
        let mut members: Vec<(Str, Json)> = known
            .into_iter()
            .filter_map(|(name, value)| Some((Str::plain(name), value?)))
            .collect();
        members.extend(unknown);
        Just(members)
            .prop_shuffle()
            .prop_map(move |m| Json::object(m, spaced))
    })
}

/// A connection with id `c<n>-...`: typed fields that fit or not, unknown fields, any value.
pub fn connection(n: usize) -> impl Strategy<Value = Json> {
    (string(), object(CONNECTION)).prop_map(move |(id, conn)| {
        let Json::Object(mut members, spaced) = conn else {
            unreachable!("object() makes objects")
        };
        let mut id_pieces = Str::plain(&format!("c{n}-")).0;
        id_pieces.extend(id.0);
        members.retain(|(key, _)| key.units() != Str::plain("id").units());
        members.insert(0, (Str::plain("id"), Json::String(Str(id_pieces))));
        Json::Object(members, spaced)
    })
}
