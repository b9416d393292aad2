//! Edits of a connection's own top-level fields: name, status, HA role, the enable flags,
//! optional fields appearing and disappearing, fields no model knows yet, and a bare
//! `updated_at` bump (which must produce no record).

use super::{Claims, Kind, Mutator, Spot, fresh_cidr, pick_key, present};
use super::{Connection, Edit};
use crate::data::TimeStyle;
use crate::random::{STATUSES, TAG_KEYS, TAG_VALUES, ha_role, rename, uuid_v4};
use serde_json::{Map, Value, json};

impl Mutator {
    /// `Name`, `Status`, `HaRole` and `EnableFlag`: a new value of a field that is there.
    pub(super) fn edit_field(&mut self, kind: Kind, m: &mut Connection, claims: &Claims) -> Edit {
        match kind {
            Kind::Name => self.scalar(m, claims, &["name"], |r, _| rename(r).into()),
            Kind::Status => self.scalar(m, claims, &["status"], |r, _| {
                let pool = if r.chance(70) {
                    &STATUSES[..2]
                } else {
                    STATUSES
                };
                r.pick(pool).0.into()
            }),
            Kind::HaRole => self.scalar(m, claims, &["ha_role"], |_, old| {
                if old == "master" { "slave" } else { "master" }.into()
            }),
            Kind::EnableFlag => {
                let flags = ["enable_nqa", "enable_hub"];
                let key = pick_key(&mut self.rng, m, flags, Value::is_boolean)?;
                self.scalar(m, claims, &[key], |_, old| (old != &json!(true)).into())
            }
            _ => None,
        }
    }

    /// An optional field that is there goes away; one that is not appears.
    pub(super) fn toggle_optional_field(
        &mut self,
        m: &mut Map<String, Value>,
        claims: &Claims,
    ) -> Option<Vec<Spot>> {
        let rng = &mut self.rng;
        let key = *rng.pick(&[
            "connection_monitor_id",
            "ha_role",
            "enable_hub",
            "peer_subnets_v6",
            "tags",
        ]);
        let spots = vec![Spot::path(&[key])];
        if !claims.free(&spots) {
            return None;
        }
        if present(m, key).is_some() {
            m.shift_remove(key);
        } else {
            let value = match key {
                "connection_monitor_id" => uuid_v4(rng).into(),
                "ha_role" => ha_role(rng).into(),
                "enable_hub" => rng.chance(50).into(),
                "peer_subnets_v6" => {
                    let mut list = Vec::new();
                    for _ in 0..rng.between(1, 2) {
                        list.push(fresh_cidr(rng, true, &list));
                    }
                    Value::Array(list)
                }
                _ => {
                    let mut tags = Vec::new();
                    for _ in 0..rng.between(1, 2) {
                        let key = *rng.pick(TAG_KEYS);
                        if !tags.iter().any(|t: &Value| t["key"] == key) {
                            tags.push(json!({"key": key, "value": *rng.pick(TAG_VALUES)}));
                        }
                    }
                    Value::Array(tags)
                }
            };
            m.insert(key.into(), value);
        }
        Some(spots)
    }

    /// A field this version's model does not know: at the top level, inside `ikepolicy`, or
    /// nested in an object.
    pub(super) fn edit_unknown_field(
        &mut self,
        m: &mut Map<String, Value>,
        claims: &Claims,
    ) -> Option<Vec<Spot>> {
        match self.rng.below(3) {
            0 => self.scalar(
                m,
                claims,
                &["future_obj", "a"],
                |r, _| json!([r.below(1000), "x", {"b": r.below(10)}]),
            ),
            1 => {
                let ike = m.get_mut("ikepolicy")?.as_object_mut()?;
                let spots = vec![Spot::path(&["ikepolicy", "sa_reauth"])];
                if !claims.free(&spots) {
                    return None;
                }
                let new = if ike.get("sa_reauth").is_some_and(|v| v == "enable") {
                    "disable"
                } else {
                    "enable"
                };
                ike.insert("sa_reauth".into(), new.into());
                Some(spots)
            }
            _ => {
                let spots = vec![Spot::path(&["traffic_selector_mode"])];
                if !claims.free(&spots) {
                    return None;
                }
                let new = if m
                    .get("traffic_selector_mode")
                    .is_some_and(|v| v == "strict")
                {
                    "loose"
                } else {
                    "strict"
                };
                m.insert("traffic_selector_mode".into(), new.into());
                Some(spots)
            }
        }
    }

    /// A later `updated_at` in the spelling of the connection's `created_at`; no record.
    pub(super) fn touch_updated_at(
        &mut self,
        m: &mut Map<String, Value>,
        claims: &Claims,
    ) -> Option<Vec<Spot>> {
        let spots = vec![Spot::path(&["updated_at"])];
        if !claims.free(&spots) {
            return None;
        }
        let style = m
            .get("created_at")
            .and_then(Value::as_str)
            .map_or(TimeStyle::Millis, style_of);
        let stamp = self.tick(style);
        m.insert("updated_at".into(), stamp.render().into());
        Some(spots)
    }
}

/// The spelling of an API timestamp.
fn style_of(text: &str) -> TimeStyle {
    match text.strip_suffix('Z') {
        Some(rest) if rest.contains('.') => TimeStyle::Millis,
        Some(_) => TimeStyle::Seconds,
        None => TimeStyle::NoZone,
    }
}
