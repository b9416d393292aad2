//! `vpn-inventory config check`: the configuration as it resolves, secrets masked.

use super::run_setup::{target_client, target_cts_endpoint, target_endpoint};
use super::{one_line, plain_table, print_stdout, table_text};
use crate::api::client::DEFAULT_MAX_RESPONSE_BYTES;
use crate::api::credentials::Credentials;
use crate::api::error::FetchError;
use crate::api::retry::{RetryPolicy, describe};
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
    /// Where CTS is asked who changed what (`traces = true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved_cts_endpoint: Option<String>,
    /// `AK/SK`, `AK/SK with security token` or `IAM token`; never a value.
    resolved_credentials: Option<&'static str>,
    /// What the API answered one signed request (`--probe`): `ok`, or why it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    probe: Option<String>,
    problems: Vec<String>,
}

pub async fn check(
    config: &Config,
    path: Option<&Path>,
    database_flag: Option<String>,
    format: TableFormat,
    probe: bool,
) -> anyhow::Result<ExitCode> {
    let database = super::database_url(database_flag, config)?;
    let mut resolved: Vec<Resolved> = config.targets.iter().map(resolve).collect();
    if probe {
        for r in resolved.iter_mut().filter(|r| r.problems.is_empty()) {
            let answer = probe_target(r.target).await;
            if let Err(why) = &answer {
                r.problems.push(format!("probe: {why}"));
            }
            r.probe = Some(answer.map_or_else(|why| why, |()| "ok".to_owned()));
        }
    }
    // The policy `check` would read: where, or what is wrong with it.
    let policy = config.policy.as_deref().map(|file| {
        let read = crate::policy::Policy::load(file);
        (
            file.display().to_string(),
            read.err().map(|e| format!("{e:#}")),
        )
    });
    let policy_ok = policy.as_ref().is_none_or(|(_, problem)| problem.is_none());
    let ok = resolved.iter().all(|r| r.problems.is_empty()) && policy_ok;
    let file = path.map_or("(none)".to_owned(), |p| p.display().to_string());
    let policy_text = match &policy {
        None => "(built in)".to_owned(),
        Some((file, None)) => file.clone(),
        Some((_, Some(problem))) => problem.clone(),
    };
    let text = match format {
        TableFormat::Json => {
            let json = serde_json::json!({
                "file": path,
                "database": database.to_string(),
                "policy": policy.as_ref().map(|(file, problem)| {
                    serde_json::json!({"file": file, "problem": problem})
                }),
                "targets": resolved,
                "ok": ok,
            });
            serde_json::to_string_pretty(&json)? + "\n"
        }
        TableFormat::Table => {
            let mut header = vec!["TARGET", "PROJECT", "ENDPOINT", "FILTERS", "CREDENTIALS"];
            if probe {
                header.push("PROBE");
            }
            header.push("PROBLEMS");
            let mut table = plain_table(&header, &[]);
            for r in &resolved {
                let filters = serde_json::to_value(r.target.filters())?;
                let filters = filters.as_object().map_or(String::new(), |f| {
                    f.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                });
                let mut row = vec![
                    one_line(&r.target.name),
                    one_line(&r.target.project_id),
                    one_line(r.resolved_endpoint.as_deref().unwrap_or("-")),
                    one_line(&filters),
                    r.resolved_credentials.unwrap_or("-").to_owned(),
                ];
                if probe {
                    let shown = if r.probe.as_deref() == Some("ok") {
                        "ok"
                    } else {
                        "failed"
                    };
                    row.push(if r.probe.is_some() { shown } else { "-" }.to_owned());
                }
                row.push(one_line(&r.problems.join("; ")));
                table.add_row(row);
            }
            format!(
                "configuration  {}\ndatabase       {}\npolicy         {}\n\n{}",
                one_line(&file),
                one_line(&database.to_string()),
                one_line(&policy_text),
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
    let cts_endpoint = target_cts_endpoint(target).unwrap_or_else(|e| {
        problems.push(format!("{e:#}"));
        None
    });
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
        resolved_cts_endpoint: cts_endpoint,
        resolved_credentials: credentials,
        probe: None,
        problems,
    }
}

/// One signed request for one connection of `target`'s list, with no retry and a short wait:
/// what the API says of its credentials (401), permission (403) and endpoint (no answer).
async fn probe_target(target: &Target) -> Result<(), String> {
    let once = RetryPolicy {
        max_retries: 0,
        request_timeout: PROBE_TIMEOUT,
        ..RetryPolicy::default()
    };
    let (client, _) =
        target_client(target, once, DEFAULT_MAX_RESPONSE_BYTES).map_err(|e| format!("{e:#}"))?;
    let answer = client.list_page(&target.filters(), 1, None).await;
    let page = answer.map_err(|e| probe_failure(&e))?;
    page.parse().map(drop).map_err(|e| probe_failure(&e))
}

/// How long a probe waits for its one answer.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A probe's failure in the words an operator acts on, then the API's own.
fn probe_failure(error: &FetchError) -> String {
    let kind = match error {
        FetchError::Api(api) if api.status == 401 => "credentials refused",
        FetchError::Api(api) if api.status == 403 => "permission denied",
        FetchError::Transport(_) => "endpoint unreachable",
        _ => "unexpected answer",
    };
    one_line(&format!("{kind}: {}", describe(error)))
}
