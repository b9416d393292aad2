//! A report's header: the comment lines it opens with, saying what it is and what it takes.
//!
//! ```sql
//! -- name: recent-changes
//! -- title: Changes detected recently, configuration and state apart
//! -- Free text: what the report answers, one or more lines; an empty comment line starts a
//! -- new paragraph.
//! -- param: since time = 24h  Changes detected at or after this time.
//! -- param: connection text  A parameter without `= default` must be given.
//! --     An indented line goes on with the description of the parameter above it.
//! -- column: detected_at time
//! -- column: old_value json
//! ```
//!
//! `name:` is optional in a user's file (its file name stands in); everything else is
//! optional too. A parameter is `NAME TYPE [= DEFAULT]`, the default one word, and its type
//! one of [`Kind`]. A `column:` line says what a result column holds where its cells cannot
//! (see [`Holds`]).

/// What a report says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub name: Option<String>,
    pub title: String,
    /// Paragraphs, separated by `\n`.
    pub description: String,
    pub params: Vec<Param>,
    /// What the columns named hold, as `column:` lines say.
    pub columns: Vec<(String, Holds)>,
}

/// What a result column holds, declared because its cells may not say: SQLite gives a time as
/// text (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC), and both databases give a JSON value stored as
/// text (`old_value`) as text. A declared time prints in RFC 3339 (as a PostgreSQL
/// `timestamptz` does anyway), and a declared JSON value is a JSON value in `--format json`,
/// not a string holding JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    Time,
    Json,
}

impl Holds {
    const ALL: [Holds; 2] = [Holds::Time, Holds::Json];

    fn as_str(self) -> &'static str {
        match self {
            Holds::Time => "time",
            Holds::Json => "json",
        }
    }
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub kind: Kind,
    /// `None`: it must be given.
    pub default: Option<String>,
    pub description: String,
}

/// What a parameter's value is, which decides how it is read and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any text, bound as text.
    Text,
    /// A whole number, bound as an integer.
    Integer,
    /// An instant: a time ago (`24h`, `7d`), a date (`2026-11-01`, midnight UTC), an RFC 3339
    /// time, or `now`; bound as the database's own time type, so comparisons with time
    /// columns need no date function.
    Time,
    /// Comma-separated values, bound one placeholder each as rows: `($1), ($2)`, which reads
    /// as a list in `IN (:keys)` and as a table in `VALUES :keys`.
    List,
    /// A complete run: its id, `latest`, or a time (as for `time`) meaning the latest run
    /// applied by then; bound as the run's id (`latest` as NULL before any run completed:
    /// the empty inventory, which matches no run).
    Run,
    /// `true` or `false`, bound as the database's boolean: test it as `:flag` or `NOT :flag`.
    Boolean,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Text,
        Kind::Integer,
        Kind::Time,
        Kind::List,
        Kind::Run,
        Kind::Boolean,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Integer => "integer",
            Kind::Time => "time",
            Kind::List => "list",
            Kind::Run => "run",
            Kind::Boolean => "boolean",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Reads the header of `text`; an error names the line.
pub fn parse(text: &str) -> Result<Header, String> {
    let mut header = Header::default();
    let mut paragraphs: Vec<String> = Vec::new();
    let mut new_paragraph = true;
    // Whether the line before was a parameter an indented line may go on with.
    let mut in_param = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.trim_start().strip_prefix("--") else {
            break;
        };
        let at = |e: String| format!("line {}: {e}", i + 1);
        let indented = comment.starts_with("  ");
        let comment = comment.trim();
        if let Some(name) = comment.strip_prefix("name:") {
            header.name = Some(report_name(name.trim()).map_err(at)?);
        } else if let Some(title) = comment.strip_prefix("title:") {
            header.title = title.trim().to_owned();
        } else if let Some(param) = comment.strip_prefix("param:") {
            let param = parse_param(param).map_err(at)?;
            if header.params.iter().any(|p| p.name == param.name) {
                return Err(at(format!("parameter {} is declared twice", param.name)));
            }
            header.params.push(param);
            in_param = true;
            continue;
        } else if let Some(column) = comment.strip_prefix("column:") {
            header.columns.push(parse_column(column).map_err(at)?);
        } else if comment.is_empty() {
            new_paragraph = true;
        } else if in_param && indented {
            let param = header.params.last_mut().expect("a parameter");
            param.description = join(&param.description, comment);
            continue;
        } else if new_paragraph {
            paragraphs.push(comment.to_owned());
            new_paragraph = false;
        } else if let Some(last) = paragraphs.last_mut() {
            *last = join(last, comment);
        }
        in_param = false;
    }
    header.description = paragraphs.join("\n");
    Ok(header)
}

fn join(text: &str, more: &str) -> String {
    if text.is_empty() {
        more.to_owned()
    } else {
        format!("{text} {more}")
    }
}

/// `NAME TYPE [= DEFAULT] [description]`.
fn parse_param(text: &str) -> Result<Param, String> {
    let mut words = text.split_whitespace();
    let name = words.next().ok_or("a parameter needs a name and a type")?;
    if !is_identifier(name) {
        return Err(format!(
            "parameter name {name:?} is not letters, digits and _ (starting with a letter or _)"
        ));
    }
    let kind = words
        .next()
        .ok_or(format!("parameter {name} needs a type"))?;
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
        .ok_or_else(|| {
            let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            format!(
                "parameter {name} has unknown type {kind:?} (known: {})",
                known.join(", ")
            )
        })?;
    let mut rest: Vec<&str> = words.collect();
    let default = if rest.first() == Some(&"=") {
        let value = rest
            .get(1)
            .ok_or(format!("parameter {name}: `=` and no default"))?;
        let value = (*value).to_owned();
        rest.drain(..2);
        Some(value)
    } else {
        None
    };
    Ok(Param {
        name: name.to_owned(),
        kind,
        default,
        description: rest.join(" "),
    })
}

/// `NAME time` or `NAME json`.
fn parse_column(text: &str) -> Result<(String, Holds), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let known = || {
        let known: Vec<&str> = Holds::ALL.iter().map(|h| h.as_str()).collect();
        known.join(" or ")
    };
    let [name, holds] = words[..] else {
        return Err(format!("a column line is `column: NAME {}`", known()));
    };
    match Holds::ALL.into_iter().find(|h| h.as_str() == holds) {
        Some(h) => Ok((name.to_owned(), h)),
        None => Err(format!("column {name} holds {holds:?}: say {}", known())),
    }
}

/// A report name: lowercase letters, digits and `-`.
pub fn report_name(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "report name {name:?} is not lowercase letters, digits and -"
        ))
    }
}

/// Letters, digits and `_`, not starting with a digit: a parameter's name as `:name` in SQL.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_says_name_title_description_and_parameters() {
        let text = "\n-- name: recent-changes\n-- title: What changed lately\n\
                    -- Every change record since a time,\n-- one row per field.\n--\n\
                    -- Second paragraph.\n\
                    -- param: since time = 24h  Changes at or after this;\n\
                    --     a time ago or an RFC 3339 time.\n\
                    -- param: connection text\n\
                    -- param: keys list = owner,env\n\
                    -- column: detected_at time\n\
                    -- column: old_value json\n\
                    -- Back to the description.\n\
                    SELECT 1 -- not the header\n-- param: late text\n";
        let header = parse(text).unwrap();
        assert_eq!(header.name.as_deref(), Some("recent-changes"));
        assert_eq!(header.title, "What changed lately");
        assert_eq!(
            header.description,
            "Every change record since a time, one row per field.\nSecond paragraph. \
             Back to the description."
        );
        let params: Vec<(&str, Kind, Option<&str>, &str)> = header
            .params
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.kind,
                    p.default.as_deref(),
                    p.description.as_str(),
                )
            })
            .collect();
        assert_eq!(
            params,
            [
                (
                    "since",
                    Kind::Time,
                    Some("24h"),
                    "Changes at or after this; a time ago or an RFC 3339 time."
                ),
                ("connection", Kind::Text, None, ""),
                ("keys", Kind::List, Some("owner,env"), ""),
            ]
        );
        assert_eq!(
            header.columns,
            [
                ("detected_at".to_owned(), Holds::Time),
                ("old_value".to_owned(), Holds::Json)
            ]
        );
    }

    #[test]
    fn a_bad_header_line_is_named() {
        let cases = [
            (
                "-- param: since date = 1d",
                "line 1: parameter since has unknown type",
            ),
            (
                "--\n-- param: 9lives text",
                "line 2: parameter name \"9lives\"",
            ),
            (
                "-- param: a text\n-- param: a integer",
                "line 2: parameter a is declared twice",
            ),
            (
                "-- param: a integer =",
                "line 1: parameter a: `=` and no default",
            ),
            ("-- param: a", "line 1: parameter a needs a type"),
            (
                "-- column: at date",
                "line 1: column at holds \"date\": say time or json",
            ),
            (
                "-- column: at",
                "line 1: a column line is `column: NAME time or json`",
            ),
            (
                "-- name: Weak Crypto",
                "line 1: report name \"Weak Crypto\"",
            ),
        ];
        for (text, error) in cases {
            let got = parse(text).unwrap_err();
            assert!(got.starts_with(error), "{text:?}: {got}");
        }
    }
}
