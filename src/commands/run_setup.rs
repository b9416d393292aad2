//! What a sync run needs from the flags or a configured target, checked: its options and
//! retry policy, its endpoint (given, or the default one of a region), and a target's client,
//! which `sync --all` and `config check --probe` build alike.

use crate::api::client::{VpnClient, default_endpoint, parse_endpoint, parse_endpoint_of};
use crate::api::retry::RetryPolicy;
use crate::api::traces::CtsClient;
use crate::cli::SyncArgs;
use crate::config::Target;
use crate::reconcile::RemovalGuard;
use crate::scope::Scope;
use crate::sync::RunOptions;

/// The run options and retry policy the flags give.
pub fn run_options(args: &SyncArgs) -> anyhow::Result<(RunOptions, RetryPolicy)> {
    // Each duration is in bounds: its flag's parser (`cli::Wait::parser`) checked it.
    let retry = RetryPolicy {
        max_retries: args.max_retries,
        request_timeout: args.request_timeout.0,
        ..RetryPolicy::default()
    };
    let options = RunOptions {
        page_size: args.page_size,
        lock_timeout: args.lock_timeout.0,
        guard: RemovalGuard {
            max_percent: args.max_removal_percent,
            accept: args.accept_mass_removal,
        },
        resume: args.resume,
        sync_id: None,
        max_run_time: args.max_run_time.0,
        fetch_concurrency: args.fetch_concurrency,
    };
    Ok((options, retry))
}

/// The endpoint given, else the default one of a (checked) region; `None` without either.
pub fn endpoint_of(endpoint: Option<&str>, region: Option<&str>) -> anyhow::Result<Option<String>> {
    if let Some(region) = region {
        check_region(region)?;
    }
    Ok(endpoint
        .map(str::to_owned)
        .or_else(|| region.map(default_endpoint)))
}

/// A region is lower-case letters, digits and '-': it becomes part of a host name.
pub fn check_region(region: &str) -> anyhow::Result<()> {
    let valid = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    if region.is_empty() || !region.bytes().all(valid) {
        anyhow::bail!(
            "invalid region {:?}: expected lower-case letters, digits and '-', e.g. cn-north-4",
            region.escape_debug().to_string()
        );
    }
    Ok(())
}

/// The endpoint a target's requests go to, checked as `sync` checks `--endpoint`.
pub fn target_endpoint(target: &Target) -> anyhow::Result<String> {
    let endpoint = endpoint_of(target.endpoint.as_deref(), target.region.as_deref())?
        .ok_or_else(|| anyhow::anyhow!("no region or endpoint"))?;
    parse_endpoint(&endpoint).map_err(anyhow::Error::msg)?;
    Ok(endpoint)
}

/// The CTS client of a run that asks who changed what (`None` unless `asked`): at
/// `cts_endpoint`, else at the region's default, else at the VPN endpoint given (a simulator
/// or gateway serving both); checked as `--endpoint` is.
pub fn traces_client(
    vpn: &VpnClient,
    asked: bool,
    cts_endpoint: Option<&str>,
    target: (Option<&str>, Option<&str>),
) -> anyhow::Result<Option<CtsClient>> {
    let (endpoint, region) = target;
    if !asked {
        return Ok(None);
    }
    let url = crate::api::traces::cts_endpoint(cts_endpoint, endpoint, region)
        .ok_or_else(|| anyhow::anyhow!("no CTS endpoint: give a region, or --cts-endpoint"))?;
    CtsClient::new(vpn, &url).map(Some)
}

/// A target's CTS client: when its configuration (`traces = true`) or `--with-traces` asks.
pub fn target_traces(
    target: &Target,
    vpn: &VpnClient,
    with_traces: bool,
) -> anyhow::Result<Option<CtsClient>> {
    let asked = with_traces || target.traces;
    let at = (target.endpoint.as_deref(), target.region.as_deref());
    traces_client(vpn, asked, target.cts_endpoint.as_deref(), at)
}

/// Where a target's CTS requests would go, checked: `None` when it neither asks for traces
/// nor names a CTS endpoint (`config check`).
pub fn target_cts_endpoint(target: &Target) -> anyhow::Result<Option<String>> {
    if !target.traces && target.cts_endpoint.is_none() {
        return Ok(None);
    }
    let url = crate::api::traces::cts_endpoint(
        target.cts_endpoint.as_deref(),
        target.endpoint.as_deref(),
        target.region.as_deref(),
    )
    .ok_or_else(|| anyhow::anyhow!("traces = true, but no region, endpoint or cts_endpoint"))?;
    parse_endpoint_of(&url, "cts_endpoint").map_err(anyhow::Error::msg)?;
    Ok(Some(url))
}

/// The client and scope of a target, from the configuration.
pub fn target_client(
    target: &Target,
    retry: RetryPolicy,
    max_response_size: u64,
) -> anyhow::Result<(VpnClient, Scope)> {
    // Whoever reports an error names the target: it is not named here a second time.
    let endpoint = target_endpoint(target)?;
    let credentials = target.credentials()?;
    let client = VpnClient::with_retries(&endpoint, &target.project_id, credentials, retry)?
        .with_max_response_size(max_response_size);
    let scope = Scope::new(
        &endpoint,
        target.region.clone(),
        &target.project_id,
        target.filters(),
    )
    .for_target(&target.name);
    Ok((client, scope))
}
