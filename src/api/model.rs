//! The `ResponseVpnConnection` model and its lossless JSON mapping.
//!
//! Every documented field (and the SDK-only ones) gets a typed slot; everything else the API
//! sends, including a documented field whose value has an unexpected type, is kept verbatim in
//! the object's `extra` map. `to_json` merges `extra` back, so API JSON -> model -> JSON is
//! lossless except that `null` fields are dropped (the API uses absent and null alike).
//! Parsing never fails on a value's format: the seed itself has non-UUID ids and masked IPs.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A JSON value that fits a typed slot of the model.
pub trait FieldValue: Sized {
    /// `None` when the value has an unexpected type; the caller then keeps it in `extra`.
    fn from_json(value: &Value) -> Option<Self>;
    fn to_json(&self) -> Value;
}

impl FieldValue for String {
    fn from_json(value: &Value) -> Option<Self> {
        value.as_str().map(str::to_owned)
    }
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}

impl FieldValue for i64 {
    fn from_json(value: &Value) -> Option<Self> {
        // Only an integer spelled as it is written back: a fraction, an exponent, `-0` or a
        // number past i64 stays in `extra`, as sent.
        let number = value.as_number()?;
        let int = number.as_i64()?;
        (number.as_str() == int.to_string()).then_some(int)
    }
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

impl FieldValue for bool {
    fn from_json(value: &Value) -> Option<Self> {
        value.as_bool()
    }
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}

impl<T: FieldValue> FieldValue for Vec<T> {
    fn from_json(value: &Value) -> Option<Self> {
        value.as_array()?.iter().map(T::from_json).collect()
    }
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(FieldValue::to_json).collect())
    }
}

/// Declares a model object: typed optional fields in the API's order, plus `extra`.
macro_rules! api_object {
    ($(#[$meta:meta])* pub struct $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $(pub $field: Option<$ty>,)*
            /// Fields this version does not model, kept as sent.
            pub extra: Map<String, Value>,
        }

        impl $name {
            /// The API's names of the typed fields, in the API's order.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Takes the known fields out of `map`; whatever is left becomes `extra`, in the
            /// order sent. A `null` is dropped; a known field whose value does not fit its
            /// type is kept in `extra`. (One pass: removing each field from an ordered map
            /// shifted every member after it.)
            pub fn from_map(map: Map<String, Value>) -> Self {
                let mut out = Self::default();
                for (key, value) in map {
                    if value.is_null() {
                        continue;
                    }
                    match key.as_str() {
                        $(stringify!($field) => match <$ty as FieldValue>::from_json(&value) {
                            Some(typed) => out.$field = Some(typed),
                            None => {
                                out.extra.insert(key, value);
                            }
                        },)*
                        _ => {
                            out.extra.insert(key, value);
                        }
                    }
                }
                out
            }

            pub fn to_map(&self) -> Map<String, Value> {
                let mut map = Map::new();
                $(if let Some(v) = &self.$field {
                    map.insert(stringify!($field).to_owned(), FieldValue::to_json(v));
                })*
                for (k, v) in &self.extra {
                    map.insert(k.clone(), v.clone());
                }
                map
            }
        }

        impl FieldValue for $name {
            fn from_json(value: &Value) -> Option<Self> {
                value.as_object().map(|m| Self::from_map(m.clone()))
            }
            fn to_json(&self) -> Value {
                Value::Object(self.to_map())
            }
        }
    };
}

api_object! {
    /// One `ResponseVpnConnection`.
    pub struct VpnConnection {
        id: String,
        name: String,
        status: String,
        vgw_id: String,
        vgw_ip: String,
        style: String,
        cgw_id: String,
        peer_subnets: Vec<String>,
        tunnel_local_address: String,
        tunnel_peer_address: String,
        enable_nqa: bool,
        policy_rules: Vec<PolicyRule>,
        ikepolicy: IkePolicy,
        ipsecpolicy: IpsecPolicy,
        created_at: String,
        updated_at: String,
        enterprise_project_id: String,
        connection_monitor_id: String,
        ha_role: String,
        tags: Vec<Tag>,
        peer_subnets_v6: Vec<String>,
        policy_rules_v6: Vec<PolicyRule>,
        bgp_peer: BgpPeer,
        enable_hub: bool,
    }
}

api_object! {
    pub struct PolicyRule {
        rule_index: i64,
        source: String,
        destination: Vec<String>,
    }
}

api_object! {
    pub struct IkePolicy {
        ike_version: String,
        phase1_negotiation_mode: String,
        authentication_algorithm: String,
        encryption_algorithm: String,
        dh_group: String,
        authentication_method: String,
        lifetime_seconds: i64,
        local_id_type: String,
        local_id: String,
        peer_id_type: String,
        peer_id: String,
        dpd: Dpd,
    }
}

api_object! {
    pub struct Dpd {
        timeout: i64,
        interval: i64,
        msg: String,
    }
}

api_object! {
    pub struct IpsecPolicy {
        authentication_algorithm: String,
        encryption_algorithm: String,
        pfs: String,
        transform_protocol: String,
        lifetime_seconds: i64,
        encapsulation_mode: String,
    }
}

api_object! {
    pub struct Tag {
        key: String,
        value: String,
    }
}

api_object! {
    pub struct BgpPeer {
        peer_ip_address: String,
        peer_asn: i64,
        state: String,
        state_duration: i64,
        num_received_routes: i64,
        num_message_received: i64,
        num_message_sent: i64,
    }
}

impl VpnConnection {
    /// The first 128 bits of the SHA-256 of the canonical JSON, as 32 hex digits: equal hashes
    /// mean equal stored content. 128 bits keep that true for any inventory (two contents
    /// share a hash with odds near 2^-64 even among 2^32 of them) in half the bytes of the
    /// whole digest, which every connection and version stores.
    pub fn content_hash(&self) -> String {
        let digest = Sha256::digest(canonical_text(self.to_json()).as_bytes());
        hex::encode(&digest[..16])
    }
}

/// JSON text with object keys sorted at every level, so equal values give equal text.
/// (Compact, as serde_json writes it, every value as sent: stored content hashes depend on
/// this exact text.)
pub fn canonical_json(value: &Value) -> String {
    canonical_text(value.clone())
}

/// [`canonical_json`] of a value the caller no longer needs: sorted in place, not copied.
fn canonical_text(mut value: Value) -> String {
    value.sort_all_objects();
    crate::json::to_string(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_keeps_the_order_sent() {
        let served = json!({
            "zeta": 1, "id": "c1", "name": 7, "alpha": null, "status": null, "mid": [2],
            "enable_nqa": "yes", "beta": "b"
        });
        let conn = VpnConnection::from_json(&served).unwrap();
        let keys: Vec<&str> = conn.extra.keys().map(String::as_str).collect();
        // Unknown fields, and known ones whose value does not fit, as sent; nulls dropped.
        assert_eq!(keys, ["zeta", "name", "mid", "enable_nqa", "beta"]);
        assert_eq!(
            (conn.id.as_deref(), conn.name, conn.status),
            (Some("c1"), None, None)
        );
    }

    #[test]
    fn known_fields_are_typed_and_unknown_ones_kept() {
        let served = json!({
            "id": "c1", "name": "vpn-1", "enable_nqa": true,
            "ikepolicy": {
                "ike_version": "v2", "dpd": {"timeout": 15, "future": [1]}, "sa_reauth": "on"
            },
            "tags": [], "future_top": {"a": 1}
        });
        let conn = VpnConnection::from_json(&served).unwrap();
        assert_eq!(conn.id.as_deref(), Some("c1"));
        assert_eq!(conn.tags, Some(vec![]));
        let ike = conn.ikepolicy.as_ref().unwrap();
        assert_eq!(ike.extra["sa_reauth"], json!("on"));
        assert_eq!(ike.dpd.as_ref().unwrap().extra["future"], json!([1]));
        assert_eq!(conn.extra["future_top"], json!({"a": 1}));
        assert_eq!(conn.to_json(), served);
    }

    #[test]
    fn unexpected_types_stay_in_extra_and_round_trip() {
        let served = json!({"id": "c1", "enable_nqa": "yes", "peer_subnets": ["a", 1],
            "bgp_peer": {"peer_asn": 1.5},
            "ikepolicy": {"lifetime_seconds": 18446744073709551615u64}});
        let conn = VpnConnection::from_json(&served).unwrap();
        assert_eq!(conn.enable_nqa, None);
        assert_eq!(conn.extra["enable_nqa"], json!("yes"));
        assert_eq!(conn.peer_subnets, None);
        assert_eq!(conn.bgp_peer.as_ref().unwrap().peer_asn, None);
        assert_eq!(conn.to_json(), served);
    }

    #[test]
    fn nulls_are_dropped_but_empty_lists_kept() {
        let served =
            json!({"id": "c1", "ha_role": null, "peer_subnets": [], "x": null, "bgp_peer": null});
        let conn = VpnConnection::from_json(&served).unwrap();
        assert_eq!(conn.to_json(), json!({"id": "c1", "peer_subnets": []}));
        assert_eq!(conn.to_json(), vpn_simulator::wire::without_nulls(&served));
    }

    #[test]
    fn four_byte_asn_keeps_its_value() {
        let served = json!({"id": "c1", "bgp_peer": {"peer_asn": 4294967295u64}});
        let conn = VpnConnection::from_json(&served).unwrap();
        assert_eq!(conn.bgp_peer.unwrap().peer_asn, Some(4_294_967_295));
    }

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[2,{"d":1,"c":2}],"x":"é"}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":"é","y":[2,{"c":2,"d":1}]},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":"é","y":[2,{"c":2,"d":1}]},"b":1}"#
        );
    }

    #[test]
    fn integers_only_when_written_back_the_same() {
        for (text, typed) in [
            ("4294967295", Some(4_294_967_295)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("18446744073709551616", None),
            ("-0", None),
            ("1e2", None),
            ("1.0", None),
        ] {
            let served = crate::json::parse(&format!(r#"{{"bgp_peer":{{"peer_asn":{text}}}}}"#));
            let conn = VpnConnection::from_json(&served.unwrap()).unwrap();
            let bgp = conn.bgp_peer.as_ref().unwrap();
            assert_eq!(bgp.peer_asn, typed, "{text}");
            assert_eq!(
                bgp.extra.contains_key("peer_asn"),
                typed.is_none(),
                "{text}"
            );
            let back = crate::json::to_string(&conn.to_json());
            assert_eq!(back, format!(r#"{{"bgp_peer":{{"peer_asn":{text}}}}}"#));
        }
    }

    mod properties {
        use super::super::{VpnConnection, canonical_json};
        use crate::api::model::FieldValue;
        use crate::json::arbitrary::connection;
        use crate::json::parse;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            /// API JSON -> model -> JSON gives back every value as sent (key order aside: typed
            /// fields come first).
            #[test]
            fn a_connection_comes_back_as_sent(sent in connection(0)) {
                let served = parse(&sent.sent()).unwrap();
                let conn = VpnConnection::from_json(&served).unwrap();
                let back = conn.to_json();
                prop_assert_eq!(canonical_json(&back), canonical_json(&served));
                let expected = parse(&sent.expected()).unwrap();
                prop_assert_eq!(canonical_json(&back), canonical_json(&expected));
                let written = parse(&crate::json::to_string(&back)).unwrap();
                let again = VpnConnection::from_json(&written).unwrap();
                prop_assert_eq!(again.content_hash(), conn.content_hash());
            }
        }
    }
}
