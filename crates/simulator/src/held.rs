//! The inventory as the simulator holds it: each connection as its JSON text, plus the few
//! fields the list API filters and orders by, so a page is a filter over small fields and a
//! concatenation of texts. A `serde_json::Value` costs several times its text in memory and a
//! serialization per request: 100,000 generated connections took 1.1 GB as `Value`s and take
//! about 170 MB as text.

use crate::mutate::Connections;
use crate::wire::parse_api_time;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::borrow::Cow;

/// One connection: its text and what the list API reads of it.
pub(crate) struct Held {
    /// The connection as compact JSON, exactly as `Value::to_string` writes it.
    pub json: Box<str>,
    /// `created_at` read as an instant (`None` when missing or unreadable): the order and the
    /// marker compare by it.
    pub created_at: Option<DateTime<Utc>>,
    /// `created_at` as written, what `next_marker` repeats.
    pub created_at_text: Option<Box<str>>,
    pub id: Option<Box<str>>,
    pub vgw_id: Option<Box<str>>,
    pub vgw_ip: Option<Box<str>>,
    pub enterprise_project_id: Option<Box<str>>,
}

impl Held {
    pub fn new(connection: &Value) -> Self {
        let text = |key: &str| connection.get(key)?.as_str().map(Box::from);
        let created_at_text = text("created_at");
        Held {
            json: connection.to_string().into_boxed_str(),
            created_at: created_at_text.as_deref().and_then(parse_api_time),
            created_at_text,
            id: text("id"),
            vgw_id: text("vgw_id"),
            vgw_ip: text("vgw_ip"),
            enterprise_project_id: text("enterprise_project_id"),
        }
    }

    /// The connection as a `Value` again.
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.json).expect("held connections are JSON")
    }
}

/// Holds `connections` sorted newest first, as the API pages them (a stable sort: connections
/// of one instant keep their order).
pub(crate) fn hold(connections: impl IntoIterator<Item = Value>) -> Vec<Held> {
    let mut held: Vec<Held> = connections.into_iter().map(|c| Held::new(&c)).collect();
    sort_newest_first(&mut held);
    held
}

pub(crate) fn sort_newest_first(held: &mut [Held]) {
    held.sort_by_key(|c| std::cmp::Reverse(c.created_at));
}

/// The mutator parses only the connections it reads and writes back only those it changes.
impl Connections for Vec<Held> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn id(&self, i: usize) -> &str {
        self[i].id.as_deref().unwrap_or_default()
    }

    fn get(&self, i: usize) -> Cow<'_, Value> {
        Cow::Owned(self[i].value())
    }

    fn set(&mut self, i: usize, connection: Value) {
        self[i] = Held::new(&connection);
    }

    fn swap_remove(&mut self, i: usize) -> Value {
        Vec::swap_remove(self, i).value()
    }

    fn push(&mut self, connection: Value) {
        Vec::push(self, Held::new(&connection));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn held_text_is_the_compact_serialization_and_reads_back_equal() {
        let c = json!({"id": "c1", "name": "é \"q\"", "created_at": "2025-01-01T00:00:00.5Z",
                       "vgw_id": "g", "vgw_ip": 7, "tags": [{"key": "k", "value": null}]});
        let held = Held::new(&c);
        assert_eq!(&*held.json, c.to_string());
        assert_eq!(held.value(), c);
        assert_eq!(held.id.as_deref(), Some("c1"));
        assert_eq!(held.vgw_id.as_deref(), Some("g"));
        // Filters compare strings only, like `Value::as_str` did.
        assert_eq!(held.vgw_ip, None);
        assert_eq!(
            held.created_at_text.as_deref(),
            Some("2025-01-01T00:00:00.5Z")
        );
        assert_eq!(
            held.created_at.unwrap().timestamp_millis(),
            1_735_689_600_500
        );
    }

    #[test]
    fn holding_sorts_newest_first_and_keeps_ties_in_order() {
        let held = hold([
            json!({"id": "old", "created_at": "2024-01-01T00:00:00Z"}),
            json!({"id": "tie1", "created_at": "2025-01-01T00:00:00Z"}),
            json!({"id": "none"}),
            json!({"id": "tie2", "created_at": "2025-01-01T00:00:00.000Z"}),
        ]);
        let ids: Vec<&str> = (0..held.len()).map(|i| held.id(i)).collect();
        assert_eq!(ids, ["tie1", "tie2", "old", "none"]);
    }
}
