//! Finding things in JSON text that `parse` cannot read because it nests too deep: where, and
//! in which item of a list, so the error can name what to look at.

use super::parse;
use std::ops::Range;

/// The deepest nesting [`parse`] reads (serde_json's limit): arrays and objects inside each
/// other, the outermost counting as 1.
pub const MAX_DEPTH: usize = 127;

/// The byte offset of the first array or object nested deeper than [`MAX_DEPTH`], if any.
pub fn too_deep(text: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    for (at, token) in tokens(text) {
        match token {
            Token::Open(_) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(at);
                }
            }
            Token::Close => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Which object of the list under key `list` of a top-level object holds byte `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its position in the list, from 0.
    pub index: usize,
    /// Its member holding the offset, as `parse` holds strings.
    pub key: Option<String>,
    /// Its string member `id`, as `parse` holds strings.
    pub id: Option<String>,
}

/// The object of the list `list` (of the top-level object) that holds byte `offset` of `text`:
/// read without nesting limits, so it works where `parse` refuses.
pub fn item_at(text: &[u8], list: &str, offset: usize) -> Option<Item> {
    let mut depth = 0usize;
    let mut in_list = false;
    // The current key at depth 1 (the top-level object) and 3 (an item).
    let (mut top_key, mut item_key): (Option<String>, Option<String>) = (None, None);
    let mut last_string: Option<Range<usize>> = None;
    let (mut index, mut id, mut id_next) = (0, None, false);
    let mut found: Option<Item> = None;
    for (at, token) in tokens(text) {
        if found.is_none() && in_list && depth >= 3 && at >= offset {
            found = Some(Item {
                index,
                key: item_key.clone(),
                id: None,
            });
        }
        match token {
            Token::Open(kind) => {
                in_list |= depth == 1 && kind == b'[' && top_key.as_deref() == Some(list);
                id_next = false;
                depth += 1;
            }
            Token::Close => {
                depth = depth.saturating_sub(1);
                in_list &= depth >= 2;
                if depth == 2
                    && let Some(item) = &mut found
                {
                    item.id = id;
                    return found;
                }
            }
            Token::Colon => {
                let key = last_string.take().and_then(|s| held_string(&text[s]));
                match depth {
                    1 => top_key = key,
                    3 if in_list => {
                        id_next = key.as_deref() == Some("id");
                        item_key = key;
                    }
                    _ => {}
                }
            }
            Token::Comma => {
                if in_list && depth == 2 {
                    (index, id, item_key) = (index + 1, None, None);
                }
                id_next = false;
            }
            Token::String(range) => {
                if id_next && depth == 3 {
                    id = held_string(&text[range]);
                    id_next = false;
                } else {
                    last_string = Some(range);
                }
            }
            Token::Scalar => id_next = false,
        }
    }
    found
}

/// A string literal as `parse` holds it.
fn held_string(literal: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(literal).ok()?;
    parse(text).ok()?.as_str().map(str::to_owned)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// `{` or `[`.
    Open(u8),
    Close,
    Colon,
    Comma,
    /// A string literal, quotes included.
    String(Range<usize>),
    /// A number, `true`, `false`, `null`, or anything else that is no JSON.
    Scalar,
}

/// The tokens of JSON text with their offsets, at any depth.
fn tokens(text: &[u8]) -> impl Iterator<Item = (usize, Token)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        loop {
            let start = at;
            let token = match *text.get(at)? {
                b' ' | b'\t' | b'\n' | b'\r' => {
                    at += 1;
                    continue;
                }
                open @ (b'{' | b'[') => Token::Open(open),
                b'}' | b']' => Token::Close,
                b':' => Token::Colon,
                b',' => Token::Comma,
                b'"' => {
                    at = string_end(text, at + 1)?;
                    return Some((start, Token::String(start..at)));
                }
                _ => {
                    let len = text[at..]
                        .iter()
                        .take_while(|b| !b"{}[]:,\" \t\n\r".contains(b))
                        .count();
                    at += len;
                    return Some((start, Token::Scalar));
                }
            };
            at += 1;
            return Some((start, token));
        }
    })
}

/// The offset just past the closing quote of the string whose content starts at `at`.
fn string_end(text: &[u8], mut at: usize) -> Option<usize> {
    loop {
        at += memchr::memchr2(b'"', b'\\', &text[at..])?;
        if text[at] == b'"' {
            return Some(at + 1);
        }
        at += 2;
        if at > text.len() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(field: &str, value: &str) -> String {
        format!(
            r#"{{"vpn_connections": [{{"id": "a"}}, {{"x": [1, {{"id": 2}}], "{field}": {value},
                "id": "b\u0000\"c"}}], "page_info": {{}}}}"#
        )
    }

    #[test]
    fn nesting_past_the_limit_is_found_in_its_item() {
        let deep = format!("{}1{}", "[".repeat(125), "]".repeat(125));
        let text = page("future", &deep);
        let at = too_deep(text.as_bytes()).expect("too deep");
        assert_eq!(&text[at..at + 1], "[");
        assert!(parse(&text).is_err());
        let item = item_at(text.as_bytes(), "vpn_connections", at).expect("an item");
        assert_eq!(item.index, 1);
        assert_eq!(item.key.as_deref(), Some("future"));
        assert_eq!(item.id.as_deref(), Some("b\u{FDD0}0000\"c"));
    }

    #[test]
    fn the_limit_itself_is_read() {
        let deep = format!("{}1{}", "[".repeat(124), "]".repeat(124));
        let text = page("future", &deep);
        assert_eq!(too_deep(text.as_bytes()), None);
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn an_offset_outside_the_list_is_in_no_item() {
        let text = page("f", "1");
        let info = text.find("page_info").unwrap();
        assert_eq!(item_at(text.as_bytes(), "vpn_connections", info), None);
        assert_eq!(item_at(text.as_bytes(), "other", 25), None);
    }
}
