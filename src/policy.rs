//! The policy `vpn-inventory check` holds connections to: which algorithms, Diffie-Hellman
//! groups and IKE versions are allowed, whether PFS and DPD are required, lifetime bounds,
//! required tag keys and the statuses considered healthy.
//!
//! It is TOML (`--policy`, or `policy` in the configuration). What a file leaves out keeps the
//! built-in policy's value: 3DES and DES encryption, MD5 and SHA-1 integrity and Diffie-Hellman
//! groups below 14 are disallowed, and nothing else is checked. The rules themselves are SQL,
//! the report `policy-violations`: a policy only sets its parameters.
//!
//! ```toml
//! [encryption]          # IKE and IPsec encryption_algorithm
//! disallowed = ["3des", "des"]
//! # allowed = ["aes-256", "aes-256-gcm-16"]   (when set, nothing else is allowed)
//! [authentication]      # IKE and IPsec authentication_algorithm
//! disallowed = ["md5", "sha1"]
//! [dh_group]            # IKE dh_group and IPsec pfs
//! minimum = 14
//! [ike]
//! versions = ["v2"]
//! [pfs]
//! required = true
//! [lifetime]
//! ike_seconds = { min = 3600, max = 86400 }
//! ipsec_seconds = { min = 1200, max = 28800 }
//! [dpd]
//! required = true
//! [tags]
//! required = ["owner", "env"]
//! [status]
//! healthy = ["ACTIVE"]
//! ```

use anyhow::Context as _;
use serde::Deserialize;
use std::path::Path;

/// The Diffie-Hellman groups the API takes (`group1` ... `group21`), in order: a minimum
/// disallows those below it, and any later group below it too.
const API_DH_GROUPS: [u32; 9] = [1, 2, 5, 14, 15, 16, 19, 20, 21];

/// The built-in report whose parameters a policy sets.
pub const REPORT: &str = "policy-violations";

/// A whole policy; every part defaults to the built-in policy's.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default = "Algorithms::weak_encryption")]
    pub encryption: Algorithms,
    #[serde(default = "Algorithms::weak_integrity")]
    pub authentication: Algorithms,
    #[serde(default)]
    pub dh_group: DhGroups,
    #[serde(default)]
    pub ike: Ike,
    #[serde(default)]
    pub pfs: Required,
    #[serde(default)]
    pub lifetime: Lifetimes,
    #[serde(default)]
    pub dpd: Required,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub status: Status,
}

/// Algorithms by name (compared in lower case): an allow list (when not empty, nothing else is
/// allowed) and a deny list.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Algorithms {
    #[serde(default)]
    pub allowed: Vec<String>,
    #[serde(default)]
    pub disallowed: Vec<String>,
}

impl Algorithms {
    fn weak_encryption() -> Self {
        Self::disallowing(&["3des", "des"])
    }

    fn weak_integrity() -> Self {
        Self::disallowing(&["md5", "sha1"])
    }

    fn disallowing(names: &[&str]) -> Self {
        Self {
            allowed: Vec::new(),
            disallowed: names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }
}

/// Diffie-Hellman groups (`group14`, ...): every group below `minimum` is disallowed, and so
/// is each one `disallowed` names.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DhGroups {
    #[serde(default = "DhGroups::default_minimum")]
    pub minimum: u32,
    #[serde(default)]
    pub disallowed: Vec<String>,
}

impl DhGroups {
    fn default_minimum() -> u32 {
        14
    }
}

impl Default for DhGroups {
    fn default() -> Self {
        Self {
            minimum: Self::default_minimum(),
            disallowed: Vec::new(),
        }
    }
}

/// The IKE versions allowed (`v1`, `v2`); empty: both.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ike {
    #[serde(default)]
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Required {
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Lifetimes {
    #[serde(default)]
    pub ike_seconds: Bounds,
    #[serde(default)]
    pub ipsec_seconds: Bounds,
}

/// Inclusive bounds, in seconds; either may be left out.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    pub min: Option<u32>,
    pub max: Option<u32>,
}

/// Tag keys every connection must carry (exact, as the API spells them).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tags {
    #[serde(default)]
    pub required: Vec<String>,
}

/// The connection statuses considered healthy (`ACTIVE`, ...); empty: any.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Status {
    #[serde(default)]
    pub healthy: Vec<String>,
}

impl Policy {
    /// The built-in policy.
    pub fn builtin() -> Self {
        toml::from_str("").expect("every part has a default")
    }

    /// Reads a policy file; an error names the file, and the line and key where it is wrong.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read policy {}", path.display()))?;
        let invalid = |why: String| anyhow::anyhow!("invalid policy {}: {why}", path.display());
        let policy: Self = toml::from_str(&text).map_err(|e| {
            let at = e.span().map(|span| {
                let (line, column) = crate::text::line_and_column(&text, span.start);
                format!("line {line}, column {column}: ")
            });
            invalid(format!(
                "{}{}",
                at.unwrap_or_default(),
                e.message().trim_end()
            ))
        })?;
        policy.check().map_err(invalid)?;
        Ok(policy)
    }

    /// What the report cannot state: an item with a comma (its lists are comma-separated),
    /// and bounds the wrong way round.
    fn check(&self) -> Result<(), String> {
        let lists = [
            ("encryption.allowed", &self.encryption.allowed),
            ("encryption.disallowed", &self.encryption.disallowed),
            ("authentication.allowed", &self.authentication.allowed),
            ("authentication.disallowed", &self.authentication.disallowed),
            ("dh_group.disallowed", &self.dh_group.disallowed),
            ("ike.versions", &self.ike.versions),
            ("tags.required", &self.tags.required),
            ("status.healthy", &self.status.healthy),
        ];
        for (key, items) in lists {
            if let Some(item) = items
                .iter()
                .find(|i| i.contains(',') || i.trim().is_empty())
            {
                return Err(format!(
                    "{key}: {item:?} cannot be checked (empty, or a comma)"
                ));
            }
        }
        for (key, bounds) in [
            ("lifetime.ike_seconds", &self.lifetime.ike_seconds),
            ("lifetime.ipsec_seconds", &self.lifetime.ipsec_seconds),
        ] {
            if let (Some(min), Some(max)) = (bounds.min, bounds.max)
                && min > max
            {
                return Err(format!("{key}: min {min} is above max {max}"));
            }
        }
        Ok(())
    }

    /// The report's parameters (`name`, `value`) that state this policy.
    pub fn report_params(&self) -> Vec<(String, String)> {
        // `*` allows anything, `-` lists nothing (see the report's header).
        let lower =
            |items: &[String]| -> Vec<String> { items.iter().map(|i| i.to_lowercase()).collect() };
        let or = |items: Vec<String>, none: &str| match items.is_empty() {
            true => none.to_owned(),
            false => items.join(","),
        };
        let mut weak_groups: Vec<String> = (1..self.dh_group.minimum)
            .filter(|n| API_DH_GROUPS.contains(n) || Some(n) > API_DH_GROUPS.last())
            .map(|n| format!("group{n}"))
            .collect();
        weak_groups.extend(lower(&self.dh_group.disallowed));
        let bound = |b: Option<u32>| b.unwrap_or(0).to_string();
        let params = [
            (
                "encryption_allowed",
                or(lower(&self.encryption.allowed), "*"),
            ),
            (
                "encryption_disallowed",
                or(lower(&self.encryption.disallowed), "-"),
            ),
            (
                "authentication_allowed",
                or(lower(&self.authentication.allowed), "*"),
            ),
            (
                "authentication_disallowed",
                or(lower(&self.authentication.disallowed), "-"),
            ),
            ("dh_groups_disallowed", or(weak_groups, "-")),
            ("ike_versions", or(lower(&self.ike.versions), "*")),
            ("pfs_required", self.pfs.required.to_string()),
            ("ike_lifetime_min", bound(self.lifetime.ike_seconds.min)),
            ("ike_lifetime_max", bound(self.lifetime.ike_seconds.max)),
            ("ipsec_lifetime_min", bound(self.lifetime.ipsec_seconds.min)),
            ("ipsec_lifetime_max", bound(self.lifetime.ipsec_seconds.max)),
            ("dpd_required", self.dpd.required.to_string()),
            ("tags_required", or(self.tags.required.clone(), "-")),
            ("healthy_status", or(self.status.healthy.clone(), "*")),
        ];
        params
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::Report;

    #[test]
    fn the_builtin_policy_is_the_report_s_defaults() {
        let report = Report::builtin(REPORT).unwrap();
        for (name, value) in Policy::builtin().report_params() {
            let param = report.header.params.iter().find(|p| p.name == name);
            let param = param.unwrap_or_else(|| panic!("the report takes no {name}"));
            assert_eq!(param.default.as_deref(), Some(value.as_str()), "{name}");
        }
    }

    #[test]
    fn a_file_keeps_the_builtin_value_of_what_it_leaves_out() {
        let policy: Policy = toml::from_str("[tags]\nrequired = [\"owner\"]").unwrap();
        assert_eq!(policy.encryption, Policy::builtin().encryption);
        assert_eq!(policy.dh_group.minimum, 14);
        assert_eq!(policy.tags.required, ["owner"]);
        let dropped: Policy = toml::from_str("[encryption]\ndisallowed = []").unwrap();
        let params = dropped.report_params();
        assert!(params.contains(&("encryption_disallowed".into(), "-".into())));
    }

    #[test]
    fn mistakes_are_named() {
        let unknown = toml::from_str::<Policy>("[encryption]\ndenied = [\"des\"]");
        assert!(
            unknown
                .unwrap_err()
                .message()
                .contains("unknown field `denied`")
        );
        let policy: Policy =
            toml::from_str("[lifetime]\nike_seconds = { min = 10, max = 5 }").unwrap();
        assert_eq!(
            policy.check().unwrap_err(),
            "lifetime.ike_seconds: min 10 is above max 5"
        );
        let comma: Policy = toml::from_str("[tags]\nrequired = [\"a,b\"]").unwrap();
        assert!(comma.check().unwrap_err().contains("\"a,b\""));
    }
}
