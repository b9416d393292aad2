//! Which connections a complete sweep lacked, and which of them its run may remove.
//!
//! A run's scope selects part of the project's inventory: the connections whose *stored*
//! fields match its filters. The stored fields are the latest any run observed, so a
//! connection another scope saw move out (a new enterprise project) is no longer selected.
//! Where a filter cannot be evaluated on stored data (an `eip_id`, or a `vgw_ip` given as the
//! gateway's private address while connections store its EIP id), what the same scope
//! returned last time (`scope_connections`) is the selection instead. A filtered run never
//! removes a connection outside it, and no run removes one that another run observed after
//! its sweep started.
//!
//! Even within its selection a filtered sweep's absence is no evidence of deletion: a
//! connection moved to another gateway or enterprise project is missing from it just as a
//! deleted one is. A filtered run removes only what the API, asked for each by id
//! ([`removal_candidates`], [`Removable::Confirmed`]), no longer serves. And no run removes
//! anything while its sweep is in doubt, or when its guard finds the removals implausible
//! ([`RemovalGuard`]): what it saw is stored, connections it lacked stay.

use super::context::{APPLY_CHUNK, RunContext, count};
use crate::scope::{Filters, Scope};
use crate::store::{
    ApplyTx, ChangeKind, ChangeRecord, Selection, Store, StoreError, StoredRow, SweepTx,
};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// How many removals one run may infer before they look like a bad answer (an empty page, a
/// marker that jumps to the end) rather than what operators did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemovalGuard {
    /// The most a run may remove, in percent of what the scope held.
    pub max_percent: u8,
    /// Trust the sweep whatever it removes (`--accept-mass-removal`).
    pub accept: bool,
}

impl Default for RemovalGuard {
    fn default() -> Self {
        Self {
            max_percent: 50,
            accept: false,
        }
    }
}

/// Fewer removals than this are never "mass" (unless they empty the scope): a small gateway
/// losing two of three connections is an operator's doing, not a bad answer.
const MASS_REMOVAL_FLOOR: i64 = 5;

impl RemovalGuard {
    /// Why removing `unseen` of the `held` connections at once is implausible, or `None`.
    pub fn doubt(&self, held: i64, unseen: i64) -> Option<String> {
        let too_many = unseen * 100 > held * i64::from(self.max_percent);
        let mass = unseen > MASS_REMOVAL_FLOOR || (unseen > 0 && unseen == held);
        (!self.accept && too_many && mass).then(|| {
            format!(
                "the sweep lacks {unseen} of the {held} connections this scope held, more than \
                 {}% (--max-removal-percent); if they are really gone, sync again with \
                 --accept-mass-removal",
                self.max_percent
            )
        })
    }
}

/// What a run trusts its sweep to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removals {
    /// Why the sweep is not trusted to remove anything; `None` when it is.
    pub doubt: Option<String>,
    /// Which removals are implausible however the sweep went.
    pub guard: RemovalGuard,
    pub removable: Removable,
}

/// Which of the connections a sweep lacked its run may remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removable {
    /// Every one: the sweep covered the whole project.
    Lacked,
    /// Only these, which the API, asked for each by id, no longer serves.
    Confirmed(HashSet<String>),
}

impl Removals {
    /// What a completed sweep may remove before the API is asked anything: with a `doubt`,
    /// nothing; an unfiltered sweep, every connection it lacked (it covered the whole
    /// project); a filtered one, only those the API confirms gone, so none until it has.
    pub fn of_sweep(doubt: Option<String>, guard: RemovalGuard, filters: &Filters) -> Self {
        let removable = match filters.is_empty() || doubt.is_some() {
            true => Removable::Lacked,
            false => Removable::Confirmed(HashSet::new()),
        };
        Self {
            doubt,
            guard,
            removable,
        }
    }

    /// Whether the API must first be asked, by id, about the connections the sweep lacked
    /// ([`removal_candidates`]); its answer sets `removable` (or, when it cannot tell, `doubt`).
    pub fn needs_confirmation(&self) -> bool {
        self.doubt.is_none() && matches!(self.removable, Removable::Confirmed(_))
    }
}

impl Removable {
    /// Whether the connection `id`, which the sweep lacked, may be removed.
    pub fn allows(&self, id: &str) -> bool {
        match self {
            Removable::Lacked => true,
            Removable::Confirmed(gone) => gone.contains(id),
        }
    }
}

/// What the scope selected before the run, and which of it the sweep lacked.
#[derive(Debug, Default)]
pub(super) struct Absent {
    pub held: i64,
    pub gone: Vec<StoredRow>,
}

/// What an apply does with the connections its sweep lacked.
#[derive(Debug, PartialEq)]
pub(super) struct Decision<'a> {
    /// Those it removes (none when `skipped`).
    pub remove: Vec<&'a StoredRow>,
    /// How many it keeps because the API did not confirm them gone.
    pub unconfirmed: usize,
    /// Why it removes none; `None` when it removes `remove`.
    pub skipped: Option<String>,
}

/// Whether a lacked connection can be judged by a sweep that started at `started_at`: one
/// another run observed after that is not the sweep's to remove.
fn judgeable(gone: &StoredRow, started_at: DateTime<Utc>) -> bool {
    gone.observed_at < started_at
}

/// The removal policy: of what the sweep lacked (and could judge), what `removals` allows,
/// unless the sweep is in doubt or the guard finds it too much of what the scope held.
pub(super) fn decide(
    removals: Removals,
    absent: &Absent,
    started_at: DateTime<Utc>,
) -> Decision<'_> {
    let (remove, kept): (Vec<_>, Vec<_>) = absent
        .gone
        .iter()
        .filter(|g| judgeable(g, started_at))
        .partition(|g| removals.removable.allows(&g.id));
    let Removals { doubt, guard, .. } = removals;
    let skipped = doubt.or_else(|| guard.doubt(absent.held, count(remove.len())));
    Decision {
        remove: if skipped.is_some() {
            Vec::new()
        } else {
            remove
        },
        unconfirmed: kept.len(),
        skipped,
    }
}

/// How `filters` select; `vgw_ip_stored`: whether a stored connection has the filter's
/// `vgw_ip`.
fn selection(filters: &Filters, vgw_ip_stored: bool) -> Selection<'_> {
    // Connections store the gateway's EIP id in `vgw_ip`, but the filter also takes the
    // gateway's private address, which no stored field holds: an address counts only when
    // stored connections carry it.
    let vgw_ip_unknown = filters
        .vgw_ip
        .as_deref()
        .is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok() && !vgw_ip_stored);
    if filters.is_empty() {
        Selection::Project
    } else if filters.eip_id.is_some() || vgw_ip_unknown {
        Selection::PreviousResult
    } else {
        Selection::Matching(filters)
    }
}

/// The connections the apply of run `run_id` would remove as things stand: those its scope
/// selects that its sweep lacked and no run observed after the sweep started. A filtered run
/// asks the API about each of them before it applies.
pub async fn removal_candidates(
    store: &Store,
    run_id: i64,
    scope_id: i64,
    scope: &Scope,
) -> Result<Vec<String>, StoreError> {
    let mut tx = store.begin_judging().await?;
    let started_at = tx.sweep_origin(run_id).await?.started_at;
    let Absent { gone, .. } = absent(&mut tx, run_id, scope_id, scope).await?;
    tx.commit().await?;
    Ok(gone
        .into_iter()
        .filter(|g| judgeable(g, started_at))
        .map(|g| g.id)
        .collect())
}

/// The connections the scope selects in the inventory as it is, and those the sweep of
/// `run_id` lacked, a chunk at a time.
pub(super) async fn absent(
    tx: &mut SweepTx,
    run_id: i64,
    scope_id: i64,
    scope: &Scope,
) -> Result<Absent, StoreError> {
    let project_id = scope.project_id.as_str();
    let filters = &scope.filters;
    let vgw_ip_stored = match &filters.vgw_ip {
        None => false,
        Some(vgw_ip) => tx.holds_vgw_ip(project_id, vgw_ip).await?,
    };
    let selection = selection(filters, vgw_ip_stored);
    let mut absent = Absent::default();
    let mut after = String::new();
    loop {
        let (held, last) = tx
            .selected_chunk(project_id, scope_id, selection, &after, APPLY_CHUNK)
            .await?;
        let Some(last) = last else { break };
        after = last;
        let ids: Vec<&str> = held.iter().map(|g| g.id.as_str()).collect();
        let served = tx.staged_among(run_id, &ids).await?;
        absent.held += count(held.len());
        absent
            .gone
            .extend(held.into_iter().filter(|g| !served.contains(&g.id)));
    }
    Ok(absent)
}

/// Connections removed per round: their bodies are held until their versions close.
const REMOVE_CHUNK: usize = 500;

/// Records `gone` as removed and takes them out of the inventory (their current versions are
/// closed with their bodies, so history keeps them) and out of every scope's previous result.
pub(super) async fn remove(
    tx: &mut ApplyTx,
    ctx: &RunContext<'_>,
    gone: &[&StoredRow],
) -> Result<i64, StoreError> {
    let project_id = ctx.project_id();
    for chunk in gone.chunks(REMOVE_CHUNK) {
        let records: Vec<ChangeRecord> = chunk
            .iter()
            .map(|g| {
                let seen = Some(g.observed_at);
                ctx.stamp
                    .record(&g.id, g.name.as_deref(), ChangeKind::Removed, None, seen)
            })
            .collect();
        tx.insert_records(project_id, &records).await?;
        let ids: Vec<&str> = chunk.iter().map(|g| g.id.as_str()).collect();
        let bodies = tx.current_bodies(project_id, &ids).await?;
        let closing = ids
            .iter()
            .map(|id| match bodies.get(*id) {
                Some(body) => Ok((*id, body.as_str())),
                None => Err(StoreError::Inconsistent(format!(
                    "removing connection {id}, not held"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        tx.close_versions(project_id, ctx.versions(), &closing)
            .await?;
        tx.delete_connections(project_id, &ids).await?;
    }
    Ok(count(gone.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, second).unwrap()
    }

    /// A scope that held `held` connections, of which the sweep lacked `gone` (id, second
    /// observed).
    fn absent(held: i64, gone: &[(&str, u32)]) -> Absent {
        Absent {
            held,
            gone: gone
                .iter()
                .map(|(id, second)| StoredRow {
                    id: (*id).to_owned(),
                    name: None,
                    observed_at: at(*second),
                })
                .collect(),
        }
    }

    fn trusting() -> Removals {
        Removals {
            doubt: None,
            guard: RemovalGuard::default(),
            removable: Removable::Lacked,
        }
    }

    fn removed<'a>(decision: &Decision<'a>) -> Vec<&'a str> {
        decision.remove.iter().map(|g| g.id.as_str()).collect()
    }

    #[test]
    fn mass_removal_is_doubted_unless_accepted() {
        let guard = RemovalGuard::default();
        assert!(guard.doubt(450, 450).is_some(), "an empty answer");
        assert!(guard.doubt(450, 350).unwrap().contains("350 of the 450"));
        assert_eq!(guard.doubt(450, 225), None, "exactly half is allowed");
        assert_eq!(guard.doubt(3, 2), None, "a few from a small scope");
        assert!(guard.doubt(3, 3).is_some(), "a small scope emptied");
        assert_eq!(guard.doubt(0, 0), None);
        let accept = RemovalGuard {
            accept: true,
            ..guard
        };
        assert_eq!(accept.doubt(450, 450), None);
        let strict = RemovalGuard {
            max_percent: 10,
            accept: false,
        };
        assert!(strict.doubt(100, 11).is_some());
    }

    #[test]
    fn a_trusted_sweep_removes_what_it_lacked_and_could_judge() {
        let absent = absent(10, &[("a", 1), ("late", 30)]);
        let decision = decide(trusting(), &absent, at(20));
        // Observed after the sweep started: another run's to judge.
        assert_eq!(removed(&decision), ["a"]);
        assert_eq!((decision.unconfirmed, decision.skipped), (0, None));
    }

    #[test]
    fn a_doubt_or_the_guard_withholds_every_removal() {
        let absent = absent(10, &[("a", 1), ("b", 1)]);
        let doubtful = Removals {
            doubt: Some("the sweep hit a tie".to_owned()),
            ..trusting()
        };
        let decision = decide(doubtful, &absent, at(20));
        assert!(decision.remove.is_empty());
        assert_eq!(decision.skipped.as_deref(), Some("the sweep hit a tie"));
        // Emptying a scope is implausible: the guard says why.
        let emptied = self::absent(2, &[("a", 1), ("b", 1)]);
        let decision = decide(trusting(), &emptied, at(20));
        assert!(decision.remove.is_empty());
        assert!(decision.skipped.unwrap().contains("2 of the 2"));
        let accepted = Removals {
            guard: RemovalGuard {
                accept: true,
                ..RemovalGuard::default()
            },
            ..trusting()
        };
        assert_eq!(removed(&decide(accepted, &emptied, at(20))), ["a", "b"]);
    }

    #[test]
    fn a_filtered_run_removes_only_what_the_api_confirmed_gone() {
        let absent = absent(2, &[("moved", 1), ("deleted", 1), ("late", 30)]);
        let confirmed = Removals {
            removable: Removable::Confirmed(HashSet::from(["deleted".to_owned()])),
            ..trusting()
        };
        let decision = decide(confirmed, &absent, at(20));
        assert_eq!(removed(&decision), ["deleted"]);
        assert_eq!((decision.unconfirmed, decision.skipped), (1, None));
        // The guard weighs only what would be removed: one of two is plausible, where both
        // (emptying the scope) would not be.
        let all = Removals {
            removable: Removable::Confirmed(HashSet::from([
                "moved".to_owned(),
                "deleted".to_owned(),
            ])),
            ..trusting()
        };
        assert!(decide(all, &absent, at(20)).skipped.is_some());
    }

    #[test]
    fn only_a_filtered_sweep_without_doubt_asks_the_api_first() {
        let guard = RemovalGuard::default();
        let unfiltered = Removals::of_sweep(None, guard, &Filters::default());
        assert_eq!(unfiltered, trusting());
        assert!(!unfiltered.needs_confirmation());
        let gateway = Filters {
            vgw_id: Some("g".into()),
            ..Filters::default()
        };
        let filtered = Removals::of_sweep(None, guard, &gateway);
        assert!(filtered.needs_confirmation());
        assert!(
            !filtered.removable.allows("anything"),
            "none until the API confirms"
        );
        let doubtful = Removals::of_sweep(Some("a tie".into()), guard, &gateway);
        assert!(!doubtful.needs_confirmation());
        assert_eq!(doubtful.doubt.as_deref(), Some("a tie"));
    }

    #[test]
    fn filters_stored_fields_cannot_answer_fall_back_to_the_previous_result() {
        let by = |f: Filters| match selection(&f, false) {
            Selection::Project => "all",
            Selection::Matching(_) => "matching",
            Selection::PreviousResult => "previous",
        };
        assert_eq!(by(Filters::default()), "all");
        let gateway = Filters {
            vgw_id: Some("g".into()),
            ..Filters::default()
        };
        assert_eq!(by(gateway), "matching");
        let eip = Filters {
            vgw_ip: Some("3ea3b006-demo-a8df-va86-ae180ae07885".into()),
            ..Filters::default()
        };
        assert_eq!(by(eip), "matching");
        let address = Filters {
            vgw_ip: Some("192.168.45.7".into()),
            ..Filters::default()
        };
        assert_eq!(by(address.clone()), "previous");
        assert!(matches!(selection(&address, true), Selection::Matching(_)));
        let eip_id = Filters {
            eip_id: Some("e".into()),
            ..Filters::default()
        };
        assert_eq!(by(eip_id), "previous");
    }
}
