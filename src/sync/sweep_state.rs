//! The sweep's judgement, free of I/O: what each page means for the sweep, and what the whole
//! sweep proves.
//!
//! [`SweepState`] takes the pages in, one at a time, as the sweep receives them, and decides:
//!
//! - which page to ask for next, and when the sweep is complete: its [`Pager`] (marker paging,
//!   ties across page boundaries and "crowded" instants that fill a page: `api::paging`), which
//!   it drives and which nothing else moves;
//! - which connections a page's request asked for again (the overlap after a marker recovery
//!   or a resume), so that only repeats nobody asked for count as duplicates ([`Turn`],
//!   [`Ledger::asked_again`]);
//! - when the sweep is stuck: too many full pages in a row bringing nothing new ([`Stop::Idle`]),
//!   or far more connections than the API's `total_count` allows ([`Stop::BeyondTotal`]);
//! - what a finished sweep may not be trusted with ([`Swept::doubts`]): a count above what it
//!   found, and instants no page could show in full (ties the pager could not prove, and
//!   crowded instants of pages staged before a resume), which withhold removals.
//!
//! A resumed sweep's state is rebuilt from what the stopped one staged ([`SweepState::resumed`]).
//! The sweep itself (`sweep.rs`) only fetches, prepares and stages pages, and asks this.

use super::seen_ids::SeenIds;
use crate::api::filters::Filters;
use crate::api::paging::{PageMeta, Pager, PagingError, StagedMarkers};
use crate::time::parse_api_time;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Full pages in a row that may bring nothing new (a recovery overlap, a tie passed) before a
/// sweep is judged stuck: a server answering the same connections with ever-moving markers
/// would otherwise be followed for ever.
pub const MAX_IDLE_PAGES: u32 = 3;

/// Where a sweep stands before its next page: at the start, or where a stopped run left it.
pub struct SweepState {
    pager: Pager,
    ledger: Ledger,
}

/// What the sweep has received so far, and what it makes of it.
pub struct Ledger {
    /// Ids staged so far, to tell the overlap a recovery marker asks for from duplicates.
    seen: SeenIds,
    /// Full pages in a row that brought no id not seen before: no progress.
    idle: u32,
    pages: i64,
    fetched: i64,
    duplicates: i64,
    /// Bytes of JSON read (only of the pages this process fetched).
    bytes: u64,
    /// The most connections any page's `total_count` claimed. Pages staged before a resume do
    /// not keep it: the pages after it, which ask again, claim it afresh.
    total_count: Option<i64>,
    /// Why pages staged before a resume cannot show every connection of some instants.
    crowded: Option<String>,
}

/// What the request for a page asked for, known before the pager moves past it.
#[derive(Debug, Clone, Copy)]
pub struct Turn {
    /// Ids seen earlier and created before this were asked for again (`Pager::asked_before`).
    asked_before: Option<DateTime<Utc>>,
    /// The page was asked for again on purpose (a resumed sweep's first request).
    reasked: bool,
    /// The sweep is complete with this page.
    done: bool,
}

/// Why a sweep stops before its pages end: it would otherwise loop or list without end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Pages in a row brought no connection not received before.
    Idle { pages: u32 },
    /// The sweep found `distinct` connections, more than the `most` the API's count allows.
    BeyondTotal { distinct: usize, most: i64 },
}

impl Stop {
    /// The message, naming `page` (the page that brought the sweep to a stop).
    pub fn at(&self, page: &str) -> String {
        match self {
            Stop::Idle { pages } => format!(
                "{pages} pages up to {page} brought no connection not received before while \
                 the marker kept moving; stopping instead of looping"
            ),
            Stop::BeyondTotal { distinct, most } => format!(
                "{page} brought the sweep to {distinct} distinct connections, more than the \
                 {most} the API's total_count allows (with a margin for connections created \
                 meanwhile); stopping instead of listing without end"
            ),
        }
    }
}

/// One page a stopped sweep staged, as resuming it needs to know it.
#[derive(Debug, Clone, Copy)]
pub struct StagedPageFacts<'a> {
    pub markers: StagedMarkers<'a>,
    /// Connections received, duplicates included.
    pub items: i64,
    /// Whether the page brought an id not received before it.
    pub brought_new: bool,
}

impl SweepState {
    pub fn new(page_size: u32) -> Self {
        Self {
            pager: Pager::new(page_size),
            ledger: Ledger {
                seen: SeenIds::default(),
                idle: 0,
                pages: 0,
                fetched: 0,
                duplicates: 0,
                bytes: 0,
                total_count: None,
                crowded: None,
            },
        }
    }

    /// The state of a stopped sweep from what it staged: its pages in order, each staged
    /// connection's id and `created_at`, and the smallest page size it asked with.
    ///
    /// The pager resumes from the staged markers (`Pager::resume`). Whether a staged page held
    /// only one instant is not staged, but an instant with as many staged connections as the
    /// smallest page the sweep asked for is one such a page may have held (and one that did
    /// has that many): it is doubted, as the stopped pager would have.
    pub fn resumed(
        page_size: u32,
        staged: &[StagedPageFacts<'_>],
        created: &[(String, Option<String>)],
        smallest_page_size: i64,
    ) -> Self {
        let markers: Vec<StagedMarkers<'_>> = staged.iter().map(|p| p.markers).collect();
        let idle = staged.iter().rev().take_while(|p| !p.brought_new).count();
        let fetched: i64 = staged.iter().map(|p| p.items).sum();
        let distinct = count(created.len());
        Self {
            pager: Pager::resume(page_size, &markers),
            ledger: Ledger {
                seen: created.iter().map(|(id, _)| id.as_str()).collect(),
                idle: u32::try_from(idle).unwrap_or(u32::MAX),
                pages: count(staged.len()),
                fetched,
                duplicates: fetched - distinct,
                bytes: 0,
                total_count: None,
                crowded: crowded_instants(
                    created.iter().filter_map(|(_, at)| at.as_deref()),
                    smallest_page_size,
                ),
            },
        }
    }

    /// The pager: which page to ask for next.
    pub fn pager(&self) -> &Pager {
        &self.pager
    }

    /// Takes in the page the pager asked for, as received (`bytes` of JSON), before it is
    /// staged: what its request asked for, and whether the sweep is complete with it.
    pub fn turn(&mut self, meta: PageMeta<'_>, bytes: u64) -> Result<Turn, PagingError> {
        self.ledger.bytes = self.ledger.bytes.saturating_add(bytes);
        // What this page's request asked for again: known before the pager moves on.
        let asked_before = self.pager.asked_before();
        let reasked = self.pager.reasks();
        self.pager.advance(meta)?;
        Ok(Turn {
            asked_before,
            reasked,
            done: self.pager.is_done(),
        })
    }

    /// The pager, to ask for the next page, and the ledger, to judge the page just taken in:
    /// both at once, as the sweep does both at once.
    pub fn split(&mut self) -> (&Pager, &mut Ledger) {
        (&self.pager, &mut self.ledger)
    }

    pub fn ledger(&mut self) -> &mut Ledger {
        &mut self.ledger
    }

    /// What the whole sweep brought, to be judged.
    pub fn finish(self) -> Swept {
        let Ledger {
            pages,
            fetched,
            duplicates,
            bytes,
            total_count,
            crowded,
            ..
        } = self.ledger;
        Swept {
            pages,
            fetched,
            duplicates,
            bytes,
            total_count,
            unproven: [crowded, self.pager.unproven()]
                .into_iter()
                .flatten()
                .collect(),
        }
    }
}

impl Ledger {
    /// Whether a connection of the page `turn` took in is one its request asked for again: an
    /// id seen earlier in the sweep, created before the instant the request asked from. Such
    /// are dropped before staging and counted nowhere.
    pub fn asked_again(&self, turn: &Turn, id: &str, created_at: Option<&str>) -> bool {
        let Some(asked_before) = turn.asked_before else {
            return false;
        };
        self.seen.contains(id)
            && created_at
                .and_then(parse_api_time)
                .is_some_and(|at| at < asked_before)
    }

    /// Takes in the ids of the page `turn` took in that go to staging (what it asked for again
    /// dropped), and the project's `total_count` the page claims. Says for each id whether it
    /// repeats one taken in before (on an earlier page, or earlier on this one: a duplicate,
    /// staged once), or that the sweep must stop.
    pub fn admit<'i>(
        &mut self,
        turn: &Turn,
        ids: impl Iterator<Item = &'i str>,
        total_count: Option<u64>,
    ) -> Result<Vec<bool>, Stop> {
        let repeats: Vec<bool> = ids.map(|id| !self.seen.insert(id)).collect();
        let new = repeats.iter().filter(|&&repeat| !repeat).count();
        self.idle = match (turn.reasked, new == 0 && !turn.done) {
            // Asked again on purpose: neither progress nor the lack of it.
            (true, _) => self.idle,
            (false, true) => self.idle + 1,
            (false, false) => 0,
        };
        if self.idle > MAX_IDLE_PAGES {
            return Err(Stop::Idle { pages: self.idle });
        }
        let claimed = total_count.and_then(|n| i64::try_from(n).ok());
        self.total_count = self.total_count.max(claimed);
        if let Some(most) = self.total_count.map(most_plausible)
            && count(self.seen.len()) > most
        {
            return Err(Stop::BeyondTotal {
                distinct: self.seen.len(),
                most,
            });
        }
        Ok(repeats)
    }

    /// Counts a page staged with `items` connections.
    pub fn count_page(&mut self, items: i64) {
        self.pages += 1;
        self.fetched += items;
    }

    /// Counts repeats of ids that staging found and ignored.
    pub fn add_duplicates(&mut self, duplicates: i64) {
        self.duplicates += duplicates;
    }
}

/// What a whole sweep brought, before it is judged.
#[derive(Debug)]
pub struct Swept {
    pub pages: i64,
    pub fetched: i64,
    pub duplicates: i64,
    /// Bytes of JSON read (only of the pages this process fetched).
    pub bytes: u64,
    /// The most connections any page's `total_count` claimed.
    pub total_count: Option<i64>,
    /// Why instants may not have been listed in full (see `api::paging`).
    pub unproven: Vec<String>,
}

impl Swept {
    /// Why the sweep cannot be trusted to infer removals, if it cannot.
    pub fn doubts(&self, filters: &Filters) -> Doubts {
        let mut doubts = Doubts::default();
        let distinct = self.fetched - self.duplicates;
        // The API counts the whole project: it means something only for an unfiltered sweep.
        let counted = self.total_count.filter(|_| filters.is_empty());
        if let Some(total) = counted.filter(|&t| t > distinct) {
            doubts.add(format!(
                "the API counts {total} connections in the project but the sweep found {distinct}"
            ));
        }
        // Instants no page could show in full are settled only by a complete count.
        if counted.is_none_or(|t| t > distinct) {
            for reason in &self.unproven {
                doubts.add(reason.clone());
            }
        }
        doubts
    }
}

/// Why a sweep's evidence cannot be trusted to remove connections; empty when it can. A
/// doubtful run still stores what it saw: nothing is lost, and nothing is falsely removed.
#[derive(Debug, Default)]
pub struct Doubts(Vec<String>);

impl Doubts {
    pub fn add(&mut self, reason: impl Into<String>) {
        self.0.push(reason.into());
    }

    /// All reasons in one line, or `None` when there are none.
    pub fn reason(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join("; "))
    }
}

/// Why instants that `limit` or more of `created_at` share (as many as a page of the smallest
/// size a sweep used holds) may hold connections no page listed; `None` when none do.
fn crowded_instants<'a>(
    created_at: impl IntoIterator<Item = &'a str>,
    limit: i64,
) -> Option<String> {
    let mut counts: BTreeMap<DateTime<Utc>, (i64, &str)> = BTreeMap::new();
    for text in created_at {
        if let Some(at) = parse_api_time(text) {
            counts.entry(at).or_insert((0, text)).0 += 1;
        }
    }
    let crowded: Vec<&str> = counts
        .values()
        .rev()
        .filter(|(n, _)| *n >= limit)
        .map(|(_, text)| *text)
        .collect();
    let first = crowded.first()?;
    Some(format!(
        "before the sweep was resumed, {} instant(s) (first: {first}) had as many connections as \
         a page of {limit} holds, so more connections created then could not be listed",
        crowded.len()
    ))
}

/// The most distinct connections a sweep may plausibly bring when the API counts `total`: the
/// tenant's total (the count is never filtered), plus connections created during the sweep.
fn most_plausible(total: i64) -> i64 {
    total.saturating_add(total / 10).saturating_add(100)
}

/// A count of items.
pub fn count(items: usize) -> i64 {
    i64::try_from(items).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2022-12-11T13:59:59.640Z";
    const T1: &str = "2022-12-11T13:59:59.633Z";
    const T2: &str = "2022-12-09T07:24:27.674Z";
    const T3: &str = "2022-12-01T00:00:00.000Z";
    const T4: &str = "2022-11-30T00:00:00.000Z";

    /// `n` instants a second apart, newest first, from `from` seconds before T3.
    fn instants(from: i64, n: i64) -> Vec<String> {
        let t3 = parse_api_time(T3).unwrap();
        (from..from + n)
            .map(|s| (t3 - chrono::Duration::seconds(s)).format("%Y-%m-%dT%H:%M:%S%.3fZ"))
            .map(|t| t.to_string())
            .collect()
    }

    /// Takes one page through the state as the sweep does: the turn, the connections its
    /// request asked for again dropped, the rest admitted and counted. The ids staged.
    fn take<'a>(
        state: &mut SweepState,
        page: &[(&'a str, &str)],
        next_marker: Option<&str>,
        total: Option<u64>,
    ) -> Result<Vec<&'a str>, Stop> {
        let times: Vec<Option<&str>> = page.iter().map(|(_, at)| Some(*at)).collect();
        let meta = PageMeta {
            current_count: Some(page.len() as u64),
            next_marker,
            created_at: &times,
        };
        let turn = state.turn(meta, 10).expect("the pager moves on");
        let (_, ledger) = state.split();
        let staged: Vec<&str> = page
            .iter()
            .filter(|(id, at)| !ledger.asked_again(&turn, id, Some(at)))
            .map(|(id, _)| *id)
            .collect();
        ledger.admit(&turn, staged.iter().copied(), total)?;
        ledger.count_page(count(staged.len()));
        Ok(staged)
    }

    /// `n` distinct ids.
    fn numbered(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c-{i}")).collect()
    }

    /// A page of `ids`, one instant each from `at` (see `instants`).
    fn page_of<'a>(ids: &'a [impl AsRef<str>], at: &'a [String]) -> Vec<(&'a str, &'a str)> {
        ids.iter()
            .zip(at)
            .map(|(id, t)| (id.as_ref(), t.as_str()))
            .collect()
    }

    fn swept(fetched: i64, duplicates: i64, total: Option<i64>, unproven: &[&str]) -> Swept {
        Swept {
            pages: 1,
            fetched,
            duplicates,
            bytes: 0,
            total_count: total,
            unproven: unproven.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn filtered() -> Filters {
        Filters {
            vgw_id: Some("vgw-1".into()),
            ..Filters::default()
        }
    }

    #[test]
    fn the_next_request_asks_from_the_last_connections_created_at() {
        let mut state = SweepState::new(2);
        assert_eq!((state.pager().page(), state.pager().marker()), (1, None));
        take(&mut state, &[("a", T0), ("b", T1)], None, None).unwrap();
        assert_eq!(state.pager().page(), 2);
        assert_eq!(state.pager().marker(), Some(T1));
        assert!(!state.pager().is_done());
    }

    #[test]
    fn a_short_page_completes_the_sweep() {
        let mut state = SweepState::new(3);
        let times = [Some(T0), Some(T1)];
        let turn = state.turn(page_meta(&times), 0).unwrap();
        assert!(turn.done && state.pager().is_done());
    }

    fn page_meta<'a>(times: &'a [Option<&'a str>]) -> PageMeta<'a> {
        PageMeta {
            current_count: Some(times.len() as u64),
            next_marker: None,
            created_at: times,
        }
    }

    #[test]
    fn an_empty_answer_to_a_marker_asks_its_instant_again_then_a_short_page_ends() {
        let mut state = SweepState::new(2);
        take(&mut state, &[("a", T0), ("b", T1)], None, None).unwrap();
        // Nothing before T1: a strict service may have skipped the rest of T1.
        let turn = state.turn(page_meta(&[]), 0).unwrap();
        assert!(!turn.done);
        assert_eq!(state.pager().marker(), Some("2022-12-11T13:59:59.634Z"));
        let staged = take(&mut state, &[("b", T1)], None, None).unwrap();
        assert!(staged.is_empty() && state.pager().is_done());
        let swept = state.finish();
        assert_eq!((swept.pages, swept.fetched, swept.bytes), (2, 2, 20));
    }

    #[test]
    fn a_full_page_without_a_marker_is_refused() {
        let mut state = SweepState::new(2);
        let error = state.turn(page_meta(&[None, None]), 0).unwrap_err();
        assert_eq!(error, PagingError::NoMarker { page: 1 });
    }

    #[test]
    fn a_marker_that_goes_back_up_is_refused() {
        let mut state = SweepState::new(2);
        take(&mut state, &[("a", T1), ("b", T2)], None, None).unwrap();
        // The answer reaches the marker's instant, then names a marker above it.
        let times = [Some(T2), Some(T3)];
        let meta = PageMeta {
            next_marker: Some(T0),
            ..page_meta(&times)
        };
        let error = state.turn(meta, 0).unwrap_err();
        assert!(
            matches!(error, PagingError::MarkerDidNotAdvance { page: 2, .. }),
            "{error}"
        );
    }

    #[test]
    fn ids_a_recovery_marker_asked_for_again_are_overlap_not_duplicates() {
        let mut state = SweepState::new(2);
        take(&mut state, &[("a", T0), ("b", T1)], None, None).unwrap();
        // A strict service: nothing of T1 after the boundary. The pager asks for T1 again.
        let staged = take(&mut state, &[("c", T2), ("d", T3)], None, None).unwrap();
        assert_eq!(staged, ["c", "d"]);
        assert_eq!(state.pager().marker(), Some("2022-12-11T13:59:59.634Z"));
        // T1 again: "b" was asked for again; "x" shared its instant and was skipped before.
        let staged = take(&mut state, &[("b", T1), ("x", T1)], None, None).unwrap();
        assert_eq!(staged, ["x"]);
        let swept = state.finish();
        assert_eq!((swept.fetched, swept.duplicates), (5, 0));
    }

    #[test]
    fn a_repeat_at_the_markers_own_instant_is_no_overlap() {
        let mut state = SweepState::new(2);
        take(&mut state, &[("a", T0), ("b", T1)], None, None).unwrap();
        // An inclusive service serves T1 again unasked: staging counts "b" a duplicate.
        let staged = take(&mut state, &[("b", T1), ("c", T2)], None, None).unwrap();
        assert_eq!(staged, ["b", "c"]);
    }

    #[test]
    fn an_id_taken_in_before_or_earlier_on_its_page_is_a_repeat() {
        let mut state = SweepState::new(3);
        take(&mut state, &[("a", T0), ("b", T1)], None, None).unwrap();
        let meta = PageMeta {
            current_count: Some(3),
            next_marker: None,
            created_at: &[Some(T1), Some(T2), Some(T2)],
        };
        let turn = state.turn(meta, 10).expect("the pager moves on");
        let (_, ledger) = state.split();
        let repeats = ledger.admit(&turn, ["b", "c", "c"].into_iter(), None);
        assert_eq!(repeats, Ok(vec![true, false, true]));
        assert_eq!(ledger.seen.len(), 3);
    }

    #[test]
    fn only_ids_seen_before_and_created_before_the_asked_instant_are_overlap() {
        let mut state = SweepState::new(2);
        let ledger = state.ledger();
        ledger.seen.extend(["a", "b"]);
        let turn = Turn {
            asked_before: parse_api_time("2022-12-11T13:59:59.634Z"),
            reasked: false,
            done: false,
        };
        assert!(ledger.asked_again(&turn, "a", Some(T1)));
        assert!(!ledger.asked_again(&turn, "c", Some(T1)), "not seen before");
        assert!(
            !ledger.asked_again(&turn, "a", Some(T0)),
            "after the asked instant"
        );
        assert!(!ledger.asked_again(&turn, "a", None), "no time");
        assert!(!ledger.asked_again(&turn, "a", Some("not a time")));
        let first = Turn {
            asked_before: None,
            ..turn
        };
        assert!(!ledger.asked_again(&first, "a", Some(T1)), "the first page");
    }

    /// A state that has staged "a" and "b", and pages that bring only them again.
    fn idle_sweep(limit: u32) -> (SweepState, Vec<String>) {
        let mut state = SweepState::new(limit);
        let at = instants(0, 40);
        take(&mut state, &page_of(&["a", "b"], &at[..2]), None, None).unwrap();
        (state, at)
    }

    /// Takes pages `pages` (numbered from 1 after the first) that bring "a" and "b" again.
    fn again(state: &mut SweepState, at: &[String], pages: std::ops::RangeInclusive<usize>) {
        for page in pages {
            let again = page_of(&["a", "b"], &at[2 * page..]);
            take(state, &again, None, None).expect("not stuck yet");
        }
    }

    #[test]
    fn more_than_three_full_pages_bringing_nothing_new_stop_the_sweep() {
        let (mut state, at) = idle_sweep(2);
        again(&mut state, &at, 1..=MAX_IDLE_PAGES as usize);
        let stop = take(&mut state, &page_of(&["a", "b"], &at[8..]), None, None).unwrap_err();
        assert_eq!(stop, Stop::Idle { pages: 4 });
        let message = stop.at("page 5 (marker m)");
        assert!(
            message.starts_with("4 pages up to page 5 (marker m)"),
            "{message}"
        );
    }

    #[test]
    fn a_page_with_a_new_id_resets_the_idle_count() {
        let (mut state, at) = idle_sweep(2);
        again(&mut state, &at, 1..=3);
        take(&mut state, &page_of(&["a", "c"], &at[8..]), None, None).unwrap();
        again(&mut state, &at, 5..=7);
    }

    #[test]
    fn the_last_page_bringing_nothing_new_is_not_idle() {
        let (mut state, at) = idle_sweep(2);
        again(&mut state, &at, 1..=3);
        // A short page ends the sweep: it is no sign of one that does not progress.
        take(&mut state, &page_of(&["a"], &at[8..]), None, None).unwrap();
        assert!(state.pager().is_done());
    }

    /// What a stopped sweep staged: pages of two with `new` telling which brought a new id.
    fn staged_pages(new: &[bool]) -> Vec<StagedPageFacts<'static>> {
        new.iter()
            .map(|brought_new| StagedPageFacts {
                markers: StagedMarkers {
                    marker: None,
                    next_marker: None,
                },
                items: 2,
                brought_new: *brought_new,
            })
            .collect()
    }

    fn created(ids: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
        let created = ids
            .iter()
            .map(|(id, at)| ((*id).to_owned(), Some((*at).to_owned())));
        created.collect()
    }

    #[test]
    fn a_resumed_state_counts_what_the_stopped_sweep_staged() {
        let staged = staged_pages(&[true, true, false]);
        let ids = created(&[("a", T0), ("b", T1), ("c", T2), ("d", T3)]);
        let state = SweepState::resumed(2, &staged, &ids, 2);
        assert_eq!(state.pager().page(), 4);
        assert!(state.pager().reasks());
        let swept = state.finish();
        assert_eq!((swept.pages, swept.fetched, swept.duplicates), (3, 6, 2));
        assert_eq!((swept.bytes, swept.total_count), (0, None));
        assert!(swept.unproven.is_empty(), "{:?}", swept.unproven);
    }

    #[test]
    fn the_first_page_after_a_resume_asks_again_for_everything_staged() {
        let staged = staged_pages(&[true]);
        let ids = created(&[("a", T0), ("b", T1)]);
        let mut state = SweepState::resumed(2, &staged, &ids, 2);
        // Whatever their time, the staged ids come back as asked for.
        let staged = take(&mut state, &[("a", T0), ("b", T1)], None, None).unwrap();
        assert!(staged.is_empty());
        // Asked past the staged pages: "b" at the marker's own instant was not asked for.
        let staged = take(&mut state, &[("b", T1), ("c", T2)], None, None).unwrap();
        assert_eq!(staged, ["b", "c"]);
    }

    #[test]
    fn a_page_asked_again_on_purpose_is_neither_progress_nor_idle() {
        // The stopped sweep ended on three pages that brought nothing new.
        let staged = staged_pages(&[true, false, false, false]);
        let ids = created(&[("a", T0), ("b", T1)]);
        let mut state = SweepState::resumed(2, &staged, &ids, 2);
        take(&mut state, &[("a", T0), ("b", T1)], None, None).expect("asked again: not idle");
        let stop = take(&mut state, &[("a", T2), ("b", T3)], None, None).unwrap_err();
        assert_eq!(stop, Stop::Idle { pages: 4 });
    }

    #[test]
    fn a_resumed_state_doubts_instants_as_crowded_as_its_smallest_page() {
        let staged = staged_pages(&[true, true]);
        let ids = created(&[("a", T1), ("b", T1), ("c", T2), ("d", T4)]);
        let swept = SweepState::resumed(3, &staged, &ids, 2).finish();
        assert_eq!(swept.unproven.len(), 1);
        assert!(swept.unproven[0].contains("(first: 2022-12-11T13:59:59.633Z)"));
        let swept = SweepState::resumed(3, &staged, &ids, 3).finish();
        assert!(swept.unproven.is_empty());
    }

    #[test]
    fn instants_as_crowded_as_the_smallest_page_are_doubted() {
        let times = [
            "2022-12-11T13:59:59.633Z",
            "2022-12-11T13:59:59.633Z",
            "2022-12-11T13:59:59.633Z",
            // The same instant spelt otherwise counts with it.
            "2022-12-11T13:59:59.633",
            "2022-12-09T07:24:27.674Z",
            "2022-12-09T07:24:27.674Z",
            "2022-12-09T07:24:27.674Z",
            "2022-12-01T00:00:00Z",
            "not a time",
        ];
        assert_eq!(crowded_instants(times, 5), None);
        let reason = crowded_instants(times, 3).expect("two crowded instants");
        assert!(
            reason.contains("2 instant(s) (first: 2022-12-11T13:59:59.633Z)")
                && reason.contains("a page of 3"),
            "{reason}"
        );
        let reason = crowded_instants(times, 4).expect("one crowded instant");
        assert!(reason.contains("1 instant(s)"), "{reason}");
    }

    #[test]
    fn a_sweep_beyond_the_total_count_and_its_margin_stops() {
        let (ids, at) = (numbered(101), instants(0, 101));
        let page = page_of(&ids, &at);
        // A count of 1 allows 1 + 0 + 100.
        take(&mut SweepState::new(200), &page, None, Some(1)).expect("within the margin");
        let stop = take(&mut SweepState::new(200), &page, None, Some(0)).unwrap_err();
        assert_eq!(
            stop,
            Stop::BeyondTotal {
                distinct: 101,
                most: 100
            }
        );
        assert!(
            stop.at("page 1")
                .contains("more than the 100 the API's total_count allows")
        );
    }

    #[test]
    fn the_largest_count_any_page_claimed_bounds_the_sweep() {
        let (ids, at) = (numbered(160), instants(0, 160));
        let page = page_of(&ids, &at);
        let mut state = SweepState::new(60);
        take(&mut state, &page[..60], None, Some(50)).unwrap();
        // A later, smaller count does not lower the bound of 50 + 5 + 100.
        take(&mut state, &page[60..155], None, Some(5)).expect("155 allowed");
        let stop = take(&mut state, &page[155..], None, None).unwrap_err();
        assert_eq!(
            stop,
            Stop::BeyondTotal {
                distinct: 160,
                most: 155
            }
        );
    }

    #[test]
    fn a_count_above_what_an_unfiltered_sweep_found_withholds_removals() {
        let all = Filters::default();
        // Ten fetched, two of them repeats: eight connections.
        let reason = swept(10, 2, Some(9), &[]).doubts(&all).reason().unwrap();
        assert_eq!(
            reason,
            "the API counts 9 connections in the project but the sweep found 8"
        );
        assert_eq!(swept(10, 2, Some(8), &[]).doubts(&all).reason(), None);
        assert_eq!(swept(10, 2, None, &[]).doubts(&all).reason(), None);
    }

    #[test]
    fn a_filtered_sweep_ignores_the_projects_count() {
        let doubts = swept(10, 0, Some(500), &[]).doubts(&filtered());
        assert_eq!(doubts.reason(), None);
        // Nor can the count settle instants a filtered sweep could not list in full.
        let doubts = swept(10, 0, Some(10), &["ties"]).doubts(&filtered());
        assert_eq!(doubts.reason().as_deref(), Some("ties"));
    }

    #[test]
    fn ties_no_page_could_show_in_full_are_doubted_unless_a_complete_count_settles_them() {
        let tied = |total| {
            let mut state = SweepState::new(2);
            // A page of one instant: more connections of it than a page holds may exist.
            take(&mut state, &[("a", T1), ("b", T1)], None, total).unwrap();
            take(&mut state, &[("c", T2)], None, total).unwrap();
            state.finish().doubts(&Filters::default()).reason()
        };
        let reason = tied(None).expect("unproven");
        assert!(
            reason.starts_with("1 page(s) held only connections created at one instant"),
            "{reason}"
        );
        assert_eq!(tied(Some(3)), None, "the count proves the sweep whole");
        let reason = tied(Some(4)).expect("a count above what was found");
        assert!(
            reason.contains("counts 4") && reason.contains("one instant"),
            "{reason}"
        );
    }

    #[test]
    fn repeats_staging_found_are_duplicates_not_distinct_connections() {
        let mut state = SweepState::new(2);
        take(&mut state, &[("a", T0), ("b", T1)], None, Some(4)).unwrap();
        take(&mut state, &[("b", T1), ("c", T2)], None, Some(4)).unwrap();
        // Staging found "b" twice.
        state.ledger().add_duplicates(1);
        let swept = state.finish();
        assert_eq!((swept.pages, swept.fetched, swept.duplicates), (2, 4, 1));
        let reason = swept.doubts(&Filters::default()).reason().unwrap();
        assert!(reason.ends_with("counts 4 connections in the project but the sweep found 3"));
    }
}
