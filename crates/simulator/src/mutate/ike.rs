//! Edits of `ikepolicy`: algorithms, DH group, lifetime, the IKE version with its phase 1 mode,
//! and dead peer detection (added, removed, or one of its settings changed).

use super::{Claims, Kind, Mutator, Spot, present};
use super::{Connection, Edit};
use crate::random::{
    AUTH_ALGS, DH_GROUPS, DPD_INTERVAL, DPD_TIMEOUT, ENC_ALGS, IKE_LIFETIME, dpd_msg, phase1_mode,
};
use serde_json::{Map, Value, json};

impl Mutator {
    /// `IkeEncryption`, `IkeAuthentication`, `IkeDhGroup`, `IkeLifetime`.
    pub(super) fn edit_ike(&mut self, kind: Kind, m: &mut Connection, claims: &Claims) -> Edit {
        match kind {
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
                r.pick(DH_GROUPS).0.into()
            }),
            Kind::IkeLifetime => {
                self.scalar(m, claims, &["ikepolicy", "lifetime_seconds"], |r, _| {
                    IKE_LIFETIME.edit(r).into()
                })
            }
            _ => None,
        }
    }

    /// `Phase1Add` (IKEv2 to IKEv1, which has a phase 1 mode) or `Phase1Remove` (back).
    pub(super) fn switch_ike_version(
        &mut self,
        adding: bool,
        m: &mut Map<String, Value>,
        claims: &Claims,
    ) -> Option<Vec<Spot>> {
        let ike = m.get_mut("ikepolicy")?.as_object_mut()?;
        let spots = vec![
            Spot::path(&["ikepolicy", "ike_version"]),
            Spot::path(&["ikepolicy", "phase1_negotiation_mode"]),
        ];
        let has_mode = present(ike, "phase1_negotiation_mode").is_some();
        let version = if adding { "v2" } else { "v1" };
        if ike.get("ike_version")? != version || has_mode == adding || !claims.free(&spots) {
            return None;
        }
        // IKEv1 is what has a phase 1 mode: switching versions adds or drops it.
        if adding {
            ike.insert("ike_version".into(), "v1".into());
            ike.insert(
                "phase1_negotiation_mode".into(),
                phase1_mode(&mut self.rng).into(),
            );
        } else {
            ike.insert("ike_version".into(), "v2".into());
            ike.shift_remove("phase1_negotiation_mode");
        }
        Some(spots)
    }

    /// `DpdAdd`, `DpdRemove`, `DpdInterval`, `DpdTimeout`, `DpdMsg`.
    pub(super) fn edit_dpd(&mut self, kind: Kind, m: &mut Connection, claims: &Claims) -> Edit {
        match kind {
            Kind::DpdAdd | Kind::DpdRemove => {
                let rng = &mut self.rng;
                let ike = m.get_mut("ikepolicy")?.as_object_mut()?;
                let spots = vec![Spot::path(&["ikepolicy", "dpd"])];
                let adding = kind == Kind::DpdAdd;
                if present(ike, "dpd").is_some() == adding || !claims.free(&spots) {
                    return None;
                }
                if adding {
                    let msg = dpd_msg(rng);
                    let dpd = json!({
                        "timeout": rng.within(DPD_TIMEOUT),
                        "interval": rng.within(DPD_INTERVAL),
                        "msg": msg,
                    });
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
                        r.within(DPD_INTERVAL)
                    }
                    .into()
                })
            }
            Kind::DpdTimeout => self.scalar(m, claims, &["ikepolicy", "dpd", "timeout"], |r, _| {
                if r.chance(30) {
                    15
                } else {
                    r.within(DPD_TIMEOUT)
                }
                .into()
            }),
            Kind::DpdMsg => self.scalar(m, claims, &["ikepolicy", "dpd", "msg"], |_, old| {
                if old == "seq-hash-notify" {
                    "seq-notify-hash"
                } else {
                    "seq-hash-notify"
                }
                .into()
            }),
            _ => None,
        }
    }
}
