//! Random mutations of a served inventory, each with the change record it must produce: the
//! oracle of the randomized drift tests.
//!
//! A [`Mutator`] puts an inventory through rounds of what a real project goes through:
//! connections created, deleted and coming back under the same id, settings edited, tunnels and
//! BGP sessions going up and down, tags, policy rules and subnets edited, fields appearing and
//! disappearing; and changes that must *not* be reported: BGP telemetry, reordered lists whose
//! order means nothing, a bare `updated_at` bump. Every edit of a connection claims the field
//! path it touches, and no two edits of one connection in a round claim overlapping paths
//! (`tags` overlaps `tags.env`), so each expected record is the net effect of exactly one edit.
//! Its old and new values are read from the connection's JSON before and after the round, nulls
//! removed, at the claimed path: the mutations never compute them by hand. Nothing here does I/O.

use crate::data::{
    self, Context, Gateway, NAME_STEMS, Rng, Stamp, TAG_KEYS, TAG_VALUES, TimeStyle,
};
use crate::wire::{canonical_json, parse_api_time, without_nulls};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// One change a drift detector must record, as the mutation made it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedChange {
    pub connection_id: String,
    /// `"added"`, `"removed"` or `"modified"`.
    pub change: &'static str,
    /// `"config"` or `"state"`.
    pub category: &'static str,
    /// `None` for added and removed connections.
    pub field: Option<String>,
    /// `Null` when absent on that side.
    pub old: Value,
    pub new: Value,
}

impl AppliedChange {
    /// The record of a connection that appeared.
    pub fn added(connection_id: &str) -> Self {
        Self::whole(connection_id, "added")
    }

    /// The record of a connection that disappeared.
    pub fn removed(connection_id: &str) -> Self {
        Self::whole(connection_id, "removed")
    }

    fn whole(connection_id: &str, change: &'static str) -> Self {
        AppliedChange {
            connection_id: connection_id.to_owned(),
            change,
            category: "config",
            field: None,
            old: Value::Null,
            new: Value::Null,
        }
    }

    /// A total order key: values compare by their canonical JSON text (`Value` has no order).
    pub fn sort_key(&self) -> (&str, &str, &str, Option<&str>, String, String) {
        (
            &self.connection_id,
            self.change,
            self.category,
            self.field.as_deref(),
            canonical_json(&self.old),
            canonical_json(&self.new),
        )
    }
}

impl Ord for AppliedChange {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for AppliedChange {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Applies rounds of random mutations to an inventory; deterministic for a seed and inventory.
pub struct Mutator {
    rng: Rng,
    /// Gateways of the inventory, for new connections; `created_at` is set per connection.
    ctx: Context,
    /// The latest instant handed out so far (Unix ms): new `created_at`/`updated_at` go after it.
    clock_ms: i64,
    /// Position passed to [`data::connection`] for the next new connection.
    next_index: usize,
    round: u64,
    /// Every id ever served, so a new connection never reuses one.
    ids: HashSet<String>,
    /// Removed connections as last served, with the round that removed them.
    removed: Vec<(u64, Value)>,
    /// Leading kinds of the next edits (see [`Mutator::next_lead`]).
    deck: Vec<Kind>,
    /// How often each kind was applied (for coverage tests).
    counts: BTreeMap<Kind, usize>,
}

impl Mutator {
    pub fn new(seed: u64, inventory: &[Value]) -> Self {
        let mut rng = Rng::new(seed);
        let mut ctx = Context::new(&mut rng, inventory.len());
        let gateways = gateways_of(inventory, &ctx.gateways);
        if !gateways.is_empty() {
            // New connections land on the gateways the project already has.
            ctx.gateways = gateways;
        }
        let clock_ms = inventory
            .iter()
            .flat_map(|c| [&c["created_at"], &c["updated_at"]])
            .filter_map(|t| Some(parse_api_time(t.as_str()?)?.timestamp_millis()))
            .max()
            .unwrap_or(data::HORIZON_MS);
        Mutator {
            rng,
            ctx,
            clock_ms,
            next_index: inventory.len(),
            round: 0,
            ids: inventory
                .iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect(),
            removed: Vec::new(),
            deck: Vec::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Applies one round of random mutations to `inventory` (in no particular order afterwards;
    /// the simulator sorts) and returns the net changes a drift detector must record, sorted.
    pub fn round(&mut self, inventory: &mut Vec<Value>) -> Vec<AppliedChange> {
        self.round += 1;
        let mut touched = HashSet::new();
        let mut out = Vec::new();
        for _ in 0..self.rng.below(9) {
            match self.rng.below(100) {
                0..10 => self.add(inventory, &mut touched, &mut out),
                10..20 => self.remove(inventory, &mut touched, &mut out),
                20..27 if self.readd(inventory, &mut touched, &mut out) => {}
                roll => {
                    let noise_only = roll >= 85;
                    self.modify(inventory, &mut touched, &mut out, noise_only);
                }
            }
        }
        out.sort();
        out
    }

    /// A new connection, created after everything so far.
    fn add(
        &mut self,
        inventory: &mut Vec<Value>,
        touched: &mut HashSet<String>,
        out: &mut Vec<AppliedChange>,
    ) {
        let style = TimeStyle::pick(&mut self.rng);
        self.ctx.created_at = self.tick(style);
        self.ctx.horizon_ms = self.clock_ms;
        let connection = loop {
            let c = data::connection(&mut self.rng, self.next_index, &self.ctx);
            if let Some(id) = c["id"].as_str()
                && self.ids.insert(id.to_owned())
            {
                break c;
            }
        };
        self.next_index += 1;
        let id = connection["id"].as_str().unwrap_or_default().to_owned();
        out.push(AppliedChange::added(&id));
        touched.insert(id);
        inventory.push(connection);
        self.count(Kind::Add);
    }

    fn remove(
        &mut self,
        inventory: &mut Vec<Value>,
        touched: &mut HashSet<String>,
        out: &mut Vec<AppliedChange>,
    ) {
        let Some(i) = self.pick_untouched(inventory, touched) else {
            return;
        };
        let connection = inventory.swap_remove(i);
        let id = id_of(&connection);
        out.push(AppliedChange::removed(&id));
        touched.insert(id);
        self.removed.push((self.round, connection));
        self.count(Kind::Remove);
    }

    /// Brings back a connection removed in an earlier round, same id, possibly edited meanwhile.
    fn readd(
        &mut self,
        inventory: &mut Vec<Value>,
        touched: &mut HashSet<String>,
        out: &mut Vec<AppliedChange>,
    ) -> bool {
        let eligible: Vec<usize> = (0..self.removed.len())
            .filter(|&i| self.removed[i].0 < self.round)
            .collect();
        if eligible.is_empty() {
            return false;
        }
        let pick = *self.rng.pick(&eligible);
        let (_, mut connection) = self.removed.swap_remove(pick);
        if self.rng.chance(50) {
            // Whatever changed while it was gone is part of "added", never a field record.
            let lead = *self.rng.pick(ALL_EDITS);
            self.edit(&mut connection, lead, false);
        }
        let id = id_of(&connection);
        out.push(AppliedChange::added(&id));
        touched.insert(id);
        inventory.push(connection);
        self.count(Kind::Readd);
        true
    }

    /// Edits one connection not yet changed this round. The leading kind comes first and then a
    /// connection it fits, so kinds that fit few connections happen as often as the others.
    fn modify(
        &mut self,
        inventory: &mut [Value],
        touched: &mut HashSet<String>,
        out: &mut Vec<AppliedChange>,
        noise_only: bool,
    ) {
        let lead = if noise_only {
            *self.rng.pick(NOISE)
        } else {
            self.next_lead()
        };
        let start = self.rng.below(inventory.len() as u64) as usize;
        for offset in 0..inventory.len() {
            let i = (start + offset) % inventory.len();
            if touched.contains(&id_of(&inventory[i])) {
                continue;
            }
            let mut connection = inventory[i].clone();
            let Some(spots) = self.edit(&mut connection, lead, noise_only) else {
                continue;
            };
            let id = id_of(&connection);
            let (before, after) = (without_nulls(&inventory[i]), without_nulls(&connection));
            for spot in spots {
                let (old, new) = (spot.lookup(&before), spot.lookup(&after));
                let field = spot.field();
                assert!(
                    spot.differs(&old, &new),
                    "mutator bug: {id} {field} did not change"
                );
                assert!(
                    !(old.is_object() && new.is_object()),
                    "mutator bug: {id} {field} replaced an object by an object"
                );
                out.push(AppliedChange {
                    connection_id: id.clone(),
                    change: "modified",
                    category: if field == "status" || field == "bgp_peer.state" {
                        "state"
                    } else {
                        "config"
                    },
                    field: Some(field),
                    old,
                    new,
                });
            }
            inventory[i] = connection;
            touched.insert(id);
            return;
        }
    }

    /// The next kind from a shuffled deck of all edits: every kind leads once per deck.
    fn next_lead(&mut self) -> Kind {
        if self.deck.is_empty() {
            self.deck = ALL_EDITS.to_vec();
            shuffle(&mut self.rng, &mut self.deck);
        }
        self.deck.pop().unwrap_or(Kind::TouchUpdatedAt)
    }

    /// A random connection not yet changed this round.
    fn pick_untouched(&mut self, inventory: &[Value], touched: &HashSet<String>) -> Option<usize> {
        (0..20)
            .map(|_| self.rng.below(inventory.len() as u64) as usize)
            .find(|&i| i < inventory.len() && !touched.contains(&id_of(&inventory[i])))
    }

    /// `lead` and up to two more edits on non-overlapping paths; returns the spots that must be
    /// recorded, or `None` (and leaves `connection` as it was) when `lead` does not fit.
    fn edit(&mut self, connection: &mut Value, lead: Kind, noise_only: bool) -> Option<Vec<Spot>> {
        let m = connection.as_object_mut()?;
        let mut claims = Claims::default();
        let spots = self.apply(lead, m, &claims)?;
        self.count(lead);
        claims.take(&spots);
        let mut records = if lead.records() { spots } else { Vec::new() };
        let mut kinds = if noise_only { NOISE } else { ALL_EDITS }.to_vec();
        shuffle(&mut self.rng, &mut kinds);
        let mut more = self.rng.below(3);
        for kind in kinds {
            if more == 0 {
                break;
            }
            if let Some(spots) = self.apply(kind, m, &claims) {
                claims.take(&spots);
                if kind.records() {
                    records.extend(spots);
                }
                self.count(kind);
                more -= 1;
            }
        }
        // Real edits usually bump updated_at too; that must not matter.
        if !noise_only
            && self.rng.chance(50)
            && self.apply(Kind::TouchUpdatedAt, m, &claims).is_some()
        {
            self.count(Kind::TouchUpdatedAt);
        }
        Some(records)
    }

    /// Applies `kind` if it fits the connection and its paths are unclaimed; changes nothing
    /// otherwise.
    fn apply(
        &mut self,
        kind: Kind,
        m: &mut Map<String, Value>,
        claims: &Claims,
    ) -> Option<Vec<Spot>> {
        let rng = &mut self.rng;
        match kind {
            Kind::Name => self.scalar(m, claims, &["name"], |r, _| name(r).into()),
            Kind::Status => self.scalar(m, claims, &["status"], |r, _| {
                let pool = if r.chance(70) {
                    &STATUSES[..2]
                } else {
                    STATUSES
                };
                (*r.pick(pool)).into()
            }),
            Kind::HaRole => self.scalar(m, claims, &["ha_role"], |_, old| {
                if old == "master" { "slave" } else { "master" }.into()
            }),
            Kind::EnableFlag => {
                let keys: Vec<&str> = ["enable_nqa", "enable_hub"]
                    .into_iter()
                    .filter(|k| m.get(*k).is_some_and(Value::is_boolean))
                    .collect();
                let key = *pick_some(rng, &keys)?;
                self.scalar(m, claims, &[key], |_, old| (old != &json!(true)).into())
            }
            Kind::OptionalField => {
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
                        "ha_role" => if rng.chance(70) { "master" } else { "slave" }.into(),
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
            Kind::IkeEncryption => self.algorithm(
                m,
                claims,
                &["ikepolicy", "encryption_algorithm"],
                "sm4",
                ENC_ALGS,
            ),
            Kind::IkeAuthentication => self.algorithm(
                m,
                claims,
                &["ikepolicy", "authentication_algorithm"],
                "sm3",
                AUTH_ALGS,
            ),
            Kind::IkeDhGroup => self.scalar(m, claims, &["ikepolicy", "dh_group"], |r, _| {
                (*r.pick(DH_GROUPS)).into()
            }),
            Kind::IkeLifetime => {
                self.scalar(m, claims, &["ikepolicy", "lifetime_seconds"], |r, _| {
                    lifetime(r, 60, &[86_400, 3_600, 28_800]).into()
                })
            }
            Kind::Phase1Add | Kind::Phase1Remove => {
                let adding = kind == Kind::Phase1Add;
                let ike = m.get_mut("ikepolicy")?.as_object_mut()?;
                let spots = vec![
                    Spot::path(&["ikepolicy", "ike_version"]),
                    Spot::path(&["ikepolicy", "phase1_negotiation_mode"]),
                ];
                let has_mode = present(ike, "phase1_negotiation_mode").is_some();
                let version = if adding { "v2" } else { "v1" };
                if ike.get("ike_version")? != version || has_mode == adding || !claims.free(&spots)
                {
                    return None;
                }
                // IKEv1 is what has a phase 1 mode: switching versions adds or drops it.
                if adding {
                    ike.insert("ike_version".into(), "v1".into());
                    let mode = if rng.chance(80) { "main" } else { "aggressive" };
                    ike.insert("phase1_negotiation_mode".into(), mode.into());
                } else {
                    ike.insert("ike_version".into(), "v2".into());
                    ike.shift_remove("phase1_negotiation_mode");
                }
                Some(spots)
            }
            Kind::DpdAdd | Kind::DpdRemove => {
                let ike = m.get_mut("ikepolicy")?.as_object_mut()?;
                let spots = vec![Spot::path(&["ikepolicy", "dpd"])];
                let adding = kind == Kind::DpdAdd;
                if present(ike, "dpd").is_some() == adding || !claims.free(&spots) {
                    return None;
                }
                if adding {
                    let msg = if rng.chance(80) {
                        "seq-hash-notify"
                    } else {
                        "seq-notify-hash"
                    };
                    let dpd = json!({"timeout": rng.between(2, 60), "interval": rng.between(10, 3600), "msg": msg});
                    ike.insert("dpd".into(), dpd);
                } else {
                    ike.shift_remove("dpd");
                }
                Some(spots)
            }
            Kind::DpdInterval => {
                self.scalar(m, claims, &["ikepolicy", "dpd", "interval"], |r, _| {
                    if r.chance(30) {
                        30
                    } else {
                        r.between(10, 3600)
                    }
                    .into()
                })
            }
            Kind::DpdTimeout => self.scalar(m, claims, &["ikepolicy", "dpd", "timeout"], |r, _| {
                if r.chance(30) { 15 } else { r.between(2, 60) }.into()
            }),
            Kind::DpdMsg => self.scalar(m, claims, &["ikepolicy", "dpd", "msg"], |_, old| {
                if old == "seq-hash-notify" {
                    "seq-notify-hash"
                } else {
                    "seq-hash-notify"
                }
                .into()
            }),
            Kind::IpsecPfs => self.scalar(m, claims, &["ipsecpolicy", "pfs"], |r, _| {
                if r.chance(20) {
                    "disable"
                } else {
                    *r.pick(DH_GROUPS)
                }
                .into()
            }),
            Kind::IpsecEncryption => self.algorithm(
                m,
                claims,
                &["ipsecpolicy", "encryption_algorithm"],
                "sm4",
                ENC_ALGS,
            ),
            Kind::IpsecLifetime => {
                self.scalar(m, claims, &["ipsecpolicy", "lifetime_seconds"], |r, _| {
                    lifetime(r, 30, &[3_600, 28_800, 86_400]).into()
                })
            }
            Kind::IpsecTransform => {
                self.scalar(m, claims, &["ipsecpolicy", "transform_protocol"], |r, _| {
                    (*r.pick(&["esp", "ah", "ah-esp"])).into()
                })
            }
            Kind::BgpState => self.scalar(m, claims, &["bgp_peer", "state"], |r, _| {
                (*r.pick(BGP_STATES)).into()
            }),
            Kind::BgpAsn => self.scalar(m, claims, &["bgp_peer", "peer_asn"], |r, _| {
                if r.chance(60) {
                    r.between(64_512, 65_534)
                } else {
                    r.between(4_200_000_000, 4_294_967_294)
                }
                .into()
            }),
            Kind::TagAdd | Kind::TagRemove | Kind::TagValue | Kind::ReorderTags => {
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
                    _ => {
                        let spots = vec![Spot::path(&["tags"])];
                        if !claims.free(&spots) {
                            return None;
                        }
                        *tags = reordered(rng, tags)?;
                        Some(spots)
                    }
                }
            }
            Kind::RuleSource
            | Kind::RuleDestination
            | Kind::RuleAdd
            | Kind::RuleRemove
            | Kind::ReorderRules
            | Kind::ReorderDestination => {
                let lists: Vec<&'static str> = ["policy_rules", "policy_rules_v6"]
                    .into_iter()
                    .filter(|l| m.get(*l).and_then(rule_indexes).is_some())
                    .collect();
                let list = *pick_some(rng, &lists)?;
                let v6 = list.ends_with("v6");
                let rules = m.get_mut(list)?.as_array_mut()?;
                let used = rule_indexes(&Value::Array(rules.clone()))?;
                match kind {
                    Kind::RuleAdd => {
                        let index = rng.between(0, 50) as i64;
                        let spots = vec![Spot::Rule { list, index }];
                        if used.contains(&index) || !claims.free(&spots) {
                            return None;
                        }
                        let mut destination = Vec::new();
                        for _ in 0..rng.between(1, 3) {
                            destination.push(fresh_cidr(rng, v6, &destination));
                        }
                        let rule = json!({"rule_index": index, "source": cidr(rng, v6), "destination": destination});
                        let at = used.iter().filter(|&&i| i < index).count();
                        rules.insert(at.min(rules.len()), rule);
                        Some(spots)
                    }
                    Kind::ReorderRules => {
                        let spots = vec![Spot::path(&[list])];
                        if !claims.free(&spots) {
                            return None;
                        }
                        *rules = reordered(rng, rules)?;
                        Some(spots)
                    }
                    _ => {
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
                                let new = Value::from(cidr(rng, v6));
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
                }
            }
            Kind::SubnetAdd | Kind::SubnetRemove | Kind::ReorderSubnets => {
                let lists: Vec<&'static str> = ["peer_subnets", "peer_subnets_v6"]
                    .into_iter()
                    .filter(|l| m.get(*l).is_some_and(Value::is_array))
                    .collect();
                let list = *pick_some(rng, &lists)?;
                let spots = vec![Spot::path(&[list])];
                if !claims.free(&spots) {
                    return None;
                }
                let subnets = m.get_mut(list)?.as_array_mut()?;
                match kind {
                    Kind::SubnetAdd => {
                        let fresh = fresh_cidr(rng, list.ends_with("v6"), subnets);
                        let at = rng.below(subnets.len() as u64 + 1) as usize;
                        subnets.insert(at, fresh);
                    }
                    Kind::SubnetRemove if subnets.len() >= 2 => {
                        subnets.remove(rng.below(subnets.len() as u64) as usize);
                    }
                    Kind::ReorderSubnets => *subnets = reordered(rng, subnets)?,
                    _ => return None,
                }
                Some(spots)
            }
            Kind::UnknownField => match rng.below(3) {
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
            },
            Kind::Telemetry => {
                let bgp = m.get_mut("bgp_peer")?.as_object_mut()?;
                let keys: Vec<&'static str> = TELEMETRY
                    .iter()
                    .copied()
                    .filter(|k| bgp.get(*k).is_some_and(Value::is_u64) && rng.chance(60))
                    .collect();
                let spots: Vec<Spot> = keys.iter().map(|k| Spot::path(&["bgp_peer", k])).collect();
                if spots.is_empty() || !claims.free(&spots) {
                    return None;
                }
                for key in keys {
                    let old = bgp[key].as_u64().unwrap_or(0);
                    bgp.insert(key.into(), (old + rng.between(1, 5_000)).into());
                }
                Some(spots)
            }
            Kind::TouchUpdatedAt => {
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
            Kind::Add | Kind::Remove | Kind::Readd => None,
        }
    }

    /// Replaces the present, non-null value at `path` by a different one from `make`.
    fn scalar(
        &mut self,
        m: &mut Map<String, Value>,
        claims: &Claims,
        path: &[&str],
        make: impl Fn(&mut Rng, &Value) -> Value,
    ) -> Option<Vec<Spot>> {
        let spots = vec![Spot::path(path)];
        if !claims.free(&spots) {
            return None;
        }
        let (last, parents) = path.split_last()?;
        let mut object = &mut *m;
        for key in parents {
            object = object.get_mut(*key)?.as_object_mut()?;
        }
        let old = present(object, last)?.clone();
        for _ in 0..20 {
            let new = make(&mut self.rng, &old);
            if new != old {
                object.insert((*last).into(), new);
                return Some(spots);
            }
        }
        None
    }

    /// A new algorithm from `pool`, leaving GM-flavor (`gm`) connections alone.
    fn algorithm(
        &mut self,
        m: &mut Map<String, Value>,
        claims: &Claims,
        path: &[&str],
        gm: &str,
        pool: &'static [&'static str],
    ) -> Option<Vec<Spot>> {
        let (parent, key) = (path[0], path[1]);
        if m.get(parent)?.get(key)? == gm {
            return None;
        }
        self.scalar(m, claims, path, |r, _| (*r.pick(pool)).into())
    }

    /// A stamp after every one handed out so far (a whole second later at least, so flooring
    /// to whole seconds keeps it later).
    fn tick(&mut self, style: TimeStyle) -> Stamp {
        let stamp = Stamp::new(
            self.clock_ms + 1_000 + self.rng.below(3_600_000) as i64,
            style,
        );
        self.clock_ms = stamp.unix_ms();
        stamp
    }

    fn count(&mut self, kind: Kind) {
        *self.counts.entry(kind).or_default() += 1;
    }
}

/// What a mutation does; the coverage test checks every one happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Add,
    Remove,
    Readd,
    Name,
    Status,
    HaRole,
    EnableFlag,
    OptionalField,
    IkeEncryption,
    IkeAuthentication,
    IkeDhGroup,
    IkeLifetime,
    Phase1Add,
    Phase1Remove,
    DpdAdd,
    DpdRemove,
    DpdInterval,
    DpdTimeout,
    DpdMsg,
    IpsecPfs,
    IpsecEncryption,
    IpsecLifetime,
    IpsecTransform,
    BgpState,
    BgpAsn,
    TagAdd,
    TagRemove,
    TagValue,
    RuleSource,
    RuleDestination,
    RuleAdd,
    RuleRemove,
    SubnetAdd,
    SubnetRemove,
    UnknownField,
    // Changes that must produce no record.
    Telemetry,
    ReorderSubnets,
    ReorderDestination,
    ReorderTags,
    ReorderRules,
    TouchUpdatedAt,
}

/// Every edit, recorded or not.
const ALL_EDITS: &[Kind] = &[
    Kind::Name,
    Kind::Status,
    Kind::HaRole,
    Kind::EnableFlag,
    Kind::OptionalField,
    Kind::IkeEncryption,
    Kind::IkeAuthentication,
    Kind::IkeDhGroup,
    Kind::IkeLifetime,
    Kind::Phase1Add,
    Kind::Phase1Remove,
    Kind::DpdAdd,
    Kind::DpdRemove,
    Kind::DpdInterval,
    Kind::DpdTimeout,
    Kind::DpdMsg,
    Kind::IpsecPfs,
    Kind::IpsecEncryption,
    Kind::IpsecLifetime,
    Kind::IpsecTransform,
    Kind::BgpState,
    Kind::BgpAsn,
    Kind::TagAdd,
    Kind::TagRemove,
    Kind::TagValue,
    Kind::RuleSource,
    Kind::RuleDestination,
    Kind::RuleAdd,
    Kind::RuleRemove,
    Kind::SubnetAdd,
    Kind::SubnetRemove,
    Kind::UnknownField,
    Kind::Telemetry,
    Kind::ReorderSubnets,
    Kind::ReorderDestination,
    Kind::ReorderTags,
    Kind::ReorderRules,
    Kind::TouchUpdatedAt,
];

/// Edits that change the served JSON but must produce no record.
const NOISE: &[Kind] = &[
    Kind::Telemetry,
    Kind::ReorderSubnets,
    Kind::ReorderDestination,
    Kind::ReorderTags,
    Kind::ReorderRules,
    Kind::TouchUpdatedAt,
];

impl Kind {
    fn records(self) -> bool {
        !NOISE.contains(&self)
    }
}

/// Where an edit happened, in the detector's terms: a dotted path, a policy rule by
/// `rule_index` (or one key of it), or a tag by key.
#[derive(Debug, Clone, PartialEq)]
enum Spot {
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
    fn path(parts: &[&str]) -> Self {
        Spot::Path(parts.iter().map(|p| (*p).to_owned()).collect())
    }

    /// The segments this spot owns; a claim overlaps another when one is a prefix of the other.
    fn claim(&self) -> Vec<String> {
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
    fn field(&self) -> String {
        match self {
            Spot::Path(parts) => parts.join("."),
            Spot::Rule { list, index } => format!("{list}[{index}]"),
            Spot::RuleKey { list, index, key } => format!("{list}[{index}].{key}"),
            Spot::Tag(key) => format!("tags.{key}"),
        }
    }

    /// The value at this spot in `connection` (without nulls), `Null` when absent.
    fn lookup(&self, connection: &Value) -> Value {
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
    fn differs(&self, old: &Value, new: &Value) -> bool {
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
struct Claims(Vec<Vec<String>>);

impl Claims {
    fn free(&self, spots: &[Spot]) -> bool {
        spots.iter().all(|s| {
            let claim = s.claim();
            self.0.iter().all(|taken| {
                let n = taken.len().min(claim.len());
                taken[..n] != claim[..n]
            })
        })
    }

    fn take(&mut self, spots: &[Spot]) {
        self.0.extend(spots.iter().map(Spot::claim));
    }
}

const STATUSES: &[&str] = &[
    "ACTIVE",
    "DOWN",
    "PENDING_CREATE",
    "PENDING_UPDATE",
    "PENDING_DELETE",
    "ERROR",
    "FREEZED",
    "UNKNOWN",
];
const ENC_ALGS: &[&str] = &[
    "aes-128",
    "aes-256",
    "aes-256-gcm-16",
    "aes-128-gcm-16",
    "aes-192",
    "3des",
];
const AUTH_ALGS: &[&str] = &["sha2-256", "sha2-384", "sha2-512", "sha1", "md5"];
const DH_GROUPS: &[&str] = &[
    "group14", "group15", "group16", "group19", "group20", "group21", "group1", "group2", "group5",
];
const BGP_STATES: &[&str] = &[
    "Established",
    "Idle",
    "Active",
    "Connect",
    "OpenSent",
    "OpenConfirm",
];
const TELEMETRY: &[&str] = &[
    "state_duration",
    "num_received_routes",
    "num_message_received",
    "num_message_sent",
];

/// Gateways the inventory's connections are on (local address from an unmasked IP local id,
/// else borrowed from `fallback`).
fn gateways_of(inventory: &[Value], fallback: &[Gateway]) -> Vec<Gateway> {
    let mut out: Vec<Gateway> = Vec::new();
    for c in inventory {
        let (Some(vgw_id), Some(vgw_ip), Some(ep)) = (
            c["vgw_id"].as_str(),
            c["vgw_ip"].as_str(),
            c["enterprise_project_id"].as_str(),
        ) else {
            continue;
        };
        if out.iter().any(|g| g.vgw_id == vgw_id) {
            continue;
        }
        let ike = &c["ikepolicy"];
        let local_ip = match ike["local_id"].as_str() {
            Some(ip) if ike["local_id_type"] == "ip" && !ip.contains('*') => ip.to_owned(),
            _ => fallback[out.len() % fallback.len()].local_ip.clone(),
        };
        out.push(Gateway {
            vgw_id: vgw_id.to_owned(),
            vgw_ip: vgw_ip.to_owned(),
            local_ip,
            enterprise_project_id: ep.to_owned(),
        });
    }
    out
}

fn id_of(connection: &Value) -> String {
    connection["id"].as_str().unwrap_or_default().to_owned()
}

/// The value under `key` unless it is absent or null (null means absent to the store).
fn present<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
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

/// The same items in another order, `None` when no other order exists.
fn reordered(rng: &mut Rng, items: &[Value]) -> Option<Vec<Value>> {
    if items.len() < 2 {
        return None;
    }
    let by = 1 + rng.below(items.len() as u64 - 1) as usize;
    let mut out = items.to_vec();
    if rng.chance(50) {
        out.rotate_left(by);
    } else {
        out.reverse();
    }
    (out != items).then_some(out)
}

/// One element, `None` for an empty slice.
fn pick_some<'a, T>(rng: &mut Rng, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| rng.pick(items))
}

fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i as u64 + 1) as usize);
    }
}

fn style_of(text: &str) -> TimeStyle {
    match text.strip_suffix('Z') {
        Some(rest) if rest.contains('.') => TimeStyle::Millis,
        Some(_) => TimeStyle::Seconds,
        None => TimeStyle::NoZone,
    }
}

fn name(rng: &mut Rng) -> String {
    if rng.chance(75) {
        format!("vpn-{:04x}", rng.below(0x1_0000))
    } else {
        format!("{}-{}", rng.pick(NAME_STEMS), rng.below(100))
    }
}

fn lifetime(rng: &mut Rng, lo: u64, common: &[u64]) -> u64 {
    if rng.chance(50) {
        *rng.pick(common)
    } else {
        rng.between(lo, 604_800)
    }
}

fn cidr(rng: &mut Rng, v6: bool) -> String {
    if v6 {
        format!(
            "2001:db8:{:x}:{:x}::/64",
            rng.below(0x1_0000),
            rng.below(0x1_0000)
        )
    } else {
        match rng.below(3) {
            0 => format!("10.{}.{}.0/24", rng.below(256), rng.below(256)),
            1 => format!("192.168.{}.0/24", rng.below(256)),
            _ => format!("172.{}.{}.0/24", rng.between(16, 31), rng.below(256)),
        }
    }
}

/// A CIDR not yet in `taken`.
fn fresh_cidr(rng: &mut Rng, v6: bool, taken: &[Value]) -> Value {
    loop {
        let c = Value::from(cidr(rng, v6));
        if !taken.contains(&c) {
            return c;
        }
    }
}

fn uuid_v4(rng: &mut Rng) -> String {
    let (hi, lo) = (rng.next_u64(), rng.next_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFF,
        (lo >> 48 & 0x3FFF) | 0x8000,
        lo & 0xFFFF_FFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{GenOptions, generate};

    fn inventory(count: usize, seed: u64) -> Vec<Value> {
        generate(&GenOptions { count, seed })
    }

    /// Dotted paths of every null in `v` (array positions as `[i]`).
    fn nulls(v: &Value, path: &str, out: &mut BTreeSet<String>) {
        match v {
            Value::Null => {
                out.insert(path.to_owned());
            }
            Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| nulls(v, &format!("{path}.{k}"), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| nulls(v, &format!("{path}[{i}]"), out)),
            _ => {}
        }
    }

    #[test]
    fn same_seed_same_rounds() {
        let start = inventory(100, 3);
        let run = |seed| {
            let mut inv = start.clone();
            let mut m = Mutator::new(seed, &inv);
            let changes: Vec<_> = (0..15).map(|_| m.round(&mut inv)).collect();
            (changes, inv)
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9).0, run(10).0);
    }

    #[test]
    fn every_kind_happens_ids_stay_unique_and_nothing_turns_null() {
        let mut inv = inventory(200, 21);
        let mut m = Mutator::new(21, &inv);
        let mut readded = 0;
        let mut gone = HashSet::new();
        let mut noise_only_rounds = 0;
        for _ in 0..50 {
            let before: BTreeMap<String, Value> =
                inv.iter().map(|c| (id_of(c), c.clone())).collect();
            let changes = m.round(&mut inv);
            let ids: Vec<String> = inv.iter().map(id_of).collect();
            assert_eq!(
                ids.iter().collect::<HashSet<_>>().len(),
                ids.len(),
                "ids repeat"
            );
            for c in &changes {
                match c.change {
                    "removed" => {
                        gone.insert(c.connection_id.clone());
                    }
                    "added" if gone.remove(&c.connection_id) => readded += 1,
                    _ => {}
                }
            }
            let mut changed_ids = HashSet::new();
            for c in &inv {
                let Some(old) = before.get(&id_of(c)) else {
                    continue;
                };
                let (mut was, mut is) = (BTreeSet::new(), BTreeSet::new());
                nulls(old, "", &mut was);
                nulls(c, "", &mut is);
                assert!(
                    is.is_subset(&was),
                    "{} gained nulls: {:?}",
                    id_of(c),
                    is.difference(&was)
                );
                if old != c {
                    changed_ids.insert(id_of(c));
                }
            }
            let recorded: HashSet<&str> =
                changes.iter().map(|c| c.connection_id.as_str()).collect();
            noise_only_rounds += changed_ids
                .iter()
                .filter(|id| !recorded.contains(id.as_str()))
                .count();
            for c in &changes {
                assert_eq!(c.field.is_none(), c.change != "modified");
                assert!(c.change != "modified" || c.old != c.new);
            }
        }
        let missing: Vec<Kind> = ALL_EDITS
            .iter()
            .chain(&[Kind::Add, Kind::Remove, Kind::Readd])
            .copied()
            .filter(|k| !m.counts.contains_key(k))
            .collect();
        assert!(
            missing.is_empty(),
            "never applied: {missing:?}; counts {:?}",
            m.counts
        );
        assert!(readded > 0);
        assert!(
            noise_only_rounds > 0,
            "no connection changed without a record"
        );
    }

    #[test]
    fn records_follow_the_detector_rules_for_known_cases() {
        let mut m = Mutator::new(1, &[]);
        let mut c = json!({
            "id": "c1", "name": "a", "status": "ACTIVE", "created_at": "2025-01-01T00:00:00Z",
            "tags": [{"key": "env", "value": "prod"}, {"key": "odd", "value": "x", "inherited": true}],
            "policy_rules": [{"rule_index": 4, "source": "10.0.0.0/24", "destination": ["10.1.0.0/24"]}],
        });
        let m_ref = c.as_object_mut().unwrap();
        // Tags with an extra field are one list: a value change is a `tags` record.
        let spots = m.apply(Kind::TagValue, m_ref, &Claims::default()).unwrap();
        assert_eq!(spots, vec![Spot::path(&["tags"])]);
        let spots = m.apply(Kind::RuleAdd, m_ref, &Claims::default()).unwrap();
        assert!(matches!(
            spots[0],
            Spot::Rule {
                list: "policy_rules",
                ..
            }
        ));
        // Claimed paths block overlapping edits.
        let mut claims = Claims::default();
        claims.take(&[Spot::path(&["policy_rules"])]);
        assert!(m.apply(Kind::RuleSource, m_ref, &claims).is_none());
        assert!(m.apply(Kind::TouchUpdatedAt, m_ref, &claims).is_some());
        let updated = m_ref["updated_at"].as_str().unwrap();
        assert!(
            updated.ends_with('Z') && !updated.contains('.'),
            "{updated}"
        );
    }
}
