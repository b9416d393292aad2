//! Marker paging decisions, free of I/O.
//!
//! The list API pages by `marker` = the `created_at` of the last connection of the previous
//! page, newest first, and serves the connections created before the marker; whether "before"
//! is strict is not documented. Connections created in the same instant can straddle a page
//! boundary: a strict service never serves those after the boundary for the served marker.
//! `Pager` decides whether a sweep is finished and which marker comes next so that every
//! instant's connections are seen under either reading:
//!
//! - It first passes a marker back as served and checks the answer. An answer that includes
//!   the boundary instant (an inclusive service) brought every connection of it; repeats of
//!   ids in it were not asked for and count as duplicates.
//! - An answer that does not reach the boundary instant (a strict service) may have skipped
//!   some of it: the pager asks again with a marker one step after the instant
//!   (`time::shift_api_time`), which serves the instant again under both readings, and from
//!   then on always does. Ids seen again that were created before the marker of the request
//!   that served them are the overlap the pager asked for (`asked_before`: the instant again,
//!   and a page served before going back up): the caller drops them and counts them nowhere.
//! - A page whose connections all share one instant (or that does not get past the previous
//!   boundary) shows only the first page-full of that instant, and no marker shows more: the
//!   pager moves strictly past the instant (the marker as served, or one step before it for an
//!   inclusive service) and reports the instant as unproven (`unproven`).
//!
//! It refuses a marker that does not move down: one that repeats, or goes back up other than
//! once to recover the instant the previous answer skipped. So a sweep never loops.
//!
//! A sweep that stopped can be continued (`Pager::resume`) from the markers of the pages it
//! staged. What the pager knew then (which boundary the next request was to recover, whether an
//! answer had reached it) is not staged, so the resumed pager does not guess it: it asks again
//! from one step after the last staged page's marker, which serves that page's instants again
//! under either reading, and treats everything seen before that comes back as asked for.

use crate::time::{parse_api_time, shift_api_time};
use chrono::{DateTime, Utc};
use std::cmp::Ordering;

/// What the pager needs to know of one page.
#[derive(Debug, Clone, Copy)]
pub struct PageMeta<'a> {
    pub current_count: Option<u64>,
    pub next_marker: Option<&'a str>,
    /// `created_at` of each connection, in page order; the last one is the marker when
    /// `next_marker` is missing.
    pub created_at: &'a [Option<&'a str>],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    #[error(
        "page {page} is full but gives no next marker (no page_info.next_marker, no created_at \
         on its last connection)"
    )]
    NoMarker { page: i64 },
    #[error(
        "page {page} gives next marker {marker:?}, which does not move past the marker it was \
         requested with ({previous:?}); stopping instead of looping"
    )]
    MarkerDidNotAdvance {
        page: i64,
        marker: String,
        previous: String,
    },
}

/// How the service reads a marker, as far as its answers have shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Unknown,
    /// Serves only connections created strictly before the marker.
    Strict,
    /// Serves the marker's own instant too.
    Inclusive,
}

/// The last connection of a full page: its `created_at` text (or the page's `next_marker`).
#[derive(Debug, Clone)]
struct Boundary {
    text: String,
    at: Option<DateTime<Utc>>,
}

/// What a request after the first asks for.
#[derive(Debug, Clone)]
enum Ask {
    /// Before the boundary, with the marker as served.
    After(Boundary),
    /// The boundary's instant again and what is older: the marker one step after it.
    Recover(Boundary),
    /// Strictly older than the boundary: the marker as served, or one step before it.
    Past {
        boundary: Boundary,
        step_below: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Pager {
    limit: u32,
    page: i64,
    /// What the pending request asks for; `None` for the first page.
    ask: Option<Ask>,
    marker: Option<String>,
    reading: Reading,
    /// Instants that filled a whole page, in the order met.
    unproven: Vec<String>,
    /// Boundaries whose text is in no time format we know, so no marker can recover them.
    unrecoverable: Vec<String>,
    done: bool,
    /// The pending request asks again for pages a stopped sweep staged (`resume`).
    reask: bool,
}

/// The markers of one page a stopped sweep staged.
#[derive(Debug, Clone, Copy)]
pub struct StagedMarkers<'a> {
    /// The marker the page was requested with (`None`: the first page).
    pub marker: Option<&'a str>,
    /// The `next_marker` it was served with.
    pub next_marker: Option<&'a str>,
}

impl Pager {
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            page: 1,
            ask: None,
            marker: None,
            reading: Reading::Unknown,
            unproven: Vec::new(),
            unrecoverable: Vec::new(),
            done: false,
            reask: false,
        }
    }

    /// Continues a sweep that staged `staged` (its pages in order) and stopped; with nothing
    /// staged, starts one.
    ///
    /// The next request asks from one step after the last staged page's marker (from the start
    /// when that was the first page): whatever the stopped pager was about to ask, recovering a
    /// boundary's ties included, lies in what that request serves under either reading, at the
    /// cost of one page asked again. A service shown to be strict (a staged marker above the
    /// previous page's `next_marker`: a recovery) is taken as strict. Staged markers in no time
    /// format are reported by `unproven` as they were by the stopped pager.
    pub fn resume(limit: u32, staged: &[StagedMarkers<'_>]) -> Self {
        let mut pager = Self::new(limit);
        let Some(last) = staged.last() else {
            return pager;
        };
        pager.page = i64::try_from(staged.len()).unwrap_or(i64::MAX - 1) + 1;
        pager.marker = last
            .marker
            .map(|m| shift_api_time(m, 1).unwrap_or_else(|| m.to_owned()));
        pager.reask = true;
        let recovered = staged.windows(2).any(|pair| {
            let above = pair[1].marker.and_then(parse_api_time);
            let served = pair[0].next_marker.and_then(parse_api_time);
            above
                .zip(served)
                .is_some_and(|(above, served)| above > served)
        });
        if recovered {
            pager.reading = Reading::Strict;
        }
        pager.unrecoverable = staged
            .iter()
            .filter_map(|p| p.marker)
            .filter(|m| parse_api_time(m).is_none())
            .map(str::to_owned)
            .collect();
        pager
    }

    /// Whether the pending request asks again for what a stopped sweep staged (see `resume`):
    /// what it brings that the sweep has seen is no duplicate, and its lack of anything new
    /// is no sign of a sweep that does not progress.
    pub fn reasks(&self) -> bool {
        self.reask
    }

    /// 1-based number of the page to fetch next.
    pub fn page(&self) -> i64 {
        self.page
    }

    /// The marker to request the next page with (`None` for the first page).
    pub fn marker(&self) -> Option<&str> {
        self.marker.as_deref()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the service has shown that it serves a marker's own instant (an inclusive
    /// reading); until it does, the pending request is taken to bring what is older only.
    pub fn serves_marker_instant(&self) -> bool {
        self.reading == Reading::Inclusive
    }

    /// For the page requested with `marker()`, the marker's instant: ids seen earlier in the
    /// sweep and created before it are ones the request asked for again (the boundary instant
    /// after a recovery marker, or a page served before the pager went back up to recover
    /// one), not duplicates. A sweep going down never sees anything that old otherwise, so
    /// repeats an inclusive service adds at the marker, or any newer ones, stay duplicates.
    pub fn asked_before(&self) -> Option<DateTime<Utc>> {
        if self.reask {
            // A resumed sweep asks again for everything it staged from that page on.
            return Some(DateTime::<Utc>::MAX_UTC);
        }
        self.marker.as_deref().and_then(parse_api_time)
    }

    /// Why the sweep cannot prove it saw every connection of some instants, if it cannot.
    /// Only a complete count (an unfiltered sweep reaching `total_count`) can settle them.
    pub fn unproven(&self) -> Option<String> {
        let mut reasons = Vec::new();
        if let Some(first) = self.unproven.first() {
            reasons.push(format!(
                "{} page(s) held only connections created at one instant (first: {first}), \
                 so more connections created then than a page of {} holds could not be listed",
                self.unproven.len(),
                self.limit
            ));
        }
        if let Some(first) = self.unrecoverable.first() {
            reasons.push(format!(
                "{} marker(s) are in no known time format (first: {first:?}), so connections \
                 sharing their instant across a page boundary could not be recovered",
                self.unrecoverable.len()
            ));
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    /// Takes in the page just fetched and decides what comes next.
    pub fn advance(&mut self, meta: PageMeta<'_>) -> Result<(), PagingError> {
        let page = self.page;
        let instants: Vec<Option<DateTime<Utc>>> = meta
            .created_at
            .iter()
            .map(|t| t.and_then(parse_api_time))
            .collect();
        if std::mem::take(&mut self.reask) {
            // Only a service that reads markers inclusively serves the marker's own instant.
            let at = self.marker.as_deref().and_then(parse_api_time);
            if at.is_some_and(|at| instants.iter().flatten().any(|i| *i >= at)) {
                self.reading = Reading::Inclusive;
            }
        }
        if let Some(next) = self.check_answer(&instants) {
            return self.ask_next(next);
        }
        // An empty page ends the sweep. A short page does too, but only when both the item
        // count and current_count say so: stopping early would make a partial sweep look whole.
        let limit = u64::from(self.limit);
        let items = meta.created_at.len();
        let short = (items as u64) < limit && meta.current_count.unwrap_or(0) < limit;
        if items == 0 || short {
            self.done = true;
            return Ok(());
        }
        let text = meta
            .next_marker
            .filter(|m| !m.is_empty())
            .or(meta.created_at.last().copied().flatten())
            .ok_or(PagingError::NoMarker { page })?;
        let boundary = Boundary {
            text: text.to_owned(),
            at: parse_api_time(text),
        };
        let previous = match &self.ask {
            None => None,
            Some(Ask::After(b) | Ask::Recover(b) | Ask::Past { boundary: b, .. }) => b.at,
        };
        let next = match boundary.at {
            None => {
                self.unrecoverable.push(boundary.text.clone());
                Ask::After(boundary)
            }
            // No marker shows more of this instant than this page did: move past it.
            Some(at)
                if instants.iter().all(|i| *i == Some(at)) || previous.is_some_and(|p| at >= p) =>
            {
                self.unproven.push(boundary.text.clone());
                let step_below = self.reading == Reading::Inclusive;
                Ask::Past {
                    boundary,
                    step_below,
                }
            }
            Some(_) if self.reading == Reading::Strict => Ask::Recover(boundary),
            Some(_) => Ask::After(boundary),
        };
        self.ask_next(next)
    }

    /// Learns how the service reads markers from the answer to the pending request; returns
    /// the request to make instead when the answer cannot be used to go on.
    fn check_answer(&mut self, instants: &[Option<DateTime<Utc>>]) -> Option<Ask> {
        let (boundary, asked_past) = match &self.ask {
            Some(Ask::After(b)) => (b, false),
            Some(Ask::Past {
                boundary,
                step_below: false,
            }) => (boundary, true),
            _ => return None,
        };
        let at = boundary.at?;
        let reached = instants.iter().flatten().any(|i| *i >= at);
        match (reached, asked_past) {
            (true, false) => self.reading = Reading::Inclusive,
            (false, true) => self.reading = Reading::Strict,
            // Strictly before the instant may have skipped the rest of it: ask for it again.
            (false, false) => {
                self.reading = Reading::Strict;
                return Some(Ask::Recover(boundary.clone()));
            }
            // Inclusive: the marker as served cannot get past the instant.
            (true, true) => {
                self.reading = Reading::Inclusive;
                return Some(Ask::Past {
                    boundary: boundary.clone(),
                    step_below: true,
                });
            }
        }
        None
    }

    /// Makes `ask` the pending request, refusing a marker that does not move down.
    fn ask_next(&mut self, ask: Ask) -> Result<(), PagingError> {
        let (boundary, steps) = match &ask {
            Ask::After(b) => (b, 0),
            Ask::Recover(b) => (b, 1),
            Ask::Past {
                boundary,
                step_below,
            } => (boundary, -i64::from(*step_below)),
        };
        let marker = match steps {
            0 => boundary.text.clone(),
            _ => shift_api_time(&boundary.text, steps).unwrap_or_else(|| boundary.text.clone()),
        };
        // Going back up is allowed once per boundary: to recover the instant just asked past.
        let may_go_up =
            matches!((&ask, &self.ask), (Ask::Recover(b), Some(Ask::After(p))) if p.text == b.text);
        if let Some(previous) = &self.marker {
            let moved = parse_api_time(&marker)
                .zip(parse_api_time(previous))
                .map(|(next, prev)| next.cmp(&prev));
            let down = match moved {
                Some(Ordering::Less) => true,
                Some(Ordering::Greater) => may_go_up,
                Some(Ordering::Equal) => false,
                None => *previous != marker,
            };
            if !down {
                return Err(PagingError::MarkerDidNotAdvance {
                    page: self.page,
                    marker,
                    previous: previous.clone(),
                });
            }
        }
        self.ask = Some(ask);
        self.marker = Some(marker);
        self.page += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page of connections created at `times` (newest first), `next_marker` the last one.
    fn page<'a>(times: &'a [Option<&'a str>]) -> PageMeta<'a> {
        PageMeta {
            current_count: Some(times.len() as u64),
            next_marker: times.last().copied().flatten(),
            created_at: times,
        }
    }

    const T0: &str = "2022-12-11T13:59:59.640Z";
    const T1: &str = "2022-12-11T13:59:59.633Z";
    const T2: &str = "2022-12-09T07:24:27.674Z";
    const T3: &str = "2022-12-01T00:00:00.000Z";
    const T4: &str = "2022-11-30T00:00:00.000Z";

    #[test]
    fn a_strict_answer_is_asked_again_from_one_step_after_the_boundary() {
        let mut p = Pager::new(2);
        p.advance(page(&[Some(T0), Some(T1)])).unwrap();
        assert_eq!(
            (p.page(), p.marker(), p.asked_before()),
            (2, Some(T1), parse_api_time(T1))
        );
        // Nothing at T1 came back: a strict service, which may have skipped more of T1.
        p.advance(page(&[Some(T2), Some(T3)])).unwrap();
        let recover = "2022-12-11T13:59:59.634Z";
        assert_eq!((p.page(), p.marker()), (3, Some(recover)));
        assert_eq!(p.asked_before(), parse_api_time(recover));
        // From now on every boundary is asked again right away.
        p.advance(page(&[Some(T1), Some(T2)])).unwrap();
        assert_eq!(p.marker(), Some("2022-12-09T07:24:27.675Z"));
        p.advance(page(&[Some(T2), Some(T3)])).unwrap();
        assert_eq!(p.marker(), Some("2022-12-01T00:00:00.001Z"));
        p.advance(page(&[Some(T3)])).unwrap();
        assert!(p.is_done());
        assert_eq!(p.unproven(), None);
    }

    #[test]
    fn an_inclusive_answer_keeps_markers_as_served() {
        let mut p = Pager::new(2);
        p.advance(page(&[Some(T0), Some(T1)])).unwrap();
        p.advance(page(&[Some(T1), Some(T2)])).unwrap();
        assert_eq!((p.page(), p.marker()), (3, Some(T2)));
        p.advance(page(&[Some(T2), Some(T3)])).unwrap();
        assert_eq!(p.marker(), Some(T3));
        p.advance(page(&[Some(T3)])).unwrap();
        assert!(p.is_done());
    }

    #[test]
    fn a_short_strict_answer_still_recovers_the_boundary() {
        let mut p = Pager::new(2);
        p.advance(page(&[Some(T0), Some(T1)])).unwrap();
        p.advance(page(&[])).unwrap();
        assert!(!p.is_done());
        assert_eq!(p.marker(), Some("2022-12-11T13:59:59.634Z"));
        p.advance(page(&[Some(T1)])).unwrap();
        assert!(p.is_done());
    }

    #[test]
    fn a_page_of_one_instant_is_passed_strictly_and_left_unproven() {
        // Strict: the marker as served gets past it.
        let mut p = Pager::new(2);
        p.advance(page(&[Some(T1), Some(T1)])).unwrap();
        assert_eq!(p.marker(), Some(T1));
        p.advance(page(&[Some(T2), Some(T3)])).unwrap();
        // Learnt strict: the next boundary is recovered without asking as served first.
        assert_eq!(p.marker(), Some("2022-12-01T00:00:00.001Z"));
        let reason = p.unproven().expect("unproven");
        assert!(
            reason.contains("1 page(s)") && reason.contains(T1),
            "{reason}"
        );
        assert!(reason.contains("page of 2"), "{reason}");

        // Inclusive: the marker as served serves the instant again; one step before it does not.
        let mut p = Pager::new(2);
        p.advance(page(&[Some(T1), Some(T1)])).unwrap();
        p.advance(page(&[Some(T1), Some(T1)])).unwrap();
        assert_eq!(p.marker(), Some("2022-12-11T13:59:59.632Z"));
        p.advance(page(&[Some(T2), Some(T3)])).unwrap();
        assert_eq!(p.marker(), Some(T3));
        // A page that does not get past the boundary it was asked after is no better.
        p.advance(page(&[Some(T3), Some(T3)])).unwrap();
        assert_eq!(p.marker(), Some("2022-11-30T23:59:59.999Z"));
        assert!(p.unproven().unwrap().contains("2 page(s)"));
    }

    #[test]
    fn page_size_one_never_loops_on_the_overlap() {
        // Each page is one instant: asking it again would serve the same connection forever.
        let mut p = Pager::new(1);
        for (t, next) in [(T1, T1), (T2, T2), (T3, T3)] {
            p.advance(page(&[Some(t)])).unwrap();
            assert_eq!(p.marker(), Some(next));
        }
        p.advance(page(&[])).unwrap();
        assert!(p.is_done());
        assert_eq!(p.page(), 4);
    }

    #[test]
    fn falls_back_to_the_last_created_at() {
        let mut p = Pager::new(1);
        let times = [Some(T1)];
        p.advance(PageMeta {
            current_count: None,
            next_marker: None,
            created_at: &times,
        })
        .unwrap();
        assert_eq!(p.marker(), Some(T1));
        let err = p.advance(PageMeta {
            current_count: None,
            next_marker: Some(""),
            created_at: &[None],
        });
        assert_eq!(err, Err(PagingError::NoMarker { page: 2 }));
    }

    #[test]
    fn a_marker_that_repeats_or_turns_back_is_an_error() {
        let stuck = |meta: PageMeta<'_>, p: &mut Pager| match p.advance(meta) {
            Err(PagingError::MarkerDidNotAdvance { page, .. }) => page,
            other => panic!("{other:?}"),
        };
        // The answer's next_marker repeats the marker it was asked with.
        let mut p = Pager::new(2);
        p.advance(page(&[Some(T0), Some(T1)])).unwrap();
        let times = [Some(T1), Some(T2)];
        let repeat = PageMeta {
            next_marker: Some(T1),
            ..page(&times)
        };
        // The first time it is taken for a page that did not get past T1: step below it.
        p.advance(repeat).unwrap();
        assert_eq!(p.marker(), Some("2022-12-11T13:59:59.632Z"));
        let times = [Some(T2), Some(T3)];
        let repeat = PageMeta {
            next_marker: Some("2022-12-11T13:59:59.632Z"),
            ..page(&times)
        };
        assert_eq!(stuck(repeat, &mut p), 3);

        // Same instant written differently does not move either.
        let mut p = Pager::new(1);
        p.advance(page(&[Some("2022-12-11T13:59:59Z")])).unwrap();
        let times = [Some(T2)];
        let other_spelling = PageMeta {
            next_marker: Some("2022-12-11T13:59:59"),
            ..page(&times)
        };
        assert_eq!(stuck(other_spelling, &mut p), 2);

        // Markers go down; up only once, to recover the instant just asked past.
        let mut p = Pager::new(2);
        p.advance(page(&[Some(T1), Some(T2)])).unwrap();
        p.advance(page(&[Some(T3), Some(T4)])).unwrap();
        let times = [Some(T2), Some(T3)];
        let back_up = PageMeta {
            next_marker: Some(T0),
            ..page(&times)
        };
        assert_eq!(stuck(back_up, &mut p), 3);
    }

    #[test]
    fn an_unknown_marker_format_is_passed_back_and_reported() {
        let mut p = Pager::new(1);
        p.advance(page(&[Some("yesterday")])).unwrap();
        assert_eq!(p.marker(), Some("yesterday"));
        p.advance(page(&[Some("the day before")])).unwrap();
        let reason = p.unproven().unwrap();
        assert!(
            reason.contains("2 marker(s)") && reason.contains("yesterday"),
            "{reason}"
        );
    }

    /// A service over `times` (newest first; an id is its index), reading markers strictly or
    /// inclusively: the page it serves for `marker`, as ids and times.
    fn serve<'a>(
        times: &'a [&'a str],
        inclusive: bool,
        marker: Option<&str>,
        limit: u32,
    ) -> Vec<(usize, &'a str)> {
        let before = marker.and_then(parse_api_time);
        times
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                let t = parse_api_time(t).unwrap();
                before.is_none_or(|m| if inclusive { t <= m } else { t < m })
            })
            .map(|(i, t)| (i, *t))
            .take(limit as usize)
            .collect()
    }

    /// One page a test sweep took in: its request marker, its last time, the ids it served.
    struct Taken {
        marker: Option<String>,
        last: Option<String>,
        ids: Vec<usize>,
    }

    /// Sweeps with `pager` until done; returns the pages taken in.
    fn sweep(pager: &mut Pager, times: &[&str], inclusive: bool, limit: u32) -> Vec<Taken> {
        let mut pages = Vec::new();
        while !pager.is_done() {
            assert!(pages.len() < 100, "the sweep does not end");
            let marker = pager.marker().map(str::to_owned);
            let page = serve(times, inclusive, marker.as_deref(), limit);
            let created: Vec<Option<&str>> = page.iter().map(|(_, t)| Some(*t)).collect();
            if let Err(e) = pager.advance(super::tests::page(&created)) {
                panic!("inclusive {inclusive}, limit {limit}, marker {marker:?}: {e}");
            }
            pages.push(Taken {
                marker,
                last: created.last().copied().flatten().map(str::to_owned),
                ids: page.iter().map(|(i, _)| *i).collect(),
            });
        }
        pages
    }

    #[test]
    fn a_resumed_sweep_sees_everything_and_asks_one_page_again() {
        // Pairs and triples of ties, so boundaries fall inside ties at every page size.
        let times: Vec<String> = (0..10)
            .flat_map(|g| {
                let time = format!("2022-12-11T13:59:{:02}.500Z", 59 - g);
                std::iter::repeat_n(time, 2 + g % 2)
            })
            .collect();
        let times: Vec<&str> = times.iter().map(String::as_str).collect();
        for inclusive in [false, true] {
            for limit in [3, 4, 5] {
                let full = sweep(&mut Pager::new(limit), &times, inclusive, limit);
                let case = format!("inclusive {inclusive}, limit {limit}");
                for stop in 1..full.len() {
                    let staged: Vec<StagedMarkers<'_>> = full[..stop]
                        .iter()
                        .map(|p| StagedMarkers {
                            marker: p.marker.as_deref(),
                            next_marker: p.last.as_deref(),
                        })
                        .collect();
                    let mut pager = Pager::resume(limit, &staged);
                    assert_eq!(pager.page(), stop as i64 + 1, "{case}");
                    assert!(pager.reasks());
                    let rest = sweep(&mut pager, &times, inclusive, limit);
                    assert!(!pager.reasks());
                    let mut seen: Vec<usize> = full[..stop]
                        .iter()
                        .chain(&rest)
                        .flat_map(|p| p.ids.iter().copied())
                        .collect();
                    seen.sort_unstable();
                    seen.dedup();
                    assert_eq!(seen.len(), times.len(), "{case}, stopped after {stop}");
                    // The page asked again; past an instant that fills a page, perhaps one
                    // more answer to learn how the service reads markers.
                    let asked = stop + rest.len();
                    let again = if limit > 3 { 1 } else { 2 };
                    assert!(asked <= full.len() + again, "{case}: {asked} requests");
                    // Groups of 3 fill pages of 3: only then is an instant unproven.
                    if limit > 3 {
                        assert_eq!(pager.unproven(), None, "{case}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_resumed_pager_asks_from_one_step_after_the_last_marker() {
        let staged = [
            StagedMarkers {
                marker: None,
                next_marker: Some(T1),
            },
            // Asked again from one step after T1: a strict service.
            StagedMarkers {
                marker: Some("2022-12-11T13:59:59.634Z"),
                next_marker: Some(T2),
            },
        ];
        let p = Pager::resume(2, &staged);
        assert_eq!(
            (p.page(), p.marker()),
            (3, Some("2022-12-11T13:59:59.635Z"))
        );
        assert_eq!(p.asked_before(), Some(DateTime::<Utc>::MAX_UTC));
        assert_eq!(p.reading, Reading::Strict);
        // Only the first page staged: the sweep starts over, and nothing seen is a duplicate.
        let p = Pager::resume(2, &staged[..1]);
        assert_eq!(
            (p.page(), p.marker(), p.reading),
            (2, None, Reading::Unknown)
        );
        assert!(p.reasks());
        // A marker in no known format is asked with as it is, and still reported.
        let odd = [
            staged[0],
            StagedMarkers {
                marker: Some("yesterday"),
                next_marker: None,
            },
        ];
        let p = Pager::resume(2, &odd);
        assert_eq!(p.marker(), Some("yesterday"));
        assert!(p.unproven().unwrap().contains("yesterday"));
    }

    #[test]
    fn a_short_page_claiming_a_full_count_is_followed() {
        // Trusting only one of the two counts could end a sweep early and lose connections.
        let mut p = Pager::new(3);
        let times = [Some(T1), Some(T2)];
        p.advance(PageMeta {
            current_count: Some(3),
            ..page(&times)
        })
        .unwrap();
        assert!(!p.is_done());
    }
}
