//! Change records: what a run found changed in one connection, and the words they are
//! stored with (`change`, `category`). The store writes and reads them; the domain above it
//! (the `drift` and `reconcile` modules) decides which records a run makes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    #[default]
    Config,
    State,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Config => "config",
            Category::State => "state",
        }
    }
}

impl std::str::FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_word(s, "change category")
    }
}

/// A vocabulary word (`config`, `modified`, ...) back into its enum, by its serde name.
fn parse_word<T: serde::de::DeserializeOwned>(word: &str, what: &str) -> Result<T, String> {
    use serde::de::IntoDeserializer;
    let word: serde::de::value::StrDeserializer<serde::de::value::Error> = word.into_deserializer();
    T::deserialize(word).map_err(|e| format!("unknown {what}: {e}"))
}

/// What happened to a connection as a run saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    #[default]
    Added,
    Removed,
    Modified,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Modified => "modified",
        }
    }
}

impl std::str::FromStr for ChangeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_word(s, "change kind")
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One change record: what a run found changed in one connection (one field of it, for a
/// modification). Written by the apply step, printed by `drift` and `history`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ChangeRecord {
    pub run_id: i64,
    pub connection_id: String,
    pub connection_name: Option<String>,
    pub change: ChangeKind,
    pub category: Category,
    /// The changed field's dotted API path; `None` for an added or removed connection.
    pub field: Option<String>,
    /// The field's values as JSON; `None` where the field was absent (left out of JSON
    /// output), `Some(null)` where the API sent `null` (inside an object the model does not
    /// know).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    pub detected_at: DateTime<Utc>,
    /// An add of its scope's first run: what was there already, not drift. Shown only when
    /// true, so a record reads the same as before schema 23 otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub baseline: bool,
    /// The last time the connection was seen as it was before the change (a modified or
    /// removed one's previous observation): the change came after. `None` for an add.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_after: Option<DateTime<Utc>>,
}
