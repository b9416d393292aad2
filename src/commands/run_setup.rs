//! What a sync run needs from the flags or a configured target, checked: its options and
//! retry policy, its endpoint (given, or the default one of a region), and a target's client,
//! which `sync --all` and `config check --probe` build alike.

use crate::api::client::{VpnClient, default_endpoint, parse_endpoint};
use crate::api::retry::RetryPolicy;
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
