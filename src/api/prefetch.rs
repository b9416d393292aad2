//! The sweep's HTTP pipeline: one page request at a time, and the next one sent early when that
//! pays.
//!
//! [`Fetcher::next`] gets the page a [`Pager`] asks for and reads it in full. The request after
//! it, as a quick reading of the answer gives it ([`ahead_of`]), goes out while the page is read
//! in full when that pays ([`sends_early`]): the reading is in the marker chain otherwise, about
//! 3 ms of a 200-connection page. An early request is used only if the pager, having taken the
//! page in, asks the same; otherwise it is dropped and the right one sent. Network waits give
//! way to a shutdown request. Nothing here knows about runs or storage.

use super::client::{RawPage, VpnClient};
use super::error::FetchError;
use super::filters::Filters;
use super::page::ListPage;
use super::paging::{PageMeta, Pager};
use crate::shutdown::{Shutdown, Stopped};
use anyhow::Context as _;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tracing::Instrument as _;

/// The target of the sweep's log lines and spans: the module the sweep was first written in,
/// kept because `VPN_INVENTORY_LOG` filters, JSON lines (`module`) and the progress bar name it.
pub const SWEEP_LOG_TARGET: &str = "vpn_inventory::sync";

/// A page as errors and logs name it: its number and the marker it was asked with.
pub fn describe_page(page: i64, marker: Option<&str>) -> String {
    match marker {
        None => format!("page {page} (first page, no marker)"),
        Some(m) => format!("page {page} (marker {m})"),
    }
}

async fn fetch(
    client: &VpnClient,
    filters: &Filters,
    limit: u32,
    pager: &Pager,
) -> anyhow::Result<RawPage> {
    // A span at warn level: the client's retry warnings then name the page.
    let span = tracing::warn_span!(target: SWEEP_LOG_TARGET, "page", page = pager.page());
    client
        .list_page(filters, limit, pager.marker())
        .instrument(span)
        .await
        .with_context(|| {
            format!(
                "cannot fetch {}",
                describe_page(pager.page(), pager.marker())
            )
        })
}

/// A request for a page, on its way (or its answer already in).
type Request<'a> = Pin<Box<dyn Future<Output = anyhow::Result<RawPage>> + Send + 'a>>;

/// The request for the page after one just read, sent early: with the pager that asked it, as
/// a quick reading of that page made it.
pub struct Early<'a> {
    asked: Pager,
    request: Request<'a>,
}

/// A page read in full, and the request for the page after it if that went out early.
pub struct Arrived<'a> {
    pub page: ListPage,
    pub early: Option<Early<'a>>,
}

/// Fetches and reads a sweep's pages, one after the other (see the module's text).
pub struct Fetcher<'a> {
    client: &'a VpnClient,
    filters: &'a Filters,
    limit: u32,
    shutdown: &'a Shutdown,
    /// How long the last page took to read.
    last_read: Option<Duration>,
}

impl<'a> Fetcher<'a> {
    pub fn new(
        client: &'a VpnClient,
        filters: &'a Filters,
        limit: u32,
        shutdown: &'a Shutdown,
    ) -> Self {
        Self {
            client,
            filters,
            limit,
            shutdown,
            last_read: None,
        }
    }

    fn request(&self, pager: &Pager) -> Request<'a> {
        let (client, filters, limit) = (self.client, self.filters, self.limit);
        let pager = pager.clone();
        Box::pin(async move { fetch(client, filters, limit, &pager).await })
    }

    /// The page `pager` asks for: the answer to `early` if that asked the same.
    pub async fn next(
        &mut self,
        pager: &Pager,
        early: Option<Early<'a>>,
    ) -> Result<Arrived<'a>, Stopped> {
        let request = match early {
            Some(Early { asked, request })
                if asked.page() == pager.page() && asked.marker() == pager.marker() =>
            {
                request
            }
            // Dropped, and with it the request sent early: another one is due.
            _ => self.request(pager),
        };
        // Network waits give way to a signal.
        let raw = tokio::select! {
            raw = request => raw?,
            interrupted = self.shutdown.requested() => return Err(interrupted.into()),
        };
        let ahead = sends_early(raw.waited(), self.last_read)
            .then(|| ahead_of(pager, &raw))
            .flatten();
        let mut early = ahead.map(|ahead| {
            tracing::debug!(
                target: SWEEP_LOG_TARGET,
                page = ahead.page(),
                "asking for the next page before reading"
            );
            let request = self.request(&ahead);
            Early {
                asked: ahead,
                request,
            }
        });
        let reading = Instant::now();
        let (page, answered) = read_page(raw, early.as_mut().map(|e| &mut e.request)).await;
        self.last_read = Some(reading.elapsed());
        if let (Some(early), Some(answer)) = (early.as_mut(), answered) {
            early.request = Box::pin(std::future::ready(answer));
        }
        let page = page.map_err(anyhow::Error::from).with_context(|| {
            format!(
                "cannot fetch {}",
                describe_page(pager.page(), pager.marker())
            )
        })?;
        Ok(Arrived { page, early })
    }
}

/// Whether to send the next request before a page is read in full: when its answer took
/// four times as long as reading the last page did. Sent early, it overlaps the reading
/// with the service's time to answer; against a service that answers at once (a simulator
/// on the same two cores) the quick reading, the full one and the next answer would only
/// compete for the cores.
fn sends_early(waited: Duration, last_read: Option<Duration>) -> bool {
    last_read.is_some_and(|read| waited >= read * 4)
}

/// The pager as it will be after `raw`, by a quick reading of the page's markers (see
/// [`RawPage::markers`]), when it will ask for another page; `None` when the quick reading
/// cannot tell.
fn ahead_of(pager: &Pager, raw: &RawPage) -> Option<Pager> {
    let markers = raw.markers()?;
    let created_at = markers.created_at();
    let mut ahead = pager.clone();
    ahead
        .advance(PageMeta {
            current_count: markers.current_count(),
            next_marker: markers.next_marker(),
            created_at: &created_at,
        })
        .ok()?;
    (!ahead.is_done()).then_some(ahead)
}

/// Reads `raw` in full, on a blocking thread while the request sent `early` (if any) makes
/// progress; with that request's result when it ended first (a server quicker than the
/// reading).
async fn read_page<F: Future + Unpin>(
    raw: RawPage,
    early: Option<&mut F>,
) -> (Result<ListPage, FetchError>, Option<F::Output>) {
    let Some(early) = early else {
        return (raw.parse(), None);
    };
    let mut reading = tokio::task::spawn_blocking(move || raw.parse());
    let mut answer = None;
    loop {
        tokio::select! {
            biased;
            read = &mut reading => {
                let read = read.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
                return (read, answer);
            }
            done = &mut *early, if answer.is_none() => answer = Some(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_go_early_only_when_the_service_takes_longer_than_reading() {
        let ms = Duration::from_millis;
        // The first page: nothing read yet to compare with.
        assert!(!sends_early(ms(50), None));
        // A region 50 ms away against a 3 ms reading; a simulator on the same cores.
        assert!(sends_early(ms(50), Some(ms(3))));
        assert!(!sends_early(ms(8), Some(ms(3))));
    }

    #[test]
    fn pages_are_named_by_number_and_marker() {
        assert_eq!(describe_page(1, None), "page 1 (first page, no marker)");
        assert_eq!(describe_page(3, Some("m")), "page 3 (marker m)");
    }
}
