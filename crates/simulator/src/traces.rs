//! The Cloud Trace Service side of the simulator: the traces its mutations leave and the
//! `GET /v3/{project_id}/traces` query over them (`ListTraces`), as far as a client can tell.
//!
//! Every connection a mutation round changes gets one management trace, like the one CTS keeps
//! of the API call or console action that changed it: `createVpnConnection`,
//! `updateVpnConnection` or `deleteVpnConnection`, by a user of a small cast, at the wall-clock
//! time of the mutation (so a trace falls between the syncs before and after it). A change that
//! produces no record (BGP telemetry, a reordered list, a bare `updated_at` bump) leaves no
//! trace: the service did it, or nothing a reviewer asks about changed. Trace ids, users and
//! addresses are drawn from the seed; only the times come from the clock.
//!
//! Queries follow the documented API: newest first, `limit` 1 to 200 (default 10), `next` the
//! previous page's `meta_data.marker` (a trace id), `from`/`to` in epoch milliseconds, both or
//! neither (neither: the last hour), inclusive, and only the last 7 days: an earlier `from` is
//! moved up to 7 days ago, as the service keeps nothing older. What it refuses, it refuses with
//! the service's `{"error_code": "CTS.XXXX", "error_msg"}` shape (the numbers are this
//! simulator's). Nothing here does I/O; `server` routes requests here.

use crate::mutate::AppliedChange;
use crate::random::{Rng, uuid_v4};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// How long CTS keeps a trace that can be queried.
pub const RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;
/// The largest `limit` ListTraces accepts.
pub const MAX_LIMIT: u32 = 200;
const DEFAULT_LIMIT: u32 = 10;
/// The window queried when neither `from` nor `to` is given: the last hour.
const DEFAULT_WINDOW_MS: i64 = 3600 * 1000;

/// Who changes connections: the cast traces draw from (name, user id, how they work, from
/// where).
const CAST: &[(&str, &str, &str, &str)] = &[
    (
        "alice",
        "1f0c2a9d7e3b4c5d8a6f0e1d2c3b4a59",
        "ConsoleAction",
        "203.0.113.10",
    ),
    (
        "bob",
        "2a1d3b0e8f4c5d6e9b7a1f2e3d4c5b6a",
        "ConsoleAction",
        "198.51.100.23",
    ),
    (
        "carol",
        "3b2e4c1f9a5d6e7f0c8b2a3f4e5d6c7b",
        "ApiCall",
        "192.0.2.77",
    ),
    (
        "svc-terraform",
        "4c3f5d2a0b6e7f8a1d9c3b4a5f6e7d8c",
        "ApiCall",
        "10.20.30.40",
    ),
];

/// The account all the cast belongs to.
const DOMAIN_ID: &str = "9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a";
const DOMAIN_NAME: &str = "acme-cloud";

/// The traces recorded so far, oldest first, and the randomness they draw from.
pub(crate) struct TraceLog {
    rng: Rng,
    traces: Vec<Recorded>,
}

/// One trace as served, with what queries read of it.
struct Recorded {
    time_ms: i64,
    trace_id: String,
    value: Value,
}

/// Each connection a round changed, with the operation that changed it, by connection id.
fn operations(changes: &[AppliedChange]) -> BTreeMap<&str, &'static str> {
    let mut operations = BTreeMap::new();
    for change in changes {
        let operation = match change.change {
            "added" => "createVpnConnection",
            "removed" => "deleteVpnConnection",
            _ => "updateVpnConnection",
        };
        let entry = operations
            .entry(change.connection_id.as_str())
            .or_insert(operation);
        // A connection added or removed in a round is never also edited in it; should it be,
        // the creation or deletion is what CTS would show.
        if operation != "updateVpnConnection" {
            *entry = operation;
        }
    }
    operations
}

impl TraceLog {
    /// An empty log drawing from `seed` (apart from the mutations' own draws).
    pub fn new(seed: u64) -> Self {
        TraceLog {
            rng: Rng::new(seed ^ 0x0C75_7472_6163_6573),
            traces: Vec::new(),
        }
    }

    /// Records a trace of each connection a round changed (`changes`), named as the round left
    /// it (`names`, by id), at `now_ms`.
    pub fn record_round(
        &mut self,
        changes: &[AppliedChange],
        names: &HashMap<String, Option<String>>,
        now_ms: i64,
    ) {
        for (id, operation) in operations(changes) {
            let name = names.get(id).and_then(Option::as_deref);
            self.record(id, name, operation, now_ms);
        }
    }

    /// Records one trace of `operation` on connection `id` (named `name`) at `now_ms`, or
    /// later: times never go back, so the log stays in time order.
    fn record(&mut self, id: &str, name: Option<&str>, operation: &str, now_ms: i64) {
        let time_ms = self.traces.last().map_or(now_ms, |t| t.time_ms.max(now_ms));
        let (user, user_id, trace_type, source_ip) = *self.rng.pick(CAST);
        let trace_id = uuid_v4(&mut self.rng);
        let request_id = uuid_v4(&mut self.rng);
        let recorded_after = self.rng.below(2_000) as i64;
        let value = json!({
            "trace_id": trace_id,
            "trace_name": operation,
            "trace_type": trace_type,
            "trace_rating": "normal",
            "service_type": "VPN",
            "resource_type": "vpnconnection",
            "resource_id": id,
            "resource_name": name.unwrap_or_default(),
            "time": time_ms,
            "record_time": time_ms + recorded_after,
            "user": {
                "id": user_id,
                "name": user,
                "domain": {"id": DOMAIN_ID, "name": DOMAIN_NAME},
            },
            "source_ip": source_ip,
            "code": "200",
            "request_id": request_id,
            "api_version": "v5",
            "endpoint": "vpn.sim-region-1.myhuaweicloud.com",
        });
        self.traces.push(Recorded {
            time_ms,
            trace_id,
            value,
        });
    }

    /// Every trace, newest first.
    pub fn all(&self) -> Vec<Value> {
        self.traces.iter().rev().map(|t| t.value.clone()).collect()
    }

    /// The page `query` asks for at `now_ms`: its traces and the marker of the next one, if
    /// more match. `replay` ignores the query's marker (a fault: the first page again).
    pub fn page(&self, query: &TraceQuery, now_ms: i64, replay: bool) -> Result<Page, String> {
        let newest_first = self.traces.iter().rev();
        let start = match query.next.as_deref().filter(|_| !replay) {
            None => 0,
            Some(marker) => {
                let at = newest_first.clone().position(|t| t.trace_id == marker);
                at.map(|i| i + 1)
                    .ok_or_else(|| format!("next {marker:?} is not a trace id of this query"))?
            }
        };
        let (from, to) = query.window(now_ms);
        let mut matching = newest_first
            .skip(start)
            .filter(|t| (from..=to).contains(&t.time_ms) && query.selects(&t.value));
        let traces: Vec<&Recorded> = matching.by_ref().take(query.limit as usize).collect();
        let marker = match (matching.next(), traces.last()) {
            (Some(_), Some(last)) => Some(last.trace_id.clone()),
            _ => None,
        };
        Ok(Page {
            traces: traces.iter().map(|t| t.value.clone()).collect(),
            marker,
        })
    }
}

/// One answer's traces and the marker to ask the next page with.
pub(crate) struct Page {
    pub traces: Vec<Value>,
    pub marker: Option<String>,
}

impl Page {
    /// The answer's body, `marker` in place of the page's own when given.
    pub fn body(&self, marker: Option<&str>) -> Value {
        let mut meta = json!({"count": self.traces.len()});
        if let Some(m) = marker.or(self.marker.as_deref()) {
            meta["marker"] = Value::from(m);
        }
        json!({"traces": self.traces, "meta_data": meta})
    }
}

/// What a ListTraces request asks for.
#[derive(Debug)]
pub(crate) struct TraceQuery {
    pub limit: u32,
    pub next: Option<String>,
    /// `from` and `to` as sent, when sent.
    window: Option<(i64, i64)>,
    /// `trace_id` alone, or the other filters: (field, wanted value).
    filters: Vec<(&'static str, String)>,
}

/// The filters ListTraces takes besides the window, with the trace field each compares.
const FILTERS: &[(&str, &str)] = &[
    ("service_type", "service_type"),
    ("resource_type", "resource_type"),
    ("resource_id", "resource_id"),
    ("resource_name", "resource_name"),
    ("trace_name", "trace_name"),
    ("trace_rating", "trace_rating"),
    ("user", "user"),
];

impl TraceQuery {
    /// Reads a query's pairs, or says why the service refuses them (its error code, message).
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, (&'static str, String)> {
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        match get("trace_type") {
            Some("system") => {}
            Some(other) => {
                return Err(("CTS.0201", format!("trace_type {other:?} is not supported")));
            }
            None => return Err(("CTS.0201", "trace_type is required".into())),
        }
        let limit = match get("limit").map(str::parse::<u32>) {
            None => DEFAULT_LIMIT,
            Some(Ok(l)) if (1..=MAX_LIMIT).contains(&l) => l,
            Some(_) => {
                let msg = format!("limit must be an integer from 1 to {MAX_LIMIT}");
                return Err(("CTS.0202", msg));
            }
        };
        let millis = |key: &str| {
            get(key).map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ("CTS.0203", format!("{key} must be epoch milliseconds")))
            })
        };
        let window = match (millis("from").transpose()?, millis("to").transpose()?) {
            (Some(from), Some(to)) if from <= to => Some((from, to)),
            (Some(_), Some(_)) => return Err(("CTS.0203", "from is later than to".into())),
            (None, None) => None,
            _ => return Err(("CTS.0203", "from and to must be given together".into())),
        };
        let filters = match get("trace_id") {
            // Alone: the other filters are ignored.
            Some(id) => vec![("trace_id", id.to_owned())],
            None => FILTERS
                .iter()
                .filter_map(|(param, field)| Some((*field, get(param)?.to_owned())))
                .collect(),
        };
        Ok(TraceQuery {
            limit,
            next: get("next").map(str::to_owned),
            window,
            filters,
        })
    }

    /// The window searched at `now_ms`, inclusive: as asked (the last hour when not), never
    /// reaching back more than the 7 days CTS keeps.
    fn window(&self, now_ms: i64) -> (i64, i64) {
        let (from, to) = self.window.unwrap_or((now_ms - DEFAULT_WINDOW_MS, now_ms));
        (from.max(now_ms - RETENTION_MS), to)
    }

    fn selects(&self, trace: &Value) -> bool {
        self.filters.iter().all(|(field, want)| {
            let value = match *field {
                "user" => &trace["user"]["name"],
                field => &trace[field],
            };
            value.as_str() == Some(want)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    fn log(n: i64) -> TraceLog {
        let mut log = TraceLog::new(7);
        for i in 0..n {
            let id = format!("c{}", i % 3);
            log.record(&id, Some("vpn-1"), "updateVpnConnection", 1_000 + i);
        }
        log
    }

    #[test]
    fn pages_go_back_in_time_to_the_end_and_filters_hold() {
        let log = log(5);
        let mut query = TraceQuery::parse(&pairs("trace_type=system&limit=2&from=0&to=2000"));
        let query = query.as_mut().unwrap();
        let mut seen = Vec::new();
        let first = log.page(query, 2_000, false).unwrap().traces;
        loop {
            let page = log.page(query, 2_000, false).unwrap();
            seen.extend(page.traces.iter().map(|t| t["time"].as_i64().unwrap()));
            match page.marker {
                Some(m) => query.next = Some(m),
                None => break,
            }
        }
        assert_eq!(seen, [1004, 1003, 1002, 1001, 1000]);
        // Replaying ignores the marker: the first page again.
        assert_eq!(log.page(query, 2_000, true).unwrap().traces, first);
        let q = TraceQuery::parse(&pairs("trace_type=system&resource_id=c1&from=0&to=2000"));
        let page = log.page(&q.unwrap(), 2_000, false).unwrap();
        let ids: Vec<&str> = page
            .traces
            .iter()
            .map(|t| t["resource_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["c1", "c1"]);
        let q = TraceQuery::parse(&pairs("trace_type=system&from=1001&to=1003")).unwrap();
        assert_eq!(
            log.page(&q, 2_000, false).unwrap().traces.len(),
            3,
            "inclusive"
        );
    }

    #[test]
    fn refusals_and_the_retention_window() {
        for (query, code) in [
            ("limit=5", "CTS.0201"),
            ("trace_type=system&limit=201", "CTS.0202"),
            ("trace_type=system&limit=0", "CTS.0202"),
            ("trace_type=system&from=5", "CTS.0203"),
            ("trace_type=system&from=5&to=4", "CTS.0203"),
        ] {
            assert_eq!(
                TraceQuery::parse(&pairs(query)).unwrap_err().0,
                code,
                "{query}"
            );
        }
        let q = TraceQuery::parse(&pairs("trace_type=system&from=0&to=10")).unwrap();
        assert_eq!(q.window(RETENTION_MS + 5), (5, 10));
        let q = TraceQuery::parse(&pairs("trace_type=system")).unwrap();
        assert_eq!(
            q.window(DEFAULT_WINDOW_MS * 2),
            (DEFAULT_WINDOW_MS, DEFAULT_WINDOW_MS * 2)
        );
        let q = TraceQuery::parse(&pairs("trace_type=system&next=nope")).unwrap();
        assert!(log(1).page(&q, 2_000, false).is_err());
    }

    #[test]
    fn a_round_leaves_one_operation_per_connection() {
        let mut modified = AppliedChange::added("a");
        modified.change = "modified";
        let changes = [
            modified.clone(),
            modified,
            AppliedChange::added("b"),
            AppliedChange::removed("c"),
        ];
        let ops: Vec<(&str, &str)> = operations(&changes).into_iter().collect();
        assert_eq!(
            ops,
            [
                ("a", "updateVpnConnection"),
                ("b", "createVpnConnection"),
                ("c", "deleteVpnConnection")
            ]
        );
    }
}
