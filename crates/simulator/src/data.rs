//! Deterministic, realistic fake VPN connections for the API simulator.
//!
//! This module owns the shape of the data the fake `GET /v5/{project_id}/vpn-connection` serves:
//! `ResponseVpnConnection` objects as raw `serde_json::Value`s, built from a seed so demos and
//! integration tests are reproducible. It deliberately produces every field the real API documents
//! and every quirk a real client must survive: per-style fields, three timestamp formats, non-UUID
//! "demo" ids, masked ids, GM-flavor gateways without DH groups, explicit `null`s, empty arrays,
//! Spanish/Portuguese tag text, and fields no model knows yet. Nothing here does I/O.

use crate::random::{
    AUTH_ALGS, BGP_STATES, DH_GROUPS, DPD_INTERVAL, DPD_TIMEOUT, ENC_ALGS, IKE_LIFETIME,
    IPSEC_LIFETIME, PRIVATE_ASN_16, PRIVATE_ASN_32, STATUSES, TAG_KEYS, TAG_VALUES, TRANSFORMS,
    cidr_v4, cidr_v6, dpd_msg, ha_role, name, phase1_mode, uuid_v4, weighted,
};
use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value, json};

pub use crate::random::Rng;

/// How many connections to generate, and from which seed.
#[derive(Debug, Clone, Default)]
pub struct GenOptions {
    pub count: usize,
    pub seed: u64,
    /// Connections per `created_at` instant: 0 or 1 gives each its own (the default); N makes
    /// groups of N consecutive connections share one instant, spelled alike (the last group
    /// may be smaller), as when a script creates many at once.
    pub ties: usize,
}

/// 2026-01-01T00:00:00Z in Unix milliseconds: generated inventories end just before it.
pub const HORIZON_MS: i64 = 1_767_225_600_000;

/// Generated `created_at` values spread over about three years before [`HORIZON_MS`].
const SPAN_MS: u64 = 3 * 365 * 86_400_000;

/// Connections as the API would serve them, sorted by `created_at` descending.
///
/// Every `created_at` is a distinct instant (also after formatting), so the order is strict,
/// unless `ties` groups them. Without `ties` the random draws are those of earlier versions, so
/// a seed gives the same inventory byte for byte.
pub fn generate(opts: &GenOptions) -> Vec<Value> {
    generate_each(opts.clone()).collect()
}

/// The connections of [`generate`], built one at a time as the iterator is read.
pub fn generate_each(opts: GenOptions) -> impl Iterator<Item = Value> {
    let mut rng = Rng::new(opts.seed);
    let mut ctx = Context::new(&mut rng, opts.count);
    let group = opts.ties.max(1);
    // Mean gap chosen so the whole inventory covers SPAN_MS; a gap is never 0 so instants stay
    // unique.
    let avg_gap = (SPAN_MS / opts.count.div_ceil(group).max(1) as u64).max(1);
    let mut t = ctx.horizon_ms;
    (0..opts.count).map(move |index| {
        if index % group == 0 {
            t -= 1 + rng.below(2 * avg_gap - 1) as i64;
            // Flooring to whole seconds only moves the instant back, so it stays below the
            // previous one.
            let stamp = Stamp::new(t, TimeStyle::pick(&mut rng));
            t = stamp.unix_ms();
            ctx.created_at = stamp;
        }
        connection(&mut rng, index, &ctx)
    })
}

/// The three `created_at`/`updated_at` spellings the real API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeStyle {
    /// `2024-05-01T10:20:30.123Z` (the documented examples).
    Millis,
    /// `2024-05-01T10:20:30Z`.
    Seconds,
    /// `2024-05-01T10:20:30`: no zone, means UTC.
    NoZone,
}

impl TimeStyle {
    /// Mostly milliseconds, like the examples; the others are rarer but real.
    pub fn pick(rng: &mut Rng) -> Self {
        match rng.below(100) {
            0..80 => TimeStyle::Millis,
            80..95 => TimeStyle::Seconds,
            _ => TimeStyle::NoZone,
        }
    }
}

/// An instant plus the style it is written in. Whole-second styles hold a floored instant, so
/// the text and the instant always agree and distinct stamps never format to the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    unix_ms: i64,
    style: TimeStyle,
}

impl Stamp {
    pub fn new(unix_ms: i64, style: TimeStyle) -> Self {
        let unix_ms = match style {
            TimeStyle::Millis => unix_ms,
            TimeStyle::Seconds | TimeStyle::NoZone => unix_ms.div_euclid(1000) * 1000,
        };
        Stamp { unix_ms, style }
    }

    pub fn unix_ms(&self) -> i64 {
        self.unix_ms
    }

    pub fn style(&self) -> TimeStyle {
        self.style
    }

    pub fn render(&self) -> String {
        let dt = DateTime::from_timestamp_millis(self.unix_ms).unwrap_or_default();
        match self.style {
            TimeStyle::Millis => dt.to_rfc3339_opts(SecondsFormat::Millis, true),
            TimeStyle::Seconds => dt.to_rfc3339_opts(SecondsFormat::Secs, true),
            TimeStyle::NoZone => {
                let mut s = dt.to_rfc3339_opts(SecondsFormat::Secs, true);
                s.pop(); // drop the trailing 'Z'
                s
            }
        }
    }
}

/// A VPN gateway: connections on it share its id, address and enterprise project, which is what
/// makes the `vgw_id`, `vgw_ip` and `enterprise_project_id` filters match several connections.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub vgw_id: String,
    /// An EIP id (UUID) or a private IPv4 address, as documented.
    pub vgw_ip: String,
    /// The public address that shows up as `ikepolicy.local_id`.
    pub local_ip: String,
    pub enterprise_project_id: String,
}

/// Shared state for building connections.
#[derive(Debug, Clone)]
pub struct Context {
    /// Never empty: [`connection`] picks from it.
    pub gateways: Vec<Gateway>,
    /// `"0"` (the default project) first, then a few UUIDs.
    pub enterprise_projects: Vec<String>,
    /// `created_at` of the next connection [`connection`] builds; [`generate`] steps it backwards,
    /// mutation code sets it to the simulator's clock.
    pub created_at: Stamp,
    /// Latest instant an `updated_at` may take (unless `created_at` is already later).
    pub horizon_ms: i64,
}

impl Context {
    /// A gateway pool sized for `connections` (about one gateway per 40, at least 3).
    pub fn new(rng: &mut Rng, connections: usize) -> Self {
        let mut enterprise_projects = vec!["0".to_string()];
        enterprise_projects.extend((0..3).map(|_| uuid_v4(rng)));
        let gateways = (0..(connections / 40).max(3))
            .map(|i| {
                let demo = rng.chance(10);
                let vgw_id = if demo { demo_id(rng) } else { uuid_v4(rng) };
                // The first gateways cover both address kinds and every project, so even small
                // inventories exercise all filters; later ones are random.
                let eip = if i < 2 { i == 0 } else { rng.chance(60) };
                let vgw_ip = match (eip, demo) {
                    (true, true) => demo_id(rng),
                    (true, false) => uuid_v4(rng),
                    (false, _) => private_ip(rng),
                };
                let enterprise_project_id = if i < enterprise_projects.len() {
                    enterprise_projects[i].clone()
                } else if rng.chance(40) {
                    "0".to_string()
                } else {
                    rng.pick(&enterprise_projects[1..]).clone()
                };
                Gateway {
                    vgw_id,
                    vgw_ip,
                    local_ip: public_ip(rng),
                    enterprise_project_id,
                }
            })
            .collect();
        Context {
            gateways,
            enterprise_projects,
            created_at: Stamp::new(HORIZON_MS, TimeStyle::Millis),
            horizon_ms: HORIZON_MS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Policy,
    Static,
    Bgp,
    PolicyTemplate,
}

impl Style {
    fn as_str(self) -> &'static str {
        match self {
            Style::Policy => "POLICY",
            Style::Static => "STATIC",
            Style::Bgp => "BGP",
            Style::PolicyTemplate => "POLICY-TEMPLATE",
        }
    }

    fn policy_based(self) -> bool {
        matches!(self, Style::Policy | Style::PolicyTemplate)
    }
}

const STYLES: &[(Style, u64)] = &[
    (Style::Static, 35),
    (Style::Policy, 30),
    (Style::Bgp, 25),
    (Style::PolicyTemplate, 10),
];

/// Build one fresh connection. `index` is its position in the inventory: every 50 positions a few
/// are pinned to BGP with the extreme ASNs so any inventory of 50+ covers the whole 4-byte range.
///
/// The random draws come in a fixed order (the helpers below are called in it), so a seed gives
/// the same connections as long as that order holds.
///
/// Panics if `ctx.gateways` is empty.
pub fn connection(rng: &mut Rng, index: usize, ctx: &Context) -> Value {
    let forced_asn = forced_asn(index);
    let style = match forced_asn {
        Some(_) => Style::Bgp,
        None => *weighted(rng, STYLES),
    };
    let quirks = Quirks::draw(rng);
    let gw = rng.pick(&ctx.gateways);
    let new_id = |rng: &mut Rng| {
        if quirks.demo {
            demo_id(rng)
        } else {
            uuid_v4(rng)
        }
    };

    let id = new_id(rng);
    let name = name(rng);
    let status = *weighted(rng, STATUSES);
    let cgw_id = new_id(rng);
    let mut routing = Routing::draw(rng, style, quirks.future);
    let ikepolicy = ikepolicy(rng, quirks.gm, gw, quirks.future);
    let ipsecpolicy = ipsecpolicy(rng, quirks.gm, quirks.future);
    let created = ctx.created_at;
    let updated = updated_at(rng, created, ctx.horizon_ms);
    let peer_ip = routing.peer_ip.take();
    let mut extras = Extras::draw(rng, style, peer_ip, forced_asn, quirks.future);
    if quirks.with_nulls {
        null_some_absent(rng, &mut routing, &mut extras);
    }

    let head = Head {
        id,
        name,
        status,
        style,
        gw,
        cgw_id,
        ikepolicy,
        ipsecpolicy,
        created,
        updated,
    };
    let mut m = head.write(routing, extras);
    if quirks.future {
        put_future_fields(rng, &mut m);
    }
    Value::Object(m)
}

/// The peer ASN pinned at inventory position `index`, if it is one of the pinned positions.
fn forced_asn(index: usize) -> Option<u64> {
    match index % 50 {
        7 => Some(u64::from(u32::MAX)),
        23 => Some(64_512),
        41 => Some(4_200_000_000),
        _ => None,
    }
}

/// The quirks a connection is drawn with, each for a few percent of connections.
#[derive(Debug, Clone, Copy)]
struct Quirks {
    /// Its ids (and its customer gateway's) are in the documentation's non-UUID style.
    demo: bool,
    /// Its policies are the GM (Chinese national algorithms) flavor.
    gm: bool,
    /// It carries fields and values a newer API version might send.
    future: bool,
    /// Some of its absent fields are sent as `null`.
    with_nulls: bool,
}

impl Quirks {
    fn draw(rng: &mut Rng) -> Self {
        Quirks {
            demo: rng.chance(5),
            gm: rng.chance(5),
            future: rng.chance(3),
            with_nulls: rng.chance(3),
        }
    }
}

/// What every connection has: who it is, its gateways, its policies and its times.
struct Head<'c> {
    id: String,
    name: String,
    status: &'static str,
    style: Style,
    gw: &'c Gateway,
    cgw_id: String,
    ikepolicy: Value,
    ipsecpolicy: Value,
    created: Stamp,
    updated: Stamp,
}

impl Head<'_> {
    /// The connection's object, its keys in the seed example's order (it only survives with
    /// serde_json's preserve_order).
    fn write(self, routing: Routing, extras: Extras) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), self.id.into());
        m.insert("name".into(), self.name.into());
        m.insert("status".into(), self.status.into());
        m.insert("vgw_id".into(), self.gw.vgw_id.clone().into());
        m.insert("vgw_ip".into(), self.gw.vgw_ip.clone().into());
        m.insert("style".into(), self.style.as_str().into());
        m.insert("cgw_id".into(), self.cgw_id.into());
        put(&mut m, "peer_subnets", routing.peer_subnets);
        put(&mut m, "tunnel_local_address", routing.tunnel_local);
        put(&mut m, "tunnel_peer_address", routing.tunnel_peer);
        put(&mut m, "enable_nqa", routing.enable_nqa);
        put(&mut m, "policy_rules", routing.policy_rules);
        m.insert("ikepolicy".into(), self.ikepolicy);
        m.insert("ipsecpolicy".into(), self.ipsecpolicy);
        m.insert("created_at".into(), self.created.render().into());
        m.insert("updated_at".into(), self.updated.render().into());
        m.insert(
            "enterprise_project_id".into(),
            self.gw.enterprise_project_id.clone().into(),
        );
        put(
            &mut m,
            "connection_monitor_id",
            extras.connection_monitor_id,
        );
        put(&mut m, "ha_role", extras.ha_role);
        put(&mut m, "tags", extras.tags);
        put(&mut m, "peer_subnets_v6", extras.peer_subnets_v6);
        put(&mut m, "policy_rules_v6", extras.policy_rules_v6);
        put(&mut m, "bgp_peer", extras.bgp_peer);
        put(&mut m, "enable_hub", extras.enable_hub);
        m
    }
}

/// The IPv4 routing fields, which depend on the connection's style.
struct Routing {
    peer_subnets: Option<Value>,
    tunnel_local: Option<Value>,
    tunnel_peer: Option<Value>,
    enable_nqa: Option<Value>,
    policy_rules: Option<Value>,
    /// The peer's tunnel address without its prefix: a BGP peer's address.
    peer_ip: Option<String>,
}

impl Routing {
    fn draw(rng: &mut Rng, style: Style, future: bool) -> Self {
        let route_based = matches!(style, Style::Static | Style::Bgp);
        let peer_subnets = if route_based || rng.chance(60) {
            Some(json!(distinct(rng, 1, 4, cidr_v4)))
        } else {
            None
        };
        // Documented for STATIC/BGP only, yet the seed's POLICY example carries them too.
        let tunnel = (route_based || rng.chance(30)).then(|| tunnel_pair(rng));
        let peer_ip = tunnel
            .as_ref()
            .map(|(_, peer)| peer.trim_end_matches("/30").to_string());
        let (tunnel_local, tunnel_peer) = match tunnel {
            Some((l, p)) => (Some(Value::from(l)), Some(Value::from(p))),
            None => (None, None),
        };
        let enable_nqa = (style == Style::Static).then(|| Value::from(rng.chance(40)));
        let policy_rules = style.policy_based().then(|| rules(rng, future, cidr_v4));
        Routing {
            peer_subnets,
            tunnel_local,
            tunnel_peer,
            enable_nqa,
            policy_rules,
            peer_ip,
        }
    }
}

/// `updated_at`: `created` itself, or a later instant no later than `horizon_ms`.
fn updated_at(rng: &mut Rng, created: Stamp, horizon_ms: i64) -> Stamp {
    if rng.chance(40) {
        created
    } else {
        let room = (horizon_ms - created.unix_ms()).max(0) as u64;
        // Same style as created_at; created is already floored, so flooring keeps
        // updated >= created.
        Stamp::new(
            created.unix_ms() + rng.below(room + 1) as i64,
            created.style(),
        )
    }
}

/// The fields many connections lack: monitoring, HA, tags, IPv6, BGP, hub.
struct Extras {
    connection_monitor_id: Option<Value>,
    ha_role: Option<Value>,
    tags: Option<Value>,
    peer_subnets_v6: Option<Value>,
    policy_rules_v6: Option<Value>,
    bgp_peer: Option<Value>,
    enable_hub: Option<Value>,
}

impl Extras {
    fn draw(
        rng: &mut Rng,
        style: Style,
        peer_ip: Option<String>,
        forced_asn: Option<u64>,
        future: bool,
    ) -> Self {
        let route_based = matches!(style, Style::Static | Style::Bgp);
        let connection_monitor_id = rng.chance(30).then(|| Value::from(uuid_v4(rng)));
        let ha_role = rng.chance(50).then(|| Value::from(ha_role(rng)));
        let tags = tags(rng, future);
        let dual_stack = rng.chance(10);
        let peer_subnets_v6 = (dual_stack && (route_based || rng.chance(50)))
            .then(|| json!(distinct(rng, 1, 3, cidr_v6)));
        let policy_rules_v6 =
            (dual_stack && style.policy_based()).then(|| rules(rng, false, cidr_v6));
        let bgp_peer = (style == Style::Bgp).then(|| {
            let peer_ip = peer_ip.unwrap_or_else(|| "169.254.0.1".to_string());
            bgp_peer(rng, peer_ip, forced_asn, future)
        });
        let enable_hub = rng.chance(20).then(|| Value::from(rng.chance(50)));
        Extras {
            connection_monitor_id,
            ha_role,
            tags,
            peer_subnets_v6,
            policy_rules_v6,
            bgp_peer,
            enable_hub,
        }
    }
}

/// Sends some absent fields as `null` (at least one), the way the API sometimes does where it
/// would otherwise omit a field: only absent fields become null, so "absent", "null" and a real
/// value all occur for the same key. The slots are visited in a fixed order (the draws follow
/// it).
fn null_some_absent(rng: &mut Rng, routing: &mut Routing, extras: &mut Extras) {
    let mut slots: [&mut Option<Value>; 10] = [
        &mut extras.connection_monitor_id,
        &mut extras.ha_role,
        &mut extras.bgp_peer,
        &mut extras.tags,
        &mut extras.peer_subnets_v6,
        &mut extras.policy_rules_v6,
        &mut extras.enable_hub,
        &mut routing.policy_rules,
        &mut routing.peer_subnets,
        &mut routing.tunnel_local,
    ];
    let mut any = false;
    for slot in slots.iter_mut() {
        if slot.is_none() && rng.chance(40) {
            **slot = Some(Value::Null);
            any = true;
        }
    }
    if !any && let Some(slot) = slots.iter_mut().find(|s| s.is_none()) {
        **slot = Some(Value::Null);
    }
    if routing.tunnel_local == Some(Value::Null) {
        routing.tunnel_peer = Some(Value::Null);
    }
}

/// Fields a newer API version might add: a client must keep them, not choke on them.
fn put_future_fields(rng: &mut Rng, m: &mut Map<String, Value>) {
    m.insert("ipv6_flag".into(), rng.chance(50).into());
    m.insert("future_obj".into(), json!({"a": [1, "x", {"b": 2}]}));
    if rng.chance(50) {
        m.insert("traffic_selector_mode".into(), future_value(rng));
    }
}

fn put(m: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        m.insert(key.into(), v);
    }
}

/// `lo..=hi` distinct values from `make` (gives up on duplicates rather than looping forever).
fn distinct(rng: &mut Rng, lo: u64, hi: u64, make: fn(&mut Rng) -> String) -> Vec<String> {
    let n = rng.between(lo, hi);
    let mut out: Vec<String> = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let v = make(rng);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The documentation's non-UUID id style, e.g. `228a68f0-demo-a8df-va86-a9919a3ea3de`.
fn demo_id(rng: &mut Rng) -> String {
    let v = rng.next_u64();
    let w = rng.next_u64();
    format!(
        "{:08x}-demo-a8df-va86-{:012x}",
        v >> 32,
        w & 0xFFFF_FFFF_FFFF
    )
}

fn private_ip(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => format!(
            "10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.between(1, 254)
        ),
        1 => format!(
            "172.{}.{}.{}",
            rng.between(16, 31),
            rng.below(256),
            rng.between(1, 254)
        ),
        _ => format!("192.168.{}.{}", rng.below(256), rng.between(1, 254)),
    }
}

fn public_ip(rng: &mut Rng) -> String {
    let first = *rng.pick(&[88u64, 203, 198, 120, 49, 119, 159, 185, 101, 212]);
    format!(
        "{first}.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        rng.between(1, 254)
    )
}

/// `88.***.***.167`: the console masks middle octets of some ids.
fn mask_ip(ip: &str) -> String {
    let first = ip.split('.').next().unwrap_or("0");
    let last = ip.rsplit('.').next().unwrap_or("0");
    format!("{first}.***.***.{last}")
}

/// Two ends of a /30 in 169.254.0.0/16, either end on either side like the seed examples.
fn tunnel_pair(rng: &mut Rng) -> (String, String) {
    let x = rng.below(256);
    let base = 4 * rng.below(64);
    let (a, b) = (base + 1, base + 2);
    let (local, peer) = if rng.chance(50) { (a, b) } else { (b, a) };
    (
        format!("169.254.{x}.{local}/30"),
        format!("169.254.{x}.{peer}/30"),
    )
}

/// 1-5 rules with distinct `rule_index` in 0..=50; a destination is occasionally empty.
fn rules(rng: &mut Rng, future: bool, cidr: fn(&mut Rng) -> String) -> Value {
    let n = rng.between(1, 5) as usize;
    let mut indices: Vec<u64> = Vec::with_capacity(n);
    while indices.len() < n {
        let i = rng.between(0, 50);
        if !indices.contains(&i) {
            indices.push(i);
        }
    }
    indices.sort_unstable();
    let future_at = future.then(|| rng.below(n as u64) as usize);
    let rules = indices
        .into_iter()
        .enumerate()
        .map(|(pos, rule_index)| {
            let mut r = Map::new();
            r.insert("rule_index".into(), rule_index.into());
            r.insert("source".into(), cidr(rng).into());
            let destination = if rng.chance(3) {
                Vec::new()
            } else {
                distinct(rng, 1, 5, cidr)
            };
            r.insert("destination".into(), json!(destination));
            if future_at == Some(pos) {
                r.insert("action".into(), future_value(rng));
            }
            Value::Object(r)
        })
        .collect();
    Value::Array(rules)
}

fn ikepolicy(rng: &mut Rng, gm: bool, gw: &Gateway, future: bool) -> Value {
    let mut m = Map::new();
    let v1 = rng.chance(30);
    m.insert("ike_version".into(), if v1 { "v1" } else { "v2" }.into());
    if v1 {
        m.insert("phase1_negotiation_mode".into(), phase1_mode(rng).into());
    }
    put_algorithms(rng, gm, &mut m);
    // GM-flavor gateways have no DH group and no identities.
    if !gm {
        m.insert("dh_group".into(), (*weighted(rng, DH_GROUPS)).into());
    }
    m.insert("authentication_method".into(), "pre-share".into());
    m.insert("lifetime_seconds".into(), IKE_LIFETIME.fresh(rng).into());
    if !gm {
        let (local_type, local_id) = if rng.chance(80) {
            let ip = if rng.chance(30) {
                mask_ip(&gw.local_ip)
            } else {
                gw.local_ip.clone()
            };
            ("ip", ip)
        } else {
            (
                "fqdn",
                format!("vpngw-{:04x}.example.com", rng.below(0x1_0000)),
            )
        };
        m.insert("local_id_type".into(), local_type.into());
        m.insert("local_id".into(), local_id.into());
        let (peer_type, peer_id) = if rng.chance(80) {
            let ip = public_ip(rng);
            ("ip", if rng.chance(30) { mask_ip(&ip) } else { ip })
        } else {
            ("fqdn", format!("cgw{}.branch.example.org", rng.below(1000)))
        };
        m.insert("peer_id_type".into(), peer_type.into());
        m.insert("peer_id".into(), peer_id.into());
    }
    if rng.chance(95) {
        let mut dpd = Map::new();
        let common = rng.chance(70);
        let timeout = if common { 15 } else { rng.within(DPD_TIMEOUT) };
        let interval = if common { 30 } else { rng.within(DPD_INTERVAL) };
        dpd.insert("timeout".into(), timeout.into());
        dpd.insert("interval".into(), interval.into());
        dpd.insert("msg".into(), dpd_msg(rng).into());
        if future {
            dpd.insert("retries".into(), future_value(rng));
        }
        m.insert("dpd".into(), Value::Object(dpd));
    }
    if future {
        let v = if rng.chance(50) { "enable" } else { "disable" };
        m.insert("sa_reauth".into(), v.into());
    }
    Value::Object(m)
}

/// The authentication and encryption algorithms of an IKE or IPsec policy; GM-flavor gateways
/// use SM3 and SM4.
fn put_algorithms(rng: &mut Rng, gm: bool, m: &mut Map<String, Value>) {
    let (auth, enc) = if gm {
        ("sm3", "sm4")
    } else {
        (*weighted(rng, AUTH_ALGS), *weighted(rng, ENC_ALGS))
    };
    m.insert("authentication_algorithm".into(), auth.into());
    m.insert("encryption_algorithm".into(), enc.into());
}

fn ipsecpolicy(rng: &mut Rng, gm: bool, future: bool) -> Value {
    let mut m = Map::new();
    put_algorithms(rng, gm, &mut m);
    if !gm {
        let pfs = if rng.chance(15) {
            "disable"
        } else {
            *weighted(rng, DH_GROUPS)
        };
        m.insert("pfs".into(), pfs.into());
    }
    let transform = *weighted(rng, TRANSFORMS);
    m.insert("transform_protocol".into(), transform.into());
    m.insert("lifetime_seconds".into(), IPSEC_LIFETIME.fresh(rng).into());
    m.insert("encapsulation_mode".into(), "tunnel".into());
    if future {
        m.insert("anti_replay_window".into(), future_value(rng));
    }
    Value::Object(m)
}

/// Absent ~30%, `[]` ~10%, otherwise 1-4 tags with distinct keys.
fn tags(rng: &mut Rng, future: bool) -> Option<Value> {
    let roll = rng.below(100);
    if roll < 30 {
        return None;
    }
    if roll < 40 {
        return Some(json!([]));
    }
    let n = rng.between(1, 4) as usize;
    let mut keys: Vec<String> = Vec::with_capacity(n);
    while keys.len() < n {
        // Rarely the documented maximum length (128 characters, not bytes).
        let key = if rng.chance(1) {
            "ção_".chars().cycle().take(128).collect()
        } else {
            rng.pick(TAG_KEYS).to_string()
        };
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let future_at = future.then(|| rng.below(n as u64) as usize);
    let tags = keys
        .into_iter()
        .enumerate()
        .map(|(pos, key)| {
            let value: String = if rng.chance(1) {
                "Valor largo ñ ".chars().cycle().take(255).collect()
            } else {
                rng.pick(TAG_VALUES).to_string()
            };
            let mut t = Map::new();
            t.insert("key".into(), key.into());
            t.insert("value".into(), value.into());
            if future_at == Some(pos) {
                t.insert("inherited".into(), future_value(rng));
            }
            Value::Object(t)
        })
        .collect();
    Some(Value::Array(tags))
}

fn bgp_peer(rng: &mut Rng, peer_ip: String, asn: Option<u64>, future: bool) -> Value {
    let asn = asn.unwrap_or_else(|| match rng.below(100) {
        0..40 => rng.within(PRIVATE_ASN_16),
        40..60 => rng.within(PRIVATE_ASN_32),
        60..85 => rng.between(1, 64_511),
        85..99 => rng.between(131_072, 4_199_999_999),
        _ => *rng.pick(&[1, 65_535, 65_536, 4_294_967_295]),
    });
    let state = *weighted(rng, BGP_STATES);
    let up = state == "Established";
    let mut m = Map::new();
    m.insert("peer_ip_address".into(), peer_ip.into());
    m.insert("peer_asn".into(), asn.into());
    m.insert("state".into(), state.into());
    m.insert("state_duration".into(), rng.below(90 * 86_400).into());
    let routes = if up { rng.below(500) } else { 0 };
    m.insert("num_received_routes".into(), routes.into());
    m.insert("num_message_received".into(), rng.below(10_000_000).into());
    m.insert("num_message_sent".into(), rng.below(10_000_000).into());
    if future {
        m.insert("bfd".into(), future_value(rng));
    }
    Value::Object(m)
}

/// Any JSON but null: the shapes an unknown future field could take.
fn future_value(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => json!("enable"),
        1 => json!(rng.below(100_000)),
        2 => json!(-42),
        3 => json!(0.25),
        4 => json!(rng.chance(50)),
        5 => json!([1, "x", true, {"y": [2.5]}]),
        6 => json!({"enabled": true, "interval_ms": 300, "tags": ["ção"]}),
        7 => json!(u64::MAX),
        _ => json!([]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;
    use std::collections::{BTreeSet, HashMap, HashSet};

    use crate::server::generated_inventory as inventory;

    /// Parses all three API spellings to Unix ms, plus which spelling it was.
    fn parse_ts(s: &str) -> (i64, TimeStyle) {
        if let Some(stripped) = s.strip_suffix('Z') {
            let t = DateTime::parse_from_rfc3339(s)
                .unwrap_or_else(|e| panic!("{s}: {e}"))
                .timestamp_millis();
            let style = if stripped.contains('.') {
                TimeStyle::Millis
            } else {
                TimeStyle::Seconds
            };
            (t, style)
        } else {
            let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
                .unwrap_or_else(|e| panic!("{s}: {e}"))
                .and_utc()
                .timestamp_millis();
            (t, TimeStyle::NoZone)
        }
    }

    const KNOWN_TOP: &[&str] = &[
        "id",
        "name",
        "status",
        "vgw_id",
        "vgw_ip",
        "style",
        "cgw_id",
        "peer_subnets",
        "tunnel_local_address",
        "tunnel_peer_address",
        "enable_nqa",
        "enable_hub",
        "policy_rules",
        "ikepolicy",
        "ipsecpolicy",
        "created_at",
        "updated_at",
        "enterprise_project_id",
        "connection_monitor_id",
        "ha_role",
        "tags",
        "peer_subnets_v6",
        "policy_rules_v6",
        "bgp_peer",
    ];
    const KNOWN_IKE: &[&str] = &[
        "ike_version",
        "phase1_negotiation_mode",
        "authentication_algorithm",
        "encryption_algorithm",
        "dh_group",
        "authentication_method",
        "lifetime_seconds",
        "local_id_type",
        "local_id",
        "peer_id_type",
        "peer_id",
        "dpd",
    ];
    const KNOWN_IPSEC: &[&str] = &[
        "authentication_algorithm",
        "encryption_algorithm",
        "pfs",
        "transform_protocol",
        "lifetime_seconds",
        "encapsulation_mode",
    ];
    const KNOWN_DPD: &[&str] = &["timeout", "interval", "msg"];
    const KNOWN_RULE: &[&str] = &["rule_index", "source", "destination"];
    const KNOWN_TAG: &[&str] = &["key", "value"];
    const KNOWN_BGP: &[&str] = &[
        "peer_ip_address",
        "peer_asn",
        "state",
        "state_duration",
        "num_received_routes",
        "num_message_received",
        "num_message_sent",
    ];

    /// Records "level.key" for every key unknown at that level; unknown values must not be null.
    fn unknown_keys(level: &str, v: &Value, known: &[&str], out: &mut BTreeSet<String>) {
        if let Some(m) = v.as_object() {
            for (k, val) in m {
                if !known.contains(&k.as_str()) {
                    assert!(!val.is_null(), "unknown {level}.{k} is null");
                    out.insert(level.to_string());
                }
            }
        }
    }

    fn is_uuid_v4(s: &str) -> bool {
        let b = s.as_bytes();
        s.len() == 36
            && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
            && b.iter()
                .enumerate()
                .filter(|(i, _)| ![8, 13, 18, 23].contains(i))
                .all(|(_, c)| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            && b[14] == b'4'
            && b"89ab".contains(&b[19])
    }

    #[test]
    fn same_seed_same_output_and_seeds_differ() {
        assert_eq!(inventory(300, 7), inventory(300, 7));
        assert_ne!(inventory(300, 7), inventory(300, 8));
        assert!(inventory(0, 7).is_empty());
        assert_eq!(inventory(1, 7).len(), 1);
    }

    #[test]
    fn created_at_strictly_decreasing_and_updated_not_before() {
        for seed in [0, 1, 99] {
            let inv = inventory(2_000, seed);
            let mut prev = i64::MAX;
            let mut seen = HashSet::new();
            for c in &inv {
                let created = c["created_at"].as_str().unwrap();
                let updated = c["updated_at"].as_str().unwrap();
                let (ct, cs) = parse_ts(created);
                let (ut, us) = parse_ts(updated);
                assert!(ct < prev, "{created} not before the previous one");
                assert!(seen.insert(ct), "instant of {created} repeats");
                assert!(ut >= ct, "updated {updated} before created {created}");
                assert_eq!(cs, us, "{created} vs {updated}");
                assert!(ut < HORIZON_MS);
                prev = ct;
            }
            // "A few years": the oldest lies between 2 and 4 years back.
            let oldest = HORIZON_MS - prev;
            assert!(oldest > 2 * 365 * 86_400_000 && oldest < 4 * 365 * 86_400_000);
        }
    }

    #[test]
    fn ties_group_connections_on_one_instant_and_change_nothing_else() {
        let with = |ties| {
            generate(&GenOptions {
                count: 1_000,
                seed: 5,
                ties,
            })
        };
        // No ties, one per instant: the default inventory, byte for byte.
        assert_eq!(with(0), inventory(1_000, 5));
        assert_eq!(with(1), inventory(1_000, 5));
        let tied = with(7);
        let created: Vec<&str> = tied
            .iter()
            .map(|c| c["created_at"].as_str().unwrap())
            .collect();
        let groups: Vec<&[&str]> = created.chunks(7).collect();
        assert_eq!(groups.len(), 143);
        assert_eq!(groups.last().unwrap().len(), 6);
        let mut prev = i64::MAX;
        for group in groups {
            assert!(group.iter().all(|c| c == &group[0]), "{group:?}");
            let (t, _) = parse_ts(group[0]);
            assert!(t < prev, "{} not before the previous group", group[0]);
            prev = t;
        }
        let ids: HashSet<&str> = tied.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 1_000);
    }

    #[test]
    fn whole_second_stamps_keep_instants_distinct() {
        // Adjacent milliseconds must not collapse into one second.
        let a = Stamp::new(1_000_999, TimeStyle::Seconds);
        assert_eq!(a.unix_ms(), 1_000_000);
        assert_eq!(a.render(), "1970-01-01T00:16:40Z");
        assert_eq!(
            Stamp::new(1_000_999, TimeStyle::NoZone).render(),
            "1970-01-01T00:16:40"
        );
        assert_eq!(
            Stamp::new(1_000_999, TimeStyle::Millis).render(),
            "1970-01-01T00:16:40.999Z"
        );
        let inv = inventory(20_000, 3);
        let texts: HashSet<&str> = inv
            .iter()
            .map(|c| c["created_at"].as_str().unwrap())
            .collect();
        assert_eq!(texts.len(), inv.len());
    }

    #[test]
    fn ids_unique_and_mostly_uuid_v4() {
        let inv = inventory(5_000, 11);
        let ids: HashSet<&str> = inv.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), inv.len());
        let demo = ids.iter().filter(|id| id.contains("-demo-")).count();
        assert!((100..=400).contains(&demo), "demo ids: {demo}");
        for id in ids.iter().filter(|id| !id.contains("-demo-")) {
            assert!(is_uuid_v4(id), "{id}");
        }
    }

    #[test]
    fn pinned_asns_in_any_inventory_of_50() {
        for seed in 0..20 {
            let asns: HashSet<u64> = inventory(50, seed)
                .iter()
                .filter_map(|c| c["bgp_peer"]["peer_asn"].as_u64())
                .collect();
            for asn in [4_294_967_295, 64_512, 4_200_000_000] {
                assert!(asns.contains(&asn), "seed {seed} lacks ASN {asn}");
            }
        }
    }

    #[test]
    fn two_thousand_cover_every_field_and_quirk() {
        for seed in [1, 42, 0xDEAD_BEEF] {
            let inv = inventory(2_000, seed);
            let mut present = BTreeSet::new();
            let mut styles = BTreeSet::new();
            let mut statuses = BTreeSet::new();
            let mut formats = HashSet::new();
            let mut unknown = BTreeSet::new();
            let mut nulls = 0;
            let mut empty_tags = 0;
            let mut empty_dest = 0;
            let mut asns = HashSet::new();
            let mut algs = HashSet::new();
            for c in &inv {
                let m = c.as_object().unwrap();
                for (k, v) in m {
                    if v.is_null() {
                        nulls += 1;
                    } else {
                        present.insert(k.clone());
                    }
                }
                for (lvl, v) in [
                    ("ikepolicy", &c["ikepolicy"]),
                    ("ipsecpolicy", &c["ipsecpolicy"]),
                ] {
                    for (k, val) in v.as_object().unwrap() {
                        present.insert(format!("{lvl}.{k}"));
                        if let Some(s) = val.as_str() {
                            algs.insert(s.to_string());
                        }
                    }
                }
                for k in c["ikepolicy"]["dpd"].as_object().into_iter().flatten() {
                    present.insert(format!("dpd.{}", k.0));
                }
                for k in c["bgp_peer"].as_object().into_iter().flatten() {
                    present.insert(format!("bgp_peer.{}", k.0));
                }
                styles.insert(c["style"].as_str().unwrap().to_string());
                statuses.insert(c["status"].as_str().unwrap().to_string());
                formats.insert(parse_ts(c["created_at"].as_str().unwrap()).1);
                if let Some(a) = c["bgp_peer"]["peer_asn"].as_u64() {
                    asns.insert(a);
                }
                if c["tags"].as_array().is_some_and(Vec::is_empty) {
                    empty_tags += 1;
                }
                unknown_keys("top", c, KNOWN_TOP, &mut unknown);
                unknown_keys("ikepolicy", &c["ikepolicy"], KNOWN_IKE, &mut unknown);
                unknown_keys("ipsecpolicy", &c["ipsecpolicy"], KNOWN_IPSEC, &mut unknown);
                unknown_keys("dpd", &c["ikepolicy"]["dpd"], KNOWN_DPD, &mut unknown);
                unknown_keys("bgp_peer", &c["bgp_peer"], KNOWN_BGP, &mut unknown);
                for r in c["policy_rules"].as_array().into_iter().flatten() {
                    unknown_keys("policy_rule", r, KNOWN_RULE, &mut unknown);
                    if r["destination"].as_array().is_some_and(Vec::is_empty) {
                        empty_dest += 1;
                    }
                }
                for t in c["tags"].as_array().into_iter().flatten() {
                    unknown_keys("tag", t, KNOWN_TAG, &mut unknown);
                }
            }
            for f in KNOWN_TOP {
                assert!(present.contains(*f), "seed {seed}: {f} never appears");
            }
            for f in KNOWN_IKE {
                assert!(present.contains(&format!("ikepolicy.{f}")), "ikepolicy.{f}");
            }
            for f in KNOWN_IPSEC {
                assert!(
                    present.contains(&format!("ipsecpolicy.{f}")),
                    "ipsecpolicy.{f}"
                );
            }
            for f in KNOWN_DPD {
                assert!(present.contains(&format!("dpd.{f}")), "dpd.{f}");
            }
            for f in KNOWN_BGP {
                assert!(present.contains(&format!("bgp_peer.{f}")), "bgp_peer.{f}");
            }
            assert_eq!(styles.len(), 4, "{styles:?}");
            assert_eq!(statuses.len(), 8, "{statuses:?}");
            assert_eq!(formats.len(), 3);
            assert!(asns.contains(&4_294_967_295));
            for alg in [
                "3des",
                "md5",
                "sm3",
                "sm4",
                "disable",
                "aggressive",
                "ah-esp",
            ] {
                assert!(algs.contains(alg), "{alg} never used");
            }
            let levels: BTreeSet<String> = [
                "top",
                "ikepolicy",
                "ipsecpolicy",
                "dpd",
                "policy_rule",
                "tag",
                "bgp_peer",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            assert_eq!(unknown, levels, "seed {seed}");
            assert!(nulls > 0 && empty_tags > 0 && empty_dest > 0);
        }
    }

    #[test]
    fn style_specific_fields() {
        let inv = inventory(2_000, 5);
        let mut gm = 0;
        for c in &inv {
            let style = c["style"].as_str().unwrap();
            let has = |k: &str| c.get(k).is_some_and(|v| !v.is_null());
            assert_eq!(
                has("enable_nqa"),
                style == "STATIC",
                "enable_nqa on {style}"
            );
            assert_eq!(has("bgp_peer"), style == "BGP");
            assert_eq!(
                has("policy_rules"),
                style == "POLICY" || style == "POLICY-TEMPLATE"
            );
            if style == "STATIC" || style == "BGP" {
                assert!(has("tunnel_local_address") && has("peer_subnets"));
            }
            let ike = &c["ikepolicy"];
            let v1 = ike["ike_version"] == "v1";
            assert_eq!(ike.get("phase1_negotiation_mode").is_some(), v1);
            if ike["encryption_algorithm"] == "sm4" {
                gm += 1;
                for k in [
                    "dh_group",
                    "local_id_type",
                    "local_id",
                    "peer_id_type",
                    "peer_id",
                ] {
                    assert!(ike.get(k).is_none(), "GM flavor has {k}");
                }
                assert!(c["ipsecpolicy"].get("pfs").is_none());
            } else {
                assert!(ike.get("dh_group").is_some());
                assert!(c["ipsecpolicy"].get("pfs").is_some());
            }
        }
        assert!(gm > 40, "GM flavor: {gm}");
    }

    #[test]
    fn values_stay_in_documented_ranges() {
        let inv = inventory(3_000, 17);
        let name_ok = |s: &str| {
            (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        };
        let tag_ok = |s: &str| {
            s.chars()
                .all(|ch| ch.is_alphanumeric() || " _.:=+-@".contains(ch))
        };
        for c in &inv {
            assert!(name_ok(c["name"].as_str().unwrap()), "{}", c["name"]);
            let ike = &c["ikepolicy"];
            assert!((60..=604_800).contains(&ike["lifetime_seconds"].as_u64().unwrap()));
            let ipsec_life = c["ipsecpolicy"]["lifetime_seconds"].as_u64().unwrap();
            assert!((30..=604_800).contains(&ipsec_life));
            if let Some(dpd) = ike.get("dpd") {
                assert!((2..=60).contains(&dpd["timeout"].as_u64().unwrap()));
                assert!((10..=3600).contains(&dpd["interval"].as_u64().unwrap()));
            }
            if let Some(rules) = c["policy_rules"].as_array() {
                assert!((1..=5).contains(&rules.len()));
                let idx: HashSet<u64> = rules
                    .iter()
                    .map(|r| r["rule_index"].as_u64().unwrap())
                    .collect();
                assert_eq!(idx.len(), rules.len());
                assert!(idx.iter().all(|i| *i <= 50));
            }
            if let Some(tags) = c["tags"].as_array() {
                let keys: HashSet<&str> = tags.iter().map(|t| t["key"].as_str().unwrap()).collect();
                assert_eq!(keys.len(), tags.len());
                for t in tags {
                    let (k, v) = (t["key"].as_str().unwrap(), t["value"].as_str().unwrap());
                    assert!((1..=128).contains(&k.chars().count()) && tag_ok(k), "{k}");
                    assert!(v.chars().count() <= 255 && tag_ok(v), "{v}");
                }
            }
            for addr in ["tunnel_local_address", "tunnel_peer_address"] {
                if let Some(a) = c[addr].as_str() {
                    assert!(a.starts_with("169.254.") && a.ends_with("/30"), "{a}");
                }
            }
            if let Some(role) = c.get("ha_role").and_then(Value::as_str) {
                assert!(role == "master" || role == "slave");
            }
        }
    }

    #[test]
    fn gateway_filters_match_several_connections() {
        let inv = inventory(2_000, 23);
        let mut by: HashMap<(&str, &str), usize> = HashMap::new();
        for c in &inv {
            for k in ["vgw_id", "vgw_ip", "enterprise_project_id"] {
                *by.entry((k, c[k].as_str().unwrap())).or_default() += 1;
            }
        }
        for k in ["vgw_id", "vgw_ip", "enterprise_project_id"] {
            let groups: Vec<usize> = by
                .iter()
                .filter(|((key, _), _)| *key == k)
                .map(|(_, n)| *n)
                .collect();
            assert!(groups.len() >= 3, "{k}: {} values", groups.len());
            assert!(groups.iter().filter(|n| **n >= 5).count() >= 3, "{k}");
        }
        let ips: Vec<&str> = by
            .keys()
            .filter(|(k, _)| *k == "vgw_ip")
            .map(|(_, v)| *v)
            .collect();
        assert!(
            ips.iter()
                .any(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok())
        );
        assert!(ips.iter().any(|ip| ip.len() == 36));
        // Even the smallest pool covers both address kinds and three projects.
        let ctx = Context::new(&mut Rng::new(1), 5);
        assert_eq!(ctx.gateways.len(), 3);
        let eps: HashSet<&str> = ctx
            .gateways
            .iter()
            .map(|g| g.enterprise_project_id.as_str())
            .collect();
        assert_eq!(eps.len(), 3);
    }
}
