//! The list API's filters (`vgw_id`, `enterprise_project_id`, ...) and their query pairs.
//!
//! They belong to the API: the client sends them, and `scope` builds a sync scope's identity
//! on top of them.

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
    /// Whether nothing narrows the list: the sweep covers the whole project.
    pub fn is_empty(&self) -> bool {
        *self == Filters::default()
    }

    /// Normalizes the filters so equal scopes compare equal: an empty value filters nothing,
    /// and the repeatable filter is a sorted set.
    pub fn normalized(mut self) -> Self {
        for value in [
            &mut self.vgw_id,
            &mut self.vgw_ip,
            &mut self.vpn_id,
            &mut self.eip_id,
        ] {
            value.take_if(|v| v.is_empty());
        }
        self.enterprise_project_ids.retain(|id| !id.is_empty());
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
