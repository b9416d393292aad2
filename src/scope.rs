//! What one sync covers: a project at an endpoint, narrowed by the list API's filters.
//!
//! Runs are only ever compared with earlier runs of the same scope, so the scope's identity
//! (`key`) must not depend on flag order or duplicates.

use serde::Serialize;

/// The list API's filters. Together with the project and endpoint they make a scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vgw_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vgw_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpn_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eip_id: Option<String>,
    /// Sorted and deduplicated; empty means "not filtered".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enterprise_project_ids: Vec<String>,
}

impl Filters {
    /// Normalizes the repeatable filter so equal scopes compare equal.
    pub fn normalized(mut self) -> Self {
        self.enterprise_project_ids.sort();
        self.enterprise_project_ids.dedup();
        self
    }

    /// The filters as query pairs of the list API (without `limit` and `marker`).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let single = [
            ("vgw_id", &self.vgw_id),
            ("vgw_ip", &self.vgw_ip),
            ("vpn_id", &self.vpn_id),
            ("eip_id", &self.eip_id),
        ];
        let mut pairs: Vec<(String, String)> = single
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), v.clone())))
            .collect();
        pairs.extend(
            self.enterprise_project_ids
                .iter()
                .map(|id| ("enterprise_project_id".to_owned(), id.clone())),
        );
        pairs
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// Base URL of the VPN service, without a trailing slash.
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub project_id: String,
    #[serde(flatten)]
    pub filters: Filters,
}

impl Scope {
    pub fn new(endpoint: &str, region: Option<String>, project_id: &str, filters: Filters) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region,
            project_id: project_id.to_owned(),
            filters: filters.normalized(),
        }
    }

    /// Stable identity of the scope: canonical JSON of everything that defines it.
    pub fn key(&self) -> String {
        let value = serde_json::to_value(self).expect("scope serializes");
        crate::api::model::canonical_json(&value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ignores_filter_order_duplicates_and_trailing_slash() {
        let a = Scope::new(
            "http://127.0.0.1:1/",
            None,
            "p",
            Filters {
                enterprise_project_ids: vec!["b".into(), "a".into(), "b".into()],
                ..Filters::default()
            },
        );
        let b = Scope::new(
            "http://127.0.0.1:1",
            None,
            "p",
            Filters {
                enterprise_project_ids: vec!["a".into(), "b".into()],
                ..Filters::default()
            },
        );
        assert_eq!(a.key(), b.key());
        let c = Scope::new("http://127.0.0.1:1", None, "p", Filters::default());
        assert_ne!(a.key(), c.key());
    }
}
