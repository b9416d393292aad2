//! Edits of `peer_subnets`/`peer_subnets_v6`: a subnet added or removed, or the list reordered
//! (no record: the detector compares subnets as a set).

use super::{Claims, Kind, Mutator, Spot, fresh_cidr, pick_key, reordered};
use super::{Connection, Edit};
use serde_json::Value;

impl Mutator {
    /// `SubnetAdd`, `SubnetRemove`, `ReorderSubnets`.
    pub(super) fn edit_subnets(&mut self, kind: Kind, m: &mut Connection, claims: &Claims) -> Edit {
        let rng = &mut self.rng;
        let list = pick_key(rng, m, ["peer_subnets", "peer_subnets_v6"], Value::is_array)?;
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
}
