//! Field-level drift between two versions of one connection: pure, no I/O.
//!
//! Input is a connection's JSON as stored (the export shape: no null fields). Output is one
//! `FieldChange` per changed field, with dotted paths in the API's names
//! (`ikepolicy.dpd.interval`, `policy_rules[3].destination`, `tags.env`). The rules:
//! - `updated_at` alone is no change, and neither is BGP telemetry (`bgp_peer.state_duration`,
//!   `bgp_peer.num_*`): those move on every call. They are stored, never reported.
//! - Lists whose order means nothing compare as sets: peer subnets, rule destinations, tags.
//! - Policy rules are matched by `rule_index`, tags by `key`, so one edited rule or tag is one
//!   record, not a rewrite of the whole list. When the data does not allow that matching
//!   (duplicate or missing keys), the whole list is compared instead.
//! - `status` and `bgp_peer.state` are `state`; everything else is `config`.
//! - Numbers compare by their value, exactly: `1.50` is `1.5` and `1e2` is `100`, but 2^64 is
//!   not 2^64 + 1. Values are stored as sent (`crate::json`), so a number the API only spells
//!   differently is stored anew but is no change.

use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The words change records are stored with: the store writes them, so they live there.
pub use crate::store::{Category, ChangeKind};

/// What a scope held of a served connection before this run.
#[derive(Debug, Clone, Copy)]
pub enum Previous<'a> {
    /// Not in the scope's snapshot.
    Absent,
    /// The same content (equal hashes): no need to compare fields.
    Same,
    /// Other content, as stored.
    Other(&'a Value),
}

/// The verdict on one served connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Added,
    Unchanged,
    /// At least one field changed that counts as a change.
    Modified(Vec<FieldChange>),
}

/// Judges a served connection (`served`, as stored) against what the scope held before.
/// Content that differs only in what is never a change (telemetry, order) is unchanged.
pub fn judge(previous: Previous<'_>, served: &Value) -> Verdict {
    match previous {
        Previous::Absent => Verdict::Added,
        Previous::Same => Verdict::Unchanged,
        Previous::Other(old) => {
            let changes = diff(old, served);
            if changes.is_empty() {
                Verdict::Unchanged
            } else {
                Verdict::Modified(changes)
            }
        }
    }
}

/// One changed field. `None` means the field was absent on that side.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub category: Category,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// Fields that are stored as the latest value but never reported as a change.
const NOT_A_CHANGE: &[&str] = &[
    "updated_at",
    "bgp_peer.state_duration",
    "bgp_peer.num_received_routes",
    "bgp_peer.num_message_received",
    "bgp_peer.num_message_sent",
];

const STATE_FIELDS: &[&str] = &["status", "bgp_peer.state"];

const SET_LISTS: &[&str] = &["peer_subnets", "peer_subnets_v6"];
const RULE_LISTS: &[&str] = &["policy_rules", "policy_rules_v6"];

/// The changes from `old` to `new` (two JSON objects of one connection), in field order.
pub fn diff(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    diff_objects("", as_object(old), as_object(new), &mut out);
    out
}

fn as_object(value: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    value
        .as_object()
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn category_of(path: &str) -> Category {
    if STATE_FIELDS.contains(&path) {
        Category::State
    } else {
        Category::Config
    }
}

fn record(out: &mut Vec<FieldChange>, field: String, old: Option<&Value>, new: Option<&Value>) {
    out.push(FieldChange {
        category: category_of(&field),
        field,
        old: old.cloned(),
        new: new.cloned(),
    });
}

fn diff_objects(
    prefix: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    out: &mut Vec<FieldChange>,
) {
    // Keys in `old` order, then keys only `new` has.
    let keys = old
        .keys()
        .chain(new.keys().filter(|k| !old.contains_key(*k)));
    for key in keys {
        let path = join(prefix, key);
        diff_value(path, old.get(key), new.get(key), out);
    }
}

fn diff_value(path: String, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    if NOT_A_CHANGE.contains(&path.as_str()) || same_opt(old, new) {
        return;
    }
    let (Some(o), Some(n)) = (old, new) else {
        return record(out, path, old, new);
    };
    match (o, n) {
        (Value::Object(o), Value::Object(n)) => diff_objects(&path, o, n, out),
        (Value::Array(o), Value::Array(n)) if SET_LISTS.contains(&path.as_str()) => {
            if !same_set(o, n) {
                record(out, path, old, new);
            }
        }
        (Value::Array(o), Value::Array(n)) if RULE_LISTS.contains(&path.as_str()) => {
            match (rules_by_index(o), rules_by_index(n)) {
                (Some(o), Some(n)) => diff_rules(&path, &o, &n, out),
                _ => record(out, path, old, new),
            }
        }
        (Value::Array(o), Value::Array(n)) if path == "tags" => {
            match (tags_by_key(o), tags_by_key(n)) {
                (Some(o), Some(n)) => diff_tags(&o, &n, out),
                _ if same_set(o, n) => {}
                _ => record(out, path, old, new),
            }
        }
        _ => record(out, path, old, new),
    }
}

/// Equal as sets: order and repeats do not matter. (Quadratic: these lists are short.)
fn same_set(a: &[Value], b: &[Value]) -> bool {
    let within = |x: &[Value], y: &[Value]| x.iter().all(|v| y.iter().any(|w| same(v, w)));
    within(a, b) && within(b, a)
}

/// Whether two values mean the same: JSON equality, but numbers by their exact value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || decimal(x.as_str()).is_some_and(|d| decimal(y.as_str()) == Some(d))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn same_opt(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (a, b) => a.is_none() && b.is_none(),
    }
}

/// A JSON number's text as its exact value: sign, significant digits, exponent; zero is
/// `(false, "", 0)` whatever its sign. `None` for an exponent past i64 (compared as text).
fn decimal(text: &str) -> Option<(bool, String, i128)> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (int, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{fraction}");
    let leading = digits.trim_start_matches('0');
    let significant = leading.trim_end_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    let scale = i128::try_from(fraction.len()).ok()?;
    let trailing = i128::try_from(leading.len() - significant.len()).ok()?;
    Some((
        negative,
        significant.to_owned(),
        i128::from(exponent) - scale + trailing,
    ))
}

/// Rules keyed by `rule_index`, or `None` when an index is missing or repeated.
fn rules_by_index(rules: &[Value]) -> Option<Vec<(i64, &Map<String, Value>)>> {
    let mut keyed: Vec<(i64, &Map<String, Value>)> = rules
        .iter()
        .map(|r| {
            let obj = r.as_object()?;
            Some((obj.get("rule_index")?.as_i64()?, obj))
        })
        .collect::<Option<_>>()?;
    keyed.sort_by_key(|(i, _)| *i);
    let unique = keyed.windows(2).all(|w| w[0].0 != w[1].0);
    unique.then_some(keyed)
}

fn diff_rules(
    path: &str,
    old: &[(i64, &Map<String, Value>)],
    new: &[(i64, &Map<String, Value>)],
    out: &mut Vec<FieldChange>,
) {
    let indexes: BTreeSet<i64> = old.iter().chain(new).map(|(i, _)| *i).collect();
    for index in indexes {
        let rule_path = format!("{path}[{index}]");
        match (find_by(old, index), find_by(new, index)) {
            (Some(o), Some(n)) => {
                let keys = o.keys().chain(n.keys().filter(|k| !o.contains_key(*k)));
                for key in keys {
                    let field = format!("{rule_path}.{key}");
                    match (o.get(key), n.get(key)) {
                        (Some(Value::Array(a)), Some(Value::Array(b))) if key == "destination" => {
                            if !same_set(a, b) {
                                record(out, field, o.get(key), n.get(key));
                            }
                        }
                        (a, b) => diff_value(field, a, b, out),
                    }
                }
            }
            (o, n) => {
                let o = o.map(|r| Value::Object(r.clone()));
                let n = n.map(|r| Value::Object(r.clone()));
                record(out, rule_path, o.as_ref(), n.as_ref());
            }
        }
    }
}

/// The value stored under `key` in a keyed list.
fn find_by<'a, K: PartialEq + Copy, V: ?Sized>(items: &[(K, &'a V)], key: K) -> Option<&'a V> {
    items.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Tags as key -> value, or `None` when they are not plain unique `{key, value}` pairs.
fn tags_by_key(tags: &[Value]) -> Option<Vec<(&str, &Value)>> {
    let mut keyed: Vec<(&str, &Value)> = tags
        .iter()
        .map(|t| {
            let obj = t.as_object()?;
            let plain = obj.len() == 2 && obj.get("value")?.is_string();
            plain.then_some((obj.get("key")?.as_str()?, &obj["value"]))
        })
        .collect::<Option<_>>()?;
    keyed.sort_by_key(|(k, _)| *k);
    let unique = keyed.windows(2).all(|w| w[0].0 != w[1].0);
    unique.then_some(keyed)
}

fn diff_tags(old: &[(&str, &Value)], new: &[(&str, &Value)], out: &mut Vec<FieldChange>) {
    let keys: BTreeSet<&str> = old.iter().chain(new).map(|(k, _)| *k).collect();
    for key in keys {
        let (o, n) = (find_by(old, key), find_by(new, key));
        if !same_opt(o, n) {
            record(out, format!("tags.{key}"), o, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(changes: &[FieldChange]) -> Vec<(&str, Category)> {
        changes
            .iter()
            .map(|c| (c.field.as_str(), c.category))
            .collect()
    }

    #[test]
    fn nested_fields_get_dotted_paths_and_categories() {
        let old = json!({"id": "a", "status": "ACTIVE", "name": "x",
            "ikepolicy": {"encryption_algorithm": "3des", "dpd": {"interval": 30}},
            "bgp_peer": {"state": "Established", "state_duration": 5, "num_message_sent": 1}});
        let new = json!({"id": "a", "status": "DOWN", "name": "x",
            "ikepolicy": {"encryption_algorithm": "aes-256", "dpd": {"interval": 60}},
            "bgp_peer": {"state": "Idle", "state_duration": 9, "num_message_sent": 7}});
        let changes = diff(&old, &new);
        assert_eq!(
            fields(&changes),
            vec![
                ("status", Category::State),
                ("ikepolicy.encryption_algorithm", Category::Config),
                ("ikepolicy.dpd.interval", Category::Config),
                ("bgp_peer.state", Category::State),
            ]
        );
        assert_eq!(changes[2].old, Some(json!(30)));
        assert_eq!(changes[2].new, Some(json!(60)));
    }

    #[test]
    fn telemetry_updated_at_and_reordering_are_not_changes() {
        let old = json!({"updated_at": "1", "peer_subnets": ["a", "b"],
            "policy_rules": [{"rule_index": 1, "destination": ["x", "y"]}, {"rule_index": 2}],
            "tags": [{"key": "k", "value": "v"}, {"key": "j", "value": ""}],
            "bgp_peer": {"num_received_routes": 1}});
        let new = json!({"updated_at": "2", "peer_subnets": ["b", "a"],
            "policy_rules": [{"rule_index": 2}, {"rule_index": 1, "destination": ["y", "x"]}],
            "tags": [{"key": "j", "value": ""}, {"key": "k", "value": "v"}],
            "bgp_peer": {"num_received_routes": 2}});
        assert_eq!(diff(&old, &new), vec![]);
    }

    #[test]
    fn sets_rules_and_tags_are_matched_by_their_keys() {
        let old = json!({"peer_subnets": ["a"],
            "policy_rules": [{"rule_index": 1, "source": "s", "destination": ["x"]},
                             {"rule_index": 2, "source": "t"}],
            "tags": [{"key": "env", "value": "prod"}, {"key": "gone", "value": "1"}]});
        let new = json!({"peer_subnets": ["a", "b"],
            "policy_rules": [{"rule_index": 1, "source": "s2", "destination": ["x", "z"]},
                             {"rule_index": 3, "source": "u"}],
            "tags": [{"key": "env", "value": "dev"}, {"key": "new", "value": ""}]});
        let changes = diff(&old, &new);
        assert_eq!(
            fields(&changes)
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>(),
            vec![
                "peer_subnets",
                "policy_rules[1].source",
                "policy_rules[1].destination",
                "policy_rules[2]",
                "policy_rules[3]",
                "tags.env",
                "tags.gone",
                "tags.new",
            ]
        );
        assert_eq!(changes[0].new, Some(json!(["a", "b"])));
        assert_eq!(changes[3].new, None);
        assert_eq!(changes[4].old, None);
        assert_eq!(changes[6].new, None);
        assert_eq!(changes[7].new, Some(json!("")));
    }

    #[test]
    fn presence_changes_and_unmatchable_lists_compare_whole() {
        let old = json!({"tags": [], "policy_rules": [{"source": "a"}], "ikepolicy": {"x": 1}});
        let new = json!({"policy_rules": [{"source": "b"}], "ipsecpolicy": {"pfs": "group14"},
                         "ikepolicy": {"x": 1, "phase1_negotiation_mode": "main"}});
        let changes = diff(&old, &new);
        assert_eq!(
            fields(&changes)
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>(),
            vec![
                "tags",
                "policy_rules",
                "ikepolicy.phase1_negotiation_mode",
                "ipsecpolicy"
            ]
        );
        assert_eq!(changes[0].new, None);
        assert_eq!(changes[3].new, Some(json!({"pfs": "group14"})));
    }

    #[test]
    fn numbers_compare_by_their_exact_value() {
        let number = |text: &str| crate::json::parse(text).unwrap();
        for (a, b) in [
            ("1.50", "1.5"),
            ("1e2", "100"),
            ("1E+2", "100.0"),
            ("-0", "0"),
            ("0e5", "0.000"),
            ("12.5e-1", "1.25"),
            ("1e400", "10e399"),
        ] {
            assert!(same(&number(a), &number(b)), "{a} = {b}");
            assert_eq!(
                diff(&json!({"x": number(a)}), &json!({"x": number(b)})),
                vec![]
            );
        }
        for (a, b) in [
            ("18446744073709551616", "18446744073709551617"),
            ("1e400", "1e401"),
            ("-1", "1"),
            ("0.1", "0.10000000000000001"),
            ("1", "\"1\""),
        ] {
            assert!(!same(&number(a), &number(b)), "{a} != {b}");
        }
        let subnets = |items: &str| json!({"peer_subnets": number(items)});
        assert_eq!(diff(&subnets("[1, 2.0]"), &subnets("[2, 1.00]")), vec![]);
        assert_eq!(diff(&subnets("[1]"), &subnets("[1.1]")).len(), 1);
    }

    #[test]
    fn judge_tells_added_unchanged_and_modified_apart() {
        let served = json!({"id": "c1", "status": "ACTIVE", "updated_at": "2"});
        assert_eq!(judge(Previous::Absent, &served), Verdict::Added);
        assert_eq!(judge(Previous::Same, &served), Verdict::Unchanged);
        let touched = json!({"id": "c1", "status": "ACTIVE", "updated_at": "1"});
        assert_eq!(
            judge(Previous::Other(&touched), &served),
            Verdict::Unchanged
        );
        let down = json!({"id": "c1", "status": "DOWN", "updated_at": "1"});
        let Verdict::Modified(changes) = judge(Previous::Other(&down), &served) else {
            panic!("a status change is a modification");
        };
        assert_eq!(fields(&changes), [("status", Category::State)]);
        assert_eq!("modified".parse(), Ok(ChangeKind::Modified));
        let unknown = "renamed".parse::<ChangeKind>().unwrap_err();
        assert!(unknown.starts_with("unknown change kind") && unknown.contains("renamed"));
        assert_eq!("state".parse(), Ok(Category::State));
    }
}
