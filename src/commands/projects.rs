//! `--project ID` and `--target NAME`: the one project a reading command narrows its answer
//! to, by id or by the configuration's target of that name.

use crate::cli::ProjectArgs;
use crate::config::Config;

/// The project `args` names; `None` for every project. An unknown target is an error that
/// lists the configuration's targets.
pub fn project_named(args: &ProjectArgs, config: &Config) -> anyhow::Result<Option<String>> {
    match (&args.project, &args.target) {
        (Some(id), _) => Ok(Some(id.clone())),
        (None, Some(name)) => {
            let targets = config.targets(Some(std::slice::from_ref(name)))?;
            Ok(targets.first().map(|target| target.project_id.clone()))
        }
        (None, None) => Ok(None),
    }
}
