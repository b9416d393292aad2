//! Edits of `tags`: one added, removed or given a new value, or the list reordered (no record).
//! Plain unique `{key, value}` tags are recorded per key (`tags.env`), any other list whole.

use super::{Claims, Kind, Mutator, Spot, reordered};
use super::{Connection, Edit};
use crate::random::{TAG_KEYS, TAG_VALUES};
use serde_json::{Map, Value, json};
use std::collections::HashSet;

impl Mutator {
    /// `TagAdd`, `TagRemove`, `TagValue`, `ReorderTags`.
    pub(super) fn edit_tags(&mut self, kind: Kind, m: &mut Connection, claims: &Claims) -> Edit {
        let rng = &mut self.rng;
        let keyed = tags_keyed(m)?;
        let tags = m.get_mut("tags")?.as_array_mut()?;
        // Plain unique tags are compared per key, anything else as one list.
        let spot = |key: &str| {
            if keyed {
                Spot::Tag(key.to_owned())
            } else {
                Spot::path(&["tags"])
            }
        };
        match kind {
            Kind::TagAdd => {
                let key = *rng.pick(TAG_KEYS);
                let spots = vec![spot(key)];
                if tags.iter().any(|t| t["key"] == key) || !claims.free(&spots) {
                    return None;
                }
                let at = rng.below(tags.len() as u64 + 1) as usize;
                tags.insert(at, json!({"key": key, "value": *rng.pick(TAG_VALUES)}));
                Some(spots)
            }
            Kind::TagRemove | Kind::TagValue => {
                let at = rng.below(tags.len() as u64) as usize;
                let tag = tags.get_mut(at)?;
                let spots = vec![spot(tag["key"].as_str()?)];
                if !claims.free(&spots) {
                    return None;
                }
                if kind == Kind::TagRemove {
                    tags.remove(at);
                } else {
                    let old = tag.get("value")?.clone();
                    let new = Value::from(*rng.pick(TAG_VALUES));
                    if new == old {
                        return None;
                    }
                    tag["value"] = new;
                }
                Some(spots)
            }
            Kind::ReorderTags => {
                let spots = vec![Spot::path(&["tags"])];
                if !claims.free(&spots) {
                    return None;
                }
                *tags = reordered(rng, tags)?;
                Some(spots)
            }
            _ => None,
        }
    }
}

/// `Some(true)` when the tags are plain unique `{key, value}` pairs (compared per key),
/// `Some(false)` when they are a list compared whole, `None` when there is no list.
fn tags_keyed(m: &Map<String, Value>) -> Option<bool> {
    let tags = m.get("tags")?.as_array()?;
    let mut keys = HashSet::new();
    Some(tags.iter().all(|t| {
        t.as_object().is_some_and(|o| {
            o.len() == 2
                && o.get("value").is_some_and(Value::is_string)
                && o.get("key")
                    .and_then(Value::as_str)
                    .is_some_and(|k| keys.insert(k))
        })
    }))
}
