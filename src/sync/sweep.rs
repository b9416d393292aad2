//! The sweep's I/O loop: fetch every page from where a [`SweepState`] stands, prepare each for
//! staging and hand it to a [`PageSink`] while the next one downloads.
//!
//! What each page means (the next marker, overlap, idle pages, the count guard) is the
//! state's to decide (`sweep_state.rs`); fetching, and sending the next request early, is
//! `api::prefetch`'s. The next page is fetched while the current one is prepared and staged,
//! so a run costs little more than the download itself, and memory holds at most two pages
//! (and the ids seen). Preparing a page asks the sink what the inventory holds of its
//! connections, and parses only those served as other bytes ([`prepare`]).

use super::foresight::Foresight;
use super::report::RunError;
use super::sweep_state::{Ledger, SweepState, Swept, Turn, count};
use crate::api::client::VpnClient;
use crate::api::filters::Filters;
use crate::api::model::VpnConnection;
use crate::api::page::ListPage;
use crate::api::paging::PageMeta;
use crate::api::prefetch::{Arrived, Fetcher, SWEEP_LOG_TARGET, describe_page};
use crate::scope::Scope;
use crate::shutdown::{Interrupted, Shutdown};
use crate::store::{PageToStage, StageOutcome, StagedConnection, Store, StoredHashes};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Where a sweep's pages go: the run's staging, or (a dry run) memory.
pub(crate) trait PageSink {
    /// What the inventory holds of these connections (by id): which of a page's connections
    /// it has seen as served, and which content it holds.
    fn stored(
        &self,
        ids: &[&str],
    ) -> impl Future<Output = anyhow::Result<HashMap<String, StoredHashes>>> + Send;

    /// Starts storing `page` on a task of its own, so that the sweep fetches and prepares
    /// the next page meanwhile; the handle gives the outcome.
    fn stage(&self, page: PreparedPage) -> JoinHandle<anyhow::Result<StageOutcome>>;
}

/// One page checked and ready to stage, owning its parts (its staging outlives the loop
/// iteration that prepared it).
pub(crate) struct PreparedPage {
    page_no: i64,
    marker: Option<String>,
    next_marker: Option<String>,
    request_id: Option<String>,
    fetched_at: DateTime<Utc>,
    pub(super) connections: Vec<StagedConnection>,
    /// For each connection, whether the sweep took it in before (on an earlier page, or
    /// earlier on this one): staging stores it once.
    pub(super) repeats: Vec<bool>,
    /// What the inventory held of them when the page was prepared.
    pub(super) stored: HashMap<String, StoredHashes>,
}

impl PreparedPage {
    pub(super) fn to_stage(&self) -> PageToStage<'_> {
        PageToStage {
            page_no: self.page_no,
            marker: self.marker.as_deref(),
            next_marker: self.next_marker.as_deref(),
            request_id: self.request_id.as_deref(),
            fetched_at: self.fetched_at,
            connections: &self.connections,
        }
    }
}

/// A page being staged: which one, and the handle of its staging.
struct Staging {
    page_no: i64,
    described: String,
    handle: JoinHandle<anyhow::Result<StageOutcome>>,
}

/// How long a page being staged may go on after a signal: writing one takes moments; a page
/// still waiting for SQLite's write lock (another process's) after that gives way.
const STAGING_GRACE: Duration = Duration::from_secs(2);

impl Staging {
    /// Waits for the page to be stored: its outcome, or why it was not. On a signal, a page
    /// that is not stored within [`STAGING_GRACE`] is given up (its transaction rolls back):
    /// `Interrupted`.
    async fn outcome(self, shutdown: &Shutdown) -> anyhow::Result<(i64, StageOutcome)> {
        let mut handle = self.handle;
        let joined = tokio::select! {
            joined = &mut handle => joined,
            interrupted = shutdown.requested() => {
                match tokio::time::timeout(STAGING_GRACE, &mut handle).await {
                    Ok(joined) => joined,
                    Err(_) => {
                        handle.abort();
                        return Err(interrupted.into());
                    }
                }
            }
        };
        let staged = match joined {
            Ok(staged) => staged,
            Err(e) => Err(anyhow::anyhow!("the staging task ended: {e}")),
        };
        let outcome = staged.with_context(|| format!("cannot stage {}", self.described))?;
        Ok((self.page_no, outcome))
    }
}

/// Counts the repeats staging found on a page, and says so.
fn tally(ledger: &mut Ledger, (page_no, outcome): (i64, StageOutcome)) {
    ledger.add_duplicates(outcome.duplicates);
    if outcome.duplicates > 0 {
        tracing::warn!(
            target: SWEEP_LOG_TARGET,
            page = page_no,
            duplicates = outcome.duplicates,
            "ids repeated across pages were ignored"
        );
    }
}

/// How a sweep asks for pages: their size, and how many requests it may have on the way at
/// once (the one the pager makes, and those sent ahead as `foresight` expects the pages).
pub(super) struct Fetching {
    page_size: u32,
    concurrency: u16,
    foresight: Option<Foresight>,
}

impl Fetching {
    /// Pages of `page_size`, `concurrency` requests at once when `store` holds a project's
    /// inventory to foresee the pages of `scope` by (one at a time otherwise).
    pub(super) fn new(
        store: Option<&Store>,
        scope: &Scope,
        page_size: u32,
        concurrency: u16,
    ) -> Self {
        let foresight = store
            .filter(|_| concurrency > 1)
            .and_then(|store| Foresight::of(store, &scope.project_id, &scope.filters));
        Self {
            page_size,
            concurrency,
            foresight,
        }
    }
}

/// Fetches every page from where `state` stands and hands each to `sink` while the next
/// one downloads. Bounded: pages that bring nothing new, or far more than the API's count,
/// end it with an error instead of a loop.
pub(super) async fn sweep<S: PageSink>(
    client: &VpnClient,
    filters: &Filters,
    fetching: Fetching,
    mut state: SweepState,
    sink: &S,
    shutdown: &Shutdown,
) -> Result<Swept, RunError> {
    // A page is staged on a task of its own while the next one is fetched and prepared; one
    // at a time, in page order. Whatever ends the sweep, the page being staged is stored
    // first (or fails): database transactions never give way.
    let mut staging: Option<Staging> = None;
    let mut fetcher = Fetcher::new(client, filters, fetching.page_size, shutdown);
    if let Some(foresight) = &fetching.foresight {
        let ahead = usize::from(fetching.concurrency.saturating_sub(1));
        fetcher = fetcher.foreseeing(foresight, ahead);
    }
    let swept = async {
        let mut arrived = fetcher.next(state.pager(), None).await?;
        loop {
            let Arrived { page, early } = arrived;
            let page_no = state.pager().page();
            let marker = state.pager().marker().map(str::to_owned);
            let created_at: Vec<Option<&str>> = page
                .connections
                .iter()
                .map(|c| c.created_at.as_deref())
                .collect();
            let meta = PageMeta {
                current_count: page.current_count,
                next_marker: page.next_marker.as_deref(),
                created_at: &created_at,
            };
            let turn = state
                .turn(meta, page.bytes)
                .with_context(|| describe_page(page_no, marker.as_deref()))?;
            let (pager, ledger) = state.split();
            // The next page is asked for first; this one is checked while it comes.
            let next_page = async {
                if pager.is_done() {
                    return None;
                }
                Some(fetcher.next(pager, early).await)
            };
            let received = Received {
                page_no,
                marker: &marker,
                page: &page,
                created_at: &created_at,
                turn,
            };
            let this_page = stage_page(received, ledger, &mut staging, sink, shutdown);
            let (next, items) = tokio::join!(next_page, this_page);
            state.ledger().count_page(items.map_err(given_up)?);
            match next {
                Some(next) => arrived = next?,
                None => return Ok(()),
            }
        }
    }
    .await;
    let last = staging.take().map(|last| last.outcome(shutdown));
    match (swept, last) {
        (Err(e), Some(last)) => {
            // The sweep's own error is the one to report; the page's staging ends first.
            if let Err(staging) = last.await {
                tracing::warn!(target: SWEEP_LOG_TARGET, "{staging:#}");
            }
            return Err(e);
        }
        (Err(e), None) => return Err(e),
        (Ok(()), Some(last)) => tally(state.ledger(), last.await.map_err(given_up)?),
        (Ok(()), None) => {}
    }
    if let Some(signal) = shutdown.received() {
        return Err(Interrupted::by(signal).into());
    }
    Ok(state.finish())
}

/// A page's staging given up on a signal is an interruption, not a failure.
fn given_up(error: anyhow::Error) -> RunError {
    match error.downcast::<Interrupted>() {
        Ok(interrupted) => RunError::Interrupted(interrupted),
        Err(error) => RunError::Failed(error),
    }
}

/// A page just received, and what its request asked for.
struct Received<'a> {
    page_no: i64,
    marker: &'a Option<String>,
    page: &'a ListPage,
    /// Each connection's `created_at`, in page order.
    created_at: &'a [Option<&'a str>],
    turn: Turn,
}

/// Prepares a page, has the ledger judge it, waits for the page before it to be stored and
/// starts storing this one; returns how many connections it stages.
async fn stage_page<S: PageSink>(
    received: Received<'_>,
    ledger: &mut Ledger,
    staging: &mut Option<Staging>,
    sink: &S,
    shutdown: &Shutdown,
) -> anyhow::Result<i64> {
    let Received {
        page_no,
        marker,
        page,
        created_at,
        turn,
    } = received;
    let where_ = || describe_page(page_no, marker.as_deref());
    let ids = served_ids(page).with_context(where_)?;
    // The connections its request asked for again are dropped: they were staged before.
    let mut times = created_at.iter();
    let kept: Vec<usize> = (0..ids.len())
        .filter(|&i| !ledger.asked_again(&turn, ids[i], times.next().copied().flatten()))
        .collect();
    let overlap = ids.len() - kept.len();
    let kept_ids: Vec<&str> = kept.iter().map(|&i| ids[i]).collect();
    let repeats = match ledger.admit(&turn, kept_ids.iter().copied(), page.total_count) {
        Ok(repeats) => repeats,
        Err(stop) => anyhow::bail!(stop.at(&where_())),
    };
    let stored = sink.stored(&kept_ids).await?;
    let staged = prepare(page, &kept, &stored).with_context(where_)?;
    tracing::info!(
        target: SWEEP_LOG_TARGET,
        page = page_no,
        connections = staged.len(),
        overlap,
        marker = marker.as_deref().unwrap_or(""),
        total_count = page.total_count,
        "page received"
    );
    let prepared = PreparedPage {
        page_no,
        marker: marker.clone(),
        next_marker: page.next_marker.clone(),
        request_id: page.request_id.clone(),
        fetched_at: page.received_at,
        connections: staged,
        repeats,
        stored,
    };
    let items = count(prepared.connections.len());
    // The page before must be stored before this one is begun.
    if let Some(before) = staging.take() {
        tally(ledger, before.outcome(shutdown).await?);
    }
    *staging = Some(Staging {
        page_no,
        described: where_(),
        handle: sink.stage(prepared),
    });
    Ok(items)
}

/// Each connection's id, in page order; an error names a connection that has none.
fn served_ids(page: &ListPage) -> anyhow::Result<Vec<&str>> {
    let ids = page.connections.iter().enumerate();
    ids.map(|(index, conn)| match conn.id.as_deref() {
        Some(id) if !id.is_empty() => Ok(id),
        _ => anyhow::bail!("vpn_connections[{index}] has no string id; cannot store it"),
    })
    .collect()
}

/// What staging stores of the connections of `page` at positions `kept`, given what the
/// inventory holds of them (`stored`). A connection served as the inventory saw it last (the
/// same bytes) is the content it holds, and is not parsed; any other is parsed, and its
/// content hashed (so that reordered keys or other whitespace are no change). A connection
/// whose content the inventory holds is staged without its body: the apply needs a body only
/// for content the inventory lacks, and finds it in `connection_versions` by hash should the
/// inventory move meanwhile.
fn prepare(
    page: &ListPage,
    kept: &[usize],
    stored: &HashMap<String, StoredHashes>,
) -> anyhow::Result<Vec<StagedConnection>> {
    kept.iter()
        .map(|&index| {
            let conn = &page.connections[index];
            let id = conn.id.clone().expect("ids were checked");
            let served_hash = page.served_hash(conn);
            let held = stored.get(&id);
            if let Some(held) = held.filter(|h| served_hash.is_some() && h.served == served_hash) {
                return Ok(StagedConnection {
                    content_hash: held.content.clone(),
                    served_hash,
                    created_at: conn.created_at.clone(),
                    body: None,
                    id,
                });
            }
            let parsed = page.parse(conn)?;
            let serde_json::Value::Object(map) = parsed.value else {
                anyhow::bail!("vpn_connections[{index}] is not an object");
            };
            let content_hash = VpnConnection::from_map(map).content_hash();
            let body = match held {
                Some(held) if held.content == content_hash => None,
                _ => Some(parsed.text.into_owned()),
            };
            Ok(StagedConnection {
                id,
                content_hash,
                served_hash,
                created_at: conn.created_at.clone(),
                body,
            })
        })
        .collect()
}
