//! Where an edit happened, in the detector's terms, and which paths a connection's edits have
//! claimed this round: a record's field, its old and new values, and whether a change counts.

use crate::wire::canonical_json;
use serde_json::Value;
use std::collections::BTreeSet;

/// Where an edit happened, in the detector's terms: a dotted path, a policy rule by
/// `rule_index` (or one key of it), or a tag by key.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Spot {
    Path(Vec<String>),
    Rule {
        list: &'static str,
        index: i64,
    },
    RuleKey {
        list: &'static str,
        index: i64,
        key: &'static str,
    },
    Tag(String),
}

impl Spot {
    pub(super) fn path(parts: &[&str]) -> Self {
        Spot::Path(parts.iter().map(|p| (*p).to_owned()).collect())
    }

    /// The segments this spot owns; a claim overlaps another when one is a prefix of the other.
    pub(super) fn claim(&self) -> Vec<String> {
        match self {
            Spot::Path(parts) => parts.clone(),
            Spot::Rule { list, index } => vec![(*list).into(), format!("[{index}]")],
            Spot::RuleKey { list, index, key } => {
                vec![(*list).into(), format!("[{index}]"), (*key).into()]
            }
            Spot::Tag(key) => vec!["tags".into(), key.clone()],
        }
    }

    /// The record's `field`.
    pub(super) fn field(&self) -> String {
        match self {
            Spot::Path(parts) => parts.join("."),
            Spot::Rule { list, index } => format!("{list}[{index}]"),
            Spot::RuleKey { list, index, key } => format!("{list}[{index}].{key}"),
            Spot::Tag(key) => format!("tags.{key}"),
        }
    }

    /// The value at this spot in `connection` (without nulls), `Null` when absent.
    pub(super) fn lookup(&self, connection: &Value) -> Value {
        let rule = |list: &str, index: i64| {
            connection[list]
                .as_array()?
                .iter()
                .find(|r| r["rule_index"].as_i64() == Some(index))
        };
        let found = match self {
            Spot::Path(parts) => parts.iter().try_fold(connection, |v, k| v.get(k)),
            Spot::Rule { list, index } => rule(list, *index),
            Spot::RuleKey { list, index, key } => rule(list, *index).and_then(|r| r.get(*key)),
            Spot::Tag(key) => connection["tags"]
                .as_array()
                .and_then(|tags| tags.iter().find(|t| t["key"] == key.as_str()))
                .and_then(|t| t.get("value")),
        };
        found.cloned().unwrap_or(Value::Null)
    }

    /// Whether `old` -> `new` is a change under the detector's comparison at this spot.
    pub(super) fn differs(&self, old: &Value, new: &Value) -> bool {
        let as_set = match self {
            Spot::Path(parts) => {
                parts.len() == 1
                    && ["peer_subnets", "peer_subnets_v6", "tags"].contains(&parts[0].as_str())
            }
            Spot::RuleKey { key, .. } => *key == "destination",
            _ => false,
        };
        let set = |v: &Value| {
            v.as_array()
                .map(|items| items.iter().map(canonical_json).collect::<BTreeSet<_>>())
        };
        if as_set {
            set(old) != set(new)
        } else {
            old != new
        }
    }
}

#[derive(Default)]
pub(super) struct Claims(Vec<Vec<String>>);

impl Claims {
    pub(super) fn free(&self, spots: &[Spot]) -> bool {
        spots.iter().all(|s| {
            let claim = s.claim();
            self.0.iter().all(|taken| {
                let n = taken.len().min(claim.len());
                taken[..n] != claim[..n]
            })
        })
    }

    pub(super) fn take(&mut self, spots: &[Spot]) {
        self.0.extend(spots.iter().map(Spot::claim));
    }
}
