//! `vpn-inventory forget-scope`: stop listing a scope nobody syncs any more (a target taken out
//! of the configuration), without touching the project's inventory or history.

use super::{one_line, print_stdout};
use crate::cli::{ForgetScopeArgs, ReportFormat};
use crate::scope::{Filters, Scope};
use crate::store::{DatabaseUrl, Store};
use anyhow::Context as _;
use serde_json::{Map, Value};
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: ForgetScopeArgs) -> anyhow::Result<ExitCode> {
    let scope = parse_scope(&args.scope)?;
    let shown = one_line(&super::runs::scope_summary(&scope.shown_without_endpoint()));
    let store = Store::open(database).await?;
    let forgotten = store
        .forget_scope(&scope, &shown, args.lock_timeout.0)
        .await;
    store.close().await;
    let forgotten = forgotten?;
    let text = match args.format {
        ReportFormat::Json => serde_json::to_string_pretty(&forgotten)? + "\n",
        ReportFormat::Text => format!(
            "forgot scope {shown}: {} staged rows, {} membership rows deleted; its {} runs and \
             the project's inventory and history kept\n",
            forgotten.staged_rows, forgotten.memberships, forgotten.runs_kept
        ),
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The filters a scope may have, as `status` names them.
const FILTERS: [&str; 5] = [
    "vgw_id",
    "vgw_ip",
    "vpn_id",
    "eip_id",
    "enterprise_project_ids",
];

/// How a scope given as its JSON object (`status --format json`) starts.
const JSON_OBJECT_START: char = '{';

/// A scope as `status` shows it: `PROJECT name=value ...` (table), or its JSON object
/// (`status --format json`).
pub fn parse_scope(text: &str) -> anyhow::Result<Scope> {
    let text = text.trim();
    let object = if text.starts_with(JSON_OBJECT_START) {
        match serde_json::from_str(text) {
            Ok(Value::Object(object)) => object,
            _ => anyhow::bail!("scope {:?} is not a JSON object", one_line(text)),
        }
    } else {
        let mut words = text.split_whitespace();
        let project = words
            .next()
            .context("no scope given: name one as `status` shows it, e.g. PROJECT vgw_id=ID")?;
        let mut object = Map::new();
        object.insert("project_id".into(), project.into());
        for word in words {
            let (name, value) = word
                .split_once('=')
                .with_context(|| format!("{:?} is not a filter like vgw_id=ID", one_line(word)))?;
            let value = match name {
                // `status` shows the list as JSON.
                "enterprise_project_ids" => serde_json::from_str(value).with_context(|| {
                    format!(
                        "enterprise_project_ids={} is not a JSON list",
                        one_line(value)
                    )
                })?,
                _ => Value::from(value),
            };
            object.insert(name.to_owned(), value);
        }
        object
    };
    scope_of(&object)
}

fn scope_of(object: &Map<String, Value>) -> anyhow::Result<Scope> {
    let text = |name: &str| -> anyhow::Result<Option<String>> {
        match object.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => anyhow::bail!("scope's {name} is {other}, not a string"),
        }
    };
    if let Some(name) = object
        .keys()
        .find(|k| *k != "project_id" && !FILTERS.contains(&k.as_str()))
    {
        anyhow::bail!(
            "unknown filter {:?} in the scope: expected {}",
            one_line(name),
            FILTERS.join(", ")
        );
    }
    let project_id = text("project_id")?
        .filter(|p| !p.is_empty())
        .context("the scope names no project_id")?;
    let ids = match object.get("enterprise_project_ids") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .context("scope's enterprise_project_ids is not a list of strings")?,
        Some(other) => anyhow::bail!("scope's enterprise_project_ids is {other}, not a list"),
    };
    let filters = Filters {
        vgw_id: text("vgw_id")?,
        vgw_ip: text("vgw_ip")?,
        vpn_id: text("vpn_id")?,
        eip_id: text("eip_id")?,
        enterprise_project_ids: ids,
    };
    Ok(Scope::new("", None, &project_id, filters))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::runs::scope_summary;

    #[test]
    fn a_scope_reads_back_as_status_shows_it() {
        let scope = Scope::new(
            "",
            None,
            "p1",
            Filters {
                vgw_id: Some("gw".into()),
                enterprise_project_ids: vec!["b".into(), "a".into()],
                ..Filters::default()
            },
        );
        let shown = scope.shown_without_endpoint();
        let table = scope_summary(&shown);
        assert_eq!(table, r#"p1 vgw_id=gw enterprise_project_ids=["a","b"]"#);
        assert_eq!(parse_scope(&table).unwrap().key(), scope.key());
        assert_eq!(parse_scope(&shown.to_string()).unwrap().key(), scope.key());
        assert_eq!(
            parse_scope(" p1 ").unwrap().key(),
            Scope::new("", None, "p1", Filters::default()).key()
        );
    }

    #[test]
    fn a_bad_scope_says_what_is_wrong() {
        let err = |text: &str| parse_scope(text).unwrap_err().to_string();
        assert!(
            err("p1 vgw=x").contains("unknown filter \"vgw\""),
            "{}",
            err("p1 vgw=x")
        );
        assert!(err("p1 vgw_id").contains("not a filter like"));
        assert!(err("").contains("no scope given"));
        assert!(err("p1 enterprise_project_ids=a").contains("not a JSON list"));
        assert!(err(r#"{"vgw_id":"x"}"#).contains("no project_id"));
        assert!(err(r#"{"project_id":"p","vgw_id":1}"#).contains("not a string"));
    }
}
