//! Marker paging decisions, free of I/O.
//!
//! The list API pages by `marker` = the `created_at` of the last connection of the previous
//! page, newest first. `Pager` decides whether a sweep is finished and which marker comes next,
//! and refuses a marker that does not move: two connections may share a `created_at`, and a
//! marker stuck on such a tie would otherwise loop forever.

use crate::time::parse_api_time;
use chrono::{DateTime, Utc};
use std::cmp::Ordering;

/// What the pager needs to know of one page.
#[derive(Debug, Clone, Copy)]
pub struct PageMeta<'a> {
    pub items: usize,
    pub current_count: Option<u64>,
    pub next_marker: Option<&'a str>,
    /// `created_at` of the page's last connection: the marker when `next_marker` is missing.
    pub last_created_at: Option<&'a str>,
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

#[derive(Debug, Clone)]
pub struct Pager {
    limit: u32,
    page: i64,
    marker: Option<String>,
    marker_time: Option<DateTime<Utc>>,
    /// The way markers move (newest first means `Less`); learnt from the first move.
    direction: Option<Ordering>,
    done: bool,
}

impl Pager {
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            page: 1,
            marker: None,
            marker_time: None,
            direction: None,
            done: false,
        }
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

    /// Takes in the page just fetched and decides what comes next.
    pub fn advance(&mut self, meta: PageMeta<'_>) -> Result<(), PagingError> {
        let page = self.page;
        // An empty page ends the sweep. A short page does too, but only when both the item
        // count and current_count say so: stopping early would make a partial sweep look whole.
        let limit = u64::from(self.limit);
        let short = (meta.items as u64) < limit && meta.current_count.unwrap_or(0) < limit;
        if meta.items == 0 || short {
            self.done = true;
            return Ok(());
        }
        let next = meta
            .next_marker
            .filter(|m| !m.is_empty())
            .or(meta.last_created_at)
            .ok_or(PagingError::NoMarker { page })?;
        let next_time = parse_api_time(next);
        if let Some(previous) = &self.marker {
            let stuck = || PagingError::MarkerDidNotAdvance {
                page,
                marker: next.to_owned(),
                previous: previous.clone(),
            };
            if previous == next {
                return Err(stuck());
            }
            if let (Some(prev_t), Some(next_t)) = (self.marker_time, next_time) {
                let moved = next_t.cmp(&prev_t);
                if moved == Ordering::Equal || self.direction.is_some_and(|d| d != moved) {
                    return Err(stuck());
                }
                self.direction = Some(moved);
            }
        }
        self.marker = Some(next.to_owned());
        self.marker_time = next_time;
        self.page += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta<'a>(items: usize, next: Option<&'a str>) -> PageMeta<'a> {
        PageMeta {
            items,
            current_count: Some(items as u64),
            next_marker: next,
            last_created_at: None,
        }
    }

    #[test]
    fn follows_markers_until_a_short_page() {
        let mut p = Pager::new(2);
        p.advance(meta(2, Some("2022-12-11T13:59:59.633Z")))
            .unwrap();
        assert_eq!(
            (p.page(), p.marker()),
            (2, Some("2022-12-11T13:59:59.633Z"))
        );
        p.advance(meta(2, Some("2022-12-09T07:24:27.674Z")))
            .unwrap();
        assert!(!p.is_done());
        p.advance(meta(1, Some("2022-12-01T00:00:00Z"))).unwrap();
        assert!(p.is_done());
    }

    #[test]
    fn empty_page_and_exactly_full_last_page() {
        let mut p = Pager::new(2);
        p.advance(meta(2, Some("2022-12-11T13:59:59.633Z")))
            .unwrap();
        p.advance(meta(0, None)).unwrap();
        assert!(p.is_done());
    }

    #[test]
    fn falls_back_to_last_created_at() {
        let mut p = Pager::new(1);
        p.advance(PageMeta {
            items: 1,
            current_count: None,
            next_marker: None,
            last_created_at: Some("2022-12-11T13:59:59.633Z"),
        })
        .unwrap();
        assert_eq!(p.marker(), Some("2022-12-11T13:59:59.633Z"));
        let err = p.advance(PageMeta {
            items: 1,
            current_count: None,
            next_marker: Some(""),
            last_created_at: None,
        });
        assert_eq!(err, Err(PagingError::NoMarker { page: 2 }));
    }

    #[test]
    fn a_marker_that_repeats_or_turns_back_is_an_error() {
        let mut p = Pager::new(1);
        p.advance(meta(1, Some("2022-12-11T13:59:59.633Z")))
            .unwrap();
        let err = p
            .advance(meta(1, Some("2022-12-11T13:59:59.633Z")))
            .unwrap_err();
        assert!(matches!(
            err,
            PagingError::MarkerDidNotAdvance { page: 2, .. }
        ));

        // Same instant written differently does not advance either.
        let mut p = Pager::new(1);
        p.advance(meta(1, Some("2022-12-11T13:59:59Z"))).unwrap();
        assert!(p.advance(meta(1, Some("2022-12-11T13:59:59"))).is_err());

        let mut p = Pager::new(1);
        p.advance(meta(1, Some("2022-12-11T00:00:03Z"))).unwrap();
        p.advance(meta(1, Some("2022-12-11T00:00:02Z"))).unwrap();
        let err = p
            .advance(meta(1, Some("2022-12-11T00:00:04Z")))
            .unwrap_err();
        assert!(err.to_string().contains("page 3"), "{err}");
    }

    #[test]
    fn a_short_page_claiming_a_full_count_is_followed() {
        // Trusting only one of the two counts could end a sweep early and lose connections.
        let mut p = Pager::new(3);
        p.advance(PageMeta {
            items: 2,
            current_count: Some(3),
            next_marker: Some("2022-12-11T00:00:03Z"),
            last_created_at: None,
        })
        .unwrap();
        assert!(!p.is_done());
    }
}
