//! Edits of `bgp_peer`: the session state, the peer ASN, and telemetry counters moving (which
//! must produce no record).

use super::{Claims, Kind, Mutator, Spot};
use super::{Connection, Edit};
use crate::random::{BGP_STATES, PRIVATE_ASN_16, PRIVATE_ASN_32};
use serde_json::Value;

/// BGP counters that change all the time and mean no drift.
const TELEMETRY: &[&str] = &[
    "state_duration",
    "num_received_routes",
    "num_message_received",
    "num_message_sent",
];

impl Mutator {
    /// `BgpState`, `BgpAsn`, `Telemetry`.
    pub(super) fn edit_bgp(&mut self, kind: Kind, m: &mut Connection, claims: &Claims) -> Edit {
        match kind {
            Kind::BgpState => self.scalar(m, claims, &["bgp_peer", "state"], |r, _| {
                r.pick(BGP_STATES).0.into()
            }),
            Kind::BgpAsn => self.scalar(m, claims, &["bgp_peer", "peer_asn"], |r, _| {
                if r.chance(60) {
                    r.within(PRIVATE_ASN_16)
                } else {
                    r.within(PRIVATE_ASN_32)
                }
                .into()
            }),
            Kind::Telemetry => {
                let rng = &mut self.rng;
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
            _ => None,
        }
    }
}
