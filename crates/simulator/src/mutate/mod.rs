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
//!
//! The drift rules (which fields are state and which config, tags per key only when they are
//! plain unique pairs, rules matched by `rule_index`, subnets and destinations compared as sets,
//! what is noise) are restated here on purpose, in [`spot`] and the edit families, and never
//! taken from the product's drift code: this is an independent oracle, and one that shared the
//! detector's code would share its bugs too. The edits live one family per submodule:
//! [`fields`] (name, status, HA role, flags, optional and unknown fields, `updated_at`), [`ike`]
//! (algorithms, lifetime, IKE version, DPD), [`ipsec`], [`bgp`], [`tags`], [`rules`] (policy
//! rules) and [`subnets`].

mod bgp;
mod fields;
mod ike;
mod ipsec;
mod rules;
mod spot;
mod subnets;
mod tags;

use crate::data::{self, Context, Gateway, Stamp, TimeStyle};
use crate::random::{Rng, Table, edit_cidr};
use crate::wire::{canonical_json, parse_api_time, without_nulls};
use serde_json::{Map, Value};
use spot::{Claims, Spot};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

/// An inventory as the mutator edits it: one connection at a time, by position. A `Vec<Value>`
/// is one; the simulator's, which holds each connection as JSON text, is another, so a round
/// parses only the connections it looks into.
pub trait Connections {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `id` of the connection at `i` (empty when it has none).
    fn id(&self, i: usize) -> &str;

    /// The connection at `i`.
    fn get(&self, i: usize) -> Cow<'_, Value>;

    /// Replaces the connection at `i`.
    fn set(&mut self, i: usize, connection: Value);

    /// Removes the connection at `i`, moving the last one into its place.
    fn swap_remove(&mut self, i: usize) -> Value;

    fn push(&mut self, connection: Value);
}

impl Connections for Vec<Value> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn id(&self, i: usize) -> &str {
        self[i]["id"].as_str().unwrap_or_default()
    }

    fn get(&self, i: usize) -> Cow<'_, Value> {
        Cow::Borrowed(&self[i])
    }

    fn set(&mut self, i: usize, connection: Value) {
        self[i] = connection;
    }

    fn swap_remove(&mut self, i: usize) -> Value {
        Vec::swap_remove(self, i)
    }

    fn push(&mut self, connection: Value) {
        Vec::push(self, connection);
    }
}

/// Connections that rounds removed and later added back (same id), counted across rounds.
#[derive(Debug, Default)]
pub struct Returns {
    gone: HashSet<String>,
    /// How many came back so far.
    pub returned: usize,
}

impl Returns {
    /// Takes in one round's changes.
    pub fn observe(&mut self, changes: &[AppliedChange]) {
        for c in changes {
            match c.change {
                "removed" => {
                    self.gone.insert(c.connection_id.clone());
                }
                "added" if self.gone.remove(&c.connection_id) => self.returned += 1,
                _ => {}
            }
        }
    }
}

/// What one round did: the connections it touched (each changes at most once a round) and the
/// changes a drift detector must record.
#[derive(Default)]
struct RoundLog {
    touched: HashSet<String>,
    out: Vec<AppliedChange>,
    /// The name of each connection touched, as the round left it (as removed, when it did).
    names: HashMap<String, Option<String>>,
}

impl RoundLog {
    /// Records an added or removed connection.
    fn whole(&mut self, change: AppliedChange, connection: &Value) {
        self.touch(change.connection_id.clone(), connection);
        self.out.push(change);
    }

    fn touch(&mut self, id: String, connection: &Value) {
        let name = connection["name"].as_str().map(str::to_owned);
        self.names.insert(id.clone(), name);
        self.touched.insert(id);
    }
}

/// One served connection, as the mutator edits it.
type Connection = Map<String, Value>;

/// What an edit touched (the places the next sync must report), or `None` when it did not fit.
type Edit = Option<Vec<Spot>>;

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
    /// The names of the connections the last round touched ([`Mutator::last_round_names`]).
    last_round_names: HashMap<String, Option<String>>,
}

impl Mutator {
    /// A mutator for `inventory`, which it reads once, one connection at a time.
    pub fn new(seed: u64, inventory: &impl Connections) -> Self {
        let mut rng = Rng::new(seed);
        let mut ctx = Context::new(&mut rng, inventory.len());
        let mut gateways = Gateways::default();
        let mut clock_ms = None;
        let mut ids = HashSet::new();
        for i in 0..inventory.len() {
            let c = inventory.get(i);
            gateways.observe(&c, &ctx.gateways);
            let times = [&c["created_at"], &c["updated_at"]]
                .into_iter()
                .filter_map(|t| Some(parse_api_time(t.as_str()?)?.timestamp_millis()));
            clock_ms = clock_ms.max(times.max());
            if let Some(id) = c["id"].as_str() {
                ids.insert(id.to_owned());
            }
        }
        if !gateways.found.is_empty() {
            // New connections land on the gateways the project already has.
            ctx.gateways = gateways.found;
        }
        Mutator {
            rng,
            ctx,
            clock_ms: clock_ms.unwrap_or(data::HORIZON_MS),
            next_index: inventory.len(),
            round: 0,
            ids,
            removed: Vec::new(),
            deck: Vec::new(),
            counts: BTreeMap::new(),
            last_round_names: HashMap::new(),
        }
    }

    /// Applies one round of random mutations to `inventory` (in no particular order afterwards;
    /// the simulator sorts) and returns the net changes a drift detector must record, sorted.
    pub fn round(&mut self, inventory: &mut impl Connections) -> Vec<AppliedChange> {
        self.round += 1;
        let mut log = RoundLog::default();
        for _ in 0..self.rng.below(9) {
            match self.rng.below(100) {
                0..10 => self.add(inventory, &mut log),
                10..20 => self.remove(inventory, &mut log),
                20..27 if self.readd(inventory, &mut log) => {}
                roll => self.modify(inventory, &mut log, roll >= 85),
            }
        }
        log.out.sort();
        self.last_round_names = log.names;
        log.out
    }

    /// The name of each connection the last round touched, as that round left it (as it was
    /// removed, for one it removed), by id; `None` for one without a name. What a trace of
    /// the change calls the resource.
    pub fn last_round_names(&self) -> &HashMap<String, Option<String>> {
        &self.last_round_names
    }

    /// A new connection, created after everything so far.
    fn add(&mut self, inventory: &mut impl Connections, log: &mut RoundLog) {
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
        log.whole(AppliedChange::added(&id_of(&connection)), &connection);
        inventory.push(connection);
        self.count(Kind::Add);
    }

    fn remove(&mut self, inventory: &mut impl Connections, log: &mut RoundLog) {
        let Some(i) = self.pick_untouched(&*inventory, &log.touched) else {
            return;
        };
        let connection = inventory.swap_remove(i);
        log.whole(AppliedChange::removed(&id_of(&connection)), &connection);
        self.removed.push((self.round, connection));
        self.count(Kind::Remove);
    }

    /// Brings back a connection removed in an earlier round, same id, possibly edited meanwhile.
    fn readd(&mut self, inventory: &mut impl Connections, log: &mut RoundLog) -> bool {
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
        log.whole(AppliedChange::added(&id_of(&connection)), &connection);
        inventory.push(connection);
        self.count(Kind::Readd);
        true
    }

    /// Edits one connection not yet changed this round. The leading kind comes first and then a
    /// connection it fits, so kinds that fit few connections happen as often as the others.
    fn modify(&mut self, inventory: &mut impl Connections, log: &mut RoundLog, noise_only: bool) {
        let lead = if noise_only {
            *self.rng.pick(NOISE)
        } else {
            self.next_lead()
        };
        let start = self.rng.below(inventory.len() as u64) as usize;
        for offset in 0..inventory.len() {
            let i = (start + offset) % inventory.len();
            if log.touched.contains(inventory.id(i)) {
                continue;
            }
            let original = inventory.get(i);
            let mut connection = original.clone().into_owned();
            let Some(spots) = self.edit(&mut connection, lead, noise_only) else {
                continue;
            };
            let id = id_of(&connection);
            let (before, after) = (without_nulls(&original), without_nulls(&connection));
            drop(original);
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
                log.out.push(AppliedChange {
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
            log.touch(id, &connection);
            inventory.set(i, connection);
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
    fn pick_untouched(
        &mut self,
        inventory: &impl Connections,
        touched: &HashSet<String>,
    ) -> Option<usize> {
        (0..20)
            .map(|_| self.rng.below(inventory.len() as u64) as usize)
            .find(|&i| i < inventory.len() && !touched.contains(inventory.id(i)))
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
    /// otherwise. One function per family of fields, in this module's submodules.
    fn apply(&mut self, kind: Kind, m: &mut Connection, claims: &Claims) -> Edit {
        match kind {
            Kind::Name | Kind::Status | Kind::HaRole | Kind::EnableFlag => {
                self.edit_field(kind, m, claims)
            }
            Kind::OptionalField => self.toggle_optional_field(m, claims),
            Kind::UnknownField => self.edit_unknown_field(m, claims),
            Kind::TouchUpdatedAt => self.touch_updated_at(m, claims),
            Kind::IkeEncryption
            | Kind::IkeAuthentication
            | Kind::IkeDhGroup
            | Kind::IkeLifetime => self.edit_ike(kind, m, claims),
            Kind::Phase1Add | Kind::Phase1Remove => {
                self.switch_ike_version(kind == Kind::Phase1Add, m, claims)
            }
            Kind::DpdAdd
            | Kind::DpdRemove
            | Kind::DpdInterval
            | Kind::DpdTimeout
            | Kind::DpdMsg => self.edit_dpd(kind, m, claims),
            Kind::IpsecPfs | Kind::IpsecEncryption | Kind::IpsecLifetime | Kind::IpsecTransform => {
                self.edit_ipsec(kind, m, claims)
            }
            Kind::BgpState | Kind::BgpAsn | Kind::Telemetry => self.edit_bgp(kind, m, claims),
            Kind::TagAdd | Kind::TagRemove | Kind::TagValue | Kind::ReorderTags => {
                self.edit_tags(kind, m, claims)
            }
            Kind::RuleSource
            | Kind::RuleDestination
            | Kind::RuleAdd
            | Kind::RuleRemove
            | Kind::ReorderRules
            | Kind::ReorderDestination => self.edit_rules(kind, m, claims),
            Kind::SubnetAdd | Kind::SubnetRemove | Kind::ReorderSubnets => {
                self.edit_subnets(kind, m, claims)
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
        pool: Table,
    ) -> Option<Vec<Spot>> {
        let (parent, key) = (path[0], path[1]);
        if m.get(parent)?.get(key)? == gm {
            return None;
        }
        self.scalar(m, claims, path, |r, _| r.pick(pool).0.into())
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

/// Gateways the inventory's connections are on, in order of first appearance.
#[derive(Default)]
struct Gateways {
    found: Vec<Gateway>,
    ids: HashSet<String>,
}

impl Gateways {
    /// Takes in `c`'s gateway if it is a new one (local address from an unmasked IP local id,
    /// else borrowed from `fallback`).
    fn observe(&mut self, c: &Value, fallback: &[Gateway]) {
        let (Some(vgw_id), Some(vgw_ip), Some(ep)) = (
            c["vgw_id"].as_str(),
            c["vgw_ip"].as_str(),
            c["enterprise_project_id"].as_str(),
        ) else {
            return;
        };
        if !self.ids.insert(vgw_id.to_owned()) {
            return;
        }
        let ike = &c["ikepolicy"];
        let local_ip = match ike["local_id"].as_str() {
            Some(ip) if ike["local_id_type"] == "ip" && !ip.contains('*') => ip.to_owned(),
            _ => fallback[self.found.len() % fallback.len()].local_ip.clone(),
        };
        self.found.push(Gateway {
            vgw_id: vgw_id.to_owned(),
            vgw_ip: vgw_ip.to_owned(),
            local_ip,
            enterprise_project_id: ep.to_owned(),
        });
    }
}

fn id_of(connection: &Value) -> String {
    connection["id"].as_str().unwrap_or_default().to_owned()
}

/// The value under `key` unless it is absent or null (null means absent to the store).
fn present<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
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

/// One of the `keys` whose value in `m` `fits`, `None` when none does.
fn pick_key(
    rng: &mut Rng,
    m: &Map<String, Value>,
    keys: [&'static str; 2],
    fits: impl Fn(&Value) -> bool,
) -> Option<&'static str> {
    let fitting: Vec<&'static str> = keys
        .into_iter()
        .filter(|k| m.get(*k).is_some_and(&fits))
        .collect();
    pick_some(rng, &fitting).copied()
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

/// A CIDR not yet in `taken`.
fn fresh_cidr(rng: &mut Rng, v6: bool, taken: &[Value]) -> Value {
    loop {
        let c = Value::from(edit_cidr(rng, v6));
        if !taken.contains(&c) {
            return c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;

    use crate::server::generated_inventory as inventory;

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
        let mut returns = Returns::default();
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
            returns.observe(&changes);
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
        assert!(returns.returned > 0);
        assert!(
            noise_only_rounds > 0,
            "no connection changed without a record"
        );
    }

    #[test]
    fn records_follow_the_detector_rules_for_known_cases() {
        let mut m = Mutator::new(1, &Vec::<Value>::new());
        let mut c = json!({
            "id": "c1", "name": "a", "status": "ACTIVE", "created_at": "2025-01-01T00:00:00Z",
            "tags": [
                {"key": "env", "value": "prod"},
                {"key": "odd", "value": "x", "inherited": true},
            ],
            "policy_rules": [
                {"rule_index": 4, "source": "10.0.0.0/24", "destination": ["10.1.0.0/24"]},
            ],
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
