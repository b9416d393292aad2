//! Confirming a filtered run's removals with the API.
//!
//! A filtered sweep lacks a connection that was deleted, but also one that moved out of the
//! filter (another gateway, another enterprise project) since the inventory stored it: its
//! absence is no evidence of deletion. Before such a run removes anything, each connection it
//! would remove is asked for by id alone; only those the API no longer serves are removed.
//! The others stay as stored until a run that sees them records how they changed.

use crate::api::client::VpnClient;
use crate::api::filters::Filters;
use crate::shutdown::{Interrupted, Shutdown};
use std::collections::HashSet;

/// The most connections a run asks for one by one: more would be minutes of requests, and
/// an unfiltered run, whose sweep is evidence enough, records them instead.
pub const MAX_CONFIRMATIONS: usize = 1000;

/// What asking for each candidate found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Confirmed {
    /// Connections the API no longer serves.
    pub gone: HashSet<String>,
    /// Connections the API still serves: not removed.
    pub served: usize,
}

/// Asks the API for each of `candidates` by id (`limit` as the sweep's pages) and returns
/// which are gone; `Ok(Err(reason))` when removals cannot be confirmed, so none are made.
pub async fn confirm_gone(
    client: &VpnClient,
    candidates: Vec<String>,
    limit: u32,
    shutdown: &Shutdown,
) -> Result<Result<Confirmed, String>, Interrupted> {
    if candidates.len() > MAX_CONFIRMATIONS {
        return Ok(Err(format!(
            "the filtered sweep lacks {} stored connections, more than the {MAX_CONFIRMATIONS} \
             a run confirms gone one by one; an unfiltered sync records their removal",
            candidates.len()
        )));
    }
    // An id held with a NUL or a lone surrogate would be asked for in its held spelling,
    // which no connection has: found absent, it would be removed.
    if let Some(odd) = candidates.iter().find(|id| crate::json::has_held_form(id)) {
        let odd = crate::text::one_line(&crate::json::lossy(odd));
        return Ok(Err(format!(
            "cannot confirm that connection {odd}, which the filtered sweep lacked, is gone: its \
             id holds a NUL, a lone surrogate or U+FDD0, which a query does not carry as sent"
        )));
    }
    let mut confirmed = Confirmed::default();
    for id in candidates {
        let filters = Filters {
            vpn_id: Some(id.clone()),
            ..Filters::default()
        };
        let page = tokio::select! {
            page = client.list_page(&filters, limit, None) => page,
            interrupted = shutdown.requested() => return Err(interrupted),
        };
        let page = match page.and_then(|raw| raw.parse()) {
            Ok(page) => page,
            Err(e) => {
                let e = crate::text::one_line(&crate::api::retry::describe(&e));
                return Ok(Err(format!(
                    "cannot confirm that connection {id}, which the filtered sweep lacked, is \
                     gone: {e}"
                )));
            }
        };
        // The id as the sweep reads it (`VpnConnection::id`): a string, else none.
        let ids: Vec<Option<&str>> = page
            .connections
            .iter()
            .map(|conn| conn.id.as_deref())
            .collect();
        // An answer holding anything but the connection asked for did not apply the filter:
        // the asked one's absence from it proves nothing.
        if let Some(other) = ids.iter().find(|other| **other != Some(id.as_str())) {
            let other = crate::text::one_line(other.unwrap_or("(no id)"));
            return Ok(Err(format!(
                "asked for connection {id} (vpn_id), which the filtered sweep lacked, the API \
                 answered with another ({other}): it cannot confirm removals"
            )));
        }
        match ids.is_empty() {
            false => confirmed.served += 1,
            true => {
                confirmed.gone.insert(id);
            }
        }
    }
    Ok(Ok(confirmed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::credentials::{Credentials, Secret};

    #[tokio::test]
    async fn more_candidates_than_a_run_confirms_are_not_asked_for() {
        // An endpoint nothing listens on: the run must give up before asking anything.
        let credentials = Credentials::Token(Secret::new("token"));
        let client = VpnClient::new("http://127.0.0.1:9", "project", credentials).unwrap();
        let candidates: Vec<String> = (0..=MAX_CONFIRMATIONS).map(|i| format!("c{i}")).collect();
        let answer = confirm_gone(&client, candidates, 200, &Shutdown::default()).await;
        let reason = answer.unwrap().unwrap_err();
        assert!(reason.contains("1001 stored connections"), "{reason}");
        assert!(
            reason.contains("an unfiltered sync records their removal"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn an_id_a_query_cannot_carry_is_not_asked_for() {
        let credentials = Credentials::Token(Secret::new("token"));
        let client = VpnClient::new("http://127.0.0.1:9", "project", credentials).unwrap();
        for held in ["c\u{FDD0}0000", "c\u{FDD0}d800", "c\u{FDD0}\u{FDD0}"] {
            let candidates = vec!["plain".to_owned(), held.to_owned()];
            let answer = confirm_gone(&client, candidates, 200, &Shutdown::default()).await;
            let reason = answer.unwrap().unwrap_err();
            assert!(
                reason.contains("a query does not carry as sent"),
                "{reason}"
            );
        }
    }
}
