//! The sweep's HTTP pipeline: one page request at a time, and the next one sent early when that
//! pays.
//!
//! [`Fetcher::next`] gets the page a [`Pager`] asks for and reads it in full. The request after
//! it, as a quick reading of the answer gives it ([`ahead_of`]), goes out while the page is read
//! in full when that pays ([`sends_early`]): the reading is in the marker chain otherwise, about
//! 3 ms of a 200-connection page. An early request is used only if the pager, having taken the
//! page in, asks the same; otherwise it is dropped and the right one sent. Network waits give
//! way to a shutdown request. Nothing here knows about runs or storage.
//!
//! Foreseeing ([`Fetcher::foreseeing`], `sync --fetch-concurrency`): a marker is the
//! `created_at` of a page's last connection, so what the inventory held foretells the markers
//! of the pages to come. The fetcher runs a copy of the pager over the pages it expects
//! ([`Foresee`]) and sends their requests at once, several on the way together. The sweep
//! still asks for one page after the other: a request sent ahead answers it only when it is
//! the very request the pager makes (the same page and marker), so the pages a sweep reads
//! are those a sequential sweep reads. A wrong guess costs requests, never a different
//! answer: the requests sent after it are dropped and foreseen again from the pager's own
//! marker.

use super::client::{RawPage, VpnClient};
use super::error::FetchError;
use super::filters::Filters;
use super::page::ListPage;
use super::paging::{PageMeta, Pager};
use crate::shutdown::{Shutdown, Stopped};
use anyhow::Context as _;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
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
    /// Requests sent ahead of their turn, when foreseeing.
    ahead: Option<Ahead<'a>>,
    /// The size of the last page's body: what each request sent ahead is expected to hold.
    last_bytes: Option<usize>,
}

/// The most bytes of answers that requests sent ahead may be expected to hold at once: pages
/// of 200 connections (about 270 KB) never reach it; pages of 2,000 limit the requests ahead
/// to about six, so that memory stays flat.
const AHEAD_BYTES: usize = 16 << 20;

/// What a sweep expects of the pages to come.
pub trait Foresee: Sync {
    /// The `created_at` of the connections the request with `marker` is expected to bring,
    /// newest first, at most `limit`: those created before `marker` (at or before it when
    /// `inclusive`; all, without a marker). `None`: no guess.
    fn created_at<'s>(
        &'s self,
        marker: Option<&'s str>,
        inclusive: bool,
        limit: u32,
    ) -> Pin<Box<dyn Future<Output = Option<Vec<String>>> + Send + 's>>;
}

/// The requests sent ahead of their turn, and how to foresee more.
struct Ahead<'a> {
    foresee: &'a dyn Foresee,
    /// How many may be on the way besides the one the pager makes.
    depth: usize,
    /// In the order the pager is expected to make them: the pager as it would be when making
    /// each, and its answer on the way.
    sent: VecDeque<(Pager, Spawned)>,
    /// The client's retries when foreseeing began: a service that throttles or fails is not
    /// sent requests ahead from then on.
    retries: u64,
}

/// A request on a task of its own, given up when dropped.
struct Spawned(JoinHandle<anyhow::Result<RawPage>>);

impl Drop for Spawned {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Future for Spawned {
    type Output = anyhow::Result<RawPage>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(answer) => answer,
            Err(e) => Err(anyhow::anyhow!("a request sent ahead ended: {e}")),
        })
    }
}

/// Sends the request `pager` makes at once, on a task of its own (in the caller's span).
fn spawn(client: &VpnClient, filters: &Filters, limit: u32, pager: &Pager) -> Spawned {
    let (client, filters, pager) = (client.clone(), filters.clone(), pager.clone());
    let request = async move { fetch(&client, &filters, limit, &pager).await };
    Spawned(tokio::spawn(request.in_current_span()))
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
            ahead: None,
            last_bytes: None,
        }
    }

    /// Sends up to `depth` requests ahead of the one the pager makes, as `foresee` expects
    /// the pages to come (see the module's text); `depth` 0 sends none.
    pub fn foreseeing(mut self, foresee: &'a dyn Foresee, depth: usize) -> Self {
        self.ahead = (depth > 0).then(|| Ahead {
            foresee,
            depth,
            sent: VecDeque::new(),
            retries: self.client.retries(),
        });
        self
    }

    /// The request sent ahead for `pager`, if one was: the first sent, when it is the request
    /// the pager makes. When it is not, a guess went wrong, and every request sent after it
    /// followed from that guess: they are dropped.
    fn sent_ahead(&mut self, pager: &Pager) -> Option<Request<'a>> {
        let ahead = self.ahead.as_mut()?;
        let (asked, _) = ahead.sent.front()?;
        if asked.page() == pager.page() && asked.marker() == pager.marker() {
            let (_, answer) = ahead.sent.pop_front()?;
            return Some(Box::pin(answer));
        }
        tracing::debug!(
            target: SWEEP_LOG_TARGET,
            page = pager.page(),
            dropped = ahead.sent.len(),
            "the page came otherwise than foreseen: requests sent ahead dropped"
        );
        ahead.sent.clear();
        None
    }

    /// Sends requests ahead of `pager`'s until `depth` are on the way: the pager, run over
    /// the pages foreseen, gives each request. Stops at a page it expects to be the last, at
    /// a guess it cannot make, and for good once the client has had to retry.
    async fn send_ahead(&mut self, pager: &Pager) {
        let Some(ahead) = self.ahead.as_mut() else {
            return;
        };
        if self.client.retries() > ahead.retries {
            tracing::debug!(
                target: SWEEP_LOG_TARGET,
                "the service asked for retries: no more requests sent ahead"
            );
            self.ahead = None;
            return;
        }
        let mut from = match ahead.sent.back() {
            Some((asked, _)) => asked.clone(),
            None => pager.clone(),
        };
        // Before the first page, a page's size as the simulator's connections make it.
        let page_bytes = self.last_bytes.unwrap_or(self.limit as usize * 1_400);
        let depth = within_bytes(ahead.depth, page_bytes);
        while ahead.sent.len() < depth {
            let inclusive = from.serves_marker_instant();
            let foreseen = ahead
                .foresee
                .created_at(from.marker(), inclusive, self.limit);
            let Some(times) = foreseen.await else {
                break;
            };
            let created_at: Vec<Option<&str>> = times.iter().map(|t| Some(t.as_str())).collect();
            let mut next = from.clone();
            let meta = PageMeta {
                current_count: Some(times.len() as u64),
                next_marker: times.last().map(String::as_str),
                created_at: &created_at,
            };
            if next.advance(meta).is_err() || next.is_done() {
                break;
            }
            let answer = spawn(self.client, self.filters, self.limit, &next);
            ahead.sent.push_back((next.clone(), answer));
            from = next;
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
            _ => match self.sent_ahead(pager) {
                Some(request) => request,
                // On its way at once, while the requests after it are foreseen.
                None if self.ahead.is_some() => {
                    Box::pin(spawn(self.client, self.filters, self.limit, pager))
                }
                None => self.request(pager),
            },
        };
        self.send_ahead(pager).await;
        let foreseeing = self.ahead.as_ref().is_some_and(|a| !a.sent.is_empty());
        // Network waits give way to a signal.
        let raw = tokio::select! {
            raw = request => raw?,
            interrupted = self.shutdown.requested() => return Err(interrupted.into()),
        };
        // Not while requests sent ahead are on the way: the first of them is that request.
        let ahead = (!foreseeing && sends_early(raw.waited(), self.last_read))
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
        self.last_bytes = Some(raw.body().len());
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

/// How many requests to have on the way ahead, at most `depth`, for answers of `page_bytes`
/// each: as many as [`AHEAD_BYTES`] holds, and one however large the pages.
fn within_bytes(depth: usize, page_bytes: usize) -> usize {
    depth.min(AHEAD_BYTES / page_bytes.max(1)).max(1)
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
    fn requests_ahead_hold_a_bounded_size_of_answers() {
        // Pages of 200 connections: as many as asked for.
        assert_eq!(within_bytes(15, 270_000), 15);
        // Pages of 2,000: about 16 MiB of them.
        assert_eq!(within_bytes(15, 2_700_000), 6);
        // One, however large a page; and an empty page bounds nothing.
        assert_eq!(within_bytes(15, 64 << 20), 1);
        assert_eq!(within_bytes(15, 0), 15);
    }

    #[test]
    fn pages_are_named_by_number_and_marker() {
        assert_eq!(describe_page(1, None), "page 1 (first page, no marker)");
        assert_eq!(describe_page(3, Some("m")), "page 3 (marker m)");
    }
}
