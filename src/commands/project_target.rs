//! `--project` and `--target` (on `drift`, `history`, `runs` and `status`), and how tables
//! show a project: what a flag names is checked against what the database holds, so a typo
//! is an error that lists what there is rather than an empty answer that looks like "no
//! changes".

use crate::cli::ProjectTargetArgs;
use crate::config::Config;
use crate::store::Store;
use crate::text::one_line;

/// The project and target a command's answer is narrowed to; `None`: all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Only {
    pub project_id: Option<String>,
    pub target: Option<String>,
}

impl Only {
    /// What `args` name, checked against the projects and targets the database holds.
    pub async fn resolve(store: &Store, args: &ProjectTargetArgs) -> anyhow::Result<Self> {
        let project_id = match &args.project {
            Some(text) => Some(the_project(text, &store.project_ids().await?)?),
            None => None,
        };
        let target = match &args.target {
            Some(name) => Some(the_target(name, &store.target_names().await?)?),
            None => None,
        };
        Ok(Self { project_id, target })
    }

    /// The one project a command reading the inventory (`diff`, `export`, `report`) narrows
    /// to: the one `--project` names, or the one `--target`'s runs synced (the configuration's
    /// target of that name when none has run yet); `None`: every project.
    pub async fn project_of(
        store: &Store,
        args: &ProjectTargetArgs,
        config: &Config,
    ) -> anyhow::Result<Option<String>> {
        let project_id = match &args.project {
            Some(text) => Some(the_project(text, &store.project_ids().await?)?),
            None => None,
        };
        let Some(target) = &args.target else {
            return Ok(project_id);
        };
        let synced = match store.target_project(target).await? {
            Some(synced) => synced,
            None => match config.targets(Some(std::slice::from_ref(target))) {
                Ok(configured) => configured[0].project_id.clone(),
                Err(_) => the_target(target, &store.target_names().await?)?,
            },
        };
        match (project_id, Some(synced)) {
            (Some(named), Some(synced)) if named != synced => anyhow::bail!(
                "--target {} synced project {synced}, not --project {named}",
                one_line(target)
            ),
            (named, synced) => Ok(named.or(synced)),
        }
    }
}

/// The project `text` names among `known`: an id, or the start of exactly one.
fn the_project(text: &str, known: &[String]) -> anyhow::Result<String> {
    if known.iter().any(|id| id == text) {
        return Ok(text.to_owned());
    }
    let matching: Vec<&String> = known.iter().filter(|id| id.starts_with(text)).collect();
    match matching[..] {
        [one] if !text.is_empty() => Ok(one.clone()),
        [] | [_] => crate::usage::mistake(format!(
            "--project {}: no project of this inventory is or starts with it; projects: {}",
            one_line(text),
            listed(known, "none synced yet")
        )),
        _ => crate::usage::mistake(format!(
            "--project {} matches {} projects ({}): give more of the id",
            one_line(text),
            matching.len(),
            listed(&matching, "")
        )),
    }
}

/// `name` if some run was made for a configuration target of that name.
fn the_target(name: &str, known: &[String]) -> anyhow::Result<String> {
    if !known.iter().any(|t| t == name) {
        return crate::usage::mistake(format!(
            "--target {}: no run was made for a configuration target of that name; targets \
             with runs: {}",
            one_line(name),
            listed(known, "none (runs from flags have no target)")
        ));
    }
    Ok(name.to_owned())
}

fn listed(items: &[impl AsRef<str>], when_empty: &str) -> String {
    if items.is_empty() {
        return when_empty.to_owned();
    }
    let items: Vec<String> = items.iter().map(|i| one_line(i.as_ref())).collect();
    items.join(", ")
}

/// Project ids as tables show them: the shortest start, of at least 8 characters, that
/// tells each of the projects shown from the others (`--project` takes it back). A
/// 32-character id in every row would push the rest of the table off the screen.
pub struct ShortIds {
    len: usize,
}

impl ShortIds {
    const MIN: usize = 8;

    pub fn new<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut ids: Vec<&str> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        // Neighbours in sorted order share the longest starts.
        let shared = ids
            .windows(2)
            .map(|pair| common_start(pair[0], pair[1]))
            .max()
            .unwrap_or(0);
        Self {
            len: (shared + 1).max(Self::MIN),
        }
    }

    /// `id` shortened, or whole when it is no longer than the short form.
    pub fn of(&self, id: &str) -> String {
        let shown = one_line(id);
        match shown.char_indices().nth(self.len) {
            Some((end, _)) => shown[..end].to_owned(),
            None => shown,
        }
    }
}

fn common_start(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// A target as tables show it: its name, `-` for a run from flags.
pub fn target_cell(target: Option<&str>) -> String {
    target.map_or_else(|| "-".to_owned(), one_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_project_is_named_by_its_id_or_a_unique_start() {
        let known = ids(&["aaaa1111", "aaaa2222", "bbbb"]);
        assert_eq!(the_project("aaaa1111", &known).unwrap(), "aaaa1111");
        assert_eq!(the_project("aaaa2", &known).unwrap(), "aaaa2222");
        assert_eq!(the_project("b", &known).unwrap(), "bbbb");
        let several = the_project("aaaa", &known).unwrap_err().to_string();
        assert!(
            several.contains("matches 2 projects (aaaa1111, aaaa2222)"),
            "{several}"
        );
        let none = the_project("cc", &known).unwrap_err().to_string();
        assert!(
            none.contains("projects: aaaa1111, aaaa2222, bbbb"),
            "{none}"
        );
        assert!(the_project("", &ids(&["only"])).is_err());
        let empty = the_project("x", &[]).unwrap_err().to_string();
        assert!(empty.contains("none synced yet"), "{empty}");
    }

    #[test]
    fn an_unknown_target_is_an_error_listing_the_known_ones() {
        let known = ids(&["prod-north", "prod-south"]);
        assert_eq!(the_target("prod-north", &known).unwrap(), "prod-north");
        let error = the_target("prod-west", &known).unwrap_err().to_string();
        assert!(error.contains("--target prod-west"), "{error}");
        assert!(
            error.contains("with runs: prod-north, prod-south"),
            "{error}"
        );
    }

    #[test]
    fn short_ids_are_unambiguous_and_at_least_eight_characters() {
        let a = "0123456789abcdef0123456789abcdef";
        let b = "0123456789abffff0123456789abcdef";
        let short = ShortIds::new([a, b, a]);
        assert_eq!(
            (short.of(a), short.of(b)),
            ("0123456789abc".into(), "0123456789abf".into())
        );
        let one = ShortIds::new([a]);
        assert_eq!(one.of(a), "01234567");
        assert_eq!(one.of("0"), "0");
    }
}
