//! `vpn-inventory simulate`: serve the fake API until interrupted.

use super::print_stdout;
use crate::api::credentials::{ENV_AK, ENV_AUTH_TOKEN, ENV_SK};
use crate::cli::SimulateArgs;
use std::process::ExitCode;
use vpn_simulator::Faults;
use vpn_simulator::server::{SimConfig, generated_connections};

pub async fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = SimConfig {
        max_limit: args.max_page_size,
        auth_token: env(ENV_AUTH_TOKEN),
        latency: std::time::Duration::from_millis(args.latency_ms),
        ..SimConfig::default()
    };
    if let Some(project_id) = args.project_id {
        config.project_id = project_id;
    }
    let own_keys = match (env(ENV_AK), env(ENV_SK)) {
        (Some(ak), Some(sk)) => {
            config.access_key = ak;
            config.secret_key = sk;
            true
        }
        _ => false,
    };
    // Generated one connection at a time and held as text: 100,000 start in seconds.
    let inventory = generated_connections(args.connections, args.seed, args.ties);
    let sim = vpn_simulator::spawn(args.listen, config.clone(), inventory).await?;
    sim.state.set_faults(Faults {
        whole_seconds: args.whole_seconds,
        ..Faults::default()
    });
    let endpoint = sim.endpoint();
    let keys = if own_keys {
        format!("AK/SK from {ENV_AK} and {ENV_SK}")
    } else {
        // Demo values are not secrets: print them so a second shell can use them.
        format!(
            "demo credentials: export {ENV_AK}={} {ENV_SK}={}",
            config.access_key, config.secret_key
        )
    };
    let mut shape = String::new();
    if args.ties > 1 {
        shape.push_str(&format!(", {} per created_at", args.ties));
    }
    if args.whole_seconds {
        shape.push_str(", times in whole seconds");
    }
    if args.latency_ms > 0 {
        shape.push_str(&format!(", {} ms per page", args.latency_ms));
    }
    let project = &config.project_id;
    print_stdout(&format!(
        "simulating {} VPN connections (seed {}{shape}) at {endpoint}\n  project id: {project}\n  \
         {keys}\n  try: vpn-inventory sync --endpoint {endpoint} --project-id {project}\n  \
         who changed what (CTS traces of its mutations): GET {endpoint}/v3/{project}/traces\n",
        args.connections, args.seed
    ))?;
    let signal = crate::shutdown::signal().await;
    tracing::info!("simulator stopping on {signal}");
    Ok(ExitCode::SUCCESS)
}
