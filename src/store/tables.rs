//! The normalized tables, each declared once.
//!
//! A [`Table`] names its context columns (where a row belongs and its bookkeeping: connection,
//! list, position, run; the caller supplies them) and its [`Field`]s: how each column is taken
//! from the API model and put back into it. INSERT, upsert and SELECT text and their binds all
//! follow from the declaration, so adding an API field to a table is one line here plus its
//! column in one migration per backend (see CONTRIBUTING.md).
//!
//! Lists keep their order in `position` columns and whether they were sent at all in `has_*`
//! columns, and every object keeps its unmodelled fields in `extra`, so tables -> model -> JSON
//! gives back exactly what was served. Text columns hold strings as `crate::json` holds them (a
//! NUL or a lone surrogate as U+FDD0 and four hex digits, which any text column takes); JSON
//! columns hold JSON text as `crate::json` writes it, every number and string as sent (text on
//! both backends: PostgreSQL's jsonb rewrites numbers and refuses `\u0000`).

use super::dialect::{Cell, MAX_PARAMS, Row, Sql};
use super::error::{Result, inconsistent};
use super::records::ChangeRecord;
use crate::api::model::{BgpPeer, Dpd, IkePolicy, IpsecPolicy, PolicyRule, Tag, VpnConnection};
use crate::json;
use crate::net;
use crate::time::parse_api_time;
use serde_json::{Map, Value};

/// One column of a table mirroring a model object `T`.
pub struct Field<T> {
    pub column: &'static str,
    pub write: fn(&T) -> Cell,
    /// Puts the stored value back into the object; `None` for columns kept for queries only.
    pub read: Option<fn(&mut T, &Row) -> Result<()>>,
}

/// A table whose rows mirror model objects `T`.
pub struct Table<T: 'static> {
    pub name: &'static str,
    /// Columns the caller supplies for each row, in this order, before the fields.
    pub context: &'static [&'static str],
    pub fields: &'static [Field<T>],
}

/// A column holding the model field of the same name as is.
macro_rules! field {
    ($name:ident) => {
        Field {
            column: stringify!($name),
            write: |o| Cell::from(&o.$name),
            read: Some(|o, row| {
                o.$name = row.get(stringify!($name))?;
                Ok(())
            }),
        }
    };
}

/// `has_<list>`: whether a list was sent at all (absent and `[]` are different answers).
macro_rules! sent {
    ($column:literal, $list:ident) => {
        Field {
            column: $column,
            write: |o| Cell::from(o.$list.is_some()),
            read: Some(|o, row| {
                if row.get::<bool>($column)? {
                    o.$list.get_or_insert_with(Vec::new);
                }
                Ok(())
            }),
        }
    };
}

/// `extra`: the object's unmodelled fields.
macro_rules! extra {
    () => {
        Field {
            column: "extra",
            write: |o| Cell::from(extra_text(&o.extra)),
            read: Some(|o, row| {
                o.extra = extra_map("extra", row.get("extra")?)?;
                Ok(())
            }),
        }
    };
}

/// A field of the DPD block inside an IKE policy, stored as `dpd_<name>`.
macro_rules! dpd_field {
    ($name:ident) => {
        Field {
            column: concat!("dpd_", stringify!($name)),
            write: |o: &IkePolicy| Cell::from(&o.dpd.as_ref().and_then(|d| d.$name.clone())),
            read: Some(|o, row| {
                let value = row.get(concat!("dpd_", stringify!($name)))?;
                if let Some(dpd) = &mut o.dpd {
                    dpd.$name = value;
                }
                Ok(())
            }),
        }
    };
}

/// `extra` as stored: NULL when empty, else the JSON text of an object.
pub fn extra_text(extra: &Map<String, Value>) -> Option<String> {
    (!extra.is_empty()).then(|| json::to_string(&Value::Object(extra.clone())))
}

fn extra_map(column: &str, stored: Option<String>) -> Result<Map<String, Value>> {
    match stored.as_deref().map(json::parse).transpose() {
        Ok(None) => Ok(Map::new()),
        Ok(Some(Value::Object(map))) => Ok(map),
        Ok(Some(other)) => Err(inconsistent(format!(
            "column {column} holds no JSON object: {}",
            json::to_string(&other)
        ))),
        Err(e) => Err(inconsistent(format!("column {column} holds no JSON: {e}"))),
    }
}

/// A nullable JSON column: `None` for NULL.
fn json_option(column: &str, stored: Option<String>) -> Result<Option<Value>> {
    stored
        .as_deref()
        .map(json::parse)
        .transpose()
        .map_err(|e| inconsistent(format!("column {column} holds no JSON: {e}")))
}

fn parsed_time(text: &Option<String>) -> Cell {
    Cell::from(text.as_deref().and_then(parse_api_time))
}

pub const CONNECTIONS: Table<VpnConnection> = Table {
    name: "connections",
    context: &[
        "region",
        "project_id",
        "content_hash",
        "served_hash",
        "observed_at",
        "first_seen_run_id",
        "last_changed_run_id",
    ],
    fields: &[
        field!(id),
        field!(name),
        field!(status),
        field!(vgw_id),
        field!(vgw_ip),
        field!(style),
        field!(cgw_id),
        field!(tunnel_local_address),
        field!(tunnel_peer_address),
        field!(enable_nqa),
        field!(enable_hub),
        field!(created_at),
        Field {
            column: "created_at_utc",
            write: |o| parsed_time(&o.created_at),
            read: None,
        },
        field!(updated_at),
        Field {
            column: "updated_at_utc",
            write: |o| parsed_time(&o.updated_at),
            read: None,
        },
        field!(enterprise_project_id),
        field!(connection_monitor_id),
        field!(ha_role),
        sent!("has_peer_subnets", peer_subnets),
        sent!("has_peer_subnets_v6", peer_subnets_v6),
        sent!("has_policy_rules", policy_rules),
        sent!("has_policy_rules_v6", policy_rules_v6),
        sent!("has_tags", tags),
        extra!(),
    ],
};

/// One bound (`first` or `last`) of the network whose text `$text` takes from object `$o`, as
/// a comparable value for overlap queries (see `crate::net`); NULL when it is no network. Kept
/// for queries only: the text itself is the stored value.
macro_rules! bound {
    ($column:literal, $side:ident, |$o:ident| $text:expr) => {
        Field {
            column: $column,
            write: |$o| Cell::U128($text.and_then(net::bounds).map(|b| b.$side)),
            read: None,
        }
    };
}

/// `peer_subnets` (ip_version 4) and `peer_subnets_v6` (ip_version 6), in the order sent.
pub const PEER_SUBNETS: Table<String> = Table {
    name: "peer_subnets",
    context: &["connection_pk", "ip_version", "position"],
    fields: &[
        Field {
            column: "cidr",
            write: |cidr| Cell::from(cidr),
            read: Some(|cidr, row| {
                *cidr = row.get("cidr")?;
                Ok(())
            }),
        },
        bound!("first_hex", first, |cidr| Some(cidr.as_str())),
        bound!("last_hex", last, |cidr| Some(cidr.as_str())),
    ],
};

/// `policy_rules` (ip_version 4) and `policy_rules_v6` (ip_version 6).
pub const POLICY_RULES: Table<PolicyRule> = Table {
    name: "policy_rules",
    context: &["connection_pk", "ip_version", "position"],
    fields: &[
        field!(rule_index),
        field!(source),
        bound!("source_first_hex", first, |rule| rule.source.as_deref()),
        bound!("source_last_hex", last, |rule| rule.source.as_deref()),
        sent!("has_destination", destination),
        extra!(),
    ],
};

/// The destinations of each policy rule, in the order sent.
pub const POLICY_RULE_DESTINATIONS: Table<String> = Table {
    name: "policy_rule_destinations",
    context: &["connection_pk", "ip_version", "rule_position", "position"],
    fields: PEER_SUBNETS.fields,
};

pub const TAGS: Table<Tag> = Table {
    name: "tags",
    context: &["connection_pk", "position"],
    fields: &[field!(key), field!(value), extra!()],
};

pub const IKE_POLICIES: Table<IkePolicy> = Table {
    name: "ike_policies",
    context: &["connection_pk"],
    fields: &[
        field!(ike_version),
        field!(phase1_negotiation_mode),
        field!(authentication_algorithm),
        field!(encryption_algorithm),
        field!(dh_group),
        field!(authentication_method),
        field!(lifetime_seconds),
        field!(local_id_type),
        field!(local_id),
        field!(peer_id_type),
        field!(peer_id),
        // has_dpd first: reading it creates the block the dpd_* columns fill.
        Field {
            column: "has_dpd",
            write: |o| Cell::from(o.dpd.is_some()),
            read: Some(|o, row| {
                if row.get::<bool>("has_dpd")? {
                    o.dpd = Some(Dpd::default());
                }
                Ok(())
            }),
        },
        dpd_field!(timeout),
        dpd_field!(interval),
        dpd_field!(msg),
        Field {
            column: "dpd_extra",
            write: |o| Cell::from(o.dpd.as_ref().and_then(|d| extra_text(&d.extra))),
            read: Some(|o, row| {
                let extra = extra_map("dpd_extra", row.get("dpd_extra")?)?;
                if let Some(dpd) = &mut o.dpd {
                    dpd.extra = extra;
                }
                Ok(())
            }),
        },
        extra!(),
    ],
};

pub const IPSEC_POLICIES: Table<IpsecPolicy> = Table {
    name: "ipsec_policies",
    context: &["connection_pk"],
    fields: &[
        field!(authentication_algorithm),
        field!(encryption_algorithm),
        field!(pfs),
        field!(transform_protocol),
        field!(lifetime_seconds),
        field!(encapsulation_mode),
        extra!(),
    ],
};

pub const BGP_PEERS: Table<BgpPeer> = Table {
    name: "bgp_peers",
    context: &["connection_pk"],
    fields: &[
        field!(peer_ip_address),
        field!(peer_asn),
        field!(state),
        field!(state_duration),
        field!(num_received_routes),
        field!(num_message_received),
        field!(num_message_sent),
        extra!(),
    ],
};

/// `change` and `category`: a vocabulary enum stored by its name.
macro_rules! named {
    ($name:ident) => {
        Field {
            column: stringify!($name),
            write: |o| Cell::from(o.$name.as_str()),
            read: Some(|o, row| {
                let name: String = row.get(stringify!($name))?;
                o.$name = name.parse().map_err(inconsistent)?;
                Ok(())
            }),
        }
    };
}

/// `old_value`/`new_value`: a changed field's value as JSON text, NULL where it was absent
/// (a JSON `null` is the text `null`).
macro_rules! change_value {
    ($column:literal, $name:ident) => {
        Field {
            column: $column,
            write: |o| Cell::from(o.$name.as_ref().map(json::to_string)),
            read: Some(|o, row| {
                o.$name = json_option($column, row.get($column)?)?;
                Ok(())
            }),
        }
    };
}

/// What each complete run found changed; not an API mirror, but written and read like one.
pub const CHANGE_RECORDS: Table<ChangeRecord> = Table {
    name: "change_records",
    context: &["project_id"],
    fields: &[
        field!(run_id),
        field!(connection_id),
        field!(connection_name),
        named!(change),
        named!(category),
        field!(field),
        change_value!("old_value", old),
        change_value!("new_value", new),
        field!(detected_at),
        field!(baseline),
        field!(changed_after),
    ],
};

/// The tables holding a connection's children, all keyed by `connection_pk`. Deleting a
/// connection's rules deletes their destinations too (ON DELETE CASCADE).
pub const CHILD_TABLES: [&str; 6] = [
    PEER_SUBNETS.name,
    POLICY_RULES.name,
    TAGS.name,
    IKE_POLICIES.name,
    IPSEC_POLICIES.name,
    BGP_PEERS.name,
];

/// One row to insert: the context cells, then the object the fields are taken from.
pub type NewRow<'a, T> = (Vec<Cell>, &'a T);

impl<T> Table<T> {
    fn width(&self) -> usize {
        self.context.len() + self.fields.len()
    }

    /// `INSERT INTO name (context..., fields...) VALUES ...` for `rows`, in as few statements
    /// as the bind parameter limit allows.
    pub fn inserts(&self, rows: &[NewRow<'_, T>]) -> Vec<Sql> {
        rows.chunks(MAX_PARAMS / self.width())
            .map(|chunk| self.insert(chunk))
            .collect()
    }

    /// One `INSERT` of `rows`; the caller keeps them under the parameter limit.
    pub fn insert(&self, rows: &[NewRow<'_, T>]) -> Sql {
        let columns: Vec<&str> = self
            .context
            .iter()
            .copied()
            .chain(self.fields.iter().map(|f| f.column))
            .collect();
        let mut sql = Sql::new("INSERT INTO ");
        sql.push(self.name)
            .push(" (")
            .push(&columns.join(", "))
            .push(") ");
        sql.push_values(rows.iter().map(|(context, object)| {
            let fields = self.fields.iter().map(|f| (f.write)(object));
            context.iter().cloned().chain(fields).collect()
        }));
        sql
    }

    /// `ON CONFLICT (conflict) DO UPDATE SET` every column but the conflict target and `keep`.
    pub fn on_conflict_update(&self, conflict: &[&str], keep: &[&str]) -> String {
        let set: Vec<String> = self
            .context
            .iter()
            .copied()
            .chain(self.fields.iter().map(|f| f.column))
            .filter(|c| !conflict.contains(c) && !keep.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            conflict.join(", "),
            set.join(", ")
        )
    }

    /// The columns [`Table::read`] needs, for a SELECT list.
    pub fn read_columns(&self) -> String {
        let readable: Vec<&str> = self
            .fields
            .iter()
            .filter(|f| f.read.is_some())
            .map(|f| f.column)
            .collect();
        readable.join(", ")
    }

    /// The object a row holds (the row must have [`Table::read_columns`]).
    pub fn read(&self, row: &Row) -> Result<T>
    where
        T: Default,
    {
        let mut object = T::default();
        for read in self.fields.iter().filter_map(|f| f.read) {
            read(&mut object, row)?;
        }
        Ok(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns<T>(table: &Table<T>) -> Vec<&'static str> {
        table.fields.iter().map(|f| f.column).collect()
    }

    /// Every typed field of `fields` must have a column (or a `has_` flag, for lists), else
    /// export would lose it; `elsewhere` are the fields stored in tables of their own.
    #[track_caller]
    fn assert_all_stored(fields: &[&str], columns: &[&str], elsewhere: &[&str]) {
        for field in fields {
            let flag = format!("has_{field}");
            assert!(
                columns.contains(field)
                    || columns.contains(&flag.as_str())
                    || elsewhere.contains(field),
                "model field {field} has no column: add it to the table declaration"
            );
        }
    }

    #[test]
    fn every_typed_model_field_has_a_column() {
        let children = ["ikepolicy", "ipsecpolicy", "bgp_peer"];
        assert_all_stored(VpnConnection::FIELDS, &columns(&CONNECTIONS), &children);
        assert_all_stored(PolicyRule::FIELDS, &columns(&POLICY_RULES), &[]);
        assert_all_stored(Tag::FIELDS, &columns(&TAGS), &[]);
        assert_all_stored(IkePolicy::FIELDS, &columns(&IKE_POLICIES), &[]);
        let dpd: Vec<String> = Dpd::FIELDS.iter().map(|f| format!("dpd_{f}")).collect();
        let dpd: Vec<&str> = dpd.iter().map(String::as_str).collect();
        assert_all_stored(&dpd, &columns(&IKE_POLICIES), &[]);
        assert_all_stored(IpsecPolicy::FIELDS, &columns(&IPSEC_POLICIES), &[]);
        assert_all_stored(BgpPeer::FIELDS, &columns(&BGP_PEERS), &[]);
    }

    #[test]
    fn upsert_updates_all_but_the_key_and_kept_columns() {
        let set = TAGS.on_conflict_update(&["connection_pk", "position"], &["extra"]);
        assert_eq!(
            set,
            " ON CONFLICT (connection_pk, position) DO UPDATE SET key = excluded.key, \
             value = excluded.value"
        );
    }

    #[test]
    fn inserts_respect_the_parameter_limit() {
        let tag = Tag::default();
        let rows: Vec<NewRow<Tag>> = (0..10_000)
            .map(|i| (vec![Cell::from(1), Cell::from(i)], &tag))
            .collect();
        // Five columns a row: 6,000 rows a statement.
        assert_eq!(TAGS.inserts(&rows).len(), 2);
    }
}
