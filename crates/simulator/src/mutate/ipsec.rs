//! Edits of `ipsecpolicy`: PFS group, encryption, lifetime and transform protocol.

use super::{Claims, Kind, Mutator};
use super::{Connection, Edit};
use crate::random::{DH_GROUPS, ENC_ALGS, IPSEC_LIFETIME, TRANSFORMS};

impl Mutator {
    /// `IpsecPfs`, `IpsecEncryption`, `IpsecLifetime`, `IpsecTransform`.
    pub(super) fn edit_ipsec(&mut self, kind: Kind, m: &mut Connection, claims: &Claims) -> Edit {
        match kind {
            Kind::IpsecPfs => self.scalar(m, claims, &["ipsecpolicy", "pfs"], |r, _| {
                if r.chance(20) {
                    "disable"
                } else {
                    r.pick(DH_GROUPS).0
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
                    IPSEC_LIFETIME.edit(r).into()
                })
            }
            Kind::IpsecTransform => {
                self.scalar(m, claims, &["ipsecpolicy", "transform_protocol"], |r, _| {
                    r.pick(TRANSFORMS).0.into()
                })
            }
            _ => None,
        }
    }
}
