//! `vpn-inventory config check`: the configuration as it resolves, secrets masked.

use super::{one_line, plain_table, print_stdout, table_text};
use crate::api::client::parse_endpoint;
use crate::api::credentials::Credentials;
use crate::cli::TableFormat;
use crate::config::{Config, Target};
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

/// A target as it resolves: where it goes, which credentials (kind only), or what is wrong.
#[derive(Serialize)]
struct Resolved<'a> {
    #[serde(flatten)]
    target: &'a Target,
    /// The endpoint requests go to.
    resolved_endpoint: Option<String>,
    /// `AK/SK`, `AK/SK with security token` or `IAM token`; never a value.
    resolved_credentials: Option<&'static str>,
    problems: Vec<String>,
}

pub fn check(
    config: &Config,
    path: Option<&Path>,
    database_flag: Option<String>,
    format: TableFormat,
) -> anyhow::Result<ExitCode> {
    let database = super::database_url(database_flag, config)?;
    let resolved: Vec<Resolved> = config.targets.iter().map(resolve).collect();
    let ok = resolved.iter().all(|r| r.problems.is_empty());
    let file = path.map_or("(none)".to_owned(), |p| p.display().to_string());
    let text = match format {
        TableFormat::Json => {
            let json = serde_json::json!({
                "file": path,
                "database": database.to_string(),
                "targets": resolved,
                "ok": ok,
            });
            serde_json::to_string_pretty(&json)? + "\n"
        }
        TableFormat::Table => {
            let header = [
                "TARGET",
                "PROJECT",
                "ENDPOINT",
                "FILTERS",
                "CREDENTIALS",
                "PROBLEMS",
            ];
            let mut table = plain_table(&header, &[]);
            for r in &resolved {
                let filters = serde_json::to_value(r.target.filters())?;
                let filters = filters.as_object().map_or(String::new(), |f| {
                    f.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                });
                table.add_row([
                    one_line(&r.target.name),
                    one_line(&r.target.project_id),
                    one_line(r.resolved_endpoint.as_deref().unwrap_or("-")),
                    one_line(&filters),
                    r.resolved_credentials.unwrap_or("-").to_owned(),
                    one_line(&r.problems.join("; ")),
                ]);
            }
            format!(
                "configuration  {}\ndatabase       {}\n\n{}",
                one_line(&file),
                one_line(&database.to_string()),
                table_text(&table)
            )
        }
    };
    print_stdout(&text)?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn resolve(target: &Target) -> Resolved<'_> {
    let mut problems = Vec::new();
    let endpoint = match target_endpoint(target) {
        Ok(endpoint) => Some(endpoint),
        Err(e) => {
            problems.push(format!("{e:#}"));
            None
        }
    };
    let credentials = match target.credentials() {
        Ok(Credentials::AkSk {
            security_token: None,
            ..
        }) => Some("AK/SK"),
        Ok(Credentials::AkSk { .. }) => Some("AK/SK with security token"),
        Ok(Credentials::Token(_)) => Some("IAM token"),
        Err(e) => {
            problems.push(format!("{e:#}"));
            None
        }
    };
    Resolved {
        target,
        resolved_endpoint: endpoint,
        resolved_credentials: credentials,
        problems,
    }
}

/// The endpoint a target's requests go to, checked as `sync` checks `--endpoint`.
pub fn target_endpoint(target: &Target) -> anyhow::Result<String> {
    let endpoint =
        super::run_setup::endpoint_of(target.endpoint.as_deref(), target.region.as_deref())?
            .ok_or_else(|| anyhow::anyhow!("no region or endpoint"))?;
    parse_endpoint(&endpoint).map_err(anyhow::Error::msg)?;
    Ok(endpoint)
}
