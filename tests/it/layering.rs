//! Dependencies point one way: commands -> sync -> domain (`drift`, `reconcile`) -> store ->
//! the store's dialect, with `api` below sync. These tests read the crate's own source, so a
//! `use` that loops back is caught when it is written, not in a later review.
//!
//! - Between top-level modules: every `crate::x` a module's product code names is an edge
//!   (comments included: a doc link is a reference too); the graph has no cycle, and `api`,
//!   `store` and the domain (`drift`, `reconcile`) use nothing above them.
//! - Between files (`src/**/*.rs`): an edge is a path a file's product code names (what
//!   precedes `#[cfg(test)]`, with comments and string literals left out), in a `use` item
//!   (groups expanded) or in an expression: `crate::a::b`, `super::x`, `self::x`, or `c::x`
//!   for a module `c` the file declares. A path leads to the deepest file or folder (`mod.rs`)
//!   its segments name. A folder's `mod.rs` is its table of contents: its `mod` declarations
//!   and its re-exports (`pub use`, of any visibility) are not edges, and a name imported
//!   there (re-exported or not) leads on to the file that defines it, so a child that uses
//!   `super::Store` depends on the file defining `Store`, not on every sibling `mod.rs` lists.
//!   What `mod.rs`'s own code names (a private `use`, a path in an expression) is an edge like
//!   any file's. A method called on a value names no path and is not seen; no two files may
//!   name each other, directly or round a loop.
//! - Only `src/store/dialect/` names a backend (`Db::Sqlite`, `Tx::Postgres`, `Backend::`,
//!   sqlx's `Sqlite*`/`Pg*` types and modules).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules each top-level module of `src/` refers to through `crate::`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative.components().next().expect("a path");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let uses = graph.entry(module.clone()).or_default();
        uses.extend(
            crate_refs(product_code(&text))
                .into_iter()
                .filter(|m| *m != module),
        );
    }
    graph
}

/// What precedes the unit tests: unit tests may reach anywhere; the product code may not.
fn product_code(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or_default()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Module names after `crate::`, including each name of a `crate::{a, b::c}` group.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(group.split(',').filter_map(|item| ident(item.trim_start())));
        } else {
            out.extend(ident(rest));
        }
    }
    out
}

fn ident(text: &str) -> Option<String> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| text[..end].to_owned())
}

/// A path of nodes that leads from `from` back to `from`, if any.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().expect("non-empty path");
        for next in graph.get(last).into_iter().flatten() {
            let mut longer = path.clone();
            longer.push(next.clone());
            if next == from {
                return Some(longer);
            }
            if seen.insert(next.clone()) {
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = module_graph();
    assert!(
        graph.contains_key("store") && graph.contains_key("api"),
        "{graph:?}"
    );
    for module in graph.keys() {
        if let Some(cycle) = cycle_through(&graph, module) {
            panic!("modules loop back: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_api_layer_uses_nothing_above_it() {
    let graph = module_graph();
    let above = ["cli", "commands", "drift", "reconcile", "store", "sync"];
    let api = graph.get("api").expect("an api module");
    assert!(
        api.iter().all(|m| !above.contains(&m.as_str())),
        "api uses {api:?}"
    );
}

#[test]
fn the_store_uses_nothing_above_it() {
    let graph = module_graph();
    let above = [
        "cli",
        "commands",
        "config",
        "confirm",
        "drift",
        "logging",
        "reconcile",
        "reports",
        "sync",
    ];
    let store = graph.get("store").expect("a store module");
    let wrong: Vec<&String> = store
        .iter()
        .filter(|m| above.contains(&m.as_str()))
        .collect();
    assert!(wrong.is_empty(), "store uses {wrong:?}");
}

#[test]
fn the_domain_uses_nothing_above_it() {
    let graph = module_graph();
    let above = [
        "cli", "commands", "config", "confirm", "logging", "reports", "sync",
    ];
    for domain in ["drift", "reconcile"] {
        let uses = graph.get(domain).expect("a domain module");
        let wrong: Vec<&String> = uses
            .iter()
            .filter(|m| above.contains(&m.as_str()))
            .collect();
        assert!(wrong.is_empty(), "{domain} uses {wrong:?}");
    }
}

#[test]
fn references_are_read_from_paths_and_groups() {
    let refs = crate_refs("use crate::{api::model, time};\nfn f() { crate::store::x() }");
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["api", "store", "time"]
    );
}

/// One source file as the file graph sees it.
struct SourceFile {
    /// Relative to the crate, as printed: `src/store/apply.rs`.
    shown: String,
    /// Its module path: `["store", "apply"]`; a folder's `mod.rs` is the folder's.
    module: Vec<String>,
    /// Whether it is a folder's `mod.rs` (or `lib.rs`).
    index: bool,
    /// Product code without comments and string literals.
    code: String,
}

/// A `use` item's paths: each with the name it brings into scope (`None` for a glob), and
/// whether the item is public (a re-export).
struct UseItem {
    public: bool,
    paths: Vec<(Vec<String>, Option<String>)>,
}

/// The files of `src/` (but `main.rs`, a separate crate) by module path.
fn source_files() -> BTreeMap<Vec<String>, SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let mut files = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        let mut module: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let name = module.pop().expect("a file name");
        if name == "main.rs" {
            continue;
        }
        let index = matches!(name.as_str(), "mod.rs" | "lib.rs");
        if !index {
            module.push(name.trim_end_matches(".rs").to_owned());
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let shown = file.strip_prefix(root).expect("in the crate");
        files.insert(
            module.clone(),
            SourceFile {
                shown: shown.to_string_lossy().into_owned(),
                module,
                index,
                code: strip(product_code(&text)),
            },
        );
    }
    files
}

/// `code` with comments, string and character literals blanked out (lengths kept).
fn strip(code: &str) -> String {
    let bytes = code.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: &[u8]| {
        out.extend(from.iter().map(|b| if *b == b'\n' { b'\n' } else { b' ' }));
    };
    while i < bytes.len() {
        let rest = &bytes[i..];
        let end = if rest.starts_with(b"//") {
            rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            rest.windows(2)
                .position(|w| w == b"*/")
                .map_or(rest.len(), |p| p + 2)
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(rest.len())
        } else if rest.starts_with(b"r\"") || rest.starts_with(b"r#") {
            let hashes = rest[1..].iter().take_while(|b| **b == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let open = 2 + hashes;
            rest[open.min(rest.len())..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(rest.len(), |p| open + p + close.len())
        } else if rest[0] == b'\'' && rest.get(1) == Some(&b'\\') {
            rest[2..]
                .iter()
                .position(|b| *b == b'\'')
                .map_or(rest.len(), |p| p + 3)
        } else if rest[0] == b'\'' && rest.get(2) == Some(&b'\'') {
            3
        } else {
            0
        };
        // An identifier ending in `r` (`for"`) is not a raw string: only a fresh token is.
        let fresh = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if end > 0 && (fresh || !rest.starts_with(b"r")) {
            blank(&mut out, &rest[..end]);
            i += end;
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8 whole")
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Reads one use tree at `*at`, appending each path (after `prefix`) and the name it binds.
fn use_tree(
    text: &[u8],
    at: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let skip_space = |at: &mut usize| {
        while *at < text.len() && text[*at].is_ascii_whitespace() {
            *at += 1;
        }
    };
    skip_space(at);
    match text.get(*at) {
        Some(b'{') => {
            *at += 1;
            loop {
                skip_space(at);
                match text.get(*at) {
                    None => return,
                    Some(b'}') => {
                        *at += 1;
                        return;
                    }
                    Some(b',') => *at += 1,
                    Some(_) => {
                        let before = *at;
                        use_tree(text, at, prefix.clone(), out);
                        if *at == before {
                            *at += 1;
                        }
                    }
                }
            }
        }
        Some(b'*') => {
            *at += 1;
            out.push((prefix, None));
        }
        _ => {
            let start = *at;
            while *at < text.len() && is_ident_byte(text[*at]) {
                *at += 1;
            }
            if *at == start {
                return;
            }
            let name = String::from_utf8_lossy(&text[start..*at]).into_owned();
            let mut path = prefix;
            let binds = match name.as_str() {
                // `{self, ...}`: the prefix itself.
                "self" if !path.is_empty() => path.last().cloned(),
                _ => {
                    path.push(name.clone());
                    Some(name)
                }
            };
            let after = *at;
            skip_space(at);
            if text[*at..].starts_with(b"::") {
                *at += 2;
                return use_tree(text, at, path, out);
            }
            let rest = &text[*at..];
            if rest.starts_with(b"as") && rest.get(2).is_some_and(|b| !is_ident_byte(*b)) {
                *at += 2;
                skip_space(at);
                let alias = *at;
                while *at < text.len() && is_ident_byte(text[*at]) {
                    *at += 1;
                }
                let alias = String::from_utf8_lossy(&text[alias..*at]).into_owned();
                out.push((path, Some(alias)));
                return;
            }
            *at = after;
            out.push((path, binds));
        }
    }
}

/// The `use` items of `code`, and `code` with them blanked out (to read other paths from).
fn use_items(code: &str) -> (Vec<UseItem>, String) {
    let bytes = code.as_bytes();
    let mut rest = bytes.to_vec();
    let mut items = Vec::new();
    for (at, _) in code.match_indices("use ") {
        if at > 0 && is_ident_byte(bytes[at - 1]) {
            continue;
        }
        let line_start = code[..at].rfind(['\n', ';', '{', '}']).map_or(0, |p| p + 1);
        let public = code[line_start..at].trim_start().starts_with("pub");
        let mut end = at + "use ".len();
        let mut paths = Vec::new();
        use_tree(bytes, &mut end, Vec::new(), &mut paths);
        for b in &mut rest[at..end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
        items.push(UseItem { public, paths });
    }
    (
        items,
        String::from_utf8(rest).expect("blanking keeps UTF-8 whole"),
    )
}

/// The modules `code` declares (`mod x;`).
fn declared_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("mod ") {
        if at > 0 && is_ident_byte(code.as_bytes()[at - 1]) {
            continue;
        }
        let rest = code[at + "mod ".len()..].trim_start();
        if let Some(name) = ident(rest)
            && rest[name.len()..].trim_start().starts_with(';')
        {
            out.insert(name);
        }
    }
    out
}

/// The paths `code` names outside `use` items, starting at `crate`, `super`, `self` or one
/// of `children`.
fn expression_paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if !is_ident_byte(bytes[at]) || (at > 0 && is_ident_byte(bytes[at - 1])) {
            at += 1;
            continue;
        }
        let name = ident(&code[at..]).expect("an identifier starts here");
        let after = at + name.len();
        let rooted =
            matches!(name.as_str(), "crate" | "super" | "self") || children.contains(&name);
        let preceded = code[..at].trim_end().ends_with("::");
        if rooted && !preceded && code[after..].starts_with("::") {
            let mut end = at;
            let mut paths = Vec::new();
            use_tree(bytes, &mut end, Vec::new(), &mut paths);
            out.extend(paths.into_iter().map(|(path, _)| path));
            at = end.max(after);
        } else {
            at = after;
        }
    }
    out
}

/// The crate's file graph: for each file (as shown), the files its product code names.
fn file_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = source_files();
    // What each file imports, by the name it binds: where a name read through a folder's
    // `mod.rs` leads on to.
    let mut imports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut parsed = BTreeMap::new();
    for (module, file) in &files {
        let children = declared_modules(&file.code);
        let (items, rest) = use_items(&file.code);
        let absolute = |path: &[String]| absolute(file, &children, path);
        let names = imports.entry(module.clone()).or_default();
        for item in &items {
            for (path, binds) in &item.paths {
                if let (Some(name), Some(path)) = (binds, absolute(path)) {
                    names.insert(name.clone(), path);
                }
            }
        }
        let mut named = Vec::new();
        for item in &items {
            for (path, _) in &item.paths {
                let Some(path) = absolute(path) else { continue };
                // A folder's table of contents: re-exports of what lies inside it.
                if file.index && item.public && path.starts_with(&file.module) {
                    continue;
                }
                named.push(path);
            }
        }
        for path in expression_paths(&rest, &children) {
            named.extend(absolute(&path));
        }
        parsed.insert(module.clone(), named);
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, named) in parsed {
        let file = &files[&module];
        let edges = graph.entry(file.shown.clone()).or_default();
        for path in named {
            if let Some(target) = resolve(&files, &imports, &path, 0)
                && target != module
                && !target.is_empty()
            {
                edges.insert(files[&target].shown.clone());
            }
        }
    }
    graph
}

/// `path` as named in `file` (which declares `children`) made absolute from the crate root;
/// `None` for a path into another crate.
fn absolute(
    file: &SourceFile,
    children: &BTreeSet<String>,
    path: &[String],
) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    let mut base = file.module.clone();
    let mut rest = rest;
    match first.as_str() {
        "crate" => base.clear(),
        "self" => {}
        "super" => {
            base.pop();
            while let Some((next, tail)) = rest.split_first()
                && next == "super"
            {
                base.pop();
                rest = tail;
            }
        }
        child if children.contains(child) => base.push(child.to_owned()),
        _ => return None,
    }
    base.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(base)
}

/// The module (file) an absolute `path` leads to: the deepest file its segments name, past
/// the names folders' `mod.rs` import.
fn resolve(
    files: &BTreeMap<Vec<String>, SourceFile>,
    imports: &BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
    path: &[String],
    depth: usize,
) -> Option<Vec<String>> {
    if depth > 16 {
        return None;
    }
    let mut module: Vec<String> = Vec::new();
    for (i, segment) in path.iter().enumerate() {
        let mut deeper = module.clone();
        deeper.push(segment.clone());
        if files.contains_key(&deeper) {
            module = deeper;
            continue;
        }
        let index = files.get(&module).is_some_and(|f| f.index);
        let imported = imports.get(&module).and_then(|names| names.get(segment));
        if let (true, Some(target)) = (index, imported) {
            let mut onward = target.clone();
            onward.extend(path[i + 1..].iter().cloned());
            return resolve(files, imports, &onward, depth + 1);
        }
        break;
    }
    Some(module)
}

/// Each group of files that name each other round a loop (a strongly connected component of
/// more than one file), as one loop through it.
fn file_cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut cycles = Vec::new();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    for file in graph.keys() {
        if placed.contains(file) {
            continue;
        }
        if let Some(cycle) = cycle_through(graph, file) {
            // Everything on a loop with `file` is reported with it, once.
            let reaches = |from: &str, to: &str| from == to || reaches(graph, from, to);
            let group: Vec<&String> = graph
                .keys()
                .filter(|other| reaches(file, other) && reaches(other, file))
                .collect();
            placed.extend(group.into_iter().cloned());
            cycles.push(cycle);
        }
    }
    cycles
}

/// Whether `to` can be reached from `from`.
fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut stack = vec![from.to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(node) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == to {
                return true;
            }
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    false
}

#[test]
fn files_form_no_cycle() {
    let graph = file_graph();
    assert!(
        graph["src/store/apply.rs"].contains("src/store/runs.rs"),
        "the file graph reads `super::` paths: {graph:?}"
    );
    let shown: Vec<String> = file_cycles(&graph).iter().map(|c| c.join(" -> ")).collect();
    assert!(shown.is_empty(), "files loop back:\n{}", shown.join("\n"));
}

#[test]
fn the_file_graph_follows_folders_to_the_files_that_define_names() {
    let graph = file_graph();
    // `use super::Store` leads to `store/mod.rs`, which defines it; `mod.rs` re-exporting
    // `apply`'s types is no edge back.
    assert!(graph["src/store/apply.rs"].contains("src/store/mod.rs"));
    assert!(!graph["src/store/mod.rs"].contains("src/store/apply.rs"));
    // `crate::store::Store` from outside, and a name re-exported by the dialect folder.
    assert!(graph["src/reconcile/apply.rs"].contains("src/store/mod.rs"));
    assert!(graph["src/store/apply.rs"].contains("src/store/dialect/sql.rs"));
    assert!(graph["src/store/history.rs"].contains("src/store/records.rs"));
}

#[test]
fn paths_are_read_from_use_trees_and_expressions() {
    let (items, rest) = use_items(
        "pub use super::{a::{B, C as D}, e};\nuse crate::f::{self, *};\nfn g() { h::i() }",
    );
    let paths: Vec<(String, Option<String>)> = items
        .iter()
        .flat_map(|item| &item.paths)
        .map(|(path, binds)| (path.join("::"), binds.clone()))
        .collect();
    let bound = |path: &str, name: &str| (path.to_owned(), Some(name.to_owned()));
    assert_eq!(
        paths,
        [
            bound("super::a::B", "B"),
            bound("super::a::C", "D"),
            bound("super::e", "e"),
            bound("crate::f", "f"),
            ("crate::f".to_owned(), None),
        ]
    );
    assert!(items[0].public && !items[1].public);
    let children = BTreeSet::from(["h".to_owned()]);
    assert_eq!(expression_paths(&rest, &children), [["h", "i"]]);
    let stripped = strip("let a = \"crate::x\"; // super::y\nlet c = '\"'; crate::z::w()");
    assert_eq!(
        expression_paths(&stripped, &BTreeSet::new()),
        [["crate", "z", "w"]]
    );
}

/// Whether `code` names a backend: sqlx's `Sqlite*`, `Postgres*` and `Pg*` types, its
/// `sqlite` and `postgres` modules, a `Sqlite` or `Postgres` variant, or `Backend::`.
fn backend_names(code: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    for (at, _) in code.match_indices(|c: char| c.is_ascii_alphabetic()) {
        if at > 0 && is_ident_byte(bytes[at - 1]) {
            continue;
        }
        let name = ident(&code[at..]).expect("an identifier starts here");
        let pg = name
            .strip_prefix("Pg")
            .is_some_and(|r| r.starts_with(char::is_uppercase));
        let backend_type = name.starts_with("Sqlite") || name.starts_with("Postgres") || pg;
        let driver = matches!(name.as_str(), "sqlite" | "postgres")
            && code[..at].trim_end().ends_with("sqlx::");
        let variant = name == "Backend" && code[at + name.len()..].starts_with("::");
        if backend_type || driver || variant {
            out.insert(name);
        }
    }
    out.into_iter().collect()
}

#[test]
fn only_the_dialect_names_a_backend() {
    let mut named = Vec::new();
    for file in source_files().values() {
        let exempt = file.shown.starts_with("src/store/dialect/");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join(&file.shown)).expect("readable");
        // Unit tests too: a test outside the dialect has no reason to build a backend's pool.
        let names = backend_names(&strip(&text));
        if !exempt && !names.is_empty() {
            named.push(format!("{}: {}", file.shown, names.join(", ")));
        }
    }
    assert!(
        named.is_empty(),
        "backends named outside src/store/dialect/:\n{}",
        named.join("\n")
    );
    let dialect = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/dialect/sql.rs"),
    )
    .expect("readable");
    assert!(backend_names(&strip(&dialect)).contains(&"Sqlite".to_owned()));
    assert_eq!(
        backend_names("Db::Postgres(p); sqlx::sqlite::X; Backend::Sqlite; PgRow; Page; pg"),
        ["Backend", "PgRow", "Postgres", "Sqlite", "sqlite"]
    );
}

/// The longest a function of the product may be, from its `fn` line to its closing brace: a
/// longer one is doing several jobs, which want names of their own.
const MAX_FUNCTION_LINES: usize = 100;

/// Each function of `code` (blanked by `strip`) longer than `limit` lines: its name and length.
fn long_functions(code: &str, limit: usize) -> Vec<(String, usize)> {
    let mut long = Vec::new();
    let bytes = code.as_bytes();
    for (at, _) in code.match_indices("fn ") {
        let fresh = at == 0 || !is_ident_byte(bytes[at - 1]);
        let Some(name) = ident(&code[at + 3..]) else {
            continue;
        };
        // The body opens at the first `{` before any `;` (a declaration without a body).
        let rest = &code[at..];
        let Some(open) = rest
            .find(['{', ';'])
            .filter(|i| rest.as_bytes()[*i] == b'{')
        else {
            continue;
        };
        if !fresh {
            continue;
        }
        let mut depth = 0usize;
        let mut close = None;
        for (i, b) in rest.bytes().enumerate().skip(open) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let lines = rest[..close.map_or(rest.len(), |i| i + 1)].lines().count();
        if lines > limit {
            long.push((name, lines));
        }
    }
    long
}

#[test]
fn no_function_of_the_product_is_longer_than_a_screen() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    for dir in ["src", "crates/simulator/src", "crates/hwcloud-signer/src"] {
        for file in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).expect("readable source");
            let shown = file.strip_prefix(root).expect("under the root").display();
            for (name, lines) in long_functions(&strip(product_code(&text)), MAX_FUNCTION_LINES) {
                long.push(format!("{shown}: {name} ({lines} lines)"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn function_lengths_count_from_fn_to_the_closing_brace() {
    let code = "fn short() {\n    1\n}\nfn decl();\npub fn long() {\n    {\n\n    }\n}\n";
    assert_eq!(long_functions(code, 3), [("long".to_owned(), 5)]);
    assert_eq!(long_functions(code, 5), []);
}
