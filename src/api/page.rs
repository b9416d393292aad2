//! A page of the list API, read: its connections as served, and what the pager needs.
//!
//! Most pages are read the quick way ([`read_plainly`]): each connection is located as a range
//! of the body's bytes and only its `id` and `created_at` are decoded. The sweep hashes those
//! bytes ([`ListPage::served_hash`]) and parses only the connections whose bytes the inventory
//! has not seen ([`ListPage::parse`]): an unchanged connection is never parsed. A page that is
//! not plainly of the documented shape, or whose ids, times or markers hold an escape or a
//! held form (see `crate::json`), is read in full into `Value`s instead ([`read_in_full`]),
//! which decides what is wrong with a page and says so. Both readings give the same ids, times,
//! markers and values, and refuse the same pages.

use super::error::FetchError;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::ops::Range;

/// One page of the list, as received.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The connections, in page order.
    pub connections: Vec<ServedConnection>,
    pub next_marker: Option<String>,
    pub current_count: Option<u64>,
    pub total_count: Option<u64>,
    pub request_id: Option<String>,
    /// When the answer began to arrive: what the page shows was current then. (Staging
    /// stamps its connections' observation with it, not with the later moment it writes.)
    pub received_at: DateTime<Utc>,
    /// The answer's size: bytes of JSON read.
    pub bytes: u64,
    /// The body, which connections read the quick way are ranges of.
    body: String,
}

/// One connection of a page: its id and `created_at` (strings as `crate::json::parse` holds
/// them; `None` when absent or not a string), and the connection itself.
#[derive(Debug, Clone)]
pub struct ServedConnection {
    pub id: Option<String>,
    pub created_at: Option<String>,
    served: Served,
}

#[derive(Debug, Clone)]
enum Served {
    /// Its bytes in the page's body (read the quick way).
    Bytes(Range<usize>),
    /// Its value (read in full).
    Value(Value),
}

/// A connection parsed: its value, and JSON text of it to stage (every value as sent).
pub struct Parsed<'a> {
    pub value: Value,
    pub text: Cow<'a, str>,
}

impl ListPage {
    /// The hash of the bytes `conn` was served as: equal bytes, equal hash. `None` for a page
    /// read in full, which keeps no bytes. The first 128 bits of their SHA-256, as the content
    /// hash takes (`VpnConnection::content_hash`), kept as a number (16 bytes a connection).
    pub fn served_hash(&self, conn: &ServedConnection) -> Option<u128> {
        match &conn.served {
            Served::Bytes(range) => {
                let digest = Sha256::digest(&self.body.as_bytes()[range.clone()]);
                let first: [u8; 16] = digest[..16].try_into().expect("SHA-256 has 32 bytes");
                Some(u128::from_be_bytes(first))
            }
            Served::Value(_) => None,
        }
    }

    /// `conn` parsed, every value as sent. A connection read the quick way is parsed at the
    /// depth it has in the page, so that it nests no deeper than a full reading allows; when
    /// it does not parse, the page read in full says why.
    pub fn parse<'a>(&'a self, conn: &'a ServedConnection) -> Result<Parsed<'a>, FetchError> {
        let range = match &conn.served {
            Served::Value(value) => {
                let text = Cow::Owned(crate::json::to_string(value));
                return Ok(Parsed {
                    value: value.clone(),
                    text,
                });
            }
            Served::Bytes(range) => range.clone(),
        };
        let text = &self.body[range];
        // The page and its list around it: the two levels the connection is nested in.
        let nested = format!("[[{text}]]");
        match crate::json::parse(&nested) {
            Ok(Value::Array(mut outer)) => match outer.pop() {
                Some(Value::Array(mut inner)) if inner.len() == 1 => Ok(Parsed {
                    value: inner.pop().expect("one item"),
                    text: Cow::Borrowed(text),
                }),
                _ => unreachable!("[[x]] parses as a list holding a list holding x"),
            },
            Ok(_) => unreachable!("[[x]] parses as a list"),
            Err(e) => Err(
                match read_in_full(self.body.as_bytes(), None, self.received_at) {
                    Err(page) => page,
                    Ok(_) => FetchError::Json(e),
                },
            ),
        }
    }
}

/// Reads a 200 answer of the list API, which began to arrive at `received_at`: the quick way
/// when the page is plainly of the documented shape, in full otherwise.
pub fn read_page(
    body: Vec<u8>,
    header_request_id: Option<String>,
    received_at: DateTime<Utc>,
) -> Result<ListPage, FetchError> {
    let body = match String::from_utf8(body) {
        Ok(body) => body,
        Err(e) => return read_in_full(e.as_bytes(), header_request_id, received_at),
    };
    match read_plainly(&body) {
        Some(plain) => {
            let (connections, meta) = plain;
            Ok(ListPage {
                connections,
                next_marker: meta.next_marker,
                current_count: meta.current_count,
                total_count: meta.total_count,
                request_id: meta.request_id.or(header_request_id),
                received_at,
                bytes: u64::try_from(body.len()).unwrap_or(u64::MAX),
                body,
            })
        }
        None => {
            tracing::debug!("page read in full: not plainly of the documented shape");
            read_in_full(body.as_bytes(), header_request_id, received_at)
        }
    }
}

/// The page's own fields, read the quick way.
struct PageFields {
    next_marker: Option<String>,
    current_count: Option<u64>,
    total_count: Option<u64>,
    request_id: Option<String>,
}

#[derive(Deserialize)]
struct PlainPage<'a> {
    #[serde(borrow)]
    vpn_connections: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    page_info: Option<&'a RawValue>,
    #[serde(default)]
    total_count: Option<u64>,
    #[serde(borrow, default)]
    request_id: Option<&'a str>,
}

#[derive(Deserialize)]
struct PlainPageInfo<'a> {
    #[serde(borrow, default)]
    next_marker: Option<&'a str>,
    #[serde(default)]
    current_count: Option<u64>,
}

#[derive(Deserialize)]
struct PlainConnection<'a> {
    #[serde(borrow, default)]
    id: Option<&'a str>,
    #[serde(borrow, default)]
    created_at: Option<&'a str>,
}

/// The quick reading: `None` unless the page is plainly of the documented shape (objects where
/// objects are due; the strings it reads free of escapes, which a borrowed `&str` cannot undo,
/// and of held forms, so that they are as a full reading holds them; the numbers it reads
/// counts), and nests no deeper than a full reading allows outside its connections.
fn read_plainly(body: &str) -> Option<(Vec<ServedConnection>, PageFields)> {
    if !is_object(body) {
        return None;
    }
    let page: PlainPage<'_> = serde_json::from_str(body).ok()?;
    let info: Option<PlainPageInfo<'_>> = match page.page_info {
        Some(raw) if raw.get() == "null" => None,
        Some(raw) if is_object(raw.get()) => Some(serde_json::from_str(raw.get()).ok()?),
        Some(_) => return None,
        None => None,
    };
    let (next_marker, current_count) = match info {
        Some(info) => (plain(info.next_marker)?, info.current_count),
        None => (None, None),
    };
    let connections = locate(body, &page.vpn_connections)?;
    if crate::json::too_deep(skeleton(body, &connections).as_bytes()).is_some() {
        return None;
    }
    let fields = PageFields {
        next_marker,
        current_count,
        total_count: page.total_count,
        request_id: plain(page.request_id)?,
    };
    Some((connections, fields))
}

/// Each connection of `body` (`raws`, borrowed from it) as bytes of it, with its id and time
/// read plainly, in order; `None` when one is not plainly an object.
fn locate(body: &str, raws: &[&RawValue]) -> Option<Vec<ServedConnection>> {
    let start = body.as_ptr() as usize;
    let mut connections = Vec::with_capacity(raws.len());
    for raw in raws {
        let text = raw.get();
        if !is_object(text) {
            return None;
        }
        let fields: PlainConnection<'_> = serde_json::from_str(text).ok()?;
        let at = text.as_ptr() as usize - start;
        connections.push(ServedConnection {
            id: plain(fields.id)?,
            created_at: plain(fields.created_at)?,
            served: Served::Bytes(at..at + text.len()),
        });
    }
    Some(connections)
}

/// Whether JSON `text` is an object: serde reads a struct from a list too, so the shape is
/// checked, not assumed.
fn is_object(text: &str) -> bool {
    const OPEN: u8 = 0x7b; // an opening curly bracket
    text.trim_start().as_bytes().first() == Some(&OPEN)
}

/// A string read the quick way, if a full reading holds it the same: `None` (give up) when it
/// holds a U+FDD0 (which a full reading doubles). (One with an escape does not read as a
/// borrowed `&str` at all.)
fn plain(read: Option<&str>) -> Option<Option<String>> {
    match read {
        Some(text) if crate::json::has_held_form(text) => None,
        read => Some(read.map(str::to_owned)),
    }
}

/// The page with each connection (located in it, in order) replaced by `{}`: what nests around
/// the connections, whose own depth is checked when they are parsed.
fn skeleton(body: &str, connections: &[ServedConnection]) -> String {
    let mut out = String::new();
    let mut at = 0;
    let ranges = connections.iter().filter_map(|c| match &c.served {
        Served::Bytes(range) => Some(range),
        Served::Value(_) => None,
    });
    for range in ranges {
        out.push_str(&body[at..range.start]);
        out.push_str("{}");
        at = range.end;
    }
    out.push_str(&body[at..]);
    out
}

/// The full reading: every value into a `Value`, exactly as sent (numbers by their text,
/// strings with any escape); or what is wrong with the page.
pub fn read_in_full(
    body: &[u8],
    header_request_id: Option<String>,
    received_at: DateTime<Utc>,
) -> Result<ListPage, FetchError> {
    let start = body.trim_ascii_start();
    if start.starts_with(b"<") {
        return Err(FetchError::Malformed(
            "the body is an HTML page (a proxy, a login page or the wrong --endpoint?)".into(),
        ));
    }
    if start.starts_with(&[0x1f, 0x8b]) {
        return Err(FetchError::Malformed(
            "the body is gzip data the server did not declare as such".into(),
        ));
    }
    let mut value: Value = crate::json::parse_slice(body)
        .map_err(|e| too_deep(body).unwrap_or(FetchError::Json(e)))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| FetchError::Malformed("the body is not a JSON object".into()))?;
    let connections = match obj.remove("vpn_connections") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => {
            return Err(FetchError::Malformed("no vpn_connections array".into()));
        }
        Some(_) => {
            return Err(FetchError::Malformed(
                "vpn_connections is not an array".into(),
            ));
        }
    };
    if let Some(pos) = connections.iter().position(|c| !c.is_object()) {
        return Err(FetchError::Malformed(format!(
            "vpn_connections[{pos}] is not an object"
        )));
    }
    let string = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    let page_info = obj.get("page_info").and_then(Value::as_object);
    let connections = connections
        .into_iter()
        .map(|value| ServedConnection {
            id: string(value.get("id")),
            created_at: string(value.get("created_at")),
            served: Served::Value(value),
        })
        .collect();
    Ok(ListPage {
        connections,
        next_marker: string(page_info.and_then(|p| p.get("next_marker"))),
        current_count: page_info
            .and_then(|p| p.get("current_count"))
            .and_then(Value::as_u64),
        total_count: obj.get("total_count").and_then(Value::as_u64),
        request_id: string(obj.get("request_id")).or(header_request_id),
        received_at,
        bytes: u64::try_from(body.len()).unwrap_or(u64::MAX),
        body: String::new(),
    })
}

/// The error for a page nesting deeper than the parser reads, naming the connection and field
/// where it does; `None` when the page does not.
fn too_deep(body: &[u8]) -> Option<FetchError> {
    let at = crate::json::too_deep(body)?;
    let limit = crate::json::MAX_DEPTH;
    let what = match crate::json::item_at(body, "vpn_connections", at) {
        Some(item) => {
            let shown = |s: Option<String>| {
                s.map_or("(none)".to_owned(), |s| {
                    format!("{:?}", crate::json::lossy(&s))
                })
            };
            format!(
                "vpn_connections[{}] (id {}) nests its field {} deeper than {limit} levels \
                 (arrays and objects, the page itself counting as 1)",
                item.index,
                shown(item.id),
                shown(item.key)
            )
        }
        None => format!("the page nests deeper than {limit} levels"),
    };
    Some(FetchError::Malformed(format!(
        "{what}, more than the JSON parser reads; nothing of the page is stored"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::arbitrary::{Json, Str, connection, string};
    use proptest::prelude::*;

    fn read(body: &[u8]) -> Result<ListPage, FetchError> {
        read_page(body.to_vec(), None, Utc::now())
    }

    /// The message and its causes, as `main` prints them.
    fn chain(error: FetchError) -> String {
        format!("{:#}", anyhow::Error::from(error))
    }

    fn read_quickly(page: &ListPage) -> bool {
        let quick = page
            .connections
            .iter()
            .all(|c| matches!(c.served, Served::Bytes(_)));
        let hashed = page
            .connections
            .iter()
            .all(|c| page.served_hash(c).is_some());
        quick && hashed && !page.body.is_empty()
    }

    /// Both readings of `body` agree: the same ids, times, markers, counts and values, or both
    /// refuse it. Returns whether it was read the quick way.
    fn readings_agree(body: &str) -> bool {
        let full = read_in_full(body.as_bytes(), None, Utc::now());
        let page = read(body.as_bytes());
        let (full, page) = match (full, page) {
            (Err(full), Err(page)) => {
                assert_eq!(chain(full), chain(page), "{body}");
                return false;
            }
            (Ok(full), Ok(page)) => (full, page),
            (full, page) => panic!("{body}: full {:?}, quick {:?}", full.err(), page.err()),
        };
        assert_eq!(page.next_marker, full.next_marker, "{body}");
        assert_eq!(page.current_count, full.current_count, "{body}");
        assert_eq!(page.total_count, full.total_count, "{body}");
        assert_eq!(page.request_id, full.request_id, "{body}");
        assert_eq!(page.connections.len(), full.connections.len(), "{body}");
        for (quick, whole) in page.connections.iter().zip(&full.connections) {
            assert_eq!(quick.id, whole.id, "{body}");
            assert_eq!(quick.created_at, whole.created_at, "{body}");
            let (quick, whole) = (page.parse(quick).unwrap(), full.parse(whole).unwrap());
            assert_eq!(quick.value, whole.value, "{body}");
            assert_eq!(
                crate::json::parse(&quick.text).unwrap(),
                whole.value,
                "{body}"
            );
        }
        read_quickly(&page)
    }

    #[test]
    fn parses_the_seed_example() {
        let body = include_bytes!("../../tests/fixtures/seed-example-all-connections.json");
        let page = read(body).unwrap();
        assert!(read_quickly(&page));
        assert_eq!(page.connections.len(), 2);
        assert_eq!(
            page.next_marker.as_deref(),
            Some("2022-12-09T07:24:27.674Z")
        );
        assert_eq!(page.current_count, Some(2));
        assert_eq!(
            page.request_id.as_deref(),
            Some("1d94a4e8-fdc2-7bfd-943e-19bfa9b234ac")
        );
        assert_eq!(page.bytes, body.len() as u64);
        assert!(readings_agree(std::str::from_utf8(body).unwrap()));
    }

    #[test]
    fn equal_bytes_hash_equal_and_other_bytes_do_not() {
        let body = br#"{"vpn_connections":[{"id":"a","x":1},{"id":"b","x":1},{"x":1,"id":"a"},
            {"id":"a","x":1}]}"#;
        let page = read(body).unwrap();
        let hashes: Vec<u128> = page
            .connections
            .iter()
            .map(|c| page.served_hash(c).unwrap())
            .collect();
        assert_eq!(hashes[0], hashes[3]);
        assert_ne!(hashes[0], hashes[1]);
        assert_ne!(hashes[0], hashes[2], "reordered keys are other bytes");
        let bytes = &br#"{"id":"a","x":1}"#[..];
        let digest = Sha256::digest(bytes);
        assert_eq!(format!("{:032x}", hashes[0]), hex::encode(&digest[..16]));
    }

    #[test]
    fn pages_not_plainly_of_the_shape_are_read_in_full_and_agree() {
        let quick = [
            r#"{"vpn_connections":[]}"#,
            r#"{"vpn_connections":[{"id":"a","name":"\u0000\ud800 x"}],"page_info":null}"#,
            r#"{"vpn_connections":[{"id":"a","n":1e5,"m":[{"k":"\"q"}]}],"total_count":1}"#,
            r#"{"vpn_connections":[{"id":"a","id2":"a"}],"extra":{"a":[1,2,{"b":null}]}}"#,
        ];
        for body in quick {
            assert!(readings_agree(body), "{body}");
        }
        let deep = |n: usize| format!("{}0{}", "[".repeat(n), "]".repeat(n));
        let in_full = [
            // Escapes or held forms in what the quick reading decodes.
            r#"{"vpn_connections":[{"id":"\u0061"}]}"#.to_owned(),
            r#"{"vpn_connections":[{"id":"a\ud800"}]}"#.to_owned(),
            "{\"vpn_connections\":[{\"id\":\"a\u{FDD0}0000\"}]}".to_owned(),
            r#"{"vpn_connections":[{"id":"a","created_at":"2025\n"}]}"#.to_owned(),
            r#"{"vpn_connections":[],"page_info":{"next_marker":"m\/"}}"#.to_owned(),
            r#"{"vpn_connections":[],"request_id":"r\u0000"}"#.to_owned(),
            // Shapes a struct would take from a list, types that do not fit, repeats.
            r#"{"vpn_connections":[],"page_info":["m",5]}"#.to_owned(),
            r#"{"vpn_connections":[],"page_info":{"current_count":"1"}}"#.to_owned(),
            r#"{"vpn_connections":[],"total_count":-1}"#.to_owned(),
            r#"{"vpn_connections":[{"id":7}]}"#.to_owned(),
            r#"{"vpn_connections":[{"id":"a","id":"b"}]}"#.to_owned(),
            r#"{"vpn_connections":[],"vpn_connections":[{"id":"a"}]}"#.to_owned(),
            // Nesting past the limit outside the connections.
            format!(r#"{{"vpn_connections":[],"future":{}}}"#, deep(127)),
        ];
        for body in &in_full {
            assert!(!readings_agree(body), "{body}");
        }
        // Refused by both, with the same message.
        let refused = [
            r#"{"vpn_connections":[7]}"#.to_owned(),
            r#"{"vpn_connections":{"id":"a"}}"#.to_owned(),
            r#"[{"vpn_connections":[]}]"#.to_owned(),
            r#"{"vpn_connections":[{"id":"a","n":01}]}"#.to_owned(),
            format!(r#"{{"vpn_connections":[],"future":{}}}"#, deep(128)),
        ];
        for body in &refused {
            assert!(read(body.as_bytes()).is_err(), "{body}");
            assert!(!readings_agree(body), "{body}");
        }
    }

    #[test]
    fn a_connection_nests_as_deep_as_in_its_page() {
        let deep = |n: usize| format!("{}0{}", "[".repeat(n), "]".repeat(n));
        let body = format!(
            r#"{{"vpn_connections": [{{"id": "c-1", "future": {}}}]}}"#,
            deep(125)
        );
        // Located the quick way; parsing it says what a full reading says.
        let page = read(body.as_bytes()).unwrap();
        let err = chain(page.parse(&page.connections[0]).err().unwrap());
        assert!(
            err.contains(r#"vpn_connections[0] (id "c-1") nests its field "future" deeper"#),
            "{err}"
        );
        let body = format!(
            r#"{{"vpn_connections": [{{"id": "c-1", "future": {}}}]}}"#,
            deep(124)
        );
        assert!(readings_agree(&body));
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        let err = chain(read(b"{\"vpn_connections\": [").unwrap_err());
        assert!(
            err.starts_with("response is not the expected JSON: "),
            "{err}"
        );
        assert!(err.contains("EOF"), "{err}");
        let err = read(b"{\"vpn_connections\": [1]}").unwrap_err();
        assert!(err.to_string().contains("vpn_connections[0]"), "{err}");
        let err = read(b"[]").unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
        let err = read(b"\n<!DOCTYPE html><html>").unwrap_err();
        assert!(err.to_string().contains("HTML page"), "{err}");
        let err = read(&[0x1f, 0x8b, 8, 0]).unwrap_err();
        assert!(err.to_string().contains("gzip"), "{err}");
        let err = read(b"{\"vpn_connections\": [{\"id\": \"\xff\"}]}").unwrap_err();
        let err = chain(err);
        assert!(
            err.starts_with("response is not the expected JSON: "),
            "{err}"
        );
    }

    /// A page of `connections`, with a next marker and a request id of any spelling.
    fn page_text(connections: &[Json], marker: &Str, request_id: &Str) -> String {
        let items: Vec<String> = connections.iter().map(Json::sent).collect();
        format!(
            r#"{{"request_id": {}, "vpn_connections": [{}],
                "page_info": {{"next_marker": {}, "current_count": {}}}, "total_count": 9}}"#,
            request_id.sent(),
            items.join(", "),
            marker.sent(),
            connections.len()
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Whatever the API sends, and however it spells it, the quick reading gives what the
        /// full one gives.
        #[test]
        fn the_quick_reading_gives_what_the_full_one_gives(
            connections in proptest::collection::vec(connection(0), 0..4),
            marker in string(),
            request_id in string(),
        ) {
            let plain_marker = Str::plain("2025-01-01T00:00:00Z");
            readings_agree(&page_text(&connections, &marker, &request_id));
            // With markers that read plainly, a page is read the quick way unless an id or a
            // time holds an escape or a held form.
            readings_agree(&page_text(&connections, &plain_marker, &plain_marker));
        }
    }
}
