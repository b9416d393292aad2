//! What one sync covers: a project at an endpoint, narrowed by the list API's filters.
//!
//! Runs are only ever compared with earlier runs of the same scope, so the scope's identity
//! (`key`) must not depend on flag order or duplicates.

pub use crate::api::filters::Filters;
use serde::Serialize;

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
