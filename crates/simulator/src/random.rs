//! The seeded randomness the simulator draws from, shared by the generator (`data`) and the
//! mutator (`mutate`): the random source, the value tables (statuses, algorithms, DH groups,
//! BGP states, names, tag text), and small generators of names, UUIDs, CIDRs, lifetimes and the
//! like. A fresh connection and an edit may draw differently (a rename never produces the
//! length edges a fresh inventory covers); both spellings live here, side by side, so the
//! tables and shapes of values are declared once. Each function's draws are part of the seed's
//! contract: changing one changes every generated inventory.

/// SplitMix64: tiny, fast and good enough for fake data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (multiply-shift; the bias is negligible for fake data). `below(0)` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi` (requires `lo <= hi`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        match (hi - lo).checked_add(1) {
            Some(n) => lo + self.below(n),
            None => self.next_u64(), // the full u64 range
        }
    }

    /// True with the given probability in percent.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A value in an inclusive `(lo, hi)` range such as [`DPD_TIMEOUT`].
    pub fn within(&mut self, (lo, hi): (u64, u64)) -> u64 {
        self.between(lo, hi)
    }

    /// One element of a non-empty slice (panics on an empty one).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Weighted tables: a fresh connection draws by weight ([`weighted`]), an edit uniformly
/// (`rng.pick(TABLE).0`). Order matters to both: it is part of the seed's contract.
pub type Table = &'static [(&'static str, u64)];

pub const STATUSES: Table = &[
    ("ACTIVE", 60),
    ("DOWN", 25),
    ("PENDING_CREATE", 3),
    ("PENDING_UPDATE", 3),
    ("PENDING_DELETE", 2),
    ("ERROR", 3),
    ("FREEZED", 2),
    ("UNKNOWN", 2),
];

// md5 and 3des stay in the mix: weak-crypto hunting is a main use of the inventory.
pub const AUTH_ALGS: Table = &[
    ("sha2-256", 50),
    ("sha2-384", 10),
    ("sha2-512", 10),
    ("sha1", 20),
    ("md5", 10),
];

pub const ENC_ALGS: Table = &[
    ("aes-128", 35),
    ("aes-256", 25),
    ("aes-256-gcm-16", 10),
    ("aes-128-gcm-16", 8),
    ("aes-192", 7),
    ("3des", 15),
];

pub const DH_GROUPS: Table = &[
    ("group14", 30),
    ("group15", 20),
    ("group16", 10),
    ("group19", 10),
    ("group20", 8),
    ("group21", 4),
    ("group1", 6),
    ("group2", 6),
    ("group5", 6),
];

pub const TRANSFORMS: Table = &[("esp", 85), ("ah", 7), ("ah-esp", 8)];

pub const BGP_STATES: Table = &[
    ("Established", 65),
    ("Idle", 10),
    ("Active", 10),
    ("Connect", 7),
    ("OpenSent", 5),
    ("OpenConfirm", 3),
];

pub const NAME_STEMS: &[&str] = &[
    "hq-to-dc1",
    "branch_042",
    "Office.Lisboa",
    "partner-acme",
    "backup.link",
    "DC2_primary",
    "lab-vpn",
    "aws.peering",
    "ERP-tunnel",
    "Madrid_Sede",
];

const NAME_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";

// Tag text uses every documented character class: letters (with ñ ç ã é), digits, spaces,
// _ . : = + - @.
pub const TAG_KEYS: &[&str] = &[
    "env",
    "owner",
    "cost-center",
    "app.tier",
    "team:network",
    "Proyecto",
    "región",
    "Função",
    "año fiscal",
    "ação",
    "k=v+w",
    "contact@ops",
    "Centro de Costos",
    "ñandú",
    "cliente_ç",
    "zona:eu-west",
];

pub const TAG_VALUES: &[&str] = &[
    "prod",
    "staging",
    "dev",
    "",
    "São Paulo",
    "producción",
    "équipe réseau",
    "Ação: migração",
    "ops@example.com",
    "a+b=c",
    "v1.2.3",
    "núcleo_01",
    "España",
    "Lisboa - DC2",
    "12345",
    "owner: josé",
];

/// Private 2-byte and 4-byte BGP AS numbers (RFC 6996), inclusive.
pub const PRIVATE_ASN_16: (u64, u64) = (64_512, 65_534);
pub const PRIVATE_ASN_32: (u64, u64) = (4_200_000_000, 4_294_967_294);

/// Dead peer detection bounds in seconds, inclusive, as documented.
pub const DPD_TIMEOUT: (u64, u64) = (2, 60);
pub const DPD_INTERVAL: (u64, u64) = (10, 3600);

/// An item of a weighted table, by weight.
pub fn weighted<'a, T>(rng: &mut Rng, items: &'a [(T, u64)]) -> &'a T {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.below(total);
    for (item, w) in items {
        if roll < *w {
            return item;
        }
        roll -= w;
    }
    &items[items.len() - 1].0
}

/// A random-version-4 UUID in lowercase text.
pub fn uuid_v4(rng: &mut Rng) -> String {
    let hi = (rng.next_u64() & !0xF000) | 0x4000;
    let lo = (rng.next_u64() & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// A fresh connection's name: mostly `vpn-1a2b`, else a stem (bare or numbered), and now and
/// then the length edges, 1 and 64 characters.
pub fn name(rng: &mut Rng) -> String {
    match rng.below(100) {
        0..80 => vpn_name(rng),
        80..96 => {
            let stem = *rng.pick(NAME_STEMS);
            if rng.chance(50) {
                stem.to_string()
            } else {
                numbered(rng, stem)
            }
        }
        96..98 => char::from(*rng.pick(&NAME_CHARS[..62])).to_string(),
        _ => (0..64).map(|_| char::from(*rng.pick(NAME_CHARS))).collect(),
    }
}

/// A new name for an existing connection: `vpn-1a2b` or a numbered stem.
pub fn rename(rng: &mut Rng) -> String {
    if rng.chance(75) {
        vpn_name(rng)
    } else {
        let stem = *rng.pick(NAME_STEMS);
        numbered(rng, stem)
    }
}

fn vpn_name(rng: &mut Rng) -> String {
    format!("vpn-{:04x}", rng.below(0x1_0000))
}

fn numbered(rng: &mut Rng, stem: &str) -> String {
    format!("{stem}-{}", rng.below(100))
}

/// A fresh connection's IPv4 network, /16 to /28.
pub fn cidr_v4(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => net10_24(rng),
        1 => format!("172.{}.0.0/16", rng.between(16, 31)),
        2 => net192_24(rng),
        3 => format!(
            "10.{}.{}.{}/28",
            rng.below(256),
            rng.below(256),
            16 * rng.below(16)
        ),
        _ => format!("10.{}.0.0/16", rng.below(256)),
    }
}

/// A fresh connection's IPv6 network: documentation /64 or unique-local /48.
pub fn cidr_v6(rng: &mut Rng) -> String {
    if rng.chance(50) {
        doc_v6_64(rng)
    } else {
        format!("fd{:02x}:{:x}::/48", rng.below(256), rng.below(0x1_0000))
    }
}

/// An edit's network: a private /24, or a documentation /64.
pub fn edit_cidr(rng: &mut Rng, v6: bool) -> String {
    if v6 {
        doc_v6_64(rng)
    } else {
        match rng.below(3) {
            0 => net10_24(rng),
            1 => net192_24(rng),
            _ => format!("172.{}.{}.0/24", rng.between(16, 31), rng.below(256)),
        }
    }
}

fn net10_24(rng: &mut Rng) -> String {
    format!("10.{}.{}.0/24", rng.below(256), rng.below(256))
}

fn net192_24(rng: &mut Rng) -> String {
    format!("192.168.{}.0/24", rng.below(256))
}

fn doc_v6_64(rng: &mut Rng) -> String {
    format!(
        "2001:db8:{:x}:{:x}::/64",
        rng.below(0x1_0000),
        rng.below(0x1_0000)
    )
}

/// The bounds and usual values of an SA lifetime, in seconds.
pub struct Lifetime {
    pub lo: u64,
    pub hi: u64,
    pub common: &'static [u64],
}

pub const IKE_LIFETIME: Lifetime = Lifetime {
    lo: 60,
    hi: 604_800,
    common: &[86_400, 3_600, 28_800],
};

pub const IPSEC_LIFETIME: Lifetime = Lifetime {
    lo: 30,
    hi: 604_800,
    common: &[3_600, 28_800, 86_400],
};

impl Lifetime {
    /// A fresh connection's: usually a common value, sometimes random, sometimes exactly a bound.
    pub fn fresh(&self, rng: &mut Rng) -> u64 {
        match rng.below(100) {
            0..60 => *rng.pick(self.common),
            60..96 => rng.between(self.lo, self.hi),
            96..98 => self.lo,
            _ => self.hi,
        }
    }

    /// An edit's: a common value or a random one, half and half.
    pub fn edit(&self, rng: &mut Rng) -> u64 {
        if rng.chance(50) {
            *rng.pick(self.common)
        } else {
            rng.between(self.lo, self.hi)
        }
    }
}

/// `master` 70%, `slave` 30%.
pub fn ha_role(rng: &mut Rng) -> &'static str {
    if rng.chance(70) { "master" } else { "slave" }
}

/// The IKEv1 phase 1 mode: `main` 80%, `aggressive` 20%.
pub fn phase1_mode(rng: &mut Rng) -> &'static str {
    if rng.chance(80) { "main" } else { "aggressive" }
}

/// The DPD message order: `seq-hash-notify` 80%, `seq-notify-hash` 20%.
pub fn dpd_msg(rng: &mut Rng) -> &'static str {
    if rng.chance(80) {
        "seq-hash-notify"
    } else {
        "seq-notify-hash"
    }
}
