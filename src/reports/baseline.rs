//! The baseline a report of change records left out: the adds of each scope's first complete
//! run (`change_log.baseline`), which are what was already there, not changes. A report that
//! declares `include_baseline` leaves them out unless it is true; this counts what it left
//! out between its `since` and `until` (now, when it declares none) in its `project`, so the
//! command can say so, as `drift` does, and an empty answer is not mistaken for a quiet day.

use super::params::Value;
use crate::store::{Cell, QueryTable, Store};
use chrono::{DateTime, Utc};

/// Baseline records a report left out, by run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// (run id, its baseline records), by run id.
    pub runs: Vec<(i64, i64)>,
}

impl LeftOut {
    /// The line stderr gets.
    pub fn note(&self) -> String {
        let records: i64 = self.runs.iter().map(|(_, n)| n).sum();
        let runs: Vec<String> = self.runs.iter().map(|(run, _)| run.to_string()).collect();
        let noun = if runs.len() == 1 { "run" } else { "runs" };
        format!(
            "{records} baseline {} left out: what {noun} {} found when first syncing a scope \
             (--param include_baseline=true lists them)",
            if records == 1 { "record" } else { "records" },
            runs.join(", ")
        )
    }
}

const COUNT: &str = "SELECT run_id, COUNT(*) FROM change_log \
                     WHERE baseline AND detected_at >= $1 AND detected_at <= $2 \
                     AND ($3 = '*' OR project_id = $3) \
                     GROUP BY run_id ORDER BY run_id";

/// What a report given `values` leaves out; `None` when it takes no `include_baseline`, it is
/// true, or there was no baseline to leave out.
pub async fn left_out(
    store: &Store,
    values: &[(String, Value)],
    now: DateTime<Utc>,
) -> anyhow::Result<Option<LeftOut>> {
    let value = |name: &str| values.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    if value("include_baseline") != Some(&Value::Boolean(false)) {
        return Ok(None);
    }
    let time = |name: &str, otherwise: DateTime<Utc>| match value(name) {
        Some(Value::Time(t)) => *t,
        _ => otherwise,
    };
    let project = match value("project") {
        Some(Value::Text(project)) => project.clone(),
        _ => "*".to_owned(),
    };
    let binds = vec![
        Cell::from(time("since", DateTime::UNIX_EPOCH)),
        Cell::from(time("until", now)),
        Cell::from(project),
    ];
    let mut counted = QueryTable::default();
    store.query_rows(COUNT, binds, &mut counted).await?;
    let runs: Vec<(i64, i64)> = counted
        .rows
        .iter()
        .filter_map(|row| match row.as_slice() {
            [Cell::Int(Some(run)), Cell::Int(Some(n))] => Some((*run, *n)),
            _ => None,
        })
        .collect();
    Ok((!runs.is_empty()).then_some(LeftOut { runs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_counts_records_and_names_runs() {
        let one = LeftOut { runs: vec![(1, 1)] };
        assert!(
            one.note()
                .starts_with("1 baseline record left out: what run 1 found")
        );
        let two = LeftOut {
            runs: vec![(1, 3), (4, 2)],
        };
        assert!(
            two.note()
                .starts_with("5 baseline records left out: what runs 1, 4 found")
        );
        assert!(
            two.note()
                .ends_with("(--param include_baseline=true lists them)")
        );
    }
}
