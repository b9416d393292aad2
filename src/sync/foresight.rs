//! What a re-sync foresees of the pages to come: the inventory's connections in the order the
//! list API serves them (newest first), so that the fetcher can send the requests of several
//! pages at once (`sync --fetch-concurrency`, `api::prefetch`). Only a guess: a request sent
//! ahead answers the sweep only when it is the request the pager makes.

use crate::api::filters::Filters;
use crate::api::prefetch::{Foresee, SWEEP_LOG_TARGET};
use crate::store::Store;
use std::future::Future;
use std::pin::Pin;

/// How many requests `sync` has on the way at once by default: one, as a sequential sweep
/// sends them. Sending ahead is asked for (`--fetch-concurrency`, 4 to 8 against a region
/// far away): it sends requests a sweep may not need (a wrong guess), and a service shared by
/// a whole organisation is not to be asked more than it expects unasked.
pub const DEFAULT_FETCH_CONCURRENCY: u16 = 1;

/// The most requests `--fetch-concurrency` may have on the way at once.
pub const MAX_FETCH_CONCURRENCY: u16 = 16;

/// A project's stored connections, as the pages of a scope would serve them.
pub(super) struct Foresight {
    store: Store,
    project_id: String,
    vgw_id: Option<String>,
}

impl Foresight {
    /// What the inventory foretells of the pages of a sweep of `project_id` with `filters`:
    /// nothing when a filter other than the gateway narrows the list, since the inventory
    /// does not keep what the others match.
    pub(super) fn of(store: &Store, project_id: &str, filters: &Filters) -> Option<Self> {
        let gateway = Filters {
            vgw_id: filters.vgw_id.clone(),
            ..Filters::default()
        };
        (*filters == gateway).then(|| Self {
            store: store.clone(),
            project_id: project_id.to_owned(),
            vgw_id: filters.vgw_id.clone(),
        })
    }
}

impl Foresee for Foresight {
    fn created_at<'s>(
        &'s self,
        marker: Option<&'s str>,
        inclusive: bool,
        limit: u32,
    ) -> Pin<Box<dyn Future<Output = Option<Vec<String>>> + Send + 's>> {
        Box::pin(async move {
            let vgw_id = self.vgw_id.as_deref();
            let store = &self.store;
            let found = store.created_before(&self.project_id, vgw_id, marker, inclusive, limit);
            match found.await {
                Ok(times) => Some(times),
                Err(e) => {
                    tracing::debug!(target: SWEEP_LOG_TARGET, "cannot foresee a page: {e}");
                    None
                }
            }
        })
    }
}
