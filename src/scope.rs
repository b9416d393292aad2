//! What one sync covers: a project, narrowed by the list API's filters, and how it is reached.
//!
//! There is one inventory per project; a scope is the part of it one run observes. Its
//! identity (`key`) is the project and the filters: not the endpoint or region, which only say
//! how the API was reached (an alias or a private endpoint serves the same project), and not
//! flag order or duplicates.

pub use crate::api::filters::Filters;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// Base URL of the VPN service, without a trailing slash.
    #[serde(skip)]
    pub endpoint: String,
    #[serde(skip)]
    pub region: Option<String>,
    pub project_id: String,
    #[serde(flatten)]
    pub filters: Filters,
    /// The configuration's target this scope was synced for: a label, not part of the
    /// identity (`key`), so a target renamed in the configuration keeps its scope.
    #[serde(skip)]
    pub target: Option<String>,
}

impl Scope {
    pub fn new(endpoint: &str, region: Option<String>, project_id: &str, filters: Filters) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region,
            project_id: project_id.to_owned(),
            filters: filters.normalized(),
            target: None,
        }
    }

    /// The scope as synced for the configuration's target `name`.
    pub fn for_target(self, name: &str) -> Self {
        Self {
            target: Some(name.to_owned()),
            ..self
        }
    }

    /// The scope as `runs` shows it: its identity, and how the run reached the API.
    pub fn shown(&self) -> serde_json::Value {
        let mut shown = self.shown_without_endpoint();
        shown["endpoint"] = self.endpoint.clone().into();
        if let Some(region) = &self.region {
            shown["region"] = region.clone().into();
        }
        shown
    }

    /// The scope's identity as JSON: the project and filters.
    pub fn shown_without_endpoint(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("scope serializes")
    }

    /// Stable identity of the scope: canonical JSON of the project and filters.
    pub fn key(&self) -> String {
        let value = serde_json::to_value(self).expect("scope serializes");
        crate::api::model::canonical_json(&value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ignores_filter_order_duplicates_and_the_endpoint() {
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
            "http://localhost:2",
            Some("eu-west-101".into()),
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
