//! The download floor of `benches/bench.sh` (issue #26): every page `sync` fetches, over the
//! tool's own client (`VpnClient`: reqwest and rustls, AK/SK signing, bodies read a chunk at a
//! time), each next marker found by a byte search instead of a JSON parse. What `sync` spends
//! beyond this is its own work, not the network's.
//!
//! It asks for the pages the pager (`api::paging`) asks for against a service where no instant
//! fills a page (the bench's simulator): the first page; then the next marker as served; when
//! that answer lacks the marker's own instant (a strict service), the marker one millisecond
//! later, and from then on always one millisecond later. `bench.sh` checks its page count
//! against `sync --dry-run`'s in every run.
//!
//! Usage: `cargo run --release --example download -- ENDPOINT [PAGE_SIZE]`, credentials and
//! project from `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK`, `HUAWEICLOUD_SDK_PROJECT_ID`.
//! Prints one JSON line: pages, bytes, seconds.

use anyhow::Context as _;
use memchr::memmem;
use std::time::Instant;
use vpn_inventory::api::client::VpnClient;
use vpn_inventory::api::credentials::Credentials;
use vpn_inventory::api::filters::Filters;
use vpn_inventory::time::shift_api_time;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .context("usage: download ENDPOINT [PAGE_SIZE]")?;
    let limit: u32 = match args.next() {
        Some(size) => size.parse().context("PAGE_SIZE is not a number")?,
        None => 200,
    };
    let project_id =
        std::env::var("HUAWEICLOUD_SDK_PROJECT_ID").context("HUAWEICLOUD_SDK_PROJECT_ID")?;
    let client = VpnClient::new(&endpoint, &project_id, Credentials::from_env()?)?;
    // The runtime `main.rs` builds for `sync`.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (pages, bytes) = runtime.block_on(download(&client, limit))?;
    let seconds = started.elapsed().as_secs_f64();
    println!("{{\"pages\":{pages},\"bytes\":{bytes},\"seconds\":{seconds:.3}}}");
    Ok(())
}

/// Fetches every page; returns how many pages and bytes of body were read.
async fn download(client: &VpnClient, limit: u32) -> anyhow::Result<(u64, u64)> {
    let filters = Filters::default();
    let (mut pages, mut bytes) = (0_u64, 0_u64);
    let mut marker: Option<String> = None;
    // Learnt from the first answer to a marker as served, as the pager learns it.
    let mut strict: Option<bool> = None;
    loop {
        let raw = client
            .list_page(&filters, limit, marker.as_deref())
            .await
            .with_context(|| format!("page {} (marker {marker:?})", pages + 1))?;
        let body = raw.body();
        pages += 1;
        bytes += body.len() as u64;
        if let (None, Some(asked)) = (strict, &marker) {
            let own_instant = format!("\"created_at\":\"{asked}\"");
            let reached = memmem::find(body, own_instant.as_bytes()).is_some();
            strict = Some(!reached);
            if !reached {
                // The answer may have skipped the rest of the marker's instant: ask again.
                marker = Some(one_ms_later(asked)?);
                continue;
            }
        }
        // A page shorter than the limit is the last (the pager also wants fewer items).
        if last_number(body, "current_count").is_none_or(|count| count < u64::from(limit)) {
            return Ok((pages, bytes));
        }
        let next = last_string(body, "next_marker")
            .or_else(|| last_string(body, "created_at"))
            .with_context(|| format!("page {pages} is full but gives no next marker"))?;
        marker = Some(match strict {
            Some(true) => one_ms_later(next)?,
            _ => next.to_owned(),
        });
    }
}

fn one_ms_later(marker: &str) -> anyhow::Result<String> {
    shift_api_time(marker, 1).with_context(|| format!("marker {marker:?} is not a time"))
}

/// The text of the last `"key":"..."` in `body` (compact JSON, no escapes in the value).
fn last_string<'a>(body: &'a [u8], key: &str) -> Option<&'a str> {
    let start = value_start(body, &format!("\"{key}\":\""))?;
    let len = memchr::memchr(b'"', &body[start..])?;
    std::str::from_utf8(&body[start..start + len]).ok()
}

/// The number of the last `"key":N` in `body`.
fn last_number(body: &[u8], key: &str) -> Option<u64> {
    let start = value_start(body, &format!("\"{key}\":"))?;
    let digits = body[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&body[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

/// Where the value after the last `needle` begins: searched from the end, where `page_info` is.
fn value_start(body: &[u8], needle: &str) -> Option<usize> {
    memmem::rfind(body, needle.as_bytes()).map(|at| at + needle.len())
}
