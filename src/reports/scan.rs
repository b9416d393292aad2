//! Reading a report's SQL: where its `:name` parameters are, outside quotes and comments, and
//! that it is one statement.
//!
//! `:name` (a letter or `_`, then letters, digits, `_`) is a parameter; PostgreSQL's `::type`
//! casts, text in `'quotes'` (`''` inside), `"quoted identifiers"`, `-- comments` and
//! `/* comments */` are left alone. `$1`-style placeholders are refused (the runner numbers
//! its own), and so is anything but comments after a `;`: a report is one statement, which
//! both backends prepare, and PostgreSQL prepares only one.

/// A piece of report SQL: text to pass on, or a parameter to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Param(&'a str),
}

/// `sql` cut into text and parameters; the `;` ending it (and what follows) left out.
pub fn pieces(sql: &str) -> Result<Vec<Piece<'_>>, String> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut text_from = 0;
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        at = match rest {
            [b'\'' | b'"', ..] => closing(bytes, at + 1, &rest[..1])?,
            [b'-', b'-', ..] => closing(bytes, at + 2, b"\n").unwrap_or(bytes.len()),
            [b'/', b'*', ..] => closing(bytes, at + 2, b"*/")?,
            [b':', b':', ..] => at + 2,
            [b':', c, ..] if c.is_ascii_alphabetic() || *c == b'_' => {
                let len = 1 + rest[1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                out.push(Piece::Text(&sql[text_from..at]));
                out.push(Piece::Param(&sql[at + 1..at + len]));
                text_from = at + len;
                at + len
            }
            [b'$', c, ..] if c.is_ascii_digit() => {
                let end = at + 1 + rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                return Err(format!(
                    "it uses the placeholder {}: write parameters as :name",
                    &sql[at..end]
                ));
            }
            [b';', ..] => {
                if has_statement(&sql[at + 1..])? {
                    return Err("it holds more than one statement".to_owned());
                }
                out.push(Piece::Text(&sql[text_from..at]));
                return Ok(out);
            }
            _ => at + 1,
        };
    }
    out.push(Piece::Text(&sql[text_from..]));
    Ok(out)
}

/// The offset just past the first `end` at or after `from`.
fn closing(bytes: &[u8], from: usize, end: &[u8]) -> Result<usize, String> {
    bytes[from.min(bytes.len())..]
        .windows(end.len())
        .position(|w| w == end)
        .map(|i| from + i + end.len())
        .ok_or_else(|| {
            let what = match end {
                b"'" => "a quote ' is never closed",
                b"\"" => "a quote \" is never closed",
                _ => "a comment /* is never closed",
            };
            what.to_owned()
        })
}

/// Whether `sql` holds anything but whitespace and comments.
fn has_statement(sql: &str) -> Result<bool, String> {
    let bytes = sql.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        at = match &bytes[at..] {
            [b'-', b'-', ..] => closing(bytes, at + 2, b"\n").unwrap_or(bytes.len()),
            [b'/', b'*', ..] => closing(bytes, at + 2, b"*/")?,
            [c, ..] if c.is_ascii_whitespace() || *c == b';' => at + 1,
            _ => return Ok(true),
        };
    }
    Ok(false)
}

/// The distinct parameter names `pieces` use, in order of first use.
pub fn used<'a>(pieces: &[Piece<'a>]) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for piece in pieces {
        if let Piece::Param(name) = piece
            && !names.contains(name)
        {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use Piece::{Param, Text};

    #[test]
    fn parameters_are_found_outside_quotes_and_comments() {
        let sql = "SELECT a::text, ':no' AS \":nor\" -- :not\n/* :none */ FROM t \
                   WHERE x = :since AND y IN (:keys) AND z[1:2] = :since;\n-- end\n";
        assert_eq!(
            pieces(sql).unwrap(),
            [
                Text("SELECT a::text, ':no' AS \":nor\" -- :not\n/* :none */ FROM t WHERE x = "),
                Param("since"),
                Text(" AND y IN ("),
                Param("keys"),
                Text(") AND z[1:2] = "),
                Param("since"),
                Text(""),
            ]
        );
        assert_eq!(used(&pieces(sql).unwrap()), ["since", "keys"]);
        assert_eq!(
            pieces("SELECT 'it''s :x', :_y2").unwrap(),
            [Text("SELECT 'it''s :x', "), Param("_y2"), Text("")]
        );
    }

    #[test]
    fn one_statement_without_numbered_placeholders() {
        for (sql, error) in [
            ("SELECT 1; DELETE FROM t", "more than one statement"),
            (
                "SELECT 1; -- fine\n; /* fine */ SELECT 2",
                "more than one statement",
            ),
            (
                "SELECT $1",
                "uses the placeholder $1: write parameters as :name",
            ),
            ("SELECT 'open", "a quote ' is never closed"),
            ("SELECT 1 /* open", "a comment /* is never closed"),
        ] {
            let got = pieces(sql).unwrap_err();
            assert!(got.contains(error), "{sql:?}: {got}");
        }
        assert_eq!(
            pieces("SELECT '$1'; -- fine\n").unwrap(),
            [Text("SELECT '$1'")]
        );
    }
}
