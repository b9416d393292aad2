//! Edits of `policy_rules`/`policy_rules_v6`: a rule added or removed, its source or
//! destination changed, or a list reordered (no record). The detector matches rules by
//! `rule_index`, so a list is only edited when its indexes are there and unique.

use super::{Claims, Kind, Mutator, Spot, fresh_cidr, pick_key, reordered};
use super::{Connection, Edit};
use crate::random::{Rng, edit_cidr};
use serde_json::{Value, json};
use std::collections::HashSet;

impl Mutator {
    /// `RuleAdd`, `RuleRemove`, `RuleSource`, `RuleDestination`, `ReorderRules`,
    /// `ReorderDestination`, on one of the rule lists the connection has.
    pub(super) fn edit_rules(&mut self, kind: Kind, m: &mut Connection, claims: &Claims) -> Edit {
        let rng = &mut self.rng;
        let lists = ["policy_rules", "policy_rules_v6"];
        let list = pick_key(rng, m, lists, |rules| rule_indexes(rules).is_some())?;
        let rules = m.get_mut(list)?.as_array_mut()?;
        match kind {
            Kind::RuleAdd => add_rule(rng, list, rules, claims),
            Kind::ReorderRules => {
                let spots = vec![Spot::path(&[list])];
                if !claims.free(&spots) {
                    return None;
                }
                *rules = reordered(rng, rules)?;
                Some(spots)
            }
            _ => edit_rule(rng, kind, list, rules, claims),
        }
    }
}

/// A rule with an unused index, in index order.
fn add_rule(
    rng: &mut Rng,
    list: &'static str,
    rules: &mut Vec<Value>,
    claims: &Claims,
) -> Option<Vec<Spot>> {
    let v6 = list.ends_with("v6");
    let used = rule_indexes(&Value::Array(rules.clone()))?;
    let index = rng.between(0, 50) as i64;
    let spots = vec![Spot::Rule { list, index }];
    if used.contains(&index) || !claims.free(&spots) {
        return None;
    }
    let mut destination = Vec::new();
    for _ in 0..rng.between(1, 3) {
        destination.push(fresh_cidr(rng, v6, &destination));
    }
    let rule = json!({
        "rule_index": index,
        "source": edit_cidr(rng, v6),
        "destination": destination,
    });
    let at = used.iter().filter(|&&i| i < index).count();
    rules.insert(at.min(rules.len()), rule);
    Some(spots)
}

/// `RuleRemove`, `RuleSource`, `RuleDestination` or `ReorderDestination` on a random rule.
fn edit_rule(
    rng: &mut Rng,
    kind: Kind,
    list: &'static str,
    rules: &mut Vec<Value>,
    claims: &Claims,
) -> Option<Vec<Spot>> {
    let v6 = list.ends_with("v6");
    let at = rng.below(rules.len() as u64) as usize;
    let index = rules.get(at)?["rule_index"].as_i64()?;
    let spots = vec![match kind {
        Kind::RuleRemove => Spot::Rule { list, index },
        Kind::RuleSource => Spot::RuleKey {
            list,
            index,
            key: "source",
        },
        _ => Spot::RuleKey {
            list,
            index,
            key: "destination",
        },
    }];
    if !claims.free(&spots) {
        return None;
    }
    match kind {
        Kind::RuleRemove if rules.len() >= 2 => {
            rules.remove(at);
        }
        Kind::RuleSource => {
            let old = rules[at].get("source")?.clone();
            let new = Value::from(edit_cidr(rng, v6));
            if new == old {
                return None;
            }
            rules[at]["source"] = new;
        }
        Kind::RuleDestination => {
            let dest = rules[at].get_mut("destination")?.as_array_mut()?;
            match rng.below(3) {
                0 if !dest.is_empty() => {
                    dest.remove(rng.below(dest.len() as u64) as usize);
                }
                1 if !dest.is_empty() => {
                    let fresh = fresh_cidr(rng, v6, dest);
                    let at = rng.below(dest.len() as u64) as usize;
                    dest[at] = fresh;
                }
                _ => {
                    let fresh = fresh_cidr(rng, v6, dest);
                    dest.push(fresh);
                }
            }
        }
        Kind::ReorderDestination => {
            let dest = rules[at].get_mut("destination")?.as_array_mut()?;
            *dest = reordered(rng, dest)?;
        }
        _ => return None,
    }
    Some(spots)
}

/// The rule indexes of a rule list the detector matches by index, `None` when it cannot.
fn rule_indexes(rules: &Value) -> Option<Vec<i64>> {
    let indexes: Vec<i64> = rules
        .as_array()?
        .iter()
        .map(|r| r.as_object()?.get("rule_index")?.as_i64())
        .collect::<Option<_>>()?;
    let unique: HashSet<i64> = indexes.iter().copied().collect();
    (unique.len() == indexes.len()).then_some(indexes)
}
