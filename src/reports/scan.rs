//! Reading a report's SQL: where its `:name` parameters are, outside quotes and comments, and
//! that it is one query that can change nothing outside its transaction.
//!
//! `:name` (a letter or `_`, then letters, digits, `_`) is a parameter; PostgreSQL's `::type`
//! casts, text in `'quotes'` (`''` inside) and `E'escapes'`, `"quoted"` and `` `quoted` ``
//! names, `-- comments` and `/* comments */` are left alone. `$1`-style placeholders are
//! refused (the runner numbers its own), and so is anything but comments after a `;`: a
//! report is one statement, which both backends prepare, and PostgreSQL prepares only one.
//!
//! The runner's read-only transaction stops writes to the inventory, not everything a
//! statement can do: under a superuser PostgreSQL took `COMMIT`, `SET SESSION
//! CHARACTERISTICS ... READ WRITE` and `COPY (...) TO` a server file (which it wrote) inside
//! it. So a report must open with `SELECT`, `WITH`, `VALUES` or `TABLE` (after any `(`), and
//! may not call the functions that reach past the transaction ([`REFUSED_CALLS`]: large
//! objects, server files, settings, SQL in text, other connections, server actions). The
//! store checks after the query that its transaction is still the read-only one it began.
//! Where the two databases would cut the text differently (a comment inside a comment, a
//! `--` comment ended by a carriage return alone, `\'` in an `E'...'` string, quotes in
//! `[...]`, dollar quotes, `U&"..."` names), the report is refused: what this scan sees must
//! be what the database runs.

/// A piece of report SQL: text to pass on, or a parameter to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Param(&'a str),
}

/// The words a report may open with: one query.
const QUERY_WORDS: [&str; 4] = ["select", "with", "values", "table"];

/// Functions a report may not call (a name, or every name a prefix ending in `_` starts),
/// and why: each reaches past the read-only transaction, or runs SQL this scan cannot see.
pub const REFUSED_CALLS: &[(&str, &str)] = &[
    ("lo_", "is a large-object function"),
    ("loread", "is a large-object function"),
    ("lowrite", "is a large-object function"),
    ("pg_read_file", "reads a server file"),
    ("pg_read_binary_file", "reads a server file"),
    ("pg_stat_file", "reads a server file"),
    ("pg_ls_", "lists server files"),
    ("pg_logdir_ls", "lists server files"),
    ("pg_file_", "writes a server file"),
    ("readfile", "reads a file"),
    ("writefile", "writes a file"),
    ("load_extension", "loads code into the database"),
    ("set_config", "changes a setting"),
    ("dblink", "opens a connection of its own"),
    ("dblink_", "opens a connection of its own"),
    ("query_to_xml", "runs SQL given as text"),
    ("query_to_xmlschema", "runs SQL given as text"),
    ("query_to_xml_and_xmlschema", "runs SQL given as text"),
    ("cursor_to_xml", "reads a cursor"),
    ("cursor_to_xmlschema", "reads a cursor"),
    ("ts_stat", "runs SQL given as text"),
    ("ts_rewrite", "runs SQL given as text"),
    ("txid_current", "takes a transaction id, as a write does"),
    (
        "pg_current_xact_id",
        "takes a transaction id, as a write does",
    ),
    ("pg_notify", "notifies other sessions"),
    ("pg_advisory_", "takes a lock other sessions see"),
    ("pg_try_advisory_", "takes a lock other sessions see"),
    ("pg_terminate_backend", "acts on the server"),
    ("pg_cancel_backend", "acts on the server"),
    ("pg_reload_conf", "acts on the server"),
    ("pg_rotate_logfile", "acts on the server"),
    ("pg_switch_wal", "acts on the server"),
    ("pg_promote", "acts on the server"),
    ("pg_create_", "acts on the server"),
    ("pg_drop_replication_slot", "acts on the server"),
    ("pg_copy_", "acts on the server"),
    ("pg_replication_origin_", "acts on the server"),
    ("pg_replication_slot_advance", "acts on the server"),
    ("pg_logical_emit_message", "acts on the server"),
    ("pg_log_backend_memory_contexts", "acts on the server"),
    ("pg_stat_reset", "acts on the server"),
    ("pg_stat_reset_", "acts on the server"),
    ("pg_backup_", "acts on the server"),
    ("pg_wal_replay_", "acts on the server"),
    ("pg_import_system_collations", "acts on the server"),
];

/// A significant token of report SQL (strings and comments are none).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    /// A name or keyword, unquoted: in lower case, as the database reads it.
    Word(String),
    /// A quoted name, as it is.
    Quoted(String),
    Param(&'a str),
    Punct(u8),
}

/// `sql` cut into text and parameters; the `;` ending it (and what follows) left out. An
/// error when it is not one query a report may run.
pub fn pieces(sql: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut tokens = Vec::new();
    let unread = lex(sql, &mut tokens).err();
    // What the statement is comes first: a DO block is refused as one, whatever its body.
    if !tokens.is_empty() || unread.is_none() {
        opening(&tokens)?;
    }
    if let Some(error) = unread {
        return Err(error);
    }
    let end = tokens.iter().position(|(t, _)| *t == Token::Punct(b';'));
    let (statement, rest) = tokens.split_at(end.unwrap_or(tokens.len()));
    if rest.iter().any(|(t, _)| *t != Token::Punct(b';')) {
        return Err("it holds more than one statement".to_owned());
    }
    calls(statement)?;
    let mut out = Vec::new();
    let mut text_from = 0;
    for (token, at) in statement {
        if let Token::Param(name) = token {
            out.push(Piece::Text(&sql[text_from..*at]));
            out.push(Piece::Param(name));
            text_from = at + 1 + name.len();
        }
    }
    let text_to = rest.first().map_or(sql.len(), |(_, at)| *at);
    out.push(Piece::Text(&sql[text_from..text_to]));
    Ok(out)
}

/// Refuses a statement that is not a query.
fn opening(statement: &[(Token<'_>, usize)]) -> Result<(), String> {
    let first = statement.iter().find(|(t, _)| *t != Token::Punct(b'('));
    match first {
        None | Some((Token::Punct(b';'), _)) => return Err("it holds no SQL statement".to_owned()),
        Some((Token::Word(word), _)) if QUERY_WORDS.contains(&word.as_str()) => {}
        Some((token, _)) => {
            let shown = match token {
                Token::Word(word) => word.to_uppercase(),
                Token::Quoted(name) => format!("\"{name}\""),
                Token::Param(name) => format!(":{name}"),
                Token::Punct(c) => char::from(*c).to_string(),
            };
            let what = match shown.as_str() {
                "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT"
                | "RELEASE" | "PREPARE" => " (transaction control)",
                "SET" | "RESET" => " (a setting)",
                "COPY" => " (which reads and writes files and runs programs)",
                "DO" => " (a block of code)",
                "CALL" => " (a procedure)",
                _ => "",
            };
            return Err(format!(
                "it is {shown}{what}, not a query: a report is one SELECT, WITH, VALUES or \
                 TABLE statement"
            ));
        }
    }
    Ok(())
}

/// Refuses a statement that calls a function of [`REFUSED_CALLS`].
fn calls(statement: &[(Token<'_>, usize)]) -> Result<(), String> {
    for pair in statement.windows(2) {
        if let [
            (Token::Word(name) | Token::Quoted(name), _),
            (Token::Punct(b'('), _),
        ] = pair
            && let Some(why) = refused_call(name)
        {
            return Err(format!(
                "it calls {name}(), which {why}: a report is one query that reaches nothing \
                 past its read-only transaction"
            ));
        }
    }
    Ok(())
}

/// Why a report may not call function `name`, if it may not.
fn refused_call(name: &str) -> Option<&'static str> {
    let matches =
        |refused: &str| name == refused || (refused.ends_with('_') && name.starts_with(refused));
    let found = REFUSED_CALLS.iter().find(|(refused, _)| matches(refused));
    found.map(|(_, why)| *why)
}

/// Whether `b` may continue a name.
fn is_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The significant tokens of `sql` with their byte offsets, into `out`: all of them, or
/// those before what it cannot read.
fn lex<'a>(sql: &'a str, out: &mut Vec<(Token<'a>, usize)>) -> Result<(), String> {
    let bytes = sql.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let after_name = at > 0 && is_name(bytes[at - 1]);
        at = match rest {
            [c, ..] if c.is_ascii_whitespace() => at + 1,
            [b'-', b'-', ..] => line_comment(bytes, at + 2)?,
            [b'/', b'*', ..] => block_comment(bytes, at + 2)?,
            [b'\'', ..] => closing(bytes, at + 1, b"'")?,
            [b'e' | b'E', b'\'', ..] if !after_name => escape_string(bytes, at + 2)?,
            [b'u' | b'U', b'&', b'"', ..] if !after_name => {
                return Err(
                    "it uses a Unicode-escaped name U&\"...\": write the name as it is".to_owned(),
                );
            }
            [q @ (b'"' | b'`'), ..] => {
                let end = closing(bytes, at + 1, &[*q])?;
                // A doubled quote ends this name and starts the next: no function's name.
                out.push((Token::Quoted(sql[at + 1..end - 1].to_owned()), at));
                end
            }
            [b'[', ..] => {
                brackets(bytes, at + 1)?;
                out.push((Token::Punct(b'['), at));
                at + 1
            }
            [b'$', c, ..] if c.is_ascii_digit() => {
                let end = at + 1 + rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                return Err(format!(
                    "it uses the placeholder {}: write parameters as :name",
                    &sql[at..end]
                ));
            }
            [b'$', ..] => {
                return Err(
                    "it uses $ (a dollar-quoted string or $name): write strings in \
                            'quotes' and parameters as :name"
                        .to_owned(),
                );
            }
            [b':', b':', ..] => at + 2,
            [b':', c, ..] if c.is_ascii_alphabetic() || *c == b'_' => {
                let len = 1 + rest[1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                out.push((Token::Param(&sql[at + 1..at + len]), at));
                at + len
            }
            [c, ..] if c.is_ascii_alphabetic() || *c == b'_' || *c >= 0x80 => {
                let len = rest.iter().take_while(|c| is_name(**c)).count();
                let word = sql[at..at + len].to_ascii_lowercase();
                out.push((Token::Word(word), at));
                at + len
            }
            [c, ..] if c.is_ascii_digit() => {
                at + rest
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count()
            }
            [c, ..] => {
                out.push((Token::Punct(*c), at));
                at + 1
            }
            [] => unreachable!("at < len"),
        };
    }
    Ok(())
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
                b"`" => "a quote ` is never closed",
                _ => "a comment /* is never closed",
            };
            what.to_owned()
        })
}

/// The end of a `--` comment whose text starts at `from`: a line feed, or the end. Refused
/// where a carriage return alone would end it for one database and not the other.
fn line_comment(bytes: &[u8], from: usize) -> Result<usize, String> {
    let end = bytes[from..]
        .iter()
        .position(|b| matches!(b, b'\n' | b'\r'))
        .map_or(bytes.len(), |i| from + i);
    match bytes[end..] {
        [b'\r', b'\n', ..] | [b'\n', ..] | [] => Ok(end),
        _ => Err("a -- comment holds a carriage return without a line feed".to_owned()),
    }
}

/// The offset past a `/* comment */` whose text starts at `from`; one inside another is
/// refused (PostgreSQL nests them, SQLite does not).
fn block_comment(bytes: &[u8], from: usize) -> Result<usize, String> {
    let end = closing(bytes, from, b"*/")?;
    if bytes[from..end - 2].windows(2).any(|w| w == b"/*") {
        return Err("a comment /* holds another /*: write it without".to_owned());
    }
    Ok(end)
}

/// The offset past an `E'...'` string whose text starts at `from`. A backslash escapes the
/// next character; `\'` is refused, since only PostgreSQL reads it as a quote.
fn escape_string(bytes: &[u8], from: usize) -> Result<usize, String> {
    let mut at = from;
    while at < bytes.len() {
        match bytes[at..] {
            [b'\\', b'\'', ..] => {
                return Err("an E'...' string holds \\': write a quote as ''".to_owned());
            }
            [b'\\', ..] => at += 2,
            [b'\'', b'\'', ..] => at += 2,
            [b'\'', ..] => return Ok(at + 1),
            _ => at += 1,
        }
    }
    Err("a quote ' is never closed".to_owned())
}

/// Checks the `[...]` opening at `from - 1`: SQLite reads it as a name, PostgreSQL as a
/// subscript, so it may hold no quote, comment, `;` or `$`, which they would read apart.
fn brackets(bytes: &[u8], from: usize) -> Result<(), String> {
    let end = bytes[from..]
        .iter()
        .position(|b| *b == b']')
        .map_or(bytes.len(), |i| from + i);
    let inside = &bytes[from..end];
    let odd = |b: &u8| matches!(b, b'\'' | b'"' | b'`' | b';' | b'$');
    let comment = inside.windows(2).any(|w| w == b"--" || w == b"/*");
    if inside.iter().any(odd) || comment {
        return Err("a [...] holds a quote, comment, ; or $: write it without".to_owned());
    }
    Ok(())
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
        assert_eq!(
            pieces("SELECT E'\\\\:x''', `:y`, :z").unwrap(),
            [Text("SELECT E'\\\\:x''', `:y`, "), Param("z"), Text("")]
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

    #[test]
    fn a_report_is_one_query() {
        for sql in [
            "-- name: x\n/* c */ WITH x AS (SELECT 1) SELECT * FROM x",
            "VALUES (1)",
            "TABLE t",
            "((SELECT 1)) UNION (SELECT 2);\r\n-- end\r\n",
            "SELECT lo_bound, x$y, e'a\\nb', \"lo_export\", [name] FROM t WHERE a[1:2] = 1",
        ] {
            assert!(pieces(sql).is_ok(), "{sql:?}: {:?}", pieces(sql));
        }
        for (sql, error) in [
            (
                "COMMIT",
                "it is COMMIT (transaction control), not a query: a report is one",
            ),
            ("end", "it is END (transaction control)"),
            ("Rollback", "it is ROLLBACK (transaction control)"),
            ("ABORT", "it is ABORT (transaction control)"),
            ("BEGIN", "it is BEGIN (transaction control)"),
            (
                "START TRANSACTION READ WRITE",
                "it is START (transaction control)",
            ),
            ("SAVEPOINT s", "it is SAVEPOINT (transaction control)"),
            ("RELEASE s", "it is RELEASE (transaction control)"),
            (
                "PREPARE TRANSACTION 'x'",
                "it is PREPARE (transaction control)",
            ),
            (
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
                "it is SET (a setting)",
            ),
            ("RESET ALL", "it is RESET (a setting)"),
            (
                "COPY (SELECT 1) TO '/tmp/x'",
                "it is COPY (which reads and writes files",
            ),
            (
                "DO $$ BEGIN DELETE FROM t; END $$",
                "it is DO (a block of code)",
            ),
            ("CALL p()", "it is CALL (a procedure)"),
            ("/* SELECT */ DELETE FROM t", "it is DELETE, not a query"),
            ("(EXPLAIN SELECT 1)", "it is EXPLAIN, not a query"),
            ("PRAGMA query_only = 0", "it is PRAGMA, not a query"),
            ("VACUUM INTO '/tmp/x'", "it is VACUUM, not a query"),
            ("ATTACH 'x' AS y", "it is ATTACH, not a query"),
            ("-- nothing\n;", "it holds no SQL statement"),
            ("", "it holds no SQL statement"),
            (
                "SELECT lo_export(1, '/tmp/x')",
                "calls lo_export(), which is a large-object",
            ),
            (
                "SELECT pg_catalog.LO_IMPORT /* */ ('/etc/hostname')",
                "calls lo_import()",
            ),
            ("SELECT \"lo_export\"(1, 'x')", "calls lo_export()"),
            ("SELECT loread(0, 1)", "calls loread()"),
            (
                "SELECT pg_read_file('/etc/hostname')",
                "which reads a server file",
            ),
            ("SELECT * FROM pg_ls_dir('.')", "which lists server files"),
            (
                "SELECT set_config('a.b', 'c', false)",
                "which changes a setting",
            ),
            (
                "SELECT dblink_exec('', 'DELETE FROM t')",
                "which opens a connection",
            ),
            (
                "SELECT query_to_xml('SELECT 1', true, false, '')",
                "which runs SQL given as",
            ),
            ("SELECT pg_terminate_backend(1)", "which acts on the server"),
            (
                "SELECT 1 FROM t WHERE pg_stat_reset() IS NULL",
                "calls pg_stat_reset()",
            ),
            (
                "SELECT 1 /* /* */ ' */ , lo_export(1, 'x') --'",
                "holds another /*",
            ),
            (
                "SELECT 1 -- x\r, lo_export(1, 'x')",
                "carriage return without a line feed",
            ),
            (
                "SELECT E'\\'', lo_export(1, 'x') --'",
                "an E'...' string holds \\'",
            ),
            ("SELECT $$;$$", "it uses $ (a dollar-quoted string"),
            (
                "SELECT U&\"lo\\005fexport\"(1, 'x')",
                "a Unicode-escaped name",
            ),
            (
                "SELECT [a'], 1; PRAGMA query_only = 0; SELECT ']",
                "a [...] holds a quote",
            ),
        ] {
            let got = pieces(sql).unwrap_err();
            assert!(got.contains(error), "{sql:?}: {got}");
        }
    }
}
