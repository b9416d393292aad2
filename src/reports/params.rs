//! A report's parameters: reading the values given (or the defaults) by their declared kind,
//! and binding them where the SQL says `:name`. Values are never written into the SQL text:
//! each `:name` becomes a numbered placeholder (`$1`), reused wherever the name recurs, and
//! a list one placeholder per item, `($1), ($2)`.

use super::header::{Kind, Param};
use super::scan::Piece;
use crate::store::{AsOf, Cell};
use crate::time::parse_time as time;
use chrono::{DateTime, Utc};

/// A parameter's value, read by its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Integer(i64),
    Time(DateTime<Utc>),
    List(Vec<String>),
    /// `None`: the latest complete run.
    Run(Option<AsOf>),
    Boolean(bool),
}

/// Reads `text` as a value of `kind`; `now` is what times ago count from.
pub fn read(kind: Kind, text: &str, now: DateTime<Utc>) -> Result<Value, String> {
    match kind {
        Kind::Text => Ok(Value::Text(text.to_owned())),
        Kind::Integer => text
            .parse()
            .map(Value::Integer)
            .map_err(|_| format!("{text:?} is not an integer")),
        Kind::Time => time(text, now).map(Value::Time),
        Kind::List => {
            let items: Vec<String> = text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if items.is_empty() {
                return Err("a list needs at least one value (a,b,c)".to_owned());
            }
            Ok(Value::List(items))
        }
        Kind::Boolean => match text {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(format!("{text:?} is not true or false")),
        },
        // The points `diff` takes; the run of one (the last applied of a sync) is bound.
        Kind::Run => match AsOf::parse(text, now)? {
            AsOf::Latest => Ok(Value::Run(None)),
            point => Ok(Value::Run(Some(point))),
        },
    }
}

/// Each declared parameter's value: the one given, else its default. `given` are `name=value`
/// pairs; an unknown, repeated or missing parameter is an error naming it.
pub fn values(
    declared: &[Param],
    given: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<Vec<(String, Value)>, String> {
    for (i, (name, _)) in given.iter().enumerate() {
        if !declared.iter().any(|p| &p.name == name) {
            let known: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
            return Err(match known.as_slice() {
                [] => format!("there is no parameter {name}: it takes none"),
                _ => format!(
                    "there is no parameter {name} (its parameters: {})",
                    known.join(", ")
                ),
            });
        }
        if given[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(format!("parameter {name} is given twice"));
        }
    }
    declared
        .iter()
        .map(|param| {
            let given = given.iter().find(|(name, _)| *name == param.name);
            let text = match (given, &param.default) {
                (Some((_, text)), _) | (None, Some(text)) => text,
                (None, None) => {
                    return Err(format!(
                        "parameter {} is missing: give --param {}=<{}>{}",
                        param.name,
                        param.name,
                        param.kind,
                        if param.description.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", param.description)
                        }
                    ));
                }
            };
            let value = read(param.kind, text, now)
                .map_err(|e| format!("parameter {}={text}: {e}", param.name))?;
            Ok((param.name.clone(), value))
        })
        .collect()
}

/// What a parameter binds: one cell, or one row per item (a list).
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    One(Cell),
    Rows(Vec<Cell>),
}

/// The SQL of `pieces` with numbered placeholders, and the cells to bind to them in order.
/// `bound` must hold every parameter the pieces use.
pub fn bind(pieces: &[Piece<'_>], bound: &[(String, Bound)]) -> (String, Vec<Cell>) {
    let mut text = String::new();
    let mut binds: Vec<Cell> = Vec::new();
    // Each parameter's placeholder text, made where it is first used.
    let mut placed: Vec<(&str, String)> = Vec::new();
    for piece in pieces {
        let name = match piece {
            Piece::Text(t) => {
                text.push_str(t);
                continue;
            }
            Piece::Param(name) => *name,
        };
        if let Some((_, placeholder)) = placed.iter().find(|(n, _)| *n == name) {
            text.push_str(placeholder);
            continue;
        }
        let (_, value) = bound
            .iter()
            .find(|(n, _)| n == name)
            .expect("a value for every parameter used");
        let placeholder = match value {
            Bound::One(cell) => {
                binds.push(cell.clone());
                format!("${}", binds.len())
            }
            Bound::Rows(cells) => {
                let mut rows = Vec::with_capacity(cells.len());
                for cell in cells {
                    binds.push(cell.clone());
                    rows.push(format!("(${})", binds.len()));
                }
                rows.join(", ")
            }
        };
        text.push_str(&placeholder);
        placed.push((name, placeholder));
    }
    (text, binds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::scan::pieces;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn times_are_ago_dates_or_instants() {
        let read_time = |text| match read(Kind::Time, text, now()) {
            Ok(Value::Time(t)) => Ok(t),
            other => Err(format!("{other:?}")),
        };
        assert_eq!(read_time("24h"), Ok(at("2026-11-27T12:00:00.123456Z")));
        assert_eq!(read_time("7d"), Ok(at("2026-11-21T12:00:00.123456Z")));
        assert_eq!(read_time("1h30m"), Ok(at("2026-11-28T10:30:00.123456Z")));
        assert_eq!(read_time("2026-11-01"), Ok(at("2026-11-01T00:00:00Z")));
        assert_eq!(
            read_time("2026-11-01T09:00:00+01:00"),
            Ok(at("2026-11-01T08:00:00Z"))
        );
        assert_eq!(read_time("now"), Ok(now()));
        for bad in ["yesterday", "24", "h", "2026-13-01", "-1d"] {
            let error = read(Kind::Time, bad, now()).unwrap_err();
            assert!(
                error.contains("is not a time: use a time ago"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn runs_lists_integers_and_booleans() {
        assert_eq!(read(Kind::Run, "latest", now()), Ok(Value::Run(None)));
        assert_eq!(
            read(Kind::Run, "42", now()),
            Ok(Value::Run(Some(AsOf::Run(42))))
        );
        assert_eq!(
            read(Kind::Run, "2026-11-01", now()),
            Ok(Value::Run(Some(AsOf::Time(at("2026-11-01T00:00:00Z")))))
        );
        assert_eq!(
            read(Kind::Run, "sync:3", now()),
            Ok(Value::Run(Some(AsOf::Sync(3))))
        );
        assert!(read(Kind::Run, "first", now()).is_err());
        assert_eq!(
            read(Kind::List, " owner, env,,", now()),
            Ok(Value::List(vec!["owner".into(), "env".into()]))
        );
        assert!(read(Kind::List, " , ", now()).is_err());
        assert_eq!(read(Kind::Integer, "-5", now()), Ok(Value::Integer(-5)));
        assert_eq!(read(Kind::Boolean, "true", now()), Ok(Value::Boolean(true)));
        assert_eq!(
            read(Kind::Boolean, "false", now()),
            Ok(Value::Boolean(false))
        );
        let yes = read(Kind::Boolean, "yes", now()).unwrap_err();
        assert_eq!(yes, "\"yes\" is not true or false");
        assert!(read(Kind::Integer, "5s", now()).is_err());
    }

    fn param(name: &str, kind: Kind, default: Option<&str>) -> Param {
        Param {
            name: name.into(),
            kind,
            default: default.map(Into::into),
            description: "what it is".into(),
        }
    }

    #[test]
    fn unknown_repeated_missing_and_bad_parameters_are_named() {
        let declared = [
            param("since", Kind::Time, Some("24h")),
            param("connection", Kind::Text, None),
        ];
        let given = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let error = |pairs: &[(&str, &str)]| values(&declared, &given(pairs), now()).unwrap_err();
        assert_eq!(
            error(&[("conection", "x")]),
            "there is no parameter conection (its parameters: since, connection)"
        );
        assert_eq!(
            error(&[("connection", "x"), ("connection", "y")]),
            "parameter connection is given twice"
        );
        assert_eq!(
            error(&[]),
            "parameter connection is missing: give --param connection=<text> (what it is)"
        );
        assert!(
            error(&[("connection", "x"), ("since", "soon")])
                .starts_with("parameter since=soon: \"soon\" is not a time")
        );
        assert_eq!(
            values(&[], &given(&[("x", "1")]), now()).unwrap_err(),
            "there is no parameter x: it takes none"
        );
        let ok = values(&declared, &given(&[("connection", "vpn-1")]), now()).unwrap();
        assert_eq!(
            ok,
            [
                (
                    "since".into(),
                    Value::Time(at("2026-11-27T12:00:00.123456Z"))
                ),
                ("connection".into(), Value::Text("vpn-1".into())),
            ]
        );
    }

    #[test]
    fn placeholders_are_numbered_reused_and_listed() {
        let sql = "SELECT * FROM t WHERE a >= :since AND k IN (:keys) AND b < :since \
                   AND EXISTS (VALUES :keys)";
        let bound = vec![
            ("since".to_owned(), Bound::One(Cell::from(5))),
            (
                "keys".to_owned(),
                Bound::Rows(vec![Cell::from("owner"), Cell::from("env")]),
            ),
        ];
        let (text, binds) = bind(&pieces(sql).unwrap(), &bound);
        assert_eq!(
            text,
            "SELECT * FROM t WHERE a >= $1 AND k IN (($2), ($3)) AND b < $1 \
             AND EXISTS (VALUES ($2), ($3))"
        );
        assert_eq!(
            binds,
            [Cell::from(5), Cell::from("owner"), Cell::from("env")]
        );
        let one = vec![("keys".to_owned(), Bound::Rows(vec![Cell::from("owner")]))];
        let (text, _) = bind(&pieces("SELECT :keys").unwrap(), &one);
        assert_eq!(text, "SELECT ($1)");
    }
}
