//! Which policy violations a connection gained or lost in a period, judged exactly as
//! `check` judges: by the same SQL, the report `policy-violations`, with the same parameters.
//!
//! That SQL reads the normalized tables, which hold only the current inventory, while a past
//! version is kept as a JSON body. So the bodies of the connections the period changed, as
//! they were at its start and as they are at its end, are written the way a sync writes
//! connections into two throwaway SQLite inventories in a temporary directory (never beside
//! the database, which a reading command leaves alone), and the report runs on each. A rule
//! changed in the SQL is a rule changed here too.

use crate::api::model::VpnConnection;
use crate::policy::REPORT;
use crate::reports::Report;
use crate::scope::{Filters, Scope};
use crate::store::{Cell, ConnectionWrite, DatabaseUrl, RowSink, RunCounts, Store};
use crate::time::now_utc;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// One broken rule: the rule, the field (the API's path) and its value (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    pub rule: String,
    pub field: String,
    pub value: Option<String>,
}

/// The policy every stored connection is held to now, as `check` applies it.
pub struct PolicySummary {
    /// Where it comes from: a file, or the built-in policy.
    pub source: String,
    /// Violations now, by rule: (rule, violations, connections).
    pub by_rule: Vec<(String, usize, usize)>,
    pub violations: usize,
    pub connections: usize,
}

/// Violations by connection, (project, id).
pub type Violations = HashMap<(String, String), BTreeSet<Violation>>;

/// A throwaway SQLite inventory (`dir/<name>.db`) that versions are written into, a chunk at
/// a time, and the policy report then runs on.
pub struct Scratch {
    store: Store,
    /// The apply sequence number of the last chunk written.
    seq: i64,
}

impl Scratch {
    pub async fn open(dir: &Path, name: &str) -> anyhow::Result<Self> {
        let url = DatabaseUrl::parse(&format!("sqlite://{}/{name}.db", dir.display()))?;
        Ok(Self {
            store: Store::open(&url).await?,
            seq: 0,
        })
    }

    /// Writes `connections` of `project`, as one more complete run of it would.
    pub async fn add(
        &mut self,
        project: &str,
        connections: &[VpnConnection],
    ) -> anyhow::Result<()> {
        if connections.is_empty() {
            return Ok(());
        }
        self.seq += 1;
        write(&self.store, self.seq, project, connections).await
    }

    /// The violations of what was written, under the policy `params` states.
    pub async fn violations(&self, params: &[(String, String)]) -> anyhow::Result<Violations> {
        let mut found = Violations::new();
        if self.seq > 0 {
            each_violation(&self.store, params, None, &mut |key, violation| {
                found.entry(key).or_default().insert(violation);
            })
            .await?;
        }
        Ok(found)
    }

    pub async fn close(&self) {
        self.store.close().await;
    }
}

/// Writes `connections` into the scratch inventory as complete run (apply `seq`) of
/// `project` would.
async fn write(
    scratch: &Store,
    seq: i64,
    project: &str,
    connections: &[VpnConnection],
) -> anyhow::Result<()> {
    let scope = Scope::new("http://scratch.invalid", None, project, Filters::default());
    let scope_id = scratch.ensure_scope(&scope).await?;
    let sync_id = scratch.start_sync().await?;
    let run_id = scratch.start_run(scope_id, &scope, 1, sync_id).await?;
    let observed_at = now_utc();
    let batch: Vec<ConnectionWrite> = connections
        .iter()
        .map(|conn| ConnectionWrite {
            conn,
            hash: "",
            served_hash: None,
            observed_at,
            stored_before: false,
        })
        .collect();
    let mut apply = scratch
        .begin_apply(std::time::Duration::from_secs(5))
        .await?;
    for chunk in batch.chunks(500) {
        apply.write_connections(&scope, run_id, chunk).await?;
    }
    let counts = RunCounts::default();
    apply.complete(run_id, scope_id, seq, &counts, None).await?;
    Ok(())
}

/// Runs the report under the policy `params` states, over one project or all, handing each
/// row to `each` as ((project, connection id), violation) as it arrives: the inventory's
/// violations are never held whole.
async fn each_violation(
    store: &Store,
    params: &[(String, String)],
    project: Option<String>,
    each: &mut dyn FnMut((String, String), Violation),
) -> anyhow::Result<()> {
    let report = Report::builtin(REPORT)?;
    let mut params = params.to_vec();
    params.extend(project.map(|p| ("project".to_owned(), p)));
    let mut sink = Each {
        columns: Vec::new(),
        each,
    };
    report.run(store, &params, now_utc(), &mut sink).await?;
    Ok(())
}

/// A [`RowSink`] that reads each row of the report as a violation.
struct Each<'a> {
    columns: Vec<String>,
    each: &'a mut dyn FnMut((String, String), Violation),
}

impl RowSink for Each<'_> {
    fn columns(&mut self, columns: &[String]) -> anyhow::Result<()> {
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        let at = |name: &str| match self.columns.iter().position(|c| c == name) {
            Some(i) => match &row[i] {
                Cell::Text(text) => text.clone(),
                Cell::Int(n) => n.map(|n| n.to_string()),
                _ => None,
            },
            None => None,
        };
        let key = (
            at("project_id").unwrap_or_default(),
            at("connection_id").unwrap_or_default(),
        );
        let violation = Violation {
            rule: at("rule").unwrap_or_default(),
            field: at("field").unwrap_or_default(),
            value: at("value"),
        };
        (self.each)(key, violation);
        Ok(())
    }
}

/// The violations of the stored inventory now (of `project`, or all), counted by rule. The
/// report's rows come ordered by connection, then rule, so counting where the connection
/// (and the rule) changes counts each once.
pub async fn now(
    store: &Store,
    params: &[(String, String)],
    project: Option<String>,
) -> anyhow::Result<PolicySummary> {
    let mut by_rule: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut violations, mut connections) = (0, 0);
    let mut last: Option<((String, String), String)> = None;
    each_violation(store, params, project, &mut |key, violation| {
        let rule = by_rule.entry(violation.rule.clone()).or_default();
        rule.0 += 1;
        violations += 1;
        let same_connection = last.as_ref().is_some_and(|(k, _)| *k == key);
        let same_rule = same_connection && last.as_ref().is_some_and(|(_, r)| *r == violation.rule);
        connections += usize::from(!same_connection);
        rule.1 += usize::from(!same_rule);
        last = Some((key, violation.rule));
    })
    .await?;
    Ok(PolicySummary {
        source: String::new(),
        by_rule: by_rule
            .into_iter()
            .map(|(rule, (n, conns))| (rule, n, conns))
            .collect(),
        violations,
        connections,
    })
}
